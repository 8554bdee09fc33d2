//! `stack.yaml` in two stages: [`raw`] is exactly what the user wrote, with the source location
//! of every value; [`Stack`] is the validated model the rest of the deployer uses, made by
//! [`validate`]. Problems are rendered by [`error`].
//!
//! Validation reports every problem at once, each with the file, line, key and what to do, and
//! runs before any AWS call: a bad file costs nothing and changes nothing.

pub mod alerts;
pub mod environment;
pub mod error;
pub mod raw;
pub mod rules;
pub mod validate;

use std::collections::BTreeMap;
use std::path::Path;

pub use error::{Problem, StackError};
pub use rules::is_stage;

/// The Lambda architectures, as AWS spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Architecture {
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

impl Architecture {
    pub fn parse(text: &str) -> Option<Architecture> {
        match text {
            "x86_64" => Some(Architecture::X86_64),
            "arm64" => Some(Architecture::Arm64),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }

    /// The Rust target that builds a `provided.al2023` binary for this architecture.
    pub fn rust_target(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64-unknown-linux-gnu",
            Architecture::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }
}

/// One API route, `GET /counter`: the same type the local stage routes by.
pub use lambda_local::Route;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    pub rate: f64,
    pub burst: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: String,
    /// The partition key's attribute name (`table.key`, default the contract's `id`).
    pub key: String,
    /// Where `table.key` is written, for a refusal that names it; `None` when defaulted.
    pub key_line: Option<u64>,
    pub point_in_time_recovery: bool,
    pub deletion_protection: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub package: String,
    pub architecture: Architecture,
    pub memory_mb: u32,
    pub timeout_s: u32,
    pub log_retention_days: u32,
    pub counter_id: String,
    /// Published versions kept besides the live one and its predecessor.
    pub keep_versions: u32,
    /// Whether crawlers, previews, audits and prefetches count (default: they get the count,
    /// uncounted).
    pub count_bots: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    /// An existing REST API to adopt (`api.id`), so that its URL stays; `None`: the stack's
    /// own, found by its tags.
    pub id: Option<String>,
    /// Where `api.id` is written.
    pub id_line: Option<u64>,
    pub routes: Vec<Route>,
    pub cors_origins: Vec<String>,
    /// The request headers a preflight allows; empty: whatever the browser asks for.
    pub cors_headers: Vec<String>,
    pub throttle: Throttle,
}

impl Api {
    /// Every route the API serves: the stack's routes, plus `OPTIONS` on each of their paths when
    /// CORS is on, because the function answers preflights itself. `up` deploys these and the
    /// local API (`serve`, `invoke --local`) routes these, so the two cannot disagree.
    pub fn served_routes(&self) -> Vec<Route> {
        let mut routes = self.routes.clone();
        if !self.cors_origins.is_empty() {
            for r in &self.routes {
                let preflight = Route {
                    method: function::contract::PREFLIGHT.into(),
                    path: r.path.clone(),
                };
                if !routes.contains(&preflight) {
                    routes.push(preflight);
                }
            }
        }
        routes.sort();
        routes
    }
}

/// Who hears when the counter fails (`alerts:`), and after how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alerts {
    /// An address subscribed to the stack's own topic (it must confirm AWS's e-mail).
    pub email: Option<String>,
    /// A topic of the user's, notified besides (or instead of) the stack's own.
    pub topic_arn: Option<String>,
    /// Errors in 5 minutes (the function's, or 5xx at the stage) that raise an alarm.
    pub errors: u32,
    /// Throttled invocations or table requests in 5 minutes that raise an alarm.
    pub throttles: u32,
}

/// The validated stack. Only this type leaves this module.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    pub name: String,
    pub region: Option<String>,
    pub stage: String,
    pub table: Table,
    pub function: Function,
    pub api: Api,
    /// `None`: no topic and no alarm.
    pub alerts: Option<Alerts>,
    pub tags: BTreeMap<String, String>,
}

/// The largest stack file read: a real one is a few hundred bytes.
const MAX_FILE_BYTES: u64 = 256 * 1024;

/// Reads and validates the stack at `path`; `stage` (from `--stage`) overrides the file's own.
pub fn load(path: &Path, stage: Option<&str>) -> Result<Stack, anyhow::Error> {
    let size = std::fs::metadata(path)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot read the stack file {}: {e}\n  hint: run from the project's top level, \
                 or pass --stack PATH (`deployer init` writes a new one)",
                path.display()
            )
        })?
        .len();
    if size > MAX_FILE_BYTES {
        anyhow::bail!(
            "{} is {size} bytes; a stack file is at most {MAX_FILE_BYTES} bytes",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the stack file {}: {e}", path.display()))?;
    Ok(parse_with(&text, path, stage)?)
}

/// Parses and validates stack text; `path` is only used in messages.
pub fn parse(text: &str, path: &Path) -> Result<Stack, StackError> {
    parse_with(text, path, None)
}

/// [`parse`], with the stage overridden.
pub fn parse_with(text: &str, path: &Path, stage: Option<&str>) -> Result<Stack, StackError> {
    let raw = raw::read(text).map_err(|e| error::syntax_error(&e, text, path))?;
    let mut checker = error::Checker::new();
    let stack = validate::stack(raw, stage, &mut checker);
    match checker.finish(path) {
        None => Ok(stack),
        Some(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
