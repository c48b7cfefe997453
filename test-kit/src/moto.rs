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
    // Each moto test's log lines are captured for the suite's log audit.
    shared::telemetry::init_test_logs();
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

/// A new FIFO queue and its dead-letter queue (`<prefix>-dlq`), the queue's redrive policy
/// naming it after `max_receive_count` receives, as the stack's queues are; their URLs,
/// `(dead-letter queue, queue)`.
///
/// # Panics
/// When moto does not create them.
pub async fn fifo_pair(
    client: &aws_sdk_sqs::Client,
    prefix: &str,
    max_receive_count: u32,
) -> (String, String) {
    let dlq = fifo_queue(client, &format!("{prefix}-dlq")).await;
    let redrive = format!(
        r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":{max_receive_count}}}"#,
        queue_arn(client, &dlq).await
    );
    let queue = fifo_queue_with(
        client,
        prefix,
        [(QueueAttributeName::RedrivePolicy, redrive)],
    )
    .await;
    (dlq, queue)
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

/// A TCP proxy in front of the moto server that loses answers: every request whose head
/// holds `action` (an `X-Amz-Target` such as `AmazonSQS.SendMessage` or
/// `DynamoDB_20120810.UpdateItem`), up to `count` of them, is carried to moto whole, and its
/// answer is read and dropped and the caller's connection closed: a write that landed while
/// its caller saw a timeout or a broken connection. Every other request passes, one per
/// connection (`Connection: close` is asked of moto, so each request's head is seen here).
/// Returns the proxy's endpoint (`http://127.0.0.1:<port>`) and the count of answers lost so
/// far. Bounded: it serves 256 connections, each on threads of its own, and then stops.
///
/// # Panics
/// As [`endpoint`], and when no port can be bound on 127.0.0.1.
pub fn losing_answers(
    action: &'static str,
    count: usize,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    proxy(action, count, false)
}

/// [`losing_answers`] for the first `action` request only, every later one answered HTTP 500
/// (`InternalFailure`, AWS's JSON error shape) without reaching moto: a write that landed,
/// whose caller's retries then met a failing service, so the last answer it sees is a 5xx.
///
/// # Panics
/// As [`losing_answers`].
pub fn losing_then_failing(
    action: &'static str,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    proxy(action, 1, true)
}

fn proxy(
    action: &'static str,
    count: usize,
    fail_rest: bool,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let target = endpoint()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
    let proxy = format!("http://{}", listener.local_addr().expect("its address"));
    let lost = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = lost.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().take(256) {
            let Ok(mut client) = client else { break };
            let target = target.clone();
            let lost = lost.clone();
            std::thread::spawn(move || {
                let _ = client.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                // The request: its head, then as many bytes of body as it says.
                let mut request = Vec::new();
                let mut buf = [0u8; 16 * 1024];
                let head_end = loop {
                    if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match client.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                while request.len() < head_end + length {
                    match client.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                // One request per connection: the head asks moto to close after answering.
                let mut lines: Vec<&str> = head
                    .trim_end_matches("\r\n")
                    .split("\r\n")
                    .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                    .collect();
                lines.push("Connection: close");
                let mut forwarded = format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes();
                forwarded.extend_from_slice(&request[head_end..]);
                if fail_rest && head.contains(action) && lost.load(Ordering::SeqCst) >= count {
                    let body = r#"{"__type":"InternalFailure","message":"scripted failure"}"#;
                    let answer = format!(
                        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: \
                         application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: \
                         close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = client.write_all(answer.as_bytes());
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    return;
                }
                let Ok(mut upstream) = std::net::TcpStream::connect(&target) else {
                    return;
                };
                let _ = upstream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                if upstream.write_all(&forwarded).is_err() {
                    return;
                }
                let lose = head.contains(action)
                    && lost
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                            (n < count).then_some(n + 1)
                        })
                        .is_ok();
                let mut answer = Vec::new();
                let _ = upstream.read_to_end(&mut answer);
                if !lose {
                    let _ = client.write_all(&answer);
                }
                let _ = client.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    (proxy, counted)
}
