//! Lambda as it really settles, and what it refuses that moto takes: an environment over 4 KB;
//! a new function `Pending`, each update `InProgress`, a second
//! update meanwhile refused; a role not yet assumable after it changed; a last update that
//! `Failed`; TagResource refused while the function settles, as an update is; GetFunction
//! without `Tags` when the caller may not `lambda:ListTags`; AddPermission
//! refused for a statement id that exists; PublishVersion refused when `$LATEST` holds other code
//! than its `CodeSha256`.

use std::time::Instant;

use serde_json::{json, Value};

use super::{percent_decode, rewrite_json, within, Answer, Function, Layer, Met};
use crate::faults;
use crate::wire::{Exchange, Upstream};

/// The Lambda operations the layer models, by method and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum LambdaRoute {
    Create,
    Get(String),
    GetConfiguration(String),
    UpdateCode(String),
    UpdateConfiguration(String),
    Delete(String),
    AddPermission(String),
    Publish(String),
    /// TagResource (`POST /2017-03-31/tags/{arn}`), by the function's name.
    Tag(String),
}

impl LambdaRoute {
    pub(super) fn of(method: &str, path: &str) -> Option<LambdaRoute> {
        let segments: Vec<String> = path
            .trim_matches('/')
            .split('/')
            .map(percent_decode)
            .collect();
        let s: Vec<&str> = segments.iter().map(String::as_str).collect();
        let (f, rest) = match s.as_slice() {
            ["2015-03-31", "functions"] if method == "POST" => return Some(LambdaRoute::Create),
            ["2017-03-31", "tags", arn] if method == "POST" => {
                let name = arn.rsplit_once(":function:")?.1;
                return Some(LambdaRoute::Tag(name.split(':').next()?.to_string()));
            }
            ["2015-03-31", "functions", f, rest @ ..] => (f.to_string(), rest),
            _ => return None,
        };
        Some(match (method, rest) {
            ("GET", []) => LambdaRoute::Get(f),
            ("DELETE", []) => LambdaRoute::Delete(f),
            ("GET", ["configuration"]) => LambdaRoute::GetConfiguration(f),
            ("PUT", ["code"]) => LambdaRoute::UpdateCode(f),
            ("PUT", ["configuration"]) => LambdaRoute::UpdateConfiguration(f),
            ("POST", ["policy"]) => LambdaRoute::AddPermission(f),
            ("POST", ["versions"]) => LambdaRoute::Publish(f),
            _ => return None,
        })
    }
}

/// Refuses what real Lambda would refuse now.
pub(super) async fn before(
    layer: &Layer,
    ex: &Exchange<'_>,
    upstream: &Upstream,
) -> Option<Answer> {
    let route = LambdaRoute::of(ex.method(), ex.path())?;
    if matches!(
        route,
        LambdaRoute::Create | LambdaRoute::UpdateConfiguration(_)
    ) {
        if let Some(refusal) =
            environment_too_large(layer, ex).or_else(|| role_not_yet_assumable(layer, ex))
        {
            return Some(refusal);
        }
    }
    match route {
        // A qualified statement is the data plane's to check (it keeps those policies).
        LambdaRoute::AddPermission(f)
            if layer.config.permission_conflicts && !qualified(ex, &f) =>
        {
            statement_exists(layer, ex, upstream, &f).await
        }
        // TagResource too: "another operation is in progress" (API reference, TagResource
        // errors: ResourceConflictException).
        LambdaRoute::UpdateCode(f) | LambdaRoute::UpdateConfiguration(f) | LambdaRoute::Tag(f) => {
            busy(layer, &f)
        }
        // PublishVersion during an update answers ResourceConflictException too ("An update
        // is in progress for resource", aws/aws-cli #6718).
        LambdaRoute::Publish(f) => match busy(layer, &f) {
            Some(refusal) => Some(refusal),
            None => other_code(layer, ex, upstream, &f).await,
        },
        _ => None,
    }
}

/// Lambda's limit on a function's environment: "the total size of all environment variables
/// doesn't exceed 4 KB", measured as their JSON (the refusal quotes it); moto takes any size.
fn environment_too_large(layer: &Layer, ex: &Exchange<'_>) -> Option<Answer> {
    let vars = ex.json()["Environment"]["Variables"].clone();
    let measured = vars.as_object()?;
    let text = serde_json::to_string(measured).ok()?;
    (text.len() > 4096).then(|| {
        layer.met(Met::EnvironmentTooLarge);
        faults::aws_error(
            "lambda",
            400,
            "InvalidParameterValueException",
            &format!(
                "Lambda was unable to configure your environment variables because the \
                 environment variables you have provided exceeded the 4KB limit. String \
                 measured: {text}"
            ),
        )
    })
}

