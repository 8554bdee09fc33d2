//! The statement in the function's resource policy that lets this API, and only this API,
//! invoke it. Any other statement (another principal, another source) is drift, and `up`
//! removes it: the function faces the internet only through its own API.
//!
//! The statement's only condition is `SourceArn`, the API's execute-api ARN, which names the
//! account and this API already. Lambda documents `SourceAccount` for sources whose ARN has no
//! account, such as S3 buckets, and AWS's own API Gateway examples use `SourceArn` alone; a
//! statement with a `SourceAccount` (as earlier versions made it) is drift, and `up` replaces it.

use serde_json::{json, Value};

use super::Ctx;
use crate::aws::{AwsContext, Clients};
use crate::names::Names;
use crate::plan::{compare, Action, Change, Kind};
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

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub sid: String,
    /// `None` while the API does not exist yet: its id, and so the ARN, come with its creation.
    pub source_arn: Option<String>,
}

impl Desired {
    pub fn of(names: &Names, api_id: Option<&str>) -> Desired {
        Desired {
            sid: names.permission_sid.clone(),
            source_arn: api_id.map(|id| names.execute_api_arn(id)),
        }
    }
}

/// One statement of the function's resource policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: String,
    pub principal: String,
    pub action: String,
    pub source_arn: Option<String>,
    pub source_account: Option<String>,
    pub raw: Value,
}

pub async fn observe(clients: &Clients, function: &str) -> anyhow::Result<Vec<Statement>> {
    let policy = match clients
        .lambda
        .get_policy()
        .function_name(function)
        .send()
        .await
    {
        Ok(out) => out.policy.unwrap_or_default(),
        // No function, or a function with no resource policy yet.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(Vec::new())
        }
        Err(e) => {
            return Err(e).doing(|| format!("reading the resource policy of function {function}"))
        }
    };
    Ok(parse(&policy))
}

/// The statements of a Lambda resource policy document.
pub fn parse(policy: &str) -> Vec<Statement> {
    let doc: Value = serde_json::from_str(policy).unwrap_or(Value::Null);
    let statements = match doc.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        _ => Vec::new(),
    };
    statements
        .into_iter()
        .map(|s| {
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
            let source_arn = s
                .get("Condition")
                .and_then(|c| c.get("ArnLike"))
                .and_then(|c| c.get("AWS:SourceArn"))
                .and_then(Value::as_str)
                .map(str::to_string);
            let source_account = s
                .get("Condition")
                .and_then(|c| c.get("StringEquals"))
                .and_then(|c| c.get("AWS:SourceAccount"))
                .and_then(Value::as_str)
                .map(str::to_string);
            Statement {
                source_account,
                sid: s
                    .get("Sid")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                principal,
                action: s
                    .get("Action")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                source_arn,
                raw: s,
            }
        })
        .collect()
}

pub fn plan(d: &Desired, live: &[Statement]) -> Vec<Change> {
    let mut changes = Vec::new();
    let expected_arn = d
        .source_arn
        .clone()
        .map(Value::String)
        .unwrap_or_else(|| json!("(the new API's ARN)"));
    match live.iter().find(|s| s.sid == d.sid) {
        None => changes.push(Change::create(
            Kind::Permission,
            &d.sid,
            json!({PRINCIPAL_FIELD: PRINCIPAL, ACTION_FIELD: ACTION, SOURCE_ARN: expected_arn}),
        )),
        Some(ours) => {
            compare(
                &mut changes,
                Kind::Permission,
                &d.sid,
                PRINCIPAL_FIELD,
                &PRINCIPAL.to_string(),
                &ours.principal,
            );
            compare(
                &mut changes,
                Kind::Permission,
                &d.sid,
                ACTION_FIELD,
                &ACTION.to_string(),
                &ours.action,
            );
            compare(
                &mut changes,
                Kind::Permission,
                &d.sid,
                SOURCE_ACCOUNT,
                &None,
                &ours.source_account,
            );
            let copies = live.iter().filter(|s| s.sid == d.sid).count();
            compare(&mut changes, Kind::Permission, &d.sid, COPIES, &1, &copies);
            if d.source_arn.is_none() || d.source_arn != ours.source_arn {
                changes.push(Change::update(
                    Kind::Permission,
                    &d.sid,
                    SOURCE_ARN,
                    expected_arn,
                    json!(ours.source_arn),
                ));
            }
        }
    }
    for extra in live.iter().filter(|s| s.sid != d.sid) {
        changes.push(Change::delete(
            Kind::Permission,
            &extra.sid,
            None,
            extra.raw.clone(),
        ));
    }
    changes
}

