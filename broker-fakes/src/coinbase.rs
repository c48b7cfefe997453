//! A Coinbase Advanced Trade server for tests, on 127.0.0.1, speaking the documented wire
//! format: the Advanced Trade REST reference
//! (<https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/orders/create-order>
//! and its sibling pages for accounts, products and orders) and the API key authentication
//! guide (<https://docs.cdp.coinbase.com/coinbase-app/authentication-authorization/api-key-authentication>).
//!
//! Every request must carry a JWT that verifies against a registered public key: the `kid`
//! picks the key, `alg` must be that key's, the signature must hold, `sub` = `kid`,
//! `iss` = `cdp`, `nbf` ≤ now < `exp` with `exp - nbf` ≤ 120 s (now from the test's clock),
//! a hex `nonce`, and `uri` = `"{METHOD} {host:port}{path}"` without the query. Anything else
//! is a 401, counted in `auth_failures()`.
//!
//! It keeps wallets and products, pages accounts and order lists with a small page size,
//! checks each order body (client id, exactly one `order_configuration` variant, sizes as
//! decimal strings within the product's increments and minimums), fills market IOC orders at
//! the product price without fees, and scripts faults on `POST /orders`.
//!
//! Assumption where the docs leave it open: a repeated `client_order_id` creates nothing and
//! answers `success: true` with the order already stored under that id (Coinbase documents
//! that the existing order is returned; the exact body is not documented).
#![allow(dead_code, clippy::unwrap_used)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};
use shared::clock::{Clock, ManualClock};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const BASE_PATH: &str = "/api/v3/brokerage";

