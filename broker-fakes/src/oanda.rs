//! An OANDA v20 server for tests. It speaks the documented wire format (see
//! `../shared/brokers.md` §1), keeps netting or hedging positions, checks every request the
//! way the real API documents it (bearer token, JSON content type, order body fields,
//! close-only-existing-sides), records every request, and can script faults on the order
//! endpoints: an error or a delay after the order was created, an error before, a cancel, a
//! reject. Anything a real OANDA would refuse is also kept in `violations()`, so a test can
//! assert the client never sent it.
#![allow(dead_code, clippy::unwrap_used)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
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
    /// Refuse it: 400 with `orderRejectTransaction`.
    Reject(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub body: Value,
}

#[derive(Debug, Clone)]
struct OrderRec {
    id: String,
    state: &'static str,
    filling: Option<String>,
    cancelling: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    positions: HashMap<String, (Decimal, Decimal)>,
    hedging: bool,
    next_tx: u64,
    orders_by_client_id: HashMap<String, OrderRec>,
    transactions: HashMap<String, Value>,
    requests: Vec<Recorded>,
    violations: Vec<String>,
    faults: VecDeque<Fault>,
    price: Decimal,
    created_orders: usize,
    created_per_client_id: HashMap<String, usize>,
}

#[derive(Clone)]
pub struct FakeOanda {
    pub url: String,
    pub token: String,
    pub account: String,
    inner: Arc<Mutex<Inner>>,
}

type Shared = (Arc<Mutex<Inner>>, String, String);

