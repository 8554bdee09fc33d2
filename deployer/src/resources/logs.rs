//! The function's log group, `/aws/lambda/{function}`, created ahead of the function so that its
//! retention is ours: Lambda would otherwise create it on first log, kept forever.

use serde_json::json;

use super::tags::{self, Tags, TAGS};
use super::{Ctx, Needs, Removed, Resource};
use crate::arns::Arns;
use crate::aws::{AwsContext, Clients, Found};
use crate::names::Names;
use crate::plan::{Change, Describe, Differ, Kind, Update};
use crate::stack::Stack;

pub const RETENTION: &str = "retention_days";

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub name: String,
    pub arn: String,
    pub retention_days: i32,
    pub tags: Tags,
}

impl Desired {
    pub fn of(stack: &Stack, names: &Names, arns: &Arns) -> Desired {
        Desired {
            name: names.log_group.clone(),
            arn: arns.log_group.clone(),
            retention_days: i32::try_from(stack.function.log_retention_days).unwrap_or(14),
            tags: names.tags.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// `None` means "never expire".
    pub retention_days: Option<i32>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LogsChange {
    Create { retention_days: i32 },
    Retention(Update<Option<i32>>),
    Tags(Update<Tags>),
}

impl Describe for LogsChange {
    fn describe(&self, name: &str) -> Change {
        let k = Kind::LogGroup;
        match self {
            LogsChange::Create { retention_days } => {
                Change::create(k, name, json!({RETENTION: retention_days}))
            }
            LogsChange::Retention(u) => u.change(k, name, RETENTION),
            LogsChange::Tags(u) => u.change(k, name, TAGS),
        }
    }
}

pub struct LogGroup;

impl Resource for LogGroup {
    const KIND: Kind = Kind::LogGroup;
    type Desired = Desired;
    type Observed = Observed;
    type Change = LogsChange;

    fn name(d: &Desired) -> &str {
        &d.name
    }

    fn tags(o: &Observed) -> Option<&Tags> {
        Some(&o.tags)
    }

    async fn observe(
        clients: &Clients,
        names: &Names,
        _needs: Needs<'_>,
    ) -> anyhow::Result<Option<Observed>> {
        let name = &names.log_group;
        // A prefix search: /aws/lambda/vc-prod also finds /aws/lambda/vc-prod-old. The exact name
        // sorts first, so the first page holds it.
        let page = clients
            .logs
            .describe_log_groups()
            .log_group_name_prefix(name)
            .send()
            .await
            .doing(|| format!("reading log group {name}"))?;
        let Some(group) = page
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name.as_str()))
        else {
            return Ok(None);
        };
        // The group's own ARN, without the `:*` of its streams, as DescribeLogGroups gives it:
        // the account is not known yet when this runs.
        let arn = group
            .arn()
            .map(|a| a.trim_end_matches(":*").to_string())
            .ok_or_else(|| anyhow::anyhow!("DescribeLogGroups gave log group {name} no ARN"))?;
        let tags = clients
            .logs
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .doing(|| format!("reading the tags of log group {name}"))?
            .tags
            .unwrap_or_default()
            .into_iter()
            .collect();
        Ok(Some(Observed {
            retention_days: group.retention_in_days(),
            tags,
        }))
    }

    fn plan(d: &Desired, o: Option<&Observed>, _needs: Needs<'_>) -> Vec<LogsChange> {
        let Some(o) = o else {
            return vec![LogsChange::Create {
                retention_days: d.retention_days,
            }];
        };
        let mut diff = Differ::new();
        diff.field(
            &Some(d.retention_days),
            &o.retention_days,
            LogsChange::Retention,
        );
        tags::compare(&mut diff, &d.tags, &o.tags, LogsChange::Tags);
        diff.done()
    }

    async fn apply(
        ctx: Ctx<'_>,
        d: &Desired,
        changes: &[LogsChange],
        _needs: Needs<'_>,
    ) -> anyhow::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let logs = &ctx.clients.logs;
        let name = &d.name;
        let created = super::creates(changes);
        let step = ctx.step(created, "log group", name);
        if created {
            create(ctx, d).await?;
        }
        let retention = changes
            .iter()
            .any(|c| matches!(c, LogsChange::Retention(_)));
        if created || retention {
            logs.put_retention_policy()
                .log_group_name(name)
                .retention_in_days(d.retention_days)
                .send()
                .await
                .doing(|| format!("setting the retention of log group {name}"))?;
        }
        for change in changes {
            if let LogsChange::Tags(update) = change {
                tags::apply(update, |missing| tag(ctx, d, missing)).await?;
            }
        }
        step.done("");
        Ok(())
    }

    async fn delete(ctx: Ctx<'_>, d: &Desired) -> anyhow::Result<Removed> {
        let Some(live) = LogGroup::observe(ctx.clients, ctx.names, Needs::NONE).await? else {
            return Ok(Removed::Absent);
        };
        if !tags::ours(ctx.names, &live.tags) {
            return Ok(Removed::NotOurs(d.name.clone()));
        }
        super::removed(ctx, "log group", &d.name, || async {
            ctx.clients
                .logs
                .delete_log_group()
                .log_group_name(&d.name)
                .send()
                .await
                .found(|| format!("deleting log group {}", d.name))
        })
        .await
    }
}

async fn create(ctx: Ctx<'_>, d: &Desired) -> anyhow::Result<()> {
    let sent = ctx
        .clients
        .logs
        .create_log_group()
        .log_group_name(&d.name)
        .set_tags(Some(d.tags.clone().into_iter().collect()))
        .send()
        .await;
    match sent {
        Ok(_) => Ok(()),
        // The function may have logged (and so created the group, untagged) since we looked.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_already_exists_exception()) =>
        {
            tag(ctx, d, d.tags.clone()).await
        }
        Err(e) => Err(e).doing(|| format!("creating log group {}", d.name)),
    }
}

async fn tag(ctx: Ctx<'_>, d: &Desired, tags: Tags) -> anyhow::Result<()> {
    ctx.clients
        .logs
        .tag_resource()
        .resource_arn(&d.arn)
        .set_tags(Some(tags.into_iter().collect()))
        .send()
        .await
        .doing(|| format!("tagging log group {}", d.name))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> Desired {
        Desired {
            name: "/aws/lambda/f".into(),
            arn: "arn".into(),
            retention_days: 14,
            tags: Tags::from([("deployer:stack".into(), "vc".into())]),
        }
    }

    #[test]
    fn missing_matching_and_drifted_groups() {
        let d = desired();
        assert_eq!(
            LogGroup::plan(&d, None, Needs::NONE),
            [LogsChange::Create { retention_days: 14 }]
        );
        let live = Observed {
            retention_days: Some(14),
            tags: d.tags.clone(),
        };
        assert!(LogGroup::plan(&d, Some(&live), Needs::NONE).is_empty());
        let never = Observed {
            retention_days: None,
            ..live
        };
        let changes = LogGroup::plan(&d, Some(&never), Needs::NONE);
        assert_eq!(changes.len(), 1);
        let c = changes[0].describe(&d.name);
        assert_eq!((c.expected, c.actual), (json!(14), json!(null)));
    }
}
