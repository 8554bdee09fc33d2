//! Ctrl-C during `up`: the proxy sends SIGINT (or SIGTERM) while a chosen request is in flight
//! and holds that request a moment longer. The request must finish, no other may start, the
//! output must say what was done and what was not, the exit code is 130 (143), and a plain
//! re-run converges.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::{deployer_command, Census, Fixture, Run, STACK};
use testkit::{On, Realism, Trigger, When, SIGINT, SIGTERM};

/// Every answer takes 300 ms here, so that the signal comes while requests are in flight.
fn slow_fixture() -> Fixture {
    Fixture::with(
        STACK,
        Some(Realism {
            latency: Duration::from_millis(300),
            ..Realism::fast()
        }),
    )
}

/// Checks the run against every request in flight when the deployer took the signal: each was
/// answered (the deployer waited for it), and no other request reached the proxy after that
/// instant, reads included, but for the deploy lease's release, which must follow the stop
/// (see [`released`]). The proxy holds every answer from the signal until the deployer has
/// taken it, so no request can follow an answer read before the deployer knew: the check has
/// no window of its own.
fn only_the_requests_in_flight_finished(f: &Fixture, run: &Run) {
    let at = f.proxy.fired_at().expect("the signal was sent");
    let in_flight: Vec<_> = run.calls.iter().filter(|c| c.sent <= at).collect();
    let cut_off: Vec<String> = in_flight
        .iter()
        .filter(|c| c.answered.is_none())
        .map(ToString::to_string)
        .collect();
    assert_eq!(cut_off, Vec::<String>::new(), "in flight, never answered");
    let after: Vec<String> = run
        .calls
        .iter()
        .filter(|c| c.sent > at && c.caller.is_none() && !support::is_lease(c))
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        after,
        Vec::<String>::new(),
        "sent after the signal was taken"
    );
}

/// Checks that the interrupted run released the deploy lease it held: one write after the
/// signal, and the lease free.
async fn released(f: &Fixture, run: &Run) {
    let at = f.proxy.fired_at().expect("the signal was sent");
    let after: Vec<String> = run
        .calls
        .iter()
        .filter(|c| c.sent > at && support::is_lease(c))
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        after,
        ["dynamodb UpdateItem (write)"],
        "the lease's release"
    );
    let item = f
        .clients()
        .await
        .dynamodb
        .get_item()
        .table_name("vc-prod")
        .key(
            "id",
            aws_sdk_dynamodb::types::AttributeValue::S("deployer:lease:vc:prod".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let item = item.item().cloned().unwrap_or_default();
    assert!(!item.contains_key("holder_token"), "left held: {item:?}");
}

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
        function_calls: Vec::new(),
    }
}

#[tokio::test]
async fn sigint_lets_the_request_in_flight_finish_reports_and_exits_130() {
    let f = slow_fixture();
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
    // Nothing started after it, reads included: not the role's policy, not the function, not
    // the API's routes, not a wait's poll.
    only_the_requests_in_flight_finished(&f, &run);
    released(&f, &run).await;

    // A plain re-run finishes the job.
    f.up(&f.zip_v1).ok();
    f.assert_deployed("vc", "re-run after SIGINT").await;
}

#[tokio::test]
async fn sigterm_in_json_mode_reports_done_and_not_done_and_exits_143() {
    let f = slow_fixture();
    let zip = f.zip_v1.to_str().unwrap().to_string();
    // The stage's deployment: the API's routes are done by then, the stage is not, and the
    // other chains (the table's, the function's) are wherever they are.
    let run = interrupted(
        &f,
        On::Operation(format!("POST /restapis/{}/deployments", "*")),
        SIGTERM,
        &["--output", "json", "up", "--zip", &zip],
    );
    assert_eq!(
        run.code, 143,
        "{}
{}",
        run.stdout, run.stderr
    );
    let report = run.json();
    assert_eq!(report["interrupted"], true);
    let list = |key: &str| -> Vec<String> {
        report[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let (done, not_done) = (list("done"), list("not_done"));
    assert!(done.contains(&"api vc-prod".to_string()), "{report}");
    assert!(not_done.contains(&"stage prod".to_string()), "{report}");
    assert!(
        not_done.contains(&"permission vc-apigateway-invoke".to_string()),
        "the permission waits for the API's stage chain and the function: {report}"
    );
    let mut all: Vec<String> = done.iter().chain(&not_done).cloned().collect();
    all.sort();
    assert_eq!(
        all,
        [
            "alias live",
            "api vc-prod",
            "function vc-prod",
            "log_group /aws/lambda/vc-prod",
            "permission vc-apigateway-invoke",
            "role vc-prod-role",
            "stage prod",
            "table vc-prod",
        ],
        "every resource of the plan is either done or not: {report}"
    );
    // No stage was created: the deployment in flight finished, nothing after it was sent.
    assert!(
        !run.calls.iter().any(|c| c.operation.ends_with("/stages")),
        "{:?}",
        run.calls
    );
    only_the_requests_in_flight_finished(&f, &run);
    released(&f, &run).await;

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
    only_the_requests_in_flight_finished(&f, &run);
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
    // The API goes beside the function: reported deleted exactly when its deletion went through.
    let api_gone = run
        .calls
        .iter()
        .any(|c| c.operation.starts_with("DELETE /restapis/") && c.succeeded());
    assert_eq!(
        deleted.iter().any(|d| d.starts_with("api ")),
        api_gone,
        "{report}"
    );
    assert!(
        deleted.contains(&"function vc-prod"),
        "the call in flight finished: {report}"
    );
    assert!(!deleted.contains(&"role vc-prod-role"), "{report}");
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
    // Nothing was sent after the interrupt, reads included, so the role is still there.
    only_the_requests_in_flight_finished(&f, &run);
    released(&f, &run).await;
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

#[tokio::test]
async fn a_second_sigint_stops_at_once_and_a_rerun_repairs() {
    let f = slow_fixture();
    let zip = f.zip_v1.to_str().unwrap().to_string();
    // CreateRole is held for 5 s after the first SIGINT: only a second one can end `up` sooner.
    f.proxy.take();
    f.proxy.arm(Trigger {
        on: On::Operation("CreateRole".into()),
        signal: SIGINT,
        when: When::InFlight(Duration::from_secs(5)),
    });
    let mut child = deployer_command(f.path(), f.proxy.endpoint())
        .args(["up", "--zip", &zip])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    f.proxy.target(child.id());
    let waited = std::time::Instant::now();
    while !f.proxy.fired() {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "CreateRole never came"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let second = std::time::Instant::now();
    // SAFETY: kill(2) with a pid this test spawned and has not reaped.
    unsafe { libc::kill(child.id() as i32, SIGINT) };
    let status = child.wait().unwrap();
    let took = second.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        took < Duration::from_secs(2),
        "the second SIGINT took {took:?} to stop up, with CreateRole held 5 s"
    );
    assert!(stderr.contains("Stopping now"), "{stderr}");
    f.proxy.take();

    f.up(&f.zip_v1).ok();
    f.assert_deployed("vc", "re-run after two SIGINTs").await;
}
