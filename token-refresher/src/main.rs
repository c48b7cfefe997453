//! The token refresher Lambda (EventBridge schedule).

use aws_adapters::{SnsNotifier, load_sdk_config};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use executor_runtime::metrics::StdoutMetrics;
use lambda_runtime::{LambdaEvent, service_fn};
use shared::clock::SystemClock;
use shared::config::{Env, ProcessEnv};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init_json_logs();
    let env = ProcessEnv;
    let sdk = load_sdk_config().await;
    // The refresh lock's owner: one per container (its log stream), as the executor's. A
    // constant owner let a second run (a schedule delivered twice, or a run that outlived its
    // lease) take the lock the first still held, and both logged in.
    let owner = std::env::var("AWS_LAMBDA_LOG_STREAM_NAME")
        .map(|stream| format!("token-refresher/{stream}"))
        .unwrap_or_else(|_| "token-refresher".into());
    let (tokens, _) = executor_tradovate::deploy::tokens(&env, &sdk, &owner).await?;
    let notifier = SnsNotifier::new(
        aws_sdk_sns::Client::new(&sdk),
        env.required("NOTIFY_TOPIC_ARN")?,
    );
    // HEALTH_TABLE: where the status endpoint reads the token's expiry.
    let health = env
        .unset_or_given("HEALTH_TABLE", "no token expiry for the status endpoint")?
        .map(|t| aws_adapters::DynamoHealthStore::new(aws_sdk_dynamodb::Client::new(&sdk), t));
    let (tokens, notifier, health) = (&tokens, &notifier, &health);
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<EventBridgeEvent>| async move {
            token_refresher::refresh(tokens, notifier, health, &StdoutMetrics, &SystemClock)
                .await
                .map(|how| format!("{how:?}"))
                .map_err(|e| lambda_runtime::Diagnostic {
                    error_type: "TokenRefreshFailed".into(),
                    error_message: e.to_string(),
                })
        },
    ))
    .await
}
