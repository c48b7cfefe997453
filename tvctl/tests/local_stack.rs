//! End to end: `tvctl dev` as a process on a free port, the sample alerts posted over HTTP in
//! sequence, then the journal and paper positions checked: the reversal happened, the
//! duplicate and the stale alert did not trade, the Coinbase sell sold the wallet.
#![allow(clippy::unwrap_used)]

mod common;

use serde_json::{Value, json};
use shared::clock::Clock as _;
use std::time::{Duration, Instant};

fn sample(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/tests/alerts")
        .join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    timenow: chrono::DateTime<chrono::Utc>,
) -> (u16, Value) {
    let mut doc = sample(name);
    let t = timenow.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    doc["market_data"]["timenow"] = json!(t);
    doc["market_data"]["timestamp"] = json!(t);
    doc["passphrase"] = json!(local_stack::LOCAL_SECRET);
    let resp = client
        .post(format!("{base}/webhook"))
        .body(doc.to_string())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn get(base: &str, path: &str) -> Value {
    reqwest::get(format!("{base}{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn sample_alerts_trade_as_promised_on_the_local_stack() {
    shared::telemetry::init_test_logs();
    // The journal, the state file and the handler log, removed with the directory.
    let dir = tempfile::tempdir().unwrap();
    let stack = common::start(&dir.path().join("local-stack.sqlite"));
    let base = stack.base.as_str();
    let client = reqwest::Client::new();
    let now = shared::clock::SystemClock.now();
    let mut ids = Vec::new();
    for (i, name) in [
        "oanda-eurusd-long",
        "oanda-eurusd-short",
        "coinbase-btcusd-long",
        "coinbase-btcusd-short",
        "tradovate-es-long",
    ]
    .iter()
    .enumerate()
    {
        let (status, body) = post(
            &client,
            base,
            name,
            now + chrono::Duration::seconds(i as i64),
        )
        .await;
        assert_eq!(status, 200, "{name}: {body}");
        ids.push(body["signal_id"].as_str().unwrap().to_owned());
    }
    let (s1, first) = post(&client, base, "tradovate-cl-short", now).await;
    let (s2, dup) = post(&client, base, "tradovate-cl-short", now).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(first["signal_id"], dup["signal_id"]);
    let (stale, body) = post(
        &client,
        base,
        "tradovate-gc-long",
        now - chrono::Duration::seconds(90),
    )
    .await;
    assert_eq!(
        (stale, body["error"]["code"].as_str()),
        (422, Some("stale_alert"))
    );

    // Bounded wait for the six distinct signals to reach a terminal state.
    let deadline = Instant::now() + Duration::from_secs(20);
    let trades = loop {
        let t = get(base, "/local/trades").await;
        if t["signals"].as_array().unwrap().len() >= 6 || Instant::now() > deadline {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let signals = trades["signals"].as_array().unwrap();
    assert_eq!(signals.len(), 6, "{trades}");
    assert!(signals.iter().all(|s| s["status"] == "filled"), "{trades}");
    let orders = trades["orders"].as_array().unwrap();
    // Each row says what its quantity counts.
    for o in orders {
        let unit = match (o["broker"].as_str(), o["instrument"].as_str()) {
            (Some("oanda"), _) => "units",
            (Some("tradovate"), _) => "contracts",
            (Some("coinbase"), Some(i)) => i.split_once('-').unwrap().0,
            other => panic!("{other:?}"),
        };
        assert_eq!(o["quantity_unit"], unit, "{o}");
    }
    let legs_of = |id: &str| -> Vec<(String, String)> {
        orders
            .iter()
            .filter(|o| o["signal_id"] == id)
            .map(|o| {
                (
                    o["leg"].as_str().unwrap().to_owned(),
                    o["side"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    // The short on EURUSD reversed the long: close the long, then open the short.
    assert_eq!(
        legs_of(&ids[1]),
        [
            ("close".into(), "sell".into()),
            ("open".into(), "sell".into())
        ]
    );
    // The duplicate CL alert traded once, and the console said it was dropped as a resend
    // (its answer is the first one's, as on AWS).
    assert_eq!(legs_of(first["signal_id"].as_str().unwrap()).len(), 1);
    let cl = &first["signal_id"].as_str().unwrap()[..12];
    let console = stack.console_when(Duration::from_secs(5), |lines| {
        lines
            .iter()
            .filter(|l| l.starts_with(&format!("alert  {cl} ")))
            .count()
            >= 2
    });
    let about_cl: Vec<&String> = console
        .iter()
        .filter(|l| l.starts_with(&format!("alert  {cl} ")))
        .collect();
    assert_eq!(about_cl.len(), 2, "{console:#?}");
    assert!(
        about_cl[0].contains("accepted -> tradovate"),
        "{console:#?}"
    );
    assert!(
        about_cl[1].contains("is a resend of one queued in the last 5 minutes")
            && about_cl[1].contains("not executed again"),
        "{console:#?}"
    );
    // Every other alert was accepted once.
    for id in &ids {
        let n = console
            .iter()
            .filter(|l| l.starts_with(&format!("alert  {} accepted", &id[..12])))
            .count();
        assert_eq!(n, 1, "{id}: {console:#?}");
    }
    assert!(
        !signals.iter().any(|s| s["symbol"] == "GC1!"),
        "the stale alert reached the journal"
    );

    let positions = get(base, "/local/positions").await;
    assert_eq!(positions["oanda"]["EUR_USD"], "-1000");
    assert_eq!(positions["tradovate"]["ESZ6"], "1");
    assert_eq!(positions["tradovate"]["CLF7"], "-1");
    let btc: rust_decimal::Decimal = positions["coinbase"]["BTC"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(btc.is_zero(), "the sell left {btc} BTC");
    assert!(positions["tradovate"].get("GCZ6").is_none());

    // Every broker path traded: the status endpoints say so, and so does `tvctl status`.
    for broker in ["oanda", "tradovate", "coinbase"] {
        let status = get(base, &format!("/{broker}status")).await;
        assert_eq!(status["status"], "ok", "{broker}: {status}");
        assert!(status["last_success"].is_string(), "{broker}: {status}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(["status", "--json", "--base", base])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["brokers"].as_array().unwrap().len(), 3);
    assert!(report["queues"].as_array().is_some_and(|q| !q.is_empty()));
    assert!(
        report["settings"]["max_clock_skew_secs"].is_i64(),
        "{report}"
    );

    // Exit codes as the README gives them: 1 refused or found nothing, 2 bad usage; 3 only
    // for a target that does not answer or answers 5xx.
    let webhook = format!("{base}/webhook");
    for (args, code, says) in [
        // A status it cannot read is not a degraded broker (exit 1): exit 3.
        (
            vec!["status", "--base", webhook.as_str()],
            3,
            "--base takes the stack's root URL",
        ),
        (
            vec!["trades", "--base", webhook.as_str()],
            1,
            "--base takes the stack's root URL",
        ),
        (
            vec!["dlq", "list", "--local", base, "--queue", "nope.fifo"],
            2,
            "no dead-letter queue nope.fifo: the local stack's are signals-dlq.fifo",
        ),
        // A source queue names its dead letters, as the help says.
        (
            vec!["dlq", "list", "--local", base, "--queue", "oanda.fifo"],
            0,
            "0 message(s) in oanda-dlq.fifo",
        ),
        // The default queue is named: the signals queue's dead letters, not every queue's.
        (
            vec!["dlq", "list", "--local", base],
            0,
            "0 message(s) in signals-dlq.fifo",
        ),
        (
            vec!["dlq", "replay", "--local", base, "m-absent", "--dry-run"],
            1,
            "message m-absent is not in signals-dlq.fifo",
        ),
        // An empty queue says so; silence would read as done.
        (
            vec!["dlq", "replay", "--local", base, "--all", "--dry-run"],
            0,
            "0 message(s) in signals-dlq.fifo: nothing would be replayed",
        ),
        (
            vec!["send", "oanda-eurusd-long", "--url", "not-a-url"],
            2,
            "is not an http(s) URL",
        ),
        (
            vec!["send", "oanda-eurusd-long", "--age-secs", "99999999999999"],
            2,
            "--age-secs 99999999999999 is out of range",
        ),
        (
            vec!["send", "oanda-eurusd-long", "--timenow", "notatime"],
            2,
            "--timenow \"notatime\" is not an RFC 3339 time",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
            .args(&args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {text}");
        assert!(text.contains(says), "{args:?}: {text}");
        assert!(
            !text.contains("\"no dead"),
            "a message, not a JSON string: {text}"
        );
    }

    // `--local` alone reads the stack `TVCTL_BASE` names, as the other commands do, and the
    // listing says which stack it read (a second stack on another port was read as empty).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(["dlq", "list", "--local", "--queue", "oanda.fifo"])
        .env("TVCTL_BASE", base)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "0 message(s) in oanda-dlq.fifo (the local stack at {base})"
        )),
        "{text}"
    );

    // A forced run reads the journal's latest signals (the sample alerts' above) for its
    // letters' notes: read through the stack, without a complaint.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(["dlq", "replay", "--local", base, "--queue", "oanda.fifo"])
        .args(["--all", "--force", "--dry-run"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("was not read"), "{text}");

    // One signal by the start of its id, as `tvctl trades` prints it: its line and its legs,
    // nothing of the others.
    let tvctl = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
            .args(args)
            .args(["--base", base])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    };
    let short = &ids[1][..12];
    let (code, text) = tvctl(&["trades", short]);
    assert_eq!(code, Some(0), "{text}");
    let text_of_short = text.clone();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with(short) && lines[0].contains("filled"),
        "{text}"
    );
    // With when it was received, in UTC.
    let received: Vec<&str> = lines[0].split_whitespace().skip(1).take(2).collect();
    assert!(
        chrono::NaiveDateTime::parse_from_str(&received.join(" "), "%Y-%m-%d %H:%M:%SZ").is_ok(),
        "{text}"
    );
    assert!(
        lines[1..].iter().all(|l| l.contains(short)) && lines[1].contains("close"),
        "{text}"
    );
    // A signal the journal does not hold says why it may be missing (exit 1); text that is
    // no id is a usage error (exit 2).
    let (code, text) = tvctl(&["trades", "00000000deadbeef00000000deadbeef"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("no signal 00000000deadbeef00000000deadbeef in the journal")
            && text.contains("journaled once its executor is done"),
        "{text}"
    );
    // A start no signal has: the answer says the whole journal was searched.
    let (code, text) = tvctl(&["trades", "00000000deadbeef"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("no signal starting with 00000000deadbeef in the journal")
            && text.contains("journaled once its executor is done"),
        "{text}"
    );
    for no_id in ["ES1!", "ABCZ", "abc", &"a".repeat(33)] {
        let (code, text) = tvctl(&["trades", no_id]);
        assert_eq!(code, Some(2), "{no_id}: {text}");
        assert!(text.contains("4 to 32 hex characters"), "{text}");
    }
    // One signal and a count of the latest are two different questions: a usage error.
    let (code, text) = tvctl(&["trades", short, "--limit", "3"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("--limit") && text.contains("cannot be used with"),
        "{text}"
    );
    // The id copied in capitals is the same signal.
    let (code, upper) = tvctl(&["trades", &short.to_ascii_uppercase()]);
    assert_eq!(code, Some(0), "{upper}");
    assert_eq!(upper, text_of_short, "the same lines");

    // Positions as a trader reads them: what is held, not the instruments closed to flat.
    let (code, text) = tvctl(&["positions"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("oanda: EUR_USD -1000"), "{text}");
    assert!(
        text.contains("ESZ6 1") && text.contains("CLF7 -1"),
        "{text}"
    );
    assert!(
        !text.contains("BTC"),
        "the BTC sold to flat is left out: {text}"
    );

    // `tvctl send --quantity`: the alert's quantity, traded instead of the configured size
    // (1 contract; micro Nasdaq, within the notional cap); one the webhook refuses is named
    // in its answer (exit 1).
    let webhook = format!("{base}/webhook");
    let send = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
            .args(["send", "tradovate-mnq-short", "--url", webhook.as_str()])
            .args(extra)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    };
    // The stack's base URL without `/webhook` (a TVCTL_URL mistake): refused, and the
    // answer says the URL is wrong, not only "no such route".
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(["send", "tradovate-mnq-short", "--url", base])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "no such route: the local stack's webhook is at {base}/webhook"
        )),
        "{text}"
    );
    let (code, text) = send(&["--quantity", "1e3"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("quantity") && text.contains("plain decimal"),
        "{text}"
    );
    // A negative quantity reaches the webhook, which names what is wrong with it; before,
    // `--quantity -1` was read as an unknown option `-1`.
    let (code, text) = send(&["--quantity", "-1"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("quantity") && text.contains("without a sign"),
        "{text}"
    );
    let (code, text) = send(&["--quantity", "3"]);
    assert_eq!(code, Some(0), "{text}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let held = loop {
        let (_, text) = tvctl(&["positions"]);
        // `tradovate: CLF7 -1, ESZ6 1, MNQZ6 -3`: the MNQ contract and the quantity after it.
        let words: Vec<&str> = text.split_whitespace().collect();
        let mnq = words
            .windows(2)
            .find(|w| w[0].starts_with("MNQ"))
            .map(|w| format!("{} {}", w[0], w[1].trim_end_matches(',')));
        if mnq.is_some() || Instant::now() > deadline {
            break mnq;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let held = held.unwrap_or_else(|| panic!("the MNQ entry filled: {}", tvctl(&["trades"]).1));
    assert!(
        held.ends_with(" -3"),
        "3 contracts short, not the configured 1: {held}"
    );
}

/// The alert age limit is the deployed stack's setting, `MAX_ALERT_AGE_SECS` (or
/// `--max-age-secs`): an alert 60 s old trades under a limit of 120 s and one 200 s old is
/// refused as stale; a limit out of range is a usage error. So is the clock skew allowed,
/// `MAX_CLOCK_SKEW_SECS` (or `--max-skew-secs`).
#[tokio::test]
async fn the_alert_age_limit_is_a_setting() {
    let dir = tempfile::tempdir().unwrap();
    let stack = common::start_with(
        &dir.path().join("journal.sqlite"),
        &[("MAX_ALERT_AGE_SECS", "120"), ("MAX_CLOCK_SKEW_SECS", "40")],
    );
    let client = reqwest::Client::new();
    let now = shared::clock::SystemClock.now();
    let (status, body) = post(
        &client,
        &stack.base,
        "oanda-eurusd-long",
        now - chrono::Duration::seconds(60),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(
        &client,
        &stack.base,
        "oanda-eurusd-short",
        now - chrono::Duration::seconds(200),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "stale_alert", "{body}");
    // 60 s ahead of this clock is past the 40 s of skew allowed (the default is 5).
    let (status, body) = post(
        &client,
        &stack.base,
        "oanda-eurusd-short",
        now + chrono::Duration::seconds(60),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "alert_from_future", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("40"),
        "{body}"
    );
    // The executor holds the same limit: the alert 60 s old fills.
    let id = loop {
        let trades = get(&stack.base, "/local/trades").await;
        if let Some(s) = trades["signals"].as_array().and_then(|s| s.first())
            && s["status"] != "executing"
        {
            break s.clone();
        }
        assert!(
            shared::clock::SystemClock.now() - now < chrono::Duration::seconds(60),
            "not journaled: {trades}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(id["status"], "filled", "{id}");
    // `tvctl status` says what the running stack holds to.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(["status", "--base", &stack.base])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("a timenow at most 120 s old and at most 40 s ahead of this machine's clock"),
        "{text}"
    );

    for limit in ["0", "86401", "soon"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
            .args(["dev", "--port", "0", "--max-age-secs", limit])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{limit}: {text}");
        assert!(text.contains("--max-age-secs"), "{text}");
    }
    for skew in ["-3", "301", "soon"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
            .args(["dev", "--port", "0"])
            .env("MAX_CLOCK_SKEW_SECS", skew)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{skew}: {text}");
        assert!(
            text.contains(
                "the environment variable MAX_CLOCK_SKEW_SECS (read for --max-skew-secs) is not a valid value"
            ),
            "{text}"
        );
    }
    // The same limits from the environment: the error names the variable the user set.
    for (limit, why) in [("0", "0 is not in 1..=86400"), ("soon", "invalid digit")] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
            .args(["dev", "--port", "0"])
            .env("MAX_ALERT_AGE_SECS", limit)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{limit}: {text}");
        assert!(
            text.contains(
                "the environment variable MAX_ALERT_AGE_SECS (read for --max-age-secs) is not a valid value"
            ) && text.contains(why),
            "{text}"
        );
    }
    // A variable that is not UTF-8, or empty where a value is needed, is named too.
    let not_utf8 = {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::OsStr::from_bytes(b"30\xff").to_owned()
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(["dev", "--port", "0"])
        .env("MAX_ALERT_AGE_SECS", &not_utf8)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("the environment variable MAX_ALERT_AGE_SECS is not valid UTF-8"),
        "{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(["dev", "--port", "0", "--journal"])
        .arg(dir.path().join("j.sqlite"))
        .env("TVCTL_STATE", "")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains(
            "the environment variable TVCTL_STATE (read for --state) is not a valid value: it is empty"
        ),
        "{text}"
    );
    // The flag given wins over the variable, and its error names the flag.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(["dev", "--port", "0", "--max-age-secs", "0"])
        .env("MAX_ALERT_AGE_SECS", "0")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("for '--max-age-secs <MAX_AGE_SECS>'")
            && !text.contains("environment variable"),
        "{text}"
    );
}

/// A start of an id that several signals share is refused (exit 1) with their ids, so the one
/// wanted can be copied from the answer.
#[tokio::test]
async fn a_start_several_signals_share_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let stack = common::start(&dir.path().join("journal.sqlite"));
    let t = shared::clock::SystemClock
        .now()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // Two alerts whose ids share their first 4 hex characters: by the birthday bound a few
    // hundred candidates find a pair; 20,000 bounds the search.
    let mut seen: std::collections::HashMap<String, (String, String)> = Default::default();
    let (start, a, b) = (0..20_000)
        .find_map(|i| {
            let mut doc = sample("oanda-eurusd-long");
            doc["indicator"] = json!(format!("Trend_{i}"));
            doc["market_data"]["timenow"] = json!(t);
            doc["market_data"]["timestamp"] = json!(t);
            doc["passphrase"] = json!(local_stack::LOCAL_SECRET);
            let body = doc.to_string();
            let id = shared::alert::RawAlert::parse(body.as_bytes())
                .unwrap()
                .validate()
                .unwrap()
                .signal_id
                .to_string();
            let start = id[..4].to_owned();
            seen.insert(start.clone(), (id.clone(), body.clone()))
                .map(|other| (start, other, (id, body)))
        })
        .expect("two ids sharing 4 hex characters");
    // Nothing journaled yet: the list says so rather than printing nothing.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(["trades", "--base", &stack.base])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "(no signal journaled yet: an accepted alert is journaled once its executor is done with it)\n"
    );
    let client = reqwest::Client::new();
    for (_, body) in [&a, &b] {
        let resp = client
            .post(format!("{}/webhook", stack.base))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let trades = get(&stack.base, "/local/trades").await;
        if trades["signals"].as_array().is_some_and(|s| s.len() == 2) {
            break;
        }
        assert!(Instant::now() < deadline, "not journaled: {trades}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The list gives each signal's legs under it: every order line names the signal above.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(["trades", "--base", &stack.base])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (mut above, mut orders) = (None, 0);
    for line in text.lines() {
        match line.strip_prefix("  order ") {
            Some(order) => {
                let of = above.unwrap_or_else(|| panic!("an order before any signal:\n{text}"));
                assert!(order.starts_with(of), "{line} is not under {of}:\n{text}");
                orders += 1;
            }
            None => above = line.split_whitespace().next(),
        }
    }
    assert!(orders > 0, "{text}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(["trades", &start, "--base", &stack.base])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("2 signals start with {start} ("))
            && text.contains(&a.0)
            && text.contains(&b.0)
            && text.contains("give more of the id"),
        "{text}"
    );
}

/// A start of an id is looked up in the whole journal: a signal received before the latest
/// 10,000 (the most `tvctl trades` lists) is found by its first 8 characters.
#[tokio::test]
async fn a_start_finds_a_signal_older_than_the_latest_ten_thousand() {
    use shared::execution::{SignalRecord, SignalStatus, StageTimes, TradeJournal};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let journal = journal::AnyJournal::connect(path.to_str().unwrap())
        .await
        .unwrap();
    let t = shared::clock::SystemClock.now() - chrono::Duration::days(1);
    let record = |i: i64| SignalRecord {
        signal_id: shared::signal::SignalId::of_canonical(&format!("older-{i}")),
        raw: r#"{"action":"LONG_ENTRY"}"#.into(),
        normalized: json!({"action": "LONG_ENTRY", "symbol": "EURUSD"}).into(),
        symbol: "EURUSD".into(),
        exchange: "OANDA".into(),
        action: "LONG_ENTRY".into(),
        broker: Some(shared::routing::Broker::Oanda),
        instrument: Some("EUR_USD".into()),
        contract_resolution: None,
        status: SignalStatus::Refused,
        reason: Some(format!("signal {i} of the test")),
        stages: StageTimes {
            received: Some(t + chrono::Duration::milliseconds(i)),
            ..Default::default()
        },
    };
    // The oldest first, then 10,000 newer ones.
    let oldest = record(0);
    for i in 0..=10_000 {
        journal.upsert_signal(&record(i)).await.unwrap();
    }
    drop(journal);
    let stack = common::start(&path);
    let start = &oldest.signal_id.as_str()[..8];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(["trades", start, "--base", &stack.base])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with(&oldest.signal_id.as_str()[..12])
            && text.contains("refused")
            && text.contains("signal 0 of the test"),
        "{text}"
    );
}

/// A second `tvctl dev` on a journal another one runs on is refused as a usage error (exit 2),
/// naming the other process; it is not an unreachable target (exit 3).
#[test]
fn a_second_stack_on_the_same_journal_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.sqlite");
    let _first = common::start(&journal);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(["dev", "--port", "0", "--journal"])
        .arg(&journal)
        .env_remove("WEBHOOK_SECRET")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("in use by another process"), "{text}");
}

/// The start names the routing table it routes with: a `ROUTING_TABLE_FILE` given for a roll
/// changes what every continuous symbol trades, and a user should not have to guess.
#[test]
fn the_start_names_the_routing_table() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("after-roll.toml");
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::copy(workspace.join("shared/routing.toml"), &table).unwrap();
    let lines_of = |routing: Option<&std::path::Path>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"));
        for v in common::BROKER_VARIABLES {
            cmd.env_remove(v);
        }
        cmd.env_remove("ROUTING_TABLE_FILE");
        if let Some(file) = routing {
            cmd.env("ROUTING_TABLE_FILE", file);
        }
        let journal = dir
            .path()
            .join(format!("journal-{}.sqlite", routing.is_some()));
        let mut child = cmd
            .args(["dev", "--port", "0", "--journal"])
            .arg(&journal)
            .env_remove("WEBHOOK_SECRET")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut seen = Vec::new();
        for line in std::io::BufReader::new(stdout).lines().take(50) {
            let line = line.unwrap();
            let done = line.starts_with("listening on ");
            seen.push(line);
            if done {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        seen
    };
    let given = lines_of(Some(&table));
    let shown = format!("routing: {} (ROUTING_TABLE_FILE)", table.display());
    assert!(given.contains(&shown), "{given:#?}");
    let embedded = lines_of(None);
    assert!(
        embedded.contains(&"routing: the embedded table".to_owned()),
        "{embedded:#?}"
    );
}

/// A new state file beside a journal that received a signal within the age limit is refused:
/// the state file keeps which signals executed, so the same alert sent again (as TradingView
/// resends) executed a second time on a stack started with a fresh state file (a trial: a
/// second paper order; with a real broker, a second real one). The default state file, kept,
/// starts as before and drops the resend.
#[tokio::test]
async fn a_new_state_file_beside_a_journal_of_recent_signals_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.sqlite");
    let client = reqwest::Client::new();
    let at = shared::clock::Clock::now(&shared::clock::SystemClock);
    {
        let stack = common::start(&journal);
        let (status, body) = post(&client, &stack.base, "oanda-eurusd-long", at).await;
        assert_eq!(status, 200, "{body}");
        let id = body["signal_id"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(20);
        while get(&stack.base, &format!("/local/trades?signal={id}")).await["signals"]
            .as_array()
            .is_none_or(Vec::is_empty)
        {
            assert!(Instant::now() < deadline, "never journaled");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let fresh = dir.path().join("fresh.state.sqlite");
    let refused = || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
            .args(["dev", "--port", "0", "--journal"])
            .arg(&journal)
            .arg("--state")
            .arg(&fresh)
            .env_remove("WEBHOOK_SECRET")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("tvctl dev started on a new state file beside a journal of recent signals");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut text = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut text).unwrap();
        assert!(!status.success(), "{text}");
        assert!(
            text.contains(&format!("the state file {} is new", fresh.display()))
                && text.contains("would execute it again")
                && text.contains("start again in "),
            "{text}"
        );
    };
    refused();
    // A signal stamped ahead of this clock, accepted under a larger skew, is resendable until
    // its stamp is past the age limit: the wait counts from it, not from its receipt.
    {
        let ahead_dir = tempfile::tempdir().unwrap();
        let ahead_journal = ahead_dir.path().join("journal.sqlite");
        let stack = common::start_with(&ahead_journal, &[("MAX_CLOCK_SKEW_SECS", "60")]);
        let (status, body) = post(
            &client,
            &stack.base,
            "oanda-eurusd-long",
            at + chrono::Duration::seconds(50),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let id = body["signal_id"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(20);
        while get(&stack.base, &format!("/local/trades?signal={id}")).await["signals"]
            .as_array()
            .is_none_or(Vec::is_empty)
        {
            assert!(Instant::now() < deadline, "never journaled");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(stack);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tvctl"))
            .args(["dev", "--port", "0", "--journal"])
            .arg(&ahead_journal)
            .arg("--state")
            .arg(ahead_dir.path().join("fresh.state.sqlite"))
            .env_remove("WEBHOOK_SECRET")
            .env_remove("MAX_CLOCK_SKEW_SECS")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text}");
        let wait: i64 = text
            .split("start again in ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            wait >= 70,
            "waits from the stamp (+50 s) plus 30 s: {wait} s; {text}"
        );
    }
    // What the refused start made (its lock makes the state file, its store the queue file)
    // is gone: left, an empty queue file would refuse a later start for the wrong reason.
    assert!(!fresh.exists());
    assert!(!local_store::queue_file_path(&fresh).exists());
    // A state file that exists but holds nothing (a start that made it stopped before any
    // signal) is new all the same: judged by what it holds. It is refused, and kept.
    drop(local_store::LocalStore::open(&fresh).unwrap());
    refused();
    assert!(fresh.exists());
    // The journal's own state file starts, and the resend is dropped.
    let stack = common::start(&journal);
    let (status, body) = post(&client, &stack.base, "oanda-eurusd-long", at).await;
    assert_eq!(status, 200, "{body}");
    let console = stack.console_when(Duration::from_secs(10), |lines| {
        lines.iter().any(|l| l.contains("is a resend"))
    });
    assert!(
        console.iter().any(|l| l.contains("is a resend")),
        "{console:#?}"
    );
}
