//! `up` and `down` with the real binary against moto, every request counted by the proxy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;

use deployer::package::sha256_base64;
use deployer::resources::role::parse_policy;
use serde_json::json;
use support::{Fixture, STACK};

const ACCOUNT: &str = "123456789012";

#[tokio::test]
async fn up_from_empty_creates_everything_exactly_as_configured() {
    let f = Fixture::new(STACK);
    let run = f.up(&f.zip_v1).ok();
    assert!(
        run.stdout
            .contains("Plan: 8 to create, 0 to update, 0 to delete."),
        "{}",
        run.stdout
    );
    // The progress: the table made first, as the lease's home, then what is left of it done.
    for line in [
        "  ✓ creating table vc-prod made (",
        "  ✓ updating table vc-prod (",
        "  ✓ creating API vc-prod [",
    ] {
        assert!(run.stderr.contains(line), "{line:?} in:\n{}", run.stderr);
    }
    let c = f.clients().await;

    // Table: on-demand, keyed by id, protected, recoverable, tagged.
    let table = c
        .dynamodb
        .describe_table()
        .table_name("vc-prod")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let key = &table.key_schema()[0];
    assert_eq!(
        (key.attribute_name(), key.key_type().as_str()),
        ("id", "HASH")
    );
    assert_eq!(
        table
            .billing_mode_summary()
            .unwrap()
            .billing_mode()
            .unwrap()
            .as_str(),
        "PAY_PER_REQUEST"
    );
    assert_eq!(table.deletion_protection_enabled(), Some(true));
    let pitr = c
        .dynamodb
        .describe_continuous_backups()
        .table_name("vc-prod")
        .send()
        .await
        .unwrap();
    assert_eq!(
        pitr.continuous_backups_description()
            .unwrap()
            .point_in_time_recovery_description()
            .unwrap()
            .point_in_time_recovery_status()
            .unwrap()
            .as_str(),
        "ENABLED"
    );
    let tags = c
        .dynamodb
        .list_tags_of_resource()
        .resource_arn(table.table_arn().unwrap())
        .send()
        .await
        .unwrap();
    let tags: HashMap<_, _> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(
        tags,
        HashMap::from([
            ("deployer:stack", "vc"),
            ("deployer:stage", "prod"),
            ("project", "cloud-resume")
        ])
    );

    // Log group with its retention.
    let groups = c
        .logs
        .describe_log_groups()
        .log_group_name_prefix("/aws/lambda/vc-prod")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(14));

    // The role's policies, the invoke permission and the stage throttling: least_privilege.rs.

    // Function: runtime, handler, sizes, role, environment and the code we zipped.
    let function = c
        .lambda
        .get_function()
        .function_name("vc-prod")
        .send()
        .await
        .unwrap();
    let config = function.configuration().unwrap();
    assert_eq!(config.runtime().unwrap().as_str(), "provided.al2023");
    assert_eq!(config.handler(), Some("bootstrap"));
    assert_eq!(config.architectures()[0].as_str(), "x86_64");
    assert_eq!(
        (config.memory_size(), config.timeout()),
        (Some(128), Some(3))
    );
    assert_eq!(
        config.role(),
        Some(format!("arn:aws:iam::{ACCOUNT}:role/vc-prod-role").as_str())
    );
    let env = config.environment().unwrap().variables().unwrap();
    assert_eq!(env["TABLE_NAME"], "vc-prod");
    assert_eq!(env["COUNTER_ID"], "main_counter");
    assert_eq!(env["CORS_ORIGINS"], "https://example.com");
    assert_eq!(
        config.code_sha256().unwrap(),
        sha256_base64(&std::fs::read(&f.zip_v1).unwrap())
    );

    // API: found by tag, each route (and its preflight) a proxy to the function.
    let apis = c.apigateway.get_rest_apis().send().await.unwrap();
    assert_eq!(apis.items().len(), 1);
    let api_id = apis.items()[0].id().unwrap();
    let resources = c
        .apigateway
        .get_resources()
        .rest_api_id(api_id)
        .embed("methods")
        .send()
        .await
        .unwrap();
    let mut routes = Vec::new();
    for r in resources.items() {
        for (method, m) in r.resource_methods().into_iter().flatten() {
            let uri = m
                .method_integration()
                .and_then(|i| i.uri())
                .unwrap_or_default();
            assert!(
                uri.ends_with("function:vc-prod:live/invocations"),
                "the live alias, never $LATEST: {uri}"
            );
            routes.push(format!("{method} {}", r.path().unwrap()));
        }
    }
    routes.sort();
    assert_eq!(
        routes,
        [
            "GET /counter",
            "GET /health",
            "OPTIONS /counter",
            "OPTIONS /health"
        ]
    );

    // API Gateway's own errors (403, 429, 5xx) carry CORS headers, or a page sees an opaque
    // CORS failure instead of them.
    for kind in ["DEFAULT_4XX", "DEFAULT_5XX"] {
        let response = c
            .apigateway
            .get_gateway_response()
            .rest_api_id(api_id)
            .response_type(aws_sdk_apigateway::types::GatewayResponseType::from(kind))
            .send()
            .await
            .unwrap();
        let params = response.response_parameters().unwrap();
        assert_eq!(
            params["gatewayresponse.header.Access-Control-Allow-Origin"], "'https://example.com'",
            "{kind}"
        );
        assert_eq!(params["gatewayresponse.header.Vary"], "'Origin'", "{kind}");
    }

    // Stage: serving a deployment that records the routes hash.
    let stage = c
        .apigateway
        .get_stage()
        .rest_api_id(api_id)
        .stage_name("prod")
        .send()
        .await
        .unwrap();
    let deployment = c
        .apigateway
        .get_deployment()
        .rest_api_id(api_id)
        .deployment_id(stage.deployment_id().unwrap())
        .send()
        .await
        .unwrap();
    assert!(deployment
        .description()
        .unwrap()
        .starts_with("deployer routes="));

    // Against an emulator the stage is served at its execute-api path, where `invoke` reaches it.
    assert!(
        run.stdout.contains(&format!(
            "{}/_aws/execute-api/{api_id}/prod",
            f.proxy.endpoint()
        )),
        "{}",
        run.stdout
    );
}

