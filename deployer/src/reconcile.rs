//! `up` and `diff`: observe every resource, plan purely, and (for `up`) apply in dependency
//! order. Both verbs share `observe` and `plan`, so `diff` reports exactly what `up` would do.
//!
//! Order (DESIGN §4): STS; then the table, the log group and the role, concurrently; then the
//! function; then the API; then the permission; then the deployment and stage.

use serde::Serialize;

use crate::aws::Clients;
use crate::names::Names;
use crate::package::Artifact;
use crate::plan::{Kind, Plan};
use crate::resources::{api, function, logs, permission, role, table, Ctx};
use crate::stack::Stack;

/// The desired state of every resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub table: table::Desired,
    pub logs: logs::Desired,
    pub role: role::Desired,
    pub function: function::Desired,
    pub api: api::Desired,
}

impl Desired {
    pub fn of(stack: &Stack, names: &Names, artifact: &Artifact) -> Desired {
        Desired {
            table: table::Desired::of(stack, names),
            logs: logs::Desired::of(stack, names),
            role: role::Desired::of(names),
            function: function::Desired::of(stack, names, artifact),
            api: api::Desired::of(stack, names),
        }
    }
}

/// The live state of every resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub table: Option<table::Observed>,
    pub logs: Option<logs::Observed>,
    pub role: Option<role::Observed>,
    pub function: Option<function::Observed>,
    pub permission: Vec<permission::Statement>,
    pub api: api::Observed,
}

/// Reads everything, concurrently. Sends no write.
pub async fn observe(
    clients: &Clients,
    names: &Names,
    desired: &Desired,
) -> anyhow::Result<Observed> {
    let (table, logs, role, function, permission, api) = tokio::try_join!(
        table::observe(clients, &names.table),
        logs::observe(clients, names),
        role::observe(clients, &desired.role),
        function::observe(clients, &names.function),
        permission::observe(clients, &names.function),
        api::observe(clients, names),
    )?;
    Ok(Observed {
        table,
        logs,
        role,
        function,
        permission,
        api,
    })
}

/// Every change, from the pure comparison of each resource.
pub fn plan(names: &Names, d: &Desired, o: &Observed) -> Plan {
    let api_id = o.api.ours().map(|a| a.id.as_str());
    let mut changes = Vec::new();
    changes.extend(table::plan(&d.table, o.table.as_ref()));
    changes.extend(logs::plan(&d.logs, o.logs.as_ref()));
    changes.extend(role::plan(&d.role, o.role.as_ref()));
    changes.extend(function::plan(&d.function, o.function.as_ref()));
    changes.extend(api::plan(&d.api, &o.api));
    changes.extend(permission::plan(
        &permission::Desired::of(names, api_id),
        &o.permission,
    ));
    Plan::new(changes)
}

/// The stack's addresses after `up`: the contract keys of DESIGN §5.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outputs {
    pub api_url: Option<String>,
    pub function_arn: String,
    pub table_arn: String,
    pub role_arn: String,
    pub table_name: String,
}

impl Outputs {
    pub fn of(names: &Names, api_id: Option<&str>) -> Outputs {
        Outputs {
            api_url: api_id.map(|id| names.api_url(id)),
            function_arn: names.function_arn.clone(),
            table_arn: names.table_arn.clone(),
            role_arn: names.role_arn.clone(),
            table_name: names.table.clone(),
        }
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

/// Carries out `plan`. Steps of one wave run concurrently, and a wave starts only when the
/// previous one succeeded, so a failure leaves every later resource untouched; a re-run
/// observes afresh and carries on. `done` collects each kind whose changes all went through,
/// so that an interrupted or failed run can say what it finished.
pub async fn apply(
    ctx: Ctx<'_>,
    d: &Desired,
    o: &Observed,
    artifact: &Artifact,
    plan: &Plan,
    done: &mut Vec<Kind>,
) -> anyhow::Result<String> {
    if let Some(blocked) = plan.blocked().first() {
        anyhow::bail!(
            "{} {} cannot be reconciled: {}. Nothing was changed.",
            blocked.resource.as_str(),
            blocked.name,
            blocked.blocked.as_deref().unwrap_or("")
        );
    }
    let (table_changes, log_changes, role_changes) = (
        plan.for_kind(Kind::Table),
        plan.for_kind(Kind::LogGroup),
        plan.for_kind(Kind::Role),
    );
    let (t, l, r) = tokio::join!(
        table::apply(ctx, &d.table, &table_changes),
        logs::apply(ctx, &d.logs, &log_changes),
        role::apply(ctx, &d.role, &role_changes),
    );
    // Every step of the wave has finished; record what went through, then report the first
    // failure.
    for (kind, ok) in [
        (Kind::Table, t.is_ok()),
        (Kind::LogGroup, l.is_ok()),
        (Kind::Role, r.is_ok()),
    ] {
        if ok {
            done.push(kind);
        }
    }
    t?;
    l?;
    r?;
    function::apply(ctx, &d.function, artifact, &plan.for_kind(Kind::Function)).await?;
    done.push(Kind::Function);
    let mut api_changes = plan.for_kind(Kind::Api);
    api_changes.extend(plan.for_kind(Kind::Stage));
    let api_id = api::apply(ctx, &d.api, &o.api, &api_changes).await?;
    done.push(Kind::Api);
    permission::apply(
        ctx,
        &permission::Desired::of(ctx.names, Some(&api_id)),
        &api_id,
        &plan.for_kind(Kind::Permission),
    )
    .await?;
    done.push(Kind::Permission);
    api::apply_stage(ctx, &d.api, &api_id, &api_changes).await?;
    done.push(Kind::Stage);
    Ok(api_id)
}
