//! The function's figures: its in-process handler against a bare `UpdateItem`, and the released
//! `bootstrap` through the Lambda Runtime API (cold start, init, warm latency, peak RSS, and
//! exactness under concurrency).

use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use deployer::local::runtime_api::{Outcome, Sandbox, Spec};
use function::contract;
use serde_json::{json, Value};
use testkit::Moto;

use crate::{median, Error, REQUESTS};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted
        .get(i)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(f64::NAN)
}

fn summary(mut samples: Vec<Duration>) -> Value {
    samples.sort();
    json!({
        "p50_ms": percentile(&samples, 0.50),
        "p90_ms": percentile(&samples, 0.90),
        "p99_ms": percentile(&samples, 0.99),
        "n": samples.len(),
    })
}

pub async fn in_process(root: &Path) -> Result<Value, Error> {
    let moto = Moto::start();
    let db = function::dynamodb_client(moto.loader()).await;
    testkit::create_counter_table(&db, "visitors")
        .await
        .map_err(|e| e.to_string())?;
    let config = function::Config::from_lookup(|k| match k {
        contract::env::TABLE_NAME => Some("visitors".to_string()),
        contract::env::CORS_ORIGINS => Some(ORIGIN.to_string()),
        _ => None,
    })?;
    let state = function::State::new(db.clone(), config);
    let event = std::fs::read_to_string(root.join("function/tests/data/rest-post-counter.json"))?;

    // Interleave the two measurements in blocks, so that drift in the machine's load hits both.
    let (mut handler, mut floor) = (Vec::with_capacity(REQUESTS), Vec::with_capacity(REQUESTS));
    for _ in 0..50 {
        function::handle(&state, lambda_http::request::from_str(&event)?).await;
    }
    for _ in 0..REQUESTS / 100 {
        for _ in 0..100 {
            let req = lambda_http::request::from_str(&event)?;
            let started = Instant::now();
            let r = function::handle(&state, req).await;
            handler.push(started.elapsed());
            counted(&r)?;
        }
        for _ in 0..100 {
            let started = Instant::now();
            db.update_item()
                .table_name("visitors")
                .key(contract::DEFAULT_KEY, AttributeValue::S("floor".into()))
                .update_expression(
                    "ADD #count :one SET #updated = :now, #created = if_not_exists(#created, :now)",
                )
                .expression_attribute_names("#count", contract::COUNT)
                .expression_attribute_names("#updated", contract::LAST_UPDATED)
                .expression_attribute_names("#created", contract::CREATED)
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(
                    ":now",
                    AttributeValue::S("2026-11-26T00:00:00Z".into()),
                )
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await?;
            floor.push(started.elapsed());
        }
    }
    let (h, f) = (summary(handler), summary(floor));
    let ratio = h["p50_ms"].as_f64().unwrap_or(f64::NAN) / f["p50_ms"].as_f64().unwrap_or(f64::NAN);
    Ok(json!({"handler_counter": h, "bare_update_item": f, "p50_ratio": ratio}))
}

/// Refuses an answer that is not a counted visit: it would not measure the write.
fn counted(r: &lambda_http::Response<lambda_http::Body>) -> Result<(), Error> {
    let body = std::str::from_utf8(r.body().as_ref()).unwrap_or_default();
    if r.status() == 200 && body.contains("\"counted\":true") {
        return Ok(());
    }
    Err(format!(
        "the handler answered {} {body}: not a counted visit, so not what is measured",
        r.status()
    )
    .into())
}

/// The origin of the page the bench's event comes from (`rest-post-counter.json`): allowed, as
/// the deployed stack allows its site, so that each request is a visit and is counted (a
/// refused origin gets the count, uncounted, and writes nothing).
const ORIGIN: &str = "https://example.com";

