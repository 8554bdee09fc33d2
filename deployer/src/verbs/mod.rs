//! Each verb of the command line, as one short function: read the stack, open a session, call
//! the orchestration ([`crate::reconcile`], [`crate::down`], [`crate::invoke`]), print the
//! report, and give the exit code. The orchestration prints nothing itself.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use lambda_local::Pool;

use crate::args::{DiffArgs, InitArgs, InvokeArgs, ServeArgs};
use crate::arns::Arns;
use crate::aws::Target;
use crate::invoke::{self, Backend};
use crate::local::{self, serve as local_serve};
use crate::names::Names;
use crate::package;
use crate::progress::Progress;
use crate::reconcile;
use crate::report::{self, DiffReport, Output, PackageReport, Report};
use crate::resources::function::Code;
use crate::resources::{Desired, Needs, Observed, Resource};
use crate::session::Session;
use crate::stack::{self, Stack};

/// What every verb needs of the command line's global flags.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub stack: PathBuf,
    /// `--stage`: overrides the file's `stage`.
    pub stage: Option<String>,
    pub target: Target,
    pub output: Output,
}

impl Invocation {
    /// The directory holding the stack file: the cargo workspace that `package` builds.
    pub fn root(&self) -> PathBuf {
        match self.stack.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    pub fn print(&self, report: &impl Report) {
        self.output.print(report);
    }

    pub(crate) async fn session<'p>(
        &self,
        stack: &Stack,
        progress: &'p Progress,
    ) -> anyhow::Result<Session<'p>> {
        Session::open(&self.target, stack, progress).await
    }
}

mod read;
mod write;

pub use read::{logs, outputs, policy, snippet, status};
pub use write::{down, rollback, unlock, up};

/// Reads the stack; a bad file fails here, before any AWS call.
fn stack(cli: &Invocation) -> anyhow::Result<Stack> {
    stack::load(&cli.stack, cli.stage.as_deref())
}

pub fn init(cli: &Invocation, args: &InitArgs) -> anyhow::Result<ExitCode> {
    crate::init::write(&cli.stack, &args.name, &args.region)?;
    eprintln!(
        "Wrote {}. Next: `deployer up --dry-run` shows what it would create; `deployer up` creates it.",
        cli.stack.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn package(cli: &Invocation) -> anyhow::Result<ExitCode> {
    let stack = stack(cli)?;
    let artifact = package::package(&stack, &cli.root())?;
    if let Some(note) = artifact.note() {
        eprintln!("{note}");
    }
    cli.print(&PackageReport::of(&artifact));
    Ok(ExitCode::SUCCESS)
}

/// Builds the zip and reads the live stack at the same time: nothing needs the zip's hash until
/// the function is planned. A prebuilt zip (`--zip`) is read and checked first, so that a bad
/// one costs no AWS call. Returns the session, what is live, and the desired state.
async fn prepare<'p>(
    cli: &Invocation,
    stack: &Stack,
    zip: Option<&Path>,
    progress: &'p Progress,
    lease: bool,
) -> anyhow::Result<Prepared<'p>> {
    let (surveyed, artifact) = match zip {
        Some(path) => {
            let artifact = package::load(path, stack.function.architecture)?;
            (
                reconcile::survey(&cli.target, stack, progress, lease).await,
                artifact,
            )
        }
        None => {
            let building = {
                let (root, stack) = (cli.root(), stack.clone());
                tokio::task::spawn_blocking(move || package::package(&stack, &root))
            };
            let (surveyed, built) = tokio::join!(
                reconcile::survey(&cli.target, stack, progress, lease),
                building
            );
            let built = built.map_err(|e| anyhow::anyhow!("building the function: {e}"))??;
            if let Some(note) = built.note() {
                progress.line(note);
            }
            (surveyed, built)
        }
    };
    let (session, observed, seen) = surveyed?;
    let (names, arns) = (&session.names, &session.arns);
    let desired = reconcile::desired(stack, names, arns, Code::of(&artifact));
    Ok((session, observed, desired, seen))
}

/// What [`prepare`] read and derived: the session, what is live, the desired state, and the
/// deploy lease as read before the stack (when asked for).
type Prepared<'p> = (Session<'p>, Observed, Desired, Option<crate::lease::Seen>);

