//! The live dashboard of the local stack: one read-only page at `/`, its JSON snapshot at
//! `GET /dashboard/state` and its updates as server-sent events at `GET /dashboard/events`.
//!
//! What it shows comes from two places. Signals, their legs, the last alert close per
//! instrument and the refusals are pushed here as they happen: by [`DashboardJournal`] (a
//! journal decorator, so the page shows exactly what the journal recorded) and by the
//! webhook handler (accepted and refused alerts). Positions, broker health and the queues are
//! read from the paper brokers, the health store and the local queues whenever an update is
//! sent, so they are never out of step with what `tvctl positions` and `tvctl status` say.
//!
//! The page is embedded in the binary and fetches nothing from outside; a Content Security
//! Policy pins its one inline script by hash and allows connections to this origin only. No
//! route here changes anything, and none shows a secret: signals are reduced to the fields
//! below, never the alert body.

use crate::venue::AnyVenue;
use crate::{Health, Queues};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use executor_runtime::drive::ReadError;
use executor_runtime::paper::{PaperNetting, PaperSpot};
use executor_runtime::venue::PositionRead;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};
use shared::clock::{Clock, SystemClock};
use shared::execution::{JournalError, OrderRecord, SignalRecord, SignalStatus, TradeJournal};
use shared::health::{HealthState, HealthStore};
use shared::outcome::Outcome;
use shared::routing::Broker;
use shared::signal::SignalId;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{broadcast, mpsc};

/// The page: HTML with its CSS and JS inline, embedded at build time.
const PAGE: &str = include_str!("dashboard.html");

/// Signals kept for the page, newest first; older ones are in the journal (`tvctl trades`).
pub(crate) const MAX_SIGNALS: usize = 100;
/// Refusals kept, whatever their age, so an alert storm cannot grow memory without bound.
const MAX_REFUSALS: usize = 500;
/// Client order ids remembered against double booking; a load run makes many more fills.
const MAX_BOOKED: usize = 10_000;
/// Dead letters listed per queue (the count is always exact).
const MAX_LETTERS: usize = 10;
/// Free text from an alert (symbol, action) is cut to this many characters on the page.
const MAX_TEXT: usize = 40;
/// How often a connected page gets positions, health and queues when they have changed.
const STATUS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The refusals shown: those of the last hour.
fn refusal_window() -> chrono::Duration {
    chrono::Duration::hours(1)
}

/// One leg of a signal as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegView {
    pub instrument: String,
    pub leg: &'static str,
    pub attempt: u32,
    pub side: &'static str,
    pub quantity: Decimal,
    /// What `quantity` counts ([`OrderRecord::quantity_unit`]): `units`, `contracts`, or a
    /// currency at Coinbase, where a buy not known to have filled counts the quote currency
    /// it was to spend (`100` USD) and a filled one the base it bought (`0.0015` BTC).
    pub quantity_unit: String,
    pub fill_price: Option<Decimal>,
    pub outcome: Outcome,
}

/// One signal as the page shows it: no alert body, no passphrase, no client order id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignalView {
    pub signal_id: String,
    pub broker: Option<Broker>,
    pub instrument: Option<String>,
    pub symbol: String,
    pub action: String,
    /// `enqueued` until the executor has journaled it, then the journal's status.
    pub status: String,
    pub reason: Option<String>,
    /// The alert's close, which paper fills use and the P&L is marked at.
    pub close: Option<Decimal>,
    pub first_seen: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub legs: Vec<LegView>,
}

/// An alert ingest refused, or a signal an executor refused or found expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub at: DateTime<Utc>,
    /// `ingest` or `executor`.
    pub stage: &'static str,
    /// The HTTP status ingest answered with (ingest refusals only).
    pub http_status: Option<u16>,
    pub code: String,
    /// Ingest's public message (already scrubbed of the secret) or the executor's reason.
    pub message: String,
    pub signal_id: Option<String>,
    pub broker: Option<Broker>,
    pub instrument: Option<String>,
}

/// The net position and its average price, from the fills this process has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CostBasis {
    pub net: Decimal,
    /// `None` while flat.
    pub average: Option<Decimal>,
}

impl CostBasis {
    /// Books one fill: adding to a position moves the average, reducing it keeps the average,
    /// going through zero starts a new average at the fill price.
    pub fn apply(&mut self, buy: bool, quantity: Decimal, price: Decimal) {
        let signed = if buy { quantity } else { -quantity };
        let after = self.net + signed;
        let same_way = self.net.is_zero() || (self.net.is_sign_positive() == buy);
        self.average = if after.is_zero() {
            None
        } else if same_way {
            let held = self.net.abs() * self.average.unwrap_or(price);
            Some((held + quantity * price) / after.abs())
        } else if after.is_sign_positive() == self.net.is_sign_positive() {
            self.average
        } else {
            Some(price)
        };
        self.net = after;
    }
}

/// The fields of a journaled order intent the dashboard reads: the alert's close and time
/// (`shared::message::OrderIntent`'s `reference_price` and `signal_time`).
#[derive(Debug, Default, serde::Deserialize)]
struct IntentPrice {
    reference_price: Option<Decimal>,
    signal_time: Option<DateTime<Utc>>,
}

/// The alert closes of the journaled signals a paper book priced its instrument by, oldest
/// first, as (broker, instrument, close), from `recent` given newest first (as
/// `recent_signals` reads them). A paper book notes them after a restart, so a roll's close
/// of a contract fills at that contract's latest alert close, as it would have before it:
/// while it runs, a paper book notes the close of every alert it is handed, traded or not
/// (an entry refused for its size, an exit with nothing to close: `PaperNetting::execute`).
/// What is mostly stopped before the paper book gives none: an expired signal (a stale
/// alert), one the kill switch refused, and a superseded one (older than one taken; one
/// superseded just before its first order was priced while running, but its close is older
/// than the signal's taken before it, which priced the contract later); nor does one without
/// an instrument or whose intent has no readable close.
pub(crate) fn alert_closes(
    recent: &[SignalRecord],
) -> impl Iterator<Item = (Broker, &str, Decimal)> {
    use shared::execution::SignalStatus as S;
    let kill_switch = executor_runtime::risk::Refusal::KillSwitch.to_string();
    recent.iter().rev().filter_map(move |r| {
        let stopped = match r.status {
            S::Expired | S::Superseded => true,
            S::Refused => r.reason.as_deref() == Some(kill_switch.as_str()),
            _ => false,
        };
        if stopped {
            return None;
        }
        let close = r.normalized.read::<IntentPrice>().ok()?.reference_price?;
        Some((r.broker?, r.instrument.as_deref()?, close))
    })
}

/// The broker health the journaled signals show, as (broker, when, event) in the order of
/// their times, from `recent` (the journal's latest signals): after a restart the status
/// routes (`tvctl status`) tell what they told before it (a path degraded by a rejection
/// stays degraded until a success), not `unknown`. Each signal's outcome counts as its
/// execution did ([`executor_runtime::health::outcome_event`]), at its broker's answer (else
/// its send, else the executor's start); ordered by that time, not by the signals' arrival,
/// as health keeps the event recorded last (a signal retried for minutes ends after later
/// ones). A signal the executor stopped by its own rules (the trader's roll rule, a
/// reversal's open held back after a change outside the signal), journaled `rejected` with
/// that rule's words ([`executor_runtime::drive::stopped_by_policy`]), counts for nothing, as
/// it did while the stack ran: it was no answer of the broker's.
///
/// Only the signals of the account each broker trades now count: a paper fill says nothing
/// of the real account set since (a wrong token shown `ok` by its paper history), nor a real
/// rejection of the paper book. `in_force` says whether the account a broker traded at a
/// time is today's (the state file keeps from which start each traded,
/// `LocalStore::broker_accounts`); `None` before that history, where a signal's kind is its
/// legs' account ([`paper_account`], against `paper_now`: it is a paper broker), and one
/// without legs (a no-op, a refusal before sending) takes the kind of the nearest signal of
/// its broker before it that has legs, else after it; with none in `recent`, it counts.
pub(crate) fn journaled_health(
    recent: &[(SignalRecord, Vec<OrderRecord>)],
    paper_now: impl Fn(Broker) -> bool,
    in_force: impl Fn(Broker, DateTime<Utc>) -> Option<bool>,
) -> Vec<(Broker, DateTime<Utc>, shared::health::HealthEvent)> {
    // Oldest first before the (stable) sort: of two events at one time, the later signal's
    // is applied last, as it was recorded.
    let oldest_first: Vec<&SignalRecord> = recent.iter().rev().map(|(r, _)| r).collect();
    let mut kinds: Vec<Option<bool>> = recent
        .iter()
        .rev()
        .map(|(r, legs)| {
            let broker = r.broker?;
            let first = legs.first()?;
            Some(first.account.as_str() == paper_account(broker))
        })
        .collect();
    // Legless signals take the kind of their broker's nearest legged one before them, else
    // after them.
    for backwards in [false, true] {
        let mut last: BTreeMap<Broker, bool> = BTreeMap::new();
        let order: Vec<usize> = if backwards {
            (0..kinds.len()).rev().collect()
        } else {
            (0..kinds.len()).collect()
        };
        for i in order {
            let Some(broker) = oldest_first[i].broker else {
                continue;
            };
            match kinds[i] {
                Some(kind) => {
                    last.insert(broker, kind);
                }
                None => kinds[i] = last.get(&broker).copied(),
            }
        }
    }
    let mut events: Vec<_> = oldest_first
        .into_iter()
        .zip(kinds)
        .filter_map(|(r, legs_paper)| {
            let broker = r.broker?;
            if r.status == shared::execution::SignalStatus::Rejected
                && r.reason
                    .as_deref()
                    .is_some_and(executor_runtime::drive::stopped_by_policy)
            {
                return None;
            }
            let event = executor_runtime::health::outcome_event(r.status.outcome()?)?;
            let at = r
                .stages
                .broker_acked
                .or(r.stages.broker_sent)
                .or(r.stages.executor_start)?;
            let ours = match in_force(broker, at) {
                Some(ours) => ours,
                None => legs_paper.is_none_or(|paper| paper == paper_now(broker)),
            };
            ours.then_some((broker, at, event))
        })
        .collect();
    events.sort_by_key(|(_, at, _)| *at);
    events
}

