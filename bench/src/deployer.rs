//! The deployer's figures as a user meets them: `deployer up` typed in the workspace, so the
//! build and the zip are included, against a moto behind the recording proxy, with 0 and 40 ms
//! added to each request (a real region's round trip).
//!
//! Each round starts from an empty emulator (`/moto-api/reset`) and runs `up`, `up` again (the
//! no-op), `diff`, an `up` of changed code (`--zip`: the function's bootstrap with a few bytes
//! more, so no build; a release: update, publish, probe, switch) and `down --delete-table`. One
//! round is run first and thrown away, so that cargo's first build and moto's first call to each
//! service are not counted. The probe's own time is the `Invoke` of the release.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use testkit::{Moto, Realism, Recorder};

use crate::{median, ms, Error, RUNS};

/// What a round runs, in order, and the name of each figure; `ZIP` stands for the changed code.
const VERBS: [(&str, &[&str]); 5] = [
    ("up_from_empty", &["up"]),
    ("up_noop", &["up"]),
    ("diff_in_sync", &["diff"]),
    ("up_code_change", &["up", "--zip", ZIP]),
    ("down", &["down", "--delete-table"]),
];
const ZIP: &str = "ZIP";

/// The per-request latencies measured, in milliseconds.
pub const LATENCIES_MS: [u64; 2] = [0, 40];

/// One run of one verb.
struct Outcome {
    wall: Duration,
    reads: usize,
    writes: usize,
    waves: usize,
    /// The time of the run's `Invoke` calls: the probe of a release.
    probe: Duration,
}

/// The workspace's function with a few bytes more at the end of its `bootstrap` (which an ELF
/// never reads): changed code that runs as the function does, written to a temporary zip.
fn changed_code(root: &Path) -> Result<PathBuf, Error> {
    let stack = deployer::stack::load(&root.join("stack.yaml"), None)?;
    let built =
        deployer::package::build(&stack.function.package, stack.function.architecture, root)?;
    let mut bytes = std::fs::read(&built.executable)?;
    bytes.extend_from_slice(b"\0bench");
    let path = std::env::temp_dir().join(format!("bench-changed-{}.zip", std::process::id()));
    std::fs::write(&path, deployer::package::zip_bootstrap(&bytes)?)?;
    Ok(path)
}

fn deployer_bin() -> Result<PathBuf, Error> {
    let bin = std::env::current_exe()?.with_file_name("deployer");
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

fn deployer(bin: &Path, root: &Path, endpoint: &str, args: &[&str]) -> Result<Duration, Error> {
    let started = Instant::now();
    let out = Command::new(bin)
        .current_dir(root)
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
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("deployer {args:?} failed:\n{stderr}").into());
    }
    Ok(wall)
}

fn run(bin: &Path, root: &Path, proxy: &Recorder, args: &[&str]) -> Result<Outcome, Error> {
    proxy.take();
    let wall = deployer(bin, root, proxy.endpoint(), args)?;
    let calls = proxy.take();
    let writes = calls.iter().filter(|c| c.write).count();
    let probe = calls
        .iter()
        .filter(|c| c.operation.ends_with("/invocations"))
        .filter_map(|c| Some(c.answered?.saturating_sub(c.sent)))
        .sum();
    Ok(Outcome {
        wall,
        reads: calls.len() - writes,
        writes,
        waves: testkit::waves(&calls),
        probe,
    })
}

/// `deployer package` with nothing changed: cargo's no-op build, the GLIBC check and the cached
/// zip. The proxy behind `AWS_ENDPOINT_URL` proves it makes no AWS call.
fn package(bin: &Path, root: &Path) -> Result<Value, Error> {
    let tripwire = Recorder::start("http://127.0.0.1:9");
    let mut walls = Vec::new();
    for _ in 0..=RUNS {
        walls.push(deployer(bin, root, tripwire.endpoint(), &["package"])?);
    }
    if !tripwire.calls().is_empty() {
        return Err("`deployer package` called AWS".into());
    }
    walls.remove(0);
    Ok(json!({"median_ms": median(walls), "runs": RUNS}))
}

/// The figures of one latency: a median per verb, with the requests and waves of that run.
fn at_latency(bin: &Path, root: &Path, latency: u64) -> Result<Value, Error> {
    let zip = changed_code(root)?;
    let zip = zip.to_string_lossy();
    let moto = Moto::start();
    let proxy = Recorder::start(moto.endpoint());
    proxy.realism(Some(Realism::latency_only(Duration::from_millis(latency))));
    let mut samples: Vec<Vec<Outcome>> = VERBS.iter().map(|_| Vec::new()).collect();
    for round in 0..=RUNS {
        moto.reset()?;
        for (i, (_, args)) in VERBS.iter().enumerate() {
            let args: Vec<&str> = args
                .iter()
                .map(|a| if *a == ZIP { zip.as_ref() } else { *a })
                .collect();
            let outcome = run(bin, root, &proxy, &args)?;
            if round > 0 {
                samples[i].push(outcome);
            }
        }
    }
    let mut report = Map::new();
    for ((name, _), mut outcomes) in VERBS.iter().zip(samples) {
        outcomes.sort_by_key(|o| o.wall);
        let mid = &outcomes[outcomes.len() / 2];
        report.insert(
            name.to_string(),
            json!({
                "median_ms": ms(mid.wall),
                "min_ms": ms(outcomes[0].wall),
                "max_ms": ms(outcomes[outcomes.len() - 1].wall),
                "requests": mid.reads + mid.writes,
                "reads": mid.reads,
                "writes": mid.writes,
                "waves": mid.waves,
                "probe_ms": ms(mid.probe),
                "runs": outcomes.len(),
            }),
        );
    }
    Ok(Value::Object(report))
}

/// Every figure of the deployer: `package` alone, then each verb at each latency.
pub fn measure(root: &Path) -> Result<Value, Error> {
    let bin = deployer_bin()?;
    let mut report = Map::new();
    report.insert("package_noop".into(), package(&bin, root)?);
    for latency in LATENCIES_MS {
        report.insert(
            format!("latency_{latency}ms"),
            at_latency(&bin, root, latency)?,
        );
    }
    Ok(Value::Object(report))
}

/// Prints the deployer's part of `results`.
pub fn print(d: &Value) {
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    println!(
        "\ndeployer, as typed in the workspace (build included), median of {RUNS} rounds from an empty emulator:"
    );
    println!(
        "  package with nothing changed: {:.0} ms",
        num(&d["package_noop"]["median_ms"])
    );
    for latency in LATENCIES_MS {
        println!("  {latency} ms per request:");
        println!(
            "    {:<15} {:>9} {:>8} {:>8} {:>8} {:>6} {:>6} {:>8}",
            "", "median ms", "min ms", "max ms", "requests", "writes", "waves", "probe ms"
        );
        for (name, _) in VERBS {
            let v = &d[format!("latency_{latency}ms")][name];
            println!(
                "    {name:<15} {:>9.0} {:>8.0} {:>8.0} {:>8} {:>6} {:>6} {:>8.0}",
                num(&v["median_ms"]),
                num(&v["min_ms"]),
                num(&v["max_ms"]),
                v["requests"],
                v["writes"],
                v["waves"],
                num(&v["probe_ms"])
            );
        }
    }
}
