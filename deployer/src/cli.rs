//! The command line (DESIGN §5) and the verbs behind it. Each verb returns a value that prints
//! as text for people and as one JSON document for CI (`--output json`); progress goes to
//! stderr, so stdout holds only the result.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::aws::{Clients, Target};
use std::sync::Arc;

use crate::down;
use crate::interrupt;
use crate::invoke::{self, Backend};
use crate::local::events::Routes;
use crate::local::{self, serve, Pool};
use crate::names::Names;
use crate::package::{self, Artifact};
use crate::plan::{Kind, Plan};
use crate::progress::Progress;
use crate::reconcile::{self, Desired, Outputs};
use crate::resources::api;
use crate::resources::{role, Ctx};
use crate::stack::{self, Stack};
use crate::wait::Waits;

/// Deploys the visitor-counter stack described by stack.yaml, and reports drift.
#[derive(Debug, Parser)]
#[command(name = "deployer", version, about)]
pub struct Cli {
    /// The stack file.
    #[arg(long, global = true, default_value = "stack.yaml")]
    pub stack: PathBuf,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
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
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // A bad stack file fails here, before any AWS call.
    let stack = stack::load(&cli.stack)?;
    let progress = Progress::new();
    match &cli.verb {
        Verb::Package => {
            let artifact = package::package(&stack, &root_of(&cli.stack))?;
            print(&cli, &PackageReport::of(&artifact));
            Ok(ExitCode::SUCCESS)
        }
        Verb::Up { dry_run, zip } => {
            let artifact = artifact(&cli, &stack, zip.as_deref())?;
            if !dry_run {
                interrupt::listen()?;
            }
            let session = Session::open(&cli, &stack, &progress).await?;
            match up(&session, &stack, &artifact, *dry_run, cli.output).await {
                Ok(report) => {
                    print(&cli, &report);
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => match e.downcast::<Interrupted>() {
                    Ok(stopped) => {
                        print(&cli, &stopped);
                        Ok(ExitCode::from(interrupt::exit_code()))
                    }
                    Err(e) => Err(e),
                },
            }
        }
        Verb::Diff { zip } => {
            let artifact = artifact(&cli, &stack, zip.as_deref())?;
            let session = Session::open(&cli, &stack, &progress).await?;
            let report = diff(&session, &stack, &artifact).await?;
            print(&cli, &report);
            Ok(if report.in_sync {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Verb::Invoke {
            local,
            url,
            path,
            method,
            zip,
        } => {
            let backend = match (url, local) {
                (Some(url), _) => Backend::http(url)?,
                (None, true) => {
                    let session = Session::open(&cli, &stack, &progress).await?;
                    local_backend(&cli, &stack, &session.names, zip.as_deref())?
                }
                (None, false) => {
                    let session = Session::open(&cli, &stack, &progress).await?;
                    let apis = api::observe(&session.clients, &session.names).await?;
                    let id = apis.ours().map(|a| a.id.clone()).ok_or_else(|| {
                        anyhow::anyhow!(
                            "no API of stack {} ({}) is deployed: run `deployer up`, or pass --url or --local",
                            stack.name,
                            stack.stage
                        )
                    })?;
                    Backend::http(&session.names.api_url(&id))?
                }
            };
            let passed = match path {
                Some(path) => {
                    let one = invoke::single(&backend, method, path).await;
                    backend.shutdown().await;
                    let one = one?;
                    let ok = one.status < 400;
                    print(&cli, &SingleReport(one));
                    ok
                }
                None => {
                    let report =
                        invoke::smoke(&backend, stack.api.cors_origins.first().map(String::as_str))
                            .await;
                    backend.shutdown().await;
                    let ok = report.passed;
                    print(&cli, &InvokeReport(report));
                    ok
                }
            };
            Ok(if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Verb::Serve { port, zip } => {
            let session = Session::open(&cli, &stack, &progress).await?;
            let backend = local_backend(&cli, &stack, &session.names, zip.as_deref())?;
            let Backend::Local { pool, routes } = backend else {
                anyhow::bail!("serve needs the local backend");
            };
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", *port))
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot listen on 127.0.0.1:{port}: {e}; pass --port to pick another"
                    )
                })?;
            let routes_text: Vec<String> = routes.routes.iter().map(ToString::to_string).collect();
            eprintln!(
                "Serving stage {} of {} on http://127.0.0.1:{port} ({}); Ctrl-C stops.",
                stack.stage,
                stack.name,
                routes_text.join(", ")
            );
            let stop = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            serve::serve(Arc::from(pool), Arc::new(routes), listener, stop).await?;
            Ok(ExitCode::SUCCESS)
        }
        Verb::Down { delete_table } => {
            interrupt::listen()?;
            let session = Session::open(&cli, &stack, &progress).await?;
            let mut report = down::Report::default();
            let result = down::down(
                session.ctx(),
                &role::Desired::of(&session.names),
                *delete_table,
                &mut report,
            )
            .await;
            match result {
                Ok(()) => {
                    print(&cli, &DownReport(report));
                    Ok(ExitCode::SUCCESS)
                }
                // What was removed before the stop or the failure is still worth knowing.
                Err(e) => {
                    print(&cli, &DownReport(report));
                    Err(e)
                }
            }
        }
    }
}

/// The built bootstrap behind the Runtime API, with the environment `up` derives.
fn local_backend(
    cli: &Cli,
    stack: &Stack,
    names: &Names,
    zip: Option<&Path>,
) -> anyhow::Result<Backend> {
    let bootstrap = match zip {
        Some(zip) => package::extract(&package::load(zip)?, &std::env::temp_dir())?,
        None => package::build(
            &stack.function.package,
            stack.function.architecture,
            &root_of(&cli.stack),
        )?,
    };
    package::check_glibc(&std::fs::read(&bootstrap)?)?;
    let spec = local::spec(stack, names, bootstrap, cli.endpoint_url.as_deref());
    Ok(Backend::Local {
        pool: Box::new(Pool::new(spec)),
        routes: Routes::of(stack),
    })
}

/// The directory holding the stack file: the cargo workspace that `package` builds.
fn root_of(stack: &Path) -> PathBuf {
    match stack.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn artifact(cli: &Cli, stack: &Stack, zip: Option<&Path>) -> anyhow::Result<Artifact> {
    match zip {
        Some(path) => package::load(path),
        None => package::package(stack, &root_of(&cli.stack)),
    }
}

/// Clients, the account, and every derived name: what a verb talking to AWS needs.
pub struct Session<'p> {
    pub clients: Clients,
    pub names: Names,
    pub progress: &'p Progress,
    pub waits: Waits,
}

impl<'p> Session<'p> {
    pub async fn open(
        cli: &Cli,
        stack: &Stack,
        progress: &'p Progress,
    ) -> anyhow::Result<Session<'p>> {
        let target = Target {
            region: cli.region.clone(),
            profile: cli.profile.clone(),
            endpoint_url: cli.endpoint_url.clone(),
        };
        let clients = Clients::load(&target, stack.region.as_deref()).await?;
        if let Err(why) = crate::names::Partition::check(&clients.region) {
            anyhow::bail!("{why} (from --region, stack.yaml or the AWS configuration)");
        }
        let account = clients.account().await?;
        let names = Names::derive(stack, &clients.region, &account);
        Ok(Session {
            clients,
            names,
            progress,
            waits: Waits::aws(),
        })
    }

    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            clients: &self.clients,
            names: &self.names,
            progress: self.progress,
            waits: &self.waits,
        }
    }
}

