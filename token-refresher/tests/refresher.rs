//! The refresher's run against a minimal Tradovate auth endpoint: a successful login counts
//! `TokenRefreshes`; a refused login counts `TokenRefreshFailures`, notifies operators and
//! fails the run, without the password in the notification.
#![allow(clippy::unwrap_used)]

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use executor_runtime::metrics::CapturedMetrics;
use executor_tradovate::client::{ClientSettings, Credentials, TradovateClient};
use executor_tradovate::token::{Refreshed, TokenManager, TokenPolicy};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::clock::{Clock, ManualClock};
use shared::health::{HealthState, HealthStore, MemoryHealth};
use shared::memory::{MemoryLeaseLock, MemoryNotifier, MemoryTokenStore};
use shared::routing::Broker;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const PASSWORD: &str = "pw-7c1d9e-never-logged";

#[derive(Default)]
struct Auth {
    refuse: AtomicBool,
    logins: AtomicUsize,
}

async fn login(State(auth): State<Arc<Auth>>, Json(body): Json<Value>) -> Json<Value> {
    auth.logins.fetch_add(1, Ordering::SeqCst);
    if auth.refuse.load(Ordering::SeqCst) || body["password"] != PASSWORD {
        return Json(json!({"errorText": "Incorrect username or password. Please try again."}));
    }
    Json(json!({
        "accessToken": "at-5b2e-session",
        "expirationTime": "2026-11-23T16:02:00.000Z",
        "userId": 7, "name": "trader"
    }))
}

