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
    /// The message group: messages of one group are delivered in send order, one at a time.
    /// The upper-cased symbol, instrument or futures root ([`crate::message::group_id_for`],
    /// [`crate::message::OrderIntent::group_id`]), at most 128 characters.
    pub group_id: String,
    /// The deduplication id: a message whose id was sent within [`DEDUP_WINDOW`] is dropped.
    /// Usually the signal id, so an alert delivered twice is queued once.
    pub dedup_id: String,
    /// The payload: JSON of a [`SignalMessage`](crate::message::SignalMessage) or an
    /// [`OrderIntent`](crate::message::OrderIntent).
    pub body: String,
}

/// Why a message was not sent to a queue (or, from a [`Notifier`], not published to its
/// topic).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The queue service refused the message (bad parameters, missing queue): resending the
    /// same message will not help.
    #[error("queue {queue} refused the message: {reason}")]
    Refused {
        /// The queue's URL or name.
        queue: String,
        /// The service's error code and message, or why the request could not be built.
        reason: String,
    },
    /// The queue could not be reached or failed; the message may be resent.
    #[error("queue {queue} is unavailable: {reason}")]
    Unavailable {
        /// The queue's URL or name (the SNS topic's name for a notification).
        queue: String,
        /// The service's error code and message (throttling, internal error) or the
        /// transport failure.
        reason: String,
    },
}

/// SQS FIFO's deduplication window: a message with the dedup id of one sent in the last five
/// minutes is accepted and dropped (Amazon SQS Developer Guide, "Using the message deduplication
/// ID").
pub const DEDUP_WINDOW: chrono::Duration = chrono::Duration::minutes(5);

/// Sends to one SQS FIFO queue: `SqsFifoQueue` in `aws-adapters` (errors: throttling,
/// service faults, no answer and an answer of success that could not be read are
/// `QueueError::Unavailable`, other refusals `QueueError::Refused`), the
/// `local-sqs` queues locally and `test-kit`'s queue in tests.
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

/// Why a secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// No such secret: SSM answered `ParameterNotFound` or the parameter has no value;
    /// locally, the environment variable is unset or empty. Retrying will not help.
    #[error("secret {name} does not exist")]
    NotFound {
        /// The SSM parameter name or environment variable asked for.
        name: String,
    },
    /// The store failed or refused the read (access denied, throttling, network); it may
    /// pass on a later attempt.
    #[error("secret {name} could not be read: {reason}")]
    Unavailable {
        /// The SSM parameter name asked for.
        name: String,
        /// The service's error code or the transport error; never the secret's value.
        reason: String,
    },
}

/// Reads secrets (SSM SecureString in AWS, the environment locally).
pub trait SecretStore: Send + Sync {
    /// The decrypted value of the secret `name`: an SSM parameter name for `SsmSecretStore`
    /// (`aws-adapters`), an environment variable for
    /// [`EnvSecretStore`](crate::secrets::EnvSecretStore). Errors: [`SecretError::NotFound`]
    /// when it does not exist, [`SecretError::Unavailable`] when the store fails.
    fn secret(&self, name: &str) -> impl Future<Output = Result<SecretString, SecretError>> + Send;
}

/// A FIFO dead-letter queue an executor hands a message to itself: object-safe, so an
/// executor holds one without a type parameter. Every [`FifoQueue`] is one.
pub trait DeadLetterQueue: Send + Sync {
    /// Sends `message` to the dead-letter queue, with the same promise and errors as
    /// [`FifoQueue::send`] (in AWS an `SqsFifoQueue` on the broker queue's DLQ).
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
    /// The broker the orders go to.
    pub broker: Broker,
    /// The broker account id the orders are placed in.
    pub account: crate::execution::BrokerAccount,
    /// The signal being executed. DynamoDB keys the record `{broker}#{account}#{signal_id}`.
    pub signal_id: SignalId,
    /// The signal's time (`OrderIntent::signal_time`): a function of `signal_id`, since the
    /// id is the hash of the canonical alert, which holds the time. It identifies nothing
    /// the id does not; a store whose records sit in key order (the local stack's SQLite
    /// file) puts it first, so that records are written near each other in time order rather
    /// than at a place set by a hash. DynamoDB ignores it; the in-memory store keys by the
    /// whole key, time included. Callers take it from the intent, never from a clock.
    pub signal_time: DateTime<Utc>,
}

/// The key of the signal order of one instrument in one broker account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstrumentKey {
    /// The broker the orders go to.
    pub broker: Broker,
    /// The broker account id the orders are placed in.
    pub account: crate::execution::BrokerAccount,
    /// The series whose signals are ordered: the broker's instrument (e.g. `EUR_USD`), or
    /// for a continuous futures symbol the symbol as requested (`ES1!`), so the order holds
    /// across a roll.
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
    Busy {
        /// When the other attempt's lease ends (UTC).
        lease_until: DateTime<Utc>,
    },
    /// Already done: acknowledge without touching the broker.
    Completed {
        /// The outcome the attempt that finished recorded.
        outcome: Outcome,
    },
}

/// A store behind [`IdempotencyStore`], [`TokenStore`] or [`LeaseLock`] could not be read
/// or written (a DynamoDB or SSM call failed, or a stored item is malformed). The executor
/// leaves the message for a later retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
// The reason names the operation (`claim`, `token load`, `lock acquire`, …): the store
// behind a token or a lock is not the idempotency store.
#[error("store unavailable: {reason}")]
pub struct StoreError {
    /// The operation that failed and the service's error code and message, or what is
    /// wrong with the stored item.
    pub reason: String,
}

