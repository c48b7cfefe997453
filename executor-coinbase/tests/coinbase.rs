//! The Coinbase executor end to end against the fake Coinbase server, through the real
//! executor runtime: each scenario asserts how many orders the server was sent and created.
#![allow(clippy::unwrap_used)]

mod support;

use chrono::Duration;
use executor_coinbase::error::CoinbaseError;
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use shared::Action;
use shared::clock::Clock;
use shared::execution::{Leg, Side, SignalStatus, TradeJournal};
use shared::outcome::Outcome;
use std::str::FromStr;
use support::fake_coinbase::{BASE_PATH, Fault};
use support::{KEY_NAME, KeyFormat, TestKey, harness, harness_with, intent};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn clean(h: &support::Harness) {
    assert_eq!(h.fake.violations(), Vec::<String>::new());
    assert_eq!(h.fake.auth_failures(), Vec::<String>::new());
}

#[tokio::test]
async fn long_entry_buys_the_quote_amount_with_one_market_ioc_order() {
    let h = harness().await;
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);

    let posts = h.fake.order_posts();
    assert_eq!(posts.len(), 1);
    let body = &posts[0].body;
    assert_eq!(
        body["client_order_id"].as_str().unwrap(),
        shared::execution::ClientOrderId::new(&i.signal_id, Leg::Open).as_str()
    );
    assert_eq!(body["product_id"], "BTC-USD");
    assert_eq!(body["side"], "BUY");
    assert_eq!(
        body["order_configuration"],
        serde_json::json!({"market_market_ioc": {"quote_size": "100"}})
    );
    assert_eq!(h.fake.created_orders(), 1);
    assert_eq!(h.fake.wallet("USD"), d("900"));
    assert_eq!(h.fake.wallet("BTC"), d("0.002"));
    assert!(
        h.fake.calls_to("/accounts") >= 2,
        "four wallets at two per page need at least two pages"
    );
    clean(&h);

    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs.len(), 1);
    let leg = &legs[0];
    assert_eq!(
        (leg.leg, leg.side, leg.outcome),
        (Leg::Open, Side::Buy, Outcome::Filled)
    );
    assert_eq!(leg.quantity, d("0.002"), "the filled base size");
    assert_eq!(leg.fill_price, Some(d("50000")));
    assert_eq!(leg.broker_order_id.as_deref(), Some("0000-cb-order-0001"));
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    assert_eq!(signal.status, SignalStatus::Filled);
    assert!(signal.stages.broker_sent.is_some() && signal.stages.broker_acked.is_some());
    let metric = &h.metrics.lines()[0];
    assert_eq!(
        (metric["Broker"].as_str(), metric["Outcome"].as_str()),
        (Some("coinbase"), Some("filled"))
    );
}

/// Coinbase documents no time within which a fill shows in `available_balance`: with the
/// wallets showing their balances from before each order for a while, a buy ends only once
/// the bought coins show, so the sale right after it sells them. (Read from the stale
/// balance, the sale found nothing to sell and the account kept the coins.)
#[tokio::test]
async fn a_buy_ends_once_the_balance_shows_it_so_the_sale_after_it_sells_it() {
    let h = harness().await;
    h.fake
        .set_balance_lag(std::time::Duration::from_millis(1500));
    let buy = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&buy).await.unwrap(), Outcome::Filled);
    let sell = intent(Action::ShortEntry, 2);
    assert_eq!(h.executor.execute(&sell).await.unwrap(), Outcome::Filled);
    let posts = h.fake.order_posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[1].body["order_configuration"],
        serde_json::json!({"market_market_ioc": {"base_size": "0.002"}})
    );
    assert_eq!(h.fake.wallet("BTC"), d("0"));
    clean(&h);
}

/// A buy that fills in part ends (filled, alarmed) once what did fill shows in the wallet, as
/// a whole one does: the exit after it sells those coins. It ended at once, and an exit read
/// before the wallet showed them sold nothing and left them held.
#[tokio::test]
async fn a_buy_filled_in_part_ends_once_the_wallet_shows_it_so_the_exit_sells_it() {
    let h = harness().await;
    h.fake
        .set_balance_lag(std::time::Duration::from_millis(1500));
    h.fake.script(Fault::FillInPart(d("0.4")));
    let buy = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&buy).await.unwrap(), Outcome::Filled);
    let bought = h.fake.wallet("BTC");
    assert!(bought > d("0"), "{bought}");
    let sell = intent(Action::LongExit, 2);
    assert_eq!(h.executor.execute(&sell).await.unwrap(), Outcome::Filled);
    let posts = h.fake.order_posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[1].body["order_configuration"],
        serde_json::json!({"market_market_ioc": {"base_size": bought.normalize().to_string()}})
    );
    assert_eq!(h.fake.wallet("BTC"), d("0"));
    clean(&h);
}

/// Coinbase reports a fill's fee as the order's `total_fees`; it reaches the journal row, where
/// the analytics subtract it from the round trip's P&L.
#[tokio::test]
async fn the_fee_coinbase_reports_is_journaled_with_the_fill() {
    let h = harness().await;
    h.fake.set_fee_rate("0.006");
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    // 100 USD filled × 0.6 % = 0.60 USD.
    assert_eq!(legs[0].fee, Some(d("0.6")));
    assert_eq!(
        h.fake.wallet("USD"),
        d("899.4"),
        "the fee left the quote wallet"
    );
    // A fill with a fee of zero (a fee-free product or promotion) journals a fee of zero,
    // not one the broker did not report: the report counted it among fills without a fee.
    h.fake.set_fee_rate("0");
    let exit = intent(Action::LongExit, 2);
    assert_eq!(h.executor.execute(&exit).await.unwrap(), Outcome::Filled);
    let legs = h.journal.orders(&exit.signal_id).await.unwrap();
    assert_eq!(legs[0].fee, Some(d("0")), "{legs:?}");
    clean(&h);
}

/// A buy of the whole quote balance at a non-zero fee rate: with the fee on top of what the
/// buy spends, the funds do not cover both, and the refusal (`INSUFFICIENT_FUND`) is
/// journaled `rejected`; the wallet is not taken below zero.
#[tokio::test]
async fn a_buy_whose_fee_the_funds_do_not_cover_is_rejected_and_spends_nothing() {
    let h = harness().await;
    h.fake.set_wallet("USD", "100");
    h.fake.set_fee_rate("0.006");
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    assert_eq!(h.fake.wallet("USD"), d("100"));
    assert_eq!(h.fake.wallet("BTC"), d("0"));
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(reason.contains("INSUFFICIENT_FUND"), "{reason}");
    clean(&h);
}

#[tokio::test]
async fn long_entry_while_holding_is_a_no_op_but_dust_does_not_count() {
    let h = harness().await;
    h.fake.set_wallet("BTC", "0.01");
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::NoOp);
    assert_eq!(h.fake.order_posts().len(), 0);
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(reason.contains("already holding 0.01 BTC"), "{reason}");

    h.fake.set_wallet("BTC", "0.000009");
    assert_eq!(
        h.executor
            .execute(&intent(Action::LongEntry, 2))
            .await
            .unwrap(),
        Outcome::Filled,
        "below base_min_size is dust: buy"
    );
    assert_eq!(h.fake.order_posts().len(), 1);
    clean(&h);
}

/// With `base_min_size` one satoshi (as BTC-USD may list it), a leftover worth less than
/// `quote_min_size` at the product's price is no long position: LONG_ENTRY buys. One worth
/// more is a position. An exit still sells a small leftover.
#[tokio::test]
async fn a_leftover_worth_less_than_the_minimum_order_is_no_long_position() {
    let h = harness().await;
    h.fake
        .update_product("BTC-USD", |p| p.base_min_size = Decimal::new(1, 8));
    // 0.00001 BTC at 50,000 is 0.50 USD, under the 1 USD minimum order.
    h.fake.set_wallet("BTC", "0.00001");
    assert_eq!(
        h.executor
            .execute(&intent(Action::LongEntry, 1))
            .await
            .unwrap(),
        Outcome::Filled
    );
    assert_eq!(h.fake.order_posts().len(), 1);
    // 0.0001 BTC is 5 USD: held, so a LONG_ENTRY is a no-op.
    h.fake.set_wallet("BTC", "0.0001");
    assert_eq!(
        h.executor
            .execute(&intent(Action::LongEntry, 2))
            .await
            .unwrap(),
        Outcome::NoOp
    );
    assert_eq!(h.fake.order_posts().len(), 1);
    // An exit sells even the 0.50 USD leftover.
    h.fake.set_wallet("BTC", "0.00001");
    assert_eq!(
        h.executor
            .execute(&intent(Action::LongExit, 3))
            .await
            .unwrap(),
        Outcome::Filled
    );
    assert_eq!(h.fake.order_posts().len(), 2);
    assert_eq!(h.fake.wallet("BTC"), Decimal::ZERO);
    clean(&h);
}

