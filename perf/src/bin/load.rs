//! The local stack under load: alerts over real HTTP on 127.0.0.1, 50 symbols, alternating
//! directions, each signal followed to its fill.
//!
//! Phase `throughput` posts a fixed number of alerts as fast as 50 senders (one per symbol,
//! each waiting for its previous answer, so receipt order per symbol is the posting order)
//! can, and reports alerts/s accepted and executed. Phase `paced` posts at a fixed rate for a
//! fixed time and reports webhook-to-fill latency (POST sent to the executor's journaled
//! fill) and peak memory. With `--phase both` (the default) each phase runs in a child
//! process of its own, so each one's peak memory is its own. Exits 1 on a per-symbol
//! ordering inversion, a lost alert or an alert that was not filled. Phase `webhook` posts to
//! the webhook alone (no router, no executor), and phase `http` to the stack's HTTP layer
//! answering without ingest: the floor under the webhook's figure.
#![allow(
    clippy::print_stdout,
    reason = "a bench binary: its figures are its output"
)]

use chrono::{DateTime, Utc};
use clap::{Parser, ValueEnum};
use local_stack::console::SignalObserver;
use perf::{SYMBOLS, alert_body, alert_close, ms, percentile, vm_hwm_kib};
use serde_json::{Value, json};
use shared::clock::Clock as _;
use shared::execution::SignalStatus;
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Phase {
    Both,
    Throughput,
    Paced,
    /// The webhook alone: no router and no executor, accepted alerts stay queued; the stack's
    /// CPU per accepted request.
    Webhook,
    /// The floor under `webhook`: the stack's own HTTP layer (`local_stack::serve` and
    /// `local_stack::layered`) answering every POST with a fixed 200 of the webhook's shape,
    /// no ingest, no queue; the same senders and the same CPU accounting.
    Http,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum JournalKind {
    /// A SQLite file in a temporary directory, as `tvctl dev` runs.
    File,
    /// An in-memory SQLite database.
    Memory,
}

#[derive(Debug, Parser)]
#[command(about = "Load run of the local stack (127.0.0.1 only, bounded)")]
struct Args {
    /// Alerts posted in the throughput phase.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(50..=200_000))]
    alerts: u32,
    /// Alerts per second in the paced phase.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=5_000))]
    rate: u32,
    /// Duration of the paced phase, in seconds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=600))]
    secs: u64,
    #[arg(long, value_enum, default_value = "both")]
    phase: Phase,
    #[arg(long, value_enum, default_value = "file")]
    journal: JournalKind,
    /// Keep the stack's console lines (one per alert, signal and order).
    #[arg(long)]
    console: bool,
    /// Write the handlers' JSON log lines to a file beside the journal, as `tvctl dev` does
    /// (`LocalConfig::log_file`, at `RUST_LOG`'s level, warnings and errors by default);
    /// without it the run installs no log subscriber and logging costs nothing.
    #[arg(long)]
    handler_log: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Consumers per queue in the stack (its default is 4; Lambda runs message groups in
    /// parallel the same way).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pollers: u64,
    /// Write the file journal here and keep it (for `tvctl report`); the file must not exist.
    #[arg(long, conflicts_with = "journal")]
    keep_journal: Option<std::path::PathBuf>,
    /// Seconds between two samples of the resident memory in the paced phase.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    sample_secs: u64,
    /// The alert age limit the stack holds, in seconds (`tvctl dev --max-age-secs`; 30 by
    /// default, as there). The test of a debug build widens it: on a busy machine a debug
    /// stack's backlog can outlast 30 s, and admission control then answers 503.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    max_age_secs: u32,
    /// How long to wait for the last fills after the last post, in seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=600))]
    drain_secs: u64,
}

impl Args {
    /// How many alerts the paced phase posts: `rate` a second for `secs`.
    fn paced_alerts(&self) -> u64 {
        u64::from(self.rate) * self.secs
    }
}

/// A terminal journal record seen by the observer.
#[derive(Debug, Clone)]
struct Fill {
    at: Instant,
    status: SignalStatus,
}

/// A signal id as a number: ids are 32 hex digits (128 bits). The run keeps one per alert
/// three times over; as strings they grew the process by a few hundred bytes an alert, which
/// the paced phase's memory samples counted as the stack's.
type Key = u128;

fn key(signal_id: &str) -> Option<Key> {
    Key::from_str_radix(signal_id, 16).ok()
}

#[derive(Debug, Default)]
struct Fills {
    by_id: HashMap<Key, Fill>,
    /// Signal ids in the order the executors journaled them.
    order: Vec<Key>,
}

impl Fills {
    /// Room for `alerts` up front: inserts land all over the table, so its pages are in use
    /// early and the paced phase's memory samples do not see it grow by doubling.
    fn with_capacity(alerts: usize) -> Self {
        Self {
            by_id: HashMap::with_capacity(alerts),
            order: Vec::with_capacity(alerts),
        }
    }
}

/// One accepted alert.
#[derive(Debug, Clone)]
struct Sent {
    symbol: usize,
    seq: u32,
    signal_id: Key,
    sent_at: Instant,
}

#[derive(Debug, Default)]
struct Posted {
    accepted: Vec<Sent>,
    refused: HashMap<String, u32>,
}

struct Stack {
    url: String,
    fills: Arc<Mutex<Fills>>,
    _dir: Option<TempDir>,
}

/// A temporary directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the stack; `alerts` is how many the phase will post (room for their fills).
async fn start_stack(args: &Args, consumers: bool, alerts: usize) -> Result<Stack, String> {
    local_stack::console::set_quiet(!args.console);
    let fills = Arc::new(Mutex::new(Fills::with_capacity(alerts)));
    let seen = fills.clone();
    let observer = SignalObserver(Arc::new(move |r| {
        if matches!(
            r.status,
            SignalStatus::Received | SignalStatus::Routed | SignalStatus::Executing
        ) {
            return;
        }
        let at = Instant::now();
        let Some(id) = key(r.signal_id.as_str()) else {
            return;
        };
        let mut f = lock(&seen);
        if let std::collections::hash_map::Entry::Vacant(e) = f.by_id.entry(id) {
            e.insert(Fill {
                at,
                status: r.status,
            });
            f.order.push(id);
        }
    }));
    let (journal_url, dir) = match (&args.keep_journal, args.journal) {
        (Some(path), _) => {
            if path.exists() {
                return Err(format!("{}: exists; give a new file", path.display()));
            }
            (path.display().to_string(), None)
        }
        (None, JournalKind::Memory) => ("sqlite::memory:".to_owned(), None),
        (None, JournalKind::File) => {
            let dir = std::env::temp_dir().join(format!("perf-load-{}", std::process::id()));
            let url = dir.join("journal.sqlite").display().to_string();
            (url, Some(TempDir(dir)))
        }
    };
    let cfg = local_stack::LocalConfig {
        port: 0,
        journal_url,
        observer: Some(observer),
        pollers: usize::try_from(args.pollers).unwrap_or(1),
        consumers,
        freshness: shared::alert::Freshness {
            max_age: chrono::Duration::seconds(i64::from(args.max_age_secs)),
            ..Default::default()
        },
        ..Default::default()
    };
    if args.handler_log {
        let log = cfg
            .log_file()
            .ok_or("--handler-log needs a file journal (the log goes beside it)")?;
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        shared::telemetry::init_json_logs_to(&log)?;
    }
    // No broker settings: paper brokers, whatever this shell has set.
    let env = shared::config::MapEnv::new(Vec::<(String, String)>::new());
    let stack = local_stack::start(cfg, &env).await?;
    Ok(Stack {
        url: format!("http://{}/webhook", stack.addr),
        fills,
        _dir: dir,
    })
}

/// Serves the [`Phase::Http`] floor on 127.0.0.1: every request's body is read (as the
/// webhook's is) and answered with the shape of an accepted alert, under a signal id of its
/// own so the senders count it as accepted.
async fn start_http_floor() -> Result<Stack, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let next = Arc::new(std::sync::atomic::AtomicU64::new(1));
    let answer = move |body: axum::body::Bytes| {
        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        async move {
            axum::Json(json!({
                "signal_id": format!("{n:032x}"),
                "status": "enqueued",
                "broker": "oanda",
                "instrument": "EUR_USD",
                "bytes": body.len(),
            }))
        }
    };
    let routes = local_stack::layered(axum::Router::new().fallback(answer));
    tokio::spawn(local_stack::serve(listener, routes));
    Ok(Stack {
        url: format!("http://{addr}/webhook"),
        fills: Arc::new(Mutex::new(Fills::default())),
        _dir: None,
    })
}

/// One sender's keep-alive HTTP/1.1 connection to the stack: hyper's connection-level
/// client, without a pool, a URL parsed per request or a JSON tree of each answer. The
/// senders share the stack's two cores, so what they spend is taken from the stack's
/// throughput (reqwest's client took 25–33 µs of CPU an alert, this one 14–20).
struct Conn {
    addr: std::net::SocketAddr,
    path: http::uri::PathAndQuery,
    host: http::HeaderValue,
    send: Option<hyper::client::conn::http1::SendRequest<http_body_util::Full<hyper::body::Bytes>>>,
}

/// What the stack answers a POST to `/webhook`: the signal id when accepted, the error's code
/// when refused.
#[derive(serde::Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    signal_id: Option<&'a str>,
    #[serde(borrow)]
    error: Option<AnswerError<'a>>,
}

