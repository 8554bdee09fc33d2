//! API Gateway's execute-api, for the stages moto stores: `/_aws/execute-api/{api}/{stage}/…`
//! serves the deployment the stage points at, as it was when `CreateDeployment` ran (a route
//! added since is not served, as on AWS), with the stage's throttling, and each route's Lambda
//! proxy integration invoked only when the function's resource policy allows it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use hyper::Response;
use lambda_local::gateway::{self, GatewayResponses, Integration, Invoked, Stage, THROTTLED};
use lambda_local::{HttpRequest, Route};

use super::{access, function, metrics, DataPlane, Served, ACCOUNT, EXECUTE_API, REGION};
use crate::wire::Exchange;

/// What a deployment serves: its routes and gateway responses.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Snapshot {
    routes: Vec<gateway::Served>,
    responses: GatewayResponses,
}

/// Every deployment snapshotted, by API and deployment id.
#[derive(Debug, Default)]
pub(super) struct Deployments {
    by_id: Mutex<HashMap<(String, String), Arc<Snapshot>>>,
}

/// Snapshots the API when moto has accepted a `CreateDeployment`: that is what the deployment
/// serves, whatever changes after.
pub(super) async fn snapshot_new_deployment(
    dp: &DataPlane,
    ex: &Exchange<'_>,
    answer: &Response<Bytes>,
) {
    let segments: Vec<&str> = ex.path().trim_matches('/').split('/').collect();
    let ("apigateway", "POST", ["restapis", api, "deployments"]) =
        (ex.call.service.as_str(), ex.method(), segments.as_slice())
    else {
        return;
    };
    let created: serde_json::Value = serde_json::from_slice(answer.body()).unwrap_or_default();
    let Some(id) = created["id"].as_str() else {
        return;
    };
    if let Ok(snapshot) = read(dp, api).await {
        if let Ok(mut by_id) = dp.deployments.by_id.lock() {
            by_id.insert((api.to_string(), id.to_string()), Arc::new(snapshot));
        }
    }
}

/// The deployment `id` of `api`; one the data plane did not see made (made before it started,
/// or straight in moto) is read as the API is now, once.
async fn deployment(dp: &DataPlane, api: &str, id: &str) -> Result<Arc<Snapshot>, String> {
    let key = (api.to_string(), id.to_string());
    if let Some(known) = dp
        .deployments
        .by_id
        .lock()
        .ok()
        .and_then(|d| d.get(&key).cloned())
    {
        return Ok(known);
    }
    let snapshot = Arc::new(read(dp, api).await?);
    if let Ok(mut by_id) = dp.deployments.by_id.lock() {
        by_id.insert(key, Arc::clone(&snapshot));
    }
    Ok(snapshot)
}

/// The API's routes (every method of every resource, with its integration's URI) and its
/// gateway responses, as moto holds them now.
async fn read(dp: &DataPlane, api: &str) -> Result<Snapshot, String> {
    let gw = &dp.moto.apigateway;
    let resources = gw
        .get_resources()
        .rest_api_id(api)
        .embed("methods")
        .limit(500)
        .send()
        .await
        .map_err(|e| format!("reading the resources of API {api}: {e}"))?;
    let mut routes = Vec::new();
    for resource in resources.items() {
        let (Some(path), Some(id)) = (resource.path(), resource.id()) else {
            continue;
        };
        for (method, m) in resource.resource_methods().into_iter().flatten() {
            let uri = m
                .method_integration()
                .and_then(|i| i.uri())
                .unwrap_or_default();
            routes.push(gateway::Served {
                route: Route {
                    method: method.clone(),
                    path: path.to_string(),
                },
                resource_id: id.to_string(),
                uri: uri.to_string(),
            });
        }
    }
    let answers = gw
        .get_gateway_responses()
        .rest_api_id(api)
        .limit(500)
        .send()
        .await
        .map_err(|e| format!("reading the gateway responses of API {api}: {e}"))?;
    let by_type = answers
        .items()
        .iter()
        .filter_map(|r| {
            let kind = r.response_type()?.as_str().to_string();
            let params: BTreeMap<String, String> = r
                .response_parameters()?
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Some((kind, params))
        })
        .collect();
    Ok(Snapshot {
        routes,
        responses: GatewayResponses { by_type },
    })
}

