//! Crash convergence: `up` from empty is SIGKILLed right after its k-th request was applied
//! (before it could read the answer), for k from 1 to the last request. The proxy counts the
//! requests and sends the signal, so each point is exact, not a race. Every time, a plain
//! re-run of `up` must converge to `diff` exit 0 with exactly one of each resource, and `down`
//! must then leave nothing but the table.
//!
//! `make test` tests every third point and the last; `make soak` (SOAK=1) tests every point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use support::{deployer_command, Census, Fixture, STACK};
use testkit::{On, Trigger, When, SIGKILL};

fn stack(name: &str) -> String {
    STACK.replace("name: vc\n", &format!("name: {name}\n"))
}

#[tokio::test]
async fn up_killed_after_any_request_converges_on_a_plain_rerun() {
    let f = Fixture::new(STACK);
    let zip = f.zip_v1.to_str().unwrap().to_string();
    let c = f.clients().await;

    // How many requests `up` from empty sends, on a scratch stack.
    f.write_stack(&stack("scratch"));
    let total = f.up(&f.zip_v1).ok().calls.len();
    f.run(&["down", "--delete-table"]).ok();
    assert!(total > 20, "up from empty sent only {total} requests");

    let soak = std::env::var_os("SOAK").is_some_and(|v| !v.is_empty() && v != "0");
    let points: Vec<usize> = (1..=total)
        .filter(|k| soak || k % 3 == 1 || *k == total)
        .collect();
    let mut converged = 0;
    for &k in &points {
        let name = format!("k{k}");
        f.write_stack(&stack(&name));
        f.proxy.take();
        f.proxy.arm(Trigger {
            on: On::Nth(k),
            signal: SIGKILL,
            when: When::AfterApplied,
        });
        let mut child = deployer_command(f.path(), f.proxy.endpoint())
            .args(["up", "--zip", &zip])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        f.proxy.target(child.id());
        let status = child.wait().unwrap();
        let calls = f.proxy.take();
        assert!(
            f.proxy.fired(),
            "k={k}: up finished after {} requests",
            calls.len()
        );
        assert_eq!(status.signal(), Some(SIGKILL), "k={k}: {status:?}");
        let last = &calls[k - 1];

        let rerun = f.up(&f.zip_v1);
        assert_eq!(
            rerun.code, 0,
            "k={k} (killed after {last}): the re-run failed:\n{}",
            rerun.stderr
        );
        f.assert_deployed(&name, &format!("k={k} (killed after {last})"))
            .await;
        f.run(&["down"]).ok();
        assert_eq!(
            Census::take(&c, &name).await,
            Census::DOWN,
            "k={k} (killed after {last}): down left something behind"
        );
        converged += 1;
    }
    eprintln!(
        "crash: {converged} of {} kill points converged (up from empty sends {total} requests{})",
        points.len(),
        if soak {
            "; every point"
        } else {
            "; every third point and the last"
        }
    );
}
