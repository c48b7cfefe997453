//! The port each broker implements: drive one account to an intent's target.
//!
//! The runtime owns everything around it (idempotency, staleness, guards, sizing, journal,
//! notifications, metrics); a venue owns only the broker conversation: read the position,
//! close, confirm, open, and resolve any ambiguity by lookup.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shared::execution::{BrokerOrderId, ClientOrderId, Leg, Side};
use shared::message::OrderIntent;
use shared::outcome::Outcome;
use shared::routing::Broker;
use std::future::Future;
use std::pin::Pin;

/// What the runtime asks of a venue.
#[derive(Debug, Clone)]
pub struct ExecRequest<'a> {
    /// The routed signal: instrument, target, the alert's close and its times.
    pub intent: &'a OrderIntent,
    /// Size of the position to hold after an entry, always positive: units, contracts or
    /// (spot buy) quote amount, or a notional to convert at the alert's close.
    pub size: Size,
    /// The end of the staleness budget (`timenow` + the max age; for a forced replay, the
    /// executor's start + the max age), or, when sooner, of the attempt's lease less the
    /// hand-over skew (`crate::processor::send_deadline`). Waits (a rate limit's, a settle
    /// time, a liquidation to show flat) end there, and nothing new is sent after it.
    pub deadline: DateTime<Utc>,
    /// The per-order notional cap (counted as `crate::risk::notional_price` says); always set.
    pub max_notional: Decimal,
    /// The risk settings' `max_position` for an entry sized by a notional: the size it comes
    /// to once converted at the alert's close, in the instrument's units (what
    /// `max_position` counts), may be no larger, or the signal is refused before any order.
    /// A wrong close changes both the size and the notional cap's count of it, so only this
    /// bounds what a bad price would buy. `None`: nothing to check here (a quantity size,
    /// which the risk settings checked already).
    pub max_position: Option<Decimal>,
    /// A previous attempt's lease expired: the broker may already have our orders, so look
    /// them up by client order id before sending anything.
    pub takeover: bool,
    /// False when a takeover may not send (stale, or a guard blocks it: the kill switch, the
    /// risk settings, a newer signal): recover what a previous attempt did, send nothing new.
    /// Other signals a guard blocks never reach the venue, except the risk settings' refusal
    /// ([`Self::refused`]).
    pub may_send: bool,
    /// The risk settings' refusal of this entry (why), applied only when an order would be
    /// needed: an entry the account already holds is a no-op whatever its size, window or
    /// `quantity`, so a refusal of its size must not stand for it.
    pub refused: Option<String>,
    /// The last check before the signal's first order: asked once, just before the attempt's
    /// first order leaves (every check that could refuse the signal has passed: the broker's
    /// rules, sizing, the notional cap, a roll policy, the staleness budget), or when no order
    /// is needed (the account is at the target already). The executor's signal order per
    /// instrument, which records the signal as taken there. `None`: no check (a takeover,
    /// checked before the venue; tests of a venue alone).
    pub gate: Option<&'a dyn OrderGate>,
    /// A takeover's journaled order rows of this signal, read before it may send (empty
    /// otherwise): an open an earlier attempt journaled filled is never sent again, even
    /// when the broker's lookups do not show it yet.
    pub journaled: &'a [shared::execution::OrderRecord],
}

/// The check [`ExecRequest::gate`] names. A future of its own (not `async fn`), so a request
/// can carry it as `&dyn`.
pub trait OrderGate: Send + Sync {
    /// `Ok(None)`: send. `Ok(Some(reason))`: the signal is superseded, nothing is sent, and
    /// `reason` says by what. `Err(why)`: the check could not be made; nothing is sent and the
    /// signal comes back through its queue (the venue answers [`NothingSent`]).
    fn pass(&self) -> Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send + '_>>;
}

impl std::fmt::Debug for dyn OrderGate + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OrderGate")
    }
}

