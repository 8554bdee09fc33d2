//! The API Gateway REST API: its routes (each a Lambda proxy integration to the function, open
//! to everyone), its gateway responses (API Gateway's own errors, with CORS headers), and the
//! stage that serves a deployment of them, with stage-wide throttling.
//!
//! REST APIs are not unique by name, so the stack's API is the one tagged with its stack and
//! stage; a second one with the same tags is a duplicate and `up` deletes it (the oldest stays).
//! A deployment records a hash of what it serves in its description, so the live stage is
//! compared without a state file, and a new deployment is made only when that changed.
//!
//! API Gateway's control plane has per-account quotas (API Gateway developer guide, "Amazon API
//! Gateway quotas"): CreateRestApi once per 3 s, DeleteRestApi once per 30 s. Over them it
//! answers 429 with `Retry-After`, which is honoured here, and said in the progress.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_apigateway::operation::create_rest_api::CreateRestApiError;
use aws_sdk_apigateway::operation::delete_rest_api::DeleteRestApiError;
use aws_sdk_apigateway::types::{
    EndpointConfiguration, EndpointType, GatewayResponseType, IntegrationType, Op, PatchOperation,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{missing_tags, plan_tags, Ctx, TAGS};
use crate::aws::{self, AwsContext, Clients};
use crate::names::{self, Names, STACK_TAG, STAGE_TAG};
use crate::plan::{compare, Action, Change, Kind};
use crate::progress::Step;
use crate::stack::Stack;
use crate::wait::{self, Attempt, CreateError};

/// Route changes are one per route: `routes.GET /counter`.
pub const ROUTES: &str = "routes";
/// Gateway response changes are one per response type: `gateway_responses.DEFAULT_4XX`.
pub const GATEWAY_RESPONSES: &str = "gateway_responses";
pub const DEPLOYMENT: &str = "deployment";
pub const THROTTLE_RATE: &str = "throttle.rate";
pub const THROTTLE_BURST: &str = "throttle.burst";

/// How a deployment's description carries its routes hash.
const HASH_PREFIX: &str = "deployer routes=";
/// Stage-wide method settings live under this key.
const ALL_METHODS: &str = "*/*";
/// The gateway responses that carry CORS headers: every 4xx and 5xx API Gateway answers by
/// itself (403 Missing Authentication Token, 429 throttled, 502 and 504), unless a more
/// specific response type is customised.
pub const CORS_RESPONSES: [&str; 2] = ["DEFAULT_4XX", "DEFAULT_5XX"];
/// The response headers the deployer manages on those responses.
const ALLOW_ORIGIN: &str = "gatewayresponse.header.Access-Control-Allow-Origin";
const VARY: &str = "gatewayresponse.header.Vary";

/// One route's method, as far as the deployer manages it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Method {
    pub authorization_type: String,
    pub api_key_required: bool,
    pub integration_type: Option<String>,
    pub integration_http_method: Option<String>,
    pub uri: Option<String>,
}

impl Method {
    /// A Lambda proxy integration to `uri`, open to everyone: what every route is.
    pub fn proxy(uri: &str) -> Method {
        Method {
            authorization_type: "NONE".into(),
            api_key_required: false,
            integration_type: Some("AWS_PROXY".into()),
            // Lambda is always invoked with POST, whatever the route's method.
            integration_http_method: Some("POST".into()),
            uri: Some(uri.to_string()),
        }
    }

    /// Whether `live` differs from this in the method itself (not only its integration): such
    /// a method must be put again, which API Gateway refuses while it exists.
    fn method_differs(&self, live: &Method) -> bool {
        self.authorization_type != live.authorization_type
            || self.api_key_required != live.api_key_required
    }
}

type Params = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub name: String,
    pub stage: String,
    /// `"GET /counter"` → its method.
    pub routes: BTreeMap<String, Method>,
    /// `DEFAULT_4XX` → the headers it carries; empty when the stack has no CORS origins.
    pub gateway_responses: BTreeMap<String, Params>,
    pub routes_hash: String,
    pub throttle_rate: f64,
    pub throttle_burst: i32,
    pub tags: BTreeMap<String, String>,
}

