//! The OANDA executor end to end against the fake OANDA server: each scenario asserts how
//! many order requests OANDA received and how many orders it created.
#![allow(clippy::unwrap_used)]

mod support;

use chrono::Duration;
use rust_decimal::Decimal;
use shared::Action;
use shared::execution::{ClientOrderId, Leg, OrderRecord, SignalStatus, TradeJournal};
use shared::outcome::Outcome;
use support::fake_oanda::{Fault, Late};
use support::{harness, harness_with, intent};

fn d(n: i64) -> Decimal {
    Decimal::from(n)
}

/// An account long 1,000 EUR_USD with `faults` scripted, and a SHORT_ENTRY signal for it (a
/// reversal: close, then open).
async fn short_from_long(faults: &[Fault]) -> (support::Harness, shared::message::OrderIntent) {
    let h = harness().await;
    h.fake.set_position("EUR_USD", 1000, 0);
    for fault in faults {
        h.fake.script(fault.clone());
    }
    (h, intent(Action::ShortEntry, 1))
}

/// Each journaled send of a signal's legs, in order: (leg, attempt, outcome).
fn sends(legs: &[OrderRecord]) -> Vec<(Leg, u32, Outcome)> {
    legs.iter().map(|l| (l.leg, l.attempt, l.outcome)).collect()
}

#[tokio::test]
async fn reversal_closes_the_short_confirms_it_then_opens_long() {
    let h = harness().await;
    h.fake.set_position("EUR_USD", 0, -1000);
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);

    let calls: Vec<_> = h
        .fake
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let acct = &h.fake.account;
    assert_eq!(
        calls,
        [
            format!("GET /v3/accounts/{acct}/positions/EUR_USD"),
            format!("GET /v3/accounts/{acct}/instruments?instruments=EUR_USD"),
            format!("PUT /v3/accounts/{acct}/positions/EUR_USD/close"),
            format!("GET /v3/accounts/{acct}/positions/EUR_USD"),
            format!("POST /v3/accounts/{acct}/orders"),
            // The open confirmed in the position the instrument's next signal reads.
            format!("GET /v3/accounts/{acct}/positions/EUR_USD"),
        ]
    );
    let orders = h.fake.order_requests();
    assert_eq!(orders[0].body["shortUnits"], "ALL");
    // Named NONE, not left out: an omitted side's documented default is ALL.
    assert_eq!(
        orders[0].body["longUnits"], "NONE",
        "closed a side that did not exist"
    );
    assert_eq!(h.fake.violations(), Vec::<String>::new());
    let o = &orders[1].body["order"];
    assert_eq!(
        (
            o["type"].as_str(),
            o["units"].as_str(),
            o["timeInForce"].as_str()
        ),
        (Some("MARKET"), Some("1000"), Some("FOK"))
    );
    assert_eq!(o["positionFill"], "REDUCE_FIRST");
    assert!(
        o["clientExtensions"]["id"]
            .as_str()
            .unwrap()
            .ends_with("-o")
    );
    assert_eq!(h.fake.position("EUR_USD"), (d(1000), d(0)));
    assert_eq!(h.fake.created_orders(), 2);
    assert_eq!(h.fake.violations(), Vec::<String>::new());

    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter().map(|l| (l.leg, l.outcome)).collect::<Vec<_>>(),
        [(Leg::Close, Outcome::Filled), (Leg::Open, Outcome::Filled)]
    );
    assert_eq!(legs[1].fill_price, Some(Decimal::new(108345, 5)));
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    assert_eq!(signal.status, SignalStatus::Filled);
    assert!(signal.stages.broker_sent.is_some() && signal.stages.broker_acked.is_some());
    let metric = &h.metrics.lines()[0];
    assert_eq!(
        (metric["Broker"].as_str(), metric["Outcome"].as_str()),
        (Some("oanda"), Some("filled"))
    );
}

#[tokio::test]
async fn already_at_target_is_a_no_op_without_orders() {
    let h = harness().await;
    h.fake.set_position("EUR_USD", 1000, 0);
    assert_eq!(
        h.executor
            .execute(&intent(Action::LongEntry, 1))
            .await
            .unwrap(),
        Outcome::NoOp
    );
    assert_eq!(
        h.executor
            .execute(&intent(Action::ShortExit, 2))
            .await
            .unwrap(),
        Outcome::NoOp
    );
    assert_eq!(h.fake.order_requests().len(), 0);
    assert_eq!(
        h.executor
            .execute(&intent(Action::Flatten, 3))
            .await
            .unwrap(),
        Outcome::Filled
    );
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(0)));
    assert_eq!(h.fake.order_requests().len(), 1);
}

#[tokio::test]
async fn the_same_signal_delivered_twice_and_again_after_completion_sends_one_order() {
    let h = harness().await;
    let i = intent(Action::ShortEntry, 1);
    let (a, b) = tokio::join!(h.executor.execute(&i), h.executor.execute(&i));
    let results = [a.is_ok(), b.is_ok()];
    assert_eq!(
        results.iter().filter(|ok| **ok).count(),
        1,
        "one delivery wins, the other is told to come back"
    );
    assert_eq!(
        h.executor.execute(&i).await.unwrap(),
        Outcome::Filled,
        "completed: acknowledged"
    );
    h.clock.advance(Duration::hours(1));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_requests().len(), 1);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-1000)));
}

#[tokio::test]
async fn a_5xx_after_the_order_was_created_is_resolved_by_lookup_one_order() {
    let h = harness().await;
    h.fake.script(Fault::ErrorAfterCreate);
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_requests().len(), 1);
    assert_eq!(h.fake.created_orders(), 1);
    let requests = h.fake.requests();
    let lookups = requests
        .iter()
        .filter(|r| r.path.contains("/transactions/sinceid?id="))
        .count();
    assert_eq!(
        lookups, 1,
        "found in the transactions since the position read"
    );
    assert!(
        !requests.iter().any(|r| r.path.contains("/orders/@")),
        "OANDA documents client id lookups for pending orders only"
    );
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs.len(), 1);
    assert_eq!(legs[0].fill_price, Some(Decimal::new(108345, 5)));
    assert!(legs[0].broker_order_id.is_some());
    assert_eq!(h.fake.position("EUR_USD"), (d(1000), d(0)));
}

#[tokio::test]
async fn a_timeout_after_the_order_was_created_is_resolved_by_lookup_one_order() {
    let h = harness().await;
    h.fake
        .script(Fault::DelayAfterCreate(std::time::Duration::from_secs(4)));
    let i = intent(Action::ShortEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_requests().len(), 1);
    assert_eq!(h.fake.created_orders(), 1);
}

/// A 5xx may come from a request OANDA is still working on, and OANDA documents neither a
/// time within which it is listed nor a client id that stops a second FOK order (unique among
/// pending orders only): an order not found after the settle time is not sent again. The leg
/// ends `unknown`, alarmed, with one POST, one journal row saying why; a redelivery sends
/// nothing.
#[tokio::test]
async fn a_5xx_that_created_nothing_visible_is_never_sent_again_and_ends_unknown() {
    let h = harness().await;
    h.fake.script(Fault::ErrorBeforeCreate);
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.order_requests().len(), 1, "one POST, never a second");
    assert_eq!(h.fake.created_orders(), 0);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.attempt, l.outcome))
            .collect::<Vec<_>>(),
        [(1, Outcome::Unknown)],
        "{legs:?}"
    );
    let why = legs[0].error.as_deref().unwrap_or_default();
    assert!(
        why.contains("nothing found by lookup") && why.contains("not sent again"),
        "{why}"
    );
    assert!(!h.notifier.sent().is_empty(), "alarmed");
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(0)));
    // Acknowledged or dead-lettered: a redelivery touches nothing.
    let _ = h.executor.execute(&i).await;
    assert_eq!(h.fake.order_requests().len(), 1);
}

/// The operator's forced replay of that dead letter, once the lease has run out, sends the
/// order again: its row is a second attempt, and the first send's row (unknown, a 503) stays,
/// so the journal shows both sends where the replay's had overwritten the first.
#[tokio::test]
async fn a_forced_replay_of_an_unknown_outcome_journals_its_send_as_another_attempt() {
    let mut h = harness().await;
    let dlq = h.dead_letters("oanda-dlq");
    h.fake.script(Fault::ErrorBeforeCreate);
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(dlq.messages().len(), 1);
    h.clock.advance(Duration::seconds(61));
    let mut replay: shared::message::OrderIntent =
        serde_json::from_str(&dlq.messages()[0].body).unwrap();
    replay.replay_forced = true;
    assert_eq!(h.executor.execute(&replay).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_requests().len(), 2);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.attempt, l.outcome, l.sent_at.is_some()))
            .collect::<Vec<_>>(),
        [(1, Outcome::Unknown, true), (2, Outcome::Filled, true)],
        "{legs:?}"
    );
}

/// The same forced replay while the journal cannot be read: it cannot know which accounts the
/// signal's orders went to, nor which attempt its send would be, so nothing is sent (a send
/// numbered 1 would overwrite the first send's row, and the journal would lose an order that
/// may still fill). The replay fails before its claim, naming the journal; once the journal
/// answers, it sends and both rows are kept.
#[tokio::test]
async fn a_forced_replay_sends_nothing_while_the_journal_cannot_be_read() {
    let mut h = harness().await;
    let dlq = h.dead_letters("oanda-dlq");
    h.fake.script(Fault::ErrorBeforeCreate);
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    h.clock.advance(Duration::seconds(61));
    let mut replay: shared::message::OrderIntent =
        serde_json::from_str(&dlq.messages()[0].body).unwrap();
    replay.replay_forced = true;

    h.journal.set_down(true);
    let err = h.executor.execute(&replay).await.unwrap_err().to_string();
    assert!(
        err.contains("which account the signal's orders went to"),
        "{err}"
    );
    assert_eq!(h.fake.order_requests().len(), 1, "nothing sent blind");

    h.journal.set_down(false);
    assert_eq!(h.executor.execute(&replay).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_requests().len(), 2);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.attempt, l.outcome))
            .collect::<Vec<_>>(),
        [(1, Outcome::Unknown), (2, Outcome::Filled)],
        "{legs:?}"
    );
}

