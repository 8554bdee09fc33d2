//! Carrying out the API's typed changes: creating it (once, even when an answer is lost),
//! putting routes and gateway responses, removing routes and duplicates, at API Gateway's pace.

use std::time::Duration;

use aws_sdk_apigateway::operation::create_rest_api::CreateRestApiError;
use aws_sdk_apigateway::operation::delete_rest_api::DeleteRestApiError;
use aws_sdk_apigateway::types::{EndpointConfiguration, EndpointType, GatewayResponseType};

use super::routes::{put_routes, remove_route, RoutePut};
use super::{tagged, ApiChange, Desired, Params, Resources};
use crate::aws::{self, AwsContext, Found};
use crate::progress::{Progress, Step};
use crate::resources::{stage, tags, Ctx};
use crate::wait::{self, Attempt, Bound, CreateError};

/// Carries out `changes` on the API: every change but its creation, which is [`create`]'s
/// (the stage and the permission need the id it gives). Duplicates go first, one at a time
/// (DeleteRestApi's quota); the rest runs side by side where API Gateway allows it (see
/// [`put_routes`]).
pub async fn apply(ctx: Ctx<'_>, d: &Desired, changes: &[ApiChange]) -> anyhow::Result<()> {
    let changes: Vec<&ApiChange> = changes
        .iter()
        .filter(|c| !matches!(c, ApiChange::Create { .. }))
        .collect();
    if changes.is_empty() {
        return Ok(());
    }
    let step = ctx.step(false, "API", &d.name);
    for change in &changes {
        if let ApiChange::Duplicate { id, .. } = change {
            step.waiting(&format!("deleting duplicate API {id}"));
            delete_api(ctx, id, &step).await?;
        }
    }
    let mut routes = Vec::new();
    let mut known = Resources::new();
    let mut rest = Vec::new();
    for change in changes {
        match change {
            ApiChange::Route {
                api,
                route,
                update,
                path_ids,
            } => {
                known.extend(path_ids.clone());
                if let Some(want) = &update.want {
                    let live = update.live.as_ref();
                    routes.push(RoutePut {
                        api,
                        route,
                        want,
                        live,
                    });
                }
            }
            ApiChange::Create { .. } | ApiChange::Duplicate { .. } => {}
            other => rest.push(other),
        }
    }
    put_routes(ctx, &mut known, &routes, &step).await?;
    futures_util::future::try_join_all(rest.into_iter().map(|c| other_change(ctx, c))).await?;
    step.done("");
    Ok(())
}

/// A route removal, a gateway response or the tags: each independent of the others.
async fn other_change(ctx: Ctx<'_>, change: &ApiChange) -> anyhow::Result<()> {
    match change {
        ApiChange::Remove {
            api,
            route,
            resource,
            ..
        } => remove_route(ctx, api, route, resource).await,
        ApiChange::GatewayResponse { api, kind, update } => {
            put_gateway_response(ctx, api, kind, &update.want).await
        }
        ApiChange::Tags { api, update } => tag(ctx, api, update).await,
        _ => Ok(()),
    }
}

/// A new API with every route and gateway response of the stack; its id. Afterwards,
/// GetRestApis must list it (so that the next `diff` finds it), and APIs left by an interrupted
/// run are removed.
pub async fn create(ctx: Ctx<'_>, d: &Desired) -> anyhow::Result<String> {
    let step = ctx.step(true, "API", &d.name);
    let id = create_configured(ctx, d, &step).await?;
    step.done(&format!("[{id}]"));
    Ok(id)
}

async fn create_configured(ctx: Ctx<'_>, d: &Desired, step: &Step) -> anyhow::Result<String> {
    let (id, root) = create_api(ctx, d, step).await?;
    let mut known = Resources::from([("/".to_string(), root)]);
    let routes: Vec<RoutePut> = d
        .routes
        .iter()
        .map(|(route, want)| RoutePut {
            api: &id,
            route,
            want,
            live: None,
        })
        .collect();
    let responses = d
        .gateway_responses
        .iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(kind, params)| put_gateway_response(ctx, &id, kind, params));
    let (routes, responses) = tokio::join!(
        put_routes(ctx, &mut known, &routes, step),
        futures_util::future::try_join_all(responses)
    );
    routes?;
    responses?;
    let listed = wait_listed(ctx, d, &id, step).await?;
    remove_orphans(ctx, d, &id, listed, step).await?;
    Ok(id)
}