/// The account a paper broker trades under (`paper-oanda`, `paper-tradovate`,
/// `paper-coinbase`): what its journaled legs name.
pub(crate) fn paper_account(broker: Broker) -> &'static str {
    match broker {
        Broker::Oanda => "paper-oanda",
        Broker::Tradovate => "paper-tradovate",
        Broker::Coinbase => "paper-coinbase",
    }
}

#[derive(Debug, Default)]
struct Board {
    signals: VecDeque<SignalView>,
    /// The latest alert close per broker and instrument, with the alert's time: a replay of
    /// an older signal does not set the price back.
    last_close: BTreeMap<(Broker, String), (DateTime<Utc>, Decimal)>,
    costs: BTreeMap<(Broker, String), CostBasis>,
    /// Fills already booked, by client order id (one order at the broker, however often it
    /// was sent): a replay that journals the same legs again must not count them twice.
    booked: HashSet<String>,
    /// `booked` in booking order, so the oldest are forgotten past [`MAX_BOOKED`].
    booked_order: VecDeque<String>,
    /// Fills booked so far, ever: what tells a real broker's position read that a fill came.
    booked_total: usize,
    refusals: VecDeque<Refusal>,
}

impl Board {
    fn signal_mut(&mut self, id: &str, now: DateTime<Utc>) -> &mut SignalView {
        let at = match self.signals.iter().position(|s| s.signal_id == id) {
            Some(i) => i,
            None => {
                self.signals.push_front(SignalView {
                    signal_id: id.to_owned(),
                    broker: None,
                    instrument: None,
                    symbol: String::new(),
                    action: String::new(),
                    status: "enqueued".into(),
                    reason: None,
                    close: None,
                    first_seen: now,
                    updated_at: now,
                    legs: Vec::new(),
                });
                self.signals.truncate(MAX_SIGNALS);
                0
            }
        };
        // Present by construction; `position` above found it or it was just pushed.
        &mut self.signals[at]
    }

    /// Whether this fill is new (and remembers it).
    fn book(&mut self, client_order_id: &str) -> bool {
        if !self.booked.insert(client_order_id.to_owned()) {
            return false;
        }
        self.booked_order.push_back(client_order_id.to_owned());
        self.booked_total += 1;
        if self.booked_order.len() > MAX_BOOKED
            && let Some(old) = self.booked_order.pop_front()
        {
            self.booked.remove(&old);
        }
        true
    }

    fn push_refusal(&mut self, r: Refusal, now: DateTime<Utc>) {
        self.refusals.push_front(r);
        self.refusals.truncate(MAX_REFUSALS);
        let since = now - refusal_window();
        while self.refusals.back().is_some_and(|r| r.at < since) {
            self.refusals.pop_back();
        }
    }
}

/// A change pushed to every connected page: the SSE event name and its JSON.
#[derive(Debug, Clone)]
struct Update {
    kind: &'static str,
    json: Arc<str>,
}

/// What the dashboard has seen, and the channel its pages listen on.
pub struct Dashboard {
    board: Mutex<Board>,
    updates: broadcast::Sender<Update>,
    /// Times of signals, refusals and reads (the system clock but in tests).
    clock: Arc<dyn Clock>,
    /// The stack's base URL once it listens (`http://127.0.0.1:8080`), for the commands the
    /// console suggests.
    pub base: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard").finish_non_exhaustive()
    }
}

impl Default for Dashboard {
    fn default() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }
}

impl Dashboard {
    /// A dashboard that reads the time from `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            board: Mutex::default(),
            // A page that falls this far behind gets a fresh snapshot instead.
            updates: broadcast::channel(256).0,
            clock,
            base: std::sync::OnceLock::new(),
        }
    }
}

fn cut(text: &str) -> String {
    text.chars().take(MAX_TEXT).collect()
}

impl Dashboard {
    fn lock(&self) -> std::sync::MutexGuard<'_, Board> {
        // A panic elsewhere must not take the dashboard (or trading, which feeds it) down.
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a page is connected; when none is (the usual case), there is nothing to copy
    /// or serialize for it.
    fn listened(&self) -> bool {
        self.updates.receiver_count() > 0
    }

    fn publish(&self, kind: &'static str, value: &impl Serialize) {
        if !self.listened() {
            return;
        }
        let json = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
        let _ = self.updates.send(Update {
            kind,
            json: json.into(),
        });
    }

    /// Ingest accepted an alert and queued it. `action` is read from the validated body by
    /// the caller; nothing else of the body is kept. The symbol follows with the executor's
    /// record, which carries the alert as ingest redacted it.
    pub fn accepted(
        &self,
        signal_id: &str,
        broker: Option<Broker>,
        instrument: Option<&str>,
        action: &str,
    ) {
        let now = self.clock.now();
        let mut board = self.lock();
        let s = board.signal_mut(signal_id, now);
        // The executor may have journaled it already (the queue is fast): fill gaps only.
        s.broker = s.broker.or(broker);
        if s.instrument.is_none() {
            s.instrument = instrument.map(cut);
        }
        if s.action.is_empty() {
            s.action = cut(action);
        }
        // Under the lock, as in `journaled`: in the order the views were made.
        self.publish("signal", &*s);
    }

    /// A message about `signal_id` failed its last receive on `queue` and goes to its
    /// dead-letter queue (`dead_letters`): a signal no executor journaled (still `enqueued`)
    /// shows `dead_letter`, with why and how to replay it, instead of waiting for an order
    /// that is not coming. A signal the journal has a status for keeps it.
    pub fn dead_lettered(&self, signal_id: &str, queue: &str, dead_letters: &str, why: &str) {
        // The handler's error as the console printed it, bounded as a journal reason is not:
        // it can quote a broker's answer.
        let why: String = why.chars().take(300).collect();
        self.mark_dead_letter(signal_id, false, |base| {
            format!(
                "to {dead_letters} after failing on {queue} as many times as it may (tvctl dlq \
                 list --local {base} --queue {dead_letters}): {why}"
            )
        });
    }

    /// The router sent `signal_id` to `dead_letters`: the routing table no longer routes it
    /// (it changed since the alert was accepted). Marked as [`dead_lettered`](Self::dead_lettered)
    /// marks a signal; listed if it is not yet (the router can take it before the webhook's
    /// answer has listed it, and `accepted` then fills in what it knows without undoing this).
    pub fn no_longer_routes(&self, signal_id: &str, dead_letters: &str) {
        self.mark_dead_letter(signal_id, true, |base| {
            format!(
                "the routing table no longer routes it (it changed since the alert was \
                 accepted): in {dead_letters} (tvctl dlq list --local {base} --queue \
                 {dead_letters})"
            )
        });
    }

    /// Marks a signal still `enqueued` as `dead_letter`, with `reason` given this stack's URL;
    /// one not listed is listed when `list` is set.
    fn mark_dead_letter(&self, signal_id: &str, list: bool, reason: impl FnOnce(&str) -> String) {
        let now = self.clock.now();
        let mut board = self.lock();
        // Off the board (older than the newest listed) or journaled: nothing to correct.
        let listed = board.signals.iter().find(|s| s.signal_id == signal_id);
        if !listed.map_or(list, |s| s.status == "enqueued") {
            return;
        }
        let s = board.signal_mut(signal_id, now);
        s.status = "dead_letter".into();
        let base = self.base.get().map_or("<this stack's URL>", String::as_str);
        s.reason = Some(reason(base));
        s.updated_at = now;
        self.publish("signal", &*s);
    }

    /// Ingest refused an alert.
    pub fn refused(&self, http_status: u16, code: &str, message: &str) {
        self.refused_at("ingest", http_status, code, message);
    }

    /// A webhook answer that is no refusal though not a 200: `enqueue_failed`, whose alert
    /// may be queued in memory and run (its queue's commit failed or was late). Listed with
    /// the refusals under the stage `not confirmed`, so it does not read as one.
    pub fn not_confirmed(&self, http_status: u16, code: &str, message: &str) {
        self.refused_at("not confirmed", http_status, code, message);
    }

    fn refused_at(&self, stage: &'static str, http_status: u16, code: &str, message: &str) {
        let r = Refusal {
            at: self.clock.now(),
            stage,
            http_status: Some(http_status),
            code: code.to_owned(),
            message: message.to_owned(),
            signal_id: None,
            broker: None,
            instrument: None,
        };
        let now = self.clock.now();
        self.lock().push_refusal(r.clone(), now);
        self.publish("refusal", &r);
    }

