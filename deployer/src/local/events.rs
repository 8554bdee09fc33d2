//! HTTP requests to API Gateway REST v1 proxy events, and the function's proxy responses back to
//! HTTP, as API Gateway does it: the event the function receives locally is the event it will
//! receive on AWS.
//!
//! Written by hand because no crate builds REST v1 events from plain HTTP: cargo-lambda emulates
//! only the HTTP API v2 shape, and AWS's runtime interface emulator builds no API Gateway event.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::stack::Route;

/// A request as the local API received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpRequest {
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub source_ip: String,
}

/// A response as the local API sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    fn json(status: u16, body: Value) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// API Gateway's answer to a path or method no route matches.
    pub fn missing_authentication_token() -> HttpResponse {
        HttpResponse::json(403, json!({"message": "Missing Authentication Token"}))
    }

    /// API Gateway's answer when the function failed, timed out or answered garbage.
    pub fn internal_server_error() -> HttpResponse {
        HttpResponse::json(502, json!({"message": "Internal server error"}))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The stack's routes, as API Gateway would match them, and the headers API Gateway adds to its
/// own error answers (the gateway responses `up` deploys).
#[derive(Debug, Clone, PartialEq)]
pub struct Routes {
    pub stage: String,
    pub routes: Vec<Route>,
    /// `gatewayresponse.header.X` → its mapping (`'value'`, or `method.request.header.Y`).
    pub gateway_headers: Vec<(String, String)>,
}

impl Routes {
    /// The routes `up` deploys, including the `OPTIONS` preflight routes it adds for CORS.
    pub fn of(stack: &crate::stack::Stack) -> Routes {
        let routes = stack.api.served_routes();
        let gateway_headers = crate::resources::api::gateway_responses(&stack.api.cors_origins)
            .into_values()
            .next()
            .unwrap_or_default()
            .into_iter()
            .collect();
        Routes {
            stage: stack.stage.clone(),
            routes,
            gateway_headers,
        }
    }

    /// Adds the gateway responses' headers to one of API Gateway's own answers, mapped as API
    /// Gateway maps them: a quoted value as is, `method.request.header.X` from the request.
    pub fn gateway_response(&self, mut response: HttpResponse, req: &HttpRequest) -> HttpResponse {
        for (param, mapping) in &self.gateway_headers {
            let Some(name) = param.strip_prefix("gatewayresponse.header.") else {
                continue;
            };
            let value = match mapping.strip_prefix("method.request.header.") {
                Some(header) => req
                    .headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(header))
                    .map(|(_, v)| v.clone()),
                None => Some(mapping.trim_matches('\'').to_string()),
            };
            if let Some(value) = value {
                response.headers.push((name.to_string(), value));
            }
        }
        response
    }

    /// The route serving `method path`; the path may carry the stage prefix, as stage URLs do.
    pub fn find(&self, method: &str, path: &str) -> Option<&Route> {
        let path = self.without_stage(path);
        self.routes
            .iter()
            .find(|r| r.path == path && (r.method == method || r.method == "ANY"))
    }

    pub fn without_stage<'a>(&self, path: &'a str) -> &'a str {
        match path
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(self.stage.as_str()))
        {
            Some(rest) if rest.starts_with('/') => rest,
            _ => path,
        }
    }
}

