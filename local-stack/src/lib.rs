//! The local stack: the pipeline in one process, no AWS and no broker account.
//!
//! It serves the API Gateway routes on 127.0.0.1 and runs the real handler code: ingest's
//! core, the router and the three executors (the shared runtime around a venue), over
//! in-process SQS FIFO queues ([`LocalFifoQueue`]) that keep groups, the dedup window,
//! visibility timeouts, redelivery and dead-lettering. Pollers play Lambda's event source
//! mapping: batches of up to 10, acknowledged records deleted, reported failures left in
//! flight until their visibility timeout. Brokers are paper brokers unless one of a broker's
//! variables is set (the executors' own settings: `executor_oanda::config::VARIABLES`, ...),
//! in which case its real client is used and a missing variable fails the start.

pub mod admission;
pub mod console;
pub mod dashboard;
pub mod venue;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use console::{ConsoleJournal, ObservedJournal, SignalObserver, line};
use dashboard::{Dashboard, DashboardJournal};
use executor_runtime::killswitch::StaticKillSwitch;
use executor_runtime::metrics::DiscardMetrics;
use executor_runtime::paper::{PaperNetting, PaperSpot};
use executor_runtime::processor::{Executor, ExecutorSettings, MissingMessageId};
use executor_runtime::risk::RiskConfig;
use ingest::{Ingest, WebhookRequest};
use local_sqs::{LocalFifoQueue, LocalQueueConfig, Received};
use local_store::LocalStore;
use router::{BrokerQueues, Router};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::json;
use shared::RoutingTable;
use shared::alert::Freshness;
use shared::clock::SystemClock;
use shared::config::Env;
use shared::ports::Durability;
use shared::routing::Broker;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use venue::AnyVenue;

/// The webhook secret the local stack uses unless `WEBHOOK_SECRET` is set. Local only.
pub const LOCAL_SECRET: &str = "local-dev-secret-change-me";

pub type Queue = Arc<LocalFifoQueue<SystemClock>>;
type Journal =
    Arc<ConsoleJournal<DashboardJournal<ObservedJournal<StateFirst<journal::AnyJournal>>>>>;
/// Each broker's health, recorded around its venue, served by `GET /{broker}status`.
pub type Health = Arc<shared::health::MemoryHealth>;
pub type LocalExecutor = Executor<
    executor_runtime::health::Recorded<AnyVenue, Health, SystemClock>,
    console::AnnouncedClaims<local_store::Claims>,
    Journal,
    Arc<ConsoleNotifier>,
    StaticKillSwitch,
    SystemClock,
>;

/// The local stack's settings. Its `Debug` shows neither the webhook secret nor the journal's
/// URL (which can carry a database password): only the journal as [`Self::journal_shown`]
/// names it.
#[derive(Clone)]
pub struct LocalConfig {
    pub port: u16,
    /// The webhook secret (the path segment or the alert's `passphrase`).
    pub secret: String,
    pub visibility_timeout: Duration,
    pub max_receives: u32,
    pub freshness: Freshness,
    pub usd_balance: Decimal,
    /// The SQLite journal file (or any journal URL).
    pub journal_url: String,
    /// The SQLite file of the idempotency records and paper books, with the queues' file
    /// beside it (`<state file>.queues`); `None`: beside
    /// a journal file (`<journal stem>.state.sqlite`), or in memory when the journal is not a
    /// file (`sqlite::memory:`, PostgreSQL), which a restart does not keep (and which
    /// [`start`] refuses when a real broker is configured).
    pub state_path: Option<std::path::PathBuf>,
    /// Told about every signal record once journaled (the load run times fills with it).
    pub observer: Option<SignalObserver>,
    /// Consumers per queue. Lambda runs a FIFO queue's message groups in parallel, one batch
    /// per group at a time; the queue's group blocking keeps each group in order here too.
    pub pollers: usize,
    /// Run the router and the executors (the default). `false` starts the webhook alone, with
    /// no consumer and no admission control, so accepted alerts stay queued: the load run
    /// measures the webhook's own cost this way.
    pub consumers: bool,
}

impl std::fmt::Debug for LocalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalConfig")
            .field("port", &self.port)
            .field("secret", &"[REDACTED]")
            .field("visibility_timeout", &self.visibility_timeout)
            .field("max_receives", &self.max_receives)
            .field("freshness", &self.freshness)
            .field("usd_balance", &self.usd_balance)
            .field("journal", &self.journal_shown())
            .field("state_path", &self.state_path)
            .field("pollers", &self.pollers)
            .field("consumers", &self.consumers)
            .finish_non_exhaustive()
    }
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            port: 8080,
            secret: LOCAL_SECRET.into(),
            visibility_timeout: Duration::seconds(5),
            max_receives: 5,
            freshness: Freshness::default(),
            usd_balance: Decimal::from(10_000),
            journal_url: ".tvctl/journal.sqlite".into(),
            state_path: None,
            observer: None,
            pollers: 4,
            consumers: true,
        }
    }
}

/// The operator's mail, locally: a console line and a log line (the handlers' log file),
/// nothing kept in memory.
#[derive(Debug)]
pub struct ConsoleNotifier;

impl shared::ports::Notifier for ConsoleNotifier {
    async fn notify(
        &self,
        note: shared::ports::Notification,
    ) -> Result<(), shared::ports::QueueError> {
        tracing::warn!(subject = %note.subject, urgent = note.urgent, message = %note.message, "operator notification");
        line(format_args!("{}", console_note(&note)));
        Ok(())
    }
}

/// The longest mail text a `notify` console line carries whole.
const NOTE_MAX_CHARS: usize = 2_000;

/// A notification's console line: `notify <subject>: <text>`, the whole text (the subject
/// names no cause, and a refusal's text ends with what the account still holds), cut only
/// past [`NOTE_MAX_CHARS`] characters, and then saying so.
fn console_note(note: &shared::ports::Notification) -> String {
    let mut text: String = note.message.chars().take(NOTE_MAX_CHARS).collect();
    if text.len() < note.message.len() {
        text.push_str(" … (cut here; in full in tvctl trades and the handlers' log)");
    }
    format!("notify {}: {text}", note.subject)
}

/// The journal behind the state file: every write first waits until the state file's writes
/// so far are committed, and is refused once a paper fill was lost in a failed commit
/// ([`LocalStore::paper_fills_kept`]). The journal is another file; without this a crash could
/// leave it recording a paper fill the state file never kept, and the fill would be made
/// again, at another price, under the same client order id.
#[derive(Debug, Clone)]
pub struct StateFirst<J> {
    /// The state file.
    pub store: Arc<LocalStore>,
    /// The journal.
    pub inner: J,
}

impl<J: shared::execution::TradeJournal> StateFirst<J> {
    /// The state file's writes so far committed, and no paper fill of `orders`' accounts lost.
    async fn state_kept(
        &self,
        orders: &[shared::execution::OrderRecord],
    ) -> Result<(), shared::execution::JournalError> {
        self.store
            .paper_fills_kept(orders.iter().map(|o| o.account.as_str()))
            .await
            .map_err(|reason| shared::execution::JournalError { reason })
    }
}

impl<J: shared::execution::TradeJournal> shared::execution::TradeJournal for StateFirst<J> {
    async fn upsert_signal(
        &self,
        r: &shared::execution::SignalRecord,
    ) -> Result<(), shared::execution::JournalError> {
        self.state_kept(&[]).await?;
        self.inner.upsert_signal(r).await
    }

    async fn upsert_order(
        &self,
        r: &shared::execution::OrderRecord,
    ) -> Result<(), shared::execution::JournalError> {
        self.state_kept(std::slice::from_ref(r)).await?;
        self.inner.upsert_order(r).await
    }

    async fn signal(
        &self,
        id: &shared::signal::SignalId,
    ) -> Result<Option<shared::execution::SignalRecord>, shared::execution::JournalError> {
        self.inner.signal(id).await
    }

    async fn orders(
        &self,
        id: &shared::signal::SignalId,
    ) -> Result<Vec<shared::execution::OrderRecord>, shared::execution::JournalError> {
        self.inner.orders(id).await
    }

    async fn record_execution(
        &self,
        signal: &shared::execution::SignalRecord,
        orders: &[shared::execution::OrderRecord],
    ) -> Result<(), shared::execution::JournalError> {
        self.state_kept(orders).await?;
        self.inner.record_execution(signal, orders).await
    }
}

/// The signals queue's dead-letter queue as the router sends to it (a signal that no longer
/// routes, a body that is not a signal): a console line and the dashboard's signal marked,
/// where in AWS the queue's depth alarm tells.
struct RouterDeadLetters {
    dlq: Queue,
    dashboard: Arc<Dashboard>,
}

impl shared::ports::DeadLetterQueue for RouterDeadLetters {
    fn dead_letter(
        &self,
        message: shared::ports::FifoMessage,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<(), shared::ports::QueueError>> + Send + '_>,
    > {
        Box::pin(async move {
            // Only a signal is one the table no longer routes; anything else the router sent
            // here (an order intent put on the wrong queue included) is not a signal.
            let letter = shared::replay::DeadLetter::read(&message.body)
                .ok()
                .filter(|l| matches!(l, shared::replay::DeadLetter::Signal(_)));
            shared::ports::FifoQueue::send(&*self.dlq, message).await?;
            let base = self
                .dashboard
                .base
                .get()
                .map_or("<this stack's URL>", String::as_str);
            let Some(letter) = letter else {
                // A body that is not a signal at all (the router dead-letters it at once).
                line(format_args!(
                    "a signals message that is not a signal: it is in {} (tvctl dlq list \
                     --local {base} --queue {}); the handlers' log says why",
                    self.dlq.name(),
                    self.dlq.name()
                ));
                return Ok(());
            };
            line(format_args!(
                "refused {} ({}): the routing table no longer routes it; it is in {} (tvctl dlq \
                 list --local {base} --queue {}); the handlers' log says why",
                letter.signal_id(),
                letter.summary(),
                self.dlq.name(),
                self.dlq.name()
            ));
            self.dashboard
                .no_longer_routes(letter.signal_id().as_str(), self.dlq.name());
            Ok(())
        })
    }
}

#[derive(Debug)]
pub struct Queues {
    pub signals: Queue,
    pub oanda: Queue,
    pub tradovate: Queue,
    pub coinbase: Queue,
}

impl Queues {
    pub fn all(&self) -> [&Queue; 4] {
        [&self.signals, &self.oanda, &self.tradovate, &self.coinbase]
    }

    /// The queue of `broker`'s executor.
    pub fn of(&self, broker: Broker) -> &Queue {
        match broker {
            Broker::Oanda => &self.oanda,
            Broker::Tradovate => &self.tradovate,
            Broker::Coinbase => &self.coinbase,
        }
    }

    pub fn by_name(&self, name: &str) -> Option<&Queue> {
        self.all()
            .into_iter()
            .find(|q| q.name() == name || q.dead_letters().is_some_and(|d| d.name() == name))
    }
}

pub struct LocalStack {
    pub addr: SocketAddr,
    pub queues: Arc<Queues>,
    pub journal: journal::AnyJournal,
    /// OANDA's and Tradovate's paper books, `None` for a real broker.
    pub netting: [(Broker, Option<Arc<PaperNetting>>); 2],
    /// The paper Coinbase wallet, `None` for a real Coinbase account (never stood in for it).
    pub spot: Option<Arc<PaperSpot>>,
    /// The webhook's admission control (its threshold, and what it would answer now).
    pub admission: Arc<admission::Admission>,
    /// The state: the queues' records, idempotency records, paper books (a file's, or in
    /// memory where the journal is not a file and no state path is given).
    pub state: Arc<LocalStore>,
}

impl std::fmt::Debug for LocalStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStack")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl LocalConfig {
    /// The journal's SQLite file when [`journal_url`](Self::journal_url) names one, as
    /// [`journal::Location`] reads it (a path, or a `sqlite:` / `sqlite://` URL); `None` for
    /// PostgreSQL, SQLite in memory, or a setting the journal refuses.
    pub fn journal_file(&self) -> Option<std::path::PathBuf> {
        match journal::Location::of(&self.journal_url) {
            journal::Location::File(path) => Some(path),
            _ => None,
        }
    }

    /// The journal as the console and errors name it ([`journal::shown`]): a file's path,
    /// else its kind, never a database URL (which can carry a password).
    pub fn journal_shown(&self) -> String {
        journal::shown(&self.journal_url)
    }

    /// Where the durable state lives: [`state_path`](Self::state_path), else beside the
    /// [`journal_file`](Self::journal_file) (`<journal stem>.state.sqlite`); `None` when it
    /// lives in memory.
    pub fn state_file(&self) -> Option<std::path::PathBuf> {
        if let Some(p) = &self.state_path {
            return Some(p.clone());
        }
        let path = self.journal_file()?;
        let stem = path.file_stem()?.to_string_lossy().into_owned();
        Some(path.with_file_name(format!("{stem}.state.sqlite")))
    }

    /// The file the handlers' JSON log lines go to (`tvctl dev` installs it): beside the state
    /// file (`<journal stem>.log`); `None` when the state is in memory.
    pub fn log_file(&self) -> Option<std::path::PathBuf> {
        let state = self.state_file()?;
        let name = state.file_name()?.to_string_lossy().into_owned();
        let first = match name.strip_suffix(".state.sqlite") {
            Some(stem) => format!("{stem}.log"),
            None => format!("{name}.log"),
        };
        // Never the journal (`j.log` beside `j.state.sqlite`) nor the state file: compared by
        // name, whatever way the directories are spelled.
        let journal = self.journal_file();
        let taken = |candidate: &str| {
            candidate == name
                || journal
                    .as_deref()
                    .and_then(std::path::Path::file_name)
                    .is_some_and(|j| j == candidate)
        };
        [first, format!("{name}.log"), format!("{name}.handlers.log")]
            .into_iter()
            .find(|candidate| !taken(candidate))
            .map(|log| state.with_file_name(log))
    }

    /// The executors' lease: it must end before the last receive of an unacknowledged
    /// message, so a takeover reconciles it before it is dead-lettered. Receives come at
    /// least one visibility timeout apart, so the last of `max_receives` comes no sooner than
    /// `(max_receives - 1) × visibility`; the lease is one visibility shorter than that (at
    /// least one visibility): 15 s for the default 5 receives of 5 s.
    pub fn lease(&self) -> Duration {
        let receives = i32::try_from(self.max_receives.saturating_sub(2).max(1)).unwrap_or(1);
        self.visibility_timeout * receives
    }
}

fn queue(
    name: &str,
    cfg: &LocalConfig,
    store: &Arc<LocalStore>,
    send_waits: bool,
) -> Result<Queue, String> {
    let now = shared::clock::Clock::now(&SystemClock);
    let log = store.clone() as Arc<dyn local_sqs::QueueLog>;
    let dlq_name = format!("{name}-dlq.fifo");
    let dlq = Arc::new(LocalFifoQueue::restore(
        LocalQueueConfig {
            name: dlq_name.clone(),
            visibility_timeout: cfg.visibility_timeout,
            max_receives: u32::MAX,
        },
        SystemClock,
        None,
        log.clone(),
        store.queue(&dlq_name, now)?,
    ));
    let main = format!("{name}.fifo");
    let saved = store.queue(&main, now)?;
    Ok(Arc::new(
        LocalFifoQueue::restore(
            LocalQueueConfig {
                name: main,
                visibility_timeout: cfg.visibility_timeout,
                max_receives: cfg.max_receives,
            },
            SystemClock,
            Some(dlq),
            log,
            saved,
        )
        .sends_wait_for_commit(send_waits),
    ))
}

