//! The DynamoDB idempotency store against a real moto server (`MOTO_ENDPOINT`, exported by
//! `scripts/test.sh`): the lease protocol with times passed in (no sleeping), exactly one
//! winner among concurrent claims, independent keys, the stored item's layout, and the same
//! answers as `MemoryIdempotencyStore` for one scripted history. Every test makes its own
//! table, so tests share one server and run in parallel.
#![allow(clippy::unwrap_used)]

use aws_adapters::dynamodb::{DynamoIdempotencyStore, create_table, partition_key};
use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveStatus};
use chrono::Duration;
use shared::memory::MemoryIdempotencyStore;
use shared::outcome::Outcome;
use shared::ports::{Claim, IdempotencyKey, IdempotencyStore, InstrumentKey};
use shared::routing::Broker;
use shared::signal::SignalId;
use test_kit::moto::{self, unique_name};
use test_kit::time::t0;

/// A store over a fresh table, and the table's name.
async fn store() -> (DynamoIdempotencyStore, String) {
    let client = moto::dynamodb().await;
    let table = moto::table(&client, "idempotency", create_table).await;
    (DynamoIdempotencyStore::new(client, &table), table)
}

fn key_of(broker: Broker, account: &str, alert: &str) -> IdempotencyKey {
    IdempotencyKey {
        broker,
        account: account.into(),
        signal_id: SignalId::of_canonical(alert),
        signal_time: "2026-11-23T14:32:00Z".parse().unwrap(),
    }
}

fn key() -> IdempotencyKey {
    key_of(Broker::Oanda, "101-004-1-001", r#"{"alert":1}"#)
}

#[tokio::test]
async fn first_claim_acquires_and_a_live_lease_is_busy_with_the_stored_lease() {
    let (store, _) = store().await;
    let lease = t0() + Duration::seconds(60);
    assert_eq!(
        store.claim(&key(), t0(), lease).await.unwrap(),
        Claim::Acquired
    );
    assert_eq!(
        store.claim(&key(), t0(), lease).await.unwrap(),
        Claim::Busy { lease_until: lease }
    );
    // A later attempt asking for a longer lease still sees (and keeps) the holder's.
    let almost = lease - Duration::milliseconds(1);
    assert_eq!(
        store
            .claim(&key(), almost, almost + Duration::seconds(60))
            .await
            .unwrap(),
        Claim::Busy { lease_until: lease }
    );
}

#[tokio::test]
async fn an_ended_lease_is_taken_over_and_renewed() {
    let (store, _) = store().await;
    let lease = t0() + Duration::seconds(60);
    store.claim(&key(), t0(), lease).await.unwrap();
    // The lease ends at `lease_until` itself, as the port and the memory store say.
    let renewed = lease + Duration::seconds(60);
    assert_eq!(
        store.claim(&key(), lease, renewed).await.unwrap(),
        Claim::TakenOver
    );
    assert_eq!(
        store.claim(&key(), lease, renewed).await.unwrap(),
        Claim::Busy {
            lease_until: renewed
        },
        "the take-over renewed the lease"
    );
    let much_later = renewed + Duration::hours(5);
    assert_eq!(
        store
            .claim(&key(), much_later, much_later + Duration::seconds(60))
            .await
            .unwrap(),
        Claim::TakenOver
    );
}

#[tokio::test]
async fn a_completed_record_answers_every_later_claim_with_its_outcome() {
    let (store, _) = store().await;
    let lease = t0() + Duration::seconds(60);
    store.claim(&key(), t0(), lease).await.unwrap();
    store
        .complete(&key(), Outcome::Rejected, t0() + Duration::days(7))
        .await
        .unwrap();
    for now in [
        t0(),
        lease + Duration::seconds(1),
        t0() + Duration::days(400),
    ] {
        assert_eq!(
            store
                .claim(&key(), now, now + Duration::seconds(60))
                .await
                .unwrap(),
            Claim::Completed {
                outcome: Outcome::Rejected
            },
            "claim at {now}"
        );
    }
}

#[tokio::test]
async fn every_outcome_round_trips() {
    let (store, _) = store().await;
    let outcomes = [
        Outcome::Filled,
        Outcome::NoOp,
        Outcome::Rejected,
        Outcome::Refused,
        Outcome::Expired,
        Outcome::Unknown,
    ];
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let k = key_of(Broker::Coinbase, "portfolio", &format!("alert-{i}"));
        // Completing without a claim is allowed: the port does not require one.
        store.complete(&k, outcome, t0()).await.unwrap();
        assert_eq!(
            store.claim(&k, t0(), t0()).await.unwrap(),
            Claim::Completed { outcome }
        );
    }
}

