//! Log capture runs alone in this test binary: tracing caches per-callsite interest
//! process-wide, so a capturing subscriber must not race other tests' threads.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;
use shared::telemetry::{CapturedLogs, json_subscriber};

#[tokio::test]
async fn a_signal_that_no_longer_routes_without_a_dead_letter_queue_is_logged_refused_and_failed() {
    // The table changed after ingest: OANDA is gone.
    let f = fixture(table_without_oanda());
    let logs = CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(json_subscriber(logs.clone()));
    let eur = signal("oanda-eurusd-long.json", 0);
    let btc = signal("coinbase-btcusd-long.json", 0);
    let resp = f
        .router
        .handle_batch(fifo_event(&[record("r1", &eur), record("r2", &btc)]), None)
        .await
        .unwrap();
    // Acknowledged, it would be lost: failed, the queue's redrive policy keeps it. The
    // other broker's signal, of another group, is routed.
    assert_eq!(failures(&resp), vec!["r1".to_owned()]);
    assert_eq!(intents(&f.coinbase).len(), 1);
    let refused: Vec<Value> = logs
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &Value| l["outcome"] == "refused")
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["code"], "unknown_exchange");
    assert_eq!(refused[0]["span"]["signal_id"], eur.signal_id.as_str());
}
