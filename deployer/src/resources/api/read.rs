//! Reading the stack's API: found by its tags (REST APIs are not unique by name), then its
//! routes and gateway responses.

use std::collections::BTreeMap;

use super::{LiveApi, Method, Observed, Params, Resources, ALLOW_ORIGIN, CORS_RESPONSES, VARY};
use crate::aws::{AwsContext, Clients, Found};
use crate::conventions::{STACK_TAG, STAGE_TAG};
use crate::names::Names;
use crate::resources::stage;
use crate::resources::tags::Tags;
use crate::stack::Route;

/// The APIs tagged as the stack's, the stack's own first: the one `api.id` names (whatever its
/// tags say: adopting it is for the plan to allow), else the one serving the stage, so that
/// removing a duplicate never takes the live API down; then the oldest (creation times tie
/// within a second). The stage is read only when there are duplicates to choose from.
pub async fn find(clients: &Clients, names: &Names) -> anyhow::Result<Vec<LiveApi>> {
    let mut apis = tagged(clients, &names.tags).await?;
    if let Some(id) = &names.api_id {
        if !apis.iter().any(|a| &a.id == id) {
            apis.insert(0, named(clients, names, id).await?);
        }
        apis.sort_by_key(|a| &a.id != id);
        return Ok(apis);
    }
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

/// The API `api.id` names, read by its id (a listing would show its tags too, but the API is
/// named, and GetRestApi is consistent). One that does not exist is an error: the stack names it
/// so that its URL stays, and a new API would have another.
async fn named(clients: &Clients, names: &Names, id: &str) -> anyhow::Result<LiveApi> {
    let got = clients
        .apigateway
        .get_rest_api()
        .rest_api_id(id)
        .send()
        .await;
    let what = || format!("reading REST API {id} (api.id in stack.yaml)");
    let Some(api) = got.found(what)? else {
        anyhow::bail!(
            "api.id in stack.yaml names REST API {id}, and there is none in {}: check the id \
             (the 10 characters before .execute-api. in its URL) and the region, or remove \
             api.id to let the deployer make the stack's own API",
            names.region
        );
    };
    Ok(LiveApi {
        name: api.name().unwrap_or_default().to_string(),
        created: api.created_date().map(|d| d.as_nanos()).unwrap_or_default(),
        tags: api
            .tags()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        ..LiveApi::bare(id)
    })
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
                    name: api.name().unwrap_or_default().to_string(),
                    created: api.created_date().map(|d| d.as_nanos()).unwrap_or_default(),
                    tags: live,
                    ..LiveApi::bare(id)
                });
            }
        }
    }
    Ok(apis)
}

/// What a customized gateway response holds, as one map: its parameters, its status code
/// (`statusCode`) and its templates (`template:<content type>`), so that even one customized
/// by its status alone shows as something to reset.
fn customized(response: &aws_sdk_apigateway::types::GatewayResponse) -> Params {
    let mut held: Params = response
        .response_parameters()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(code) = response.status_code() {
        held.insert("statusCode".into(), code.to_string());
    }
    for (content, template) in response.response_templates().into_iter().flatten() {
        held.insert(format!("template:{content}"), template.clone());
    }
    if held.is_empty() {
        held.insert("customized".into(), "true".into());
    }
    held
}

/// The API's resources by path, and its routes.
pub(super) async fn read_routes(
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
        let Some(kind) = response.response_type().map(|t| t.as_str().to_string()) else {
            continue;
        };
        match found.get_mut(&kind) {
            Some(params) => {
                *params = response
                    .response_parameters()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| *k == ALLOW_ORIGIN || *k == VARY)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
            }
            // Another response someone customized (an adopted API's, or a hand edit): the
            // stack names none, so the plan resets it, showing what it held.
            None if !response.default_response() => {
                found.insert(kind, customized(response));
            }
            None => {}
        }
    }
    Ok(found)
}
