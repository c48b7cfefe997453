//! An in-process FIFO queue with SQS's send-side semantics (per-group order, dedup within a
//! five-minute window on the dedup id), for handler tests and local runs. Faults can be
//! scripted per message group.

use chrono::{DateTime, Utc};
use shared::clock::Clock;
use shared::ports::{DEDUP_WINDOW, FifoMessage, FifoQueue, QueueError};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct State {
    messages: Vec<FifoMessage>,
    seen: HashMap<String, DateTime<Utc>>,
    failures: HashMap<String, usize>,
    attempts: usize,
}

/// A FIFO queue in memory: what was sent, in order, with SQS's deduplication window read on
/// `C` and the failures a test scripted.
#[derive(Debug)]
pub struct MemoryFifoQueue<C> {
    name: String,
    clock: C,
    state: Mutex<State>,
}

impl<C: Clock> MemoryFifoQueue<C> {
    /// An empty queue called `name` (the name its errors give), reading the time on `clock`.
    pub fn new(name: impl Into<String>, clock: C) -> Self {
        Self {
            name: name.into(),
            clock,
            state: Mutex::new(State::default()),
        }
    }

    /// The next `times` sends to `group` fail as if the queue were unreachable.
    pub fn fail_group(&self, group: &str, times: usize) {
        self.lock().failures.insert(group.to_owned(), times);
    }

    /// Messages accepted so far (duplicates dropped), in send order.
    pub fn messages(&self) -> Vec<FifoMessage> {
        self.lock().messages.clone()
    }

    /// Every send attempt, including failed and deduplicated ones.
    pub fn attempts(&self) -> usize {
        self.lock().attempts
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<C: Clock> FifoQueue for MemoryFifoQueue<C> {
    async fn send(&self, message: FifoMessage) -> Result<(), QueueError> {
        let now = self.clock.now();
        let mut state = self.lock();
        state.attempts += 1;
        if let Some(left) = state.failures.get_mut(&message.group_id)
            && *left > 0
        {
            *left -= 1;
            return Err(QueueError::Unavailable {
                queue: self.name.clone(),
                reason: "scripted failure".into(),
            });
        }
        state.seen.retain(|_, at| now - *at < DEDUP_WINDOW);
        if state.seen.contains_key(&message.dedup_id) {
            return Ok(());
        }
        state.seen.insert(message.dedup_id.clone(), now);
        state.messages.push(message);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::clock::ManualClock;

    fn msg(group: &str, dedup: &str) -> FifoMessage {
        FifoMessage {
            group_id: group.into(),
            dedup_id: dedup.into(),
            body: format!("{group}/{dedup}"),
        }
    }

    #[tokio::test]
    async fn duplicate_dedup_id_is_dropped_inside_the_window_only() {
        let clock = ManualClock::new(shared::clock::test_epoch());
        let q = MemoryFifoQueue::new("signals", clock.clone());
        q.send(msg("EURUSD", "a")).await.unwrap();
        q.send(msg("EURUSD", "a")).await.unwrap();
        assert_eq!(q.messages().len(), 1);
        clock.advance(DEDUP_WINDOW);
        q.send(msg("EURUSD", "a")).await.unwrap();
        assert_eq!(q.messages().len(), 2);
        assert_eq!(q.attempts(), 3);
    }

    #[tokio::test]
    async fn scripted_failures_hit_only_their_group() {
        let q = MemoryFifoQueue::new("oanda", ManualClock::new(shared::clock::test_epoch()));
        q.fail_group("EUR_USD", 1);
        assert!(matches!(
            q.send(msg("EUR_USD", "a")).await,
            Err(QueueError::Unavailable { .. })
        ));
        q.send(msg("GBP_USD", "b")).await.unwrap();
        q.send(msg("EUR_USD", "a")).await.unwrap();
        let groups: Vec<_> = q.messages().into_iter().map(|m| m.group_id).collect();
        assert_eq!(groups, ["GBP_USD", "EUR_USD"]);
    }
}
