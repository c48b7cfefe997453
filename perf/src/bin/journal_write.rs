//! Bench: the executors' journal write, `TradeJournal::record_execution` (a filled signal and
//! its leg), against the journal `--journal` names: a SQLite file (the default, recreated)
//! or a PostgreSQL URL (the Lambda executors' journal; rows are added under ids of this run's
//! own). Two figures, printed; not a test:
//!
//! - **one at a time**: each write awaited before the next, as one executor invocation
//!   writes its signal: the wall time of a write (mean, p50, p99), which on PostgreSQL is
//!   mostly round trips to the server;
//! - **concurrent**: `--tasks` writers at once, as executors under load (the journal writes
//!   the waiting signals together): signals written per second.

// A bench binary: its figures are its output.
#![allow(clippy::print_stdout)]

use chrono::{DateTime, Utc};
use clap::Parser;
use shared::execution::TradeJournal;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    /// Signals written in each of the two runs.
    #[arg(long, default_value_t = 2_000)]
    signals: usize,
    /// Writers at once in the concurrent run.
    #[arg(long, default_value_t = 50)]
    tasks: usize,
    /// The journal: a SQLite file's path (recreated each run) or a `postgres://` URL.
    #[arg(long, default_value = "target/bench-journal-write.sqlite")]
    journal: String,
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let postgres = args.journal.starts_with("postgres");
    if !postgres {
        let _ = std::fs::remove_file(&args.journal);
    }
    let journal = journal::AnyJournal::connect(&args.journal)
        .await
        .map_err(|e| e.to_string())?;
    let t0: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().map_err(|e| format!("{e}"))?;
    let run = shared::clock::Clock::now(&shared::clock::SystemClock)
        .timestamp_nanos_opt()
        .unwrap_or_default();
    let kind = if postgres {
        "PostgreSQL"
    } else {
        "SQLite file"
    };

    // A first write outside the figures: the connection and the statements' preparation.
    let (s, o) = perf::journal_rows(0, t0, &format!("warm-{run}"));
    journal
        .record_execution(&s, std::slice::from_ref(&o))
        .await
        .map_err(|e| e.to_string())?;

    let mut times = Vec::with_capacity(args.signals);
    let start = Instant::now();
    for i in 0..args.signals {
        let (s, o) = perf::journal_rows(i, t0, &format!("one-{run}"));
        let t = Instant::now();
        journal
            .record_execution(&s, std::slice::from_ref(&o))
            .await
            .map_err(|e| e.to_string())?;
        times.push(t.elapsed());
    }
    let total = start.elapsed();
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{kind}, one at a time: {} signals, {:.0} µs per write (p50 {:.0}, p99 {:.0})",
        args.signals,
        us(total) / args.signals as f64,
        us(perf::percentile(&times, 50.0)),
        us(perf::percentile(&times, 99.0)),
    );

    let tasks = args.tasks.max(1);
    let start = Instant::now();
    let writers: Vec<_> = (0..tasks)
        .map(|w| {
            let journal = journal.clone();
            let tag = format!("many-{run}");
            let signals = args.signals;
            tokio::spawn(async move {
                for i in (w..signals).step_by(tasks) {
                    let (s, o) = perf::journal_rows(i, t0, &tag);
                    journal
                        .record_execution(&s, std::slice::from_ref(&o))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for w in writers {
        w.await.map_err(|e| e.to_string())??;
    }
    let total = start.elapsed();
    println!(
        "{kind}, {tasks} writers at once: {} signals in {:.0} ms, {:.0} signals/s",
        args.signals,
        total.as_secs_f64() * 1e3,
        args.signals as f64 / total.as_secs_f64(),
    );
    Ok(())
}
