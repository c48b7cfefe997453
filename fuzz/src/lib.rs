//! The checks behind the fuzz targets, in a library so that `cargo test` can replay the seed
//! corpus and every saved reproducer on the stable toolchain without libFuzzer.
//!
//! Every check panics on a broken invariant: libFuzzer reports a panic as a crash and saves
//! the input. Inputs that are merely refused are fine; what is checked is the shape of the
//! refusal.
//!
//! Two findings of the first runs (see README.md) are still open, so their checks only run
//! with `FUZZ_STRICT=1`: refusals that reflect more than a bounded part of the body, and a
//! secret echoed back (and logged) when the sender wrote it into another field. Everything
//! else is always checked.

pub mod alert_parser;
pub mod webhook;

use std::sync::OnceLock;

/// Whether the checks of open findings run (`FUZZ_STRICT=1`).
pub fn strict() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| std::env::var("FUZZ_STRICT").is_ok_and(|v| v == "1"))
}

/// The longest refusal message a sender may get back. `shared::error::echo` cuts each echoed
/// value to 64 characters so that a refusal cannot reflect a large payload; the longest fixed
/// message plus a few echoed values stays well under this.
pub const MAX_REFUSAL_MESSAGE: usize = 1024;
