//! An AWS answer that cannot be read is reported by its kind, never with its body: for a
//! parameter or token read, the body holds the decrypted secret. The SDK's own
//! `DisplayErrorContext` appends the error's debug print, which carries the raw response.
#![allow(clippy::unwrap_used)]

use aws_adapters::SsmSecretStore;
use aws_adapters::tokens::DynamoTokenStore;
use shared::ports::{SecretStore, TokenStore};
use std::io::{Read, Write};
use std::time::Duration;

const SECRET: &str = "SECRET-XYZ-never-printed";

/// A server on 127.0.0.1 that answers every request 200 with `body` (at most 8 connections,
/// then it stops).
fn answering(body: &'static str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for socket in listener.incoming().take(8) {
            let Ok(mut socket) = socket else { break };
            let _ = socket.set_read_timeout(Some(Duration::from_millis(300)));
            let mut buf = vec![0u8; 64 * 1024];
            let _ = socket.read(&mut buf);
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(answer.as_bytes());
        }
    });
    endpoint
}

async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    // What the SDK and the adapters log while reading these bodies goes to the log audit.
    shared::telemetry::init_test_logs();
    aws_adapters::local_sdk_config(endpoint, "us-east-1").await
}

#[tokio::test]
async fn an_unreadable_parameter_answer_never_prints_the_value() {
    // `Version` is a number in GetParameter's answer: as text the answer cannot be read.
    let endpoint = answering(
        r#"{"Parameter":{"Name":"/t","Type":"SecureString","Value":"SECRET-XYZ-never-printed","Version":"notanumber"}}"#,
    );
    let store = SsmSecretStore::new(aws_sdk_ssm::Client::new(&sdk(&endpoint).await));
    let err = store.secret("/t").await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("/t"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

#[tokio::test]
async fn an_unreadable_token_answer_never_prints_the_token() {
    let endpoint = answering(
        r#"{"Item":{"pk":{"S":"token#tradovate"},"access_token":{"S":"SECRET-XYZ-never-printed"}},"ConsumedCapacity":"notanobject"}"#,
    );
    let cfg = sdk(&endpoint).await;
    let store = DynamoTokenStore::new(aws_sdk_dynamodb::Client::new(&cfg), "tokens");
    let err = store.load("tradovate").await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains(SECRET), "{text}");
}

#[tokio::test]
async fn an_unreadable_token_parameter_answer_never_prints_the_token() {
    let endpoint = answering(
        r#"{"Parameter":{"Name":"/tv/tradovate-token","Type":"SecureString","Value":"{\"accessToken\":\"SECRET-XYZ-never-printed\"}","Version":"notanumber"}}"#,
    );
    let store = aws_adapters::tokens::SsmTokenStore::new(
        aws_sdk_ssm::Client::new(&sdk(&endpoint).await),
        "/tv",
    );
    let err = store.load("tradovate-token").await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains(SECRET), "{text}");
}

/// A send answered 200 with a body that cannot be read may have been queued: unavailable
/// (retried, its dedup id dropping a second copy), never refused as nothing queued; and the
/// reason says the answer could not be read.
#[tokio::test]
async fn an_unreadable_answer_to_a_send_is_unavailable_not_refused() {
    use shared::ports::{FifoMessage, FifoQueue, QueueError};
    let endpoint = answering(r#"{"MessageId": {"not": "text"}, "MD5OfMessageBody": 5}"#);
    let queue = aws_adapters::SqsFifoQueue::new(
        aws_sdk_sqs::Client::new(&sdk(&endpoint).await),
        format!("{endpoint}/000000000000/signals.fifo"),
    );
    let err = queue
        .send(FifoMessage {
            group_id: "EURUSD".into(),
            dedup_id: "d-1".into(),
            body: "{}".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::Unavailable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("could not read") || text.contains("response error"),
        "{text}"
    );
}
