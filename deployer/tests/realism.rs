//! What real AWS does that moto does not, through the proxy's realism layer, with the real
//! binary: each test names a documented behaviour (see `testkit::Realism`), shows that the run
//! met it, and that the deployer passes through it in one run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use aws_sdk_apigateway::types::IntegrationType;
use aws_sdk_dynamodb::types::{BillingMode, ProvisionedThroughput};
use serde_json::json;
use support::{Fixture, Run, STACK};
use testkit::{Call, Met, Realism};

/// The calls of `run` for `operation` that AWS refused, with that status.
fn refused(run: &Run, operation: &str, status: u16) -> usize {
    run.calls
        .iter()
        .filter(|c| c.operation == operation && c.status == status)
        .count()
}

fn ops(calls: &[Call], operation: &str) -> Vec<u16> {
    calls
        .iter()
        .filter(|c| c.operation == operation)
        .map(|c| c.status)
        .collect()
}

#[tokio::test]
async fn the_first_up_waits_out_pitr_and_role_propagation_and_converges_in_one_run() {
    // A role that takes longer to propagate than the table's first wave takes to settle, and a
    // new table that refuses point-in-time recovery for long enough to be seen refusing it
    // however loaded the machine is.
    let f = Fixture::with(
        STACK,
        Some(Realism {
            role_propagation: Duration::from_secs(3),
            pitr_unavailable: Duration::from_secs(2),
            ..Realism::fast()
        }),
    );
    let up = f.up(&f.zip_v1).ok();
    // DynamoDB refused point-in-time recovery on the new table, then took it.
    let pitr = ops(&up.calls, "UpdateContinuousBackups");
    assert!(pitr.contains(&400), "PITR was never refused: {pitr:?}");
    assert_eq!(pitr.last(), Some(&200), "{pitr:?}");
    // Lambda could not assume the new role at first; past half the window, KMS did not know
    // it yet ("the KMS key is invalid for CreateGrant", for a function with environment
    // variables). Both refusals happened, and the deployer went through them.
    assert!(
        refused(&up, "POST /2015-03-31/functions", 400) >= 2,
        "CreateFunction was not refused for the role twice"
    );
    assert!(
        f.proxy.met(Met::RoleNotAssumable) >= 1,
        "never refused for the role"
    );
    assert!(
        f.proxy.met(Met::KmsGrant) >= 1,
        "never refused for KMS's grant"
    );
    assert!(up.stderr.contains("enabling backups"), "{}", up.stderr);
    f.assert_deployed("vc", "the first up").await;
}

#[tokio::test]
async fn diff_right_after_up_is_in_sync_though_tags_and_listings_lag() {
    let f = Fixture::with(
        STACK,
        Some(Realism {
            tag_lag: Duration::from_secs(4),
            rest_apis_lag: Duration::from_secs(4),
            ..Realism::fast()
        }),
    );
    f.up(&f.zip_v1).ok();
    let diff = f.run(&["diff", "--zip", f.zip_v1.to_str().unwrap()]);
    assert_eq!(
        diff.code, 0,
        "up returned before its tags and its API were visible:\n{}",
        diff.stdout
    );
    // Both lags were met: a listing left the new API out, a tag listing showed the old tags.
    assert!(
        f.proxy.met(Met::RestApisLag) >= 1,
        "GetRestApis never lagged"
    );
    assert!(
        f.proxy.met(Met::TagLag) >= 1,
        "ListTagsOfResource never lagged"
    );
}

#[tokio::test]
async fn a_table_updating_is_waited_for_before_it_is_tagged() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let c = f.clients().await;
    // Drift that needs UpdateTable (billing) and TagResource (a removed tag) in one up.
    c.dynamodb
        .update_table()
        .table_name("vc-prod")
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(1)
                .write_capacity_units(1)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let arn = "arn:aws:dynamodb:us-east-1:123456789012:table/vc-prod";
    c.dynamodb
        .untag_resource()
        .resource_arn(arn)
        .tag_keys("project")
        .send()
        .await
        .unwrap();
    let met = f.proxy.met(Met::TableUpdating) + f.proxy.met(Met::TableInUse);
    let up = f.up(&f.zip_v1);
    assert_eq!(up.code, 0, "{}", up.stderr);
    assert_eq!(ops(&up.calls, "UpdateTable"), [200]);
    assert_eq!(ops(&up.calls, "TagResource").last(), Some(&200));
    // The table was seen UPDATING (or refused the tags for it) after the deployer's update.
    assert!(
        f.proxy.met(Met::TableUpdating) + f.proxy.met(Met::TableInUse) > met,
        "the table was never UPDATING when the deployer looked: {:?}",
        up.calls
    );
    f.assert_deployed("vc", "after billing and tag drift").await;
}