/// A role made (or whose trust changed) moments ago, named by CreateFunction or
/// UpdateFunctionConfiguration: first Lambda cannot assume it; past half the window it can, but
/// KMS does not know it yet, so a function with environment variables cannot have its grant on
/// the `aws/lambda` key. terraform-provider-aws retries both messages (`retryFunctionOp`).
fn role_not_yet_assumable(layer: &Layer, ex: &Exchange<'_>) -> Option<Answer> {
    let body = ex.json();
    let arn = body["Role"].as_str()?;
    let role = arn.rsplit('/').next()?.to_string();
    let changed = layer.world().roles.get(&role).copied();
    let window = layer.config.role_propagation;
    if !within(changed, window) {
        return None;
    }
    let environment = body["Environment"]["Variables"]
        .as_object()
        .is_some_and(|v| !v.is_empty());
    let message = if environment && !within(changed, window / 2) {
        layer.met(Met::KmsGrant);
        format!(
            "Lambda was unable to configure access to your environment variables because the \
             KMS key is invalid for CreateGrant. Please check your KMS key settings. KMS \
             Exception: InvalidArnException KMS Message: ARN does not refer to a valid \
             principal: {arn}"
        )
    } else {
        layer.met(Met::RoleNotAssumable);
        "The role defined for the function cannot be assumed by Lambda.".to_string()
    };
    Some(faults::aws_error(
        "lambda",
        400,
        "InvalidParameterValueException",
        &message,
    ))
}

/// PublishVersion's `CodeSha256` is a precondition: Lambda refuses to publish when `$LATEST`
/// holds other code (moto ignores it).
async fn other_code(
    layer: &Layer,
    ex: &Exchange<'_>,
    upstream: &Upstream,
    function: &str,
) -> Option<Answer> {
    let asked = ex.json()["CodeSha256"].as_str()?.to_string();
    let path = format!("/2015-03-31/functions/{function}/configuration");
    let live = upstream.peek_rest(ex, "GET", &path).await?;
    let live = live["CodeSha256"].as_str()?.to_string();
    (asked != live).then(|| {
        layer.met(Met::OtherCode);
        faults::aws_error(
            "lambda",
            400,
            "InvalidParameterValueException",
            &format!(
                "CodeSHA256 ({asked}) is different from current CodeSHA256 in $LATEST ({live}). \
                 Please try again with the CodeSHA256 in $LATEST."
            ),
        )
    })
}

/// Whether a request names a version or alias: `?Qualifier=`, or `name:qualifier`.
fn qualified(ex: &Exchange<'_>, function: &str) -> bool {
    ex.query("Qualifier").is_some()
        || function
            .rsplit(":function:")
            .next()
            .is_some_and(|f| f.contains(':'))
}

async fn statement_exists(
    layer: &Layer,
    ex: &Exchange<'_>,
    upstream: &Upstream,
    function: &str,
) -> Option<Answer> {
    let sid = ex.json()["StatementId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let path = format!("/2015-03-31/functions/{function}/policy");
    let exists = upstream
        .peek_rest(ex, "GET", &path)
        .await
        .and_then(|v| v["Policy"].as_str().map(str::to_string))
        .and_then(|p| serde_json::from_str::<Value>(&p).ok())
        .is_some_and(|policy| {
            policy["Statement"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["Sid"] == json!(sid)))
        });
    exists.then(|| {
        layer.met(Met::PermissionExists);
        faults::aws_error(
            "lambda",
            409,
            "ResourceConflictException",
            &format!(
                "The statement id ({sid}) provided already exists. Please provide a new \
                 statement id, or remove the existing statement."
            ),
        )
    })
}

/// An update while the function is `Pending` or `InProgress`: ResourceConflictException.
fn busy(layer: &Layer, function: &str) -> Option<Answer> {
    let state = layer
        .world()
        .functions
        .get(function)
        .cloned()
        .unwrap_or_default();
    let c = &layer.config;
    let message = if within(state.created, c.function_pending) {
        "The operation cannot be performed at this time. The function is currently in the \
         following state: Pending"
            .to_string()
    } else if within(state.updated, c.function_updating) {
        format!(
            "The operation cannot be performed at this time. An update is in progress for \
             resource: {function}"
        )
    } else {
        return None;
    };
    layer.met(Met::FunctionBusy);
    Some(faults::aws_error(
        "lambda",
        409,
        "ResourceConflictException",
        &message,
    ))
}

