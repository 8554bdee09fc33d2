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
