//! Who holds a lease, as the lease item records it and a person reads it, and whether its
//! process is known to be gone.
//!
//! A holder on this very machine (the same boot and the same PID namespace) whose process has
//! ended, or whose PID now belongs to a process started later, is gone for certain: its lease
//! is taken at once. Of any other holder only the expiry tells.

use std::fmt::{self, Display};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_smithy_types::date_time::{DateTime, Format};
use serde::{Serialize, Serializer};

/// The process holding a lease: where it runs, its PID, and when it started (clock ticks after
/// boot, so that a reused PID is not taken for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Process {
    /// The boot and the PID namespace: PIDs compare only within one.
    pub machine: String,
    pub pid: u32,
    pub started: u64,
}

impl Process {
    /// This process, where `/proc` tells (Linux); `None` elsewhere.
    pub fn me() -> Option<Process> {
        let pid = std::process::id();
        Some(Process {
            machine: machine()?,
            pid,
            started: started(pid)?,
        })
    }

    /// `Some(false)` when the process is gone for certain: it ran on this machine and its PID
    /// is free or started later. `None` when this machine cannot tell.
    pub fn alive(&self) -> Option<bool> {
        if machine()? != self.machine {
            return None;
        }
        Some(started(self.pid) == Some(self.started))
    }
}

/// This boot and PID namespace, as one string.
fn machine() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{}/{}", boot.trim(), namespace.display()))
}

/// When process `pid` started, in clock ticks after boot: field 22 of `/proc/PID/stat`, counted
/// after the command name's closing parenthesis (the name may hold spaces).
fn started(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// A lease's holder: who, where, doing what, since when, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    /// A random id of this hold: every conditional write of the holder names it.
    #[serde(skip)]
    pub token: String,
    pub who: String,
    pub host: String,
    pub verb: String,
    /// Seconds since the epoch, by the holder's clock (RFC 3339 in JSON).
    #[serde(serialize_with = "rfc3339")]
    pub since: i64,
    #[serde(serialize_with = "rfc3339")]
    pub expires: i64,
    pub ttl_s: u64,
    /// Counts the renewals: a waiter that sees it stand still for a whole `ttl_s` knows the
    /// holder is gone, whatever the clocks say.
    pub renewals: u64,
    /// The lease's generation this hold made (each take adds one).
    pub generation: u64,
    pub process: Option<Process>,
    /// The CI job's address, when a CI system says it.
    pub ci: Option<String>,
}

impl Holder {
    /// This process, about to take a lease of `ttl_s` seconds for `verb`.
    pub fn me(verb: &str, ttl_s: u64, generation: u64) -> Holder {
        let now = now();
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let nonce = format!(
            "{:?}{}{}",
            SystemTime::now(),
            std::process::id(),
            hostname()
        );
        Holder {
            token: sha(&nonce),
            who: var("USER")
                .or_else(|| var("LOGNAME"))
                .or_else(|| var("USERNAME"))
                .unwrap_or_else(|| "unknown".into()),
            host: hostname(),
            verb: verb.to_string(),
            since: now,
            expires: now + i64::try_from(ttl_s).unwrap_or(i64::MAX / 2),
            ttl_s,
            renewals: 0,
            generation,
            process: Process::me(),
            ci: ci_job(&var),
        }
    }
}

impl Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{} ({}, since {}, until {}",
            self.who,
            self.host,
            self.verb,
            time(self.since),
            time(self.expires)
        )?;
        if let Some(job) = &self.ci {
            write!(f, ", {job}")?;
        }
        f.write_str(")")
    }
}

/// The CI job running this, from GitHub Actions' or GitLab's variables.
fn ci_job(var: &impl Fn(&str) -> Option<String>) -> Option<String> {
    if let (Some(server), Some(repo), Some(run)) = (
        var("GITHUB_SERVER_URL"),
        var("GITHUB_REPOSITORY"),
        var("GITHUB_RUN_ID"),
    ) {
        return Some(format!("{server}/{repo}/actions/runs/{run}"));
    }
    var("CI_JOB_URL")
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

fn sha(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Seconds since the epoch, by this machine's clock.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `2026-12-02T10:42:01Z`.
pub fn time(epoch_s: i64) -> String {
    DateTime::from_secs(epoch_s)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| epoch_s.to_string())
}

fn rfc3339<S: Serializer>(epoch_s: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&time(*epoch_s))
}