impl Desired {
    pub fn of(stack: &Stack, names: &Names) -> Desired {
        let routes = stack.api.served_routes();
        let uri = names.integration_uri();
        let gateway_responses = gateway_responses(&stack.api.cors_origins);
        let snapshot: Vec<String> = gateway_responses
            .iter()
            .flat_map(|(kind, params)| params.iter().map(move |(k, v)| format!("{kind} {k}={v}")))
            .collect();
        Desired {
            name: names.api.clone(),
            stage: names.stage.clone(),
            routes_hash: names::routes_hash(&routes, &uri, &snapshot),
            routes: routes
                .iter()
                .map(|r| (r.to_string(), Method::proxy(&uri)))
                .collect(),
            gateway_responses,
            throttle_rate: stack.api.throttle.rate,
            throttle_burst: i32::try_from(stack.api.throttle.burst).unwrap_or(i32::MAX),
            tags: names.tags.clone(),
        }
    }
}

/// The CORS headers of API Gateway's own error responses. Without them a browser sees an
/// opaque CORS failure instead of the 429 or 403 API Gateway sent. One origin is named; `*` is
/// `*`; several origins cannot be listed in one header, so the request's own `Origin` is
/// echoed: these responses carry no data, only API Gateway's error message.
pub fn gateway_responses(origins: &[String]) -> BTreeMap<String, Params> {
    let allow = match origins {
        [] => {
            return CORS_RESPONSES
                .iter()
                .map(|r| (r.to_string(), Params::new()))
                .collect()
        }
        [one] => format!("'{one}'"),
        _ => "method.request.header.Origin".to_string(),
    };
    let params = Params::from([
        (ALLOW_ORIGIN.to_string(), allow),
        (VARY.to_string(), "'Origin'".to_string()),
    ]);
    CORS_RESPONSES
        .iter()
        .map(|r| (r.to_string(), params.clone()))
        .collect()
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
    /// `"GET /counter"` → its method.
    pub routes: BTreeMap<String, Method>,
    /// Response type → the managed headers it carries.
    pub gateway_responses: BTreeMap<String, Params>,
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
            gateway_responses: BTreeMap::new(),
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

/// The APIs tagged with this stack and stage, from GetRestApis.
async fn tagged(clients: &Clients, names: &Names) -> anyhow::Result<Vec<LiveApi>> {
    let mut apis = Vec::new();
    let mut pages = clients
        .apigateway
        .get_rest_apis()
        .limit(500)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.doing(|| "listing REST APIs".to_string())?;
        for api in page.items() {
            let tags = api.tags().cloned().unwrap_or_default();
            let ours = tags.get(STACK_TAG) == Some(&names.stack)
                && tags.get(STAGE_TAG) == Some(&names.stage);
            if let (true, Some(id)) = (ours, api.id()) {
                apis.push(LiveApi {
                    created: api.created_date().map(|d| d.as_nanos()).unwrap_or_default(),
                    tags: tags.into_iter().collect(),
                    ..LiveApi::bare(id)
                });
            }
        }
    }
    Ok(apis)
}

pub async fn observe(clients: &Clients, names: &Names) -> anyhow::Result<Observed> {
    let mut apis = tagged(clients, names).await?;
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
        ours.gateway_responses = observe_gateway_responses(clients, &ours.id).await?;
        if ours.stage.is_none() {
            ours.stage = observe_stage(clients, &ours.id, &names.stage).await?;
        }
    }
    Ok(Observed { apis })
}

