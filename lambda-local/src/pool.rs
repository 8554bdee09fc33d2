//! Function processes, each serving one invocation at a time: a new one starts whenever all are
//! busy, as Lambda scales out, and a process that timed out or crashed is replaced. The first
//! invocation of each process is its cold start.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;

use crate::runtime_api::{Invocation, Outcome, Sandbox, Spec};

/// What the pool has seen of its processes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub spawned: usize,
    pub init_durations: Vec<Duration>,
    pub peak_rss_kib: u64,
}

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

    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    pub async fn invoke(&self, event: Bytes) -> Outcome {
        self.run(event).await.outcome
    }

    /// Invokes a warm process, or starts one.
    pub async fn run(&self, event: Bytes) -> Invocation {
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
                Err(e) => return failed_to_start(format!("{e:#}")),
            },
        };
        let invocation = sandbox.run(event).await;
        if let Ok(mut stats) = self.stats.lock() {
            if let Some(init) = invocation.init {
                stats.init_durations.push(init);
            }
            stats.peak_rss_kib = stats.peak_rss_kib.max(sandbox.peak_rss_kib().unwrap_or(0));
        }
        if sandbox.is_alive() {
            self.idle.lock().await.push(sandbox);
        } else {
            sandbox.stop().await;
        }
        invocation
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

/// A process that could not even start: an invocation that crashed at once.
fn failed_to_start(why: String) -> Invocation {
    Invocation {
        request_id: crate::runtime_api::request_id(),
        environment: String::new(),
        outcome: Outcome::Crashed(why),
        duration: Duration::ZERO,
        cold: true,
        init: None,
        init_logs: Vec::new(),
        logs: Vec::new(),
        max_memory_mb: 0,
    }
}
