//! Settings of the Tradovate executor and the token refresher, and the factory that turns them
//! into a token manager and a venue: one type, one set of defaults, used by the Lambdas
//! (`main.rs`, `deploy.rs`), the local stack and the simulation.

use crate::client::{ClientSettings, Credentials, DEMO_URL, TradovateClient};
use crate::error::TvError;
use crate::token::{TokenManager, TokenPolicy};
use crate::venue::{TradovateAccount, TradovateVenue, VenueSettings};
use secrecy::{ExposeSecret, SecretString};
use shared::clock::Clock;
use shared::config::{BrokerSettings, ConfigError, Env, Variable};
use shared::ports::{LeaseLock, SecretStore, TokenStore};
use std::sync::Arc;

/// Sizing used when no `RISK_CONFIG`/`RISK_CONFIG_FILE` is given: 1 contract of any root,
/// max 5, at most 1,000,000 USD of notional per order: one contract of the roots the
/// contract specifications list fits under it with room (one E-mini Nasdaq at 25,000 is
/// 500,000, which a 500,000 cap refused; one E-mini S&P at 6,800 is 340,000); two E-mini S&P
/// at 6,800 pass, three (1,020,000) do not.
pub const DEFAULT_RISK: &str =
    "default_max_position = \"5\"\n[classes.futures]\nsize = \"1\"\nmax_notional = \"1000000\"\n";

const fn credential(name: &'static str, about: &'static str) -> Variable {
    Variable {
        name,
        secret: true,
        required: true,
        default: None,
        about,
    }
}

/// The six credentials of `POST /auth/accesstokenrequest`
/// (<https://api.tradovate.com/#tag/Access/operation/accessTokenRequest>), each a variable
/// or, in AWS, an SSM SecureString named by `<name>_PARAM`.
pub const CREDENTIALS: [Variable; 6] = [
    credential("TRADOVATE_USERNAME", "the login's user name (`name`)"),
    credential("TRADOVATE_PASSWORD", "the login's password"),
    credential(
        "TRADOVATE_APP_ID",
        "the registered application's id (`appId`)",
    ),
    credential(
        "TRADOVATE_DEVICE_ID",
        "a stable id of this deployment (`deviceId`); live checks it",
    ),
    credential(
        "TRADOVATE_CID",
        "the API key's client id (`cid`), an integer",
    ),
    credential("TRADOVATE_SEC", "the API key's secret (`sec`)"),
];

/// `TRADOVATE_APP_VERSION`.
pub const APP_VERSION: Variable = Variable {
    name: "TRADOVATE_APP_VERSION",
    secret: false,
    required: false,
    default: Some("1.0"),
    about: "the application version sent with the login (`appVersion`)",
};

/// `TRADOVATE_ACCOUNT`.
pub const ACCOUNT: Variable = Variable {
    name: crate::account::SETTING,
    secret: false,
    required: false,
    default: None,
    about: "the exact name of the account to trade; unset, the login must see exactly one",
};

/// `TRADOVATE_BASE_URL`.
pub const BASE_URL: Variable = Variable {
    name: "TRADOVATE_BASE_URL",
    secret: false,
    required: false,
    default: Some(DEMO_URL),
    about: "the REST base: demo unless live (`https://live.tradovateapi.com/v1`) is set",
};

/// Every variable the Tradovate settings read, in the order the README's table lists them.
pub const VARIABLES: &[Variable] = &[
    CREDENTIALS[0],
    CREDENTIALS[1],
    CREDENTIALS[2],
    CREDENTIALS[3],
    CREDENTIALS[4],
    CREDENTIALS[5],
    APP_VERSION,
    ACCOUNT,
    BASE_URL,
];

/// `TOKEN_TABLE`: the DynamoDB table of the token cache and its renewal lock (AWS only; the
/// local stack keeps both in memory).
pub const TOKEN_TABLE: Variable = Variable {
    name: "TOKEN_TABLE",
    secret: false,
    required: true,
    default: None,
    about: "the DynamoDB table of the access token and its renewal lock",
};

