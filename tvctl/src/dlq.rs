//! `tvctl dlq`: read a dead-letter queue without consuming it, show a message, and replay
//! chosen messages (or all) to their source queue, against real SQS (or moto, through
//! `AWS_ENDPOINT_URL`) or the local stack.
//!
//! Replay is receive-from-DLQ → send-to-source → delete, not SQS's `StartMessageMoveTask`:
//! that would move everything blindly (no staleness check, no audit), and moto lacks it.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use shared::execution::{SignalRecord, SignalStatus};
use shared::ports::QueueError;
use shared::replay::{DeadLetter, Decision, ReplayAudit, decide};
use std::collections::HashMap;

#[derive(Debug, Clone, Serialize)]
pub struct DeadMessage {
    pub message_id: String,
    pub group: String,
    pub receive_count: u32,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub source_queue: Option<String>,
    pub signal_id: Option<String>,
    pub summary: Option<String>,
    pub age_secs: Option<i64>,
    #[serde(skip)]
    pub body: String,
}

impl DeadMessage {
    fn describe(mut self, now: DateTime<Utc>) -> Self {
        if let Ok(letter) = DeadLetter::read(&self.body) {
            self.signal_id = Some(letter.signal_id().to_string());
            self.summary = Some(letter.summary());
            self.age_secs = Some((now - letter.signal_time()).num_seconds());
        }
        self
    }
}

/// Why listing or replaying dead letters failed, by the exit code it calls for.
#[derive(Debug)]
pub enum DlqError {
    /// What was given is wrong (a queue the local stack does not have): exit 2.
    Usage(String),
    /// A message named is not in the dead-letter queue: exit 1.
    NotFound(String),
    /// The queue or local stack did not answer: exit 3.
    Unavailable(String),
}

impl From<String> for DlqError {
    fn from(e: String) -> Self {
        Self::Unavailable(e)
    }
}

/// Where the dead letters are.
pub enum Target {
    Sqs {
        client: aws_sdk_sqs::Client,
        dlq_url: String,
        source_url: Option<String>,
    },
    Local {
        base: String,
        queue: String,
    },
}

impl Target {
    /// The dead-letter queue's name: the last part of an SQS URL; locally the queue given, or
    /// the dead-letter queue of a source queue given (`oanda.fifo` → `oanda-dlq.fifo`), as the
    /// local stack reads it.
    pub fn name(&self) -> String {
        match self {
            Self::Sqs { dlq_url, .. } => dlq_url.rsplit('/').next().unwrap_or(dlq_url).to_owned(),
            Self::Local { queue, .. } => match queue.strip_suffix(".fifo") {
                Some(stem) if !stem.ends_with("-dlq") => format!("{stem}-dlq.fifo"),
                _ => queue.clone(),
            },
        }
    }

    /// Why `msg` must not go to the `--source-url` given: SQS names the queue a dead letter
    /// came from (`DeadLetterQueueSourceArn`), and it is another (an OANDA intent sent to the
    /// Tradovate queue would be refused there and dead-lettered again, audited as replayed).
    /// `None` when they agree or either is unknown; the local stack sends a letter back to its
    /// own queue itself.
    pub fn other_source(&self, msg: &DeadMessage) -> Option<String> {
        let Self::Sqs {
            source_url: Some(url),
            ..
        } = self
        else {
            return None;
        };
        let to = url.trim_end_matches('/').rsplit('/').next()?;
        let Some(from) = msg
            .source_queue
            .as_deref()
            .and_then(|a| a.rsplit(':').next())
        else {
            // A letter the pipeline sent itself (an executor's unknown outcome or poison
            // message, the router's "no longer routes") carries no source: judged by what it
            // is. The stack's queues are `<stack>-signals.fifo` and `<stack>-<broker>.fifo`
            // (`cdk/lib/queues.ts`): the owner is a word of the name; an OANDA intent sent to the Tradovate queue was refused
            // there and dead-lettered again, audited as replayed, never reconciled.
            let stem = to.strip_suffix(".fifo").unwrap_or(to);
            let (kind, owner) = match shared::replay::DeadLetter::read(&msg.body).ok()? {
                shared::replay::DeadLetter::Signal(_) => ("a signal", "signals".to_owned()),
                shared::replay::DeadLetter::Intent(i) => ("an order intent", i.broker.to_string()),
            };
            // A word of the name (between `-`s) is the owner's.
            let its = stem.split('-').any(|word| word == owner);
            return (!its).then(|| {
                format!(
                    "it is {kind} for the {owner} queue, and {to} (--source-url) is not it: \
                     replay it to its own queue"
                )
            });
        };
        (from != to).then(|| {
            format!("it came from {from}, not {to} (--source-url): replay it to its own queue")
        })
    }

