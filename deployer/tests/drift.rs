//! `diff` against live drift, with the real binary and moto. Each test deploys the stack, changes
//! it behind the tool's back through the SDK, as someone in the console would, and then checks:
//! - `diff` exits 2, names the field with the expected and actual values, and sends no write;
//! - `up` repairs exactly that drift, and nothing else (its writes are counted);
//! - `diff` exits 0 again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aws_sdk_apigateway::types::{IntegrationType, Op, PatchOperation};
use aws_sdk_dynamodb::types::{
    BillingMode, PointInTimeRecoverySpecification, ProvisionedThroughput,
};
use aws_sdk_lambda::types::Environment;
use deployer::aws::Clients;
use serde_json::{json, Value};
use support::{Fixture, STACK};

const FUNCTION: &str = "vc-prod";
const ROLE: &str = "vc-prod-role";
const TABLE: &str = "vc-prod";
const LOG_GROUP: &str = "/aws/lambda/vc-prod";

struct Deployed {
    f: Fixture,
    c: Clients,
}

async fn deployed() -> Deployed {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let c = f.clients().await;
    Deployed { f, c }
}

impl Deployed {
    fn zip(&self) -> &str {
        self.f.zip_v1.to_str().unwrap()
    }

    /// Runs `diff --output json`: exit 2, zero writes, and a change for each `(resource, field)`.
    #[track_caller]
    fn drift(&self, expected: &[(&str, Option<&str>)]) -> Vec<Value> {
        let run = self
            .f
            .run(&["--output", "json", "diff", "--zip", self.zip()]);
        assert_eq!(
            run.code, 2,
            "diff must report drift:\n{}\n{}",
            run.stdout, run.stderr
        );
        assert_eq!(run.writes(), Vec::<String>::new(), "diff sent a write");
        let report = run.json();
        assert_eq!(report["in_sync"], false);
        let changes = report["changes"].as_array().unwrap().clone();
        for (resource, field) in expected {
            assert!(
                changes
                    .iter()
                    .any(|c| c["resource"] == *resource && c["field"].as_str() == *field),
                "no change for {resource} {field:?} in {changes:#?}"
            );
        }
        changes
    }

    /// Runs `up` and returns the writes AWS accepted, then checks that `diff` is back to 0.
    #[track_caller]
    fn repair(&self) -> Vec<String> {
        let run = self.f.up(&self.f.zip_v1).ok();
        let after = self.f.run(&["diff", "--zip", self.zip()]);
        assert_eq!(after.code, 0, "still drifting after up:\n{}", after.stdout);
        run.applied()
    }
}

fn change<'a>(changes: &'a [Value], resource: &str, field: &str) -> &'a Value {
    changes
        .iter()
        .find(|c| c["resource"] == resource && c["field"] == field)
        .unwrap_or_else(|| panic!("no {resource} {field} in {changes:#?}"))
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn in_sync_after_up_and_diff_reads_only() {
    let d = deployed().await;
    let run = d.f.run(&["diff", "--zip", d.zip()]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.writes(), Vec::<String>::new());
    assert!(
        run.calls.len() > 10,
        "diff read every resource: {}",
        run.calls.len()
    );
}

// ---- table ------------------------------------------------------------------------------------

#[tokio::test]
async fn table_deleted() {
    let d = deployed().await;
    d.c.dynamodb
        .update_table()
        .table_name(TABLE)
        .deletion_protection_enabled(false)
        .send()
        .await
        .unwrap();
    d.c.dynamodb
        .delete_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("table", None)]);
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(
        sorted(d.repair()),
        ["dynamodb CreateTable", "dynamodb UpdateContinuousBackups"]
    );
}

