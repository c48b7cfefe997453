//! Secrets from the environment, for local runs: the design's variable names
//! (`OANDA_SECRET`, `TRADOVATE_PASSWORD`, ...) read as they are. In AWS the SSM adapter
//! implements the same port.

use crate::ports::{SecretError, SecretStore};
use secrecy::SecretString;

/// A [`SecretStore`] that reads each secret from the environment variable of that name; an
/// unset, empty or non-UTF-8 variable is [`SecretError::NotFound`].
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvSecretStore;

impl SecretStore for EnvSecretStore {
    async fn secret(&self, name: &str) -> Result<SecretString, SecretError> {
        match std::env::var(name) {
            Ok(v) if !v.is_empty() => Ok(SecretString::from(v)),
            _ => Err(SecretError::NotFound {
                name: name.to_owned(),
            }),
        }
    }
}

/// The byte position of the first occurrence of `needle` in `hay`, ASCII letters matched in
/// either case. A match starts and ends on character boundaries: a byte that is not ASCII
/// matches only itself.
pub fn find_any_case(hay: &str, needle: &str) -> Option<usize> {
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    let Some(&first) = needle.first() else {
        return Some(0);
    };
    // Every alert is searched: candidates by the first byte in either case (SIMD), then the
    // rest compared, rather than a comparison at every position.
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    memchr::memchr2_iter(lower, upper, hay).find(|&at| {
        hay.get(at..at + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
    })
}

/// `hay` with each occurrence of `needle`, in any ASCII letter case, replaced by `with`.
pub fn replace_any_case(hay: &str, needle: &str, with: &str) -> String {
    if needle.is_empty() {
        return hay.to_owned();
    }
    let mut out = String::with_capacity(hay.len());
    let mut rest = hay;
    while let Some(at) = find_any_case(rest, needle) {
        out.push_str(&rest[..at]);
        out.push_str(with);
        rest = &rest[at + needle.len()..];
    }
    out.push_str(rest);
    out
}
