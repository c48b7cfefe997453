//! Execution vocabulary shared by every executor and the journal: legs, sides, client order
//! ids, and the journal's records and port.

use crate::outcome::Outcome;
use crate::routing::Broker;
use crate::signal::SignalId;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::future::Future;

/// One broker request a signal may need: closing the opposite side, then opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    /// A continuous symbol rolled to a new contract while the account still holds the
    /// root's earlier contract: that contract's close, before anything on the new one.
    CloseRolled,
    Close,
    /// FLATTEN on a hedging account that holds both sides: the second side's close. A leg of
    /// its own, so each close has its own client order id and journal row.
    CloseHedge,
    Open,
}

impl Leg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CloseRolled => "close_rolled",
            Self::Close => "close",
            Self::CloseHedge => "close_hedge",
            Self::Open => "open",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
        }
    }
}

/// The client order id of one leg of one signal: a pure function of both, so a redelivery,
/// a replay or a take-over after a crash produces the same id and finds the first attempt.
///
/// Form: `tv-<first 24 hex of SignalId>-<c|o>` (29 characters): short enough for every broker's
/// limit, ASCII, no characters any of them reserve.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientOrderId(String);

impl ClientOrderId {
    pub fn new(signal: &SignalId, leg: Leg) -> Self {
        let tag = match leg {
            Leg::CloseRolled => 'r',
            Leg::Close => 'c',
            Leg::CloseHedge => 'h',
            Leg::Open => 'o',
        };
        Self(format!("tv-{}-{tag}", &signal.as_str()[..24]))
    }

    /// A client order id read back from the journal, as it was written.
    pub fn from_stored(id: String) -> Self {
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a signal is in its life; the terminal ones mirror [`Outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalStatus {
    Received,
    Routed,
    Executing,
    Filled,
    NoOp,
    Rejected,
    Refused,
    Expired,
    NotExecuted,
    Superseded,
    Unknown,
}

impl SignalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Routed => "routed",
            Self::Executing => "executing",
            Self::Filled => "filled",
            Self::NoOp => "no_op",
            Self::Rejected => "rejected",
            Self::Refused => "refused",
            Self::Expired => "expired",
            Self::NotExecuted => "not_executed",
            Self::Superseded => "superseded",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Received,
            Self::Routed,
            Self::Executing,
            Self::Filled,
            Self::NoOp,
            Self::Rejected,
            Self::Refused,
            Self::Expired,
            Self::NotExecuted,
            Self::Superseded,
            Self::Unknown,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

impl From<Outcome> for SignalStatus {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Filled => Self::Filled,
            Outcome::NoOp => Self::NoOp,
            Outcome::Rejected => Self::Rejected,
            Outcome::Refused => Self::Refused,
            Outcome::Expired => Self::Expired,
            Outcome::NotExecuted => Self::NotExecuted,
            Outcome::Superseded => Self::Superseded,
            Outcome::Unknown => Self::Unknown,
        }
    }
}

/// The design's stage timestamps, journaled per signal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageTimes {
    pub received: Option<DateTime<Utc>>,
    pub enqueued: Option<DateTime<Utc>>,
    pub routed: Option<DateTime<Utc>>,
    pub executor_start: Option<DateTime<Utc>>,
    pub broker_sent: Option<DateTime<Utc>>,
    pub broker_acked: Option<DateTime<Utc>>,
}

/// One signal as the journal keeps it. Upserted by `signal_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalRecord {
    pub signal_id: SignalId,
    /// Canonical alert JSON without the passphrase.
    pub raw: String,
    /// The validated alert, as JSON.
    pub normalized: serde_json::Value,
    pub symbol: String,
    pub exchange: String,
    pub action: String,
    pub broker: Option<Broker>,
    pub instrument: Option<String>,
    /// How a continuous futures symbol was resolved, if it was.
    pub contract_resolution: Option<String>,
    pub status: SignalStatus,
    /// Why it was refused, rejected or left unknown.
    pub reason: Option<String>,
    pub stages: StageTimes,
}

/// One send of an order leg as the journal keeps it. Upserted by (signal_id, broker, account,
/// leg, attempt): a leg sent twice keeps two rows, so a duplicate order shows in the journal
/// instead of overwriting the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub signal_id: SignalId,
    pub broker: Broker,
    pub account: String,
    pub instrument: String,
    pub leg: Leg,
    /// Which send of this leg the row is: 1 for the first, 2 for a resend with the same
    /// client order id, and so on. Records written before attempts were counted read as 1.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    pub client_order_id: ClientOrderId,
    pub broker_order_id: Option<String>,
    pub side: Side,
    pub quantity: Decimal,
    pub fill_price: Option<Decimal>,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub acked_at: Option<DateTime<Utc>>,
    /// The fee or commission the broker reported for this fill, in the instrument's quote
    /// currency (Coinbase's `total_fees`); `None` when the broker reports none. Records
    /// written before fees were kept read as `None`.
    #[serde(default)]
    pub fee: Option<Decimal>,
}

/// The attempt of a record that does not say: the first send.
fn first_attempt() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("journal unavailable: {reason}")]
pub struct JournalError {
    pub reason: String,
}

/// The trade journal (PostgreSQL in AWS, SQLite locally). Every write is an idempotent
/// upsert, so a retry after a failed write rewrites the same rows without touching a broker.
pub trait TradeJournal: Send + Sync {
    fn upsert_signal(
        &self,
        record: &SignalRecord,
    ) -> impl Future<Output = Result<(), JournalError>> + Send;
    /// Writes one send of a leg; writing the same (signal, broker, account, leg, attempt)
    /// again updates that row.
    fn upsert_order(
        &self,
        record: &OrderRecord,
    ) -> impl Future<Output = Result<(), JournalError>> + Send;
    fn signal(
        &self,
        id: &SignalId,
    ) -> impl Future<Output = Result<Option<SignalRecord>, JournalError>> + Send;
    /// Every order row of a signal, ordered by leg, then attempt.
    fn orders(
        &self,
        id: &SignalId,
    ) -> impl Future<Output = Result<Vec<OrderRecord>, JournalError>> + Send;

