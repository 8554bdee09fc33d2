//! Which IAM action a request needs, as AWS's authorization would see it: `dynamodb:UpdateTable`,
//! `lambda:GetFunction`, `apigateway:DELETE`. The realism layer denies actions by these names.

use crate::policy::{self, Context, Request};
use crate::wire::{percent_decode as decode, Exchange};

/// A resource's tags, key → value.
pub type Tags = std::collections::BTreeMap<String, String>;

/// What IAM authorizes a request by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Needs {
    /// No permission: `sts:GetCallerIdentity`.
    Nothing,
    /// This action (`lambda:GetFunction`).
    Action(String),
    /// A request this model cannot name an action for (`lambda GET /2015-03-31/functions/f/
    /// concurrency`): refused wherever a policy is enforced, so that a new call cannot pass the
    /// least-privilege proof unseen and then be denied on AWS.
    Unknown(String),
}

/// The IAM action `ex` is authorized by.
pub fn needs(ex: &Exchange<'_>) -> Needs {
    let service = ex.call.service.as_str();
    let op = ex.call.operation.as_str();
    let named = match service {
        "sts" if op == "GetCallerIdentity" => return Needs::Nothing,
        "dynamodb" | "logs" | "iam" | "sts" | "sns" => Some(format!("{service}:{op}")),
        // CloudWatch signs as `monitoring`; its actions are `cloudwatch:`.
        "monitoring" => Some(format!("cloudwatch:{op}")),
        "lambda" => lambda_action(ex.method(), ex.path()).map(|a| format!("lambda:{a}")),
        // API Gateway authorizes its control plane by HTTP method on the resource path.
        "apigateway" => Some(format!("apigateway:{}", ex.method())),
        _ => None,
    };
    match named {
        Some(action) => Needs::Action(action),
        None => Needs::Unknown(format!("{service} {} {}", ex.method(), ex.path())),
    }
}

/// The actions a request needs besides its own. Tagging at creation needs the service's tag
/// action too: CloudWatch (PutMetricAlarm: "you must have the cloudwatch:TagResource
/// permission"), SNS (CreateTopic: "sns:CreateTopic and sns:TagResource"), CloudWatch Logs
/// (CreateLogGroup: "you must have both logs:CreateLogGroup and logs:TagResource"), IAM
/// (CreateRole with `Tags` needs `iam:TagRole`), Lambda (developer guide, "Using tags on Lambda
/// functions": `lambda:TagResource` for whoever "performs a tag on create") and DynamoDB
/// (CreateTable with `Tags` needs `dynamodb:TagResource`).
pub fn dependent(ex: &Exchange<'_>) -> Vec<String> {
    let op = ex.call.operation.as_str();
    let body = || ex.json();
    let listed = |v: &serde_json::Value| v.as_array().is_some_and(|t| !t.is_empty());
    let mapped = |v: &serde_json::Value| v.as_object().is_some_and(|t| !t.is_empty());
    let tagged = match (ex.call.service.as_str(), op) {
        ("monitoring", "PutMetricAlarm") => {
            listed(&body()["Tags"]).then_some("cloudwatch:TagResource")
        }
        ("sns", "CreateTopic") => form(ex.body, "Tags.member.1.Key").map(|_| "sns:TagResource"),
        ("logs", "CreateLogGroup") => mapped(&body()["tags"]).then_some("logs:TagResource"),
        ("iam", "CreateRole") => form(ex.body, "Tags.member.1.Key").map(|_| "iam:TagRole"),
        ("dynamodb", "CreateTable") => listed(&body()["Tags"]).then_some("dynamodb:TagResource"),
        ("lambda", _) if lambda_action(ex.method(), ex.path()) == Some("CreateFunction") => {
            mapped(&body()["Tags"]).then_some("lambda:TagResource")
        }
        _ => None,
    };
    tagged.into_iter().map(str::to_string).collect()
}

/// Whether `ex` is Lambda's GetFunction, which for a tagged function needs `lambda:ListTags` too
/// (without it the answer carries a `TagsError` instead of the tags).
pub fn gets_function(ex: &Exchange<'_>) -> bool {
    ex.call.service == "lambda" && lambda_action(ex.method(), ex.path()) == Some("GetFunction")
}

/// The unqualified ARN of a function's (`…:function:f:live` → `…:function:f`): tags, and so
/// `lambda:ListTags`, apply to the function, not to its versions or aliases.
pub fn unqualified(arn: &str) -> &str {
    match arn.match_indices(':').nth(6) {
        Some((at, _)) => &arn[..at],
        None => arn,
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
        ("POST", ["2015-03-31", "functions", _, "versions"]) => "PublishVersion",
        ("GET", ["2015-03-31", "functions", _, "versions"]) => "ListVersionsByFunction",
        ("POST", ["2015-03-31", "functions", _, "aliases"]) => "CreateAlias",
        ("GET", ["2015-03-31", "functions", _, "aliases"]) => "ListAliases",
        ("GET", ["2015-03-31", "functions", _, "aliases", _]) => "GetAlias",
        ("PUT", ["2015-03-31", "functions", _, "aliases", _]) => "UpdateAlias",
        ("DELETE", ["2015-03-31", "functions", _, "aliases", _]) => "DeleteAlias",
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
                [_, "functions", name, rest @ ..] => {
                    let name = name.rsplit(":function:").next().unwrap_or(name);
                    let (name, in_name) = match name.split_once(':') {
                        Some((n, q)) => (n, Some(q.to_string())),
                        None => (name, None),
                    };
                    // A request for a version or alias is authorized on the qualified ARN.
                    let qualifier = match rest {
                        ["aliases", alias] => Some((*alias).to_string()),
                        _ => ex.query("Qualifier").or(in_name),
                    };
                    let arn = format!("arn:aws:lambda:{region}:{account}:function:{name}");
                    match qualifier {
                        Some(q) => format!("{arn}:{q}"),
                        None => arn,
                    }
                }
                [_, "functions"] => field("FunctionName")
                    .map(|n| format!("arn:aws:lambda:{region}:{account}:function:{n}"))
                    .unwrap_or_else(|| "*".into()),
                _ => "*".into(),
            }
        }
        "apigateway" => format!("arn:aws:apigateway:{region}::{}", decode(ex.path())),
        "monitoring" => alarm_arn(&body, region, account),
        "sns" => topic_arn(ex.body, region, account),
        _ => "*".into(),
    }
}

