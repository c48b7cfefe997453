//! Bench: `tvctl report`'s work on a journal of 100,000 signals (issue target: under 2 s on
//! this 2-core machine). Writes a SQLite journal of `--signals` filled signals, one open or
//! close fill each, over 50 instruments of the three brokers, then times, in this order: the
//! read of every row, the analytics, and the HTML rendering. Prints the figures; not a test.

// A bench binary: its figures are its output.
#![allow(clippy::print_stdout)]

use chrono::{DateTime, Duration, Utc};
use clap::Parser;
use rust_decimal::Decimal;
use shared::execution::{
    ClientOrderId, Leg, OrderRecord, Side, SignalRecord, SignalStatus, StageTimes, TradeJournal,
};
use shared::outcome::Outcome;
use shared::routing::Broker;
use shared::signal::SignalId;
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

fn rows(i: usize, t0: DateTime<Utc>) -> (SignalRecord, OrderRecord) {
    let (broker, instrument, base) = match i % 50 {
        n if n < 20 => (
            Broker::Oanda,
            format!("P{n:02}_USD"),
            Decimal::new(108_000, 5),
        ),
        n if n < 40 => (
            Broker::Tradovate,
            "ESZ6".to_owned(),
            Decimal::from(5000 + n as i64),
        ),
        n => (
            Broker::Coinbase,
            format!("C{n:02}-USD"),
            Decimal::from(60_000 + n as i64),
        ),
    };
    let t = t0 + Duration::seconds(i as i64);
    let close = base + Decimal::new((i % 97) as i64, 2);
    let id = SignalId::of_canonical(&format!("bench-{i}"));
    let long = (i / 50).is_multiple_of(2);
    let signal = SignalRecord {
        signal_id: id.clone(),
        // Rows the size of real ones: the whole canonical alert, and the intent as the
        // executor journals it.
        raw: serde_json::json!({
            "action": if long { "LONG_ENTRY" } else { "SHORT_ENTRY" },
            "indicator": format!("S{}", i % 3),
            "market_data": {
                "exchange": "X", "symbol": instrument, "timeframe": "5",
                "timenow": t.to_rfc3339(), "timestamp": t.to_rfc3339(),
            },
            "price_data": {
                "close": close.to_string(), "high": close.to_string(), "low": close.to_string(),
                "open": close.to_string(), "volume": "1250",
            },
            "signal": {"direction": if long { "LONG" } else { "SHORT" }, "trigger": "COLOR_CHANGE", "type": "ENTRY"},
        })
        .to_string(),
        normalized: serde_json::json!({
            "version": 1, "signal_id": id.as_str(), "broker": broker, "instrument": instrument,
            "action": if long { "LONG_ENTRY" } else { "SHORT_ENTRY" },
            "target": if long { "long" } else { "short" }, "symbol": instrument, "exchange": "X",
            "reference_price": close.to_string(), "quantity_override": null,
            "signal_time": t.to_rfc3339(), "received_at": t.to_rfc3339(),
            "enqueued_at": t.to_rfc3339(), "routed_at": t.to_rfc3339(), "contract": null,
            "raw": "{\"action\":\"LONG_ENTRY\",\"indicator\":\"S0\"}", "replay_forced": false,
        }).into(),
        symbol: instrument.clone(),
        exchange: "X".into(),
        action: if long { "LONG_ENTRY" } else { "SHORT_ENTRY" }.into(),
        broker: Some(broker),
        instrument: Some(instrument.clone()),
        contract_resolution: None,
        status: SignalStatus::Filled,
        reason: None,
        stages: StageTimes {
            received: Some(t + Duration::milliseconds(80)),
            enqueued: Some(t + Duration::milliseconds(90)),
            routed: Some(t + Duration::milliseconds(120)),
            executor_start: Some(t + Duration::milliseconds(150)),
            broker_sent: Some(t + Duration::milliseconds(160)),
            broker_acked: Some(t + Duration::milliseconds(240)),
        },
    };
    let order = OrderRecord {
        client_order_id: ClientOrderId::new(&id, Leg::Open),
        signal_id: id,
        broker,
        account: "bench".into(),
        instrument,
        leg: Leg::Open,
        attempt: 1,
        broker_order_id: Some(i.to_string().into()),
        side: if long { Side::Buy } else { Side::Sell },
        quantity: Decimal::ONE,
        fill_price: Some(close + Decimal::new(1, 2)),
        outcome: Outcome::Filled,
        error: None,
        sent_at: Some(t + Duration::milliseconds(160)),
        acked_at: Some(t + Duration::milliseconds(240)),
        fee: (broker == Broker::Coinbase).then(|| Decimal::new(6, 0)),
    };
    (signal, order)
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
        let (s, o) = rows(i, t0);
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
    let (signals, orders) =
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
