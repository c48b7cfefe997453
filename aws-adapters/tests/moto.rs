//! The adapters against a real moto server (started by `scripts/test.sh`, which exports
//! `MOTO_ENDPOINT`). Each test uses its own queue and parameter names, so tests can share
//! one server and run in parallel.
#![allow(clippy::unwrap_used)]

use aws_adapters::{SqsFifoQueue, SsmSecretStore, local_sdk_config};
use secrecy::ExposeSecret;
use shared::ports::{FifoMessage, FifoQueue, QueueError, SecretError, SecretStore};
use test_kit::moto::{endpoint, fifo_queue, sdk_config, sqs, unique_name};

fn msg(group: &str, dedup: &str, body: &str) -> FifoMessage {
    FifoMessage {
        group_id: group.into(),
        dedup_id: dedup.into(),
        body: body.into(),
    }
}

#[tokio::test]
async fn fifo_send_sets_group_and_dedup_id_and_sqs_drops_the_duplicate() {
    let client = sqs().await;
    let url = fifo_queue(&client, "adapter-send").await;
    let queue = SqsFifoQueue::new(client.clone(), &url);
    queue.send(msg("EURUSD", "sig-1", "first")).await.unwrap();
    queue
        .send(msg("EURUSD", "sig-1", "first again"))
        .await
        .unwrap();
    queue.send(msg("EURUSD", "sig-2", "second")).await.unwrap();

    let got = client
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    let seen: Vec<_> = got
        .iter()
        .map(|m| {
            let attrs = m.attributes.as_ref().unwrap();
            let attr = |k| attrs[&aws_sdk_sqs::types::MessageSystemAttributeName::from(k)].clone();
            (
                m.body.clone().unwrap(),
                attr("MessageGroupId"),
                attr("MessageDeduplicationId"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("first".to_owned(), "EURUSD".to_owned(), "sig-1".to_owned()),
            ("second".to_owned(), "EURUSD".to_owned(), "sig-2".to_owned()),
        ]
    );
}

#[tokio::test]
async fn send_to_a_missing_queue_is_a_refusal_naming_the_queue() {
    let client = sqs().await;
    let url = format!("{}/123456789012/no-such-queue.fifo", endpoint());
    let err = SqsFifoQueue::new(client, &url)
        .send(msg("EURUSD", "x", "y"))
        .await
        .unwrap_err();
    match err {
        QueueError::Refused { queue, .. } => assert_eq!(queue, url),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn send_to_an_unreachable_endpoint_is_unavailable_not_refused() {
    // A port nothing listens on: the request never reaches a queue service.
    let cfg = local_sdk_config("http://127.0.0.1:9", test_kit::moto::REGION).await;
    let client = aws_sdk_sqs::Client::new(&cfg);
    let err = SqsFifoQueue::new(client, "http://127.0.0.1:9/1/q.fifo")
        .send(msg("EURUSD", "x", "y"))
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::Unavailable { .. }), "{err:?}");
    // The cause, not only the kind ("dispatch failure"): the operator's next step differs.
    let text = err.to_string();
    assert!(text.to_lowercase().contains("refused"), "{text}");
    let ssm = SsmSecretStore::new(aws_sdk_ssm::Client::new(&cfg));
    let err = ssm.secret("/tv/unreachable").await.unwrap_err().to_string();
    assert!(
        err.contains("/tv/unreachable") && err.to_lowercase().contains("refused"),
        "{err}"
    );
}

#[tokio::test]
async fn secure_string_is_read_decrypted_and_a_missing_one_is_named() {
    let client = aws_sdk_ssm::Client::new(&sdk_config().await);
    let name = format!("/{}/webhook-secret", unique_name("tv-pipeline-test"));
    client
        .put_parameter()
        .name(&name)
        .value("s3cr3t-value-do-not-log")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    let store = SsmSecretStore::new(client);
    let secret = store.secret(&name).await.unwrap();
    assert_eq!(secret.expose_secret(), "s3cr3t-value-do-not-log");
    assert!(!format!("{secret:?}").contains("s3cr3t"));

    let missing = format!("{name}-missing");
    assert_eq!(
        store.secret(&missing).await.unwrap_err(),
        SecretError::NotFound { name: missing }
    );
}
