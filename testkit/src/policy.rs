//! IAM policy evaluation, as AWS documents it (IAM User Guide, "Policy evaluation logic"), for
//! what the stack's principals send: an explicit `Deny` wins, then an `Allow` whose action,
//! resource (and principal, in a resource-based policy) and conditions all match; anything else
//! is an implicit deny.
//!
//! Matching follows IAM: actions ignore case (`dynamodb:getitem` is `dynamodb:GetItem`); resource
//! ARNs do not (IAM User Guide, "IAM JSON policy elements: Resource": ARNs are case sensitive);
//! `*` and `?` are wildcards in both. Conditions know the operators the stack's policies and
//! their hand-edited variants use (`String*`, `Arn*`, `Bool`, `Null`, with `ForAllValues:`,
//! `ForAnyValue:` and `…IfExists`); an operator it does not know never holds, so that a policy
//! it cannot read is not taken for an allow.

use std::collections::BTreeMap;

use serde_json::Value;

/// The request context's condition keys (lower-cased) and their values.
pub type Context = BTreeMap<String, Vec<String>>;

/// One request, as IAM authorizes it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub context: &'a Context,
    /// The calling principal, for a resource-based policy: `("Service", "apigateway.amazonaws.com")`.
    pub principal: Option<(&'a str, &'a str)>,
}

/// What a set of policies says of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A `Deny` statement matched (its `Sid`, if any).
    ExplicitDeny(String),
    /// No statement allowed it.
    ImplicitDeny,
}

