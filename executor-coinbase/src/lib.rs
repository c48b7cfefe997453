//! The Coinbase Advanced Trade executor: CDP key and JWT signing, the REST client, wire
//! models, errors and the spot target-semantics venue. The binary (`main.rs`) wires it into
//! the shared executor runtime.
//!
//! For the local stack: [`client::CoinbaseClient::new`] takes a base URL, the key name, the
//! pasted private key and a clock; [`venue::CoinbaseVenue::new`] turns it into a `Venue`.

pub mod auth;
pub mod client;
pub mod config;
pub mod error;
pub mod models;
pub mod venue;
