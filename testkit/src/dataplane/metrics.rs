//! The metrics AWS publishes for each request, in the emulator's CloudWatch, where `deployer
//! status` reads them and the stack's alarms watch them:
//!
//! - API Gateway (`AWS/ApiGateway`, by `ApiName` and `Stage`): `Count`, `4XXError`, `5XXError`
//!   (0 or 1 per request), `Latency` and, when the function ran, `IntegrationLatency`;
//! - Lambda (`AWS/Lambda`, by `FunctionName`, and by `FunctionName` and `Resource` for an
//!   invocation through an alias or version): `Invocations`, `Errors`, `Throttles`, `Duration`;
//! - DynamoDB (`AWS/DynamoDB`, by `TableName` and `Operation`): `ThrottledRequests`, when a call
//!   of a function is throttled.
//!
//! [`PUBLISHED`] lists them, so that a test can hold an alarm to a metric the path emits.
//! Lambda publishes no cold-start metric: cold starts are the `REPORT` lines with an
//! `Init Duration`, in the function's logs.

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

use super::{DataPlane, Version};

/// Every metric the emulated path publishes: namespace, name, and the dimension sets.
pub const PUBLISHED: &[(&str, &str, &[&[&str]])] = &[
    ("AWS/ApiGateway", "Count", &[&["ApiName", "Stage"]]),
    ("AWS/ApiGateway", "4XXError", &[&["ApiName", "Stage"]]),
    ("AWS/ApiGateway", "5XXError", &[&["ApiName", "Stage"]]),
    ("AWS/ApiGateway", "Latency", &[&["ApiName", "Stage"]]),
    (
        "AWS/ApiGateway",
        "IntegrationLatency",
        &[&["ApiName", "Stage"]],
    ),
    ("AWS/Lambda", "Invocations", LAMBDA_DIMENSIONS),
    ("AWS/Lambda", "Errors", LAMBDA_DIMENSIONS),
    ("AWS/Lambda", "Throttles", LAMBDA_DIMENSIONS),
    ("AWS/Lambda", "Duration", LAMBDA_DIMENSIONS),
    (
        "AWS/DynamoDB",
        "ThrottledRequests",
        &[&["TableName", "Operation"]],
    ),
];

const LAMBDA_DIMENSIONS: &[&[&str]] = &[&["FunctionName"], &["FunctionName", "Resource"]];

/// One request served by a stage: its status, and how long it and its integration took.
pub(super) struct GatewayRequest<'a> {
    pub(super) api: &'a str,
    pub(super) stage: &'a str,
    pub(super) status: u16,
    pub(super) latency_ms: f64,
    pub(super) integration_ms: Option<f64>,
}

/// Publishes API Gateway's metrics of one request.
pub(super) async fn gateway(dp: &DataPlane, request: &GatewayRequest<'_>) {
    let Some(name) = api_name(dp, request.api).await else {
        return;
    };
    let dims = [("ApiName", name.as_str()), ("Stage", request.stage)];
    let class = request.status / 100;
    let mut data = vec![
        datum("Count", 1.0, StandardUnit::Count, &dims),
        datum(
            "4XXError",
            f64::from(u8::from(class == 4)),
            StandardUnit::Count,
            &dims,
        ),
        datum(
            "5XXError",
            f64::from(u8::from(class == 5)),
            StandardUnit::Count,
            &dims,
        ),
        datum(
            "Latency",
            request.latency_ms,
            StandardUnit::Milliseconds,
            &dims,
        ),
    ];
    if let Some(ms) = request.integration_ms {
        data.push(datum(
            "IntegrationLatency",
            ms,
            StandardUnit::Milliseconds,
            &dims,
        ));
    }
    put(dp, "AWS/ApiGateway", data).await;
}

/// Publishes Lambda's metrics of one invocation of `version`, invoked as `qualifier`.
pub(super) async fn lambda(
    dp: &DataPlane,
    version: &Version,
    qualifier: Option<&str>,
    failed: bool,
    duration_ms: f64,
) {
    let resource = qualifier.map(|q| format!("{}:{q}", version.name));
    let mut sets = vec![vec![("FunctionName", version.name.as_str())]];
    if let Some(resource) = &resource {
        sets.push(vec![
            ("FunctionName", version.name.as_str()),
            ("Resource", resource.as_str()),
        ]);
    }
    let mut data = Vec::new();
    for dims in &sets {
        data.push(datum("Invocations", 1.0, StandardUnit::Count, dims));
        data.push(datum(
            "Errors",
            f64::from(u8::from(failed)),
            StandardUnit::Count,
            dims,
        ));
        data.push(datum("Throttles", 0.0, StandardUnit::Count, dims));
        data.push(datum(
            "Duration",
            duration_ms,
            StandardUnit::Milliseconds,
            dims,
        ));
    }
    put(dp, "AWS/Lambda", data).await;
}

/// Publishes DynamoDB's `ThrottledRequests` for a throttled `operation` on `table`.
pub(crate) async fn throttled(dp: &DataPlane, table: &str, operation: &str) {
    let dims = [("TableName", table), ("Operation", operation)];
    let data = vec![datum("ThrottledRequests", 1.0, StandardUnit::Count, &dims)];
    put(dp, "AWS/DynamoDB", data).await;
}

/// The API's name as it is now (a renamed API's metrics carry its new name).
async fn api_name(dp: &DataPlane, api: &str) -> Option<String> {
    let read = dp
        .moto
        .apigateway
        .get_rest_api()
        .rest_api_id(api)
        .send()
        .await;
    read.ok()?.name().map(str::to_string)
}

fn datum(name: &str, value: f64, unit: StandardUnit, dims: &[(&str, &str)]) -> MetricDatum {
    let dimensions = dims
        .iter()
        .map(|(n, v)| Dimension::builder().name(*n).value(*v).build())
        .collect();
    MetricDatum::builder()
        .metric_name(name)
        .value(value)
        .unit(unit)
        .timestamp(DateTime::from(std::time::SystemTime::now()))
        .set_dimensions(Some(dimensions))
        .build()
}

/// One `PutMetricData`; a failure to publish is not the request's failure, as on AWS.
async fn put(dp: &DataPlane, namespace: &str, data: Vec<MetricDatum>) {
    let sent = dp
        .moto
        .cloudwatch
        .put_metric_data()
        .namespace(namespace)
        .set_metric_data(Some(data))
        .send()
        .await;
    if let Err(e) = sent {
        eprintln!(
            "emulator: publishing {namespace} metrics failed: {}",
            aws_sdk_cloudwatch::error::DisplayErrorContext(e)
        );
    }
}