/// Evaluates `documents` (policy JSON documents) for `req`.
pub fn evaluate(documents: &[Value], req: &Request<'_>) -> Decision {
    let statements: Vec<&Value> = documents.iter().flat_map(statements).collect();
    if let Some(deny) = statements
        .iter()
        .find(|s| s["Effect"] == "Deny" && matches(s, req))
    {
        return Decision::ExplicitDeny(deny["Sid"].as_str().unwrap_or("").to_string());
    }
    if statements
        .iter()
        .any(|s| s["Effect"] == "Allow" && matches(s, req))
    {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// The `Sid`s of the statements that allow `req` (empty for a statement without one), or `None`
/// when `documents` do not allow it (an explicit deny, or no allow).
pub fn allowed_by(documents: &[Value], req: &Request<'_>) -> Option<Vec<String>> {
    if evaluate(documents, req) != Decision::Allow {
        return None;
    }
    let sids = documents
        .iter()
        .flat_map(statements)
        .filter(|s| s["Effect"] == "Allow" && matches(s, req))
        .map(|s| s["Sid"].as_str().unwrap_or("").to_string())
        .collect();
    Some(sids)
}

fn statements(doc: &Value) -> Vec<&Value> {
    match &doc["Statement"] {
        Value::Array(list) => list.iter().collect(),
        single @ Value::Object(_) => vec![single],
        _ => Vec::new(),
    }
}

/// A string or a list of strings, as policy elements hold them.
fn list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

fn matches(s: &Value, req: &Request<'_>) -> bool {
    let action = element(s, "Action", "NotAction", |p| glob(p, req.action, false));
    let resource = match (s.get("Resource"), s.get("NotResource")) {
        // A resource-based policy may leave Resource out: it is the resource it is attached to.
        (None, None) => req.principal.is_some(),
        _ => element(s, "Resource", "NotResource", |p| {
            glob(p, req.resource, true)
        }),
    };
    action && resource && principal_matches(s, req) && conditions_hold(&s["Condition"], req.context)
}

/// `Action`/`NotAction` (or `Resource`/`NotResource`): the first must match, or the second
/// must not.
fn element(s: &Value, yes: &str, not: &str, hit: impl Fn(&str) -> bool) -> bool {
    if let Some(v) = s.get(yes) {
        list(v).iter().any(|p| hit(p))
    } else if let Some(v) = s.get(not) {
        !list(v).iter().any(|p| hit(p))
    } else {
        false
    }
}

fn principal_matches(s: &Value, req: &Request<'_>) -> bool {
    let Some(principal) = s.get("Principal") else {
        // An identity-based policy names no principal: it is attached to one.
        return req.principal.is_none();
    };
    let Some((kind, who)) = req.principal else {
        return false;
    };
    match principal {
        Value::String(p) => p == "*",
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k == kind && list(v).iter().any(|p| p == "*" || p == who)),
        _ => false,
    }
}

fn conditions_hold(condition: &Value, context: &Context) -> bool {
    let Some(operators) = condition.as_object() else {
        return condition.is_null();
    };
    operators.iter().all(|(operator, keys)| {
        keys.as_object().is_some_and(|keys| {
            keys.iter().all(|(key, wanted)| {
                let actual = context.get(&key.to_ascii_lowercase());
                operator_holds(operator, actual.map(Vec::as_slice), &list(wanted))
            })
        })
    })
}

/// One condition operator on one key: `actual` is the context's values (`None`: absent).
fn operator_holds(operator: &str, actual: Option<&[String]>, wanted: &[String]) -> bool {
    let (set, rest) = match operator.split_once(':') {
        Some((set, rest)) => (Some(set), rest),
        None => (None, operator),
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (rest, false),
    };
    if base == "Null" {
        let absent = actual.is_none_or(<[String]>::is_empty);
        return wanted.iter().any(|w| (w == "true") == absent);
    }
    let Some((test, negated)) = comparison(base) else {
        return false;
    };
    // A negated operator holds for a value that matches none of the policy's values.
    let holds = |value: &str| wanted.iter().any(|w| test(w, value)) != negated;
    match (set, actual) {
        // ForAllValues holds for an empty or absent set: the documented pitfall.
        (Some("ForAllValues"), None) => true,
        (Some("ForAllValues"), Some(values)) => values.iter().all(|v| holds(v)),
        (Some("ForAnyValue"), Some(values)) => values.iter().any(|v| holds(v)),
        (Some(_), _) => false,
        // An absent key matches nothing: a negated operator holds, a positive one does not.
        (None, None) => if_exists || negated,
        (None, Some(values)) => values.iter().any(|v| holds(v)),
    }
}

/// A comparison of a policy's value with a context value.
type Test = fn(&str, &str) -> bool;

/// The positive test of a base operator, `(policy value, context value) -> matches`, and
/// whether the operator negates it.
fn comparison(base: &str) -> Option<(Test, bool)> {
    let equal: Test = |w, v| w == v;
    let equal_ignoring_case: Test = |w, v| w.eq_ignore_ascii_case(v);
    let like: Test = |w, v| glob(w, v, true);
    Some(match base {
        "StringEquals" | "ArnEquals" => (equal, false),
        "StringNotEquals" | "ArnNotEquals" => (equal, true),
        "StringEqualsIgnoreCase" | "Bool" => (equal_ignoring_case, false),
        "StringNotEqualsIgnoreCase" => (equal_ignoring_case, true),
        "StringLike" | "ArnLike" => (like, false),
        "StringNotLike" | "ArnNotLike" => (like, true),
        _ => return None,
    })
}

/// IAM's wildcard match: `*` any run, `?` any one character; case-sensitive or not.
pub fn glob(pattern: &str, text: &str, case_sensitive: bool) -> bool {
    fn go(p: &[u8], t: &[u8], cs: bool) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t, cs) || (!t.is_empty() && go(p, &t[1..], cs)),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..], cs),
            (Some(a), Some(b)) if a == b || (!cs && a.eq_ignore_ascii_case(b)) => {
                go(&p[1..], &t[1..], cs)
            }
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes(), case_sensitive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn identity<'a>(action: &'a str, resource: &'a str, context: &'a Context) -> Request<'a> {
        Request {
            action,
            resource,
            context,
            principal: None,
        }
    }

    const TABLE: &str = "arn:aws:dynamodb:us-east-1:1:table/vc-prod";

    #[test]
    fn actions_ignore_case_and_resources_do_not() {
        let doc = json!({"Statement": [{"Effect": "Allow", "Action": "dynamodb:getitem",
            "Resource": TABLE}]});
        let none = Context::new();
        assert_eq!(
            evaluate(
                std::slice::from_ref(&doc),
                &identity("dynamodb:GetItem", TABLE, &none)
            ),
            Decision::Allow
        );
        let shouting = "arn:aws:dynamodb:us-east-1:1:table/VC-PROD";
        assert_eq!(
            evaluate(&[doc], &identity("dynamodb:GetItem", shouting, &none)),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn an_explicit_deny_wins_over_any_allow() {
        let docs = [
            json!({"Statement": {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}}),
            json!({"Statement": [{"Sid": "NoWrites", "Effect": "Deny",
                "Action": "dynamodb:UpdateItem", "Resource": TABLE}]}),
        ];
        let none = Context::new();
        assert_eq!(
            evaluate(&docs, &identity("dynamodb:UpdateItem", TABLE, &none)),
            Decision::ExplicitDeny("NoWrites".into())
        );
        assert_eq!(
            evaluate(&docs, &identity("dynamodb:GetItem", TABLE, &none)),
            Decision::Allow
        );
    }

    #[test]
    fn leading_keys_limit_the_items_and_for_all_values_holds_for_no_key() {
        let doc = json!({"Statement": [{"Effect": "Allow", "Action": ["dynamodb:GetItem"],
            "Resource": TABLE, "Condition": {"ForAllValues:StringEquals":
            {"dynamodb:LeadingKeys": ["main_counter"]}}}]});
        let key = |k: &str| Context::from([("dynamodb:leadingkeys".into(), vec![k.into()])]);
        let docs = std::slice::from_ref(&doc);
        let ours = key("main_counter");
        let other = key("lease");
        let none = Context::new();
        assert_eq!(
            evaluate(docs, &identity("dynamodb:GetItem", TABLE, &ours)),
            Decision::Allow
        );
        assert_eq!(
            evaluate(docs, &identity("dynamodb:GetItem", TABLE, &other)),
            Decision::ImplicitDeny
        );
        assert_eq!(
            evaluate(docs, &identity("dynamodb:GetItem", TABLE, &none)),
            Decision::Allow
        );
    }

    #[test]
    fn a_resource_policy_matches_its_principal_and_source_arn() {
        let doc = json!({"Statement": [{"Sid": "api", "Effect": "Allow",
            "Principal": {"Service": "apigateway.amazonaws.com"},
            "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:us-east-1:1:function:f",
            "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:execute-api:us-east-1:1:abc/*"}}}]});
        let ctx = |arn: &str| Context::from([("aws:sourcearn".into(), vec![arn.into()])]);
        let call = |ctx: &Context, who: &str| {
            evaluate(
                std::slice::from_ref(&doc),
                &Request {
                    action: "lambda:InvokeFunction",
                    resource: "arn:aws:lambda:us-east-1:1:function:f",
                    context: ctx,
                    principal: Some(("Service", who)),
                },
            )
        };
        let ours = ctx("arn:aws:execute-api:us-east-1:1:abc/prod/GET/counter");
        let theirs = ctx("arn:aws:execute-api:us-east-1:1:xyz/prod/GET/counter");
        assert_eq!(call(&ours, "apigateway.amazonaws.com"), Decision::Allow);
        assert_eq!(
            call(&theirs, "apigateway.amazonaws.com"),
            Decision::ImplicitDeny
        );
        assert_eq!(call(&ours, "s3.amazonaws.com"), Decision::ImplicitDeny);
    }

    #[test]
    fn unknown_operators_never_hold_and_if_exists_holds_when_absent() {
        assert!(!operator_holds(
            "NumericLessThan",
            Some(&["1".into()]),
            &["2".into()]
        ));
        assert!(operator_holds("StringEqualsIfExists", None, &["x".into()]));
        assert!(!operator_holds("StringEquals", None, &["x".into()]));
        assert!(operator_holds("Null", None, &["true".into()]));
        assert!(operator_holds(
            "StringNotEquals",
            Some(&["a".into()]),
            &["b".into()]
        ));
        assert!(!operator_holds(
            "StringNotEquals",
            Some(&["a".into()]),
            &["a".into(), "b".into()]
        ));
        assert!(!operator_holds(
            "ForAnyValue:StringEquals",
            None,
            &["b".into()]
        ));
    }
}
