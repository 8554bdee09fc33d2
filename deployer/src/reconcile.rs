//! `up` and `diff`: observe every resource, plan purely, and (for `up`) apply in dependency
//! order. Both verbs share `observe` and `plan`, so `diff` reports exactly what `up` would do.
//!
//! Order (DESIGN §4): the table, the log group and the role, concurrently; then the function;
//! then the API; then the permission and the stage, which need the API's id.

use crate::aws::Clients;
use crate::names::Names;
use crate::plan::{describe_all, Kind, Plan};
use crate::resources::api::{self, Api, ApiChange};
use crate::resources::function::{self, Code, Function, FunctionChange};
use crate::resources::logs::{self, LogGroup, LogsChange};
use crate::resources::permission::{self, Permission, PermissionChange};
use crate::resources::role::{self, Role, RoleChange};
use crate::resources::stage::{self, Stage, StageChange};
use crate::resources::table::{self, Table, TableChange};
use crate::resources::{Ctx, Resource};
use crate::stack::Stack;

/// The desired state of every resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub table: table::Desired,
    pub logs: logs::Desired,
    pub role: role::Desired,
    pub function: function::Desired,
    pub api: api::Desired,
    pub stage: stage::Desired,
    pub permission: permission::Desired,
}

impl Desired {
    pub fn of(stack: &Stack, names: &Names, code: Code) -> Desired {
        let api = api::Desired::of(stack, names);
        Desired {
            table: table::Desired::of(stack, names),
            logs: logs::Desired::of(stack, names),
            role: role::Desired::of(names),
            function: function::Desired::of(stack, names, code),
            stage: stage::Desired::of(stack, names, &api.routes_hash),
            permission: permission::Desired::of(names),
            api,
        }
    }

    /// The same, with the API's id filled in where it is needed: the invoke permission's source
    /// ARN and the stage's API.
    pub fn with_api(self, names: &Names, api_id: Option<&str>) -> Desired {
        Desired {
            stage: self.stage.with_api(api_id),
            permission: self.permission.with_api(names, api_id),
            ..self
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
    pub api: Option<api::Observed>,
    pub stage: Option<stage::Observed>,
    pub permission: Option<Vec<permission::Statement>>,
}

impl Observed {
    /// The id of the stack's API, when there is one.
    pub fn api_id(&self) -> Option<&str> {
        self.api.as_ref().map(|a| a.ours.id.as_str())
    }
}

/// Reads everything, and sends no write. Every read that depends on nothing else runs in the
/// first wave; the stage, which needs the API's id, in the second. Returns `d` with the API's
/// id filled in.
pub async fn observe(
    clients: &Clients,
    names: &Names,
    d: Desired,
) -> anyhow::Result<(Desired, Observed)> {
    let (table, logs, role, function, permission, api) = tokio::try_join!(
        Table::observe(clients, &d.table),
        LogGroup::observe(clients, &d.logs),
        Role::observe(clients, &d.role),
        Function::observe(clients, &d.function),
        Permission::observe(clients, &d.permission),
        Api::observe(clients, &d.api),
    )?;
    let api_id = api.as_ref().map(|a| a.ours.id.clone());
    let d = d.with_api(names, api_id.as_deref());
    let stage = Stage::observe(clients, &d.stage).await?;
    let observed = Observed {
        table,
        logs,
        role,
        function,
        api,
        stage,
        permission,
    };
    Ok((d, observed))
}

/// Every typed change, kind by kind: what `apply` carries out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Planned {
    pub table: Vec<TableChange>,
    pub logs: Vec<LogsChange>,
    pub role: Vec<RoleChange>,
    pub function: Vec<FunctionChange>,
    pub api: Vec<ApiChange>,
    pub permission: Vec<PermissionChange>,
    pub stage: Vec<StageChange>,
}

/// The pure comparison of each resource.
pub fn plan(d: &Desired, o: &Observed) -> Planned {
    Planned {
        table: Table::plan(&d.table, o.table.as_ref()),
        logs: LogGroup::plan(&d.logs, o.logs.as_ref()),
        role: Role::plan(&d.role, o.role.as_ref()),
        function: Function::plan(&d.function, o.function.as_ref()),
        api: Api::plan(&d.api, o.api.as_ref()),
        permission: Permission::plan(&d.permission, o.permission.as_ref()),
        stage: Stage::plan(&d.stage, o.stage.as_ref()),
    }
}

impl Planned {
    /// The changes as `diff` prints and serialises them, in apply order.
    pub fn describe(&self, d: &Desired) -> Plan {
        let mut changes = describe_all(&d.table.name, &self.table);
        changes.extend(describe_all(&d.logs.name, &self.logs));
        changes.extend(describe_all(&d.role.name, &self.role));
        changes.extend(describe_all(&d.function.name, &self.function));
        changes.extend(describe_all(&d.api.name, &self.api));
        changes.extend(describe_all(&d.permission.sid, &self.permission));
        changes.extend(describe_all(&d.stage.name, &self.stage));
        Plan::new(changes)
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

/// Carries out `planned`. Steps of one wave run concurrently, and a wave starts only when the
/// previous one succeeded, so a failure leaves every later resource untouched; a re-run
/// observes afresh and carries on. `done` collects each kind whose changes all went through,
/// so that an interrupted or failed run can say what it finished. Returns the API's id.
pub async fn apply(
    ctx: Ctx<'_>,
    d: &Desired,
    planned: &Planned,
    api_id: Option<&str>,
    done: &mut Vec<Kind>,
) -> anyhow::Result<Option<String>> {
    if let Some(blocked) = planned.describe(d).blocked().first() {
        anyhow::bail!(
            "{} {} cannot be reconciled: {}. Nothing was changed.",
            blocked.resource.as_str(),
            blocked.name,
            blocked.blocked.as_deref().unwrap_or("")
        );
    }
    let (t, l, r) = tokio::join!(
        Table::apply(ctx, &d.table, &planned.table),
        LogGroup::apply(ctx, &d.logs, &planned.logs),
        Role::apply(ctx, &d.role, &planned.role),
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
    Function::apply(ctx, &d.function, &planned.function).await?;
    done.push(Kind::Function);
    let created = Api::apply(ctx, &d.api, &planned.api).await?;
    done.push(Kind::Api);
    let api_id = created.as_deref().or(api_id).map(str::to_string);
    let d = d.clone().with_api(ctx.names, api_id.as_deref());
    Permission::apply(ctx, &d.permission, &planned.permission).await?;
    done.push(Kind::Permission);
    Stage::apply(ctx, &d.stage, &planned.stage).await?;
    done.push(Kind::Stage);
    Ok(api_id)
}
