//! The executor: the design's execution protocol around a [`Venue`].

use crate::killswitch::KillSwitch;
use crate::metrics::{MetricsSink, StageLatencies, outcome_line};
use crate::risk::{AssetClass, DEFAULT_MAX_NOTIONAL, Refusal, RiskConfig};
use crate::venue::{ExecRequest, Execution, NothingSent, OrderGate, Size, Venue};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use shared::alert::TargetPosition;
use shared::clock::Clock;
use shared::execution::{
    JournalError, Leg, OrderRecord, SignalRecord, SignalStatus, StageTimes, TradeJournal,
};
use shared::message::{INTENT_VERSION, OrderIntent};
use shared::outcome::Outcome;
use shared::ports::{
    Claim, DeadLetterQueue, FifoMessage, IdempotencyKey, IdempotencyStore, InstrumentKey,
    Notification, Notifier, QueueError, StoreError,
};
use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;
use tracing::{Instrument, error, error_span, info, warn};

pub use fifo_batch::{MissingMessageId, usable_deadline};

/// The longest a takeover waits for the journal's rows of its signal (to number a recovered
/// order as journaled): well inside a Lambda invocation's time, beside the record's own write.
pub const JOURNAL_READ: std::time::Duration = std::time::Duration::from_secs(5);

/// The protocol's time limits and the risk guards, fixed for the executor's life (only the
/// kill switch is read at run time).
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// Older signals (from `timenow`) are expired at execution.
    pub max_age: Duration,
    /// How long an attempt owns a signal. Shorter than the queue's visibility timeout, so a
    /// redelivered message finds the lease expired and takes over.
    pub lease: Duration,
    /// How long before its lease's end an attempt stops sending ([`send_deadline`]): how far
    /// a taker's clock may run ahead of this attempt's, with the time a send takes to leave.
    /// [`HAND_OVER_SKEW`](shared::ports::HAND_OVER_SKEW) (5 s) where attempts run on different hosts (Lambda);
    /// [`ONE_CLOCK_SEND_MARGIN`] (1 s) where they share one process and clock (the local
    /// stack).
    pub send_margin: Duration,
    /// How long completed records are kept (DynamoDB TTL).
    pub record_ttl: Duration,
    /// Sizing and guards, checked on each signal that is not stale and not an entry older
    /// than a signal already seen, once the kill switch is found off.
    pub risk: RiskConfig,
    /// Mail each signal that filled in full too (`NOTIFY_FILLS`), its legs' sides, sizes and
    /// prices: never held back by the failure mails' interval, nor counted in it. Off by
    /// default: a fill is in the journal and its report (`tvctl report`).
    pub notify_fills: bool,
}

/// [`ExecutorSettings::send_margin`] where every attempt runs in one process on one clock:
/// the time a send takes to leave after its last check.
pub const ONE_CLOCK_SEND_MARGIN: Duration = Duration::seconds(1);

/// When an attempt's waits end and after which it sends nothing: the end of the staleness
/// budget, or, when sooner, the end of the attempt's lease less `margin`
/// ([`ExecutorSettings::send_margin`]).
///
/// From the lease's end a redelivery may take the signal over and send its legs (a takeover
/// within the staleness budget may send), and the taker's clock may run ahead of this
/// attempt's (by up to [`HAND_OVER_SKEW`](shared::ports::HAND_OVER_SKEW) across hosts). An attempt still running then (a host suspended, a clock
/// stepped, a lease set shorter than the function's time limit or the staleness budget)
/// must not send beside it: two sends of a leg carry one client order id, and OANDA, for
/// one, documents client ids as unique among pending orders only
/// (`CLIENT_ORDER_ID_ALREADY_EXISTS`, <https://developer.oanda.com/rest-live-v20/order-df/>),
/// so a second market order with it fills as well. In AWS, with the defaults (90 s lease from the attempt's start, 30 s
/// budget from the alert's time), the budget always ends first; locally (a 15 s lease by
/// default, 1 s margin) the lease may.
pub fn send_deadline(
    staleness: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    margin: Duration,
) -> DateTime<Utc> {
    staleness.min(lease_until - margin)
}

/// What an attempt needs of its invocation after its send deadline: a send that left just
/// before it waiting out its request's timeout (8 s in each broker's client), the settle
/// time (2 s) and a lookup read answering within its timeout (8 s), the fee reads
/// ([`crate::drive::FEE_READ`], 2 s a filled leg, two at most), the journal's write, a mail,
/// a dead-letter send and the record's completion: 22 s and those writes. A bound assumed
/// from those figures, not enforced on them: a lookup of several reads, or one retried
/// after a timeout, can take longer. A record started with less left than its send deadline plus
/// this is not started ([`RecordError::OutOfTime`]): Lambda would end the invocation in the
/// middle of it, after an order perhaps, with nothing journaled, alarmed or handed over, and
/// the message back only after the queue's visibility timeout. With the deployed settings
/// (30 s budget from the alert's time, a 60 s function timeout) it happens only to a forced
/// replay (its budget counted from its start) received by a container whose start took more
/// than about 5 s (60 - 30 - 25), and to an alert stamped more than about 5 s ahead of the
/// executor's clock.
pub const AFTER_DRIVE: std::time::Duration = std::time::Duration::from_secs(25);

/// Whether the signal only reduces exposure: an exit or a flatten, or a spot short entry,
/// which sells what is held and opens nothing.
fn only_reduces(intent: &OrderIntent) -> bool {
    match intent.target {
        TargetPosition::Flat | TargetPosition::NoLong | TargetPosition::NoShort => true,
        TargetPosition::Short => {
            crate::risk::AssetClass::of(intent.broker, intent.instrument.as_str()).is_spot()
        }
        TargetPosition::Long => false,
    }
}

/// Records the intent's `timenow` under `series` (`IdempotencyStore::advance`, which keeps
/// the latest) and answers `superseded`, with `reason` given the later time, when a later time
/// is recorded and `applies`; a forced replay is never superseded.
async fn order_check<S: IdempotencyStore>(
    store: &S,
    series: &InstrumentKey,
    intent: &OrderIntent,
    applies: bool,
    reason: impl FnOnce(DateTime<Utc>) -> String,
) -> Result<Option<(Outcome, String)>, StoreError> {
    Ok(match store.advance(series, intent.signal_time).await? {
        Some(later) if applies && !intent.replay_forced => {
            Some((Outcome::Superseded, reason(later)))
        }
        _ => None,
    })
}

/// The taken check ([`order_check`] on the series' key) as the venue's [`OrderGate`]; a store
/// failure comes back as [`NothingSent::order_check`], which the executor reports as the
/// store's, not the broker's.
struct TakenGate<'a, S> {
    store: &'a S,
    series: &'a InstrumentKey,
    intent: &'a OrderIntent,
}

impl<S: IdempotencyStore> TakenGate<'_, S> {
    /// Records the signal as taken: `Ok(Some(reason))` when a later one was taken already.
    async fn check(&self) -> Result<Option<String>, StoreError> {
        let verdict = order_check(self.store, self.series, self.intent, true, |later| {
            format!(
                "a later signal for {} (timenow {later}) was taken already (its first order sent, or its account found at its target; whatever the broker then did); this one's timenow is {}",
                self.series.instrument, self.intent.signal_time
            )
        });
        Ok(verdict.await?.map(|(_, why)| why))
    }
}

impl<S: IdempotencyStore> OrderGate for TakenGate<'_, S> {
    fn pass(
        &self,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send + '_>> {
        Box::pin(async move {
            self.check()
                .await
                .map_err(|e| format!("the signal order could not be checked: {e}"))
        })
    }
}

/// Why a record is reported failed; it comes back (and after enough receives, dead-letters).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The SQS body does not parse as an [`OrderIntent`]: the parser's error.
    #[error("message body is not an order intent: {0}")]
    Unreadable(String),
    /// The intent's `version`, which is not [`INTENT_VERSION`]: the router and this
    /// executor were deployed at different message versions.
    #[error("intent version {0} is not understood (this executor knows {INTENT_VERSION})")]
    UnknownVersion(u32),
    /// The intent names another broker than this executor's venue: a queue wired wrong.
    #[error("intent for {got} reached the {expected} executor")]
    WrongBroker {
        /// The intent's broker.
        got: String,
        /// This executor's broker.
        expected: String,
    },
    /// A message past the age limit (a dead letter sent back, to be looked up or forced)
    /// whose signal's orders the journal shows at another account of this broker than the
    /// one this executor trades (the deployment's account or host changed since): nothing is
    /// claimed, looked up, sent or journaled. Its idempotency record is per account, so here
    /// it would be a fresh claim: a look-up found nothing and journaled `expired` over the
    /// signal's `unknown`, a forced replay traded this account. Sent to the dead-letter queue
    /// at once, where it is kept for the account it went to.
    #[error(
        "the signal's orders went to {journaled} at {broker}, and this executor trades {account}: not looked up or sent here, the journal left as it is; check {journaled} at the broker"
    )]
    OtherAccount {
        /// The accounts the journal's order rows of the signal name, comma-separated.
        journaled: String,
        /// This executor's broker.
        broker: String,
        /// The account this executor trades.
        account: String,
    },
    /// A message past the age limit, or forced, for which this executor's account holds no
    /// idempotency record while the journal holds its signal's end (`status`, not `expired`):
    /// its orders went to another account with no order row to say which (an attempt that
    /// ended `unknown` with none), or its record was lost. Nothing is looked up, sent or
    /// journaled; sent to the dead-letter queue at once, as
    /// [`RecordError::OtherAccount`] is.
    #[error(
        "the journal shows the signal {status}, and {broker} account {account} holds no record of it: its orders went to another account (the deployment's account changed since) or its record was lost; not looked up or sent here, the journal left as it is; check the account it went to at the broker"
    )]
    NoRecordHere {
        /// The journaled status of the signal.
        status: String,
        /// This executor's broker.
        broker: String,
        /// The account this executor trades.
        account: String,
    },
    /// Too little of the invocation is left for the signal's attempt to end inside it (its
    /// waits until its send deadline, then [`AFTER_DRIVE`] to journal, mail and hand over):
    /// nothing claimed or sent; retried within seconds by a fresh invocation.
    #[error(
        "{left_ms} ms of the invocation left, and the signal may take {needs_ms} ms: not started, retried by a fresh invocation"
    )]
    OutOfTime {
        /// What was left of the invocation, in milliseconds.
        left_ms: u128,
        /// The attempt's longest run: to its send deadline, plus [`AFTER_DRIVE`].
        needs_ms: u128,
    },
    /// Another attempt holds a live lease on the signal's idempotency record.
    #[error("another attempt holds the signal until {lease_until}")]
    Busy {
        /// When that lease ends (UTC); after it, a redelivery takes over.
        lease_until: DateTime<Utc>,
    },
    /// The idempotency store failed to claim or complete the record, or to advance the
    /// series' latest `timenow`.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The kill switch state could not be read: the signal is not traded blind.
    #[error("kill switch state unreadable: {0}")]
    KillSwitch(String),
    /// The broker could not be reached before any order; the lease is freed for the retry.
    #[error(transparent)]
    NothingSent(#[from] NothingSent),
    /// The execution could not be journaled: the retry takes over and reconciles by lookup
    /// (an unknown outcome keeps its lease instead).
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// An unknown outcome could not be moved to the dead-letter queue; the record keeps its
    /// lease, so the queue's own redrive dead-letters the message.
    #[error("outcome unknown ({reason}); the dead-letter queue refused it: {error}")]
    DeadLetter {
        /// Why the outcome is unknown (the execution's reason).
        reason: String,
        /// The dead-letter queue's error.
        error: QueueError,
    },
    /// A message no executor of this broker can run (not an order intent, or another
    /// broker's) could not be moved to the dead-letter queue: nothing was sent or claimed;
    /// retried, and the queue's own redrive dead-letters it.
    #[error("not executable ({reason}), nothing sent; the dead-letter queue refused it: {error}")]
    NotKept {
        /// Why it cannot run.
        reason: String,
        /// The dead-letter queue's error.
        error: QueueError,
    },
}

/// The execution protocol around one [`Venue`], generic over its ports so the Lambda, the
/// local stack and the tests plug in their own store, journal, notifier, switch and clock.
pub struct Executor<V, S, J, N, K, C> {
    /// Where a signal whose outcome stays unknown goes, out of the way of its instrument's
    /// later signals (the broker queue's FIFO dead-letter queue). `None`: it is completed as
    /// `unknown` and acknowledged.
    pub dead_letters: Option<Arc<dyn DeadLetterQueue>>,
    /// The broker account the signals trade.
    pub venue: V,
    /// Idempotency records (claim, lease, completion) and each series' latest `timenow`.
    pub store: S,
    /// Where each execution is upserted: the signal's row and one row per leg send.
    pub journal: J,
    /// Told of each rejected, expired, not-executed or unknown outcome, and of a signal half
    /// done (urgent, as an unknown one: orders filled and the account not at the target).
    pub notifier: N,
    /// Read on each signal that is not stale and not an entry older than a signal already
    /// seen.
    pub kill_switch: K,
    /// The time of staleness, leases, stage times and metric timestamps.
    pub clock: C,
    /// Receives one embedded-metric line per executed signal.
    pub metrics: Arc<dyn MetricsSink>,
    /// Time limits and risk guards.
    pub settings: ExecutorSettings,
}

