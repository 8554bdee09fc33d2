//! The statement in the `live` alias's resource policy that lets this API, and only this API,
//! invoke it. Any other statement (another principal, another source) is drift, and `up`
//! removes it: the function faces the internet only through its own API, and only through the
//! alias, which names a probed version. A statement on the function itself (unqualified, which
//! would let `$LATEST` be invoked; earlier versions of the deployer made one) is drift too. It
//! is removed last, after the stage serves the alias ([`retire`]), so that moving an existing
//! stack onto the alias leaves no moment when the stage may not invoke what it serves.
//!
//! The statement's only condition is `SourceArn`, the API's execute-api ARN, which names the
//! account and this API already. Lambda documents `SourceAccount` for sources whose ARN has no
//! account, such as S3 buckets, and AWS's own API Gateway examples use `SourceArn` alone; a
//! statement with a `SourceAccount` (as earlier versions made it) is drift, and `up` replaces it.

use serde_json::{json, Value};

use super::{Ctx, Needs, Removed, Resource};
use crate::arns::Arns;
use crate::aws::{Clients, Found};
use crate::names::Names;
use crate::plan::{Change, Describe, Differ, Kind, Update};
use crate::progress::Step;
use crate::wait::{self, CreateError};

pub const PRINCIPAL: &str = "apigateway.amazonaws.com";
pub const ACTION: &str = "lambda:InvokeFunction";
pub const SOURCE_ARN: &str = "source_arn";
pub const PRINCIPAL_FIELD: &str = "principal";
pub const ACTION_FIELD: &str = "action";
pub const SOURCE_ACCOUNT: &str = "source_account";
/// How many statements carry our statement id. AWS refuses a second one, but an emulator (or a
/// future AWS) may not; two copies are drift all the same.
pub const COPIES: &str = "copies";
/// The field of a statement on the function itself, not on its alias.
pub const UNQUALIFIED: &str = "unqualified";
/// What a plan says of the source ARN before the API, and so its id, exists.
const NEW_API: &str = "(the new API's ARN)";

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub sid: String,
    pub function: String,
    /// The alias whose policy holds the statement.
    pub alias: String,
    /// Where the source ARN is made, from the API's id (see [`Desired::source_arn`]).
    pub arns: Arns,
}

impl Desired {
    pub fn of(names: &Names, arns: &Arns) -> Desired {
        Desired {
            sid: names.permission_sid.clone(),
            function: names.function.clone(),
            alias: names.alias.clone(),
            arns: arns.clone(),
        }
    }

    /// The statement's `SourceArn`: the API's, once it exists.
    pub fn source_arn(&self, needs: Needs<'_>) -> Option<String> {
        needs.api_id.map(|id| self.arns.execute_api(id))
    }
}

/// The resource policies the permission lives in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policies {
    /// The `live` alias's: where the statement belongs.
    pub alias: Vec<Statement>,
    /// The function's own (unqualified): where no statement belongs.
    pub function: Vec<Statement>,
}

/// One statement of a resource policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: String,
    pub principal: String,
    pub action: String,
    pub source_arn: Option<String>,
    pub source_account: Option<String>,
    pub raw: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PermissionChange {
    Create {
        source_arn: Option<String>,
    },
    Principal(Update<String>),
    Action(Update<String>),
    SourceAccount(Update<Option<String>>),
    Copies(Update<usize>),
    SourceArn(Update<Option<String>>),
    /// Another statement, removed.
    Stray {
        sid: String,
        raw: Value,
    },
    /// A statement on the function itself, removed once the stage serves the alias.
    Unqualified {
        sid: String,
        raw: Value,
    },
}

impl Describe for PermissionChange {
    fn describe(&self, name: &str) -> Change {
        let k = Kind::Permission;
        let arn = |a: &Option<String>| a.clone().map(Value::String).unwrap_or(json!(NEW_API));
        match self {
            PermissionChange::Create { source_arn } => Change::create(
                k,
                name,
                json!({PRINCIPAL_FIELD: PRINCIPAL, ACTION_FIELD: ACTION, SOURCE_ARN: arn(source_arn)}),
            ),
            PermissionChange::Principal(u) => u.change(k, name, PRINCIPAL_FIELD),
            PermissionChange::Action(u) => u.change(k, name, ACTION_FIELD),
            PermissionChange::SourceAccount(u) => u.change(k, name, SOURCE_ACCOUNT),
            PermissionChange::Copies(u) => u.change(k, name, COPIES),
            PermissionChange::SourceArn(u) => {
                Change::update(k, name, SOURCE_ARN, arn(&u.want), json!(u.live))
            }
            PermissionChange::Stray { sid, raw } => Change::delete(k, sid, None, raw.clone()),
            PermissionChange::Unqualified { sid, raw } => {
                Change::delete(k, sid, Some(UNQUALIFIED), raw.clone())
            }
        }
    }
}

