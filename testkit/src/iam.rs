//! Which IAM action a request needs, as AWS's authorization would see it: `dynamodb:UpdateTable`,
//! `lambda:GetFunction`, `apigateway:DELETE`. The realism layer denies actions by these names.

use crate::wire::Exchange;

/// The IAM action `ex` is authorized by, or `None` for a request no policy governs
/// (`sts:GetCallerIdentity` needs no permission).
pub fn action(ex: &Exchange<'_>) -> Option<String> {
    let service = ex.call.service.as_str();
    let op = ex.call.operation.as_str();
    match service {
        "sts" if op == "GetCallerIdentity" => None,
        "dynamodb" | "logs" | "iam" | "sts" => Some(format!("{service}:{op}")),
        "lambda" => lambda_action(ex.method(), ex.path()).map(|a| format!("lambda:{a}")),
        // API Gateway authorizes its control plane by HTTP method on the resource path.
        "apigateway" => Some(format!("apigateway:{}", ex.method())),
        _ => None,
    }
}

/// The Lambda API's operations, by method and path.
fn lambda_action(method: &str, path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    Some(match (method, segments.as_slice()) {
        ("POST", ["2015-03-31", "functions"]) => "CreateFunction",
        ("GET", ["2015-03-31", "functions"]) => "ListFunctions",
        ("GET", ["2015-03-31", "functions", _]) => "GetFunction",
        ("DELETE", ["2015-03-31", "functions", _]) => "DeleteFunction",
        ("GET", ["2015-03-31", "functions", _, "configuration"]) => "GetFunctionConfiguration",
        ("PUT", ["2015-03-31", "functions", _, "configuration"]) => "UpdateFunctionConfiguration",
        ("PUT", ["2015-03-31", "functions", _, "code"]) => "UpdateFunctionCode",
        ("GET", ["2015-03-31", "functions", _, "policy"]) => "GetPolicy",
        ("POST", ["2015-03-31", "functions", _, "policy"]) => "AddPermission",
        ("DELETE", ["2015-03-31", "functions", _, "policy", _]) => "RemovePermission",
        ("GET", ["2017-03-31", "tags", ..]) => "ListTags",
        ("POST", ["2017-03-31", "tags", ..]) => "TagResource",
        ("DELETE", ["2017-03-31", "tags", ..]) => "UntagResource",
        ("POST", ["2015-03-31", "functions", _, "invocations"]) => "InvokeFunction",
        _ => return None,
    })
}

/// The resource ARN a request acts on, as IAM authorizes it, in `region` and `account`; `*` for
/// the requests that act on no one resource (a listing).
pub fn resource(ex: &Exchange<'_>, region: &str, account: &str) -> String {
    let service = ex.call.service.as_str();
    let body = ex.json();
    let field = |key: &str| body.get(key).and_then(|v| v.as_str()).map(str::to_string);
    match service {
        "dynamodb" => field("ResourceArn")
            .or_else(|| {
                field("TableName").map(|t| format!("arn:aws:dynamodb:{region}:{account}:table/{t}"))
            })
            .unwrap_or_else(|| "*".into()),
        "logs" => field("resourceArn")
            .map(|a| a.trim_end_matches(":*").to_string())
            .or_else(|| {
                field("logGroupName")
                    .map(|g| format!("arn:aws:logs:{region}:{account}:log-group:{g}"))
            })
            .unwrap_or_else(|| format!("arn:aws:logs:{region}:{account}:log-group:*")),
        "iam" => form(ex.body, "RoleName")
            .map(|r| format!("arn:aws:iam::{account}:role/{r}"))
            .unwrap_or_else(|| "*".into()),
        "lambda" => {
            let decoded: Vec<String> = ex.path().trim_matches('/').split('/').map(decode).collect();
            let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
            match segments.as_slice() {
                [_, "tags", arn, ..] if arn.starts_with("arn:") => (*arn).to_string(),
                [_, "functions", name, ..] => {
                    let name = name.rsplit(':').next().unwrap_or(name);
                    format!("arn:aws:lambda:{region}:{account}:function:{name}")
                }
                [_, "functions"] => field("FunctionName")
                    .map(|n| format!("arn:aws:lambda:{region}:{account}:function:{n}"))
                    .unwrap_or_else(|| "*".into()),
                _ => "*".into(),
            }
        }
        "apigateway" => format!("arn:aws:apigateway:{region}::{}", decode(ex.path())),
        _ => "*".into(),
    }
}

