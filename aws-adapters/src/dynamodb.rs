//! The executors' idempotency record in DynamoDB: one item per (broker, account, signal),
//! partition key `pk` = `{broker}#{account}#{signal_id}`, taken with a conditional write so
//! that of any number of concurrent attempts exactly one wins.
//!
//! Item attributes: `status` (`IN_PROGRESS` | `COMPLETED`), `lease_until` (epoch millis, in
//! progress only), `outcome` (the serde name of [`Outcome`], completed only) and `expires_at`
//! (epoch seconds, the table's TTL attribute). Semantics match `MemoryIdempotencyStore`.

use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TimeToLiveSpecification,
    TimeToLiveStatus,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use shared::outcome::Outcome;
use shared::ports::{Claim, IdempotencyKey, IdempotencyStore, InstrumentKey, StoreError};
use std::collections::HashMap;

const PK: &str = "pk";
const STATUS: &str = "status";
const LEASE_UNTIL: &str = "lease_until";
const OUTCOME: &str = "outcome";
const EXPIRES_AT: &str = "expires_at";
const SIGNAL_TIME: &str = "signal_time";
/// A value drawn for each claim call and written with its lease: when the SDK sends the call
/// again (a timed-out attempt whose write had landed, a 5xx after the write), the repeat's
/// condition fails on the call's own write, which this tells apart from another's.
const CLAIM_TOKEN: &str = "claim_token";
/// How long an instrument's latest signal time is kept after it was written: long past any
/// staleness limit, short enough that an instrument no longer traded drops out.
const LATEST_TTL: Duration = Duration::days(90);
const IN_PROGRESS: &str = "IN_PROGRESS";
const COMPLETED: &str = "COMPLETED";

/// How long an in-progress record outlives its lease by default. If TTL removed an abandoned
/// record while its message could still come back (from the queue or, replayed, from the
/// dead-letter queue), the next claim would be `Acquired` instead of `TakenOver` and skip the
/// reconciliation with the broker. A message lives at most its queue's retention (14 days at
/// most) and then, moved to a FIFO dead-letter queue, that queue's retention again: SQS
/// resets a FIFO message's enqueue time when it moves it ("the enqueue timestamp of the
/// message is reset" for FIFO queues, Amazon SQS Developer Guide, "Using dead-letter queues").
/// 30 days outlives both at their longest.
pub const DEFAULT_IN_PROGRESS_TTL: Duration = Duration::days(30);

type Item = HashMap<String, AttributeValue>;

/// `IdempotencyStore` over one DynamoDB table (see [`create_table`]).
#[derive(Debug, Clone)]
pub struct DynamoIdempotencyStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    in_progress_ttl: Duration,
}

