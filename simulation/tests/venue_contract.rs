//! One venue contract: the same scenarios against OANDA, Tradovate and Coinbase, each through
//! the real runtime, venue and client against `broker-fakes`' server for that broker (which
//! answers only what the broker documents, fills asynchronously where the broker does, and
//! refuses undocumented lookups). Each scenario asserts the orders the fake created, the
//! final position and the journal rows.
#![allow(clippy::unwrap_used)]

use broker_fakes::coinbase::{FakeCoinbase, Fault as CbFault};
use broker_fakes::oanda::{FakeOanda, Fault as OandaFault};
use broker_fakes::tradovate::{FakeTradovate, Fault as TvFault};
use chrono::Duration;
use executor_runtime::venue::Venue;
use rust_decimal::Decimal;
use shared::Action;
use shared::clock::ManualClock;
use shared::execution::{Leg, OrderRecord, SignalStatus, TradeJournal};
use shared::memory::MemoryJournal;
use shared::message::OrderIntent;
use shared::outcome::Outcome;
use shared::routing::Broker;
use simulation::http_venues;
use std::sync::Arc;
use test_kit::executor::{IntentFor, TestExecutor, executor, t0};

/// A fault every venue can be given, each as its fake scripts it.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// The order is created, the answer is a 5xx (the fill may come later).
    ErrorAfterCreate,
    /// A 5xx, nothing created.
    ErrorBeforeCreate,
    /// A definitive refusal of the order.
    Reject,
    /// A rate limit on the order request, nothing created.
    RateLimited,
}

enum Fake {
    Oanda(FakeOanda),
    Tradovate(FakeTradovate),
    Coinbase(FakeCoinbase),
}

impl Fake {
    fn script(&self, f: Fault) {
        match (self, f) {
            (Self::Oanda(x), Fault::ErrorAfterCreate) => x.script(OandaFault::ErrorAfterCreate),
            (Self::Oanda(x), Fault::ErrorBeforeCreate) => x.script(OandaFault::ErrorBeforeCreate),
            (Self::Oanda(x), Fault::Reject) => x.script(OandaFault::Reject("INSUFFICIENT_MARGIN")),
            (Self::Oanda(x), Fault::RateLimited) => x.script(OandaFault::TooMany),
            (Self::Tradovate(x), Fault::ErrorAfterCreate) => x.script(TvFault::ErrorAfterCreate),
            (Self::Tradovate(x), Fault::ErrorBeforeCreate) => x.script(TvFault::ErrorBeforeCreate),
            // Tradovate's refusals are HTTP 200 bodies with a `failureReason`.
            (Self::Tradovate(x), Fault::Reject) => x.script(TvFault::Refuse("MaxPosLimitReached")),
            (Self::Tradovate(x), Fault::RateLimited) => x.script(TvFault::TooMany(0)),
            (Self::Coinbase(x), Fault::ErrorAfterCreate) => x.script(CbFault::ErrorAfterCreate),
            (Self::Coinbase(x), Fault::ErrorBeforeCreate) => x.script(CbFault::ErrorBeforeCreate),
            (Self::Coinbase(x), Fault::Reject) => x.script(CbFault::Reject {
                error: "INSUFFICIENT_FUND",
                message: "Insufficient balance in source account",
                preview_failure_reason: "PREVIEW_INSUFFICIENT_FUND",
            }),
            (Self::Coinbase(x), Fault::RateLimited) => x.script(CbFault::TooMany),
        }
    }

    /// The long holding: OANDA long units, Tradovate `netPos`, Coinbase BTC balance.
    fn held(&self) -> Decimal {
        match self {
            Self::Oanda(x) => {
                let (l, s) = x.position("EUR_USD");
                l + s
            }
            Self::Tradovate(x) => Decimal::from(x.net("ESZ6")),
            Self::Coinbase(x) => x.wallet("BTC"),
        }
    }

    fn hold_long(&self) {
        match self {
            Self::Oanda(x) => x.set_position("EUR_USD", 1000, 0),
            Self::Tradovate(x) => x.set_net("ESZ6", 1),
            Self::Coinbase(x) => x.set_wallet("BTC", "0.5"),
        }
    }

    /// Orders the broker created (filled or not), whatever the client saw.
    fn created(&self) -> usize {
        match self {
            Self::Oanda(x) => x.created_orders(),
            Self::Tradovate(x) => x.orders().len() + x.liquidations(),
            Self::Coinbase(x) => x.created_orders(),
        }
    }
}

struct Bench<V> {
    exec: TestExecutor<V>,
    fake: Fake,
    journal: Arc<MemoryJournal>,
    broker: Broker,
}

