//! A recording HTTP proxy between a client under test and moto: every request passes through
//! unchanged, and is recorded as (service, operation, read or write), so that a test can assert
//! exactly what was sent: "a no-op `up` makes zero writes" is then a count, not a hope.
//!
//! It can also misbehave on purpose: inject the faults of [`Faults`] from a seeded RNG, and send
//! a signal to the process under test at an exact request ([`Trigger`]), so that "killed right
//! after its k-th request" is a point the test names, not a race it hopes to win.
//!
//! It runs on its own thread and runtime, so tests may block (waiting on a subprocess) freely.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::oneshot;

use crate::dataplane::{DataPlane, Principal};
use crate::faults::{self, Dice, Fault, Faults};
use crate::realism::{Layer, Met, Realism};
use crate::trigger::Armed;
use crate::wire::{bytes, classify, Exchange, Upstream};

pub use crate::trigger::{On, Trigger, When};
pub use crate::wire::Call;

/// What every connection task shares.
struct State {
    /// Every call, numbered in arrival order so that its answer's status can be filled in.
    calls: Mutex<Vec<(usize, Call)>>,
    sequence: AtomicUsize,
    injected: Mutex<Vec<(Call, Fault)>>,
    dice: Mutex<Option<Dice>>,
    /// The signal armed, and what it has seen.
    armed: Armed,
    realism: Mutex<Option<Arc<Layer>>>,
    /// When the proxy started: the origin of every call's times.
    started: std::time::Instant,
    /// What AWS does with what was deployed: the stages, the functions, their credentials.
    dataplane: DataPlane,
}

impl State {
    fn new(upstream: &str) -> Self {
        State {
            calls: Mutex::default(),
            sequence: AtomicUsize::default(),
            injected: Mutex::default(),
            dice: Mutex::default(),
            armed: Armed::default(),
            realism: Mutex::default(),
            started: std::time::Instant::now(),
            dataplane: DataPlane::new(upstream),
        }
    }
}