#[test]
fn a_second_up_sends_zero_writes_and_says_so() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let again = f.up(&f.zip_v1).ok();
    assert_eq!(again.writes(), Vec::<String>::new());
    assert!(!again.calls.is_empty(), "it did read");
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);
}

/// A release after a function's change: one version published, one alias switch.
const RELEASE: [&str; 2] = [
    "lambda POST /2015-03-31/functions/vc-prod/versions",
    "lambda PUT /2015-03-31/functions/vc-prod/aliases/live",
];

#[test]
fn a_memory_change_sends_update_function_configuration_and_a_release() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    f.write_stack(&STACK.replace("memory_mb: 128", "memory_mb: 256"));
    let run = f.up(&f.zip_v1).ok();
    assert_eq!(
        run.writes(),
        [
            "lambda PUT /2015-03-31/functions/vc-prod/configuration",
            RELEASE[0],
            RELEASE[1]
        ]
    );
    assert!(
        run.stdout.contains("~ memory_mb: 128 → 256"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_code_change_sends_update_function_code_and_a_release() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let run = f.up(&f.zip_v2).ok();
    assert_eq!(
        run.writes_past_updates(),
        [
            "lambda PUT /2015-03-31/functions/vc-prod/code",
            RELEASE[0],
            RELEASE[1]
        ]
    );
}

#[test]
fn a_new_route_sends_the_api_changes_and_one_new_deployment() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    f.write_stack(&STACK.replace(
        "[GET /counter, GET /health]",
        "[GET /counter, POST /counter, GET /health]",
    ));
    let run = f.up(&f.zip_v1).ok();
    let writes = run.writes();
    assert!(
        writes.iter().all(|w| w.starts_with("apigateway ")),
        "{writes:?}"
    );
    // One deployment made: a second sent moments after the first `up`'s may be refused by API
    // Gateway's quota (one every 5 s), and is then sent again.
    let deployments: Vec<_> = run
        .applied()
        .into_iter()
        .filter(|w| w.starts_with("apigateway POST") && w.ends_with("/deployments"))
        .collect();
    assert_eq!(deployments.len(), 1, "{writes:?}");
    assert!(
        writes
            .iter()
            .any(|w| w.contains("PUT") && w.ends_with("/methods/POST")),
        "{writes:?}"
    );
    assert!(
        writes
            .iter()
            .any(|w| w.ends_with("/methods/POST/integration")),
        "{writes:?}"
    );
    assert!(
        writes
            .iter()
            .any(|w| w.starts_with("apigateway PATCH") && w.ends_with("/stages/prod")),
        "{writes:?}"
    );
    // And now it is all in place.
    assert_eq!(f.up(&f.zip_v1).ok().writes(), Vec::<String>::new());
}