/// How large an entry is, as the risk configuration sizes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Units, contracts, or for a spot buy the quote amount.
    Quantity(Decimal),
    /// A notional (`crate::risk::notional_price`: quote currency at the alert's close, base
    /// units for a currency pair at OANDA), converted to units and rounded down to the
    /// instrument's increment once the broker's rules are read.
    Notional(Decimal),
}

impl ExecRequest<'_> {
    /// The client order id of `leg` of this signal ([`ClientOrderId::new`]): the same on
    /// every attempt, so a lookup finds what an earlier one sent.
    pub fn client_order_id(&self, leg: Leg) -> ClientOrderId {
        ClientOrderId::new(&self.intent.signal_id, leg)
    }
}

/// One leg as the broker reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegReport {
    /// Which leg this send was.
    pub leg: Leg,
    /// The order's direction at the broker.
    pub side: Side,
    /// The size sent (units, contracts, or a spot buy's quote amount), replaced by the
    /// quantity the broker reports filled when it reports one.
    pub quantity: Decimal,
    /// The id sent with the order, derived from the signal and the leg.
    pub client_order_id: ClientOrderId,
    /// 1 for the first send of this leg, 2 for a send again with the same client order id
    /// after the broker was shown not to have the first: one journal row per send.
    pub attempt: u32,
    /// The contract this leg traded when it is not the signal's own (the `close_rolled` leg
    /// of a roll closes the root's earlier contract).
    pub instrument: Option<String>,
    /// The broker's own id for the order, once an answer or a lookup gave one.
    pub broker_order_id: Option<BrokerOrderId>,
    /// The average fill price reported (quote currency per unit; points for futures).
    pub fill_price: Option<Decimal>,
    /// How this send ended: filled, no-op (nothing to close), rejected, not executed or
    /// unknown until the broker says.
    pub outcome: Outcome,
    /// Why it did not fill, or how it was resolved (by lookup, by an earlier attempt).
    pub error: Option<String>,
    /// When the request left (UTC); `None` for a leg only found by recovery.
    pub sent_at: Option<DateTime<Utc>>,
    /// When the broker's answer, or a lookup's verdict, was recorded (UTC).
    pub acked_at: Option<DateTime<Utc>>,
    /// The fee the broker reported for the fill, in the quote currency (Coinbase's
    /// `total_fees`); `None` when it reports none.
    pub fee: Option<Decimal>,
    /// Filled in part, the rest cancelled by the broker ([`crate::drive::Ack::FilledInPart`]):
    /// `error` says what did not fill. Not journaled as such; the processor alarms on it.
    pub in_part: bool,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// The signal's outcome, journaled as its status.
    pub outcome: Outcome,
    /// Every send, in order (a leg sent twice has two); empty when nothing was sent.
    pub legs: Vec<LegReport>,
    /// Why it was rejected, a no-op, or unknown.
    pub reason: Option<String>,
    /// Stopped by a rule, not by the broker: a root's `on_roll = "refuse"` with the earlier
    /// contract still held, or a roll with more than one earlier contract held (one
    /// `close_rolled` client order id cannot close two), or a reversal's open not sent because
    /// the account changed outside the signal before its close (a hand trade). The outcome is journaled and alarmed as any
    /// rejection, but it says nothing about the broker path, so health records nothing
    /// ([`crate::health::health_event`]); a `tvctl status` must not call the path degraded
    /// for it.
    pub stopped_by_policy: bool,
    /// A refusal the trader must hear of at once: a reversal refused before its close (its
    /// open beyond the broker's published rules, beyond the margin its close would free,
    /// refused by the risk settings, or its notional size not convertible at the alert's
    /// close), so the account stays on the side the strategy left; an entry the risk settings
    /// refused while the position could not be read, off a spot book (it may have been a
    /// reversal); or a signal a roll rule stopped (`stopped_by_policy`) while the account
    /// holds a contract the symbol rolled away from; or a reversal's open not sent because
    /// the account changed outside the signal before its close; or a takeover expired before its first
    /// leg that found no earlier leg where closes cannot be looked up (it may be half a
    /// reversal). Alarmed, where other refusals (an entry's size from flat, the trader's own
    /// settings) and expiries are mailed at most once per interval.
    pub alarmed: bool,
    /// The account was found at the signal's target, whatever the outcome says: a takeover
    /// that may not send (stale, guarded) and found it there keeps the guard's `expired` or
    /// `refused`, but an exit's "may still hold" alarm would be false.
    pub at_target: bool,
}