/// A running proxy; stops when dropped.
pub struct Recorder {
    endpoint: String,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Recorder {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:PORT`) on a free loopback port.
    pub fn start(upstream: &str) -> Recorder {
        match Recorder::start_on(upstream, 0) {
            Ok(recorder) => recorder,
            Err(why) => panic!("the recording proxy could not start: {why}"),
        }
    }

    /// Starts a proxy to `upstream` on loopback port `port` (0: a free one).
    pub fn start_on(upstream: &str, port: u16) -> Result<Recorder, String> {
        let upstream = upstream.trim_end_matches('/').to_string();
        let state = Arc::new(State::new(&upstream));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let shared = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(serve(upstream, shared, port, addr_tx, stop_rx));
        });
        let addr: SocketAddr = match addr_rx.recv() {
            Ok(Ok(addr)) => addr,
            Ok(Err(why)) => return Err(why),
            Err(_) => return Err("the proxy's thread ended before it listened".into()),
        };
        state.dataplane.listen_at(&format!("http://{addr}"));
        Ok(Recorder {
            endpoint: format!("http://{addr}"),
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Every request the emulated stages served so far (`/_aws/execute-api/…`), forgetting
    /// them.
    pub fn served(&self) -> Vec<crate::dataplane::Served> {
        self.state.dataplane.take_served()
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state
            .calls
            .lock()
            .map(|c| c.iter().map(|(_, c)| c.clone()).collect())
            .unwrap_or_default()
    }

    /// Every call so far, forgetting them.
    pub fn take(&self) -> Vec<Call> {
        self.state
            .calls
            .lock()
            .map(|mut c| {
                std::mem::take(&mut *c)
                    .into_iter()
                    .map(|(_, c)| c)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Injects `faults` into the requests from now on; `None` forwards everything again.
    pub fn faults(&self, faults: Option<Faults>) {
        if let Ok(mut dice) = self.state.dice.lock() {
            *dice = faults.map(Dice::new);
        }
    }

    /// Puts the behaviours of real AWS that moto lacks in front of it, from now on (see
    /// [`Realism`]); `None` forwards everything as moto answers it again. What the layer
    /// remembered (tables being created, roles propagating) starts afresh.
    pub fn realism(&self, realism: Option<Realism>) {
        if let Ok(mut layer) = self.state.realism.lock() {
            *layer = realism.map(|r| Arc::new(Layer::new(r)));
        }
    }

    /// Marks the last update of `function` as failed with `reason`, as Lambda reports an update
    /// it could not apply (needs [`Recorder::realism`]); the next update clears it.
    pub fn fail_function(&self, function: &str, reason: &str) {
        if let Some(layer) = self.layer() {
            layer.fail_function(function, reason);
        }
    }

    /// The owner of `email` confirms the subscription AWS e-mailed them about.
    pub fn confirm_email(&self, email: &str) {
        if let Some(layer) = self.layer() {
            layer.confirm_email(email);
        }
    }

    /// Each `(statement id, action)` that one statement of the enforced policy alone allowed
    /// since the realism was set ([`Realism::enforce`]): the census of the printed policy's use.
    pub fn authorized(&self) -> std::collections::BTreeSet<(String, String)> {
        self.layer().map(|l| l.authorized()).unwrap_or_default()
    }

    /// How often the realism layer met `behaviour` since it was set: a test that relies on a
    /// behaviour asserts it happened.
    pub fn met(&self, behaviour: Met) -> usize {
        let counts = self.layer().map(|l| l.counts()).unwrap_or_default();
        counts.get(&behaviour).copied().unwrap_or(0)
    }

    fn layer(&self) -> Option<Arc<Layer>> {
        self.state.realism.lock().ok().and_then(|l| l.clone())
    }

    /// Every fault injected since the last call, with the request it hit.
    pub fn injected(&self) -> Vec<(Call, Fault)> {
        self.state
            .injected
            .lock()
            .map(|mut i| std::mem::take(&mut *i))
            .unwrap_or_default()
    }

    /// Arms `trigger`, counting requests from zero; the signal goes to the process named by
    /// [`Recorder::target`], which may be given after the process has started.
    pub fn arm(&self, trigger: Trigger) {
        self.state.armed.arm(trigger);
    }

    /// The process an armed trigger signals.
    pub fn target(&self, pid: u32) {
        self.state.armed.target.store(pid, Ordering::SeqCst);
    }

    /// Whether the armed trigger has fired (it fires once, then disarms).
    pub fn fired(&self) -> bool {
        self.state.armed.fired.load(Ordering::SeqCst)
    }

    /// When the process under test had taken the armed trigger's signal, on the clock of
    /// [`Call::sent`]: a request that reached the proxy after it was sent after the process knew.
    pub fn fired_at(&self) -> Option<Duration> {
        self.state.armed.taken_at()
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

/// A request the proxy answers by dropping the connection.
#[derive(Debug)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by the proxy")
    }
}

impl std::error::Error for Reset {}

async fn serve(
    upstream: String,
    state: Arc<State>,
    port: u16,
    addr_tx: std::sync::mpsc::Sender<Result<SocketAddr, String>>,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(e) => {
            let _ = addr_tx.send(Err(format!("cannot listen on 127.0.0.1:{port}: {e}")));
            return;
        }
    };
    let Ok(addr) = listener.local_addr() else {
        return;
    };
    let _ = addr_tx.send(Ok(addr));
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let upstream = Upstream {
        client,
        base: upstream,
    };
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        // Closing with a zero linger sends RST: a reset is a reset, not a polite FIN.
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        let (state, upstream) = (Arc::clone(&state), upstream.clone());
        tokio::spawn(async move {
            let service =
                service_fn(move |req| handle(req, upstream.clone(), Arc::clone(&state), peer));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    upstream: Upstream,
    state: Arc<State>,
    peer: SocketAddr,
) -> Result<Response<Full<Bytes>>, Reset> {
    let (parts, body) = req.into_parts();
    let body = bytes(body).await;
    if DataPlane::is_execute_api(parts.uri.path()) {
        let ip = peer.ip().to_string();
        return Ok(full(state.dataplane.execute_api(&parts, body, &ip).await));
    }
    let mut call = classify(&parts, &body);
    let principal = state.dataplane.principal(&parts);
    call.caller = principal.as_ref().map(|p| p.function.clone());
    let fault = state.dice.lock().ok().and_then(|mut dice| {
        dice.as_mut()
            .and_then(|d| d.roll(&call.service, &call.operation))
    });
    let trigger = state.armed.matched(&call);
    let seq = record(&state, &call, fault);
    if let Some(t) = &trigger {
        state.armed.in_flight(t, state.started).await;
    }
    let answer = match fault {
        Some(Fault::ResetBefore) => return Err(Reset),
        Some(f @ (Fault::ServerError | Fault::Unavailable | Fault::Throttle)) => {
            // Refused before it reached moto: nothing was applied, nothing to signal after.
            let refusal = faults::response(&call.service, f);
            if f == Fault::Throttle && principal.is_some() {
                state.dataplane.throttled(&call, &body).await;
            }
            state.armed.freeze.passed().await;
            record_status(&state, seq, refusal.status().as_u16());
            return Ok(full(refusal));
        }
        _ => {
            delay(fault).await;
            let exchange = Exchange {
                call: &call,
                parts: &parts,
                body: &body,
            };
            answer(&state, &upstream, &exchange, principal.as_ref()).await
        }
    };
    let after_applied = trigger.as_ref().filter(|t| t.when == When::AfterApplied);
    if let Some(t) = after_applied {
        state.armed.signal(t.signal, state.started).await;
    }
    if after_applied.is_some() || fault == Some(Fault::ResetAfter) {
        return Err(Reset);
    }
    state.armed.freeze.passed().await;
    record_status(&state, seq, answer.status().as_u16());
    Ok(full(answer))
}

/// Records the call (and the fault it drew); returns its number.
fn record(state: &State, call: &Call, fault: Option<Fault>) -> usize {
    let seq = state.sequence.fetch_add(1, Ordering::SeqCst);
    if let Ok(mut calls) = state.calls.lock() {
        let sent = state.started.elapsed();
        calls.push((
            seq,
            Call {
                sent,
                ..call.clone()
            },
        ));
    }
    if let (Some(fault), Ok(mut injected)) = (fault, state.injected.lock()) {
        injected.push((call.clone(), fault));
    }
    seq
}

/// The pause a latency or stall fault asks for, before the request goes on.
async fn delay(fault: Option<Fault>) {
    match fault {
        Some(Fault::Latency(drawn)) => tokio::time::sleep(drawn).await,
        Some(Fault::Stall(hold)) => tokio::time::sleep(hold).await,
        _ => {}
    }
}

/// moto's answer, through the realism layer when it is on (it may answer in AWS's place, or
/// rewrite what moto said), or the data plane's for what moto does not run. A function's own
/// calls are authorized against its role instead, as in the region, with no added latency.
async fn answer(
    state: &State,
    upstream: &Upstream,
    ex: &Exchange<'_>,
    principal: Option<&Principal>,
) -> Response<Bytes> {
    let layer = match principal {
        Some(_) => None,
        None => state.realism.lock().ok().and_then(|l| l.clone()),
    };
    if let Some(who) = principal {
        if let Some(refusal) = state.dataplane.authorize(ex, who).await {
            return refusal;
        }
    }
    let arrived = std::time::Instant::now();
    if let Some(layer) = &layer {
        let tags = match layer.config.policy.is_some() {
            true => state.dataplane.resource_tags(ex).await,
            false => None,
        };
        if let Some(refusal) = layer.before(ex, upstream, tags.as_ref()).await {
            layer.round_trip(arrived).await;
            return refusal;
        }
    }
    if let Some(ran) = state.dataplane.before(ex).await {
        if let Some(layer) = &layer {
            layer.after_run().await;
        }
        return ran;
    }
    if let Some(layer) = &layer {
        let window = layer.config.policy_propagation;
        state.dataplane.permissions_changing(ex, window).await;
    }
    let answer = upstream.forward(ex.parts, ex.body.clone()).await;
    let answer = state.dataplane.after(ex, answer).await;
    let Some(layer) = layer else { return answer };
    let answer = layer.after(ex, answer);
    layer.round_trip(arrived).await;
    answer
}

fn record_status(state: &State, seq: usize, status: u16) {
    let at = state.started.elapsed();
    if let Ok(mut calls) = state.calls.lock() {
        if let Some((_, c)) = calls.iter_mut().rev().find(|(s, _)| *s == seq) {
            c.status = status;
            c.answered = Some(at);
        }
    }
}

fn full(answer: Response<Bytes>) -> Response<Full<Bytes>> {
    let (mut parts, body) = answer.into_parts();
    parts.headers.remove(hyper::header::CONTENT_LENGTH);
    Response::from_parts(parts, Full::new(body))
}
