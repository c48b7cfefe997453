//! Health of each broker path, as the status endpoints and `tvctl status` report it.
//!
//! Executors record how each conversation with their broker ended; the token refresher
//! records the token's expiry. Reading it back needs no broker call, so a status check costs
//! one key lookup and never touches an account.

use crate::routing::Broker;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

/// Why a broker conversation did not end well, as far as health is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Nothing could be sent (connection refused, auth failure before any order).
    Unavailable,
    /// An order's fate stayed unknown after lookup.
    Unknown,
    /// The broker said no (margin, halted, invalid).
    Rejected,
    /// The Tradovate token could not be refreshed.
    TokenRefresh,
}

impl FailureKind {
    /// The snake_case name, as serde writes it and the DynamoDB item stores it
    /// (`last_failure_kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unavailable => "unavailable",
            Self::Unknown => "unknown",
            Self::Rejected => "rejected",
            Self::TokenRefresh => "token_refresh",
        }
    }
}

/// What happened on a broker path, as passed to [`HealthStore::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthEvent {
    /// The broker answered and did what was asked (a fill or a confirmed no-op).
    Success,
    /// The conversation ended badly, for this reason.
    Failure(FailureKind),
    /// A fresh token is stored, valid until `expires_at`.
    Token {
        /// When the new token expires (UTC).
        expires_at: DateTime<Utc>,
    },
}

/// What is known about one broker path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerHealth {
    /// When a conversation last succeeded (UTC).
    pub last_success: Option<DateTime<Utc>>,
    /// When a conversation with the broker last failed (UTC). A failed token refresh is
    /// [`Self::last_token_failure`], so it never hides an `unknown` order here.
    pub last_failure: Option<DateTime<Utc>>,
    /// Why that last failure happened. An item written before token refresh failures had a
    /// field of their own may still say [`FailureKind::TokenRefresh`].
    pub last_failure_kind: Option<FailureKind>,
    /// When a token refresh last failed (UTC); only for a broker whose token the refresher
    /// renews (Tradovate). It stops counting once a later refresh stored a token.
    #[serde(default)]
    pub last_token_failure: Option<DateTime<Utc>>,
    /// When the latest stored token expires (UTC); only for a broker whose token the
    /// refresher renews (Tradovate).
    pub token_expires_at: Option<DateTime<Utc>>,
    /// When that token was recorded (UTC).
    pub token_refreshed_at: Option<DateTime<Utc>>,
}

/// Overall state, from the most recent evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Nothing recorded yet.
    Unknown,
    /// No failure since the latest success, and any recorded token is still valid.
    Ok,
    /// The latest conversation failed, or the token has expired.
    Degraded,
}

impl BrokerHealth {
    /// Folds in `event`, observed at `at` (UTC): sets the matching time, plus the failure
    /// kind or the token's expiry. The last call wins, whatever the times.
    pub fn apply(&mut self, at: DateTime<Utc>, event: HealthEvent) {
        match event {
            HealthEvent::Success => self.last_success = Some(at),
            HealthEvent::Failure(FailureKind::TokenRefresh) => self.last_token_failure = Some(at),
            HealthEvent::Failure(kind) => {
                self.last_failure = Some(at);
                self.last_failure_kind = Some(kind);
            }
            HealthEvent::Token { expires_at } => {
                self.token_expires_at = Some(expires_at);
                self.token_refreshed_at = Some(at);
            }
        }
    }

    /// [`Self::last_token_failure`] while it counts: no token stored after it.
    pub fn standing_token_failure(&self) -> Option<DateTime<Utc>> {
        self.last_token_failure
            .filter(|&bad| self.token_failed(bad))
    }

    /// Whether a token refresh that failed at `bad` still counts: no token stored after it.
    fn token_failed(&self, bad: DateTime<Utc>) -> bool {
        self.token_refreshed_at.is_none_or(|t| t <= bad)
    }

    /// The state at `now`: `Degraded` when the token has expired by `now` or a failure is the
    /// latest result, `Unknown` when nothing is recorded, `Ok` otherwise. A failed token refresh stops
    /// counting once a later refresh stored a token: the refresher records no `Success`, so
    /// without it one failed run kept the status degraded until the next trade, a weekend
    /// perhaps, with a valid token stored. It is kept apart from the conversations' failures
    /// so that a token stored later does not clear an `unknown` order's failure too.
    pub fn state(&self, now: DateTime<Utc>) -> HealthState {
        if self.token_expires_at.is_some_and(|e| e <= now) {
            return HealthState::Degraded;
        }
        // An item written before `last_token_failure` existed keeps a token refresh failure
        // under `last_failure`, with its kind.
        let conversation = self.last_failure.filter(|bad| {
            self.last_failure_kind != Some(FailureKind::TokenRefresh) || self.token_failed(*bad)
        });
        let failure = conversation.max(self.standing_token_failure());
        match (self.last_success, failure) {
            (None, None) if self.token_expires_at.is_none() => HealthState::Unknown,
            (Some(ok), Some(bad)) if bad > ok => HealthState::Degraded,
            (None, Some(_)) => HealthState::Degraded,
            _ => HealthState::Ok,
        }
    }
}

