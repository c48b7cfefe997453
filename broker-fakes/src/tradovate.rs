//! A Tradovate REST server for tests, after `../shared/brokers.md` §2. It issues and renews
//! tokens (401 for expired or unknown bearers), answers business errors as HTTP 200 bodies,
//! keeps signed `netPos` positions, fills market orders, liquidates asynchronously (flat
//! after a number of position reads, or never), and scripts faults: a penalty ticket, a 401,
//! a 429, a 5xx after the order was created. It checks each request as documented
//! (`isAutomated`, `accountSpec`, `accountId`, integer `orderQty`, the ticket on a penalty
//! resend) and keeps what a real server would refuse in `violations()`.
#![allow(dead_code, clippy::unwrap_used)]

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

pub const ACCOUNT_ID: i64 = 987654;
pub const ACCOUNT_NAME: &str = "DEMO1234567";
pub const USERNAME: &str = "jdoe";
pub const PASSWORD: &str = "fake-tradovate-password-9c2";
pub const SEC: &str = "fake-tradovate-api-secret-77a";
pub const CID: i64 = 1234;

#[derive(Debug, Clone)]
pub enum Fault {
    /// Next order command: a penalty ticket (`p-time` seconds), carried out on the resend.
    Penalty(u64),
    /// Next order command: 401 as if the token had just expired.
    Unauthorized,
    /// Next order command: 429 with `Retry-After`.
    TooMany(u64),
    /// Next placement: create and fill the order, then answer 500.
    ErrorAfterCreate,
    /// Next placement: answer 500 without creating anything.
    ErrorBeforeCreate,
}

#[derive(Debug, Clone)]
pub struct OrderRec {
    pub id: i64,
    pub cl_ord_id: Option<String>,
    pub contract_id: i64,
    pub action: String,
    pub qty: i64,
    pub body: Value,
}

#[derive(Debug)]
struct Inner {
    tokens: HashMap<String, DateTime<Utc>>,
    token_seq: u64,
    token_expiry: DateTime<Utc>,
    now: DateTime<Utc>,
    logins: usize,
    renewals: usize,
    contracts: HashMap<String, i64>,
    front: HashMap<String, String>,
    positions: HashMap<i64, i64>,
    orders: Vec<OrderRec>,
    order_seq: i64,
    /// contract id → position reads left before the liquidation lands (`None`: never).
    liquidating: HashMap<i64, Option<u32>>,
    liquidation_polls: Option<u32>,
    liquidations: usize,
    faults: VecDeque<Fault>,
    pending_ticket: Option<String>,
    violations: Vec<String>,
    price: Decimal,
}

