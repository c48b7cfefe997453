//! Token cache, lease lock and SSM token parameter against moto (`MOTO_ENDPOINT`).
#![allow(clippy::unwrap_used)]

use aws_adapters::local_sdk_config;
use aws_adapters::tokens::{DynamoLeaseLock, DynamoTokenStore, SsmTokenStore, create_token_table};
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use shared::ports::{LeaseLock, StoredToken, TokenStore};

fn endpoint() -> String {
    std::env::var("MOTO_ENDPOINT")
        .expect("MOTO_ENDPOINT is not set: run the suite with scripts/test.sh, which starts moto")
}

fn unique(name: &str) -> String {
    aws_adapters::unique_name(name)
}

fn t0() -> DateTime<Utc> {
    "2026-11-23T14:32:00Z".parse().unwrap()
}

#[tokio::test]
async fn token_round_trips_through_dynamodb_and_ssm() {
    let cfg = local_sdk_config(&endpoint(), "us-east-1").await;
    let table = unique("tokens");
    let ddb = aws_sdk_dynamodb::Client::new(&cfg);
    create_token_table(&ddb, &table).await.unwrap();
    let token = StoredToken {
        access_token: SecretString::from("tok-123"),
        expires_at: t0() + Duration::minutes(80),
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
        format!("/{}", unique("tradovate")),
    );
    assert!(ssm.load("tradovate").await.unwrap().is_none());
    ssm.save("tradovate", &token).await.unwrap();
    ssm.save("tradovate", &token).await.unwrap();
    let back = ssm.load("tradovate").await.unwrap().unwrap();
    assert_eq!(
        (back.access_token.expose_secret(), back.expires_at),
        ("tok-123", token.expires_at)
    );
}

#[tokio::test]
async fn lease_lock_has_one_holder_until_release_or_expiry() {
    let cfg = local_sdk_config(&endpoint(), "us-east-1").await;
    let table = unique("locks");
    let ddb = aws_sdk_dynamodb::Client::new(&cfg);
    create_token_table(&ddb, &table).await.unwrap();
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
