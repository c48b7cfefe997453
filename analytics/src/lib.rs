//! Performance analytics over the trade journal. Pure: the caller reads the journal (SQLite,
//! PostgreSQL or `journal=log` lines) and passes its rows; [`analyze`] returns a [`Report`]
//! that `tvctl report` renders as HTML, JSON or CSV.
//!
//! Money is in the instrument's quote currency and never summed across currencies. Futures
//! P&L is points × contracts × the contract's point value ([`shared::contract_specs`]).

use chrono::{DateTime, Datelike, Duration, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use shared::contract_specs;
use shared::execution::{Leg, OrderRecord, Side, SignalRecord, SignalStatus};
use shared::outcome::Outcome;
use shared::routing::Broker;
use std::collections::{BTreeMap, HashMap, VecDeque};

#[cfg(test)]
mod tests;

/// Which signals a report covers. Times compare with the alert's `timenow` (the journal's
/// `received` time when the alert has none).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// `indicator/timeframe`, as [`Report`] names strategies (e.g. `Trend_Validator/1`), in any
    /// case.
    pub strategy: Option<String>,
    /// The broker's instrument name (`EUR_USD`, `ESZ6`, `BTC-USD`) or the alert's symbol, in
    /// any case.
    pub instrument: Option<String>,
    /// Which accounts' fills count: the local stack's paper accounts' ([`PAPER_ACCOUNT`])
    /// are simulated.
    pub accounts: Accounts,
}

/// Which accounts' fills a report counts. Paper and real fills are never matched against
/// each other (each account has its own book), but summed into one instrument's, strategy's
/// or day's row they would blend a simulation into what the strategy earned: a trader who
/// went live on the files of their paper trial (`tvctl dev` on the same journal) read the
/// paper fills' P&L, at the alert's close and without fees, in their live totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Accounts {
    /// The real accounts' fills where the report's fills include some (the paper ones left
    /// out, and the report says how many); otherwise the paper accounts'.
    #[default]
    Auto,
    /// Every account's, paper and real summed alike (the report says so).
    All,
    /// The real accounts' only.
    Real,
    /// The paper accounts' only.
    Paper,
}

impl Accounts {
    /// `auto`, `all`, `real` or `paper`, in any case; an error names the value and the four.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "all" => Ok(Self::All),
            "real" => Ok(Self::Real),
            "paper" => Ok(Self::Paper),
            _ => Err(format!("{value:?} is not one of auto, all, real, paper")),
        }
    }
}

/// How an instrument's prices and quantities turn into money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Spec {
    /// Money per 1.0 of price per unit of quantity: 1 for currency units, coins and shares;
    /// the point value for a futures contract. `None`: unknown (P&L stays in points).
    pub multiplier: Option<Decimal>,
    /// The quote currency (`USD` for `EUR_USD`, `BTC-USD` and CME futures).
    pub currency: String,
    /// The price increment a trader counts slippage in, with its name: a pip (0.0001, or 0.01
    /// for JPY quotes) for currency pairs, a tick for futures. `None` for the rest.
    pub increment: Option<(Decimal, &'static str)>,
}

/// The G10 currencies, the ones [`spec`] counts pips between.
const G10: [&str; 10] = [
    "USD", "EUR", "JPY", "GBP", "CHF", "CAD", "AUD", "NZD", "NOK", "SEK",
];

/// What a fee of an instrument of `sp` is named in, in a warning: its quote currency; for a
/// future whose point value is unknown (its P&L in points), "in the broker's currency", which
/// a point is not.
fn fee_currency(sp: &Spec) -> String {
    if sp.multiplier.is_some() {
        sp.currency.clone()
    } else {
        "in the broker's currency".to_owned()
    }
}

/// The [`Spec`] of a broker's instrument name.
pub fn spec(broker: Broker, instrument: &str) -> Spec {
    match broker {
        Broker::Oanda => {
            let (base, quote) = instrument.split_once('_').unwrap_or((instrument, "?"));
            // Pips only between two G10 currencies, where the convention is settled: the
            // fourth decimal, the second for JPY quotes (OANDA's instruments endpoint,
            // `pipLocation` -4 or -2). A CFD such as `BCO_USD` or `XAU_USD`, or a pair with
            // another currency, gets no pip: its slippage is in price and basis points.
            let pair = G10.contains(&base) && G10.contains(&quote);
            let pip = if quote == "JPY" {
                Decimal::new(1, 2)
            } else {
                Decimal::new(1, 4)
            };
            Spec {
                multiplier: Some(Decimal::ONE),
                currency: quote.to_owned(),
                increment: pair.then_some((pip, "pip")),
            }
        }
        Broker::Tradovate => Spec {
            multiplier: contract_specs::point_value(instrument),
            // Money only with a known point value; otherwise the P&L is points of its root,
            // kept apart from every USD total and from other roots' points (a point of one
            // contract is not a point of another).
            currency: if contract_specs::point_value(instrument).is_some() {
                "USD".into()
            } else {
                format!("{} points", contract_specs::contract_root(instrument))
            },
            increment: contract_specs::tick_size(instrument).map(|t| (t, "tick")),
        },
        Broker::Coinbase => Spec {
            multiplier: Some(Decimal::ONE),
            currency: shared::routing::coinbase_currencies(instrument)
                .map_or("?", |(_, q)| q)
                .to_owned(),
            increment: None,
        },
    }
}

/// One fill as the report counts it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fill {
    pub signal_id: String,
    pub broker: Broker,
    pub account: String,
    pub instrument: String,
    pub strategy: String,
    /// When its order was sent (a market order fills within its acknowledgement): when it
    /// filled, as shown and bucketed, and the order the fills are matched in. A leg whose
    /// outcome a later replay found keeps its first send time but is acknowledged at the
    /// replay, hours after the signals that followed it; one found with no send time at all
    /// takes its signal's first executor start (else its earliest send), never that
    /// acknowledgement.
    pub at: DateTime<Utc>,
    pub side: Side,
    pub quantity: Decimal,
    pub price: Decimal,
    pub fee: Decimal,
    /// Its signal passes the report's filter (fills of other signals still move positions).
    #[serde(skip)]
    pub selected: bool,
    /// The journal has no fill price for it (a close found by position): the alert's close
    /// (or the instrument's last fill) stands in, and the report says so.
    pub estimated: bool,
    /// A leg on another contract than its signal's (the close of a roll).
    #[serde(skip)]
    pub other_contract: bool,
    /// The leg: only an open starts a position; a close finds the one it closes or none.
    #[serde(skip)]
    pub leg: Leg,
    /// A close journaled filled with no size (a liquidation a takeover found done, which
    /// closes the whole side): it closes whatever the book holds of that side, and its
    /// `quantity` is set to that when it is matched.
    #[serde(skip)]
    pub whole: bool,
    /// A close on a position book (OANDA closes a side `ALL`, Tradovate's
    /// `liquidatePosition` the whole net position) journaled as a plain fill (no `error`: not
    /// filled in part, not found by a takeover): the side it closed is flat after it, whatever
    /// the journal's lots say, so lots left of that side were closed outside the journal (a
    /// part closed by hand before the exit).
    #[serde(skip)]
    pub empties_side: bool,
}