impl<V, S, J, N, K, C> std::fmt::Debug for Executor<V, S, J, N, K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<V, S, J, N, K, C> Executor<V, S, J, N, K, C>
where
    V: Venue,
    S: IdempotencyStore,
    J: TradeJournal,
    N: Notifier,
    K: KillSwitch,
    C: Clock,
{
    /// Runs an SQS batch in order and reports failed records, with every later record of
    /// their message group, as `batchItemFailures`
    /// (<https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html>).
    /// No record starts within [`fifo_batch::DEADLINE_MARGIN`] of `deadline`. `Err` when a
    /// record has no message id: the whole batch fails.
    pub async fn handle_batch(
        &self,
        event: SqsEvent,
        deadline: Option<SystemTime>,
    ) -> Result<SqsBatchResponse, MissingMessageId> {
        fifo_batch::process(&event, deadline, |record| {
            self.handle_record(record, deadline)
        })
        .await
    }

    /// [`Self::handle_batch`] with the reason of each failure.
    pub async fn handle_batch_with_errors(
        &self,
        event: SqsEvent,
        deadline: Option<SystemTime>,
    ) -> Result<(SqsBatchResponse, Vec<(String, String)>), MissingMessageId> {
        fifo_batch::process_with_errors(&event, deadline, |record| {
            self.handle_record(record, deadline)
        })
        .await
    }

    /// One record, in an invocation that ends at `deadline` (`None`: none known).
    async fn handle_record(
        &self,
        record: &SqsMessage,
        deadline: Option<SystemTime>,
    ) -> Result<(), RecordError> {
        let body = record.body.as_deref().unwrap_or_default();
        let mut signal_id = None;
        let result = match serde_json::from_str::<OrderIntent>(body) {
            Ok(intent) => {
                signal_id = Some(intent.signal_id.clone());
                let left = deadline.map(fifo_batch::time_left);
                self.execute_routed(&intent, Some(body), left)
                    .await
                    .map(|_| ())
            }
            // Another version's shape (a field added or renamed, a new action) does not parse
            // as this one's: read its `version` alone, and retry it as any other version is,
            // rather than dead-letter it as unreadable while a deployment finishes.
            Err(e) => match serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("version")?.as_u64())
            {
                Some(v) if v != u64::from(INTENT_VERSION) => Err(RecordError::UnknownVersion(
                    u32::try_from(v).unwrap_or(u32::MAX),
                )),
                _ => Err(RecordError::Unreadable(e.to_string())),
            },
        };
        match result {
            // A message no retry can make readable, or one for another broker (a queue wired
            // wrong): nothing was sent. Retried until the queue's own redrive (5 receives,
            // about 23 s), it held every later signal of its instrument behind it, most of
            // them expiring; to the dead-letter queue at once, as the router sends a signal
            // that no longer routes, the group goes on. (An unknown version is retried: a
            // deployment in progress clears it.)
            Err(
                e @ (RecordError::Unreadable(_)
                | RecordError::WrongBroker { .. }
                | RecordError::OtherAccount { .. }
                | RecordError::NoRecordHere { .. }),
            ) => {
                let Some(dlq) = &self.dead_letters else {
                    return Err(e);
                };
                let message = FifoMessage {
                    group_id: record
                        .attributes
                        .get("MessageGroupId")
                        .cloned()
                        .unwrap_or_else(|| "unreadable".into()),
                    // The message's own id: a redelivery of it is deduplicated.
                    dedup_id: format!(
                        "poison-{}",
                        record.message_id.as_deref().unwrap_or_default()
                    ),
                    body: body.to_owned(),
                };
                match dlq.dead_letter(message).await {
                    Ok(()) => {
                        error!(
                            error = %e,
                            message_id = record.message_id.as_deref().unwrap_or_default(),
                            signal_id = signal_id.as_ref().map(|s| s.as_str()).unwrap_or_default(),
                            "message not executable: sent to the dead-letter queue and acknowledged"
                        );
                        Ok(())
                    }
                    Err(error) => Err(RecordError::NotKept {
                        reason: e.to_string(),
                        error,
                    }),
                }
            }
            other => other,
        }
    }

    /// Runs one intent through the protocol; `Ok` means acknowledge.
    pub async fn execute(&self, intent: &OrderIntent) -> Result<Outcome, RecordError> {
        self.execute_routed(intent, None, None).await
    }

    /// [`Self::execute`] of an intent read from `text`, the message's JSON: the journal keeps
    /// that text as the signal's normalized form instead of serializing the intent again
    /// (about 2 % of the local stack's CPU per signal in the throughput run); without it, the
    /// intent serialized. `left`: what is left of the invocation running it, when known.
    async fn execute_routed(
        &self,
        intent: &OrderIntent,
        text: Option<&str>,
        left: Option<std::time::Duration>,
    ) -> Result<Outcome, RecordError> {
        if intent.version != INTENT_VERSION {
            return Err(RecordError::UnknownVersion(intent.version));
        }
        if intent.broker != self.venue.broker() {
            return Err(RecordError::WrongBroker {
                got: intent.broker.to_string(),
                expected: self.venue.broker().to_string(),
            });
        }
        // At ERROR level, so the span is kept whatever the level filter: a warning or an error
        // must name its signal when only those are logged (`tvctl dev`'s default).
        let span = error_span!("signal", signal_id = %intent.signal_id);
        self.execute_inner(intent, text, left)
            .instrument(span)
            .await
    }

    /// The end of `intent`'s staleness budget for an attempt started at `start`: its alert's
    /// time plus `max_age`, or, for an operator's forced replay, the attempt's start plus it.
    fn staleness(&self, intent: &OrderIntent, start: DateTime<Utc>) -> DateTime<Utc> {
        if intent.replay_forced {
            start + self.settings.max_age
        } else {
            intent.signal_time + self.settings.max_age
        }
    }

    async fn execute_inner(
        &self,
        intent: &OrderIntent,
        text: Option<&str>,
        left: Option<std::time::Duration>,
    ) -> Result<Outcome, RecordError> {
        let start = self.clock.now();
        // Before the claim: an attempt the invocation cannot hold to its end is not started
        // (see AFTER_DRIVE). One already past its deadline ends at once (expired, or a
        // takeover's lookup): it runs.
        if let Some(left) = left {
            let ends = send_deadline(
                self.staleness(intent, start),
                start + self.settings.lease,
                self.settings.send_margin,
            );
            let needs = (ends - start).to_std().unwrap_or_default() + AFTER_DRIVE;
            if ends > start && needs > left {
                return Err(RecordError::OutOfTime {
                    left_ms: left.as_millis(),
                    needs_ms: needs.as_millis(),
                });
            }
        }
        // Past the age limit, or forced: a dead letter sent back, which may be of another
        // account (see `RecordError::OtherAccount`). Read only then: a journal read per
        // signal would sit on every signal's path. A journal that keeps no rows to read
        // (`JOURNAL=log`) answers none, and decides nothing (`tvctl dlq replay` says to check
        // the account first then); one that does not answer (a paused Aurora resuming) stops
        // the record before its claim, nothing done: passed over, a forced replay traded the
        // new account and a look-up journaled `expired` over the signal's end. Retried within
        // seconds.
        let stale_or_forced =
            start - intent.signal_time > self.settings.max_age || intent.replay_forced;
        if stale_or_forced {
            let rows = self.journaled_orders(intent).await.map_err(|reason| {
                RecordError::Journal(JournalError {
                    reason: format!(
                        "a message past the age limit reads which account the signal's orders went to: {reason}"
                    ),
                })
            })?;
            let account = self.venue.account();
            let others: std::collections::BTreeSet<&str> = rows
                .iter()
                .filter(|r| r.broker == intent.broker && r.account.as_str() != account)
                .map(|r| r.account.as_str())
                .collect();
            if !others.is_empty() {
                let refused = RecordError::OtherAccount {
                    journaled: others.into_iter().collect::<Vec<_>>().join(", "),
                    broker: intent.broker.to_string(),
                    account: account.to_owned(),
                };
                return Err(self.replay_refused(intent, refused).await);
            }
        }
        let key = IdempotencyKey {
            broker: self.venue.broker(),
            account: self.venue.account().into(),
            signal_id: intent.signal_id.clone(),
            signal_time: intent.signal_time,
        };
        let lease_until = start + self.settings.lease;
        let claimed = match self.store.claim(&key, start, lease_until).await {
            Ok(claimed) => claimed,
            Err(e) => {
                // The claim's write may have landed though its answer was lost (a timeout).
                // Its lease is then this attempt's: handed over (only if it is this one's),
                // the retry, back within seconds, takes the signal over and looks it up
                // rather than finding it busy until the lease ends, past its budget. Not
                // released: a claim that landed may have taken over an earlier attempt's
                // record, whose orders the retry must look up.
                if let Err(h) = self
                    .store
                    .hand_over(&key, lease_until, self.clock.now())
                    .await
                {
                    warn!(error = %h, "could not hand over the lease a failed claim may hold");
                }
                return Err(e.into());
            }
        };
        let takeover = match claimed {
            Claim::Completed { outcome } => {
                info!(outcome = ?outcome, "already completed; acknowledged without touching the broker");
                return Ok(outcome);
            }
            Claim::Busy { lease_until } => return Err(RecordError::Busy { lease_until }),
            // A message past the age limit, or forced, is a dead letter sent back: its signal
            // had an attempt, whose record this account would hold. None here, while the
            // journal holds the signal's end: its orders went to another account (the
            // deployment's account changed since, and no order row says which: an attempt
            // that ended `unknown` with none), or its record was lost. Looked up here, it
            // journaled `expired` over that end; forced, it traded this account. Neither:
            // the claim is freed and the message dead-lettered, the journal as it is.
            Claim::Acquired if stale_or_forced => {
                match self
                    .journaled_signal(intent)
                    .await
                    .map(|r| r.map(|r| r.status))
                {
                    Ok(None | Some(SignalStatus::Expired)) => false,
                    Ok(Some(status)) => {
                        self.release_unless(false, &key, lease_until).await;
                        let refused = RecordError::NoRecordHere {
                            status: status.as_str().to_owned(),
                            broker: intent.broker.to_string(),
                            account: key.account.to_string(),
                        };
                        return Err(self.replay_refused(intent, refused).await);
                    }
                    Err(reason) => {
                        self.release_unless(false, &key, lease_until).await;
                        return Err(RecordError::Journal(JournalError {
                            reason: format!(
                                "a message past the age limit reads whether the journal holds its signal's end: {reason}"
                            ),
                        }));
                    }
                }
            }
            Claim::Acquired => false,
            Claim::TakenOver => {
                // An earlier attempt that journaled the signal's end and then failed to
                // complete its record (or crashed between the two): its end stands. A
                // takeover would look the broker up again, and where closes cannot be looked up
                // (a Tradovate liquidation) would journal a filled exit as a no-op, or a fill
                // the journal missed as nothing. Not for an unknown end (a replay reconciles
                // that by lookup), nor an operator's forced replay.
                let journaled = match intent.replay_forced {
                    true => None,
                    false => match self.journaled_end(intent).await {
                        Ok(end) => end,
                        // Unread, an end journaled there (a fill) could be overwritten by what
                        // a lookup finds, which for a close it cannot look up is nothing:
                        // nothing is done; the record comes back within seconds, as after any
                        // failure past a claim.
                        Err(reason) => {
                            self.release_unless(true, &key, lease_until).await;
                            return Err(RecordError::Journal(JournalError {
                                reason: format!(
                                    "a takeover reads whether an earlier attempt journaled the signal's end: {reason}"
                                ),
                            }));
                        }
                    },
                };
                if let Some(outcome) = journaled {
                    info!(outcome = ?outcome, "an earlier attempt journaled the signal's end; its record completed now");
                    if let Err(e) = self
                        .store
                        .complete(&key, outcome, start + self.settings.record_ttl)
                        .await
                    {
                        // Its lease handed over, as after any failure past a claim: the
                        // retry, back within seconds, completes it; kept, the lease made
                        // every retry `Busy` and the queue's redrive dead-lettered a signal
                        // already done.
                        self.release_unless(true, &key, lease_until).await;
                        return Err(e.into());
                    }
                    return Ok(outcome);
                }
                warn!("previous attempt's lease expired; reconciling by lookup");
                true
            }
        };

        let age = start - intent.signal_time;
        // An operator's forced replay is the one way an old signal may still trade.
        let stale = age > self.settings.max_age && !intent.replay_forced;
        if intent.replay_forced {
            warn!(
                age_secs = age.num_seconds(),
                "forced replay: staleness check skipped"
            );
        }
        let mut blocked: Option<(Outcome, String)> = stale.then(|| {
            (
                Outcome::Expired,
                format!(
                    "signal is {} s old at execution, over the {} s limit",
                    shared::alert::secs_rounded_up(age),
                    self.settings.max_age.num_seconds()
                ),
            )
        });
        // Signals of one instrument execute in `timenow` order, judged against two recorded
        // times. A continuous symbol's signals are one series across its contracts (ES1!
        // before and after a roll): their order is kept per symbol, not per contract. At
        // Coinbase the products of one coin (BTC-USD, BTC-USDC) buy into and sell one wallet
        // balance (an exit sells all of it), as their queue group is the coin: one series,
        // or an older exit of one product sold what a newer entry of the other had bought.
        let series = match (&intent.contract, intent.broker) {
            (Some(c), _) => c.requested.clone(),
            (None, shared::routing::Broker::Coinbase) => {
                shared::routing::coinbase_currencies(intent.instrument.as_str()).map_or_else(
                    || intent.instrument.to_string(),
                    |(base, _)| base.to_owned(),
                )
            }
            (None, _) => intent.instrument.to_string(),
        };
        let taken = InstrumentKey {
            broker: key.broker,
            account: key.account.clone(),
            instrument: series,
        };
        // Every signal that is not stale records its time as seen, before the guards: a later
        // signal stands for what the strategy wants now even when a guard refuses it, so an
        // older signal that would add exposure (an entry) is superseded by it (a FLATTEN the
        // kill switch refused must not let an older entry through once the switch is off).
        // An older signal that only reduces exposure is judged against the time below.
        let seen = InstrumentKey {
            instrument: format!("{} seen", taken.instrument),
            ..taken.clone()
        };
        let reduces = only_reduces(intent);
        if blocked.is_none() {
            let verdict = order_check(&self.store, &seen, intent, !reduces, |later| {
                format!(
                    "a later signal for {} (timenow {later}) came first; this one's timenow is {}, and it is an entry (it would open or add to a position)",
                    taken.instrument, intent.signal_time
                )
            });
            match verdict.await {
                Err(e) => {
                    self.release_unless(takeover, &key, lease_until).await;
                    return Err(e.into());
                }
                Ok(verdict) => blocked = verdict,
            }
        }
        let mut size = (Size::Quantity(Decimal::ZERO), DEFAULT_MAX_NOTIONAL);
        let mut refused = None;
        if blocked.is_none() {
            match self.kill_switch.engaged().await {
                Err(e) => {
                    self.release_unless(takeover, &key, lease_until).await;
                    return Err(RecordError::KillSwitch(e));
                }
                Ok(true) => blocked = Some((Outcome::Refused, Refusal::KillSwitch.to_string())),
                Ok(false) => match self.settings.risk.check(intent, start) {
                    Ok(s) => size = s,
                    // The venue refuses it only if an order is needed: an entry the account
                    // already holds is a no-op whatever its size (README: an entry in the
                    // direction held). A takeover may not send at all, but is a no-op too
                    // when the venue finds the account at the target.
                    Err(r) if !takeover => refused = Some(r.to_string()),
                    Err(r) => {
                        refused = Some(r.to_string());
                        blocked = Some((Outcome::Refused, r.to_string()));
                    }
                },
            }
        }

        // The time of the latest signal taken: any signal older than it is superseded. A
        // signal refused by the kill switch, the risk settings, the broker's rules or the
        // notional cap, or expired before its first order, leaves the account as it was, so
        // an older signal that only reduces exposure still executes after it (a FLATTEN fired
        // before a refused entry would otherwise be dropped, the position left open): the
        // venue asks this check once every other check has passed, just before the first
        // order (`ExecRequest::gate`). A takeover is checked here, before the venue reads
        // anything: an earlier attempt may have sent orders already, and one superseded now
        // must not send more but must report what that attempt left (half a reversal is
        // alarmed below). A forced replay is an operator's explicit request and is never
        // superseded (it never moves a recorded time back either).
        let gate = TakenGate {
            store: &self.store,
            series: &taken,
            intent,
        };
        if takeover && blocked.is_none() {
            match gate.check().await {
                Err(e) => {
                    self.release_unless(takeover, &key, lease_until).await;
                    return Err(e.into());
                }
                Ok(verdict) => blocked = verdict.map(|why| (Outcome::Superseded, why)),
            }
        }
        // A guard's verdict on a takeover whose earlier attempt left the account short of the
        // target (half a reversal): alarmed.
        let mut stopped_short = false;
        let execution = match (&blocked, takeover) {
            // Nothing was ever sent for this signal: no broker call at all.
            (Some((outcome, reason)), false) => Execution {
                outcome: *outcome,
                legs: Vec::new(),
                reason: Some(reason.clone()),
                stopped_by_policy: false,
                alarmed: false,
                at_target: false,
            },
            _ => {
                // A takeover numbers its own sends after the leg's journaled ones (see
                // `number_as_journaled`), so it reads them before anything can leave: a send
                // numbered blind would take the first send's row, and the journal would lose
                // an order that may still fill. Unreadable, nothing is sent; the record comes
                // back within seconds, as after any failure. A takeover that may not send
                // numbers nothing of its own and needs no such read.
                let earlier = if takeover && blocked.is_none() {
                    match self.journaled_orders(intent).await {
                        Ok(rows) => rows,
                        Err(reason) => {
                            self.release_unless(takeover, &key, lease_until).await;
                            return Err(RecordError::Journal(JournalError {
                                reason: format!(
                                    "a takeover reads the signal's journaled orders before it sends: {reason}"
                                ),
                            }));
                        }
                    }
                } else {
                    Vec::new()
                };
                // The staleness budget: waits end, and nothing new is sent, after it.
                let deadline = send_deadline(
                    self.staleness(intent, start),
                    lease_until,
                    self.settings.send_margin,
                );
                // A refused entry's no-op is the venue's finding that the account holds the
                // target (the venue answers `refused` otherwise), not a takeover's "found
                // nothing": it stands.
                let no_op_stands = refused.is_some();
                // A notional size is bounded by `max_position` once converted (the venue
                // converts it at the alert's close).
                let max_position = matches!(size.0, Size::Notional(_)).then(|| {
                    let name = intent.instrument.as_str();
                    RiskConfig::instrument(
                        &self.settings.risk,
                        AssetClass::of(intent.broker, name),
                        name,
                    )
                    .max_position
                });
                let req = ExecRequest {
                    intent,
                    size: size.0,
                    deadline,
                    max_notional: size.1,
                    max_position,
                    takeover,
                    may_send: blocked.is_none(),
                    refused,
                    gate: (!takeover).then_some(&gate as &dyn OrderGate),
                    journaled: &earlier,
                };
                match self.venue.execute(&req).await {
                    Ok(mut execution) => {
                        // A takeover that may not send and found nothing keeps the guard's
                        // verdict; so does one whose earlier attempt's legs left the account
                        // short of the target (the core answers `expired`), its legs journaled.
                        // One the core found unknown stays unknown.
                        let found_nothing = execution.legs.is_empty()
                            && execution.outcome == Outcome::NoOp
                            && !no_op_stands;
                        if let Some((_, reason)) = &blocked
                            && execution.outcome == Outcome::Unknown
                        {
                            execution.reason = Some(match execution.reason.take() {
                                Some(found) => format!("{reason} ({found})"),
                                None => reason.clone(),
                            });
                        }
                        if let Some((outcome, reason)) = &blocked
                            && (found_nothing || execution.outcome == Outcome::Expired)
                        {
                            stopped_short = execution.outcome == Outcome::Expired;
                            execution.outcome = *outcome;
                            execution.reason = Some(match execution.reason.take() {
                                Some(found) => format!("{reason} ({found})"),
                                None => reason.clone(),
                            });
                        }
                        // A refused takeover that found the account at its target is a
                        // no-op, taken as any no-op is (its check was skipped for the
                        // refusal): a later signal taken makes it superseded.
                        if takeover
                            && no_op_stands
                            && execution.outcome == Outcome::NoOp
                            && execution.legs.is_empty()
                        {
                            match gate.check().await {
                                Err(e) => {
                                    self.release_unless(takeover, &key, lease_until).await;
                                    return Err(e.into());
                                }
                                Ok(Some(why)) => {
                                    execution = Execution::without_legs(Outcome::Superseded, why);
                                }
                                Ok(None) => {}
                            }
                        }
                        if takeover {
                            self.number_as_journaled(intent, &mut execution, earlier)
                                .await;
                        }
                        execution
                    }
                    Err(nothing_sent) => {
                        self.release_unless(takeover, &key, lease_until).await;
                        // The order check's store failed, not the broker: say so.
                        if nothing_sent.order_check {
                            return Err(StoreError {
                                reason: nothing_sent.reason,
                            }
                            .into());
                        }
                        return Err(nothing_sent.into());
                    }
                }
            }
        };
        self.finish(
            intent,
            text,
            &key,
            execution,
            start,
            lease_until,
            stopped_short,
        )
        .await
    }

    /// Ends this attempt's lease without completing the record when it took the signal
    /// over, or drops the record (its own claim only) when it was the first.
    async fn release_unless(
        &self,
        takeover: bool,
        key: &IdempotencyKey,
        lease_until: DateTime<Utc>,
    ) {
        // After a takeover an earlier attempt may have sent orders: keep the record so the
        // next attempt reconciles too, but hand its lease over, so that attempt (back within
        // seconds) reconciles at once instead of finding the lease busy.
        let result = if takeover {
            self.store
                .hand_over(key, lease_until, self.clock.now())
                .await
        } else {
            self.store.release(key, lease_until).await
        };
        if let Err(e) = result {
            warn!(error = %e, "could not free the idempotency record; its lease will expire");
        }
    }

    /// Journals, alarms and completes an execution. When any of that fails the record comes
    /// back (within seconds: see `fifo_batch::retry_delay`), so this attempt hands its lease
    /// over: the redelivery takes over and reconciles by lookup at once instead of finding
    /// the lease busy until it runs out, which would spend the retries and dead-letter it.
    ///
    /// Not for an unknown outcome: its record keeps the lease whatever failed (the journal
    /// write or the dead-letter send), so the quick retries find it busy and the queue's
    /// redrive moves it to the dead-letter queue, for an operator, instead of a takeover a
    /// second later that might send while the broker is still settling.
    #[allow(
        clippy::too_many_arguments,
        reason = "the execution's parts, passed on to record"
    )]
    async fn finish(
        &self,
        intent: &OrderIntent,
        text: Option<&str>,
        key: &IdempotencyKey,
        execution: Execution,
        start: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        stopped_short: bool,
    ) -> Result<Outcome, RecordError> {
        let unknown = execution.outcome == Outcome::Unknown;
        let result = self
            .record(intent, text, key, execution, start, stopped_short)
            .await;
        if result.is_err()
            && !unknown
            && let Err(e) = self
                .store
                .hand_over(key, lease_until, self.clock.now())
                .await
        {
            warn!(error = %e, "could not hand the lease over; the retry waits for it to end");
        }
        result
    }

    /// A takeover reports an order an earlier attempt sent as the leg's first send; when the
    /// journal already holds that order (same broker, account, leg and broker order id) under
    /// another attempt, the leg takes that attempt, so the order keeps one row (the journal
    /// keys rows by signal, broker, account, leg and attempt), and, when the leg is not
    /// filled and came without a size (a takeover that may not send asks none), its
    /// journaled size. The rows are read again after the broker calls (an earlier attempt
    /// still running past its lease may have written since); when that read fails, the rows
    /// `earlier`, read before anything was sent, are used. A journal that keeps no rows
    /// (`JOURNAL=log`) leaves the rows as reported.
    ///
    /// An order the takeover found rather than sent (no send time) whose broker order id no
    /// row holds takes the leg's first `unknown` row without a broker order id: the send whose
    /// answer was lost made it.
    ///
    /// A send this takeover made itself (it has a send time) whose broker order id no row
    /// holds is numbered after the leg's journaled attempts: an operator's forced replay of
    /// an unknown outcome sends again, and its row must not overwrite the first send's,
    /// which may still fill (the journal then shows both sends, as the broker may).
    async fn number_as_journaled(
        &self,
        intent: &OrderIntent,
        execution: &mut Execution,
        earlier: Vec<OrderRecord>,
    ) {
        // Nothing to number when the takeover found nothing of any leg: no order, no send,
        // no end read from the broker's records. A reject it found (OANDA's transactions
        // name no order for one) is numbered too: reported as attempt 1, it overwrote
        // attempt 1's row and left the unresolved send's `unknown` row standing.
        if execution.legs.iter().all(|l| {
            l.broker_order_id.is_none() && l.sent_at.is_none() && l.outcome == Outcome::Unknown
        }) {
            return;
        }
        let journaled = match self.journaled_orders(intent).await {
            Ok(rows) => rows,
            Err(reason) => {
                warn!(
                    error = %reason,
                    "journal unreadable after the takeover; its sends are numbered after the rows read before them"
                );
                earlier
            }
        };
        let account = self.venue.account();
        for leg in &mut execution.legs {
            let rows: Vec<&OrderRecord> = journaled
                .iter()
                .filter(|r| {
                    r.broker == intent.broker && r.account.as_str() == account && r.leg == leg.leg
                })
                .collect();
            let same_order = rows
                .iter()
                .find(|r| r.broker_order_id.is_some() && r.broker_order_id == leg.broker_order_id);
            // An order found (not sent) by the takeover that no row names is what an
            // unresolved send made: it settles the leg's first `unknown` row. Numbered as
            // reported (attempt 1), it overwrote attempt 1's row (after a first send found by
            // nothing and sent again, `not_executed`) and left the second send's `unknown` row
            // standing beside the fill.
            let unresolved = || {
                rows.iter()
                    .filter(|r| r.outcome == Outcome::Unknown && r.broker_order_id.is_none())
                    .min_by_key(|r| r.attempt)
            };
            let taken = match same_order {
                Some(row) => Some(row),
                None if leg.sent_at.is_none() => unresolved(),
                None => None,
            };
            if let Some(row) = taken {
                leg.attempt = row.attempt;
                // A leg not filled whose broker read gave no size (a stale takeover asks none)
                // keeps the one journaled; a fill's size is the broker's.
                if leg.quantity.is_zero() && leg.outcome != Outcome::Filled {
                    leg.quantity = row.quantity;
                }
            } else if leg.sent_at.is_some()
                && let Some(last) = rows.iter().map(|r| r.attempt).max()
            {
                leg.attempt += last;
            }
        }
    }

    /// The end an earlier attempt journaled for the signal, when it is one that completes a
    /// record (any but `unknown`, which a lookup reconciles); `None` when the journal holds
    /// none or keeps no rows (`JOURNAL=log`); `Err` naming why when it cannot be read within
    /// [`JOURNAL_READ`] (the takeover then fails before any broker call).
    async fn journaled_end(&self, intent: &OrderIntent) -> Result<Option<Outcome>, String> {
        Ok(self
            .journaled_signal(intent)
            .await?
            .and_then(|r| r.status.outcome())
            .filter(|o| *o != Outcome::Unknown))
    }

    /// The journal's row of the intent's signal, read within [`JOURNAL_READ`]; `Err` names
    /// why the journal could not be read.
    async fn journaled_signal(&self, intent: &OrderIntent) -> Result<Option<SignalRecord>, String> {
        match tokio::time::timeout(JOURNAL_READ, self.journal.signal(&intent.signal_id)).await {
            Ok(Ok(record)) => Ok(record),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} ms", JOURNAL_READ.as_millis())),
        }
    }

    /// Every journaled order row of the intent's signal, read within [`JOURNAL_READ`];
    /// `Err` names why the journal could not be read.
    async fn journaled_orders(&self, intent: &OrderIntent) -> Result<Vec<OrderRecord>, String> {
        match tokio::time::timeout(JOURNAL_READ, self.journal.orders(&intent.signal_id)).await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} ms", JOURNAL_READ.as_millis())),
        }
    }

    async fn record(
        &self,
        intent: &OrderIntent,
        text: Option<&str>,
        key: &IdempotencyKey,
        execution: Execution,
        start: DateTime<Utc>,
        stopped_short: bool,
    ) -> Result<Outcome, RecordError> {
        let outcome = execution.outcome;
        let broker_sent = execution.legs.iter().filter_map(|l| l.sent_at).min();
        let broker_acked = execution.legs.iter().filter_map(|l| l.acked_at).max();
        let record = SignalRecord {
            signal_id: intent.signal_id.clone(),
            raw: intent.raw.clone(),
            // The message's text, which the intent was read from (one JSON value, as it
            // parsed); the intent serialized when there is none.
            normalized: text
                .and_then(|t| shared::execution::RawJson::parse(t.to_owned()).ok())
                .unwrap_or_else(|| shared::execution::RawJson::of(intent)),
            symbol: intent.symbol.clone(),
            exchange: intent.exchange.clone(),
            action: intent.action.to_string(),
            broker: Some(intent.broker),
            instrument: Some(intent.instrument.to_string()),
            contract_resolution: intent
                .contract
                .as_ref()
                .map(|c| format!("{} -> {} ({})", c.requested, c.contract, c.rule)),
            status: SignalStatus::from(outcome),
            reason: execution.reason.clone(),
            stages: StageTimes {
                received: Some(intent.received_at),
                enqueued: Some(intent.enqueued_at),
                routed: Some(intent.routed_at),
                executor_start: Some(start),
                broker_sent,
                broker_acked,
            },
        };
        let orders: Vec<OrderRecord> = execution
            .legs
            .iter()
            .map(|leg| OrderRecord {
                signal_id: intent.signal_id.clone(),
                broker: intent.broker,
                account: key.account.clone(),
                instrument: leg
                    .instrument
                    .clone()
                    .unwrap_or_else(|| intent.instrument.to_string()),
                leg: leg.leg,
                attempt: leg.attempt,
                client_order_id: leg.client_order_id.clone(),
                broker_order_id: leg.broker_order_id.clone(),
                side: leg.side,
                quantity: leg.quantity,
                fill_price: leg.fill_price,
                outcome: leg.outcome,
                error: leg.error.clone(),
                sent_at: leg.sent_at,
                acked_at: leg.acked_at,
                fee: leg.fee,
            })
            .collect();
        let reason = execution.reason.as_deref().unwrap_or("");
        // An unknown outcome is alarmed before anything that can fail: were the journal's
        // write to fail first, the record keeps its lease (see `finish`), the quick retries
        // find it busy until the queue's redrive dead-letters it, or a return after the
        // visibility timeout takes it over and closes it with its own finding, with no alarm
        // ever sent.
        if outcome == Outcome::Unknown {
            error!(outcome = ?outcome, reason, "signal not executed");
            self.notify(intent, &key.account, outcome, reason, true)
                .await;
        }

        // A refusal or a newer signal that stops a takeover after an earlier attempt's orders
        // filled (half a reversal, say): an alarm. So does one that leaves the account short
        // of the target where closes cannot be looked up. (The newer signal of a superseded
        // one may have moved the account since, or may itself have been refused: it is
        // alarmed rather than left to a log line.)
        let part_filled = execution.legs.iter().any(|l| l.outcome == Outcome::Filled);
        let in_part = execution
            .legs
            .iter()
            .any(|l| l.outcome == Outcome::Filled && l.in_part);
        // Mailed whatever the rate limit, as an unknown outcome is, when the account is left
        // holding what the strategy left: half done (orders filled, the account neither where
        // it was nor at the target: half a reversal, a fill short of its size), a close the
        // broker refused (an exit, or a reversal's close), or a reversal refused before its
        // close. Held back behind another failure's mail, the trader might hear of it only
        // with the next failure after the interval, or never. An entry refused from flat, or
        // an entry that never reached the broker (expired, say), stays rate-limited: an
        // outage that fails every signal sends one mail. An exit or a flatten that ended
        // without a fill (stale, refused by the kill switch, rejected) is not: the account
        // may still hold what the strategy closed.
        let close_failed = execution.legs.iter().any(|l| {
            matches!(l.leg, Leg::Close | Leg::CloseHedge | Leg::CloseRolled)
                && !matches!(l.outcome, Outcome::Filled | Outcome::NoOp)
        });
        // (Not one found already where the exit wants it, a takeover that may not send
        // keeping the guard's verdict: nothing the strategy closed is held.)
        let exit_undone = !part_filled
            && !execution.at_target
            && only_reduces(intent)
            && matches!(
                outcome,
                Outcome::Refused | Outcome::Rejected | Outcome::Expired | Outcome::NotExecuted
            );
        let half_done = in_part
            || stopped_short
            || (part_filled && outcome != Outcome::Filled)
            || close_failed
            || execution.alarmed
            || exit_undone;
        // What is mailed, with the log line's words (`None`: only logged, below).
        let told = match outcome {
            // A fill short of its size: the account is not at the signal's target.
            Outcome::Filled if in_part => Some("signal filled in part"),
            Outcome::Refused
            | Outcome::Superseded
            | Outcome::Rejected
            | Outcome::Expired
            | Outcome::NotExecuted
                if part_filled =>
            {
                Some("signal stopped after some of its orders filled")
            }
            Outcome::Refused | Outcome::Superseded if stopped_short => {
                Some("signal stopped short of its target")
            }
            Outcome::Refused if execution.alarmed => Some(
                "reversal refused before its close (or an entry refused while the position could not be read): the account keeps the side it held",
            ),
            Outcome::Refused | Outcome::Rejected | Outcome::Expired | Outcome::NotExecuted
                if exit_undone =>
            {
                Some("exit not executed: the account may still hold what the strategy closed")
            }
            Outcome::Rejected | Outcome::Expired | Outcome::NotExecuted => {
                Some("signal not executed")
            }
            // Alarmed above, before the journal's write.
            Outcome::Unknown => None,
            Outcome::Filled | Outcome::NoOp | Outcome::Refused | Outcome::Superseded => None,
        };
        // Every failure mail goes out before the journal's write, as an unknown outcome's
        // alarm does. Were the process to die between the write and the mail, the takeover
        // would find the journaled end and complete the record with no mail (it cannot tell
        // whether one went out); were the write to fail on an account left half done, the
        // retries would find the journal unwritten too and be dead-lettered with no mail of
        // it at all. A write that fails can so mail a signal twice (its takeover mails what
        // it finds), which the rate limit mostly holds back: twice rather than never.
        if let Some(told) = told {
            error!(outcome = ?outcome, reason, "{told}");
            self.notify(intent, &key.account, outcome, reason, half_done)
                .await;
        }
        self.journal.record_execution(&record, &orders).await?;
        match (told, outcome) {
            (Some(_), _) => {}
            (None, Outcome::Filled | Outcome::NoOp) => {
                info!(outcome = ?outcome, legs = execution.legs.len(), reason, "signal executed");
                // A fill's mail only once written: after a failed write its takeover finds
                // the fill and mails it, and two mails of one fill would read as two fills.
                if outcome == Outcome::Filled && self.settings.notify_fills {
                    self.notify_fill(intent, &key.account, &orders).await;
                }
            }
            (None, Outcome::Refused) => warn!(outcome = ?outcome, reason, "signal refused"),
            (None, Outcome::Superseded) => info!(outcome = ?outcome, reason, "signal superseded"),
            (None, _) => {}
        }
        let ms = |from: DateTime<Utc>| Some((start - from).num_milliseconds());
        if self.metrics.keeps() {
            self.metrics.emit(outcome_line(
                intent.broker,
                outcome,
                StageLatencies {
                    signal_to_executor_ms: ms(intent.signal_time),
                    received_to_executor_ms: ms(intent.received_at),
                    routed_to_executor_ms: ms(intent.routed_at),
                    broker_ms: broker_sent
                        .zip(broker_acked)
                        .map(|(s, a)| (a - s).num_milliseconds()),
                },
                self.clock.now(),
            ));
        }

        // An unknown outcome: the lookups the broker documents have been made, and a message
        // kept in the queue would block every later signal of its instrument for as long as
        // it is redelivered. It goes to the dead-letter queue now, journaled with its real
        // cause and alarmed (above), and is acknowledged. The record keeps its lease, so an
        // operator's replay from the dead-letter queue takes over and reconciles by lookup
        // instead of sending again.
        if outcome == Outcome::Unknown
            && let Some(dlq) = &self.dead_letters
        {
            let message = FifoMessage {
                group_id: intent.group_id(),
                // Unique per send: a second unknown outcome of the same signal (after a replay)
                // inside SQS's five-minute deduplication window must not be dropped.
                dedup_id: format!(
                    "{}-{}",
                    intent.signal_id,
                    self.clock.now().timestamp_millis()
                ),
                body: serde_json::to_string(intent).unwrap_or_default(),
            };
            dlq.dead_letter(message)
                .await
                .map_err(|error| RecordError::DeadLetter {
                    reason: reason.to_owned(),
                    error,
                })?;
            warn!(
                reason,
                "outcome unknown: sent to the dead-letter queue and acknowledged"
            );
            return Ok(outcome);
        }
        // Any other outcome (or no dead-letter queue) completes the record and acknowledges.
        let now = self.clock.now();
        self.store
            .complete(key, outcome, now + self.settings.record_ttl)
            .await?;
        Ok(outcome)
    }

    /// Mails the operator of `outcome`; `urgent` past the mail rate limit (an unknown outcome,
    /// a signal half done).
    /// A fill mail ([`ExecutorSettings::notify_fills`]): each filled leg's side, size and
    /// average price (or "price not reported"). Sent as urgent only so that the failure mails'
    /// interval neither holds it back nor counts it.
    async fn notify_fill(&self, intent: &OrderIntent, account: &str, orders: &[OrderRecord]) {
        let legs: Vec<String> = orders
            .iter()
            .filter(|o| o.outcome == Outcome::Filled)
            .map(|o| {
                let price = o
                    .fill_price
                    .map_or_else(|| "price not reported".to_owned(), |p| format!("at {p}"));
                format!(
                    "{} {} {} {} {price}",
                    o.leg.as_str(),
                    o.side.as_str(),
                    o.quantity,
                    o.instrument
                )
            })
            .collect();
        let note = Notification {
            subject: format!(
                "{} Filled: {} {}",
                intent.broker, intent.action, intent.instrument
            ),
            message: format!(
                "signal {} ({} {} on {}, account {account}) filled: {}",
                intent.signal_id,
                intent.action,
                intent.symbol,
                intent.exchange,
                legs.join("; ")
            ),
            urgent: true,
        };
        if let Err(e) = self.notifier.notify(note).await {
            warn!(error = %e, "notification failed");
        }
    }

    /// Mails `refused` (a dead letter sent back that this executor will not look up or send:
    /// [`RecordError::OtherAccount`], [`RecordError::NoRecordHere`]) at once, whatever the
    /// rate limit, and gives it back. The operator who replayed it sees `replayed` in tvctl
    /// and the letter back in the dead-letter queue under a new id: without the mail, only a
    /// log line would say the signal was not reconciled, nor which account to check.
    async fn replay_refused(&self, intent: &OrderIntent, refused: RecordError) -> RecordError {
        error!(error = %refused, "dead letter sent back, refused: not looked up or sent");
        let note = Notification {
            subject: format!(
                "{} replay refused: {} {}",
                intent.broker, intent.action, intent.instrument
            ),
            message: format!(
                "signal {} ({} {} on {}): {refused}.\n\nNothing was looked up, sent or journaled; \
                 {}, and a replay from this deployment is refused the same way. Reconcile the \
                 signal at the account named, by hand; the letter then expires with the queue's \
                 retention (14 days) or can be deleted from the queue.",
                intent.signal_id,
                intent.action,
                intent.symbol,
                intent.exchange,
                if self.dead_letters.is_some() {
                    "the letter goes back to the dead-letter queue under a new message id"
                } else {
                    "the message is retried until the queue's redrive moves it to the dead-letter \
                     queue"
                }
            ),
            urgent: true,
        };
        if let Err(e) = self.notifier.notify(note).await {
            warn!(error = %e, "notification failed");
        }
        refused
    }

    /// A failure mail: the signal, the account, how it ended and why; for an unknown end,
    /// where the signal went and what to do next.
    async fn notify(
        &self,
        intent: &OrderIntent,
        account: &str,
        outcome: Outcome,
        reason: &str,
        urgent: bool,
    ) {
        // A fill is told only when it fell short of its size.
        let ended = match outcome {
            Outcome::Filled => "FilledInPart".to_owned(),
            other => format!("{other:?}"),
        };
        let note = Notification {
            subject: format!(
                "{} {ended}: {} {}",
                intent.broker, intent.action, intent.instrument
            ),
            message: format!(
                "signal {} ({} {} on {}, account {account}) ended {ended}: {}{}",
                intent.signal_id,
                intent.action,
                intent.symbol,
                intent.exchange,
                reason,
                match (outcome, self.dead_letters.is_some()) {
                    (Outcome::Unknown, true) => {
                        "\n\nWhat the broker did is not known: check the account at the broker. \
                         The signal goes to the broker queue's dead-letter queue (`tvctl dlq \
                         list`); `tvctl dlq replay --lookup-only` looks it up again and journals \
                         what it finds, trading nothing (cdk/README.md: dead letters and replay)."
                    }
                    (Outcome::Unknown, false) => {
                        "\n\nWhat the broker did is not known: check the account at the broker."
                    }
                    _ => "",
                }
            ),
            urgent,
        };
        if let Err(e) = self.notifier.notify(note).await {
            warn!(error = %e, "notification failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::killswitch::KillSwitch;
    use crate::metrics::CapturedMetrics;
    use crate::paper::PaperNetting;
    use shared::clock::ManualClock;
    use shared::execution::Leg;
    use shared::memory::{MemoryIdempotencyStore, MemoryJournal, MemoryNotifier};
    use shared::ports::HAND_OVER_SKEW;
    use shared::routing::{Broker, Instrument};
    use shared::{Action, SignalId};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Fails its next `.0` reads, then answers `.1` (engaged).
    struct FlakySwitch(AtomicU32, std::sync::atomic::AtomicBool);

    impl KillSwitch for FlakySwitch {
        async fn engaged(&self) -> Result<bool, String> {
            match self
                .0
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            {
                Ok(_) => Err("parameter store throttled".into()),
                Err(_) => Ok(self.1.load(Ordering::SeqCst)),
            }
        }
    }

    /// The executor the paper tests build: in-memory ports, a scriptable kill switch.
    type PaperExecutor<V> = Executor<
        V,
        Arc<MemoryIdempotencyStore>,
        Arc<MemoryJournal>,
        Arc<MemoryNotifier>,
        FlakySwitch,
        ManualClock,
    >;

    /// An executor over `venue` with the deployed staleness (30 s) and a 60 s lease (the
    /// deployed one is 90 s: no test here depends on the difference),
    /// a kill switch that reads, and `size` units by default.
    fn paper_executor<V: Venue>(
        venue: V,
        store: Arc<MemoryIdempotencyStore>,
        journal: Arc<MemoryJournal>,
        clock: &ManualClock,
        size: &str,
    ) -> PaperExecutor<V> {
        Executor {
            dead_letters: None,
            venue,
            store,
            journal,
            notifier: Arc::new(MemoryNotifier::default()),
            kill_switch: FlakySwitch(AtomicU32::new(0), std::sync::atomic::AtomicBool::new(false)),
            clock: clock.clone(),
            metrics: Arc::new(CapturedMetrics::default()),
            settings: ExecutorSettings {
                max_age: Duration::seconds(30),
                lease: Duration::seconds(60),
                send_margin: HAND_OVER_SKEW,
                record_ttl: Duration::days(1),
                risk: RiskConfig::from_toml(&format!(
                    "default_size = \"{size}\"\ndefault_max_position = \"10000\""
                ))
                .unwrap_or_else(|e| panic!("{e}")),
                notify_fills: false,
            },
        }
    }

    /// A paper OANDA account at `t0` and an executor over it (1,000 units by default), with
    /// its clock and journal.
    fn paper_oanda(
        t0: DateTime<Utc>,
    ) -> (
        ManualClock,
        Arc<PaperNetting>,
        Arc<MemoryJournal>,
        PaperExecutor<Arc<PaperNetting>>,
    ) {
        let clock = ManualClock::new(t0);
        let venue = Arc::new(PaperNetting::with_clock(
            Broker::Oanda,
            "paper",
            Arc::new(clock.clone()),
        ));
        let journal = Arc::new(MemoryJournal::default());
        let executor = paper_executor(
            venue.clone(),
            Arc::new(MemoryIdempotencyStore::default()),
            journal.clone(),
            &clock,
            "1000",
        );
        (clock, venue, journal, executor)
    }

    /// A request for `signal` at `t0` as a first attempt makes it: one unit, 30 s of budget,
    /// a notional cap of 1,000,000, free to send.
    fn request(signal: &OrderIntent, t0: DateTime<Utc>) -> ExecRequest<'_> {
        ExecRequest {
            intent: signal,
            size: Size::Quantity(Decimal::ONE),
            deadline: t0 + Duration::seconds(30),
            max_notional: Decimal::from(1_000_000),
            max_position: None,
            takeover: false,
            may_send: true,
            refused: None,
            gate: None,
            journaled: &[],
        }
    }

    fn intent(at: DateTime<Utc>) -> OrderIntent {
        OrderIntent {
            version: INTENT_VERSION,
            signal_id: SignalId::of_canonical("hand-over"),
            broker: Broker::Oanda,
            instrument: Instrument::new("EUR_USD"),
            action: Action::LongEntry,
            target: Action::LongEntry.target(),
            symbol: "EURUSD".into(),
            exchange: "OANDA".into(),
            reference_price: Decimal::new(108_345, 5),
            quantity_override: None,
            signal_time: at,
            received_at: at,
            enqueued_at: at,
            routed_at: at,
            contract: None,
            raw: "{}".into(),
            replay_forced: false,
        }
    }

    /// The letters sent, in order.
    #[derive(Default)]
    struct Letters(std::sync::Mutex<Vec<FifoMessage>>);
    impl Letters {
        fn messages(&self) -> Vec<FifoMessage> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
        }
    }
    impl shared::ports::DeadLetterQueue for Letters {
        fn dead_letter(
            &self,
            message: FifoMessage,
        ) -> std::pin::Pin<
            Box<
                dyn std::future::Future<Output = Result<(), shared::ports::QueueError>> + Send + '_,
            >,
        > {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(message);
            Box::pin(async { Ok(()) })
        }
    }

    /// A message no executor can read, or one for another broker, goes to the dead-letter
    /// queue at once and is acknowledged, so the next signal of its instrument runs; one of
    /// another version is retried (a deployment in progress). Without a dead-letter queue,
    /// each is reported failed as before.
    #[tokio::test]
    async fn an_unreadable_or_misrouted_message_is_dead_lettered_and_its_group_goes_on() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let (_clock, _venue, journal, mut executor) = paper_oanda(t0);
        let dlq = Arc::new(Letters::default());
        executor.dead_letters = Some(dlq.clone());
        let good = intent(t0);
        let misrouted = OrderIntent {
            broker: Broker::Coinbase,
            signal_id: SignalId::of_canonical("misrouted"),
            ..intent(t0)
        };
        let newer = serde_json::to_string(&OrderIntent {
            version: INTENT_VERSION + 1,
            signal_id: SignalId::of_canonical("newer"),
            ..intent(t0)
        })
        .unwrap();
        let record = |id: &str, body: String| {
            serde_json::json!({"messageId": id, "body": body,
                "attributes": {"MessageGroupId": "EUR_USD", "SequenceNumber": "1",
                               "ApproximateReceiveCount": "1"},
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:oanda.fifo"})
        };
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            record("m1", "not json".into()),
            record("m2", serde_json::to_string(&misrouted).unwrap()),
            record("m3", serde_json::to_string(&good).unwrap()),
        ]}))
        .unwrap();
        let response = executor.handle_batch(event, None).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
        let letters = dlq.messages();
        assert_eq!(
            letters
                .iter()
                .map(|m| (m.group_id.as_str(), m.dedup_id.as_str()))
                .collect::<Vec<_>>(),
            [("EUR_USD", "poison-m1"), ("EUR_USD", "poison-m2")]
        );
        assert_eq!(letters[0].body, "not json");
        let journaled = journal.signal(&good.signal_id).await.unwrap().unwrap();
        assert_eq!(journaled.status, SignalStatus::Filled);
        // Another version: retried, not dead-lettered, whether its shape parses as this
        // one's or not (a new action this build does not know).
        let mut reshaped: serde_json::Value = serde_json::from_str(&newer).unwrap();
        reshaped["action"] = serde_json::json!("REVERSE");
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            record("m4", newer),
            record("m5", reshaped.to_string()),
        ]}))
        .unwrap();
        let response = executor.handle_batch(event, None).await.unwrap();
        assert_eq!(response.batch_item_failures.len(), 2);
        assert_eq!(dlq.messages().len(), 2);
    }

    /// A dead letter sent back after the deployment's account changed: the journal holds the
    /// signal's orders at account `101-a`, this executor trades `paper`. Looked up here (its
    /// record is per account: a fresh claim), it journaled `expired` over the signal's end;
    /// forced, it traded this account. Now neither: dead-lettered at once, naming both
    /// accounts, the journal and this account untouched. A stale message of no journaled
    /// orders still ends `expired`.
    #[tokio::test]
    async fn a_dead_letter_of_another_account_is_neither_looked_up_nor_sent() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let (clock, venue, journal, mut executor) = paper_oanda(t0);
        let earlier = Arc::new(PaperNetting::with_clock(
            Broker::Oanda,
            "101-a",
            Arc::new(clock.clone()),
        ));
        let before = paper_executor(
            earlier.clone(),
            Arc::new(MemoryIdempotencyStore::default()),
            journal.clone(),
            &clock,
            "1000",
        );
        let signal = intent(t0);
        assert_eq!(before.execute(&signal).await.unwrap(), Outcome::Filled);
        let dlq = Arc::new(Letters::default());
        executor.dead_letters = Some(dlq.clone());
        clock.set(t0 + Duration::minutes(10));
        let record = |id: &str, body: String| {
            serde_json::json!({"messageId": id, "body": body,
                "attributes": {"MessageGroupId": "EUR_USD", "SequenceNumber": "1",
                               "ApproximateReceiveCount": "1"},
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:oanda.fifo"})
        };
        let forced = OrderIntent {
            replay_forced: true,
            ..signal.clone()
        };
        let err = executor.execute(&signal).await.unwrap_err().to_string();
        assert!(
            err.contains("went to 101-a at oanda") && err.contains("this executor trades paper"),
            "{err}"
        );
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            record("m1", serde_json::to_string(&signal).unwrap()),
            record("m2", serde_json::to_string(&forced).unwrap()),
        ]}))
        .unwrap();
        let response = executor.handle_batch(event, None).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
        let letters: Vec<String> = dlq.messages().iter().map(|m| m.dedup_id.clone()).collect();
        assert_eq!(letters, ["poison-m1", "poison-m2"]);
        // Each refusal mailed at once, naming both accounts: tvctl said `replayed`.
        let sent = executor.notifier.sent();
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert!(
            sent.iter().all(|n| n.urgent
                && n.subject.starts_with("oanda replay refused")
                && n.message.contains("101-a")
                && n.message.contains("trades paper")),
            "{sent:?}"
        );
        let journaled = journal.signal(&signal.signal_id).await.unwrap().unwrap();
        assert_eq!(journaled.status, SignalStatus::Filled);
        assert_eq!(venue.orders(), 0);
        assert_eq!(earlier.orders(), 1);
        // Of no journaled orders: expired, as before.
        let other = OrderIntent {
            signal_id: SignalId::of_canonical("never-sent"),
            ..signal.clone()
        };
        assert_eq!(executor.execute(&other).await.unwrap(), Outcome::Expired);
        // Journaled `unknown` with no order row to name its account (an attempt whose
        // takeover could not read the broker), and no record of it at this one: neither
        // looked up (`expired` over its `unknown`) nor, forced, sent; its claim freed.
        let lost = OrderIntent {
            signal_id: SignalId::of_canonical("unknown-without-legs"),
            ..signal.clone()
        };
        let mut row = journaled.clone();
        row.signal_id = lost.signal_id.clone();
        row.status = SignalStatus::Unknown;
        journal.upsert_signal(&row).await.unwrap();
        for message in [
            lost.clone(),
            OrderIntent {
                replay_forced: true,
                ..lost.clone()
            },
        ] {
            let err = executor.execute(&message).await.unwrap_err().to_string();
            assert!(
                err.contains("the journal shows the signal unknown")
                    && err.contains("oanda account paper holds no record of it"),
                "{err}"
            );
        }
        let row = journal.signal(&lost.signal_id).await.unwrap().unwrap();
        assert_eq!(row.status, SignalStatus::Unknown);
        assert_eq!(venue.orders(), 0);
    }

    /// A journal whose `orders` read fails the first `n` times (a paused database resuming).
    struct OrdersReadFails(Arc<MemoryJournal>, AtomicU32);

    impl TradeJournal for OrdersReadFails {
        async fn upsert_signal(&self, r: &SignalRecord) -> Result<(), JournalError> {
            self.0.upsert_signal(r).await
        }
        async fn upsert_order(&self, r: &OrderRecord) -> Result<(), JournalError> {
            self.0.upsert_order(r).await
        }
        async fn signal(&self, id: &SignalId) -> Result<Option<SignalRecord>, JournalError> {
            self.0.signal(id).await
        }
        async fn orders(&self, id: &SignalId) -> Result<Vec<OrderRecord>, JournalError> {
            let left = self.1.load(Ordering::SeqCst);
            if left > 0 {
                self.1.store(left - 1, Ordering::SeqCst);
                return Err(JournalError {
                    reason: "no answer within 5000 ms".into(),
                });
            }
            self.0.orders(id).await
        }
    }

    /// The same forced replay while the journal does not answer (Aurora resuming from its
    /// pause): not passed over, which traded the new account, but stopped before its claim,
    /// nothing sent or journaled; its retry finds the other account and dead-letters it.
    #[tokio::test]
    async fn a_forced_replay_whose_accounts_cannot_be_read_sends_nothing() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let (clock, venue, journal, paper) = paper_oanda(t0);
        let earlier = paper_executor(
            Arc::new(PaperNetting::with_clock(
                Broker::Oanda,
                "101-a",
                Arc::new(clock.clone()),
            )),
            Arc::new(MemoryIdempotencyStore::default()),
            journal.clone(),
            &clock,
            "1000",
        );
        let signal = intent(t0);
        assert_eq!(earlier.execute(&signal).await.unwrap(), Outcome::Filled);
        let executor = Executor {
            dead_letters: None,
            venue: paper.venue,
            store: paper.store,
            journal: OrdersReadFails(journal.clone(), AtomicU32::new(1)),
            notifier: paper.notifier,
            kill_switch: paper.kill_switch,
            clock: paper.clock,
            metrics: paper.metrics,
            settings: paper.settings,
        };
        clock.set(t0 + Duration::minutes(10));
        let forced = OrderIntent {
            replay_forced: true,
            ..signal.clone()
        };
        let err = executor.execute(&forced).await.unwrap_err().to_string();
        assert!(
            err.contains("which account the signal's orders went to") && err.contains("5000 ms"),
            "{err}"
        );
        assert_eq!(venue.orders(), 0);
        let journaled = journal.signal(&signal.signal_id).await.unwrap().unwrap();
        assert_eq!(journaled.status, SignalStatus::Filled);
        let err = executor.execute(&forced).await.unwrap_err().to_string();
        assert!(err.contains("went to 101-a"), "{err}");
        assert_eq!(venue.orders(), 0);
    }

    /// A record the invocation cannot hold to its end (its waits to the send deadline, then
    /// AFTER_DRIVE to journal and hand over) is not started: reported failed, nothing
    /// claimed, journaled or sent, so a fresh invocation within seconds runs it; one with
    /// the time runs. Killed by Lambda in the middle, after an order perhaps, it left no row,
    /// no alarm and its lease held until the visibility timeout.
    #[tokio::test]
    async fn a_record_the_invocation_cannot_hold_is_not_started() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let (_clock, venue, journal, executor) = paper_oanda(t0);
        // A forced replay: its budget, 30 s, counts from its start.
        let replay = OrderIntent {
            signal_time: t0 - Duration::minutes(10),
            replay_forced: true,
            ..intent(t0)
        };
        let event = || -> SqsEvent {
            serde_json::from_value(serde_json::json!({"Records": [{
                "messageId": "m1",
                "body": serde_json::to_string(&replay).unwrap(),
                "attributes": {"MessageGroupId": "EURUSD", "SequenceNumber": "1",
                               "ApproximateReceiveCount": "1"},
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:oanda.fifo"
            }]}))
            .unwrap()
        };
        // Lambda's deadline is a wall-clock instant, read so by fifo_batch.
        #[allow(
            clippy::disallowed_methods,
            reason = "Lambda gives its deadline as a wall-clock instant"
        )]
        let in_secs = |secs| Some(SystemTime::now() + std::time::Duration::from_secs(secs));
        let (response, errors) = executor
            .handle_batch_with_errors(event(), in_secs(50))
            .await
            .unwrap();
        assert_eq!(response.batch_item_failures.len(), 1);
        assert!(
            errors[0].1.contains("ms of the invocation left")
                && errors[0].1.contains("may take 55000 ms"),
            "{errors:?}"
        );
        assert!(journal.signal(&replay.signal_id).await.unwrap().is_none());
        assert_eq!(venue.orders(), 0);
        // With the time it needs, it runs.
        let response = executor.handle_batch(event(), in_secs(58)).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
        let journaled = journal.signal(&replay.signal_id).await.unwrap().unwrap();
        assert_eq!(journaled.status, SignalStatus::Filled);
        // A fresh alert's budget counts from its time: 2 s old, it needs 28 s + 25 s.
        let fresh = OrderIntent {
            signal_id: SignalId::of_canonical("fresh"),
            signal_time: t0 - Duration::seconds(2),
            ..intent(t0)
        };
        assert!(matches!(
            executor
                .execute_routed(&fresh, None, Some(std::time::Duration::from_secs(52)))
                .await,
            Err(RecordError::OutOfTime {
                needs_ms: 53_000,
                ..
            })
        ));
        assert_eq!(
            executor
                .execute_routed(&fresh, None, Some(std::time::Duration::from_secs(54)))
                .await
                .ok(),
            // The replay left the account long already.
            Some(Outcome::NoOp)
        );
    }

    /// A routed message's text is the journal's normalized form of its signal, as it came
    /// (a field this executor does not know, the router's key order), not the intent
    /// serialized again; an intent given without text is journaled serialized.
    #[tokio::test]
    async fn the_journal_keeps_the_routed_text_of_an_intent() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let (_clock, _venue, journal, executor) = paper_oanda(t0);
        let routed = intent(t0);
        let mut fields: serde_json::Map<String, serde_json::Value> =
            serde_json::from_value(serde_json::to_value(&routed).unwrap()).unwrap();
        fields.insert("a_later_field".into(), serde_json::json!("kept"));
        let text = serde_json::to_string(&fields).unwrap();
        assert_ne!(text, serde_json::to_string(&routed).unwrap());
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [{
            "messageId": "m1",
            "body": format!(" {text}\n"),
            "attributes": {"MessageGroupId": "EURUSD", "SequenceNumber": "1",
                           "ApproximateReceiveCount": "1"},
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:oanda.fifo"
        }]}))
        .unwrap();
        let response = executor.handle_batch(event, None).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
        let journaled = journal.signal(&routed.signal_id).await.unwrap().unwrap();
        assert_eq!(journaled.status, SignalStatus::Filled);
        assert_eq!(journaled.normalized.as_str(), text);

        let direct = OrderIntent {
            signal_id: SignalId::of_canonical("direct"),
            ..intent(t0)
        };
        executor.execute(&direct).await.unwrap();
        let journaled = journal.signal(&direct.signal_id).await.unwrap().unwrap();
        assert_eq!(
            journaled.normalized.as_str(),
            serde_json::to_string(&direct).unwrap()
        );
    }

    /// Each failure after a claim frees the lease for the retry that comes back within
    /// seconds: a journal outage after the fill, then (on the takeover) an unreadable kill
    /// switch. The third attempt, at the same instant, still takes over rather than finding
    /// the lease busy, and reconciles the fill instead of sending again.
    #[tokio::test]
    async fn every_failed_attempt_hands_its_lease_to_the_quick_retry() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let (clock, venue, journal, executor) = paper_oanda(t0);
        let signal = intent(t0);

        journal.set_down(true);
        assert!(executor.execute(&signal).await.is_err());
        journal.set_down(false);
        assert_eq!(venue.orders(), 1, "filled before the journal failed");

        clock.advance(Duration::seconds(1));
        executor.kill_switch.0.store(1, Ordering::SeqCst);
        let second = executor.execute(&signal).await;
        assert!(
            matches!(second, Err(RecordError::KillSwitch(_))),
            "{second:?}"
        );

        let third = executor.execute(&signal).await;
        assert!(matches!(third, Ok(Outcome::Filled)), "{third:?}");
        assert_eq!(venue.orders(), 1, "reconciled, not sent again");
    }

    /// A store whose next `.1` calls of `complete` fail (DynamoDB throttled after the
    /// journal's write).
    struct CompleteFails(Arc<MemoryIdempotencyStore>, AtomicU32);

    impl IdempotencyStore for CompleteFails {
        async fn claim(
            &self,
            key: &IdempotencyKey,
            now: DateTime<Utc>,
            lease_until: DateTime<Utc>,
        ) -> Result<Claim, StoreError> {
            self.0.claim(key, now, lease_until).await
        }
        async fn complete(
            &self,
            key: &IdempotencyKey,
            outcome: Outcome,
            expires_at: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            if self
                .1
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(StoreError {
                    reason: "complete: throttled (a test)".into(),
                });
            }
            self.0.complete(key, outcome, expires_at).await
        }
        async fn release(
            &self,
            key: &IdempotencyKey,
            lease_until: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            self.0.release(key, lease_until).await
        }
        async fn hand_over(
            &self,
            key: &IdempotencyKey,
            lease_until: DateTime<Utc>,
            now: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            self.0.hand_over(key, lease_until, now).await
        }
        async fn advance(
            &self,
            key: &InstrumentKey,
            to: DateTime<Utc>,
        ) -> Result<Option<DateTime<Utc>>, StoreError> {
            self.0.advance(key, to).await
        }
    }

    /// An attempt that journaled the signal's end and then failed to complete its record:
    /// the quick retry takes the signal over and completes the record with the journaled end,
    /// asking the venue nothing (where closes cannot be looked up, a Tradovate liquidation,
    /// the lookup of a takeover journaled a filled exit again as `no_op`, the account already
    /// flat). Here the venue counts what it is asked.
    #[tokio::test]
    async fn a_takeover_after_the_record_failed_to_complete_keeps_the_journaled_end() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let clock = ManualClock::new(t0);
        let journal = Arc::new(MemoryJournal::default());
        let memory = Arc::new(MemoryIdempotencyStore::default());
        let venue = Deadlines(
            Arc::new(PaperNetting::with_clock(
                Broker::Oanda,
                "paper",
                Arc::new(clock.clone()),
            )),
            std::sync::Mutex::new(Vec::new()),
        );
        let paper = paper_executor(venue, memory.clone(), journal.clone(), &clock, "1000");
        let executor = Executor {
            dead_letters: None,
            venue: paper.venue,
            store: CompleteFails(memory.clone(), AtomicU32::new(1)),
            journal: paper.journal,
            notifier: paper.notifier,
            kill_switch: paper.kill_switch,
            clock: paper.clock,
            metrics: paper.metrics,
            settings: paper.settings,
        };
        let signal = intent(t0);
        let asked = |e: &Executor<_, _, _, _, _, _>| {
            let e: &Executor<Deadlines<Arc<PaperNetting>>, CompleteFails, _, _, _, _> = e;
            e.venue.1.lock().map_or(0, |v| v.len())
        };
        assert!(executor.execute(&signal).await.is_err(), "complete failed");
        assert_eq!(asked(&executor), 1);
        let journaled = journal
            .signal(&signal.signal_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|s| s.status);
        assert_eq!(journaled, Some(SignalStatus::Filled));
        clock.advance(Duration::seconds(1));
        assert_eq!(executor.execute(&signal).await.ok(), Some(Outcome::Filled));
        assert_eq!(asked(&executor), 1, "the venue was not asked again");
        let key = IdempotencyKey {
            broker: Broker::Oanda,
            account: "paper".into(),
            signal_id: signal.signal_id.clone(),
            signal_time: signal.signal_time,
        };
        assert_eq!(memory.completed(&key), Some(Outcome::Filled));

        // The same, and the takeover's own completion fails too: it hands its lease over, so
        // the next retry (a second later) completes the record. It kept the lease, and every
        // retry found the record busy until the queue dead-lettered a signal already done.
        let memory = Arc::new(MemoryIdempotencyStore::default());
        let journal = Arc::new(MemoryJournal::default());
        let paper = paper_executor(
            Arc::new(PaperNetting::with_clock(
                Broker::Oanda,
                "paper",
                Arc::new(clock.clone()),
            )),
            memory.clone(),
            journal.clone(),
            &clock,
            "1000",
        );
        let executor = Executor {
            dead_letters: None,
            venue: paper.venue,
            store: CompleteFails(memory.clone(), AtomicU32::new(2)),
            journal: paper.journal,
            notifier: paper.notifier,
            kill_switch: paper.kill_switch,
            clock: paper.clock,
            metrics: paper.metrics,
            settings: paper.settings,
        };
        let signal = OrderIntent {
            signal_id: SignalId::of_canonical("completes at last"),
            ..intent(clock.now())
        };
        assert!(executor.execute(&signal).await.is_err(), "complete failed");
        clock.advance(Duration::seconds(1));
        assert!(executor.execute(&signal).await.is_err(), "again");
        clock.advance(Duration::seconds(1));
        let third = executor.execute(&signal).await;
        assert_eq!(third.ok(), Some(Outcome::Filled));
        let key = IdempotencyKey {
            broker: Broker::Oanda,
            account: "paper".into(),
            signal_id: signal.signal_id.clone(),
            signal_time: signal.signal_time,
        };
        assert_eq!(memory.completed(&key), Some(Outcome::Filled));
    }

    /// `.0`, whose signal reads fail while `.1` counts down.
    struct SignalReadFails(Arc<MemoryJournal>, AtomicU32);

    impl TradeJournal for SignalReadFails {
        async fn upsert_signal(&self, r: &SignalRecord) -> Result<(), JournalError> {
            self.0.upsert_signal(r).await
        }
        async fn upsert_order(&self, r: &OrderRecord) -> Result<(), JournalError> {
            self.0.upsert_order(r).await
        }
        async fn signal(&self, id: &SignalId) -> Result<Option<SignalRecord>, JournalError> {
            let left = self.1.load(Ordering::SeqCst);
            if left > 0 {
                self.1.store(left - 1, Ordering::SeqCst);
                return Err(JournalError {
                    reason: "connection refused".into(),
                });
            }
            self.0.signal(id).await
        }
        async fn orders(&self, id: &SignalId) -> Result<Vec<OrderRecord>, JournalError> {
            self.0.orders(id).await
        }
    }

    /// A takeover that cannot read whether an earlier attempt journaled the signal's end
    /// does nothing: it asked the broker again, and where a close cannot be looked up (a
    /// Tradovate liquidation) would have journaled a filled exit over as `no_op` or
    /// `expired`. The retry after it reads the end, and completes the record with it.
    #[tokio::test]
    async fn a_takeover_that_cannot_read_the_journaled_end_asks_no_broker_and_overwrites_nothing() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let clock = ManualClock::new(t0);
        let journal = Arc::new(MemoryJournal::default());
        let memory = Arc::new(MemoryIdempotencyStore::default());
        let venue = Deadlines(
            Arc::new(PaperNetting::with_clock(
                Broker::Oanda,
                "paper",
                Arc::new(clock.clone()),
            )),
            std::sync::Mutex::new(Vec::new()),
        );
        let paper = paper_executor(venue, memory.clone(), journal.clone(), &clock, "1000");
        let executor = Executor {
            dead_letters: None,
            venue: paper.venue,
            store: CompleteFails(memory.clone(), AtomicU32::new(1)),
            journal: SignalReadFails(journal.clone(), AtomicU32::new(1)),
            notifier: paper.notifier,
            kill_switch: paper.kill_switch,
            clock: paper.clock,
            metrics: paper.metrics,
            settings: paper.settings,
        };
        let signal = intent(t0);
        let asked = |e: &Executor<_, _, SignalReadFails, _, _, _>| {
            let e: &Executor<Deadlines<Arc<PaperNetting>>, CompleteFails, _, _, _, _> = e;
            e.venue.1.lock().map_or(0, |v| v.len())
        };
        let status = || async {
            journal
                .signal(&signal.signal_id)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .map(|s| s.status)
        };
        assert!(executor.execute(&signal).await.is_err(), "complete failed");
        assert_eq!(status().await, Some(SignalStatus::Filled));
        clock.advance(Duration::seconds(1));
        let err = executor.execute(&signal).await.err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("journaled the signal's end")
                    && e.contains("connection refused")),
            "{err:?}"
        );
        assert_eq!(asked(&executor), 1, "the broker was not asked again");
        assert_eq!(status().await, Some(SignalStatus::Filled));
        clock.advance(Duration::seconds(1));
        assert_eq!(executor.execute(&signal).await.ok(), Some(Outcome::Filled));
        assert_eq!(asked(&executor), 1);
        let key = IdempotencyKey {
            broker: Broker::Oanda,
            account: "paper".into(),
            signal_id: signal.signal_id.clone(),
            signal_time: signal.signal_time,
        };
        assert_eq!(memory.completed(&key), Some(Outcome::Filled));
    }

    /// Passes each request to `.0`, keeping the deadline it carried.
    struct Deadlines<V>(V, std::sync::Mutex<Vec<DateTime<Utc>>>);

    impl<V: Venue> Venue for Deadlines<V> {
        fn broker(&self) -> Broker {
            self.0.broker()
        }

        fn account(&self) -> &str {
            self.0.account()
        }

        async fn execute(&self, req: &ExecRequest<'_>) -> Result<Execution, NothingSent> {
            self.1
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(req.deadline);
            self.0.execute(req).await
        }
    }

    /// An attempt sends nothing after its lease (less the skew a taker's clock may be ahead
    /// by, or locally a 1 s margin), from which a redelivery may take the signal over and
    /// send: with a lease shorter than the staleness budget the venue is given the lease's
    /// end as its deadline; with the deployed 90 s lease, the budget's end.
    #[tokio::test]
    async fn nothing_is_sent_after_the_attempts_lease() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        for (lease, margin, want) in [
            (20, HAND_OVER_SKEW, t0 + Duration::seconds(15)),
            (90, HAND_OVER_SKEW, t0 + Duration::seconds(30)),
            // One process, one clock (the local stack): a 1 s margin.
            (15, ONE_CLOCK_SEND_MARGIN, t0 + Duration::seconds(14)),
        ] {
            let clock = ManualClock::new(t0);
            let venue = Arc::new(Deadlines(
                PaperNetting::with_clock(Broker::Oanda, "paper", Arc::new(clock.clone())),
                std::sync::Mutex::default(),
            ));
            let mut executor = paper_executor(
                venue.clone(),
                Arc::new(MemoryIdempotencyStore::default()),
                Arc::new(MemoryJournal::default()),
                &clock,
                "1000",
            );
            executor.settings.lease = Duration::seconds(lease);
            executor.settings.send_margin = margin;
            let done = executor.execute(&intent(t0)).await;
            assert!(matches!(done, Ok(Outcome::Filled)), "{done:?}");
            assert_eq!(*venue.1.lock().unwrap(), vec![want], "lease {lease} s");
        }
    }

    /// Ends every signal `unknown`, as after an order whose answer was lost and which no
    /// lookup found.
    struct Unknowable;

    impl Venue for Unknowable {
        fn broker(&self) -> Broker {
            Broker::Oanda
        }

        fn account(&self) -> &str {
            "paper"
        }

        async fn execute(&self, _: &ExecRequest<'_>) -> Result<Execution, NothingSent> {
            Ok(Execution::without_legs(
                Outcome::Unknown,
                "the open's answer was lost and no lookup found it",
            ))
        }
    }

    /// An unknown outcome is alarmed (urgent) though the journal's write then fails: the
    /// record keeps its lease, so the quick retry finds it busy, and a later attempt (here
    /// the test's, after the lease) takes it over with no alarm of its own. With the journal
    /// up, one alarm.
    #[tokio::test]
    async fn an_unknown_outcome_is_alarmed_though_the_journal_write_fails() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let clock = ManualClock::new(t0);
        let journal = Arc::new(MemoryJournal::default());
        let executor = paper_executor(
            Unknowable,
            Arc::new(MemoryIdempotencyStore::default()),
            journal.clone(),
            &clock,
            "1000",
        );
        journal.set_down(true);
        let first = executor.execute(&intent(t0)).await;
        assert!(matches!(first, Err(RecordError::Journal(_))), "{first:?}");
        let sent = executor.notifier.sent();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(
            sent[0].urgent && sent[0].subject.contains("Unknown"),
            "{sent:?}"
        );
        assert!(sent[0].message.contains("no lookup found it"), "{sent:?}");
        // It names the account, and says what to do.
        assert!(
            sent[0]
                .message
                .contains("on OANDA, account paper) ended Unknown")
                && sent[0]
                    .message
                    .contains("What the broker did is not known: check the account at the broker."),
            "{sent:?}"
        );
        clock.advance(Duration::seconds(1));
        let retry = executor.execute(&intent(t0)).await;
        assert!(matches!(retry, Err(RecordError::Busy { .. })), "{retry:?}");

        journal.set_down(false);
        let other = OrderIntent {
            signal_id: SignalId::of_canonical("another"),
            ..intent(t0)
        };
        let done = executor.execute(&other).await;
        assert!(matches!(done, Ok(Outcome::Unknown)), "{done:?}");
        assert_eq!(executor.notifier.sent().len(), 2, "one alarm per unknown");

        // Dead-lettered, it says where it went and how to reconcile it.
        let mut executor = executor;
        executor.dead_letters = Some(Arc::new(Letters::default()));
        let third = OrderIntent {
            signal_id: SignalId::of_canonical("a third"),
            ..intent(t0)
        };
        assert!(matches!(
            executor.execute(&third).await,
            Ok(Outcome::Unknown)
        ));
        let sent = executor.notifier.sent();
        assert!(
            sent[2]
                .message
                .contains("dead-letter queue (`tvctl dlq list`)")
                && sent[2]
                    .message
                    .contains("`tvctl dlq replay --lookup-only` looks it up again"),
            "{sent:?}"
        );
    }

    /// With `notify_fills`, a signal filled in full is mailed with each filled leg's side,
    /// size and price (a reversal: its close and its open), urgent so that no failure mail's
    /// interval holds it back; without it, a fill is not mailed.
    #[tokio::test]
    async fn fills_are_mailed_with_their_legs_only_when_asked() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let (clock, _venue, _journal, mut executor) = paper_oanda(t0);
        assert_eq!(
            executor.execute(&intent(t0)).await.ok(),
            Some(Outcome::Filled)
        );
        assert_eq!(executor.notifier.sent(), Vec::new(), "not asked for");
        executor.settings.notify_fills = true;
        clock.advance(Duration::seconds(1));
        let short = OrderIntent {
            signal_id: SignalId::of_canonical("reversal"),
            action: Action::ShortEntry,
            target: Action::ShortEntry.target(),
            ..intent(clock.now())
        };
        assert_eq!(executor.execute(&short).await.ok(), Some(Outcome::Filled));
        let sent = executor.notifier.sent();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].subject, "oanda Filled: SHORT_ENTRY EUR_USD");
        assert!(sent[0].urgent);
        assert!(
            sent[0].message.contains(&format!(
                "signal {} (SHORT_ENTRY EURUSD on OANDA, account paper) filled: close sell 1000 EUR_USD at 1.08345; open sell 1000 EUR_USD at 1.08345",
                short.signal_id
            )),
            "{}",
            sent[0].message
        );
    }

    /// An exit that ends without a fill (stale, refused by the kill switch) may leave the
    /// account holding what the strategy closed: mailed whatever the failure mails' interval
    /// (urgent), with words that say so. A stale entry stays rate-limited: an outage that
    /// fails every signal sends one mail.
    #[tokio::test]
    async fn an_exit_left_undone_is_mailed_urgently_and_a_stale_entry_is_not() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let (clock, _venue, _journal, executor) = paper_oanda(t0);
        let signal = |name: &str, action: Action, at: DateTime<Utc>| OrderIntent {
            signal_id: SignalId::of_canonical(name),
            action,
            target: action.target(),
            ..intent(at)
        };
        clock.advance(Duration::seconds(31));
        let stale_entry = signal("stale entry", Action::LongEntry, t0);
        assert_eq!(
            executor.execute(&stale_entry).await.ok(),
            Some(Outcome::Expired)
        );
        let stale_exit = signal("stale exit", Action::LongExit, t0);
        assert_eq!(
            executor.execute(&stale_exit).await.ok(),
            Some(Outcome::Expired)
        );
        executor.kill_switch.1.store(true, Ordering::SeqCst);
        let flatten = signal("flatten", Action::Flatten, clock.now());
        assert_eq!(
            executor.execute(&flatten).await.ok(),
            Some(Outcome::Refused)
        );
        let sent = executor.notifier.sent();
        let urgent: Vec<(bool, &str)> = sent
            .iter()
            .map(|n| (n.urgent, n.subject.as_str()))
            .collect();
        assert_eq!(
            urgent,
            [
                (false, "oanda Expired: LONG_ENTRY EUR_USD"),
                (true, "oanda Expired: LONG_EXIT EUR_USD"),
                (true, "oanda Refused: FLATTEN EUR_USD"),
            ]
        );
    }

    /// A stale takeover of an exit that finds the account already flat (an earlier attempt
    /// claimed it and stopped; a look-up-only replay) keeps the guard's `expired`, but sends
    /// no "may still hold" alarm: the account holds nothing the strategy closed.
    #[tokio::test]
    async fn a_stale_takeover_of_an_exit_that_finds_the_account_flat_is_not_alarmed() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let clock = ManualClock::new(t0);
        let store = Arc::new(MemoryIdempotencyStore::default());
        let venue = Arc::new(PaperNetting::with_clock(
            Broker::Oanda,
            "paper",
            Arc::new(clock.clone()),
        ));
        let executor = paper_executor(venue, store.clone(), Arc::default(), &clock, "1000");
        let exit = OrderIntent {
            signal_id: SignalId::of_canonical("an exit taken over"),
            action: Action::LongExit,
            target: Action::LongExit.target(),
            ..intent(t0)
        };
        let key = IdempotencyKey {
            broker: Broker::Oanda,
            account: "paper".into(),
            signal_id: exit.signal_id.clone(),
            signal_time: exit.signal_time,
        };
        // An earlier attempt claimed it and stopped (a crash); its lease runs out.
        let claimed = store
            .claim(&key, t0, t0 + Duration::seconds(60))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(claimed, Claim::Acquired);
        clock.advance(Duration::seconds(61));
        assert_eq!(executor.execute(&exit).await.ok(), Some(Outcome::Expired));
        let sent = executor.notifier.sent();
        assert!(sent.iter().all(|n| !n.urgent), "{sent:?}");
    }

    /// A stale takeover of an exit whose earlier attempt claimed it and stopped before any
    /// order, the account still long: the exit is left undone, mailed urgently whatever the
    /// failure mails' interval. (A takeover that may not send finds nothing of the earlier
    /// attempt; that alone does not put the account at the exit's target.)
    #[tokio::test]
    async fn a_stale_takeover_of_an_exit_that_left_the_position_open_is_alarmed() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let clock = ManualClock::new(t0);
        let store = Arc::new(MemoryIdempotencyStore::default());
        let venue = Arc::new(PaperNetting::with_clock(
            Broker::Oanda,
            "paper",
            Arc::new(clock.clone()),
        ));
        let executor = paper_executor(venue, store.clone(), Arc::default(), &clock, "1000");
        assert_eq!(
            executor.execute(&intent(t0)).await.ok(),
            Some(Outcome::Filled)
        );
        let exit = OrderIntent {
            signal_id: SignalId::of_canonical("an exit taken over"),
            action: Action::LongExit,
            target: Action::LongExit.target(),
            ..intent(t0 + Duration::seconds(1))
        };
        let key = IdempotencyKey {
            broker: Broker::Oanda,
            account: "paper".into(),
            signal_id: exit.signal_id.clone(),
            signal_time: exit.signal_time,
        };
        // An earlier attempt claimed it and stopped (a crash); its lease runs out.
        let now = clock.now();
        let claimed = store
            .claim(&key, now, now + Duration::seconds(60))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(claimed, Claim::Acquired);
        clock.advance(Duration::seconds(61));
        assert_eq!(executor.execute(&exit).await.ok(), Some(Outcome::Expired));
        let sent = executor.notifier.sent();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(
            sent[0].urgent && sent[0].subject == "oanda Expired: LONG_EXIT EUR_USD",
            "{sent:?}"
        );
    }

    /// Answers each signal with the next of its scripted executions.
    struct Answers(std::sync::Mutex<std::collections::VecDeque<Execution>>);

    impl Venue for Answers {
        fn broker(&self) -> Broker {
            Broker::Oanda
        }

        fn account(&self) -> &str {
            "scripted"
        }

        async fn execute(&self, _: &ExecRequest<'_>) -> Result<Execution, NothingSent> {
            let next = self.0.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
            Ok(next.unwrap_or_else(|| panic!("no execution scripted")))
        }
    }

    /// A leg of `leg` that ended `outcome` (`in_part`: filled short of its size).
    fn leg_report(leg: Leg, outcome: Outcome, in_part: bool) -> crate::venue::LegReport {
        crate::venue::LegReport {
            leg,
            side: shared::execution::Side::Buy,
            quantity: Decimal::new(1000, 0),
            client_order_id: shared::execution::ClientOrderId::new(
                &SignalId::of_canonical("scripted"),
                leg,
            ),
            attempt: 1,
            instrument: None,
            broker_order_id: None,
            fill_price: None,
            outcome,
            error: None,
            sent_at: None,
            acked_at: None,
            fee: None,
            in_part,
        }
    }

    /// A signal that leaves the account half done (a reversal's close filled, its open
    /// rejected) is mailed though the journal's write then fails, as an unknown outcome is:
    /// its retries (takeovers) find the journal unwritten too and end in the dead-letter
    /// queue, with no mail of this at all. A plain rejection (nothing moved) is mailed
    /// before the write too (see `a_rejection_is_mailed_though_the_process_dies_after_its_write`).
    #[tokio::test]
    async fn a_half_done_signal_is_mailed_though_the_journal_write_fails() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let clock = ManualClock::new(t0);
        let executions = [
            Execution {
                outcome: Outcome::Rejected,
                legs: vec![
                    leg_report(Leg::Close, Outcome::Filled, false),
                    leg_report(Leg::Open, Outcome::Rejected, false),
                ],
                reason: Some("INSUFFICIENT_MARGIN on the open".into()),
                stopped_by_policy: false,
                alarmed: false,
                at_target: false,
            },
            Execution::without_legs(Outcome::Rejected, "market closed"),
        ];
        let journal = Arc::new(MemoryJournal::default());
        let executor = Executor {
            dead_letters: None,
            venue: Answers(std::sync::Mutex::new(executions.into())),
            store: Arc::new(MemoryIdempotencyStore::default()),
            journal: journal.clone(),
            notifier: Arc::new(MemoryNotifier::default()),
            kill_switch: FlakySwitch(AtomicU32::new(0), std::sync::atomic::AtomicBool::new(false)),
            clock: clock.clone(),
            metrics: Arc::new(CapturedMetrics::default()),
            settings: paper_executor(Unknowable, Arc::default(), Arc::default(), &clock, "1000")
                .settings,
        };
        journal.set_down(true);
        let first = executor.execute(&intent(t0)).await;
        assert!(matches!(first, Err(RecordError::Journal(_))), "{first:?}");
        let sent = executor.notifier.sent();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(
            sent[0].urgent && sent[0].message.contains("INSUFFICIENT_MARGIN"),
            "{sent:?}"
        );
        let plain = OrderIntent {
            signal_id: SignalId::of_canonical("plain"),
            ..intent(t0)
        };
        let second = executor.execute(&plain).await;
        assert!(matches!(second, Err(RecordError::Journal(_))), "{second:?}");
        let sent = executor.notifier.sent();
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert!(sent[1].message.contains("market closed"), "{sent:?}");
    }

    /// Writes to `.0` and then fails, as a process that dies once its journal write has
    /// landed: the record is left in progress with the signal's end journaled.
    struct DiesAfterWrite(Arc<MemoryJournal>);

    impl TradeJournal for DiesAfterWrite {
        async fn upsert_signal(&self, r: &SignalRecord) -> Result<(), JournalError> {
            self.0.upsert_signal(r).await
        }
        async fn upsert_order(&self, r: &OrderRecord) -> Result<(), JournalError> {
            self.0.upsert_order(r).await
        }
        async fn record_execution(
            &self,
            signal: &SignalRecord,
            orders: &[OrderRecord],
        ) -> Result<(), JournalError> {
            self.0.record_execution(signal, orders).await?;
            Err(JournalError {
                reason: "the process died here".into(),
            })
        }
        async fn signal(&self, id: &SignalId) -> Result<Option<SignalRecord>, JournalError> {
            self.0.signal(id).await
        }
        async fn orders(&self, id: &SignalId) -> Result<Vec<OrderRecord>, JournalError> {
            self.0.orders(id).await
        }
    }

    /// A plain rejection (nothing moved) whose attempt ends right after its journal write:
    /// the takeover finds the journaled end and completes the record without mailing (it
    /// cannot tell whether a mail went out), so the mail goes out before the write. It was
    /// sent after it, and lost in that window.
    #[tokio::test]
    async fn a_rejection_is_mailed_though_the_process_dies_after_its_write() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let clock = ManualClock::new(t0);
        let journal = Arc::new(MemoryJournal::default());
        let executor = Executor {
            dead_letters: None,
            venue: Answers(std::sync::Mutex::new(
                [Execution::without_legs(
                    Outcome::Rejected,
                    "INSUFFICIENT_MARGIN",
                )]
                .into(),
            )),
            store: Arc::new(MemoryIdempotencyStore::default()),
            journal: DiesAfterWrite(journal.clone()),
            notifier: Arc::new(MemoryNotifier::default()),
            kill_switch: FlakySwitch(AtomicU32::new(0), std::sync::atomic::AtomicBool::new(false)),
            clock: clock.clone(),
            metrics: Arc::new(CapturedMetrics::default()),
            settings: paper_executor(Unknowable, Arc::default(), Arc::default(), &clock, "1000")
                .settings,
        };
        let signal = intent(t0);
        let first = executor.execute(&signal).await;
        assert!(matches!(first, Err(RecordError::Journal(_))), "{first:?}");
        let status = journal
            .signal(&signal.signal_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|s| s.status);
        assert_eq!(status, Some(SignalStatus::Rejected));
        // The redelivery: a takeover that completes the record from the journaled end.
        clock.advance(Duration::seconds(61));
        let second = executor.execute(&signal).await;
        assert!(matches!(second, Ok(Outcome::Rejected)), "{second:?}");
        let sent = executor.notifier.sent();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(sent[0].message.contains("INSUFFICIENT_MARGIN"), "{sent:?}");
    }

    /// Mails go through the real rate limit (one per broker per 15 minutes): a second plain
    /// rejection (nothing filled, the account where it was) is held back, but a signal that
    /// leaves the account holding what the strategy left (a reversal's close filled and its
    /// open rejected, a fill short of its size, an exit whose close was refused, a reversal
    /// refused before its close) is mailed at once, urgent, however recent the last mail.
    #[tokio::test]
    async fn a_half_done_signal_is_mailed_past_the_rate_limit() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let clock = ManualClock::new(t0);
        let executions = [
            Execution::without_legs(Outcome::Rejected, "market closed"),
            Execution::without_legs(Outcome::Rejected, "market closed"),
            Execution {
                outcome: Outcome::Rejected,
                legs: vec![
                    leg_report(Leg::Close, Outcome::Filled, false),
                    leg_report(Leg::Open, Outcome::Rejected, false),
                ],
                reason: Some("INSUFFICIENT_MARGIN on the open".into()),
                stopped_by_policy: false,
                alarmed: false,
                at_target: false,
            },
            Execution {
                outcome: Outcome::Filled,
                legs: vec![leg_report(Leg::Open, Outcome::Filled, true)],
                reason: Some("filled 400 of 1000".into()),
                stopped_by_policy: false,
                alarmed: false,
                at_target: false,
            },
            // An exit whose close the broker refused: the account still holds the side.
            Execution {
                outcome: Outcome::Rejected,
                legs: vec![leg_report(Leg::Close, Outcome::Rejected, false)],
                reason: Some("MARKET_HALTED on the close".into()),
                stopped_by_policy: false,
                alarmed: false,
                at_target: false,
            },
            // A reversal refused before its close: the account keeps the side it held.
            Execution {
                alarmed: true,
                at_target: false,
                ..Execution::without_legs(Outcome::Refused, "the open is over the margin")
            },
        ];
        let sent = Arc::new(MemoryNotifier::default());
        let executor = Executor {
            dead_letters: None,
            venue: Answers(std::sync::Mutex::new(executions.into())),
            store: Arc::new(MemoryIdempotencyStore::default()),
            journal: Arc::new(MemoryJournal::default()),
            notifier: crate::notify::RateLimited {
                inner: sent.clone(),
                gate: crate::notify::MemoryNotifyGate::default(),
                clock: clock.clone(),
                broker: Broker::Oanda,
                min_interval: crate::notify::DEFAULT_MIN_INTERVAL,
            },
            kill_switch: FlakySwitch(AtomicU32::new(0), std::sync::atomic::AtomicBool::new(false)),
            clock: clock.clone(),
            metrics: Arc::new(CapturedMetrics::default()),
            settings: paper_executor(Unknowable, Arc::default(), Arc::default(), &clock, "1000")
                .settings,
        };
        let mut outcomes = Vec::new();
        for n in 0..6 {
            let signal = OrderIntent {
                signal_id: SignalId::of_canonical(&format!("signal {n}")),
                signal_time: t0 + Duration::seconds(n),
                ..intent(t0 + Duration::seconds(n))
            };
            clock.advance(Duration::seconds(1));
            outcomes.push(executor.execute(&signal).await.ok());
        }
        assert_eq!(
            outcomes,
            [
                Some(Outcome::Rejected),
                Some(Outcome::Rejected),
                Some(Outcome::Rejected),
                Some(Outcome::Filled),
                Some(Outcome::Rejected),
                Some(Outcome::Refused)
            ]
        );
        let mails: Vec<_> = sent
            .sent()
            .into_iter()
            .map(|n| (n.urgent, n.message))
            .collect();
        assert_eq!(
            mails.len(),
            5,
            "the second plain rejection held back: {mails:?}"
        );
        assert!(
            !mails[0].0 && mails[0].1.contains("market closed"),
            "{mails:?}"
        );
        assert!(
            mails[1].0 && mails[1].1.contains("INSUFFICIENT_MARGIN"),
            "{mails:?}"
        );
        assert!(
            mails[2].0 && mails[2].1.contains("filled 400 of 1000"),
            "{mails:?}"
        );
        assert!(
            mails[3].0 && mails[3].1.contains("MARKET_HALTED"),
            "{mails:?}"
        );
        assert!(
            mails[4].0 && mails[4].1.contains("over the margin"),
            "{mails:?}"
        );
    }

    /// The book an earlier attempt left: `holdings`, and its fill of `signal`'s `leg`.
    fn left_by_an_earlier_attempt(
        signal: &OrderIntent,
        leg: Leg,
        side: shared::execution::Side,
        holdings: &[(&str, i64)],
    ) -> crate::paper::PaperBook {
        let fill = crate::paper::PaperFill {
            order_id: "paper-2".into(),
            quantity: Decimal::ONE,
            price: signal.reference_price,
            side: Some(side),
            instrument: Some(signal.instrument.to_string()),
        };
        let coid = shared::execution::ClientOrderId::new(&signal.signal_id, leg);
        crate::paper::PaperBook {
            holdings: holdings
                .iter()
                .map(|(name, n)| ((*name).to_owned(), Decimal::from(*n)))
                .collect(),
            recent: vec![(coid.to_string(), fill)],
            orders: 2,
        }
    }

    /// `signal` claimed by an earlier attempt at its signal time, then taken over after the
    /// lease (so after the staleness budget) on `venue`: the outcome and the journaled legs.
    async fn stale_takeover<V: Venue>(
        venue: V,
        signal: &OrderIntent,
        clock: &ManualClock,
    ) -> (Result<Outcome, RecordError>, Vec<(Leg, Outcome)>) {
        let journal = Arc::new(MemoryJournal::default());
        let store = Arc::new(MemoryIdempotencyStore::default());
        let key = IdempotencyKey {
            broker: venue.broker(),
            account: venue.account().into(),
            signal_id: signal.signal_id.clone(),
            signal_time: signal.signal_time,
        };
        let t0 = signal.signal_time;
        store
            .claim(&key, t0, t0 + Duration::seconds(60))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let executor = paper_executor(venue, store, journal.clone(), clock, "1");
        clock.advance(Duration::seconds(61));
        let out = executor.execute(signal).await;
        let legs = journal
            .orders(&signal.signal_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .iter()
            .map(|l| (l.leg, l.outcome))
            .collect();
        (out, legs)
    }

    /// An earlier attempt at a reversal closed the short and crashed before the open; the
    /// takeover comes after the staleness budget. It journals the close and ends `expired`
    /// (the account is flat, not long), not `filled`.
    #[tokio::test]
    async fn a_stale_takeover_that_finds_only_the_close_of_an_entry_ends_expired() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let clock = ManualClock::new(t0);
        let signal = intent(t0);
        let book = left_by_an_earlier_attempt(
            &signal,
            Leg::Close,
            shared::execution::Side::Buy,
            &[("EUR_USD", 0)],
        );
        let venue = Arc::new(PaperNetting::restore(
            Broker::Oanda,
            "paper",
            Arc::new(clock.clone()),
            Arc::new(crate::paper::NoLog),
            book,
        ));
        let (out, legs) = stale_takeover(venue.clone(), &signal, &clock).await;
        assert!(matches!(out, Ok(Outcome::Expired)), "{out:?}");
        assert_eq!(venue.orders(), 2, "nothing sent");
        assert_eq!(legs, [(Leg::Close, Outcome::Filled)]);
    }

    /// A spot short entry is a sale and no open: an earlier attempt's filled sale left the
    /// wallet at the target, so the stale takeover reads it `filled`.
    #[tokio::test]
    async fn a_stale_takeover_of_a_spot_short_entry_whose_sale_filled_is_filled() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let clock = ManualClock::new(t0);
        let signal = OrderIntent {
            broker: Broker::Coinbase,
            instrument: Instrument::new("BTC-USD"),
            action: Action::ShortEntry,
            target: Action::ShortEntry.target(),
            symbol: "BTCUSD".into(),
            exchange: "COINBASE".into(),
            reference_price: Decimal::from(90_000),
            ..intent(t0)
        };
        let book = left_by_an_earlier_attempt(
            &signal,
            Leg::Close,
            shared::execution::Side::Sell,
            &[("BTC", 0), ("USD", 100_000)],
        );
        let venue = Arc::new(crate::paper::PaperSpot::restore(
            "paper",
            Arc::new(clock.clone()),
            Arc::new(crate::paper::NoLog),
            book,
        ));
        let (out, legs) = stale_takeover(venue, &signal, &clock).await;
        assert!(matches!(out, Ok(Outcome::Filled)), "{out:?}");
        assert_eq!(legs, [(Leg::Close, Outcome::Filled)]);
    }

    /// A broker whose account holds `held` whatever is sent, and whose earlier attempt left
    /// `recovered` (leg, side, outcome); it counts what is sent.
    #[derive(Default)]
    struct Scripted {
        held: Decimal,
        recovered: Vec<(Leg, shared::execution::Side, Outcome)>,
        sent: AtomicU32,
        rules: ScriptedRules,
        /// The broker's refusal of the holdings read.
        holdings_refused: Option<&'static str>,
        /// Its `recover` cannot report closes (Tradovate's liquidations).
        closes_unrecoverable: bool,
        /// Its closes land asynchronously (Tradovate's liquidations): a takeover waits for flat.
        closes_asynchronous: bool,
        /// After this many holdings reads, every read is refused for its rate.
        rate_limited_after: Option<u32>,
        /// The holdings reads made.
        reads: AtomicU32,
        /// The net position in the root's earlier contract `ESZ6`, if one is held.
        earlier: Option<Decimal>,
        /// What every send answers instead of an order (`None`: nothing to close).
        send_error: Option<fn() -> crate::drive::SendError>,
        /// What the first sends answer, in turn, before `send_error` applies.
        send_errors: std::sync::Mutex<std::collections::VecDeque<fn() -> crate::drive::SendError>>,
        /// A second order with the same client order id may fill as well (OANDA): no send
        /// again after an unknown outcome.
        no_dedup: bool,
        /// The lookups made.
        lookups: AtomicU32,
        /// What its margin check answers a plan (`None`: room for it).
        no_room: Option<&'static str>,
        /// Its margin check cannot be read (retryable).
        room_unreadable: bool,
        /// Every send fills one unit and the broker ends the rest.
        fills_one: bool,
        /// What the holdings read once an order was sent (`None`: `held` still).
        held_after_send: Option<Decimal>,
        /// With it, the earlier contract `ESZ6`'s own position reads `earlier` before any
        /// send and this after one (without it, every contract reads `held`).
        earlier_after_send: Option<Decimal>,
    }

    /// What a [`Scripted`] broker answers a rules read.
    #[derive(Default)]
    enum ScriptedRules {
        /// The read fails (retryable).
        #[default]
        Unreadable,
        /// The broker refuses it, with this text.
        Refused(&'static str),
        /// These rules.
        Rules(crate::plan::TradingRules),
    }

    impl crate::drive::Conversation for Scripted {
        type Mark = ();

        fn broker(&self) -> Broker {
            Broker::Oanda
        }

        fn account(&self) -> &str {
            "scripted"
        }

        fn book(&self) -> crate::plan::Book {
            crate::plan::Book::Margin
        }

        fn settle_time(&self) -> std::time::Duration {
            std::time::Duration::ZERO
        }

        async fn holdings(
            &self,
            req: &ExecRequest<'_>,
        ) -> Result<(crate::plan::Holdings, ()), crate::drive::ReadError> {
            let n = self.reads.fetch_add(1, Ordering::SeqCst);
            if self.rate_limited_after.is_some_and(|after| n >= after) {
                return Err(crate::drive::ReadError::RateLimited("429".into()));
            }
            let sent = self.sent.load(Ordering::SeqCst) > 0;
            let held = match (self.earlier_after_send, self.held_after_send) {
                (Some(after), _) if req.intent.instrument.as_str() == "ESZ6" => {
                    if sent {
                        after
                    } else {
                        self.earlier.unwrap_or_default()
                    }
                }
                (_, Some(after)) if sent => after,
                _ => self.held,
            };
            match self.holdings_refused {
                Some(why) => Err(crate::drive::ReadError::Refused(why.into())),
                None => Ok((crate::plan::Holdings::net(held), ())),
            }
        }

        fn closes_are_asynchronous(&self) -> bool {
            self.closes_asynchronous
        }

        async fn earlier_contracts(
            &self,
            _: &ExecRequest<'_>,
        ) -> Result<Vec<(String, crate::plan::Holdings)>, crate::drive::ReadError> {
            Ok(self
                .earlier
                .map(|net| ("ESZ6".to_owned(), crate::plan::Holdings::net(net)))
                .into_iter()
                .collect())
        }

        async fn rules(
            &self,
            _: &ExecRequest<'_>,
        ) -> Result<crate::plan::TradingRules, crate::drive::ReadError> {
            match &self.rules {
                ScriptedRules::Unreadable => Err(crate::drive::ReadError::Unavailable(
                    "no rules in this test".into(),
                )),
                ScriptedRules::Refused(why) => Err(crate::drive::ReadError::Refused((*why).into())),
                ScriptedRules::Rules(r) => Ok(*r),
            }
        }

        fn recovers_closes(&self) -> bool {
            !self.closes_unrecoverable
        }

        async fn room(
            &self,
            _: &ExecRequest<'_>,
            _: &[crate::plan::PlannedLeg],
            _: &Self::Mark,
        ) -> Result<Option<String>, crate::drive::ReadError> {
            if self.room_unreadable {
                return Err(crate::drive::ReadError::Unavailable(
                    "account summary: 503".into(),
                ));
            }
            Ok(self.no_room.map(str::to_owned))
        }

        async fn send(
            &self,
            _: &ExecRequest<'_>,
            _: &crate::plan::PlannedLeg,
            _: &crate::venue::LegReport,
        ) -> Result<crate::drive::Ack, crate::drive::SendError> {
            self.sent.fetch_add(1, Ordering::SeqCst);
            let next = self
                .send_errors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front();
            match next.or(self.send_error) {
                Some(error) => Err(error()),
                None if self.fills_one => Ok(crate::drive::Ack::FilledInPart {
                    order_id: Some("77".into()),
                    quantity: Some(Decimal::ONE),
                    price: None,
                    fee: None,
                    rest: "order 77 ended Canceled after 1 filled".into(),
                }),
                None => Ok(crate::drive::Ack::NothingToClose),
            }
        }

        fn resends_after_unknown(&self) -> bool {
            !self.no_dedup
        }

        async fn lookup(
            &self,
            _: &ExecRequest<'_>,
            _: &crate::plan::PlannedLeg,
            _: &crate::venue::LegReport,
            _: &(),
        ) -> crate::drive::Found {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            crate::drive::Found::NotCreated
        }

        async fn recover(
            &self,
            req: &ExecRequest<'_>,
        ) -> Result<Vec<crate::venue::LegReport>, crate::drive::ReadError> {
            Ok(self
                .recovered
                .iter()
                .map(|&(leg, side, outcome)| {
                    let mut r = crate::venue::LegReport::new(req, leg, side, Decimal::ONE);
                    r.outcome = outcome;
                    r
                })
                .collect())
        }
    }

    /// A takeover (`may_send` as given) of `action` on `broker`: the execution and how many
    /// orders it sent.
    async fn take_over(broker: Scripted, action: Action, may_send: bool) -> (Execution, u32) {
        take_over_sized(broker, action, may_send, Size::Quantity(Decimal::ONE)).await
    }

    /// [`take_over`] with the entry `size`.
    async fn take_over_sized(
        broker: Scripted,
        action: Action,
        may_send: bool,
        size: Size,
    ) -> (Execution, u32) {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let signal = OrderIntent {
            action,
            target: action.target(),
            ..intent(t0)
        };
        let req = ExecRequest {
            size,
            takeover: true,
            may_send,
            ..request(&signal, t0)
        };
        let done = crate::drive::execute(&broker, &ManualClock::new(t0), &req).await;
        let execution = done.unwrap_or_else(|e| panic!("{e:?}"));
        (execution, broker.sent.load(Ordering::SeqCst))
    }

    /// A takeover that may not send and finds the account flat says so (`at_target`), so that
    /// no "may still hold" alarm goes out for an exit; not for a continuous symbol, whose
    /// exit also closes the contract it rolled away from, which that path does not read.
    #[tokio::test]
    async fn a_takeover_that_may_not_send_is_at_target_only_when_no_earlier_contract_may_be_held() {
        let flat = || Scripted {
            held: Decimal::ZERO,
            earlier: Some(Decimal::ONE),
            rules: whole_units(None),
            ..Default::default()
        };
        let (execution, sent) = take_over(flat(), Action::LongExit, false).await;
        assert!(execution.at_target && sent == 0, "{execution:?}");
        let t0: DateTime<Utc> = "2026-12-14T15:00:00Z".parse().unwrap_or_default();
        let signal = OrderIntent {
            broker: Broker::Tradovate,
            instrument: Instrument::new("ESH7"),
            symbol: "ES1!".into(),
            exchange: "CME_MINI".into(),
            action: Action::LongExit,
            target: Action::LongExit.target(),
            contract: Some(shared::routing::ContractResolution {
                requested: "ES1!".into(),
                contract: "ESH7".into(),
                rule: "rolled on 2026-12-11".into(),
                on_roll: shared::routing::RollPolicy::Close,
            }),
            ..intent(t0)
        };
        let req = ExecRequest {
            takeover: true,
            may_send: false,
            ..request(&signal, t0)
        };
        let broker = flat();
        let done = crate::drive::execute(&broker, &ManualClock::new(t0), &req).await;
        let execution = done.unwrap_or_else(|e| panic!("{e:?}"));
        assert!(
            !execution.at_target,
            "ESZ6 may still be long: {execution:?}"
        );
        assert_eq!(broker.sent.load(Ordering::SeqCst), 0);
    }

    /// A roll whose read of the earlier contract's position fails just before its close (a
    /// rate limit) sends nothing and comes back through the queue, as any read before the
    /// first order does. It ended `unknown` (alarmed, dead-lettered, the entry never made)
    /// with the error's debug text, though no order was out.
    #[tokio::test]
    async fn a_roll_whose_earlier_contract_cannot_be_read_sends_nothing_and_comes_back() {
        let broker = Scripted {
            earlier: Some(Decimal::ONE),
            // The new contract's position reads; the earlier one's, before its close, does not.
            rate_limited_after: Some(1),
            rules: whole_units(None),
            ..Default::default()
        };
        let t0: DateTime<Utc> = "2026-12-14T15:00:00Z".parse().unwrap_or_default();
        let signal = OrderIntent {
            broker: Broker::Tradovate,
            instrument: Instrument::new("ESH7"),
            symbol: "ES1!".into(),
            exchange: "CME_MINI".into(),
            action: Action::ShortEntry,
            target: Action::ShortEntry.target(),
            contract: Some(shared::routing::ContractResolution {
                requested: "ES1!".into(),
                contract: "ESH7".into(),
                rule: "rolled on 2026-12-11".into(),
                on_roll: shared::routing::RollPolicy::Close,
            }),
            ..intent(t0)
        };
        let req = ExecRequest {
            max_notional: Decimal::from(1_000_000_000),
            ..request(&signal, t0)
        };
        let done = crate::drive::execute(&broker, &ManualClock::new(t0), &req).await;
        let nothing = done.expect_err("nothing was sent: it comes back");
        assert!(!nothing.order_check, "{nothing:?}");
        assert!(
            nothing
                .reason
                .contains("the position in ESZ6 could not be read before closing it: 429"),
            "{nothing:?}"
        );
        assert_eq!(broker.sent.load(Ordering::SeqCst), 0);
        assert_eq!(broker.reads.load(Ordering::SeqCst), 2);
    }

    /// A roll's close of the earlier contract that fills in part (the broker ended the rest)
    /// ends the signal `filled`, short of its target, nothing more sent and no wait for a flat
    /// position: it waited the whole budget for one that could not come, then ended `unknown`
    /// with a reason that did not say the close had filled in part. It ends once the earlier
    /// contract's position shows what is left (one read after the close here), as a close of
    /// the signal's own contract filled in part does: it ended before, and the root's next
    /// signal could plan from the position before the close.
    #[tokio::test]
    async fn a_roll_whose_close_fills_in_part_stops_there_without_waiting() {
        let broker = Scripted {
            earlier: Some(Decimal::TWO),
            earlier_after_send: Some(Decimal::ONE),
            held: Decimal::ONE,
            fills_one: true,
            rules: whole_units(None),
            ..Default::default()
        };
        let t0: DateTime<Utc> = "2026-12-14T15:00:00Z".parse().unwrap_or_default();
        let signal = OrderIntent {
            broker: Broker::Tradovate,
            instrument: Instrument::new("ESH7"),
            symbol: "ES1!".into(),
            exchange: "CME_MINI".into(),
            action: Action::ShortEntry,
            target: Action::ShortEntry.target(),
            contract: Some(shared::routing::ContractResolution {
                requested: "ES1!".into(),
                contract: "ESH7".into(),
                rule: "rolled on 2026-12-11".into(),
                on_roll: shared::routing::RollPolicy::Close,
            }),
            ..intent(t0)
        };
        let req = ExecRequest {
            max_notional: Decimal::from(1_000_000_000),
            ..request(&signal, t0)
        };
        let started = std::time::Instant::now();
        let done = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            crate::drive::execute(&broker, &ManualClock::new(t0), &req),
        )
        .await
        .expect("no wait for a flat that cannot come")
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(done.outcome, Outcome::Filled);
        assert_eq!(broker.sent.load(Ordering::SeqCst), 1, "nothing after it");
        // ESH7's, ESZ6's before its close, ESZ6's after it.
        assert_eq!(
            broker.reads.load(Ordering::SeqCst),
            3,
            "the position read after"
        );
        assert!(
            done.reason
                .as_deref()
                .is_some_and(|r| r.contains("close_rolled leg filled in part")),
            "{:?}",
            done.reason
        );
    }

    /// A takeover of a reversal waits for an earlier attempt's close to show in the position;
    /// when the broker starts refusing reads for their rate it stops at once (`unknown`,
    /// nothing sent) instead of reading every poll interval until the budget ends, which
    /// would lengthen the ban.
    #[tokio::test]
    async fn a_wait_for_an_earlier_close_stops_at_a_rate_limit() {
        let broker = Scripted {
            held: -Decimal::ONE,
            closes_unrecoverable: true,
            closes_asynchronous: true,
            rate_limited_after: Some(1),
            rules: whole_units(None),
            ..Default::default()
        };
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let signal = OrderIntent {
            action: Action::LongEntry,
            target: Action::LongEntry.target(),
            ..intent(t0)
        };
        let req = ExecRequest {
            takeover: true,
            ..request(&signal, t0)
        };
        let execution = crate::drive::execute(&broker, &ManualClock::new(t0), &req)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(execution.outcome, Outcome::Unknown);
        assert_eq!(broker.sent.load(Ordering::SeqCst), 0);
        assert_eq!(
            broker.reads.load(Ordering::SeqCst),
            2,
            "one read after the 429"
        );
        let why = execution.reason.unwrap_or_default();
        assert!(why.contains("stopped reading"), "{why}");
    }

    /// An earlier attempt's close still working at the broker: the position reads flat, yet
    /// the signal is not done; it ends `unknown` (an alarm), not `no_op`.
    #[tokio::test]
    async fn a_takeover_that_finds_an_earlier_close_still_working_ends_unknown() {
        let broker = Scripted {
            held: Decimal::ZERO,
            recovered: vec![(Leg::Close, shared::execution::Side::Sell, Outcome::Unknown)],
            ..Default::default()
        };
        let (execution, sent) = take_over(broker, Action::LongExit, true).await;
        assert_eq!((execution.outcome, sent), (Outcome::Unknown, 0));
    }

    /// A takeover (free to send, within the budget) of a signal whose earlier attempt
    /// journaled its open filled, where the broker shows neither the order nor the position
    /// yet: the processor hands the journaled rows to the core, which sends no second open.
    #[tokio::test]
    async fn a_takeover_never_sends_an_open_its_journal_shows_filled() {
        let (t0, clock, venue) = paper_oanda_at_t0();
        let journal = Arc::new(MemoryJournal::default());
        let store = Arc::new(MemoryIdempotencyStore::default());
        let signal = intent(t0);
        let key = IdempotencyKey {
            broker: Broker::Oanda,
            account: "paper".into(),
            signal_id: signal.signal_id.clone(),
            signal_time: t0,
        };
        // The earlier attempt: claimed with a 5 s lease, its open journaled filled.
        store
            .claim(&key, t0, t0 + Duration::seconds(5))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        journal
            .upsert_order(&OrderRecord {
                signal_id: signal.signal_id.clone(),
                broker: Broker::Oanda,
                account: "paper".into(),
                instrument: "EUR_USD".into(),
                leg: Leg::Open,
                attempt: 1,
                client_order_id: shared::execution::ClientOrderId::new(
                    &signal.signal_id,
                    Leg::Open,
                ),
                broker_order_id: Some("6371".into()),
                side: shared::execution::Side::Buy,
                quantity: Decimal::from(1000),
                fill_price: Some(Decimal::new(108_345, 5)),
                outcome: Outcome::Filled,
                error: None,
                sent_at: Some(t0),
                acked_at: Some(t0),
                fee: None,
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let executor = paper_executor(venue.clone(), store, journal.clone(), &clock, "1000");
        clock.advance(Duration::seconds(6));
        let out = executor.execute(&signal).await;
        assert!(matches!(out, Ok(Outcome::Unknown)), "{out:?}");
        assert_eq!(venue.orders(), 0, "no second open");
        let reason = journal
            .signal(&signal.signal_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .and_then(|s| s.reason)
            .unwrap_or_default();
        assert!(
            reason.contains("journaled the open leg filled (1000 at 1.08345, broker order 6371)"),
            "{reason}"
        );
    }

    /// An earlier attempt's open filled, and the position does not show it yet: a stale
    /// takeover reads the signal `filled`, as one that may send does.
    #[tokio::test]
    async fn a_stale_takeover_that_finds_the_open_filled_is_filled_whatever_the_position_shows() {
        let broker = Scripted {
            held: Decimal::ZERO,
            recovered: vec![(Leg::Open, shared::execution::Side::Buy, Outcome::Filled)],
            ..Default::default()
        };
        let (execution, sent) = take_over(broker, Action::LongEntry, false).await;
        assert_eq!((execution.outcome, sent), (Outcome::Filled, 0));
    }

    /// An earlier attempt at a reversal closed the short; the takeover, free to send, finds
    /// the instrument refused by the broker. It sends nothing, and its answer keeps the
    /// close that filled, so the journal has it.
    #[tokio::test]
    async fn a_takeover_refused_after_an_earlier_close_filled_keeps_that_close() {
        let broker = Scripted {
            held: Decimal::ZERO,
            recovered: vec![(Leg::Close, shared::execution::Side::Buy, Outcome::Filled)],
            rules: ScriptedRules::Refused("instrument halted"),
            ..Default::default()
        };
        let (execution, sent) = take_over(broker, Action::LongEntry, true).await;
        assert_eq!((execution.outcome, sent), (Outcome::Rejected, 0));
        let legs: Vec<_> = execution.legs.iter().map(|l| (l.leg, l.outcome)).collect();
        assert_eq!(legs, [(Leg::Close, Outcome::Filled)]);
    }

    /// An earlier attempt at a reversal closed the short; the takeover, free to send, cannot
    /// read the trading rules. It ends `unknown` keeping that close (journaled, alarmed,
    /// dead-lettered by the executor): failed back to the queue, its redeliveries (all inside
    /// the budget, all takeovers) were dead-lettered by the queue with no journal row and no
    /// alarm, the account flat against the strategy.
    #[tokio::test]
    async fn a_takeover_that_cannot_read_the_rules_after_an_earlier_close_ends_unknown() {
        let broker = Scripted {
            held: Decimal::ZERO,
            recovered: vec![(Leg::Close, shared::execution::Side::Buy, Outcome::Filled)],
            rules: ScriptedRules::Unreadable,
            ..Default::default()
        };
        let (execution, sent) = take_over(broker, Action::LongEntry, true).await;
        assert_eq!((execution.outcome, sent), (Outcome::Unknown, 0));
        let legs: Vec<_> = execution.legs.iter().map(|l| (l.leg, l.outcome)).collect();
        assert_eq!(legs, [(Leg::Close, Outcome::Filled)]);
        assert!(
            execution.reason.as_deref().is_some_and(
                |e| e.contains("trading rules could not be read after an earlier attempt")
            ),
            "{:?}",
            execution.reason
        );
    }

    /// A flatten of a hedging account (long and short held) that an earlier attempt left
    /// between its two closes: the long side's close filled, the short side is still held.
    /// The takeover sends the short side's close as the `close_hedge` the first attempt
    /// planned; named `close` from what is held now, it matched the earlier leg and ended
    /// `unknown`, the short left open against the flatten, every replay the same.
    #[tokio::test]
    async fn a_hedged_flatten_taken_over_between_its_closes_sends_the_second() {
        let broker = Scripted {
            held: Decimal::from(-3),
            held_after_send: Some(Decimal::ZERO),
            recovered: vec![(Leg::Close, shared::execution::Side::Sell, Outcome::Filled)],
            rules: whole_units(None),
            ..Default::default()
        };
        let (execution, sent) = take_over(broker, Action::Flatten, true).await;
        assert_eq!(sent, 1, "{:?}", execution.reason);
        let legs: Vec<_> = execution.legs.iter().map(|l| l.leg).collect();
        assert_eq!(
            legs,
            [Leg::Close, Leg::CloseHedge],
            "{:?}",
            execution.reason
        );
        assert_ne!(
            execution.outcome,
            Outcome::Unknown,
            "{:?}",
            execution.reason
        );
    }

    /// A takeover that finds an earlier attempt's open rejected, where closes cannot be
    /// looked up (Tradovate), with the account flat against a short target: that close may
    /// have filled, half a reversal. Alarmed, and said so; it was a plain rejection, mailed
    /// under the rate limit. With the account at its target, nothing more is said.
    #[tokio::test]
    async fn a_takeover_finding_the_open_rejected_where_closes_are_unseen_is_alarmed() {
        for (held, alarmed) in [(Decimal::ZERO, true), (-Decimal::ONE, false)] {
            let broker = Scripted {
                held,
                closes_unrecoverable: true,
                recovered: vec![(Leg::Open, shared::execution::Side::Sell, Outcome::Rejected)],
                rules: whole_units(None),
                ..Default::default()
            };
            let (execution, sent) = take_over(broker, Action::ShortEntry, true).await;
            assert_eq!((execution.outcome, sent), (Outcome::Rejected, 0));
            assert_eq!(execution.alarmed, alarmed, "{held}: {:?}", execution.reason);
            let says = execution
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("close cannot be looked up and may have filled"));
            assert_eq!(says, alarmed, "{:?}", execution.reason);
        }
    }

    /// A takeover that found no earlier leg (at a broker that reports its closes, so it
    /// starts as a first attempt) and cannot read the margin a reversal needs ends `unknown`
    /// with what it found, sending nothing: failed back to the queue, its redeliveries (all
    /// takeovers) were dead-lettered with no journal row and no alarm.
    #[tokio::test]
    async fn a_takeover_that_cannot_read_the_margin_ends_unknown_sending_nothing() {
        let broker = Scripted {
            held: Decimal::ONE,
            rules: whole_units(None),
            room_unreadable: true,
            ..Default::default()
        };
        let (execution, sent) = take_over_sized(
            broker,
            Action::ShortEntry,
            true,
            Size::Quantity(Decimal::TWO),
        )
        .await;
        assert_eq!((execution.outcome, sent), (Outcome::Unknown, 0));
        assert!(
            execution
                .reason
                .as_deref()
                .is_some_and(|e| e
                    .contains("margin the plan needs could not be read after an earlier attempt")),
            "{:?}",
            execution.reason
        );
    }

    /// An order the conversation never built (no token, a rate limit met getting one) ends
    /// `not_executed` with nothing looked up; a broker's "stop for a while" on the order
    /// (Tradovate's 429) ends `unknown`, nothing looked up either: a lookup would be refused
    /// and lengthen the stop.
    #[tokio::test]
    async fn an_order_never_sent_or_stopped_is_not_looked_up() {
        for (error, leg_outcome) in [
            (
                (|| crate::drive::SendError::Unsent("no token".into()))
                    as fn() -> crate::drive::SendError,
                Outcome::NotExecuted,
            ),
            (
                || crate::drive::SendError::Stopped("429".into()),
                Outcome::Unknown,
            ),
        ] {
            let broker = Scripted {
                held: Decimal::ZERO,
                rules: whole_units(None),
                send_error: Some(error),
                ..Default::default()
            };
            let done = driven(&broker).await;
            assert_eq!(
                legs_and_outcomes(&done),
                [(Leg::Open, leg_outcome)],
                "{done:?}"
            );
            assert_eq!(broker.sent.load(Ordering::SeqCst), 1);
            assert_eq!(
                broker.lookups.load(Ordering::SeqCst),
                0,
                "nothing looked up"
            );
        }
    }

    /// A leg sent again after a throttle the broker does not document as not carried out (an
    /// OANDA 429), at a broker where a second order with the same client order id could fill
    /// too, whose second send is then not carried out (no connection made) or refused: the
    /// first may still land, so the leg ends `unknown`, alarmed, not `not_executed` or
    /// `rejected`.
    #[tokio::test]
    async fn a_leg_sent_again_after_a_throttle_whose_second_send_fails_ends_unknown() {
        use crate::drive::SendError;
        for (second, says) in [
            (
                (|| SendError::NotExecuted {
                    reason: "could not connect".into(),
                    retry_after: None,
                }) as fn() -> SendError,
                "could not connect",
            ),
            (
                || SendError::Rejected {
                    order_id: None,
                    reason: "MARKET_HALTED".into(),
                },
                "MARKET_HALTED",
            ),
        ] {
            let throttled = (|| SendError::Throttled {
                reason: "429".into(),
                retry_after: None,
            }) as fn() -> SendError;
            let broker = Scripted {
                held: Decimal::ZERO,
                rules: whole_units(None),
                send_errors: std::sync::Mutex::new([throttled, second].into()),
                no_dedup: true,
                ..Default::default()
            };
            let done = driven(&broker).await;
            assert_eq!(
                legs_and_outcomes(&done),
                [
                    (Leg::Open, Outcome::NotExecuted),
                    (Leg::Open, Outcome::Unknown)
                ],
                "{done:?}"
            );
            let why = done.legs[1].error.as_deref().unwrap_or_default();
            assert!(why.contains(says) && why.contains("late"), "{why}");
            assert_eq!(broker.sent.load(Ordering::SeqCst), 2);
        }
    }

    /// Whole units, at most `max` per order.
    fn whole_units(max: Option<Decimal>) -> ScriptedRules {
        ScriptedRules::Rules(crate::plan::TradingRules {
            increment: Decimal::ONE,
            min_size: Decimal::ONE,
            max_size: max,
            max_position: None,
        })
    }

    /// The legs of `execution`, as (leg, outcome).
    /// The core's execution of a fresh entry (the usual request at 15:00 UTC) at `broker`.
    async fn driven(broker: &Scripted) -> Execution {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let signal = intent(t0);
        let req = request(&signal, t0);
        crate::drive::execute(broker, &ManualClock::new(t0), &req)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn legs_and_outcomes(execution: &Execution) -> Vec<(Leg, Outcome)> {
        execution.legs.iter().map(|l| (l.leg, l.outcome)).collect()
    }

    /// A takeover free to send, after an earlier attempt's close filled, whose open cannot be
    /// sized (a notional short of one unit) or passes no pre-flight check (over the broker's
    /// largest order): refused, nothing sent, the close kept and named in the reason.
    #[tokio::test]
    async fn a_takeover_refused_by_its_size_or_pre_flight_keeps_the_earlier_close() {
        let closed = || vec![(Leg::Close, shared::execution::Side::Buy, Outcome::Filled)];
        let tiny = Size::Notional(Decimal::new(5, 1));
        let broker = Scripted {
            recovered: closed(),
            rules: whole_units(None),
            ..Default::default()
        };
        let (execution, sent) = take_over_sized(broker, Action::LongEntry, true, tiny).await;
        assert_eq!((execution.outcome, sent), (Outcome::Refused, 0));
        assert_eq!(
            legs_and_outcomes(&execution),
            [(Leg::Close, Outcome::Filled)]
        );
        let reason = execution.reason.unwrap_or_default();
        assert!(
            reason.contains("after an earlier attempt's close filled"),
            "{reason}"
        );

        let broker = Scripted {
            recovered: closed(),
            rules: whole_units(Some(Decimal::ONE)),
            ..Default::default()
        };
        let two = Size::Quantity(Decimal::TWO);
        let (execution, sent) = take_over_sized(broker, Action::LongEntry, true, two).await;
        assert_eq!((execution.outcome, sent), (Outcome::Refused, 0));
        assert_eq!(
            legs_and_outcomes(&execution),
            [(Leg::Close, Outcome::Filled)]
        );
        let reason = execution.reason.unwrap_or_default();
        // This attempt sent nothing; the earlier one's close stands.
        assert!(reason.contains("nothing more was sent"), "{reason}");
        assert!(
            reason.contains("after an earlier attempt's close filled"),
            "{reason}"
        );
    }

    /// A takeover whose holdings read is refused still looks the earlier attempt's orders up:
    /// rejected, nothing sent, its filled close kept and named in the reason.
    #[tokio::test]
    async fn a_takeover_whose_holdings_are_refused_keeps_the_earlier_close() {
        let broker = Scripted {
            holdings_refused: Some("product is cancel-only"),
            recovered: vec![(Leg::Close, shared::execution::Side::Buy, Outcome::Filled)],
            ..Default::default()
        };
        let (execution, sent) = take_over(broker, Action::LongEntry, true).await;
        assert_eq!((execution.outcome, sent), (Outcome::Rejected, 0));
        assert_eq!(
            legs_and_outcomes(&execution),
            [(Leg::Close, Outcome::Filled)]
        );
        let reason = execution.reason.unwrap_or_default();
        assert!(reason.starts_with("product is cancel-only"), "{reason}");
        assert!(
            reason.contains("after an earlier attempt's close filled"),
            "{reason}"
        );

        // An open found decides the signal as it does when the holdings read: still working,
        // unknown (a dead letter); filled, filled.
        for (open, outcome) in [
            (Outcome::Unknown, Outcome::Unknown),
            (Outcome::Filled, Outcome::Filled),
        ] {
            let broker = Scripted {
                holdings_refused: Some("product is cancel-only"),
                recovered: vec![(Leg::Open, shared::execution::Side::Buy, open)],
                ..Default::default()
            };
            let (execution, sent) = take_over(broker, Action::LongEntry, true).await;
            assert_eq!((execution.outcome, sent), (outcome, 0));
        }
    }

    /// Where closes cannot be looked up (Tradovate's liquidations), a takeover that may not
    /// send and finds the account short of the target reads it as possibly half done
    /// (`expired`); where they can, and none is found, nothing was done (`no_op`).
    #[tokio::test]
    async fn a_stale_takeover_short_of_the_target_is_half_done_only_where_closes_are_unseen() {
        let unseen = Scripted {
            closes_unrecoverable: true,
            ..Default::default()
        };
        let (execution, sent) = take_over(unseen, Action::LongEntry, false).await;
        assert_eq!((execution.outcome, sent), (Outcome::Expired, 0));
        let reason = execution.reason.unwrap_or_default();
        assert!(reason.contains("cannot be looked up"), "{reason}");
        let (execution, _) = take_over(Scripted::default(), Action::LongEntry, false).await;
        assert_eq!(execution.outcome, Outcome::NoOp);
    }

    /// A takeover free to send that finds no earlier leg where closes cannot be looked up,
    /// and whose budget runs out before its first leg: expired, and alarmed (the account may
    /// be half a reversal the earlier attempt closed), as the same takeover stale at its start
    /// is. It was an ordinary expiry, mailed like any, possibly held back.
    #[tokio::test]
    async fn a_takeover_out_of_budget_before_its_first_leg_is_alarmed_where_closes_are_unseen() {
        let broker = Scripted {
            closes_unrecoverable: true,
            rules: whole_units(None),
            ..Default::default()
        };
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let signal = OrderIntent {
            action: Action::LongEntry,
            target: Action::LongEntry.target(),
            ..intent(t0)
        };
        let req = ExecRequest {
            takeover: true,
            deadline: t0,
            ..request(&signal, t0)
        };
        let execution = crate::drive::execute(&broker, &ManualClock::new(t0), &req)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(execution.outcome, Outcome::Expired);
        assert_eq!(broker.sent.load(Ordering::SeqCst), 0);
        assert!(execution.alarmed);
        let reason = execution.reason.unwrap_or_default();
        assert!(reason.contains("cannot be looked up"), "{reason}");
        // Where closes are looked up, an ordinary expiry.
        let seen = Scripted {
            rules: whole_units(None),
            ..Default::default()
        };
        let execution = crate::drive::execute(&seen, &ManualClock::new(t0), &req)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(execution.outcome, Outcome::Expired);
        assert!(!execution.alarmed);
    }

    /// A takeover that may send and finds no earlier leg, where closes are looked up (as after
    /// a claim whose answer was lost while its write landed): a reversal the margin cannot
    /// carry is refused before its close, as a first attempt's is, nothing sent. It skipped
    /// the check, closed, and the open was refused: flat. Where closes cannot be looked up
    /// the check is still skipped (an earlier close may have been made).
    #[tokio::test]
    async fn a_takeover_that_found_nothing_checks_the_margin_as_a_first_attempt() {
        let short_of_room = || Scripted {
            held: Decimal::ONE,
            rules: whole_units(None),
            no_room: Some("the open needs more margin than the close frees"),
            ..Default::default()
        };
        let (execution, sent) = take_over(short_of_room(), Action::ShortEntry, true).await;
        assert_eq!(
            (execution.outcome, sent),
            (Outcome::Refused, 0),
            "{execution:?}"
        );
        let reason = execution.reason.unwrap_or_default();
        assert!(reason.contains("needs more margin"), "{reason}");
        assert!(execution.alarmed);

        // The close goes out (refused by the broker here, so the test ends at once).
        let unseen = Scripted {
            closes_unrecoverable: true,
            send_error: Some(|| crate::drive::SendError::Rejected {
                order_id: None,
                reason: "closed market".into(),
            }),
            ..short_of_room()
        };
        let (execution, sent) = take_over(unseen, Action::ShortEntry, true).await;
        assert_eq!(
            (execution.outcome, sent),
            (Outcome::Rejected, 1),
            "{execution:?}"
        );
    }

    impl Venue for Scripted {
        fn broker(&self) -> Broker {
            Broker::Oanda
        }

        fn account(&self) -> &str {
            "scripted"
        }

        async fn execute(&self, req: &ExecRequest<'_>) -> Result<Execution, NothingSent> {
            let clock = ManualClock::new(req.intent.signal_time);
            crate::drive::execute(self, &clock, req).await
        }
    }

    /// A store where an earlier attempt at `signal` on the OANDA `account` claimed it at its
    /// signal time and, failing, handed its lease over: the next attempt takes over at once,
    /// within the staleness budget.
    async fn handed_over(signal: &OrderIntent, account: &str) -> Arc<MemoryIdempotencyStore> {
        let store = Arc::new(MemoryIdempotencyStore::default());
        let key = IdempotencyKey {
            broker: Broker::Oanda,
            account: account.into(),
            signal_id: signal.signal_id.clone(),
            signal_time: signal.signal_time,
        };
        let t0 = signal.signal_time;
        let lease = t0 + Duration::seconds(60);
        let handed = async {
            store.claim(&key, t0, lease).await?;
            store.hand_over(&key, lease, t0).await
        };
        handed.await.unwrap_or_else(|e| panic!("{e}"));
        store
    }

    /// A quick takeover refused by the risk limits, or superseded (so it may not send), on a
    /// broker whose closes cannot be looked up, the account flat where the signal wants it
    /// long: an earlier attempt may have closed it, so it is alarmed. Where closes can be
    /// looked up and none was found, it only logs.
    #[tokio::test]
    async fn a_guarded_takeover_short_of_the_target_alarms_where_closes_are_unseen() {
        for (unseen, superseded, alarms) in [(true, false, 1), (false, false, 0), (true, true, 1)] {
            let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
            let clock = ManualClock::new(t0);
            let signal = intent(t0);
            let store = handed_over(&signal, "scripted").await;
            if superseded {
                let series = InstrumentKey {
                    broker: Broker::Oanda,
                    account: "scripted".into(),
                    instrument: signal.instrument.to_string(),
                };
                let newer = store.advance(&series, t0 + Duration::seconds(1)).await;
                newer.unwrap_or_else(|e| panic!("{e}"));
            }
            let broker = Scripted {
                closes_unrecoverable: unseen,
                ..Default::default()
            };
            let journal = Arc::new(MemoryJournal::default());
            // Over the default max position (10,000): the risk limits refuse the entry. The
            // superseded case sizes within them: the guards come before the order check.
            let size = if superseded { "1000" } else { "20000" };
            let executor = paper_executor(broker, store, journal, &clock, size);
            clock.advance(Duration::seconds(1));
            let out = executor.execute(&signal).await;
            let case = format!("unseen closes: {unseen}, superseded: {superseded}");
            let verdict = match superseded {
                true => Outcome::Superseded,
                false => Outcome::Refused,
            };
            assert_eq!(out.ok(), Some(verdict), "{case}");
            assert_eq!(executor.venue.sent.load(Ordering::SeqCst), 0);
            assert_eq!(executor.notifier.sent().len(), alarms, "{case}");
        }
    }

    /// An earlier attempt at a reversal closed the short and failed before the open, handing
    /// its lease over; the quick takeover, within the staleness budget, is refused by the risk
    /// limits, so it may not send. The account is flat, not long: the refusal is alarmed, the
    /// close journaled.
    #[tokio::test]
    async fn a_takeover_refused_after_half_a_reversal_alarms() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let clock = ManualClock::new(t0);
        let signal = intent(t0);
        let book = left_by_an_earlier_attempt(
            &signal,
            Leg::Close,
            shared::execution::Side::Buy,
            &[("EUR_USD", 0)],
        );
        let venue = Arc::new(PaperNetting::restore(
            Broker::Oanda,
            "paper",
            Arc::new(clock.clone()),
            Arc::new(crate::paper::NoLog),
            book,
        ));
        let store = handed_over(&signal, "paper").await;
        let journal = Arc::new(MemoryJournal::default());
        // Over the default max position (10,000): the risk limits refuse the entry.
        let executor = paper_executor(venue.clone(), store, journal.clone(), &clock, "20000");
        clock.advance(Duration::seconds(1));

        let out = executor.execute(&signal).await;
        assert!(matches!(out, Ok(Outcome::Refused)), "{out:?}");
        assert_eq!(venue.orders(), 2, "nothing sent");
        let notes = executor.notifier.sent();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].message.contains("max position"),
            "{}",
            notes[0].message
        );
        let legs: Vec<_> = journal
            .orders(&signal.signal_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .iter()
            .map(|l| (l.leg, l.outcome))
            .collect();
        assert_eq!(legs, [(Leg::Close, Outcome::Filled)]);
    }

    /// 2026-11-30 15:00 UTC, a manual clock there and a paper OANDA account on it.
    fn paper_oanda_at_t0() -> (DateTime<Utc>, ManualClock, Arc<PaperNetting>) {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let clock = ManualClock::new(t0);
        let venue = Arc::new(PaperNetting::with_clock(
            Broker::Oanda,
            "paper",
            Arc::new(clock.clone()),
        ));
        (t0, clock, venue)
    }

    /// [`paper_executor`] on `venue` with a store and journal of its own, size 1,000.
    fn paper_executor_of(
        venue: Arc<PaperNetting>,
        clock: &ManualClock,
    ) -> PaperExecutor<Arc<PaperNetting>> {
        let store = Arc::new(MemoryIdempotencyStore::default());
        paper_executor(venue, store, Arc::default(), clock, "1000")
    }

    /// The reason journaled for `signal`, empty when there is none.
    async fn journaled_reason(journal: &MemoryJournal, signal: &OrderIntent) -> String {
        journal
            .signal(&signal.signal_id)
            .await
            .ok()
            .flatten()
            .and_then(|r| r.reason)
            .unwrap_or_default()
    }

    /// [`intent`] with its own id (from `name`), `action` and time.
    fn named(name: &str, action: Action, at: DateTime<Utc>) -> OrderIntent {
        OrderIntent {
            signal_id: SignalId::of_canonical(name),
            action,
            target: action.target(),
            ..intent(at)
        }
    }

    /// A signal the risk settings refuse leaves the account as it was: an older signal that
    /// only reduces exposure and arrives after it still executes (a FLATTEN fired before a
    /// refused entry closes the position), while an older entry is superseded by the refused
    /// signal's time (seen). An older exit is superseded by the time of a signal taken (past every
    /// check, just before its first order), here the FLATTEN's.
    #[tokio::test]
    async fn an_older_exit_executes_after_a_refused_entry_and_an_older_entry_does_not() {
        let (t0, clock, venue) = paper_oanda_at_t0();
        let store = Arc::new(MemoryIdempotencyStore::default());
        let journal = Arc::new(MemoryJournal::default());
        let sized = |size: &str| {
            paper_executor(venue.clone(), store.clone(), journal.clone(), &clock, size)
        };
        let ms = Duration::milliseconds;
        let (seen, taken) = ("came first", "was taken already");
        // In arrival order: name, action, `timenow` after t0, size, outcome, what the
        // journaled reason says.
        let steps = [
            (
                "short",
                Action::ShortEntry,
                ms(0),
                "1000",
                Outcome::Filled,
                "",
            ),
            // Fired 2 s after the FLATTEN below, arriving first; over the default max
            // position (10,000), so refused.
            (
                "long",
                Action::LongEntry,
                ms(3000),
                "20000",
                Outcome::Refused,
                "max",
            ),
            // Fired before the refused entry: it still closes the short.
            (
                "flatten",
                Action::Flatten,
                ms(1000),
                "1000",
                Outcome::Filled,
                "",
            ),
            // Older than the refused long: an entry is superseded by what was seen.
            (
                "older",
                Action::LongEntry,
                ms(500),
                "1000",
                Outcome::Superseded,
                seen,
            ),
            (
                "entry",
                Action::ShortEntry,
                ms(2000),
                "1000",
                Outcome::Superseded,
                seen,
            ),
            // Older than the FLATTEN, which was taken: an exit is superseded by that.
            (
                "exit",
                Action::ShortExit,
                ms(800),
                "1000",
                Outcome::Superseded,
                taken,
            ),
        ];
        for (name, action, after, size, outcome, says) in steps {
            let intent = named(name, action, t0 + after);
            let got = sized(size).execute(&intent).await;
            assert_eq!(got.ok(), Some(outcome), "{name}");
            let reason = journaled_reason(&journal, &intent).await;
            assert!(reason.contains(says), "{name}: {reason}");
        }
        assert_eq!(
            venue
                .positions()
                .get("EUR_USD")
                .copied()
                .unwrap_or_default(),
            Decimal::ZERO
        );
        assert_eq!(venue.orders(), 2, "the short and the FLATTEN's close only");
    }

    /// Two Coinbase products of one coin are one series: a newer BTC-USD entry filled, then an
    /// older BTC-USDC exit arrives (a resend after a 5xx): superseded, where it sold the whole
    /// BTC balance, the newer entry's coins with it; an older BTC-USDC entry after a newer
    /// BTC-USD exit is superseded too, where it bought.
    #[tokio::test]
    async fn two_coinbase_products_of_one_coin_keep_one_signal_order() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let clock = ManualClock::new(t0);
        let venue = Arc::new(crate::paper::PaperSpot::with_clock(
            "paper",
            [("USD".to_owned(), Decimal::from(100_000))],
            Arc::new(clock.clone()),
        ));
        let store = Arc::new(MemoryIdempotencyStore::default());
        let journal = Arc::new(MemoryJournal::default());
        let executor = paper_executor(venue.clone(), store, journal.clone(), &clock, "1000");
        let coin = |name: &str, product: &str, action: Action, after_ms: i64| OrderIntent {
            broker: Broker::Coinbase,
            instrument: Instrument::new(product),
            symbol: product.replace('-', ""),
            exchange: "COINBASE".into(),
            reference_price: Decimal::from(90_000),
            ..named(name, action, t0 + Duration::milliseconds(after_ms))
        };
        let steps = [
            (
                coin("entry", "BTC-USD", Action::LongEntry, 2000),
                Outcome::Filled,
            ),
            (
                coin("old-exit", "BTC-USDC", Action::LongExit, 1000),
                Outcome::Superseded,
            ),
            (
                coin("exit", "BTC-USD", Action::LongExit, 4000),
                Outcome::Filled,
            ),
            (
                coin("old-entry", "BTC-USDC", Action::LongEntry, 3000),
                Outcome::Superseded,
            ),
        ];
        for (intent, outcome) in steps {
            let got = executor.execute(&intent).await;
            assert_eq!(got.ok(), Some(outcome), "{}", intent.signal_id);
            if outcome == Outcome::Superseded {
                let reason = journaled_reason(&journal, &intent).await;
                assert!(reason.contains("later signal for BTC"), "{reason}");
            }
        }
        assert_eq!(venue.orders(), 2, "the BTC-USD entry and exit only");
    }

    /// A newer entry that passes the guards but is refused before its first order (here by
    /// the notional cap, checked once the broker's rules are read) leaves the account as it
    /// was: it is not taken, so an older FLATTEN arriving after it still closes the position.
    /// A newer entry the account already holds (a no-op) is taken: an older FLATTEN is then
    /// superseded, and the position the strategy wants stays.
    #[tokio::test]
    async fn an_entry_refused_before_its_first_order_is_not_taken_and_a_no_op_is() {
        let (t0, clock, venue) = paper_oanda_at_t0();
        let store = Arc::new(MemoryIdempotencyStore::default());
        let journal = Arc::new(MemoryJournal::default());
        let executor = |size: &str, cap: &str| {
            let mut e = paper_executor(venue.clone(), store.clone(), journal.clone(), &clock, size);
            e.settings.risk = RiskConfig::from_toml(&format!(
                "default_size = \"{size}\"\ndefault_max_position = \"10000\"\nmax_notional = \"{cap}\""
            ))
            .unwrap_or_else(|e| panic!("{e}"));
            e
        };
        let s = Duration::seconds;
        let ran = async |name: &str, action, at, size: &str, cap: &str| {
            let intent = named(name, action, t0 + at);
            let got = executor(size, cap).execute(&intent).await.ok();
            (got, journaled_reason(&journal, &intent).await)
        };
        let held = || {
            venue
                .positions()
                .get("EUR_USD")
                .copied()
                .unwrap_or_default()
        };

        let (got, _) = ran("short", Action::ShortEntry, s(0), "1000", "1000000").await;
        assert_eq!(got, Some(Outcome::Filled));
        // Within the maximum position, over the notional cap (EUR_USD's notional is its
        // units at OANDA): refused in the plan's checks, nothing sent.
        let (got, reason) = ran("long", Action::LongEntry, s(3), "8000", "5000").await;
        assert_eq!(got, Some(Outcome::Refused), "{reason}");
        assert!(reason.contains("notional"), "{reason}");
        assert_eq!(venue.orders(), 1);
        // Fired before the refused entry, arriving after it: closes the short.
        let (got, reason) = ran("flatten", Action::Flatten, s(1), "1000", "1000000").await;
        assert_eq!(got, Some(Outcome::Filled), "{reason}");
        assert_eq!(held(), Decimal::ZERO);
        // An older entry is still superseded by the refused one (seen).
        let (got, reason) = ran("older", Action::LongEntry, s(2), "1000", "1000000").await;
        assert_eq!(got, Some(Outcome::Superseded), "{reason}");
        assert!(reason.contains("came first"), "{reason}");

        // Short again; a newer SHORT_ENTRY finds the short held (no-op) and is taken, so an
        // older FLATTEN arriving after it is superseded and the short stays.
        let (got, _) = ran("short again", Action::ShortEntry, s(10), "1000", "1000000").await;
        assert_eq!(got, Some(Outcome::Filled));
        let (got, _) = ran("held", Action::ShortEntry, s(12), "1000", "1000000").await;
        assert_eq!(got, Some(Outcome::NoOp));
        let (got, reason) = ran("late flatten", Action::Flatten, s(11), "1000", "1000000").await;
        assert_eq!(got, Some(Outcome::Superseded), "{reason}");
        assert!(reason.contains("was taken already"), "{reason}");
        assert_eq!(held(), Decimal::from(-1000));
        assert_eq!(venue.orders(), 3, "the shorts and the FLATTEN's close only");
    }

    /// A notional size is bounded by `max_position` once converted at the alert's close: a
    /// wrong close (a tenth of the real one) sizes ten times the units, and the notional cap,
    /// counted at that same close, cannot see it. Refused before any order, named; at the
    /// right close the same settings trade.
    #[tokio::test]
    async fn a_notional_size_is_bounded_by_max_position_at_the_alerts_close() {
        let (t0, clock, venue) = paper_oanda_at_t0();
        let mut executor = paper_executor_of(venue.clone(), &clock);
        executor.settings.risk = RiskConfig::from_toml(
            "default_max_position = \"10000\"\n[classes.fx]\nnotional = \"20000\"\n\
             [instruments.XAU_USD]\nnotional = \"100000\"\nmax_position = \"60\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let gold = |name: &str, close: i64, at| OrderIntent {
            instrument: Instrument::new("XAU_USD"),
            reference_price: Decimal::from(close),
            ..named(name, Action::LongEntry, t0 + Duration::seconds(at))
        };
        let wrong = gold("a tenth of the close", 200, 0);
        assert_eq!(executor.execute(&wrong).await.ok(), Some(Outcome::Refused));
        let reason = journaled_reason(&executor.journal, &wrong).await;
        assert!(
            reason.contains("comes to 500")
                && reason.contains("max_position 60")
                && reason.ends_with("; nothing was sent"),
            "{reason}"
        );
        assert_eq!(venue.orders(), 0, "nothing sent");
        let right = gold("the close", 2000, 1);
        assert_eq!(executor.execute(&right).await.ok(), Some(Outcome::Filled));
        assert_eq!(
            venue.positions().get("XAU_USD").copied(),
            Some(Decimal::from(50))
        );
        // A reversal refused so is alarmed, its reason saying what the account still holds,
        // as the other refusals before a first order are: it leaves the account long while
        // the strategy went short. It was journaled and told to no one.
        let reversal = OrderIntent {
            instrument: Instrument::new("XAU_USD"),
            reference_price: Decimal::from(200),
            ..named(
                "a reversal at a tenth of the close",
                Action::ShortEntry,
                t0 + Duration::seconds(2),
            )
        };
        assert_eq!(
            executor.execute(&reversal).await.ok(),
            Some(Outcome::Refused)
        );
        let reason = journaled_reason(&executor.journal, &reversal).await;
        assert!(
            reason.contains("max_position 60")
                && reason.contains("the account still holds long 50 in XAU_USD"),
            "{reason}"
        );
        let sent = executor.notifier.sent();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(venue.orders(), 1, "nothing more sent");
        // A currency pair's notional is its units whatever the close: over its max_position,
        // refused per signal (the settings load: a start refused would stop exits too).
        let pair = named("a pair", Action::LongEntry, t0 + Duration::seconds(3));
        assert_eq!(executor.execute(&pair).await.ok(), Some(Outcome::Refused));
        let reason = journaled_reason(&executor.journal, &pair).await;
        assert!(
            reason.contains("notional 20000 is its size here (")
                && reason.contains("over its max_position 10000, counted in the same units"),
            "{reason}"
        );
    }

    /// An entry in the direction held is a no-op whatever its `quantity` or window: the risk
    /// settings' refusal of its size applies only when an order is needed. So a newer entry
    /// the account holds already is taken, and an older FLATTEN arriving after it is
    /// superseded; the same entry against the other direction is refused, nothing sent.
    #[tokio::test]
    async fn a_refused_size_does_not_refuse_an_entry_the_account_holds() {
        let (t0, clock, venue) = paper_oanda_at_t0();
        let executor = paper_executor_of(venue.clone(), &clock);
        let s = Duration::seconds;
        let over = |name: &str, action, at| OrderIntent {
            // Over the maximum position (10,000), which bounds an alert's quantity too.
            quantity_override: Some(Decimal::from(20_000)),
            ..named(name, action, t0 + at)
        };
        let held = || {
            venue
                .positions()
                .get("EUR_USD")
                .copied()
                .unwrap_or_default()
        };
        let long = named("long", Action::LongEntry, t0);
        assert_eq!(executor.execute(&long).await.ok(), Some(Outcome::Filled));
        let again = over("again", Action::LongEntry, s(5));
        assert_eq!(executor.execute(&again).await.ok(), Some(Outcome::NoOp));
        let flatten = named("flatten", Action::Flatten, t0 + s(2));
        assert_eq!(
            executor.execute(&flatten).await.ok(),
            Some(Outcome::Superseded)
        );
        assert_eq!(held(), Decimal::from(1000));
        // Against the long: a reversal, refused before any order.
        let short = over("short", Action::ShortEntry, s(6));
        assert_eq!(executor.execute(&short).await.ok(), Some(Outcome::Refused));
        let reason = journaled_reason(&executor.journal, &short).await;
        assert!(reason.contains("20000"), "{reason}");
        assert_eq!(held(), Decimal::from(1000));
        assert_eq!(venue.orders(), 1, "the first long only");
    }

    /// A takeover (after a crash) of an entry the risk settings refuse: a no-op when the
    /// account holds its target (nothing of the earlier attempt found), refused otherwise;
    /// nothing sent either way.
    #[tokio::test]
    async fn a_refused_takeover_of_an_entry_the_account_holds_is_a_no_op() {
        let (t0, clock, venue) = paper_oanda_at_t0();
        let journal = Arc::new(MemoryJournal::default());
        let first = named("long", Action::LongEntry, t0);
        let store = Arc::new(MemoryIdempotencyStore::default());
        let executor = paper_executor(venue.clone(), store, journal.clone(), &clock, "1000");
        assert_eq!(executor.execute(&first).await.ok(), Some(Outcome::Filled));
        for (name, action, verdict) in [
            ("again", Action::LongEntry, Outcome::NoOp),
            ("short", Action::ShortEntry, Outcome::Refused),
        ] {
            let over = OrderIntent {
                quantity_override: Some(Decimal::from(20_000)),
                ..named(name, action, t0 + Duration::seconds(1))
            };
            let store = handed_over(&over, "paper").await;
            let executor = paper_executor(
                venue.clone(),
                store.clone(),
                journal.clone(),
                &clock,
                "1000",
            );
            assert_eq!(executor.execute(&over).await.ok(), Some(verdict), "{name}");
            if verdict == Outcome::NoOp {
                // Taken as a no-op: an older FLATTEN arriving after it is superseded.
                let flatten = named("flatten", Action::Flatten, t0 + Duration::milliseconds(500));
                assert_eq!(
                    executor.execute(&flatten).await.ok(),
                    Some(Outcome::Superseded)
                );
            }
        }
        assert_eq!(venue.orders(), 1, "the first long only");
    }

    /// A claim whose write landed but whose answer was an error: the attempt hands the lease
    /// it may hold over, so the retry a second later takes the signal over (a lookup, then
    /// the order) inside its budget, instead of finding it busy for the 60 s lease, past its
    /// 30 s budget, and expiring unexecuted.
    #[tokio::test]
    async fn a_claim_that_landed_though_it_failed_does_not_hold_the_signal() {
        let (t0, clock, venue) = paper_oanda_at_t0();
        let memory = Arc::new(MemoryIdempotencyStore::default());
        let store = Faulty::new(memory.clone());
        store.claim_lands_then_fails.store(true, Ordering::SeqCst);
        let executor = Executor {
            dead_letters: None,
            venue: venue.clone(),
            store,
            journal: Arc::new(MemoryJournal::default()),
            notifier: Arc::new(MemoryNotifier::default()),
            kill_switch: FlakySwitch(AtomicU32::new(0), std::sync::atomic::AtomicBool::new(false)),
            clock: clock.clone(),
            metrics: Arc::new(CapturedMetrics::default()),
            settings: paper_executor(
                venue.clone(),
                memory.clone(),
                Arc::new(MemoryJournal::default()),
                &clock,
                "1000",
            )
            .settings,
        };
        let signal = intent(t0);
        let first = executor.execute(&signal).await;
        assert!(matches!(first, Err(RecordError::Store(_))), "{first:?}");
        assert_eq!(venue.orders(), 0);
        clock.advance(Duration::seconds(1));
        let retry = executor.execute(&signal).await;
        assert!(matches!(retry, Ok(Outcome::Filled)), "{retry:?}");
        assert_eq!(venue.orders(), 1);
    }

    /// The idempotency store with faults: `claim_lands_then_fails`, its next claim lands
    /// and then answers an error (a write whose answer timed out); `taken_fails`, the taken
    /// time's writes fail (the "seen" ones work).
    struct Faulty {
        inner: Arc<MemoryIdempotencyStore>,
        claim_lands_then_fails: std::sync::atomic::AtomicBool,
        taken_fails: bool,
    }

    impl Faulty {
        fn new(inner: Arc<MemoryIdempotencyStore>) -> Self {
            Self {
                inner,
                claim_lands_then_fails: std::sync::atomic::AtomicBool::new(false),
                taken_fails: false,
            }
        }
    }

    impl IdempotencyStore for Faulty {
        async fn claim(
            &self,
            key: &IdempotencyKey,
            now: DateTime<Utc>,
            lease_until: DateTime<Utc>,
        ) -> Result<Claim, StoreError> {
            let claimed = self.inner.claim(key, now, lease_until).await;
            match self.claim_lands_then_fails.swap(false, Ordering::SeqCst) {
                true => Err(StoreError {
                    reason: "claim: the answer timed out".into(),
                }),
                false => claimed,
            }
        }
        async fn complete(
            &self,
            key: &IdempotencyKey,
            outcome: Outcome,
            expires_at: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            self.inner.complete(key, outcome, expires_at).await
        }
        async fn release(
            &self,
            key: &IdempotencyKey,
            lease_until: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            self.inner.release(key, lease_until).await
        }
        async fn hand_over(
            &self,
            key: &IdempotencyKey,
            lease_until: DateTime<Utc>,
            now: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            self.inner.hand_over(key, lease_until, now).await
        }
        async fn advance(
            &self,
            key: &InstrumentKey,
            signal_time: DateTime<Utc>,
        ) -> Result<Option<DateTime<Utc>>, StoreError> {
            match !self.taken_fails || key.instrument.ends_with(" seen") {
                true => self.inner.advance(key, signal_time).await,
                false => Err(StoreError {
                    reason: "conditional write timed out".into(),
                }),
            }
        }
    }

    /// The order check's store failing just before the first order: nothing sent, the store's
    /// error reported (the record comes back through the queue), the signal's record released
    /// so the retry executes it.
    #[tokio::test]
    async fn an_order_check_that_cannot_be_made_sends_nothing_and_comes_back() {
        let (t0, clock, venue) = paper_oanda_at_t0();
        let store = Arc::new(MemoryIdempotencyStore::default());
        let journal = Arc::new(MemoryJournal::default());
        let base = paper_executor(
            venue.clone(),
            store.clone(),
            journal.clone(),
            &clock,
            "1000",
        );
        let failing = Executor {
            dead_letters: base.dead_letters,
            venue: base.venue,
            store: Faulty {
                taken_fails: true,
                ..Faulty::new(store.clone())
            },
            journal: base.journal,
            notifier: base.notifier,
            kill_switch: base.kill_switch,
            clock: base.clock,
            metrics: base.metrics,
            settings: base.settings,
        };
        let entry = named("entry", Action::LongEntry, t0);
        let got = failing.execute(&entry).await;
        assert!(
            matches!(&got, Err(RecordError::Store(e)) if e.reason.contains("timed out")),
            "{got:?}"
        );
        assert_eq!(venue.orders(), 0);
        let working = paper_executor(venue.clone(), store, journal, &clock, "1000");
        assert_eq!(working.execute(&entry).await.ok(), Some(Outcome::Filled));
        assert_eq!(venue.orders(), 1);
    }

    /// A FLATTEN the kill switch refused still supersedes an older entry that arrives once the
    /// switch is off: the entry would open a position the strategy has since closed, and no
    /// later signal would close it.
    #[tokio::test]
    async fn an_exit_the_kill_switch_refused_still_supersedes_an_older_entry() {
        let (t0, clock, venue) = paper_oanda_at_t0();
        let executor = paper_executor_of(venue.clone(), &clock);
        let signal = named;
        executor.kill_switch.1.store(true, Ordering::SeqCst);
        let flatten = signal("flatten", Action::Flatten, t0 + Duration::seconds(2));
        assert_eq!(
            executor.execute(&flatten).await.ok(),
            Some(Outcome::Refused)
        );
        executor.kill_switch.1.store(false, Ordering::SeqCst);
        let entry = signal("entry", Action::LongEntry, t0 + Duration::seconds(1));
        assert_eq!(
            executor.execute(&entry).await.ok(),
            Some(Outcome::Superseded)
        );
        assert_eq!(venue.orders(), 0, "nothing sent");
        // A newer entry trades.
        let newer = signal("newer", Action::LongEntry, t0 + Duration::seconds(3));
        assert_eq!(executor.execute(&newer).await.ok(), Some(Outcome::Filled));
    }
}