#[tokio::test]
async fn short_entry_sells_the_balance_rounded_down_to_base_increment() {
    let h = harness().await;
    h.fake.set_wallet("BTC", "0.123456789");
    let i = intent(Action::ShortEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    let posts = h.fake.order_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].body["side"], "SELL");
    assert_eq!(
        posts[0].body["order_configuration"],
        serde_json::json!({"market_market_ioc": {"base_size": "0.12345678"}})
    );
    assert!(
        posts[0].body["client_order_id"]
            .as_str()
            .unwrap()
            .ends_with("-c")
    );
    assert_eq!(h.fake.wallet("BTC"), d("0.000000009"));
    assert_eq!(h.fake.wallet("USD"), d("7172.83"));
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        (legs[0].leg, legs[0].side, legs[0].quantity),
        (Leg::Close, Side::Sell, d("0.12345678"))
    );

    // What is left is below the minimum: FLATTEN has nothing to sell.
    assert_eq!(
        h.executor
            .execute(&intent(Action::Flatten, 2))
            .await
            .unwrap(),
        Outcome::NoOp
    );
    assert_eq!(h.fake.order_posts().len(), 1);
    clean(&h);
}

#[tokio::test]
async fn a_coarser_increment_rounds_down_further() {
    let h = harness().await;
    h.fake
        .update_product("BTC-USD", |p| p.base_increment = d("0.0001"));
    h.fake.set_wallet("BTC", "0.56789");
    assert_eq!(
        h.executor
            .execute(&intent(Action::LongExit, 1))
            .await
            .unwrap(),
        Outcome::Filled
    );
    let posts = h.fake.order_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].body["order_configuration"]["market_market_ioc"]["base_size"],
        "0.5678"
    );
    assert_eq!(h.fake.wallet("BTC"), d("0.00009"));
    clean(&h);
}

/// A buy under the product's `quote_min_size` is refused before it leaves, and the reason
/// says the sizes are dollars (a buy's size is the quote amount it spends), not coins.
#[tokio::test]
async fn a_buy_under_the_minimum_order_is_refused_naming_its_currency() {
    let h = harness().await;
    h.fake
        .update_product("BTC-USD", |p| p.quote_min_size = d("1000000"));
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Refused);
    assert_eq!(h.fake.order_posts().len(), 0);
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(
        reason.contains("under the instrument's minimum 1000000 (sizes in USD: a buy's size is what it spends); nothing was sent"),
        "{reason}"
    );
    clean(&h);
}

/// The product's maximum order sizes are checked before anything leaves (the fake refuses an
/// order over either, and counts it a violation): a buy over `quote_max_size` is refused;
/// a sale of more than `base_max_size` (it sells all that is held, in one order) is refused
/// too, naming the maximum, the holding untouched. A LONG_ENTRY while holding more than that
/// sells nothing, so it is not refused: already long.
#[tokio::test]
async fn orders_over_the_products_maximum_sizes_are_refused_before_any_order() {
    let h = harness().await;
    h.fake
        .update_product("BTC-USD", |p| p.quote_max_size = d("50"));
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Refused);
    assert_eq!(h.fake.order_posts().len(), 0);
    clean(&h);

    for (n, action) in [Action::LongExit, Action::ShortEntry, Action::Flatten]
        .into_iter()
        .enumerate()
    {
        let h = harness().await;
        h.fake
            .update_product("BTC-USD", |p| p.base_max_size = d("1"));
        h.fake.set_wallet("BTC", "2");
        let i = intent(action, n as u32 + 1);
        assert_eq!(
            h.executor.execute(&i).await.unwrap(),
            Outcome::Rejected,
            "{action:?}"
        );
        assert_eq!(h.fake.order_posts().len(), 0, "{action:?}");
        assert_eq!(h.fake.wallet("BTC"), d("2"));
        let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
        assert!(
            reason.contains("over BTC-USD's maximum order size of 1 BTC (base_max_size)"),
            "{reason}"
        );
        clean(&h);
    }

    let h = harness().await;
    h.fake
        .update_product("BTC-USD", |p| p.base_max_size = d("1"));
    h.fake.set_wallet("BTC", "2");
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::NoOp);
    assert_eq!(h.fake.order_posts().len(), 0);
    clean(&h);
}

/// A product in auction mode, taking post-only or limit orders only, cancel-only, view-only
/// or with trading disabled is refused before any order (a market IOC order can neither rest nor be
/// sure to fill), naming why.
#[tokio::test]
async fn a_product_in_auction_mode_or_post_only_is_refused_before_any_order() {
    for (set, says) in [
        (
            (|p: &mut support::fake_coinbase::ProductSpec| p.auction_mode = true)
                as fn(&mut support::fake_coinbase::ProductSpec),
            "in auction mode",
        ),
        (|p| p.post_only = true, "post-only orders only"),
        (|p| p.limit_only = true, "limit orders only"),
        (|p| p.cancel_only = true, "cancel only"),
        (|p| p.trading_disabled = true, "trading disabled"),
        (|p| p.is_disabled = true, "trading disabled"),
        (|p| p.view_only = true, "view only"),
    ] {
        let h = harness().await;
        h.fake.update_product("BTC-USD", set);
        let i = intent(Action::LongEntry, 1);
        assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
        assert_eq!(h.fake.order_posts().len(), 0);
        let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
        assert!(
            reason.contains("BTC-USD is not tradable") && reason.contains(says),
            "{reason}"
        );
        clean(&h);
    }
}

/// Coins on hold (List Accounts' `hold`: reserved by an open order or a transfer) are not
/// sold: an exit sells the available balance only, the hold left where it is.
#[tokio::test]
async fn an_exit_sells_the_available_balance_not_the_hold() {
    let h = harness().await;
    h.fake.set_wallet("BTC", "0.5");
    h.fake.set_hold("BTC", "0.3");
    let exit = intent(Action::LongExit, 1);
    assert_eq!(h.executor.execute(&exit).await.unwrap(), Outcome::Filled);
    let legs = h.journal.orders(&exit.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.outcome, l.quantity))
            .collect::<Vec<_>>(),
        [(Outcome::Filled, d("0.5"))],
        "{legs:?}"
    );
    assert_eq!(h.fake.wallet("BTC"), d("0"));
    clean(&h);
}

/// Coins in a vault account are no position a spot order can trade: a long entry with the
/// trading wallet empty buys (it was a no-op, "already holding"), and a sale sells what the
/// trading wallet holds, never the vault's (it asked for both, beyond the funds an order
/// can draw on).
#[tokio::test]
async fn a_vault_balance_is_neither_a_position_nor_sold() {
    let h = harness().await;
    h.fake.set_vault("BTC", "2");
    let buy = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&buy).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.created_orders(), 1);
    let bought = h.fake.wallet("BTC");
    assert!(bought > Decimal::ZERO, "{bought}");
    let sale = intent(Action::LongExit, 2);
    assert_eq!(h.executor.execute(&sale).await.unwrap(), Outcome::Filled);
    let posts = h.fake.order_posts();
    assert_eq!(posts.len(), 2);
    let sold = posts[1].body["order_configuration"]["market_market_ioc"]["base_size"]
        .as_str()
        .map(d);
    assert_eq!(
        sold,
        Some(bought),
        "the trading wallet's balance, not the vault's beside it"
    );
    assert_eq!(h.fake.wallet("BTC"), Decimal::ZERO);
    clean(&h);
}

#[tokio::test]
async fn a_balance_below_the_minimum_is_a_journaled_no_op_without_orders() {
    let h = harness().await;
    h.fake.set_wallet("BTC", "0.000009");
    let i = intent(Action::LongExit, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::NoOp);
    assert_eq!(h.fake.order_posts().len(), 0);
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    assert_eq!(signal.status, SignalStatus::NoOp);
    let reason = signal.reason.unwrap();
    assert!(
        reason.contains("0.000009 BTC") && reason.contains("below the minimum size 0.00001"),
        "{reason}"
    );
    assert_eq!(h.notifier.sent().len(), 0);

    // Spot holds no short: SHORT_EXIT never trades.
    h.fake.set_wallet("BTC", "1");
    assert_eq!(
        h.executor
            .execute(&intent(Action::ShortExit, 2))
            .await
            .unwrap(),
        Outcome::NoOp
    );
    assert_eq!(h.fake.order_posts().len(), 0);
    clean(&h);
}

/// The same refusal answered with HTTP 400 (Coinbase documents the body, not its status):
/// its reason is the `error_response`'s words, not the raw body cut short.
#[tokio::test]
async fn a_reject_answered_400_is_read_by_its_error_response() {
    let h = harness().await;
    h.fake.script(Fault::RejectAs400 {
        error: "INSUFFICIENT_FUND",
        message: "Insufficient balance in source account",
        preview_failure_reason: "PREVIEW_INSUFFICIENT_FUND",
    });
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    let reason = h
        .journal
        .signal(&i.signal_id)
        .await
        .unwrap()
        .unwrap()
        .reason
        .unwrap();
    assert!(
        reason.contains("INSUFFICIENT_FUND: Insufficient balance in source account")
            && reason.contains("PREVIEW_INSUFFICIENT_FUND")
            && !reason.contains('{'),
        "{reason}"
    );
    assert_eq!(h.fake.order_posts().len(), 1, "a reject is never resent");
}

