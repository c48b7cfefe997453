//! A transient failure comes back within seconds, inside the signal's staleness budget, in
//! message-group order, against a real moto server (`MOTO_ENDPOINT`, set by
//! `scripts/test.sh`). The queues keep the deployed visibility timeouts (180 s for the
//! signals queue, 360 s for a broker queue), so a record that came back before them came back
//! because the consumer shortened its visibility ([`aws_adapters::AfterBatch`]).
//!
//! Two hops, each failing once: the router cannot reach the broker queue, then the executor's
//! journal write fails after the paper broker filled the order. Both retries succeed, the
//! later signal of the group runs after the earlier one, nothing expires, and the order that
//! was filled before the journal failure is reconciled, not sent again.
#![allow(clippy::unwrap_used)]

use aws_adapters::{AfterBatch, SqsFifoQueue};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use chrono::Duration;
use executor_runtime::killswitch::StaticKillSwitch;
use executor_runtime::metrics::CapturedMetrics;
use executor_runtime::paper::PaperNetting;
use executor_runtime::processor::{Executor, ExecutorSettings};
use executor_runtime::risk::RiskConfig;
use ingest::Ingest;
use router::{BrokerQueues, Router};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::RoutingTable;
use shared::alert::Freshness;
use shared::clock::Clock as _;
use shared::clock::SystemClock;
use shared::execution::SignalStatus;
use shared::memory::{MemoryIdempotencyStore, MemoryJournal, MemoryNotifier};
use shared::ports::{FifoMessage, FifoQueue, QueueError};
use shared::routing::Broker;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;
use test_kit::moto::{self, sqs};

const SECRET: &str = "retry-secret-0123456789abc";

/// A FIFO queue with the visibility timeout of its deployed twin.
async fn create_fifo(client: &aws_sdk_sqs::Client, name: &str, visibility_secs: u32) -> String {
    let visibility = (
        QueueAttributeName::VisibilityTimeout,
        visibility_secs.to_string(),
    );
    moto::fifo_queue_with(client, name, [visibility]).await
}

/// The ES alert fixture at `timenow` = now − `ago_ms`, long or short.
fn es_alert(ago_ms: i64, short: bool) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/tests/alerts/tradovate-es-long.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    doc["market_data"]["timenow"] =
        json!((shared::clock::SystemClock.now() - Duration::milliseconds(ago_ms)).to_rfc3339());
    if short {
        doc["action"] = json!("SHORT_ENTRY");
        doc["signal"]["direction"] = json!("SHORT");
    }
    doc["passphrase"] = json!(SECRET);
    doc.to_string()
}

/// Fails the first `n` sends, as an unreachable queue would.
struct FailFirst<Q> {
    inner: Q,
    left: AtomicU32,
}

impl<Q: FifoQueue> FifoQueue for FailFirst<Q> {
    async fn send(&self, message: FifoMessage) -> Result<(), QueueError> {
        if self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(QueueError::Unavailable {
                queue: "tradovate".into(),
                reason: "injected outage".into(),
            });
        }
        self.inner.send(message).await
    }
}