/// A fill that closed (part of) a position: the lots it matched, first in first out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trade {
    pub broker: Broker,
    pub instrument: String,
    pub strategy: String,
    pub currency: String,
    /// Long when the closed lots were bought.
    pub long: bool,
    pub quantity: Decimal,
    /// The matched lots' average entry price.
    pub entry_price: Decimal,
    pub exit_price: Decimal,
    /// When the first matched lot's order was sent (the order the fills are matched in: a
    /// leg a takeover or a replay found filled, with no send time, is placed at its signal's
    /// first executor start, else its earliest send, not when it was found).
    pub opened_at: DateTime<Utc>,
    /// When the closing fill's order was sent, placed so too.
    pub closed_at: DateTime<Utc>,
    /// Points × quantity × multiplier, minus [`Trade::fees`]. In points when the multiplier
    /// is unknown (then `currency` is `<root> points`, e.g. `QQ points`), before fees: those are in the broker's
    /// currency, named in the report's warnings, not subtracted from points.
    pub pnl: Decimal,
    /// The closing fill's fee for what it closed plus the matched share of the opening
    /// fills' fees; zero for a trade in points (see [`Trade::pnl`]).
    pub fees: Decimal,
    /// A price in it was estimated (see [`Fill::estimated`]).
    pub estimated: bool,
}

/// What is still held, valued at the last known price.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenPosition {
    pub broker: Broker,
    pub account: String,
    pub instrument: String,
    pub currency: String,
    /// Signed: positive long, negative short.
    pub quantity: Decimal,
    pub average_price: Decimal,
    pub last_price: Decimal,
    pub last_price_at: DateTime<Utc>,
    pub unrealized: Decimal,
    /// Fees paid on the lots still open (not yet in any realized figure), in
    /// [`Self::currency`]; zero for a position in points, whose fees (in money) are kept
    /// apart as a trade's are (see [`Trade::fees`]).
    pub fees: Decimal,
}

/// Trade statistics of a group of trades, all in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Stats {
    pub trades: u64,
    pub wins: u64,
    pub losses: u64,
    /// Wins ÷ trades, to 4 decimal places; `None` without trades.
    pub win_rate: Option<Decimal>,
    pub realized: Decimal,
    /// Fees already subtracted from `realized` (see [`Trade::fees`]).
    pub fees: Decimal,
    /// The mean winning and losing trade, to two decimal places more than the finest P&L
    /// among the trades; `None` without a win (a loss).
    pub average_win: Option<Decimal>,
    pub average_loss: Option<Decimal>,
    /// Gross profit ÷ gross loss, to 4 decimal places; `None` without a losing trade.
    pub profit_factor: Option<Decimal>,
    /// The largest fall of the realized equity curve from a previous peak (≥ 0).
    pub max_drawdown: Decimal,
}

/// One row of a grouped summary: a key (instrument, broker or strategy) in one currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub key: String,
    pub currency: String,
    pub stats: Stats,
    /// Time a position was open, in seconds, summed over accounts: on instrument rows only
    /// (absent from the other groups, where a sum over instruments would count overlapping
    /// positions twice).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposure_secs: Option<i64>,
}

/// Slippage of one fill against its alert's close; positive is worse for the account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slippage {
    pub signal_id: String,
    /// When the order was sent (a market order fills within its acknowledgement), placed
    /// as [`Trade::opened_at`] is for a leg found with no send time.
    pub at: DateTime<Utc>,
    pub instrument: String,
    /// The leg (a reversal's close and open are two fills of one signal, same side).
    pub leg: Leg,
    pub side: Side,
    pub alert_close: Decimal,
    pub fill_price: Decimal,
    pub price: Decimal,
    /// In pips or ticks, with the unit's name; `None` when the instrument has neither.
    pub increments: Option<(Decimal, &'static str)>,
    pub bps: Decimal,
    pub money: Option<Decimal>,
    pub currency: String,
}

/// Percentiles of one stage's latency, in milliseconds (nearest rank).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageLatency {
    pub stage: &'static str,
    pub count: usize,
    pub p50_ms: i64,
    pub p95_ms: i64,
    pub p99_ms: i64,
}

/// One point of a realized equity curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EquityPoint {
    pub at: DateTime<Utc>,
    pub equity: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Report {
    pub signals: usize,
    /// Signals by journal status (`filled`, `refused`, `expired`, …).
    pub outcomes: BTreeMap<String, u64>,
    /// Refused signals by reason, rejected ones by the broker's reason, expired ones by why
    /// (too old on arrival, the staleness budget run out before a leg), each reason with its
    /// figures masked ([`reason_kind`]).
    pub refusals: BTreeMap<String, u64>,
    pub rejections: BTreeMap<String, u64>,
    pub expirations: BTreeMap<String, u64>,
    /// Per quote currency: realized P&L statistics over every trade.
    pub totals: BTreeMap<String, Stats>,
    pub by_instrument: Vec<Summary>,
    pub by_broker: Vec<Summary>,
    pub by_strategy: Vec<Summary>,
    /// Per UTC day the trades closed (`2026-11-30`), in day order.
    pub by_day: Vec<Summary>,
    /// Per ISO 8601 week (UTC) the trades closed (`2026-W49`, weeks start on Monday), in order.
    pub by_week: Vec<Summary>,
    /// Per UTC calendar month the trades closed (`2026-11`), in order.
    pub by_month: Vec<Summary>,
    /// Per quote currency: the realized equity curve, one point per trade.
    pub equity: BTreeMap<String, Vec<EquityPoint>>,
    pub trades: Vec<Trade>,
    pub open_positions: Vec<OpenPosition>,
    pub slippage: Vec<Slippage>,
    pub latency: Vec<StageLatency>,
    /// What the report could not value exactly (an unknown point value, a fill without a
    /// price or a time, a fill without its signal).
    pub warnings: Vec<String>,
}

/// What the report needs of a signal, read once from its journal row.
struct SignalInfo<'a> {
    record: &'a SignalRecord,
    strategy: String,
    alert_time: Option<DateTime<Utc>>,
    close: Option<Decimal>,
}

/// The few fields of the journal's raw alert the report reads; the rest is skipped unparsed.
#[derive(serde::Deserialize, Default)]
struct RawView {
    indicator: Option<String>,
    #[serde(default)]
    market_data: MarketView,
    #[serde(default)]
    price_data: PriceView,
}

/// Read as JSON values, not strings: ingest takes a number where a string is expected
/// (`"timeframe": {{interval}}` unquoted gives `5`), the canonical body keeps it a number,
/// and one field of an unexpected type must not drop the whole view (the strategy, the
/// alert's close and time with it).
#[derive(serde::Deserialize, Default)]
struct MarketView {
    timeframe: Option<serde_json::Value>,
    timenow: Option<serde_json::Value>,
}

