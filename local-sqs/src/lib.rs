//! An in-process SQS FIFO queue for the local stack and the simulation, with the semantics
//! the pipeline relies on: per-group order (a group's later messages wait while an earlier
//! one is in flight), a five-minute deduplication window on the dedup id that outlives
//! deletion (as real SQS does, unlike moto), a visibility timeout after which an
//! unacknowledged message comes back, and a dead-letter queue once a message has been
//! received `max_receives` times.

use chrono::{DateTime, Duration, Utc};
use shared::clock::Clock;
use shared::ports::{DEDUP_WINDOW, FifoMessage, FifoQueue, QueueError};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Clone)]
pub struct LocalQueueConfig {
    pub name: String,
    pub visibility_timeout: Duration,
    /// Received this many times without being deleted → moved to the dead-letter queue.
    pub max_receives: u32,
}

/// A message as a consumer receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub message_id: String,
    pub receipt: String,
    pub group_id: String,
    pub dedup_id: String,
    pub body: String,
    pub receive_count: u32,
    pub sent_at: DateTime<Utc>,
    /// Set on dead-lettered messages: the queue it came from and why.
    pub source_queue: Option<String>,
    pub last_error: Option<String>,
}

/// A message as a [`QueueLog`] keeps it: what must outlive the process. Receipts and
/// visibility are not kept: after a restart every message is visible at once, as if its
/// visibility timeout had passed (the executors' idempotency records make that safe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durable {
    /// The queue's sequence number: the FIFO order across restarts.
    pub seq: u64,
    /// The id a consumer sees (`<queue>-<seq>`).
    pub message_id: String,
    /// The message group (the instrument's symbol).
    pub group_id: String,
    /// The deduplication id (the SignalId, or the source message id in a dead-letter queue).
    pub dedup_id: String,
    /// The body, as sent; shared with the queue's own copy (a log that keeps the messages
    /// holds no second copy of the bodies).
    pub body: Arc<str>,
    /// When it was sent (UTC).
    pub sent_at: DateTime<Utc>,
    /// How many times it has been received: kept so a restart does not reset the count that
    /// moves a message to its dead-letter queue. A letter moved there keeps its source
    /// queue's count; one sent there (an executor's own) starts at 0.
    pub receive_count: u32,
    /// Set on dead-lettered messages: the queue it came from.
    pub source_queue: Option<String>,
    /// The last error a consumer reported for it.
    pub last_error: Option<String>,
}

/// What [`QueueLog::flush`] returns.
pub type Flush<'a> = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// A point in a [`QueueLog`]'s writes: how many it had made when [`QueueLog::mark`] was
/// called. A flush given a mark answers for the writes made after it, so a write lost in a
/// failed commit is reported to its own writer even when a later commit succeeded before that
/// writer asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct WriteMark(pub u64);

/// Where a queue writes its state so that it outlives the process: the local stack's
/// append-only queue file beside its SQLite state file (`local-store`'s `queue_file`). Every
/// call is made under the queue's lock, in the order of the queue's operations; a log may
/// group writes and commit them later, in that order, and [`flush`](Self::flush) waits until
/// they are committed: a message is written before [`FifoQueue::send`] returns `Ok` (kept
/// across a crash of the process; across a crash of the machine only where the log syncs each
/// commit, as the local stack's does once a real broker is configured). Errors are the store's message; a failed `sent` or
/// flush fails the send (nothing is accepted that is not kept).
pub trait QueueLog: Send + Sync + std::fmt::Debug {
    /// The point its writes have reached, for [`flush`](Self::flush). By default 0 (a log
    /// that commits each write as it is made).
    fn mark(&self) -> WriteMark {
        WriteMark::default()
    }
    /// Waits until every write made so far is durable; an error when any write made after
    /// `since` was lost. By default there is nothing to wait for.
    fn flush(&self, since: WriteMark) -> Flush<'_> {
        let _ = since;
        Box::pin(async { Ok(()) })
    }
    /// Waits until every write made so far is settled, and answers whether all that stands
    /// (every message accepted, earlier ones included) is durable: an error when the latest
    /// writes were lost (a log that writes again what stands at its next good commit has
    /// not had one since). What a duplicate send waits for: its original may be from a
    /// write that was lost. By default, as [`flush`](Self::flush) from now.
    fn flush_standing(&self) -> Flush<'_> {
        self.flush(self.mark())
    }
    /// A message accepted by `queue`, and its dedup id seen at `message.sent_at`.
    fn sent(&self, queue: &str, message: &Durable) -> Result<(), String>;
    /// A message received once more.
    fn received(&self, queue: &str, seq: u64, receive_count: u32) -> Result<(), String>;
    /// A message deleted, dead-lettered (after its copy was sent to the dead-letter queue) or
    /// removed after a replay.
    fn removed(&self, queue: &str, seq: u64) -> Result<(), String>;
    /// The error a consumer reported for a message.
    fn noted(&self, queue: &str, seq: u64, error: &str) -> Result<(), String>;
}

/// What a [`QueueLog`] kept of one queue, to start it again with [`LocalFifoQueue::restore`].
#[derive(Debug, Clone, Default)]
pub struct Saved {
    /// The messages still in the queue, in any order.
    pub messages: Vec<Durable>,
    /// Dedup ids seen inside the window, with the time each was seen (UTC).
    pub seen: Vec<(String, DateTime<Utc>)>,
    /// The highest sequence number the queue ever gave, so message ids are never reused (a
    /// dead-letter queue deduplicates on them).
    pub last_seq: u64,
}

#[derive(Debug, Clone)]
struct Stored {
    message_id: String,
    group_id: String,
    dedup_id: String,
    body: Arc<str>,
    sent_at: DateTime<Utc>,
    receive_count: u32,
    invisible_until: Option<DateTime<Utc>>,
    receipt: Option<String>,
    source_queue: Option<String>,
    last_error: Option<String>,
}

