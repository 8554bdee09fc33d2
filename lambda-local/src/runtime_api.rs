//! A Lambda Runtime API server for one function process: the `/next`, `/response`, `/error` and
//! `/init/error` endpoints Lambda serves to a runtime, so the real `bootstrap` (or any runtime
//! client, such as AWS's own `awslambdaric`) runs here exactly as it runs on Lambda.
//!
//! Each [`Sandbox`] is one process with its own server, serving one invocation at a time, as a
//! Lambda execution environment does. It enforces the timeout (a late invocation kills the
//! process, as Lambda does), records the init duration and the peak memory, and, when asked,
//! captures what the process writes, line by line and phase by phase (init, then each
//! invocation), as Lambda ships it to CloudWatch Logs.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

use crate::capture::{Capture, LogLine};

const PREFIX: &str = "/2018-06-01/runtime";

/// Where a function process's stdout and stderr go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logs {
    /// To this process's stderr, so that stdout keeps only a verb's result.
    Stderr,
    /// Nowhere.
    Discard,
    /// Into the [`Invocation`]s, line by line, as Lambda ships them to CloudWatch Logs.
    Capture,
}

/// How to start a function process.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The executable (`bootstrap`), and its arguments.
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// The environment: Lambda's variables, the function's, and the AWS endpoint/credentials.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub function_arn: String,
    pub logs: Logs,
}

/// What became of one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The runtime posted a response.
    Response(Bytes),
    /// The runtime posted an error (a JSON `{errorMessage, errorType}`).
    Error(Bytes),
    /// No answer within the timeout: the process was killed.
    Timeout,
    /// The process died, or reported an init error, without answering.
    Crashed(String),
}

/// One invocation, with what Lambda's own log lines and metrics say of it.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    /// The execution environment (process) that ran it: see [`Sandbox::id`].
    pub environment: String,
    pub outcome: Outcome,
    /// From the event's delivery to the outcome.
    pub duration: Duration,
    /// Whether this invocation started the process: a cold start.
    pub cold: bool,
    /// The init duration, on a cold start whose init finished.
    pub init: Option<Duration>,
    /// What the process wrote during its init, on a cold start (with [`Logs::Capture`]).
    pub init_logs: Vec<LogLine>,
    /// What it wrote during this invocation (with [`Logs::Capture`]).
    pub logs: Vec<LogLine>,
    /// The process's peak resident memory so far, in MiB.
    pub max_memory_mb: u64,
}

struct Pending {
    id: String,
    event: Bytes,
    deadline_ms: u64,
}

struct Shared {
    queue: tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<String>>,
    first_next: OnceLock<Instant>,
    function_arn: String,
    capture: Option<Mutex<Capture>>,
}

impl Shared {
    /// Reads what the process wrote so far into its phase: init until the first `/next`.
    fn drain(&self) {
        if let Some(capture) = &self.capture {
            let in_init = self.first_next.get().is_none();
            if let Ok(mut c) = capture.lock() {
                c.drain(in_init);
            }
        }
    }
}