    /// Whether `--queue-url` is the dead-letter queue of `--source-url`, as the source queue's
    /// redrive policy names it (`RedrivePolicy`'s `deadLetterTargetArn` against the other's
    /// `QueueArn`, both attributes of SQS's GetQueueAttributes). A letter the pipeline sent
    /// itself (an executor's unknown outcome) names no source queue, so without this a stage's
    /// letter could be replayed into another stage's queue of the same broker (traded on its
    /// account, or looked up where it never went and its own letter gone), and two URLs
    /// swapped would move waiting signals into the dead-letter queue. Nothing to check for the
    /// local stack, or without `--source-url`.
    ///
    /// # Errors
    /// [`DlqError::Usage`] naming the queues when they are not a pair (or a queue SQS does not
    /// know); [`DlqError::Unavailable`] when SQS does not answer.
    pub async fn check_pair(&self) -> Result<(), DlqError> {
        let Self::Sqs {
            client,
            dlq_url,
            source_url: Some(source_url),
        } = self
        else {
            return Ok(());
        };
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let read = |url: &str, attribute: A| {
            let url = url.to_owned();
            async move {
                let got = client
                    .get_queue_attributes()
                    .queue_url(&url)
                    .attribute_names(attribute.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        let text = format!(
                            "reading {attribute} of {}: {}",
                            short_name(&url),
                            aws_adapters::sdk_error_text(&e)
                        );
                        if e.raw_response()
                            .is_some_and(|r| r.status().is_client_error())
                        {
                            DlqError::Usage(format!(
                                "{text} (check --queue-url, --source-url and the AWS credentials, \
                                 which need sqs:GetQueueAttributes on both); nothing was \
                                 replayed"
                            ))
                        } else {
                            DlqError::Unavailable(format!("{text}; nothing was replayed"))
                        }
                    })?;
                Ok::<_, DlqError>(got.attributes.and_then(|mut a| a.remove(&attribute)))
            }
        };
        let target = read(source_url, A::RedrivePolicy)
            .await?
            .and_then(|policy| {
                serde_json::from_str::<serde_json::Value>(&policy)
                    .ok()?
                    .get("deadLetterTargetArn")?
                    .as_str()
                    .map(str::to_owned)
            });
        let dlq_arn = read(dlq_url, A::QueueArn).await?;
        match (target, dlq_arn) {
            (Some(target), Some(arn)) if target == arn => Ok(()),
            (target, _) => Err(DlqError::Usage(format!(
                "{} (--queue-url) is not the dead-letter queue of {} (--source-url), whose is {}: \
                 give a queue and its own dead-letter queue, of one stack; nothing was replayed",
                short_name(dlq_url),
                short_name(source_url),
                target
                    .as_deref()
                    .map_or("none", |t| t.rsplit(':').next().unwrap_or(t))
            ))),
        }
    }

    /// How many messages SQS counts in the dead-letter queue (visible, held by a reader, and
    /// delayed; approximate, as SQS documents these attributes); `None` for the local stack,
    /// whose listing is whole, or when the count cannot be read.
    pub async fn counted(&self) -> Option<u64> {
        let Self::Sqs {
            client, dlq_url, ..
        } = self
        else {
            return None;
        };
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let got = client
            .get_queue_attributes()
            .queue_url(dlq_url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .ok()?;
        let attrs = got.attributes?;
        Some(
            [
                A::ApproximateNumberOfMessages,
                A::ApproximateNumberOfMessagesNotVisible,
                A::ApproximateNumberOfMessagesDelayed,
            ]
            .iter()
            .filter_map(|a| attrs.get(a)?.parse::<u64>().ok())
            .sum(),
        )
    }

    /// The journal's row of one signal, for the filled check ([`already_filled`]): the local
    /// stack's (`/local/trades?signal=`: a 404 is no row), or `journal`'s (the journal at
    /// `JOURNAL_URL`, opened once by the caller) against SQS. `Ok(None)` when there is no row,
    /// or no journal to read (SQS without `JOURNAL_URL`); `Err` naming why it could not be
    /// read, within 10 s.
    async fn journaled_signal(
        &self,
        id: &shared::signal::SignalId,
        journal: Option<&journal::AnyJournal>,
    ) -> Result<Option<SignalRecord>, String> {
        let read = async {
            match self {
                Self::Local { base, .. } => {
                    let url = format!("{base}/local/trades");
                    let resp = tvctl::http_client()?
                        .get(&url)
                        .query(&[("signal", id.as_str())])
                        .send()
                        .await
                        .map_err(|e| tvctl::request_failed(&url, e))?;
                    if resp.status() == reqwest::StatusCode::NOT_FOUND {
                        return Ok(None);
                    }
                    let status = resp.status();
                    let v: Value = resp
                        .json()
                        .await
                        .map_err(|e| format!("{}: {}", tvctl::shown_url(&url), e.without_url()))?;
                    let found: Vec<SignalRecord> = serde_json::from_value(v["signals"].clone())
                        .map_err(|e| format!("local stack answered {status}: {e}"))?;
                    Ok(found.into_iter().find(|r| r.signal_id == *id))
                }
                Self::Sqs { .. } => match journal {
                    None => Ok(None),
                    Some(j) => shared::execution::TradeJournal::signal(j, id)
                        .await
                        .map_err(|e| e.to_string()),
                },
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), read)
            .await
            .unwrap_or_else(|_| Err("no answer within 10 s".to_owned()))
    }

    pub async fn list(&self, now: DateTime<Utc>) -> Result<Vec<DeadMessage>, DlqError> {
        let raw = match self {
            Self::Sqs {
                client, dlq_url, ..
            } => sqs_peek(client, dlq_url).await?,
            Self::Local { base, queue } => {
                let url = format!("{base}/local/dlq");
                let resp = tvctl::http_client()?
                    .get(&url)
                    .query(&[("queue", queue)])
                    .send()
                    .await
                    .map_err(|e| tvctl::request_failed(&url, e))?;
                let status = resp.status();
                let v: Value = resp
                    .json()
                    .await
                    .map_err(|e| format!("{}: {}", tvctl::shown_url(&url), e.without_url()))?;
                if let Some(err) = v.get("error") {
                    let text = err.as_str().map_or_else(|| err.to_string(), str::to_owned);
                    return Err(if status.is_client_error() {
                        DlqError::Usage(text)
                    } else {
                        DlqError::Unavailable(format!("local stack answered {status}: {text}"))
                    });
                }
                // Anything but a list is no answer: never printed as an empty dead-letter queue
                // (a deployed API's 403, another server's JSON).
                if !status.is_success() || !v.is_array() {
                    return Err(DlqError::Unavailable(format!(
                        "{}: HTTP {status}, not the local stack's dead-letter list (--local \
                         takes the local stack's base URL)",
                        tvctl::shown_url(&url)
                    )));
                }
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| DeadMessage {
                        message_id: m["message_id"].as_str().unwrap_or("").into(),
                        group: m["group"].as_str().unwrap_or("").into(),
                        receive_count: m["receive_count"].as_u64().unwrap_or(0) as u32,
                        sent_at: m["sent_at"].as_str().and_then(|t| t.parse().ok()),
                        last_error: m["last_error"].as_str().map(str::to_owned),
                        source_queue: m["source_queue"].as_str().map(str::to_owned),
                        signal_id: None,
                        summary: None,
                        age_secs: None,
                        body: m["body"].as_str().unwrap_or("").into(),
                    })
                    .collect()
            }
        };
        Ok(raw.into_iter().map(|m| m.describe(now)).collect())
    }

    /// Sends `body` to the source queue under `group` and removes the message from the DLQ.
    /// The group is the one the source queue uses today for the letter's signal or intent, not
    /// the letter's own, which an earlier version may have set otherwise (a Tradovate intent
    /// once grouped by contract, now by root). The local stack is told only which letter, and
    /// whether forced: it builds the body, group and dedup id from the letter it keeps, so its
    /// endpoint never queues a body of the caller's.
    async fn replay_one(
        &self,
        msg: &DeadMessage,
        group: &str,
        body: String,
        dedup: String,
        mark: Mark,
    ) -> Result<(), ReplayFailure> {
        match self {
            Self::Sqs {
                client,
                dlq_url,
                source_url,
            } => {
                let source = source_url.as_deref().ok_or_else(|| {
                    ReplayFailure::NotSent("--source-url is required to replay from SQS".into())
                })?;
                client
                    .send_message()
                    .queue_url(source)
                    .message_group_id(group)
                    .message_deduplication_id(dedup)
                    .message_body(body)
                    .send()
                    .await
                    // A request never built, or SQS's own refusal (the queue, the group, the
                    // body), queued nothing. A timeout, a broken connection or an unreadable
                    // answer may have queued the copy; so may a 5xx or a throttling answer,
                    // which can be the SDK's last retry of an attempt that timed out after the
                    // copy landed.
                    .map_err(|e| match aws_adapters::classify(source, e) {
                        e @ QueueError::Refused { .. } => {
                            ReplayFailure::NotSent(format!("send to source: {e}"))
                        }
                        e @ QueueError::Unavailable { .. } => {
                            ReplayFailure::MaybeSent(format!("send to source: {e}"))
                        }
                    })?;
                sqs_delete(client, dlq_url, &msg.message_id)
                    .await
                    .map_err(ReplayFailure::SentNotRemoved)
            }
            Self::Local { base, queue } => {
                let url = format!("{base}/local/dlq/replay");
                let resp = tvctl::http_client()
                    .map_err(ReplayFailure::NotSent)?
                    .post(&url)
                    .json(&json!({"queue": queue, "message_id": msg.message_id,
                        "forced": mark.forced, "lookup_only": mark.lookup_only}))
                    .send()
                    .await
                    .map_err(|e| {
                        // No connection: nothing reached the stack. Any later failure (no
                        // answer within the client's time) may follow a replay it carried out.
                        if e.is_connect() {
                            ReplayFailure::NotSent(tvctl::request_failed(&url, e))
                        } else {
                            ReplayFailure::MaybeSent(tvctl::request_failed(&url, e))
                        }
                    })?;
                let status = resp.status();
                if status.is_success() {
                    return Ok(());
                }
                // The stack's own words; a 503 may say the replay is queued after all
                // (`queued`: its copy stands in the source queue and runs).
                let answer = resp.json::<Value>().await.unwrap_or_default();
                let said = answer["error"]
                    .as_str()
                    .map_or_else(String::new, |e| format!(": {e}"));
                let said = format!("local stack answered {status}{said}");
                if answer["queued"] == Value::Bool(true) {
                    return Err(ReplayFailure::QueuedNotKept(said));
                }
                if status == reqwest::StatusCode::CONFLICT {
                    return Err(ReplayFailure::Refused(said));
                }
                Err(ReplayFailure::NotSent(said))
            }
        }
    }
}

