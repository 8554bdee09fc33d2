//! The DynamoDB table that holds the counter: on-demand, keyed by `id` (string), with
//! point-in-time recovery and deletion protection as the stack says.
//!
//! The table holds the data, so the deployer never deletes it on its own: a key schema change
//! needs a new table and is refused, and `down` retains it unless asked.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    ScalarAttributeType, TableStatus, Tag,
};
use serde_json::json;

use aws_sdk_dynamodb::error::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{missing_tags, plan_tags, Ctx, TAGS};
use crate::aws::{AwsContext, Clients};
use crate::names::Names;
use crate::plan::{compare, Change, Kind};
use crate::stack::Stack;
use crate::wait::{self, Attempt, CreateError};

pub const KEY_SCHEMA: &str = "key_schema";
pub const BILLING_MODE: &str = "billing_mode";
pub const PITR: &str = "point_in_time_recovery";
pub const DELETION_PROTECTION: &str = "deletion_protection";

/// The key the function reads and writes: `id`, a string, the partition key.
pub const KEY: &str = "id:S:HASH";
const KEY_ATTRIBUTE: &str = "id";
const ON_DEMAND: &str = "PAY_PER_REQUEST";

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub name: String,
    pub point_in_time_recovery: bool,
    pub deletion_protection: bool,
    pub tags: BTreeMap<String, String>,
}

impl Desired {
    pub fn of(stack: &Stack, names: &Names) -> Desired {
        Desired {
            name: names.table.clone(),
            point_in_time_recovery: stack.table.point_in_time_recovery,
            deletion_protection: stack.table.deletion_protection,
            tags: names.tags.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub arn: String,
    pub status: String,
    /// `attribute:type:role` for each key element, such as `id:S:HASH`.
    pub key_schema: Vec<String>,
    pub billing_mode: String,
    pub point_in_time_recovery: bool,
    pub deletion_protection: bool,
    pub tags: BTreeMap<String, String>,
}

pub async fn observe(clients: &Clients, name: &str) -> anyhow::Result<Option<Observed>> {
    let described = match clients
        .dynamodb
        .describe_table()
        .table_name(name)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e).doing(|| format!("reading table {name}")),
    };
    let Some(table) = described.table else {
        return Ok(None);
    };
    let arn = table.table_arn.clone().unwrap_or_default();
    let types: BTreeMap<&str, &str> = table
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name(), a.attribute_type().as_str()))
        .collect();
    let key_schema = table
        .key_schema()
        .iter()
        .map(|k| {
            let t = types.get(k.attribute_name()).copied().unwrap_or("?");
            format!("{}:{t}:{}", k.attribute_name(), k.key_type().as_str())
        })
        .collect();
    let billing_mode = table
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .map(|b| b.as_str().to_string())
        // Tables created before on-demand existed report no summary: they are provisioned.
        .unwrap_or_else(|| "PROVISIONED".to_string());

    // ENABLING is on its way to ENABLED: what the stack asked for, and `up` waits for the rest.
    let point_in_time_recovery = pitr_status(clients, name).await? != "DISABLED";
    let tags = read_tags(clients, name, &arn).await?;
    Ok(Some(Observed {
        arn,
        status: table
            .table_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        key_schema,
        billing_mode,
        point_in_time_recovery,
        deletion_protection: table.deletion_protection_enabled().unwrap_or(false),
        tags,
    }))
}

pub fn plan(d: &Desired, o: Option<&Observed>) -> Vec<Change> {
    let Some(o) = o else {
        return vec![Change::create(
            Kind::Table,
            &d.name,
            json!({
                KEY_SCHEMA: [KEY],
                BILLING_MODE: ON_DEMAND,
                PITR: d.point_in_time_recovery,
                DELETION_PROTECTION: d.deletion_protection,
            }),
        )];
    };
    let mut changes = Vec::new();
    if o.key_schema != [KEY] {
        changes.push(
            Change::update(
                Kind::Table,
                &d.name,
                KEY_SCHEMA,
                json!([KEY]),
                json!(o.key_schema),
            )
            .blocked(
                "replacement needed: a key schema cannot change in place, and the deployer never \
                 deletes a table with data. Set table.name to a new table in stack.yaml (the old \
                 one is retained), or migrate the data yourself",
            ),
        );
    }
    compare(
        &mut changes,
        Kind::Table,
        &d.name,
        BILLING_MODE,
        &ON_DEMAND.to_string(),
        &o.billing_mode,
    );
    compare(
        &mut changes,
        Kind::Table,
        &d.name,
        PITR,
        &d.point_in_time_recovery,
        &o.point_in_time_recovery,
    );
    compare(
        &mut changes,
        Kind::Table,
        &d.name,
        DELETION_PROTECTION,
        &d.deletion_protection,
        &o.deletion_protection,
    );
    plan_tags(&mut changes, Kind::Table, &d.name, &d.tags, &o.tags);
    changes
}