impl DynamoIdempotencyStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            in_progress_ttl: DEFAULT_IN_PROGRESS_TTL,
        }
    }

    /// Keeps in-progress records for `ttl` past their lease instead of
    /// [`DEFAULT_IN_PROGRESS_TTL`]; do not go below the queues' message retention.
    pub fn with_in_progress_ttl(mut self, ttl: Duration) -> Self {
        self.in_progress_ttl = ttl;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

/// The partition key. Brokers have no `#` and signal ids are hex, so an account containing
/// `#` still cannot make two keys collide.
pub fn partition_key(key: &IdempotencyKey) -> String {
    format!("{}#{}#{}", key.broker, key.account, key.signal_id)
}

fn pk(key: &IdempotencyKey) -> AttributeValue {
    AttributeValue::S(partition_key(key))
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub(crate) fn invalid(reason: impl Into<String>) -> StoreError {
    StoreError {
        reason: reason.into(),
    }
}

/// Keeps the reason to what the service said (code and message) or the transport failure;
/// the SDK's full debug output would drag in request ids and headers.
pub(crate) fn sdk_error<E, R>(what: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError {
        reason: format!("{what}: {}", crate::sdk_error_text(&err)),
    }
}

/// What a stored item says about the record, for a claim that lost the condition.
fn existing_claim(item: &Item) -> Result<Claim, StoreError> {
    let status = item.get(STATUS).and_then(|v| v.as_s().ok());
    match status.map(String::as_str) {
        Some(COMPLETED) => {
            let name = item
                .get(OUTCOME)
                .and_then(|v| v.as_s().ok())
                .ok_or_else(|| invalid("completed record has no outcome"))?;
            let outcome = Outcome::from_name(name)
                .ok_or_else(|| invalid(format!("completed record has unknown outcome {name:?}")))?;
            Ok(Claim::Completed { outcome })
        }
        Some(IN_PROGRESS) => {
            let lease_until = item
                .get(LEASE_UNTIL)
                .and_then(|v| v.as_n().ok())
                .and_then(|ms| ms.parse::<i64>().ok())
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
                .ok_or_else(|| invalid("in-progress record has no valid lease_until"))?;
            Ok(Claim::Busy { lease_until })
        }
        other => Err(invalid(format!("record has unknown status {other:?}"))),
    }
}

impl DynamoIdempotencyStore {
    /// [`IdempotencyStore::claim`] under `token`, which `claim` draws at random for each call:
    /// a condition that fails on an in-progress record carrying this very token met the
    /// call's own write, landed on an attempt the SDK then sent again (the attempt timed out,
    /// or the answer was lost), and is answered [`Claim::TakenOver`]: the lease is this
    /// call's, and whether the first attempt took over an earlier one is lost with its answer,
    /// so the executor reconciles by lookup before it sends, the safe side. (Answered
    /// `Busy`, the signal would wait out its own lease and expire.)
    ///
    /// # Errors
    /// [`StoreError`] when DynamoDB cannot be reached or answers with an error.
    pub async fn claim_as(
        &self,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        token: &str,
    ) -> Result<Claim, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, pk(key))
            .item(STATUS, s(IN_PROGRESS))
            .item(LEASE_UNTIL, n(lease_until.timestamp_millis()))
            .item(CLAIM_TOKEN, s(token))
            .item(
                EXPIRES_AT,
                n((lease_until + self.in_progress_ttl).timestamp()),
            )
            // `<=`, not `<`: the port (and the memory store) hand over a lease that ends
            // exactly at `now`.
            .condition_expression(
                "attribute_not_exists(pk) OR (#status = :in_progress AND #lease <= :now_ms)",
            )
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#lease", LEASE_UNTIL)
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":now_ms", n(now.timestamp_millis()))
            // The old item tells a take-over from a first claim in the same round trip.
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match put {
            Ok(out) if out.attributes().is_some_and(|old| !old.is_empty()) => Ok(Claim::TakenOver),
            Ok(_) => Ok(Claim::Acquired),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(
                    failed,
                )) => match failed.item() {
                    Some(old)
                        if old.get(STATUS).and_then(|v| v.as_s().ok()).map(String::as_str)
                            == Some(IN_PROGRESS)
                            && old.get(CLAIM_TOKEN).and_then(|v| v.as_s().ok()).map(String::as_str)
                                == Some(token) =>
                    {
                        Ok(Claim::TakenOver)
                    }
                    Some(old) => existing_claim(old),
                    // The condition can only fail on an existing item, so this is a
                    // service fault; the caller retries the message later.
                    None => Err(invalid("claim refused without the existing record")),
                },
                _ => Err(sdk_error("claim", e)),
            },
        }
    }
}

impl IdempotencyStore for DynamoIdempotencyStore {
    async fn claim(
        &self,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        // 128 random bits: no two calls, in any container, draw the same.
        let token = format!("{:032x}", rand::random::<u128>());
        self.claim_as(key, now, lease_until, &token).await
    }

    async fn complete(
        &self,
        key: &IdempotencyKey,
        outcome: Outcome,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Unconditional, like the memory store: whoever finishes the work records it, even if
        // its lease ran out meanwhile, because the outcome is a fact about the broker.
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, pk(key))
            .item(STATUS, s(COMPLETED))
            .item(OUTCOME, AttributeValue::S(outcome.as_str().into()))
            .item(EXPIRES_AT, n(expires_at.timestamp()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("complete", e))
    }

