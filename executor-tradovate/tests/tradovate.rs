//! The Tradovate executor against the fake Tradovate server. Each scenario asserts how many
//! orders and how many logins the server saw.
#![allow(clippy::unwrap_used)]

mod support;

use chrono::Duration;
use shared::Action;
use shared::clock::Clock;
use shared::execution::{Leg, SignalStatus, TradeJournal};
use shared::outcome::Outcome;
use shared::ports::{IdempotencyKey, IdempotencyStore};
use shared::routing::Broker;
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

/// Tradovate documents that fills and the position become visible asynchronously: with
/// `/position/list` still showing the net from before each fill for a while, an entry ends
/// only once its fill shows, so the reversal right after it reads the long and liquidates it
/// before selling. (Planned from the stale flat position, it would sell one contract against
/// the long and leave the account flat, journaled filled.)
#[tokio::test]
async fn an_entry_ends_once_the_position_shows_it_so_the_next_reversal_reads_it() {
    let h = harness().await;
    h.fake
        .set_position_lag(std::time::Duration::from_millis(1500));
    let long = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&long).await.unwrap(), Outcome::Filled);
    let short = intent(Action::ShortEntry, 2);
    assert_eq!(h.executor.execute(&short).await.unwrap(), Outcome::Filled);
    assert_eq!(
        h.fake.net("ESZ6"),
        -1,
        "the account ends short one contract"
    );
    assert_eq!(h.fake.liquidations(), 1, "the long was closed first");
    let legs = h.journal.orders(&short.signal_id).await.unwrap();
    assert_eq!(
        legs.iter().map(|l| (l.leg, l.outcome)).collect::<Vec<_>>(),
        [(Leg::Close, Outcome::Filled), (Leg::Open, Outcome::Filled)]
    );
    assert_eq!(h.fake.violations(), Vec::<String>::new());
}

/// A trade by hand on the same side while the entry's order works (bought 1 by hand, the
/// signal's 1 filling after it: long 2 for a target of long 1) is not taken as the entry
/// shown: it ends `unknown`, alarmed, naming what the position shows, where it was journaled
/// filled with no word.
#[tokio::test]
async fn an_entry_the_position_shows_with_a_hand_trade_beside_it_is_not_taken_as_done() {
    let mut h = harness().await;
    // The wait for the position is bounded by the signal's budget.
    h.executor.settings.max_age = Duration::seconds(6);
    // Long enough for the hand trade below to land first on a busy machine.
    h.fake
        .set_fill_delay(std::time::Duration::from_millis(1500));
    let long = intent(Action::LongEntry, 1);
    let fake = h.fake.clone();
    tokio::spawn(async move {
        while fake.orders().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // Before the order fills: the fill adds to it.
        fake.set_net("ESZ6", 1);
    });
    assert_eq!(h.executor.execute(&long).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.net("ESZ6"), 2);
    assert_eq!(h.fake.orders().len(), 1, "nothing sent again");
    let why = test_kit::executor::journaled_reason(&h.journal, &long.signal_id).await;
    assert!(
        why.contains("the open leg filled, but the position did not show it")
            && why.contains("it shows long 2, where nothing was held before and 1 bought filled"),
        "{why}"
    );
    let legs = h.journal.orders(&long.signal_id).await.unwrap();
    assert_eq!(
        legs.iter().map(|l| (l.leg, l.outcome)).collect::<Vec<_>>(),
        [(Leg::Open, Outcome::Filled)],
        "the order's own fill is journaled as it is"
    );
}

/// A long entry of three contracts (under the default notional cap at this close).
fn entry_of_three() -> shared::message::OrderIntent {
    let mut i = intent(Action::LongEntry, 1);
    i.quantity_override = Some(3.into());
    i.reference_price = 100.into();
    i
}

/// The signal's one row: `leg` filled 1 contract, its order "ended Canceled after 1", and the
/// signal's reason says the leg filled in part.
async fn filled_one_in_part(h: &support::Harness, i: &shared::message::OrderIntent, leg: Leg) {
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.leg, l.outcome, l.quantity))
            .collect::<Vec<_>>(),
        [(leg, Outcome::Filled, 1.into())],
        "{legs:?}"
    );
    let error = legs[0].error.clone().unwrap_or_default();
    assert!(error.contains("ended Canceled after 1"), "{error}");
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(
        reason.contains(&format!("{} leg filled in part", leg.as_str())),
        "{reason}"
    );
}

/// An order that fills in part and then ends `Canceled` (scripted at the fake): its fills are
/// read, so the leg is journaled at what filled, the reversal stops short of its open (the
/// account holds what the close left, not a doubled or unreported position) and the signal's
/// reason says so. It was journaled `rejected`, "nothing filled", while the account had moved.
#[tokio::test]
async fn an_order_that_fills_in_part_then_ends_canceled_is_journaled_at_what_filled() {
    // A reversal whose liquidation of 3 fills 1.
    let h = harness().await;
    h.fake.set_net("ESZ6", 3);
    h.fake.fill_next_in_part(1);
    let i = intent(Action::ShortEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.net("ESZ6"), 2);
    assert_eq!(
        h.fake.orders().len(),
        0,
        "no open after a close that fell short"
    );
    filled_one_in_part(&h, &i, Leg::Close).await;

    // An entry of 3 that fills 1.
    let h = harness().await;
    h.fake.fill_next_in_part(1);
    let i = entry_of_three();
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.net("ESZ6"), 1);
    filled_one_in_part(&h, &i, Leg::Open).await;

    // Canceled with nothing filled stays a definitive no.
    let h = harness().await;
    h.fake.fill_next_in_part(0);
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    assert_eq!(h.fake.net("ESZ6"), 0);
}

/// An order that fills in part and ends `Canceled` before its fill is listed (the documents
/// do not say fills are listed by the time the status changes; scripted at the fake): the
/// position shows it traded, so it is followed until the fill is listed and journaled at what
/// filled. It was journaled `rejected`, "nothing filled", while the account held a contract.
/// Not listed within the budget, the leg ends `unknown`, never `rejected`.
#[tokio::test]
async fn an_order_canceled_before_its_fill_is_listed_is_never_taken_as_nothing_filled() {
    let h = harness().await;
    h.fake.fill_next_in_part(1);
    h.fake
        .set_fill_listing_delay(std::time::Duration::from_millis(600));
    let i = entry_of_three();
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.net("ESZ6"), 1);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.leg, l.outcome, l.quantity))
            .collect::<Vec<_>>(),
        [(Leg::Open, Outcome::Filled, 1.into())],
        "{legs:?}"
    );

    // Listed only after the budget's wait: unknown, alarmed, and one order.
    let h = harness().await;
    h.fake.fill_next_in_part(1);
    h.fake
        .set_fill_listing_delay(std::time::Duration::from_secs(3600));
    let i = entry_of_three();
    h.clock.set(i.signal_time + Duration::seconds(29));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.orders().len(), 1);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter().map(|l| l.outcome).collect::<Vec<_>>(),
        [Outcome::Unknown],
        "{legs:?}"
    );
    let error = legs[0].error.clone().unwrap_or_default();
    assert!(error.contains("no fill listed"), "{error}");
}

/// `/position/list` may list an entry per trade date (the `Position` schema carries
/// `tradeDate`; Tradovate's maintainers call a position closed when its most recent entry
/// reads 0): the newest entry is the position, never the sum. Long yesterday and flat today,
/// a long entry buys (it read long 1 and did nothing); long yesterday and still long today,
/// a short entry liquidates one contract and sells one (it read long 2, and waited for a
/// flat sum that never came).
#[tokio::test]
async fn the_newest_position_entry_is_the_position_never_the_sum() {
    let h = harness().await;
    h.fake.set_net("ESZ6", 0);
    h.fake.list_earlier_entry("ESZ6", 1, 1);
    let long = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&long).await.unwrap(), Outcome::Filled);
    let orders = h.fake.orders();
    assert_eq!(orders.len(), 1, "one buy");
    assert_eq!((orders[0].action.as_str(), orders[0].qty), ("Buy", 1));
    assert_eq!(h.fake.net("ESZ6"), 1);

    let short = intent(Action::ShortEntry, 2);
    assert_eq!(h.executor.execute(&short).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.liquidations(), 1);
    assert_eq!(
        h.fake.net("ESZ6"),
        -1,
        "the account ends short one contract"
    );
    assert_eq!(h.fake.violations(), Vec::<String>::new());
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

/// A refused login (a changed password) is told as what it is: not as Tradovate refusing
/// the contract (it ended `rejected`, "Tradovate does not know contract ESZ6"); nothing is
/// sent, and the signal is not left to be retried with the same refused credentials.
#[tokio::test]
async fn a_refused_login_is_not_a_refused_contract() {
    let fake =
        support::fake_tradovate::FakeTradovate::start(support::t0() + chrono::Duration::seconds(2))
            .await;
    let wrong = executor_tradovate::client::Credentials {
        password: secrecy::SecretString::from("not-the-password"),
        ..support::credentials()
    };
    let h = support::harness_with(
        fake,
        support::fake_tradovate::ACCOUNT_ID,
        support::fake_tradovate::ACCOUNT_NAME,
        wrong,
    )
    .await;
    let i = intent(Action::LongEntry, 1);
    let outcome = h.executor.execute(&i).await;
    assert!(h.fake.orders().is_empty());
    let signal = h.journal.signal(&i.signal_id).await.unwrap();
    let said = format!("{outcome:?} {signal:?}");
    assert!(!said.contains("does not know contract"), "{said}");
    assert!(said.contains("the login was refused"), "{said}");
    assert!(!said.contains("not-the-password"), "{said}");
    // Ended, rejected for the refused login (alarmed), not left for redeliveries that would
    // log in again with the same credentials.
    assert_eq!(
        outcome.as_ref().ok(),
        Some(&Outcome::Rejected),
        "{outcome:?}"
    );
    assert_eq!(h.fake.logins(), 0);
    // The next signal (or the next read of a wait) does not log in again with the same
    // credentials within the pause: each asked Tradovate again, up to the login cap.
    let tried = h.fake.login_requests();
    assert!(tried >= 1);
    let next = intent(Action::ShortEntry, 2);
    let outcome = h.executor.execute(&next).await;
    assert_eq!(h.fake.login_requests(), tried, "{outcome:?}");
    let signal = h.journal.signal(&next.signal_id).await.unwrap();
    let said = format!("{outcome:?} {signal:?}");
    assert!(
        said.contains("not tried again with the same credentials"),
        "{said}"
    );
    assert!(h.fake.orders().is_empty());
}

/// A contract Tradovate does not list (its `contract/find` answers 404 at the fake; the
/// documentation does not say how) is refused at once naming it, nothing sent: it was read as
/// an outage, the signal retried until it expired or was dead-lettered, the contract unnamed.
#[tokio::test]
async fn a_contract_tradovate_does_not_know_is_rejected_by_name() {
    let h = harness().await;
    let mut i = intent(Action::LongEntry, 1);
    i.instrument = shared::routing::Instrument::new("ESH0");
    i.contract = None;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(
        reason.contains("does not know contract ESH0") && reason.contains("404"),
        "{reason}"
    );
    assert!(h.fake.orders().is_empty());
}

