//! The metrics `status` reads, all in one `GetMetricData`, over one window: what API Gateway,
//! Lambda and DynamoDB publish for the stack's stage, function and table.
//!
//! The window ends at the next whole minute and its one period spans it (a multiple of 60 s,
//! as CloudWatch requires), so each series has one datapoint, or two when CloudWatch aligns the
//! period to its own boundaries: sums add up, a percentile shows the larger.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricDataResult, MetricStat};
use serde::Serialize;

use crate::names::Names;

/// What a series is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum On {
    /// The REST API's stage: `ApiName`, `Stage`.
    Stage,
    /// The function, whatever version or alias ran: `FunctionName`.
    Function,
    /// The table's calls of one operation: `TableName`, `Operation`.
    Table(&'static str),
}

/// One series: its query id, namespace, metric, statistic and dimensions.
struct Series {
    id: &'static str,
    namespace: &'static str,
    metric: &'static str,
    stat: &'static str,
    on: On,
}

const fn series(
    id: &'static str,
    namespace: &'static str,
    metric: &'static str,
    stat: &'static str,
    on: On,
) -> Series {
    Series {
        id,
        namespace,
        metric,
        stat,
        on,
    }
}

const SERIES: &[Series] = &[
    series("requests", "AWS/ApiGateway", "Count", "Sum", On::Stage),
    series("errors_4xx", "AWS/ApiGateway", "4XXError", "Sum", On::Stage),
    series("errors_5xx", "AWS/ApiGateway", "5XXError", "Sum", On::Stage),
    series(
        "invocations",
        "AWS/Lambda",
        "Invocations",
        "Sum",
        On::Function,
    ),
    series("errors", "AWS/Lambda", "Errors", "Sum", On::Function),
    series("throttles", "AWS/Lambda", "Throttles", "Sum", On::Function),
    series("p50", "AWS/Lambda", "Duration", "p50", On::Function),
    series("p99", "AWS/Lambda", "Duration", "p99", On::Function),
    series(
        "db_update",
        "AWS/DynamoDB",
        "ThrottledRequests",
        "Sum",
        On::Table("UpdateItem"),
    ),
    series(
        "db_get",
        "AWS/DynamoDB",
        "ThrottledRequests",
        "Sum",
        On::Table("GetItem"),
    ),
];

/// The span the figures cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: SystemTime,
    pub end: SystemTime,
    /// Seconds: the whole window, a multiple of 60.
    pub period: i32,
}

impl Window {
    /// From `start_ms` (since the epoch) to the next whole minute after `now` (strictly: in the
    /// first second of a minute, its start would leave out what that second published).
    pub fn new(start_ms: i64, now: SystemTime) -> Window {
        let now_s = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let end_s = (now_s / 60 + 1) * 60;
        let start_s = u64::try_from(start_ms / 1000).unwrap_or(0).min(end_s - 60);
        let span = (end_s - start_s).div_ceil(60) * 60;
        let period = i32::try_from(span).unwrap_or(i32::MAX / 60 * 60);
        Window {
            start: UNIX_EPOCH + Duration::from_secs(end_s - span),
            end: UNIX_EPOCH + Duration::from_secs(end_s),
            period,
        }
    }
}

/// The queries of every series; the stage's are left out when there is no API (`api_name`).
pub fn queries(names: &Names, api_name: Option<&str>, window: &Window) -> Vec<MetricDataQuery> {
    SERIES
        .iter()
        .filter_map(|s| {
            let dims: Vec<(&str, &str)> = match s.on {
                On::Stage => vec![("ApiName", api_name?), ("Stage", &names.stage)],
                On::Function => vec![("FunctionName", &names.function)],
                On::Table(op) => vec![("TableName", &names.table), ("Operation", op)],
            };
            let dimensions = dims
                .into_iter()
                .map(|(n, v)| Dimension::builder().name(n).value(v).build())
                .collect();
            let metric = Metric::builder()
                .namespace(s.namespace)
                .metric_name(s.metric)
                .set_dimensions(Some(dimensions))
                .build();
            let stat = MetricStat::builder()
                .metric(metric)
                .period(window.period)
                .stat(s.stat)
                .build();
            Some(
                MetricDataQuery::builder()
                    .id(s.id)
                    .metric_stat(stat)
                    .build(),
            )
        })
        .collect()
}

/// The API's requests at its stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Gateway {
    pub requests: u64,
    pub errors_4xx: u64,
    pub errors_5xx: u64,
}

