//! The dashboard in a real headless browser: Debian's Chromium driven through chromedriver
//! (WebDriver) by fantoccini. The page is opened, an alert is posted to the stack's webhook,
//! and the page must show the new signal, its order leg and the position without a reload.
//! A screenshot goes to `<workspace>/.test-run/dashboard.png`.
//!
//! Chromium and chromedriver are Debian's `chromium` and `chromium-driver`; `bash
//! scripts/test.sh` installs them. Missing, the test fails and says so.
#![allow(clippy::unwrap_used)]

mod common;

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
/// How long the page may take to show what was posted.
const SHOW_WITHIN: Duration = Duration::from_secs(10);

/// chromedriver as a child process, killed when dropped (pass or fail).
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("chromedriver"))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Starts chromedriver on a free 127.0.0.1 port and waits (up to 10 s) until it answers.
async fn start_driver(binary: &Path) -> Driver {
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready = reqwest::get(format!("{}/status", driver.url))
            .await
            .ok()
            .filter(|r| r.status().is_success())
            .is_some();
        if ready {
            return driver;
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not answer on {} within 10 s",
            driver.url
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the test reads off the page for one signal.
const READ_PAGE: &str = r#"
const id = arguments[0];
const row = document.querySelector('tr.signal[data-signal="' + id + '"]');
const leg = document.querySelector('tr.leg[data-signal="' + id + '"]');
const pos = document.querySelector('tr[data-position="oanda:EUR_USD"]');
return {
  marker: window.__notReloaded || null,
  conn: document.getElementById('conn').getAttribute('data-state'),
  status: row ? row.getAttribute('data-status') : null,
  row: row ? row.textContent : null,
  leg: leg ? { leg: leg.getAttribute('data-leg'), outcome: leg.getAttribute('data-outcome'), text: leg.textContent } : null,
  position: pos ? pos.querySelector('td.position').textContent : null,
  position_row: pos ? pos.textContent : null,
};
"#;

async fn read_page(client: &Client, id: &str) -> Result<Value, String> {
    client
        .execute(READ_PAGE, vec![json!(id)])
        .await
        .map_err(|e| format!("reading the page: {e}"))
}

/// Polls the page every 100 ms until `done` holds, for at most `limit`.
async fn wait_page(
    client: &Client,
    id: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Result<Value, String> {
    let deadline = Instant::now() + limit;
    loop {
        let page = read_page(client, id).await?;
        if done(&page) {
            return Ok(page);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "not shown within {limit:?}; the page has: {page:#}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn number(v: &Value) -> Option<f64> {
    v.as_str()?.trim().parse().ok()
}

/// The browser part; its error is reported after the browser is closed.
async fn drive(client: &Client, base: &str, shot: &Path) -> Result<(), String> {
    client
        .goto(&format!("{base}/"))
        .await
        .map_err(|e| format!("opening {base}/: {e}"))?;
    // Subscribed to the event stream before anything is posted.
    wait_page(client, "", Duration::from_secs(10), |p| p["conn"] == "live").await?;
    client
        .execute("window.__notReloaded = 'yes'; return null;", vec![])
        .await
        .map_err(|e| format!("marking the page: {e}"))?;

    let (status, body) = common::post(base, "oanda-eurusd-long").await;
    if status != 200 {
        return Err(format!("the alert was refused: {status} {body}"));
    }
    let id = body["signal_id"].as_str().unwrap_or_default().to_owned();

    let seen = wait_page(client, &id, SHOW_WITHIN, |p| {
        p["status"] == "filled" && p["leg"]["outcome"] == "filled" && !p["position"].is_null()
    })
    .await;
    // A picture either way: it is what a person would have seen.
    match client.screenshot().await {
        Ok(png) => std::fs::write(shot, png).map_err(|e| format!("{}: {e}", shot.display()))?,
        Err(e) => return Err(format!("screenshot: {e}")),
    }
    let page = seen?;

    if page["marker"] != "yes" {
        return Err(format!("the page was reloaded: {page:#}"));
    }
    let row = page["row"].as_str().unwrap_or_default();
    for want in [
        &id[..12],
        "oanda",
        "EUR_USD",
        "EURUSD",
        "LONG_ENTRY",
        "1.08345",
    ] {
        if !row.contains(want) {
            return Err(format!("the signal row lacks {want:?}: {row:?}"));
        }
    }
    let leg = page["leg"]["text"].as_str().unwrap_or_default();
    if page["leg"]["leg"] != "open" || !leg.contains("buy") || !leg.contains("@ 1.08345") {
        return Err(format!("the order leg is not the buy at 1.08345: {leg:?}"));
    }
    // The quantity names what it counts (at Coinbase a currency that differs between a buy
    // not known to have filled and a filled one), and times their zone.
    if !leg.contains(" units") {
        return Err(format!("the order leg's quantity has no unit: {leg:?}"));
    }
    if !row.contains(" UTC") {
        return Err(format!("the signal row's time names no zone: {row:?}"));
    }
    let paper = common::get_json(base, "/local/positions").await;
    let held = number(&paper["oanda"]["EUR_USD"]);
    if held.is_none() || number(&page["position"]) != held {
        return Err(format!(
            "the page shows position {} where the paper broker holds {}",
            page["position"], paper["oanda"]["EUR_USD"]
        ));
    }
    let position_row = page["position_row"].as_str().unwrap_or_default();
    if !position_row.contains("0 USD") {
        return Err(format!(
            "the position's P&L at the alert's close is not 0 USD: {position_row:?}"
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_posted_alert_live_in_headless_chromium() {
    let install = "run `bash scripts/test.sh`, which installs Debian's `chromium` and \
                   `chromium-driver` (or: apt-get install chromium chromium-driver)";
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: {install}"
    );
    let Some(driver_binary) = chromedriver() else {
        panic!("chromedriver is not on PATH: {install}");
    };

    let stack = common::start().await;
    let run_dir = common::workspace().join(".test-run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let shot = run_dir.join("dashboard.png");
    let _ = std::fs::remove_file(&shot);

    let driver = start_driver(&driver_binary).await;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--window-size=1280,1100",
            ],
        }),
    );
    let client = tokio::time::timeout(
        Duration::from_secs(60),
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url),
    )
    .await
    .expect("chromedriver did not open a Chromium session within 60 s")
    .unwrap_or_else(|e| panic!("chromedriver could not start Chromium: {e}"));

    let result = tokio::time::timeout(Duration::from_secs(60), drive(&client, &stack.base, &shot))
        .await
        .unwrap_or_else(|_| Err("the browser test took over 60 s".into()));
    // Closed before judging, so a failure leaves no browser behind.
    let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
    drop(driver);
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(shot.is_file(), "no screenshot at {}", shot.display());
}