impl FakeOanda {
    pub async fn start() -> Self {
        let token = "fake-oanda-token-5f1e9c".to_owned();
        let account = "101-004-1234567-001".to_owned();
        let inner = Arc::new(Mutex::new(Inner {
            next_tx: 6000,
            price: Decimal::from_str("1.08345").unwrap(),
            ..Default::default()
        }));
        let shared: Shared = (inner.clone(), token.clone(), account.clone());
        let app = Router::new()
            .route("/v3/accounts/{account}/summary", get(summary))
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
            .route("/v3/accounts/{account}/transactions/{id}", get(transaction))
            .fallback(fallback)
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url,
            token,
            account,
            inner,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    pub fn set_position(&self, instrument: &str, long: i64, short: i64) {
        self.lock().positions.insert(
            instrument.into(),
            (Decimal::from(long), Decimal::from(short)),
        );
    }

    pub fn set_hedging(&self, hedging: bool) {
        self.lock().hedging = hedging;
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

    /// Orders OANDA actually created (filled or cancelled).
    pub fn created_orders(&self) -> usize {
        self.lock().created_orders
    }

    /// How many orders OANDA created under each client id: more than one would be a
    /// duplicate order for one leg of one signal.
    pub fn created_per_client_id(&self) -> HashMap<String, usize> {
        self.lock().created_per_client_id.clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }
}

fn tx_id(inner: &mut Inner) -> String {
    inner.next_tx += 1;
    inner.next_tx.to_string()
}

fn record(inner: &mut Inner, method: &Method, path: String, body: &Bytes) {
    let body = serde_json::from_slice(body).unwrap_or(Value::Null);
    inner.requests.push(Recorded {
        method: method.to_string(),
        path,
        body,
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
    axum::Json(json!({
        "account": {"id": account, "currency": "USD", "balance": "100000.0000", "NAV": "100000.0000",
                    "marginAvailable": "100000.0000", "hedgingEnabled": inner.hedging, "lastTransactionID": last},
        "lastTransactionID": last,
    }))
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
    let (long, short) = inner
        .positions
        .get(&instrument)
        .copied()
        .unwrap_or_default();
    axum::Json(json!({
        "position": {"instrument": instrument, "pl": "0.0", "unrealizedPL": "0.0",
                     "long": {"units": long.to_string(), "pl": "0.0"},
                     "short": {"units": short.to_string(), "pl": "0.0"}},
        "lastTransactionID": inner.next_tx.to_string(),
    }))
    .into_response()
}

/// Applies a fill of `units` with REDUCE_FIRST (or OPEN_ONLY) and checks the netting rule.
fn fill(inner: &mut Inner, instrument: &str, units: Decimal, reduce_first: bool) {
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
}

/// Creates (and fills or cancels) one order; returns the transactions.
fn execute(
    inner: &mut Inner,
    instrument: &str,
    units: Decimal,
    client_id: &str,
    reduce_first: bool,
    cancel: Option<&str>,
    reason: &str,
) -> (Value, Value) {
    let create_id = tx_id(inner);
    let create = json!({"id": create_id, "type": "MARKET_ORDER", "instrument": instrument, "units": units.to_string(),
                        "timeInForce": "FOK", "reason": reason, "clientExtensions": {"id": client_id}});
    inner.transactions.insert(create_id.clone(), create.clone());
    inner.created_orders += 1;
    *inner
        .created_per_client_id
        .entry(client_id.to_owned())
        .or_default() += 1;
    let second_id = tx_id(inner);
    let second = if let Some(why) = cancel {
        json!({"id": second_id, "type": "ORDER_CANCEL", "orderID": create_id, "clientOrderID": client_id, "reason": why})
    } else {
        fill(inner, instrument, units, reduce_first);
        json!({"id": second_id, "type": "ORDER_FILL", "orderID": create_id, "clientOrderID": client_id,
               "instrument": instrument, "units": units.to_string(), "price": inner.price.to_string(), "reason": "MARKET_ORDER"})
    };
    inner.transactions.insert(second_id.clone(), second.clone());
    inner.orders_by_client_id.insert(
        client_id.to_owned(),
        OrderRec {
            id: create_id,
            state: if cancel.is_some() {
                "CANCELLED"
            } else {
                "FILLED"
            },
            filling: cancel.is_none().then(|| second_id.clone()),
            cancelling: cancel.is_some().then_some(second_id),
        },
    );
    (create, second)
}

/// What to do about the next order request; `None` = behave normally.
fn next_fault(inner: &mut Inner) -> Option<Fault> {
    inner.faults.pop_front()
}

async fn respond(fault: Option<Fault>, status: StatusCode, body: Value) -> Response {
    match fault {
        Some(Fault::ErrorAfterCreate) => {
            (StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").into_response()
        }
        Some(Fault::DelayAfterCreate(d)) => {
            tokio::time::sleep(d).await;
            (status, axum::Json(body)).into_response()
        }
        _ => (status, axum::Json(body)).into_response(),
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
        if o["type"] != "MARKET" {
            return violation(
                &mut inner,
                format!("order.type {} is not MARKET", o["type"]),
            );
        }
        let Some(instrument) = o["instrument"].as_str().filter(|i| i.contains('_')) else {
            return violation(
                &mut inner,
                format!("order.instrument {} is not BASE_QUOTE", o["instrument"]),
            );
        };
        let Some(units) = o["units"]
            .as_str()
            .and_then(|u| Decimal::from_str(u).ok())
            .filter(|u| !u.is_zero())
        else {
            return violation(
                &mut inner,
                format!(
                    "order.units {} is not a non-zero decimal string",
                    o["units"]
                ),
            );
        };
        if !matches!(o["timeInForce"].as_str(), Some("FOK" | "IOC")) {
            return violation(
                &mut inner,
                format!(
                    "market order timeInForce {} is not FOK or IOC",
                    o["timeInForce"]
                ),
            );
        }
        let fill_mode = o["positionFill"].as_str().unwrap_or("DEFAULT");
        let reduce_first = match fill_mode {
            "REDUCE_FIRST" => true,
            "DEFAULT" => !inner.hedging,
            "OPEN_ONLY" => false,
            other => return violation(&mut inner, format!("positionFill {other:?}")),
        };
        let Some(client_id) = o["clientExtensions"]["id"].as_str().map(str::to_owned) else {
            return violation(&mut inner, "clientExtensions.id missing".into());
        };
        let fault = next_fault(&mut inner);
        match &fault {
            Some(Fault::ErrorBeforeCreate) => {
                return (StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").into_response();
            }
            Some(Fault::Reject(reason)) => {
                let id = tx_id(&mut inner);
                let body = json!({"orderRejectTransaction": {"id": id, "type": "MARKET_ORDER_REJECT", "instrument": instrument,
                                   "units": units.to_string(), "rejectReason": reason},
                                  "relatedTransactionIDs": [id], "lastTransactionID": id, "errorCode": reason,
                                  "errorMessage": "The order request was rejected"});
                return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
            }
            _ => {}
        }
        let cancel = match &fault {
            Some(Fault::Cancel(reason)) => Some(*reason),
            _ => None,
        };
        let (create, second) = execute(
            &mut inner,
            instrument,
            units,
            &client_id,
            reduce_first,
            cancel,
            "CLIENT_ORDER",
        );
        let key = if cancel.is_some() {
            "orderCancelTransaction"
        } else {
            "orderFillTransaction"
        };
        let last = inner.next_tx.to_string();
        let reply =
            json!({"orderCreateTransaction": create, key: second, "lastTransactionID": last});
        (fault, StatusCode::CREATED, reply)
    };
    respond(fault, status, reply).await
}

async fn close(
    State(s): State<Shared>,
    Path((account, instrument)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (fault, reply) = {
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
        let long_all = doc["longUnits"].as_str() == Some("ALL");
        let short_all = doc["shortUnits"].as_str() == Some("ALL");
        if !long_all && !short_all {
            return violation(
                &mut inner,
                "close names neither longUnits nor shortUnits as ALL".into(),
            );
        }
        let (long, short) = inner
            .positions
            .get(&instrument)
            .copied()
            .unwrap_or_default();
        // All or nothing: naming a side that does not exist rejects the whole request.
        if (long_all && long.is_zero()) || (short_all && short.is_zero()) {
            inner.violations.push(format!(
                "close of a side that does not exist on {instrument}"
            ));
            let body = json!({"errorCode": "CLOSEOUT_POSITION_DOESNT_EXIST",
                              "errorMessage": "The Position requested to be closed out does not exist",
                              "lastTransactionID": inner.next_tx.to_string()});
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
        let fault = next_fault(&mut inner);
        if matches!(fault, Some(Fault::ErrorBeforeCreate)) {
            return (StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").into_response();
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
                &mut inner,
                &instrument,
                units,
                &client_id,
                true,
                cancel,
                "POSITION_CLOSEOUT",
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
        (fault, Value::Object(reply))
    };
    respond(fault, StatusCode::OK, reply).await
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
    let Some(client_id) = spec.strip_prefix('@') else {
        return violation(
            &mut inner,
            format!("order specifier {spec:?} is not @clientID"),
        );
    };
    match inner.orders_by_client_id.get(client_id) {
        None => (StatusCode::NOT_FOUND, axum::Json(json!({"errorCode": "ORDER_DOESNT_EXIST", "errorMessage": "The order ID specified does not exist"}))).into_response(),
        Some(o) => axum::Json(json!({"order": {"id": o.id, "type": "MARKET", "state": o.state,
                                               "fillingTransactionID": o.filling, "cancellingTransactionID": o.cancelling,
                                               "clientExtensions": {"id": client_id}},
                                     "lastTransactionID": inner.next_tx.to_string()}))
        .into_response(),
    }
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
    match inner.transactions.get(&id) {
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
