//! `logs`: the function's log events, read from its CloudWatch Logs group with
//! `FilterLogEvents`, every page of it.
//!
//! - `--since 10m|2h|1d|<RFC 3339>`: where to start (default 10 minutes ago);
//! - `--follow`: poll until Ctrl-C. Each poll starts at the newest timestamp already shown, and
//!   the events already shown at that millisecond are skipped by their id: no gap (an event
//!   stored late at that same millisecond still comes) and no duplicate;
//! - `--request-id ID`: every line of one request, the id a 500 showed its client;
//! - `--errors`: level ERROR only, and Lambda's own "Task timed out" lines.
//!
//! The filters are sent to CloudWatch as a filter pattern (fewer bytes over the wire) and applied
//! again here, on the parsed line, so that what is shown is exact whatever the service matched.
//! The function's keys come from its contract ([`function::contract::log`]).

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_types::date_time::{DateTime, Format};
use function::contract::log;
use serde_json::Value;

use crate::aws::error::{describe, is_not_found};

/// How often `--follow` asks for new events. CloudWatch Logs allows FilterLogEvents 5 times a
/// second per account and region (its service quotas); every 2 s leaves room for other readers.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(2);

/// The default of `--since`.
pub const DEFAULT_SINCE: &str = "10m";

/// What to show.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// Milliseconds since the epoch.
    pub start_ms: i64,
    pub request_id: Option<String>,
    pub errors: bool,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub timestamp_ms: i64,
    pub id: String,
    pub message: String,
}

/// `--since`: a duration back from `now` (`90s`, `10m`, `2h`, `1d`) or an RFC 3339 time.
pub fn parse_since(text: &str, now: SystemTime) -> Result<i64, String> {
    let text = text.trim();
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    if let Ok(back) = crate::duration::parse(text) {
        return Ok(now_ms.saturating_sub(i64::try_from(back.as_millis()).unwrap_or(i64::MAX)));
    }
    DateTime::from_str(text, Format::DateTime)
        .map_err(|_| {
            format!(
                "--since {text:?}: use a duration back from now (90s, 10m, 2h, 1d) or an RFC 3339 \
                 time (2026-11-27T09:00:00Z)"
            )
        })
        .and_then(|t| t.to_millis().map_err(|e| format!("--since {text:?}: {e}")))
}

/// The filter pattern CloudWatch applies: the request id as a quoted term, or the two texts of
/// an error (`?` ORs terms).
pub fn filter_pattern(q: &Query) -> Option<String> {
    match (&q.request_id, q.errors) {
        (Some(id), _) => Some(format!("\"{}\"", id.replace('"', ""))),
        (None, true) => Some(format!("?{} ?\"Task timed out\"", log::ERROR)),
        (None, false) => None,
    }
}

/// Whether `e` is shown: the query applied to the parsed line (exact, whatever the pattern
/// matched on the service's side).
pub fn wanted(q: &Query, e: &Event) -> bool {
    let line: Option<Value> = serde_json::from_str(&e.message).ok();
    let field = |key: &str| {
        line.as_ref()
            .and_then(|l| l.get(key))
            .and_then(Value::as_str)
    };
    if let Some(id) = &q.request_id {
        let ours = field(log::REQUEST_ID).is_some_and(|r| r == id);
        // Lambda's own START/END/REPORT lines name the request in their text.
        let lambdas = line.is_none() && e.message.contains(id.as_str());
        if !(ours || lambdas) {
            return false;
        }
    }
    if q.errors {
        let error = match field(log::LEVEL) {
            Some(level) => level == log::ERROR,
            None => e.message.contains("Task timed out") || e.message.contains(log::ERROR),
        };
        if !error {
            return false;
        }
    }
    true
}

/// One line for people: time, level, request id, message, then the remaining fields as
/// `key=value`. A line that is not the function's JSON is shown as it is, after its time.
pub fn render(e: &Event) -> String {
    // Always three digits of milliseconds, so that the lines align and sort as text.
    let (secs, ms) = (
        e.timestamp_ms.div_euclid(1000),
        e.timestamp_ms.rem_euclid(1000),
    );
    let time = DateTime::from_secs(secs).fmt(Format::DateTime).map_or_else(
        |_| e.timestamp_ms.to_string(),
        |t| format!("{}.{ms:03}Z", t.trim_end_matches('Z')),
    );
    let Ok(Value::Object(mut line)) = serde_json::from_str::<Value>(&e.message) else {
        return format!("{time} {}", e.message.trim_end());
    };
    let mut take = |key: &str| match line.remove(key) {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => "-".to_string(),
    };
    let (level, id, message) = (take(log::LEVEL), take(log::REQUEST_ID), take(log::MESSAGE));
    line.remove(log::TIME);
    // In key order, whatever order serde_json keeps a map in.
    let mut rest: Vec<String> = line
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    rest.sort();
    format!("{time} {level:<5} {id} {message} {}", rest.join(" "))
        .trim_end()
        .to_string()
}

