//! The router's FIFO batch semantics, on SQS events built from the real event fixture.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use shared::message::OrderIntent;
use shared::{Action, RoutingTable};

#[tokio::test]
async fn a_failure_mid_batch_fails_the_rest_of_its_group_and_other_groups_go_on() {
    shared::telemetry::init_test_logs();
    let eur_long = signal("oanda-eurusd-long.json", 0);
    let es_long = signal("tradovate-es-long.json", 0);
    let eur_short = signal("oanda-eurusd-short.json", 1);
    let btc_long = signal("coinbase-btcusd-long.json", 0);
    let es_short = {
        let mut s = signal("tradovate-es-long.json", 2);
        s.alert.action = Action::ShortEntry;
        s
    };
    let f = fixture(RoutingTable::embedded());
    f.oanda.fail_group("EUR_USD", 1);
    let (router, queues) = (&f.router, &f);
    let batch = fifo_event(&[
        record("m1", &es_long),
        record("m2", &eur_long),
        record("m3", &btc_long),
        record("m4", &eur_short),
        record("m5", &es_short),
    ]);
    let resp = router.handle_batch(batch, None).await.unwrap();
    assert_eq!(failures(&resp), ["m2", "m4"]);
    assert_eq!(intents(&queues.oanda), []);
    assert_eq!(
        intents(&queues.tradovate)
            .into_iter()
            .map(|i| i.2)
            .collect::<Vec<_>>(),
        [Action::LongEntry, Action::ShortEntry]
    );
    assert_eq!(intents(&queues.coinbase)[0].1, "BTC-USD");

    // The retry brings back exactly the reported records, in order; now they go through.
    let retry = fifo_event(&[record("m2", &eur_long), record("m4", &eur_short)]);
    let resp = router.handle_batch(retry, None).await.unwrap();
    assert_eq!(failures(&resp), Vec::<String>::new());
    let eur: Vec<_> = intents(&queues.oanda).into_iter().map(|i| i.2).collect();
    assert_eq!(eur, [Action::LongEntry, Action::ShortEntry]);
}

#[tokio::test]
async fn an_unreadable_body_is_reported_and_blocks_only_its_group() {
    shared::telemetry::init_test_logs();
    let f = fixture(RoutingTable::embedded());
    let eur = signal("oanda-eurusd-long.json", 0);
    let btc = signal("coinbase-btcusd-long.json", 0);
    let mut wrong_version = signal("coinbase-btcusd-short.json", 5);
    wrong_version.version = 99;
    let batch = fifo_event(&[
        ("p1", "EURUSD".into(), "not json".into()),
        record("p2", &eur),
        record("p3", &btc),
        record("p4", &wrong_version),
    ]);
    let resp = f.router.handle_batch(batch, None).await.unwrap();
    assert_eq!(failures(&resp), ["p1", "p2", "p4"]);
}

