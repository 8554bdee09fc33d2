//! The command line: the flags and verbs (one `Args` struct per verb, passed whole), and the
//! dispatch to [`crate::verbs`]. Every verb's result prints as text for people and as one JSON
//! document for CI (`--output json`); progress goes to stderr, so stdout holds only the result.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use crate::args::{
    DiffArgs, DownArgs, InitArgs, InvokeArgs, LogsArgs, PolicyArgs, RollbackArgs, ServeArgs,
    SnippetArgs, StatusArgs, UnlockArgs, UpArgs,
};
use crate::aws::Target;
use crate::report::Output;
use crate::verbs::{self, Invocation};

/// Deploys the visitor-counter stack described by stack.yaml, and reports drift.
#[derive(Debug, Parser)]
#[command(name = "deployer", version, about)]
pub struct Cli {
    /// The stack file.
    #[arg(long, global = true, default_value = "stack.yaml")]
    pub stack: PathBuf,
    /// Deploy this stage instead of the file's `stage`: every derived name and tag follows it,
    /// so one file deploys `dev` beside `prod`.
    #[arg(long, global = true, value_name = "NAME", value_parser = parse_stage)]
    pub stage: Option<String>,
    /// The AWS region (default: the stack's `region`, then the standard chain).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// The AWS profile (default: the standard chain, such as AWS_PROFILE).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Send every AWS request here (overrides AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>).
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// What stdout shows.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(subcommand)]
    pub verb: Verb,
}

#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Build the function (release) and write the deterministic zip; print its path and sha256.
    Package,
    /// Reconcile everything; print the plan (+ create, ~ update, - delete) and the outputs.
    Up(UpArgs),
    /// Read-only drift report: exit 0 in sync, 2 drift, 1 error.
    Diff(DiffArgs),
    /// Move the live alias back to the version that served before (or --to VERSION), after
    /// probing it: one write. The next `up` rolls forward.
    Rollback(RollbackArgs),
    /// Smoke test: /health is healthy, /counter rises by exactly 1 per call, CORS is right, an
    /// unknown path fails. By default against the deployed stage over HTTPS.
    Invoke(InvokeArgs),
    /// A local API that behaves like the stage: HTTP to API Gateway REST v1 proxy events, through
    /// the Lambda Runtime API, into the real bootstrap. Ctrl-C stops it.
    Serve(ServeArgs),
    /// Remove what `up` made; the table (data) stays unless --delete-table.
    Down(DownArgs),
    /// Clear a deploy lease left behind (a killed `up`), naming its holder; refuses while the
    /// holder has not expired, unless --force.
    Unlock(UnlockArgs),
    /// The function's log events from CloudWatch Logs: time, level, request id, message, then
    /// the other fields (--output json: the raw lines).
    Logs(LogsArgs),
    /// The live stack's api_url, ARNs and table name; changes nothing, fails when not deployed.
    Outputs,
    /// Is the counter working? The live version, the count, the last day's requests, errors,
    /// latency and cold starts, and each alarm: exit 0 healthy, 2 an alarm firing or errors
    /// seen, 1 when it cannot read.
    Status(StatusArgs),
    /// The IAM policy the credentials running `up`, `diff` and `down` need for this stack,
    /// scoped to its own ARNs (JSON, for `aws iam put-role-policy` or Terraform).
    Policy(PolicyArgs),
    /// The HTML fragment that shows the count on a page (a span and a small script, under
    /// 1 KB), wired to the deployed stage; it counts each browser session once.
    Snippet(SnippetArgs),
    /// Print the shell completion script: `deployer completions bash > /etc/bash_completion.d/deployer`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write a commented stack.yaml (at --stack) to start from; never overwrites a file.
    Init(InitArgs),
}

/// A stage name API Gateway accepts, checked before anything is read.
fn parse_stage(text: &str) -> Result<String, String> {
    if crate::stack::is_stage(text) {
        Ok(text.to_string())
    } else {
        Err("use 1–64 letters, digits, hyphens or underscores, e.g. dev".to_string())
    }
}

impl Cli {
    /// What every verb needs of the global flags.
    pub fn invocation(&self) -> Invocation {
        Invocation {
            stack: self.stack.clone(),
            stage: self.stage.clone(),
            target: Target {
                region: self.region.clone(),
                profile: self.profile.clone(),
                endpoint_url: self.endpoint_url.clone(),
            },
            output: self.output,
        }
    }
}

/// Runs the verb; its exit code, or the error that ends the run.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let at = &cli.invocation();
    match &cli.verb {
        Verb::Package => verbs::package(at),
        Verb::Up(args) => verbs::up(at, args).await,
        Verb::Diff(args) => verbs::diff(at, args).await,
        Verb::Rollback(args) => verbs::rollback(at, args).await,
        Verb::Invoke(args) => verbs::invoke(at, args).await,
        Verb::Serve(args) => verbs::serve(at, args).await,
        Verb::Down(args) => verbs::down(at, args).await,
        Verb::Unlock(args) => verbs::unlock(at, args).await,
        Verb::Logs(args) => verbs::logs(at, args).await,
        Verb::Outputs => verbs::outputs(at).await,
        Verb::Status(args) => verbs::status(at, args).await,
        Verb::Policy(args) => verbs::policy(at, args).await,
        Verb::Snippet(args) => verbs::snippet(at, args).await,
        Verb::Init(args) => verbs::init(at, args),
        Verb::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "deployer",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
