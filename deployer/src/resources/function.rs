//! The Lambda function: `bootstrap` on `provided.al2023`, its configuration, its environment
//! (derived with the role's policy, so the two cannot disagree) and its code, uploaded only when
//! the live `CodeSha256` differs from the local zip's.
//!
//! Real Lambda is eventually consistent in two ways handled here:
//! - a role created seconds ago cannot be assumed yet, and CreateFunction says so;
//! - a function is `Pending` after create and `InProgress` after each update, and a second
//!   update meanwhile fails with ResourceConflictException.

use std::collections::BTreeMap;

use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::create_function::CreateFunctionError;
use aws_sdk_lambda::operation::update_function_code::UpdateFunctionCodeError;
use aws_sdk_lambda::operation::update_function_configuration::UpdateFunctionConfigurationError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, LastUpdateStatus, Runtime, State,
};
use serde_json::json;
#[cfg(test)]
use serde_json::Value;

use super::{missing_tags, plan_tags, Ctx, TAGS};
use crate::aws::{self, AwsContext, Clients};
use crate::names::{Names, HANDLER, RUNTIME};
use crate::package::Artifact;
use crate::plan::{compare, Action, Change, Kind};
use crate::progress::Step;
use crate::stack::Stack;
use crate::wait::{self, Attempt};

pub const CODE: &str = "code_sha256";
pub const RUNTIME_FIELD: &str = "runtime";
pub const HANDLER_FIELD: &str = "handler";
pub const ARCHITECTURE: &str = "architecture";
pub const MEMORY: &str = "memory_mb";
pub const TIMEOUT: &str = "timeout_s";
pub const ROLE: &str = "role";
/// Environment changes are one per variable: `environment.TABLE_NAME`.
pub const ENVIRONMENT: &str = "environment";
/// The outcome of the function's last update: drift when it `Failed`, repaired by sending the
/// code and the configuration again.
pub const LAST_UPDATE: &str = "last_update";
const SUCCESSFUL: &str = "Successful";

/// What Lambda says while a role is not yet visible to it.
const ROLE_NOT_ASSUMABLE: &str = "cannot be assumed by Lambda";

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub name: String,
    pub runtime: String,
    pub handler: String,
    pub architecture: String,
    pub memory_mb: i32,
    pub timeout_s: i32,
    pub role_arn: String,
    pub environment: BTreeMap<String, String>,
    pub code_sha256: String,
    pub tags: BTreeMap<String, String>,
}

impl Desired {
    pub fn of(stack: &Stack, names: &Names, artifact: &Artifact) -> Desired {
        Desired {
            name: names.function.clone(),
            runtime: RUNTIME.to_string(),
            handler: HANDLER.to_string(),
            architecture: stack.function.architecture.as_str().to_string(),
            memory_mb: i32::try_from(stack.function.memory_mb).unwrap_or(128),
            timeout_s: i32::try_from(stack.function.timeout_s).unwrap_or(3),
            role_arn: names.role_arn.clone(),
            environment: names.environment.clone(),
            code_sha256: artifact.sha256.clone(),
            tags: names.tags.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub arn: String,
    pub runtime: String,
    pub handler: String,
    pub architecture: String,
    pub memory_mb: i32,
    pub timeout_s: i32,
    pub role_arn: String,
    pub environment: BTreeMap<String, String>,
    pub code_sha256: String,
    pub tags: BTreeMap<String, String>,
    /// `Successful`, or `Failed: AWS's reason` when Lambda could not apply the last update.
    pub last_update: String,
}

pub async fn observe(clients: &Clients, name: &str) -> anyhow::Result<Option<Observed>> {
    let out = match clients
        .lambda
        .get_function()
        .function_name(name)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e).doing(|| format!("reading function {name}")),
    };
    // GetFunction answers without the tags, and with a TagsError, when the caller may not
    // lambda:ListTags. Unreadable tags are an error: read as "no tags" they would be drift, and
    // `down` would take the function for someone else's and leave it in place.
    if let Some(e) = out.tags_error() {
        anyhow::bail!(
            "reading the tags of function {name}: lambda GetFunction: {}: {} (hint: the \
             credentials may not call lambda:ListTags; grant it on the function, \
             `deployer policy` prints the whole policy the deployer needs)",
            e.error_code(),
            e.message()
        );
    }
    let Some(c) = out.configuration else {
        return Ok(None);
    };
    let last_update = match c.last_update_status() {
        Some(LastUpdateStatus::Failed) => format!(
            "Failed: {}",
            c.last_update_status_reason().unwrap_or("no reason given")
        ),
        _ => SUCCESSFUL.to_string(),
    };
    Ok(Some(Observed {
        last_update,
        arn: c.function_arn.clone().unwrap_or_default(),
        runtime: c
            .runtime()
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        handler: c.handler().unwrap_or_default().to_string(),
        architecture: c
            .architectures()
            .first()
            .map(|a| a.as_str().to_string())
            // Lambda's default, for functions created before architectures existed.
            .unwrap_or_else(|| "x86_64".to_string()),
        memory_mb: c.memory_size().unwrap_or_default(),
        timeout_s: c.timeout().unwrap_or_default(),
        role_arn: c.role().unwrap_or_default().to_string(),
        environment: c
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        code_sha256: c.code_sha256().unwrap_or_default().to_string(),
        tags: out.tags.unwrap_or_default().into_iter().collect(),
    }))
}

