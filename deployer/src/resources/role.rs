//! The function's execution role: a trust policy for Lambda pinned to this account, and one
//! inline policy with exactly what the function calls. Anything else on the role (another inline
//! policy, an attached managed policy) is drift, and `up` removes it.

use std::collections::BTreeMap;

use aws_sdk_iam::types::Tag;
use serde_json::{json, Value};

use super::{missing_tags, plan_tags, Ctx, TAGS};
use crate::aws::{AwsContext, Clients};
use crate::names::Names;
use crate::plan::{Change, Kind};
use crate::wait::{self, CreateError};

pub const TRUST_POLICY: &str = "trust_policy";
pub const INLINE_POLICY: &str = "inline_policy";
pub const EXTRA_INLINE_POLICY: &str = "extra_inline_policy";
pub const MANAGED_POLICY: &str = "managed_policy";

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub name: String,
    pub trust: Value,
    pub policy_name: String,
    pub policy: Value,
    pub tags: BTreeMap<String, String>,
}

impl Desired {
    pub fn of(names: &Names) -> Desired {
        Desired {
            name: names.role.clone(),
            trust: names.trust_policy(),
            policy_name: names.policy.clone(),
            policy: names.counter_policy(),
            tags: names.tags.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub arn: String,
    pub trust: Value,
    /// Every inline policy by name; only ours has its document read.
    pub inline: BTreeMap<String, Option<Value>>,
    pub managed: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

pub async fn observe(clients: &Clients, d: &Desired) -> anyhow::Result<Option<Observed>> {
    let iam = &clients.iam;
    let name = &d.name;
    let role = match iam.get_role().role_name(name).send().await {
        Ok(out) => out.role,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e).doing(|| format!("reading role {name}")),
    };
    let Some(role) = role else {
        return Ok(None);
    };
    let trust = parse_policy(role.assume_role_policy_document().unwrap_or("{}"))?;
    let tags = role
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();

    let mut inline = BTreeMap::new();
    let mut marker = None;
    loop {
        let page = iam
            .list_role_policies()
            .role_name(name)
            .set_marker(marker)
            .send()
            .await
            .doing(|| format!("listing the inline policies of role {name}"))?;
        for p in page.policy_names() {
            inline.insert(p.clone(), None);
        }
        marker = page.marker.filter(|_| page.is_truncated);
        if marker.is_none() {
            break;
        }
    }
    if inline.contains_key(&d.policy_name) {
        let doc = iam
            .get_role_policy()
            .role_name(name)
            .policy_name(&d.policy_name)
            .send()
            .await
            .doing(|| format!("reading policy {} of role {name}", d.policy_name))?;
        inline.insert(
            d.policy_name.clone(),
            Some(parse_policy(doc.policy_document())?),
        );
    }

    let mut managed = Vec::new();
    let mut marker = None;
    loop {
        let page = iam
            .list_attached_role_policies()
            .role_name(name)
            .set_marker(marker)
            .send()
            .await
            .doing(|| format!("listing the managed policies of role {name}"))?;
        managed.extend(
            page.attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string)),
        );
        marker = page.marker.filter(|_| page.is_truncated);
        if marker.is_none() {
            break;
        }
    }
    Ok(Some(Observed {
        arn: role.arn,
        trust,
        inline,
        managed,
        tags,
    }))
}

/// IAM returns policy documents URL-encoded (RFC 3986); emulators often do not.
pub fn parse_policy(text: &str) -> anyhow::Result<Value> {
    if let Ok(v) = serde_json::from_str(text) {
        return Ok(v);
    }
    let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    serde_json::from_str(&decoded)
        .map_err(|e| anyhow::anyhow!("IAM returned a policy document that is not JSON: {e}"))
}

