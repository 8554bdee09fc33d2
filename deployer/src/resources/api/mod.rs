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
mod read;
mod routes;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::tags::{self, Tags, TAGS};
use super::{Ctx, Needs, Removed, Resource};
use crate::arns::Arns;
use crate::aws::Clients;
use crate::conventions::{STACK_TAG, STAGE_TAG};
use crate::names::{self, Names};
use crate::plan::{Change, Describe, Differ, Kind, Update};
use crate::stack::{Route, Stack};

pub use apply::{create, delete_api};
pub use read::{details, find, tagged};

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
    /// Its name: what API Gateway's metrics call it (`ApiName`).
    pub name: String,
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
            name: String::new(),
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

    fn tags(o: &Observed) -> Option<&Tags> {
        Some(&o.ours.tags)
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
        // Responses customized outside the stack (an adopted API's): reset to AWS's default.
        for (kind, live) in &api.gateway_responses {
            if !d.gateway_responses.contains_key(kind) {
                diff.field(&Params::new(), live, |update| ApiChange::GatewayResponse {
                    api: api.id.clone(),
                    kind: kind.clone(),
                    update,
                });
            }
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

#[cfg(test)]
mod tests;