/// A 429 that came after the order was carried out (OANDA documents no 429 for its order
/// endpoints, so nothing says a 429 means nothing was done): the lookup finds the fill, and
/// the open is not sent again.
#[tokio::test]
async fn a_429_after_the_open_filled_is_found_by_lookup_and_not_sent_again() {
    let (h, i) = short_from_long(&[Fault::Pass, Fault::TooManyAfterCreate]).await;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-1000)));
    assert_eq!(h.fake.order_requests().len(), 2, "one close, one open");
    assert_eq!(h.fake.violations(), Vec::<String>::new());
}

/// A 429 on the open leg of a reversal: OANDA answered, and a FOK market order is filled or
/// cancelled within its request, so the lookup of every transaction since the send (checked
/// whole, to the answer's lastTransactionID) finding none of ours, with the position unmoved,
/// shows nothing was created: the open is sent again once and the account ends short 1,000,
/// one order per leg that filled, nothing journaled rejected.
#[tokio::test]
async fn a_429_on_the_open_leg_of_a_reversal_is_confirmed_not_created_and_sent_again() {
    let (h, i) = short_from_long(&[Fault::Pass, Fault::TooMany]).await;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-1000)));
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        sends(&legs),
        [
            (Leg::Close, 1, Outcome::Filled),
            (Leg::Open, 1, Outcome::NotExecuted),
            (Leg::Open, 2, Outcome::Filled),
        ]
    );
    assert!(legs.iter().all(|l| l.outcome != Outcome::Rejected));
    let per_id = h.fake.created_per_client_id();
    assert!(per_id.values().all(|n| *n == 1), "{per_id:?}");
    assert_eq!(h.fake.created_orders(), 2);
}

/// The fills under a client id in the fake's transactions, and the reasons its orders were
/// cancelled for.
fn fills_and_cancels(h: &support::Harness, client_id: &str) -> (usize, Vec<String>) {
    let txs = h.fake.transactions();
    let fills = txs
        .iter()
        .filter(|t| t["type"] == "ORDER_FILL" && t["clientOrderID"] == client_id)
        .count();
    let cancels = txs
        .iter()
        .filter(|t| t["type"] == "ORDER_CANCEL" && t["clientOrderID"] == client_id)
        .map(|t| t["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    (fills, cancels)
}

/// A 429 on the open whose order reached OANDA only after the lookup found nothing (held in
/// something in front of OANDA), just before the open is sent again: the second send names the
/// trade client id the first one's trade holds, OANDA cancels it
/// (`CLIENT_TRADE_ID_ALREADY_EXISTS`), and the executor reads that as "an earlier send
/// filled", finds that fill by lookup and ends filled: short 1,000, not 2,000.
#[tokio::test]
async fn an_open_429d_that_lands_before_its_resend_is_not_opened_twice() {
    let (h, i) =
        short_from_long(&[Fault::Pass, Fault::TooManyThenLate(Late::BeforeNextOrder)]).await;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-1000)));
    let open = ClientOrderId::new(&i.signal_id, Leg::Open);
    let (fills, cancels) = fills_and_cancels(&h, open.as_str());
    assert_eq!(fills, 1, "one open filled");
    assert_eq!(cancels, ["CLIENT_TRADE_ID_ALREADY_EXISTS"]);
    for o in &h.fake.order_requests()[1..] {
        assert_eq!(
            o.body["order"]["tradeClientExtensions"]["id"],
            open.as_str(),
            "every send of the open names its trade client id"
        );
    }
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        sends(&legs),
        [
            (Leg::Close, 1, Outcome::Filled),
            (Leg::Open, 1, Outcome::NotExecuted),
            (Leg::Open, 2, Outcome::Filled),
        ]
    );
    assert_eq!(legs[2].quantity, d(1000));
    assert_eq!(h.fake.violations(), Vec::<String>::new());
}

/// The same late order landing just after the open's second send filled: OANDA cancels the
/// late one, as its trade client id is held by the trade the second send opened.
#[tokio::test]
async fn an_open_429d_that_lands_after_its_resend_is_cancelled_by_oanda() {
    let (h, i) =
        short_from_long(&[Fault::Pass, Fault::TooManyThenLate(Late::AfterNextOrder)]).await;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-1000)));
    let open = ClientOrderId::new(&i.signal_id, Leg::Open);
    assert_eq!(
        fills_and_cancels(&h, open.as_str()),
        (1, vec!["CLIENT_TRADE_ID_ALREADY_EXISTS".to_owned()])
    );
    assert_eq!(
        h.fake.open_trade_client_ids("EUR_USD"),
        [(open.as_str().to_owned(), d(-1000))]
    );
}

/// A 429 on the open and another on its send again, the first order landing only after both
/// (held in front of OANDA): nothing found by the lookups is no proof that nothing was done,
/// as OANDA documents no 429 for the endpoint, so the leg ends `unknown` (alarmed, for a
/// replay to reconcile), not `not_executed`; the late order does land.
#[tokio::test]
async fn an_open_429d_twice_whose_first_lands_late_ends_unknown_not_not_executed() {
    let (h, i) = short_from_long(&[
        Fault::Pass,
        Fault::TooManyThenLate(Late::AfterNextOrder),
        Fault::TooMany,
    ])
    .await;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        sends(&legs),
        [
            (Leg::Close, 1, Outcome::Filled),
            (Leg::Open, 1, Outcome::NotExecuted),
            (Leg::Open, 2, Outcome::Unknown),
        ]
    );
    let why = legs[2].error.as_deref().unwrap_or_default();
    assert!(why.contains("cannot rule out a late order"), "{why}");
    h.fake.land_held();
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-1000)));
}

/// A 429 on the close whose order lands just before the close is sent again: the second close
/// finds the side flat, and the leg is the first close's fill (its price journaled), not a
/// no-op; the open follows.
#[tokio::test]
async fn a_close_429d_that_lands_before_its_resend_is_journaled_as_its_fill() {
    let (h, i) = short_from_long(&[Fault::TooManyThenLate(Late::BeforeNextOrder)]).await;
    // The send again meets the side the late close emptied, as it must (the fake counts a
    // close of a side that does not exist).
    h.extra
        .expect_violation("close of a side that does not exist");
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-1000)));
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        sends(&legs),
        [
            (Leg::Close, 1, Outcome::NotExecuted),
            (Leg::Close, 2, Outcome::Filled),
            (Leg::Open, 1, Outcome::Filled),
        ]
    );
    assert_eq!(legs[1].fill_price, Some(Decimal::new(108345, 5)));
    assert_eq!(legs[1].quantity, d(1000));
}

/// The same late close, with the transactions unreadable by the time the close is sent
/// again: the side is flat as the leg wants, so the reversal goes on, and the close's row says
/// that what closed it could not be told (no fill journaled for it, none made up).
#[tokio::test]
async fn a_close_sent_again_into_a_flat_side_whose_lookup_cannot_tell_says_so() {
    let h = harness().await;
    h.fake.set_position("EUR_USD", 1000, 0);
    h.fake.script(Fault::TooManyThenLate(Late::BeforeNextOrder));
    // The first lookup reads the transactions; every read after it fails.
    h.fake.fail_reads_after("/transactions", 1, 100);
    // The send again meets the side the late close emptied, as it must.
    h.extra
        .expect_violation("close of a side that does not exist");
    let i = intent(Action::ShortEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-1000)));
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        sends(&legs),
        [
            (Leg::Close, 1, Outcome::NotExecuted),
            (Leg::Close, 2, Outcome::NoOp),
            (Leg::Open, 1, Outcome::Filled),
        ]
    );
    let why = legs[1].error.as_deref().unwrap_or_default();
    assert!(why.contains("could not be told"), "{why}");
    assert_eq!(legs[1].fill_price, None);
}

/// A 429 with less of the staleness budget left than the settle time, whose lookup cannot
/// read the transactions: not sent again, and `unknown` (alarmed, for a replay to reconcile),
/// not `not_executed`: OANDA does not document a 429 as not carried out, and nothing confirmed
/// it. It was journaled `not_executed` on the lookup's failure.
#[tokio::test]
async fn a_429_whose_lookup_cannot_tell_ends_unknown_not_not_executed() {
    let h = harness().await;
    let i = intent(Action::LongEntry, 1);
    // 10 ms of the 30 s budget left, under the harness's 20 ms settle time.
    h.clock
        .set(i.signal_time + chrono::Duration::milliseconds(29_990));
    h.fake.script(Fault::TooMany);
    h.fake.fail_reads("/transactions", 100);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.created_orders(), 0);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(sends(&legs), [(Leg::Open, 1, Outcome::Unknown)]);
    let error = legs[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("the lookup could not confirm it"), "{error}");
}

#[tokio::test]
async fn a_429_on_the_close_leg_is_sent_again_and_the_reversal_completes() {
    let (h, i) = short_from_long(&[Fault::TooMany]).await;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-1000)));
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        sends(&legs),
        [
            (Leg::Close, 1, Outcome::NotExecuted),
            (Leg::Close, 2, Outcome::Filled),
            (Leg::Open, 1, Outcome::Filled),
        ]
    );
}

#[tokio::test]
async fn fractional_units_on_a_reversal_are_refused_before_the_close_leaves() {
    let h = harness().await;
    h.fake.set_position("EUR_USD", 1000, 0);
    let mut i = intent(Action::ShortEntry, 1);
    i.quantity_override = Some("1000.5".parse().unwrap());
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Refused);
    assert!(h.fake.order_requests().is_empty(), "nothing sent");
    assert_eq!(
        h.fake.position("EUR_USD"),
        (d(1000), d(0)),
        "the long untouched"
    );
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(
        reason.contains("1000.5") && reason.contains("increment 1"),
        "{reason}"
    );
}

