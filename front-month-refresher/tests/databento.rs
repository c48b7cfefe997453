//! The refresher against a local HTTP server that answers Databento's documented
//! `POST /v0/symbology.resolve` (form fields `dataset`, `symbols`, `stype_in`, `stype_out`,
//! `start_date`, `end_date`; HTTP Basic auth with the API key as the user name; a JSON body
//! `{result: {symbol: [{d0, d1, s}]}, partial, not_found}`):
//! <https://databento.com/docs/api-reference-historical/symbology/symbology-resolve>.
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use front_month_refresher::{Databento, RefreshError, refresh};
use secrecy::SecretString;
use serde_json::json;
use shared::clock::ManualClock;
use shared::front_month::{FrontMonthCache, MemoryFrontMonths};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const KEY: &str = "db-test-key-0123456789abcdefghij";

#[derive(Default)]
struct Server {
    forms: Vec<HashMap<String, String>>,
    fail: bool,
    /// Answer 502 with a plain-text body echoing the request's headers (a debugging proxy).
    echo: bool,
}

type S = Arc<Mutex<Server>>;

fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let v = v.replace('+', " ").replace("%2C", ",").replace("%2c", ",");
            (k.to_owned(), v)
        })
        .collect()
}

async fn resolve(State(s): State<S>, headers: HeaderMap, body: String) -> Response {
    let mut s = s.lock().unwrap();
    // Basic auth: base64("<key>:").
    let expected = format!("Basic {}", base64_encode(format!("{KEY}:").as_bytes()));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"detail": "bad key"})),
        )
            .into_response();
    }
    if s.echo {
        let headers: String = headers
            .iter()
            .map(|(k, v)| format!("{k}: {}\n", v.to_str().unwrap_or("")))
            .collect();
        return (
            StatusCode::BAD_GATEWAY,
            format!(
                "upstream failed; request was:\n{headers}{}",
                "x".repeat(500)
            ),
        )
            .into_response();
    }
    let f = form(&body);
    s.forms.push(f.clone());
    if s.fail {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"detail": "unavailable"})),
        )
            .into_response();
    }
    let day = f.get("start_date").cloned().unwrap_or_default();
    let next = f.get("end_date").cloned().unwrap_or_default();
    let leader = |sym: &str| match sym {
        "ES.v.0" => Some("ESH7"),
        "NQ.v.0" => Some("NQZ6"),
        "CL.v.0" => Some("CLG7-CLH7"),
        // Intervals that do not cover the day asked for (2026-11-30): one that ended ten
        // days before, one that ended the Friday before a Monday.
        "GC.v.0" => Some("GCZ6"),
        "SI.v.0" => Some("SIH7"),
        _ => None,
    };
    let mut result = serde_json::Map::new();
    let mut not_found = Vec::new();
    for sym in f.get("symbols").cloned().unwrap_or_default().split(',') {
        match leader(sym) {
            Some(c) => {
                let (d0, d1) = match sym {
                    "GC.v.0" => ("2026-11-18".to_owned(), "2026-11-20".to_owned()),
                    "SI.v.0" => ("2026-11-20".to_owned(), "2026-11-28".to_owned()),
                    _ => (day.clone(), next.clone()),
                };
                result.insert(sym.to_owned(), json!([{"d0": d0, "d1": d1, "s": c}]));
            }
            None => not_found.push(sym.to_owned()),
        }
    }
    axum::Json(json!({"result": result, "partial": [], "not_found": not_found})).into_response()
}

fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn server() -> (String, S) {
    let state: S = Arc::default();
    let app = Router::new()
        .route("/v0/symbology.resolve", post(resolve))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, state)
}

fn now() -> DateTime<Utc> {
    "2026-11-30T12:00:00Z".parse().unwrap()
}

fn roots(list: &[&str]) -> Vec<String> {
    list.iter().map(|r| (*r).to_owned()).collect()
}

#[tokio::test]
async fn each_roots_volume_leader_is_cached_from_the_documented_resolve_call() {
    shared::telemetry::init_test_logs();
    let (url, state) = server().await;
    let source = Databento::new(&SecretString::from(KEY), "GLBX.MDP3", Some(&url)).unwrap();
    let cache = MemoryFrontMonths::default();
    let clock = ManualClock::new(now());
    let n = refresh(&source, &cache, &roots(&["ES", "NQ"]), &clock)
        .await
        .unwrap();
    assert_eq!(n, 2);
    let mut cached: Vec<(String, String)> = cache
        .all(now())
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.root, f.contract))
        .collect();
    cached.sort();
    assert_eq!(
        cached,
        [("ES".into(), "ESH7".into()), ("NQ".into(), "NQZ6".into())]
    );
    let sent = state.lock().unwrap().forms.clone();
    let f = &sent[0];
    assert_eq!(f["dataset"], "GLBX.MDP3");
    assert_eq!(f["symbols"], "ES.v.0,NQ.v.0");
    assert_eq!(
        (f["stype_in"].as_str(), f["stype_out"].as_str()),
        ("continuous", "raw_symbol")
    );
    assert_eq!(
        (f["start_date"].as_str(), f["end_date"].as_str()),
        ("2026-11-30", "2026-12-01")
    );
}

