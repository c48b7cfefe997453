//! Log capture runs alone in this test binary: tracing caches per-callsite interest
//! process-wide, so a capturing subscriber must not race other tests' threads.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Event, SECRET, alert_with_passphrase, ingest, send};
use serde_json::Value;
use shared::telemetry::{CapturedLogs, json_subscriber};

#[tokio::test]
async fn logs_are_json_carry_the_signal_id_and_never_the_secret() {
    let logs = CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(json_subscriber(logs.clone()));
    let (ingest, _, _) = ingest();
    let body = alert_with_passphrase("oanda-eurusd-long.json", SECRET);
    let (_, ok) = send(&ingest, Event::post("/webhook", body).rest()).await;
    let wrong = alert_with_passphrase("oanda-eurusd-long.json", "tv-secret-9999999999");
    send(&ingest, Event::post("/webhook", wrong).rest()).await;
    send(
        &ingest,
        Event::post(&format!("/webhook/{SECRET}x"), "{}").rest(),
    )
    .await;
    send(
        &ingest,
        Event::post(&format!("/webhook/{SECRET}"), "{").rest(),
    )
    .await;

    let text = logs.text();
    assert!(
        !text.contains("tv-secret"),
        "a secret reached the logs:\n{text}"
    );
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let enqueued = lines
        .iter()
        .find(|l| l["message"] == "alert enqueued")
        .unwrap();
    assert_eq!(enqueued["span"]["signal_id"], ok["signal_id"]);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["reason"] == "wrong_secret")
            .count(),
        2
    );
}
