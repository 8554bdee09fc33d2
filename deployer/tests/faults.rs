//! `up` from empty while AWS misbehaves: a proxy between the real binary and moto fails a share
//! of the requests (500, 503, each protocol's throttling error, connection resets before and
//! after the request is applied, latency), from a seeded RNG. `up` must converge, re-run as a
//! person or a CI retry would, to `diff` exit 0 and exactly one of each resource.
//!
//! `make test` runs a few seeds; `make soak` (SOAK=1) runs many, and prints how many runs each
//! needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{Census, Fixture, STACK};
use testkit::{faults, Faults};

/// More re-runs than this, and `up` does not converge: a finding, not bad luck.
const MAX_RUNS: usize = 8;

fn seeds(default: u64) -> std::ops::RangeInclusive<u64> {
    let soak = std::env::var_os("SOAK").is_some_and(|v| !v.is_empty() && v != "0");
    1..=if soak { 20 } else { default }
}

/// Deploys stack `vc{seed}` with `rate` of its requests failing; returns the runs it took.
async fn converge(f: &Fixture, rate: f64, seed: u64) -> usize {
    let stack = format!("vc{seed}");
    f.write_stack(&STACK.replace("name: vc\n", &format!("name: {stack}\n")));
    f.proxy.faults(Some(Faults::new(seed, rate, faults::all())));
    let mut failures = Vec::new();
    let mut runs = 0;
    while runs < MAX_RUNS {
        runs += 1;
        let run = f.up(&f.zip_v1);
        if run.code == 0 {
            break;
        }
        assert_eq!(run.code, 1, "a failed up exits 1:\n{}", run.stderr);
        assert!(
            run.stderr.contains("error:"),
            "a failed up says why:\n{}",
            run.stderr
        );
        failures.push(run.stderr.lines().last().unwrap_or("").to_string());
    }
    f.proxy.faults(None);
    let injected = f.proxy.injected();
    assert!(
        !injected.is_empty() || rate == 0.0,
        "rate {rate}, seed {seed}: no fault was injected"
    );
    assert!(
        failures.len() < MAX_RUNS,
        "rate {rate}, seed {seed}: up did not converge in {MAX_RUNS} runs:\n{}",
        failures.join("\n")
    );

    let diff = f.run(&["diff", "--zip", f.zip_v1.to_str().unwrap()]);
    assert_eq!(
        diff.code, 0,
        "rate {rate}, seed {seed}: drift after up converged:\n{}",
        diff.stdout
    );
    let census = Census::take(&f.clients().await, &stack).await;
    assert_eq!(
        census,
        Census::DEPLOYED,
        "rate {rate}, seed {seed}: not exactly one of each"
    );
    eprintln!(
        "faults: rate {:.0}%, seed {seed}: {} faults ({}), converged in {runs} run(s){}",
        rate * 100.0,
        injected.len(),
        injected
            .iter()
            .map(|(call, fault)| format!("{fault:?} on {} {}", call.service, call.operation))
            .collect::<Vec<_>>()
            .join(", "),
        if failures.is_empty() {
            String::new()
        } else {
            format!("; the failed runs said: {}", failures.join(" | "))
        }
    );
    runs
}

async fn sweep(rate: f64, default_seeds: u64) {
    let f = Fixture::new(STACK);
    let mut runs = Vec::new();
    for seed in seeds(default_seeds) {
        runs.push(converge(&f, rate, seed).await);
    }
    runs.sort_unstable();
    eprintln!(
        "faults: rate {:.0}%: {} stacks converged; runs needed: median {}, max {}",
        rate * 100.0,
        runs.len(),
        runs[runs.len() / 2],
        runs[runs.len() - 1]
    );
}

#[tokio::test]
async fn up_converges_with_ten_percent_of_requests_failing() {
    sweep(0.10, 2).await;
}

#[tokio::test]
async fn up_converges_with_thirty_percent_of_requests_failing() {
    sweep(0.30, 1).await;
}
