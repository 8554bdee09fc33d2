//! What a request to AWS is, as the proxy sees it: its service and operation in any of the
//! AWS protocols ([`classify`]), the request itself for the realism layer to read
//! ([`Exchange`]), and moto as the proxy reaches it ([`Upstream`]).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;

/// One AWS request, as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The SigV4 signing name: `dynamodb`, `iam`, `lambda`, `apigateway`, `logs`, `sts`.
    pub service: String,
    /// `UpdateItem`, `GetRole`… for JSON and query protocols; `GET /2015-03-31/functions/f` for
    /// REST protocols.
    pub operation: String,
    pub write: bool,
    /// The answer's HTTP status: 0 until it is known, and for a request answered with a reset.
    pub status: u16,
    /// When the proxy received it, since the proxy started.
    pub sent: Duration,
    /// When its answer left the proxy; `None` for a reset.
    pub answered: Option<Duration>,
    /// The function whose process sent it (through the emulated data plane), or `None` for
    /// the caller under test.
    pub caller: Option<String>,
}

impl Call {
    /// Whether the request was answered with success (2xx).
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Only the writes among `calls`, as `service Operation` strings.
    pub fn writes(calls: &[Call]) -> Vec<String> {
        calls
            .iter()
            .filter(|c| c.write)
            .map(|c| format!("{} {}", c.service, c.operation))
            .collect()
    }

    /// Only the writes among `calls` that AWS accepted (2xx), as `service Operation` strings:
    /// what changed, without the attempts refused for now (a quota, a resource still settling).
    pub fn applied(calls: &[Call]) -> Vec<String> {
        calls
            .iter()
            .filter(|c| c.write && c.succeeded())
            .map(|c| format!("{} {}", c.service, c.operation))
            .collect()
    }
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}{}",
            self.service,
            self.operation,
            if self.write { " (write)" } else { "" }
        )
    }
}

/// One request as the proxy received it, for the realism layer to read.
pub struct Exchange<'a> {
    pub call: &'a Call,
    pub parts: &'a hyper::http::request::Parts,
    pub body: &'a Bytes,
}

