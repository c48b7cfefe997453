//! Coinbase errors, split the way the execution protocol needs them: a definitive answer from
//! Coinbase versus an outcome we cannot know without looking it up.

use crate::auth::KeyError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoinbaseError {
    /// The order request may have reached Coinbase (timeout, 5xx, 429, connection dropped,
    /// unreadable 2xx): resolve by lookup, never by resending blindly.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// 401 or 403: the key is wrong, expired, lacks a scope (a 403, by the SDK's reading:
    /// the key cannot trade), or the clock is off by more than the token's two minutes; a
    /// 401 may also be one Coinbase answers a correctly signed token now and then (read
    /// again; to an order, looked up: see the venue).
    #[error(
        "Coinbase refused the API key ({status}): {message}; check COINBASE_API_KEY_NAME, the key's view/trade permissions and the clock"
    )]
    Auth {
        status: u16,
        message: String,
        /// A 403 whose `error_details` says "Missing required scopes": the key lacks the
        /// permission the request needs (the official SDK's reading of that answer,
        /// `coinbase-advanced-py`, `rest_base.handle_exception`).
        missing_scopes: bool,
    },
    /// Coinbase answered with a definitive error status.
    #[error("Coinbase answered {status}: {error} {message}")]
    Api {
        status: u16,
        error: String,
        message: String,
    },
    /// A read could not be completed after its retries.
    #[error("Coinbase unreachable: {0}")]
    Unreachable(String),
    /// A list Coinbase answered cannot be read whole (a page that says more follow gives no
    /// cursor to them; the order list's endpoint answered 404): what it leaves out is not
    /// taken for nothing.
    #[error("Coinbase's {0}")]
    Incomplete(String),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("invalid Coinbase base URL: {0}")]
    BaseUrl(String),
}

impl CoinbaseError {
    /// Worth retrying a read: the network or Coinbase's side failed, not our request. A 401
    /// too: Coinbase documents no status for its reads, and answers a correctly signed token
    /// 401 now and then, accepting it on the next try (reported on the official SDK's tracker,
    /// <https://github.com/coinbase/coinbase-advanced-py/issues/132>); a read asked again,
    /// signed anew, changes nothing. A key that is wrong stays refused after the tries.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unknown(_) | Self::Unreachable(_) => true,
            Self::Api { status, .. } => *status == 429 || *status >= 500,
            Self::Auth { status, .. } => *status == 401,
            Self::Key(_) | Self::BaseUrl(_) | Self::Incomplete(_) => false,
        }
    }
}