/// The Lambda environment of the bench's function, against `endpoint`.
fn spec(root: &Path, endpoint: &str, table: &str) -> Spec {
    let env = [
        ("AWS_LAMBDA_FUNCTION_NAME", "vc-prod"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", endpoint),
        (contract::env::TABLE_NAME, table),
        (contract::env::CORS_ORIGINS, ORIGIN),
    ];
    Spec {
        program: root.join("target/release/bootstrap"),
        args: Vec::new(),
        cwd: None,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        timeout: Duration::from_secs(3),
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:vc-prod".into(),
        logs: lambda_local::Logs::Discard,
    }
}

pub async fn through_runtime_api(root: &Path, floor_p50: f64) -> Result<Value, Error> {
    let moto = Moto::start();
    let db = function::dynamodb_client(moto.loader()).await;
    for table in ["visitors", "exact"] {
        testkit::create_counter_table(&db, table)
            .await
            .map_err(|e| e.to_string())?;
    }
    let event = bytes::Bytes::from(std::fs::read(
        root.join("function/tests/data/rest-post-counter.json"),
    )?);

    // Cold starts: a fresh process each time, from spawn to the first answer; `bootstrap` and the
    // bare "hello" alternate, so that the machine's drift hits both alike.
    let hello = Spec {
        program: root.join("target/release/hello"),
        ..spec(root, moto.endpoint(), "visitors")
    };
    let (mut cold, mut inits, mut hello_cold, mut hello_inits, mut rss) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), 0u64);
    for _ in 0..COLD_ROUNDS {
        let (c, i, r) = cold_start(&spec(root, moto.endpoint(), "visitors"), &event).await?;
        cold.push(c);
        inits.push(i);
        rss = rss.max(r);
        let (c, i, _) = cold_start(&hello, &event).await?;
        hello_cold.push(c);
        hello_inits.push(i);
    }
    let (cold, inits) = (median(cold), median(inits));
    let (hello_cold, hello_inits) = (median(hello_cold), median(hello_inits));

    let (warm, warm_rss) = warm(&spec(root, moto.endpoint(), "visitors"), &event).await?;
    rss = rss.max(warm_rss);

    let exactness = exactness(root, &moto, &db, &event).await?;
    Ok(json!({
        "cold_start_median_ms": cold,
        "init_median_ms": inits,
        "hello_cold_start_median_ms": hello_cold,
        "hello_init_median_ms": hello_inits,
        "cold_start_over_hello_ms": cold - hello_cold,
        // The hello makes no DynamoDB call; the function's first answer waits for one.
        "cold_start_over_hello_less_one_update_item_ms": cold - hello_cold - floor_p50,
        "init_over_hello_ms": inits - hello_inits,
        "warm": warm,
        "warm_p50_over_bare_update_item": warm["p50_ms"].as_f64().unwrap_or(f64::NAN) / floor_p50,
        "peak_rss_kib": rss,
        "exactness": exactness,
    }))
}

/// Whether an invocation answered 200.
fn ok(o: &Outcome) -> bool {
    matches!(o, Outcome::Response(b) if b.windows(16).any(|w| w == b"\"statusCode\":200"))
}

/// Warm: one process, after 50 to warm it up, `REQUESTS` sequential requests; their latency
/// summary and the process's peak RSS.
async fn warm(spec: &Spec, event: &bytes::Bytes) -> Result<(Value, u64), Error> {
    let mut sandbox = Sandbox::spawn(spec).await?;
    for _ in 0..50 {
        sandbox.invoke(event.clone()).await;
    }
    let mut warm = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let outcome = sandbox.invoke(event.clone()).await;
        warm.push(started.elapsed());
        if !ok(&outcome) {
            return Err(format!("warm invocation failed: {outcome:?}").into());
        }
    }
    let rss = sandbox.peak_rss_kib().unwrap_or(0);
    sandbox.stop().await;
    Ok((summary(warm), rss))
}

/// Fresh processes of `spec` per cold-start measure, alternating with the "hello".
const COLD_ROUNDS: usize = 40;

/// One cold start of `spec`: spawn to the first answer, spawn to the first `/next` (init), and
/// the peak RSS, in milliseconds and KiB.
async fn cold_start(spec: &Spec, event: &bytes::Bytes) -> Result<(Duration, Duration, u64), Error> {
    let started = Instant::now();
    let mut sandbox = Sandbox::spawn(spec).await?;
    let outcome = sandbox.invoke(event.clone()).await;
    let cold = started.elapsed();
    if !matches!(&outcome, Outcome::Response(b) if b.windows(16).any(|w| w == b"\"statusCode\":200"))
    {
        return Err(format!(
            "cold invocation of {} failed: {outcome:?}",
            spec.program.display()
        )
        .into());
    }
    let init = sandbox
        .init_duration()
        .ok_or("the process never asked for an invocation")?;
    let rss = sandbox.peak_rss_kib().unwrap_or(0);
    sandbox.stop().await;
    Ok((cold, init, rss))
}

