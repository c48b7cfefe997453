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
    /// Closes a held side the target does not allow (the long before a short entry, the
    /// short on `SHORT_EXIT`); when FLATTEN closes both sides of a hedging account, the long.
    /// On Coinbase every sell is this leg.
    Close,
    /// FLATTEN on a hedging account that holds both sides: the second side's close. A leg of
    /// its own, so each close has its own client order id and journal row.
    CloseHedge,
    /// Opens the side an entry asks for, after any closes; left out when that side is
    /// already held. On Coinbase every buy is this leg.
    Open,
}

impl Leg {
    /// The leg's snake_case name, as serialized and stored in the journal's `leg` column:
    /// `close_rolled`, `close`, `close_hedge` or `open`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CloseRolled => "close_rolled",
            Self::Close => "close",
            Self::CloseHedge => "close_hedge",
            Self::Open => "open",
        }
    }
}

/// The direction of one order leg at the broker; journaled per leg as `buy` or `sell`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Opens a long or closes a short (on Coinbase, spends quote currency on the base).
    Buy,
    /// Opens a short or closes a long (on Coinbase, sells the base currency held).
    Sell,
}

impl Side {
    /// The side's lower-case name, as serialized and journaled: `buy` or `sell`.
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
/// Form: `tv-<first 24 hex of SignalId>-<r|c|h|o>` (29 characters): short enough for every
/// broker's limit, ASCII, no characters any of them reserve.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientOrderId(String);

impl ClientOrderId {
    /// The id of `leg` of `signal`: `tv-`, the first 24 hex characters of the SignalId, `-`,
    /// then `r`, `c`, `h` or `o` for `close_rolled`, `close`, `close_hedge` or `open`.
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

