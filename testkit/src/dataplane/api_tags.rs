//! A REST API's tags as API Gateway keeps them. moto 5.2.5's `TagResource` and `UntagResource`
//! take every ARN for a stage's (`…/restapis/{id}/stages/{stage}`): on a REST API's own ARN
//! they fail with an empty 500, so an API made without tags (by hand, in the console) could
//! never be tagged. Here those two calls are answered for a REST API's ARN, its tag set kept
//! beside moto's, and GetRestApi and GetRestApis show that set, as API Gateway would.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;
use hyper::Response;
use serde_json::{json, Value};

use super::DataPlane;
use crate::realism::{percent_decode, rewrite_json};
use crate::wire::Exchange;

type Tags = BTreeMap<String, String>;

/// REST API id → its whole tag set, once tagged or untagged here.
#[derive(Debug, Default)]
pub(super) struct ApiTags {
    by_api: Mutex<BTreeMap<String, Tags>>,
}

/// The REST API a tagging call names, when its ARN is a REST API's (not a stage's).
fn tagged_api(ex: &Exchange<'_>) -> Option<String> {
    if ex.call.service != "apigateway" {
        return None;
    }
    let arn = percent_decode(ex.path().strip_prefix("/tags/")?);
    let (_, path) = arn.split_once("::/restapis/")?;
    (!path.is_empty() && !path.contains('/')).then(|| path.to_string())
}

/// The tags of the REST API an API Gateway request acts on, by its path or by the ARN a tagging
/// call names: what IAM reads as `aws:ResourceTag` (a stage, a method, a deployment inherit
/// their API's tags for attribute-based access control). `None` for the listing and the create.
pub(crate) async fn of_request(dp: &DataPlane, ex: &Exchange<'_>) -> Option<Tags> {
    if ex.call.service != "apigateway" {
        return None;
    }
    let path = percent_decode(ex.path());
    let id = path.split("/restapis/").nth(1)?.split('/').next()?;
    current(dp, id).await
}

/// TagResource and UntagResource on a REST API's ARN, answered here.
pub(super) async fn before(dp: &DataPlane, ex: &Exchange<'_>) -> Option<Response<Bytes>> {
    let api = tagged_api(ex)?;
    let mut tags = current(dp, &api).await?;
    match ex.method() {
        "PUT" => {
            let body = ex.json();
            for (k, v) in body["tags"].as_object().into_iter().flatten() {
                tags.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
            }
        }
        "DELETE" => {
            for key in untag_keys(ex) {
                tags.remove(&key);
            }
        }
        _ => return None,
    }
    if let Ok(mut by_api) = dp.api_tags.by_api.lock() {
        by_api.insert(api, tags);
    }
    Some(
        Response::builder()
            .status(204)
            .body(Bytes::new())
            .unwrap_or_else(|_| Response::new(Bytes::new())),
    )
}

/// The API's tags now: the set kept here, or moto's; `None` when the API does not exist (moto
/// then answers the call itself, with its NotFound).
async fn current(dp: &DataPlane, api: &str) -> Option<Tags> {
    if let Some(kept) = dp.api_tags.by_api.lock().ok()?.get(api).cloned() {
        return Some(kept);
    }
    let got = dp
        .moto
        .apigateway
        .get_rest_api()
        .rest_api_id(api)
        .send()
        .await;
    Some(got.ok()?.tags.unwrap_or_default().into_iter().collect())
}

/// `tagKeys`, each time it is given.
fn untag_keys(ex: &Exchange<'_>) -> Vec<String> {
    let query = ex.parts.uri.query().unwrap_or_default();
    query
        .split('&')
        .filter_map(|p| p.strip_prefix("tagKeys="))
        .map(percent_decode)
        .collect()
}

/// GetRestApi and GetRestApis, with the tag sets kept here.
pub(super) fn after(dp: &DataPlane, ex: &Exchange<'_>, answer: Response<Bytes>) -> Response<Bytes> {
    if ex.call.service != "apigateway" || ex.method() != "GET" {
        return answer;
    }
    let segments: Vec<&str> = ex.path().trim_matches('/').split('/').collect();
    if !matches!(segments.as_slice(), ["restapis"] | ["restapis", _]) {
        return answer;
    }
    let Ok(kept) = dp.api_tags.by_api.lock().map(|k| k.clone()) else {
        return answer;
    };
    if kept.is_empty() {
        return answer;
    }
    let show = |api: &mut Value| {
        if let Some(tags) = api["id"].as_str().and_then(|id| kept.get(id)) {
            api["tags"] = json!(tags);
        }
    };
    rewrite_json(&answer, |v| match v["item"].as_array_mut() {
        Some(items) => items.iter_mut().for_each(show),
        None => show(v),
    })
    .0
}
