//! The Tradovate executor Lambda: credentials, token manager and account resolved once, then
//! the runtime loop.
// The Lambda runtime nests the FIFO batch future deeply enough to pass the default limit.
#![recursion_limit = "256"]

use executor_tradovate::config::DEFAULT_RISK;
use executor_tradovate::venue::VenueSettings;
use shared::clock::SystemClock;
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init_json_logs();
    let env = ProcessEnv;
    let common =
        executor_lambda::Common::load(&env, DEFAULT_RISK, shared::routing::Broker::Tradovate)
            .await?;
    let owner =
        std::env::var("AWS_LAMBDA_LOG_STREAM_NAME").unwrap_or_else(|_| "executor-tradovate".into());
    let (tokens, settings) = executor_tradovate::deploy::tokens(&env, &common.sdk, &owner).await?;
    let venue = settings
        .venue(tokens, SystemClock, VenueSettings::default())
        .await?;
    executor_lambda::run(common, venue).await
}
