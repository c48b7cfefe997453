//! Why an alert was refused. Every refusal has a stable machine code ([`ErrorCode`]) and a
//! message naming the field; the HTTP status is chosen at the edge (ingest), not here.

use std::fmt;

/// Stable machine codes. Renaming one breaks users' dashboards and scripts: add, never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `payload_too_large`: the body is over 16 KiB. Ingest answers 413.
    PayloadTooLarge,
    /// `malformed_json`: the body is not valid JSON. Ingest answers 400.
    MalformedJson,
    /// `missing_field`: a required field is absent or `null`. Ingest answers 422.
    MissingField,
    /// `invalid_field`: a field has the wrong JSON type or a value outside its set. Ingest
    /// answers 422.
    InvalidField,
    /// `unsubstituted_placeholder`: a value still holds a TradingView `{{...}}` placeholder.
    /// Ingest answers 422.
    UnsubstitutedPlaceholder,
    /// `unknown_action`: `action` is not one of the five actions. Ingest answers 422.
    UnknownAction,
    /// `unknown_exchange`: no broker is routed for `market_data.exchange`. Ingest answers 422.
    UnknownExchange,
    /// `unroutable_symbol`: the broker's rules cannot map `market_data.symbol` to an
    /// instrument. Ingest answers 422.
    UnroutableSymbol,
    /// `inconsistent_signal`: `signal.type` and `signal.direction` do not match `action`.
    /// Ingest answers 422.
    InconsistentSignal,
    /// `invalid_number`: a price, volume or `quantity` is not an accepted decimal. Ingest
    /// answers 422.
    InvalidNumber,
    /// `invalid_time`: `market_data.timestamp` or `timenow` is not an RFC 3339 time. Ingest
    /// answers 422.
    InvalidTime,
    /// `stale_alert`: `market_data.timenow` is older than the freshness limit. Ingest
    /// answers 422.
    StaleAlert,
    /// `alert_from_future`: `market_data.timenow` is further ahead of the clock than the
    /// allowed skew. Ingest answers 422.
    AlertFromFuture,
}

impl ErrorCode {
    /// Every code, in declaration order.
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

