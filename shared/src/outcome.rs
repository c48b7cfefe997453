//! What became of a signal at the broker. "Unknown" is a state of its own: it means the
//! request may have reached the broker and must be resolved by lookup, never by resending.

use serde::{Deserialize, Serialize};

/// The state of one signal at the broker, serialised in snake_case (`filled`, `no_op`,
/// `not_executed`, ...). Every state but `Unknown` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The broker filled or accepted the order(s).
    Filled,
    /// The account was already at the target.
    NoOp,
    /// The broker gave a definitive no (margin, halted, invalid): journaled, not retried.
    Rejected,
    /// A local guard refused it (kill switch, max position, trading window, unroutable).
    Refused,
    /// Too old when it reached the executor, or the staleness budget ran out before the
    /// signal could complete.
    Expired,
    /// The broker documented that it did not carry the request out (a rate limit, a penalty
    /// ticket, "try later"), confirmed by lookup, and no later send fit the staleness budget.
    /// Nothing was created; never journaled as `rejected`.
    NotExecuted,
    /// Older (by the alert's `timenow`) than a signal already executed for the same account
    /// and instrument: the strategy has moved on, so no order. Journaled and acknowledged.
    Superseded,
    /// Timeout, 5xx or transport error after the request may have left.
    Unknown,
}

impl Outcome {
    /// Whether the signal is finished: only `Unknown` still needs work.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Unknown)
    }
}
