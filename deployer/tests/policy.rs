//! The deployer's own least privilege, proved: `deployer policy` prints a policy, and a proxy in
//! front of the emulator enforces it, mapping each request to its IAM action and resource (and
//! `iam:PassRole` for the role a function is given, and the tag action that tagging at creation
//! needs) the way IAM authorizes it; a request it cannot map is refused. Every verb, and every
//! kind of write among them, passes under it; each printed action was the only grant of some
//! request (the proxy's census); dropping any one statement, or any one action (a sample here,
//! each under `make soak`), makes some verb fail with exit 1 and a message naming it; and
//! `--read-only` passes `diff`, `outputs`, `logs` and `status` and refuses a change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::{Fixture, ACCOUNT, STACK};
use testkit::Realism;

/// The shared stack, named `name`, with alerts (so that every statement is exercised).
fn stack(name: &str) -> String {
    let alerting = format!("{STACK}alerts: {{ email: {OWNER} }}\n");
    alerting.replace("name: vc\n", &format!("name: {name}\n"))
}

const OWNER: &str = "owner@example.com";

/// Every verb that talks to AWS, in a user's order, and every kind of write among them: `up`
/// from empty, `up --adopt` of the table once its deployer tags are gone (as if made by hand: the
/// count is read), an `up` of new code that also changes the function, the stage and the alerts'
/// confirmed address (a release: publish, probe, switch; a subscription replaced), `rollback`,
/// the `up` that rolls forward and repairs drift made by hand (the role's trust, the function
/// opened to anyone), `diff`, `outputs`, `logs`, `status`, and `down --delete-table` of a role
/// someone attached a managed policy to. The first that fails: its command line and what it
/// said.
async fn every_verb(f: &Fixture, name: &str) -> Result<(), (String, i32, String)> {
    let (v1, v2) = (f.zip_v1.to_str().unwrap(), f.zip_v2.to_str().unwrap());
    let steps: [(&str, Vec<&str>); 10] = [
        ("", vec!["up", "--zip", v1]),
        ("untag", vec!["up", "--adopt", "--zip", v1]),
        ("change", vec!["up", "--zip", v2]),
        ("", vec!["rollback"]),
        ("drift", vec!["up", "--zip", v1]),
        ("", vec!["diff", "--zip", v1]),
        ("", vec!["outputs"]),
        ("", vec!["logs"]),
        ("", vec!["status"]),
        ("managed", vec!["down", "--delete-table"]),
    ];
    f.write_stack(&stack(name));
    for (what, args) in steps {
        match what {
            "untag" => untag_table(f, &format!("{name}-prod")).await,
            "change" => {
                f.proxy.confirm_email(OWNER);
                f.write_stack(
                    &stack(name)
                        .replace("memory_mb: 128", "memory_mb: 256")
                        .replace("rate: 10", "rate: 5")
                        .replace(OWNER, "new-owner@example.com"),
                );
            }
            "drift" => drift(f, name).await,
            "managed" => attach_managed_policy(f, &format!("{name}-prod-role")).await,
            _ => {}
        }
        let run = f.run(&args);
        if run.code != 0 {
            return Err((args.join(" "), run.code, run.stderr));
        }
    }
    Ok(())
}

/// Drift made by hand: the role trusts EC2 instead of Lambda (straight in moto), and the function
/// is opened to anyone (by the operator, whom the policy does not hold).
async fn drift(f: &Fixture, name: &str) {
    let c = f.clients().await;
    let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    c.iam
        .update_assume_role_policy()
        .role_name(format!("{name}-prod-role"))
        .policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    c.lambda
        .add_permission()
        .function_name(format!("{name}-prod"))
        .statement_id("open-to-the-world")
        .action("lambda:InvokeFunction")
        .principal("*")
        .send()
        .await
        .unwrap();
}

