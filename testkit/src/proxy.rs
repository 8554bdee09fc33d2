//! A recording HTTP proxy between a client under test and moto: every request passes through
//! unchanged, and is recorded as (service, operation, read or write), so that a test can assert
//! exactly what was sent: "a no-op `up` makes zero writes" is then a count, not a hope.
//!
//! It runs on its own thread and runtime, so tests may block (waiting on a subprocess) freely.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::oneshot;

/// One AWS request, as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The SigV4 signing name: `dynamodb`, `iam`, `lambda`, `apigateway`, `logs`, `sts`.
    pub service: String,
    /// `UpdateItem`, `GetRole`… for JSON and query protocols; `GET /2015-03-31/functions/f` for
    /// REST protocols.
    pub operation: String,
    pub write: bool,
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

/// A running proxy; stops when dropped.
pub struct Recorder {
    endpoint: String,
    calls: Arc<Mutex<Vec<Call>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Recorder {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:PORT`) on a free loopback port.
    pub fn start(upstream: &str) -> Recorder {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let upstream = upstream.trim_end_matches('/').to_string();
        let shared = Arc::clone(&calls);
        let thread = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(serve(upstream, shared, addr_tx, stop_rx));
        });
        let addr: SocketAddr = match addr_rx.recv() {
            Ok(addr) => addr,
            Err(_) => panic!("the recording proxy could not bind a loopback port"),
        };
        Recorder {
            endpoint: format!("http://{addr}"),
            calls,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Every call so far, forgetting them.
    pub fn take(&self) -> Vec<Call> {
        self.calls
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }

    /// Only the writes among `calls`, as `service Operation` strings.
    pub fn writes(calls: &[Call]) -> Vec<String> {
        calls
            .iter()
            .filter(|c| c.write)
            .map(|c| format!("{} {}", c.service, c.operation))
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    upstream: String,
    calls: Arc<Mutex<Vec<Call>>>,
    addr_tx: std::sync::mpsc::Sender<SocketAddr>,
    mut stop: oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::bind("127.0.0.1:0").await else {
        return;
    };
    let Ok(addr) = listener.local_addr() else {
        return;
    };
    let _ = addr_tx.send(addr);
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let (client, calls, upstream) = (client.clone(), Arc::clone(&calls), upstream.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                forward(req, client.clone(), Arc::clone(&calls), upstream.clone())
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn forward(
    req: Request<Incoming>,
    client: Client<HttpConnector, Full<Bytes>>,
    calls: Arc<Mutex<Vec<Call>>>,
    upstream: String,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if let Ok(mut calls) = calls.lock() {
        calls.push(classify(&parts, &body));
    }
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut upstream_req = Request::builder()
        .method(parts.method.clone())
        .uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        upstream_req = upstream_req.header(name, value);
    }
    let Ok(upstream_req) = upstream_req.body(Full::new(body)) else {
        return Ok(status(StatusCode::BAD_GATEWAY));
    };
    match client.request(upstream_req).await {
        Ok(resp) => {
            let (parts, body) = resp.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok(Response::from_parts(parts, Full::new(body)))
        }
        Err(_) => Ok(status(StatusCode::BAD_GATEWAY)),
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = code;
    r
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
    } else if let Some(action) = form_action(body) {
        (action, false)
    } else {
        (format!("{} {}", parts.method, parts.uri.path()), true)
    };
    let write = if rest_protocol {
        parts.method != hyper::Method::GET && parts.method != hyper::Method::HEAD
    } else {
        !["Get", "List", "Describe"]
            .iter()
            .any(|p| operation.starts_with(p))
    };
    Call {
        service,
        operation,
        write,
    }
}

/// `Action=GetRole&…` in a query-protocol body (IAM, STS).
fn form_action(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(str::to_string)
}