async fn observe_routes(clients: &Clients, api: &mut LiveApi) -> anyhow::Result<()> {
    let mut pages = clients
        .apigateway
        .get_resources()
        .rest_api_id(&api.id)
        .embed("methods")
        .limit(500)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.doing(|| format!("reading the routes of API {}", api.id))?;
        for resource in page.items() {
            let (Some(path), Some(id)) = (resource.path(), resource.id()) else {
                continue;
            };
            api.resources.insert(path.to_string(), id.to_string());
            for (verb, m) in resource.resource_methods().into_iter().flatten() {
                let integration = m.method_integration();
                let method = Method {
                    authorization_type: m.authorization_type().unwrap_or("NONE").to_string(),
                    api_key_required: m.api_key_required().unwrap_or(false),
                    integration_type: integration
                        .and_then(|i| i.r#type())
                        .map(|t| t.as_str().to_string()),
                    integration_http_method: integration
                        .and_then(|i| i.http_method())
                        .map(str::to_string),
                    uri: integration.and_then(|i| i.uri()).map(str::to_string),
                };
                api.routes.insert(format!("{verb} {path}"), method);
            }
        }
    }
    Ok(())
}

/// The managed headers of each CORS response type. AWS lists every response type here, the
/// defaults included; an emulator may list only those that were put.
async fn observe_gateway_responses(
    clients: &Clients,
    api_id: &str,
) -> anyhow::Result<BTreeMap<String, Params>> {
    let mut found: BTreeMap<String, Params> = CORS_RESPONSES
        .iter()
        .map(|r| (r.to_string(), Params::new()))
        .collect();
    // One page holds every response type (there are about 20), so no paginator: the SDK has
    // none for this operation.
    let page = clients
        .apigateway
        .get_gateway_responses()
        .rest_api_id(api_id)
        .limit(500)
        .send()
        .await
        .doing(|| format!("reading the gateway responses of API {api_id}"))?;
    {
        for response in page.items() {
            let Some(kind) = response.response_type().map(|t| t.as_str().to_string()) else {
                continue;
            };
            if let Some(params) = found.get_mut(&kind) {
                *params = response
                    .response_parameters()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| *k == ALLOW_ORIGIN || *k == VARY)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
            }
        }
    }
    Ok(found)
}

async fn observe_stage(
    clients: &Clients,
    api_id: &str,
    stage: &str,
) -> anyhow::Result<Option<LiveStage>> {
    let gw = &clients.apigateway;
    // Only NotFound means "no stage": a denied or failed read is an error, never a stage to
    // create.
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
    for (route, method) in &d.routes {
        let field = format!("{ROUTES}.{route}");
        let live = api.routes.get(route);
        compare(
            &mut changes,
            Kind::Api,
            &d.name,
            &field,
            &Some(method),
            &live,
        );
    }
    for (route, method) in api
        .routes
        .iter()
        .filter(|(r, _)| !d.routes.contains_key(*r))
    {
        let field = format!("{ROUTES}.{route}");
        changes.push(Change::delete(
            Kind::Api,
            &d.name,
            Some(&field),
            json!(method.uri),
        ));
    }
    for (kind, params) in &d.gateway_responses {
        let field = format!("{GATEWAY_RESPONSES}.{kind}");
        let live = api.gateway_responses.get(kind).cloned().unwrap_or_default();
        compare(&mut changes, Kind::Api, &d.name, &field, params, &live);
    }
    plan_tags(&mut changes, Kind::Api, &d.name, &d.tags, &api.tags);
    plan_stage(d, api, &mut changes);
    changes
}