#[tokio::test]
async fn renaming_the_table_moves_policy_and_env_together_and_retains_the_old_table() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    f.write_stack(&STACK.replace("table:\n", "table:\n  name: vc-visitors-v2\n"));
    let run = f
        .run(&[
            "--output",
            "json",
            "up",
            "--zip",
            f.zip_v1.to_str().unwrap(),
        ])
        .ok();
    let report = run.json();
    let notes = report["notes"].as_array().unwrap();
    assert!(
        notes[0]
            .as_str()
            .unwrap()
            .contains("table vc-prod is retained"),
        "{notes:?}"
    );

    let c = f.clients().await;
    let env = c
        .lambda
        .get_function_configuration()
        .function_name("vc-prod")
        .send()
        .await
        .unwrap();
    assert_eq!(
        env.environment().unwrap().variables().unwrap()["TABLE_NAME"],
        "vc-visitors-v2"
    );
    let policy = c
        .iam
        .get_role_policy()
        .role_name("vc-prod-role")
        .policy_name("vc-counter-access")
        .send()
        .await
        .unwrap();
    let policy = parse_policy(policy.policy_document()).unwrap();
    assert_eq!(
        policy["Statement"][0]["Resource"],
        format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/vc-visitors-v2")
    );
    let mut tables = c
        .dynamodb
        .list_tables()
        .send()
        .await
        .unwrap()
        .table_names()
        .to_vec();
    tables.sort();
    assert_eq!(
        tables,
        ["vc-prod", "vc-visitors-v2"],
        "the old table is retained"
    );
}

#[tokio::test]
async fn down_leaves_only_the_table_and_down_delete_table_leaves_nothing() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let run = f.run(&["down"]).ok();
    assert!(
        run.stdout.contains("table vc-prod (retained"),
        "{}",
        run.stdout
    );
    let c = f.clients().await;
    assert!(c
        .apigateway
        .get_rest_apis()
        .send()
        .await
        .unwrap()
        .items()
        .is_empty());
    assert!(c
        .lambda
        .list_functions()
        .send()
        .await
        .unwrap()
        .functions()
        .is_empty());
    assert!(c
        .iam
        .list_roles()
        .send()
        .await
        .unwrap()
        .roles()
        .iter()
        .all(|r| r.role_name() != "vc-prod-role"));
    assert!(c
        .logs
        .describe_log_groups()
        .send()
        .await
        .unwrap()
        .log_groups()
        .is_empty());
    assert_eq!(
        c.dynamodb.list_tables().send().await.unwrap().table_names(),
        ["vc-prod"]
    );

    // A second down finishes nothing new but still reports the table.
    let again = f.run(&["--output", "json", "down"]).ok();
    assert_eq!(
        again.json(),
        json!({"deleted": [], "retained": ["table vc-prod"], "skipped": []})
    );

    let run = f.run(&["down", "--delete-table"]).ok();
    assert!(
        run.writes().iter().any(|w| w == "dynamodb UpdateTable"),
        "deletion protection turned off: {:?}",
        run.writes()
    );
    assert!(c
        .dynamodb
        .list_tables()
        .send()
        .await
        .unwrap()
        .table_names()
        .is_empty());
    let gone = f.run(&["down"]).ok();
    assert!(gone.stdout.contains("Nothing to remove"), "{}", gone.stdout);
}

#[test]
fn json_output_has_the_contract_keys() {
    let f = Fixture::new(STACK);
    let up = f
        .run(&[
            "--output",
            "json",
            "up",
            "--zip",
            f.zip_v1.to_str().unwrap(),
        ])
        .ok()
        .json();
    for key in ["api_url", "function_arn", "table_arn", "role_arn"] {
        assert!(up["outputs"][key].is_string(), "outputs.{key} in {up}");
    }
    assert_eq!(up["outputs"]["live_version"], "1", "{up}");
    let changes = up["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 8);
    for c in changes {
        for key in ["resource", "action", "field", "expected", "actual"] {
            assert!(c.get(key).is_some(), "{key} in {c}");
        }
        assert_eq!(c["action"], "create");
    }

    f.write_stack(&STACK.replace("timeout_s: 3", "timeout_s: 10"));
    let diff = f.run(&[
        "--output",
        "json",
        "diff",
        "--zip",
        f.zip_v1.to_str().unwrap(),
    ]);
    assert_eq!(diff.code, 2);
    assert_eq!(
        diff.json(),
        json!({"in_sync": false, "live_version": "1", "changes": [
            {"resource": "function", "name": "vc-prod", "action": "update", "field": "timeout_s", "expected": 10, "actual": 3},
            {"resource": "alias", "name": "live", "action": "update", "field": "version",
             "expected": "a new version of the stack's code and configuration, probed first",
             "actual": "version 1 (differs in timeout_s)"}
        ]})
    );
}

#[test]
fn a_dry_run_prints_the_plan_and_writes_nothing() {
    let f = Fixture::new(STACK);
    let run = f
        .run(&["up", "--dry-run", "--zip", f.zip_v1.to_str().unwrap()])
        .ok();
    assert!(
        run.stdout.contains("+ function    vc-prod"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Dry run: nothing was changed."));
    assert_eq!(run.writes(), Vec::<String>::new());
}
