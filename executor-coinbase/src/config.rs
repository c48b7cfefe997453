//! Settings of the Coinbase executor, read once at cold start.

use crate::auth::ApiKey;
use crate::client::{ClientSettings, CoinbaseClient, LIVE_URL};
use crate::venue::CoinbaseVenue;
use secrecy::SecretString;
use shared::clock::Clock;
use shared::config::{BrokerSettings, ConfigError, Env, Variable};
use shared::ports::SecretStore;
use std::sync::Arc;

/// The environment variable (or, with `_PARAM`, the SSM SecureString name) of the key name.
pub const API_KEY_NAME: &str = "COINBASE_API_KEY_NAME";
/// The environment variable (or, with `_PARAM`, the SSM SecureString name) of the private key.
pub const PRIVATE_KEY: &str = "COINBASE_PRIVATE_KEY";

/// `COINBASE_API_KEY_NAME`.
pub const KEY_NAME: Variable = Variable {
    name: API_KEY_NAME,
    secret: false,
    required: true,
    default: None,
    about: "the CDP API key's name (`organizations/{org}/apiKeys/{key}`); it picks the portfolio (a key whose accounts belong to two portfolios has its signals refused, named: neither a sale's size nor whether an entry is already held could be told)",
};

/// `COINBASE_PRIVATE_KEY` (a credential).
pub const KEY: Variable = Variable {
    name: PRIVATE_KEY,
    secret: true,
    required: true,
    default: None,
    about: "the CDP key's private key as downloaded: an EC PEM (ES256) or a base64 Ed25519 key",
};

/// `COINBASE_BASE_URL`.
pub const BASE_URL: Variable = Variable {
    name: "COINBASE_BASE_URL",
    secret: false,
    required: false,
    default: Some(LIVE_URL),
    about: "the Advanced Trade REST base: production (Coinbase has no sandbox that fills orders)",
};

/// Every variable the Coinbase settings read, in the order the README's table lists them.
pub const VARIABLES: &[Variable] = &[KEY_NAME, KEY, BASE_URL];

/// Sizing used when no `RISK_CONFIG`/`RISK_CONFIG_FILE` is given: spend 100 of the quote
/// currency (USD for BTC-USD) per long entry, never more than 1,000, on a product quoted in
/// money (class `crypto`); one quoted in another crypto asset (`crypto_cross`, ETH-BTC) has
/// no size until configured.
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

impl BrokerSettings for CoinbaseSettings {
    const VARIABLES: &'static [Variable] = VARIABLES;

    /// Reads [`VARIABLES`]; the private key through [`shared::config::secret`] (the variable,
    /// or the secret named by `COINBASE_PRIVATE_KEY_PARAM` in `store`), parsed at once.
    ///
    /// Errors: as [`from_env`](Self::from_env), and [`ConfigError::Missing`] naming both forms
    /// of the private key when neither is set.
    async fn load(env: &impl Env, store: &impl SecretStore) -> Result<Self, ConfigError> {
        env.required(API_KEY_NAME)?;
        let private_key = shared::config::secret(env, store, PRIVATE_KEY).await?;
        Self::from_env(env, &private_key)
    }
}

impl CoinbaseSettings {
    /// The settings from `env` and a private key already read. The key is parsed here, so an
    /// unreadable key fails the start with the setting's name and never its value.
    ///
    /// Errors: [`ConfigError::Missing`] for `COINBASE_API_KEY_NAME`, [`ConfigError::Invalid`]
    /// naming `COINBASE_PRIVATE_KEY` when the key does not parse.
    pub fn from_env(env: &impl Env, private_key: &SecretString) -> Result<Self, ConfigError> {
        let name = env.required(API_KEY_NAME)?;
        let key = ApiKey::parse(&name, private_key).map_err(|e| ConfigError::Invalid {
            name: PRIVATE_KEY.into(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            // Set but blank is refused: unset picks the production server, which a lost
            // value must not.
            base_url: env
                .unset_or_given(BASE_URL.name, "the production server")?
                .unwrap_or_else(|| LIVE_URL.to_owned()),
            key,
        })
    }

    /// The HTTP client with the given timeouts and retries; `clock` signs each request's JWT.
    ///
    /// Errors: [`ConfigError::Invalid`] naming `COINBASE_BASE_URL` when it is not a URL with
    /// a host.
    pub fn client(
        &self,
        clock: Arc<dyn Clock>,
        settings: ClientSettings,
    ) -> Result<CoinbaseClient, ConfigError> {
        CoinbaseClient::with_key(&self.base_url, self.key.clone(), clock, settings).map_err(|e| {
            ConfigError::Invalid {
                name: BASE_URL.name.into(),
                reason: e.to_string(),
            }
        })
    }

    /// The venue the executor trades through, with the client's default settings.
    ///
    /// Errors: as [`client`](Self::client).
    pub fn venue<C: Clock + Clone + 'static>(
        &self,
        clock: C,
    ) -> Result<CoinbaseVenue<C>, ConfigError> {
        let client = self.client(Arc::new(clock.clone()), ClientSettings::default())?;
        Ok(CoinbaseVenue::new(client, clock))
    }
}
