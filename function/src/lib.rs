//! The visitor-counter Lambda handler.
//!
//! `handle` is a plain async function of the shared [`State`] and one request, so tests call it
//! directly with fixture events. `main.rs` only builds the state once per execution environment
//! and hands it to the Lambda runtime.

pub mod contract;
pub mod cors;
pub mod counter;
pub mod error;
pub mod log;
pub mod routes;
pub mod tls;
pub mod visit;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::timeout::TimeoutConfig;
use aws_config::ConfigLoader;
use aws_sdk_dynamodb::Client;
use lambda_http::http::header::{self, HeaderValue};
use lambda_http::http::{HeaderMap, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Value};

use crate::contract::response as key;
use crate::cors::{AllowHeaders, Cors};
use crate::counter::Item;
use crate::error::Error;
use crate::routes::{Dispatch, Endpoint};

/// TCP connect to DynamoDB's regional endpoint takes a millisecond or two from inside the
/// region; half a second means the network is broken, and leaves room for a retry.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// One attempt of `UpdateItem` or `GetItem` on a single item answers in single-digit
/// milliseconds (p99 well under 100 ms); an attempt still silent after 800 ms is retried.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(800);
/// The whole operation, retries included, gives up at 2 s: a hung DynamoDB becomes a 500/503
/// a full second before Lambda's default 3 s timeout would kill the invocation without a word.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(2);
/// Kept free before the invocation deadline, for writing the error response and the log line
/// when the function's own timeout is shorter than [`OPERATION_TIMEOUT`].
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(250);

/// The function's configuration, read once from the environment at init.
#[derive(Debug, Clone)]
pub struct Config {
    pub item: Item,
    pub cors: Cors,
    pub cors_headers: AllowHeaders,
    /// The version Lambda runs (`$LATEST` outside Lambda), which `/health` reports.
    pub version: String,
    /// Whether crawlers, previews, audits and prefetches count ([`visit`]).
    pub count_bots: bool,
}

impl Config {
    pub fn from_env() -> Result<Config, String> {
        Config::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let table = lookup(contract::env::TABLE_NAME)
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                "TABLE_NAME is not set: it must name the DynamoDB table that holds the counter \
                 (`deployer up` sets it from stack.yaml's table.name)"
                    .to_string()
            })?;
        let key = lookup(contract::env::TABLE_KEY)
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| contract::DEFAULT_KEY.to_string());
        let id = lookup(contract::env::COUNTER_ID)
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| contract::DEFAULT_COUNTER_ID.to_string());
        let cors = Cors::parse(&lookup(contract::env::CORS_ORIGINS).unwrap_or_default());
        let cors_headers =
            AllowHeaders::parse(&lookup(contract::env::CORS_HEADERS).unwrap_or_default());
        let version = lookup(contract::VERSION_ENV).unwrap_or_else(|| "$LATEST".to_string());
        let count_bots = lookup(contract::env::COUNT_BOTS).is_some_and(|v| v.trim() == "true");
        Ok(Config {
            item: Item { table, key, id },
            cors,
            cors_headers,
            version,
            count_bots,
        })
    }
}

/// The timeouts every DynamoDB call runs under; see the constants for the reasoning.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// Builds the DynamoDB client from `loader` (the standard chain in Lambda, an emulator in
/// tests) with the function's timeouts.
pub async fn dynamodb_client(loader: ConfigLoader) -> Client {
    Client::new(&loader.timeout_config(timeouts()).load().await)
}

/// Everything built once per execution environment and shared by every invocation.
#[derive(Debug)]
pub struct State {
    db: Client,
    config: Config,
    cold: AtomicBool,
}

impl State {
    pub fn new(db: Client, config: Config) -> State {
        State {
            db,
            config,
            cold: AtomicBool::new(true),
        }
    }
}

/// The parts of a request the handler and its log line use, whatever the event shape.
struct Meta<'a> {
    request_id: String,
    method: &'a str,
    path: String,
    origin: Option<&'a str>,
    /// A preflight's `Access-Control-Request-Headers`.
    request_headers: Option<&'a str>,
    user_agent: &'a str,
    /// A speculative load ([`visit::is_prefetch`]).
    prefetch: bool,
    /// Time left before the Lambda deadline, when the runtime gave one.
    budget: Option<Duration>,
}

