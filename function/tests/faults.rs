//! DynamoDB misbehaving behind a proxy in front of moto: every request to it fails with 500,
//! 503, throttling, or stalls past the client's timeouts. The real SDK client retries within
//! its budget, then the function answers health 503 and counter 500, each a JSON body with the
//! request id and nothing of AWS's text, inside Lambda's 3 s timeout. When DynamoDB recovers,
//! the same client (built once per execution environment) serves again.
//!
//! The attempts are counted exactly: the increment is sent once after a 500, a 503, a reset or
//! a stall (DynamoDB may have applied it), and as many times as the SDK's standard strategy
//! allows after throttling (which proves nothing was applied); the read is retried for each.
//! The tests' client backs off for a millisecond instead of up to seconds, so that every retry
//! the strategy allows fits in the function's 2 s budget and the count does not hang on jitter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::retry::RetryConfig;
use function::{handle, State};
use lambda_http::http::StatusCode;
use support::{config, event, json};
use testkit::{Call, Fault, Faults, Moto, Recorder};

/// The attempts of the SDK's standard retry strategy, which the function keeps.
const MAX_ATTEMPTS: usize = 3;

/// How many times `fault` on every request lets the increment (`counter`) or the read be sent.
fn attempts_allowed(fault: Fault, counter: bool) -> usize {
    match (counter, fault) {
        (true, Fault::Throttle) | (false, _) => MAX_ATTEMPTS,
        (true, _) => 1,
    }
}

/// Lambda's timeout for the deployed function is 3 s: the answer must come well before it.
const BUDGET: Duration = Duration::from_millis(2500);

/// The counter table on moto, a client straight to it, and the function's state whose client
/// goes through a fault proxy.
struct Behind {
    _moto: Moto,
    direct: aws_sdk_dynamodb::Client,
    proxy: Recorder,
    state: State,
}

async fn behind_proxy() -> Behind {
    let moto = Moto::start();
    let direct = function::dynamodb_client(moto.loader()).await;
    testkit::create_counter_table(&direct, "visitors")
        .await
        .unwrap();
    let proxy = Recorder::start(moto.endpoint());
    let fast = RetryConfig::standard().with_initial_backoff(Duration::from_millis(1));
    let loader = testkit::dummy_loader()
        .endpoint_url(proxy.endpoint())
        .retry_config(fast);
    let db = function::dynamodb_client(loader).await;
    Behind {
        _moto: moto,
        direct,
        proxy,
        state: State::new(db, config()),
    }
}

async fn check(fault: Fault) {
    // `_moto` is bound, not dropped: the emulator lives as long as the test.
    let Behind {
        _moto,
        proxy,
        state,
        ..
    } = behind_proxy().await;

    proxy.faults(Some(Faults::always("dynamodb", fault)));
    for (fixture, expected) in [
        ("rest-get-counter.json", StatusCode::INTERNAL_SERVER_ERROR),
        ("rest-get-health.json", StatusCode::SERVICE_UNAVAILABLE),
    ] {
        proxy.take();
        let started = Instant::now();
        let r = handle(&state, event(fixture)).await;
        let elapsed = started.elapsed();
        assert_eq!(r.status(), expected, "{fault:?}, {fixture}");
        let body = json(&r);
        assert_eq!(body["requestId"], "rest-req-0001", "{fault:?}: {body}");
        for leak in [
            "Throttl",
            "injected",
            "Internal failure",
            "Service",
            "visitors",
        ] {
            assert!(
                !body.to_string().contains(leak),
                "{fault:?}: {leak:?} leaked into {body}"
            );
        }
        assert!(
            elapsed < BUDGET,
            "{fault:?}, {fixture}: answered after {elapsed:?}"
        );
        let attempts = proxy.take().len();
        eprintln!(
            "{fault:?}, {fixture}: {} in {elapsed:?} after {attempts} attempt(s)",
            r.status()
        );
        let counter = expected == StatusCode::INTERNAL_SERVER_ERROR;
        assert_eq!(
            attempts,
            attempts_allowed(fault, counter),
            "{fault:?}, {fixture}: attempts"
        );
    }

    proxy.faults(None);
    let r = handle(&state, event("rest-get-counter.json")).await;
    assert_eq!(r.status(), StatusCode::OK, "{fault:?}: no recovery");
    assert_eq!(json(&r)["count"], 1, "{fault:?}: a failed call counted");
}

