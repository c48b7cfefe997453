//! A deterministic, seeded simulation of the whole pipeline.
//!
//! Each seed builds the pipeline in one process: the real ingest handler, router and
//! executor runtime over in-process SQS FIFO queues ([`local_sqs`]) under a
//! [`shared::clock::ManualClock`], with brokers played by venue-level models or by the real
//! OANDA, Tradovate and Coinbase venues against fake servers. A seeded driver sends alerts
//! (entries both ways, exits, duplicates, resends, stale ones), polls the queues in random
//! batches, scripts faults (broker 5xx, rejects, accepted-then-timeout, slow liquidation, token
//! expiry, queue send failures and redeliveries, executor crashes between any two steps,
//! journal outages) and replays dead letters with and without force. After a drain it checks
//! the design's promises; see `README.md`.

pub mod alerts;
pub mod http_venues;
pub mod model;
pub mod ports;
pub mod record;
pub mod rng;
pub mod world;

pub use model::Bug;
pub use world::{BrokerMode, Options, Report, run};

use std::collections::BTreeMap;

/// Sums over many seeds.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub seeds: u64,
    pub failed: Vec<u64>,
    pub counts: BTreeMap<String, u64>,
    pub faults: BTreeMap<String, u64>,
    pub checks: BTreeMap<String, u64>,
}

impl Totals {
    pub fn add(&mut self, r: &Report) {
        self.seeds += 1;
        if !r.ok() {
            self.failed.push(r.seed);
        }
        for (map, from) in [
            (&mut self.counts, &r.counts),
            (&mut self.faults, &r.faults),
            (&mut self.checks, &r.checks),
        ] {
            for (k, v) in from {
                *map.entry(k.clone()).or_default() += v;
            }
        }
    }

    pub fn merge(&mut self, other: Totals) {
        self.seeds += other.seeds;
        self.failed.extend(other.failed);
        for (map, from) in [
            (&mut self.counts, other.counts),
            (&mut self.faults, other.faults),
            (&mut self.checks, other.checks),
        ] {
            for (k, v) in from {
                *map.entry(k).or_default() += v;
            }
        }
    }

    pub fn summary(&self) -> String {
        let line = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let total_checks: u64 = self.checks.values().sum();
        let total_faults: u64 = self.faults.values().sum();
        format!(
            "seeds: {} ({} failed)\norders: {}\ncounts: {}\nfaults ({total_faults}): {}\ninvariant checks ({total_checks}): {}",
            self.seeds,
            self.failed.len(),
            self.counts.get("orders").copied().unwrap_or(0),
            line(&self.counts),
            line(&self.faults),
            line(&self.checks)
        )
    }
}

/// Which broker mode a seed runs in when every `http_every`-th seed uses the real venues.
pub fn mode_for(seed: u64, http_every: u64) -> BrokerMode {
    if http_every > 0 && seed.is_multiple_of(http_every) {
        BrokerMode::Http
    } else {
        BrokerMode::Model
    }
}

/// Runs one seed on a fresh single-threaded runtime (dropping it stops the fake servers).
pub fn run_one(seed: u64, opts: Options) -> Report {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(run(seed, opts)),
        Err(e) => Report {
            seed,
            mode: Some(opts.mode),
            failures: vec![format!("no runtime: {e}")],
            ..Report::default()
        },
    }
}

/// Runs seeds `from..to` on `threads` threads (each its own single-threaded runtime, each
/// seed its own world), returning the totals and the reports of failing seeds. Threads take
/// the next seed from a shared counter: HTTP seeds (every `http_every`-th) cost several
/// model seeds, and a fixed stride would hand them all to the same thread.
pub fn run_many(
    from: u64,
    to: u64,
    threads: usize,
    http_every: u64,
    opts: Options,
) -> (Totals, Vec<Report>) {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(from));
    let handles: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let next = next.clone();
            std::thread::spawn(move || {
                let mut totals = Totals::default();
                let mut failures = Vec::new();
                loop {
                    let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if seed >= to {
                        break;
                    }
                    let o = Options {
                        mode: mode_for(seed, http_every),
                        ..opts
                    };
                    // A seed that panics is a failure of that seed, named, not a thread's
                    // seeds lost (its earlier failures with them).
                    let report =
                        std::panic::catch_unwind(|| run_one(seed, o)).unwrap_or_else(|panic| {
                            let why = panic
                                .downcast_ref::<String>()
                                .map(String::as_str)
                                .or_else(|| panic.downcast_ref::<&str>().copied())
                                .unwrap_or("a panic without a message");
                            Report {
                                seed,
                                mode: Some(o.mode),
                                failures: vec![format!("the run panicked: {why}")],
                                ..Report::default()
                            }
                        });
                    totals.add(&report);
                    if !report.ok() {
                        failures.push(report);
                    }
                }
                (totals, failures)
            })
        })
        .collect();
    let mut totals = Totals::default();
    let mut failures = Vec::new();
    for h in handles {
        if let Ok((t, f)) = h.join() {
            totals.merge(t);
            failures.extend(f);
        }
    }
    failures.sort_by_key(|r| r.seed);
    totals.failed.sort_unstable();
    (totals, failures)
}
