//! Settings of the Tradovate executor and the token refresher, read once at cold start.

use crate::client::{Credentials, DEMO_URL};
use secrecy::SecretString;
use shared::config::{ConfigError, Env};

/// Sizing used when no `RISK_CONFIG`/`RISK_CONFIG_FILE` is given: 1 contract of any root,
/// max 5, at most 500,000 USD of notional per order (one E-mini S&P contract at 6,000 is
/// 300,000; one E-mini Nasdaq at 21,000 is 420,000).
pub const DEFAULT_RISK: &str =
    "default_max_position = \"5\"\n[classes.futures]\nsize = \"1\"\nmax_notional = \"500000\"\n";

#[derive(Debug)]
pub struct TradovateSettings {
    /// `TRADOVATE_BASE_URL`: demo by default; live must be chosen explicitly.
    pub base_url: String,
    /// `TRADOVATE_ACCOUNT`: the name of the account to trade. Optional only when the login
    /// sees one account; see [`crate::account::choose`].
    pub account: Option<String>,
}

impl TradovateSettings {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            base_url: env
                .optional("TRADOVATE_BASE_URL")
                .unwrap_or_else(|| DEMO_URL.to_owned()),
            account: env.optional(crate::account::SETTING),
        })
    }
}

/// The credential set from the environment (locally) or from values read out of SSM (in AWS,
/// the binary reads each `*_PARAM` and passes a map here).
pub fn credentials(env: &impl Env) -> Result<Credentials, ConfigError> {
    let cid = env.required("TRADOVATE_CID")?;
    Ok(Credentials {
        name: env.required("TRADOVATE_USERNAME")?,
        password: SecretString::from(env.required("TRADOVATE_PASSWORD")?),
        app_id: env.required("TRADOVATE_APP_ID")?,
        app_version: env
            .optional("TRADOVATE_APP_VERSION")
            .unwrap_or_else(|| "1.0".into()),
        device_id: env.required("TRADOVATE_DEVICE_ID")?,
        cid: cid.parse().map_err(|_| ConfigError::Invalid {
            name: "TRADOVATE_CID".into(),
            reason: "must be an integer API key id".into(),
        })?,
        sec: SecretString::from(env.required("TRADOVATE_SEC")?),
    })
}
