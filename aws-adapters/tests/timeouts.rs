//! The Lambdas' AWS clients give up on a request that is never answered: a server on
//! 127.0.0.1 that accepts connections and reads but never answers stands in for a pooled
//! connection that died while the Lambda was frozen.
#![allow(clippy::unwrap_used)]

use aws_adapters::{SqsFifoQueue, lambda_timeouts};
use shared::ports::{FifoMessage, FifoQueue};
use std::io::Read;
use std::time::{Duration, Instant};

/// The Lambdas' configuration carries the bounds (the test below uses them on its own
/// configuration, pointed at the silent server).
#[tokio::test]
async fn the_lambdas_sdk_configuration_bounds_every_request() {
    let sdk = aws_adapters::load_sdk_config().await;
    let t = sdk.timeout_config().expect("a timeout configuration");
    let want = lambda_timeouts();
    assert_eq!(
        t.operation_attempt_timeout(),
        want.operation_attempt_timeout()
    );
    assert_eq!(t.operation_timeout(), want.operation_timeout());
    assert!(want.operation_attempt_timeout().is_some() && want.operation_timeout().is_some());
}

#[tokio::test]
async fn a_request_never_answered_fails_within_the_operation_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    // Each connection is read and held open, never answered; bounded: at most 16 of them,
    // then held for 30 s (the test is over well before).
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for socket in listener.incoming().take(16) {
            let Ok(mut socket) = socket else { break };
            let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
            let mut buf = vec![0u8; 64 * 1024];
            let _ = socket.read(&mut buf);
            held.push(socket);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .timeout_config(lambda_timeouts())
        .load()
        .await;
    let queue = SqsFifoQueue::new(
        aws_sdk_sqs::Client::new(&sdk),
        format!("{endpoint}/000000000000/signals.fifo"),
    );
    let start = Instant::now();
    // Without a bound this send would wait for as long as the connection stays open.
    let sent = tokio::time::timeout(
        Duration::from_secs(30),
        queue.send(FifoMessage {
            group_id: "EURUSD".into(),
            dedup_id: "sig-1".into(),
            body: "{}".into(),
        }),
    )
    .await;
    let took = start.elapsed();
    let sent = sent.expect("the SDK gave up by itself, before the test's own 30 s");
    assert!(sent.is_err(), "{sent:?}");
    let timeouts = lambda_timeouts();
    let attempt = timeouts.operation_attempt_timeout().unwrap();
    let operation = timeouts.operation_timeout().unwrap();
    assert!(
        took >= attempt,
        "gave up after {took:?}, before one attempt's {attempt:?}"
    );
    assert!(
        took < operation + Duration::from_secs(2),
        "gave up after {took:?}, the operation's bound is {operation:?}"
    );
}

/// A 5xx whose body names no SQS error (a gateway's HTML 502) may have passed the message
/// on: `Unavailable`, never `Refused` ("nothing queued"). Bounded: 16 connections.
#[tokio::test]
async fn a_5xx_without_an_sqs_error_code_is_unavailable_not_refused() {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for socket in listener.incoming().take(16) {
            let Ok(mut socket) = socket else { break };
            let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
            let mut buf = vec![0u8; 64 * 1024];
            let _ = socket.read(&mut buf);
            let body = "<html>502 Bad Gateway</html>";
            let _ = write!(
                socket,
                "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let sdk = aws_adapters::local_sdk_config(&endpoint, "us-east-1").await;
    let queue = SqsFifoQueue::new(
        aws_sdk_sqs::Client::new(&sdk),
        format!("{endpoint}/000000000000/signals.fifo"),
    );
    let sent = queue
        .send(FifoMessage {
            group_id: "EURUSD".into(),
            dedup_id: "d-502".into(),
            body: "{}".into(),
        })
        .await;
    assert!(
        matches!(sent, Err(shared::ports::QueueError::Unavailable { .. })),
        "{sent:?}"
    );
}
