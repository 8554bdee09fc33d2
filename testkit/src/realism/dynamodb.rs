//! DynamoDB as it really settles: a table `CREATING` then `UPDATING`, refusing changes
//! meanwhile (and its items while it is `CREATING`); point-in-time recovery refused after CreateTable, then `ENABLING`; tags that show
//! in ListTagsOfResource only after a while.

use std::time::Instant;

use serde_json::{json, Value};

use super::{rewrite_json, table_of, within, Answer, Layer, Met, Table};
use crate::faults;
use crate::wire::{Exchange, Upstream};

/// Refuses what real DynamoDB would refuse now, and notes the tags a TagResource replaces.
pub(super) async fn before(
    layer: &Layer,
    ex: &Exchange<'_>,
    upstream: &Upstream,
) -> Option<Answer> {
    let body = ex.json();
    let table = table_of(&body)?;
    let c = &layer.config;
    let state = layer
        .world()
        .tables
        .get(&table)
        .cloned()
        .unwrap_or_default();
    let busy = status_of(layer, &state);
    match (ex.call.operation.as_str(), busy) {
        ("UpdateTable" | "DeleteTable" | "TagResource" | "UntagResource", Some(status)) => {
            Some(in_use(layer, &table, status))
        }
        // "The resource might not be specified correctly, or its status might not be ACTIVE"
        // (DynamoDB API reference, ResourceNotFoundException of GetItem, UpdateItem, …).
        (
            "GetItem" | "PutItem" | "UpdateItem" | "DeleteItem" | "Query" | "Scan",
            Some("CREATING"),
        ) => {
            layer.met(Met::ItemsWhileCreating);
            Some(faults::aws_error(
                "dynamodb",
                400,
                "ResourceNotFoundException",
                "Requested resource not found",
            ))
        }
        ("UpdateContinuousBackups", _) if within(state.created, c.pitr_unavailable) => {
            layer.met(Met::PitrUnavailable);
            Some(faults::aws_error(
                "dynamodb",
                400,
                "ContinuousBackupsUnavailableException",
                &format!("Backups are being enabled for the table: {table}. Please retry later"),
            ))
        }
        ("TagResource" | "UntagResource", None) if !c.tag_lag.is_zero() => {
            remember_tags(layer, &body, ex, upstream).await;
            None
        }
        _ => None,
    }
}

/// The refusal of a change to a table still `CREATING` or `UPDATING`.
fn in_use(layer: &Layer, table: &str, status: &str) -> Answer {
    layer.met(Met::TableInUse);
    let doing = if status == "CREATING" {
        "created"
    } else {
        "updated"
    };
    faults::aws_error(
        "dynamodb",
        400,
        "ResourceInUseException",
        &format!(
            "Attempt to change a resource which is still in use: Table is being {doing}: {table}"
        ),
    )
}

/// `CREATING` or `UPDATING` while the table settles, `None` once it is `ACTIVE`.
fn status_of(layer: &Layer, state: &Table) -> Option<&'static str> {
    let c = &layer.config;
    if within(state.created, c.table_creating) {
        Some("CREATING")
    } else if within(state.updated, c.table_updating) {
        Some("UPDATING")
    } else {
        None
    }
}

/// What ListTagsOfResource will keep showing for a while: the tags before this change.
async fn remember_tags(layer: &Layer, body: &Value, ex: &Exchange<'_>, upstream: &Upstream) {
    let arn = body["ResourceArn"].as_str().unwrap_or_default().to_string();
    let previous = upstream
        .peek_json(ex, "ListTagsOfResource", json!({"ResourceArn": arn}))
        .await
        .map(|v| v["Tags"].clone())
        .unwrap_or_else(|| json!([]));
    layer
        .world()
        .stale_tags
        .insert(arn, (Instant::now(), previous));
}

/// Remembers what changed, and reports states and tags as real DynamoDB would now.
pub(super) fn after(layer: &Layer, ex: &Exchange<'_>, answer: Answer) -> Answer {
    let body = ex.json();
    let Some(table) = table_of(&body) else {
        return answer;
    };
    match ex.call.operation.as_str() {
        "CreateTable" => created(layer, table, answer),
        "UpdateTable" => {
            layer.world().tables.entry(table).or_default().updated = Some(Instant::now());
            answer
        }
        "DeleteTable" => {
            layer.world().tables.remove(&table);
            answer
        }
        "UpdateContinuousBackups" => {
            let on = body["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
                == json!(true);
            layer.world().tables.entry(table).or_default().pitr_enabled = on.then(Instant::now);
            answer
        }
        "DescribeTable" => {
            let state = layer
                .world()
                .tables
                .get(&table)
                .cloned()
                .unwrap_or_default();
            match status_of(layer, &state) {
                Some(status) => {
                    layer.met(match status {
                        "CREATING" => Met::TableCreating,
                        _ => Met::TableUpdating,
                    });
                    rewrite_json(&answer, |v| v["Table"]["TableStatus"] = json!(status)).0
                }
                None => answer,
            }
        }
        "DescribeContinuousBackups" => pitr_enabling(layer, &table, answer),
        "ListTagsOfResource" => stale_tags(layer, &body, answer),
        _ => answer,
    }
}

/// A new table is CREATING, and its tags (set by CreateTable) are not listed yet.
fn created(layer: &Layer, table: String, answer: Answer) -> Answer {
    let now = Instant::now();
    let arn = rewrite_json(&answer, |_| {}).1["TableDescription"]["TableArn"]
        .as_str()
        .map(str::to_string);
    let mut world = layer.world();
    world.tables.insert(
        table,
        Table {
            created: Some(now),
            ..Table::default()
        },
    );
    if let (Some(arn), false) = (arn, layer.config.tag_lag.is_zero()) {
        world.stale_tags.insert(arn, (now, json!([])));
    }
    answer
}

/// `ENABLING` instead of `ENABLED`, for a while after PITR was turned on.
fn pitr_enabling(layer: &Layer, table: &str, answer: Answer) -> Answer {
    let state = layer.world().tables.get(table).cloned().unwrap_or_default();
    if !within(state.pitr_enabled, layer.config.pitr_enabling) {
        return answer;
    }
    rewrite_json(&answer, |v| {
        let pitr = &mut v["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"];
        if pitr["PointInTimeRecoveryStatus"] == json!("ENABLED") {
            pitr["PointInTimeRecoveryStatus"] = json!("ENABLING");
            layer.met(Met::PitrEnabling);
        }
    })
    .0
}

/// The previous tag set, for a while after tags changed.
fn stale_tags(layer: &Layer, body: &Value, answer: Answer) -> Answer {
    let arn = body["ResourceArn"].as_str().unwrap_or_default();
    let stale = layer.world().stale_tags.get(arn).cloned();
    match stale {
        Some((since, previous)) if within(Some(since), layer.config.tag_lag) => {
            let mut lagged = false;
            let stale = rewrite_json(&answer, |v| {
                lagged = v["Tags"] != previous;
                v["Tags"] = previous;
            });
            if lagged {
                layer.met(Met::TagLag);
            }
            stale.0
        }
        _ => answer,
    }
}