/// A signal without a volume (an alert's `"NaN"`) is written as version 2, which a router of
/// version 1 alone retries as a version it does not know (a deployment in progress clears
/// it) instead of dead-lettering the `null` it cannot read: this router reads both, and the
/// same `null` under version 1 too (the build of 2026-12-07 wrote it so: read here, its
/// messages queued across the deploy are routed).
#[tokio::test]
async fn a_signal_without_a_volume_is_version_2_and_routed() {
    shared::telemetry::init_test_logs();
    let clock = shared::clock::ManualClock::new(now());
    let dlq: Queue =
        std::sync::Arc::new(test_kit::fifo::MemoryFifoQueue::new("signals-dlq", clock));
    let f = fixture_at(RoutingTable::embedded(), now(), Some(dlq.clone()));
    let mut eur = signal("oanda-eurusd-long.json", 0);
    eur.alert.price_data.volume = None;
    eur.version = shared::message::SignalMessage::version_of(&eur.alert);
    assert_eq!(eur.version, shared::message::SIGNAL_VERSION_NO_VOLUME);
    let (_, group, body) = record("v2", &eur);
    assert!(
        body.contains(r#""volume":null"#) && body.contains(r#""version":2"#),
        "{body}"
    );
    let resp = f
        .router
        .handle_batch(fifo_event(&[("v2", group.clone(), body)]), None)
        .await
        .unwrap();
    assert_eq!(failures(&resp), Vec::<String>::new());
    assert_eq!(intents(&f.oanda).len(), 1);
    assert!(dlq.messages().is_empty());
    // Version 1 with the null, as the build before wrote it: routed too.
    let mut old = signal("oanda-eurusd-long.json", 2);
    old.alert.price_data.volume = None;
    old.version = 1;
    let (_, group, body) = record("v1", &old);
    let resp = f
        .router
        .handle_batch(fifo_event(&[("v1", group, body)]), None)
        .await
        .unwrap();
    assert_eq!(failures(&resp), Vec::<String>::new());
    assert_eq!(intents(&f.oanda).len(), 2);
    assert!(dlq.messages().is_empty());
    // With a volume, the version a router of version 1 reads.
    let gbp = signal("oanda-eurusd-long.json", 1);
    assert_eq!(
        shared::message::SignalMessage::version_of(&gbp.alert),
        shared::message::SIGNAL_VERSION
    );
}

/// With a dead-letter queue, a body that is not a signal goes there at once under its own
/// message id, and the signals behind it in its group go on; retried until the queue's
/// redrive, it held them back, and they reached their own redrive unrun. A newer version is
/// still retried (a deployment in progress clears it).
#[tokio::test]
async fn an_unreadable_body_is_dead_lettered_at_once_and_its_group_goes_on() {
    shared::telemetry::init_test_logs();
    let clock = shared::clock::ManualClock::new(now());
    let dlq: Queue =
        std::sync::Arc::new(test_kit::fifo::MemoryFifoQueue::new("signals-dlq", clock));
    let f = fixture_at(RoutingTable::embedded(), now(), Some(dlq.clone()));
    let eur = signal("oanda-eurusd-long.json", 0);
    let mut wrong_version = signal("coinbase-btcusd-short.json", 5);
    wrong_version.version = 99;
    let poison = r#"{"version":1,"foo":1}"#;
    let batch = fifo_event(&[
        ("p1", "EURUSD".into(), poison.into()),
        record("p2", &eur),
        record("p4", &wrong_version),
    ]);
    let resp = f.router.handle_batch(batch, None).await.unwrap();
    assert_eq!(failures(&resp), ["p4"]);
    let letters = dlq.messages();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (letters[0].body.as_str(), letters[0].group_id.as_str()),
        (poison, "EURUSD")
    );
    assert_eq!(letters[0].dedup_id, "poison-p1");
    let eur_sent: Vec<_> = intents(&f.oanda).into_iter().map(|i| i.2).collect();
    assert_eq!(eur_sent, [Action::LongEntry]);
}

/// A newer version's signal whose shape this build cannot read (a new action) is named by its
/// version, as the executors name theirs, not "not a signal": a deployment in progress, not a
/// corrupt body.
#[tokio::test]
async fn a_newer_shape_is_named_by_its_version() {
    shared::telemetry::init_test_logs();
    let f = fixture(RoutingTable::embedded());
    let mut v = serde_json::to_value(signal("oanda-eurusd-long.json", 0)).unwrap();
    v["version"] = serde_json::json!(3);
    v["alert"]["action"] = serde_json::json!("SCALE_IN");
    let batch = fifo_event(&[("n1", "EURUSD".into(), v.to_string())]);
    let (resp, errors) = f
        .router
        .handle_batch_with_errors(batch, None)
        .await
        .unwrap();
    assert_eq!(failures(&resp), ["n1"]);
    assert!(errors[0].1.contains("version 3"), "{errors:?}");
    assert!(intents(&f.oanda).is_empty());
    // A dead letter of that shape is named the same way by the replay tools.
    let err = shared::replay::DeadLetter::parse(&v.to_string()).unwrap_err();
    assert!(err.contains("version 3"), "{err}");
}

