//! `POST /local/dlq/replay`: a dead letter goes back to its queue as it was kept, and the
//! request names only which letter: a body of the caller's is never queued.
#![allow(clippy::unwrap_used)]

mod common;

use shared::clock::Clock as _;
use shared::execution::{SignalStatus, TradeJournal};
use shared::ports::FifoMessage;

/// A signal dead-lettered from the signals queue, as the router's queue would keep it.
fn dead_signal() -> (shared::SignalId, FifoMessage) {
    dead_signal_aged(0)
}

/// The same, for an alert fired `age_secs` ago.
fn dead_signal_aged(age_secs: i64) -> (shared::SignalId, FifoMessage) {
    let mut doc: serde_json::Value = serde_json::from_str(&common::alert(
        "oanda-eurusd-long",
        local_stack::LOCAL_SECRET,
    ))
    .unwrap();
    let t = (shared::clock::SystemClock.now() - chrono::Duration::seconds(age_secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    doc["market_data"]["timenow"] = serde_json::json!(t);
    doc["market_data"]["timestamp"] = serde_json::json!(t);
    let body = doc.to_string();
    let valid = shared::alert::RawAlert::parse(body.as_bytes())
        .unwrap()
        .validate()
        .unwrap();
    let now = shared::clock::SystemClock.now();
    let message = shared::message::SignalMessage {
        version: shared::message::SIGNAL_VERSION,
        signal_id: valid.signal_id.clone(),
        received_at: now,
        enqueued_at: now,
        alert: valid.alert,
        raw: valid.canonical,
        replay_forced: false,
    };
    (
        valid.signal_id,
        FifoMessage {
            group_id: message.group_id(),
            dedup_id: message.signal_id.to_string(),
            body: serde_json::to_string(&message).unwrap(),
        },
    )
}

#[tokio::test]
async fn a_replay_queues_the_kept_letter_and_never_a_body_of_the_callers() {
    let stack = common::start().await;
    let dlq = stack.stack.queues.signals.dead_letters().unwrap().clone();
    let (signal_id, letter) = dead_signal();
    assert!(dlq.try_send(letter).unwrap());
    let id = dlq.peek()[0].message_id.clone();
    let client = reqwest::Client::new();
    let url = format!("{}/local/dlq/replay", stack.base);

    // A request carrying a body (an edited order, say) is refused; the letter stays.
    let resp = client
        .post(&url)
        .json(&serde_json::json!({"queue": dlq.name(), "message_id": id,
            "body": "{\"edited\": true}", "dedup_id": "injected"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert_eq!(dlq.peek().len(), 1, "the letter is kept");

    // Named only, the letter is replayed as kept and executes once.
    let resp = client
        .post(&url)
        .json(&serde_json::json!({"queue": dlq.name(), "message_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(dlq.peek().is_empty());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let signal = stack.stack.journal.signal(&signal_id).await.unwrap();
        if signal
            .as_ref()
            .is_some_and(|s| s.status == SignalStatus::Filled)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replayed signal did not execute: {signal:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A letter that is neither a signal nor an order intent is not replayed, and stays.
#[tokio::test]
async fn an_unreadable_letter_is_kept() {
    let stack = common::start().await;
    let dlq = stack.stack.queues.oanda.dead_letters().unwrap().clone();
    assert!(
        dlq.try_send(FifoMessage {
            group_id: "EUR_USD".into(),
            dedup_id: "d".into(),
            body: "not json".into(),
        })
        .unwrap()
    );
    let id = dlq.peek()[0].message_id.clone();
    let resp = reqwest::Client::new()
        .post(format!("{}/local/dlq/replay", stack.base))
        .json(&serde_json::json!({"queue": dlq.name(), "message_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("the letter is kept"),
        "{v}"
    );
    assert_eq!(dlq.peek().len(), 1);
}

/// A letter past its staleness budget executes only when the replay is forced: unforced it is
/// refused and kept (sent back, it ended `expired`, the letter gone and the replay reported
/// done), forced it fills (the letter goes back marked `replay_forced`).
#[tokio::test]
async fn only_a_forced_replay_executes_a_stale_letter() {
    let stack = common::start().await;
    let dlq = stack.stack.queues.signals.dead_letters().unwrap().clone();
    let client = reqwest::Client::new();
    let url = format!("{}/local/dlq/replay", stack.base);
    let positions = || async {
        client
            .get(format!("{}/local/positions", stack.base))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let before = positions().await;
    // Ten minutes old.
    let (signal_id, letter) = dead_signal_aged(600);
    assert!(dlq.try_send(letter).unwrap());
    let id = dlq.peek()[0].message_id.clone();
    let resp = client
        .post(&url)
        .json(&serde_json::json!({"queue": dlq.name(), "message_id": id, "forced": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    let v: serde_json::Value = resp.json().await.unwrap();
    let error = v["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("the letter is kept") && error.contains("this stack's age limit"),
        "{v}"
    );
    assert_eq!(dlq.peek().len(), 1, "the letter is kept");
    assert_eq!(positions().await, before);
    let resp = client
        .post(&url)
        .json(&serde_json::json!({"queue": dlq.name(), "message_id": id, "forced": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        ended(&stack.stack.journal, &signal_id).await,
        SignalStatus::Filled
    );
    assert!(dlq.peek().is_empty());
    assert_ne!(positions().await, before, "the forced replay traded");
}

/// A plain (unforced) replay of a letter an earlier forced replay marked goes back unmarked:
/// older than a signal of its instrument taken since, it is superseded and trades nothing.
/// Sent back still marked forced, it was never superseded and traded the older signal as if
/// it were the latest, while the replay was reported unforced.
#[tokio::test]
async fn an_unforced_replay_of_a_letter_marked_forced_is_not_forced() {
    let stack = common::start().await;
    let dlq = stack.stack.queues.signals.dead_letters().unwrap().clone();
    // A long entry five seconds old (within the age limit), marked forced...
    let (signal_id, mut letter) = dead_signal_aged(5);
    let mut body: serde_json::Value = serde_json::from_str(&letter.body).unwrap();
    body["replay_forced"] = serde_json::Value::Bool(true);
    letter.body = body.to_string();
    // ...and a short entry of now, taken first.
    let (status, short) = common::post(&stack.base, "oanda-eurusd-short").await;
    assert_eq!(status, 200, "{short}");
    let short_id: shared::SignalId = serde_json::from_value(short["signal_id"].clone()).unwrap();
    assert_eq!(
        ended(&stack.stack.journal, &short_id).await,
        SignalStatus::Filled
    );
    assert!(dlq.try_send(letter).unwrap());
    let id = dlq.peek()[0].message_id.clone();
    let client = reqwest::Client::new();
    let positions = || async {
        client
            .get(format!("{}/local/positions", stack.base))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let before = positions().await;
    let resp = client
        .post(format!("{}/local/dlq/replay", stack.base))
        .json(&serde_json::json!({"queue": dlq.name(), "message_id": id, "forced": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        ended(&stack.stack.journal, &signal_id).await,
        SignalStatus::Superseded
    );
    assert_eq!(positions().await, before, "the short stands");
}

/// A look-up-only replay sends the letter back never marked forced, even one an earlier
/// forced replay marked so: stale, it ends without a fill.
#[tokio::test]
async fn a_lookup_only_replay_of_a_letter_marked_forced_does_not_trade_it() {
    let stack = common::start().await;
    let dlq = stack.stack.queues.signals.dead_letters().unwrap().clone();
    let (signal_id, mut letter) = dead_signal_aged(600);
    let mut body: serde_json::Value = serde_json::from_str(&letter.body).unwrap();
    body["replay_forced"] = serde_json::Value::Bool(true);
    letter.body = body.to_string();
    assert!(dlq.try_send(letter).unwrap());
    let id = dlq.peek()[0].message_id.clone();
    let resp = reqwest::Client::new()
        .post(format!("{}/local/dlq/replay", stack.base))
        .json(&serde_json::json!({"queue": dlq.name(), "message_id": id, "lookup_only": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        ended(&stack.stack.journal, &signal_id).await,
        SignalStatus::Expired
    );
}

/// A look-up-only replay of a letter younger than this stack's own age limit is refused and
/// the letter kept, whatever limit the caller judged it by: sent back unforced it could
/// still trade (the caller's `MAX_ALERT_AGE_SECS` below the stack's `--max-age-secs`).
#[tokio::test]
async fn a_lookup_only_replay_of_a_letter_within_the_stacks_age_limit_is_refused() {
    let stack = common::start().await;
    let dlq = stack.stack.queues.signals.dead_letters().unwrap().clone();
    // Five seconds old: within the stack's 30 s limit.
    let (signal_id, letter) = dead_signal_aged(5);
    assert!(dlq.try_send(letter).unwrap());
    let id = dlq.peek()[0].message_id.clone();
    let resp = reqwest::Client::new()
        .post(format!("{}/local/dlq/replay", stack.base))
        .json(&serde_json::json!({"queue": dlq.name(), "message_id": id, "lookup_only": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    let body: serde_json::Value = resp.json().await.unwrap();
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("the letter is kept") && error.contains("within the 30 s max age"),
        "{error}"
    );
    assert_eq!(dlq.peek().len(), 1, "the letter kept");
    assert!(
        stack
            .stack
            .journal
            .signal(&signal_id)
            .await
            .unwrap()
            .is_none(),
        "nothing ran"
    );
}

/// A letter whose orders went to another account than OANDA trades now (the stack
/// restarted on paper after a real account's order ended `unknown`) is kept, whatever the
/// replay: a look-up here reads the paper book, finds nothing, and journaled `expired` over
/// the `unknown`; forced, it traded the paper book (or, the other way round, the real one).
#[tokio::test]
async fn a_letter_of_another_account_is_not_replayed_here() {
    let stack = common::start().await;
    let dlq = stack.stack.queues.signals.dead_letters().unwrap().clone();
    let (signal_id, letter) = dead_signal_aged(600);
    let id = signal_id.to_string();
    let journaled: shared::execution::SignalRecord = serde_json::from_value(serde_json::json!({
        "signal_id": id, "raw": "{}", "normalized": {}, "symbol": "EURUSD",
        "exchange": "OANDA", "action": "LONG_ENTRY", "broker": "oanda",
        "instrument": "EUR_USD", "contract_resolution": null, "status": "unknown",
        "reason": "the order's answer was lost", "stages": {},
    }))
    .unwrap();
    let leg: shared::execution::OrderRecord = serde_json::from_value(serde_json::json!({
        "signal_id": id, "broker": "oanda", "account": "101-001-0000000-002",
        "instrument": "EUR_USD", "leg": "open", "attempt": 1,
        "client_order_id": shared::execution::ClientOrderId::new(
            &signal_id, shared::execution::Leg::Open).as_str(),
        "broker_order_id": null, "side": "buy", "quantity": "1000", "fill_price": null,
        "outcome": "unknown", "error": null, "sent_at": null, "acked_at": null,
    }))
    .unwrap();
    stack
        .stack
        .journal
        .record_execution(&journaled, &[leg])
        .await
        .unwrap();
    assert!(dlq.try_send(letter).unwrap());
    let message_id = dlq.peek()[0].message_id.clone();
    let client = reqwest::Client::new();
    for (forced, lookup_only) in [(false, true), (true, false)] {
        let resp = client
            .post(format!("{}/local/dlq/replay", stack.base))
            .json(&serde_json::json!({
                "queue": dlq.name(), "message_id": message_id,
                "forced": forced, "lookup_only": lookup_only,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 409);
        let v: serde_json::Value = resp.json().await.unwrap();
        let error = v["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("the letter is kept")
                && error.contains("101-001-0000000-002")
                && error.contains("paper-oanda"),
            "{v}"
        );
    }
    assert_eq!(dlq.peek().len(), 1, "the letter is kept");
    let status = stack
        .stack
        .journal
        .signal(&signal_id)
        .await
        .unwrap()
        .unwrap()
        .status;
    assert_eq!(status, SignalStatus::Unknown);
}

/// A signal's letter (not routed yet) is judged by the account of the broker the routing
/// table sends it to: Coinbase's account changed since says nothing of an OANDA signal, which
/// is replayed. It was refused (409) naming Coinbase, and the way round it (a restart on
/// Coinbase's old settings) was refused in turn.
#[tokio::test]
async fn a_signal_letter_is_judged_by_its_own_brokers_account_only() {
    shared::telemetry::init_test_logs();
    local_stack::console::set_quiet(true);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    let then = shared::clock::SystemClock.now() - chrono::Duration::minutes(10);
    {
        let store = local_store::LocalStore::open(&state).unwrap();
        for (broker, account) in [
            ("oanda", "paper-oanda"),
            ("tradovate", "paper-tradovate"),
            ("coinbase", "organizations/an-old-key at api.coinbase.com"),
        ] {
            store.note_broker_account(broker, account, then).unwrap();
        }
        store.commit().unwrap();
    }
    // Received before this start, while Coinbase traded the old key.
    let (signal_id, letter) = dead_signal();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let cfg = local_stack::LocalConfig {
        port: 0,
        journal_url: "sqlite::memory:".into(),
        secret: local_stack::LOCAL_SECRET.into(),
        state_path: Some(state),
        ..Default::default()
    };
    let stack = local_stack::start(
        cfg,
        &shared::config::MapEnv::new(Vec::<(String, String)>::new()),
    )
    .await
    .unwrap();
    let dlq = stack.queues.signals.dead_letters().unwrap().clone();
    assert!(dlq.try_send(letter).unwrap());
    let id = dlq.peek()[0].message_id.clone();
    let resp = reqwest::Client::new()
        .post(format!("http://{}/local/dlq/replay", stack.addr))
        .json(&serde_json::json!({"queue": dlq.name(), "message_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204, "{:?}", resp.text().await);
    assert_eq!(
        ended(&stack.journal, &signal_id).await,
        SignalStatus::Filled
    );
}

/// The status `signal_id` ends with in `journal`, waited for up to 10 s.
async fn ended<J: TradeJournal>(journal: &J, signal_id: &shared::SignalId) -> SignalStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let signal = journal.signal(signal_id).await.unwrap();
        if let Some(s) = signal.filter(|s| {
            !matches!(
                s.status,
                SignalStatus::Received | SignalStatus::Routed | SignalStatus::Executing
            )
        }) {
            return s.status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{signal_id}: no outcome"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// An executor dead-letters an unknown outcome itself, so the letter has no receive error:
/// the list shows the journal's status and reason for its signal, which the operator needs
/// before deciding on a replay.
#[tokio::test]
async fn a_listed_letter_without_an_error_shows_the_journaled_reason() {
    let stack = common::start().await;
    let dlq = stack.stack.queues.signals.dead_letters().unwrap().clone();
    let (signal_id, letter) = dead_signal();
    assert!(dlq.try_send(letter).unwrap());
    let list = |base: String| async move {
        let v: serde_json::Value = reqwest::get(format!("{base}/local/dlq?queue=signals-dlq.fifo"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v[0]["last_error"].clone()
    };
    assert_eq!(
        list(stack.base.clone()).await,
        serde_json::Value::Null,
        "no row yet"
    );
    stack
        .stack
        .journal
        .upsert_signal(&shared::execution::SignalRecord {
            signal_id,
            raw: "{}".into(),
            normalized: shared::execution::RawJson::of(&serde_json::json!({})),
            symbol: "EURUSD".into(),
            exchange: "OANDA".into(),
            action: "LONG_ENTRY".into(),
            broker: None,
            instrument: None,
            contract_resolution: None,
            status: SignalStatus::Unknown,
            reason: Some("OANDA answered 503 Service Unavailable; nothing found by lookup".into()),
            stages: shared::execution::StageTimes::default(),
        })
        .await
        .unwrap();
    assert_eq!(
        list(stack.base.clone()).await,
        "journaled unknown: OANDA answered 503 Service Unavailable; nothing found by lookup"
    );
}

/// `GET /local/settings` gives the alert age limit the stack holds, which `tvctl dlq replay
/// --local` judges a dead letter's age by, and the clock skew it allows (`tvctl status`).
#[tokio::test]
async fn the_settings_give_the_stacks_alert_age_limit() {
    local_stack::console::set_quiet(true);
    let cfg = local_stack::LocalConfig {
        port: 0,
        journal_url: "sqlite::memory:".into(),
        secret: local_stack::LOCAL_SECRET.into(),
        freshness: shared::alert::Freshness {
            max_age: chrono::Duration::seconds(120),
            max_skew: chrono::Duration::seconds(40),
        },
        ..Default::default()
    };
    let stack = local_stack::start(
        cfg,
        &shared::config::MapEnv::new(Vec::<(String, String)>::new()),
    )
    .await
    .unwrap();
    let v: serde_json::Value = reqwest::get(format!("http://{}/local/settings", stack.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v,
        serde_json::json!({"max_alert_age_secs": 120, "max_clock_skew_secs": 40})
    );
}
