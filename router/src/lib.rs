//! The router Lambda: consumes the `signals` FIFO queue and sends each signal, as an
//! [`OrderIntent`](shared::message::OrderIntent), to its broker's FIFO queue (group = broker
//! instrument, a futures contract's root at Tradovate; dedup id = SignalId).
//!
//! A batch is processed strictly in order. When a record fails, it and every later record of
//! its message group are reported in `batchItemFailures`, so the group's order survives the
//! retry; other groups go on. A signal that no longer routes (the table changed since ingest),
//! or a body that is not a signal at all, is sent to the dead-letter queue and acknowledged,
//! so its group goes on: retrying it could never succeed. Without a dead-letter queue (or
//! when that send fails) it is failed, and the queue's redrive policy keeps it. A signal of
//! a version this build does not know is retried (a deployment in progress clears it).

pub mod config;
pub mod handler;

pub use config::RouterConfig;
pub use handler::{BrokerQueues, RecordError, Router};
