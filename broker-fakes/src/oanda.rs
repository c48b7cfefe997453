//! An OANDA v20 server for tests that answers only what OANDA documents:
//!
//! - the official Swagger description, <https://github.com/oanda/v20-openapi>
//!   (`json/v20.json`): request and response bodies, the `Transaction` types
//!   (`MARKET_ORDER`, `ORDER_FILL`, `ORDER_CANCEL`, `MARKET_ORDER_REJECT`), the
//!   `TransactionRejectReason` values and the `Instrument` definition;
//! - <https://developer.oanda.com/rest-live-v20/order-ep/> (create an order, get one by
//!   OrderID or `@ClientID`), <https://developer.oanda.com/rest-live-v20/position-ep/>
//!   (close a position), <https://developer.oanda.com/rest-live-v20/transaction-ep/>
//!   (`transactions/{id}`, `transactions/sinceid`),
//!   <https://developer.oanda.com/rest-live-v20/account-ep/> (`summary`, `instruments`) and
//!   <https://developer.oanda.com/rest-live-v20/best-practices/> (request rate limits).
//!
//! It keeps netting or hedging positions and the open trades behind them (closed oldest
//! first, each with the `tradeClientExtensions.id` of the order that opened it, which a
//! second order naming that id while the trade is open finds taken:
//! `CLIENT_TRADE_ID_ALREADY_EXISTS`), checks every request the way the API documents it
//! (bearer token, JSON content type, order body fields, close-only-existing-sides), enforces
//! each instrument's `tradeUnitsPrecision`, `minimumTradeSize` and `maximumOrderUnits`
//! (rejects are transactions too), lists every transaction by `sinceid`, records every
//! request, and can script faults on the order endpoints: an error or a delay after the order
//! was created, an error before, a 429 (alone, after the order was carried out, or with the
//! order carried out later, around the next order request), a cancel, a reject. FOK market
//! orders complete within the request, as documented. OANDA documents client-id lookups (and
//! `CLIENT_ORDER_ID_ALREADY_EXISTS`) only for pending orders, so with
//! [`FakeOanda::strict_lookups`] on (the default) `GET orders/@clientID` does not find a
//! filled or cancelled order. Anything a real OANDA would refuse is also kept in
//! `violations()`, so a test can assert the client never sent it.
#![allow(dead_code, clippy::unwrap_used)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use chrono::{DateTime, SecondsFormat};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Fault {
    /// Execute the order, then answer 503 (the client cannot know it went through).
    ErrorAfterCreate,
    /// Answer 503 without creating anything.
    ErrorBeforeCreate,
    /// Execute the order, then answer only after this delay (beyond the client's timeout).
    DelayAfterCreate(Duration),
    /// Create the order and cancel it at once: 201 with `orderCancelTransaction`.
    Cancel(&'static str),
    /// Refuse it: 400 with `orderRejectTransaction`; a position close, 400 with a reject
    /// transaction for each side it names (`rejectReason` and `errorCode` the reason), as
    /// [`Fault::CloseRefused`] answers.
    Reject(&'static str),
    /// Refuse a market order as [`Fault::Reject`] does (its reject transaction kept), then
    /// answer 503 in place of the 400: the client cannot know how it ended.
    RejectThenError(&'static str),
    /// Answer 429 `{"errorMessage": …}` without carrying anything out (no transaction). The
    /// best-practices page limits request rates; the 429 status itself is not among the
    /// Swagger's listed responses for these endpoints, and no `Retry-After` is documented.
    TooMany,
    /// Carry the order out, then answer 429 as [`Fault::TooMany`] does: OANDA documents no
    /// 429 for its order endpoints, so nothing says a 429 means nothing was done.
    TooManyAfterCreate,
    /// Answer 429 at once, holding the order back, and carry it out later (`Late`): a
    /// request a proxy in front of OANDA had already passed on when it answered, reaching
    /// OANDA after the client looked for it. Nothing OANDA documents rules this out, since it
    /// documents no 429 for its order endpoints.
    TooManyThenLate(Late),
    /// Refuse a position close with `status` (400 or 404, the close's documented refusals,
    /// <https://developer.oanda.com/rest-live-v20/position-ep/>), carrying nothing out: the
    /// body's `errorCode` is `code` (left out when empty: it "may not be returned for some
    /// errors"), and each side the request names as `ALL` gets a reject transaction with
    /// `side_reason` when one is given. With `flatten`, something other than the client (a
    /// stop-loss, the trader's own close) first closes the named side, as between the
    /// client's read of the position and its close.
    CloseRefused {
        status: u16,
        code: &'static str,
        side_reason: Option<&'static str>,
        flatten: bool,
    },
    /// Answer a position close 404 with an HTML page, not OANDA's JSON: a proxy or gateway
    /// in front of OANDA that does not know the path. Nothing is carried out.
    CloseNotFoundPage,
    /// Answer the next read of one instrument's position 404 with an HTML page, not OANDA's
    /// JSON, as [`Fault::CloseNotFoundPage`] does a close (the position read takes it from
    /// the front of the script; orders never do).
    PositionNotFoundPage,
    /// The same with a gateway's JSON (`{"message": "Not Found"}`), not OANDA's
    /// `{errorMessage}`.
    PositionNotFoundJson,
    /// Before a position close is handled, the instrument's position becomes `(long,
    /// short)` units (`short` ≤ 0), its trades replaced as [`FakeOanda::set_position`] does:
    /// the trader's own trade in OANDA's app, or their own pending order filling, between the
    /// client's read of the position and its close. A close then naming a side that no longer
    /// exists is refused as OANDA refuses it (400, `CLOSEOUT_POSITION_DOESNT_EXIST` with the
    /// side's reject transaction), not counted a violation: the client could not know.
    MovedBeforeClose { long: i64, short: i64 },
    /// Before an order request is handled, the instrument's position becomes `(long, short)`
    /// units, as [`Fault::MovedBeforeClose`] does: the trader's own trade between the client's
    /// read and its order. An order sent `REDUCE_FIRST` then reduces what is held of the other
    /// side first, as OANDA documents the option, and its fill lists the trades it closed.
    /// `answer_lost`: the order is carried out and answered 503, as [`Fault::ErrorAfterCreate`].
    MovedBeforeOpen {
        long: i64,
        short: i64,
        answer_lost: bool,
    },
    /// Behave normally for this request: lets a test aim a later fault at a later leg.
    Pass,
}

/// When an order held back by [`Fault::TooManyThenLate`] is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Late {
    /// Just before the account's next order request (a create or a close) is handled.
    BeforeNextOrder,
    /// Just after the account's next order request is handled.
    AfterNextOrder,
}

/// An order request held back by [`Fault::TooManyThenLate`].
#[derive(Debug, Clone)]
enum Held {
    /// A market order: the request's `order`.
    Order(Value),
    /// A position close: the instrument and the request body.
    Close { instrument: String, doc: Value },
}

/// An open trade: what a fill opened and has not yet been closed (FIFO), with the
/// `tradeClientExtensions.id` of the order that opened it, if any.
#[derive(Debug, Clone)]
struct OpenTrade {
    instrument: String,
    client_id: Option<String>,
    /// Signed: positive long, negative short.
    units: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub body: Value,
    /// When the request arrived.
    pub at: std::time::Instant,
}

#[derive(Debug, Clone)]
struct OrderRec {
    id: String,
    client_id: String,
    instrument: String,
    units: Decimal,
    create_time: String,
    state: &'static str,
    filling: Option<String>,
    cancelling: Option<String>,
}

/// What the `instruments` endpoint says of one instrument, and what an order must respect.
#[derive(Debug, Clone)]
struct Rule {
    kind: &'static str,
    precision: u32,
    minimum: Decimal,
    maximum_order_units: Decimal,
    /// `maximumPositionSize`; zero (the default) means no maximum. An order that would take
    /// a side of the position over it is cancelled `POSITION_SIZE_EXCEEDED` (an
    /// `OrderCancelReason` of the v20 specification: "The Order would result in the
    /// Position exceeding its maximum size"), as a margin shortfall is.
    maximum_position_size: Decimal,
    pip_location: i32,
    display_precision: u32,
}

/// The time the fake stamps its transactions with: the machine's unless a test gives its own
/// clock ([`FakeOanda::use_clock`]).
#[derive(Clone)]
struct Stamp(Arc<dyn shared::clock::Clock>);

impl Default for Stamp {
    fn default() -> Self {
        Self(Arc::new(shared::clock::SystemClock))
    }
}

impl std::fmt::Debug for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stamp")
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// This server's base URL: the `pages` of a transactions query point back at it.
    base_url: String,
    /// What a transaction's `time` says.
    clock: Stamp,
    account: String,
    positions: HashMap<String, (Decimal, Decimal)>,
    /// The open trades behind `positions`, oldest first: what a `tradeClientExtensions.id`
    /// is checked against (`CLIENT_TRADE_ID_ALREADY_EXISTS`).
    trades: Vec<OpenTrade>,
    /// An order request [`Fault::TooManyThenLate`] held back, and when it lands.
    held: Option<(Held, Late)>,
    hedging: bool,
    next_tx: u64,
    orders: Vec<OrderRec>,
    transactions: BTreeMap<u64, Value>,
    instruments: HashMap<String, Rule>,
    strict: bool,
    requests: Vec<Recorded>,
    violations: Vec<String>,
    faults: VecDeque<Fault>,
    price: Decimal,
    /// Home-currency commission per fill and the quote → home conversion factor every fill
    /// reports (`commission`, `gain/lossQuoteHomeConversionFactor`).
    commission: Decimal,
    quote_home_factor: Decimal,
    created_orders: usize,
    created_per_client_id: HashMap<String, usize>,
    /// `transactions/sinceid` lists at most this many ([`FakeOanda::cap_since`]).
    since_cap: Option<usize>,
    /// A `transactions/idrange` page lists at most this many ([`FakeOanda::cap_pages`]).
    page_cap: Option<usize>,
    /// The account's balance in its home currency (USD) once a test set one
    /// ([`FakeOanda::set_balance`]): margin is then enforced. `None`: a balance of 100,000
    /// USD that orders are never short of. Either way each position reports its
    /// `marginUsed` (a field of the Swagger's `Position`, which OANDA fills in) and the
    /// summary's `marginAvailable` is the balance less what the positions use.
    balance: Option<Decimal>,
    /// Each position's unrealized profit or loss in the home currency, as a test set it
    /// ([`FakeOanda::set_unrealized_pl`]); none: zero.
    unrealized: HashMap<String, Decimal>,
}