#[tokio::test]
async fn release_frees_an_in_progress_record_but_keeps_a_completed_one() {
    let (store, _) = store().await;
    let lease = t0() + Duration::seconds(60);
    store.claim(&key(), t0(), lease).await.unwrap();
    store.release(&key(), lease).await.unwrap();
    assert_eq!(
        store.claim(&key(), t0(), lease).await.unwrap(),
        Claim::Acquired,
        "a released record is free at once, lease or not"
    );

    store
        .complete(&key(), Outcome::Filled, t0() + Duration::days(7))
        .await
        .unwrap();
    store.release(&key(), lease).await.unwrap();
    assert_eq!(
        store.claim(&key(), t0(), lease).await.unwrap(),
        Claim::Completed {
            outcome: Outcome::Filled
        }
    );

    let never_claimed = key_of(Broker::Oanda, "101-004-1-001", "never");
    store.release(&never_claimed, lease).await.unwrap();
}

/// An attempt that ran past its lease and then releases (it sent nothing) must not drop the
/// claim of the attempt that took over meanwhile, which may have sent orders: dropped, a
/// third attempt would claim it `Acquired` and send without looking those orders up.
#[tokio::test]
async fn a_stale_release_leaves_a_later_attempts_claim() {
    let (store, _) = store().await;
    let first = t0() + Duration::seconds(60);
    assert_eq!(
        store.claim(&key(), t0(), first).await.unwrap(),
        Claim::Acquired
    );
    let later = first + Duration::seconds(1);
    let second = later + Duration::seconds(60);
    assert_eq!(
        store.claim(&key(), later, second).await.unwrap(),
        Claim::TakenOver
    );
    store.release(&key(), first).await.unwrap();
    assert_eq!(
        store
            .claim(&key(), later, later + Duration::seconds(60))
            .await
            .unwrap(),
        Claim::Busy {
            lease_until: second
        },
        "the first attempt's release dropped the second's claim"
    );
    let past = second + Duration::seconds(1);
    assert_eq!(
        store
            .claim(&key(), past, past + Duration::seconds(60))
            .await
            .unwrap(),
        Claim::TakenOver,
        "after its lease, the record is taken over (reconciled), never acquired afresh"
    );
}

#[tokio::test]
async fn a_handed_over_lease_is_taken_over_at_once_and_a_completed_record_is_kept() {
    let (store, _) = store().await;
    let lease = t0() + Duration::seconds(60);
    store.claim(&key(), t0(), lease).await.unwrap();
    let failed_at = t0() + Duration::seconds(2);
    // Not this attempt's lease (another value): left alone, still busy.
    store
        .hand_over(&key(), lease + Duration::seconds(1), failed_at)
        .await
        .unwrap();
    assert_eq!(
        store.claim(&key(), failed_at, lease).await.unwrap(),
        Claim::Busy { lease_until: lease }
    );
    store.hand_over(&key(), lease, failed_at).await.unwrap();
    // A second later, well inside the original lease, and on a host whose clock runs 3 s
    // behind: the retry reconciles instead of waiting.
    let retry = failed_at + Duration::seconds(1) - Duration::seconds(3);
    let renewed = retry + Duration::seconds(60);
    assert_eq!(
        store.claim(&key(), retry, renewed).await.unwrap(),
        Claim::TakenOver
    );
    store
        .complete(&key(), Outcome::Filled, t0() + Duration::days(7))
        .await
        .unwrap();
    store.hand_over(&key(), renewed, retry).await.unwrap();
    assert_eq!(
        store.claim(&key(), retry, lease).await.unwrap(),
        Claim::Completed {
            outcome: Outcome::Filled
        }
    );
    // Never claimed: nothing to hand over, and no record is created.
    let never_claimed = key_of(Broker::Oanda, "101-004-1-001", "never");
    store.hand_over(&never_claimed, lease, retry).await.unwrap();
    assert_eq!(
        store.claim(&never_claimed, retry, lease).await.unwrap(),
        Claim::Acquired
    );
}

