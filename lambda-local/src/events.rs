//! HTTP requests to API Gateway REST v1 proxy events, and the function's proxy responses back to
//! HTTP, as API Gateway does it: the event the function receives here is the event it will
//! receive on AWS.
//!
//! The event is built as `aws_lambda_events`' typed `ApiGatewayProxyRequest`, the shape the
//! function's own runtime (`lambda_http`) reads, then adjusted where API Gateway's JSON differs
//! from that type's serialisation: API Gateway sends `null`, not `{}`, for absent query strings,
//! path parameters and stage variables, and the last value of a repeated header or query key in
//! the single-value maps.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyRequestContext};
use aws_lambda_events::http::{HeaderMap, HeaderName, HeaderValue, Method};
use aws_lambda_events::query_map::QueryMap;
use base64::Engine as _;
use serde_json::Value;

/// One API route, `GET /counter`: a method on a resource path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    pub method: String,
    pub path: String,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

impl Route {
    /// `"GET /counter"` → the route; `None` unless it is a method and a path.
    pub fn parse(text: &str) -> Option<Route> {
        let (method, path) = text.split_once(' ')?;
        Some(Route {
            method: method.to_string(),
            path: path.to_string(),
        })
    }
}

/// A request as the API received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpRequest {
    pub method: String,
    /// The path below the stage, without the query string: `/counter`.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub source_ip: String,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response as the API sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What API Gateway knows of a request besides the request itself: where it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub account_id: String,
    pub api_id: String,
    pub stage: String,
    /// The id of the API resource the route's path is.
    pub resource_id: String,
    /// API Gateway's own id of the request (not Lambda's).
    pub request_id: String,
    pub domain_name: String,
}

/// The REST v1 proxy event for `req` on `route`.
pub fn to_event(req: &HttpRequest, route: &Route, ctx: &Context) -> Value {
    let mut event = ApiGatewayProxyRequest::default();
    event.resource = Some(route.path.clone());
    event.path = Some(req.path.clone());
    event.http_method = method(&req.method);
    (event.headers, event.multi_value_headers) = header_maps(&req.headers);
    let grouped = grouped(&req.query);
    let last: HashMap<String, String> = grouped
        .iter()
        .filter_map(|(k, v)| v.last().map(|last| (k.clone(), last.clone())))
        .collect();
    event.query_string_parameters = QueryMap::from(last);
    event.multi_value_query_string_parameters =
        QueryMap::from(grouped.into_iter().collect::<HashMap<_, _>>());
    (event.body, event.is_base64_encoded) = body(&req.body);
    event.request_context = context(req, route, ctx);
    let mut value = serde_json::to_value(&event).unwrap_or(Value::Null);
    for absent in [
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
    ] {
        if value[absent].as_object().is_some_and(|m| m.is_empty()) {
            value[absent] = Value::Null;
        }
    }
    value
}

fn method(text: &str) -> Method {
    Method::from_bytes(text.as_bytes()).unwrap_or(Method::GET)
}

fn context(req: &HttpRequest, route: &Route, ctx: &Context) -> ApiGatewayProxyRequestContext {
    let mut c = ApiGatewayProxyRequestContext::default();
    c.account_id = Some(ctx.account_id.clone());
    c.apiid = Some(ctx.api_id.clone());
    c.resource_id = Some(ctx.resource_id.clone());
    c.stage = Some(ctx.stage.clone());
    c.request_id = Some(ctx.request_id.clone());
    c.http_method = method(&req.method);
    c.path = Some(format!("/{}{}", ctx.stage, req.path));
    c.resource_path = Some(route.path.clone());
    c.protocol = Some("HTTP/1.1".into());
    c.domain_name = Some(ctx.domain_name.clone());
    c.domain_prefix = ctx.domain_name.split('.').next().map(str::to_string);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    c.request_time_epoch = i64::try_from(now.as_millis()).unwrap_or(i64::MAX);
    c.identity.source_ip = Some(req.source_ip.clone());
    c.identity.user_agent = req.header("user-agent").map(str::to_string);
    c
}

/// The single-value headers (the last value of each) and the multi-value ones.
fn header_maps(pairs: &[(String, String)]) -> (HeaderMap, HeaderMap) {
    let (mut single, mut multi) = (HeaderMap::new(), HeaderMap::new());
    for (k, v) in pairs {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) else {
            continue;
        };
        single.insert(name.clone(), value.clone());
        multi.append(name, value);
    }
    (single, multi)
}

/// Pairs grouped by key, in order.
fn grouped(pairs: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in pairs {
        grouped.entry(k.clone()).or_default().push(v.clone());
    }
    grouped
}

/// A text body as it is; anything else in base64, flagged.
fn body(bytes: &[u8]) -> (Option<String>, bool) {
    match (bytes.is_empty(), std::str::from_utf8(bytes)) {
        (true, _) => (None, false),
        (false, Ok(text)) => (Some(text.to_string()), false),
        (false, Err(_)) => (
            Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            true,
        ),
    }
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
    use serde_json::json;

    fn ctx() -> Context {
        Context {
            account_id: "123456789012".into(),
            api_id: "a1b2c3".into(),
            stage: "prod".into(),
            resource_id: "r1".into(),
            request_id: "req-1".into(),
            domain_name: "a1b2c3.execute-api.us-east-1.amazonaws.com".into(),
        }
    }

    fn counter() -> Route {
        Route {
            method: "GET".into(),
            path: "/counter".into(),
        }
    }

    #[test]
    fn the_event_carries_path_query_headers_and_context() {
        let req = HttpRequest {
            method: "GET".into(),
            path: "/counter".into(),
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
        let e = to_event(&req, &counter(), &ctx());
        assert_eq!(e["path"], "/counter");
        assert_eq!(e["resource"], "/counter");
        assert_eq!(e["httpMethod"], "GET");
        let c = &e["requestContext"];
        assert_eq!(c["path"], "/prod/counter");
        assert_eq!(c["stage"], "prod");
        assert_eq!(c["requestId"], "req-1");
        assert_eq!(c["resourcePath"], "/counter");
        assert_eq!(c["apiId"], "a1b2c3");
        assert_eq!(c["accountId"], "123456789012");
        assert_eq!(c["domainPrefix"], "a1b2c3");
        assert_eq!(c["identity"]["sourceIp"], "127.0.0.1");
        assert_eq!(c["identity"]["userAgent"], "t/1");
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
        assert_eq!(e["pathParameters"], Value::Null);
        assert_eq!(e["isBase64Encoded"], false);
        // And lambda_http, which the function uses, reads it as a REST v1 request.
        use lambda_http::RequestExt;
        let parsed = lambda_http::request::from_str(&e.to_string())
            .unwrap_or_else(|err| panic!("lambda_http could not parse {e}: {err}"));
        assert!(matches!(
            parsed.request_context_ref(),
            Some(lambda_http::request::RequestContext::ApiGatewayV1(_))
        ));
        assert_eq!(parsed.raw_http_path(), "/counter");
        assert_eq!(parsed.method(), "GET");
    }

    #[test]
    fn a_binary_body_is_base64_and_text_stays_text() {
        let mut req = HttpRequest {
            method: "POST".into(),
            path: "/echo".into(),
            body: vec![0xff, 0x00, 0xfe],
            ..Default::default()
        };
        let e = to_event(&req, &counter(), &ctx());
        assert_eq!(
            (e["body"].clone(), e["isBase64Encoded"].clone()),
            (json!("/wD+"), json!(true))
        );
        req.body = b"{\"a\":1}".to_vec();
        let e = to_event(&req, &counter(), &ctx());
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
    }
}