#[derive(Clone)]
pub struct FakeOanda {
    pub url: String,
    pub token: String,
    pub account: String,
    inner: Arc<Mutex<Inner>>,
    outage: crate::ReadOutage,
}

type Shared = (Arc<Mutex<Inner>>, String, String);

impl FakeOanda {
    pub async fn start() -> Self {
        let token = "fake-oanda-token-5f1e9c".to_owned();
        let account = "101-004-1234567-001".to_owned();
        let inner = Arc::new(Mutex::new(Inner {
            account: account.clone(),
            next_tx: 6000,
            price: Decimal::from_str("1.08345").unwrap(),
            quote_home_factor: Decimal::ONE,
            strict: true,
            ..Default::default()
        }));
        let shared: Shared = (inner.clone(), token.clone(), account.clone());
        let app = Router::new()
            .route("/v3/accounts/{account}/summary", get(summary))
            .route("/v3/accounts/{account}/instruments", get(instruments))
            .route(
                "/v3/accounts/{account}/positions/{instrument}",
                get(position),
            )
            .route(
                "/v3/accounts/{account}/positions/{instrument}/close",
                put(close),
            )
            .route("/v3/accounts/{account}/orders", post(create_order))
            .route("/v3/accounts/{account}/orders/{spec}", get(order))
            .route(
                "/v3/accounts/{account}/transactions/sinceid",
                get(transactions_since),
            )
            .route(
                "/v3/accounts/{account}/transactions",
                get(transactions_pages),
            )
            .route(
                "/v3/accounts/{account}/transactions/idrange",
                get(transactions_idrange),
            )
            .route("/v3/accounts/{account}/transactions/{id}", get(transaction))
            .fallback(fallback)
            .with_state(shared);
        let outage = crate::ReadOutage::new(json!({"errorMessage": "Service Unavailable"}));
        let app = app.layer(axum::middleware::from_fn_with_state(
            outage.clone(),
            crate::ReadOutage::layer,
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        inner.lock().unwrap().base_url = url.clone();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url,
            token,
            account,
            inner,
            outage,
        }
    }

    /// `transactions/sinceid` lists at most `n` transactions, its `lastTransactionID` still
    /// the account's last: a list cut short, which the spec rules out ("all Transactions
    /// newer than the TransactionID") but a public client reported (a page of 1,000). A
    /// client must not take what the list leaves out for nothing.
    pub fn cap_since(&self, n: usize) {
        self.lock().since_cap = Some(n);
    }

    /// A `transactions/idrange` page lists at most `n` (at least 1) transactions of its range, while the
    /// paged query's `count` still counts them all: a page cut short, which a client must not
    /// take for the whole list.
    pub fn cap_pages(&self, n: usize) {
        self.lock().page_cap = Some(n);
    }

    /// The next `n` GET requests whose path contains `part` (`/transactions`) answer 503.
    pub fn fail_reads(&self, part: &str, n: usize) {
        self.outage.fail(part, n);
    }

    /// The next `n` GET requests whose path contains `part` answer `status` (a 404, which the
    /// specification lists for the transaction endpoints).
    pub fn fail_reads_with(&self, part: &str, n: usize, status: axum::http::StatusCode) {
        self.outage.fail_with(part, n, status);
    }

    /// As [`fail_reads`](Self::fail_reads) (503), after letting the next `skip` matching
    /// reads through: a lookup that fails after an earlier one read.
    pub fn fail_reads_after(&self, part: &str, skip: usize, n: usize) {
        self.outage
            .fail_after(part, skip, n, axum::http::StatusCode::SERVICE_UNAVAILABLE);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// Sets a position, held as one trade per side with no client id.
    pub fn set_position(&self, instrument: &str, long: i64, short: i64) {
        set_holdings(&mut self.lock(), instrument, long, short);
    }

    /// Carries out now the order [`Fault::TooManyThenLate`] still holds, if any: a late
    /// order landing after the client's last request.
    pub fn land_held(&self) {
        land(&mut self.lock());
    }

    /// The `tradeClientExtensions.id` of each open trade of `instrument` that has one,
    /// oldest first, with its signed units.
    pub fn open_trade_client_ids(&self, instrument: &str) -> Vec<(String, Decimal)> {
        self.lock()
            .trades
            .iter()
            .filter(|t| t.instrument == instrument)
            .filter_map(|t| t.client_id.clone().map(|id| (id, t.units)))
            .collect()
    }

    /// What every later `ORDER_FILL` reports: `commission` (in the account's home currency,
    /// always positive) and the quote → home conversion factor of gains and losses (home =
    /// quote × factor). By default 0 commission and factor 1.
    pub fn set_commission(&self, commission: &str, quote_home_factor: &str) {
        let mut inner = self.lock();
        inner.commission = Decimal::from_str(commission).unwrap();
        inner.quote_home_factor = Decimal::from_str(quote_home_factor).unwrap();
    }

    /// Counts margin from here on: `balance` USD, each position using its units × the fill
    /// price × the instrument's `marginRate` (0.0333) × the quote → home factor
    /// ([`Self::set_commission`]); the summary's `marginAvailable` is the NAV (the balance plus
    /// the unrealized P/L, [`Self::set_unrealized_pl`]) less what the positions use, each
    /// position reports its `marginUsed`, and an order after which the positions would use
    /// more than the NAV is cancelled `INSUFFICIENT_MARGIN` (a 201 with
    /// `orderCancelTransaction`, one of the two ways the documents allow; nothing changes).
    /// The Swagger documents the fields (`AccountSummary.marginAvailable`,
    /// `Position.marginUsed`, `Instrument.marginRate`) and the reason; OANDA's help centre the
    /// NAV and availability formula. The margin per unit is the fake's own, linear in units as
    /// the executor's check assumes.
    pub fn set_balance(&self, balance: Decimal) {
        self.inner.lock().unwrap().balance = Some(balance);
    }

    /// The unrealized profit (or, negative, loss) of `instrument`'s position, in the home
    /// currency: the position reports it (`unrealizedPL`), the summary adds it to the NAV, and
    /// margin follows OANDA's documented v20 formula, `NAV = balance + unrealized P/L` and
    /// `marginAvailable = NAV - marginUsed` (help.oanda.com, "v20 Margin-related
    /// calculations", <https://help.oanda.com/us/en/faqs/margin-calculations.htm>): an order
    /// after which the positions would use more than the NAV is cancelled
    /// `INSUFFICIENT_MARGIN`. A fill that reduces the position realizes its share into the
    /// balance (the NAV unchanged: the fake has no spread).
    pub fn set_unrealized_pl(&self, instrument: &str, unrealized: &str) {
        self.lock().unrealized.insert(
            instrument.to_owned(),
            Decimal::from_str(unrealized).unwrap(),
        );
    }

    pub fn set_hedging(&self, hedging: bool) {
        self.lock().hedging = hedging;
    }

    /// The trading rules of one instrument, as `GET instruments` reports them and order
    /// creation enforces them: `tradeUnitsPrecision` (decimal places of units),
    /// `minimumTradeSize` and `maximumOrderUnits`. Without this, any `XXX_YYY` currency pair
    /// has precision 0, minimum 1 and maximum 100000000; `XAU_USD` precision 0, minimum 1;
    /// `SPX500_USD` precision 1, minimum 0.1; any other instrument is unknown
    /// (`INSTRUMENT_UNKNOWN`).
    pub fn set_instrument(&self, name: &str, precision: u32, min: Decimal, max_units: Decimal) {
        let mut rule = default_rule(name).unwrap_or(Rule {
            kind: kind_of(name),
            precision,
            minimum: min,
            maximum_order_units: max_units,
            maximum_position_size: Decimal::ZERO,
            pip_location: 0,
            display_precision: 1,
        });
        rule.precision = precision;
        rule.minimum = min;
        rule.maximum_order_units = max_units;
        self.lock().instruments.insert(name.to_owned(), rule);
    }

    /// The `maximumPositionSize` `GET instruments` reports for `name` (a known instrument;
    /// `0`, the default, means no maximum).
    pub fn set_max_position(&self, name: &str, max: Decimal) {
        let mut inner = self.lock();
        let mut rule = rule(&inner, name).expect("a known instrument");
        rule.maximum_position_size = max;
        inner.instruments.insert(name.to_owned(), rule);
    }

    /// On (the default): `GET orders/@clientID` finds only PENDING orders (404
    /// `ORDER_DOESNT_EXIST` for a filled or cancelled one), since OANDA documents client-id
    /// lookups and `CLIENT_ORDER_ID_ALREADY_EXISTS` only for pending orders. Off: it finds
    /// any order by its client id.
    pub fn strict_lookups(&self, strict: bool) {
        self.lock().strict = strict;
    }

    pub fn position(&self, instrument: &str) -> (Decimal, Decimal) {
        self.lock()
            .positions
            .get(instrument)
            .copied()
            .unwrap_or_default()
    }

    pub fn script(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Order-creating requests received (market orders and closes), whatever came of them.
    pub fn order_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }

    /// Orders OANDA actually created (filled or cancelled); rejects are not orders.
    pub fn created_orders(&self) -> usize {
        self.lock().created_orders
    }

    /// Transactions are stamped by `clock` from now on, not by the machine's: for a test
    /// whose own clock is elsewhere (the simulation's runs days ahead), so that a query by
    /// time (`transactions?from=`) sees what the executor, reading that clock, expects.
    pub fn use_clock(&self, clock: Arc<dyn shared::clock::Clock>) {
        self.lock().clock = Stamp(clock);
    }

    /// How many orders OANDA created under each client id: more than one would be a
    /// duplicate order for one leg of one signal.
    pub fn created_per_client_id(&self) -> HashMap<String, usize> {
        self.lock().created_per_client_id.clone()
    }

    /// Every transaction so far, oldest first (what `sinceid` from the start would list).
    pub fn transactions(&self) -> Vec<Value> {
        self.lock().transactions.values().cloned().collect()
    }

    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }
}

const METALS: [&str; 4] = ["XAU", "XAG", "XPT", "XPD"];

fn is_pair(name: &str) -> bool {
    let mut parts = name.split('_');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| p.len() == 3 && p.bytes().all(|b| b.is_ascii_uppercase()))
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// The eight major currencies in the market's quoting order (a pair of two of them is quoted
/// with the earlier one as base: EUR_USD, USD_JPY), which OANDA's instrument names follow.
const MAJORS: [&str; 8] = ["EUR", "GBP", "AUD", "NZD", "USD", "CAD", "CHF", "JPY"];

/// A pair OANDA would not offer because it is two majors the wrong way round (`USD_EUR`): the
/// account's instruments are those OANDA lists for it, and an order on another is refused
/// (`INSTRUMENT_UNKNOWN`); the fake offered any `AAA_BBB`.
fn inverted_majors(name: &str) -> bool {
    let rank = |c: &str| MAJORS.iter().position(|m| *m == c);
    match name.split_once('_') {
        Some((base, quote)) => matches!((rank(base), rank(quote)), (Some(b), Some(q)) if b > q),
        None => false,
    }
}

/// The Swagger's `InstrumentType`: CURRENCY, CFD or METAL.
fn kind_of(name: &str) -> &'static str {
    if METALS.iter().any(|m| name.starts_with(m)) {
        "METAL"
    } else if is_pair(name) {
        "CURRENCY"
    } else {
        "CFD"
    }
}