/// What to tell when an SQS listing reached fewer messages than SQS counts: a FIFO queue
/// hands out a message group's later messages only once its earlier ones are deleted, and
/// none of a group while another reader holds one of its messages, so a listing that holds
/// what it received sees at most the head of each group (ten messages at most of a group:
/// one receive's worth). `None` when the listing reached them all.
pub fn partial_listing(listed: usize, counted: Option<u64>, queue: &str) -> Option<String> {
    let counted = counted?;
    (counted > listed as u64).then(|| {
        format!(
            "SQS counts about {counted} message(s) in {queue}; this listing reached {listed}: a \
             FIFO queue hands out a message group's later messages only after its earlier ones \
             are deleted (or while no other reader holds one of them). Replay or remove these, \
             then list again for the rest"
        )
    })
}

/// Why a replay of one letter failed.
#[derive(Debug)]
enum ReplayFailure {
    /// Nothing was queued (as far as the answer tells).
    NotSent(String),
    /// The send's outcome is unknown (no answer, or one that could not be read): the copy
    /// may be in the source queue; the letter is still in the dead-letter queue.
    MaybeSent(String),
    /// The copy is in the source queue, and it runs, but the letter could not be deleted from
    /// the dead-letter queue (why).
    SentNotRemoved(String),
    /// The local stack queued the copy (it runs) and took the letter out, but could not write
    /// that to its queue file yet (why).
    QueuedNotKept(String),
    /// The local stack refused the replay by its own rule (409: a look-up-only replay of a
    /// letter within its age limit, an unforced one past it, or a letter of another account
    /// than its broker trades now) and kept the letter (why): a refusal, as one decided here
    /// is, not a failure that stops the run.
    Refused(String),
}