/// CreateRestApi is not idempotent: had the SDK retried it after a lost answer, the stack would
/// have two APIs. So it is sent without the SDK's retries, and after an ambiguous failure the
/// API is looked for by its tags (for a while: GetRestApis lags a create) before another try.
/// Returns the API's id and its root resource's.
async fn create_api(ctx: Ctx<'_>, d: &Desired, step: &Step) -> anyhow::Result<(String, String)> {
    let gw = &ctx.clients.apigateway;
    let what = format!("creating REST API {}", d.name);
    let send = || async {
        let sent = gw
            .create_rest_api()
            .name(&d.name)
            .description(&d.description)
            .endpoint_configuration(
                EndpointConfiguration::builder()
                    .types(EndpointType::Regional)
                    .build(),
            )
            .set_tags(Some(d.tags.clone().into_iter().collect()))
            .customize()
            .config_override(crate::single_attempt!(aws_sdk_apigateway))
            .send()
            .await;
        match sent {
            Ok(made) => match (made.id, made.root_resource_id) {
                (Some(id), Some(root)) => Ok((id, root)),
                _ => Err(CreateError::Refused(anyhow::anyhow!(
                    "CreateRestApi returned no id or no root resource"
                ))),
            },
            // One CreateRestApi every 3 s per account: refused, not applied.
            Err(e) => Err(match e.as_service_error() {
                Some(CreateRestApiError::TooManyRequestsException(t)) => {
                    let wait = aws::retry_after(t.retry_after_seconds(), Duration::from_secs(3));
                    CreateError::Later(anyhow::anyhow!("{what}: {}", aws::describe(&e)), wait)
                }
                _ => CreateError::of(&what, e),
            }),
        }
    };
    let look = || async { find_created(ctx, d).await };
    wait::create_once(&what, ctx.waits.create, step, send, look).await
}

/// The stack's API and its root resource, looked for by its tags after a create whose answer
/// was lost. GetRestApis lags a create, so one empty listing proves little: it is read again
/// for a while.
async fn find_created(ctx: Ctx<'_>, d: &Desired) -> anyhow::Result<Option<(String, String)>> {
    let quick = Bound {
        timeout: ctx.waits.visible.timeout / 6,
        ..ctx.waits.visible
    };
    let silent = Progress::silent();
    let step = silent.step("looking for the API");
    let found = wait::until("the API to be listed", quick, &step, || async {
        let apis = tagged(ctx.clients, &d.tags).await?;
        Ok(apis.first().map(|a| a.id.clone()))
    })
    .await;
    let Ok(id) = found else {
        return Ok(None);
    };
    let (resources, _) = super::read::read_routes(ctx.clients, &id).await?;
    Ok(resources.get("/").map(|root| (id, root.clone())))
}

/// Waits until GetRestApis lists the new API, so that the next `diff` finds it; returns that
/// listing of the stack's APIs.
async fn wait_listed(
    ctx: Ctx<'_>,
    d: &Desired,
    id: &str,
    step: &Step,
) -> anyhow::Result<Vec<super::LiveApi>> {
    let what = format!("API {id} to be listed by GetRestApis");
    wait::until(&what, ctx.waits.visible, step, || async {
        let apis = tagged(ctx.clients, &d.tags).await?;
        Ok(apis.iter().any(|a| a.id == id).then_some(apis))
    })
    .await
}

