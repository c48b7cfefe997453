//! What the dashboard tests share: the local stack in this process on a free 127.0.0.1 port
//! with paper brokers, and the sample alerts posted as TradingView would.
#![allow(dead_code, clippy::unwrap_used)]

use serde_json::{Value, json};
use shared::clock::Clock as _;
use std::path::PathBuf;

/// The running stack and its base URL, `http://127.0.0.1:PORT`.
pub struct Stack {
    pub base: String,
    pub stack: local_stack::LocalStack,
    /// The state file's directory of a stack trading a real broker, removed when dropped.
    pub state_dir: Option<tempfile::TempDir>,
}

/// Starts the local stack: paper brokers whatever this shell has set, an in-memory journal,
/// console lines off (they would bypass the test harness's capture).
pub async fn start() -> Stack {
    start_with(Vec::new()).await
}

/// The webhook secret of a stack started with a real broker's settings.
pub const REAL_BROKER_SECRET: &str = "test-secret-for-a-real-broker";

/// Starts the local stack with these settings (a real broker's base URL and credentials make
/// it trade through that broker's client, with its state in a temporary file).
pub async fn start_with(vars: Vec<(String, String)>) -> Stack {
    shared::telemetry::init_test_logs();
    local_stack::console::set_quiet(true);
    // A real broker is refused with the local default secret.
    let secret = if vars.is_empty() {
        local_stack::LOCAL_SECRET
    } else {
        REAL_BROKER_SECRET
    };
    // A real broker is refused with its queues and idempotency records in memory.
    let state_dir = (!vars.is_empty()).then(|| tempfile::tempdir().unwrap());
    let cfg = local_stack::LocalConfig {
        port: 0,
        journal_url: "sqlite::memory:".into(),
        secret: secret.into(),
        state_path: state_dir.as_ref().map(|d| d.path().join("state.sqlite")),
        ..Default::default()
    };
    let env = shared::config::MapEnv::new(vars);
    let stack = local_stack::start(cfg, &env).await.unwrap();
    Stack {
        base: format!("http://{}", stack.addr),
        stack,
        state_dir,
    }
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A sample from `shared/tests/alerts`, timed now, with the given passphrase.
pub fn alert(name: &str, passphrase: &str) -> String {
    let path = workspace()
        .join("shared/tests/alerts")
        .join(format!("{name}.json"));
    let mut doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let t = shared::clock::SystemClock
        .now()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    doc["market_data"]["timenow"] = json!(t);
    doc["market_data"]["timestamp"] = json!(t);
    doc["passphrase"] = json!(passphrase);
    doc.to_string()
}

/// Posts a sample to `POST /webhook` with the local secret: (status, body).
pub async fn post(base: &str, name: &str) -> (u16, Value) {
    post_with(base, name, local_stack::LOCAL_SECRET).await
}

/// Posts a sample with the given passphrase.
pub async fn post_with(base: &str, name: &str, passphrase: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/webhook"))
        .body(alert(name, passphrase))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Posts a sample with [`REAL_BROKER_SECRET`] (a stack with a real broker refuses the local
/// default) and checks it was accepted: the answer's body.
pub async fn post_accepted_real(base: &str, name: &str) -> Value {
    let (status, body) = post_with(base, name, REAL_BROKER_SECRET).await;
    assert_eq!(status, 200, "{name}: {body}");
    body
}

/// `GET` a JSON route of the stack.
pub async fn get_json(base: &str, path: &str) -> Value {
    reqwest::get(format!("{base}{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
