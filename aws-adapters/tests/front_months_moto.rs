//! The DynamoDB front-month cache against a real moto server (`MOTO_ENDPOINT`, exported by
//! `scripts/test.sh`): a write per root, a whole-table read, expired items left out.
#![allow(clippy::unwrap_used)]

use aws_adapters::dynamodb::create_table;
use aws_adapters::front_months::DynamoFrontMonths;
use chrono::{DateTime, Duration, Utc};
use shared::front_month::{FrontMonth, FrontMonthCache};
use test_kit::moto;

fn now() -> DateTime<Utc> {
    "2026-11-30T12:00:00Z".parse().unwrap()
}

#[tokio::test]
async fn front_months_round_trip_and_expired_ones_are_left_out() {
    let client = moto::dynamodb().await;
    let table = moto::table(&client, "front-months", create_table).await;
    let cache = DynamoFrontMonths::new(client, &table);
    let front = |root: &str, contract: &str| FrontMonth {
        root: root.into(),
        contract: contract.into(),
        as_of: now(),
    };
    cache
        .put(&front("ES", "ESZ6"), now() + Duration::days(3))
        .await
        .unwrap();
    // A later answer for the same root replaces the first.
    cache
        .put(&front("ES", "ESH7"), now() + Duration::days(3))
        .await
        .unwrap();
    cache
        .put(&front("NQ", "NQZ6"), now() - Duration::seconds(1))
        .await
        .unwrap();
    let all = cache.all(now()).await.unwrap();
    assert_eq!(all, vec![front("ES", "ESH7")], "NQ's answer has expired");
}