/// OANDA publishes each instrument's `maximumPositionSize`: a reversal whose open would pass
/// it is refused before the close leaves, not half-done (closed, then the open rejected).
#[tokio::test]
async fn a_reversal_over_the_maximum_position_size_is_refused_before_the_close_leaves() {
    let h = harness().await;
    h.fake.set_position("EUR_USD", 1000, 0);
    h.fake.set_max_position("EUR_USD", d(999));
    let i = intent(Action::ShortEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Refused);
    assert!(h.fake.order_requests().is_empty(), "nothing sent");
    assert_eq!(
        h.fake.position("EUR_USD"),
        (d(1000), d(0)),
        "the long untouched"
    );
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(reason.contains("maximum position size 999"), "{reason}");
    // Said as every refusal before a first order says it.
    assert!(
        reason.contains("nothing was sent; the account still holds long 1000 in EUR_USD"),
        "{reason}"
    );
    // The account stays long against the strategy: alarmed. An entry from flat refused for
    // its size is the trader's settings, only logged.
    assert_eq!(h.notifier.sent().len(), 1, "{:?}", h.notifier.sent());
    h.fake.set_position("EUR_USD", 0, 0);
    h.fake.set_max_position("EUR_USD", d(999));
    let flat = intent(Action::ShortEntry, 2);
    assert_eq!(h.executor.execute(&flat).await.unwrap(), Outcome::Refused);
    assert_eq!(h.notifier.sent().len(), 1, "{:?}", h.notifier.sent());
    // Sent anyway (the client alone, past the executor's check), OANDA's answer: created
    // and cancelled POSITION_SIZE_EXCEEDED, nothing filled. (The fake filled it.)
    let sent = client_of(&h.fake.url, &h.fake.token, &h.fake.account)
        .market_order("EUR_USD", d(-1000), "tv-over-the-maximum")
        .await;
    assert!(
        matches!(&sent, Ok(executor_oanda::client::OrderResult::Cancelled { reason, .. })
            if reason.contains("POSITION_SIZE_EXCEEDED")),
        "{sent:?}"
    );
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(0)));
}

#[tokio::test]
async fn with_the_shipped_defaults_gold_and_an_index_are_refused_for_lack_of_a_size_even_with_a_quantity()
 {
    let h = support::harness_with_risk(false, executor_oanda::config::DEFAULT_RISK).await;
    for (instrument, price) in [("XAU_USD", "2650.12"), ("SPX500_USD", "5900.5")] {
        let mut i = intent(Action::LongEntry, 1);
        i.instrument = shared::Instrument::new(instrument);
        i.signal_id = shared::SignalId::of_canonical(instrument);
        i.reference_price = price.parse().unwrap();
        assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Refused);
        let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
        assert!(
            reason.contains("no size is configured") && reason.contains(instrument),
            "{reason}"
        );
        // Nor does an alert's quantity size them: the shipped defaults' only position limit
        // is for currency units (a Pine strategy's `{{strategy.order.contracts}}` of gold).
        let mut quantity = i.clone();
        quantity.quantity_override = Some(d(94));
        quantity.signal_id = shared::SignalId::of_canonical(&format!("{instrument} quantity"));
        assert_eq!(
            h.executor.execute(&quantity).await.unwrap(),
            Outcome::Refused
        );
        let reason = test_kit::executor::journaled_reason(&h.journal, &quantity.signal_id).await;
        assert!(
            reason.contains("is not configured") && reason.contains("quantity 94"),
            "{reason}"
        );
    }
    assert!(h.fake.order_requests().is_empty());
    // A currency pair keeps its default size.
    assert_eq!(
        h.executor
            .execute(&intent(Action::LongEntry, 2))
            .await
            .unwrap(),
        Outcome::Filled
    );
}

#[tokio::test]
async fn a_configured_size_over_the_notional_cap_is_refused_before_any_order() {
    let risk = "default_max_position = \"100000\"\n[instruments.XAU_USD]\nsize = \"1000\"\nmax_position = \"1000\"\n";
    let h = support::harness_with_risk(false, risk).await;
    let mut i = intent(Action::LongEntry, 1);
    i.instrument = shared::Instrument::new("XAU_USD");
    i.reference_price = "2650.12".parse().unwrap();
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Refused);
    assert!(h.fake.order_requests().is_empty());
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(reason.contains("per-order cap 250000"), "{reason}");
    // And where the cap is set.
    assert!(
        reason.contains(
            "(set in RISK_CONFIG; locally OANDA_RISK_CONFIG or OANDA_RISK_CONFIG_FILE); nothing was sent"
        ),
        "{reason}"
    );
}

/// The fake reports each position's `marginUsed`, as OANDA does, whether or not a test set a
/// balance: a growing reversal on the default account reads the summary for its margin
/// check (it skipped the check, and the read, when the field was missing) and fills.
#[tokio::test]
async fn a_growing_reversal_reads_the_margin_on_the_default_account() {
    let risk = "default_max_position = \"100000\"\n[instruments.EUR_USD]\nsize = \"30000\"\n";
    let h = support::harness_with_risk(false, risk).await;
    h.fake.set_position("EUR_USD", 10_000, 0);
    let i = intent(Action::ShortEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-30_000)));
    let summaries = h
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/summary"))
        .count();
    assert!(summaries >= 1, "the margin check read the summary");
}

/// A reversal that grows the position beyond what the account's margin carries once the
/// close is done is refused before the close: the long stays, nothing is sent. OANDA (here the
/// fake's margin model) would otherwise fill the close and cancel the open
/// `INSUFFICIENT_MARGIN`, leaving the account flat. With room for it, the same reversal runs.
#[tokio::test]
async fn a_reversal_the_margin_cannot_carry_is_refused_before_its_close() {
    let risk = "default_max_position = \"100000\"\n[instruments.EUR_USD]\nsize = \"30000\"\n";
    let h = support::harness_with_risk(false, risk).await;
    // 10,000 EUR_USD at 1.08345 use 360.79 USD (the fake's 3.33 %): with a 900 USD balance,
    // 900 would be free once the long is closed, and a 30,000 short needs about 1,082.37.
    h.fake.set_balance(d(900));
    h.fake.set_position("EUR_USD", 10_000, 0);
    let i = intent(Action::ShortEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Refused);
    assert!(h.fake.order_requests().is_empty());
    assert_eq!(h.fake.position("EUR_USD"), (d(10_000), d(0)));
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    for part in [
        "refused before the close",
        "30000 units",
        "1082.37 USD",
        "900.00 USD would be free",
        "INSUFFICIENT_MARGIN",
        "nothing was sent, the account still holds",
    ] {
        assert!(reason.contains(part), "{part:?} in {reason}");
    }
    // The account stays long against the strategy: alarmed, not only logged.
    let sent = h.notifier.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].message.contains("INSUFFICIENT_MARGIN"), "{sent:?}");
    // A shortfall of 2.6 % (1,082.37 needed, 1,055 free) is refused as well: OANDA would
    // cancel the open.
    h.fake.set_balance(Decimal::new(1055, 0));
    let near = intent(Action::ShortEntry, 2);
    assert_eq!(h.executor.execute(&near).await.unwrap(), Outcome::Refused);
    assert!(h.fake.order_requests().is_empty());
    let reason = test_kit::executor::journaled_reason(&h.journal, &near.signal_id).await;
    assert!(reason.contains("1055.00 USD would be free"), "{reason}");
    assert_eq!(h.notifier.sent().len(), 2);
    // Room for it: 2,000 USD free once the long is closed.
    h.fake.set_balance(d(2000));
    let j = intent(Action::ShortEntry, 3);
    assert_eq!(h.executor.execute(&j).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-30_000)));
    // And a reversal no larger than what it closes is not read for: back to long 30,000
    // costs no margin read (the fake's summary would not be asked).
    let summaries = |h: &support::Harness| {
        h.fake
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/summary"))
            .count()
    };
    let before = summaries(&h);
    let k = intent(Action::LongEntry, 4);
    assert_eq!(h.executor.execute(&k).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(30_000), d(0)));
    assert_eq!(summaries(&h), before);
    // 1.2 % short (1,082.37 needed, 1,070 free) is refused too: the 2 % kept for the price
    // between the reads is on the side of not sending, where OANDA would cancel the open
    // after the close.
    h.fake.set_position("EUR_USD", 10_000, 0);
    h.fake.set_balance(d(1070));
    let within = intent(Action::ShortEntry, 5);
    assert_eq!(h.executor.execute(&within).await.unwrap(), Outcome::Refused);
    assert_eq!(h.fake.position("EUR_USD"), (d(10_000), d(0)));
    // With 2 % to spare (1,110 free against 1,104.02), it is sent and fills.
    h.fake.set_balance(d(1110));
    let spare = intent(Action::ShortEntry, 6);
    assert_eq!(h.executor.execute(&spare).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-30_000)));
}

/// A profitable position's unrealized profit is in `marginAvailable` already (OANDA's v20
/// formula: NAV = balance + unrealized P/L, marginAvailable = NAV - marginUsed): its close
/// frees its margin and nothing more. Counted a second time, this reversal passed the check
/// (1,500 USD taken as free), its close filled and OANDA cancelled the open
/// `INSUFFICIENT_MARGIN`: flat, where the strategy is short. Refused before the close now.
#[tokio::test]
async fn a_profitable_positions_profit_is_not_counted_twice_for_a_reversals_margin() {
    let risk = "default_max_position = \"100000\"\n[instruments.EUR_USD]\nsize = \"30000\"\n";
    let h = support::harness_with_risk(false, risk).await;
    // Long 10,000 using 360.79 USD, 500 USD of balance and 500 USD of unrealized profit: a
    // NAV of 1,000, 639.21 available; once closed, 1,000 free against the 1,082.37 a 30,000
    // short needs.
    h.fake.set_balance(d(500));
    h.fake.set_position("EUR_USD", 10_000, 0);
    h.fake.set_unrealized_pl("EUR_USD", "500");
    let i = intent(Action::ShortEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Refused);
    assert!(h.fake.order_requests().is_empty());
    assert_eq!(h.fake.position("EUR_USD"), (d(10_000), d(0)));
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    for part in [
        "1082.37 USD",
        "1000.00 USD would be free",
        "INSUFFICIENT_MARGIN",
    ] {
        assert!(reason.contains(part), "{part:?} in {reason}");
    }
    // A profit large enough for it (a NAV of 1,200) lets the same reversal through, and the
    // fake, realizing the profit into the balance at the close, fills the open.
    h.fake.set_unrealized_pl("EUR_USD", "700");
    let j = intent(Action::ShortEntry, 2);
    assert_eq!(h.executor.execute(&j).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-30_000)));
    // A loss is in the NAV as well, and not taken off a second time: 1,320 of balance less
    // 200 of loss is 1,120 free once the long is closed, against the 1,104.02 asked.
    h.fake.set_position("EUR_USD", 10_000, 0);
    h.fake.set_balance(d(1320));
    h.fake.set_unrealized_pl("EUR_USD", "-200");
    let k = intent(Action::ShortEntry, 3);
    assert_eq!(h.executor.execute(&k).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-30_000)));
}