/// A string's text, or a number as the alert wrote it.
fn text_of(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[derive(serde::Deserialize, Default)]
struct PriceView {
    /// A string in alerts this project accepts; a number in older journals.
    close: Option<serde_json::Value>,
}

/// The strategy a signal belongs to, as [`Report`] and [`Filter`] name it: the alert's
/// `indicator/timeframe` (`Trend_Validator/1`), `?` for a part the alert did not give.
pub fn strategy_of(record: &SignalRecord) -> String {
    let raw: RawView = serde_json::from_str(&record.raw).unwrap_or_default();
    strategy_name(&raw)
}

fn strategy_name(raw: &RawView) -> String {
    format!(
        "{}/{}",
        raw.indicator.as_deref().unwrap_or("?"),
        text_of(raw.market_data.timeframe.as_ref())
            .as_deref()
            .unwrap_or("?")
    )
}

fn info(record: &SignalRecord) -> SignalInfo<'_> {
    let raw: RawView = serde_json::from_str(&record.raw).unwrap_or_default();
    let strategy = strategy_name(&raw);
    // Trimmed as ingest reads it.
    let alert_time = text_of(raw.market_data.timenow.as_ref())
        .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
        .map(|t| t.with_timezone(&Utc));
    let close = match &raw.price_data.close {
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        // As the alert wrote it, an exponent included (`1.234e-5`: `Decimal` reads it).
        Some(serde_json::Value::Number(n)) => n.to_string().parse().ok(),
        _ => None,
    };
    SignalInfo {
        record,
        strategy,
        alert_time,
        close,
    }
}

impl SignalInfo<'_> {
    fn time(&self) -> Option<DateTime<Utc>> {
        self.alert_time.or(self.record.stages.received)
    }

    /// Whether the filter selects a fill of this signal on `instrument`: the signal's time and
    /// strategy as for the signal, and the fill's own instrument (a roll's close of the
    /// earlier contract belongs to that contract, not to the signal's new one) as `wanted`
    /// selects it.
    fn selects_fill(&self, f: &Filter, wanted: &Wanted, instrument: &str) -> bool {
        match wanted {
            Wanted::Any => self.matches(f, wanted),
            Wanted::Instrument(want) => {
                self.in_time_and_strategy(f) && instrument.eq_ignore_ascii_case(want)
            }
            Wanted::Symbol { traded, .. } => {
                self.in_time_and_strategy(f) && traded.contains(&instrument.to_ascii_uppercase())
            }
        }
    }

    fn matches(&self, f: &Filter, wanted: &Wanted) -> bool {
        if !self.in_time_and_strategy(f) {
            return false;
        }
        // Case does not matter: brokers name instruments in capitals (`EUR_USD`, `ESZ6`,
        // `BTC-USD`), and `eur_usd` typed at a prompt means the same one.
        let r = self.record;
        let own = |want: &str| {
            r.instrument
                .as_deref()
                .is_some_and(|i| i.eq_ignore_ascii_case(want))
                || r.symbol.eq_ignore_ascii_case(want)
        };
        match wanted {
            Wanted::Any => true,
            Wanted::Instrument(want) => own(want),
            Wanted::Symbol { symbol, traded } => {
                own(symbol)
                    || r.instrument
                        .as_deref()
                        .is_some_and(|i| traded.contains(&i.to_ascii_uppercase()))
            }
        }
    }

    /// The filter's time bounds and strategy, its instrument left aside.
    fn in_time_and_strategy(&self, f: &Filter) -> bool {
        let t = self.time();
        if f.since.is_some_and(|s| t.is_none_or(|t| t < s)) {
            return false;
        }
        if f.until.is_some_and(|u| t.is_none_or(|t| t >= u)) {
            return false;
        }
        // Case does not matter, as for instruments: `trend_validator/5` is `Trend_Validator/5`.
        if f.strategy
            .as_ref()
            .is_some_and(|s| !s.eq_ignore_ascii_case(&self.strategy))
        {
            return false;
        }
        true
    }
}

/// Seconds a book held a position, and since when it holds the current one.
/// Milliseconds counted, and since when (with whether the opening fill was selected) the
/// current position is open.
type Exposure = (i64, Option<(DateTime<Utc>, bool)>);

/// An open lot: signed quantity, price, time, and its remaining share of its fill's fee.
#[derive(Debug, Clone)]
struct Lot {
    quantity: Decimal,
    price: Decimal,
    at: DateTime<Utc>,
    fee: Decimal,
    estimated: bool,
    /// From a fill of a signal the filter selects.
    selected: bool,
    /// The signal whose open made it.
    signal_id: String,
}

/// What a filter's `instrument` selects.
enum Wanted {
    /// No instrument filter.
    Any,
    /// An instrument by the broker's name for it (`BTC-USD`, `ESZ6`): its own fills only (a
    /// contract, not the others its root's signals traded).
    Instrument(String),
    /// An alert symbol (`BTCUSD`, `ES1!`), which no signal or order names as an instrument:
    /// every instrument its signals traded (`traded`, in capitals), whatever symbol each of
    /// their alerts spelled, so a round trip opened as `BTCUSD` and closed as `BTC-USD` is
    /// one trade, and `ES1!` selects every contract it traded.
    Symbol {
        symbol: String,
        traded: std::collections::HashSet<String>,
    },
}

impl Wanted {
    fn of(filter: &Filter, signals: &[SignalRecord], orders: &[OrderRecord]) -> Self {
        let Some(want) = &filter.instrument else {
            return Self::Any;
        };
        let is_instrument = signals
            .iter()
            .filter_map(|s| s.instrument.as_deref())
            .chain(orders.iter().map(|o| o.instrument.as_str()))
            .any(|i| i.eq_ignore_ascii_case(want));
        if is_instrument {
            return Self::Instrument(want.clone());
        }
        let of_symbol: std::collections::HashSet<&str> = signals
            .iter()
            .filter(|s| s.symbol.eq_ignore_ascii_case(want))
            .map(|s| s.signal_id.as_str())
            .collect();
        let traded = signals
            .iter()
            .filter(|s| of_symbol.contains(s.signal_id.as_str()))
            .filter_map(|s| s.instrument.as_deref())
            .chain(
                orders
                    .iter()
                    .filter(|o| of_symbol.contains(o.signal_id.as_str()))
                    .map(|o| o.instrument.as_str()),
            )
            .map(str::to_ascii_uppercase)
            .collect();
        Self::Symbol {
            symbol: want.clone(),
            traded,
        }
    }
}