pub async fn apply(ctx: Ctx<'_>, d: &Desired, changes: &[Change]) -> anyhow::Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let name = &d.name;
    let created = changes.iter().any(|c| c.field.is_none());
    let step = ctx.progress.step(format!(
        "{} table {name}",
        if created { "creating" } else { "updating" }
    ));
    if created {
        create(ctx, d, &step).await?;
    }
    let billing = changes.iter().any(|c| c.is(BILLING_MODE));
    let protection = changes.iter().any(|c| c.is(DELETION_PROTECTION));
    if billing || protection {
        let db = &ctx.clients.dynamodb;
        let (billing, protection) = (billing.then_some(BillingMode::PayPerRequest), protection);
        in_use_retry(ctx, name, &step, || {
            let mut update = db.update_table().table_name(name);
            update = update.set_billing_mode(billing.clone());
            if protection {
                update = update.deletion_protection_enabled(d.deletion_protection);
            }
            update.send()
        })
        .await
        .doing(|| format!("updating table {name}"))?;
    }
    if (created && d.point_in_time_recovery) || changes.iter().any(|c| c.is(PITR)) {
        set_pitr(ctx, d, &step).await?;
    }
    if let Some(tags) = changes.iter().find(|c| c.is(TAGS)) {
        let live: BTreeMap<String, String> =
            serde_json::from_value(tags.actual.clone()).unwrap_or_default();
        let missing = dynamo_tags(&missing_tags(&d.tags, &live))?;
        let db = &ctx.clients.dynamodb;
        in_use_retry(ctx, name, &step, || {
            db.tag_resource()
                .resource_arn(&ctx.names.table_arn)
                .set_tags(Some(missing.clone()))
                .send()
        })
        .await
        .doing(|| format!("tagging table {name}"))?;
    }
    if created || changes.iter().any(|c| c.is(TAGS)) {
        wait_tags_visible(ctx, d, &step).await?;
    }
    wait_active(ctx, name, &step).await?;
    step.done("");
    Ok(())
}

async fn create(ctx: Ctx<'_>, d: &Desired, step: &crate::progress::Step) -> anyhow::Result<()> {
    let db = &ctx.clients.dynamodb;
    let name = &d.name;
    let attribute = AttributeDefinition::builder()
        .attribute_name(KEY_ATTRIBUTE)
        .attribute_type(ScalarAttributeType::S)
        .build()?;
    let key = KeySchemaElement::builder()
        .attribute_name(KEY_ATTRIBUTE)
        .key_type(KeyType::Hash)
        .build()?;
    let tags = dynamo_tags(&d.tags)?;
    let send = || async {
        db.create_table()
            .table_name(name)
            .attribute_definitions(attribute.clone())
            .key_schema(key.clone())
            .billing_mode(BillingMode::PayPerRequest)
            .deletion_protection_enabled(d.deletion_protection)
            .set_tags(Some(tags.clone()))
            .customize()
            .config_override(crate::single_attempt!(aws_sdk_dynamodb))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| CreateError::of(&format!("creating table {name}"), e))
    };
    let look = || async {
        let found = db.describe_table().table_name(name).send().await;
        Ok(found.ok().map(|_| ()))
    };
    wait::create_once(
        &format!("creating table {name}"),
        ctx.waits.create,
        step,
        send,
        look,
    )
    .await
}