impl Execution {
    /// The account was already at its target: no legs, `reason` saying what it held.
    pub fn no_op(reason: impl Into<String>) -> Self {
        Self {
            at_target: true,
            ..Self::without_legs(Outcome::NoOp, reason)
        }
    }

    /// Ended before any order: a no-op, a refusal, a reject of the signal as a whole.
    pub fn without_legs(outcome: Outcome, reason: impl Into<String>) -> Self {
        Self {
            outcome,
            legs: Vec::new(),
            reason: Some(reason.into()),
            stopped_by_policy: false,
            alarmed: false,
            at_target: false,
        }
    }
}

impl LegReport {
    /// A leg about to be sent (or found): outcome unknown until the broker says.
    pub fn new(req: &ExecRequest<'_>, leg: Leg, side: Side, quantity: Decimal) -> Self {
        Self {
            leg,
            side,
            quantity,
            client_order_id: req.client_order_id(leg),
            attempt: 1,
            instrument: None,
            broker_order_id: None,
            fill_price: None,
            fee: None,
            outcome: Outcome::Unknown,
            error: None,
            sent_at: None,
            acked_at: None,
            in_part: false,
        }
    }
}

/// Failures before anything was sent: safe to retry through the queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{broker} unavailable before any order was sent: {reason}")]
pub struct NothingSent {
    /// The broker that could not be reached.
    pub broker: Broker,
    /// What failed (`connection failed`, a server error), without URLs.
    pub reason: String,
    /// The executor's order check ([`ExecRequest::gate`]) failed, not the broker: the
    /// broker's health records nothing.
    pub order_check: bool,
}

/// One broker account the executor trades, driven to each intent's target. Implemented by
/// each broker crate, the paper brokers and [`crate::health::Recorded`].
pub trait Venue: Send + Sync {
    /// The broker: an intent for another is refused, and it is part of the idempotency key.
    fn broker(&self) -> Broker;

    /// The account the venue trades, part of the idempotency key.
    fn account(&self) -> &str;

    /// Drives the account to `req.intent.target`. `Err` only when nothing was sent.
    fn execute(
        &self,
        req: &ExecRequest<'_>,
    ) -> impl Future<Output = Result<Execution, NothingSent>> + Send;
}

/// A broker's position in one instrument, read without trading: what a dashboard shows next
/// to the journal. Never used to decide an order (the executors read holdings through their
/// [`crate::drive::Conversation`]).
pub trait PositionRead: Send + Sync {
    /// The signed net position in `instrument` (units, contracts, or for spot the base
    /// currency's available balance), as the broker reports it now.
    ///
    /// # Errors
    /// [`crate::drive::ReadError`] when the broker could not be read or refused the read.
    fn position(
        &self,
        instrument: &str,
    ) -> impl Future<Output = Result<Decimal, crate::drive::ReadError>> + Send;
}

impl<V: Venue + ?Sized> Venue for std::sync::Arc<V> {
    fn broker(&self) -> Broker {
        (**self).broker()
    }

    fn account(&self) -> &str {
        (**self).account()
    }

    fn execute(
        &self,
        req: &ExecRequest<'_>,
    ) -> impl Future<Output = Result<Execution, NothingSent>> + Send {
        (**self).execute(req)
    }
}
