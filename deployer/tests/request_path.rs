//! The whole request path, through the real binaries: a page's request to the stage `up`
//! deployed, through API Gateway's routes and the invoke permission, into the function's
//! deployed `bootstrap`, whose DynamoDB calls its role's policy authorizes, with its log lines in
//! CloudWatch Logs. Each story breaks one link by hand, as people do, and watches `invoke`,
//! `logs`, `diff` and `up` deal with it.
//!
//! One emulator and one deployed stack serve every story of this file, one story at a time;
//! each starts by converging the stack and ends with it in sync.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::sync::OnceLock;

use aws_sdk_lambda::error::DisplayErrorContext;
use serde_json::Value;
use support::{real_zip, Fixture, Run, STACK};
use tokio::sync::{Mutex, MutexGuard};

/// The stack every story shares: deployed from the real function.
struct Deployed {
    f: Fixture,
    zip: PathBuf,
}

async fn deployed() -> MutexGuard<'static, Deployed> {
    static SHARED: OnceLock<Mutex<Deployed>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| {
        Mutex::new(Deployed {
            f: Fixture::new(STACK),
            zip: real_zip(),
        })
    });
    let d = shared.lock().await;
    d.f.write_stack(STACK);
    d.up().ok();
    d
}

impl Deployed {
    fn up(&self) -> Run {
        self.f.up(&self.zip)
    }

    fn diff(&self) -> Run {
        self.f.run(&["diff", "--zip", self.zip.to_str().unwrap()])
    }

    /// `deployer invoke` against the deployed stage's URL, over HTTP.
    fn invoke(&self) -> Run {
        self.f.run(&["--output", "json", "invoke"])
    }

    /// One request to the deployed stage: its status and JSON body.
    fn request(&self, method: &str, path: &str) -> (u16, Value) {
        let run = self.f.run(&[
            "--output", "json", "invoke", "--path", path, "--method", method,
        ]);
        let v = run.json();
        let body = serde_json::from_str(v["body"].as_str().unwrap()).unwrap_or(Value::Null);
        (u16::try_from(v["status"].as_u64().unwrap()).unwrap(), body)
    }

    /// The count in the table, read straight from moto.
    async fn count(&self) -> u64 {
        support::count(&self.f.clients().await).await
    }

    /// How many visits the stage counted since the last call: `/counter` answered 200.
    fn counted_visits(&self) -> u64 {
        self.f
            .proxy
            .served()
            .iter()
            .filter(|s| s.path == "/counter" && s.method != "OPTIONS" && s.status == 200)
            .count() as u64
    }
}

fn checks(run: &Run) -> Vec<(String, bool)> {
    run.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["passed"] == true))
        .collect()
}

#[tokio::test]
async fn the_seeds_bug_a_role_naming_another_table_is_found_traced_and_repaired() {
    let d = deployed().await;
    let c = d.f.clients().await;
    let before = d.count().await;
    let _ = d.f.proxy.served();

    // The original counter's bug: the role's policy names another table than the code uses.
    support::edit_counter_policy(&c, |p| {
        p.replace("table/vc-prod", "table/resume-visitor-counter")
    })
    .await;

    let broken = d.invoke();
    assert_eq!(broken.code, 1, "{}", broken.stdout);
    assert!(
        checks(&broken)
            .iter()
            .any(|(name, passed)| name.contains("/counter") && !passed),
        "{}",
        broken.stdout
    );
    let (status, body) = d.request("GET", "/counter");
    assert_eq!(status, 500, "{body}");
    let id = body["requestId"].as_str().unwrap().to_string();
    assert_eq!(
        body["message"], "Unable to process request. Please try again.",
        "no internals reach the visitor"
    );

    let logs = d.f.run(&["logs", "--request-id", &id]).ok();
    let error = logs
        .stdout
        .lines()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_else(|| panic!("no ERROR line for {id}:\n{}", logs.stdout));
    assert!(
        error.contains("dynamodb:UpdateItem") && error.contains("not authorized"),
        "{error}"
    );
    assert!(
        logs.stdout.contains(&format!("REPORT RequestId: {id}")),
        "{}",
        logs.stdout
    );

    let diff = d.diff();
    assert_eq!(diff.code, 2, "{}", diff.stdout);
    assert!(diff.stdout.contains("inline_policy"), "{}", diff.stdout);
    let repaired = d.up().ok();
    assert_eq!(repaired.applied(), ["iam PutRolePolicy"]);
    let fixed = d.invoke();
    assert_eq!(fixed.code, 0, "{}", fixed.stdout);
    assert_eq!(
        d.count().await,
        before + d.counted_visits(),
        "exactly the visits that succeeded were counted"
    );
}

