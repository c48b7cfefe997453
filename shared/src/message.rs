//! The messages the Lambdas exchange over SQS. Both carry a `version` so a consumer can refuse
//! a shape it does not know instead of guessing.

use crate::alert::{Action, Alert, TargetPosition};
use crate::routing::{Broker, ContractResolution, Instrument, Route};
use crate::signal::SignalId;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub const SIGNAL_VERSION: u32 = 1;
pub const INTENT_VERSION: u32 = 1;

/// ingest → `signals` queue (group = symbol, dedup id = SignalId).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalMessage {
    pub version: u32,
    pub signal_id: SignalId,
    pub received_at: DateTime<Utc>,
    pub enqueued_at: DateTime<Utc>,
    pub alert: Alert,
    /// The alert as canonical JSON without the passphrase: the journal's raw copy.
    pub raw: String,
    /// Set by an operator's forced dead-letter replay: trade even though the signal is older
    /// than its max age.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replay_forced: bool,
}

impl SignalMessage {
    /// The FIFO message group: the symbol as sent, upper-cased, so one symbol's signals stay
    /// in order whatever the broker.
    pub fn group_id(&self) -> String {
        group_id_for(&self.alert.market_data.symbol)
    }
}

/// SQS allows 128 characters of alphanumerics and punctuation in a group id.
pub fn group_id_for(symbol: &str) -> String {
    symbol
        .trim()
        .to_ascii_uppercase()
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(128)
        .collect()
}

/// router → `<broker>` queue (group = broker instrument, dedup id = SignalId).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderIntent {
    pub version: u32,
    pub signal_id: SignalId,
    pub broker: Broker,
    pub instrument: Instrument,
    pub action: Action,
    pub target: TargetPosition,
    /// The alert's symbol and exchange as sent, for the journal and logs.
    pub symbol: String,
    pub exchange: String,
    /// The alert's close: paper fills use it, live executors log slippage against it.
    pub reference_price: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity_override: Option<Decimal>,
    pub signal_time: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub enqueued_at: DateTime<Utc>,
    pub routed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<ContractResolution>,
    /// The alert as canonical JSON without the passphrase, for the executor's journal.
    pub raw: String,
    /// Carried over from a forced replay: the executor skips its staleness check.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replay_forced: bool,
}

impl OrderIntent {
    pub fn new(signal: &SignalMessage, route: Route, routed_at: DateTime<Utc>) -> Self {
        let alert = &signal.alert;
        Self {
            version: INTENT_VERSION,
            signal_id: signal.signal_id.clone(),
            broker: route.broker,
            instrument: route.instrument,
            action: alert.action,
            target: alert.action.target(),
            symbol: alert.market_data.symbol.clone(),
            exchange: alert.market_data.exchange.clone(),
            reference_price: alert.price_data.close,
            quantity_override: alert.quantity,
            signal_time: alert.market_data.timenow,
            received_at: signal.received_at,
            enqueued_at: signal.enqueued_at,
            routed_at,
            contract: route.resolution,
            raw: signal.raw.clone(),
            replay_forced: signal.replay_forced,
        }
    }

    pub fn group_id(&self) -> String {
        group_id_for(self.instrument.as_str())
    }
}