/// Anything a verb prints.
pub trait Report: Serialize {
    fn text(&self) -> String;
}

fn print(cli: &Cli, report: &impl Report) {
    match cli.output {
        Output::Json => match serde_json::to_string_pretty(report) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: cannot render JSON: {e}"),
        },
        Output::Text => print!("{}", colour(&report.text())),
    }
}

/// Colours plan lines on a terminal, never when NO_COLOR is set or stdout is a pipe.
fn colour(text: &str) -> String {
    let wanted = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    if !wanted {
        return text.to_string();
    }
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let code = match trimmed.chars().next() {
                Some('+') => "32",
                Some('~') => "33",
                Some('-') => "31",
                Some('!') => "1;31",
                _ => return format!("{line}\n"),
            };
            format!("\x1b[{code}m{line}\x1b[0m\n")
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct PackageReport {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: usize,
}

impl PackageReport {
    fn of(a: &Artifact) -> PackageReport {
        PackageReport {
            path: a.path.clone(),
            sha256: a.sha256.clone(),
            bytes: a.zip.len(),
        }
    }
}

impl Report for PackageReport {
    fn text(&self) -> String {
        format!(
            "{}\nsha256 (base64): {}\nsize: {} bytes\n",
            self.path.display(),
            self.sha256,
            self.bytes
        )
    }
}

#[derive(Debug, Serialize)]
pub struct UpReport {
    pub changes: Vec<crate::plan::Change>,
    pub outputs: Outputs,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub dry_run: bool,
    #[serde(skip)]
    plan: Plan,
    #[serde(skip)]
    header: String,
    /// Whether the plan was already printed before applying.
    #[serde(skip)]
    plan_shown: bool,
}

impl Report for UpReport {
    fn text(&self) -> String {
        let mut out = if self.plan_shown {
            String::new()
        } else {
            format!("{}\n{}", self.header, self.plan)
        };
        if self.dry_run {
            out.push_str("Dry run: nothing was changed.\n");
            return out;
        }
        out.push_str("\nOutputs:\n");
        let o = &self.outputs;
        let rows = [
            (
                "api_url",
                o.api_url.clone().unwrap_or_else(|| "(none)".into()),
            ),
            ("function_arn", o.function_arn.clone()),
            ("role_arn", o.role_arn.clone()),
            ("table_arn", o.table_arn.clone()),
            ("table_name", o.table_name.clone()),
        ];
        for (k, v) in rows {
            out.push_str(&format!("  {k:<13} {v}\n"));
        }
        for note in &self.notes {
            out.push_str(&format!("\nnote: {note}\n"));
        }
        out
    }
}

fn header(names: &Names) -> String {
    format!(
        "Stack {} ({}) in {}, account {}:",
        names.stack, names.stage, names.region, names.account
    )
}

/// Observes, plans and (unless `dry_run`) applies. In text mode the plan is printed before
/// anything is applied, so a person reads what is about to happen while it happens.
pub async fn up(
    session: &Session<'_>,
    stack: &Stack,
    artifact: &Artifact,
    dry_run: bool,
    output: Output,
) -> anyhow::Result<UpReport> {
    let names = &session.names;
    let desired = Desired::of(stack, names, artifact);
    let observed = match reconcile::observe(&session.clients, names, &desired).await {
        Ok(observed) => observed,
        Err(_) if interrupt::requested() => {
            return Err(Interrupted::of(&Plan::default(), &[]).into());
        }
        Err(e) => return Err(e),
    };
    let plan = reconcile::plan(names, &desired, &observed);
    let notes = reconcile::notes(&desired, &observed);
    let plan_shown = output == Output::Text;
    if plan_shown {
        print!("{}", colour(&format!("{}\n{plan}", header(names))));
    }
    let api_id = if dry_run || plan.is_empty() {
        observed.api.ours().map(|a| a.id.clone())
    } else {
        session.progress.line("Applying:");
        let mut done = Vec::new();
        match reconcile::apply(
            session.ctx(),
            &desired,
            &observed,
            artifact,
            &plan,
            &mut done,
        )
        .await
        {
            Ok(id) => Some(id),
            Err(_) if interrupt::requested() => {
                return Err(Interrupted::of(&plan, &done).into());
            }
            Err(e) => return Err(e),
        }
    };
    Ok(UpReport {
        changes: plan.changes.clone(),
        outputs: Outputs::of(names, api_id.as_deref()),
        notes,
        dry_run,
        header: header(names),
        plan,
        plan_shown,
    })
}

/// What an interrupted `up` finished and what it did not: the error that carries it out of
/// `up`, and the report `deployer` prints before exiting 130 (143 for SIGTERM).
#[derive(Debug, Serialize)]
pub struct Interrupted {
    pub interrupted: bool,
    /// `kind name` of each resource whose changes all went through.
    pub done: Vec<String>,
    /// `kind name` of each resource with changes not made, or only partly made.
    pub not_done: Vec<String>,
    /// Whether any request that may change something was sent.
    #[serde(skip)]
    wrote: bool,
}

impl Interrupted {
    pub fn of(plan: &Plan, done: &[Kind]) -> Interrupted {
        Interrupted {
            interrupted: true,
            done: plan.resources(|k| done.contains(&k)),
            not_done: plan.resources(|k| !done.contains(&k)),
            wrote: interrupt::wrote(),
        }
    }
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted")
    }
}