/// How far a local store's commit is kept (the local stack's state file, queues' file and
/// SQLite journal; DynamoDB, SQS and PostgreSQL decide their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// A commit outlives the process (`kill -9`), not a power cut or an operating-system
    /// crash: no `fsync` per commit (SQLite's `synchronous=NORMAL` in WAL mode,
    /// <https://www.sqlite.org/pragma.html#pragma_synchronous>). Paper brokers: a lost commit
    /// loses paper orders only, and an `fsync` per commit would cap the signal rate.
    #[default]
    ProcessCrash,
    /// A commit outlives a power cut too: `fsync` before the commit returns (SQLite's
    /// `synchronous=FULL`: "an additional sync operation of the WAL file happens after each
    /// transaction commit", which "helps ensure that transactions are durable across a power
    /// loss"; an append-only file's data synced after each write). Real brokers: a claim
    /// lost with a power cut would let the restart send its signal's orders again.
    PowerLoss,
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
    ///
    /// Only the attempt's own record is dropped: it must still be in progress with
    /// `lease_until` equal to the one this attempt claimed it with. An attempt that ran past
    /// its lease may find a later attempt's claim there, and that attempt may have sent
    /// orders: dropped, the record would let a third attempt claim it `Acquired` and send
    /// without looking the orders up. A completed, absent or later record is left alone.
    fn release(
        &self,
        key: &IdempotencyKey,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

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
    /// A one-line subject; the SNS adapter turns non-ASCII characters into `?` and cuts it at
    /// 100 characters.
    pub subject: String,
    /// The plain-text body, sent as is.
    pub message: String,
    /// Sent whatever a rate limit says: an unknown outcome, or a signal that leaves the
    /// account holding what the strategy left (half done, a refused close, a reversal
    /// refused before its close, an exit or a flatten ended without a fill), which need an
    /// operator.
    pub urgent: bool,
}

/// Tells the operator: `SnsNotifier` (one SNS topic) in `aws-adapters`,
/// [`MemoryNotifier`](crate::memory::MemoryNotifier) locally. `executor-runtime`'s
/// `RateLimited` wraps one to send at most one non-urgent mail per broker per interval.
pub trait Notifier: Send + Sync {
    /// Publishes `note`. The SNS adapter reports every failure as
    /// [`QueueError::Unavailable`] with the topic's name; callers only log it.
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

    fn release(
        &self,
        key: &IdempotencyKey,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).release(key, lease_until)
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
    /// The bearer token the broker API expects; never logged.
    pub access_token: SecretString,
    /// When the broker stops accepting the token (UTC).
    pub expires_at: DateTime<Utc>,
    /// Whose token it is: a fingerprint of the login that got it (the broker's server and
    /// user, hashed, never the user name itself), so that a process whose credentials
    /// changed does not take another login's token, and with it that login's accounts.
    /// `None`: not known (a token stored by a version before this field), taken by no one.
    pub owner: Option<String>,
    /// Until when (UTC) no request may be sent to the broker with this credential: a
    /// broker's rate limit that asks every client of the account to stay away (Tradovate's
    /// 429), kept beside the token so that every process that loads it holds off, not only
    /// the one that met the limit. `None`: no such stop. Filled by [`TokenStore::load`] where
    /// the store keeps the stop with the token; [`TokenStore::save`] ignores it (only
    /// [`TokenStore::save_stop`] writes a stop).
    pub stopped_until: Option<DateTime<Utc>>,
}

/// How far past a new stop a stored one may end and still be kept ([`TokenStore::save_stop`]).
pub const STOP_OVERWRITE_MARGIN: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// Where access tokens are shared between the refresher and executors (DynamoDB and an SSM
/// SecureString in AWS). `name` identifies the credential set (e.g. `tradovate`).
pub trait TokenStore: Send + Sync {
    /// The token stored under `name` (`DynamoTokenStore`: item `token#<name>`;
    /// `SsmTokenStore`: parameter `<prefix>/<name>/token`;
    /// [`MemoryTokenStore`](crate::memory::MemoryTokenStore) locally), or `Ok(None)` when
    /// there is none. `Err` when the store cannot be read or (SSM) the stored value is not the
    /// expected JSON.
    fn load(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<StoredToken>, StoreError>> + Send;
    /// Stores `token` under `name`, replacing any earlier one but leaving a stored stop as it
    /// is; `Err` when the write fails.
    fn save(
        &self,
        name: &str,
        token: &StoredToken,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The stop stored under `name` ([`StoredToken::stopped_until`]), whether or not a token
    /// is stored; `Ok(None)` when there is none (the SSM copy keeps none).
    fn load_stop(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;
    /// Stores a stop until `until` under `name` unless a later one is stored, leaving the
    /// token as it is (none need be stored); `Err` when the write fails. A stored stop ending
    /// more than [`STOP_OVERWRITE_MARGIN`] after `until` is no stop a rate limit of the same
    /// length stored (a clock far off, a hand edit) and is overwritten, so it cannot keep
    /// later stops from being stored. The SSM copy keeps no stop (`Ok` without a write).
    fn save_stop(
        &self,
        name: &str,
        until: DateTime<Utc>,
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

    fn load_stop(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send {
        (**self).load_stop(name)
    }

    fn save_stop(
        &self,
        name: &str,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).save_stop(name, until)
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
