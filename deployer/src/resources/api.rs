//! The API Gateway REST API: its routes (each a Lambda proxy integration to the function), and
//! the stage that serves a deployment of them, with stage-wide throttling.
//!
//! REST APIs are not unique by name, so the stack's API is the one tagged with its stack and
//! stage; a second one with the same tags is a duplicate and `up` deletes it (the oldest stays).
//! A deployment records a hash of the routes in its description, so the live stage is compared
//! without a state file, and a new deployment is made only when the routes changed.

use std::collections::BTreeMap;

use aws_sdk_apigateway::types::{
    EndpointConfiguration, EndpointType, IntegrationType, Op, PatchOperation,
};
use serde_json::json;

use super::{missing_tags, plan_tags, Ctx, TAGS};
use crate::aws::{AwsContext, Clients};
use crate::names::{self, Names, STACK_TAG, STAGE_TAG};
use crate::plan::{compare, Action, Change, Kind};
use crate::progress::Step;
use crate::stack::Stack;
use crate::wait::{self, CreateError};

/// Route changes are one per route: `routes.GET /counter`.
pub const ROUTES: &str = "routes";
pub const DEPLOYMENT: &str = "deployment";
pub const THROTTLE_RATE: &str = "throttle.rate";
pub const THROTTLE_BURST: &str = "throttle.burst";

/// How a deployment's description carries its routes hash.
const HASH_PREFIX: &str = "deployer routes=";
/// Stage-wide method settings live under this key.
const ALL_METHODS: &str = "*/*";

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub name: String,
    pub stage: String,
    /// `"GET /counter"` → the integration URI it invokes.
    pub routes: BTreeMap<String, String>,
    pub routes_hash: String,
    pub throttle_rate: f64,
    pub throttle_burst: i32,
    pub tags: BTreeMap<String, String>,
}

