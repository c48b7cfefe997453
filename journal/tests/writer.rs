//! The SQLite file journal's writer thread (`journal-writer`): which journals get one, that
//! it ends with its journal, and that a batch it writes fails whole. One test, so this
//! process holds no other journal while it counts the threads.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used)]

use journal::SqliteJournal;
use rust_decimal::Decimal;
use shared::execution::{
    ClientOrderId, Leg, OrderRecord, Side, SignalRecord, SignalStatus, StageTimes, TradeJournal,
};
use shared::outcome::Outcome;
use shared::routing::Broker;
use shared::signal::SignalId;
use std::time::Duration;
use test_kit::time::t0_micros;

/// Threads of this process named `journal-writer` (`/proc/self/task/*/comm`).
fn writer_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "journal-writer")
        .count()
}

/// Waits (up to 5 s) until `n` writer threads run; answers how many run then.
async fn writers_settle_at(n: usize) -> usize {
    for _ in 0..100 {
        if writer_threads() == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    writer_threads()
}

fn signal(id: &SignalId) -> SignalRecord {
    // Every test journals a signal: its log lines are captured for the suite's log audit.
    shared::telemetry::init_test_logs();
    SignalRecord {
        signal_id: id.clone(),
        raw: r#"{"action":"LONG_ENTRY"}"#.into(),
        normalized: serde_json::json!({"action": "LONG_ENTRY"}).into(),
        symbol: "EURUSD".into(),
        exchange: "OANDA".into(),
        action: "LONG_ENTRY".into(),
        broker: Some(Broker::Oanda),
        instrument: Some("EUR_USD".into()),
        contract_resolution: None,
        status: SignalStatus::Filled,
        reason: None,
        stages: StageTimes {
            received: Some(t0_micros()),
            ..StageTimes::default()
        },
    }
}

/// A filled open leg; `attempt` 0 breaks the `orders` table's `CHECK (attempt >= 1)`.
fn order(id: &SignalId, attempt: u32) -> OrderRecord {
    OrderRecord {
        signal_id: id.clone(),
        broker: Broker::Oanda,
        account: "101-004-1-001".into(),
        instrument: "EUR_USD".into(),
        leg: Leg::Open,
        attempt,
        client_order_id: ClientOrderId::new(id, Leg::Open),
        broker_order_id: Some("6368".into()),
        side: Side::Buy,
        quantity: Decimal::new(1000, 0),
        fill_price: Some(Decimal::new(11, 1)),
        outcome: Outcome::Filled,
        error: None,
        sent_at: Some(t0_micros()),
        acked_at: Some(t0_micros()),
        fee: None,
    }
}

/// Writes one execution and reads it back.
async fn round_trip(j: &SqliteJournal, tag: &str) {
    let id = SignalId::of_canonical(tag);
    j.record_execution(&signal(&id), &[order(&id, 1)])
        .await
        .unwrap_or_else(|e| panic!("{tag}: {}", e.reason));
    assert_eq!(j.orders(&id).await.unwrap().len(), 1, "{tag}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_journal_writes_from_its_own_thread_and_a_refused_write_fails_alone() {
    tokio::time::timeout(Duration::from_secs(60), run())
        .await
        .expect("the journal writes answered within a minute");
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(writer_threads(), 0);

    // Every in-memory form, and a file whose parameters a second connection would not
    // follow, writes through the pool: no writer thread, and what is written reads back.
    let unfollowed = format!(
        "sqlite://{}?cache=private",
        dir.path().join("c.sqlite").display()
    );
    let not_made = dir.path().join("m.sqlite");
    let memory_named = format!("sqlite:{}?mode=m%65mory", not_made.display());
    for url in [
        "sqlite::memory:",
        "sqlite:",
        "sqlite://",
        "sqlite:%3Amemory%3A",
        memory_named.as_str(),
        unfollowed.as_str(),
    ] {
        let j = SqliteJournal::connect(url).await.unwrap();
        round_trip(&j, url).await;
        // Time for a thread started at connect to have named itself.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(writer_threads(), 0, "{url}");
    }
    assert!(!not_made.exists());

    // A file, by its path or with `mode=rwc`: one writer thread each, ended with the journal.
    let path = dir.path().join("j.sqlite");
    let file = SqliteJournal::connect(path.to_str().unwrap())
        .await
        .unwrap();
    // A thread names itself once it runs (std sets the name from the new thread).
    assert_eq!(writers_settle_at(1).await, 1);
    round_trip(&file, "file").await;
    let rwc = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("r.sqlite").display()
    );
    let other = SqliteJournal::connect(&rwc).await.unwrap();
    assert_eq!(writers_settle_at(2).await, 2);
    round_trip(&other, "rwc").await;
    drop(other);
    assert_eq!(
        writers_settle_at(1).await,
        1,
        "a dropped journal's writer ends"
    );

    // A batch with one refused leg fails that caller only: the batch is rolled back and its
    // executions written again one at a time (it failed every caller in it, each of whose
    // records came back to meet it again). The write lock, held from another connection,
    // stops the writer in its first
    // transaction (a lone execution) while two more queue behind it: one good, one refused.
    let mut holder = rusqlite::Connection::open(&path).unwrap();
    let held = holder
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let write = |id: SignalId, attempt: u32| {
        let j = file.clone();
        tokio::spawn(async move {
            j.record_execution(&signal(&id), &[order(&id, attempt)])
                .await
        })
    };
    let first = SignalId::of_canonical("first");
    let good = SignalId::of_canonical("good");
    let bad = SignalId::of_canonical("bad");
    let first_write = write(first.clone(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let good_write = write(good.clone(), 1);
    let bad_write = write(bad.clone(), 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    held.commit().unwrap();
    first_write.await.unwrap().unwrap();
    good_write.await.unwrap().unwrap();
    let err = bad_write.await.unwrap().unwrap_err();
    assert!(
        err.reason.contains("CHECK constraint failed"),
        "{}",
        err.reason
    );
    assert!(file.signal(&first).await.unwrap().is_some());
    assert!(file.signal(&good).await.unwrap().is_some());
    assert!(file.signal(&bad).await.unwrap().is_none());
    // The writer goes on.
    let next = SignalId::of_canonical("next");
    file.record_execution(&signal(&next), &[order(&next, 1)])
        .await
        .unwrap();
    assert!(file.signal(&next).await.unwrap().is_some());
    drop(file);
    assert_eq!(
        writers_settle_at(0).await,
        0,
        "a dropped journal's writer ends"
    );
}