    /// A signal's record and its order legs, in that order. By default one upsert after
    /// another; a journal that can write them in one go (SQLite: one hand-off to its worker
    /// thread) does.
    fn record_execution(
        &self,
        signal: &SignalRecord,
        orders: &[OrderRecord],
    ) -> impl Future<Output = Result<(), JournalError>> + Send {
        async move {
            self.upsert_signal(signal).await?;
            for order in orders {
                self.upsert_order(order).await?;
            }
            Ok(())
        }
    }
}

impl<T: TradeJournal + ?Sized> TradeJournal for std::sync::Arc<T> {
    fn record_execution(
        &self,
        signal: &SignalRecord,
        orders: &[OrderRecord],
    ) -> impl Future<Output = Result<(), JournalError>> + Send {
        (**self).record_execution(signal, orders)
    }

    fn upsert_signal(
        &self,
        record: &SignalRecord,
    ) -> impl Future<Output = Result<(), JournalError>> + Send {
        (**self).upsert_signal(record)
    }

    fn upsert_order(
        &self,
        record: &OrderRecord,
    ) -> impl Future<Output = Result<(), JournalError>> + Send {
        (**self).upsert_order(record)
    }

    fn signal(
        &self,
        id: &SignalId,
    ) -> impl Future<Output = Result<Option<SignalRecord>, JournalError>> + Send {
        (**self).signal(id)
    }

    fn orders(
        &self,
        id: &SignalId,
    ) -> impl Future<Output = Result<Vec<OrderRecord>, JournalError>> + Send {
        (**self).orders(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_order_ids_are_deterministic_per_signal_and_leg() {
        let s = SignalId::of_canonical("{}");
        let close = ClientOrderId::new(&s, Leg::Close);
        assert_eq!(close, ClientOrderId::new(&s, Leg::Close));
        assert_ne!(close, ClientOrderId::new(&s, Leg::Open));
        assert_ne!(close, ClientOrderId::new(&s, Leg::CloseHedge));
        assert_eq!(close.as_str().len(), 29);
        assert!(close.as_str().starts_with("tv-") && close.as_str().ends_with("-c"));
    }
}