/// The health store (or the [`NotifyGate`] on it) could not be read or written: a DynamoDB
/// error, or a stored attribute that does not parse. The text says what failed and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("health store unavailable: {0}")]
pub struct HealthError(pub String);

/// Port: where broker health is kept (DynamoDB in AWS, memory locally).
pub trait HealthStore: Send + Sync {
    /// Records `event` for `broker` at `at` (UTC). `DynamoHealthStore` (`aws-adapters`)
    /// writes a time only if it is later than the stored one, so a late writer never hides a
    /// newer result. `Err` when the store cannot be written.
    fn record(
        &self,
        broker: Broker,
        at: DateTime<Utc>,
        event: HealthEvent,
    ) -> impl Future<Output = Result<(), HealthError>> + Send;

    /// What is recorded for `broker`: an empty [`BrokerHealth`] when nothing is. `Err` when
    /// the store cannot be read or an attribute does not parse.
    fn read(
        &self,
        broker: Broker,
    ) -> impl Future<Output = Result<BrokerHealth, HealthError>> + Send;
}

/// Port: how often an executor may mail about failed signals (the health table's item of the
/// broker in AWS, memory locally). One mail per broker per interval, across every container,
/// so an outage that fails a hundred signals sends one mail that counts them, not a hundred.
pub trait NotifyGate: Send + Sync {
    /// Claims the right to notify now. `Ok(Some(n))`: granted, the last notification was at
    /// least `min_interval` before `now` (or there was none), and `n` were held back since.
    /// `Ok(None)`: one was sent more recently; this one is counted as held back.
    fn admit(
        &self,
        broker: Broker,
        now: DateTime<Utc>,
        min_interval: chrono::Duration,
    ) -> impl Future<Output = Result<Option<u64>, HealthError>> + Send;
}

impl<H: HealthStore + ?Sized> HealthStore for std::sync::Arc<H> {
    fn record(
        &self,
        broker: Broker,
        at: DateTime<Utc>,
        event: HealthEvent,
    ) -> impl Future<Output = Result<(), HealthError>> + Send {
        (**self).record(broker, at, event)
    }

    fn read(
        &self,
        broker: Broker,
    ) -> impl Future<Output = Result<BrokerHealth, HealthError>> + Send {
        (**self).read(broker)
    }
}

/// `None`: no health store configured; records nothing, reads an empty record.
impl<H: HealthStore> HealthStore for Option<H> {
    async fn record(
        &self,
        broker: Broker,
        at: DateTime<Utc>,
        event: HealthEvent,
    ) -> Result<(), HealthError> {
        match self {
            Some(h) => h.record(broker, at, event).await,
            None => Ok(()),
        }
    }

    async fn read(&self, broker: Broker) -> Result<BrokerHealth, HealthError> {
        match self {
            Some(h) => h.read(broker).await,
            None => Ok(BrokerHealth::default()),
        }
    }
}

/// No health store configured: records nothing, reads nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHealth;

impl HealthStore for NoHealth {
    async fn record(&self, _: Broker, _: DateTime<Utc>, _: HealthEvent) -> Result<(), HealthError> {
        Ok(())
    }

    async fn read(&self, _: Broker) -> Result<BrokerHealth, HealthError> {
        Ok(BrokerHealth::default())
    }
}

/// In-process health, for the local stack and tests.
#[derive(Debug, Default)]
pub struct MemoryHealth(Mutex<BTreeMap<Broker, BrokerHealth>>);

