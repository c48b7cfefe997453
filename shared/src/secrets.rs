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