/// A policy in a canonical form, so that equal policies compare equal: a single statement or
/// action becomes a list, and lists are sorted.
pub fn normalize(policy: &Value) -> Value {
    let mut policy = policy.clone();
    if let Some(statements) = policy.get_mut("Statement") {
        if statements.is_object() {
            *statements = Value::Array(vec![statements.take()]);
        }
        if let Some(list) = statements.as_array_mut() {
            for s in list.iter_mut() {
                for key in ["Action", "NotAction", "Resource", "NotResource"] {
                    if let Some(v) = s.get_mut(key) {
                        *v = sorted_list(v);
                    }
                }
                if let Some(Value::Object(principal)) = s.get_mut("Principal") {
                    for v in principal.values_mut() {
                        *v = sorted_list(v);
                    }
                }
            }
        }
    }
    policy
}

fn sorted_list(v: &Value) -> Value {
    let mut items: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    items.sort_by_key(|x| x.to_string());
    Value::Array(items)
}

pub fn plan(d: &Desired, o: Option<&Observed>) -> Vec<Change> {
    let Some(o) = o else {
        return vec![Change::create(
            Kind::Role,
            &d.name,
            json!({TRUST_POLICY: d.trust, INLINE_POLICY: {&d.policy_name: d.policy}}),
        )];
    };
    let mut changes = Vec::new();
    if normalize(&d.trust) != normalize(&o.trust) {
        changes.push(Change::update(
            Kind::Role,
            &d.name,
            TRUST_POLICY,
            d.trust.clone(),
            o.trust.clone(),
        ));
    }
    let ours = o.inline.get(&d.policy_name).cloned().flatten();
    if ours.as_ref().map(normalize) != Some(normalize(&d.policy)) {
        changes.push(Change::update(
            Kind::Role,
            &d.name,
            INLINE_POLICY,
            d.policy.clone(),
            ours.unwrap_or(Value::Null),
        ));
    }
    for extra in o.inline.keys().filter(|k| **k != d.policy_name) {
        changes.push(Change::delete(
            Kind::Role,
            &d.name,
            Some(EXTRA_INLINE_POLICY),
            json!(extra),
        ));
    }
    for arn in &o.managed {
        changes.push(Change::delete(
            Kind::Role,
            &d.name,
            Some(MANAGED_POLICY),
            json!(arn),
        ));
    }
    plan_tags(&mut changes, Kind::Role, &d.name, &d.tags, &o.tags);
    changes
}

pub async fn apply(ctx: Ctx<'_>, d: &Desired, changes: &[Change]) -> anyhow::Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let iam = &ctx.clients.iam;
    let name = &d.name;
    let created = changes.iter().any(|c| c.field.is_none());
    let step = ctx.progress.step(format!(
        "{} role {name}",
        if created { "creating" } else { "updating" }
    ));
    if created {
        let tags = iam_tags(&d.tags)?;
        let send = || async {
            iam.create_role()
                .role_name(name)
                .assume_role_policy_document(d.trust.to_string())
                .description(format!(
                    "Execution role of the Lambda function {}",
                    ctx.names.function
                ))
                .set_tags(Some(tags.clone()))
                .customize()
                .config_override(crate::single_attempt!(aws_sdk_iam))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| CreateError::of(&format!("creating role {name}"), e))
        };
        let look = || async {
            let found = iam.get_role().role_name(name).send().await;
            Ok(found.ok().map(|_| ()))
        };
        wait::create_once(
            &format!("creating role {name}"),
            ctx.waits.create,
            &step,
            send,
            look,
        )
        .await?;
    }
    if changes.iter().any(|c| c.is(TRUST_POLICY)) {
        iam.update_assume_role_policy()
            .role_name(name)
            .policy_document(d.trust.to_string())
            .send()
            .await
            .doing(|| format!("updating the trust policy of role {name}"))?;
    }
    if created || changes.iter().any(|c| c.is(INLINE_POLICY)) {
        iam.put_role_policy()
            .role_name(name)
            .policy_name(&d.policy_name)
            .policy_document(d.policy.to_string())
            .send()
            .await
            .doing(|| format!("putting policy {} on role {name}", d.policy_name))?;
    }
    for c in changes {
        let Some(target) = c.actual.as_str() else {
            continue;
        };
        if c.is(EXTRA_INLINE_POLICY) {
            iam.delete_role_policy()
                .role_name(name)
                .policy_name(target)
                .send()
                .await
                .doing(|| format!("deleting the extra inline policy {target} from role {name}"))?;
        } else if c.is(MANAGED_POLICY) {
            iam.detach_role_policy()
                .role_name(name)
                .policy_arn(target)
                .send()
                .await
                .doing(|| format!("detaching the managed policy {target} from role {name}"))?;
        }
    }
    if let Some(tags) = changes.iter().find(|c| c.is(TAGS)) {
        let live: BTreeMap<String, String> =
            serde_json::from_value(tags.actual.clone()).unwrap_or_default();
        iam.tag_role()
            .role_name(name)
            .set_tags(Some(iam_tags(&missing_tags(&d.tags, &live))?))
            .send()
            .await
            .doing(|| format!("tagging role {name}"))?;
    }
    step.done("");
    Ok(())
}