    /// The id as sent to the broker and stored in the journal.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id a broker gave an order: OANDA's order or transaction id (`"6372"`), Tradovate's
/// `orderId` (an integer, written in decimal), Coinbase's `order_id` (a UUID), or the paper
/// broker's `paper-<n>`. Opaque: only compared, journaled and shown. Kept apart from
/// [`ClientOrderId`], the id we choose, which it is easy to mix up with as both are strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BrokerOrderId(String);

impl BrokerOrderId {
    /// The id as the broker wrote it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Read as text (`order.broker_order_id.as_deref() == Some("6372")`); building one takes a
/// `From`, so a client order id is never passed where a broker's id is meant.
impl std::ops::Deref for BrokerOrderId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for BrokerOrderId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&str> for BrokerOrderId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

impl fmt::Display for BrokerOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The broker account orders go to: OANDA's v20 account id (`101-001-1234567-001`),
/// Tradovate's account name (`DEMO123456`), Coinbase's API key name (it picks the
/// portfolio), or a paper broker's name (`paper-oanda`). It keys the idempotency records and
/// the journal's orders, where it is easy to mix up with an instrument or a client order id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BrokerAccount(String);

impl BrokerAccount {
    /// The account as the broker names it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Read as text; building one takes a `From`.
impl std::ops::Deref for BrokerAccount {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for BrokerAccount {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&str> for BrokerAccount {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

impl PartialEq<str> for BrokerAccount {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for BrokerAccount {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for BrokerAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a signal is in its life; the terminal ones mirror [`Outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalStatus {
    /// Accepted by ingest and queued for the router. Nothing journals this status today:
    /// the executor writes only the terminal ones below.
    Received,
    /// Routed: an order intent is on the broker's queue. Not journaled today (see `Received`).
    Routed,
    /// An executor is working on it. Not journaled today (see `Received`).
    Executing,
    /// The broker filled or accepted the signal's order legs.
    Filled,
    /// Nothing to do: the account already held the target position.
    NoOp,
    /// The broker definitively refused an order (margin, market halted, invalid); not retried.
    Rejected,
    /// A local guard stopped it before any order (kill switch, trading window, size limits).
    Refused,
    /// Older than the max age when the executor got it, or the staleness budget (or, when
    /// sooner, the attempt's lease) ran out before it completed.
    Expired,
    /// The broker documented that it did not carry an order out (rate limit, "try later"), a
    /// lookup confirmed nothing was created, and no resend fit the staleness budget (for a
    /// close with a leg after it, the budget less the time that leg needs).
    NotExecuted,
    /// A later signal (by the alert's `timenow`) for the same account and instrument had been
    /// taken already (its first order sent, or its account found at its target), so no order
    /// was sent.
    Superseded,
    /// An order may have reached the broker but its result could not be confirmed; resolve it
    /// by lookup, never by resending. The executor alarms and dead-letters the message.
    Unknown,
}

impl SignalStatus {
    /// The status's snake_case name, as serialized and stored in the journal's `status`
    /// column (`no_op`, `not_executed`, ...).
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

    /// The status whose [`Self::as_str`] name is `s` (exact, lower case); `None` for any
    /// other string.
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

impl SignalStatus {
    /// The executor's outcome this terminal status journals; `None` for the statuses nothing
    /// journals today (`Received`, `Routed`, `Executing`).
    pub fn outcome(self) -> Option<Outcome> {
        Some(match self {
            Self::Filled => Outcome::Filled,
            Self::NoOp => Outcome::NoOp,
            Self::Rejected => Outcome::Rejected,
            Self::Refused => Outcome::Refused,
            Self::Expired => Outcome::Expired,
            Self::NotExecuted => Outcome::NotExecuted,
            Self::Superseded => Outcome::Superseded,
            Self::Unknown => Outcome::Unknown,
            Self::Received | Self::Routed | Self::Executing => return None,
        })
    }
}

/// The design's stage timestamps, journaled per signal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageTimes {
    /// When ingest received the alert's HTTP request (UTC).
    pub received: Option<DateTime<Utc>>,
    /// When ingest handed the signal to the `signals` queue (UTC).
    pub enqueued: Option<DateTime<Utc>>,
    /// When the router routed it and built the order intent (UTC).
    pub routed: Option<DateTime<Utc>>,
    /// When the executor started the attempt that journaled it (UTC).
    pub executor_start: Option<DateTime<Utc>>,
    /// When the first order leg was sent to the broker (UTC); `None` if nothing was sent.
    pub broker_sent: Option<DateTime<Utc>>,
    /// When the broker's last answer on a leg arrived, or a lookup settled it (UTC); `None`
    /// if no leg got one.
    pub broker_acked: Option<DateTime<Utc>>,
}

/// A JSON value kept as its text: written to the journal and read back without building a
/// tree of it (the executor journals every signal's order intent; `serde_json::to_value` and
/// printing the tree again cost it about a twentieth of a signal's CPU in the local stack).
/// Serialized with serde_json, it is the value itself, not a string holding it. Compared by
/// text. [`Default`] is `null`.
#[derive(Debug, Clone)]
pub struct RawJson(Box<serde_json::value::RawValue>);

impl RawJson {
    /// `value` serialized; `null` if it cannot be (a map with keys that are not strings).
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Self {
        serde_json::value::to_raw_value(value).map_or_else(|_| Self::default(), Self)
    }

    /// `text` when it is one JSON value.
    ///
    /// # Errors
    /// serde_json's error when it is not.
    pub fn parse(text: String) -> Result<Self, serde_json::Error> {
        serde_json::value::RawValue::from_string(text).map(Self)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The value read as a `T`.
    ///
    /// # Errors
    /// serde_json's error when it does not read as one.
    pub fn read<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }
}

impl Default for RawJson {
    fn default() -> Self {
        Self(serde_json::value::RawValue::NULL.to_owned())
    }
}

impl From<serde_json::Value> for RawJson {
    fn from(value: serde_json::Value) -> Self {
        Self::of(&value)
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RawJson {}

impl Serialize for RawJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<serde_json::value::RawValue>::deserialize(deserializer).map(Self)
    }
}

/// One signal as the journal keeps it. Upserted by `signal_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalRecord {
    /// The signal's id: the row's key.
    pub signal_id: SignalId,
    /// Canonical alert JSON without the passphrase.
    pub raw: String,
    /// What the executor worked from: the `OrderIntent` the router sent, as JSON.
    pub normalized: RawJson,
    /// The alert's symbol as TradingView sent it (`EURUSD`, `ES1!`).
    pub symbol: String,
    /// The alert's exchange as TradingView sent it (`OANDA`, `CME_MINI`).
    pub exchange: String,
    /// The alert's action in upper snake case (`LONG_ENTRY`, `FLATTEN`, ...).
    pub action: String,
    /// The broker the signal was routed to; `None` if it was journaled before routing.
    pub broker: Option<Broker>,
    /// The broker's instrument it was routed to (`EUR_USD`, `ESZ6`, `BTC-USD`); `None` if it
    /// was journaled before routing.
    pub instrument: Option<String>,
    /// How a continuous futures symbol was resolved, if it was.
    pub contract_resolution: Option<String>,
    /// Where the signal stands; the executor writes the terminal status of its outcome.
    pub status: SignalStatus,
    /// Why it was refused, rejected or left unknown.
    pub reason: Option<String>,
    /// When the signal passed each stage of the pipeline.
    pub stages: StageTimes,
}

impl SignalRecord {
    /// Its status and reason as a dead letter's listing gives them (`journaled unknown: ...`,
    /// `journaled filled`): a dead letter carries no reason of its own, its journal row does.
    pub fn journaled(&self) -> String {
        match &self.reason {
            Some(reason) => format!("journaled {}: {reason}", self.status.as_str()),
            None => format!("journaled {}", self.status.as_str()),
        }
    }
}

/// One send of an order leg as the journal keeps it. Upserted by (signal_id, broker, account,
/// leg, attempt): a leg sent twice keeps two rows, so a duplicate order shows in the journal
/// instead of overwriting the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// The signal this leg belongs to.
    pub signal_id: SignalId,
    /// The broker the leg was sent to.
    pub broker: Broker,
    /// The account traded, as the executor names it: the OANDA account id, the Tradovate
    /// account id, or the Coinbase API key name.
    pub account: BrokerAccount,
    /// The instrument the leg traded: the signal's, or for `close_rolled` the root's earlier
    /// contract.
    pub instrument: String,
    /// Which leg of the signal this is.
    pub leg: Leg,
    /// Which send of this leg the row is: 1 for the first, 2 for a resend with the same
    /// client order id, and so on. Records written before attempts were counted read as 1.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// The id sent with the order; the same for every attempt of the leg.
    pub client_order_id: ClientOrderId,
    /// The broker's own id for the order, once the broker or a lookup gave one.
    pub broker_order_id: Option<BrokerOrderId>,
    /// Buy or sell.
    pub side: Side,
    /// The order's size, always positive: units for OANDA, whole contracts for Tradovate, base
    /// currency for Coinbase (for a Coinbase buy not known to have filled, the quote amount it
    /// was to spend). Replaced by the filled size when the broker reports one.
    pub quantity: Decimal,
    /// The average fill price the broker reported, per unit as the broker quotes it (quote
    /// currency for OANDA and Coinbase, the contract's price for Tradovate); `None` until
    /// filled or when the broker gives none.
    pub fill_price: Option<Decimal>,
    /// What became of this send.
    pub outcome: Outcome,
    /// Why the send did not simply fill (the broker's reject reason, what a lookup found),
    /// or how a fill was established; `None` for a plain fill.
    pub error: Option<String>,
    /// When this send left for the broker (UTC); `None` if this attempt did not send it (a
    /// close found already done after a takeover).
    pub sent_at: Option<DateTime<Utc>>,
    /// When the broker answered or a lookup settled the send (UTC); `None` if neither did.
    pub acked_at: Option<DateTime<Utc>>,
    /// The fee or commission the broker reported for this fill, in the instrument's quote
    /// currency (Coinbase's `total_fees`); `None` when the broker reports none. Records
    /// written before fees were kept read as `None`.
    #[serde(default)]
    pub fee: Option<Decimal>,
}

impl OrderRecord {
    /// `later`, a write of the same leg and attempt (same signal, broker, account, leg and
    /// attempt), over `self`, as every journal keeps the two: the SQL journals' upsert
    /// (`journal`'s `UPSERT_ORDER`), the in-memory journal and `tvctl report` over log lines.
    /// The later write wins, but the first send time is kept, and the broker order id, fill
    /// price, acknowledgement and fee of `self` where `later` has none (a takeover's row can
    /// lack them). A write of `unknown` over a known outcome (a takeover that read the order
    /// while it was still working, racing the attempt that saw it end) changes nothing the
    /// known one says: its outcome, error, size, side, instrument, ids and price stay, and it
    /// fills only what the known row lacked. (Its size alone would have turned a filled
    /// 0.0015 BTC into the 0.0007 the takeover saw filled so far.)
    pub fn overwritten_by(&self, later: OrderRecord) -> OrderRecord {
        if later.outcome == Outcome::Unknown && self.outcome != Outcome::Unknown {
            return OrderRecord {
                broker_order_id: self.broker_order_id.clone().or(later.broker_order_id),
                fill_price: self.fill_price.or(later.fill_price),
                sent_at: self.sent_at.or(later.sent_at),
                acked_at: self.acked_at.or(later.acked_at),
                fee: self.fee.or(later.fee),
                ..self.clone()
            };
        }
        OrderRecord {
            broker_order_id: later
                .broker_order_id
                .or_else(|| self.broker_order_id.clone()),
            fill_price: later.fill_price.or(self.fill_price),
            sent_at: self.sent_at.or(later.sent_at),
            acked_at: later.acked_at.or(self.acked_at),
            fee: later.fee.or(self.fee),
            ..later
        }
    }

