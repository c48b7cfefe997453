//! Domain core shared by every Lambda of the pipeline.
//!
//! This crate is pure: no AWS, HTTP or Lambda types. It holds the alert parser and its
//! refusals, [`SignalId`](signal::SignalId), the routing table, the messages the Lambdas
//! exchange, the ports (traits) adapters implement, the [`Clock`](clock::Clock) seam and the
//! typed configuration helpers.

#![warn(missing_docs)]

pub mod alert;
pub mod clock;
pub mod config;
pub mod contract_specs;
pub mod error;
pub mod execution;
pub mod front_month;
pub mod health;
pub mod memory;
pub mod message;
pub mod outcome;
pub mod ports;
pub mod replay;
pub mod routing;
pub mod secrets;
pub mod signal;
pub mod telemetry;
pub mod terminal;

pub use alert::{Action, Alert, RawAlert};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{AlertError, ErrorCode};
pub use routing::{Broker, Instrument, Route, RoutingTable};
pub use signal::SignalId;
