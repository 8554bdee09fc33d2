//! The DynamoDB table that holds the counter: on-demand, keyed as the function's contract says,
//! with point-in-time recovery and deletion protection as the stack says.
//!
//! The table holds the data, so the deployer never deletes it on its own: a key schema change
//! needs a new table and is refused, and `down` retains it unless asked.
//!
//! Real DynamoDB settles asynchronously, and each step here waits for it: a new table is
//! `CREATING`; after UpdateTable it is `UPDATING` and refuses UpdateTable, TagResource and
//! DeleteTable meanwhile (ResourceInUseException); point-in-time recovery is refused for a while
//! after CreateTable, then reported `ENABLING`; new tags show in ListTagsOfResource only after a
//! few seconds.

use aws_sdk_dynamodb::types::{AttributeValue, BillingMode, TableStatus, Tag};
use function::contract;
use serde_json::json;

use super::tags::{self, Tags, TAGS};
use super::{Ctx, Needs, Removed, Resource};
use crate::arns::Arns;
use crate::aws::{AwsContext, Clients, Found};
use crate::names::Names;
use crate::plan::{Change, Describe, Differ, Kind, Update};
use crate::progress::Step;
use crate::stack::Stack;

mod make;
mod settle;

use make::create;
pub use make::{make_home, mark_made, Home};
pub use settle::settle_new;

use settle::{
    pitr_status, read_tags, retry_in_use, send_when_active, set_pitr, wait_active,
    wait_tags_visible,
};

pub const KEY_SCHEMA: &str = "key_schema";
pub const BILLING_MODE: &str = "billing_mode";
pub const PITR: &str = "point_in_time_recovery";
pub const DELETION_PROTECTION: &str = "deletion_protection";

const ON_DEMAND: &str = "PAY_PER_REQUEST";

/// The key the function reads and writes, as `attribute:type:role`: `id:S:HASH`.
pub fn key(attribute: &str) -> String {
    format!("{attribute}:{}:HASH", contract::KEY_TYPE)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub name: String,
    pub arn: String,
    /// The partition key's attribute (`table.key`).
    pub key: String,
    /// Where stack.yaml sets `table.key` (`None`: the default), for a refusal to point at.
    pub key_line: Option<u64>,
    pub point_in_time_recovery: bool,
    pub deletion_protection: bool,
    pub tags: Tags,
    /// Whether `down` keeps it: the table holds the data.
    pub retain: bool,
}