#[tokio::test]
async fn dynamodb_500s_give_500_and_503_with_the_request_id() {
    check(Fault::ServerError).await;
}

#[tokio::test]
async fn dynamodb_503s_give_500_and_503_with_the_request_id() {
    check(Fault::Unavailable).await;
}

#[tokio::test]
async fn dynamodb_throttling_gives_500_and_503_in_time() {
    check(Fault::Throttle).await;
}

#[tokio::test]
async fn a_stalled_dynamodb_gives_500_and_503_in_time() {
    check(Fault::Stall(Duration::from_secs(10))).await;
}

#[tokio::test]
async fn dropped_connections_give_500_and_503_in_time() {
    check(Fault::ResetBefore).await;
}

/// The answer to an increment lost after DynamoDB applied it: the visit got a 500, and it was
/// counted once, not again by a retry. Throttling, which applies nothing, is retried. So the
/// final count is exactly the visits answered 200 plus the answers lost, never more.
#[tokio::test]
async fn a_lost_answer_is_never_counted_twice() {
    const VISITS: u64 = 60;
    let Behind {
        _moto,
        direct,
        proxy,
        state,
    } = behind_proxy().await;

    proxy.faults(Some(Faults {
        service: Some("dynamodb".into()),
        ..Faults::new(7, 0.3, vec![Fault::ResetAfter, Fault::Throttle])
    }));
    let (mut answered, mut failed) = (0u64, 0u64);
    let mut injected = Vec::new();
    for visit in 0..VISITS {
        proxy.take();
        let r = handle(&state, event("rest-get-counter.json")).await;
        match r.status() {
            StatusCode::OK => answered += 1,
            StatusCode::INTERNAL_SERVER_ERROR => failed += 1,
            other => panic!("status {other}"),
        }
        let faults = proxy.injected();
        once_applied_never_again(visit, &proxy.take(), &faults);
        injected.extend(faults);
    }
    proxy.faults(None);
    let lost = injected
        .iter()
        .filter(|(_, f)| *f == Fault::ResetAfter)
        .count() as u64;
    let throttled = injected.len() as u64 - lost;
    assert!(
        lost >= 5 && throttled >= 5,
        "too few faults to mean anything: {lost} lost, {throttled} throttled"
    );

    let item = direct
        .get_item()
        .table_name("visitors")
        .key(
            function::contract::DEFAULT_KEY,
            aws_sdk_dynamodb::types::AttributeValue::S(
                function::contract::DEFAULT_COUNTER_ID.into(),
            ),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let count: u64 = item.item().unwrap()[function::contract::COUNT]
        .as_n()
        .unwrap()
        .parse()
        .unwrap();
    eprintln!(
        "{VISITS} visits: {answered} answered, {failed} failed; {lost} answers lost, {throttled} throttled; count {count}"
    );
    assert_eq!(
        count,
        answered + lost,
        "the count is the visits answered plus the answers lost"
    );
    // A visit fails on a lost answer, or (rarely) on throttling that outlasted the retries.
    assert!(failed >= lost, "{failed} failed, {lost} lost");
}

/// One visit's increments (`calls`, with the `faults` injected into them): none is sent after
/// one that DynamoDB applied and whose answer was lost, and throttling is retried at most as
/// often as the SDK's strategy allows.
fn once_applied_never_again(visit: u64, calls: &[Call], faults: &[(Call, Fault)]) {
    assert!(
        (1..=MAX_ATTEMPTS).contains(&calls.len()),
        "visit {visit}: {} increments sent",
        calls.len()
    );
    // Each increment before an applied one failed with a fault (a success ends the visit), so
    // the applied one is the visit's last request exactly when every request had its fault and
    // the reset came last.
    if let Some(at) = faults.iter().position(|(_, f)| *f == Fault::ResetAfter) {
        assert!(
            at + 1 == faults.len() && calls.len() == faults.len(),
            "visit {visit}: an increment was sent again after one was applied and its answer \
             lost: {} requests, the reset was fault {} of {}",
            calls.len(),
            at + 1,
            faults.len()
        );
    }
}
