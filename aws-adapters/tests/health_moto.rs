//! The DynamoDB health store against moto: records read back per broker, and a late writer
//! never moves a time backwards.
#![allow(clippy::unwrap_used)]

use aws_adapters::health::{DynamoHealthStore, create_health_table};
use chrono::{DateTime, Utc};
use shared::health::{FailureKind, HealthEvent, HealthState, HealthStore};
use shared::routing::Broker;
use test_kit::moto;

fn t(s: &str) -> DateTime<Utc> {
    format!("2026-11-23T14:{s}Z").parse().unwrap()
}

async fn store() -> DynamoHealthStore {
    let client = moto::dynamodb().await;
    let table = moto::table(&client, "health", create_health_table).await;
    // Creating it again leaves it as it is.
    create_health_table(&client, &table).await.unwrap();
    DynamoHealthStore::new(client, table)
}

#[tokio::test]
async fn events_read_back_per_broker_and_never_move_backwards() {
    let s = store().await;
    assert_eq!(
        s.read(Broker::Oanda).await.unwrap().state(t("00:00")),
        HealthState::Unknown
    );
    s.record(Broker::Oanda, t("01:00"), HealthEvent::Success)
        .await
        .unwrap();
    s.record(
        Broker::Oanda,
        t("02:00"),
        HealthEvent::Failure(FailureKind::Unknown),
    )
    .await
    .unwrap();
    // Finished later, started earlier: must not replace the newer success.
    s.record(Broker::Oanda, t("00:30"), HealthEvent::Success)
        .await
        .unwrap();
    let h = s.read(Broker::Oanda).await.unwrap();
    assert_eq!(h.last_success, Some(t("01:00")));
    assert_eq!(h.last_failure, Some(t("02:00")));
    assert_eq!(h.last_failure_kind, Some(FailureKind::Unknown));
    assert_eq!(h.state(t("03:00")), HealthState::Degraded);

    s.record(
        Broker::Tradovate,
        t("05:00"),
        HealthEvent::Token {
            expires_at: t("45:00"),
        },
    )
    .await
    .unwrap();
    let h = s.read(Broker::Tradovate).await.unwrap();
    assert_eq!(
        (h.token_refreshed_at, h.token_expires_at),
        (Some(t("05:00")), Some(t("45:00")))
    );
    assert_eq!(h.state(t("10:00")), HealthState::Ok);
    assert_eq!(h.state(t("45:00")), HealthState::Degraded);
    assert_eq!(s.read(Broker::Coinbase).await.unwrap(), Default::default());
}

/// A failed token refresh, then a run that finds the same token still valid (the same
/// expiry): the failure stops counting, as in the in-memory model. The store refused the
/// equal expiry, and the status stayed degraded until the token was renewed.
#[tokio::test]
async fn a_good_token_found_after_a_failed_refresh_clears_the_failure() {
    let s = store().await;
    let token = HealthEvent::Token {
        expires_at: t("59:00"),
    };
    s.record(Broker::Tradovate, t("01:00"), token)
        .await
        .unwrap();
    s.record(
        Broker::Tradovate,
        t("02:00"),
        HealthEvent::Failure(FailureKind::TokenRefresh),
    )
    .await
    .unwrap();
    assert_eq!(
        s.read(Broker::Tradovate).await.unwrap().state(t("03:00")),
        HealthState::Degraded
    );
    s.record(Broker::Tradovate, t("12:00"), token)
        .await
        .unwrap();
    let h = s.read(Broker::Tradovate).await.unwrap();
    assert_eq!(h.token_refreshed_at, Some(t("12:00")));
    assert_eq!(h.state(t("13:00")), HealthState::Ok);
    // A late writer still moves nothing backwards: an older expiry, or an earlier run.
    s.record(
        Broker::Tradovate,
        t("20:00"),
        HealthEvent::Token {
            expires_at: t("30:00"),
        },
    )
    .await
    .unwrap();
    s.record(Broker::Tradovate, t("11:00"), token)
        .await
        .unwrap();
    let h = s.read(Broker::Tradovate).await.unwrap();
    assert_eq!(
        (h.token_refreshed_at, h.token_expires_at),
        (Some(t("12:00")), Some(t("59:00")))
    );
}

