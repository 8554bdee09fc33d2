//! A release, in order: publish the version, probe it, move the alias with the revision that was
//! read, then prune. A failure at any step leaves the alias where it was.

use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::publish_version::{PublishVersionError, PublishVersionOutput};
use aws_sdk_lambda::operation::update_alias::UpdateAliasError;
use aws_sdk_lambda::types::LastUpdateStatus;

use super::{AliasChange, Desired, History};
use crate::aws::{AwsContext, Clients, Found};
use crate::probe;
use crate::progress::Step;
use crate::resources::Ctx;
use crate::wait::{self, Attempt};

/// Carries out the alias's changes: a release (`Create` or `Release`), then a prune.
pub async fn apply(ctx: Ctx<'_>, d: &Desired, changes: &[AliasChange]) -> anyhow::Result<()> {
    let mut protected: Vec<String> = Vec::new();
    for change in changes {
        match change {
            AliasChange::Create => {
                let version = publish_and_probe(ctx, d).await?;
                let step = ctx.progress.step(format!(
                    "creating alias {} of function {} at version {version}",
                    d.name, d.function
                ));
                create(ctx, d, &version).await?;
                step.done("");
                protected.push(version);
            }
            AliasChange::Release {
                live, revision_id, ..
            } => {
                let version = publish_and_probe(ctx, d).await?;
                let step = ctx.progress.step(format!(
                    "moving alias {} of function {} from version {live} to {version}",
                    d.name, d.function
                ));
                let to = Switch {
                    version: &version,
                    revision_id,
                    history: History {
                        previous: Some(live.clone()),
                        rolled_back: false,
                    },
                };
                switch(ctx.clients, &d.function, &d.name, &to).await?;
                step.done("");
                protected.extend([version, live.clone()]);
            }
            AliasChange::Prune(versions) => prune(ctx, d, versions, &protected).await?,
        }
    }
    Ok(())
}

/// Publishes `$LATEST` (which the function's own changes have just made what the stack wants)
/// and probes the new version. Returns the version.
async fn publish_and_probe(ctx: Ctx<'_>, d: &Desired) -> anyhow::Result<String> {
    let step = ctx
        .progress
        .step(format!("publishing a version of function {}", d.function));
    let published = publish(ctx, d, &step).await?;
    let version = published.version().unwrap_or_default().to_string();
    let code = published.code_sha256().unwrap_or_default();
    if code != d.release.code.sha256 {
        anyhow::bail!(
            "Lambda answered the publish of function {} with version {version}, which holds code \
             {code}, not the code {} this `up` uploaded; the alias was not moved. Run `up` again",
            d.function,
            d.release.code.sha256
        );
    }
    step.done(&format!("version {version}"));
    let step = ctx.progress.step(format!(
        "probing version {version} of function {}",
        d.function
    ));
    probe_allowed(ctx, &d.function, &version, &step)
        .await
        .map_err(|e| {
            e.context(format!(
                "version {version} was published but takes no traffic: the alias {} was not \
                 moved, and the stage serves what it served before. Fix the cause, then run \
                 `up` again",
                d.name
            ))
        })?;
    step.done("");
    Ok(version)
}

/// Probes `version` of `function`, again while its own calls are denied: the role's policy may
/// have changed moments ago (this `up` repairs it before a release), and IAM applies a change to
/// the role's sessions after a few seconds.
async fn probe_allowed(
    ctx: Ctx<'_>,
    function: &str,
    version: &str,
    step: &Step,
) -> anyhow::Result<probe::Passed> {
    wait::retry(ctx.waits.policy_propagation, step, || async {
        match probe::run(ctx.clients, function, version).await {
            Ok(passed) => Attempt::Done(passed),
            Err(e) if probe::denied(&e) => Attempt::Again(
                e,
                "the function's calls are denied: IAM applies a changed policy after a few \
                 seconds"
                    .into(),
            ),
            Err(e) => Attempt::Failed(e),
        }
    })
    .await
}

/// After a change of the role's permissions that no release probed: probes the live version
/// until the change is in force, so that `up` does not return while a visit would still be
/// refused (a smoke test right after it, as CI runs one, would see a 500).
pub async fn wait_policy_in_force(ctx: Ctx<'_>, d: &Desired) -> anyhow::Result<()> {
    let Some(version) = super::live_version(ctx.clients, ctx.names).await? else {
        return Ok(());
    };
    let step = ctx.progress.step(format!(
        "checking that version {version} of function {} may count under the role's new policy",
        d.function
    ));
    probe_allowed(ctx, &d.function, &version, &step)
        .await
        .map_err(|e| {
            e.context(
                "the role's policy was changed, and the live version's calls are still refused",
            )
        })?;
    step.done("");
    Ok(())
}