/// The alarm a CloudWatch request acts on (`AlarmName`, the first of `AlarmNames`, or a
/// tagging call's `ResourceARN`); `*` for the metric calls and listings, which IAM does not
/// scope to a resource.
fn alarm_arn(body: &serde_json::Value, region: &str, account: &str) -> String {
    if let Some(arn) = body["ResourceARN"].as_str() {
        return arn.to_string();
    }
    body["AlarmName"]
        .as_str()
        .or_else(|| body["AlarmNames"].get(0).and_then(|n| n.as_str()))
        .map_or_else(
            || "*".into(),
            |name| format!("arn:aws:cloudwatch:{region}:{account}:alarm:{name}"),
        )
}

/// The topic an SNS request acts on: `TopicArn`, a tagging call's `ResourceArn`, or the topic
/// `CreateTopic` names; `*` for listings and for `Unsubscribe`, which IAM scopes to no
/// resource.
fn topic_arn(body: &[u8], region: &str, account: &str) -> String {
    if let Some(arn) = form(body, "TopicArn").or_else(|| form(body, "ResourceArn")) {
        return arn;
    }
    form(body, "Name").map_or_else(
        || "*".into(),
        |name| format!("arn:aws:sns:{region}:{account}:{name}"),
    )
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

/// The condition keys a request carries of itself: for a DynamoDB item call, the values of
/// its `Key` as `dynamodb:LeadingKeys` (the partition key's value, on the stack's tables, whose
/// key is the partition key alone; no key at all, a Scan, gives no value: `ForAllValues` holds
/// for it, as on AWS); for CreateRestApi, its tags as `aws:RequestTag/…` and `aws:TagKeys`.
pub fn context(ex: &Exchange<'_>) -> Context {
    let mut context = Context::new();
    if ex.call.service == "apigateway" && ex.method() == "POST" && ex.path() == "/restapis" {
        // CreateRestApi's tags: `aws:RequestTag/…` and `aws:TagKeys`.
        let body = ex.json();
        let tags = body["tags"].as_object().cloned().unwrap_or_default();
        for (key, value) in &tags {
            let key = format!("aws:requesttag/{}", key.to_ascii_lowercase());
            context.insert(key, vec![value.as_str().unwrap_or_default().to_string()]);
        }
        context.insert("aws:tagkeys".into(), tags.keys().cloned().collect());
        return context;
    }
    if ex.call.service != "dynamodb" {
        return context;
    }
    let body = ex.json();
    if let Some(key) = body.get("Key").and_then(|k| k.as_object()) {
        let values = key
            .values()
            .filter_map(|typed| typed.as_object()?.values().next().cloned())
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect();
        context.insert("dynamodb:leadingkeys".into(), values);
    }
    context
}

/// A query-protocol (form) parameter.
fn form(body: &[u8], key: &str) -> Option<String> {
    String::from_utf8_lossy(body).split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| decode(&v.replace('+', " ")))
    })
}

/// The caller's identity policy, evaluated as IAM does ([`crate::policy`]) for what the
/// deployer sends, with `iam:PassedToService` in the context of a role passed to a service.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub document: serde_json::Value,
    pub region: String,
    pub account: String,
}

impl Policy {
    /// Whether `action` on `resource` is allowed; `passed_to` is the service a role is passed to.
    pub fn allows(&self, action: &str, resource: &str, passed_to: Option<&str>) -> bool {
        self.allowed_by(action, resource, passed_to, Context::new())
            .is_some()
    }

    /// The `Sid`s of the statements that allow `action` on `resource` (empty for a statement
    /// without one), or `None` when the policy does not allow it.
    pub fn allowed_by(
        &self,
        action: &str,
        resource: &str,
        passed_to: Option<&str>,
        mut context: Context,
    ) -> Option<Vec<String>> {
        if let Some(service) = passed_to {
            context.insert("iam:passedtoservice".into(), vec![service.to_string()]);
        }
        let request = Request {
            action,
            resource,
            context: &context,
            principal: None,
        };
        policy::allowed_by(std::slice::from_ref(&self.document), &request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_iam_does() {
        use crate::policy::glob;
        assert!(glob(
            "arn:aws:apigateway:us-east-1::/restapis/*",
            "arn:aws:apigateway:us-east-1::/restapis/abc/stages/prod",
            true
        ));
        assert!(!glob(
            "arn:aws:apigateway:us-east-1::/restapis/*",
            "arn:aws:apigateway:us-east-1::/restapis",
            true
        ));
        assert!(glob("lambda:Get*", "lambda:GetPolicy", false));
        assert!(!glob("lambda:Get*", "lambda:AddPermission", false));
        assert_eq!(decode("arn%3Aaws%3Alambda"), "arn:aws:lambda");
        let function = "arn:aws:lambda:us-east-1:1:function:f";
        assert_eq!(unqualified(&format!("{function}:live")), function);
        assert_eq!(unqualified(function), function);
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