pub struct Permission;

impl Resource for Permission {
    const KIND: Kind = Kind::Permission;
    type Desired = Desired;
    type Observed = Policies;
    type Change = PermissionChange;

    fn name(d: &Desired) -> &str {
        &d.sid
    }

    /// The alias's resource policy and the function's; `None` when neither exists.
    async fn observe(
        clients: &Clients,
        names: &Names,
        _needs: Needs<'_>,
    ) -> anyhow::Result<Option<Policies>> {
        let (function, alias) = (&names.function, &names.alias);
        let (on_alias, on_function) = tokio::try_join!(
            read(clients, function, Some(alias)),
            read(clients, function, None)
        )?;
        if on_alias.is_none() && on_function.is_none() {
            return Ok(None);
        }
        Ok(Some(Policies {
            alias: on_alias.unwrap_or_default(),
            function: on_function.unwrap_or_default(),
        }))
    }

    fn plan(d: &Desired, live: Option<&Policies>, needs: Needs<'_>) -> Vec<PermissionChange> {
        let on_function = live.map(|p| p.function.as_slice()).unwrap_or_default();
        let live = live.map(|p| p.alias.as_slice()).unwrap_or_default();
        let source_arn = d.source_arn(needs);
        let mut diff = Differ::new();
        match live.iter().find(|s| s.sid == d.sid) {
            None => {
                diff.push(PermissionChange::Create {
                    source_arn: source_arn.clone(),
                });
            }
            Some(ours) => {
                let copies = live.iter().filter(|s| s.sid == d.sid).count();
                diff.field(
                    &PRINCIPAL.to_string(),
                    &ours.principal,
                    PermissionChange::Principal,
                )
                .field(&ACTION.to_string(), &ours.action, PermissionChange::Action)
                .field(&None, &ours.source_account, PermissionChange::SourceAccount)
                .field(&1, &copies, PermissionChange::Copies);
                if source_arn.is_none() || source_arn != ours.source_arn {
                    diff.push(PermissionChange::SourceArn(Update {
                        want: source_arn.clone(),
                        live: ours.source_arn.clone(),
                    }));
                }
            }
        }
        for extra in live.iter().filter(|s| s.sid != d.sid) {
            diff.push(PermissionChange::Stray {
                sid: extra.sid.clone(),
                raw: extra.raw.clone(),
            });
        }
        for old in on_function {
            diff.push(PermissionChange::Unqualified {
                sid: old.sid.clone(),
                raw: old.raw.clone(),
            });
        }
        diff.done()
    }

    /// Carries out the changes of the alias's policy; the unqualified statements go later, in
    /// [`retire`].
    async fn apply(
        ctx: Ctx<'_>,
        d: &Desired,
        changes: &[PermissionChange],
        needs: Needs<'_>,
    ) -> anyhow::Result<()> {
        if changes.iter().all(PermissionChange::is_unqualified) {
            return Ok(());
        }
        let source_arn = d.source_arn(needs).ok_or_else(|| {
            anyhow::anyhow!("the invoke permission needs the API's id, which is not known yet")
        })?;
        let source_arn = source_arn.as_str();
        let step = ctx.progress.step(format!(
            "granting {source_arn} the right to invoke {}:{}",
            d.function, d.alias
        ));
        let mut ours = None;
        for change in changes {
            match change {
                PermissionChange::Stray { sid, .. } => remove(ctx, d, sid, Some(&d.alias)).await?,
                PermissionChange::Unqualified { .. } => {}
                PermissionChange::Create { .. } => ours = ours.or(Some(0)),
                PermissionChange::Copies(u) => ours = Some(u.live),
                _ => ours = ours.or(Some(1)),
            }
        }
        // One removal per copy (each RemovePermission takes one statement away), then the add.
        if let Some(copies) = ours {
            for _ in 0..copies {
                remove(ctx, d, &d.sid, Some(&d.alias)).await?;
            }
            add(ctx, d, source_arn, &step).await?;
        }
        step.done("");
        Ok(())
    }

