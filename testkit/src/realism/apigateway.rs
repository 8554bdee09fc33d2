//! API Gateway's control plane as it really behaves: per-account quotas on CreateRestApi,
//! DeleteRestApi and CreateDeployment (429 with `Retry-After`), PutMethod refused on a method that exists, and
//! GetRestApis that does not list a new API at once.

use std::time::{Duration, Instant};

use super::{left, rewrite_json, too_many_requests, within, Answer, Layer, Met};
use crate::faults;
use crate::wire::{Exchange, Upstream};

/// Refuses what real API Gateway would refuse now.
pub(super) async fn before(
    layer: &Layer,
    ex: &Exchange<'_>,
    upstream: &Upstream,
) -> Option<Answer> {
    let c = &layer.config;
    let segments: Vec<&str> = ex.path().trim_matches('/').split('/').collect();
    match (ex.method(), segments.as_slice()) {
        ("POST", ["restapis"]) => quota(layer, c.create_rest_api_every, |w| &mut w.last_create_api),
        ("DELETE", ["restapis", _]) => {
            quota(layer, c.delete_rest_api_every, |w| &mut w.last_delete_api)
        }
        ("POST", ["restapis", _, "deployments"]) => {
            quota(layer, c.create_deployment_every, |w| &mut w.last_deployment)
        }
        ("PUT", ["restapis", _, "resources", _, "methods", _]) if c.put_method_conflicts => {
            let exists = upstream.peek_rest(ex, "GET", ex.path()).await.is_some();
            exists.then(|| {
                layer.met(Met::MethodExists);
                faults::aws_error(
                    "apigateway",
                    409,
                    "ConflictException",
                    "Method already exists for this resource",
                )
            })
        }
        _ => None,
    }
}

/// One call every `every` per account: a 429 saying how long to wait, or `None` (and the call
/// counts) when the quota allows it.
fn quota(
    layer: &Layer,
    every: Duration,
    last: impl FnOnce(&mut super::World) -> &mut Option<Instant>,
) -> Option<Answer> {
    let mut world = layer.world();
    let last = last(&mut world);
    let wait = left(*last, every);
    if wait.is_zero() {
        *last = Some(Instant::now());
        return None;
    }
    drop(world);
    layer.met(Met::ApiQuota);
    Some(too_many_requests(wait))
}

/// Remembers new APIs, and leaves them out of GetRestApis for a while.
pub(super) fn after(layer: &Layer, ex: &Exchange<'_>, answer: Answer) -> Answer {
    let lag = layer.config.rest_apis_lag;
    match (ex.method(), ex.path().trim_end_matches('/')) {
        ("POST", "/restapis") => {
            let (answer, v) = rewrite_json(&answer, |_| {});
            if let Some(id) = v["id"].as_str() {
                layer
                    .world()
                    .new_apis
                    .insert(id.to_string(), Instant::now());
            }
            answer
        }
        ("GET", "/restapis") if !lag.is_zero() => {
            let world = layer.world();
            let mut hidden = false;
            let listed = rewrite_json(&answer, |v| {
                if let Some(items) = v["item"].as_array_mut() {
                    let before = items.len();
                    items.retain(|api| {
                        let created = api["id"]
                            .as_str()
                            .and_then(|id| world.new_apis.get(id).copied());
                        !within(created, lag)
                    });
                    hidden = items.len() < before;
                }
            });
            drop(world);
            if hidden {
                layer.met(Met::RestApisLag);
            }
            listed.0
        }
        _ => answer,
    }
}
