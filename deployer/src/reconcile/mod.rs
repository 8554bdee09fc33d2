//! `up` and `diff`: observe every resource, plan purely, and (for `up`) apply as a graph of
//! what depends on what. Both verbs share `observe` and `plan`, so `diff` reports exactly what
//! `up` would do.

mod adopt;
mod exclusive;

pub use adopt::{refusal, settle, verdict, Adoption, Verdict};
pub use exclusive::{exclusive, Exclusive};

use crate::arns::Arns;
use crate::aws::{Clients, Target};
use crate::lease::{read, Place, Seen};
use crate::names::Names;
use crate::plan::Kind;
use crate::progress::Progress;
use crate::resources::alerts::{self, Alerts};
use crate::resources::alias::{self, Alias};
use crate::resources::api::{self, Api};
use crate::resources::function::{self, Code, Function};
use crate::resources::logs::{self, LogGroup};
use crate::resources::permission::{self, Permission};
use crate::resources::role::{self, Role};
use crate::resources::stage::{self, Stage};
use crate::resources::table::{self, Table};
use crate::resources::{Ctx, Desired, Needs, Observed, Planned, Resource};
use crate::session::Session;
use crate::stack::Stack;

/// What the stack wants of each kind, in this account.
pub fn desired(stack: &Stack, names: &Names, arns: &Arns, code: Code) -> Desired {
    let api = api::Desired::of(stack, names, arns);
    let function = function::Desired::of(stack, names, arns, code);
    Desired {
        table: table::Desired::of(stack, names, arns),
        log_group: logs::Desired::of(stack, names, arns),
        role: role::Desired::of(names, arns),
        alias: alias::Desired::of(names, stack.function.keep_versions, function.clone()),
        function,
        stage: stage::Desired::of(stack, names, &api.deployment_hash),
        permission: permission::Desired::of(names, arns),
        alerts: alerts::Desired::of(stack, names, arns),
        api,
    }
}

impl Observed {
    /// The id of the stack's API, when there is one.
    pub fn api_id(&self) -> Option<&str> {
        self.api.as_ref().map(|a| a.ours.id.as_str())
    }

    /// What the kinds that depend on the live API need of it: its id and its name.
    pub fn needs(&self) -> Needs<'_> {
        Needs {
            api_id: self.api_id(),
            api_name: self.api.as_ref().map(|a| a.ours.name.as_str()),
        }
    }
}

/// Reads everything by name, and sends no write. Every read waits only for what it needs: the
/// first wave reads each resource by name, at once; a resource's second read needs what its
/// first found (the tags need the table's or the group's ARN; the API's routes and stage need
/// its id); the stage's deployment needs the stage. So a stack in sync is read in three waves.
pub async fn observe(clients: &Clients, names: &Names) -> anyhow::Result<Observed> {
    let api_and_stage = async {
        let found = api::find(clients, names).await?;
        let id = found.first().map(|a| a.id.clone());
        tokio::try_join!(
            api::details(clients, found),
            Stage::observe(clients, names, Needs::api(id.as_deref()))
        )
    };
    let none = Needs::NONE;
    let (table, log_group, role, function, alias, permission, alerts, (api, stage)) = tokio::try_join!(
        Table::observe(clients, names, none),
        LogGroup::observe(clients, names, none),
        Role::observe(clients, names, none),
        Function::observe(clients, names, none),
        Alias::observe(clients, names, none),
        Permission::observe(clients, names, none),
        Alerts::observe(clients, names, none),
        api_and_stage,
    )?;
    Ok(Observed {
        table,
        log_group,
        role,
        function,
        alias,
        api,
        permission,
        stage,
        alerts,
    })
}