impl Desired {
    pub fn of(stack: &Stack, names: &Names) -> Desired {
        let routes = stack.api.served_routes();
        let uri = names.integration_uri();
        Desired {
            name: names.api.clone(),
            stage: names.stage.clone(),
            routes_hash: names::routes_hash(&routes, &uri),
            routes: routes
                .iter()
                .map(|r| (r.to_string(), uri.clone()))
                .collect(),
            throttle_rate: stack.api.throttle.rate,
            throttle_burst: i32::try_from(stack.api.throttle.burst).unwrap_or(i32::MAX),
            tags: names.tags.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LiveStage {
    pub deployment_id: String,
    pub routes_hash: Option<String>,
    pub throttle_rate: Option<f64>,
    pub throttle_burst: Option<i32>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LiveApi {
    pub id: String,
    /// Creation time, in nanoseconds since the epoch (AWS reports whole seconds).
    pub created: i128,
    pub tags: BTreeMap<String, String>,
    /// Path → resource id.
    pub resources: BTreeMap<String, String>,
    /// `"GET /counter"` → its integration URI, if it has one.
    pub routes: BTreeMap<String, Option<String>>,
    pub stage: Option<LiveStage>,
}

impl LiveApi {
    /// An API known only by its id, to be observed.
    fn bare(id: &str) -> LiveApi {
        LiveApi {
            id: id.to_string(),
            created: 0,
            tags: BTreeMap::new(),
            resources: BTreeMap::new(),
            routes: BTreeMap::new(),
            stage: None,
        }
    }
}

/// Every API tagged with this stack and stage, oldest first. The first is the stack's; any
/// other is a duplicate, observed only as far as deleting it needs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    pub apis: Vec<LiveApi>,
}

impl Observed {
    pub fn ours(&self) -> Option<&LiveApi> {
        self.apis.first()
    }
}

pub async fn observe(clients: &Clients, names: &Names) -> anyhow::Result<Observed> {
    let gw = &clients.apigateway;
    let mut apis = Vec::new();
    let mut position = None;
    loop {
        let page = gw
            .get_rest_apis()
            .limit(500)
            .set_position(position)
            .send()
            .await
            .doing(|| "listing REST APIs".to_string())?;
        for api in page.items() {
            let tags = api.tags().cloned().unwrap_or_default();
            let ours = tags.get(STACK_TAG) == Some(&names.stack)
                && tags.get(STAGE_TAG) == Some(&names.stage);
            if let (true, Some(id)) = (ours, api.id()) {
                apis.push(LiveApi {
                    id: id.to_string(),
                    created: api.created_date().map(|d| d.as_nanos()).unwrap_or_default(),
                    tags: tags.into_iter().collect(),
                    resources: BTreeMap::new(),
                    routes: BTreeMap::new(),
                    stage: None,
                });
            }
        }
        let last = page.items().is_empty();
        position = page.position;
        if position.is_none() || last {
            break;
        }
    }
    if apis.len() > 1 {
        // Which one is the stack's? The one serving the stage, so that removing a duplicate never
        // takes the live API down; then the oldest (creation times tie within a second).
        for api in &mut apis {
            api.stage = observe_stage(clients, &api.id, &names.stage).await?;
        }
    }
    apis.sort_by(|a, b| {
        (a.stage.is_none(), a.created, &a.id).cmp(&(b.stage.is_none(), b.created, &b.id))
    });
    if let Some(ours) = apis.first_mut() {
        observe_routes(clients, ours).await?;
        if ours.stage.is_none() {
            ours.stage = observe_stage(clients, &ours.id, &names.stage).await?;
        }
    }
    Ok(Observed { apis })
}

async fn observe_routes(clients: &Clients, api: &mut LiveApi) -> anyhow::Result<()> {
    let mut position = None;
    loop {
        let page = clients
            .apigateway
            .get_resources()
            .rest_api_id(&api.id)
            .embed("methods")
            .limit(500)
            .set_position(position)
            .send()
            .await
            .doing(|| format!("reading the routes of API {}", api.id))?;
        for resource in page.items() {
            let (Some(path), Some(id)) = (resource.path(), resource.id()) else {
                continue;
            };
            api.resources.insert(path.to_string(), id.to_string());
            for (method, m) in resource.resource_methods().into_iter().flatten() {
                let uri = m
                    .method_integration()
                    .and_then(|i| i.uri())
                    .map(str::to_string);
                api.routes.insert(format!("{method} {path}"), uri);
            }
        }
        let last = page.items().is_empty();
        position = page.position;
        if position.is_none() || last {
            break;
        }
    }
    Ok(())
}

async fn observe_stage(
    clients: &Clients,
    api_id: &str,
    stage: &str,
) -> anyhow::Result<Option<LiveStage>> {
    let gw = &clients.apigateway;
    let live = match gw
        .get_stage()
        .rest_api_id(api_id)
        .stage_name(stage)
        .send()
        .await
    {
        Ok(s) => s,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_not_found_exception()) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e).doing(|| format!("reading stage {stage} of API {api_id}")),
    };
    let deployment_id = live.deployment_id().unwrap_or_default().to_string();
    let routes_hash = if deployment_id.is_empty() {
        None
    } else {
        match gw
            .get_deployment()
            .rest_api_id(api_id)
            .deployment_id(&deployment_id)
            .send()
            .await
        {
            Ok(d) => d
                .description()
                .and_then(|text| text.strip_prefix(HASH_PREFIX))
                .map(str::to_string),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_not_found_exception()) =>
            {
                None
            }
            Err(e) => {
                return Err(e)
                    .doing(|| format!("reading deployment {deployment_id} of API {api_id}"))
            }
        }
    };
    let all = live.method_settings().and_then(|m| m.get(ALL_METHODS));
    Ok(Some(LiveStage {
        deployment_id,
        routes_hash,
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

pub fn plan(d: &Desired, o: &Observed) -> Vec<Change> {
    let mut changes = Vec::new();
    for dup in o.apis.iter().skip(1) {
        changes.push(Change::delete(
            Kind::Api,
            &dup.id,
            None,
            json!(format!(
                "a second API tagged {STACK_TAG}={}, {STAGE_TAG}={}",
                d.tags.get(STACK_TAG).map(String::as_str).unwrap_or(""),
                d.stage
            )),
        ));
    }
    let Some(api) = o.ours() else {
        changes.push(Change::create(
            Kind::Api,
            &d.name,
            json!({ROUTES: d.routes.keys().collect::<Vec<_>>()}),
        ));
        changes.push(stage_create(d));
        return changes;
    };
    for (route, uri) in &d.routes {
        let field = format!("{ROUTES}.{route}");
        let live = api.routes.get(route).cloned().flatten();
        if live.as_ref() != Some(uri) {
            changes.push(Change::update(
                Kind::Api,
                &d.name,
                &field,
                json!(uri),
                json!(live),
            ));
        }
    }
    for (route, uri) in api
        .routes
        .iter()
        .filter(|(r, _)| !d.routes.contains_key(*r))
    {
        let field = format!("{ROUTES}.{route}");
        changes.push(Change::delete(Kind::Api, &d.name, Some(&field), json!(uri)));
    }
    plan_tags(&mut changes, Kind::Api, &d.name, &d.tags, &api.tags);

    let Some(stage) = &api.stage else {
        changes.push(stage_create(d));
        return changes;
    };
    compare(
        &mut changes,
        Kind::Stage,
        &d.stage,
        DEPLOYMENT,
        &Some(d.routes_hash.clone()),
        &stage.routes_hash,
    );
    compare(
        &mut changes,
        Kind::Stage,
        &d.stage,
        THROTTLE_RATE,
        &Some(d.throttle_rate),
        &stage.throttle_rate,
    );
    compare(
        &mut changes,
        Kind::Stage,
        &d.stage,
        THROTTLE_BURST,
        &Some(d.throttle_burst),
        &stage.throttle_burst,
    );
    plan_tags(&mut changes, Kind::Stage, &d.stage, &d.tags, &stage.tags);
    changes
}

fn stage_create(d: &Desired) -> Change {
    Change::create(
        Kind::Stage,
        &d.stage,
        json!({DEPLOYMENT: d.routes_hash, THROTTLE_RATE: d.throttle_rate, THROTTLE_BURST: d.throttle_burst}),
    )
}

/// Applies the API's changes and returns its id (new or existing).
pub async fn apply(
    ctx: Ctx<'_>,
    d: &Desired,
    o: &Observed,
    changes: &[Change],
) -> anyhow::Result<String> {
    let gw = &ctx.clients.apigateway;
    let mine: Vec<&Change> = changes.iter().filter(|c| c.resource == Kind::Api).collect();
    if mine.is_empty() {
        return o
            .ours()
            .map(|a| a.id.clone())
            .ok_or_else(|| anyhow::anyhow!("no API to deploy to"));
    }
    let step = ctx.progress.step(format!("reconciling API {}", d.name));
    for dup in mine
        .iter()
        .filter(|c| c.action == Action::Delete && c.field.is_none())
    {
        step.waiting(&format!("deleting duplicate API {}", dup.name));
        delete_api(ctx, &dup.name).await?;
    }
    let (id, mut resources) = match o.ours() {
        Some(api) => (api.id.clone(), api.resources.clone()),
        None => {
            let id = create_api(ctx, d, &step).await?;
            let mut live = LiveApi::bare(&id);
            observe_routes(ctx.clients, &mut live).await?;
            (id, live.resources)
        }
    };
    let created = o.ours().is_none();
    for (route, uri) in &d.routes {
        let field = format!("{ROUTES}.{route}");
        if !created
            && !mine
                .iter()
                .any(|c| c.is(&field) && c.action == Action::Update)
        {
            continue;
        }
        let (method, path) = route.split_once(' ').unwrap_or((route.as_str(), "/"));
        let resource = ensure_path(ctx, &id, &mut resources, path, &step).await?;
        put_route(ctx, &id, &resource, method, uri).await?;
    }
    for c in mine
        .iter()
        .filter(|c| c.action == Action::Delete && c.field.is_some())
    {
        let route = c
            .field
            .as_deref()
            .and_then(|f| f.strip_prefix(&format!("{ROUTES}.")))
            .unwrap_or("");
        let Some((method, path)) = route.split_once(' ') else {
            continue;
        };
        if let Some(resource) = resources.get(path) {
            gw.delete_method()
                .rest_api_id(&id)
                .resource_id(resource)
                .http_method(method)
                .send()
                .await
                .doing(|| format!("removing route {route} from API {id}"))?;
        }
    }
    if let Some(tags) = mine.iter().find(|c| c.is(TAGS)) {
        let live: BTreeMap<String, String> =
            serde_json::from_value(tags.actual.clone()).unwrap_or_default();
        gw.tag_resource()
            .resource_arn(ctx.names.api_arn(&id))
            .set_tags(Some(missing_tags(&d.tags, &live).into_iter().collect()))
            .send()
            .await
            .doing(|| format!("tagging API {id}"))?;
    }
    step.done(&format!("[{id}] "));
    Ok(id)
}

/// The resource id of `path`, creating it and any missing parent.
async fn ensure_path(
    ctx: Ctx<'_>,
    api_id: &str,
    resources: &mut BTreeMap<String, String>,
    path: &str,
    step: &Step,
) -> anyhow::Result<String> {
    let mut parent = resources
        .get("/")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("API {api_id} has no root resource"))?;
    let mut current = String::new();
    for part in path.trim_start_matches('/').split('/') {
        current = format!("{current}/{part}");
        parent = match resources.get(&current) {
            Some(id) => id.clone(),
            None => {
                let what = format!("creating resource {current} in API {api_id}");
                let send = || async {
                    let created = ctx
                        .clients
                        .apigateway
                        .create_resource()
                        .rest_api_id(api_id)
                        .parent_id(&parent)
                        .path_part(part)
                        .customize()
                        .config_override(crate::single_attempt!(aws_sdk_apigateway))
                        .send()
                        .await
                        .map_err(|e| CreateError::of(&what, e))?;
                    created.id.ok_or_else(|| {
                        CreateError::Refused(anyhow::anyhow!("CreateResource returned no id"))
                    })
                };
                let look = || async {
                    let mut live = LiveApi::bare(api_id);
                    observe_routes(ctx.clients, &mut live).await?;
                    Ok(live.resources.get(&current).cloned())
                };
                let id = wait::create_once(&what, ctx.waits.create, step, send, look).await?;
                resources.insert(current.clone(), id.clone());
                id
            }
        };
    }
    Ok(parent)
}

/// Makes `method` on `resource` a Lambda proxy to `uri` (PutMethod and PutIntegration both
/// overwrite, so this also repairs an integration pointed elsewhere).
async fn put_route(
    ctx: Ctx<'_>,
    api_id: &str,
    resource: &str,
    method: &str,
    uri: &str,
) -> anyhow::Result<()> {
    let gw = &ctx.clients.apigateway;
    match gw
        .put_method()
        .rest_api_id(api_id)
        .resource_id(resource)
        .http_method(method)
        .authorization_type("NONE")
        .send()
        .await
    {
        Ok(_) => {}
        // The method exists, with a wrong integration: PutIntegration below repairs it.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conflict_exception()) => {}
        Err(e) => return Err(e).doing(|| format!("adding method {method} to API {api_id}")),
    }
    gw.put_integration()
        .rest_api_id(api_id)
        .resource_id(resource)
        .http_method(method)
        .r#type(IntegrationType::AwsProxy)
        .integration_http_method("POST")
        .uri(uri)
        .send()
        .await
        .doing(|| format!("integrating {method} of API {api_id} with the function"))?;
    Ok(())
}

/// Deploys the routes to the stage and sets its throttling, as the changes ask.
pub async fn apply_stage(
    ctx: Ctx<'_>,
    d: &Desired,
    api_id: &str,
    changes: &[Change],
) -> anyhow::Result<()> {
    let mine: Vec<&Change> = changes
        .iter()
        .filter(|c| c.resource == Kind::Stage)
        .collect();
    if mine.is_empty() {
        return Ok(());
    }
    let gw = &ctx.clients.apigateway;
    let stage = &d.stage;
    let created = mine.iter().any(|c| c.action == Action::Create);
    let step = ctx.progress.step(format!(
        "{} stage {stage}",
        if created { "deploying" } else { "updating" }
    ));
    if created || mine.iter().any(|c| c.is(DEPLOYMENT)) {
        let deployment = gw
            .create_deployment()
            .rest_api_id(api_id)
            .description(format!("{HASH_PREFIX}{}", d.routes_hash))
            .send()
            .await
            .doing(|| format!("creating a deployment of API {api_id}"))?;
        let deployment_id = deployment
            .id
            .ok_or_else(|| anyhow::anyhow!("CreateDeployment returned no id"))?;
        let exists = gw
            .get_stage()
            .rest_api_id(api_id)
            .stage_name(stage)
            .send()
            .await
            .is_ok();
        if exists {
            gw.update_stage()
                .rest_api_id(api_id)
                .stage_name(stage)
                .patch_operations(replace("/deploymentId", &deployment_id))
                .send()
                .await
                .doing(|| format!("pointing stage {stage} at deployment {deployment_id}"))?;
        } else {
            let send = || async {
                gw.create_stage()
                    .rest_api_id(api_id)
                    .stage_name(stage)
                    .deployment_id(&deployment_id)
                    .set_tags(Some(d.tags.clone().into_iter().collect()))
                    .customize()
                    .config_override(crate::single_attempt!(aws_sdk_apigateway))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        CreateError::of(&format!("creating stage {stage} of API {api_id}"), e)
                    })
            };
            let look = || async {
                let found = gw
                    .get_stage()
                    .rest_api_id(api_id)
                    .stage_name(stage)
                    .send()
                    .await;
                Ok(found.ok().map(|_| ()))
            };
            wait::create_once(
                &format!("creating stage {stage}"),
                ctx.waits.create,
                &step,
                send,
                look,
            )
            .await?;
        }
    }
    if created
        || mine
            .iter()
            .any(|c| c.is(THROTTLE_RATE) || c.is(THROTTLE_BURST))
    {
        gw.update_stage()
            .rest_api_id(api_id)
            .stage_name(stage)
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
            .doing(|| format!("setting the throttling of stage {stage}"))?;
    }
    if let Some(tags) = mine.iter().find(|c| c.is(TAGS)) {
        let live: BTreeMap<String, String> =
            serde_json::from_value(tags.actual.clone()).unwrap_or_default();
        gw.tag_resource()
            .resource_arn(ctx.names.stage_arn(api_id))
            .set_tags(Some(missing_tags(&d.tags, &live).into_iter().collect()))
            .send()
            .await
            .doing(|| format!("tagging stage {stage}"))?;
    }
    step.done("");
    Ok(())
}

fn replace(path: &str, value: &str) -> PatchOperation {
    PatchOperation::builder()
        .op(Op::Replace)
        .path(path)
        .value(value)
        .build()
}

/// CreateRestApi is not idempotent: had the SDK retried it after a lost answer, the stack would
/// have two APIs. So it is sent without the SDK's retries, and after an ambiguous failure the
/// API is looked for by its tags before another try.
async fn create_api(ctx: Ctx<'_>, d: &Desired, step: &Step) -> anyhow::Result<String> {
    let gw = &ctx.clients.apigateway;
    let send = || async {
        let sent = gw
            .create_rest_api()
            .name(&d.name)
            .description(format!(
                "Visitor counter of stack {} ({})",
                ctx.names.stack, ctx.names.stage
            ))
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
            Ok(created) => created.id.ok_or_else(|| {
                CreateError::Refused(anyhow::anyhow!("CreateRestApi returned no id"))
            }),
            Err(e) => Err(CreateError::of(&format!("creating REST API {}", d.name), e)),
        }
    };
    let look = || async {
        let found = observe(ctx.clients, ctx.names).await?;
        Ok(found.ours().map(|a| a.id.clone()))
    };
    wait::create_once(
        &format!("creating REST API {}", d.name),
        ctx.waits.create,
        step,
        send,
        look,
    )
    .await
}