#[derive(Debug, Clone)]
pub enum Fault {
    /// `success: false` with this `error_response`: nothing is created.
    Reject {
        error: &'static str,
        message: &'static str,
        preview_failure_reason: &'static str,
    },
    /// [`Fault::Reject`]'s body with HTTP 400: Coinbase documents the `success: false` shape,
    /// not the status it comes with.
    RejectAs400 {
        error: &'static str,
        message: &'static str,
        preview_failure_reason: &'static str,
    },
    /// A 400 validation error with a JSON body.
    BadRequest(&'static str),
    /// Create and fill the order, then answer 503.
    ErrorAfterCreate,
    /// Create and fill the order, then answer after this delay (beyond the client timeout).
    DelayAfterCreate(Duration),
    /// Answer 503 without creating anything.
    ErrorBeforeCreate,
    /// Answer 429 without creating anything (the status of a request over a rate limit,
    /// RFC 6585 section 4, with `x-ratelimit-*` headers Coinbase's SDK names; Coinbase does
    /// not document whether such an order request was carried out).
    TooMany,
    /// Create and fill the order, then answer 429 as [`Fault::TooMany`] does.
    TooManyAfterCreate,
    /// Answer 401 without creating anything, as the fake answers a token it does not accept
    /// (a key revoked or rotated between two sends, a clock off by more than the token's two
    /// minutes; the Advanced Trade SDK raises any 4xx as `HTTPError`,
    /// `rest_base.handle_exception`).
    Unauthorized,
    /// Answer 403 without creating anything, its `error_details` "Missing required scopes":
    /// a key without the trade permission (the official SDK's reading of that answer,
    /// `rest_base.handle_exception`).
    MissingScopes,
    /// Create the order and answer `success: true`, but show it `OPEN` with nothing filled to
    /// the next `reads` reads of the order (`GET /orders/historical/{id}`); then it is final:
    /// filled, or (`cancelled`) `CANCELLED` with nothing filled and the wallets untouched, as
    /// an IOC order that found no liquidity ends. Coinbase documents no time within which a
    /// market IOC order is final.
    WorkingFor { reads: usize, cancelled: bool },
    /// As [`Fault::WorkingFor`] (then filled), but `OPEN` showing `share` (0 to 1) of its
    /// fill so far: `filled_size` is a field of an order whatever its status (Advanced Trade
    /// API, `Order`), and the documents promise no market IOC order final at its first read.
    WorkingInPartFor { reads: usize, share: Decimal },
    /// Liquidity for only this share (0 to 1) of the next order: it fills that much,
    /// rounded down to the product's `base_increment`, and ends `CANCELLED` with that
    /// `filled_size`, the rest not filled, as a market IOC order may. (Coinbase documents
    /// neither a partly filled IOC order's final status nor that one is never `FILLED`:
    /// clients must read the size.)
    FillInPart(Decimal),
    /// Create the order as usual, but show it to the next `reads` reads of the order with
    /// its final status, `settled: false` and nothing filled yet; then as it ended. Get
    /// Order's `settled` is a field of the order (Advanced Trade API, `Order`), and the
    /// documents do not say that a final status comes with its fills final: clients must
    /// not take an unsettled order's size for what it traded.
    UnsettledFor(usize),
    /// As [`Fault::UnsettledFor`], but showing `share` (0 to 1) of what the order filled
    /// (rounded down to 8 places) while unsettled: fills listed so far, the rest still
    /// being recorded. The documents promise no order in which an unsettled order's size
    /// grows, so a client must not read a size shown unsettled as all it traded.
    UnsettledInPartFor { reads: usize, share: Decimal },
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Value,
}

#[derive(Debug, Clone)]
pub struct ProductSpec {
    pub base_increment: Decimal,
    pub quote_increment: Decimal,
    pub base_min_size: Decimal,
    pub quote_min_size: Decimal,
    /// Get Product's `base_max_size` and `quote_max_size`: an order sized over either is
    /// refused (`PREVIEW_INVALID_BASE_SIZE_TOO_LARGE`, `PREVIEW_INVALID_QUOTE_SIZE_TOO_LARGE`)
    /// and counted a violation, as a client can check them before it sends.
    pub base_max_size: Decimal,
    pub quote_max_size: Decimal,
    pub price: Decimal,
    pub trading_disabled: bool,
    /// Get Product's `post_only` and `auction_mode` (and `trading_disabled` above); the fake
    /// fills a market order whatever they say (what Coinbase does with one then is not
    /// documented) and counts it a violation: the client must not send one.
    pub post_only: bool,
    pub auction_mode: bool,
    /// Get Product's `is_disabled`, `cancel_only` and `limit_only`, counted a violation as
    /// the flags above are.
    pub is_disabled: bool,
    pub cancel_only: bool,
    pub limit_only: bool,
    /// Get Product's `view_only`: the product may be viewed, not traded; counted a
    /// violation as the flags above are.
    pub view_only: bool,
}

#[derive(Debug, Clone)]
struct StoredOrder {
    order_id: String,
    client_order_id: String,
    product_id: String,
    side: String,
    status: &'static str,
    filled_size: Decimal,
    price: Decimal,
    filled_value: Decimal,
    /// `total_fees`, in the quote currency: `filled_value` × the fee rate.
    total_fees: Decimal,
    created: DateTime<Utc>,
    configuration: Value,
    /// Reads left that show it final but unsettled, nothing filled ([`Fault::UnsettledFor`]).
    shown_unsettled: usize,
    /// The share of its fill an unsettled read shows ([`Fault::UnsettledInPartFor`]); `None`,
    /// nothing.
    unsettled_share: Option<Decimal>,
    /// Reads of the order left that show it `OPEN` with nothing filled ([`Fault::WorkingFor`]).
    shown_open: usize,
    /// The share of its fill an `OPEN` read shows ([`Fault::WorkingInPartFor`]); `None`,
    /// nothing.
    open_share: Option<Decimal>,
}

struct Registered {
    alg: Algorithm,
    key: DecodingKey,
}

struct Inner {
    /// Orders are shown without `filled_size` (`omit_filled_size`).
    omits_filled_size: bool,
    keys: HashMap<String, Registered>,
    wallets: BTreeMap<String, Decimal>,
    /// How long after an order moves a wallet `/accounts` still shows its balance from
    /// before ([`FakeCoinbase::set_balance_lag`]).
    balance_lag: Duration,
    /// Per wallet an order moved within the lag: the balance shown until the lag has
    /// passed, and when the latest order moved it.
    balance_shown: BTreeMap<String, (Decimal, std::time::Instant)>,
    /// How the main portfolio's accounts name it: `Some("portfolio-1")` (the default), or
    /// `""`, or `None` (the field left null) ([`FakeCoinbase::write_portfolio_id`]).
    main_portfolio_id: Option<String>,
    /// A second portfolio's accounts the key sees ([`FakeCoinbase::set_other_portfolio_wallet`]);
    /// orders never touch them.
    other_portfolio: BTreeMap<String, Decimal>,
    /// Vault accounts of the first portfolio ([`FakeCoinbase::set_vault`]); orders never
    /// touch them.
    vaults: BTreeMap<String, Decimal>,
    /// Funds on hold in the first portfolio's trading accounts ([`FakeCoinbase::set_hold`]).
    holds: BTreeMap<String, Decimal>,
    products: HashMap<String, ProductSpec>,
    orders: Vec<StoredOrder>,
    requests: Vec<Recorded>,
    violations: Vec<String>,
    auth_failures: Vec<String>,
    tokens: Vec<String>,
    faults: VecDeque<Fault>,
    page_size: usize,
    /// A page with more after it carries no cursor ([`FakeCoinbase::drop_cursors`]).
    cursorless: bool,
    duplicate_posts: usize,
    next_id: u64,
    /// The fee rate every fill pays (0 until set): Coinbase charges a fee on the filled value
    /// in the quote currency and reports it as the order's `total_fees`.
    fee_rate: Decimal,
    /// A reused client order id is answered `success: false` (see [`FakeCoinbase::undocumented_duplicate_failure`]).
    duplicates_fail: bool,
    /// List reads (`orders/historical/batch`) left that leave out the newest order: an order
    /// list lagging a fresh order, which no document rules out.
    list_lag: usize,
}

#[derive(Clone)]
pub struct FakeCoinbase {
    /// The base URL a client is given: `http://127.0.0.1:PORT/api/v3/brokerage`.
    pub url: String,
    /// `127.0.0.1:PORT`, as the JWT `uri` claim must name it.
    pub host: String,
    inner: Arc<Mutex<Inner>>,
    clock: ManualClock,
    outage: crate::ReadOutage,
}

type Shared = (Arc<Mutex<Inner>>, ManualClock, String);

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

impl FakeCoinbase {
    pub async fn start(clock: ManualClock) -> Self {
        let mut products = HashMap::new();
        products.insert(
            "BTC-USD".to_owned(),
            ProductSpec {
                base_increment: d("0.00000001"),
                quote_increment: d("0.01"),
                base_min_size: d("0.00001"),
                quote_min_size: d("1"),
                base_max_size: d("3400"),
                quote_max_size: d("150000000"),
                price: d("50000"),
                trading_disabled: false,
                post_only: false,
                auction_mode: false,
                is_disabled: false,
                cancel_only: false,
                view_only: false,
                limit_only: false,
            },
        );
        let wallets: BTreeMap<String, Decimal> = [
            ("BTC", "0"),
            ("ETH", "2.5"),
            ("USD", "1000"),
            ("USDC", "50"),
        ]
        .into_iter()
        .map(|(c, v)| (c.to_owned(), d(v)))
        .collect();
        let inner = Arc::new(Mutex::new(Inner {
            omits_filled_size: false,
            keys: HashMap::new(),
            wallets,
            balance_lag: Duration::ZERO,
            balance_shown: BTreeMap::new(),
            other_portfolio: BTreeMap::new(),
            main_portfolio_id: Some("portfolio-1".into()),
            vaults: BTreeMap::new(),
            holds: BTreeMap::new(),
            products,
            orders: Vec::new(),
            requests: Vec::new(),
            violations: Vec::new(),
            auth_failures: Vec::new(),
            tokens: Vec::new(),
            faults: VecDeque::new(),
            page_size: 2,
            cursorless: false,
            fee_rate: Decimal::ZERO,
            duplicates_fail: false,
            list_lag: 0,
            duplicate_posts: 0,
            next_id: 0,
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let shared: Shared = (inner.clone(), clock.clone(), host.clone());
        let outage = crate::ReadOutage::new(
            json!({"error": "UNAVAILABLE", "error_details": "", "message": "service unavailable"}),
        );
        let app = Router::new().fallback(handle).with_state(shared).layer(
            axum::middleware::from_fn_with_state(outage.clone(), crate::ReadOutage::layer),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{host}{BASE_PATH}"),
            host,
            inner,
            clock,
            outage,
        }
    }

    /// The next `n` GET requests whose path contains `part` (`/orders/historical`) answer 503.
    pub fn fail_reads(&self, part: &str, n: usize) {
        self.outage.fail(part, n);
    }

    /// The next `n` GET requests whose path contains `part` answer 429, the status of a
    /// request over a rate limit (RFC 6585, section 4). Coinbase's Advanced Trade rate-limit
    /// page (<https://docs.cdp.coinbase.com/advanced-trade/docs/rest-api-rate-limits>) was not
    /// retrieved here; the client is safe whether a limit answers 429 or any other error.
    pub fn limit_reads(&self, part: &str, n: usize) {
        self.outage
            .fail_with(part, n, axum::http::StatusCode::TOO_MANY_REQUESTS);
    }

    /// The next `n` GET requests whose path contains `part` answer `status` (a 404 from a
    /// gateway or a wrong base URL in front of the order list, say).
    pub fn fail_reads_with(&self, part: &str, n: usize, status: axum::http::StatusCode) {
        self.outage.fail_with(part, n, status);
    }

    /// As [`limit_reads`](Self::limit_reads), after letting the next `skip` matching reads
    /// through: a limit reached in the middle of a signal (after the reads before its order).
    pub fn limit_reads_after(&self, part: &str, skip: usize, n: usize) {
        self.outage
            .fail_after(part, skip, n, axum::http::StatusCode::TOO_MANY_REQUESTS);
    }

    /// How many of the reads [`fail_reads`](Self::fail_reads) or
    /// [`limit_reads`](Self::limit_reads) asked to fail are still to come (a failed read is
    /// answered before it is recorded: [`calls_to`](Self::calls_to) does not count it).
    pub fn failing_reads_left(&self) -> usize {
        self.outage.left()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// Registers a P-256 public key under `kid` (ES256).
    pub fn register_es256(&self, kid: &str, public: &p256::PublicKey) {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let point = public.to_encoded_point(false);
        self.lock().keys.insert(
            kid.to_owned(),
            Registered {
                alg: Algorithm::ES256,
                key: DecodingKey::from_ec_der(point.as_bytes()),
            },
        );
    }

    /// Registers an Ed25519 public key (32 bytes) under `kid` (EdDSA).
    pub fn register_ed25519(&self, kid: &str, public: &[u8]) {
        use base64::Engine;
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public);
        self.lock().keys.insert(
            kid.to_owned(),
            Registered {
                alg: Algorithm::EdDSA,
                key: DecodingKey::from_ed_components(&x).unwrap(),
            },
        );
    }

    /// A vault account (List Accounts' `type` `ACCOUNT_TYPE_VAULT`) of the first portfolio
    /// holding `amount` of `currency`, beside its trading account; orders never draw on it.
    pub fn set_vault(&self, currency: &str, amount: &str) {
        self.lock().vaults.insert(currency.to_owned(), d(amount));
    }

    /// `amount` of `currency` on hold in the first portfolio's trading account (List
    /// Accounts' `hold`: funds reserved, as by an open order or a pending transfer), beside
    /// its available balance, which is what orders draw on. A sale sized from available plus
    /// hold is refused as over the funds.
    pub fn set_hold(&self, currency: &str, amount: &str) {
        self.lock().holds.insert(currency.to_owned(), d(amount));
    }

    /// A balance in a second portfolio the key sees, listed by `/accounts` beside the first's
    /// ("a currency can appear once per portfolio", List Accounts); orders draw on the first.
    /// How the main portfolio's crypto accounts give `retail_portfolio_id` (its USD account
    /// names it whatever this says): `Some("")` an empty string, `None` null (List Accounts
    /// documents the field; how an unset one is written is not said, and Coinbase writes
    /// other unset fields as `""`).
    pub fn write_portfolio_id(&self, id: Option<&str>) {
        self.lock().main_portfolio_id = id.map(str::to_owned);
    }

    pub fn set_other_portfolio_wallet(&self, currency: &str, amount: &str) {
        self.lock()
            .other_portfolio
            .insert(currency.to_owned(), d(amount));
    }

    /// For this long after an order moves a wallet, `/accounts` still shows its balance from
    /// before (default: zero): Coinbase documents no time within which a fill shows in
    /// `available_balance`.
    pub fn set_balance_lag(&self, lag: Duration) {
        self.lock().balance_lag = lag;
    }

    pub fn set_wallet(&self, currency: &str, amount: &str) {
        self.lock().wallets.insert(currency.to_owned(), d(amount));
    }

    pub fn wallet(&self, currency: &str) -> Decimal {
        self.lock()
            .wallets
            .get(currency)
            .copied()
            .unwrap_or_default()
    }

    pub fn update_product(&self, id: &str, f: impl FnOnce(&mut ProductSpec)) {
        f(self.lock().products.get_mut(id).unwrap());
    }

    /// Lists one more product (`BASE-QUOTE`); the fake starts with `BTC-USD` only.
    pub fn add_product(&self, id: &str, spec: ProductSpec) {
        self.lock().products.insert(id.to_owned(), spec);
    }

    /// The fee rate of every later fill (`"0.006"` for 0.6 %), reported as `total_fees` and
    /// taken from the quote wallet on top of what a buy spends (a buy whose size and fee
    /// together exceed the quote wallet is refused `INSUFFICIENT_FUND`).
    pub fn set_fee_rate(&self, rate: &str) {
        self.lock().fee_rate = d(rate);
    }

    pub fn set_page_size(&self, n: usize) {
        self.lock().page_size = n;
    }

    /// Every page with more after it says `has_next: true` with an empty `cursor`: Coinbase
    /// documents the two fields, not that they always agree, so a client must not take such
    /// a page for the last.
    pub fn drop_cursors(&self) {
        self.lock().cursorless = true;
    }

    /// Shows every order without its `filled_size`: Get Order documents the field, not that it
    /// is always there.
    pub fn omit_filled_size(&self) {
        self.lock().omits_filled_size = true;
    }

    /// Answers a reused client order id with `success: false` instead of the order it names:
    /// Coinbase documents the dedup, not how its answer reads.
    pub fn undocumented_duplicate_failure(&self) {
        self.lock().duplicates_fail = true;
    }

    /// The next `n` order list reads leave out the newest order, as a list lagging a fresh
    /// order would.
    pub fn lag_order_list(&self, n: usize) {
        self.lock().list_lag = n;
    }

    pub fn script(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    /// Every order still shown `OPEN` ([`Fault::WorkingFor`]) is shown so for `reads` more
    /// reads, then final: an order that stays open across a crash and ends later.
    pub fn open_for(&self, reads: usize) {
        for o in self.lock().orders.iter_mut().filter(|o| o.shown_open > 0) {
            o.shown_open = reads;
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Every authenticated `POST /orders`, whatever came of it.
    pub fn order_posts(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == format!("{BASE_PATH}/orders"))
            .collect()
    }

    /// Requests to one path (after authentication), e.g. `/accounts`.
    pub fn calls_to(&self, tail: &str) -> usize {
        let path = format!("{BASE_PATH}{tail}");
        self.requests().iter().filter(|r| r.path == path).count()
    }

    /// Orders created (and filled).
    pub fn created_orders(&self) -> usize {
        self.lock().orders.len()
    }

    /// POSTs that reused a client order id and were answered with the stored order.
    pub fn duplicate_posts(&self) -> usize {
        self.lock().duplicate_posts
    }

    /// Anything a real Coinbase would have refused, or the executor should never send.
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// Requests refused with 401, and why.
    pub fn auth_failures(&self) -> Vec<String> {
        self.lock().auth_failures.clone()
    }

    /// Every bearer token received (for the log test).
    pub fn tokens(&self) -> Vec<String> {
        self.lock().tokens.clone()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    nbf: i64,
    exp: i64,
    uri: String,
}

fn verify(
    inner: &mut Inner,
    now: i64,
    method: &Method,
    host: &str,
    path: &str,
    headers: &HeaderMap,
) -> Result<(), String> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or("no Authorization header")?;
    let token = auth
        .strip_prefix("Bearer ")
        .ok_or("Authorization is not Bearer")?;
    inner.tokens.push(token.to_owned());
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("header: {e}"))?;
    let kid = header.kid.ok_or("no kid")?;
    let registered = inner
        .keys
        .get(&kid)
        .ok_or_else(|| format!("unknown kid {kid}"))?;
    if header.alg != registered.alg {
        return Err(format!("alg {:?}, key is {:?}", header.alg, registered.alg));
    }
    let nonce = header.nonce.unwrap_or_default();
    if nonce.len() < 16 || !nonce.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("nonce {nonce:?} is not a random hex string"));
    }
    let mut validation = Validation::new(registered.alg);
    // Time is checked below against the test's clock, not the wall clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    let claims = jsonwebtoken::decode::<Claims>(token, &registered.key, &validation)
        .map_err(|e| format!("signature or claims: {e}"))?
        .claims;
    if claims.sub != kid {
        return Err(format!("sub {} is not the kid", claims.sub));
    }
    if claims.iss != "cdp" {
        return Err(format!("iss {}", claims.iss));
    }
    if !(claims.nbf <= now && now < claims.exp) {
        return Err(format!(
            "now {now} outside nbf {} .. exp {}",
            claims.nbf, claims.exp
        ));
    }
    if claims.exp - claims.nbf > 120 {
        return Err(format!("lifetime {} s over 120 s", claims.exp - claims.nbf));
    }
    let expected = format!("{method} {host}{path}");
    if claims.uri != expected {
        return Err(format!("uri {:?}, expected {expected:?}", claims.uri));
    }
    Ok(())
}

fn error(status: StatusCode, error: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_details": "", "message": message})),
    )
        .into_response()
}

async fn handle(
    State((inner, clock, host)): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query: Vec<(String, String)> = Query::try_from_uri(&uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    let now = clock.now();
    let (response, delay) = {
        let mut inner = inner.lock().unwrap();
        if let Err(why) = verify(&mut inner, now.timestamp(), &method, &host, &path, &headers) {
            inner.auth_failures.push(why);
            return (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
        }
        let parsed: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or(Value::String("<not JSON>".into()))
        };
        inner.requests.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            body: parsed.clone(),
        });
        let Some(tail) = path.strip_prefix(BASE_PATH) else {
            inner
                .violations
                .push(format!("{method} {path}: outside the API"));
            return error(StatusCode::NOT_FOUND, "NOT_FOUND", "route not found");
        };
        let segments: Vec<&str> = tail.trim_matches('/').split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("GET", ["accounts"]) => (accounts(&mut inner, &query), None),
            ("GET", ["products", id]) => (product(&inner, id), None),
            ("GET", ["orders", "historical", "batch"]) => (list_orders(&mut inner, &query), None),
            ("GET", ["orders", "historical", id]) => (get_order(&mut inner, id), None),
            ("POST", ["orders"]) => create_order(&mut inner, &headers, &parsed, now),
            _ => {
                inner
                    .violations
                    .push(format!("{method} {path}: unknown route"));
                (
                    error(StatusCode::NOT_FOUND, "NOT_FOUND", "route not found"),
                    None,
                )
            }
        }
    };
    // The lock is released before waiting: a delayed answer must not block lookups.
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    response
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `limit` (default 49, at most 250) capped by the fake's small page size; `cursor` is the
/// index of the first item.
fn page(inner: &mut Inner, query: &[(String, String)], total: usize) -> (usize, usize) {
    let limit = match param(query, "limit").map(str::parse::<usize>) {
        None => 49,
        Some(Ok(n)) if (1..=250).contains(&n) => n,
        Some(other) => {
            inner
                .violations
                .push(format!("limit {other:?} outside 1..=250"));
            49
        }
    };
    let start = match param(query, "cursor") {
        None => 0,
        Some(c) => c.parse().unwrap_or_else(|_| {
            inner
                .violations
                .push(format!("cursor {c:?} was never issued"));
            total
        }),
    };
    let end = (start + limit.min(inner.page_size)).min(total);
    (start.min(total), end)
}

fn paged(
    inner: &Inner,
    items: Vec<Value>,
    (start, end): (usize, usize),
    total: usize,
    key: &str,
) -> Response {
    let has_next = end < total;
    let mut body = json!({
        "has_next": has_next,
        "cursor": if has_next && !inner.cursorless { end.to_string() } else { String::new() },
        "size": end - start,
    });
    body[key] = Value::Array(items);
    if key == "orders" {
        body["sequence"] = json!("0");
    }
    axum::Json(body).into_response()
}

fn accounts(inner: &mut Inner, query: &[(String, String)]) -> Response {
    // (currency, available, portfolio, vault)
    let now = std::time::Instant::now();
    let all: Vec<(String, Decimal, u8, bool)> = inner
        .wallets
        .iter()
        .map(|(c, v)| {
            // Within the lag after an order moved it, the balance from before.
            let v = match inner.balance_shown.get(c) {
                Some(&(shown, at)) if now < at + inner.balance_lag => shown,
                _ => *v,
            };
            (c.clone(), v, 1, false)
        })
        .chain(
            inner
                .other_portfolio
                .iter()
                .map(|(c, v)| (c.clone(), *v, 2, false)),
        )
        .chain(inner.vaults.iter().map(|(c, v)| (c.clone(), *v, 1, true)))
        .collect();
    let (start, end) = page(inner, query, all.len());
    let items = all[start..end]
        .iter()
        .map(|(currency, value, portfolio, vault)| {
            let account_type = match (*vault, currency.as_str()) {
                (true, _) => "ACCOUNT_TYPE_VAULT",
                (false, "USD") => "ACCOUNT_TYPE_FIAT",
                (false, _) => "ACCOUNT_TYPE_CRYPTO",
            };
            json!({
                "uuid": format!(
                    "acct-{}-{portfolio}{}",
                    currency.to_lowercase(),
                    if *vault { "-vault" } else { "" }
                ),
                "name": format!("{currency} {}", if *vault { "Vault" } else { "Wallet" }),
                "currency": currency,
                "available_balance": {"value": value.to_string(), "currency": currency},
                "default": *portfolio == 1,
                "active": true,
                "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z",
                "deleted_at": null,
                "type": account_type,
                "ready": true,
                "hold": {
                    "value": if *portfolio == 1 && !*vault {
                        inner.holds.get(currency).copied().unwrap_or_default()
                    } else {
                        Decimal::ZERO
                    }
                    .to_string(),
                    "currency": currency
                },
                // The main portfolio's id as the fake is told to write it on its crypto
                // accounts ([`FakeCoinbase::write_portfolio_id`]): an id, `""` or none; its
                // USD account always names it.
                "retail_portfolio_id": match (*portfolio, currency.as_str(), inner.main_portfolio_id.as_deref()) {
                    (1, c, Some("")) if c != "USD" => json!(""),
                    (1, c, None) if c != "USD" => Value::Null,
                    (n, _, _) => json!(format!("portfolio-{n}")),
                },
                "platform": "ACCOUNT_PLATFORM_CONSUMER",
            })
        })
        .collect();
    paged(inner, items, (start, end), all.len(), "accounts")
}

fn product(inner: &Inner, id: &str) -> Response {
    let Some(p) = inner.products.get(id) else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "product not found");
    };
    let (base, quote) = id.split_once('-').unwrap();
    axum::Json(json!({
        "product_id": id,
        "price": p.price.to_string(),
        "price_percentage_change_24h": "0",
        "volume_24h": "0",
        "base_increment": p.base_increment.to_string(),
        "quote_increment": p.quote_increment.to_string(),
        "base_min_size": p.base_min_size.to_string(),
        "base_max_size": p.base_max_size.to_string(),
        "quote_min_size": p.quote_min_size.to_string(),
        "quote_max_size": p.quote_max_size.to_string(),
        "price_increment": "0.01",
        "base_name": base,
        "quote_name": quote,
        "status": "online",
        "trading_disabled": p.trading_disabled,
        "is_disabled": p.is_disabled,
        "cancel_only": p.cancel_only,
        "limit_only": p.limit_only,
        "post_only": p.post_only,
        "auction_mode": p.auction_mode,
        "view_only": p.view_only,
        "product_type": "SPOT",
        "base_currency_id": base,
        "quote_currency_id": quote,
        "base_display_symbol": base,
        "quote_display_symbol": quote,
    }))
    .into_response()
}