/// Connects, and reads the live stack while STS names the account: the reads go by name, and
/// need no account, so the account costs no wave of its own. With `lease`, the deploy lease is
/// read first, beside STS, and the stack after it (see [`exclusive`]). Returns the session
/// (with the account's ARNs), what is live, and the lease as it was before.
pub async fn survey<'p>(
    target: &Target,
    stack: &Stack,
    progress: &'p Progress,
    lease: bool,
) -> anyhow::Result<(Session<'p>, Observed, Option<Seen>)> {
    let clients = Clients::load(target, stack.region.as_deref()).await?;
    Session::check_region(&clients)?;
    let names = Names::derive(stack, &clients.region);
    let place = Place::of(&clients, &names);
    let before = async {
        match lease {
            true => read(&place).await.map(Some),
            false => Ok(None),
        }
    };
    let read_all = async {
        let seen = before.await?;
        Ok::<_, anyhow::Error>((seen, observe(&clients, &names).await?))
    };
    // When both fail (bad credentials, an unreachable endpoint), the account's error says it best.
    let (account, read_all) = tokio::join!(clients.account(), read_all);
    let (account, (seen, observed)) = (account?, read_all?);
    Ok((
        Session::new(clients, names, &account, progress),
        observed,
        seen,
    ))
}

/// The pure comparison of each resource; the permission's source ARN names the live API.
pub fn plan(d: &Desired, o: &Observed) -> Planned {
    let needs = o.needs();
    Planned {
        table: Table::plan(&d.table, o.table.as_ref(), needs),
        log_group: LogGroup::plan(&d.log_group, o.log_group.as_ref(), needs),
        role: Role::plan(&d.role, o.role.as_ref(), needs),
        function: Function::plan(&d.function, o.function.as_ref(), needs),
        alias: Alias::plan(&d.alias, o.alias.as_ref(), needs),
        api: Api::plan(&d.api, o.api.as_ref(), needs),
        permission: Permission::plan(&d.permission, o.permission.as_ref(), needs),
        stage: Stage::plan(&d.stage, o.stage.as_ref(), needs),
        alerts: Alerts::plan(&d.alerts, o.alerts.as_ref(), needs),
    }
}

/// Things worth saying that are not changes, such as a table retained after a rename.
pub fn notes(d: &Desired, o: &Observed) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(old) = function::previous_table(&d.function, o.function.as_ref()) {
        notes.push(format!(
            "table {old} is retained: the function now uses {}. Its data stays until you delete \
             it yourself (aws dynamodb delete-table --table-name {old})",
            d.table.name
        ));
    }
    notes
}

/// Marks each kind whose changes all went through, so that an interrupted or failed run can
/// say what it finished.
type Done = std::cell::RefCell<Vec<Kind>>;

/// Carries out `planned`, each resource as soon as what it needs is done, so that the longest
/// chain of requests and of AWS's waits is as short as the dependencies allow:
/// - the table, the log group and the alerts need nothing (an alarm may watch a metric before
///   anything publishes it); the table's own waits (point-in-time recovery is refused for a
///   while after CreateTable) hold up nothing else: the table is ACTIVE already (it was made
///   first, as the lease's home), so the function can use it;
/// - the function needs its role (Lambda refuses a role it cannot assume), and a release of the
///   `live` alias needs the function's changes (it publishes them);
/// - the invoke permission names the alias and the API, so it needs both;
/// - the stage serves a deployment that invokes the alias, so it needs the permission (the
///   stage never serves what it may not invoke) and the log group (nor a function whose logs
///   have nowhere to go);
/// - the statements on the function itself go last, once the stage invokes the alias.
///
/// A failure stops only what depends on it; a re-run observes afresh and carries on. `done`
/// collects each kind whose changes all went through. Returns the API's id.
pub async fn apply(
    ctx: Ctx<'_>,
    d: &Desired,
    planned: &Planned,
    live_api: Option<&str>,
    done: &mut Vec<Kind>,
) -> anyhow::Result<Option<String>> {
    // Whose the resources are was the caller's to check ([`refusal`] with the claims); what
    // cannot be changed at all is checked here again.
    if let Some(why) = refusal(d, &[], planned, false) {
        anyhow::bail!("{why}");
    }
    let p = planned;
    let finished = Done::default();
    let none = Needs::NONE;
    let public = public(ctx, d, p, live_api, &finished);
    let (t, w, a) = tokio::join!(
        step(
            &finished,
            Kind::Table,
            Table::apply(ctx, &d.table, &p.table, none)
        ),
        step(
            &finished,
            Kind::Alerts,
            Alerts::apply(ctx, &d.alerts, &p.alerts, none)
        ),
        public,
    );
    done.extend(finished.into_inner());
    t?;
    w?;
    a
}

