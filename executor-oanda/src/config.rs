//! Settings of the OANDA executor and the factory that turns them into a venue: one type, one
//! set of defaults, used by the Lambda (`main.rs`), the local stack and the simulation.

use crate::client::{ClientSettings, OandaClient, PRACTICE_URL};
use crate::venue::OandaVenue;
use secrecy::{ExposeSecret, SecretString};
use shared::clock::Clock;
use shared::config::{BrokerSettings, ConfigError, Env, Variable};
use shared::ports::SecretStore;

/// Sizing used when no `RISK_CONFIG`/`RISK_CONFIG_FILE` is given: 1,000 units of a currency
/// pair, max 10,000. Metals (`XAU_USD`) and CFDs (`SPX500_USD`) have no default size: a
/// unit of gold or of an index is worth thousands, so an entry is refused until
/// `instruments.<name>.size` / `.notional` or `classes.metal` / `classes.cfd` is configured,
/// an alert's `quantity` too (`quantity_needs_section`: the only position limit would be
/// `default_max_position`, in currency units).
/// The per-order notional cap is the runtime's default: 250,000, in base units for a currency
/// pair (`executor_runtime::risk::notional_price`).
pub const DEFAULT_RISK: &str = "default_max_position = \"10000\"\nquantity_needs_section = true\n[classes.fx]\nsize = \"1000\"\n";

/// `OANDA_ACCOUNT`: the v20 account to trade.
pub const ACCOUNT: Variable = Variable {
    name: "OANDA_ACCOUNT",
    secret: false,
    required: true,
    default: None,
    about: "the v20 account id to trade, as OANDA shows it (e.g. `101-001-1234567-001`); not one linked to MetaTrader 4, whose orders' client extensions the v20 specification says not to set, and which every lookup after a lost answer reads",
};

/// `OANDA_SECRET`: the personal access token (a credential).
pub const SECRET: Variable = Variable {
    name: "OANDA_SECRET",
    secret: true,
    required: true,
    default: None,
    about: "the personal access token of the account's login",
};

/// `OANDA_BASE_URL`: the REST host.
pub const BASE_URL: Variable = Variable {
    name: "OANDA_BASE_URL",
    secret: false,
    required: false,
    default: Some(PRACTICE_URL),
    about: "the v20 REST host: practice unless live (`https://api-fxtrade.oanda.com`) is set",
};

/// Every variable the OANDA settings read, in the order the README's table lists them.
pub const VARIABLES: &[Variable] = &[ACCOUNT, SECRET, BASE_URL];

/// The OANDA settings. `Debug` never shows the token.
#[derive(Debug)]
pub struct OandaSettings {
    /// [`BASE_URL`]: practice by default; live must be chosen explicitly.
    pub base_url: String,
    /// [`ACCOUNT`].
    pub account: String,
    token: SecretString,
}

impl BrokerSettings for OandaSettings {
    const VARIABLES: &'static [Variable] = VARIABLES;

    /// Reads [`VARIABLES`]; the token through [`shared::config::secret`] (the variable, or the
    /// secret named by `OANDA_SECRET_PARAM` in `store`).
    ///
    /// Errors: [`ConfigError::Missing`] naming the first unset required variable,
    /// [`ConfigError::Invalid`] when the secret store fails.
    async fn load(env: &impl Env, store: &impl SecretStore) -> Result<Self, ConfigError> {
        let account = env.required(ACCOUNT.name)?;
        let stored = shared::config::secret(env, store, SECRET.name).await?;
        // A token kept with its file's newline (`put-parameter --value file://token.txt`)
        // would make every request's `Authorization` header invalid, which reads as an
        // unreachable broker on every signal: trimmed. One that still holds a space or a
        // control character is refused here, naming where it came from.
        let trimmed = stored.expose_secret().trim();
        if trimmed.is_empty() || trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::Invalid {
                name: match env.optional(SECRET.name) {
                    Some(_) => SECRET.name.into(),
                    None => format!("{}_PARAM", SECRET.name),
                },
                reason: "the OANDA token is empty or holds a space or a control character \
                         (a personal access token is letters, digits and one dash)"
                    .into(),
            });
        }
        let token = SecretString::from(trimmed.to_owned());
        Ok(Self {
            // Set but blank is refused: unset picks practice, which a lost value must not.
            base_url: env
                .unset_or_given(BASE_URL.name, "the practice server")?
                .unwrap_or_else(|| PRACTICE_URL.to_owned()),
            account,
            token,
        })
    }
}

