//! An in-process SQS FIFO queue for the local stack and the simulation, with the semantics
//! the pipeline relies on: per-group order (a group's later messages wait while an earlier
//! one is in flight), a five-minute deduplication window on the dedup id that outlives
//! deletion (as real SQS does, unlike moto), a visibility timeout after which an
//! unacknowledged message comes back, and a dead-letter queue once a message has been
//! received `max_receives` times.

use crate::clock::Clock;
use crate::ports::{FifoMessage, FifoQueue, QueueError};
use crate::queue::DEDUP_WINDOW;
use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, HashSet, VecDeque};
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

#[derive(Debug, Clone)]
struct Stored {
    message_id: String,
    group_id: String,
    dedup_id: String,
    body: String,
    sent_at: DateTime<Utc>,
    receive_count: u32,
    invisible_until: Option<DateTime<Utc>>,
    receipt: Option<String>,
    source_queue: Option<String>,
    last_error: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    messages: VecDeque<Stored>,
    seen: HashMap<String, DateTime<Utc>>,
    /// `seen` in arrival order, so expiry looks only at the oldest entries instead of
    /// sweeping the whole window on every send.
    seen_order: VecDeque<(DateTime<Utc>, String)>,
    seq: u64,
}

#[derive(Debug)]
pub struct LocalFifoQueue<C> {
    config: LocalQueueConfig,
    clock: C,
    state: Mutex<State>,
    dead_letters: Option<Arc<LocalFifoQueue<C>>>,
    arrived: tokio::sync::Notify,
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
            state: Mutex::new(State::default()),
            dead_letters,
            arrived: tokio::sync::Notify::new(),
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

    fn push(
        &self,
        message: FifoMessage,
        source_queue: Option<String>,
        last_error: Option<String>,
    ) -> bool {
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
            return false;
        }
        st.seen.insert(message.dedup_id.clone(), now);
        st.seen_order.push_back((now, message.dedup_id.clone()));
        st.seq += 1;
        let message_id = format!("{}-{:08}", self.config.name, st.seq);
        st.messages.push_back(Stored {
            message_id,
            group_id: message.group_id,
            dedup_id: message.dedup_id,
            body: message.body,
            sent_at: now,
            receive_count: 0,
            invisible_until: None,
            receipt: None,
            source_queue,
            last_error,
        });
        drop(st);
        self.arrived.notify_waiters();
        true
    }

    /// Sends; `false` when the dedup id was seen inside the window (dropped, as SQS does).
    pub fn send_now(&self, message: FifoMessage) -> bool {
        self.push(message, None, None)
    }

    /// Up to `max` messages in FIFO order, skipping groups with a message in flight.
    pub fn receive(&self, max: usize) -> Vec<Received> {
        let now = self.clock.now();
        let mut to_dlq = Vec::new();
        let mut out = Vec::new();
        {
            let mut st = self.lock();
            let mut blocked: HashSet<String> = HashSet::new();
            let mut i = 0;
            while i < st.messages.len() && out.len() < max {
                let m = &mut st.messages[i];
                if m.invisible_until.is_some_and(|t| t > now) {
                    blocked.insert(m.group_id.clone());
                    i += 1;
                    continue;
                }
                if blocked.contains(&m.group_id) {
                    i += 1;
                    continue;
                }
                if m.receive_count >= self.config.max_receives && self.dead_letters.is_some() {
                    if let Some(m) = st.messages.remove(i) {
                        to_dlq.push(m);
                    }
                    continue;
                }
                st.seq += 1;
                let receipt = format!("rh-{}-{}", self.config.name, st.seq);
                let m = &mut st.messages[i];
                m.receive_count += 1;
                m.invisible_until = Some(now + self.config.visibility_timeout);
                m.receipt = Some(receipt.clone());
                out.push(Received {
                    message_id: m.message_id.clone(),
                    receipt,
                    group_id: m.group_id.clone(),
                    dedup_id: m.dedup_id.clone(),
                    body: m.body.clone(),
                    receive_count: m.receive_count,
                    sent_at: m.sent_at,
                    source_queue: m.source_queue.clone(),
                    last_error: m.last_error.clone(),
                });
                i += 1;
            }
        }
        if let Some(dlq) = &self.dead_letters {
            for m in to_dlq {
                // A FIFO dead-letter queue replaces the dedup id with the message id.
                dlq.push(
                    FifoMessage {
                        group_id: m.group_id,
                        dedup_id: m.message_id,
                        body: m.body,
                    },
                    Some(self.config.name.clone()),
                    m.last_error,
                );
            }
        }
        out
    }

    pub fn delete(&self, receipt: &str) -> bool {
        let mut st = self.lock();
        let before = st.messages.len();
        st.messages
            .retain(|m| m.receipt.as_deref() != Some(receipt));
        before != st.messages.len()
    }

    /// Makes a received message visible again at once and records why it failed.
    pub fn release(&self, receipt: &str, error: Option<String>) {
        let mut st = self.lock();
        if let Some(m) = st
            .messages
            .iter_mut()
            .find(|m| m.receipt.as_deref() == Some(receipt))
        {
            m.invisible_until = None;
            if error.is_some() {
                m.last_error = error;
            }
        }
        drop(st);
        self.arrived.notify_waiters();
    }

    /// Records why a received message failed, leaving it in flight until its visibility
    /// timeout (as Lambda's event source mapping does with reported failures).
    pub fn note_error(&self, receipt: &str, error: String) {
        let mut st = self.lock();
        if let Some(m) = st
            .messages
            .iter_mut()
            .find(|m| m.receipt.as_deref() == Some(receipt))
        {
            m.last_error = Some(error);
        }
    }

    /// Every message without consuming it (for `dlq list` and status).
    pub fn peek(&self) -> Vec<Received> {
        self.lock()
            .messages
            .iter()
            .map(|m| Received {
                message_id: m.message_id.clone(),
                receipt: String::new(),
                group_id: m.group_id.clone(),
                dedup_id: m.dedup_id.clone(),
                body: m.body.clone(),
                receive_count: m.receive_count,
                sent_at: m.sent_at,
                source_queue: m.source_queue.clone(),
                last_error: m.last_error.clone(),
            })
            .collect()
    }

    /// Removes a message by id without a receipt (after a replay).
    pub fn remove(&self, message_id: &str) -> bool {
        let mut st = self.lock();
        let before = st.messages.len();
        st.messages.retain(|m| m.message_id != message_id);
        before != st.messages.len()
    }

    pub fn depth(&self) -> usize {
        self.lock().messages.len()
    }
}

impl<C: Clock + Clone> FifoQueue for LocalFifoQueue<C> {
    async fn send(&self, message: FifoMessage) -> Result<(), QueueError> {
        self.send_now(message);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

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

    #[test]
    fn a_group_waits_while_its_earlier_message_is_in_flight() {
        let clock = ManualClock::new(Utc::now());
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
        let clock = ManualClock::new(Utc::now());
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
        let clock = ManualClock::new(Utc::now());
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
        assert_eq!(q.depth(), 0);
    }
}