#[derive(serde::Deserialize)]
struct AnswerError<'a> {
    #[serde(borrow)]
    code: Option<&'a str>,
}

/// How long an answer may take, as the client's timeout before.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

impl Conn {
    fn new(url: &str) -> Result<Self, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let authority = uri.authority().ok_or(format!("{url}: no host"))?;
        Ok(Self {
            addr: authority
                .as_str()
                .parse()
                .map_err(|e| format!("{url}: {e}"))?,
            path: uri
                .path_and_query()
                .cloned()
                .ok_or(format!("{url}: no path"))?,
            host: http::HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?,
            send: None,
        })
    }

    /// The connection, opened again when the stack closed it (nothing of a request is sent
    /// on a closed one, so no alert is sent twice).
    async fn ready(
        &mut self,
    ) -> Result<
        &mut hyper::client::conn::http1::SendRequest<http_body_util::Full<hyper::body::Bytes>>,
        String,
    > {
        if let Some(s) = &mut self.send
            && s.ready().await.is_ok()
        {
            return self.send.as_mut().ok_or_else(String::new);
        }
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("transport: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("transport: {e}"))?;
        let (send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("transport: {e}"))?;
        tokio::spawn(conn);
        Ok(self.send.insert(send))
    }

    /// Posts one alert; `Ok(signal id)` when accepted, `Err(refusal code)` otherwise.
    async fn post(&mut self, body: String) -> Result<Key, String> {
        let req = http::Request::post(self.path.clone())
            .header(http::header::HOST, self.host.clone())
            .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let resp = match self.ready().await?.try_send_request(req).await {
                Ok(resp) => resp,
                // The stack closed the connection before the request was written (its header
                // deadline runs on an idle keep-alive connection too, `local_stack::serve`):
                // the request comes back unsent, and goes once on a new connection. One that
                // was written is never sent again.
                Err(mut e) => match e.take_message() {
                    Some(unsent) => {
                        self.send = None;
                        self.ready()
                            .await?
                            .send_request(unsent)
                            .await
                            .map_err(|e| format!("transport: {e}"))?
                    }
                    None => return Err(format!("transport: {}", e.error())),
                },
            };
            let status = resp.status();
            let bytes = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .map_err(|e| format!("HTTP {status}: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, bytes))
        };
        let (status, bytes) = match tokio::time::timeout(ANSWER_TIMEOUT, exchange).await {
            Ok(r) => r?,
            Err(_) => {
                self.send = None;
                return Err("transport: no answer in time".to_owned());
            }
        };
        let answer: Answer<'_> =
            serde_json::from_slice(&bytes).map_err(|e| format!("HTTP {status}: {e}"))?;
        match answer.signal_id.and_then(key) {
            Some(id) if status.is_success() => Ok(id),
            _ => Err(format!(
                "HTTP {} {}",
                status.as_u16(),
                answer.error.and_then(|e| e.code).unwrap_or("?")
            )),
        }
    }
}

/// Sends one symbol's alerts in order, each after the previous one was answered.
struct Sender {
    conn: Conn,
    symbol: usize,
    seq: u32,
    last_timenow: DateTime<Utc>,
}

impl Sender {
    async fn send_next(&mut self, posted: &Mutex<Posted>) {
        let (exchange, symbol, close) = SYMBOLS[self.symbol];
        let close = alert_close(close, self.seq);
        // A fresh timenow, strictly after the previous one: every alert is a new signal.
        let now = shared::clock::SystemClock
            .now()
            .max(self.last_timenow + chrono::Duration::microseconds(1));
        self.last_timenow = now;
        let body = alert_body(
            exchange,
            symbol,
            &close,
            self.seq.is_multiple_of(2),
            now,
            local_stack::LOCAL_SECRET,
        );
        let sent_at = Instant::now();
        let result = self.conn.post(body).await;
        let mut p = lock(posted);
        match result {
            Ok(signal_id) => p.accepted.push(Sent {
                symbol: self.symbol,
                seq: self.seq,
                signal_id,
                sent_at,
            }),
            Err(code) => *p.refused.entry(code).or_default() += 1,
        }
        self.seq += 1;
    }
}

/// Waits (bounded) until every accepted alert has a terminal journal record.
async fn drain(fills: &Mutex<Fills>, posted: &Posted, limit: Duration) {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        // The count first: a full scan of 20,000 ids every 5 ms, under the lock the
        // executors' observer takes, cost the stack a tenth of its CPU.
        let done = {
            let f = lock(fills);
            f.by_id.len() >= posted.accepted.len()
                && posted
                    .accepted
                    .iter()
                    .all(|s| f.by_id.contains_key(&s.signal_id))
        };
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What every phase checks: lost alerts, outcomes, and per-symbol order.
fn verdict(fills: &Fills, posted: &Posted) -> Value {
    let mut lost = 0u32;
    let mut statuses: HashMap<&'static str, u32> = HashMap::new();
    let mut seq_of: HashMap<Key, (usize, u32)> = HashMap::new();
    for s in &posted.accepted {
        seq_of.insert(s.signal_id, (s.symbol, s.seq));
        match fills.by_id.get(&s.signal_id) {
            Some(f) => *statuses.entry(f.status.as_str()).or_default() += 1,
            None => lost += 1,
        }
    }
    let mut last: HashMap<usize, u32> = HashMap::new();
    let mut inversions = 0u32;
    for id in &fills.order {
        let Some(&(symbol, seq)) = seq_of.get(id) else {
            continue;
        };
        if let Some(prev) = last.insert(symbol, seq)
            && prev > seq
        {
            inversions += 1;
        }
    }
    let not_filled: u32 = statuses
        .iter()
        .filter(|(k, _)| **k != "filled")
        .map(|(_, v)| *v)
        .sum();
    // Admission control may refuse alerts with 503 (TradingView sends them again): that is
    // the stack keeping its promise under a burst. Any other refusal, and any accepted alert
    // that expired in a queue, fails the run.
    let backlog_503: u32 = posted
        .refused
        .iter()
        .filter(|(code, _)| code.as_str() == "HTTP 503 backlog")
        .map(|(_, n)| *n)
        .sum();
    let other_refusals = posted.refused.values().sum::<u32>() - backlog_503;
    json!({
        "accepted": posted.accepted.len(),
        "refused": posted.refused,
        "refused_503_backlog": backlog_503,
        "lost": lost,
        "outcomes": statuses,
        "expired_after_accepted": statuses.get("expired").copied().unwrap_or_default(),
        "not_filled": not_filled,
        "inversions": inversions,
        "ok": lost == 0 && inversions == 0 && not_filled == 0 && other_refusals == 0,
    })
}

fn peak_mib() -> f64 {
    vm_hwm_kib("self").map_or(0.0, |k| k as f64 / 1024.0)
}

/// Posts `args.alerts` alerts through one sender per symbol; returns what was posted and how
/// long posting took.
async fn post_all(args: &Args, stack: &Stack) -> Result<(Posted, Instant, Duration), String> {
    let posted = Arc::new(Mutex::new(Posted::default()));
    let n = SYMBOLS.len() as u32;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for symbol in 0..SYMBOLS.len() {
        let count = args.alerts / n + u32::from((symbol as u32) < args.alerts % n);
        let mut sender = Sender {
            conn: Conn::new(&stack.url)?,
            symbol,
            seq: 0,
            last_timenow: DateTime::<Utc>::MIN_UTC,
        };
        let posted = posted.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..count {
                sender.send_next(&posted).await;
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())?;
    }
    let posted_in = started.elapsed();
    let posted = std::mem::take(&mut *lock(&posted));
    Ok((posted, started, posted_in))
}

/// The webhook alone: every alert is posted, accepted and queued, nothing consumes them.
async fn webhook(args: &Args, stack: &Stack, phase: &str) -> Result<Value, String> {
    let (posted, _, posted_in) = post_all(args, stack).await?;
    let refused: u32 = posted.refused.values().sum();
    Ok(json!({
        "phase": phase,
        "posted": args.alerts,
        "accepted": posted.accepted.len(),
        "refused": posted.refused,
        "accepted_per_s": posted.accepted.len() as f64 / posted_in.as_secs_f64(),
        "peak_mib": peak_mib(),
        "ok": refused == 0,
    }))
}

async fn throughput(args: &Args, stack: &Stack) -> Result<Value, String> {
    let (posted, started, posted_in) = post_all(args, stack).await?;
    drain(&stack.fills, &posted, Duration::from_secs(args.drain_secs)).await;
    let fills = lock(&stack.fills);
    let last_fill = posted
        .accepted
        .iter()
        .filter_map(|s| fills.by_id.get(&s.signal_id).map(|f| f.at))
        .max()
        .unwrap_or(started);
    let executed = posted
        .accepted
        .iter()
        .filter(|s| {
            fills
                .by_id
                .get(&s.signal_id)
                .is_some_and(|f| f.status == SignalStatus::Filled)
        })
        .count();
    let elapsed = last_fill.duration_since(started);
    let mut out = verdict(&fills, &posted);
    out["phase"] = json!("throughput");
    out["posted"] = json!(args.alerts);
    out["accepted_per_s"] = json!(posted.accepted.len() as f64 / posted_in.as_secs_f64());
    out["executed"] = json!(executed);
    out["seconds"] = json!(elapsed.as_secs_f64());
    out["executed_per_s"] = json!(executed as f64 / elapsed.as_secs_f64());
    out["peak_mib"] = json!(peak_mib());
    Ok(out)
}

async fn paced(args: &Args, stack: &Stack) -> Result<Value, String> {
    // Resident memory every `sample_secs`, while the alerts go in.
    let every = Duration::from_secs(args.sample_secs);
    let samples = Arc::new(Mutex::new(Vec::<(f64, f64)>::new()));
    let sampler = tokio::spawn({
        let samples = samples.clone();
        async move {
            let start = Instant::now();
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tick.tick().await;
                let mib = perf::vm_rss_kib("self").map_or(0.0, |k| k as f64 / 1024.0);
                lock(&samples).push((start.elapsed().as_secs_f64().round(), mib));
            }
        }
    });
    let total = args.paced_alerts();
    let posted = Arc::new(Mutex::new(Posted {
        accepted: Vec::with_capacity(usize::try_from(total).unwrap_or_default()),
        refused: HashMap::new(),
    }));
    let period = Duration::from_secs(1) / args.rate;
    // One sender per symbol, fed by a channel: a slow answer delays only its own symbol.
    let mut feeds = Vec::new();
    let mut tasks = Vec::new();
    for symbol in 0..SYMBOLS.len() {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1024);
        feeds.push(tx);
        let mut sender = Sender {
            conn: Conn::new(&stack.url)?,
            symbol,
            seq: 0,
            last_timenow: DateTime::<Utc>::MIN_UTC,
        };
        let posted = posted.clone();
        tasks.push(tokio::spawn(async move {
            while rx.recv().await.is_some() {
                sender.send_next(&posted).await;
            }
        }));
    }
    let start = tokio::time::Instant::now();
    let mut late = 0u64;
    for k in 0..total {
        let due = start + period * u32::try_from(k).unwrap_or(u32::MAX);
        if tokio::time::Instant::now() > due + Duration::from_millis(5) {
            late += 1;
        }
        tokio::time::sleep_until(due).await;
        let feed = &feeds[(k % SYMBOLS.len() as u64) as usize];
        feed.send(()).await.map_err(|e| e.to_string())?;
    }
    drop(feeds);
    for t in tasks {
        t.await.map_err(|e| e.to_string())?;
    }
    let offered = start.elapsed();
    sampler.abort();
    let samples = std::mem::take(&mut *lock(&samples));
    let posted = std::mem::take(&mut *lock(&posted));
    drain(&stack.fills, &posted, Duration::from_secs(args.drain_secs)).await;
    let fills = lock(&stack.fills);
    let mut latencies: Vec<Duration> = posted
        .accepted
        .iter()
        .filter_map(|s| {
            fills
                .by_id
                .get(&s.signal_id)
                .map(|f| f.at.saturating_duration_since(s.sent_at))
        })
        .collect();
    latencies.sort();
    let mut out = verdict(&fills, &posted);
    out["phase"] = json!("paced");
    out["rate"] = json!(args.rate);
    out["posted"] = json!(total);
    out["offered_per_s"] = json!(total as f64 / offered.as_secs_f64());
    out["late_dispatches"] = json!(late);
    out["p50_ms"] = json!(ms(percentile(&latencies, 50.0)));
    out["p99_ms"] = json!(ms(percentile(&latencies, 99.0)));
    out["max_ms"] = json!(ms(percentile(&latencies, 100.0)));
    out["peak_mib"] = json!(peak_mib());
    out["rss_mib_samples"] = json!(samples);
    // Flatness over the second half of the run (after the warm-up): the largest distance of a
    // sample from those samples' mean, in percent of the mean.
    let half = offered.as_secs_f64() / 2.0;
    let late: Vec<f64> = samples
        .iter()
        .filter(|(t, _)| *t >= half)
        .map(|(_, m)| *m)
        .collect();
    if !late.is_empty() {
        let mean = late.iter().sum::<f64>() / late.len() as f64;
        let spread = late.iter().map(|m| (m - mean).abs()).fold(0.0, f64::max);
        out["rss_mib_second_half"] = json!({
            "samples": late.len(),
            "min": late.iter().copied().fold(f64::INFINITY, f64::min),
            "max": late.iter().copied().fold(0.0, f64::max),
            "mean": mean,
            "max_deviation_pct": spread / mean * 100.0,
        });
    }
    Ok(out)
}

