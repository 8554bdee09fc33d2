//! `down`: removes what `up` made, in reverse order: the API first (so traffic stops), then the
//! function (its versions, its `live` alias and its invoke permission go with it), its log group and its role. The table holds
//! the data and is retained unless `--delete-table` asks otherwise.
//!
//! Each kind removes only what carries this stack's tags (its `delete`): a resource that merely
//! has a derived name, but belongs to someone else, is left alone and reported.

use serde::Serialize;

use crate::lease::{self, Acquired, Held, Place, Terms};
use crate::plan::Kind;
use crate::resources::alerts::Alerts;
use crate::resources::alias::Alias;
use crate::resources::api::Api;
use crate::resources::function::Function;
use crate::resources::logs::LogGroup;
use crate::resources::permission::Permission;
use crate::resources::role::Role;
use crate::resources::stage::Stage;
use crate::resources::table as table_kind;
use crate::resources::table::Table;
use crate::resources::{Ctx, Desired, Removed, Resource};
use crate::session::Session;

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

/// Removes one kind, recording what happened.
async fn remove<R: Resource>(
    ctx: Ctx<'_>,
    d: &R::Desired,
    report: &mut Removals,
) -> anyhow::Result<()> {
    let removed = R::delete(ctx, d).await?;
    report.record(R::KIND, removed);
    Ok(())
}

/// Deletes, recording each deletion in `report` as it happens, so that a failed or interrupted
/// run can still say what it removed. The table is deleted only when `d.table.retain` is off.
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
    // The alarms first, so that nothing pages the owner about what is being removed.
    remove::<Alerts>(ctx, alerts, report).await?;
    remove::<Api>(ctx, api, report).await?;
    // The stage goes with its API; the alias and the permission with the function: each says so.
    remove::<Stage>(ctx, stage, report).await?;
    remove::<Function>(ctx, function, report).await?;
    remove::<Alias>(ctx, alias, report).await?;
    remove::<Permission>(ctx, permission, report).await?;
    remove::<LogGroup>(ctx, log_group, report).await?;
    remove::<Role>(ctx, role, report).await?;
    remove::<Table>(ctx, table, report).await
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
) -> anyhow::Result<Option<Held>> {
    let place = Place::of(&session.clients, &session.names);
    loop {
        let first = lease::read(&place).await?;
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