/// The SQS event Lambda's event source mapping would deliver for these messages, built
/// field by field (the types are `non_exhaustive`: defaults, then assignments), without a
/// JSON round trip.
pub fn sqs_event<'a>(messages: impl IntoIterator<Item = &'a Received>, queue: &str) -> SqsEvent {
    let arn = format!("arn:aws:sqs:local:000000000000:{queue}");
    let records = messages
        .into_iter()
        .map(|m| {
            let mut r = aws_lambda_events::sqs::SqsMessage::default();
            r.message_id = Some(m.message_id.clone());
            r.receipt_handle = Some(m.receipt.clone());
            r.body = Some(m.body.clone());
            r.attributes = [
                ("ApproximateReceiveCount", m.receive_count.to_string()),
                ("MessageGroupId", m.group_id.clone()),
                ("MessageDeduplicationId", m.dedup_id.clone()),
                ("SentTimestamp", m.sent_at.timestamp_millis().to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            r.event_source = Some("aws:sqs".into());
            r.event_source_arn = Some(arn.clone());
            r.aws_region = Some("local".into());
            r
        })
        .collect();
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

/// What a consumer's batch handler answers: the records to retry with why, or a whole-batch
/// failure.
pub type BatchResult = Result<(SqsBatchResponse, Vec<(String, String)>), MissingMessageId>;

/// Why each record of a handled batch failed, by message id: the records the handler reported
/// failed (`batchItemFailures`) with the reason it gave, or every record of `messages` when
/// the whole batch failed (they come back after their visibility timeout). A record absent
/// here is done, to be deleted.
pub fn failed_records<'a>(
    messages: impl IntoIterator<Item = &'a Received>,
    result: BatchResult,
) -> HashMap<String, String> {
    match result {
        Ok((resp, errors)) => resp
            .batch_item_failures
            .into_iter()
            .map(|f| {
                let why = errors
                    .iter()
                    .find(|(id, _)| id == &f.item_identifier || id.is_empty())
                    .map_or_else(|| "reported failed".to_owned(), |(_, e)| e.clone());
                (f.item_identifier, why)
            })
            .collect(),
        Err(e) => messages
            .into_iter()
            .map(|m| (m.message_id.clone(), e.to_string()))
            .collect(),
    }
}

/// The received messages split by message group, each group in its order, groups in the
/// order their first message came.
fn by_group(batch: &[Received]) -> Vec<Vec<&Received>> {
    let mut groups: Vec<Vec<&Received>> = Vec::new();
    for m in batch {
        match groups.iter_mut().find(|g| g[0].group_id == m.group_id) {
            Some(g) => g.push(m),
            None => groups.push(vec![m]),
        }
    }
    groups
}

/// Plays the event source mapping for one queue, forever. Like the mapping of a FIFO queue,
/// which invokes a function for several message groups at once, it hands each message group
/// of what it received to an invocation of its own and runs them together; each invocation
/// handles its records in order, so a group never runs twice at once. Running them together
/// lets their claims and journal writes share commits.
async fn poll<F, Fut>(queue: Queue, dashboard: Arc<dashboard::Dashboard>, handler: F)
where
    F: Fn(SqsEvent) -> Fut,
    Fut: Future<Output = BatchResult>,
{
    loop {
        let mark = queue.mark();
        let batch = queue.receive(10);
        if batch.is_empty() {
            queue.wait(std::time::Duration::from_millis(100)).await;
            continue;
        }
        // A message received before (a redelivery), or restored from the queue file at start,
        // is handed over once its new receive count is on disk: a handler that ended the
        // process before the next commit (an abort, the out-of-memory killer) left the old
        // count, and the message came back after every restart with the same count, never
        // reaching the dead-letter queue (a first delivery that ended the process came back
        // as a first delivery each time). SQS counts a receive on its side; a first delivery
        // of a message sent to this process needs no wait.
        if batch
            .iter()
            .any(|m| m.receive_count > 1 || queue.was_restored(m))
        {
            // The messages stay invisible while the commit is awaited: a commit slower than
            // the visibility timeout (a large rewrite of the queue file, slow syncs) would let
            // another poller receive them, with a receive counted, while this one runs them.
            let heartbeat = queue.visibility_timeout() / 2;
            let mut beat =
                tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
            let flush = queue.flush(mark);
            tokio::pin!(flush);
            let flushed = loop {
                tokio::select! {
                    done = &mut flush => break done,
                    _ = beat.tick() => {
                        for m in &batch {
                            queue.extend(&m.receipt);
                        }
                    }
                }
            };
            if let Err(e) = flushed {
                tracing::warn!(queue = queue.name(), error = %e, "a redelivered or restored message's receive count not on disk before its handler");
            }
        }
        let groups = by_group(&batch);
        // While the handlers run their messages stay invisible (as a Lambda function's do for
        // the queue's visibility timeout, which covers the function's): a long execution is
        // never received a second time and raced by a takeover.
        // A handler that panics fails its own group's records (they come back, and after
        // enough receives go to the dead-letter queue) instead of ending this poller: on
        // Lambda a panic fails one invocation; here it would leave the queue with one consumer
        // fewer each time, and none at last, while the webhook still answered 200.
        // Each group is settled (deleted, or noted failed) as soon as its handler ends, as
        // each Lambda invocation of a FIFO mapping is: a group whose handler ended is not held
        // in flight while another waits on its broker (for up to the signal's budget), which
        // would hold back that group's next signal from every poller until it expired.
        let mut handled: futures_util::stream::FuturesUnordered<_> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let run = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
                    handler(sqs_event(g.iter().copied(), queue.name())),
                ));
                async move { (i, run.await) }
            })
            .collect();
        let mut running = vec![true; groups.len()];
        // One timer for the whole batch, not one per wait: groups ending one after another
        // must not put off the extension of one still running past its visibility timeout.
        let heartbeat = queue.visibility_timeout() / 2;
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let (i, result) = tokio::select! {
                next = futures_util::StreamExt::next(&mut handled) => match next {
                    Some(done) => done,
                    None => break,
                },
                _ = beat.tick() => {
                    for (group, _) in groups.iter().zip(&running).filter(|(_, r)| **r) {
                        for m in group {
                            queue.extend(&m.receipt);
                        }
                    }
                    continue;
                }
            };
            running[i] = false;
            let group = &groups[i];
            let failed = match result {
                Ok(result) => failed_records(group.iter().copied(), result),
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "no message".to_owned());
                    let why = format!("the handler panicked: {what}");
                    tracing::error!(queue = queue.name(), error = %why, "handler panicked");
                    group
                        .iter()
                        .map(|m| (m.message_id.clone(), why.clone()))
                        .collect()
                }
            };
            for m in group {
                match failed.get(&m.message_id) {
                    Some(why) => {
                        // On the console too: a signal that keeps failing ends in a dead-letter
                        // queue, and the journal has no row for it (it never got that far).
                        let last = m.receive_count >= queue.max_receives();
                        line(format_args!(
                            "failed {} message {} (receive {} of {}): {why}{}",
                            queue.name(),
                            m.message_id,
                            m.receive_count,
                            queue.max_receives(),
                            match (last, queue.dead_letters()) {
                                (true, Some(dlq)) => format!(
                                    "; next it goes to the dead-letter queue: tvctl dlq list \
                                     --local {} --queue {}",
                                    dashboard
                                        .base
                                        .get()
                                        .map_or("<this stack's URL>", String::as_str),
                                    dlq.name()
                                ),
                                _ => "; it comes back after the visibility timeout".to_owned(),
                            }
                        ));
                        if last && let Some(dlq) = queue.dead_letters() {
                            // A message read as a dead letter is read (`SignalMessage`,
                            // `OrderIntent`); one that does not parse has no signal to mark.
                            if let Ok(letter) = shared::replay::DeadLetter::read(&m.body) {
                                dashboard.dead_lettered(
                                    letter.signal_id().as_str(),
                                    queue.name(),
                                    dlq.name(),
                                    why,
                                );
                            }
                        }
                        queue.note_error(&m.receipt, why.clone());
                    }
                    None => {
                        queue.delete(&m.receipt);
                    }
                }
            }
        }
    }
}

fn executor(
    venue: AnyVenue,
    health: Health,
    journal: Journal,
    store: Arc<LocalStore>,
    risk: RiskConfig,
    cfg: &LocalConfig,
) -> Result<LocalExecutor, String> {
    // A paper broker keeps its fills in the state file, after the claim: the claim needs no
    // commit of its own before the order (see `Claims`).
    let store = console::AnnouncedClaims {
        claims: if venue.is_real() {
            local_store::Claims::orders_leave(store)
        } else {
            local_store::Claims::fills_in_this_file(store)
        },
        say: console::line,
    };
    Ok(Executor {
        dead_letters: None,
        venue: executor_runtime::health::Recorded {
            venue,
            health,
            clock: SystemClock,
        },
        store,
        journal,
        notifier: Arc::new(ConsoleNotifier),
        kill_switch: StaticKillSwitch(false),
        clock: SystemClock,
        metrics: Arc::new(DiscardMetrics),
        settings: ExecutorSettings {
            max_age: cfg.freshness.max_age,
            lease: cfg.lease(),
            // One process, one clock: a takeover here reads the same clock this attempt does.
            send_margin: executor_runtime::processor::ONE_CLOCK_SEND_MARGIN,
            // As deployed (`RECORD_TTL_DAYS`): a record outlives a dead letter's replay window
            // there (14 days in the dead-letter queue); here dead letters are kept until
            // replayed, so `tvctl dlq replay` also refuses a letter the journal shows filled.
            record_ttl: Duration::days(30),
            risk,
            // A fill is on the console and the dashboard as it happens.
            notify_fills: false,
        },
    })
}

/// How long after a start that found signals in progress (left by a run that ended mid-order)
/// the executors begin: longer than the longest settle time the brokers' clients wait for an
/// order to be listed (Tradovate's 2 s, then one poll; OANDA's and Coinbase's 0.5 s), since
/// none of them documents when an order whose answer was lost shows in its lists, and a
/// takeover that does not find it sends it again. Deployed, a takeover comes after the
/// attempt's 90 s lease.
pub const RESTART_TAKEOVER_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

tokio::task_local! {
    /// Set by [`WebhookQueue`] for the request this task handles: whether its send was
    /// dropped as a duplicate, or refused by admission control; read by the webhook once
    /// ingest has answered.
    static SENT: std::cell::Cell<Sent>;
}

/// What became of a webhook request's send ([`SENT`]).
#[derive(Debug, Clone, Copy, Default)]
struct Sent {
    /// Dropped as a resend inside the deduplication window.
    dropped: bool,
    /// Refused by admission control: the backlog was over its threshold.
    refused: Option<admission::Refusal>,
}

/// The webhook's queue: the signals queue, telling the request whose send it dropped as a
/// duplicate (a resend inside SQS FIFO's five-minute window) so its console line can say so.
/// Ingest answers such a resend `200 enqueued`, as it must on AWS, where SQS's answer does
/// not tell; locally the console can. The flag is the request's task's own ([`SENT`]:
/// ingest awaits the send in the task that handles the request), so two identical requests
/// at once are each told about their own send.
#[derive(Debug)]
///
/// Admission control is asked here, as the send is about to be made: after ingest has
/// authenticated and validated the request, so a wrong secret, an unknown route or a bad
/// alert gets its own answer during a backlog (not a `503` that asks for a resend that can
/// never be accepted), and the backlog's figures go only to a sender that holds the secret.
struct WebhookQueue {
    queue: Queue,
    admission: Arc<admission::Admission>,
}

impl shared::ports::FifoQueue for WebhookQueue {
    async fn send(
        &self,
        message: shared::ports::FifoMessage,
    ) -> Result<(), shared::ports::QueueError> {
        if let Err(r) = self.admission.admit() {
            // The webhook answers with the refusal's own 503 and `Retry-After`.
            let _ = SENT.try_with(|s| {
                s.set(Sent {
                    refused: Some(r),
                    ..s.get()
                });
            });
            return Err(shared::ports::QueueError::Unavailable {
                queue: self.queue.name().to_owned(),
                reason: format!("backlog {} over {}", r.backlog, r.threshold),
            });
        }
        if !self.queue.send_checked(message).await? {
            // Outside a webhook request's task (none today) there is nobody to tell.
            let _ = SENT.try_with(|s| {
                s.set(Sent {
                    dropped: true,
                    ..s.get()
                });
            });
        }
        Ok(())
    }
}

/// How the paper brokers' accounts are named (`paper-oanda`, …), as the journal names them.
const PAPER_ACCOUNT: &str = "paper-";

/// The account a state file from before the accounts were kept (2026-12-07) traded, as its
/// history names it: unknown, paper or real.
const UNRECORDED_ACCOUNT: &str =
    "an account not recorded (the state file is from before tvctl kept which account it traded)";

/// Which account each broker traded from each start (`LocalStore::broker_accounts`: broker,
/// account at its host, since), and the one it trades now, as the start keeps them.
#[derive(Debug, Default)]
struct AccountHistory {
    kept: Vec<(String, String, chrono::DateTime<chrono::Utc>)>,
    now: Vec<(Broker, String)>,
}

impl AccountHistory {
    /// `broker`'s account at `at` and now, when they differ; `None` when they are the same.
    /// Before the first start kept: every start keeps its accounts before it serves, so a
    /// signal from then came under a build that kept none (before 2026-12-07), on an account
    /// not recorded ([`UNRECORDED_ACCOUNT`]); taken as another where a real account trades now
    /// (a paper-era letter never trades it, whatever start came between), as the same where
    /// paper does.
    fn changed_since(
        &self,
        broker: Broker,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Option<(&str, &str)> {
        let now = self.now.iter().find(|(b, _)| *b == broker)?;
        let then = self
            .kept
            .iter()
            .rev()
            .find(|(b, _, since)| b == broker.as_str() && *since <= at);
        match then {
            Some(then) => (then.1 != now.1).then_some((then.1.as_str(), now.1.as_str())),
            None if !now.1.starts_with(PAPER_ACCOUNT) => Some((UNRECORDED_ACCOUNT, now.1.as_str())),
            None => None,
        }
    }
}

struct App {
    ingest: Ingest<WebhookQueue, SystemClock, Health>,
    queues: Arc<Queues>,
    journal: journal::AnyJournal,
    live: Arc<dashboard::Live>,
    /// The alert age limit the webhook and the executors hold (`LocalConfig::freshness`).
    max_age: chrono::Duration,
    /// How far ahead of this clock an alert's `timenow` may be (`LocalConfig::freshness`).
    max_skew: chrono::Duration,
    /// The account each broker trades (as its order legs are journaled: `paper-oanda`, the
    /// OANDA account id, ...).
    accounts: Vec<(Broker, String)>,
    /// Which account each broker traded from each start (the state file's), and now.
    account_history: AccountHistory,
    /// The routing table the router runs on: which broker a dead-lettered signal goes to.
    routing: shared::routing::RoutingTable,
    /// The journal's and the state file's databases and the handlers' log, locked for as long
    /// as the stack serves ([`database_locks`]).
    _database_locks: Vec<std::fs::File>,
}

async fn dashboard_state(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    dashboard::state(app.live.clone(), &headers).await
}

async fn dashboard_events(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    dashboard::events(app.live.clone(), &headers)
}

/// A host name the local stack answers to: loopback only, so a web page cannot reach it
/// through a DNS name that resolves to 127.0.0.1 (DNS rebinding).
fn loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty() => name,
        _ => host,
    };
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

fn forbidden(code: &str, message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

/// Keeps web pages out: the local stack trades, and a page the user visits could otherwise
/// post a `text/plain` alert to it (a CORS simple request needs no preflight). Browsers mark
/// every such request with `Origin`; TradingView, `tvctl` and curl send none. Only the
/// dashboard's own reads (a GET whose origin is the stack itself) may carry one, and any
/// request must name a loopback host. A GET a page makes without `Origin` (an image, a
/// script: no-cors) is marked `Sec-Fetch-Site: cross-site` or `same-site` by browsers that
/// send Fetch Metadata (<https://www.w3.org/TR/fetch-metadata/>): refused too, so a page
/// cannot have the stack read a real broker's positions for it.
async fn browser_guard(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let host = req
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    if let Some(h) = &host
        && !loopback_host(h)
    {
        return forbidden(
            "forbidden_host",
            "the local stack answers only to 127.0.0.1 or localhost",
        );
    }
    let other_site = req
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site" || v.as_bytes() == b"same-site");
    let origin = req.headers().get(axum::http::header::ORIGIN);
    if origin.is_some() || other_site {
        let own = host.as_deref().is_some_and(|h| {
            origin.is_none_or(|o| o.as_bytes() == format!("http://{h}").as_bytes())
        });
        if req.method() != Method::GET || !own || other_site {
            let path = shown_path(req.uri().path());
            tracing::warn!(method = %req.method(), path = %path, "browser request refused");
            line(format_args!(
                "refused a request from a web page ({} {path}): the local stack trades",
                req.method(),
            ));
            return forbidden(
                "browser_request",
                "requests from a web page (an Origin header, or Sec-Fetch-Site naming another site) are refused: the local stack trades; post alerts with tvctl send or curl",
            );
        }
    }
    next.run(req).await
}

/// A request's path as logs may show it: its first segment only, `/…` standing for the rest.
/// `/webhook/{secret}` carries the webhook secret (right or wrong, a secret all the same), and
/// a refused request may put one anywhere after the first segment.
fn shown_path(path: &str) -> String {
    let rest = path.strip_prefix('/').unwrap_or(path);
    match rest.split_once('/') {
        Some((first, _)) => format!("/{first}/…"),
        None => format!("/{rest}"),
    }
}

async fn webhook(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    body: axum::body::Bytes,
) -> Response {
    let (reply, sent) = SENT
        .scope(std::cell::Cell::new(Sent::default()), async {
            let reply = app
                .ingest
                .handle(WebhookRequest {
                    method: method.as_str(),
                    path: uri.path(),
                    source_ip: Some(peer.ip()),
                    body: &body,
                })
                .await;
            (reply, SENT.with(std::cell::Cell::get))
        })
        .await;
    if let Some(r) = sent.refused {
        app.live.dashboard.refused(
            503,
            "backlog",
            &format!("backlog {} over {}", r.backlog, r.threshold),
        );
        return r.response();
    }
    if method == Method::POST {
        let dashboard = &app.live.dashboard;
        match &reply.accepted {
            Some(a) => {
                let signal_id = a.signal_id.as_str();
                let shown = signal_id.get(..12).unwrap_or(signal_id);
                if sent.dropped {
                    line(format_args!(
                        "alert  {shown} is a resend of one queued in the last 5 minutes: \
                         dropped by the queue's deduplication window, as SQS FIFO drops it \
                         (answered 200, as on AWS); it is not executed again"
                    ));
                } else {
                    dashboard.accepted(
                        signal_id,
                        Some(a.broker),
                        Some(&a.instrument),
                        a.action.as_str(),
                    );
                    line(format_args!(
                        "alert  {shown} accepted -> {} {}",
                        a.broker.as_str(),
                        a.instrument
                    ));
                }
            }
            None => {
                let code = reply.body["error"]["code"].as_str().unwrap_or("");
                let message = reply.body["error"]["message"].as_str().unwrap_or("");
                // The caller's 401 names no cause; this operator's console and dashboard do.
                let message = match reply.operator_note {
                    Some(note) => format!("{message}: {note}"),
                    None => message.to_owned(),
                };
                // Not a refusal: the alert may be queued in memory (see the message).
                let what = match code {
                    "enqueue_failed" => {
                        dashboard.not_confirmed(reply.status, code, &message);
                        "not confirmed"
                    }
                    _ => {
                        dashboard.refused(reply.status, code, &message);
                        "refused"
                    }
                };
                line(format_args!(
                    "alert  {what} {} {code}: {message}",
                    reply.status
                ));
            }
        }
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(reply.body)).into_response();
    if let Some(allow) = reply.allow {
        response.headers_mut().insert(
            axum::http::header::ALLOW,
            axum::http::HeaderValue::from_static(allow),
        );
    }
    response
}

async fn positions(State(app): State<Arc<App>>) -> Response {
    axum::Json(app.live.local_positions().await).into_response()
}

/// How many signals `GET /local/trades` gives by default (`?limit=N` asks for others).
const TRADES_SHOWN: i64 = 500;
/// The most signals `GET /local/trades` gives (`?limit=N`), and the latest among which a start
/// of an id is looked up.
pub const TRADES_MAX: i64 = 10_000;

/// The latest `?limit` signals (500 by default, at most 10,000), oldest first, with their legs
/// (`AnyJournal::recent_executions`, two queries) and the replay audit; `more` says the
/// journal holds older ones.
async fn trades(
    State(app): State<Arc<App>>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let limit = match q.get("limit").map(|l| l.parse::<i64>()) {
        None => TRADES_SHOWN,
        Some(Ok(n)) if (1..=TRADES_MAX).contains(&n) => n,
        Some(_) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": format!("limit must be a whole number from 1 to {TRADES_MAX}")})),
            )
                .into_response();
        }
    };
    if let Some(wanted) = q.get("signal") {
        return one_signal(&app, wanted).await;
    }
    let read = async {
        let mut read = app.journal.recent_executions(limit + 1).await?;
        let more = read.len() as i64 > limit;
        read.truncate(limit as usize);
        read.reverse();
        let (signals, legs): (Vec<_>, Vec<_>) = read.into_iter().unzip();
        let orders: Vec<_> = legs.into_iter().flatten().collect();
        let replays = app.journal.replay_decisions().await?;
        Ok::<_, shared::execution::JournalError>(
            json!({"signals": signals, "orders": orders_json(&orders), "replays": replays, "limit": limit, "more": more}),
        )
    };
    match read.await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