pub fn plan(d: &Desired, o: Option<&Observed>) -> Vec<Change> {
    let Some(o) = o else {
        return vec![Change::create(
            Kind::Function,
            &d.name,
            json!({
                RUNTIME_FIELD: d.runtime,
                ARCHITECTURE: d.architecture,
                MEMORY: d.memory_mb,
                TIMEOUT: d.timeout_s,
                CODE: d.code_sha256,
            }),
        )];
    };
    let mut changes = Vec::new();
    let k = Kind::Function;
    let n = d.name.as_str();
    compare(&mut changes, k, n, CODE, &d.code_sha256, &o.code_sha256);
    compare(&mut changes, k, n, RUNTIME_FIELD, &d.runtime, &o.runtime);
    compare(&mut changes, k, n, HANDLER_FIELD, &d.handler, &o.handler);
    compare(
        &mut changes,
        k,
        n,
        ARCHITECTURE,
        &d.architecture,
        &o.architecture,
    );
    compare(&mut changes, k, n, MEMORY, &d.memory_mb, &o.memory_mb);
    compare(&mut changes, k, n, TIMEOUT, &d.timeout_s, &o.timeout_s);
    compare(&mut changes, k, n, ROLE, &d.role_arn, &o.role_arn);
    compare(
        &mut changes,
        k,
        n,
        LAST_UPDATE,
        &SUCCESSFUL.to_string(),
        &o.last_update,
    );
    let keys: std::collections::BTreeSet<&String> =
        d.environment.keys().chain(o.environment.keys()).collect();
    for key in keys {
        let field = format!("{ENVIRONMENT}.{key}");
        compare(
            &mut changes,
            k,
            n,
            &field,
            &d.environment.get(key),
            &o.environment.get(key),
        );
    }
    plan_tags(&mut changes, k, n, &d.tags, &o.tags);
    changes
}

/// The fields UpdateFunctionConfiguration sets.
fn is_configuration(c: &Change) -> bool {
    [RUNTIME_FIELD, HANDLER_FIELD, MEMORY, TIMEOUT, ROLE]
        .iter()
        .any(|f| c.is(f))
        || c.field
            .as_deref()
            .is_some_and(|f| f.starts_with("environment."))
}