/// `venue` under the executor with the deployed settings, the test's `fake` behind it.
fn bench<V: Venue>(
    venue: V,
    fake: Fake,
    clock: ManualClock,
    broker: Broker,
    risk: &str,
) -> Bench<V> {
    let (exec, ports) = executor(venue, &clock, false, risk);
    Bench {
        exec,
        fake,
        journal: ports.journal,
        broker,
    }
}

impl<V: Venue> Bench<V> {
    /// The `n`th alert with `action` for this venue's broker; signal ids name the broker.
    fn intent(&self, action: Action, n: u32) -> OrderIntent {
        let (id_prefix, instrument, symbol, exchange, reference_price) = match self.broker {
            Broker::Oanda => (
                "oanda-",
                "EUR_USD",
                "EURUSD",
                "OANDA",
                Decimal::new(108345, 5),
            ),
            Broker::Tradovate => (
                "tradovate-",
                "ESZ6",
                "ESZ6",
                "CME_MINI",
                Decimal::new(601225, 2),
            ),
            Broker::Coinbase => (
                "coinbase-",
                "BTC-USD",
                "BTCUSD",
                "COINBASE",
                Decimal::new(9712345, 2),
            ),
        };
        IntentFor {
            broker: self.broker,
            instrument,
            symbol,
            exchange,
            reference_price,
            id_prefix,
            contract: None,
        }
        .intent(action, n)
    }

    async fn rows(&self, i: &OrderIntent) -> Vec<OrderRecord> {
        self.journal.orders(&i.signal_id).await.unwrap()
    }

    async fn status(&self, i: &OrderIntent) -> SignalStatus {
        self.journal
            .signal(&i.signal_id)
            .await
            .unwrap()
            .unwrap()
            .status
    }
}

async fn oanda() -> Bench<executor_oanda::venue::OandaVenue<ManualClock>> {
    shared::telemetry::init_test_logs();
    let clock = ManualClock::new(t0() + Duration::seconds(2));
    let (venue, fake) = http_venues::oanda(&clock).await.unwrap();
    bench(
        venue,
        Fake::Oanda(fake),
        clock,
        Broker::Oanda,
        executor_oanda::config::DEFAULT_RISK,
    )
}

async fn tradovate() -> Bench<http_venues::HttpTradovate> {
    shared::telemetry::init_test_logs();
    let clock = ManualClock::new(t0() + Duration::seconds(2));
    let (venue, fake) = http_venues::tradovate(&clock).await.unwrap();
    // New orders and their commands are listed a moment late, inside the settle time.
    fake.set_visibility_delay(http_venues::TRADOVATE_FILL_DELAY);
    bench(
        venue,
        Fake::Tradovate(fake),
        clock,
        Broker::Tradovate,
        executor_tradovate::config::DEFAULT_RISK,
    )
}

async fn coinbase() -> Bench<executor_coinbase::venue::CoinbaseVenue<ManualClock>> {
    shared::telemetry::init_test_logs();
    let clock = ManualClock::new(t0() + Duration::seconds(2));
    let (venue, fake) = http_venues::coinbase(&clock).await.unwrap();
    bench(
        venue,
        Fake::Coinbase(fake),
        clock,
        Broker::Coinbase,
        executor_coinbase::config::DEFAULT_RISK,
    )
}

/// Runs one scenario against each venue, as three tests.
macro_rules! contract {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn oanda() {
                super::$name(super::oanda().await).await;
            }
            #[tokio::test]
            async fn tradovate() {
                super::$name(super::tradovate().await).await;
            }
            #[tokio::test]
            async fn coinbase() {
                super::$name(super::coinbase().await).await;
            }
        }
    };
}

contract!(an_entry_fills_once_with_its_price_and_order_id);
async fn an_entry_fills_once_with_its_price_and_order_id<V: Venue>(b: Bench<V>) {
    let i = b.intent(Action::LongEntry, 1);
    assert_eq!(b.exec.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(b.fake.created(), 1);
    assert!(b.fake.held() > Decimal::ZERO);
    let rows = b.rows(&i).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].leg, rows[0].attempt), (Leg::Open, 1));
    assert!(rows[0].fill_price.is_some(), "{rows:?}");
    assert!(rows[0].broker_order_id.is_some(), "{rows:?}");
}

