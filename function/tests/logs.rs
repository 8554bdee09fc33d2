//! The log lines the handler writes, read back through the production JSON subscriber.
//!
//! In a test binary of their own: tracing caches per-callsite interest process-wide, so a test
//! on another thread with no subscriber could make these callsites silent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use function::handle;
use lambda_http::http::StatusCode;
use serde_json::Value;
use support::*;

/// A `MakeWriter` that keeps what the subscriber writes, for reading back in the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

#[tokio::test]
async fn each_request_logs_one_json_line_without_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    let _guard =
        tracing::subscriber::set_default(function::log::subscriber(move || writer.clone()));

    let increments = count_rule(3);
    let state = state(&[&increments]);
    let r = handle(&state, event("rest-get-secret-headers.json")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = handle(&state, event("rest-get-unknown.json")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let lines = captured.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let first = &lines[0];
    // The keys `deployer logs` reads, from the contract.
    use function::contract::log;
    assert_eq!(first[log::REQUEST_ID], "rest-req-0001");
    assert_eq!(first[log::LEVEL], "INFO");
    assert_eq!(first[log::MESSAGE], "request");
    assert!(
        first[log::TIME].as_str().is_some_and(|t| t.ends_with('Z')),
        "{first}"
    );
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/counter");
    assert_eq!(first["status"], 200);
    assert_eq!(first["cold_start"], true);
    assert!(first["latency_ms"].is_number(), "{first}");
    assert_eq!(first["userAgent"], "U".repeat(100));
    assert_eq!(lines[1]["cold_start"], false);
    assert_eq!(lines[1]["status"], 404);

    let raw = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(!raw.contains("fixture-secret-token"), "{raw}");
    assert!(!raw.contains("fixture-cookie-value"), "{raw}");
}

#[tokio::test]
async fn a_failure_logs_the_details_that_the_client_never_sees() {
    let captured = Captured::default();
    let writer = captured.clone();
    let _guard =
        tracing::subscriber::set_default(function::log::subscriber(move || writer.clone()));

    let failing = missing_table_rule();
    let r = handle(&state(&[&failing]), event("rest-get-counter.json")).await;
    let body = String::from_utf8(r.body().to_vec()).unwrap();
    assert!(!body.contains("visitors-internal-detail"), "{body}");

    let lines = captured.lines();
    let failure = lines
        .iter()
        .find(|l| l["level"] == "ERROR")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(failure["requestId"], "rest-req-0001");
    assert!(
        failure["error"]
            .as_str()
            .unwrap()
            .contains("visitors-internal-detail"),
        "{failure}"
    );
}

mod hostile {
    use super::*;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_sdk_dynamodb::types::error::ResourceNotFoundException;
    use aws_sdk_dynamodb::Client;
    use aws_smithy_mocks::mock;
    use proptest::prelude::*;
    use proptest::test_runner::FileFailurePersistence;
    use serde_json::json;

    fn headers_event(method: &str, path: &str, headers: &[(&str, String)]) -> Value {
        let single: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let multi: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), json!([v])))
            .collect();
        json!({
            "resource": path, "path": path, "httpMethod": method,
            "headers": single, "multiValueHeaders": multi,
            "queryStringParameters": null, "multiValueQueryStringParameters": null,
            "body": null, "isBase64Encoded": false,
            "requestContext": {"stage": "prod", "requestId": "hostile-logs", "httpMethod": method,
                               "path": path, "identity": {}},
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 128,
            failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
            ..ProptestConfig::default()
        })]

        /// Whatever the headers and whether DynamoDB answers or fails, no log line holds an
        /// Authorization or Cookie value, and no userAgent is longer than 100 characters.
        #[test]
        fn no_log_line_holds_a_credential_or_a_long_user_agent(
            secret in "[A-Za-z0-9]{16,40}",
            cookie in "[A-Za-z0-9]{16,40}",
            agent in "\\PC{0,400}",
            header_case in any::<bool>(),
            method in prop::sample::select(vec!["GET", "POST", "OPTIONS", "DELETE"]),
            path in prop::sample::select(vec!["/counter", "/health", "/nope"]),
            dynamodb_fails in any::<bool>(),
        ) {
            let (auth, cookie_name, ua) = if header_case {
                ("Authorization", "Cookie", "User-Agent")
            } else {
                ("authorization", "cookie", "user-agent")
            };
            let headers = [
                (auth, format!("Bearer tok{secret}")),
                (cookie_name, format!("session=ck{cookie}")),
                (ua, agent),
                ("origin", ALLOWED.to_string()),
            ];
            let e = headers_event(method, path, &headers);
            let req = lambda_http::request::from_str(&e.to_string()).unwrap();

            let captured = Captured::default();
            let writer = captured.clone();
            let _guard = tracing::subscriber::set_default(function::log::subscriber(move || writer.clone()));
            let (ok, reads) = (count_rule(1), read_rule(Some(1)));
            let failing_read = mock!(Client::get_item).then_error(|| {
                GetItemError::ResourceNotFoundException(
                    ResourceNotFoundException::builder().message("no table").build(),
                )
            });
            let failing = missing_table_rule();
            let state = if dynamodb_fails {
                state(&[&failing, &failing_read])
            } else {
                state(&[&ok, &reads])
            };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(handle(&state, req));

            let raw = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
            prop_assert!(!raw.is_empty(), "nothing was logged");
            prop_assert!(!raw.contains(&secret), "an Authorization value was logged: {}", raw);
            prop_assert!(!raw.contains(&cookie), "a Cookie value was logged: {}", raw);
            for line in captured.lines() {
                if let Some(agent) = line["userAgent"].as_str() {
                    prop_assert!(agent.chars().count() <= 100, "userAgent of {} chars", agent.chars().count());
                }
            }
        }
    }
}