    async fn advance(
        &self,
        key: &InstrumentKey,
        signal_time: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        // One item per instrument in the same table, beside the idempotency records. The key
        // starts with the broker, as the executors' IAM policy requires of every key
        // (`dynamodb:LeadingKeys`), and cannot collide with an idempotency record's (whose
        // third part is a 32-hex SignalId, never an instrument under `latest`).
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(
                PK,
                s(&format!(
                    "{}#latest#{}#{}",
                    key.broker, key.account, key.instrument
                )),
            )
            .item(SIGNAL_TIME, n(signal_time.timestamp_millis()))
            .item(EXPIRES_AT, n((signal_time + LATEST_TTL).timestamp()))
            .condition_expression("attribute_not_exists(pk) OR #t <= :t")
            .expression_attribute_names("#t", SIGNAL_TIME)
            .expression_attribute_values(":t", n(signal_time.timestamp_millis()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match put {
            Ok(_) => Ok(None),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(
                    failed,
                )) => failed
                    .item()
                    .and_then(|old| old.get(SIGNAL_TIME))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|ms| ms.parse::<i64>().ok())
                    .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
                    .map(Some)
                    .ok_or_else(|| invalid("a later signal is recorded without its time")),
                _ => Err(sdk_error("advance", e)),
            },
        }
    }

    async fn release(
        &self,
        key: &IdempotencyKey,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, pk(key))
            // Only this attempt's own claim, as `hand_over`: a later attempt's may cover
            // orders that attempt sent.
            .condition_expression("#status = :in_progress AND #lease = :mine_ms")
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#lease", LEASE_UNTIL)
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":mine_ms", n(lease_until.timestamp_millis()))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            // Completed (must be kept), already gone, or another attempt's claim: nothing of
            // this attempt's to release.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_error("release", e)),
        }
    }

    async fn hand_over(
        &self,
        key: &IdempotencyKey,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, pk(key))
            .update_expression("SET #lease = :ended_ms")
            // Only this attempt's own lease: a later attempt's is left alone.
            .condition_expression("#status = :in_progress AND #lease = :mine_ms")
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#lease", LEASE_UNTIL)
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":mine_ms", n(lease_until.timestamp_millis()))
            .expression_attribute_values(
                ":ended_ms",
                n((now - shared::ports::HAND_OVER_SKEW).timestamp_millis()),
            )
            .send()
            .await;
        match updated {
            Ok(_) => Ok(()),
            // Completed, gone, or another attempt's lease: nothing to hand over.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_error("hand over", e)),
        }
    }
}

/// Creates the idempotency table (on demand, `pk` string key, TTL on `expires_at`) unless it
/// exists, and enables TTL if it is off: for tests and the local tooling; in AWS the CDK app
/// owns the table.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), StoreError> {
    create_pk_table(client, name).await.map_err(invalid)?;
    // TTL cannot be set while the table is still being created.
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(std::time::Duration::from_secs(120))
        .await
        .map_err(|e| invalid(format!("create table: {}", DisplayErrorContext(e))))?;

    let ttl = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| sdk_error("describe TTL", e))?;
    let status = ttl
        .time_to_live_description()
        .and_then(|d| d.time_to_live_status());
    // Asking to enable TTL again is an error, not a no-op.
    if matches!(
        status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    ) {
        return Ok(());
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(EXPIRES_AT)
                .enabled(true)
                .build()
                .map_err(|e| invalid(format!("TTL specification: {e}")))?,
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sdk_error("enable TTL", e))
}

/// Creates an on-demand table keyed by the string attribute `pk` unless it exists: the one
/// shape of every table here (idempotency, token cache, health). The error names the table.
pub(crate) async fn create_pk_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), String> {
    let definition = |e: aws_sdk_dynamodb::error::BuildError| format!("table definition: {e}");
    let made = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(PK)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(definition)?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(PK)
                .key_type(KeyType::Hash)
                .build()
                .map_err(definition)?,
        )
        .send()
        .await;
    match made {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(format!("create table {name}: {}", DisplayErrorContext(e))),
    }
}
