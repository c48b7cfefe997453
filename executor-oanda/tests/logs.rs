//! Log capture runs alone in this test binary (tracing caches callsite interest per process).
//! It drives the noisy paths (unknown outcome, lookup, resend, reject) and checks that the
//! bearer token never reaches a log line, and that lines about a signal carry its id.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::Value;
use shared::Action;
use shared::telemetry::{CapturedLogs, json_subscriber};
use support::fake_oanda::Fault;
use support::{harness, intent};

#[tokio::test]
async fn no_token_in_logs_and_every_signal_line_carries_the_signal_id() {
    let logs = CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(json_subscriber(logs.clone()));
    let h = harness().await;
    // The lines the signals write start here.
    let signals_start = logs.text().lines().count();
    h.fake.set_position("EUR_USD", 0, -1000);
    h.fake.script(Fault::ErrorAfterCreate);
    h.fake.script(Fault::ErrorBeforeCreate);
    let i = intent(Action::LongEntry, 1);
    h.executor.execute(&i).await.unwrap();
    h.fake.script(Fault::Reject("INSUFFICIENT_MARGIN"));
    h.executor
        .execute(&intent(Action::ShortEntry, 2))
        .await
        .unwrap();

    let text = logs.text();
    assert!(
        !text.contains(&h.fake.token),
        "the OANDA token reached the logs"
    );
    assert!(
        !text.contains("Bearer"),
        "an Authorization header reached the logs"
    );
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let about_orders: Vec<_> = lines.iter().filter(|l| l.get("leg").is_some()).collect();
    assert!(about_orders.len() >= 2, "expected lookup lines:\n{text}");
    // Every line written while the signals executed (all of this test's lines but the
    // harness's own, written before), not only those about a leg: a signal's own lines
    // ("signal not executed") and its HTTP client's too.
    let first = signals_start;
    assert!(lines.len() - first > about_orders.len(), "{text}");
    assert!(
        lines[first..]
            .iter()
            .any(|l| l["message"] == "signal not executed"),
        "{text}"
    );
    for line in &lines[first..] {
        assert!(
            line["span"]["signal_id"].as_str().is_some(),
            "line without signal id: {line}"
        );
    }
    let client = format!("{:?}", h.executor.venue);
    assert!(!client.contains(&h.fake.token));
}