pub async fn apply(
    ctx: Ctx<'_>,
    d: &Desired,
    artifact: &Artifact,
    changes: &[Change],
) -> anyhow::Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let created = changes.iter().any(|c| c.action == Action::Create);
    let step = ctx.progress.step(format!(
        "{} function {}",
        if created { "creating" } else { "updating" },
        d.name
    ));
    // After a failed update, Lambda keeps the previous code and configuration: sending both
    // again is the repair.
    let repair = changes.iter().any(|c| c.is(LAST_UPDATE));
    if created {
        create(ctx, d, artifact, &step).await?;
    } else {
        if repair || changes.iter().any(|c| c.is(CODE) || c.is(ARCHITECTURE)) {
            wait_ready(ctx, &d.name, &step).await?;
            update_code(ctx, d, artifact, &step).await?;
        }
        if repair || changes.iter().any(is_configuration) {
            // A configuration update right after a code update conflicts until the first is done.
            wait_ready(ctx, &d.name, &step).await?;
            update_configuration(ctx, d, &step).await?;
        }
        if let Some(tags) = changes.iter().find(|c| c.is(TAGS)) {
            let live: BTreeMap<String, String> =
                serde_json::from_value(tags.actual.clone()).unwrap_or_default();
            ctx.clients
                .lambda
                .tag_resource()
                .resource(&ctx.names.function_arn)
                .set_tags(Some(missing_tags(&d.tags, &live).into_iter().collect()))
                .send()
                .await
                .doing(|| format!("tagging function {}", d.name))?;
        }
    }
    wait_applied(ctx, &d.name, &step).await?;
    step.done("");
    Ok(())
}

async fn create(ctx: Ctx<'_>, d: &Desired, artifact: &Artifact, step: &Step) -> anyhow::Result<()> {
    let role = &d.role_arn;
    let result = wait::retry(ctx.waits.role_propagation, step, || async {
        let sent = ctx
            .clients
            .lambda
            .create_function()
            .function_name(&d.name)
            .runtime(Runtime::from(d.runtime.as_str()))
            .handler(&d.handler)
            .architectures(Architecture::from(d.architecture.as_str()))
            .memory_size(d.memory_mb)
            .timeout(d.timeout_s)
            .role(role)
            .environment(environment(d))
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(artifact.zip.clone()))
                    .build(),
            )
            .set_tags(Some(d.tags.clone().into_iter().collect()))
            .description(format!(
                "Visitor counter of stack {} ({})",
                ctx.names.stack, ctx.names.stage
            ))
            // Not retried by the SDK: a retry after a lost answer fails with "function already
            // exists" although the first attempt made it. This loop looks first.
            .customize()
            .config_override(crate::single_attempt!(aws_sdk_lambda))
            .send()
            .await;
        match sent {
            Ok(_) => Attempt::Done(()),
            Err(e) if role_not_assumable(&e) => {
                Attempt::Again(e, "the new role is not yet visible to Lambda".into())
            }
            Err(e) if aws::ambiguous(&e) => {
                let made = ctx
                    .clients
                    .lambda
                    .get_function()
                    .function_name(&d.name)
                    .send()
                    .await
                    .is_ok();
                if made {
                    Attempt::Done(())
                } else {
                    Attempt::Again(
                        e,
                        "CreateFunction failed, and the function was not made".into(),
                    )
                }
            }
            Err(e) => Attempt::Failed(e),
        }
    })
    .await;
    match result {
        Ok(()) => Ok(()),
        Err(e) if role_not_assumable(&e) => Err(anyhow::anyhow!(
            "creating function {}: Lambda still cannot assume role {role} after {:.0?}; \
             IAM usually propagates within seconds. Check the role's trust policy, then run `up` again",
            d.name,
            ctx.waits.role_propagation.timeout
        )),
        Err(e) => Err(e).doing(|| format!("creating function {}", d.name)),
    }
}

fn role_not_assumable<R>(e: &SdkError<CreateFunctionError, R>) -> bool {
    match e.as_service_error() {
        Some(CreateFunctionError::InvalidParameterValueException(p)) => {
            p.message().is_some_and(|m| m.contains(ROLE_NOT_ASSUMABLE))
        }
        _ => false,
    }
}

fn environment(d: &Desired) -> Environment {
    Environment::builder()
        .set_variables(Some(d.environment.clone().into_iter().collect()))
        .build()
}

