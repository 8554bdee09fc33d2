//! Crash convergence: a verb is SIGKILLed right after a request was applied (before it could
//! read the answer). The proxy counts the requests and sends the signal, so each point is exact,
//! not a race. Every time, a plain re-run of the same command must converge: `diff` exit 0 and
//! exactly one of each resource after `up`, nothing but the table after `down`.
//!
//! The kill points of a sweep ([`Points`]): after each write, counted as writes (so the point is
//! the same write however many polls came before it), then after every [`READ_STRIDE`]-th
//! request, reads included (with `SOAK=1`, `make soak`, after every request); each phase goes on
//! until a run completes unkilled, and every write of a scratch run must have been a kill point.
//! Three sweeps in `make test`: `up` from empty, an `up` that updates the code and the
//! configuration, and `down`; each prints its census.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use support::{deployer_command, kind_of, write_kinds, Census, Fixture, STACK};
use testkit::{Call, On, Trigger, When, SIGKILL};

/// Every this many requests, a kill point after a read too (every request with `SOAK=1`).
const READ_STRIDE: usize = 10;

/// The writes that `up` from empty sends and AWS accepts: 4 for the table (create, PITR,
/// deletion protection's tags…), and so on for each resource, and 2 for the deploy lease (taken
/// and released: a kill between them leaves it held, and the re-run must take it over). Polls
/// and refused retries vary with the clock; the writes that succeed do not. A change in this
/// number is news: read the diff of the requests before updating it.
const WRITES_FROM_EMPTY: usize = 28;

/// The scratch run's stack: its name holds a digit, as the sweep's do, so that their operations
/// compare alike once their ids are generic.
const SCRATCH: &str = "s0";

fn stack(name: &str) -> String {
    STACK.replace("name: vc\n", &format!("name: {name}\n"))
}

/// The same stack with its function's configuration, routes and throttle changed: an `up` that
/// updates. (Not the tags: moto 5.2.5's API Gateway TagResource takes only stage ARNs, and
/// answers a REST API's ARN with a 500.)
fn changed(name: &str) -> String {
    stack(name)
        .replace("memory_mb: 128", "memory_mb: 256")
        .replace("rate: 10, burst: 20", "rate: 5, burst: 10")
        .replace("GET /health]", "GET /health, POST /counter]")
}

/// The kill points of a sweep, in order, each run on a fresh stack: after the 1st, 2nd… write
/// until a run sends fewer writes than the point (it completed unkilled: polls and refused
/// retries vary with the clock, so the scratch run's count is no bound); then likewise after
/// every [`READ_STRIDE`]-th request (every one with `SOAK=1`); then after the first request of
/// each kind of write the scratch run made that no run was killed after yet (the writes that go
/// side by side come in another order from run to run). A kill after a read leaves AWS as the
/// write before it did, so the writes are where the states differ.
struct Points {
    stride: usize,
    /// The kinds of write the scratch run made (and AWS accepted: a refusal changes nothing).
    kinds: Vec<Kind>,
    /// The next point; `None` once every phase is over.
    next: Option<On>,
    /// What each killed run was killed after: the write's kind.
    killed_after: Vec<Kind>,
    killed: usize,
    completed: usize,
}

/// A write's kind: its service and its operation, ids made generic ([`kind_of`]).
type Kind = (String, String);

/// How a run at a kill point ended.
enum Ended {
    /// Killed right after this write (its kind), or after a read (`None`).
    Killed(Option<Kind>),
    /// It never reached the point.
    Completed,
}

impl Points {
    fn new(scratch: &[Call]) -> Points {
        let soak = std::env::var_os("SOAK").is_some();
        Points {
            stride: if soak { 1 } else { READ_STRIDE },
            kinds: write_kinds(scratch),
            next: Some(On::NthWrite(1)),
            killed_after: Vec::new(),
            killed: 0,
            completed: 0,
        }
    }

    /// Moves on from `on`, which ended as `ended`.
    fn record(&mut self, on: &On, ended: Ended) {
        match ended {
            Ended::Killed(write) => {
                self.killed += 1;
                self.killed_after.extend(write);
            }
            Ended::Completed => self.completed += 1,
        }
        self.next = match (on, self.completed) {
            (On::NthWrite(k), 0) => Some(On::NthWrite(k + 1)),
            (On::NthWrite(_), _) => Some(On::Nth(self.stride)),
            (On::Nth(k), 1) => Some(On::Nth(k + self.stride)),
            _ => self
                .missed()
                .first()
                .map(|(_, op)| On::Operation(op.clone())),
        };
        if let (On::Operation(tried), Some(On::Operation(next))) = (on, &self.next) {
            assert_ne!(tried, next, "no run could be killed after {next}");
        }
    }

    /// The kinds of write of the scratch run that no run was killed after.
    fn missed(&self) -> Vec<Kind> {
        self.kinds
            .iter()
            .filter(|k| !self.killed_after.contains(k))
            .cloned()
            .collect()
    }

    /// Checks that each kind of write the scratch run made was a kill point, and prints the
    /// sweep's census.
    fn census(&self, what: &str, scratch: &[Call]) {
        let missed: Vec<String> = self
            .missed()
            .iter()
            .map(|(service, op)| format!("{service} {op}"))
            .collect();
        assert!(
            missed.is_empty(),
            "{what}: writes of the scratch run after which no run was killed:\n  {}",
            missed.join("\n  ")
        );
        let requests = match self.stride {
            1 => "every request".to_string(),
            n => format!("every {n}th request"),
        };
        testkit::figure(&format!(
            "crash: {what}: {} kill points, each converged on a plain re-run: after each write \
             and {requests} until a run completed unkilled ({} such runs), {} writes in all; \
             each of the scratch run's {} kinds of write (of {} requests) was one",
            self.killed + self.completed,
            self.completed,
            self.killed_after.len(),
            self.kinds.len(),
            scratch.len()
        ));
    }
}

