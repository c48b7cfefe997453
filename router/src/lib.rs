//! The router Lambda: consumes the `signals` FIFO queue and sends each signal, as an
//! [`OrderIntent`](shared::message::OrderIntent), to its broker's FIFO queue (group = broker
//! instrument, a futures contract's root at Tradovate; dedup id = SignalId).
//!
//! A batch is processed strictly in order. When a record fails, it and every later record of
//! its message group are reported in `batchItemFailures`, so the group's order survives the
//! retry; other groups go on. A signal that no longer routes (the table changed since ingest)
//! is logged as refused and acknowledged: retrying it could never succeed.

pub mod config;
pub mod handler;

pub use config::RouterConfig;
pub use handler::{BrokerQueues, RecordError, Router};