/// PublishVersion of `$LATEST`, pinned by `CodeSha256` to the code `up` uploaded: if another
/// deploy changed `$LATEST` meanwhile, Lambda refuses rather than publish code nobody here
/// built. Sent again while the function's update is still in progress (ResourceConflictException,
/// as Lambda answers a publish during an update), so no poll of the update comes first.
async fn publish(ctx: Ctx<'_>, d: &Desired, step: &Step) -> anyhow::Result<PublishVersionOutput> {
    let lambda = &ctx.clients.lambda;
    let sent = wait::retry(ctx.waits.function_ready, step, || async {
        let sent = lambda
            .publish_version()
            .function_name(&d.function)
            .code_sha256(&d.release.code.sha256)
            .send()
            .await;
        match sent {
            Ok(published) => Attempt::Done(published),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_conflict_exception()) =>
            {
                let why = format!("function {} is still being updated", d.function);
                Attempt::Again(e, why)
            }
            Err(e) => Attempt::Failed(e),
        }
    })
    .await;
    match sent {
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(PublishVersionError::InvalidParameterValueException(p))
                    if p.message().is_some_and(|m| m.contains("CodeSHA256"))
            ) =>
        {
            Err(other_code(ctx.clients, &d.function).await)
        }
        other => other.doing(|| format!("publishing a version of function {}", d.function)),
    }
}

/// Why `$LATEST` holds other code than `up` uploaded: its update failed (Lambda keeps the
/// previous code, and says why), or another deploy uploaded other code.
async fn other_code(clients: &Clients, function: &str) -> anyhow::Error {
    let read = clients
        .lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await;
    if let Ok(c) = read {
        if c.last_update_status() == Some(&LastUpdateStatus::Failed) {
            return anyhow::anyhow!(
                "the update of function {function} failed: {}; Lambda kept the previous code \
                 and configuration, so no version was published and the alias was not moved. \
                 Fix the cause, then run `up` again",
                c.last_update_status_reason().unwrap_or("no reason given")
            );
        }
    }
    anyhow::anyhow!(
        "function {function}'s code changed while this `up` ran (another deploy uploaded other \
         code), so no version was published and the alias was not moved. Run `diff` to see \
         what is live now"
    )
}

/// Creates the alias at `version`. Its answer may be lost after Lambda made it, and the SDK then
/// sends it again, to a conflict: an alias that names `version` is this create's own (the deploy
/// lease keeps other deploys out), anything else another deploy's.
async fn create(ctx: Ctx<'_>, d: &Desired, version: &str) -> anyhow::Result<()> {
    let sent = ctx
        .clients
        .lambda
        .create_alias()
        .function_name(&d.function)
        .name(&d.name)
        .function_version(version)
        .description(History::default().describe())
        .send()
        .await;
    let Err(e) = sent else {
        return Ok(());
    };
    // Lambda says ResourceConflictException (409); moto says ConflictException.
    if e.raw_response().map(|r| r.status().as_u16()) != Some(409) {
        return Err(e).doing(|| format!("creating alias {} of function {}", d.name, d.function));
    }
    if super::live_version(ctx.clients, ctx.names)
        .await?
        .as_deref()
        == Some(version)
    {
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "alias {} of function {} was created by another deploy while this one ran; it was left \
         as that deploy made it. Run `diff` to see what is live now",
        d.name,
        d.function
    ))
}

/// Where an alias moves: a version, from the revision read, with the history to remember.
#[derive(Debug, Clone)]
pub struct Switch<'a> {
    pub version: &'a str,
    pub revision_id: &'a str,
    pub history: History,
}

/// Moves alias `alias` of `function` in one `UpdateAlias`, only if it is still at the revision
/// that was read: a deploy that switched it meanwhile wins, and this one says so.
pub async fn switch(
    clients: &Clients,
    function: &str,
    alias: &str,
    to: &Switch<'_>,
) -> anyhow::Result<()> {
    let sent = clients
        .lambda
        .update_alias()
        .function_name(function)
        .name(alias)
        .function_version(to.version)
        .revision_id(to.revision_id)
        .description(to.history.describe())
        .send()
        .await;
    match sent {
        Ok(_) => Ok(()),
        Err(e) if moved_meanwhile(&e) => Err(anyhow::anyhow!(
            "alias {alias} of function {function} was moved by another deploy while this one \
             ran (its RevisionId changed), so it was not switched to version {}. Run `diff` to \
             see what is live now",
            to.version
        )),
        Err(e) => Err(e).doing(|| format!("moving alias {alias} of function {function}")),
    }
}

fn moved_meanwhile<R>(e: &SdkError<UpdateAliasError, R>) -> bool {
    e.as_service_error()
        .is_some_and(|s| s.is_precondition_failed_exception())
}

/// Deletes the old versions of the plan, never one that is live or was just before it.
async fn prune(
    ctx: Ctx<'_>,
    d: &Desired,
    versions: &[u64],
    protected: &[String],
) -> anyhow::Result<()> {
    let old: Vec<u64> = versions
        .iter()
        .copied()
        .filter(|v| !protected.contains(&v.to_string()))
        .collect();
    if old.is_empty() {
        return Ok(());
    }
    let step = ctx.progress.step(format!(
        "deleting {} old version(s) of function {}",
        old.len(),
        d.function
    ));
    for version in &old {
        delete_version(ctx.clients, &d.function, *version, &step).await?;
    }
    step.done("");
    Ok(())
}

async fn delete_version(
    clients: &Clients,
    function: &str,
    version: u64,
    step: &Step,
) -> anyhow::Result<()> {
    let deleted = clients
        .lambda
        .delete_function()
        .function_name(function)
        .qualifier(version.to_string())
        .send()
        .await;
    match deleted {
        // Another alias (someone's own) still names it: it stays, as Lambda insists.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_conflict_exception()) =>
        {
            step.waiting(&format!(
                "version {version} is kept: another alias names it"
            ));
            Ok(())
        }
        other => other
            .found(|| format!("deleting version {version} of function {function}"))
            .map(|_| ()),
    }
}
