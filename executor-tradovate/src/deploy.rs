//! Cold-start wiring shared by the Tradovate executor and the token refresher in AWS: the
//! settings ([`TradovateSettings::load`], credentials from SSM through `TRADOVATE_*_PARAM`),
//! the DynamoDB token cache and lock, and the SSM token copy under `TRADOVATE_PARAM_PREFIX`
//! (default `/tradovate`).

use crate::client::ClientSettings;
use crate::config::{PARAM_PREFIX, TOKEN_TABLE, TradovateSettings};
use crate::token::{Mirrored, TokenManager};
use aws_adapters::SsmSecretStore;
use aws_adapters::tokens::{DynamoLeaseLock, DynamoTokenStore, SsmTokenStore};
use shared::clock::SystemClock;
use shared::config::{BrokerSettings, ConfigError, Env};
use std::sync::Arc;

/// The token manager over the deployed stores.
pub type DeployedTokens =
    TokenManager<Mirrored<DynamoTokenStore, SsmTokenStore>, DynamoLeaseLock, SystemClock>;

/// The settings and the token manager over the deployed stores; `owner` names this process in
/// the lock.
///
/// Errors: as [`TradovateSettings::load`], and [`ConfigError::Missing`] for `TOKEN_TABLE`.
pub async fn tokens(
    env: &impl Env,
    sdk: &aws_config::SdkConfig,
    owner: &str,
) -> Result<(Arc<DeployedTokens>, TradovateSettings), ConfigError> {
    let secrets = SsmSecretStore::new(aws_sdk_ssm::Client::new(sdk));
    let settings = TradovateSettings::load(env, &secrets).await?;
    let table = env.required(TOKEN_TABLE.name)?;
    let prefix = env
        .unset_or_given(PARAM_PREFIX.name, "/tradovate")?
        .unwrap_or_else(|| "/tradovate".into());
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let store = Mirrored(
        DynamoTokenStore::new(ddb.clone(), &table),
        SsmTokenStore::new(aws_sdk_ssm::Client::new(sdk), prefix),
    );
    let manager = settings.tokens(
        ClientSettings::default(),
        store,
        DynamoLeaseLock::new(ddb, table),
        SystemClock,
        owner,
    )?;
    Ok((Arc::new(manager), settings))
}
