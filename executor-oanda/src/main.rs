//! The OANDA executor Lambda: clients and settings built once, then the runtime loop.
// The Lambda runtime nests the FIFO batch future deeply enough to pass the default limit.
#![recursion_limit = "256"]

use executor_oanda::client::{ClientSettings, OandaClient};
use executor_oanda::config::{DEFAULT_RISK, OandaSettings};
use executor_oanda::venue::OandaVenue;
use shared::clock::SystemClock;
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init_json_logs();
    let env = ProcessEnv;
    let settings = OandaSettings::from_env(&env)?;
    let common = executor_lambda::Common::load(&env, DEFAULT_RISK).await?;
    let token = common.secret(&env, "OANDA_SECRET").await?;
    let client = OandaClient::new(
        &settings.base_url,
        token,
        &settings.account,
        ClientSettings::default(),
    )?;
    executor_lambda::run(common, OandaVenue::new(client, SystemClock)).await
}
