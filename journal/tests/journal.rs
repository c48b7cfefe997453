//! One body of journal tests run against SQLite (a temp file and in memory) and a real
//! PostgreSQL (`JOURNAL_TEST_PG_URL`, a throwaway cluster `scripts/test.sh` starts).
#![allow(clippy::unwrap_used)]

use chrono::Duration;
use journal::{AnyJournal, PgJournal, SqliteJournal};
use rust_decimal::Decimal;
use shared::clock::Clock as _;
use shared::execution::{
    ClientOrderId, Leg, OrderRecord, Side, SignalRecord, SignalStatus, StageTimes, TradeJournal,
};
use shared::outcome::Outcome;
use shared::replay::{AuditLog, ReplayAudit};
use shared::routing::Broker;
use shared::signal::SignalId;
use std::str::FromStr;
use test_kit::time::t0_micros;

fn signal(id: &SignalId, status: SignalStatus, stages: StageTimes) -> SignalRecord {
    // Every test journals a signal: its log lines are captured for the suite's log audit.
    shared::telemetry::init_test_logs();
    SignalRecord {
        signal_id: id.clone(),
        raw: r#"{"action":"LONG_ENTRY"}"#.into(),
        normalized: serde_json::json!({"action": "LONG_ENTRY", "symbol": "EURUSD"}).into(),
        symbol: "EURUSD".into(),
        exchange: "OANDA".into(),
        action: "LONG_ENTRY".into(),
        broker: Some(Broker::Oanda),
        instrument: Some("EUR_USD".into()),
        contract_resolution: None,
        status,
        reason: None,
        stages,
    }
}

fn order(id: &SignalId, leg: Leg, qty: &str, price: Option<&str>, outcome: Outcome) -> OrderRecord {
    OrderRecord {
        signal_id: id.clone(),
        broker: Broker::Oanda,
        account: "101-004-1-001".into(),
        instrument: "EUR_USD".into(),
        leg,
        attempt: 1,
        client_order_id: ClientOrderId::new(id, leg),
        broker_order_id: Some("6368".into()),
        side: Side::Buy,
        quantity: Decimal::from_str(qty).unwrap(),
        fill_price: price.map(|p| Decimal::from_str(p).unwrap()),
        outcome,
        error: None,
        sent_at: Some(t0_micros()),
        acked_at: Some(t0_micros() + Duration::milliseconds(120)),
        // A fee on every filled row, so both drivers round-trip it.
        fee: price.map(|_| Decimal::new(125, 3)),
    }
}

async fn contract(j: &impl TradeJournal, tag: &str) {
    let id = SignalId::of_canonical(&format!(
        "{tag}-{}",
        shared::clock::SystemClock
            .now()
            .timestamp_nanos_opt()
            .unwrap()
    ));
    let first = StageTimes {
        received: Some(t0_micros()),
        enqueued: Some(t0_micros()),
        routed: Some(t0_micros()),
        ..Default::default()
    };
    j.upsert_signal(&signal(&id, SignalStatus::Routed, first.clone()))
        .await
        .unwrap();
    assert_eq!(
        j.signal(&id).await.unwrap().unwrap(),
        signal(&id, SignalStatus::Routed, first.clone())
    );

    // A later upsert without the early stages keeps them, and adds its own.
    let later = StageTimes {
        executor_start: Some(t0_micros() + Duration::seconds(1)),
        ..Default::default()
    };
    let mut filled = signal(&id, SignalStatus::Filled, later);
    filled.reason = Some("done".into());
    j.upsert_signal(&filled).await.unwrap();
    j.upsert_signal(&filled).await.unwrap();
    let back = j.signal(&id).await.unwrap().unwrap();
    assert_eq!(back.status, SignalStatus::Filled);
    assert_eq!(back.stages.received, Some(t0_micros()));
    assert_eq!(
        back.stages.executor_start,
        Some(t0_micros() + Duration::seconds(1))
    );

    // Two legs are two rows; a leg upserted again is updated, not duplicated.
    j.upsert_order(&order(&id, Leg::Open, "1000", None, Outcome::Unknown))
        .await
        .unwrap();
    j.upsert_order(&order(
        &id,
        Leg::Close,
        "0.00012345",
        Some("97123.45"),
        Outcome::Filled,
    ))
    .await
    .unwrap();
    j.upsert_order(&order(
        &id,
        Leg::Open,
        "1000",
        Some("1.08345"),
        Outcome::Filled,
    ))
    .await
    .unwrap();
    let legs = j.orders(&id).await.unwrap();
    assert_eq!(legs.len(), 2);
    assert_eq!((legs[0].leg, legs[1].leg), (Leg::Close, Leg::Open));
    assert_eq!(legs[0].quantity.to_string(), "0.00012345");
    assert_eq!(legs[0].fill_price.unwrap().to_string(), "97123.45");
    assert_eq!(
        (legs[1].outcome, legs[1].fill_price.unwrap().to_string()),
        (Outcome::Filled, "1.08345".to_owned())
    );
    assert_eq!(
        legs[1],
        order(&id, Leg::Open, "1000", Some("1.08345"), Outcome::Filled)
    );
    // A writer that could not tell what became of the filled order (a takeover that read it
    // while it was working) never writes it back to `unknown`, alone or in a batch, nor
    // changes its size, side or price to what it saw filled so far.
    let mut unknown = order(&id, Leg::Open, "400", Some("1.08300"), Outcome::Unknown);
    unknown.error = Some("no answer".into());
    unknown.side = match unknown.side {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    };
    j.upsert_order(&unknown).await.unwrap();
    j.record_execution(
        &signal(&id, SignalStatus::Unknown, StageTimes::default()),
        std::slice::from_ref(&unknown),
    )
    .await
    .unwrap();
    assert_eq!(
        j.orders(&id).await.unwrap()[1],
        order(&id, Leg::Open, "1000", Some("1.08345"), Outcome::Filled)
    );

    assert!(
        j.signal(&SignalId::of_canonical("absent"))
            .await
            .unwrap()
            .is_none()
    );

    // A signal and its legs in one call (SQLite: one batch), twice: the same rows, updated.
    let id = SignalId::of_canonical(&format!(
        "{tag}-batch-{}",
        shared::clock::SystemClock
            .now()
            .timestamp_nanos_opt()
            .unwrap()
    ));
    let stages = StageTimes {
        received: Some(t0_micros()),
        broker_acked: Some(t0_micros() + Duration::seconds(2)),
        ..Default::default()
    };
    let legs = [
        order(&id, Leg::Close, "3000", Some("1.08340"), Outcome::Filled),
        order(
            &id,
            Leg::CloseHedge,
            "2000",
            Some("1.08342"),
            Outcome::Filled,
        ),
        order(&id, Leg::Open, "1000", None, Outcome::Unknown),
    ];
    for _ in 0..2 {
        j.record_execution(&signal(&id, SignalStatus::Filled, stages.clone()), &legs)
            .await
            .unwrap();
    }
    assert_eq!(
        j.signal(&id).await.unwrap().unwrap(),
        signal(&id, SignalStatus::Filled, stages)
    );
    assert_eq!(j.orders(&id).await.unwrap(), legs);
    j.record_execution(
        &signal(&id, SignalStatus::Refused, StageTimes::default()),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        j.signal(&id).await.unwrap().unwrap().status,
        SignalStatus::Refused
    );
    assert_eq!(j.orders(&id).await.unwrap().len(), 3);

    // Times finer than a microsecond are cut to it, as PostgreSQL's `timestamptz` keeps
    // them: both journals read back the same stage times, so the same latencies.
    let fine = SignalId::of_canonical(&format!("{tag}-fine"));
    let stages = StageTimes {
        received: Some(t0_micros() + Duration::nanoseconds(999)),
        enqueued: Some(t0_micros() + Duration::nanoseconds(1_000_500)),
        ..Default::default()
    };
    j.record_execution(&signal(&fine, SignalStatus::Routed, stages), &[])
        .await
        .unwrap();
    let back = j.signal(&fine).await.unwrap().unwrap().stages;
    assert_eq!(back.received, Some(t0_micros()));
    assert_eq!(
        back.enqueued,
        Some(t0_micros() + Duration::microseconds(1_000))
    );

    attempts(j, tag).await;
}

