//! `make bench`: measures, against a moto started for the run, and prints a table and
//! `bench/results.json`:
//! - the function's in-process handler latency for `/counter`, against the floor of a bare
//!   `UpdateItem` sent straight to the same emulator;
//! - the released `bootstrap` through the Lambda Runtime API: cold start (spawn to the first
//!   `/counter` response) over 20 fresh processes, its init duration, warm latency over 1,000
//!   sequential requests, peak RSS, and exactness with 4 processes × 500 increments;
//! - the deployer as a user types it (building included): wall time, requests and sequential
//!   waves of `up` from empty, a no-op `up`, `diff` and `down`, at 0 and 40 ms per request, and
//!   in AWS-typical mode (AWS's settling times and quotas) beside each verb's critical path.
//!
//! `bench deployer` measures the deployer alone, with 0 and 40 ms per request (for a side-by-side
//! run with a peer); `bench aws` only its AWS-typical mode.
//!
//! Timings are benchmark figures, never test assertions: these machines are noisy, so medians and
//! ratios are what to compare.

mod critical;
mod deployer;
mod function;

use std::time::Duration;

use serde_json::json;

type Error = Box<dyn std::error::Error>;

/// Requests per latency series.
const REQUESTS: usize = 1000;
/// Measured rounds per deployer figure (after one thrown away).
const RUNS: usize = 5;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map(|d| ms(*d)).unwrap_or(f64::NAN)
}

fn main() -> Result<(), Error> {
    let root = testkit::workspace_root();
    let only_deployer = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("deployer") => true,
        Some("aws") => {
            let typical = deployer::aws_only(&root)?;
            println!("{}", serde_json::to_string(&typical)?);
            return Ok(());
        }
        Some(other) => {
            return Err(format!("unknown argument {other:?}; usage: bench [deployer | aws]").into())
        }
    };
    let deployer = deployer::measure(&root, !only_deployer)?;
    if only_deployer {
        deployer::print(&deployer);
        println!("{}", serde_json::to_string(&deployer)?);
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut function = runtime.block_on(function::in_process(&root))?;
    let floor = function["bare_update_item"]["p50_ms"]
        .as_f64()
        .unwrap_or(f64::NAN);
    function["runtime_api"] = runtime.block_on(function::through_runtime_api(&root, floor))?;
    let zip = json!({
        "bootstrap_bytes": std::fs::metadata(root.join("target/release/bootstrap"))?.len(),
        "zip_bytes": std::fs::metadata(root.join("target/lambda/function/bootstrap-x86_64.zip"))?.len(),
    });
    let results = json!({"function": function, "zip": zip, "deployer": deployer});
    function::print(&results["function"]);
    println!(
        "\nzip: bootstrap {} bytes, zip {} bytes",
        results["zip"]["bootstrap_bytes"], results["zip"]["zip_bytes"]
    );
    deployer::print(&results["deployer"]);
    let path = root.join("bench/results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results)? + "\n")?;
    println!("\nwritten to {}", path.display());
    Ok(())
}
