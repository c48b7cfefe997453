//! Token cache, lease lock and SSM token parameter against moto (`MOTO_ENDPOINT`).
#![allow(clippy::unwrap_used)]

use aws_adapters::tokens::{DynamoLeaseLock, DynamoTokenStore, SsmTokenStore, create_token_table};
use chrono::Duration;
use secrecy::{ExposeSecret, SecretString};
use shared::ports::{LeaseLock, StoredToken, TokenStore};
use test_kit::moto::{self, sdk_config, unique_name};
use test_kit::time::t0;

#[tokio::test]
async fn token_round_trips_through_dynamodb_and_ssm() {
    let cfg = sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&cfg);
    let table = moto::table(&ddb, "tokens", create_token_table).await;
    let token = StoredToken {
        access_token: SecretString::from("tok-123"),
        expires_at: t0() + Duration::minutes(80),
        stopped_until: None,
    };
    let cache = DynamoTokenStore::new(ddb, &table);
    assert!(cache.load("tradovate").await.unwrap().is_none());
    cache.save("tradovate", &token).await.unwrap();
    let back = cache.load("tradovate").await.unwrap().unwrap();
    assert_eq!(
        (back.access_token.expose_secret(), back.expires_at),
        ("tok-123", token.expires_at)
    );

    let ssm = SsmTokenStore::new(
        aws_sdk_ssm::Client::new(&cfg),
        format!("/{}", unique_name("tradovate")),
    );
    assert!(ssm.load("tradovate").await.unwrap().is_none());
    ssm.save("tradovate", &token).await.unwrap();
    ssm.save("tradovate", &token).await.unwrap();
    let back = ssm.load("tradovate").await.unwrap().unwrap();
    assert_eq!(
        (back.access_token.expose_secret(), back.expires_at),
        ("tok-123", token.expires_at)
    );
    assert_eq!(back.stopped_until, None);

    stop_round_trips(&cache, &token).await;
    stop_round_trips(&ssm, &token).await;
}

/// A broker's stop stored beside the token comes back, to the millisecond; a token saved
/// after it without one has none.
async fn stop_round_trips(store: &impl TokenStore, token: &StoredToken) {
    let stopped = StoredToken {
        stopped_until: Some(t0() + Duration::milliseconds(3_600_123)),
        ..token.clone()
    };
    store.save("tradovate", &stopped).await.unwrap();
    let back = store.load("tradovate").await.unwrap().unwrap();
    assert_eq!(back.stopped_until, stopped.stopped_until);
    assert_eq!(back.expires_at, token.expires_at);
    store.save("tradovate", token).await.unwrap();
    let back = store.load("tradovate").await.unwrap().unwrap();
    assert_eq!(back.stopped_until, None);
}

#[tokio::test]
async fn lease_lock_has_one_holder_until_release_or_expiry() {
    let ddb = moto::dynamodb().await;
    let table = moto::table(&ddb, "locks", create_token_table).await;
    let lock = DynamoLeaseLock::new(ddb, &table);
    let until = t0() + Duration::seconds(30);
    assert!(lock.acquire("tradovate", "a", t0(), until).await.unwrap());
    assert!(!lock.acquire("tradovate", "b", t0(), until).await.unwrap());
    assert!(
        lock.acquire("tradovate", "a", t0(), until).await.unwrap(),
        "the holder may extend"
    );
    lock.release("tradovate", "b").await.unwrap();
    assert!(
        !lock.acquire("tradovate", "b", t0(), until).await.unwrap(),
        "b cannot release a's lock"
    );
    assert!(
        lock.acquire(
            "tradovate",
            "b",
            until + Duration::seconds(1),
            until + Duration::seconds(31)
        )
        .await
        .unwrap(),
        "expired lease"
    );
    lock.release("tradovate", "b").await.unwrap();
    assert!(lock.acquire("tradovate", "a", t0(), until).await.unwrap());
}