fn plan_stage(d: &Desired, api: &LiveApi, changes: &mut Vec<Change>) {
    let Some(stage) = &api.stage else {
        changes.push(stage_create(d));
        return;
    };
    let (k, n) = (Kind::Stage, d.stage.as_str());
    compare(
        changes,
        k,
        n,
        DEPLOYMENT,
        &Some(d.routes_hash.clone()),
        &stage.routes_hash,
    );
    compare(
        changes,
        k,
        n,
        THROTTLE_RATE,
        &Some(d.throttle_rate),
        &stage.throttle_rate,
    );
    compare(
        changes,
        k,
        n,
        THROTTLE_BURST,
        &Some(d.throttle_burst),
        &stage.throttle_burst,
    );
    plan_tags(changes, k, n, &d.tags, &stage.tags);
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
        delete_api(ctx, &dup.name, &step).await?;
    }
    let (id, mut live) = match o.ours() {
        Some(api) => (api.id.clone(), api.clone()),
        None => {
            let id = create_api(ctx, d, &step).await?;
            let mut live = LiveApi::bare(&id);
            observe_routes(ctx.clients, &mut live).await?;
            (id, live)
        }
    };
    let created = o.ours().is_none();
    for (route, method) in &d.routes {
        let field = format!("{ROUTES}.{route}");
        if created || mine.iter().any(|c| c.is(&field)) {
            put_route(ctx, &id, &mut live, route, method, &step).await?;
        }
    }
    remove_routes(ctx, &id, &live, &mine).await?;
    for (kind, params) in &d.gateway_responses {
        let field = format!("{GATEWAY_RESPONSES}.{kind}");
        if created || mine.iter().any(|c| c.is(&field)) {
            put_gateway_response(ctx, &id, kind, params).await?;
        }
    }
    if let Some(tags) = mine.iter().find(|c| c.is(TAGS)) {
        let live: BTreeMap<String, String> =
            serde_json::from_value(tags.actual.clone()).unwrap_or_default();
        ctx.clients
            .apigateway
            .tag_resource()
            .resource_arn(ctx.names.api_arn(&id))
            .set_tags(Some(missing_tags(&d.tags, &live).into_iter().collect()))
            .send()
            .await
            .doing(|| format!("tagging API {id}"))?;
    }
    step.done(&format!("[{id}] "));
    Ok(id)
}

/// Removes the routes the stack no longer has.
async fn remove_routes(
    ctx: Ctx<'_>,
    id: &str,
    live: &LiveApi,
    mine: &[&Change],
) -> anyhow::Result<()> {
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
        if let Some(resource) = live.resources.get(path) {
            ctx.clients
                .apigateway
                .delete_method()
                .rest_api_id(id)
                .resource_id(resource)
                .http_method(method)
                .send()
                .await
                .doing(|| format!("removing route {route} from API {id}"))?;
        }
    }
    Ok(())
}

/// Makes `route` what `want` says: its resource (and parents) exist, its method is open, and
/// its integration is a Lambda proxy to the function. PutMethod is refused on a method that
/// exists (ConflictException), so a method whose own settings drifted (an authorization type, an
/// API key) is deleted first; an integration alone is overwritten by PutIntegration. Neither
/// touches live traffic: the stage serves a deployment, a snapshot, until the next one.
async fn put_route(
    ctx: Ctx<'_>,
    api_id: &str,
    live: &mut LiveApi,
    route: &str,
    want: &Method,
    step: &Step,
) -> anyhow::Result<()> {
    let gw = &ctx.clients.apigateway;
    let (verb, path) = route.split_once(' ').unwrap_or((route, "/"));
    let resource = ensure_path(ctx, api_id, &mut live.resources, path, step).await?;
    let existing = live.routes.get(route);
    if let Some(existing) = existing.filter(|m| want.method_differs(m)) {
        step.waiting(&format!(
            "replacing method {route} (authorization {})",
            existing.authorization_type
        ));
        gw.delete_method()
            .rest_api_id(api_id)
            .resource_id(&resource)
            .http_method(verb)
            .send()
            .await
            .doing(|| format!("removing the drifted method {route} of API {api_id}"))?;
    }
    if existing.is_none_or(|m| want.method_differs(m)) {
        put_method(ctx, api_id, &resource, verb, want, step).await?;
    }
    gw.put_integration()
        .rest_api_id(api_id)
        .resource_id(&resource)
        .http_method(verb)
        .r#type(IntegrationType::AwsProxy)
        .integration_http_method(want.integration_http_method.as_deref().unwrap_or("POST"))
        .set_uri(want.uri.clone())
        .send()
        .await
        .doing(|| format!("integrating {route} of API {api_id} with the function"))?;
    live.routes.insert(route.to_string(), want.clone());
    Ok(())
}

