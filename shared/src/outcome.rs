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
    /// Too old when it reached the executor, or the staleness budget (or, when sooner, the
    /// attempt's lease) ran out before the signal could complete.
    Expired,
    /// The broker documented that it did not carry the request out (a penalty ticket, "try
    /// later"), or the request never left, confirmed by lookup, and no later send fit the
    /// staleness budget: nothing was created; never journaled as `rejected`. Also the row of
    /// a send whose lookup found nothing before the leg was sent again (its error says so;
    /// the leg's result is the last row's).
    NotExecuted,
    /// Older (by the alert's `timenow`) than a signal already taken for the same account and
    /// instrument (its first order sent, or its account found at its target): the strategy
    /// has moved on, so no order. Journaled and acknowledged.
    Superseded,
    /// Timeout, 5xx or transport error after the request may have left.
    Unknown,
}

impl Outcome {
    /// Every outcome, in declaration order.
    pub const ALL: [Outcome; 8] = [
        Self::Filled,
        Self::NoOp,
        Self::Rejected,
        Self::Refused,
        Self::Expired,
        Self::NotExecuted,
        Self::Superseded,
        Self::Unknown,
    ];

    /// The stored name, the same as serde's (`filled`, `no_op`, ...): what the idempotency
    /// stores write.
    pub fn as_str(self) -> &'static str {
        match self {
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

    /// The outcome a stored name stands for; `None` for a name that is none of them.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// Whether the signal is finished: only `Unknown` still needs work.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_are_serdes_and_read_back() {
        for o in Outcome::ALL {
            assert_eq!(
                serde_json::to_value(o).ok(),
                Some(serde_json::Value::String(o.as_str().into()))
            );
            assert_eq!(Outcome::from_name(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::from_name("Filled"), None);
    }
}
