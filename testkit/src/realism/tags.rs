//! The characters each service takes in a tag, which moto does not check: DynamoDB's "letters,
//! white space, and numbers representable in UTF-8, plus + - = . _ : /" (developer guide,
//! tagging restrictions: no `@`, which other services take), and API Gateway's "[a-zA-Z+-=._:/]"
//! (API reference, TagResource: ASCII letters and digits, no space).

use serde_json::Value;

use super::{Answer, Layer, Met};
use crate::faults;
use crate::wire::Exchange;

const SIGNS: &str = "+-=._:/";

/// A request's tags, key and value.
type Pairs = Vec<(String, String)>;

/// The refusal of a request that tags with a character its service does not take.
pub(super) fn refused(layer: &Layer, ex: &Exchange<'_>) -> Option<Answer> {
    let op = ex.call.operation.as_str();
    let (pairs, takes, code): (Pairs, fn(char) -> bool, &str) = match ex.call.service.as_str() {
        "dynamodb" if matches!(op, "CreateTable" | "TagResource") => {
            (listed(&ex.json()["Tags"]), dynamodb, "ValidationException")
        }
        "apigateway"
            if op == "POST /restapis"
                || op.ends_with("/stages")
                || op.starts_with("PUT /tags/") =>
        {
            (
                mapped(&ex.json()["tags"]),
                api_gateway,
                "BadRequestException",
            )
        }
        _ => return None,
    };
    let bad = pairs
        .iter()
        .find(|(k, v)| !k.chars().chain(v.chars()).all(takes))?;
    layer.met(Met::TagCharacters);
    let message = format!(
        "tag {:?}: {:?} holds a character the service does not take in a tag",
        bad.0, bad.1
    );
    Some(faults::aws_error(&ex.call.service, 400, code, &message))
}

fn dynamodb(ch: char) -> bool {
    ch.is_alphanumeric() || ch.is_whitespace() || SIGNS.contains(ch)
}

fn api_gateway(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || SIGNS.contains(ch)
}

/// DynamoDB's `[{"Key": …, "Value": …}]`.
fn listed(tags: &Value) -> Pairs {
    let text = |t: &Value, k: &str| t[k].as_str().unwrap_or_default().to_string();
    tags.as_array()
        .into_iter()
        .flatten()
        .map(|t| (text(t, "Key"), text(t, "Value")))
        .collect()
}

/// API Gateway's `{"key": "value"}`.
fn mapped(tags: &Value) -> Pairs {
    tags.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}
