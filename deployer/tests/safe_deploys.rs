//! Safe deploys, through the real binaries against the emulated request path: every change of
//! code or configuration runs as a new version, probed before the `live` alias (which the stage
//! invokes) moves to it; a failed probe leaves the stage serving what it served; `rollback`
//! moves back in one write; two deploys cannot interleave a switch.
//!
//! One emulator and one deployed stack serve every story of this file, one story at a time;
//! each starts from the stack deployed with `zip_v1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::OnceLock;

use serde_json::Value;
use support::{Fixture, Run, STACK};
use testkit::Realism;
use tokio::sync::{Mutex, MutexGuard};

const ALIAS: &str = "lambda PUT /2015-03-31/functions/vc-prod/aliases/live";
const PUBLISH: &str = "lambda POST /2015-03-31/functions/vc-prod/versions";
const INVOKE: &str = "lambda POST /2015-03-31/functions/vc-prod/invocations";

async fn deployed() -> MutexGuard<'static, Fixture> {
    static SHARED: OnceLock<Mutex<Fixture>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| Mutex::new(Fixture::new(STACK)));
    let f = shared.lock().await;
    // What a test before changed of the realism layer does not carry over.
    f.proxy.realism(Some(Realism::fast()));
    f.write_stack(STACK);
    f.up(&f.zip_v1).ok();
    f
}

/// The role's policy edited by hand so that the function may not count, with IAM applying a
/// change of it a second after it is made (the repair `up` makes included).
async fn policy_broken_by_hand(f: &Fixture) {
    f.proxy.realism(Some(Realism {
        policy_propagation: std::time::Duration::from_secs(1),
        ..Realism::fast()
    }));
    let c = f.clients().await;
    support::edit_counter_policy(&c, |p| p.replace("dynamodb:UpdateItem", "dynamodb:Query")).await;
}

/// The version the `live` alias names, read straight from moto.
async fn live(f: &Fixture) -> String {
    let c = f.clients().await;
    let alias = c
        .lambda
        .get_alias()
        .function_name("vc-prod")
        .name("live")
        .send()
        .await
        .unwrap();
    alias.function_version().unwrap().to_string()
}

/// The count in the table, read straight from moto.
async fn count(f: &Fixture) -> u64 {
    support::count(&f.clients().await).await
}

/// `/health` through the deployed stage: the version that answered.
fn health_version(f: &Fixture) -> String {
    let run = f
        .run(&["--output", "json", "invoke", "--path", "/health"])
        .ok();
    let body: Value = serde_json::from_str(run.json()["body"].as_str().unwrap()).unwrap();
    body["version"].as_str().unwrap().to_string()
}

/// How many of `calls` are `operation` (the Lambda API's `METHOD /path`, without the query).
/// How many times AWS accepted `operation` in `run` (a publish is refused while the code's
/// update is in progress, and sent again).
fn times(run: &Run, operation: &str) -> usize {
    run.calls
        .iter()
        .filter(|c| c.succeeded() && format!("{} {}", c.service, c.operation) == operation)
        .count()
}

#[tokio::test]
async fn a_code_change_is_one_version_one_probe_and_one_switch() {
    let f = deployed().await;
    let (before, visits) = (live(&f).await, count(&f).await);
    let up = f.up(&f.zip_v2).ok();
    assert_eq!(times(&up, PUBLISH), 1, "{:?}", up.applied());
    assert_eq!(times(&up, INVOKE), 1, "one probe");
    assert_eq!(times(&up, ALIAS), 1, "one switch");
    let after = live(&f).await;
    assert_ne!(after, before);
    assert!(
        up.stdout.contains(&format!("live_version  {after}")),
        "{}",
        up.stdout
    );
    assert_eq!(count(&f).await, visits, "the probe counted nothing");
    assert_eq!(
        health_version(&f),
        after,
        "the stage serves the new version"
    );

    let again = f.up(&f.zip_v2).ok();
    assert_eq!(
        again.writes(),
        Vec::<String>::new(),
        "a no-op up writes nothing"
    );
    assert_eq!(times(&again, INVOKE), 0, "and probes nothing");
    let diff = f.run(&[
        "--output",
        "json",
        "diff",
        "--zip",
        f.zip_v2.to_str().unwrap(),
    ]);
    assert_eq!(diff.code, 0, "{}", diff.stdout);
    assert_eq!(diff.json()["live_version"], after.as_str());
}

