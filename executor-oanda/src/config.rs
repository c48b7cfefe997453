//! Settings of the OANDA executor, read once at cold start.

use crate::client::PRACTICE_URL;
use shared::config::{ConfigError, Env};

/// Sizing used when no `RISK_CONFIG`/`RISK_CONFIG_FILE` is given: 1,000 units, max 10,000.
pub const DEFAULT_RISK: &str = "default_size = \"1000\"\ndefault_max_position = \"10000\"\n";

#[derive(Debug)]
pub struct OandaSettings {
    /// `OANDA_BASE_URL`: practice by default; live must be chosen explicitly.
    pub base_url: String,
    /// `OANDA_ACCOUNT`.
    pub account: String,
}

impl OandaSettings {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            base_url: env
                .optional("OANDA_BASE_URL")
                .unwrap_or_else(|| PRACTICE_URL.to_owned()),
            account: env.required("OANDA_ACCOUNT")?,
        })
    }
}
