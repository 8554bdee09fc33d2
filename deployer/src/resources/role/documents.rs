//! The role's documents: its trust policy and its one inline policy, derived from the stack's
//! names, and the canonical form in which a live document is compared with them.

use serde_json::{json, Value};

use crate::arns::Arns;
use function::contract::calls;

/// The role's trust policy: only Lambda, and only on behalf of this account (AWS's
/// confused-deputy guidance).
pub fn trust_policy(arns: &Arns) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": arns.account}},
        }],
    })
}

/// The role's one inline policy: exactly the calls the function's contract names, on exactly
/// its table's one counter item (`dynamodb:LeadingKeys`: every other item, the deploy lease
/// among them, is out of its reach), and its log streams. The table's ARN and the function's
/// `TABLE_NAME` come from the same name, and the key from the same `COUNTER_ID`, so they cannot
/// disagree.
///
/// `ForAllValues` holds for a request that names no key at all; every call the contract makes
/// (GetItem, UpdateItem) names one, and no call that names none (Scan, Query) is granted.
pub fn counter_policy(arns: &Arns, counter: &str) -> Value {
    let actions: Vec<String> = calls::ALL.iter().map(|c| calls::action(c)).collect();
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Counter",
                "Effect": "Allow",
                "Action": actions,
                "Resource": arns.table,
                "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [counter]}},
            },
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": arns.log_streams(),
            },
        ],
    })
}

/// IAM returns policy documents URL-encoded (RFC 3986); emulators often do not.
pub fn parse_policy(text: &str) -> anyhow::Result<Value> {
    if let Ok(v) = serde_json::from_str(text) {
        return Ok(v);
    }
    let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    serde_json::from_str(&decoded)
        .map_err(|e| anyhow::anyhow!("IAM returned a policy document that is not JSON: {e}"))
}

/// A policy in a canonical form, so that equal policies compare equal: a single statement or
/// action becomes a list, and lists are sorted.
pub fn normalize(policy: &Value) -> Value {
    let mut policy = policy.clone();
    if let Some(statements) = policy.get_mut("Statement") {
        if statements.is_object() {
            *statements = Value::Array(vec![statements.take()]);
        }
        for s in statements.as_array_mut().into_iter().flatten() {
            for key in ["Action", "NotAction", "Resource", "NotResource"] {
                if let Some(v) = s.get_mut(key) {
                    *v = sorted_list(v);
                }
            }
            if let Some(Value::Object(principal)) = s.get_mut("Principal") {
                for v in principal.values_mut() {
                    *v = sorted_list(v);
                }
            }
        }
    }
    policy
}

fn sorted_list(v: &Value) -> Value {
    let mut items: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    items.sort_by_key(|x| x.to_string());
    Value::Array(items)
}
