//! What `status` prints: one screen for people, one JSON document for CI.

use std::fmt;

use serde::Serialize;

use super::series::{Figures, Function, Gateway, Window};
use crate::names::Names;

/// The live version, when it was deployed, and the count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Live {
    /// The version the `live` alias serves; `None` before the first versioned deploy.
    pub live_version: Option<String>,
    /// When that version was published (Lambda's `LastModified`).
    pub deployed_at: Option<String>,
    /// The counter item's count; `None` before the first visit.
    pub count: Option<u64>,
}

/// One of the stack's alarms, as CloudWatch last evaluated it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alarm {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    pub firing: bool,
    pub reason: String,
}

/// `deployer status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReport {
    pub stack: String,
    pub stage: String,
    /// The window the figures cover (RFC 3339).
    pub since: String,
    pub until: String,
    #[serde(flatten)]
    pub live: Live,
    /// `None` when the stack has no API.
    pub gateway: Option<Gateway>,
    pub function: Function,
    /// Cold starts (Lambda's `REPORT` lines with an init duration); `None` without a log group.
    pub cold_starts: Option<u64>,
    /// The table's throttled requests.
    pub table_throttles: u64,
    pub alarms: Vec<Alarm>,
    /// No alarm firing, and no error or throttle in the window.
    pub healthy: bool,
    /// What makes it unhealthy, one line each.
    pub problems: Vec<String>,
}

/// `2026-12-02T10:42:01Z`.
fn time(t: std::time::SystemTime) -> String {
    let t = aws_smithy_types::DateTime::from(t);
    t.fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| t.secs().to_string())
}

impl StatusReport {
    pub fn new(
        names: &Names,
        window: &Window,
        live: Live,
        figures: Figures,
        cold_starts: Option<u64>,
        alarms: Vec<Alarm>,
    ) -> StatusReport {
        let problems = problems(&figures, &alarms);
        StatusReport {
            stack: names.stack.clone(),
            stage: names.stage.clone(),
            since: time(window.start),
            until: time(window.end),
            live,
            gateway: figures.gateway,
            function: figures.function,
            cold_starts,
            table_throttles: figures.table_throttles,
            alarms,
            healthy: problems.is_empty(),
            problems,
        }
    }
}

/// Each reason the stack is not healthy: a firing alarm, errors, throttles.
fn problems(f: &Figures, alarms: &[Alarm]) -> Vec<String> {
    let mut out: Vec<String> = alarms
        .iter()
        .filter(|a| a.firing)
        .map(|a| format!("alarm {} is firing: {}", a.name, a.reason))
        .collect();
    let mut count = |n: u64, what: &str| {
        if n > 0 {
            out.push(format!("{n} {what}"));
        }
    };
    count(
        f.gateway.as_ref().map_or(0, |g| g.errors_5xx),
        "5xx answers at the stage",
    );
    count(
        f.function.errors,
        "function errors (`deployer logs --errors` shows them)",
    );
    count(f.function.throttles, "throttled invocations");
    count(f.table_throttles, "throttled table requests");
    out
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.0} ms"))
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "–".into());
        writeln!(f, "Stack {} ({})", self.stack, self.stage)?;
        let version = or_dash(&self.live.live_version);
        writeln!(
            f,
            "  live version  {version}, deployed {}",
            or_dash(&self.live.deployed_at)
        )?;
        let count = self
            .live
            .count
            .map_or_else(|| "– (no visit yet)".into(), |c| c.to_string());
        writeln!(f, "  count         {count}")?;
        writeln!(f, "From {} to {}:", self.since, self.until)?;
        match &self.gateway {
            Some(g) => writeln!(
                f,
                "  stage         {} requests, {} 4xx, {} 5xx",
                g.requests, g.errors_4xx, g.errors_5xx
            )?,
            None => writeln!(f, "  stage         no API deployed")?,
        }
        let func = &self.function;
        writeln!(
            f,
            "  function      {} invocations, {} errors, {} throttled; p50 {}, p99 {}; cold starts {}",
            func.invocations,
            func.errors,
            func.throttles,
            ms(func.duration_p50_ms),
            ms(func.duration_p99_ms),
            self.cold_starts.map_or_else(|| "–".into(), |c| c.to_string()),
        )?;
        writeln!(
            f,
            "  table         {} throttled requests",
            self.table_throttles
        )?;
        if self.alarms.is_empty() {
            writeln!(f, "Alarms: none (set `alerts:` in stack.yaml)")?;
        } else {
            writeln!(f, "Alarms:")?;
            for a in &self.alarms {
                writeln!(f, "  {:<18} {}", a.state, a.name)?;
            }
        }
        if self.healthy {
            return writeln!(f, "Healthy.");
        }
        writeln!(f, "Unhealthy:")?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}
