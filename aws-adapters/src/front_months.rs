//! The front-month cache in DynamoDB: one item per futures root (`pk` = the root) with the
//! contract a market-data source named, when, and a TTL (`expires_at`, epoch seconds). The
//! table is small (one item per root), so the router reads it whole with a Scan. Beside them,
//! one item per continuous symbol the router resolved (`pk` = `routed#ES1!`): the latest
//! contract it traded and that contract's month index, moved only forward by a conditional
//! `UpdateItem` ([`FrontMonthCache::hold_forward`]).

use crate::dynamodb::{invalid, sdk_error};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeZone, Utc};
use shared::front_month::{BoxFuture, FrontMonth, FrontMonthCache, Routed};
use shared::ports::StoreError;

const PK: &str = "pk";
const CONTRACT: &str = "contract";
const AS_OF: &str = "as_of";
const EXPIRES_AT: &str = "expires_at";
const MONTH: &str = "month";
/// The `pk` prefix of a continuous symbol's item; a root never holds `#`.
const ROUTED: &str = "routed#";

#[derive(Debug, Clone)]
pub struct DynamoFrontMonths {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoFrontMonths {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn number(item: &std::collections::HashMap<String, AttributeValue>, key: &str) -> Option<i64> {
    item.get(key)?.as_n().ok()?.parse().ok()
}

impl FrontMonthCache for DynamoFrontMonths {
    fn put<'a>(
        &'a self,
        front: &'a FrontMonth,
        expires_at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.client
                .put_item()
                .table_name(&self.table)
                .item(PK, AttributeValue::S(front.root.clone()))
                .item(CONTRACT, AttributeValue::S(front.contract.clone()))
                .item(
                    AS_OF,
                    AttributeValue::N(front.as_of.timestamp_millis().to_string()),
                )
                .item(
                    EXPIRES_AT,
                    AttributeValue::N(expires_at.timestamp().to_string()),
                )
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_error("front month put", e))
        })
    }

    fn all(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<Vec<FrontMonth>, StoreError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let mut start = None;
            loop {
                let page = self
                    .client
                    .scan()
                    .table_name(&self.table)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| sdk_error("front month scan", e))?;
                for item in page.items() {
                    if item
                        .get(PK)
                        .and_then(|v| v.as_s().ok())
                        .is_some_and(|pk| pk.starts_with(ROUTED))
                    {
                        continue;
                    }
                    // TTL deletes lazily: an expired item may still be listed.
                    if number(item, EXPIRES_AT).is_some_and(|t| t <= now.timestamp()) {
                        continue;
                    }
                    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
                    let (Some(root), Some(contract), Some(as_of)) = (
                        text(PK),
                        text(CONTRACT),
                        number(item, AS_OF).and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
                    ) else {
                        // One bad item (a hand edit) is left out, named: failing the whole read
                        // left every root to the roll rule once the router's copy was stale.
                        tracing::warn!(
                            item = %text(PK).unwrap_or_else(|| "(no pk)".into()),
                            "front month item without a contract or an as_of time: left out"
                        );
                        continue;
                    };
                    out.push(FrontMonth {
                        root,
                        contract,
                        as_of,
                    });
                }
                match page.last_evaluated_key() {
                    Some(k) if !k.is_empty() => start = Some(k.clone()),
                    _ => return Ok(out),
                }
            }
        })
    }

    fn hold_forward<'a>(
        &'a self,
        symbol: &'a str,
        routed: Routed<'a>,
    ) -> BoxFuture<'a, Result<String, StoreError>> {
        Box::pin(async move {
            let written = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(PK, AttributeValue::S(format!("{ROUTED}{symbol}")))
                .update_expression(
                    "SET #contract = :contract, #month = :month, #expires = :expires",
                )
                // TTL deletes lazily: an expired item holds nothing.
                .condition_expression(
                    "attribute_not_exists(#month) OR #month <= :month OR #expires <= :now",
                )
                .expression_attribute_names("#contract", CONTRACT)
                .expression_attribute_names("#month", MONTH)
                .expression_attribute_names("#expires", EXPIRES_AT)
                .expression_attribute_values(":contract", AttributeValue::S(routed.contract.into()))
                .expression_attribute_values(":month", AttributeValue::N(routed.month.to_string()))
                .expression_attribute_values(
                    ":expires",
                    AttributeValue::N(routed.expires_at.timestamp().to_string()),
                )
                .expression_attribute_values(
                    ":now",
                    AttributeValue::N(routed.now.timestamp().to_string()),
                )
                // The later contract in the same round trip when the condition fails.
                .return_values_on_condition_check_failure(
                    aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            match written {
                Ok(_) => Ok(routed.contract.to_owned()),
                Err(e) => match e.as_service_error() {
                    Some(
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(
                            failed,
                        ),
                    ) => failed
                        .item()
                        .and_then(|old| old.get(CONTRACT))
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .ok_or_else(|| invalid("front month hold refused without the later contract")),
                    _ => Err(sdk_error("front month hold", e)),
                },
            }
        })
    }
}