#[tokio::test]
async fn ten_concurrent_claims_have_exactly_one_winner() {
    let (store, _) = store().await;
    // Several rounds, because one lucky round proves little about a race.
    for round in 0..5 {
        let k = key_of(Broker::Tradovate, "DEMO123", &format!("race-{round}"));
        let lease = t0() + Duration::seconds(60);
        let mut claims = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let (store, k) = (store.clone(), k.clone());
            claims.spawn(async move { store.claim(&k, t0(), lease).await.unwrap() });
        }
        let claims = claims.join_all().await;
        let acquired = claims.iter().filter(|c| **c == Claim::Acquired).count();
        let busy = claims
            .iter()
            .filter(|c| **c == Claim::Busy { lease_until: lease })
            .count();
        assert_eq!((acquired, busy), (1, 9), "round {round}: {claims:?}");
    }
}

#[tokio::test]
async fn keys_differing_only_in_account_broker_or_signal_are_independent() {
    let (store, _) = store().await;
    let lease = t0() + Duration::seconds(60);
    let base = key();
    store.claim(&base, t0(), lease).await.unwrap();
    store
        .complete(&base, Outcome::Filled, t0() + Duration::days(7))
        .await
        .unwrap();
    let other_account = IdempotencyKey {
        account: "101-004-1-002".into(),
        ..base.clone()
    };
    let other_broker = IdempotencyKey {
        broker: Broker::Tradovate,
        ..base.clone()
    };
    let other_signal = IdempotencyKey {
        signal_id: SignalId::of_canonical("other"),
        ..base.clone()
    };
    for k in [&other_account, &other_broker, &other_signal] {
        assert_eq!(
            store.claim(k, t0(), lease).await.unwrap(),
            Claim::Acquired,
            "{k:?}"
        );
    }
    store.release(&other_account, lease).await.unwrap();
    assert_eq!(
        store.claim(&base, t0(), lease).await.unwrap(),
        Claim::Completed {
            outcome: Outcome::Filled
        }
    );
    assert_eq!(
        store.claim(&other_broker, t0(), lease).await.unwrap(),
        Claim::Busy { lease_until: lease }
    );
}

/// Operators and the CDK TTL setting read these attributes, so their names, types and units
/// are part of the contract.
#[tokio::test]
async fn items_have_the_documented_layout() {
    let (store, table) = store().await;
    let client = moto::dynamodb().await;
    let item = |k: IdempotencyKey| {
        let client = client.clone();
        let table = table.clone();
        async move {
            client
                .get_item()
                .table_name(table)
                .key("pk", AttributeValue::S(partition_key(&k)))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
                .unwrap()
        }
    };
    let k = key();
    assert_eq!(
        partition_key(&k),
        format!("oanda#101-004-1-001#{}", k.signal_id)
    );

    let lease = t0() + Duration::milliseconds(60_123);
    store.claim(&k, t0(), lease).await.unwrap();
    let held = item(k.clone()).await;
    assert_eq!(held["status"], AttributeValue::S("IN_PROGRESS".into()));
    assert_eq!(
        held["lease_until"],
        AttributeValue::N(lease.timestamp_millis().to_string())
    );
    let ttl: i64 = held["expires_at"].as_n().unwrap().parse().unwrap();
    assert!(
        ttl >= (lease + Duration::days(1)).timestamp(),
        "an abandoned record is kept well past its lease: {ttl}"
    );

    let expires = t0() + Duration::days(30);
    store.complete(&k, Outcome::NoOp, expires).await.unwrap();
    let done = item(k).await;
    assert_eq!(done["status"], AttributeValue::S("COMPLETED".into()));
    assert_eq!(done["outcome"], AttributeValue::S("no_op".into()));
    assert_eq!(
        done["expires_at"],
        AttributeValue::N(expires.timestamp().to_string())
    );
    assert!(!done.contains_key("lease_until"));
}

