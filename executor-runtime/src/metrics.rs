//! CloudWatch embedded metric format: one JSON line per executed signal, which Lambda's log
//! pipeline turns into metrics without an API call on the hot path.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::outcome::Outcome;
use shared::routing::Broker;
use std::io::Write;
use std::sync::Mutex;

/// The CloudWatch namespace of every metric line ([`shared::telemetry::METRIC_NAMESPACE`]).
pub const NAMESPACE: &str = shared::telemetry::METRIC_NAMESPACE;

/// Where embedded-metric lines go: stdout in Lambda, memory in tests
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>).
pub trait MetricsSink: Send + Sync {
    /// Takes one EMF JSON document, without a trailing newline. Infallible on purpose: a
    /// metric that cannot be written must not fail a trade.
    fn emit(&self, line: String);

    /// Whether lines are kept at all. A sink that drops them answers `false`, and the
    /// executor spares building one per signal.
    fn keeps(&self) -> bool {
        true
    }
}

/// Drops every line: for the local stack and the simulation, whose consoles and reports say
/// the same thing.
#[derive(Debug, Default)]
pub struct DiscardMetrics;

impl MetricsSink for DiscardMetrics {
    fn emit(&self, _line: String) {}

    fn keeps(&self) -> bool {
        false
    }
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
    const MS: &str = "Milliseconds";
    let latency_metrics: Vec<MetricName> = [
        ("SignalToExecutorMs", lat.signal_to_executor_ms),
        ("BrokerMs", lat.broker_ms),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_some())
    .map(|(name, _)| MetricName { name, unit: MS })
    .collect();
    let mut directives = vec![Directive {
        namespace: NAMESPACE,
        dimensions: &[&["Broker", "Outcome"]],
        metrics: vec![MetricName {
            name: "Signals",
            unit: "Count",
        }],
    }];
    if !latency_metrics.is_empty() {
        directives.push(Directive {
            namespace: NAMESPACE,
            dimensions: &[&["Broker"]],
            metrics: latency_metrics,
        });
    }
    let doc = OutcomeLine {
        broker: broker.as_str(),
        outcome,
        signals: 1,
        signal_to_executor_ms: lat.signal_to_executor_ms,
        received_to_executor_ms: lat.received_to_executor_ms,
        routed_to_executor_ms: lat.routed_to_executor_ms,
        broker_ms: lat.broker_ms,
        aws: Metadata {
            timestamp: at.timestamp_millis(),
            cloud_watch_metrics: directives,
        },
    };
    // Plain structs of strings and numbers: serializing cannot fail.
    serde_json::to_string(&doc).unwrap_or_default()
}

/// [`outcome_line`]'s document, written straight from these fields (a `json!` tree cost the
/// executor a tree of maps per signal).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct OutcomeLine {
    broker: &'static str,
    outcome: Outcome,
    signals: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    signal_to_executor_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    received_to_executor_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    routed_to_executor_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    broker_ms: Option<i64>,
    #[serde(rename = "_aws")]
    aws: Metadata,
}

/// The EMF `_aws` member.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Metadata {
    timestamp: i64,
    #[serde(rename = "CloudWatchMetrics")]
    cloud_watch_metrics: Vec<Directive>,
}

/// One metric directive: which members are metrics, and by which dimensions.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Directive {
    namespace: &'static str,
    dimensions: &'static [&'static [&'static str]],
    metrics: Vec<MetricName>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MetricName {
    name: &'static str,
    unit: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        assert_eq!(doc["ReceivedToExecutorMs"], 400);
        assert_eq!(doc["SignalToExecutorMs"], 900);
        assert_eq!(doc["BrokerMs"], 85);
        assert_eq!(doc["Signals"], 1);
        assert_eq!(doc["_aws"]["Timestamp"], at.timestamp_millis());
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "TvPipeline"
        );
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
        assert_eq!(doc["Outcome"], "refused");
        assert!(
            doc.get("BrokerMs").is_none(),
            "no null for a stage that did not happen"
        );
        assert_eq!(
            names(&doc["_aws"]["CloudWatchMetrics"][1]),
            ["SignalToExecutorMs"]
        );
    }
}
