//! A Tradovate REST server for tests that answers only what Tradovate documents:
//!
//! - the official OpenAPI description (<https://partner.tradovate.com/openapi.json>) and its
//!   endpoint pages under <https://partner.tradovate.com/api/rest-api-endpoints/orders/> for
//!   the `Order`, `Command`, `Fill` and `Position` entities and their `item`, `list` and `deps`
//!   queries;
//! - <https://partner.tradovate.com/api/rest-api-endpoints/orders/place-order> and
//!   <https://partner.tradovate.com/api/rest-api-endpoints/orders/liquidate-position>: both
//!   are requests, not results. `{orderId}` says the order was accepted; its fill, and the
//!   position it moves, come later;
//! - <https://partner.tradovate.com/overview/core-concepts/rate-limits> and
//!   <https://partner.tradovate.com/overview/core-concepts/penalty-tickets>: a 429 has an
//!   empty body and means the request was not carried out (the docs say to stop for about an
//!   hour); a penalty ticket comes as HTTP 200 with `p-ticket`, `p-time` and `p-captcha`
//!   instead of the result, and the request is resent with the ticket after `p-time`;
//! - <https://partner.tradovate.com/overview/core-concepts/error-handling>: business errors
//!   are HTTP 200 bodies (`errorText`, `failureReason`, `violations`).
//!
//! It issues and renews tokens (401 for expired or unknown bearers), keeps signed `netPos`
//! positions per account, and models placement and liquidation as asynchronous: a market
//! order is `Working` until [`FakeTradovate::set_fill_delay`] has passed (real time, checked
//! lazily on each request), then `Filled` with a `Fill`, and only then does the position
//! move. [`FakeTradovate::set_visibility_delay`] hides new orders and commands from every
//! lookup for a while (a replica that lags). The documented `Order` entity has no `clOrdId`;
//! the client's `clOrdId` is kept on the order's `New` `Command`, and a query that hopes to
//! filter by it is a violation ([`FakeTradovate::strict_lookups`]). It checks each request as
//! documented (`isAutomated`, `accountSpec`, `accountId`, integer `orderQty`, the ticket on a
//! penalty resend, no resend before `p-time`) and keeps what a real server would refuse in
//! `violations()`.
#![allow(dead_code, clippy::unwrap_used)]

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Datelike, Duration, SecondsFormat, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

pub const ACCOUNT_ID: i64 = 987654;
pub const ACCOUNT_NAME: &str = "DEMO1234567";
pub const USERNAME: &str = "jdoe";
pub const PASSWORD: &str = "fake-tradovate-password-9c2";
pub const SEC: &str = "fake-tradovate-api-secret-77a";
pub const CID: i64 = 1234;

/// The logins a minute Tradovate allows: "authentication 10 req/min" (partner API, rate
/// limits, <https://partner.tradovate.com/overview/core-concepts/rate-limits>); the next one
/// in the minute is answered with a captcha penalty and counted a violation.
pub const LOGINS_PER_MINUTE: usize = 10;
/// How long a placed market order (or a liquidation) stays `Working` by default.
pub const DEFAULT_FILL_DELAY: StdDuration = StdDuration::from_millis(200);

