//! The Coinbase executor Lambda: key, client and settings built once, then the runtime loop.
// The Lambda runtime nests the FIFO batch future deeply enough to pass the default limit.
#![recursion_limit = "256"]

use executor_coinbase::config::{CoinbaseSettings, DEFAULT_RISK};
use shared::clock::SystemClock;
use shared::config::{BrokerSettings, ProcessEnv};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init_json_logs();
    let env = ProcessEnv;
    let common =
        executor_lambda::Common::load(&env, DEFAULT_RISK, shared::routing::Broker::Coinbase)
            .await?;
    let settings = CoinbaseSettings::load(&env, &common.secrets).await?;
    executor_lambda::run(common, settings.venue(SystemClock)?).await
}