/// A position in a contract Tradovate will not name (its `/contract/item` answers 404): a
/// continuous symbol's signal, which reads every other position's contract for what a roll
/// left, cannot tell whether it is an earlier contract of its root: refused, nothing sent,
/// naming the contract id and what to do (retrying cannot change it).
#[tokio::test]
async fn a_position_in_a_contract_tradovate_will_not_name_is_refused_by_its_id() {
    let h = harness().await;
    h.fake.add_contract("ZZZ6", 4242);
    h.fake.set_net("ZZZ6", 1);
    h.fake.forget_contract("ZZZ6");
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    assert!(h.fake.orders().is_empty());
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(
        reason.contains("contract id 4242") && reason.contains("may be an earlier ES contract"),
        "{reason}"
    );
}

/// A 401 on an order renews the token, and the order is looked up but never sent again:
/// Tradovate does not document that a 401 order command was not placed, nor a time within
/// which a placed order is listed. Nothing found: the leg ends `unknown`, alarmed, with one
/// send. It was sent a second time once a lookup found nothing.
#[tokio::test]
async fn a_401_on_the_order_is_looked_up_and_never_sent_again() {
    let h = harness().await;
    h.fake.script(Fault::Unauthorized);
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.orders().len(), 0, "never sent a second time");
    assert_eq!(
        h.fake.logins() + h.fake.renewals(),
        2,
        "one login, then one refresh for the lookup"
    );
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    let attempts: Vec<(u32, Outcome)> = legs.iter().map(|l| (l.attempt, l.outcome)).collect();
    assert_eq!(attempts, [(1, Outcome::Unknown)], "{legs:?}");
    let error = legs[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("401"), "{error}");
}

/// A 401 on an order that Tradovate placed all the same (its documents do not rule it out):
/// the lookup finds it by its command's `clOrdId` and follows it to its fill; one order.
#[tokio::test]
async fn a_401_on_an_order_that_was_placed_is_found_and_followed_one_order() {
    let h = harness().await;
    h.fake.script(Fault::UnauthorizedAfterCreate);
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.orders().len(), 1);
    assert_eq!(h.fake.net("ESZ6"), 1);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.attempt, l.outcome))
            .collect::<Vec<_>>(),
        [(1, Outcome::Filled)],
        "{legs:?}"
    );
}

/// A 400 or a 404 to a placement is not documented as "not placed" (Tradovate's
/// error-handling page: a 400 "usually means" a malformed request). With the fake placing
/// the order all the same, the lookup finds it by its command and follows it to its fill:
/// one order, filled, where it was journaled `rejected` beside an open position.
#[tokio::test]
async fn a_400_or_404_on_an_order_that_was_placed_is_found_and_followed_one_order() {
    for status in [400, 404] {
        let h = harness().await;
        h.fake.script(Fault::StatusAfterCreate(status));
        let i = intent(Action::LongEntry, 1);
        assert_eq!(
            h.executor.execute(&i).await.unwrap(),
            Outcome::Filled,
            "{status}"
        );
        assert_eq!(h.fake.orders().len(), 1, "{status}");
        assert_eq!(h.fake.net("ESZ6"), 1, "{status}");
    }
}

/// A placement answered with its `orderId` and a `failureReason` together (the schema allows
/// it, the documentation does not say what it means) left an order: it is looked up and
/// followed to its fill, not journaled as refused while it works at the broker.
#[tokio::test]
async fn an_order_id_beside_a_failure_reason_is_looked_up_and_followed() {
    let h = harness().await;
    h.fake.script(Fault::FailureWithOrder("MaxPosLimitReached"));
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.orders().len(), 1, "never placed a second time");
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter().map(|l| l.outcome).collect::<Vec<_>>(),
        [Outcome::Filled],
        "{legs:?}"
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

/// A reversal's liquidation answered with a penalty ticket is not sent again with the ticket
/// when the wait would leave less than the open needs after it (the settle time and one
/// poll): sent, it fills and the open expires, the account at neither side. It ends
/// `not_executed` with the long kept.
#[tokio::test]
async fn a_penalised_liquidation_is_not_sent_again_without_time_for_the_open() {
    let h = harness().await;
    h.fake.set_net("ESZ6", 1);
    h.fake.script(Fault::Penalty(1));
    // 1.2 s of the budget left: the 1 s wait fits it, but not with the open's 305 ms after.
    h.clock.advance(Duration::milliseconds(27_800));
    let i = intent(Action::ShortEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::NotExecuted);
    assert_eq!(h.fake.liquidations(), 0, "no ticketed resend");
    // Counted as requests, not as what the fake carried out: a resend too early or without
    // its ticket, which Tradovate may carry out, is one more.
    assert_eq!(h.fake.order_commands(), 1, "the penalised liquidation only");
    assert!(h.fake.violations().is_empty(), "{:?}", h.fake.violations());
    assert!(h.fake.orders().is_empty());
    assert_eq!(h.fake.net("ESZ6"), 1, "the long is kept");
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    let reason = signal.reason.unwrap_or_default();
    assert!(
        reason.contains("less than the 305 ms the leg after this close needs"),
        "{reason}"
    );
}

/// One login that sees two accounts, a deployment for each, and one alert sent to both (so
/// one `clOrdId`): the second account (`other`, 555001) has filled it; the next placement of
/// the first answers 500 without creating anything. Answers (first, other, the intent).
async fn one_login_two_accounts() -> (
    support::Harness,
    support::Harness,
    shared::message::OrderIntent,
) {
    let first = harness().await;
    first.fake.set_accounts(vec![
        (
            support::fake_tradovate::ACCOUNT_ID,
            support::fake_tradovate::ACCOUNT_NAME.into(),
        ),
        (555_001, "LIVE777".into()),
    ]);
    let other = support::harness_on(first.fake.clone(), 555_001, "LIVE777").await;
    let i = intent(Action::LongEntry, 1);
    assert_eq!(other.executor.execute(&i).await.unwrap(), Outcome::Filled);
    // A 500 that placed nothing: looked up, and never placed again.
    first.fake.script(Fault::ErrorBeforeCreate);
    (first, other, i)
}

/// One login, two accounts, each with a deployment of its own, and the same alert sent to both
/// (so the same `clOrdId`): the second account's send fails without creating anything, and
/// its lookup finds the first account's order by `clOrdId`. That order is not its own: the
/// lookup finds none of its own, and the leg ends `unknown` (never taken as filled by the
/// other's order, never placed again).
#[tokio::test]
async fn a_lookup_never_takes_another_accounts_order_for_its_own() {
    let (first, other, i) = one_login_two_accounts().await;
    assert_eq!(first.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    never_took_the_other_accounts_order(&first, &other, &i).await;
}

/// The first account is still flat and its leg names no broker order (the other's filled
/// order was not taken for its own); one order placed in all, the other account's.
async fn never_took_the_other_accounts_order(
    first: &support::Harness,
    other: &support::Harness,
    i: &shared::message::OrderIntent,
) {
    assert_eq!(
        (
            first
                .fake
                .net_for(support::fake_tradovate::ACCOUNT_ID, "ESZ6"),
            first.fake.net_for(555_001, "ESZ6")
        ),
        (0, 1)
    );
    let orders = first.fake.orders();
    assert_eq!(
        orders.len(),
        1,
        "the other account's order only: {orders:?}"
    );
    let legs = first.journal.orders(&i.signal_id).await.unwrap();
    let theirs = other.journal.orders(&i.signal_id).await.unwrap();
    assert!(theirs[0].broker_order_id.is_some());
    assert_eq!(
        legs.iter()
            .map(|l| (l.outcome, l.broker_order_id.clone()))
            .collect::<Vec<_>>(),
        [(Outcome::Unknown, None)],
        "{legs:?}"
    );
    // The lookup passed over the other account's order and went on to this account's.
    let error = legs[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("nothing found by lookup"), "{error}");
}

/// Two penalties, each shorter than the budget left when the command was sent, but not
/// together: the second is not waited out (the order would go out after the deadline).
#[tokio::test]
async fn penalties_in_a_row_are_held_to_what_is_left_of_the_budget() {
    let h = harness().await;
    let i = intent(Action::ShortEntry, 1);
    // 1.5 s of the 30 s budget left.
    h.clock.set(i.signal_time + Duration::milliseconds(28_500));
    h.fake.script(Fault::Penalty(1));
    h.fake.script(Fault::Penalty(1));
    // The executor's clock follows real time, as the penalty waits do.
    let clock = h.clock.clone();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            clock.advance(Duration::milliseconds(20));
        }
    });
    let outcome = h.executor.execute(&i).await.unwrap();
    ticker.abort();
    assert_ne!(outcome, Outcome::Filled);
    assert_eq!(
        h.fake.orders().len(),
        0,
        "nothing placed after the deadline"
    );
    // The order, its ticketed resend after the first wait, and no third request.
    assert_eq!(h.fake.order_commands(), 2);
    assert!(h.fake.violations().is_empty(), "{:?}", h.fake.violations());
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.last().unwrap().outcome,
        Outcome::NotExecuted,
        "{legs:?}"
    );
}

/// As `a_lookup_never_takes_another_accounts_order_for_its_own`, when the first reads of the
/// other account's order fail: it is read again until
/// it is readable, seen to be another account's and passed over, so the lookup goes on (this
/// account's orders on the contract) and finds nothing of this account's. Never journaled as
/// this account's fill on the strength of the other's.
#[tokio::test]
async fn an_unreadable_order_found_by_cl_ord_id_is_read_again_and_passed_over_if_not_ours() {
    let (first, other, i) = one_login_two_accounts().await;
    // The lookup's first read of the order fails (both of the client's attempts); later
    // reads succeed.
    first.fake.fail_reads("/order/item", 2);
    let outcome = first.executor.execute(&i).await.unwrap();
    assert_eq!(outcome, Outcome::Unknown);
    never_took_the_other_accounts_order(&first, &other, &i).await;
}

/// An order found by `clOrdId` that cannot be read within the budget is followed as ours
/// (whose it is stays unknown): the leg ends unknown and nothing is placed again.
#[tokio::test]
async fn an_order_found_by_cl_ord_id_never_read_is_never_placed_again() {
    let (first, _other, i) = one_login_two_accounts().await;
    first.fake.fail_reads("/order/item", 10_000);
    let outcome = first.executor.execute(&i).await.unwrap();
    assert_eq!(outcome, Outcome::Unknown);
    assert_eq!(first.fake.orders().len(), 1, "only the other account's");
}

/// A penalty ticket whose wait outlasts the staleness budget is not waited out: the order
/// would go out after the deadline. The leg ends not executed and nothing is placed.
#[tokio::test]
async fn a_penalty_longer_than_the_budget_left_is_not_waited_out() {
    let h = harness().await;
    let i = intent(Action::ShortEntry, 1);
    // The deadline is the signal's time plus 30 s: one second of it is left.
    h.clock.set(i.signal_time + Duration::seconds(29));
    h.fake.script(Fault::Penalty(2));
    let outcome = h.executor.execute(&i).await.unwrap();
    assert_ne!(outcome, Outcome::Filled);
    assert_eq!(
        h.fake.orders().len(),
        0,
        "nothing placed after the deadline"
    );
    assert_eq!(h.fake.order_commands(), 1, "no resend");
    assert!(h.fake.violations().is_empty(), "{:?}", h.fake.violations());
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.last().unwrap().outcome,
        Outcome::NotExecuted,
        "{legs:?}"
    );
}

