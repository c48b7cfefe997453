//! Settings of the OANDA executor, read once at cold start.

use crate::client::PRACTICE_URL;
use shared::config::{ConfigError, Env};

/// Sizing used when no `RISK_CONFIG`/`RISK_CONFIG_FILE` is given: 1,000 units of a currency
/// pair, max 10,000. Metals (`XAU_USD`) and CFDs (`SPX500_USD`) have no default size: a
/// unit of gold or of an index is worth thousands, so an entry is refused until
/// `instruments.<name>.size` / `.notional` or `classes.metal` / `classes.cfd` is configured.
/// The per-order notional cap is the runtime's default (250,000 of the quote currency).
pub const DEFAULT_RISK: &str = "default_max_position = \"10000\"\n[classes.fx]\nsize = \"1000\"\n";

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