async fn update_code(
    ctx: Ctx<'_>,
    d: &Desired,
    artifact: &Artifact,
    step: &Step,
) -> anyhow::Result<()> {
    let lambda = &ctx.clients.lambda;
    let send = || {
        lambda
            .update_function_code()
            .function_name(&d.name)
            .zip_file(Blob::new(artifact.zip.clone()))
            .architectures(Architecture::from(d.architecture.as_str()))
            .send()
    };
    let conflict = |e: &SdkError<UpdateFunctionCodeError, _>| {
        e.as_service_error()
            .is_some_and(|s| s.is_resource_conflict_exception())
    };
    retry_conflicts(ctx, step, conflict, send)
        .await
        .doing(|| format!("updating the code of function {}", d.name))?;
    Ok(())
}

async fn update_configuration(ctx: Ctx<'_>, d: &Desired, step: &Step) -> anyhow::Result<()> {
    let lambda = &ctx.clients.lambda;
    let send = || {
        lambda
            .update_function_configuration()
            .function_name(&d.name)
            .runtime(Runtime::from(d.runtime.as_str()))
            .handler(&d.handler)
            .memory_size(d.memory_mb)
            .timeout(d.timeout_s)
            .role(&d.role_arn)
            .environment(environment(d))
            .send()
    };
    // A role changed moments ago is not yet visible to Lambda either (IAM propagation).
    let conflict = |e: &SdkError<UpdateFunctionConfigurationError, _>| match e.as_service_error() {
        Some(UpdateFunctionConfigurationError::ResourceConflictException(_)) => true,
        Some(UpdateFunctionConfigurationError::InvalidParameterValueException(p)) => {
            p.message().is_some_and(|m| m.contains(ROLE_NOT_ASSUMABLE))
        }
        _ => false,
    };
    retry_conflicts(ctx, step, conflict, send)
        .await
        .doing(|| format!("updating the configuration of function {}", d.name))?;
    Ok(())
}

/// Sends again while Lambda answers ResourceConflictException: an earlier update is still in
/// progress, and a second one must wait for it (bounded by `function_ready`).
async fn retry_conflicts<T, E, F, Fut>(
    ctx: Ctx<'_>,
    step: &Step,
    conflict: impl Fn(&E) -> bool,
    mut send: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let conflict = &conflict;
    wait::retry(ctx.waits.function_ready, step, move || {
        let sent = send();
        async move {
            match sent.await {
                Ok(value) => Attempt::Done(value),
                Err(e) if conflict(&e) => Attempt::Again(
                    e,
                    "another update is in progress, or the role is not yet visible".into(),
                ),
                Err(e) => Attempt::Failed(e),
            }
        }
    })
    .await
}

/// Waits until the function is `Active` and its last update is no longer `InProgress`. A last
/// update that `Failed` ends the wait: an update may now be sent (it is the repair), and the
/// wait after it reports the failure.
pub async fn wait_ready(ctx: Ctx<'_>, name: &str, step: &Step) -> anyhow::Result<()> {
    settle(ctx, name, step, false).await
}

/// Waits as [`wait_ready`] does, then fails if the update just sent `Failed`.
async fn wait_applied(ctx: Ctx<'_>, name: &str, step: &Step) -> anyhow::Result<()> {
    settle(ctx, name, step, true).await
}

async fn settle(ctx: Ctx<'_>, name: &str, step: &Step, after_update: bool) -> anyhow::Result<()> {
    wait::until(
        &format!("function {name} to be ready"),
        ctx.waits.function_ready,
        step,
        || async {
            let c = ctx
                .clients
                .lambda
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .doing(|| format!("reading function {name}"))?;
            match (c.state(), c.last_update_status()) {
                (Some(State::Failed), _) => anyhow::bail!(
                    "function {name} failed to become active: {}",
                    c.state_reason().unwrap_or("no reason given")
                ),
                (_, Some(LastUpdateStatus::Failed)) if after_update => anyhow::bail!(
                    "the update of function {name} failed: {}; Lambda kept the previous code \
                     and configuration. Fix the cause, then run `up` again",
                    c.last_update_status_reason().unwrap_or("no reason given")
                ),
                (Some(State::Pending), _) | (_, Some(LastUpdateStatus::InProgress)) => Ok(None),
                _ => Ok(Some(())),
            }
        },
    )
    .await
}

