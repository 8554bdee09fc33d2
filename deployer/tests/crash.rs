//! Crash convergence: a verb is SIGKILLed right after its k-th request was applied (before it
//! could read the answer), for every k from 1 to its last request. The proxy counts the requests
//! and sends the signal, so each point is exact, not a race. Every time, a plain re-run of the
//! same command must converge: `diff` exit 0 and exactly one of each resource after `up`,
//! nothing but the table after `down`.
//!
//! Three sweeps, each over every point, in `make test`: `up` from empty, an `up` that updates
//! the code and the configuration, and `down`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use support::{deployer_command, Census, Fixture, STACK};
use testkit::{Call, On, Trigger, When, SIGKILL};

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

/// Runs `deployer ARGS`, SIGKILLed right after its k-th request was applied. Returns what it was
/// killed after, or, when the run sent fewer than k requests (a tail point, see
/// [`POLL_SLACK`]), that it completed.
fn killed_after(f: &Fixture, k: usize, total: usize, args: &[&str]) -> String {
    f.proxy.take();
    f.proxy.arm(Trigger {
        on: On::Nth(k),
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
        assert_eq!(status.signal(), Some(SIGKILL), "k={k}: {status:?}");
        return format!("killed after request {k}, {}", calls[k - 1]);
    }
    assert!(
        status.success() && k + POLL_SLACK > total && calls.len() + POLL_SLACK >= total,
        "k={k}: {args:?} was not killed: it sent {} requests (scratch run: {total}) and ended {status:?}",
        calls.len()
    );
    format!("not killed: a complete run of {} requests", calls.len())
}

fn successful_writes(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.write && c.succeeded())
        .map(ToString::to_string)
        .collect()
}

#[tokio::test]
async fn up_from_empty_killed_after_any_request_converges_on_a_plain_rerun() {
    let f = Fixture::new(STACK);
    let zip = f.zip_v1.to_str().unwrap().to_string();
    let c = f.clients().await;

    // How many requests `up` from empty sends, on a scratch stack.
    f.write_stack(&stack("scratch"));
    let scratch = f.up(&f.zip_v1).ok();
    let total = scratch.calls.len();
    let writes = successful_writes(&scratch.calls);
    assert_eq!(
        writes.len(),
        WRITES_FROM_EMPTY,
        "up from empty: the writes changed:\n{}",
        writes.join("\n")
    );
    f.run(&["down", "--delete-table"]).ok();

    for k in 1..=total {
        let name = format!("k{k}");
        f.write_stack(&stack(&name));
        let what = killed_after(&f, k, total, &["up", "--zip", &zip]);
        let rerun = f.up(&f.zip_v1);
        assert_eq!(
            rerun.code, 0,
            "k={k} ({what}): the re-run failed:\n{}",
            rerun.stderr
        );
        f.assert_deployed(&name, &format!("k={k} ({what})")).await;
        f.run(&["down"]).ok();
        assert_eq!(
            Census::take(&c, &name).await,
            Census::DOWN,
            "k={k} ({what}): down left something behind"
        );
    }
    eprintln!("crash: up from empty ({total} requests, {WRITES_FROM_EMPTY} writes) converged after a kill at each");
}

#[tokio::test]
async fn an_updating_up_killed_after_any_request_converges_on_a_plain_rerun() {
    let f = Fixture::new(STACK);
    let v2 = f.zip_v2.to_str().unwrap().to_string();

    f.write_stack(&stack("scratch"));
    f.up(&f.zip_v1).ok();
    f.write_stack(&changed("scratch"));
    let scratch = f.up(&f.zip_v2).ok();
    let total = scratch.calls.len();
    assert!(
        !successful_writes(&scratch.calls).is_empty(),
        "the change made no write"
    );
    f.run(&["down", "--delete-table"]).ok();

    for k in 1..=total {
        let name = format!("u{k}");
        f.write_stack(&stack(&name));
        f.up(&f.zip_v1).ok();
        f.write_stack(&changed(&name));
        let what = killed_after(&f, k, total, &["up", "--zip", &v2]);
        let rerun = f.up(&f.zip_v2);
        assert_eq!(
            rerun.code, 0,
            "k={k} ({what}): the re-run failed:\n{}",
            rerun.stderr
        );
        let diff = f.run(&["diff", "--zip", &v2]);
        assert_eq!(
            diff.code, 0,
            "k={k} ({what}): drift after the re-run:\n{}",
            diff.stdout
        );
        f.run(&["down", "--delete-table"]).ok();
    }
    eprintln!("crash: an updating up ({total} requests) converged after a kill at each");
}

#[tokio::test]
async fn down_killed_after_any_request_finishes_on_a_plain_rerun() {
    let f = Fixture::new(STACK);
    let c = f.clients().await;

    f.write_stack(&stack("scratch"));
    f.up(&f.zip_v1).ok();
    let total = f.run(&["down"]).ok().calls.len();
    f.run(&["down", "--delete-table"]).ok();

    for k in 1..=total {
        let name = format!("d{k}");
        f.write_stack(&stack(&name));
        f.up(&f.zip_v1).ok();
        let what = killed_after(&f, k, total, &["down"]);
        let rerun = f.run(&["down"]);
        assert_eq!(
            rerun.code, 0,
            "k={k} ({what}): the re-run failed:\n{}",
            rerun.stderr
        );
        assert_eq!(
            Census::take(&c, &name).await,
            Census::DOWN,
            "k={k} ({what}): down left something behind"
        );
    }
    eprintln!("crash: down ({total} requests) finished after a kill at each");
}