#[tokio::test]
async fn records_are_not_started_past_the_deadline_margin() {
    shared::telemetry::init_test_logs();
    let f = fixture(RoutingTable::embedded());
    let eur = signal("oanda-eurusd-long.json", 0);
    let btc = signal("coinbase-btcusd-long.json", 0);
    #[allow(
        clippy::disallowed_methods,
        reason = "a Lambda-style deadline is a wall-clock instant"
    )]
    let deadline = std::time::SystemTime::now() + std::time::Duration::from_millis(500);
    let resp = f
        .router
        .handle_batch(
            fifo_event(&[record("d1", &eur), record("d2", &btc)]),
            Some(deadline),
        )
        .await
        .unwrap();
    assert_eq!(failures(&resp), ["d1", "d2"]);
    // Not started: nothing routed (a record routed, then reported failed, would be sent again).
    assert!(intents(&f.oanda).is_empty() && intents(&f.coinbase).is_empty());
}

#[tokio::test]
async fn a_record_without_message_id_fails_the_whole_batch() {
    shared::telemetry::init_test_logs();
    let f = fixture(RoutingTable::embedded());
    let mut ev = fifo_event(&[record("x1", &signal("oanda-eurusd-long.json", 0))]);
    ev.records[0].message_id = None;
    assert!(f.router.handle_batch(ev, None).await.is_err());
}

#[tokio::test]
async fn continuous_futures_reach_the_executor_resolved_with_their_rule() {
    shared::telemetry::init_test_logs();
    let f = fixture(RoutingTable::embedded());
    let (router, queues) = (&f.router, &f);
    let cl = signal("tradovate-cl-short.json", 0);
    router
        .handle_batch(fifo_event(&[record("c1", &cl)]), None)
        .await
        .unwrap();
    let msgs = queues.tradovate.messages();
    let intent: OrderIntent = serde_json::from_str(&msgs[0].body).unwrap();
    assert_eq!(intent.instrument.as_str(), "CLF7");
    let res = intent.contract.unwrap();
    assert_eq!(
        (res.requested.as_str(), res.contract.as_str()),
        ("CL1!", "CLF7")
    );
    assert_eq!(intent.reference_price.to_string(), "68.42");
    assert_eq!(intent.signal_time, cl.alert.market_data.timenow);
}

/// `ES1!` goes to the contract the market-data front months name where one is trusted, and
/// to the roll rule's otherwise; each difference is counted.
#[tokio::test]
async fn a_continuous_symbol_follows_the_cached_front_month_and_falls_back_to_the_roll_rule() {
    use shared::front_month::{FrontMonth, FrontMonthCache, MemoryFrontMonths};
    shared::telemetry::init_test_logs();
    let cache = std::sync::Arc::new(MemoryFrontMonths::default());
    let mut f = fixture(RoutingTable::embedded());
    f.router = f
        .router
        .with_front_months(cache.clone(), chrono::Duration::minutes(5));
    let mut es = signal("tradovate-es-long.json", 0);
    es.alert.market_data.symbol = "ES1!".into();

    // Nothing cached: the roll rule's December contract.
    let resp = f
        .router
        .handle_batch(fifo_event(&[record("m1", &es)]), None)
        .await
        .unwrap();
    assert_eq!(failures(&resp), Vec::<String>::new());
    assert_eq!(intents(&f.tradovate)[0].1, "ESZ6");
    // Grouped by root: the roll's two contracts never execute at once.
    assert_eq!(intents(&f.tradovate)[0].0, "ES");
    assert_eq!(f.router.disagreements(), 0);

    // Volume moved to March; the cache is read again after its refresh interval.
    let front = FrontMonth {
        root: "ES".into(),
        contract: "ESH7".into(),
        as_of: now(),
    };
    cache
        .put(&front, now() + chrono::Duration::days(1))
        .await
        .unwrap();
    let f2 = {
        let mut f2 = fixture(RoutingTable::embedded());
        f2.router = f2
            .router
            .with_front_months(cache.clone(), chrono::Duration::minutes(5));
        f2
    };
    let mut es2 = signal("tradovate-es-long.json", 1);
    es2.alert.market_data.symbol = "ES1!".into();
    f2.router
        .handle_batch(fifo_event(&[record("m2", &es2)]), None)
        .await
        .unwrap();
    assert_eq!(intents(&f2.tradovate)[0].1, "ESH7");
    assert_eq!(intents(&f2.tradovate)[0].0, "ES");
    assert_eq!(f2.router.disagreements(), 1);

    // An answer too old to trust: the roll rule's December again, where no router has
    // traded March yet (a cache of its own: in this one ES1! is held at March).
    let stale = FrontMonth {
        as_of: now() - chrono::Duration::days(3),
        ..front
    };
    let fresh_cache = std::sync::Arc::new(MemoryFrontMonths::default());
    fresh_cache
        .put(&stale, now() + chrono::Duration::days(1))
        .await
        .unwrap();
    let f3 = {
        let mut f3 = fixture(RoutingTable::embedded());
        f3.router = f3
            .router
            .with_front_months(fresh_cache, chrono::Duration::minutes(5));
        f3
    };
    f3.router
        .handle_batch(fifo_event(&[record("m3", &es2)]), None)
        .await
        .unwrap();
    assert_eq!(intents(&f3.tradovate)[0].1, "ESZ6");
    // In the shared cache the stale answer leaves the roll rule's December, held at March.
    cache
        .put(&stale, now() + chrono::Duration::days(1))
        .await
        .unwrap();
    let f4 = {
        let mut f4 = fixture(RoutingTable::embedded());
        f4.router = f4
            .router
            .with_front_months(cache, chrono::Duration::minutes(5));
        f4
    };
    f4.router
        .handle_batch(fifo_event(&[record("m4", &es2)]), None)
        .await
        .unwrap();
    assert_eq!(intents(&f4.tradovate)[0].1, "ESH7");
}

