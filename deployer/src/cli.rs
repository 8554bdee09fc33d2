//! The command line (DESIGN §5): the flags and verbs, and the dispatch to [`crate::verbs`]. Every
//! verb's result prints as text for people and as one JSON document for CI (`--output json`);
//! progress goes to stderr, so stdout holds only the result.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Up {
        /// Print the plan and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Deploy this prebuilt zip instead of building (for pipelines that build once).
        #[arg(long, value_name = "FILE")]
        zip: Option<PathBuf>,
    },
    /// Read-only drift report: exit 0 in sync, 2 drift, 1 error.
    Diff {
        /// Compare the live code with this zip instead of building.
        #[arg(long, value_name = "FILE")]
        zip: Option<PathBuf>,
    },
    /// Smoke test: /health is healthy, /counter rises by exactly 1 per call, CORS is right, an
    /// unknown path fails. By default against the deployed stage over HTTPS.
    Invoke {
        /// Run the built bootstrap here, through the Lambda Runtime API; no listener needed.
        #[arg(long, conflicts_with = "url")]
        local: bool,
        /// Run the checks against this base URL instead (a local `serve`, a custom domain).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Send this one request and print the response, instead of the checks.
        #[arg(long, value_name = "P")]
        path: Option<String>,
        /// The method of --path.
        #[arg(long, value_name = "M", default_value = "GET", requires = "path")]
        method: String,
        /// With --local: run the bootstrap inside this zip instead of building.
        #[arg(long, value_name = "FILE", requires = "local")]
        zip: Option<PathBuf>,
    },
    /// A local API that behaves like the stage: HTTP to API Gateway REST v1 proxy events, through
    /// the Lambda Runtime API, into the real bootstrap. Ctrl-C stops it.
    Serve {
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// Run the bootstrap inside this zip instead of building.
        #[arg(long, value_name = "FILE")]
        zip: Option<PathBuf>,
    },
    /// Remove what `up` made; the table (data) stays unless --delete-table.
    Down {
        /// Also delete the table, turning its deletion protection off first.
        #[arg(long)]
        delete_table: bool,
    },
    /// The function's log events from CloudWatch Logs: time, level, request id, message, then
    /// the other fields (--output json: the raw lines).
    Logs {
        /// Where to start: a duration back from now (90s, 10m, 2h, 1d) or an RFC 3339 time.
        #[arg(long, value_name = "WHEN", default_value = crate::logs::DEFAULT_SINCE)]
        since: String,
        /// Keep polling for new events until Ctrl-C.
        #[arg(long)]
        follow: bool,
        /// Only the lines of this request (the id an error response shows).
        #[arg(long, value_name = "ID")]
        request_id: Option<String>,
        /// Only errors: level ERROR, and Lambda's "Task timed out".
        #[arg(long)]
        errors: bool,
    },
    /// The live stack's api_url, ARNs and table name; changes nothing, fails when not deployed.
    Outputs,
    /// The IAM policy the credentials running `up`, `diff` and `down` need for this stack,
    /// scoped to its own ARNs (JSON, for `aws iam put-role-policy` or Terraform).
    Policy {
        /// Only what `diff`, `outputs` and `logs` need: for a nightly drift check.
        #[arg(long)]
        read_only: bool,
    },
    /// Print the shell completion script: `deployer completions bash > /etc/bash_completion.d/deployer`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write a commented stack.yaml (at --stack) to start from; never overwrites a file.
    Init {
        /// The stack's name: the prefix of every resource.
        #[arg(long, default_value = "visitor-counter")]
        name: String,
        /// The AWS region to deploy to.
        #[arg(long, default_value = "us-east-1")]
        region: String,
    },
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
        Verb::Up { dry_run, zip } => verbs::up(at, *dry_run, zip.as_deref()).await,
        Verb::Diff { zip } => verbs::diff(at, zip.as_deref()).await,
        Verb::Invoke {
            local,
            url,
            path,
            method,
            zip,
        } => {
            let how = verbs::InvokeArgs {
                local: *local,
                url: url.as_deref(),
                path: path.as_deref(),
                method,
                zip: zip.as_deref(),
            };
            verbs::invoke(at, how).await
        }
        Verb::Serve { port, zip } => verbs::serve(at, *port, zip.as_deref()).await,
        Verb::Down { delete_table } => verbs::down(at, *delete_table).await,
        Verb::Logs {
            since,
            follow,
            request_id,
            errors,
        } => {
            let args = verbs::LogsArgs {
                since,
                follow: *follow,
                request_id: request_id.as_deref(),
                errors: *errors,
            };
            verbs::logs(at, args).await
        }
        Verb::Outputs => verbs::outputs(at).await,
        Verb::Policy { read_only } => verbs::policy(at, *read_only).await,
        Verb::Init { name, region } => verbs::init(at, name, region),
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
