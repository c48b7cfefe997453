//! Typed configuration, read once at cold start.
//!
//! Each binary builds its own config struct from an [`Env`]; a missing or unparsable setting
//! fails at start with the setting's name. Reading through a trait keeps tests away from the
//! process environment.

use crate::ports::SecretStore;
use secrecy::SecretString;
use std::collections::HashMap;
use std::str::FromStr;

/// Why a setting could not be read; the message names the setting.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required setting is unset, empty or only whitespace.
    #[error("missing setting {name}")]
    Missing {
        /// The setting's name (an environment variable name).
        name: String,
    },
    /// The setting is present but does not parse as the expected type.
    #[error("setting {name} is invalid: {reason}")]
    Invalid {
        /// The setting's name (an environment variable name).
        name: String,
        /// The parser's error message.
        reason: String,
    },
}

/// Why a base URL whose scheme is `scheme` and host `host` (`None`: none) must not be given a
/// credential: `None` for `https` to a host, or `http` to this machine (`localhost`, a
/// loopback address: the tests' fakes, a local proxy); otherwise the refusal, naming the
/// setting `name` and what to give instead (`what`: "the broker's https://… base URL"). A
/// credential over plain HTTP to another host would cross the network readable. The callers
/// parse the URL with their HTTP client's parser and pass its parts.
pub fn base_url_refusal(
    name: &str,
    scheme: &str,
    host: Option<&str>,
    what: &str,
) -> Option<String> {
    let loopback = host.is_some_and(|h| {
        h == "localhost"
            || h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    match scheme {
        "https" if host.is_some() => None,
        "http" if loopback => None,
        "http" => Some(format!(
            "{name} is plain http to another machine: the credentials would cross the network \
             unencrypted; give {what}"
        )),
        other => Some(format!("{name} has the scheme {other:?}: give {what}")),
    }
}

/// A source of settings by name: [`ProcessEnv`] in the deployed binaries, [`MapEnv`] in tests
/// and the local stack. Implementors provide [`get`](Env::get); the rest builds on it.
pub trait Env {
    /// The raw value of `name`, untrimmed; `None` when unset.
    fn get(&self, name: &str) -> Option<String>;

    /// A required setting; empty counts as missing.
    fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.optional(name).ok_or_else(|| ConfigError::Missing {
            name: name.to_owned(),
        })
    }

    /// The value of `name` with surrounding whitespace trimmed; `None` when unset or blank.
    fn optional(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The value of `name`, trimmed; `None` when unset. Set but blank is refused, naming
    /// `name`, for a setting whose absence means something of its own (`unset` says what): a
    /// blank one is more likely a value lost in an edit than a wish for the default.
    fn unset_or_given(&self, name: &str, unset: &str) -> Result<Option<String>, ConfigError> {
        match self.get(name) {
            Some(v) if v.trim().is_empty() => Err(ConfigError::Invalid {
                name: name.to_owned(),
                reason: format!("it is set but empty: unset it for {unset}, or give a value"),
            }),
            v => Ok(v.map(|v| v.trim().to_owned())),
        }
    }

    /// An optional setting parsed with `FromStr`, or `default` when unset.
    fn parsed_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|e: T::Err| ConfigError::Invalid {
                name: name.to_owned(),
                reason: e.to_string(),
            }),
        }
    }
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A base URL as the console shows it: scheme, host and port, without a user or password or
/// anything after the host (`https://api-fxtrade.oanda.com` for
/// `https://user:pw@api-fxtrade.oanda.com/v3?x=1`): for start lines and logs.
pub fn shown_host(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if scheme.is_empty() {
        host.to_owned()
    } else {
        format!("{scheme}://{host}")
    }
}

/// A fixed set of settings, for tests and the local stack.
#[derive(Debug, Clone, Default)]
pub struct MapEnv(pub HashMap<String, String>);

impl MapEnv {
    /// Settings from `(name, value)` pairs; a later pair replaces an earlier one of the same
    /// name.
    pub fn new<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl Env for MapEnv {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// One setting a binary reads: its name, whether it is a credential, its default and what it
/// is for. Each broker crate lists its own (`executor_oanda::settings::VARIABLES`, ...); the
/// README's table and the CDK stack's environment are checked against those lists in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// The environment variable's name, e.g. `OANDA_ACCOUNT`.
    pub name: &'static str,
    /// A credential: read from the variable itself, or (in AWS) from the SSM SecureString
    /// named by `<name>_PARAM` (see [`secret`]). Never logged.
    pub secret: bool,
    /// Whether a configured binary fails to start without it.
    pub required: bool,
    /// The value used when the variable is unset; `None` when it has no default.
    pub default: Option<&'static str>,
    /// What the setting is, in a sentence.
    pub about: &'static str,
}

impl Variable {
    /// True when the variable (or, for a credential, its `_PARAM` form) is set and not blank.
    pub fn is_set(&self, env: &impl Env) -> bool {
        env.optional(self.name).is_some()
            || (self.secret && env.optional(&format!("{}_PARAM", self.name)).is_some())
    }
}

/// A broker's settings: its variables and how to read them. Each broker crate has one type
/// (`OandaSettings`, `TradovateSettings`, `CoinbaseSettings`) that its Lambda, the local stack
/// and the simulation all load.
pub trait BrokerSettings: Sized {
    /// Every variable the settings read, in the order the README's table lists them.
    const VARIABLES: &'static [Variable];