/// `TRADOVATE_PARAM_PREFIX`: where the SSM copy of the token lives (AWS only).
pub const PARAM_PREFIX: Variable = Variable {
    name: "TRADOVATE_PARAM_PREFIX",
    secret: false,
    required: false,
    default: Some("/tradovate"),
    about: "the SSM path prefix of the token's copy (`<prefix>/tradovate/token`)",
};

/// What the deployed executor and token refresher read besides [`VARIABLES`].
pub const DEPLOYED: &[Variable] = &[TOKEN_TABLE, PARAM_PREFIX];

/// The Tradovate settings. `Debug` never shows the password or the API secret.
#[derive(Debug)]
pub struct TradovateSettings {
    /// [`BASE_URL`]: demo by default; live must be chosen explicitly.
    pub base_url: String,
    /// [`ACCOUNT`]: the name of the account to trade. Optional only when the login sees one
    /// account; see [`crate::account::choose`].
    pub account: Option<String>,
    /// The login.
    pub credentials: Credentials,
}

impl BrokerSettings for TradovateSettings {
    const VARIABLES: &'static [Variable] = VARIABLES;

    /// Reads [`VARIABLES`]; each credential through [`shared::config::secret`] (the variable,
    /// or the secret named by `<name>_PARAM` in `store`).
    ///
    /// Errors: [`ConfigError::Missing`] naming the first credential set in neither form;
    /// [`ConfigError::Invalid`] for a `TRADOVATE_CID` that is not an integer or a failing
    /// secret store.
    async fn load(env: &impl Env, store: &impl SecretStore) -> Result<Self, ConfigError> {
        let mut values = Vec::with_capacity(CREDENTIALS.len());
        for c in &CREDENTIALS {
            values.push(shared::config::secret(env, store, c.name).await?);
        }
        let plain = |i: usize| values[i].expose_secret().trim().to_owned();
        let cid = plain(4).parse().map_err(|_| ConfigError::Invalid {
            name: CREDENTIALS[4].name.into(),
            reason: "must be an integer API key id".into(),
        })?;
        let credentials = Credentials {
            name: plain(0),
            // Trimmed as the others are, and as the variable's form is: a parameter stored
            // from a file (`--value file://pw.txt`) ends with its newline, and every login was
            // refused, each a failed login more against Tradovate's limits.
            password: SecretString::from(plain(1)),
            app_id: plain(2),
            app_version: env
                .optional(APP_VERSION.name)
                .unwrap_or_else(|| "1.0".into()),
            device_id: plain(3),
            cid,
            sec: SecretString::from(plain(5)),
        };
        Ok(Self {
            // Set but blank is refused: unset picks demo (or the login's only account),
            // which a lost value must not.
            base_url: env
                .unset_or_given(BASE_URL.name, "the demo server")?
                .unwrap_or_else(|| DEMO_URL.to_owned()),
            account: env.unset_or_given(ACCOUNT.name, "the login's only account")?,
            credentials,
        })
    }
}

impl TradovateSettings {
    /// The HTTP client with the given timeouts and retries.
    ///
    /// Errors: [`ConfigError::Invalid`] naming `TRADOVATE_BASE_URL` when the client cannot be
    /// built for it.
    pub fn client(&self, settings: ClientSettings) -> Result<TradovateClient, ConfigError> {
        TradovateClient::new(&self.base_url, settings)
            .map(TradovateClient::sharing_process_logins)
            .map_err(|e| ConfigError::Invalid {
                name: BASE_URL.name.into(),
                reason: e.to_string(),
            })
    }

    /// The token manager over `store` and `lock` (DynamoDB and SSM in AWS, memory locally);
    /// `owner` names this process in the renewal lock.
    ///
    /// Errors: as [`client`](Self::client).
    pub fn tokens<S: TokenStore, L: LeaseLock, C: Clock>(
        &self,
        client: ClientSettings,
        store: S,
        lock: L,
        clock: C,
        owner: &str,
    ) -> Result<TokenManager<S, L, C>, ConfigError> {
        Ok(TokenManager::new(
            Arc::new(self.client(client)?),
            self.credentials.clone(),
            store,
            lock,
            clock,
            owner,
            TokenPolicy::default(),
        ))
    }