/// Executions written at once from many tasks (the journal groups the waiting ones into one
/// transaction): every signal reads back with exactly its own legs, whichever task wrote it.
async fn concurrent_executions<J: TradeJournal + Clone + Send + Sync + 'static>(j: &J, tag: &str) {
    let stamp = shared::clock::SystemClock
        .now()
        .timestamp_nanos_opt()
        .unwrap();
    let ids: Vec<SignalId> = (0..40)
        .map(|n| SignalId::of_canonical(&format!("{tag}-group-{stamp}-{n}")))
        .collect();
    let tasks: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let (j, id) = (j.clone(), id.clone());
            tokio::spawn(async move {
                // 0, 1 or 2 legs, so batches mix shapes.
                let legs: Vec<OrderRecord> = [Leg::Close, Leg::Open][..n % 3]
                    .iter()
                    .map(|&leg| {
                        order(
                            &id,
                            leg,
                            &format!("{}", n + 1),
                            Some("1.1"),
                            Outcome::Filled,
                        )
                    })
                    .collect();
                j.record_execution(
                    &signal(&id, SignalStatus::Filled, StageTimes::default()),
                    &legs,
                )
                .await
                .unwrap();
                legs
            })
        })
        .collect();
    for (id, task) in ids.iter().zip(tasks) {
        let legs = task.await.unwrap();
        let back = j.signal(id).await.unwrap().unwrap();
        assert_eq!(back.status, SignalStatus::Filled);
        assert_eq!(j.orders(id).await.unwrap(), legs, "{id}");
    }
}

