//! The webhook Lambda: size limit → IP allowlist → secret → parse → validate → route check →
//! staleness → enqueue to the `signals` FIFO queue (group = symbol, dedup id = SignalId).
//!
//! TradingView gives up after 3 s and resends only on 5xx, so this answers fast, answers 5xx
//! only when the alert could not be enqueued (a resend can then succeed), and 4xx for
//! everything the sender got wrong. The core ([`Ingest::handle`]) knows nothing of Lambda;
//! [`lambda`] adapts API Gateway events to it.

pub mod config;
pub mod error;
pub mod handler;
pub mod lambda;

pub use config::{IngestConfig, SecretSource};
pub use error::IngestError;
pub use handler::{Accepted, Ingest, Reply, WebhookRequest};