    /// The statement goes with the function; `down` has nothing to remove of its own.
    async fn delete(_ctx: Ctx<'_>, _d: &Desired) -> anyhow::Result<Removed> {
        Ok(Removed::Absent)
    }
}

impl PermissionChange {
    fn is_unqualified(&self) -> bool {
        matches!(self, PermissionChange::Unqualified { .. })
    }
}

/// Removes the statements on the function itself, once the stage invokes the alias: the last
/// step of moving a stack onto the alias.
pub async fn retire(ctx: Ctx<'_>, d: &Desired, changes: &[PermissionChange]) -> anyhow::Result<()> {
    let old: Vec<&str> = changes
        .iter()
        .filter_map(|c| match c {
            PermissionChange::Unqualified { sid, .. } => Some(sid.as_str()),
            _ => None,
        })
        .collect();
    if old.is_empty() {
        return Ok(());
    }
    let step = ctx.progress.step(format!(
        "removing {} statement(s) from function {} itself (the stage invokes {} now)",
        old.len(),
        d.function,
        d.alias
    ));
    for sid in old {
        remove(ctx, d, sid, None).await?;
    }
    step.done("");
    Ok(())
}

/// The statements of `function`'s policy (at `qualifier`); `None` when there is no policy.
async fn read(
    clients: &Clients,
    function: &str,
    qualifier: Option<&str>,
) -> anyhow::Result<Option<Vec<Statement>>> {
    let of = qualifier.map_or(String::new(), |q| format!(":{q}"));
    let policy = clients
        .lambda
        .get_policy()
        .function_name(function)
        .set_qualifier(qualifier.map(str::to_string))
        .send()
        .await
        .found(|| format!("reading the resource policy of function {function}{of}"))?;
    Ok(policy.map(|p| parse(p.policy().unwrap_or_default())))
}

async fn remove(
    ctx: Ctx<'_>,
    d: &Desired,
    sid: &str,
    qualifier: Option<&str>,
) -> anyhow::Result<()> {
    let of = qualifier.map_or(String::new(), |q| format!(":{q}"));
    ctx.clients
        .lambda
        .remove_permission()
        .function_name(&d.function)
        .set_qualifier(qualifier.map(str::to_string))
        .statement_id(sid)
        .send()
        .await
        .found(|| format!("removing statement {sid} from function {}{of}", d.function))?;
    Ok(())
}

/// AddPermission is not idempotent either: a blind retry after a lost answer fails on the
/// existing statement id (ResourceConflictException), or, in an emulator, adds a second copy. So
/// it is sent without the SDK's retries, and after an ambiguous failure the policy is read for
/// our statement before another try.
async fn add(ctx: Ctx<'_>, d: &Desired, source_arn: &str, step: &Step) -> anyhow::Result<()> {
    let lambda = &ctx.clients.lambda;
    let what = format!(
        "allowing {source_arn} to invoke function {}:{}",
        d.function, d.alias
    );
    let send = || async {
        lambda
            .add_permission()
            .function_name(&d.function)
            .qualifier(&d.alias)
            .statement_id(&d.sid)
            .action(ACTION)
            .principal(PRINCIPAL)
            .source_arn(source_arn)
            .customize()
            .config_override(crate::single_attempt!(aws_sdk_lambda))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| CreateError::of(&what, e))
    };
    let look = || async {
        let live = Permission::observe(ctx.clients, ctx.names, Needs::NONE)
            .await?
            .unwrap_or_default();
        Ok(live
            .alias
            .iter()
            .any(|s| s.sid == d.sid && s.source_arn.as_deref() == Some(source_arn))
            .then_some(()))
    };
    wait::create_once(&what, ctx.waits.create, step, send, look).await
}

/// The statements of a Lambda resource policy document.
pub fn parse(policy: &str) -> Vec<Statement> {
    let doc: Value = serde_json::from_str(policy).unwrap_or(Value::Null);
    let statements = match doc.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        _ => Vec::new(),
    };
    statements.into_iter().map(statement).collect()
}