/// Deletes one REST API by id; `false` when it was already gone.
pub async fn delete_api(ctx: Ctx<'_>, id: &str) -> anyhow::Result<bool> {
    match ctx
        .clients
        .apigateway
        .delete_rest_api()
        .rest_api_id(id)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_not_found_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(e).doing(|| format!("deleting REST API {id}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> Desired {
        Desired {
            name: "vc-prod".into(),
            stage: "prod".into(),
            routes: BTreeMap::from([
                ("GET /counter".into(), "uri".into()),
                ("GET /health".into(), "uri".into()),
            ]),
            routes_hash: "h1".into(),
            throttle_rate: 10.0,
            throttle_burst: 20,
            tags: BTreeMap::from([
                (STACK_TAG.into(), "vc".into()),
                (STAGE_TAG.into(), "prod".into()),
            ]),
        }
    }

    fn live() -> LiveApi {
        let d = desired();
        LiveApi {
            id: "a1".into(),
            created: 1,
            tags: d.tags.clone(),
            resources: BTreeMap::from([("/".into(), "r0".into())]),
            routes: d
                .routes
                .iter()
                .map(|(r, u)| (r.clone(), Some(u.clone())))
                .collect(),
            stage: Some(LiveStage {
                deployment_id: "d1".into(),
                routes_hash: Some("h1".into()),
                throttle_rate: Some(10.0),
                throttle_burst: Some(20),
                tags: d.tags,
            }),
        }
    }

    fn summary(changes: &[Change]) -> Vec<(Kind, Action, String)> {
        changes
            .iter()
            .map(|c| (c.resource, c.action, c.field.clone().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn no_api_means_an_api_and_a_stage_to_create() {
        let changes = plan(&desired(), &Observed::default());
        assert_eq!(
            summary(&changes),
            [
                (Kind::Api, Action::Create, String::new()),
                (Kind::Stage, Action::Create, String::new())
            ]
        );
    }

    #[test]
    fn a_matching_api_needs_nothing() {
        assert_eq!(plan(&desired(), &Observed { apis: vec![live()] }), vec![]);
    }

    #[test]
    fn route_drift_duplicates_and_stage_drift_are_each_reported() {
        let mut ours = live();
        ours.routes.remove("GET /health");
        ours.routes
            .insert("GET /counter".into(), Some("arn:other-function".into()));
        ours.routes
            .insert("DELETE /counter".into(), Some("uri".into()));
        if let Some(s) = ours.stage.as_mut() {
            s.routes_hash = Some("h0".into());
            s.throttle_rate = Some(1000.0);
            s.throttle_burst = None;
        }
        let mut dup = live();
        dup.id = "a2".into();
        dup.created = 2;
        let changes = plan(
            &desired(),
            &Observed {
                apis: vec![ours, dup],
            },
        );
        assert_eq!(
            summary(&changes),
            [
                (Kind::Api, Action::Delete, String::new()),
                (Kind::Api, Action::Update, "routes.GET /counter".into()),
                (Kind::Api, Action::Update, "routes.GET /health".into()),
                (Kind::Api, Action::Delete, "routes.DELETE /counter".into()),
                (Kind::Stage, Action::Update, DEPLOYMENT.into()),
                (Kind::Stage, Action::Update, THROTTLE_RATE.into()),
                (Kind::Stage, Action::Update, THROTTLE_BURST.into()),
            ]
        );
        assert_eq!(changes[0].name, "a2");
        assert_eq!(changes[1].actual, json!("arn:other-function"));
    }

    #[test]
    fn cors_adds_a_preflight_route_per_path() {
        let stack = crate::stack::parse(
            "name: vc\napi:\n  routes: [GET /counter, POST /counter]\n  cors_origins: [\"https://a.example\"]\n",
            std::path::Path::new("stack.yaml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let names = Names::derive(&stack, "us-east-1", "1");
        let d = Desired::of(&stack, &names);
        assert_eq!(
            d.routes.keys().collect::<Vec<_>>(),
            ["GET /counter", "OPTIONS /counter", "POST /counter"]
        );
    }
}