/// Deletes the function (its resource policy goes with it); `false` when there was none.
pub async fn delete(ctx: Ctx<'_>) -> anyhow::Result<bool> {
    let name = &ctx.names.function;
    match ctx
        .clients
        .lambda
        .delete_function()
        .function_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(e).doing(|| format!("deleting function {name}")),
    }
}

/// The table the live function points at, when it is not the one the stack wants: after a
/// rename, the old table is retained and reported.
pub fn previous_table(d: &Desired, o: Option<&Observed>) -> Option<String> {
    let live = o?.environment.get("TABLE_NAME")?;
    (Some(live) != d.environment.get("TABLE_NAME")).then(|| live.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> Desired {
        Desired {
            name: "f".into(),
            runtime: RUNTIME.into(),
            handler: HANDLER.into(),
            architecture: "x86_64".into(),
            memory_mb: 128,
            timeout_s: 3,
            role_arn: "arn:role".into(),
            environment: BTreeMap::from([
                ("TABLE_NAME".into(), "t".into()),
                ("COUNTER_ID".into(), "main_counter".into()),
            ]),
            code_sha256: "abc=".into(),
            tags: BTreeMap::new(),
        }
    }

    fn live() -> Observed {
        let d = desired();
        Observed {
            arn: "arn:f".into(),
            runtime: d.runtime,
            handler: d.handler,
            architecture: d.architecture,
            memory_mb: d.memory_mb,
            timeout_s: d.timeout_s,
            role_arn: d.role_arn,
            environment: d.environment,
            code_sha256: d.code_sha256,
            tags: d.tags,
            last_update: SUCCESSFUL.into(),
        }
    }

    fn fields(changes: &[Change]) -> Vec<(String, Value, Value)> {
        changes
            .iter()
            .map(|c| {
                (
                    c.field.clone().unwrap_or_default(),
                    c.expected.clone(),
                    c.actual.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn a_matching_function_needs_nothing() {
        assert_eq!(plan(&desired(), Some(&live())), vec![]);
        assert_eq!(plan(&desired(), None)[0].action, Action::Create);
    }

    #[test]
    fn every_configuration_field_is_compared() {
        let mut o = live();
        o.code_sha256 = "old=".into();
        o.runtime = "python3.12".into();
        o.handler = "index.handler".into();
        o.architecture = "arm64".into();
        o.memory_mb = 256;
        o.timeout_s = 30;
        o.role_arn = "arn:other".into();
        assert_eq!(
            fields(&plan(&desired(), Some(&o))),
            [
                (CODE.into(), json!("abc="), json!("old=")),
                (
                    RUNTIME_FIELD.into(),
                    json!("provided.al2023"),
                    json!("python3.12")
                ),
                (
                    HANDLER_FIELD.into(),
                    json!("bootstrap"),
                    json!("index.handler")
                ),
                (ARCHITECTURE.into(), json!("x86_64"), json!("arm64")),
                (MEMORY.into(), json!(128), json!(256)),
                (TIMEOUT.into(), json!(3), json!(30)),
                (ROLE.into(), json!("arn:role"), json!("arn:other")),
            ]
        );
    }

    #[test]
    fn environment_variables_added_changed_and_removed_are_each_a_change() {
        let mut o = live();
        o.environment
            .insert("TABLE_NAME".into(), "old-table".into());
        o.environment.remove("COUNTER_ID");
        o.environment.insert("DEBUG".into(), "1".into());
        assert_eq!(
            fields(&plan(&desired(), Some(&o))),
            [
                (
                    "environment.COUNTER_ID".into(),
                    json!("main_counter"),
                    json!(null)
                ),
                ("environment.DEBUG".into(), json!(null), json!("1")),
                (
                    "environment.TABLE_NAME".into(),
                    json!("t"),
                    json!("old-table")
                ),
            ]
        );
        assert_eq!(
            previous_table(&desired(), Some(&o)),
            Some("old-table".into())
        );
        assert_eq!(previous_table(&desired(), Some(&live())), None);
    }
}
