//! The dashboard's routes over HTTP, without a browser: the page and its protections, the
//! event stream (a snapshot, then the signal, its leg and the position as they happen), the
//! JSON snapshot, refusals, and that no secret reaches any of them.
#![allow(clippy::unwrap_used)]

mod common;

use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Reads the event stream until `done` holds for the text received so far, for at most
/// `limit`; returns that text.
async fn read_events(
    resp: &mut reqwest::Response,
    limit: Duration,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + limit;
    let mut text = String::new();
    while !done(&text) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no such event within {limit:?}; got:\n{text}"
        );
        match tokio::time::timeout(left, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(Ok(None)) => panic!("the event stream ended; got:\n{text}"),
            Ok(Err(e)) => panic!("the event stream failed: {e}"),
            Err(_) => panic!("no such event within {limit:?}; got:\n{text}"),
        }
    }
    text
}

/// The `data:` of every event of this name in the stream text, parsed.
fn events_named(text: &str, name: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter(|block| block.lines().any(|l| l == format!("event: {name}")))
        .filter_map(|block| {
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
                .collect::<Vec<_>>()
                .join("\n");
            serde_json::from_str(&data).ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_embedded_protected_and_read_only() {
    let stack = common::start().await;
    let base = stack.base.as_str();

    let resp = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let csp = resp
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html")),
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"signals\""));
    for external in ["http://", "https://"] {
        assert!(!html.contains(external), "the page refers to {external}");
    }

    // Another host name (DNS rebinding) gets nothing.
    let client = reqwest::Client::new();
    for path in ["/", "/dashboard/state", "/dashboard/events"] {
        let resp = client
            .get(format!("{base}{path}"))
            .header("host", "dashboard.example.com")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{path}");
    }

    // Not a state-changing route: other methods go to ingest as before the dashboard.
    for path in ["/", "/dashboard/state", "/dashboard/events"] {
        let resp = client.post(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    // The API routes are as they were.
    let health = common::get_json(base, "/healthcheck").await;
    assert_eq!(health["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_bring_the_signal_its_leg_and_the_position_as_they_happen() {
    let stack = common::start().await;
    let base = stack.base.as_str();

    let mut events = reqwest::get(format!("{base}/dashboard/events"))
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    assert!(
        events
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"))
    );
    let first = read_events(&mut events, Duration::from_secs(5), |t| {
        t.contains("event: snapshot") && t.contains("\n\n")
    })
    .await;
    let snapshot = &events_named(&first, "snapshot")[0];
    assert_eq!(snapshot["signals"], serde_json::json!([]));
    assert_eq!(snapshot["status"]["queues"].as_array().unwrap().len(), 4);

    let (status, body) = common::post(base, "oanda-eurusd-long").await;
    assert_eq!(status, 200, "{body}");
    let id = body["signal_id"].as_str().unwrap().to_owned();
    let (refused, _) = common::post_with(base, "coinbase-btcusd-long", "not-the-secret").await;
    assert_eq!(refused, 401);

    let text = read_events(&mut events, Duration::from_secs(10), |t| {
        let filled = events_named(t, "signal")
            .iter()
            .any(|s| s["signal_id"] == id.as_str() && s["status"] == "filled");
        let positioned = events_named(t, "status").iter().any(|s| {
            s["positions"][0]["rows"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["instrument"] == "EUR_USD"))
        });
        filled && positioned && t.contains("event: refusal")
    })
    .await;
    let signal = events_named(&text, "signal")
        .into_iter()
        .rfind(|s| s["signal_id"] == id.as_str())
        .unwrap();
    assert_eq!(signal["broker"], "oanda");
    assert_eq!(signal["instrument"], "EUR_USD");
    assert_eq!(signal["action"], "LONG_ENTRY");
    assert_eq!(signal["close"], "1.08345");
    let leg = &signal["legs"][0];
    assert_eq!(
        (
            &leg["leg"],
            &leg["side"],
            &leg["outcome"],
            &leg["fill_price"]
        ),
        (
            &Value::from("open"),
            &Value::from("buy"),
            &Value::from("filled"),
            &Value::from("1.08345")
        )
    );
    let refusal = &events_named(&text, "refusal")[0];
    assert_eq!(
        (&refusal["code"], &refusal["http_status"]),
        (&Value::from("unauthorized"), &Value::from(401))
    );

    // The snapshot says the same, with the position valued at the alert's close.
    let state = common::get_json(base, "/dashboard/state").await;
    let paper = common::get_json(base, "/local/positions").await;
    let row = &state["status"]["positions"][0]["rows"][0];
    assert_eq!(row["instrument"], "EUR_USD");
    assert_eq!(
        row["position"].as_str().and_then(|p| p.parse::<f64>().ok()),
        paper["oanda"]["EUR_USD"]
            .as_str()
            .and_then(|p| p.parse::<f64>().ok())
    );
    assert_eq!(row["average_price"], "1.08345");
    assert_eq!(row["last_price"], "1.08345");
    assert_eq!(row["unrealized_pnl"], "0");
    assert_eq!(row["pnl_unit"], "USD");
    assert_eq!(state["refusals"][0]["code"], "unauthorized");
    // This operator's dashboard says why (the caller's 401 does not).
    assert!(
        state["refusals"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("is not this stack's WEBHOOK_SECRET")),
        "{}",
        state["refusals"][0]
    );
    let health = state["status"]["health"].as_array().unwrap();
    assert!(
        health
            .iter()
            .any(|h| h["broker"] == "oanda" && h["status"] == "ok")
    );

    // No secret anywhere: not the webhook secret, not the wrong passphrase, not a body.
    for text in [state.to_string(), text] {
        for secret in [local_stack::LOCAL_SECRET, "not-the-secret", "passphrase"] {
            assert!(!text.contains(secret), "{secret} shown");
        }
    }
}

/// Coins bought on BTC-USD, then an alert on BTC-EUR (refused by the paper wallet, which
/// holds no EUR): the page shows the coins once, under the product whose fills explain them,
/// not a second time under BTC-EUR (which read as twice the coins held).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coins_held_are_shown_once_whatever_products_were_alerted() {
    let stack = common::start().await;
    let base = stack.base.as_str();
    let (status, body) = common::post(base, "coinbase-btcusd-long").await;
    assert_eq!(status, 200, "{body}");
    let mut eur: Value = serde_json::from_str(&common::alert(
        "coinbase-btcusd-long",
        local_stack::LOCAL_SECRET,
    ))
    .unwrap();
    eur["market_data"]["symbol"] = serde_json::json!("BTCEUR");
    let resp = reqwest::Client::new()
        .post(format!("{base}/webhook"))
        .body(eur.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    let state = loop {
        let state = common::get_json(base, "/dashboard/state").await;
        let done = state["signals"]
            .as_array()
            .is_some_and(|s| s.len() == 2 && s.iter().all(|s| s["status"] != "executing"));
        if done {
            break state;
        }
        assert!(Instant::now() < deadline, "not executed: {state:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let coinbase = state["status"]["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["broker"] == "coinbase")
        .cloned()
        .unwrap();
    let rows: Vec<&str> = coinbase["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["instrument"].as_str())
        .collect();
    assert_eq!(rows, ["BTC-USD"], "{coinbase:#}");
}

/// With a real Coinbase configured (the HTTP fake of its Advanced Trade API, which verifies
/// each request's JWT), `GET /local/positions` (`tvctl positions`) gives the account's holding
/// read from the broker: never the paper wallet's balances, which it gave before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_coinbase_account_is_read_from_the_broker_not_the_paper_wallet() {
    const KEY_NAME: &str = "organizations/local-stack-test/apiKeys/positions";
    // The fake checks each JWT's `nbf` ≤ now < `exp` on its own clock, which stands still:
    // set a minute ahead, it accepts the tokens the stack mints in the test's next minute.
    let fake = broker_fakes::coinbase::FakeCoinbase::start(shared::clock::ManualClock::new(
        shared::clock::Clock::now(&shared::clock::SystemClock) + chrono::Duration::seconds(60),
    ))
    .await;
    let key = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    fake.register_es256(KEY_NAME, &key.public_key());
    let pem = key
        .to_sec1_pem(p256::pkcs8::LineEnding::LF)
        .unwrap()
        .to_string();
    // The suite's log audit looks for the key's body too (cut short of its PEM armour).
    shared::telemetry::list_for_audit(&pem);
    let stack = common::start_with(vec![
        ("COINBASE_BASE_URL".into(), fake.url.clone()),
        ("COINBASE_API_KEY_NAME".into(), KEY_NAME.into()),
        ("COINBASE_PRIVATE_KEY".into(), pem),
    ])
    .await;
    common::post_accepted_real(&stack.base, "coinbase-btcusd-long").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let local = loop {
        let local = common::get_json(&stack.base, "/local/positions").await;
        if local["coinbase"].get("BTC-USD").is_some() && fake.wallet("BTC") > 0.into() {
            break local;
        }
        assert!(
            Instant::now() < deadline,
            "no position read: {local:#}; {:?}",
            fake.auth_failures()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // What the account holds at the broker, read from it (the paper wallet would show USD).
    assert_eq!(
        local["coinbase"],
        json!({"BTC-USD": fake.wallet("BTC").normalize().to_string()}),
        "{local:#}"
    );
    assert_eq!(local["real"], json!(["coinbase"]), "{local:#}");
    assert!(local.get("read_errors").is_none(), "{local:#}");
}

/// With a real OANDA configured (here the HTTP fake that speaks OANDA's documented API), the
/// dashboard reads the position from the broker, not from a paper book, and shows no secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_brokers_position_is_read_from_the_broker() {
    let fake = broker_fakes::oanda::FakeOanda::start().await;
    let stack = common::start_with(vec![
        ("OANDA_BASE_URL".into(), fake.url.clone()),
        ("OANDA_ACCOUNT".into(), fake.account.clone()),
        ("OANDA_SECRET".into(), fake.token.clone()),
    ])
    .await;
    let body = common::post_accepted_real(&stack.base, "oanda-eurusd-long").await;
    let id = body["signal_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    let state = loop {
        let state = common::get_json(&stack.base, "/dashboard/state").await;
        let filled = state["signals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["signal_id"] == id.as_str() && s["status"] == "filled");
        let oanda = state["status"]["positions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["broker"] == "oanda")
            .cloned()
            .unwrap();
        if filled && !oanda["rows"].as_array().unwrap().is_empty() {
            break state;
        }
        assert!(Instant::now() < deadline, "no position read: {state:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let oanda = state["status"]["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["broker"] == "oanda")
        .unwrap();
    assert_eq!(oanda["source"], "real");
    assert_eq!(oanda["errors"], serde_json::json!([]));
    let row = &oanda["rows"][0];
    assert_eq!(row["instrument"], "EUR_USD");
    // What the broker holds, read from it: the fake's long side.
    let (long, short) = fake.position("EUR_USD");
    assert_eq!(row["position"], (long + short).to_string());
    assert_eq!(row["position"], "1000");
    // Bought at the alert's close (the fake fills at 1.08345): 0 USD.
    assert_eq!(row["unrealized_pnl"], "0");
    let requests = fake.requests();
    assert!(
        requests
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/positions/EUR_USD"))
            .count()
            >= 2,
        "the executor's read and the dashboard's"
    );
    assert!(!state.to_string().contains(&fake.token), "no secret");
    // Paper brokers stay paper.
    let tradovate = state["status"]["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["broker"] == "tradovate")
        .unwrap();
    assert_eq!(tradovate["source"], "paper");
    // `tvctl positions` reads the same: the real account's position, not a paper book's.
    let local = common::get_json(&stack.base, "/local/positions").await;
    assert_eq!(
        local["oanda"],
        serde_json::json!({"EUR_USD": "1000"}),
        "{local:#}"
    );
    assert!(local["tradovate"].is_object(), "{local:#}");
    assert_eq!(local["real"], serde_json::json!(["oanda"]), "{local:#}");
    // When it was read: the page's read, shared for a few seconds (or a later one).
    let oanda_read_at = &state["status"]["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["broker"] == "oanda")
        .unwrap()["read_at"];
    assert!(oanda_read_at.is_string(), "{state:#}");
    let local_read_at = local["read_at"]["oanda"].as_str();
    assert!(
        local_read_at.is_some() && local_read_at >= oanda_read_at.as_str(),
        "{local:#}"
    );
    assert!(local.get("read_errors").is_none(), "{local:#}");
    assert!(!local.to_string().contains(&fake.token), "no secret");
}

/// `GET /local/trades` (what `tvctl trades` prints) gives the latest `?limit` signals and
/// says when the journal holds older ones (it showed the last 500 without a word).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trades_route_says_when_the_journal_holds_more_than_it_shows() {
    let stack = common::start().await;
    for name in [
        "oanda-eurusd-long",
        "coinbase-btcusd-long",
        "tradovate-es-long",
    ] {
        let (status, body) = common::post(&stack.base, name).await;
        assert_eq!(status, 200, "{body}");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let all = common::get_json(&stack.base, "/local/trades").await;
        if all["signals"].as_array().unwrap().len() == 3 {
            assert_eq!((&all["limit"], &all["more"]), (&json!(500), &json!(false)));
            break;
        }
        assert!(Instant::now() < deadline, "{all}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A replay decision about a listed signal comes whole (its signal, time, whether it was
    // forced), so `tvctl trades` tags the signal in its list; the list's replays were
    // (queue, message id, result) triples, and no listed signal was ever tagged.
    let listed = common::get_json(&stack.base, "/local/trades").await;
    let id = listed["signals"][0]["signal_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let audit = json!([{"at": "2026-12-05T21:05:12Z", "queue": "oanda-dlq.fifo",
        "message_id": "oanda-dlq.fifo-00000001", "signal_id": id, "forced": true,
        "dry_run": false, "result": "replayed (forced)", "operator": "test"}]);
    let resp = reqwest::Client::new()
        .post(format!("{}/local/audit", stack.base))
        .json(&audit)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let listed = common::get_json(&stack.base, "/local/trades").await;
    let replays = listed["replays"].as_array().unwrap();
    assert_eq!(replays.len(), 1, "{listed}");
    assert_eq!(
        (
            &replays[0]["signal_id"],
            &replays[0]["forced"],
            &replays[0]["dry_run"]
        ),
        (&json!(id), &json!(true), &json!(false)),
        "{listed}"
    );
    assert_eq!(replays[0]["at"], "2026-12-05T21:05:12Z");
    let two = common::get_json(&stack.base, "/local/trades?limit=2").await;
    assert_eq!(two["signals"].as_array().unwrap().len(), 2);
    assert_eq!(two["more"], true);
    let three = common::get_json(&stack.base, "/local/trades?limit=3").await;
    assert_eq!(three["more"], false);
    for bad in ["0", "-1", "x", "10001"] {
        let resp = reqwest::get(format!("{}/local/trades?limit={bad}", stack.base))
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
    }
}

/// With a real Tradovate that answers 429 (the HTTP fake speaking its documented API), the
/// dashboard shows the rate limit and stops reading positions: Tradovate asks a client to
/// pause after a 429, and a page that re-read every 5 s would lengthen the lockout that the
/// executor's orders then meet. Nor is the broker asked anything else within the hour: the
/// next signal's order is not sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_broker_is_not_read_again_by_the_dashboard() {
    use broker_fakes::tradovate as tv;
    let fake =
        tv::FakeTradovate::start(shared::clock::Clock::now(&shared::clock::SystemClock)).await;
    let stack = common::start_with(vec![
        ("TRADOVATE_BASE_URL".into(), fake.url.clone()),
        ("TRADOVATE_USERNAME".into(), tv::USERNAME.into()),
        ("TRADOVATE_PASSWORD".into(), tv::PASSWORD.into()),
        ("TRADOVATE_APP_ID".into(), "tv-pipeline-test".into()),
        ("TRADOVATE_DEVICE_ID".into(), "device-1".into()),
        ("TRADOVATE_CID".into(), tv::CID.to_string()),
        ("TRADOVATE_SEC".into(), tv::SEC.into()),
    ])
    .await;
    common::post_accepted_real(&stack.base, "tradovate-es-long").await;
    let tradovate = |state: &Value| {
        state["status"]["positions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["broker"] == "tradovate")
            .cloned()
            .unwrap()
    };
    // The long read from the broker, once it filled.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let state = common::get_json(&stack.base, "/dashboard/state").await;
        if !tradovate(&state)["rows"].as_array().unwrap().is_empty() {
            assert_eq!(tradovate(&state)["source"], "real");
            break;
        }
        assert!(Instant::now() < deadline, "no position read: {state:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    fake.rate_limit_for(Duration::from_secs(120));
    // The next read after the cached one (5 s) meets the 429.
    let deadline = Instant::now() + Duration::from_secs(20);
    let limited = loop {
        let state = common::get_json(&stack.base, "/dashboard/state").await;
        let errors = tradovate(&state)["errors"].to_string();
        if errors.contains("not read again before") {
            break errors;
        }
        assert!(Instant::now() < deadline, "no rate limit shown: {state:#}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let answered = fake.rate_limited_answers();
    assert!(answered > 0, "{limited}");
    // Longer than the 5 s a read is kept for: the page asks on, the broker is not asked.
    let until = Instant::now() + Duration::from_secs(7);
    while Instant::now() < until {
        let state = common::get_json(&stack.base, "/dashboard/state").await;
        assert!(
            tradovate(&state)["errors"]
                .to_string()
                .contains("not read again before")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // `tvctl positions` reads the same: the real account, with why it was not read again,
    // and the broker is not asked meanwhile either.
    let local = common::get_json(&stack.base, "/local/positions").await;
    assert_eq!(local["real"], json!(["tradovate"]), "{local:#}");
    assert!(local["tradovate"].is_object(), "{local:#}");
    assert!(
        local["read_errors"]["tradovate"]
            .to_string()
            .contains("not read again before"),
        "{local:#}"
    );
    assert!(local["read_errors"].get("oanda").is_none(), "{local:#}");
    assert_eq!(
        fake.rate_limited_answers(),
        answered,
        "the dashboard read a rate-limited broker again"
    );
    assert!(!limited.contains(tv::PASSWORD) && !limited.contains(tv::SEC));
    let local = local.to_string();
    assert!(!local.contains(tv::PASSWORD) && !local.contains(tv::SEC));

    // Tradovate asks for about an hour without requests after a 429, so the stack's client
    // sends none, the executor's included, even once the fake would answer again: the MNQ
    // short posted now is not sent, and nothing is read for it.
    fake.rate_limit_for(Duration::ZERO);
    let (orders, reads) = (fake.orders().len(), fake.position_reads());
    common::post_accepted_real(&stack.base, "tradovate-mnq-short").await;
    // The executor takes the signal and fails it at its first read, refused within the
    // stop, until its receives are spent and it is dead-lettered: never sent.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert_eq!(
            (fake.orders().len(), fake.position_reads()),
            (orders, reads),
            "an order or a position read went to Tradovate within the hour it asks for"
        );
        let queues = common::get_json(&stack.base, "/local/queues").await;
        let tradovate_queue = queues
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == "tradovate.fifo")
            .cloned()
            .unwrap();
        if tradovate_queue["dead_letters"].as_array().unwrap().len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "not dead-lettered: {queues:#}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let state = common::get_json(&stack.base, "/dashboard/state").await;
    assert!(
        tradovate(&state)["errors"]
            .to_string()
            .contains("not read again before"),
        "{state:#}"
    );
}

/// A restarted stack's page lists the signals the journal holds from before, newest first,
/// each as it was shown (status, legs, close), and an executor's refusal among them; an
/// ingest refusal, which the journal does not hold, is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_stack_lists_the_signals_it_journaled_before() {
    local_stack::console::set_quiet(true);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.sqlite");
    // The first stack still runs here, and holds its journal and state file: the second one
    // starts on a copy of the journal, with a state file of its own. The page's list comes
    // from the journal alone.
    let cfg = |journal: &std::path::Path, state: &str| local_stack::LocalConfig {
        port: 0,
        journal_url: journal.display().to_string(),
        state_path: Some(dir.path().join(state)),
        ..Default::default()
    };
    // OANDA's executor refuses the 1,000-unit long: over its largest position.
    let env =
        shared::config::MapEnv::new([("OANDA_RISK_CONFIG", "default_max_position = \"500\"\n")]);
    let first = local_stack::start(cfg(&journal, "first.sqlite"), &env)
        .await
        .unwrap();
    let base = format!("http://{}", first.addr);
    let mut ids = Vec::new();
    for name in [
        "oanda-eurusd-long",
        "coinbase-btcusd-short",
        "tradovate-es-long",
    ] {
        let (status, body) = common::post(&base, name).await;
        assert_eq!(status, 200, "{body}");
        ids.push(body["signal_id"].as_str().unwrap().to_owned());
        // One at a time, so the journal's order is the posting order.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let state = common::get_json(&base, "/dashboard/state").await;
            let done = state["signals"].as_array().unwrap().iter().any(|s| {
                s["signal_id"] == ids.last().unwrap().as_str() && s["status"] != "enqueued"
            });
            if done {
                break;
            }
            assert!(Instant::now() < deadline, "not journaled: {state:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (refused, _) = common::post_with(&base, "oanda-eurusd-long", "not-the-secret").await;
    assert_eq!(refused, 401);
    let before = common::get_json(&base, "/dashboard/state").await;
    let shown = |state: &Value| -> Vec<Value> {
        state["signals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let mut s = s.clone();
                let o = s.as_object_mut().unwrap();
                o.remove("first_seen");
                o.remove("updated_at");
                s
            })
            .collect()
    };
    let listed = shown(&before);
    let newest_first: Vec<_> = ids.iter().rev().map(String::as_str).collect();
    let order = |signals: &[Value]| -> Vec<String> {
        signals
            .iter()
            .map(|s| s["signal_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(order(&listed), newest_first);
    assert_eq!(listed[2]["status"], "refused", "{before:#}");
    assert_eq!(listed[0]["status"], "filled", "{before:#}");
    assert_eq!(listed[0]["legs"][0]["outcome"], "filled", "{before:#}");

    // Each broker path's health, as `tvctl status` reads it.
    let status = |base: String| async move {
        let mut seen = Vec::new();
        for broker in ["oanda", "tradovate", "coinbase"] {
            let s = common::get_json(&base, &format!("/{broker}status")).await;
            // When: the broker's answer after a restart, the end of the execution before
            // it, microseconds apart; whether there is one is what is compared.
            seen.push((broker, s["status"].clone(), s["last_success"].is_string()));
        }
        seen
    };
    let health_before = status(base.clone()).await;
    assert_eq!(health_before[1].1, "ok", "{health_before:?}");

    let copy = dir.path().join("again.sqlite");
    copy_journal(&journal, &copy);
    let second = local_stack::start(after_the_age_limit(cfg(&copy, "second.sqlite")).await, &env)
        .await
        .unwrap();
    // Read beside the webhook, which serves meanwhile: until listed, bounded.
    let deadline = Instant::now() + Duration::from_secs(20);
    let again = loop {
        let again = common::get_json(&format!("http://{}", second.addr), "/dashboard/state").await;
        if shown(&again) == listed {
            break again;
        }
        assert!(Instant::now() < deadline, "not listed again: {again:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The status routes tell what they told before the restart (they said `unknown`):
    // OANDA's refusal says nothing of the broker, the others' executions ended well.
    assert_eq!(
        status(format!("http://{}", second.addr)).await,
        health_before
    );
    let text = again.to_string();
    for secret in [local_stack::LOCAL_SECRET, "passphrase"] {
        assert!(!text.contains(secret), "{secret} shown");
    }
    // The executor's refusals come back, the ingest's 401 does not.
    let refusals = |state: &Value| -> Vec<(Value, Value)> {
        state["refusals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["code"].clone(), r["signal_id"].clone()))
            .collect()
    };
    let executor: Vec<_> = refusals(&before)
        .into_iter()
        .filter(|(code, _)| code != "unauthorized")
        .collect();
    assert_eq!(
        executor,
        [(Value::from("refused"), Value::from(ids[0].as_str()))],
        "{before:#}"
    );
    assert_eq!(refusals(&again), executor, "{again:#}");
    drop(first);
}

/// A signal whose message is dead-lettered before any executor journaled it (here OANDA
/// unreachable: nothing listens on its port) shows `dead_letter` on the dashboard, with the
/// queue to list, instead of `enqueued` for ever. Three receives five seconds apart, the
/// fewest the stack takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_signal_is_shown_as_such() {
    shared::telemetry::init_test_logs();
    local_stack::console::set_quiet(true);
    let port = {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        closed.local_addr().unwrap().port()
    };
    let state_dir = tempfile::tempdir().unwrap();
    let cfg = local_stack::LocalConfig {
        port: 0,
        journal_url: "sqlite::memory:".into(),
        secret: common::REAL_BROKER_SECRET.into(),
        state_path: Some(state_dir.path().join("state.sqlite")),
        visibility_timeout: chrono::Duration::seconds(5),
        max_receives: 3,
        ..Default::default()
    };
    let env = shared::config::MapEnv::new([
        ("OANDA_BASE_URL", format!("http://127.0.0.1:{port}/v3")),
        ("OANDA_ACCOUNT", "101-004-1234567-001".to_owned()),
        ("OANDA_SECRET", "token-0123456789abcdef".to_owned()),
    ]);
    let stack = local_stack::start(cfg, &env).await.unwrap();
    let base = format!("http://{}", stack.addr);
    let body = common::post_accepted_real(&base, "oanda-eurusd-long").await;
    let id = body["signal_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(40);
    let signal = loop {
        let state = common::get_json(&base, "/dashboard/state").await;
        let signal = state["signals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["signal_id"] == id.as_str())
            .cloned();
        if let Some(s) = signal.filter(|s| s["status"] != "enqueued") {
            break s;
        }
        assert!(Instant::now() < deadline, "still enqueued: {state:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(signal["status"], "dead_letter", "{signal:#}");
    let reason = signal["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("to oanda-dlq.fifo after failing on oanda.fifo")
            && reason.contains("--queue oanda-dlq.fifo"),
        "{reason}"
    );
    assert!(!reason.contains("token-0123456789abcdef"), "{reason}");
}

/// A real broker is read for the instruments of the journal's latest signals too: a stack
/// restarted on the journal reads the position held over the restart (it showed "nothing
/// held"). And before any instrument of it is known, it is not asked, and never shown as
/// read: no read time, and why it was not read (it showed a read time and nothing held).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_broker_is_read_for_the_journals_instruments_and_never_shown_read_unasked() {
    local_stack::console::set_quiet(true);
    let fake = broker_fakes::oanda::FakeOanda::start().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.sqlite");
    let cfg = |journal: &std::path::Path, state: &str| local_stack::LocalConfig {
        port: 0,
        journal_url: journal.display().to_string(),
        state_path: Some(dir.path().join(state)),
        secret: common::REAL_BROKER_SECRET.into(),
        ..Default::default()
    };
    let env = shared::config::MapEnv::new([
        ("OANDA_BASE_URL", fake.url.as_str()),
        ("OANDA_ACCOUNT", fake.account.as_str()),
        ("OANDA_SECRET", fake.token.as_str()),
    ]);
    let first = local_stack::start(cfg(&journal, "first.sqlite"), &env)
        .await
        .unwrap();
    let base = format!("http://{}", first.addr);
    let position_reads = || {
        fake.requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.contains("/positions/"))
            .count()
    };

    let local = common::get_json(&base, "/local/positions").await;
    assert_eq!(local["real"], json!(["oanda"]), "{local:#}");
    assert!(local["read_at"].get("oanda").is_none(), "{local:#}");
    assert!(
        local["read_errors"]["oanda"][0]
            .as_str()
            .is_some_and(|e| e.contains("the broker was not asked")),
        "{local:#}"
    );
    assert_eq!(local["oanda"], json!({}), "{local:#}");
    assert_eq!(position_reads(), 0, "nothing to read, nothing asked");

    common::post_accepted_real(&base, "oanda-eurusd-long").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let local = common::get_json(&base, "/local/positions").await;
        if local["oanda"] == json!({"EUR_USD": "1000"}) {
            assert!(local["read_at"]["oanda"].is_string(), "{local:#}");
            break;
        }
        assert!(Instant::now() < deadline, "no position read: {local:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A read whose every instrument fails is no read: no read time, the failure named (the
    // client retries a read, so enough failures for every try).
    fake.fail_reads("/positions/", 50);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let local = common::get_json(&base, "/local/positions").await;
    assert!(local["read_at"].get("oanda").is_none(), "{local:#}");
    assert!(
        local["read_errors"]["oanda"][0]
            .as_str()
            .is_some_and(|e| e.starts_with("EUR_USD: ")),
        "{local:#}"
    );
    fake.fail_reads("/positions/", 0);

    // A stack started on the journal (a copy, as the first still holds it) with a state file
    // of its own, before any alert: the journal's EUR_USD is read from the broker.
    let copy = dir.path().join("again.sqlite");
    copy_journal(&journal, &copy);
    let second = local_stack::start(after_the_age_limit(cfg(&copy, "second.sqlite")).await, &env)
        .await
        .unwrap();
    let local = common::get_json(&format!("http://{}", second.addr), "/local/positions").await;
    assert_eq!(local["oanda"], json!({"EUR_USD": "1000"}), "{local:#}");
    assert!(local["read_at"]["oanda"].is_string(), "{local:#}");
    assert!(local.get("read_errors").is_none(), "{local:#}");
    assert!(!local.to_string().contains(&fake.token), "no secret");
}

/// `cfg` with a 1 s age limit and no clock skew allowed, once its journal's signals are past
/// it: a new state file beside a journal of signals still within the limit is refused (the
/// state file keeps which signals executed, and a resend would execute again).
async fn after_the_age_limit(cfg: local_stack::LocalConfig) -> local_stack::LocalConfig {
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    local_stack::LocalConfig {
        freshness: shared::alert::Freshness {
            max_age: chrono::Duration::seconds(1),
            max_skew: chrono::Duration::zero(),
        },
        ..cfg
    }
}

/// A copy of the SQLite journal at `from` (the database, then its write-ahead log) at `to`,
/// while a stack holds it: nothing is written meanwhile, and every frame a checkpoint copies
/// into the database stays in the log, which only a write starts over.
fn copy_journal(from: &std::path::Path, to: &std::path::Path) {
    std::fs::copy(from, to).unwrap();
    let wal = |p: &std::path::Path| std::path::PathBuf::from(format!("{}-wal", p.display()));
    if wal(from).exists() {
        std::fs::copy(wal(from), wal(to)).unwrap();
    }
}

/// A Tradovate login that fails at start names what to look at: the base URL when Tradovate
/// cannot be reached, the login's credentials when it refuses them (it named only
/// TRADOVATE_USERNAME, for both); never a credential's value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_tradovate_login_at_start_names_what_to_check() {
    use broker_fakes::tradovate as tv;
    local_stack::console::set_quiet(true);
    let fake =
        tv::FakeTradovate::start(shared::clock::Clock::now(&shared::clock::SystemClock)).await;
    let start = |url: &str, sec: &str| {
        let dir = tempfile::tempdir().unwrap();
        let cfg = local_stack::LocalConfig {
            port: 0,
            journal_url: "sqlite::memory:".into(),
            secret: common::REAL_BROKER_SECRET.into(),
            state_path: Some(dir.path().join("state.sqlite")),
            ..Default::default()
        };
        let env = shared::config::MapEnv::new([
            ("TRADOVATE_BASE_URL", url),
            ("TRADOVATE_USERNAME", tv::USERNAME),
            ("TRADOVATE_PASSWORD", tv::PASSWORD),
            ("TRADOVATE_APP_ID", "tv-pipeline-test"),
            ("TRADOVATE_DEVICE_ID", "device-1"),
            ("TRADOVATE_CID", &tv::CID.to_string()),
            ("TRADOVATE_SEC", sec),
        ]);
        async move {
            let err = local_stack::start(cfg, &env).await.unwrap_err();
            drop(dir);
            err
        }
    };
    let refused = start(&fake.url, "not-the-sec-5678").await;
    assert!(
        refused.contains("TRADOVATE_SEC") && refused.contains("TRADOVATE_PASSWORD"),
        "{refused}"
    );
    assert!(!refused.contains("not-the-sec-5678") && !refused.contains(tv::PASSWORD));
    let unreachable = start("http://127.0.0.1:9/v1", tv::SEC).await;
    assert!(
        unreachable.contains("TRADOVATE_BASE_URL") && !unreachable.contains("TRADOVATE_SEC"),
        "{unreachable}"
    );
    // A token answer it cannot read: the server at the base URL, not the credentials.
    let other =
        tv::FakeTradovate::start(shared::clock::Clock::now(&shared::clock::SystemClock)).await;
    other.omit_token_expiry(1);
    let unreadable = start(&other.url, tv::SEC).await;
    assert!(
        unreadable.contains("TRADOVATE_BASE_URL")
            && unreadable.contains("could not be read")
            && !unreadable.contains("TRADOVATE_USERNAME"),
        "{unreadable}"
    );
}
