//! `deployer invoke`: smoke tests a stage. The same checks run against the deployed stage over
//! HTTPS, any base URL (a local `serve`, a custom domain), or the built `bootstrap` through the
//! Runtime API with no listener at all (`--local`):
//! - `/health` is 200 and healthy;
//! - `/counter` rises by exactly 1 on each of two calls;
//! - CORS is right for an allowed and for a disallowed origin;
//! - an unknown path fails.

use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use function::contract;
use function::contract::response as key;

use lambda_local::gateway::Stage;
use lambda_local::{HttpRequest, HttpResponse, Pool};

/// Where requests go.
pub enum Backend {
    Http {
        client: reqwest::Client,
        base: String,
    },
    Local {
        pool: Box<Pool>,
        stage: Stage,
    },
}

impl Backend {
    pub fn http(base: &str) -> anyhow::Result<Backend> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("deployer-invoke/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Backend::Http {
            client,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<HttpResponse> {
        match self {
            Backend::Http { client, base } => {
                let method = reqwest::Method::from_bytes(method.as_bytes())?;
                let mut req = client.request(method, format!("{base}{path}"));
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                let resp = req
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!("{base}{path}: {e}"))?;
                let status = resp.status().as_u16();
                let headers = resp
                    .headers()
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_string(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect();
                let body = resp.bytes().await?.to_vec();
                Ok(HttpResponse {
                    status,
                    headers,
                    body,
                })
            }
            Backend::Local { pool, stage } => {
                let (path, query) = path.split_once('?').unwrap_or((path, ""));
                let request = HttpRequest {
                    method: method.to_string(),
                    path: path.to_string(),
                    query: query
                        .split('&')
                        .filter(|p| !p.is_empty())
                        .map(|p| {
                            let (k, v) = p.split_once('=').unwrap_or((p, ""));
                            (k.to_string(), v.to_string())
                        })
                        .collect(),
                    headers: headers
                        .iter()
                        .map(|(k, v)| (k.to_lowercase(), v.to_string()))
                        .collect(),
                    body: Vec::new(),
                    source_ip: "127.0.0.1".into(),
                };
                Ok(crate::local::handle(pool, stage, request).await)
            }
        }
    }

    pub async fn shutdown(&self) {
        if let Backend::Local { pool, .. } = self {
            pool.shutdown().await;
        }
    }
}

/// One check's result: `name`, `passed`, `status`, `latency_ms` are a contract pipelines rely on.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub status: Option<u16>,
    pub latency_ms: f64,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub passed: bool,
    pub checks: Vec<Check>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            writeln!(
                f,
                "  {} {:<34} {:>5} {:>8.1} ms  {}",
                if c.passed { "✓" } else { "✗" },
                c.name,
                c.status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into()),
                c.latency_ms,
                c.detail
            )?;
        }
        let failed = self.checks.iter().filter(|c| !c.passed).count();
        if failed == 0 {
            writeln!(f, "All {} checks passed.", self.checks.len())
        } else {
            writeln!(f, "{failed} of {} checks failed.", self.checks.len())
        }
    }
}

/// A timed request, as a check sees it.
struct Probe {
    response: Option<HttpResponse>,
    error: Option<String>,
    latency_ms: f64,
}

async fn probe(backend: &Backend, method: &str, path: &str, headers: &[(&str, &str)]) -> Probe {
    let started = Instant::now();
    let result = backend.send(method, path, headers).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(r) => Probe {
            response: Some(r),
            error: None,
            latency_ms,
        },
        Err(e) => Probe {
            response: None,
            error: Some(format!("{e:#}")),
            latency_ms,
        },
    }
}

fn check(
    name: &str,
    p: &Probe,
    verdict: impl FnOnce(&HttpResponse) -> Result<String, String>,
) -> Check {
    let (passed, detail) = match (&p.response, &p.error) {
        (Some(r), _) => match verdict(r) {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        },
        (None, Some(e)) => (false, e.clone()),
        (None, None) => (false, "no response".into()),
    };
    Check {
        name: name.to_string(),
        passed,
        status: p.response.as_ref().map(|r| r.status),
        latency_ms: p.latency_ms,
        detail,
    }
}

