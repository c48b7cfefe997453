//! Dead-letter replay: what a dead-lettered message holds, whether it may go back, and the
//! audit record every replay (dry runs included) leaves in the journal.
//!
//! A signal older than its max age is refused unless the operator forces it; a forced replay
//! is marked in the message so the executor honours it. Replays are safe to repeat: the
//! executor's idempotency record (keyed by SignalId) makes a replay of a signal that did
//! trade an acknowledgement, not a second order.

use crate::execution::JournalError;
use crate::message::{OrderIntent, SignalMessage};
use crate::signal::SignalId;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::future::Future;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetter {
    /// From the `signals` dead-letter queue (router input).
    Signal(SignalMessage),
    /// From a broker dead-letter queue (executor input).
    Intent(OrderIntent),
}

impl DeadLetter {
    pub fn parse(body: &str) -> Result<Self, String> {
        if let Ok(i) = serde_json::from_str::<OrderIntent>(body) {
            return Ok(Self::Intent(i));
        }
        serde_json::from_str::<SignalMessage>(body)
            .map(Self::Signal)
            .map_err(|e| format!("neither a signal nor an order intent: {e}"))
    }

    pub fn signal_id(&self) -> &SignalId {
        match self {
            Self::Signal(s) => &s.signal_id,
            Self::Intent(i) => &i.signal_id,
        }
    }

    /// When the alert fired (`timenow`).
    pub fn signal_time(&self) -> DateTime<Utc> {
        match self {
            Self::Signal(s) => s.alert.market_data.timenow,
            Self::Intent(i) => i.signal_time,
        }
    }

    pub fn group_id(&self) -> String {
        match self {
            Self::Signal(s) => s.group_id(),
            Self::Intent(i) => i.group_id(),
        }
    }

    pub fn summary(&self) -> String {
        match self {
            Self::Signal(s) => format!(
                "{} {} on {}",
                s.alert.action, s.alert.market_data.symbol, s.alert.market_data.exchange
            ),
            Self::Intent(i) => format!("{} {} at {}", i.action, i.instrument, i.broker),
        }
    }

    /// The body to send back, marked as forced when it is.
    pub fn replay_body(&self, forced: bool) -> String {
        let out = match self.clone() {
            Self::Signal(mut s) => {
                s.replay_forced |= forced;
                serde_json::to_string(&s)
            }
            Self::Intent(mut i) => {
                i.replay_forced |= forced;
                serde_json::to_string(&i)
            }
        };
        out.unwrap_or_default()
    }
}

/// What a replay of one message will do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum Decision {
    Replay { forced: bool },
    Refused { reason: String },
}

pub fn decide(letter: &DeadLetter, now: DateTime<Utc>, max_age: Duration, force: bool) -> Decision {
    let age = now - letter.signal_time();
    if age > max_age && !force {
        return Decision::Refused {
            reason: format!(
                "signal is {} s old, over the {} s max age; replay with --force to trade it anyway",
                age.num_seconds(),
                max_age.num_seconds()
            ),
        };
    }
    Decision::Replay {
        forced: age > max_age,
    }
}

/// One line of the replay audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayAudit {
    pub at: DateTime<Utc>,
    pub queue: String,
    pub message_id: String,
    pub signal_id: Option<SignalId>,
    pub forced: bool,
    pub dry_run: bool,
    /// `replayed`, `refused: …`, `would replay`, `unreadable: …`.
    pub result: String,
    pub operator: String,
}

pub trait AuditLog: Send + Sync {
    fn record_replay(
        &self,
        audit: &ReplayAudit,
    ) -> impl Future<Output = Result<(), JournalError>> + Send;
}

impl<T: AuditLog + ?Sized> AuditLog for std::sync::Arc<T> {
    fn record_replay(
        &self,
        audit: &ReplayAudit,
    ) -> impl Future<Output = Result<(), JournalError>> + Send {
        (**self).record_replay(audit)
    }
}
