//! `deployer serve`: a local API that behaves like the stage. Plain HTTP in, REST v1 proxy events
//! through the Runtime API into real `bootstrap` processes, their responses back out. One log
//! line per request; Ctrl-C stops it cleanly, processes and all.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use lambda_local::gateway::Stage;
use lambda_local::{HttpRequest, HttpResponse, Pool};

/// API Gateway's payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;

/// Serves until Ctrl-C (or until `stop` resolves, for tests), then stops every process.
pub async fn serve(
    pool: Arc<Pool>,
    stage: Arc<Stage>,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => accepted?,
        };
        let (pool, stage) = (Arc::clone(&pool), Arc::clone(&stage));
        tokio::spawn(async move {
            let service =
                service_fn(move |req| one(req, peer, Arc::clone(&pool), Arc::clone(&stage)));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    eprintln!("stopping: {} function process(es)", pool.stats().spawned);
    pool.shutdown().await;
    Ok(())
}

async fn one(
    req: Request<Incoming>,
    peer: SocketAddr,
    pool: Arc<Pool>,
    stage: Arc<Stage>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => {
            return Ok(to_hyper(&HttpResponse {
                status: 413,
                headers: vec![],
                body: br#"{"message":"Request Too Long"}"#.to_vec(),
            }))
        }
    };
    let query = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect()
        })
        .unwrap_or_default();
    let request = HttpRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query,
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        source_ip: peer.ip().to_string(),
    };
    let line = format!("{} {}", request.method, request.path);
    let response = super::handle(&pool, &stage, request).await;
    eprintln!(
        "{line} → {} ({:.1} ms)",
        response.status,
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(to_hyper(&response))
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

fn to_hyper(r: &HttpResponse) -> Response<Full<Bytes>> {
    let mut out = Response::new(Full::new(Bytes::from(r.body.clone())));
    *out.status_mut() =
        hyper::StatusCode::from_u16(r.status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    for (k, v) in &r.headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            hyper::header::HeaderValue::from_str(v),
        ) {
            out.headers_mut().append(name, value);
        }
    }
    out
}
