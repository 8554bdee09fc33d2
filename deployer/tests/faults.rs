//! `up` from empty while AWS misbehaves: a proxy between the real binary and moto fails a share
//! of the requests (500, 503, each protocol's throttling error, connection resets before and
//! after the request is applied, latency), from a seeded RNG. `up` must converge, re-run as a
//! person or a CI retry would, to `diff` exit 0 and exactly one of each resource.
//!
//! At 10% every seed must converge in one run (the SDK's retries absorb the faults); at 30% the
//! runs each seed needed are reported. `make test` runs a few seeds; `make soak` (SOAK=1) runs
//! ten per rate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{Fixture, STACK};
use testkit::{faults, Fault, Faults};

/// More re-runs than this, and `up` does not converge: a finding, not bad luck.
const MAX_RUNS: usize = 8;

fn seeds(default: u64) -> std::ops::RangeInclusive<u64> {
    let soak = std::env::var_os("SOAK").is_some_and(|v| !v.is_empty() && v != "0");
    1..=if soak { 10 } else { default }
}

/// Deploys stack `vc{seed}` with `rate` of its requests failing; returns the runs it took and
/// the number of failing faults injected (latency fails nothing, so it does not count).
async fn converge(f: &Fixture, rate: f64, seed: u64) -> (usize, usize) {
    let stack = format!("vc{seed}");
    f.write_stack(&STACK.replace("name: vc\n", &format!("name: {stack}\n")));
    f.proxy.faults(Some(Faults::new(seed, rate, faults::all())));
    let mut failures = Vec::new();
    let mut runs = 0;
    let started = std::time::Instant::now();
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
    let took = started.elapsed();
    f.proxy.faults(None);
    let injected = f.proxy.injected();
    assert!(
        failures.len() < MAX_RUNS,
        "rate {rate}, seed {seed}: up did not converge in {MAX_RUNS} runs:\n{}",
        failures.join("\n")
    );

    f.assert_deployed(&stack, &format!("rate {rate}, seed {seed}"))
        .await;
    eprintln!(
        "faults: rate {:.0}%, seed {seed}: {} faults ({}), converged in {runs} run(s), {:.1} s{}",
        rate * 100.0,
        injected.len(),
        injected
            .iter()
            .map(|(call, fault)| format!("{fault:?} on {} {}", call.service, call.operation))
            .collect::<Vec<_>>()
            .join(", "),
        took.as_secs_f64(),
        if failures.is_empty() {
            String::new()
        } else {
            format!("; the failed runs said: {}", failures.join(" | "))
        }
    );
    let failing = injected
        .iter()
        .filter(|(_, fault)| !matches!(fault, Fault::Latency(_)))
        .count();
    (runs, failing)
}

/// Converges one stack per seed; with `one_run`, each seed must converge in its first run.
async fn sweep(rate: f64, default_seeds: u64, one_run: bool) {
    let f = Fixture::new(STACK);
    let (mut runs, mut faults) = (Vec::new(), 0);
    for seed in seeds(default_seeds) {
        let (r, n) = converge(&f, rate, seed).await;
        if one_run {
            assert_eq!(
                r, 1,
                "rate {rate}, seed {seed}: up needed {r} runs, not one"
            );
        }
        runs.push(r);
        faults += n;
    }
    // A seed may draw no fault at 10% (0.9^50 ≈ 0.5%); the sweep as a whole must draw many.
    assert!(
        faults >= runs.len(),
        "only {faults} failing faults injected in the sweep"
    );
    runs.sort_unstable();
    testkit::figure(&format!(
        "faults: rate {:.0}%: {} seed(s), each stack converged, through {faults} failing \
         faults; runs needed: median {}, max {}",
        rate * 100.0,
        runs.len(),
        runs[runs.len() / 2],
        runs[runs.len() - 1]
    ));
}

#[tokio::test]
async fn up_converges_with_ten_percent_of_requests_failing() {
    sweep(0.10, 2, true).await;
}

#[tokio::test]
async fn up_converges_with_thirty_percent_of_requests_failing() {
    sweep(0.30, 1, false).await;
}

/// The hardest fault for a create: AWS applied it, and the answer was lost. One at a time, for
/// every kind of write that `up` from empty made in a scratch run, the first such request is
/// answered with a reset after the emulator applied it. `up` must still succeed in that same
/// run, with exactly one of each resource: creates are never retried blindly, but looked for
/// first (`wait::create_once`), and every other write is one that may be sent again.
#[tokio::test]
async fn a_lost_answer_to_any_create_still_leaves_exactly_one_of_each() {
    let f = Fixture::new(STACK);
    // The scratch stack's name holds a digit, so that its function's name is generic too.
    f.write_stack(&STACK.replace("name: vc\n", "name: s0\n"));
    let scratch = f.up(&f.zip_v1).ok().calls;
    f.run(&["down", "--delete-table"]).ok();
    let creates = support::write_kinds(&scratch);
    let mut report = Vec::new();
    for (i, (service, op)) in creates.iter().enumerate() {
        let stack = format!("lost{i}");
        f.write_stack(&STACK.replace("name: vc\n", &format!("name: {stack}\n")));
        f.proxy.faults(Some(Faults {
            service: Some(service.clone()),
            ..Faults::once(op, Fault::ResetAfter)
        }));
        let mut runs = 0;
        let mut failures = Vec::new();
        loop {
            runs += 1;
            let run = f.up(&f.zip_v1);
            if run.code == 0 {
                break;
            }
            failures.push(run.stderr.lines().last().unwrap_or("").to_string());
            assert!(
                runs < 3,
                "{op}: up did not converge:\n{}",
                failures.join("\n")
            );
        }
        f.proxy.faults(None);
        assert_eq!(
            f.proxy.injected().len(),
            1,
            "{op}: the fault was never injected"
        );
        f.assert_deployed(&stack, op).await;
        assert_eq!(
            runs, 1,
            "{op}: a lost answer must not fail the run (look, then retry): {failures:?}"
        );
        report.push(format!("{service} {op}: {runs}"));
    }
    testkit::figure(&format!(
        "faults: a lost answer to each of the scratch run's {} kinds of write left one of each; \
         runs of up needed: {}",
        creates.len(),
        report.join(", ")
    ));
}