impl<'a> Meta<'a> {
    fn of(req: &'a Request) -> Meta<'a> {
        let context = req.request_context_ref();
        let (api_request_id, stage) = match context {
            Some(RequestContext::ApiGatewayV1(c)) => (c.request_id.clone(), c.stage.as_deref()),
            Some(RequestContext::ApiGatewayV2(c)) => (c.request_id.clone(), c.stage.as_deref()),
            _ => (None, None),
        };
        let lambda = req.lambda_context_ref();
        let request_id = lambda
            .map(|c| c.request_id.clone())
            .filter(|id| !id.is_empty())
            .or(api_request_id)
            .unwrap_or_else(|| "unknown".to_string());
        let budget = lambda
            .filter(|c| c.deadline > 0)
            .map(|c| time_left(c.deadline));
        Meta {
            request_id,
            method: req.method().as_str(),
            path: routes::strip_stage(req.raw_http_path(), stage).to_string(),
            origin: header_str(req.headers(), header::ORIGIN),
            request_headers: header_str(req.headers(), header::ACCESS_CONTROL_REQUEST_HEADERS),
            user_agent: header_str(req.headers(), header::USER_AGENT).unwrap_or(""),
            prefetch: visit::is_prefetch(req.headers()),
            budget,
        }
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn time_left(deadline_ms: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_millis(deadline_ms).saturating_sub(now)
}

/// One invocation, as the runtime hands it over: a request from API Gateway (REST v1, HTTP v2)
/// or a Function URL, served by [`handle`]; or a direct invocation, which `lambda_http` hands
/// over as a pass-through request with the event as its body: the deployer's probe is answered
/// ([`probe`]), and any other event is an invocation error (the caller sees `FunctionError`),
/// logged with the request id.
pub async fn invocation(state: &State, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    if !matches!(req.request_context_ref(), Some(RequestContext::PassThrough)) {
        return Ok(handle(state, req).await);
    }
    let meta = Meta::of(&req);
    let event: Value = serde_json::from_slice(req.body().as_ref()).unwrap_or(Value::Null);
    if !contract::probe::is_probe(&event) {
        tracing::error!(requestId = %meta.request_id, "an event of no known shape");
        return Err("not an HTTP event, nor the deployer's probe".into());
    }
    let answer = probe(state, &meta.request_id, meta.budget).await;
    Ok(json_response(StatusCode::OK, answer))
}

/// Serves one request. Never fails: every error becomes a JSON response, and a log line.
pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let started = Instant::now();
    let cold_start = state.cold.swap(false, Ordering::Relaxed);
    let meta = Meta::of(&req);
    let dispatch = routes::dispatch(req.method(), &meta.path);

    let mut response = match dispatch {
        Dispatch::Serve(route) => match serve(state, route, &meta).await {
            Ok(response) => response,
            Err(error) => {
                log::failure(&meta.request_id, &error);
                failure_response(route, &meta.request_id)
            }
        },
        Dispatch::Preflight(route) => preflight(route),
        Dispatch::MethodNotAllowed(route) => {
            let mut r = json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                json!({key::STATUS: key::ERROR, key::MESSAGE: "Method not allowed", key::REQUEST_ID: meta.request_id}),
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(route.allow()));
            r
        }
        Dispatch::NotFound => json_response(
            StatusCode::NOT_FOUND,
            json!({key::STATUS: key::ERROR, key::MESSAGE: "Not found", key::REQUEST_ID: meta.request_id}),
        ),
    };
    finish_headers(&mut response, &state.config, &meta, dispatch);

    log::request(&log::RequestLine {
        request_id: &meta.request_id,
        method: meta.method,
        path: &meta.path,
        status: response.status().as_u16(),
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        cold_start,
        user_agent: meta.user_agent,
    });
    response
}

async fn serve(state: &State, route: Endpoint, meta: &Meta<'_>) -> Result<Response<Body>, Error> {
    let item = &state.config.item;
    match route {
        Endpoint::Counter => match uncounted(state, meta) {
            None => {
                let count = within_budget(meta.budget, counter::increment(&state.db, item)).await?;
                Ok(json_response(
                    StatusCode::OK,
                    json!({ key::COUNT: count, key::COUNTED: true }),
                ))
            }
            Some(why) => {
                tracing::info!(requestId = %meta.request_id, reason = %why, "visit not counted");
                read_count(state, meta).await
            }
        },
        Endpoint::Read => read_count(state, meta).await,
        Endpoint::Health => {
            let count = within_budget(meta.budget, counter::read(&state.db, item)).await?;
            Ok(json_response(
                StatusCode::OK,
                json!({
                    key::STATUS: key::HEALTHY,
                    key::DATABASE: key::CONNECTED,
                    key::COUNTER_VALUE: count,
                    key::VERSION: state.config.version,
                    key::REQUEST_ID: meta.request_id,
                }),
            ))
        }
    }
}

/// The count, read and not counted: `/count`, and a `/counter` request that is no visit.
async fn read_count(state: &State, meta: &Meta<'_>) -> Result<Response<Body>, Error> {
    let count = within_budget(meta.budget, counter::read(&state.db, &state.config.item)).await?;
    Ok(json_response(
        StatusCode::OK,
        json!({ key::COUNT: count, key::COUNTED: false }),
    ))
}

/// Why a `/counter` request adds no visit ([`visit::uncounted`]), if it does not.
fn uncounted(state: &State, meta: &Meta<'_>) -> Option<visit::Uncounted> {
    let config = &state.config;
    let refused = meta.origin.is_some() && config.cors.allow_origin(meta.origin).is_none();
    visit::uncounted(refused, meta.user_agent, meta.prefetch, config.count_bots)
}

/// Answers the deployer's probe ([`contract::probe`]): the read `/health` makes, then the
/// increment's `UpdateItem` under a condition that cannot hold, so nothing is counted. Never
/// fails: a failure is `{"ok": false}` with the reason, and a log line with the request id.
pub async fn probe(state: &State, request_id: &str, budget: Option<Duration>) -> Value {
    let item = &state.config.item;
    let proved = within_budget(budget, async {
        let count = counter::read(&state.db, item).await?;
        counter::prove_increment(&state.db, item).await?;
        Ok(count)
    })
    .await;
    let version = &state.config.version;
    match proved {
        Ok(count) => {
            tracing::info!(requestId = request_id, version = %version, "probe passed");
            json!({
                contract::probe::OK: true,
                key::VERSION: version,
                key::COUNTER_VALUE: count,
                key::REQUEST_ID: request_id,
            })
        }
        Err(error) => {
            log::failure(request_id, &error);
            json!({
                contract::probe::OK: false,
                key::VERSION: version,
                key::MESSAGE: error.to_string(),
                key::REQUEST_ID: request_id,
            })
        }
    }
}

/// Runs `work` but gives up [`DEADLINE_MARGIN`] before the Lambda deadline, so that even a
/// function configured with a 1 s timeout answers with JSON instead of being killed.
async fn within_budget<T>(
    budget: Option<Duration>,
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let Some(budget) = budget else {
        return work.await;
    };
    let usable = budget.saturating_sub(DEADLINE_MARGIN);
    match tokio::time::timeout(usable, work).await {
        Ok(result) => result,
        Err(_) => Err(Error::Deadline {
            budget_ms: usable.as_millis(),
        }),
    }
}

fn failure_response(route: Endpoint, request_id: &str) -> Response<Body> {
    match route {
        Endpoint::Health => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({key::STATUS: key::UNHEALTHY, key::DATABASE: key::ERROR, key::REQUEST_ID: request_id}),
        ),
        Endpoint::Counter | Endpoint::Read => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({key::STATUS: key::ERROR, key::MESSAGE: error::PUBLIC_MESSAGE, key::REQUEST_ID: request_id}),
        ),
    }
}