/// How long a receive of the dead-letter queue waits for a message (long polling). A short
/// poll (no wait) asks a subset of SQS's servers and "might not receive any messages" from a
/// queue holding few, which is every dead-letter queue's usual state; a long poll asks all of
/// them and answers as soon as one has a message
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-short-and-long-polling.html>).
/// An empty first answer read as "not there": a replay sent its copy and then reported the
/// letter gone, still in the queue.
const RECEIVE_WAIT_SECS: i32 = 1;

/// Receives everything it is handed (holding it 30 s), then makes it all visible again; see
/// [`partial_listing`] for what a FIFO queue does not hand out.
async fn sqs_peek(client: &aws_sdk_sqs::Client, url: &str) -> Result<Vec<DeadMessage>, DlqError> {
    let mut out = Vec::new();
    let mut receipts = Vec::new();
    for _ in 0..100 {
        let got = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .wait_time_seconds(RECEIVE_WAIT_SECS)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| {
                // SQS answered 4xx (no such queue, access denied): the URL or the credentials
                // given are wrong (exit 2), not an unreachable SQS (exit 3).
                let given_wrongly = e
                    .raw_response()
                    .is_some_and(|r| r.status().is_client_error());
                let text = format!("receive: {}", aws_adapters::sdk_error_text(&e));
                if given_wrongly {
                    DlqError::Usage(format!(
                        "{text} (check --queue-url and the AWS credentials)"
                    ))
                } else {
                    DlqError::Unavailable(text)
                }
            })?;
        let batch = got.messages.unwrap_or_default();
        if batch.is_empty() {
            break;
        }
        for m in batch {
            let attrs: HashMap<String, String> = m
                .attributes
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.as_str().to_owned(), v))
                .collect();
            receipts.push(m.receipt_handle.clone().unwrap_or_default());
            out.push(DeadMessage {
                message_id: m.message_id.unwrap_or_default(),
                group: attrs.get("MessageGroupId").cloned().unwrap_or_default(),
                // Minus the receive this listing just made.
                receive_count: attrs
                    .get("ApproximateReceiveCount")
                    .and_then(|c| c.parse::<u32>().ok())
                    .unwrap_or(1)
                    .saturating_sub(1),
                sent_at: attrs
                    .get("SentTimestamp")
                    .and_then(|t| t.parse::<i64>().ok())
                    .and_then(DateTime::from_timestamp_millis),
                last_error: None,
                source_queue: attrs.get("DeadLetterQueueSourceArn").cloned(),
                signal_id: None,
                summary: None,
                age_secs: None,
                body: m.body.unwrap_or_default(),
            });
        }
    }
    for r in receipts {
        let _ = client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(r)
            .visibility_timeout(0)
            .send()
            .await;
    }
    Ok(out)
}

async fn sqs_delete(
    client: &aws_sdk_sqs::Client,
    url: &str,
    message_id: &str,
) -> Result<(), String> {
    let mut found = None;
    let mut others = Vec::new();
    for _ in 0..100 {
        let got = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .wait_time_seconds(RECEIVE_WAIT_SECS)
            .send()
            .await
            .map_err(|e| format!("receive: {}", aws_adapters::sdk_error_text(&e)))?;
        let batch = got.messages.unwrap_or_default();
        if batch.is_empty() {
            break;
        }
        for m in batch {
            let receipt = m.receipt_handle.unwrap_or_default();
            if m.message_id.as_deref() == Some(message_id) {
                found = Some(receipt);
            } else {
                others.push(receipt);
            }
        }
        if found.is_some() {
            break;
        }
    }
    for r in others {
        let _ = client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(r)
            .visibility_timeout(0)
            .send()
            .await;
    }
    let receipt = found
        .ok_or_else(|| format!("message {message_id} is no longer in the dead-letter queue"))?;
    client
        .delete_message()
        .queue_url(url)
        .receipt_handle(receipt)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("delete: {}", aws_adapters::sdk_error_text(&e)))
}

