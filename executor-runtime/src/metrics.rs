//! CloudWatch embedded metric format: one JSON line per executed signal, which Lambda's log
//! pipeline turns into metrics without an API call on the hot path.

use chrono::{DateTime, Utc};
use serde_json::json;
use shared::outcome::Outcome;
use shared::routing::Broker;
use std::io::Write;
use std::sync::Mutex;

/// The CloudWatch namespace of every metric line; the CDK dashboard and alarms read the same
/// name (`METRIC_NAMESPACE` in `cdk/lib/common.ts`).
pub const NAMESPACE: &str = "TvPipeline";

/// Where embedded-metric lines go: stdout in Lambda, memory in tests
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>).
pub trait MetricsSink: Send + Sync {
    /// Takes one EMF JSON document, without a trailing newline. Infallible on purpose: a
    /// metric that cannot be written must not fail a trade.
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
    /// The lines emitted so far, oldest first, parsed as JSON; a line that is not JSON is
    /// left out.
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

/// One executed signal as an embedded-metric line. Only what the deployed dashboard and alarms
/// read is a metric, because each metric (name × dimension values) is billed monthly:
/// `Signals` by `Broker` and `Outcome` (the outcome mix, and the heartbeat alarm on `filled`),
/// and `SignalToExecutorMs` and `BrokerMs` by `Broker` alone. The two middle stages
/// (`ReceivedToExecutorMs`, `RoutedToExecutorMs`) stay on the line as plain properties,
/// searchable in CloudWatch Logs Insights at no metric cost.
pub fn outcome_line(
    broker: Broker,
    outcome: Outcome,
    lat: StageLatencies,
    at: DateTime<Utc>,
) -> String {
    let mut latency_metrics = Vec::new();
    let mut doc = json!({
        "Broker": broker.as_str(),
        "Outcome": serde_json::to_value(outcome).unwrap_or_default(),
        "Signals": 1,
    });
    let fields = [
        ("SignalToExecutorMs", lat.signal_to_executor_ms, true),
        ("ReceivedToExecutorMs", lat.received_to_executor_ms, false),
        ("RoutedToExecutorMs", lat.routed_to_executor_ms, false),
        ("BrokerMs", lat.broker_ms, true),
    ];
    for (name, value, metric) in fields {
        if let Some(v) = value {
            if metric {
                latency_metrics.push(json!({"Name": name, "Unit": "Milliseconds"}));
            }
            doc[name] = json!(v);
        }
    }
    let mut directives = vec![json!({
        "Namespace": NAMESPACE,
        "Dimensions": [["Broker", "Outcome"]],
        "Metrics": [{"Name": "Signals", "Unit": "Count"}],
    })];
    if !latency_metrics.is_empty() {
        directives.push(json!({
            "Namespace": NAMESPACE,
            "Dimensions": [["Broker"]],
            "Metrics": latency_metrics,
        }));
    }
    doc["_aws"] = json!({
        "Timestamp": at.timestamp_millis(),
        "CloudWatchMetrics": directives,
    });
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_signals_carries_the_outcome_and_only_two_latencies_are_metrics() {
        let at: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let line = outcome_line(
            Broker::Oanda,
            Outcome::Filled,
            StageLatencies {
                signal_to_executor_ms: Some(900),
                received_to_executor_ms: Some(400),
                routed_to_executor_ms: Some(120),
                broker_ms: Some(85),
            },
            at,
        );
        let doc: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        assert_eq!(doc["Broker"], "oanda");
        assert_eq!(doc["Outcome"], "filled");
        assert_eq!(doc["RoutedToExecutorMs"], 120, "kept as a property");
        let directives = doc["_aws"]["CloudWatchMetrics"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let names = |d: &serde_json::Value| -> Vec<String> {
            d["Metrics"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| m["Name"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        assert_eq!(directives.len(), 2);
        assert_eq!(directives[0]["Dimensions"], json!([["Broker", "Outcome"]]));
        assert_eq!(names(&directives[0]), ["Signals"]);
        assert_eq!(directives[1]["Dimensions"], json!([["Broker"]]));
        assert_eq!(names(&directives[1]), ["SignalToExecutorMs", "BrokerMs"]);

        // A refusal has no broker time: the latency directive carries only what exists.
        let refused = outcome_line(
            Broker::Oanda,
            Outcome::Refused,
            StageLatencies {
                signal_to_executor_ms: Some(700),
                ..StageLatencies::default()
            },
            at,
        );
        let doc: serde_json::Value = serde_json::from_str(&refused).unwrap_or_default();
        assert_eq!(
            names(&doc["_aws"]["CloudWatchMetrics"][1]),
            ["SignalToExecutorMs"]
        );
    }
}