fn default_rule(name: &str) -> Option<Rule> {
    let max = Decimal::from(100_000_000);
    match name {
        "XAU_USD" => Some(Rule {
            kind: "METAL",
            precision: 0,
            minimum: Decimal::ONE,
            maximum_order_units: max,
            maximum_position_size: Decimal::ZERO,
            pip_location: -2,
            display_precision: 3,
        }),
        "SPX500_USD" => Some(Rule {
            kind: "CFD",
            precision: 1,
            minimum: Decimal::new(1, 1),
            maximum_order_units: max,
            maximum_position_size: Decimal::ZERO,
            pip_location: 0,
            display_precision: 1,
        }),
        _ if is_pair(name) && kind_of(name) == "CURRENCY" && !inverted_majors(name) => {
            let jpy = name.ends_with("_JPY");
            Some(Rule {
                kind: "CURRENCY",
                precision: 0,
                minimum: Decimal::ONE,
                maximum_order_units: max,
                maximum_position_size: Decimal::ZERO,
                pip_location: if jpy { -2 } else { -4 },
                display_precision: if jpy { 3 } else { 5 },
            })
        }
        _ => None,
    }
}

fn rule(inner: &Inner, name: &str) -> Option<Rule> {
    inner
        .instruments
        .get(name)
        .cloned()
        .or_else(|| default_rule(name))
}

/// The Swagger's `Instrument` definition.
fn instrument_json(name: &str, r: &Rule) -> Value {
    json!({"name": name, "type": r.kind, "displayName": name.replace('_', "/"),
           "pipLocation": r.pip_location, "displayPrecision": r.display_precision,
           "tradeUnitsPrecision": r.precision, "minimumTradeSize": r.minimum.to_string(),
           "maximumTrailingStopDistance": "1.00000", "minimumTrailingStopDistance": "0.00050",
           "maximumPositionSize": r.maximum_position_size.to_string(),
           "maximumOrderUnits": r.maximum_order_units.to_string(),
           "marginRate": MARGIN_RATE})
}

/// The margin rate every instrument reports (`instrument_json`).
const MARGIN_RATE: &str = "0.0333";

/// What a position of `long` and `short` units uses in margin, in the home currency (see
/// [`FakeOanda::set_balance`]).
fn margin_of(inner: &Inner, long: Decimal, short: Decimal) -> Decimal {
    let rate = Decimal::from_str(MARGIN_RATE).unwrap();
    (long + short.abs()) * inner.price * rate * inner.quote_home_factor
}

/// What every position uses in margin, in the home currency.
fn margin_used(inner: &Inner) -> Decimal {
    inner
        .positions
        .values()
        .map(|(l, s)| margin_of(inner, *l, *s))
        .sum()
}

fn tx_id(inner: &mut Inner) -> String {
    inner.next_tx += 1;
    inner.next_tx.to_string()
}

/// The Swagger's `Transaction` base fields (id, time, accountID, batchID) on top of `body`,
/// stored for `transactions/{id}` and `sinceid`.
fn store_tx(inner: &mut Inner, id: &str, batch: &str, mut body: Value) -> Value {
    body["id"] = json!(id);
    body["time"] = json!(
        inner
            .clock
            .0
            .now()
            .to_rfc3339_opts(SecondsFormat::Nanos, true)
    );
    body["accountID"] = json!(inner.account);
    body["batchID"] = json!(batch);
    inner.transactions.insert(id.parse().unwrap(), body.clone());
    body
}

