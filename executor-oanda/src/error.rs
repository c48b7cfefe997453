//! OANDA errors, split the way the execution protocol needs them: a definitive answer from
//! OANDA versus an outcome we cannot know without looking it up.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OandaError {
    /// The request may have reached OANDA (timeout, 5xx, connection dropped, unreadable 2xx):
    /// for an order, resolve by lookup, never by resending blindly.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// OANDA answered with a definitive error status.
    #[error("OANDA answered {status}: {code} {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// A read could not be completed after its retries.
    #[error("OANDA unreachable: {0}")]
    Unreachable(String),
}

impl OandaError {
    /// Worth retrying a read: the network or OANDA's side failed, not our request.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unknown(_) | Self::Unreachable(_) => true,
            Self::Api { status, .. } => *status == 429 || *status >= 500,
        }
    }
}