pub async fn apply(
    ctx: Ctx<'_>,
    d: &Desired,
    api_id: &str,
    changes: &[Change],
) -> anyhow::Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let lambda = &ctx.clients.lambda;
    let function = &ctx.names.function;
    let step = ctx.progress.step(format!(
        "granting API {api_id} the right to invoke {function}"
    ));
    let remove = |sid: String| async move {
        match lambda
            .remove_permission()
            .function_name(function)
            .statement_id(&sid)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(e).doing(|| format!("removing statement {sid} from function {function}")),
        }
    };
    for extra in changes.iter().filter(|c| c.action == Action::Delete) {
        remove(extra.name.clone()).await?;
    }
    let ours: Vec<&Change> = changes
        .iter()
        .filter(|c| c.name == d.sid && c.action != Action::Delete)
        .collect();
    if !ours.is_empty() {
        if ours.iter().any(|c| c.action == Action::Update) {
            // One removal per copy: each RemovePermission takes one statement away.
            let copies = ours
                .iter()
                .find(|c| c.is(COPIES))
                .and_then(|c| c.actual.as_u64())
                .unwrap_or(1);
            for _ in 0..copies {
                remove(d.sid.clone()).await?;
            }
        }
        add(ctx, d, api_id, &step).await?;
    }
    step.done("");
    Ok(())
}

/// AddPermission is not idempotent either: a blind retry after a lost answer fails on the
/// existing statement id (or, in an emulator, adds a second copy). So it is sent without the
/// SDK's retries, and after an ambiguous failure the policy is read for our statement before
/// another try.
async fn add(ctx: Ctx<'_>, d: &Desired, api_id: &str, step: &Step) -> anyhow::Result<()> {
    let lambda = &ctx.clients.lambda;
    let function = &ctx.names.function;
    let source_arn = ctx.names.execute_api_arn(api_id);
    let send = || async {
        let sent = lambda
            .add_permission()
            .function_name(function)
            .statement_id(&d.sid)
            .action(ACTION)
            .principal(PRINCIPAL)
            .source_arn(&source_arn)
            .customize()
            .config_override(crate::single_attempt!(aws_sdk_lambda))
            .send()
            .await;
        sent.map(|_| ()).map_err(|e| {
            CreateError::of(
                &format!("allowing API {api_id} to invoke function {function}"),
                e,
            )
        })
    };
    let look = || async {
        let live = observe(ctx.clients, function).await?;
        Ok(live
            .iter()
            .any(|s| s.sid == d.sid && s.source_arn.as_deref() == Some(source_arn.as_str()))
            .then_some(()))
    };
    wait::create_once(
        &format!("allowing API {api_id} to invoke {function}"),
        ctx.waits.create,
        step,
        send,
        look,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"{"Version":"2012-10-17","Id":"default","Statement":[
        {"Sid":"vc-apigateway-invoke","Effect":"Allow","Principal":{"Service":"apigateway.amazonaws.com"},
         "Action":"lambda:InvokeFunction","Resource":"arn:f",
         "Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:execute-api:us-east-1:1:abc/*"}}},
        {"Sid":"open-to-all","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction","Resource":"arn:f"}]}"#;

    fn desired(api: Option<&str>) -> Desired {
        Desired {
            sid: "vc-apigateway-invoke".into(),
            source_arn: api.map(|id| format!("arn:aws:execute-api:us-east-1:1:{id}/*")),
        }
    }

    #[test]
    fn our_statement_matches_and_a_stranger_is_deleted() {
        let live = parse(POLICY);
        assert_eq!(live.len(), 2);
        let changes = plan(&desired(Some("abc")), &live);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (changes[0].action, changes[0].name.as_str()),
            (Action::Delete, "open-to-all")
        );
    }

    #[test]
    fn a_statement_for_another_api_is_updated_and_a_missing_one_created() {
        let live = parse(POLICY);
        let changes = plan(&desired(Some("xyz")), &live[..1]);
        assert_eq!(changes.len(), 1);
        assert!(changes[0].is(SOURCE_ARN));
        assert_eq!(
            changes[0].actual,
            json!("arn:aws:execute-api:us-east-1:1:abc/*")
        );
        assert_eq!(plan(&desired(None), &[])[0].action, Action::Create);
    }

    #[test]
    fn a_source_account_condition_is_drift_to_remove() {
        let old = r#"{"Statement":[{"Sid":"vc-apigateway-invoke","Effect":"Allow",
            "Principal":{"Service":"apigateway.amazonaws.com"},"Action":"lambda:InvokeFunction",
            "Condition":{"StringEquals":{"AWS:SourceAccount":"1"},
                         "ArnLike":{"AWS:SourceArn":"arn:aws:execute-api:us-east-1:1:abc/*"}}}]}"#;
        let changes = plan(&desired(Some("abc")), &parse(old));
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(changes[0].is(SOURCE_ACCOUNT));
        assert_eq!(
            (changes[0].expected.clone(), changes[0].actual.clone()),
            (json!(null), json!("1"))
        );
        assert!(plan(&desired(Some("abc")), &parse(POLICY)[..1]).is_empty());
    }

    #[test]
    fn two_copies_of_our_statement_are_drift() {
        let live = parse(POLICY);
        let twice = [live[0].clone(), live[0].clone()];
        let changes = plan(&desired(Some("abc")), &twice);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(changes[0].is(COPIES));
        assert_eq!(
            (changes[0].expected.clone(), changes[0].actual.clone()),
            (json!(1), json!(2))
        );
    }
}
