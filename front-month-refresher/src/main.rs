//! The front-month refresher Lambda (EventBridge schedule). Settings: `FRONT_MONTH_TABLE`,
//! `FRONT_MONTH_ROOTS` (comma list), `DATABENTO_DATASET` (default `GLBX.MDP3`),
//! `DATABENTO_API_KEY` or `DATABENTO_API_KEY_PARAM` (SSM SecureString name),
//! `DATABENTO_BASE_URL` (optional, tests).

use aws_adapters::front_months::DynamoFrontMonths;
use aws_adapters::{SsmSecretStore, load_sdk_config};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use front_month_refresher::{DEFAULT_DATASET, Databento, refresh};
use lambda_runtime::{LambdaEvent, service_fn};
use shared::clock::SystemClock;
use shared::config::{ConfigError, Env, ProcessEnv};
use shared::ports::SecretStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init_json_logs();
    let env = ProcessEnv;
    let sdk = load_sdk_config().await;
    let key = match env.optional("DATABENTO_API_KEY") {
        Some(k) => secrecy::SecretString::from(k),
        None => {
            let name = env.required("DATABENTO_API_KEY_PARAM")?;
            SsmSecretStore::new(aws_sdk_ssm::Client::new(&sdk))
                .secret(&name)
                .await
                .map_err(|e| ConfigError::Invalid {
                    name: "DATABENTO_API_KEY_PARAM".into(),
                    reason: e.to_string(),
                })?
        }
    };
    let roots: Vec<String> = env
        .required("FRONT_MONTH_ROOTS")?
        .split(',')
        .map(|r| r.trim().to_ascii_uppercase())
        .filter(|r| !r.is_empty())
        .collect();
    let dataset = env
        .optional("DATABENTO_DATASET")
        .unwrap_or_else(|| DEFAULT_DATASET.to_owned());
    let source = Databento::new(
        &key,
        &dataset,
        env.optional("DATABENTO_BASE_URL").as_deref(),
    )?;
    let cache = DynamoFrontMonths::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        env.required("FRONT_MONTH_TABLE")?,
    );
    let (source, cache, roots) = (&source, &cache, &roots);
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<EventBridgeEvent>| async move {
            refresh(source, cache, roots, &SystemClock)
                .await
                .map(|n| format!("{n} front months cached"))
                .map_err(|e| lambda_runtime::Diagnostic {
                    error_type: "FrontMonthRefreshFailed".into(),
                    error_message: e.to_string(),
                })
        },
    ))
    .await
}