impl Stored {
    fn durable(&self, seq: u64) -> Durable {
        Durable {
            seq,
            message_id: self.message_id.clone(),
            group_id: self.group_id.clone(),
            dedup_id: self.dedup_id.clone(),
            body: self.body.clone(),
            sent_at: self.sent_at,
            receive_count: self.receive_count,
            source_queue: self.source_queue.clone(),
            last_error: self.last_error.clone(),
        }
    }

    fn received(&self, receipt: String) -> Received {
        Received {
            message_id: self.message_id.clone(),
            receipt,
            group_id: self.group_id.clone(),
            dedup_id: self.dedup_id.clone(),
            body: self.body.to_string(),
            receive_count: self.receive_count,
            sent_at: self.sent_at,
            source_queue: self.source_queue.clone(),
            last_error: self.last_error.clone(),
        }
    }
}

/// One message group: its messages in order, and how many of them are in flight.
#[derive(Debug, Default)]
struct Group {
    seqs: VecDeque<u64>,
    in_flight: usize,
}

/// Indexed so that the costs under a backlog stay per message, not per queue length: a
/// receive looks only at groups that can deliver (`ready`, ordered by their oldest message,
/// which keeps the FIFO order across groups a linear scan would give) and at the messages in
/// flight; a delete finds its message through the receipt.
#[derive(Debug, Default)]
struct State {
    messages: BTreeMap<u64, Stored>,
    groups: HashMap<String, Group>,
    /// (oldest message, group) of each group with messages and none in flight.
    ready: BTreeSet<(u64, String)>,
    in_flight: HashSet<u64>,
    receipts: HashMap<String, u64>,
    seen: HashMap<String, DateTime<Utc>>,
    /// `seen` in arrival order, so expiry looks only at the oldest entries instead of
    /// sweeping the whole window on every send.
    seen_order: VecDeque<(DateTime<Utc>, String)>,
    seq: u64,
}

impl State {
    /// The `ready` entry of `group` as it should be now, if any.
    fn ready_key(&self, group: &str) -> Option<(u64, String)> {
        let g = self.groups.get(group)?;
        if g.in_flight > 0 {
            return None;
        }
        g.seqs.front().map(|s| (*s, group.to_owned()))
    }

    /// Runs `change` on the group's bookkeeping and keeps `ready` in step with it.
    fn with_group(&mut self, group: &str, change: impl FnOnce(&mut Self)) {
        if let Some(k) = self.ready_key(group) {
            self.ready.remove(&k);
        }
        change(self);
        if self.groups.get(group).is_some_and(|g| g.seqs.is_empty()) {
            self.groups.remove(group);
        }
        if let Some(k) = self.ready_key(group) {
            self.ready.insert(k);
        }
    }

    /// Takes a message out of the queue entirely (deleted, dead-lettered or replayed).
    fn take(&mut self, seq: u64) -> Option<Stored> {
        let m = self.messages.remove(&seq)?;
        if let Some(r) = &m.receipt {
            self.receipts.remove(r);
        }
        let was_in_flight = self.in_flight.remove(&seq);
        self.with_group(&m.group_id.clone(), |st| {
            if let Some(g) = st.groups.get_mut(&m.group_id) {
                if let Some(i) = g.seqs.iter().position(|s| *s == seq) {
                    g.seqs.remove(i);
                }
                if was_in_flight {
                    g.in_flight -= 1;
                }
            }
        });
        Some(m)
    }

    /// Makes an in-flight message visible again.
    fn make_visible(&mut self, seq: u64) {
        if !self.in_flight.remove(&seq) {
            return;
        }
        let Some(m) = self.messages.get_mut(&seq) else {
            return;
        };
        m.invisible_until = None;
        let group = m.group_id.clone();
        self.with_group(&group, |st| {
            if let Some(g) = st.groups.get_mut(&group) {
                g.in_flight -= 1;
            }
        });
    }
}

#[derive(Debug)]
pub struct LocalFifoQueue<C> {
    config: LocalQueueConfig,
    clock: C,
    state: Mutex<State>,
    dead_letters: Option<Arc<LocalFifoQueue<C>>>,
    arrived: tokio::sync::Notify,
    log: Option<Arc<dyn QueueLog>>,
    deleted: std::sync::atomic::AtomicU64,
    /// Whether [`FifoQueue::send`] waits for its write to be committed (see
    /// [`LocalFifoQueue::sends_wait_for_commit`]).
    send_waits: bool,
    /// The ids of the messages restored from the log ([`LocalFifoQueue::restore`]); ids are
    /// never reused, and the set is at most what the queue held at start.
    restored: std::collections::HashSet<String>,
}

impl<C: Clock + Clone> LocalFifoQueue<C> {
    pub fn new(
        config: LocalQueueConfig,
        clock: C,
        dead_letters: Option<Arc<LocalFifoQueue<C>>>,
    ) -> Self {
        Self {
            config,
            clock,
            restored: std::collections::HashSet::new(),
            state: Mutex::new(State::default()),
            dead_letters,
            arrived: tokio::sync::Notify::new(),
            log: None,
            deleted: std::sync::atomic::AtomicU64::new(0),
            send_waits: true,
        }
    }

    /// Whether a send waits until its write is committed (the default: `true`). A queue fed
    /// only by a consumer of another queue of the same log need not wait: its send is written
    /// before that consumer's delete, and a log commits writes in order, so a crash that loses
    /// the send loses the delete too and the message is delivered again (and deduplicated).
    /// The wait belongs before a step the world sees: a webhook's 200, an order.
    #[must_use]
    pub fn sends_wait_for_commit(mut self, wait: bool) -> Self {
        self.send_waits = wait;
        self
    }

    /// Whether `m` was in the queue when it was made: restored from the log, where an earlier
    /// process may have received it without its receive being written (its count is then
    /// flushed before it runs again, `local_stack`'s poller).
    pub fn was_restored(&self, m: &Received) -> bool {
        !self.restored.is_empty() && self.restored.contains(&m.message_id)
    }

