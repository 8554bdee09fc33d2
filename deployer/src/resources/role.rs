//! The function's execution role: a trust policy for Lambda pinned to this account, and one
//! inline policy with exactly what the function calls. Anything else on the role (another inline
//! policy, an attached managed policy) is drift, and `up` removes it.

use std::collections::BTreeMap;

use aws_sdk_iam::types::Tag;
use serde_json::{json, Value};

use super::tags::{self, Tags, TAGS};

use super::{Ctx, Needs, Removed, Resource};
use crate::arns::Arns;
use crate::aws::{AwsContext, Clients, Found};
use crate::names::Names;
use crate::plan::{Change, Describe, Differ, Kind, Update};
use crate::progress::Step;
use crate::wait::{self, CreateError};

mod documents;

pub use documents::{counter_policy, normalize, parse_policy, trust_policy};

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
    pub tags: Tags,
    /// The function it serves, for the role's description.
    pub function: String,
}

impl Desired {
    pub fn of(names: &Names, arns: &Arns) -> Desired {
        Desired {
            name: names.role.clone(),
            trust: trust_policy(arns),
            policy_name: names.policy.clone(),
            policy: counter_policy(arns, &names.counter),
            tags: names.tags.clone(),
            function: names.function.clone(),
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
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RoleChange {
    /// A new role, with these documents.
    Create {
        trust: Value,
        policy_name: String,
        policy: Value,
    },
    Trust(Update<Value>),
    /// The inline policy, `Null` when it is missing.
    Policy(Update<Value>),
    /// Another inline policy, by name: removed.
    ExtraInline(String),
    /// An attached managed policy, by ARN: detached.
    Managed(String),
    Tags(Update<Tags>),
}

impl Describe for RoleChange {
    fn describe(&self, name: &str) -> Change {
        let k = Kind::Role;
        match self {
            RoleChange::Create {
                trust,
                policy_name,
                policy,
            } => Change::create(
                k,
                name,
                json!({TRUST_POLICY: trust, INLINE_POLICY: {policy_name: policy}}),
            ),
            RoleChange::Trust(u) => u.change(k, name, TRUST_POLICY),
            RoleChange::Policy(u) => u.change(k, name, INLINE_POLICY),
            RoleChange::ExtraInline(p) => {
                Change::delete(k, name, Some(EXTRA_INLINE_POLICY), json!(p))
            }
            RoleChange::Managed(arn) => Change::delete(k, name, Some(MANAGED_POLICY), json!(arn)),
            RoleChange::Tags(u) => u.change(k, name, TAGS),
        }
    }
}

pub struct Role;

impl Resource for Role {
    const KIND: Kind = Kind::Role;
    type Desired = Desired;
    type Observed = Observed;
    type Change = RoleChange;

    fn name(d: &Desired) -> &str {
        &d.name
    }

    fn tags(o: &Observed) -> Option<&Tags> {
        Some(&o.tags)
    }

    /// Every read at once: the role, its inline policies (ours by name), its managed ones.
    async fn observe(
        clients: &Clients,
        names: &Names,
        _needs: Needs<'_>,
    ) -> anyhow::Result<Option<Observed>> {
        let iam = &clients.iam;
        let name = &names.role;
        let role = iam.get_role().role_name(name).send();
        let (role, inline, managed) = tokio::join!(
            role,
            read_inline(clients, names),
            read_managed(clients, name)
        );
        let Some(role) = role
            .found(|| format!("reading role {name}"))?
            .and_then(|r| r.role)
        else {
            return Ok(None);
        };
        let trust = parse_policy(role.assume_role_policy_document().unwrap_or("{}"))?;
        Ok(Some(Observed {
            tags: role
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            arn: role.arn,
            trust,
            inline: inline?,
            managed: managed?,
        }))
    }

    fn plan(d: &Desired, o: Option<&Observed>, _needs: Needs<'_>) -> Vec<RoleChange> {
        let Some(o) = o else {
            return vec![RoleChange::Create {
                trust: d.trust.clone(),
                policy_name: d.policy_name.clone(),
                policy: d.policy.clone(),
            }];
        };
        let mut diff = Differ::new();
        if normalize(&d.trust) != normalize(&o.trust) {
            diff.push(RoleChange::Trust(Update {
                want: d.trust.clone(),
                live: o.trust.clone(),
            }));
        }
        let ours = o.inline.get(&d.policy_name).cloned().flatten();
        if ours.as_ref().map(normalize) != Some(normalize(&d.policy)) {
            diff.push(RoleChange::Policy(Update {
                want: d.policy.clone(),
                live: ours.unwrap_or(Value::Null),
            }));
        }
        for extra in o.inline.keys().filter(|k| **k != d.policy_name) {
            diff.push(RoleChange::ExtraInline(extra.clone()));
        }
        for arn in &o.managed {
            diff.push(RoleChange::Managed(arn.clone()));
        }
        tags::compare(&mut diff, &d.tags, &o.tags, RoleChange::Tags);
        diff.done()
    }

    async fn apply(
        ctx: Ctx<'_>,
        d: &Desired,
        changes: &[RoleChange],
        _needs: Needs<'_>,
    ) -> anyhow::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let created = super::creates(changes);
        let step = ctx.step(created, "role", &d.name);
        if created {
            create(ctx, d, &step).await?;
            put_policy(ctx, d).await?;
        }
        for change in changes {
            apply_one(ctx, d, change).await?;
        }
        step.done("");
        Ok(())
    }

    /// Deletes the role with everything on it.
    async fn delete(ctx: Ctx<'_>, d: &Desired) -> anyhow::Result<Removed> {
        let live = Role::observe(ctx.clients, ctx.names, Needs::NONE).await?;
        delete_observed(ctx, d, live).await
    }
}

/// Removes the policies of the role as `live` found it, when it is the stack's: what `down`
/// does beside the function's deletion (nothing runs as the role by then: the API is going
/// too). The role as it is after, for [`delete_observed`].
pub async fn strip(
    ctx: Ctx<'_>,
    d: &Desired,
    live: Option<Observed>,
) -> anyhow::Result<Option<Observed>> {
    let Some(mut live) = live else {
        return Ok(None);
    };
    if !tags::ours(ctx.names, &live.tags) {
        return Ok(Some(live));
    }
    let inline = live
        .inline
        .keys()
        .map(|p| RoleChange::ExtraInline(p.clone()));
    let managed = live.managed.iter().map(|a| RoleChange::Managed(a.clone()));
    let detached: Vec<RoleChange> = inline.chain(managed).collect();
    futures_util::future::try_join_all(detached.iter().map(|c| apply_one(ctx, d, c))).await?;
    live.inline.clear();
    live.managed.clear();
    Ok(Some(live))
}

/// Deletes the role as `live` found it (read earlier, beside other work, by `down`), when it
/// is the stack's: its policies at once, then it.
pub async fn delete_observed(
    ctx: Ctx<'_>,
    d: &Desired,
    live: Option<Observed>,
) -> anyhow::Result<Removed> {
    let Some(live) = live else {
        return Ok(Removed::Absent);
    };
    if !tags::ours(ctx.names, &live.tags) {
        return Ok(Removed::NotOurs(d.name.clone()));
    }
    super::removed(ctx, "role", &d.name, || async {
        // IAM refuses to delete a role that still has policies: any left go first.
        strip(ctx, d, Some(live)).await?;
        ctx.clients
            .iam
            .delete_role()
            .role_name(&d.name)
            .send()
            .await
            .found(|| format!("deleting role {}", d.name))
    })
    .await
}

/// Every inline policy of the role by name; only ours has its document read (at the same
/// time as the listing: its name is known).
async fn read_inline(
    clients: &Clients,
    names: &Names,
) -> anyhow::Result<BTreeMap<String, Option<Value>>> {
    let (iam, name, policy) = (&clients.iam, &names.role, &names.policy);
    let listed = iam
        .list_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .try_collect();
    let ours = iam
        .get_role_policy()
        .role_name(name)
        .policy_name(policy)
        .send();
    let (listed, ours) = tokio::join!(listed, ours);
    let mut inline: BTreeMap<String, Option<Value>> = listed
        .found(|| format!("listing the inline policies of role {name}"))?
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p, None))
        .collect();
    let ours = ours.found(|| format!("reading policy {policy} of role {name}"))?;
    if let (Some(doc), true) = (ours, inline.contains_key(policy)) {
        inline.insert(policy.clone(), Some(parse_policy(doc.policy_document())?));
    }
    Ok(inline)
}