/// The report over the journal's rows. Signals outside `filter` and their orders are left
/// out; P&L is matched over the fills of the signals kept, in fill time order.
pub fn analyze(signals: &[SignalRecord], orders: &[OrderRecord], filter: &Filter) -> Report {
    let wanted = Wanted::of(filter, signals, orders);
    // Every signal counts for positions (a filter must not cut a round trip in half); only
    // the selected ones count for outcomes, slippage, latency and trades.
    let all: HashMap<&str, SignalInfo<'_>> = signals
        .iter()
        .map(|s| (s.signal_id.as_str(), info(s)))
        .collect();
    let infos: Vec<&SignalInfo<'_>> = all
        .values()
        .filter(|i| i.matches(filter, &wanted))
        .collect();
    let mut report = Report {
        signals: infos.len(),
        ..Report::default()
    };
    for i in &infos {
        let r = i.record;
        *report
            .outcomes
            .entry(r.status.as_str().to_owned())
            .or_default() += 1;
        let reason = r
            .reason
            .as_deref()
            .map_or_else(|| "(no reason)".to_owned(), reason_kind);
        match r.status {
            SignalStatus::Refused => *report.refusals.entry(reason).or_default() += 1,
            SignalStatus::Rejected => *report.rejections.entry(reason).or_default() += 1,
            SignalStatus::Expired => *report.expirations.entry(reason).or_default() += 1,
            _ => {}
        }
    }

    // Fills, in time order; a row sent twice keeps its own row (the journal keeps both).
    let mut fills: Vec<Fill> = Vec::new();
    let (mut orphans, mut estimated) = (0usize, 0usize);
    // Legs that may have filled at the broker without the journal knowing (an unknown
    // outcome), and fills whose fee the broker did not report: the report says so.
    let (mut unknown, mut no_fee, mut paper) = (0usize, 0usize, 0usize);
    // Tradovate opens a takeover found at the broker (no send time: an earlier attempt sent
    // them, before a restart or a failure).
    let mut found_opens = 0usize;
    // A signal's legs in the order they are sent (a roll's close, the close, the open), so a
    // leg without a time of its own is placed after the legs before it.
    let mut ordered: Vec<&OrderRecord> = orders.iter().collect();
    // By account within a signal too, so a leg's attempts at one account are adjacent.
    ordered.sort_by(|a, b| {
        (
            a.signal_id.as_str(),
            a.leg,
            a.broker,
            a.account.as_str(),
            a.attempt,
        )
            .cmp(&(
                b.signal_id.as_str(),
                b.leg,
                b.broker,
                b.account.as_str(),
                b.attempt,
            ))
    });
    // Unknown legs that a later attempt of the same leg followed (a forced replay sends
    // again; the first send may still fill, so the broker can hold both).
    let mut unknown_resent = 0usize;
    // Which accounts' fills count ([`Accounts`]): with `auto`, the paper ones only where the
    // fills the filter selects hold no real account's.
    let is_paper = |o: &OrderRecord| o.account.to_string().starts_with(PAPER_ACCOUNT);
    let chosen = |o: &OrderRecord| {
        o.outcome == Outcome::Filled
            && all.get(o.signal_id.as_str()).is_some_and(|i| {
                i.selects_fill(filter, &wanted, &o.instrument)
                    && filter.until.is_none_or(|u| i.time().is_none_or(|t| t < u))
            })
    };
    let real_fills = orders.iter().filter(|o| chosen(o) && !is_paper(o)).count();
    let counts_paper = match filter.accounts {
        Accounts::Auto => real_fills == 0,
        Accounts::All | Accounts::Paper => true,
        Accounts::Real => false,
    };
    let counts_real = filter.accounts != Accounts::Paper;
    let counts = |o: &OrderRecord| {
        if is_paper(o) {
            counts_paper
        } else {
            counts_real
        }
    };
    let (mut paper_left_out, mut real_left_out) = (0usize, 0usize);
    let mut previous_leg: Option<(&str, DateTime<Utc>)> = None;
    for (n, o) in ordered.iter().enumerate() {
        let o = *o;
        if o.outcome == Outcome::Unknown
            && counts(o)
            && all
                .get(o.signal_id.as_str())
                .is_some_and(|i| i.selects_fill(filter, &wanted, &o.instrument))
        {
            unknown += 1;
            // Sorted by signal, leg, attempt: a later attempt of this leg is the next row.
            if ordered.get(n + 1).is_some_and(|next| {
                next.signal_id == o.signal_id
                    && next.leg == o.leg
                    && next.broker == o.broker
                    && next.account == o.account
                    && next.attempt > o.attempt
            }) {
                unknown_resent += 1;
            }
        }
        // A close filled with no size closes the whole side it names (a Tradovate liquidation
        // found done by a takeover past the age limit, which sizes nothing): matched against
        // the book below. Left out, the book kept a position the account no longer held.
        let whole = o.quantity.is_zero() && o.leg != Leg::Open;
        if o.outcome != Outcome::Filled || (o.quantity <= Decimal::ZERO && !whole) {
            continue;
        }
        let Some(i) = all.get(o.signal_id.as_str()) else {
            orphans += 1;
            continue;
        };
        // After `until`, nothing counts, positions included.
        if filter
            .until
            .is_some_and(|u| i.time().is_some_and(|t| t >= u))
        {
            continue;
        }
        // A close found by position has no price in the journal: its alert's close stands in
        // (a position must still move, or every later trade would be matched wrongly).
        let (price, guessed) = match (o.fill_price, i.close) {
            (Some(p), _) => (p, false),
            (None, Some(close)) => (close, true),
            (None, None) => {
                orphans += 1;
                continue;
            }
        };
        estimated += usize::from(guessed);
        // When it filled, as shown and bucketed, and the order it is matched in: its send,
        // since a market order fills within its acknowledgement. A fill
        // a takeover found has no send time, and its acknowledgement is when it was found (a
        // replay, hours on, past the instrument's later signals): its signal's first executor
        // start stands in (else its earliest send: a replay's own send of another leg may be
        // the first one journaled, hours after the found fill). It came after the instrument's
        // previous signal had finished (one signal at a time per instrument), where the
        // alert's own time could come before that signal's fills. Matched at the time it was
        // found, an entry found by a replay came after the exit sent meanwhile: the exit
        // matched nothing and the entry stood as an open position the account did not hold.
        let stages = &i.record.stages;
        let Some(mut at) = o
            .sent_at
            .or(stages.executor_start)
            .or(stages.broker_sent)
            .or(o.acked_at)
            .or(stages.broker_acked)
            .or(i.time())
        else {
            report
                .warnings
                .push(format!("fill of {} has no time; left out", o.signal_id));
            continue;
        };
        if let Some((signal, at_before)) = previous_leg
            && signal == o.signal_id.as_str()
        {
            at = at.max(at_before);
        }
        previous_leg = Some((o.signal_id.as_str(), at));
        let filtered = i.selects_fill(filter, &wanted, &o.instrument);
        let selected = filtered && counts(o);
        if filtered && !selected {
            if is_paper(o) {
                paper_left_out += 1;
            } else {
                real_left_out += 1;
            }
        }
        no_fee += usize::from(o.fee.is_none() && selected);
        found_opens += usize::from(
            selected && o.broker == Broker::Tradovate && o.leg == Leg::Open && o.sent_at.is_none(),
        );
        paper += usize::from(selected && is_paper(o));
        fills.push(Fill {
            signal_id: o.signal_id.to_string(),
            broker: o.broker,
            account: book_account(o.broker, &o.account.to_string()),
            instrument: o.instrument.clone(),
            strategy: i.strategy.clone(),
            at,
            side: o.side,
            quantity: o.quantity,
            price,
            fee: o.fee.unwrap_or_default(),
            selected,
            estimated: guessed,
            other_contract: i.record.instrument.as_deref() != Some(o.instrument.as_str()),
            leg: o.leg,
            whole,
            empties_side: o.broker != Broker::Coinbase && o.leg != Leg::Open && o.error.is_none(),
        });
    }
    // In the order the legs were sent: one instrument's signals run one at a time, so this is
    // the order they changed the position in, where an acknowledgement time can come hours
    // late (an unknown outcome a replay resolved).
    fills.sort_by_key(|f| f.at);
    if orphans > 0 {
        report.warnings.push(format!(
            "{orphans} filled leg(s) without their signal or any price: left out"
        ));
    }
    if estimated > 0 {
        report.warnings.push(format!(
            "{estimated} filled leg(s) without a fill price (closes found by position): valued at their alert's close, or a rolled contract's close at that contract's last fill"
        ));
    }
    if unknown > 0 {
        let resent = if unknown_resent > 0 {
            format!(
                "; {unknown_resent} of them sent again by a forced replay (a later attempt of the same leg), so the broker may hold both sends: check its order history"
            )
        } else {
            String::new()
        };
        report.warnings.push(format!(
            "{unknown} leg(s) of unknown outcome: they may have filled at the broker and are not counted; `tvctl dlq replay` looks them up{resent}"
        ));
    }
    if paper > 0 {
        let mixed = if paper < fills.iter().filter(|f| f.selected).count() {
            "; the figures sum them with real accounts' fills (`--accounts real` leaves them out)"
        } else {
            ""
        };
        report.warnings.push(format!(
            "{paper} fill(s) of a paper account (the local stack's paper brokers, filled at the alert's close): simulated, not a broker's{mixed}"
        ));
    }
    if paper_left_out > 0 {
        let how = if filter.accounts == Accounts::Auto {
            ": this journal holds real accounts' fills too, and the figures are theirs; `--accounts paper` shows the paper ones, `--accounts all` both"
        } else {
            " (`--accounts real`)"
        };
        report.warnings.push(format!(
            "{paper_left_out} fill(s) of a paper account left out of the figures{how}"
        ));
    }
    if real_left_out > 0 {
        report.warnings.push(format!(
            "{real_left_out} fill(s) of a real account left out of the figures (`--accounts paper`)"
        ));
    }
    if found_opens > 0 {
        report.warnings.push(format!(
            "{found_opens} Tradovate open(s) found at the broker after a restart or a failure: a liquidation the earlier attempt made first carries no id to find it by and is not journaled, so the positions and P&L after it may be off; compare with `tvctl positions` or the broker's own history"
        ));
    }
    if no_fee > 0 {
        report.warnings.push(format!(
            "{no_fee} fill(s) without a fee reported by the broker: their P&L is before that fee"
        ));
    }

    // Slippage against the alert's close: the selected fills on the signal's own contract
    // (a roll's close trades another contract, whose price the alert does not give).
    for f in fills
        .iter()
        .filter(|f| f.selected && !f.estimated && !f.other_contract && !f.whole)
    {
        let Some(close) = all.get(f.signal_id.as_str()).and_then(|i| i.close) else {
            continue;
        };
        if close.is_zero() {
            continue;
        }
        let sp = spec(f.broker, &f.instrument);
        let sign = if f.side == Side::Buy {
            Decimal::ONE
        } else {
            -Decimal::ONE
        };
        let price = (f.price - close) * sign;
        report.slippage.push(Slippage {
            signal_id: f.signal_id.clone(),
            at: f.at,
            instrument: f.instrument.clone(),
            leg: f.leg,
            side: f.side,
            alert_close: close,
            fill_price: f.price,
            price,
            increments: sp.increment.map(|(inc, name)| (price / inc, name)),
            bps: (price / close * Decimal::from(10_000)).round_dp(2),
            money: sp.multiplier.map(|m| price * f.quantity * m),
            currency: sp.currency,
        });
    }

    // FIFO matching per broker, account and instrument.
    let mut books: BTreeMap<(Broker, String, String), VecDeque<Lot>> = BTreeMap::new();
    // Per (account, instrument): seconds with a position open, and since when it is open.
    let mut exposure: HashMap<(String, String), Exposure> = HashMap::new();
    let mut last_price: HashMap<(Broker, String), (DateTime<Utc>, Decimal)> = HashMap::new();
    let mut unknown_multiplier = std::collections::BTreeSet::new();
    // Fees of round trips whose P&L is in points (no known point value), per instrument.
    let mut unvalued_fees: BTreeMap<String, Decimal> = BTreeMap::new();
    // Closes with nothing (or less than they closed) to match: units the journal never saw
    // opened, per instrument.
    // (units, the fees paid closing them, the fees' currency)
    let mut unopened: BTreeMap<String, (Decimal, Decimal, String)> = BTreeMap::new();
    // Lots still in the book when an open filled that the account could not hold (of the
    // other side; on a position book, of its own side too, but its own signal's): closed
    // outside the journal, per instrument.
    // (units, the opening fees they still carried, the fees' currency)
    let mut closed_outside: BTreeMap<String, (Decimal, Decimal, String)> = BTreeMap::new();
    for f in &mut fills {
        // A rolled contract's close found by position has no price, and the alert's close is
        // the new contract's: the old contract's own last fill stands in (the calendar
        // spread, times the point value, would otherwise count as P&L).
        if f.estimated
            && f.other_contract
            && let Some((_, last)) = last_price.get(&(f.broker, f.instrument.clone()))
        {
            f.price = *last;
        }
        let book = books
            .entry((f.broker, f.account.clone(), f.instrument.clone()))
            .or_default();
        if f.whole {
            // What the book holds of the side this close sells (a sell closes the long).
            let held: Decimal = book
                .iter()
                .filter(|lot| lot.quantity.is_sign_positive() == (f.side == Side::Sell))
                .map(|lot| lot.quantity.abs())
                .sum();
            if held.is_zero() {
                // A close filled with no size (a liquidation a takeover found done) with
                // nothing of its side in the book: it closed what the journal never saw
                // opened. Warned of, with its fee, rather than dropped without a word.
                if f.selected {
                    let entry = unopened.entry(f.instrument.clone()).or_insert_with(|| {
                        (
                            Decimal::ZERO,
                            Decimal::ZERO,
                            fee_currency(&spec(f.broker, &f.instrument)),
                        )
                    });
                    entry.1 += f.fee;
                }
                continue;
            }
            f.quantity = held;
        }
        let f = &*f;
        let sp = spec(f.broker, &f.instrument);
        if sp.multiplier.is_none() {
            unknown_multiplier.insert(f.instrument.clone());
        }
        let multiplier = sp.multiplier.unwrap_or(Decimal::ONE);
        last_price.insert((f.broker, f.instrument.clone()), (f.at, f.price));
        let mut was_open = !book.is_empty();
        let signed = if f.side == Side::Buy {
            f.quantity
        } else {
            -f.quantity
        };
        // An open never closes: every plan closes a held side before it opens the other
        // (`executor_runtime::plan`: no step holds both directions), so lots of the other
        // side still in the book when an open fills were closed where the journal did not
        // see it (by hand, a broker's closeout, a close whose outcome stayed unknown). They
        // leave the book with no P&L, and the open starts a lot of its own; matching them
        // at the open's price would book a round trip that never traded. So do lots of the
        // open's own side on a position book (OANDA, Tradovate): a plan opens a side only
        // when the account holds none of it, so they were closed outside the journal too,
        // and the next exit matched against them would book a round trip from their price.
        // Not on Coinbase's spot book, where a buy may follow dust the plan does not count
        // as held, still held; nor lots of the open's own signal (a replay's send journaled
        // beside an earlier one of unknown outcome that landed: both held).
        let stale = |lot: &Lot| {
            lot.quantity.is_sign_positive() != signed.is_sign_positive()
                || (f.broker != Broker::Coinbase && lot.signal_id != f.signal_id)
        };
        if f.leg == Leg::Open && book.iter().any(stale) {
            let (kept, gone): (VecDeque<Lot>, VecDeque<Lot>) =
                book.drain(..).partition(|lot| !stale(lot));
            *book = kept;
            let (gone, fees) = gone
                .iter()
                .fold((Decimal::ZERO, Decimal::ZERO), |(q, fee), lot| {
                    (q + lot.quantity.abs(), fee + lot.fee)
                });
            if f.selected {
                let e = closed_outside
                    .entry(f.instrument.clone())
                    .or_insert_with(|| (Decimal::ZERO, Decimal::ZERO, fee_currency(&sp)));
                e.0 += gone;
                e.1 += fees;
            }
            if book.is_empty() {
                was_open = false;
                // When the position closed is unknown: the stretch is not counted as exposure.
                if let Some(e) = exposure.get_mut(&(f.account.clone(), f.instrument.clone())) {
                    e.1 = None;
                }
            }
        }
        let mut left = signed;
        let mut closed = Decimal::ZERO;
        let mut cost = Decimal::ZERO;
        let mut pnl = Decimal::ZERO;
        let mut fees = Decimal::ZERO;
        let mut opened_at = f.at;
        let mut long = false;
        let mut guessed = f.estimated;
        while !left.is_zero() {
            let Some(lot) = book.front_mut() else { break };
            if lot.quantity.is_sign_positive() == left.is_sign_positive() {
                break;
            }
            let matched = lot.quantity.abs().min(left.abs());
            let direction = if lot.quantity.is_sign_positive() {
                Decimal::ONE
            } else {
                -Decimal::ONE
            };
            long = direction.is_sign_positive();
            if closed.is_zero() {
                opened_at = lot.at;
            }
            pnl += (f.price - lot.price) * matched * direction * multiplier;
            cost += lot.price * matched;
            guessed |= lot.estimated;
            let share = lot.fee * matched / lot.quantity.abs();
            fees += share;
            lot.fee -= share;
            lot.quantity -= matched * direction;
            left += matched * direction;
            closed += matched;
            if lot.quantity.is_zero() {
                book.pop_front();
            }
        }
        // The fill's own fee, split between what it closed and what it opened.
        let closing_fee = f.fee * closed / f.quantity;
        if !closed.is_zero() && f.selected {
            fees += closing_fee;
            // Points less dollars would be neither: with no known point value the P&L stays
            // gross, in points, and its fees are warned of in their own currency.
            let (pnl, fees) = if sp.multiplier.is_some() {
                (pnl - fees, fees)
            } else {
                *unvalued_fees.entry(f.instrument.clone()).or_default() += fees;
                (pnl, Decimal::ZERO)
            };
            report.trades.push(Trade {
                broker: f.broker,
                instrument: f.instrument.clone(),
                strategy: f.strategy.clone(),
                currency: sp.currency.clone(),
                long,
                quantity: closed,
                entry_price: cost / closed,
                exit_price: f.price,
                opened_at,
                closed_at: f.at,
                pnl,
                fees,
                estimated: guessed,
            });
        }
        if !left.is_zero() && f.leg != Leg::Open {
            // A close opens nothing: what it sold (or bought) beyond the journal's lots was
            // held before the journal began, or opened by a leg of unknown outcome. Warned of
            // only for a fill the report selects.
            if f.selected {
                let entry = unopened
                    .entry(f.instrument.clone())
                    .or_insert_with(|| (Decimal::ZERO, Decimal::ZERO, fee_currency(&sp)));
                entry.0 += left.abs();
                // The share of the fill's fee for what it closed beyond the journal's lots.
                entry.1 += f.fee - closing_fee;
            }
        } else if !left.is_zero() {
            book.push_back(Lot {
                quantity: left,
                price: f.price,
                at: f.at,
                fee: f.fee - closing_fee,
                estimated: f.estimated,
                selected: f.selected,
                signal_id: f.signal_id.clone(),
            });
            // Coinbase's book keeps other signals' lots of the open's side (dust the plan does
            // not count as held, or coins sold outside the journal: in the app, or through
            // another product of the same coin, which the report cannot tell apart). Matched
            // first, a sale sold out by hand before a re-entry put every later round trip on
            // the previous trip's entry price (+20 shown where +10 was made, a loss as a win).
            // They go behind this open's lots: a close sells the whole balance, so dust is
            // still matched, after the lots the executor bought.
            if f.broker == Broker::Coinbase
                && f.leg == Leg::Open
                && book.iter().any(|lot| lot.signal_id != f.signal_id)
            {
                let (own, others): (VecDeque<Lot>, VecDeque<Lot>) =
                    book.drain(..).partition(|lot| lot.signal_id == f.signal_id);
                book.extend(own);
                book.extend(others);
            }
        }
        // A whole side closed at the broker (see `Fill::empties_side`): what the book still
        // holds of it was closed outside the journal, as a stale lot an open finds is. Kept,
        // the report showed it open, valued at every later alert, and the next close matched
        // against it booked a round trip from its price.
        let closes_long = f.side == Side::Sell;
        if f.empties_side
            && book
                .iter()
                .any(|lot| lot.quantity.is_sign_positive() == closes_long)
        {
            let (gone, kept): (VecDeque<Lot>, VecDeque<Lot>) = book
                .drain(..)
                .partition(|lot| lot.quantity.is_sign_positive() == closes_long);
            *book = kept;
            if f.selected {
                let e = closed_outside
                    .entry(f.instrument.clone())
                    .or_insert_with(|| (Decimal::ZERO, Decimal::ZERO, fee_currency(&sp)));
                for lot in &gone {
                    e.0 += lot.quantity.abs();
                    e.1 += lot.fee;
                }
            }
        }
        // Exposure: time with a position open, per instrument.
        let e = exposure
            .entry((f.account.clone(), f.instrument.clone()))
            .or_insert((0, None));
        // A stretch counts when the filter selects its opening or its closing fill.
        match (was_open, book.is_empty()) {
            (false, false) => e.1 = Some((f.at, f.selected)),
            (true, true) => {
                if let Some((start, opened_selected)) = e.1.take()
                    && (opened_selected || f.selected)
                {
                    e.0 += (f.at - start).num_milliseconds();
                }
            }
            _ => {}
        }
    }
    for (instrument, (quantity, fees, currency)) in unopened {
        let units = if quantity.is_zero() {
            "a size not reported (a liquidation found done)".to_owned()
        } else {
            format!("{} unit(s)", quantity.normalize())
        };
        let fees = if fees.is_zero() {
            String::new()
        } else {
            format!(
                "; the fees paid closing them ({} {currency}) are in no trade",
                fees.normalize()
            )
        };
        report.warnings.push(format!(
            "{instrument}: closes of {units} the journal never saw opened (held before the journal began, or opened by a leg of unknown outcome): no P&L counted for them{fees}"
        ));
    }
    for (instrument, (quantity, fees, currency)) in closed_outside {
        let fees = if fees.is_zero() {
            String::new()
        } else {
            format!(
                "; the fees paid opening them ({} {currency}) are in no trade",
                fees.normalize()
            )
        };
        report.warnings.push(format!(
            "{instrument}: {} unit(s) the journal held were gone when an open filled, or when an OANDA or Tradovate close (which closes the whole side) filled (an open is sent only when the account holds nothing of the other side, and on OANDA and Tradovate nothing of its own: closed outside the journal, by hand, by a broker's closeout or a stop, or by a close of unknown outcome): no P&L counted for them{fees}",
            quantity.normalize()
        ));
    }
    for name in unknown_multiplier {
        let fees = unvalued_fees
            .get(&name)
            .filter(|f| !f.is_zero())
            .map(|f| {
                format!(
                    "; its round trips' fees ({}, in the broker's currency) are not subtracted from them",
                    f.normalize()
                )
            })
            .unwrap_or_default();
        report.warnings.push(format!(
            "{name}: no known point value; its P&L is in points, not money{fees}"
        ));
    }

    // Alerts' closes are prices too: the latest of those and the fills values open lots.
    // Alerts of one time (TradingView's `timenow` has whole seconds) are told apart by when
    // they were received, then by id, so the price is the same whatever order the journal
    // was read in (it was the first of them the map happened to yield).
    // (time, received, signal id, close) of each instrument's latest alert.
    type Latest<'a> = (DateTime<Utc>, Option<DateTime<Utc>>, &'a str, Decimal);
    let mut latest_alert: HashMap<(Broker, String), Latest<'_>> = HashMap::new();
    for i in all
        .values()
        .filter(|i| filter.until.is_none_or(|u| i.time().is_some_and(|t| t < u)))
    {
        let (Some(broker), Some(instrument), Some(close), Some(at)) = (
            i.record.broker,
            i.record.instrument.clone(),
            i.close,
            i.time(),
        ) else {
            continue;
        };
        let this = (
            at,
            i.record.stages.received,
            i.record.signal_id.as_str(),
            close,
        );
        let slot = latest_alert.entry((broker, instrument)).or_insert(this);
        if (this.0, this.1, this.2) > (slot.0, slot.1, slot.2) {
            *slot = this;
        }
    }
    for (key, (at, _, _, close)) in latest_alert {
        let slot = last_price.entry(key).or_insert((at, close));
        if at > slot.0 {
            *slot = (at, close);
        }
    }
    // Positions still open count their time up to the journal's latest fill or alert.
    let as_of = last_price.values().map(|(at, _)| *at).max();
    for e in exposure.values_mut() {
        if let (Some((start, true)), Some(end)) = (e.1, as_of) {
            e.0 += (end - start).num_milliseconds().max(0);
        }
    }
    // With a strategy or instrument filter, a position shows when a lot of it comes from a
    // signal the filter selects (an instrument given as the alert's symbol included).
    let narrowed = filter.strategy.is_some() || filter.instrument.is_some();
    for ((broker, account, instrument), book) in &books {
        if book.is_empty() || (narrowed && !book.iter().any(|l| l.selected)) {
            continue;
        }
        // An account whose fills do not count ([`Accounts`]): its positions are not shown.
        if account.starts_with(PAPER_ACCOUNT) && !counts_paper
            || !account.starts_with(PAPER_ACCOUNT) && !counts_real
        {
            continue;
        }
        let quantity: Decimal = book.iter().map(|l| l.quantity).sum();
        let cost: Decimal = book.iter().map(|l| l.quantity * l.price).sum();
        let sp = spec(*broker, instrument);
        let (at, last) = last_price[&(*broker, instrument.clone())];
        let average_price = cost / quantity;
        report.open_positions.push(OpenPosition {
            broker: *broker,
            account: account.clone(),
            instrument: instrument.clone(),
            currency: sp.currency.clone(),
            quantity,
            average_price,
            last_price: last,
            last_price_at: at,
            unrealized: (last - average_price) * quantity * sp.multiplier.unwrap_or(Decimal::ONE),
            fees: match sp.multiplier {
                Some(_) => book.iter().map(|l| l.fee).sum(),
                None => Decimal::ZERO,
            },
        });
    }

    // Statistics: overall per currency, and grouped.
    let mut by_currency: BTreeMap<String, Vec<&Trade>> = BTreeMap::new();
    for t in &report.trades {
        by_currency.entry(t.currency.clone()).or_default().push(t);
    }
    for (currency, trades) in &by_currency {
        report.totals.insert(currency.clone(), stats(trades));
        let mut equity = Decimal::ZERO;
        let curve = trades
            .iter()
            .map(|t| {
                equity += t.pnl;
                EquityPoint {
                    at: t.closed_at,
                    equity,
                }
            })
            .collect();
        report.equity.insert(currency.clone(), curve);
    }
    let group = |key: &dyn Fn(&Trade) -> String| -> Vec<Summary> {
        let mut groups: BTreeMap<(String, String), Vec<&Trade>> = BTreeMap::new();
        for t in &report.trades {
            groups
                .entry((key(t), t.currency.clone()))
                .or_default()
                .push(t);
        }
        groups
            .into_iter()
            .map(|((key, currency), trades)| Summary {
                key,
                currency,
                stats: stats(&trades),
                exposure_secs: None,
            })
            .collect()
    };
    report.by_instrument = group(&|t| t.instrument.clone());
    for s in &mut report.by_instrument {
        s.exposure_secs = Some(
            exposure
                .iter()
                .filter(|((_, instrument), _)| *instrument == s.key)
                .map(|(_, e)| e.0)
                .sum::<i64>()
                / 1000,
        );
    }
    report.by_broker = group(&|t| t.broker.as_str().to_owned());
    report.by_strategy = group(&|t| t.strategy.clone());
    report.by_day = group(&|t| t.closed_at.date_naive().to_string());
    report.by_week = group(&|t| {
        let w = t.closed_at.iso_week();
        format!("{}-W{:02}", w.year(), w.week())
    });
    report.by_month = group(&|t| t.closed_at.format("%Y-%m").to_string());

    // Latency of the signals whose accounts count ([`Accounts`]): a paper broker answers in
    // the process, and its near-zero times among a real broker's made the percentiles the
    // simulation's. A signal with no order row (refused before any) has no account to judge
    // by, and counts.
    let mut accounts_of: HashMap<&str, (bool, bool)> = HashMap::new();
    for o in orders {
        let e = accounts_of.entry(o.signal_id.as_str()).or_default();
        if counts(o) {
            e.0 = true;
        } else {
            e.1 = true;
        }
    }
    report.latency = latencies(infos.iter().copied().filter(|i| {
        accounts_of
            .get(i.record.signal_id.as_str())
            .is_none_or(|(counted, left_out)| *counted || !*left_out)
    }));
    report.trades.sort_by_key(|t| t.closed_at);
    report
}

