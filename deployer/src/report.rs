//! What each verb prints: one value per verb, shown as text for people ([`Display`]) and as one
//! JSON document for pipelines (serde), from the same value. The JSON keys (`changes`,
//! `outputs`, `in_sync`, `checks`…) are a contract that pipelines rely on.

use std::fmt::{self, Display};
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::ValueEnum;
use serde::Serialize;

use crate::arns::Arns;
use crate::down;
use crate::invoke;
use crate::names::Names;
use crate::package::Artifact;
use crate::plan::{Change, Kind, Plan};
use crate::reconcile::Adoption;

/// Anything a verb prints.
pub trait Report: Serialize + Display {}

impl<T: Serialize + Display> Report for T {}

/// What stdout shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

impl Output {
    /// Prints a verb's result on stdout, as text or JSON.
    pub fn print(self, report: &impl Report) {
        match self {
            Output::Json => match serde_json::to_string_pretty(report) {
                Ok(text) => println!("{text}"),
                Err(e) => eprintln!("error: cannot render JSON: {e}"),
            },
            Output::Text => print!("{}", colour(&report.to_string())),
        }
    }
}

/// Colours plan lines on a terminal, never when NO_COLOR is set or stdout is a pipe.
pub fn colour(text: &str) -> String {
    let wanted = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    if !wanted {
        return text.to_string();
    }
    text.lines()
        .map(|line| {
            let code = match line.trim_start().chars().next() {
                Some('+') => "32",
                Some('~') => "33",
                Some('-') => "31",
                Some('!') => "1;31",
                _ => return format!("{line}\n"),
            };
            format!("\x1b[{code}m{line}\x1b[0m\n")
        })
        .collect()
}

/// `Stack vc (prod) in us-east-1, account 123456789012:`
pub fn header(names: &Names, arns: &Arns) -> String {
    format!(
        "Stack {} ({}) in {}, account {}:",
        names.stack, names.stage, names.region, arns.account
    )
}

#[derive(Debug, Serialize)]
pub struct PackageReport {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: usize,
}

impl PackageReport {
    pub fn of(a: &Artifact) -> PackageReport {
        PackageReport {
            path: a.path.clone(),
            sha256: a.sha256.clone(),
            bytes: a.zip.len(),
        }
    }
}

impl Display for PackageReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.path.display())?;
        writeln!(f, "sha256 (base64): {}", self.sha256)?;
        writeln!(f, "size: {} bytes", self.bytes)
    }
}

/// The stack's addresses after `up`: `api_url`, `function_arn`, `table_arn`, `role_arn` are a
/// contract that pipelines rely on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outputs {
    pub api_url: Option<String>,
    pub function_arn: String,
    pub table_arn: String,
    pub role_arn: String,
    pub table_name: String,
    /// The version the `live` alias names: what the stage serves.
    pub live_version: Option<String>,
}

impl Outputs {
    /// The outputs of the stack whose API is `api_id`, served by AWS or by `emulator`.
    pub fn of(names: &Names, arns: &Arns, api_id: Option<&str>, emulator: Option<&str>) -> Outputs {
        Outputs {
            api_url: api_id.map(|id| arns.api_url(id, emulator)),
            function_arn: arns.function.clone(),
            table_arn: arns.table.clone(),
            role_arn: arns.role.clone(),
            table_name: names.table.clone(),
            live_version: None,
        }
    }
}

impl Display for Outputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let api_url = self.api_url.as_deref().unwrap_or("(none)");
        let live = self.live_version.as_deref().unwrap_or("(none)");
        for (k, v) in [
            ("api_url", api_url),
            ("live_version", live),
            ("function_arn", &self.function_arn),
            ("role_arn", &self.role_arn),
            ("table_arn", &self.table_arn),
            ("table_name", &self.table_name),
        ] {
            writeln!(f, "  {k:<13} {v}")?;
        }
        Ok(())
    }
}

/// The plan under its header, as `up` shows it before applying and `diff` in its report.
pub struct PlanText<'a> {
    pub header: &'a str,
    pub plan: &'a Plan,
}

impl Display for PlanText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n{}", self.header, self.plan)
    }
}

#[derive(Debug, Serialize)]
pub struct UpReport {
    /// What `--adopt` took over, and the count before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adoption: Option<Adoption>,
    pub changes: Vec<Change>,
    pub outputs: Outputs,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub dry_run: bool,
}

/// The text after the plan, which `up` prints before applying.
impl Display for UpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            return writeln!(f, "Dry run: nothing was changed.");
        }
        if let Some(Adoption {
            count_before: Some(before),
            count_after: Some(after),
            ..
        }) = &self.adoption
        {
            write!(
                f,
                "\nAdopted: the count was {before} before, and is {after}.\n"
            )?;
        }
        write!(f, "\nOutputs:\n{}", self.outputs)?;
        for note in &self.notes {
            write!(f, "\nnote: {note}\n")?;
        }
        Ok(())
    }
}

