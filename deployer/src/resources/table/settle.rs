//! Waiting for DynamoDB to settle: a table CREATING or UPDATING refuses changes until it is
//! ACTIVE; point-in-time recovery is refused for a while after CreateTable, then `ENABLING`; new
//! tags show in ListTagsOfResource only after a few seconds. Each wait is bounded and shown.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{PointInTimeRecoverySpecification, TableStatus};
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{Desired, Observed};
use crate::aws::{AwsContext, Clients};
use crate::progress::Step;
use crate::resources::tags::{self, Tags};
use crate::resources::Ctx;
use crate::wait::{self, Attempt};

/// Sends a change to the table, first waiting for it to be ACTIVE, and again while DynamoDB
/// answers ResourceInUseException: a table that is CREATING or UPDATING refuses UpdateTable,
/// TagResource and DeleteTable until it settles (DynamoDB API reference, UpdateTable).
pub async fn send_when_active<T, E, F, Fut>(
    ctx: Ctx<'_>,
    name: &str,
    step: &Step,
    send: F,
) -> Result<T, SdkError<E, HttpResponse>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata,
{
    // A failed wait is not fatal here: the send below is refused, and says why, if it matters.
    let _ = wait_active(ctx, name, step).await;
    retry_in_use(ctx, name, step, send).await
}

/// [`send_when_active`] for a table just seen `ACTIVE`: no wait first.
pub async fn retry_in_use<T, E, F, Fut>(
    ctx: Ctx<'_>,
    name: &str,
    step: &Step,
    send: F,
) -> Result<T, SdkError<E, HttpResponse>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata,
{
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
pub async fn set_pitr(ctx: Ctx<'_>, d: &Desired, step: &Step) -> anyhow::Result<()> {
    let name = &d.name;
    let db = &ctx.clients.dynamodb;
    let spec = &PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(d.point_in_time_recovery)
        .build()?;
    let _ = wait_active(ctx, name, step).await;
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
    let what = format!("point-in-time recovery of table {name} to be {want}");
    wait::until(&what, ctx.waits.pitr, step, || async {
        Ok((pitr_status(ctx.clients, name).await? == want).then_some(()))
    })
    .await
}

/// `ENABLED`, `DISABLED`, or a passing status such as `ENABLING`.
pub async fn pitr_status(clients: &Clients, name: &str) -> anyhow::Result<String> {
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

/// Waits until ListTagsOfResource shows the stack's tags, so that a `diff` right after `up`
/// does not read the new table as untagged (DynamoDB API reference, TagResource: "ListTagsOfResource
/// API will only reflect the changes after a few seconds").
pub async fn wait_tags_visible(ctx: Ctx<'_>, d: &Desired, step: &Step) -> anyhow::Result<()> {
    let what = format!("the tags of table {} to be visible", d.name);
    wait::until(&what, ctx.waits.visible, step, || async {
        let live = read_tags(ctx.clients, &d.name, &d.arn).await?;
        Ok(tags::missing(&d.tags, &live).is_empty().then_some(()))
    })
    .await
}

/// How long after CreateTable its tags may still be missing from ListTagsOfResource ("only
/// after a few seconds", DynamoDB API reference, TagResource), with room to spare.
pub const NEW_TABLE_TAGS: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn read_tags(clients: &Clients, name: &str, arn: &str) -> anyhow::Result<Tags> {
    let mut tags = Tags::new();
    let mut token = None;
    // The SDK has no paginator for ListTagsOfResource: its token is not modelled as one.
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

pub async fn wait_active(ctx: Ctx<'_>, name: &str, step: &Step) -> anyhow::Result<()> {
    let what = format!("table {name} to be ACTIVE");
    wait::until(&what, ctx.waits.table_active, step, || async {
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
    })
    .await
}

/// Reads the tags of a table made moments ago again, while it lists none (for at most
/// [`NEW_TABLE_TAGS`] after its creation): a run killed right after CreateTable leaves a
/// table whose tags DynamoDB does not list yet, and read at once it would pass for one made by
/// hand, which `up` refuses without `--adopt`. A table of another age is left as read.
pub async fn settle_new(clients: &Clients, name: &str, o: &mut Observed) -> anyhow::Result<()> {
    let interval = std::time::Duration::from_millis(250);
    loop {
        let age = o.created.and_then(|c| c.elapsed().ok());
        match age {
            Some(age) if o.tags.is_empty() && age < NEW_TABLE_TAGS => {
                tokio::time::sleep(interval.min(NEW_TABLE_TAGS - age)).await;
                o.tags = read_tags(clients, name, &o.arn).await?;
            }
            _ => return Ok(()),
        }
    }
}
