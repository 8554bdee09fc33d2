//! The counter item in DynamoDB: one atomic increment, one read.
//!
//! `ADD` creates a missing item and a missing attribute as if they held 0, so the first visitor
//! needs no extra round trip and concurrent visitors never lose an increment.

use std::time::SystemTime;

use aws_sdk_dynamodb::config::interceptors::InterceptorContext;
use aws_sdk_dynamodb::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;

use crate::contract::{calls, COUNT, CREATED, LAST_UPDATED};
use crate::error::Error;

/// Which item to count, in which table.
#[derive(Debug, Clone)]
pub struct Item {
    pub table: String,
    /// The table's partition key attribute (the stack's `table.key`).
    pub key: String,
    pub id: String,
}

/// Adds one to the count and returns the new value, in a single `UpdateItem`
/// ([`calls::COUNT`]: the role may call nothing the contract does not name).
pub async fn increment(db: &Client, item: &Item) -> Result<u64, Error> {
    let now = now_rfc3339();
    let output = db
        .update_item()
        .table_name(&item.table)
        .key(&item.key, AttributeValue::S(item.id.clone()))
        .update_expression(
            "ADD #count :one SET #updated = :now, #created = if_not_exists(#created, :now)",
        )
        .expression_attribute_names("#count", COUNT)
        .expression_attribute_names("#updated", LAST_UPDATED)
        .expression_attribute_names("#created", CREATED)
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .expression_attribute_values(":now", AttributeValue::S(now))
        .return_values(ReturnValue::UpdatedNew)
        .customize()
        .config_override(
            aws_sdk_dynamodb::Config::builder().retry_classifier(RetryOnlyWhatWasNotApplied),
        )
        .send()
        .await
        .map_err(|e| Error::dynamodb(calls::COUNT, e))?;
    match output.attributes().and_then(|a| a.get(COUNT)) {
        Some(value) => count_of(value),
        None => Err(Error::BadItem(format!(
            "UpdateItem returned no {COUNT} attribute"
        ))),
    }
}

/// The errors with which DynamoDB refused a request before applying it: throttling. A retry of
/// those cannot count a visit twice.
const NOT_APPLIED: [&str; 3] = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
];

/// `ADD` is not idempotent, and UpdateItem takes no idempotency token. After a 500, a reset
/// connection or an attempt that timed out, DynamoDB may have applied the increment (its
/// documentation says so of InternalServerError), and a retry would count the visit twice. So
/// the increment is retried, by the SDK's standard strategy, only after throttling, which proves
/// nothing was applied; any other failure is a 500 for this visit, never a second count. The
/// read (`GetItem`) is idempotent and keeps the standard retries.
#[derive(Debug)]
struct RetryOnlyWhatWasNotApplied;

impl ClassifyRetry for RetryOnlyWhatWasNotApplied {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(error)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        let code = error
            .as_operation_error()
            .and_then(|e| e.downcast_ref::<UpdateItemError>())
            .and_then(|e| e.code());
        if code.is_some_and(|c| NOT_APPLIED.contains(&c)) {
            RetryAction::NoActionIndicated
        } else {
            RetryAction::RetryForbidden
        }
    }

    fn name(&self) -> &'static str {
        "retry the increment only when DynamoDB did not apply it"
    }
}

/// Proves the right to count without counting: the increment's own `UpdateItem`, under a
/// condition that cannot hold (the key both exists and does not), so DynamoDB checks the table,
/// the key and the caller's permission, then refuses with `ConditionalCheckFailedException` and
/// writes nothing. Any other answer is the reason a visit would fail.
pub async fn prove_increment(db: &Client, item: &Item) -> Result<(), Error> {
    let sent = db
        .update_item()
        .table_name(&item.table)
        .key(&item.key, AttributeValue::S(item.id.clone()))
        .update_expression("ADD #count :one")
        .condition_expression("attribute_exists(#key) AND attribute_not_exists(#key)")
        .expression_attribute_names("#count", COUNT)
        .expression_attribute_names("#key", &item.key)
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .send()
        .await;
    match sent {
        Err(e)
            if e.as_service_error()
                .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::dynamodb(calls::COUNT, e)),
        Ok(_) => Err(Error::BadItem(
            "the probe's UpdateItem was applied although its condition cannot hold".into(),
        )),
    }
}

/// Reads the count without writing: 0 when the item does not exist yet.
pub async fn read(db: &Client, item: &Item) -> Result<u64, Error> {
    let output = db
        .get_item()
        .table_name(&item.table)
        .key(&item.key, AttributeValue::S(item.id.clone()))
        .projection_expression("#count")
        .expression_attribute_names("#count", COUNT)
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::dynamodb(calls::READ, e))?;
    match output.item().and_then(|i| i.get(COUNT)) {
        Some(value) => count_of(value),
        None => Ok(0),
    }
}

fn count_of(value: &AttributeValue) -> Result<u64, Error> {
    match value {
        AttributeValue::N(n) => n
            .parse()
            .map_err(|_| Error::BadItem(format!("{COUNT} is not a whole number: {n:?}"))),
        other => Err(Error::BadItem(format!(
            "{COUNT} is not a number attribute: {other:?}"
        ))),
    }
}

fn now_rfc3339() -> String {
    DateTime::from(SystemTime::now())
        .fmt(Format::DateTime)
        .unwrap_or_default()
}