/// Deletes the APIs of this stack that GetRestApis did not list yet when this run looked, now
/// that it lists them: an interrupted run made them moments ago (it was killed right after
/// CreateRestApi), and they serve nothing. An API that serves the stage is not an orphan: then
/// the new one is the duplicate, and the next run, which sees both, removes it.
async fn remove_orphans(
    ctx: Ctx<'_>,
    d: &Desired,
    id: &str,
    listed: Vec<super::LiveApi>,
    step: &Step,
) -> anyhow::Result<()> {
    for other in listed.into_iter().filter(|a| a.id != id) {
        if stage::read(ctx.clients, &other.id, &d.stage)
            .await?
            .is_some()
        {
            anyhow::bail!(
                "API {} of this stack serves stage {}, but GetRestApis listed it only after this \
                 run had created API {id}. Run `deployer up` again: it keeps {} and deletes {id}",
                other.id,
                d.stage,
                other.id
            );
        }
        step.waiting(&format!(
            "deleting API {}, left unfinished by an interrupted run",
            other.id
        ));
        delete_api(ctx, &other.id, step).await?;
    }
    Ok(())
}

/// Puts the CORS headers on one of API Gateway's own responses, or resets it to AWS's
/// default when the stack has no CORS origins.
async fn put_gateway_response(
    ctx: Ctx<'_>,
    api: &str,
    kind: &str,
    params: &Params,
) -> anyhow::Result<()> {
    let gw = &ctx.clients.apigateway;
    let kind_type = GatewayResponseType::from(kind);
    if params.is_empty() {
        gw.delete_gateway_response()
            .rest_api_id(api)
            .response_type(kind_type)
            .send()
            .await
            .found(|| format!("resetting gateway response {kind} of API {api}"))?;
    } else {
        gw.put_gateway_response()
            .rest_api_id(api)
            .response_type(kind_type)
            .set_response_parameters(Some(params.clone().into_iter().collect()))
            .send()
            .await
            .doing(|| format!("putting CORS headers on gateway response {kind} of API {api}"))?;
    }
    Ok(())
}

async fn tag(
    ctx: Ctx<'_>,
    api: &str,
    update: &crate::plan::Update<tags::Tags>,
) -> anyhow::Result<()> {
    tags::apply(update, |missing| async move {
        ctx.clients
            .apigateway
            .tag_resource()
            .resource_arn(ctx.arns.api(api))
            .set_tags(Some(missing.into_iter().collect()))
            .send()
            .await
            .doing(|| format!("tagging API {api}"))?;
        Ok(())
    })
    .await
}

/// Deletes one REST API by id; `false` when it was already gone. API Gateway allows one
/// DeleteRestApi every 30 s per account: a 429 is waited out for as long as its `Retry-After`
/// says, within [`crate::wait::Waits::api_quota`], and the wait is shown.
pub async fn delete_api(ctx: Ctx<'_>, id: &str, step: &Step) -> anyhow::Result<bool> {
    let gw = &ctx.clients.apigateway;
    wait::retry(ctx.waits.api_quota, step, || async {
        let sent = gw
            .delete_rest_api()
            .rest_api_id(id)
            // Not retried by the SDK: its backoff knows nothing of a 30 s quota.
            .customize()
            .config_override(crate::single_attempt!(aws_sdk_apigateway))
            .send()
            .await;
        match sent {
            Ok(_) => Attempt::Done(true),
            Err(e) if aws::is_not_found(&e) => Attempt::Done(false),
            Err(e) => match e.as_service_error() {
                Some(DeleteRestApiError::TooManyRequestsException(t)) => {
                    let wait = aws::retry_after(t.retry_after_seconds(), Duration::from_secs(30));
                    let why = format!(
                        "API Gateway allows one DeleteRestApi every 30 s per account: \
                         waiting {} s before deleting API {id}",
                        wait.as_secs()
                    );
                    Attempt::After(e, why, wait)
                }
                _ if aws::ambiguous(&e) => Attempt::Again(e, format!("deleting API {id} failed")),
                _ => Attempt::Failed(e),
            },
        }
    })
    .await
    .doing(|| format!("deleting REST API {id}"))
}