#[tokio::test]
async fn table_key_schema_changed_is_refused_not_replaced() {
    let d = deployed().await;
    d.c.dynamodb
        .update_table()
        .table_name(TABLE)
        .deletion_protection_enabled(false)
        .send()
        .await
        .unwrap();
    d.c.dynamodb
        .delete_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap();
    d.c.dynamodb
        .create_table()
        .table_name(TABLE)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::N)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("table", Some("key_schema"))]);
    let c = change(&changes, "table", "key_schema");
    assert_eq!(
        (c["expected"].clone(), c["actual"].clone()),
        (json!(["id:S:HASH"]), json!(["pk:N:HASH"]))
    );
    assert!(c["blocked"]
        .as_str()
        .unwrap()
        .contains("replacement needed"));

    let up = d.f.up(&d.f.zip_v1);
    assert_eq!(up.code, 1, "{}", up.stderr);
    assert!(up.stderr.contains("replacement needed"), "{}", up.stderr);
    assert!(up.stderr.contains("Nothing was changed"), "{}", up.stderr);
    assert_eq!(
        up.writes(),
        Vec::<String>::new(),
        "up must not touch anything when it refuses"
    );
}

#[tokio::test]
async fn table_billing_mode_switched_to_provisioned() {
    let d = deployed().await;
    d.c.dynamodb
        .update_table()
        .table_name(TABLE)
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
    let changes = d.drift(&[("table", Some("billing_mode"))]);
    let c = change(&changes, "table", "billing_mode");
    assert_eq!(
        (c["expected"].clone(), c["actual"].clone()),
        (json!("PAY_PER_REQUEST"), json!("PROVISIONED"))
    );
    assert_eq!(d.repair(), ["dynamodb UpdateTable"]);
}

#[tokio::test]
async fn table_point_in_time_recovery_turned_off() {
    let d = deployed().await;
    d.c.dynamodb
        .update_continuous_backups()
        .table_name(TABLE)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(false)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("table", Some("point_in_time_recovery"))]);
    let c = change(&changes, "table", "point_in_time_recovery");
    assert_eq!(
        (c["expected"].clone(), c["actual"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(d.repair(), ["dynamodb UpdateContinuousBackups"]);
}

#[tokio::test]
async fn table_deletion_protection_turned_off() {
    let d = deployed().await;
    d.c.dynamodb
        .update_table()
        .table_name(TABLE)
        .deletion_protection_enabled(false)
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("table", Some("deletion_protection"))]);
    assert_eq!(
        change(&changes, "table", "deletion_protection")["actual"],
        false
    );
    assert_eq!(d.repair(), ["dynamodb UpdateTable"]);
}

#[tokio::test]
async fn table_tag_removed() {
    let d = deployed().await;
    let arn = format!("arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}");
    d.c.dynamodb
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("project")
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("table", Some("tags"))]);
    assert_eq!(
        change(&changes, "table", "tags")["expected"]["project"],
        "cloud-resume"
    );
    assert_eq!(
        change(&changes, "table", "tags")["actual"].get("project"),
        None
    );
    assert_eq!(d.repair(), ["dynamodb TagResource"]);
}

// ---- role -------------------------------------------------------------------------------------

#[tokio::test]
async fn role_deleted() {
    let d = deployed().await;
    d.c.iam
        .delete_role_policy()
        .role_name(ROLE)
        .policy_name("vc-counter-access")
        .send()
        .await
        .unwrap();
    d.c.iam.delete_role().role_name(ROLE).send().await.unwrap();
    d.drift(&[("role", None)]);
    assert_eq!(d.repair(), ["iam CreateRole", "iam PutRolePolicy"]);
}

#[tokio::test]
async fn role_trust_policy_opened_to_ec2() {
    let d = deployed().await;
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    d.c.iam
        .update_assume_role_policy()
        .role_name(ROLE)
        .policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("role", Some("trust_policy"))]);
    assert_eq!(change(&changes, "role", "trust_policy")["actual"], trust);
    assert_eq!(d.repair(), ["iam UpdateAssumeRolePolicy"]);
}