/// A reversal that reaches the executor with less of its staleness budget left than a close
/// needs to show in the position (the settle time and a poll: 305 ms here) is not started: it
/// ends `expired` with nothing sent and the long still held. It liquidated, then found the
/// budget gone before the open: flat, journaled `expired` as if nothing had moved.
#[tokio::test]
async fn a_reversal_with_too_little_budget_left_is_not_started() {
    let h = harness().await;
    h.fake.set_net("ESZ6", 1);
    let i = intent(Action::ShortEntry, 1);
    // The deadline is the signal's time plus 30 s: 200 ms of it are left.
    h.clock
        .set(i.signal_time + Duration::seconds(29) + Duration::milliseconds(800));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Expired);
    assert_eq!((h.fake.liquidations(), h.fake.orders().len()), (0, 0));
    assert_eq!(h.fake.net("ESZ6"), 1);
    let reason = h
        .journal
        .signal(&i.signal_id)
        .await
        .unwrap()
        .unwrap()
        .reason
        .unwrap();
    assert!(
        reason.contains("leaves 200 ms, less than the 305 ms")
            && reason.contains("nothing was sent, the account still holds long 1 in ESZ6"),
        "{reason}"
    );

    // With 500 ms left the same reversal is made (this clock does not move while it runs).
    let h = harness().await;
    h.fake.set_net("ESZ6", 1);
    let i = intent(Action::ShortEntry, 2);
    h.clock
        .set(i.signal_time + Duration::seconds(29) + Duration::milliseconds(500));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.net("ESZ6"), -1);
}

/// A 500 on a placement that created nothing the lookup can see: Tradovate documents no
/// time within which a placed order's command is listed and no refusal of a second order with
/// the same `clOrdId`, so it is not placed again. The leg ends `unknown`, alarmed.
#[tokio::test]
async fn a_5xx_that_created_nothing_visible_is_never_placed_again() {
    let h = harness().await;
    h.fake.script(Fault::ErrorBeforeCreate);
    let i = intent(Action::ShortEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.orders().len(), 0);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs.len(), 1, "{legs:?}");
    let why = legs[0].error.as_deref().unwrap_or_default();
    assert!(why.contains("not sent again"), "{why}");
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
async fn a_liquidation_that_does_not_land_within_the_budget_ends_unknown_and_is_acknowledged() {
    let h = harness().await;
    h.fake.set_net("ESZ6", 2);
    h.fake.liquidation_takes(None);
    let i = intent(Action::ShortEntry, 1);
    // Two seconds of the staleness budget left.
    h.clock.advance(Duration::seconds(27));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(
        h.fake.orders().len(),
        0,
        "never opens on an unconfirmed close"
    );
    assert_eq!(h.fake.net("ESZ6"), 2);
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    assert_eq!(signal.status, SignalStatus::Unknown);
    let reason = signal.reason.unwrap();
    assert!(
        reason.contains("Working, not done yet (whether any of it filled is unknown until it ends); still so when the wait ended (the staleness budget, or the attempt's lease when sooner)"),
        "the real cause, not a lease message: {reason}"
    );
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert!(
        legs[0].broker_order_id.is_some(),
        "the liquidation's order id"
    );
    // Out of the way of later signals: a redelivery is acknowledged, nothing sent again.
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.liquidations(), 1);
}

/// The position read flat while the reversal's liquidation is still working (something else
/// closed the long meanwhile) is no proof the liquidation is done: Tradovate does not
/// document what a working liquidation does once the position is flat, so the open waits for
/// it to end and, when it does not within the budget, is never sent.
#[tokio::test]
async fn a_reversal_never_opens_while_its_liquidation_is_working_though_the_position_reads_flat() {
    let h = harness().await;
    h.fake.set_net("ESZ6", 3);
    h.fake.liquidation_takes(None);
    // Two seconds of the staleness budget left.
    h.clock.advance(Duration::seconds(27));
    let fake = h.fake.clone();
    let outside = tokio::spawn(async move {
        while fake.liquidations() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // A manual close at the broker, while the liquidation works.
        fake.set_net("ESZ6", 0);
    });
    let i = intent(Action::ShortEntry, 2);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    outside.await.unwrap();
    assert_eq!(
        h.fake.orders().len(),
        0,
        "no open while the liquidation works"
    );
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter().map(|l| (l.leg, l.outcome)).collect::<Vec<_>>(),
        [(Leg::Close, Outcome::Unknown)]
    );
    let liquidation: i64 = legs[0].broker_order_id.as_deref().unwrap().parse().unwrap();
    assert_eq!(h.fake.order_status(liquidation).as_deref(), Some("Working"));
    // Nor does the instrument's next signal trade while it works: nothing sent, the message
    // comes back; once the liquidation has ended, it trades.
    let next = intent(Action::LongEntry, 2);
    let err = h.executor.execute(&next).await.unwrap_err().to_string();
    assert!(err.contains("still Working"), "{err}");
    assert_eq!(h.fake.orders().len(), 0);
    h.fake.land_liquidations();
    assert_eq!(h.executor.execute(&next).await.unwrap(), Outcome::Filled);
    assert_eq!((h.fake.orders().len(), h.fake.net("ESZ6")), (1, 1));
}

/// A takeover that finds the earlier attempt's liquidation still working (the process that
/// sent it died following it, so nothing held the contract) holds the contract as a
/// liquidation followed to the end of its wait does: the next signal sends nothing while it
/// works (a second liquidation, or an entry read from a position it is about to change), and
/// trades once it has ended. The takeover ended `unknown` and held nothing: a long entry read
/// the account long and journaled `no_op`, and the liquidation then left it flat.
#[tokio::test]
async fn a_liquidation_a_takeover_finds_working_holds_its_contract() {
    let h = harness().await;
    h.fake.set_net("ESZ6", 2);
    h.fake.liquidation_takes(None);
    let i = intent(Action::ShortEntry, 1);
    {
        let first = h.executor.execute(&i);
        tokio::pin!(first);
        let placed = async {
            while h.fake.liquidations() == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        tokio::select! {
            r = &mut first => panic!("the execution ended before liquidating: {r:?}"),
            () = placed => {}
        }
    }
    h.clock.advance(Duration::seconds(61));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    let fresh = |action, n| shared::message::OrderIntent {
        signal_time: h.clock.now(),
        received_at: h.clock.now(),
        enqueued_at: h.clock.now(),
        routed_at: h.clock.now(),
        ..intent(action, n)
    };
    let next = fresh(Action::LongEntry, 2);
    let err = h.executor.execute(&next).await.unwrap_err().to_string();
    assert!(
        err.contains("still Working")
            && err.contains("named by no clOrdId (a liquidation, or one placed by hand"),
        "{err}"
    );
    assert_eq!((h.fake.liquidations(), h.fake.orders().len()), (1, 0));
    h.fake.land_liquidations();
    // It lands at a request once the fake's fill delay has passed since it was sent.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(h.executor.execute(&next).await.unwrap(), Outcome::Filled);
    assert_eq!((h.fake.liquidations(), h.fake.net("ESZ6")), (1, 1));
}

/// A market open still working when its signal ended `unknown` (a market that does not trade
/// it within the budget) holds its contract as a working liquidation does: the next signal
/// sends nothing while it works, and trades once it has filled and the position shows it (a
/// settle time after the order reads ended; here the position lags the fill by less). It held
/// nothing: an exit read the account flat and journaled `no_op`, and the late buy left the
/// account long against the strategy.
#[tokio::test]
async fn an_open_still_working_holds_its_contract_until_it_ends() {
    let h = harness().await;
    h.fake.set_fill_delay(std::time::Duration::from_secs(3600));
    // Two seconds of the staleness budget left.
    h.clock.advance(Duration::seconds(27));
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!((h.fake.orders().len(), h.fake.net("ESZ6")), (1, 0));
    let exit = intent(Action::LongExit, 1);
    let err = h.executor.execute(&exit).await.unwrap_err().to_string();
    assert!(
        err.contains("open order") && err.contains("still Working"),
        "{err}"
    );
    assert_eq!(h.fake.liquidations(), 0, "nothing sent while it works");
    // Filled now, the position showing it 200 ms later: the exit reads the long and closes it.
    h.fake
        .set_position_lag(std::time::Duration::from_millis(200));
    h.fake.set_fill_delay(std::time::Duration::ZERO);
    assert_eq!(h.executor.execute(&exit).await.unwrap(), Outcome::Filled);
    assert_eq!((h.fake.liquidations(), h.fake.net("ESZ6")), (1, 0));
}

/// A liquidation not seen to end holds its contract in the process while it reads as working,
/// however long; one whose reads have all failed for a day is forgotten, so that one gone
/// from the lists does not stop the contract for the process's life.
#[tokio::test]
async fn a_pending_liquidation_holds_while_working_and_is_forgotten_a_day_unreadable() {
    let h = harness().await;
    h.fake.set_net("ESZ6", 3);
    h.fake.liquidation_takes(None);
    h.clock.advance(Duration::seconds(27));
    let i = intent(Action::ShortEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    // Two seconds of its budget left, at `later` from the start.
    let flatten = |n: u32, later: Duration| {
        let at = h.clock.now() + later - Duration::seconds(28);
        shared::message::OrderIntent {
            signal_time: at,
            received_at: at,
            enqueued_at: at,
            routed_at: at,
            ..intent(Action::Flatten, n)
        }
    };
    let err = h
        .executor
        .execute(&flatten(2, Duration::zero()))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("still Working"), "{err}");
    h.clock.advance(Duration::hours(25));
    h.fake.set_now(h.clock.now());
    let err = h
        .executor
        .execute(&flatten(3, Duration::zero()))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("still Working"), "a day on, still held: {err}");
    assert_eq!(h.fake.liquidations(), 1, "nothing sent while held");
    // Unreadable now: still held (it read working a moment ago).
    h.fake.fail_reads("/order/item", 2);
    let err = h
        .executor
        .execute(&flatten(4, Duration::zero()))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("could not be read"), "{err}");
    // Unreadable for a day since: forgotten, and the flatten goes out.
    h.clock.advance(Duration::hours(25));
    h.fake.set_now(h.clock.now());
    h.fake.fail_reads("/order/item", 2);
    assert_eq!(
        h.executor
            .execute(&flatten(5, Duration::zero()))
            .await
            .unwrap(),
        Outcome::Unknown
    );
    assert_eq!(h.fake.liquidations(), 2, "the contract is no longer held");
}