/// Order rows as `/local/trades` answers them: each journal row with `quantity_unit`, what its
/// `quantity` counts (`OrderRecord::quantity_unit`: `units`, `contracts`, or a currency).
fn orders_json(orders: &[shared::execution::OrderRecord]) -> Vec<serde_json::Value> {
    orders
        .iter()
        .map(|o| {
            let mut v = json!(o);
            v["quantity_unit"] = json!(o.quantity_unit());
            v
        })
        .collect()
}

/// `GET /local/trades?signal=ID`: one signal and its legs, by its id or the start of it (4
/// to 32 hex characters, either case, as `tvctl trades` prints 12), a start looked up in the
/// whole journal. 400 for text that is no id, or a start several signals share (with how many,
/// up to 1,000, and five of their ids); 404, saying why it may be missing, when the journal holds none.
async fn one_signal(app: &App, wanted: &str) -> Response {
    let refuse = |status: StatusCode, error: String| {
        (status, axum::Json(json!({ "error": error }))).into_response()
    };
    // Ids are written in lowercase; one copied in capitals is the same id.
    let wanted = &wanted.to_ascii_lowercase();
    let hex = wanted
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !hex || !(4..=32).contains(&wanted.len()) {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!(
                "signal must be a signal id or its start: 4 to 32 hex characters, got {:?}",
                wanted.chars().take(64).collect::<String>()
            ),
        );
    }
    // A start shared by several signals is answered with how many (up to COUNTED, ids only)
    // and the first few ids, newest first, so the one wanted can be copied from the answer.
    const SHOWN: usize = 5;
    const COUNTED: usize = 1_000;
    let whole = wanted.parse::<shared::signal::SignalId>().ok();
    let read = async {
        // A start is looked for in the whole journal, reading ids only.
        let ids: Vec<shared::signal::SignalId> = match &whole {
            Some(id) => vec![id.clone()],
            None => {
                app.journal
                    .signal_ids_starting_with(wanted, COUNTED as i64 + 1)
                    .await?
            }
        };
        let mut found = Vec::new();
        let mut orders = Vec::new();
        let mut replays = Vec::new();
        if let [one] = ids.as_slice()
            && let Some((signal, legs)) = app.journal.execution(one).await?
        {
            // The signal and its legs from one snapshot; its replays once it is found (a whole
            // id may be in no row).
            orders = legs;
            replays = app.journal.replay_audits_of(one).await?;
            found.push(signal);
        }
        Ok::<_, shared::execution::JournalError>((ids, found, orders, replays))
    };
    match read.await {
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Ok((ids, ..)) if ids.len() > 1 => {
            let count = if ids.len() > COUNTED {
                format!("more than {COUNTED}")
            } else {
                ids.len().to_string()
            };
            let more = if ids.len() > SHOWN { ", …" } else { "" };
            let shown: Vec<&str> = ids.iter().take(SHOWN).map(|id| id.as_str()).collect();
            refuse(
                StatusCode::BAD_REQUEST,
                format!(
                    "{count} signals start with {wanted} ({}{more}): give more of the id",
                    shown.join(", ")
                ),
            )
        }
        Ok((_, found, ..)) if found.is_empty() => refuse(
            StatusCode::NOT_FOUND,
            format!(
                "{}: an accepted alert is journaled once its executor is done with it (a queued one is not yet: see `tvctl dlq list` for dead letters), and one refused at the webhook never is",
                if whole.is_some() {
                    format!("no signal {wanted} in the journal")
                } else {
                    format!("no signal starting with {wanted} in the journal")
                }
            ),
        ),
        Ok((_, found, orders, replays)) => axum::Json(
            json!({"signals": found, "orders": orders_json(&orders), "replays": replays, "limit": 1, "more": false}),
        )
        .into_response(),
    }
}

/// `GET /local/settings`: what an alert's `timenow` must hold to, as this stack holds it:
/// `{"max_alert_age_secs": N, "max_clock_skew_secs": M}` (at most N s old, at most M s
/// ahead of this clock). `tvctl dlq replay --local` judges a dead letter's age by the first
/// unless given `--max-age-secs`; `tvctl status` shows both.
async fn settings(State(app): State<Arc<App>>) -> Response {
    axum::Json(json!({
        "max_alert_age_secs": app.max_age.num_seconds(),
        "max_clock_skew_secs": app.max_skew.num_seconds(),
    }))
    .into_response()
}

async fn queues(State(app): State<Arc<App>>) -> Response {
    let list: Vec<_> = app
        .queues
        .all()
        .iter()
        .map(|q| {
            let dead: Vec<_> = q
                .dead_letters()
                .map(|d| d.peek())
                .unwrap_or_default()
                .into_iter()
                .map(|m| json!({"message_id": m.message_id, "group": m.group_id, "receive_count": m.receive_count,
                                "sent_at": m.sent_at, "last_error": m.last_error, "source_queue": m.source_queue, "body": m.body}))
                .collect();
            json!({"name": q.name(), "depth": q.depth(), "dead_letters": dead})
        })
        .collect();
    axum::Json(json!(list)).into_response()
}

/// What [`start`] refuses, judged before any broker client logs in and before any file is
/// made (`tvctl dev` calls it before it opens its log file): a journal setting the journal
/// refuses ([`journal::Location::Unusable`]), a state file named as a SQLite URI (`file:…`,
/// which SQLite would open as a URI while the state file's lock took the literal name), a
/// broker set only in part, and what [`refuse_unsafe`] refuses.
///
/// # Errors
/// What was wrong, in a sentence naming no secret.
pub async fn check(cfg: &LocalConfig, env: &impl Env) -> Result<(), String> {
    checked(cfg, env).await.map(|_| ())
}

/// [`check`], giving the real brokers' settings and the risk settings it read.
async fn checked(cfg: &LocalConfig, env: &impl Env) -> Result<Checked, String> {
    queue_settings(cfg)?;
    // The deployed webhook's rules for its secret (length, nothing a URL path would alter):
    // a secret it would refuse is refused here too, naming the rule, never the secret.
    // Locally the secret comes from `tvctl dev --secret` as often as from the variable.
    ingest::config::check_secret(
        secrecy::SecretString::from(cfg.secret.clone()),
        "WEBHOOK_SECRET",
    )
    .map_err(|e| match e {
        shared::config::ConfigError::Invalid { reason, .. } => {
            format!("the webhook secret (--secret or WEBHOOK_SECRET) {reason}")
        }
        other => other.to_string(),
    })?;
    // Risk files that do not parse fail the start, before any broker logs in.
    let risk = Risks::read(env)?;
    if cfg.journal_url.trim().is_empty() {
        // An unset variable in `--journal "$JOURNAL"`: SQLite would keep the journal in
        // memory and a restart would forget every trade.
        return Err(
            "the journal setting is empty: give a SQLite file path, `sqlite::memory:` for a \
             journal a restart forgets, or a PostgreSQL URL"
                .into(),
        );
    }
    if let journal::Location::Unusable(why) = journal::Location::of(&cfg.journal_url) {
        return Err(format!("the journal setting is unusable: {why}"));
    }
    journal::writable_parameters(&cfg.journal_url)?;
    // A path that exists must be a file: a directory or a device (`/dev/null`) fails only
    // once SQLite opens it, after the state file and the log beside it were made.
    for (what, path) in [
        ("journal", cfg.journal_file()),
        ("state file", cfg.state_file()),
    ] {
        if let Some(path) = path
            && let Ok(meta) = std::fs::metadata(&path)
            && !meta.is_file()
        {
            return Err(format!(
                "the {what} {} is {}: give a SQLite file's path (it is made if missing)",
                path.display(),
                if meta.is_dir() {
                    "a directory, not a file"
                } else {
                    "not a regular file"
                }
            ));
        }
    }
    // SQLite opens `:memory:` and an empty name in memory, and reads a name starting with
    // `file:` as a URI (<https://www.sqlite.org/inmemorydb.html>,
    // <https://www.sqlite.org/uri.html>): none is the file a state path promises.
    if let Some(state) = cfg.state_file() {
        let name = state.to_string_lossy();
        if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
            return Err(format!(
                "the state file `{name}` is not a file's path (SQLite would open it in memory \
                 or as a URI): give the file's path"
            ));
        }
    }
    files_apart(cfg)?;
    not_held(cfg)?;
    let brokers = real::Configured::load(env).await?;
    // Before any file is made or any client logs in.
    for (name, url) in [
        (
            "OANDA_BASE_URL",
            brokers.oanda.as_ref().map(|s| &s.base_url),
        ),
        (
            "TRADOVATE_BASE_URL",
            brokers.tradovate.as_ref().map(|s| &s.base_url),
        ),
        (
            "COINBASE_BASE_URL",
            brokers.coinbase.as_ref().map(|s| &s.base_url),
        ),
    ] {
        if let Some(url) = url {
            executor_runtime::http::check_base_url(name, url)?;
        }
    }
    refuse_unsafe(cfg, &brokers.names())?;
    Ok(Checked { brokers, risk })
}

/// The files a start writes, each with what it is: a file journal and SQLite's side files of
/// it, every file of the state file ([`local_store::state_files`]), and the handlers' log.
/// SQLite names a database's side files after the path the database resolves to (a symbolic
/// link to it followed), so they are named so here.
fn stack_files(cfg: &LocalConfig) -> Vec<(&'static str, std::path::PathBuf)> {
    let mut files = Vec::new();
    if let Some(journal) = cfg.journal_file() {
        let real = resolved(&journal);
        let side = |suffix: &str| {
            let mut name = real.as_os_str().to_owned();
            name.push(suffix);
            std::path::PathBuf::from(name)
        };
        files.extend([
            ("journal", journal.clone()),
            ("journal's write-ahead log", side("-wal")),
            ("journal's shared-memory index", side("-shm")),
            ("journal's rollback journal", side("-journal")),
        ]);
    }
    if let Some(state) = cfg.state_file() {
        let mut state_files = local_store::state_files(&state, &resolved(&state)).into_iter();
        // Second, so two main files on one path are named as such (not by their logs).
        if let Some(main) = state_files.next() {
            files.insert(usize::from(cfg.journal_file().is_some()), main);
        }
        files.extend(state_files);
    }
    if let Some(log) = cfg.log_file() {
        files.push(("handlers' log", log));
    }
    files
}

/// The journal's and the state file's databases (files only) and the handlers' log, with what
/// each is, as the file system resolves them and as given.
fn held_files(cfg: &LocalConfig) -> Vec<(&'static str, std::path::PathBuf, std::path::PathBuf)> {
    [
        ("journal", cfg.journal_file()),
        ("state file", cfg.state_file()),
        ("handlers' log", cfg.log_file()),
    ]
    .into_iter()
    .filter_map(|(what, path)| path.map(|p| (what, resolved(&p), p)))
    .collect()
}

/// Locks the files of [`held_files`] named in `only` (`flock` on each file itself; SQLite's own
/// locks are `fcntl` ones, which do not meet it on a local Linux file system): a database is
/// made with its directory if missing, the handlers' log only when `tvctl dev` made it.
/// A lock on the file, not on a name beside it: a second stack given the same journal or state
/// file under another name (a symbolic or hard link, a state file of its own beside a shared
/// journal) is refused, instead of two writers keeping two write-ahead logs of one database
/// (which corrupts its indexes) or writing their trades into one history.
///
/// The handle is closed only when the process ends: closing a descriptor of a file drops
/// every `fcntl` lock the process holds on it, SQLite's included. (A start refused here in a
/// process that runs another stack, as a test does, closes one.)
fn database_locks(cfg: &LocalConfig, only: &[&str]) -> Result<Vec<std::fs::File>, String> {
    let mut locks = Vec::new();
    for (what, path, given) in held_files(cfg) {
        if !only.contains(&what) {
            continue;
        }
        // The handlers' log is `tvctl dev`'s to make; locked when it exists.
        let log = what == "handlers' log";
        if log && !path.is_file() {
            continue;
        }
        make_dir_of(&path)?;
        let file = std::fs::OpenOptions::new()
            .create(!log)
            .truncate(false)
            .append(log)
            .write(!log)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(in_use(what, &given));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(format!(
                    "the {what} {}: cannot lock it: {e}",
                    given.display()
                ));
            }
        }
        locks.push(file);
    }
    Ok(locks)
}

/// Why the stack cannot listen on `port`; for a port in use, how to start on another
/// (`tvctl dev`'s `--port`, or `TVCTL_PORT`).
fn cannot_listen(port: u16, e: &std::io::Error) -> String {
    let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
        " (another tvctl dev, or another program, listens there: start on another port with \
         --port or TVCTL_PORT)"
    } else {
        ""
    };
    format!("cannot listen on 127.0.0.1:{port}: {e}{hint}")
}

fn in_use(what: &str, path: &std::path::Path) -> String {
    format!(
        "the {what} {} is in use by another process (another tvctl dev?)",
        path.display()
    )
}

/// Refuses, before anything is made, a start another process would refuse later: a journal
/// or state file that exists and another stack holds ([`database_locks`], the state file's
/// own lock), or a port something listens on. (A start that gets past this can still be
/// refused, when another stack takes them meanwhile.)
fn not_held(cfg: &LocalConfig) -> Result<(), String> {
    let mut held = held_files(cfg);
    if let Some(state) = cfg.state_file() {
        held.push(("state file", local_store::lock_path(&state), state));
    }
    for (what, path, given) in held {
        // Only what exists: probing must not make a file (nor wait on a FIFO's writer).
        if !path.is_file() {
            continue;
        }
        let Ok(file) = std::fs::OpenOptions::new().read(true).open(&path) else {
            continue;
        };
        if let Err(std::fs::TryLockError::WouldBlock) = file.try_lock() {
            return Err(in_use(what, &given));
        }
    }
    if cfg.port != 0 {
        std::net::TcpListener::bind(("127.0.0.1", cfg.port))
            .map_err(|e| cannot_listen(cfg.port, &e))?;
    }
    Ok(())
}

