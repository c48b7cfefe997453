//! Broker health in DynamoDB: one item per broker, partition key `pk` = the broker's name
//! (`oanda`, `tradovate`, `coinbase`).
//!
//! Attributes are RFC 3339 UTC strings with millisecond precision, so they compare in time
//! order as strings: each write is conditional on moving its attribute forward, and an
//! executor that finishes late never overwrites a newer result of another.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use shared::health::{
    BrokerHealth, FailureKind, HealthError, HealthEvent, HealthStore, NotifyGate,
};
use shared::routing::Broker;

const PK: &str = "pk";

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    table: &str,
    what: &str,
    e: SdkError<E, R>,
) -> HealthError {
    let reason = crate::sdk_error_text(&e);
    HealthError(format!("{what} on table {table}: {reason}"))
}

/// `HealthStore` over one DynamoDB table (`HEALTH_TABLE`).
#[derive(Debug, Clone)]
pub struct DynamoHealthStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoHealthStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

impl HealthStore for DynamoHealthStore {
    async fn record(
        &self,
        broker: Broker,
        at: DateTime<Utc>,
        event: HealthEvent,
    ) -> Result<(), HealthError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(broker.as_str().to_owned()))
            .expression_attribute_values(":at", AttributeValue::S(stamp(at)));
        let update = match event {
            HealthEvent::Success => update
                .update_expression("SET last_success = :at")
                .condition_expression("attribute_not_exists(last_success) OR last_success < :at"),
            // Apart from the conversations' failures, as `BrokerHealth::apply` keeps it: a
            // token stored later must not clear an `unknown` order's failure too.
            HealthEvent::Failure(FailureKind::TokenRefresh) => update
                .update_expression("SET last_token_failure = :at")
                .condition_expression(
                    "attribute_not_exists(last_token_failure) OR last_token_failure < :at",
                ),
            HealthEvent::Failure(kind) => update
                .update_expression("SET last_failure = :at, last_failure_kind = :kind")
                .condition_expression("attribute_not_exists(last_failure) OR last_failure < :at")
                .expression_attribute_values(":kind", AttributeValue::S(kind.as_str().to_owned())),
            // The same expiry read again by a later run (a token still valid) moves
            // `token_refreshed_at` on: an earlier failed refresh stops counting once a run
            // finds a good token (`BrokerHealth::state`). With `<` alone it was refused, and
            // the status stayed degraded until the token was renewed, up to an hour later.
            HealthEvent::Token { expires_at } => update
                .update_expression("SET token_refreshed_at = :at, token_expires_at = :exp")
                .condition_expression(
                    "(attribute_not_exists(token_expires_at) OR token_expires_at <= :exp) \
                     AND (attribute_not_exists(token_refreshed_at) OR token_refreshed_at < :at)",
                )
                .expression_attribute_values(":exp", AttributeValue::S(stamp(expires_at))),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            // A newer record is already there: nothing to do.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(error(&self.table, "update", e)),
        }
    }

    async fn read(&self, broker: Broker) -> Result<BrokerHealth, HealthError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(broker.as_str().to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| error(&self.table, "read", e))?;
        let Some(item) = got.item else {
            return Ok(BrokerHealth::default());
        };
        let time = |name: &str| -> Result<Option<DateTime<Utc>>, HealthError> {
            match item.get(name) {
                None => Ok(None),
                Some(AttributeValue::S(s)) => DateTime::parse_from_rfc3339(s)
                    .map(|t| Some(t.with_timezone(&Utc)))
                    .map_err(|e| HealthError(format!("{name} of {broker} is not a time: {e}"))),
                Some(_) => Err(HealthError(format!("{name} of {broker} is not a string"))),
            }
        };
        let kind = match item.get("last_failure_kind") {
            Some(AttributeValue::S(s)) => Some(
                serde_json::from_value::<FailureKind>(serde_json::Value::String(s.clone()))
                    .map_err(|_| HealthError(format!("unknown failure kind {s:?} for {broker}")))?,
            ),
            _ => None,
        };
        Ok(BrokerHealth {
            last_success: time("last_success")?,
            last_failure: time("last_failure")?,
            last_failure_kind: kind,
            last_token_failure: time("last_token_failure")?,
            token_expires_at: time("token_expires_at")?,
            token_refreshed_at: time("token_refreshed_at")?,
        })
    }
}

/// Creates the health table (on demand, `pk` string key) unless it exists: for tests and the
/// local tooling; in AWS the CDK app owns it.
pub async fn create_health_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), HealthError> {
    crate::dynamodb::create_pk_table(client, name)
        .await
        .map_err(HealthError)
}

/// The mail rate limit on the broker's health item: `notified_at` (the last mail, RFC 3339)
/// and `held_back` (mails not sent since). Both updates are single conditional or atomic
/// `UpdateItem` calls, so concurrent executors agree on who mails. The grant also writes a
/// token of the call's own (`notified_by`), which its condition accepts: the SDK sends a
/// request again after a timeout or a 5xx, and the repeat of a grant that landed would
/// otherwise fail on its own write and hold the mail back
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html>).
impl NotifyGate for DynamoHealthStore {
    async fn admit(
        &self,
        broker: Broker,
        now: DateTime<Utc>,
        min_interval: chrono::Duration,
    ) -> Result<Option<u64>, HealthError> {
        let key = AttributeValue::S(broker.as_str().to_owned());
        let token = format!("{:032x}", rand::random::<u128>());
        let claimed = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, key.clone())
            .update_expression("SET notified_at = :now, held_back = :zero, notified_by = :token")
            .condition_expression(
                "attribute_not_exists(notified_at) OR notified_at <= :cutoff OR notified_by = :token",
            )
            .expression_attribute_values(":token", AttributeValue::S(token))
            .expression_attribute_values(":now", AttributeValue::S(stamp(now)))
            .expression_attribute_values(":cutoff", AttributeValue::S(stamp(now - min_interval)))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await;
        match claimed {
            Ok(out) => Ok(Some(
                out.attributes
                    .as_ref()
                    .and_then(|old| old.get("held_back"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
            )),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .key(PK, key)
                    .update_expression("ADD held_back :one")
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
                    .send()
                    .await
                    .map_err(|e| error(&self.table, "count a held-back mail", e))?;
                Ok(None)
            }
            Err(e) => Err(error(&self.table, "claim a mail", e)),
        }
    }
}