#[tokio::test]
async fn a_reject_is_journaled_notified_acknowledged_and_not_retried() {
    let h = harness().await;
    h.fake.script(Fault::Reject {
        error: "INSUFFICIENT_FUND",
        message: "Insufficient balance in source account",
        preview_failure_reason: "PREVIEW_INSUFFICIENT_FUND",
    });
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    assert_eq!(signal.status, SignalStatus::Rejected);
    let reason = signal.reason.unwrap();
    assert!(
        reason.contains("INSUFFICIENT_FUND")
            && reason.contains("Insufficient balance")
            && reason.contains("PREVIEW_INSUFFICIENT_FUND"),
        "{reason}"
    );
    let sent = h.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].message.contains("INSUFFICIENT_FUND"));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    assert_eq!(h.fake.order_posts().len(), 1, "a reject is never resent");
    assert_eq!(h.fake.created_orders(), 0);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs[0].outcome, Outcome::Rejected);

    let h = harness().await;
    h.fake.script(Fault::BadRequest("Invalid product_id"));
    h.fake.set_wallet("BTC", "1");
    assert_eq!(
        h.executor
            .execute(&intent(Action::ShortEntry, 2))
            .await
            .unwrap(),
        Outcome::Rejected
    );
    assert_eq!(h.fake.order_posts().len(), 1);
    assert_eq!(h.fake.created_orders(), 0);
}

/// An order that ended `CANCELLED` but is shown `settled: false` with nothing filled yet
/// (scripted at the fake: the documents do not say a final status comes with its fills final)
/// is read again until it settles, and journaled at what it filled. It was taken at its first
/// read: "ended CANCELLED unfilled", rejected, while the wallet held the coins it bought.
#[tokio::test]
async fn an_order_ended_but_not_settled_is_read_until_it_is() {
    let h = harness().await;
    h.fake.script(Fault::FillInPart(d("0.4")));
    h.fake.script(Fault::UnsettledFor(2));
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.wallet("BTC"), d("0.0008"));
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.outcome, l.quantity))
            .collect::<Vec<_>>(),
        [(Outcome::Filled, d("0.0008"))],
        "{legs:?}"
    );
    assert_eq!(h.fake.order_posts().len(), 1, "never sent again");
}

/// A buy that ended `FILLED` but reads `settled: false` with nothing filled yet (its size not
/// shown) is read again until it settles, and journaled at what it bought, as an order that
/// ended `CANCELLED` so is. It was taken at its first read: a fill of unknown size, the leg
/// `unknown`, alarmed and dead-lettered, for a buy that filled.
#[tokio::test]
async fn a_filled_buy_not_settled_is_read_until_it_is() {
    let h = harness().await;
    h.fake.script(Fault::UnsettledFor(2));
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.outcome, l.quantity))
            .collect::<Vec<_>>(),
        [(Outcome::Filled, d("0.002"))],
        "{legs:?}"
    );
    assert_eq!(h.fake.order_posts().len(), 1, "never sent again");
}

/// A sale that ended `FILLED` but reads `settled: false` with only part of its size listed
/// (scripted at the fake: the rest still being recorded) is read again until it settles,
/// and journaled at the whole sale. It was taken at that read: a fill in part, alarmed and
/// journaled short, then the wait for the wallet to show the part never ended (it showed
/// the whole sale), and the signal ended `unknown`.
#[tokio::test]
async fn a_filled_sale_not_settled_showing_part_of_its_size_is_read_until_it_is() {
    let h = harness().await;
    h.fake.set_wallet("BTC", "0.5");
    h.fake.script(Fault::UnsettledInPartFor {
        reads: 2,
        share: d("0.6"),
    });
    let i = intent(Action::LongExit, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.outcome, l.quantity))
            .collect::<Vec<_>>(),
        [(Outcome::Filled, d("0.5"))],
        "{legs:?}"
    );
    assert_eq!(h.fake.wallet("BTC"), d("0"));
    assert_eq!(h.fake.order_posts().len(), 1, "never sent again");
    assert_eq!(h.notifier.sent().len(), 0, "{:?}", h.notifier.sent());
    clean(&h);
}

/// A market IOC order that finds liquidity for only part of it fills that part and Coinbase
/// cancels the rest: the leg is journaled at the size that filled, the signal is `filled` with
/// a reason that says it fell short, and the operator is told. A sell in part is `filled` too
/// (it used to wait out the staleness budget for a flat position that could not come, and
/// end `unknown`).
#[tokio::test]
async fn an_ioc_order_filled_in_part_is_journaled_at_its_size_and_alarmed() {
    let h = harness().await;
    h.fake.script(Fault::FillInPart(d("0.4")));
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_posts().len(), 1, "nothing sent for the rest");
    assert_eq!(h.fake.wallet("BTC"), d("0.0008"));
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs.len(), 1);
    assert_eq!(
        (legs[0].outcome, legs[0].quantity),
        (Outcome::Filled, d("0.0008"))
    );
    let leg_error = legs[0].error.clone().unwrap();
    assert!(
        leg_error.contains("bought 0.0008 BTC for 40 of the 100 USD asked")
            && leg_error.contains("CANCELLED"),
        "{leg_error}"
    );
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    assert_eq!(signal.status, SignalStatus::Filled);
    let reason = signal.reason.unwrap();
    assert!(reason.contains("open leg filled in part"), "{reason}");
    let sent = h.notifier.sent();
    assert_eq!(sent.len(), 1, "a fill in part is told");
    assert!(
        sent[0].subject.contains("FilledInPart") && sent[0].message.contains("filled in part"),
        "{:?}",
        sent[0]
    );

    // A sell in part: told at once, with what was sold and what is left unsold.
    let h = harness().await;
    h.fake.set_wallet("BTC", "0.5");
    h.fake.script(Fault::FillInPart(d("0.25")));
    let i = intent(Action::LongExit, 2);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.wallet("BTC"), d("0.375"));
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        (legs[0].outcome, legs[0].quantity),
        (Outcome::Filled, d("0.125"))
    );
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(
        reason.contains("close leg filled in part")
            && reason.contains("sold 0.125 of the 0.5 BTC asked"),
        "{reason}"
    );
    assert_eq!(h.notifier.sent().len(), 1);
    // A fill in full (the rest, sold by the next exit) is not told.
    assert_eq!(
        h.executor
            .execute(&intent(Action::LongExit, 3))
            .await
            .unwrap(),
        Outcome::Filled
    );
    assert_eq!(h.fake.wallet("BTC"), Decimal::ZERO);
    assert_eq!(h.notifier.sent().len(), 1);
    clean(&h);

    // A sell in part with the wallet showing it late: the signal ends once the wallet shows
    // the sale, so the next exit sells what is left, not the whole balance read before it
    // (refused for insufficient funds, the rest left held).
    let h = harness().await;
    h.fake.set_wallet("BTC", "0.5");
    h.fake
        .set_balance_lag(std::time::Duration::from_millis(1500));
    h.fake.script(Fault::FillInPart(d("0.25")));
    let i = intent(Action::LongExit, 4);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    let next = intent(Action::LongExit, 5);
    assert_eq!(h.executor.execute(&next).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.wallet("BTC"), Decimal::ZERO);
    clean(&h);
}

#[tokio::test]
async fn a_timeout_after_acceptance_is_resolved_by_lookup_one_order() {
    let h = harness().await;
    h.fake
        .script(Fault::DelayAfterCreate(std::time::Duration::from_secs(4)));
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_posts().len(), 1);
    assert_eq!(h.fake.created_orders(), 1);
    let lookups: Vec<_> = h
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path == format!("{BASE_PATH}/orders/historical/batch"))
        .collect();
    assert_eq!(lookups.len(), 1);
    let q = &lookups[0].query;
    assert!(q.contains(&("product_ids".into(), "BTC-USD".into())));
    assert!(q.iter().any(|(k, _)| k == "start_date"));
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs[0].outcome, Outcome::Filled);
    assert_eq!(
        legs[0].broker_order_id.as_deref(),
        Some("0000-cb-order-0001")
    );
    assert_eq!(legs[0].fill_price, Some(d("50000")));
    clean(&h);
}

/// Coinbase documents no time within which a market IOC order is final: one still `OPEN`
/// when the wait ends (it then ends `CANCELLED` with nothing filled) is not a fill. The leg
/// ends unknown, naming the order, with an alarm, and the order is never sent again.
#[tokio::test]
async fn an_order_still_working_when_the_wait_ends_is_unknown_not_filled() {
    let h = harness().await;
    h.fake.script(Fault::WorkingFor {
        reads: 10_000,
        cancelled: true,
    });
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.order_posts().len(), 1);
    assert_eq!(h.fake.wallet("USD"), d("1000"), "nothing filled");
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs.len(), 1);
    assert_eq!(legs[0].outcome, Outcome::Unknown);
    assert_eq!(
        legs[0].broker_order_id.as_deref(),
        Some("0000-cb-order-0001")
    );
    let error = legs[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("outcome unknown") && error.contains("still OPEN"),
        "{error}"
    );
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    assert_eq!(signal.status, SignalStatus::Unknown);
    assert_eq!(h.notifier.sent().len(), 1);
    // Delivered again: the signal's record is complete; nothing is sent a second time.
    h.executor.execute(&i).await.unwrap();
    assert_eq!(h.fake.order_posts().len(), 1);
    clean(&h);
}

