//! The API's stage: it serves one deployment (a snapshot of the routes and gateway responses),
//! with stage-wide throttling. A deployment records a hash of what it serves in its description,
//! so the live stage is compared without a state file, and a new deployment is made only when
//! that changed.

use std::time::Duration;

use aws_sdk_apigateway::operation::create_deployment::CreateDeploymentError;
use aws_sdk_apigateway::types::{Op, PatchOperation};
use serde_json::json;

use super::tags::{self, Tags, TAGS};
use super::{Ctx, Needs, Removed, Resource};
use crate::aws::{self, AwsContext, Clients, Found};
use crate::names::Names;
use crate::plan::{Change, Describe, Differ, Kind, Update};
use crate::progress::Step;
use crate::stack::Stack;
use crate::wait::{self, Attempt, CreateError};

pub const DEPLOYMENT: &str = "deployment";
pub const THROTTLE_RATE: &str = "throttle.rate";
pub const THROTTLE_BURST: &str = "throttle.burst";

/// How a deployment's description carries its hash.
const HASH_PREFIX: &str = "deployer routes=";
/// Stage-wide method settings live under this key.
const ALL_METHODS: &str = "*/*";

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub name: String,
    /// What its deployment must serve: see [`crate::names::deployment_hash`].
    pub deployment_hash: String,
    pub throttle_rate: f64,
    pub throttle_burst: i32,
    pub tags: Tags,
}

