//! The API Gateway REST API: its routes (each a Lambda proxy integration to the function, open
//! to everyone) and its gateway responses (API Gateway's own errors, with CORS headers). The
//! stage that serves a deployment of them is [`super::stage`].
//!
//! REST APIs are not unique by name, so the stack's API is the one tagged with its stack and
//! stage; a second one with the same tags is a duplicate and `up` deletes it (the one serving
//! the stage stays, then the oldest).
//!
//! API Gateway's control plane has per-account quotas (API Gateway developer guide, "Amazon API
//! Gateway quotas"): CreateRestApi once per 3 s, DeleteRestApi once per 30 s. Over them it
//! answers 429 with `Retry-After`, which [`apply`] honours, and says in the progress.

mod apply;
mod routes;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::stage;
use super::tags::{self, Tags, TAGS};
use super::{Ctx, Needs, Removed, Resource};
use crate::arns::Arns;
use crate::aws::{AwsContext, Clients};
use crate::names::{self, Names};
use crate::naming::{STACK_TAG, STAGE_TAG};
use crate::plan::{Change, Describe, Differ, Kind, Update};
use crate::stack::{Route, Stack};

pub use apply::{create, delete_api};

/// Route changes are one per route: `routes.GET /counter`.
pub const ROUTES: &str = "routes";
/// Gateway response changes are one per response type: `gateway_responses.DEFAULT_4XX`.
pub const GATEWAY_RESPONSES: &str = "gateway_responses";

/// The gateway responses that carry CORS headers: every 4xx and 5xx API Gateway answers by
/// itself (403 Missing Authentication Token, 429 throttled, 502 and 504), unless a more
/// specific response type is customised.
pub const CORS_RESPONSES: [&str; 2] = ["DEFAULT_4XX", "DEFAULT_5XX"];
/// The response headers the deployer manages on those responses.
const ALLOW_ORIGIN: &str = "gatewayresponse.header.Access-Control-Allow-Origin";
const VARY: &str = "gatewayresponse.header.Vary";

/// Path → resource id.
pub type Resources = BTreeMap<String, String>;
/// A gateway response's managed headers.
pub type Params = BTreeMap<String, String>;

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
    pub fn method_differs(&self, live: &Method) -> bool {
        self.authorization_type != live.authorization_type
            || self.api_key_required != live.api_key_required
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub name: String,
    /// The stage's name: the API that serves it is the stack's, among duplicates.
    pub stage: String,
    pub routes: BTreeMap<Route, Method>,
    /// `DEFAULT_4XX` → the headers it carries; empty when the stack has no CORS origins.
    pub gateway_responses: BTreeMap<String, Params>,
    /// What a deployment of this API serves, hashed: see [`crate::names::deployment_hash`].
    pub deployment_hash: String,
    pub tags: Tags,
    pub description: String,
}