fn statement(s: Value) -> Statement {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let principal = match s.get("Principal") {
        Some(Value::String(p)) => p.clone(),
        Some(p) => p
            .get("Service")
            .or_else(|| p.get("AWS"))
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_default(),
        None => String::new(),
    };
    let condition = s.get("Condition");
    Statement {
        sid: text(s.get("Sid")).unwrap_or_default(),
        action: text(s.get("Action")).unwrap_or_default(),
        source_arn: text(condition.and_then(|c| c.get("ArnLike")?.get("AWS:SourceArn"))),
        source_account: text(
            condition.and_then(|c| c.get("StringEquals")?.get("AWS:SourceAccount")),
        ),
        principal,
        raw: s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{describe_all, Action};

    const POLICY: &str = r#"{"Version":"2012-10-17","Id":"default","Statement":[
        {"Sid":"vc-apigateway-invoke","Effect":"Allow","Principal":{"Service":"apigateway.amazonaws.com"},
         "Action":"lambda:InvokeFunction","Resource":"arn:f",
         "Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:execute-api:us-east-1:1:abc/*"}}},
        {"Sid":"open-to-all","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction","Resource":"arn:f"}]}"#;

    fn desired() -> Desired {
        let s = crate::stack::parse("name: vc\n", std::path::Path::new("stack.yaml"))
            .unwrap_or_else(|e| panic!("{e}"));
        let names = Names::derive(&s, "us-east-1");
        Desired::of(&names, &Arns::of(&names, "1"))
    }

    fn plan(api: Option<&str>, live: &[Statement]) -> Vec<Change> {
        let d = desired();
        describe_all(
            &d.sid,
            &Permission::plan(
                &d,
                Some(&Policies {
                    alias: live.to_vec(),
                    function: Vec::new(),
                }),
                Needs::api(api),
            ),
        )
    }

    #[test]
    fn our_statement_matches_and_a_stranger_is_deleted() {
        let live = parse(POLICY);
        assert_eq!(live.len(), 2);
        let changes = plan(Some("abc"), &live);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (changes[0].action, changes[0].name.as_str()),
            (Action::Delete, "open-to-all")
        );
    }

    #[test]
    fn a_statement_for_another_api_is_updated_and_a_missing_one_created() {
        let live = parse(POLICY);
        let changes = plan(Some("xyz"), &live[..1]);
        assert_eq!(changes.len(), 1);
        assert!(changes[0].is(SOURCE_ARN));
        assert_eq!(
            changes[0].actual,
            json!("arn:aws:execute-api:us-east-1:1:abc/*")
        );
        assert_eq!(plan(None, &[])[0].action, Action::Create);
        assert_eq!(plan(None, &[])[0].expected[SOURCE_ARN], NEW_API);
    }

    #[test]
    fn a_source_account_condition_is_drift_to_remove() {
        let old = r#"{"Statement":[{"Sid":"vc-apigateway-invoke","Effect":"Allow",
            "Principal":{"Service":"apigateway.amazonaws.com"},"Action":"lambda:InvokeFunction",
            "Condition":{"StringEquals":{"AWS:SourceAccount":"1"},
                         "ArnLike":{"AWS:SourceArn":"arn:aws:execute-api:us-east-1:1:abc/*"}}}]}"#;
        let changes = plan(Some("abc"), &parse(old));
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(changes[0].is(SOURCE_ACCOUNT));
        assert_eq!(
            (changes[0].expected.clone(), changes[0].actual.clone()),
            (json!(null), json!("1"))
        );
        assert!(plan(Some("abc"), &parse(POLICY)[..1]).is_empty());
    }

    #[test]
    fn a_statement_on_the_function_itself_is_retired_after_the_stage() {
        let d = desired();
        let live = Policies {
            alias: parse(POLICY)[..1].to_vec(),
            function: parse(POLICY)[..1].to_vec(),
        };
        let changes = Permission::plan(&d, Some(&live), Needs::api(Some("abc")));
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(changes[0].is_unqualified());
        let shown = describe_all(&d.sid, &changes);
        assert_eq!(
            (shown[0].action, shown[0].field.as_deref()),
            (Action::Delete, Some(UNQUALIFIED))
        );
    }

    #[test]
    fn two_copies_of_our_statement_are_drift() {
        let live = parse(POLICY);
        let twice = [live[0].clone(), live[0].clone()];
        let changes = plan(Some("abc"), &twice);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(changes[0].is(COPIES));
        assert_eq!(
            (changes[0].expected.clone(), changes[0].actual.clone()),
            (json!(1), json!(2))
        );
    }
}
