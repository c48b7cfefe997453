//! The local stack keeps its promises across a crash. `tvctl dev` runs as a process on a
//! state file and a journal file, trading OANDA through the HTTP fake (a real broker client
//! against a server that speaks OANDA's documented API) and Tradovate on its paper broker. It
//! is killed with SIGKILL in the middle of a load, started again on the same files, and every
//! alert is sent again, the answered ones as TradingView resends them and the unanswered
//! ones. Then:
//!
//! - every alert is executed: one terminal journal record per signal, none left behind;
//! - no order was sent twice: at the OANDA fake, one order request per client order id; at
//!   the paper broker, as many fills as distinct client order ids;
//! - the paper book the state file gives a restart nets every leg the journal filled.
#![allow(clippy::unwrap_used)]

mod common;

use broker_fakes::oanda::FakeOanda;
use rust_decimal::Decimal;
use shared::clock::Clock;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "crash-test-secret-4f8a1c9e";
const SYMBOLS: [(&str, &str, &str); 5] = [
    ("OANDA", "EURUSD", "1.08345"),
    ("OANDA", "GBPUSD", "1.26510"),
    ("OANDA", "USDJPY", "151.234"),
    ("CME_MINI", "ES1!", "5812.25"),
    ("CME_MINI", "NQ1!", "20511.50"),
];
const ALERTS: usize = 400;

