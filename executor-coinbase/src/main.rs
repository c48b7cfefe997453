//! The Coinbase executor Lambda: settings read, then the runtime loop, which builds the key and
//! client on its first batch.
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
    // Built on the first batch (secrets read from SSM): see `executor_lambda::Starting`.
    let secrets = common.secrets.clone();
    executor_lambda::run(common, shared::routing::Broker::Coinbase, || async {
        let settings = CoinbaseSettings::load(&env, &secrets)
            .await
            .map_err(|e| e.to_string())?;
        let venue = settings.venue(SystemClock).map_err(|e| e.to_string())?;
        Ok::<_, String>((venue, settings.base_url))
    })
    .await
}