fn iam_tags(tags: &BTreeMap<String, String>) -> anyhow::Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| Ok(Tag::builder().key(k).value(v).build()?))
        .collect()
}

/// Deletes the role with everything on it; `false` when there was none.
pub async fn delete(ctx: Ctx<'_>, d: &Desired) -> anyhow::Result<bool> {
    let Some(live) = observe(ctx.clients, d).await? else {
        return Ok(false);
    };
    let iam = &ctx.clients.iam;
    let name = &d.name;
    for policy in live.inline.keys() {
        iam.delete_role_policy()
            .role_name(name)
            .policy_name(policy)
            .send()
            .await
            .doing(|| format!("deleting policy {policy} of role {name}"))?;
    }
    for arn in &live.managed {
        iam.detach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .doing(|| format!("detaching {arn} from role {name}"))?;
    }
    match iam.delete_role().role_name(name).send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(e).doing(|| format!("deleting role {name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;

    fn desired() -> Desired {
        Desired {
            name: "r".into(),
            trust: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
            policy_name: "p".into(),
            policy: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["dynamodb:UpdateItem", "dynamodb:GetItem"], "Resource": "arn:t"}]}),
            tags: BTreeMap::new(),
        }
    }

    fn live() -> Observed {
        let d = desired();
        Observed {
            arn: "arn:r".into(),
            trust: d.trust.clone(),
            inline: BTreeMap::from([("p".into(), Some(d.policy.clone()))]),
            managed: vec![],
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn url_encoded_documents_parse() {
        let v = parse_policy("%7B%22Version%22%3A%222012-10-17%22%7D").unwrap_or_default();
        assert_eq!(v, json!({"Version": "2012-10-17"}));
    }

    #[test]
    fn equal_policies_in_other_shapes_are_no_change() {
        let mut o = live();
        o.inline.insert(
            "p".into(),
            Some(json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem"], "Resource": ["arn:t"]}})),
        );
        o.trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}]});
        assert_eq!(plan(&desired(), Some(&o)), vec![]);
    }

    #[test]
    fn a_broadened_policy_an_extra_policy_and_a_managed_policy_are_each_reported() {
        let mut o = live();
        o.inline.insert("p".into(), Some(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]})));
        o.inline.insert("hotfix".into(), None);
        o.managed
            .push("arn:aws:iam::aws:policy/AdministratorAccess".into());
        let changes = plan(&desired(), Some(&o));
        let summary: Vec<_> = changes
            .iter()
            .map(|c| (c.action, c.field.clone().unwrap_or_default()))
            .collect();
        assert_eq!(
            summary,
            [
                (Action::Update, INLINE_POLICY.to_string()),
                (Action::Delete, EXTRA_INLINE_POLICY.to_string()),
                (Action::Delete, MANAGED_POLICY.to_string()),
            ]
        );
        assert_eq!(changes[1].actual, json!("hotfix"));
    }

    #[test]
    fn a_missing_role_is_created_and_a_missing_policy_is_put() {
        assert_eq!(plan(&desired(), None)[0].action, Action::Create);
        let mut o = live();
        o.inline.clear();
        let changes = plan(&desired(), Some(&o));
        assert_eq!(changes.len(), 1);
        assert!(changes[0].is(INLINE_POLICY));
        assert_eq!(changes[0].actual, Value::Null);
    }
}
