//! The OANDA executor Lambda: clients and settings built once, then the runtime loop.
// The Lambda runtime nests the FIFO batch future deeply enough to pass the default limit.
#![recursion_limit = "256"]

use executor_oanda::config::{DEFAULT_RISK, OandaSettings};
use shared::clock::SystemClock;
use shared::config::{BrokerSettings, ProcessEnv};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init_json_logs();
    let env = ProcessEnv;
    let common =
        executor_lambda::Common::load(&env, DEFAULT_RISK, shared::routing::Broker::Oanda).await?;
    let settings = OandaSettings::load(&env, &common.secrets).await?;
    executor_lambda::run(common, settings.venue(SystemClock)?).await
}