    /// A queue whose every change is written to `log` first, started from what `log` kept
    /// (`saved`): its messages in their order, visible at once, with their receive counts,
    /// and its dedup window.
    pub fn restore(
        config: LocalQueueConfig,
        clock: C,
        dead_letters: Option<Arc<LocalFifoQueue<C>>>,
        log: Arc<dyn QueueLog>,
        saved: Saved,
    ) -> Self {
        let mut q = Self::new(config, clock, dead_letters);
        let mut restored = std::collections::HashSet::new();
        {
            let mut st = q.lock();
            st.seq = saved.last_seq;
            let mut seen = saved.seen;
            seen.sort_by_key(|a| a.1);
            for (id, at) in seen {
                st.seen.insert(id.clone(), at);
                st.seen_order.push_back((at, id));
            }
            let mut messages = saved.messages;
            messages.sort_by_key(|m| m.seq);
            restored.extend(messages.iter().map(|m| m.message_id.clone()));
            for m in messages {
                st.seq = st.seq.max(m.seq);
                let group = m.group_id.clone();
                let seq = m.seq;
                st.messages.insert(
                    seq,
                    Stored {
                        message_id: m.message_id,
                        group_id: m.group_id,
                        dedup_id: m.dedup_id,
                        body: m.body,
                        sent_at: m.sent_at,
                        receive_count: m.receive_count,
                        invisible_until: None,
                        receipt: None,
                        source_queue: m.source_queue,
                        last_error: m.last_error,
                    },
                );
                st.with_group(&group.clone(), |st| {
                    st.groups.entry(group).or_default().seqs.push_back(seq);
                });
            }
        }
        q.log = Some(log);
        q.restored = restored;
        q
    }

    /// Writes to the log, if any; `what` names the operation in the error.
    fn persist(
        &self,
        what: &str,
        f: impl FnOnce(&dyn QueueLog) -> Result<(), String>,
    ) -> Result<(), String> {
        match &self.log {
            None => Ok(()),
            Some(log) => {
                f(log.as_ref()).map_err(|e| format!("queue {} {what}: {e}", self.config.name))
            }
        }
    }

    /// Logs a failed write of an operation that has already happened in memory: at worst a
    /// restart delivers the message once more (the idempotency records absorb it).
    fn persist_or_warn(&self, what: &str, f: impl FnOnce(&dyn QueueLog) -> Result<(), String>) {
        if let Err(e) = self.persist(what, f) {
            tracing::warn!(error = %e, "local queue state not written");
        }
    }

    /// The point the queue's [`QueueLog`] has reached, taken before the changes a later
    /// [`flush`](Self::flush) answers for.
    pub fn mark(&self) -> WriteMark {
        self.log.as_ref().map(|l| l.mark()).unwrap_or_default()
    }