#[tokio::test]
async fn a_bootstrap_that_exits_at_init_fails_its_probe_and_takes_no_traffic() {
    let f = deployed().await;
    let (before, visits) = (live(&f).await, count(&f).await);
    let up = f.up(&f.zip_exits);
    assert_eq!(up.code, 1, "{}", up.stderr);
    assert!(up.stderr.contains("the probe of version"), "{}", up.stderr);
    assert!(up.stderr.contains("Runtime.ExitError"), "{}", up.stderr);
    assert!(
        up.stderr.contains("the function's log for this invocation")
            && up.stderr.contains("RequestId:"),
        "the function's own lines are shown:\n{}",
        up.stderr
    );
    assert!(up.stderr.contains("takes no traffic"), "{}", up.stderr);
    assert_eq!(times(&up, ALIAS), 0, "the alias did not move");
    assert_eq!(live(&f).await, before);
    assert_eq!(count(&f).await, visits, "the probe counted nothing");
    assert_eq!(
        health_version(&f),
        before,
        "the stage serves what it served"
    );
    let invoke = f.run(&["--output", "json", "invoke"]);
    assert_eq!(invoke.code, 0, "{}", invoke.stdout);
}

/// The policy is repaired before the release, and IAM applies the repair after a while (a
/// second here): the probe is denied meanwhile, and sent again until the new policy is in force.
#[tokio::test]
async fn a_probe_denied_the_increment_is_repaired_in_the_same_up() {
    let f = deployed().await;
    policy_broken_by_hand(&f).await;

    let up = f.up(&f.zip_v2).ok();
    let applied = up.applied();
    let at = |op: &str| applied.iter().position(|a| a == op);
    let repaired = at("iam PutRolePolicy").expect("the policy is repaired");
    let switched = at(ALIAS).expect("the alias is switched");
    assert!(repaired < switched, "{applied:?}");
    // Denied while the repair propagated, then passed: the probe was sent more than once, and
    // the up said why it waited.
    assert!(times(&up, INVOKE) >= 2, "{applied:?}");
    assert!(
        up.stderr.contains("IAM applies a changed policy"),
        "{}",
        up.stderr
    );
    f.proxy.realism(Some(Realism::fast()));
}

#[tokio::test]
async fn rollback_moves_back_in_one_write_is_drift_and_up_rolls_forward() {
    let f = deployed().await;
    let first = live(&f).await;
    f.up(&f.zip_v2).ok();
    let second = live(&f).await;
    assert_ne!(first, second);

    let back = f.run(&["--output", "json", "rollback"]).ok();
    assert_eq!(back.writes(), [ALIAS], "one write");
    assert_eq!(times(&back, INVOKE), 1, "probed first");
    let report = back.json();
    assert_eq!(
        (report["from"].as_str(), report["to"].as_str()),
        (Some(second.as_str()), Some(first.as_str()))
    );
    assert_eq!(
        health_version(&f),
        first,
        "the stage serves the previous version"
    );

    let diff = f.run(&["diff", "--zip", f.zip_v2.to_str().unwrap()]);
    assert_eq!(diff.code, 2, "{}", diff.stdout);
    assert!(
        diff.stdout
            .contains(&format!("rolled back from version {second}")),
        "{}",
        diff.stdout
    );

    let forward = f.up(&f.zip_v2).ok();
    assert_eq!(
        times(&forward, "lambda PUT /2015-03-31/functions/vc-prod/code"),
        0
    );
    assert_eq!(
        live(&f).await,
        second,
        "the version of the stack's code, again"
    );
    assert_eq!(
        f.run(&["diff", "--zip", f.zip_v2.to_str().unwrap()]).code,
        0
    );

    let refused = f.run(&["rollback", "--to", "999"]);
    assert_eq!(refused.code, 1);
    assert!(refused
        .stderr
        .contains("version 999 of function vc-prod does not exist"));
    assert_eq!(refused.writes(), Vec::<String>::new());
}

