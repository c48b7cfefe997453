//! The executor's ports, wrapped from outside: each call passes the crash gates, the journal
//! can be down, a queue can refuse a send, and the store records the order of first claims.

use crate::record::{Crash, Log};
use chrono::{DateTime, Utc};
use local_sqs::LocalFifoQueue;
use shared::clock::ManualClock;
use shared::execution::{JournalError, OrderRecord, SignalRecord, TradeJournal};
use shared::memory::{MemoryIdempotencyStore, MemoryJournal};
use shared::outcome::Outcome;
use shared::ports::{
    Claim, FifoMessage, FifoQueue, IdempotencyKey, IdempotencyStore, InstrumentKey, QueueError,
    StoreError,
};
use shared::signal::SignalId;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

pub type Queue = Arc<LocalFifoQueue<ManualClock>>;

/// A queue whose next `fail` sends are refused as unavailable (an SQS outage).
#[derive(Debug, Clone)]
pub struct FlakyQueue {
    pub queue: Queue,
    pub fail: Arc<AtomicU32>,
    pub log: Log,
}

impl FlakyQueue {
    pub fn new(queue: Queue, log: Log) -> Self {
        Self {
            queue,
            fail: Arc::default(),
            log,
        }
    }
}

fn take(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

impl FifoQueue for FlakyQueue {
    async fn send(&self, message: FifoMessage) -> Result<(), QueueError> {
        if take(&self.fail) {
            self.log.fault("queue_send_failure");
            return Err(QueueError::Unavailable {
                queue: self.queue.name().to_owned(),
                reason: "simulated outage".into(),
            });
        }
        self.queue.send(message).await
    }
}

/// The idempotency store behind crash gates; records first claims in order.
#[derive(Debug, Clone)]
pub struct SimStore {
    pub inner: Arc<MemoryIdempotencyStore>,
    pub crash: Arc<Crash>,
    pub log: Log,
    /// Planted bug: every claim is `Acquired` (a store that forgets).
    pub forgetful: bool,
    /// Planted bug: the latest signal time is never kept (no ordering across alerts).
    pub forget_order: bool,
}

impl IdempotencyStore for SimStore {
    async fn claim(
        &self,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        self.crash.gate("before store.claim").await;
        let mut claim = self.inner.claim(key, now, lease_until).await?;
        if self.forgetful {
            claim = Claim::Acquired;
        }
        if claim == Claim::Acquired {
            let mut rec = self.log.lock();
            if !rec.claims.contains(&key.signal_id) {
                rec.claims.push(key.signal_id.clone());
            }
        }
        self.crash.gate("after store.claim").await;
        Ok(claim)
    }

    async fn complete(
        &self,
        key: &IdempotencyKey,
        outcome: Outcome,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.crash.gate("before store.complete").await;
        self.inner.complete(key, outcome, expires_at).await?;
        self.crash.gate("after store.complete").await;
        Ok(())
    }

    async fn release(
        &self,
        key: &IdempotencyKey,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.crash.gate("before store.release").await;
        self.inner.release(key, lease_until).await?;
        self.crash.gate("after store.release").await;
        Ok(())
    }

    async fn hand_over(
        &self,
        key: &IdempotencyKey,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.crash.gate("before store.hand_over").await;
        self.inner.hand_over(key, lease_until, now).await?;
        self.crash.gate("after store.hand_over").await;
        Ok(())
    }

    async fn advance(
        &self,
        key: &InstrumentKey,
        signal_time: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.crash.gate("before store.advance").await;
        let later = if self.forget_order {
            None
        } else {
            self.inner.advance(key, signal_time).await?
        };
        self.crash.gate("after store.advance").await;
        Ok(later)
    }
}

/// The journal behind crash gates, down for its next `outage` writes.
#[derive(Debug, Clone)]
pub struct SimJournal {
    pub inner: Arc<MemoryJournal>,
    pub crash: Arc<Crash>,
    pub outage: Arc<AtomicU32>,
    pub log: Log,
}

impl SimJournal {
    fn down(&self) -> Result<(), JournalError> {
        if take(&self.outage) {
            self.log.fault("journal_outage");
            return Err(JournalError {
                reason: "journal outage (simulated)".into(),
            });
        }
        Ok(())
    }
}

impl TradeJournal for SimJournal {
    async fn upsert_signal(&self, record: &SignalRecord) -> Result<(), JournalError> {
        self.crash.gate("before journal.upsert_signal").await;
        self.down()?;
        self.inner.upsert_signal(record).await?;
        self.crash.gate("after journal.upsert_signal").await;
        Ok(())
    }

    async fn upsert_order(&self, record: &OrderRecord) -> Result<(), JournalError> {
        self.crash.gate("before journal.upsert_order").await;
        self.down()?;
        self.inner.upsert_order(record).await?;
        self.crash.gate("after journal.upsert_order").await;
        Ok(())
    }

    async fn signal(&self, id: &SignalId) -> Result<Option<SignalRecord>, JournalError> {
        self.inner.signal(id).await
    }

    async fn orders(&self, id: &SignalId) -> Result<Vec<OrderRecord>, JournalError> {
        self.inner.orders(id).await
    }
}