/// An order still `OPEN` when its signal ended `unknown` holds its product: the next signal
/// sends nothing while it is not final (it could still fill and change the holdings that
/// signal plans from), and trades once it is, the reason naming the order to cancel. It held
/// nothing: the exit planned from a wallet the open order could still change.
#[tokio::test]
async fn an_order_not_final_holds_its_product_until_it_is() {
    let h = harness().await;
    h.fake.script(Fault::WorkingFor {
        reads: 10_000,
        cancelled: false,
    });
    let buy = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&buy).await.unwrap(), Outcome::Unknown);
    let exit = intent(Action::LongExit, 2);
    let err = h.executor.execute(&exit).await.unwrap_err().to_string();
    assert!(
        err.contains("order 0000-cb-order-0001")
            && err.contains("still OPEN")
            && err.contains("cancel it at Coinbase"),
        "{err}"
    );
    assert_eq!(
        h.fake.order_posts().len(),
        1,
        "nothing sent while it is open"
    );
    h.fake.open_for(0);
    assert_eq!(h.executor.execute(&exit).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_posts().len(), 2);
    assert_eq!(h.fake.wallet("BTC"), Decimal::ZERO);
    clean(&h);
}

/// An order that ended but reads unsettled (`settled: false`, for which Coinbase documents no
/// time) holds its product while its fills may still show, at most two minutes after it was
/// first read so: then the exit sells what was bought. Held until settled, the product
/// stayed held for good, the reason asking to cancel an order already cancelled.
#[tokio::test]
async fn an_ended_order_not_settled_does_not_hold_its_product_for_good() {
    let h = harness().await;
    // Half filled, the rest cancelled (`CANCELLED`), and never shown settled.
    h.fake.script(Fault::FillInPart(d("0.5")));
    h.fake.script(Fault::UnsettledFor(usize::MAX));
    let buy = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&buy).await.unwrap(), Outcome::Unknown);
    let exit = |n| shared::message::OrderIntent {
        signal_time: h.clock.now(),
        received_at: h.clock.now(),
        enqueued_at: h.clock.now(),
        routed_at: h.clock.now(),
        ..intent(Action::LongExit, n)
    };
    let err = h.executor.execute(&exit(2)).await.unwrap_err().to_string();
    assert!(
        err.contains("not settled yet") && err.contains("2 minutes"),
        "{err}"
    );
    h.clock.advance(Duration::minutes(3));
    assert_eq!(h.executor.execute(&exit(3)).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_posts().len(), 2, "the sale");
    assert_eq!(h.fake.wallet("BTC"), Decimal::ZERO);
}

/// A send whose answer never came (timeout) is looked up; the order found is not final yet:
/// it is followed as an accepted order is, to its fill, not ended unknown at once.
#[tokio::test]
async fn an_order_found_by_lookup_still_working_is_followed_to_its_fill() {
    let h = harness().await;
    h.fake.script(Fault::WorkingFor {
        reads: 3,
        cancelled: false,
    });
    h.fake
        .script(Fault::DelayAfterCreate(std::time::Duration::from_secs(4)));
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_posts().len(), 1);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        (legs[0].outcome, legs[0].fill_price),
        (Outcome::Filled, Some(d("50000")))
    );
    clean(&h);
}

/// An order shown `OPEN` for its first reads is followed until it fills.
#[tokio::test]
async fn an_order_that_fills_after_some_reads_is_followed_to_its_fill() {
    let h = harness().await;
    h.fake.script(Fault::WorkingFor {
        reads: 3,
        cancelled: false,
    });
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        (legs[0].outcome, legs[0].quantity, legs[0].fill_price),
        (Outcome::Filled, d("0.002"), Some(d("50000")))
    );
    assert!(h.fake.calls_to("/orders/historical/0000-cb-order-0001") >= 4);
    assert_eq!(h.fake.order_posts().len(), 1);
    clean(&h);
}

/// The answer was lost, the lookup's list did not show the order yet, and the send again
/// (same client order id) was answered `success: false`, a way Coinbase does not rule out for
/// a duplicate. The refusal is not believed until the list is read again: the first send's
/// order is found there, and journaled filled, not rejected.
#[tokio::test]
async fn a_refused_send_again_is_checked_against_the_order_list() {
    let h = harness().await;
    h.fake
        .script(Fault::DelayAfterCreate(std::time::Duration::from_secs(4)));
    // The lookup and the read right after the refusal both miss it; the core's next
    // lookup, a settle time later, finds it.
    h.fake.lag_order_list(2);
    h.fake.undocumented_duplicate_failure();
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.created_orders(), 1);
    assert_eq!(h.fake.order_posts().len(), 2);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    let last = legs.last().unwrap();
    assert_eq!(
        (last.outcome, last.broker_order_id.as_deref()),
        (Outcome::Filled, Some("0000-cb-order-0001"))
    );
    clean(&h);
}

/// Both sends of a buy lost their answers (the first's came too late, the second was a 503)
/// and neither lookup found the order (the list lagging): attempt 1 is journaled not executed,
/// attempt 2 unknown, the signal unknown. The takeover finds the one order (a reused client
/// order id names the order it already made) filled, and settles the unresolved row with it:
/// attempt 2 filled, attempt 1 as it was. It wrote the fill over attempt 1 and left attempt
/// 2 `unknown` beside it, which the report counted as an unresolved leg for ever.
#[tokio::test]
async fn a_takeover_settles_the_unresolved_row_of_a_second_send() {
    let mut h = harness().await;
    let dlq = h.dead_letters("coinbase-dlq");
    h.fake
        .script(Fault::DelayAfterCreate(std::time::Duration::from_secs(4)));
    h.fake.script(Fault::ErrorBeforeCreate);
    h.fake.lag_order_list(1_000);
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.order_posts().len(), 2);
    assert_eq!(h.fake.created_orders(), 1);
    assert_eq!(dlq.messages().len(), 1, "dead-lettered, its lease kept");
    let rows = |legs: &[shared::execution::OrderRecord]| {
        legs.iter()
            .map(|l| (l.attempt, l.outcome))
            .collect::<Vec<_>>()
    };
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        rows(&legs),
        [(1, Outcome::NotExecuted), (2, Outcome::Unknown)]
    );
    let first_error = legs[0].error.clone();

    h.fake.lag_order_list(0);
    h.clock.advance(Duration::seconds(61));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_posts().len(), 2, "never sent again");
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        rows(&legs),
        [(1, Outcome::NotExecuted), (2, Outcome::Filled)],
        "{legs:?}"
    );
    assert_eq!(legs[0].error, first_error, "attempt 1's row as it was");
    assert_eq!(
        legs[1].broker_order_id.as_deref(),
        Some("0000-cb-order-0001")
    );
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    assert_eq!(signal.status, SignalStatus::Filled);
    clean(&h);
}

/// A 401 to the first send of a leg, which Coinbase documents nothing of and answers a
/// correctly signed token now and then, is not a refusal: looked up, nothing found, sent again
/// once with the same `client_order_id`, and the exit fills. It ended `rejected`, the coins
/// left held. A key that keeps being refused ends the leg `unknown` (not `rejected`: a replay
/// once the key is fixed), naming the key, after the one send again.
#[tokio::test]
async fn a_401_to_a_first_send_is_looked_up_and_sent_again_once() {
    let h = harness().await;
    h.fake.set_wallet("BTC", "0.5");
    h.fake.script(Fault::Unauthorized);
    let i = intent(Action::LongExit, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_posts().len(), 2);
    assert_eq!(h.fake.created_orders(), 1);
    clean(&h);

    let h = harness().await;
    h.fake.set_wallet("BTC", "0.5");
    h.fake.script(Fault::Unauthorized);
    h.fake.script(Fault::Unauthorized);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.order_posts().len(), 2, "never a third send");
    assert_eq!(h.fake.created_orders(), 0);
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    let reason = signal.reason.unwrap_or_default();
    assert!(reason.contains("COINBASE_API_KEY_NAME"), "{reason}");
    clean(&h);
}

