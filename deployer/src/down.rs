//! `down`: removes what `up` made, in reverse order: the API first (so traffic stops), then the
//! function, its log group and its role. The table holds the data and is retained unless
//! `--delete-table` asks otherwise.
//!
//! Only resources that carry this stack's tags are deleted: a resource that merely has a
//! derived name, but belongs to someone else, is left alone and reported.

use std::collections::HashMap;

use serde::Serialize;

use crate::names::{STACK_TAG, STAGE_TAG};
use crate::resources::{api, function, logs, role, table, Ctx};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// `kind name` of each resource deleted.
    pub deleted: Vec<String>,
    /// Kept on purpose: the table, unless `--delete-table`.
    pub retained: Vec<String>,
    /// Found under a derived name but without this stack's tags, so left alone.
    pub skipped: Vec<String>,
}

impl Report {
    pub fn nothing_found(&self) -> bool {
        self.deleted.is_empty() && self.retained.is_empty() && self.skipped.is_empty()
    }
}

fn ours(names: &crate::names::Names, tags: &HashMap<String, String>) -> bool {
    tags.get(STACK_TAG) == Some(&names.stack) && tags.get(STAGE_TAG) == Some(&names.stage)
}

/// Deletes, recording each deletion in `report` as it happens, so that a failed or interrupted
/// run can still say what it removed.
pub async fn down(
    ctx: Ctx<'_>,
    role: &role::Desired,
    delete_table: bool,
    report: &mut Report,
) -> anyhow::Result<()> {
    let names = ctx.names;

    let apis = api::observe(ctx.clients, names).await?;
    for live in &apis.apis {
        let step = ctx.progress.step(format!("deleting API {}", live.id));
        if api::delete_api(ctx, &live.id, &step).await? {
            report.deleted.push(format!("api {}", live.id));
        }
        step.done("");
    }

    if let Some(f) = function::observe(ctx.clients, &names.function).await? {
        let tags: HashMap<String, String> = f.tags.into_iter().collect();
        if ours(names, &tags) {
            let step = ctx
                .progress
                .step(format!("deleting function {}", names.function));
            if function::delete(ctx).await? {
                report.deleted.push(format!("function {}", names.function));
            }
            step.done("");
        } else {
            report.skipped.push(format!("function {}", names.function));
        }
    }

    if let Some(group) = logs::observe(ctx.clients, names).await? {
        let tags: HashMap<String, String> = group.tags.into_iter().collect();
        // Lambda may have created the group itself (untagged) before `up` could; it is still
        // this function's group when the function was ours.
        let function_was_ours = report.deleted.iter().any(|d| d.starts_with("function "));
        if ours(names, &tags) || function_was_ours {
            let step = ctx
                .progress
                .step(format!("deleting log group {}", names.log_group));
            if logs::delete(ctx).await? {
                report
                    .deleted
                    .push(format!("log_group {}", names.log_group));
            }
            step.done("");
        } else {
            report
                .skipped
                .push(format!("log_group {}", names.log_group));
        }
    }

    if let Some(live) = role::observe(ctx.clients, role).await? {
        let tags: HashMap<String, String> = live.tags.into_iter().collect();
        if ours(names, &tags) {
            let step = ctx.progress.step(format!("deleting role {}", names.role));
            if role::delete(ctx, role).await? {
                report.deleted.push(format!("role {}", names.role));
            }
            step.done("");
        } else {
            report.skipped.push(format!("role {}", names.role));
        }
    }

    if let Some(live) = table::observe(ctx.clients, &names.table).await? {
        let tags: HashMap<String, String> = live.tags.into_iter().collect();
        if !ours(names, &tags) {
            report.skipped.push(format!("table {}", names.table));
        } else if delete_table {
            if table::delete(ctx, &names.table).await? == table::Fate::Deleted {
                report.deleted.push(format!("table {}", names.table));
            }
        } else {
            report.retained.push(format!("table {}", names.table));
        }
    }
    Ok(())
}
