//! Fake broker servers for tests: OANDA v20, Tradovate REST and Coinbase Advanced Trade,
//! served by axum on 127.0.0.1 with scripted faults. They record what a real server would
//! refuse in `violations()`, so a test can assert the client never sent it.
// The fakes hold only made-up credentials; their handles need no Debug.
#![allow(missing_debug_implementations)]
// A fake broker keeps the broker's own time (transaction times, fill times), as the real
// server does with its clock: not a decision of this project's to pin.
#![allow(clippy::disallowed_methods)]

pub mod coinbase;
pub mod oanda;
pub mod tradovate;