fn preflight(route: Endpoint) -> Response<Body> {
    let mut r = response(StatusCode::NO_CONTENT, Body::Empty);
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(route.allow()));
    r
}

fn json_response(status: StatusCode, body: Value) -> Response<Body> {
    response(status, Body::Text(body.to_string()))
}

fn response(status: StatusCode, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r
}

/// Headers every response carries: JSON content type, no caching, and CORS for allowed origins.
fn finish_headers(r: &mut Response<Body>, config: &Config, meta: &Meta<'_>, dispatch: Dispatch) {
    let (cors, origin) = (&config.cors, meta.origin);
    let headers = r.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    let Some(allowed) = cors.allow_origin(origin) else {
        return;
    };
    // An allowed origin came from a header that was valid UTF-8, so this cannot fail.
    if let Ok(value) = HeaderValue::from_str(allowed) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    if let Dispatch::Preflight(route) = dispatch {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(route.allow()),
        );
        let allowed = config.cors_headers.answer(meta.request_headers);
        if let Ok(value) = HeaderValue::from_str(&allowed) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, value);
        }
        if config.cors_headers == AllowHeaders::Requested {
            // The answer depends on what was asked, too.
            headers.insert(
                header::VARY,
                HeaderValue::from_static("Origin, Access-Control-Request-Headers"),
            );
        }
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
}