/// Starts `up --zip ZIP` on a thread of its own, and returns once the trigger armed at the
/// proxy holds its request: the test acts while that deploy is mid-way.
async fn up_held(
    f: &Fixture,
    zip: &std::path::Path,
) -> std::thread::JoinHandle<(i32, String, String)> {
    let (dir, endpoint) = (f.path().to_path_buf(), f.proxy.endpoint().to_string());
    let zip = zip.to_str().unwrap().to_string();
    let racing =
        std::thread::spawn(move || support::deployer_at(&dir, &endpoint, &["up", "--zip", &zip]));
    while !f.proxy.fired() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    racing
}

/// Holds the next `UpdateAlias` at the proxy for 4 s: the deploy making it is mid-switch.
fn hold_the_switch(f: &Fixture) {
    f.proxy.arm(testkit::Trigger {
        on: testkit::On::Operation(ALIAS.trim_start_matches("lambda ").to_string()),
        signal: 0,
        when: testkit::When::InFlight(std::time::Duration::from_secs(4)),
    });
}

/// The alias's creation held at the proxy while someone else creates it: Lambda answers the
/// deploy's `CreateAlias` with a conflict, and the alias names another version than this
/// deploy's, so it is another's and is left as it is.
#[tokio::test]
async fn an_alias_created_by_another_deploy_meanwhile_is_left_as_it_is_and_said() {
    let f = deployed().await;
    let c = f.clients().await;
    c.lambda
        .delete_alias()
        .function_name("vc-prod")
        .name("live")
        .send()
        .await
        .unwrap();
    f.proxy.arm(testkit::Trigger {
        on: testkit::On::Operation("POST /2015-03-31/functions/vc-prod/aliases".into()),
        signal: 0,
        when: testkit::When::InFlight(std::time::Duration::from_secs(2)),
    });
    let racing = up_held(&f, &f.zip_v1).await;
    c.lambda
        .create_alias()
        .function_name("vc-prod")
        .name("live")
        .function_version("$LATEST")
        .send()
        .await
        .unwrap();
    let (code, _, stderr) = racing.join().unwrap();
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("alias live of function vc-prod was created by another deploy"),
        "{stderr}"
    );
    assert_eq!(live(&f).await, "$LATEST", "left as the other made it");

    let again = f.up(&f.zip_v1);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_ne!(live(&f).await, "$LATEST");
    assert_eq!(
        f.run(&["diff", "--zip", f.zip_v1.to_str().unwrap()]).code,
        0
    );
}

#[tokio::test]
async fn two_deploys_at_once_take_turns_and_a_switch_moved_meanwhile_is_refused() {
    let f = deployed().await;
    // Two ups of the same change at once: the deploy lease makes them take turns. The first
    // is held mid-switch; the second waits, then finds the stack in sync and releases nothing.
    hold_the_switch(&f);
    f.proxy.take();
    let zip = f.zip_v2.to_str().unwrap().to_string();
    let (dir, endpoint) = (f.path().to_path_buf(), f.proxy.endpoint().to_string());
    let spawn = |args: Vec<String>| {
        let (dir, endpoint) = (dir.clone(), endpoint.clone());
        std::thread::spawn(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            support::deployer_at(&dir, &endpoint, &args)
        })
    };
    let up = || vec!["up".to_string(), "--zip".to_string(), zip.clone()];
    let (a, b) = (spawn(up()), spawn(up()));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert_eq!((a.0, b.0), (0, 0), "{}\n{}", a.2, b.2);
    assert!(
        [&a.2, &b.2]
            .iter()
            .any(|e| e.contains("waiting for the deploy lease")),
        "neither waited:\n{}\n{}",
        a.2,
        b.2
    );
    let calls = f.proxy.take();
    let published = calls
        .iter()
        .filter(|c| c.succeeded() && format!("{} {}", c.service, c.operation) == PUBLISH)
        .count();
    assert_eq!(published, 1, "the change was released twice");
    assert_eq!(health_version(&f), live(&f).await);

    // The alias's RevisionId still guards the switch against a move outside the lease (by
    // hand, or an older deployer): the deploy's UpdateAlias, sent at the revision it read,
    // is refused, and it says so.
    f.write_stack(&STACK.replace("memory_mb: 128", "memory_mb: 256"));
    hold_the_switch(&f);
    let racing = up_held(&f, &f.zip_v2).await;
    let c = f.clients().await;
    c.lambda
        .update_alias()
        .function_name("vc-prod")
        .name("live")
        .description("moved by hand")
        .send()
        .await
        .unwrap();
    let (code, _, stderr) = racing.join().unwrap();
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("was moved by another deploy") && stderr.contains("RevisionId"),
        "{stderr}"
    );
    f.write_stack(STACK);
}