#[tokio::test]
async fn an_unknown_root_or_a_spread_is_not_cached_and_fails_the_run_for_the_alarm() {
    shared::telemetry::init_test_logs();
    let (url, _) = server().await;
    let source = Databento::new(&SecretString::from(KEY), "GLBX.MDP3", Some(&url)).unwrap();
    let cache = MemoryFrontMonths::default();
    let clock = ManualClock::new(now());
    let err = refresh(&source, &cache, &roots(&["ES", "CL", "ZZ"]), &clock)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            RefreshError::Unresolved {
                missing: 2,
                asked: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("CL, ZZ"), "{err}");
    // The good root is still cached.
    let cached = cache.all(now()).await.unwrap();
    assert_eq!(cached.len(), 1);
    assert_eq!(cached[0].contract, "ESH7");
}

/// An answer whose last interval ended days before the day asked for names no leader of
/// that day: not cached (it would be stamped fresh), the root counted missing for the alarm.
/// One that ended across a weekend is still taken.
#[tokio::test]
async fn an_interval_long_ended_before_the_day_is_not_cached() {
    shared::telemetry::init_test_logs();
    let (url, _) = server().await;
    let source = Databento::new(&SecretString::from(KEY), "GLBX.MDP3", Some(&url)).unwrap();
    let cache = MemoryFrontMonths::default();
    let clock = ManualClock::new(now());
    let err = refresh(&source, &cache, &roots(&["GC", "SI"]), &clock)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            RefreshError::Unresolved {
                missing: 1,
                asked: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("GC"), "{err}");
    let cached = cache.all(now()).await.unwrap();
    assert_eq!(cached.len(), 1);
    assert_eq!(cached[0].contract, "SIH7");
}

#[tokio::test]
async fn databento_down_or_a_wrong_key_writes_nothing_and_never_shows_the_key() {
    shared::telemetry::init_test_logs();
    let (url, state) = server().await;
    state.lock().unwrap().fail = true;
    let cache = MemoryFrontMonths::default();
    let clock = ManualClock::new(now());
    let source = Databento::new(&SecretString::from(KEY), "GLBX.MDP3", Some(&url)).unwrap();
    let err = refresh(&source, &cache, &roots(&["ES"]), &clock)
        .await
        .unwrap_err();
    assert!(matches!(err, RefreshError::Databento(_)), "{err}");
    assert!(cache.all(now()).await.unwrap().is_empty());

    let wrong = Databento::new(
        &SecretString::from("db-wrong-key-0123456789abcdefghi"),
        "GLBX.MDP3",
        Some(&url),
    )
    .unwrap();
    let err = refresh(&wrong, &cache, &roots(&["ES"]), &clock)
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("db-wrong-key"), "{err}");
    assert!(!format!("{wrong:?}").contains("db-wrong-key"));
}

/// An answer echoing the request's headers (a debugging proxy at the base URL) never puts the
/// key, in either form, into the refresh's error, which is cut short; it went in whole, on the
/// local console and in the Lambda's error.
#[tokio::test]
async fn an_answer_echoing_the_key_never_reaches_the_error() {
    shared::telemetry::init_test_logs();
    let (url, state) = server().await;
    state.lock().unwrap().echo = true;
    let cache = MemoryFrontMonths::default();
    let clock = ManualClock::new(now());
    let source = Databento::new(&SecretString::from(KEY), "GLBX.MDP3", Some(&url)).unwrap();
    let err = refresh(&source, &cache, &roots(&["ES"]), &clock)
        .await
        .unwrap_err()
        .to_string();
    let basic = base64_encode(format!("{KEY}:").as_bytes());
    assert!(!err.contains(KEY) && !err.contains(&basic), "{err}");
    assert!(err.contains("[REDACTED]") || err.contains("502"), "{err}");
    assert!(
        err.chars().count() <= 240,
        "{} characters",
        err.chars().count()
    );
}

/// The key is never sent over plain HTTP to another machine: such a base URL is refused by
/// name before any request; https, and http to this machine (the tests), are taken.
#[test]
fn a_plain_http_base_url_to_another_machine_is_refused() {
    let key = SecretString::from(KEY);
    for url in [
        "http://10.1.2.3:8080",
        "http://example.com",
        "ftp://example.com",
    ] {
        let err = Databento::new(&key, "GLBX.MDP3", Some(url))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("DATABENTO_BASE_URL") && !err.contains(KEY),
            "{url}: {err}"
        );
    }
    for url in [
        "https://hist.databento.com",
        "http://127.0.0.1:9",
        "http://localhost:9",
    ] {
        assert!(
            Databento::new(&key, "GLBX.MDP3", Some(url)).is_ok(),
            "{url}"
        );
    }
}