/// A 403 to a first send that says the key is missing a scope (the official SDK's reading:
/// a key without the trade permission) is definitive: `rejected`, naming the key's
/// permissions, sent once, not left `unknown` and dead-lettered.
#[tokio::test]
async fn a_403_for_missing_scopes_to_a_first_send_is_a_rejection() {
    let h = harness().await;
    h.fake.set_wallet("BTC", "0.5");
    h.fake.script(Fault::MissingScopes);
    let i = intent(Action::LongExit, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    assert_eq!(h.fake.order_posts().len(), 1);
    assert_eq!(h.fake.created_orders(), 0);
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    let reason = signal.reason.unwrap_or_default();
    assert!(reason.contains("permissions"), "{reason}");
    clean(&h);
}

/// A read answered 401 once (the product, read first by every signal) is read again: the
/// exit goes on. It ended `rejected` before any order, the coins left held. One answered 401
/// on every try sends nothing and comes back through the queue (as a 401 to the wallet's read
/// does), naming the key: a refusal would have ended the exit for good with its coins held.
#[tokio::test]
async fn a_read_answered_401_once_is_read_again() {
    let h = harness().await;
    h.fake.set_wallet("BTC", "0.5");
    h.fake
        .fail_reads_with("/products", 1, axum::http::StatusCode::UNAUTHORIZED);
    let i = intent(Action::LongExit, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.created_orders(), 1);
    clean(&h);

    let h = harness().await;
    h.fake.set_wallet("BTC", "0.5");
    h.fake
        .fail_reads_with("/products", 100, axum::http::StatusCode::UNAUTHORIZED);
    let err = h.executor.execute(&i).await.unwrap_err().to_string();
    assert!(err.contains("COINBASE_API_KEY_NAME"), "{err}");
    assert_eq!(h.fake.order_posts().len(), 0);
    assert!(h.journal.signal(&i.signal_id).await.unwrap().is_none());
    clean(&h);

    // A 403 (a key without the view permission) refuses the signal, naming the key.
    let h = harness().await;
    h.fake.set_wallet("BTC", "0.5");
    h.fake
        .fail_reads_with("/products", 100, axum::http::StatusCode::FORBIDDEN);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    assert_eq!(h.fake.order_posts().len(), 0);
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    let reason = signal.reason.unwrap_or_default();
    assert!(reason.contains("COINBASE_API_KEY_NAME"), "{reason}");
}

/// A 401 to a send again (the first send's answer lost, the order list not showing its
/// order yet) says nothing of the first send's order, which filled: the list is read again
/// and the order found there is the leg's fill. It was journaled `rejected`.
#[tokio::test]
async fn a_401_to_a_send_again_is_checked_against_the_order_list() {
    let h = harness().await;
    h.fake
        .script(Fault::DelayAfterCreate(std::time::Duration::from_secs(4)));
    h.fake.script(Fault::Unauthorized);
    // The lookup and the read right after the 401 both miss it; the core's next lookup, a
    // settle time later, finds it.
    h.fake.lag_order_list(2);
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.created_orders(), 1);
    assert_eq!(h.fake.order_posts().len(), 2, "never a third send");
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    let last = legs.last().unwrap();
    assert_eq!(
        (last.outcome, last.broker_order_id.as_deref()),
        (Outcome::Filled, Some("0000-cb-order-0001"))
    );
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    assert_eq!(signal.status, SignalStatus::Filled);
    clean(&h);
}

/// After a sale fills, the wait for the wallet to show it stops at a 429 (after the read's
/// own retries) rather than read the accounts every poll interval until the staleness
/// budget ends: the sale is journaled filled, the signal `unknown` and alarmed, nothing
/// more sent.
#[tokio::test]
async fn the_wait_after_a_sale_stops_at_the_rate_limit() {
    let h = harness().await;
    h.fake.set_wallet("BTC", "0.5");
    // The account list reads before the sale answer (the risk check's and the plan's);
    // every later one is over the limit.
    h.fake.limit_reads_after("/accounts", 2, 1_000);
    let i = intent(Action::LongExit, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.order_posts().len(), 1);
    assert_eq!(h.fake.created_orders(), 1);
    let limited = 1_000 - h.fake.failing_reads_left();
    assert!(
        (1..=support::client_settings().read_attempts).contains(&limited),
        "{limited} account reads over the limit"
    );
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs.len(), 1);
    assert_eq!(legs[0].outcome, Outcome::Filled);
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    let reason = signal.reason.unwrap_or_default();
    assert!(reason.contains("stopped reading"), "{reason}");
    assert_eq!(h.notifier.sent().len(), 1);
}

#[tokio::test]
async fn a_5xx_after_the_order_was_created_is_resolved_by_lookup_one_order() {
    let h = harness().await;
    // An earlier order of the same product is in the list the lookup reads.
    h.fake.set_wallet("BTC", "0.5");
    assert_eq!(
        h.executor
            .execute(&intent(Action::ShortEntry, 1))
            .await
            .unwrap(),
        Outcome::Filled
    );
    h.fake.script(Fault::ErrorAfterCreate);
    let i = intent(Action::LongEntry, 2);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_posts().len(), 2);
    assert_eq!(h.fake.created_orders(), 2);
    clean(&h);
}

#[tokio::test]
async fn a_5xx_without_creation_is_resent_once_with_the_same_client_order_id() {
    let h = harness().await;
    h.fake.script(Fault::ErrorBeforeCreate);
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    let posts = h.fake.order_posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[0].body, posts[1].body,
        "the resend is the same request, same client order id"
    );
    assert_eq!(h.fake.created_orders(), 1);
    clean(&h);
}

/// A 429 to the order POST: Coinbase does not document it as not carried out, so it is an
/// unknown outcome, looked up. Nothing created: sent again once with the same
/// `client_order_id` (which Coinbase documents as returning the first order, never a second).
/// Carried out before the 429: found by the lookup, never sent again.
#[tokio::test]
async fn a_429_to_the_order_is_looked_up_then_sent_again_at_most_once() {
    let h = harness().await;
    h.fake.script(Fault::TooMany);
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    let posts = h.fake.order_posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[0].body, posts[1].body,
        "the same request, same client order id"
    );
    assert_eq!(h.fake.created_orders(), 1);

    h.fake.script(Fault::TooManyAfterCreate);
    let j = intent(Action::Flatten, 2);
    assert_eq!(h.executor.execute(&j).await.unwrap(), Outcome::Filled);
    assert_eq!(
        h.fake.order_posts().len(),
        3,
        "found by lookup, not sent again"
    );
    assert_eq!(h.fake.created_orders(), 2);
    clean(&h);
}

/// Two sends that each got a 5xx, with nothing in the order list after either: sent twice
/// with the same `client_order_id` (which Coinbase documents as returning the first order),
/// then no more. A list can lag, so nothing found is not proof: the last leg ends `unknown`,
/// alarmed, never `not_executed` on the strength of the lookup.
#[tokio::test]
async fn two_sends_that_created_nothing_visible_end_unknown_with_a_row_per_send() {
    let h = harness().await;
    h.fake.script(Fault::ErrorBeforeCreate);
    h.fake.script(Fault::ErrorBeforeCreate);
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.order_posts().len(), 2, "never more than one resend");
    assert_eq!(
        h.journal
            .signal(&i.signal_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        SignalStatus::Unknown
    );
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    let rows: Vec<_> = legs.iter().map(|o| (o.attempt, o.outcome)).collect();
    assert_eq!(rows, [(1, Outcome::NotExecuted), (2, Outcome::Unknown)]);
    let last = legs[1].error.as_deref().unwrap_or_default();
    assert!(last.contains("cannot rule out a late order"), "{last}");
    assert!(!h.notifier.sent().is_empty(), "alarmed");
    assert_eq!(h.fake.created_orders(), 0);
}

#[tokio::test]
async fn the_same_signal_delivered_twice_and_again_later_makes_one_order() {
    let h = harness().await;
    let i = intent(Action::LongEntry, 1);
    let (a, b) = tokio::join!(h.executor.execute(&i), h.executor.execute(&i));
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "one delivery wins, the other is told to come back"
    );
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    h.clock.advance(Duration::hours(1));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_posts().len(), 1);
    assert_eq!(h.fake.created_orders(), 1);
    clean(&h);
}

#[tokio::test]
async fn a_crash_between_acceptance_and_the_journal_is_recovered_by_lookup_one_order() {
    let h = harness().await;
    let i = intent(Action::LongEntry, 1);
    h.journal.set_down(true);
    assert!(h.executor.execute(&i).await.is_err());
    assert_eq!(h.fake.created_orders(), 1);
    h.journal.set_down(false);
    h.clock.advance(Duration::seconds(61));
    // The takeover finds the order by its client id; the wallet (now holding BTC) is not
    // even read, and nothing is sent again.
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_posts().len(), 1);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs.len(), 1);
    assert_eq!(legs[0].outcome, Outcome::Filled);
    assert_eq!(legs[0].quantity, d("0.002"));
    clean(&h);
}

/// A sell filled in part whose attempt crashed before the journal: the takeover finds it and
/// stops as the send did (filled, short of the target, the reason naming what did not fill,
/// alarmed), sending nothing for the rest; it does not read as an unexplained `unknown`.
#[tokio::test]
async fn a_takeover_that_finds_a_fill_in_part_stops_as_the_send_did() {
    let h = harness().await;
    h.fake.set_wallet("BTC", "0.5");
    h.fake.script(Fault::FillInPart(d("0.25")));
    let i = intent(Action::LongExit, 1);
    h.journal.set_down(true);
    assert!(h.executor.execute(&i).await.is_err());
    assert_eq!(h.fake.order_posts().len(), 1);
    h.journal.set_down(false);
    h.clock.advance(Duration::seconds(61));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_posts().len(), 1, "nothing sent for the rest");
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    assert_eq!(signal.status, SignalStatus::Filled);
    let reason = signal.reason.unwrap_or_default();
    assert!(reason.contains("leg filled in part"), "{reason}");
    let sent = h.notifier.sent();
    assert!(
        sent.iter()
            .any(|n| n.subject.contains("FilledInPart") && n.message.contains("filled in part")),
        "{sent:?}"
    );
}