/// The result of replaying one message, as printed and audited.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub message_id: String,
    pub signal_id: Option<String>,
    pub result: String,
    pub replayed: bool,
    /// A dry run's message that a run would replay (`result` "would replay").
    #[serde(skip)]
    pub would_replay: bool,
    /// The run stopped at this message: the queue or the stack failed (exit 3).
    #[serde(skip)]
    pub stopped: bool,
}

/// How a letter is sent back: forced past the age limit, or look-up only (never forced,
/// whatever the letter says).
#[derive(Debug, Clone, Copy, Default)]
pub struct Mark {
    pub forced: bool,
    pub lookup_only: bool,
}

pub struct ReplayOptions {
    pub ids: Vec<String>,
    pub all: bool,
    pub force: bool,
    /// Send back only letters older than `max_age`, unforced: the executor reconciles them
    /// and trades nothing ([`shared::replay::decide_lookup_only`]).
    pub lookup_only: bool,
    pub dry_run: bool,
    pub max_age: Duration,
    pub operator: String,
    /// The journal's latest signals, for a forced replay's note ([`later_taken`]); `None`
    /// when the journal could not be read (the note says it was not checked).
    pub journaled: Option<Vec<SignalRecord>>,
}

/// The signals of `journaled` of the letter's series (its exchange and symbol as sent; at
/// Coinbase, for a routed letter, any product of its coin, as the executor keeps one series
/// per coin: BTC-USD and BTC-USDC buy into and sell one balance) that came later than it, or in the same second (by `timenow`, read from the journaled intent;
/// TradingView gives it to the second, so which of two came first is not known), and were
/// taken or may have been: filled, `no_op` (the account already where that later signal
/// wanted it), or `unknown`. A forced replay is never superseded, so replaying the letter would
/// trade it as if it were the latest, against what the strategy said since.
pub fn later_taken<'a>(
    letter: &DeadLetter,
    journaled: &'a [SignalRecord],
) -> Vec<&'a SignalRecord> {
    let (exchange, symbol) = match letter {
        DeadLetter::Signal(s) => (&s.alert.market_data.exchange, &s.alert.market_data.symbol),
        DeadLetter::Intent(i) => (&i.exchange, &i.symbol),
    };
    let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
    let letter_coin = match letter {
        DeadLetter::Intent(i) => series_coin(Some(i.broker), Some(i.instrument.as_str())),
        DeadLetter::Signal(_) => None,
    };
    journaled
        .iter()
        .filter(|r| {
            r.signal_id != *letter.signal_id()
                && matches!(
                    r.status,
                    SignalStatus::Filled | SignalStatus::NoOp | SignalStatus::Unknown
                )
                && ((same(&r.exchange, exchange) && same(&r.symbol, symbol))
                    || (letter_coin.is_some()
                        && series_coin(r.broker, r.instrument.as_deref()) == letter_coin))
                && r.normalized
                    .read::<shared::message::OrderIntent>()
                    .is_ok_and(|i| i.signal_time >= letter.signal_time())
        })
        .collect()
}

/// The coin whose series a Coinbase product's signals are (`BTC` of `BTC-USD`); `None` at
/// another broker or for a product that is not `BASE-QUOTE`.
fn series_coin(broker: Option<shared::Broker>, instrument: Option<&str>) -> Option<&str> {
    if broker != Some(shared::Broker::Coinbase) {
        return None;
    }
    shared::routing::coinbase_currencies(instrument?).map(|(base, _)| base)
}