    /// The venue: logs in (or reuses the stored token), lists the accounts the login sees and
    /// picks [`ACCOUNT`] among them.
    ///
    /// Errors: [`ConfigError::Invalid`] naming `TRADOVATE_USERNAME` when the login fails and
    /// `TRADOVATE_ACCOUNT` when no single account can be chosen (the message lists the
    /// accounts seen, names and ids).
    pub async fn venue<S: TokenStore, L: LeaseLock, C: Clock + Clone>(
        &self,
        tokens: Arc<TokenManager<S, L, C>>,
        clock: C,
        settings: VenueSettings,
    ) -> Result<TradovateVenue<S, L, C>, ConfigError> {
        // The setting to look at: the base URL when Tradovate could not be reached or has no
        // such path, the login's credentials when it refused them (its refusal does not say
        // which is wrong); otherwise (a rate limit, a penalty, a 5xx, the token store) the
        // first credential, as before, the reason saying what happened.
        let login_failed = |e: crate::token::TokenError| {
            use crate::token::TokenError::Tradovate;
            let name = match &e {
                Tradovate(
                    TvError::Unreachable(_)
                    | TvError::NotSent(_)
                    | TvError::BaseUrl(_)
                    | TvError::UnreadableToken(_)
                    | TvError::Api { status: 404, .. },
                ) => BASE_URL.name.to_owned(),
                Tradovate(
                    TvError::Refused(_) | TvError::LoginRefused(_) | TvError::Unauthorized,
                ) => {
                    let names: Vec<&str> = CREDENTIALS.iter().map(|c| c.name).collect();
                    let (last, rest) = names.split_last().unwrap_or((&"", &[]));
                    format!("{} or {last}", rest.join(", "))
                }
                _ => CREDENTIALS[0].name.to_owned(),
            };
            ConfigError::Invalid {
                name,
                reason: format!("Tradovate login: {e}"),
            }
        };
        let token = tokens.token().await.map_err(login_failed)?;
        let wanted = self.account.as_deref();
        let account = match crate::account::resolve(tokens.client(), &token, wanted).await {
            // A stored token that has not expired by its clock but that Tradovate no longer
            // takes (its session ended: another login, a changed password): a fresh one, once,
            // as every later request does (`TradovateVenue`); otherwise every cold start would
            // fail until the refresher replaced the token.
            Err(crate::account::AccountError::List(TvError::Unauthorized)) => {
                let fresh = tokens
                    .after_unauthorized(&token)
                    .await
                    .map_err(login_failed)?;
                crate::account::resolve(tokens.client(), &fresh, wanted).await
            }
            other => other,
        };
        // A 429 met at start is stored as any other (`TokenManager::share_stop`): this
        // container's client, and with it its stop, is dropped with the failed start.
        if matches!(
            account,
            Err(crate::account::AccountError::List(TvError::RateLimited))
        ) {
            tokens.share_stop().await;
        }
        let account = account.map_err(|e| ConfigError::Invalid {
            name: ACCOUNT.name.into(),
            reason: e.to_string(),
        })?;
        Ok(TradovateVenue::new(
            tokens,
            TradovateAccount {
                id: account.id,
                name: account.name,
            },
            clock,
            settings,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::config::MapEnv;
    use shared::secrets::EnvSecretStore;

    fn full() -> Vec<(&'static str, &'static str)> {
        vec![
            ("TRADOVATE_USERNAME", "trader"),
            ("TRADOVATE_PASSWORD", "pw-secret"),
            ("TRADOVATE_APP_ID", "app"),
            ("TRADOVATE_DEVICE_ID", "dev-1"),
            ("TRADOVATE_CID", " 42 "),
            ("TRADOVATE_SEC", "sec-secret"),
        ]
    }

    /// A base URL or account set but blank is refused by name, not read as unset (demo, the
    /// login's only account).
    #[tokio::test]
    async fn a_blank_base_url_or_account_is_refused_not_read_as_unset() {
        for name in ["TRADOVATE_BASE_URL", "TRADOVATE_ACCOUNT"] {
            let mut env = full();
            env.push((name, ""));
            let err = TradovateSettings::load(&MapEnv::new(env), &EnvSecretStore)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains(name) && err.contains("set but empty"), "{err}");
        }
    }

    #[tokio::test]
    async fn defaults_to_demo_and_never_prints_a_secret() {
        let s = TradovateSettings::load(&MapEnv::new(full()), &EnvSecretStore)
            .await
            .unwrap();
        assert_eq!(s.base_url, DEMO_URL);
        assert_eq!(s.credentials.cid, 42);
        assert_eq!(s.credentials.app_version, "1.0");
        assert_eq!(s.account, None);
        let shown = format!("{s:?}");
        // Every credential kept as a secret (a SecureString parameter), the username and the
        // API key id included.
        for secret in ["pw-secret", "sec-secret", "trader", "42"] {
            assert!(!shown.contains(secret), "{secret}: {shown}");
        }
    }

    struct Holds(&'static str);

    impl SecretStore for Holds {
        async fn secret(&self, _: &str) -> Result<SecretString, shared::ports::SecretError> {
            Ok(SecretString::from(self.0.to_owned()))
        }
    }

    /// Every credential read from its SSM parameter is trimmed, the password too: stored from
    /// a file it ends with the file's newline.
    #[tokio::test]
    async fn stored_credentials_are_trimmed_the_password_too() {
        let env = MapEnv::new([
            ("TRADOVATE_USERNAME_PARAM", "/tv/user"),
            ("TRADOVATE_PASSWORD_PARAM", "/tv/pw"),
            ("TRADOVATE_APP_ID_PARAM", "/tv/app"),
            ("TRADOVATE_DEVICE_ID_PARAM", "/tv/dev"),
            ("TRADOVATE_CID_PARAM", "/tv/cid"),
            ("TRADOVATE_SEC_PARAM", "/tv/sec"),
        ]);
        let s = TradovateSettings::load(&env, &Holds(" 42\n"))
            .await
            .unwrap();
        assert_eq!(s.credentials.password.expose_secret(), "42");
        assert_eq!(s.credentials.sec.expose_secret(), "42");
        assert_eq!(s.credentials.name, "42");
    }

    #[tokio::test]
    async fn unset_is_paper_and_partial_or_bad_names_the_variable() {
        let none = TradovateSettings::load_if_configured(&MapEnv::default(), &EnvSecretStore).await;
        assert!(none.unwrap().is_none());
        // An optional one left blank alone (an app version, which has a default) is still
        // paper; a blank credential is refused by name, not read as unset.
        let blank = MapEnv::new([("TRADOVATE_APP_VERSION", "")]);
        let none = TradovateSettings::load_if_configured(&blank, &EnvSecretStore).await;
        assert!(none.unwrap().is_none());
        let blank = MapEnv::new([("TRADOVATE_PASSWORD", " ")]);
        let err = TradovateSettings::load_if_configured(&blank, &EnvSecretStore)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TRADOVATE_PASSWORD") && err.contains("set but empty"),
            "{err}"
        );
        let mut partial = full();
        partial.retain(|(k, _)| *k != "TRADOVATE_SEC");
        let err = TradovateSettings::load_if_configured(&MapEnv::new(partial), &EnvSecretStore)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing setting TRADOVATE_SEC or TRADOVATE_SEC_PARAM"
        );
        let mut bad = full();
        bad.push(("TRADOVATE_CID", "forty-two"));
        let err = TradovateSettings::load(&MapEnv::new(bad), &EnvSecretStore)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("TRADOVATE_CID"), "{err}");
    }
}
