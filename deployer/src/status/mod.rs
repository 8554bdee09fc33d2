//! `status`: is the counter working? One read of everything a site's owner asks after a
//! deploy or a recruiter's visit, and nothing written:
//!
//! - the live version (the `live` alias) and when it was deployed, and the count;
//! - over the window (`--since`, a day by default): the requests at the stage with their 4xx
//!   and 5xx, the function's invocations, errors, throttles and p50/p99 duration, its cold
//!   starts, and the table's throttled requests, from one `GetMetricData` ([`series`]);
//! - the state of each of the stack's alarms.
//!
//! Healthy means no alarm firing and no error or throttle in the window: 4xx are not errors
//! of the stack (a bot's 404, a throttled burst), and are shown, not judged. API Gateway's REST
//! APIs publish no count of throttled requests: a 429 is one of the 4xx.

pub mod report;
pub mod series;

use std::time::SystemTime;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::StateValue;

use crate::aws::{AwsContext as _, Found as _};
use crate::names::Names;
use crate::resources::{alerts, alias, api, table};
use crate::session::Session;

pub use report::{Alarm, StatusReport};
use series::Window;

/// The window's default: the last day.
pub const DEFAULT_SINCE: &str = "1d";

/// Reads the status of the deployed stack from `start_ms` (since the epoch) to now.
pub async fn read(session: &Session<'_>, start_ms: i64) -> anyhow::Result<StatusReport> {
    let (clients, names) = (&session.clients, &session.names);
    let window = Window::new(start_ms, SystemTime::now());
    let (live, api_name, count, alarms, cold_starts) = tokio::join!(
        live(session),
        api_name(session),
        table::count(clients, names),
        alarms(clients, names),
        cold_starts(clients, names, start_ms),
    );
    let (version, deployed_at) = live?;
    let api_name = api_name?;
    let queries = series::queries(names, api_name.as_deref(), &window);
    let pages = clients
        .cloudwatch
        .get_metric_data()
        .set_metric_data_queries(Some(queries))
        .start_time(DateTime::from(window.start))
        .end_time(DateTime::from(window.end))
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    let mut results = Vec::new();
    for page in pages {
        let page = page.doing(|| format!("reading the metrics of stack {}", names.stack))?;
        results.extend(page.metric_data_results().iter().cloned());
    }
    let figures = series::figures(&results, api_name.is_some());
    Ok(StatusReport::new(
        names,
        &window,
        report::Live {
            live_version: version,
            deployed_at,
            count: count?,
        },
        figures,
        cold_starts?,
        alarms?,
    ))
}

/// The live alias's version and when that version was published; an error when the function
/// is not deployed.
async fn live(session: &Session<'_>) -> anyhow::Result<(Option<String>, Option<String>)> {
    let (clients, names) = (&session.clients, &session.names);
    let function = clients
        .lambda
        .get_function_configuration()
        .function_name(&names.function)
        .send()
        .await
        .found(|| format!("reading function {}", names.function))?;
    if function.is_none() {
        anyhow::bail!(
            "stack {} ({}) is not deployed: function {} does not exist; run `deployer up`",
            names.stack,
            names.stage,
            names.function
        );
    }
    let Some(version) = alias::live_version(clients, names).await? else {
        return Ok((None, None));
    };
    let config = alias::version_configuration(clients, &names.function, &version).await?;
    let deployed_at = config.and_then(|c| c.last_modified().map(str::to_string));
    Ok((Some(version), deployed_at))
}

/// The name of the stack's REST API (its metrics' `ApiName`), if it has one: the listing that
/// finds it by its tags (or by `api.id`) gives its name, with no read of its routes.
async fn api_name(session: &Session<'_>) -> anyhow::Result<Option<String>> {
    let found = api::find(&session.clients, &session.names).await?;
    Ok(found.into_iter().next().map(|a| a.name))
}

/// The state of each of the stack's alarms that exists.
async fn alarms(clients: &crate::aws::Clients, names: &Names) -> anyhow::Result<Vec<Alarm>> {
    let found = alerts::alarms::describe(clients, names).await?;
    Ok(found
        .iter()
        .map(|a| Alarm {
            name: a.alarm_name().unwrap_or_default().to_string(),
            state: a
                .state_value()
                .map_or_else(|| "UNKNOWN".into(), |s| s.as_str().to_string()),
            firing: a.state_value() == Some(&StateValue::Alarm),
            reason: a.state_reason().unwrap_or_default().to_string(),
        })
        .collect())
}

/// Lambda's `REPORT` lines with an `Init Duration` since `start_ms`: the cold starts (Lambda
/// publishes no metric of them). `None` when the log group does not exist.
async fn cold_starts(
    clients: &crate::aws::Clients,
    names: &Names,
    start_ms: i64,
) -> anyhow::Result<Option<u64>> {
    let group = &names.log_group;
    let mut pages = clients
        .logs
        .filter_log_events()
        .log_group_name(group)
        .start_time(start_ms)
        .filter_pattern("\"Init Duration\"")
        .into_paginator()
        .send();
    let mut cold = 0;
    while let Some(page) = pages.next().await {
        let Some(page) = page.found(|| format!("reading the log events of {group}"))? else {
            return Ok(None);
        };
        cold += page
            .events()
            .iter()
            .filter(|e| {
                let text = e.message().unwrap_or_default();
                text.starts_with("REPORT") && text.contains("Init Duration")
            })
            .count() as u64;
    }
    Ok(Some(cold))
}