fn body_json(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn count_of(r: &HttpResponse) -> Result<u64, String> {
    if r.status != 200 {
        return Err(format!(
            "expected 200, got {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    body_json(r)[key::COUNT]
        .as_u64()
        .ok_or_else(|| format!("no count in {}", String::from_utf8_lossy(&r.body)))
}

/// Runs every check, on the paths the function's contract names. `allowed_origin` is one of
/// the stack's CORS origins, if it has any.
pub async fn smoke(backend: &Backend, allowed_origin: Option<&str>) -> Report {
    let mut checks = vec![health(backend).await];
    checks.extend(counting(backend).await);
    checks.extend(cors(backend, allowed_origin).await);
    checks.push(unknown_path(backend).await);
    Report {
        passed: checks.iter().all(|c| c.passed),
        checks,
    }
}

async fn health(backend: &Backend) -> Check {
    let path = contract::HEALTH.path;
    let health = probe(backend, "GET", path, &[]).await;
    check(&format!("GET {path} is 200 and healthy"), &health, |r| {
        let body = body_json(r);
        if r.status == 200 && body[key::STATUS] == key::HEALTHY {
            let version = body[key::VERSION].as_str().unwrap_or("?");
            Ok(format!(
                "{} {}, version {version}",
                key::COUNTER_VALUE,
                body[key::COUNTER_VALUE]
            ))
        } else {
            Err(format!(
                "{}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ))
        }
    })
}

/// The count, then exactly one more on each later call (POST too, when it is routed).
async fn counting(backend: &Backend) -> Vec<Check> {
    let counter = contract::COUNTER.path;
    let first = probe(backend, "GET", counter, &[]).await;
    let mut checks = vec![check(
        &format!("GET {counter} answers a count"),
        &first,
        |r| count_of(r).map(|n| format!("count {n}")),
    )];
    let second = probe(backend, "GET", counter, &[]).await;
    checks.push(rises(
        &format!("GET {counter} rises by exactly 1"),
        &first,
        &second,
    ));
    let third = probe(backend, "POST", counter, &[]).await;
    if third.response.as_ref().is_some_and(|r| r.status != 403) {
        checks.push(rises(
            &format!("POST {counter} rises by exactly 1"),
            &second,
            &third,
        ));
    }
    checks
}

/// Whether `after` counted exactly one more than `before`.
fn rises(name: &str, before: &Probe, after: &Probe) -> Check {
    let n = before.response.as_ref().map(count_of);
    check(name, after, |r| {
        let m = count_of(r)?;
        match n {
            Some(Ok(n)) if m == n + 1 => Ok(format!("{n} → {m}")),
            Some(Ok(n)) => Err(format!("{n} → {m}: not +1")),
            _ => Err("the previous call gave no count".into()),
        }
    })
}

async fn cors(backend: &Backend, allowed_origin: Option<&str>) -> Vec<Check> {
    let path = contract::HEALTH.path;
    let granted = match allowed_origin {
        Some(origin) => {
            let allowed = probe(backend, "GET", path, &[("Origin", origin)]).await;
            check("CORS: an allowed origin is echoed", &allowed, |r| {
                match r.header("access-control-allow-origin") {
                    Some(v) if v == origin || v == "*" => {
                        Ok(format!("Access-Control-Allow-Origin: {v}"))
                    }
                    other => Err(format!(
                        "Access-Control-Allow-Origin: {other:?}, expected {origin}"
                    )),
                }
            })
        }
        None => Check {
            name: "CORS: an allowed origin is echoed".into(),
            passed: true,
            status: None,
            latency_ms: 0.0,
            detail: "not applicable: api.cors_origins is empty".into(),
        },
    };
    let stranger = "https://not-allowed.invalid";
    let denied = probe(backend, "GET", path, &[("Origin", stranger)]).await;
    let wildcard = allowed_origin == Some("*");
    let refused = check("CORS: another origin gets no grant", &denied, |r| {
        match r.header("access-control-allow-origin") {
            None => Ok("no Access-Control-Allow-Origin".into()),
            Some("*") if wildcard => Ok("cors_origins is \"*\": every origin is allowed".into()),
            Some(v) => Err(format!("Access-Control-Allow-Origin: {v} for {stranger}")),
        }
    });
    vec![granted, refused]
}

async fn unknown_path(backend: &Backend) -> Check {
    let unknown = probe(backend, "GET", "/this-path-does-not-exist", &[]).await;
    check("an unknown path fails", &unknown, |r| {
        if (400..500).contains(&r.status) {
            Ok(String::from_utf8_lossy(&r.body).into_owned())
        } else {
            Err(format!("expected a 4xx, got {}", r.status))
        }
    })
}

/// `invoke --path P --method M`: one request, shown whole.
#[derive(Debug, Serialize)]
pub struct Single {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub latency_ms: f64,
}

pub async fn single(backend: &Backend, method: &str, path: &str) -> anyhow::Result<Single> {
    let started = Instant::now();
    let r = backend.send(method, path, &[]).await?;
    Ok(Single {
        status: r.status,
        headers: r.headers,
        body: String::from_utf8_lossy(&r.body).into_owned(),
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}