    /// Reads the settings; credentials through [`secret`].
    ///
    /// Errors: [`ConfigError::Missing`] naming the first unset required variable,
    /// [`ConfigError::Invalid`] naming one that does not parse or a failing secret store.
    #[allow(async_fn_in_trait)]
    async fn load(env: &impl Env, store: &impl SecretStore) -> Result<Self, ConfigError>;

    /// `None` when none of [`VARIABLES`](Self::VARIABLES) is set (the local stack then trades
    /// on its paper broker), else [`load`](Self::load): a partly configured broker is an error
    /// naming what is missing, never a silent fall-back to paper; so is a required one or a
    /// credential (or its `_PARAM` form) set but blank, [`ConfigError::Invalid`] naming it.
    #[allow(async_fn_in_trait)]
    async fn load_if_configured(
        env: &impl Env,
        store: &impl SecretStore,
    ) -> Result<Option<Self>, ConfigError> {
        // Set but blank is refused by name, not read as unset: `export
        // OANDA_SECRET="$TOKEN"` with `$TOKEN` unset in that shell would trade paper while the
        // trader meant the broker. A required variable or a credential (and its `_PARAM`
        // form) only: what an optional one means unset (a practice host, the login's only
        // account, a default app version) is `load`'s to say.
        for v in Self::VARIABLES.iter().filter(|v| v.required || v.secret) {
            env.unset_or_given(v.name, "the paper broker")?;
            if v.secret {
                env.unset_or_given(&format!("{}_PARAM", v.name), "the paper broker")?;
            }
        }
        if !Self::VARIABLES.iter().any(|v| v.is_set(env)) {
            return Ok(None);
        }
        Self::load(env, store).await.map(Some)
    }
}

/// A credential named `name`: the variable `name` when it is set (locally), else the secret
/// that the variable `<name>_PARAM` names, read from `store` (SSM in AWS).
///
/// Errors: [`ConfigError::Missing`] naming both forms when neither is set;
/// [`ConfigError::Invalid`] naming `<name>_PARAM` when the store cannot give the secret (the
/// reason is the store's error, which never holds the value).
pub async fn secret(
    env: &impl Env,
    store: &impl SecretStore,
    name: &str,
) -> Result<SecretString, ConfigError> {
    if let Some(v) = env.optional(name) {
        return Ok(SecretString::from(v));
    }
    let param_name = format!("{name}_PARAM");
    let param = env.optional(&param_name).ok_or(ConfigError::Missing {
        name: format!("{name} or {param_name}"),
    })?;
    store
        .secret(&param)
        .await
        .map_err(|e| ConfigError::Invalid {
            name: param_name,
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_base_url_is_shown_by_its_host() {
        assert_eq!(
            shown_host("https://api-fxtrade.oanda.com/v3"),
            "https://api-fxtrade.oanda.com"
        );
        assert_eq!(
            shown_host("https://user:pw@live.tradovateapi.com/v1?x=1"),
            "https://live.tradovateapi.com"
        );
        assert_eq!(shown_host("http://127.0.0.1:9001"), "http://127.0.0.1:9001");
    }

    #[test]
    fn missing_setting_names_itself() {
        let env = MapEnv::new([("EMPTY", "  ")]);
        assert_eq!(
            env.required("EMPTY").unwrap_err().to_string(),
            "missing setting EMPTY"
        );
        assert_eq!(
            env.required("ABSENT").unwrap_err(),
            ConfigError::Missing {
                name: "ABSENT".into()
            }
        );
    }

    #[test]
    fn unparsable_setting_names_itself_and_the_reason() {
        let env = MapEnv::new([("MAX_AGE_SECS", "soon")]);
        let err = env.parsed_or("MAX_AGE_SECS", 30u64).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("setting MAX_AGE_SECS is invalid")
        );
        assert_eq!(MapEnv::default().parsed_or("MAX_AGE_SECS", 30u64), Ok(30));
    }
}

/// A TOML parse error as a refused setting shows it: the parser's message and where it is
/// (`line 2, column 25: string values must be quoted`), without the lines of the text that
/// the error's own display quotes. The file a setting names may not be the one meant (a
/// credentials file, say), and its lines must not reach a terminal or a log.
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod toml_error_tests {
    use super::toml_error;

    #[test]
    fn says_where_and_what_without_quoting_the_text() {
        let text = "[default]\naws_secret_access_key = wJalrXUtnFEMIK7MDENGbPxRfiCYSECRET\n";
        let e = toml::from_str::<toml::Table>(text).unwrap_err();
        let shown = toml_error(text, &e);
        assert!(shown.starts_with("line 2, column 25: "), "{shown}");
        assert!(!shown.contains("wJalr"), "{shown}");
        // What the error's own display does, and this avoids.
        assert!(e.to_string().contains("wJalr"));
    }
}