    /// Books, when the stack starts, the journal's fills of the paper accounts, so a position
    /// carried over a restart keeps its average price and unrealized P&L; and each
    /// instrument's latest alert close among `recent` signals (a real broker's too: its
    /// positions are read for those instruments).
    ///
    /// `paper` names each paper account (broker, account) with the number of orders its book
    /// has filled. Its fills are put in order by the paper order number in their broker order
    /// id (`paper-<n>`, the account's n-th order), which every paper fill has, a takeover's
    /// recovered one too, where times can be missing. The journal lags the book by at most the
    /// fills a takeover is about to journal (a crash between a fill and its record): those
    /// come through [`journaled`](Self::journaled) after this, last, as they were filled. An
    /// account is left unbooked, as before the restart, when its journal is not its book's: a
    /// book that never filled (a new state file beside an old journal), a fill numbered past
    /// the book's count, or one whose order id does not read. Real brokers' positions are not
    /// restored: what they hold can have changed outside the journal.
    pub fn restore(
        &self,
        orders: &[OrderRecord],
        recent: &[SignalRecord],
        paper: &[(Broker, String, u64)],
    ) {
        let mut board = self.lock();
        for (broker, account, book_orders) in paper {
            let mut fills = Vec::new();
            let mut ours = *book_orders > 0;
            for o in orders.iter().filter(|o| {
                o.broker == *broker
                    && o.account.as_str() == account.as_str()
                    && o.outcome == Outcome::Filled
                    && !o.quantity.is_zero()
            }) {
                let n = o
                    .broker_order_id
                    .as_ref()
                    .and_then(|id| id.as_str().strip_prefix("paper-")?.parse::<u64>().ok());
                match (n, o.fill_price) {
                    (Some(n), Some(price)) if n <= *book_orders => fills.push((n, price, o)),
                    _ => ours = false,
                }
            }
            if !ours {
                continue;
            }
            fills.sort_by_key(|(n, _, _)| *n);
            // Every fill is remembered (the newest [`MAX_BOOKED`]): a takeover's record of one
            // of them after the start, the close of a last reversal say, is not booked twice.
            for (_, _, o) in &fills {
                board.book(o.client_order_id.as_str());
            }
            let mut by_instrument: BTreeMap<&str, Vec<(Decimal, &OrderRecord)>> = BTreeMap::new();
            for (_, price, o) in fills {
                by_instrument
                    .entry(o.instrument.as_str())
                    .or_default()
                    .push((price, o));
            }
            for (instrument, fills) in by_instrument {
                let mut cost = CostBasis::default();
                for (price, o) in fills {
                    cost.apply(o.side == shared::execution::Side::Buy, o.quantity, price);
                }
                board.costs.insert((*broker, instrument.to_owned()), cost);
            }
        }
        for r in recent {
            let IntentPrice {
                reference_price,
                signal_time,
            } = r.normalized.read().unwrap_or_default();
            if let (Some(b), Some(i), Some(c), Some(t)) =
                (r.broker, &r.instrument, reference_price, signal_time)
            {
                let latest = board.last_close.entry((b, i.clone())).or_insert((t, c));
                // Newest first: of two alerts with the same time, the one received later
                // (listed first) is the latest, as it was before the restart.
                if t > latest.0 {
                    *latest = (t, c);
                }
            }
        }
    }

    /// Lists again, when the stack starts, the signals the journal already holds, so the page
    /// of a restarted stack shows the trades it made before: `recent` is the journal's newest
    /// signals, newest first (as `recent_signals` reads them), each with its legs. They are
    /// listed behind any signal the stack has seen since it started (the read runs beside
    /// the webhook), up to [`MAX_SIGNALS`] in all. Among them, a signal an executor refused
    /// or found expired within the last hour, by the time of its last stage, is listed as a
    /// refusal too (refusals stay newest first); one with no stage time is not. Nothing is
    /// booked: positions and their average price come from [`restore`](Self::restore).
    pub fn relist(&self, recent: &[(SignalRecord, Vec<OrderRecord>)]) {
        let now = self.clock.now();
        let since = now - refusal_window();
        let mut board = self.lock();
        for (r, orders) in recent {
            let id = r.signal_id.as_str();
            if board.signals.iter().any(|s| s.signal_id == id) {
                continue;
            }
            let st = &r.stages;
            let first = st.received.or(st.enqueued).or(st.routed);
            let last = [
                st.broker_acked,
                st.broker_sent,
                st.executor_start,
                st.routed,
            ]
            .into_iter()
            .flatten()
            .max()
            .or(first);
            if matches!(r.status, SignalStatus::Refused | SignalStatus::Expired)
                && let Some(at) = last.filter(|at| *at >= since)
            {
                board.refusals.push_back(executor_refusal(r, at));
            }
            if board.signals.len() < MAX_SIGNALS {
                board.signals.push_back(SignalView {
                    signal_id: id.to_owned(),
                    broker: r.broker,
                    instrument: r.instrument.as_deref().map(cut),
                    symbol: cut(&r.symbol),
                    action: cut(&r.action),
                    status: r.status.as_str().to_owned(),
                    reason: r.reason.clone(),
                    close: r
                        .normalized
                        .read::<IntentPrice>()
                        .ok()
                        .and_then(|p| p.reference_price),
                    first_seen: first.unwrap_or(now),
                    updated_at: last.unwrap_or(now),
                    legs: legs_of(orders),
                });
            }
        }
        // Newest first, those the stack refused since it started among them; a stable sort
        // keeps the order of refusals made at the same instant.
        board
            .refusals
            .make_contiguous()
            .sort_by_key(|r| std::cmp::Reverse(r.at));
        board.refusals.truncate(MAX_REFUSALS);
    }

    /// A signal record (and, with `record_execution`, its legs) the journal has just written.
    pub fn journaled(&self, record: &SignalRecord, orders: Option<&[OrderRecord]>) {
        let now = self.clock.now();
        // The order intent the executor journals: the alert's close and time, validated.
        let IntentPrice {
            reference_price: close,
            signal_time,
        } = record.normalized.read().unwrap_or_default();
        let alert_time = signal_time.unwrap_or(now);
        {
            let mut board = self.lock();
            if let (Some(b), Some(i), Some(c)) = (record.broker, &record.instrument, close) {
                let latest = board
                    .last_close
                    .entry((b, i.clone()))
                    .or_insert((alert_time, c));
                if alert_time >= latest.0 {
                    *latest = (alert_time, c);
                }
            }
            for o in orders.unwrap_or_default() {
                let Some(price) = o.fill_price.filter(|_| o.outcome == Outcome::Filled) else {
                    continue;
                };
                if o.quantity.is_zero() || !board.book(o.client_order_id.as_str()) {
                    continue;
                }
                board
                    .costs
                    .entry((o.broker, o.instrument.clone()))
                    .or_default()
                    .apply(o.side == shared::execution::Side::Buy, o.quantity, price);
            }
            let s = board.signal_mut(record.signal_id.as_str(), now);
            s.broker = record.broker.or(s.broker);
            s.instrument = record
                .instrument
                .as_deref()
                .map(cut)
                .or(s.instrument.take());
            s.symbol = cut(&record.symbol);
            s.action = cut(&record.action);
            s.status = record.status.as_str().to_owned();
            s.reason = record.reason.clone();
            s.close = close.or(s.close);
            s.updated_at = now;
            if let Some(orders) = orders {
                s.legs = legs_of(orders);
            }
            let view = self.listened().then(|| s.clone());
            let refusal = matches!(record.status, SignalStatus::Refused | SignalStatus::Expired)
                .then(|| executor_refusal(record, now));
            if let Some(r) = &refusal {
                board.push_refusal(r.clone(), now);
            }
            // Published under the board's lock, so a page gets a signal's views in the order
            // they were made: a view published after the lock could overtake a newer one (an
            // `enqueued` after its `filled`) and leave the page showing the older.
            if let Some(view) = view {
                self.publish("signal", &view);
            }
            if let Some(r) = refusal {
                self.publish("refusal", &r);
            }
        }
    }

    fn signals(&self) -> Vec<SignalView> {
        self.lock().signals.iter().cloned().collect()
    }

    fn recent_refusals(&self, now: DateTime<Utc>) -> Vec<Refusal> {
        let since = now - refusal_window();
        self.lock()
            .refusals
            .iter()
            .filter(|r| r.at >= since)
            .cloned()
            .collect()
    }
}

/// A signal's legs as the page shows them.
fn legs_of(orders: &[OrderRecord]) -> Vec<LegView> {
    orders
        .iter()
        .map(|o| LegView {
            instrument: o.instrument.clone(),
            leg: o.leg.as_str(),
            attempt: o.attempt,
            side: o.side.as_str(),
            quantity: o.quantity,
            quantity_unit: o.quantity_unit(),
            fill_price: o.fill_price,
            outcome: o.outcome,
        })
        .collect()
}

/// A signal an executor refused or found expired, as a refusal at `at`.
fn executor_refusal(record: &SignalRecord, at: DateTime<Utc>) -> Refusal {
    Refusal {
        at,
        stage: "executor",
        http_status: None,
        code: record.status.as_str().to_owned(),
        message: record.reason.clone().unwrap_or_default(),
        signal_id: Some(record.signal_id.as_str().to_owned()),
        broker: record.broker,
        instrument: record.instrument.clone(),
    }
}

/// A journal that tells the dashboard about every record after it is written.
#[derive(Debug)]
pub struct DashboardJournal<J> {
    pub inner: J,
    pub dashboard: Arc<Dashboard>,
}

impl<J: TradeJournal> TradeJournal for DashboardJournal<J> {
    async fn upsert_signal(&self, r: &SignalRecord) -> Result<(), JournalError> {
        self.inner.upsert_signal(r).await?;
        self.dashboard.journaled(r, None);
        Ok(())
    }

    async fn upsert_order(&self, r: &OrderRecord) -> Result<(), JournalError> {
        // A lone leg row: the signal's next record (`record_execution`) carries every leg.
        self.inner.upsert_order(r).await
    }

    async fn signal(&self, id: &SignalId) -> Result<Option<SignalRecord>, JournalError> {
        self.inner.signal(id).await
    }

    async fn orders(&self, id: &SignalId) -> Result<Vec<OrderRecord>, JournalError> {
        self.inner.orders(id).await
    }

    async fn record_execution(
        &self,
        signal: &SignalRecord,
        orders: &[OrderRecord],
    ) -> Result<(), JournalError> {
        self.inner.record_execution(signal, orders).await?;
        self.dashboard.journaled(signal, Some(orders));
        Ok(())
    }
}

/// Where the dashboard reads positions, health and queues from.
#[derive(Debug)]
pub struct Sources {
    pub queues: Arc<Queues>,
    /// OANDA and Tradovate: the paper book, or `None` for a real broker.
    pub netting: [(Broker, Option<Arc<PaperNetting>>); 2],
    /// The paper Coinbase wallet, or `None` for the real broker.
    pub spot: Option<Arc<PaperSpot>>,
    /// The real brokers' clients (none for a paper broker): positions are read from them.
    pub real: Vec<(Broker, AnyVenue)>,
    pub health: Health,
}