#[tokio::test]
async fn down_delete_table_converges_in_one_run_while_the_table_updates() {
    // Long enough that the deletion comes while the table is UPDATING, however fast the
    // deletions before it go.
    let f = Fixture::with(
        STACK,
        Some(Realism {
            table_updating: Duration::from_secs(2),
            ..Realism::fast()
        }),
    );
    f.up(&f.zip_v1).ok();
    let met = f.proxy.met(Met::TableUpdating) + f.proxy.met(Met::TableInUse);
    let down = f.run(&["down", "--delete-table"]);
    assert_eq!(down.code, 0, "{}", down.stderr);
    // Turning deletion protection off left the table UPDATING; DeleteTable waited for it.
    assert!(
        f.proxy.met(Met::TableUpdating) + f.proxy.met(Met::TableInUse) > met,
        "the table was never UPDATING when the deployer looked: {:?}",
        down.calls
    );
    assert_eq!(ops(&down.calls, "DeleteTable").last(), Some(&200));
    let tables = f
        .clients()
        .await
        .dynamodb
        .list_tables()
        .send()
        .await
        .unwrap();
    assert!(tables.table_names().is_empty(), "{tables:?}");
}

#[tokio::test]
async fn a_failed_function_update_is_drift_with_its_reason_and_up_repairs_it() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    f.proxy.fail_function(
        "vc-prod",
        "Lambda was unable to configure your environment variables because the KMS key is invalid",
    );
    let diff = f.run(&[
        "--output",
        "json",
        "diff",
        "--zip",
        f.zip_v1.to_str().unwrap(),
    ]);
    assert_eq!(diff.code, 2, "{}\n{}", diff.stdout, diff.stderr);
    let changes = diff.json()["changes"].clone();
    let failed = changes
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "last_update")
        .unwrap_or_else(|| panic!("no last_update change in {changes:#}"));
    assert_eq!(failed["expected"], "Successful");
    assert!(failed["actual"]
        .as_str()
        .unwrap()
        .contains("the KMS key is invalid"));

    let up = f.up(&f.zip_v1);
    assert_eq!(up.code, 0, "{}", up.stderr);
    assert_eq!(
        up.applied(),
        [
            "lambda PUT /2015-03-31/functions/vc-prod/code",
            "lambda PUT /2015-03-31/functions/vc-prod/configuration",
        ]
    );
    f.assert_deployed("vc", "after the repair").await;
}

#[tokio::test]
async fn unreadable_function_tags_are_an_error_for_diff_and_down_never_drift() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    f.proxy
        .realism(Some(Realism::fast().deny("lambda:ListTags")));
    let diff = f.run(&["diff", "--zip", f.zip_v1.to_str().unwrap()]);
    assert_eq!(diff.code, 1, "{}\n{}", diff.stdout, diff.stderr);
    assert!(diff.stderr.contains("lambda:ListTags"), "{}", diff.stderr);
    assert!(!diff.stdout.contains("Drift"), "{}", diff.stdout);
    assert!(diff.stdout.is_empty(), "{}", diff.stdout);

    let down = f.run(&["down"]);
    assert_eq!(down.code, 1, "{}", down.stderr);
    assert!(down.stderr.contains("lambda:ListTags"), "{}", down.stderr);
    let function = f
        .clients()
        .await
        .lambda
        .get_function()
        .function_name("vc-prod")
        .send()
        .await;
    assert!(
        function.is_ok(),
        "down removed the function it could not read"
    );
}