/// Get Order documents `filled_size`, not that it is always there: a buy reported filled
/// without it is never journaled with the quote amount as the size bought (it ends unknown,
/// naming its order), and a takeover's sell `FILLED` without it is a fill of the base size it
/// asked, as on the send path, not of nothing. Nothing is sent again.
#[tokio::test]
async fn a_fill_reported_without_its_size_is_never_sent_again() {
    let h = harness().await;
    h.fake.omit_filled_size();
    let buy = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&buy).await.unwrap(), Outcome::Unknown);
    let legs = h.journal.orders(&buy.signal_id).await.unwrap();
    assert_eq!(legs.len(), 1);
    assert_eq!(legs[0].outcome, Outcome::Unknown);
    assert!(
        legs[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("no filled_size")),
        "{:?}",
        legs[0].error
    );
    assert_eq!(h.fake.order_posts().len(), 1);

    // A sell whose attempt crashed before the journal: the takeover finds it filled, without
    // a size.
    let sell = intent(Action::LongExit, 2);
    h.journal.set_down(true);
    assert!(h.executor.execute(&sell).await.is_err());
    assert_eq!(h.fake.order_posts().len(), 2);
    h.journal.set_down(false);
    h.clock.advance(Duration::seconds(61));
    assert_eq!(h.executor.execute(&sell).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_posts().len(), 2, "never sent again");
    let asked =
        h.fake.order_posts()[1].body["order_configuration"]["market_market_ioc"]["base_size"]
            .as_str()
            .map(|s| s.parse::<Decimal>().unwrap())
            .expect("the sale's base_size");
    assert!(asked > Decimal::ZERO);
    let legs = h.journal.orders(&sell.signal_id).await.unwrap();
    assert_eq!(legs.len(), 1);
    assert_eq!(legs[0].outcome, Outcome::Filled);
    assert_eq!(legs[0].quantity, asked, "the base size the sale asked");
}

/// A buy whose answer was lost, found by the lookup `FILLED` without its size (so its leg
/// ends `unknown`), holds its product as one the wait after a send read so does: the next
/// signal reads that order again (and waits the settle time) before it plans from the
/// wallet, which may not show the fill yet. Found by the lookup, it held nothing.
#[tokio::test]
async fn a_fill_without_its_size_found_by_lookup_holds_its_product() {
    let h = harness().await;
    h.fake.omit_filled_size();
    h.fake
        .script(Fault::DelayAfterCreate(std::time::Duration::from_secs(4)));
    let buy = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&buy).await.unwrap(), Outcome::Unknown);
    let bought = h.fake.order_posts().len();
    assert_eq!(bought, 1);
    let before = h.fake.requests().len();
    let exit = intent(Action::LongExit, 2);
    h.executor.execute(&exit).await.unwrap();
    let after: Vec<String> = h.fake.requests()[before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let read = after
        .iter()
        .position(|r| r.starts_with("GET") && r.ends_with("/orders/historical/0000-cb-order-0001"));
    let sold = after.iter().position(|r| r.starts_with("POST"));
    assert!(
        read.is_some() && (sold.is_none() || read < sold),
        "the held order read before the exit planned: {after:?}"
    );
}

/// An order still open when its attempt ended (crashed before the journal) is found by the
/// takeover by its client id and followed until it is final: journaled filled, never sent
/// again. The takeover is stale (its lease outlived the staleness budget), so it follows for
/// one settle time: the order is open for one more read.
#[tokio::test]
async fn a_takeover_follows_an_order_still_open_to_its_fill() {
    let mut settings = support::client_settings();
    // A settle long enough that the takeover's first read (open) comes well inside it.
    settings.fill_settle = std::time::Duration::from_millis(500);
    settings.fill_wait = std::time::Duration::from_secs(3);
    let h = support::harness_with_settings(KeyFormat::Sec1, settings).await;
    let i = intent(Action::LongEntry, 1);
    h.fake.script(Fault::WorkingFor {
        reads: usize::MAX,
        cancelled: false,
    });
    h.journal.set_down(true);
    assert!(h.executor.execute(&i).await.is_err());
    assert_eq!(h.fake.created_orders(), 1);
    h.journal.set_down(false);
    h.fake.open_for(1);
    h.clock.advance(Duration::seconds(61));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.order_posts().len(), 1, "never sent again");
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs.len(), 1, "{legs:?}");
    assert_eq!(legs[0].outcome, Outcome::Filled);
    assert_eq!(legs[0].quantity, d("0.002"));
    clean(&h);
}

/// A buy a takeover finds still open, showing part of its size (base bought so far), is
/// journaled in what it was to spend, not in that base: the row's quantity counts the quote
/// currency until the buy is known filled (`OrderRecord::quantity_unit`), so the 0.001 BTC
/// bought so far read as 0.001 USD. The base goes into the reason.
#[tokio::test]
async fn a_takeover_finding_a_buy_open_in_part_does_not_journal_its_base_as_quote() {
    let h = harness().await;
    h.fake.script(Fault::WorkingInPartFor {
        reads: usize::MAX,
        share: d("0.5"),
    });
    let i = intent(Action::LongEntry, 1);
    // The attempt's journal write fails after the send: a takeover reconciles it.
    h.journal.set_down(true);
    assert!(h.executor.execute(&i).await.is_err());
    h.journal.set_down(false);
    h.clock.advance(Duration::seconds(61));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.order_posts().len(), 1, "never sent again");
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs.len(), 1, "{legs:?}");
    let leg = &legs[0];
    assert_eq!(leg.outcome, Outcome::Unknown);
    assert_eq!(leg.quantity_unit(), "USD");
    // What it was to spend, as the order says it (Get Order's `quote_size`).
    let asked =
        h.fake.order_posts()[0].body["order_configuration"]["market_market_ioc"]["quote_size"]
            .as_str()
            .unwrap_or_default()
            .parse::<rust_decimal::Decimal>()
            .unwrap();
    assert_eq!(leg.quantity, asked, "{legs:?}");
    assert_eq!(leg.fill_price, None, "{legs:?}");
    let reason = leg.error.clone().unwrap_or_default();
    assert!(
        reason.contains("0.001 of the base currency bought so far"),
        "{reason}"
    );
    clean(&h);
}

/// A stale takeover (past the staleness budget: it may not send) that cannot read the earlier
/// attempt's orders ends `unknown`, journaled with why and alarmed, nothing sent. (Before, it
/// went on as if the earlier attempt had sent nothing: `expired`, its fill never journaled.)
#[tokio::test]
async fn a_stale_takeover_that_cannot_read_the_orders_ends_unknown() {
    let h = harness().await;
    let i = intent(Action::LongEntry, 1);
    h.journal.set_down(true);
    assert!(h.executor.execute(&i).await.is_err());
    h.journal.set_down(false);
    h.clock.advance(Duration::seconds(61));
    h.fake.fail_reads("/orders/historical", 100);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    let reason = signal.reason.unwrap_or_default();
    assert!(reason.contains("could not be read"), "{reason}");
    assert!(h.journal.orders(&i.signal_id).await.unwrap().is_empty());
    assert_eq!(h.notifier.sent().len(), 1);
    assert_eq!(h.fake.order_posts().len(), 1);
    clean(&h);
}

/// The same for a takeover that may still send (an operator's forced replay, or a lease that
/// ran out inside the budget): it ends `unknown`, journaled and alarmed, nothing sent. Sent
/// back through the queue instead, its quick redeliveries ended in the dead-letter queue
/// with no journal row and no alarm, while the earlier attempt's order had filled.
#[tokio::test]
async fn a_takeover_that_may_send_and_cannot_read_the_orders_ends_unknown() {
    let h = harness().await;
    let mut i = intent(Action::LongEntry, 1);
    // Within its budget: a forced message first reads the journal (which accounts its orders
    // went to), and with the journal down sends nothing.
    h.journal.set_down(true);
    assert!(h.executor.execute(&i).await.is_err());
    h.journal.set_down(false);
    assert_eq!(h.fake.order_posts().len(), 1, "the first attempt sent");
    i.replay_forced = true;
    h.clock.advance(Duration::seconds(61));
    h.fake.fail_reads("/orders/historical", 100);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    let reason = signal.reason.unwrap_or_default();
    assert!(
        reason.contains("earlier attempt's orders could not be read"),
        "{reason}"
    );
    assert_eq!(h.notifier.sent().len(), 1);
    assert_eq!(h.fake.order_posts().len(), 1);
    clean(&h);
}

