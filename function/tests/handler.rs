//! The handler on fixture events, with no network: DynamoDB is the real SDK client answered by
//! `aws-smithy-mocks` rules, so every route and error path runs in each event shape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::error::ResourceNotFoundException;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::mock;
use function::{handle, Config};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use support::*;

/// Every response, whatever its status, is JSON, uncached and varies by Origin.
fn assert_common_headers(r: &Response<Body>) {
    assert_eq!(header(r, "content-type"), Some("application/json"));
    assert_eq!(header(r, "cache-control"), Some("no-store"));
    assert_eq!(header(r, "vary"), Some("Origin"));
}

#[tokio::test]
async fn counter_answers_the_new_count_in_every_event_shape() {
    let increments = count_rule(42);
    let reads = read_rule(Some(1));
    let state = state(&[&increments, &reads]);
    let events = [
        "rest-get-counter.json",
        "rest-post-counter.json",
        "rest-post-counter-binary.json",
        "rest-get-counter-stage-prefix.json",
        "http-get-counter.json",
        "http-get-counter-stage-prefix.json",
        "url-get-counter-allowed.json",
        "url-post-counter-garbage.json",
    ];
    for name in events {
        let r = handle(&state, event(name)).await;
        assert_eq!(r.status(), StatusCode::OK, "{name}");
        assert_eq!(
            json(&r),
            serde_json::json!({"count": 42, "counted": true}),
            "{name}"
        );
        assert_common_headers(&r);
    }
    assert_eq!(
        increments.num_calls(),
        events.len(),
        "one UpdateItem per request"
    );
    assert_eq!(
        reads.num_calls(),
        0,
        "the counter never reads before writing"
    );
}

#[tokio::test]
async fn health_reports_the_count_and_never_writes() {
    let increments = count_rule(1);
    let reads = read_rule(Some(7));
    let state = state(&[&increments, &reads]);
    for name in [
        "rest-get-health.json",
        "http-get-health.json",
        "url-get-health.json",
    ] {
        let r = handle(&state, event(name)).await;
        assert_eq!(r.status(), StatusCode::OK, "{name}");
        let body = json(&r);
        assert_eq!(body["status"], "healthy");
        assert_eq!(body["database"], "connected");
        assert_eq!(body["counter_value"], 7);
        assert_common_headers(&r);
    }
    assert_eq!(reads.num_calls(), 3);
    assert_eq!(increments.num_calls(), 0);
}

#[tokio::test]
async fn health_of_a_counter_nobody_has_hit_yet_is_zero() {
    let reads = read_rule(None);
    let r = handle(&state(&[&reads]), event("rest-get-health.json")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json(&r)["counter_value"], 0);
}

#[tokio::test]
async fn an_allowed_origin_is_echoed_and_any_other_gets_no_cors_header() {
    let increments = count_rule(1);
    let reads = read_rule(Some(1));
    let state = state(&[&increments, &reads]);

    let r = handle(&state, event("rest-get-counter.json")).await;
    assert_eq!(header(&r, "access-control-allow-origin"), Some(ALLOWED));

    for name in [
        "rest-get-counter-denied-origin.json",
        "url-get-counter.json",
    ] {
        let r = handle(&state, event(name)).await;
        assert_eq!(r.status(), StatusCode::OK, "{name}");
        assert_eq!(header(&r, "access-control-allow-origin"), None, "{name}");
        assert_common_headers(&r);
    }
    // Another site's page gets the count, uncounted: it cannot inflate it through its own
    // visitors' browsers.
    assert_eq!(increments.num_calls(), 1);
    assert_eq!(reads.num_calls(), 2);
    let r = handle(&state, event("rest-get-counter-denied-origin.json")).await;
    assert_eq!(json(&r)["counted"], false);
}