#[tokio::test]
async fn up_deletes_two_duplicate_apis_in_one_run_at_deleterestapis_pace() {
    // Slower than the SDK's own retries could wait out (about 6 s in all).
    let window = Duration::from_secs(8);
    let f = Fixture::with(
        STACK,
        Some(Realism {
            delete_rest_api_every: window,
            ..Realism::fast()
        }),
    );
    f.up(&f.zip_v1).ok();
    let c = f.clients().await;
    for _ in 0..2 {
        c.apigateway
            .create_rest_api()
            .name("vc-prod")
            .tags("deployer:stack", "vc")
            .tags("deployer:stage", "prod")
            .send()
            .await
            .unwrap();
    }
    let started = std::time::Instant::now();
    let up = f.up(&f.zip_v1);
    assert_eq!(up.code, 0, "{}", up.stderr);
    let deletes: Vec<&Call> = up
        .calls
        .iter()
        .filter(|c| c.operation.starts_with("DELETE /restapis/"))
        .collect();
    assert_eq!(
        deletes.iter().filter(|c| c.succeeded()).count(),
        2,
        "{deletes:?}"
    );
    assert!(
        deletes.iter().any(|c| c.status == 429),
        "the second delete was not paced by the quota: {deletes:?}"
    );
    assert!(
        started.elapsed() >= window - Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert!(
        up.stderr.contains("one DeleteRestApi every 30 s"),
        "the wait was not explained:\n{}",
        up.stderr
    );
    f.assert_deployed("vc", "after deleting the duplicates")
        .await;
}

#[tokio::test]
async fn two_stacks_created_back_to_back_wait_out_createrestapis_quota() {
    let f = Fixture::with(
        STACK,
        Some(Realism {
            create_rest_api_every: Duration::from_secs(3),
            ..Realism::fast()
        }),
    );
    f.up(&f.zip_v1).ok();
    f.write_stack(&STACK.replace("name: vc\n", "name: second\n"));
    let up = f.up(&f.zip_v1);
    assert_eq!(up.code, 0, "{}", up.stderr);
    let creates = ops(&up.calls, "POST /restapis");
    assert!(
        creates.contains(&429),
        "the quota was never met: {creates:?}"
    );
    assert!(
        creates.last().is_some_and(|s| (200..300).contains(s)),
        "{creates:?}"
    );
    f.assert_deployed("second", "the second stack").await;
}

#[tokio::test]
async fn a_redeployment_right_after_a_deployment_waits_out_createdeployments_quota() {
    let f = Fixture::with(
        STACK,
        Some(Realism {
            create_deployment_every: Duration::from_secs(6),
            ..Realism::fast()
        }),
    );
    f.up(&f.zip_v1).ok();
    // A new route: a new deployment, seconds after the first.
    f.write_stack(&STACK.replace(
        "routes: [GET /counter, GET /health]",
        "routes: [GET /counter, GET /count, GET /health]",
    ));
    let up = f.up(&f.zip_v1);
    assert_eq!(up.code, 0, "{}", up.stderr);
    let deployments: Vec<u16> = up
        .calls
        .iter()
        .filter(|c| {
            c.operation.starts_with("POST /restapis/") && c.operation.ends_with("/deployments")
        })
        .map(|c| c.status)
        .collect();
    assert!(
        deployments.contains(&429),
        "the quota was never met: {deployments:?}"
    );
    assert!(
        deployments.last().is_some_and(|s| (200..300).contains(s)),
        "{deployments:?}"
    );
    assert!(
        up.stderr.contains("one CreateDeployment every 5 s"),
        "the wait was not explained:\n{}",
        up.stderr
    );
}

async fn method_of(f: &Fixture, path: &str) -> (String, String, String) {
    let c = f.clients().await;
    let apis = c.apigateway.get_rest_apis().send().await.unwrap();
    let api = apis.items()[0].id().unwrap().to_string();
    let resources = c
        .apigateway
        .get_resources()
        .rest_api_id(&api)
        .send()
        .await
        .unwrap();
    let resource = resources
        .items()
        .iter()
        .find(|r| r.path() == Some(path))
        .unwrap()
        .id()
        .unwrap()
        .to_string();
    let method = c
        .apigateway
        .get_method()
        .rest_api_id(&api)
        .resource_id(&resource)
        .http_method("GET")
        .send()
        .await
        .unwrap();
    (
        api,
        resource,
        method.authorization_type().unwrap_or("").to_string(),
    )
}

#[tokio::test]
async fn a_route_switched_to_aws_iam_is_drift_and_up_puts_it_back_despite_the_conflict() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let c = f.clients().await;
    let (api, resource, _) = method_of(&f, "/counter").await;
    // As someone in the console would: the method again, behind IAM auth.
    c.apigateway
        .delete_method()
        .rest_api_id(&api)
        .resource_id(&resource)
        .http_method("GET")
        .send()
        .await
        .unwrap();
    c.apigateway
        .put_method()
        .rest_api_id(&api)
        .resource_id(&resource)
        .http_method("GET")
        .authorization_type("AWS_IAM")
        .api_key_required(true)
        .send()
        .await
        .unwrap();
    c.apigateway
        .put_integration()
        .rest_api_id(&api)
        .resource_id(&resource)
        .http_method("GET")
        .r#type(IntegrationType::Aws)
        .integration_http_method("GET")
        .uri("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:vc-prod/invocations")
        .send()
        .await
        .unwrap();
    let diff = f.run(&[
        "--output",
        "json",
        "diff",
        "--zip",
        f.zip_v1.to_str().unwrap(),
    ]);
    assert_eq!(diff.code, 2, "{}", diff.stderr);
    let changes = diff.json()["changes"].clone();
    let route = changes
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "routes.GET /counter")
        .unwrap_or_else(|| panic!("{changes:#}"))
        .clone();
    assert_eq!(route["actual"]["authorization_type"], "AWS_IAM");
    assert_eq!(route["actual"]["api_key_required"], true);
    assert_eq!(route["actual"]["integration_type"], "AWS");
    assert_eq!(route["actual"]["integration_http_method"], "GET");
    assert_eq!(route["expected"]["authorization_type"], "NONE");
    // The conflict is in force: PutMethod on the method that exists is refused.
    let through = testkit::operator_loader().endpoint_url(f.proxy.endpoint());
    let refused = aws_sdk_apigateway::Client::new(&through.load().await)
        .put_method()
        .rest_api_id(&api)
        .resource_id(&resource)
        .http_method("GET")
        .authorization_type("NONE")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refused.into_service_error().meta().code(),
        Some("ConflictException")
    );
    assert_eq!(f.proxy.met(Met::MethodExists), 1);
    let text = f.run(&["diff", "--zip", f.zip_v1.to_str().unwrap()]);
    assert!(
        text.stdout
            .contains("routes.GET /counter.authorization_type: AWS_IAM → NONE"),
        "{}",
        text.stdout
    );

    let up = f.up(&f.zip_v1);
    assert_eq!(up.code, 0, "{}", up.stderr);
    let method = format!("apigateway DELETE /restapis/{api}/resources/{resource}/methods/GET");
    assert!(up.applied().contains(&method), "{:?}", up.applied());
    assert_eq!(
        f.proxy.met(Met::MethodExists),
        1,
        "the deployer met the conflict"
    );
    assert_eq!(method_of(&f, "/counter").await.2, "NONE");
    f.assert_deployed("vc", "after the route repair").await;
}