/// Exactness: 4 processes × 500 increments on a fresh item, then the item's count.
async fn exactness(
    root: &Path,
    moto: &Moto,
    db: &aws_sdk_dynamodb::Client,
    event: &bytes::Bytes,
) -> Result<Value, Error> {
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let mut sandbox = Sandbox::spawn(&spec(root, moto.endpoint(), "exact")).await?;
        let event = event.clone();
        tasks.push(tokio::spawn(async move {
            let mut failures = 0;
            for _ in 0..500 {
                if !matches!(sandbox.invoke(event.clone()).await, Outcome::Response(_)) {
                    failures += 1;
                }
            }
            sandbox.stop().await;
            failures
        }));
    }
    let mut failures = 0;
    for t in tasks {
        failures += t.await?;
    }
    let item = db
        .get_item()
        .table_name("exact")
        .key(
            contract::DEFAULT_KEY,
            AttributeValue::S(contract::DEFAULT_COUNTER_ID.into()),
        )
        .consistent_read(true)
        .send()
        .await?;
    let count: u64 = match item.item().and_then(|i| i.get(contract::COUNT)) {
        Some(AttributeValue::N(n)) => n.parse()?,
        _ => 0,
    };
    Ok(
        json!({"processes": 4, "each": 500, "final_count": count, "failed_requests": failures, "exact": count == 2000 && failures == 0}),
    )
}

/// Prints the function's part of the results.
pub fn print(f: &Value) {
    println!("function, in-process against single-threaded moto ({REQUESTS} sequential /counter requests):");
    println!(
        "  {:<22} {:>8} {:>8} {:>8}",
        "", "p50 ms", "p90 ms", "p99 ms"
    );
    for (label, key) in [
        ("handler /counter", "handler_counter"),
        ("bare UpdateItem", "bare_update_item"),
    ] {
        let s = &f[key];
        println!(
            "  {label:<22} {:>8.3} {:>8.3} {:>8.3}",
            s["p50_ms"].as_f64().unwrap_or(f64::NAN),
            s["p90_ms"].as_f64().unwrap_or(f64::NAN),
            s["p99_ms"].as_f64().unwrap_or(f64::NAN)
        );
    }
    println!(
        "  p50 ratio handler / bare UpdateItem: {:.3}",
        f["p50_ratio"].as_f64().unwrap_or(f64::NAN)
    );
    let l = &f["runtime_api"];
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    println!("\nfunction, the released bootstrap through the Lambda Runtime API:");
    println!(
        "  cold start, spawn to first /counter response (median of {COLD_ROUNDS}): {:.2} ms; bare hello {:.2} ms (+{:.2} ms)",
        num(&l["cold_start_median_ms"]),
        num(&l["hello_cold_start_median_ms"]),
        num(&l["cold_start_over_hello_ms"])
    );
    println!(
        "  cold start over the hello, less the one UpdateItem the hello does not make:     {:.2} ms",
        num(&l["cold_start_over_hello_less_one_update_item_ms"])
    );
    println!(
        "  init, spawn to first /next (median of {COLD_ROUNDS}):                   {:.2} ms; bare hello {:.2} ms (+{:.2} ms)",
        num(&l["init_median_ms"]),
        num(&l["hello_init_median_ms"]),
        num(&l["init_over_hello_ms"])
    );
    println!(
        "  warm /counter, {REQUESTS} sequential: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms = {:.2}x a bare UpdateItem",
        num(&l["warm"]["p50_ms"]),
        num(&l["warm"]["p90_ms"]),
        num(&l["warm"]["p99_ms"]),
        num(&l["warm_p50_over_bare_update_item"])
    );
    println!("  peak RSS of bootstrap: {} KiB", l["peak_rss_kib"]);
    println!(
        "  exactness, 4 processes x 500 increments: final count {}, {} failed requests: {}",
        l["exactness"]["final_count"],
        l["exactness"]["failed_requests"],
        if l["exactness"]["exact"] == true {
            "exact"
        } else {
            "NOT EXACT"
        }
    );
}