/// `/_aws/execute-api/{api}/{stage}/{path}` → the API, the stage and the path below it.
fn parse_path(path: &str) -> Option<(String, String, String)> {
    let rest = path.strip_prefix(EXECUTE_API)?;
    let mut parts = rest.splitn(3, '/');
    let api = parts.next().filter(|a| !a.is_empty())?.to_string();
    let stage = parts.next().filter(|s| !s.is_empty())?.to_string();
    let below = format!("/{}", parts.next().unwrap_or(""));
    Some((api, stage, crate::realism::percent_decode(&below)))
}

/// The stage `stage` of `api` as it serves requests now, with its throttling (`rate`, `burst`).
async fn live_stage(dp: &DataPlane, api: &str, stage: &str) -> Option<(Stage, f64, f64)> {
    let live = dp
        .moto
        .apigateway
        .get_stage()
        .rest_api_id(api)
        .stage_name(stage)
        .send()
        .await
        .ok()?;
    let snapshot = deployment(dp, api, live.deployment_id()?).await.ok()?;
    // The account-level defaults apply when the stage sets no limits of its own.
    let (rate, burst) = live
        .method_settings()
        .and_then(|m| m.get("*/*"))
        .map(|s| {
            (
                s.throttling_rate_limit(),
                f64::from(s.throttling_burst_limit()),
            )
        })
        .unwrap_or((10_000.0, 5_000.0));
    let view = Stage {
        account_id: ACCOUNT.into(),
        api_id: api.into(),
        stage: stage.into(),
        domain_name: format!("{api}.execute-api.{REGION}.amazonaws.com"),
        routes: snapshot.routes.clone(),
        responses: snapshot.responses.clone(),
    };
    Some((view, rate, burst))
}

/// A request as API Gateway receives it.
fn request(
    parts: &hyper::http::request::Parts,
    path: String,
    body: Bytes,
    source_ip: &str,
    domain: &str,
) -> HttpRequest {
    let query = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    let decode = |s: &str| crate::realism::percent_decode(&s.replace('+', " "));
                    (decode(k), decode(v))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(k, _)| *k != hyper::header::HOST && *k != hyper::header::CONTENT_LENGTH)
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    headers.push(("host".into(), domain.to_string()));
    HttpRequest {
        method: parts.method.to_string(),
        path,
        query,
        headers,
        body: body.to_vec(),
        source_ip: source_ip.to_string(),
    }
}

/// Serves one request to an emulated stage.
pub(super) async fn serve(
    dp: &DataPlane,
    parts: &hyper::http::request::Parts,
    body: Bytes,
    source_ip: &str,
) -> Response<Bytes> {
    let started = Instant::now();
    let request_id = lambda_local::runtime_api::request_id();
    let Some((api, stage_name, path)) = parse_path(parts.uri.path()) else {
        return to_hyper(
            &GatewayResponses::default().answer(
                gateway::MISSING_AUTHENTICATION_TOKEN,
                &HttpRequest::default(),
            ),
            &request_id,
        );
    };
    let live = live_stage(dp, &api, &stage_name).await;
    let domain = format!("{api}.execute-api.{REGION}.amazonaws.com");
    let req = request(parts, path, body, source_ip, &domain);
    let integration = Lambda {
        dp,
        api: &api,
        stage: &stage_name,
        invoked: Mutex::new(None),
    };
    let response = match &live {
        None => GatewayResponses::default().answer(gateway::MISSING_AUTHENTICATION_TOKEN, &req),
        Some((stage, rate, burst)) => match stage.find(&req.method, &req.path) {
            Some(served)
                if !dp.buckets.take(
                    &format!("{api}/{stage_name}/{}", served.route),
                    *rate,
                    *burst,
                ) =>
            {
                stage.responses.answer(THROTTLED, &req)
            }
            _ => {
                gateway::handle(stage, &integration, &req, &request_id)
                    .await
                    .0
            }
        },
    };
    let invoked = integration.invoked.lock().ok().and_then(|i| i.clone());
    let served = Served {
        api,
        stage: stage_name,
        method: req.method,
        path: req.path,
        status: response.status,
        lambda_request_id: invoked.as_ref().map(|(id, _)| id.clone()),
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
    };
    let integration_ms = invoked.map(|(_, ms)| ms);
    account(dp, served, live.is_some(), integration_ms).await;
    to_hyper(&response, &request_id)
}