async fn serve(auth: Arc<Auth>) -> String {
    let app = Router::new()
        .route("/v1/auth/accesstokenrequest", post(login))
        .with_state(auth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

fn manager(url: &str) -> TokenManager<Arc<MemoryTokenStore>, Arc<MemoryLeaseLock>, ManualClock> {
    manager_on(
        url,
        Arc::new(MemoryTokenStore::default()),
        Arc::new(MemoryLeaseLock::default()),
    )
}

/// [`manager`] over `store` and `lock`, waiting 200 ms for a lock another holds.
fn manager_on(
    url: &str,
    store: Arc<MemoryTokenStore>,
    lock: Arc<MemoryLeaseLock>,
) -> TokenManager<Arc<MemoryTokenStore>, Arc<MemoryLeaseLock>, ManualClock> {
    let client = TradovateClient::new(
        url,
        ClientSettings {
            timeout: std::time::Duration::from_secs(2),
            read_attempts: 1,
            read_backoff: std::time::Duration::from_millis(10),
            max_wait: std::time::Duration::from_secs(1),
            ..ClientSettings::default()
        },
    )
    .unwrap();
    let creds = Credentials {
        name: "trader".into(),
        password: SecretString::from(PASSWORD),
        app_id: "tv-pipeline".into(),
        app_version: "1.0".into(),
        device_id: "device-1".into(),
        cid: 8,
        sec: SecretString::from("sec-secret-value"),
    };
    TokenManager::new(
        Arc::new(client),
        creds,
        store,
        lock,
        ManualClock::new("2026-11-23T14:32:00Z".parse().unwrap()),
        "refresher",
        TokenPolicy {
            wait_for_other: std::time::Duration::from_millis(200),
            ..TokenPolicy::default()
        },
    )
}

fn metric_names(metrics: &CapturedMetrics) -> Vec<String> {
    metrics
        .lines()
        .iter()
        .map(|l| {
            l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_successful_login_counts_a_refresh_and_notifies_nobody() {
    shared::telemetry::init_test_logs();
    let auth = Arc::new(Auth::default());
    let url = serve(auth.clone()).await;
    let tokens = manager(&url);
    let (notifier, metrics) = (MemoryNotifier::default(), CapturedMetrics::default());
    let health = MemoryHealth::default();
    let clock = ManualClock::new("2026-11-23T14:32:00Z".parse().unwrap());
    let how = token_refresher::refresh(&tokens, &notifier, &health, &metrics, &clock)
        .await
        .unwrap();
    assert_eq!(how, Refreshed::LoggedIn);
    assert_eq!(metric_names(&metrics), ["TokenRefreshes"]);
    assert_eq!(metrics.lines()[0]["Broker"], "tradovate");
    assert!(notifier.sent().is_empty());
    assert_eq!(auth.logins.load(Ordering::SeqCst), 1);
    let h = health.read(Broker::Tradovate).await.unwrap();
    assert_eq!(
        h.token_expires_at,
        Some("2026-11-23T16:02:00Z".parse().unwrap())
    );
    assert_eq!(h.state(clock.now()), HealthState::Ok);
}

#[tokio::test]
async fn a_refused_login_counts_a_failure_notifies_and_fails_the_run() {
    shared::telemetry::init_test_logs();
    let auth = Arc::new(Auth::default());
    auth.refuse.store(true, Ordering::SeqCst);
    let url = serve(auth.clone()).await;
    let tokens = manager(&url);
    let (notifier, metrics) = (MemoryNotifier::default(), CapturedMetrics::default());
    let health = MemoryHealth::default();
    let clock = ManualClock::new("2026-11-23T14:32:00Z".parse().unwrap());
    let err = token_refresher::refresh(&tokens, &notifier, &health, &metrics, &clock)
        .await
        .unwrap_err();
    assert_eq!(metric_names(&metrics), ["TokenRefreshFailures"]);
    let sent = notifier.sent();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].subject.contains("token refresh failed"));
    assert!(sent[0].message.contains(&err.to_string()));
    let h = health.read(Broker::Tradovate).await.unwrap();
    assert_eq!(h.last_token_failure, Some(clock.now()));
    assert_eq!(h.last_failure_kind, None);
    assert_eq!(h.state(clock.now()), HealthState::Degraded);
    for text in [
        sent[0].message.as_str(),
        &err.to_string(),
        &format!("{err:?}"),
    ] {
        assert!(
            !text.contains(PASSWORD) && !text.contains("sec-secret-value"),
            "{text}"
        );
    }
}

/// A failed refresh keeps the status degraded through a run that could not act (the lock
/// held by another process throughout, a token due for renewal stored: `Busy`), which stores
/// no token. `Busy` recorded a token, and the status read `ok` with nothing renewed.
#[tokio::test]
async fn a_run_that_could_not_act_does_not_end_a_failed_refresh() {
    use shared::ports::{LeaseLock, StoredToken, TokenStore};
    shared::telemetry::init_test_logs();
    let auth = Arc::new(Auth::default());
    auth.refuse.store(true, Ordering::SeqCst);
    let url = serve(auth.clone()).await;
    let (store, lock) = (
        Arc::new(MemoryTokenStore::default()),
        Arc::new(MemoryLeaseLock::default()),
    );
    let tokens = manager_on(&url, store.clone(), lock.clone());
    let (notifier, metrics) = (MemoryNotifier::default(), CapturedMetrics::default());
    let health = MemoryHealth::default();
    let clock = ManualClock::new("2026-11-23T14:32:00Z".parse().unwrap());
    token_refresher::refresh(&tokens, &notifier, &health, &metrics, &clock)
        .await
        .unwrap_err();
    // Another process stores a token (due for renewal: 10 minutes left by the manager's
    // clock) and holds the lock past the next run.
    clock.advance(chrono::Duration::minutes(1));
    let at = clock.now();
    store
        .save(
            "tradovate",
            &StoredToken {
                access_token: SecretString::from("at-5b2e-session"),
                expires_at: "2026-11-23T14:42:00Z".parse().unwrap(),
                // The same login's (another process of the deployment).
                owner: Some(executor_tradovate::token::login_fingerprint(
                    tokens.client().base(),
                    "trader",
                )),
                stopped_until: None,
            },
        )
        .await
        .unwrap();
    assert!(
        lock.acquire("tradovate", "executor", at, at + chrono::Duration::hours(1))
            .await
            .unwrap()
    );
    let how = token_refresher::refresh(&tokens, &notifier, &health, &metrics, &clock)
        .await
        .unwrap();
    assert_eq!(how, Refreshed::Busy);
    let h = health.read(Broker::Tradovate).await.unwrap();
    assert_eq!(h.state(clock.now()), HealthState::Degraded, "{h:?}");
    assert_eq!(
        h.last_token_failure,
        Some(at - chrono::Duration::minutes(1))
    );
    assert_eq!(h.last_failure_kind, None);
}

#[tokio::test]
async fn an_unreachable_broker_is_a_failure_too() {
    shared::telemetry::init_test_logs();
    // A port nothing listens on: bind, learn the port, drop the listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tokens = manager(&format!("http://127.0.0.1:{port}/v1"));
    let (notifier, metrics) = (MemoryNotifier::default(), CapturedMetrics::default());
    let health = MemoryHealth::default();
    let clock = ManualClock::new("2026-11-23T14:32:00Z".parse().unwrap());
    assert!(
        token_refresher::refresh(&tokens, &notifier, &health, &metrics, &clock)
            .await
            .is_err()
    );
    assert_eq!(metric_names(&metrics), ["TokenRefreshFailures"]);
    assert_eq!(notifier.sent().len(), 1);
}
