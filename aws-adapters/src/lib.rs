//! AWS implementations of the `shared` ports: SQS FIFO queues and SSM SecureString secrets.
//!
//! Kept out of `shared` so the domain core builds and tests without the AWS SDK. The SDK
//! configuration honours `AWS_ENDPOINT_URL`, which is how tests and `cargo lambda watch`
//! point every client at a local moto server.

pub mod dynamodb;
pub mod front_months;
pub mod health;
pub mod redelivery;
pub mod sns;
pub mod tokens;

pub use dynamodb::DynamoIdempotencyStore;
pub use health::DynamoHealthStore;
pub use redelivery::{AfterBatch, redeliver_soon};
pub use sns::SnsNotifier;

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

/// What an AWS SDK call's failure says, never a request's or a response's body: a service
/// error's code and AWS's message (which names the action or key refused); a dispatch failure
/// or a timeout with the chain of its causes (a refused connection, a name that did not
/// resolve, a certificate), which come before any response; any other kind (a response that
/// could not be read, a request that could not be built) by its kind alone. The SDK's
/// `DisplayErrorContext` appends the error's debug print, which for an unreadable response
/// holds the raw body: for a parameter or token read, the decrypted secret.
pub fn sdk_error_text<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        // An answer with neither: one the SDK could not read (a 200 whose body did not
        // parse comes back so), named as that.
        SdkError::ServiceError(service)
            if service.err().code().is_none() && service.err().message().is_none() =>
        {
            "an answer with no error code or message (one the SDK could not read, or a proxy's)"
                .to_owned()
        }
        SdkError::ServiceError(service) => format!(
            "{}: {}",
            service.err().code().unwrap_or("Unknown"),
            service.err().message().unwrap_or_default()
        ),
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            let mut text = err.to_string();
            let mut cause = std::error::Error::source(err);
            while let Some(c) = cause {
                text.push_str(": ");
                text.push_str(&c.to_string());
                cause = c.source();
            }
            text
        }
        _ => err.to_string(),
    }
}
use secrecy::SecretString;
use shared::ports::{FifoMessage, FifoQueue, QueueError, SecretError, SecretStore};

/// The SDK configuration of a Lambda: region, credentials and endpoint from the environment,
/// and [`lambda_timeouts`].
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(lambda_timeouts())
        .load()
        .await
}

/// How long one AWS request may take before it is given up (and retried by the SDK, up to
/// its attempts), and the whole call with its retries. The SDK's defaults bound only the
/// connect (3.1 s): a request on a pooled connection that died while the Lambda was frozen
/// waits for an answer that never comes, until the function's own timeout (the router's
/// 30 s, a whole batch returning only after its visibility timeout, its signals then
/// expired). AWS's SQS, DynamoDB, SSM and SNS calls answer within tens of milliseconds in a
/// region; 3 s per attempt leaves room for a cold connection and a slow moment.
///
/// A retried call whose first attempt did reach AWS is safe here: SQS FIFO sends carry a
/// deduplication id, and the idempotency claim's repeat recognizes its own write by its
/// `claim_token` and holds the lease, reconciling before it sends.
pub fn lambda_timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_millis(3_100))
        .operation_attempt_timeout(std::time::Duration::from_secs(3))
        .operation_timeout(std::time::Duration::from_secs(10))
        .build()
}

/// A resource name (queue, table, topic, parameter path) that no other test in this run
/// shares on one moto server. Tests of one binary run concurrently: a timestamp alone once
/// gave two of them the same table, so a process-wide counter makes it unique.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    #[allow(
        clippy::disallowed_methods,
        reason = "a name unique across runs, not a time any decision reads"
    )]
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    format!(
        "{prefix}-{}-{}-{micros}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A configuration bound to one endpoint with static credentials: moto in tests, local runs.
pub async fn local_sdk_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .load()
        .await
}

/// One SQS FIFO queue, by URL.
#[derive(Debug, Clone)]
pub struct SqsFifoQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsFifoQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

/// An SQS call's error as a [`QueueError`]: throttling and server-side faults (by code, or by
/// an HTTP 5xx whatever its code: a gateway's 502 whose body names none) may pass, and so may
/// a call that got no answer or an answer of success it could not read
/// ([`QueueError::Unavailable`]: a send may have landed); anything
/// else the service said no to, or a request never built, will not ([`QueueError::Refused`]:
/// nothing was queued).
pub fn classify<E>(
    queue: &str,
    err: SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let queue = queue.to_owned();
    match &err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("Unknown").to_owned();
            let reason = sdk_error_text(&err);
            // An answer of success the SDK could not read: the send may have been carried
            // out, so not refused.
            let unread_success =
                service.raw().status().is_success() && service.err().code().is_none();
            let transient = unread_success
                || service.raw().status().is_server_error()
                || code.contains("Throttl")
                || code.contains("RequestThrottled")
                || code.contains("InternalError")
                // SQS's own code for an HTTP 500 ("The request processing has failed because of
                // an unknown error, exception or failure",
                // <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html>).
                || code.contains("InternalFailure")
                || code.contains("ServiceUnavailable")
                || code.contains("KmsThrottled");
            if transient {
                QueueError::Unavailable { queue, reason }
            } else {
                QueueError::Refused { queue, reason }
            }
        }
        // The chain of causes: the error's own text is a fixed phrase per kind ("dispatch
        // failure"), where the cause says a connection was refused, a name did not resolve or
        // a certificate failed.
        SdkError::ConstructionFailure(_) => QueueError::Refused {
            queue,
            reason: format!("request could not be built: {}", sdk_error_text(&err)),
        },
        _ => QueueError::Unavailable {
            queue,
            reason: sdk_error_text(&err),
        },
    }
}

impl FifoQueue for SqsFifoQueue {
    async fn send(&self, message: FifoMessage) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_group_id(message.group_id)
            .message_deduplication_id(message.dedup_id)
            .message_body(message.body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&self.url, e))
    }
}

/// SSM Parameter Store SecureString parameters, decrypted on read.
#[derive(Debug, Clone)]
pub struct SsmSecretStore {
    client: aws_sdk_ssm::Client,
}

impl SsmSecretStore {
    pub fn new(client: aws_sdk_ssm::Client) -> Self {
        Self { client }
    }
}

impl SecretStore for SsmSecretStore {
    async fn secret(&self, name: &str) -> Result<SecretString, SecretError> {
        let out = self
            .client
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| {
                let service = e.as_service_error();
                if service.is_some_and(|s| s.is_parameter_not_found()) {
                    SecretError::NotFound {
                        name: name.to_owned(),
                    }
                } else {
                    // Never the response's body: an answer that could not be read may hold
                    // the decrypted value (`sdk_error_text`).
                    SecretError::Unavailable {
                        name: name.to_owned(),
                        reason: sdk_error_text(&e),
                    }
                }
            })?;
        out.parameter
            .and_then(|p| p.value)
            .map(SecretString::from)
            .ok_or_else(|| SecretError::NotFound {
                name: name.to_owned(),
            })
    }
}
