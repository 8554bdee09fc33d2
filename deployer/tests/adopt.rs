//! Moving a hand-built counter: the stack of the original article, made in the emulator with
//! plain SDK calls as the console makes them (no deployer tag anywhere), taken over by
//! `up --adopt` without losing a visit or the API's URL.
//!
//! One emulator serves the whole story, in order: the refusals first (they must change
//! nothing), then the preview, the adoption, the next visit through the emulated request path,
//! and the second `up`. Every deployer call of the story is held to the policy `deployer
//! policy` prints, so adopting (detaching the role's managed policy included) needs nothing more.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::io::Write as _;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, KeySchemaElement, KeyType, ProvisionedThroughput,
    ScalarAttributeType,
};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use deployer::aws::Clients;
use serde_json::{json, Value};
use support::{real_zip, Fixture, Run};

const TABLE: &str = "visitor-counter-prod";
const ROLE: &str = "visitor-counter-prod-role";
const FUNCTION: &str = "visitor-counter-prod";
const HAND_POLICY: &str = "VisitorCounterDynamoDB";

/// The deployer's stack for the hand-built one: its names derive to the same table, role,
/// function and log group; `api.id` names the hand-built API.
fn stack(api_id: &str, key: &str) -> String {
    format!(
        "name: visitor-counter
region: us-east-1
stage: prod
table:
  {key}
function:
  counter_id: main_counter
api:
  id: {api_id}
  routes: [GET /counter, GET /health]
  cors_origins: [\"https://example.com\"]
"
    )
}

/// Clients through the fixture's proxy: the hand-built stack is made as AWS would see it.
async fn through_proxy(f: &Fixture) -> Clients {
    let loader = testkit::dummy_loader().endpoint_url(f.proxy.endpoint());
    Clients::from_config(&loader.load().await).unwrap()
}

/// The article's table: keyed `counter_id`, provisioned, holding 1234 visits.
async fn hand_table(c: &Clients) {
    c.dynamodb
        .create_table()
        .table_name(TABLE)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("counter_id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("counter_id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(5)
                .write_capacity_units(5)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // A new table is CREATING for a moment, and refuses items meanwhile: retry as boto would.
    for attempt in 0.. {
        let put = c
            .dynamodb
            .put_item()
            .table_name(TABLE)
            .item("counter_id", AttributeValue::S("main_counter".into()))
            .item("visit_count", AttributeValue::N("1234".into()))
            .item(
                "created_date",
                AttributeValue::S("2024-01-15T10:00:00Z".into()),
            )
            .item(
                "last_updated",
                AttributeValue::S("2024-06-01T18:30:00Z".into()),
            )
            .send()
            .await;
        match put {
            Ok(_) => break,
            Err(e) if attempt < 50 => {
                eprintln!("put_item: {e:?}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
}

/// The article's role: Lambda may assume it, its hand-written policy allows more than the
/// function needs (`PutItem`), on a wildcard account, and a managed policy for its logs is
/// attached, as the console's "basic Lambda permissions" attach one.
async fn hand_role(c: &Clients) -> String {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let role = c
        .iam
        .create_role()
        .role_name(ROLE)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"],
        "Resource": "arn:aws:dynamodb:us-east-1:*:table/visitor-counter-prod"}]});
    c.iam
        .put_role_policy()
        .role_name(ROLE)
        .policy_name(HAND_POLICY)
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap();
    let logs = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": "*"}]});
    let managed = c
        .iam
        .create_policy()
        .policy_name("VisitorCounterBasicExecution")
        .policy_document(logs.to_string())
        .send()
        .await
        .unwrap();
    c.iam
        .attach_role_policy()
        .role_name(ROLE)
        .policy_arn(managed.policy().unwrap().arn().unwrap())
        .send()
        .await
        .unwrap();
    role.role().unwrap().arn().to_string()
}

/// A Python function, as the console makes it, and the log group its first run made.
async fn hand_function(c: &Clients, role_arn: &str) -> String {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(
        "lambda_function.py",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(b"def lambda_handler(event, context):\n    return {'statusCode': 200}\n")
        .unwrap();
    let zip = zip.finish().unwrap().into_inner();
    // Moto needs a moment of IAM propagation through the realism layer: retry as boto would.
    let created = loop {
        let sent = c
            .lambda
            .create_function()
            .function_name(FUNCTION)
            .runtime(Runtime::Python312)
            .handler("lambda_function.lambda_handler")
            .role(role_arn)
            .environment(
                aws_sdk_lambda::types::Environment::builder()
                    .variables("TABLE_NAME", TABLE)
                    .build(),
            )
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(zip.clone()))
                    .build(),
            )
            .send()
            .await;
        match sent {
            Ok(created) => break created,
            // The new role propagating: to Lambda first, then to KMS.
            Err(e)
                if ["cannot be assumed", "invalid for CreateGrant"]
                    .iter()
                    .any(|m| format!("{e:?}").contains(m)) =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    };
    c.logs
        .create_log_group()
        .log_group_name(format!("/aws/lambda/{FUNCTION}"))
        .send()
        .await
        .unwrap();
    created.function_arn().unwrap().to_string()
}

/// The article's REST API: GET /counter and GET /health, proxied to the function itself (not
/// an alias), deployed to `prod`, with the console's invoke permission on the function; and
/// what the stack does not name: a `GET /stats` route and a customized gateway response.
async fn hand_api(c: &Clients, function_arn: &str) -> String {
    let api = c
        .apigateway
        .create_rest_api()
        .name("visitor-counter-api")
        .send()
        .await
        .unwrap();
    let id = api.id().unwrap().to_string();
    let resources = c
        .apigateway
        .get_resources()
        .rest_api_id(&id)
        .send()
        .await
        .unwrap();
    let root = resources.items()[0].id().unwrap().to_string();
    let uri = format!(
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    );
    for path in ["counter", "health", "stats"] {
        let resource = c
            .apigateway
            .create_resource()
            .rest_api_id(&id)
            .parent_id(&root)
            .path_part(path)
            .send()
            .await
            .unwrap();
        let rid = resource.id().unwrap();
        c.apigateway
            .put_method()
            .rest_api_id(&id)
            .resource_id(rid)
            .http_method("GET")
            .authorization_type("NONE")
            .send()
            .await
            .unwrap();
        c.apigateway
            .put_integration()
            .rest_api_id(&id)
            .resource_id(rid)
            .http_method("GET")
            .r#type(aws_sdk_apigateway::types::IntegrationType::AwsProxy)
            .integration_http_method("POST")
            .uri(&uri)
            .send()
            .await
            .unwrap();
    }
    c.apigateway
        .put_gateway_response()
        .rest_api_id(&id)
        .response_type(aws_sdk_apigateway::types::GatewayResponseType::MissingAuthenticationToken)
        .status_code("404")
        .send()
        .await
        .unwrap();
    c.apigateway
        .create_deployment()
        .rest_api_id(&id)
        .stage_name("prod")
        .send()
        .await
        .unwrap();
    c.lambda
        .add_permission()
        .function_name(FUNCTION)
        .statement_id("apigateway-invoke")
        .action("lambda:InvokeFunction")
        .principal("apigateway.amazonaws.com")
        .source_arn(format!(
            "arn:aws:execute-api:us-east-1:123456789012:{id}/*/*"
        ))
        .send()
        .await
        .unwrap();
    id
}

/// The counter item as the table holds it, read straight from moto.
async fn item(c: &Clients) -> HashMap<String, AttributeValue> {
    c.dynamodb
        .get_item()
        .table_name(TABLE)
        .key("counter_id", AttributeValue::S("main_counter".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

#[track_caller]
fn changed_nothing(run: &Run, context: &str) {
    assert!(
        run.writes().is_empty() && run.lease_writes().is_empty(),
        "{context}: wrote {:?} {:?}",
        run.writes(),
        run.lease_writes()
    );
}

/// Tags the hand-built log group for another stack (`other`), or takes that tag off.
async fn log_group_tagged_for(f: &Fixture, other: Option<&str>) {
    let logs = f.clients().await.logs;
    let arn = format!("arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/{FUNCTION}");
    match other {
        Some(stack) => {
            let tags = [("deployer:stack", stack), ("deployer:stage", "prod")];
            let mut tag = logs.tag_resource().resource_arn(&arn);
            for (k, v) in tags {
                tag = tag.tags(k, v);
            }
            tag.send().await.unwrap();
        }
        None => {
            let untag = logs.untag_resource().resource_arn(&arn);
            let untag = untag.tag_keys("deployer:stack").tag_keys("deployer:stage");
            untag.send().await.unwrap();
        }
    }
}

#[tokio::test]
async fn a_hand_built_counter_is_adopted_in_one_up_keeping_its_count_and_its_url() {
    let f = Fixture::new("name: placeholder\n");
    let hand = through_proxy(&f).await;
    hand_table(&hand).await;
    let role_arn = hand_role(&hand).await;
    let function_arn = hand_function(&hand, &role_arn).await;
    let api_id = hand_api(&hand, &function_arn).await;
    let before = item(&f.clients().await).await;
    let zip = real_zip();
    let zip = zip.to_str().unwrap();

    // A stack whose table.key is not the live key: refused at its line, before any write.
    f.write_stack(&stack(&api_id, "key: id"));
    // From here on, the deployer's calls are held to the policy `deployer policy` prints, as
    // IAM would hold them: adopting must need no permission that policy lacks.
    f.enforce_printed_policy();
    let run = f.run(&["up", "--adopt", "--zip", zip]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("keyed \"counter_id\"")
            && run
                .stderr
                .contains("table.key (stack.yaml line 5) says \"id\""),
        "{}",
        run.stderr
    );
    changed_nothing(&run, "a table keyed otherwise");

    // Another stack's resource under these names is never taken, even with --adopt.
    f.write_stack(&stack(&api_id, "key: counter_id"));
    log_group_tagged_for(&f, Some("blog")).await;
    let run = f.run(&["up", "--adopt", "--zip", zip]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let other = format!(
        "log_group /aws/lambda/{FUNCTION} is tagged deployer:stack=blog, deployer:stage=prod"
    );
    assert!(run.stderr.contains(&other), "{}", run.stderr);
    assert!(run.stderr.contains("never taken"), "{}", run.stderr);
    changed_nothing(&run, "another stack's log group");
    log_group_tagged_for(&f, None).await;

    // Without --adopt: nothing changes, and each untagged resource is named, with the flag.
    let run = f.run(&["up", "--zip", zip]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    for named in [
        format!("table {TABLE} carries no deployer:stack tag"),
        format!("role {ROLE} carries no"),
        format!("function {FUNCTION} carries no"),
        format!("log_group /aws/lambda/{FUNCTION} carries no"),
        "api visitor-counter-prod carries no".to_string(),
        "deployer up --adopt".to_string(),
    ] {
        assert!(run.stderr.contains(&named), "{named:?} in:\n{}", run.stderr);
    }
    changed_nothing(&run, "up without --adopt");

    // The preview: every change `up --adopt` makes, and the count it keeps; no write.
    let run = f.run(&["--output", "json", "diff", "--adopt", "--zip", zip]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    changed_nothing(&run, "diff --adopt");
    let preview = run.json();
    assert_eq!(preview["adoption"]["count_before"], json!(1234));
    assert_eq!(preview["adoption"]["adopted"].as_array().unwrap().len(), 5);
    let previewed = changes(&preview);
    for shown in [
        "routes.GET /stats",
        "gateway_responses.MISSING_AUTHENTICATION_TOKEN",
    ] {
        assert!(
            previewed.iter().any(|c| c.contains(shown)),
            "{shown} not previewed: {previewed:#?}"
        );
    }

    // The adoption, in one run: the changes are exactly the preview's.
    let run = f
        .run(&["--output", "json", "up", "--adopt", "--zip", zip])
        .ok();
    let adopted = run.json();
    assert_eq!(changes(&adopted), previewed);
    assert_eq!(adopted["adoption"]["count_before"], json!(1234));
    assert_eq!(adopted["adoption"]["count_after"], json!(1234));
    // Held to the printed policy: the adoption's tagging was allowed by its statements.
    let authorized = f.proxy.authorized();
    assert!(
        authorized
            .iter()
            .any(|(_, action)| action == "lambda:TagResource"),
        "the adoption was not held to the printed policy: {authorized:?}"
    );
    let url = adopted["outputs"]["api_url"].as_str().unwrap().to_string();
    assert!(url.contains(&api_id), "the API's URL changed: {url}");
    assert_eq!(
        item(&f.clients().await).await,
        before,
        "the item was touched"
    );
    assert_adopted(&f, &api_id).await;

    // The next visit, through the emulated request path on the same URL, counts from 1234.
    let run = f
        .run(&["--output", "json", "invoke", "--path", "/counter"])
        .ok();
    let body: Value = serde_json::from_str(run.json()["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["count"], json!(1235), "{}", run.stdout);
    assert!(f
        .proxy
        .served()
        .iter()
        .any(|s| s.path == "/counter" && s.status == 200));

    // Converged: a second `up` writes nothing, and `diff` is in sync.
    let run = f.up(&real_zip()).ok();
    changed_nothing(&run, "the second up");
    let run = f.run(&["diff", "--zip", zip]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

/// Each change as `resource name field action`, in order.
fn changes(report: &Value) -> Vec<String> {
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {}",
                c["resource"], c["name"], c["field"], c["action"]
            )
        })
        .collect()
}

/// The role's policy is the deployer's alone, the function and the API are the stack's.
async fn assert_adopted(f: &Fixture, api_id: &str) {
    let c = f.clients().await;
    let policies = c
        .iam
        .list_role_policies()
        .role_name(ROLE)
        .send()
        .await
        .unwrap();
    assert_eq!(policies.policy_names(), ["visitor-counter-counter-access"]);
    let policy = c
        .iam
        .get_role_policy()
        .role_name(ROLE)
        .policy_name("visitor-counter-counter-access")
        .send()
        .await
        .unwrap();
    let document =
        percent_encoding::percent_decode_str(policy.policy_document()).decode_utf8_lossy();
    assert!(!document.contains("PutItem"), "{document}");
    assert!(
        document.contains("arn:aws:dynamodb:us-east-1:123456789012:table/visitor-counter-prod\""),
        "{document}"
    );
    let function = c
        .lambda
        .get_function()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    let config = function.configuration().unwrap();
    assert_eq!(config.runtime(), Some(&Runtime::Providedal2023));
    assert_eq!(
        function.tags().unwrap()["deployer:stack"],
        "visitor-counter"
    );
    let env = config.environment().unwrap().variables().unwrap();
    assert_eq!(env["TABLE_KEY"], "counter_id");
    // Through the proxy: it keeps a REST API's tags, which moto cannot.
    let apis = through_proxy(f)
        .await
        .apigateway
        .get_rest_apis()
        .send()
        .await
        .unwrap();
    assert_eq!(apis.items().len(), 1, "a second API was made");
    assert_eq!(apis.items()[0].id(), Some(api_id));
    assert_eq!(
        apis.items()[0].tags().unwrap()["deployer:stack"],
        "visitor-counter"
    );
}