/// A reversal whose close filled and whose open OANDA cancelled (insufficient margin): the
/// account is flat, not short. The signal ends `rejected`, and its reason and alarm say the
/// close filled, so the trader knows the account moved.
#[tokio::test]
async fn an_open_cancelled_after_the_close_filled_says_the_account_moved() {
    let (h, i) = short_from_long(&[Fault::Pass, Fault::Cancel("INSUFFICIENT_MARGIN")]).await;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(0)));
    let reason = h
        .journal
        .signal(&i.signal_id)
        .await
        .unwrap()
        .unwrap()
        .reason
        .unwrap_or_default();
    assert!(reason.contains("INSUFFICIENT_MARGIN"), "{reason}");
    assert!(
        reason.contains("after this signal's close filled"),
        "{reason}"
    );
    let sent = h.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert!(
        format!("{:?}", sent[0]).contains("after this signal's close filled"),
        "{:?}",
        sent[0]
    );
}

#[tokio::test]
async fn a_definitive_reject_is_journaled_notified_acknowledged_and_not_retried() {
    let h = harness().await;
    h.fake.script(Fault::Cancel("INSUFFICIENT_MARGIN"));
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    assert_eq!(signal.status, SignalStatus::Rejected);
    assert!(signal.reason.unwrap().contains("INSUFFICIENT_MARGIN"));
    let sent = h.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].message.contains("INSUFFICIENT_MARGIN"));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    assert_eq!(h.fake.order_requests().len(), 1);

    let h = harness().await;
    h.fake.script(Fault::Reject("UNITS_PRECISION_EXCEEDED"));
    assert_eq!(
        h.executor
            .execute(&intent(Action::ShortEntry, 2))
            .await
            .unwrap(),
        Outcome::Rejected
    );
    assert_eq!(h.fake.created_orders(), 0);
}

#[tokio::test]
async fn a_rejected_close_never_opens_the_other_side() {
    let h = harness().await;
    h.fake.set_position("EUR_USD", 0, -1000);
    h.fake.script(Fault::Cancel("MARKET_HALTED"));
    assert_eq!(
        h.executor
            .execute(&intent(Action::LongEntry, 1))
            .await
            .unwrap(),
        Outcome::Rejected
    );
    assert_eq!(h.fake.order_requests().len(), 1);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-1000)));
}

/// An instrument whose `tradeUnitsPrecision` no size can have (over 28 decimal places; OANDA's
/// are 0 or 1) is an answer that cannot be right: the signal is not sent and comes back
/// through its queue, where it panicked before.
#[tokio::test]
async fn an_instrument_precision_no_size_can_have_sends_nothing() {
    let h = harness().await;
    h.fake
        .set_instrument("EUR_USD", 29, d(1), Decimal::from(100_000_000));
    let i = intent(Action::LongEntry, 1);
    let err = h.executor.execute(&i).await.unwrap_err();
    assert!(err.to_string().contains("tradeUnitsPrecision 29"), "{err}");
    assert_eq!(h.fake.order_requests().len(), 0);
}

#[tokio::test]
async fn a_crash_between_acceptance_and_the_journal_write_still_makes_one_order() {
    let h = harness().await;
    let i = intent(Action::LongEntry, 1);
    h.journal.set_down(true);
    assert!(
        h.executor.execute(&i).await.is_err(),
        "journal outage: reported failed"
    );
    assert_eq!(h.fake.created_orders(), 1);
    h.journal.set_down(false);
    // The failed attempt handed its lease over: the redelivery, seconds later and well inside
    // the 60 s lease, takes over and reconciles by lookup instead of sending again.
    h.clock.advance(Duration::seconds(2));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_requests().len(), 1);
    assert_eq!(h.fake.created_orders(), 1);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs.len(), 1);
    assert_eq!(legs[0].outcome, Outcome::Filled);
}

/// A reversal whose close OANDA refuses (the fake answers a scripted reject meeting a close
/// with the close's own documented 400 and reject transaction; it answered the close as
/// filled and spent the fault): nothing more is sent, the account keeps its long, and the
/// signal ends `rejected` with the close's leg journaled so.
#[tokio::test]
async fn a_reversal_whose_close_is_refused_sends_no_open_and_keeps_the_long() {
    let (h, i) = short_from_long(&[Fault::Reject("INSUFFICIENT_MARGIN")]).await;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    assert_eq!(h.fake.position("EUR_USD"), (d(1000), d(0)));
    assert_eq!(h.fake.order_requests().len(), 1, "only the close");
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(sends(&legs), [(Leg::Close, 1, Outcome::Rejected)]);
    assert!(h.fake.violations().is_empty(), "{:?}", h.fake.violations());
}

/// A refused entry whose journal write failed: the takeover finds the reject transaction
/// and journals the leg as sent, a sell of 1,000 (it was a buy of 0: a refused order has no
/// create to read its units from).
#[tokio::test]
async fn a_takeover_journals_a_refused_legs_side_and_size_from_its_reject() {
    let h = harness().await;
    h.fake.script(Fault::Reject("INSUFFICIENT_MARGIN"));
    let i = intent(Action::ShortEntry, 1);
    h.journal.set_down(true);
    assert!(h.executor.execute(&i).await.is_err());
    h.journal.set_down(false);
    h.clock.advance(Duration::seconds(2));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    assert_eq!(h.fake.order_requests().len(), 1);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs.len(), 1, "{legs:?}");
    assert_eq!(
        (legs[0].side, legs[0].quantity, legs[0].outcome),
        (shared::execution::Side::Sell, d(1000), Outcome::Rejected)
    );
}

/// A short entry that only reduced a long opened by hand after the read, its journal write
/// failed: the takeover finds the fill in the transactions and journals the leg as sent, a
/// sell that opened 0, in part, never a buy (the sign of nothing).
#[tokio::test]
async fn a_takeover_journals_an_open_that_only_reduced_as_its_own_side_at_zero() {
    let h = harness().await;
    h.fake.script(Fault::MovedBeforeOpen {
        long: 1000,
        short: 0,
        answer_lost: false,
    });
    let i = intent(Action::ShortEntry, 1);
    h.journal.set_down(true);
    assert!(h.executor.execute(&i).await.is_err());
    h.journal.set_down(false);
    h.clock.advance(Duration::seconds(2));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.created_orders(), 1, "never sent again");
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(0)));
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    let open = legs.last().unwrap();
    assert_eq!(
        (open.leg, open.side, open.quantity, open.outcome),
        (
            Leg::Open,
            shared::execution::Side::Sell,
            d(0),
            Outcome::Filled
        ),
        "{legs:?}"
    );
    assert!(
        open.error
            .as_deref()
            .is_some_and(|e| e.contains(executor_runtime::drive::CHANGED_OUTSIDE_STOP)),
        "{legs:?}"
    );
}

/// A first send answered 429 with nothing done (journaled not executed, sent again), whose
/// second send OANDA refused but whose answer was lost, the lookup unable to read the
/// transactions: attempt 2 is journaled unknown, the signal dead-lettered. The operator's
/// replay finds the reject and settles attempt 2's row with it; it wrote the reject over
/// attempt 1 (numbered as the takeover reported it, having no order id or send time) and
/// left attempt 2 unknown for ever in the report.
#[tokio::test]
async fn a_takeover_settles_the_unresolved_row_with_a_reject_it_finds() {
    let mut h = harness().await;
    let dlq = h.dead_letters("oanda-dlq");
    h.fake.script(Fault::TooMany);
    h.fake.script(Fault::RejectThenError("INSUFFICIENT_MARGIN"));
    let i = intent(Action::LongEntry, 1);
    // The 429's lookup reads the transactions; the lost answer's lookup cannot.
    h.fake.fail_reads_after("/transactions", 1, 100);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.order_requests().len(), 2);
    let rows = |legs: &[shared::execution::OrderRecord]| {
        legs.iter()
            .map(|l| (l.attempt, l.outcome))
            .collect::<Vec<_>>()
    };
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        rows(&legs),
        [(1, Outcome::NotExecuted), (2, Outcome::Unknown)],
        "{legs:?}"
    );
    let first_error = legs[0].error.clone();
    assert_eq!(dlq.messages().len(), 1);
    h.fake.fail_reads("/transactions", 0);
    h.clock.advance(Duration::seconds(61));
    let mut replay: shared::message::OrderIntent =
        serde_json::from_str(&dlq.messages()[0].body).unwrap();
    replay.replay_forced = true;
    assert_eq!(
        h.executor.execute(&replay).await.unwrap(),
        Outcome::Rejected
    );
    assert_eq!(h.fake.order_requests().len(), 2, "never sent again");
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        rows(&legs),
        [(1, Outcome::NotExecuted), (2, Outcome::Rejected)],
        "{legs:?}"
    );
    assert_eq!(legs[0].error, first_error, "attempt 1's row as it was");
}

/// The same for a refused close: a reversal's close of the long refused, its journal write
/// failed; the takeover journals the close a sell (of 0: a close asks for `ALL`), read from
/// the reject's `longPositionCloseout`, where it was a buy of 0.
#[tokio::test]
async fn a_takeover_journals_a_refused_closes_side_from_the_side_it_closes() {
    let (h, i) = short_from_long(&[Fault::Reject("INSUFFICIENT_MARGIN")]).await;
    h.journal.set_down(true);
    assert!(h.executor.execute(&i).await.is_err());
    h.journal.set_down(false);
    h.clock.advance(Duration::seconds(2));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    assert_eq!(h.fake.order_requests().len(), 1, "only the close");
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.leg, l.side, l.outcome))
            .collect::<Vec<_>>(),
        [(Leg::Close, shared::execution::Side::Sell, Outcome::Rejected)],
        "{legs:?}"
    );
    assert_eq!(h.fake.position("EUR_USD"), (d(1000), d(0)));
}