async fn read_managed(clients: &Clients, role: &str) -> anyhow::Result<Vec<String>> {
    let listed = clients
        .iam
        .list_attached_role_policies()
        .role_name(role)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .found(|| format!("listing the managed policies of role {role}"))?;
    Ok(listed
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.policy_arn)
        .collect())
}

/// Carries out one change of an existing role.
async fn apply_one(ctx: Ctx<'_>, d: &Desired, change: &RoleChange) -> anyhow::Result<()> {
    let iam = &ctx.clients.iam;
    let name = &d.name;
    match change {
        RoleChange::Create { .. } => {}
        RoleChange::Trust(_) => {
            iam.update_assume_role_policy()
                .role_name(name)
                .policy_document(d.trust.to_string())
                .send()
                .await
                .doing(|| format!("updating the trust policy of role {name}"))?;
        }
        RoleChange::Policy(_) => put_policy(ctx, d).await?,
        RoleChange::ExtraInline(policy) => {
            iam.delete_role_policy()
                .role_name(name)
                .policy_name(policy)
                .send()
                .await
                .doing(|| format!("deleting the inline policy {policy} from role {name}"))?;
        }
        RoleChange::Managed(arn) => {
            iam.detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .doing(|| format!("detaching the managed policy {arn} from role {name}"))?;
        }
        RoleChange::Tags(update) => {
            tags::apply(update, |missing| async move {
                iam.tag_role()
                    .role_name(name)
                    .set_tags(Some(iam_tags(&missing)?))
                    .send()
                    .await
                    .doing(|| format!("tagging role {name}"))?;
                Ok(())
            })
            .await?
        }
    }
    Ok(())
}

async fn create(ctx: Ctx<'_>, d: &Desired, step: &Step) -> anyhow::Result<()> {
    let iam = &ctx.clients.iam;
    let name = &d.name;
    let tags = iam_tags(&d.tags)?;
    let send = || async {
        iam.create_role()
            .role_name(name)
            .assume_role_policy_document(d.trust.to_string())
            .description(format!(
                "Execution role of the Lambda function {}",
                d.function
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
    let what = format!("creating role {name}");
    wait::create_once(&what, ctx.waits.create, step, send, look).await
}

async fn put_policy(ctx: Ctx<'_>, d: &Desired) -> anyhow::Result<()> {
    ctx.clients
        .iam
        .put_role_policy()
        .role_name(&d.name)
        .policy_name(&d.policy_name)
        .policy_document(d.policy.to_string())
        .send()
        .await
        .doing(|| format!("putting policy {} on role {}", d.policy_name, d.name))?;
    Ok(())
}

fn iam_tags(tags: &Tags) -> anyhow::Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| Ok(Tag::builder().key(k).value(v).build()?))
        .collect()
}

#[cfg(test)]
mod tests;