#[tokio::test]
async fn removing_the_invoke_permission_is_a_500_that_diff_finds_and_up_repairs() {
    let d = deployed().await;
    let c = d.f.clients().await;
    c.lambda
        .remove_permission()
        .function_name("vc-prod")
        .qualifier("live")
        .statement_id("vc-apigateway-invoke")
        .send()
        .await
        .map_err(|e| DisplayErrorContext(e).to_string())
        .unwrap();
    let (status, body) = d.request("GET", "/counter");
    assert_eq!(status, 500);
    assert_eq!(
        body,
        serde_json::json!({"message": "Internal server error"})
    );
    let diff = d.diff();
    assert_eq!(diff.code, 2);
    assert!(diff.stdout.contains("+ permission"), "{}", diff.stdout);
    assert_eq!(
        d.up().ok().applied(),
        ["lambda POST /2015-03-31/functions/vc-prod/policy"]
    );
    assert_eq!(d.request("GET", "/counter").0, 200);
}

#[tokio::test]
async fn a_route_added_by_hand_is_not_served_and_a_stage_moved_by_hand_is_drift() {
    let d = deployed().await;
    let c = d.f.clients().await;
    let api = c.apigateway.get_rest_apis().send().await.unwrap().items()[0]
        .id()
        .unwrap()
        .to_string();
    let resources = c
        .apigateway
        .get_resources()
        .rest_api_id(&api)
        .send()
        .await
        .unwrap();
    let root = resources
        .items()
        .iter()
        .find(|r| r.path() == Some("/"))
        .and_then(|r| r.id())
        .unwrap()
        .to_string();
    let extra = c
        .apigateway
        .create_resource()
        .rest_api_id(&api)
        .parent_id(root)
        .path_part("extra")
        .send()
        .await
        .unwrap()
        .id
        .unwrap();
    c.apigateway
        .put_method()
        .rest_api_id(&api)
        .resource_id(&extra)
        .http_method("GET")
        .authorization_type("NONE")
        .send()
        .await
        .unwrap();
    let (status, body) = d.request("GET", "/extra");
    assert_eq!(
        (status, body),
        (
            403,
            serde_json::json!({"message": "Missing Authentication Token"})
        ),
        "no deployment includes it"
    );

    // A deployment made by hand, and the stage moved to it.
    let mine = c
        .apigateway
        .create_deployment()
        .rest_api_id(&api)
        .description("by hand")
        .send()
        .await
        .unwrap()
        .id
        .unwrap();
    c.apigateway
        .update_stage()
        .rest_api_id(&api)
        .stage_name("prod")
        .patch_operations(
            aws_sdk_apigateway::types::PatchOperation::builder()
                .op(aws_sdk_apigateway::types::Op::Replace)
                .path("/deploymentId")
                .value(&mine)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let diff = d.diff();
    assert_eq!(diff.code, 2);
    assert!(
        diff.stdout.contains("deployment") && diff.stdout.contains("routes.GET /extra"),
        "{}",
        diff.stdout
    );
    d.up().ok();
    assert_eq!(d.diff().code, 0);
    assert_eq!(d.request("GET", "/extra").0, 403, "up removed it");
    assert_eq!(d.request("GET", "/counter").0, 200);
}

#[tokio::test]
async fn a_bootstrap_that_exits_at_init_moved_live_by_hand_is_a_502_and_lambda_logs_why() {
    let d = deployed().await;
    let c = d.f.clients().await;
    // /bin/true is a valid x86_64 ELF that exits at once: an init that never reaches the
    // Runtime API. `up` publishes it, and its probe keeps it from traffic…
    assert_eq!(d.f.up(&d.f.zip_exits).code, 1);
    let versions = c
        .lambda
        .list_versions_by_function()
        .function_name("vc-prod")
        .send()
        .await
        .unwrap();
    let newest = versions
        .versions()
        .iter()
        .filter_map(|v| v.version()?.parse::<u64>().ok())
        .max()
        .unwrap();
    // …so a person moves the alias to it by hand.
    c.lambda
        .update_alias()
        .function_name("vc-prod")
        .name("live")
        .function_version(newest.to_string())
        .send()
        .await
        .unwrap();
    let (status, body) = d.request("GET", "/counter");
    assert_eq!(
        (status, body),
        (502, serde_json::json!({"message": "Internal server error"}))
    );
    let logs = d.f.run(&["logs", "--since", "10m"]).ok();
    assert!(
        logs.stdout.contains("Error Type: Runtime.ExitError"),
        "{}",
        logs.stdout
    );
    assert!(logs.stdout.contains("REPORT RequestId:"), "{}", logs.stdout);
    let diff = d.diff();
    assert_eq!(diff.code, 2, "{}", diff.stdout);
    assert!(diff.stdout.contains("~ alias"), "{}", diff.stdout);
    d.up().ok();
    assert_eq!(d.request("GET", "/counter").0, 200);
}