/// One receive as the Lambda event source mapping would deliver it (empty when nothing is
/// visible).
async fn receive(client: &aws_sdk_sqs::Client, url: &str) -> SqsEvent {
    let got = client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let records: Vec<Value> = got
        .messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            let attrs = m.attributes.unwrap_or_default();
            let attr = |k: &str| {
                attrs
                    .get(&MessageSystemAttributeName::from(k))
                    .cloned()
                    .unwrap_or_default()
            };
            json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": attr("ApproximateReceiveCount"),
                    "MessageGroupId": attr("MessageGroupId"),
                    "MessageDeduplicationId": attr("MessageDeduplicationId"),
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

/// Receives until something is visible, for at most 20 s (a bounded loop); how long it took.
async fn receive_within(
    client: &aws_sdk_sqs::Client,
    url: &str,
) -> (SqsEvent, std::time::Duration) {
    let start = Instant::now();
    for _ in 0..80 {
        let ev = receive(client, url).await;
        if !ev.records.is_empty() {
            return (ev, start.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("nothing came back within 20 s");
}

/// Waits until no message of the queue is in flight (moto's `ApproximateNumberOfMessagesNotVisible`
/// counts by visibility time), for at most 20 s; how long that took. Then makes those
/// messages receivable in group order: moto drops a message from its in-flight set only when
/// its receive loop reaches it, so two timed-out messages of one group come back with the
/// later one first (real SQS keeps the group's order). Setting the visibility of the
/// now-visible messages to 0 clears that bookkeeping without changing when they came back.
async fn wait_visible(
    client: &aws_sdk_sqs::Client,
    url: &str,
    in_flight: &SqsEvent,
) -> std::time::Duration {
    let start = Instant::now();
    for _ in 0..80 {
        let attrs = client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let not_visible = attrs
            .attributes
            .unwrap_or_default()
            .get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .cloned()
            .unwrap_or_default();
        if not_visible == "0" {
            let waited = start.elapsed();
            for r in &in_flight.records {
                let _ = client
                    .change_message_visibility()
                    .queue_url(url)
                    .receipt_handle(r.receipt_handle.as_deref().unwrap())
                    .visibility_timeout(0)
                    .send()
                    .await;
            }
            return waited;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("messages still in flight after 20 s");
}

/// What the event source mapping does with the response: deletes the records not reported
/// failed. The failed ones stay in flight; only the consumer's `AfterBatch` shortens that.
async fn settle(client: &aws_sdk_sqs::Client, url: &str, ev: &SqsEvent, resp: &SqsBatchResponse) {
    for r in &ev.records {
        let id = r.message_id.as_deref().unwrap();
        if !resp
            .batch_item_failures
            .iter()
            .any(|f| f.item_identifier == id)
        {
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(r.receipt_handle.as_deref().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

fn dedup_ids(ev: &SqsEvent) -> Vec<String> {
    ev.records
        .iter()
        .map(|r| r.attributes["MessageDeduplicationId"].clone())
        .collect()
}

#[tokio::test]
async fn a_failed_record_comes_back_within_seconds_in_group_order_and_nothing_expires() {
    shared::telemetry::init_test_logs();
    let client = sqs().await;
    let signals_url = create_fifo(&client, "retry-signals", 180).await;
    let oanda_url = create_fifo(&client, "retry-oanda", 360).await;
    let tradovate_url = create_fifo(&client, "retry-tradovate", 360).await;
    let coinbase_url = create_fifo(&client, "retry-coinbase", 360).await;

    let ingest = Ingest::new(
        SqsFifoQueue::new(client.clone(), &signals_url),
        SystemClock,
        &SecretString::from(SECRET),
        Freshness::default(),
        None,
        RoutingTable::embedded(),
    );
    let mut ids = Vec::new();
    for body in [es_alert(1500, false), es_alert(1000, true)] {
        let reply = ingest
            .handle(ingest::WebhookRequest {
                method: "POST",
                path: "/webhook",
                source_ip: None,
                body: body.as_bytes(),
            })
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        ids.push(reply.body["signal_id"].as_str().unwrap().to_owned());
    }

    // ---- router: the tradovate queue is unreachable for the first send ----
    let router = Router::new(
        BrokerQueues {
            oanda: FailFirst {
                inner: SqsFifoQueue::new(client.clone(), &oanda_url),
                left: AtomicU32::new(0),
            },
            tradovate: FailFirst {
                inner: SqsFifoQueue::new(client.clone(), &tradovate_url),
                left: AtomicU32::new(1),
            },
            coinbase: FailFirst {
                inner: SqsFifoQueue::new(client.clone(), &coinbase_url),
                left: AtomicU32::new(0),
            },
        },
        RoutingTable::embedded(),
        SystemClock,
    );
    let router_after = AfterBatch::new(client.clone(), Some(signals_url.clone()), "router");
    let (first, _) = receive_within(&client, &signals_url).await;
    assert_eq!(dedup_ids(&first), ids);
    let resp = router.handle_batch(first.clone(), None).await.unwrap();
    assert_eq!(
        resp.batch_item_failures.len(),
        2,
        "both ES records come back"
    );
    settle(&client, &signals_url, &first, &resp).await;
    router_after
        .run(
            &first,
            &resp,
            shared::clock::SystemClock.now().timestamp_millis(),
            None,
        )
        .await;

    let waited = wait_visible(&client, &signals_url, &first).await;
    let (again, _) = receive_within(&client, &signals_url).await;
    assert!(
        waited < std::time::Duration::from_secs(10),
        "came back after {waited:?}, not after the 180 s visibility timeout"
    );
    // The failed record first, then the later signal of its group, each received again.
    assert_eq!(dedup_ids(&again), ids);
    assert!(
        again
            .records
            .iter()
            .all(|r| r.attributes["ApproximateReceiveCount"] == "2")
    );
    let resp = router.handle_batch(again.clone(), None).await.unwrap();
    assert!(resp.batch_item_failures.is_empty());
    settle(&client, &signals_url, &again, &resp).await;

    // ---- executor: the journal fails once, after the paper broker filled the order ----
    let paper = Arc::new(PaperNetting::new(Broker::Tradovate, "paper-retry"));
    let journal = Arc::new(MemoryJournal::default());
    let executor = Executor {
        dead_letters: None,
        venue: paper.clone(),
        store: Arc::new(MemoryIdempotencyStore::default()),
        journal: journal.clone(),
        notifier: Arc::new(MemoryNotifier::default()),
        kill_switch: StaticKillSwitch(false),
        clock: SystemClock,
        metrics: Arc::new(CapturedMetrics::default()),
        settings: ExecutorSettings {
            max_age: Duration::seconds(30),
            // The deployed lease: far longer than the retry delays.
            lease: Duration::seconds(60),
            send_margin: shared::ports::HAND_OVER_SKEW,
            record_ttl: Duration::days(1),
            // The Tradovate executor's own cap: one ES (about 300,000 USD at the fixture's
            // close, point value 50) is over the 250,000 of a configuration without one.
            risk: RiskConfig::from_toml(
                "default_size = 1\ndefault_max_position = 5\nmax_notional = \"500000\"",
            )
            .unwrap(),
            notify_fills: false,
        },
    };
    let executor_after = AfterBatch::new(
        client.clone(),
        Some(tradovate_url.clone()),
        "executor-tradovate",
    );
    let (intents, _) = receive_within(&client, &tradovate_url).await;
    assert_eq!(dedup_ids(&intents), ids);
    journal.set_down(true);
    let resp = executor.handle_batch(intents.clone(), None).await.unwrap();
    journal.set_down(false);
    assert_eq!(resp.batch_item_failures.len(), 2);
    assert_eq!(
        paper.orders(),
        1,
        "the long was filled before the journal failed"
    );
    settle(&client, &tradovate_url, &intents, &resp).await;
    executor_after
        .run(
            &intents,
            &resp,
            shared::clock::SystemClock.now().timestamp_millis(),
            None,
        )
        .await;

    let waited = wait_visible(&client, &tradovate_url, &intents).await;
    let (again, _) = receive_within(&client, &tradovate_url).await;
    assert!(
        waited < std::time::Duration::from_secs(10),
        "came back after {waited:?}, not after the 360 s visibility timeout"
    );
    assert_eq!(dedup_ids(&again), ids);
    let resp = executor.handle_batch(again.clone(), None).await.unwrap();
    assert!(resp.batch_item_failures.is_empty(), "{resp:?}");
    settle(&client, &tradovate_url, &again, &resp).await;

    // The long was reconciled (no second order), then the short reversed it: one contract
    // short in the end, and both signals filled inside their 30 s budget.
    assert_eq!(
        paper.positions().values().copied().collect::<Vec<_>>(),
        [(-1).into()]
    );
    for id in &ids {
        let record = journal
            .all_signals()
            .into_iter()
            .find(|s| s.signal_id.as_str() == id)
            .unwrap();
        assert_eq!(
            record.status,
            SignalStatus::Filled,
            "{id}: {:?}",
            record.reason
        );
    }
    let orders = journal.all_orders();
    let long_orders = orders
        .iter()
        .filter(|o| o.signal_id.as_str() == ids[0])
        .count();
    assert_eq!(long_orders, 1, "{orders:?}");
}