#[tokio::test]
async fn role_inline_policy_broadened() {
    let d = deployed().await;
    let broad = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Counter", "Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]});
    d.c.iam
        .put_role_policy()
        .role_name(ROLE)
        .policy_name("vc-counter-access")
        .policy_document(broad.to_string())
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("role", Some("inline_policy"))]);
    let c = change(&changes, "role", "inline_policy");
    assert_eq!(c["actual"], broad);
    assert_eq!(
        c["expected"]["Statement"][0]["Action"],
        json!(["dynamodb:GetItem", "dynamodb:UpdateItem"])
    );
    assert_eq!(d.repair(), ["iam PutRolePolicy"]);
}

#[tokio::test]
async fn role_extra_inline_policy() {
    let d = deployed().await;
    let extra = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
    d.c.iam
        .put_role_policy()
        .role_name(ROLE)
        .policy_name("hotfix")
        .policy_document(extra.to_string())
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("role", Some("extra_inline_policy"))]);
    let c = change(&changes, "role", "extra_inline_policy");
    assert_eq!(
        (c["action"].clone(), c["actual"].clone()),
        (json!("delete"), json!("hotfix"))
    );
    assert_eq!(d.repair(), ["iam DeleteRolePolicy"]);
}

#[tokio::test]
async fn role_managed_policy_attached() {
    let d = deployed().await;
    let admin = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let policy =
        d.c.iam
            .create_policy()
            .policy_name("Admin")
            .policy_document(admin.to_string())
            .send()
            .await
            .unwrap();
    let arn = policy.policy().unwrap().arn().unwrap().to_string();
    d.c.iam
        .attach_role_policy()
        .role_name(ROLE)
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("role", Some("managed_policy"))]);
    assert_eq!(change(&changes, "role", "managed_policy")["actual"], arn);
    assert_eq!(d.repair(), ["iam DetachRolePolicy"]);
}

// ---- log group --------------------------------------------------------------------------------

#[tokio::test]
async fn log_group_deleted() {
    let d = deployed().await;
    d.c.logs
        .delete_log_group()
        .log_group_name(LOG_GROUP)
        .send()
        .await
        .unwrap();
    d.drift(&[("log_group", None)]);
    assert_eq!(
        d.repair(),
        ["logs CreateLogGroup", "logs PutRetentionPolicy"]
    );
}

#[tokio::test]
async fn log_group_retention_changed() {
    let d = deployed().await;
    d.c.logs
        .put_retention_policy()
        .log_group_name(LOG_GROUP)
        .retention_in_days(3653)
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("log_group", Some("retention_days"))]);
    let c = change(&changes, "log_group", "retention_days");
    assert_eq!(
        (c["expected"].clone(), c["actual"].clone()),
        (json!(14), json!(3653))
    );
    assert_eq!(d.repair(), ["logs PutRetentionPolicy"]);
}

// ---- function ---------------------------------------------------------------------------------

#[tokio::test]
async fn function_deleted() {
    let d = deployed().await;
    d.c.lambda
        .delete_function()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    // Its resource policy goes with it, so the permission is missing too.
    d.drift(&[("function", None), ("permission", None)]);
    assert_eq!(
        d.repair(),
        [
            "lambda POST /2015-03-31/functions",
            "lambda POST /2015-03-31/functions/vc-prod/policy"
        ]
    );
}

#[tokio::test]
async fn function_code_replaced() {
    let d = deployed().await;
    let v2 = std::fs::read(&d.f.zip_v2).unwrap();
    d.c.lambda
        .update_function_code()
        .function_name(FUNCTION)
        .zip_file(v2.into())
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("function", Some("code_sha256"))]);
    let c = change(&changes, "function", "code_sha256");
    assert_eq!(
        c["expected"],
        deployer::package::sha256_base64(&std::fs::read(&d.f.zip_v1).unwrap())
    );
    assert_eq!(
        d.repair(),
        ["lambda PUT /2015-03-31/functions/vc-prod/code"]
    );
}