/// The function's invocations, whatever version ran them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Function {
    pub invocations: u64,
    pub errors: u64,
    pub throttles: u64,
    pub duration_p50_ms: Option<f64>,
    pub duration_p99_ms: Option<f64>,
}

/// The figures of every series, as CloudWatch answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub gateway: Option<Gateway>,
    pub function: Function,
    /// The table's throttled requests (the counter's UpdateItem and the reads' GetItem).
    pub table_throttles: u64,
}

/// Reads the answers of [`queries`]; `staged` says whether the stage's were asked.
pub fn figures(results: &[MetricDataResult], staged: bool) -> Figures {
    let values = |id: &str| -> Vec<f64> {
        results
            .iter()
            .filter(|r| r.id() == Some(id))
            .flat_map(|r| r.values().iter().copied())
            .collect()
    };
    let sum = |id: &str| -> u64 {
        let total: f64 = values(id).iter().sum();
        // Counts are whole; a sum is never negative.
        total.max(0.0).round() as u64
    };
    let most = |id: &str| values(id).into_iter().reduce(f64::max);
    Figures {
        gateway: staged.then(|| Gateway {
            requests: sum("requests"),
            errors_4xx: sum("errors_4xx"),
            errors_5xx: sum("errors_5xx"),
        }),
        function: Function {
            invocations: sum("invocations"),
            errors: sum("errors"),
            throttles: sum("throttles"),
            duration_p50_ms: most("p50"),
            duration_p99_ms: most("p99"),
        },
        table_throttles: sum("db_update") + sum("db_get"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        let text = "name: vc\nstage: prod\n";
        let stack = crate::stack::parse(text, std::path::Path::new("stack.yaml")).unwrap();
        Names::derive(&stack, "us-east-1")
    }

    #[test]
    fn the_window_ends_at_the_next_minute_and_is_one_period() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_030);
        let w = Window::new((1_000_030 - 86_400) * 1000, now);
        assert_eq!(w.end, UNIX_EPOCH + Duration::from_secs(1_000_080));
        assert_eq!(w.period, 86_460);
        assert_eq!(w.period % 60, 0);
        assert_eq!(w.end.duration_since(w.start).unwrap().as_secs(), 86_460);
        let w = Window::new(1_000_030 * 1000, now);
        assert_eq!(w.period, 60, "a window is never shorter than a minute");
        // Half a second into a minute: what that half second published is inside.
        let early = UNIX_EPOCH + Duration::from_millis(1_000_020_500);
        let w = Window::new(0, early);
        assert_eq!(w.end, UNIX_EPOCH + Duration::from_secs(1_000_080));
        assert!(w.end > early);
    }

    #[test]
    fn every_series_is_asked_on_the_stacks_own_dimensions() {
        let w = Window::new(0, UNIX_EPOCH + Duration::from_secs(3599));
        let all = queries(&names(), Some("vc-prod"), &w);
        assert_eq!(all.len(), SERIES.len());
        let dims = |q: &MetricDataQuery| -> Vec<(String, String)> {
            q.metric_stat()
                .unwrap()
                .metric()
                .unwrap()
                .dimensions()
                .iter()
                .map(|d| (d.name().unwrap().into(), d.value().unwrap().into()))
                .collect()
        };
        assert_eq!(
            dims(&all[0]),
            [
                ("ApiName".into(), "vc-prod".into()),
                ("Stage".into(), "prod".into())
            ]
        );
        assert_eq!(dims(&all[3]), [("FunctionName".into(), "vc-prod".into())]);
        assert_eq!(all[8].metric_stat().unwrap().period(), Some(3600));
        assert_eq!(queries(&names(), None, &w).len(), SERIES.len() - 3);
    }

    #[test]
    fn sums_add_up_and_a_percentile_shows_the_larger() {
        let result = |id: &str, values: &[f64]| {
            MetricDataResult::builder()
                .id(id)
                .set_values(Some(values.to_vec()))
                .build()
        };
        let f = figures(
            &[
                result("requests", &[3.0, 4.0]),
                result("errors_5xx", &[1.0]),
                result("p99", &[120.5, 80.0]),
                result("db_update", &[2.0]),
                result("db_get", &[1.0]),
            ],
            true,
        );
        assert_eq!(f.gateway.as_ref().unwrap().requests, 7);
        assert_eq!(f.gateway.as_ref().unwrap().errors_5xx, 1);
        assert_eq!(f.function.duration_p99_ms, Some(120.5));
        assert_eq!(f.function.duration_p50_ms, None, "no datapoint, no figure");
        assert_eq!(f.table_throttles, 3);
        assert_eq!(figures(&[], false).gateway, None);
    }
}