/// Sends a change to the table, first waiting for it to be ACTIVE, and again while DynamoDB
/// answers ResourceInUseException: a table that is CREATING or UPDATING refuses UpdateTable,
/// TagResource and DeleteTable until it settles (DynamoDB API reference, UpdateTable).
async fn in_use_retry<T, E, F, Fut>(
    ctx: Ctx<'_>,
    name: &str,
    step: &crate::progress::Step,
    send: F,
) -> Result<T, SdkError<E, HttpResponse>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata,
{
    // A failed wait is not fatal here: the send below is refused, and says why, if it matters.
    let _ = wait_active(ctx, name, step).await;
    let send = &send;
    wait::retry(ctx.waits.table_active, step, move || async move {
        match send().await {
            Ok(value) => Attempt::Done(value),
            Err(e) if e.code() == Some("ResourceInUseException") => Attempt::Again(
                e,
                format!("table {name} is still changing (ResourceInUseException)"),
            ),
            Err(e) => Attempt::Failed(e),
        }
    })
    .await
}

/// Turns point-in-time recovery on or off, and waits until DynamoDB reports it so.
///
/// Right after CreateTable, DynamoDB refuses with ContinuousBackupsUnavailableException
/// ("Backups are being enabled for the table"), for seconds to minutes; terraform-provider-aws
/// retries exactly that error (`updatePITR`), then waits through the `ENABLING` status
/// (`waitPITRUpdated`). So does this.
async fn set_pitr(ctx: Ctx<'_>, d: &Desired, step: &crate::progress::Step) -> anyhow::Result<()> {
    let name = &d.name;
    let db = &ctx.clients.dynamodb;
    let spec = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(d.point_in_time_recovery)
        .build()?;
    let _ = wait_active(ctx, name, step).await;
    let spec = &spec;
    wait::retry(ctx.waits.pitr, step, move || async move {
        let sent = db
            .update_continuous_backups()
            .table_name(name)
            .point_in_time_recovery_specification(spec.clone())
            .send()
            .await;
        match sent {
            Ok(_) => Attempt::Done(()),
            Err(e) if e.code() == Some("ContinuousBackupsUnavailableException") => Attempt::Again(
                e,
                "DynamoDB is still enabling backups on the new table".into(),
            ),
            Err(e) => Attempt::Failed(e),
        }
    })
    .await
    .doing(|| format!("setting point-in-time recovery on table {name}"))?;
    let want = if d.point_in_time_recovery {
        "ENABLED"
    } else {
        "DISABLED"
    };
    wait::until(
        &format!("point-in-time recovery of table {name} to be {want}"),
        ctx.waits.pitr,
        step,
        || async {
            let status = pitr_status(ctx.clients, name).await?;
            Ok((status == want).then_some(()))
        },
    )
    .await
}

/// `ENABLED`, `DISABLED`, or a passing status such as `ENABLING`.
async fn pitr_status(clients: &Clients, name: &str) -> anyhow::Result<String> {
    let backups = clients
        .dynamodb
        .describe_continuous_backups()
        .table_name(name)
        .send()
        .await
        .doing(|| format!("reading the backups of table {name}"))?;
    Ok(backups
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status())
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|| "DISABLED".to_string()))
}

/// Waits until ListTagsOfResource shows the stack's tags: it is eventually consistent, and
/// a `diff` right after `up` must not read the new table as untagged (DynamoDB API reference,
/// TagResource: "ListTagsOfResource API will only reflect the changes after a few seconds").
async fn wait_tags_visible(
    ctx: Ctx<'_>,
    d: &Desired,
    step: &crate::progress::Step,
) -> anyhow::Result<()> {
    wait::until(
        &format!("the tags of table {} to be visible", d.name),
        ctx.waits.visible,
        step,
        || async {
            let live = read_tags(ctx.clients, &d.name, &ctx.names.table_arn).await?;
            Ok(missing_tags(&d.tags, &live).is_empty().then_some(()))
        },
    )
    .await
}

async fn read_tags(
    clients: &Clients,
    name: &str,
    arn: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut tags = BTreeMap::new();
    let mut token = None;
    // ListTagsOfResource has no paginator in the SDK: its token is not modelled as one.
    loop {
        let page = clients
            .dynamodb
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(token)
            .send()
            .await
            .doing(|| format!("reading the tags of table {name}"))?;
        for t in page.tags() {
            tags.insert(t.key().to_string(), t.value().to_string());
        }
        token = page.next_token;
        if token.is_none() {
            return Ok(tags);
        }
    }
}