/// Two routers whose copies of the front-month cache were read minutes apart: one has
/// already sent `ES1!` to March (ESH7), the other still holds the December answer. The
/// second never sends `ES1!` back to ESZ6: the executor rolls an earlier contract into a
/// later one, never the reverse, so the account would end long one contract and short the
/// other. It trades ESH7, says why, and a cache that cannot be written fails the record
/// (retried) rather than routing blind.
#[tokio::test]
async fn a_continuous_symbol_never_goes_back_to_an_earlier_contract_another_router_left() {
    use shared::front_month::{FrontMonth, FrontMonthCache, MemoryFrontMonths};
    shared::telemetry::init_test_logs();
    let cache = std::sync::Arc::new(MemoryFrontMonths::default());
    let es = |n: i64| {
        let mut s = signal("tradovate-es-long.json", n);
        s.alert.market_data.symbol = "ES1!".into();
        s
    };
    let with_cache = || {
        let mut f = fixture(RoutingTable::embedded());
        f.router = f
            .router
            .with_front_months(cache.clone(), chrono::Duration::minutes(5));
        f
    };
    let december = FrontMonth {
        root: "ES".into(),
        contract: "ESZ6".into(),
        as_of: now(),
    };
    cache
        .put(&december, now() + chrono::Duration::days(1))
        .await
        .unwrap();
    // Router B reads the cache now: December.
    let b = with_cache();
    b.router
        .handle_batch(fifo_event(&[record("b1", &es(0))]), None)
        .await
        .unwrap();
    assert_eq!(intents(&b.tradovate)[0].1, "ESZ6");

    // Volume moves to March; router A, started since, reads it and trades ESH7.
    let march = FrontMonth {
        contract: "ESH7".into(),
        ..december
    };
    cache
        .put(&march, now() + chrono::Duration::days(1))
        .await
        .unwrap();
    let a = with_cache();
    a.router
        .handle_batch(fifo_event(&[record("a1", &es(1))]), None)
        .await
        .unwrap();
    assert_eq!(intents(&a.tradovate)[0].1, "ESH7");

    // Router B's copy is still December's (its refresh is 5 minutes): held at March.
    let resp = b
        .router
        .handle_batch(fifo_event(&[record("b2", &es(2))]), None)
        .await
        .unwrap();
    assert_eq!(failures(&resp), Vec::<String>::new());
    let sent = b.tradovate.messages();
    let intent: OrderIntent = serde_json::from_str(&sent[1].body).unwrap();
    assert_eq!(intent.instrument.as_str(), "ESH7");
    let resolution = intent.contract.unwrap();
    assert_eq!(resolution.contract, "ESH7");
    assert!(
        resolution.rule.contains("held at ESH7"),
        "{}",
        resolution.rule
    );
}

