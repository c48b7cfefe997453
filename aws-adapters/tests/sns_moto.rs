//! The SNS notifier against a real moto server (`MOTO_ENDPOINT`, exported by
//! `scripts/test.sh`): what it publishes reaches an SQS queue subscribed to the topic, inside
//! SNS's JSON envelope, with the subject cleaned to what SNS accepts. Every test makes its own
//! topic and queue.
#![allow(clippy::unwrap_used)]

use aws_adapters::sns::{MAX_SUBJECT, SnsNotifier, sns_subject};
use shared::ports::{Notification, Notifier, QueueError};
use test_kit::moto::{queue_arn, sdk_config, unique_name};

/// A topic with one subscribed queue: the notifier, the SQS client and the queue URL.
async fn topic_with_queue(name: &str) -> (SnsNotifier, aws_sdk_sqs::Client, String) {
    let cfg = sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&cfg);
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let name = unique_name(name);
    let topic = sns
        .create_topic()
        .name(&name)
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn(&sqs, &queue).await)
        .send()
        .await
        .unwrap();
    (SnsNotifier::new(sns, topic), sqs, queue)
}

/// The one SNS envelope waiting in the queue.
async fn envelope(sqs: &aws_sdk_sqs::Client, queue: &str) -> serde_json::Value {
    let messages = sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(messages.len(), 1, "{messages:?}");
    serde_json::from_str(messages[0].body().unwrap()).unwrap()
}

#[tokio::test]
async fn a_notification_reaches_a_subscribed_queue_with_subject_and_message() {
    let (notifier, sqs, queue) = topic_with_queue("alerts").await;
    let message = "signal 3f2a (buy EUR/USD on OANDA) ended Rejected: INSUFFICIENT_MARGIN\n\
                   second line — kept as is, non-ASCII too: é";
    notifier
        .notify(Notification {
            subject: "oanda Rejected: buy EUR_USD".into(),
            message: message.into(),
            urgent: false,
        })
        .await
        .unwrap();
    let got = envelope(&sqs, &queue).await;
    assert_eq!(got["Type"], "Notification");
    assert_eq!(got["TopicArn"], notifier.topic_arn());
    assert_eq!(got["Subject"], "oanda Rejected: buy EUR_USD");
    assert_eq!(got["Message"], message);
}

#[tokio::test]
async fn a_long_non_ascii_subject_is_cleaned_and_still_publishes() {
    let (notifier, sqs, queue) = topic_with_queue("alerts-long").await;
    let subject = format!(
        "tradovate Unknown — ordre «ESZ6» échoué\n{}",
        "détail ".repeat(40)
    );
    notifier
        .notify(Notification {
            subject: subject.clone(),
            message: "body".into(),
            urgent: false,
        })
        .await
        .unwrap();
    let got = envelope(&sqs, &queue).await;
    let sent = got["Subject"].as_str().unwrap();
    assert_eq!(Some(sent), sns_subject(&subject).as_deref());
    assert!(sent.len() <= MAX_SUBJECT, "{} characters", sent.len());
    assert!(sent.starts_with("tradovate Unknown ? ordre ?ESZ6? ?chou? d?tail"));
    assert!(sent.chars().all(|c| c.is_ascii_graphic() || c == ' '));
    assert_eq!(got["Message"], "body");
}

#[tokio::test]
async fn a_blank_subject_is_left_out_and_the_message_still_goes() {
    let (notifier, sqs, queue) = topic_with_queue("alerts-blank").await;
    notifier
        .notify(Notification {
            subject: " \n ".into(),
            message: "token refresh failed".into(),
            urgent: false,
        })
        .await
        .unwrap();
    let got = envelope(&sqs, &queue).await;
    assert_eq!(got["Message"], "token refresh failed");
    assert!(
        got.get("Subject").is_none_or(|s| s.is_null()),
        "{:?}",
        got.get("Subject")
    );
}

#[tokio::test]
async fn publishing_to_a_missing_topic_is_unavailable_naming_the_topic() {
    let name = unique_name("no-such-topic");
    let notifier = SnsNotifier::new(
        aws_sdk_sns::Client::new(&sdk_config().await),
        format!("arn:aws:sns:us-east-1:123456789012:{name}"),
    );
    let err = notifier
        .notify(Notification {
            subject: "s".into(),
            message: "m".into(),
            urgent: false,
        })
        .await
        .unwrap_err();
    match err {
        QueueError::Unavailable { queue, reason } => {
            assert_eq!(queue, name);
            assert!(reason.contains("NotFound"), "{reason}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}
