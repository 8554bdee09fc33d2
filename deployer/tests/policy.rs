//! The deployer's own least privilege, proved: `deployer policy` prints a policy, and a proxy in
//! front of the emulator enforces it, mapping each request to its IAM action and resource (and
//! `iam:PassRole` for the role a function is given) the way IAM authorizes it. Every verb passes
//! under it; `--read-only` passes `diff`, `outputs`, `logs` and `status` and refuses a change; and dropping
//! any one statement makes some verb fail with exit 1 and a message that names a missing action.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::{Fixture, STACK};
use testkit::iam::Policy;
use testkit::Realism;

const ACCOUNT: &str = "123456789012";

/// The shared stack, named `name`, with alerts (so that every statement is exercised).
fn stack(name: &str) -> String {
    let alerting = format!("{STACK}alerts: {{ email: {OWNER} }}\n");
    alerting.replace("name: vc\n", &format!("name: {name}\n"))
}

const OWNER: &str = "owner@example.com";

/// `deployer policy` for the stack in the fixture's stack.yaml, as JSON.
fn printed(f: &Fixture, read_only: bool) -> Value {
    f.proxy.realism(Some(Realism::fast()));
    let mut args = vec!["policy"];
    if read_only {
        args.push("--read-only");
    }
    let run = f.run(&args).ok();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}:\n{}", run.stdout))
}

fn enforce(f: &Fixture, document: &Value) {
    f.proxy.realism(Some(Realism::fast().enforce(Policy {
        document: document.clone(),
        region: "us-east-1".into(),
        account: ACCOUNT.into(),
    })));
}

/// Every verb that talks to AWS, in a user's order: `up` from empty, `up --adopt` of the
/// table once its deployer tags are gone (as if made by hand: the count is read), an `up` that
/// changes the function, the stage and the alerts' confirmed address (a release: publish,
/// probe, switch; a subscription replaced), `rollback` and the `up` that rolls forward,
/// `diff`, `outputs`, `logs`, `status`, `down --delete-table`. The first that fails: its
/// command line and what it said.
async fn every_verb(f: &Fixture, name: &str) -> Result<(), (String, i32, String)> {
    let zip = f.zip_v1.to_str().unwrap().to_string();
    let steps: [(&str, Vec<&str>); 10] = [
        ("", vec!["up", "--zip", &zip]),
        ("untag", vec!["up", "--adopt", "--zip", &zip]),
        ("change", vec!["up", "--zip", &zip]),
        ("", vec!["rollback"]),
        ("", vec!["up", "--zip", &zip]),
        ("", vec!["diff", "--zip", &zip]),
        ("", vec!["outputs"]),
        ("", vec!["logs"]),
        ("", vec!["status"]),
        ("", vec!["down", "--delete-table"]),
    ];
    f.write_stack(&stack(name));
    for (what, args) in steps {
        if what == "untag" {
            untag_table(f, &format!("{name}-prod")).await;
        }
        if what == "change" {
            f.proxy.confirm_email(OWNER);
            f.write_stack(
                &stack(name)
                    .replace("memory_mb: 128", "memory_mb: 256")
                    .replace("rate: 10", "rate: 5")
                    .replace(OWNER, "new-owner@example.com"),
            );
        }
        let run = f.run(&args);
        if run.code != 0 {
            return Err((args.join(" "), run.code, run.stderr));
        }
    }
    Ok(())
}

/// Removes the deployer's tags from table `table`, straight in moto (no policy applies there).
async fn untag_table(f: &Fixture, table: &str) {
    f.clients()
        .await
        .dynamodb
        .untag_resource()
        .resource_arn(format!(
            "arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{table}"
        ))
        .tag_keys("deployer:stack")
        .tag_keys("deployer:stage")
        .send()
        .await
        .unwrap();
}

fn statements(document: &Value) -> Vec<Value> {
    document["Statement"].as_array().unwrap().clone()
}

fn actions(statement: &Value) -> Vec<String> {
    statement["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_printed_policy_is_enough_for_every_verb_and_each_statement_is_needed() {
    let f = Fixture::new(&stack("lp"));
    let full = printed(&f, false);
    enforce(&f, &full);
    if let Err((verb, code, stderr)) = every_verb(&f, "lp").await {
        panic!("`deployer {verb}` failed (exit {code}) under the printed policy:\n{stderr}");
    }

    let mut report = Vec::new();
    for (i, dropped) in statements(&full).iter().enumerate() {
        let name = format!("drop{i}");
        f.write_stack(&stack(&name));
        let mut without = printed(&f, false);
        without["Statement"].as_array_mut().unwrap().remove(i);
        enforce(&f, &without);
        let Err((verb, code, stderr)) = every_verb(&f, &name).await else {
            panic!("every verb passed without statement {}", dropped["Sid"]);
        };
        assert_eq!(code, 1, "{verb}: {stderr}");
        let named: Vec<String> = actions(dropped)
            .into_iter()
            .filter(|a| stderr.contains(a.as_str()))
            .collect();
        assert!(
            !named.is_empty(),
            "without {}, `deployer {verb}` failed without naming its actions:\n{stderr}",
            dropped["Sid"]
        );
        report.push(format!(
            "{}: `{verb}` refused {}",
            dropped["Sid"],
            named.join(", ")
        ));
        // Clean up with every permission, for the next statement's run.
        f.proxy.realism(Some(Realism::fast()));
        f.run(&["down", "--delete-table"]);
    }
    eprintln!(
        "least privilege, one statement dropped at a time:\n  {}",
        report.join("\n  ")
    );
}

#[tokio::test]
async fn the_read_only_policy_passes_the_reads_and_refuses_a_change() {
    let f = Fixture::new(&stack("ro"));
    f.up(&f.zip_v1).ok();
    let read_only = printed(&f, true);
    enforce(&f, &read_only);
    let zip = f.zip_v1.to_str().unwrap().to_string();
    for args in [
        vec!["diff", "--zip", &zip],
        vec!["outputs"],
        vec!["logs"],
        vec!["status"],
    ] {
        let run = f.run(&args);
        assert_eq!(run.code, 0, "{args:?} under --read-only:\n{}", run.stderr);
    }
    f.write_stack(&stack("ro").replace("memory_mb: 128", "memory_mb: 256"));
    let drift = f.run(&["diff", "--zip", &zip]);
    assert_eq!(
        drift.code, 2,
        "a read-only diff still sees drift:\n{}",
        drift.stderr
    );
    // Refused at its first step, the deploy lease, before any write.
    let up = f.run(&["up", "--zip", &zip]);
    assert_eq!(up.code, 1, "{}", up.stderr);
    assert!(
        up.stderr.contains("reading the deploy lease") && up.stderr.contains("dynamodb:GetItem"),
        "{}",
        up.stderr
    );
    assert_eq!(up.writes(), Vec::<String>::new());
    assert_eq!(up.lease_writes(), Vec::<String>::new());
}