/// A long entry whose order filled and whose journal write failed (the record keeps its
/// lease), two seconds on: what a takeover meets. With a dead-letter queue for an unknown
/// outcome.
async fn filled_unjournaled() -> (
    support::Harness,
    shared::message::OrderIntent,
    std::sync::Arc<test_kit::fifo::MemoryFifoQueue<shared::clock::ManualClock>>,
) {
    let mut h = harness().await;
    let dlq = h.dead_letters("oanda-dlq");
    let i = intent(Action::LongEntry, 1);
    h.journal.set_down(true);
    assert!(h.executor.execute(&i).await.is_err());
    h.journal.set_down(false);
    h.clock.advance(Duration::seconds(2));
    (h, i, dlq)
}

/// A takeover that cannot read the earlier attempt's transactions sends nothing and ends
/// `unknown`: journaled with why, alarmed and dead-lettered, its lease kept. (Sent back
/// through the queue, its redeliveries seconds apart ended in the dead-letter queue with no
/// journal row and no alarm while the order had filled; planned from the position alone, it
/// read the long as already there.) The operator's replay takes over and journals the fill.
#[tokio::test]
async fn a_takeover_that_cannot_read_the_transactions_ends_unknown_and_a_replay_finds_the_fill() {
    let (h, i, dlq) = filled_unjournaled().await;
    h.fake.fail_reads("/transactions", 100);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert!(h.journal.orders(&i.signal_id).await.unwrap().is_empty());
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    let reason = signal.reason.unwrap_or_default();
    assert!(
        reason.contains("earlier attempt's orders could not be read"),
        "{reason}"
    );
    assert!(!h.notifier.sent().is_empty(), "alarmed");
    assert_eq!(dlq.messages().len(), 1);
    h.fake.fail_reads("/transactions", 0);
    h.clock.advance(Duration::seconds(61));
    let mut replay: shared::message::OrderIntent =
        serde_json::from_str(&dlq.messages()[0].body).unwrap();
    replay.replay_forced = true;
    assert_eq!(h.executor.execute(&replay).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_requests().len(), 1);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs.len(), 1);
    assert_eq!(legs[0].outcome, Outcome::Filled);
}

/// The same when a page of the transactions answers 404 (listed by the specification for the
/// transaction endpoints): not read as "no transactions", which planned the takeover from the
/// position alone and journaled the earlier attempt's fill as nothing.
#[tokio::test]
async fn a_takeover_whose_transaction_page_answers_404_ends_unknown() {
    let (h, i, dlq) = filled_unjournaled().await;
    h.fake.fail_reads_with(
        "/transactions/idrange",
        100,
        axum::http::StatusCode::NOT_FOUND,
    );
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.order_requests().len(), 1, "nothing sent again");
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(
        reason.contains("earlier attempt's orders could not be read")
            && reason.contains("not found"),
        "{reason}"
    );
    assert_eq!(dlq.messages().len(), 1);
}

/// The same when a page holds fewer transactions than the paged query's `count`: a list cut
/// short is not taken for the whole one.
#[tokio::test]
async fn a_takeover_whose_transaction_pages_fall_short_of_their_count_ends_unknown() {
    let (h, i, dlq) = filled_unjournaled().await;
    // The earlier attempt's order and its fill: a page of one holds the order alone.
    h.fake.cap_pages(1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.order_requests().len(), 1, "nothing sent again");
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(
        reason.contains("OANDA's answer is not whole") && reason.contains("pages held 1"),
        "{reason}"
    );
    assert_eq!(dlq.messages().len(), 1);
}

#[tokio::test]
async fn stale_kill_switched_and_oversized_signals_are_refused_without_orders() {
    let h = harness().await;
    h.clock.advance(Duration::seconds(40));
    assert_eq!(
        h.executor
            .execute(&intent(Action::LongEntry, 1))
            .await
            .unwrap(),
        Outcome::Expired
    );
    assert_eq!(h.notifier.sent().len(), 1);

    let h = harness_with(true).await;
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Refused);
    assert!(
        h.journal
            .signal(&i.signal_id)
            .await
            .unwrap()
            .unwrap()
            .reason
            .unwrap()
            .contains("kill switch")
    );

    let h = harness().await;
    let mut big = intent(Action::ShortEntry, 1);
    big.quantity_override = Some(d(6000));
    assert_eq!(h.executor.execute(&big).await.unwrap(), Outcome::Refused);
    let reason = test_kit::executor::journaled_reason(&h.journal, &big.signal_id).await;
    assert!(
        reason.contains("6000") && reason.contains("5000"),
        "{reason}"
    );
    // Flat: nothing held to name, and no alarm (the account is where it was).
    assert!(!reason.contains("still holds"), "{reason}");
    let alarms = h.notifier.sent().len();
    let mut ok = intent(Action::ShortEntry, 2);
    ok.quantity_override = Some(d(2500));
    assert_eq!(h.executor.execute(&ok).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-2500)));
    assert_eq!(h.fake.order_requests().len(), 1);
    // A reversal refused for its size leaves the short open, and says so: the strategy took
    // the alert for done.
    let mut back = intent(Action::LongEntry, 3);
    back.quantity_override = Some(d(6000));
    assert_eq!(h.executor.execute(&back).await.unwrap(), Outcome::Refused);
    let reason = test_kit::executor::journaled_reason(&h.journal, &back.signal_id).await;
    assert!(
        reason.contains("nothing was sent; the account still holds short 2500 in EUR_USD"),
        "{reason}"
    );
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-2500)));
    // The account stays short against the strategy: alarmed, as a reversal the plan's own
    // checks refuse is.
    assert_eq!(
        h.notifier.sent().len(),
        alarms + 1,
        "{:?}",
        h.notifier.sent()
    );
    assert!(
        h.fake
            .requests()
            .iter()
            .all(|r| r.body.to_string().find("6000").is_none())
    );
}

/// An exit with an alert quantity (a strategy's partial exit) closes the whole side, as
/// documented, and says so on the signal: it was silent, the strategy left believing part of
/// the position open.
#[tokio::test]
async fn an_exit_with_a_quantity_closes_the_side_and_says_the_quantity_was_not_used() {
    let h = harness().await;
    h.fake.set_position("EUR_USD", 1000, 0);
    let mut exit = intent(Action::LongExit, 1);
    exit.quantity_override = Some(d(500));
    assert_eq!(h.executor.execute(&exit).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(0)));
    let reason = test_kit::executor::journaled_reason(&h.journal, &exit.signal_id).await;
    assert!(
        reason.contains("the alert's quantity 500 is not used by an exit or a flatten"),
        "{reason}"
    );
}

/// An exit or a flatten needs no size rule, so a failing instruments read does not hold it
/// up (it waited until it expired, the position left open), nor does a list that no longer
/// names an instrument the account holds (it was rejected unsent): the close is sent.
#[tokio::test]
async fn an_exit_is_not_held_up_by_the_instruments_read() {
    let h = harness().await;
    h.fake.set_position("EUR_USD", 1000, 0);
    h.fake.fail_reads("/instruments", 100);
    let exit = intent(Action::LongExit, 1);
    assert_eq!(h.executor.execute(&exit).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(0)));
    assert_eq!(h.fake.order_requests().len(), 1);
    h.fake.set_position("EUR_USD", 0, -1000);
    let flat = intent(Action::Flatten, 2);
    assert_eq!(h.executor.execute(&flat).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(0)));
    assert!(
        !h.fake
            .requests()
            .iter()
            .any(|r| r.path.contains("/instruments")),
        "an exit read the instruments"
    );
    // An entry still needs them: nothing sent while they cannot be read.
    let entry = intent(Action::LongEntry, 3);
    assert!(h.executor.execute(&entry).await.is_err());
    assert_eq!(h.fake.order_requests().len(), 2);
}

/// A hedged FLATTEN with too little time for both closes sends neither: one side closed alone
/// reverses the net exposure (long 3,000 and short 2,000 left short 2,000). The refusal names
/// the two closes, not an open the plan does not have.
#[tokio::test]
async fn a_hedged_flatten_with_too_little_time_sends_neither_close() {
    let h = harness().await;
    h.fake.set_hedging(true);
    h.fake.set_position("EUR_USD", 3000, -2000);
    let mut i = intent(Action::Flatten, 1);
    i.signal_time = shared::clock::Clock::now(&h.clock) - Duration::milliseconds(29_900);
    i.received_at = i.signal_time;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Expired);
    assert!(h.fake.order_requests().is_empty());
    assert_eq!(h.fake.position("EUR_USD"), (d(3000), d(-2000)));
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(
        reason.contains("the two closes would not both go out") && !reason.contains("open"),
        "{reason}"
    );
}

#[tokio::test]
async fn flatten_on_a_hedging_account_closes_each_side_under_its_own_client_id() {
    let h = harness().await;
    h.fake.set_hedging(true);
    h.fake.set_position("EUR_USD", 3000, -2000);
    let i = intent(Action::Flatten, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(0)));

    let orders = h.fake.order_requests();
    assert_eq!(orders.len(), 2, "one close per side");
    assert_eq!(orders[0].body["longUnits"], "ALL");
    assert_eq!(orders[1].body["shortUnits"], "ALL");
    let first = orders[0].body["longClientExtensions"]["id"]
        .as_str()
        .unwrap();
    let second = orders[1].body["shortClientExtensions"]["id"]
        .as_str()
        .unwrap();
    assert_ne!(first, second);
    assert!(h.fake.created_per_client_id().values().all(|n| *n == 1));
    assert_eq!(h.fake.violations(), Vec::<String>::new());

    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.leg, l.outcome, l.quantity))
            .collect::<Vec<_>>(),
        [
            (Leg::Close, Outcome::Filled, d(3000)),
            (Leg::CloseHedge, Outcome::Filled, d(2000)),
        ],
        "both closes journaled, each on its own row"
    );
}

