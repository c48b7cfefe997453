//! The Coinbase executor Lambda: key, client and settings built once, then the runtime loop.
// The Lambda runtime nests the FIFO batch future deeply enough to pass the default limit.
#![recursion_limit = "256"]

use executor_coinbase::client::{ClientSettings, CoinbaseClient};
use executor_coinbase::config::{CoinbaseSettings, DEFAULT_RISK, PRIVATE_KEY};
use executor_coinbase::venue::CoinbaseVenue;
use shared::clock::SystemClock;
use shared::config::ProcessEnv;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init_json_logs();
    let env = ProcessEnv;
    let common = executor_lambda::Common::load(&env, DEFAULT_RISK).await?;
    let private_key = common.secret(&env, PRIVATE_KEY).await?;
    let settings = CoinbaseSettings::from_env(&env, &private_key)?;
    drop(private_key);
    let client = CoinbaseClient::with_key(
        &settings.base_url,
        settings.key,
        Arc::new(SystemClock),
        ClientSettings::default(),
    )?;
    executor_lambda::run(common, CoinbaseVenue::new(client, SystemClock)).await
}
