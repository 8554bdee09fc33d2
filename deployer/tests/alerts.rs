//! `alerts:` in stack.yaml, on the emulator: one topic with the owner's address subscribed, and
//! four alarms, each on a metric the emulated request path publishes (so none can watch a
//! metric nothing emits); a second `up` writes nothing; an alarm edited by hand is drift that
//! `up` repairs; an alarm in ALARM makes `status` exit 2 naming it; a new address is
//! subscribed, and the old one removed once confirmed (a pending one cannot be); and `down`
//! removes the topic and the alarms and keeps the table.
//!
//! One emulator and one deployed stack serve the whole story.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
use support::{Fixture, STACK};
use testkit::dataplane::metrics::PUBLISHED;

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:vc-prod-alerts";

fn alerting(email: &str) -> String {
    format!("{STACK}alerts: {{ email: {email} }}\n")
}

async fn alarms(f: &Fixture) -> Vec<MetricAlarm> {
    let c = f.clients().await;
    let all = c.cloudwatch.describe_alarms().send().await.unwrap();
    all.metric_alarms().to_vec()
}

/// The e-mail endpoints subscribed to the stack's topic.
async fn subscribed(f: &Fixture) -> Vec<String> {
    let c = f.clients().await;
    let subs = c
        .sns
        .list_subscriptions_by_topic()
        .topic_arn(TOPIC)
        .send()
        .await
        .unwrap();
    let mut out: Vec<String> = subs
        .subscriptions()
        .iter()
        .map(|s| s.endpoint().unwrap().to_string())
        .collect();
    out.sort();
    out
}

/// Whether `a` watches a metric the request path publishes, by exactly its dimensions.
fn watches_a_published_metric(a: &MetricAlarm) -> bool {
    let dims: Vec<&str> = a.dimensions().iter().map(|d| d.name().unwrap()).collect();
    PUBLISHED.iter().any(|(ns, name, sets)| {
        Some(*ns) == a.namespace()
            && Some(*name) == a.metric_name()
            && sets
                .iter()
                .any(|s| s.len() == dims.len() && s.iter().all(|d| dims.contains(d)))
    })
}

#[tokio::test]
async fn alerts_are_a_topic_and_four_alarms_reconciled_like_the_rest() {
    let f = Fixture::new(&alerting("owner@example.com"));
    let zip = f.zip_v1.to_str().unwrap().to_string();
    f.up(&f.zip_v1).ok();
    let c = f.clients().await;
    let topics = c.sns.list_topics().send().await.unwrap();
    let arns: Vec<&str> = topics
        .topics()
        .iter()
        .filter_map(|t| t.topic_arn())
        .collect();
    assert_eq!(arns, [TOPIC]);
    assert_eq!(subscribed(&f).await, ["owner@example.com"]);
    let live = alarms(&f).await;
    let mut names: Vec<&str> = live.iter().filter_map(|a| a.alarm_name()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "vc-prod-function-errors",
            "vc-prod-function-throttles",
            "vc-prod-gateway-5xx",
            "vc-prod-table-throttles"
        ]
    );
    for a in &live {
        assert!(
            watches_a_published_metric(a),
            "{a:?} watches nothing the path emits"
        );
        assert_eq!(a.alarm_actions(), [TOPIC]);
        assert_eq!((a.period(), a.threshold()), (Some(300), Some(1.0)));
        assert_eq!(a.statistic().map(|s| s.as_str()), Some("Sum"));
    }

    let again = f.up(&f.zip_v1).ok();
    assert_eq!(
        again.writes(),
        Vec::<String>::new(),
        "a second up writes nothing"
    );

    // Each alarm raised by hand, as someone quietening a noisy alarm in the console would.
    for a in &live {
        c.cloudwatch
            .put_metric_alarm()
            .alarm_name(a.alarm_name().unwrap())
            .namespace(a.namespace().unwrap())
            .metric_name(a.metric_name().unwrap())
            .set_dimensions(Some(a.dimensions().to_vec()))
            .statistic(a.statistic().unwrap().clone())
            .period(300)
            .evaluation_periods(1)
            .threshold(1000.0)
            .comparison_operator(a.comparison_operator().unwrap().clone())
            .send()
            .await
            .unwrap();
    }
    let drift = f.run(&["diff", "--zip", &zip]);
    assert_eq!(drift.code, 2, "{}", drift.stdout);
    for name in &names {
        assert!(
            drift.stdout.contains(name),
            "{name} is drift:\n{}",
            drift.stdout
        );
    }
    let repaired = f.up(&f.zip_v1).ok();
    assert_eq!(repaired.applied(), ["monitoring PutMetricAlarm"; 4]);
    assert_eq!(f.run(&["diff", "--zip", &zip]).code, 0);

    c.cloudwatch
        .set_alarm_state()
        .alarm_name("vc-prod-function-errors")
        .state_value(StateValue::Alarm)
        .state_reason("Threshold Crossed: 1 datapoint [3.0] was >= the threshold (1.0).")
        .send()
        .await
        .unwrap();
    let status = f.run(&["status"]);
    assert_eq!(status.code, 2, "{}", status.stdout);
    assert!(
        status
            .stdout
            .contains("alarm vc-prod-function-errors is firing: Threshold Crossed"),
        "{}",
        status.stdout
    );

    // A new address: subscribed. The old one is still pending (its owner never followed AWS's
    // link), and a pending subscription cannot be removed: SNS drops it after 48 hours.
    f.write_stack(&alerting("new-owner@example.com"));
    let moved = f.up(&f.zip_v1).ok();
    assert_eq!(moved.applied(), ["sns Subscribe"]);
    // Once confirmed, a replaced address is unsubscribed.
    f.proxy.confirm_email("new-owner@example.com");
    f.write_stack(&alerting("third-owner@example.com"));
    let moved = f.up(&f.zip_v1).ok();
    assert_eq!(moved.applied(), ["sns Subscribe", "sns Unsubscribe"]);
    assert_eq!(
        subscribed(&f).await,
        ["owner@example.com", "third-owner@example.com"]
    );

    let down = f.run(&["down"]).ok();
    assert!(down.stdout.contains("vc-prod-alerts"), "{}", down.stdout);
    assert!(alarms(&f).await.is_empty(), "down removes the alarms");
    let topics = c.sns.list_topics().send().await.unwrap();
    assert!(topics.topics().is_empty(), "down removes the topic");
    let kept = c
        .dynamodb
        .describe_table()
        .table_name("vc-prod")
        .send()
        .await;
    assert!(kept.is_ok(), "down keeps the table");
}