/// A liquidation answered with a server error after it was created, not listed yet when
/// looked up, while something else flattened the position: the flat position is no proof
/// the liquidation is done, so the reversal's open is never sent.
#[tokio::test]
async fn a_reversal_never_opens_on_a_flat_position_while_its_liquidation_is_not_listed() {
    let h = harness().await;
    h.fake.set_net("ESZ6", 2);
    h.fake.liquidation_takes(None);
    h.fake
        .set_visibility_delay(std::time::Duration::from_secs(3));
    h.fake.script(Fault::ErrorAfterCreate);
    let fake = h.fake.clone();
    let outside = tokio::spawn(async move {
        while fake.liquidations() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        fake.set_net("ESZ6", 0);
    });
    let i = intent(Action::ShortEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    outside.await.unwrap();
    assert_eq!(h.fake.orders().len(), 0, "no open");
    let why = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(why.contains("no liquidation of ours is listed"), "{why}");
}

#[tokio::test]
async fn a_liquidation_slower_than_five_seconds_still_completes_the_reversal() {
    let h = harness().await;
    h.fake.set_net("ESZ6", 1);
    h.fake
        .set_fill_delay(std::time::Duration::from_millis(5_500));
    h.fake.liquidation_takes(Some(0));
    let i = intent(Action::ShortEntry, 1);
    let out = h.executor.execute(&i).await.unwrap();
    assert_eq!(out, Outcome::Filled);
    assert_eq!(h.fake.net("ESZ6"), -1);
    assert_eq!((h.fake.liquidations(), h.fake.orders().len()), (1, 1));
}

#[tokio::test]
async fn a_5xx_after_the_order_was_created_with_a_late_fill_is_found_by_its_command_one_order() {
    let h = harness().await;
    // Listed a little late, filled later still: both inside the venue's settle time.
    h.fake
        .set_visibility_delay(std::time::Duration::from_millis(150));
    h.fake.script(Fault::ErrorAfterCreate);
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    let coid = format!("tv-{}-o", &i.signal_id.as_str()[..24]);
    assert_eq!(h.fake.placements_for(&coid), 1, "never sent twice");
    assert_eq!(h.fake.net("ESZ6"), 1);
    assert_eq!(h.fake.violations(), Vec::<String>::new());
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs.len(), 1);
    assert_eq!(
        legs[0].broker_order_id.as_deref(),
        Some(h.fake.orders()[0].id.to_string().as_str())
    );
    assert_eq!(
        legs[0].fill_price.map(|p| p.to_string()),
        Some("6012.25".into())
    );
}

/// A spread order someone else placed (its `contractId` null, a `spreadDefinitionId` instead:
/// the OpenAPI `Order` schema allows both) in the account's order list while a liquidation
/// answered 5xx after it was created: the lookup reads the list past it, finds the
/// liquidation filled and the reversal completes. The one entry made the whole list
/// unreadable, and every such lookup ended `unknown`.
#[tokio::test]
async fn a_spread_order_in_the_account_list_does_not_blind_a_liquidations_lookup() {
    let h = harness().await;
    h.fake.set_net("ESZ6", 1);
    h.fake.list_a_spread_order(true);
    h.fake.script(Fault::ErrorAfterCreate);
    let i = intent(Action::ShortEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.net("ESZ6"), -1);
    assert_eq!((h.fake.liquidations(), h.fake.orders().len()), (1, 1));
}

/// A 429 that carries a `Retry-After` of one second (Tradovate documents none, and asks for
/// about an hour without requests): the order is not sent again after that second, nor
/// looked up during the hour; the leg ends `unknown`. It was waited out and sent again.
#[tokio::test]
async fn a_retry_after_on_a_429_is_not_leave_to_send_the_order_again() {
    let h = harness().await;
    h.fake.script(Fault::TooManyRetryAfter(1));
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.orders().len(), 0);
    assert_eq!(
        h.fake.rate_limited_answers(),
        0,
        "nothing asked during the stop"
    );
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.attempt, l.outcome))
            .collect::<Vec<_>>(),
        [(1, Outcome::Unknown)],
        "{legs:?}"
    );
}

/// A penalty ticket on a read (a GET, which has no body to carry the ticket) is not sent
/// again without it: the documented resend is the same request with the ticket added. The
/// read is given up as a rate limit; before any order, nothing is sent and the message comes
/// back. It was waited out and read again, ticketless.
#[tokio::test]
async fn a_penalty_on_a_read_is_not_resent_without_its_ticket() {
    let h = harness().await;
    h.fake.penalize_position_reads(1);
    let i = intent(Action::LongEntry, 1);
    assert!(
        h.executor.execute(&i).await.is_err(),
        "nothing sent, retried"
    );
    assert_eq!(
        h.fake.position_reads(),
        1,
        "not read again without the ticket"
    );
    assert_eq!(h.fake.orders().len(), 0);
}

/// A `failureReason` that does not refuse the request as it stands (the execution provider
/// unavailable: Tradovate lists the value without saying what it leaves behind) is looked
/// up, never sent again, and ends `unknown` when nothing is found, alarmed; a refusal of the
/// request itself (a position limit) ends `rejected`. It was journaled `rejected` on a guess.
#[tokio::test]
async fn a_failure_reason_that_may_leave_an_order_is_looked_up_not_taken_as_rejected() {
    let h = harness().await;
    h.fake.script(Fault::Refuse("ExecutionProviderUnavailable"));
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.orders().len(), 0, "never sent again");
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.attempt, l.outcome))
            .collect::<Vec<_>>(),
        [(1, Outcome::Unknown)]
    );
    h.fake.script(Fault::Refuse("MaxPosLimitReached"));
    let j = intent(Action::LongEntry, 2);
    assert_eq!(h.executor.execute(&j).await.unwrap(), Outcome::Rejected);
}

/// A liquidation refused (the session closed for the daily halt) or accepted then rejected
/// says the request may have cancelled the contract's working orders: Tradovate documents
/// `liquidatePosition` as a request to cancel the contract's orders and close the position,
/// not whether the cancels happen when the close is refused; the trader's stops may be gone
/// while the position stays. An open refused says nothing of the sort.
#[tokio::test]
async fn a_liquidation_ended_without_a_fill_says_working_orders_may_be_cancelled() {
    let said = executor_tradovate::venue::LIQUIDATION_CANCELS;
    // Refused; accepted then rejected; accepted, its answer lost, then found rejected.
    for case in 0..3 {
        let h = harness().await;
        h.fake.set_net("ESZ6", 1);
        match case {
            0 => h.fake.script(Fault::Refuse("SessionClosed")),
            _ => {
                if case == 2 {
                    h.fake.script(Fault::ErrorAfterCreate);
                }
                h.fake
                    .reject_next_after_acceptance("SessionClosed", "Session is closed");
            }
        }
        let i = intent(Action::LongExit, 1);
        assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
        let legs = h.journal.orders(&i.signal_id).await.unwrap();
        let why = legs[0].error.as_deref().unwrap_or_default();
        assert!(why.contains(said), "{why}");
        assert_eq!(h.fake.net("ESZ6"), 1);
    }
    let h = harness().await;
    h.fake.script(Fault::Refuse("SessionClosed"));
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    let why = legs[0].error.as_deref().unwrap_or_default();
    assert!(!why.contains(said), "{why}");
}

/// The same failure reason with an order left behind (placed, answered without its id): the
/// lookup by `clOrdId` finds it and follows it to its fill, one placement, the account long.
#[tokio::test]
async fn a_failure_reason_that_left_an_order_is_found_and_followed_to_its_fill() {
    let h = harness().await;
    h.fake
        .script(Fault::FailureAfterCreate("ExecutionProviderUnavailable"));
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.orders().len(), 1, "placed once");
    assert_eq!(h.fake.net("ESZ6"), 1);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.attempt, l.outcome))
            .collect::<Vec<_>>(),
        [(1, Outcome::Filled)]
    );
}

/// Three penalty tickets in a row: the first two are waited out and the order sent again with
/// each ticket, as Tradovate documents; the third is not waited out (no resend would follow)
/// and the order is never sent again without its ticket. It was sent once more, ticketless,
/// after the settle time.
#[tokio::test]
async fn a_third_penalty_in_a_row_ends_the_leg_and_nothing_is_sent_without_its_ticket() {
    let h = harness().await;
    for _ in 0..3 {
        h.fake.script(Fault::Penalty(1));
    }
    let i = intent(Action::ShortEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::NotExecuted);
    assert_eq!(h.fake.orders().len(), 0);
    assert_eq!(h.fake.violations(), Vec::<String>::new());
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.attempt, l.outcome))
            .collect::<Vec<_>>(),
        [(1, Outcome::NotExecuted)],
        "{legs:?}"
    );
    let error = legs[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("penalty: wait 1 s"), "{error}");
}

/// Tradovate's 429 asks for about an hour without requests and does not say whether the
/// command was carried out. The order is neither sent again nor looked up during the stop
/// (every read would be refused and lengthen it): the leg ends `unknown`, alarmed, for a
/// replay after the hour. It was looked up after the settle time, and found "not placed"
/// only because the fake served that read. The next signal reads nothing either: its first
/// read is refused, nothing is sent, and its message comes back.
#[tokio::test]
async fn a_429_on_the_order_ends_unknown_without_a_read_during_the_stop() {
    let h = harness().await;
    h.fake.script(Fault::TooMany(3600));
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.orders().len(), 0);
    assert_eq!(
        h.fake.rate_limited_answers(),
        0,
        "nothing asked during the stop"
    );
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.attempt, l.outcome))
            .collect::<Vec<_>>(),
        [(1, Outcome::Unknown)]
    );
    let why = legs[0].error.as_deref().unwrap_or_default();
    assert!(
        why.contains("429") && why.contains("not looked up"),
        "{why}"
    );
    assert!(
        h.executor
            .execute(&intent(Action::LongEntry, 2))
            .await
            .is_err(),
        "the next signal's read is refused: nothing sent, retried"
    );
    assert_eq!(h.fake.orders().len(), 0);
    assert_eq!(
        h.fake.rate_limited_answers(),
        0,
        "the next signal's read not even sent during the stop"
    );
    use executor_tradovate::error::TvError;
    use executor_tradovate::token::TOKEN_NAME;
    use shared::ports::TokenStore;
    use std::sync::Arc;
    // The stop is stored beside the token, so another process that loads it (another
    // container, the refresher) holds off too: its read is not sent (the fake counts no
    // answer 429 to it).
    let stored = h.token_store.load(TOKEN_NAME).await.unwrap().unwrap();
    let until = stored.stopped_until.expect("the stop is stored");
    let left = until - h.clock.now();
    assert!(
        left > Duration::minutes(59) && left <= Duration::minutes(60),
        "{left}"
    );
    let other = support::tokens(
        &h.fake,
        h.token_store.clone(),
        Arc::new(shared::memory::MemoryLeaseLock::default()),
        h.clock.clone(),
        "executor-2",
    );
    let token = other.token().await.unwrap();
    let read = other.client().accounts(&token).await;
    assert!(matches!(read, Err(TvError::RateLimited)), "{read:?}");
    assert_eq!(h.fake.rate_limited_answers(), 0);
}

#[tokio::test]
async fn a_fractional_size_is_refused_before_any_order() {
    let h = harness().await;
    h.fake.set_net("ESZ6", -1);
    let mut i = intent(Action::LongEntry, 1);
    i.quantity_override = Some(rust_decimal::Decimal::new(15, 1));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Refused);
    assert_eq!((h.fake.orders().len(), h.fake.liquidations()), (0, 0));
    assert_eq!(h.fake.net("ESZ6"), -1, "the short untouched");
}