/// Every event of `group` from `q.start_ms` on, all pages, in the order CloudWatch keeps them.
pub async fn fetch(
    client: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    q: &Query,
) -> anyhow::Result<Vec<Event>> {
    let mut events = Vec::new();
    let mut pages = client
        .filter_log_events()
        .log_group_name(group)
        .start_time(q.start_ms)
        .set_filter_pattern(filter_pattern(q))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            if is_not_found(&e) {
                anyhow::anyhow!(
                    "the function's log group {group} does not exist: is the stack deployed? \
                     (`deployer up`)"
                )
            } else {
                anyhow::anyhow!("reading the log events of {group}: {}", describe(&e))
            }
        })?;
        for e in page.events() {
            events.push(Event {
                timestamp_ms: e.timestamp().unwrap_or(0),
                id: e.event_id().unwrap_or_default().to_string(),
                message: e.message().unwrap_or_default().to_string(),
            });
        }
    }
    events.sort_by_key(|e| e.timestamp_ms);
    Ok(events.into_iter().filter(|e| wanted(q, e)).collect())
}

/// What `--follow` has shown: the newest timestamp, and the ids shown at it.
#[derive(Debug, Default)]
pub struct Cursor {
    newest_ms: Option<i64>,
    at_newest: HashSet<String>,
}

impl Cursor {
    /// Where the next poll starts: at the newest timestamp shown, not after it, so that an event
    /// stored late at that millisecond is not missed.
    pub fn start(&self, since_ms: i64) -> i64 {
        self.newest_ms.unwrap_or(since_ms)
    }

    /// The events of a poll not shown before, remembered as shown.
    pub fn fresh(&mut self, events: Vec<Event>) -> Vec<Event> {
        let mut out = Vec::new();
        for e in events {
            match self.newest_ms {
                Some(n) if e.timestamp_ms < n => continue,
                Some(n) if e.timestamp_ms == n && self.at_newest.contains(&e.id) => continue,
                Some(n) if e.timestamp_ms == n => {}
                _ => {
                    self.newest_ms = Some(e.timestamp_ms);
                    self.at_newest.clear();
                }
            }
            self.at_newest.insert(e.id.clone());
            out.push(e);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ms: i64, id: &str, message: &str) -> Event {
        Event {
            timestamp_ms: ms,
            id: id.into(),
            message: message.into(),
        }
    }

    #[test]
    fn since_takes_durations_and_rfc3339() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(parse_since("10m", now), Ok(1_000_000_000 - 600_000));
        assert_eq!(parse_since("2h", now), Ok(1_000_000_000 - 7_200_000));
        assert_eq!(parse_since("90s", now), Ok(1_000_000_000 - 90_000));
        assert_eq!(parse_since("1d", now), Ok(1_000_000_000 - 86_400_000));
        assert_eq!(
            parse_since("2026-11-27T09:00:00Z", now),
            Ok(1_795_770_000_000)
        );
        for bad in ["", "10", "ten minutes", "10y", "2026-13-01"] {
            assert!(
                parse_since(bad, now).is_err_and(|e| e.contains("RFC 3339")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_filters_are_exact_on_the_parsed_line() {
        let ours = r#"{"timestamp":"t","level":"INFO","requestId":"abc","message":"request"}"#;
        let failed = r#"{"timestamp":"t","level":"ERROR","requestId":"abc","message":"failed"}"#;
        let other = r#"{"timestamp":"t","level":"INFO","requestId":"abcd","message":"request"}"#;
        let report = "REPORT RequestId: abc\tDuration: 2.1 ms";
        let timeout = "2026-11-27T09:00:00Z abc Task timed out after 3.00 seconds";
        let by_id = Query {
            request_id: Some("abc".into()),
            ..Query::default()
        };
        let errors = Query {
            errors: true,
            ..Query::default()
        };
        let shown = |q: &Query| -> Vec<&str> {
            [ours, failed, other, report, timeout]
                .into_iter()
                .filter(|m| wanted(q, &event(0, "1", m)))
                .collect()
        };
        assert_eq!(shown(&by_id), [ours, failed, report, timeout]);
        assert_eq!(shown(&errors), [failed, timeout]);
        assert_eq!(filter_pattern(&by_id).as_deref(), Some("\"abc\""));
        assert_eq!(
            filter_pattern(&errors).as_deref(),
            Some("?ERROR ?\"Task timed out\"")
        );
        assert_eq!(filter_pattern(&Query::default()), None);
    }

    #[test]
    fn a_line_renders_time_level_id_message_then_the_rest() {
        let e = event(
            1_795_770_000_123,
            "1",
            r#"{"timestamp":"x","level":"INFO","requestId":"abc","message":"request","status":200,"path":"/counter"}"#,
        );
        assert_eq!(
            render(&e),
            "2026-11-27T09:00:00.123Z INFO  abc request path=/counter status=200"
        );
        assert_eq!(
            render(&event(1_795_770_000_000, "2", "START RequestId: abc\n")),
            "2026-11-27T09:00:00.000Z START RequestId: abc"
        );
    }

    #[test]
    fn follow_has_no_duplicate_and_no_gap_at_the_same_millisecond() {
        let mut c = Cursor::default();
        assert_eq!(c.start(5), 5);
        let first = c.fresh(vec![event(10, "a", "1"), event(20, "b", "2")]);
        assert_eq!(first.len(), 2);
        assert_eq!(c.start(5), 20);
        // The next poll starts at 20 again: b is skipped, c (stored late at 20) and d are new.
        let second = c.fresh(vec![
            event(20, "b", "2"),
            event(20, "c", "3"),
            event(30, "d", "4"),
        ]);
        let ids: Vec<&str> = second.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["c", "d"]);
        assert_eq!(c.fresh(vec![event(30, "d", "4")]), vec![]);
    }
}
