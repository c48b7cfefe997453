//! What tests share, reachable only through dev-dependencies (and the fuzz targets): no
//! production crate depends on this.
//!
//! - [`time::t0`]: the fixed instant the executor, adapter and venue tests start from (and
//!   [`time::t0_micros`], the same with microseconds); [`test_epoch`]: a fixed time for tests
//!   that need some start but no particular one;
//! - `executor::executor` (feature `executor`): a broker venue under the real executor
//!   runtime, with the in-memory store, journal, notifier and metrics the test reads
//!   (`executor::Ports`); `executor::IntentFor`: intents as the router sends them, at
//!   [`time::t0`];
//! - [`fifo::MemoryFifoQueue`]: a send-side FIFO queue with SQS's per-group order and
//!   deduplication window, whose sends can be made to fail per message group;
//! - `moto` (feature `moto`): the moto server of `MOTO_ENDPOINT` (failing with how to start
//!   it when unset), SDK clients bound to it, and uniquely named queues and tables on it;
//! - [`ViolationCheck`]: fails a test that ends with a violation its broker fake recorded.
#![warn(missing_docs)]

#[cfg(feature = "executor")]
pub mod executor;
pub mod fifo;
#[cfg(feature = "moto")]
pub mod moto;
pub mod time;
mod violations;

pub use violations::ViolationCheck;

pub use shared::clock::test_epoch;