impl Exchange<'_> {
    pub fn method(&self) -> &str {
        self.parts.method.as_str()
    }

    pub fn path(&self) -> &str {
        self.parts.uri.path()
    }

    /// The access key that signed the request (SigV4's `Credential=KEY/…`).
    pub fn access_key(&self) -> Option<&str> {
        access_key(self.parts)
    }

    /// The query parameter `key`, decoded (`?Qualifier=live`).
    pub fn query(&self, key: &str) -> Option<String> {
        self.parts.uri.query().and_then(|q| {
            q.split('&')
                .find_map(|p| p.strip_prefix(key)?.strip_prefix('='))
                .map(percent_decode)
        })
    }

    /// The body as JSON, or `Null`; a CBOR body (CloudWatch's RPC v2 protocol) as the same
    /// JSON (a timestamp as its number).
    pub fn json(&self) -> serde_json::Value {
        if is_cbor(self.parts) {
            return ciborium::from_reader(self.body.as_ref()).unwrap_or(serde_json::Value::Null);
        }
        serde_json::from_slice(self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// moto, as the proxy reaches it.
#[derive(Clone)]
pub(crate) struct Upstream {
    pub(crate) client: Client<HttpConnector, Full<Bytes>>,
    pub(crate) base: String,
}

impl Upstream {
    /// Sends a request on to moto, unchanged, and returns its whole answer.
    pub(crate) async fn forward(
        &self,
        parts: &hyper::http::request::Parts,
        body: Bytes,
    ) -> Response<Bytes> {
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        self.send(parts.method.clone(), path, &parts.headers, body)
            .await
    }

    async fn send(
        &self,
        method: hyper::Method,
        path: &str,
        headers: &hyper::HeaderMap,
        body: Bytes,
    ) -> Response<Bytes> {
        let mut upstream_req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            if name != hyper::header::CONTENT_LENGTH {
                upstream_req = upstream_req.header(name, value);
            }
        }
        let Ok(upstream_req) = upstream_req.body(Full::new(body)) else {
            return status(StatusCode::BAD_GATEWAY);
        };
        match self.client.request(upstream_req).await {
            Ok(resp) => {
                let (parts, body) = resp.into_parts();
                Response::from_parts(parts, bytes(body).await)
            }
            Err(_) => status(StatusCode::BAD_GATEWAY),
        }
    }

    /// Reads something from moto on the side, with the credentials of `ex`: another operation
    /// of the same JSON protocol (DynamoDB's `ListTagsOfResource`). `None` unless it answered 2xx.
    pub(crate) async fn peek_json(
        &self,
        ex: &Exchange<'_>,
        operation: &str,
        body: serde_json::Value,
    ) -> Option<serde_json::Value> {
        let target = ex
            .parts
            .headers
            .get("x-amz-target")?
            .to_str()
            .ok()?
            .split_once('.')?
            .0
            .to_string();
        let mut headers = ex.parts.headers.clone();
        headers.insert(
            "x-amz-target",
            hyper::header::HeaderValue::from_str(&format!("{target}.{operation}")).ok()?,
        );
        let answer = self
            .send(
                hyper::Method::POST,
                "/",
                &headers,
                Bytes::from(body.to_string()),
            )
            .await;
        json_if_ok(&answer)
    }

    /// Reads `method path` of a REST protocol (Lambda, API Gateway) from moto on the side.
    pub(crate) async fn peek_rest(
        &self,
        ex: &Exchange<'_>,
        method: &str,
        path: &str,
    ) -> Option<serde_json::Value> {
        let mut headers = ex.parts.headers.clone();
        headers.remove(hyper::header::CONTENT_TYPE);
        let method = hyper::Method::from_bytes(method.as_bytes()).ok()?;
        let answer = self.send(method, path, &headers, Bytes::new()).await;
        json_if_ok(&answer)
    }
}

fn json_if_ok(answer: &Response<Bytes>) -> Option<serde_json::Value> {
    if !answer.status().is_success() {
        return None;
    }
    Some(serde_json::from_slice(answer.body()).unwrap_or(serde_json::Value::Null))
}

/// A copy of `answer` with another body (and no stale Content-Length).
pub(crate) fn with_body(answer: &Response<Bytes>, body: Bytes) -> Response<Bytes> {
    let mut out = Response::new(body);
    *out.status_mut() = answer.status();
    *out.headers_mut() = answer.headers().clone();
    out.headers_mut().remove(hyper::header::CONTENT_LENGTH);
    out
}

/// A whole body; a body cut off midway counts as empty.
pub(crate) async fn bytes(body: Incoming) -> Bytes {
    body.collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

fn status(code: StatusCode) -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = code;
    r
}

/// The access key that signed a request (SigV4's `Credential=KEY/…`).
pub fn access_key(parts: &hyper::http::request::Parts) -> Option<&str> {
    let auth = parts.headers.get("authorization")?.to_str().ok()?;
    auth.split("Credential=").nth(1)?.split('/').next()
}

/// Names the operation of a request in any of the AWS protocols.
pub fn classify(parts: &hyper::http::request::Parts, body: &[u8]) -> Call {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    // Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, …
    let service = header("authorization")
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_string();
    let target = header("x-amz-target");
    let (operation, rest_protocol) = if let Some((_, op)) = target.split_once('.') {
        (op.to_string(), false)
    } else if let Some(op) = rpc_v2_operation(parts) {
        (op.to_string(), false)
    } else if let Some(action) = form_action(body) {
        (action, false)
    } else {
        (format!("{} {}", parts.method, parts.uri.path()), true)
    };
    // Lambda's Invoke runs the function and changes no resource: the deployer's probe, which
    // writes nothing, is not a write of the stack.
    let invoke = service == "lambda" && parts.uri.path().ends_with("/invocations");
    let write = if rest_protocol {
        parts.method != hyper::Method::GET && parts.method != hyper::Method::HEAD && !invoke
    } else {
        !["Get", "List", "Describe", "Filter"]
            .iter()
            .any(|p| operation.starts_with(p))
    };
    Call {
        service,
        operation,
        write,
        status: 0,
        sent: Duration::ZERO,
        answered: None,
        caller: None,
    }
}

/// Whether a request speaks Smithy RPC v2 CBOR (CloudWatch's protocol since 2025).
pub(crate) fn is_cbor(parts: &hyper::http::request::Parts) -> bool {
    parts
        .headers
        .get("smithy-protocol")
        .is_some_and(|p| p == "rpc-v2-cbor")
}

/// The operation of an RPC v2 request: `POST /service/{ServiceShape}/operation/{Operation}`.
fn rpc_v2_operation(parts: &hyper::http::request::Parts) -> Option<&str> {
    if !is_cbor(parts) {
        return None;
    }
    let path = parts.uri.path().strip_prefix("/service/")?;
    path.split_once("/operation/").map(|(_, op)| op)
}

/// `Action=GetRole&…` in a query-protocol body (IAM, STS).
fn form_action(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(str::to_string)
}

/// The number of sequential waves in `calls`: the longest chain of requests each sent after the
/// previous one was answered. Requests that overlap in time ran together, in one wave; a
/// request that had to wait for another's answer starts a new one. On AWS, where a round trip
/// costs 50–200 ms, this decides the wall time.
pub fn waves(calls: &[Call]) -> usize {
    let mut sorted: Vec<&Call> = calls.iter().filter(|c| c.answered.is_some()).collect();
    sorted.sort_by_key(|c| c.sent);
    // depth[i]: the longest chain ending with sorted[i].
    let mut depth: Vec<usize> = Vec::with_capacity(sorted.len());
    for (i, c) in sorted.iter().enumerate() {
        let before = (0..i)
            .filter(|&j| sorted[j].answered.is_some_and(|a| a <= c.sent))
            .map(|j| depth[j])
            .max()
            .unwrap_or(0);
        depth.push(before + 1);
    }
    depth.into_iter().max().unwrap_or(0)
}

/// Percent-decoding of a path segment, a query value or a form value.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(sent: u64, answered: u64) -> Call {
        Call {
            service: "s".into(),
            operation: "o".into(),
            write: false,
            status: 200,
            sent: Duration::from_millis(sent),
            answered: Some(Duration::from_millis(answered)),
            caller: None,
        }
    }

    #[test]
    fn overlapping_requests_are_one_wave_and_a_dependent_one_the_next() {
        assert_eq!(waves(&[]), 0);
        assert_eq!(waves(&[call(0, 40), call(1, 45), call(2, 50)]), 1);
        assert_eq!(waves(&[call(0, 40), call(1, 45), call(46, 90)]), 2);
        assert_eq!(
            waves(&[call(0, 40), call(41, 80), call(81, 120), call(5, 60)]),
            3
        );
    }
}