contract!(concurrent_duplicates_make_one_order);
async fn concurrent_duplicates_make_one_order<V: Venue>(b: Bench<V>) {
    let i = b.intent(Action::LongEntry, 1);
    let (x, y) = tokio::join!(b.exec.execute(&i), b.exec.execute(&i));
    assert_eq!(
        [x.is_ok(), y.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "one delivery wins, the other comes back later"
    );
    assert_eq!(b.fake.created(), 1);
    assert_eq!(b.exec.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(b.fake.created(), 1);
}

contract!(an_error_after_create_is_found_by_lookup_never_sent_twice);
async fn an_error_after_create_is_found_by_lookup_never_sent_twice<V: Venue>(b: Bench<V>) {
    b.fake.script(Fault::ErrorAfterCreate);
    let i = b.intent(Action::LongEntry, 1);
    assert_eq!(b.exec.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(b.fake.created(), 1, "one order at the broker");
    let rows = b.rows(&i).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].outcome, Outcome::Filled);
    assert!(rows[0].broker_order_id.is_some(), "{rows:?}");
}

// After a 5xx that created nothing the lookup can see: sent again with the same id only where
// the broker documents that a second order with it cannot fill as well (Coinbase returns the
// first: `Conversation::resends_after_unknown`); at OANDA and Tradovate, which document
// neither that nor a time within which an order is listed, never: `unknown`, one row.
contract!(an_error_before_create_is_sent_again_with_the_same_id);
async fn an_error_before_create_is_sent_again_with_the_same_id<V: Venue>(b: Bench<V>) {
    b.fake.script(Fault::ErrorBeforeCreate);
    let i = b.intent(Action::LongEntry, 1);
    let outcome = b.exec.execute(&i).await.unwrap();
    let rows = b.rows(&i).await;
    let attempts: Vec<(u32, Outcome)> = rows.iter().map(|r| (r.attempt, r.outcome)).collect();
    if b.broker != Broker::Coinbase {
        assert_eq!(outcome, Outcome::Unknown);
        assert_eq!(b.fake.created(), 0);
        assert_eq!(attempts, [(1, Outcome::Unknown)]);
        return;
    }
    assert_eq!(outcome, Outcome::Filled);
    assert_eq!(b.fake.created(), 1);
    assert_eq!(attempts, [(1, Outcome::NotExecuted), (2, Outcome::Filled)]);
    assert_eq!(rows[0].client_order_id, rows[1].client_order_id);
}

// Two 5xx that created nothing visible: nothing found is no proof (a late order, a lagging
// list), so the signal ends `unknown`, alarmed, never `not_executed`. OANDA and Tradovate send
// once (above), Coinbase twice with the same id.
contract!(two_failed_sends_end_unknown_and_nothing_is_held);
async fn two_failed_sends_end_unknown_and_nothing_is_held<V: Venue>(b: Bench<V>) {
    b.fake.script(Fault::ErrorBeforeCreate);
    b.fake.script(Fault::ErrorBeforeCreate);
    let i = b.intent(Action::LongEntry, 1);
    let sends = if b.broker == Broker::Coinbase { 2 } else { 1 };
    assert_eq!(b.exec.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(b.status(&i).await, SignalStatus::Unknown);
    assert_eq!((b.fake.created(), b.fake.held()), (0, Decimal::ZERO));
    assert_eq!(b.rows(&i).await.len(), sends);
}

contract!(a_rate_limit_never_ends_rejected_nor_twice);
async fn a_rate_limit_never_ends_rejected_nor_twice<V: Venue>(b: Bench<V>) {
    b.fake.script(Fault::RateLimited);
    let i = b.intent(Action::LongEntry, 1);
    let out = b.exec.execute(&i).await.unwrap();
    assert!(b.fake.created() <= 1);
    let rows = b.rows(&i).await;
    assert!(
        rows.iter().all(|r| r.outcome != Outcome::Rejected),
        "{rows:?}"
    );
    if b.broker == Broker::Tradovate {
        // Tradovate asks for about an hour without requests and does not say whether the
        // command was carried out: unknown at once, nothing looked up during the stop.
        assert_eq!(out, Outcome::Unknown);
        assert_eq!(rows[0].outcome, Outcome::Unknown);
        return;
    }
    // OANDA and Coinbase look the order up, find it not placed and send it again, once,
    // under the same client order id: filled, one order.
    assert_eq!(out, Outcome::Filled, "{rows:?}");
    assert_eq!(b.fake.created(), 1);
    assert_eq!(
        rows.iter()
            .map(|r| (r.attempt, r.outcome))
            .collect::<Vec<_>>(),
        [(1, Outcome::NotExecuted), (2, Outcome::Filled)]
    );
}

contract!(a_refusal_is_journaled_and_never_retried);
async fn a_refusal_is_journaled_and_never_retried<V: Venue>(b: Bench<V>) {
    b.fake.script(Fault::Reject);
    let i = b.intent(Action::LongEntry, 1);
    assert_eq!(b.exec.execute(&i).await.unwrap(), Outcome::Rejected);
    assert_eq!(b.status(&i).await, SignalStatus::Rejected);
    let rows = b.rows(&i).await;
    assert_eq!(rows.len(), 1, "sent once: {rows:?}");
    assert_eq!(rows[0].outcome, Outcome::Rejected);
    assert!(rows[0].error.is_some());
    assert_eq!((b.fake.created(), b.fake.held()), (0, Decimal::ZERO));
}

contract!(an_exit_closes_the_holding_once_after_an_error_after_create);
async fn an_exit_closes_the_holding_once_after_an_error_after_create<V: Venue>(b: Bench<V>) {
    b.fake.hold_long();
    b.fake.script(Fault::ErrorAfterCreate);
    let i = b.intent(Action::LongExit, 1);
    assert_eq!(b.exec.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(b.fake.held(), Decimal::ZERO);
    assert_eq!(b.fake.created(), 1, "closed once");
    let rows = b.rows(&i).await;
    assert_eq!(
        rows.iter().map(|r| (r.leg, r.outcome)).collect::<Vec<_>>(),
        [(Leg::Close, Outcome::Filled)]
    );
}

contract!(a_reversal_closes_then_opens_one_order_per_leg);
async fn a_reversal_closes_then_opens_one_order_per_leg<V: Venue>(b: Bench<V>) {
    b.fake.hold_long();
    // On spot a short entry sells what is held and opens nothing.
    let i = b.intent(Action::ShortEntry, 1);
    assert_eq!(b.exec.execute(&i).await.unwrap(), Outcome::Filled);
    let rows = b.rows(&i).await;
    let legs: Vec<_> = rows.iter().map(|r| (r.leg, r.outcome)).collect();
    if b.broker == Broker::Coinbase {
        assert_eq!(legs, [(Leg::Close, Outcome::Filled)]);
        assert_eq!(b.fake.held(), Decimal::ZERO);
    } else {
        assert_eq!(
            legs,
            [(Leg::Close, Outcome::Filled), (Leg::Open, Outcome::Filled)]
        );
        assert!(b.fake.held() < Decimal::ZERO, "ends short");
    }
    assert_eq!(b.fake.created(), rows.len(), "one order per leg");
    assert!(rows.iter().all(|r| r.broker_order_id.is_some()), "{rows:?}");
}

contract!(an_error_after_create_on_the_open_of_a_reversal_is_found_never_sent_twice);
async fn an_error_after_create_on_the_open_of_a_reversal_is_found_never_sent_twice<V: Venue>(
    b: Bench<V>,
) {
    if b.broker == Broker::Coinbase {
        return; // a spot short entry has no open leg
    }
    b.fake.hold_long();
    // The close goes through; the open is created and answered 5xx.
    match &b.fake {
        Fake::Oanda(x) => {
            x.script(OandaFault::Pass);
            x.script(OandaFault::ErrorAfterCreate);
        }
        // Tradovate's faults aim at placements only: the liquidation passes by itself.
        Fake::Tradovate(x) => x.script(TvFault::ErrorAfterCreate),
        Fake::Coinbase(_) => {}
    }
    let i = b.intent(Action::ShortEntry, 1);
    assert_eq!(b.exec.execute(&i).await.unwrap(), Outcome::Filled);
    assert!(b.fake.held() < Decimal::ZERO, "ends short");
    assert_eq!(b.fake.created(), 2, "one close, one open");
    let rows = b.rows(&i).await;
    assert_eq!(
        rows.iter().map(|r| (r.leg, r.attempt)).collect::<Vec<_>>(),
        [(Leg::Close, 1), (Leg::Open, 1)]
    );
}

contract!(a_rejected_close_never_opens_the_other_side);
async fn a_rejected_close_never_opens_the_other_side<V: Venue>(b: Bench<V>) {
    b.fake.hold_long();
    match &b.fake {
        // A position close is refused by a cancel of its closing order (`MARKET_HALTED`).
        Fake::Oanda(x) => x.script(OandaFault::Cancel("MARKET_HALTED")),
        _ => b.fake.script(Fault::Reject),
    }
    let i = b.intent(Action::ShortEntry, 1);
    assert_eq!(b.exec.execute(&i).await.unwrap(), Outcome::Rejected);
    assert!(b.fake.held() > Decimal::ZERO, "still long, nothing opened");
    let rows = b.rows(&i).await;
    assert_eq!(
        rows.iter().map(|r| (r.leg, r.outcome)).collect::<Vec<_>>(),
        [(Leg::Close, Outcome::Rejected)]
    );
}
