//! The OANDA v20 executor: client, wire models, errors and the target-semantics venue. The
//! binary (`main.rs`) wires it into the shared executor runtime.

pub mod client;
pub mod config;
pub mod error;
pub mod models;
pub mod venue;