fn order_json(o: &StoredOrder) -> Value {
    if o.shown_open > 0 {
        let part = |d: Decimal| {
            o.open_share
                .map(|s| (d * s).round_dp_with_strategy(8, rust_decimal::RoundingStrategy::ToZero))
                .unwrap_or_default()
                .normalize()
        };
        let mut open = order_json(&StoredOrder {
            shown_open: 0,
            status: "OPEN",
            filled_size: part(o.filled_size),
            filled_value: part(o.filled_value),
            total_fees: part(o.total_fees),
            ..o.clone()
        });
        open["completion_percentage"] = json!("0");
        open["number_of_fills"] = json!(if o.open_share.is_some() { "1" } else { "0" });
        if o.open_share.is_none() {
            open["average_filled_price"] = json!("0");
        }
        open["settled"] = json!(false);
        return open;
    }
    json!({
        "order_id": o.order_id,
        "product_id": o.product_id,
        "user_id": "user-1",
        "order_configuration": o.configuration,
        "side": o.side,
        "client_order_id": o.client_order_id,
        "status": o.status,
        "time_in_force": "IMMEDIATE_OR_CANCEL",
        "created_time": o.created.to_rfc3339_opts(SecondsFormat::Micros, true),
        "completion_percentage": "100",
        "filled_size": o.filled_size.to_string(),
        "average_filled_price": o.price.to_string(),
        "fee": "",
        "number_of_fills": "1",
        "filled_value": o.filled_value.to_string(),
        "pending_cancel": false,
        "size_in_quote": o.side == "BUY",
        "total_fees": o.total_fees.to_string(),
        "size_inclusive_of_fees": false,
        "total_value_after_fees": if o.side == "BUY" {
            (o.filled_value + o.total_fees).to_string()
        } else {
            (o.filled_value - o.total_fees).to_string()
        },
        "trigger_status": "INVALID_ORDER_TYPE",
        "order_type": "MARKET",
        "reject_reason": "REJECT_REASON_UNSPECIFIED",
        "settled": true,
        "product_type": "SPOT",
        "reject_message": "",
        "cancel_message": "",
        "is_liquidation": false,
        "last_fill_time": o.created.to_rfc3339_opts(SecondsFormat::Micros, true),
    })
}

