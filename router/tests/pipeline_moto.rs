//! The first two hops end to end against a real moto server: the ingest Lambda handler posts
//! to an SQS FIFO `signals` queue, the router handler is fed what moto delivers (as the
//! Lambda event source mapping would), and its intents land in the broker FIFO queues.
//! Requires `MOTO_ENDPOINT` (set by `scripts/test.sh`).
#![allow(clippy::unwrap_used)]

use aws_adapters::SqsFifoQueue;
use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use chrono::{DateTime, Duration, Utc};
use ingest::Ingest;
use router::{BrokerQueues, Router};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::alert::Freshness;
use shared::clock::ManualClock;
use shared::message::{OrderIntent, SignalMessage};
use shared::ports::{FifoMessage, FifoQueue, QueueError};
use shared::{Action, RoutingTable};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use test_kit::moto::{self, sqs};

mod common;

const SECRET: &str = "pipeline-secret-0123456789";

fn now() -> DateTime<Utc> {
    "2026-11-23T14:32:02Z".parse().unwrap()
}

/// A FIFO queue whose received messages stay hidden for 60 s.
async fn create_fifo(client: &aws_sdk_sqs::Client, name: &str) -> String {
    let visibility = (QueueAttributeName::VisibilityTimeout, "60".to_owned());
    moto::fifo_queue_with(client, name, [visibility]).await
}

fn alert_body(name: &str, offset_secs: i64, action: Option<(&str, &str)>) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/tests/alerts")
        .join(name);
    let mut doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let t: DateTime<Utc> = doc["market_data"]["timenow"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    doc["market_data"]["timenow"] = json!((t + Duration::seconds(offset_secs)).to_rfc3339());
    if let Some((action, direction)) = action {
        doc["action"] = json!(action);
        doc["signal"]["direction"] = json!(direction);
    }
    doc["passphrase"] = json!(SECRET);
    doc.to_string()
}

/// The ingest handler on the shipped routing table, queueing to the FIFO queue at `url`.
fn ingest_to(
    client: &aws_sdk_sqs::Client,
    url: &str,
    clock: &ManualClock,
) -> Ingest<SqsFifoQueue, ManualClock> {
    Ingest::new(
        SqsFifoQueue::new(client.clone(), url),
        clock.clone(),
        &SecretString::from(SECRET),
        Freshness::default(),
        None,
        RoutingTable::embedded(),
    )
}

/// A REST API proxy event around `body`, from the fixture the ingest tests use.
fn webhook_event(body: &str) -> lambda_http::Request {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ingest/tests/fixtures/apigw-rest-request.json");
    let mut ev: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    ev["path"] = json!("/webhook");
    ev["resource"] = json!("/webhook");
    ev["pathParameters"] = Value::Null;
    ev["headers"]["Content-Type"] = json!("text/plain; charset=utf-8");
    ev["multiValueHeaders"]["Content-Type"] = json!(["text/plain; charset=utf-8"]);
    ev["requestContext"]["path"] = json!("/prod/webhook");
    ev["body"] = json!(body);
    lambda_http::request::from_str(&ev.to_string()).unwrap()
}

/// Wraps a real queue; the first `n` sends for a group fail as an outage would.
struct FailFirst<Q> {
    inner: Q,
    left: Mutex<HashMap<String, usize>>,
}

impl<Q: FifoQueue> FifoQueue for FailFirst<Q> {
    async fn send(&self, message: FifoMessage) -> Result<(), QueueError> {
        let fail = {
            let mut left = self.left.lock().unwrap();
            match left.get_mut(&message.group_id) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            }
        };
        if fail {
            return Err(QueueError::Unavailable {
                queue: "tradovate".into(),
                reason: "injected outage".into(),
            });
        }
        self.inner.send(message).await
    }
}

fn healthy<Q>(inner: Q) -> FailFirst<Q> {
    FailFirst {
        inner,
        left: Mutex::new(HashMap::new()),
    }
}

struct Received {
    message_id: String,
    receipt: String,
    group: String,
    dedup: String,
    receive_count: String,
    body: String,
}

async fn receive_all(client: &aws_sdk_sqs::Client, url: &str, expected: usize) -> Vec<Received> {
    let mut out = Vec::new();
    for _ in 0..10 {
        if out.len() >= expected {
            break;
        }
        let got = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        for m in got.messages.unwrap_or_default() {
            let attrs = m.attributes.unwrap_or_default();
            let attr = |k: &str| {
                attrs
                    .get(&MessageSystemAttributeName::from(k))
                    .cloned()
                    .unwrap_or_default()
            };
            out.push(Received {
                group: attr("MessageGroupId"),
                dedup: attr("MessageDeduplicationId"),
                receive_count: attr("ApproximateReceiveCount"),
                message_id: m.message_id.unwrap(),
                receipt: m.receipt_handle.unwrap(),
                body: m.body.unwrap(),
            });
        }
    }
    out
}