#[tokio::test]
async fn a_takeover_waits_for_an_earlier_liquidation_and_never_liquidates_twice() {
    let mut h = harness().await;
    h.executor.settings.max_age = Duration::seconds(3);
    h.fake.set_net("ESZ6", 2);
    let mut i = intent(Action::ShortEntry, 1);
    i.replay_forced = true;
    // An earlier attempt claimed the signal, liquidated, and crashed.
    let key = IdempotencyKey {
        broker: Broker::Tradovate,
        account: support::fake_tradovate::ACCOUNT_ID.to_string().into(),
        signal_id: i.signal_id.clone(),
        signal_time: i.signal_time,
    };
    let now = h.clock.now();
    h.executor
        .store
        .claim(&key, now, now + Duration::seconds(60))
        .await
        .unwrap();
    h.clock.advance(Duration::seconds(61));
    // Still open throughout: unknown, nothing sent.
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!((h.fake.liquidations(), h.fake.orders().len()), (0, 0));

    // Another crashed attempt; this time its liquidation lands while the takeover waits.
    let mut j = intent(Action::ShortEntry, 2);
    j.replay_forced = true;
    let key = IdempotencyKey {
        signal_id: j.signal_id.clone(),
        signal_time: j.signal_time,
        ..key
    };
    let now = h.clock.now();
    h.executor
        .store
        .claim(&key, now, now + Duration::seconds(60))
        .await
        .unwrap();
    h.clock.advance(Duration::seconds(61));
    let fake = h.fake.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        fake.set_net("ESZ6", 0);
    });
    assert_eq!(h.executor.execute(&j).await.unwrap(), Outcome::Filled);
    assert_eq!((h.fake.liquidations(), h.fake.orders().len()), (0, 1));
    assert_eq!(h.fake.net("ESZ6"), -1);

    // Once more, and while the takeover waits the trader reverses by hand (sells 3: short 1).
    // The open was planned from long 2 and no short: sent, it would end short 2 for a target
    // of short 1, journaled filled. Not sent: rejected and alarmed, the hand short untouched.
    h.fake.set_net("ESZ6", 2);
    let mut k = intent(Action::ShortEntry, 3);
    k.replay_forced = true;
    let key = IdempotencyKey {
        signal_id: k.signal_id.clone(),
        signal_time: k.signal_time,
        ..key
    };
    let now = h.clock.now();
    h.executor
        .store
        .claim(&key, now, now + Duration::seconds(60))
        .await
        .unwrap();
    h.clock.advance(Duration::seconds(61));
    // Once the takeover is waiting for the long to close: past its holdings read and the
    // lookups of the earlier attempt's legs (a hand trade before those is the venue's own
    // stop, an open position no order of ours explains), its polls of the position.
    let fake = h.fake.clone();
    let reads = h.fake.position_reads();
    tokio::spawn(async move {
        while fake.position_reads() < reads + 6 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        fake.set_net("ESZ6", -1);
    });
    let alarms = h.executor.notifier.sent().len();
    assert_eq!(h.executor.execute(&k).await.unwrap(), Outcome::Rejected);
    assert_eq!((h.fake.liquidations(), h.fake.orders().len()), (0, 1));
    assert_eq!(h.fake.net("ESZ6"), -1);
    let why = test_kit::executor::journaled_reason(&h.journal, &k.signal_id).await;
    assert!(
        why.contains(executor_runtime::drive::CHANGED_OUTSIDE_STOP)
            && why.contains("an earlier attempt's close landed")
            && why.contains("short 0 when planned, short 1 now"),
        "{why}"
    );
    assert_eq!(h.executor.notifier.sent().len(), alarms + 1, "alarmed");
}

/// Gives the executor a dead-letter queue, as deployed: an unknown outcome keeps its lease
/// and goes there, and a replay of it is a takeover.
fn dead_letters(
    h: &mut support::Harness,
) -> std::sync::Arc<test_kit::fifo::MemoryFifoQueue<shared::clock::ManualClock>> {
    let dlq = std::sync::Arc::new(test_kit::fifo::MemoryFifoQueue::new(
        "tradovate-dlq",
        h.clock.clone(),
    ));
    h.executor.dead_letters = Some(dlq.clone());
    dlq
}

/// An earlier attempt places the open of `i` and crashes before it fills: its future is
/// dropped once the fake has the order, leaving the claim in progress; the clock then passes
/// the claim's lease.
async fn crash_after_the_open_is_placed(h: &support::Harness, i: &shared::message::OrderIntent) {
    {
        let first = h.executor.execute(i);
        tokio::pin!(first);
        until_placed(h, first).await;
    }
    h.clock.advance(Duration::seconds(61));
}

/// The same, and the position then shows the open's fill (the fake's fill delay).
async fn crash_after_the_open_fills(h: &support::Harness, i: &shared::message::OrderIntent) {
    crash_after_the_open_is_placed(h, i).await;
    while h.fake.net("ESZ6") == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Runs `execution` until the fake has an order; panics if it ends before placing one.
async fn until_placed<F: std::future::Future<Output = R>, R: std::fmt::Debug>(
    h: &support::Harness,
    execution: std::pin::Pin<&mut F>,
) {
    let placed = async {
        while h.fake.orders().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        r = execution => panic!("the execution ended before placing: {r:?}"),
        () = placed => {}
    }
}

/// The same, when no command lists the open yet (Tradovate documents no time within which
/// one is listed) while the account's orders show it: the takeover reads the orders and the
/// position as a lookup does, and places no second open.
#[tokio::test]
async fn a_takeover_whose_open_has_no_command_listed_yet_never_places_a_second() {
    let mut h = harness().await;
    h.executor.settings.max_age = Duration::seconds(3);
    h.fake.set_fill_delay(std::time::Duration::from_secs(3600));
    h.fake
        .set_command_delay(std::time::Duration::from_secs(3600));
    let mut i = intent(Action::LongEntry, 1);
    i.replay_forced = true;
    crash_after_the_open_is_placed(&h, &i).await;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.orders().len(), 1, "never a second open");
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.leg, l.outcome, l.broker_order_id.is_some()))
            .collect::<Vec<_>>(),
        [(Leg::Open, Outcome::Unknown, true)]
    );
    let why = legs[0].error.as_deref().unwrap_or_default();
    assert!(why.contains("still working"), "{why}");
}

/// Tradovate stops handling requests after a 429: while an open is followed to its fill, a
/// 429 ends the following at once (the leg `unknown`, the order left as is), where polling on
/// every interval until the budget ran out would lengthen the ban.
#[tokio::test]
async fn a_429_while_following_an_order_stops_the_reads() {
    let h = following_stopped_by(|fake| {
        fake.rate_limit_for(std::time::Duration::from_secs(3600));
    })
    .await;
    assert!(
        h.fake.rate_limited_answers() <= 2,
        "{} requests answered 429",
        h.fake.rate_limited_answers()
    );
}

/// An open that rests (20 s budget) followed until `stop` scripts the fake once it is placed:
/// the following must end at once, `unknown`, one order, well before the budget.
async fn following_stopped_by(
    stop: impl FnOnce(&support::fake_tradovate::FakeTradovate),
) -> support::Harness {
    let mut h = harness().await;
    h.executor.settings.max_age = Duration::seconds(20);
    h.fake.set_fill_delay(std::time::Duration::from_secs(3600));
    let i = intent(Action::LongEntry, 1);
    {
        let run = h.executor.execute(&i);
        tokio::pin!(run);
        until_placed(&h, run.as_mut()).await;
        stop(&h.fake);
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(10), run)
            .await
            .expect("the following stops at once, well before the 20 s budget");
        assert_eq!(outcome.unwrap(), Outcome::Unknown);
    }
    assert_eq!(h.fake.orders().len(), 1);
    h
}

/// A takeover that finds the earlier attempt's open still working (a market order resting
/// in a locked market) places no second one: the position does not show it yet.
#[tokio::test]
async fn a_takeover_finds_a_working_open_by_its_command_and_never_places_a_second() {
    let mut h = harness().await;
    h.executor.settings.max_age = Duration::seconds(3);
    h.fake.set_fill_delay(std::time::Duration::from_secs(3600));
    let mut i = intent(Action::LongEntry, 1);
    i.replay_forced = true;
    crash_after_the_open_is_placed(&h, &i).await;
    assert_eq!(h.fake.net("ESZ6"), 0, "the open rests");
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    let coid = format!("tv-{}-o", &i.signal_id.as_str()[..24]);
    assert_eq!(h.fake.placements_for(&coid), 1, "never a second open");
    assert_eq!(h.fake.orders().len(), 1);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.leg, l.outcome, l.broker_order_id.is_some()))
            .collect::<Vec<_>>(),
        [(Leg::Open, Outcome::Unknown, true)]
    );
    assert!(
        legs[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("still working"),
        "{:?}",
        legs[0].error
    );
}

/// The usual takeover comes after the staleness budget (the lease outlives it): it may send
/// nothing, and a working open it finds is the signal's outcome, an alarm, never a no-op.
#[tokio::test]
async fn a_stale_takeover_that_finds_a_working_open_ends_unknown() {
    let mut h = harness().await;
    h.executor.settings.max_age = Duration::seconds(3);
    h.fake.set_fill_delay(std::time::Duration::from_secs(3600));
    let i = intent(Action::LongEntry, 1);
    crash_after_the_open_is_placed(&h, &i).await;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.orders().len(), 1);
    // The open it found holds the contract: the next signal sends nothing while it works (it
    // held nothing, and an exit read flat and journaled `no_op`).
    let exit = shared::message::OrderIntent {
        signal_time: h.clock.now(),
        received_at: h.clock.now(),
        enqueued_at: h.clock.now(),
        routed_at: h.clock.now(),
        ..intent(Action::LongExit, 2)
    };
    let err = h.executor.execute(&exit).await.unwrap_err().to_string();
    assert!(
        err.contains("open order") && err.contains("still Working"),
        "{err}"
    );
    assert_eq!(h.fake.liquidations(), 0);
    let signal = h.journal.signal(&i.signal_id).await.unwrap().unwrap();
    assert_eq!(signal.status, SignalStatus::Unknown);
    assert!(
        signal
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("still working"),
        "{:?}",
        signal.reason
    );
}

