//! Running the real function here: a Lambda Runtime API server ([`runtime_api`]), API Gateway
//! REST v1 event translation ([`events`]), a pool of function processes that grows on demand as
//! Lambda scales out, and the local API ([`serve`]).
//!
//! moto cannot execute Lambda code and its stage URLs do not route, so this is how `invoke
//! --local` and `serve` prove the built `bootstrap` answers, with the environment `up` gives it.

pub mod events;
pub mod runtime_api;
pub mod serve;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;

use crate::names::Names;
use crate::stack::{Architecture, Stack};
use events::{HttpRequest, HttpResponse, Routes};
use runtime_api::{Outcome, Sandbox, Spec};

/// Variables passed from the deployer's environment to the function, so that it reaches the same
/// AWS (or emulator) with the same credentials, trusting the same CA bundle if one is set.
const PASSED_THROUGH: [&str; 9] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_CA_BUNDLE",
    "HOME",
];

/// How this host runs a `bootstrap` of `arch`: natively (`None`), or under Debian's user-mode
/// emulator (`qemu-aarch64` or `qemu-x86_64`, from `qemu-user`) with the other architecture's
/// glibc from the cross toolchain's sysroot, as the program and its first arguments.
pub fn emulation(arch: Architecture) -> anyhow::Result<Option<(PathBuf, Vec<String>)>> {
    if arch.rust_target() == crate::package::build::host_target() {
        return Ok(None);
    }
    let (qemu, sysroot) = match arch {
        Architecture::Arm64 => ("/usr/bin/qemu-aarch64", "/usr/aarch64-linux-gnu"),
        Architecture::X86_64 => ("/usr/bin/qemu-x86_64", "/usr/x86_64-linux-gnu"),
    };
    if !Path::new(qemu).exists() || !Path::new(sysroot).join("lib").exists() {
        anyhow::bail!(
            "function.architecture is {} and this host runs {}: running its bootstrap here needs \
             user-mode emulation ({qemu}) and that architecture's glibc ({sysroot}).\n  hint: \
             `apt-get install qemu-user {}` (`make setup` does it for this project)",
            arch.as_str(),
            crate::package::build::host_target(),
            match arch {
                Architecture::Arm64 => "libc6-arm64-cross",
                Architecture::X86_64 => "libc6-amd64-cross",
            }
        );
    }
    Ok(Some((
        PathBuf::from(qemu),
        vec!["-L".into(), sysroot.into()],
    )))
}

/// The process spec of the stack's function: Lambda's variables, and the function environment
/// derived by [`Names`], the same one `up` deploys; under [`emulation`] when the function's
/// architecture is not the host's.
pub fn spec(
    stack: &Stack,
    names: &Names,
    bootstrap: PathBuf,
    endpoint_url: Option<&str>,
) -> anyhow::Result<Spec> {
    let mut env: Vec<(String, String)> = vec![
        ("AWS_LAMBDA_FUNCTION_NAME".into(), names.function.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
            stack.function.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME".into(), names.log_group.clone()),
        ("AWS_LAMBDA_LOG_STREAM_NAME".into(), "local".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
        ("AWS_REGION".into(), names.region.clone()),
        ("AWS_DEFAULT_REGION".into(), names.region.clone()),
        ("_HANDLER".into(), crate::naming::HANDLER.into()),
    ];
    for (k, v) in std::env::vars() {
        if PASSED_THROUGH.contains(&k.as_str()) || k.starts_with("AWS_ENDPOINT_URL_") {
            env.push((k, v));
        }
    }
    if let Some(url) = endpoint_url {
        env.retain(|(k, _)| k != "AWS_ENDPOINT_URL");
        env.push(("AWS_ENDPOINT_URL".into(), url.to_string()));
    }
    env.extend(
        names
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    let (program, args) = match emulation(stack.function.architecture)? {
        None => (bootstrap, Vec::new()),
        Some((emulator, mut args)) => {
            args.push(bootstrap.display().to_string());
            (emulator, args)
        }
    };
    Ok(Spec {
        program,
        args,
        cwd: None,
        env,
        timeout: Duration::from_secs(u64::from(stack.function.timeout_s)),
        function_arn: names.function_arn.clone(),
        quiet: false,
    })
}

/// What the pool has seen of its processes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub spawned: usize,
    pub init_durations: Vec<Duration>,
    pub peak_rss_kib: u64,
}

/// Function processes, each serving one invocation at a time; a new one starts whenever all are
/// busy, as Lambda scales out, and a process that timed out or crashed is replaced.
pub struct Pool {
    spec: Spec,
    idle: tokio::sync::Mutex<Vec<Sandbox>>,
    stats: Mutex<Stats>,
}

impl Pool {
    pub fn new(spec: Spec) -> Pool {
        Pool {
            spec,
            idle: tokio::sync::Mutex::new(Vec::new()),
            stats: Mutex::new(Stats::default()),
        }
    }

    pub async fn invoke(&self, event: Bytes) -> Outcome {
        let idle = self.idle.lock().await.pop();
        let mut sandbox = match idle {
            Some(s) => s,
            None => match Sandbox::spawn(&self.spec).await {
                Ok(s) => {
                    if let Ok(mut stats) = self.stats.lock() {
                        stats.spawned += 1;
                    }
                    s
                }
                Err(e) => return Outcome::Crashed(format!("{e:#}")),
            },
        };
        let fresh = sandbox.init_duration().is_none();
        let outcome = sandbox.invoke(event).await;
        if let Ok(mut stats) = self.stats.lock() {
            if let (true, Some(init)) = (fresh, sandbox.init_duration()) {
                stats.init_durations.push(init);
            }
            stats.peak_rss_kib = stats.peak_rss_kib.max(sandbox.peak_rss_kib().unwrap_or(0));
        }
        if sandbox.is_alive() {
            self.idle.lock().await.push(sandbox);
        } else {
            sandbox.stop().await;
        }
        outcome
    }

    pub fn stats(&self) -> Stats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Stops every process.
    pub async fn shutdown(&self) {
        let all: Vec<Sandbox> = self.idle.lock().await.drain(..).collect();
        for sandbox in all {
            sandbox.stop().await;
        }
    }
}

/// One HTTP request through the stage: route, event, function, response, as API Gateway does.
pub async fn handle(pool: &Pool, routes: &Routes, req: HttpRequest) -> HttpResponse {
    let Some(route) = routes.find(&req.method, &req.path).cloned() else {
        return routes.gateway_response(HttpResponse::missing_authentication_token(), &req);
    };
    let id = runtime_api::request_id();
    let event = events::to_event(&req, &route, routes, &id);
    let failed = |why: String| {
        eprintln!("  ! {} {}: {why}", req.method, req.path);
        routes.gateway_response(HttpResponse::internal_server_error(), &req)
    };
    match pool.invoke(Bytes::from(event.to_string())).await {
        Outcome::Response(payload) => events::from_response(&payload).unwrap_or_else(failed),
        Outcome::Error(body) => failed(format!(
            "the function failed: {}",
            String::from_utf8_lossy(&body)
        )),
        Outcome::Timeout => failed("the function timed out and was stopped".into()),
        Outcome::Crashed(why) => failed(why),
    }
}