#[tokio::test]
async fn a_preflight_allows_the_headers_the_page_asks_for_or_the_configured_list() {
    let state = state(&[]);
    let r = handle(&state, event("rest-options-counter-custom-headers.json")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(
        header(&r, "access-control-allow-headers"),
        Some("content-type, x-visitor-id")
    );

    let listed = Config::from_lookup(|key| match key {
        "TABLE_NAME" => Some("visitors".into()),
        "CORS_ORIGINS" => Some(ALLOWED.into()),
        "CORS_HEADERS" => Some("Content-Type, X-Api-Version".into()),
        _ => None,
    })
    .unwrap();
    let client = aws_smithy_mocks::mock_client!(aws_sdk_dynamodb, []);
    let state = function::State::new(client, listed);
    let r = handle(&state, event("rest-options-counter-custom-headers.json")).await;
    assert_eq!(
        header(&r, "access-control-allow-headers"),
        Some("Content-Type, X-Api-Version")
    );
    assert_eq!(header(&r, "vary"), Some("Origin"));

    // A disallowed origin still gets nothing.
    let state = support::state(&[]);
    let r = handle(&state, event("rest-options-counter-denied.json")).await;
    assert_eq!(header(&r, "access-control-allow-headers"), None);
}

#[tokio::test]
async fn preflight_answers_204_with_cors_only_for_an_allowed_origin() {
    let increments = count_rule(1);
    let state = state(&[&increments]);

    let r = handle(&state, event("rest-options-counter-allowed.json")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(
        header(&r, "access-control-allow-methods"),
        Some("GET, POST, OPTIONS")
    );
    assert_eq!(
        header(&r, "access-control-allow-headers"),
        Some("Content-Type")
    );
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    assert_eq!(header(&r, "cache-control"), Some("no-store"));
    assert_eq!(
        header(&r, "vary"),
        Some("Origin, Access-Control-Request-Headers")
    );

    let r = handle(&state, event("http-options-health-allowed.json")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header(&r, "access-control-allow-methods"),
        Some("GET, OPTIONS")
    );

    let r = handle(&state, event("rest-options-counter-denied.json")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    assert_eq!(header(&r, "access-control-allow-methods"), None);

    assert_eq!(
        increments.num_calls(),
        0,
        "a preflight never counts a visit"
    );
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405_with_allow() {
    let increments = count_rule(1);
    let state = state(&[&increments]);
    for (name, allow) in [
        ("rest-delete-counter.json", "GET, POST, OPTIONS"),
        ("rest-post-health.json", "GET, OPTIONS"),
        ("http-put-counter.json", "GET, POST, OPTIONS"),
    ] {
        let r = handle(&state, event(name)).await;
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{name}");
        assert_eq!(header(&r, "allow"), Some(allow), "{name}");
        assert_eq!(json(&r)["status"], "error");
        assert_common_headers(&r);
    }
    assert_eq!(increments.num_calls(), 0);
}

#[tokio::test]
async fn an_unknown_path_is_a_json_404() {
    let state = state(&[]);
    for name in [
        "rest-get-unknown.json",
        "http-get-unknown.json",
        "url-get-unknown.json",
    ] {
        let r = handle(&state, event(name)).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{name}");
        assert_eq!(json(&r)["message"], "Not found");
        assert_common_headers(&r);
    }
}

#[tokio::test]
async fn a_dynamodb_failure_is_a_generic_500_with_the_request_id() {
    let failing = missing_table_rule();
    let r = handle(&state(&[&failing]), event("rest-get-counter.json")).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = json(&r);
    assert_eq!(
        body,
        serde_json::json!({
            "status": "error",
            "message": "Unable to process request. Please try again.",
            "requestId": "rest-req-0001",
        })
    );
    assert_common_headers(&r);
}

#[tokio::test]
async fn health_is_503_when_the_table_cannot_be_read() {
    let reads = mock!(Client::get_item).then_error(|| {
        aws_sdk_dynamodb::operation::get_item::GetItemError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("Requested resource not found")
                .build(),
        )
    });
    let r = handle(&state(&[&reads]), event("http-get-health.json")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        json(&r),
        serde_json::json!({"status": "unhealthy", "database": "error", "requestId": "http-req-0002"})
    );
}

#[tokio::test]
async fn a_counter_item_that_is_not_a_number_is_a_500() {
    let odd = mock!(Client::update_item).then_output(|| {
        UpdateItemOutput::builder()
            .attributes("visit_count", AttributeValue::S("many".into()))
            .build()
    });
    let r = handle(&state(&[&odd]), event("rest-get-counter.json")).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn the_lambda_request_id_is_the_one_reported() {
    let failing = missing_table_rule();
    let mut context = lambda_http::Context::default();
    context.request_id = "lambda-req-9".into();
    let req = lambda_http::RequestExt::with_lambda_context(event("rest-get-counter.json"), context);
    let r = handle(&state(&[&failing]), req).await;
    assert_eq!(json(&r)["requestId"], "lambda-req-9");
}

#[test]
fn configuration_needs_a_table_and_defaults_the_rest() {
    let error = Config::from_lookup(|_| None).unwrap_err();
    assert!(error.contains("TABLE_NAME is not set"), "{error}");
    let error = Config::from_lookup(|k| (k == "TABLE_NAME").then(|| "  ".into())).unwrap_err();
    assert!(error.contains("TABLE_NAME"), "{error}");

    let config = Config::from_lookup(|k| (k == "TABLE_NAME").then(|| "t".into())).unwrap();
    assert_eq!(config.item.table, "t");
    assert_eq!(config.item.id, "main_counter");
    assert_eq!(config.item.key, "id");
    assert_eq!(config.cors.allow_origin(Some(ALLOWED)), None);

    // A hand-built table keyed otherwise: the key comes from the stack, through TABLE_KEY.
    let config = Config::from_lookup(|k| match k {
        "TABLE_NAME" => Some("t".into()),
        "TABLE_KEY" => Some("counter_id".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(config.item.key, "counter_id");
}