/// A takeover that finds the order of the open's second send keeps it on that send's row:
/// one order, where the first send (a 500 that created nothing) stays `unknown` on its own
/// row. The second send is an operator's forced replay of the dead letter, which drives the
/// account to the target (README: a forced replay re-applies the signal).
#[tokio::test]
async fn a_recovered_open_keeps_the_attempt_it_was_journaled_under() {
    let mut h = harness().await;
    let dlq = dead_letters(&mut h);
    h.executor.settings.max_age = Duration::seconds(3);
    h.fake.script(Fault::ErrorBeforeCreate);
    h.fake.set_fill_delay(std::time::Duration::from_secs(3600));
    let mut i = intent(Action::LongEntry, 1);
    i.replay_forced = true;
    // The first send created nothing and is never sent again: unknown, dead-lettered.
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    let rows = |legs: Vec<shared::execution::OrderRecord>| {
        legs.iter()
            .map(|l| (l.attempt, l.outcome, l.broker_order_id.is_some()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rows(h.journal.orders(&i.signal_id).await.unwrap()),
        [(1, Outcome::Unknown, false)]
    );
    assert_eq!(h.fake.orders().len(), 0);
    // The operator replays it (forced) once the lease has run out: the takeover finds no
    // order, sends the open as a second attempt, which rests past the budget.
    let replay_of = |n: usize| {
        let letters = dlq.messages();
        assert_eq!(letters.len(), n, "{letters:?}");
        let mut replay: shared::message::OrderIntent =
            serde_json::from_str(&letters[n - 1].body).unwrap();
        replay.replay_forced = true;
        replay
    };
    h.clock.advance(Duration::seconds(61));
    assert_eq!(
        h.executor.execute(&replay_of(1)).await.unwrap(),
        Outcome::Unknown
    );
    assert_eq!(
        rows(h.journal.orders(&i.signal_id).await.unwrap()),
        [(1, Outcome::Unknown, false), (2, Outcome::Unknown, true)]
    );
    // It fills; the operator replays the second dead letter.
    h.fake.set_fill_delay(std::time::Duration::ZERO);
    h.clock.advance(Duration::seconds(61));
    assert_eq!(
        h.executor.execute(&replay_of(2)).await.unwrap(),
        Outcome::Filled
    );
    assert_eq!(h.fake.orders().len(), 1);
    assert_eq!(
        rows(h.journal.orders(&i.signal_id).await.unwrap()),
        [(1, Outcome::Unknown, false), (2, Outcome::Filled, true)]
    );
}

/// A stale takeover asks no size: the open's row keeps the size journaled when it was sent.
#[tokio::test]
async fn a_stale_takeover_keeps_the_journaled_size_of_a_working_open() {
    let mut h = harness().await;
    let dlq = dead_letters(&mut h);
    h.executor.settings.max_age = Duration::seconds(3);
    h.fake.set_fill_delay(std::time::Duration::from_secs(3600));
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(dlq.messages().len(), 1, "dead-lettered, its lease kept");
    let rows = |legs: Vec<shared::execution::OrderRecord>| {
        legs.iter()
            .map(|l| (l.attempt, l.outcome, l.quantity.to_string()))
            .collect::<Vec<_>>()
    };
    let sent = rows(h.journal.orders(&i.signal_id).await.unwrap());
    assert_eq!(sent, [(1, Outcome::Unknown, "1".to_owned())]);
    h.clock.advance(Duration::seconds(61));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(rows(h.journal.orders(&i.signal_id).await.unwrap()), sent);
    assert_eq!(h.fake.orders().len(), 1);
}

/// The earlier attempt's open filled before the crash: the takeover journals it with its
/// fill, where the position alone read as nothing to do.
#[tokio::test]
async fn a_takeover_journals_the_earlier_attempts_filled_open() {
    let mut h = harness().await;
    h.executor.settings.max_age = Duration::seconds(3);
    let mut i = intent(Action::ShortEntry, 1);
    i.replay_forced = true;
    crash_after_the_open_fills(&h, &i).await;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.orders().len(), 1, "nothing placed again");
    assert_eq!(h.fake.net("ESZ6"), -1);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (
                l.leg,
                l.side,
                l.quantity.to_string(),
                l.fill_price.is_some(),
                l.outcome
            ))
            .collect::<Vec<_>>(),
        [(
            Leg::Open,
            shared::execution::Side::Sell,
            "1".to_owned(),
            true,
            Outcome::Filled
        )]
    );
}

/// No document says a placement's `clOrdId` is copied onto its `New` command (the `Command`
/// schema makes the field optional). With the fake leaving it out, a takeover finds the
/// earlier attempt's open only among the account's orders, whose command names no
/// `clOrdId`: it is taken as possibly the open, never passed over for another's, so the
/// signal ends `unknown` with one order (it placed a second one, planned from the flat
/// position). Filled, it is journaled as the open by the process that placed it; another
/// process ends `unknown`, not journaling it: with no send time of its own the search
/// reaches back to the alert, where another signal's liquidation of the same side and size
/// would look the same (see `a_replay_never_takes_a_later_signals_liquidation_for_its_open`).
#[tokio::test]
async fn a_takeover_whose_open_command_names_no_cl_ord_id_never_places_a_second() {
    let mut h = harness().await;
    h.executor.settings.max_age = Duration::seconds(3);
    h.fake.commands_without_cl_ord_id(true);
    h.fake.set_fill_delay(std::time::Duration::from_secs(3600));
    let mut i = intent(Action::LongEntry, 1);
    i.replay_forced = true;
    crash_after_the_open_is_placed(&h, &i).await;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.orders().len(), 1, "never a second open");
    assert_eq!(h.fake.net("ESZ6"), 0);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    let why = legs[0].error.as_deref().unwrap_or_default();
    assert!(why.contains("still working"), "{why}");
    assert_eq!(h.fake.violations(), Vec::<String>::new());

    let mut h = harness().await;
    h.executor.settings.max_age = Duration::seconds(3);
    h.fake.commands_without_cl_ord_id(true);
    let mut i = intent(Action::ShortEntry, 1);
    // The attempt runs to its fill and fails its journal write: stopped at the placement
    // instead, it could be stopped before it read the placement's answer, and then knew
    // nothing of the order (as another process), which a busy machine made happen. Within
    // its budget, unforced: a forced message first reads the journal (the accounts its
    // orders went to), and with the journal down sends nothing.
    h.journal.set_down(true);
    assert!(h.executor.execute(&i).await.is_err());
    h.journal.set_down(false);
    i.replay_forced = true;
    assert_eq!(h.fake.net("ESZ6"), -1);
    h.clock.advance(Duration::seconds(61));
    // The process that placed it takes over: it knows the order as this open's.
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.orders().len(), 1, "nothing placed again");
    assert_eq!(h.fake.net("ESZ6"), -1);

    // Another process (a new Lambda container) cannot tell it from another signal's
    // liquidation: unknown, nothing placed.
    let mut h = harness().await;
    h.executor.settings.max_age = Duration::seconds(3);
    h.fake.commands_without_cl_ord_id(true);
    let mut i = intent(Action::ShortEntry, 1);
    i.replay_forced = true;
    crash_after_the_open_fills(&h, &i).await;
    let fresh = support::harness_on(
        h.fake.clone(),
        support::fake_tradovate::ACCOUNT_ID,
        support::fake_tradovate::ACCOUNT_NAME,
    )
    .await;
    fresh.clock.advance(h.clock.now() - fresh.clock.now());
    h.executor.venue = fresh.executor.venue;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.orders().len(), 1, "nothing placed again");
    let why = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(why.contains("no command names it this open's"), "{why}");
}

/// An order found among the account's orders with no command naming its `clOrdId` (the fake
/// leaves it out, as the `Command` schema allows) is journaled as the open only when it
/// filled the size asked: filled in part, it cannot be told from a smaller order on the same
/// side (an earlier liquidation), so the leg ends `unknown`, never placed again. At the size
/// asked it is the open, one order, filled.
#[tokio::test]
async fn an_order_found_without_its_cl_ord_id_is_the_open_only_at_the_size_asked() {
    let h = harness().await;
    h.fake.commands_without_cl_ord_id(true);
    h.fake.script(Fault::ErrorAfterCreate);
    h.fake.fill_next_in_part(1);
    let i = entry_of_three();
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.orders().len(), 1, "never placed again");
    assert_eq!(h.fake.net("ESZ6"), 1);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    let why = legs[0].error.as_deref().unwrap_or_default();
    assert!(why.contains("it may not be this open"), "{why}");

    let h = harness().await;
    h.fake.commands_without_cl_ord_id(true);
    h.fake.script(Fault::ErrorAfterCreate);
    let i = entry_of_three();
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.orders().len(), 1);
    assert_eq!(h.fake.net("ESZ6"), 3);
}

/// A takeover that finds the earlier attempt's open filled in part (1 of 3, the rest
/// cancelled) journals what filled and stops the signal there, alarmed, as a send's own fill
/// in part does. It was journaled filled in full, with no word of the 2 contracts missing.
#[tokio::test]
async fn a_takeover_that_finds_an_open_filled_in_part_says_so() {
    let mut h = harness().await;
    h.executor.settings.max_age = Duration::seconds(3);
    h.fake.fill_next_in_part(1);
    let mut i = entry_of_three();
    i.replay_forced = true;
    crash_after_the_open_fills(&h, &i).await;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.orders().len(), 1, "nothing placed again");
    assert_eq!(h.fake.net("ESZ6"), 1);
    filled_one_in_part(&h, &i, Leg::Open).await;
}

/// The same takeover past the staleness budget (the usual one in AWS: a lease of 90 s outlives
/// the 30 s budget), which sends nothing and does not size the signal again: the open's size
/// is not known there, and an order that ended `Canceled` after filling 1 contract was read
/// as whole against a size of zero, journaled filled with no alarm. Now filled in part.
#[tokio::test]
async fn a_takeover_past_the_budget_that_finds_an_open_filled_in_part_says_so() {
    let mut h = harness().await;
    h.executor.settings.max_age = Duration::seconds(3);
    h.fake.fill_next_in_part(1);
    let i = entry_of_three();
    crash_after_the_open_fills(&h, &i).await;
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.orders().len(), 1, "nothing placed again");
    assert_eq!(h.fake.net("ESZ6"), 1);
    filled_one_in_part(&h, &i, Leg::Open).await;
}

/// Tradovate's 423 "precedes a 429", and its rate-limits page asks a client that gets one to
/// stop all calls for the hour: a 423 while an open is followed ends the following at once
/// (the leg `unknown`, the order left as is), and the next signal sends nothing, not even a
/// position read. Polling on would have met the 429 and its hour-long lockout.
#[tokio::test]
async fn a_423_stops_every_request_as_a_429_does() {
    let h = following_stopped_by(|fake| fake.warn_locked(1)).await;
    assert_eq!(h.fake.rate_limited_answers(), 1);
    let reads = h.fake.position_reads();
    let next = intent(Action::ShortEntry, 2);
    assert!(
        h.executor.execute(&next).await.is_err(),
        "the next signal is refused within the stop: nothing sent, its message retried"
    );
    assert_eq!(
        h.fake.position_reads(),
        reads,
        "nothing read within the stop"
    );
    assert_eq!(h.fake.orders().len(), 1);
    assert_eq!(h.fake.liquidations(), 0);
    // Stored beside the token, as a 429's, for the other processes.
    use executor_tradovate::token::TOKEN_NAME;
    use shared::ports::TokenStore;
    let stored = h.token_store.load(TOKEN_NAME).await.unwrap().unwrap();
    let until = stored.stopped_until.expect("the stop is stored");
    assert!(until - h.clock.now() > Duration::minutes(59), "{until}");
}

/// `ES1!` as the router resolves it at `at`, signalled then.
fn continuous(
    action: Action,
    at: chrono::DateTime<chrono::Utc>,
    n: u32,
) -> shared::message::OrderIntent {
    let route = shared::RoutingTable::embedded()
        .route("CME_MINI", "ES1!", at)
        .unwrap();
    let mut i = intent(action, n);
    i.instrument = route.instrument;
    i.contract = route.resolution;
    i.signal_time = at;
    i.received_at = at;
    i
}