/// [`order_json`], without `filled_size` when the fake is told to omit it.
fn shown_order(o: &StoredOrder, omits_filled_size: bool) -> Value {
    let mut v = order_json(o);
    if o.shown_unsettled > 0 && o.shown_open == 0 {
        v["settled"] = json!(false);
        let part = |d: Decimal| {
            o.unsettled_share
                .map(|s| (d * s).round_dp_with_strategy(8, rust_decimal::RoundingStrategy::ToZero))
                .unwrap_or_default()
                .normalize()
                .to_string()
        };
        v["filled_size"] = json!(part(o.filled_size));
        v["filled_value"] = json!(part(o.filled_value));
        v["total_fees"] = json!(part(o.total_fees));
        v["number_of_fills"] = json!(if o.unsettled_share.is_some() {
            "1"
        } else {
            "0"
        });
    }
    if omits_filled_size && let Some(map) = v.as_object_mut() {
        map.remove("filled_size");
    }
    v
}

fn get_order(inner: &mut Inner, id: &str) -> Response {
    let omits = inner.omits_filled_size;
    match inner.orders.iter_mut().find(|o| o.order_id == id) {
        Some(o) => {
            let shown = shown_order(o, omits);
            if o.shown_open == 0 {
                o.shown_unsettled = o.shown_unsettled.saturating_sub(1);
            }
            o.shown_open = o.shown_open.saturating_sub(1);
            axum::Json(json!({ "order": shown })).into_response()
        }
        None => error(StatusCode::NOT_FOUND, "NOT_FOUND", "order not found"),
    }
}