    /// What [`Self::quantity`] counts: `units` at OANDA, `contracts` at Tradovate, a currency
    /// at Coinbase: the product's base currency (`BTC` of `BTC-USD`), or its quote currency
    /// for a buy not known to have filled, whose quantity is the amount it was to spend
    /// (product ids are `BASE-QUOTE`, Advanced Trade API, List Products). An instrument that
    /// is not `BASE-QUOTE` at Coinbase gives the instrument itself.
    pub fn quantity_unit(&self) -> String {
        match self.broker {
            Broker::Oanda => "units".into(),
            Broker::Tradovate => "contracts".into(),
            Broker::Coinbase => match crate::routing::coinbase_currencies(&self.instrument) {
                Some((_, quote)) if self.side == Side::Buy && self.outcome != Outcome::Filled => {
                    quote.into()
                }
                Some((base, _)) => base.into(),
                None => self.instrument.clone(),
            },
        }
    }
}

/// The attempt of a record that does not say: the first send.
fn first_attempt() -> u32 {
    1
}

/// A journal read or write failed: the database could not be reached or refused the
/// statement, or a stored row could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("journal unavailable: {reason}")]
pub struct JournalError {
    /// What failed, for logs (`status "x" unreadable`, the database's error kind).
    pub reason: String,
}

/// The trade journal (PostgreSQL in AWS, SQLite locally). Every write is an idempotent
/// upsert, so a retry after a failed write rewrites the same rows without touching a broker.
pub trait TradeJournal: Send + Sync {
    /// Writes a signal's record, updating the row with the same `signal_id` if there is one.
    /// Fails with [`JournalError`] when the journal cannot be written.
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
    /// A signal's record, or `None` if the journal has none. Fails with [`JournalError`]
    /// when the journal cannot be read or the row cannot be decoded.
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