#[tokio::test]
async fn function_configuration_changed_field_by_field() {
    let d = deployed().await;
    d.c.lambda
        .update_function_configuration()
        .function_name(FUNCTION)
        .memory_size(512)
        .timeout(30)
        .handler("main")
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[
        ("function", Some("memory_mb")),
        ("function", Some("timeout_s")),
        ("function", Some("handler")),
        ("function", Some("runtime")),
    ]);
    assert_eq!(change(&changes, "function", "memory_mb")["actual"], 512);
    assert_eq!(change(&changes, "function", "timeout_s")["expected"], 3);
    assert_eq!(
        change(&changes, "function", "runtime")["actual"],
        "python3.12"
    );
    assert_eq!(
        d.repair(),
        ["lambda PUT /2015-03-31/functions/vc-prod/configuration"]
    );
}

// Architecture drift: moto ignores `Architectures` on UpdateFunctionCode, so it cannot show it;
// tests/mocks.rs covers it (`architecture_drift_is_seen_and_repaired_with_the_code_call`).

#[tokio::test]
async fn function_role_swapped() {
    let d = deployed().await;
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let other =
        d.c.iam
            .create_role()
            .role_name("powerful")
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .unwrap();
    let arn = other.role().unwrap().arn().to_string();
    d.c.lambda
        .update_function_configuration()
        .function_name(FUNCTION)
        .role(&arn)
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("function", Some("role"))]);
    assert_eq!(change(&changes, "function", "role")["actual"], arn);
    assert_eq!(
        d.repair(),
        ["lambda PUT /2015-03-31/functions/vc-prod/configuration"]
    );
}

#[tokio::test]
async fn function_environment_added_changed_and_removed() {
    let d = deployed().await;
    d.c.lambda
        .update_function_configuration()
        .function_name(FUNCTION)
        .environment(
            Environment::builder()
                .variables("TABLE_NAME", "someone-elses-table")
                .variables("CORS_ORIGINS", "https://example.com")
                .variables("DEBUG", "1")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[
        ("function", Some("environment.TABLE_NAME")),
        ("function", Some("environment.COUNTER_ID")),
        ("function", Some("environment.DEBUG")),
    ]);
    let changed = change(&changes, "function", "environment.TABLE_NAME");
    assert_eq!(
        (changed["expected"].clone(), changed["actual"].clone()),
        (json!("vc-prod"), json!("someone-elses-table"))
    );
    assert_eq!(
        change(&changes, "function", "environment.COUNTER_ID")["actual"],
        Value::Null
    );
    assert_eq!(
        change(&changes, "function", "environment.DEBUG")["expected"],
        Value::Null
    );
    assert_eq!(
        d.repair(),
        ["lambda PUT /2015-03-31/functions/vc-prod/configuration"]
    );
}

// ---- permission -------------------------------------------------------------------------------

#[tokio::test]
async fn permission_removed() {
    let d = deployed().await;
    d.c.lambda
        .remove_permission()
        .function_name(FUNCTION)
        .statement_id("vc-apigateway-invoke")
        .send()
        .await
        .unwrap();
    d.drift(&[("permission", None)]);
    assert_eq!(
        d.repair(),
        ["lambda POST /2015-03-31/functions/vc-prod/policy"]
    );
}

#[tokio::test]
async fn permission_extra_statement_for_anyone() {
    let d = deployed().await;
    d.c.lambda
        .add_permission()
        .function_name(FUNCTION)
        .statement_id("open-to-the-world")
        .action("lambda:InvokeFunction")
        .principal("*")
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("permission", None)]);
    let extra = changes
        .iter()
        .find(|c| c["name"] == "open-to-the-world")
        .unwrap();
    assert_eq!(extra["action"], "delete");
    assert_eq!(
        d.repair(),
        ["lambda DELETE /2015-03-31/functions/vc-prod/policy/open-to-the-world"]
    );
}

// ---- API and stage ----------------------------------------------------------------------------

async fn api_id(c: &Clients) -> String {
    let apis = c.apigateway.get_rest_apis().send().await.unwrap();
    apis.items()[0].id().unwrap().to_string()
}

