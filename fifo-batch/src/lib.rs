//! Sequential SQS FIFO batch processing with `ReportBatchItemFailures`.
//!
//! Records of one message group must run in order and never concurrently. Once a record
//! fails, every later record of its group is reported failed unprocessed, so the retry
//! replays the group from the failure on. Without a group id ordering cannot be scoped, so a
//! failure there blocks everything after it.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use std::collections::HashSet;
use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, SystemTime};
use tracing::warn;

/// Records are not started when less than this is left before the deadline: they come back
/// rather than being cut off mid-request.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// The invocation's deadline as the batch should honour it. Lambda always hands out an
/// absolute time in the future; `cargo lambda watch` sends the constant 600000 ms (ten minutes
/// after the epoch), which would make every record "too close to the deadline". A deadline
/// more than a day in the past is such a placeholder, not a deadline: none is applied.
pub fn usable_deadline(deadline: SystemTime, now: SystemTime) -> Option<SystemTime> {
    const PLACEHOLDER_BEFORE: Duration = Duration::from_secs(24 * 3600);
    match now.duration_since(deadline) {
        Ok(past) if past > PLACEHOLDER_BEFORE => {
            warn!("the runtime's invocation deadline is not a real time; applying none");
            None
        }
        _ => Some(deadline),
    }
}

/// A record without a `messageId` cannot be reported on its own: the whole batch fails.
#[derive(Debug, thiserror::Error)]
#[error(
    "SQS record without a messageId at position {0}: cannot report it, failing the whole batch"
)]
pub struct MissingMessageId(pub usize);

impl From<MissingMessageId> for lambda_runtime::Diagnostic {
    fn from(err: MissingMessageId) -> Self {
        Self {
            error_type: "MissingMessageId".into(),
            error_message: err.to_string(),
        }
    }
}

/// Runs `handle` over the batch in order and reports the records to retry.
pub async fn process<'a, F, Fut, E>(
    event: &'a SqsEvent,
    deadline: Option<SystemTime>,
    handle: F,
) -> Result<SqsBatchResponse, MissingMessageId>
where
    F: FnMut(&'a SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    process_with_errors(event, deadline, handle)
        .await
        .map(|(response, _)| response)
}

/// [`process`], also returning why each failed record failed (message id, reason), for
/// consumers that keep it (the local stack shows it on dead-lettered messages).
pub async fn process_with_errors<'a, F, Fut, E>(
    event: &'a SqsEvent,
    deadline: Option<SystemTime>,
    mut handle: F,
) -> Result<(SqsBatchResponse, Vec<(String, String)>), MissingMessageId>
where
    F: FnMut(&'a SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let mut errors = Vec::new();
    let mut response = SqsBatchResponse::default();
    let mut failed_groups: HashSet<Option<&str>> = HashSet::new();
    for (position, record) in event.records.iter().enumerate() {
        let id = record
            .message_id
            .clone()
            .ok_or(MissingMessageId(position))?;
        let group = record.attributes.get("MessageGroupId").map(String::as_str);
        let skip = if failed_groups.contains(&group) || failed_groups.contains(&None) {
            Some("an earlier record of its group failed in this batch".to_owned())
        } else if deadline.is_some_and(|d| SystemTime::now() + DEADLINE_MARGIN >= d) {
            Some("too close to the invocation deadline to start".to_owned())
        } else {
            handle(record).await.err().map(|e| e.to_string())
        };
        if let Some(reason) = skip {
            warn!(message_id = %id, group = ?group, error = %reason, "record reported failed");
            failed_groups.insert(group);
            errors.push((id.clone(), reason));
            response.add_failure(id);
        }
    }
    Ok((response, errors))
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_emulator_placeholder_deadline_is_ignored_and_a_real_one_kept() {
        let now = SystemTime::now();
        let watch = SystemTime::UNIX_EPOCH + Duration::from_millis(600_000);
        assert_eq!(usable_deadline(watch, now), None);
        let real = now + Duration::from_secs(30);
        assert_eq!(usable_deadline(real, now), Some(real));
        // Just missed (a slow start): still a real deadline, so records are held back.
        let missed = now - Duration::from_secs(1);
        assert_eq!(usable_deadline(missed, now), Some(missed));
    }
    use super::*;
    use serde_json::json;

    fn event(records: &[(&str, Option<&str>, &str)]) -> SqsEvent {
        let records: Vec<_> = records
            .iter()
            .map(|(id, group, body)| {
                let mut attrs = serde_json::Map::new();
                if let Some(g) = group {
                    attrs.insert("MessageGroupId".into(), json!(g));
                }
                json!({"messageId": id, "body": body, "attributes": attrs, "messageAttributes": {}})
            })
            .collect();
        serde_json::from_value(json!({ "Records": records })).unwrap()
    }

    fn failed(resp: &SqsBatchResponse) -> Vec<String> {
        resp.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect()
    }

    async fn run(ev: &SqsEvent) -> (Vec<String>, Vec<String>) {
        let mut seen = Vec::new();
        let resp = process(ev, None, |r| {
            let body = r.body.clone().unwrap_or_default();
            seen.push(body.clone());
            async move {
                if body.starts_with("fail") {
                    Err("boom")
                } else {
                    Ok(())
                }
            }
        })
        .await
        .unwrap();
        (failed(&resp), seen)
    }

    #[tokio::test]
    async fn a_failure_blocks_later_records_of_its_group_only() {
        let ev = event(&[
            ("1", Some("A"), "a1"),
            ("2", Some("A"), "fail a2"),
            ("3", Some("B"), "b1"),
            ("4", Some("A"), "a3"),
            ("5", Some("B"), "b2"),
        ]);
        let (failed, seen) = run(&ev).await;
        assert_eq!(failed, ["2", "4"]);
        assert_eq!(seen, ["a1", "fail a2", "b1", "b2"]);
    }

    #[tokio::test]
    async fn a_failure_without_a_group_blocks_everything_after_it() {
        let ev = event(&[("1", None, "fail"), ("2", Some("B"), "b1")]);
        assert_eq!(run(&ev).await.0, ["1", "2"]);
    }
}
