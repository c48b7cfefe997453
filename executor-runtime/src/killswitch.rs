//! The kill switch: when engaged, executors refuse every signal (entries and exits alike)
//! and send nothing. Read at run time, not cold start, so an operator can stop trading
//! without a deploy.

use secrecy::ExposeSecret;
use shared::ports::{SecretError, SecretStore};
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// A parameter (SSM in AWS) holding `on`/`true`/`1` to engage, read at most every `ttl`.
/// A missing parameter means disengaged.
#[derive(Debug)]
pub struct ParameterKillSwitch<S> {
    store: S,
    name: String,
    ttl: Duration,
    cached: Mutex<Option<(Instant, bool)>>,
}

impl<S: SecretStore> ParameterKillSwitch<S> {
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
            Ok(value) => matches!(
                value.expose_secret().trim().to_ascii_lowercase().as_str(),
                "on" | "true" | "1"
            ),
            Err(SecretError::NotFound { .. }) => false,
            Err(e) => return Err(e.to_string()),
        };
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), state));
        Ok(state)
    }
}