/// Runs `deployer ARGS`, SIGKILLed right after the request `on` names was applied: how it ended.
fn killed_after(f: &Fixture, on: &On, args: &[&str]) -> Ended {
    f.proxy.take();
    f.proxy.arm(Trigger {
        on: on.clone(),
        signal: SIGKILL,
        when: When::AfterApplied,
    });
    let mut child = deployer_command(f.path(), f.proxy.endpoint())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    f.proxy.target(child.id());
    let status = child.wait().unwrap();
    let calls = f.proxy.take();
    if !f.proxy.fired() {
        assert!(
            status.success(),
            "{on:?}: {args:?} was not killed, and failed: {status:?}"
        );
        return Ended::Completed;
    }
    assert_eq!(status.signal(), Some(SIGKILL), "{on:?}: {status:?}");
    // The deployer's own writes: the function's (the probe's) are not counted.
    let mut own = calls.iter().filter(|c| c.write && c.caller.is_none());
    let write = match on {
        On::NthWrite(k) => own.nth(k - 1).map(kind_of),
        On::Operation(op) => own
            .find(|c| testkit::faults::matches(op, &c.operation))
            .map(kind_of),
        On::Nth(_) => None,
    };
    Ended::Killed(write)
}

fn successful_writes(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.write && c.succeeded())
        .map(ToString::to_string)
        .collect()
}

#[tokio::test]
async fn up_from_empty_killed_after_any_write_converges_on_a_plain_rerun() {
    let f = Fixture::new(STACK);
    let zip = f.zip_v1.to_str().unwrap().to_string();
    let c = f.clients().await;

    // How many requests `up` from empty sends, on a scratch stack.
    f.write_stack(&stack(SCRATCH));
    let scratch = f.up(&f.zip_v1).ok().calls;
    let writes = successful_writes(&scratch);
    assert_eq!(
        writes.len(),
        WRITES_FROM_EMPTY,
        "up from empty: the writes changed:\n{}",
        writes.join("\n")
    );
    f.run(&["down", "--delete-table"]).ok();

    let mut points = Points::new(&scratch);
    let mut i = 0;
    while let Some(on) = points.next.clone() {
        i += 1;
        let name = format!("k{i}");
        f.write_stack(&stack(&name));
        let ended = killed_after(&f, &on, &["up", "--zip", &zip]);
        let what = format!("{on:?}");
        let rerun = f.up(&f.zip_v1);
        assert_eq!(
            rerun.code, 0,
            "{what}: the re-run failed:\n{}",
            rerun.stderr
        );
        f.assert_deployed(&name, &what).await;
        f.run(&["down"]).ok();
        assert_eq!(
            Census::take(&c, &name).await,
            Census::DOWN,
            "{what}: down left something behind"
        );
        points.record(&on, ended);
    }
    points.census("up from empty", &scratch);
}

#[tokio::test]
async fn an_updating_up_killed_after_any_write_converges_on_a_plain_rerun() {
    let f = Fixture::new(STACK);
    let v2 = f.zip_v2.to_str().unwrap().to_string();

    f.write_stack(&stack(SCRATCH));
    f.up(&f.zip_v1).ok();
    f.write_stack(&changed(SCRATCH));
    let scratch = f.up(&f.zip_v2).ok().calls;
    assert!(
        !successful_writes(&scratch).is_empty(),
        "the change made no write"
    );
    f.run(&["down", "--delete-table"]).ok();

    let mut points = Points::new(&scratch);
    let mut i = 0;
    while let Some(on) = points.next.clone() {
        i += 1;
        let name = format!("u{i}");
        f.write_stack(&stack(&name));
        f.up(&f.zip_v1).ok();
        f.write_stack(&changed(&name));
        let ended = killed_after(&f, &on, &["up", "--zip", &v2]);
        let what = format!("{on:?}");
        let rerun = f.up(&f.zip_v2);
        assert_eq!(
            rerun.code, 0,
            "{what}: the re-run failed:\n{}",
            rerun.stderr
        );
        f.assert_deployed_zip(&name, &f.zip_v2, &what).await;
        // The stage serves the change: the route it added answers, through the live alias.
        let served = f.run(&["invoke", "--method", "POST", "--path", "/counter"]);
        assert_eq!(
            served.code, 0,
            "{what}: the new route is not served:\n{}{}",
            served.stdout, served.stderr
        );
        f.run(&["down", "--delete-table"]).ok();
        points.record(&on, ended);
    }
    points.census("an updating up", &scratch);
}

#[tokio::test]
async fn down_killed_after_any_write_finishes_on_a_plain_rerun() {
    let f = Fixture::new(STACK);
    let c = f.clients().await;

    f.write_stack(&stack(SCRATCH));
    f.up(&f.zip_v1).ok();
    let scratch = f.run(&["down"]).ok().calls;
    f.run(&["down", "--delete-table"]).ok();

    let mut points = Points::new(&scratch);
    let mut i = 0;
    while let Some(on) = points.next.clone() {
        i += 1;
        let name = format!("d{i}");
        f.write_stack(&stack(&name));
        f.up(&f.zip_v1).ok();
        let ended = killed_after(&f, &on, &["down"]);
        let what = format!("{on:?}");
        let rerun = f.run(&["down"]);
        assert_eq!(
            rerun.code, 0,
            "{what}: the re-run failed:\n{}",
            rerun.stderr
        );
        assert_eq!(
            Census::take(&c, &name).await,
            Census::DOWN,
            "{what}: down left something behind"
        );
        points.record(&on, ended);
    }
    points.census("down", &scratch);
}