async fn resource_id(c: &Clients, api: &str, path: &str) -> String {
    let resources = c
        .apigateway
        .get_resources()
        .rest_api_id(api)
        .send()
        .await
        .unwrap();
    resources
        .items()
        .iter()
        .find(|r| r.path() == Some(path))
        .unwrap()
        .id()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn api_deleted() {
    let d = deployed().await;
    let id = api_id(&d.c).await;
    d.c.apigateway
        .delete_rest_api()
        .rest_api_id(&id)
        .send()
        .await
        .unwrap();
    d.drift(&[
        ("api", None),
        ("stage", None),
        ("permission", Some("source_arn")),
    ]);
    let writes = d.repair();
    assert!(
        writes.contains(&"apigateway POST /restapis".to_string()),
        "{writes:?}"
    );
    // The permission moves to the new API's ARN.
    assert!(
        writes.contains(
            &"lambda DELETE /2015-03-31/functions/vc-prod/policy/vc-apigateway-invoke".to_string()
        ),
        "{writes:?}"
    );
    assert!(
        writes.contains(&"lambda POST /2015-03-31/functions/vc-prod/policy".to_string()),
        "{writes:?}"
    );
    assert_eq!(
        d.c.apigateway
            .get_rest_apis()
            .send()
            .await
            .unwrap()
            .items()
            .len(),
        1
    );
}

#[tokio::test]
async fn api_duplicated_with_the_stack_tags() {
    let d = deployed().await;
    let ours = api_id(&d.c).await;
    let dup =
        d.c.apigateway
            .create_rest_api()
            .name("vc-prod")
            .tags("deployer:stack", "vc")
            .tags("deployer:stage", "prod")
            .send()
            .await
            .unwrap();
    let dup = dup.id().unwrap().to_string();
    let changes = d.drift(&[("api", None)]);
    let c = changes.iter().find(|c| c["resource"] == "api").unwrap();
    assert_eq!(
        (c["action"].clone(), c["name"].clone()),
        (json!("delete"), json!(dup))
    );
    assert_eq!(d.repair(), [format!("apigateway DELETE /restapis/{dup}")]);
    let left = d.c.apigateway.get_rest_apis().send().await.unwrap();
    assert_eq!(
        left.items()
            .iter()
            .map(|a| a.id().unwrap())
            .collect::<Vec<_>>(),
        [ours.as_str()]
    );
}

#[tokio::test]
async fn api_route_removed() {
    let d = deployed().await;
    let id = api_id(&d.c).await;
    let health = resource_id(&d.c, &id, "/health").await;
    d.c.apigateway
        .delete_method()
        .rest_api_id(&id)
        .resource_id(&health)
        .http_method("GET")
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("api", Some("routes.GET /health"))]);
    assert_eq!(
        change(&changes, "api", "routes.GET /health")["actual"],
        Value::Null
    );
    assert_eq!(
        d.repair(),
        [
            format!("apigateway PUT /restapis/{id}/resources/{health}/methods/GET"),
            format!("apigateway PUT /restapis/{id}/resources/{health}/methods/GET/integration"),
        ]
    );
}

#[tokio::test]
async fn api_route_added() {
    let d = deployed().await;
    let id = api_id(&d.c).await;
    let counter = resource_id(&d.c, &id, "/counter").await;
    d.c.apigateway
        .put_method()
        .rest_api_id(&id)
        .resource_id(&counter)
        .http_method("DELETE")
        .authorization_type("NONE")
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("api", Some("routes.DELETE /counter"))]);
    assert_eq!(
        change(&changes, "api", "routes.DELETE /counter")["action"],
        "delete"
    );
    assert_eq!(
        d.repair(),
        [format!(
            "apigateway DELETE /restapis/{id}/resources/{counter}/methods/DELETE"
        )]
    );
}