/// What the public path needs, at once: the log group, role → function → alias, and the API;
/// then the permission and the stage that serve them. Returns the API's id.
async fn public(
    ctx: Ctx<'_>,
    d: &Desired,
    p: &Planned,
    live_api: Option<&str>,
    finished: &Done,
) -> anyhow::Result<Option<String>> {
    let none = Needs::NONE;
    let (l, f, a) = tokio::join!(
        step(
            finished,
            Kind::LogGroup,
            LogGroup::apply(ctx, &d.log_group, &p.log_group, none)
        ),
        async {
            step(
                finished,
                Kind::Role,
                Role::apply(ctx, &d.role, &p.role, none),
            )
            .await?;
            let applied = Function::apply(ctx, &d.function, &p.function, none);
            step(finished, Kind::Function, applied).await?;
            if !p.alias.iter().any(alias::AliasChange::releases) {
                function::wait_unreleased(ctx, &d.function, &p.function).await?;
            }
            let released = Alias::apply(ctx, &d.alias, &p.alias, none);
            step(finished, Kind::Alias, released).await?;
            let released = p.alias.iter().any(alias::AliasChange::releases);
            if changes_permissions(&p.role) && !released {
                alias::wait_policy_in_force(ctx, &d.alias).await?;
            }
            Ok(())
        },
        api(ctx, d, &p.api, live_api, finished),
    );
    let served = match (&l, &f, &a) {
        (Ok(()), Ok(()), Ok(id)) => serve(ctx, d, p, Needs::api(id.as_deref()), finished).await,
        _ => Ok(()),
    };
    l.and(f).and(served).and(a)
}

/// Whether the role's `changes` change what its sessions may do (its inline or managed
/// policies), which IAM applies to them only after a few seconds.
fn changes_permissions(changes: &[role::RoleChange]) -> bool {
    changes.iter().any(|c| {
        matches!(
            c,
            role::RoleChange::Policy(_)
                | role::RoleChange::ExtraInline(_)
                | role::RoleChange::Managed(_)
        )
    })
}

/// Awaits one kind's apply, and marks it done when it went through.
async fn step(
    finished: &Done,
    kind: Kind,
    applied: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    applied.await?;
    finished.borrow_mut().push(kind);
    Ok(())
}

/// The API (created first when the plan says so: the stage and the permission need its id).
async fn api(
    ctx: Ctx<'_>,
    d: &Desired,
    changes: &[api::ApiChange],
    live_api: Option<&str>,
    finished: &Done,
) -> anyhow::Result<Option<String>> {
    let id = match crate::resources::creates(changes) {
        true => Some(api::create(ctx, &d.api).await?),
        false => live_api.map(str::to_string),
    };
    let needs = Needs::api(id.as_deref());
    step(finished, Kind::Api, Api::apply(ctx, &d.api, changes, needs)).await?;
    Ok(id)
}

/// The permission, then the stage that relies on it, then the old statements it replaces.
async fn serve(
    ctx: Ctx<'_>,
    d: &Desired,
    p: &Planned,
    needs: Needs<'_>,
    finished: &Done,
) -> anyhow::Result<()> {
    let granted = Permission::apply(ctx, &d.permission, &p.permission, needs);
    granted.await?;
    step(
        finished,
        Kind::Stage,
        Stage::apply(ctx, &d.stage, &p.stage, needs),
    )
    .await?;
    let retired = permission::retire(ctx, &d.permission, &p.permission);
    step(finished, Kind::Permission, retired).await
}