fn list_orders(inner: &mut Inner, query: &[(String, String)]) -> Response {
    // A filter this fake does not apply would answer with more than Coinbase does (and
    // `client_order_id` is no documented filter at all): a client relying on one is told.
    for (k, _) in query {
        if !["product_ids", "start_date", "limit", "cursor"].contains(&k.as_str()) {
            inner.violations.push(format!(
                "list orders: query parameter {k} is not applied by this fake (documented \
                 filters other than product_ids and start_date, and any undocumented one \
                 such as client_order_id, would narrow Coinbase's answer)"
            ));
        }
    }
    let products: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "product_ids")
        .map(|(_, v)| v.as_str())
        .collect();
    let since = param(query, "start_date").map(|s| s.parse::<DateTime<Utc>>());
    let since = match since {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(_)) => {
            inner
                .violations
                .push("start_date is not RFC 3339".to_owned());
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "start_date is not a valid timestamp",
            );
        }
    };
    // Newest first, as Coinbase lists them; a lagging list has not got the newest yet.
    let skip = usize::from(inner.list_lag > 0);
    inner.list_lag = inner.list_lag.saturating_sub(1);
    let matching: Vec<Value> = inner
        .orders
        .iter()
        .rev()
        .skip(skip)
        .filter(|o| products.is_empty() || products.contains(&o.product_id.as_str()))
        .filter(|o| since.is_none_or(|s| o.created >= s))
        .map(|o| shown_order(o, inner.omits_filled_size))
        .collect();
    let total = matching.len();
    let (start, end) = page(inner, query, total);
    paged(
        inner,
        matching[start..end].to_vec(),
        (start, end),
        total,
        "orders",
    )
}

