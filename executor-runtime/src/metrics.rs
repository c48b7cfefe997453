//! CloudWatch embedded metric format: one JSON line per executed signal, which Lambda's log
//! pipeline turns into metrics without an API call on the hot path.

use chrono::{DateTime, Utc};
use serde_json::json;
use shared::outcome::Outcome;
use shared::routing::Broker;
use std::io::Write;
use std::sync::Mutex;

pub const NAMESPACE: &str = "TvPipeline";

pub trait MetricsSink: Send + Sync {
    fn emit(&self, line: String);
}

/// Writes to stdout, where Lambda collects EMF lines.
#[derive(Debug, Default)]
pub struct StdoutMetrics;

impl MetricsSink for StdoutMetrics {
    fn emit(&self, line: String) {
        let mut out = std::io::stdout().lock();
        // Metrics are best effort: a closed stdout must not fail a trade.
        let _ = writeln!(out, "{line}");
    }
}

/// Keeps lines in memory, for tests.
#[derive(Debug, Default)]
pub struct CapturedMetrics(Mutex<Vec<String>>);

impl CapturedMetrics {
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl MetricsSink for CapturedMetrics {
    fn emit(&self, line: String) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }
}

/// Latencies of one signal's stages, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageLatencies {
    /// Alert fired (`timenow`) → executor start.
    pub signal_to_executor_ms: Option<i64>,
    /// Ingest received → executor start.
    pub received_to_executor_ms: Option<i64>,
    /// Router → executor start.
    pub routed_to_executor_ms: Option<i64>,
    /// First order sent → last order acknowledged.
    pub broker_ms: Option<i64>,
}

pub fn outcome_line(
    broker: Broker,
    outcome: Outcome,
    lat: StageLatencies,
    at: DateTime<Utc>,
) -> String {
    let mut metrics = vec![json!({"Name": "Signals", "Unit": "Count"})];
    let mut doc = json!({
        "Broker": broker.as_str(),
        "Outcome": serde_json::to_value(outcome).unwrap_or_default(),
        "Signals": 1,
    });
    let fields = [
        ("SignalToExecutorMs", lat.signal_to_executor_ms),
        ("ReceivedToExecutorMs", lat.received_to_executor_ms),
        ("RoutedToExecutorMs", lat.routed_to_executor_ms),
        ("BrokerMs", lat.broker_ms),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            metrics.push(json!({"Name": name, "Unit": "Milliseconds"}));
            doc[name] = json!(v);
        }
    }
    doc["_aws"] = json!({
        "Timestamp": at.timestamp_millis(),
        "CloudWatchMetrics": [{
            "Namespace": NAMESPACE,
            "Dimensions": [["Broker", "Outcome"]],
            "Metrics": metrics,
        }],
    });
    doc.to_string()
}