/// The hold is one conditional write; a cache that cannot be written fails the record.
#[tokio::test]
async fn a_continuous_symbol_is_not_routed_when_its_contract_cannot_be_held() {
    use shared::front_month::{BoxFuture, FrontMonth, FrontMonthCache, Routed};
    use shared::ports::StoreError;
    struct ReadOnly;
    impl FrontMonthCache for ReadOnly {
        fn put<'a>(
            &'a self,
            _: &'a FrontMonth,
            _: chrono::DateTime<chrono::Utc>,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            Box::pin(async { Ok(()) })
        }
        fn all(
            &self,
            _: chrono::DateTime<chrono::Utc>,
        ) -> BoxFuture<'_, Result<Vec<FrontMonth>, StoreError>> {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn hold_forward<'a>(
            &'a self,
            _: &'a str,
            _: Routed<'a>,
        ) -> BoxFuture<'a, Result<String, StoreError>> {
            Box::pin(async {
                Err(StoreError {
                    reason: "front month hold: throttled".into(),
                })
            })
        }
    }
    shared::telemetry::init_test_logs();
    let mut f = fixture(RoutingTable::embedded());
    f.router = f
        .router
        .with_front_months(std::sync::Arc::new(ReadOnly), chrono::Duration::minutes(5));
    let mut es = signal("tradovate-es-long.json", 0);
    es.alert.market_data.symbol = "ES1!".into();
    let eur = signal("oanda-eurusd-long.json", 0);
    let resp = f
        .router
        .handle_batch(fifo_event(&[record("m1", &es), record("m2", &eur)]), None)
        .await
        .unwrap();
    assert_eq!(failures(&resp), ["m1"]);
    assert!(intents(&f.tradovate).is_empty());
    assert_eq!(intents(&f.oanda).len(), 1, "other symbols are not held up");
}

/// A record whose calls do not answer (a front-month hold that hangs) is cut before the
/// invocation's deadline, less the margin, and reported failed with the records after it,
/// so the batch answers in time rather than timing out as a whole.
#[tokio::test]
async fn a_record_that_hangs_is_cut_before_the_deadline_and_the_batch_answers() {
    use shared::front_month::{BoxFuture, FrontMonth, FrontMonthCache, Routed};
    use shared::ports::StoreError;
    struct Hangs;
    impl FrontMonthCache for Hangs {
        fn put<'a>(
            &'a self,
            _: &'a FrontMonth,
            _: chrono::DateTime<chrono::Utc>,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            Box::pin(async { Ok(()) })
        }
        fn all(
            &self,
            _: chrono::DateTime<chrono::Utc>,
        ) -> BoxFuture<'_, Result<Vec<FrontMonth>, StoreError>> {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn hold_forward<'a>(
            &'a self,
            _: &'a str,
            _: Routed<'a>,
        ) -> BoxFuture<'a, Result<String, StoreError>> {
            Box::pin(std::future::pending())
        }
    }
    shared::telemetry::init_test_logs();
    let mut f = fixture(RoutingTable::embedded());
    f.router = f
        .router
        .with_front_months(std::sync::Arc::new(Hangs), chrono::Duration::minutes(5));
    let mut es = signal("tradovate-es-long.json", 0);
    es.alert.market_data.symbol = "ES1!".into();
    let eur = signal("oanda-eurusd-long.json", 0);
    #[allow(
        clippy::disallowed_methods,
        reason = "a Lambda-style deadline is a wall-clock instant"
    )]
    let deadline = std::time::SystemTime::now() + std::time::Duration::from_millis(3_000);
    let batch = f.router.handle_batch_with_errors(
        fifo_event(&[record("m1", &es), record("m2", &eur)]),
        Some(deadline),
    );
    // Bounded: without the cut the hold never answers.
    let (resp, errors) = tokio::time::timeout(std::time::Duration::from_secs(20), batch)
        .await
        .expect("the batch answered")
        .unwrap();
    assert_eq!(failures(&resp), ["m1", "m2"]);
    assert!(
        errors[0].1.contains("before the invocation's deadline"),
        "{errors:?}"
    );
    assert!(
        fifo_batch::time_left(deadline) > std::time::Duration::from_millis(500),
        "the batch answered with the margin left"
    );
    assert!(intents(&f.tradovate).is_empty() && intents(&f.oanda).is_empty());
}

