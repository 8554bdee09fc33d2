//! Putting an API's routes: each route's resources (a parent before its children, within
//! CreateResource's quota), its method (a create, made once even when its answer is lost) and
//! its Lambda proxy integration.

use std::time::Duration;

use aws_sdk_apigateway::types::IntegrationType;

use super::{Method, Resources};
use crate::aws::{self, AwsContext, Found};
use crate::progress::Step;
use crate::resources::Ctx;
use crate::stack::Route;
use crate::wait::{self, CreateError};

/// A route to put: its API, what it must be, and what it is.
pub struct RoutePut<'a> {
    pub api: &'a str,
    pub route: &'a Route,
    pub want: &'a Method,
    pub live: Option<&'a Method>,
}

/// Puts `routes`, side by side: first every missing resource, level by level (a parent before
/// its children), then each route's method and integration, all routes at once. API Gateway
/// allows 5 CreateResource a second per account, so at most 5 are sent a second; PutMethod and
/// PutIntegration only count toward the account's 10 requests a second (burst 40), and a stack
/// has a handful of routes (its function's contract names three).
pub async fn put_routes(
    ctx: Ctx<'_>,
    known: &mut Resources,
    routes: &[RoutePut<'_>],
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

/// Makes the route what it should be: its method open, its integration a Lambda proxy to the
/// function. PutMethod is refused on a method that exists (ConflictException), so a method whose
/// own settings drifted (an authorization type, an API key) is deleted first; an integration
/// alone is overwritten by PutIntegration. Neither touches live traffic: the stage serves a
/// deployment, a snapshot, until the next one.
async fn put_route(
    ctx: Ctx<'_>,
    r: &RoutePut<'_>,
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

pub async fn remove_route(
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
        let (resources, _) = super::read::read_routes(ctx.clients, api).await?;
        Ok(resources.get(path).cloned())
    };
    wait::create_once(&what, ctx.waits.create, step, send, look).await
}