/// A managed policy attached to role `role` by hand, straight in moto: `down` detaches it.
async fn attach_managed_policy(f: &Fixture, role: &str) {
    let iam = f.clients().await.iam;
    let document = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "s3:ListAllMyBuckets", "Resource": "*"}]});
    let policy = iam
        .create_policy()
        .policy_name(format!("{role}-by-hand"))
        .policy_document(document.to_string())
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name(role)
        .policy_arn(policy.policy().unwrap().arn().unwrap())
        .send()
        .await
        .unwrap();
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

/// Minimality per action: each action of each printed statement allowed some request that no
/// other statement allowed (the proxy's census), so deleting it fails that request.
fn assert_every_action_needed(printed: &Value, used: &BTreeSet<(String, String)>) {
    let unused: Vec<String> = statements(printed)
        .iter()
        .flat_map(|s| {
            let sid = s["Sid"].as_str().unwrap().to_string();
            actions(s).into_iter().map(move |a| (sid.clone(), a))
        })
        .filter(|entry| !used.contains(entry))
        .map(|(sid, action)| format!("{sid}: {action}"))
        .collect();
    assert!(
        unused.is_empty(),
        "printed but needed by no request of any verb:\n  {}",
        unused.join("\n  ")
    );
    testkit::figure(&format!(
        "least privilege: each of the {} printed actions was needed",
        used.len()
    ));
}

/// The printed policy less one statement (`action: None`) or one action of it: `(sid, action)`.
fn without(printed: &Value, sid: &str, action: Option<&str>) -> Value {
    let mut less = printed.clone();
    let list = less["Statement"].as_array_mut().unwrap();
    let at = list.iter().position(|s| s["Sid"] == sid).unwrap();
    match action {
        None => {
            list.remove(at);
        }
        Some(action) => {
            let kept: Vec<String> = actions(&list[at])
                .into_iter()
                .filter(|a| a != action)
                .collect();
            match kept.is_empty() {
                true => drop(list.remove(at)),
                false => list[at]["Action"] = serde_json::json!(kept),
            }
        }
    }
    less
}

/// Runs every verb, on a stack of its own, under the printed policy less `sid` (or less one
/// `action` of it): some verb must fail with exit 1 and name one of the missing actions. Then
/// cleans up with every permission. Returns the report's line.
async fn refused_without(f: &Fixture, run: usize, sid: &str, action: Option<&str>) -> String {
    let name = format!("drop{run}");
    f.write_stack(&stack(&name));
    let printed = f.printed_policy(false);
    let missing: Vec<String> = match action {
        Some(a) => vec![a.to_string()],
        None => actions(
            statements(&printed)
                .iter()
                .find(|s| s["Sid"] == sid)
                .unwrap(),
        ),
    };
    f.enforce(&without(&printed, sid, action));
    let what = format!(
        "{sid}{}",
        action.map(|a| format!(" {a}")).unwrap_or_default()
    );
    let Err((verb, code, stderr)) = every_verb(f, &name).await else {
        panic!("every verb passed without {what}");
    };
    assert_eq!(code, 1, "without {what}, {verb}: {stderr}");
    let named: Vec<&String> = missing
        .iter()
        .filter(|a| stderr.contains(a.as_str()))
        .collect();
    assert!(
        !named.is_empty(),
        "without {what}, `deployer {verb}` failed without naming it:\n{stderr}"
    );
    // Clean up with every permission, for the next run.
    f.proxy.realism(Some(Realism::fast()));
    f.run(&["down", "--delete-table"]);
    let verb = verb.split(" --zip").next().unwrap_or(&verb).to_string();
    format!("{what}: `{verb}` refused {named:?}")
}