/// `path` as the file system resolves it, whether or not it exists yet: absolute, each
/// symbolic link along it followed (also one to a file or directory not made yet: what would
/// be made is made where it leads), `.` and `..` applied to what they follow once resolved.
/// Links are followed at most 40 times, as the kernel bounds them; past that (a loop) the
/// path is taken as written.
fn resolved(path: &std::path::Path) -> std::path::PathBuf {
    use std::collections::VecDeque;
    use std::ffi::OsString;
    use std::path::{Component, PathBuf};
    fn parts(p: &std::path::Path) -> VecDeque<OsString> {
        p.components()
            .filter(|c| !matches!(c, Component::RootDir | Component::Prefix(_)))
            .map(|c| c.as_os_str().to_owned())
            .collect()
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut pending = parts(&absolute);
    let mut out = PathBuf::from("/");
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        if part == "." {
            continue;
        }
        if part == ".." {
            out.pop();
            continue;
        }
        let next = out.join(&part);
        match std::fs::read_link(&next) {
            Ok(target) => {
                links += 1;
                if links > 40 {
                    return absolute;
                }
                if target.is_absolute() {
                    out = PathBuf::from("/");
                }
                // The link's parts first, then what followed the link.
                let mut front = parts(&target);
                front.append(&mut pending);
                pending = front;
            }
            Err(_) => out = next,
        }
    }
    out
}

/// Makes the directory `path` goes in, where its symbolic links lead ([`resolved`]: one to a
/// directory not made yet makes that directory, where `create_dir_all` on the link's name
/// would fail).
///
/// # Errors
/// The directory's path and the system's reason.
pub fn make_dir_of(path: &std::path::Path) -> Result<(), String> {
    match resolved(path).parent() {
        Some(dir) => std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display())),
        None => Ok(()),
    }
}

/// Whether `a` and `b` are one existing file under two names (a hard link).
fn same_inode(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether `path` is a SQLite database: its first 16 bytes are SQLite's header string
/// (<https://www.sqlite.org/fileformat.html#the_database_header>).
fn is_sqlite(path: &std::path::Path) -> bool {
    use std::io::Read;
    // A regular file only: opening a FIFO would wait for a writer.
    if !path.is_file() {
        return false;
    }
    let mut head = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == b"SQLite format 3\0")
}

/// Refuses a start that would write one file as two things: the journal and the state file
/// on one path, either on the other's write-ahead log, lock or queue file, or the handlers'
/// log appended to the journal. SQLite would open the other's log as a database, or the log
/// lines would land in its pages: the trade history and the idempotency records are what
/// would be lost. Also a journal or state file given as a side file of an existing SQLite
/// database (`x.sqlite-wal` beside `x.sqlite`, a state file's `.lock` or `.queues`), a
/// directory's path, an existing file of the other kind (a journal as the state file or the
/// reverse), and a journal named as a state file, which `tvctl report` refuses to read.
fn files_apart(cfg: &LocalConfig) -> Result<(), String> {
    for (what, path) in [
        ("journal", cfg.journal_file()),
        ("state file", cfg.state_file()),
    ] {
        // By its text: `Path::components` drops a trailing `.`.
        let directory = |bytes: &[u8]| {
            bytes.ends_with(b"/")
                || bytes.ends_with(b"/.")
                || bytes.ends_with(b"/..")
                || bytes == b"."
                || bytes == b".."
        };
        if let Some(path) = path
            && directory(path.as_os_str().as_encoded_bytes())
        {
            return Err(format!(
                "the {what} {} is a directory's path (it ends with `/`, `.` or `..`): give a \
                 file's path",
                path.display()
            ));
        }
    }
    let files = stack_files(cfg);
    let keys: Vec<_> = files.iter().map(|(_, p)| resolved(p)).collect();
    for (i, (what, path)) in files.iter().enumerate() {
        for (j, (other, other_path)) in files.iter().enumerate().skip(i + 1) {
            if keys[i] == keys[j] || same_inode(path, other_path) {
                return Err(format!(
                    "the {what} and the {other} would be one file ({}{}): give the journal \
                     and the state file (--journal, --state) paths of their own",
                    path.display(),
                    if path == other_path || keys[i] == *other_path || keys[j] == *path {
                        String::new()
                    } else {
                        format!(", also named {}", other_path.display())
                    }
                ));
            }
        }
    }
    for (what, path) in [
        ("journal", cfg.journal_file()),
        ("state file", cfg.state_file()),
    ] {
        let Some(path) = path else { continue };
        let name = path.to_string_lossy();
        for (suffix, is) in [
            ("-wal", "SQLite write-ahead log"),
            ("-shm", "SQLite shared-memory index"),
            ("-journal", "SQLite rollback journal"),
            (".lock", "lock"),
            (".queues", "queue file"),
            (".queues.new", "queue file's rewrite"),
        ] {
            if let Some(base) = name.strip_suffix(suffix)
                && is_sqlite(std::path::Path::new(base))
            {
                return Err(format!(
                    "the {what} {} is the {is} of the SQLite database {base}: give the \
                     {what}'s own path (a new file is made when there is none)",
                    path.display()
                ));
            }
        }
    }
    // An existing file of the other kind: state tables written into a journal (or the
    // journal's into a state file) would mix two files a trader keeps apart, and `tvctl
    // report` would read trades beside idempotency records.
    for (what, path, own, other_kind, theirs) in [
        (
            "journal",
            cfg.journal_file(),
            "signals",
            "a local stack's state file",
            "idempotency",
        ),
        (
            "state file",
            cfg.state_file(),
            "idempotency",
            "a journal",
            "signals",
        ),
    ] {
        let Some(path) = path.filter(|p| p.is_file()) else {
            continue;
        };
        let tables = local_store::tables_of(&path);
        if tables.iter().any(|t| t == theirs) && !tables.iter().any(|t| t == own) {
            return Err(format!(
                "the {what} {} is {other_kind} (it has the `{theirs}` table): give the \
                 {what}'s own path",
                path.display()
            ));
        }
    }
    if let Some(journal) = cfg.journal_file()
        && journal.to_string_lossy().ends_with(".state.sqlite")
    {
        return Err(format!(
            "the journal {} is named as a local stack's state file (`<stem>.state.sqlite`, \
             which `tvctl report` refuses to read as a journal): give the journal a name \
             without `.state`",
            journal.display()
        ));
    }
    Ok(())
}

/// Why an entry (`action`: `LONG_ENTRY`, or `SHORT_ENTRY` off a spot book; `None` for any
/// other) for `instrument` at `broker` would be refused for want of a size under the
/// risk settings this stack would read from `env` (`OANDA_RISK_CONFIG`, ...; unset, the
/// executor's defaults, which size no metal, CFD or crypto-quoted product; an instrument
/// quoted in a metal needs its own size and cap, a crypto-quoted one a `max_notional` of its
/// own or its class's): the refusal's text, or `None` when a size is configured. For `tvctl alert-template`, so an alert is not
/// set up that the webhook answers 200 and the executor then refuses.
///
/// # Errors
/// The risk settings' own error, naming the variable (as `tvctl dev` would refuse to start).
pub fn entry_without_size(
    env: &impl Env,
    broker: Broker,
    instrument: &str,
    action: &str,
) -> Result<Option<String>, String> {
    use executor_runtime::risk::{AssetClass, Refusal};
    let risks = Risks::read(env)?;
    // A short entry on a spot product (Coinbase) sells what is held: no size or cap applies
    // to it, nor to an exit.
    let class = AssetClass::of(broker, instrument);
    if !(action == "LONG_ENTRY" || (action == "SHORT_ENTRY" && !class.is_spot())) {
        return Ok(None);
    }
    let config = match broker {
        Broker::Oanda => &risks.oanda,
        Broker::Tradovate => &risks.tradovate,
        Broker::Coinbase => &risks.coinbase,
    };
    if let Some(refusal) = config.quoted_in_metal(broker, instrument) {
        return Ok(Some(refusal.to_string()));
    }
    // A crypto-quoted product (`ETH-BTC`) needs a section and a cap of its own or of its
    // class's: a size alone, which the lines below take as enough, is refused at every entry.
    if let Some(refusal) = config.crypto_cross_refusal(broker, instrument) {
        return Ok(Some(refusal.to_string()));
    }
    Ok(config
        .instrument(class, instrument)
        .size
        .is_none()
        .then(|| {
            Refusal::NoSize {
                instrument: instrument.to_owned(),
                class: class.as_str(),
            }
            .to_string()
        }))
}

/// What [`check`] read and judged, for the start.
struct Checked {
    brokers: real::Configured,
    risk: Risks,
}

/// The three local executors' risk settings, each read as the CDK gives each executor Lambda
/// its own `RISK_CONFIG` (`oandaRiskConfig`, ...): `OANDA_RISK_CONFIG` (inline TOML) or
/// `OANDA_RISK_CONFIG_FILE`, and the same for `TRADOVATE_` and `COINBASE_`; unset, the
/// executor's defaults. One file for all three would size each broker in another's units (a
/// `default_size` of 1,000 units of a currency pair is 1,000 contracts or 1,000 USD of
/// crypto), so the plain names are refused here, naming these.
struct Risks {
    oanda: RiskConfig,
    tradovate: RiskConfig,
    coinbase: RiskConfig,
    /// Where each came from, for the start-up line.
    shown: String,
}

impl Risks {
    fn read(env: &impl Env) -> Result<Self, String> {
        use executor_runtime::risk::{RISK_CONFIG, RISK_CONFIG_FILE};
        if let Some(name) = [RISK_CONFIG, RISK_CONFIG_FILE]
            .into_iter()
            .find(|n| env.optional(n).is_some())
        {
            return Err(format!(
                "{name} is read per executor here, as each executor Lambda has its own: set \
                 OANDA_{name}, TRADOVATE_{name} or COINBASE_{name}"
            ));
        }
        // The table this stack routes by: a Tradovate file's contract sections are judged
        // by the months it trades.
        let routing = RoutingTable::from_env(env).map_err(|e| e.to_string())?;
        let mut shown = Vec::new();
        let mut one = |broker: &str, defaults: &str, named: Broker| {
            /// `env` with every name read under the broker's prefix.
            struct Prefixed<'a, E>(&'a E, &'a str);
            impl<E: Env> Env for Prefixed<'_, E> {
                fn get(&self, name: &str) -> Option<String> {
                    self.0.get(&format!("{}_{name}", self.1))
                }
            }
            let prefixed = Prefixed(env, broker);
            let source = match (
                prefixed.optional(RISK_CONFIG),
                prefixed.optional(RISK_CONFIG_FILE),
            ) {
                (Some(_), _) => format!("{broker}_{RISK_CONFIG}"),
                (None, Some(path)) => format!("{broker}_{RISK_CONFIG_FILE} {path}"),
                (None, None) => "defaults".to_owned(),
            };
            shown.push(format!("{} {source}", broker.to_lowercase()));
            RiskConfig::from_env(&prefixed, defaults, named, Some(&routing)).map_err(|e| match e {
                shared::config::ConfigError::Invalid { name, reason } => {
                    shared::config::ConfigError::Invalid {
                        name: format!("{broker}_{name}"),
                        reason,
                    }
                    .to_string()
                }
                other => other.to_string(),
            })
        };
        let oanda = one("OANDA", executor_oanda::config::DEFAULT_RISK, Broker::Oanda)?;
        let tradovate = one(
            "TRADOVATE",
            executor_tradovate::config::DEFAULT_RISK,
            Broker::Tradovate,
        )?;
        let coinbase = one(
            "COINBASE",
            executor_coinbase::config::DEFAULT_RISK,
            Broker::Coinbase,
        )?;
        Ok(Self {
            oanda,
            tradovate,
            coinbase,
            shown: shown.join(", "),
        })
    }
}

/// The shortest visibility timeout the local queues take, in seconds (see [`queue_settings`]).
pub const MIN_VISIBILITY_SECS: f64 = 5.0;

/// The queues' visibility timeout and receive count, as SQS bounds them (visibility 0 s to
/// 12 h, `maxReceiveCount` 1 to 1,000:
/// <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html>,
/// <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html>),
/// narrowed to what keeps a signal executed once here. A message's visibility is extended every
/// half of it while its signal executes, and the executors' lease is made of it
/// ([`LocalConfig::lease`]): with a short one, a pause of a busy machine (or, under a second,
/// none at all: `--visibility-secs 0` filled one order twice) lets the message come back and a
/// second executor take the signal over while the first still sends. 5 s (the default) leaves
/// 2.5 s between extensions. Fewer than 3 receives leave no receive after the lease
/// ([`LocalConfig::lease`]) for a takeover to reconcile an attempt that crashed before the
/// message is dead-lettered. (An unknown outcome is not left to a redelivery: the executor
/// sends it to its dead-letter queue at once, and a replay from there takes it over.)
fn queue_settings(cfg: &LocalConfig) -> Result<(), String> {
    let secs = cfg.visibility_timeout.num_milliseconds() as f64 / 1000.0;
    if secs < MIN_VISIBILITY_SECS {
        return Err(format!(
            "the visibility timeout is {secs} s: give {MIN_VISIBILITY_SECS} to 43200 seconds; \
             a shorter one can bring a message back while its signal is still executing"
        ));
    }
    if secs > 43_200.0 {
        return Err(format!(
            "the visibility timeout is {secs} s: give {MIN_VISIBILITY_SECS} to 43200 seconds \
             (12 hours, the most SQS allows)"
        ));
    }
    if !(3..=1_000).contains(&cfg.max_receives) {
        return Err(format!(
            "max receives is {}: give 3 to 1000 (5 is the default)",
            cfg.max_receives
        ));
    }
    Ok(())
}

/// What the stack does not start with when real brokers (`configured`, by name) trade: the
/// README's default secret, or its queues and idempotency records in memory, where a crash or
/// a restart could lose an accepted alert or send its order twice. Judged before any broker
/// client logs in and before any file is made.
fn refuse_unsafe(cfg: &LocalConfig, configured: &[&str]) -> Result<(), String> {
    if configured.is_empty() {
        return Ok(());
    }
    let names = configured.join(", ");
    if cfg.secret == LOCAL_SECRET {
        return Err(format!(
            "refusing to start: a real broker is configured ({names}) and the webhook secret is \
             the local default, which is printed in the README; set WEBHOOK_SECRET (at least 16 \
             URL-safe characters; `tvctl dev --secret` works too, but shows in the process list) \
             or unset the broker's variables to trade on paper"
        ));
    }
    if cfg.state_file().is_none() {
        return Err(format!(
            "refusing to start: a real broker is configured ({names}) and the local state \
             (queues, idempotency records) would live in memory, because the journal ({}) is \
             not a SQLite file: a crash or a restart could then lose an accepted alert or send \
             its order twice; give a SQLite journal file, or a state file (`tvctl dev --state \
             PATH`)",
            cfg.journal_shown()
        ));
    }
    Ok(())
}

/// How far the local files keep a commit with the brokers `configured` (by name) trading: past
/// a power cut when any is real, since a claim lost with it would let the restart send that
/// signal's orders again; past the process only on paper, where an `fsync` per commit would
/// cap the signal rate and a lost commit costs paper orders alone.
fn durability_for(configured: &[&str]) -> Durability {
    if configured.is_empty() {
        Durability::ProcessCrash
    } else {
        Durability::PowerLoss
    }
}

/// The longest the start waits for a PostgreSQL journal's first read.
const JOURNAL_CHECK: std::time::Duration = std::time::Duration::from_secs(10);

/// The longest the start waits for the journal's fills for the dashboard ([`Dashboard::restore`]).
const RESTORE_READ: std::time::Duration = std::time::Duration::from_secs(5);

/// The longest the background read of the journal's newest signals for the dashboard may take
/// ([`Dashboard::relist`]); the stack is serving meanwhile.
const RELIST_READ: std::time::Duration = std::time::Duration::from_secs(30);

/// Refuses a new state file (`path`, holding no idempotency record nor paper fill) beside a
/// journal that received a signal within the alert age limit (and the clock skew allowed):
/// the state file keeps which signals executed (their idempotency records and the webhook's
/// dedup window), so TradingView resending that alert now would execute it again, with a
/// real broker a second order. A journal file not made yet passes; one that cannot be read
/// passes, said on the console (the start reads the journal again later, and fails if it
/// cannot).
async fn new_state_beside_recent_signals(
    cfg: &LocalConfig,
    path: &std::path::Path,
) -> Result<(), String> {
    // A journal file not made yet, or one in memory (made empty at each start), holds no
    // signal; an unusable one fails the start later, naming why.
    match journal::Location::of(&cfg.journal_url) {
        journal::Location::Postgres => {}
        journal::Location::File(file) if file.exists() => {}
        journal::Location::File(_) | journal::Location::Memory | journal::Location::Unusable(_) => {
            return Ok(());
        }
    }
    let read = tokio::time::timeout(JOURNAL_CHECK, async {
        journal::AnyJournal::open_read_only(&cfg.journal_url)
            .await?
            .recent_signals(1)
            .await
    })
    .await;
    let unchecked = |why: String| {
        let said = format!(
            "the state file {} is new, and the journal could not be read to check for an alert \
             it received in the last {} s ({why}): starting without that check; if this journal \
             took one on another state file, TradingView resending it would execute it again",
            path.display(),
            (cfg.freshness.max_age + cfg.freshness.max_skew).num_seconds()
        );
        tracing::warn!("{said}");
        line(format_args!("{said}"));
    };
    let latest = match read {
        Ok(Ok(latest)) => latest,
        Ok(Err(e)) => {
            unchecked(e.to_string());
            return Ok(());
        }
        Err(_) => {
            unchecked(format!("no answer within {} s", JOURNAL_CHECK.as_secs()));
            return Ok(());
        }
    };
    let Some(record) = latest.first() else {
        return Ok(());
    };
    let Some(received) = record.stages.received else {
        return Ok(());
    };
    let now = shared::clock::Clock::now(&SystemClock);
    let window = cfg.freshness.max_age + cfg.freshness.max_skew;
    let age = now - received;
    // A resend is accepted while its `timenow` is within the age limit, and an alert stamped
    // ahead (a larger skew allowed when it came) stays so past its receipt's window.
    let ends = match stamped(record) {
        Some(stamp) => (received + window).max(stamp + cfg.freshness.max_age),
        None => received + window,
    };
    if now >= ends {
        return Ok(());
    }
    let wait = (ends - now).num_seconds() + 1;
    // A signal stamped ahead of this clock (a clock set back, a journal from a machine ahead).
    let when = if age < chrono::Duration::zero() {
        format!(
            "a signal stamped {} s ahead of this clock",
            (-age).num_seconds()
        )
    } else {
        format!("a signal {} s ago", age.num_seconds())
    };
    Err(format!(
        "the state file {} is new (no signal executed on it), but the journal ({}) received \
         {when}: the state file keeps which signals already executed, so TradingView resending \
         that alert within the {} s age limit (and {} s of clock skew) would execute it again \
         (with a real broker, a second order). Start with the state file that goes with this \
         journal, or start again in {wait} s, once its latest alert is past the age limit",
        path.display(),
        cfg.journal_shown(),
        cfg.freshness.max_age.num_seconds(),
        cfg.freshness.max_skew.num_seconds()
    ))
}