struct Dev {
    child: Child,
    base: String,
    /// Messages the start found in the state file ("restored N queued message(s)").
    restored: usize,
    /// Signals the start found in progress ("took over N signal(s)").
    took_over: usize,
    /// When the start was spawned.
    spawned: Instant,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, port: u16, oanda: &FakeOanda) -> Dev {
    let spawned = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tvctl"));
    cmd.args(["dev", "--port", &port.to_string(), "--visibility-secs", "5"])
        .arg("--journal")
        .arg(dir.join("journal.sqlite"));
    for v in common::BROKER_VARIABLES {
        cmd.env_remove(v);
    }
    let mut child = cmd
        .env_remove("RISK_CONFIG")
        .env_remove("RISK_CONFIG_FILE")
        .env_remove("OANDA_RISK_CONFIG")
        .env_remove("OANDA_RISK_CONFIG_FILE")
        .env_remove("TRADOVATE_RISK_CONFIG")
        .env_remove("TRADOVATE_RISK_CONFIG_FILE")
        .env_remove("COINBASE_RISK_CONFIG")
        .env_remove("COINBASE_RISK_CONFIG_FILE")
        .env("WEBHOOK_SECRET", SECRET)
        // Every alert's `timenow` is the test's start: the whole run, kill and restart
        // included, must not outlast the age limit on a slow machine.
        .env("MAX_ALERT_AGE_SECS", "600")
        .env("OANDA_BASE_URL", &oanda.url)
        .env("OANDA_ACCOUNT", &oanda.account)
        .env("OANDA_SECRET", &oanda.token)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut restored = 0;
    let mut took_over = 0;
    let base = loop {
        let line = lines
            .next()
            .expect("tvctl dev exited before listening")
            .unwrap();
        if let Some(n) = line
            .split_once("restored ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
        {
            restored = n.parse().unwrap_or_default();
        }
        if let Some(n) = line
            .split_once("took over ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
        {
            took_over = n.parse().unwrap_or_default();
        }
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Dev {
        child,
        base,
        restored,
        took_over,
        spawned,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Alert `i`: symbols in turn, each symbol alternating long and short entries, every one a
/// new signal (its own `timenow`).
fn alert(i: usize, timenow: chrono::DateTime<chrono::Utc>) -> String {
    let (exchange, symbol, close) = SYMBOLS[i % SYMBOLS.len()];
    let long = (i / SYMBOLS.len()).is_multiple_of(2);
    let (action, direction) = if long {
        ("LONG_ENTRY", "LONG")
    } else {
        ("SHORT_ENTRY", "SHORT")
    };
    serde_json::json!({
        "action": action,
        "indicator": "Trend_Validator",
        "signal": {"type": "ENTRY", "direction": direction, "trigger": "COLOR_CHANGE"},
        "market_data": {
            "symbol": symbol,
            "exchange": exchange,
            "timeframe": "1",
            "timestamp": (timenow - chrono::Duration::seconds(60))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "timenow": timenow.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        },
        "price_data": {"open": close, "high": close, "low": close, "close": close, "volume": "100"},
        "passphrase": SECRET,
    })
    .to_string()
}

/// Posts `body`; the signal id when answered 200, `None` when the request failed (the process
/// was killed) or was refused.
async fn post(client: &reqwest::Client, base: &str, body: &str) -> Option<String> {
    let resp = client
        .post(format!("{base}/webhook"))
        .header("content-type", "text/plain; charset=utf-8")
        .body(body.to_owned())
        .send()
        .await
        .ok()?;
    if resp.status() != 200 {
        return None;
    }
    let v: serde_json::Value = resp.json().await.ok()?;
    v["signal_id"].as_str().map(str::to_owned)
}

/// The journal's signals: id → status.
fn journal(dir: &Path) -> HashMap<String, String> {
    let conn = rusqlite::Connection::open(dir.join("journal.sqlite")).unwrap();
    let mut stmt = conn
        .prepare("SELECT signal_id, status FROM signals")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Waits (bounded) until every signal of `ids` has a terminal journal record; the journal.
async fn wait_terminal(dir: &Path, ids: &HashSet<String>) -> HashMap<String, String> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let j = journal(dir);
        let pending: Vec<_> = ids
            .iter()
            .filter(|id| {
                !j.get(*id)
                    .is_some_and(|s| s != "executing" && s != "unknown")
            })
            .collect();
        if pending.is_empty() {
            return j;
        }
        assert!(
            Instant::now() < until,
            "{} of {} signals not executed after the restart, e.g. {:?}",
            pending.len(),
            ids.len(),
            pending
                .iter()
                .take(3)
                .map(|id| (id, j.get(*id)))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_load_then_resend_everything_executes_each_alert_once() {
    let dir = std::env::temp_dir().join(format!("tvctl-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let oanda = FakeOanda::start().await;
    let port = free_port();
    let dev = Arc::new(Mutex::new(Some(start(&dir, port, &oanda))));
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    // Every alert's body, fixed now: a resend is the same body, as TradingView's is.
    let t0 = shared::clock::SystemClock.now();
    let bodies: Vec<String> = (0..ALERTS)
        .map(|i| alert(i, t0 + chrono::Duration::microseconds(i as i64)))
        .collect();

    // One sender per symbol, each alert after the previous one was answered (so each symbol's
    // signals arrive in order and none is superseded); the stack is killed once a third of
    // the alerts are answered.
    let answered = Arc::new(Mutex::new(HashSet::new()));
    let killed_at = ALERTS / 3;
    let mut senders = Vec::new();
    for s in 0..SYMBOLS.len() {
        let (client, base, bodies) = (client.clone(), base.clone(), bodies.clone());
        let (answered, dev) = (answered.clone(), dev.clone());
        senders.push(tokio::spawn(async move {
            for i in (s..ALERTS).step_by(SYMBOLS.len()) {
                let Some(id) = post(&client, &base, &bodies[i]).await else {
                    break;
                };
                let mut a = answered.lock().unwrap();
                a.insert(id);
                if a.len() == killed_at {
                    // SIGKILL: no shutdown, no flush.
                    if let Some(d) = dev.lock().unwrap().as_mut() {
                        d.child.kill().unwrap();
                    }
                }
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    let before_kill = answered.lock().unwrap().len();
    assert!(
        before_kill >= killed_at && before_kill < ALERTS,
        "the kill came mid-load: {before_kill} of {ALERTS} answered"
    );
    drop(dev.lock().unwrap().take());

    // Started again on the same files. First, with nothing sent again, every alert answered
    // before the kill executes: from the queues the state file kept.
    let sent_before = oanda.order_requests().len();
    let dev = start(&dir, port, &oanda);
    let answered = answered.lock().unwrap().clone();
    eprintln!(
        "answered before the kill: {}; restored queued messages: {}; signals in progress \
         taken over: {}",
        answered.len(),
        dev.restored,
        dev.took_over
    );
    assert!(dev.restored > 0, "the kill left no backlog to restore");
    let executed_before_resend = wait_terminal(&dir, &answered).await;
    // A start that found signals in progress (the kill came mid-order) runs its executors
    // only after the brokers' longest settle time, so an order sent just before the kill
    // is listed when the takeover looks it up: OANDA documents no time for that.
    if dev.took_over > 0 {
        let first = oanda.order_requests().get(sent_before).map(|r| r.at);
        assert!(
            first.is_none_or(|at| at >= dev.spawned + local_stack::RESTART_TAKEOVER_WAIT),
            "an order left {:?} after the restart, before the takeover wait",
            first.map(|at| at - dev.spawned)
        );
    }

    // Then every alert is sent again, as TradingView resends: the answered ones are dropped
    // by the dedup window, the others execute.
    let mut ids = HashSet::new();
    for body in &bodies {
        let id = post(&client, &dev.base, body)
            .await
            .expect("every alert is accepted after the restart");
        ids.insert(id);
    }
    assert_eq!(ids.len(), ALERTS, "each alert is its own signal");
    assert!(
        answered.is_subset(&ids),
        "a resend has the id of the first send"
    );
    let statuses = wait_terminal(&dir, &ids).await;
    for id in &answered {
        assert_eq!(
            statuses.get(id),
            executed_before_resend.get(id),
            "{id} changed after its resend"
        );
    }
    let mut by_status: HashMap<&str, usize> = HashMap::new();
    for id in &ids {
        *by_status.entry(statuses[id].as_str()).or_default() += 1;
    }
    assert_eq!(
        by_status.get("filled").copied().unwrap_or_default(),
        ALERTS,
        "every alert filled (none expired, lost or refused): {by_status:?}"
    );

    // At the OANDA fake: one order request per client order id.
    let per_id = oanda.created_per_client_id();
    let twice: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "orders sent twice at OANDA: {twice:?}");
    let posts = oanda.order_requests().len();
    assert_eq!(posts, per_id.len(), "one order request per client order id");
    assert!(posts >= ALERTS * 3 / 5, "OANDA traded: {posts} orders");

    // At the paper broker: as many fills as distinct client order ids.
    let state = rusqlite::Connection::open(dir.join("journal.state.sqlite")).unwrap();
    let (orders, fills, distinct): (i64, i64, i64) = state
        .query_row(
            // A fill's `n` is the account's order count after it.
            // Fills are keyed by signal time too: a client order id filled twice under two
            // times would be two rows, which the distinct count tells.
            "SELECT (SELECT MAX(n) FROM paper_fill WHERE account = 'paper-tradovate'),
                    (SELECT COUNT(*) FROM paper_fill WHERE account = 'paper-tradovate'),
                    (SELECT COUNT(DISTINCT client_order_id) FROM paper_fill
                     WHERE account = 'paper-tradovate')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(orders, fills, "a paper client order id filled twice");
    assert_eq!(distinct, fills, "a paper client order id filled twice");
    assert!(
        fills >= (ALERTS * 2 / 5) as i64,
        "Tradovate paper traded: {fills} fills"
    );
    drop(state);

    // The restarted stack's dashboard gives every paper position held its average price:
    // the fills journaled before the kill were booked at the start, its own after them (each
    // right after its journal commit, so read until it shows, bounded).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let board: serde_json::Value = client
            .get(format!("{}/dashboard/state", dev.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let rows = board["status"]["positions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["broker"] == "tradovate")
            .and_then(|b| b["rows"].as_array().cloned())
            .unwrap_or_default();
        assert!(!rows.is_empty(), "paper positions shown: {board}");
        let missing: Vec<_> = rows
            .iter()
            .filter(|r| !r["average_price"].is_string())
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "no average price: {missing:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(dev);

    // And the paper book the state file gives a restart (its folded holdings and the fills
    // after the last fold) nets every leg the journal has filled, contract by contract.
    let journal = rusqlite::Connection::open(dir.join("journal.sqlite")).unwrap();
    let mut stmt = journal
        .prepare(
            "SELECT instrument, side, quantity FROM orders
             WHERE account = 'paper-tradovate' AND outcome = 'filled'
             GROUP BY client_order_id",
        )
        .unwrap();
    let mut net: BTreeMap<String, Decimal> = BTreeMap::new();
    for row in stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .unwrap()
    {
        let (instrument, side, quantity) = row.unwrap();
        let quantity: Decimal = quantity.parse().unwrap();
        *net.entry(instrument).or_default() += if side == "buy" { quantity } else { -quantity };
    }
    net.retain(|_, q| !q.is_zero());
    let store = local_store::LocalStore::open(&dir.join("journal.state.sqlite")).unwrap();
    let mut book = store
        .paper_book("paper-tradovate")
        .unwrap()
        .unwrap_or_default()
        .holdings;
    book.retain(|_, q| !q.is_zero());
    assert!(!net.is_empty(), "the paper account ends holding contracts");
    assert_eq!(
        book, net,
        "the restored paper book nets the journal's fills"
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