#[derive(Debug, Clone)]
pub enum Fault {
    /// Next order command: a penalty ticket (`p-time` seconds), carried out on the resend.
    Penalty(u64),
    /// Next order command: 401 as if the token had just expired.
    Unauthorized,
    /// Next order command: 429 with an empty body, nothing carried out (rate-limits page:
    /// `HTTP/1.1 429 Too Many Requests`, `Content-Length: 0`, no `Retry-After`). For the given
    /// number of seconds after it (real time) the server keeps answering every request with
    /// 429, as the docs describe ("stops handling requests for a period of time"); `0`: only
    /// this one request.
    TooMany(u64),
    /// Next order command: 429 with a `Retry-After` header of this many seconds, nothing
    /// carried out. Tradovate's rate-limits page shows its 429 without one and asks for about
    /// an hour without requests; a client must not take the header as leave to come sooner.
    TooManyRetryAfter(u64),
    /// Next placement: create the order (it fills after the fill delay, as any other), then
    /// answer 500.
    ErrorAfterCreate,
    /// Next placement: answer 500 without creating anything.
    ErrorBeforeCreate,
    /// Next placement: create the order (it fills after the fill delay), then answer 401.
    /// Tradovate's error-handling page calls a 401 "not authorised" and does not say that an
    /// order command so answered was not placed, so the fake may place it.
    UnauthorizedAfterCreate,
    /// Next placement: create the order (it fills after the fill delay), then answer this
    /// HTTP status with a text body. Tradovate's error-handling page says a 400 "usually
    /// means" a malformed request and a 404 that something "could not be found"; neither is
    /// documented as "not placed", so the fake may place it.
    StatusAfterCreate(u16),
    /// Next order command: HTTP 200 with this `failureReason` (a definitive refusal, e.g.
    /// `MaxPosLimitReached`), nothing created.
    Refuse(&'static str),
    /// Next placement: create the order (it fills after the fill delay), then answer with its
    /// `orderId` and this `failureReason` together, which OpenAPI `PlaceOrderResult` allows
    /// (every field optional) and the documentation does not explain.
    FailureWithOrder(&'static str),
    /// Next placement: create the order (it fills after the fill delay), then answer HTTP 200
    /// with this `failureReason` and no `orderId`: what a failure that left an order behind
    /// would look like, which the documentation neither describes nor rules out.
    FailureAfterCreate(&'static str),
}

/// An order the server created from a `placeorder` request.
#[derive(Debug, Clone)]
pub struct OrderRec {
    pub id: i64,
    /// The request's `clOrdId`. It lives on the order's `New` command; the documented `Order`
    /// entity has no such field and the fake never puts one on an order answer.
    pub cl_ord_id: Option<String>,
    pub contract_id: i64,
    pub action: String,
    pub qty: i64,
    pub body: Value,
}

/// A command the server created (one `New` command per placement or liquidation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRec {
    pub id: i64,
    pub order_id: i64,
    pub cl_ord_id: Option<String>,
    pub command_type: String,
    pub command_status: String,
    pub is_automated: Option<bool>,
    pub custom_tag50: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Placement,
    Liquidation,
}

#[derive(Debug, Clone)]
struct FillRec {
    id: i64,
    action: String,
    qty: i64,
    price: Decimal,
    timestamp: DateTime<Utc>,
    /// When it landed (real time): `fill/deps` lists it once the listing delay has passed.
    landed: Instant,
}

#[derive(Debug, Clone)]
struct Placed {
    rec: OrderRec,
    account_id: i64,
    origin: Origin,
    timestamp: DateTime<Utc>,
    created: Instant,
    /// Documented `ordStatus` values only: `Working`, `Filled`, `Canceled`.
    status: &'static str,
    /// A liquidation: reads (position or its order) still needed before it may land (`None`: never).
    polls_left: Option<u32>,
    fill: Option<FillRec>,
    /// Ended `Rejected` after acceptance: the `rejectReason` and `text` its command's
    /// `CommandReport` gives ([`FakeTradovate::reject_next_after_acceptance`]).
    rejected: Option<(&'static str, &'static str)>,
}

#[derive(Debug, Clone)]
struct Cmd {
    rec: CommandRec,
    timestamp: DateTime<Utc>,
    created: Instant,
}

#[derive(Debug)]
struct Inner {
    tokens: HashMap<String, DateTime<Utc>>,
    token_seq: u64,
    token_expiry: DateTime<Utc>,
    tokens_without_expiry: usize,
    now: DateTime<Utc>,
    logins: usize,
    renewals: usize,
    accounts: Vec<(i64, String)>,
    contracts: HashMap<String, i64>,
    front: HashMap<String, String>,
    /// (account id, contract id) → signed net position.
    positions: HashMap<(i64, i64), i64>,
    /// Entries of earlier trade dates `/position/list` also lists ([`FakeTradovate::
    /// list_earlier_entry`]): (account id, contract id, net position, days before now).
    earlier_entries: Vec<(i64, i64, i64, i64)>,
    /// The next this many `/position/list` reads answer a penalty ticket instead
    /// ([`FakeTradovate::penalize_position_reads`]).
    read_penalties: u32,
    /// The next this many logins answer a penalty ticket instead
    /// ([`FakeTradovate::penalize_logins`]).
    login_penalties: u32,
    /// The `p-time` and `p-captcha` of those penalties: 0 s with a captcha unless
    /// [`FakeTradovate::penalize_logins_without_captcha`] said otherwise.
    login_penalty: (u64, bool),
    /// The next this many renewals answer a penalty ticket without a captcha
    /// ([`FakeTradovate::penalize_renewals`]).
    renewal_penalties: u32,
    /// Renewal requests received, penalized or not.
    renewal_requests: usize,
    /// `/auth/accesstokenrequest` requests received, penalized or not.
    login_requests: usize,
    /// When each login of the last minute arrived (real time), for the documented limit
    /// ([`LOGINS_PER_MINUTE`]).
    recent_logins: VecDeque<Instant>,
    /// `/position/list` requests received, penalized or not.
    position_reads: usize,
    /// `commandReport/deps` requests answered ([`FakeTradovate::command_report_reads`]).
    command_report_reads: usize,
    /// `placeorder` and `liquidateposition` requests received, whatever their answer
    /// ([`FakeTradovate::order_commands`]).
    order_commands: usize,
    /// How long after a fill `/position/list` still shows the net position from before it
    /// ([`FakeTradovate::set_position_lag`]).
    position_lag: StdDuration,
    /// Per position moved by a fill within the lag: the net `/position/list` shows until
    /// the lag has passed, and when the last fill landed.
    position_shown: HashMap<(i64, i64), (i64, Instant)>,
    orders: Vec<Placed>,
    commands: Vec<Cmd>,
    order_seq: i64,
    command_seq: i64,
    fill_seq: i64,
    fill_delay: StdDuration,
    /// The per-contract fees every fill reports (`fillFee/deps`): (commission, exchange fee,
    /// clearing fee, NFA fee, currency id); `None`: no `FillFee` listed for any fill.
    fill_fee: Option<(Decimal, Decimal, Decimal, Decimal, i64)>,
    visibility_delay: StdDuration,
    /// How long after an order lands its fill is listed ([`FakeTradovate::set_fill_listing_delay`]).
    fill_listing_delay: StdDuration,
    command_delay: StdDuration,
    /// How long a login takes to answer ([`FakeTradovate::set_login_delay`]).
    login_delay: StdDuration,
    /// How long `commandReport/deps` takes to answer
    /// ([`FakeTradovate::set_command_report_delay`]).
    command_report_delay: StdDuration,
    strict: bool,
    /// Commands read without their `clOrdId` ([`FakeTradovate::commands_without_cl_ord_id`]).
    bare_commands: bool,
    /// A spread order listed with the account's orders ([`FakeTradovate::list_a_spread_order`]).
    spread_order: bool,
    liquidation_polls: Option<u32>,
    liquidations: usize,
    /// How many contracts each of the next orders to land fills before the rest is
    /// cancelled ([`FakeTradovate::fill_next_in_part`]).
    in_part: VecDeque<i64>,
    /// The next orders to land end with this `ordStatus` and no fill
    /// ([`FakeTradovate::end_next_unfilled`]).
    unfilled: VecDeque<&'static str>,
    /// The `CommandReport` words of the next orders scripted to end `Rejected`.
    rejections: VecDeque<(&'static str, &'static str)>,
    faults: VecDeque<Fault>,
    pending_ticket: Option<(String, Instant)>,
    /// The ticket of a login's penalty without a captcha and when its `p-time` ends: the
    /// next login must carry it and come after then.
    login_ticket: Option<(String, Instant)>,
    blocked_until: Option<Instant>,
    rate_limited: usize,
    /// The next this many requests answer 423 ([`FakeTradovate::warn_locked`]).
    locked_warnings: u32,
    /// A 423 was answered: the next request is locked out for an hour (429s).
    warned: bool,
    violations: Vec<String>,
    price: Decimal,
}

#[derive(Clone)]
pub struct FakeTradovate {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    outage: crate::ReadOutage,
}

type S = Arc<Mutex<Inner>>;
type Q = Query<Vec<(String, String)>>;

impl FakeTradovate {
    /// `now` is the server's idea of the time (for token expiry and entity timestamps),
    /// matching the test clock. Fill and visibility delays are real time.
    pub async fn start(now: DateTime<Utc>) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            tokens: HashMap::new(),
            token_seq: 0,
            token_expiry: now + Duration::minutes(80),
            tokens_without_expiry: 0,
            now,
            logins: 0,
            renewals: 0,
            accounts: vec![(ACCOUNT_ID, ACCOUNT_NAME.to_owned())],
            contracts: HashMap::from([
                ("ESZ6".into(), 3570918),
                ("MNQZ6".into(), 3570931),
                ("CLF7".into(), 3571002),
            ]),
            front: HashMap::from([
                ("ES".into(), "ESZ6".into()),
                ("MNQ".into(), "MNQZ6".into()),
                ("CL".into(), "CLF7".into()),
            ]),
            positions: HashMap::new(),
            earlier_entries: Vec::new(),
            position_lag: StdDuration::ZERO,
            position_shown: HashMap::new(),
            read_penalties: 0,
            login_penalties: 0,
            login_penalty: (0, true),
            renewal_penalties: 0,
            renewal_requests: 0,
            login_requests: 0,
            recent_logins: VecDeque::new(),
            position_reads: 0,
            command_report_reads: 0,
            order_commands: 0,
            orders: Vec::new(),
            commands: Vec::new(),
            order_seq: 1_000_000,
            command_seq: 5_000_000,
            fill_seq: 9_000_000,
            fill_delay: DEFAULT_FILL_DELAY,
            fill_fee: None,
            visibility_delay: StdDuration::ZERO,
            fill_listing_delay: StdDuration::ZERO,
            command_delay: StdDuration::ZERO,
            login_delay: StdDuration::ZERO,
            command_report_delay: StdDuration::ZERO,
            strict: true,
            bare_commands: false,
            spread_order: false,
            liquidation_polls: Some(0),
            liquidations: 0,
            in_part: VecDeque::new(),
            unfilled: VecDeque::new(),
            rejections: VecDeque::new(),
            faults: VecDeque::new(),
            pending_ticket: None,
            login_ticket: None,
            blocked_until: None,
            rate_limited: 0,
            locked_warnings: 0,
            warned: false,
            violations: Vec::new(),
            price: Decimal::new(601225, 2),
        }));
        let app = Router::new()
            .route("/v1/auth/accesstokenrequest", post(login))
            .route("/v1/auth/renewaccesstoken", get(renew))
            .route("/v1/account/list", get(accounts))
            .route("/v1/position/list", get(positions))
            .route("/v1/contract/find", get(contract_find))
            .route("/v1/contract/item", get(contract_item))
            .route("/v1/contract/rollcontract", post(roll))
            .route("/v1/order/placeorder", post(place))
            .route("/v1/order/liquidateposition", post(liquidate))
            .route("/v1/order/item", get(order_item))
            .route("/v1/order/list", get(order_list))
            .route("/v1/order/deps", get(order_deps))
            .route("/v1/command/item", get(command_item))
            .route("/v1/command/list", get(command_list))
            .route("/v1/command/deps", get(command_deps))
            .route("/v1/commandReport/deps", get(command_report_deps))
            .route("/v1/fill/deps", get(fill_deps))
            .route("/v1/fillFee/deps", get(fill_fee_deps))
            .with_state(inner.clone());
        let outage = crate::ReadOutage::new(json!({"errorText": "Service Unavailable"}));
        let app = app.layer(axum::middleware::from_fn_with_state(
            outage.clone(),
            crate::ReadOutage::layer,
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, inner, outage }
    }

    /// The next `n` GET requests whose path contains `part` (`/order/item`) answer 503.
    pub fn fail_reads(&self, part: &str, n: usize) {
        self.outage.fail(part, n);
    }

    /// The next `n` requests whose path contains `part` answer 429, Tradovate's rate limit
    /// (after which it asks for no requests for about an hour).
    pub fn rate_limit_reads(&self, part: &str, n: usize) {
        self.outage
            .fail_with(part, n, axum::http::StatusCode::TOO_MANY_REQUESTS);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    pub fn set_now(&self, now: DateTime<Utc>) {
        self.lock().now = now;
    }
    pub fn set_token_expiry(&self, at: DateTime<Utc>) {
        self.lock().token_expiry = at;
    }
    /// The next `n` token answers (login or renewal) carry no `expirationTime`. Tradovate's
    /// AccessTokenResponse gives one; its renewal's answer is not documented apart from it,
    /// so a client must not take such an answer as a refused login.
    pub fn omit_token_expiry(&self, n: usize) {
        self.lock().tokens_without_expiry = n;
    }
    /// Every token issued so far stops working (a token expiring mid-flight).
    pub fn expire_tokens(&self) {
        let mut i = self.lock();
        let past = i.now - Duration::seconds(1);
        for exp in i.tokens.values_mut() {
            *exp = past;
        }
    }
    /// The accounts `account/list` shows, `(id, name)`; the first one is the primary account
    /// that [`Self::set_net`] and [`Self::net`] address. Default: one account,
    /// [`ACCOUNT_ID`] / [`ACCOUNT_NAME`].
    pub fn set_accounts(&self, accounts: Vec<(i64, String)>) {
        assert!(!accounts.is_empty(), "the login sees at least one account");
        self.lock().accounts = accounts;
    }
    /// Sets the primary account's net position in a contract.
    /// Lists another contract (`ESH7` after a roll), with its id.
    pub fn add_contract(&self, name: &str, id: i64) {
        self.lock().contracts.insert(name.to_owned(), id);
    }

    /// No longer describes `name` (`/contract/item` and `/contract/find` answer 404), while a
    /// position in it stays listed by its id: a contract Tradovate will not name.
    pub fn forget_contract(&self, name: &str) {
        self.lock().contracts.remove(name);
    }

    pub fn set_net(&self, contract: &str, net: i64) {
        let account = self.lock().accounts[0].0;
        self.set_net_for(account, contract, net);
    }
    /// The primary account's (filled) net position in a contract.
    pub fn net(&self, contract: &str) -> i64 {
        let account = self.lock().accounts[0].0;
        self.net_for(account, contract)
    }
    pub fn set_net_for(&self, account_id: i64, contract: &str, net: i64) {
        let mut i = self.lock();
        let id = i.contracts[contract];
        i.positions.insert((account_id, id), net);
    }
    /// The (filled) net position; orders still `Working` have not moved it. Settles what is
    /// due first.
    pub fn net_for(&self, account_id: i64, contract: &str) -> i64 {
        let mut i = self.lock();
        settle(&mut i);
        let id = i.contracts[contract];
        i.positions.get(&(account_id, id)).copied().unwrap_or(0)
    }
    /// The next order to land (a placement or a liquidation) fills only `qty` contracts and
    /// ends `Canceled`, its one fill listed by `/fill/deps`: the documents list `Canceled`
    /// among `ordStatus` values and fills per order, and do not say that an order which
    /// filled in part cannot end so. Calls queue up, one order each.
    pub fn fill_next_in_part(&self, qty: i64) {
        self.lock().in_part.push_back(qty);
    }
    /// The next order to land (accepted, with its `orderId`) ends with `status` and no fill
    /// instead of filling: `Rejected` or `Expired`, which the documents list among
    /// `ordStatus` values without saying when an accepted order ends so (a risk check after
    /// acceptance, say). Calls queue up, one order each.
    pub fn end_next_unfilled(&self, status: &'static str) {
        self.lock().unfilled.push_back(status);
    }

    /// The next order to land ends `Rejected` with no fill (as [`Self::end_next_unfilled`]),
    /// its command's `CommandReport` (`commandReport/deps?masterid=<commandId>`) saying
    /// `RiskRejected` with `reason` (a documented `rejectReason`, e.g. `SessionClosed`) and
    /// `text`.
    pub fn reject_next_after_acceptance(&self, reason: &'static str, text: &'static str) {
        let mut i = self.lock();
        i.unfilled.push_back("Rejected");
        i.rejections.push_back((reason, text));
    }

    /// A placed market order fills this long after it was accepted (real time; default
    /// [`DEFAULT_FILL_DELAY`]). A liquidation lands no earlier than this either.
    pub fn set_fill_delay(&self, delay: StdDuration) {
        self.lock().fill_delay = delay;
    }
    /// Every fill lists one `FillFee` (`fillFee/deps?masterid=<fillId>`) of these amounts per
    /// contract filled, all in currency `currency_id`. Without this call, no fill lists any.
    pub fn set_fill_fee(
        &self,
        commission: &str,
        exchange: &str,
        clearing: &str,
        nfa: &str,
        currency_id: i64,
    ) {
        let d = |v: &str| v.parse::<Decimal>().unwrap();
        self.lock().fill_fee = Some((d(commission), d(exchange), d(clearing), d(nfa), currency_id));
    }
    /// An order's fill is listed by `fill/deps` only this long after the order landed, while
    /// its `ordStatus` and the position change at once (default: zero). The documents list an
    /// order's status and its fills but do not say that the fills are listed by the time the
    /// status changes.
    pub fn set_fill_listing_delay(&self, delay: StdDuration) {
        self.lock().fill_listing_delay = delay;
    }
    /// New orders, their commands and fills are invisible to every lookup (`order/item`,
    /// `order/list`, `order/deps`, `command/*`, `fill/deps`) for this long after creation,
    /// like a replica that lags (default: zero). Positions are not delayed.
    pub fn set_visibility_delay(&self, delay: StdDuration) {
        self.lock().visibility_delay = delay;
    }

    /// The next `n` `/position/list` reads answer a penalty ticket (`p-time` 1 s) instead of
    /// the positions: the penalty-tickets page does not limit tickets to order commands.
    pub fn penalize_position_reads(&self, n: u32) {
        self.lock().read_penalties = n;
    }

    /// How many `commandReport/deps` requests were answered.
    pub fn command_report_reads(&self) -> usize {
        self.lock().command_report_reads
    }

    /// How many `/position/list` requests came, penalized or not.
    pub fn position_reads(&self) -> usize {
        self.lock().position_reads
    }

    /// For this long after a fill lands, `/position/list` still shows the net position from
    /// before it (default: zero): the documents say fills and the position become visible
    /// asynchronously, and give no time within which the position shows a fill its order
    /// reports.
    /// Lists, besides each contract's entry of today, an entry of `days_before` days ago
    /// for `contract` with `net`: the `Position` schema carries `tradeDate`, and nothing
    /// documented says an account lists one entry per contract.
    pub fn list_earlier_entry(&self, contract: &str, net: i64, days_before: i64) {
        let mut i = self.lock();
        let account = i.accounts[0].0;
        let contract = i.contracts[contract];
        i.earlier_entries
            .push((account, contract, net, days_before));
    }

    pub fn set_position_lag(&self, lag: StdDuration) {
        self.lock().position_lag = lag;
    }

    /// From now on, for `duration` (real time), every request is answered 429 with an empty
    /// body, as after a rate limit ("stops handling requests for a period of time").
    pub fn rate_limit_for(&self, duration: StdDuration) {
        self.lock().blocked_until = Some(Instant::now() + duration);
    }

    /// The next `n` requests, whatever they are, answer 423 with an empty body: Tradovate's
    /// warning that "precedes a 429" (error-handling page,
    /// <https://partner.tradovate.com/overview/core-concepts/error-handling>). The fake
    /// carries none of them out; no document says either way, and a client must stop for
    /// the hour (rate-limits page): the first request after them starts an hour of 429s.
    /// Counted with [`Self::rate_limited_answers`].
    pub fn warn_locked(&self, n: u32) {
        self.lock().locked_warnings = n;
    }

    /// How many requests were answered 429 (or 423) while the server stopped handling
    /// requests.
    pub fn rate_limited_answers(&self) -> usize {
        self.lock().rate_limited
    }

    /// New commands (`command/list`, `command/deps`, `command/item`) are invisible for this
    /// long after creation, on top of [`Self::set_visibility_delay`], while the orders show:
    /// Tradovate documents no time within which either list shows a placement, nor that they
    /// lag together (default: zero).
    pub fn set_command_delay(&self, delay: StdDuration) {
        self.lock().command_delay = delay;
    }
    /// Every later login answers only after `delay` (a slow server, or a client that waits
    /// out penalties): what a refresh holding the token lock must stay within.
    pub fn set_login_delay(&self, delay: StdDuration) {
        self.lock().login_delay = delay;
    }
    /// Every later `commandReport/deps` answers only after `delay` (a slow server: the
    /// documents give no time within which a read answers).
    pub fn set_command_report_delay(&self, delay: StdDuration) {
        self.lock().command_report_delay = delay;
    }
    /// On (the default): a query parameter an endpoint does not document (such as a
    /// `clOrdId` filter on `order/list` or `order/deps`) is a violation and is ignored, as
    /// the documented queries take no such filter. Off: no violation, and a `clOrdId` filter
    /// is applied (by the `New` command's `clOrdId`), for tests that opt into that assumption.
    pub fn strict_lookups(&self, strict: bool) {
        self.lock().strict = strict;
    }
    /// Every command read (`command/item`, `list`, `deps`) leaves out the command's
    /// `clOrdId`. The OpenAPI `Command` schema makes the field optional, and no Tradovate
    /// document says that a placement's `clOrdId` is copied onto its `New` command: a client
    /// that finds its orders by it must be safe when it is not.
    pub fn commands_without_cl_ord_id(&self, on: bool) {
        self.lock().bare_commands = on;
    }
    /// Every order list (`order/list`, `order/deps`) also holds a working spread order of
    /// the first account, placed by someone else: its `contractId` is null and it names a
    /// `spreadDefinitionId` instead (the OpenAPI `Order` schema gives `id` and `contractId`
    /// as "long or null").
    pub fn list_a_spread_order(&self, on: bool) {
        self.lock().spread_order = on;
    }
    /// Liquidations land after this many reads of the position or of the liquidation's
    /// order (and no earlier than the fill delay); `None`: never (the order stays `Working`).
    pub fn liquidation_takes(&self, polls: Option<u32>) {
        self.lock().liquidation_polls = polls;
    }
    /// Lets every liquidation still in flight land (at the next request, once its fill
    /// delay has passed), whatever [`Self::liquidation_takes`] said when it was sent.
    pub fn land_liquidations(&self) {
        for o in self.lock().orders.iter_mut() {
            if o.origin == Origin::Liquidation && o.status == "Working" {
                o.polls_left = Some(0);
            }
        }
    }
    pub fn script(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }
    pub fn logins(&self) -> usize {
        self.lock().logins
    }
    /// The next `n` logins answer a penalty ticket (`p-time` 0 s) instead of a token: the
    /// penalty-tickets page gives the login as where tickets come. With `p-captcha: true`, as
    /// a login's penalty always is (Tradovate's official JavaScript example,
    /// tradovate/example-api-js: solvable only by a person, so a server waits about an hour).
    pub fn penalize_logins(&self, n: u32) {
        let mut i = self.lock();
        i.login_penalties = n;
        i.login_penalty = (0, true);
    }
    /// The next `n` logins answer a penalty ticket with `p-time` of `secs` and no captcha: the
    /// penalty-tickets page documents tickets without one and does not exempt the login, so a
    /// client must be safe against it too.
    pub fn penalize_logins_without_captcha(&self, n: u32, secs: u64) {
        let mut i = self.lock();
        i.login_penalties = n;
        i.login_penalty = (secs, false);
    }
    /// How many login requests came, penalized or not (a resend with its ticket included).
    pub fn login_requests(&self) -> usize {
        self.lock().login_requests
    }
    pub fn renewals(&self) -> usize {
        self.lock().renewals
    }
    /// The next `n` renewals answer a penalty ticket (`p-time` 30 s, `p-captcha: false`)
    /// instead of a token: the penalty-tickets page does not limit tickets to the login, and
    /// documents the resend as the same request with the ticket in its body, which a renewal
    /// (a GET) has not.
    pub fn penalize_renewals(&self, n: u32) {
        self.lock().renewal_penalties = n;
    }
    /// How many renewal requests came, penalized or not.
    pub fn renewal_requests(&self) -> usize {
        self.lock().renewal_requests
    }
    pub fn liquidations(&self) -> usize {
        self.lock().liquidations
    }
    /// Every `placeorder` and `liquidateposition` request received, whatever it was answered
    /// (a penalty ticket, a 401, a 429, a rejection) and whether or not it was carried out: a
    /// resend the fake did not carry out still counts, as the broker may have.
    pub fn order_commands(&self) -> usize {
        self.lock().order_commands
    }
    /// Orders created from `placeorder` requests (placements the server carried out, filled
    /// or not yet); liquidation orders are not included.
    pub fn orders(&self) -> Vec<OrderRec> {
        self.lock()
            .orders
            .iter()
            .filter(|o| o.origin == Origin::Placement)
            .map(|o| o.rec.clone())
            .collect()
    }
    /// How many orders were created whose `New` command carries this `clOrdId`: more than
    /// one is a duplicate placement.
    pub fn placements_for(&self, cl_ord_id: &str) -> usize {
        self.lock()
            .commands
            .iter()
            .filter(|c| {
                c.rec.command_type == "New" && c.rec.cl_ord_id.as_deref() == Some(cl_ord_id)
            })
            .count()
    }
    /// Every command created so far (visible or not), oldest first.
    pub fn commands(&self) -> Vec<CommandRec> {
        self.lock().commands.iter().map(|c| c.rec.clone()).collect()
    }
    /// An order's `ordStatus` now (placements and liquidations), after settling what is due.
    pub fn order_status(&self, order_id: i64) -> Option<String> {
        let mut i = self.lock();
        settle(&mut i);
        i.orders
            .iter()
            .find(|o| o.rec.id == order_id)
            .map(|o| o.status.to_owned())
    }
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_owned)
}

