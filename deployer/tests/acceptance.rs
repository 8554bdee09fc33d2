//! The acceptance story, as a user lives it: `up` from empty → `invoke` on the stage's URL →
//! `logs` of one request → an `up` that updates → `invoke` → `diff` in sync →
//! `down --delete-table` → nothing of the stage left.
//!
//! By default it runs against the emulated request path (`make test`). With `DEPLOYER_ACC=1` it
//! runs against the AWS account your credentials name (the standard chain: `AWS_PROFILE`,
//! `AWS_REGION`…), on a throwaway stage named for the run, each command under a hard timeout,
//! and with `down --delete-table` on the way out whatever happened. What it costs is in the
//! README ("Acceptance against a real account").
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{deployer_command, real_zip, Census, Fixture};

/// Where the story runs.
enum Account {
    Emulated(Fixture),
    /// A real account, from the caller's own AWS configuration.
    Aws(tempfile::TempDir),
}

/// The stack of the story: `memory_mb` is what the updating `up` changes.
fn stack(memory_mb: u32) -> String {
    format!(
        "name: acc\nregion: {}\nstage: prod\ntable:\n  name: acc-{{stage}}\n  deletion_protection: false\n  point_in_time_recovery: false\nfunction:\n  memory_mb: {memory_mb}\n  timeout_s: 3\napi:\n  routes: [GET /counter, GET /health]\n  cors_origins: [\"https://example.com\"]\n",
        std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into())
    )
}

impl Account {
    fn dir(&self) -> &Path {
        match self {
            Account::Emulated(f) => f.path(),
            Account::Aws(dir) => dir.path(),
        }
    }

    fn command(&self) -> Command {
        match self {
            Account::Emulated(f) => deployer_command(f.path(), f.proxy.endpoint()),
            Account::Aws(dir) => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_deployer"));
                c.current_dir(dir.path())
                    .env("CI", "true")
                    .env("NO_COLOR", "1");
                c
            }
        }
    }

    /// Runs `deployer ARGS`, killed after `limit`: exit code, stdout, stderr.
    fn run(&self, stage: &str, args: &[&str], limit: Duration) -> (i32, String, String) {
        let mut child = self
            .command()
            .args(["--stage", stage])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > limit {
                let _ = child.kill();
                panic!("deployer {args:?} ran past its {limit:?} limit");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = child.wait_with_output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (
            out.status.code().unwrap_or(-1),
            text(&out.stdout),
            text(&out.stderr),
        )
    }
}

/// Takes the stage down (and its table) when the story ends, passed or not.
struct Cleanup<'a> {
    account: &'a Account,
    stage: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let (code, _, err) = self.account.run(
            &self.stage,
            &["down", "--delete-table"],
            Duration::from_secs(600),
        );
        if code != 0 {
            eprintln!("cleanup of stage {} failed: {err}", self.stage);
        }
    }
}

#[track_caller]
fn ok(run: (i32, String, String), what: &str) -> String {
    assert_eq!(
        run.0, 0,
        "{what} exited {}\nstdout:\n{}\nstderr:\n{}",
        run.0, run.1, run.2
    );
    run.1
}

#[tokio::test]
async fn up_invoke_logs_update_invoke_diff_down_leaves_nothing() {
    let real = std::env::var("DEPLOYER_ACC").as_deref() == Ok("1");
    let account = if real {
        Account::Aws(tempfile::tempdir().unwrap())
    } else {
        Account::Emulated(Fixture::new(&stack(128)))
    };
    // A stage of its own per run: nothing else in the account is touched.
    let stage = format!("acc{}", std::process::id());
    std::fs::write(account.dir().join("stack.yaml"), stack(128)).unwrap();
    let zip = real_zip();
    let zip = zip.to_str().unwrap();
    let minutes = |m: u64| Duration::from_secs(60 * m);
    let cleanup = Cleanup {
        account: &account,
        stage: stage.clone(),
    };

    ok(
        account.run(&stage, &["up", "--zip", zip], minutes(10)),
        "up",
    );
    // A policy or permission made moments ago may take a while to apply on AWS.
    let invoked = ok(account.run(&stage, &["invoke"], minutes(2)), "invoke");
    assert!(invoked.contains("All 6 checks passed."), "{invoked}");

    let one = ok(
        account.run(
            &stage,
            &["--output", "json", "invoke", "--path", "/health"],
            minutes(1),
        ),
        "invoke --path",
    );
    let one: Value = serde_json::from_str(&one).unwrap();
    let body: Value = serde_json::from_str(one["body"].as_str().unwrap()).unwrap();
    let id = body["requestId"].as_str().unwrap();
    let logs = poll_logs(&account, &stage, id, minutes(2));
    assert!(logs.contains(&format!("REPORT RequestId: {id}")), "{logs}");

    std::fs::write(account.dir().join("stack.yaml"), stack(256)).unwrap();
    ok(
        account.run(&stage, &["up", "--zip", zip], minutes(10)),
        "updating up",
    );
    let again = ok(
        account.run(&stage, &["invoke"], minutes(2)),
        "invoke after the update",
    );
    assert!(again.contains("All 6 checks passed."), "{again}");
    let diff = account.run(&stage, &["diff", "--zip", zip], minutes(2));
    assert_eq!(diff.0, 0, "{}{}", diff.1, diff.2);

    drop(cleanup);
    if let Account::Emulated(f) = &account {
        let left = Census::of_stage(&f.clients().await, "acc", &stage).await;
        assert_eq!(left, Census::GONE, "nothing of the stage is left");
    } else {
        let diff = account.run(&stage, &["diff", "--zip", zip], minutes(2));
        let plan = diff.1;
        assert!(
            plan.contains("Plan: 7 to create"),
            "after down, everything is to be created again: nothing is left\n{plan}"
        );
    }
}

/// `logs --request-id`, until the request's lines arrive (CloudWatch Logs takes seconds on AWS).
fn poll_logs(account: &Account, stage: &str, id: &str, limit: Duration) -> String {
    let started = Instant::now();
    loop {
        let (code, out, err) = account.run(
            stage,
            &["logs", "--request-id", id],
            Duration::from_secs(60),
        );
        if code == 0 && out.contains("REPORT") {
            return out;
        }
        assert!(
            started.elapsed() < limit,
            "no log lines for {id} after {limit:?}: {out}{err}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}
