//! Ports: the capabilities the handlers need, as small traits, all listed here. Adapters live
//! elsewhere (the `aws-adapters` crate, the broker crates, [`crate::memory`] for the local
//! stack, `local-sqs` and `test-kit` for queues); the handlers are generic over these traits
//! and are tested with in-process implementations.
//!
//! | port | what for | deployed by | locally |
//! |---|---|---|---|
//! | [`FifoQueue`] | send to an SQS FIFO queue | `aws-adapters::SqsFifoQueue` | `local-sqs` |
//! | [`DeadLetterQueue`] | park a message an executor cannot finish | SQS | `local-sqs` |
//! | [`SecretStore`] | read a credential | SSM SecureString | settings |
//! | [`IdempotencyStore`] | one execution per signal (lease, outcome) | DynamoDB | [`crate::memory`] |
//! | [`Notifier`] | tell the operator (failures, unknown outcomes) | SNS | [`crate::memory`] |
//! | [`TokenStore`], [`LeaseLock`] | the Tradovate token and its renewal lock | SSM, DynamoDB | [`crate::memory`] |
//! | [`TradeJournal`] | the trade journal | PostgreSQL or log lines (`journal`) | SQLite |
//! | [`HealthStore`], [`NotifyGate`] | broker path health, the mail gate | DynamoDB | [`crate::memory`] |
//! | [`FrontMonthCache`] | front months from Databento | DynamoDB | none (the roll rule) |
//! | [`AuditLog`] | who replayed which dead letter | the journal or a file | the journal |
//! | [`Clock`] | the time (see [`crate::clock`]) | `SystemClock` | `SystemClock` |
//!
//! The executors add two of their own in `executor-runtime`: `KillSwitch` (SSM parameter)
//! and `MetricsSink` (CloudWatch EMF lines), and the broker conversation (`Conversation`).

pub use crate::clock::Clock;
pub use crate::execution::TradeJournal;
pub use crate::front_month::FrontMonthCache;
pub use crate::health::{HealthStore, NotifyGate};
pub use crate::replay::AuditLog;

use crate::outcome::Outcome;
use crate::routing::Broker;
use crate::signal::SignalId;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use std::future::Future;

/// One message for a FIFO queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FifoMessage {
    pub group_id: String,
    pub dedup_id: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The queue service refused the message (bad parameters, missing queue): resending the
    /// same message will not help.
    #[error("queue {queue} refused the message: {reason}")]
    Refused { queue: String, reason: String },
    /// The queue could not be reached or failed; the message may be resent.
    #[error("queue {queue} is unavailable: {reason}")]
    Unavailable { queue: String, reason: String },
}

/// Sends to one FIFO queue.
/// SQS FIFO's deduplication window: a message with the dedup id of one sent in the last five
/// minutes is accepted and dropped (Amazon SQS Developer Guide, "Using the message deduplication
/// ID").
pub const DEDUP_WINDOW: chrono::Duration = chrono::Duration::minutes(5);

pub trait FifoQueue: Send + Sync {
    /// Sends one message; a duplicate dedup id inside the window is accepted and dropped by
    /// the queue, as SQS does.
    fn send(&self, message: FifoMessage) -> impl Future<Output = Result<(), QueueError>> + Send;
}

impl<Q: FifoQueue + ?Sized> FifoQueue for std::sync::Arc<Q> {
    fn send(&self, message: FifoMessage) -> impl Future<Output = Result<(), QueueError>> + Send {
        (**self).send(message)
    }
}

impl<Q: FifoQueue + ?Sized> FifoQueue for &Q {
    fn send(&self, message: FifoMessage) -> impl Future<Output = Result<(), QueueError>> + Send {
        (**self).send(message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret {name} does not exist")]
    NotFound { name: String },
    #[error("secret {name} could not be read: {reason}")]
    Unavailable { name: String, reason: String },
}

/// Reads secrets (SSM SecureString in AWS, the environment locally).
pub trait SecretStore: Send + Sync {
    fn secret(&self, name: &str) -> impl Future<Output = Result<SecretString, SecretError>> + Send;
}

/// A FIFO dead-letter queue an executor hands a message to itself: object-safe, so an
/// executor holds one without a type parameter. Every [`FifoQueue`] is one.
pub trait DeadLetterQueue: Send + Sync {
    fn dead_letter(
        &self,
        message: FifoMessage,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), QueueError>> + Send + '_>>;
}

impl<Q: FifoQueue> DeadLetterQueue for Q {
    fn dead_letter(
        &self,
        message: FifoMessage,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), QueueError>> + Send + '_>> {
        Box::pin(self.send(message))
    }
}

/// The key of an idempotency record: one per broker account and signal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    pub broker: Broker,
    pub account: String,
    pub signal_id: SignalId,
}

/// The key of the signal order of one instrument in one broker account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstrumentKey {
    pub broker: Broker,
    pub account: String,
    pub instrument: String,
}