#[tokio::test]
async fn an_invoke_permission_pinned_by_source_account_is_moved_to_source_arn_alone() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let c = f.clients().await;
    let policy = c
        .lambda
        .get_policy()
        .function_name("vc-prod")
        .qualifier("live")
        .send()
        .await
        .unwrap();
    let source_arn = deployer::resources::permission::parse(policy.policy().unwrap())[0]
        .source_arn
        .clone()
        .unwrap();
    // The statement as earlier versions made it.
    c.lambda
        .remove_permission()
        .function_name("vc-prod")
        .qualifier("live")
        .statement_id("vc-apigateway-invoke")
        .send()
        .await
        .unwrap();
    c.lambda
        .add_permission()
        .function_name("vc-prod")
        .qualifier("live")
        .statement_id("vc-apigateway-invoke")
        .action("lambda:InvokeFunction")
        .principal("apigateway.amazonaws.com")
        .source_arn(&source_arn)
        .source_account("123456789012")
        .send()
        .await
        .unwrap();
    let diff = f.run(&[
        "--output",
        "json",
        "diff",
        "--zip",
        f.zip_v1.to_str().unwrap(),
    ]);
    assert_eq!(diff.code, 2, "{}", diff.stdout);
    let changes = diff.json()["changes"].clone();
    assert!(
        changes
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "source_account" && c["actual"] == json!("123456789012")),
        "{changes:#}"
    );
    let up = f.up(&f.zip_v1);
    assert_eq!(up.code, 0, "{}", up.stderr);
    assert_eq!(
        up.applied(),
        [
            "lambda DELETE /2015-03-31/functions/vc-prod/policy/vc-apigateway-invoke",
            "lambda POST /2015-03-31/functions/vc-prod/policy",
        ]
    );
    let policy = c
        .lambda
        .get_policy()
        .function_name("vc-prod")
        .qualifier("live")
        .send()
        .await
        .unwrap();
    let statements = deployer::resources::permission::parse(policy.policy().unwrap());
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0].source_account, None);
    assert_eq!(
        statements[0].source_arn.as_deref(),
        Some(source_arn.as_str())
    );
}

