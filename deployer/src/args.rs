//! The arguments of each verb, one clap `Args` struct per verb, passed whole from the command
//! line ([`crate::cli`]) to the verb ([`crate::verbs`]).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// How long a writing verb waits for the deploy lease (`up`, `down`, `rollback`).
#[derive(Debug, Clone, Args)]
pub struct LockArgs {
    /// Wait this long for another deploy to finish (90s, 10m, 0 to fail at once).
    #[arg(long, value_name = "D", default_value = crate::lease::DEFAULT_TIMEOUT, value_parser = crate::duration::parse)]
    pub lock_timeout: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Deploy this prebuilt zip instead of building (for pipelines that build once).
    #[arg(long, value_name = "FILE")]
    pub zip: Option<PathBuf>,
    /// Take over resources of the stack's names made without the deployer (untagged), keeping
    /// the table's items; never those of another stack.
    #[arg(long)]
    pub adopt: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// Compare the live code with this zip instead of building.
    #[arg(long, value_name = "FILE")]
    pub zip: Option<PathBuf>,
    /// Show what `up --adopt` would change: untagged resources of the stack's names taken over.
    #[arg(long)]
    pub adopt: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    /// The version to move to (default: the one that served before the live one).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Clone, Args)]
pub struct UnlockArgs {
    /// Clear the lease even though its holder has not expired (it may still be running: only
    /// when you know that deploy is gone).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Args)]
pub struct InvokeArgs {
    /// Run the built bootstrap here, through the Lambda Runtime API; no listener needed.
    #[arg(long, conflicts_with = "url")]
    pub local: bool,
    /// Run the checks against this base URL instead (a local `serve`, a custom domain).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Send this one request and print the response, instead of the checks.
    #[arg(long, value_name = "P")]
    pub path: Option<String>,
    /// The method of --path.
    #[arg(long, value_name = "M", default_value = "GET", requires = "path")]
    pub method: String,
    /// With --local: run the bootstrap inside this zip instead of building.
    #[arg(long, value_name = "FILE", requires = "local")]
    pub zip: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// Run the bootstrap inside this zip instead of building.
    #[arg(long, value_name = "FILE")]
    pub zip: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct DownArgs {
    /// Also delete the table, turning its deletion protection off first.
    #[arg(long)]
    pub delete_table: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// Where to start: a duration back from now (90s, 10m, 2h, 1d) or an RFC 3339 time.
    #[arg(long, value_name = "WHEN", default_value = crate::logs::DEFAULT_SINCE)]
    pub since: String,
    /// Keep polling for new events until Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    /// Only the lines of this request (the id an error response shows).
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,
    /// Only errors: level ERROR, and Lambda's "Task timed out".
    #[arg(long)]
    pub errors: bool,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// The window of the figures: a duration back from now (90s, 10m, 2h, 1d) or an RFC 3339
    /// time.
    #[arg(long, value_name = "WHEN", default_value = crate::status::DEFAULT_SINCE)]
    pub since: String,
}

#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// Only what `diff`, `outputs` and `logs` need: for a nightly drift check.
    #[arg(long)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SnippetArgs {
    /// Wire it to this base URL instead of the deployed stage's (a custom domain, a `serve`).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// The stack's name: the prefix of every resource.
    #[arg(long, default_value = "visitor-counter")]
    pub name: String,
    /// The AWS region to deploy to.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
}
