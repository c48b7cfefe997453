//! The front-month cache in DynamoDB: one item per futures root (`pk` = the root) with the
//! contract a market-data source named, when, and a TTL (`expires_at`, epoch seconds). The
//! table is small (one item per root), so the router reads it whole with a Scan.

use crate::dynamodb::{invalid, sdk_error};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeZone, Utc};
use shared::front_month::{BoxFuture, FrontMonth, FrontMonthCache};
use shared::ports::StoreError;

const PK: &str = "pk";
const CONTRACT: &str = "contract";
const AS_OF: &str = "as_of";
const EXPIRES_AT: &str = "expires_at";

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
                        return Err(invalid("front month item without root, contract or as_of"));
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
}