/// The `timenow` a journaled signal was stamped with, read from its normalized text (the
/// routed intent's `signal_time`, or the alert's `market_data.timenow`); `None` when neither
/// reads.
fn stamped(record: &shared::execution::SignalRecord) -> Option<chrono::DateTime<chrono::Utc>> {
    let value: serde_json::Value = record.normalized.read().ok()?;
    value
        .get("signal_time")
        .or_else(|| value.pointer("/alert/market_data/timenow"))
        .and_then(serde_json::Value::as_str)
        .and_then(|t| t.parse().ok())
}

/// Starts everything; returns once the HTTP listener is bound.
pub async fn start(cfg: LocalConfig, env: &impl Env) -> Result<LocalStack, String> {
    let Checked { brokers, risk } = checked(&cfg, env).await?;
    // The port first: a port in use fails the start before any file is made.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", cfg.port))
        .await
        .map_err(|e| cannot_listen(cfg.port, &e))?;
    // The state file's lock first, then its store: a state file that cannot be opened fails
    // the start before the journal's file is made.
    // Whether this start makes the state file: a refusal below removes what it made.
    let state_existed = cfg.state_file().is_some_and(|p| p.exists());
    let durability = durability_for(&brokers.names());
    let mut locks = database_locks(&cfg, &["state file", "handlers' log"])?;
    let store = Arc::new(match cfg.state_file() {
        Some(path) => {
            make_dir_of(&path)?;
            line(format_args!(
                "state: {} (idempotency records, paper books); queues: {}{}",
                path.display(),
                local_store::queue_file_path(&path).display(),
                match durability {
                    Durability::PowerLoss =>
                        " (synced to disk at each commit, with the journal: a real broker trades)",
                    Durability::ProcessCrash => "",
                }
            ));
            let store = LocalStore::open_with(&path, durability).map_err(|e| e.to_string())?;
            for note in store.opening_notes() {
                line(format_args!("{note}"));
            }
            // Judged by what the file holds, not whether it existed: a start that made it and
            // stopped before any signal (a journal out of reach, a refusal) leaves it empty.
            if !store
                .has_executed()
                .map_err(|e| format!("local state: {e}"))?
                && let Err(refused) = new_state_beside_recent_signals(&cfg, &path).await
            {
                // What this start made, holding nothing, goes: left, an empty queue file
                // without its state file would be refused at the next start for the wrong
                // reason.
                drop(store);
                drop(locks);
                if !state_existed {
                    let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                    for (_, file) in local_store::state_files(&path, &real) {
                        let _ = std::fs::remove_file(file);
                    }
                }
                return Err(refused);
            }
            store
        }
        None => {
            line(format_args!(
                "state: in memory (the journal is not a file): a restart forgets the queues"
            ));
            LocalStore::in_memory().map_err(|e| e.to_string())?
        }
    });
    // The state file is this process's alone (`LocalStore::open` locks it): every lease in
    // it was held by a process that has ended, so a takeover may reconcile at once. Counted:
    // the leases live now or within the wait (and the hand-over skew) before, since an
    // attempt may send until just before its lease ends, and a restart can follow a kill
    // within a second (or a start refused after ending them, `release_leases`).
    let released = store
        .release_leases(
            shared::clock::Clock::now(&SystemClock),
            Duration::from_std(RESTART_TAKEOVER_WAIT).unwrap_or_default(),
        )
        .map_err(|e| format!("local state: {e}"))?;
    // A signal the last run left mid-order is looked up before anything is sent again; the
    // executors start only after the brokers' longest settle time, so an order that run sent
    // just before it ended has had that time to be listed.
    let takeover_wait = if released > 0 {
        line(format_args!(
            "took over {released} signal(s) the last run was executing when it ended: the \
             executors start in {} s and reconcile them by client order id",
            RESTART_TAKEOVER_WAIT.as_secs()
        ));
        RESTART_TAKEOVER_WAIT
    } else {
        std::time::Duration::ZERO
    };
    let queues = Arc::new(Queues {
        // The webhook's 200 waits for its alert's commit; the router's sends to the broker
        // queues need not (see `sends_wait_for_commit`): an order waits for its claim's
        // commit, which comes after theirs.
        signals: queue("signals", &cfg, &store, true)?,
        oanda: queue("oanda", &cfg, &store, false)?,
        tradovate: queue("tradovate", &cfg, &store, false)?,
        coinbase: queue("coinbase", &cfg, &store, false)?,
    });
    let restored: usize = queues.all().iter().map(|q| q.depth()).sum();
    if restored > 0 {
        line(format_args!(
            "restored {restored} queued message(s) from the queue file"
        ));
    }
    let routing = RoutingTable::from_env(env).map_err(|e| e.to_string())?;
    // Which table routes: a file given for a roll or a new instrument changes what every
    // continuous symbol trades, so the start says so.
    match env.optional(shared::routing::ROUTING_TABLE_FILE) {
        Some(file) => line(format_args!(
            "routing: {file} ({})",
            shared::routing::ROUTING_TABLE_FILE
        )),
        None => line(format_args!("routing: the embedded table")),
    }
    if let Some(file) = cfg.journal_file() {
        make_dir_of(&file)?;
    }
    locks.extend(database_locks(&cfg, &["journal"])?);
    let memory = journal::AnyJournal::connect_with(&cfg.journal_url, durability)
        .await
        .map_err(|e| e.to_string())?;
    // PostgreSQL connects on first use (as the executor Lambdas do, for a paused Aurora):
    // one read now, so a journal that cannot be reached fails the start by name instead of
    // every signal failing later while paper orders fill.
    if let journal::AnyJournal::Postgres(pg) = &memory {
        // A direct connection first: one refused fails at once (the pool would retry).
        let read = tokio::time::timeout(JOURNAL_CHECK, async {
            pg.check().await?;
            memory.recent_signals(1).await
        })
        .await;
        let why = match read {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!("no answer within {} s", JOURNAL_CHECK.as_secs())),
        };
        if let Some(why) = why {
            return Err(format!(
                "the journal ({}) cannot be used: {why}",
                cfg.journal_shown()
            ));
        }
    }
    line(format_args!("journal: {}", cfg.journal_shown()));
    line(format_args!(
        "alert age limit: {} s (older alerts are refused, and expire unexecuted)",
        cfg.freshness.max_age.num_seconds()
    ));
    let dashboard = Arc::new(Dashboard::default());
    // Told the stack's URL once it listens (below), for the commands the console suggests.
    let dashboard_for_base = dashboard.clone();
    let journal: Journal = Arc::new(ConsoleJournal(DashboardJournal {
        inner: ObservedJournal {
            inner: StateFirst {
                store: store.clone(),
                inner: memory.clone(),
            },
            observer: cfg.observer.clone(),
        },
        dashboard: dashboard.clone(),
    }));

    let paper_netting = |broker: Broker, account: &str| -> Result<Arc<PaperNetting>, String> {
        let book = store.paper_book(account)?.unwrap_or_default();
        Ok(Arc::new(PaperNetting::restore(
            broker,
            account,
            Arc::new(SystemClock),
            store.clone(),
            book,
        )))
    };
    // Where each real broker is reached, for the start line: practice and live differ only
    // by host (api-fxpractice.oanda.com and api-fxtrade.oanda.com, say).
    let hosts = [
        brokers
            .oanda
            .as_ref()
            .map(|s| shared::config::shown_host(&s.base_url)),
        brokers
            .tradovate
            .as_ref()
            .map(|s| shared::config::shown_host(&s.base_url)),
        brokers
            .coinbase
            .as_ref()
            .map(|s| shared::config::shown_host(&s.base_url)),
    ];
    let (oanda_venue, oanda_paper) = match real::oanda(brokers.oanda)? {
        Some(v) => (AnyVenue::Oanda(Arc::new(v)), None),
        None => {
            let p = paper_netting(Broker::Oanda, dashboard::paper_account(Broker::Oanda))?;
            (AnyVenue::Netting(p.clone()), Some(p))
        }
    };
    let (tradovate_venue, tradovate_paper) = match real::tradovate(brokers.tradovate).await? {
        Some(v) => (AnyVenue::Tradovate(Arc::new(v)), None),
        None => {
            let p = paper_netting(
                Broker::Tradovate,
                dashboard::paper_account(Broker::Tradovate),
            )?;
            (AnyVenue::Netting(p.clone()), Some(p))
        }
    };
    let spot_book = store
        .paper_book(dashboard::paper_account(Broker::Coinbase))?
        .unwrap_or_else(|| executor_runtime::paper::PaperBook {
            holdings: [("USD".to_owned(), cfg.usd_balance)].into_iter().collect(),
            ..Default::default()
        });
    let spot = Arc::new(PaperSpot::restore(
        dashboard::paper_account(Broker::Coinbase),
        Arc::new(SystemClock),
        store.clone(),
        spot_book,
    ));
    let (coinbase_venue, spot_paper) = match real::coinbase(brokers.coinbase)? {
        Some(v) => (AnyVenue::Coinbase(Arc::new(v)), None),
        None => (AnyVenue::Spot(spot.clone()), Some(spot.clone())),
    };
    for ((broker, v), host) in [
        (Broker::Oanda, &oanda_venue),
        (Broker::Tradovate, &tradovate_venue),
        (Broker::Coinbase, &coinbase_venue),
    ]
    .into_iter()
    .zip(hosts.clone())
    {
        match host {
            Some(host) => line(format_args!("broker {broker}: {} at {host}", v.describe())),
            None => line(format_args!("broker {broker}: {}", v.describe())),
        }
    }
    // Which account each broker trades, kept in the state file from the start it was first
    // set: an alert accepted while a broker traded one account (paper, say) and still queued
    // (a stack stopped or killed under load) must not execute on another (the real one set
    // since): the trader sent it to try the strategy. Such a start is refused, naming both.
    // The history also tells the status routes which journaled signals were this account's.
    let journaled_accounts: Vec<(Broker, String)> = [
        (Broker::Oanda, &oanda_venue),
        (Broker::Tradovate, &tradovate_venue),
        (Broker::Coinbase, &coinbase_venue),
    ]
    .into_iter()
    .map(|(broker, v)| {
        use executor_runtime::venue::Venue as _;
        (broker, v.account().to_owned())
    })
    .collect();
    let accounts_now: Vec<(Broker, String)> = [
        (Broker::Oanda, &oanda_venue),
        (Broker::Tradovate, &tradovate_venue),
        (Broker::Coinbase, &coinbase_venue),
    ]
    .into_iter()
    .zip(hosts.clone())
    .map(|((broker, v), host)| {
        use executor_runtime::venue::Venue as _;
        let account = match host {
            Some(host) => format!("{} at {host}", v.account()),
            None => v.account().to_owned(),
        };
        (broker, account)
    })
    .collect();
    let mut accounts_kept = store
        .broker_accounts()
        .map_err(|e| format!("local state: {e}"))?;
    // A state file kept no accounts before 2026-12-07, yet one of then may hold alerts it
    // accepted, on paper or on an account it did not name. For this check its history
    // starts, for each broker that trades a real account now, with an account not recorded:
    // queued alerts of then stop the start, as for any account changed, where a paper-era
    // alert could trade the real account set since (a start on paper still drains them).
    // Dead letters of then are judged so at their replay ([`AccountHistory::changed_since`]).
    // A new file holds no alert, and needs none.
    let unrecorded: Vec<(String, String, chrono::DateTime<chrono::Utc>)> = if accounts_kept
        .is_empty()
        && queues
            .all()
            .into_iter()
            .any(|q| q.depth() > 0 || q.dead_letters().is_some_and(|d| d.depth() > 0))
    {
        accounts_now
            .iter()
            .zip(hosts.iter())
            .filter(|(_, host)| host.is_some())
            .map(|((broker, _), _)| {
                (
                    broker.as_str().to_owned(),
                    UNRECORDED_ACCOUNT.to_owned(),
                    chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    accounts_kept.splice(0..0, unrecorded.iter().cloned());
    {
        // Every broker checked before any is kept: a refused start changes nothing.
        for (broker, account) in &accounts_now {
            let before = accounts_kept
                .iter()
                .rev()
                .find(|(b, _, _)| b == broker.as_str())
                .map(|(_, a, _)| a.as_str());
            if let Some(before) = before
                && before != account
            {
                let pending = queues.signals.depth() + queues.of(*broker).depth();
                if pending > 0 {
                    return Err(format!(
                        "broker {broker} trades {account} now, and {before} when the state \
                         file last ran: {pending} message(s) accepted then are still queued \
                         (the webhook's queue, for any broker, and {broker}'s) and could \
                         execute on {account}; not started. Start once more with the settings \
                         of that run, so they execute there or expire past the age limit, \
                         then with these"
                    ));
                }
            }
        }
        let started = shared::clock::Clock::now(&SystemClock);
        for (broker, account) in &accounts_now {
            store
                .note_broker_account(broker.as_str(), account, started)
                .map_err(|e| format!("local state: {e}"))?;
        }
    }
    // Which account each broker traded when, this start's included: a dead letter of a
    // signal that came while its broker traded another account is not replayed here.
    let account_history = AccountHistory {
        kept: store
            .broker_accounts()
            .map_err(|e| format!("local state: {e}"))?,
        now: accounts_now.clone(),
    };
    let health = Health::default();
    // What the journal already holds: paper positions carried over a restart keep their
    // average price on the dashboard, the paper books their prices, the status routes their
    // health. A journal that cannot be read leaves them without, and the stack starts.
    {
        use executor_runtime::venue::Venue as _;
        let mut paper: Vec<(Broker, String, u64)> = [
            (Broker::Oanda, &oanda_paper),
            (Broker::Tradovate, &tradovate_paper),
        ]
        .into_iter()
        .filter_map(|(b, p)| p.as_ref().map(|p| (b, p.account().to_owned(), p.orders())))
        .collect();
        if let Some(spot) = &spot_paper {
            paper.push((Broker::Coinbase, spot.account().to_owned(), spot.orders()));
        }
        // Books that never filled have no orders to restore; a real broker's positions are
        // read for the instruments of the journal's latest signals (and of the alerts to
        // come), so a position held over a restart is read, not shown as nothing held; the
        // latest signals also give the paper books their prices and the status routes their
        // brokers' health. A journal that does not answer soon (a PostgreSQL server down)
        // does not hold the webhook back.
        let books = paper.iter().any(|(_, _, orders)| *orders > 0);
        {
            let read = async {
                Ok::<_, shared::execution::JournalError>((
                    if books {
                        memory.all_orders().await?
                    } else {
                        Vec::new()
                    },
                    memory.recent_executions(500).await?,
                ))
            };
            match tokio::time::timeout(RESTORE_READ, read).await {
                Ok(Ok((orders, executions))) => {
                    let recent: Vec<shared::execution::SignalRecord> =
                        executions.iter().map(|(s, _)| s.clone()).collect();
                    dashboard.restore(&orders, &recent, &paper);
                    // A roll's paper close fills at its contract's latest alert close: those
                    // of the alerts journaled before the restart, oldest first.
                    for (broker, instrument, close) in dashboard::alert_closes(&recent) {
                        let book = match broker {
                            Broker::Oanda => &oanda_paper,
                            Broker::Tradovate => &tradovate_paper,
                            Broker::Coinbase => continue,
                        };
                        if let Some(book) = book {
                            book.note_price(instrument, close);
                        }
                    }
                    // `tvctl status` after a restart tells what it told before (a path a
                    // rejection degraded stays so until a success), not `unknown`.
                    let paper_now = |b: Broker| paper.iter().any(|(p, _, _)| *p == b);
                    // Whether the account `b` traded at `when` (the latest kept from a start
                    // before it) is today's; `None` before the state file kept any.
                    let in_force = |b: Broker, when: chrono::DateTime<chrono::Utc>| {
                        let then = accounts_kept
                            .iter()
                            .rev()
                            .find(|(kept, _, since)| kept == b.as_str() && *since <= when)?;
                        let now = accounts_now.iter().find(|(n, _)| *n == b)?;
                        Some(then.1 == now.1)
                    };
                    for (broker, at, event) in
                        dashboard::journaled_health(&executions, paper_now, in_force)
                    {
                        use shared::health::HealthStore as _;
                        // In memory: it cannot fail.
                        let _ = health.record(broker, at, event).await;
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "journal not read for the dashboard"),
                Err(_) => tracing::warn!(
                    secs = RESTORE_READ.as_secs(),
                    "journal not read for the dashboard in time"
                ),
            }
        }
    }
    // And the page lists the signals traded before a restart: read in the background, as a
    // display only, so the webhook never waits for it (two queries, but a PostgreSQL journal
    // may be far away, or down).
    {
        let (journal, dashboard) = (memory.clone(), dashboard.clone());
        tokio::spawn(async move {
            let read = journal.recent_executions(dashboard::MAX_SIGNALS as i64);
            match tokio::time::timeout(RELIST_READ, read).await {
                Ok(Ok(listed)) => dashboard.relist(&listed),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "journal's signals not listed on the dashboard")
                }
                Err(_) => tracing::warn!(
                    secs = RELIST_READ.as_secs(),
                    "journal's signals not listed on the dashboard in time"
                ),
            }
        });
    }

    // The real brokers' clients, for the dashboard's position reads.
    let real_venues: Vec<(Broker, AnyVenue)> = [
        (Broker::Oanda, &oanda_venue),
        (Broker::Tradovate, &tradovate_venue),
        (Broker::Coinbase, &coinbase_venue),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_real())
    .map(|(b, v)| (b, v.clone()))
    .collect();
    line(format_args!(
        "risk: {} (<BROKER>_RISK_CONFIG or _RISK_CONFIG_FILE size and cap orders)",
        risk.shown
    ));
    let executors = [
        (
            queues.oanda.clone(),
            executor(
                oanda_venue,
                health.clone(),
                journal.clone(),
                store.clone(),
                risk.oanda,
                &cfg,
            )?,
        ),
        (
            queues.tradovate.clone(),
            executor(
                tradovate_venue,
                health.clone(),
                journal.clone(),
                store.clone(),
                risk.tradovate,
                &cfg,
            )?,
        ),
        (
            queues.coinbase.clone(),
            executor(
                coinbase_venue,
                health.clone(),
                journal.clone(),
                store.clone(),
                risk.coinbase,
                &cfg,
            )?,
        ),
    ];
    let pollers = if cfg.consumers { cfg.pollers.max(1) } else { 0 };
    for (q, mut ex) in executors {
        // An unknown outcome goes to the broker queue's dead-letter queue, as in AWS.
        ex.dead_letters = q
            .dead_letters()
            .map(|d| d.clone() as Arc<dyn shared::ports::DeadLetterQueue>);
        let ex = Arc::new(ex);
        for _ in 0..pollers {
            let ex = ex.clone();
            let polled = poll(q.clone(), dashboard.clone(), move |event| {
                let ex = ex.clone();
                async move { ex.handle_batch_with_errors(event, None).await }
            });
            tokio::spawn(async move {
                tokio::time::sleep(takeover_wait).await;
                polled.await;
            });
        }
    }
    let mut router = Router::new(
        BrokerQueues {
            oanda: queues.oanda.clone(),
            tradovate: queues.tradovate.clone(),
            coinbase: queues.coinbase.clone(),
        },
        routing.clone(),
        SystemClock,
    );
    // Always: without market data the cache stays empty and the roll rule decides, but a hold
    // a run with market data left in the state file still keeps each continuous symbol from
    // going back a month.
    let fronts = LocalFronts {
        cache: front_months(env, &routing)?.unwrap_or_default(),
        store: store.clone(),
    };
    router = router.with_front_months(Arc::new(fronts), chrono::Duration::minutes(1));
    // A signal that no longer routes goes to the signals queue's dead-letter queue, as in AWS,
    // and the console and the dashboard say so.
    if let Some(dlq) = queues.signals.dead_letters() {
        router = router.with_dead_letters(Arc::new(RouterDeadLetters {
            dlq: dlq.clone(),
            dashboard: dashboard.clone(),
        }));
    }
    let router = Arc::new(router);
    for _ in 0..pollers {
        let router = router.clone();
        tokio::spawn(poll(
            queues.signals.clone(),
            dashboard.clone(),
            move |event| {
                let router = router.clone();
                async move { router.handle_batch_with_errors(event, None).await }
            },
        ));
    }

    let admission = admission::Admission::new(queues.clone(), cfg.freshness.max_age);
    let ingest = Ingest::new(
        WebhookQueue {
            queue: queues.signals.clone(),
            admission: admission.clone(),
        },
        SystemClock,
        &SecretString::from(cfg.secret.clone()),
        cfg.freshness,
        None,
        routing.clone(),
    )
    .with_health(health.clone());
    let netting = [
        (Broker::Oanda, oanda_paper),
        (Broker::Tradovate, tradovate_paper),
    ];
    let live = Arc::new(dashboard::Live {
        dashboard,
        real_reads: dashboard::RealReads::default(),
        sources: dashboard::Sources {
            queues: queues.clone(),
            netting: netting.clone(),
            spot: spot_paper.clone(),
            real: real_venues,
            health,
        },
    });
    if cfg.consumers {
        admission.spawn_meter();
    }
    let app = Arc::new(App {
        ingest,
        queues: queues.clone(),
        journal: memory.clone(),
        live,
        max_age: cfg.freshness.max_age,
        max_skew: cfg.freshness.max_skew,
        accounts: journaled_accounts,
        account_history,
        routing,
        _database_locks: locks,
    });
    // The dashboard's routes are GET only; any other method falls through to ingest, which
    // answers them as it did before the dashboard existed.
    let http = axum::Router::new()
        .route("/", axum::routing::get(dashboard::page).fallback(webhook))
        .route(
            "/dashboard/state",
            axum::routing::get(dashboard_state).fallback(webhook),
        )
        .route(
            "/dashboard/events",
            axum::routing::get(dashboard_events).fallback(webhook),
        )
        .route("/local/positions", axum::routing::get(positions))
        .route("/local/trades", axum::routing::get(trades))
        .route("/local/queues", axum::routing::get(queues_route))
        .route("/local/settings", axum::routing::get(settings))
        .route("/local/dlq", axum::routing::get(dlq_list))
        .route("/local/dlq/replay", axum::routing::post(dlq_replay))
        .route("/local/audit", axum::routing::post(audit))
        .fallback(webhook)
        .with_state(app);
    let http = layered(http);
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let _ = dashboard_for_base.base.set(format!("http://{addr}"));
    line(format_args!("dashboard: http://{addr}/"));
    tokio::spawn(serve(listener, http));
    Ok(LocalStack {
        addr,
        queues,
        journal: memory,
        netting,
        spot: spot_paper,
        admission,
        state: store,
    })
}

/// How long a client may take to send a request's headers, then its body: a slow or
/// unfinished request is dropped instead of holding a connection (and its memory) forever.
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// See [`HEADER_TIMEOUT`].
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The largest request body read (axum's default limit).
const MAX_BODY: usize = 2 * 1024 * 1024;

/// Reads the whole body within [`BODY_TIMEOUT`], answering `408` when it does not come.
async fn body_deadline(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await {
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            axum::Json(json!({ "error": { "code": "request_timeout",
                "message": format!("the request body did not arrive within {} s", BODY_TIMEOUT.as_secs()) }})),
        )
            .into_response(),
        Ok(Err(e)) => {
            let e = e.into_inner();
            // Over the read limit: the alert is far over ingest's own (16 KiB), and says so by
            // the same code.
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    axum::Json(json!({ "error": { "code": "payload_too_large",
                        "message": format!("the body is over {MAX_BODY} bytes; an alert may be at most {} bytes", shared::alert::MAX_BODY_BYTES) }})),
                )
                    .into_response()
            } else {
                (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({ "error": { "code": "body_unreadable", "message": e.to_string() }})),
                )
                    .into_response()
            }
        }
        Ok(Ok(bytes)) => {
            next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
    }
}

