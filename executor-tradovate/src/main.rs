//! The Tradovate executor Lambda: the runtime loop, which resolves credentials, token manager
//! and account on its first batch (again on the next after a failed start).
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
    let sdk = common.sdk.clone();
    // Built on the first batch (secrets from SSM, the login, the account list), and again on
    // the next batch after a failed start: see `executor_lambda::Starting`.
    executor_lambda::run(common, shared::routing::Broker::Tradovate, || async {
        let (tokens, settings) = executor_tradovate::deploy::tokens(&env, &sdk, &owner)
            .await
            .map_err(|e| e.to_string())?;
        let base_url = settings.base_url.clone();
        let venue = settings
            .venue(tokens, SystemClock, VenueSettings::default())
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((venue, base_url))
    })
    .await
}