#[tokio::test]
async fn a_denied_read_is_one_line_of_error_with_the_action_and_never_drift() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    f.proxy
        .realism(Some(Realism::fast().deny("dynamodb:DescribeTable")));
    let diff = f.run(&["diff", "--zip", f.zip_v1.to_str().unwrap()]);
    assert_eq!(diff.code, 1, "{}\n{}", diff.stdout, diff.stderr);
    assert!(diff.stdout.is_empty(), "{}", diff.stdout);
    let lines: Vec<&str> = diff
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    let error: Vec<&&str> = lines.iter().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error.len(), 1, "{}", diff.stderr);
    let error = error[0];
    assert!(
        error.starts_with(
            "error: reading table vc-prod: dynamodb DescribeTable: AccessDeniedException: User: "
        ),
        "{error}"
    );
    assert!(error.contains("(hint: the credentials may not call dynamodb:DescribeTable"));
    for debug in ["{", "Unhandled", "ErrorMetadata", "source:", "drift"] {
        assert!(!error.contains(debug), "{debug:?} in {error}");
    }
}

/// DynamoDB refuses item calls on a table that is not ACTIVE yet ("its status might not be
/// ACTIVE": ResourceNotFoundException); the deploy lease, an item, is taken only once the table
/// `up` made for it is ACTIVE, so a first `up` passes in one run.
#[tokio::test]
async fn items_of_a_creating_table_are_not_found_and_the_first_up_waits_for_active() {
    let creating = Duration::from_millis(800);
    let f = Fixture::with(
        STACK,
        Some(Realism {
            table_creating: creating,
            ..Realism::fast()
        }),
    );
    let through = testkit::dummy_loader().endpoint_url(f.proxy.endpoint());
    let db = aws_sdk_dynamodb::Client::new(&through.load().await);
    let key = aws_sdk_dynamodb::types::AttributeValue::S("k".into());
    db.create_table()
        .table_name("scratch")
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let early = db
        .get_item()
        .table_name("scratch")
        .key("id", key.clone())
        .send()
        .await;
    let code = early
        .err()
        .and_then(|e| e.into_service_error().meta().code().map(String::from));
    assert_eq!(code.as_deref(), Some("ResourceNotFoundException"));
    tokio::time::sleep(creating).await;
    db.get_item()
        .table_name("scratch")
        .key("id", key)
        .send()
        .await
        .expect("an ACTIVE table's items are read");

    let up = f.up(&f.zip_v1).ok();
    let take = up
        .calls
        .iter()
        .position(|c| c.operation == "UpdateItem")
        .expect("the lease was taken");
    assert!(
        ops(&up.calls[..take], "DescribeTable").contains(&200),
        "the lease was taken before the table was seen: {:?}",
        up.calls
    );
    assert_eq!(refused(&up, "UpdateItem", 400), 0, "{:?}", up.calls);
    // The stack's own table was seen CREATING (this test's requests never describe a table):
    // the wait was needed.
    assert!(
        f.proxy.met(Met::TableCreating) >= 1,
        "the deployer never saw its table CREATING: {:?}",
        up.calls
    );
}

/// The stack, where a function's update is `InProgress` for `time`.
fn updates_lasting(time: Duration) -> Fixture {
    let realism = Realism {
        function_updating: time,
        ..Realism::fast()
    };
    Fixture::with(STACK, Some(realism))
}