#[tokio::test]
async fn create_table_enables_ttl_and_can_run_again() {
    let client = moto::dynamodb().await;
    let table = unique_name("idempotency-create");
    create_table(&client, &table).await.unwrap();
    create_table(&client, &table).await.unwrap();
    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
}

#[tokio::test]
async fn a_missing_table_is_a_store_error_naming_the_service_error() {
    let client = moto::dynamodb().await;
    let store = DynamoIdempotencyStore::new(client, unique_name("no-such-table"));
    let err = store
        .claim(&key(), t0(), t0() + Duration::seconds(60))
        .await
        .unwrap_err();
    assert!(
        err.reason.starts_with("claim: ResourceNotFoundException"),
        "{err}"
    );
    assert!(store.release(&key(), t0()).await.is_err());
    assert!(store.complete(&key(), Outcome::Filled, t0()).await.is_err());
}

/// One history, replayed against both stores: the DynamoDB store must answer exactly as the
/// in-memory reference does, boundaries included.
#[tokio::test]
async fn answers_match_the_memory_store_for_a_scripted_history() {
    #[derive(Debug, Clone, Copy)]
    enum Op {
        Take { key: usize, now: i64, lease: i64 },
        Finish { key: usize, outcome: Outcome },
        Free { key: usize, lease: i64 },
    }
    let keys = [
        key(),
        key_of(Broker::Oanda, "101-004-1-002", r#"{"alert":1}"#),
        key_of(Broker::Coinbase, "101-004-1-001", r#"{"alert":1}"#),
    ];
    let at = |s: i64| t0() + Duration::seconds(s);
    use Op::*;
    let script = [
        Take {
            key: 0,
            now: 0,
            lease: 30,
        },
        Take {
            key: 1,
            now: 0,
            lease: 10,
        },
        Take {
            key: 0,
            now: 29,
            lease: 90,
        },
        Take {
            key: 0,
            now: 30,
            lease: 90,
        },
        Take {
            key: 0,
            now: 31,
            lease: 120,
        },
        // Another attempt's lease: left alone (still busy below).
        Free { key: 1, lease: 11 },
        Take {
            key: 1,
            now: 1,
            lease: 5,
        },
        Free { key: 1, lease: 10 },
        Take {
            key: 1,
            now: 1,
            lease: 5,
        },
        Take {
            key: 1,
            now: 5,
            lease: 50,
        },
        Finish {
            key: 1,
            outcome: Outcome::Unknown,
        },
        Take {
            key: 1,
            now: 500,
            lease: 600,
        },
        Free { key: 1, lease: 600 },
        Take {
            key: 1,
            now: 500,
            lease: 600,
        },
        Free { key: 2, lease: 0 },
        Take {
            key: 2,
            now: 0,
            lease: 0,
        },
        Take {
            key: 2,
            now: 0,
            lease: 10,
        },
        Finish {
            key: 0,
            outcome: Outcome::Expired,
        },
        Finish {
            key: 0,
            outcome: Outcome::Filled,
        },
        Take {
            key: 0,
            now: 9_999,
            lease: 10_000,
        },
    ];
    let (dynamo, _) = store().await;
    let memory = MemoryIdempotencyStore::default();
    for (step, op) in script.into_iter().enumerate() {
        match op {
            Take { key, now, lease } => {
                let (k, now, lease) = (&keys[key], at(now), at(lease));
                let want = memory.claim(k, now, lease).await.unwrap();
                let got = dynamo.claim(k, now, lease).await.unwrap();
                assert_eq!(got, want, "step {step}: {op:?}");
            }
            Finish { key, outcome } => {
                memory.complete(&keys[key], outcome, t0()).await.unwrap();
                dynamo.complete(&keys[key], outcome, t0()).await.unwrap();
            }
            Free { key, lease } => {
                memory.release(&keys[key], at(lease)).await.unwrap();
                dynamo.release(&keys[key], at(lease)).await.unwrap();
            }
        }
    }
}

/// The latest signal time per instrument, by conditional write: a later time advances it, an
/// equal one is not later, an older one is answered with the later time and changes nothing;
/// the same history gives the same answers as the memory store. Ten concurrent writes of
/// different times leave the latest of them.
#[tokio::test]
async fn the_latest_signal_time_per_instrument_only_moves_forward() {
    let (store, _) = store().await;
    let memory = MemoryIdempotencyStore::default();
    let gbp = InstrumentKey {
        broker: Broker::Oanda,
        account: "101-004-1-001".into(),
        instrument: "GBP_USD".into(),
    };
    let eur = InstrumentKey {
        instrument: "EUR_USD".into(),
        ..gbp.clone()
    };
    let s = |n: i64| t0() + Duration::seconds(n);
    let history = [
        (&gbp, s(10), None),
        (&gbp, s(7), Some(s(10))),
        (&gbp, s(10), None),
        (&eur, s(5), None),
        (&gbp, s(12), None),
        (&gbp, s(11), Some(s(12))),
    ];
    for (key, at, expected) in history {
        assert_eq!(store.advance(key, at).await.unwrap(), expected, "{at}");
        assert_eq!(memory.advance(key, at).await.unwrap(), expected, "{at}");
    }
    let racing = InstrumentKey {
        instrument: "USD_JPY".into(),
        ..gbp.clone()
    };
    let store = std::sync::Arc::new(store);
    let writes: Vec<_> = (0..10)
        .map(|i| {
            let (store, key) = (store.clone(), racing.clone());
            tokio::spawn(async move { store.advance(&key, s(i)).await.unwrap() })
        })
        .collect();
    for w in writes {
        w.await.unwrap();
    }
    assert_eq!(store.advance(&racing, s(8)).await.unwrap(), Some(s(9)));
}

/// The SDK sends a claim again when an attempt times out or its answer is lost, though its
/// write may have landed: the repeat (same call, same token) meets its own lease and is the
/// lease holder, reconciling first (`TakenOver`), where it was `Busy` and the signal waited
/// out its own lease and expired. Another call (another token) still finds the lease busy.
#[tokio::test]
async fn a_claim_sent_again_by_the_sdk_holds_its_own_lease() {
    let (store, _) = store().await;
    let lease = t0() + Duration::seconds(60);
    assert_eq!(
        store.claim_as(&key(), t0(), lease, "call-1").await.unwrap(),
        Claim::Acquired
    );
    assert_eq!(
        store.claim_as(&key(), t0(), lease, "call-1").await.unwrap(),
        Claim::TakenOver
    );
    assert_eq!(
        store.claim_as(&key(), t0(), lease, "call-2").await.unwrap(),
        Claim::Busy { lease_until: lease }
    );
    // Two claims through the port draw two tokens: the second is busy.
    let other = key_of(Broker::Oanda, "101-004-1-001", r#"{"alert":2}"#);
    assert_eq!(
        store.claim(&other, t0(), lease).await.unwrap(),
        Claim::Acquired
    );
    assert_eq!(
        store.claim(&other, t0(), lease).await.unwrap(),
        Claim::Busy { lease_until: lease }
    );
    // A completed record answers with its outcome, whatever the token.
    store
        .complete(&key(), Outcome::Filled, t0() + Duration::days(30))
        .await
        .unwrap();
    assert_eq!(
        store.claim_as(&key(), t0(), lease, "call-1").await.unwrap(),
        Claim::Completed {
            outcome: Outcome::Filled
        }
    );
}
