//! Bench: `tvctl report`'s work on a journal of 100,000 signals (issue target: under 2 s on
//! this 2-core machine). Writes a SQLite journal of `--signals` filled signals, one open or
//! close fill each, over 50 instruments of the three brokers, then times, in this order: the
//! read of every row, the analytics, and the HTML rendering. Prints the figures; not a test.

// A bench binary: its figures are its output.
#![allow(clippy::print_stdout)]

use chrono::{DateTime, Utc};
use clap::Parser;
use shared::execution::TradeJournal;
use std::time::Instant;

#[derive(Parser, Debug)]
struct Args {
    /// Signals in the journal.
    #[arg(long, default_value_t = 100_000)]
    signals: usize,
    /// Where the SQLite journal is written (recreated each run).
    #[arg(long, default_value = "target/bench-journal.sqlite")]
    journal: String,
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let _ = std::fs::remove_file(&args.journal);
    let journal = journal::AnyJournal::connect(&args.journal)
        .await
        .map_err(|e| e.to_string())?;
    let t0: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().map_err(|e| format!("{e}"))?;
    let start = Instant::now();
    for i in 0..args.signals {
        let (s, o) = perf::journal_rows(i, t0, "bench");
        journal
            .record_execution(&s, std::slice::from_ref(&o))
            .await
            .map_err(|e| e.to_string())?;
    }
    println!(
        "journal written: {} signals in {:.1} s (setup, not part of the figure)",
        args.signals,
        start.elapsed().as_secs_f64()
    );

    let start = Instant::now();
    let (signals, orders, _) =
        tvctl::report::load(&tvctl::report::Source::Journal(args.journal.clone())).await?;
    let read = start.elapsed();
    let t = Instant::now();
    let filter = analytics::Filter::default();
    let report = analytics::analyze(&signals, &orders, &filter);
    let analyzed = t.elapsed();
    let t = Instant::now();
    let html = tvctl::report::html(&report, &filter, &args.journal);
    let rendered = t.elapsed();
    let total = start.elapsed();
    println!(
        "report of {} signals, {} orders, {} trades: read {:.0} ms, analytics {:.0} ms, HTML {:.0} ms ({} KB); total {:.2} s (target < 2 s)",
        signals.len(),
        orders.len(),
        report.trades.len(),
        read.as_secs_f64() * 1e3,
        analyzed.as_secs_f64() * 1e3,
        rendered.as_secs_f64() * 1e3,
        html.len() / 1024,
        total.as_secs_f64()
    );
    Ok(())
}