/// The account a fill's position is booked under. A Coinbase executor journals its API key's
/// name (`organizations/{org_id}/apiKeys/{key_id}`) as the account, but the position is the
/// wallet's, whatever key traded it: booked under the organization, so a round trip bought
/// under one key and sold under its replacement is one trade, not a sale of coins never seen
/// bought and a purchase held for ever. Any other account as journaled.
fn book_account(broker: Broker, account: &str) -> String {
    if broker == Broker::Coinbase
        && let Some(org) = account
            .split_once("/apiKeys/")
            .map(|(org, _)| org)
            .filter(|org| org.starts_with("organizations/"))
    {
        return org.to_owned();
    }
    account.to_owned()
}

/// How the local stack's paper accounts are named (`paper-oanda`, `paper-tradovate`,
/// `paper-coinbase`): their fills are simulated, and the report says so.
pub const PAPER_ACCOUNT: &str = "paper-";

/// A reason without its figures, so refusals of one kind group together ("alert quantity 5
/// is over …" and "… 7 …" are one row): every number (digits, with any `.`, `,` or `:`
/// between digits: `1,000.50`, `12:00:00`) becomes `#`. Digits that end a word stay, as
/// they are part of a name: a contract (`MESZ6`), an account, an order id (`0000-cb-order-0001`
/// keeps nothing, `ESH27` keeps its year). Two exceptions: a hex id (a word of 8 or more hex
/// digits and `-`, with both a digit and a letter: a signal id, a UUID) is one `#` whoever
/// wrote it, and the `T` of an ISO time (`2026-12-03T09:15:00Z`) is no letter of a name.
fn reason_kind(reason: &str) -> String {
    let chars: Vec<char> = reason.chars().collect();
    let mut out = String::with_capacity(reason.len());
    let mut i = 0;
    let word_char = |c: char| c.is_ascii_alphanumeric() || c == '-';
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphanumeric() && (i == 0 || !word_char(chars[i - 1])) {
            let end = (i..chars.len())
                .find(|&j| !word_char(chars[j]))
                .unwrap_or(chars.len());
            let word = &chars[i..end];
            let hex_id = word.len() >= 8
                && word.iter().all(|c| c.is_ascii_hexdigit() || *c == '-')
                && word.iter().any(char::is_ascii_digit)
                && word.iter().any(char::is_ascii_alphabetic);
            if hex_id {
                out.push('#');
                i = end;
                continue;
            }
        }
        let iso_t = i > 1 && chars[i - 1] == 'T' && chars[i - 2].is_ascii_digit();
        let after_letter = i > 0 && (chars[i - 1].is_alphabetic() || chars[i - 1] == '_') && !iso_t;
        if c.is_ascii_digit() && !after_letter {
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || (matches!(chars[i], '.' | ',' | ':')
                        && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
            {
                i += 1;
            }
            out.push('#');
            continue;
        }
        if c.is_ascii_digit() {
            // A name's digits: kept whole.
            while i < chars.len() && chars[i].is_ascii_alphanumeric() {
                out.push(chars[i]);
                i += 1;
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

fn stats(trades: &[&Trade]) -> Stats {
    let wins: Vec<Decimal> = trades
        .iter()
        .map(|t| t.pnl)
        .filter(|p| *p > Decimal::ZERO)
        .collect();
    let losses: Vec<Decimal> = trades
        .iter()
        .map(|t| t.pnl)
        .filter(|p| *p < Decimal::ZERO)
        .collect();
    let gross_win: Decimal = wins.iter().sum();
    let gross_loss: Decimal = losses.iter().sum();
    let n = trades.len() as u64;
    // An average of money keeps two decimal places more than the finest P&L it averages
    // (10 ÷ 3 USD is 3.33, 0.10001 ÷ 3 BTC is 0.0333367), not the 28 digits of a division,
    // and at most 10 (a P&L carrying a share of a fee can have 28 places itself).
    let average_dp = (trades.iter().map(|t| t.pnl.scale()).max().unwrap_or(0) + 2).min(10);
    let (mut equity, mut peak, mut drawdown) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for t in trades {
        equity += t.pnl;
        peak = peak.max(equity);
        drawdown = drawdown.max(peak - equity);
    }
    Stats {
        trades: n,
        wins: wins.len() as u64,
        losses: losses.len() as u64,
        // A ratio shown to people: 0.6667, not 28 digits of 2 ÷ 3.
        win_rate: (n > 0)
            .then(|| (Decimal::from(wins.len() as u64) / Decimal::from(n)).round_dp(4)),
        realized: trades.iter().map(|t| t.pnl).sum(),
        fees: trades.iter().map(|t| t.fees).sum(),
        average_win: (!wins.is_empty())
            .then(|| (gross_win / Decimal::from(wins.len() as u64)).round_dp(average_dp)),
        average_loss: (!losses.is_empty())
            .then(|| (gross_loss / Decimal::from(losses.len() as u64)).round_dp(average_dp)),
        // A ratio, shown like the win rate: 2.3333, not 28 digits of 7 ÷ 3.
        profit_factor: (!gross_loss.is_zero()).then(|| (gross_win / -gross_loss).round_dp(4)),
        max_drawdown: drawdown,
    }
}

/// One stage of a signal: its name and the times it runs between.
type Stage = (&'static str, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The stages of a signal, in pipeline order.
fn stages(i: &SignalInfo<'_>) -> [Stage; 7] {
    let s = &i.record.stages;
    [
        ("alert_to_received", i.alert_time, s.received),
        ("received_to_enqueued", s.received, s.enqueued),
        ("enqueued_to_routed", s.enqueued, s.routed),
        ("routed_to_executor", s.routed, s.executor_start),
        ("executor_to_sent", s.executor_start, s.broker_sent),
        ("sent_to_acked", s.broker_sent, s.broker_acked),
        ("alert_to_acked", i.alert_time, s.broker_acked),
    ]
}

fn latencies<'a>(infos: impl Iterator<Item = &'a SignalInfo<'a>>) -> Vec<StageLatency> {
    let mut samples: BTreeMap<usize, (&'static str, Vec<i64>)> = BTreeMap::new();
    for i in infos {
        for (n, (name, from, to)) in stages(i).into_iter().enumerate() {
            if let (Some(a), Some(b)) = (from, to) {
                samples
                    .entry(n)
                    .or_insert((name, Vec::new()))
                    .1
                    .push((b - a).num_milliseconds());
            }
        }
    }
    samples
        .into_values()
        .map(|(stage, mut v)| {
            v.sort_unstable();
            StageLatency {
                stage,
                count: v.len(),
                p50_ms: percentile(&v, 50),
                p95_ms: percentile(&v, 95),
                p99_ms: percentile(&v, 99),
            }
        })
        .collect()
}

/// Nearest-rank percentile of sorted samples: the smallest value with at least `p` % of the
/// samples at or below it.
pub fn percentile(sorted: &[i64], p: u32) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() * p as usize).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// Seconds as a `Duration`, for callers that print exposure.
pub fn exposure(secs: i64) -> Duration {
    Duration::seconds(secs)
}
