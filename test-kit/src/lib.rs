//! What tests share, reachable only through dev-dependencies (and the fuzz targets): no
//! production crate depends on this.
//!
//! - [`fifo::MemoryFifoQueue`]: a send-side FIFO queue with SQS's per-group order and
//!   deduplication window, whose sends can be made to fail per message group;
//! - [`test_epoch`]: a fixed time for tests that need some start but no particular one.

pub mod fifo;

pub use shared::clock::test_epoch;