fn record(inner: &mut Inner, method: &Method, path: String, body: &Bytes) {
    let body = serde_json::from_slice(body).unwrap_or(Value::Null);
    inner.requests.push(Recorded {
        method: method.to_string(),
        path,
        body,
        at: std::time::Instant::now(),
    });
}

/// The checks every request gets: bearer token, account id, JSON content type on bodies.
fn check(
    inner: &mut Inner,
    shared: &Shared,
    headers: &HeaderMap,
    account: &str,
    has_body: bool,
) -> Option<Response> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {}", shared.1) {
        inner
            .violations
            .push(format!("bad Authorization header: {auth:?}"));
        return Some(
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(
                    json!({"errorMessage": "Insufficient authorization to perform request."}),
                ),
            )
                .into_response(),
        );
    }
    if account != shared.2 {
        inner.violations.push(format!("unknown account {account}"));
        return Some(
            (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"errorMessage": "The Account specified does not exist"})),
            )
                .into_response(),
        );
    }
    if has_body {
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct.starts_with("application/json") {
            inner
                .violations
                .push(format!("body sent with Content-Type {ct:?}"));
            return Some(
                (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"errorMessage": "Invalid Content-Type"})),
                )
                    .into_response(),
            );
        }
    }
    None
}

fn violation(inner: &mut Inner, what: String) -> Response {
    inner.violations.push(what.clone());
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"errorCode": "INVALID_REQUEST", "errorMessage": what})),
    )
        .into_response()
}

fn too_many() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(json!({"errorMessage": "Requests are being rate limited"})),
    )
        .into_response()
}

async fn summary(
    State(s): State<Shared>,
    Path(account): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut inner = s.0.lock().unwrap();
    record(
        &mut inner,
        &Method::GET,
        format!("/v3/accounts/{account}/summary"),
        &Bytes::new(),
    );
    if let Some(r) = check(&mut inner, &s, &headers, &account, false) {
        return r;
    }
    let last = inner.next_tx.to_string();
    let b = inner.balance.unwrap_or(Decimal::from(100_000));
    let used = margin_used(&inner);
    let unrealized: Decimal = inner.unrealized.values().sum();
    let nav = b + unrealized;
    let (balance, available, used) = (b, (nav - used).round_dp(4), used.round_dp(4));
    axum::Json(json!({
        "account": {"id": account, "currency": "USD", "balance": balance.to_string(), "NAV": nav.to_string(),
                    "unrealizedPL": unrealized.to_string(),
                    "marginRate": "0.02", "marginUsed": used.to_string(),
                    "marginAvailable": available.to_string(), "hedgingEnabled": inner.hedging, "lastTransactionID": last},
        "lastTransactionID": last,
    }))
    .into_response()
}

/// `GET /v3/accounts/{id}/instruments?instruments=A,B`: `{instruments: [Instrument],
/// lastTransactionID}`. Without the parameter, the instruments the fake knows by name.
/// Unknown names are left out of the list.
async fn instruments(
    State(s): State<Shared>,
    Path(account): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut inner = s.0.lock().unwrap();
    let query = q
        .get("instruments")
        .map(|v| format!("?instruments={v}"))
        .unwrap_or_default();
    record(
        &mut inner,
        &Method::GET,
        format!("/v3/accounts/{account}/instruments{query}"),
        &Bytes::new(),
    );
    if let Some(r) = check(&mut inner, &s, &headers, &account, false) {
        return r;
    }
    let names: Vec<String> = match q.get("instruments") {
        Some(v) => v.split(',').map(str::to_owned).collect(),
        None => {
            let mut all: Vec<String> = ["EUR_USD", "USD_JPY", "GBP_USD", "XAU_USD", "SPX500_USD"]
                .into_iter()
                .map(str::to_owned)
                .chain(inner.instruments.keys().cloned())
                .collect();
            all.sort();
            all.dedup();
            all
        }
    };
    let list: Vec<Value> = names
        .iter()
        .filter_map(|n| rule(&inner, n).map(|r| instrument_json(n, &r)))
        .collect();
    axum::Json(json!({"instruments": list, "lastTransactionID": inner.next_tx.to_string()}))
        .into_response()
}

/// A 404 page of something in front of OANDA (a proxy or gateway that does not know the
/// path): HTML, not OANDA's JSON.
fn not_found_page() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(axum::http::header::CONTENT_TYPE, "text/html")],
        "<html><body>404 Not Found</body></html>",
    )
        .into_response()
}

async fn position(
    State(s): State<Shared>,
    Path((account, instrument)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut inner = s.0.lock().unwrap();
    record(
        &mut inner,
        &Method::GET,
        format!("/v3/accounts/{account}/positions/{instrument}"),
        &Bytes::new(),
    );
    if let Some(r) = check(&mut inner, &s, &headers, &account, false) {
        return r;
    }
    match inner.faults.front() {
        Some(Fault::PositionNotFoundPage) => {
            inner.faults.pop_front();
            return not_found_page();
        }
        Some(Fault::PositionNotFoundJson) => {
            inner.faults.pop_front();
            return (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"message": "Not Found"})),
            )
                .into_response();
        }
        _ => {}
    }
    let (long, short) = inner
        .positions
        .get(&instrument)
        .copied()
        .unwrap_or_default();
    let unrealized = inner
        .unrealized
        .get(&instrument)
        .copied()
        .unwrap_or_default();
    let mut position = json!({"instrument": instrument, "pl": "0.0", "unrealizedPL": unrealized.to_string(),
                     "long": {"units": long.to_string(), "pl": "0.0"},
                     "short": {"units": short.to_string(), "pl": "0.0"}});
    position["marginUsed"] = json!(margin_of(&inner, long, short).round_dp(4).to_string());
    axum::Json(json!({
        "position": position,
        "lastTransactionID": inner.next_tx.to_string(),
    }))
    .into_response()
}

/// Applies a fill of `units` with REDUCE_FIRST (or OPEN_ONLY) and checks the netting rule.
/// Applies a fill to the position; returns the part of `units` that opened (the rest reduced
/// the other side).
fn fill(inner: &mut Inner, instrument: &str, units: Decimal, reduce_first: bool) -> Decimal {
    let (mut long, mut short) = inner.positions.get(instrument).copied().unwrap_or_default();
    let mut rest = units;
    if reduce_first {
        if rest > Decimal::ZERO && short < Decimal::ZERO {
            let r = rest.min(-short);
            short += r;
            rest -= r;
        } else if rest < Decimal::ZERO && long > Decimal::ZERO {
            let r = (-rest).min(long);
            long -= r;
            rest += r;
        }
    }
    if rest > Decimal::ZERO {
        long += rest;
    } else {
        short += rest;
    }
    if long > Decimal::ZERO && short < Decimal::ZERO {
        inner.violations.push(format!(
            "{instrument}: both directions held (long {long}, short {short})"
        ));
    }
    inner.positions.insert(instrument.to_owned(), (long, short));
    rest
}

/// The trades behind a fill: the reduced part closes the other side's trades oldest first
/// (FIFO), the opened part is a new trade under `trade_client_id`.
fn book_trades(
    inner: &mut Inner,
    instrument: &str,
    units: Decimal,
    opened: Decimal,
    trade_client_id: Option<&str>,
) {
    let mut reduce = (units - opened).abs();
    for t in inner.trades.iter_mut() {
        if reduce.is_zero() {
            break;
        }
        if t.instrument == instrument && t.units.is_sign_negative() != units.is_sign_negative() {
            let r = reduce.min(t.units.abs());
            t.units -= if t.units.is_sign_negative() { -r } else { r };
            reduce -= r;
        }
    }
    inner.trades.retain(|t| !t.units.is_zero());
    if !opened.is_zero() {
        inner.trades.push(OpenTrade {
            instrument: instrument.to_owned(),
            client_id: trade_client_id.map(str::to_owned),
            units: opened,
        });
    }
}

/// Creates (and fills or cancels) one order; returns the transactions.
/// What created a market order (the transaction's `reason`).
#[derive(Clone, Copy)]
enum Origin<'a> {
    /// `CLIENT_ORDER`, with the order's `tradeClientExtensions.id` if it names one.
    ClientOrder { trade_client_id: Option<&'a str> },
    /// `POSITION_CLOSEOUT`: a position close.
    PositionCloseout,
}