/// The REST v1 proxy event for `req` on `route`.
pub fn to_event(req: &HttpRequest, route: &Route, routes: &Routes, request_id: &str) -> Value {
    let path = routes.without_stage(&req.path).to_string();
    let multi_headers = multi(&req.headers);
    let headers = last_of(&multi_headers);
    let multi_query = multi(&req.query);
    let (query, multi_query) = if multi_query.is_empty() {
        (Value::Null, Value::Null)
    } else {
        (Value::Object(last_of(&multi_query)), json!(multi_query))
    };
    let (body, is_base64) = match (req.body.is_empty(), std::str::from_utf8(&req.body)) {
        (true, _) => (Value::Null, false),
        (false, Ok(text)) => (json!(text), false),
        (false, Err(_)) => (
            json!(base64::engine::general_purpose::STANDARD.encode(&req.body)),
            true,
        ),
    };
    let user_agent = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
        .map(|(_, v)| v.clone());
    json!({
        "resource": route.path,
        "path": path,
        "httpMethod": req.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "resourceId": "local",
            "stage": routes.stage,
            "requestId": request_id,
            "httpMethod": req.method,
            "path": format!("/{}{}", routes.stage, path),
            "resourcePath": route.path,
            "protocol": "HTTP/1.1",
            "requestTimeEpoch": now_ms(),
            "identity": {"sourceIp": req.source_ip, "userAgent": user_agent},
        },
        "body": body,
        "isBase64Encoded": is_base64,
    })
}

/// Pairs grouped by key, in order: the `multiValue…` maps of a REST v1 event.
fn multi(pairs: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in pairs {
        grouped.entry(k.clone()).or_default().push(v.clone());
    }
    grouped
}

/// The last value of each key: the single-value maps, as API Gateway fills them.
fn last_of(grouped: &BTreeMap<String, Vec<String>>) -> Map<String, Value> {
    grouped
        .iter()
        .filter_map(|(k, v)| v.last().map(|last| (k.clone(), json!(last))))
        .collect()
}

fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// The HTTP response for a function's proxy response, or why it is not one (API Gateway then
/// answers 502).
pub fn from_response(payload: &[u8]) -> Result<HttpResponse, String> {
    let v: Value = serde_json::from_slice(payload)
        .map_err(|e| format!("the function's response is not JSON: {e}"))?;
    let status = v
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (100..=599).contains(s))
        .ok_or("the function's response has no valid statusCode")?;
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(Value::Object(multi)) = v.get("multiValueHeaders") {
        for (k, values) in multi {
            for value in values.as_array().into_iter().flatten() {
                headers.push((k.to_lowercase(), value_text(value)));
            }
        }
    }
    if let Some(Value::Object(single)) = v.get("headers") {
        for (k, value) in single {
            // Like API Gateway: multiValueHeaders win where both name a header.
            if !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(k)) {
                headers.push((k.to_lowercase(), value_text(value)));
            }
        }
    }
    let body = match v.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if v.get("isBase64Encoded") == Some(&Value::Bool(true)) => {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| format!("the function's body is not valid base64: {e}"))?
        }
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Routes {
        Routes {
            stage: "prod".into(),
            routes: vec![
                Route {
                    method: "GET".into(),
                    path: "/counter".into(),
                },
                Route {
                    method: "OPTIONS".into(),
                    path: "/counter".into(),
                },
                Route {
                    method: "ANY".into(),
                    path: "/echo".into(),
                },
            ],
            gateway_headers: vec![],
        }
    }

    #[test]
    fn routes_match_with_or_without_the_stage_prefix() {
        let r = routes();
        assert_eq!(
            r.find("GET", "/counter").map(|r| r.path.as_str()),
            Some("/counter")
        );
        assert_eq!(
            r.find("GET", "/prod/counter").map(|r| r.path.as_str()),
            Some("/counter")
        );
        assert!(r.find("POST", "/counter").is_none());
        assert!(r.find("GET", "/production/counter").is_none());
        assert!(
            r.find("DELETE", "/echo").is_some(),
            "ANY takes every method"
        );
        assert!(r.find("GET", "/nope").is_none());
    }

    #[test]
    fn the_event_carries_path_query_headers_and_context() {
        let r = routes();
        let req = HttpRequest {
            method: "GET".into(),
            path: "/prod/counter".into(),
            query: vec![
                ("a".into(), "1".into()),
                ("a".into(), "2".into()),
                ("b".into(), "x".into()),
            ],
            headers: vec![
                ("accept".into(), "text/a".into()),
                ("accept".into(), "text/b".into()),
                ("user-agent".into(), "t/1".into()),
            ],
            body: Vec::new(),
            source_ip: "127.0.0.1".into(),
        };
        let route = r
            .find("GET", &req.path)
            .cloned()
            .unwrap_or_else(|| panic!("no route"));
        let e = to_event(&req, &route, &r, "req-1");
        assert_eq!(e["path"], "/counter");
        assert_eq!(e["resource"], "/counter");
        assert_eq!(e["requestContext"]["path"], "/prod/counter");
        assert_eq!(e["requestContext"]["stage"], "prod");
        assert_eq!(e["requestContext"]["requestId"], "req-1");
        assert_eq!(e["requestContext"]["resourcePath"], "/counter");
        assert_eq!(e["requestContext"]["identity"]["sourceIp"], "127.0.0.1");
        assert_eq!(e["queryStringParameters"], json!({"a": "2", "b": "x"}));
        assert_eq!(
            e["multiValueQueryStringParameters"],
            json!({"a": ["1", "2"], "b": ["x"]})
        );
        assert_eq!(e["headers"]["accept"], "text/b");
        assert_eq!(
            e["multiValueHeaders"]["accept"],
            json!(["text/a", "text/b"])
        );
        assert_eq!(e["body"], Value::Null);
        assert_eq!(e["isBase64Encoded"], false);
        // And lambda_http, which the function uses, reads it as a REST v1 request.
        let parsed = lambda_http_parses(&e);
        assert!(parsed, "lambda_http could not parse {e}");
    }

    /// The function reads events through lambda_http: the event must parse as REST v1 there,
    /// with the path and stage the function routes on.
    fn lambda_http_parses(e: &Value) -> bool {
        use lambda_http::RequestExt;
        match lambda_http::request::from_str(&e.to_string()) {
            Ok(req) => {
                matches!(
                    req.request_context_ref(),
                    Some(lambda_http::request::RequestContext::ApiGatewayV1(_))
                ) && req.raw_http_path() == "/counter"
                    && req.method() == "GET"
            }
            Err(_) => false,
        }
    }

    #[test]
    fn a_binary_body_is_base64_and_text_stays_text() {
        let r = routes();
        let route = Route {
            method: "ANY".into(),
            path: "/echo".into(),
        };
        let mut req = HttpRequest {
            method: "POST".into(),
            path: "/echo".into(),
            body: vec![0xff, 0x00, 0xfe],
            ..Default::default()
        };
        let e = to_event(&req, &route, &r, "id");
        assert_eq!(
            (e["body"].clone(), e["isBase64Encoded"].clone()),
            (json!("/wD+"), json!(true))
        );
        req.body = b"{\"a\":1}".to_vec();
        let e = to_event(&req, &route, &r, "id");
        assert_eq!(
            (e["body"].clone(), e["isBase64Encoded"].clone()),
            (json!("{\"a\":1}"), json!(false))
        );
    }

    #[test]
    fn responses_map_back_with_multi_value_headers_and_base64_bodies() {
        let r = from_response(
            br#"{"statusCode":201,"headers":{"Content-Type":"application/json","X-One":"a"},
                 "multiValueHeaders":{"Set-Cookie":["a=1","b=2"],"x-one":["b"]},"body":"{\"ok\":true}","isBase64Encoded":false}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status, 201);
        assert_eq!(r.body, b"{\"ok\":true}");
        let cookies: Vec<_> = r
            .headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(r.header("x-one"), Some("b"));
        assert_eq!(r.header("content-type"), Some("application/json"));

        let b = from_response(br#"{"statusCode":200,"body":"/wD+","isBase64Encoded":true}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.body, [0xff, 0x00, 0xfe]);
    }

    #[test]
    fn garbage_from_the_function_is_refused() {
        assert!(from_response(b"not json").is_err());
        assert!(from_response(br#"{"body":"no status"}"#).is_err());
        assert!(from_response(br#"{"statusCode":99}"#).is_err());
        assert_eq!(HttpResponse::missing_authentication_token().status, 403);
        assert_eq!(HttpResponse::internal_server_error().status, 502);
    }
}
