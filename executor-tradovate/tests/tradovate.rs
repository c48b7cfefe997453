//! The Tradovate executor against the fake Tradovate server. Each scenario asserts how many
//! orders and how many logins the server saw.
#![allow(clippy::unwrap_used)]

mod support;

use chrono::Duration;
use shared::Action;
use shared::execution::{Leg, SignalStatus, TradeJournal};
use shared::outcome::Outcome;
use support::fake_tradovate::Fault;
use support::{harness, intent};

#[tokio::test]
async fn reversal_liquidates_waits_for_flat_then_opens_with_one_login() {
    let h = harness().await;
    h.fake.set_net("ESZ6", -1);
    h.fake.liquidation_takes(Some(2));
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.liquidations(), 1);
    let orders = h.fake.orders();
    assert_eq!(orders.len(), 1);
    assert_eq!((orders[0].action.as_str(), orders[0].qty), ("Buy", 1));
    assert_eq!(orders[0].body["isAutomated"], true);
    assert_eq!(
        orders[0].body["clOrdId"],
        format!("tv-{}-o", &i.signal_id.as_str()[..24])
    );
    assert_eq!(h.fake.net("ESZ6"), 1);
    assert_eq!(h.fake.logins(), 1);
    assert_eq!(h.fake.violations(), Vec::<String>::new());
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter().map(|l| (l.leg, l.outcome)).collect::<Vec<_>>(),
        [(Leg::Close, Outcome::Filled), (Leg::Open, Outcome::Filled)]
    );
    assert_eq!(
        legs[1].fill_price.map(|p| p.to_string()),
        Some("6012.25".into())
    );
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    assert!(signal.contract_resolution.unwrap().contains("ES1! -> ESZ6"));
}

#[tokio::test]
async fn a_liquidation_that_never_completes_is_unknown_and_opens_nothing() {
    let h = harness().await;
    h.fake.set_net("ESZ6", 2);
    h.fake.liquidation_takes(None);
    let i = intent(Action::ShortEntry, 1);
    assert!(
        h.executor.execute(&i).await.is_err(),
        "unknown: reported for retry"
    );
    assert_eq!(h.fake.orders().len(), 0);
    assert_eq!(h.fake.net("ESZ6"), 2);
    assert_eq!(
        h.journal
            .signal(&i.signal_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        SignalStatus::Unknown
    );
}

#[tokio::test]
async fn already_at_target_is_a_no_op() {
    let h = harness().await;
    h.fake.set_net("ESZ6", 1);
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
    assert_eq!((h.fake.orders().len(), h.fake.liquidations()), (0, 0));
    assert_eq!(
        h.executor
            .execute(&intent(Action::LongExit, 3))
            .await
            .unwrap(),
        Outcome::Filled
    );
    assert_eq!(
        (
            h.fake.orders().len(),
            h.fake.liquidations(),
            h.fake.net("ESZ6")
        ),
        (0, 1, 0)
    );
}

#[tokio::test]
async fn a_token_expiring_mid_flight_is_refreshed_once_and_the_order_goes_through() {
    let h = harness().await;
    h.executor
        .execute(&intent(Action::LongEntry, 1))
        .await
        .unwrap();
    assert_eq!(h.fake.logins(), 1);
    h.fake.expire_tokens();
    assert_eq!(
        h.executor
            .execute(&intent(Action::ShortEntry, 2))
            .await
            .unwrap(),
        Outcome::Filled
    );
    // The stored token was expired at the server: renewal fails, one new login.
    assert_eq!(h.fake.logins(), 2);
    assert_eq!(h.fake.orders().len(), 2);
    assert_eq!(h.fake.net("ESZ6"), -1);
}

#[tokio::test]
async fn a_401_on_the_order_refreshes_the_token_and_sends_once_more() {
    let h = harness().await;
    h.fake.script(Fault::Unauthorized);
    assert_eq!(
        h.executor
            .execute(&intent(Action::LongEntry, 1))
            .await
            .unwrap(),
        Outcome::Filled
    );
    assert_eq!(h.fake.orders().len(), 1);
    assert_eq!(
        h.fake.logins() + h.fake.renewals(),
        2,
        "one login, then one refresh"
    );
}

#[tokio::test]
async fn a_penalty_ticket_is_waited_out_and_resent_with_the_ticket() {
    let h = harness().await;
    h.fake.script(Fault::Penalty(1));
    assert_eq!(
        h.executor
            .execute(&intent(Action::ShortEntry, 1))
            .await
            .unwrap(),
        Outcome::Filled
    );
    assert_eq!(h.fake.orders().len(), 1);
    assert_eq!(
        h.fake.orders()[0].body["p-ticket"]
            .as_str()
            .map(|t| t.starts_with("ticket-")),
        Some(true)
    );
    assert_eq!(h.fake.violations(), Vec::<String>::new());
    assert_eq!(h.fake.logins(), 1);
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let h = harness().await;
    h.fake.script(Fault::TooMany(1));
    assert_eq!(
        h.executor
            .execute(&intent(Action::LongEntry, 1))
            .await
            .unwrap(),
        Outcome::Filled
    );
    assert_eq!(h.fake.orders().len(), 1);
}

#[tokio::test]
async fn a_5xx_after_the_order_was_created_is_reconciled_one_order() {
    let h = harness().await;
    h.fake.script(Fault::ErrorAfterCreate);
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.orders().len(), 1);
    assert_eq!(h.fake.net("ESZ6"), 1);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs[0].broker_order_id,
        Some(h.fake.orders()[0].id.to_string())
    );
}

