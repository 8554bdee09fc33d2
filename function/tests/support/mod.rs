//! Fixture events and mocked DynamoDB rules shared by the handler's test binaries.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::error::ResourceNotFoundException;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use function::{Config, State};
use lambda_http::{Body, Request, Response};
use serde_json::Value;

pub const ALLOWED: &str = "https://example.com";

pub fn event(name: &str) -> Request {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn config() -> Config {
    Config::from_lookup(|key| match key {
        "TABLE_NAME" => Some("visitors".into()),
        "CORS_ORIGINS" => Some(format!("{ALLOWED}, https://www.example.com")),
        _ => None,
    })
    .unwrap()
}

pub fn count_rule(n: u64) -> Rule {
    mock!(Client::update_item)
        .match_requests(|r| r.table_name() == Some("visitors"))
        .then_output(move || {
            UpdateItemOutput::builder()
                .attributes("visit_count", AttributeValue::N(n.to_string()))
                .build()
        })
}

pub fn read_rule(n: Option<u64>) -> Rule {
    mock!(Client::get_item).then_output(move || {
        let mut out = GetItemOutput::builder();
        if let Some(n) = n {
            out = out.item("visit_count", AttributeValue::N(n.to_string()));
        }
        out.build()
    })
}

pub fn missing_table_rule() -> Rule {
    mock!(Client::update_item).then_error(|| {
        UpdateItemError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("Requested resource not found: Table: visitors-internal-detail")
                .build(),
        )
    })
}

pub fn state(rules: &[&Rule]) -> State {
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, rules);
    State::new(client, config())
}

pub fn json(r: &Response<Body>) -> Value {
    serde_json::from_slice(r.body().as_ref()).unwrap()
}

pub fn header<'a>(r: &'a Response<Body>, name: &str) -> Option<&'a str> {
    r.headers().get(name).map(|v| v.to_str().unwrap())
}
