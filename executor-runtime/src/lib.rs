//! What every executor shares. A broker crate implements [`venue::Venue`]; this crate wraps
//! it in the execution protocol of the design:
//!
//! 1. take the idempotency record (completed → acknowledge; live lease → retry later;
//!    expired lease → take over and reconcile by lookup);
//! 2. refuse stale signals (expired) and what the guards forbid (refused);
//! 3. let the venue drive the account to the target;
//! 4. journal (idempotent upsert), notify, emit metrics, then complete the record.
//!
//! A journal or store failure after the venue ran reports the message failed and hands the
//! attempt's lease over: the quick redelivery takes it over at once, and the venue looks its
//! orders up instead of sending them again. An unknown outcome keeps its lease (alarmed, and
//! dead-lettered for an operator) rather than be taken over while the broker may still be
//! settling.

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