/// The threads of the load's own HTTP clients; every other thread is the stack's.
const CLIENT_THREADS: &str = "load-client";

/// Runs one phase: the stack on a runtime of its own (2 workers, as Lambda's 2 cores would
/// not be shared), the senders on another, so the stack's CPU time is told apart from the
/// senders' by thread ([`perf::thread_cpu_ns`]): every thread not named [`CLIENT_THREADS`]
/// (the stack's workers, SQLite's and the state file's threads) counts as the stack's.
fn run_phase(args: &Args, phase: Phase) -> Result<Value, String> {
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(name)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    };
    let stack_rt = runtime("stack")?;
    let client_rt = runtime(CLIENT_THREADS)?;
    let alerts = match phase {
        Phase::Paced => args.paced_alerts(),
        _ => u64::from(args.alerts),
    };
    let alerts = usize::try_from(alerts).unwrap_or_default();
    let stack = match phase {
        Phase::Http => stack_rt.block_on(start_http_floor())?,
        _ => stack_rt.block_on(start_stack(args, phase != Phase::Webhook, alerts))?,
    };
    let before = perf::thread_cpu_ns();
    let mut out = client_rt.block_on(async {
        match phase {
            Phase::Throughput => throughput(args, &stack).await,
            Phase::Webhook => webhook(args, &stack, "webhook").await,
            Phase::Http => webhook(args, &stack, "http").await,
            _ => paced(args, &stack).await,
        }
    })?;
    let after = perf::thread_cpu_ns();
    let stack_ns = perf::cpu_between(&before, &after, |n| !n.starts_with(CLIENT_THREADS));
    let client_ns = perf::cpu_between(&before, &after, |n| n.starts_with(CLIENT_THREADS));
    // Per signal executed (end to end), or per request accepted (the webhook alone).
    let per = match phase {
        Phase::Webhook | Phase::Http => out["accepted"].as_u64(),
        _ => out["outcomes"]["filled"].as_u64(),
    }
    .unwrap_or(0)
    .max(1) as f64;
    out["stack_cpu_s"] = json!(stack_ns as f64 / 1e9);
    out["stack_cpu_us_per_signal"] = json!(stack_ns as f64 / 1e3 / per);
    out["client_cpu_us_per_alert"] = json!(client_ns as f64 / 1e3 / per);
    // Where the stack's CPU went, by thread name with its trailing digits dropped (`comm` keeps
    // 15 bytes: "stack" for the stack's runtime and its blocking pool, "journal-writer" for
    // the journal's writes, "sqlx-sqlite-wor" for its sqlx connections' threads (reads and
    // the checkpoint task), "local-store-com" and "local-store-ckp" for the state file's
    // committer and checkpoints).
    let mut by_thread = serde_json::Map::new();
    for (name, _) in after.values() {
        let group: String = name
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .to_owned();
        if group.starts_with(CLIENT_THREADS) || by_thread.contains_key(&group) {
            continue;
        }
        let ns = perf::cpu_between(&before, &after, |n| {
            n.trim_end_matches(|c: char| c.is_ascii_digit()) == group
        });
        by_thread.insert(group, json!(ns as f64 / 1e3 / per));
    }
    out["stack_cpu_us_per_signal_by_thread"] = Value::Object(by_thread);
    drop(stack);
    stack_rt.shutdown_timeout(Duration::from_secs(1));
    Ok(out)
}

