//! The messages the Lambdas exchange over SQS. Both carry a `version` so a consumer can refuse
//! a shape it does not know instead of guessing.

use crate::alert::{Action, Alert, TargetPosition};
use crate::routing::{Broker, ContractResolution, Instrument, Route};
use crate::signal::SignalId;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The [`SignalMessage`] shape this build writes for most alerts. The router fails a message
/// of a version it does not read ([`SIGNAL_VERSIONS`]), so it is retried (a deployment in
/// progress clears it) and finally dead-lettered instead of misread.
pub const SIGNAL_VERSION: u32 = 1;
/// The shape of a signal whose `price_data.volume` is `null` (an alert's `"NaN"` volume,
/// read since 2026-12-07): a router of version 1 alone, still running while a deployment
/// replaces it, refuses the `null` as unreadable and dead-letters the signal at once, where a
/// version it does not know is retried for the queue's receives (about 15 s of quick retries
/// and the visibility timeouts between them) in case the new router takes it, and only then
/// dead-lettered: past the age limit by then, only a forced replay runs it.
pub const SIGNAL_VERSION_NO_VOLUME: u32 = 2;
/// The [`SignalMessage`] versions this build reads.
pub const SIGNAL_VERSIONS: std::ops::RangeInclusive<u32> =
    SIGNAL_VERSION..=SIGNAL_VERSION_NO_VOLUME;
/// The [`OrderIntent`] shape this build writes and reads. An executor fails an intent of any
/// other version, so it is retried and finally dead-lettered instead of misread.
pub const INTENT_VERSION: u32 = 1;

/// ingest → `signals` queue (group = symbol, dedup id = SignalId).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalMessage {
    /// The shape's version: [`SignalMessage::version_of`] its alert when ingest wrote it
    /// ([`SIGNAL_VERSION`], or [`SIGNAL_VERSION_NO_VOLUME`]).
    pub version: u32,
    /// The alert's id; also the message's SQS deduplication id.
    pub signal_id: SignalId,
    /// When ingest received the alert's HTTP request (UTC).
    pub received_at: DateTime<Utc>,
    /// When ingest built this message, just before sending it to the queue (UTC).
    pub enqueued_at: DateTime<Utc>,
    /// The validated alert, passphrase removed.
    pub alert: Alert,
    /// The alert as canonical JSON without the passphrase: the journal's raw copy.
    pub raw: String,
    /// Set by an operator's forced dead-letter replay: trade even though the signal is older
    /// than its max age.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replay_forced: bool,
}

impl SignalMessage {
    /// The version a message of `alert` is written as: the oldest whose shape holds it
    /// ([`SIGNAL_VERSION`], or [`SIGNAL_VERSION_NO_VOLUME`] without a volume), so a router of
    /// an earlier build reads what it can and retries the rest.
    pub fn version_of(alert: &Alert) -> u32 {
        if alert.price_data.volume.is_none() {
            SIGNAL_VERSION_NO_VOLUME
        } else {
            SIGNAL_VERSION
        }
    }

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

/// router → `<broker>` queue (group = broker instrument, a futures contract's root at
/// Tradovate: [`OrderIntent::group_id`]; dedup id = SignalId).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderIntent {
    /// The shape's version: [`INTENT_VERSION`] when the router wrote it.
    pub version: u32,
    /// The alert's id: the SQS deduplication id, the idempotency key (with broker and
    /// account) and the journal key.
    pub signal_id: SignalId,
    /// The broker whose executor must trade it; an executor fails an intent for another.
    pub broker: Broker,
    /// What to trade, in the broker's naming (`EUR_USD`, `ESZ6`, `BTC-USD`); also the
    /// message group, so one instrument's intents execute in order.
    pub instrument: Instrument,
    /// The alert's action.
    pub action: Action,
    /// The position the action asks the account to end up in ([`Action::target`]).
    pub target: TargetPosition,
    /// The alert's symbol and exchange as sent, for the journal and logs.
    pub symbol: String,
    /// The alert's exchange as sent (`OANDA`, `CME_MINI`).
    pub exchange: String,
    /// The alert's close: paper fills use it, live executors log slippage against it.
    pub reference_price: Decimal,
    /// The alert's `quantity`, if set: the entry size in place of the configured one, in the
    /// broker's units (units for OANDA, whole contracts for Tradovate, quote amount for a
    /// Coinbase buy). The executor refuses it above the configured maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity_override: Option<Decimal>,
    /// The alert's `timenow` (UTC): staleness is measured from it, and an instrument's
    /// signals execute in its order.
    pub signal_time: DateTime<Utc>,
    /// When ingest received the alert's HTTP request (UTC), from the [`SignalMessage`].
    pub received_at: DateTime<Utc>,
    /// When ingest queued the signal (UTC), from the [`SignalMessage`].
    pub enqueued_at: DateTime<Utc>,
    /// When the router routed the signal and built this intent (UTC).
    pub routed_at: DateTime<Utc>,
    /// How a continuous futures symbol (`ES1!`) resolved to `instrument`; `None` for any
    /// other symbol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<ContractResolution>,
    /// The alert as canonical JSON without the passphrase, for the executor's journal.
    pub raw: String,
    /// Carried over from a forced replay: the executor skips its staleness check.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replay_forced: bool,
}