#[tokio::test]
async fn across_a_roll_the_earlier_contract_is_closed_as_its_own_leg_before_the_new_one() {
    let h = harness().await;
    let before = h.clock.now();
    let long = continuous(Action::LongEntry, before, 1);
    assert_eq!(long.instrument.as_str(), "ESZ6");
    assert_eq!(h.executor.execute(&long).await.unwrap(), Outcome::Filled);
    assert_eq!(h.fake.net("ESZ6"), 1);

    // Three weeks later ES1! has rolled (2026-12-12) to March.
    h.fake.add_contract("ESH7", 3_580_000);
    h.clock.advance(Duration::days(21));
    h.fake.set_now(h.clock.now());
    let short = continuous(Action::ShortEntry, h.clock.now(), 2);
    assert_eq!(short.instrument.as_str(), "ESH7");
    assert_eq!(h.executor.execute(&short).await.unwrap(), Outcome::Filled);
    assert_eq!(
        (h.fake.net("ESZ6"), h.fake.net("ESH7")),
        (0, -1),
        "net ES exposure is the signal's target, no calendar spread"
    );
    let legs = h.journal.orders(&short.signal_id).await.unwrap();
    assert_eq!(
        legs.iter()
            .map(|l| (l.leg, l.instrument.as_str(), l.outcome))
            .collect::<Vec<_>>(),
        [
            (Leg::CloseRolled, "ESZ6", Outcome::Filled),
            (Leg::Open, "ESH7", Outcome::Filled),
        ]
    );
    assert_ne!(legs[0].client_order_id, legs[1].client_order_id);

    // FLATTEN ES1! leaves nothing in either contract.
    let flat = continuous(Action::Flatten, h.clock.now() + Duration::seconds(1), 3);
    assert_eq!(h.executor.execute(&flat).await.unwrap(), Outcome::Filled);
    assert_eq!((h.fake.net("ESZ6"), h.fake.net("ESH7")), (0, 0));
}

/// A FLATTEN across a roll of a calendar spread (long the earlier contract, short the new
/// one): the earlier contract's liquidation answered with a penalty ticket is not sent again
/// with the ticket when the wait would leave less than the close after it needs, whatever the
/// target (the margin was guessed from it, and a FLATTEN's roll close was sent again, leaving
/// the spread one-legged). Nothing is sent; both legs of the spread are kept.
#[tokio::test]
async fn a_penalised_roll_close_before_another_close_keeps_the_spread() {
    let h = harness().await;
    h.fake.add_contract("ESH7", 3_580_000);
    h.fake.set_net("ESZ6", 1);
    h.fake.set_net("ESH7", -1);
    h.clock.advance(Duration::days(21));
    h.fake.set_now(h.clock.now());
    h.fake.script(Fault::Penalty(1));
    // 1.2 s of the 30 s budget left: the 1 s wait fits it, not with the 305 ms after it.
    let flat = continuous(
        Action::Flatten,
        h.clock.now() - Duration::milliseconds(28_800),
        1,
    );
    assert_eq!(flat.instrument.as_str(), "ESH7");
    assert_eq!(
        h.executor.execute(&flat).await.unwrap(),
        Outcome::NotExecuted
    );
    assert_eq!(h.fake.liquidations(), 0, "no ticketed resend");
    assert_eq!(h.fake.order_commands(), 1, "the penalised roll close only");
    assert!(h.fake.violations().is_empty(), "{:?}", h.fake.violations());
    assert_eq!((h.fake.net("ESZ6"), h.fake.net("ESH7")), (1, -1));
}

/// An order Tradovate accepted (an `orderId`) that ends `Rejected` or `Expired` with no fill
/// (the documents list both among `ordStatus` values) ends the signal without a fill and
/// without a second placement: nothing held, the leg not filled, never `filled`.
#[tokio::test]
async fn an_accepted_order_that_ends_rejected_or_expired_is_not_filled_nor_placed_again() {
    for status in ["Rejected", "Expired"] {
        let h = harness().await;
        h.fake.end_next_unfilled(status);
        let i = intent(Action::LongEntry, 1);
        let outcome = h.executor.execute(&i).await.unwrap();
        assert_eq!(outcome, Outcome::Rejected, "{status}");
        let coid = format!("tv-{}-o", &i.signal_id.as_str()[..24]);
        assert_eq!(h.fake.placements_for(&coid), 1, "{status}: placed once");
        assert_eq!(h.fake.net("ESZ6"), 0, "{status}");
        let legs = h.journal.orders(&i.signal_id).await.unwrap();
        assert_eq!(legs.len(), 1, "{status}: {legs:?}");
        assert_eq!(legs[0].outcome, Outcome::Rejected, "{status}");
        let why = legs[0].error.as_deref().unwrap_or_default();
        assert!(why.contains(status), "{status}: {why}");
    }
}

/// An order Tradovate rejects after accepting it says why in its command's report (a session
/// closed for the daily halt, say): the leg's reason and the mail carry those words, where
/// they said only "Rejected", which a closed market and a risk check both read as.
#[tokio::test]
async fn an_order_rejected_after_acceptance_says_why_in_tradovates_words() {
    let h = harness().await;
    h.fake
        .reject_next_after_acceptance("SessionClosed", "Session is closed");
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    let coid = format!("tv-{}-o", &i.signal_id.as_str()[..24]);
    assert_eq!(h.fake.placements_for(&coid), 1, "placed once");
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    let why = legs[0].error.as_deref().unwrap_or_default();
    assert!(
        why.contains("Rejected: SessionClosed: Session is closed"),
        "{why}"
    );
    let mails = h.executor.notifier.sent();
    assert!(
        mails.iter().any(|m| m.message.contains("SessionClosed")),
        "{mails:?}"
    );
    // Read once, once the rejection is confirmed, not on every poll that read it.
    assert_eq!(h.fake.command_report_reads(), 1);
    // Without the reports (a failed read), the status alone, as before; and a rate limit
    // met reading them (Tradovate then asks for no requests for a while) does not make the
    // decided rejection unknown.
    for fault in [
        (|f: &broker_fakes::tradovate::FakeTradovate| f.fail_reads("/commandReport", 100))
            as fn(&broker_fakes::tradovate::FakeTradovate),
        |f| f.rate_limit_reads("/commandReport", 100),
    ] {
        let h = harness().await;
        h.fake
            .reject_next_after_acceptance("SessionClosed", "Session is closed");
        fault(&h.fake);
        assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
        let legs = h.journal.orders(&i.signal_id).await.unwrap();
        let why = legs[0].error.as_deref().unwrap_or_default();
        assert!(why.ends_with("Rejected"), "{why}");
    }
}

/// The words of a rejection are only words: a `commandReport/deps` that does not answer
/// (a slow server) holds the decided rejection no longer than the read's bounds (here the
/// client's 2 s request timeout, under the 3 s bound on the whole read), and a rejection
/// confirmed once the signal's deadline has passed is not read for them at all.
#[tokio::test]
async fn a_rejections_words_never_hold_the_signal() {
    let h = harness().await;
    h.fake
        .reject_next_after_acceptance("SessionClosed", "Session is closed");
    h.fake
        .set_command_report_delay(std::time::Duration::from_secs(120));
    let i = intent(Action::LongEntry, 1);
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(30), h.executor.execute(&i))
        .await
        .expect("the unanswered read was given up")
        .unwrap();
    assert_eq!(outcome, Outcome::Rejected);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    let why = legs[0].error.as_deref().unwrap_or_default();
    assert!(why.ends_with("Rejected"), "{why}");

    // Past the deadline (moved on once the order is placed): no read.
    let h = harness().await;
    h.fake
        .reject_next_after_acceptance("SessionClosed", "Session is closed");
    let i = intent(Action::LongEntry, 1);
    let (fake, clock) = (h.fake.clone(), h.clock.clone());
    let late = tokio::spawn(async move {
        while fake.orders().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        clock.advance(Duration::seconds(60));
    });
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Rejected);
    late.await.unwrap();
    assert_eq!(h.fake.command_report_reads(), 0);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs.len(), 1, "{legs:?}");
    assert!(
        legs[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .ends_with("Rejected"),
        "{legs:?}"
    );
}

/// An order read once as ended with nothing filled is taken as so only when it still reads
/// so a settle time later; reads that fail after that first one (here every `/order/item`)
/// must not hold the wait past its budget. The wait went on polling for as long as the reads
/// failed, past the budget, the lease and `max_wait`: no journal row, the instrument stuck.
#[tokio::test]
async fn an_order_read_ended_then_unreadable_ends_unknown_within_the_budget() {
    let h = harness().await;
    h.fake.end_next_unfilled("Rejected");
    let i = intent(Action::LongEntry, 1);
    // 3 s of the signal's 30 s are left; this clock does not move while it runs.
    h.clock.set(i.signal_time + Duration::seconds(27));
    // Once the order has read `Rejected` and the position was read for it, every later read
    // of the order fails.
    let fake = h.fake.clone();
    let outage = tokio::spawn(async move {
        loop {
            let ended = fake.orders().first().and_then(|o| fake.order_status(o.id));
            if ended.as_deref() == Some("Rejected") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let reads = fake.position_reads();
        while fake.position_reads() == reads {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        fake.fail_reads("/order/item", 1_000_000);
    });
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(20), h.executor.execute(&i))
        .await
        .expect("the wait ended within the budget")
        .unwrap();
    outage.await.unwrap();
    assert_eq!(outcome, Outcome::Unknown);
    assert_eq!(
        h.fake
            .placements_for(&format!("tv-{}-o", &i.signal_id.as_str()[..24])),
        1
    );
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs.len(), 1, "{legs:?}");
    let why = legs[0].error.as_deref().unwrap_or_default();
    assert!(why.contains("read as ended with nothing filled"), "{why}");
}

/// An order that reads `Filled` is filled, its fills listed or not: with `/fill/deps`
/// failing, a reversal's liquidation was followed until the budget ended and journaled
/// "not filled when the wait ended", the open never sent although the broker said it filled.
#[tokio::test]
async fn an_order_read_filled_whose_fills_cannot_be_read_is_filled() {
    let h = harness().await;
    h.fake.set_net("ESZ6", 1);
    h.fake.fail_reads("/fill/deps", 1_000_000);
    let i = intent(Action::ShortEntry, 1);
    // 5 s of the signal's 30 s are left, so a wait that would not end would end there.
    h.clock.set(i.signal_time + Duration::seconds(25));
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    assert_eq!((h.fake.liquidations(), h.fake.orders().len()), (1, 1));
    assert_eq!(h.fake.net("ESZ6"), -1);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(
        legs.iter().map(|l| (l.leg, l.outcome)).collect::<Vec<_>>(),
        [(Leg::Close, Outcome::Filled), (Leg::Open, Outcome::Filled)]
    );
}

/// A read of the account's other contracts of the root that fails (here each contract's
/// description) sends nothing, and says what it was reading: the root and the contract id.
#[tokio::test]
async fn a_failed_read_of_the_other_contracts_of_the_root_names_them_and_sends_nothing() {
    let h = harness().await;
    h.fake.set_net("ESZ6", 1);
    h.fake.add_contract("ESH7", 3_580_000);
    h.clock.advance(Duration::days(21));
    h.fake.set_now(h.clock.now());
    h.fake.fail_reads("/contract/item", 10_000);
    let short = continuous(Action::ShortEntry, h.clock.now(), 1);
    let err = h.executor.execute(&short).await.unwrap_err().to_string();
    assert!(
        err.contains("reading the account's other ES contracts (contract id"),
        "{err}"
    );
    assert_eq!((h.fake.liquidations(), h.fake.orders().len()), (0, 0));
    assert_eq!((h.fake.net("ESZ6"), h.fake.net("ESH7")), (1, 0));
}

