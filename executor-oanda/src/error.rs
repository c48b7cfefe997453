//! OANDA errors, split the way the execution protocol needs them: a definitive answer from
//! OANDA versus an outcome we cannot know without looking it up.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OandaError {
    /// The request may have reached OANDA (timeout, 5xx, connection dropped, unreadable 2xx):
    /// for an order, resolve by lookup, never by resending blindly.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// An order request that never left: the connection to OANDA could not be made
    /// (`executor_runtime::http::never_sent`). Nothing was carried out; the execution core
    /// still confirms by lookup before it sends again.
    #[error("not sent: could not connect to OANDA ({0})")]
    NotSent(String),
    /// OANDA answered with a definitive error status.
    #[error("OANDA answered {status}: {}", [code.as_str(), message.as_str()].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" "))]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// A read could not be completed after its retries.
    #[error("OANDA unreachable: {0}")]
    Unreachable(String),
    /// HTTP 429: over OANDA's rate ("120 requests per second. Excess requests will receive"
    /// an error, <https://developer.oanda.com/rest-live-v20/development-guide/>; 429 is the
    /// status of a request over a rate limit, RFC 6585, section 4). Neither says an order
    /// answered so was not carried out: the core sends again only after a lookup of every
    /// transaction since the send (checked whole) finds none of ours and the position has
    /// not moved, which is safe whichever way OANDA behaves. `retry_after` is the
    /// `Retry-After` header when one came (seconds); OANDA documents none.
    #[error("OANDA rate limit (HTTP 429){}", .retry_after.map(|d| format!(", retry after {} s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        retry_after: Option<std::time::Duration>,
    },
    /// OANDA answered, but its answer disagrees with itself (transaction pages that do not
    /// hold the query's `count`): a list that cannot be taken as whole.
    #[error("OANDA's answer is not whole: {0}")]
    Incomplete(String),
    /// The base URL refused before any request (see `executor_runtime::http::check_base_url`).
    #[error("{0}")]
    BaseUrl(String),
    /// The account summary answered 404: no such account at this host for this token (a
    /// setting to fix, after which its signals can be replayed: a read error that sends the
    /// signal back through its queue, not a refusal).
    #[error("{0}")]
    NoAccount(String),
}

impl OandaError {
    /// Worth retrying a read: the network or OANDA's side failed, not our request.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unknown(_)
            | Self::NotSent(_)
            | Self::Unreachable(_)
            | Self::Incomplete(_)
            | Self::RateLimited { .. } => true,
            Self::Api { status, .. } => *status == 429 || *status >= 500,
            Self::BaseUrl(_) | Self::NoAccount(_) => false,
        }
    }
}
