//! One module per resource kind, each of one shape, the [`Resource`] trait:
//! - `observe` reads the live resource (or finds none), and sends no write;
//! - `plan` compares desired with observed, purely, into typed changes of its own;
//! - `apply` carries out exactly those typed changes, and looks at nothing else;
//! - `delete` (for `down`) removes it, when it carries this stack's tags.
//!
//! The shared plumbing lives beside them: [`tags`] (one way to compare and apply tags).

pub mod api;
pub mod function;
pub mod logs;
pub mod permission;
pub mod role;
pub mod stage;
pub mod table;
pub mod tags;

use crate::aws::{Clients, Session};
use crate::names::Names;
use crate::plan::{Describe, Kind};
use crate::progress::Progress;
use crate::wait::Waits;

/// What every `apply` and `delete` needs, in one place.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub clients: &'a Clients,
    pub names: &'a Names,
    pub progress: &'a Progress,
    pub waits: &'a Waits,
}

impl<'a> Ctx<'a> {
    /// The context of a verb's session.
    pub fn of(session: &'a Session<'_>) -> Ctx<'a> {
        Ctx {
            clients: &session.clients,
            names: &session.names,
            progress: session.progress,
            waits: &session.waits,
        }
    }
}

/// What `down` did with one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// Deleted: these (a kind may have several, such as duplicate APIs).
    Deleted(Vec<String>),
    /// Kept on purpose: the table, unless `--delete-table`.
    Retained(String),
    /// It exists under the derived name, but without this stack's tags: someone else's.
    NotOurs(String),
    /// Nothing was there.
    Absent,
}

/// The end of every `delete`: the deletion `send`, shown as a step; `Deleted`, or `Absent` when
/// AWS says it was gone already (its NotFound read as `None`).
pub async fn removed<T, Fut>(
    ctx: Ctx<'_>,
    what: &str,
    name: &str,
    send: impl FnOnce() -> Fut,
) -> anyhow::Result<Removed>
where
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let step = ctx.progress.step(format!("deleting {what} {name}"));
    let gone = send().await?;
    step.done("");
    Ok(match gone {
        Some(_) => Removed::Deleted(vec![name.to_string()]),
        None => Removed::Absent,
    })
}

/// The one shape of every resource module.
// Awaited in place (joined, never spawned), so the futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Resource {
    const KIND: Kind;
    type Desired;
    type Observed;
    type Change: Describe;
    /// What `apply` hands back: the API's id for the API, nothing for the others.
    type Applied;

    /// The resource's name, as changes and reports show it.
    fn name(d: &Self::Desired) -> &str;

    async fn observe(
        clients: &Clients,
        d: &Self::Desired,
    ) -> anyhow::Result<Option<Self::Observed>>;

    fn plan(d: &Self::Desired, o: Option<&Self::Observed>) -> Vec<Self::Change>;

    async fn apply(
        ctx: Ctx<'_>,
        d: &Self::Desired,
        changes: &[Self::Change],
    ) -> anyhow::Result<Self::Applied>;

    async fn delete(ctx: Ctx<'_>, d: &Self::Desired) -> anyhow::Result<Removed>;
}
