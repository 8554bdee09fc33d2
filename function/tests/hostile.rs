//! The function faces the open internet. Whatever arrives through API Gateway (random methods,
//! paths and headers, huge or non-UTF-8 bodies), the answer is JSON with a known status, never a
//! panic. Property-based, with proptest; DynamoDB is the real client answered by mocks.
//!
//! API Gateway always sends a `requestContext`, so the generated events carry one and every case
//! must reach the handler (counted, with a floor). An event with no `requestContext` only comes
//! from a direct `lambda:InvokeFunction` with a hand-written payload: `lambda_http` refuses it
//! before the handler runs, which the last test here proves; the runtime then reports it as an
//! invocation error and the process lives on (`deployer/tests/local.rs` runs that through the
//! real bootstrap).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine as _;
use function::handle;
use std::cell::Cell;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use serde_json::{json, Value};
use support::{count_rule, header, read_rule, state};

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"
        ])
        .prop_map(str::to_string),
        "[A-Z]{1,12}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "/counter",
            "/health",
            "/prod/counter",
            "/prod/health",
            "/counter/",
            "/",
            "//",
            "/prod"
        ])
        .prop_map(str::to_string),
        "/[a-zA-Z0-9%._~/-]{0,200}",
        "/\\PC{0,50}",
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "origin",
            "user-agent",
            "authorization",
            "cookie",
            "content-type"
        ])
        .prop_map(str::to_string),
        // Not Host: API Gateway and Function URLs set it themselves. (lambda_http 1.3.2 panics
        // building the URI from a malformed Host; lambda_runtime's CatchPanic layer turns that
        // into a failed invocation, a 502 from API Gateway, not a dead process.)
        "[a-z][a-z0-9-]{0,20}".prop_filter("API Gateway sets Host", |h| h != "host"),
    ];
    prop::collection::vec((name, "[ -~]{0,300}"), 0..8)
}

fn body() -> impl Strategy<Value = (Option<String>, bool)> {
    prop_oneof![
        Just((None, false)),
        "\\PC{0,200}".prop_map(|s| (Some(s), false)),
        prop::collection::vec(any::<u8>(), 0..2048).prop_map(|b| (
            Some(base64::engine::general_purpose::STANDARD.encode(b)),
            true
        )),
        (1usize..4).prop_map(|mb| (Some("x".repeat(mb * 1024 * 1024)), false)),
    ]
}

fn event(
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &(Option<String>, bool),
    context: bool,
) -> Value {
    let single: serde_json::Map<String, Value> =
        headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let multi: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.clone(), json!([v])))
        .collect();
    let mut e = json!({
        "resource": path, "path": path, "httpMethod": method,
        "headers": single, "multiValueHeaders": multi,
        "queryStringParameters": null, "multiValueQueryStringParameters": null,
        "body": body.0, "isBase64Encoded": body.1,
    });
    if context {
        e["requestContext"] = json!({"stage": "prod", "requestId": "hostile", "httpMethod": method, "path": path, "identity": {}});
    }
    e
}

/// What a hostile request may get when DynamoDB answers (the mocks never fail): served, a
/// preflight, not found, not allowed. A 500 or 503 would be the handler failing on its input.
const STATUSES: [u16; 4] = [200, 204, 404, 405];
const CASES: u32 = 256;

fn config() -> Config {
    Config {
        cases: CASES,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

/// Answers one event the way the runtime would hand it over; `None` when `lambda_http` refuses
/// the event before the handler runs.
fn answer(e: &Value) -> Option<lambda_http::Response<lambda_http::Body>> {
    let req = lambda_http::request::from_str(&e.to_string()).ok()?;
    let increments = count_rule(7);
    let reads = read_rule(Some(7));
    let state = state(&[&increments, &reads]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    Some(runtime.block_on(handle(&state, req)))
}

/// Answers one event as the `bootstrap` does ([`function::invocation`]), or its error.
fn invoked(e: &Value) -> Result<lambda_http::Response<lambda_http::Body>, String> {
    let req = lambda_http::request::from_str(&e.to_string()).map_err(|e| e.to_string())?;
    let increments = count_rule(7);
    let reads = read_rule(Some(7));
    let state = state(&[&increments, &reads]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(function::invocation(&state, req))
        .map_err(|e| e.to_string())
}

#[test]
fn any_request_gets_json_with_a_known_status() {
    let reached = Cell::new(0u32);
    let strategy = (method(), path(), headers(), body());
    TestRunner::new(config())
        .run(&strategy, |(method, path, headers, body)| {
            let e = event(&method, &path, &headers, &body, true);
            let Some(r) = answer(&e) else {
                return Ok(());
            };
            reached.set(reached.get() + 1);
            let status = r.status().as_u16();
            prop_assert!(
                STATUSES.contains(&status),
                "status {status} for {method} {path}"
            );
            prop_assert_eq!(header(&r, "content-type"), Some("application/json"));
            prop_assert_eq!(header(&r, "cache-control"), Some("no-store"));
            if status != 204 {
                let v: Value = serde_json::from_slice(r.body().as_ref()).unwrap();
                prop_assert!(v.is_object(), "{v}");
            }
            Ok(())
        })
        .unwrap();
    // Every generated event has API Gateway's shape: nearly all must reach the handler, or the
    // properties above were checked on too few cases to mean anything.
    let reached = reached.get();
    assert!(
        reached >= CASES * 95 / 100,
        "only {reached} of {CASES} generated events reached the handler"
    );
}

/// A direct invocation's event (no `requestContext`) reaches the function as a pass-through
/// request: it is the deployer's probe, or refused as an invocation error, never served.
#[test]
fn an_event_without_request_context_is_refused_as_an_invocation_error() {
    let strategy = (method(), path(), headers(), body());
    TestRunner::new(Config {
        cases: 64,
        ..config()
    })
    .run(&strategy, |(method, path, headers, body)| {
        let e = event(&method, &path, &headers, &body, false);
        prop_assert!(
            invoked(&e).is_err(),
            "an event with no requestContext was served: {method} {path}"
        );
        Ok(())
    })
    .unwrap();
}
