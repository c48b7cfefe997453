//! The kill switch: when engaged, executors refuse every signal (entries and exits alike)
//! and send nothing. Read at run time, not cold start, so an operator can stop trading
//! without a deploy.

use secrecy::ExposeSecret;
use shared::ports::{SecretError, SecretStore};
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing::warn;

/// Whether trading is stopped. Asked once per signal that is not stale and not an entry
/// older than a signal already seen, before the risk guards; engaged, the signal ends
/// `refused` with nothing sent.
pub trait KillSwitch: Send + Sync {
    /// `Err` when the state cannot be read: the caller retries later rather than trade blind.
    fn engaged(&self) -> impl Future<Output = Result<bool, String>> + Send;
}

/// A fixed state, from config.
#[derive(Debug, Clone, Copy)]
pub struct StaticKillSwitch(pub bool);

impl KillSwitch for StaticKillSwitch {
    async fn engaged(&self) -> Result<bool, String> {
        Ok(self.0)
    }
}

/// A parameter (SSM in AWS) read at most every `ttl`: `off`, `false` or `0` (any case, spaces
/// around ignored) lets signals trade; `on`, `true` or `1` engages it, and so does any other
/// value (`stop`, `halt`, a typo such as `onn`), with a warning naming it: an operator who
/// wrote something to stop trading meant to stop it. A missing parameter means engaged too:
/// the deployment creates it engaged, so its absence means a wrong name or a deleted
/// parameter, and trading blind on a typo is the wrong way to fail.
#[derive(Debug)]
pub struct ParameterKillSwitch<S> {
    store: S,
    name: String,
    ttl: Duration,
    cached: Mutex<Option<(Instant, bool)>>,
}

impl<S: SecretStore> ParameterKillSwitch<S> {
    /// Reads parameter `name` through `store` (the SSM adapter in AWS) and caches each state
    /// read for `ttl`; a failed read is not cached. `Duration::ZERO` reads on every signal.
    pub fn new(store: S, name: impl Into<String>, ttl: Duration) -> Self {
        Self {
            store,
            name: name.into(),
            ttl,
            cached: Mutex::new(None),
        }
    }
}

impl<S: SecretStore> KillSwitch for ParameterKillSwitch<S> {
    async fn engaged(&self) -> Result<bool, String> {
        if let Some((at, state)) = *self.cached.lock().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < self.ttl
        {
            return Ok(state);
        }
        let state = match self.store.secret(&self.name).await {
            // Not a secret; the secret port is just the way to reach the SSM adapter.
            Ok(value) => match value.expose_secret().trim().to_ascii_lowercase().as_str() {
                "off" | "false" | "0" => false,
                "on" | "true" | "1" => true,
                _ => {
                    warn!(
                        parameter = %self.name,
                        "kill switch parameter is neither on nor off: trading is halted until it is set to off"
                    );
                    true
                }
            },
            Err(SecretError::NotFound { .. }) => {
                warn!(
                    parameter = %self.name,
                    "kill switch parameter does not exist: trading is halted until it is set to off"
                );
                true
            }
            Err(e) => return Err(e.to_string()),
        };
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), state));
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;
    use std::collections::HashMap;

    struct Params(Mutex<HashMap<String, String>>, bool);

    impl SecretStore for Params {
        async fn secret(&self, name: &str) -> Result<SecretString, SecretError> {
            if self.1 {
                return Err(SecretError::Unavailable {
                    name: name.into(),
                    reason: "throttled".into(),
                });
            }
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(name)
                .map(|v| SecretString::from(v.clone()))
                .ok_or(SecretError::NotFound { name: name.into() })
        }
    }

    fn switch(value: Option<&str>) -> ParameterKillSwitch<Params> {
        let mut map = HashMap::new();
        if let Some(v) = value {
            map.insert("/tv-pipeline/kill-switch".to_owned(), v.to_owned());
        }
        ParameterKillSwitch::new(
            Params(Mutex::new(map), false),
            "/tv-pipeline/kill-switch",
            Duration::ZERO,
        )
    }

    #[tokio::test]
    async fn on_true_1_and_a_missing_parameter_engage_and_off_releases() {
        for v in ["on", "ON ", "true", "1"] {
            assert_eq!(switch(Some(v)).engaged().await, Ok(true), "{v}");
        }
        assert_eq!(switch(None).engaged().await, Ok(true), "missing parameter");
        for v in ["off", "false", "0", " OFF "] {
            assert_eq!(switch(Some(v)).engaged().await, Ok(false), "{v}");
        }
    }

    /// A value that is neither on nor off (`stop`, a typo) halts trading: it fails closed.
    #[tokio::test]
    async fn any_other_value_engages() {
        for v in ["stop", "halt", "yes", "onn", "of", ""] {
            assert_eq!(switch(Some(v)).engaged().await, Ok(true), "{v:?}");
        }
    }

    #[tokio::test]
    async fn an_unreadable_parameter_is_an_error_not_a_guess() {
        let k = ParameterKillSwitch::new(
            Params(Mutex::new(HashMap::new()), true),
            "/tv-pipeline/kill-switch",
            Duration::ZERO,
        );
        assert!(k.engaged().await.is_err());
    }
}