fn execute(
    inner: &mut Inner,
    instrument: &str,
    units: Decimal,
    client_id: &str,
    reduce_first: bool,
    cancel: Option<&str>,
    origin: Origin<'_>,
) -> (Value, Value) {
    let (reason, trade_client_id) = match origin {
        Origin::ClientOrder { trade_client_id } => ("CLIENT_ORDER", trade_client_id),
        Origin::PositionCloseout => ("POSITION_CLOSEOUT", None),
    };
    let create_id = tx_id(inner);
    let mut create = json!({"type": "MARKET_ORDER", "instrument": instrument, "units": units.to_string(),
                            "timeInForce": "FOK", "reason": reason, "clientExtensions": {"id": client_id}});
    if reason == "CLIENT_ORDER" {
        create["positionFill"] = json!(if reduce_first {
            "REDUCE_FIRST"
        } else {
            "OPEN_ONLY"
        });
    }
    if let Some(id) = trade_client_id {
        create["tradeClientExtensions"] = json!({"id": id});
    }
    let create = store_tx(inner, &create_id, &create_id, create);
    inner.created_orders += 1;
    *inner
        .created_per_client_id
        .entry(client_id.to_owned())
        .or_default() += 1;
    let second_id = tx_id(inner);
    // "The client Trade ID specified is already assigned to another open Trade"
    // (`CLIENT_TRADE_ID_ALREADY_EXISTS`, in both `OrderCancelReason` and
    // `TransactionRejectReason`): the fake cancels the order, checked whether or not it
    // would open a trade, as OANDA does not say.
    let taken = trade_client_id.is_some_and(|id| {
        inner
            .trades
            .iter()
            .any(|t| t.client_id.as_deref() == Some(id))
    });
    let cancel = cancel
        .or(taken.then_some("CLIENT_TRADE_ID_ALREADY_EXISTS"))
        .or_else(|| short_of_margin(inner, instrument, units, reduce_first))
        .or_else(|| over_max_position(inner, instrument, units, reduce_first));
    let second = if let Some(why) = cancel {
        json!({"type": "ORDER_CANCEL", "orderID": create_id, "clientOrderID": client_id, "reason": why})
    } else {
        let held = |inner: &Inner| {
            let (l, s) = inner.positions.get(instrument).copied().unwrap_or_default();
            l + s.abs()
        };
        let held_before = held(inner);
        let opened = fill(inner, instrument, units, reduce_first);
        realize(inner, instrument, held_before, held(inner) - opened.abs());
        book_trades(inner, instrument, units, opened, trade_client_id);
        // The Swagger's OrderFillReason: MARKET_ORDER for a client's market order,
        // MARKET_ORDER_POSITION_CLOSEOUT for one created by a position close.
        let fill_reason = if reason == "POSITION_CLOSEOUT" {
            "MARKET_ORDER_POSITION_CLOSEOUT"
        } else {
            "MARKET_ORDER"
        };
        // OrderFillTransaction's cost fields (v20 Swagger): `commission` and
        // `guaranteedExecutionFee` in the home currency, `financing`, and the conversion
        // factors of the quote currency into the home currency.
        let factor = inner.quote_home_factor.to_string();
        let mut fill = json!({"type": "ORDER_FILL", "orderID": create_id, "clientOrderID": client_id,
               "instrument": instrument, "units": units.to_string(), "price": inner.price.to_string(), "fullVWAP": inner.price.to_string(),
               "reason": fill_reason, "commission": inner.commission.to_string(),
               "guaranteedExecutionFee": "0.0000", "financing": "0.0000",
               "gainQuoteHomeConversionFactor": factor, "lossQuoteHomeConversionFactor": factor});
        // What the fill did to the account's trades (`tradeOpened`, a `TradeOpen`;
        // `tradesClosed`, `TradeReduce`s: the Swagger's `OrderFillTransaction`), from the
        // position: the part that reduced the other side closes it (the fake does not keep
        // a trade id per hand-set position: ids are the fill's own).
        let reduced = units - opened;
        if !reduced.is_zero() {
            fill["tradesClosed"] =
                json!([{"tradeID": format!("{second_id}-closed"), "units": reduced.to_string()}]);
        }
        if !opened.is_zero() {
            fill["tradeOpened"] =
                json!({"tradeID": second_id.clone(), "units": opened.to_string()});
        }
        fill
    };
    let second = store_tx(inner, &second_id, &create_id, second);
    let create_time = create["time"].as_str().unwrap_or("").to_owned();
    inner.orders.push(OrderRec {
        id: create_id,
        client_id: client_id.to_owned(),
        instrument: instrument.to_owned(),
        units,
        create_time,
        state: if cancel.is_some() {
            "CANCELLED"
        } else {
            "FILLED"
        },
        filling: cancel.is_none().then(|| second_id.clone()),
        cancelling: cancel.is_some().then_some(second_id),
    });
    (create, second)
}

/// Moves the share of `instrument`'s unrealized P/L that a fill closed (`held_before` units
/// held, `kept` of them still held after it) into the balance: the NAV is unchanged.
fn realize(inner: &mut Inner, instrument: &str, held_before: Decimal, kept: Decimal) {
    let Some(unrealized) = inner.unrealized.get(instrument).copied() else {
        return;
    };
    if held_before <= Decimal::ZERO || kept >= held_before {
        return;
    }
    let realized = unrealized * (held_before - kept.max(Decimal::ZERO)) / held_before;
    inner
        .unrealized
        .insert(instrument.to_owned(), unrealized - realized);
    if let Some(balance) = inner.balance.as_mut() {
        *balance += realized;
    }
}

/// `INSUFFICIENT_MARGIN` when the positions would use more margin than the NAV (the balance
/// plus the unrealized P/L, [`FakeOanda::set_unrealized_pl`]) after this fill (margin
/// counted: [`FakeOanda::set_balance`]). A fill that only reduces never is.
fn short_of_margin(
    inner: &mut Inner,
    instrument: &str,
    units: Decimal,
    reduce_first: bool,
) -> Option<&'static str> {
    let nav = inner.balance? + inner.unrealized.values().sum::<Decimal>();
    let before = inner.positions.get(instrument).copied();
    let used_before = margin_used(inner);
    let violations = inner.violations.len();
    fill(inner, instrument, units, reduce_first);
    inner.violations.truncate(violations);
    let used_after = margin_used(inner);
    match before {
        Some(p) => inner.positions.insert(instrument.to_owned(), p),
        None => inner.positions.remove(instrument),
    };
    (used_after > used_before && used_after > nav).then_some("INSUFFICIENT_MARGIN")
}

/// `POSITION_SIZE_EXCEEDED` when the order would take a side of the instrument's position
/// over its `maximumPositionSize` (zero: none), measured on a trial fill undone after.
fn over_max_position(
    inner: &mut Inner,
    instrument: &str,
    units: Decimal,
    reduce_first: bool,
) -> Option<&'static str> {
    let max = rule(inner, instrument)
        .map(|r| r.maximum_position_size)
        .filter(|m| *m > Decimal::ZERO)?;
    let before = inner.positions.get(instrument).copied();
    let violations = inner.violations.len();
    fill(inner, instrument, units, reduce_first);
    inner.violations.truncate(violations);
    let (long, short) = inner.positions.get(instrument).copied().unwrap_or_default();
    match before {
        Some(p) => inner.positions.insert(instrument.to_owned(), p),
        None => inner.positions.remove(instrument),
    };
    (long.abs() > max || short.abs() > max).then_some("POSITION_SIZE_EXCEEDED")
}

/// What to do about the next order request; `None` = behave normally.
fn next_fault(inner: &mut Inner) -> Option<Fault> {
    inner.faults.pop_front()
}

