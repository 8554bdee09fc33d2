//! The Lambda function: `bootstrap` on `provided.al2023`, its configuration, its environment
//! (derived with the role's policy, so the two cannot disagree) and its code, uploaded only when
//! the live `CodeSha256` differs from the local zip's.
//!
//! Real Lambda is eventually consistent in ways handled here:
//! - a role created seconds ago cannot be assumed yet, and CreateFunction says so; a moment
//!   later KMS may still not know it, and a function with environment variables cannot have its
//!   grant ("the KMS key is invalid for CreateGrant"): both are retried;
//! - a function is `Pending` after create and `InProgress` after each update, and a second
//!   update (or TagResource) meanwhile fails with ResourceConflictException;
//! - an update can fail (`LastUpdateStatus: Failed`), leaving the previous code and
//!   configuration: that is drift, repaired by sending both again.

use std::sync::Arc;

use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::create_function::CreateFunctionError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Architecture, Environment, FunctionCode, LastUpdateStatus, Runtime};
use function::contract;
use serde_json::json;

use super::tags::{self, Tags, TAGS};
use super::{Ctx, Needs, Removed, Resource};
use crate::arns::Arns;
use crate::aws::{self, AwsContext, Clients, Found};
use crate::conventions::{HANDLER, RUNTIME};
use crate::names::Names;
use crate::package::Artifact;
use crate::plan::{Change, Describe, Differ, Kind, Update};
use crate::progress::Step;
use crate::stack::Stack;
use crate::wait::{self, Attempt};

mod update;

pub use update::wait_unreleased;

pub const CODE: &str = "code_sha256";
pub const RUNTIME_FIELD: &str = "runtime";
pub const HANDLER_FIELD: &str = "handler";
pub const ARCHITECTURE: &str = "architecture";
pub const MEMORY: &str = "memory_mb";
pub const TIMEOUT: &str = "timeout_s";
pub const ROLE: &str = "role";
/// Environment changes are one per variable: `environment.TABLE_NAME`.
pub const ENVIRONMENT: &str = "environment";
/// The outcome of the function's last update: drift when it `Failed`.
pub const LAST_UPDATE: &str = "last_update";
const SUCCESSFUL: &str = "Successful";

/// What Lambda says while a role made moments ago is not yet visible to it, or not yet to KMS
/// (a function with environment variables needs a grant for it on the `aws/lambda` key). Both
/// clear on their own; terraform-provider-aws retries both (`retryFunctionOp`).
const ROLE_PROPAGATING: [&str; 2] = [
    "cannot be assumed by Lambda",
    "because the KMS key is invalid for CreateGrant",
];

/// Whether Lambda's message says that the function's role is still propagating.
fn role_propagating(message: Option<&str>) -> bool {
    message.is_some_and(|m| ROLE_PROPAGATING.iter().any(|p| m.contains(p)))
}

/// The zip to deploy and its `base64(sha256)`, as Lambda reports `CodeSha256`.
#[derive(Debug, Clone, PartialEq)]
pub struct Code {
    pub sha256: String,
    pub zip: Arc<Vec<u8>>,
}

impl Code {
    /// No code: for `down`, which never uploads any.
    pub fn none() -> Code {
        Code {
            sha256: String::new(),
            zip: Arc::new(Vec::new()),
        }
    }