/// One signal written from many tasks at once, as a takeover and a late retry could: the
/// executions that wait together hold the same signal and leg, and each write still succeeds
/// (PostgreSQL refuses one statement updating a row twice, so such a batch goes row by row).
async fn one_signal_from_many_tasks<J: TradeJournal + Clone + Send + Sync + 'static>(
    j: &J,
    tag: &str,
) {
    let id = SignalId::of_canonical(&format!(
        "{tag}-same-{}",
        shared::clock::SystemClock
            .now()
            .timestamp_nanos_opt()
            .unwrap()
    ));
    let tasks: Vec<_> = (0..24)
        .map(|n| {
            let (j, id) = (j.clone(), id.clone());
            tokio::spawn(async move {
                let leg = order(&id, Leg::Open, "1000", Some("1.1"), Outcome::Filled);
                let status = if n % 2 == 0 {
                    SignalStatus::Filled
                } else {
                    SignalStatus::Executing
                };
                j.record_execution(&signal(&id, status, StageTimes::default()), &[leg])
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert!(j.signal(&id).await.unwrap().is_some());
    let legs = j.orders(&id).await.unwrap();
    assert_eq!(legs.len(), 1, "{legs:?}");
    assert_eq!(legs[0].outcome, Outcome::Filled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_one_signal_from_many_tasks_is_written_each_time() {
    let (_dir, path) = temp_journal("journal-same");
    let j = SqliteJournal::connect(path.to_str().unwrap())
        .await
        .unwrap();
    one_signal_from_many_tasks(&j, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_one_signal_from_many_tasks_is_written_each_time() {
    let url = std::env::var("JOURNAL_TEST_PG_URL")
        .expect("JOURNAL_TEST_PG_URL is not set: run the suite with scripts/test.sh, which starts a throwaway PostgreSQL");
    let j = PgJournal::connect(&url).await.unwrap();
    j.migrate().await.unwrap();
    one_signal_from_many_tasks(&j, "pg").await;
}

/// A URL that requires TLS (`sslmode=require`, as the deployment's URL to Aurora says)
/// connects, and its session is encrypted. The driver was built without TLS, and refused
/// every such URL: the journal could never reach Aurora as the README told it to.
#[tokio::test]
async fn postgres_connects_over_tls_when_the_url_requires_it() {
    let url = std::env::var("JOURNAL_TEST_PG_URL")
        .expect("JOURNAL_TEST_PG_URL is not set: run the suite with scripts/test.sh, which starts a throwaway PostgreSQL");
    let required = format!("{url}?sslmode=require");
    let j = PgJournal::connect(&required)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    j.migrate().await.unwrap_or_else(|e| panic!("{e}"));
    let pool = sqlx::PgPool::connect(&required)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (ssl,): (bool,) =
        sqlx::query_as("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(ssl, "the session is not encrypted");
}

/// A journal file's path in a directory of its own, removed with the file's log when the
/// returned guard is dropped.
fn temp_journal(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .tempdir()
        .unwrap_or_else(|e| panic!("temporary directory: {e}"));
    let path = dir.path().join(format!("{name}.sqlite"));
    (dir, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_executions_from_many_tasks_each_read_back_whole() {
    let (_dir, path) = temp_journal("journal-group");
    let j = SqliteJournal::connect(path.to_str().unwrap())
        .await
        .unwrap();
    concurrent_executions(&j, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_executions_from_many_tasks_each_read_back_whole() {
    let url = std::env::var("JOURNAL_TEST_PG_URL")
        .expect("JOURNAL_TEST_PG_URL is not set: run the suite with scripts/test.sh, which starts a throwaway PostgreSQL");
    let j = PgJournal::connect(&url).await.unwrap();
    j.migrate().await.unwrap();
    concurrent_executions(&j, "pg").await;
}

/// The same leg sent twice: one row per attempt, each upserted on its own, read back by leg
/// then attempt whatever order they were written in.
async fn attempts(j: &impl TradeJournal, tag: &str) {
    let id = SignalId::of_canonical(&format!(
        "{tag}-attempts-{}",
        shared::clock::SystemClock
            .now()
            .timestamp_nanos_opt()
            .unwrap()
    ));
    let send = |leg, attempt, broker_order_id: &str, outcome| OrderRecord {
        attempt,
        broker_order_id: Some(broker_order_id.into()),
        ..order(&id, leg, "1000", None, outcome)
    };
    let first = send(Leg::Open, 1, "6368", Outcome::Unknown);
    let mut second = send(Leg::Open, 2, "6371", Outcome::Unknown);
    let close = send(Leg::Close, 1, "6367", Outcome::Filled);
    j.upsert_order(&second).await.unwrap();
    j.upsert_order(&first).await.unwrap();
    j.upsert_order(&close).await.unwrap();
    assert_eq!(
        j.orders(&id).await.unwrap(),
        [close.clone(), first.clone(), second.clone()]
    );

    // The second attempt written again, now filled: its own row is updated, the first kept.
    second.outcome = Outcome::Filled;
    second.fill_price = Some(Decimal::from_str("1.08345").unwrap());
    for _ in 0..2 {
        j.upsert_order(&second).await.unwrap();
    }
    let back = j.orders(&id).await.unwrap();
    assert_eq!(back, [close.clone(), first.clone(), second.clone()]);
    assert_eq!(
        back.iter()
            .map(|o| (o.leg, o.attempt, o.client_order_id.clone()))
            .collect::<Vec<_>>(),
        [
            (Leg::Close, 1, ClientOrderId::new(&id, Leg::Close)),
            (Leg::Open, 1, ClientOrderId::new(&id, Leg::Open)),
            (Leg::Open, 2, ClientOrderId::new(&id, Leg::Open)),
        ]
    );

    // Both attempts in one call (SQLite: one batch), twice: still three rows.
    let third = send(Leg::Open, 3, "6372", Outcome::Rejected);
    for _ in 0..2 {
        j.record_execution(
            &signal(&id, SignalStatus::Filled, StageTimes::default()),
            &[second.clone(), third.clone()],
        )
        .await
        .unwrap();
    }
    assert_eq!(j.orders(&id).await.unwrap(), [close, first, second, third]);
}

/// Records four replay decisions, the first and the last about one signal, answered; the
/// signals are new on every run, as a PostgreSQL database may be reused between runs.
async fn audit(j: &impl AuditLog) -> SignalId {
    use shared::clock::Clock;
    let run = shared::clock::SystemClock.now().timestamp_micros();
    let mine = SignalId::of_canonical(&format!("audit-{run}"));
    let other = SignalId::of_canonical(&format!("other-{run}"));
    for (message_id, signal_id, result) in [
        ("m-1", Some(mine.clone()), "replayed (forced)"),
        ("m-2", Some(other), "refused: older than the max age"),
        ("m-3", None, "unreadable: not JSON"),
        ("m-4", Some(mine.clone()), "would replay"),
    ] {
        j.record_replay(&ReplayAudit {
            at: t0_micros(),
            queue: "oanda-dlq.fifo".into(),
            message_id: message_id.into(),
            signal_id,
            forced: message_id == "m-1",
            dry_run: message_id == "m-4",
            result: result.into(),
            operator: "ops".into(),
        })
        .await
        .unwrap();
    }
    mine
}

/// The decisions of `replay_decisions` (every one, whole) about `mine`; a decision on a body
/// that did not read is among them, naming no signal.
fn mine_of(all: Vec<ReplayAudit>, mine: &SignalId) -> Vec<ReplayAudit> {
    assert!(
        all.iter()
            .any(|r| r.signal_id.is_none() && r.result == "unreadable: not JSON"),
        "{all:?}"
    );
    all.into_iter()
        .filter(|r| r.signal_id.as_ref() == Some(mine))
        .collect()
}

/// What `replay_audits_of` read for the signal [`audit`] answered: its two decisions, in
/// order, whole.
fn only_its_own(rows: Vec<ReplayAudit>) {
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.message_id.as_str(),
                r.result.as_str(),
                r.forced,
                r.dry_run,
                r.at,
                r.operator.as_str(),
                r.queue.as_str(),
            )
        })
        .collect();
    let at = t0_micros();
    assert_eq!(
        got,
        [
            (
                "m-1",
                "replayed (forced)",
                true,
                false,
                at,
                "ops",
                "oanda-dlq.fifo"
            ),
            (
                "m-4",
                "would replay",
                false,
                true,
                at,
                "ops",
                "oanda-dlq.fifo"
            )
        ]
    );
    assert!(rows.iter().all(|r| r.signal_id.is_some()));
}

/// Writes 17 signals under ids new on every run, received a millisecond apart after every
/// row an earlier run wrote (a PostgreSQL database may be reused), and finds them by their
/// start: the id less its last character finds it alone, in either case; a start of one
/// character finds exactly this run's ids that share it, newest first (17 ids of 16 possible
/// first characters: at least two share one); a start no id has finds nothing; text that is
/// not hex is refused, naming it.
async fn found_by_start(j: &AnyJournal, tag: &str) {
    let now = shared::clock::SystemClock.now();
    let run = now.timestamp_nanos_opt().unwrap();
    let mut ids = Vec::new();
    for i in 0..17 {
        let id = SignalId::of_canonical(&format!("start-{tag}-{run}-{i}"));
        let at = chrono::DateTime::from_timestamp_micros(
            (now + Duration::milliseconds(i)).timestamp_micros(),
        )
        .unwrap();
        let stages = StageTimes {
            received: Some(at),
            ..Default::default()
        };
        j.upsert_signal(&signal(&id, SignalStatus::Routed, stages))
            .await
            .unwrap();
        ids.push(id);
    }
    for id in &ids {
        let whole = id.as_str();
        let less_one = &whole[..whole.len() - 1];
        assert_eq!(
            j.signal_ids_starting_with(less_one, 10).await.unwrap(),
            std::slice::from_ref(id)
        );
        let upper = less_one.to_ascii_uppercase();
        assert_eq!(
            j.signal_ids_starting_with(&upper, 10).await.unwrap(),
            std::slice::from_ref(id)
        );
    }
    let mut shared_first = 0;
    for first in "0123456789abcdef".chars() {
        let mine: Vec<SignalId> = ids
            .iter()
            .rev()
            .filter(|id| id.as_str().starts_with(first))
            .cloned()
            .collect();
        if mine.len() < 2 {
            continue;
        }
        shared_first += 1;
        let limit = i64::try_from(mine.len()).unwrap();
        let got = j
            .signal_ids_starting_with(&first.to_string(), limit)
            .await
            .unwrap();
        assert_eq!(got, mine, "ids starting with {first}");
    }
    assert!(shared_first > 0);
    // The first id with its last 12 characters turned around: no id of this run has it, and
    // any other's chance is 2^-48.
    let whole = ids[0].as_str();
    let (head, tail) = whole.split_at(whole.len() - 12);
    let absent = format!(
        "{head}{}",
        tail.chars()
            .map(|c| if c == 'f' { '0' } else { 'f' })
            .collect::<String>()
    );
    assert!(
        j.signal_ids_starting_with(&absent, 10)
            .await
            .unwrap()
            .is_empty()
    );
    for bad in ["", "ab%", "12_4", "xyz"] {
        let e = j.signal_ids_starting_with(bad, 10).await.unwrap_err();
        assert!(e.reason.contains(&format!("{bad:?}")), "{bad}: {e}");
    }
}

#[tokio::test]
async fn sqlite_journal_finds_signals_by_the_start_of_their_id() {
    let (_dir, path) = temp_journal("journal-start");
    let file = AnyJournal::connect(path.to_str().unwrap()).await.unwrap();
    found_by_start(&file, "file").await;
    let memory = AnyJournal::connect("sqlite::memory:").await.unwrap();
    found_by_start(&memory, "memory").await;
}

#[tokio::test]
async fn postgres_journal_finds_signals_by_the_start_of_their_id() {
    let url = std::env::var("JOURNAL_TEST_PG_URL")
        .expect("JOURNAL_TEST_PG_URL is not set: run the suite with scripts/test.sh, which starts a throwaway PostgreSQL");
    let j = AnyJournal::connect(&url).await.unwrap();
    found_by_start(&j, "pg").await;
}

#[tokio::test]
async fn sqlite_file_journal_keeps_the_contract_and_migrations_rerun() {
    let (_dir, path) = temp_journal("journal-test");
    let j = SqliteJournal::connect(path.to_str().unwrap())
        .await
        .unwrap();
    contract(&j, "sqlite").await;
    let mine = audit(&j).await;
    j.migrate().await.unwrap();
    assert_eq!(j.replay_audits().await.unwrap()[0].2, "replayed (forced)");
    only_its_own(j.replay_audits_of(&mine).await.unwrap());
    only_its_own(mine_of(j.replay_decisions().await.unwrap(), &mine));
    // Reopening the file finds what was written.
    let again = SqliteJournal::connect(path.to_str().unwrap())
        .await
        .unwrap();
    // The contract wrote four signals: one with two legs, one with three in a batch, one with
    // times finer than a microsecond, and one with a close and three attempts of its open.
    assert_eq!(again.recent_signals(10).await.unwrap().len(), 4);
    assert_eq!(again.recent_orders(10).await.unwrap().len(), 9);
    assert!(!format!("{again:?}").contains(path.to_str().unwrap()));
}

/// A journal beside real brokers syncs its log at each commit (`synchronous=FULL`, 2); the
/// paper stack's does not (NORMAL, 1). Read back from the pool's connection and from the
/// writer thread's (which writes the executions), on a file reopened.
#[tokio::test]
async fn sqlite_journal_for_real_brokers_syncs_each_commit() {
    let (_dir, path) = temp_journal("journal-durability");
    let level = |j: SqliteJournal| async move {
        let n: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(j.pool())
            .await
            .unwrap();
        n
    };
    let paper = SqliteJournal::connect(path.to_str().unwrap())
        .await
        .unwrap();
    // The writer thread's connection, which writes the executions, as it reported itself.
    assert_eq!(paper.writer_synchronous(), Some(1));
    assert_eq!(level(paper).await, 1);
    let real =
        SqliteJournal::connect_with(path.to_str().unwrap(), shared::ports::Durability::PowerLoss)
            .await
            .unwrap();
    contract(&real, "sqlite").await;
    assert_eq!(real.writer_synchronous(), Some(2));
    assert_eq!(level(real).await, 2);
}

/// A write SQLite refuses (a leg's attempt 0 breaks the table's `CHECK`) fails every record
/// of its transaction: the signal written before the leg is not kept, the caller gets the
/// error, and the next execution is written. Both write paths: a file (the writer thread)
/// and memory (a drain through the pool).
async fn refused_write(j: &impl TradeJournal, tag: &str) {
    let id = SignalId::of_canonical(&format!("{tag}-refused"));
    let mut bad = order(&id, Leg::Open, "1000", Some("1.1"), Outcome::Filled);
    bad.attempt = 0;
    let stages = StageTimes {
        received: Some(t0_micros()),
        ..StageTimes::default()
    };
    let err = j
        .record_execution(&signal(&id, SignalStatus::Filled, stages.clone()), &[bad])
        .await
        .unwrap_err();
    assert!(
        err.reason
            .starts_with("signal and order upsert: database error")
            && err.reason.contains("CHECK constraint failed"),
        "{tag}: {}",
        err.reason
    );
    assert!(j.signal(&id).await.unwrap().is_none(), "{tag}");
    let good = order(&id, Leg::Open, "1000", Some("1.1"), Outcome::Filled);
    j.record_execution(&signal(&id, SignalStatus::Filled, stages), &[good])
        .await
        .unwrap();
    assert_eq!(j.orders(&id).await.unwrap().len(), 1, "{tag}");
}

#[tokio::test]
async fn sqlite_a_refused_write_keeps_nothing_of_its_transaction() {
    let (_dir, path) = temp_journal("journal-refused");
    let file = SqliteJournal::connect(path.to_str().unwrap())
        .await
        .unwrap();
    refused_write(&file, "file").await;
    let memory = SqliteJournal::connect("sqlite::memory:").await.unwrap();
    refused_write(&memory, "memory").await;
}

/// A write the database refuses among others written at once (executions that come
/// together share a transaction, or a statement): the refused one fails alone; the others are
/// written and answered as written. They failed with it, and each executor's record came back
/// to meet it again.
async fn refused_among_others(j: &impl TradeJournal, tag: &str) {
    let run = shared::clock::Clock::now(&shared::clock::SystemClock).timestamp_micros();
    let id = |n: u32| SignalId::of_canonical(&format!("{tag}-{run}-among-{n}"));
    let stages = StageTimes {
        received: Some(t0_micros()),
        ..StageTimes::default()
    };
    let good = |id: &SignalId| order(id, Leg::Open, "1000", Some("1.1"), Outcome::Filled);
    let sig = |id: &SignalId| signal(id, SignalStatus::Filled, stages.clone());
    // A first write, so the three below come within the writer thread's commit gap and are
    // written together (the pool's drain takes them together anyway).
    j.record_execution(&sig(&id(9)), &[good(&id(9))])
        .await
        .unwrap();
    let (ids, mut bad) = ([id(0), id(1), id(2)], good(&id(1)));
    bad.attempt = 0;
    let signals = ids.each_ref().map(sig);
    let legs = [[good(&ids[0])], [bad], [good(&ids[2])]];
    let (a, b, c) = tokio::join!(
        j.record_execution(&signals[0], &legs[0]),
        j.record_execution(&signals[1], &legs[1]),
        j.record_execution(&signals[2], &legs[2]),
    );
    assert_eq!((a.clone(), c.clone()), (Ok(()), Ok(())), "{tag}");
    let err = b.unwrap_err();
    assert!(
        err.reason.to_lowercase().contains("check constraint"),
        "{tag}: {}",
        err.reason
    );
    assert_eq!(j.orders(&ids[0]).await.unwrap().len(), 1, "{tag}");
    assert_eq!(j.orders(&ids[2]).await.unwrap().len(), 1, "{tag}");
    assert!(j.signal(&ids[1]).await.unwrap().is_none(), "{tag}");
}

#[tokio::test]
async fn sqlite_a_refused_write_among_others_fails_alone() {
    let (_dir, path) = temp_journal("journal-among");
    let file = SqliteJournal::connect(path.to_str().unwrap())
        .await
        .unwrap();
    refused_among_others(&file, "file").await;
    let memory = SqliteJournal::connect("sqlite::memory:").await.unwrap();
    refused_among_others(&memory, "memory").await;
}

#[tokio::test]
async fn postgres_a_refused_write_among_others_fails_alone() {
    let url = std::env::var("JOURNAL_TEST_PG_URL")
        .expect("JOURNAL_TEST_PG_URL is not set: run the suite with scripts/test.sh, which starts a throwaway PostgreSQL");
    let j = PgJournal::connect(&url).await.unwrap();
    j.migrate().await.unwrap();
    refused_among_others(&j, "pg").await;
}

/// The whole journal in two queries (what `tvctl report` reads), fees included.
#[tokio::test]
async fn every_signal_and_order_reads_back_in_one_query_each() {
    let j = AnyJournal::connect("sqlite::memory:").await.unwrap();
    contract(&j, "all").await;
    let signals = j.all_signals().await.unwrap();
    let orders = j.all_orders().await.unwrap();
    assert!(!signals.is_empty());
    assert!(!orders.is_empty());
    for o in &orders {
        let one = j.orders(&o.signal_id).await.unwrap();
        assert!(one.contains(o), "{o:?}");
    }
    assert!(orders.iter().any(|o| o.fee == Some(Decimal::new(125, 3))));
    // What a report reads: the same rows without their intent.
    let light = j.signals_for_report().await.unwrap();
    assert_eq!(light.len(), signals.len());
    for (a, b) in light.iter().zip(&signals) {
        assert_eq!(a.normalized, shared::execution::RawJson::default());
        assert_eq!(
            (&a.signal_id, &a.raw, &a.stages),
            (&b.signal_id, &b.raw, &b.stages)
        );
    }
}

#[tokio::test]
async fn sqlite_in_memory_journal_keeps_the_contract() {
    let j = AnyJournal::connect("sqlite::memory:").await.unwrap();
    contract(&j, "memory").await;
    let mine = audit(&j).await;
    only_its_own(j.replay_audits_of(&mine).await.unwrap());
    only_its_own(mine_of(j.replay_decisions().await.unwrap(), &mine));
}

#[tokio::test]
async fn postgres_journal_keeps_the_contract_and_migrations_rerun() {
    let url = std::env::var("JOURNAL_TEST_PG_URL")
        .expect("JOURNAL_TEST_PG_URL is not set: run the suite with scripts/test.sh, which starts a throwaway PostgreSQL");
    let j = PgJournal::connect(&url).await.unwrap();
    // A session opens outside the pool; one to a port nothing listens on is refused at once.
    j.check().await.unwrap();
    let refused = PgJournal::connect("postgres://postgres@127.0.0.1:1/journal")
        .await
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert_eq!(refused.reason, "connect: I/O error: connection refused");
    contract(&j, "pg").await;
    let mine = audit(&j).await;
    only_its_own(j.replay_audits_of(&mine).await.unwrap());
    only_its_own(mine_of(j.replay_decisions().await.unwrap(), &mine));
    j.migrate().await.unwrap();
    let any = AnyJournal::connect(&url).await.unwrap();
    assert!(!any.recent_signals(5).await.unwrap().is_empty());
    assert!(!format!("{any:?}").contains("postgres://"));
}

#[tokio::test]
async fn postgres_connect_leaves_the_database_to_the_first_write() {
    // Nothing listens on port 9: an eager connect (or migration) would fail here, as it would
    // wait on a paused Aurora at an executor's cold start.
    let j = PgJournal::connect("postgres://postgres@127.0.0.1:9/journal").await;
    assert!(j.is_ok());
}

/// Aurora pauses only while no session is open: the server closes a journal session that sat
/// idle past its timeout (set per session, no server setting needed), and the next write opens
/// a new one instead of failing.
#[tokio::test]
async fn postgres_sessions_close_when_idle_and_the_next_write_reconnects() {
    use sqlx::Connection;
    let url = std::env::var("JOURNAL_TEST_PG_URL")
        .expect("JOURNAL_TEST_PG_URL is not set: run the suite with scripts/test.sh, which starts a throwaway PostgreSQL");
    // Long enough that a busy machine's pause between the two reads below does not end the
    // session before the test means it to.
    let idle = std::time::Duration::from_secs(2);
    let options = PgJournal::session_options(&url, idle).unwrap();
    let mut session = sqlx::PgConnection::connect_with(&options).await.unwrap();
    let (timeout,): (String,) = sqlx::query_as("SHOW idle_session_timeout")
        .fetch_one(&mut session)
        .await
        .unwrap();
    assert_eq!(timeout, "2s");
    let (name,): (String,) = sqlx::query_as("SELECT current_setting('application_name')")
        .fetch_one(&mut session)
        .await
        .unwrap();
    assert_eq!(name, journal::APPLICATION_NAME);
    tokio::time::sleep(idle * 3).await;
    assert!(
        sqlx::query("SELECT 1").execute(&mut session).await.is_err(),
        "the server closed the idle session"
    );

    let j = PgJournal::connect_with_idle_timeout(&url, idle)
        .await
        .unwrap();
    let first = SignalId::of_canonical("idle-session-first");
    j.upsert_signal(&signal(&first, SignalStatus::Filled, StageTimes::default()))
        .await
        .unwrap();
    tokio::time::sleep(idle * 3).await;
    let second = SignalId::of_canonical("idle-session-second");
    j.upsert_signal(&signal(
        &second,
        SignalStatus::Filled,
        StageTimes::default(),
    ))
    .await
    .unwrap();
    assert!(j.signal(&first).await.unwrap().is_some());
    assert!(j.signal(&second).await.unwrap().is_some());
}

/// An order row as the first schema wrote it, before attempts were counted.
fn legacy_order_sql(placeholder: impl Fn(usize) -> String) -> String {
    format!(
        "INSERT INTO orders (signal_id, broker, account, leg, instrument, client_order_id, side,
        quantity, outcome) VALUES ({}, 'oanda', '101-004-1-001', 'open', 'EUR_USD', {}, 'buy',
        '1000', 'filled')",
        placeholder(1),
        placeholder(2)
    )
}

/// After the upgrade the old row reads as attempt 1, and a second attempt of its leg is a row
/// of its own.
async fn legacy_row_is_the_first_attempt(j: &impl TradeJournal, id: &SignalId) {
    let rows = j.orders(id).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].leg, rows[0].attempt, rows[0].quantity),
        (Leg::Open, 1, Decimal::from(1000))
    );
    let second = OrderRecord {
        attempt: 2,
        ..rows[0].clone()
    };
    j.upsert_order(&second).await.unwrap();
    assert_eq!(
        j.orders(id)
            .await
            .unwrap()
            .iter()
            .map(|o| o.attempt)
            .collect::<Vec<_>>(),
        [1, 2]
    );
}

#[tokio::test]
async fn sqlite_upgrade_keeps_old_order_rows_as_first_attempts() {
    let (_dir, path) = temp_journal("journal-upgrade-test");
    let id = SignalId::of_canonical("sqlite-upgrade");
    let old = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    sqlx::raw_sql(include_str!("../migrations/sqlite/0001_init.sql"))
        .execute(&old)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(legacy_order_sql(|_| "?".into())))
        .bind(id.as_str())
        .bind(ClientOrderId::new(&id, Leg::Open).as_str())
        .execute(&old)
        .await
        .unwrap();
    old.close().await;

    let j = SqliteJournal::connect(path.to_str().unwrap())
        .await
        .unwrap();
    legacy_row_is_the_first_attempt(&j, &id).await;
    j.pool().close().await;
}

#[tokio::test]
async fn postgres_upgrade_keeps_old_order_rows_as_first_attempts() {
    // A database of its own, at the first schema: the shared one is already upgraded.
    let own = OwnDatabase::create("journal_upgrade").await;
    let db_url = own.url.clone();

    let id = SignalId::of_canonical("postgres-upgrade");
    let old = sqlx::PgPool::connect(&db_url).await.unwrap();
    sqlx::raw_sql(include_str!("../migrations/postgres/0001_init.sql"))
        .execute(&old)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(legacy_order_sql(|n| format!("${n}"))))
        .bind(id.as_str())
        .bind(ClientOrderId::new(&id, Leg::Open).as_str())
        .execute(&old)
        .await
        .unwrap();
    old.close().await;

    let j = PgJournal::connect(&db_url).await.unwrap();
    legacy_row_is_the_first_attempt(&j, &id).await;
    j.pool().close().await;
    own.drop().await;
}

/// A database a newer build migrated (it holds a migration this build lacks: a deploy in
/// flight, or a rollback) is still written by this build's executors: sqlx refuses such a
/// database by default, every session failed, and no signal was journaled or traded until a
/// deploy.
#[tokio::test]
async fn postgres_journal_writes_into_a_schema_a_newer_build_migrated() {
    let own = OwnDatabase::create("journal_newer").await;
    let first = PgJournal::connect(&own.url).await.unwrap();
    first.migrate().await.unwrap();
    // What a newer build's migration leaves: a row of a version this build does not have,
    // and what it added.
    sqlx::raw_sql(
        "ALTER TABLE signals ADD COLUMN later_note TEXT; \
         INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'a later build', TRUE, '\\x00'::bytea, 0)",
    )
    .execute(first.pool())
    .await
    .unwrap();
    first.pool().close().await;

    // A fresh pool: its first session runs the migrations, as an executor's does.
    let j = PgJournal::connect(&own.url).await.unwrap();
    let id = SignalId::of_canonical("postgres-newer-schema");
    j.record_execution(
        &signal(&id, SignalStatus::Filled, StageTimes::default()),
        &[],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(j.signal(&id).await.unwrap().is_some());
    j.pool().close().await;
    own.drop().await;
}

/// A PostgreSQL database of the test's own on the throwaway cluster (`JOURNAL_TEST_PG_URL`),
/// named `<prefix>_<nanoseconds>`; [`OwnDatabase::drop`] removes it.
struct OwnDatabase {
    admin: sqlx::PgPool,
    name: String,
    url: String,
}

impl OwnDatabase {
    async fn create(prefix: &str) -> Self {
        let url = std::env::var("JOURNAL_TEST_PG_URL")
            .expect("JOURNAL_TEST_PG_URL is not set: run the suite with scripts/test.sh, which starts a throwaway PostgreSQL");
        let name = format!(
            "{prefix}_{}",
            shared::clock::SystemClock
                .now()
                .timestamp_nanos_opt()
                .unwrap()
        );
        let admin = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        let (base, query) = url.split_once('?').unwrap_or((&url, ""));
        let (server, _) = base.rsplit_once('/').unwrap();
        let url = format!("{server}/{name}?{query}");
        Self { admin, name, url }
    }

    async fn drop(self) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {} WITH (FORCE)",
            self.name
        )))
        .execute(&self.admin)
        .await
        .unwrap();
    }
}

/// The SQLite journal's log is checkpointed beside the writer (no checkpoint runs inside a
/// commit): a signal written reaches the database file itself within moments, read here with
/// the log ignored (`immutable=1`).
#[tokio::test]
async fn sqlite_file_journal_checkpoints_its_log_in_the_background() {
    let (_dir, path) = temp_journal("journal-ckpt");
    let j = SqliteJournal::connect(path.to_str().unwrap())
        .await
        .unwrap();
    let id = SignalId::of_canonical("checkpointed");
    j.record_execution(
        &signal(&id, SignalStatus::Filled, StageTimes::default()),
        &[],
    )
    .await
    .unwrap();
    let file_only = format!("sqlite://{}?immutable=true", path.display());
    let mut found = false;
    // Up to 30 s: the background checkpoint may wait for a CPU on a busy machine.
    for _ in 0..300 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let Ok(r) = journal::AnyJournal::open_read_only(&file_only).await else {
            continue;
        };
        if r.signal(&id).await.ok().flatten().is_some() {
            found = true;
            break;
        }
    }
    assert!(found, "the signal never reached the database file");
    drop(j);
}

