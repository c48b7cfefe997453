//! The ingest Lambda binary: configuration and clients built once, then the runtime loop.

use aws_adapters::{SqsFifoQueue, SsmSecretStore, load_sdk_config};
use ingest::{Ingest, IngestConfig, SecretSource, config::check_stored_secret, lambda::serve};
use shared::clock::SystemClock;
use shared::config::ProcessEnv;
use shared::ports::SecretStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init_json_logs();
    let cfg = IngestConfig::from_env(&ProcessEnv)?;
    let sdk = load_sdk_config().await;
    let secret = match cfg.secret {
        SecretSource::Value(secret) => secret,
        SecretSource::SsmParameter(name) => check_stored_secret(
            SsmSecretStore::new(aws_sdk_ssm::Client::new(&sdk))
                .secret(&name)
                .await?,
            &name,
        )?,
    };
    let queue = SqsFifoQueue::new(aws_sdk_sqs::Client::new(&sdk), cfg.signals_queue_url);
    let ingest = Ingest::new(
        queue,
        SystemClock,
        &secret,
        cfg.freshness,
        cfg.ip_allowlist,
        cfg.routing,
    )
    .with_brokers(cfg.brokers);
    drop(secret);
    // HEALTH_TABLE: the status endpoints answer "unknown" without it.
    let health = cfg
        .health_table
        .map(|t| aws_adapters::DynamoHealthStore::new(aws_sdk_dynamodb::Client::new(&sdk), t));
    let ingest = ingest.with_health(health);
    lambda_http::run(lambda_http::service_fn(|req| serve(&ingest, req))).await
}
