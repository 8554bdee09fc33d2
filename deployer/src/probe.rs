//! The probe before traffic: one direct invocation of a published version with the function's
//! probe event ([`function::contract::probe`]). The function answers it by doing what a visit
//! needs (its init, a read of the counter item, the right to increment it) without counting.
//! `up` probes a version before the `live` alias moves to it, and `rollback` before it moves back.
//!
//! The invocation asks for its log tail (`LogType=Tail`: the last 4 KB of what the function
//! wrote), so a failed probe shows the function's own lines for that invocation.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::LogType;
use base64::Engine as _;
use function::contract::{probe, response};
use serde_json::Value;

use crate::aws::{AwsContext, Clients};

/// A probe that passed: the version that answered and the count it read.
#[derive(Debug, Clone, PartialEq)]
pub struct Passed {
    pub version: String,
    pub counter_value: u64,
}

/// Invokes version `version` of `function` with the probe event. `Err` says why the version may
/// not take traffic, with the function's log lines of that invocation.
pub async fn run(clients: &Clients, function: &str, version: &str) -> anyhow::Result<Passed> {
    let out = clients
        .lambda
        .invoke()
        .function_name(function)
        .qualifier(version)
        .log_type(LogType::Tail)
        .payload(Blob::new(probe::event().to_string()))
        .send()
        .await
        .doing(|| format!("probing version {version} of function {function}"))?;
    let payload: Value = out
        .payload()
        .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
        .unwrap_or(Value::Null);
    let logs = out.log_result().map(tail).unwrap_or_default();
    verdict(out.function_error(), &payload).map_err(|why| failed(function, version, &why, &logs))
}

/// Whether a failed probe says the function's own calls were denied (AccessDenied): after a
/// change of its role's policy, IAM may not apply the new one yet.
pub fn denied(failure: &anyhow::Error) -> bool {
    let text = failure.to_string();
    text.contains("AccessDenied") || text.contains("is not authorized to perform")
}

/// What the answer says: `Ok` with what the probe read, or why it failed.
fn verdict(function_error: Option<&str>, payload: &Value) -> Result<Passed, String> {
    if let Some(kind) = function_error {
        let detail = payload
            .get("errorType")
            .and_then(Value::as_str)
            .map(|t| {
                let message = payload["errorMessage"].as_str().unwrap_or_default();
                format!("{t}: {message}")
            })
            .unwrap_or_else(|| payload.to_string());
        return Err(format!("the function failed ({kind}): {detail}"));
    }
    if payload.get(probe::OK) != Some(&Value::Bool(true)) {
        let message = payload[response::MESSAGE]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("it answered {payload}, not the probe's answer"));
        return Err(message);
    }
    Ok(Passed {
        version: payload[response::VERSION]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        counter_value: payload[response::COUNTER_VALUE].as_u64().unwrap_or(0),
    })
}

fn failed(function: &str, version: &str, why: &str, logs: &str) -> anyhow::Error {
    let mut message =
        format!("the probe of version {version} of function {function} failed: {why}");
    if logs.trim().is_empty() {
        message.push_str("\n  (the function wrote no log lines for this invocation)");
    } else {
        message.push_str("\n  the function's log for this invocation:");
        for line in logs.lines().filter(|l| !l.trim().is_empty()) {
            message.push_str("\n    ");
            message.push_str(line);
        }
    }
    anyhow::anyhow!(message)
}

/// The log tail Lambda returns, base64 of the last 4 KB.
fn tail(encoded: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_passed_probe_reads_its_version_and_count() {
        let answer = json!({"ok": true, "version": "4", "counter_value": 12, "requestId": "r"});
        assert_eq!(
            verdict(None, &answer),
            Ok(Passed {
                version: "4".into(),
                counter_value: 12
            })
        );
    }

    #[test]
    fn a_failed_probe_says_why() {
        let denied = json!({"ok": false, "message": "DynamoDB UpdateItem failed: AccessDenied"});
        assert_eq!(
            verdict(None, &denied),
            Err("DynamoDB UpdateItem failed: AccessDenied".to_string())
        );
        let crashed = json!({"errorType": "Runtime.ExitError", "errorMessage": "exit status 1"});
        assert_eq!(
            verdict(Some("Unhandled"), &crashed),
            Err("the function failed (Unhandled): Runtime.ExitError: exit status 1".to_string())
        );
        // A function of another contract answers the event as if it were a request.
        let other = json!({"statusCode": 200});
        assert!(verdict(None, &other)
            .unwrap_err()
            .contains("not the probe's answer"));
    }

    #[test]
    fn the_message_carries_the_log_tail() {
        let logs = "START RequestId: r\n{\"level\":\"ERROR\"}\n";
        let encoded = base64::engine::general_purpose::STANDARD.encode(logs);
        let e = failed("f", "3", "boom", &tail(&encoded)).to_string();
        assert!(e.contains("version 3 of function f failed: boom"), "{e}");
        assert!(e.contains("\n    START RequestId: r"), "{e}");
        assert!(failed("f", "3", "boom", "")
            .to_string()
            .contains("no log lines"));
    }
}
