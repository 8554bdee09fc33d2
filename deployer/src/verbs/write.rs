//! The verbs that write, each under the deploy lease ([`crate::lease`]): `up`, `down`,
//! `rollback`; and `unlock`, which clears a lease left behind.

use std::process::ExitCode;
use std::time::Duration;

use super::{prepare, stack, Invocation};
use crate::args::{DownArgs, LockArgs, RollbackArgs, UnlockArgs, UpArgs};
use crate::down;
use crate::interrupt;
use crate::lease::{self, Acquired, Place, Seen, Terms};
use crate::plan::{Kind, Plan};
use crate::progress::Progress;
use crate::reconcile::{self, Adoption, Exclusive, Verdict};
use crate::report::{
    self, colour, DownReport, Interrupted, Output, Outputs, PlanText, UnlockReport, UpReport,
};
use crate::resources::function::Code;
use crate::resources::{Ctx, Desired, Observed};
use crate::session::Session;

fn terms(lock: &LockArgs) -> Terms {
    Terms::waiting(lock.lock_timeout)
}

pub async fn up(cli: &Invocation, args: &UpArgs) -> anyhow::Result<ExitCode> {
    let stack = stack(cli)?;
    let dry_run = args.dry_run;
    if !dry_run {
        interrupt::listen()?;
    }
    let progress = Progress::new();
    let zip = args.zip.as_deref();
    let (session, mut observed, desired, seen) =
        match prepare(cli, &stack, zip, &progress, !dry_run).await {
            Ok(found) => found,
            Err(_) if interrupt::requested() => return stopped(cli, &Default::default(), &[]),
            Err(e) => return Err(e),
        };
    if !args.adopt {
        reconcile::settle(&session.clients, &session.names, &mut observed).await?;
    }
    let mut ex = match seen {
        // A dry run writes nothing, so it needs no lease (like `diff`).
        None => Exclusive {
            planned: reconcile::plan(&desired, &observed),
            observed,
            held: None,
            waited: false,
        },
        Some(seen) => {
            let terms = terms(&args.lock);
            let adopt = args.adopt;
            match reconcile::exclusive(&session, &desired, observed, seen, terms, adopt).await {
                Ok(ex) => ex,
                Err(_) if interrupt::requested() => return stopped(cli, &Default::default(), &[]),
                Err(e) => return Err(e),
            }
        }
    };
    let mut held = ex.held.take();
    let result = apply(cli, &session, &desired, &ex, args, &mut held).await;
    if let Some(held) = held {
        held.end(&progress).await;
    }
    result
}

/// Prints the plan, carries it out (unless a dry run, or refused), and reports. The lease is
/// released once the last write went through, beside the reads of the report.
async fn apply(
    cli: &Invocation,
    session: &Session<'_>,
    desired: &Desired,
    ex: &Exclusive,
    args: &UpArgs,
    held: &mut Option<lease::Held>,
) -> anyhow::Result<ExitCode> {
    let names = &session.names;
    let (observed, planned) = (&ex.observed, &ex.planned);
    let dry_run = args.dry_run;
    let seen = (desired, observed, planned);
    let Verdict {
        refused,
        mut adoption,
    } = reconcile::verdict(&session.clients, names, seen, args.adopt).await?;
    if ex.waited {
        session.progress.line(
            "Read the stack again after the other deploy: the plan is made from what it left.",
        );
    }
    let plan = planned.describe(desired);
    print_plan(cli, session, &plan, adoption.as_ref());
    if let Some(why) = refused {
        anyhow::bail!("{why}");
    }
    let mut api_id = observed.api_id().map(str::to_string);
    if !dry_run && !plan.is_empty() {
        session.progress.line("Applying:");
        let mut done = Vec::new();
        let ctx = Ctx::of(session);
        match reconcile::apply(ctx, desired, planned, api_id.as_deref(), &mut done).await {
            Ok(id) => api_id = id,
            Err(_) if interrupt::requested() => return stopped(cli, &plan, &done),
            Err(e) => return Err(e),
        }
    }
    let released = !dry_run && !planned.alias.is_empty();
    let reads = async {
        if let (Some(a), false) = (adoption.as_mut(), dry_run) {
            a.read_after(&session.clients, names).await?;
        }
        outputs_after_up(session, observed, api_id.as_deref(), released).await
    };
    let end = async {
        if let Some(held) = held.take() {
            held.end(session.progress).await;
        }
    };
    let (outputs, ()) = tokio::join!(reads, end);
    cli.print(&UpReport {
        adoption,
        changes: plan.changes.clone(),
        outputs: outputs?,
        notes: reconcile::notes(desired, observed),
        dry_run,
    });
    Ok(ExitCode::SUCCESS)
}