#[tokio::test]
async fn an_older_signal_arriving_after_a_newer_one_is_superseded_without_an_order() {
    let h = harness().await;
    let gbp = |action: Action, at: i64, n: u32| {
        let mut i = intent(action, n);
        i.instrument = shared::Instrument::new("GBP_USD");
        i.signal_time = support::t0() + Duration::seconds(at);
        i
    };
    // The SHORT_ENTRY fired at T arrives first; the LONG_ENTRY fired at T - 3 s after it.
    let newer = gbp(Action::ShortEntry, 10, 1);
    let older = gbp(Action::LongEntry, 7, 2);
    assert_eq!(h.executor.execute(&newer).await.unwrap(), Outcome::Filled);
    assert_eq!(
        h.executor.execute(&older).await.unwrap(),
        Outcome::Superseded
    );
    assert_eq!(h.fake.position("GBP_USD"), (d(0), d(-1000)), "ends short");
    assert_eq!(h.fake.order_requests().len(), 1);
    let signal = h.journal.signal(&older.signal_id).await.unwrap().unwrap();
    assert_eq!(signal.status, SignalStatus::Superseded);
    assert!(signal.reason.unwrap().contains("later signal"));
    assert!(h.journal.orders(&older.signal_id).await.unwrap().is_empty());
    assert!(
        h.notifier.sent().is_empty(),
        "no alarm for a superseded signal"
    );
    // Another instrument is not affected: EUR_USD's entry fired before GBP_USD's newer
    // signal still trades (a latest-signal key without the instrument would supersede it).
    let mut eur = intent(Action::LongEntry, 5);
    eur.signal_time = support::t0() + Duration::seconds(7);
    assert_eq!(h.executor.execute(&eur).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(1000), d(0)));
    assert_ne!(
        h.journal
            .signal(&eur.signal_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        SignalStatus::Superseded
    );
    // An equal time is not older.
    let same_time = gbp(Action::LongEntry, 10, 3);
    assert_eq!(
        h.executor.execute(&same_time).await.unwrap(),
        Outcome::Filled
    );
    assert_eq!(h.fake.position("GBP_USD"), (d(1000), d(0)));
    // An operator's forced replay of the old signal is not superseded.
    let mut forced = gbp(Action::ShortEntry, 7, 4);
    forced.replay_forced = true;
    assert_eq!(h.executor.execute(&forced).await.unwrap(), Outcome::Filled);
}

/// An entry its guards refuse still reads the position (a refused reversal closes what is
/// held): when that read fails, the signal is refused all the same, nothing is sent, and the
/// reason says the position could not be read, not only why the entry was refused.
#[tokio::test]
async fn a_refused_entry_whose_position_read_fails_is_refused_saying_so() {
    let risk = r#"
default_max_position = "10000"
[classes.fx]
size = "1000"
[instruments.EUR_USD]
windows = ["Sat 00:00-01:00"]
"#;
    let h = support::harness_with_risk(false, risk).await;
    h.fake.set_position("EUR_USD", 1000, 0);
    h.fake.fail_reads("/positions/EUR_USD", 100);
    let mut entry = intent(Action::ShortEntry, 2);
    entry.signal_time = shared::clock::Clock::now(&h.clock);
    assert_eq!(h.executor.execute(&entry).await.unwrap(), Outcome::Refused);
    let reason = test_kit::executor::journaled_reason(&h.journal, &entry.signal_id).await;
    assert!(
        reason.contains("outside its trading windows")
            && reason.contains("(the position could not be read: "),
        "{reason}"
    );
    assert!(h.fake.order_requests().is_empty());
    assert_eq!(h.fake.position("EUR_USD"), (d(1000), d(0)));
    // Alarmed: it may have been a reversal (here it was), which leaves the account long.
    assert_eq!(h.notifier.sent().len(), 1, "{:?}", h.notifier.sent());
}

/// A pair OANDA does not offer (two majors the wrong way round, as a symbol typed `USDEUR`
/// routes) is rejected before any order, naming the instrument.
#[tokio::test]
async fn a_pair_oanda_does_not_offer_is_rejected_by_name_before_any_order() {
    let h = harness().await;
    let mut i = intent(Action::LongEntry, 1);
    i.instrument = shared::Instrument::new("USD_EUR");
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(reason.contains("USD_EUR"), "{reason}");
    assert!(h.fake.order_requests().is_empty());
}

/// A 403 to a read (a token that may not use the account) is refused naming the settings to
/// check; it read as a bare "OANDA answered 403".
#[tokio::test]
async fn a_403_to_a_read_names_the_account_settings() {
    let h = harness().await;
    h.fake
        .fail_reads_with("/positions/EUR_USD", 100, axum::http::StatusCode::FORBIDDEN);
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(
        reason.contains("403")
            && reason.contains("OANDA_ACCOUNT")
            && reason.contains("OANDA_SECRET_PARAM"),
        "{reason}"
    );
    assert!(h.fake.order_requests().is_empty());
}

#[tokio::test]
async fn a_trading_window_in_chicago_time_follows_daylight_saving() {
    // 08:30-15:00 in Chicago: 14:30-21:00 UTC in November (CST).
    let risk = r#"
default_max_position = "10000"
[classes.fx]
size = "1000"
[instruments.EUR_USD]
windows = ["Mon-Fri 08:30-15:00 America/Chicago"]
"#;
    let h = support::harness_with_risk(false, risk).await;
    // 13:40 UTC would be inside the window in summer (CDT), but is 07:40 in Chicago now.
    h.clock.advance(Duration::minutes(-54));
    let mut early = intent(Action::ShortEntry, 2);
    early.signal_time = shared::clock::Clock::now(&h.clock);
    assert_eq!(h.executor.execute(&early).await.unwrap(), Outcome::Refused);
    let reason = test_kit::executor::journaled_reason(&h.journal, &early.signal_id).await;
    assert!(reason.contains("outside its trading windows"), "{reason}");
    assert!(h.fake.order_requests().is_empty());
    // 14:32 UTC is 08:32 in Chicago: inside.
    h.clock.advance(Duration::minutes(54));
    assert_eq!(
        h.executor
            .execute(&intent(Action::LongEntry, 3))
            .await
            .unwrap(),
        Outcome::Filled
    );
    assert_eq!(h.fake.order_requests().len(), 1);
}

/// An exit closes what is held whatever the entry sizing says: a notional too small for one
/// unit refuses a reversal's open (and so the whole reversal, before any order), never the
/// exit of the position already open; nor does an alert quantity over `max_override`.
#[tokio::test]
async fn an_exit_is_never_held_back_by_entry_sizing() {
    let risk = r#"
default_max_position = "10000"
[classes.fx]
notional = "0.5"
max_override = "2000"
"#;
    let h = support::harness_with_risk(false, risk).await;
    h.fake.set_position("EUR_USD", 1000, 0);
    let reversal = intent(Action::ShortEntry, 1);
    assert_eq!(
        h.executor.execute(&reversal).await.unwrap(),
        Outcome::Refused
    );
    assert!(h.fake.order_requests().is_empty());
    let exit = intent(Action::LongExit, 2);
    assert_eq!(h.executor.execute(&exit).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (Decimal::ZERO, Decimal::ZERO));
    h.fake.set_position("EUR_USD", 0, -1000);
    let mut exit = intent(Action::ShortExit, 3);
    exit.quantity_override = Some(Decimal::from(100_000));
    assert_eq!(h.executor.execute(&exit).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (Decimal::ZERO, Decimal::ZERO));
    assert_eq!(h.fake.order_requests().len(), 2);
}

/// OANDA reports each fill's `commission` in the account's home currency; the journal keeps
/// it per leg, in the quote currency, for the report to subtract from the round trip.
#[tokio::test]
async fn the_commission_of_each_fill_is_journaled_in_the_quote_currency() {
    let h = harness().await;
    h.fake.set_position("EUR_USD", 0, -1000);
    // A USD account trading EUR_USD: quote and home are both USD, factor 1.
    h.fake.set_commission("0.0500", "1");
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter().map(|l| (l.leg, l.fee)).collect::<Vec<_>>(),
        [
            (Leg::Close, Some(Decimal::new(5, 2))),
            (Leg::Open, Some(Decimal::new(5, 2)))
        ]
    );
}

/// A client of `url` with the API token `token`, one read attempt, a 2 s timeout.
fn client_at(url: &str, token: &str) -> executor_oanda::client::OandaClient {
    client_of(url, token, "101-004-1234567-001")
}

/// [`client_at`] for the account `account`.
fn client_of(url: &str, token: &str, account: &str) -> executor_oanda::client::OandaClient {
    use executor_oanda::client::{ClientSettings, OandaClient};
    OandaClient::new(
        url,
        secrecy::SecretString::from(token.to_owned()),
        account,
        ClientSettings {
            timeout: std::time::Duration::from_secs(2),
            read_attempts: 1,
            read_backoff: std::time::Duration::from_millis(10),
        },
    )
    .unwrap()
}

/// A server that is not OANDA (a wrong base URL, a gateway) answering in JSON with the
/// request's headers in its error fields: the error keeps the words, never the API token.
#[tokio::test]
async fn an_answer_echoing_the_authorization_header_never_carries_the_token() {
    let echo = broker_fakes::EchoServer::start_json(400).await;
    let token = "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d-6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b";
    let err = client_at(&echo.url, token)
        .account_summary()
        .await
        .unwrap_err();
    let shown = format!("{err} | {err:?}");
    assert!(shown.contains("Bearer [REDACTED]"), "{shown}");
    assert!(!shown.contains(&token[..12]), "{shown}");
}

/// The same server answering an order and a close 400 in OANDA's error shape, its `errorCode`
/// holding the request's headers: the refusal's reason (journaled, logged, mailed) keeps the
/// words, never the API token.
#[tokio::test]
async fn a_refused_order_echoing_the_authorization_header_never_carries_the_token() {
    use executor_oanda::client::{OrderResult, PositionSideKind};
    let echo = broker_fakes::EchoServer::start_json(400).await;
    let token = "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d-6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b";
    let client = client_at(&echo.url, token);
    let order = client
        .market_order("EUR_USD", Decimal::new(1000, 0), "tv-0123456789abcdef")
        .await;
    let close = client
        .close_position("EUR_USD", PositionSideKind::Long, "tv-0123456789abcdef")
        .await;
    for result in [order, close] {
        let Ok(OrderResult::Rejected { reason }) = &result else {
            panic!("{result:?}");
        };
        assert!(reason.contains("Bearer [REDACTED]"), "{reason}");
        assert!(!reason.contains(&token[..12]), "{reason}");
    }
}