async fn respond(fault: Option<Fault>, status: StatusCode, body: Value) -> Response {
    match fault {
        Some(
            Fault::ErrorAfterCreate
            | Fault::RejectThenError(_)
            | Fault::MovedBeforeOpen {
                answer_lost: true, ..
            },
        ) => (StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").into_response(),
        Some(Fault::TooManyAfterCreate) => too_many(),
        Some(Fault::DelayAfterCreate(d)) => {
            tokio::time::sleep(d).await;
            (status, axum::Json(body)).into_response()
        }
        _ => (status, axum::Json(body)).into_response(),
    }
}

/// A `MARKET_ORDER_REJECT` transaction (kept for `sinceid`) and the documented 400 body:
/// `orderRejectTransaction`, `relatedTransactionIDs`, `lastTransactionID`, `errorCode`,
/// `errorMessage`.
fn reject(inner: &mut Inner, order: &Value, reason: &str, message: &str) -> Value {
    let id = tx_id(inner);
    let mut tx = json!({"type": "MARKET_ORDER_REJECT", "instrument": order["instrument"],
                        "units": order["units"], "timeInForce": order["timeInForce"],
                        "reason": "CLIENT_ORDER", "rejectReason": reason});
    if let Some(pf) = order.get("positionFill") {
        tx["positionFill"] = pf.clone();
    }
    if let Some(ext) = order.get("clientExtensions") {
        tx["clientExtensions"] = ext.clone();
    }
    let tx = store_tx(inner, &id, &id, tx);
    json!({"orderRejectTransaction": tx, "relatedTransactionIDs": [id], "lastTransactionID": id,
           "errorCode": reason, "errorMessage": message})
}

/// The instrument's rules (Swagger `Instrument`; reject reasons from
/// `TransactionRejectReason`, spelled as OANDA spells them).
fn rule_reject(inner: &Inner, instrument: &str, units: Decimal) -> Option<(&'static str, String)> {
    let Some(r) = rule(inner, instrument) else {
        return Some((
            "INSTRUMENT_UNKNOWN",
            format!("The instrument {instrument} is unknown"),
        ));
    };
    let size = units.abs();
    if units.normalize().scale() > r.precision {
        return Some((
            "UNITS_PRECISION_EXCEEDED",
            format!(
                "The units {units} have more than {} decimal places",
                r.precision
            ),
        ));
    }
    if size < r.minimum {
        return Some((
            "UNITS_MIMIMUM_NOT_MET",
            format!(
                "The units {units} are below the minimum trade size {}",
                r.minimum
            ),
        ));
    }
    if size > r.maximum_order_units {
        return Some((
            "UNITS_LIMIT_EXCEEDED",
            format!(
                "The units {units} exceed the maximum order units {}",
                r.maximum_order_units
            ),
        ));
    }
    None
}

/// A market order request as the fake validated it.
struct MarketRequest {
    instrument: String,
    units: Decimal,
    reduce_first: bool,
    client_id: String,
    /// `tradeClientExtensions.id`, when the order names one.
    trade_client_id: Option<String>,
}

/// Checks a `MarketOrderRequest` as OANDA documents it; the error is the violation.
fn parse_market(o: &Value, hedging: bool) -> Result<MarketRequest, String> {
    if o["type"] != "MARKET" {
        return Err(format!("order.type {} is not MARKET", o["type"]));
    }
    let Some(instrument) = o["instrument"].as_str().filter(|i| i.contains('_')) else {
        return Err(format!(
            "order.instrument {} is not BASE_QUOTE",
            o["instrument"]
        ));
    };
    let Some(units) = o["units"]
        .as_str()
        .and_then(|u| Decimal::from_str(u).ok())
        .filter(|u| !u.is_zero())
    else {
        return Err(format!(
            "order.units {} is not a non-zero decimal string",
            o["units"]
        ));
    };
    if !matches!(o["timeInForce"].as_str(), Some("FOK" | "IOC")) {
        return Err(format!(
            "market order timeInForce {} is not FOK or IOC",
            o["timeInForce"]
        ));
    }
    let reduce_first = match o["positionFill"].as_str().unwrap_or("DEFAULT") {
        "REDUCE_FIRST" => true,
        "DEFAULT" => !hedging,
        "OPEN_ONLY" => false,
        other => return Err(format!("positionFill {other:?}")),
    };
    let Some(client_id) = o["clientExtensions"]["id"].as_str().map(str::to_owned) else {
        return Err("clientExtensions.id missing".into());
    };
    Ok(MarketRequest {
        instrument: instrument.to_owned(),
        units,
        reduce_first,
        client_id,
        trade_client_id: o["tradeClientExtensions"]["id"].as_str().map(str::to_owned),
    })
}

/// Carries out a validated market order: the instrument's rules, a scripted reject or
/// cancel, then create and fill (or cancel). The status and body of the answer.
fn place_market(
    inner: &mut Inner,
    o: &Value,
    m: &MarketRequest,
    fault: Option<&Fault>,
) -> (StatusCode, Value) {
    // The instrument's tradeUnitsPrecision, minimumTradeSize and maximumOrderUnits: a
    // reject is a transaction, not an order. A scripted error or delay still applies to
    // the answer.
    if let Some((reason, message)) = rule_reject(inner, &m.instrument, m.units) {
        let body = reject(inner, o, reason, &message);
        return (StatusCode::BAD_REQUEST, body);
    }
    if let Some(Fault::Reject(reason) | Fault::RejectThenError(reason)) = fault {
        let body = reject(inner, o, reason, "The order request was rejected");
        return (StatusCode::BAD_REQUEST, body);
    }
    let cancel = match fault {
        Some(Fault::Cancel(reason)) => Some(*reason),
        _ => None,
    };
    let (create, second) = execute(
        inner,
        &m.instrument,
        m.units,
        &m.client_id,
        m.reduce_first,
        cancel,
        Origin::ClientOrder {
            trade_client_id: m.trade_client_id.as_deref(),
        },
    );
    // Cancelled by the fault, for margin (`short_of_margin`) or for a trade client id
    // already held.
    let key = if second["type"] == "ORDER_CANCEL" {
        "orderCancelTransaction"
    } else {
        "orderFillTransaction"
    };
    let last = inner.next_tx.to_string();
    let ids = [create["id"].clone(), second["id"].clone()];
    let reply = json!({"orderCreateTransaction": create, key: second,
                       "relatedTransactionIDs": ids, "lastTransactionID": last});
    (StatusCode::CREATED, reply)
}

/// Carries out the request [`Fault::TooManyThenLate`] held back, if it lands `now`.
fn land_held(inner: &mut Inner, now: Late) {
    if matches!(&inner.held, Some((_, when)) if *when == now) {
        land(inner);
    }
}

/// Carries out the held request, whenever it was to land.
fn land(inner: &mut Inner) {
    match inner.held.take() {
        Some((Held::Order(o), _)) => {
            let m = parse_market(&o, inner.hedging).unwrap();
            place_market(inner, &o, &m, None);
        }
        Some((Held::Close { instrument, doc }, _)) => {
            let _ = place_close(inner, &instrument, &doc, false);
        }
        None => {}
    }
}

async fn create_order(
    State(s): State<Shared>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (fault, status, reply) = {
        let mut inner = s.0.lock().unwrap();
        record(
            &mut inner,
            &Method::POST,
            format!("/v3/accounts/{account}/orders"),
            &body,
        );
        if let Some(r) = check(&mut inner, &s, &headers, &account, true) {
            return r;
        }
        let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
            return violation(&mut inner, "order body is not JSON".into());
        };
        let o = &doc["order"];
        let m = match parse_market(o, inner.hedging) {
            Ok(m) => m,
            Err(why) => return violation(&mut inner, why),
        };
        land_held(&mut inner, Late::BeforeNextOrder);
        let fault = next_fault(&mut inner);
        match &fault {
            Some(Fault::TooMany) => return too_many(),
            Some(Fault::TooManyThenLate(when)) => {
                inner.held = Some((Held::Order(o.clone()), *when));
                return too_many();
            }
            Some(Fault::ErrorBeforeCreate) => {
                return (StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").into_response();
            }
            Some(Fault::MovedBeforeOpen { long, short, .. }) => {
                let instrument = o["instrument"].as_str().unwrap_or_default().to_owned();
                set_holdings(&mut inner, &instrument, *long, *short);
            }
            _ => {}
        }
        let (status, reply) = place_market(&mut inner, o, &m, fault.as_ref());
        land_held(&mut inner, Late::AfterNextOrder);
        // A reject's fault was spent on the reject; an instrument rule's reject keeps it.
        let fault = if matches!(fault, Some(Fault::Reject(_))) {
            None
        } else {
            fault
        };
        (fault, status, reply)
    };
    respond(fault, status, reply).await
}

/// The instrument's position set to `(long, short)` units, one trade without a client id per
/// side held.
fn set_holdings(inner: &mut Inner, instrument: &str, long: i64, short: i64) {
    inner.positions.insert(
        instrument.into(),
        (Decimal::from(long), Decimal::from(short)),
    );
    inner.trades.retain(|t| t.instrument != instrument);
    for units in [long, short].into_iter().filter(|u| *u != 0) {
        inner.trades.push(OpenTrade {
            instrument: instrument.into(),
            client_id: None,
            units: Decimal::from(units),
        });
    }
}

/// [`Fault::CloseRefused`]'s answer to a close naming `named` (long, short) as `ALL`.
fn close_refused(
    inner: &mut Inner,
    instrument: &str,
    doc: &Value,
    named: (bool, bool),
    (status, code, side_reason, flatten): (u16, &str, Option<&str>, bool),
) -> Response {
    if flatten {
        let (long, short) = inner.positions.get(instrument).copied().unwrap_or_default();
        let (long, short) = (
            if named.0 { Decimal::ZERO } else { long },
            if named.1 { Decimal::ZERO } else { short },
        );
        inner.positions.insert(instrument.into(), (long, short));
        inner.trades.retain(|t| {
            t.instrument != instrument
                || !((named.0 && t.units > Decimal::ZERO) || (named.1 && t.units < Decimal::ZERO))
        });
    }
    let mut body =
        json!({"errorMessage": "The Position requested to be closed out does not exist"});
    if !code.is_empty() {
        body["errorCode"] = json!(code);
    }
    close_rejects(
        inner,
        instrument,
        doc,
        &mut body,
        [
            side_reason.filter(|_| named.0),
            side_reason.filter(|_| named.1),
        ],
    );
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(body)).into_response()
}

