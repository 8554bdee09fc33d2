//! `deployer status` on a stack deployed to the emulator, whose request path publishes the
//! metrics API Gateway and Lambda would: visits through the stage are counted with their
//! durations, a role broken by hand (the original counter's bug) makes a visit fail and
//! `status` exit 2 naming it, and a stack that is not deployed is an error (exit 1).
//!
//! One emulator and one deployed stack serve the whole story.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::{Fixture, Run, STACK};

/// Every request the stage served since the fixture started, kept across the story.
struct Served {
    total: usize,
}

impl Served {
    fn update(&mut self, f: &Fixture) -> u64 {
        self.total += f.proxy.served().len();
        self.total as u64
    }
}

fn status(f: &Fixture) -> (Run, Value) {
    let run = f.run(&["--output", "json", "status"]);
    let json = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "status printed no JSON ({e}):\n{}{}",
            run.stdout, run.stderr
        )
    });
    (run, json)
}

fn visit(f: &Fixture) -> u16 {
    let run = f.run(&[
        "--output", "json", "invoke", "--path", "/counter", "--method", "GET",
    ]);
    u16::try_from(run.json()["status"].as_u64().unwrap()).unwrap()
}

#[tokio::test]
async fn status_shows_the_visits_their_errors_and_durations_and_exits_2_on_errors() {
    let f = Fixture::new(STACK);
    let mut served = Served { total: 0 };
    f.up(&f.zip_v1).ok();

    let (run, fresh) = status(&f);
    assert_eq!(
        run.code, 0,
        "a new stack is healthy:\n{}{}",
        run.stdout, run.stderr
    );
    assert_eq!(fresh["live_version"], "1", "{fresh}");
    assert!(fresh["deployed_at"].is_string(), "{fresh}");
    assert_eq!(fresh["count"], Value::Null, "no visit yet: {fresh}");
    assert!(
        run.writes().is_empty(),
        "status writes nothing: {:?}",
        run.writes()
    );
    let reads: Vec<String> = run
        .calls
        .iter()
        .filter(|c| c.service == "monitoring")
        .map(|c| c.operation.clone())
        .collect();
    assert_eq!(
        reads,
        ["DescribeAlarms", "GetMetricData"],
        "one GetMetricData for every series"
    );

    for _ in 0..3 {
        assert_eq!(visit(&f), 200);
    }
    let (run, after) = status(&f);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(after["count"], 3);
    assert_eq!(after["gateway"]["requests"], served.update(&f), "{after}");
    assert_eq!(after["gateway"]["errors_5xx"], 0);
    let function = &after["function"];
    assert!(function["invocations"].as_u64().unwrap() >= 3, "{after}");
    assert_eq!(function["errors"], 0);
    let (p50, p99) = (
        function["duration_p50_ms"].as_f64().unwrap(),
        function["duration_p99_ms"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p99 >= p50, "p50 {p50}, p99 {p99}");
    assert!(after["cold_starts"].as_u64().unwrap() >= 1, "{after}");
    let text = f.run(&["status"]);
    assert_eq!(text.code, 0);
    assert!(text.stdout.contains("count         3"), "{}", text.stdout);
    assert!(text.stdout.contains("Healthy."), "{}", text.stdout);

    // The original counter's bug: the role's policy names another table than the code uses.
    let c = f.clients().await;
    support::edit_counter_policy(&c, |p| p.replace("table/vc-prod", "table/other")).await;
    assert_eq!(visit(&f), 500);
    let (run, broken) = status(&f);
    assert_eq!(run.code, 2, "an error was seen:\n{}", run.stdout);
    assert_eq!(broken["healthy"], false);
    assert_eq!(broken["gateway"]["errors_5xx"], 1);
    assert_eq!(broken["gateway"]["requests"], served.update(&f), "{broken}");
    assert_eq!(broken["count"], 3, "the failed visit was not counted");
    let problems = broken["problems"].to_string();
    assert!(
        problems.contains("1 5xx answers at the stage"),
        "{problems}"
    );
    let text = f.run(&["status"]);
    assert_eq!(text.code, 2);
    assert!(text.stdout.contains("Unhealthy:"), "{}", text.stdout);

    let nowhere = f.run(&["--stage", "dev", "status"]);
    assert_eq!(nowhere.code, 1, "{}", nowhere.stderr);
    assert!(
        nowhere.stderr.contains("not deployed"),
        "{}",
        nowhere.stderr
    );
}