    #[test]
    fn raw_json_is_written_and_read_as_the_value_itself() {
        #[derive(Serialize)]
        struct Intent {
            reference_price: Decimal,
            symbol: &'static str,
        }
        let intent = RawJson::of(&Intent {
            reference_price: Decimal::new(11, 1),
            symbol: "EURUSD",
        });
        assert_eq!(
            intent.as_str(),
            r#"{"reference_price":"1.1","symbol":"EURUSD"}"#
        );
        // Inside a record it is the object, not a string holding it, and reads back equal.
        let wrapped = serde_json::json!({ "normalized": intent });
        assert_eq!(wrapped["normalized"]["symbol"], "EURUSD");
        let text = format!(r#"{{"normalized": {} }}"#, intent.as_str());
        #[derive(Deserialize)]
        struct Record {
            normalized: RawJson,
        }
        let back: Record = serde_json::from_str(&text).unwrap();
        assert_eq!(back.normalized, intent);
        let price: serde_json::Value = back.normalized.read().unwrap();
        assert_eq!(price["reference_price"], "1.1");
        assert_eq!(RawJson::default().as_str(), "null");
        assert_eq!(RawJson::from(serde_json::Value::Null), RawJson::default());
        assert!(RawJson::parse("{\"open\": ".into()).is_err());
    }

    /// Each broker's quantity in its own unit; a Coinbase buy's quantity is what it spends
    /// until it fills, then what it bought.
    #[test]
    fn an_order_names_what_its_quantity_counts() {
        let id = SignalId::of_canonical("unit");
        let order = |broker: Broker, instrument: &str, side: Side, outcome: Outcome| OrderRecord {
            signal_id: id.clone(),
            broker,
            account: "a".into(),
            instrument: instrument.into(),
            leg: Leg::Open,
            attempt: 1,
            client_order_id: ClientOrderId::new(&id, Leg::Open),
            broker_order_id: None,
            side,
            quantity: Decimal::ONE,
            fill_price: None,
            outcome,
            error: None,
            sent_at: None,
            acked_at: None,
            fee: None,
        };
        let unit = |b, i, s, o| order(b, i, s, o).quantity_unit();
        assert_eq!(
            unit(Broker::Oanda, "EUR_USD", Side::Buy, Outcome::Filled),
            "units"
        );
        assert_eq!(
            unit(Broker::Tradovate, "ESZ6", Side::Sell, Outcome::Rejected),
            "contracts"
        );
        assert_eq!(
            unit(Broker::Coinbase, "BTC-USD", Side::Buy, Outcome::Filled),
            "BTC"
        );
        assert_eq!(
            unit(Broker::Coinbase, "BTC-USD", Side::Buy, Outcome::Rejected),
            "USD"
        );
        assert_eq!(
            unit(Broker::Coinbase, "BTC-USD", Side::Buy, Outcome::Unknown),
            "USD"
        );
        assert_eq!(
            unit(Broker::Coinbase, "ETH-USDC", Side::Sell, Outcome::Rejected),
            "ETH"
        );
        assert_eq!(
            unit(Broker::Coinbase, "ODD", Side::Sell, Outcome::Filled),
            "ODD"
        );
    }
}
