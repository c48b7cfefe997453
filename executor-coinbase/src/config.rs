//! Settings of the Coinbase executor, read once at cold start.

use crate::auth::ApiKey;
use crate::client::LIVE_URL;
use secrecy::SecretString;
use shared::config::{ConfigError, Env};

/// The environment variable (or, with `_PARAM`, the SSM SecureString name) of the key name.
pub const API_KEY_NAME: &str = "COINBASE_API_KEY_NAME";
/// The environment variable (or, with `_PARAM`, the SSM SecureString name) of the private key.
pub const PRIVATE_KEY: &str = "COINBASE_PRIVATE_KEY";

/// Sizing used when no `RISK_CONFIG`/`RISK_CONFIG_FILE` is given: spend 100 of the quote
/// currency (USD for BTC-USD) per long entry, never more than 1,000.
pub const DEFAULT_RISK: &str =
    "default_max_position = \"1000\"\n[classes.crypto]\nsize = \"100\"\n";

/// Everything the client needs. `Debug` shows the key name and algorithm, never the key.
#[derive(Debug)]
pub struct CoinbaseSettings {
    /// `COINBASE_BASE_URL`: production Advanced Trade by default (Coinbase has no usable
    /// sandbox for orders).
    pub base_url: String,
    /// `COINBASE_API_KEY_NAME`, checked together with the private key.
    pub key: ApiKey,
}

impl CoinbaseSettings {
    /// `private_key` comes from `COINBASE_PRIVATE_KEY` or the SSM parameter named by
    /// `COINBASE_PRIVATE_KEY_PARAM` (see `executor_lambda::Common::secret`). The key is
    /// parsed here, so an unreadable key fails the cold start with the setting's name.
    pub fn from_env(env: &impl Env, private_key: &SecretString) -> Result<Self, ConfigError> {
        let name = env.required(API_KEY_NAME)?;
        let key = ApiKey::parse(&name, private_key).map_err(|e| ConfigError::Invalid {
            name: PRIVATE_KEY.into(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            base_url: env
                .optional("COINBASE_BASE_URL")
                .unwrap_or_else(|| LIVE_URL.to_owned()),
            key,
        })
    }
}
