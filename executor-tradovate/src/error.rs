//! Tradovate errors. Tradovate reports most failures as HTTP 200 with a body that says so;
//! these variants say which kind, because the protocol treats them differently.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TvError {
    /// An order request may have been carried out (timeout, 5xx, unreadable answer):
    /// reconcile, never resend blindly.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// 401: the token is expired or invalid. A read so answered is asked again with a renewed
    /// token; an order command is looked up, never sent again (Tradovate does not document
    /// that a 401 order command was not placed).
    #[error("unauthorized (token expired or invalid)")]
    Unauthorized,
    /// HTTP 200 with `errorText`, `failureReason` or `violations`: a definitive no.
    #[error("Tradovate refused: {0}")]
    Refused(String),
    /// A penalty we cannot wait out here (a captcha, longer than we may wait, or a `p-time`
    /// missing or unreadable: `wait_secs` `None`, never taken as leave to resend at once).
    #[error("Tradovate penalty: {}{}", match .wait_secs { Some(s) => format!("wait {s} s"), None => "no readable p-time".into() }, if *.captcha { " (captcha: about an hour)" } else { "" })]
    Penalty {
        wait_secs: Option<u64>,
        captcha: bool,
    },
    /// 429: Tradovate asks for about an hour without requests (its rate-limits page shows the
    /// answer with no body and no `Retry-After`:
    /// <https://partner.tradovate.com/overview/core-concepts/rate-limits>), and does not say
    /// whether the request was carried out. A 423 is the same: the page asks a client that
    /// gets one to stop all API calls for the hour. A login's or renewal's captcha penalty,
    /// which a server cannot solve, starts the same stop but is answered as
    /// [`TvError::Penalty`] with `captcha` (`client::TradovateClient`): match both. Nothing
    /// is asked again within the signal, not even a lookup: an order command's leg ends
    /// `unknown`.
    #[error(
        "Tradovate rate limit (a 429, the 423 that precedes it, or a login's or renewal's captcha penalty): about an hour without requests, as Tradovate asks"
    )]
    RateLimited,
    /// An order command not sent: Tradovate answered a request of this process, or of
    /// another one that stored the stop beside the token, 429 less than an hour ago
    /// (`client::RATE_LIMIT_STOP`); about this many minutes are left.
    #[error(
        "not sent: Tradovate answered 429 (or 423, or a login with a captcha penalty) within the last hour and asks for no requests for about an hour ({0} min left)"
    )]
    Stopped(u64),
    /// An order command that never left: the connection to Tradovate could not be made
    /// (`executor_runtime::http::never_sent`). Nothing was carried out; the execution core
    /// still confirms by lookup before it sends again.
    #[error("not sent: could not connect to Tradovate ({0})")]
    NotSent(String),
    /// Another HTTP error status.
    #[error("Tradovate answered {status}: {message}")]
    Api { status: u16, message: String },
    /// A read failed after its retries.
    #[error("Tradovate unreachable: {0}")]
    Unreachable(String),
    /// An order command not sent (again): the signal's send deadline (the staleness budget,
    /// or the attempt's lease when sooner) passed first (while the token was got or renewed).
    #[error(
        "not sent: the send deadline (the staleness budget, or the attempt's lease when sooner) passed while the token was got or renewed"
    )]
    PastDeadline,
    /// The base URL refused before any request (see `executor_runtime::http::check_base_url`).
    #[error("{0}")]
    BaseUrl(String),
    /// We refuse to log in (or renew) again: the limit of authentication requests a minute
    /// is reached.
    #[error("login limit reached ({0} logins and token renewals in the last minute)")]
    LoginLimit(usize),
    /// No token to send an order command with: its renewal or login met a rate limit (a 429
    /// or a penalty not waited out), or was not tried within a 429's stop. The command was
    /// never built, so nothing is looked up either: every read would lengthen the stop.
    #[error("not sent: no Tradovate token, its renewal is rate limited ({0})")]
    TokenRateLimited(String),
    /// No token to send with: its login or renewal failed, or the token store or its lock
    /// could not be used. Nothing was sent.
    #[error("no Tradovate token: {0}")]
    NoToken(String),
    /// A token request (`/auth/accesstokenrequest`, `/auth/renewaccesstoken`) answered 200
    /// without an `accessToken` and an `expirationTime` this client can read (RFC 3339, as
    /// Tradovate's AccessTokenResponse gives it). Not a refusal: the login may have opened a
    /// session, and Tradovate does not document the renewal's answer apart from the login's,
    /// so it is not remembered as a refused login (which stops trading a minute and tells the
    /// trader to check the credentials); nothing was sent with it.
    #[error("Tradovate's token answer could not be read: {0}")]
    UnreadableToken(String),
    /// No token: Tradovate refused the login (a changed password, a wrong API key). Nothing
    /// was sent, and the signal is not retried: a refused login tried again and again could
    /// lock the user out.
    #[error("no Tradovate token: the login was refused: {0}")]
    LoginRefused(String),
}

impl TvError {
    /// Worth retrying a read with backoff.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unknown(_) | Self::Unreachable(_))
            || matches!(self, Self::Api { status, .. } if *status >= 500)
    }
}
