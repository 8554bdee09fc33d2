//! Updating a function that exists: its code, then its configuration, each after the function
//! has settled. Lambda refuses a second update while one is `InProgress`
//! (ResourceConflictException), and a configuration naming a role changed moments ago while IAM
//! propagates; both are waited out, bounded.

use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::tag_resource::TagResourceError;
use aws_sdk_lambda::operation::update_function_code::UpdateFunctionCodeError;
use aws_sdk_lambda::operation::update_function_configuration::UpdateFunctionConfigurationError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Architecture, LastUpdateStatus, Runtime, State};

use super::{environment, role_propagating, Desired, FunctionChange};
use crate::aws::AwsContext;
use crate::progress::Step;
use crate::resources::{tags, Ctx};
use crate::wait::{self, Attempt};

/// Carries out the changes of an existing function. After a failed update Lambda keeps the
/// previous code and configuration, so a `LastUpdate` change sends both again: the repair.
pub async fn apply(
    ctx: Ctx<'_>,
    d: &Desired,
    changes: &[FunctionChange],
    step: &Step,
) -> anyhow::Result<()> {
    let repair = changes
        .iter()
        .any(|c| matches!(c, FunctionChange::LastUpdate(_)));
    // The code goes at once: the observation saw the function, and an update still in
    // progress (or a function still `Pending`) refuses it with a conflict, which is retried.
    if repair || changes.iter().any(FunctionChange::is_code) {
        code(ctx, d, step).await?;
    }
    if repair || changes.iter().any(FunctionChange::is_configuration) {
        // A configuration update right after a code update conflicts until the first is done.
        wait_ready(ctx, &d.name, step).await?;
        configuration(ctx, d, step).await?;
    }
    for change in changes {
        if let FunctionChange::Tags(update) = change {
            tags::apply(update, |missing| tag(ctx, d, missing, step)).await?;
        }
    }
    Ok(())
}

/// Adds the stack's missing tags. Lambda refuses TagResource while an update is in progress
/// (ResourceConflictException), as the code or configuration just sent may be: retried.
async fn tag(ctx: Ctx<'_>, d: &Desired, missing: tags::Tags, step: &Step) -> anyhow::Result<()> {
    let send = || {
        ctx.clients
            .lambda
            .tag_resource()
            .resource(&ctx.arns.function)
            .set_tags(Some(missing.clone().into_iter().collect()))
            .send()
    };
    let conflict = |e: &SdkError<TagResourceError, _>| {
        e.as_service_error()
            .is_some_and(|s| s.is_resource_conflict_exception())
    };
    retry_conflicts(ctx, step, conflict, send)
        .await
        .doing(|| format!("tagging function {}", d.name))?;
    Ok(())
}

async fn code(ctx: Ctx<'_>, d: &Desired, step: &Step) -> anyhow::Result<()> {
    let lambda = &ctx.clients.lambda;
    let send = || {
        lambda
            .update_function_code()
            .function_name(&d.name)
            .zip_file(Blob::new(d.code.zip.as_slice()))
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

async fn configuration(ctx: Ctx<'_>, d: &Desired, step: &Step) -> anyhow::Result<()> {
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
            role_propagating(p.message())
        }
        _ => false,
    };
    retry_conflicts(ctx, step, conflict, send)
        .await
        .doing(|| format!("updating the configuration of function {}", d.name))?;
    Ok(())
}

/// Sends again while Lambda answers as `conflict` says: an earlier update is still in
/// progress, or the role is not yet visible (bounded by `function_ready`).
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
pub async fn wait_applied(ctx: Ctx<'_>, name: &str, step: &Step) -> anyhow::Result<()> {
    settle(ctx, name, step, true).await
}

async fn settle(ctx: Ctx<'_>, name: &str, step: &Step, after_update: bool) -> anyhow::Result<()> {
    let what = format!("function {name} to be ready");
    wait::until(&what, ctx.waits.function_ready, step, || async {
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
                "the update of function {name} failed: {}; Lambda kept the previous code and \
                 configuration. Fix the cause, then run `up` again",
                c.last_update_status_reason().unwrap_or("no reason given")
            ),
            (Some(State::Pending), _) | (_, Some(LastUpdateStatus::InProgress)) => Ok(None),
            _ => Ok(Some(())),
        }
    })
    .await
}

/// Whether `changes` update the code of a live function and nothing else.
pub(super) fn code_only(changes: &[FunctionChange]) -> bool {
    !changes.is_empty() && changes.iter().all(FunctionChange::is_code)
}

/// Waits until new code that no release publishes (the live version has it already: `$LATEST`
/// alone was changed by hand) is applied, or says why it failed; [`super::Function::apply`] leaves
/// that wait to the release when there is one.
pub async fn wait_unreleased(
    ctx: Ctx<'_>,
    d: &Desired,
    changes: &[FunctionChange],
) -> anyhow::Result<()> {
    if !code_only(changes) {
        return Ok(());
    }
    let step = ctx.step(false, "function", &d.name);
    wait_applied(ctx, &d.name, &step).await?;
    step.done("");
    Ok(())
}