async fn wait_active(ctx: Ctx<'_>, name: &str, step: &crate::progress::Step) -> anyhow::Result<()> {
    wait::until(
        &format!("table {name} to be ACTIVE"),
        ctx.waits.table_active,
        step,
        || async {
            let out = ctx
                .clients
                .dynamodb
                .describe_table()
                .table_name(name)
                .send()
                .await
                .doing(|| format!("reading table {name}"))?;
            let status = out.table().and_then(|t| t.table_status());
            Ok((status == Some(&TableStatus::Active)).then_some(()))
        },
    )
    .await
}

fn dynamo_tags(tags: &BTreeMap<String, String>) -> anyhow::Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| Ok(Tag::builder().key(k).value(v).build()?))
        .collect()
}

/// What `down` did with the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Retained,
    Deleted,
    Absent,
}

/// Deletes the table, turning deletion protection off first (and saying so).
pub async fn delete(ctx: Ctx<'_>, name: &str) -> anyhow::Result<Fate> {
    let Some(live) = observe(ctx.clients, name).await? else {
        return Ok(Fate::Absent);
    };
    let step = ctx.progress.step(format!("deleting table {name}"));
    let db = &ctx.clients.dynamodb;
    if live.deletion_protection {
        step.waiting("turning deletion protection off, as --delete-table asks");
        in_use_retry(ctx, name, &step, || {
            db.update_table()
                .table_name(name)
                .deletion_protection_enabled(false)
                .send()
        })
        .await
        .doing(|| format!("turning off deletion protection on table {name}"))?;
    }
    // The table is UPDATING after that change, and refuses DeleteTable until it is ACTIVE.
    match in_use_retry(ctx, name, &step, || {
        db.delete_table().table_name(name).send()
    })
    .await
    {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) => {}
        Err(e) => return Err(e).doing(|| format!("deleting table {name}")),
    }
    step.done("");
    Ok(Fate::Deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;

    fn desired() -> Desired {
        Desired {
            name: "t".into(),
            point_in_time_recovery: true,
            deletion_protection: true,
            tags: BTreeMap::from([("deployer:stack".into(), "vc".into())]),
        }
    }

    fn live() -> Observed {
        Observed {
            arn: "arn".into(),
            status: "ACTIVE".into(),
            key_schema: vec![KEY.into()],
            billing_mode: ON_DEMAND.into(),
            point_in_time_recovery: true,
            deletion_protection: true,
            tags: BTreeMap::from([
                ("deployer:stack".into(), "vc".into()),
                ("team".into(), "x".into()),
            ]),
        }
    }

    #[test]
    fn a_missing_table_is_created() {
        let changes = plan(&desired(), None);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].action, Action::Create);
    }

    #[test]
    fn a_matching_table_needs_nothing_and_foreign_tags_are_left_alone() {
        assert_eq!(plan(&desired(), Some(&live())), vec![]);
    }

    #[test]
    fn each_field_that_differs_is_one_update() {
        let mut o = live();
        o.billing_mode = "PROVISIONED".into();
        o.point_in_time_recovery = false;
        o.deletion_protection = false;
        o.tags.clear();
        let fields: Vec<_> = plan(&desired(), Some(&o))
            .into_iter()
            .map(|c| (c.field.unwrap_or_default(), c.expected, c.actual))
            .collect();
        assert_eq!(
            fields,
            [
                (
                    BILLING_MODE.into(),
                    json!("PAY_PER_REQUEST"),
                    json!("PROVISIONED")
                ),
                (PITR.into(), json!(true), json!(false)),
                (DELETION_PROTECTION.into(), json!(true), json!(false)),
                (TAGS.into(), json!({"deployer:stack": "vc"}), json!({})),
            ]
        );
    }

    #[test]
    fn a_different_key_schema_is_blocked_not_replaced() {
        let mut o = live();
        o.key_schema = vec!["pk:S:HASH".into(), "sk:S:RANGE".into()];
        let changes = plan(&desired(), Some(&o));
        assert_eq!(changes.len(), 1);
        assert!(changes[0].is(KEY_SCHEMA));
        assert!(changes[0]
            .blocked
            .as_deref()
            .unwrap_or("")
            .contains("replacement needed"));
    }
}
