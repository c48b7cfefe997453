//! Helpers shared by this crate's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::path::PathBuf;

pub fn alert_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/alerts")
        .join(name)
}

pub fn sample(name: &str) -> Vec<u8> {
    std::fs::read(alert_path(name)).unwrap()
}

pub fn sample_json(name: &str) -> Value {
    serde_json::from_slice(&sample(name)).unwrap()
}

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

/// One second after the samples' `timenow`.
pub fn sample_now() -> DateTime<Utc> {
    at("2026-11-23T14:32:01Z")
}
