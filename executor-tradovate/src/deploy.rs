//! Cold-start wiring shared by the Tradovate executor and the token refresher: credentials
//! from the environment (local) or SSM (`TRADOVATE_*_PARAM`), the DynamoDB token cache and
//! lock, and the SSM token copy under `TRADOVATE_PARAM_PREFIX` (default `/tradovate`).

use crate::client::{ClientSettings, Credentials, TradovateClient};
use crate::config::TradovateSettings;
use crate::token::{Mirrored, TokenManager, TokenPolicy};
use aws_adapters::SsmSecretStore;
use aws_adapters::tokens::{DynamoLeaseLock, DynamoTokenStore, SsmTokenStore};
use secrecy::{ExposeSecret, SecretString};
use shared::clock::SystemClock;
use shared::config::{ConfigError, Env};
use shared::ports::SecretStore;
use std::sync::Arc;

pub type DeployedTokens =
    TokenManager<Mirrored<DynamoTokenStore, SsmTokenStore>, DynamoLeaseLock, SystemClock>;

async fn value(
    env: &impl Env,
    secrets: &SsmSecretStore,
    name: &str,
) -> Result<SecretString, ConfigError> {
    if let Some(v) = env.optional(name) {
        return Ok(SecretString::from(v));
    }
    let param_name = format!("{name}_PARAM");
    let param = env.optional(&param_name).ok_or(ConfigError::Missing {
        name: format!("{name} or {param_name}"),
    })?;
    secrets
        .secret(&param)
        .await
        .map_err(|e| ConfigError::Invalid {
            name: param_name,
            reason: e.to_string(),
        })
}

pub async fn credentials(
    env: &impl Env,
    secrets: &SsmSecretStore,
) -> Result<Credentials, ConfigError> {
    let plain = |v: SecretString| v.expose_secret().to_owned();
    let cid = plain(value(env, secrets, "TRADOVATE_CID").await?);
    Ok(Credentials {
        name: plain(value(env, secrets, "TRADOVATE_USERNAME").await?),
        password: value(env, secrets, "TRADOVATE_PASSWORD").await?,
        app_id: plain(value(env, secrets, "TRADOVATE_APP_ID").await?),
        app_version: env
            .optional("TRADOVATE_APP_VERSION")
            .unwrap_or_else(|| "1.0".into()),
        device_id: plain(value(env, secrets, "TRADOVATE_DEVICE_ID").await?),
        cid: cid.trim().parse().map_err(|_| ConfigError::Invalid {
            name: "TRADOVATE_CID".into(),
            reason: "must be an integer API key id".into(),
        })?,
        sec: value(env, secrets, "TRADOVATE_SEC").await?,
    })
}

/// The token manager over the deployed stores; `owner` names this process in the lock.
pub async fn tokens(
    env: &impl Env,
    sdk: &aws_config::SdkConfig,
    owner: &str,
) -> Result<(Arc<DeployedTokens>, TradovateSettings), ConfigError> {
    let settings = TradovateSettings::from_env(env)?;
    let secrets = SsmSecretStore::new(aws_sdk_ssm::Client::new(sdk));
    let creds = credentials(env, &secrets).await?;
    let table = env.required("TOKEN_TABLE")?;
    let prefix = env
        .optional("TRADOVATE_PARAM_PREFIX")
        .unwrap_or_else(|| "/tradovate".into());
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let store = Mirrored(
        DynamoTokenStore::new(ddb.clone(), &table),
        SsmTokenStore::new(aws_sdk_ssm::Client::new(sdk), prefix),
    );
    let client = Arc::new(
        TradovateClient::new(&settings.base_url, ClientSettings::default()).map_err(|e| {
            ConfigError::Invalid {
                name: "TRADOVATE_BASE_URL".into(),
                reason: e.to_string(),
            }
        })?,
    );
    let manager = TokenManager::new(
        client,
        creds,
        store,
        DynamoLeaseLock::new(ddb, table),
        SystemClock,
        owner,
        TokenPolicy::default(),
    );
    Ok((Arc::new(manager), settings))
}