impl Desired {
    pub fn of(stack: &Stack, names: &Names, arns: &Arns) -> Desired {
        Desired {
            name: names.table.clone(),
            arn: arns.table.clone(),
            key: names.key.clone(),
            key_line: stack.table.key_line,
            point_in_time_recovery: stack.table.point_in_time_recovery,
            deletion_protection: stack.table.deletion_protection,
            tags: names.tags.clone(),
            retain: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub arn: String,
    pub status: String,
    /// When it was made (DescribeTable's CreationDateTime): a new table lists no tags for a
    /// moment ([`settle_new`]).
    pub created: Option<std::time::SystemTime>,
    /// `attribute:type:role` for each key element, such as `id:S:HASH`.
    pub key_schema: Vec<String>,
    pub billing_mode: String,
    pub point_in_time_recovery: bool,
    pub deletion_protection: bool,
    pub tags: Tags,
}

/// What differs, and what `up` does about it.
#[derive(Debug, Clone, PartialEq)]
pub enum TableChange {
    Create {
        /// The partition key, as `attribute:type:role`.
        key: String,
        pitr: bool,
        protection: bool,
        /// Made already, for the deploy lease ([`make_home`]): only what follows a creation
        /// is left to do.
        made: bool,
    },
    /// Refused: a key schema cannot change in place. `line`: where `table.key` is written.
    KeySchema {
        update: Update<Vec<String>>,
        line: Option<u64>,
    },
    Billing(Update<String>),
    Pitr(Update<bool>),
    Protection(Update<bool>),
    Tags(Update<Tags>),
}

impl Describe for TableChange {
    fn describe(&self, name: &str) -> Change {
        let k = Kind::Table;
        match self {
            TableChange::Create {
                key,
                pitr,
                protection,
                ..
            } => Change::create(
                k,
                name,
                json!({KEY_SCHEMA: [key], BILLING_MODE: ON_DEMAND, PITR: pitr, DELETION_PROTECTION: protection}),
            ),
            TableChange::KeySchema { update, .. } => update.change(k, name, KEY_SCHEMA),
            TableChange::Billing(u) => u.change(k, name, BILLING_MODE),
            TableChange::Pitr(u) => u.change(k, name, PITR),
            TableChange::Protection(u) => u.change(k, name, DELETION_PROTECTION),
            TableChange::Tags(u) => u.change(k, name, TAGS),
        }
    }

    fn blocked(&self) -> Option<String> {
        let TableChange::KeySchema { update, line } = self else {
            return None;
        };
        let attribute = |schema: &[String]| {
            let first = schema.first().map(String::as_str).unwrap_or("");
            first.split(':').next().unwrap_or("").to_string()
        };
        let (want, live) = (attribute(&update.want), attribute(&update.live));
        let at = match line {
            Some(line) => format!("table.key (stack.yaml line {line}) says {want:?}"),
            None => format!("table.key is not set, so the key is the default {want:?}"),
        };
        Some(format!(
            "replacement needed: the table is keyed {:?} ({}), {at}, and a key schema cannot \
             change in place; the deployer never deletes a table with data. To keep this \
             table and its items, set table.key: {live} in stack.yaml; or set table.name to a \
             new table (the old one is retained)",
            live,
            update.live.join(", ")
        ))
    }
}

pub struct Table;

impl Resource for Table {
    const KIND: Kind = Kind::Table;
    type Desired = Desired;
    type Observed = Observed;
    type Change = TableChange;

    fn name(d: &Desired) -> &str {
        &d.name
    }

    fn tags(o: &Observed) -> Option<&Tags> {
        Some(&o.tags)
    }

    /// DescribeTable and DescribeContinuousBackups at once (both by name); then the tags, by the
    /// ARN DescribeTable gave (the account is not known yet when this runs).
    async fn observe(
        clients: &Clients,
        names: &Names,
        _needs: Needs<'_>,
    ) -> anyhow::Result<Option<Observed>> {
        let name = &names.table;
        let described = clients.dynamodb.describe_table().table_name(name).send();
        let (described, pitr) = tokio::join!(described, pitr_status(clients, name));
        let Some(table) = described
            .found(|| format!("reading table {name}"))?
            .and_then(|d| d.table)
        else {
            return Ok(None);
        };
        let arn = table.table_arn.clone().unwrap_or_default();
        // ENABLING is on its way to ENABLED: what the stack asked for; `up` waits for the rest.
        let point_in_time_recovery = pitr? != "DISABLED";
        let created = table
            .creation_date_time()
            .and_then(|d| std::time::SystemTime::try_from(*d).ok());
        let tags = read_tags(clients, name, &arn).await?;
        Ok(Some(Observed {
            created,
            key_schema: key_schema(&table),
            billing_mode: table
                .billing_mode_summary()
                .and_then(|b| b.billing_mode())
                .map(|b| b.as_str().to_string())
                // Tables created before on-demand existed report no summary: they are provisioned.
                .unwrap_or_else(|| "PROVISIONED".to_string()),
            status: table
                .table_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            deletion_protection: table.deletion_protection_enabled().unwrap_or(false),
            arn,
            point_in_time_recovery,
            tags,
        }))
    }

    fn plan(d: &Desired, o: Option<&Observed>, _needs: Needs<'_>) -> Vec<TableChange> {
        let Some(o) = o else {
            return vec![TableChange::Create {
                key: key(&d.key),
                pitr: d.point_in_time_recovery,
                protection: d.deletion_protection,
                made: false,
            }];
        };
        let mut diff = Differ::new();
        let line = d.key_line;
        diff.field(&vec![key(&d.key)], &o.key_schema, |update| {
            TableChange::KeySchema { update, line }
        })
        .field(
            &ON_DEMAND.to_string(),
            &o.billing_mode,
            TableChange::Billing,
        )
        .field(
            &d.point_in_time_recovery,
            &o.point_in_time_recovery,
            TableChange::Pitr,
        )
        .field(
            &d.deletion_protection,
            &o.deletion_protection,
            TableChange::Protection,
        );
        tags::compare(&mut diff, &d.tags, &o.tags, TableChange::Tags);
        diff.done()
    }

    async fn apply(
        ctx: Ctx<'_>,
        d: &Desired,
        changes: &[TableChange],
        _needs: Needs<'_>,
    ) -> anyhow::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let created = super::creates(changes);
        // Made first, for the deploy lease (its own step said so): what is left updates it.
        let made = make::made_first(changes);
        let step = ctx.step(created && !made, "table", &d.name);
        if created && !made && !create(ctx, d, &step).await? {
            anyhow::bail!(
                "creating table {}: it exists already, made since it was read (outside the \
                 deploy lease?); run `deployer up` again to take it as it is",
                d.name
            );
        }
        let billing = changes.iter().any(|c| matches!(c, TableChange::Billing(_)));
        let protection = changes
            .iter()
            .any(|c| matches!(c, TableChange::Protection(_)));
        if billing || protection {
            update(ctx, d, billing, protection, &step).await?;
        }
        let pitr = (created && d.point_in_time_recovery)
            || changes.iter().any(|c| matches!(c, TableChange::Pitr(_)));
        let retag = changes.iter().find_map(|c| match c {
            TableChange::Tags(u) => Some(u),
            _ => None,
        });
        // Point-in-time recovery and the tags do not wait on each other.
        let backups = async {
            match pitr {
                true => set_pitr(ctx, d, &step).await,
                false => Ok(()),
            }
        };
        let tagging = async {
            if let Some(update) = retag {
                tag(ctx, d, update, &step).await?;
            }
            match created || retag.is_some() {
                true => wait_tags_visible(ctx, d, &step).await,
                false => Ok(()),
            }
        };
        let (backups, tagging) = tokio::join!(backups, tagging);
        backups?;
        tagging?;
        // Setting PITR waited for ACTIVE already; otherwise a new or updated table is waited for.
        if !pitr && (created || billing || protection) {
            wait_active(ctx, &d.name, &step).await?;
        }
        step.done("");
        Ok(())
    }

    /// Deletes the table, turning deletion protection off first (and saying so); a retained
    /// table is only reported.
    async fn delete(ctx: Ctx<'_>, d: &Desired) -> anyhow::Result<Removed> {
        match unprotect(ctx, d).await? {
            Some(kept) => Ok(kept),
            None => delete_now(ctx, d).await,
        }
    }
}

/// The first half of deleting the table, which `down` runs beside the other deletions: what
/// becomes of it when it is not to be deleted (absent, someone else's, retained), or `None`
/// once it is ready to go, its deletion protection turned off (as `--delete-table` asks).
/// The table and its tags are read at once (its ARN is the stack's, [`Arns::table`]).
pub async fn unprotect(ctx: Ctx<'_>, d: &Desired) -> anyhow::Result<Option<Removed>> {
    let (name, db) = (&d.name, &ctx.clients.dynamodb);
    let described = db.describe_table().table_name(name).send();
    let (described, tagged) = tokio::join!(described, read_tags(ctx.clients, name, &d.arn));
    let Some(live) = described
        .found(|| format!("reading table {name}"))?
        .and_then(|t| t.table)
    else {
        return Ok(Some(Removed::Absent));
    };
    if !tags::ours(ctx.names, &tagged?) {
        return Ok(Some(Removed::NotOurs(name.clone())));
    }
    if d.retain {
        return Ok(Some(Removed::Retained(name.clone())));
    }
    if live.deletion_protection_enabled() == Some(true) {
        let step = ctx.progress.step(format!(
            "table {name}: turning deletion protection off, as --delete-table asks"
        ));
        let off = || {
            db.update_table()
                .table_name(name)
                .deletion_protection_enabled(false)
                .send()
        };
        let sent = match live.table_status() == Some(&TableStatus::Active) {
            true => retry_in_use(ctx, name, &step, off).await,
            false => send_when_active(ctx, name, &step, off).await,
        };
        sent.doing(|| format!("turning off deletion protection on table {name}"))?;
        step.done("");
    }
    Ok(None)
}

/// The second half: `DeleteTable`, sent at once and sent again while the table refuses it with
/// ResourceInUseException (it may be `UPDATING` right after its protection changed): no read
/// first, since a table that is `ACTIVE` takes it the first time.
pub async fn delete_now(ctx: Ctx<'_>, d: &Desired) -> anyhow::Result<Removed> {
    let name = &d.name;
    let step = ctx.progress.step(format!("deleting table {name}"));
    let db = &ctx.clients.dynamodb;
    let deleted = retry_in_use(ctx, name, &step, || {
        db.delete_table().table_name(name).send()
    })
    .await
    .found(|| format!("deleting table {name}"))?;
    step.done("");
    Ok(match deleted {
        Some(_) => Removed::Deleted(vec![name.clone()]),
        None => Removed::Absent,
    })
}

fn key_schema(table: &aws_sdk_dynamodb::types::TableDescription) -> Vec<String> {
    let types: std::collections::BTreeMap<&str, &str> = table
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name(), a.attribute_type().as_str()))
        .collect();
    table
        .key_schema()
        .iter()
        .map(|k| {
            let t = types.get(k.attribute_name()).copied().unwrap_or("?");
            format!("{}:{t}:{}", k.attribute_name(), k.key_type().as_str())
        })
        .collect()
}