/// PutMethod creates: on a method that exists, API Gateway answers ConflictException. So a
/// retry after a lost answer would fail although the first attempt worked; like every create,
/// it is sent without the SDK's retries, and after an ambiguous failure (or a conflict) the
/// method is read back: one with the wanted settings is done.
async fn put_method(
    ctx: Ctx<'_>,
    api_id: &str,
    resource: &str,
    verb: &str,
    want: &Method,
    step: &Step,
) -> anyhow::Result<()> {
    let gw = &ctx.clients.apigateway;
    let what = format!("adding method {verb} to resource {resource} of API {api_id}");
    let send = || async {
        let sent = gw
            .put_method()
            .rest_api_id(api_id)
            .resource_id(resource)
            .http_method(verb)
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
            .rest_api_id(api_id)
            .resource_id(resource)
            .http_method(verb)
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
    api_id: &str,
    kind: &str,
    params: &Params,
) -> anyhow::Result<()> {
    let gw = &ctx.clients.apigateway;
    let kind_type = GatewayResponseType::from(kind);
    if params.is_empty() {
        match gw
            .delete_gateway_response()
            .rest_api_id(api_id)
            .response_type(kind_type)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(e).doing(|| format!("resetting gateway response {kind} of API {api_id}")),
        }
    } else {
        gw.put_gateway_response()
            .rest_api_id(api_id)
            .response_type(kind_type)
            .set_response_parameters(Some(params.clone().into_iter().collect()))
            .send()
            .await
            .doing(|| format!("putting CORS headers on gateway response {kind} of API {api_id}"))?;
        Ok(())
    }
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
                let id = create_resource(ctx, api_id, &parent, part, &current, step).await?;
                resources.insert(current.clone(), id.clone());
                id
            }
        };
    }
    Ok(parent)
}

async fn create_resource(
    ctx: Ctx<'_>,
    api_id: &str,
    parent: &str,
    part: &str,
    path: &str,
    step: &Step,
) -> anyhow::Result<String> {
    let what = format!("creating resource {path} in API {api_id}");
    let send = || async {
        let created = ctx
            .clients
            .apigateway
            .create_resource()
            .rest_api_id(api_id)
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
        let mut live = LiveApi::bare(api_id);
        observe_routes(ctx.clients, &mut live).await?;
        Ok(live.resources.get(path).cloned())
    };
    wait::create_once(&what, ctx.waits.create, step, send, look).await
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
    // The plan says whether the stage exists; a second look could only be less sure.
    let created = mine.iter().any(|c| c.action == Action::Create);
    let step = ctx.progress.step(format!(
        "{} stage {stage}",
        if created { "deploying" } else { "updating" }
    ));
    if created || mine.iter().any(|c| c.is(DEPLOYMENT)) {
        let deployment_id = create_deployment(ctx, d, api_id).await?;
        if created {
            create_stage(ctx, d, api_id, &deployment_id, &step).await?;
        } else {
            gw.update_stage()
                .rest_api_id(api_id)
                .stage_name(stage)
                .patch_operations(replace("/deploymentId", &deployment_id))
                .send()
                .await
                .doing(|| format!("pointing stage {stage} at deployment {deployment_id}"))?;
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

async fn create_deployment(ctx: Ctx<'_>, d: &Desired, api_id: &str) -> anyhow::Result<String> {
    let deployment = ctx
        .clients
        .apigateway
        .create_deployment()
        .rest_api_id(api_id)
        .description(format!("{HASH_PREFIX}{}", d.routes_hash))
        .send()
        .await
        .doing(|| format!("creating a deployment of API {api_id}"))?;
    deployment
        .id
        .ok_or_else(|| anyhow::anyhow!("CreateDeployment returned no id"))
}

async fn create_stage(
    ctx: Ctx<'_>,
    d: &Desired,
    api_id: &str,
    deployment_id: &str,
    step: &Step,
) -> anyhow::Result<()> {
    let gw = &ctx.clients.apigateway;
    let stage = &d.stage;
    let send = || async {
        gw.create_stage()
            .rest_api_id(api_id)
            .stage_name(stage)
            .deployment_id(deployment_id)
            .set_tags(Some(d.tags.clone().into_iter().collect()))
            .customize()
            .config_override(crate::single_attempt!(aws_sdk_apigateway))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| CreateError::of(&format!("creating stage {stage} of API {api_id}"), e))
    };
    let look = || async { Ok(observe_stage(ctx.clients, api_id, stage).await?.map(|_| ())) };
    wait::create_once(
        &format!("creating stage {stage}"),
        ctx.waits.create,
        step,
        send,
        look,
    )
    .await
}

fn replace(path: &str, value: &str) -> PatchOperation {
    PatchOperation::builder()
        .op(Op::Replace)
        .path(path)
        .value(value)
        .build()
}

/// How long API Gateway asked to wait (`Retry-After`), or the quota's own period.
fn retry_after(seconds: Option<&str>, quota: Duration) -> Duration {
    seconds
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(quota)
}

/// CreateRestApi is not idempotent: had the SDK retried it after a lost answer, the stack would
/// have two APIs. So it is sent without the SDK's retries, and after an ambiguous failure the
/// API is looked for by its tags (for a while: GetRestApis lags a create) before another try.
async fn create_api(ctx: Ctx<'_>, d: &Desired, step: &Step) -> anyhow::Result<String> {
    let gw = &ctx.clients.apigateway;
    let what = format!("creating REST API {}", d.name);
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
            Err(e) => Err(match e.as_service_error() {
                // One CreateRestApi every 3 s per account: refused, not applied.
                Some(CreateRestApiError::TooManyRequestsException(t)) => {
                    let wait = retry_after(t.retry_after_seconds(), Duration::from_secs(3));
                    CreateError::Later(anyhow::anyhow!("{what}: {}", aws::describe(&e)), wait)
                }
                _ => CreateError::of(&what, e),
            }),
        }
    };
    let look = || async { find_created(ctx).await };
    let id = wait::create_once(&what, ctx.waits.create, step, send, look).await?;
    wait_listed(ctx, &id, step).await?;
    remove_orphans(ctx, &id, step).await?;
    Ok(id)
}

