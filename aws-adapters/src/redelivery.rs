//! Failed records come back within seconds, not after the queue's visibility timeout.
//!
//! A Lambda consumer that reports a record failed (`ReportBatchItemFailures`) leaves it
//! invisible for the rest of the queue's visibility timeout (minutes here), which outlives a
//! signal's staleness limit and blocks its FIFO message group all that time. Setting the
//! failed records' visibility to a short, growing delay
//! ([`fifo_batch::retry_delay`]) brings them back inside the budget, in group order.
//!
//! Source: Amazon SQS API Reference, `ChangeMessageVisibilityBatch` (up to 10 entries per
//! call; a receipt handle from the current receive; a new timeout counted from the call), and
//! the AWS Lambda Developer Guide, "Using Lambda with Amazon SQS" (the event source mapping
//! deletes only the records not reported failed; the failed ones return when visible).

use crate::classify;
use fifo_batch::Redelivery;
use shared::ports::QueueError;
use tracing::warn;

/// Sets each record's visibility to its delay, ten per call. A record the call could not
/// change (`Failed` entries: an expired receipt handle, say) is left to the queue's own
/// visibility timeout and logged; it still comes back, only later.
///
/// # Errors
/// [`QueueError`] when a call fails as a whole (unreachable SQS, no permission).
pub async fn redeliver_soon(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    records: &[Redelivery],
) -> Result<(), QueueError> {
    use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry as Entry;
    for chunk in records.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Entry::builder()
                    .id(i.to_string())
                    .receipt_handle(&r.receipt_handle)
                    .visibility_timeout(i32::try_from(r.delay.as_secs()).unwrap_or(i32::MAX))
                    .build()
                    .map_err(|e| QueueError::Refused {
                        queue: queue_url.to_owned(),
                        reason: format!("visibility change could not be built: {e}"),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = client
            .change_message_visibility_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| classify(queue_url, e))?;
        for failed in out.failed {
            let message_id = failed
                .id
                .parse::<usize>()
                .ok()
                .and_then(|i| chunk.get(i))
                .map_or("?", |r| r.message_id.as_str());
            warn!(
                message_id,
                code = %failed.code,
                reason = failed.message.as_deref().unwrap_or(""),
                "visibility not shortened: the record comes back after the queue's timeout"
            );
        }
    }
    Ok(())
}

/// The most time [`AfterBatch::run`] spends shortening visibilities.
pub const AFTER_BATCH_BUDGET: std::time::Duration = std::time::Duration::from_secs(3);

/// What a Lambda consumer does after each batch: prints the `RecordFailures` metric line and
/// shortens the failed records' visibility on `SOURCE_QUEUE_URL`. Built once per container.
#[derive(Debug, Clone)]
pub struct AfterBatch {
    client: aws_sdk_sqs::Client,
    /// The consumed queue; `None` (not configured) leaves failures to the visibility timeout.
    queue_url: Option<String>,
    function: String,
}

impl AfterBatch {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: Option<String>, function: &str) -> Self {
        Self {
            client,
            queue_url,
            function: function.to_owned(),
        }
    }

    /// Never fails the invocation: the response is what makes the records come back at all;
    /// this only makes it sooner. Bounded by [`AFTER_BATCH_BUDGET`] and by the invocation's
    /// `deadline` (less a margin for returning the response), so an unreachable SQS cannot
    /// time the invocation out and fail the whole batch.
    pub async fn run(
        &self,
        event: &aws_lambda_events::sqs::SqsEvent,
        response: &aws_lambda_events::sqs::SqsBatchResponse,
        now_ms: i64,
        deadline: Option<std::time::SystemTime>,
    ) {
        let failed = response.batch_item_failures.len();
        if failed == 0 {
            return;
        }
        // Lambda turns embedded-metric lines on stdout into metrics; best effort, like the
        // executors' own metric lines.
        {
            use std::io::Write;
            let line = fifo_batch::record_failures_line(&self.function, failed, now_ms);
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
        let Some(url) = &self.queue_url else {
            return;
        };
        let plan = fifo_batch::redeliveries(event, response);
        let budget = deadline.map_or(AFTER_BATCH_BUDGET, |d| {
            #[allow(
                clippy::disallowed_methods,
                reason = "Lambda gives its deadline as a wall-clock instant: only the system clock compares with it"
            )]
            let now = std::time::SystemTime::now();
            d.duration_since(now)
                .unwrap_or_default()
                .saturating_sub(std::time::Duration::from_millis(500))
                .min(AFTER_BATCH_BUDGET)
        });
        match tokio::time::timeout(budget, redeliver_soon(&self.client, url, &plan)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                warn!(error = %e, "failed records come back after the queue's visibility timeout");
            }
            Err(_) => warn!(
                budget_ms = budget.as_millis() as u64,
                "visibility not shortened in time: failed records come back after the queue's visibility timeout"
            ),
        }
    }
}
