//! What Lambda writes to CloudWatch Logs for an invocation: the process's own lines between
//! `START` and `END`, then `REPORT` with the duration, billed duration, memory and, on a cold
//! start, the init duration; on a cold start `INIT_START` and the init's lines first; a timeout
//! or a crash named as Lambda names it. All in `/aws/lambda/{function}`, in the stream of the
//! execution environment, `YYYY/MM/DD/[VERSION]<32 hex>`, when the role may write there.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use lambda_local::{Invocation, Outcome};

use super::{DataPlane, Version, ACCOUNT, REGION};
use crate::policy::{self, Context, Decision, Request};

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    pub(super) at: SystemTime,
    pub(super) text: String,
}

/// The function's log group.
pub(super) fn group(function: &str) -> String {
    format!("/aws/lambda/{function}")
}

/// The stream of the execution environment `environment` of `version`, dated `at` (UTC).
fn stream(version: &str, environment: &str, at: SystemTime) -> String {
    let days = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() / 86_400;
    let (y, m, d) = civil(i64::try_from(days).unwrap_or(0));
    format!("{y:04}/{m:02}/{d:02}/[{version}]{environment}")
}

/// The proleptic Gregorian date of a day since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (era * 400 + yoe + i64::from(m <= 2), m, d)
}

/// `2026-12-01T09:30:01.123Z`
fn iso(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (y, m, d) = civil(i64::try_from(secs / 86_400).unwrap_or(0));
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        since.subsec_millis()
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Every line Lambda logs for `inv`, which started at `started`.
pub(super) fn lines(v: &Version, inv: &Invocation, started: SystemTime) -> Vec<Line> {
    let id = &inv.request_id;
    let mut out = init_lines(inv, started);
    let begun = started + inv.init.unwrap_or_default();
    out.push(Line {
        at: begun,
        text: format!("START RequestId: {id} Version: {}", v.version),
    });
    out.extend(inv.logs.iter().map(|l| Line {
        at: l.at,
        text: l.text.clone(),
    }));
    out.extend(end_lines(v, inv, begun + inv.duration));
    out
}

/// A cold start's `INIT_START` and the init's own lines; an init that failed, reported.
fn init_lines(inv: &Invocation, started: SystemTime) -> Vec<Line> {
    let mut out = Vec::new();
    if !inv.cold {
        return out;
    }
    out.push(Line {
        at: started,
        text: "INIT_START Runtime Version: provided:al2023.v100\tRuntime Version ARN: \
               arn:aws:lambda:us-east-1::runtime:emulated"
            .to_string(),
    });
    out.extend(inv.init_logs.iter().map(|l| Line {
        at: l.at,
        text: l.text.clone(),
    }));
    if inv.init.is_none() {
        out.push(Line {
            at: started,
            text: format!(
                "INIT_REPORT Init Duration: {:.2} ms\tPhase: init\tStatus: error\tError Type: \
                 Runtime.ExitError",
                ms(inv.duration)
            ),
        });
    }
    out
}

/// A timeout's or a crash's line, `END`, and `REPORT` with its figures and status.
fn end_lines(v: &Version, inv: &Invocation, ended: SystemTime) -> Vec<Line> {
    let id = &inv.request_id;
    let mut out = Vec::new();
    let line = |text: String| Line { at: ended, text };
    let status = match &inv.outcome {
        Outcome::Timeout => {
            out.push(line(format!(
                "{} {id} Task timed out after {:.2} seconds",
                iso(ended),
                inv.duration.as_secs_f64()
            )));
            "Status: timeout\t".to_string()
        }
        Outcome::Crashed(why) => {
            out.push(line(format!(
                "RequestId: {id} Error: Runtime exited with error: {why}\nRuntime.ExitError"
            )));
            "Status: error\tError Type: Runtime.ExitError\t".to_string()
        }
        _ => String::new(),
    };
    out.push(line(format!("END RequestId: {id}")));
    let billed = (ms(inv.duration) + ms(inv.init.unwrap_or_default())).ceil();
    let init_field = inv
        .init
        .map(|d| format!("Init Duration: {:.2} ms\t", ms(d)))
        .unwrap_or_default();
    out.push(line(format!(
        "REPORT RequestId: {id}\tDuration: {:.2} ms\tBilled Duration: {billed:.0} ms\tMemory \
         Size: {} MB\tMax Memory Used: {} MB\t{init_field}{status}",
        ms(inv.duration),
        v.memory_mb,
        inv.max_memory_mb.max(1)
    )));
    out
}

/// The last 4 KB of the invocation's log, base64: `Invoke`'s `X-Amz-Log-Result`.
pub(super) fn tail(lines: &[Line]) -> String {
    let text: String = lines.iter().map(|l| format!("{}\n", l.text)).collect();
    let bytes = text.as_bytes();
    let from = bytes.len().saturating_sub(4096);
    base64::engine::general_purpose::STANDARD.encode(&bytes[from..])
}

/// Puts `lines` in the function's log group, as Lambda does with the execution role: nothing
/// when the group does not exist or the role may not write to it (Lambda then drops them).
pub(super) async fn write(dp: &DataPlane, v: &Version, inv: &Invocation, lines: &[Line]) {
    let group = group(&v.name);
    let Some(first) = lines.first() else {
        return;
    };
    let stream = stream(&v.version, &inv.environment, first.at);
    let stream_arn =
        format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:log-stream:{stream}");
    let documents = super::access::role_documents(dp, &v.role_arn)
        .await
        .unwrap_or_default();
    let context = Context::new();
    let may = |action: &str| {
        policy::evaluate(
            &documents,
            &Request {
                action,
                resource: &stream_arn,
                context: &context,
                principal: None,
            },
        ) == Decision::Allow
    };
    if !may("logs:CreateLogStream") || !may("logs:PutLogEvents") {
        return;
    }
    let logs = &dp.moto.logs;
    // Already there after the environment's first invocation: that error is expected.
    let _ = logs
        .create_log_stream()
        .log_group_name(&group)
        .log_stream_name(&stream)
        .send()
        .await;
    // PutLogEvents takes events in time order; the lines are in Lambda's order, and a line
    // stamped when it was read may trail the one after it by a few milliseconds.
    let mut latest = 0;
    let events: Vec<_> = lines
        .iter()
        .filter_map(|l| {
            let ms = l.at.duration_since(UNIX_EPOCH).ok()?.as_millis();
            latest = latest.max(i64::try_from(ms).ok()?);
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(latest)
                .message(&l.text)
                .build()
                .ok()
        })
        .collect();
    let _ = logs
        .put_log_events()
        .log_group_name(&group)
        .log_stream_name(&stream)
        .set_log_events(Some(events))
        .send()
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn version() -> Version {
        Version {
            name: "vc-prod".into(),
            version: "$LATEST".into(),
            code_sha256: String::new(),
            environment: BTreeMap::new(),
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            role_arn: String::new(),
            architecture: "x86_64".into(),
        }
    }

    fn invocation(outcome: Outcome, init: Option<Duration>) -> Invocation {
        Invocation {
            request_id: "r1".into(),
            environment: "0123456789abcdef0123456789abcdef".into(),
            outcome,
            duration: Duration::from_micros(1_234_560),
            cold: init.is_some(),
            init,
            init_logs: vec![],
            logs: vec![lambda_local::LogLine {
                at: UNIX_EPOCH,
                text: r#"{"level":"INFO"}"#.into(),
            }],
            max_memory_mb: 21,
        }
    }

    #[test]
    fn dates_and_streams_are_named_as_lambda_names_them() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(20_788), (2026, 12, 1));
        let at = UNIX_EPOCH + Duration::from_secs(20_788 * 86_400 + 3_661);
        assert_eq!(
            stream("3", "0123456789abcdef0123456789abcdef", at),
            "2026/12/01/[3]0123456789abcdef0123456789abcdef"
        );
        assert_eq!(iso(at), "2026-12-01T01:01:01.000Z");
    }

    #[test]
    fn a_cold_invocation_logs_init_start_report_with_init_duration() {
        let inv = invocation(
            Outcome::Response(bytes::Bytes::new()),
            Some(Duration::from_millis(10)),
        );
        let text: Vec<String> = lines(&version(), &inv, UNIX_EPOCH)
            .into_iter()
            .map(|l| l.text)
            .collect();
        assert!(text[0].starts_with("INIT_START Runtime Version: provided:al2023"));
        assert_eq!(text[1], "START RequestId: r1 Version: $LATEST");
        assert_eq!(text[2], r#"{"level":"INFO"}"#);
        assert_eq!(text[3], "END RequestId: r1");
        assert_eq!(
            text[4],
            "REPORT RequestId: r1\tDuration: 1234.56 ms\tBilled Duration: 1245 ms\tMemory Size: \
             128 MB\tMax Memory Used: 21 MB\tInit Duration: 10.00 ms\t"
        );
    }

    #[test]
    fn timeouts_and_crashes_are_named_in_the_report() {
        let timeout = lines(&version(), &invocation(Outcome::Timeout, None), UNIX_EPOCH);
        assert!(timeout
            .iter()
            .any(|l| l.text.contains("r1 Task timed out after 1.23 seconds")));
        assert!(timeout
            .last()
            .is_some_and(|l| l.text.ends_with("Status: timeout\t")));
        let mut at_init = invocation(Outcome::Crashed("exit status: 1".into()), None);
        at_init.cold = true;
        let crashed = lines(&version(), &at_init, UNIX_EPOCH);
        assert!(crashed[0].text.starts_with("INIT_START"));
        assert!(crashed[1].text.starts_with("INIT_REPORT Init Duration:"));
        assert!(crashed
            .last()
            .is_some_and(|l| l.text.ends_with("Error Type: Runtime.ExitError\t")));
    }
}
