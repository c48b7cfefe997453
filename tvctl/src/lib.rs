//! The parts of `tvctl` other crates use: the journal report (`tvctl report`, and the bench in
//! `perf`) and the TradingView alert template (`tvctl alert-template`).

pub mod report;
pub mod template;
