//! Helpers for the router tests: signals as ingest queues them, SQS FIFO events built from
//! the real event fixture, and a router over in-memory queues.
#![allow(dead_code, clippy::unwrap_used)]

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Duration, Utc};
use router::{BrokerQueues, Router};
use serde_json::{Value, json};
use shared::alert::RawAlert;
use shared::clock::ManualClock;
use shared::message::{OrderIntent, SIGNAL_VERSION, SignalMessage};
use shared::{Action, RoutingTable};
use std::path::PathBuf;
use std::sync::Arc;
use test_kit::fifo::MemoryFifoQueue;

pub fn now() -> DateTime<Utc> {
    "2026-11-23T14:32:03Z".parse().unwrap()
}

pub fn sample(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/tests/alerts")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A signal as ingest would have queued it; `offset` makes each alert a distinct signal.
pub fn signal(name: &str, offset: i64) -> SignalMessage {
    let mut doc = sample(name);
    let t: DateTime<Utc> = doc["market_data"]["timenow"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    doc["market_data"]["timenow"] = json!((t + Duration::seconds(offset)).to_rfc3339());
    let valid = RawAlert::parse(doc.to_string().as_bytes())
        .unwrap()
        .validate()
        .unwrap();
    SignalMessage {
        version: SIGNAL_VERSION,
        signal_id: valid.signal_id,
        received_at: now(),
        enqueued_at: now(),
        alert: valid.alert,
        raw: valid.canonical,
        replay_forced: false,
    }
}

pub fn fifo_event(records: &[(&str, String, String)]) -> SqsEvent {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sqs-event.json");
    let mut ev: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let template = ev["Records"][0].clone();
    let mut out = Vec::new();
    for (i, (id, group, body)) in records.iter().enumerate() {
        let mut r = template.clone();
        r["messageId"] = json!(id);
        r["body"] = json!(body);
        r["eventSourceARN"] = json!("arn:aws:sqs:us-east-1:123456789012:signals.fifo");
        r["attributes"]["MessageGroupId"] = json!(group);
        r["attributes"]["MessageDeduplicationId"] = json!(format!("dedup-{id}"));
        r["attributes"]["SequenceNumber"] = json!(format!("{:020}", i + 1));
        r["attributes"]["ApproximateReceiveCount"] = json!("1");
        out.push(r);
    }
    ev["Records"] = Value::Array(out);
    serde_json::from_value(ev).unwrap()
}

pub fn record(id: &str, s: &SignalMessage) -> (&'static str, String, String) {
    (
        Box::leak(id.to_owned().into_boxed_str()),
        s.group_id(),
        serde_json::to_string(s).unwrap(),
    )
}

pub type Queue = Arc<MemoryFifoQueue<ManualClock>>;

pub struct Fixture {
    pub router: Router<Queue, ManualClock>,
    pub oanda: Queue,
    pub tradovate: Queue,
    pub coinbase: Queue,
}

pub fn fixture(table: RoutingTable) -> Fixture {
    fixture_at(table, now(), None)
}

/// A router whose clock reads `at`, sending signals that no longer route to `dead_letters`.
pub fn fixture_at(table: RoutingTable, at: DateTime<Utc>, dead_letters: Option<Queue>) -> Fixture {
    let clock = ManualClock::new(at);
    let q = |name: &str| Arc::new(MemoryFifoQueue::new(name, clock.clone()));
    let (oanda, tradovate, coinbase) = (q("oanda"), q("tradovate"), q("coinbase"));
    let queues = BrokerQueues {
        oanda: oanda.clone(),
        tradovate: tradovate.clone(),
        coinbase: coinbase.clone(),
    };
    let mut router = Router::new(queues, table, clock);
    if let Some(dlq) = dead_letters {
        router = router.with_dead_letters(Arc::new(dlq));
    }
    Fixture {
        router,
        oanda,
        tradovate,
        coinbase,
    }
}

pub fn failures(resp: &SqsBatchResponse) -> Vec<String> {
    let v = serde_json::to_value(resp).unwrap();
    v["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

pub fn intents(q: &MemoryFifoQueue<ManualClock>) -> Vec<(String, String, Action)> {
    q.messages()
        .into_iter()
        .map(|m| {
            let i: OrderIntent = serde_json::from_str(&m.body).unwrap();
            // The instrument, but a futures contract's root at Tradovate (ESZ6 → ES), and
            let name = i.instrument.as_str();
            // A Coinbase product's coin (BTC-USD → BTC).
            let group = match i.broker {
                shared::routing::Broker::Tradovate => &name[..name.len() - 2],
                shared::routing::Broker::Coinbase => name.split('-').next().unwrap_or(name),
                _ => name,
            };
            assert_eq!(m.group_id, group);
            assert_eq!(m.dedup_id, i.signal_id.as_str());
            (m.group_id, i.instrument.to_string(), i.action)
        })
        .collect()
}

/// The table after OANDA was taken out of it (a deployment while an OANDA signal was in
/// flight): an OANDA signal no longer routes, a Coinbase one still does.
pub fn table_without_oanda() -> RoutingTable {
    RoutingTable::from_toml(
        r#"
delayed_suffixes = []
[exchanges]
COINBASE = "coinbase"
[oanda]
quote_currencies = []
[coinbase]
quote_currencies = ["USD"]
"#,
    )
    .unwrap()
}
