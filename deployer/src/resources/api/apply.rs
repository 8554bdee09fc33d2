//! Carrying out the API's typed changes: creating it (once, even when an answer is lost),
//! putting routes and gateway responses, removing routes and duplicates, at API Gateway's pace.

use std::time::Duration;

use aws_sdk_apigateway::operation::create_rest_api::CreateRestApiError;
use aws_sdk_apigateway::operation::delete_rest_api::DeleteRestApiError;
use aws_sdk_apigateway::types::{
    EndpointConfiguration, EndpointType, GatewayResponseType, IntegrationType,
};

use super::{tagged, ApiChange, Desired, Method, Params, Resources};
use crate::aws::{self, AwsContext, Found};
use crate::progress::{Progress, Step};
use crate::resources::{stage, tags, Ctx};
use crate::stack::Route;
use crate::wait::{self, Attempt, Bound, CreateError};

/// Carries out `changes`; returns the id of the API it created, if it created one. Duplicates
/// go first, one at a time (DeleteRestApi's quota); the rest runs side by side where API
/// Gateway allows it (see [`put_routes`]).
pub async fn apply(
    ctx: Ctx<'_>,
    d: &Desired,
    changes: &[ApiChange],
) -> anyhow::Result<Option<String>> {
    if changes.is_empty() {
        return Ok(None);
    }
    let step = ctx.progress.step(format!("reconciling API {}", d.name));
    for change in changes {
        if let ApiChange::Duplicate { id, .. } = change {
            step.waiting(&format!("deleting duplicate API {id}"));
            delete_api(ctx, id, &step).await?;
        }
    }
    let created = if changes
        .iter()
        .any(|c| matches!(c, ApiChange::Create { .. }))
    {
        Some(create(ctx, d, &step).await?)
    } else {
        None
    };
    let mut routes = Vec::new();
    let mut known = Resources::new();
    let mut rest = Vec::new();
    for change in changes {
        match change {
            ApiChange::Route {
                api,
                route,
                update,
                resources,
            } => {
                known.extend(resources.clone());
                if let Some(want) = &update.want {
                    let live = update.live.as_ref();
                    routes.push(Planned {
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
    let shown = created.as_deref().map(|id| format!("[{id}] "));
    step.done(&shown.unwrap_or_default());
    Ok(created)
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

/// A route to put: its API, what it must be, and what it is.
struct Planned<'a> {
    api: &'a str,
    route: &'a Route,
    want: &'a Method,
    live: Option<&'a Method>,
}

/// A new API with every route and gateway response of the stack. Afterwards, GetRestApis must
/// list it (so that the next `diff` finds it), and APIs left by an interrupted run are removed.
async fn create(ctx: Ctx<'_>, d: &Desired, step: &Step) -> anyhow::Result<String> {
    let (id, root) = create_api(ctx, d, step).await?;
    let mut known = Resources::from([("/".to_string(), root)]);
    let routes: Vec<Planned> = d
        .routes
        .iter()
        .map(|(route, want)| Planned {
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

/// Puts `routes`, side by side: first every missing resource, level by level (a parent before
/// its children), then each route's method and integration, all routes at once. API Gateway
/// allows 5 CreateResource a second per account, so at most 5 are sent a second; PutMethod and
/// PutIntegration only count toward the account's 10 requests a second (burst 40), and a stack
/// has a handful of routes (its function's contract names three).
async fn put_routes(
    ctx: Ctx<'_>,
    known: &mut Resources,
    routes: &[Planned<'_>],
    step: &Step,
) -> anyhow::Result<()> {
    let Some(api) = routes.first().map(|r| r.api) else {
        return Ok(());
    };
    let paths: Vec<&str> = routes.iter().map(|r| r.route.path.as_str()).collect();
    ensure_paths(ctx, api, known, &paths, step).await?;
    let known = &*known;
    let each = routes.iter().map(|r| async move {
        let resource = known
            .get(&r.route.path)
            .ok_or_else(|| anyhow::anyhow!("API {api} has no resource {}", r.route.path))?;
        put_route(ctx, r, resource, step).await
    });
    futures_util::future::try_join_all(each).await?;
    Ok(())
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
                    let wait = retry_after(t.retry_after_seconds(), Duration::from_secs(3));
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
        interval: ctx.waits.visible.interval,
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
    let (resources, _) = super::read_routes(ctx.clients, &id).await?;
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

/// Makes the route what it should be: its method open, its integration a Lambda proxy to the
/// function. PutMethod is refused on a method that exists (ConflictException), so a method whose
/// own settings drifted (an authorization type, an API key) is deleted first; an integration
/// alone is overwritten by PutIntegration. Neither touches live traffic: the stage serves a
/// deployment, a snapshot, until the next one.
async fn put_route(
    ctx: Ctx<'_>,
    r: &Planned<'_>,
    resource: &str,
    step: &Step,
) -> anyhow::Result<()> {
    let (api, route, want) = (r.api, r.route, r.want);
    if let Some(existing) = r.live.filter(|m| want.method_differs(m)) {
        step.waiting(&format!(
            "replacing method {route} (authorization {})",
            existing.authorization_type
        ));
        remove_route(ctx, api, route, resource).await?;
    }
    if r.live.is_none_or(|m| want.method_differs(m)) {
        put_method(ctx, api, resource, route, want, step).await?;
    }
    ctx.clients
        .apigateway
        .put_integration()
        .rest_api_id(api)
        .resource_id(resource)
        .http_method(&route.method)
        .r#type(IntegrationType::AwsProxy)
        .integration_http_method(want.integration_http_method.as_deref().unwrap_or("POST"))
        .set_uri(want.uri.clone())
        .send()
        .await
        .doing(|| format!("integrating {route} of API {api} with the function"))?;
    Ok(())
}

async fn remove_route(
    ctx: Ctx<'_>,
    api: &str,
    route: &Route,
    resource: &str,
) -> anyhow::Result<()> {
    ctx.clients
        .apigateway
        .delete_method()
        .rest_api_id(api)
        .resource_id(resource)
        .http_method(&route.method)
        .send()
        .await
        .found(|| format!("removing route {route} from API {api}"))?;
    Ok(())
}

/// PutMethod creates: on a method that exists, API Gateway answers ConflictException. So a
/// retry after a lost answer would fail although the first attempt worked; like every create,
/// it is sent without the SDK's retries, and after an ambiguous failure (or a conflict) the
/// method is read back: one with the wanted settings is done.
async fn put_method(
    ctx: Ctx<'_>,
    api: &str,
    resource: &str,
    route: &Route,
    want: &Method,
    step: &Step,
) -> anyhow::Result<()> {
    let gw = &ctx.clients.apigateway;
    let what = format!("adding method {route} to API {api}");
    let send = || async {
        let sent = gw
            .put_method()
            .rest_api_id(api)
            .resource_id(resource)
            .http_method(&route.method)
            .authorization_type(&want.authorization_type)
            .api_key_required(want.api_key_required)
            .customize()
            .config_override(crate::single_attempt!(aws_sdk_apigateway))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conflict_exception()) =>
            {
                Err(CreateError::Ambiguous(anyhow::anyhow!(
                    "{what}: {}",
                    aws::describe(&e)
                )))
            }
            Err(e) => Err(CreateError::of(&what, e)),
        }
    };
    let look = || async {
        let found = gw
            .get_method()
            .rest_api_id(api)
            .resource_id(resource)
            .http_method(&route.method)
            .send()
            .await;
        Ok(found.ok().and_then(|m| {
            let same = m.authorization_type() == Some(want.authorization_type.as_str())
                && m.api_key_required().unwrap_or(false) == want.api_key_required;
            same.then_some(())
        }))
    };
    wait::create_once(&what, ctx.waits.create, step, send, look).await
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

/// Creates every missing resource of `paths` (and their parents), level by level: the
/// resources of one level side by side, at most 5 a second (CreateResource's quota).
async fn ensure_paths(
    ctx: Ctx<'_>,
    api: &str,
    known: &mut Resources,
    paths: &[&str],
    step: &Step,
) -> anyhow::Result<()> {
    let mut missing: Vec<String> = paths
        .iter()
        .flat_map(|p| prefixes(p))
        .filter(|p| !known.contains_key(p))
        .collect();
    missing.sort_by_key(|p| (p.matches('/').count(), p.clone()));
    missing.dedup();
    let depth = missing.iter().map(|p| p.matches('/').count()).max();
    for level in 1..=depth.unwrap_or(0) {
        let at: Vec<&String> = missing
            .iter()
            .filter(|p| p.matches('/').count() == level)
            .collect();
        for (i, chunk) in at.chunks(5).enumerate() {
            if i > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let made = chunk
                .iter()
                .map(|path| create_under(ctx, api, known, path, step));
            known.extend(futures_util::future::try_join_all(made).await?);
        }
    }
    Ok(())
}

/// Creates the resource `path`, whose parent is known; returns the path and its id.
async fn create_under(
    ctx: Ctx<'_>,
    api: &str,
    known: &Resources,
    path: &str,
    step: &Step,
) -> anyhow::Result<(String, String)> {
    let (parent, part) = path.rsplit_once('/').unwrap_or(("", path));
    let parent = known
        .get(if parent.is_empty() { "/" } else { parent })
        .ok_or_else(|| anyhow::anyhow!("API {api} has no parent of {path}"))?;
    let id = create_resource(ctx, api, parent, part, path, step).await?;
    Ok((path.to_string(), id))
}

/// `/a/b` → `/a`, `/a/b`.
fn prefixes(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for part in path.trim_start_matches('/').split('/') {
        current = format!("{current}/{part}");
        out.push(current.clone());
    }
    out
}

async fn create_resource(
    ctx: Ctx<'_>,
    api: &str,
    parent: &str,
    part: &str,
    path: &str,
    step: &Step,
) -> anyhow::Result<String> {
    let what = format!("creating resource {path} in API {api}");
    let send = || async {
        let created = ctx
            .clients
            .apigateway
            .create_resource()
            .rest_api_id(api)
            .parent_id(parent)
            .path_part(part)
            .customize()
            .config_override(crate::single_attempt!(aws_sdk_apigateway))
            .send()
            .await
            .map_err(|e| CreateError::of(&what, e))?;
        created
            .id
            .ok_or_else(|| CreateError::Refused(anyhow::anyhow!("CreateResource returned no id")))
    };
    let look = || async {
        let (resources, _) = super::read_routes(ctx.clients, api).await?;
        Ok(resources.get(path).cloned())
    };
    wait::create_once(&what, ctx.waits.create, step, send, look).await
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
            .resource_arn(ctx.names.api_arn(api))
            .set_tags(Some(missing.into_iter().collect()))
            .send()
            .await
            .doing(|| format!("tagging API {api}"))?;
        Ok(())
    })
    .await
}

/// How long API Gateway asked to wait (`Retry-After`), or the quota's own period.
pub fn retry_after(seconds: Option<&str>, quota: Duration) -> Duration {
    seconds
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(quota)
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
                    let wait = retry_after(t.retry_after_seconds(), Duration::from_secs(30));
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
