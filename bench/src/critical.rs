//! The critical path of each verb of a round: the longest chain of requests and waits that no
//! schedule can avoid, computed from the realism layer's own durations, so that `make bench`
//! can say how close the deployer comes to it.
//!
//! A chain holds AWS's dependencies (a table must exist before its backups can be enabled; a
//! function needs a role Lambda can assume) and the deployer's contract, which no schedule may
//! drop: the deploy lease is read before the stack (so that its take proves the reads still
//! hold), taken before the first write and released after the last; the stack is read whole
//! before a plan (the API's stage and its deployment are found only through the API's id); a
//! new version is probed before the `live` alias moves to it. It holds nothing of how the
//! deployer schedules: no polls (the request after a wait is sent so as to arrive the moment
//! the wait ends), and what is independent of the chain runs beside it.
//!
//! The stack is the workspace's `stack.yaml`: point-in-time recovery and deletion protection
//! on, no alerts. A verb's critical path is the longest of its chains.

use std::time::Duration;

use testkit::Realism;

/// One link of a chain.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    /// One request: a round trip.
    Request(&'static str),
    /// AWS settling: the next request is refused, or sees the old state, until this long after
    /// the previous one was answered.
    Wait(&'static str, Duration),
    /// Work that is neither AWS's wait nor a round trip, measured in the same run ([`Work`]).
    Measured(&'static str, Duration),
}

/// A sequence of links, each needing the one before.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub name: &'static str,
    pub links: Vec<Link>,
}

impl Chain {
    /// How long the chain takes at `latency` per request: a request answers at the earliest
    /// one round trip after the previous link, and never before a wait before it has ended (it
    /// can be sent so as to arrive just then).
    pub fn length(&self, latency: Duration) -> Duration {
        let (mut at, mut ready) = (Duration::ZERO, Duration::ZERO);
        for link in &self.links {
            match link {
                Link::Request(_) => at = (at + latency).max(ready),
                Link::Wait(_, wait) => ready = at + *wait,
                Link::Measured(_, took) => {
                    at += *took;
                    ready = ready.max(at);
                }
            }
        }
        at.max(ready)
    }

    /// The chain in words: its requests counted, its waits named.
    pub fn describe(&self) -> String {
        let requests = self
            .links
            .iter()
            .filter(|l| matches!(l, Link::Request(_)))
            .count();
        let waits: Vec<String> = self
            .links
            .iter()
            .filter_map(|l| match l {
                Link::Wait(what, d) => Some(format!("{what} {:.0} s", d.as_secs_f64())),
                _ => None,
            })
            .collect();
        match waits.is_empty() {
            true => format!("{}: {requests} requests", self.name),
            false => format!("{}: {requests} requests, {}", self.name, waits.join(", ")),
        }
    }
}

use Link::{Measured, Request, Wait};

/// The deploy lease's own requests, on every chain that writes.
const LEASE_READ: Link = Request("GetItem: the lease (beside GetCallerIdentity)");
const LEASE_TAKE: Link = Request("UpdateItem: take the lease");
const LEASE_RELEASE: Link = Request("UpdateItem: release the lease");

/// What a chain cannot do faster than the run did, beyond a round trip: the probe's run of the
/// new version, and the transfer of the code (3.7 MB) to Lambda.
#[derive(Debug, Clone, Copy, Default)]
pub struct Work {
    pub probe: Duration,
    pub upload: Duration,
}

/// The lease's read and the stack's reads before any plan: the reads by name, then the API's
/// stage (by the API's id), then the stage's deployment.
fn survey() -> Vec<Link> {
    vec![
        LEASE_READ,
        Request("the reads by name: GetRestApis, DescribeTable, GetFunction…"),
        Request("GetStage, by the API's id"),
        Request("GetDeployment, of the stage"),
    ]
}

/// The lease's read, the reads finding nothing, and the table made first, as the lease's home.
fn from_empty() -> Vec<Link> {
    vec![
        LEASE_READ,
        Request("the reads by name: nothing is there"),
        Request("CreateTable: the lease's home"),
    ]
}

/// A release once the code is uploaded and the function settled (`settling`): publish, probe,
/// move the alias.
fn release(settling: Link, work: Work) -> Vec<Link> {
    vec![
        Measured("the code's transfer", work.upload),
        settling,
        Request("PublishVersion"),
        Request("Invoke: the probe of the new version"),
        Measured("the probe's run", work.probe),
        Request("UpdateAlias live"),
    ]
}

/// `up` from empty: the table's point-in-time recovery (when `pitr`), and the first release.
fn up_from_empty(r: &Realism, work: Work, pitr: bool) -> Vec<Chain> {
    let backups = Chain {
        name: "point-in-time recovery",
        links: [
            from_empty(),
            vec![
                Wait("backups unavailable", r.pitr_unavailable),
                Request("UpdateContinuousBackups"),
                Wait("ENABLING", r.pitr_enabling),
                Request("DescribeContinuousBackups: ENABLED"),
                LEASE_RELEASE,
            ],
        ]
        .concat(),
    };
    let first_release = Chain {
        name: "the first release",
        links: [
            from_empty(),
            vec![
                Wait("CREATING", r.table_creating),
                LEASE_TAKE,
                // Its policy is put beside the wait, which only the role's creation starts
                // (Lambda assuming it is a matter of trust, not permissions).
                Request("CreateRole"),
                Wait("role propagation", r.role_propagation),
                Request("CreateFunction"),
            ],
            release(Wait("Pending", r.function_pending), work),
            vec![
                Request("AddPermission"),
                Request("CreateDeployment"),
                Request("CreateStage"),
                LEASE_RELEASE,
            ],
        ]
        .concat(),
    };
    match pitr {
        true => vec![backups, first_release],
        false => vec![first_release],
    }
}

/// The chains of `verb` (a name of `crate::deployer::VERBS`) under `r`, with the `work` measured
/// in the run; `pitr`: whether the stack's table has point-in-time recovery.
pub fn chains(verb: &str, r: &Realism, work: Work, pitr: bool) -> Vec<Chain> {
    let chain = |name, links| vec![Chain { name, links }];
    match verb {
        "up_from_empty" => up_from_empty(r, work, pitr),
        "up_noop" => chain("the reads", survey()),
        "diff_in_sync" => chain("the reads (no lease)", survey()[1..].to_vec()),
        "up_code_change" => chain(
            "the release",
            [
                survey(),
                vec![LEASE_TAKE, Request("UpdateFunctionCode")],
                release(Wait("InProgress", r.function_updating), work),
                vec![LEASE_RELEASE],
            ]
            .concat(),
        ),
        "down" => chain(
            "the table",
            vec![
                LEASE_READ,
                Request("UpdateItem: take the lease (beside DescribeTable)"),
                Request("UpdateTable: deletion protection off"),
                Wait("UPDATING", r.table_updating),
                Request("DeleteTable (the lease goes with it)"),
            ],
        ),
        _ => Vec::new(),
    }
}

/// The longest chain of `verb`, and its length at the realism's latency.
pub fn critical(verb: &str, r: &Realism, work: Work, pitr: bool) -> Option<(Duration, Chain)> {
    chains(verb, r, work, pitr)
        .into_iter()
        .map(|c| (c.length(r.latency), c))
        .max_by_key(|(length, _)| *length)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn a_request_after_a_wait_arrives_as_it_ends() {
        let chain = Chain {
            name: "t",
            links: vec![
                Request("a"),
                Wait("w", MS(1000)),
                Request("b"),
                Request("c"),
            ],
        };
        assert_eq!(chain.length(MS(100)), MS(1200));
        // A wait shorter than a round trip costs nothing.
        let short = Chain {
            name: "t",
            links: vec![Request("a"), Wait("w", MS(50)), Request("b")],
        };
        assert_eq!(short.length(MS(100)), MS(200));
        let measured = Chain {
            name: "t",
            links: vec![Request("a"), Measured("m", MS(30)), Request("b")],
        };
        assert_eq!(measured.length(MS(100)), MS(230));
    }

    #[test]
    fn each_verb_has_its_path_from_the_realism_durations() {
        let r = Realism::aws();
        let l = r.latency;
        let w = Work {
            probe: MS(40),
            upload: MS(30),
        };
        let (empty, chain) = critical("up_from_empty", &r, w, true).unwrap();
        assert_eq!(chain.name, "point-in-time recovery");
        assert_eq!(empty, 4 * l + r.pitr_unavailable + r.pitr_enabling);
        let (noop, _) = critical("up_noop", &r, w, true).unwrap();
        assert_eq!(noop, 4 * l);
        let (change, _) = critical("up_code_change", &r, w, true).unwrap();
        assert_eq!(
            change,
            6 * l + MS(30) + r.function_updating + l + MS(40) + 2 * l
        );
        let (down, _) = critical("down", &r, w, true).unwrap();
        assert_eq!(down, 3 * l + r.table_updating);
        // With no settling at all, only round trips remain.
        let bare = Realism::latency_only(l);
        let (empty, chain) = critical("up_from_empty", &bare, w, true).unwrap();
        assert_eq!(chain.name, "the first release");
        assert_eq!(empty, 13 * l + MS(30) + MS(40));
        assert!(critical("unknown", &r, Work::default(), true).is_none());
        // Without point-in-time recovery, the first release is the longest chain.
        let (plain, chain) = critical("up_from_empty", &r, w, false).unwrap();
        assert_eq!(chain.name, "the first release");
        let waits = r.table_creating + r.role_propagation + r.function_pending;
        assert_eq!(plain, 10 * l + waits + MS(30) + MS(40));
    }
}