/// How long one read of a real broker's positions is shown before it is read again (unless a
/// fill came in since): a page open for hours costs a broker request per instrument every
/// few seconds at most.
const REAL_READ_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a broker that refused a position read for its rate (Tradovate's 429 or penalty
/// ticket, `ReadError::RateLimited`) is not read again by the dashboard, new fills or not,
/// unless the broker has answered the executor since (its health's latest success: an
/// execution that began before the limit and ended after it counts too, costing at most one
/// more refused read).
/// Tradovate asks a client that got a 429 to stop ("stops handling requests for a period of
/// time", about an hour; <https://partner.tradovate.com/overview/core-concepts/rate-limits>),
/// and a page re-reading every few seconds would lengthen the lockout the executor's own
/// orders then meet.
pub const RATE_LIMITED_HOLD: std::time::Duration = std::time::Duration::from_secs(3600);
/// The longest wait for one position read; a slow broker shows an error, not a stuck page.
const REAL_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
/// Instruments read per broker and update: those of the journal's latest signals (at start)
/// and of the signals journaled since the start, the latest first, at most this many.
const REAL_READ_MAX: usize = 20;
/// What a real broker's positions are read for: a broker is asked for one instrument at a
/// time, so what the account holds in others is not shown.
const REAL_READ_HINT: &str = "read from the broker for the instruments of the journal's latest \
     signals and of the signals journaled since the start";
/// Why a real broker was not read: no instrument of it is known yet.
pub const NOTHING_TO_READ: &str = "no instrument of this broker among the journal's latest \
     signals or the signals journaled since the start: the broker was not asked (an alert still \
     queued or retrying counts once journaled; or see the broker's own platform)";

/// The latest read of each real broker: when, after how many booked fills, the block, and
/// whether the broker refused it for its rate. One lock per broker, held while its broker is
/// read: pages asking at once share one read.
#[derive(Debug, Default)]
pub struct RealReads([tokio::sync::Mutex<Option<RealRead>>; 3]);

/// One read of a real broker's positions: when (by the monotonic clock, and the wall clock to
/// compare with the broker's health), after how many booked fills, the block, and whether a
/// read was refused for the broker's rate.
type RealRead = (std::time::Instant, DateTime<Utc>, usize, Value, bool);

impl RealReads {
    fn slot(&self, broker: Broker) -> &tokio::sync::Mutex<Option<RealRead>> {
        &self.0[match broker {
            Broker::Oanda => 0,
            Broker::Tradovate => 1,
            Broker::Coinbase => 2,
        }]
    }
}

/// The dashboard's routes' state.
#[derive(Debug)]
pub struct Live {
    pub dashboard: Arc<Dashboard>,
    pub sources: Sources,
    pub real_reads: RealReads,
}

/// Coinbase holds coins, not a position per product: a product's position is its base
/// currency's balance, so two products of one coin (`BTC-USD`, `BTC-EUR`) would show the same
/// coins twice. Keeps one product of each coin: the first in `products` (given latest first)
/// whose fills leave coins held (they explain the balance), else the first.
fn one_product_per_coin<'a>(
    products: Vec<&'a String>,
    costs: &BTreeMap<(Broker, String), CostBasis>,
) -> Vec<&'a String> {
    let traded = |p: &String| {
        costs
            .get(&(Broker::Coinbase, p.clone()))
            .is_some_and(|c| !c.net.is_zero())
    };
    let (mut first, rest): (Vec<_>, Vec<_>) = products.into_iter().partition(|p| traded(p));
    first.extend(rest);
    let mut coins = std::collections::HashSet::new();
    first
        .into_iter()
        .filter(|p| {
            shared::routing::coinbase_currencies(p)
                .is_none_or(|(base, _)| coins.insert(base.to_owned()))
        })
        .collect()
}

/// The currency a position's P&L is in: the quote currency of `EUR_USD` or `BTC-USD`, USD
/// for a futures contract whose point value is known (`shared::contract_specs`), else points.
fn pnl_unit(broker: Broker, instrument: &str) -> String {
    match broker {
        Broker::Tradovate if shared::contract_specs::point_value(instrument).is_some() => {
            "USD".into()
        }
        Broker::Tradovate => "points".into(),
        Broker::Oanda => instrument.rsplit('_').next().unwrap_or_default().to_owned(),
        Broker::Coinbase => shared::routing::coinbase_currencies(instrument)
            .map_or("", |(_, quote)| quote)
            .to_owned(),
    }
}

/// The decimal places a P&L in `unit` is shown with: cents for money (and points), and a
/// satoshi's eighth place for the crypto quote currencies the routing table allows (BTC, ETH),
/// where a move of a few ten-thousandths is the whole P&L and two places would show 0.
fn pnl_places(unit: &str) -> u32 {
    match unit {
        "BTC" | "ETH" => 8,
        _ => 2,
    }
}

/// One position row: the broker's position, the average price when the fills booked (a paper
/// account's from the journal at the start, [`Dashboard::restore`], then each one journaled)
/// explain it, and the P&L at the latest alert close.
fn position_row(
    broker: Broker,
    instrument: &str,
    position: Decimal,
    cost: Option<CostBasis>,
    last: Option<Decimal>,
) -> Value {
    let average = cost.filter(|c| c.net == position).and_then(|c| c.average);
    // Futures: points × contracts × the contract's point value, when it is known.
    let multiplier = match broker {
        Broker::Tradovate => {
            shared::contract_specs::point_value(instrument).unwrap_or(Decimal::ONE)
        }
        _ => Decimal::ONE,
    };
    let unit = pnl_unit(broker, instrument);
    let pnl = average.zip(last).map(|(avg, last)| {
        ((last - avg) * position * multiplier)
            .round_dp(pnl_places(&unit))
            .normalize()
    });
    json!({
        "instrument": instrument,
        "position": position.normalize(),
        "average_price": average.map(|a| a.round_dp(8).normalize()),
        "last_price": last,
        "unrealized_pnl": pnl,
        "pnl_unit": unit,
    })
}

impl Live {
    /// A real broker's positions in the instruments of the journal's latest signals and of
    /// the signals journaled since the start, read through its client ([`PositionRead`]); reused for
    /// [`REAL_READ_EVERY`] while no new fill came in. With no such instrument the broker is
    /// not asked: no read time, and [`NOTHING_TO_READ`] as the error.
    async fn real_positions(
        &self,
        broker: Broker,
        last: &BTreeMap<(Broker, String), (DateTime<Utc>, Decimal)>,
        costs: &BTreeMap<(Broker, String), CostBasis>,
        fills: usize,
    ) -> Value {
        let mut slot = self.real_reads.slot(broker).lock().await;
        if let Some((at, wall, seen, v, limited)) = slot.as_ref() {
            let fresh = *seen == fills && at.elapsed() < REAL_READ_EVERY;
            // Held after a rate limit, until the broker has answered the executor since: then
            // it serves requests again, and the page need not wait out the hour.
            let held = *limited
                && at.elapsed() < RATE_LIMITED_HOLD
                && !self.answered_since(broker, *wall).await;
            if fresh || held {
                return v.clone();
            }
        }
        let Some((_, venue)) = self.sources.real.iter().find(|(b, _)| *b == broker) else {
            return json!({"broker": broker, "source": "real", "rows": [], "errors": ["no client"]});
        };
        // The latest first (by their latest alert's time; a cost basis alone, oldest): when
        // more than [`REAL_READ_MAX`] are known, the ones just traded are read.
        let mut latest: BTreeMap<&String, Option<DateTime<Utc>>> = BTreeMap::new();
        for ((b, i), (t, _)) in last {
            if *b == broker {
                latest.insert(i, Some(*t));
            }
        }
        for (b, i) in costs.keys() {
            if *b == broker {
                latest.entry(i).or_insert(None);
            }
        }
        let mut instruments: Vec<(&String, Option<DateTime<Utc>>)> = latest.into_iter().collect();
        instruments.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let mut instruments: Vec<&String> = instruments.into_iter().map(|(i, _)| i).collect();
        if broker == Broker::Coinbase {
            instruments = one_product_per_coin(instruments, costs);
        }
        // Nothing asked of the broker: no read time, so an empty list does not pass for a
        // read that found the account flat.
        if instruments.is_empty() {
            let v = json!({
                "broker": broker,
                "source": "real",
                "rows": [],
                "errors": [NOTHING_TO_READ],
                "read_at": null,
                "hint": REAL_READ_HINT,
            });
            *slot = Some((
                std::time::Instant::now(),
                self.dashboard.clock.now(),
                fills,
                v.clone(),
                false,
            ));
            return v;
        }
        // Every instrument at once, each bounded: a slow broker costs the page one timeout.
        let reads = instruments.iter().take(REAL_READ_MAX).map(|i| async move {
            let read = tokio::time::timeout(REAL_READ_TIMEOUT, venue.position(i)).await;
            (*i, read)
        });
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        let mut limited = false;
        let mut read = 0usize;
        for (i, answer) in futures_util::future::join_all(reads).await {
            read += usize::from(matches!(answer, Ok(Ok(_))));
            match answer {
                Ok(Ok(net)) if net.is_zero() => {}
                Ok(Ok(net)) => {
                    let k = (broker, i.clone());
                    rows.push(position_row(
                        broker,
                        i,
                        net,
                        costs.get(&k).copied(),
                        last.get(&k).map(|(_, c)| *c),
                    ));
                }
                // Held only where the broker asks a client to pause (Tradovate, above):
                // Coinbase's limits are per second and ask no pause.
                Ok(Err(ReadError::RateLimited(e))) => {
                    limited |= broker == Broker::Tradovate;
                    errors.push(format!("{i}: {e}"));
                }
                Ok(Err(ReadError::Unavailable(e) | ReadError::Refused(e))) => {
                    errors.push(format!("{i}: {e}"));
                }
                Err(_) => errors.push(format!(
                    "{i}: no answer within {} s",
                    REAL_READ_TIMEOUT.as_secs()
                )),
            }
        }
        if limited {
            let next = self.dashboard.clock.now()
                + chrono::Duration::from_std(RATE_LIMITED_HOLD).unwrap_or_default();
            errors.push(format!(
                "the broker limits this client's rate: positions are not read again before {}, or before the broker answers the executor again (the broker asks clients to pause after a rate limit)",
                next.format("%H:%M UTC")
            ));
        }
        if instruments.len() > REAL_READ_MAX {
            errors.push(format!(
                "{} more instruments not read (at most {REAL_READ_MAX})",
                instruments.len() - REAL_READ_MAX
            ));
        }
        let v = json!({
            "broker": broker,
            "source": "real",
            "rows": rows,
            "errors": errors,
            // Only when some instrument was read: a read whose every instrument failed is no
            // read, and an empty list then must not pass for nothing held.
            "read_at": (read > 0).then(|| self.dashboard.clock.now()),
            "hint": REAL_READ_HINT,
        });
        *slot = Some((
            std::time::Instant::now(),
            self.dashboard.clock.now(),
            fills,
            v.clone(),
            limited,
        ));
        v
    }

