//! The port each broker implements: drive one account to an intent's target.
//!
//! The runtime owns everything around it (idempotency, staleness, guards, sizing, journal,
//! notifications, metrics); a venue owns only the broker conversation: read the position,
//! close, confirm, open, and resolve any ambiguity by lookup.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shared::execution::{ClientOrderId, Leg, Side};
use shared::message::OrderIntent;
use shared::outcome::Outcome;
use shared::routing::Broker;
use std::future::Future;

/// What the runtime asks of a venue.
#[derive(Debug, Clone)]
pub struct ExecRequest<'a> {
    pub intent: &'a OrderIntent,
    /// Size of the position to hold after an entry (units, contracts or quote amount), as
    /// configured or overridden, always positive.
    pub quantity: Decimal,
    /// A previous attempt's lease expired: the broker may already have our orders, so look
    /// them up by client order id before sending anything.
    pub takeover: bool,
    /// False when the signal is stale: recover what a previous attempt did, send nothing new.
    pub may_send: bool,
}

impl ExecRequest<'_> {
    pub fn client_order_id(&self, leg: Leg) -> ClientOrderId {
        ClientOrderId::new(&self.intent.signal_id, leg)
    }
}

/// One leg as the broker reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegReport {
    pub leg: Leg,
    pub side: Side,
    pub quantity: Decimal,
    pub client_order_id: ClientOrderId,
    pub broker_order_id: Option<String>,
    pub fill_price: Option<Decimal>,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub acked_at: Option<DateTime<Utc>>,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    pub outcome: Outcome,
    pub legs: Vec<LegReport>,
    /// Why it was rejected, a no-op, or unknown.
    pub reason: Option<String>,
}

impl Execution {
    pub fn no_op(reason: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::NoOp,
            legs: Vec::new(),
            reason: Some(reason.into()),
        }
    }
}

/// Failures before anything was sent: safe to retry through the queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{broker} unavailable before any order was sent: {reason}")]
pub struct NothingSent {
    pub broker: Broker,
    pub reason: String,
}

pub trait Venue: Send + Sync {
    fn broker(&self) -> Broker;

    /// The account the venue trades, part of the idempotency key.
    fn account(&self) -> &str;

    /// Drives the account to `req.intent.target`. `Err` only when nothing was sent.
    fn execute(
        &self,
        req: &ExecRequest<'_>,
    ) -> impl Future<Output = Result<Execution, NothingSent>> + Send;
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