impl Desired {
    pub fn of(stack: &Stack, names: &Names, arns: &Arns) -> Desired {
        let routes = stack.api.served_routes();
        let uri = arns.integration_uri();
        let gateway_responses = gateway_responses(&stack.api.cors_origins);
        let snapshot: Vec<String> = gateway_responses
            .iter()
            .flat_map(|(kind, params)| params.iter().map(move |(k, v)| format!("{kind} {k}={v}")))
            .collect();
        Desired {
            name: names.api.clone(),
            stage: names.stage.clone(),
            deployment_hash: names::deployment_hash(&routes, &uri, &snapshot),
            routes: routes
                .into_iter()
                .map(|r| (r, Method::proxy(&uri)))
                .collect(),
            gateway_responses,
            tags: names.tags.clone(),
            description: format!("Visitor counter of stack {} ({})", names.stack, names.stage),
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
pub struct LiveApi {
    pub id: String,
    /// Creation time, in nanoseconds since the epoch (AWS reports whole seconds).
    pub created: i128,
    pub tags: Tags,
    pub resources: Resources,
    pub routes: BTreeMap<Route, Method>,
    /// Response type → the managed headers it carries.
    pub gateway_responses: BTreeMap<String, Params>,
    /// Whether it serves the stack's stage (read only when there are duplicates to choose from).
    pub serves_stage: bool,
}

impl LiveApi {
    /// An API known only by its id.
    pub fn bare(id: &str) -> LiveApi {
        LiveApi {
            id: id.to_string(),
            created: 0,
            tags: Tags::new(),
            resources: Resources::new(),
            routes: BTreeMap::new(),
            gateway_responses: BTreeMap::new(),
            serves_stage: false,
        }
    }
}

/// The stack's API, and any duplicate tagged the same.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub ours: LiveApi,
    pub duplicates: Vec<LiveApi>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ApiChange {
    /// A new API, with every route and gateway response of the stack.
    Create {
        routes: Vec<Route>,
    },
    /// A second API tagged as the stack's: deleted.
    Duplicate {
        id: String,
        why: String,
    },
    Route {
        api: String,
        route: Route,
        update: Update<Option<Method>>,
        /// The ids of the route's path and of its parents, those that exist.
        path_ids: Resources,
    },
    /// A route the stack does not have: removed.
    Remove {
        api: String,
        route: Route,
        resource: String,
        live: Method,
    },
    GatewayResponse {
        api: String,
        kind: String,
        update: Update<Params>,
    },
    Tags {
        api: String,
        update: Update<Tags>,
    },
}

impl Describe for ApiChange {
    fn describe(&self, name: &str) -> Change {
        let k = Kind::Api;
        match self {
            ApiChange::Create { routes } => {
                let routes: Vec<String> = routes.iter().map(Route::to_string).collect();
                Change::create(k, name, json!({ ROUTES: routes }))
            }
            ApiChange::Duplicate { id, why } => Change::delete(k, id, None, json!(why)),
            ApiChange::Route { route, update, .. } => {
                update.change(k, name, &format!("{ROUTES}.{route}"))
            }
            ApiChange::Remove { route, live, .. } => {
                Change::delete(k, name, Some(&format!("{ROUTES}.{route}")), json!(live.uri))
            }
            ApiChange::GatewayResponse { kind, update, .. } => {
                update.change(k, name, &format!("{GATEWAY_RESPONSES}.{kind}"))
            }
            ApiChange::Tags { update, .. } => update.change(k, name, TAGS),
        }
    }
}

pub struct Api;

impl Resource for Api {
    const KIND: Kind = Kind::Api;
    type Desired = Desired;
    type Observed = Observed;
    type Change = ApiChange;

    fn name(d: &Desired) -> &str {
        &d.name
    }

    async fn observe(
        clients: &Clients,
        names: &Names,
        _needs: Needs<'_>,
    ) -> anyhow::Result<Option<Observed>> {
        details(clients, find(clients, names).await?).await
    }

    fn plan(d: &Desired, o: Option<&Observed>, _needs: Needs<'_>) -> Vec<ApiChange> {
        let Some(o) = o else {
            return vec![ApiChange::Create {
                routes: d.routes.keys().cloned().collect(),
            }];
        };
        let mut diff = Differ::new();
        for dup in &o.duplicates {
            diff.push(ApiChange::Duplicate {
                id: dup.id.clone(),
                why: format!(
                    "a second API tagged {STACK_TAG}={}, {STAGE_TAG}={}",
                    d.tags.get(STACK_TAG).map(String::as_str).unwrap_or(""),
                    d.stage
                ),
            });
        }
        let api = &o.ours;
        for (route, method) in &d.routes {
            diff.field(
                &Some(method.clone()),
                &api.routes.get(route).cloned(),
                |update| ApiChange::Route {
                    api: api.id.clone(),
                    route: route.clone(),
                    update,
                    path_ids: path_ids(&api.resources, &route.path),
                },
            );
        }
        plan_removals(d, api, &mut diff);
        for (kind, params) in &d.gateway_responses {
            let live = api.gateway_responses.get(kind).cloned().unwrap_or_default();
            diff.field(params, &live, |update| ApiChange::GatewayResponse {
                api: api.id.clone(),
                kind: kind.clone(),
                update,
            });
        }
        tags::compare(&mut diff, &d.tags, &api.tags, |update| ApiChange::Tags {
            api: api.id.clone(),
            update,
        });
        diff.done()
    }

    /// Every change but the API's creation, which [`create`] makes first.
    async fn apply(
        ctx: Ctx<'_>,
        d: &Desired,
        changes: &[ApiChange],
        _needs: Needs<'_>,
    ) -> anyhow::Result<()> {
        apply::apply(ctx, d, changes).await
    }

    /// Deletes every API tagged with this stack and stage, at DeleteRestApi's pace.
    async fn delete(ctx: Ctx<'_>, d: &Desired) -> anyhow::Result<Removed> {
        let apis = tagged(ctx.clients, &d.tags).await?;
        let mut deleted = Vec::new();
        for api in apis {
            let step = ctx.progress.step(format!("deleting API {}", api.id));
            if delete_api(ctx, &api.id, &step).await? {
                deleted.push(api.id);
            }
            step.done("");
        }
        Ok(if deleted.is_empty() {
            Removed::Absent
        } else {
            Removed::Deleted(deleted)
        })
    }
}

/// The APIs tagged as the stack's, the stack's own first: the one serving the stage, so that
/// removing a duplicate never takes the live API down; then the oldest (creation times tie
/// within a second). The stage is read only when there are duplicates to choose from.
pub async fn find(clients: &Clients, names: &Names) -> anyhow::Result<Vec<LiveApi>> {
    let mut apis = tagged(clients, &names.tags).await?;
    if apis.len() > 1 {
        for api in &mut apis {
            api.serves_stage = stage::read(clients, &api.id, &names.stage).await?.is_some();
        }
    }
    apis.sort_by(|a, b| {
        (!a.serves_stage, a.created, &a.id).cmp(&(!b.serves_stage, b.created, &b.id))
    });
    Ok(apis)
}

/// The stack's API (the first of `found`), with its routes and gateway responses, read at once.
pub async fn details(clients: &Clients, found: Vec<LiveApi>) -> anyhow::Result<Option<Observed>> {
    let mut apis = found.into_iter();
    let Some(mut ours) = apis.next() else {
        return Ok(None);
    };
    let (routes, gateway) = tokio::join!(
        read_routes(clients, &ours.id),
        read_gateway_responses(clients, &ours.id)
    );
    (ours.resources, ours.routes) = routes?;
    ours.gateway_responses = gateway?;
    Ok(Some(Observed {
        ours,
        duplicates: apis.collect(),
    }))
}

/// The ids of `path` and of its parents (the root included), among `resources`: what putting
/// the route needs of the API's live resources.
fn path_ids(resources: &Resources, path: &str) -> Resources {
    resources
        .iter()
        .filter(|(p, _)| *p == "/" || path == p.as_str() || path.starts_with(&format!("{p}/")))
        .map(|(p, id)| (p.clone(), id.clone()))
        .collect()
}

fn plan_removals(d: &Desired, api: &LiveApi, diff: &mut Differ<ApiChange>) {
    for (route, live) in api
        .routes
        .iter()
        .filter(|(r, _)| !d.routes.contains_key(*r))
    {
        if let Some(resource) = api.resources.get(&route.path) {
            diff.push(ApiChange::Remove {
                api: api.id.clone(),
                route: route.clone(),
                resource: resource.clone(),
                live: live.clone(),
            });
        }
    }
}

/// The APIs tagged with this stack and stage (`tags` holds both), from GetRestApis.
pub async fn tagged(clients: &Clients, tags: &Tags) -> anyhow::Result<Vec<LiveApi>> {
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
            let live: Tags = api
                .tags()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect();
            let ours = [STACK_TAG, STAGE_TAG]
                .iter()
                .all(|k| live.contains_key(*k) && live.get(*k) == tags.get(*k));
            if let (true, Some(id)) = (ours, api.id()) {
                apis.push(LiveApi {
                    created: api.created_date().map(|d| d.as_nanos()).unwrap_or_default(),
                    tags: live,
                    ..LiveApi::bare(id)
                });
            }
        }
    }
    Ok(apis)
}

/// The API's resources by path, and its routes.
async fn read_routes(
    clients: &Clients,
    api_id: &str,
) -> anyhow::Result<(Resources, BTreeMap<Route, Method>)> {
    let (mut resources, mut routes) = (Resources::new(), BTreeMap::new());
    let mut pages = clients
        .apigateway
        .get_resources()
        .rest_api_id(api_id)
        .embed("methods")
        .limit(500)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.doing(|| format!("reading the routes of API {api_id}"))?;
        for resource in page.items() {
            let (Some(path), Some(id)) = (resource.path(), resource.id()) else {
                continue;
            };
            resources.insert(path.to_string(), id.to_string());
            for (verb, m) in resource.resource_methods().into_iter().flatten() {
                let integration = m.method_integration();
                let route = Route {
                    method: verb.clone(),
                    path: path.to_string(),
                };
                routes.insert(
                    route,
                    Method {
                        authorization_type: m.authorization_type().unwrap_or("NONE").to_string(),
                        api_key_required: m.api_key_required().unwrap_or(false),
                        integration_type: integration
                            .and_then(|i| i.r#type())
                            .map(|t| t.as_str().to_string()),
                        integration_http_method: integration
                            .and_then(|i| i.http_method())
                            .map(str::to_string),
                        uri: integration.and_then(|i| i.uri()).map(str::to_string),
                    },
                );
            }
        }
    }
    Ok((resources, routes))
}

/// The managed headers of each CORS response type. AWS lists every response type here, the
/// defaults included; an emulator may list only those that were put.
async fn read_gateway_responses(
    clients: &Clients,
    api_id: &str,
) -> anyhow::Result<BTreeMap<String, Params>> {
    let mut found: BTreeMap<String, Params> = CORS_RESPONSES
        .iter()
        .map(|r| (r.to_string(), Params::new()))
        .collect();
    // One page holds every response type (there are about 20), and the SDK has no paginator
    // for this operation.
    let page = clients
        .apigateway
        .get_gateway_responses()
        .rest_api_id(api_id)
        .limit(500)
        .send()
        .await
        .doing(|| format!("reading the gateway responses of API {api_id}"))?;
    for response in page.items() {
        let kind = response.response_type().map(|t| t.as_str().to_string());
        if let Some(params) = kind.and_then(|k| found.get_mut(&k)) {
            *params = response
                .response_parameters()
                .into_iter()
                .flatten()
                .filter(|(k, _)| *k == ALLOW_ORIGIN || *k == VARY)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests;
