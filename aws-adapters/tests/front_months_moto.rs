//! The DynamoDB front-month cache against a real moto server (`MOTO_ENDPOINT`, exported by
//! `scripts/test.sh`): a write per root, a whole-table read, expired items left out.
#![allow(clippy::unwrap_used)]

use aws_adapters::dynamodb::create_table;
use aws_adapters::front_months::DynamoFrontMonths;
use aws_sdk_dynamodb::types::AttributeValue;
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
    let raw = client.clone();
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
    // An item without its `as_of` (a hand edit) is left out, not the whole read refused.
    raw.put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("CL".into()))
        .item("contract", AttributeValue::S("CLF7".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(cache.all(now()).await.unwrap(), vec![front("ES", "ESH7")]);
}

/// A continuous symbol's contract moves only forward: one conditional `UpdateItem`, whose
/// refusal returns the later contract already written. Its items are not front months, and
/// an expired one holds nothing.
#[tokio::test]
async fn a_held_contract_moves_only_forward_and_is_not_a_front_month() {
    use shared::front_month::Routed;
    use shared::routing::contract_month_index;
    let client = moto::dynamodb().await;
    let table = moto::table(&client, "front-months-held", create_table).await;
    let cache = DynamoFrontMonths::new(client, &table);
    let hold = |contract: &'static str, at: DateTime<Utc>| Routed {
        contract,
        month: contract_month_index(contract, at).unwrap(),
        now: at,
        expires_at: at + Duration::days(2),
    };
    assert_eq!(
        cache
            .hold_forward("ES1!", hold("ESZ6", now()))
            .await
            .unwrap(),
        "ESZ6"
    );
    assert_eq!(
        cache
            .hold_forward("ES1!", hold("ESH7", now()))
            .await
            .unwrap(),
        "ESH7"
    );
    assert_eq!(
        cache
            .hold_forward("ES1!", hold("ESZ6", now()))
            .await
            .unwrap(),
        "ESH7",
        "never back to December"
    );
    assert_eq!(
        cache
            .hold_forward("ES1!", hold("ESH7", now()))
            .await
            .unwrap(),
        "ESH7"
    );
    // Another symbol has its own.
    assert_eq!(
        cache
            .hold_forward("NQ1!", hold("NQZ6", now()))
            .await
            .unwrap(),
        "NQZ6"
    );
    // Not front months: the scan leaves them out.
    assert_eq!(cache.all(now()).await.unwrap(), Vec::new());
    // Expired (the TTL deletes lazily): the hold is gone.
    let later = now() + Duration::days(3);
    assert_eq!(
        cache
            .hold_forward("ES1!", hold("ESZ6", later))
            .await
            .unwrap(),
        "ESZ6"
    );
}

#[test]
fn month_indexes_order_contracts_across_a_year_end() {
    use shared::routing::contract_month_index;
    let z6 = contract_month_index("ESZ6", now()).unwrap();
    let h7 = contract_month_index("ESH7", now()).unwrap();
    assert_eq!(h7 - z6, 3);
    assert_eq!(z6, 2026 * 12 + 11);
    assert_eq!(contract_month_index("ES1!", now()), None);
}
