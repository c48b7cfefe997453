//! Runs the simulation from the command line: one seed with its history, or many with totals.
//!
//! ```text
//! cargo run -p simulation -- --seed 42            # one seed, history printed
//! cargo run -p simulation -- --seeds 10000        # seeds 0..10000, totals printed
//! cargo run -p simulation -- --seeds 500 --http-every 1 --bug retry-order-without-lookup
//! ```

use simulation::{Bug, Options, mode_for, run_many, run_one};
use std::time::Instant;

fn usage() -> ! {
    eprintln!(
        "usage: simulation [--seed N | --seeds N [--from N]] [--http-every N] [--steps N] [--threads N]\n                  [--bug retry-order-without-lookup|open-before-close-confirmed|trust-undocumented-lookup|ignore-signal-order|forgetful-store]"
    );
    std::process::exit(2)
}

fn number(v: Option<String>) -> u64 {
    v.and_then(|s| s.parse().ok()).unwrap_or_else(|| usage())
}

#[allow(
    clippy::print_stdout,
    reason = "a command-line tool: its report goes to stdout"
)]
fn main() {
    let mut seed = None;
    let (mut from, mut seeds, mut http_every, mut threads) = (0, 1000, 5, 2);
    let mut opts = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seed" => seed = Some(number(args.next())),
            "--seeds" => seeds = number(args.next()),
            "--from" => from = number(args.next()),
            "--http-every" => http_every = number(args.next()),
            "--steps" => opts.steps = number(args.next()),
            "--threads" => threads = usize::try_from(number(args.next())).unwrap_or(2),
            "--bug" => {
                opts.bug = match args.next().as_deref() {
                    Some("retry-order-without-lookup") => Bug::RetryOrderWithoutLookup,
                    Some("open-before-close-confirmed") => Bug::OpenBeforeCloseConfirmed,
                    Some("trust-undocumented-lookup") => Bug::TrustUndocumentedLookup,
                    Some("ignore-signal-order") => Bug::IgnoreSignalOrder,
                    Some("forgetful-store") => Bug::ForgetfulStore,
                    _ => usage(),
                }
            }
            _ => usage(),
        }
    }
    if let Some(seed) = seed {
        let report = run_one(
            seed,
            Options {
                mode: mode_for(seed, http_every),
                ..opts
            },
        );
        for h in &report.history {
            println!("{h}");
        }
        println!(
            "counts: {:?}\nfaults: {:?}\nchecks: {:?}",
            report.counts, report.faults, report.checks
        );
        if report.ok() {
            println!("seed {seed}: all invariants hold");
        } else {
            println!("{}", report.explain());
            std::process::exit(1);
        }
        return;
    }
    let started = Instant::now();
    let (totals, failures) = run_many(from, from + seeds, threads, http_every, opts);
    let secs = started.elapsed().as_secs_f64();
    println!("{}", totals.summary());
    println!(
        "{:.1} s, {:.0} seeds/s on {threads} threads",
        secs,
        totals.seeds as f64 / secs.max(1e-9)
    );
    if let Some(first) = failures.first() {
        println!("{}", first.explain());
        println!("failing seeds: {:?}", totals.failed);
        std::process::exit(1);
    }
}
