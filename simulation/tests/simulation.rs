//! The simulation as CI runs it: many seeds through the real handlers, every invariant
//! checked after each; a planted bug the checks must catch; one seed rerun alone.
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::print_stdout,
    reason = "the totals are the point of this test's output"
)]

use simulation::{Bug, Options, Report, mode_for, run_many, run_one};
use std::time::Instant;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Every seed in `0..SIM_SEEDS` (1,000 unless raised); every `SIM_HTTP_EVERY`-th seed (5)
/// trades through the real OANDA, Tradovate and Coinbase venues against the fake servers over
/// HTTP.
#[test]
fn seeds_keep_every_invariant() {
    if std::env::var("SIM_SEED").is_ok() {
        return; // one_seed runs it
    }
    let seeds = env_u64("SIM_SEEDS").unwrap_or(1000);
    let http_every = env_u64("SIM_HTTP_EVERY").unwrap_or(5);
    let started = Instant::now();
    let (totals, failures) = run_many(0, seeds, threads(), http_every, Options::default());
    let secs = started.elapsed().as_secs_f64();
    println!("{}", totals.summary());
    println!(
        "{seeds} seeds in {secs:.1} s ({:.0} seeds/s, {} threads, every {http_every}th seed over HTTP)",
        seeds as f64 / secs.max(1e-9),
        threads()
    );
    if let Some(first) = failures.first() {
        println!("{}", first.explain());
    }
    assert!(
        failures.is_empty(),
        "failing seeds: {:?} (rerun one with SIM_SEED=<n>)",
        totals.failed
    );
    assert_eq!(totals.seeds, seeds);
}

/// `SIM_SEED=<n> cargo test -p simulation --test simulation one_seed -- --nocapture`
#[test]
fn one_seed() {
    let Some(seed) = env_u64("SIM_SEED") else {
        return;
    };
    let http_every = env_u64("SIM_HTTP_EVERY").unwrap_or(5);
    let report = run_one(
        seed,
        Options {
            mode: mode_for(seed, http_every),
            ..Options::default()
        },
    );
    for h in &report.history {
        println!("{h}");
    }
    println!("counts: {:?}\nfaults: {:?}", report.counts, report.faults);
    assert!(report.ok(), "{}", report.explain());
}

/// The same seed gives the same history: the run is deterministic.
#[test]
fn a_seed_replays_identically() {
    let a = run_one(7, Options::default());
    let b = run_one(7, Options::default());
    assert_eq!(a.history, b.history);
    assert!(a.history.len() > 20);
}

fn caught(bug: Bug, first_n: u64) -> Vec<Report> {
    let (totals, failures) = run_many(
        0,
        first_n,
        threads(),
        0,
        Options {
            bug,
            ..Options::default()
        },
    );
    if let Some(first) = failures.first() {
        let excerpt: Vec<_> = first.failures.iter().take(3).collect();
        println!(
            "planted {bug:?}: caught by seed {} ({} of {first_n} seeds fail): {excerpt:?}",
            first.seed,
            totals.failed.len()
        );
    }
    failures
}

/// Whether some failing seed broke the invariant whose failure text holds `what`: the
/// planted bug is caught by the check meant for it, not by any failure at all (a broken
/// check would otherwise go unnoticed behind another one's).
fn by(failures: &[Report], what: &str) -> bool {
    failures
        .iter()
        .any(|r| r.failures.iter().any(|f| f.contains(what)))
}

/// A venue that resends an order POST after a 5xx or timeout without looking it up first
/// must be caught as a duplicate order for some seed among the first 200.
#[test]
fn planted_blind_retry_is_caught() {
    let failed = caught(Bug::RetryOrderWithoutLookup, 200);
    assert!(
        by(&failed, "orders at the broker for client order id")
            || by(&failed, "Coinbase orders for signal"),
        "the simulation missed a blind order retry as a duplicate order"
    );
}

/// A venue that opens before the close shows in the position must be caught holding both
/// directions for some seed among the first 200.
#[test]
fn planted_open_before_close_confirmed_is_caught() {
    let failed = caught(Bug::OpenBeforeCloseConfirmed, 200);
    assert!(
        by(&failed, "broker: "),
        "the simulation missed an open before the close was confirmed (both directions held)"
    );
}

/// A venue that trusts a lookup the broker does not document (a real broker answers it with
/// nothing, so an order created before a 5xx or a late fill looks "not created") must be
/// caught as a duplicate order for some seed among the first 200.
#[test]
fn planted_trust_in_an_undocumented_lookup_is_caught() {
    let failed = caught(Bug::TrustUndocumentedLookup, 200);
    assert!(
        by(&failed, "orders at the broker for client order id")
            || by(&failed, "Coinbase orders for signal"),
        "the simulation missed a lookup through an undocumented source as a duplicate order"
    );
}

/// An executor that keeps no latest signal time per instrument must be caught executing an
/// alert after a later-fired one of the same instrument, for some seed among the first 200.
#[test]
fn planted_ignored_signal_order_is_caught() {
    let failed = caught(Bug::IgnoreSignalOrder, 200);
    assert!(
        by(&failed, "sent an order after"),
        "the simulation missed signals executed out of timenow order"
    );
}
