//! The stack's CloudWatch alarms: one per way the counter fails a visitor, each on a metric the
//! request path publishes, over 5 minutes, firing at the first period at or over its threshold.
//! A period without data is not breaching (a quiet site is a healthy one).
//!
//! `PutMetricAlarm` creates or replaces an alarm whole, so an update sends the whole alarm; it
//! ignores `Tags` when the alarm exists, so tags on a live alarm go through `TagResource`.

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, Statistic, Tag};
use serde::Serialize;

use super::super::tags::Tags;
use super::super::Ctx;
use crate::aws::{AwsContext, Clients};
use crate::names::Names;
use crate::stack::Alerts;

/// Each alarm's kind: its name is the function's name and the kind ([`Names::alarm`]).
pub const KINDS: [&str; 4] = [ROWS[0].kind, ROWS[1].kind, ROWS[2].kind, ROWS[3].kind];

/// The period every alarm evaluates, in seconds.
pub const PERIOD: i32 = 300;

/// One alarm, as `PutMetricAlarm` takes it and `DescribeAlarms` gives it back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alarm {
    pub name: String,
    pub description: String,
    pub namespace: String,
    pub metric: String,
    /// Sorted by name.
    pub dimensions: Vec<(String, String)>,
    pub statistic: String,
    pub period: i32,
    pub evaluation_periods: i32,
    pub threshold: f64,
    pub comparison: String,
    pub treat_missing_data: String,
    /// The topics notified when it fires, sorted.
    pub actions: Vec<String>,
}

/// What each alarm watches: its kind, metric, the dimensions it is measured on, which
/// threshold of `alerts` applies, and what it means.
struct Row {
    kind: &'static str,
    namespace: &'static str,
    metric: &'static str,
    on: On,
    errors: bool,
    what: &'static str,
}

#[derive(Clone, Copy)]
enum On {
    Function,
    Stage,
    /// The counter's write.
    Table,
}

const ROWS: [Row; 4] = [
    Row {
        kind: "function-errors",
        namespace: "AWS/Lambda",
        metric: "Errors",
        on: On::Function,
        errors: true,
        what: "The counter's function failed",
    },
    Row {
        kind: "gateway-5xx",
        namespace: "AWS/ApiGateway",
        metric: "5XXError",
        on: On::Stage,
        errors: true,
        what: "The stage answered visitors with a server error",
    },
    Row {
        kind: "function-throttles",
        namespace: "AWS/Lambda",
        metric: "Throttles",
        on: On::Function,
        errors: false,
        what: "Lambda refused to run the counter (concurrency)",
    },
    Row {
        kind: "table-throttles",
        namespace: "AWS/DynamoDB",
        metric: "ThrottledRequests",
        on: On::Table,
        errors: false,
        what: "DynamoDB throttled the counter's writes: visits were not counted",
    },
];

/// The alarms `alerts` asks for, notifying `actions`; the stage's names the API `api_name`.
pub fn wanted(names: &Names, alerts: &Alerts, api_name: &str, actions: &[String]) -> Vec<Alarm> {
    let mut actions = actions.to_vec();
    actions.sort();
    ROWS.iter()
        .map(|row| {
            let dims: Vec<(&str, &str)> = match row.on {
                On::Function => vec![("FunctionName", &names.function)],
                On::Stage => vec![("ApiName", api_name), ("Stage", &names.stage)],
                On::Table => vec![("Operation", "UpdateItem"), ("TableName", &names.table)],
            };
            let threshold = if row.errors {
                alerts.errors
            } else {
                alerts.throttles
            };
            Alarm {
                name: names.alarm(row.kind),
                description: format!(
                    "{} (stack {}, stage {}).",
                    row.what, names.stack, names.stage
                ),
                namespace: row.namespace.into(),
                metric: row.metric.into(),
                dimensions: dims
                    .iter()
                    .map(|(n, v)| ((*n).into(), (*v).into()))
                    .collect(),
                statistic: "Sum".into(),
                period: PERIOD,
                evaluation_periods: 1,
                threshold: f64::from(threshold),
                comparison: "GreaterThanOrEqualToThreshold".into(),
                treat_missing_data: "notBreaching".into(),
                actions: actions.clone(),
            }
        })
        .collect()
}

/// A live alarm of the stack's names, with its ARN and tags.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveAlarm {
    pub alarm: Alarm,
    pub arn: String,
    pub tags: Tags,
}