impl HealthStore for MemoryHealth {
    async fn record(
        &self,
        broker: Broker,
        at: DateTime<Utc>,
        event: HealthEvent,
    ) -> Result<(), HealthError> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(broker)
            .or_default()
            .apply(at, event);
        Ok(())
    }

    async fn read(&self, broker: Broker) -> Result<BrokerHealth, HealthError> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&broker)
            .cloned()
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        format!("2026-11-23T14:{s}Z").parse().unwrap_or_default()
    }

    #[test]
    fn state_follows_the_latest_evidence() {
        let mut h = BrokerHealth::default();
        assert_eq!(h.state(t("00:00")), HealthState::Unknown);
        h.apply(t("01:00"), HealthEvent::Success);
        assert_eq!(h.state(t("02:00")), HealthState::Ok);
        h.apply(t("03:00"), HealthEvent::Failure(FailureKind::Unknown));
        assert_eq!(h.state(t("04:00")), HealthState::Degraded);
        assert_eq!(h.last_failure_kind, Some(FailureKind::Unknown));
        h.apply(t("05:00"), HealthEvent::Success);
        assert_eq!(h.state(t("06:00")), HealthState::Ok);
    }

    #[test]
    fn an_expired_token_degrades_even_after_a_success() {
        let mut h = BrokerHealth::default();
        h.apply(
            t("00:00"),
            HealthEvent::Token {
                expires_at: t("10:00"),
            },
        );
        assert_eq!(h.state(t("01:00")), HealthState::Ok);
        h.apply(t("02:00"), HealthEvent::Success);
        assert_eq!(h.state(t("10:00")), HealthState::Degraded);
    }

    /// A failed token refresh degrades the path until a later refresh stores a token (the
    /// refresher records no success of its own); a failure of a trade does not end so.
    #[test]
    fn a_refresh_that_stores_a_token_clears_an_earlier_failed_refresh() {
        let token = |at| HealthEvent::Token { expires_at: at };
        let mut h = BrokerHealth::default();
        h.apply(t("00:00"), HealthEvent::Success);
        h.apply(t("01:00"), token(t("59:00")));
        h.apply(t("02:00"), HealthEvent::Failure(FailureKind::TokenRefresh));
        assert_eq!(h.state(t("03:00")), HealthState::Degraded);
        h.apply(t("12:00"), token(t("59:00")));
        assert_eq!(h.state(t("13:00")), HealthState::Ok);
        // With no success ever recorded, too.
        let mut fresh = BrokerHealth::default();
        fresh.apply(t("02:00"), HealthEvent::Failure(FailureKind::TokenRefresh));
        assert_eq!(fresh.state(t("03:00")), HealthState::Degraded);
        fresh.apply(t("12:00"), token(t("59:00")));
        assert_eq!(fresh.state(t("13:00")), HealthState::Ok);
        // A trade's failure is not a refresh's: a token stored after it leaves it standing.
        h.apply(t("20:00"), HealthEvent::Failure(FailureKind::Rejected));
        h.apply(t("21:00"), token(t("59:00")));
        assert_eq!(h.state(t("22:00")), HealthState::Degraded);
    }

    /// An `unknown` order, then a failed and a successful token refresh: the order's failure
    /// still counts (the refresh's token does not clear it), until a conversation succeeds.
    #[test]
    fn a_stored_token_does_not_clear_a_failed_conversation() {
        let mut h = BrokerHealth::default();
        h.apply(t("00:00"), HealthEvent::Success);
        h.apply(t("01:00"), HealthEvent::Failure(FailureKind::Unknown));
        h.apply(t("02:00"), HealthEvent::Failure(FailureKind::TokenRefresh));
        h.apply(
            t("03:00"),
            HealthEvent::Token {
                expires_at: t("59:00"),
            },
        );
        assert_eq!(h.state(t("04:00")), HealthState::Degraded);
        assert_eq!(h.last_failure_kind, Some(FailureKind::Unknown));
        assert_eq!(h.last_token_failure, Some(t("02:00")));
        h.apply(t("05:00"), HealthEvent::Success);
        assert_eq!(h.state(t("06:00")), HealthState::Ok);
        // An item of the earlier shape: the refresh's failure under `last_failure`.
        let legacy = BrokerHealth {
            last_success: Some(t("00:00")),
            last_failure: Some(t("02:00")),
            last_failure_kind: Some(FailureKind::TokenRefresh),
            token_refreshed_at: Some(t("03:00")),
            token_expires_at: Some(t("59:00")),
            ..BrokerHealth::default()
        };
        assert_eq!(legacy.state(t("04:00")), HealthState::Ok);
    }

    #[tokio::test]
    async fn memory_store_keeps_brokers_apart() {
        let m = MemoryHealth::default();
        m.record(Broker::Oanda, t("01:00"), HealthEvent::Success)
            .await
            .unwrap_or_default();
        assert_eq!(
            m.read(Broker::Oanda)
                .await
                .ok()
                .and_then(|h| h.last_success),
            Some(t("01:00"))
        );
        assert_eq!(
            m.read(Broker::Coinbase).await.ok(),
            Some(BrokerHealth::default())
        );
    }
}
