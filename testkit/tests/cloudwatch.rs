//! CloudWatch as the Rust SDK calls it (Smithy RPC v2 CBOR), answered by moto through the
//! emulator's translation (`scripts/cbor_shim.py`): metrics in and out with their statistics
//! (percentiles included), alarms with their timestamps and tags, errors with their codes,
//! and the proxy naming each call as IAM would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit,
    StateValue, Statistic, Tag,
};
use aws_sdk_cloudwatch::Client;
use testkit::{dummy_loader, Moto, Recorder};

async fn client(proxy: &Recorder) -> Client {
    Client::new(&dummy_loader().endpoint_url(proxy.endpoint()).load().await)
}

fn dims() -> Vec<Dimension> {
    vec![Dimension::builder().name("FunctionName").value("f").build()]
}

fn query(id: &str, stat: &str) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace("AWS/Lambda")
        .metric_name("Duration")
        .set_dimensions(Some(dims()))
        .build();
    let stat = MetricStat::builder()
        .metric(metric)
        .period(3600)
        .stat(stat)
        .build();
    MetricDataQuery::builder().id(id).metric_stat(stat).build()
}

#[tokio::test]
async fn metrics_go_in_and_come_out_with_their_statistics() {
    let moto = Moto::start();
    let proxy = Recorder::start(moto.endpoint());
    let cw = client(&proxy).await;
    let now = SystemTime::now();
    let data: Vec<MetricDatum> = (1..=100)
        .map(|ms| {
            MetricDatum::builder()
                .metric_name("Duration")
                .value(f64::from(ms))
                .unit(StandardUnit::Milliseconds)
                .timestamp(DateTime::from(now))
                .set_dimensions(Some(dims()))
                .build()
        })
        .collect();
    cw.put_metric_data()
        .namespace("AWS/Lambda")
        .set_metric_data(Some(data))
        .send()
        .await
        .unwrap();
    let read = cw
        .get_metric_data()
        .metric_data_queries(query("sum", "Sum"))
        .metric_data_queries(query("n", "SampleCount"))
        .metric_data_queries(query("p50", "p50"))
        .metric_data_queries(query("p99", "p99"))
        .start_time(DateTime::from(now - Duration::from_secs(3600)))
        .end_time(DateTime::from(now + Duration::from_secs(60)))
        .send()
        .await
        .unwrap();
    let value = |id: &str| -> f64 {
        let result = read
            .metric_data_results()
            .iter()
            .find(|r| r.id() == Some(id))
            .unwrap();
        assert!(!result.timestamps().is_empty(), "{id} has its timestamps");
        result.values().iter().sum()
    };
    assert_eq!(value("sum"), 5050.0);
    assert_eq!(value("n"), 100.0);
    assert_eq!(value("p50"), 50.0);
    assert_eq!(value("p99"), 99.0);
    let ops: Vec<String> = proxy.calls().iter().map(|c| c.to_string()).collect();
    assert_eq!(
        ops,
        [
            "monitoring PutMetricData (write)",
            "monitoring GetMetricData"
        ]
    );
}

#[tokio::test]
async fn alarms_keep_their_settings_state_and_tags_and_errors_keep_their_codes() {
    let moto = Moto::start();
    let proxy = Recorder::start(moto.endpoint());
    let cw = client(&proxy).await;
    cw.put_metric_alarm()
        .alarm_name("vc-prod-errors")
        .namespace("AWS/Lambda")
        .metric_name("Errors")
        .set_dimensions(Some(dims()))
        .statistic(Statistic::Sum)
        .period(300)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .alarm_actions("arn:aws:sns:us-east-1:123456789012:vc-prod-alerts")
        .tags(Tag::builder().key("deployer:stack").value("vc").build())
        .send()
        .await
        .unwrap();
    cw.set_alarm_state()
        .alarm_name("vc-prod-errors")
        .state_value(StateValue::Alarm)
        .state_reason("1 error in 5 minutes")
        .send()
        .await
        .unwrap();
    let alarms = cw
        .describe_alarms()
        .alarm_name_prefix("vc-prod-")
        .send()
        .await
        .unwrap();
    let alarm = &alarms.metric_alarms()[0];
    assert_eq!(alarm.state_value(), Some(&StateValue::Alarm));
    assert_eq!(alarm.threshold(), Some(1.0));
    assert_eq!(alarm.period(), Some(300));
    assert!(alarm.state_updated_timestamp().is_some());
    let tags = cw
        .list_tags_for_resource()
        .resource_arn(alarm.alarm_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags()[0].value(), Some("vc"));

    let missing = cw
        .set_alarm_state()
        .alarm_name("nobody")
        .state_value(StateValue::Ok)
        .state_reason("test")
        .send()
        .await
        .unwrap_err();
    let code = missing.as_service_error().and_then(|e| {
        use aws_sdk_cloudwatch::error::ProvideErrorMetadata as _;
        e.code().map(str::to_string)
    });
    assert_eq!(code.as_deref(), Some("ResourceNotFound"), "{missing:?}");
}

#[tokio::test]
async fn tagging_an_alarm_at_creation_needs_tag_resource_too() {
    let moto = Moto::start();
    let proxy = Recorder::start(moto.endpoint());
    let only_put = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "cloudwatch:PutMetricAlarm",
        "Resource": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:vc-*"}]});
    proxy.realism(Some(testkit::Realism::fast().enforce(
        testkit::iam::Policy {
            document: only_put,
            region: "us-east-1".into(),
            account: "123456789012".into(),
        },
    )));
    let cw = client(&proxy).await;
    let put = |tagged: bool| {
        let mut put = cw
            .put_metric_alarm()
            .alarm_name("vc-prod-errors")
            .namespace("AWS/Lambda")
            .metric_name("Errors")
            .statistic(Statistic::Sum)
            .period(300)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold);
        if tagged {
            put = put.tags(Tag::builder().key("deployer:stack").value("vc").build());
        }
        put.send()
    };
    let refused = put(true).await.unwrap_err();
    let text = aws_sdk_cloudwatch::error::DisplayErrorContext(&refused).to_string();
    assert!(text.contains("cloudwatch:TagResource"), "{text}");
    put(false).await.unwrap();
}