#[tokio::test]
async fn a_5xx_before_creation_is_resent_once_with_the_same_cl_ord_id() {
    let h = harness().await;
    h.fake.script(Fault::ErrorBeforeCreate);
    assert_eq!(
        h.executor
            .execute(&intent(Action::ShortEntry, 1))
            .await
            .unwrap(),
        Outcome::Filled
    );
    assert_eq!(h.fake.orders().len(), 1);
}

#[tokio::test]
async fn the_same_signal_twice_makes_one_order_and_one_login() {
    let h = harness().await;
    let i = intent(Action::LongEntry, 1);
    h.executor.execute(&i).await.unwrap();
    h.clock.advance(Duration::seconds(5));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!((h.fake.orders().len(), h.fake.logins()), (1, 1));
}

#[tokio::test]
async fn a_fractional_size_is_rejected_without_orders() {
    let h = harness().await;
    let mut i = intent(Action::LongEntry, 1);
    i.quantity_override = Some(rust_decimal::Decimal::new(15, 1));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    assert_eq!(h.fake.orders().len(), 0);
}

#[tokio::test]
async fn a_takeover_waits_for_the_earlier_liquidation_and_never_liquidates_twice() {
    let h = harness().await;
    h.fake.set_net("ESZ6", 2);
    h.fake.liquidation_takes(None);
    let mut i = intent(Action::ShortEntry, 1);
    // Forced, as an operator's replay would be: the staleness check does not end it early.
    i.replay_forced = true;
    assert!(h.executor.execute(&i).await.is_err(), "unknown: not flat");
    assert_eq!(h.fake.liquidations(), 1);
    // The lease ends; the redelivered message is taken over while the position is still open.
    h.clock.advance(Duration::seconds(61));
    assert!(h.executor.execute(&i).await.is_err(), "still unknown");
    assert_eq!((h.fake.liquidations(), h.fake.orders().len()), (1, 0));
    // The earlier liquidation completes at last: the next takeover opens the short, once.
    h.fake.set_net("ESZ6", 0);
    h.fake.liquidation_takes(Some(0));
    h.clock.advance(Duration::seconds(61));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!((h.fake.liquidations(), h.fake.orders().len()), (1, 1));
    assert_eq!(h.fake.net("ESZ6"), -1);
}
