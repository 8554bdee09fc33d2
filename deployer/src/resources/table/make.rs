//! Making the table: CreateTable sent once, and, from empty, the table made first as the home
//! of the deploy lease.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata as _;
use function::contract;

use super::{dynamo_tags, Desired, TableChange};
use crate::aws::Found;
use crate::progress::Step;
use crate::resources::Ctx;
use crate::wait::{self, CreateError};

/// What making the table for the deploy lease came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Home {
    /// This run made it: no deploy can have held a lease in it before.
    Made,
    /// It existed (another deploy made it a moment ago, or it was being created).
    Found,
    /// It was being deleted (a `down --delete-table`), and is gone now: make it again.
    Gone,
}

/// Makes the table before anything else, as the home of the deploy lease, and waits for it to
/// be ACTIVE (items can be written only then). CreateTable is its own arbiter: a table name is
/// unique in an account and region, and a second CreateTable answers ResourceInUseException,
/// so of several deploys from empty exactly one makes it.
pub async fn make_home(ctx: Ctx<'_>, d: &Desired) -> anyhow::Result<Home> {
    let step = ctx.step(true, "table", &d.name);
    step.waiting("the home of the deploy lease: made first");
    let made = create(ctx, d, &step).await?;
    let what = format!("table {} to be ACTIVE", d.name);
    let status = wait::until(&what, ctx.waits.table_active, &step, || async {
        let out = ctx
            .clients
            .dynamodb
            .describe_table()
            .table_name(&d.name)
            .send();
        let found = out.await.found(|| format!("reading table {}", d.name))?;
        let status = found.and_then(|o| o.table).and_then(|t| t.table_status);
        Ok(match status {
            Some(TableStatus::Active) => Some(Home::Found),
            None => Some(Home::Gone),
            // CREATING, UPDATING, or DELETING (on its way to gone).
            Some(_) => None,
        })
    })
    .await?;
    step.done(if made { "made" } else { "found" });
    Ok(match (made, status) {
        (_, Home::Gone) => Home::Gone,
        (true, _) => Home::Made,
        (false, _) => Home::Found,
    })
}

/// Marks the plan's creation as done by [`make_home`]: the rest of it (point-in-time recovery,
/// the tags' visibility) is still to do.
pub fn mark_made(changes: &mut [TableChange]) {
    for change in changes {
        if let TableChange::Create { made, .. } = change {
            *made = true;
        }
    }
}

/// Whether the plan's creation was done already, by [`make_home`].
pub(super) fn made_first(changes: &[TableChange]) -> bool {
    changes
        .iter()
        .any(|c| matches!(c, TableChange::Create { made: true, .. }))
}

/// Sends CreateTable once; `false` when the table exists already.
pub(super) async fn create(ctx: Ctx<'_>, d: &Desired, step: &Step) -> anyhow::Result<bool> {
    let db = &ctx.clients.dynamodb;
    let name = &d.name;
    let attribute = AttributeDefinition::builder()
        .attribute_name(&d.key)
        .attribute_type(ScalarAttributeType::from(contract::KEY_TYPE))
        .build()?;
    let key = KeySchemaElement::builder()
        .attribute_name(&d.key)
        .key_type(KeyType::Hash)
        .build()?;
    let tags = dynamo_tags(&d.tags)?;
    let send = || async {
        let sent = db
            .create_table()
            .table_name(name)
            .attribute_definitions(attribute.clone())
            .key_schema(key.clone())
            .billing_mode(BillingMode::PayPerRequest)
            .deletion_protection_enabled(d.deletion_protection)
            .set_tags(Some(tags.clone()))
            .customize()
            .config_override(crate::single_attempt!(aws_sdk_dynamodb))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ResourceInUseException") => Ok(false),
            Err(e) => Err(CreateError::of(&format!("creating table {name}"), e)),
        }
    };
    let look = || async {
        let found = db.describe_table().table_name(name).send().await;
        Ok(found.ok().map(|_| true))
    };
    let what = format!("creating table {name}");
    wait::create_once(&what, ctx.waits.create, step, send, look).await
}
