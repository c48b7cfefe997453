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
        access_token: SecretString::from("tok-123-moto-never-logged"),
        expires_at: t0() + Duration::minutes(80),
        owner: Some("0123456789abcdef0123456789abcdef".into()),
        stopped_until: None,
    };
    let cache = DynamoTokenStore::new(ddb, &table);
    assert!(cache.load("tradovate").await.unwrap().is_none());
    cache.save("tradovate", &token).await.unwrap();
    let back = cache.load("tradovate").await.unwrap().unwrap();
    assert_eq!(
        (back.access_token.expose_secret(), back.expires_at),
        ("tok-123-moto-never-logged", token.expires_at)
    );
    assert_eq!(back.owner, token.owner);
    // A token of no known owner clears the stored one.
    let unowned = StoredToken {
        owner: None,
        ..token.clone()
    };
    cache.save("tradovate", &unowned).await.unwrap();
    assert_eq!(cache.load("tradovate").await.unwrap().unwrap().owner, None);
    cache.save("tradovate", &token).await.unwrap();

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
        ("tok-123-moto-never-logged", token.expires_at)
    );
    assert_eq!(back.owner, token.owner);
    assert_eq!(back.stopped_until, None);
    // The SSM copy keeps no stop.
    ssm.save_stop("tradovate", t0()).await.unwrap();
    assert_eq!(ssm.load_stop("tradovate").await.unwrap(), None);

    // A stop in the DynamoDB item: kept by a later token write, never moved earlier, and
    // stored with no token at all.
    let until = t0() + Duration::milliseconds(3_600_123);
    cache.save_stop("tradovate", until).await.unwrap();
    cache.save("tradovate", &token).await.unwrap();
    let back = cache.load("tradovate").await.unwrap().unwrap();
    assert_eq!(
        (back.access_token.expose_secret(), back.stopped_until),
        ("tok-123-moto-never-logged", Some(until))
    );
    cache
        .save_stop("tradovate", until - Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(cache.load_stop("tradovate").await.unwrap(), Some(until));
    let later = until + Duration::minutes(5);
    cache.save_stop("tradovate", later).await.unwrap();
    assert_eq!(cache.load_stop("tradovate").await.unwrap(), Some(later));
    // One far ahead (a hand edit, a clock far off) is overwritten by a real one.
    cache
        .save_stop("tradovate", later + Duration::hours(10))
        .await
        .unwrap();
    cache.save_stop("tradovate", later).await.unwrap();
    assert_eq!(cache.load_stop("tradovate").await.unwrap(), Some(later));
    cache.save_stop("other", until).await.unwrap();
    assert!(cache.load("other").await.unwrap().is_none());
    assert_eq!(cache.load_stop("other").await.unwrap(), Some(until));
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
