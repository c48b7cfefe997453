//! `SignalId`: the deterministic identity of one alert.
//!
//! It is the first 128 bits of SHA-256 over the canonical alert JSON (every field, `timenow`
//! included, the passphrase excluded). A TradingView resend carries the same body and so the
//! same id; SQS deduplicates on it and executors key their idempotency records by it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// The identity of one alert: 32 lowercase hex characters (the first 128 bits of SHA-256 over
/// the canonical alert JSON). Serialised as that string; deserialising checks the form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SignalId(String);

/// Hex characters in a SignalId (128 bits).
const LEN: usize = 32;

impl SignalId {
    /// The id of canonical alert JSON (as in
    /// [`ValidatedAlert::canonical`](crate::alert::ValidatedAlert)): same text, same id.
    pub fn of_canonical(canonical: &str) -> Self {
        let digest = Sha256::digest(canonical.as_bytes());
        Self(hex::encode(&digest[..LEN / 2]))
    }

    /// The 32 lowercase hex characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Text that is not a SignalId (not exactly 32 lowercase hex characters), from `parse`,
/// `try_from` or deserialising. Holds the text, cut to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a SignalId is {LEN} lowercase hex characters, got {0:?}")]
pub struct InvalidSignalId(String);

impl FromStr for SignalId {
    type Err = InvalidSignalId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.len() == LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidSignalId(crate::error::echo(s)))
        }
    }
}

impl TryFrom<String> for SignalId {
    type Error = InvalidSignalId;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<SignalId> for String {
    fn from(id: SignalId) -> Self {
        id.0
    }
}

impl fmt::Display for SignalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_canonical_text_gives_same_id_and_any_change_a_new_one() {
        let a = SignalId::of_canonical(r#"{"action":"LONG_ENTRY"}"#);
        assert_eq!(a, SignalId::of_canonical(r#"{"action":"LONG_ENTRY"}"#));
        assert_ne!(a, SignalId::of_canonical(r#"{"action":"SHORT_ENTRY"}"#));
        assert_eq!(a.as_str().len(), 32);
        assert_eq!(a.as_str().parse::<SignalId>(), Ok(a.clone()));
    }

    #[test]
    fn parse_refuses_anything_but_32_lowercase_hex() {
        for bad in ["", "abc", &"A".repeat(32), &"g".repeat(32), &"a".repeat(33)] {
            assert!(bad.parse::<SignalId>().is_err(), "{bad:?} accepted");
        }
        assert!(serde_json::from_str::<SignalId>("\"nothex\"").is_err());
    }
}