/// 401 unless the bearer is a token we issued that has not expired.
fn authorize(i: &Inner, headers: &HeaderMap) -> Option<Response> {
    let ok = bearer(headers)
        .and_then(|t| i.tokens.get(&t).copied())
        .is_some_and(|exp| exp > i.now);
    (!ok).then(|| (StatusCode::UNAUTHORIZED, "Access is denied").into_response())
}

/// The rate-limits page: a 429 has `Content-Length: 0` and nothing else.
fn too_many() -> Response {
    (StatusCode::TOO_MANY_REQUESTS, "").into_response()
}

/// What every request goes through: due fills land, a rate-limit lockout answers 429, and
/// (when `auth`) the bearer must be valid.
fn begin(i: &mut Inner, headers: &HeaderMap, auth: bool) -> Option<Response> {
    settle(i);
    if i.locked_warnings > 0 {
        i.locked_warnings -= 1;
        i.rate_limited += 1;
        i.warned = true;
        return Some(StatusCode::LOCKED.into_response());
    }
    // "423 precedes a 429": a client that goes on after the warning is locked out.
    if std::mem::take(&mut i.warned) {
        i.blocked_until = Some(Instant::now() + StdDuration::from_secs(3600));
    }
    if i.blocked_until.is_some_and(|t| Instant::now() < t) {
        i.rate_limited += 1;
        return Some(too_many());
    }
    if auth {
        return authorize(i, headers);
    }
    None
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Lands what is due: a placement once the fill delay has passed; a liquidation once the
/// fill delay has passed and its reads are used up. Done lazily on each request
/// (the time is compared, no timer runs).
fn settle(i: &mut Inner) {
    let now = Instant::now();
    let due: Vec<usize> = i
        .orders
        .iter()
        .enumerate()
        .filter(|(_, o)| o.status == "Working" && now >= o.created + i.fill_delay)
        .filter(|(_, o)| o.origin == Origin::Placement || o.polls_left == Some(0))
        .map(|(n, _)| n)
        .collect();
    for n in due {
        let (account, contract) = (i.orders[n].account_id, i.orders[n].rec.contract_id);
        let net = i.positions.get(&(account, contract)).copied().unwrap_or(0);
        let (action, qty, new_net) = match i.orders[n].origin {
            Origin::Placement => {
                let o = &i.orders[n].rec;
                let signed = if o.action == "Buy" { o.qty } else { -o.qty };
                (o.action.clone(), o.qty, net + signed)
            }
            Origin::Liquidation => {
                let action = if net > 0 { "Sell" } else { "Buy" };
                (action.to_owned(), net.abs(), 0)
            }
        };
        if qty == 0 {
            // A liquidation of a flat position: nothing to trade. The docs do not say what
            // the order becomes; the fake cancels it and records no fill.
            i.orders[n].status = "Canceled";
            continue;
        }
        if let Some(status) = i.unfilled.pop_front() {
            i.orders[n].status = status;
            if status == "Rejected" {
                i.orders[n].rejected = i.rejections.pop_front();
            }
            continue;
        }
        // Scripted: only part fills, the rest is cancelled.
        let (qty, new_net, status) = match i.in_part.pop_front() {
            Some(part) if part < qty => {
                let part = part.max(0);
                let signed = if action == "Buy" { part } else { -part };
                (part, net + signed, "Canceled")
            }
            _ => (qty, new_net, "Filled"),
        };
        let o = &mut i.orders[n];
        o.status = status;
        if qty == 0 {
            continue;
        }
        i.fill_seq += 1;
        let fill = FillRec {
            id: i.fill_seq,
            action,
            qty,
            price: i.price,
            timestamp: i.now,
            landed: now,
        };
        let o = &mut i.orders[n];
        o.fill = Some(fill);
        if !i.position_lag.is_zero() {
            // The position lists what it showed before, until the lag has passed after the
            // latest fill: "fills and the position become visible asynchronously".
            let shown = match i.position_shown.get(&(account, contract)) {
                Some(&(shown, at)) if now < at + i.position_lag => shown,
                _ => net,
            };
            i.position_shown.insert((account, contract), (shown, now));
        }
        i.positions.insert((account, contract), new_net);
    }
}

fn visible(i: &Inner, created: Instant) -> bool {
    Instant::now() >= created + i.visibility_delay
}

/// The documented `Order` entity (OpenAPI `Order`: id, accountId, contractId, timestamp,
/// action, ordStatus, admin; optional spreadDefinitionId, executionProviderId, ocoId,
/// parentId, linkedId). No `clOrdId`: that is a `Command` field.
fn order_json(o: &Placed) -> Value {
    json!({"id": o.rec.id, "accountId": o.account_id, "contractId": o.rec.contract_id,
           "timestamp": stamp(o.timestamp), "action": o.rec.action, "ordStatus": o.status,
           "admin": false})
}

/// The documented `Command` entity (OpenAPI `Command`: id, orderId, timestamp, clOrdId?,
/// commandType, commandStatus, customTag50?, isAutomated?).
fn command_json(i: &Inner, c: &Cmd) -> Value {
    let mut v = json!({"id": c.rec.id, "orderId": c.rec.order_id, "timestamp": stamp(c.timestamp),
                       "commandType": c.rec.command_type, "commandStatus": c.rec.command_status});
    if let Some(id) = shown_cl_ord_id(i, c) {
        v["clOrdId"] = json!(id);
    }
    if let Some(tag) = &c.rec.custom_tag50 {
        v["customTag50"] = json!(tag);
    }
    if let Some(auto) = c.rec.is_automated {
        v["isAutomated"] = json!(auto);
    }
    v
}

/// The documented `Fill` entity (OpenAPI `Fill`: id, orderId, contractId, timestamp,
/// tradeDate, action, qty, price (double), active, finallyPaired).
fn fill_json(o: &Placed, f: &FillRec) -> Value {
    json!({"id": f.id, "orderId": o.rec.id, "contractId": o.rec.contract_id,
           "timestamp": stamp(f.timestamp),
           "tradeDate": {"year": f.timestamp.year(), "month": f.timestamp.month(), "day": f.timestamp.day()},
           "action": f.action, "qty": f.qty, "price": f.price.to_f64().unwrap_or(0.0),
           "active": true, "finallyPaired": 0})
}

/// A command's `clOrdId` as its reads show it: none while
/// [`FakeTradovate::commands_without_cl_ord_id`] is on.
fn shown_cl_ord_id<'a>(i: &Inner, c: &'a Cmd) -> Option<&'a str> {
    c.rec.cl_ord_id.as_deref().filter(|_| !i.bare_commands)
}