#[tokio::test]
async fn the_printed_policy_is_enough_for_every_verb_and_each_statement_is_needed() {
    let f = Fixture::new(&stack("lp"));
    let full = f.printed_policy(false);
    f.enforce(&full);
    if let Err((verb, code, stderr)) = every_verb(&f, "lp").await {
        panic!("`deployer {verb}` failed (exit {code}) under the printed policy:\n{stderr}");
    }
    assert_every_action_needed(&full, &f.proxy.authorized());

    let mut report = Vec::new();
    for (i, statement) in statements(&full).iter().enumerate() {
        let sid = statement["Sid"].as_str().unwrap();
        report.push(refused_without(&f, i, sid, None).await);
    }
    eprintln!(
        "least privilege, one statement dropped at a time:\n  {}",
        report.join("\n  ")
    );
}

/// Every this many printed actions, one is deleted in `make test`; `make soak` (SOAK=1) deletes
/// each (66 runs, about 150 s here). The census above holds every action to some request.
const ACTION_STRIDE: usize = 6;

/// Printed actions deleted in turn (from their statement alone): some verb fails, naming it.
#[tokio::test]
async fn deleting_any_one_printed_action_fails_a_verb_naming_it() {
    let soak = std::env::var_os("SOAK").is_some_and(|v| !v.is_empty() && v != "0");
    let stride = if soak { 1 } else { ACTION_STRIDE };
    let f = Fixture::new(&stack("each"));
    let full = f.printed_policy(false);
    let every: Vec<(String, String)> = statements(&full)
        .iter()
        .flat_map(|s| {
            let sid = s["Sid"].as_str().unwrap().to_string();
            actions(s).into_iter().map(move |a| (sid.clone(), a))
        })
        .collect();
    let mut report = Vec::new();
    for (i, (sid, action)) in every.iter().enumerate().step_by(stride) {
        report.push(refused_without(&f, i, sid, Some(action)).await);
    }
    testkit::figure(&format!(
        "least privilege: {} of the {} printed actions deleted one at a time (make soak: each), \
         each failing a verb that named it",
        report.len(),
        every.len(),
    ));
    eprintln!("{}", report.join("\n"));
}

#[tokio::test]
async fn the_read_only_policy_passes_the_reads_and_refuses_a_change() {
    let f = Fixture::new(&stack("ro"));
    f.up(&f.zip_v1).ok();
    let read_only = f.printed_policy(true);
    f.enforce(&read_only);
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

/// The printed policy names the stack's REST APIs by its tags: with the deployer's credentials, a
/// REST API of another stack (or made by hand) in the same account cannot be read, changed or
/// deleted, while the stack's own can be read.
#[tokio::test]
async fn another_rest_api_is_out_of_the_printed_policys_reach() {
    let f = Fixture::new(&stack("scoped"));
    f.up(&f.zip_v1).ok();
    let moto = f.clients().await.apigateway;
    let theirs = moto.create_rest_api().name("theirs").send().await.unwrap();
    let theirs = theirs.id().unwrap().to_string();
    let ours = moto.get_rest_apis().send().await.unwrap();
    let ours = ours
        .items()
        .iter()
        .find(|a| a.name() == Some("scoped-prod"))
        .and_then(|a| a.id())
        .unwrap()
        .to_string();
    f.enforce_printed_policy();

    let deployer = testkit::dummy_loader()
        .endpoint_url(f.proxy.endpoint())
        .load()
        .await;
    let gw = aws_sdk_apigateway::Client::new(&deployer);
    gw.get_rest_api().rest_api_id(&ours).send().await.unwrap();
    let text =
        |e: &dyn std::error::Error| aws_sdk_apigateway::error::DisplayErrorContext(e).to_string();
    let read = gw.get_rest_api().rest_api_id(&theirs).send().await;
    let read = text(&read.expect_err("another stack's REST API was read"));
    let deleted = gw.delete_rest_api().rest_api_id(&theirs).send().await;
    let deleted = text(&deleted.expect_err("another stack's REST API was deleted"));
    for refusal in [read, deleted] {
        assert!(refusal.contains("not authorized"), "{refusal}");
    }
    assert!(moto
        .get_rest_api()
        .rest_api_id(&theirs)
        .send()
        .await
        .is_ok());
}