/// A 429 with the rate-limit headers Coinbase's SDK names (`x-ratelimit-limit`,
/// `x-ratelimit-remaining`, `x-ratelimit-reset`).
fn too_many() -> Response {
    let mut answer = error(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMIT_EXCEEDED",
        "Too many requests",
    );
    let headers = answer.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", "30"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "1"),
    ] {
        headers.insert(name, axum::http::HeaderValue::from_static(value));
    }
    answer
}

fn failure(error: &str, message: &str, preview: &str, configuration: &Value) -> Response {
    axum::Json(json!({
        "success": false,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "order_id": "",
        "error_response": {
            "error": error,
            "message": message,
            "error_details": "",
            "preview_failure_reason": preview,
        },
        "order_configuration": configuration,
    }))
    .into_response()
}

fn success(o: &StoredOrder) -> Response {
    axum::Json(json!({
        "success": true,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "order_id": o.order_id,
        "success_response": {
            "order_id": o.order_id,
            "product_id": o.product_id,
            "side": o.side,
            "client_order_id": o.client_order_id,
        },
        "order_configuration": o.configuration,
    }))
    .into_response()
}

/// A size as Coinbase takes it: a JSON string holding a positive decimal.
fn size(v: &Value) -> Result<Decimal, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("size {v} is not a string"))?;
    let n = Decimal::from_str(s).map_err(|_| format!("size {s:?} is not a decimal"))?;
    if n <= Decimal::ZERO {
        return Err(format!("size {s:?} is not positive"));
    }
    Ok(n)
}

fn floor(v: Decimal, inc: Decimal) -> Decimal {
    (v / inc).trunc() * inc
}

