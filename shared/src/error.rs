//! Why an alert was refused. Every refusal has a stable machine code ([`ErrorCode`]) and a
//! message naming the field; the HTTP status is chosen at the edge (ingest), not here.

use std::fmt;

/// Stable machine codes. Renaming one breaks users' dashboards and scripts: add, never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    PayloadTooLarge,
    MalformedJson,
    MissingField,
    InvalidField,
    UnsubstitutedPlaceholder,
    UnknownAction,
    UnknownExchange,
    UnroutableSymbol,
    InconsistentSignal,
    InvalidNumber,
    InvalidTime,
    StaleAlert,
    AlertFromFuture,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 13] = [
        Self::PayloadTooLarge,
        Self::MalformedJson,
        Self::MissingField,
        Self::InvalidField,
        Self::UnsubstitutedPlaceholder,
        Self::UnknownAction,
        Self::UnknownExchange,
        Self::UnroutableSymbol,
        Self::InconsistentSignal,
        Self::InvalidNumber,
        Self::InvalidTime,
        Self::StaleAlert,
        Self::AlertFromFuture,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PayloadTooLarge => "payload_too_large",
            Self::MalformedJson => "malformed_json",
            Self::MissingField => "missing_field",
            Self::InvalidField => "invalid_field",
            Self::UnsubstitutedPlaceholder => "unsubstituted_placeholder",
            Self::UnknownAction => "unknown_action",
            Self::UnknownExchange => "unknown_exchange",
            Self::UnroutableSymbol => "unroutable_symbol",
            Self::InconsistentSignal => "inconsistent_signal",
            Self::InvalidNumber => "invalid_number",
            Self::InvalidTime => "invalid_time",
            Self::StaleAlert => "stale_alert",
            Self::AlertFromFuture => "alert_from_future",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    #[error("body is {size} bytes, over the {limit}-byte limit")]
    PayloadTooLarge { size: usize, limit: usize },
    #[error("body is not valid JSON: {reason} at line {line}, column {column}")]
    MalformedJson {
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("{field} is required")]
    MissingField { field: String },
    #[error("{field} must be {expected}")]
    InvalidField {
        field: String,
        expected: &'static str,
    },
    #[error("unsubstituted TradingView placeholders in: {}", list_fields(fields))]
    UnsubstitutedPlaceholder { fields: Vec<String> },
    #[error(
        "action: {value:?} is not one of LONG_ENTRY, SHORT_ENTRY, LONG_EXIT, SHORT_EXIT, FLATTEN"
    )]
    UnknownAction { value: String },
    #[error("market_data.exchange: {value:?} is not routed to any broker")]
    UnknownExchange { value: String },
    #[error("market_data.symbol: {symbol:?} on {exchange} cannot be routed: {reason}")]
    UnroutableSymbol {
        symbol: String,
        exchange: String,
        reason: String,
    },
    #[error(
        "signal: action {action} needs signal.type {expected_type} and signal.direction \
         {expected_direction}, got {got_type} and {got_direction}"
    )]
    InconsistentSignal {
        action: &'static str,
        expected_type: &'static str,
        expected_direction: &'static str,
        got_type: String,
        got_direction: String,
    },
    #[error("{field}: {value:?} is not a valid number ({reason})")]
    InvalidNumber {
        field: String,
        value: String,
        reason: &'static str,
    },
    #[error("{field}: {value:?} is not an RFC 3339 UTC time such as 2026-11-23T14:32:00Z")]
    InvalidTime { field: String, value: String },
    #[error("market_data.timenow is {age_secs} s old, over the {max_secs} s limit")]
    StaleAlert { age_secs: i64, max_secs: i64 },
    #[error(
        "market_data.timenow is {ahead_secs} s ahead of the clock, over the {skew_secs} s allowed"
    )]
    AlertFromFuture { ahead_secs: i64, skew_secs: i64 },
}

impl AlertError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::MalformedJson { .. } => ErrorCode::MalformedJson,
            Self::MissingField { .. } => ErrorCode::MissingField,
            Self::InvalidField { .. } => ErrorCode::InvalidField,
            Self::UnsubstitutedPlaceholder { .. } => ErrorCode::UnsubstitutedPlaceholder,
            Self::UnknownAction { .. } => ErrorCode::UnknownAction,
            Self::UnknownExchange { .. } => ErrorCode::UnknownExchange,
            Self::UnroutableSymbol { .. } => ErrorCode::UnroutableSymbol,
            Self::InconsistentSignal { .. } => ErrorCode::InconsistentSignal,
            Self::InvalidNumber { .. } => ErrorCode::InvalidNumber,
            Self::InvalidTime { .. } => ErrorCode::InvalidTime,
            Self::StaleAlert { .. } => ErrorCode::StaleAlert,
            Self::AlertFromFuture { .. } => ErrorCode::AlertFromFuture,
        }
    }
}

/// The first fields in full, then how many more: the sender chose how many there are.
fn list_fields(fields: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut out = fields
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if fields.len() > SHOWN {
        out.push_str(&format!(" and {} more", fields.len() - SHOWN));
    }
    out
}

/// Echo at most this much of a sender's value back in an error, so a refusal cannot be used
/// to reflect a large payload.
pub(crate) fn echo(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        None => value.to_owned(),
        Some((cut, _)) => format!("{}…", &value[..cut]),
    }
}