/// An exit of an explicit contract past its roll date (a table that rolls ES on the 1st of the
/// month before, none giving a last trading day) reaches the executor, so a position held in
/// it can be closed; an entry of it is acknowledged without an intent.
#[tokio::test]
async fn an_exit_of_an_explicit_contract_past_its_roll_date_is_routed_and_an_entry_is_not() {
    shared::telemetry::init_test_logs();
    let table = RoutingTable::from_toml(
        r#"
delayed_suffixes = []
[exchanges]
CME_MINI = "tradovate"
[oanda]
quote_currencies = ["USD"]
[coinbase]
quote_currencies = ["USD"]
[futures.ES]
months = "HMUZ"
roll_day = 1
roll_months_before = 1
"#,
    )
    .unwrap();
    let clock = shared::clock::ManualClock::new(now());
    let dlq: Queue =
        std::sync::Arc::new(test_kit::fifo::MemoryFifoQueue::new("signals-dlq", clock));
    let f = fixture_at(table, now(), Some(dlq.clone()));
    let mut exit = signal("tradovate-es-long.json", 0);
    exit.alert.market_data.symbol = "ESZ6".into();
    exit.alert.action = Action::LongExit;
    let mut entry = signal("tradovate-es-long.json", 1);
    entry.alert.market_data.symbol = "ESZ6".into();
    entry.alert.action = Action::LongEntry;
    let resp = f
        .router
        .handle_batch(
            fifo_event(&[record("x1", &exit), record("x2", &entry)]),
            None,
        )
        .await
        .unwrap();
    // Both acknowledged: the entry's refusal is terminal, not retried; it is kept in the
    // dead-letter queue.
    assert_eq!(failures(&resp), Vec::<String>::new());
    assert_eq!(
        intents(&f.tradovate),
        [("ES".to_owned(), "ESZ6".to_owned(), Action::LongExit)]
    );
    assert_eq!(dlq.messages().len(), 1);
    assert_eq!(
        dlq.messages()[0].dedup_id,
        format!("{}-x2", entry.signal_id)
    );
}

#[tokio::test]
async fn a_signal_that_no_longer_routes_goes_to_the_dead_letter_queue_and_its_batch_goes_on() {
    shared::telemetry::init_test_logs();
    let clock = shared::clock::ManualClock::new(now());
    let dlq: Queue =
        std::sync::Arc::new(test_kit::fifo::MemoryFifoQueue::new("signals-dlq", clock));
    let f = fixture_at(table_without_oanda(), now(), Some(dlq.clone()));
    let eur = signal("oanda-eurusd-long.json", 0);
    let btc = signal("coinbase-btcusd-long.json", 0);
    let (eur_record, btc_record) = (record("r1", &eur), record("r2", &btc));
    let resp = f
        .router
        .handle_batch(fifo_event(&[eur_record.clone(), btc_record]), None)
        .await
        .unwrap();
    assert_eq!(failures(&resp), Vec::<String>::new());
    // The signal as it came, under its symbol's group: `tvctl dlq` lists and replays it.
    let letters = dlq.messages();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].body, eur_record.2);
    assert_eq!(letters[0].group_id, eur.group_id());
    // Its message's id: a redelivery of the same message is deduplicated, a replay is not.
    assert_eq!(letters[0].dedup_id, format!("{}-r1", eur.signal_id));
    assert_eq!(
        shared::replay::DeadLetter::parse(&letters[0].body)
            .unwrap()
            .signal_id(),
        &eur.signal_id
    );
    assert_eq!(intents(&f.oanda), []);
    assert_eq!(intents(&f.coinbase).len(), 1);
    // A letter of another version (a newer deployment's shape) is not replayed by this build,
    // which would write it out again without what the newer shape added; nor is an intent.
    let newer = |body: &str| {
        let mut v: serde_json::Value = serde_json::from_str(body).unwrap();
        v["version"] = serde_json::json!(3);
        v["added_later"] = serde_json::json!("kept by version 3");
        v.to_string()
    };
    let err = shared::replay::DeadLetter::parse(&newer(&letters[0].body)).unwrap_err();
    assert!(err.contains("a signal of version 3"), "{err}");
    // Still described (`tvctl dlq list` names its signal), only not replayed.
    let described = shared::replay::DeadLetter::read(&newer(&letters[0].body)).unwrap();
    assert_eq!(described.signal_id(), &eur.signal_id);
    let body = f.coinbase.messages().remove(0).body;
    assert!(shared::replay::DeadLetter::parse(&body).is_ok());
    let err = shared::replay::DeadLetter::parse(&newer(&body)).unwrap_err();
    assert!(err.contains("an order intent of version 3"), "{err}");
}