/// The checkpoint sequence number in a write-ahead log's header (bytes 12..16), which SQLite
/// raises each time the log starts over (<https://www.sqlite.org/fileformat.html#walformat>).
fn wal_restarts(wal: &std::path::Path) -> Option<u32> {
    let bytes = std::fs::read(wal).ok()?;
    Some(u32::from_be_bytes(bytes.get(12..16)?.try_into().ok()?))
}

/// Under steady writes the background checkpoint never finds the log fully copied between two
/// of the drain's transactions; the drain's catch-up lets the log start over, so it stays
/// bounded instead of growing with every signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_journal_log_starts_over_under_steady_writes() {
    let (_dir, path) = temp_journal("journal-wal");
    let wal = path.with_extension("sqlite-wal");
    let j = SqliteJournal::connect(path.to_str().unwrap())
        .await
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Bounded: each writer stops at `stop` or after 20,000 signals.
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let (j, stop) = (j.clone(), stop.clone());
            tokio::spawn(async move {
                for n in 0..20_000 {
                    if stop.load(std::sync::atomic::Ordering::Acquire) {
                        break;
                    }
                    let id = SignalId::of_canonical(&format!("wal-{w}-{n}"));
                    j.record_execution(
                        &signal(&id, SignalStatus::Filled, StageTimes::default()),
                        &[],
                    )
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    // Room for the frames written while the flagging checkpoint and its fsync ran on a busy
    // disk; without the catch-up the log passes it within seconds.
    let bound = 6 * journal::RESTART_FRAMES as u64 * 4096;
    let mut first = None;
    let mut outcome = Err("the log never started over".to_owned());
    for _ in 0..1_200 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or_default();
        if size > bound {
            outcome = Err(format!("the log is {size} bytes, past {bound}"));
            break;
        }
        let restarts = wal_restarts(&wal);
        match first {
            None => first = restarts,
            // Several times: a lull in the writes lets it start over once on its own.
            Some(n) if restarts.is_some_and(|r| r >= n + 3) => {
                outcome = Ok(());
                break;
            }
            Some(_) => {}
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Release);
    for w in writers {
        w.await.unwrap();
    }
    drop(j);
    outcome.unwrap();
}

/// `recent_executions` gives the latest signals whole, newest first, each with its legs in
/// leg then attempt order (the enum's, not the column text's), in two queries; `limit`
/// counts signals; a signal without its received time is listed last, with its legs too.
/// `j` is a journal of the test's own.
async fn recent_with_legs(j: &AnyJournal, tag: &str) {
    let run = shared::clock::SystemClock
        .now()
        .timestamp_nanos_opt()
        .unwrap();
    let base = t0_micros();
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = SignalId::of_canonical(&format!("recent-{tag}-{run}-{i}"));
        let stages = StageTimes {
            received: Some(base + Duration::milliseconds(i)),
            ..Default::default()
        };
        j.upsert_signal(&signal(&id, SignalStatus::Filled, stages))
            .await
            .unwrap();
        ids.push(id);
    }
    let leg = |id: &SignalId, leg: Leg, attempt: u32| OrderRecord {
        attempt,
        ..order(id, leg, "1000", Some("1.1"), Outcome::Filled)
    };
    // Written out of order; the oldest and the newest have legs, the middle one none. A
    // roll's close sorts first by the enum, after the close by the column's text.
    for o in [
        leg(&ids[2], Leg::Open, 1),
        leg(&ids[2], Leg::Close, 2),
        leg(&ids[2], Leg::CloseRolled, 1),
        leg(&ids[2], Leg::Close, 1),
        leg(&ids[0], Leg::Open, 1),
    ] {
        j.upsert_order(&o).await.unwrap();
    }
    let got = j.recent_executions(3).await.unwrap();
    let newest_first: Vec<_> = ids.iter().rev().cloned().collect();
    assert_eq!(
        got.iter()
            .map(|(s, _)| s.signal_id.clone())
            .collect::<Vec<_>>(),
        newest_first
    );
    for (s, legs) in &got {
        assert_eq!(Some(s), j.signal(&s.signal_id).await.unwrap().as_ref());
        assert_eq!(
            legs,
            &j.orders(&s.signal_id).await.unwrap(),
            "{}",
            s.signal_id
        );
    }
    let order_of = |legs: &[OrderRecord]| -> Vec<(Leg, u32)> {
        legs.iter().map(|o| (o.leg, o.attempt)).collect()
    };
    assert_eq!(
        order_of(&got[0].1),
        [
            (Leg::CloseRolled, 1),
            (Leg::Close, 1),
            (Leg::Close, 2),
            (Leg::Open, 1)
        ]
    );
    assert!(got[1].1.is_empty());
    assert_eq!(order_of(&got[2].1), [(Leg::Open, 1)]);
    let two = j.recent_executions(2).await.unwrap();
    assert_eq!(two, got[..2].to_vec());
    assert_eq!(
        j.recent_signals(3).await.unwrap(),
        got.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>()
    );
    let id = SignalId::of_canonical(&format!("recent-{tag}-{run}-none"));
    j.upsert_signal(&signal(&id, SignalStatus::Filled, StageTimes::default()))
        .await
        .unwrap();
    j.upsert_order(&leg(&id, Leg::Open, 1)).await.unwrap();
    let all = j.recent_executions(100).await.unwrap();
    assert_eq!(all.len(), 4);
    let (last, legs) = all.last().unwrap();
    assert_eq!(last.signal_id, id, "no received time: last");
    assert_eq!(order_of(legs), [(Leg::Open, 1)]);
    assert_eq!(all[..3].to_vec(), got);
    assert_eq!(j.recent_executions(3).await.unwrap(), got);

    // Signals received at the same time (a burst within one clock tick) list by id, highest
    // first, so a limit cuts the tie the same way on every read; written in neither id order.
    let mut tied: Vec<SignalId> = (0..4)
        .map(|i| SignalId::of_canonical(&format!("recent-{tag}-{run}-tie-{i}")))
        .collect();
    tied.sort();
    let tied_at = StageTimes {
        received: Some(base + Duration::seconds(1)),
        ..Default::default()
    };
    for i in [1, 3, 0, 2] {
        j.upsert_signal(&signal(&tied[i], SignalStatus::Filled, tied_at.clone()))
            .await
            .unwrap();
    }
    tied.reverse();
    let ids_of = |v: Vec<SignalRecord>| v.into_iter().map(|s| s.signal_id).collect::<Vec<_>>();
    assert_eq!(ids_of(j.recent_signals(3).await.unwrap()), tied[..3]);
    assert_eq!(ids_of(j.recent_signals(4).await.unwrap()), tied);
}

#[tokio::test]
async fn sqlite_journal_reads_the_latest_signals_with_their_legs() {
    let (_dir, path) = temp_journal("journal-recent");
    let file = AnyJournal::connect(path.to_str().unwrap()).await.unwrap();
    recent_with_legs(&file, "file").await;
    let memory = AnyJournal::connect("sqlite::memory:").await.unwrap();
    recent_with_legs(&memory, "memory").await;
}

/// In a database of its own: the shared one holds other tests' rows, and theirs must not
/// meet this test's.
#[tokio::test]
async fn postgres_journal_reads_the_latest_signals_with_their_legs() {
    let own = OwnDatabase::create("journal_recent").await;
    let j = AnyJournal::connect(&own.url).await.unwrap();
    recent_with_legs(&j, "pg").await;
    // The newest-first read has its index (migration 0004).
    let AnyJournal::Postgres(pg) = &j else {
        panic!("not PostgreSQL")
    };
    let (n,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM pg_indexes WHERE indexname = 'signals_newest_first'")
            .fetch_one(pg.pool())
            .await
            .unwrap();
    assert_eq!(n, 1);
    pg.pool().close().await;
    own.drop().await;
}