impl std::error::Error for Interrupted {}

impl Report for Interrupted {
    fn text(&self) -> String {
        let list = |items: &[String]| {
            if items.is_empty() {
                "(nothing)".to_string()
            } else {
                items.join(", ")
            }
        };
        let mut out = String::from(
            "\nInterrupted: the requests in flight finished, and no other was sent.\n",
        );
        if self.done.is_empty() && !self.wrote {
            out.push_str("Nothing was changed.\n");
        } else {
            out.push_str(&format!("  done:     {}\n", list(&self.done)));
        }
        if !self.not_done.is_empty() {
            out.push_str(&format!("  not done: {}\n", list(&self.not_done)));
        }
        out.push_str("Run `deployer up` again to finish: it observes afresh and carries on.\n");
        out
    }
}

#[derive(Debug, Serialize)]
pub struct DiffReport {
    pub in_sync: bool,
    pub changes: Vec<crate::plan::Change>,
    #[serde(skip)]
    plan: Plan,
    #[serde(skip)]
    header: String,
}

impl Report for DiffReport {
    fn text(&self) -> String {
        if self.in_sync {
            format!(
                "{}\nIn sync: the live stack matches stack.yaml.\n",
                self.header
            )
        } else {
            format!(
                "{}\n{}Drift: `deployer up` would make these changes.\n",
                self.header, self.plan
            )
        }
    }
}