pub async fn diff(cli: &Invocation, args: &DiffArgs) -> anyhow::Result<ExitCode> {
    let stack = stack(cli)?;
    let progress = Progress::new();
    let (session, observed, desired, _) =
        prepare(cli, &stack, args.zip.as_deref(), &progress, false).await?;
    let planned = reconcile::plan(&desired, &observed);
    let seen = (&desired, &observed, &planned);
    let reconcile::Verdict { refused, adoption } =
        reconcile::verdict(&session.clients, &session.names, seen, args.adopt).await?;
    let plan = planned.describe(&desired);
    let report = DiffReport {
        in_sync: plan.is_empty() && refused.is_none(),
        live_version: observed.alias.as_ref().map(|a| a.version.clone()),
        header: report::header(&session.names, &session.arns),
        plan,
        refused,
        adoption,
    };
    cli.print(&report);
    Ok(if report.in_sync {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

pub async fn invoke(cli: &Invocation, how: &InvokeArgs) -> anyhow::Result<ExitCode> {
    let stack = stack(cli)?;
    let progress = Progress::new();
    let backend = match (how.url.as_deref(), how.local) {
        (Some(url), _) => Backend::http(url)?,
        (None, true) => {
            let session = cli.session(&stack, &progress).await?;
            local_backend(cli, &stack, &session, how.zip.as_deref())?
        }
        (None, false) => {
            let session = cli.session(&stack, &progress).await?;
            Backend::http(&deployed_url(&stack, &session).await?)?
        }
    };
    let passed = match how.path.as_deref() {
        Some(path) => {
            let one = invoke::single(&backend, &how.method, path).await;
            backend.shutdown().await;
            let one = one?;
            let ok = one.status < 400;
            cli.print(&report::SingleReport(one));
            ok
        }
        None => {
            let origin = stack.api.cors_origins.first().map(String::as_str);
            let checks = invoke::smoke(&backend, origin).await;
            backend.shutdown().await;
            let ok = checks.passed;
            cli.print(&report::InvokeReport(checks));
            ok
        }
    };
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The deployed stage's URL, from the API found by its tags.
pub(crate) async fn deployed_url(stack: &Stack, session: &Session<'_>) -> anyhow::Result<String> {
    let api = crate::resources::api::Api::observe(&session.clients, &session.names, Needs::NONE);
    let id = api.await?.map(|a| a.ours.id).ok_or_else(|| {
        anyhow::anyhow!(
            "no API of stack {} ({}) is deployed: run `deployer up`, or pass --url or --local",
            stack.name,
            stack.stage
        )
    })?;
    Ok(session
        .arns
        .api_url(&id, session.clients.emulator.as_deref()))
}

pub async fn serve(cli: &Invocation, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let stack = stack(cli)?;
    let port = args.port;
    let progress = Progress::new();
    let session = cli.session(&stack, &progress).await?;
    let Backend::Local { pool, stage } = local_backend(cli, &stack, &session, args.zip.as_deref())?
    else {
        anyhow::bail!("serve needs the local backend");
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot listen on 127.0.0.1:{port}: {e}; pass --port to pick another")
        })?;
    let served: Vec<String> = stage.routes.iter().map(|r| r.route.to_string()).collect();
    eprintln!(
        "Serving stage {} of {} on http://127.0.0.1:{port} ({}); Ctrl-C stops.",
        stack.stage,
        stack.name,
        served.join(", ")
    );
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    local_serve::serve(Arc::from(pool), Arc::new(stage), listener, stop).await?;
    Ok(ExitCode::SUCCESS)
}

/// The built bootstrap behind the Runtime API, with the environment `up` derives.
fn local_backend(
    cli: &Invocation,
    stack: &Stack,
    session: &Session<'_>,
    zip: Option<&Path>,
) -> anyhow::Result<Backend> {
    let (names, arns): (&Names, &Arns) = (&session.names, &session.arns);
    let bootstrap = match zip {
        Some(zip) => package::extract(
            &package::load(zip, stack.function.architecture)?,
            &std::env::temp_dir(),
        )?,
        None => {
            let (name, arch) = (&stack.function.package, stack.function.architecture);
            package::bootstrap(name, arch, &cli.root())?.path
        }
    };
    let endpoint = cli.target.endpoint_url.as_deref();
    let spec = local::spec(stack, names, arns, bootstrap, endpoint)?;
    if let Some((emulator, _)) = local::emulation(stack.function.architecture)? {
        eprintln!(
            "  running the {} bootstrap under {} (user-mode emulation): slower than on Lambda",
            stack.function.architecture.as_str(),
            emulator.display()
        );
    }
    Ok(Backend::Local {
        pool: Box::new(Pool::new(spec)),
        stage: local::stage(stack, arns),
    })
}
