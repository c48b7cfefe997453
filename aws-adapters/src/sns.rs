//! Operator notifications through one SNS topic.
//!
//! SNS rejects the whole publish when the subject breaks its rules (at most 100 characters,
//! ASCII only, no line breaks or control characters, starting with a letter, number or
//! punctuation mark), so the subject is cleaned here rather than trusted; the message goes
//! out as is.

use shared::ports::{Notification, Notifier, QueueError};

/// SNS's limit on `Subject`, in characters.
pub const MAX_SUBJECT: usize = 100;

/// The subject as SNS accepts it: non-ASCII characters become `?` (so a reader sees that
/// something was there), control characters and line breaks become spaces, leading
/// whitespace goes and the rest is cut at [`MAX_SUBJECT`]. `None` when nothing is left:
/// SNS refuses an empty subject, and without one it uses its own default.
pub fn sns_subject(text: &str) -> Option<String> {
    let clean: String = text
        .chars()
        .map(|c| match c {
            c if c.is_ascii_graphic() || c == ' ' => c,
            c if c.is_ascii() => ' ',
            _ => '?',
        })
        .skip_while(|c| *c == ' ')
        .take(MAX_SUBJECT)
        .collect();
    let clean = clean.trim_end();
    (!clean.is_empty()).then(|| clean.to_owned())
}

/// `Notifier` publishing to one SNS topic.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }

    /// The topic's name, the last part of its ARN: short enough for logs and errors.
    pub fn topic_name(&self) -> &str {
        self.topic_arn
            .rsplit(':')
            .next()
            .unwrap_or(self.topic_arn.as_str())
    }
}

impl Notifier for SnsNotifier {
    async fn notify(&self, note: Notification) -> Result<(), QueueError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .set_subject(sns_subject(&note.subject))
            .message(note.message)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let reason = crate::sdk_error_text(&e);
                // The port offers no refusal for notifications: a caller only logs either.
                QueueError::Unavailable {
                    queue: self.topic_name().to_owned(),
                    reason,
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_keeps_plain_ascii_as_is() {
        assert_eq!(
            sns_subject("oanda Rejected: buy EUR_USD").as_deref(),
            Some("oanda Rejected: buy EUR_USD")
        );
    }

    #[test]
    fn subject_is_ascii_one_line_and_at_most_100_characters() {
        let long = format!("\n  oanda Rejected — é\tline\r\n{}", "x".repeat(300));
        let subject = sns_subject(&long).unwrap_or_default();
        assert_eq!(subject.chars().count(), MAX_SUBJECT);
        assert!(
            subject.starts_with("oanda Rejected ? ? line  x"),
            "{subject}"
        );
        assert!(subject.chars().all(|c| c.is_ascii_graphic() || c == ' '));
    }

    #[test]
    fn subject_of_only_blanks_is_left_out() {
        assert_eq!(sns_subject(""), None);
        assert_eq!(sns_subject(" \n\t "), None);
    }
}