/// The reject transactions of a refused close, stored like any other transaction and set on
/// `body` as `longOrderRejectTransaction` / `shortOrderRejectTransaction`, each carrying the
/// request's client extensions for its side: `reasons` is the long side's `rejectReason`,
/// then the short side's (`None`: the side was not named). Then `lastTransactionID`.
fn close_rejects(
    inner: &mut Inner,
    instrument: &str,
    doc: &Value,
    body: &mut Value,
    reasons: [Option<&str>; 2],
) {
    let batch = (inner.next_tx + 1).to_string();
    for ((prefix, ext), reason) in [
        ("long", "longClientExtensions"),
        ("short", "shortClientExtensions"),
    ]
    .into_iter()
    .zip(reasons)
    {
        let Some(reason) = reason else { continue };
        let id = tx_id(inner);
        let reject = store_tx(
            inner,
            &id,
            &batch,
            json!({"type": "MARKET_ORDER_REJECT", "instrument": instrument,
                   "units": "0", "timeInForce": "FOK", "positionFill": "REDUCE_ONLY",
                   "reason": "POSITION_CLOSEOUT", "clientExtensions": doc[ext].clone(),
                   format!("{prefix}PositionCloseout"): {"instrument": instrument, "units": "ALL"},
                   "rejectReason": reason}),
        );
        body[format!("{prefix}OrderRejectTransaction")] = reject;
    }
    body["lastTransactionID"] = json!(inner.next_tx.to_string());
}

/// Carries out a position close (`longUnits`/`shortUnits` checked by the caller): a close of a
/// side that does not exist rejects the whole request; otherwise each named side is closed
/// by a market order. `take_fault`: the next scripted fault applies (not for a held close
/// landing late). `None`: the scripted [`Fault::ErrorBeforeCreate`], nothing done.
fn place_close(
    inner: &mut Inner,
    instrument: &str,
    doc: &Value,
    take_fault: bool,
) -> Option<(Option<Fault>, StatusCode, Value)> {
    let long_all = doc["longUnits"].as_str().is_none_or(|u| u == "ALL");
    let short_all = doc["shortUnits"].as_str().is_none_or(|u| u == "ALL");
    let (long, short) = inner.positions.get(instrument).copied().unwrap_or_default();
    // All or nothing: naming a side that does not exist rejects the whole request.
    if (long_all && long.is_zero()) || (short_all && short.is_zero()) {
        inner.violations.push(format!(
            "close of a side that does not exist on {instrument}"
        ));
        // Each named side gets a reject transaction, stored like any other (the missing
        // side `CLOSEOUT_POSITION_DOESNT_EXIST`, the existing one
        // `CLOSEOUT_POSITION_REJECT`), carrying the request's client extensions.
        let mut body = json!({"errorCode": "CLOSEOUT_POSITION_DOESNT_EXIST",
                                  "errorMessage": "The Position requested to be closed out does not exist"});
        let reason = |held: Decimal| {
            if held.is_zero() {
                "CLOSEOUT_POSITION_DOESNT_EXIST"
            } else {
                "CLOSEOUT_POSITION_REJECT"
            }
        };
        close_rejects(
            inner,
            instrument,
            doc,
            &mut body,
            [
                long_all.then(|| reason(long)),
                short_all.then(|| reason(short)),
            ],
        );
        return Some((None, StatusCode::BAD_REQUEST, body));
    }
    let fault = if take_fault { next_fault(inner) } else { None };
    if matches!(fault, Some(Fault::ErrorBeforeCreate)) {
        return None;
    }
    let cancel = match &fault {
        Some(Fault::Cancel(reason)) => Some(*reason),
        _ => None,
    };
    let mut reply = serde_json::Map::new();
    for (named, prefix, units, ext) in [
        (long_all, "long", -long, "longClientExtensions"),
        (short_all, "short", -short, "shortClientExtensions"),
    ] {
        if !named {
            continue;
        }
        let client_id = doc[ext]["id"].as_str().unwrap_or("").to_owned();
        if client_id.is_empty() {
            inner.violations.push(format!("{ext}.id missing"));
        }
        let (create, second) = execute(
            inner,
            instrument,
            units,
            &client_id,
            true,
            cancel,
            Origin::PositionCloseout,
        );
        let key = if cancel.is_some() {
            "OrderCancelTransaction"
        } else {
            "OrderFillTransaction"
        };
        reply.insert(format!("{prefix}OrderCreateTransaction"), create);
        reply.insert(format!("{prefix}{key}"), second);
    }
    reply.insert("lastTransactionID".into(), json!(inner.next_tx.to_string()));
    Some((fault, StatusCode::OK, Value::Object(reply)))
}

