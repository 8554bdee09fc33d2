//! The function's log group, `/aws/lambda/{function}`, created ahead of the function so that its
//! retention is ours: Lambda would otherwise create it on first log, kept forever.

use std::collections::BTreeMap;

use serde_json::json;

use super::{missing_tags, plan_tags, Ctx, TAGS};
use crate::aws::{AwsContext, Clients};
use crate::names::Names;
use crate::plan::{compare, Change, Kind};
use crate::stack::Stack;

pub const RETENTION: &str = "retention_days";

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub name: String,
    pub retention_days: i32,
    pub tags: BTreeMap<String, String>,
}

impl Desired {
    pub fn of(stack: &Stack, names: &Names) -> Desired {
        Desired {
            name: names.log_group.clone(),
            retention_days: i32::try_from(stack.function.log_retention_days).unwrap_or(14),
            tags: names.tags.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// `None` means "never expire".
    pub retention_days: Option<i32>,
    pub tags: BTreeMap<String, String>,
}

pub async fn observe(clients: &Clients, names: &Names) -> anyhow::Result<Option<Observed>> {
    let name = &names.log_group;
    let page = clients
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .doing(|| format!("reading log group {name}"))?;
    // A prefix search: /aws/lambda/vc-prod also finds /aws/lambda/vc-prod-old.
    let Some(group) = page
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name.as_str()))
    else {
        return Ok(None);
    };
    let tags = clients
        .logs
        .list_tags_for_resource()
        .resource_arn(&names.log_group_arn)
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

pub fn plan(d: &Desired, o: Option<&Observed>) -> Vec<Change> {
    let Some(o) = o else {
        return vec![Change::create(
            Kind::LogGroup,
            &d.name,
            json!({RETENTION: d.retention_days}),
        )];
    };
    let mut changes = Vec::new();
    compare(
        &mut changes,
        Kind::LogGroup,
        &d.name,
        RETENTION,
        &Some(d.retention_days),
        &o.retention_days,
    );
    plan_tags(&mut changes, Kind::LogGroup, &d.name, &d.tags, &o.tags);
    changes
}

pub async fn apply(ctx: Ctx<'_>, d: &Desired, changes: &[Change]) -> anyhow::Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let logs = &ctx.clients.logs;
    let name = &d.name;
    let created = changes.iter().any(|c| c.field.is_none());
    let step = ctx.progress.step(format!(
        "{} log group {name}",
        if created { "creating" } else { "updating" }
    ));
    if created {
        match logs
            .create_log_group()
            .log_group_name(name)
            .set_tags(Some(d.tags.clone().into_iter().collect()))
            .send()
            .await
        {
            Ok(_) => {}
            // The function may have logged (and so created the group) since we looked.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_already_exists_exception()) =>
            {
                logs.tag_resource()
                    .resource_arn(&ctx.names.log_group_arn)
                    .set_tags(Some(d.tags.clone().into_iter().collect()))
                    .send()
                    .await
                    .doing(|| format!("tagging log group {name}"))?;
            }
            Err(e) => return Err(e).doing(|| format!("creating log group {name}")),
        }
    }
    if created || changes.iter().any(|c| c.is(RETENTION)) {
        logs.put_retention_policy()
            .log_group_name(name)
            .retention_in_days(d.retention_days)
            .send()
            .await
            .doing(|| format!("setting the retention of log group {name}"))?;
    }
    if let Some(tags) = changes.iter().find(|c| c.is(TAGS)) {
        let live: BTreeMap<String, String> =
            serde_json::from_value(tags.actual.clone()).unwrap_or_default();
        logs.tag_resource()
            .resource_arn(&ctx.names.log_group_arn)
            .set_tags(Some(missing_tags(&d.tags, &live).into_iter().collect()))
            .send()
            .await
            .doing(|| format!("tagging log group {name}"))?;
    }
    step.done("");
    Ok(())
}

/// Deletes the log group; `false` when there was none.
pub async fn delete(ctx: Ctx<'_>) -> anyhow::Result<bool> {
    let name = &ctx.names.log_group;
    match ctx
        .clients
        .logs
        .delete_log_group()
        .log_group_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(e).doing(|| format!("deleting log group {name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> Desired {
        Desired {
            name: "/aws/lambda/f".into(),
            retention_days: 14,
            tags: BTreeMap::from([("deployer:stack".into(), "vc".into())]),
        }
    }

    #[test]
    fn missing_matching_and_drifted_groups() {
        let d = desired();
        assert_eq!(plan(&d, None)[0].action, crate::plan::Action::Create);
        let live = Observed {
            retention_days: Some(14),
            tags: d.tags.clone(),
        };
        assert!(plan(&d, Some(&live)).is_empty());
        let never = Observed {
            retention_days: None,
            ..live
        };
        let changes = plan(&d, Some(&never));
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (changes[0].expected.clone(), changes[0].actual.clone()),
            (json!(14), json!(null))
        );
    }
}
