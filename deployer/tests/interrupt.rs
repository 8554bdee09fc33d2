//! Ctrl-C during `up`: the proxy sends SIGINT (or SIGTERM) while a chosen request is in flight
//! and holds that request a moment longer. The request must finish, no other may start, the
//! output must say what was done and what was not, the exit code is 130 (143), and a plain
//! re-run converges.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::{deployer_command, Census, Fixture, Run, STACK};
use testkit::{On, Trigger, When, SIGINT, SIGTERM};

/// Runs `deployer ARGS`, signalling it while `operation` is in flight.
fn interrupted(f: &Fixture, on: On, signal: i32, args: &[&str]) -> Run {
    f.proxy.take();
    f.proxy.arm(Trigger {
        on,
        signal,
        when: When::InFlight(Duration::from_millis(600)),
    });
    let child = deployer_command(f.path(), f.proxy.endpoint())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    f.proxy.target(child.id());
    let out = child.wait_with_output().unwrap();
    assert!(f.proxy.fired(), "the signal was never sent");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        calls: f.proxy.take(),
    }
}

#[tokio::test]
async fn sigint_lets_the_request_in_flight_finish_reports_and_exits_130() {
    let f = Fixture::new(STACK);
    let zip = f.zip_v1.to_str().unwrap().to_string();
    let run = interrupted(
        &f,
        On::Operation("CreateRole".into()),
        SIGINT,
        &["up", "--zip", &zip],
    );
    assert_eq!(run.code, 130, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("Interrupted: finishing the requests in flight"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("Interrupted:"), "{}", run.stdout);
    let not_done = run
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("not done:"))
        .unwrap_or_else(|| panic!("no `not done` line:\n{}", run.stdout));
    // The role's policy was never put, so the role is not done; nothing after it started.
    for resource in [
        "role vc-prod-role",
        "function vc-prod",
        "api vc-prod",
        "stage prod",
    ] {
        assert!(
            not_done.contains(resource),
            "{resource} missing from: {not_done}"
        );
    }

    // CreateRole, in flight when the signal came, finished: the role exists.
    let c = f.clients().await;
    c.iam
        .get_role()
        .role_name("vc-prod-role")
        .send()
        .await
        .unwrap();
    // Nothing started after it: not the role's policy, not the function, not the API.
    let at = run
        .calls
        .iter()
        .position(|c| c.operation == "CreateRole")
        .unwrap();
    let later: Vec<String> = run.calls[at + 1..]
        .iter()
        .filter(|c| c.write)
        .map(ToString::to_string)
        .collect();
    assert!(
        !later.iter().any(|w| w.starts_with("iam")
            || w.starts_with("lambda")
            || w.starts_with("apigateway")),
        "requests started after the interrupt: {later:?}"
    );

    // A plain re-run finishes the job.
    f.up(&f.zip_v1).ok();
    f.assert_deployed("vc", "re-run after SIGINT").await;
}

#[tokio::test]
async fn sigterm_in_json_mode_reports_done_and_not_done_and_exits_143() {
    let f = Fixture::new(STACK);
    let zip = f.zip_v1.to_str().unwrap().to_string();
    // The API's first write: the table, log group, role and function are done by then.
    let run = interrupted(
        &f,
        On::Operation("POST /restapis".into()),
        SIGTERM,
        &["--output", "json", "up", "--zip", &zip],
    );
    assert_eq!(run.code, 143, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["interrupted"], true);
    assert_eq!(
        report["done"],
        serde_json::json!([
            "table vc-prod",
            "log_group /aws/lambda/vc-prod",
            "role vc-prod-role",
            "function vc-prod"
        ])
    );
    let not_done = report["not_done"].as_array().unwrap();
    assert!(
        not_done
            .iter()
            .any(|r| r == "permission vc-apigateway-invoke"),
        "{report}"
    );

    f.up(&f.zip_v1).ok();
    f.assert_deployed("vc", "re-run after SIGTERM").await;
}

#[test]
fn sigint_while_reading_changes_nothing_and_says_so() {
    let f = Fixture::new(STACK);
    let zip = f.zip_v1.to_str().unwrap().to_string();
    // Request 1 is sts:GetCallerIdentity; request 2 is the first read of the stack.
    let run = interrupted(&f, On::Nth(2), SIGINT, &["up", "--zip", &zip]);
    assert_eq!(run.code, 130, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("Nothing was changed."),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(run.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn sigint_during_down_reports_what_was_removed_and_a_rerun_finishes() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let run = interrupted(
        &f,
        On::Operation("DELETE /2015-03-31/functions/vc-prod".into()),
        SIGINT,
        &["--output", "json", "down"],
    );
    assert_eq!(run.code, 130, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    let deleted: Vec<&str> = report["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(deleted.iter().any(|d| d.starts_with("api ")), "{report}");
    assert!(
        deleted.contains(&"function vc-prod"),
        "the call in flight finished: {report}"
    );
    assert!(!deleted.contains(&"role vc-prod-role"), "{report}");
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
    // The role is still there: nothing was sent after the interrupt.
    let c = f.clients().await;
    c.iam
        .get_role()
        .role_name("vc-prod-role")
        .send()
        .await
        .unwrap();

    f.run(&["down"]).ok();
    assert_eq!(Census::take(&c, "vc").await, Census::DOWN);
}