/// Remembers creates and updates, and reports functions as real Lambda would now.
pub(super) fn after(layer: &Layer, ex: &Exchange<'_>, answer: Answer) -> Answer {
    let Some(route) = LambdaRoute::of(ex.method(), ex.path()) else {
        return answer;
    };
    let now = Instant::now();
    match route {
        LambdaRoute::Publish(_) => answer,
        LambdaRoute::Create => created(layer, ex, answer, now),
        LambdaRoute::UpdateCode(name) | LambdaRoute::UpdateConfiguration(name) => {
            let architectures = Some(ex.json()["Architectures"].clone())
                .filter(|a| a.is_array() && ex.path().ends_with("/code"));
            let mut world = layer.world();
            let f = world.functions.entry(name).or_default();
            f.updated = Some(now);
            f.failed = None;
            if architectures.is_some() {
                f.architectures = architectures;
            }
            let state = f.clone();
            drop(world);
            // The answer says `InProgress` (API reference, UpdateFunctionCode:
            // "LastUpdateStatus"); a deployer that trusts a `Successful` here is wrong on AWS.
            rewrite_json(&answer, |v| {
                settle(layer, &state, v);
                architectures_of(&state, v);
            })
            .0
        }
        LambdaRoute::Delete(name) => {
            layer.world().functions.remove(&name);
            answer
        }
        LambdaRoute::Get(name) => get_function(layer, &name, answer),
        LambdaRoute::GetConfiguration(name) => {
            let state = layer
                .world()
                .functions
                .get(&name)
                .cloned()
                .unwrap_or_default();
            rewrite_json(&answer, |v| {
                settle(layer, &state, v);
                architectures_of(&state, v);
            })
            .0
        }
        LambdaRoute::AddPermission(_) | LambdaRoute::Tag(_) => answer,
    }
}

/// A new function: `Pending` from `now`, as its answer says too (API reference, CreateFunction:
/// "State").
fn created(layer: &Layer, ex: &Exchange<'_>, answer: Answer, now: Instant) -> Answer {
    let Some(name) = ex.json()["FunctionName"].as_str().map(str::to_string) else {
        return answer;
    };
    let created = Function {
        created: Some(now),
        ..Function::default()
    };
    layer.world().functions.insert(name, created.clone());
    rewrite_json(&answer, |v| settle(layer, &created, v)).0
}

/// GetFunction: the configuration as it settles, and no tags for a caller without
/// `lambda:ListTags`.
fn get_function(layer: &Layer, name: &str, answer: Answer) -> Answer {
    let state = layer
        .world()
        .functions
        .get(name)
        .cloned()
        .unwrap_or_default();
    rewrite_json(&answer, |v| {
        let arn = v["Configuration"]["FunctionArn"].as_str().unwrap_or(name);
        let no_tags = !layer.lists_tags(crate::iam::unqualified(arn));
        settle(layer, &state, &mut v["Configuration"]);
        architectures_of(&state, &mut v["Configuration"]);
        if no_tags {
            layer.met(Met::TagsHidden);
            if let Some(map) = v.as_object_mut() {
                map.remove("Tags");
            }
            let arn = v["Configuration"]["FunctionArn"]
                .as_str()
                .unwrap_or(name)
                .to_string();
            v["TagsError"] = json!({
                "ErrorCode": "AccessDeniedException",
                "Message": format!(
                    "User: arn:aws:iam::123456789012:user/deployer is not authorized to perform: \
                     lambda:ListTags on resource: {arn}"
                ),
            });
        }
    })
    .0
}

/// The architectures the last UpdateFunctionCode set, in a function configuration.
fn architectures_of(state: &Function, config: &mut Value) {
    if let (Some(a), Some(map)) = (&state.architectures, config.as_object_mut()) {
        map.insert("Architectures".into(), a.clone());
    }
}

/// A function configuration as Lambda reports it while it settles.
fn settle(layer: &Layer, state: &Function, config: &mut Value) {
    let c = &layer.config;
    if within(state.created, c.function_pending) {
        layer.met(Met::FunctionPending);
        config["State"] = json!("Pending");
        config["StateReason"] = json!("The function is being created.");
        config["StateReasonCode"] = json!("Creating");
    } else if within(state.updated, c.function_updating) {
        layer.met(Met::FunctionInProgress);
        config["LastUpdateStatus"] = json!("InProgress");
        config["LastUpdateStatusReason"] = json!("The function is being updated.");
        config["LastUpdateStatusReasonCode"] = json!("InProgress");
    } else if let Some(reason) = &state.failed {
        config["LastUpdateStatus"] = json!("Failed");
        config["LastUpdateStatusReason"] = json!(reason);
        config["LastUpdateStatusReasonCode"] = json!("InternalError");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_operations_are_named_by_method_and_path() {
        assert_eq!(
            LambdaRoute::of("PUT", "/2015-03-31/functions/vc-prod/configuration"),
            Some(LambdaRoute::UpdateConfiguration("vc-prod".into()))
        );
        assert_eq!(
            LambdaRoute::of("GET", "/2015-03-31/functions/vc%2Dprod"),
            Some(LambdaRoute::Get("vc-prod".into()))
        );
        assert_eq!(
            LambdaRoute::of("POST", "/2015-03-31/functions"),
            Some(LambdaRoute::Create)
        );
        assert_eq!(LambdaRoute::of("GET", "/2017-03-31/tags/arn"), None);
        assert_eq!(
            LambdaRoute::of(
                "POST",
                "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Avc-prod"
            ),
            Some(LambdaRoute::Tag("vc-prod".into()))
        );
    }
}