    pub fn of(artifact: &Artifact) -> Code {
        Code {
            sha256: artifact.sha256.clone(),
            zip: Arc::new(artifact.zip.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub name: String,
    pub runtime: String,
    pub handler: String,
    pub architecture: String,
    pub memory_mb: i32,
    pub timeout_s: i32,
    pub role_arn: String,
    pub environment: Tags,
    pub code: Code,
    pub tags: Tags,
    pub description: String,
}

impl Desired {
    pub fn of(stack: &Stack, names: &Names, arns: &Arns, code: Code) -> Desired {
        Desired {
            name: names.function.clone(),
            runtime: RUNTIME.to_string(),
            handler: HANDLER.to_string(),
            architecture: stack.function.architecture.as_str().to_string(),
            memory_mb: i32::try_from(stack.function.memory_mb).unwrap_or(128),
            timeout_s: i32::try_from(stack.function.timeout_s).unwrap_or(3),
            role_arn: arns.role.clone(),
            environment: stack.environment(),
            code,
            tags: names.tags.clone(),
            description: format!("Visitor counter of stack {} ({})", names.stack, names.stage),
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
    pub environment: Tags,
    pub code_sha256: String,
    pub tags: Tags,
    /// `Successful`, or `Failed: AWS's reason` when Lambda could not apply the last update.
    pub last_update: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FunctionChange {
    Create {
        runtime: String,
        architecture: String,
        memory_mb: i32,
        timeout_s: i32,
        code_sha256: String,
    },
    Code(Update<String>),
    Runtime(Update<String>),
    Handler(Update<String>),
    Architecture(Update<String>),
    Memory(Update<i32>),
    Timeout(Update<i32>),
    Role(Update<String>),
    LastUpdate(Update<String>),
    Environment(String, Update<Option<String>>),
    Tags(Update<Tags>),
}

impl FunctionChange {
    /// Whether UpdateFunctionCode carries it (the code, and the architecture with it).
    fn is_code(&self) -> bool {
        matches!(
            self,
            FunctionChange::Code(_) | FunctionChange::Architecture(_)
        )
    }

    /// Whether UpdateFunctionConfiguration carries it.
    fn is_configuration(&self) -> bool {
        matches!(
            self,
            FunctionChange::Runtime(_)
                | FunctionChange::Handler(_)
                | FunctionChange::Memory(_)
                | FunctionChange::Timeout(_)
                | FunctionChange::Role(_)
                | FunctionChange::Environment(..)
        )
    }
}

impl Describe for FunctionChange {
    fn describe(&self, name: &str) -> Change {
        let k = Kind::Function;
        match self {
            FunctionChange::Create {
                runtime,
                architecture,
                memory_mb,
                timeout_s,
                code_sha256,
            } => Change::create(
                k,
                name,
                json!({RUNTIME_FIELD: runtime, ARCHITECTURE: architecture, MEMORY: memory_mb, TIMEOUT: timeout_s, CODE: code_sha256}),
            ),
            FunctionChange::Code(u) => u.change(k, name, CODE),
            FunctionChange::Runtime(u) => u.change(k, name, RUNTIME_FIELD),
            FunctionChange::Handler(u) => u.change(k, name, HANDLER_FIELD),
            FunctionChange::Architecture(u) => u.change(k, name, ARCHITECTURE),
            FunctionChange::Memory(u) => u.change(k, name, MEMORY),
            FunctionChange::Timeout(u) => u.change(k, name, TIMEOUT),
            FunctionChange::Role(u) => u.change(k, name, ROLE),
            FunctionChange::LastUpdate(u) => u.change(k, name, LAST_UPDATE),
            FunctionChange::Environment(key, u) => {
                u.change(k, name, &format!("{ENVIRONMENT}.{key}"))
            }
            FunctionChange::Tags(u) => u.change(k, name, TAGS),
        }
    }
}

pub struct Function;

impl Resource for Function {
    const KIND: Kind = Kind::Function;
    type Desired = Desired;
    type Observed = Observed;
    type Change = FunctionChange;

    fn name(d: &Desired) -> &str {
        &d.name
    }

    fn tags(o: &Observed) -> Option<&Tags> {
        Some(&o.tags)
    }

    async fn observe(
        clients: &Clients,
        names: &Names,
        _needs: Needs<'_>,
    ) -> anyhow::Result<Option<Observed>> {
        let name = &names.function;
        let Some(out) = clients
            .lambda
            .get_function()
            .function_name(name)
            .send()
            .await
            .found(|| format!("reading function {name}"))?
        else {
            return Ok(None);
        };
        // GetFunction answers without the tags, and with a TagsError, when the caller may not
        // lambda:ListTags. Unreadable tags are an error: read as "no tags" they would be drift,
        // and `down` would take the function for someone else's and leave it in place.
        if let Some(e) = out.tags_error() {
            anyhow::bail!(
                "reading the tags of function {name}: lambda GetFunction: {}: {} (hint: the \
                 credentials may not call lambda:ListTags; grant it on the function, \
                 `deployer policy` prints the whole policy the deployer needs)",
                e.error_code(),
                e.message()
            );
        }
        let tags = out.tags.clone().unwrap_or_default().into_iter().collect();
        Ok(out.configuration.map(|c| observed(&c, tags)))
    }

    fn plan(d: &Desired, o: Option<&Observed>, _needs: Needs<'_>) -> Vec<FunctionChange> {
        use FunctionChange as F;
        let Some(o) = o else {
            return vec![F::Create {
                runtime: d.runtime.clone(),
                architecture: d.architecture.clone(),
                memory_mb: d.memory_mb,
                timeout_s: d.timeout_s,
                code_sha256: d.code.sha256.clone(),
            }];
        };
        let mut diff = Differ::new();
        diff.field(&d.code.sha256, &o.code_sha256, F::Code)
            .field(&d.runtime, &o.runtime, F::Runtime)
            .field(&d.handler, &o.handler, F::Handler)
            .field(&d.architecture, &o.architecture, F::Architecture)
            .field(&d.memory_mb, &o.memory_mb, F::Memory)
            .field(&d.timeout_s, &o.timeout_s, F::Timeout)
            .field(&d.role_arn, &o.role_arn, F::Role)
            .field(&SUCCESSFUL.to_string(), &o.last_update, F::LastUpdate);
        let keys: std::collections::BTreeSet<&String> =
            d.environment.keys().chain(o.environment.keys()).collect();
        for key in keys {
            let (want, live) = (d.environment.get(key), o.environment.get(key));
            diff.field(&want.cloned(), &live.cloned(), |u| {
                F::Environment(key.clone(), u)
            });
        }
        tags::compare(&mut diff, &d.tags, &o.tags, F::Tags);
        diff.done()
    }

    async fn apply(
        ctx: Ctx<'_>,
        d: &Desired,
        changes: &[FunctionChange],
        _needs: Needs<'_>,
    ) -> anyhow::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let created = super::creates(changes);
        let step = ctx.step(created, "function", &d.name);
        if created {
            create(ctx, d, &step).await?;
        } else {
            update::apply(ctx, d, changes, &step).await?;
        }
        // New code alone is published next, and its publish waits out the update itself
        // (refused with a conflict while it is in progress, and for other code if it failed:
        // `alias::release`), so a poll here would only put a round trip on the release's path.
        // Without a release, [`wait_unreleased`] waits instead.
        if created || !update::code_only(changes) {
            update::wait_applied(ctx, &d.name, &step).await?;
        }
        step.done("");
        Ok(())
    }

    /// Deletes the function (its resource policy goes with it).
    async fn delete(ctx: Ctx<'_>, d: &Desired) -> anyhow::Result<Removed> {
        let Some(live) = Function::observe(ctx.clients, ctx.names, Needs::NONE).await? else {
            return Ok(Removed::Absent);
        };
        if !tags::ours(ctx.names, &live.tags) {
            return Ok(Removed::NotOurs(d.name.clone()));
        }
        super::removed(ctx, "function", &d.name, || async {
            ctx.clients
                .lambda
                .delete_function()
                .function_name(&d.name)
                .send()
                .await
                .found(|| format!("deleting function {}", d.name))
        })
        .await
    }
}

/// A function's (or a version's) configuration, as compared with what the stack wants.
pub fn observed(c: &aws_sdk_lambda::types::FunctionConfiguration, tags: Tags) -> Observed {
    let last_update = match c.last_update_status() {
        Some(LastUpdateStatus::Failed) => format!(
            "Failed: {}",
            c.last_update_status_reason().unwrap_or("no reason given")
        ),
        _ => SUCCESSFUL.to_string(),
    };
    Observed {
        arn: c.function_arn().unwrap_or_default().to_string(),
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
        tags,
        last_update,
    }
}

/// CreateFunction, retried while the new role is not yet visible to Lambda. Not retried by
/// the SDK: a retry after a lost answer fails with "function already exists" although the
/// first attempt made it, so after an ambiguous failure the function is looked for first.
async fn create(ctx: Ctx<'_>, d: &Desired, step: &Step) -> anyhow::Result<()> {
    let lambda = &ctx.clients.lambda;
    let result = wait::retry(ctx.waits.role_propagation, step, || async {
        let sent = lambda
            .create_function()
            .function_name(&d.name)
            .runtime(Runtime::from(d.runtime.as_str()))
            .handler(&d.handler)
            .architectures(Architecture::from(d.architecture.as_str()))
            .memory_size(d.memory_mb)
            .timeout(d.timeout_s)
            .role(&d.role_arn)
            .environment(environment(d))
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(d.code.zip.as_slice()))
                    .build(),
            )
            .set_tags(Some(d.tags.clone().into_iter().collect()))
            .description(&d.description)
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
                match lambda.get_function().function_name(&d.name).send().await {
                    Ok(_) => Attempt::Done(()),
                    Err(_) => Attempt::Again(
                        e,
                        "CreateFunction failed, and the function was not made".into(),
                    ),
                }
            }
            Err(e) => Attempt::Failed(e),
        }
    })
    .await;
    match result {
        Ok(()) => Ok(()),
        Err(e) if role_not_assumable(&e) => Err(anyhow::anyhow!(
            "creating function {}: Lambda still cannot assume role {} after {:.0?}; IAM usually \
             propagates within seconds. Check the role's trust policy, then run `up` again",
            d.name,
            d.role_arn,
            ctx.waits.role_propagation.timeout
        )),
        Err(e) => Err(e).doing(|| format!("creating function {}", d.name)),
    }
}

fn role_not_assumable<R>(e: &SdkError<CreateFunctionError, R>) -> bool {
    match e.as_service_error() {
        Some(CreateFunctionError::InvalidParameterValueException(p)) => {
            role_propagating(p.message())
        }
        _ => false,
    }
}

fn environment(d: &Desired) -> Environment {
    Environment::builder()
        .set_variables(Some(d.environment.clone().into_iter().collect()))
        .build()
}

/// The fields in which a published version differs from what the stack wants: its code and
/// configuration (a version has no tags of its own, and cannot be updated).
pub fn differs(d: &Desired, version: &Observed) -> Vec<String> {
    Function::plan(d, Some(version), Needs::NONE)
        .iter()
        .filter(|c| !matches!(c, FunctionChange::Tags(_) | FunctionChange::LastUpdate(_)))
        .filter_map(|c| c.describe(&d.name).field)
        .collect()
}

/// The table the live function points at, when it is not the one the stack wants: after a
/// rename, the old table is retained and reported.
pub fn previous_table(d: &Desired, o: Option<&Observed>) -> Option<String> {
    let live = o?.environment.get(contract::env::TABLE_NAME)?;
    (Some(live) != d.environment.get(contract::env::TABLE_NAME)).then(|| live.clone())
}

#[cfg(test)]
pub(crate) mod tests;