/// What the Lambda event source mapping would hand the router for these messages.
fn as_sqs_event(messages: &[Received], queue_arn: &str) -> SqsEvent {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt,
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": m.receive_count,
                    "MessageGroupId": m.group,
                    "MessageDeduplicationId": m.dedup,
                    "SentTimestamp": "1763908320000",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn failed_ids(resp: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<String> {
    serde_json::to_value(resp).unwrap()["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

fn intents(messages: &[Received]) -> Vec<(String, Action)> {
    messages
        .iter()
        .map(|m| {
            let intent: OrderIntent = serde_json::from_str(&m.body).unwrap();
            // The instrument, but a futures contract's root at Tradovate (ESZ6 → ES), and
            let name = intent.instrument.as_str();
            // A Coinbase product's coin (BTC-USD → BTC).
            let group = match intent.broker {
                shared::routing::Broker::Tradovate => &name[..name.len() - 2],
                shared::routing::Broker::Coinbase => name.split('-').next().unwrap_or(name),
                _ => name,
            };
            assert_eq!(m.group, group);
            assert_eq!(m.dedup, intent.signal_id.as_str());
            (intent.instrument.to_string(), intent.action)
        })
        .collect()
}

#[tokio::test]
async fn alerts_flow_from_webhook_through_signals_to_broker_queues_in_group_order() {
    shared::telemetry::init_test_logs();
    let client = sqs().await;
    let signals_url = create_fifo(&client, "signals").await;
    let oanda_url = create_fifo(&client, "oanda").await;
    let tradovate_url = create_fifo(&client, "tradovate").await;
    let coinbase_url = create_fifo(&client, "coinbase").await;

    let clock = ManualClock::new(now());
    let ingest = ingest_to(&client, &signals_url, &clock);
    let posts = [
        ("eur-long", alert_body("oanda-eurusd-long.json", 0, None)),
        ("es-long", alert_body("tradovate-es-long.json", 0, None)),
        ("eur-short", alert_body("oanda-eurusd-short.json", 1, None)),
        ("btc-long", alert_body("coinbase-btcusd-long.json", 0, None)),
        (
            "es-short",
            alert_body("tradovate-es-long.json", 1, Some(("SHORT_ENTRY", "SHORT"))),
        ),
        // TradingView resends the very same body after a slow answer.
        (
            "eur-long resent",
            alert_body("oanda-eurusd-long.json", 0, None),
        ),
    ];
    let mut ids = HashMap::new();
    for (name, body) in &posts {
        let resp = ingest::lambda::serve(&ingest, webhook_event(body))
            .await
            .unwrap();
        let reply: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        assert_eq!(resp.status(), 200, "{name}: {reply}");
        ids.insert(*name, reply["signal_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids["eur-long"], ids["eur-long resent"]);

    // The resend was deduplicated by SQS on the SignalId: five signals, not six.
    let batch = receive_all(&client, &signals_url, 5).await;
    let seen: Vec<_> = batch
        .iter()
        .map(|m| (m.group.as_str(), m.dedup.as_str()))
        .collect();
    assert_eq!(batch.len(), 5, "{seen:?}");
    let order_in =
        |group: &str| -> Vec<&str> { seen.iter().filter(|s| s.0 == group).map(|s| s.1).collect() };
    assert_eq!(
        order_in("EURUSD"),
        [ids["eur-long"].as_str(), ids["eur-short"].as_str()]
    );
    assert_eq!(
        order_in("ES1!"),
        [ids["es-long"].as_str(), ids["es-short"].as_str()]
    );
    for m in &batch {
        let signal: SignalMessage = serde_json::from_str(&m.body).unwrap();
        assert_eq!(signal.signal_id.as_str(), m.dedup);
        assert!(!m.body.contains(SECRET));
    }

    // The tradovate queue is down for the first send: ES fails, and its second record with it.
    let tradovate = FailFirst {
        inner: SqsFifoQueue::new(client.clone(), &tradovate_url),
        left: Mutex::new(HashMap::from([("ES".to_owned(), 1)])),
    };
    let router = Router::new(
        BrokerQueues {
            oanda: healthy(SqsFifoQueue::new(client.clone(), &oanda_url)),
            tradovate,
            coinbase: healthy(SqsFifoQueue::new(client.clone(), &coinbase_url)),
        },
        RoutingTable::embedded(),
        clock.clone(),
    );
    let arn = "arn:aws:sqs:us-east-1:123456789012:signals.fifo";
    let resp = router
        .handle_batch(as_sqs_event(&batch, arn), None)
        .await
        .unwrap();
    let failed = failed_ids(&resp);
    let es_ids: Vec<_> = batch
        .iter()
        .filter(|m| m.group == "ES1!")
        .map(|m| m.message_id.clone())
        .collect();
    assert_eq!(failed, es_ids);

    // What a FIFO event source mapping does with the answer: delete the successes, and make
    // the failures visible again (explicitly: moto's visibility-timeout path reorders groups).
    for m in &batch {
        if failed.contains(&m.message_id) {
            client
                .change_message_visibility()
                .queue_url(&signals_url)
                .receipt_handle(&m.receipt)
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
        } else {
            client
                .delete_message()
                .queue_url(&signals_url)
                .receipt_handle(&m.receipt)
                .send()
                .await
                .unwrap();
        }
    }

    let redelivered = receive_all(&client, &signals_url, 2).await;
    let again: Vec<_> = redelivered
        .iter()
        .map(|m| (m.message_id.clone(), m.receive_count.clone()))
        .collect();
    assert_eq!(
        again,
        es_ids
            .iter()
            .map(|id| (id.clone(), "2".to_owned()))
            .collect::<Vec<_>>()
    );
    let resp = router
        .handle_batch(as_sqs_event(&redelivered, arn), None)
        .await
        .unwrap();
    assert_eq!(failed_ids(&resp), Vec::<String>::new());
    for m in &redelivered {
        client
            .delete_message()
            .queue_url(&signals_url)
            .receipt_handle(&m.receipt)
            .send()
            .await
            .unwrap();
    }
    assert!(receive_all(&client, &signals_url, 1).await.is_empty());

    let oanda = intents(&receive_all(&client, &oanda_url, 2).await);
    assert_eq!(
        oanda,
        [
            ("EUR_USD".into(), Action::LongEntry),
            ("EUR_USD".into(), Action::ShortEntry)
        ]
    );
    let futures = receive_all(&client, &tradovate_url, 2).await;
    // A futures root is one group: a roll's two contracts never execute at once.
    assert!(futures.iter().all(|m| m.group == "ES"));
    let futures = intents(&futures);
    assert_eq!(
        futures,
        [
            ("ESZ6".into(), Action::LongEntry),
            ("ESZ6".into(), Action::ShortEntry)
        ]
    );
    let crypto = receive_all(&client, &coinbase_url, 1).await;
    // A coin is one group: two products of it (BTC-USD, BTC-USDC) read and sell one wallet
    // balance, so their signals never execute at once.
    assert!(crypto.iter().all(|m| m.group == "BTC"));
    let crypto = intents(&crypto);
    assert_eq!(crypto, [("BTC-USD".into(), Action::LongEntry)]);
}

#[tokio::test]
async fn a_signal_the_table_no_longer_routes_lands_in_the_signals_dead_letter_queue() {
    shared::telemetry::init_test_logs();
    let client = sqs().await;
    let signals_url = create_fifo(&client, "nr-signals").await;
    let dlq_url = create_fifo(&client, "nr-signals-dlq").await;
    let oanda_url = create_fifo(&client, "nr-oanda").await;
    let tradovate_url = create_fifo(&client, "nr-tradovate").await;
    let coinbase_url = create_fifo(&client, "nr-coinbase").await;
    let clock = ManualClock::new(now());
    let ingest = ingest_to(&client, &signals_url, &clock);
    let body = alert_body("oanda-eurusd-long.json", 0, None);
    let resp = ingest::lambda::serve(&ingest, webhook_event(&body))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let reply: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    // Deployed again meanwhile, with OANDA out of the table.
    let table = common::table_without_oanda();
    let router = Router::new(
        BrokerQueues {
            oanda: SqsFifoQueue::new(client.clone(), &oanda_url),
            tradovate: SqsFifoQueue::new(client.clone(), &tradovate_url),
            coinbase: SqsFifoQueue::new(client.clone(), &coinbase_url),
        },
        table,
        clock.clone(),
    )
    .with_dead_letters(std::sync::Arc::new(SqsFifoQueue::new(
        client.clone(),
        &dlq_url,
    )));
    let batch = receive_all(&client, &signals_url, 1).await;
    assert_eq!(batch.len(), 1);
    let resp = router
        .handle_batch(
            as_sqs_event(&batch, "arn:aws:sqs:us-east-1:123456789012:nr-signals.fifo"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(failed_ids(&resp), Vec::<String>::new());
    let letters = receive_all(&client, &dlq_url, 1).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].group, "EURUSD");
    assert_eq!(letters[0].body, batch[0].body);
    let letter = shared::replay::DeadLetter::parse(&letters[0].body).unwrap();
    assert_eq!(
        letter.signal_id().as_str(),
        reply["signal_id"].as_str().unwrap()
    );
    assert!(receive_all(&client, &oanda_url, 0).await.is_empty());
}