/// Why a replay of `letter` is refused when `record`, the journal's row of its own signal,
/// shows it filled: its orders were sent and filled. While the executor's idempotency record
/// of it is kept (`RECORD_TTL_DAYS`, 30 days by default) a replay is acknowledged unsent, and
/// where it is gone (expired, or a local stack's new state file) it would send them again. A
/// letter of a filled signal is one whose acknowledgement failed after the fill, or a
/// router's letter of a signal routed before. `None` otherwise.
pub fn already_filled(letter: &DeadLetter, record: &SignalRecord) -> Option<String> {
    if record.signal_id != *letter.signal_id() || record.status != SignalStatus::Filled {
        return None;
    }
    let when = record
        .stages
        .broker_acked
        .map(|t| {
            format!(
                " at {}",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        })
        .unwrap_or_default();
    Some(format!(
        "the journal shows this signal filled{when}: a replay would send its orders again wherever its idempotency record is gone (expired, or a new state file); not replayed, forced or not (send a new alert to trade again)"
    ))
}

/// Replays the chosen messages and returns what happened to each, plus the audit records.
pub async fn replay(
    target: &Target,
    opts: &ReplayOptions,
    now: DateTime<Utc>,
) -> Result<(Vec<Outcome>, Vec<ReplayAudit>), DlqError> {
    target.check_pair().await?;
    let messages = target.list(now).await?;
    // Each letter's group and signal time: a forced replay is never superseded, so forcing a
    // letter while a later signal of its group waits here too trades the older one (said).
    let times: Vec<(String, String, DateTime<Utc>)> = messages
        .iter()
        .filter_map(|m| {
            let l = DeadLetter::read(&m.body).ok()?;
            Some((m.message_id.clone(), l.group_id(), l.signal_time()))
        })
        .collect();
    // What a forced replay's line adds: its signal's age, and a later letter of its group.
    // `unread`: no journal was read for whether the signal filled (SQS without JOURNAL_URL).
    let forced_note = |msg: &DeadMessage, letter: &DeadLetter, unread: bool| {
        let group = letter.group_id();
        let later = times
            .iter()
            .filter(|(id, g, t)| *id != msg.message_id && *g == group && *t > letter.signal_time())
            .map(|(id, _, _)| id.as_str())
            .collect::<Vec<_>>();
        let mut note = format!(
            ", the signal {} s old",
            (now - letter.signal_time()).num_seconds()
        );
        let mut later_seen = false;
        if !later.is_empty() {
            later_seen = true;
            note.push_str(&format!(
                "; a later signal of its group is in this queue too ({})",
                later.join(", ")
            ));
        }
        match opts.journaled.as_deref().map(|j| later_taken(letter, j)) {
            None => note.push_str(
                "; the journal was not read for a later signal of its symbol taken since",
            ),
            Some(taken) if taken.is_empty() => {}
            Some(taken) => {
                later_seen = true;
                note.push_str(&format!(
                    "; a later signal of its symbol was taken since ({})",
                    taken
                        .iter()
                        .map(|r| format!(
                            "{} {} {}",
                            r.signal_id
                                .as_str()
                                .get(..12)
                                .unwrap_or(r.signal_id.as_str()),
                            r.action,
                            r.status.as_str()
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        if unread {
            note.push_str(
                "; no journal (JOURNAL_URL) was read for whether this signal filled: only its \
                 idempotency record, while kept, stops a second trade, and only at the broker \
                 account it first went to (check the account first)",
            );
        }
        if later_seen {
            // Said once, whatever came later: what forcing does with it.
            note.push_str(&format!(
                ": forced, this older one is not superseded, and moves the account to what it \
                 asks ({}) as if it were the latest signal",
                letter.summary()
            ));
        }
        note
    };
    let chosen: Vec<_> = messages
        .into_iter()
        .filter(|m| opts.all || opts.ids.contains(&m.message_id))
        .collect();
    for id in &opts.ids {
        if !chosen.iter().any(|m| &m.message_id == id) {
            return Err(DlqError::NotFound(format!(
                "message {id} is not in {}",
                target.name()
            )));
        }
    }
    let mut outcomes = Vec::new();
    let mut audits = Vec::new();
    // The filled check reads each letter's own signal by id (no window of latest signals);
    // against SQS from the journal at JOURNAL_URL, read only, opened once.
    // `Err` once a read failed: the later letters are not read again (one 10 s wait at most).
    let mut own_journal: Result<Option<journal::AnyJournal>, String> = match target {
        Target::Sqs { .. } => match std::env::var("JOURNAL_URL") {
            Ok(url) => match tvctl::report::missing_journal(&url) {
                Some(missing) => Err(missing),
                None => match tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    journal::AnyJournal::open_read_only(&url),
                )
                .await
                {
                    Ok(Ok(j)) => Ok(Some(j)),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("no answer within 10 s".to_owned()),
                },
            },
            Err(_) => Ok(None),
        },
        Target::Local { .. } => Ok(None),
    };
    for msg in chosen {
        // A failed send or delete stops the run, after its own audit line: the lines of the
        // messages already moved are returned (and written) with it.
        let mut stop = false;
        let letter = DeadLetter::parse(&msg.body);
        let mut would_replay = false;
        let (result, replayed, forced, signal_id) = match &letter {
            Err(e) => (format!("unreadable: {e}"), false, false, None),
            Ok(letter) => {
                let sid = Some(letter.signal_id().clone());
                // A filled signal is refused before its age is judged: "replay with --force"
                // would be no advice for it. Its own row, read by id.
                let own = match &own_journal {
                    Ok(j) => {
                        target
                            .journaled_signal(letter.signal_id(), j.as_ref())
                            .await
                    }
                    Err(why) => Err(why.clone()),
                };
                if let Err(why) = &own {
                    own_journal = Err(why.clone());
                }
                let unread =
                    matches!(target, Target::Sqs { .. }) && matches!(own_journal, Ok(None));
                let filled = own
                    .as_ref()
                    .ok()
                    .and_then(Option::as_ref)
                    .and_then(|r| already_filled(letter, r));
                let decision = match (target.other_source(&msg), filled) {
                    (Some(reason), _) | (None, Some(reason)) => Decision::Refused { reason },
                    (None, None) if opts.lookup_only => {
                        shared::replay::decide_lookup_only(letter, now, opts.max_age)
                    }
                    (None, None) => match (decide(letter, now, opts.max_age, opts.force), &own) {
                        // Forced, it runs past the age limit, where its idempotency record
                        // may be gone: not without knowing whether it filled.
                        (Decision::Replay { forced: true }, Err(why)) => Decision::Refused {
                            reason: format!(
                                "the journal could not be read for whether this signal filled \
                                 ({why}): forced, a filled one could send its orders again; \
                                 not replayed"
                            ),
                        },
                        (decision, _) => decision,
                    },
                };
                match decision {
                    // A dry run says what the run would do, a refusal too.
                    Decision::Refused { reason } if opts.dry_run => {
                        (format!("would be refused: {reason}"), false, false, sid)
                    }
                    Decision::Refused { reason } => {
                        (format!("refused: {reason}"), false, false, sid)
                    }
                    Decision::Replay { forced } if opts.dry_run => {
                        would_replay = true;
                        (
                            if forced {
                                format!(
                                    "would replay (forced){}",
                                    forced_note(&msg, letter, unread)
                                )
                            } else if opts.lookup_only {
                                "would replay (look-up only)".to_owned()
                            } else {
                                "would replay".to_owned()
                            },
                            false,
                            forced,
                            sid,
                        )
                    }
                    Decision::Replay { forced } => {
                        let dedup = format!("replay-{}", msg.message_id);
                        match target
                            .replay_one(
                                &msg,
                                &letter.group_id(),
                                if opts.lookup_only {
                                    letter.lookup_only_body()
                                } else {
                                    letter.replay_body(forced)
                                },
                                dedup.clone(),
                                Mark {
                                    forced,
                                    lookup_only: opts.lookup_only,
                                },
                            )
                            .await
                        {
                            Ok(()) => (
                                if forced {
                                    format!(
                                        "replayed (forced){}",
                                        forced_note(&msg, letter, unread)
                                    )
                                } else if opts.lookup_only {
                                    "replayed (look-up only)".to_owned()
                                } else {
                                    "replayed".to_owned()
                                },
                                true,
                                forced,
                                sid,
                            ),
                            Err(ReplayFailure::Refused(e)) => {
                                (format!("refused: {e}"), false, false, sid)
                            }
                            Err(ReplayFailure::NotSent(e)) => {
                                stop = true;
                                (
                                    format!("failed (run stopped here): {e}"),
                                    false,
                                    forced,
                                    sid,
                                )
                            }
                            // Neither replayed nor failed: said so, so that a replay run
                            // again is run knowing what it does.
                            Err(ReplayFailure::MaybeSent(e)) => {
                                stop = true;
                                (
                                    match target {
                                        Target::Sqs { .. } => format!(
                                            "outcome unknown (run stopped here): {e}; the copy \
                                             may be queued, the letter is still in the \
                                             dead-letter queue. Replayed again within 5 \
                                             minutes it is sent with the same deduplication id \
                                             ({dedup}), which SQS drops if the first copy was \
                                             queued; later, read `tvctl trades` for its signal \
                                             first"
                                        ),
                                        Target::Local { .. } => format!(
                                            "outcome unknown (run stopped here): {e}; the local \
                                             stack may have replayed it: read `tvctl trades` \
                                             for its signal before replaying it again (a \
                                             letter replayed is no longer listed, unless the \
                                             stack stopped between the copy's send and the \
                                             letter's removal)"
                                        ),
                                    },
                                    false,
                                    forced,
                                    sid,
                                )
                            }
                            // Replayed: the copy runs. Said so, audited so, and the letter
                            // left named, so it is removed by hand rather than replayed again.
                            // Queued: it runs. Not failed, which would invite a second
                            // replay, and tagged replayed in `tvctl trades`.
                            Err(ReplayFailure::QueuedNotKept(e)) => {
                                stop = true;
                                (
                                    format!(
                                        "replayed{}, queued but not yet written to the local \
                                         stack's queue file ({e}): do not replay it again (run \
                                         stopped here)",
                                        if forced { " (forced)" } else { "" }
                                    ),
                                    true,
                                    forced,
                                    sid,
                                )
                            }
                            Err(ReplayFailure::SentNotRemoved(e)) => {
                                stop = true;
                                (
                                    format!(
                                        "replayed{}, but still in the dead-letter queue ({e}): \
                                         do not replay it again, delete it (run stopped here)",
                                        if forced { " (forced)" } else { "" }
                                    ),
                                    true,
                                    forced,
                                    sid,
                                )
                            }
                        }
                    }
                }
            }
        };
        audits.push(ReplayAudit {
            at: now,
            queue: target.name(),
            message_id: msg.message_id.clone(),
            signal_id: signal_id.clone(),
            forced,
            dry_run: opts.dry_run,
            result: result.clone(),
            operator: opts.operator.clone(),
        });
        outcomes.push(Outcome {
            message_id: msg.message_id,
            signal_id: signal_id.map(|s| s.to_string()),
            result,
            replayed,
            would_replay,
            stopped: stop,
        });
        if stop {
            break;
        }
    }
    Ok((outcomes, audits))
}

/// Writes the audit records: the local stack keeps them in its journal; against SQS they go
/// to the journal named by `JOURNAL_URL`.
pub async fn audit(target: &Target, audits: &[ReplayAudit]) -> Result<(), String> {
    match target {
        Target::Local { base, .. } => {
            let url = format!("{base}/local/audit");
            let resp = tvctl::http_client()?
                .post(&url)
                .json(audits)
                .send()
                .await
                .map_err(|e| tvctl::request_failed(&url, e))?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(format!("audit not recorded: {}", resp.status()))
            }
        }
        Target::Sqs { .. } => crate::journal_audit(audits).await,
    }
}

/// The last part of a queue URL (its name): the account and region in front stay unprinted.
fn short_name(url: &str) -> &str {
    url.trim_end_matches('/').rsplit('/').next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    /// The local stack's 503 that says the replay is queued (its copy stands in the source
    /// queue; only the queue file's write failed) is a replay, audited as one, not a failure
    /// that invites a second replay; its other 503s are failures. Its 409 (a look-up-only
    /// replay of a letter within its own age limit, the letter kept) is a refusal, which
    /// does not stop the run.
    #[tokio::test]
    async fn a_local_replay_queued_but_not_yet_written_is_a_replay() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            for (status, body) in [
                (
                    "503 Service Unavailable",
                    r#"{"queued":true,"error":"the replay is queued in oanda.fifo, but its write to the queue file failed (disk full)"}"#,
                ),
                (
                    "503 Service Unavailable",
                    r#"{"error":"not replayed, the letter is kept: disk full"}"#,
                ),
                (
                    "409 Conflict",
                    r#"{"error":"not replayed, the letter is kept: signal is 5 s old, within the 30 s max age"}"#,
                ),
            ] {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut buf).await;
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        let target = super::Target::Local {
            base,
            queue: "oanda-dlq.fifo".into(),
        };
        let letter = super::DeadMessage {
            message_id: "m-1".into(),
            group: "EUR_USD".into(),
            receive_count: 5,
            sent_at: None,
            last_error: None,
            source_queue: None,
            signal_id: None,
            summary: None,
            age_secs: None,
            body: String::new(),
        };
        let replay = || {
            target.replay_one(
                &letter,
                "EUR_USD",
                String::new(),
                "d".into(),
                super::Mark::default(),
            )
        };
        match replay().await {
            Err(super::ReplayFailure::QueuedNotKept(why)) => {
                assert!(why.contains("queued in oanda.fifo"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            replay().await,
            Err(super::ReplayFailure::NotSent(_))
        ));
        match replay().await {
            Err(super::ReplayFailure::Refused(why)) => {
                assert!(
                    why.contains("409") && why.contains("letter is kept"),
                    "{why}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_letter_is_replayed_only_to_the_queue_it_came_from() {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .build();
        let target = |source: &str| super::Target::Sqs {
            client: aws_sdk_sqs::Client::from_conf(config.clone()),
            dlq_url: "https://sqs.us-east-1.amazonaws.com/123456789012/oanda-dlq.fifo".into(),
            source_url: Some(format!(
                "https://sqs.us-east-1.amazonaws.com/123456789012/{source}"
            )),
        };
        let letter = super::DeadMessage {
            message_id: "m-1".into(),
            group: "EUR_USD".into(),
            receive_count: 5,
            sent_at: None,
            last_error: None,
            source_queue: Some("arn:aws:sqs:us-east-1:123456789012:oanda.fifo".into()),
            signal_id: None,
            summary: None,
            age_secs: None,
            body: String::new(),
        };
        assert_eq!(target("oanda.fifo").other_source(&letter), None);
        assert_eq!(
            target("tradovate.fifo").other_source(&letter).as_deref(),
            Some(
                "it came from oanda.fifo, not tradovate.fifo (--source-url): replay it to its own queue"
            )
        );
        // SQS did not say where it came from, and the body does not read: the operator's
        // --source-url stands.
        let unsaid = super::DeadMessage {
            source_queue: None,
            ..letter
        };
        assert_eq!(target("tradovate.fifo").other_source(&unsaid), None);
        // A letter the pipeline sent itself (an executor's unknown outcome) names no source:
        // judged by what it is, an OANDA intent goes to the OANDA queue only.
        let intent = super::DeadMessage {
            body: r#"{"version":1,"signal_id":"0123456789abcdef0123456789abcdef","broker":"oanda",
                "instrument":"EUR_USD","symbol":"EURUSD","exchange":"OANDA","action":"LONG_ENTRY",
                "target":"long","signal_time":"2026-11-30T15:00:00Z",
                "received_at":"2026-11-30T15:00:00Z","enqueued_at":"2026-11-30T15:00:00Z",
                "routed_at":"2026-11-30T15:00:00Z","reference_price":"1.08","raw":"{}"}"#
                .into(),
            ..unsaid
        };
        assert_eq!(target("tv-oanda.fifo").other_source(&intent), None);
        assert_eq!(target("oanda.fifo").other_source(&intent), None);
        let refused = target("tv-tradovate.fifo").other_source(&intent);
        assert!(
            refused
                .as_deref()
                .is_some_and(|r| r.contains("an order intent for the oanda queue")),
            "{refused:?}"
        );
        assert!(target("tv-signals.fifo").other_source(&intent).is_some());
    }

    #[test]
    fn a_listing_short_of_the_count_says_why_and_what_to_do() {
        assert_eq!(super::partial_listing(10, Some(10), "oanda-dlq.fifo"), None);
        assert_eq!(super::partial_listing(10, None, "oanda-dlq.fifo"), None);
        let note = super::partial_listing(10, Some(25), "oanda-dlq.fifo").unwrap_or_default();
        assert!(
            note.starts_with(
                "SQS counts about 25 message(s) in oanda-dlq.fifo; this listing reached 10"
            ) && note.contains("list again for the rest"),
            "{note}"
        );
    }
}