/// `routes` behind the local stack's HTTP guards: the browser guard (no `Origin`, a loopback
/// `Host`) and the body deadline ([`BODY_TIMEOUT`], at most 2 MiB read).
pub fn layered(routes: axum::Router) -> axum::Router {
    routes
        .layer(axum::middleware::from_fn(body_deadline))
        .layer(axum::middleware::from_fn(browser_guard))
}

/// Serves `app` on `listener`, HTTP/1.1, with [`HEADER_TIMEOUT`] on every request's headers
/// (hyper's `header_read_timeout`, which needs a timer: axum's `serve` sets none).
pub async fn serve(listener: tokio::net::TcpListener, app: axum::Router) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors, say: wait instead of spinning on the error.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            // The peer's address, as `into_make_service_with_connect_info` would give it.
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    let mut app = app.clone();
                    async move { tower_service::Service::call(&mut app, req).await }
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn queues_route(state: State<Arc<App>>) -> Response {
    queues(state).await
}

/// The queue whose dead-letter queue is `name`, or that is `name` itself (`oanda.fifo` names
/// its dead letters as well as `oanda-dlq.fifo` does, as `tvctl dlq --help` says).
fn source_of<'a>(app: &'a App, name: &str) -> Option<&'a Queue> {
    app.queues
        .all()
        .into_iter()
        .find(|q| q.name() == name || q.dead_letters().is_some_and(|d| d.name() == name))
}

fn dead_letter_queue<'a>(app: &'a App, name: &str) -> Option<&'a Queue> {
    source_of(app, name).and_then(|q| q.dead_letters())
}

/// 404 for a queue the local stack does not have, naming the ones it has.
fn no_such_dead_letter_queue(app: &App, name: &str) -> Response {
    let names: Vec<String> = app
        .queues
        .all()
        .into_iter()
        .filter_map(|q| q.dead_letters().map(|d| d.name().to_owned()))
        .collect();
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": format!(
            "no dead-letter queue {name}: the local stack's are {} (or name the queue they \
             belong to, such as signals.fifo)",
            names.join(", ")
        )})),
    )
        .into_response()
}

async fn dlq_list(
    State(app): State<Arc<App>>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let name = q.get("queue").map(String::as_str).unwrap_or("");
    let Some(dlq) = dead_letter_queue(&app, name) else {
        return no_such_dead_letter_queue(&app, name);
    };
    let mut list = Vec::new();
    for m in dlq.peek() {
        // An executor dead-letters an unknown outcome itself, with no receive error: the
        // journal has why (its status and reason), which the operator needs before a replay.
        let last_error = match m.last_error {
            Some(e) => Some(e),
            None => journaled_reason(&app, &m.body).await,
        };
        list.push(json!({"message_id": m.message_id, "group": m.group_id, "receive_count": m.receive_count,
                         "sent_at": m.sent_at, "last_error": last_error, "source_queue": m.source_queue, "body": m.body}));
    }
    axum::Json(json!(list)).into_response()
}

/// The journal's status and reason for the signal of a dead letter's `body` (`journaled
/// unknown: ...`); `None` when the body names no signal, or the journal has no row for it or
/// cannot be read.
async fn journaled_reason(app: &App, body: &str) -> Option<String> {
    let letter = shared::replay::DeadLetter::read(body).ok()?;
    let record = shared::execution::TradeJournal::signal(&app.journal, letter.signal_id())
        .await
        .ok()??;
    Some(record.journaled())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    queue: String,
    message_id: String,
    /// Past its staleness budget, replayed anyway (`tvctl dlq replay --force`).
    #[serde(default)]
    forced: bool,
    /// Sent back never marked forced, even when the letter was (`tvctl dlq replay
    /// --lookup-only`): the executor holds it to the age limit and sends nothing for it.
    #[serde(default)]
    lookup_only: bool,
}

/// Moves one dead letter back to the queue it came from: its own body (marked forced when
/// asked), under the dedup id `replay-<message id>`, as `tvctl dlq replay` sends it to SQS. The
/// request names the letter only: a body of the caller's is never queued, so this endpoint
/// cannot place an order the pipeline was not sent.
async fn dlq_replay(
    State(app): State<Arc<App>>,
    axum::Json(req): axum::Json<ReplayRequest>,
) -> Response {
    let Some(source) = source_of(&app, &req.queue) else {
        return no_such_dead_letter_queue(&app, &req.queue);
    };
    let Some(dlq) = source.dead_letters() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(letter) = dlq
        .peek()
        .into_iter()
        .find(|m| m.message_id == req.message_id)
    else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "no such message"})),
        )
            .into_response();
    };
    // Under the group its queue uses today (see `DeadLetter::group_id`), not the letter's own.
    let (group_id, body) = match shared::replay::DeadLetter::parse(&letter.body) {
        // Look-up only relies on the executors finding the signal stale: judged here by this
        // stack's own age limit, which its executors hold, whatever limit the caller used (a
        // `MAX_ALERT_AGE_SECS` in tvctl's shell below the stack's `--max-age-secs` sent back
        // a letter young enough to trade again).
        Ok(l) if req.lookup_only => {
            let now = shared::clock::Clock::now(&SystemClock);
            if let shared::replay::Decision::Refused { reason } =
                shared::replay::decide_lookup_only(&l, now, app.max_age)
            {
                return (
                    StatusCode::CONFLICT,
                    axum::Json(json!({"error": format!(
                        "not replayed, the letter is kept: {reason} (this stack's age limit)"
                    )})),
                )
                    .into_response();
            }
            (l.group_id(), l.lookup_only_body())
        }
        // An unforced replay of a letter past this stack's age limit would only end
        // `expired` in its executor, the letter gone and the caller told `replayed`: refused,
        // the letter kept, whatever limit the caller judged it by (a `MAX_ALERT_AGE_SECS` in
        // tvctl's shell above the stack's `--max-age-secs`).
        Ok(l) if !req.forced => {
            let now = shared::clock::Clock::now(&SystemClock);
            if let shared::replay::Decision::Refused { reason } =
                shared::replay::decide(&l, now, app.max_age, false)
            {
                return (
                    StatusCode::CONFLICT,
                    axum::Json(json!({"error": format!(
                        "not replayed, the letter is kept: {reason} (this stack's age limit)"
                    )})),
                )
                    .into_response();
            }
            (l.group_id(), l.replay_body(false))
        }
        Ok(l) => (l.group_id(), l.replay_body(req.forced)),
        Err(e) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({"error": format!("not replayed, the letter is kept: {e}")})),
            )
                .into_response();
        }
    };
    // A letter of a signal that came while its broker traded another account than now (the
    // stack restarted with other settings: paper, then real), or whose orders went to one, is
    // kept: replayed here, a look-up would read this account, find nothing of the earlier
    // attempt's and journal it `expired` over its `unknown`, and a forced replay would trade
    // this account (the idempotency record is the account's: a fresh claim here). Judged by
    // the state file's history of accounts, which has the host too (an attempt that failed its
    // journal write left no order rows), and by the journaled legs (the history starts with
    // this version).
    if let Ok(letter) = shared::replay::DeadLetter::parse(&letter.body) {
        use shared::execution::TradeJournal as _;
        let brokers: Vec<Broker> = match &letter {
            shared::replay::DeadLetter::Intent(i) => vec![i.broker],
            // Not routed yet: the broker the table routes it to (another broker's account
            // changed says nothing of it); one it does not route, any broker it may go to.
            shared::replay::DeadLetter::Signal(s) => {
                let market = &s.alert.market_data;
                match app.routing.route(
                    &market.exchange,
                    &market.symbol,
                    shared::clock::Clock::now(&SystemClock),
                ) {
                    Ok(route) => vec![route.broker],
                    Err(_) => vec![Broker::Oanda, Broker::Tradovate, Broker::Coinbase],
                }
            }
        };
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            app.journal.orders(letter.signal_id()),
        )
        .await;
        let legs = match read {
            Ok(Ok(legs)) => legs,
            Ok(Err(e)) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(json!({"error": format!(
                        "not replayed, the letter is kept: the journal could not be read for \
                         the accounts its orders went to ({e})"
                    )})),
                )
                    .into_response();
            }
            Err(_) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(json!({"error":
                        "not replayed, the letter is kept: the journal gave no answer within 5 s \
                         for the accounts its orders went to"
                    })),
                )
                    .into_response();
            }
        };
        // The account its broker traded when the stack received it (the state file's history,
        // by `received_at`, this clock's time as the starts are: an alert's `timenow` may be a
        // few seconds off either way), and where its journaled orders went.
        let received_at = match &letter {
            shared::replay::DeadLetter::Intent(i) => i.received_at,
            shared::replay::DeadLetter::Signal(s) => s.received_at,
        };
        let mut other: Vec<String> = brokers
            .iter()
            .filter_map(|b| {
                let (then, now) = app.account_history.changed_since(*b, received_at)?;
                Some(format!(
                    "{b} traded {then} when it came and trades {now} now"
                ))
            })
            .collect();
        for leg in &legs {
            if let Some((_, now)) = app.accounts.iter().find(|(b, _)| *b == leg.broker)
                && now != leg.account.as_str()
            {
                let said = format!(
                    "its orders went to {} at {}, which trades {now} now",
                    leg.account.as_str(),
                    leg.broker
                );
                if !other.contains(&said) {
                    other.push(said);
                }
            }
        }
        if !other.is_empty() {
            return (
                StatusCode::CONFLICT,
                axum::Json(json!({"error": format!(
                    "not replayed, the letter is kept: {}: a replay here would look up or \
                     trade the account set now, not the signal's; start the stack with the \
                     settings it came under to replay it",
                    other.join("; ")
                )})),
            )
                .into_response();
        }
    }
    // The letter leaves the dead-letter queue only once its copy is kept in the source queue.
    let mark = source.mark();
    if let Err(e) = source.try_send(shared::ports::FifoMessage {
        group_id,
        dedup_id: format!("replay-{}", req.message_id),
        body,
    }) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": format!("not replayed, the letter is kept: {e}")})),
        )
            .into_response();
    }
    dlq.remove(&req.message_id);
    if let Err(e) = source.flush(mark).await {
        // The copy stands in the source queue, and the queue file's next commit rewrites the
        // file from what stands after a lost write (`local_store::queue_file`): it runs.
        // Saying "not kept" would invite a second replay.
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            // `queued`: for `tvctl`, which audits it as replayed (it runs), not as failed.
            axum::Json(json!({"queued": true, "error": format!(
                "the replay is queued in {}, but its write to the queue file failed ({e}): it \
                 runs unless the stack stops before its next commit; do not replay it again",
                source.name()
            )})),
        )
            .into_response();
    }
    line(format_args!(
        "replay {} -> {}",
        req.message_id,
        source.name()
    ));
    StatusCode::NO_CONTENT.into_response()
}