/// The stack's alarms that exist, as CloudWatch last evaluated them: one `DescribeAlarms` by
/// name.
pub async fn describe(clients: &Clients, names: &Names) -> anyhow::Result<Vec<MetricAlarm>> {
    let wanted: Vec<String> = KINDS.iter().map(|k| names.alarm(k)).collect();
    let found = clients
        .cloudwatch
        .describe_alarms()
        .set_alarm_names(Some(wanted))
        .send()
        .await
        .doing(|| format!("reading the alarms of stack {}", names.stack))?;
    Ok(found.metric_alarms().to_vec())
}

/// The stack's alarms that exist, each with its tags.
pub async fn read(clients: &Clients, names: &Names) -> anyhow::Result<Vec<LiveAlarm>> {
    let found = describe(clients, names).await?;
    let tagged = found.iter().map(|a| async {
        let arn = a.alarm_arn().unwrap_or_default().to_string();
        let tags = clients
            .cloudwatch
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .doing(|| format!("reading the tags of alarm {arn}"))?;
        let tags = tags
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().into(),
                    t.value().unwrap_or_default().into(),
                )
            })
            .collect();
        Ok::<_, anyhow::Error>(LiveAlarm {
            alarm: of(a),
            arn,
            tags,
        })
    });
    futures_util::future::try_join_all(tagged).await
}

/// An alarm as `DescribeAlarms` shows it.
fn of(a: &MetricAlarm) -> Alarm {
    let mut dimensions: Vec<(String, String)> = a
        .dimensions()
        .iter()
        .map(|d| {
            (
                d.name().unwrap_or_default().into(),
                d.value().unwrap_or_default().into(),
            )
        })
        .collect();
    dimensions.sort();
    let mut actions = a.alarm_actions().to_vec();
    actions.sort();
    Alarm {
        name: a.alarm_name().unwrap_or_default().into(),
        description: a.alarm_description().unwrap_or_default().into(),
        namespace: a.namespace().unwrap_or_default().into(),
        metric: a.metric_name().unwrap_or_default().into(),
        dimensions,
        statistic: a
            .statistic()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        period: a.period().unwrap_or_default(),
        evaluation_periods: a.evaluation_periods().unwrap_or_default(),
        threshold: a.threshold().unwrap_or_default(),
        comparison: a
            .comparison_operator()
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        treat_missing_data: a.treat_missing_data().unwrap_or("missing").into(),
        actions,
    }
}

/// Creates or replaces `alarm` whole; `tags` are set when it is created.
pub async fn put(ctx: Ctx<'_>, alarm: &Alarm, tags: &Tags) -> anyhow::Result<()> {
    let dimensions = alarm
        .dimensions
        .iter()
        .map(|(n, v)| Dimension::builder().name(n).value(v).build())
        .collect();
    ctx.clients
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(&alarm.name)
        .alarm_description(&alarm.description)
        .namespace(&alarm.namespace)
        .metric_name(&alarm.metric)
        .set_dimensions(Some(dimensions))
        .statistic(Statistic::from(alarm.statistic.as_str()))
        .period(alarm.period)
        .evaluation_periods(alarm.evaluation_periods)
        .threshold(alarm.threshold)
        .comparison_operator(ComparisonOperator::from(alarm.comparison.as_str()))
        .treat_missing_data(&alarm.treat_missing_data)
        .set_alarm_actions(Some(alarm.actions.clone()))
        .set_tags(Some(cloudwatch_tags(tags)))
        .send()
        .await
        .doing(|| format!("putting alarm {}", alarm.name))?;
    Ok(())
}

/// Adds `tags` to a live alarm.
pub async fn tag(ctx: Ctx<'_>, arn: &str, tags: &Tags) -> anyhow::Result<()> {
    ctx.clients
        .cloudwatch
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(cloudwatch_tags(tags)))
        .send()
        .await
        .doing(|| format!("tagging alarm {arn}"))?;
    Ok(())
}

/// Deletes the alarms named (CloudWatch ignores a name that does not exist).
pub async fn delete(ctx: Ctx<'_>, names: &[String]) -> anyhow::Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    ctx.clients
        .cloudwatch
        .delete_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .send()
        .await
        .doing(|| format!("deleting alarms {}", names.join(", ")))?;
    Ok(())
}

fn cloudwatch_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}