#[tokio::test]
async fn a_root_set_to_refuse_on_roll_touches_nothing_and_alarms() {
    let h = harness().await;
    h.fake.set_net("ESZ6", 1);
    h.fake.add_contract("ESH7", 3_580_000);
    h.clock.advance(Duration::days(21));
    h.fake.set_now(h.clock.now());
    let mut short = continuous(Action::ShortEntry, h.clock.now(), 1);
    if let Some(c) = short.contract.as_mut() {
        c.on_roll = shared::routing::RollPolicy::Refuse;
    }
    assert_eq!(h.executor.execute(&short).await.unwrap(), Outcome::Rejected);
    assert_eq!((h.fake.net("ESZ6"), h.fake.net("ESH7")), (1, 0));
    assert_eq!((h.fake.liquidations(), h.fake.orders().len()), (0, 0));
    let reason = test_kit::executor::journaled_reason(&h.journal, &short.signal_id).await;
    assert!(
        reason.contains("ESZ6") && reason.contains("refuse"),
        "{reason}"
    );
    // The account stays long the earlier contract against a short strategy until the trader
    // acts: mailed urgent, never held back behind another failure's mail.
    let sent = h.executor.notifier.sent();
    assert!(
        sent.last()
            .is_some_and(|n| n.urgent && n.message.contains("ESZ6")),
        "{sent:?}"
    );
}

#[tokio::test]
async fn an_open_lookup_never_takes_the_reversals_own_liquidation_for_the_open() {
    let h = harness().await;
    h.fake.set_net("ESZ6", 1);
    // Both legs answer 500: the liquidation after it was created, the open before. New
    // orders are listed only after the venue's settle time has passed once.
    h.fake
        .set_visibility_delay(std::time::Duration::from_millis(500));
    h.fake.script(Fault::ErrorAfterCreate);
    h.fake.script(Fault::ErrorBeforeCreate);
    let i = intent(Action::ShortEntry, 1);
    let out = h.executor.execute(&i).await.unwrap();
    let coid = format!("tv-{}-o", &i.signal_id.as_str()[..24]);
    assert!(h.fake.placements_for(&coid) <= 1, "never two opens");
    match out {
        Outcome::Filled => assert_eq!(h.fake.net("ESZ6"), -1, "filled means short"),
        other => assert_ne!(h.fake.net("ESZ6"), 1, "{other:?}"),
    }
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    let liquidation = h.fake.liquidations();
    assert_eq!(liquidation, 1);
    assert!(
        legs.iter()
            .filter(|l| l.leg == Leg::Open && l.outcome == Outcome::Filled)
            .all(|l| h.fake.net("ESZ6") == -1 && l.broker_order_id.is_some()),
        "{legs:?}"
    );
}

#[tokio::test]
async fn an_unknown_outcome_goes_to_the_dead_letter_queue_and_a_replay_reconciles() {
    let mut h = harness().await;
    let dlq = dead_letters(&mut h);
    h.fake.set_net("ESZ6", 2);
    h.fake.liquidation_takes(None);
    let mut i = intent(Action::ShortEntry, 1);
    i.replay_forced = true;
    h.executor.settings.max_age = Duration::seconds(2);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Unknown);
    let letters = dlq.messages();
    assert_eq!(letters.len(), 1, "out of the way of later signals");
    assert_eq!(letters[0].group_id, "ES", "the root's group");
    assert!(letters[0].dedup_id.starts_with(i.signal_id.as_str()));
    let replay: shared::message::OrderIntent = serde_json::from_str(&letters[0].body).unwrap();
    assert_eq!(replay.signal_id, i.signal_id);
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(
        reason.contains("Working, not done yet (whether any of it filled is unknown until it ends); still so when the wait ended (the staleness budget, or the attempt's lease when sooner)"),
        "{reason}"
    );
    // The position reads flat (closed by hand), the liquidation still works: a replay
    // plans nothing while it does, since it could trade against an open sent now.
    h.fake.set_net("ESZ6", 0);
    h.clock.advance(Duration::seconds(61));
    assert_eq!(h.executor.execute(&replay).await.unwrap(), Outcome::Unknown);
    assert_eq!((h.fake.liquidations(), h.fake.orders().len()), (1, 0));
    let reason = test_kit::executor::journaled_reason(&h.journal, &i.signal_id).await;
    assert!(
        reason.contains("(a liquidation, perhaps ours") && reason.contains("still Working"),
        "{reason}"
    );
    // The operator replays it once the earlier liquidation has ended: the takeover finds
    // the position flat and opens the short, liquidating nothing a second time.
    h.fake.land_liquidations();
    let again: shared::message::OrderIntent =
        serde_json::from_str(&dlq.messages().last().unwrap().body).unwrap();
    h.clock.advance(Duration::seconds(61));
    assert_eq!(h.executor.execute(&again).await.unwrap(), Outcome::Filled);
    assert_eq!((h.fake.liquidations(), h.fake.orders().len()), (1, 1));
    assert_eq!(h.fake.net("ESZ6"), -1);
}

/// A replay's look for an earlier attempt's open that no command lists reaches back to the
/// alert, past later signals' orders: a later reversal's liquidation, of the open's side and
/// size and named by no `clOrdId`, is no proof of this open. The replay runs on an executor
/// that never saw those orders (a new Lambda container): it ends unknown, never journaling
/// the other signal's fill as its own, and places nothing.
#[tokio::test]
async fn a_replay_never_takes_a_later_signals_liquidation_for_its_open() {
    let mut h = harness().await;
    let dlq = dead_letters(&mut h);
    // S1's open is refused by a server error before anything is created: unknown.
    h.fake.script(Fault::ErrorBeforeCreate);
    let mut s1 = intent(Action::LongEntry, 1);
    s1.replay_forced = true;
    assert_eq!(h.executor.execute(&s1).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.orders().len(), 0);
    // S2 opens short 1; S3 reverses: a liquidation (a Buy of 1, no clOrdId), then its open.
    let s2 = intent(Action::ShortEntry, 2);
    assert_eq!(h.executor.execute(&s2).await.unwrap(), Outcome::Filled);
    let s3 = intent(Action::LongEntry, 3);
    assert_eq!(h.executor.execute(&s3).await.unwrap(), Outcome::Filled);
    assert_eq!((h.fake.liquidations(), h.fake.net("ESZ6")), (1, 1));
    let placed = h.fake.orders().len();
    // The operator replays S1 later, on a venue that never saw S3's orders.
    let fresh = support::harness_on(
        h.fake.clone(),
        support::fake_tradovate::ACCOUNT_ID,
        support::fake_tradovate::ACCOUNT_NAME,
    )
    .await;
    h.executor.venue = fresh.executor.venue;
    h.clock.advance(Duration::seconds(61));
    fresh.clock.advance(Duration::seconds(61));
    let replay: shared::message::OrderIntent =
        serde_json::from_str(&dlq.messages()[0].body).unwrap();
    assert_eq!(replay.signal_id, s1.signal_id);
    assert_eq!(h.executor.execute(&replay).await.unwrap(), Outcome::Unknown);
    assert_eq!(h.fake.orders().len(), placed, "nothing placed");
    let legs = h.journal.orders(&s1.signal_id).await.unwrap();
    assert!(
        legs.iter().all(|l| l.outcome != Outcome::Filled),
        "S3's liquidation journaled as S1's open: {legs:?}"
    );
    let reason = test_kit::executor::journaled_reason(&h.journal, &s1.signal_id).await;
    assert!(
        reason.contains("no command names it this open's"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_roll_touches_neither_a_later_contract_nor_the_side_an_exit_keeps() {
    let h = harness().await;
    h.fake.add_contract("ESH7", 3_580_000);
    h.fake.add_contract("ESM7", 3_580_001);
    h.clock.advance(Duration::days(21));
    h.fake.set_now(h.clock.now());
    // Another strategy (ES2!) holds June; ES1! has rolled to March with December still long.
    h.fake.set_net("ESM7", -1);
    h.fake.set_net("ESZ6", 1);
    // SHORT_EXIT keeps a long: December stays, June is not ES1!'s.
    let keep = continuous(Action::ShortExit, h.clock.now(), 1);
    assert_eq!(keep.instrument.as_str(), "ESH7");
    assert_eq!(h.executor.execute(&keep).await.unwrap(), Outcome::NoOp);
    assert_eq!((h.fake.net("ESZ6"), h.fake.net("ESM7")), (1, -1));
    assert_eq!(h.fake.liquidations(), 0);
    // LONG_EXIT closes the December long, and still not June.
    let close = continuous(Action::LongExit, h.clock.now() + Duration::seconds(1), 2);
    assert_eq!(h.executor.execute(&close).await.unwrap(), Outcome::Filled);
    assert_eq!((h.fake.net("ESZ6"), h.fake.net("ESM7")), (0, -1));
}

/// Tradovate lists each fill's fees (`fillFee/deps`); the journal keeps their sum per leg
/// (commission, exchange, clearing and NFA fees, all in one currency), and none when the
/// broker lists none: unknown, not zero.
#[tokio::test]
async fn the_fees_tradovate_lists_for_a_fill_are_journaled_with_the_leg() {
    let h = harness().await;
    // Per contract: 0.59 commission, 1.38 exchange, 0.19 clearing, 0.02 NFA = 2.18.
    h.fake.set_fill_fee("0.59", "1.38", "0.19", "0.02", 1);
    let i = intent(Action::LongEntry, 1);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs.len(), 1);
    assert_eq!(legs[0].fee, Some("2.18".parse().unwrap()));
    assert_eq!(h.fake.violations(), Vec::<String>::new());

    let h = harness().await;
    let i = intent(Action::LongEntry, 2);
    assert_eq!(h.executor.execute(&i).await.unwrap(), Outcome::Filled);
    let legs = h.journal.orders(&i.signal_id).await.unwrap();
    assert_eq!(legs[0].fee, None, "no fee listed: unknown");
}

/// A server that is not Tradovate (a wrong base URL, a proxy) answering with the request's
/// headers: the error names the status, never the access token it was sent.
#[tokio::test]
async fn an_answer_echoing_the_authorization_header_never_carries_the_token() {
    use executor_tradovate::client::{ClientSettings, TradovateClient};
    // As text with an error status, and as JSON with 200 and an `errorText` (a business
    // failure, as Tradovate words one).
    for (status, json) in [(400, false), (200, true)] {
        let echo = if json {
            broker_fakes::EchoServer::start_json(status).await
        } else {
            broker_fakes::EchoServer::start(status).await
        };
        let settings = ClientSettings {
            timeout: std::time::Duration::from_millis(500),
            read_attempts: 1,
            read_backoff: std::time::Duration::from_millis(10),
            max_wait: std::time::Duration::from_secs(1),
            ..ClientSettings::default()
        };
        let client = TradovateClient::new(&echo.url, settings).unwrap();
        let token =
            secrecy::SecretString::from("tv-access-0123456789abcdef0123456789abcdef".to_owned());
        let err = client.accounts(&token).await.unwrap_err();
        let shown = format!("{err} | {err:?}");
        assert!(
            shown.contains("Bearer [REDACTED]"),
            "the echo is kept, redacted: {shown}"
        );
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
    }
}

/// The client refuses a base URL the token must not go to: plain http to another machine.
#[test]
fn the_client_refuses_plain_http_to_another_machine() {
    use executor_tradovate::client::{ClientSettings, TradovateClient};
    let settings = ClientSettings {
        timeout: std::time::Duration::from_millis(500),
        read_attempts: 1,
        read_backoff: std::time::Duration::from_millis(10),
        max_wait: std::time::Duration::from_secs(1),
        ..ClientSettings::default()
    };
    let err = TradovateClient::new("http://live.tradovateapi.com/v1", settings)
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with("TRADOVATE_BASE_URL is plain http"),
        "{err}"
    );
}
