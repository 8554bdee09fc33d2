//! `down` is the one verb that destroys, so it is held to more than "it removes things":
//! - without `--delete-table` the table (the data) is never touched;
//! - with it, deletion protection is turned off explicitly, first, and the user is told;
//! - against a stack that was never deployed, resources that merely have the derived names
//!   (someone else's) are left alone and reported, never deleted;
//! - it deletes as a graph, in 6 waves at 40 ms per request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use serde_json::json;
use support::{Fixture, STACK};

#[tokio::test]
async fn down_keeps_the_table_and_delete_table_turns_protection_off_first_and_says_so() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let c = f.clients().await;

    let run = f.run(&["down"]).ok();
    assert!(
        !run.writes().iter().any(|w| w.starts_with("dynamodb")),
        "down without --delete-table wrote to the table: {:?}",
        run.writes()
    );
    let table = c
        .dynamodb
        .describe_table()
        .table_name("vc-prod")
        .send()
        .await
        .unwrap();
    assert_eq!(
        table.table().unwrap().deletion_protection_enabled(),
        Some(true)
    );

    let run = f.run(&["down", "--delete-table"]).ok();
    // DeleteTable is refused (ResourceInUseException) while the change of protection settles,
    // and sent again: what went through is the change, then the deletion.
    let table_writes: Vec<String> = run
        .applied()
        .into_iter()
        .filter(|w| w.starts_with("dynamodb"))
        .collect();
    assert_eq!(
        table_writes,
        ["dynamodb UpdateTable", "dynamodb DeleteTable"]
    );
    assert!(
        run.stderr
            .contains("turning deletion protection off, as --delete-table asks"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("table vc-prod (deleted)"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn down_on_a_stack_never_deployed_deletes_nothing_that_is_someone_elses() {
    let f = Fixture::new(STACK);
    let c = f.clients().await;

    // Someone else's resources, under exactly the names this stack would derive, untagged.
    testkit::create_counter_table(&c.dynamodb, "vc-prod")
        .await
        .unwrap();
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let role = c
        .iam
        .create_role()
        .role_name("vc-prod-role")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    c.logs
        .create_log_group()
        .log_group_name("/aws/lambda/vc-prod")
        .send()
        .await
        .unwrap();
    c.lambda
        .create_function()
        .function_name("vc-prod")
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role.role().unwrap().arn())
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(std::fs::read(&f.zip_v1).unwrap()))
                .build(),
        )
        .send()
        .await
        .unwrap();
    // An API with the derived name but no tags, and APIs of another stage and another stack.
    let tagged = |stack: &str, stage: &str| {
        HashMap::from([
            ("deployer:stack".to_string(), stack.to_string()),
            ("deployer:stage".to_string(), stage.to_string()),
        ])
    };
    c.apigateway
        .create_rest_api()
        .name("vc-prod")
        .send()
        .await
        .unwrap();
    c.apigateway
        .create_rest_api()
        .name("vc-staging")
        .set_tags(Some(tagged("vc", "staging")))
        .send()
        .await
        .unwrap();
    c.apigateway
        .create_rest_api()
        .name("other-prod")
        .set_tags(Some(tagged("other", "prod")))
        .send()
        .await
        .unwrap();

    let run = f.run(&["--output", "json", "down", "--delete-table"]).ok();
    assert_eq!(
        run.writes(),
        Vec::<String>::new(),
        "down wrote to someone else's resources"
    );
    assert_eq!(
        run.json(),
        json!({"deleted": [], "retained": [], "skipped": [
            "function vc-prod", "log_group /aws/lambda/vc-prod", "role vc-prod-role", "table vc-prod"]})
    );
    let text = f.run(&["down"]).ok();
    assert!(
        text.stdout.contains(
            "? role vc-prod-role (left alone: it exists but does not carry this stack's tags)"
        ),
        "{}",
        text.stdout
    );

    // Everything is still there.
    assert_eq!(
        c.apigateway
            .get_rest_apis()
            .send()
            .await
            .unwrap()
            .items()
            .len(),
        3
    );
    c.lambda
        .get_function()
        .function_name("vc-prod")
        .send()
        .await
        .unwrap();
    c.iam
        .get_role()
        .role_name("vc-prod-role")
        .send()
        .await
        .unwrap();
    c.dynamodb
        .describe_table()
        .table_name("vc-prod")
        .send()
        .await
        .unwrap();
    let groups = c
        .logs
        .describe_log_groups()
        .log_group_name_prefix("/aws/lambda/vc-prod")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.log_groups().len(), 1);
}

/// `down --delete-table` is 6 waves: STS beside the lease's read; taking the lease; every kind
/// read at once (the role's and the table's included); the deletions and the role's policies;
/// the role; the table, last (it holds the lease, which goes with it, unreleased). Each answer
/// leaves a whole round trip after its request came (`round_trip`), as in a region: moto serves
/// a wave one request after another, and its late answers could otherwise land among the next
/// wave's and chain requests that do not depend on each other (a count of 7 seen once).
#[tokio::test]
async fn down_deletes_as_a_graph_in_few_waves() {
    let f = Fixture::with(
        STACK,
        Some(testkit::Realism {
            round_trip: true,
            ..testkit::Realism::latency_only(Duration::from_millis(200))
        }),
    );
    f.up(&f.zip_v1).ok();
    let run = f.run(&["down", "--delete-table"]).ok();
    let waves = testkit::waves(&run.calls);
    let report: Vec<String> = run
        .calls
        .iter()
        .map(|c| {
            format!(
                "{:>5} {:>5} {c}",
                c.sent.as_millis(),
                c.answered.unwrap_or_default().as_millis()
            )
        })
        .collect();
    assert!(
        waves <= 6,
        "down took {waves} waves:\n{}",
        report.join("\n")
    );
    // Every answer took its whole round trip: the waves were the deployer's, not moto's pace.
    let quick: Vec<&String> = run
        .calls
        .iter()
        .zip(&report)
        .filter(|(c, _)| {
            c.answered
                .is_some_and(|a| a - c.sent < Duration::from_millis(200))
        })
        .map(|(_, line)| line)
        .collect();
    assert_eq!(
        quick,
        Vec::<&String>::new(),
        "answered within the round trip"
    );
}