#[tokio::test]
async fn new_code_is_published_the_moment_its_update_is_done_with_no_poll_before() {
    // Lambda refuses PublishVersion while an update is in progress (as the CLI's users meet
    // it: aws/aws-cli #6718); the publish itself is what waits, so nothing reads the function
    // between the code's upload and the publish that follows it.
    let f = updates_lasting(Duration::from_millis(600));
    f.up(&f.zip_v1).ok();
    let up = f.up(&f.zip_v2).ok();
    let publish = "POST /2015-03-31/functions/vc-prod/versions";
    let sent = ops(&up.calls, publish);
    assert!(sent.contains(&409), "no publish was refused: {sent:?}");
    assert_eq!(sent.last(), Some(&201), "{sent:?}");
    let ops_in_order: Vec<&str> = up.calls.iter().map(|c| c.operation.as_str()).collect();
    let uploaded = ops_in_order
        .iter()
        .position(|o| *o == "PUT /2015-03-31/functions/vc-prod/code")
        .expect("the code was uploaded");
    let published = ops_in_order
        .iter()
        .rposition(|o| *o == publish)
        .expect("a version was published");
    let between: Vec<&&str> = ops_in_order[uploaded + 1..published]
        .iter()
        .filter(|o| **o != publish)
        .collect();
    assert!(
        between.is_empty(),
        "read between upload and publish: {between:?}"
    );
    assert!(up.stderr.contains("still being updated"), "{}", up.stderr);
    f.assert_deployed_zip("vc", &f.zip_v2, "after the release")
        .await;
}

#[tokio::test]
async fn latest_changed_by_hand_is_put_back_and_waited_for_without_a_release() {
    // `$LATEST` alone holds other code (an upload in the console); the live version holds the
    // stack's. `up` uploads the code back and publishes nothing, so no release waits out the
    // update: `up` itself waits until Lambda has applied it.
    let f = updates_lasting(Duration::from_millis(600));
    f.up(&f.zip_v1).ok();
    let c = f.clients().await;
    let other = std::fs::read(&f.zip_v2).unwrap();
    c.lambda
        .update_function_code()
        .function_name("vc-prod")
        .zip_file(aws_sdk_lambda::primitives::Blob::new(other))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let up = f.up(&f.zip_v1).ok();
    assert_eq!(
        up.writes_past_updates(),
        ["lambda PUT /2015-03-31/functions/vc-prod/code"]
    );
    let ops: Vec<&str> = up.calls.iter().map(|c| c.operation.as_str()).collect();
    let uploaded = ops
        .iter()
        .position(|o| *o == "PUT /2015-03-31/functions/vc-prod/code")
        .unwrap();
    let waited = ops[uploaded + 1..]
        .iter()
        .filter(|o| **o == "GET /2015-03-31/functions/vc-prod/configuration")
        .count();
    assert!(waited >= 2, "the update was not waited for: {ops:?}");
    let diff = f.run(&["diff", "--zip", f.zip_v1.to_str().unwrap()]);
    assert_eq!(diff.code, 0, "{}", diff.stdout);
}

#[tokio::test]
async fn tags_put_back_during_an_update_wait_for_it_to_settle() {
    let f = Fixture::with(
        STACK,
        Some(Realism {
            function_updating: Duration::from_secs(1),
            ..Realism::fast()
        }),
    );
    f.up(&f.zip_v1).ok();
    // A tag removed by hand, and a memory change: the configuration's update is InProgress
    // when the tag goes back, and Lambda refuses TagResource meanwhile.
    let c = f.clients().await;
    c.lambda
        .untag_resource()
        .resource("arn:aws:lambda:us-east-1:123456789012:function:vc-prod")
        .tag_keys("project")
        .send()
        .await
        .unwrap();
    f.write_stack(&STACK.replace("memory_mb: 128", "memory_mb: 256"));
    let up = f.up(&f.zip_v1);
    assert_eq!(up.code, 0, "{}", up.stderr);
    let tagging: Vec<u16> = up
        .calls
        .iter()
        .filter(|c| c.operation.starts_with("POST /2017-03-31/tags/"))
        .map(|c| c.status)
        .collect();
    assert!(
        tagging.contains(&409),
        "TagResource was never refused: {tagging:?}"
    );
    assert!(
        tagging.last().is_some_and(|s| (200..300).contains(s)),
        "{tagging:?}"
    );
    let diff = f.run(&["diff", "--zip", f.zip_v1.to_str().unwrap()]);
    assert_eq!(diff.code, 0, "{}", diff.stdout);
}