#[tokio::test]
async fn api_integration_pointed_at_another_function() {
    let d = deployed().await;
    let id = api_id(&d.c).await;
    let counter = resource_id(&d.c, &id, "/counter").await;
    let other = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:attacker/invocations";
    d.c.apigateway
        .put_integration()
        .rest_api_id(&id)
        .resource_id(&counter)
        .http_method("GET")
        .r#type(IntegrationType::AwsProxy)
        .integration_http_method("POST")
        .uri(other)
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("api", Some("routes.GET /counter"))]);
    assert_eq!(
        change(&changes, "api", "routes.GET /counter")["actual"]["uri"],
        other
    );
    let writes = d.repair();
    assert!(
        writes.contains(&format!(
            "apigateway PUT /restapis/{id}/resources/{counter}/methods/GET/integration"
        )),
        "{writes:?}"
    );
    assert!(
        writes
            .iter()
            .all(|w| w.starts_with("apigateway PUT") && w.contains("/methods/GET")),
        "{writes:?}"
    );
}

#[tokio::test]
async fn gateway_response_stripped_of_its_cors_headers() {
    let d = deployed().await;
    let id = api_id(&d.c).await;
    d.c.apigateway
        .delete_gateway_response()
        .rest_api_id(&id)
        .response_type(aws_sdk_apigateway::types::GatewayResponseType::Default4Xx)
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("api", Some("gateway_responses.DEFAULT_4XX"))]);
    assert_eq!(
        change(&changes, "api", "gateway_responses.DEFAULT_4XX")["actual"],
        json!({})
    );
    assert_eq!(
        d.repair(),
        [format!(
            "apigateway PUT /restapis/{id}/gatewayresponses/DEFAULT_4XX"
        )]
    );
}

#[tokio::test]
async fn stage_deleted() {
    let d = deployed().await;
    let id = api_id(&d.c).await;
    d.c.apigateway
        .delete_stage()
        .rest_api_id(&id)
        .stage_name("prod")
        .send()
        .await
        .unwrap();
    d.drift(&[("stage", None)]);
    assert_eq!(
        d.repair(),
        [
            format!("apigateway POST /restapis/{id}/deployments"),
            format!("apigateway POST /restapis/{id}/stages"),
            format!("apigateway PATCH /restapis/{id}/stages/prod"),
        ]
    );
}

#[tokio::test]
async fn stage_serving_an_old_deployment() {
    let d = deployed().await;
    let id = api_id(&d.c).await;
    let manual =
        d.c.apigateway
            .create_deployment()
            .rest_api_id(&id)
            .description("hand-made")
            .send()
            .await
            .unwrap();
    d.c.apigateway
        .update_stage()
        .rest_api_id(&id)
        .stage_name("prod")
        .patch_operations(
            PatchOperation::builder()
                .op(Op::Replace)
                .path("/deploymentId")
                .value(manual.id().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("stage", Some("deployment"))]);
    assert_eq!(
        change(&changes, "stage", "deployment")["actual"],
        Value::Null
    );
    assert_eq!(
        d.repair(),
        [
            format!("apigateway POST /restapis/{id}/deployments"),
            format!("apigateway PATCH /restapis/{id}/stages/prod"),
        ]
    );
}

#[tokio::test]
async fn stage_throttling_raised() {
    let d = deployed().await;
    let id = api_id(&d.c).await;
    d.c.apigateway
        .update_stage()
        .rest_api_id(&id)
        .stage_name("prod")
        .patch_operations(
            PatchOperation::builder()
                .op(Op::Replace)
                .path("/*/*/throttling/rateLimit")
                .value("10000")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let changes = d.drift(&[("stage", Some("throttle.rate"))]);
    let c = change(&changes, "stage", "throttle.rate");
    assert_eq!(
        (c["expected"].clone(), c["actual"].clone()),
        (json!(10.0), json!(10000.0))
    );
    assert_eq!(
        d.repair(),
        [format!("apigateway PATCH /restapis/{id}/stages/prod")]
    );
}
