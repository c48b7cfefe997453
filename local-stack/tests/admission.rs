//! Admission control answers only what ingest would have queued: a wrong secret, a body that
//! is not JSON or an alert that does not validate gets its own answer during a backlog, not a
//! `503` that asks for a resend that can never be accepted (nor the backlog's figures).
#![allow(clippy::unwrap_used)]

mod common;

use shared::ports::FifoMessage;

#[tokio::test]
async fn a_backlog_refuses_only_alerts_that_passed_the_secret_and_their_checks() {
    shared::telemetry::init_test_logs();
    local_stack::console::set_quiet(true);
    // No consumer: what is queued stays, and nothing measures the rate but this test.
    let cfg = local_stack::LocalConfig {
        port: 0,
        journal_url: "sqlite::memory:".into(),
        consumers: false,
        ..Default::default()
    };
    let stack = local_stack::start(
        cfg,
        &shared::config::MapEnv::new(Vec::<(String, String)>::new()),
    )
    .await
    .unwrap();
    let base = format!("http://{}", stack.addr);
    // One signal a second: the threshold is its floor, 200 queued messages.
    stack.admission.observe(1);
    for i in 0..250 {
        stack.queues.signals.send_now(FifoMessage {
            group_id: format!("g{}", i % 7),
            dedup_id: format!("backlog-{i}"),
            body: "{}".into(),
        });
    }
    let client = reqwest::Client::new();
    let post = |body: String| {
        let client = client.clone();
        let url = format!("{base}/webhook");
        async move {
            let resp = client.post(url).body(body).send().await.unwrap();
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: serde_json::Value = resp.json().await.unwrap();
            (status, retry_after, body)
        }
    };

    let (status, retry_after, body) =
        post(common::alert("oanda-eurusd-long", "not-the-secret")).await;
    assert_eq!((status, retry_after), (401, None), "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");

    let (status, _, body) = post(format!(
        "{{\"passphrase\": \"{}\", \"action\":",
        local_stack::LOCAL_SECRET
    ))
    .await;
    assert_eq!(status, 400, "{body}");

    let mut stale: serde_json::Value = serde_json::from_str(&common::alert(
        "oanda-eurusd-long",
        local_stack::LOCAL_SECRET,
    ))
    .unwrap();
    stale["market_data"]["timenow"] = serde_json::json!("2026-01-02T03:04:05Z");
    let (status, _, body) = post(stale.to_string()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "stale_alert");

    // An alert that would be queued: refused for the backlog, with when to come back.
    let (status, retry_after, body) = post(common::alert(
        "oanda-eurusd-long",
        local_stack::LOCAL_SECRET,
    ))
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(retry_after.is_some(), "{body}");
    assert_eq!(body["error"]["code"], "backlog");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("250 alerts are queued"),
        "{body}"
    );
    assert_eq!(stack.queues.signals.depth(), 250, "nothing more queued");
}