impl Desired {
    pub fn of(stack: &Stack, names: &Names, deployment_hash: &str) -> Desired {
        Desired {
            name: names.stage.clone(),
            deployment_hash: deployment_hash.to_string(),
            throttle_rate: stack.api.throttle.rate,
            throttle_burst: i32::try_from(stack.api.throttle.burst).unwrap_or(i32::MAX),
            tags: names.tags.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub deployment_id: String,
    pub deployment_hash: Option<String>,
    pub throttle_rate: Option<f64>,
    pub throttle_burst: Option<i32>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StageChange {
    Create { hash: String, rate: f64, burst: i32 },
    Deployment(Update<Option<String>>),
    ThrottleRate(Update<Option<f64>>),
    ThrottleBurst(Update<Option<i32>>),
    Tags(Update<Tags>),
}

impl Describe for StageChange {
    fn describe(&self, name: &str) -> Change {
        let k = Kind::Stage;
        match self {
            StageChange::Create { hash, rate, burst } => Change::create(
                k,
                name,
                json!({DEPLOYMENT: hash, THROTTLE_RATE: rate, THROTTLE_BURST: burst}),
            ),
            StageChange::Deployment(u) => u.change(k, name, DEPLOYMENT),
            StageChange::ThrottleRate(u) => u.change(k, name, THROTTLE_RATE),
            StageChange::ThrottleBurst(u) => u.change(k, name, THROTTLE_BURST),
            StageChange::Tags(u) => u.change(k, name, TAGS),
        }
    }
}

pub struct Stage;

impl Resource for Stage {
    const KIND: Kind = Kind::Stage;
    type Desired = Desired;
    type Observed = Observed;
    type Change = StageChange;

    fn name(d: &Desired) -> &str {
        &d.name
    }

    /// The stage of the stack's API, once there is one.
    async fn observe(
        clients: &Clients,
        names: &Names,
        needs: Needs<'_>,
    ) -> anyhow::Result<Option<Observed>> {
        match needs.api_id {
            Some(api_id) => read(clients, api_id, &names.stage).await,
            None => Ok(None),
        }
    }

    fn plan(d: &Desired, o: Option<&Observed>, _needs: Needs<'_>) -> Vec<StageChange> {
        let Some(o) = o else {
            return vec![StageChange::Create {
                hash: d.deployment_hash.clone(),
                rate: d.throttle_rate,
                burst: d.throttle_burst,
            }];
        };
        let mut diff = Differ::new();
        diff.field(
            &Some(d.deployment_hash.clone()),
            &o.deployment_hash,
            StageChange::Deployment,
        )
        .field(
            &Some(d.throttle_rate),
            &o.throttle_rate,
            StageChange::ThrottleRate,
        )
        .field(
            &Some(d.throttle_burst),
            &o.throttle_burst,
            StageChange::ThrottleBurst,
        );
        tags::compare(&mut diff, &d.tags, &o.tags, StageChange::Tags);
        diff.done()
    }

    async fn apply(
        ctx: Ctx<'_>,
        d: &Desired,
        changes: &[StageChange],
        needs: Needs<'_>,
    ) -> anyhow::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let api_id = needs
            .api_id
            .ok_or_else(|| anyhow::anyhow!("stage {} has no API to belong to", d.name))?;
        // The plan says whether the stage exists; a second look could only be less sure.
        let created = super::creates(changes);
        let step = ctx.step(created, "stage", &d.name);
        let redeploy = changes
            .iter()
            .any(|c| matches!(c, StageChange::Deployment(_)));
        if created || redeploy {
            let deployment = create_deployment(ctx, d, api_id, &step).await?;
            if created {
                create(ctx, d, api_id, &deployment, &step).await?;
            } else {
                point_at(ctx, d, api_id, &deployment).await?;
            }
        }
        let throttle = changes.iter().any(|c| {
            matches!(
                c,
                StageChange::ThrottleRate(_) | StageChange::ThrottleBurst(_)
            )
        });
        if created || throttle {
            set_throttle(ctx, d, api_id).await?;
        }
        for change in changes {
            if let StageChange::Tags(update) = change {
                tag(ctx, d, api_id, update).await?;
            }
        }
        step.done("");
        Ok(())
    }

    /// The stage goes with its API; `down` has nothing to remove of its own.
    async fn delete(_ctx: Ctx<'_>, _d: &Desired) -> anyhow::Result<Removed> {
        Ok(Removed::Absent)
    }
}

/// Stage `stage` of API `api_id`, with the hash its deployment records. Only NotFound means "no
/// stage": a denied or failed read is an error, never a stage to create.
pub async fn read(
    clients: &Clients,
    api_id: &str,
    stage: &str,
) -> anyhow::Result<Option<Observed>> {
    let gw = &clients.apigateway;
    let Some(live) = gw
        .get_stage()
        .rest_api_id(api_id)
        .stage_name(stage)
        .send()
        .await
        .found(|| format!("reading stage {stage} of API {api_id}"))?
    else {
        return Ok(None);
    };
    let deployment_id = live.deployment_id().unwrap_or_default().to_string();
    let deployment_hash = if deployment_id.is_empty() {
        None
    } else {
        gw.get_deployment()
            .rest_api_id(api_id)
            .deployment_id(&deployment_id)
            .send()
            .await
            .found(|| format!("reading deployment {deployment_id} of API {api_id}"))?
            .and_then(|d| {
                d.description()
                    .and_then(|text| text.strip_prefix(HASH_PREFIX))
                    .map(str::to_string)
            })
    };
    let all = live.method_settings().and_then(|m| m.get(ALL_METHODS));
    Ok(Some(Observed {
        deployment_id,
        deployment_hash,
        throttle_rate: all.map(|s| s.throttling_rate_limit()),
        throttle_burst: all.map(|s| s.throttling_burst_limit()),
        tags: live
            .tags()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect(),
    }))
}

/// A deployment (a snapshot) of the API. API Gateway allows one CreateDeployment every 5 s per
/// account: a 429 is waited out as its `Retry-After` says, within [`crate::wait::Waits::api_quota`].
/// A lost answer is sent again: a second snapshot is harmless, and the stage is pointed at the
/// one whose answer came.
async fn create_deployment(
    ctx: Ctx<'_>,
    d: &Desired,
    api_id: &str,
    step: &Step,
) -> anyhow::Result<String> {
    let gw = &ctx.clients.apigateway;
    let made = wait::retry(ctx.waits.api_quota, step, || async {
        let sent = gw
            .create_deployment()
            .rest_api_id(api_id)
            .description(format!("{HASH_PREFIX}{}", d.deployment_hash))
            // Not retried by the SDK: its backoff knows nothing of a 5 s quota.
            .customize()
            .config_override(crate::single_attempt!(aws_sdk_apigateway))
            .send()
            .await;
        match sent {
            Ok(made) => Attempt::Done(made),
            Err(e) => match e.as_service_error() {
                Some(CreateDeploymentError::TooManyRequestsException(t)) => {
                    let wait = aws::retry_after(t.retry_after_seconds(), Duration::from_secs(5));
                    let why = format!(
                        "API Gateway allows one CreateDeployment every 5 s per account: \
                         waiting {} s",
                        wait.as_secs()
                    );
                    Attempt::After(e, why, wait)
                }
                _ if aws::ambiguous(&e) => {
                    Attempt::Again(e, format!("deploying API {api_id} failed"))
                }
                _ => Attempt::Failed(e),
            },
        }
    })
    .await
    .doing(|| format!("creating a deployment of API {api_id}"))?;
    made.id
        .ok_or_else(|| anyhow::anyhow!("CreateDeployment returned no id"))
}

async fn create(
    ctx: Ctx<'_>,
    d: &Desired,
    api_id: &str,
    deployment_id: &str,
    step: &Step,
) -> anyhow::Result<()> {
    let gw = &ctx.clients.apigateway;
    let what = format!("creating stage {} of API {api_id}", d.name);
    let send = || async {
        gw.create_stage()
            .rest_api_id(api_id)
            .stage_name(&d.name)
            .deployment_id(deployment_id)
            .set_tags(Some(d.tags.clone().into_iter().collect()))
            .customize()
            .config_override(crate::single_attempt!(aws_sdk_apigateway))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| CreateError::of(&what, e))
    };
    let look = || async { Ok(read(ctx.clients, api_id, &d.name).await?.map(|_| ())) };
    wait::create_once(&what, ctx.waits.create, step, send, look).await
}

async fn point_at(ctx: Ctx<'_>, d: &Desired, api_id: &str, deployment: &str) -> anyhow::Result<()> {
    ctx.clients
        .apigateway
        .update_stage()
        .rest_api_id(api_id)
        .stage_name(&d.name)
        .patch_operations(replace("/deploymentId", deployment))
        .send()
        .await
        .doing(|| format!("pointing stage {} at deployment {deployment}", d.name))?;
    Ok(())
}

async fn set_throttle(ctx: Ctx<'_>, d: &Desired, api_id: &str) -> anyhow::Result<()> {
    ctx.clients
        .apigateway
        .update_stage()
        .rest_api_id(api_id)
        .stage_name(&d.name)
        .patch_operations(replace(
            "/*/*/throttling/rateLimit",
            &d.throttle_rate.to_string(),
        ))
        .patch_operations(replace(
            "/*/*/throttling/burstLimit",
            &d.throttle_burst.to_string(),
        ))
        .send()
        .await
        .doing(|| format!("setting the throttling of stage {}", d.name))?;
    Ok(())
}

async fn tag(ctx: Ctx<'_>, d: &Desired, api_id: &str, update: &Update<Tags>) -> anyhow::Result<()> {
    tags::apply(update, |missing| async move {
        ctx.clients
            .apigateway
            .tag_resource()
            .resource_arn(ctx.arns.stage(api_id))
            .set_tags(Some(missing.into_iter().collect()))
            .send()
            .await
            .doing(|| format!("tagging stage {}", d.name))?;
        Ok(())
    })
    .await
}

fn replace(path: &str, value: &str) -> PatchOperation {
    PatchOperation::builder()
        .op(Op::Replace)
        .path(path)
        .value(value)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> Desired {
        Desired {
            name: "prod".into(),
            deployment_hash: "h1".into(),
            throttle_rate: 10.0,
            throttle_burst: 20,
            tags: Tags::new(),
        }
    }

    #[test]
    fn a_missing_stage_is_created_and_drift_is_one_change_per_field() {
        assert!(matches!(
            Stage::plan(&desired(), None, Needs::NONE)[..],
            [StageChange::Create { .. }]
        ));
        let live = Observed {
            deployment_id: "d1".into(),
            deployment_hash: Some("h1".into()),
            throttle_rate: Some(10.0),
            throttle_burst: Some(20),
            tags: Tags::new(),
        };
        assert!(Stage::plan(&desired(), Some(&live), Needs::NONE).is_empty());
        let drifted = Observed {
            deployment_hash: Some("h0".into()),
            throttle_rate: Some(1000.0),
            throttle_burst: None,
            ..live
        };
        let fields: Vec<_> = crate::plan::describe_all(
            "prod",
            &Stage::plan(&desired(), Some(&drifted), Needs::NONE),
        )
        .into_iter()
        .map(|c| c.field.unwrap_or_default())
        .collect();
        assert_eq!(fields, [DEPLOYMENT, THROTTLE_RATE, THROTTLE_BURST]);
    }
}
