//! One module per resource kind, each of one shape, the [`Resource`] trait:
//! - `observe` reads the live resource by name (or finds none), and sends no write;
//! - `plan` compares desired with observed, purely, into typed changes of its own;
//! - `apply` carries out exactly those typed changes, and looks at nothing else;
//! - `delete` (for `down`) removes it, when it carries this stack's tags.
//!
//! The kinds are listed once, in the `kinds!` table below, which makes the per-kind
//! [`Desired`], [`Observed`] and [`Planned`] and the steps that need nothing but the list
//! (`describe`, `blocked`). The steps with an order of their own (observe, apply, down) take
//! these structs apart field by field, so a kind added to the table does not compile until each
//! of them handles it.
//!
//! A kind left out of a step does not compile. The plan of every kind, written without the
//! stage's (nor the alerts'):
//!
//! ```compile_fail
//! use deployer::resources::Planned;
//! let planned = Planned {
//!     table: vec![],
//!     log_group: vec![],
//!     role: vec![],
//!     function: vec![],
//!     alias: vec![],
//!     api: vec![],
//!     permission: vec![],
//! };
//! ```
//!
//! and with it:
//!
//! ```
//! use deployer::resources::Planned;
//! let planned = Planned {
//!     table: vec![],
//!     log_group: vec![],
//!     role: vec![],
//!     function: vec![],
//!     alias: vec![],
//!     api: vec![],
//!     permission: vec![],
//!     stage: vec![],
//!     alerts: vec![],
//! };
//! assert!(planned.is_empty());
//! ```
//!
//! Adding a kind: its module here (with its `Resource`), a row in `kinds!`, a variant of
//! [`Kind`], its keys in `stack.yaml` if it has any, its actions in [`crate::policy`]; then the
//! compiler names each step still to write (observe, apply, down).
//!
//! The shared plumbing lives beside them: [`tags`] (one way to compare and apply tags).

pub mod alerts;
pub mod alias;
pub mod api;
pub mod function;
pub mod logs;
pub mod permission;
pub mod role;
pub mod stage;
pub mod table;
pub mod tags;

use crate::arns::Arns;
use crate::aws::Clients;
use crate::names::Names;
use crate::plan::{describe_all, Describe, Kind, Plan};
use crate::progress::{Progress, Step};
use crate::session::Session;
use crate::wait::Waits;

/// What every `apply` and `delete` needs, in one place.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub clients: &'a Clients,
    pub names: &'a Names,
    pub arns: &'a Arns,
    pub progress: &'a Progress,
    pub waits: &'a Waits,
}

impl<'a> Ctx<'a> {
    /// The context of a verb's session.
    pub fn of(session: &'a Session<'_>) -> Ctx<'a> {
        Ctx {
            clients: &session.clients,
            names: &session.names,
            arns: &session.arns,
            progress: session.progress,
            waits: &session.waits,
        }
    }

    /// The progress step of `apply`: "creating table t", or "updating table t".
    pub fn step(&self, created: bool, what: &str, name: &str) -> Step {
        let verb = if created { "creating" } else { "updating" };
        self.progress.step(format!("{verb} {what} {name}"))
    }
}

/// What a kind needs of the kinds it depends on: the API's id, for the stage that belongs to it
/// and the permission that names it. An argument, never a field patched in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs<'a> {
    /// `None` while the API does not exist.
    pub api_id: Option<&'a str>,
    /// The live API's name, which its metrics carry (an adopted API keeps its own); `None`
    /// while it does not exist.
    pub api_name: Option<&'a str>,
}