/// What taking the idempotency record found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First attempt: ours, with a lease. Complete it before the lease ends.
    Acquired,
    /// A previous attempt's lease expired: ours now, but the broker may already have seen
    /// our orders, so reconcile (look up by client order id) before sending anything.
    TakenOver,
    /// Another attempt holds a live lease: report the message failed and come back later.
    Busy { lease_until: DateTime<Utc> },
    /// Already done: acknowledge without touching the broker.
    Completed { outcome: Outcome },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("idempotency store unavailable: {reason}")]
pub struct StoreError {
    pub reason: String,
}

/// How far before `now` a handed-over lease ends: covers clock differences between the
/// failed attempt's host and the retry's.
pub const HAND_OVER_SKEW: chrono::Duration = chrono::Duration::seconds(5);

/// Exactly-once bookkeeping for executors (DynamoDB conditional writes in AWS). Times come
/// from the caller's clock so leases are testable.
pub trait IdempotencyStore: Send + Sync {
    /// Takes the record: absent → `Acquired`; in progress with `lease_until` ≤ `now` →
    /// `TakenOver` (lease renewed to `lease_until`); in progress and live → `Busy`;
    /// completed → `Completed`. Atomic: of two concurrent claims, one gets `Busy`.
    fn claim(
        &self,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Marks the record completed with its outcome (kept until `expires_at`, for TTL).
    fn complete(
        &self,
        key: &IdempotencyKey,
        outcome: Outcome,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Drops an in-progress record whose attempt sent nothing to the broker, so a retry need
    /// not wait out the lease. Never called once an order may have left.
    fn release(&self, key: &IdempotencyKey) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Ends this attempt's lease without completing the record, so the next claim is
    /// `TakenOver` at once (and reconciles by lookup) instead of `Busy` until the lease runs
    /// out. Called by an attempt that may have sent orders and then failed (a journal write,
    /// say): its record comes back within seconds, well inside the lease.
    ///
    /// Only the attempt's own lease is ended: the record must still be in progress with
    /// `lease_until` equal to the one this attempt claimed it with (a later attempt's lease is
    /// left alone). The lease is set to [`HAND_OVER_SKEW`] before `now`, so a retry on a
    /// host whose clock runs slightly behind still takes over. A completed or absent record
    /// is left alone.
    fn hand_over(
        &self,
        key: &IdempotencyKey,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records `signal_time` (the alert's `timenow`) as the latest signal of the instrument,
    /// unless a later one is recorded: then answers that later time and records nothing.
    /// Equal times are not later: two alerts of the same second both execute, in arrival
    /// order. Atomic (a conditional write in DynamoDB), so it holds across containers.
    fn advance(
        &self,
        key: &InstrumentKey,
        signal_time: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;
}

/// An operator-facing notification (SNS in AWS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub subject: String,
    pub message: String,
    /// Sent whatever a rate limit says: an unknown outcome, which needs an operator.
    pub urgent: bool,
}

pub trait Notifier: Send + Sync {
    fn notify(&self, note: Notification) -> impl Future<Output = Result<(), QueueError>> + Send;
}

impl<T: IdempotencyStore + ?Sized> IdempotencyStore for std::sync::Arc<T> {
    fn claim(
        &self,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        (**self).claim(key, now, lease_until)
    }

    fn complete(
        &self,
        key: &IdempotencyKey,
        outcome: Outcome,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).complete(key, outcome, expires_at)
    }

    fn release(&self, key: &IdempotencyKey) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).release(key)
    }

    fn hand_over(
        &self,
        key: &IdempotencyKey,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).hand_over(key, lease_until, now)
    }

    fn advance(
        &self,
        key: &InstrumentKey,
        signal_time: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send {
        (**self).advance(key, signal_time)
    }
}

impl<T: Notifier + ?Sized> Notifier for std::sync::Arc<T> {
    fn notify(&self, note: Notification) -> impl Future<Output = Result<(), QueueError>> + Send {
        (**self).notify(note)
    }
}

/// A broker access token with its expiry, as the token cache keeps it.
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub access_token: SecretString,
    pub expires_at: DateTime<Utc>,
}

/// Where access tokens are shared between the refresher and executors (DynamoDB and an SSM
/// SecureString in AWS). `name` identifies the credential set (e.g. `tradovate`).
pub trait TokenStore: Send + Sync {
    fn load(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<StoredToken>, StoreError>> + Send;
    fn save(
        &self,
        name: &str,
        token: &StoredToken,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A named lock with a lease, so two processes never refresh the same credential at once.
pub trait LeaseLock: Send + Sync {
    /// Takes the lock for `owner` until `lease_until` if it is free or its lease ended by
    /// `now`. `Ok(false)`: someone else holds it.
    fn acquire(
        &self,
        name: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Releases the lock if `owner` still holds it.
    fn release(
        &self,
        name: &str,
        owner: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl<T: TokenStore + ?Sized> TokenStore for std::sync::Arc<T> {
    fn load(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<StoredToken>, StoreError>> + Send {
        (**self).load(name)
    }

    fn save(
        &self,
        name: &str,
        token: &StoredToken,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).save(name, token)
    }
}

impl<T: LeaseLock + ?Sized> LeaseLock for std::sync::Arc<T> {
    fn acquire(
        &self,
        name: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).acquire(name, owner, now, lease_until)
    }

    fn release(
        &self,
        name: &str,
        owner: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).release(name, owner)
    }
}
