//! `down`: removes what `up` made, as a graph ([`down`]): the alerts, the API (so traffic
//! stops), the function (its versions, its `live` alias and its invoke permission go with it)
//! then its role, and the log group, at once. The table holds the data (and the deploy lease):
//! it goes last, and only when `--delete-table` asks.
//!
//! Each kind removes only what carries this stack's tags (its `delete`): a resource that merely
//! has a derived name, but belongs to someone else, is left alone and reported.

use std::cell::RefCell;

use serde::Serialize;

use crate::aws::{Clients, Target};
use crate::lease::{self, Acquired, Held, Place, Seen, Terms};
use crate::names::Names;
use crate::plan::Kind;
use crate::progress::Progress;
use crate::resources::alerts::Alerts;
use crate::resources::alias::Alias;
use crate::resources::api::Api;
use crate::resources::function::Function;
use crate::resources::logs::LogGroup;
use crate::resources::permission::Permission;
use crate::resources::role as role_kind;
use crate::resources::role::Role;
use crate::resources::stage::Stage;
use crate::resources::table as table_kind;
use crate::resources::{Ctx, Desired, Needs, Removed, Resource};
use crate::session::Session;
use crate::stack::Stack;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Removals {
    /// `kind name` of each resource deleted.
    pub deleted: Vec<String>,
    /// Kept on purpose: the table, unless `--delete-table`.
    pub retained: Vec<String>,
    /// Found under a derived name but without this stack's tags, so left alone.
    pub skipped: Vec<String>,
}

impl Removals {
    /// Each list in a stable order (kind, then name), whatever order the graph finished in.
    fn sort(&mut self) {
        self.deleted.sort();
        self.retained.sort();
        self.skipped.sort();
    }

    /// Whether the table (and the deploy lease it held) was deleted.
    pub fn table_deleted(&self) -> bool {
        let table = format!("{} ", Kind::Table.as_str());
        self.deleted.iter().any(|d| d.starts_with(&table))
    }

    pub fn nothing_found(&self) -> bool {
        self.deleted.is_empty() && self.retained.is_empty() && self.skipped.is_empty()
    }

    fn record(&mut self, kind: Kind, removed: Removed) {
        let line = |name: &str| format!("{} {name}", kind.as_str());
        match removed {
            Removed::Deleted(names) => self.deleted.extend(names.iter().map(|n| line(n))),
            Removed::Retained(name) => self.retained.push(line(&name)),
            Removed::NotOurs(name) => self.skipped.push(line(&name)),
            Removed::Absent => {}
        }
    }
}

/// Removes one kind, recording what happened as soon as it happened.
async fn remove<R: Resource>(
    ctx: Ctx<'_>,
    d: &R::Desired,
    report: &RefCell<Removals>,
) -> anyhow::Result<()> {
    let removed = R::delete(ctx, d).await?;
    report.borrow_mut().record(R::KIND, removed);
    Ok(())
}

/// Deletes as a graph, recording each deletion in `report` as it happens, so that a failed or
/// interrupted run can still say what it removed. What depends on no other deletion goes at
/// once: the alerts; the API (its stage goes with it); the function (its versions, alias and
/// permission go with it), then its role, which it runs as until it is gone; the log group.
/// The table goes last, when `--delete-table` asks: it holds the deploy lease. A failure stops
/// only what depends on it; the first error is returned once every branch has ended. The
/// table's own first half (its reads, and its protection turned off when it is to go) runs
/// beside them; `DeleteTable` waits for the rest, so a table is deleted only when everything
/// else went (a failed run may leave it unprotected, as `--delete-table` asked, never gone).
pub async fn down(ctx: Ctx<'_>, d: &Desired, report: &mut Removals) -> anyhow::Result<()> {
    let Desired {
        table,
        log_group,
        role,
        function,
        alias,
        api,
        permission,
        stage,
        alerts,
    } = d;
    let shared = RefCell::new(std::mem::take(report));
    let r = &shared;
    let (kept, a, g, f, l) = tokio::join!(
        table_kind::unprotect(ctx, table),
        remove::<Alerts>(ctx, alerts, r),
        async {
            remove::<Api>(ctx, api, r).await?;
            remove::<Stage>(ctx, stage, r).await
        },
        async {
            // The role is read and stripped of its policies beside the function's deletion,
            // and deleted after it.
            let stripped = async {
                let live = Role::observe(ctx.clients, ctx.names, Needs::NONE).await?;
                role_kind::strip(ctx, role, live).await
            };
            let (gone, stripped) = tokio::join!(remove::<Function>(ctx, function, r), stripped);
            gone?;
            remove::<Alias>(ctx, alias, r).await?;
            remove::<Permission>(ctx, permission, r).await?;
            let removed = role_kind::delete_observed(ctx, role, stripped?).await?;
            r.borrow_mut().record(Kind::Role, removed);
            Ok(())
        },
        remove::<LogGroup>(ctx, log_group, r),
    );
    let ended = a.and(g).and(f).and(l).and(kept);
    let last = match ended {
        Ok(Some(kept)) => {
            shared.borrow_mut().record(Kind::Table, kept);
            Ok(())
        }
        Ok(None) => table_kind::delete_now(ctx, table)
            .await
            .map(|removed| shared.borrow_mut().record(Kind::Table, removed)),
        Err(e) => Err(e),
    };
    *report = shared.into_inner();
    report.sort();
    last
}

/// Connects, and reads the deploy lease while STS names the account (the lease's item is
/// found by name, so the account costs no wave of its own): the session, and the lease as it
/// was.
pub async fn open<'p>(
    target: &Target,
    stack: &Stack,
    progress: &'p Progress,
) -> anyhow::Result<(Session<'p>, Seen)> {
    let clients = Clients::load(target, stack.region.as_deref()).await?;
    Session::check_region(&clients)?;
    let names = Names::derive(stack, &clients.region);
    let (account, first) = {
        let place = Place::of(&clients, &names);
        tokio::join!(clients.account(), lease::read(&place))
    };
    // When both fail (bad credentials, an unreachable endpoint), the account's error says it best.
    let (account, first) = (account?, first?);
    Ok((Session::new(clients, names, &account, progress), first))
}

/// Takes the deploy lease for `down`; `None` when nothing of the stack exists (and nothing was
/// written). A stack whose table is gone while other resources remain has nowhere to hold a
/// lease, so the table is made again first (it is then retained like any table, or deleted
/// with `--delete-table`): deleting without the lease could undo an `up` from empty running
/// beside this `down`.
pub async fn hold(
    session: &Session<'_>,
    d: &Desired,
    terms: Terms,
    seen: Seen,
) -> anyhow::Result<Option<Held>> {
    let place = Place::of(&session.clients, &session.names);
    let mut seen = Some(seen);
    loop {
        let first = match seen.take() {
            Some(seen) => seen,
            None => lease::read(&place).await?,
        };
        if let Acquired::Held(held) =
            lease::acquire(&place, first, "down", terms, session.progress).await?
        {
            return Ok(Some(*held));
        }
        let live = crate::reconcile::observe(&session.clients, &session.names).await?;
        if live.is_empty() {
            return Ok(None);
        }
        // Made, found, or gone meanwhile: the next turn reads the lease again.
        table_kind::make_home(Ctx::of(session), &d.table).await?;
    }
}
