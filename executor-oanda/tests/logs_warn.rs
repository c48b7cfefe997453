//! Log capture at the level `tvctl dev` writes by default (warnings and errors), alone in this
//! test binary (tracing caches callsite interest per process): a line about a signal names
//! the signal even when the span's own level is filtered out.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::Value;
use shared::Action;
use shared::telemetry::{CapturedLogs, json_subscriber_at};
use support::fake_oanda::Fault;
use support::{harness, intent};

#[tokio::test]
async fn at_warn_level_a_signal_line_carries_the_signal_id() {
    let logs = CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(json_subscriber_at(logs.clone(), "warn"));
    let h = harness().await;
    h.fake.script(Fault::Reject("INSUFFICIENT_MARGIN"));
    let i = intent(Action::LongEntry, 1);
    h.executor.execute(&i).await.unwrap();
    let text = logs.text();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let not_executed: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "signal not executed")
        .collect();
    assert_eq!(not_executed.len(), 1, "{text}");
    assert_eq!(
        not_executed[0]["span"]["signal_id"].as_str(),
        Some(i.signal_id.as_str()),
        "{text}"
    );
}