/// Deletes the APIs of this stack that GetRestApis did not list yet when this run looked, now
/// that it lists them: an interrupted run made them moments ago (it was killed right after
/// CreateRestApi), and they serve nothing. An API that serves the stage is not an orphan: then
/// the new one is the duplicate, and the next run, which sees both, removes it.
async fn remove_orphans(ctx: Ctx<'_>, id: &str, step: &Step) -> anyhow::Result<()> {
    let others: Vec<LiveApi> = tagged(ctx.clients, ctx.names)
        .await?
        .into_iter()
        .filter(|a| a.id != id)
        .collect();
    for other in others {
        if observe_stage(ctx.clients, &other.id, &ctx.names.stage)
            .await?
            .is_some()
        {
            anyhow::bail!(
                "API {} of this stack serves stage {}, but GetRestApis listed it only after this \
                 run had created API {id}. Run `deployer up` again: it keeps {} and deletes {id}",
                other.id,
                ctx.names.stage,
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

/// The stack's API, looked for by its tags after a create whose answer was lost. GetRestApis
/// lags a create by a moment, so one empty listing proves little: it is read again for a while.
async fn find_created(ctx: Ctx<'_>) -> anyhow::Result<Option<String>> {
    let bound = ctx.waits.visible;
    let quick = wait::Bound {
        timeout: bound.timeout / 6,
        interval: bound.interval,
    };
    let silent = crate::progress::Progress::silent();
    let step = silent.step("looking for the API");
    let found = wait::until("the API to be listed", quick, &step, || async {
        let apis = tagged(ctx.clients, ctx.names).await?;
        Ok(apis.first().map(|a| a.id.clone()))
    })
    .await;
    Ok(found.ok())
}

/// Waits until GetRestApis lists the new API, so that the next `diff` finds it.
async fn wait_listed(ctx: Ctx<'_>, id: &str, step: &Step) -> anyhow::Result<()> {
    wait::until(
        &format!("API {id} to be listed by GetRestApis"),
        ctx.waits.visible,
        step,
        || async {
            let apis = tagged(ctx.clients, ctx.names).await?;
            Ok(apis.iter().any(|a| a.id == id).then_some(()))
        },
    )
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
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_not_found_exception()) =>
            {
                Attempt::Done(false)
            }
            Err(e) => match e.as_service_error() {
                Some(DeleteRestApiError::TooManyRequestsException(t)) => {
                    let wait = retry_after(t.retry_after_seconds(), Duration::from_secs(30));
                    Attempt::After(
                        e,
                        format!(
                            "API Gateway allows one DeleteRestApi every 30 s per account: \
                             waiting {} s before deleting API {id}",
                            wait.as_secs()
                        ),
                        wait,
                    )
                }
                _ if aws::ambiguous(&e) => Attempt::Again(e, format!("deleting API {id} failed")),
                _ => Attempt::Failed(e),
            },
        }
    })
    .await
    .doing(|| format!("deleting REST API {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> Desired {
        Desired {
            name: "vc-prod".into(),
            stage: "prod".into(),
            routes: BTreeMap::from([
                ("GET /counter".into(), Method::proxy("uri")),
                ("GET /health".into(), Method::proxy("uri")),
            ]),
            gateway_responses: gateway_responses(&["https://a.example".into()]),
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
            routes: d.routes.clone(),
            gateway_responses: d.gateway_responses.clone(),
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
            .insert("GET /counter".into(), Method::proxy("arn:other-function"));
        ours.routes
            .insert("DELETE /counter".into(), Method::proxy("uri"));
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
        assert_eq!(changes[1].actual["uri"], json!("arn:other-function"));
    }

    #[test]
    fn an_authorizer_an_api_key_or_another_integration_is_route_drift() {
        let variants: [fn(&mut Method); 4] = [
            |m| m.authorization_type = "AWS_IAM".into(),
            |m| m.api_key_required = true,
            |m| m.integration_type = Some("AWS".into()),
            |m| m.integration_http_method = Some("GET".into()),
        ];
        for change in variants {
            let mut ours = live();
            if let Some(m) = ours.routes.get_mut("GET /counter") {
                change(m);
            }
            let changes = plan(&desired(), &Observed { apis: vec![ours] });
            assert_eq!(
                summary(&changes),
                [(Kind::Api, Action::Update, "routes.GET /counter".into())]
            );
        }
        let open = Method::proxy("uri");
        let iam = Method {
            authorization_type: "AWS_IAM".into(),
            ..open.clone()
        };
        assert!(open.method_differs(&iam));
        let elsewhere = Method {
            uri: Some("other".into()),
            ..open.clone()
        };
        assert!(
            !open.method_differs(&elsewhere),
            "PutIntegration alone repairs it"
        );
    }

    #[test]
    fn gateway_responses_carry_cors_for_the_stacks_origins() {
        let one = gateway_responses(&["https://a.example".into()]);
        assert_eq!(one.len(), 2);
        assert_eq!(one["DEFAULT_4XX"][ALLOW_ORIGIN], "'https://a.example'");
        assert_eq!(one["DEFAULT_5XX"][VARY], "'Origin'");
        let many = gateway_responses(&["https://a.example".into(), "https://b.example".into()]);
        assert_eq!(
            many["DEFAULT_4XX"][ALLOW_ORIGIN],
            "method.request.header.Origin"
        );
        let none = gateway_responses(&[]);
        assert!(none.values().all(BTreeMap::is_empty));

        let mut ours = live();
        ours.gateway_responses
            .insert("DEFAULT_5XX".into(), Params::new());
        let changes = plan(&desired(), &Observed { apis: vec![ours] });
        assert_eq!(
            summary(&changes),
            [(
                Kind::Api,
                Action::Update,
                "gateway_responses.DEFAULT_5XX".into()
            )]
        );
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

    #[test]
    fn retry_after_is_honoured_or_the_quota_assumed() {
        assert_eq!(
            retry_after(Some("27"), Duration::from_secs(30)),
            Duration::from_secs(27)
        );
        assert_eq!(
            retry_after(None, Duration::from_secs(30)),
            Duration::from_secs(30)
        );
        assert_eq!(
            retry_after(Some("soon"), Duration::from_secs(3)),
            Duration::from_secs(3)
        );
    }
}