pub async fn diff(
    session: &Session<'_>,
    stack: &Stack,
    artifact: &Artifact,
) -> anyhow::Result<DiffReport> {
    let names = &session.names;
    let desired = Desired::of(stack, names, artifact);
    let observed = reconcile::observe(&session.clients, names, &desired).await?;
    let plan = reconcile::plan(names, &desired, &observed);
    Ok(DiffReport {
        in_sync: plan.is_empty(),
        changes: plan.changes.clone(),
        plan,
        header: header(names),
    })
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct DownReport(pub down::Report);

impl Report for DownReport {
    fn text(&self) -> String {
        let r = &self.0;
        if r.nothing_found() {
            return "Nothing to remove: no resource of this stack exists.\n".to_string();
        }
        let mut out = String::new();
        for d in &r.deleted {
            out.push_str(&format!("  - {d} (deleted)\n"));
        }
        for k in &r.retained {
            out.push_str(&format!(
                "  = {k} (retained: it holds the data; `down --delete-table` deletes it)\n"
            ));
        }
        for s in &r.skipped {
            out.push_str(&format!(
                "  ? {s} (left alone: it exists but does not carry this stack's tags)\n"
            ));
        }
        out.push_str(&format!(
            "Removed {}, retained {}, left alone {}.\n",
            r.deleted.len(),
            r.retained.len(),
            r.skipped.len()
        ));
        out
    }
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct InvokeReport(pub invoke::Report);

impl Report for InvokeReport {
    fn text(&self) -> String {
        self.0.to_string()
    }
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct SingleReport(pub invoke::Single);

impl Report for SingleReport {
    fn text(&self) -> String {
        let s = &self.0;
        let mut out = format!("HTTP {} ({:.1} ms)\n", s.status, s.latency_ms);
        for (k, v) in &s.headers {
            out.push_str(&format!("{k}: {v}\n"));
        }
        out.push('\n');
        out.push_str(&s.body);
        out.push('\n');
        out
    }
}
