//! The handler against a real moto server, in-process: real SDK client, real HTTP, real
//! DynamoDB semantics (as far as moto goes). Each test starts its own emulator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use function::{handle, State};
use lambda_http::http::StatusCode;
use lambda_http::RequestExt;
use support::{config, event, json};
use testkit::Moto;

async fn counter_table(moto: &Moto) -> Client {
    let db = function::dynamodb_client(moto.loader()).await;
    testkit::create_counter_table(&db, "visitors")
        .await
        .unwrap();
    db
}

async fn raw_item(db: &Client) -> std::collections::HashMap<String, AttributeValue> {
    db.get_item()
        .table_name("visitors")
        .key("id", AttributeValue::S("main_counter".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default()
}

#[tokio::test]
async fn the_counter_goes_1_2_3_from_a_fresh_table() {
    let moto = Moto::start();
    let state = State::new(counter_table(&moto).await, config());
    for expected in 1..=3 {
        let r = handle(&state, event("rest-get-counter.json")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(json(&r)["count"], expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_concurrent_increments_end_at_exactly_two_thousand() {
    const TOTAL: usize = 2000;
    const TASKS: usize = 32;
    let moto = Moto::start();
    let db = counter_table(&moto).await;
    let state = Arc::new(State::new(db.clone(), config()));

    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let state = Arc::clone(&state);
            // 2000 = 32 × 62 + 16: the first 16 tasks take one more.
            let share = TOTAL / TASKS + usize::from(t < TOTAL % TASKS);
            tokio::spawn(async move {
                let mut seen = Vec::with_capacity(share);
                for _ in 0..share {
                    let r = handle(&state, event("rest-post-counter.json")).await;
                    assert_eq!(r.status(), StatusCode::OK);
                    seen.push(json(&r)["count"].as_u64().unwrap());
                }
                seen
            })
        })
        .collect();
    let mut seen = Vec::with_capacity(TOTAL);
    for task in tasks {
        seen.extend(task.await.unwrap());
    }
    seen.sort_unstable();
    // Atomic: every visitor saw a different number, and together they saw 1..=2000.
    assert_eq!(seen, (1..=TOTAL as u64).collect::<Vec<_>>());
    let item = raw_item(&db).await;
    assert_eq!(item["visit_count"], AttributeValue::N(TOTAL.to_string()));
}

/// `rest-get-counter.json` with `headers` set (a `User-Agent`, a prefetch's header).
fn counter_event(headers: &[(&str, &str)]) -> lambda_http::Request {
    let path = format!(
        "{}/tests/data/rest-get-counter.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (name, value) in headers {
        event["headers"][name] = serde_json::json!(value);
        event["multiValueHeaders"][name] = serde_json::json!([value]);
    }
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

#[tokio::test]
async fn crawlers_previews_audits_and_prefetches_get_the_count_uncounted_and_visitors_count() {
    let moto = Moto::start();
    let db = counter_table(&moto).await;
    let state = State::new(db.clone(), config());
    let chrome = testkit::visitors::CHROME;
    let r = handle(&state, counter_event(&[("User-Agent", chrome)])).await;
    assert_eq!(
        (json(&r)["count"].clone(), json(&r)["counted"].clone()),
        (1.into(), true.into())
    );
    let not_visits = testkit::visitors::NOT_VISITS;
    for header in not_visits {
        let r = handle(&state, counter_event(&[header])).await;
        assert_eq!(r.status(), StatusCode::OK, "{header:?}");
        assert_eq!(json(&r)["count"], 1, "{header:?} was counted");
        assert_eq!(json(&r)["counted"], false, "{header:?}");
    }
    assert_eq!(
        raw_item(&db).await["visit_count"],
        AttributeValue::N("1".into())
    );
    let r = handle(&state, counter_event(&[("User-Agent", chrome)])).await;
    assert_eq!(json(&r)["count"], 2, "a browser's next visit counts");

    // With COUNT_BOTS=true, a crawler counts like anyone.
    let counting = function::Config::from_lookup(|key| match key {
        "TABLE_NAME" => Some("visitors".into()),
        "COUNT_BOTS" => Some("true".into()),
        "CORS_ORIGINS" => Some("https://example.com".into()),
        _ => None,
    })
    .unwrap();
    let state = State::new(db, counting);
    let r = handle(&state, counter_event(&[not_visits[0]])).await;
    assert_eq!(json(&r)["count"], 3);
}

#[tokio::test]
async fn health_reads_the_count_and_leaves_the_item_untouched() {
    let moto = Moto::start();
    let db = counter_table(&moto).await;
    let state = State::new(db.clone(), config());

    let r = handle(&state, event("rest-get-health.json")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json(&r)["counter_value"], 0);
    assert!(raw_item(&db).await.is_empty(), "health created the item");

    for _ in 0..3 {
        handle(&state, event("rest-get-counter.json")).await;
    }
    let before = raw_item(&db).await;
    assert!(before.contains_key("last_updated") && before.contains_key("created_date"));
    // last_updated has one-second resolution at best: wait so that a write would show.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = handle(&state, event("http-get-health.json")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json(&r);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["counter_value"], 3);
    assert_eq!(raw_item(&db).await, before, "health wrote to the item");
}

#[tokio::test]
async fn a_missing_table_is_503_for_health_and_500_for_the_counter() {
    let moto = Moto::start();
    let db = function::dynamodb_client(moto.loader()).await;
    let state = State::new(db, config());

    let r = handle(&state, event("rest-get-health.json")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let health = json(&r);
    assert_eq!(health["requestId"], "rest-req-0001");

    let r = handle(&state, event("rest-get-counter.json")).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let counter = json(&r);
    assert_eq!(counter["requestId"], "rest-req-0001");
    assert_eq!(
        counter["message"],
        "Unable to process request. Please try again."
    );
    for body in [health.to_string(), counter.to_string()] {
        for leak in [
            "ResourceNotFound",
            "Requested resource",
            "visitors",
            "DynamoDB",
        ] {
            assert!(!body.contains(leak), "{leak:?} leaked into {body}");
        }
    }
}

/// A TCP endpoint that accepts connections and never answers: a hung DynamoDB.
async fn silent_endpoint() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (url, holder)
}

#[tokio::test]
async fn a_hung_dynamodb_answers_500_and_503_well_before_the_lambda_timeout() {
    let (url, holder) = silent_endpoint().await;
    let db = function::dynamodb_client(testkit::dummy_loader().endpoint_url(url)).await;
    let state = State::new(db, config());

    let started = Instant::now();
    let (counter, health) = tokio::join!(
        handle(&state, event("rest-get-counter.json")),
        handle(&state, event("rest-get-health.json")),
    );
    let elapsed = started.elapsed();
    holder.abort();

    assert_eq!(counter.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&counter)["requestId"], "rest-req-0001");
    assert!(
        elapsed < Duration::from_millis(2500),
        "answered after {elapsed:?}; Lambda's 3 s timeout needs the answer by 2.5 s"
    );
}

#[tokio::test]
async fn a_short_lambda_deadline_still_gets_a_json_answer_in_time() {
    let (url, holder) = silent_endpoint().await;
    let db = function::dynamodb_client(testkit::dummy_loader().endpoint_url(url)).await;
    let state = State::new(db, config());

    // A function configured with a 1.5 s timeout: the SDK's own 2 s limit would be too late.
    // The handler gives up DEADLINE_MARGIN (250 ms) before the deadline, at about 1.25 s. The
    // health read, which the SDK retries after each 800 ms attempt, would otherwise wait 2 s
    // (the increment is never retried after a timeout: see counter.rs).
    let mut context = lambda_http::Context::default();
    context.request_id = "short-deadline".into();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    context.deadline = (now + Duration::from_millis(1500)).as_millis() as u64;
    let req = event("rest-get-health.json").with_lambda_context(context);

    let started = Instant::now();
    let r = handle(&state, req).await;
    let elapsed = started.elapsed();
    holder.abort();

    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&r)["requestId"], "short-deadline");
    // Before the SDK's 2 s, so the deadline bounded the wait; half a second of slack beyond the
    // handler's aim for a busy machine's scheduling.
    assert!(
        elapsed >= Duration::from_millis(1200) && elapsed < Duration::from_millis(1750),
        "answered after {elapsed:?}; the handler aims at 1.25 s, before the SDK's 2 s"
    );
}