    /// The snake_case wire form (`payload_too_large`), sent as `error.code` in ingest's
    /// response body and logged as `code`.
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

/// A refused alert. `Display` is the message ingest sends back (it names the field);
/// [`code`](Self::code) gives the stable [`ErrorCode`]. Ingest answers 413 for
/// `PayloadTooLarge`, 400 for `MalformedJson` and 422 for every other variant. Values the
/// sender chose are echoed cut to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    /// The body is longer than [`MAX_BODY_BYTES`](crate::alert::MAX_BODY_BYTES), checked
    /// before parsing. Code `payload_too_large`, HTTP 413.
    #[error("body is {size} bytes, over the {limit}-byte limit")]
    PayloadTooLarge {
        /// Length of the body, in bytes.
        size: usize,
        /// The limit it exceeded, in bytes (16384).
        limit: usize,
    },
    /// The body is not JSON (and not JSON with unquoted placeholders, which is
    /// `UnsubstitutedPlaceholder`). Code `malformed_json`, HTTP 400.
    #[error("body is not valid JSON at line {line}, column {column}: {reason}")]
    MalformedJson {
        /// Line of the error, counted from 1.
        line: usize,
        /// Column of the error within that line, counted from 1; 0 when nothing of the line
        /// was read (an empty body gives line 1, column 0).
        column: usize,
        /// serde_json's message without its position, e.g. `trailing comma`.
        reason: String,
    },
    /// A required field is absent or `null`. Code `missing_field`, HTTP 422.
    #[error("{field} is required")]
    MissingField {
        /// Dotted path of the field, e.g. `market_data.symbol`.
        field: String,
    },
    /// A field has the wrong JSON type, is empty where text is required (`symbol`,
    /// `exchange`), or is not one of its allowed values (`signal.type`, `signal.direction`);
    /// also a body that is not a JSON object, or a non-string `passphrase`. Code
    /// `invalid_field`, HTTP 422.
    #[error("{field} must be {expected}")]
    InvalidField {
        /// Dotted path of the field (`signal.type`), or `body` for the whole body.
        field: String,
        /// What was wanted, e.g. `a string` or `one of ENTRY, EXIT, FLATTEN`; it may quote the
        /// value given where that is a number, or the `signal.type` or `signal.direction` sent
        /// (cut to 64 characters, as every echoed value is).
        expected: std::borrow::Cow<'static, str>,
    },
    /// Values still hold a TradingView `{{...}}` placeholder, quoted or not: the alert was
    /// sent from a template. Code `unsubstituted_placeholder`, HTTP 422.
    #[error("unsubstituted TradingView placeholders in: {}", list_fields(fields))]
    UnsubstitutedPlaceholder {
        /// Sorted dotted paths of those values (`price_data.close`; array items as `[i]`), or
        /// `(the whole body)` when the body is a single placeholder.
        fields: Vec<String>,
    },
    /// `action` is not exactly `LONG_ENTRY`, `SHORT_ENTRY`, `LONG_EXIT`, `SHORT_EXIT` or
    /// `FLATTEN` (case-sensitive). Code `unknown_action`, HTTP 422.
    #[error(
        "action: {value:?} is not one of LONG_ENTRY, SHORT_ENTRY, LONG_EXIT, SHORT_EXIT, FLATTEN"
    )]
    UnknownAction {
        /// The `action` as sent.
        value: String,
    },
    /// The routing table has no broker for `market_data.exchange` (compared trimmed,
    /// upper-cased and without a delayed-data suffix). Code `unknown_exchange`, HTTP 422; the
    /// router logs it as a refusal.
    #[error("market_data.exchange: {value:?} is not routed to any broker (routed: {routed})")]
    UnknownExchange {
        /// The `market_data.exchange` as sent.
        value: String,
        /// The exchanges the routing table routes, sorted, comma-separated.
        routed: String,
    },
    /// The exchange is routed, but its broker's rules cannot turn `market_data.symbol` into
    /// an instrument (not a pair, unknown futures root, expired contract). Code
    /// `unroutable_symbol`, HTTP 422; the router logs it as a refusal.
    #[error("market_data.symbol: {symbol:?} on {exchange} cannot be routed: {reason}")]
    UnroutableSymbol {
        /// The `market_data.symbol` as sent.
        symbol: String,
        /// The exchange as matched in the routing table: upper-cased, delayed-data suffix
        /// removed.
        exchange: String,
        /// Which rule refused the symbol, e.g. `not a BASE_QUOTE pair under the OANDA rules`.
        reason: String,
    },
    /// `signal.type` and `signal.direction` are valid but not the pair `action` needs
    /// (`LONG_ENTRY` needs `ENTRY` and `LONG`). Code `inconsistent_signal`, HTTP 422.
    #[error(
        "signal: action {action} needs signal.type {expected_type} and signal.direction \
         {expected_direction}, got {got_type} and {got_direction}"
    )]
    InconsistentSignal {
        /// The action, e.g. `LONG_ENTRY`.
        action: &'static str,
        /// The `signal.type` it needs: `ENTRY`, `EXIT` or `FLATTEN`.
        expected_type: &'static str,
        /// The `signal.direction` it needs: `LONG`, `SHORT` or `FLAT`.
        expected_direction: &'static str,
        /// The `signal.type` sent.
        got_type: String,
        /// The `signal.direction` sent.
        got_direction: String,
    },
    /// A price, `volume` or `quantity` (a string or JSON number) is not an accepted decimal:
    /// padded, with `_`, unparsable, out of range (prices and `quantity` above zero, volume
    /// not negative) or, for `quantity`, not a plain decimal. Code `invalid_number`, HTTP 422.
    #[error("{field}: {value:?} is not a valid number ({reason})")]
    InvalidNumber {
        /// Dotted path of the field, e.g. `price_data.close` or `quantity`.
        field: String,
        /// The text as sent; a JSON number as its shortest text.
        value: String,
        /// The rule broken, e.g. `must be greater than zero`.
        reason: &'static str,
    },
    /// `market_data.timestamp` or `market_data.timenow` is a string but not an RFC 3339
    /// time with an offset (`2026-11-23T14:32:00Z`). Code `invalid_time`, HTTP 422.
    #[error(
        "{field}: {value:?} is not an RFC 3339 time with its offset, such as 2026-11-23T14:32:00Z"
    )]
    InvalidTime {
        /// Dotted path of the field, e.g. `market_data.timenow`.
        field: String,
        /// The text as sent.
        value: String,
    },
    /// `market_data.timenow` is older than [`Freshness::max_age`](crate::alert::Freshness)
    /// at the check. Code `stale_alert`, HTTP 422.
    #[error(
        "market_data.timenow is {age_secs} s old, over the {max_secs} s limit (TradingView \
         sends within seconds: is the receiving machine's clock ahead, or is this an old \
         alert sent again? The limit is MAX_ALERT_AGE_SECS)"
    )]
    StaleAlert {
        /// Age of `timenow` at the check, in whole seconds (rounded up).
        age_secs: i64,
        /// The limit, in whole seconds.
        max_secs: i64,
    },
    /// `market_data.timenow` is later than the clock by more than
    /// [`Freshness::max_skew`](crate::alert::Freshness). Code `alert_from_future`, HTTP 422.
    #[error(
        "market_data.timenow is {ahead_secs} s ahead of the clock, over the {skew_secs} s allowed \
         (TradingView's timenow is UTC: is the receiving machine's clock behind?)"
    )]
    AlertFromFuture {
        /// How far `timenow` is ahead of the clock, in whole seconds (rounded up).
        ahead_secs: i64,
        /// The allowed skew, in whole seconds.
        skew_secs: i64,
    },
}

impl AlertError {
    /// The stable machine code of this refusal, one per variant.
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

/// A sender's value as a refusal quotes it: its first 64 characters, `…` after them when it
/// is longer, so a refusal cannot be used to reflect a large payload.
pub fn echo(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        None => value.to_owned(),
        Some((cut, _)) => format!("{}…", &value[..cut]),
    }
}