#[derive(Clone)]
pub struct FakeTradovate {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

type S = Arc<Mutex<Inner>>;

impl FakeTradovate {
    /// `now` is the server's idea of the time (for token expiry), matching the test clock.
    pub async fn start(now: DateTime<Utc>) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            tokens: HashMap::new(),
            token_seq: 0,
            token_expiry: now + Duration::minutes(80),
            now,
            logins: 0,
            renewals: 0,
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
            orders: Vec::new(),
            order_seq: 1_000_000,
            liquidating: HashMap::new(),
            liquidation_polls: Some(0),
            liquidations: 0,
            faults: VecDeque::new(),
            pending_ticket: None,
            violations: Vec::new(),
            price: Decimal::new(601225, 2),
        }));
        let app = Router::new()
            .route("/v1/auth/accesstokenrequest", post(login))
            .route("/v1/auth/renewaccesstoken", get(renew))
            .route("/v1/account/list", get(accounts))
            .route("/v1/position/list", get(positions))
            .route("/v1/contract/find", get(contract_find))
            .route("/v1/contract/rollcontract", post(roll))
            .route("/v1/order/placeorder", post(place))
            .route("/v1/order/liquidateposition", post(liquidate))
            .route("/v1/order/item", get(order_item))
            .route("/v1/order/deps", get(order_deps))
            .route("/v1/fill/deps", get(fill_deps))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, inner }
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
    /// Every token issued so far stops working (a token expiring mid-flight).
    pub fn expire_tokens(&self) {
        let mut i = self.lock();
        let past = i.now - Duration::seconds(1);
        for exp in i.tokens.values_mut() {
            *exp = past;
        }
    }
    pub fn set_net(&self, contract: &str, net: i64) {
        let mut i = self.lock();
        let id = i.contracts[contract];
        i.positions.insert(id, net);
    }
    pub fn net(&self, contract: &str) -> i64 {
        let i = self.lock();
        i.positions
            .get(&i.contracts[contract])
            .copied()
            .unwrap_or(0)
    }
    /// Liquidations land after this many position reads; `None`: never.
    pub fn liquidation_takes(&self, polls: Option<u32>) {
        self.lock().liquidation_polls = polls;
    }
    pub fn script(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }
    pub fn logins(&self) -> usize {
        self.lock().logins
    }
    pub fn renewals(&self) -> usize {
        self.lock().renewals
    }
    pub fn liquidations(&self) -> usize {
        self.lock().liquidations
    }
    /// Orders created (placements the server carried out).
    pub fn orders(&self) -> Vec<OrderRec> {
        self.lock().orders.clone()
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

fn issue(i: &mut Inner) -> Value {
    i.token_seq += 1;
    let token = format!("tv-access-{}-{}", i.token_seq, i.now.timestamp());
    let exp = i.token_expiry.max(i.now + Duration::minutes(80));
    i.tokens.insert(token.clone(), exp);
    json!({"accessToken": token, "mdAccessToken": format!("md-{token}"), "expirationTime": exp.to_rfc3339(),
           "userStatus": "Active", "userId": 4321, "name": USERNAME, "hasLive": false})
}

async fn login(State(s): State<S>, body: axum::Json<Value>) -> Response {
    let mut i = s.lock().unwrap();
    let b = &body.0;
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

async fn renew(State(s): State<S>, headers: HeaderMap) -> Response {
    let mut i = s.lock().unwrap();
    if let Some(r) = authorize(&i, &headers) {
        return r;
    }
    i.renewals += 1;
    // The renewed session keeps working; the old token is retired.
    if let Some(old) = bearer(&headers) {
        i.tokens.remove(&old);
    }
    axum::Json(issue(&mut i)).into_response()
}

async fn accounts(State(s): State<S>, headers: HeaderMap) -> Response {
    let i = s.lock().unwrap();
    if let Some(r) = authorize(&i, &headers) {
        return r;
    }
    axum::Json(json!([{"id": ACCOUNT_ID, "name": ACCOUNT_NAME, "userId": 4321, "accountType": "Customer", "active": true}])).into_response()
}

async fn positions(State(s): State<S>, headers: HeaderMap) -> Response {
    let mut i = s.lock().unwrap();
    if let Some(r) = authorize(&i, &headers) {
        return r;
    }
    // Asynchronous liquidation: it lands after enough reads.
    let mut landed = Vec::new();
    for (contract, left) in i.liquidating.iter_mut() {
        if let Some(n) = left {
            if *n == 0 {
                landed.push(*contract);
            } else {
                *n -= 1;
            }
        }
    }
    for c in landed {
        i.liquidating.remove(&c);
        i.positions.insert(c, 0);
    }
    let list: Vec<Value> = i
        .positions
        .iter()
        .map(|(c, n)| json!({"id": c + 7, "accountId": ACCOUNT_ID, "contractId": c, "netPos": n, "netPrice": "0"}))
        .collect();
    axum::Json(Value::Array(list)).into_response()
}

async fn contract_find(
    State(s): State<S>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let i = s.lock().unwrap();
    if let Some(r) = authorize(&i, &headers) {
        return r;
    }
    match q
        .get("name")
        .and_then(|n| i.contracts.get(n).map(|id| (n, id)))
    {
        Some((n, id)) => {
            axum::Json(json!({"id": id, "name": n, "contractMaturityId": 52000})).into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

async fn roll(State(s): State<S>, headers: HeaderMap, body: axum::Json<Value>) -> Response {
    let i = s.lock().unwrap();
    if let Some(r) = authorize(&i, &headers) {
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
    if let Some(ticket) = i.pending_ticket.take() {
        if body.get("p-ticket").and_then(Value::as_str) != Some(ticket.as_str()) {
            i.violations
                .push("penalty resend without the p-ticket".into());
        }
        return None;
    }
    match i.faults.front().cloned() {
        Some(Fault::Penalty(secs)) => {
            i.faults.pop_front();
            let ticket = format!("ticket-{}", i.order_seq);
            i.pending_ticket = Some(ticket.clone());
            Some(
                axum::Json(json!({"p-ticket": ticket, "p-time": secs, "p-captcha": false}))
                    .into_response(),
            )
        }
        Some(Fault::Unauthorized) => {
            i.faults.pop_front();
            Some((StatusCode::UNAUTHORIZED, "Access is denied").into_response())
        }
        Some(Fault::TooMany(secs)) => {
            i.faults.pop_front();
            Some(
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", secs.to_string())],
                    "",
                )
                    .into_response(),
            )
        }
        _ => None,
    }
}

async fn place(State(s): State<S>, headers: HeaderMap, body: axum::Json<Value>) -> Response {
    let mut i = s.lock().unwrap();
    if let Some(r) = authorize(&i, &headers) {
        return r;
    }
    let b = body.0;
    if let Some(r) = command_fault(&mut i, &b) {
        return r;
    }
    let mut bad = Vec::new();
    if b["isAutomated"] != true {
        bad.push("isAutomated must be true for automated orders".to_owned());
    }
    if b["accountSpec"] != ACCOUNT_NAME || b["accountId"] != ACCOUNT_ID {
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
        Some(Fault::ErrorAfterCreate | Fault::ErrorBeforeCreate) => i.faults.pop_front(),
        _ => None,
    };
    if matches!(fault, Some(Fault::ErrorBeforeCreate)) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    }
    let (contract, qty) = (contract.unwrap(), qty.unwrap());
    let net = i.positions.get(&contract).copied().unwrap_or(0);
    let signed = if b["action"] == "Buy" { qty } else { -qty };
    if net != 0 && (net > 0) != (signed > 0) {
        i.violations.push(format!(
            "order against an open opposite position (net {net}, order {signed})"
        ));
    }
    i.positions.insert(contract, net + signed);
    i.order_seq += 1;
    let id = i.order_seq;
    i.orders.push(OrderRec {
        id,
        cl_ord_id: b["clOrdId"].as_str().map(str::to_owned),
        contract_id: contract,
        action: b["action"].as_str().unwrap_or("").to_owned(),
        qty,
        body: b.clone(),
    });
    if matches!(fault, Some(Fault::ErrorAfterCreate)) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    }
    axum::Json(json!({"orderId": id})).into_response()
}

async fn liquidate(State(s): State<S>, headers: HeaderMap, body: axum::Json<Value>) -> Response {
    let mut i = s.lock().unwrap();
    if let Some(r) = authorize(&i, &headers) {
        return r;
    }
    let b = body.0;
    if let Some(r) = command_fault(&mut i, &b) {
        return r;
    }
    if b["accountId"] != ACCOUNT_ID
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
    let contract = b["contractId"].as_i64().unwrap();
    i.liquidations += 1;
    let polls = i.liquidation_polls;
    i.liquidating.insert(contract, polls);
    i.order_seq += 1;
    axum::Json(json!({"orderId": i.order_seq})).into_response()
}

async fn order_item(
    State(s): State<S>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let i = s.lock().unwrap();
    if let Some(r) = authorize(&i, &headers) {
        return r;
    }
    let id: i64 = q.get("id").and_then(|v| v.parse().ok()).unwrap_or(0);
    match i.orders.iter().find(|o| o.id == id) {
        Some(o) => axum::Json(json!({"id": o.id, "accountId": ACCOUNT_ID, "contractId": o.contract_id, "action": o.action,
                                     "ordStatus": "Filled", "clOrdId": o.cl_ord_id})).into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

async fn order_deps(
    State(s): State<S>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let i = s.lock().unwrap();
    if let Some(r) = authorize(&i, &headers) {
        return r;
    }
    if q.get("masterid").map(String::as_str) != Some(&ACCOUNT_ID.to_string()) {
        return axum::Json(json!([])).into_response();
    }
    let list: Vec<Value> = i
        .orders
        .iter()
        .map(|o| json!({"id": o.id, "accountId": ACCOUNT_ID, "contractId": o.contract_id, "action": o.action,
                         "ordStatus": "Filled", "clOrdId": o.cl_ord_id}))
        .collect();
    axum::Json(Value::Array(list)).into_response()
}

async fn fill_deps(
    State(s): State<S>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let i = s.lock().unwrap();
    if let Some(r) = authorize(&i, &headers) {
        return r;
    }
    let id: i64 = q.get("masterid").and_then(|v| v.parse().ok()).unwrap_or(0);
    let list: Vec<Value> = i
        .orders
        .iter()
        .filter(|o| o.id == id)
        .map(|o| json!({"id": o.id + 1, "orderId": o.id, "qty": o.qty, "price": i.price.to_string().parse::<f64>().unwrap()}))
        .collect();
    axum::Json(Value::Array(list)).into_response()
}