/// An `unknown` order, then a failed and a successful token refresh: the refresh's token
/// clears the refresh's failure, kept in an attribute of its own, not the order's.
#[tokio::test]
async fn a_stored_token_does_not_clear_an_unknown_order() {
    let s = store().await;
    s.record(Broker::Tradovate, t("00:00"), HealthEvent::Success)
        .await
        .unwrap();
    s.record(
        Broker::Tradovate,
        t("01:00"),
        HealthEvent::Failure(FailureKind::Unknown),
    )
    .await
    .unwrap();
    s.record(
        Broker::Tradovate,
        t("02:00"),
        HealthEvent::Failure(FailureKind::TokenRefresh),
    )
    .await
    .unwrap();
    // A late writer of an older refresh failure moves nothing backwards.
    s.record(
        Broker::Tradovate,
        t("01:30"),
        HealthEvent::Failure(FailureKind::TokenRefresh),
    )
    .await
    .unwrap();
    s.record(
        Broker::Tradovate,
        t("03:00"),
        HealthEvent::Token {
            expires_at: t("59:00"),
        },
    )
    .await
    .unwrap();
    let h = s.read(Broker::Tradovate).await.unwrap();
    assert_eq!(
        (h.last_failure, h.last_failure_kind, h.last_token_failure),
        (
            Some(t("01:00")),
            Some(FailureKind::Unknown),
            Some(t("02:00"))
        )
    );
    assert_eq!(h.state(t("04:00")), HealthState::Degraded);
    s.record(Broker::Tradovate, t("05:00"), HealthEvent::Success)
        .await
        .unwrap();
    let h = s.read(Broker::Tradovate).await.unwrap();
    assert_eq!(h.state(t("06:00")), HealthState::Ok);
}

#[tokio::test]
async fn a_missing_table_is_an_error_naming_it() {
    let client = moto::dynamodb().await;
    let s = DynamoHealthStore::new(client, "no-such-health-table");
    let e = s.read(Broker::Oanda).await.unwrap_err();
    assert!(e.to_string().contains("no-such-health-table"), "{e}");
    let e = s
        .record(Broker::Oanda, t("01:00"), HealthEvent::Success)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no-such-health-table"), "{e}");
}

#[tokio::test]
async fn the_mail_gate_admits_one_per_interval_per_broker_and_counts_the_rest() {
    use shared::health::NotifyGate;
    let s = store().await;
    let every = chrono::Duration::minutes(15);
    assert_eq!(
        s.admit(Broker::Oanda, t("00:00"), every).await.unwrap(),
        Some(0)
    );
    assert_eq!(
        s.admit(Broker::Oanda, t("01:00"), every).await.unwrap(),
        None
    );
    assert_eq!(
        s.admit(Broker::Oanda, t("14:59"), every).await.unwrap(),
        None
    );
    // Another broker has its own interval.
    assert_eq!(
        s.admit(Broker::Coinbase, t("02:00"), every).await.unwrap(),
        Some(0)
    );
    // The gate lives on the health item and leaves the health fields alone.
    s.record(Broker::Oanda, t("03:00"), HealthEvent::Success)
        .await
        .unwrap();
    assert_eq!(
        s.admit(Broker::Oanda, t("15:00"), every).await.unwrap(),
        Some(2),
        "two held back since the last mail"
    );
    assert_eq!(
        s.admit(Broker::Oanda, t("16:00"), every).await.unwrap(),
        None
    );
    assert_eq!(
        s.read(Broker::Oanda).await.unwrap().last_success,
        Some(t("03:00"))
    );
}

/// The mail gate's grant whose answer is lost after it landed: the SDK sends the same request
/// again, which meets its own write. It is still the grant (the call's own token in the item),
/// not a mail held back for the interval, which would have kept the trader from hearing of the
/// failure at all.
#[tokio::test]
async fn a_grant_sent_again_after_its_answer_was_lost_is_still_the_grant() {
    use shared::health::NotifyGate;
    let direct = moto::dynamodb().await;
    let table = moto::table(&direct, "health", create_health_table).await;
    let (proxy, lost) = moto::losing_answers("DynamoDB_20120810.UpdateItem", 1);
    let config = aws_adapters::local_sdk_config(&proxy, test_kit::moto::REGION).await;
    let s = DynamoHealthStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    let every = chrono::Duration::minutes(15);
    assert_eq!(
        s.admit(Broker::Oanda, t("00:00"), every).await.unwrap(),
        Some(0)
    );
    // The grant's first answer was lost (else this shows only a plain first grant).
    assert_eq!(lost.load(std::sync::atomic::Ordering::SeqCst), 1);
    // The next within the interval is held back, as before.
    assert_eq!(
        s.admit(Broker::Oanda, t("01:00"), every).await.unwrap(),
        None
    );
}
