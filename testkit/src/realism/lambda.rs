//! Lambda as it really settles: a new function `Pending`, each update `InProgress`, a second
//! update meanwhile refused; a role not yet assumable after it changed; a last update that
//! `Failed`; GetFunction without `Tags` when the caller may not `lambda:ListTags`; AddPermission
//! refused for a statement id that exists; PublishVersion refused when `$LATEST` holds other code
//! than its `CodeSha256`.

use std::time::Instant;

use serde_json::{json, Value};

use super::{percent_decode, rewrite_json, within, Answer, Function, Layer};
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
        if let Some(refusal) = role_not_yet_assumable(layer, ex) {
            return Some(refusal);
        }
    }
    match route {
        // A qualified statement is the data plane's to check (it keeps those policies).
        LambdaRoute::AddPermission(f)
            if layer.config.permission_conflicts && !qualified(ex, &f) =>
        {
            statement_exists(ex, upstream, &f).await
        }
        LambdaRoute::UpdateCode(f) | LambdaRoute::UpdateConfiguration(f) => busy(layer, &f),
        // PublishVersion during an update answers ResourceConflictException too ("An update
        // is in progress for resource", aws/aws-cli #6718).
        LambdaRoute::Publish(f) => match busy(layer, &f) {
            Some(refusal) => Some(refusal),
            None => other_code(ex, upstream, &f).await,
        },
        _ => None,
    }
}

fn role_not_yet_assumable(layer: &Layer, ex: &Exchange<'_>) -> Option<Answer> {
    let role = ex.json()["Role"]
        .as_str()
        .and_then(|arn| arn.rsplit('/').next())
        .map(str::to_string)?;
    let changed = layer.world().roles.get(&role).copied();
    within(changed, layer.config.role_propagation).then(|| {
        faults::aws_error(
            "lambda",
            400,
            "InvalidParameterValueException",
            "The role defined for the function cannot be assumed by Lambda.",
        )
    })
}

/// PublishVersion's `CodeSha256` is a precondition: Lambda refuses to publish when `$LATEST`
/// holds other code (moto ignores it).
async fn other_code(ex: &Exchange<'_>, upstream: &Upstream, function: &str) -> Option<Answer> {
    let asked = ex.json()["CodeSha256"].as_str()?.to_string();
    let path = format!("/2015-03-31/functions/{function}/configuration");
    let live = upstream.peek_rest(ex, "GET", &path).await?;
    let live = live["CodeSha256"].as_str()?.to_string();
    (asked != live).then(|| {
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
        LambdaRoute::AddPermission(_) => answer,
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
    let no_tags = layer.config.denied.contains("lambda:ListTags");
    rewrite_json(&answer, |v| {
        settle(layer, &state, &mut v["Configuration"]);
        architectures_of(&state, &mut v["Configuration"]);
        if no_tags {
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
        config["State"] = json!("Pending");
        config["StateReason"] = json!("The function is being created.");
        config["StateReasonCode"] = json!("Creating");
    } else if within(state.updated, c.function_updating) {
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
    }
}
