//! `POST /local/dlq/replay`: a dead letter goes back to its queue as it was kept, and the
//! request names only which letter: a body of the caller's is never queued.
#![allow(clippy::unwrap_used)]

mod common;

use shared::clock::Clock as _;
use shared::execution::{SignalStatus, TradeJournal};
use shared::ports::FifoMessage;

/// A signal dead-lettered from the signals queue, as the router's queue would keep it.
fn dead_signal() -> (shared::SignalId, FifoMessage) {
    let body = common::alert("oanda-eurusd-long", local_stack::LOCAL_SECRET);
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