async fn audit(
    State(app): State<Arc<App>>,
    axum::Json(audits): axum::Json<Vec<shared::replay::ReplayAudit>>,
) -> Response {
    use shared::replay::AuditLog;
    for a in &audits {
        if let Err(e) = app.journal.record_replay(a).await {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"error": e.to_string()})),
            )
                .into_response();
        }
        line(format_args!(
            "audit  {} {} {}",
            a.queue, a.message_id, a.result
        ));
    }
    StatusCode::NO_CONTENT.into_response()
}

/// The local router's front months: the market data's answers in memory (asked again at each
/// start), and each continuous symbol's hold in the state file
/// ([`LocalStore::hold_forward`]): a restart, whose cache starts empty, must not send `ES1!`
/// back to the contract before the one it traded (the account would end long one month and
/// short the other).
struct LocalFronts {
    cache: Arc<shared::front_month::MemoryFrontMonths>,
    store: Arc<LocalStore>,
}

impl shared::front_month::FrontMonthCache for LocalFronts {
    fn put<'a>(
        &'a self,
        front: &'a shared::front_month::FrontMonth,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> shared::front_month::BoxFuture<'a, Result<(), shared::ports::StoreError>> {
        self.cache.put(front, expires_at)
    }

    fn all(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> shared::front_month::BoxFuture<
        '_,
        Result<Vec<shared::front_month::FrontMonth>, shared::ports::StoreError>,
    > {
        self.cache.all(now)
    }

    fn hold_forward<'a>(
        &'a self,
        symbol: &'a str,
        routed: shared::front_month::Routed<'a>,
    ) -> shared::front_month::BoxFuture<'a, Result<String, shared::ports::StoreError>> {
        Box::pin(async move {
            self.store
                .hold_forward(symbol, routed)
                .await
                .map_err(|reason| shared::ports::StoreError { reason })
        })
    }
}

/// With `DATABENTO_API_KEY` set: front months from Databento, refreshed in memory every
/// `DATABENTO_REFRESH_MINUTES` (60) for `FRONT_MONTH_ROOTS` (by default the futures roots of
/// `routing`, the table in use: a `ROUTING_TABLE_FILE`'s own roots too);
/// `DATABENTO_BASE_URL` points the client elsewhere. Unset: the roll rule alone.
fn front_months(
    env: &impl Env,
    routing: &shared::routing::RoutingTable,
) -> Result<Option<Arc<shared::front_month::MemoryFrontMonths>>, String> {
    let Some(key) = env.optional("DATABENTO_API_KEY") else {
        return Ok(None);
    };
    let dataset = env
        .optional("DATABENTO_DATASET")
        .unwrap_or_else(|| front_month_refresher::DEFAULT_DATASET.to_owned());
    let source = front_month_refresher::Databento::new(
        &secrecy::SecretString::from(key),
        &dataset,
        env.optional("DATABENTO_BASE_URL").as_deref(),
    )
    .map_err(|e| e.to_string())?;
    let roots = front_month_roots(env, routing);
    let minutes: u64 = env
        .optional("DATABENTO_REFRESH_MINUTES")
        .map(|m| {
            m.parse()
                .map_err(|_| format!("DATABENTO_REFRESH_MINUTES={m:?}: not a whole number"))
        })
        .transpose()?
        .unwrap_or(60)
        .max(1);
    let cache = Arc::new(shared::front_month::MemoryFrontMonths::default());
    let shared_cache = cache.clone();
    line(format_args!(
        "front months: Databento ({dataset}), {} roots, every {minutes} min",
        roots.len()
    ));
    tokio::spawn(async move {
        loop {
            match front_month_refresher::refresh(&source, cache.as_ref(), &roots, &SystemClock)
                .await
            {
                Ok(n) => line(format_args!("front months: {n} cached from Databento")),
                Err(e) => line(format_args!("front months: {e}; the roll rule stands in")),
            }
            tokio::time::sleep(std::time::Duration::from_secs(minutes * 60)).await;
        }
    });
    Ok(Some(shared_cache))
}

/// The roots whose front months are asked of Databento: `FRONT_MONTH_ROOTS` (comma-separated,
/// upper-cased), else every futures root of `routing`, the table in use.
fn front_month_roots(env: &impl Env, routing: &shared::routing::RoutingTable) -> Vec<String> {
    match env.optional("FRONT_MONTH_ROOTS") {
        Some(list) => list
            .split(',')
            .map(|r| r.trim().to_ascii_uppercase())
            .filter(|r| !r.is_empty())
            .collect(),
        None => routing.futures_roots().map(str::to_owned).collect(),
    }
}

mod real {
    //! Real broker clients for the local stack: the executors' own settings and factories
    //! (`executor_*::config`), with the same variables and defaults as the Lambdas. A broker
    //! none of whose variables is set trades on its paper broker; a partly set one fails the
    //! start, naming what is missing.

    use super::venue::LocalTradovate;
    use executor_coinbase::config::CoinbaseSettings;
    use executor_coinbase::venue::CoinbaseVenue;
    use executor_oanda::config::OandaSettings;
    use executor_oanda::venue::OandaVenue;
    use executor_tradovate::client::ClientSettings as TvSettings;
    use executor_tradovate::config::TradovateSettings;
    use executor_tradovate::venue::VenueSettings;
    use secrecy::SecretString;
    use shared::clock::SystemClock;
    use shared::config::{BrokerSettings, Env};
    use shared::ports::{SecretError, SecretStore};
    use std::sync::Arc;

    /// Locally every credential is its variable: a `<NAME>_PARAM` (an SSM parameter name)
    /// cannot be read without AWS, and says so.
    struct NoSsm;

    impl SecretStore for NoSsm {
        async fn secret(&self, name: &str) -> Result<SecretString, SecretError> {
            Err(SecretError::Unavailable {
                name: name.to_owned(),
                reason: "SSM parameters are read only in AWS; set the variable itself".into(),
            })
        }
    }

    /// The real brokers the environment configures, read but not yet connected to: the
    /// start judges what it may do with them before any client logs in.
    pub struct Configured {
        pub oanda: Option<OandaSettings>,
        pub tradovate: Option<TradovateSettings>,
        pub coinbase: Option<CoinbaseSettings>,
    }

    impl Configured {
        /// Errors: a broker set only in part, naming what is missing.
        pub async fn load(env: &impl Env) -> Result<Self, String> {
            Ok(Self {
                oanda: OandaSettings::load_if_configured(env, &NoSsm)
                    .await
                    .map_err(|e| e.to_string())?,
                tradovate: TradovateSettings::load_if_configured(env, &NoSsm)
                    .await
                    .map_err(|e| e.to_string())?,
                coinbase: CoinbaseSettings::load_if_configured(env, &NoSsm)
                    .await
                    .map_err(|e| e.to_string())?,
            })
        }