/// One function process and the Runtime API it talks to.
pub struct Sandbox {
    child: Child,
    pid: Option<u32>,
    /// 32 hex digits, fixed for the process's life: the log stream Lambda names after it.
    id: String,
    queue: mpsc::Sender<Pending>,
    shared: Arc<Shared>,
    spawned: Instant,
    timeout: Duration,
    server: tokio::task::JoinHandle<()>,
    alive: bool,
    invoked: bool,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn clock() -> (u128, u64) {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    (t, NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

/// A Lambda request id: a UUID's shape, unique within this process.
pub fn request_id() -> String {
    let (t, n) = clock();
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (t >> 32) as u32,
        (t >> 16) as u16,
        n & 0xfff,
        (n >> 12) & 0xfff,
        (t as u64) & 0xffff_ffff_ffff
    )
}

/// 32 hex digits, unique within this process: an execution environment's id.
fn environment_id() -> String {
    let (t, n) = clock();
    format!(
        "{:016x}{:016x}",
        t as u64,
        n.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    )
}

impl Sandbox {
    /// Starts the Runtime API on a free loopback port and the process pointed at it.
    pub async fn spawn(spec: &Spec) -> anyhow::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(1);
        let mut command = command(spec, addr);
        let capture = match spec.logs {
            Logs::Discard => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
                None
            }
            Logs::Stderr => {
                command.stdout(std::io::stderr()).stderr(std::io::stderr());
                None
            }
            Logs::Capture => {
                let (capture, out, err) = Capture::pipe()?;
                command.stdout(out).stderr(err);
                Some(Mutex::new(capture))
            }
        };
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(rx),
            waiting: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            first_next: OnceLock::new(),
            function_arn: spec.function_arn.clone(),
            capture,
        });
        let server = tokio::spawn(serve(listener, Arc::clone(&shared)));
        let spawned = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", spec.program.display()))?;
        // The command, and with it our copy of the pipe's write end, is dropped here: the pipe
        // ends when the process does.
        drop(command);
        Ok(Sandbox {
            pid: child.id(),
            child,
            id: environment_id(),
            queue: tx,
            shared,
            spawned,
            timeout: spec.timeout,
            server,
            alive: true,
            invoked: false,
        })
    }

    /// Invokes the function with `event` and waits for its answer, at most the timeout.
    pub async fn invoke(&mut self, event: Bytes) -> Outcome {
        self.run(event).await.outcome
    }

    /// Invokes the function with `event`; the outcome, and what Lambda would report of it.
    pub async fn run(&mut self, event: Bytes) -> Invocation {
        let id = request_id();
        let cold = !self.invoked;
        self.invoked = true;
        let started = Instant::now();
        let outcome = self.deliver(&id, event).await;
        let duration = started.elapsed();
        self.shared.drain();
        let (init_logs, logs) = self.take_logs(!self.alive);
        Invocation {
            request_id: id,
            environment: self.id.clone(),
            outcome,
            duration,
            cold,
            init: if cold { self.init_duration() } else { None },
            init_logs: if cold { init_logs } else { Vec::new() },
            logs,
            max_memory_mb: self.peak_rss_kib().unwrap_or(0).div_ceil(1024),
        }
    }

    async fn deliver(&mut self, id: &str, event: Bytes) -> Outcome {
        if !self.alive {
            return Outcome::Crashed("the process is gone".into());
        }
        let (tx, rx) = oneshot::channel();
        if let Ok(mut waiting) = self.shared.waiting.lock() {
            waiting.insert(id.to_string(), tx);
        }
        let deadline = SystemTime::now() + self.timeout;
        let deadline_ms = deadline
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let pending = Pending {
            id: id.to_string(),
            event,
            deadline_ms,
        };
        if self.queue.send(pending).await.is_err() {
            self.alive = false;
            return Outcome::Crashed("the Runtime API stopped".into());
        }
        self.wait(rx).await
    }

    /// Waits for the answer, the process's death or the timeout, reading its output meanwhile
    /// (a process whose pipe fills up would block on its next write).
    async fn wait(&mut self, rx: oneshot::Receiver<Outcome>) -> Outcome {
        let Sandbox {
            child,
            shared,
            timeout,
            alive,
            ..
        } = self;
        let late = tokio::time::sleep(*timeout);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tokio::pin!(late, rx);
        loop {
            tokio::select! {
                answer = &mut rx => {
                    return answer.unwrap_or_else(|_| Outcome::Crashed("no answer".into()));
                }
                status = child.wait() => {
                    *alive = false;
                    let init = shared.init_error.lock().ok().and_then(|e| e.clone());
                    let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                    return Outcome::Crashed(match init {
                        Some(why) => format!("init error: {why} (process {status})"),
                        None => format!("the process exited ({status}) without answering"),
                    });
                }
                _ = &mut late => {
                    // Lambda stops a timed-out environment; so do we.
                    *alive = false;
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    return Outcome::Timeout;
                }
                _ = tick.tick() => shared.drain(),
            }
        }
    }

    /// The lines captured so far: the init's (once), and the invocation's. A process that is
    /// gone has written its last, partial line too.
    fn take_logs(&self, ended: bool) -> (Vec<LogLine>, Vec<LogLine>) {
        let Some(capture) = &self.shared.capture else {
            return (Vec::new(), Vec::new());
        };
        let in_init = self.shared.first_next.get().is_none();
        match capture.lock() {
            Ok(mut c) => {
                if ended {
                    c.finish(in_init);
                }
                c.take()
            }
            Err(_) => (Vec::new(), Vec::new()),
        }
    }

    pub fn is_alive(&self) -> bool {
        self.alive
    }

    /// The execution environment's id: 32 hex digits, as Lambda's log stream names end.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// From spawn to the runtime's first request for an invocation.
    pub fn init_duration(&self) -> Option<Duration> {
        self.shared
            .first_next
            .get()
            .map(|t| t.duration_since(self.spawned))
    }

    /// The process's peak resident memory (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Stops the process and its server.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.server.abort();
    }
}