async fn close(
    State(s): State<Shared>,
    Path((account, instrument)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (fault, status, reply) = {
        let mut inner = s.0.lock().unwrap();
        record(
            &mut inner,
            &Method::PUT,
            format!("/v3/accounts/{account}/positions/{instrument}/close"),
            &body,
        );
        if let Some(r) = check(&mut inner, &s, &headers, &account, true) {
            return r;
        }
        let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
            return violation(&mut inner, "close body is not JSON".into());
        };
        // An omitted side's documented default is ALL (`PositionCloseRequest`): a client that
        // leaves one out relies on a reading of the docs that a hedging account would punish.
        for side in ["longUnits", "shortUnits"] {
            if doc.get(side).is_none() {
                inner.violations.push(format!(
                    "close omits {side}, whose documented default is ALL"
                ));
            }
        }
        // The documented values are `ALL`, `NONE` or a decimal string of units
        // (`PositionCloseRequest`); this fake carries out only the first two, and a value of
        // another type is no documented one.
        for side in ["longUnits", "shortUnits"] {
            match doc.get(side) {
                None => {}
                Some(Value::String(u)) if u == "ALL" || u == "NONE" => {}
                Some(other) => inner.violations.push(format!(
                    "close {side} {other}: this fake closes ALL or NONE of a side only"
                )),
            }
        }
        land_held(&mut inner, Late::BeforeNextOrder);
        let long_all = doc["longUnits"].as_str().is_none_or(|u| u == "ALL");
        let short_all = doc["shortUnits"].as_str().is_none_or(|u| u == "ALL");
        if !long_all && !short_all {
            return violation(
                &mut inner,
                "close names neither longUnits nor shortUnits as ALL".into(),
            );
        }
        match inner.faults.front().cloned() {
            Some(Fault::TooMany) => {
                inner.faults.pop_front();
                return too_many();
            }
            Some(Fault::CloseRefused {
                status,
                code,
                side_reason,
                flatten,
            }) => {
                inner.faults.pop_front();
                return close_refused(
                    &mut inner,
                    &instrument,
                    &doc,
                    (long_all, short_all),
                    (status, code, side_reason, flatten),
                );
            }
            // A refusal scripted for the next order request that meets a close: the close's
            // own documented refusal (400, a reject transaction for each side it names),
            // nothing carried out. Answered normally, a scripted reject would be spent on a
            // close that filled, and a test would count a refusal that never happened.
            Some(Fault::Reject(reason)) => {
                inner.faults.pop_front();
                return close_refused(
                    &mut inner,
                    &instrument,
                    &doc,
                    (long_all, short_all),
                    (400, reason, Some(reason), false),
                );
            }
            Some(Fault::CloseNotFoundPage) => {
                inner.faults.pop_front();
                return not_found_page();
            }
            Some(Fault::MovedBeforeClose { long, short }) => {
                inner.faults.pop_front();
                set_holdings(&mut inner, &instrument, long, short);
                if (long_all && long == 0) || (short_all && short == 0) {
                    const FLAT: &str = "CLOSEOUT_POSITION_DOESNT_EXIST";
                    return close_refused(
                        &mut inner,
                        &instrument,
                        &doc,
                        (long_all && long == 0, short_all && short == 0),
                        (400, FLAT, Some(FLAT), false),
                    );
                }
            }
            Some(Fault::TooManyThenLate(when)) => {
                inner.faults.pop_front();
                inner.held = Some((
                    Held::Close {
                        instrument: instrument.clone(),
                        doc: doc.clone(),
                    },
                    when,
                ));
                return too_many();
            }
            _ => {}
        }
        let placed = place_close(&mut inner, &instrument, &doc, true);
        land_held(&mut inner, Late::AfterNextOrder);
        match placed {
            Some(done) => done,
            None => {
                return (StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").into_response();
            }
        }
    };
    respond(fault, status, reply).await
}

/// The Swagger's `MarketOrder` as `GET orders/{specifier}` answers it.
fn order_json(o: &OrderRec) -> Value {
    let mut v = json!({"id": o.id, "createTime": o.create_time, "type": "MARKET", "state": o.state,
                       "instrument": o.instrument, "units": o.units.to_string(), "timeInForce": "FOK",
                       "clientExtensions": {"id": o.client_id}});
    if let Some(f) = &o.filling {
        v["fillingTransactionID"] = json!(f);
    }
    if let Some(c) = &o.cancelling {
        v["cancellingTransactionID"] = json!(c);
    }
    v
}

async fn order(
    State(s): State<Shared>,
    Path((account, spec)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut inner = s.0.lock().unwrap();
    record(
        &mut inner,
        &Method::GET,
        format!("/v3/accounts/{account}/orders/{spec}"),
        &Bytes::new(),
    );
    if let Some(r) = check(&mut inner, &s, &headers, &account, false) {
        return r;
    }
    // OrderSpecifier: "Either the Order's OANDA-assigned OrderID or the Order's
    // client-provided ClientID prefixed by the "@" symbol".
    let found = if let Some(client_id) = spec.strip_prefix('@') {
        // Strict: client ids are documented as unique only among pending orders, so a
        // lookup by client id finds only a PENDING order (FOK market orders never are).
        let strict = inner.strict;
        inner
            .orders
            .iter()
            .rev()
            .find(|o| o.client_id == client_id && (!strict || o.state == "PENDING"))
    } else if spec.bytes().all(|b| b.is_ascii_digit()) && !spec.is_empty() {
        inner.orders.iter().find(|o| o.id == spec)
    } else {
        return violation(
            &mut inner,
            format!("order specifier {spec:?} is neither an OrderID nor @ClientID"),
        );
    };
    match found {
        None => (StatusCode::NOT_FOUND, axum::Json(json!({"errorCode": "ORDER_DOESNT_EXIST", "errorMessage": "The order ID specified does not exist"}))).into_response(),
        Some(o) => axum::Json(json!({"order": order_json(o), "lastTransactionID": inner.next_tx.to_string()}))
        .into_response(),
    }
}

/// `GET transactions/sinceid?id=<TransactionID>`: every transaction after that id, oldest
/// first, as `{transactions, lastTransactionID}`.
async fn transactions_since(
    State(s): State<Shared>,
    Path(account): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut inner = s.0.lock().unwrap();
    let id = q.get("id").cloned().unwrap_or_default();
    record(
        &mut inner,
        &Method::GET,
        format!("/v3/accounts/{account}/transactions/sinceid?id={id}"),
        &Bytes::new(),
    );
    if let Some(r) = check(&mut inner, &s, &headers, &account, false) {
        return r;
    }
    let Ok(since) = id.parse::<u64>() else {
        return violation(
            &mut inner,
            format!("transactions/sinceid needs a TransactionID in id, got {id:?}"),
        );
    };
    let list: Vec<Value> = inner
        .transactions
        .range(since.saturating_add(1)..)
        .map(|(_, t)| t.clone())
        .take(inner.since_cap.unwrap_or(usize::MAX))
        .collect();
    axum::Json(json!({"transactions": list, "lastTransactionID": inner.next_tx.to_string()}))
        .into_response()
}

/// `{transactions, lastTransactionID}` for the transactions with ids in `ids`, oldest first:
/// the answer of `idrange`.
fn transaction_list(inner: &Inner, ids: impl std::ops::RangeBounds<u64>) -> Response {
    let list: Vec<Value> = inner
        .transactions
        .range(ids)
        .map(|(_, t)| t.clone())
        .collect();
    axum::Json(json!({"transactions": list, "lastTransactionID": inner.next_tx.to_string()}))
        .into_response()
}

/// `GET transactions?from=<time>`: the documented paged query. Answers `{from, to, pageSize,
/// count, pages, lastTransactionID}`, `pages` being `transactions/idrange` URLs over the
/// transactions at or after `from` (one page here).
async fn transactions_pages(
    State(s): State<Shared>,
    Path(account): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut inner = s.0.lock().unwrap();
    let from = q.get("from").cloned().unwrap_or_default();
    record(
        &mut inner,
        &Method::GET,
        format!("/v3/accounts/{account}/transactions?from={from}"),
        &Bytes::new(),
    );
    if let Some(r) = check(&mut inner, &s, &headers, &account, false) {
        return r;
    }
    let Ok(since) = DateTime::parse_from_rfc3339(&from) else {
        return violation(
            &mut inner,
            format!("transactions needs an RFC 3339 time in from, got {from:?}"),
        );
    };
    let ids: Vec<u64> = inner
        .transactions
        .iter()
        .filter(|(_, t)| {
            t["time"]
                .as_str()
                .and_then(|x| DateTime::parse_from_rfc3339(x).ok())
                .is_some_and(|x| x >= since)
        })
        .map(|(id, _)| *id)
        .collect();
    let pages: Vec<String> = match (ids.first(), ids.last()) {
        (Some(a), Some(b)) => vec![format!(
            "{}/v3/accounts/{account}/transactions/idrange?from={a}&to={b}",
            inner.base_url
        )],
        _ => Vec::new(),
    };
    axum::Json(
        json!({"from": from, "to": inner.clock.0.now().to_rfc3339_opts(SecondsFormat::Nanos, true),
                      "pageSize": 1000, "count": ids.len(), "pages": pages,
                      "lastTransactionID": inner.next_tx.to_string()}),
    )
    .into_response()
}

/// `GET transactions/idrange?from=<id>&to=<id>`: the transactions in that id range.
async fn transactions_idrange(
    State(s): State<Shared>,
    Path(account): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut inner = s.0.lock().unwrap();
    let (from, to) = (
        q.get("from").cloned().unwrap_or_default(),
        q.get("to").cloned().unwrap_or_default(),
    );
    record(
        &mut inner,
        &Method::GET,
        format!("/v3/accounts/{account}/transactions/idrange?from={from}&to={to}"),
        &Bytes::new(),
    );
    if let Some(r) = check(&mut inner, &s, &headers, &account, false) {
        return r;
    }
    let (Ok(a), Ok(b)) = (from.parse::<u64>(), to.parse::<u64>()) else {
        return violation(
            &mut inner,
            format!("transactions/idrange needs TransactionIDs, got {from:?}..{to:?}"),
        );
    };
    let b = match inner.page_cap {
        // At least the range's first: an empty range is no page.
        Some(n) => b.min(a.saturating_add(n.max(1) as u64).saturating_sub(1)),
        None => b,
    };
    transaction_list(&inner, a..=b)
}

async fn transaction(
    State(s): State<Shared>,
    Path((account, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut inner = s.0.lock().unwrap();
    record(
        &mut inner,
        &Method::GET,
        format!("/v3/accounts/{account}/transactions/{id}"),
        &Bytes::new(),
    );
    if let Some(r) = check(&mut inner, &s, &headers, &account, false) {
        return r;
    }
    match id
        .parse::<u64>()
        .ok()
        .and_then(|n| inner.transactions.get(&n))
    {
        Some(t) => {
            axum::Json(json!({"transaction": t, "lastTransactionID": inner.next_tx.to_string()}))
                .into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"errorMessage": "transaction not found"})),
        )
            .into_response(),
    }
}

async fn fallback(State(s): State<Shared>, method: Method, uri: axum::http::Uri) -> Response {
    let mut inner = s.0.lock().unwrap();
    inner.violations.push(format!(
        "{method} {uri} is not an endpoint the executor should call"
    ));
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"errorMessage": "not found"})),
    )
        .into_response()
}
