//! `make bench`: measures, against a moto started for the run, and prints a table and
//! `bench/results.json`:
//! - the function's in-process handler latency for `/counter`, against the floor of a bare
//!   `UpdateItem` sent straight to the same emulator;
//! - the released `bootstrap` through the Lambda Runtime API: cold start (spawn to the first
//!   `/counter` response) over 20 fresh processes, its init duration, warm latency over 1,000
//!   sequential requests, peak RSS, and exactness with 4 processes × 500 increments;
//! - the deployer's wall time and request counts (reads and writes) for `up` from empty, a no-op
//!   `up`, `diff` and `down`, each the median of five fresh runs.
//!
//! Timings are benchmark figures, never test assertions: these machines are noisy, so medians and
//! ratios are what to compare.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde_json::{json, Value};
use testkit::{Moto, Recorder};

const REQUESTS: usize = 1000;
const RUNS: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = testkit::workspace_root();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut function = runtime.block_on(function_latency(&root))?;
    let (zip, deployer) = deployer_runs(&root)?;
    let floor = function["bare_update_item"]["p50_ms"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let lambda = runtime.block_on(through_runtime_api(&root, floor))?;
    function["runtime_api"] = lambda;
    let results = json!({"function": function, "zip": zip, "deployer": deployer});
    print_table(&results);
    let path = root.join("bench/results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results)? + "\n")?;
    let (cold, warm) = (
        results["deployer"]["up_from_empty"]["median_ms"]
            .as_f64()
            .unwrap_or(f64::NAN),
        results["deployer"]["up_from_empty_warm_emulator"]["median_ms"]
            .as_f64()
            .unwrap_or(f64::NAN),
    );
    println!(
        "  moto's first call to each service: {:.0}% of up from empty ({:.0} ms of {:.0} ms)",
        100.0 * (cold - warm) / cold,
        cold - warm,
        cold
    );
    println!("\nwritten to {}", path.display());
    Ok(())
}

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

async fn function_latency(root: &Path) -> Result<Value, Box<dyn std::error::Error>> {
    let moto = Moto::start();
    let db = function::dynamodb_client(moto.loader()).await;
    testkit::create_counter_table(&db, "visitors")
        .await
        .map_err(|e| e.to_string())?;
    let config =
        function::Config::from_lookup(|k| (k == "TABLE_NAME").then(|| "visitors".to_string()))?;
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
            if r.status() != 200 {
                return Err(format!("the handler answered {}", r.status()).into());
            }
        }
        for _ in 0..100 {
            let started = Instant::now();
            db.update_item()
                .table_name("visitors")
                .key("id", AttributeValue::S("floor".into()))
                .update_expression("ADD visit_count :one SET last_updated = :now, created_date = if_not_exists(created_date, :now)")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(":now", AttributeValue::S("2026-11-26T00:00:00Z".into()))
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

/// The Lambda environment of the bench's function, against `endpoint`.
fn spec(root: &Path, endpoint: &str, table: &str) -> deployer::local::runtime_api::Spec {
    let env = [
        ("AWS_LAMBDA_FUNCTION_NAME", "vc-prod"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", endpoint),
        ("TABLE_NAME", table),
    ];
    deployer::local::runtime_api::Spec {
        program: root.join("target/release/bootstrap"),
        args: Vec::new(),
        cwd: None,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        timeout: Duration::from_secs(3),
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:vc-prod".into(),
        quiet: true,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map(|d| ms(*d)).unwrap_or(f64::NAN)
}

async fn through_runtime_api(
    root: &Path,
    floor_p50: f64,
) -> Result<Value, Box<dyn std::error::Error>> {
    use deployer::local::runtime_api::{Outcome, Sandbox};
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
    let ok = |o: &Outcome| matches!(o, Outcome::Response(b) if b.windows(16).any(|w| w == b"\"statusCode\":200"));

    // Cold starts: a fresh process each time, from spawn to the first /counter answer.
    let (mut cold, mut inits, mut rss) = (Vec::new(), Vec::new(), 0u64);
    for _ in 0..20 {
        let started = Instant::now();
        let mut sandbox = Sandbox::spawn(&spec(root, moto.endpoint(), "visitors")).await?;
        let outcome = sandbox.invoke(event.clone()).await;
        cold.push(started.elapsed());
        if !ok(&outcome) {
            return Err(format!("cold invocation failed: {outcome:?}").into());
        }
        inits.extend(sandbox.init_duration());
        rss = rss.max(sandbox.peak_rss_kib().unwrap_or(0));
        sandbox.stop().await;
    }

    // Warm: one process, 1,000 sequential requests.
    let mut sandbox = Sandbox::spawn(&spec(root, moto.endpoint(), "visitors")).await?;
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
    rss = rss.max(sandbox.peak_rss_kib().unwrap_or(0));
    sandbox.stop().await;
    let warm = summary(warm);

    // Exactness: 4 processes × 500 increments on a fresh item.
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
        .key("id", AttributeValue::S("main_counter".into()))
        .consistent_read(true)
        .send()
        .await?;
    let count: u64 = match item.item().and_then(|i| i.get("visit_count")) {
        Some(AttributeValue::N(n)) => n.parse()?,
        _ => 0,
    };
    Ok(json!({
        "cold_start_median_ms": median(cold),
        "init_median_ms": median(inits),
        "warm": warm,
        "warm_p50_over_bare_update_item": warm["p50_ms"].as_f64().unwrap_or(f64::NAN) / floor_p50,
        "peak_rss_kib": rss,
        "exactness": {"processes": 4, "each": 500, "final_count": count, "failed_requests": failures, "exact": count == 2000 && failures == 0},
    }))
}

fn deployer_bin() -> Result<PathBuf, Box<dyn std::error::Error>> {
    let me = std::env::current_exe()?;
    let bin = me.with_file_name("deployer");
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "{} is missing: run `make bench`, which builds it",
            bin.display()
        )
        .into())
    }
}

struct Outcome {
    wall: Duration,
    reads: usize,
    writes: usize,
}

fn run(
    deployer: &Path,
    dir: &Path,
    endpoint: &str,
    proxy: &Recorder,
    args: &[&str],
) -> Result<Outcome, Box<dyn std::error::Error>> {
    proxy.take();
    let started = Instant::now();
    let out = Command::new(deployer)
        .current_dir(dir)
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("CI", "true")
        .output()?;
    let wall = started.elapsed();
    if !out.status.success() {
        return Err(format!(
            "deployer {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let calls = proxy.take();
    let writes = calls.iter().filter(|c| c.write).count();
    Ok(Outcome {
        wall,
        reads: calls.len() - writes,
        writes,
    })
}

fn deployer_runs(root: &Path) -> Result<(Value, Value), Box<dyn std::error::Error>> {
    let deployer = deployer_bin()?;
    // The function as users ship it: `deployer package` (a release build), once.
    let tripwire = Recorder::start("http://127.0.0.1:9");
    let out = Command::new(&deployer)
        .current_dir(root)
        .args(["--output", "json", "package"])
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "deployer package failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    drop(tripwire);
    let package: Value = serde_json::from_slice(&out.stdout)?;
    let zip = package["path"]
        .as_str()
        .ok_or("package printed no path")?
        .to_string();
    let binary = std::fs::metadata(root.join("target/release/bootstrap"))?.len();
    let zip_info = json!({"bootstrap_bytes": binary, "zip_bytes": package["bytes"]});

    let dir = std::env::temp_dir().join(format!("deployer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::copy(root.join("stack.yaml"), dir.join("stack.yaml"))?;
    // The last `up` runs from empty again, on an emulator whose services have answered once:
    // moto's first call to each service is slow, and the difference is that share.
    let verbs: [(&str, Vec<&str>); 5] = [
        ("up_from_empty", vec!["up", "--zip", &zip]),
        ("up_noop", vec!["up", "--zip", &zip]),
        ("diff_in_sync", vec!["diff", "--zip", &zip]),
        ("down", vec!["down", "--delete-table"]),
        ("up_from_empty_warm_emulator", vec!["up", "--zip", &zip]),
    ];
    let mut samples: Vec<Vec<Outcome>> = (0..verbs.len()).map(|_| Vec::new()).collect();
    for _ in 0..RUNS {
        // A fresh emulator each time: "from empty" means empty.
        let moto = Moto::start();
        let proxy = Recorder::start(moto.endpoint());
        for (i, (_, args)) in verbs.iter().enumerate() {
            samples[i].push(run(&deployer, &dir, proxy.endpoint(), &proxy, args)?);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut report = serde_json::Map::new();
    for ((name, _), mut outcomes) in verbs.iter().zip(samples) {
        outcomes.sort_by_key(|o| o.wall);
        let median = &outcomes[outcomes.len() / 2];
        report.insert(
            name.to_string(),
            json!({
                "median_ms": median.wall.as_secs_f64() * 1000.0,
                "min_ms": outcomes[0].wall.as_secs_f64() * 1000.0,
                "max_ms": outcomes[outcomes.len() - 1].wall.as_secs_f64() * 1000.0,
                "reads": median.reads,
                "writes": median.writes,
                "runs": outcomes.len(),
            }),
        );
    }
    Ok((zip_info, Value::Object(report)))
}

fn print_table(r: &Value) {
    let f = &r["function"];
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
        "  cold start, spawn to first /counter response (median of 20): {:.2} ms",
        num(&l["cold_start_median_ms"])
    );
    println!(
        "  init, spawn to first /next (median of 20):                   {:.2} ms",
        num(&l["init_median_ms"])
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
    println!(
        "\nzip: bootstrap {} bytes, zip {} bytes",
        r["zip"]["bootstrap_bytes"], r["zip"]["zip_bytes"]
    );
    println!("\ndeployer against moto (median of {RUNS}, fresh emulator each run):");
    println!(
        "  {:<15} {:>10} {:>10} {:>10} {:>6} {:>7}",
        "", "median ms", "min ms", "max ms", "reads", "writes"
    );
    for name in [
        "up_from_empty",
        "up_noop",
        "diff_in_sync",
        "down",
        "up_from_empty_warm_emulator",
    ] {
        let d = &r["deployer"][name];
        println!(
            "  {name:<28} {:>10.0} {:>10.0} {:>10.0} {:>6} {:>7}",
            d["median_ms"].as_f64().unwrap_or(f64::NAN),
            d["min_ms"].as_f64().unwrap_or(f64::NAN),
            d["max_ms"].as_f64().unwrap_or(f64::NAN),
            d["reads"],
            d["writes"]
        );
    }
}