/// Runs one phase in a child process of this binary and returns its JSON figures.
fn child(args: &Args, phase: &str) -> Result<Value, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--phase", phase, "--json"])
        .args(["--alerts", &args.alerts.to_string()])
        .args(["--rate", &args.rate.to_string()])
        .args(["--secs", &args.secs.to_string()])
        .args(["--drain-secs", &args.drain_secs.to_string()])
        .args(["--pollers", &args.pollers.to_string()])
        .args(["--max-age-secs", &args.max_age_secs.to_string()])
        .args(args.handler_log.then_some("--handler-log"))
        .args([
            "--journal",
            match args.journal {
                JournalKind::File => "file",
                JournalKind::Memory => "memory",
            },
        ]);
    let out = cmd.output().map_err(|e| format!("{phase}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).map_err(|_| {
        format!(
            "{phase} phase gave no figures (exit {:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn f(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| v.to_string(), |x| format!("{x:.1}"))
}

/// `{"stack": 150.2, "sqlx-sqlite-wor": 66.1}` as `stack 150.2, sqlx-sqlite-wor 66.1`, largest
/// first.
fn by_thread(v: &Value) -> String {
    let mut threads: Vec<(&String, f64)> = v
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k, v.as_f64()?)))
                .collect()
        })
        .unwrap_or_default();
    threads.sort_by(|a, b| b.1.total_cmp(&a.1));
    threads
        .iter()
        .map(|(name, us)| format!("{name} {us:.1}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_table(figures: &[Value], journal: JournalKind) {
    println!("Local stack load run (journal: {journal:?}, 50 symbols, paper brokers)\n");
    println!(
        "The stack's CPU: every thread but the senders' ({CLIENT_THREADS}), from /proc/self/task/*/schedstat.\n"
    );
    println!("| figure | measured | target |");
    println!("|---|---|---|");
    for v in figures {
        match v["phase"].as_str() {
            Some("throughput") => {
                println!(
                    "| throughput: {} alerts, executed/s (first POST to last fill) | {} | >= 10000 |",
                    v["posted"],
                    f(&v["executed_per_s"])
                );
                println!(
                    "| throughput: the stack's CPU per executed signal (us) | {} | <= 80 |",
                    f(&v["stack_cpu_us_per_signal"])
                );
                println!(
                    "| throughput: that CPU by thread (us per signal) | {} | |",
                    by_thread(&v["stack_cpu_us_per_signal_by_thread"])
                );
                println!(
                    "| throughput: answered 503 backlog | {} | |",
                    v["refused_503_backlog"]
                );
                println!(
                    "| throughput: accepted/s at the webhook | {} | |",
                    f(&v["accepted_per_s"])
                );
                println!(
                    "| throughput: peak memory (VmHWM, MiB) | {} | |",
                    f(&v["peak_mib"])
                );
            }
            Some("paced") => {
                println!(
                    "| paced {}/s for {} alerts: webhook-to-fill p50 / p99 / max (ms) | {} / {} / {} | p99 <= 5 |",
                    v["rate"],
                    v["posted"],
                    f(&v["p50_ms"]),
                    f(&v["p99_ms"]),
                    f(&v["max_ms"])
                );
                println!(
                    "| paced: peak memory (VmHWM, MiB) | {} | |",
                    f(&v["peak_mib"])
                );
                let half = &v["rss_mib_second_half"];
                println!(
                    "| paced: resident memory over the second half, min / max (MiB), largest deviation from the mean | {} / {} / {} % | <= 10 % |",
                    f(&half["min"]),
                    f(&half["max"]),
                    f(&half["max_deviation_pct"])
                );
                println!(
                    "| paced: the stack's CPU per executed signal (us) | {} | |",
                    f(&v["stack_cpu_us_per_signal"])
                );
            }
            Some("webhook") => {
                println!(
                    "| webhook alone: {} alerts, accepted/s | {} | |",
                    v["posted"],
                    f(&v["accepted_per_s"])
                );
                println!(
                    "| webhook alone: the stack's CPU per accepted request (us) | {} | <= 40 |",
                    f(&v["stack_cpu_us_per_signal"])
                );
                continue;
            }
            Some("http") => {
                println!(
                    "| HTTP floor (the stack's HTTP layer, a fixed answer, no ingest): the stack's CPU per request (us) | {} | |",
                    f(&v["stack_cpu_us_per_signal"])
                );
                continue;
            }
            _ => {}
        }
        println!(
            "| {}: lost / not filled / ordering inversions | {} / {} / {} | 0 / 0 / 0 |",
            v["phase"].as_str().unwrap_or("?"),
            v["lost"],
            v["not_filled"],
            v["inversions"]
        );
    }
}

/// mimalloc rather than glibc's malloc: under load glibc's allocator (with its consolidation
/// of freed chunks) was about a seventh of the local stack's CPU.
/// Built without transparent huge pages (the workspace's `no_thp` feature): see the root
/// `Cargo.toml`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    let figures: Result<Vec<Value>, String> = match args.phase {
        Phase::Both if args.keep_journal.is_some() => {
            Err("--keep-journal keeps one phase's journal: give --phase throughput or paced".into())
        }
        Phase::Both => ["throughput", "paced", "webhook", "http"]
            .iter()
            .map(|p| child(&args, p))
            .collect(),
        phase => run_phase(&args, phase).map(|v| vec![v]),
    };
    let figures = match figures {
        Ok(v) => v,
        Err(e) => {
            eprintln!("load: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        let one = if figures.len() == 1 {
            figures[0].clone()
        } else {
            json!(figures)
        };
        println!("{one}");
    } else {
        print_table(&figures, args.journal);
        for v in &figures {
            if !v["ok"].as_bool().unwrap_or(false) {
                println!("\n{} phase details: {v}", v["phase"]);
            }
        }
    }
    if figures.iter().all(|v| v["ok"].as_bool().unwrap_or(false)) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
