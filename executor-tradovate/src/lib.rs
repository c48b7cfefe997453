//! Tradovate: the REST client, token management shared with the token refresher, and the
//! futures venue the executor Lambda runs.

pub mod account;
pub mod client;
pub mod config;
#[cfg(feature = "aws")]
pub mod deploy;
pub mod error;
pub mod models;
pub mod token;
pub mod venue;