async fn update(
    ctx: Ctx<'_>,
    d: &Desired,
    billing: bool,
    protection: bool,
    step: &Step,
) -> anyhow::Result<()> {
    let db = &ctx.clients.dynamodb;
    let billing = billing.then_some(BillingMode::PayPerRequest);
    let protection = protection.then_some(d.deletion_protection);
    send_when_active(ctx, &d.name, step, || {
        db.update_table()
            .table_name(&d.name)
            .set_billing_mode(billing.clone())
            .set_deletion_protection_enabled(protection)
            .send()
    })
    .await
    .doing(|| format!("updating table {}", d.name))?;
    Ok(())
}

async fn tag(ctx: Ctx<'_>, d: &Desired, update: &Update<Tags>, step: &Step) -> anyhow::Result<()> {
    let db = &ctx.clients.dynamodb;
    tags::apply(update, |missing| async move {
        let missing = dynamo_tags(&missing)?;
        send_when_active(ctx, &d.name, step, || {
            db.tag_resource()
                .resource_arn(&d.arn)
                .set_tags(Some(missing.clone()))
                .send()
        })
        .await
        .doing(|| format!("tagging table {}", d.name))?;
        Ok(())
    })
    .await
}

pub(super) fn dynamo_tags(tags: &Tags) -> anyhow::Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| Ok(Tag::builder().key(k).value(v).build()?))
        .collect()
}

/// The counter item's count, read consistently; `None` when the item does not exist. The
/// deployer's own credentials may read this one item (see [`crate::policy`]), never write it.
pub async fn count(clients: &Clients, names: &Names) -> anyhow::Result<Option<u64>> {
    let got = clients
        .dynamodb
        .get_item()
        .table_name(&names.table)
        .key(&names.key, AttributeValue::S(names.counter.clone()))
        .projection_expression("#count")
        .expression_attribute_names("#count", contract::COUNT)
        .consistent_read(true)
        .send()
        .await
        .doing(|| format!("reading the count of table {}", names.table))?;
    let Some(item) = got.item else {
        return Ok(None);
    };
    match item.get(contract::COUNT) {
        Some(AttributeValue::N(n)) => Ok(n.parse().ok()),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests;
