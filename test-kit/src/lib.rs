//! What tests share, reachable only through dev-dependencies (and the fuzz targets): no
//! production crate depends on this.
//!
//! - [`executor::executor`]: a broker venue under the real executor runtime, with the
//!   in-memory store, journal, notifier and metrics the test reads ([`executor::Ports`]);
//!   [`executor::IntentFor`]: intents as the router sends them, at [`executor::t0`];
//! - [`fifo::MemoryFifoQueue`]: a send-side FIFO queue with SQS's per-group order and
//!   deduplication window, whose sends can be made to fail per message group;
//! - [`test_epoch`]: a fixed time for tests that need some start but no particular one.

#[cfg(feature = "executor")]
pub mod executor;
pub mod fifo;

pub use shared::clock::test_epoch;