fn create_order(
    inner: &mut Inner,
    headers: &HeaderMap,
    body: &Value,
    now: DateTime<Utc>,
) -> (Response, Option<Duration>) {
    let bad = |inner: &mut Inner, why: String| {
        inner.violations.push(format!("POST /orders: {why}"));
        (
            error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", &why),
            None,
        )
    };
    let json_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_type {
        return bad(inner, "Content-Type is not application/json".into());
    }
    let configuration = body
        .get("order_configuration")
        .cloned()
        .unwrap_or(Value::Null);
    match inner.faults.pop_front() {
        Some(Fault::ErrorBeforeCreate) => {
            return (
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    "service unavailable",
                ),
                None,
            );
        }
        Some(Fault::Unauthorized) => {
            return (
                (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response(),
                None,
            );
        }
        Some(Fault::MissingScopes) => {
            return (
                (
                    StatusCode::FORBIDDEN,
                    axum::Json(json!({"error": "PERMISSION_DENIED",
                                      "error_details": "Missing required scopes",
                                      "message": "Missing required scopes"})),
                )
                    .into_response(),
                None,
            );
        }
        Some(Fault::TooMany) => return (too_many(), None),
        Some(Fault::BadRequest(message)) => {
            return (
                error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message),
                None,
            );
        }
        Some(Fault::Reject {
            error,
            message,
            preview_failure_reason,
        }) => {
            return (
                failure(error, message, preview_failure_reason, &configuration),
                None,
            );
        }
        Some(Fault::RejectAs400 {
            error,
            message,
            preview_failure_reason,
        }) => {
            let mut answer = failure(error, message, preview_failure_reason, &configuration);
            *answer.status_mut() = StatusCode::BAD_REQUEST;
            return (answer, None);
        }
        other => {
            if let Some(f) = other {
                inner.faults.push_front(f);
            }
        }
    }

    let Some(coid) = body
        .get("client_order_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return bad(inner, "client_order_id missing or empty".into());
    };
    let Some(product_id) = body.get("product_id").and_then(Value::as_str) else {
        return bad(inner, "product_id missing".into());
    };
    let side = body.get("side").and_then(Value::as_str).unwrap_or("");
    if side != "BUY" && side != "SELL" {
        return bad(inner, format!("side {side:?}"));
    }
    let Some(variants) = configuration.as_object() else {
        return bad(inner, "order_configuration is not an object".into());
    };
    if variants.len() != 1 {
        return bad(
            inner,
            format!(
                "order_configuration has {} variants, not exactly one",
                variants.len()
            ),
        );
    }
    let Some(ioc) = variants.get("market_market_ioc").and_then(Value::as_object) else {
        return bad(
            inner,
            format!(
                "order_configuration {:?} is not market_market_ioc",
                variants.keys().collect::<Vec<_>>()
            ),
        );
    };
    let (quote_size, base_size) = (ioc.get("quote_size"), ioc.get("base_size"));
    let sized = match (side, quote_size, base_size) {
        ("BUY", Some(q), None) => size(q).map(|q| (Some(q), None)),
        ("SELL", None, Some(b)) => size(b).map(|b| (None, Some(b))),
        _ => Err(format!(
            "{side} with market_market_ioc {ioc:?}: expected quote_size for BUY, base_size for SELL, one of them"
        )),
    };
    let (quote, base) = match sized {
        Ok(s) => s,
        Err(why) => return bad(inner, why),
    };

    // The documented dedup: a reused client order id returns the order it already names.
    if let Some(existing) = inner
        .orders
        .iter()
        .find(|o| o.client_order_id == coid)
        .cloned()
    {
        inner.duplicate_posts += 1;
        if existing.product_id != product_id || existing.side != side {
            inner.violations.push(format!(
                "client_order_id {coid} reused for a different order"
            ));
        }
        // Coinbase does not document how the duplicate's answer reads: the code must be
        // safe if it is a failure too.
        if inner.duplicates_fail {
            return (
                failure(
                    "UNKNOWN_FAILURE_REASON",
                    "duplicate client_order_id",
                    "",
                    &configuration,
                ),
                None,
            );
        }
        return (success(&existing), None);
    }

    let Some(p) = inner.products.get(product_id).cloned() else {
        return (
            failure(
                "INVALID_PRODUCT_ID",
                "Invalid product_id",
                "PREVIEW_INVALID_PRODUCT_ID",
                &configuration,
            ),
            None,
        );
    };
    // A client can read these flags before it sends (Get Product): a market order on a
    // product that forbids one is the client's mistake whatever Coinbase then does with it
    // (undocumented), so it is counted a violation, which every test's `clean` fails on.
    for (set, flag) in [
        (p.trading_disabled, "trading_disabled"),
        (p.post_only, "post_only"),
        (p.auction_mode, "auction_mode"),
        (p.is_disabled, "is_disabled"),
        (p.cancel_only, "cancel_only"),
        (p.limit_only, "limit_only"),
        (p.view_only, "view_only"),
    ] {
        if set {
            inner.violations.push(format!(
                "POST /orders: a market order on {product_id}, which is {flag}"
            ));
        }
    }
    let (base_ccy, quote_ccy) = product_id.split_once('-').unwrap();
    let wallet = |inner: &Inner, c: &str| inner.wallets.get(c).copied().unwrap_or_default();
    let (filled_size, filled_value) = if let Some(q) = quote {
        if floor(q, p.quote_increment) != q {
            inner
                .violations
                .push(format!("quote_size {q} finer than {}", p.quote_increment));
            return (
                failure(
                    "INVALID_SIZE_PRECISION",
                    "Too many decimals in order amount",
                    "PREVIEW_INVALID_QUOTE_SIZE_PRECISION",
                    &configuration,
                ),
                None,
            );
        }
        if q < p.quote_min_size {
            inner
                .violations
                .push(format!("quote_size {q} under {}", p.quote_min_size));
            return (
                failure(
                    "INVALID_LIMIT_PRICE",
                    "Order size is too small",
                    "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL",
                    &configuration,
                ),
                None,
            );
        }
        if q > p.quote_max_size {
            inner
                .violations
                .push(format!("quote_size {q} over {}", p.quote_max_size));
            return (
                failure(
                    "UNKNOWN_FAILURE_REASON",
                    "Order size is too large",
                    "PREVIEW_INVALID_QUOTE_SIZE_TOO_LARGE",
                    &configuration,
                ),
                None,
            );
        }
        // The fee is taken on top of `quote_size` (`size_inclusive_of_fees` false, as the
        // fake shows its orders), so the funds must cover both: what a buy of the whole
        // balance meets at a non-zero fee rate.
        if q + floor(q * inner.fee_rate, p.quote_increment) > wallet(inner, quote_ccy) {
            return (
                failure(
                    "INSUFFICIENT_FUND",
                    "Insufficient balance in source account",
                    "PREVIEW_INSUFFICIENT_FUND",
                    &configuration,
                ),
                None,
            );
        }
        (floor(q / p.price, p.base_increment), q)
    } else {
        let b = base.unwrap();
        if floor(b, p.base_increment) != b {
            inner
                .violations
                .push(format!("base_size {b} finer than {}", p.base_increment));
            return (
                failure(
                    "INVALID_SIZE_PRECISION",
                    "Too many decimals in order amount",
                    "PREVIEW_INVALID_SIZE_PRECISION",
                    &configuration,
                ),
                None,
            );
        }
        if b < p.base_min_size {
            inner
                .violations
                .push(format!("base_size {b} under {}", p.base_min_size));
            return (
                failure(
                    "INVALID_LIMIT_PRICE",
                    "Order size is too small",
                    "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL",
                    &configuration,
                ),
                None,
            );
        }
        if b > p.base_max_size {
            inner
                .violations
                .push(format!("base_size {b} over {}", p.base_max_size));
            return (
                failure(
                    "UNKNOWN_FAILURE_REASON",
                    "Order size is too large",
                    "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE",
                    &configuration,
                ),
                None,
            );
        }
        if b > wallet(inner, base_ccy) {
            inner
                .violations
                .push(format!("base_size {b} over the available balance"));
            return (
                failure(
                    "INSUFFICIENT_FUND",
                    "Insufficient balance in source account",
                    "PREVIEW_INSUFFICIENT_FUND",
                    &configuration,
                ),
                None,
            );
        }
        (b, floor(b * p.price, p.quote_increment))
    };
    let in_part = match inner.faults.front() {
        Some(&Fault::FillInPart(share)) => {
            inner.faults.pop_front();
            Some(share)
        }
        _ => None,
    };
    let (shown_unsettled, unsettled_share) = match inner.faults.front() {
        Some(&Fault::UnsettledFor(reads)) => {
            inner.faults.pop_front();
            (reads, None)
        }
        Some(&Fault::UnsettledInPartFor { reads, share }) => {
            inner.faults.pop_front();
            (reads, Some(share))
        }
        _ => (0, None),
    };
    let (filled_size, filled_value) = match in_part {
        Some(share) => {
            let b = floor(filled_size * share, p.base_increment);
            (b, floor(b * p.price, p.quote_increment))
        }
        None => (filled_size, filled_value),
    };
    let (base_delta, quote_delta) = if side == "BUY" {
        (filled_size, -filled_value)
    } else {
        (-filled_size, filled_value)
    };
    let (working, open_share) = match inner.faults.front() {
        Some(&Fault::WorkingFor { reads, cancelled }) => {
            inner.faults.pop_front();
            (Some((reads, cancelled)), None)
        }
        Some(&Fault::WorkingInPartFor { reads, share }) => {
            inner.faults.pop_front();
            (Some((reads, false)), Some(share))
        }
        _ => (None, None),
    };
    let cancelled = working.is_some_and(|(_, cancelled)| cancelled);
    let (filled_size, filled_value) = if cancelled {
        (Decimal::ZERO, Decimal::ZERO)
    } else {
        (filled_size, filled_value)
    };
    let total_fees = floor(filled_value * inner.fee_rate, p.quote_increment);
    if !cancelled {
        let b = wallet(inner, base_ccy) + base_delta;
        let q = wallet(inner, quote_ccy) + quote_delta - total_fees;
        if !inner.balance_lag.is_zero() {
            // `/accounts` shows the balances from before, until the lag has passed after
            // the latest order that moved them: Coinbase documents no time within which a
            // fill shows in `available_balance`.
            let now = std::time::Instant::now();
            for ccy in [base_ccy, quote_ccy] {
                let before = wallet(inner, ccy);
                let shown = match inner.balance_shown.get(ccy) {
                    Some(&(shown, at)) if now < at + inner.balance_lag => shown,
                    _ => before,
                };
                inner.balance_shown.insert(ccy.to_owned(), (shown, now));
            }
        }
        inner.wallets.insert(base_ccy.to_owned(), b);
        inner.wallets.insert(quote_ccy.to_owned(), q);
    }
    inner.next_id += 1;
    let order = StoredOrder {
        order_id: format!("0000-cb-order-{:04}", inner.next_id),
        client_order_id: coid.to_owned(),
        product_id: product_id.to_owned(),
        side: side.to_owned(),
        status: if cancelled || in_part.is_some() {
            "CANCELLED"
        } else {
            "FILLED"
        },
        filled_size: filled_size.normalize(),
        price: p.price,
        filled_value: filled_value.normalize(),
        total_fees: total_fees.normalize(),
        created: now,
        configuration,
        shown_open: working.map_or(0, |(reads, _)| reads),
        open_share,
        shown_unsettled,
        unsettled_share,
    };
    inner.orders.push(order.clone());
    match inner.faults.pop_front() {
        Some(Fault::ErrorAfterCreate) => (
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error",
            ),
            None,
        ),
        Some(Fault::DelayAfterCreate(d)) => (success(&order), Some(d)),
        Some(Fault::TooManyAfterCreate) => (too_many(), None),
        Some(other) => {
            inner.faults.push_front(other);
            (success(&order), None)
        }
        None => (success(&order), None),
    }
}
