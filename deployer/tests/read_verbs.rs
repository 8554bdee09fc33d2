//! The verbs that read the live stack, with the real binary against the emulator: `logs` (with
//! events put into the function's group the way Lambda writes them) and `outputs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Read as _;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use deployer::aws::Clients;
use serde_json::Value;
use support::{deployer_command, Fixture, STACK};

const GROUP: &str = "/aws/lambda/vc-prod";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A line as the function writes it (function/src/log.rs, keys from its contract).
fn line(level: &str, request_id: &str, message: &str) -> String {
    serde_json::json!({
        "timestamp": "2026-11-27T09:00:00.000000Z",
        "level": level,
        "requestId": request_id,
        "message": message,
        "path": "/counter",
    })
    .to_string()
}

/// Deletes the streams in the group: what `up`'s probe of the function logged, so that a test
/// reads only the events it put.
async fn forget_the_probe(c: &Clients) {
    let streams = c
        .logs
        .describe_log_streams()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap();
    for s in streams.log_streams() {
        c.logs
            .delete_log_stream()
            .log_group_name(GROUP)
            .log_stream_name(s.log_stream_name().unwrap())
            .send()
            .await
            .unwrap();
    }
}

async fn put(c: &Clients, stream: &str, events: &[(i64, String)]) {
    let _ = c
        .logs
        .create_log_stream()
        .log_group_name(GROUP)
        .log_stream_name(stream)
        .send()
        .await;
    for chunk in events.chunks(10_000) {
        let batch: Vec<InputLogEvent> = chunk
            .iter()
            .map(|(t, m)| {
                InputLogEvent::builder()
                    .timestamp(*t)
                    .message(m)
                    .build()
                    .unwrap()
            })
            .collect();
        c.logs
            .put_log_events()
            .log_group_name(GROUP)
            .log_stream_name(stream)
            .set_log_events(Some(batch))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn logs_shows_filters_and_pages_the_functions_events() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let c = f.clients().await;
    forget_the_probe(&c).await;
    let t = now_ms() - 60_000;
    put(
        &c,
        "2026/11/27/[$LATEST]a",
        &[
            (t - 3 * 3_600_000, line("INFO", "old-1", "request")),
            (t, "START RequestId: req-a Version: $LATEST".into()),
            (t + 1, line("INFO", "req-a", "request")),
            (t + 2, "REPORT RequestId: req-a\tDuration: 2.10 ms".into()),
            (t + 3, line("ERROR", "req-b", "UpdateItem failed")),
            (t + 4, line("INFO", "req-b", "request")),
            (t + 5, "req-c Task timed out after 3.00 seconds".into()),
        ],
    )
    .await;

    let all = f.run(&["logs"]).ok();
    let lines: Vec<&str> = all.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        6,
        "the last 10 minutes, not the 3-hour-old line:\n{}",
        all.stdout
    );
    assert!(
        lines[1].ends_with("INFO  req-a request path=/counter"),
        "time, level, request id, message, the rest: {}",
        lines[1]
    );
    assert_eq!(all.writes(), Vec::<String>::new());

    let by_id = f.run(&["logs", "--request-id", "req-a"]).ok();
    eprintln!("$ deployer logs --request-id req-a\n{}", by_id.stdout);
    assert_eq!(by_id.stdout.lines().count(), 3, "{}", by_id.stdout);
    assert!(!by_id.stdout.contains("req-b"), "{}", by_id.stdout);

    let errors = f.run(&["logs", "--errors"]).ok();
    let errors: Vec<&str> = errors.stdout.lines().collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].contains("ERROR req-b UpdateItem failed"),
        "{errors:?}"
    );
    assert!(errors[1].contains("Task timed out"), "{errors:?}");

    let old = f.run(&["logs", "--since", "4h"]).ok();
    assert_eq!(old.stdout.lines().count(), 7, "{}", old.stdout);
    let raw = f
        .run(&["--output", "json", "logs", "--request-id", "req-b"])
        .ok();
    let raw: Vec<Value> = raw
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(raw.len(), 2);
    assert!(raw.iter().all(|l| l["requestId"] == "req-b"));

    let bad = f.run(&["logs", "--since", "yesterday"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("RFC 3339"), "{}", bad.stderr);
}

#[tokio::test]
async fn logs_follow_shows_each_new_event_once_until_ctrl_c() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let c = f.clients().await;
    forget_the_probe(&c).await;
    let t = now_ms() - 5_000;
    put(&c, "s1", &[(t, line("INFO", "before", "request"))]).await;

    let mut child = deployer_command(f.path(), f.proxy.endpoint())
        .args(["logs", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Two events at one millisecond, the second stored after a poll has read the first.
    let same = now_ms();
    put(&c, "s1", &[(same, line("INFO", "same-1", "request"))]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    put(&c, "s2", &[(same, line("INFO", "same-2", "request"))]).await;
    put(&c, "s1", &[(same + 1, line("INFO", "after", "request"))]).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    // SAFETY: kill(2) with a pid this test spawned and has not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(status.code(), Some(0), "Ctrl-C ends --follow cleanly");
    let ids: Vec<&str> = stdout
        .lines()
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(ids, ["before", "same-1", "same-2", "after"], "{stdout}");
}

#[tokio::test]
async fn outputs_reads_the_live_stack_and_fails_when_it_is_not_deployed() {
    let f = Fixture::new(STACK);
    let none = f.run(&["outputs"]);
    assert_eq!(none.code, 1, "{}", none.stdout);
    assert!(none.stderr.contains("deployer up"), "{}", none.stderr);

    let up = f.up(&f.zip_v1).ok();
    let text = f.run(&["outputs"]).ok();
    for key in [
        "api_url",
        "function_arn",
        "role_arn",
        "table_arn",
        "table_name",
        "live_version",
    ] {
        assert!(text.stdout.contains(key), "{key}: {}", text.stdout);
    }
    let json = f.run(&["--output", "json", "outputs"]).ok();
    assert_eq!(
        json.writes(),
        Vec::<String>::new(),
        "outputs changes nothing"
    );
    let outputs = json.json();
    assert_eq!(
        outputs["live_version"], "1",
        "the first version is live: {outputs}"
    );
    let from_up = up.stdout.lines().find(|l| l.contains("api_url")).unwrap();
    assert!(
        from_up.contains(outputs["api_url"].as_str().unwrap()),
        "{from_up} vs {outputs}"
    );
    assert_eq!(outputs["table_name"], "vc-prod");
    assert_eq!(
        outputs["function_arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:vc-prod"
    );
}