/// The role a Lambda request passes (CreateFunction, UpdateFunctionConfiguration with `Role`):
/// it also needs `iam:PassRole` on that role, to `lambda.amazonaws.com`.
pub fn passed_role(ex: &Exchange<'_>) -> Option<String> {
    if ex.call.service != "lambda" || !matches!(ex.method(), "POST" | "PUT") {
        return None;
    }
    ex.json()
        .get("Role")
        .and_then(|r| r.as_str())
        .map(str::to_string)
}

/// A query-protocol (form) parameter.
fn form(body: &[u8], key: &str) -> Option<String> {
    String::from_utf8_lossy(body).split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| decode(&v.replace('+', " ")))
    })
}

/// Percent-decoding of a path segment or a form value.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An identity policy, evaluated as IAM does for what the deployer sends: allowed when some
/// `Allow` statement matches the action and the resource (`*` and `?` as wildcards) and its
/// conditions hold. Only `StringEquals` on `iam:PassedToService` is known; any other condition
/// does not hold. There is no `Deny` in the policies under test.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub document: serde_json::Value,
    pub region: String,
    pub account: String,
}

impl Policy {
    /// Whether `action` on `resource` is allowed; `passed_to` is the service a role is passed to.
    pub fn allows(&self, action: &str, resource: &str, passed_to: Option<&str>) -> bool {
        let list = |v: &serde_json::Value| -> Vec<String> {
            match v {
                serde_json::Value::String(s) => vec![s.clone()],
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            }
        };
        let statements = list_of(&self.document["Statement"]);
        statements.iter().any(|s| {
            s["Effect"] == "Allow"
                && list(&s["Action"]).iter().any(|a| glob(a, action))
                && list(&s["Resource"]).iter().any(|r| glob(r, resource))
                && conditions_hold(&s["Condition"], passed_to)
        })
    }
}

fn list_of(v: &serde_json::Value) -> Vec<serde_json::Value> {
    match v {
        serde_json::Value::Array(a) => a.clone(),
        serde_json::Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

fn conditions_hold(condition: &serde_json::Value, passed_to: Option<&str>) -> bool {
    let Some(operators) = condition.as_object() else {
        return true;
    };
    operators.iter().all(|(op, keys)| {
        op == "StringEquals"
            && keys.as_object().is_some_and(|keys| {
                keys.iter().all(|(key, value)| {
                    key == "iam:PassedToService" && passed_to.is_some_and(|p| value == p)
                })
            })
    })
}

/// IAM's wildcard match, case-insensitive on the action's service prefix as IAM is.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_iam_does() {
        assert!(glob(
            "arn:aws:apigateway:us-east-1::/restapis/*",
            "arn:aws:apigateway:us-east-1::/restapis/abc/stages/prod"
        ));
        assert!(!glob(
            "arn:aws:apigateway:us-east-1::/restapis/*",
            "arn:aws:apigateway:us-east-1::/restapis"
        ));
        assert!(glob("lambda:Get*", "lambda:GetPolicy"));
        assert!(!glob("lambda:Get*", "lambda:AddPermission"));
        assert_eq!(decode("arn%3Aaws%3Alambda"), "arn:aws:lambda");
    }

    #[test]
    fn pass_role_holds_only_for_its_service() {
        let p = Policy {
            document: serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "iam:PassRole",
                "Resource": "arn:aws:iam::1:role/r",
                "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}}]}),
            region: "us-east-1".into(),
            account: "1".into(),
        };
        assert!(p.allows(
            "iam:PassRole",
            "arn:aws:iam::1:role/r",
            Some("lambda.amazonaws.com")
        ));
        assert!(!p.allows(
            "iam:PassRole",
            "arn:aws:iam::1:role/r",
            Some("ec2.amazonaws.com")
        ));
        assert!(!p.allows(
            "iam:PassRole",
            "arn:aws:iam::1:role/other",
            Some("lambda.amazonaws.com")
        ));
    }
}