    /// Whether `broker` answered one of the executor's requests after `since` (its health's
    /// latest success, recorded around every execution).
    async fn answered_since(&self, broker: Broker, since: DateTime<Utc>) -> bool {
        self.sources
            .health
            .read(broker)
            .await
            .ok()
            .and_then(|h| h.last_success)
            .is_some_and(|ok| ok > since)
    }

    /// Every real broker's positions ([`Self::real_positions`]), the brokers read at once.
    async fn real_reads_at_once(
        &self,
        last: &BTreeMap<(Broker, String), (DateTime<Utc>, Decimal)>,
        costs: &BTreeMap<(Broker, String), CostBasis>,
        fills: usize,
    ) -> HashMap<Broker, Value> {
        futures_util::future::join_all(
            self.sources
                .real
                .iter()
                .map(|(b, _)| async { (*b, self.real_positions(*b, last, costs, fills).await) }),
        )
        .await
        .into_iter()
        .collect()
    }

    /// What `GET /local/positions` answers (`tvctl positions`): one object per broker, by its
    /// name, of what it holds: a paper OANDA or Tradovate book's net by instrument, the paper
    /// Coinbase wallet's balances by currency; a real broker's positions by instrument (its
    /// product, for Coinbase), read from the broker as the page reads them (the instruments of
    /// the journal's latest signals and of the signals journaled since the start, each read
    /// bounded, the brokers at
    /// once, a read shared with the page for a few seconds). `real` lists the brokers read so;
    /// `read_at` when each broker's read was made (RFC 3339, UTC), absent when no instrument
    /// of it was read (none known, or every read failed): an empty object with a `read_at`
    /// means nothing held among the instruments read, never a flat account, and one without
    /// it means not read. The reads that failed, and why a broker was not asked, are under
    /// `read_errors`, by broker, only when there are some. A paper book is never stood in for
    /// a real account.
    pub async fn local_positions(&self) -> Value {
        let (last, costs, fills) = {
            let b = self.dashboard.lock();
            (b.last_close.clone(), b.costs.clone(), b.booked_total)
        };
        let mut reads = self.real_reads_at_once(&last, &costs, fills).await;
        let mut out = serde_json::Map::new();
        let mut real = Vec::new();
        let mut read_at = serde_json::Map::new();
        let mut read_errors = serde_json::Map::new();
        let mut read = |broker: Broker| {
            let read = reads.remove(&broker).unwrap_or_else(
                || json!({"rows": [], "errors": ["no client for this real broker"]}),
            );
            let book: serde_json::Map<String, Value> = read["rows"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| Some((r["instrument"].as_str()?.to_owned(), r["position"].clone())))
                .collect();
            if let Some(errors) = read["errors"].as_array().filter(|e| !e.is_empty()) {
                read_errors.insert(broker.to_string(), Value::Array(errors.clone()));
            }
            // A read is shared for a while (up to an hour when the broker refused reads for
            // its rate): when it was made, so held rows do not pass for current ones.
            if !read["read_at"].is_null() {
                read_at.insert(broker.to_string(), read["read_at"].clone());
            }
            real.push(json!(broker));
            Value::Object(book)
        };
        for (broker, paper) in &self.sources.netting {
            let value = match paper {
                Some(p) => json!(p.positions()),
                None => read(*broker),
            };
            out.insert(broker.to_string(), value);
        }
        let coinbase = match &self.sources.spot {
            Some(spot) => json!(spot.balances()),
            None => read(Broker::Coinbase),
        };
        out.insert(Broker::Coinbase.to_string(), coinbase);
        out.insert("real".into(), Value::Array(real));
        out.insert("read_at".into(), Value::Object(read_at));
        if !read_errors.is_empty() {
            out.insert("read_errors".into(), Value::Object(read_errors));
        }
        Value::Object(out)
    }

    async fn positions(&self) -> Value {
        let (last, costs, fills) = {
            let b = self.dashboard.lock();
            (b.last_close.clone(), b.costs.clone(), b.booked_total)
        };
        let key = |b: Broker, i: &str| (b, i.to_owned());
        // The real brokers read at once, before the paper books are laid out.
        let mut real = self.real_reads_at_once(&last, &costs, fills).await;
        let mut out = Vec::new();
        for (broker, paper) in &self.sources.netting {
            let Some(paper) = paper else {
                out.push(real.remove(broker).unwrap_or(Value::Null));
                continue;
            };
            let rows: Vec<_> = paper
                .positions()
                .into_iter()
                .filter(|(_, net)| !net.is_zero())
                .map(|(i, net)| {
                    let k = key(*broker, &i);
                    position_row(
                        *broker,
                        &i,
                        net,
                        costs.get(&k).copied(),
                        last.get(&k).map(|(_, c)| *c),
                    )
                })
                .collect();
            out.push(json!({"broker": broker, "source": "paper", "rows": rows}));
        }
        match &self.sources.spot {
            None => out.push(real.remove(&Broker::Coinbase).unwrap_or(Value::Null)),
            Some(spot) => {
                let wallet = spot.balances();
                // Products are known from the alerts; a product's position is its base balance,
                // shown once per coin (`one_product_per_coin`).
                let mut latest: BTreeMap<&String, Option<DateTime<Utc>>> = BTreeMap::new();
                for ((b, i), (t, _)) in &last {
                    if *b == Broker::Coinbase {
                        latest.insert(i, Some(*t));
                    }
                }
                for (b, i) in costs.keys() {
                    if *b == Broker::Coinbase {
                        latest.entry(i).or_insert(None);
                    }
                }
                let mut products: Vec<_> = latest.into_iter().collect();
                products.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
                let products =
                    one_product_per_coin(products.into_iter().map(|(p, _)| p).collect(), &costs);
                let rows: Vec<_> = products
                    .into_iter()
                    .filter_map(|p| {
                        let base = shared::routing::coinbase_currencies(p)?.0;
                        let held = wallet.get(base).copied().filter(|h| !h.is_zero())?;
                        let k = key(Broker::Coinbase, p);
                        Some(position_row(
                            Broker::Coinbase,
                            p,
                            held,
                            costs.get(&k).copied(),
                            last.get(&k).map(|(_, c)| *c),
                        ))
                    })
                    .collect();
                let wallet: BTreeMap<_, _> = wallet
                    .into_iter()
                    .map(|(c, a)| (c, a.normalize()))
                    .collect();
                out.push(json!({"broker": "coinbase", "source": "paper", "rows": rows, "wallet": wallet}));
            }
        }
        Value::Array(out)
    }

    async fn health(&self) -> Value {
        let now = self.dashboard.clock.now();
        let mut out = Vec::new();
        for broker in Broker::ALL {
            out.push(match self.sources.health.read(broker).await {
                Ok(h) => json!({
                    "broker": broker,
                    "status": match h.state(now) {
                        HealthState::Unknown => "unknown",
                        HealthState::Ok => "ok",
                        HealthState::Degraded => "degraded",
                    },
                    "last_success": h.last_success,
                    "last_failure": h.last_failure,
                    "last_failure_kind": h.last_failure_kind,
                    "token_expires_at": h.token_expires_at,
                    "last_token_failure": h.standing_token_failure(),
                }),
                Err(_) => json!({"broker": broker, "status": "unreadable"}),
            });
        }
        Value::Array(out)
    }

    fn queues(&self) -> Value {
        self.sources
            .queues
            .all()
            .iter()
            .map(|q| {
                let dlq = q.dead_letters();
                // The letters' bodies hold the alert: never sent to the page.
                let letters: Vec<_> = dlq
                    .map(|d| d.peek())
                    .unwrap_or_default()
                    .into_iter()
                    .take(MAX_LETTERS)
                    .map(|m| {
                        json!({
                            "message_id": m.message_id,
                            "group": m.group_id,
                            "receive_count": m.receive_count,
                            "sent_at": m.sent_at,
                            "last_error": m.last_error,
                        })
                    })
                    .collect();
                json!({
                    "name": q.name(),
                    "depth": q.depth(),
                    "dead_letter_queue": dlq.map(|d| d.name()),
                    "dead_letters": dlq.map(|d| d.depth()).unwrap_or_default(),
                    "letters": letters,
                })
            })
            .collect()
    }

    /// Positions, health and queues: what is read, not pushed.
    async fn status(&self) -> Value {
        json!({
            "positions": self.positions().await,
            "health": self.health().await,
            "queues": self.queues(),
        })
    }

    /// Everything the page shows.
    pub async fn snapshot(&self) -> Value {
        let now = self.dashboard.clock.now();
        json!({
            "generated_at": now,
            "signals": self.dashboard.signals(),
            "refusals": self.dashboard.recent_refusals(now),
            "status": self.status().await,
        })
    }
}

/// The dashboard answers only to a loopback host name. A page elsewhere could otherwise
/// point a DNS name of its own at 127.0.0.1 (DNS rebinding) and read positions through the
/// visitor's browser; cross-origin reads are already blocked by the browser's same-origin
/// rule, since no route here sends CORS headers.
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().map(|n| format!("[{n}]"))
    } else {
        host.split(':').next().map(str::to_owned)
    };
    matches!(name.as_deref(), Some("127.0.0.1" | "localhost" | "[::1]"))
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(json!({"error": "the dashboard answers on 127.0.0.1 or localhost only"})),
    )
        .into_response()
}

