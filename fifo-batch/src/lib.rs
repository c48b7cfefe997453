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

/// The time from now until `deadline` (zero once it has passed), as the system clock reads it:
/// Lambda gives its deadline as a wall-clock instant.
pub fn time_left(deadline: SystemTime) -> Duration {
    #[allow(
        clippy::disallowed_methods,
        reason = "Lambda gives its deadline as a wall-clock instant: only the system clock compares with it"
    )]
    let now = SystemTime::now();
    deadline.duration_since(now).unwrap_or_default()
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
    // Checked before any record runs: failing the whole batch after some records executed
    // would bring those back too.
    if let Some(position) = event.records.iter().position(|r| r.message_id.is_none()) {
        return Err(MissingMessageId(position));
    }
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
        } else if deadline.is_some_and(|d| {
            #[allow(
                clippy::disallowed_methods,
                reason = "Lambda gives its deadline as a wall-clock instant: only the system clock compares with it"
            )]
            let now = SystemTime::now();
            now + DEADLINE_MARGIN >= d
        }) {
            Some("too close to the invocation deadline to start".to_owned())
        } else {
            handle(record).await.err().map(|e| e.to_string())
        };
        if let Some(reason) = skip {
            warn!(
                message_id = %id,
                group = group.unwrap_or("(none)"),
                error = %reason,
                "record reported failed"
            );
            failed_groups.insert(group);
            errors.push((id.clone(), reason));
            response.add_failure(id);
        }
    }
    Ok((response, errors))
}

/// How long a failed record stays invisible before it comes back, by its
/// `ApproximateReceiveCount` (1 on the first receive): 1 s, 2 s, 4 s, then 8 s.
///
/// Without this, a failed record comes back only after the queue's visibility timeout (six
/// times the consumer's timeout: minutes), far past a signal's 30-second staleness limit, and
/// its message group stays blocked meanwhile. Four retries spend 15 s of waiting, so a
/// transient fault (an unreachable store, a throttle, a held lease) clears inside the budget.
pub fn retry_delay(receive_count: u32) -> Duration {
    Duration::from_secs(1u64 << receive_count.saturating_sub(1).min(3))
}

/// One failed record to make visible again soon: its receipt handle and the delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redelivery {
    pub message_id: String,
    pub receipt_handle: String,
    pub delay: Duration,
}

/// The redeliveries of a batch response: every record reported failed, with the delay of
/// [`retry_delay`]. Every failed record of a group is included, not only the first, because a
/// FIFO group stays blocked while any of its messages is in flight (Amazon SQS Developer
/// Guide, "FIFO queue message grouping"). A record without a receipt handle is left to the
/// queue's visibility timeout.
pub fn redeliveries(event: &SqsEvent, response: &SqsBatchResponse) -> Vec<Redelivery> {
    let failed: HashSet<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    event
        .records
        .iter()
        .filter_map(|r| {
            let id = r.message_id.as_deref()?;
            if !failed.contains(id) {
                return None;
            }
            let count = r
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse::<u32>().ok())
                .unwrap_or(1);
            Some(Redelivery {
                message_id: id.to_owned(),
                receipt_handle: r.receipt_handle.clone()?,
                delay: retry_delay(count),
            })
        })
        .collect()
}

/// The CloudWatch embedded-metric line for `count` records a function reported failed:
/// metric `RecordFailures` (Count) in namespace `TvPipeline`, without dimensions so the whole
/// deployment is one metric (and one alarm); the function is a plain property of the line.
/// `at_ms` is the time in milliseconds since the epoch.
pub fn record_failures_line(function: &str, count: usize, at_ms: i64) -> String {
    shared::telemetry::emf_count_line(
        "RecordFailures",
        count as u64,
        at_ms,
        &[],
        &[("Function", function)],
    )
}

#[cfg(test)]
mod tests {

    #[test]
    #[allow(clippy::disallowed_methods, reason = "a deadline relative to now")]
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

    #[test]
    fn the_retry_delay_doubles_by_receive_count_and_stays_inside_the_staleness_budget() {
        let delays: Vec<u64> = (0..=7).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 1, 2, 4, 8, 8, 8, 8]);
        // Four retries (receives 1 to 4) wait 15 s in all: half the 30 s limit.
        assert_eq!((1..=4).map(|n| retry_delay(n).as_secs()).sum::<u64>(), 15);
    }

    #[tokio::test]
    async fn every_failed_record_is_redelivered_with_its_receive_counts_delay() {
        let mut ev = event(&[
            ("1", Some("A"), "a1"),
            ("2", Some("A"), "fail a2"),
            ("3", Some("B"), "b1"),
            ("4", Some("A"), "a3"),
        ]);
        for (i, r) in ev.records.iter_mut().enumerate() {
            r.receipt_handle = Some(format!("rh{}", i + 1));
            r.attributes
                .insert("ApproximateReceiveCount".into(), (i + 1).to_string());
        }
        let resp = process(&ev, None, |r| {
            let fail = r.body.as_deref().unwrap_or_default().starts_with("fail");
            async move { if fail { Err("boom") } else { Ok(()) } }
        })
        .await
        .unwrap();
        let plan = redeliveries(&ev, &resp);
        assert_eq!(
            plan,
            [
                Redelivery {
                    message_id: "2".into(),
                    receipt_handle: "rh2".into(),
                    delay: Duration::from_secs(2),
                },
                Redelivery {
                    message_id: "4".into(),
                    receipt_handle: "rh4".into(),
                    delay: Duration::from_secs(8),
                },
            ]
        );
    }

    #[test]
    fn the_failure_metric_line_is_embedded_metric_format_without_dimensions() {
        let line: serde_json::Value =
            serde_json::from_str(&record_failures_line("router \"x\"", 3, 1_700_000_000_000))
                .unwrap();
        assert_eq!(line["RecordFailures"], 3);
        assert_eq!(line["Function"], "router \"x\"");
        let cw = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "TvPipeline");
        assert_eq!(cw["Dimensions"], serde_json::json!([[]]));
        assert_eq!(cw["Metrics"][0]["Name"], "RecordFailures");
    }

    #[tokio::test]
    async fn a_record_without_a_message_id_fails_the_batch_before_any_record_runs() {
        let mut ev = event(&[("1", Some("A"), "a1"), ("2", Some("A"), "a2")]);
        ev.records[1].message_id = None;
        let mut ran = 0;
        let result = process(&ev, None, |_| {
            ran += 1;
            async { Ok::<(), &str>(()) }
        })
        .await;
        assert!(matches!(result, Err(MissingMessageId(1))));
        assert_eq!(ran, 0);
    }

    #[tokio::test]
    async fn a_failure_without_a_group_blocks_everything_after_it() {
        let ev = event(&[("1", None, "fail"), ("2", Some("B"), "b1")]);
        assert_eq!(run(&ev).await.0, ["1", "2"]);
    }
}
