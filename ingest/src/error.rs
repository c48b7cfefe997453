//! What ingest answers, and the one place refusals become HTTP statuses.

use shared::AlertError;
use shared::health::HealthError;
use shared::ports::QueueError;

/// Why an authentication failed. Only logged: every variant answers the same 401 body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    SourceIpNotAllowed,
    NoSecret,
    WrongSecret,
}

impl AuthFailure {
    /// What an operator can check, for the operator's own console (the local stack's), never
    /// the answer: the sender gets the same 401 body whatever failed.
    pub fn hint(self) -> &'static str {
        match self {
            Self::SourceIpNotAllowed => {
                "the sender's address is not in the IP allowlist (IP_ALLOWLIST)"
            }
            Self::NoSecret => {
                "no secret: neither the path (/webhook/<secret>) nor the alert's body gave one"
            }
            Self::WrongSecret => {
                "the secret given (in the path or the alert's body) is not this stack's \
                 WEBHOOK_SECRET: the sender (tvctl send, the TradingView alert) and the stack \
                 must use the same one"
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SourceIpNotAllowed => "source_ip_not_allowed",
            Self::NoSecret => "no_secret",
            Self::WrongSecret => "wrong_secret",
        }
    }
}

/// The answer to a body that could not be read before its sender was authenticated
/// ([`IngestError::Unread`]).
pub const UNREAD_MESSAGE: &str = "the body could not be read as an alert, so the passphrase in it \
     could not be checked; what was wrong is told only to a sender with the webhook secret: \
     send the alert to /webhook/<secret> to have it in the answer, or read the webhook's log";

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("no such route")]
    NotFound,
    /// `allow`: the methods the route answers, for the `Allow` header a 405 must carry
    /// (RFC 9110, section 15.5.6: <https://www.rfc-editor.org/rfc/rfc9110#section-15.5.6>).
    #[error("method not allowed on this route (it answers {allow})")]
    MethodNotAllowed { allow: &'static str },
    #[error("unauthorized")]
    Unauthorized(AuthFailure),
    #[error(transparent)]
    Alert(#[from] AlertError),
    /// A body that could not be read as an alert before its sender was authenticated (no
    /// secret in the path, so the passphrase was to come from the body). Answered with the
    /// alert error's status and code only: its message quotes the sender's keys and values,
    /// which, cut and scrubbed of the secret's parts, would let anyone without the secret
    /// guess it a character at a time from what the scrub hides. The details are logged.
    #[error(transparent)]
    Unread(AlertError),
    #[error("the alert could not be queued: {0}")]
    Enqueue(QueueError),
    #[error("broker health could not be read: {0}")]
    Health(HealthError),
}

impl IngestError {
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::Unauthorized(_) => 401,
            Self::Alert(e) | Self::Unread(e) => match e {
                AlertError::PayloadTooLarge { .. } => 413,
                AlertError::MalformedJson { .. } => 400,
                _ => 422,
            },
            Self::Enqueue(_) | Self::Health(_) => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Unauthorized(_) => "unauthorized",
            Self::Alert(e) | Self::Unread(e) => e.code().as_str(),
            Self::Enqueue(_) => "enqueue_failed",
            Self::Health(_) => "health_unavailable",
        }
    }

    /// The message the sender sees. Auth failures say nothing beyond the code; queue
    /// failures do not expose queue names.
    pub fn public_message(&self) -> String {
        match self {
            Self::Unauthorized(_) => "unauthorized".into(),
            Self::Enqueue(_) => "the alert could not be queued; resending it is safe".into(),
            Self::Health(_) => "broker health could not be read".into(),
            Self::Unread(_) => UNREAD_MESSAGE.into(),
            other => other.to_string(),
        }
    }
}