    /// Waits until every change made so far is durable in the queue's [`QueueLog`] (at once
    /// without one).
    ///
    /// Errors: the log's message, when a write made after `since` (see [`mark`](Self::mark))
    /// was lost.
    pub async fn flush(&self, since: WriteMark) -> Result<(), String> {
        match &self.log {
            Some(log) => log.flush(since).await,
            None => Ok(()),
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn dead_letters(&self) -> Option<&Arc<LocalFifoQueue<C>>> {
        self.dead_letters.as_ref()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a message may have arrived (or `max` passes): lets pollers sleep.
    pub async fn wait(&self, max: std::time::Duration) {
        let _ = tokio::time::timeout(max, self.arrived.notified()).await;
    }

    fn wake(&self) {
        // One poller per message: it receives up to a batch, and waking every poller for each
        // message cost each of them a wake-up and a timer for nothing under load. When no
        // poller waits, `notify_one` keeps a permit, so a message that arrives between a
        // poller's empty receive and its `wait` wakes it at once.
        self.arrived.notify_one();
    }

    /// Sends `message`; a dead letter carries its source queue, its last error and how many
    /// times that queue delivered it (`receive_count`; 0 for a message sent here first).
    fn push(
        &self,
        message: FifoMessage,
        source_queue: Option<String>,
        last_error: Option<String>,
        receive_count: u32,
    ) -> Result<bool, String> {
        let now = self.clock.now();
        let mut st = self.lock();
        while let Some((at, _)) = st.seen_order.front() {
            if now - *at < DEDUP_WINDOW {
                break;
            }
            if let Some((at, id)) = st.seen_order.pop_front()
                && st.seen.get(&id) == Some(&at)
            {
                st.seen.remove(&id);
            }
        }
        // An entry behind a newer one in `seen_order` (a clock that stepped back) is judged
        // by its own time here, as SQS would.
        if st
            .seen
            .get(&message.dedup_id)
            .is_some_and(|at| now - *at < DEDUP_WINDOW)
        {
            return Ok(false);
        }
        // A dead letter whose copy is here already (the source's removal lost in a kill
        // between the two writes, the restart past the dedup window): one letter, not two for
        // one signal in `tvctl dlq list` and its replays. Its dedup id is the source message's
        // id.
        if source_queue.is_some()
            && st.messages.values().any(|m| {
                m.dedup_id == message.dedup_id
                    && m.source_queue.as_deref() == source_queue.as_deref()
            })
        {
            return Ok(false);
        }
        let seq = st.seq + 1;
        let stored = Stored {
            message_id: format!("{}-{:08}", self.config.name, seq),
            group_id: message.group_id,
            dedup_id: message.dedup_id,
            body: message.body.into(),
            sent_at: now,
            receive_count,
            invisible_until: None,
            receipt: None,
            source_queue,
            last_error,
        };
        // On disk before it is in the queue: a failed write accepts nothing.
        self.persist("send", |log| {
            log.sent(&self.config.name, &stored.durable(seq))
        })?;
        st.seq = seq;
        st.seen.insert(stored.dedup_id.clone(), now);
        st.seen_order.push_back((now, stored.dedup_id.clone()));
        let group = stored.group_id.clone();
        st.messages.insert(seq, stored);
        st.with_group(&group.clone(), |st| {
            st.groups.entry(group).or_default().seqs.push_back(seq);
        });
        drop(st);
        self.wake();
        Ok(true)
    }

    /// Sends; `false` when the dedup id was seen inside the window (dropped, as SQS does).
    ///
    /// Errors: the [`QueueLog`]'s, when the message could not be written (then it is not in
    /// the queue).
    pub fn try_send(&self, message: FifoMessage) -> Result<bool, String> {
        self.push(message, None, None, 0)
    }

    /// [`try_send`](Self::try_send) for a queue without a [`QueueLog`], which cannot fail; with
    /// one, a failed write is logged and answers `false`.
    pub fn send_now(&self, message: FifoMessage) -> bool {
        self.try_send(message).unwrap_or_else(|e| {
            tracing::error!(error = %e, "local queue refused a message");
            false
        })
    }

    /// Up to `max` messages in FIFO order, skipping groups with a message in flight.
    pub fn receive(&self, max: usize) -> Vec<Received> {
        let now = self.clock.now();
        let mut to_dlq = Vec::new();
        let mut out = Vec::new();
        {
            let mut st = self.lock();
            let expired: Vec<u64> = st
                .in_flight
                .iter()
                .copied()
                .filter(|s| {
                    st.messages
                        .get(s)
                        .is_some_and(|m| m.invisible_until.is_none_or(|t| t <= now))
                })
                .collect();
            for seq in expired {
                st.make_visible(seq);
            }
            // A group taken in this receive may give its next messages too (as SQS does), in
            // the same oldest-first order across groups; `next` holds those candidates.
            let mut next: BTreeSet<(u64, String)> = BTreeSet::new();
            while out.len() < max {
                let from_ready = match (st.ready.first(), next.first()) {
                    (Some(a), Some(b)) => a < b,
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (None, None) => break,
                };
                let Some((seq, group)) = (if from_ready {
                    st.ready.pop_first()
                } else {
                    next.pop_first()
                }) else {
                    break;
                };
                let Some(m) = st.messages.get(&seq) else {
                    break;
                };
                if m.receive_count >= self.config.max_receives && self.dead_letters.is_some() {
                    // `take` puts the group back in `ready` when nothing of it is in flight;
                    // otherwise its next message stays a candidate of this receive.
                    let taken_before = st.groups.get(&group).map_or(0, |g| g.in_flight);
                    if let Some(m) = st.take(seq) {
                        to_dlq.push((seq, m));
                    }
                    if taken_before > 0
                        && let Some(g) = st.groups.get(&group)
                        && let Some(n) = g.seqs.get(g.in_flight)
                    {
                        next.insert((*n, group));
                    }
                    continue;
                }
                st.seq += 1;
                let receipt = format!("rh-{}-{}", self.config.name, st.seq);
                let Some(m) = st.messages.get_mut(&seq) else {
                    break;
                };
                m.receive_count += 1;
                m.invisible_until = Some(now + self.config.visibility_timeout);
                let count = m.receive_count;
                let old = m.receipt.replace(receipt.clone());
                self.persist_or_warn("receive", |log| log.received(&self.config.name, seq, count));
                out.push(m.received(receipt.clone()));
                if let Some(old) = old {
                    st.receipts.remove(&old);
                }
                st.receipts.insert(receipt, seq);
                st.in_flight.insert(seq);
                if let Some(g) = st.groups.get_mut(&group) {
                    g.in_flight += 1;
                    if let Some(n) = g.seqs.get(g.in_flight) {
                        next.insert((*n, group));
                    }
                }
            }
        }
        if let Some(dlq) = &self.dead_letters {
            for (seq, m) in to_dlq {
                // A FIFO dead-letter queue replaces the dedup id with the message id. The copy
                // is written before the original is removed: a crash in between leaves both,
                // and the dead-letter queue's dedup window drops the second copy.
                let moved = dlq.push(
                    FifoMessage {
                        group_id: m.group_id,
                        dedup_id: m.message_id,
                        body: m.body.to_string(),
                    },
                    Some(self.config.name.clone()),
                    m.last_error,
                    // A dead letter shows how often its source queue delivered it (`tvctl dlq
                    // list`'s `receives`), not 0 as a message never received.
                    m.receive_count,
                );
                match moved {
                    Ok(_) => self
                        .persist_or_warn("dead-letter", |log| log.removed(&self.config.name, seq)),
                    Err(e) => {
                        // Out of this process's queue, still in its file: listed nowhere
                        // until a restart reads it back into its queue, whose next receive
                        // moves it again. Its group goes on meanwhile, as it would once moved.
                        tracing::error!(error = %e, "dead letter not written: it stays in the queue's file, and shows again (and moves to the dead-letter queue) after a restart")
                    }
                }
            }
        }
        out
    }

    /// Deletes a received message by its receipt; `false` for an unknown or stale receipt.
    pub fn delete(&self, receipt: &str) -> bool {
        let mut st = self.lock();
        let Some(seq) = st.receipts.get(receipt).copied() else {
            return false;
        };
        let taken = st.take(seq).is_some();
        if taken {
            self.persist_or_warn("delete", |log| log.removed(&self.config.name, seq));
            self.deleted
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        taken
    }

    /// How many messages consumers have deleted (finished) since the queue started: the
    /// local stack's admission control measures the drain rate with it.
    pub fn deleted(&self) -> u64 {
        self.deleted.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Makes a received message visible again at once and records why it failed.
    pub fn release(&self, receipt: &str, error: Option<String>) {
        let mut st = self.lock();
        if let Some(seq) = st.receipts.get(receipt).copied() {
            if let Some(e) = &error
                && let Some(m) = st.messages.get_mut(&seq)
            {
                m.last_error = Some(e.clone());
                self.persist_or_warn("note", |log| log.noted(&self.config.name, seq, e));
            }
            st.make_visible(seq);
        }
        drop(st);
        self.wake();
    }

    /// Keeps a received message invisible for another visibility timeout from now (SQS's
    /// `ChangeMessageVisibility`); nothing for an unknown or stale receipt.
    pub fn extend(&self, receipt: &str) {
        let until = self.clock.now() + self.config.visibility_timeout;
        let mut st = self.lock();
        if let Some(seq) = st.receipts.get(receipt).copied()
            && st.in_flight.contains(&seq)
            && let Some(m) = st.messages.get_mut(&seq)
        {
            m.invisible_until = Some(until);
        }
    }

    /// How many receives a message gets before the next one moves it to the dead-letter queue.
    pub fn max_receives(&self) -> u32 {
        self.config.max_receives
    }

    /// The visibility timeout (for a consumer's heartbeat).
    pub fn visibility_timeout(&self) -> std::time::Duration {
        self.config
            .visibility_timeout
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(1))
    }

    /// Records why a received message failed, leaving it in flight until its visibility
    /// timeout (as Lambda's event source mapping does with reported failures).
    pub fn note_error(&self, receipt: &str, error: String) {
        let mut st = self.lock();
        if let Some(seq) = st.receipts.get(receipt).copied()
            && let Some(m) = st.messages.get_mut(&seq)
        {
            self.persist_or_warn("note", |log| log.noted(&self.config.name, seq, &error));
            m.last_error = Some(error);
        }
    }

    /// Every message without consuming it (for `dlq list` and status).
    pub fn peek(&self) -> Vec<Received> {
        self.lock()
            .messages
            .values()
            .map(|m| m.received(String::new()))
            .collect()
    }

    /// Removes a message by id without a receipt (after a replay).
    pub fn remove(&self, message_id: &str) -> bool {
        let mut st = self.lock();
        let Some(seq) = st
            .messages
            .iter()
            .find(|(_, m)| m.message_id == message_id)
            .map(|(s, _)| *s)
        else {
            return false;
        };
        let taken = st.take(seq).is_some();
        if taken {
            self.persist_or_warn("remove", |log| log.removed(&self.config.name, seq));
        }
        taken
    }

    /// The number of messages in the queue, in flight or not.
    pub fn depth(&self) -> usize {
        self.lock().messages.len()
    }
}

impl<C: Clock + Clone> LocalFifoQueue<C> {
    /// [`FifoQueue::send`], answering whether the message was queued: `false` when its dedup
    /// id was seen inside the window and it was dropped, as SQS drops it (where SQS's answer
    /// does not tell). Either way it waits as `send` does: a duplicate's original may not be
    /// committed yet, or may have been in a commit that failed, so a duplicate waits until
    /// all that stands is durable ([`QueueLog::flush_standing`]), and fails when it is not:
    /// answered `Ok`, a resend would be acknowledged while its original was on disk nowhere.
    ///
    /// Errors: `QueueError::Unavailable` when the [`QueueLog`] could not write or commit.
    pub async fn send_checked(&self, message: FifoMessage) -> Result<bool, QueueError> {
        let unavailable = |reason| QueueError::Unavailable {
            queue: self.config.name.clone(),
            reason,
        };
        let mark = self.mark();
        let queued = self.try_send(message).map_err(unavailable)?;
        if self.send_waits {
            match (&self.log, queued) {
                // Queued in memory, not on disk: it runs unless the process stops before a
                // commit succeeds (the next one writes what stands), which the reason says
                // for the operator's console.
                (_, true) => self.flush(mark).await.map_err(|e| {
                    unavailable(format!(
                        "{e}; the alert is queued in this process's memory and runs unless the \
                         stack stops before its state file's next commit succeeds"
                    ))
                })?,
                (Some(log), false) => log.flush_standing().await.map_err(|e| {
                    unavailable(format!(
                        "{e}; this resend's original is queued in this process's memory and \
                         runs unless the stack stops before its state file's next commit \
                         succeeds"
                    ))
                })?,
                (None, false) => {}
            }
        }
        Ok(queued)
    }
}

impl<C: Clock + Clone> FifoQueue for LocalFifoQueue<C> {
    /// Accepts the message and waits until it is committed ([`QueueLog::flush`]), so `Ok`
    /// means kept across a crash of the process (not a power loss); unless the queue was built not to wait
    /// ([`LocalFifoQueue::sends_wait_for_commit`]).
    async fn send(&self, message: FifoMessage) -> Result<(), QueueError> {
        self.send_checked(message).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::clock::ManualClock;

    fn queue(clock: &ManualClock) -> LocalFifoQueue<ManualClock> {
        let dlq = Arc::new(LocalFifoQueue::new(
            LocalQueueConfig {
                name: "q-dlq".into(),
                visibility_timeout: Duration::seconds(30),
                max_receives: 100,
            },
            clock.clone(),
            None,
        ));
        LocalFifoQueue::new(
            LocalQueueConfig {
                name: "q".into(),
                visibility_timeout: Duration::seconds(30),
                max_receives: 2,
            },
            clock.clone(),
            Some(dlq),
        )
    }

    fn msg(group: &str, dedup: &str) -> FifoMessage {
        FifoMessage {
            group_id: group.into(),
            dedup_id: dedup.into(),
            body: dedup.into(),
        }
    }

    /// What [`MemLog`] keeps: messages by (queue, seq), and (queue, dedup id, time) seen.
    type Kept = (
        BTreeMap<(String, u64), Durable>,
        Vec<(String, String, DateTime<Utc>)>,
    );

    /// A [`QueueLog`] in memory, to restore queues from.
    #[derive(Debug, Default)]
    struct MemLog(Mutex<Kept>);

    impl MemLog {
        fn saved(&self, queue: &str) -> Saved {
            let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let messages: Vec<Durable> =
                g.0.iter()
                    .filter(|((q, _), _)| q == queue)
                    .map(|(_, m)| m.clone())
                    .collect();
            Saved {
                last_seq: messages.iter().map(|m| m.seq).max().unwrap_or_default(),
                messages,
                seen: g
                    .1
                    .iter()
                    .filter(|(q, _, _)| q == queue)
                    .map(|(_, d, at)| (d.clone(), *at))
                    .collect(),
            }
        }
    }

    impl QueueLog for MemLog {
        fn sent(&self, queue: &str, m: &Durable) -> Result<(), String> {
            let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
            g.0.insert((queue.into(), m.seq), m.clone());
            g.1.push((queue.into(), m.dedup_id.clone(), m.sent_at));
            Ok(())
        }
        fn received(&self, queue: &str, seq: u64, n: u32) -> Result<(), String> {
            let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(m) = g.0.get_mut(&(queue.to_owned(), seq)) {
                m.receive_count = n;
            }
            Ok(())
        }
        fn removed(&self, queue: &str, seq: u64) -> Result<(), String> {
            let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
            g.0.remove(&(queue.to_owned(), seq));
            Ok(())
        }
        fn noted(&self, queue: &str, seq: u64, error: &str) -> Result<(), String> {
            let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(m) = g.0.get_mut(&(queue.to_owned(), seq)) {
                m.last_error = Some(error.into());
            }
            Ok(())
        }
    }

    fn durable_queue(clock: &ManualClock, log: &Arc<MemLog>) -> LocalFifoQueue<ManualClock> {
        let cfg = |name: &str, max_receives| LocalQueueConfig {
            name: name.into(),
            visibility_timeout: Duration::seconds(30),
            max_receives,
        };
        let dlq = Arc::new(LocalFifoQueue::restore(
            cfg("q-dlq", 100),
            clock.clone(),
            None,
            log.clone(),
            log.saved("q-dlq"),
        ));
        LocalFifoQueue::restore(
            cfg("q", 3),
            clock.clone(),
            Some(dlq),
            log.clone(),
            log.saved("q"),
        )
    }

    #[test]
    fn a_restored_queue_keeps_order_receive_counts_dedup_and_dead_letters() {
        let clock = ManualClock::new(shared::clock::test_epoch());
        let log = Arc::new(MemLog::default());
        let q = durable_queue(&clock, &log);
        for (g, d) in [("A", "a1"), ("A", "a2"), ("B", "b1"), ("B", "b2")] {
            assert!(q.send_now(msg(g, d)));
        }
        assert_eq!(q.receive(1)[0].body, "a1");
        let b1 = q.receive(1);
        assert_eq!(b1[0].body, "b1", "group A waits for a1");
        assert!(q.delete(&b1[0].receipt), "b1 done");
        clock.advance(Duration::seconds(31));
        let a1 = q.receive(1);
        assert_eq!((a1[0].body.as_str(), a1[0].receive_count), ("a1", 2));
        drop(q);
        // The process dies with a1 in flight: after the restart it is visible at once, in
        // its place, with its two receives counted.
        let q = durable_queue(&clock, &log);
        let a1 = q.receive(1);
        assert_eq!((a1[0].body.as_str(), a1[0].receive_count), ("a1", 3));
        let b2 = q.receive(1);
        assert_eq!((b2[0].body.as_str(), b2[0].receive_count), ("b2", 1));
        assert!(
            !q.send_now(msg("B", "b1")),
            "the dedup window outlived the restart"
        );
        // Its fourth receive moves a1 to the dead-letter queue; a2 comes next.
        q.release(&a1[0].receipt, Some("boom".into()));
        let rest: Vec<_> = q.receive(10).into_iter().map(|m| m.body).collect();
        assert_eq!(rest, ["a2"]);
        let dead = q.dead_letters().map(|d| d.peek()).unwrap_or_default();
        assert_eq!(dead.len(), 1);
        assert_eq!(
            (dead[0].body.as_str(), dead[0].last_error.as_deref()),
            ("a1", Some("boom"))
        );
        assert!(log.saved("q").messages.iter().all(|m| &*m.body != "a1"));
        // Restarted again: the dead letter is still there and ids go on from the last one.
        drop(q);
        let q = durable_queue(&clock, &log);
        assert_eq!(q.dead_letters().map(|d| d.depth()), Some(1));
        assert!(q.send_now(msg("C", "c1")));
        let ids: Vec<_> = q.peek().into_iter().map(|m| m.message_id).collect();
        assert!(ids.contains(&"q-00000005".to_owned()), "{ids:?}");
    }

    /// A log that loses the source queue's removals, as a kill between a dead letter's copy
    /// and its source's removal does.
    #[derive(Debug, Default)]
    struct NoRemovalLog(MemLog);

    impl QueueLog for NoRemovalLog {
        fn sent(&self, queue: &str, m: &Durable) -> Result<(), String> {
            self.0.sent(queue, m)
        }
        fn received(&self, queue: &str, seq: u64, n: u32) -> Result<(), String> {
            self.0.received(queue, seq, n)
        }
        fn removed(&self, _: &str, _: u64) -> Result<(), String> {
            Ok(())
        }
        fn noted(&self, queue: &str, seq: u64, error: &str) -> Result<(), String> {
            self.0.noted(queue, seq, error)
        }
    }

    /// A kill between a dead letter's copy and its source's removal, and a restart after the
    /// dead-letter queue's dedup window: the source moves the message again, and the
    /// dead-letter queue keeps one letter of it, not two.
    #[test]
    fn a_dead_letter_moved_again_after_a_kill_is_one_letter() {
        let clock = ManualClock::new(shared::clock::test_epoch());
        let log = Arc::new(NoRemovalLog::default());
        let cfg = |name: &str, max_receives| LocalQueueConfig {
            name: name.into(),
            visibility_timeout: Duration::seconds(30),
            max_receives,
        };
        let open = |log: &Arc<NoRemovalLog>| {
            let dlq = Arc::new(LocalFifoQueue::restore(
                cfg("q-dlq", 100),
                clock.clone(),
                None,
                log.clone(),
                log.0.saved("q-dlq"),
            ));
            LocalFifoQueue::restore(
                cfg("q", 2),
                clock.clone(),
                Some(dlq),
                log.clone(),
                log.0.saved("q"),
            )
        };
        let q = open(&log);
        assert!(q.send_now(msg("A", "a1")));
        for _ in 0..2 {
            assert_eq!(q.receive(1).len(), 1);
            clock.advance(Duration::seconds(31));
        }
        assert!(q.receive(1).is_empty(), "moved to the dead-letter queue");
        assert_eq!(q.dead_letters().map(|d| d.depth()), Some(1));
        drop(q);
        clock.advance(Duration::minutes(6));
        let q = open(&log);
        assert!(q.receive(1).is_empty(), "moved again");
        assert_eq!(q.dead_letters().map(|d| d.depth()), Some(1));
    }

    /// A log whose commits fail: its writes are made in memory, their flush answers an error.
    #[derive(Debug, Default)]
    struct FailingLog(MemLog);

    impl QueueLog for FailingLog {
        fn flush(&self, _: WriteMark) -> Flush<'_> {
            Box::pin(async { Err("the disk is full".to_owned()) })
        }
        fn sent(&self, queue: &str, m: &Durable) -> Result<(), String> {
            self.0.sent(queue, m)
        }
        fn received(&self, queue: &str, seq: u64, n: u32) -> Result<(), String> {
            self.0.received(queue, seq, n)
        }
        fn removed(&self, queue: &str, seq: u64) -> Result<(), String> {
            self.0.removed(queue, seq)
        }
        fn noted(&self, queue: &str, seq: u64, error: &str) -> Result<(), String> {
            self.0.noted(queue, seq, error)
        }
    }

    /// A send whose commit fails is an error, and the error says the message is queued in
    /// memory all the same (it runs unless the process stops first): the console said
    /// "refused", and a trader could place the trade by hand beside it.
    #[tokio::test]
    async fn a_send_whose_commit_fails_says_it_is_queued_in_memory() {
        let clock = ManualClock::new(shared::clock::test_epoch());
        let q = LocalFifoQueue::restore(
            LocalQueueConfig {
                name: "q".into(),
                visibility_timeout: Duration::seconds(30),
                max_receives: 3,
            },
            clock.clone(),
            None,
            Arc::new(FailingLog::default()),
            Saved::default(),
        );
        let err = q.send_checked(msg("A", "a1")).await.unwrap_err();
        assert!(
            err.to_string().contains("queued in this process's memory"),
            "{err}"
        );
        assert_eq!(q.depth(), 1);
    }

    /// A log whose commit never comes: its writes are made, its flush never finishes.
    #[derive(Debug, Default)]
    struct StuckLog(MemLog);

    impl QueueLog for StuckLog {
        fn flush(&self, _: WriteMark) -> Flush<'_> {
            Box::pin(std::future::pending())
        }
        fn sent(&self, queue: &str, m: &Durable) -> Result<(), String> {
            self.0.sent(queue, m)
        }
        fn received(&self, queue: &str, seq: u64, n: u32) -> Result<(), String> {
            self.0.received(queue, seq, n)
        }
        fn removed(&self, queue: &str, seq: u64) -> Result<(), String> {
            self.0.removed(queue, seq)
        }
        fn noted(&self, queue: &str, seq: u64, error: &str) -> Result<(), String> {
            self.0.noted(queue, seq, error)
        }
    }

    /// A log whose latest commit failed and none has succeeded since: a write's own flush
    /// answers for its own writes only, and what stands is not all on disk.
    #[derive(Debug, Default)]
    struct LostLog(MemLog);

    impl QueueLog for LostLog {
        fn flush_standing(&self) -> Flush<'_> {
            Box::pin(async { Err("the latest commit failed".to_owned()) })
        }
        fn sent(&self, queue: &str, m: &Durable) -> Result<(), String> {
            self.0.sent(queue, m)
        }
        fn received(&self, queue: &str, seq: u64, n: u32) -> Result<(), String> {
            self.0.received(queue, seq, n)
        }
        fn removed(&self, queue: &str, seq: u64) -> Result<(), String> {
            self.0.removed(queue, seq)
        }
        fn noted(&self, queue: &str, seq: u64, error: &str) -> Result<(), String> {
            self.0.noted(queue, seq, error)
        }
    }

    /// A resend (its dedup id seen) while what stands is not all on disk (its original's
    /// commit failed, none has succeeded since): an error, never `Ok`, so the webhook does
    /// not acknowledge an alert that is on disk nowhere. A new message waits for its own
    /// writes only.
    #[tokio::test]
    async fn a_duplicate_send_fails_while_what_stands_is_not_on_disk() {
        let clock = ManualClock::new(shared::clock::test_epoch());
        let log = Arc::new(LostLog::default());
        let q = LocalFifoQueue::restore(
            LocalQueueConfig {
                name: "q".into(),
                visibility_timeout: Duration::seconds(30),
                max_receives: 3,
            },
            clock.clone(),
            None,
            log.clone(),
            Saved::default(),
        );
        assert!(q.send_checked(msg("A", "a1")).await.unwrap());
        let again = q.send_checked(msg("A", "a1")).await;
        assert!(
            again
                .as_ref()
                .is_err_and(|e| e.to_string().contains("the latest commit failed")),
            "{again:?}"
        );
        assert_eq!(q.depth(), 1, "the original stays queued");
    }

    #[tokio::test]
    async fn a_send_waits_for_its_commit_unless_the_queue_was_built_not_to() {
        let clock = ManualClock::new(shared::clock::test_epoch());
        let log = Arc::new(StuckLog::default());
        let build = |name: &str| {
            LocalFifoQueue::restore(
                LocalQueueConfig {
                    name: name.into(),
                    visibility_timeout: Duration::seconds(30),
                    max_receives: 3,
                },
                clock.clone(),
                None,
                log.clone(),
                Saved::default(),
            )
        };
        let waits = build("waits");
        let sent = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            waits.send(msg("A", "a1")),
        )
        .await;
        assert!(sent.is_err(), "a send returned before its commit");
        let quick = build("quick").sends_wait_for_commit(false);
        quick.send(msg("A", "a1")).await.unwrap();
        // Either way the message was written to the log and is in the queue.
        assert_eq!(log.0.saved("quick").messages.len(), 1);
        assert_eq!(log.0.saved("waits").messages.len(), 1);
        assert_eq!(quick.receive(1)[0].body, "a1");
    }

    #[test]
    fn a_group_waits_while_its_earlier_message_is_in_flight() {
        let clock = ManualClock::new(shared::clock::test_epoch());
        let q = queue(&clock);
        q.send_now(msg("A", "a1"));
        q.send_now(msg("A", "a2"));
        q.send_now(msg("B", "b1"));
        let first: Vec<_> = q.receive(1).into_iter().map(|m| m.body).collect();
        assert_eq!(first, ["a1"]);
        let next: Vec<_> = q.receive(10).into_iter().map(|m| m.body).collect();
        assert_eq!(next, ["b1"], "a2 must wait for a1");
    }

    #[test]
    fn dedup_survives_deletion_for_five_minutes() {
        let clock = ManualClock::new(shared::clock::test_epoch());
        let q = queue(&clock);
        assert!(q.send_now(msg("A", "x")));
        let got = q.receive(1);
        assert!(q.delete(&got[0].receipt));
        assert!(!q.send_now(msg("A", "x")));
        clock.advance(DEDUP_WINDOW);
        assert!(q.send_now(msg("A", "x")));
    }

    #[test]
    fn unacknowledged_messages_return_after_the_visibility_timeout_then_dead_letter() {
        let clock = ManualClock::new(shared::clock::test_epoch());
        let q = queue(&clock);
        q.send_now(msg("A", "p"));
        assert_eq!(q.receive(1)[0].receive_count, 1);
        assert!(q.receive(1).is_empty());
        clock.advance(Duration::seconds(31));
        let again = q.receive(1);
        assert_eq!(again[0].receive_count, 2);
        q.release(&again[0].receipt, Some("boom".into()));
        assert!(q.receive(1).is_empty(), "third receive moves it to the DLQ");
        let dead = q.dead_letters().unwrap().peek();
        assert_eq!(dead.len(), 1);
        assert_eq!(
            (
                dead[0].source_queue.as_deref(),
                dead[0].last_error.as_deref()
            ),
            (Some("q"), Some("boom"))
        );
        assert_eq!(dead[0].receive_count, 2, "the source queue's receives");
        assert_eq!(q.depth(), 0);
    }

    /// The plain-list model the indexed queue must agree with: a group with any message in
    /// flight is blocked; otherwise its visible messages go out oldest first, across groups.
    struct ModelMsg {
        group: String,
        body: String,
        receives: u32,
        invisible_until: Option<DateTime<Utc>>,
        receipt: Option<String>,
    }

    #[derive(Default)]
    struct Model {
        messages: Vec<ModelMsg>,
        dead: Vec<String>,
    }

    impl Model {
        fn send(&mut self, group: &str, body: &str) {
            self.messages.push(ModelMsg {
                group: group.into(),
                body: body.into(),
                receives: 0,
                invisible_until: None,
                receipt: None,
            });
        }
        /// `receipts`: the ones the queue under test handed out, in order, to pair them up.
        fn receive(
            &mut self,
            max: usize,
            now: DateTime<Utc>,
            receipts: &[String],
        ) -> Vec<(String, u32)> {
            for m in &mut self.messages {
                if m.invisible_until.is_some_and(|t| t <= now) {
                    m.invisible_until = None;
                }
            }
            let blocked: HashSet<String> = self
                .messages
                .iter()
                .filter(|m| m.invisible_until.is_some())
                .map(|m| m.group.clone())
                .collect();
            let mut out = Vec::new();
            let mut i = 0;
            let mut r = receipts.iter();
            while i < self.messages.len() && out.len() < max {
                let m = &mut self.messages[i];
                if blocked.contains(&m.group) {
                    i += 1;
                    continue;
                }
                if m.receives >= 2 {
                    self.dead.push(self.messages.remove(i).body);
                    continue;
                }
                m.receives += 1;
                m.invisible_until = Some(now + Duration::seconds(30));
                m.receipt = r.next().cloned();
                out.push((m.body.clone(), m.receives));
                i += 1;
            }
            out
        }
        fn delete(&mut self, receipt: &str) -> bool {
            let before = self.messages.len();
            self.messages
                .retain(|m| m.receipt.as_deref() != Some(receipt));
            before != self.messages.len()
        }
        fn release(&mut self, receipt: &str) {
            if let Some(m) = self
                .messages
                .iter_mut()
                .find(|m| m.receipt.as_deref() == Some(receipt))
            {
                m.invisible_until = None;
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Send(u8),
        Receive(usize),
        Delete(usize),
        Release(usize),
        Advance(i64),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0u8..4).prop_map(Op::Send),
            3 => (1usize..5).prop_map(Op::Receive),
            2 => any::<usize>().prop_map(Op::Delete),
            1 => any::<usize>().prop_map(Op::Release),
            1 => (1i64..40).prop_map(Op::Advance),
        ]
    }

    proptest::proptest! {
        #[test]
        fn the_indexed_queue_delivers_what_the_plain_list_model_does(
            ops in proptest::collection::vec(op(), 1..120)
        ) {
            let clock = ManualClock::new(shared::clock::test_epoch());
            let q = queue(&clock);
            let mut model = Model::default();
            let mut receipts: Vec<String> = Vec::new();
            let mut n = 0;
            for op in ops {
                match op {
                    Op::Send(g) => {
                        n += 1;
                        let body = format!("m{n}");
                        let group = format!("G{g}");
                        proptest::prop_assert!(q.send_now(msg(&group, &body)));
                        model.send(&group, &body);
                    }
                    Op::Receive(max) => {
                        let got = q.receive(max);
                        let mine: Vec<String> = got.iter().map(|m| m.receipt.clone()).collect();
                        let want = model.receive(max, clock.now(), &mine);
                        let got: Vec<(String, u32)> =
                            got.into_iter().map(|m| (m.body, m.receive_count)).collect();
                        proptest::prop_assert_eq!(got, want);
                        receipts.extend(mine);
                    }
                    Op::Delete(i) if !receipts.is_empty() => {
                        let r = receipts[i % receipts.len()].clone();
                        proptest::prop_assert_eq!(q.delete(&r), model.delete(&r));
                    }
                    Op::Release(i) if !receipts.is_empty() => {
                        let r = receipts[i % receipts.len()].clone();
                        q.release(&r, None);
                        model.release(&r);
                    }
                    Op::Advance(s) => clock.advance(Duration::seconds(s)),
                    _ => {}
                }
                proptest::prop_assert_eq!(q.depth(), model.messages.len());
                let dead: Vec<String> =
                    q.dead_letters().unwrap().peek().into_iter().map(|m| m.body).collect();
                proptest::prop_assert_eq!(&dead, &model.dead);
            }
        }
    }
}
