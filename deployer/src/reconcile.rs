//! `up` and `diff`: observe every resource, plan purely, and (for `up`) apply in dependency
//! order. Both verbs share `observe` and `plan`, so `diff` reports exactly what `up` would do.
//!
//! Order (DESIGN §4): the table, the log group and the role, concurrently; then the function;
//! then the API; then the permission and the stage, which need the API's id.

use crate::aws::{Clients, Session, Target};
use crate::names::Names;
use crate::plan::{describe_all, Kind, Plan};
use crate::progress::Progress;
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

/// Reads everything, and sends no write. Every read waits only for what it needs: the first
/// wave reads each resource by name, at once; a resource's second read needs what its first
/// found (the tags need the table's or the group's ARN; the API's routes and stage need its
/// id); the stage's deployment needs the stage. So a stack in sync is read in three waves.
pub async fn observe(clients: &Clients, d: &Desired) -> anyhow::Result<Observed> {
    let api_and_stage = async {
        let found = api::find(clients, &d.api).await?;
        let stage = d
            .stage
            .clone()
            .with_api(found.first().map(|a| a.id.as_str()));
        tokio::try_join!(
            api::details(clients, found),
            Stage::observe(clients, &stage)
        )
    };
    let (table, logs, role, function, permission, (api, stage)) = tokio::try_join!(
        Table::observe(clients, &d.table),
        LogGroup::observe(clients, &d.logs),
        Role::observe(clients, &d.role),
        Function::observe(clients, &d.function),
        Permission::observe(clients, &d.permission),
        api_and_stage,
    )?;
    Ok(Observed {
        table,
        logs,
        role,
        function,
        api,
        stage,
        permission,
    })
}

/// Connects, and reads the live stack while STS names the account: the reads go by name, and
/// need no account, so the account costs no wave of its own. Returns the session (whose names
/// carry the account) and what is live.
pub async fn survey<'p>(
    target: &Target,
    stack: &Stack,
    progress: &'p Progress,
) -> anyhow::Result<(Session<'p>, Observed)> {
    let clients = Clients::load(target, stack.region.as_deref()).await?;
    Session::check_region(&clients)?;
    // Names for reading only: their ARNs carry no account, and no read uses them.
    let reading = Names::derive(stack, &clients.region, "");
    let looking = Desired::of(stack, &reading, Code::none());
    // When both fail (bad credentials, an unreachable endpoint), the account's error says it best.
    let (account, observed) = tokio::join!(clients.account(), observe(&clients, &looking));
    let (account, observed) = (account?, observed?);
    let names = Names::derive(stack, &clients.region, &account);
    Ok((Session::new(clients, names, progress), observed))
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

/// Carries out `planned`, each resource as soon as what it needs is done, so that the longest
/// chain of requests is as short as the dependencies allow:
/// - the table and the log group need nothing;
/// - the function needs its role (Lambda refuses a role it cannot assume);
/// - the stage serves a deployment of the API's routes, so it needs the API;
/// - the invoke permission names the function and the API, so it needs both.
///
/// A failure stops only what depends on it; a re-run observes afresh and carries on. `done`
/// collects each kind whose changes all went through, so that an interrupted or failed run can
/// say what it finished. Returns the API's id.
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
    let finished = std::cell::RefCell::new(Vec::new());
    let mark = |kind: Kind| finished.borrow_mut().push(kind);
    let table = async {
        Table::apply(ctx, &d.table, &planned.table).await?;
        mark(Kind::Table);
        anyhow::Ok(())
    };
    let logs = async {
        LogGroup::apply(ctx, &d.logs, &planned.logs).await?;
        mark(Kind::LogGroup);
        anyhow::Ok(())
    };
    let function = async {
        Role::apply(ctx, &d.role, &planned.role).await?;
        mark(Kind::Role);
        Function::apply(ctx, &d.function, &planned.function).await?;
        mark(Kind::Function);
        anyhow::Ok(())
    };
    let api = async {
        let created = Api::apply(ctx, &d.api, &planned.api).await?;
        mark(Kind::Api);
        let id = created.or(api_id.map(str::to_string));
        let stage = d.stage.clone().with_api(id.as_deref());
        Stage::apply(ctx, &stage, &planned.stage).await?;
        mark(Kind::Stage);
        anyhow::Ok(id)
    };
    let (t, l, f, a) = tokio::join!(table, logs, function, api);
    let permission = match (&f, &a) {
        (Ok(()), Ok(id)) => {
            let permission = d.permission.clone().with_api(ctx.names, id.as_deref());
            let granted = Permission::apply(ctx, &permission, &planned.permission).await;
            if granted.is_ok() {
                mark(Kind::Permission);
            }
            granted
        }
        _ => Ok(()),
    };
    done.extend(finished.into_inner());
    t?;
    l?;
    f?;
    permission?;
    a
}
