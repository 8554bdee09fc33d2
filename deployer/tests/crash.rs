//! Crash convergence: a verb is SIGKILLed right after a request was applied (before it could
//! read the answer). The proxy counts the requests and sends the signal, so each point is exact,
//! not a race. Every time, a plain re-run of the same command must converge: `diff` exit 0 and
//! exactly one of each resource after `up`, nothing but the table after `down`.
//!
//! The kill points of a sweep ([`points`]): after each of its writes, counted as writes (so the
//! point is the same write however many polls came before it), and after every
//! [`READ_STRIDE`]-th request, reads included; with `SOAK=1` (`make soak`), after every request.
//! A kill after a read leaves AWS as the write before it did, so the writes are where the
//! states differ. Three sweeps in `make test`: `up` from empty, an `up` that updates the code
//! and the configuration, and `down`; each prints how many points it ran.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use support::{deployer_command, Census, Fixture, STACK};
use testkit::{Call, On, Trigger, When, SIGKILL};

/// Every this many requests, a kill point after a read too (every request with `SOAK=1`).
const READ_STRIDE: usize = 10;

/// The writes that `up` from empty sends and AWS accepts: 4 for the table (create, PITR,
/// deletion protection's tags…), and so on for each resource, and 2 for the deploy lease (taken
/// and released: a kill between them leaves it held, and the re-run must take it over). Polls
/// and refused retries vary with the clock; the writes that succeed do not. A change in this
/// number is news: read the diff of the requests before updating it.
const WRITES_FROM_EMPTY: usize = 28;

/// How many fewer requests than the scratch run a run may send: the polls of settling waits run
/// on a clock.
const POLL_SLACK: usize = 4;

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

/// The kill points for a sweep whose scratch run sent `scratch`: each of its writes, and every
/// [`READ_STRIDE`]-th request (every one with `SOAK=1`).
fn points(scratch: &[Call]) -> Vec<On> {
    let soak = std::env::var_os("SOAK").is_some();
    let writes = scratch.iter().filter(|c| c.write).count();
    let mut points: Vec<On> = (1..=writes).map(On::NthWrite).collect();
    let reads = (1..=scratch.len()).filter(|k| soak || k % READ_STRIDE == 0);
    points.extend(reads.map(On::Nth));
    points
}

/// What a sweep ran, for its census line.
fn census(what: &str, scratch: &[Call], points: &[On]) {
    let writes = scratch.iter().filter(|c| c.write).count();
    eprintln!(
        "crash: {what}: {} kill points (each of its {writes} writes, and {} of its {} requests), \
         each converged on a plain re-run",
        points.len(),
        points.len() - writes,
        scratch.len()
    );
}

/// Runs `deployer ARGS`, SIGKILLed right after the request `on` names was applied. Returns what
/// it was killed after, or, when the run never reached that point (a tail point: polls and
/// refused retries vary, see [`POLL_SLACK`]), that it completed.
fn killed_after(f: &Fixture, on: &On, scratch: &[Call], args: &[&str]) -> String {
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
    if f.proxy.fired() {
        assert_eq!(status.signal(), Some(SIGKILL), "{on:?}: {status:?}");
        return format!("killed at {on:?}");
    }
    let (k, sent, total) = match on {
        On::NthWrite(k) => {
            let writes = |c: &[Call]| c.iter().filter(|c| c.write).count();
            (*k, writes(&calls), writes(scratch))
        }
        _ => (on_nth(on), calls.len(), scratch.len()),
    };
    assert!(
        status.success() && k + POLL_SLACK > total && sent + POLL_SLACK >= total,
        "{on:?}: {args:?} was not killed: it sent {sent} (scratch run: {total}) and ended {status:?}"
    );
    format!("not killed: a complete run of {} requests", calls.len())
}

fn on_nth(on: &On) -> usize {
    match on {
        On::Nth(k) | On::NthWrite(k) => *k,
        On::Operation(_) => 0,
    }
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
    f.write_stack(&stack("scratch"));
    let scratch = f.up(&f.zip_v1).ok().calls;
    let writes = successful_writes(&scratch);
    assert_eq!(
        writes.len(),
        WRITES_FROM_EMPTY,
        "up from empty: the writes changed:\n{}",
        writes.join("\n")
    );
    f.run(&["down", "--delete-table"]).ok();

    let points = points(&scratch);
    for (i, on) in points.iter().enumerate() {
        let name = format!("k{i}");
        f.write_stack(&stack(&name));
        let what = killed_after(&f, on, &scratch, &["up", "--zip", &zip]);
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
    }
    census("up from empty", &scratch, &points);
}

#[tokio::test]
async fn an_updating_up_killed_after_any_write_converges_on_a_plain_rerun() {
    let f = Fixture::new(STACK);
    let v2 = f.zip_v2.to_str().unwrap().to_string();

    f.write_stack(&stack("scratch"));
    f.up(&f.zip_v1).ok();
    f.write_stack(&changed("scratch"));
    let scratch = f.up(&f.zip_v2).ok().calls;
    assert!(
        !successful_writes(&scratch).is_empty(),
        "the change made no write"
    );
    f.run(&["down", "--delete-table"]).ok();

    let points = points(&scratch);
    for (i, on) in points.iter().enumerate() {
        let name = format!("u{i}");
        f.write_stack(&stack(&name));
        f.up(&f.zip_v1).ok();
        f.write_stack(&changed(&name));
        let what = killed_after(&f, on, &scratch, &["up", "--zip", &v2]);
        let rerun = f.up(&f.zip_v2);
        assert_eq!(
            rerun.code, 0,
            "{what}: the re-run failed:\n{}",
            rerun.stderr
        );
        let diff = f.run(&["diff", "--zip", &v2]);
        assert_eq!(
            diff.code, 0,
            "{what}: drift after the re-run:\n{}",
            diff.stdout
        );
        f.run(&["down", "--delete-table"]).ok();
    }
    census("an updating up", &scratch, &points);
}

#[tokio::test]
async fn down_killed_after_any_write_finishes_on_a_plain_rerun() {
    let f = Fixture::new(STACK);
    let c = f.clients().await;

    f.write_stack(&stack("scratch"));
    f.up(&f.zip_v1).ok();
    let scratch = f.run(&["down"]).ok().calls;
    f.run(&["down", "--delete-table"]).ok();

    let points = points(&scratch);
    for (i, on) in points.iter().enumerate() {
        let name = format!("d{i}");
        f.write_stack(&stack(&name));
        f.up(&f.zip_v1).ok();
        let what = killed_after(&f, on, &scratch, &["down"]);
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
    }
    census("down", &scratch, &points);
}