/// An answer of the right status whose body does not parse is named by serde's error, which
/// quotes the value it could not take: a token echoed there is scrubbed by its value before
/// the error is cut to 200 characters (a token split by the cut left its start).
#[tokio::test]
async fn a_token_echoed_in_an_unreadable_body_leaves_nothing_of_itself() {
    let app = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
        let sent = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim_start_matches("Bearer ")
            .to_owned();
        axum::Json(serde_json::json!({
            "account": format!("{}token {sent}", "x".repeat(160)),
        }))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = client_at(&url, "tokH4-SEKRET-9f8e7d6c5b4a");
    let err = client.account_summary().await.unwrap_err();
    let shown = format!("{err} | {err:?}");
    assert!(shown.contains("xxxxx"), "{shown}");
    assert!(!shown.contains("tokH4"), "{shown}");
}

/// A server that echoes the token without the word `Bearer` (`token <value> invalid`), in
/// every field of an error: no text the client returns carries it, for an order, a close or a
/// read.
#[tokio::test]
async fn a_token_echoed_without_bearer_is_scrubbed_by_its_value() {
    use executor_oanda::client::{OrderResult, PositionSideKind};
    // Echoed at the start of the answer's words, and 185 characters in, where the cut to
    // 200 characters splits it (scrubbed after the cut, its start was left readable).
    for pad in [0, 185] {
        let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| async move {
            let sent = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .trim_start_matches("Bearer ")
                .to_owned();
            let words = format!("{}token {sent} invalid", "x".repeat(pad));
            (
                axum::http::StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({
                    "errorCode": words, "errorMessage": words,
                    "orderRejectTransaction": {"id": "1", "type": "MARKET_ORDER_REJECT", "rejectReason": words},
                })),
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let token = "tokH4-SEKRET-9f8e7d6c5b4a";
        let client = client_at(&url, token);
        let order = client
            .market_order("EUR_USD", Decimal::new(1000, 0), "tv-01-o")
            .await;
        let close = client
            .close_position("EUR_USD", PositionSideKind::Long, "tv-01-c")
            .await;
        for result in [order, close] {
            let Ok(OrderResult::Rejected { reason }) = &result else {
                panic!("{result:?}");
            };
            if pad == 0 {
                assert!(reason.contains("token [REDACTED] invalid"), "{reason}");
            }
            assert!(!reason.contains("tokH4"), "{pad}: {reason}");
        }
        let err = client.account_summary().await.unwrap_err();
        let shown = format!("{err} | {err:?}");
        assert!(!shown.contains("tokH4"), "{pad}: {shown}");
        assert!(shown.contains("[REDA"), "{shown}");
    }
}

/// A close of a side already flat answered without the top-level `errorCode` (which the spec
/// says "may not be returned for some errors") reads as nothing to close by the side's reject
/// transaction, as with it; another reject reason stays a refusal.
#[tokio::test]
async fn a_close_of_a_flat_side_without_error_code_is_nothing_to_close() {
    use executor_oanda::client::{OrderResult, PositionSideKind};
    let answer = |reason: &'static str| {
        axum::Router::new().fallback(move || async move {
            (
                axum::http::StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({
                    "longOrderRejectTransaction": {"id": "7", "type": "MARKET_ORDER_REJECT",
                        "rejectReason": reason},
                    "lastTransactionID": "7",
                })),
            )
        })
    };
    for (reason, flat) in [
        ("CLOSEOUT_POSITION_DOESNT_EXIST", true),
        ("MARKET_HALTED", false),
    ] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, answer(reason)).await });
        let close = client_at(&url, "tok")
            .close_position("EUR_USD", PositionSideKind::Long, "tv-01-c")
            .await;
        match close {
            Ok(OrderResult::NothingToClose) => assert!(flat, "{reason}"),
            Ok(OrderResult::Rejected { reason: why }) => {
                assert!(!flat && why.contains(reason), "{reason}: {why}")
            }
            other => panic!("{reason}: {other:?}"),
        }
    }
}

/// A 4xx OANDA does not document for an order (a proxy's 409 or 408, which may come after
/// OANDA filled it) is an unknown outcome, to be looked up, not a refusal; a documented 400
/// is a refusal.
#[tokio::test]
async fn an_undocumented_4xx_to_an_order_is_an_unknown_outcome() {
    use executor_oanda::client::OrderResult;
    use executor_oanda::error::OandaError;
    let token = "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d-6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b";
    for status in [408, 409, 422] {
        let echo = broker_fakes::EchoServer::start_json(status).await;
        let result = client_at(&echo.url, token)
            .market_order("EUR_USD", Decimal::new(1000, 0), "tv-0123456789abcdef")
            .await;
        assert!(
            matches!(result, Err(OandaError::Unknown(_))),
            "{status}: {result:?}"
        );
    }
    let echo = broker_fakes::EchoServer::start_json(404).await;
    let result = client_at(&echo.url, token)
        .market_order("EUR_USD", Decimal::new(1000, 0), "tv-0123456789abcdef")
        .await;
    assert!(
        matches!(result, Ok(OrderResult::Rejected { .. })),
        "{result:?}"
    );
}

/// A success status OANDA does not document for the request (a 200 to an order, a 201 to a
/// close), even with a fill in its body, is an unknown outcome to look up, not a refusal
/// read as "HTTP 200".
#[tokio::test]
async fn an_undocumented_success_status_to_an_order_is_an_unknown_outcome() {
    use executor_oanda::client::PositionSideKind;
    use executor_oanda::error::OandaError;
    let filled = serde_json::json!({
        "orderCreateTransaction": {"id": "7", "type": "MARKET_ORDER"},
        "orderFillTransaction": {"id": "8", "type": "ORDER_FILL", "orderID": "7", "units": "1000", "price": "1.1"},
        "longOrderCreateTransaction": {"id": "7", "type": "MARKET_ORDER"},
        "longOrderFillTransaction": {"id": "8", "type": "ORDER_FILL", "orderID": "7", "units": "-1000", "price": "1.1"},
    });
    for status in [200, 201] {
        let body = filled.clone();
        let app = axum::Router::new().fallback(move || async move {
            (
                axum::http::StatusCode::from_u16(status).unwrap(),
                axum::Json(body),
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = client_at(
            &url,
            "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d-6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b",
        );
        let result = match status {
            200 => {
                client
                    .market_order("EUR_USD", Decimal::new(1000, 0), "tv-01-o")
                    .await
            }
            _ => {
                client
                    .close_position("EUR_USD", PositionSideKind::Long, "tv-01-c")
                    .await
            }
        };
        assert!(
            matches!(result, Err(OandaError::Unknown(_))),
            "{status}: {result:?}"
        );
    }
}

/// The client refuses a base URL the token must not go to: plain http to another machine.
#[test]
fn the_client_refuses_plain_http_to_another_machine() {
    use executor_oanda::client::{ClientSettings, OandaClient};
    let settings = ClientSettings {
        timeout: std::time::Duration::from_secs(2),
        read_attempts: 1,
        read_backoff: std::time::Duration::from_millis(10),
    };
    let err = OandaClient::new(
        "http://api-fxtrade.oanda.com",
        secrecy::SecretString::from("token-0123456789abcdef".to_owned()),
        "101-004-1234567-001",
        settings,
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().starts_with("OANDA_BASE_URL is plain http"),
        "{err}"
    );
}

/// An account id OANDA does not have (a typo in `OANDA_ACCOUNT`): a position read is an error
/// naming the account and the setting, never a flat account (a 404 on the position is no
/// position only once the account summary shows the account), and a signal sends nothing.
#[tokio::test]
async fn an_account_oanda_does_not_have_is_named_never_read_as_flat() {
    use executor_runtime::venue::PositionRead as _;
    let fake = broker_fakes::oanda::FakeOanda::start().await;
    let client = client_of(&fake.url, &fake.token, "101-004-9999999-001");
    let clock = shared::clock::ManualClock::new(support::t0() + chrono::Duration::seconds(2));
    let venue = executor_oanda::venue::OandaVenue::new(client, clock.clone());
    let err = venue.position("EUR_USD").await.unwrap_err();
    let text = format!("{err:?}");
    assert!(
        text.contains("OANDA answered 404 for account 101-004-9999999-001")
            && text.contains("OANDA_ACCOUNT")
            && !text.contains("  "),
        "{text}"
    );
    assert!(!text.contains(&fake.token), "no secret");
    // A signal on it sends nothing and is not ended: it goes back through its queue (to the
    // dead-letter queue, for a replay once the setting is fixed), never journaled rejected.
    let token = fake.token.clone();
    let check = support::violation_check(&fake);
    // The account is one OANDA does not have, on purpose.
    check.expect_violation("unknown account");
    let h = test_kit::executor::harness(fake, venue, clock, false, support::RISK, check);
    let i = intent(Action::LongEntry, 1);
    let got = h.executor.execute(&i).await;
    assert!(got.is_err(), "ended instead of sent back: {got:?}");
    assert_eq!(h.fake.order_requests().len(), 0);
    assert!(
        h.journal.signal(&i.signal_id).await.unwrap().is_none(),
        "nothing journaled"
    );
    assert!(!format!("{got:?}").contains(&token));
}

/// A token OANDA refuses (401): the read's error names the setting, and never the token.
#[tokio::test]
async fn a_token_oanda_refuses_is_named_by_its_setting() {
    use executor_runtime::venue::PositionRead as _;
    let fake = broker_fakes::oanda::FakeOanda::start().await;
    let client = client_of(&fake.url, "not-the-token-1234", &fake.account);
    let clock = shared::clock::ManualClock::new(support::t0() + chrono::Duration::seconds(2));
    let venue = executor_oanda::venue::OandaVenue::new(client, clock);
    let text = format!("{:?}", venue.position("EUR_USD").await.unwrap_err());
    assert!(
        text.contains("401") && text.contains("check OANDA_SECRET"),
        "{text}"
    );
    assert!(!text.contains("not-the-token-1234"), "no secret: {text}");
}

/// A list of transactions cut short (a page limit the spec rules out, "all Transactions newer
/// than the TransactionID", but a public client reported) is an error, never taken as whole:
/// a lookup reading it would find no order of ours among what it left out and allow a send
/// again. Read up to the account's last transaction, it is whole.
#[tokio::test]
async fn a_transaction_list_cut_short_is_an_error_never_a_whole_list() {
    let h = harness().await;
    h.fake.set_position("EUR_USD", 0, -1000);
    assert_eq!(
        h.executor
            .execute(&intent(Action::LongEntry, 1))
            .await
            .unwrap(),
        Outcome::Filled
    );
    let client = client_of(&h.fake.url, &h.fake.token, &h.fake.account);
    // The fake's transaction ids start after 6000.
    let whole = client.transactions_since("6000").await.unwrap();
    assert!(whole.len() >= 2, "{} transactions", whole.len());
    h.fake.cap_since(1);
    let err = client.transactions_since("6000").await.unwrap_err();
    assert!(err.to_string().contains("the list is not whole"), "{err}");
    let last = whole.last().unwrap().id.clone();
    assert!(client.transactions_since(&last).await.unwrap().is_empty());
}

/// A close answered 404 with neither an `errorCode` nor a side's reject transaction, the side
/// having been closed by something else (a stop-loss) between the executor's read and its
/// close: the spec's 404 is "one or more of the Positions specified does not exist", so the
/// close is nothing to do, confirmed by the position, and the open follows: short 1,000, not
/// a reversal journaled `rejected` on a flat account.
#[tokio::test]
async fn a_close_answered_404_for_a_side_closed_in_between_goes_on_to_the_open() {
    let (h, i) = short_from_long(&[Fault::CloseRefused {
        status: 404,
        code: "",
        side_reason: None,
        flatten: true,
    }])
    .await;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-1000)));
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        sends(&legs),
        [
            (Leg::Close, 1, Outcome::NoOp),
            (Leg::Open, 1, Outcome::Filled)
        ]
    );
}