/// The text of the page's one inline script, which the policy below allows by its hash.
fn page_script() -> &'static str {
    PAGE.split_once("<script>")
        .and_then(|(_, rest)| rest.split_once("</script>"))
        .map(|(s, _)| s)
        .unwrap_or_default()
}

/// The Content Security Policy of the page: its own inline script (by hash) and style, and
/// connections to this origin only. Nothing from anywhere else loads, even if injected.
fn content_security_policy() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        use base64::Engine as _;
        use sha2::Digest as _;
        let hash =
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(page_script()));
        format!(
            "default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'"
        )
    })
}

/// Headers every dashboard answer carries.
fn protect(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

/// `GET /`: the page.
pub async fn page(headers: HeaderMap) -> Response {
    if !loopback_host(&headers) {
        return forbidden();
    }
    let mut resp = protect(axum::response::Html(PAGE).into_response());
    if let Ok(csp) = HeaderValue::from_str(content_security_policy()) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    resp
}

/// `GET /dashboard/state`: everything the page shows, as JSON.
pub async fn state(live: Arc<Live>, headers: &HeaderMap) -> Response {
    if !loopback_host(headers) {
        return forbidden();
    }
    protect(axum::Json(live.snapshot().await).into_response())
}

fn event(kind: &str, json: &str) -> Event {
    Event::default().event(kind).data(json)
}

/// `GET /dashboard/events`: a `snapshot` first, then `signal` and `refusal` as they happen
/// and `status` (positions, health, queues) whenever it has changed, checked after every
/// update and every second.
pub fn events(live: Arc<Live>, headers: &HeaderMap) -> Response {
    if !loopback_host(headers) {
        return forbidden();
    }
    let (tx, rx) = mpsc::channel::<Event>(64);
    // Subscribed before the snapshot is taken: nothing falls between the two.
    let mut updates = live.dashboard.updates.subscribe();
    tokio::spawn(async move {
        let snapshot = live.snapshot().await;
        let mut last_status = snapshot["status"].to_string();
        if tx
            .send(event("snapshot", &snapshot.to_string()))
            .await
            .is_err()
        {
            return;
        }
        let mut tick = tokio::time::interval(STATUS_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let next = tokio::select! {
                u = updates.recv() => match u {
                    Ok(u) => Some(event(u.kind, &u.json)),
                    // Fell behind: a fresh snapshot replaces what was missed.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        Some(event("snapshot", &live.snapshot().await.to_string()))
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick() => None,
                // The page went away: stop reading for it.
                () = tx.closed() => return,
            };
            if let Some(e) = next
                && tx.send(e).await.is_err()
            {
                return;
            }
            let status = live.status().await.to_string();
            if status != last_status {
                if tx.send(event("status", &status)).await.is_err() {
                    return;
                }
                last_status = status;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    protect(
        Sse::new(stream)
            .keep_alive(KeepAlive::default())
            .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn cost_basis_averages_adds_keeps_on_reduce_and_restarts_through_zero() {
        let mut c = CostBasis::default();
        c.apply(true, d("2"), d("100"));
        c.apply(true, d("2"), d("110"));
        assert_eq!((c.net, c.average), (d("4"), Some(d("105"))));
        c.apply(false, d("1"), d("120"));
        assert_eq!((c.net, c.average), (d("3"), Some(d("105"))));
        c.apply(false, d("5"), d("90"));
        assert_eq!((c.net, c.average), (d("-2"), Some(d("90"))));
        c.apply(true, d("2"), d("80"));
        assert_eq!((c.net, c.average), (d("0"), None));
        c.apply(false, d("3"), d("50"));
        assert_eq!((c.net, c.average), (d("-3"), Some(d("50"))));
    }

    #[test]
    fn a_row_shows_pnl_only_when_the_seen_fills_explain_the_position() {
        let cost = CostBasis {
            net: d("1000"),
            average: Some(d("1.08")),
        };
        let row = position_row(
            Broker::Oanda,
            "EUR_USD",
            d("1000"),
            Some(cost),
            Some(d("1.09")),
        );
        assert_eq!(row["unrealized_pnl"], json!("10"));
        assert_eq!(row["pnl_unit"], json!("USD"));
        let short = position_row(
            Broker::Tradovate,
            "ESZ6",
            d("-2"),
            Some(CostBasis {
                net: d("-2"),
                average: Some(d("6000")),
            }),
            Some(d("5990.25")),
        );
        // 9.75 points × 2 contracts × 50 USD a point.
        assert_eq!(short["unrealized_pnl"], json!("975"));
        assert_eq!(short["pnl_unit"], json!("USD"));
        // Fills before this process started (or missed): no average, no P&L, the position still.
        let unexplained = position_row(Broker::Oanda, "EUR_USD", d("2000"), Some(cost), None);
        assert_eq!(unexplained["average_price"], Value::Null);
        assert_eq!(unexplained["unrealized_pnl"], Value::Null);
        assert_eq!(unexplained["position"], json!("2000"));
        // A position priced in BTC: 2 ETH from 0.05 to 0.0503 BTC is 0.0006 BTC, not 0.
        let eth = position_row(
            Broker::Coinbase,
            "ETH-BTC",
            d("2"),
            Some(CostBasis {
                net: d("2"),
                average: Some(d("0.05")),
            }),
            Some(d("0.0503")),
        );
        assert_eq!(eth["unrealized_pnl"], json!("0.0006"));
        assert_eq!(eth["pnl_unit"], json!("BTC"));
    }

    /// A signal still `enqueued` whose message is dead-lettered shows it, with the queue to
    /// list; one the journal already gave a status (an executor's own dead letter of an
    /// unknown outcome) keeps it.
    #[test]
    fn a_dead_lettered_signal_no_executor_journaled_says_so() {
        let dash = Dashboard::default();
        // The stack's URL, as `start` sets it once it listens: the command is ready to run.
        let _ = dash.base.set("http://127.0.0.1:18716".to_owned());
        dash.accepted("a1", Some(Broker::Oanda), Some("EUR_USD"), "LONG_ENTRY");
        dash.accepted("b2", Some(Broker::Oanda), Some("EUR_USD"), "SHORT_ENTRY");
        dash.lock().signal_mut("b2", SystemClock.now()).status = "unknown".into();
        for id in ["a1", "b2"] {
            dash.dead_lettered(id, "oanda.fifo", "oanda-dlq.fifo", "connection refused");
        }
        let board = dash.lock();
        let of = |id: &str| board.signals.iter().find(|s| s.signal_id == id).cloned();
        let a = of("a1").unwrap_or_else(|| panic!("a1 listed"));
        assert_eq!(a.status, "dead_letter");
        let reason = a.reason.unwrap_or_default();
        assert!(
            reason.contains("connection refused")
                && reason.contains(
                    "tvctl dlq list --local http://127.0.0.1:18716 --queue oanda-dlq.fifo"
                )
                && reason.contains("oanda.fifo"),
            "{reason}"
        );
        assert_eq!(of("b2").map(|s| s.status), Some("unknown".to_owned()));
    }

    #[test]
    fn a_signal_the_router_dead_lettered_says_the_table_no_longer_routes_it() {
        let dash = Dashboard::default();
        let _ = dash.base.set("http://127.0.0.1:18716".to_owned());
        // The router dead-letters it before the webhook's answer lists it.
        dash.no_longer_routes("a1", "signals-dlq.fifo");
        dash.accepted("a1", Some(Broker::Tradovate), Some("ESZ6"), "LONG_ENTRY");
        let board = dash.lock();
        let a = board.signals.iter().find(|s| s.signal_id == "a1").cloned();
        let a = a.unwrap_or_else(|| panic!("a1 listed"));
        assert_eq!(a.status, "dead_letter");
        let reason = a.reason.unwrap_or_default();
        assert!(
            reason.contains("no longer routes")
                && reason.contains(
                    "tvctl dlq list --local http://127.0.0.1:18716 --queue signals-dlq.fifo"
                ),
            "{reason}"
        );
    }

    #[test]
    fn only_loopback_hosts_are_served() {
        let host = |h: &str| {
            let mut m = HeaderMap::new();
            m.insert(
                header::HOST,
                HeaderValue::from_str(h).unwrap_or(HeaderValue::from_static("x")),
            );
            loopback_host(&m)
        };
        assert!(host("127.0.0.1:8080"));
        assert!(host("localhost:8080"));
        assert!(host("localhost"));
        assert!(host("[::1]:8080"));
        assert!(!host("evil.example:8080"));
        assert!(!host("127.0.0.1.evil.example"));
        assert!(!loopback_host(&HeaderMap::new()));
    }

    #[test]
    fn the_policy_pins_the_page_script_and_nothing_external_is_referenced() {
        let csp = content_security_policy();
        assert!(csp.contains("script-src 'sha256-"), "{csp}");
        assert!(
            page_script().contains("EventSource"),
            "the script was found"
        );
        assert_eq!(PAGE.matches("<script").count(), 1, "one inline script");
        for external in ["http://", "https://", "//cdn", "@import", "src="] {
            assert!(!PAGE.contains(external), "the page references {external}");
        }
    }

    /// Records built from JSON, as the journal reads them back, so new optional fields of the
    /// journal's types do not break these tests.
    fn signal(status: &str, reason: Option<&str>) -> SignalRecord {
        serde_json::from_value(json!({
            "signal_id": "0123456789abcdef0123456789abcdef",
            "raw": "{\"action\":\"LONG_ENTRY\"}",
            "normalized": {"reference_price": "1.1"},
            "symbol": "EURUSD", "exchange": "OANDA", "action": "LONG_ENTRY",
            "broker": "oanda", "instrument": "EUR_USD", "contract_resolution": null,
            "status": status, "reason": reason, "stages": {},
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn open_leg(price: &str) -> OrderRecord {
        serde_json::from_value(json!({
            "signal_id": "0123456789abcdef0123456789abcdef", "broker": "oanda",
            "account": "paper-oanda", "instrument": "EUR_USD", "leg": "open", "attempt": 1,
            "client_order_id": "tv-0123456789abcdef01234567-o", "broker_order_id": "paper-1",
            "side": "buy", "quantity": "1000", "fill_price": price, "outcome": "filled",
            "error": null, "sent_at": null, "acked_at": null,
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A leg's quantity comes with what it counts: at Coinbase a buy not known to have
    /// filled counts the quote currency it was to spend, a filled one the base it bought, so
    /// an `unknown` 100 does not read as 100 BTC.
    #[test]
    fn a_legs_quantity_names_its_unit() {
        let mut buy = open_leg("1.1");
        assert_eq!(
            legs_of(std::slice::from_ref(&buy))[0].quantity_unit,
            "units"
        );
        buy.broker = Broker::Coinbase;
        buy.instrument = "BTC-USD".into();
        buy.quantity = d("100");
        buy.fill_price = None;
        buy.outcome = Outcome::Unknown;
        let shown = legs_of(std::slice::from_ref(&buy));
        assert_eq!(
            (shown[0].quantity, shown[0].quantity_unit.as_str()),
            (d("100"), "USD")
        );
        buy.quantity = d("0.0015");
        buy.outcome = Outcome::Filled;
        let shown = serde_json::to_value(legs_of(&[buy])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(shown[0]["quantity_unit"], "BTC", "{shown}");
    }

    #[test]
    fn journaled_legs_book_once_and_ingest_does_not_undo_the_executor() {
        let dash = Dashboard::default();
        let mut pages = dash.updates.subscribe();
        let legs = [open_leg("1.1")];
        dash.journaled(&signal("filled", None), Some(&legs));
        // A replay journals the same order again: the position is not doubled.
        dash.journaled(&signal("filled", None), Some(&legs));
        // Ingest's answer may come after the executor's record: it does not reset the status.
        dash.accepted(
            "0123456789abcdef0123456789abcdef",
            Some(Broker::Oanda),
            Some("EUR_USD"),
            "LONG_ENTRY",
        );
        let board = dash.lock();
        let key = (Broker::Oanda, "EUR_USD".to_owned());
        assert_eq!(
            board.costs.get(&key),
            Some(&CostBasis {
                net: d("1000"),
                average: Some(d("1.1"))
            })
        );
        assert_eq!(board.last_close.get(&key).map(|(_, c)| *c), Some(d("1.1")));
        assert_eq!(board.signals.len(), 1);
        assert_eq!(board.signals[0].status, "filled");
        assert_eq!(board.signals[0].legs[0].fill_price, Some(d("1.1")));
        drop(board);
        assert_eq!(pages.try_recv().map(|u| u.kind).ok(), Some("signal"));
    }

    #[test]
    fn an_older_signal_replayed_later_does_not_set_the_last_close_back() {
        let dash = Dashboard::default();
        let at = |close: &str, time: &str| {
            let mut r = signal("filled", None);
            r.normalized = json!({"reference_price": close, "signal_time": time}).into();
            r
        };
        dash.journaled(&at("1.2", "2026-11-30T10:00:00Z"), None);
        dash.journaled(&at("1.0", "2026-11-30T09:00:00Z"), None);
        let key = (Broker::Oanda, "EUR_USD".to_owned());
        assert_eq!(
            dash.lock().last_close.get(&key).map(|(_, c)| *c),
            Some(d("1.2"))
        );
    }

    #[test]
    fn an_executor_refusal_is_listed_with_its_reason() {
        let dash = Dashboard::default();
        dash.journaled(&signal("refused", Some("max position")), Some(&[]));
        let shown = dash.recent_refusals(dash.clock.now());
        assert_eq!(
            (
                shown[0].stage,
                shown[0].code.as_str(),
                shown[0].message.as_str()
            ),
            ("executor", "refused", "max position")
        );
    }

    #[test]
    fn refusals_older_than_an_hour_are_not_shown() {
        let dash = Dashboard::default();
        dash.refused(422, "stale_alert", "too old");
        dash.lock().refusals.push_back(Refusal {
            at: dash.clock.now() - chrono::Duration::minutes(61),
            stage: "ingest",
            http_status: Some(401),
            code: "unauthorized".into(),
            message: "unauthorized".into(),
            signal_id: None,
            broker: None,
            instrument: None,
        });
        let shown = dash.recent_refusals(dash.clock.now());
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0].code, "stale_alert");
    }

    /// A filled leg of `account`, its `n`-th paper order: `signed` units (a sell when
    /// negative) at `price`, with no time (as a takeover's recovered leg).
    fn leg(account: &str, n: u32, signed: &str, price: &str) -> OrderRecord {
        let mut o = open_leg(price);
        let side = if signed.starts_with('-') {
            "sell"
        } else {
            "buy"
        };
        fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
            serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
        }
        o.account = from(json!(account));
        o.client_order_id = from(json!(format!("tv-{n:024}-o")));
        o.broker_order_id = Some(from(json!(format!("paper-{n}"))));
        o.side = from(json!(side));
        o.quantity = d(signed.trim_start_matches('-'));
        o
    }

    #[test]
    fn a_restart_gives_the_paper_books_the_closes_of_their_alerts_oldest_first() {
        let at = |status: &str, instrument: Option<&str>, close: Option<&str>| {
            let mut r = signal(status, None);
            r.broker = Some(Broker::Tradovate);
            r.instrument = instrument.map(str::to_owned);
            r.normalized = json!({"reference_price": close}).into();
            r
        };
        // Newest first, as the journal reads them.
        let kill_switch = |close: &str| {
            let mut r = at("refused", Some("ESZ6"), Some(close));
            r.reason = Some(executor_runtime::risk::Refusal::KillSwitch.to_string());
            r
        };
        let recent = [
            at("expired", Some("ESZ6"), Some("6400")),
            at("superseded", Some("ESZ6"), Some("6350")),
            kill_switch("6325"),
            at("refused", Some("ESZ6"), Some("6300")),
            at("filled", Some("ESZ6"), Some("6100")),
            at("unknown", Some("ESZ6"), Some("6200")),
            at("filled", None, Some("6150")),
            at("no_op", Some("ESZ6"), Some("6050")),
            at("filled", Some("ESZ6"), None),
            at("filled", Some("NQZ6"), Some("21000")),
        ];
        let closes: Vec<_> = alert_closes(&recent)
            .map(|(b, i, c)| (b, i.to_owned(), c))
            .collect();
        let es = |c: &str| (Broker::Tradovate, "ESZ6".to_owned(), d(c));
        assert_eq!(
            closes,
            [
                (Broker::Tradovate, "NQZ6".to_owned(), d("21000")),
                es("6050"),
                es("6200"),
                es("6100"),
                es("6300"),
            ]
        );
    }

    /// The journal's signals give each broker the health their executions recorded, oldest
    /// first, at the broker's answer: a rejection after a success leaves the path degraded;
    /// a local refusal, a stale signal and one not journaled as ended say nothing.
    #[tokio::test]
    async fn a_restart_gives_the_status_routes_the_health_the_journal_shows() {
        use shared::health::{FailureKind, HealthEvent, HealthState, HealthStore, MemoryHealth};
        let t = |m: u32| -> DateTime<Utc> { format!("2026-12-05T10:{m:02}:00Z").parse().unwrap() };
        let at = |broker: Broker, status: &str, acked: Option<u32>, start: u32| {
            let mut r = signal(status, None);
            r.broker = Some(broker);
            r.stages.broker_acked = acked.map(t);
            r.stages.executor_start = Some(t(start));
            r
        };
        // Newest first, as the journal reads them (by arrival): the Tradovate signal that
        // came first was retried and ended last, after the rejection of one that came later.
        let recent = [
            at(Broker::Coinbase, "refused", None, 9),
            at(Broker::Coinbase, "rejected", Some(8), 7),
            at(Broker::Coinbase, "filled", Some(6), 5),
            at(Broker::Tradovate, "rejected", Some(5), 4),
            at(Broker::Tradovate, "expired", None, 4),
            at(Broker::Tradovate, "no_op", None, 3),
            at(Broker::Tradovate, "filled", Some(11), 2),
            at(Broker::Oanda, "unknown", Some(2), 1),
        ];
        let recent: Vec<_> = recent.into_iter().map(|r| (r, Vec::new())).collect();
        let events = journaled_health(&recent, |_| true, |_, _| None);
        assert_eq!(
            events,
            [
                (
                    Broker::Oanda,
                    t(2),
                    HealthEvent::Failure(FailureKind::Unknown)
                ),
                (Broker::Tradovate, t(3), HealthEvent::Success),
                (
                    Broker::Tradovate,
                    t(5),
                    HealthEvent::Failure(FailureKind::Rejected)
                ),
                (Broker::Coinbase, t(6), HealthEvent::Success),
                (
                    Broker::Coinbase,
                    t(8),
                    HealthEvent::Failure(FailureKind::Rejected)
                ),
                (Broker::Tradovate, t(11), HealthEvent::Success),
            ]
        );
        // A signal the trader's roll rule stopped (journaled `rejected` with that rule's
        // words) says nothing of the broker after a restart either: the path stays as the
        // success before it left it, as while the stack ran.
        let mut stopped = at(Broker::Tradovate, "rejected", Some(12), 12);
        stopped.reason = Some(
            "ES1! rolled to ESH7, and the account still holds long 1 in ESZ6; the root's roll \
             policy is to refuse: nothing sent; close ESZ6 first"
                .into(),
        );
        let after_rule = journaled_health(
            &[
                (stopped, Vec::new()),
                (at(Broker::Tradovate, "filled", Some(11), 2), Vec::new()),
            ],
            |_| false,
            |_, _| None,
        );
        assert_eq!(
            after_rule,
            [(Broker::Tradovate, t(11), HealthEvent::Success)]
        );
        // Nor does a reversal's open held back after a hand trade: OANDA answered as it
        // documents.
        let mut held_back = at(Broker::Oanda, "rejected", Some(12), 12);
        held_back.reason = Some(format!(
            "nothing was there to close; the open leg was not sent: {} between the read its legs were planned from and the close (short 0 when planned, short 500 now); it now holds short 500 in EUR_USD",
            executor_runtime::drive::CHANGED_OUTSIDE_STOP
        ));
        let after_hand_trade = journaled_health(
            &[
                (held_back, Vec::new()),
                (at(Broker::Oanda, "filled", Some(11), 2), Vec::new()),
            ],
            |_| false,
            |_, _| None,
        );
        assert_eq!(
            after_hand_trade,
            [(Broker::Oanda, t(11), HealthEvent::Success)]
        );
        let health = MemoryHealth::default();
        for (b, when, e) in events {
            health.record(b, when, e).await.unwrap();
        }
        let coinbase = health.read(Broker::Coinbase).await.unwrap();
        assert_eq!(coinbase.state(t(10)), HealthState::Degraded);
        assert_eq!(
            (coinbase.last_success, coinbase.last_failure),
            (Some(t(6)), Some(t(8)))
        );
        // Its latest evidence is the retried signal's success.
        let tradovate = health.read(Broker::Tradovate).await.unwrap();
        assert_eq!(tradovate.state(t(12)), HealthState::Ok);
    }

    /// A paper history says nothing of the real account set since (nor a real one of the
    /// paper book): after a restart that turned OANDA real, its paper fill and the no-op
    /// beside it are not health of the real account, while a real rejection after them is;
    /// the other way round, only the paper signals count.
    #[test]
    fn a_restart_counts_health_only_of_the_kind_of_account_traded_now() {
        use shared::health::{FailureKind, HealthEvent};
        let t = |m: u32| -> DateTime<Utc> { format!("2026-12-05T10:{m:02}:00Z").parse().unwrap() };
        let at = |status: &str, start: u32, account: Option<&str>| {
            let mut r = signal(status, None);
            r.broker = Some(Broker::Oanda);
            r.stages.executor_start = Some(t(start));
            let legs = account
                .map(|a| vec![leg(a, start, "1000", "1.1")])
                .unwrap_or_default();
            (r, legs)
        };
        // Newest first: a no-op before the paper fill, the fill, then two real rejections
        // (one with a leg, one refused before sending) after OANDA was set.
        let recent = [
            at("rejected", 4, None),
            at("rejected", 3, Some("101-004-1234567-001")),
            at("filled", 2, Some("paper-oanda")),
            at("no_op", 1, None),
        ];
        let real = journaled_health(&recent, |_| false, |_, _| None);
        assert_eq!(
            real,
            [
                (
                    Broker::Oanda,
                    t(3),
                    HealthEvent::Failure(FailureKind::Rejected)
                ),
                (
                    Broker::Oanda,
                    t(4),
                    HealthEvent::Failure(FailureKind::Rejected)
                ),
            ]
        );
        let paper = journaled_health(&recent, |_| true, |_, _| None);
        assert_eq!(
            paper,
            [
                (Broker::Oanda, t(1), HealthEvent::Success),
                (Broker::Oanda, t(2), HealthEvent::Success),
            ]
        );
        // With the state file's history of accounts, a signal is the account in force at its
        // time: a no-op on paper before any leg, then the real account from minute 3, is
        // not the real account's health, legs or none.
        let noop_then_real = [at("rejected", 4, None), at("no_op", 1, None)];
        let real_from_3 = |_: Broker, when: DateTime<Utc>| Some(when >= t(3));
        assert_eq!(
            journaled_health(&noop_then_real, |_| false, real_from_3),
            [(
                Broker::Oanda,
                t(4),
                HealthEvent::Failure(FailureKind::Rejected)
            )]
        );
        // Without the history, the legless no-op counted for the real account (`ok`).
        assert_eq!(
            journaled_health(&noop_then_real, |_| false, |_, _| None).len(),
            2
        );
    }

    /// `relist` lists the journal's signals newest first behind those seen since the start,
    /// at most [`MAX_SIGNALS`], and brings back as refusals only the executors' refusals of
    /// the last hour (by their last stage), newest first among the refusals already shown.
    #[test]
    fn relist_lists_the_newest_signals_and_the_last_hours_refusals() {
        use shared::clock::ManualClock;
        let now: DateTime<Utc> = "2026-12-03T12:00:00Z".parse().unwrap();
        let dash = Dashboard::with_clock(Arc::new(ManualClock::new(now)));
        let at = |mins: i64| now - chrono::Duration::minutes(mins);
        let record = |n: usize, status: &str, mins: Option<i64>| {
            let mut r = signal(status, Some("why"));
            r.signal_id = serde_json::from_value(json!(format!("{n:032x}"))).unwrap();
            r.stages.received = mins.map(|m| at(m + 1));
            r.stages.executor_start = mins.map(at);
            r
        };
        // Seen since the start: a refusal by ingest (now) and signal 0 (journaled again).
        dash.refused(401, "unauthorized", "wrong secret");
        dash.accepted(&format!("{:032x}", 0), None, None, "LONG_ENTRY");
        let mut recent: Vec<_> = (0..150)
            .map(|n| {
                (
                    record(n, "filled", Some(n as i64 + 1)),
                    vec![open_leg("1.1")],
                )
            })
            .collect();
        recent[3].0 = record(3, "refused", Some(20));
        recent[5].0 = record(5, "expired", Some(50));
        recent[7].0 = record(7, "refused", Some(61)); // before the last hour
        recent[9].0 = record(9, "refused", None); // no stage time
        recent[120].0 = record(120, "refused", Some(30)); // not listed, within the hour
        dash.relist(&recent);

        let board = dash.lock();
        let ids: Vec<_> = board.signals.iter().map(|s| s.signal_id.clone()).collect();
        let expected: Vec<_> = (0..MAX_SIGNALS).map(|n| format!("{n:032x}")).collect();
        assert_eq!(
            ids, expected,
            "newest first, once each, at most {MAX_SIGNALS}"
        );
        assert_eq!(
            board.signals[0].status, "enqueued",
            "the view of the run kept"
        );
        let s1 = &board.signals[1];
        assert_eq!(
            (
                s1.status.as_str(),
                s1.first_seen,
                s1.updated_at,
                s1.legs.len()
            ),
            ("filled", at(3), at(2), 1)
        );
        assert_eq!(s1.close, Some(d("1.1")));
        let refusals: Vec<_> = board
            .refusals
            .iter()
            .map(|r| (r.code.as_str(), r.signal_id.clone(), r.at))
            .collect();
        let id = |n: usize| Some(format!("{n:032x}"));
        assert_eq!(
            refusals,
            [
                ("unauthorized", None, now),
                ("refused", id(3), at(20)),
                ("refused", id(120), at(30)),
                ("expired", id(5), at(50)),
            ]
        );
    }

    /// Two alerts of one instrument with the same time (TradingView's `timenow` is in
    /// seconds): after a restart the close of the one received later is the last price, as
    /// before it.
    #[test]
    fn a_restart_keeps_the_later_of_two_closes_with_the_same_time() {
        let dash = Dashboard::default();
        let at = |close: &str| {
            let mut r = signal("filled", None);
            r.normalized =
                json!({"reference_price": close, "signal_time": "2026-11-30T12:00:00Z"}).into();
            r
        };
        // Newest first, as `recent_signals` reads them.
        dash.restore(&[], &[at("0.81"), at("0.80")], &[]);
        let key = (Broker::Oanda, "EUR_USD".to_owned());
        assert_eq!(
            dash.lock().last_close.get(&key).map(|(_, c)| *c),
            Some(d("0.81"))
        );
    }

    #[test]
    fn a_restart_books_a_paper_accounts_fills_in_order_number_order() {
        let dash = Dashboard::default();
        let orders = [
            // Read back in the journal's key order, not in order number order.
            leg("paper-oanda", 12, "-1000", "1.30"),
            leg("paper-oanda", 2, "-500", "1.00"),
            leg("paper-oanda", 10, "1000", "1.10"),
            leg("paper-oanda", 11, "1000", "1.20"),
            leg("paper-oanda", 1, "500", "0.90"),
            // Another account's fill (an earlier run on another broker account).
            leg("101-004-1", 4, "5000", "1.00"),
        ];
        let mut recent = signal("filled", None);
        recent.normalized =
            json!({"reference_price": "1.25", "signal_time": "2026-11-30T12:00:00Z"}).into();
        let book = |orders: u64| vec![(Broker::Oanda, "paper-oanda".to_owned(), orders)];
        // The book has filled one more order than the journal holds (a crash before its
        // record): a takeover journals it after the start.
        dash.restore(&orders, &[recent], &book(13));
        let key = (Broker::Oanda, "EUR_USD".to_owned());
        // Flat after order 2; then long 2,000 at 1.15, 1,000 sold: long 1,000 at 1.15 (in
        // the order read, it would be 1,000 at 1.20).
        let restored = CostBasis {
            net: d("1000"),
            average: Some(d("1.15")),
        };
        assert_eq!(dash.lock().costs.get(&key), Some(&restored));
        assert_eq!(
            dash.lock().last_close.get(&key).map(|(_, c)| *c),
            Some(d("1.25"))
        );
        assert!(
            dash.lock().signals.is_empty(),
            "signals are not listed again"
        );
        assert_eq!(
            dash.lock().booked.len(),
            5,
            "the account's fills are remembered"
        );
        // A takeover journals two of them again (one from before the position was last
        // flat), and the one the journal missed.
        let missed = leg("paper-oanda", 13, "500", "1.45");
        let again = [orders[0].clone(), orders[1].clone(), missed];
        dash.journaled(&signal("filled", None), Some(&again));
        let after = CostBasis {
            net: d("1500"),
            average: Some(d("1.25")),
        };
        assert_eq!(dash.lock().costs.get(&key), Some(&after));

        // Journals that are not this book's: not booked, as before a restart.
        let mut unreadable = orders.to_vec();
        unreadable[3].broker_order_id = None;
        for (orders, count, why) in [
            (&orders[..], 0, "a new state file beside an old journal"),
            (&orders[..], 11, "fills numbered past the book's count"),
            (&unreadable[..], 13, "an order id that does not read"),
        ] {
            let fresh = Dashboard::default();
            fresh.restore(orders, &[], &book(count));
            assert_eq!(fresh.lock().costs.get(&key), None, "{why}");
        }
    }
}
