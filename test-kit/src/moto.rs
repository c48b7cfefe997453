//! The AWS adapters' tests against a real moto server (feature `moto`).
//!
//! `scripts/test.sh` starts one moto server for the whole suite and exports its URL as
//! `MOTO_ENDPOINT`; every test binary talks to it, concurrently. So each test makes its own
//! resources under names no other test shares ([`unique_name`], [`fifo_queue`], [`table`]),
//! and a test run without the variable fails at once with a message saying how to run it,
//! rather than skipping silently.

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::QueueAttributeName;
use std::fmt::Debug;

pub use aws_adapters::unique_name;

/// The environment variable holding the moto server's URL (`http://127.0.0.1:<port>`).
pub const ENDPOINT_VAR: &str = "MOTO_ENDPOINT";

/// The region every client of the tests uses (moto keeps one set of resources per region).
pub const REGION: &str = "us-east-1";

/// The moto server's URL, from [`ENDPOINT_VAR`].
///
/// # Panics
/// When `MOTO_ENDPOINT` is not set: the test needs the moto server `bash scripts/test.sh`
/// starts.
#[track_caller]
pub fn endpoint() -> String {
    std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| {
        panic!(
            "{ENDPOINT_VAR} is not set: run the suite with `bash scripts/test.sh`, which starts \
             moto and sets it (or start moto_server and set {ENDPOINT_VAR}=http://127.0.0.1:<port>)"
        )
    })
}

/// An SDK configuration bound to the moto server: [`endpoint`], [`REGION`] and static test
/// credentials ([`aws_adapters::local_sdk_config`]).
///
/// # Panics
/// As [`endpoint`].
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_adapters::local_sdk_config(&endpoint(), REGION).await
}

/// An SQS client of the moto server.
///
/// # Panics
/// As [`endpoint`].
pub async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk_config().await)
}

/// A DynamoDB client of the moto server.
///
/// # Panics
/// As [`endpoint`].
pub async fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config().await)
}

/// A new FIFO queue named `<unique_name(prefix)>.fifo`, with SQS's defaults otherwise; its
/// URL.
///
/// # Panics
/// When moto does not create it.
pub async fn fifo_queue(client: &aws_sdk_sqs::Client, prefix: &str) -> String {
    fifo_queue_with(client, prefix, []).await
}

/// [`fifo_queue`] with `attributes` set as well (a visibility timeout, a redrive policy).
///
/// # Panics
/// When moto does not create it.
pub async fn fifo_queue_with(
    client: &aws_sdk_sqs::Client,
    prefix: &str,
    attributes: impl IntoIterator<Item = (QueueAttributeName, String)>,
) -> String {
    let name = format!("{}.fifo", unique_name(prefix));
    let mut request = client
        .create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::FifoQueue, "true");
    for (attribute, value) in attributes {
        request = request.attributes(attribute, value);
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating queue {name} on moto: {}", DisplayErrorContext(&e)))
        .queue_url
        .unwrap_or_else(|| panic!("moto created queue {name} without a URL"))
}

/// The ARN of the queue at `url` (what a redrive policy or an SNS subscription names).
///
/// # Panics
/// When moto does not answer it.
pub async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> String {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("reading the ARN of {url}: {}", DisplayErrorContext(&e)))
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .unwrap_or_else(|| panic!("moto answered no ARN for {url}"))
}

/// A new DynamoDB table named [`unique_name(prefix)`](unique_name), made by `create` (one of
/// the adapters' `create_*table` functions, which give it the layout its store expects); its
/// name.
///
/// # Panics
/// When `create` fails.
pub async fn table<E: Debug>(
    client: &aws_sdk_dynamodb::Client,
    prefix: &str,
    create: impl AsyncFn(&aws_sdk_dynamodb::Client, &str) -> Result<(), E>,
) -> String {
    let name = unique_name(prefix);
    create(client, &name)
        .await
        .unwrap_or_else(|e| panic!("creating table {name} on moto: {e:?}"));
    name
}