/// The same 404 while the side is still held (an answer the spec also allows for an account
/// that does not exist): the position does not confirm the side closed, so no open is sent
/// and the signal ends `unknown`, the long untouched.
#[tokio::test]
async fn a_close_answered_404_while_the_side_is_held_sends_no_open() {
    let (h, i) = short_from_long(&[Fault::CloseRefused {
        status: 404,
        code: "",
        side_reason: None,
        flatten: false,
    }])
    .await;
    // Half a second of the 30 s budget left (a reversal needs some): the confirmation's
    // wait ends with it.
    h.clock
        .set(i.signal_time + chrono::Duration::milliseconds(29_500));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.position("EUR_USD"), (d(1000), d(0)));
    assert_eq!(h.fake.order_requests().len(), 1, "the close only");
}

/// The trader reverses by hand (or their own pending sell fills) between the executor's read
/// of long 1,000 and its close: the close finds no long (`CLOSEOUT_POSITION_DOESNT_EXIST`)
/// and the account is short 500. The reversal's open, sized from the first read, would have
/// sold 1,000 more (`REDUCE_FIRST` has no long to reduce) and left short 1,500, journaled
/// `filled`; it is not sent, the signal ends rejected and alarmed, the account as the trader
/// left it.
#[tokio::test]
async fn a_reversal_whose_open_side_moved_by_hand_before_its_close_sends_no_open() {
    let (h, i) = short_from_long(&[Fault::MovedBeforeClose {
        long: 0,
        short: -500,
    }])
    .await;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    assert_eq!(h.fake.position("EUR_USD"), (d(0), d(-500)));
    assert_eq!(h.fake.order_requests().len(), 1, "the close only");
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(sends(&legs), [(Leg::Close, 1, Outcome::NoOp)]);
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    let reason = signal.reason.unwrap();
    assert!(
        reason.contains("the open leg was not sent")
            && reason.contains("short 0 when planned, short 500 now"),
        "{reason}"
    );
    assert_eq!(h.notifier.sent().len(), 1, "{:?}", h.notifier.sent());
}

/// An entry from flat whose order met a short the trader opened by hand after the read
/// (`REDUCE_FIRST` reduces it first, the fill listing the trades it closed): long 500 for a
/// target of long 1,000, the hand short netted away. Journaled filled in part at the 500 it
/// opened, alarmed, naming the change, where it was journaled filled 1,000 with no word.
#[tokio::test]
async fn an_open_that_netted_against_a_hand_trade_is_filled_in_part_and_alarmed() {
    let h = harness().await;
    h.fake.script(Fault::MovedBeforeOpen {
        long: 0,
        short: -500,
        answer_lost: false,
    });
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.position("EUR_USD"), (d(500), d(0)));
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(sends(&legs), [(Leg::Open, 1, Outcome::Filled)]);
    assert_eq!(legs[0].quantity, d(500), "what it opened");
    let reason = h
        .journal
        .signal(&i.signal_id)
        .await
        .unwrap()
        .unwrap()
        .reason
        .unwrap();
    assert!(
        reason.contains("filled 1000 units, of which 500 reduced the other side")
            && reason.contains(executor_runtime::drive::CHANGED_OUTSIDE_STOP),
        "{reason}"
    );
    assert_eq!(h.notifier.sent().len(), 1, "{:?}", h.notifier.sent());
    // An entry that met nothing of the other side is a plain fill, no word.
    let j = intent(Action::ShortEntry, 2);
    h.fake.set_position("EUR_USD", 0, 0);
    assert_eq!(h.executor.execute(&j).await.unwrap(), Outcome::Filled);
    let legs = h.journal.orders(&j.signal_id).await.unwrap();
    assert!(legs.iter().all(|l| l.error.is_none()), "{legs:?}");
}

/// The same found by the lookup after the order's answer was lost, and an open that only
/// reduced (a hand short as large as it: nothing opened, the account flat): journaled at what
/// it opened, 500 and then 0, in part and alarmed, never at the size sent.
#[tokio::test]
async fn an_open_that_netted_is_read_so_by_a_lookup_too_and_one_that_opened_nothing_is_zero() {
    for (short, lost, opened, position) in [
        (-500, true, 500, (d(500), d(0))),
        (-1000, false, 0, (d(0), d(0))),
        (-1000, true, 0, (d(0), d(0))),
    ] {
        let h = harness().await;
        h.fake.script(Fault::MovedBeforeOpen {
            long: 0,
            short,
            answer_lost: lost,
        });
        let i = intent(Action::LongEntry, 1);
        assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
        assert_eq!(h.fake.position("EUR_USD"), position);
        let legs = h.journal.orders(&i.signal_id).await.unwrap();
        let open = legs.last().unwrap();
        assert_eq!(
            (open.leg, open.outcome, open.quantity),
            (Leg::Open, Outcome::Filled, d(opened)),
            "{short} {lost}: {legs:?}"
        );
        assert!(
            open.error
                .as_deref()
                .is_some_and(|e| e.contains(executor_runtime::drive::CHANGED_OUTSIDE_STOP)),
            "{legs:?}"
        );
        assert_eq!(h.fake.created_orders(), 1, "never sent again");
        assert_eq!(h.notifier.sent().len(), 1, "{:?}", h.notifier.sent());
    }
}

/// A close answered 404 by something in front of OANDA (an HTML page, no `errorMessage`):
/// not OANDA's "does not exist", so not taken as nothing to close; a refusal, the long
/// untouched, no open sent.
#[tokio::test]
async fn a_close_answered_404_by_a_page_not_oandas_is_a_refusal() {
    let (h, i) = short_from_long(&[Fault::CloseNotFoundPage]).await;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    assert_eq!(h.fake.position("EUR_USD"), (d(1000), d(0)));
    assert_eq!(h.fake.order_requests().len(), 1, "the close only");
}

/// The position read answered 404 by something in front of OANDA (an HTML page, or a
/// gateway's JSON without OANDA's `errorMessage`): not "no position". Read as flat, a short entry over a long sent a sell
/// that only reduced the long (`REDUCE_FIRST`) and journaled `filled`; now nothing is sent.
#[tokio::test]
async fn a_position_read_answered_404_by_a_page_not_oandas_sends_nothing() {
    for fault in [Fault::PositionNotFoundPage, Fault::PositionNotFoundJson] {
        let (h, i) = short_from_long(std::slice::from_ref(&fault)).await;
        let got = h.executor.execute(&i).await;
        assert!(
            !matches!(got, Ok(Outcome::Filled | Outcome::NoOp)),
            "{fault:?}: {got:?}"
        );
        assert!(
            h.fake.order_requests().is_empty(),
            "{fault:?}: no order sent"
        );
        assert_eq!(h.fake.position("EUR_USD"), (d(1000), d(0)), "{fault:?}");
        // The reason names what answered, not an empty OANDA error.
        let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
        assert!(
            reason.contains("404") && reason.contains("not OANDA's error"),
            "{fault:?}: {reason}"
        );
    }
}

/// A close refused with the whole request's `errorCode` saying the position does not exist
/// while the side's own reject transaction says `CLOSEOUT_POSITION_REJECT` (the shape OANDA
/// gives a request that names a missing side beside a held one): the side's reason decides,
/// so the close is a refusal, not "nothing to close" followed by a wait for a flat side that
/// never comes.
#[tokio::test]
async fn a_close_whose_side_reason_disagrees_with_the_error_code_is_refused_by_the_side() {
    let (h, i) = short_from_long(&[Fault::CloseRefused {
        status: 400,
        code: "CLOSEOUT_POSITION_DOESNT_EXIST",
        side_reason: Some("CLOSEOUT_POSITION_REJECT"),
        flatten: false,
    }])
    .await;
    h.clock
        .set(i.signal_time + chrono::Duration::milliseconds(29_500));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    assert_eq!(h.fake.position("EUR_USD"), (d(1000), d(0)));
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(sends(&legs), [(Leg::Close, 1, Outcome::Rejected)]);
    let why = legs[0].error.as_deref().unwrap_or_default();
    assert!(why.contains("CLOSEOUT_POSITION_REJECT"), "{why}");
}