impl OrderIntent {
    /// The intent for `signal` as `route` routed it at `routed_at`: copies the alert's action,
    /// symbol, close, quantity and `timenow`, and the signal's stage times and replay flag.
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

    /// The FIFO message group on the broker queue, upper-cased and cut to SQS's limit: the
    /// instrument, so one instrument's intents execute in order, one at a time; a futures
    /// contract's root (`ESZ6` and `ESH7` → `ES`), since a signal on one contract may trade
    /// another of its root (a roll closes the earlier contract), and two such signals must not
    /// run at once; a Coinbase product's base currency (`BTC-USD` and `BTC-USDC` → `BTC`),
    /// since the position a spot signal reads and sells is the wallet's balance of it: two
    /// entries on two products of one coin, run at once, both read no coins and both bought.
    pub fn group_id(&self) -> String {
        match self.broker {
            Broker::Tradovate => group_id_for(crate::contract_specs::contract_root(
                self.instrument.as_str(),
            )),
            Broker::Coinbase => group_id_for(
                crate::routing::coinbase_currencies(self.instrument.as_str())
                    .map_or(self.instrument.as_str(), |(base, _)| base),
            ),
            Broker::Oanda => group_id_for(self.instrument.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The broker queue's group: an OANDA instrument, a futures root, a Coinbase coin (two
    /// products of one coin read and sell one wallet balance: run at once, two entries both
    /// read no coins and both bought).
    #[test]
    fn one_group_for_what_shares_a_position() {
        let json = r#"{"version":1,"signal_id":"0123456789abcdef0123456789abcdef","broker":"coinbase",
            "instrument":"BTC-USD","symbol":"BTCUSD","exchange":"COINBASE","action":"LONG_ENTRY",
            "target":"long","signal_time":"2026-11-30T15:00:00Z","received_at":"2026-11-30T15:00:00Z",
            "routed_at":"2026-11-30T15:00:00Z","enqueued_at":"2026-11-30T15:00:00Z",
            "reference_price":"97000","raw":"{}"}"#;
        let intent: OrderIntent = match serde_json::from_str(json) {
            Ok(i) => i,
            Err(e) => panic!("{e}"),
        };
        let with = |broker, instrument: &str| OrderIntent {
            broker,
            instrument: crate::routing::Instrument::new(instrument),
            ..intent.clone()
        };
        let group = |broker, instrument| with(broker, instrument).group_id();
        assert_eq!(group(Broker::Coinbase, "BTC-USD"), "BTC");
        assert_eq!(
            group(Broker::Coinbase, "BTC-USD"),
            group(Broker::Coinbase, "BTC-USDC")
        );
        assert_ne!(
            group(Broker::Coinbase, "BTC-USD"),
            group(Broker::Coinbase, "ETH-USD")
        );
        assert_eq!(
            group(Broker::Tradovate, "ESZ6"),
            group(Broker::Tradovate, "ESH7")
        );
        assert_eq!(group(Broker::Oanda, "EUR_USD"), "EUR_USD");
    }
}