/// An accepted order whose reads answer 429 (Coinbase's rate limit) is read once, with the
/// read's own retries, then once more after a pause, not again and again until `fill_wait`
/// ends: that would keep the whole account over its limit. Whether it filled is unknown:
/// journaled and alarmed, never sent again.
#[tokio::test]
async fn an_order_read_over_the_rate_limit_is_not_read_on() {
    let h = harness().await;
    let i = intent(Action::LongEntry, 1);
    h.fake.limit_reads("/orders/historical", 1_000);
    let started = std::time::Instant::now();
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.created_orders(), 1);
    assert_eq!(h.fake.order_posts().len(), 1, "never sent again");
    // One read of the order with its retries (`read_attempts`: 3), one more after the pause,
    // then at most one lookup by client order id with its own; `fill_wait` (2 s) at 10 ms
    // apart would be ~150.
    let reads = 1_000 - h.fake.failing_reads_left();
    assert!(
        (1..=3 * support::client_settings().read_attempts).contains(&reads),
        "{reads} reads"
    );
    assert!(
        started.elapsed() < support::client_settings().fill_wait,
        "{:?}",
        started.elapsed()
    );
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    let reason = signal.reason.unwrap_or_default();
    assert!(reason.contains("429"), "{reason}");
    assert_eq!(h.notifier.sent().len(), 1);
    clean(&h);
}

/// A momentary burst over the rate limit while an accepted order is followed: the read's
/// retries all answer 429, the following pauses, reads once more and finds the fill: filled,
/// not an `unknown` alarm for an order that filled.
#[tokio::test]
async fn an_order_read_over_the_rate_limit_once_is_read_again_after_a_pause() {
    let h = harness().await;
    let i = intent(Action::LongEntry, 1);
    h.fake.limit_reads(
        "/orders/historical",
        support::client_settings().read_attempts,
    );
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.failing_reads_left(), 0);
    assert_eq!(h.fake.order_posts().len(), 1, "never sent again");
    assert!(h.fake.wallet("BTC") > Decimal::ZERO);
    assert_eq!(h.notifier.sent().len(), 0);
    clean(&h);
}

/// Accounts that name no portfolio (`retail_portfolio_id` null or `""`) beside one that names
/// the key's are the key's own: they add no second portfolio, and a one-portfolio key trades
/// as before (a list written so was refused as "two portfolios").
#[tokio::test]
async fn accounts_that_name_no_portfolio_are_the_keys_own() {
    for (n, id) in [None, Some("")].into_iter().enumerate() {
        let h = harness().await;
        h.fake.write_portfolio_id(id);
        h.fake.set_wallet("BTC", "0.5");
        let i = intent(Action::LongExit, n as u32 + 1);
        assert_eq!(
            h.executor.execute(&i).await.unwrap(),
            Outcome::Filled,
            "{id:?}"
        );
        assert_eq!(h.fake.wallet("BTC"), d("0"));
        clean(&h);
    }
}

/// A short entry on spot sells what is held: an alert quantity over `max_override` does not
/// hold the sale back (the limits size entries), and the whole balance is sold.
#[tokio::test]
async fn a_spot_sale_is_not_held_back_by_the_alert_quantity() {
    let h = harness().await;
    h.fake.set_wallet("BTC", "0.5");
    let mut sale = intent(Action::ShortEntry, 1);
    sale.quantity_override = Some(Decimal::from(5_000));
    assert_eq!(h.executor.execute(&sale).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.wallet("BTC"), Decimal::ZERO);
    clean(&h);
}

/// A long entry the risk settings refuse (its alert quantity over `max_override`) while the
/// wallets cannot be read is refused with nothing sent, and not alarmed: a spot wallet holds
/// no short the entry could have been reversing. (On a margin book the same refusal is
/// alarmed, since it may have been a reversal: the OANDA executor's tests.)
#[tokio::test]
async fn a_refused_entry_whose_wallet_read_fails_is_not_alarmed_on_spot() {
    let h = harness().await;
    h.fake.fail_reads("/accounts", 100);
    let mut entry = intent(Action::LongEntry, 1);
    entry.quantity_override = Some(Decimal::from(5_000));
    assert_eq!(h.executor.execute(&entry).await.unwrap(), Outcome::Refused);
    let reason = test_kit::executor::journaled_reason(&h.journal, &entry.signal_id).await;
    assert!(
        reason.contains("max_override") && reason.contains("(the position could not be read: "),
        "{reason}"
    );
    assert_eq!(h.fake.created_orders(), 0);
    assert!(h.fake.order_posts().is_empty());
    assert_eq!(h.notifier.sent().len(), 0, "{:?}", h.notifier.sent());
    clean(&h);
}

#[tokio::test]
async fn a_resent_client_order_id_is_deduplicated_by_the_server() {
    // The fake's documented assumption, exercised through the client directly.
    let h = harness().await;
    let client = h.executor.venue.client();
    let coid = "tv-0123456789abcdef01234567-o";
    let size = executor_coinbase::client::OrderSize::Quote(d("10"));
    let first = client
        .market_order("BTC-USD", Side::Buy, size, coid)
        .await
        .unwrap();
    let second = client
        .market_order("BTC-USD", Side::Buy, size, coid)
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(h.fake.created_orders(), 1);
    assert_eq!(h.fake.duplicate_posts(), 1);
    assert_eq!(h.fake.wallet("USD"), d("990"));
    clean(&h);
}

#[tokio::test]
async fn pkcs8_escaped_sec1_and_ed25519_keys_are_accepted() {
    for format in [
        KeyFormat::Pkcs8,
        KeyFormat::Sec1Escaped,
        KeyFormat::Ed25519Raw,
    ] {
        let h = harness_with(format).await;
        assert_eq!(
            h.executor
                .execute(&intent(Action::LongEntry, 1))
                .await
                .unwrap(),
            Outcome::Filled,
            "{format:?}"
        );
        assert_eq!(h.fake.order_posts().len(), 1, "{format:?}");
        clean(&h);
    }
}

#[tokio::test]
async fn the_server_refuses_bad_tokens_and_accepts_the_clients() {
    let h = harness().await;
    let http = reqwest::Client::new();
    let path = format!("{BASE_PATH}/accounts");
    let url = format!("{}/accounts", h.fake.url);
    let now = h.clock.now();
    let sign = |key: &TestKey, uri_path: &str, at| {
        executor_coinbase::auth::ApiKey::parse(&key.name, &key.secret())
            .unwrap()
            .token("GET", &h.fake.host, uri_path, at)
            .unwrap()
    };
    let status = |token: Option<SecretString>| {
        let req = http.get(&url);
        let req = match token {
            Some(t) => req.bearer_auth(t.expose_secret()),
            None => req,
        };
        async move { req.send().await.unwrap().status().as_u16() }
    };

    assert_eq!(status(Some(sign(&h.extra, &path, now))).await, 200);
    let impostor = TestKey::generate(KEY_NAME, KeyFormat::Sec1);
    assert_eq!(status(Some(sign(&impostor, &path, now))).await, 401);
    let products = format!("{BASE_PATH}/products/BTC-USD");
    assert_eq!(status(Some(sign(&h.extra, &products, now))).await, 401);
    let expired = now - Duration::seconds(121);
    assert_eq!(status(Some(sign(&h.extra, &path, expired))).await, 401);
    let early = now + Duration::seconds(30);
    assert_eq!(status(Some(sign(&h.extra, &path, early))).await, 401);
    let stranger = TestKey::generate("organizations/x/apiKeys/unknown", KeyFormat::Sec1);
    assert_eq!(status(Some(sign(&stranger, &path, now))).await, 401);
    assert_eq!(status(None).await, 401);
    let failures = h.fake.auth_failures();
    assert_eq!(failures.len(), 6, "{failures:#?}");
    assert!(failures[0].contains("signature"), "{}", failures[0]);
    assert!(failures[1].contains("uri"), "{}", failures[1]);

    // The client's own requests, each with a fresh token, all pass.
    assert_eq!(
        h.executor
            .execute(&intent(Action::LongEntry, 1))
            .await
            .unwrap(),
        Outcome::Filled
    );
    assert_eq!(h.fake.auth_failures().len(), 6);
    let tokens = h.fake.tokens();
    let unique: std::collections::HashSet<_> = tokens.iter().collect();
    assert_eq!(unique.len(), tokens.len(), "a token is never reused");
}