impl OandaSettings {
    /// The HTTP client with the given timeouts and retries.
    ///
    /// Errors: [`ConfigError::Invalid`] naming `OANDA_BASE_URL` when the client cannot be
    /// built for it.
    pub fn client(&self, settings: ClientSettings) -> Result<OandaClient, ConfigError> {
        OandaClient::new(&self.base_url, self.token.clone(), &self.account, settings).map_err(|e| {
            ConfigError::Invalid {
                name: BASE_URL.name.into(),
                reason: e.to_string(),
            }
        })
    }

    /// The venue the executor trades through, with the client's default settings.
    ///
    /// Errors: as [`client`](Self::client).
    pub fn venue<C: Clock>(&self, clock: C) -> Result<OandaVenue<C>, ConfigError> {
        Ok(OandaVenue::new(
            self.client(ClientSettings::default())?,
            clock,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::config::MapEnv;
    use shared::secrets::EnvSecretStore;

    #[tokio::test]
    async fn defaults_to_practice_and_never_prints_the_token() {
        let env = MapEnv::new([
            ("OANDA_ACCOUNT", "101-001-1-001"),
            ("OANDA_SECRET", "tok-abc"),
        ]);
        let s = OandaSettings::load(&env, &EnvSecretStore).await.unwrap();
        assert_eq!(s.base_url, PRACTICE_URL);
        assert_eq!(s.token.expose_secret(), "tok-abc");
        assert!(!format!("{s:?}").contains("tok-abc"));
        let venue = s.venue(shared::clock::SystemClock).unwrap();
        assert_eq!(
            executor_runtime::venue::Venue::account(&venue),
            "101-001-1-001"
        );
    }

    /// A base URL set but blank is refused by name, not read as unset (practice).
    #[tokio::test]
    async fn a_blank_base_url_is_refused_not_read_as_practice() {
        let env = MapEnv::new([
            ("OANDA_ACCOUNT", "101-001-1-001"),
            ("OANDA_SECRET", "tok-abc"),
            ("OANDA_BASE_URL", " "),
        ]);
        let err = OandaSettings::load(&env, &EnvSecretStore)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("OANDA_BASE_URL") && err.contains("set but empty"),
            "{err}"
        );
    }

    /// A parameter store holding one value for every name.
    struct Holds(&'static str);

    impl SecretStore for Holds {
        async fn secret(&self, _: &str) -> Result<SecretString, shared::ports::SecretError> {
            Ok(SecretString::from(self.0.to_owned()))
        }
    }

    /// A token stored with its file's newline is trimmed (it made every request's header
    /// invalid, read as an unreachable broker); one with a space inside is refused naming
    /// the parameter's variable, without the token.
    #[tokio::test]
    async fn a_stored_token_is_trimmed_and_a_broken_one_names_its_parameter() {
        let env = MapEnv::new([
            ("OANDA_ACCOUNT", "101-001-1-001"),
            ("OANDA_SECRET_PARAM", "/tv/oanda-token"),
        ]);
        let s = OandaSettings::load(&env, &Holds("tok-abc\n"))
            .await
            .unwrap();
        assert_eq!(s.token.expose_secret(), "tok-abc");
        for held in ["tok abc", "\n", "tok\u{7}abc"] {
            let err = OandaSettings::load(&env, &Holds(held))
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains("OANDA_SECRET_PARAM"), "{held:?}: {err}");
            assert!(!err.contains("abc"), "{err}");
        }
    }

    #[tokio::test]
    async fn unset_is_paper_and_partial_names_what_is_missing() {
        let none = OandaSettings::load_if_configured(&MapEnv::default(), &EnvSecretStore).await;
        assert!(none.unwrap().is_none());
        let partial = MapEnv::new([("OANDA_BASE_URL", "https://api-fxtrade.oanda.com")]);
        let err = OandaSettings::load_if_configured(&partial, &EnvSecretStore)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "missing setting OANDA_ACCOUNT");
        let no_token = MapEnv::new([("OANDA_ACCOUNT", "101-001-1-001")]);
        let err = OandaSettings::load_if_configured(&no_token, &EnvSecretStore)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing setting OANDA_SECRET or OANDA_SECRET_PARAM"
        );
        // `export OANDA_ACCOUNT="$ACCT" OANDA_SECRET="$TOKEN"` with both unset in the shell:
        // refused by name, not paper.
        for blank in [
            vec![("OANDA_ACCOUNT", ""), ("OANDA_SECRET", " ")],
            vec![("OANDA_SECRET_PARAM", "")],
        ] {
            let name = blank[0].0;
            let err = OandaSettings::load_if_configured(&MapEnv::new(blank), &EnvSecretStore)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains(name) && err.contains("set but empty"), "{err}");
        }
    }
}
