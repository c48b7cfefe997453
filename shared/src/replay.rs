//! Dead-letter replay: what a dead-lettered message holds, whether it may go back, and the
//! audit record every replay (dry runs included) leaves in the journal.
//!
//! A signal older than its max age is refused unless the operator forces it; a forced replay
//! is marked in the message so the executor honours it. Replays are safe to repeat: the
//! executor's idempotency record (keyed by SignalId) makes a replay of a signal that did
//! trade an acknowledgement, not a second order.

use crate::execution::JournalError;
use crate::message::{INTENT_VERSION, OrderIntent, SIGNAL_VERSIONS, SignalMessage};
use crate::signal::SignalId;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// A message read from a dead-letter queue, as the router or an executor would have read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetter {
    /// From the `signals` dead-letter queue (router input).
    Signal(SignalMessage),
    /// From a broker dead-letter queue (executor input).
    Intent(OrderIntent),
}

impl DeadLetter {
    /// Reads a message body: an [`OrderIntent`] when it parses as one, else a
    /// [`SignalMessage`]; `Err` with the JSON error when it is neither, or naming the version
    /// when its `version` is not one this build reads ([`INTENT_VERSION`], [`SIGNAL_VERSIONS`]): a
    /// replay writes the message out again from this build's types, which would drop what a
    /// newer shape added and still call it the newer version.
    pub fn parse(body: &str) -> Result<Self, String> {
        let letter = match Self::read(body) {
            Ok(letter) => letter,
            // A newer shape (a field added or renamed, a new action) does not read as this
            // build's: its `version` alone says which build can replay it.
            Err(e) => {
                let version = serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("version")?.as_u64());
                return Err(match version {
                    Some(v)
                        if v != u64::from(INTENT_VERSION)
                            && !u32::try_from(v).is_ok_and(|v| SIGNAL_VERSIONS.contains(&v)) =>
                    {
                        format!(
                            "a message of version {v}, where this build reads version \
                             {INTENT_VERSION} (intents) and {} to {} (signals): replay \
                             it with the tvctl of the deployment that wrote it",
                            SIGNAL_VERSIONS.start(),
                            SIGNAL_VERSIONS.end()
                        )
                    }
                    _ => e,
                });
            }
        };
        let (kind, version, reads) = match &letter {
            Self::Intent(i) => (
                "an order intent",
                i.version,
                INTENT_VERSION..=INTENT_VERSION,
            ),
            Self::Signal(s) => ("a signal", s.version, SIGNAL_VERSIONS),
        };
        if !reads.contains(&version) {
            return Err(format!(
                "{kind} of version {version}, where this build reads version {}: \
                 replay it with the tvctl of the deployment that wrote it",
                if reads.start() == reads.end() {
                    reads.start().to_string()
                } else {
                    format!("{} to {}", reads.start(), reads.end())
                }
            ));
        }
        Ok(letter)
    }

    /// Reads a message body as [`Self::parse`] does, whatever its `version`: to describe a
    /// letter (its signal, summary and age, which every version carries), never to replay it.
    pub fn read(body: &str) -> Result<Self, String> {
        match serde_json::from_str::<OrderIntent>(body) {
            Ok(i) => Ok(Self::Intent(i)),
            Err(_) => serde_json::from_str::<SignalMessage>(body)
                .map(Self::Signal)
                .map_err(|e| format!("neither a signal nor an order intent: {e}")),
        }
    }

    /// The id of the signal the message carries.
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

    /// The FIFO message group to send it back under, the one its queue uses today: the symbol
    /// for a signal, [`OrderIntent::group_id`] for an intent (the instrument, a futures root at
    /// Tradovate), whatever group the letter was sent under.
    pub fn group_id(&self) -> String {
        match self {
            Self::Signal(s) => s.group_id(),
            Self::Intent(i) => i.group_id(),
        }
    }

    /// A one-line description for listings: `<action> <symbol> on <exchange>` for a signal,
    /// `<action> <instrument> at <broker>` for an intent.
    pub fn summary(&self) -> String {
        match self {
            Self::Signal(s) => format!(
                "{} {} on {}",
                s.alert.action, s.alert.market_data.symbol, s.alert.market_data.exchange
            ),
            Self::Intent(i) => format!("{} {} at {}", i.action, i.instrument, i.broker),
        }
    }

    /// The body a look-up-only replay sends back: never marked forced, even when an earlier
    /// forced replay's letter was (the executor then holds it to the age limit and sends
    /// nothing for it).
    pub fn lookup_only_body(&self) -> String {
        self.body_with(|_| false)
    }

    /// The body to send back, marked as forced when this replay is, and only then: a letter
    /// an earlier forced replay marked (its attempt ended unknown and was dead-lettered
    /// again, the intent as it was) goes back unforced unless forced again, so the executor
    /// holds it to the age limit and supersedes it, as the operator asked.
    pub fn replay_body(&self, forced: bool) -> String {
        self.body_with(|_| forced)
    }

    /// The letter's body with its `replay_forced` mark set to `mark(as it was)`.
    fn body_with(&self, mark: impl Fn(bool) -> bool) -> String {
        let out = match self.clone() {
            Self::Signal(mut s) => {
                s.replay_forced = mark(s.replay_forced);
                serde_json::to_string(&s)
            }
            Self::Intent(mut i) => {
                i.replay_forced = mark(i.replay_forced);
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
    /// Send it back to its source queue.
    Replay {
        /// The signal is older than the max age and the operator forced it: the body is
        /// marked so the executor trades it anyway.
        forced: bool,
    },
    /// Leave it in the dead-letter queue: the signal is older than the max age and the
    /// operator did not force it.
    Refused {
        /// For the operator: the signal's age and the max age, in seconds.
        reason: String,
    },
}

/// Whether `letter` may be replayed at `now`: refused when its signal (by `timenow`) is older
/// than `max_age`, unless `force`; a replay of such an old signal is marked forced.
pub fn decide(letter: &DeadLetter, now: DateTime<Utc>, max_age: Duration, force: bool) -> Decision {
    let age = now - letter.signal_time();
    if age > max_age && !force {
        // A look-up-only replay takes it only past the clocks' margin too
        // ([`decide_lookup_only`]): within it, said when, not suggested for now.
        let lookup = max_age + crate::ports::HAND_OVER_SKEW;
        let reconcile = if age > lookup {
            "replay with --lookup-only to have the executor reconcile it without trading".to_owned()
        } else {
            format!(
                "replay with --lookup-only once it is over {} s old (in {} s) to have the \
                 executor reconcile it without trading",
                lookup.num_seconds(),
                (lookup - age).num_seconds() + 1
            )
        };
        return Decision::Refused {
            reason: format!(
                "signal is {} s old, over the {} s max age; {reconcile}, or with --force to \
                 trade it anyway",
                age.num_seconds(),
                max_age.num_seconds()
            ),
        };
    }
    Decision::Replay {
        forced: age > max_age,
    }
}

/// A look-up-only replay of `letter` at `now` (`tvctl dlq replay --lookup-only`): sent back
/// unforced, so that the executor, which holds the same `max_age`, finds the signal stale and
/// sends nothing (a takeover reads what an earlier attempt did and journals it; a signal no
/// attempt took ends `expired`). Refused while the signal is within `max_age` and
/// [`HAND_OVER_SKEW`](crate::ports::HAND_OVER_SKEW) more (the executor's clock may run behind
/// this one's): sent back then, it could still trade. `max_age` must be the executors' own
/// (`MAX_ALERT_AGE_SECS`).
pub fn decide_lookup_only(letter: &DeadLetter, now: DateTime<Utc>, max_age: Duration) -> Decision {
    let age = now - letter.signal_time();
    let margin = crate::ports::HAND_OVER_SKEW;
    if age <= max_age + margin {
        return Decision::Refused {
            reason: format!(
                "signal is {} s old, within the {} s max age (and {} s for the clocks): sent \
                 back now it could still trade; replay it without --lookup-only, or once it \
                 is older",
                age.num_seconds(),
                max_age.num_seconds(),
                margin.num_seconds()
            ),
        };
    }
    Decision::Replay { forced: false }
}

/// One line of the replay audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayAudit {
    /// When the replay ran (UTC).
    pub at: DateTime<Utc>,
    /// The dead-letter queue's name (in SQS the last part of its URL).
    pub queue: String,
    /// The dead-lettered message's id (the SQS message id).
    pub message_id: String,
    /// The signal the message carries; `None` when its body could not be read.
    pub signal_id: Option<SignalId>,
    /// Whether the replay was, or would be, forced past the max age.
    pub forced: bool,
    /// A dry run: nothing was sent or deleted.
    pub dry_run: bool,
    /// `replayed`, `refused: …`, `would replay`, `unreadable: …`.
    pub result: String,
    /// Who ran the replay (`tvctl` takes `$USER`, or `unknown`).
    pub operator: String,
}

/// Port: where replay audit lines are kept, the trade journal: the `journal` crate's
/// PostgreSQL or SQLite journal, [`MemoryJournal`](crate::memory::MemoryJournal) locally.
pub trait AuditLog: Send + Sync {
    /// Appends `audit` to the trail; `Err` when the journal cannot be written (a database
    /// error, or the memory journal's simulated outage).
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