/// The plan, and what adopting takes over, as `up` prints them before applying (in text only:
/// JSON is one document, printed at the end).
fn print_plan(cli: &Invocation, session: &Session<'_>, plan: &Plan, adoption: Option<&Adoption>) {
    if cli.output != Output::Text {
        return;
    }
    let header = report::header(&session.names, &session.arns);
    let text = PlanText {
        header: &header,
        plan,
    };
    print!("{}", colour(&text.to_string()));
    if let Some(adoption) = adoption {
        print!("{adoption}");
    }
}

/// The outputs after `up`: the live version as observed, or read again after a release.
async fn outputs_after_up(
    session: &Session<'_>,
    observed: &Observed,
    api_id: Option<&str>,
    released: bool,
) -> anyhow::Result<Outputs> {
    let (names, arns) = (&session.names, &session.arns);
    let mut outputs = Outputs::of(names, arns, api_id, session.clients.emulator.as_deref());
    outputs.live_version = match released {
        false => observed.alias.as_ref().map(|a| a.version.clone()),
        true => crate::resources::alias::live_version(&session.clients, names).await?,
    };
    Ok(outputs)
}

/// Reports an interrupted `up` and gives its exit code (130, or 143 for SIGTERM).
fn stopped(cli: &Invocation, plan: &crate::plan::Plan, done: &[Kind]) -> anyhow::Result<ExitCode> {
    cli.print(&Interrupted::of(plan, done, interrupt::wrote()));
    Ok(ExitCode::from(interrupt::exit_code()))
}

pub async fn rollback(cli: &Invocation, args: &RollbackArgs) -> anyhow::Result<ExitCode> {
    let stack = stack(cli)?;
    let progress = Progress::new();
    let session = cli.session(&stack, &progress).await?;
    let place = Place::of(&session.clients, &session.names);
    let first = lease::read(&place).await?;
    let held = match lease::acquire(&place, first, "rollback", terms(&args.lock), &progress).await?
    {
        Acquired::Held(held) => *held,
        Acquired::NoTable => anyhow::bail!(
            "table {} of stack {} does not exist, so nothing is deployed to roll back; \
             `deployer up` deploys it",
            session.names.table,
            stack.name
        ),
    };
    let report = crate::rollback::rollback(&session, args.to.as_deref()).await;
    held.end(&progress).await;
    cli.print(&report?);
    Ok(ExitCode::SUCCESS)
}

pub async fn down(cli: &Invocation, args: &DownArgs) -> anyhow::Result<ExitCode> {
    let stack = stack(cli)?;
    interrupt::listen()?;
    let progress = Progress::new();
    let (session, seen) = down::open(&cli.target, &stack, &progress).await?;
    let mut desired = reconcile::desired(&stack, &session.names, &session.arns, Code::none());
    desired.table.retain = !args.delete_table;
    let mut report = down::Removals::default();
    let Some(held) = down::hold(&session, &desired, terms(&args.lock), seen).await? else {
        // Nothing of the stack exists, and nothing was written.
        cli.print(&DownReport(report));
        return Ok(ExitCode::SUCCESS);
    };
    let result = down::down(Ctx::of(&session), &desired, &mut report).await;
    if report.table_deleted() {
        held.gone_with_table();
    } else {
        held.end(&progress).await;
    }
    // What was removed before a stop or a failure is still worth knowing.
    cli.print(&DownReport(report));
    result.map(|()| ExitCode::SUCCESS)
}

/// Clears a lease left behind: at once when its holder is gone (expired, or its process ended
/// on this machine); with `--force` even when it is not.
pub async fn unlock(cli: &Invocation, args: &UnlockArgs) -> anyhow::Result<ExitCode> {
    let stack = stack(cli)?;
    let progress = Progress::new();
    let session = cli.session(&stack, &progress).await?;
    let place = Place::of(&session.clients, &session.names);
    let holder = match lease::read(&place).await? {
        Seen::NoTable | Seen::Free { .. } => None,
        Seen::Held(h) => Some(h),
        Seen::Unusable(why) => anyhow::bail!("{why}"),
    };
    if let Some(h) = &holder {
        let gone = lease::stale(h, lease::holder::now(), Duration::ZERO);
        if gone.is_none() && !args.force {
            anyhow::bail!(
                "the deploy lease of stack {} ({}) is held by {h}, and has not expired: that \
                 deploy may still be running. Wait for it, or, if you know it is gone, run \
                 `deployer unlock --force`",
                stack.name,
                stack.stage
            );
        }
        if !lease::release(&place, &h.token).await? {
            anyhow::bail!(
                "the deploy lease changed while it was being cleared (another deploy took it); \
                 run `deployer unlock` again to see its holder"
            );
        }
    }
    cli.print(&UnlockReport {
        stack: format!("{} ({})", stack.name, stack.stage),
        released: holder,
    });
    Ok(ExitCode::SUCCESS)
}