/// The process of `spec`, pointed at the Runtime API on `addr`, with nothing of this process's
/// environment but `PATH`.
fn command(spec: &Spec, addr: std::net::SocketAddr) -> Command {
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    command
}

async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, Arc::clone(&shared)));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn reply(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Ok(unknown_path());
    };
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    Ok(match (method, parts.as_slice()) {
        (Method::GET, ["invocation", "next"]) => next(&shared).await,
        (Method::POST, ["invocation", id, kind @ ("response" | "error")]) => {
            let outcome = if *kind == "response" {
                Outcome::Response(body)
            } else {
                Outcome::Error(body)
            };
            finish(&shared, id, outcome)
        }
        (Method::POST, ["init", "error"]) => {
            if let Ok(mut e) = shared.init_error.lock() {
                *e = Some(String::from_utf8_lossy(&body).into_owned());
            }
            reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        }
        _ => unknown_path(),
    })
}

fn unknown_path() -> Response<Full<Bytes>> {
    reply(StatusCode::NOT_FOUND, r#"{"errorMessage":"unknown path"}"#)
}

/// `GET /invocation/next`: the next event, with Lambda's headers, when one comes. The first
/// call ends the init: what the process wrote before it is the init's.
async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    if shared.first_next.get().is_none() {
        shared.drain();
        let _ = shared.first_next.set(Instant::now());
    }
    let next = shared.queue.lock().await.recv().await;
    let Some(p) = next else {
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"errorMessage":"shutting down"}"#,
        );
    };
    let trace = format!(
        "Root=1-{:08x}-{}",
        p.deadline_ms / 1000,
        p.id.replace('-', "").chars().take(24).collect::<String>()
    );
    let mut r = Response::new(Full::new(p.event));
    let h = r.headers_mut();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", p.id.as_str()),
        ("lambda-runtime-deadline-ms", &p.deadline_ms.to_string()),
        ("lambda-runtime-invoked-function-arn", &shared.function_arn),
        ("lambda-runtime-trace-id", &trace),
        ("content-type", "application/json"),
    ] {
        if let Ok(value) = hyper::header::HeaderValue::from_str(value) {
            h.insert(name, value);
        }
    }
    r
}

/// `POST /invocation/{id}/response` or `/error`: hands the outcome to whoever waits for `id`.
fn finish(shared: &Shared, id: &str, outcome: Outcome) -> Response<Full<Bytes>> {
    let waiter = shared.waiting.lock().ok().and_then(|mut w| w.remove(id));
    match waiter {
        Some(tx) => {
            let _ = tx.send(outcome);
            reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        }
        None => reply(
            StatusCode::BAD_REQUEST,
            r#"{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}"#,
        ),
    }
}