#[tokio::test]
async fn a_signal_that_no_longer_routes_is_retried_when_the_dead_letter_queue_refuses_it() {
    shared::telemetry::init_test_logs();
    let clock = shared::clock::ManualClock::new(now());
    let dlq: Queue =
        std::sync::Arc::new(test_kit::fifo::MemoryFifoQueue::new("signals-dlq", clock));
    let eur = signal("oanda-eurusd-long.json", 0);
    dlq.fail_group(&eur.group_id(), 1);
    let f = fixture_at(table_without_oanda(), now(), Some(dlq.clone()));
    let resp = f
        .router
        .handle_batch(fifo_event(&[record("r1", &eur)]), None)
        .await
        .unwrap();
    // Acknowledged, it would be lost: nothing journaled, nothing queued.
    assert_eq!(failures(&resp), ["r1"]);
    assert!(dlq.messages().is_empty());
}

#[tokio::test]
async fn an_entry_ingest_accepted_before_its_contract_rolled_is_routed_as_of_its_receipt() {
    shared::telemetry::init_test_logs();
    // ESZ6 rolls at 2026-12-12 00:00 UTC in the shipped table: ingest accepted the entry at
    // 23:59:58, the router takes it 3 s later.
    let received: chrono::DateTime<chrono::Utc> = "2026-12-11T23:59:58Z".parse().unwrap();
    let mut es = signal("tradovate-es-long.json", 0);
    es.alert.market_data.symbol = "ESZ6".into();
    es.alert.market_data.timenow = received - chrono::Duration::seconds(1);
    es.received_at = received;
    es.enqueued_at = received;
    let clock = shared::clock::ManualClock::new(now());
    let dlq: Queue =
        std::sync::Arc::new(test_kit::fifo::MemoryFifoQueue::new("signals-dlq", clock));
    let f = fixture_at(
        RoutingTable::embedded(),
        received + chrono::Duration::seconds(3),
        Some(dlq.clone()),
    );
    // As of now the table refuses it (the check the router made before).
    assert!(
        RoutingTable::embedded()
            .route_for(
                "CME_MINI",
                "ESZ6",
                received + chrono::Duration::seconds(3),
                &shared::front_month::Fronts::new(),
                shared::routing::Use::of(Action::LongEntry),
            )
            .is_err()
    );
    let resp = f
        .router
        .handle_batch(fifo_event(&[record("r1", &es)]), None)
        .await
        .unwrap();
    assert_eq!(failures(&resp), Vec::<String>::new());
    let sent: Vec<OrderIntent> = f
        .tradovate
        .messages()
        .iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].instrument.as_str(), "ESZ6");
    assert!(dlq.messages().is_empty());
    // A forced replay is sent now, by the operator: routed as of now, so refused (and
    // dead-lettered again) rather than sent to the contract the table has rolled from.
    es.replay_forced = true;
    let resp = f
        .router
        .handle_batch(fifo_event(&[record("r2", &es)]), None)
        .await
        .unwrap();
    assert_eq!(failures(&resp), Vec::<String>::new());
    assert_eq!(f.tradovate.messages().len(), 1);
    assert_eq!(dlq.messages().len(), 1);
}
