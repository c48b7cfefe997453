//! The fakes answer as the brokers document, and no more: Tradovate orders carry no
//! `clOrdId` (their `New` command does) and fill asynchronously; OANDA lists every
//! transaction by `sinceid`, enforces instrument rules, and does not find a filled order by
//! client id.
#![allow(clippy::unwrap_used)]
// The fakes start at the broker's own time, as a real server does.
#![allow(clippy::disallowed_methods)]

use broker_fakes::oanda::{self, FakeOanda};
use broker_fakes::tradovate::{self as tv, FakeTradovate};
use chrono::Utc;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::time::Duration;

async fn tv_login(fake: &FakeTradovate) -> String {
    let body = json!({"name": tv::USERNAME, "password": tv::PASSWORD, "appId": "tests",
                      "appVersion": "1.0", "deviceId": "device-1", "cid": tv::CID, "sec": tv::SEC});
    let r: Value = reqwest::Client::new()
        .post(format!("{}/auth/accesstokenrequest", fake.url))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["accessToken"].as_str().unwrap().to_owned()
}

async fn tv_get(fake: &FakeTradovate, token: &str, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", fake.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn tv_place(fake: &FakeTradovate, token: &str, cl_ord_id: &str, qty: i64) -> (u16, String) {
    let body = json!({"accountSpec": tv::ACCOUNT_NAME, "accountId": tv::ACCOUNT_ID,
                      "clOrdId": cl_ord_id, "action": "Buy", "symbol": "ESZ6", "orderQty": qty,
                      "orderType": "Market", "isAutomated": true});
    let r = reqwest::Client::new()
        .post(format!("{}/order/placeorder", fake.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn order_id(placed: &str) -> i64 {
    serde_json::from_str::<Value>(placed).unwrap()["orderId"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn tradovate_order_answers_carry_no_cl_ord_id_and_the_new_command_does() {
    let fake = FakeTradovate::start(Utc::now()).await;
    let token = tv_login(&fake).await;
    let (status, placed) = tv_place(&fake, &token, "coid-1", 2).await;
    assert_eq!(status, 200);
    let id = order_id(&placed);

    // OpenAPI `Order`: id, accountId, contractId, timestamp, action, ordStatus, admin, …
    let documented = [
        "id",
        "accountId",
        "contractId",
        "spreadDefinitionId",
        "timestamp",
        "action",
        "ordStatus",
        "executionProviderId",
        "ocoId",
        "parentId",
        "linkedId",
        "admin",
    ];
    let (_, item) = tv_get(&fake, &token, &format!("/order/item?id={id}")).await;
    let (_, list) = tv_get(&fake, &token, "/order/list").await;
    let deps_path = format!("/order/deps?masterid={}", tv::ACCOUNT_ID);
    let (_, deps) = tv_get(&fake, &token, &deps_path).await;
    for order in [&item, &list[0], &deps[0]] {
        assert_eq!(order["id"], id);
        for key in order.as_object().unwrap().keys() {
            assert!(documented.contains(&key.as_str()), "undocumented {key}");
        }
        assert!(order.get("clOrdId").is_none());
    }

    let (_, commands) = tv_get(&fake, &token, &format!("/command/deps?masterid={id}")).await;
    let commands = commands.as_array().unwrap();
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0]["clOrdId"], "coid-1");
    assert_eq!(commands[0]["commandType"], "New");
    assert_eq!(commands[0]["orderId"], id);
    let command_id = commands[0]["id"].as_i64().unwrap();
    let (status, command) = tv_get(&fake, &token, &format!("/command/item?id={command_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(command["clOrdId"], "coid-1");
    let (_, all) = tv_get(&fake, &token, "/command/list").await;
    assert_eq!(all.as_array().unwrap().len(), 1);

    assert_eq!(fake.placements_for("coid-1"), 1);
    assert_eq!(fake.placements_for("coid-2"), 0);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn tradovate_a_placed_order_is_working_until_the_fill_delay_then_filled() {
    let fake = FakeTradovate::start(Utc::now()).await;
    // Long enough that the reads below come before it on a busy machine.
    fake.set_fill_delay(Duration::from_secs(2));
    let token = tv_login(&fake).await;
    let (_, placed) = tv_place(&fake, &token, "coid-1", 3).await;
    let id = order_id(&placed);

    let (_, order) = tv_get(&fake, &token, &format!("/order/item?id={id}")).await;
    assert_eq!(order["ordStatus"], "Working");
    let (_, fills) = tv_get(&fake, &token, &format!("/fill/deps?masterid={id}")).await;
    assert_eq!(fills, json!([]));
    let (_, positions) = tv_get(&fake, &token, "/position/list").await;
    assert_eq!(positions, json!([]));
    assert_eq!(fake.net("ESZ6"), 0);

    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let (_, order) = tv_get(&fake, &token, &format!("/order/item?id={id}")).await;
    assert_eq!(order["ordStatus"], "Filled");
    let (_, fills) = tv_get(&fake, &token, &format!("/fill/deps?masterid={id}")).await;
    let fill = &fills[0];
    assert_eq!(fill["orderId"], id);
    assert_eq!(fill["qty"], 3);
    assert_eq!(fill["action"], "Buy");
    assert!(fill["price"].is_f64());
    assert!(fill["tradeDate"]["year"].is_i64());
    let (_, positions) = tv_get(&fake, &token, "/position/list").await;
    assert_eq!(positions[0]["netPos"], 3);
    assert_eq!(fake.net("ESZ6"), 3);
}

#[tokio::test]
async fn tradovate_a_cl_ord_id_filter_is_a_violation_and_is_not_applied() {
    let fake = FakeTradovate::start(Utc::now()).await;
    let token = tv_login(&fake).await;
    tv_place(&fake, &token, "coid-1", 1).await;
    tv_place(&fake, &token, "coid-2", 1).await;
    let path = format!("/order/deps?masterid={}&clOrdId=coid-1", tv::ACCOUNT_ID);
    let (_, deps) = tv_get(&fake, &token, &path).await;
    assert_eq!(deps.as_array().unwrap().len(), 2);
    let (_, list) = tv_get(&fake, &token, "/order/list?clOrdId=coid-1").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(fake.violations().len(), 2);

    fake.strict_lookups(false);
    let (_, list) = tv_get(&fake, &token, "/order/list?clOrdId=coid-1").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(fake.violations().len(), 2);
}

#[tokio::test]
async fn tradovate_new_orders_stay_unlisted_for_the_visibility_delay() {
    let fake = FakeTradovate::start(Utc::now()).await;
    // Long enough that the reads below come before it on a busy machine.
    fake.set_visibility_delay(Duration::from_secs(2));
    let token = tv_login(&fake).await;
    let (_, placed) = tv_place(&fake, &token, "coid-1", 1).await;
    let id = order_id(&placed);
    let (_, list) = tv_get(&fake, &token, "/order/list").await;
    assert_eq!(list, json!([]));
    let (status, _) = tv_get(&fake, &token, &format!("/order/item?id={id}")).await;
    assert_eq!(status, 404);
    let (_, commands) = tv_get(&fake, &token, &format!("/command/deps?masterid={id}")).await;
    assert_eq!(commands, json!([]));
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let (_, list) = tv_get(&fake, &token, "/order/list").await;
    assert_eq!(list[0]["id"], id);
    let (_, commands) = tv_get(&fake, &token, &format!("/command/deps?masterid={id}")).await;
    assert_eq!(commands[0]["clOrdId"], "coid-1");
}

#[tokio::test]
async fn tradovate_429_has_an_empty_body_and_creates_nothing() {
    let fake = FakeTradovate::start(Utc::now()).await;
    let token = tv_login(&fake).await;
    fake.script(tv::Fault::TooMany(0));
    let (status, body) = tv_place(&fake, &token, "coid-1", 1).await;
    assert_eq!((status, body.as_str()), (429, ""));
    assert_eq!(fake.orders().len(), 0);
    assert_eq!(fake.placements_for("coid-1"), 0);
    // `TooMany(0)` locks nothing out beyond that request.
    let (status, _) = tv_place(&fake, &token, "coid-1", 1).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn tradovate_error_after_create_leaves_a_working_order_that_fills_later() {
    let fake = FakeTradovate::start(Utc::now()).await;
    fake.set_fill_delay(Duration::from_secs(2));
    let token = tv_login(&fake).await;
    fake.script(tv::Fault::ErrorAfterCreate);
    let (status, _) = tv_place(&fake, &token, "coid-1", 1).await;
    assert_eq!(status, 500);
    let id = fake.orders()[0].id;
    assert_eq!(fake.order_status(id).as_deref(), Some("Working"));
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(fake.order_status(id).as_deref(), Some("Filled"));
    assert_eq!(fake.net("ESZ6"), 1);
}

#[tokio::test]
async fn tradovate_set_accounts_shows_every_account() {
    let fake = FakeTradovate::start(Utc::now()).await;
    fake.set_accounts(vec![(1, "A1".into()), (2, "B2".into())]);
    let token = tv_login(&fake).await;
    let (_, accounts) = tv_get(&fake, &token, "/account/list").await;
    let names: Vec<&str> = accounts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["A1", "B2"]);
}

struct Oanda {
    fake: FakeOanda,
    http: reqwest::Client,
}

impl Oanda {
    async fn start() -> Self {
        Self {
            fake: FakeOanda::start().await,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v3/accounts/{}{tail}", self.fake.url, self.fake.account)
    }

    async fn get(&self, tail: &str) -> (u16, Value) {
        self.get_url(&self.url(tail)).await
    }

    /// A GET of a whole URL (a transactions page the server named).
    async fn get_url(&self, url: &str) -> (u16, Value) {
        let r = self
            .http
            .get(url)
            .bearer_auth(&self.fake.token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn order(&self, instrument: &str, units: &str, client_id: &str) -> (u16, Value) {
        let body = json!({"order": {"type": "MARKET", "instrument": instrument, "units": units,
                                    "timeInForce": "FOK", "positionFill": "REDUCE_FIRST",
                                    "clientExtensions": {"id": client_id, "tag": "tests"}}});
        let r = self
            .http
            .post(self.url("/orders"))
            .bearer_auth(&self.fake.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

#[tokio::test]
async fn oanda_sinceid_lists_the_create_and_the_fill_of_a_client_id() {
    let o = Oanda::start().await;
    let (_, position) = o.get("/positions/EUR_USD").await;
    let mark = position["lastTransactionID"].as_str().unwrap().to_owned();
    let (status, created) = o.order("EUR_USD", "1000", "tv-abc-0").await;
    assert_eq!(status, 201);
    let (status, since) = o.get(&format!("/transactions/sinceid?id={mark}")).await;
    assert_eq!(status, 200);
    let txs = since["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 2);
    assert_eq!(txs[0]["type"], "MARKET_ORDER");
    assert_eq!(txs[0]["clientExtensions"]["id"], "tv-abc-0");
    assert_eq!(txs[1]["type"], "ORDER_FILL");
    assert_eq!(txs[1]["orderID"], txs[0]["id"]);
    assert_eq!(txs[1]["clientOrderID"], "tv-abc-0");
    assert_eq!(txs[1]["units"], "1000");
    assert!(txs[1]["price"].is_string());
    assert_eq!(since["lastTransactionID"], txs[1]["id"]);
    assert_eq!(created["lastTransactionID"], txs[1]["id"]);
    // Nothing after the last one.
    let last = since["lastTransactionID"].as_str().unwrap().to_owned();
    let (_, after) = o.get(&format!("/transactions/sinceid?id={last}")).await;
    assert_eq!(after["transactions"], json!([]));
}

/// With a test's own clock (the simulation's runs days ahead of the machine's), transactions
/// carry its time and `transactions?from=` selects by it: a query from ten minutes before
/// that clock's now lists the order, one from a minute after lists nothing.
#[tokio::test]
async fn oanda_transactions_are_stamped_and_queried_by_the_clock_given() {
    let o = Oanda::start().await;
    let ahead = Utc::now() + chrono::Duration::days(5);
    o.fake
        .use_clock(std::sync::Arc::new(shared::clock::ManualClock::new(ahead)));
    let (status, _) = o.order("EUR_USD", "1000", "tv-clock-0").await;
    assert_eq!(status, 201);
    let at = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, found) = o
        .get(&format!(
            "/transactions?from={}",
            at(ahead - chrono::Duration::minutes(10))
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(found["count"], 2, "{found}");
    let (_, later) = o
        .get(&format!(
            "/transactions?from={}",
            at(ahead + chrono::Duration::minutes(1))
        ))
        .await;
    assert_eq!(later["count"], 0, "{later}");
    let (_, listed) = o.get_url(found["pages"][0].as_str().unwrap()).await;
    let time = listed["transactions"][0]["time"].as_str().unwrap();
    assert!(time.starts_with(&at(ahead)[..10]), "{time}");
}

#[tokio::test]
async fn oanda_units_beyond_the_precision_are_rejected_and_the_reject_is_a_transaction() {
    let o = Oanda::start().await;
    let (status, body) = o.order("EUR_USD", "1000.5", "tv-abc-0").await;
    assert_eq!(status, 400);
    assert_eq!(body["errorCode"], "UNITS_PRECISION_EXCEEDED");
    let reject = &body["orderRejectTransaction"];
    assert_eq!(reject["type"], "MARKET_ORDER_REJECT");
    assert_eq!(reject["rejectReason"], "UNITS_PRECISION_EXCEEDED");
    assert_eq!(reject["clientExtensions"]["id"], "tv-abc-0");
    assert_eq!(o.fake.created_orders(), 0);
    assert_eq!(o.fake.position("EUR_USD"), (Decimal::ZERO, Decimal::ZERO));
    let (_, since) = o.get("/transactions/sinceid?id=0").await;
    assert_eq!(since["transactions"][0]["id"], reject["id"]);

    // SPX500_USD takes one decimal place and at least 0.1.
    let (status, _) = o.order("SPX500_USD", "0.5", "tv-abc-1").await;
    assert_eq!(status, 201);
    let (_, body) = o.order("SPX500_USD", "0.05", "tv-abc-2").await;
    assert_eq!(body["errorCode"], "UNITS_PRECISION_EXCEEDED");
    o.fake
        .set_instrument("EUR_USD", 0, Decimal::from(100), Decimal::from(5000));
    let (_, body) = o.order("EUR_USD", "99", "tv-abc-3").await;
    assert_eq!(body["errorCode"], "UNITS_MIMIMUM_NOT_MET");
    let (_, body) = o.order("EUR_USD", "-5001", "tv-abc-4").await;
    assert_eq!(body["errorCode"], "UNITS_LIMIT_EXCEEDED");
    assert_eq!(o.fake.created_orders(), 1);
}

#[tokio::test]
async fn oanda_instruments_report_the_rules() {
    let o = Oanda::start().await;
    o.fake
        .set_instrument("DE30_EUR", 1, Decimal::new(1, 1), Decimal::from(2500));
    let (status, body) = o
        .get("/instruments?instruments=EUR_USD,XAU_USD,DE30_EUR,NOPE_NOPE1")
        .await;
    assert_eq!(status, 200);
    let list = body["instruments"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["name"], "EUR_USD");
    assert_eq!(list[0]["type"], "CURRENCY");
    assert_eq!(list[0]["tradeUnitsPrecision"], 0);
    assert_eq!(list[0]["minimumTradeSize"], "1");
    assert_eq!(list[0]["maximumOrderUnits"], "100000000");
    assert_eq!(list[1]["type"], "METAL");
    assert_eq!(list[2]["type"], "CFD");
    assert_eq!(list[2]["tradeUnitsPrecision"], 1);
    assert_eq!(list[2]["minimumTradeSize"], "0.1");
    assert_eq!(list[2]["maximumOrderUnits"], "2500");
    assert!(body["lastTransactionID"].is_string());
}

#[tokio::test]
async fn oanda_strict_lookup_does_not_find_a_filled_order_by_client_id() {
    let o = Oanda::start().await;
    let (_, created) = o.order("EUR_USD", "1000", "tv-abc-0").await;
    let (status, body) = o.get("/orders/@tv-abc-0").await;
    assert_eq!(status, 404);
    assert_eq!(body["errorCode"], "ORDER_DOESNT_EXIST");
    // By its OrderID it is found.
    let id = created["orderCreateTransaction"]["id"].as_str().unwrap();
    let (status, body) = o.get(&format!("/orders/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["order"]["state"], "FILLED");
    o.fake.strict_lookups(false);
    let (status, body) = o.get("/orders/@tv-abc-0").await;
    assert_eq!(status, 200);
    assert_eq!(body["order"]["id"], id);
}

/// A close's units are `ALL`, `NONE` or a decimal string (`PositionCloseRequest`); the fake
/// carries out only the first two, and says so of anything else (a number read as `ALL`
/// closed the side; `"500"` closed nothing).
#[tokio::test]
async fn oanda_a_close_of_units_other_than_all_or_none_is_a_violation() {
    let o = Oanda::start().await;
    o.fake.set_position("EUR_USD", 1000, 0);
    let r = o
        .http
        .put(o.url("/positions/EUR_USD/close"))
        .bearer_auth(&o.fake.token)
        .json(&json!({"longUnits": 1000, "shortUnits": "NONE"}))
        .send()
        .await
        .unwrap();
    let _ = r.status();
    let violations = o.fake.violations();
    assert!(
        violations
            .iter()
            .any(|v| v.contains("close longUnits 1000: this fake closes ALL or NONE")),
        "{violations:?}"
    );
    assert!(
        !violations.iter().any(|v| v.contains("shortUnits")),
        "{violations:?}"
    );
}

#[tokio::test]
async fn oanda_429_creates_nothing() {
    let o = Oanda::start().await;
    o.fake.script(oanda::Fault::TooMany);
    let (status, body) = o.order("EUR_USD", "1000", "tv-abc-0").await;
    assert_eq!(status, 429);
    assert!(body["errorMessage"].is_string());
    assert_eq!(o.fake.created_orders(), 0);
    assert_eq!(o.fake.transactions(), Vec::<Value>::new());
}

#[tokio::test]
async fn tradovate_a_liquidation_lands_after_the_delay_and_its_position_reads() {
    let fake = FakeTradovate::start(Utc::now()).await;
    fake.set_fill_delay(Duration::from_millis(100));
    fake.liquidation_takes(Some(1));
    fake.set_net("ESZ6", 2);
    let token = tv_login(&fake).await;
    let body = json!({"accountId": tv::ACCOUNT_ID, "contractId": 3570918, "admin": false,
                      "isAutomated": true});
    let r = reqwest::Client::new()
        .post(format!("{}/order/liquidateposition", fake.url))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let id = order_id(&r.text().await.unwrap());
    let (_, positions) = tv_get(&fake, &token, "/position/list").await;
    assert_eq!(positions[0]["netPos"], 2);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (_, positions) = tv_get(&fake, &token, "/position/list").await;
    assert_eq!(positions[0]["netPos"], 0);
    let (_, fills) = tv_get(&fake, &token, &format!("/fill/deps?masterid={id}")).await;
    assert_eq!(
        (fills[0]["action"].clone(), fills[0]["qty"].clone()),
        (json!("Sell"), json!(2))
    );
    let (_, commands) = tv_get(&fake, &token, &format!("/command/deps?masterid={id}")).await;
    assert!(commands[0].get("clOrdId").is_none());
    assert_eq!(fake.liquidations(), 1);
    assert_eq!(fake.orders().len(), 0);
}

/// Tradovate limits authentication to 10 requests a minute: the 11th login of a minute is
/// answered with a login's penalty (always with a captcha) and counted a violation.
#[tokio::test]
async fn tradovate_answers_the_eleventh_login_of_a_minute_with_a_captcha() {
    let fake = FakeTradovate::start(Utc::now()).await;
    for _ in 0..tv::LOGINS_PER_MINUTE {
        assert!(!tv_login(&fake).await.is_empty());
    }
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    let body = json!({"name": tv::USERNAME, "password": tv::PASSWORD, "appId": "tests",
                      "appVersion": "1.0", "deviceId": "device-1", "cid": tv::CID, "sec": tv::SEC});
    let r: Value = reqwest::Client::new()
        .post(format!("{}/auth/accesstokenrequest", fake.url))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["p-captcha"], true, "{r}");
    assert!(r.get("accessToken").is_none(), "{r}");
    assert_eq!(fake.violations().len(), 1, "{:?}", fake.violations());
}