#[tokio::test]
async fn a_wrong_key_sends_no_order_and_says_why() {
    let h = harness().await;
    let impostor = TestKey::generate(KEY_NAME, KeyFormat::Sec1);
    let client = executor_coinbase::client::CoinbaseClient::new(
        &h.fake.url,
        KEY_NAME,
        &impostor.secret(),
        std::sync::Arc::new(h.clock.clone()),
        support::client_settings(),
    )
    .unwrap();
    let err = client.available_balances().await.unwrap_err();
    assert!(
        matches!(
            err,
            executor_coinbase::error::CoinbaseError::Auth { status: 401, .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("refused the API key"), "{err}");
    // A 401 is asked again (Coinbase answers a good token 401 now and then), up to the
    // read's attempts, and no more.
    assert_eq!(
        h.fake.auth_failures().len(),
        support::client_settings().read_attempts,
    );
    assert_eq!(h.fake.order_posts().len(), 0);
}

#[tokio::test]
async fn the_lookup_pages_through_the_order_list_to_find_an_older_order() {
    let h = harness().await;
    h.fake.set_page_size(1);
    let client = h.executor.venue.client();
    let size = executor_coinbase::client::OrderSize::Quote(d("10"));
    for coid in [
        "tv-aaaaaaaaaaaaaaaaaaaaaaaa-o",
        "tv-bbbbbbbbbbbbbbbbbbbbbbbb-o",
        "tv-cccccccccccccccccccccccc-o",
    ] {
        client
            .market_order("BTC-USD", Side::Buy, size, coid)
            .await
            .unwrap();
    }
    let since = h.clock.now() - Duration::minutes(1);
    let found = client
        .order_by_client_id("BTC-USD", "tv-aaaaaaaaaaaaaaaaaaaaaaaa-o", since)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.order_id, "0000-cb-order-0001");
    assert_eq!(found.status, "FILLED");
    assert_eq!(
        h.fake.calls_to("/orders/historical/batch"),
        3,
        "newest first, one per page: the oldest is on page three"
    );
    let missing = client
        .order_by_client_id("BTC-USD", "tv-dddddddddddddddddddddddd-o", since)
        .await
        .unwrap();
    assert!(missing.is_none());
    assert_eq!(h.fake.calls_to("/orders/historical/batch"), 6);

    // A page that says more follow but gives no cursor to them: the list is not read whole,
    // and what it leaves out is not taken for no order.
    h.fake.drop_cursors();
    let err = client
        .order_by_client_id("BTC-USD", "tv-aaaaaaaaaaaaaaaaaaaaaaaa-o", since)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CoinbaseError::Incomplete(why) if why.contains("no cursor")),
        "{err:?}"
    );
    // A 404 from the list's endpoint is a list not read, not an empty one.
    h.fake
        .fail_reads_with("/orders/historical", 1, axum::http::StatusCode::NOT_FOUND);
    let err = client
        .order_by_client_id("BTC-USD", "tv-dddddddddddddddddddddddd-o", since)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CoinbaseError::Incomplete(why) if why.contains("404")),
        "{err:?}"
    );
    clean(&h);
}

/// The account list cut short the same way (the BTC wallet on its second page, behind a page
/// that names no cursor): the position is not read, so an exit neither sells nor reads the
/// coins as none (it read "nothing to sell" before); nothing is sent, and the signal comes
/// back.
#[tokio::test]
async fn an_account_list_whose_page_gives_no_cursor_is_not_read_as_holding_nothing() {
    let h = harness().await;
    // Two wallets that list before BTC, on the first page of two.
    h.fake.set_wallet("AAVE", "1");
    h.fake.set_wallet("ADA", "1");
    h.fake.set_wallet("BTC", "0.5");
    h.fake.drop_cursors();
    let err = h
        .executor
        .execute(&intent(Action::Flatten, 1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no cursor"), "{err}");
    assert_eq!(h.fake.order_posts().len(), 0);
    assert_eq!(h.fake.wallet("BTC"), d("0.5"));
    clean(&h);
}

/// A server that is not Coinbase (a wrong base URL, a proxy) answering with the request's
/// headers: the error names the status, never the JWT the client signed, whether the answer
/// reads as refused credentials (401) or as any other error (400).
#[tokio::test]
async fn an_answer_echoing_the_authorization_header_never_carries_the_jwt() {
    use executor_coinbase::client::CoinbaseClient;
    for (status, json) in [(401, false), (400, false), (401, true), (400, true)] {
        let echo = if json {
            broker_fakes::EchoServer::start_json(status).await
        } else {
            broker_fakes::EchoServer::start(status).await
        };
        let clock = shared::clock::ManualClock::new(support::t0());
        let key = TestKey::generate(KEY_NAME, KeyFormat::Sec1);
        let client = CoinbaseClient::new(
            &echo.url,
            &key.name,
            &key.secret(),
            std::sync::Arc::new(clock),
            support::client_settings(),
        )
        .unwrap();
        let err = client.product("BTC-USD").await.unwrap_err();
        let shown = format!("{err} | {err:?}");
        assert!(shown.contains(&status.to_string()), "{shown}");
        assert!(shown.contains("Bearer [REDACTED]"), "{json}: {shown}");
        assert!(!shown.contains("eyJ"), "no JWT: {shown}");
    }
}

/// A 4xx to an order other than Coinbase's documented 400 (a proxy's 408 or 409, which may
/// come after Coinbase placed it) is an unknown outcome, to be looked up; a 400 is a refusal,
/// its reason without the JWT.
#[tokio::test]
async fn an_undocumented_4xx_to_an_order_is_an_unknown_outcome() {
    use executor_coinbase::client::OrderAck;
    use executor_coinbase::error::CoinbaseError;
    for status in [400, 404, 408, 409] {
        let echo = broker_fakes::EchoServer::start_json(status).await;
        let ack = buy_at(&echo.url).await;
        match (status, &ack) {
            (400, Ok(OrderAck::Rejected { reason })) => {
                assert!(reason.contains("Bearer [REDACTED]"), "{reason}");
                assert!(!reason.contains("eyJ"), "no JWT: {reason}");
            }
            (400, _) => panic!("{ack:?}"),
            (_, Err(CoinbaseError::Unknown(_))) => {}
            _ => panic!("{status}: {ack:?}"),
        }
    }
}

/// `success: false` with an order id (Coinbase does not say what both mean): the order may
/// exist, so the outcome is unknown (looked up by client order id), not a refusal.
#[tokio::test]
async fn a_refusal_that_names_an_order_id_is_an_unknown_outcome() {
    use executor_coinbase::error::CoinbaseError;
    let app = axum::Router::new().fallback(|| async {
        axum::Json(serde_json::json!({
            "success": false,
            "order_id": "11111-00000-000000",
            "error_response": {"error": "UNKNOWN_FAILURE_REASON", "message": "x"},
        }))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let ack = buy_at(&url).await;
    assert!(matches!(ack, Err(CoinbaseError::Unknown(_))), "{ack:?}");
}

/// A 100 USD market buy of BTC-USD sent by a client of `url` with a fresh key.
async fn buy_at(
    url: &str,
) -> Result<executor_coinbase::client::OrderAck, executor_coinbase::error::CoinbaseError> {
    use executor_coinbase::client::{CoinbaseClient, OrderSize};
    let key = TestKey::generate(KEY_NAME, KeyFormat::Sec1);
    CoinbaseClient::new(
        url,
        &key.name,
        &key.secret(),
        std::sync::Arc::new(shared::clock::ManualClock::new(support::t0())),
        support::client_settings(),
    )
    .unwrap()
    .market_order(
        "BTC-USD",
        Side::Buy,
        OrderSize::Quote(Decimal::new(100, 0)),
        "tv-0123456789abcdef-o",
    )
    .await
}

/// The client refuses a base URL the JWT must not go to: plain http to another machine.
#[test]
fn the_client_refuses_plain_http_to_another_machine() {
    use executor_coinbase::client::CoinbaseClient;
    let key = TestKey::generate(KEY_NAME, KeyFormat::Sec1);
    let err = CoinbaseClient::new(
        "http://api.coinbase.com",
        &key.name,
        &key.secret(),
        std::sync::Arc::new(shared::clock::ManualClock::new(support::t0())),
        support::client_settings(),
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("COINBASE_BASE_URL is plain http"),
        "{err}"
    );
}

/// A key that sees two portfolios: which one its orders draw on is not known (Create Order
/// names no portfolio), so every signal is refused before any order, named: not a sale sized
/// on the sum of both (beyond either portfolio), and not an entry skipped as "already held"
/// because the other portfolio holds the currency while the one the key trades holds none.
/// The other portfolio holding none of it, or only another currency, changes nothing.
#[tokio::test]
async fn a_key_that_sees_two_portfolios_never_trades_on_a_guess_of_which_one() {
    // (main wallet, other portfolio's wallet, signal)
    for (n, (main, other, action)) in [
        ("0.5", ("BTC", "0.3"), Action::LongExit),
        ("0.5", ("BTC", "0"), Action::LongExit),
        ("0", ("BTC", "0.3"), Action::LongEntry),
        ("0", ("USD", "500"), Action::LongEntry),
    ]
    .into_iter()
    .enumerate()
    {
        let h = harness().await;
        h.fake.set_wallet("BTC", main);
        h.fake.set_other_portfolio_wallet(other.0, other.1);
        let i = intent(action, n as u32 + 1);
        assert_eq!(
            h.executor.execute(&i).await.unwrap(),
            Outcome::Rejected,
            "{main} {other:?} {action:?}"
        );
        assert_eq!(h.fake.order_posts().len(), 0, "nothing sent");
        assert_eq!(h.fake.wallet("BTC"), d(main));
        let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
        assert!(
            reason.contains("this API key sees accounts of 2 portfolios")
                && reason.contains("use a key of one portfolio"),
            "{reason}"
        );
    }
}
