//! What every executor shares. A broker crate implements [`venue::Venue`]; this crate wraps
//! it in the execution protocol of the design:
//!
//! 1. take the idempotency record (completed → acknowledge; live lease → retry later;
//!    expired lease → take over and reconcile by lookup);
//! 2. refuse stale signals (expired) and what the guards forbid (refused);
//! 3. let the venue drive the account to the target;
//! 4. journal (idempotent upsert), notify, emit metrics, then complete the record.
//!
//! An unknown outcome, a journal failure or a store failure leaves the lease in place and
//! reports the message failed: it comes back after the lease, is taken over, and the venue
//! looks its orders up instead of sending them again.

#![warn(missing_docs)]

pub mod drive;
pub mod health;
pub mod http;
pub mod killswitch;
pub mod metrics;
pub mod notify;
pub mod paper;
pub mod plan;
pub mod processor;
pub mod risk;
pub mod venue;
