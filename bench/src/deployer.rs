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

use crate::{critical, median, ms, Error, RUNS};

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
    /// The time of the request that uploaded the code and was accepted (`CreateFunction` or
    /// `UpdateFunctionCode`).
    upload: Duration,
}

/// The workspace's function with a few bytes more at the end of its `bootstrap` (which an ELF
/// never reads): changed code that runs as the function does, written to a temporary zip.
fn changed_code(root: &Path) -> Result<PathBuf, Error> {
    code_zip(root, b"\0bench", "changed")
}

/// The workspace's function, with `more` bytes at the end of its `bootstrap`, zipped into a
/// temporary file named after `what`.
fn code_zip(root: &Path, more: &[u8], what: &str) -> Result<PathBuf, Error> {
    let stack = deployer::stack::load(&root.join("stack.yaml"), None)?;
    let built =
        deployer::package::build(&stack.function.package, stack.function.architecture, root)?;
    let mut bytes = std::fs::read(&built.executable)?;
    bytes.extend_from_slice(more);
    let path = std::env::temp_dir().join(format!("bench-{what}-{}.zip", std::process::id()));
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

/// `deployer ARGS` in the workspace, against `endpoint`, with dummy credentials.
fn command(bin: &Path, root: &Path, endpoint: &str, args: &[&str]) -> Command {
    let mut command = Command::new(bin);
    command
        .current_dir(root)
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("CI", "true");
    command
}

/// Wakes each of moto's services in an empty account, unmeasured: moto sets up a service's
/// backend on its first call after a reset (hundreds of ms for IAM and Lambda), which no AWS
/// region does. `deployer diff` reads every service (and reports the whole stack missing).
fn warm_up(bin: &Path, root: &Path, endpoint: &str) -> Result<(), Error> {
    let out = command(bin, root, endpoint, &["diff"]).output()?;
    match out.status.code() {
        Some(0 | 2) => Ok(()),
        _ => Err(format!(
            "deployer diff (the warm-up) failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into()),
    }
}

fn deployer(bin: &Path, root: &Path, endpoint: &str, args: &[&str]) -> Result<Duration, Error> {
    let started = Instant::now();
    let out = command(bin, root, endpoint, args).output()?;
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
    if std::env::var_os("BENCH_TRACE").is_some() {
        trace(args, &calls);
    }
    let writes = calls.iter().filter(|c| c.write).count();
    let probe = calls
        .iter()
        .filter(|c| c.operation.ends_with("/invocations"))
        .filter_map(|c| Some(c.answered?.saturating_sub(c.sent)))
        .sum();
    let uploads = ["POST /2015-03-31/functions", "/code"];
    let upload = calls
        .iter()
        .filter(|c| c.succeeded() && uploads.iter().any(|u| c.operation.ends_with(u)))
        .filter_map(|c| Some(c.answered?.saturating_sub(c.sent)))
        .max()
        .unwrap_or_default();
    Ok(Outcome {
        wall,
        reads: calls.len() - writes,
        writes,
        waves: testkit::waves(&calls),
        probe,
        upload,
    })
}

/// Prints each request of a run with when it was sent and answered (`BENCH_TRACE=1`), to see
/// where a verb's time goes.
fn trace(args: &[&str], calls: &[testkit::Call]) {
    let start = calls.iter().map(|c| c.sent).min().unwrap_or_default();
    eprintln!("deployer {}:", args.join(" "));
    for c in calls {
        let answered = c.answered.map(|a| ms(a - start)).unwrap_or(f64::NAN);
        eprintln!(
            "  {:>8.0} {:>8.0} ms  {} {} {}",
            ms(c.sent - start),
            answered,
            c.status,
            c.service,
            c.operation
        );
    }
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

/// A verb of a round: its name, and its arguments.
type Verb = (&'static str, Vec<String>);

/// [`VERBS`], with the changed code's zip in place of `ZIP`.
fn round(root: &Path) -> Result<Vec<Verb>, Error> {
    let zip = changed_code(root)?.to_string_lossy().into_owned();
    let arg = |a: &&str| {
        if *a == ZIP {
            zip.clone()
        } else {
            a.to_string()
        }
    };
    Ok(VERBS
        .iter()
        .map(|(name, args)| (*name, args.iter().map(arg).collect()))
        .collect())
}

/// `runs` rounds of `verbs` (after one thrown away) under `realism`, each from an empty emulator
/// with the realism layer's memory fresh (a new account), and in AWS-typical mode (round trips)
/// with moto's services awake: each verb's median run (by wall time) with its figures.
fn sample(
    bin: &Path,
    root: &Path,
    realism: &Realism,
    runs: usize,
    verbs: &[Verb],
) -> Result<Vec<(&'static str, Value, Outcome)>, Error> {
    let moto = Moto::start();
    let proxy = Recorder::start(moto.endpoint());
    let mut samples: Vec<Vec<Outcome>> = verbs.iter().map(|_| Vec::new()).collect();
    for round in 0..=runs {
        moto.reset()?;
        if realism.round_trip {
            warm_up(bin, root, moto.endpoint())?;
        }
        proxy.realism(Some(realism.clone()));
        for (i, (_, args)) in verbs.iter().enumerate() {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let outcome = run(bin, root, &proxy, &args)?;
            if round > 0 {
                samples[i].push(outcome);
            }
        }
    }
    let mut report = Vec::new();
    for ((name, _), mut outcomes) in verbs.iter().zip(samples) {
        outcomes.sort_by_key(|o| o.wall);
        let figures = json!({
            "median_ms": ms(outcomes[outcomes.len() / 2].wall),
            "min_ms": ms(outcomes[0].wall),
            "max_ms": ms(outcomes[outcomes.len() - 1].wall),
            "runs": outcomes.len(),
        });
        let mid = outcomes.swap_remove(outcomes.len() / 2);
        report.push((*name, figures, mid));
    }
    Ok(report)
}

/// The requests, writes, waves and probe time of one run, beside `figures`.
fn with_counts(mut figures: Value, o: &Outcome) -> Value {
    figures["requests"] = json!(o.reads + o.writes);
    figures["reads"] = json!(o.reads);
    figures["writes"] = json!(o.writes);
    figures["waves"] = json!(o.waves);
    figures["probe_ms"] = json!(ms(o.probe));
    figures["upload_ms"] = json!(ms(o.upload));
    figures
}

/// The figures of one latency: a median per verb, with the requests and waves of that run.
fn at_latency(bin: &Path, root: &Path, latency: u64) -> Result<Value, Error> {
    let realism = Realism::latency_only(Duration::from_millis(latency));
    let mut report = Map::new();
    for (name, figures, mid) in sample(bin, root, &realism, RUNS, &round(root)?)? {
        report.insert(name.to_string(), with_counts(figures, &mid));
    }
    Ok(Value::Object(report))
}

/// Rounds in AWS-typical mode (fewer: a first `up` waits about half a minute).
const AWS_RUNS: usize = 3;

/// The figures of AWS-typical mode ([`Realism::aws`]): each verb's median beside its critical
/// path ([`crate::critical`]) and their ratio.
fn aws_typical(bin: &Path, root: &Path) -> Result<Value, Error> {
    let realism = Realism::aws();
    let mut report = Map::new();
    for (name, figures, mid) in sample(bin, root, &realism, AWS_RUNS, &round(root)?)? {
        let figures = with_counts(figures, &mid);
        let figures = beside_critical(figures, name, &realism, &mid, true);
        report.insert(name.to_string(), figures);
    }
    report.insert("without_pitr".into(), aws_without_pitr(bin, root)?);
    Ok(Value::Object(report))
}

/// Every figure of the deployer: `package` alone, then each verb at each latency, then (with
/// `aws`) in AWS-typical mode.
pub fn measure(root: &Path, aws: bool) -> Result<Value, Error> {
    let bin = deployer_bin()?;
    let mut report = Map::new();
    report.insert("package_noop".into(), package(&bin, root)?);
    for latency in LATENCIES_MS {
        report.insert(
            format!("latency_{latency}ms"),
            at_latency(&bin, root, latency)?,
        );
    }
    if aws {
        report.insert("aws_typical".into(), aws_typical(&bin, root)?);
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
    if d.get("aws_typical").is_some() {
        print_aws_typical(&d["aws_typical"]);
    }
}

/// The workspace's stack without point-in-time recovery, as Chalice's peer app has none (its
/// table is made outside its deploy): `up` from empty and `down --delete-table` in AWS-typical
/// mode, each beside its critical path. The stack is a copy in a temporary directory, so the
/// code comes as a zip (`--zip`: the build is the same as the workspace's).
fn aws_without_pitr(bin: &Path, root: &Path) -> Result<Value, Error> {
    let text = std::fs::read_to_string(root.join("stack.yaml"))?;
    let on = "point_in_time_recovery: true";
    if !text.contains(on) {
        return Err(format!("stack.yaml has no `{on}` to turn off").into());
    }
    let dir = std::env::temp_dir().join(format!("bench-no-pitr-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let stack = dir.join("stack.yaml");
    std::fs::write(&stack, text.replace(on, "point_in_time_recovery: false"))?;
    let zip = code_zip(root, b"", "same")?.to_string_lossy().into_owned();
    let stack = stack.to_string_lossy().into_owned();
    let args = |a: &[&str]| a.iter().map(|a| a.to_string()).collect();
    let verbs: [Verb; 2] = [
        (
            "up_from_empty",
            args(&["--stack", &stack, "up", "--zip", &zip]),
        ),
        ("down", args(&["--stack", &stack, "down", "--delete-table"])),
    ];
    let realism = Realism::aws();
    let mut report = Map::new();
    for (name, figures, mid) in sample(bin, root, &realism, AWS_RUNS, &verbs)? {
        let figures = with_counts(figures, &mid);
        let figures = beside_critical(figures, name, &realism, &mid, false);
        report.insert(name.to_string(), figures);
    }
    Ok(Value::Object(report))
}

/// `figures` with the critical path of `verb` and their ratio.
fn beside_critical(mut figures: Value, verb: &str, r: &Realism, o: &Outcome, pitr: bool) -> Value {
    // The probe's run and the code's transfer: their time beyond a round trip.
    let work = critical::Work {
        probe: o.probe.saturating_sub(r.latency),
        upload: o.upload.saturating_sub(r.latency),
    };
    if let Some((path, chain)) = critical::critical(verb, r, work, pitr) {
        figures["critical_ms"] = json!(ms(path));
        figures["ratio"] = json!(figures["median_ms"].as_f64().unwrap_or(f64::NAN) / ms(path));
        figures["critical_chain"] = json!(chain.describe());
    }
    figures
}

/// The deployer in AWS-typical mode alone: measured, printed, and returned.
pub fn aws_only(root: &Path) -> Result<Value, Error> {
    let typical = aws_typical(&deployer_bin()?, root)?;
    print_aws_typical(&typical);
    Ok(typical)
}

/// Prints the AWS-typical table: each verb's wall time beside its critical path.
fn print_aws_typical(t: &Value) {
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let r = Realism::aws();
    let s = |d: Duration| d.as_secs_f64();
    println!(
        "\n  AWS-typical mode, median of {AWS_RUNS} rounds ({:.0} ms per request; table CREATING \
         {:.0} s, backups unavailable {:.0} s then ENABLING {:.0} s, UPDATING {:.0} s; role \
         propagation {:.0} s; function Pending {:.0} s, InProgress {:.0} s):",
        r.latency.as_secs_f64() * 1000.0,
        s(r.table_creating),
        s(r.pitr_unavailable),
        s(r.pitr_enabling),
        s(r.table_updating),
        s(r.role_propagation),
        s(r.function_pending),
        s(r.function_updating),
    );
    println!(
        "    {:<15} {:>8} {:>10} {:>6} {:>8} {:>6}  critical chain",
        "", "median s", "critical s", "ratio", "requests", "waves"
    );
    let rows = VERBS.iter().map(|(name, _)| (*name, &t[*name]));
    let plain = [("up_from_empty", "no PITR: up"), ("down", "no PITR: down")]
        .map(|(verb, label)| (label, &t["without_pitr"][verb]));
    for (name, v) in rows.chain(plain) {
        println!(
            "    {name:<15} {:>8.2} {:>10.2} {:>6.2} {:>8} {:>6}  {}",
            num(&v["median_ms"]) / 1000.0,
            num(&v["critical_ms"]) / 1000.0,
            num(&v["ratio"]),
            v["requests"],
            v["waves"],
            v["critical_chain"].as_str().unwrap_or("")
        );
    }
}
