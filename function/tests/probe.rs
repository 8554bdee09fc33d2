//! The deployer's probe, answered by the handler: a direct invocation (no `requestContext`)
//! whose event is the contract's probe. It reads the counter item and proves the right to
//! increment it with an `UpdateItem` whose condition cannot hold: DynamoDB's
//! `ConditionalCheckFailedException` is a pass, and nothing is counted; any other answer is the
//! reason a visit would fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock, Rule};
use function::contract::probe;
use serde_json::Value;
use support::{missing_table_rule, read_rule, state};

/// The probe event, as Lambda hands a direct invocation to `lambda_http`.
fn probe_request() -> lambda_http::Request {
    lambda_http::request::from_str(&probe::event().to_string()).unwrap()
}

fn answered(rules: &[&Rule]) -> Value {
    let state = state(rules);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = runtime
        .block_on(function::invocation(&state, probe_request()))
        .unwrap();
    serde_json::from_slice(r.body().as_ref()).unwrap()
}

/// The increment's UpdateItem, refused by its condition: what a probe expects. It checks that
/// the probe's request can never count (a condition, and the increment's expression).
fn condition_refused() -> Rule {
    mock!(Client::update_item)
        .match_requests(|r| {
            r.condition_expression()
                == Some("attribute_exists(#key) AND attribute_not_exists(#key)")
                && r.update_expression() == Some("ADD #count :one")
        })
        .then_error(|| {
            UpdateItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder()
                    .message("The conditional request failed")
                    .build(),
            )
        })
}

#[test]
fn a_probe_passes_when_dynamodb_refuses_only_by_the_condition() {
    let (read, refused) = (read_rule(Some(41)), condition_refused());
    let answer = answered(&[&read, &refused]);
    assert_eq!(answer[probe::OK], true, "{answer}");
    assert_eq!(answer["counter_value"], 41);
    assert_eq!(answer["version"], "$LATEST");
}

#[test]
fn a_probe_fails_with_the_reason_a_visit_would_fail() {
    let (read, missing) = (read_rule(Some(41)), missing_table_rule());
    let answer = answered(&[&read, &missing]);
    assert_eq!(answer[probe::OK], false, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("UpdateItem"), "{message}");
}

#[test]
fn an_update_that_went_through_is_a_failure_never_a_pass() {
    let read = read_rule(Some(41));
    let applied = mock!(Client::update_item).then_output(|| UpdateItemOutput::builder().build());
    let answer = answered(&[&read, &applied]);
    assert_eq!(answer[probe::OK], false, "{answer}");
}