/// What an interrupted `up` finished and what it did not: the error that carries it out of
/// `up`, and the report `deployer` prints before exiting 130 (143 for SIGTERM).
#[derive(Debug, Serialize)]
pub struct Interrupted {
    pub interrupted: bool,
    /// `kind name` of each resource whose changes all went through.
    pub done: Vec<String>,
    /// `kind name` of each resource with changes not made, or only partly made.
    pub not_done: Vec<String>,
    /// Whether any request that may change something was sent.
    #[serde(skip)]
    pub wrote: bool,
}

impl Interrupted {
    pub fn of(plan: &Plan, done: &[Kind], wrote: bool) -> Interrupted {
        Interrupted {
            interrupted: true,
            done: plan.resources(|k| done.contains(&k)),
            not_done: plan.resources(|k| !done.contains(&k)),
            wrote,
        }
    }
}

impl Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |items: &[String]| {
            if items.is_empty() {
                "(nothing)".to_string()
            } else {
                items.join(", ")
            }
        };
        writeln!(
            f,
            "\nInterrupted: the requests in flight finished, and no other was sent."
        )?;
        if self.done.is_empty() && !self.wrote {
            writeln!(f, "Nothing was changed.")?;
        } else {
            writeln!(f, "  done:     {}", list(&self.done))?;
        }
        if !self.not_done.is_empty() {
            writeln!(f, "  not done: {}", list(&self.not_done))?;
        }
        writeln!(
            f,
            "Run `deployer up` again to finish: it observes afresh and carries on."
        )
    }
}

impl std::error::Error for Interrupted {}

#[derive(Debug, Serialize)]
pub struct DiffReport {
    pub in_sync: bool,
    /// The version the `live` alias names, and whether `up` would publish another.
    pub live_version: Option<String>,
    /// Its changes, serialised as `changes`.
    #[serde(flatten)]
    pub plan: Plan,
    /// Why `up` would refuse this plan (resources not the stack's, a change it cannot make).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// With `--adopt`: what `up --adopt` would take over, and the count it keeps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adoption: Option<Adoption>,
    #[serde(skip)]
    pub header: String,
}

impl Display for DiffReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.in_sync {
            writeln!(f, "{}", self.header)?;
            if let Some(v) = &self.live_version {
                writeln!(
                    f,
                    "Live: version {v}, the one the stack's code and configuration make."
                )?;
            }
            return writeln!(f, "In sync: the live stack matches stack.yaml.");
        }
        write!(f, "{}\n{}", self.header, self.plan)?;
        if let Some(adoption) = &self.adoption {
            write!(f, "{adoption}")?;
        }
        match &self.refused {
            Some(why) => writeln!(f, "Drift, and `deployer up` would refuse it: {why}"),
            None => writeln!(f, "Drift: `deployer up` would make these changes."),
        }
    }
}

/// `snippet`: the fragment (text: exactly it, to paste or redirect into a page), and the URL it
/// calls.
#[derive(Debug, Serialize)]
pub struct SnippetReport {
    pub url: String,
    pub fragment: String,
}

impl Display for SnippetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.fragment)
    }
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct DownReport(pub down::Removals);

impl Display for DownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.0;
        if r.nothing_found() {
            return writeln!(f, "Nothing to remove: no resource of this stack exists.");
        }
        for d in &r.deleted {
            writeln!(f, "  - {d} (deleted)")?;
        }
        for k in &r.retained {
            writeln!(
                f,
                "  = {k} (retained: it holds the data; `down --delete-table` deletes it)"
            )?;
        }
        for s in &r.skipped {
            writeln!(
                f,
                "  ? {s} (left alone: it exists but does not carry this stack's tags)"
            )?;
        }
        writeln!(
            f,
            "Removed {}, retained {}, left alone {}.",
            r.deleted.len(),
            r.retained.len(),
            r.skipped.len()
        )
    }
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct InvokeReport(pub invoke::Report);

impl Display for InvokeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct SingleReport(pub invoke::Single);

impl Display for SingleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.0;
        writeln!(f, "HTTP {} ({:.1} ms)", s.status, s.latency_ms)?;
        for (k, v) in &s.headers {
            writeln!(f, "{k}: {v}")?;
        }
        writeln!(f)?;
        writeln!(f, "{}", s.body)
    }
}

/// What `unlock` did: `{"stack", "released": {holder…} | null}`.
#[derive(Debug, Serialize)]
pub struct UnlockReport {
    pub stack: String,
    /// The holder whose lease was cleared; `None` when no deploy held it.
    pub released: Option<crate::lease::Holder>,
}

impl Display for UnlockReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.released {
            Some(h) => writeln!(
                f,
                "Cleared the deploy lease of stack {}, held by {h}.",
                self.stack
            ),
            None => writeln!(f, "No deploy holds stack {}: nothing to clear.", self.stack),
        }
    }
}