        /// The brokers configured, by name.
        pub fn names(&self) -> Vec<&'static str> {
            [
                ("oanda", self.oanda.is_some()),
                ("tradovate", self.tradovate.is_some()),
                ("coinbase", self.coinbase.is_some()),
            ]
            .into_iter()
            .filter_map(|(name, set)| set.then_some(name))
            .collect()
        }
    }

    pub fn oanda(
        settings: Option<OandaSettings>,
    ) -> Result<Option<OandaVenue<SystemClock>>, String> {
        let Some(settings) = settings else {
            return Ok(None);
        };
        settings
            .venue(SystemClock)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    pub fn coinbase(
        settings: Option<CoinbaseSettings>,
    ) -> Result<Option<CoinbaseVenue<SystemClock>>, String> {
        let Some(settings) = settings else {
            return Ok(None);
        };
        settings
            .venue(SystemClock)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    /// Logs in to Tradovate (the first token).
    pub async fn tradovate(
        settings: Option<TradovateSettings>,
    ) -> Result<Option<LocalTradovate>, String> {
        let Some(settings) = settings else {
            return Ok(None);
        };
        let tokens = settings
            .tokens(
                TvSettings::default(),
                Arc::default(),
                Arc::default(),
                SystemClock,
                "local-stack",
            )
            .map_err(|e| e.to_string())?;
        settings
            .venue(Arc::new(tokens), SystemClock, VenueSettings::default())
            .await
            .map(Some)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {

    /// Databento is asked for the futures roots of the table in use: a table of one's own
    /// adds its roots (they were the shipped table's 19 whatever the table); the variable
    /// replaces them.
    #[test]
    fn front_months_are_asked_for_the_roots_of_the_table_in_use() {
        use shared::config::MapEnv;
        use shared::routing::RoutingTable;
        let shipped = RoutingTable::embedded();
        let none = MapEnv::new(Vec::<(&str, &str)>::new());
        let roots = super::front_month_roots(&none, &shipped);
        assert_eq!(roots.len(), 19, "{roots:?}");
        let own = include_str!("../../shared/routing.toml").replace(
            "[futures.ES]",
            "[futures.SIL]\nmonths = \"HKNUZ\"\nroll_day = 25\nroll_months_before = 1\n[futures.ES]",
        );
        let own = RoutingTable::from_toml(&own).unwrap();
        let roots = super::front_month_roots(&none, &own);
        assert!(roots.contains(&"SIL".to_owned()), "{roots:?}");
        assert_eq!(roots.len(), 20);
        let set = MapEnv::new([("FRONT_MONTH_ROOTS", " es, cl ,")]);
        assert_eq!(super::front_month_roots(&set, &own), ["ES", "CL"]);
    }

    /// The account a broker traded when a signal came is the latest kept from a start at or
    /// before it: a signal of the paper run, replayed after a start on a real account, is
    /// another account's (with or without order rows: an attempt that failed its journal
    /// write left none); one of this run's, or from before any kept, is not judged so.
    #[test]
    fn a_signal_is_of_the_account_its_broker_traded_when_it_came() {
        use shared::routing::Broker;
        let t = |m: u32| -> chrono::DateTime<chrono::Utc> {
            format!("2026-12-07T10:{m:02}:00Z").parse().unwrap()
        };
        let real = "101-001-0000000-002 at https://api-fxpractice.oanda.com";
        let history = super::AccountHistory {
            kept: vec![
                ("oanda".into(), "paper-oanda".into(), t(10)),
                ("oanda".into(), real.into(), t(20)),
                ("tradovate".into(), "paper-tradovate".into(), t(10)),
            ],
            now: vec![
                (Broker::Oanda, real.into()),
                (Broker::Tradovate, "paper-tradovate".into()),
            ],
        };
        assert_eq!(
            history.changed_since(Broker::Oanda, t(15)),
            Some(("paper-oanda", real))
        );
        assert_eq!(history.changed_since(Broker::Oanda, t(20)), None);
        assert_eq!(history.changed_since(Broker::Oanda, t(25)), None);
        // Before any start kept: a build that kept none, an account not recorded, another
        // than a real one now; on paper now, the same.
        assert_eq!(
            history.changed_since(Broker::Oanda, t(5)),
            Some((super::UNRECORDED_ACCOUNT, real)),
            "before any kept"
        );
        assert_eq!(history.changed_since(Broker::Tradovate, t(5)), None);
        assert_eq!(history.changed_since(Broker::Tradovate, t(15)), None);
        assert_eq!(history.changed_since(Broker::Coinbase, t(15)), None);
    }

    /// Alerts accepted while OANDA traded on paper and still queued when the stack stopped
    /// are not executed on the real account set since: the start is refused, naming both
    /// accounts and the count, before anything is read from or sent to the broker.
    #[tokio::test]
    async fn alerts_queued_on_paper_never_execute_on_a_real_account_set_since() {
        super::console::set_quiet(true);
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.sqlite");
        let cfg = || super::LocalConfig {
            port: 0,
            journal_url: dir.path().join("journal.sqlite").display().to_string(),
            state_path: Some(state.clone()),
            secret: "a-secret-of-its-own-1234".into(),
            ..Default::default()
        };
        let then =
            shared::clock::Clock::now(&shared::clock::SystemClock) - chrono::Duration::minutes(5);
        {
            let store = std::sync::Arc::new(super::LocalStore::open(&state).unwrap());
            store
                .note_broker_account("oanda", "paper-oanda", then)
                .unwrap();
            let signals = super::queue("signals", &cfg(), &store, true).unwrap();
            assert!(
                signals
                    .try_send(shared::ports::FifoMessage {
                        group_id: "EURUSD".into(),
                        dedup_id: "an-alert-tried-on-paper".into(),
                        body: "{}".into(),
                    })
                    .unwrap()
            );
            store.commit().unwrap();
        }
        let fake = broker_fakes::oanda::FakeOanda::start().await;
        let env = shared::config::MapEnv::new([
            ("OANDA_BASE_URL", fake.url.as_str()),
            ("OANDA_ACCOUNT", fake.account.as_str()),
            ("OANDA_SECRET", fake.token.as_str()),
        ]);
        let Err(err) = super::start(cfg(), &env).await else {
            panic!("started with an alert of the paper account queued")
        };
        assert!(
            err.contains("paper-oanda")
                && err.contains(fake.account.as_str())
                && err.contains("1 message(s)"),
            "{err}"
        );
        assert!(!err.contains(fake.token.as_str()), "{err}");
        assert!(fake.requests().is_empty(), "nothing was read or sent");
        // The account kept is still paper's: the refused start changed nothing.
        let store = super::LocalStore::open(&state).unwrap();
        let kept = store.broker_accounts().unwrap();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(kept[0].1, "paper-oanda");
    }

    /// A state file from before the accounts were kept (no history) holding an alert queued
    /// then: a start with a real OANDA account is refused, the account then named as not
    /// recorded, and changes nothing (a start on paper still drains it). Holding only a dead
    /// letter, the start goes on, and the history says the letter's time traded an account
    /// not recorded: its replay is refused as any other account's.
    #[tokio::test]
    async fn a_state_file_from_before_the_accounts_were_kept_trades_no_old_alert_on_a_real_account()
    {
        super::console::set_quiet(true);
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.sqlite");
        let cfg = || super::LocalConfig {
            port: 0,
            journal_url: dir.path().join("journal.sqlite").display().to_string(),
            state_path: Some(state.clone()),
            secret: "a-secret-of-its-own-1234".into(),
            ..Default::default()
        };
        let message = |dedup: &str| shared::ports::FifoMessage {
            group_id: "EURUSD".into(),
            dedup_id: dedup.into(),
            body: "{}".into(),
        };
        let fake = broker_fakes::oanda::FakeOanda::start().await;
        let env = shared::config::MapEnv::new([
            ("OANDA_BASE_URL", fake.url.as_str()),
            ("OANDA_ACCOUNT", fake.account.as_str()),
            ("OANDA_SECRET", fake.token.as_str()),
        ]);
        {
            let store = std::sync::Arc::new(super::LocalStore::open(&state).unwrap());
            let signals = super::queue("signals", &cfg(), &store, true).unwrap();
            assert!(signals.try_send(message("queued-before-history")).unwrap());
            store.commit().unwrap();
        }
        let Err(err) = super::start(cfg(), &env).await else {
            panic!("started with an alert of an account not recorded queued")
        };
        assert!(
            err.contains(super::UNRECORDED_ACCOUNT)
                && err.contains(fake.account.as_str())
                && err.contains("1 message(s)"),
            "{err}"
        );
        assert!(fake.requests().is_empty(), "nothing was read or sent");
        let kept = super::LocalStore::open(&state)
            .unwrap()
            .broker_accounts()
            .unwrap();
        assert!(kept.is_empty(), "the refused start kept nothing: {kept:?}");

        // Only a dead letter of then: the start goes on; the letter's time is an account not
        // recorded.
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.sqlite");
        let cfg = || super::LocalConfig {
            port: 0,
            journal_url: dir.path().join("journal.sqlite").display().to_string(),
            state_path: Some(state.clone()),
            secret: "a-secret-of-its-own-1234".into(),
            ..Default::default()
        };
        let then = shared::clock::Clock::now(&shared::clock::SystemClock);
        {
            let store = std::sync::Arc::new(super::LocalStore::open(&state).unwrap());
            let signals = super::queue("signals", &cfg(), &store, true).unwrap();
            let dlq = signals.dead_letters().unwrap();
            assert!(dlq.try_send(message("dead-before-history")).unwrap());
            store.commit().unwrap();
        }
        let stack = super::start(cfg(), &env).await.unwrap();
        let history = super::AccountHistory {
            kept: stack.state.broker_accounts().unwrap(),
            now: vec![(Broker::Oanda, format!("{} at 127.0.0.1", fake.account))],
        };
        let (was, _) = history
            .changed_since(Broker::Oanda, then)
            .expect("a letter of then is another account's");
        assert_eq!(was, super::UNRECORDED_ACCOUNT);
    }

    /// The router's front months in the local stack: a continuous symbol routed to the volume
    /// leader (a month past the roll rule's) is held there by the state file, so a restart,
    /// whose cache starts empty (or runs without market data), does not route it back to the
    /// roll rule's contract: the account would end long one month and short the other.
    #[tokio::test]
    async fn a_continuous_symbols_hold_outlives_a_restart() {
        use shared::front_month::{FrontMonth, FrontMonthCache, MemoryFrontMonths, Routed};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let now = shared::clock::test_epoch();
        let routed = |contract: &'static str, month: i64| Routed {
            contract,
            month,
            now,
            expires_at: now + shared::front_month::HELD_FOR,
        };
        {
            let cache = std::sync::Arc::new(MemoryFrontMonths::default());
            let leader = FrontMonth {
                root: "ES".into(),
                contract: "ESH7".into(),
                as_of: now,
            };
            cache
                .put(&leader, now + chrono::Duration::days(1))
                .await
                .unwrap();
            let fronts = super::LocalFronts {
                cache,
                store: std::sync::Arc::new(super::LocalStore::open(&path).unwrap()),
            };
            assert_eq!(fronts.all(now).await.unwrap(), vec![leader]);
            assert_eq!(
                fronts.hold_forward("ES1!", routed("ESH7", 15)).await,
                Ok("ESH7".into())
            );
        }
        let fronts = super::LocalFronts {
            cache: std::sync::Arc::default(),
            store: std::sync::Arc::new(super::LocalStore::open(&path).unwrap()),
        };
        assert!(fronts.all(now).await.unwrap().is_empty());
        assert_eq!(
            fronts.hold_forward("ES1!", routed("ESZ6", 12)).await,
            Ok("ESH7".into())
        );
    }

    /// A notification's console line carries its whole text, whose end says what the account
    /// still holds (a trial's refusal was cut at 400 characters just before it); only a text
    /// past the limit is cut, and the line says so.
    #[test]
    fn a_notify_line_carries_the_whole_text_or_says_where_it_was_cut() {
        let note = |message: String| shared::ports::Notification {
            subject: "tradovate Refused: SHORT_ENTRY ESH7".into(),
            message,
            urgent: false,
        };
        let refusal = format!(
            "signal 0123 ended Refused: {}; nothing was sent; the account still holds long 1 in ESH7",
            "the open size 4 is over the max_position 3 ".repeat(12)
        );
        assert!(refusal.len() > 400);
        let line = super::console_note(&note(refusal.clone()));
        assert_eq!(
            line,
            format!("notify tradovate Refused: SHORT_ENTRY ESH7: {refusal}")
        );
        let long = "é".repeat(super::NOTE_MAX_CHARS + 1);
        let line = super::console_note(&note(long));
        assert!(
            line.ends_with(&format!(
                "{} … (cut here; in full in tvctl trades and the handlers' log)",
                "é".repeat(3)
            )),
            "{line}"
        );
        assert_eq!(line.matches('é').count(), super::NOTE_MAX_CHARS);
    }

    /// A handler that panics fails its group's records, which come back, and its poller
    /// goes on: the next receive is handled and deleted. It ended the poller's task, and a
    /// queue whose pollers had all panicked was never consumed again.
    #[tokio::test]
    async fn a_handler_that_panics_fails_its_records_and_its_poller_goes_on() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let queue: super::Queue = std::sync::Arc::new(super::LocalFifoQueue::new(
            super::LocalQueueConfig {
                name: "q.fifo".into(),
                visibility_timeout: chrono::Duration::milliseconds(50),
                max_receives: 5,
            },
            shared::clock::SystemClock,
            None,
        ));
        queue.send_now(shared::ports::FifoMessage {
            group_id: "g".into(),
            dedup_id: "d1".into(),
            body: "{}".into(),
        });
        let calls = std::sync::Arc::new(AtomicU32::new(0));
        let seen = calls.clone();
        let poller = tokio::spawn(super::poll(
            queue.clone(),
            std::sync::Arc::new(super::Dashboard::default()),
            move |_event| {
                let seen = seen.clone();
                async move {
                    assert_ne!(
                        seen.fetch_add(1, Ordering::SeqCst),
                        0,
                        "the first call panics"
                    );
                    Ok((super::SqsBatchResponse::default(), Vec::new()))
                }
            },
        ));
        for _ in 0..200 {
            if queue.depth() == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(
            queue.depth(),
            0,
            "handled and deleted on its second receive"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(!poller.is_finished(), "the poller still runs");
        poller.abort();
    }

    /// A queue log that counts its flushes (its writes kept nowhere).
    #[derive(Debug, Default)]
    /// `.1`: how long each of its commits takes (a large rewrite, slow syncs).
    struct CountingLog(std::sync::atomic::AtomicUsize, std::time::Duration);

    impl local_sqs::QueueLog for CountingLog {
        fn flush(&self, _: local_sqs::WriteMark) -> local_sqs::Flush<'_> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let wait = self.1;
            Box::pin(async move {
                tokio::time::sleep(wait).await;
                Ok(())
            })
        }
        fn sent(&self, _: &str, _: &local_sqs::Durable) -> Result<(), String> {
            Ok(())
        }
        fn received(&self, _: &str, _: u64, _: u32) -> Result<(), String> {
            Ok(())
        }
        fn removed(&self, _: &str, _: u64) -> Result<(), String> {
            Ok(())
        }
        fn noted(&self, _: &str, _: u64, _: &str) -> Result<(), String> {
            Ok(())
        }
    }

    /// A redelivery whose receive count takes longer to commit than the visibility timeout
    /// stays invisible meanwhile: another poller does not receive it (a receive counted, the
    /// message run twice at once, and after enough of them dead-lettered though it ran).
    #[tokio::test]
    async fn a_redelivery_waiting_on_a_slow_commit_is_not_received_again() {
        let queue: super::Queue = std::sync::Arc::new(super::LocalFifoQueue::restore(
            super::LocalQueueConfig {
                name: "q.fifo".into(),
                visibility_timeout: chrono::Duration::milliseconds(200),
                max_receives: 5,
            },
            shared::clock::SystemClock,
            None,
            std::sync::Arc::new(CountingLog(
                std::sync::atomic::AtomicUsize::new(0),
                std::time::Duration::from_millis(700),
            )),
            local_sqs::Saved::default(),
        ));
        queue.send_now(shared::ports::FifoMessage {
            group_id: "A".into(),
            dedup_id: "A1".into(),
            body: "A1".into(),
        });
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u32>::new()));
        let pollers: Vec<_> = (0..2)
            .map(|_| {
                let seen = seen.clone();
                tokio::spawn(super::poll(
                    queue.clone(),
                    std::sync::Arc::new(super::Dashboard::default()),
                    move |event: super::SqsEvent| {
                        let seen = seen.clone();
                        async move {
                            let record = &event.records[0];
                            let count: u32 = record
                                .attributes
                                .get("ApproximateReceiveCount")
                                .and_then(|c| c.parse().ok())
                                .unwrap_or_default();
                            seen.lock().unwrap().push(count);
                            let mut response = super::SqsBatchResponse::default();
                            if count == 1 {
                                let mut failure =
                                    aws_lambda_events::sqs::BatchItemFailure::default();
                                failure.item_identifier =
                                    record.message_id.clone().unwrap_or_default();
                                response.batch_item_failures.push(failure);
                            }
                            Ok((response, Vec::new()))
                        }
                    },
                ))
            })
            .collect();
        for _ in 0..300 {
            if queue.depth() == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // Time for a second receive, had the message come back while its commit was awaited.
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        for p in pollers {
            p.abort();
        }
        assert_eq!(queue.depth(), 0, "handled and deleted");
        assert_eq!(*seen.lock().unwrap(), [1, 2]);
    }

    /// A redelivered message runs only once its receive count was flushed to the queue's
    /// log; a first delivery does not wait for one.
    #[tokio::test]
    async fn a_redelivery_runs_once_its_receive_count_is_on_disk() {
        let log = std::sync::Arc::new(CountingLog::default());
        let queue: super::Queue = std::sync::Arc::new(super::LocalFifoQueue::restore(
            super::LocalQueueConfig {
                name: "q.fifo".into(),
                visibility_timeout: chrono::Duration::milliseconds(200),
                max_receives: 5,
            },
            shared::clock::SystemClock,
            None,
            log.clone(),
            local_sqs::Saved::default(),
        ));
        queue.send_now(shared::ports::FifoMessage {
            group_id: "A".into(),
            dedup_id: "A1".into(),
            body: "A1".into(),
        });
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(u32, usize)>::new()));
        let poller = {
            let (seen, log) = (seen.clone(), log.clone());
            tokio::spawn(super::poll(
                queue.clone(),
                std::sync::Arc::new(super::Dashboard::default()),
                move |event: super::SqsEvent| {
                    let (seen, log) = (seen.clone(), log.clone());
                    async move {
                        let record = &event.records[0];
                        let count: u32 = record
                            .attributes
                            .get("ApproximateReceiveCount")
                            .and_then(|c| c.parse().ok())
                            .unwrap_or_default();
                        let flushed = log.0.load(std::sync::atomic::Ordering::SeqCst);
                        seen.lock().unwrap().push((count, flushed));
                        let id = record.message_id.clone().unwrap_or_default();
                        let mut response = super::SqsBatchResponse::default();
                        if count == 1 {
                            let mut failure = aws_lambda_events::sqs::BatchItemFailure::default();
                            failure.item_identifier = id;
                            response.batch_item_failures.push(failure);
                        }
                        Ok((response, Vec::new()))
                    }
                },
            ))
        };
        for _ in 0..300 {
            if seen.lock().unwrap().len() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        poller.abort();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0], (1, 0), "a first delivery waits for no flush");
        assert_eq!(seen[1].0, 2);
        assert!(
            seen[1].1 >= 1,
            "the redelivery's count was flushed first: {seen:?}"
        );
    }

    /// A message restored from the queue file at start (received 0 times before: the process
    /// that took it ended before its receive was on disk) runs only once its new count is
    /// flushed: a first delivery that ended the process came back as a first delivery after
    /// every restart, never reaching the dead-letter queue.
    #[tokio::test]
    async fn a_restored_message_runs_once_its_receive_count_is_on_disk() {
        let log = std::sync::Arc::new(CountingLog::default());
        let restored = local_sqs::Durable {
            seq: 7,
            message_id: "q-7".into(),
            group_id: "A".into(),
            dedup_id: "A1".into(),
            body: "A1".into(),
            sent_at: shared::clock::Clock::now(&shared::clock::SystemClock)
                - chrono::Duration::seconds(5),
            receive_count: 0,
            source_queue: None,
            last_error: None,
        };
        let queue: super::Queue = std::sync::Arc::new(super::LocalFifoQueue::restore(
            super::LocalQueueConfig {
                name: "q.fifo".into(),
                visibility_timeout: chrono::Duration::milliseconds(200),
                max_receives: 5,
            },
            shared::clock::SystemClock,
            None,
            log.clone(),
            local_sqs::Saved {
                messages: vec![restored],
                seen: Vec::new(),
                last_seq: 7,
            },
        ));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<usize>::new()));
        let poller = {
            let (seen, log) = (seen.clone(), log.clone());
            tokio::spawn(super::poll(
                queue.clone(),
                std::sync::Arc::new(super::Dashboard::default()),
                move |_event: super::SqsEvent| {
                    let (seen, log) = (seen.clone(), log.clone());
                    async move {
                        seen.lock()
                            .unwrap()
                            .push(log.0.load(std::sync::atomic::Ordering::SeqCst));
                        Ok((super::SqsBatchResponse::default(), Vec::new()))
                    }
                },
            ))
        };
        for _ in 0..300 {
            if !seen.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        poller.abort();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(seen[0] >= 1, "its count was flushed first: {seen:?}");
    }

    /// A group whose handler ended is settled at once, not when the slowest group of its
    /// batch ends: the next signal of that group goes to another poller while a signal of
    /// another instrument still waits on its broker. It waited for the whole batch, and with a
    /// real broker's settle wait (up to the signal's budget) could expire in the queue.
    #[tokio::test]
    async fn a_group_done_is_settled_while_another_of_its_batch_still_runs() {
        let queue: super::Queue = std::sync::Arc::new(super::LocalFifoQueue::new(
            super::LocalQueueConfig {
                name: "q.fifo".into(),
                visibility_timeout: chrono::Duration::milliseconds(600),
                max_receives: 5,
            },
            shared::clock::SystemClock,
            None,
        ));
        let send = |group: &str, body: &str| {
            queue.send_now(shared::ports::FifoMessage {
                group_id: group.into(),
                dedup_id: body.into(),
                body: body.into(),
            });
        };
        send("A", "A1");
        send("B", "B1");
        let done = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let start = std::time::Instant::now();
        let pollers: Vec<_> = (0..2)
            .map(|_| {
                let done = done.clone();
                tokio::spawn(super::poll(
                    queue.clone(),
                    std::sync::Arc::new(super::Dashboard::default()),
                    move |event: super::SqsEvent| {
                        let done = done.clone();
                        async move {
                            let body = event.records[0].body.clone().unwrap_or_default();
                            if body == "A1" {
                                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                            }
                            done.lock().unwrap().push(body);
                            Ok((super::SqsBatchResponse::default(), Vec::new()))
                        }
                    },
                ))
            })
            .collect();
        for _ in 0..100 {
            if done.lock().unwrap().contains(&"B1".to_owned()) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        send("B", "B2");
        for _ in 0..300 {
            if done.lock().unwrap().len() == 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let order = done.lock().unwrap().clone();
        assert_eq!(order, ["B1", "B2", "A1"], "B2 ran while A1 still waited");
        assert!(start.elapsed() >= std::time::Duration::from_secs(3));
        // A1 was extended while it ran (600 ms visibility): received once, then deleted.
        assert_eq!(queue.depth(), 0);
        for p in pollers {
            p.abort();
        }
    }

    #[test]
    fn the_settings_debug_print_holds_no_secret_and_no_database_url() {
        let cfg = super::LocalConfig {
            secret: "s3cret-webhook".into(),
            journal_url: "postgres://trader:pa55word@127.0.0.1:5432/journal".into(),
            ..Default::default()
        };
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3cret-webhook"), "{shown}");
        assert!(!shown.contains("pa55word"), "{shown}");
        assert!(shown.contains("port: 8080"), "{shown}");
    }

    #[test]
    fn a_logged_path_keeps_only_its_first_segment() {
        assert_eq!(
            super::shown_path("/webhook/local-dev-secret-change-me"),
            "/webhook/…"
        );
        assert_eq!(super::shown_path("/webhook"), "/webhook");
        assert_eq!(super::shown_path("/a/b/secret"), "/a/…");
        assert_eq!(super::shown_path("/"), "/");
    }
    use super::*;

    fn received(group: &str, n: u32) -> Received {
        Received {
            message_id: format!("{group}{n}"),
            receipt: format!("r-{group}{n}"),
            group_id: group.into(),
            dedup_id: format!("d-{group}{n}"),
            body: String::new(),
            receive_count: 1,
            sent_at: chrono::DateTime::UNIX_EPOCH,
            source_queue: None,
            last_error: None,
        }
    }

    #[test]
    fn a_failed_record_carries_its_reason_and_a_failed_batch_fails_every_record() {
        let batch = [received("A", 1), received("A", 2), received("B", 1)];
        let mut resp = SqsBatchResponse::default();
        resp.add_failure("A1".to_owned());
        resp.add_failure("A2".to_owned());
        let errors = vec![("A1".to_owned(), "broker down".to_owned())];
        let failed = failed_records(&batch, Ok((resp, errors)));
        assert_eq!(failed.len(), 2, "B1 succeeded: {failed:?}");
        assert_eq!(failed["A1"], "broker down");
        assert_eq!(failed["A2"], "reported failed");
        let whole = failed_records(&batch, Err(MissingMessageId(1)));
        assert_eq!(whole.len(), 3);
        assert!(whole["B1"].contains("position 1"), "{whole:?}");
    }

    #[test]
    fn a_batch_splits_by_group_keeping_each_groups_order() {
        let batch = [
            received("A", 1),
            received("B", 1),
            received("A", 2),
            received("C", 1),
            received("B", 2),
            received("A", 3),
        ];
        let ids: Vec<Vec<String>> = by_group(&batch)
            .into_iter()
            .map(|g| g.into_iter().map(|m| m.message_id.clone()).collect())
            .collect();
        assert_eq!(ids, [vec!["A1", "A2", "A3"], vec!["B1", "B2"], vec!["C1"]]);
    }
}