fn is_cl_ord_id_key(k: &str) -> bool {
    k.replace(['_', '-'], "").eq_ignore_ascii_case("clordid")
}

/// Checks a query against the parameters the endpoint documents. Strict: anything else is a
/// violation and ignored. Lenient: a `clOrdId` filter is returned for the caller to apply.
fn check_query(
    i: &mut Inner,
    uri: &Uri,
    q: &[(String, String)],
    documented: &[&str],
) -> Option<String> {
    let mut filter = None;
    for (k, v) in q {
        if documented.contains(&k.as_str()) {
            continue;
        }
        if i.strict {
            let why = if is_cl_ord_id_key(k) {
                " (no documented query filters by clOrdId, and the Order entity has none): ignored"
            } else {
                ": not a documented parameter, ignored"
            };
            i.violations
                .push(format!("GET {uri}: query parameter {k}{why}"));
        } else if is_cl_ord_id_key(k) {
            filter = Some(v.clone());
        }
    }
    filter
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn new_command_cl_ord_id(i: &Inner, order_id: i64) -> Option<&str> {
    i.commands
        .iter()
        .find(|c| c.rec.order_id == order_id && c.rec.command_type == "New")
        .and_then(|c| c.rec.cl_ord_id.as_deref())
}

fn issue(i: &mut Inner) -> Value {
    i.token_seq += 1;
    let token = format!("tv-access-{}-{}", i.token_seq, i.now.timestamp());
    let exp = i.token_expiry.max(i.now + Duration::minutes(80));
    i.tokens.insert(token.clone(), exp);
    let mut answer = json!({"accessToken": token, "mdAccessToken": format!("md-{token}"), "expirationTime": exp.to_rfc3339(),
           "userStatus": "Active", "userId": 4321, "name": USERNAME, "hasLive": false});
    if i.tokens_without_expiry > 0 {
        i.tokens_without_expiry -= 1;
        answer.as_object_mut().map(|a| a.remove("expirationTime"));
    }
    answer
}

async fn login(State(s): State<S>, headers: HeaderMap, body: axum::Json<Value>) -> Response {
    let delay = s.lock().unwrap().login_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut i = s.lock().unwrap();
    if let Some(r) = begin(&mut i, &headers, false) {
        return r;
    }
    let b = &body.0;
    i.login_requests += 1;
    if let Some(r) = over_auth_limit(&mut i) {
        return r;
    }
    // Penalty-tickets page: the resend is the identical request plus `p-ticket`, after
    // `p-time`. One without it, or sooner, is not that resend: a violation, answered with
    // another ticket for the time left, nothing carried out.
    if let Some((ticket, until)) = i.login_ticket.take() {
        let now = Instant::now();
        let mut broke = Vec::new();
        if b.get("p-ticket").and_then(Value::as_str) != Some(ticket.as_str()) {
            broke.push("login resend without the p-ticket");
        }
        if now < until {
            broke.push("login resend before p-time had passed");
        }
        if !broke.is_empty() {
            i.violations.extend(broke.into_iter().map(String::from));
            let secs = until.saturating_duration_since(now).as_secs().max(1);
            i.login_ticket = Some((ticket.clone(), now + StdDuration::from_secs(secs)));
            return axum::Json(json!({"p-ticket": ticket, "p-time": secs, "p-captcha": false}))
                .into_response();
        }
    }
    if i.login_penalties > 0 {
        i.login_penalties -= 1;
        let (secs, captcha) = i.login_penalty;
        let ticket = format!("ticket-login-{}", i.login_requests);
        // A captcha's is not resent (a person solves it): no resend is awaited.
        if !captcha {
            i.login_ticket = Some((
                ticket.clone(),
                Instant::now() + StdDuration::from_secs(secs),
            ));
        }
        return axum::Json(json!({"p-ticket": ticket, "p-time": secs, "p-captcha": captcha}))
            .into_response();
    }
    for field in [
        "name",
        "password",
        "appId",
        "appVersion",
        "deviceId",
        "cid",
        "sec",
    ] {
        if b.get(field).is_none() {
            i.violations.push(format!("login without {field}"));
        }
    }
    if b["name"] != USERNAME || b["password"] != PASSWORD || b["cid"] != CID || b["sec"] != SEC {
        return axum::Json(
            json!({"errorText": "Incorrect username or password. Please try again."}),
        )
        .into_response();
    }
    i.logins += 1;
    axum::Json(issue(&mut i)).into_response()
}

/// Authentication is limited to 10 requests a minute (Tradovate partner API, rate limits),
/// and a login's penalty always carries a captcha: past the limit, that penalty, and a
/// violation (a client must keep under it). The page does not say which requests count, so
/// logins and renewals both do here: a client must be safe if Tradovate counts both.
fn over_auth_limit(i: &mut Inner) -> Option<Response> {
    let now = Instant::now();
    while i
        .recent_logins
        .front()
        .is_some_and(|t| now.duration_since(*t) > StdDuration::from_secs(60))
    {
        i.recent_logins.pop_front();
    }
    i.recent_logins.push_back(now);
    if i.recent_logins.len() > LOGINS_PER_MINUTE {
        let n = i.recent_logins.len();
        i.violations.push(format!(
            "{n} logins and renewals within a minute (the limit is {LOGINS_PER_MINUTE})"
        ));
        return Some(
            axum::Json(json!({"p-ticket": "ticket-login", "p-time": 0, "p-captcha": true}))
                .into_response(),
        );
    }
    None
}

async fn renew(State(s): State<S>, headers: HeaderMap) -> Response {
    let mut i = s.lock().unwrap();
    if let Some(r) = begin(&mut i, &headers, false) {
        return r;
    }
    // Counted before its token is checked, as a login is before its credentials: a renewal
    // answered 401 is an authentication request all the same.
    if let Some(r) = over_auth_limit(&mut i) {
        return r;
    }
    if let Some(r) = authorize(&i, &headers) {
        return r;
    }
    i.renewal_requests += 1;
    if i.renewal_penalties > 0 {
        i.renewal_penalties -= 1;
        return axum::Json(json!({"p-ticket": "ticket-renew", "p-time": 30, "p-captcha": false}))
            .into_response();
    }
    i.renewals += 1;
    // The renewed session keeps working; the old token is retired.
    if let Some(old) = bearer(&headers) {
        i.tokens.remove(&old);
    }
    axum::Json(issue(&mut i)).into_response()
}

async fn accounts(State(s): State<S>, headers: HeaderMap) -> Response {
    let mut i = s.lock().unwrap();
    if let Some(r) = begin(&mut i, &headers, true) {
        return r;
    }
    let list: Vec<Value> = i
        .accounts
        .iter()
        .map(|(id, name)| json!({"id": id, "name": name, "userId": 4321, "accountType": "Customer", "active": true}))
        .collect();
    axum::Json(Value::Array(list)).into_response()
}

async fn positions(State(s): State<S>, headers: HeaderMap) -> Response {
    let mut i = s.lock().unwrap();
    if let Some(r) = begin(&mut i, &headers, true) {
        return r;
    }
    i.position_reads += 1;
    if i.read_penalties > 0 {
        // Penalty-tickets page: the ticket comes "rather than the result you asked for",
        // for any request; its resend is the same request with the ticket in its body.
        i.read_penalties -= 1;
        return axum::Json(json!({"p-ticket": "ticket-read", "p-time": 1, "p-captcha": false}))
            .into_response();
    }
    // A liquidation still in flight needs this many more position reads before it may land.
    for o in i.orders.iter_mut() {
        if o.origin == Origin::Liquidation
            && o.status == "Working"
            && let Some(n) = o.polls_left.as_mut()
        {
            *n = n.saturating_sub(1);
        }
    }
    let now = Instant::now();
    // `Position`'s `tradeDate {year, month, day}` and `timestamp` (the schema's fields).
    let dated = |days_before: i64| {
        let t = i.now - Duration::days(days_before);
        (
            json!({"year": t.year(), "month": t.month(), "day": t.day()}),
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        )
    };
    let mut list: Vec<(&(i64, i64), &i64)> = i.positions.iter().collect();
    list.sort();
    let mut entries: Vec<Value> = i
        .earlier_entries
        .iter()
        .enumerate()
        .map(|(n, &(a, c, net, days))| {
            let (date, stamp) = dated(days);
            json!({"id": 900_000 + n as i64, "accountId": a, "contractId": c, "netPos": net,
                   "tradeDate": date, "timestamp": stamp})
        })
        .collect();
    entries.extend(list.into_iter().map(|(key @ (a, c), n)| {
        // Within the lag after a fill, the net from before it.
        let n = match i.position_shown.get(key) {
            Some(&(shown, at)) if now < at + i.position_lag => shown,
            _ => *n,
        };
        let (date, stamp) = dated(0);
        json!({"id": c + 7, "accountId": a, "contractId": c, "netPos": n,
               "tradeDate": date, "timestamp": stamp})
    }));
    axum::Json(Value::Array(entries)).into_response()
}

async fn contract_find(State(s): State<S>, headers: HeaderMap, Query(q): Q) -> Response {
    let mut i = s.lock().unwrap();
    if let Some(r) = begin(&mut i, &headers, true) {
        return r;
    }
    match param(&q, "name").and_then(|n| i.contracts.get(n).map(|id| (n, id))) {
        Some((n, id)) => {
            axum::Json(json!({"id": id, "name": n, "contractMaturityId": 52000})).into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// `GET /contract/item?id=`: one contract by id (OpenAPI `Contract`).
async fn contract_item(State(s): State<S>, headers: HeaderMap, Query(q): Q) -> Response {
    let mut i = s.lock().unwrap();
    if let Some(r) = begin(&mut i, &headers, true) {
        return r;
    }
    let id = param(&q, "id").and_then(|v| v.parse::<i64>().ok());
    match i.contracts.iter().find(|(_, c)| Some(**c) == id) {
        Some((n, id)) => {
            axum::Json(json!({"id": id, "name": n, "contractMaturityId": 52000})).into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

async fn roll(State(s): State<S>, headers: HeaderMap, body: axum::Json<Value>) -> Response {
    let mut i = s.lock().unwrap();
    if let Some(r) = begin(&mut i, &headers, true) {
        return r;
    }
    let name = body.0["name"].as_str().unwrap_or("").to_owned();
    let root: String = name
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    match i.front.get(&name).or_else(|| i.front.get(&root)) {
        Some(c) => {
            axum::Json(json!({"contract": {"id": i.contracts[c], "name": c}})).into_response()
        }
        None => axum::Json(json!({"errorText": format!("no contract for {name}")})).into_response(),
    }
}

/// Applies a scripted fault meant for an order command, if one is next.
fn command_fault(i: &mut Inner, body: &Value) -> Option<Response> {
    if let Some((ticket, until)) = i.pending_ticket.take() {
        // Penalty-tickets page: resend after `p-time` seconds with the `p-ticket` added.
        let mut broke = false;
        if body.get("p-ticket").and_then(Value::as_str) != Some(ticket.as_str()) {
            i.violations
                .push("penalty resend without the p-ticket".into());
            broke = true;
        }
        let now = Instant::now();
        if now < until {
            i.violations
                .push("penalty resend before p-time had passed".into());
            broke = true;
        }
        // Nothing documents such a resend being carried out: it draws another ticket, for
        // the time left (at least a second), and nothing is placed.
        if broke {
            let secs = until.saturating_duration_since(now).as_secs().max(1);
            let ticket = format!("ticket-{}-again", i.order_seq);
            i.pending_ticket = Some((ticket.clone(), now + StdDuration::from_secs(secs)));
            return Some(
                axum::Json(json!({"p-ticket": ticket, "p-time": secs, "p-captcha": false}))
                    .into_response(),
            );
        }
        // The resend may itself draw a penalty (scripted as the next fault).
        if !matches!(i.faults.front(), Some(Fault::Penalty(_))) {
            return None;
        }
    }
    match i.faults.front().cloned() {
        Some(Fault::Penalty(secs)) => {
            i.faults.pop_front();
            let ticket = format!("ticket-{}", i.order_seq);
            let until = Instant::now() + StdDuration::from_secs(secs);
            i.pending_ticket = Some((ticket.clone(), until));
            Some(
                axum::Json(json!({"p-ticket": ticket, "p-time": secs, "p-captcha": false}))
                    .into_response(),
            )
        }
        Some(Fault::Refuse(reason)) => {
            i.faults.pop_front();
            Some(
                axum::Json(json!({"failureReason": reason, "failureText": "refused (scripted)"}))
                    .into_response(),
            )
        }
        Some(Fault::Unauthorized) => {
            i.faults.pop_front();
            Some((StatusCode::UNAUTHORIZED, "Access is denied").into_response())
        }
        Some(Fault::TooManyRetryAfter(secs)) => {
            i.faults.pop_front();
            // The header is not Tradovate's: the stop lasts the documented hour all the same.
            i.blocked_until = Some(Instant::now() + StdDuration::from_secs(3600));
            Some(
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", secs.to_string())],
                    "",
                )
                    .into_response(),
            )
        }
        Some(Fault::TooMany(secs)) => {
            i.faults.pop_front();
            i.blocked_until = Some(Instant::now() + StdDuration::from_secs(secs));
            Some(too_many())
        }
        _ => None,
    }
}

fn account_ok(i: &Inner, spec: &Value, id: &Value) -> Option<i64> {
    i.accounts
        .iter()
        .find(|(aid, name)| id == aid && spec == name.as_str())
        .map(|(aid, _)| *aid)
}

/// Creates an order and its `New` command; returns the order id.
fn create(
    i: &mut Inner,
    account_id: i64,
    origin: Origin,
    rec: OrderRec,
    cl_ord_id: Option<String>,
    body: &Value,
) -> i64 {
    let now = Instant::now();
    let id = rec.id;
    let polls_left = match origin {
        Origin::Placement => Some(0),
        Origin::Liquidation => i.liquidation_polls,
    };
    i.orders.push(Placed {
        rec,
        account_id,
        origin,
        timestamp: i.now,
        created: now,
        status: "Working",
        polls_left,
        fill: None,
        rejected: None,
    });
    i.command_seq += 1;
    let cmd = CommandRec {
        id: i.command_seq,
        order_id: id,
        cl_ord_id,
        command_type: "New".into(),
        // The command was accepted and passed on; its order's status tells the rest.
        command_status: "AtExecution".into(),
        is_automated: body.get("isAutomated").and_then(Value::as_bool),
        custom_tag50: body
            .get("customTag50")
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    let timestamp = i.now;
    i.commands.push(Cmd {
        rec: cmd,
        timestamp,
        created: now,
    });
    id
}

async fn place(State(s): State<S>, headers: HeaderMap, body: axum::Json<Value>) -> Response {
    let mut i = s.lock().unwrap();
    i.order_commands += 1;
    if let Some(r) = begin(&mut i, &headers, true) {
        return r;
    }
    let b = body.0;
    if let Some(r) = command_fault(&mut i, &b) {
        return r;
    }
    let mut bad = Vec::new();
    // place-order page: "isAutomated: true // must be true if this isn't an order made
    // directly by a human".
    if b["isAutomated"] != true {
        bad.push("isAutomated must be true for automated orders".to_owned());
    }
    let account = account_ok(&i, &b["accountSpec"], &b["accountId"]);
    if account.is_none() {
        bad.push(format!(
            "accountSpec/accountId {} {}",
            b["accountSpec"], b["accountId"]
        ));
    }
    if !matches!(b["action"].as_str(), Some("Buy" | "Sell")) {
        bad.push(format!("action {}", b["action"]));
    }
    if b["orderType"] != "Market" {
        bad.push(format!("orderType {}", b["orderType"]));
    }
    let qty = b["orderQty"].as_i64().filter(|q| *q > 0);
    if qty.is_none() {
        bad.push(format!(
            "orderQty {} is not a positive integer",
            b["orderQty"]
        ));
    }
    if b["clOrdId"].as_str().is_none_or(str::is_empty) {
        bad.push("clOrdId missing".into());
    }
    let contract = b["symbol"]
        .as_str()
        .and_then(|n| i.contracts.get(n).copied());
    if contract.is_none() {
        bad.push(format!("unknown symbol {}", b["symbol"]));
    }
    if !bad.is_empty() {
        i.violations.extend(bad.iter().cloned());
        return axum::Json(
            json!({"failureReason": "UnknownReason", "failureText": bad.join("; ")}),
        )
        .into_response();
    }
    let fault = match i.faults.front() {
        Some(
            Fault::ErrorAfterCreate
            | Fault::ErrorBeforeCreate
            | Fault::UnauthorizedAfterCreate
            | Fault::StatusAfterCreate(_)
            | Fault::FailureWithOrder(_)
            | Fault::FailureAfterCreate(_),
        ) => i.faults.pop_front(),
        _ => None,
    };
    if matches!(fault, Some(Fault::ErrorBeforeCreate)) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    }
    let (account, contract, qty) = (account.unwrap(), contract.unwrap(), qty.unwrap());
    let net = i.positions.get(&(account, contract)).copied().unwrap_or(0);
    let signed = if b["action"] == "Buy" { qty } else { -qty };
    if net != 0 && (net > 0) != (signed > 0) {
        i.violations.push(format!(
            "order against an open opposite position (net {net}, order {signed})"
        ));
    }
    i.order_seq += 1;
    let id = i.order_seq;
    let cl_ord_id = b["clOrdId"].as_str().map(str::to_owned);
    let rec = OrderRec {
        id,
        cl_ord_id: cl_ord_id.clone(),
        contract_id: contract,
        action: b["action"].as_str().unwrap_or("").to_owned(),
        qty,
        body: b.clone(),
    };
    // Asynchronous: the order is `Working` now and fills after the fill delay.
    create(&mut i, account, Origin::Placement, rec, cl_ord_id, &b);
    if matches!(fault, Some(Fault::ErrorAfterCreate)) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    }
    if matches!(fault, Some(Fault::UnauthorizedAfterCreate)) {
        return (StatusCode::UNAUTHORIZED, "Access is denied").into_response();
    }
    if let Some(Fault::StatusAfterCreate(status)) = fault {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        return (status, "scripted").into_response();
    }
    if let Some(Fault::FailureWithOrder(reason)) = fault {
        return axum::Json(json!({
            "orderId": id,
            "failureReason": reason,
            "failureText": "scripted",
        }))
        .into_response();
    }
    if let Some(Fault::FailureAfterCreate(reason)) = fault {
        return axum::Json(json!({"failureReason": reason, "failureText": "scripted"}))
            .into_response();
    }
    axum::Json(json!({"orderId": id})).into_response()
}

async fn liquidate(State(s): State<S>, headers: HeaderMap, body: axum::Json<Value>) -> Response {
    let mut i = s.lock().unwrap();
    i.order_commands += 1;
    if let Some(r) = begin(&mut i, &headers, true) {
        return r;
    }
    let b = body.0;
    if let Some(r) = command_fault(&mut i, &b) {
        return r;
    }
    // liquidate-position page: the body is accountId, contractId, admin, customTag50?,
    // isAutomated?.
    let account = b["accountId"]
        .as_i64()
        .filter(|a| i.accounts.iter().any(|(id, _)| id == a));
    if account.is_none()
        || b["admin"] != false
        || b["isAutomated"] != true
        || b["contractId"].as_i64().is_none()
    {
        i.violations.push(format!("liquidateposition body {b}"));
        return axum::Json(
            json!({"failureReason": "UnknownReason", "failureText": "invalid liquidation"}),
        )
        .into_response();
    }
    // LiquidatePosition documents no clOrdId: strict, it is a violation and dropped.
    let cl_ord_id = b["clOrdId"].as_str().map(str::to_owned);
    let cl_ord_id = if cl_ord_id.is_some() && i.strict {
        i.violations.push(
            "liquidateposition with clOrdId: not a documented LiquidatePosition field, ignored"
                .into(),
        );
        None
    } else {
        cl_ord_id
    };
    let fault = match i.faults.front() {
        Some(Fault::ErrorAfterCreate | Fault::ErrorBeforeCreate) => i.faults.pop_front(),
        _ => None,
    };
    if matches!(fault, Some(Fault::ErrorBeforeCreate)) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    }
    let (account, contract) = (account.unwrap(), b["contractId"].as_i64().unwrap());
    i.liquidations += 1;
    let net = i.positions.get(&(account, contract)).copied().unwrap_or(0);
    i.order_seq += 1;
    let id = i.order_seq;
    let rec = OrderRec {
        id,
        cl_ord_id: cl_ord_id.clone(),
        contract_id: contract,
        action: if net > 0 { "Sell" } else { "Buy" }.to_owned(),
        qty: net.abs(),
        body: b.clone(),
    };
    create(&mut i, account, Origin::Liquidation, rec, cl_ord_id, &b);
    if matches!(fault, Some(Fault::ErrorAfterCreate)) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    }
    axum::Json(json!({"orderId": id})).into_response()
}

async fn order_item(State(s): State<S>, headers: HeaderMap, uri: Uri, Query(q): Q) -> Response {
    let mut i = s.lock().unwrap();
    if let Some(r) = begin(&mut i, &headers, true) {
        return r;
    }
    check_query(&mut i, &uri, &q, &["id"]);
    let id: i64 = param(&q, "id").and_then(|v| v.parse().ok()).unwrap_or(0);
    let visible_at =
        |i: &Inner, n: usize| i.orders[n].rec.id == id && visible(i, i.orders[n].created);
    let Some(n) = (0..i.orders.len()).find(|&n| visible_at(&i, n)) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let answer = axum::Json(order_json(&i.orders[n])).into_response();
    // A liquidation in flight counts a read of its own order as a poll too
    // ([`FakeTradovate::liquidation_takes`]), as it counts a position read.
    let o = &mut i.orders[n];
    if o.origin == Origin::Liquidation
        && o.status == "Working"
        && let Some(left) = o.polls_left.as_mut()
    {
        *left = left.saturating_sub(1);
    }
    answer
}

fn orders_answer(i: &Inner, account: Option<i64>, filter: Option<&str>) -> Response {
    let list: Vec<Value> = i
        .orders
        .iter()
        .filter(|o| account.is_none_or(|a| o.account_id == a))
        .filter(|o| visible(i, o.created))
        .filter(|o| filter.is_none_or(|f| new_command_cl_ord_id(i, o.rec.id) == Some(f)))
        .map(order_json)
        .collect();
    let mut list = list;
    if let Some((first, _)) = i.accounts.first()
        && i.spread_order
        && account.is_none_or(|a| a == *first)
        && filter.is_none()
    {
        list.push(
            json!({"id": 990_001, "accountId": first, "contractId": null,
                         "spreadDefinitionId": 77, "timestamp": "2026-01-01T00:00:00Z",
                         "action": "Buy", "ordStatus": "Working", "admin": false}),
        );
    }
    axum::Json(Value::Array(list)).into_response()
}

/// `order/list`: every order of the user's accounts.
async fn order_list(State(s): State<S>, headers: HeaderMap, uri: Uri, Query(q): Q) -> Response {
    let mut i = s.lock().unwrap();
    if let Some(r) = begin(&mut i, &headers, true) {
        return r;
    }
    let filter = check_query(&mut i, &uri, &q, &[]);
    orders_answer(&i, None, filter.as_deref())
}

/// `order/deps?masterid=<accountId>`: the orders of one account.
async fn order_deps(State(s): State<S>, headers: HeaderMap, uri: Uri, Query(q): Q) -> Response {
    let mut i = s.lock().unwrap();
    if let Some(r) = begin(&mut i, &headers, true) {
        return r;
    }
    let filter = check_query(&mut i, &uri, &q, &["masterid"]);
    let Some(account) = param(&q, "masterid")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|a| i.accounts.iter().any(|(id, _)| id == a))
    else {
        return axum::Json(json!([])).into_response();
    };
    orders_answer(&i, Some(account), filter.as_deref())
}

fn commands_answer(i: &Inner, order: Option<i64>, filter: Option<&str>) -> Response {
    let list: Vec<Value> = i
        .commands
        .iter()
        .filter(|c| order.is_none_or(|o| c.rec.order_id == o))
        .filter(|c| visible(i, c.created + i.command_delay))
        .filter(|c| filter.is_none_or(|f| shown_cl_ord_id(i, c) == Some(f)))
        .map(|c| command_json(i, c))
        .collect();
    axum::Json(Value::Array(list)).into_response()
}

async fn command_item(State(s): State<S>, headers: HeaderMap, uri: Uri, Query(q): Q) -> Response {
    let mut i = s.lock().unwrap();
    if let Some(r) = begin(&mut i, &headers, true) {
        return r;
    }
    check_query(&mut i, &uri, &q, &["id"]);
    let id: i64 = param(&q, "id").and_then(|v| v.parse().ok()).unwrap_or(0);
    match i
        .commands
        .iter()
        .find(|c| c.rec.id == id && visible(&i, c.created + i.command_delay))
    {
        Some(c) => axum::Json(command_json(&i, c)).into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// `command/list`: every command of the user.
async fn command_list(State(s): State<S>, headers: HeaderMap, uri: Uri, Query(q): Q) -> Response {
    let mut i = s.lock().unwrap();
    if let Some(r) = begin(&mut i, &headers, true) {
        return r;
    }
    let filter = check_query(&mut i, &uri, &q, &[]);
    commands_answer(&i, None, filter.as_deref())
}

/// `command/deps?masterid=<orderId>`: the commands of one order.
async fn command_deps(State(s): State<S>, headers: HeaderMap, uri: Uri, Query(q): Q) -> Response {
    let mut i = s.lock().unwrap();
    if let Some(r) = begin(&mut i, &headers, true) {
        return r;
    }
    let filter = check_query(&mut i, &uri, &q, &["masterid"]);
    let order: i64 = param(&q, "masterid")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    commands_answer(&i, Some(order), filter.as_deref())
}

/// `commandReport/deps?masterid=<commandId>`: the `CommandReport` entities of one command
/// (Tradovate partner API, Orders: Command Report Dependents; `commandId`, `timestamp` and
/// `commandStatus` required, `rejectReason` and `text` optional). One report a command, its
/// status; for an order scripted to be rejected after acceptance, a `RiskPassed` one saying
/// `Success`, then `RiskRejected` with the scripted reason and text.
async fn command_report_deps(
    State(s): State<S>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Q,
) -> Response {
    let delay = s.lock().unwrap().command_report_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut i = s.lock().unwrap();
    if let Some(r) = begin(&mut i, &headers, true) {
        return r;
    }
    check_query(&mut i, &uri, &q, &["masterid"]);
    i.command_report_reads += 1;
    let id: i64 = param(&q, "masterid")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let list: Vec<Value> = i
        .commands
        .iter()
        .filter(|c| c.rec.id == id && visible(&i, c.created + i.command_delay))
        .flat_map(|c| {
            let rejected = i
                .orders
                .iter()
                .find(|o| o.rec.id == c.rec.order_id)
                .and_then(|o| o.rejected);
            let report = |n: i64, status: &str| {
                json!({"id": c.rec.id * 10 + n, "commandId": c.rec.id,
                       "timestamp": stamp(c.timestamp), "commandStatus": status})
            };
            match rejected {
                // The documents give no order for a command's reports, nor say which carry
                // `rejectReason` (`Success` is one of its values): a passing report first.
                Some((reason, text)) => {
                    let mut passed = report(1, "RiskPassed");
                    passed["rejectReason"] = json!("Success");
                    let mut refused = report(2, "RiskRejected");
                    refused["rejectReason"] = json!(reason);
                    refused["text"] = json!(text);
                    vec![passed, refused]
                }
                None => vec![report(1, &c.rec.command_status)],
            }
        })
        .collect();
    axum::Json(Value::Array(list)).into_response()
}

/// `fillFee/deps?masterid=<fillId>`: the `FillFee` entities of one fill (Tradovate partner
/// API, Orders: Fill Fee Dependents), amounts as JSON numbers (`double` in the schema).
async fn fill_fee_deps(State(s): State<S>, headers: HeaderMap, uri: Uri, Query(q): Q) -> Response {
    let mut i = s.lock().unwrap();
    if let Some(r) = begin(&mut i, &headers, true) {
        return r;
    }
    check_query(&mut i, &uri, &q, &["masterid"]);
    let id: i64 = param(&q, "masterid")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let fill = i
        .orders
        .iter()
        .filter(|o| visible(&i, o.created))
        .find_map(|o| o.fill.as_ref().filter(|f| f.id == id));
    let list: Vec<Value> = match (fill, i.fill_fee) {
        (Some(f), Some((commission, exchange, clearing, nfa, currency))) => {
            let per = |fee: Decimal| (fee * Decimal::from(f.qty)).to_f64().unwrap_or(0.0);
            vec![
                json!({"id": f.id, "commission": per(commission), "commissionCurrencyId": currency,
                        "exchangeFee": per(exchange), "exchangeCurrencyId": currency,
                        "clearingFee": per(clearing), "clearingCurrencyId": currency,
                        "nfaFee": per(nfa), "nfaCurrencyId": currency}),
            ]
        }
        _ => Vec::new(),
    };
    axum::Json(Value::Array(list)).into_response()
}

/// `fill/deps?masterid=<orderId>`: the fills of one order (none while it is `Working`).
async fn fill_deps(State(s): State<S>, headers: HeaderMap, uri: Uri, Query(q): Q) -> Response {
    let mut i = s.lock().unwrap();
    if let Some(r) = begin(&mut i, &headers, true) {
        return r;
    }
    check_query(&mut i, &uri, &q, &["masterid"]);
    let id: i64 = param(&q, "masterid")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let list: Vec<Value> = i
        .orders
        .iter()
        .filter(|o| o.rec.id == id && visible(&i, o.created))
        .filter_map(|o| o.fill.as_ref().map(|f| (o, f)))
        .filter(|(_, f)| Instant::now() >= f.landed + i.fill_listing_delay)
        .map(|(o, f)| fill_json(o, f))
        .collect();
    axum::Json(Value::Array(list)).into_response()
}