impl<'a> Needs<'a> {
    pub const NONE: Needs<'static> = Needs {
        api_id: None,
        api_name: None,
    };

    pub fn api(api_id: Option<&'a str>) -> Needs<'a> {
        Needs {
            api_id,
            api_name: None,
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

/// Whether `changes` hold the creation of the resource.
pub fn creates<C: Describe>(changes: &[C]) -> bool {
    changes
        .iter()
        .any(|c| c.describe("").action == crate::plan::Action::Create)
}

/// The one shape of every resource module.
// Awaited in place (joined, never spawned), so the futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Resource {
    const KIND: Kind;
    type Desired: std::fmt::Debug + Clone + PartialEq;
    type Observed: std::fmt::Debug + Clone + PartialEq;
    type Change: Describe + std::fmt::Debug + Clone + PartialEq;

    /// The resource's name, as changes and reports show it.
    fn name(d: &Self::Desired) -> &str;

    /// The live resource, found by its name (no ARN is known yet when this runs).
    async fn observe(
        clients: &Clients,
        names: &Names,
        needs: Needs<'_>,
    ) -> anyhow::Result<Option<Self::Observed>>;

    fn plan(d: &Self::Desired, o: Option<&Self::Observed>, needs: Needs<'_>) -> Vec<Self::Change>;

    async fn apply(
        ctx: Ctx<'_>,
        d: &Self::Desired,
        changes: &[Self::Change],
        needs: Needs<'_>,
    ) -> anyhow::Result<()>;

    async fn delete(ctx: Ctx<'_>, d: &Self::Desired) -> anyhow::Result<Removed>;

    /// The live resource's tags, for a kind that carries them: whose it is ([`Claim`]).
    fn tags(_o: &Self::Observed) -> Option<&tags::Tags> {
        None
    }
}

/// A live resource under the stack's names that is not the stack's by its tags: untagged (to
/// adopt, with `--adopt`) or another stack's (never taken).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub kind: Kind,
    pub name: String,
    pub owner: tags::Owner,
}

/// A change `up` must refuse: its kind, its resource, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub kind: Kind,
    pub name: String,
    pub why: String,
}

/// The table of kinds: a row per kind, `Variant field: Type`, in apply order.
macro_rules! kinds {
    ($($variant:ident $field:ident: $ty:ty),+ $(,)?) => {
        /// What the stack wants of each kind.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Desired {
            $(pub $field: <$ty as Resource>::Desired,)+
        }

        /// What is live of each kind.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Observed {
            $(pub $field: Option<<$ty as Resource>::Observed>,)+
        }

        /// Every typed change, kind by kind: what `apply` carries out.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Planned {
            $(pub $field: Vec<<$ty as Resource>::Change>,)+
        }

        impl Planned {
            /// The changes as `diff` prints and serialises them, in apply order.
            pub fn describe(&self, d: &Desired) -> Plan {
                let mut changes = Vec::new();
                $(changes.extend(describe_all(<$ty>::name(&d.$field), &self.$field));)+
                Plan::new(changes)
            }

            /// The first change `up` must refuse, if any.
            pub fn blocked(&self, d: &Desired) -> Option<Blocked> {
                $(
                    if let Some(why) = self.$field.iter().find_map(Describe::blocked) {
                        return Some(Blocked {
                            kind: <$ty as Resource>::KIND,
                            name: <$ty>::name(&d.$field).to_string(),
                            why,
                        });
                    }
                )+
                None
            }

            pub fn is_empty(&self) -> bool {
                $(self.$field.is_empty())&&+
            }
        }

        impl Observed {
            /// Each live resource that carries tags but not this stack's, in apply order.
            pub fn claims(&self, d: &Desired, names: &Names) -> Vec<Claim> {
                let mut claims = Vec::new();
                $(
                    let live = self.$field.as_ref().and_then(<$ty as Resource>::tags);
                    if let Some(owner) = live.and_then(|t| tags::owner(names, t)) {
                        claims.push(Claim {
                            kind: <$ty as Resource>::KIND,
                            name: <$ty>::name(&d.$field).to_string(),
                            owner,
                        });
                    }
                )+
                claims
            }

            /// Whether nothing of the stack exists.
            pub fn is_empty(&self) -> bool {
                $(self.$field.is_none())&&+
            }
        }

        /// Every kind, in apply order.
        pub const KINDS: &[Kind] = &[$(Kind::$variant),+];

        // Each row's type is of its row's kind…
        const _: () = {
            $(assert!(matches!(<$ty as Resource>::KIND, Kind::$variant));)+
        };

        /// …and every kind has a row: a kind missing here is a non-exhaustive match.
        #[allow(dead_code)]
        fn every_kind_has_a_row(kind: Kind) {
            match kind {
                $(Kind::$variant => {})+
            }
        }
    };
}

kinds! {
    Table table: table::Table,
    LogGroup log_group: logs::LogGroup,
    Role role: role::Role,
    Function function: function::Function,
    Alias alias: alias::Alias,
    Api api: api::Api,
    Permission permission: permission::Permission,
    Stage stage: stage::Stage,
    Alerts alerts: alerts::Alerts,
}