#[tokio::test]
async fn a_stack_made_before_the_alias_moves_onto_it_with_no_moment_unserved() {
    let f = deployed().await;
    let c = f.clients().await;
    // The stack as earlier versions made it: every route invokes the function itself, whose
    // own policy lets the API in; the alias has no statement.
    let api = c.apigateway.get_rest_apis().send().await.unwrap().items()[0]
        .id()
        .unwrap()
        .to_string();
    let function = "arn:aws:lambda:us-east-1:123456789012:function:vc-prod";
    let uri = format!(
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function}/invocations"
    );
    let resources = c
        .apigateway
        .get_resources()
        .rest_api_id(&api)
        .send()
        .await
        .unwrap();
    for r in resources.items() {
        for method in r
            .resource_methods()
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            c.apigateway
                .put_integration()
                .rest_api_id(&api)
                .resource_id(r.id().unwrap())
                .http_method(&method)
                .r#type(aws_sdk_apigateway::types::IntegrationType::AwsProxy)
                .integration_http_method("POST")
                .uri(&uri)
                .send()
                .await
                .unwrap();
        }
    }
    let source = format!("arn:aws:execute-api:us-east-1:123456789012:{api}/*");
    c.lambda
        .add_permission()
        .function_name("vc-prod")
        .statement_id("vc-apigateway-invoke")
        .action("lambda:InvokeFunction")
        .principal("apigateway.amazonaws.com")
        .source_arn(&source)
        .send()
        .await
        .unwrap();
    c.lambda
        .remove_permission()
        .function_name("vc-prod")
        .qualifier("live")
        .statement_id("vc-apigateway-invoke")
        .send()
        .await
        .unwrap();
    let old = c
        .apigateway
        .create_deployment()
        .rest_api_id(&api)
        .stage_name("prod")
        .description("made before the alias")
        .send()
        .await
        .unwrap();
    assert!(old.id().is_some());
    let run = f.run(&["--output", "json", "invoke"]);
    assert_eq!(run.code, 0, "the old stack serves: {}", run.stdout);

    let up = f.up(&f.zip_v1).ok();
    let at = |what: &str| {
        up.calls
            .iter()
            .find(|c| format!("{} {}", c.service, c.operation).starts_with(what) && c.succeeded())
            .unwrap_or_else(|| panic!("no {what} in {:?}", up.applied()))
    };
    let granted = at("lambda POST /2015-03-31/functions/vc-prod/policy");
    let deployed = at(&format!("apigateway POST /restapis/{api}/deployments"));
    let retired = at("lambda DELETE /2015-03-31/functions/vc-prod/policy/vc-apigateway-invoke");
    assert!(
        granted.answered.unwrap() <= deployed.sent,
        "the alias may be invoked before the stage invokes it"
    );
    assert!(
        deployed.answered.unwrap() <= retired.sent,
        "the function's own statement goes once the stage no longer needs it"
    );
    assert_eq!(f.run(&["--output", "json", "invoke"]).code, 0);
    assert_eq!(
        f.run(&["diff", "--zip", f.zip_v1.to_str().unwrap()]).code,
        0
    );
}

/// A repair of the role's policy alone (no release): IAM applies it after a while (a second
/// here), and `up` returns only once the live version's calls are allowed again, so that a smoke
/// test right after it, as CI runs one, is served.
#[tokio::test]
async fn an_up_that_repairs_the_policy_returns_once_it_is_in_force() {
    let f = deployed().await;
    policy_broken_by_hand(&f).await;

    let up = f.up(&f.zip_v1).ok();
    assert!(up.applied().contains(&"iam PutRolePolicy".to_string()));
    assert_eq!(times(&up, PUBLISH), 0, "no release: {:?}", up.applied());
    assert!(
        times(&up, INVOKE) >= 2,
        "the live version was probed until allowed"
    );
    let visit = f.run(&["--output", "json", "invoke"]);
    assert_eq!(visit.code, 0, "a visit right after up: {}", visit.stdout);
    f.proxy.realism(Some(Realism::fast()));
}