/// What a served request leaves behind: the record tests read and, when a stage served it,
/// API Gateway's metrics (with the integration's time if the function ran).
async fn account(dp: &DataPlane, served: Served, staged: bool, integration_ms: Option<f64>) {
    if staged {
        let published = metrics::GatewayRequest {
            api: &served.api,
            stage: &served.stage,
            status: served.status,
            latency_ms: served.latency_ms,
            integration_ms,
        };
        metrics::gateway(dp, &published).await;
    }
    if let Ok(mut all) = dp.served.lock() {
        all.push(served);
    }
}

/// The Lambda proxy integration of a stage's routes.
struct Lambda<'a> {
    dp: &'a DataPlane,
    api: &'a str,
    stage: &'a str,
    /// Lambda's request id of the invocation, once it ran, and how long the integration took.
    invoked: Mutex<Option<(String, f64)>>,
}

/// The function ARN an integration URI invokes:
/// `arn:aws:apigateway:R:lambda:path/2015-03-31/functions/{ARN}/invocations`.
fn function_of(uri: &str) -> Option<&str> {
    uri.split_once(":lambda:path/2015-03-31/functions/")?
        .1
        .strip_suffix("/invocations")
}

impl Integration for Lambda<'_> {
    async fn invoke(&self, served: &gateway::Served, event: Bytes) -> Invoked {
        let Some(function_arn) = function_of(&served.uri) else {
            return Invoked::Failed(format!(
                "{} has no Lambda proxy integration (URI {:?})",
                served.route, served.uri
            ));
        };
        // The method and resource path as configured, not as requested (`ANY`, `{id}`).
        let source_arn = format!(
            "arn:aws:execute-api:{REGION}:{ACCOUNT}:{}/{}/{}{}",
            self.api, self.stage, served.route.method, served.route.path
        );
        if let Err(why) = access::may_invoke(self.dp, function_arn, &source_arn).await {
            return Invoked::Forbidden(why);
        }
        let (name, qualifier) = super::split_arn(function_arn);
        let started = Instant::now();
        match function::run(self.dp, &name, qualifier.as_deref(), event).await {
            Ok(ran) => {
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                if let Ok(mut invoked) = self.invoked.lock() {
                    *invoked = Some((ran.invocation.request_id.clone(), ms));
                }
                match ran.payload() {
                    (payload, false) => Invoked::Response(payload),
                    (payload, true) => {
                        Invoked::Failed(String::from_utf8_lossy(&payload).into_owned())
                    }
                }
            }
            Err(answer) => Invoked::Failed(format!(
                "Lambda answered {}: {}",
                answer.status(),
                String::from_utf8_lossy(answer.body())
            )),
        }
    }
}

fn to_hyper(r: &lambda_local::HttpResponse, request_id: &str) -> Response<Bytes> {
    let mut builder = Response::builder()
        .status(r.status)
        .header("x-amzn-requestid", request_id);
    for (k, v) in &r.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder
        .body(Bytes::from(r.body.clone()))
        .unwrap_or_else(|_| Response::new(Bytes::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_urls_and_integration_uris_are_read_as_aws_writes_them() {
        assert_eq!(
            parse_path("/_aws/execute-api/a1b2/prod/counter"),
            Some(("a1b2".into(), "prod".into(), "/counter".into()))
        );
        assert_eq!(
            parse_path("/_aws/execute-api/a1b2/prod"),
            Some(("a1b2".into(), "prod".into(), "/".into()))
        );
        assert_eq!(parse_path("/_aws/execute-api/a1b2"), None);
        assert_eq!(
            function_of(
                "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/\
                 arn:aws:lambda:us-east-1:1:function:vc-prod:live/invocations"
            ),
            Some("arn:aws:lambda:us-east-1:1:function:vc-prod:live")
        );
        assert_eq!(function_of("http://example.com"), None);
    }
}
