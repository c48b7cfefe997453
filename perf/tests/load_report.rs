//! `tvctl report` on the journal of a load run: `load --phase throughput` (the local stack
//! in the bench binary, 50 symbols over HTTP, paper brokers filling at the alert's close)
//! keeps its SQLite journal, which the report reads with the calls `tvctl report` makes. The
//! load run alternates long and short entries per symbol, the shorts one unit of the close's
//! last digit higher (`perf::alert_close`), so every reversal after the first entry closes
//! one winning trade of exactly that unit × quantity × point value.
#![allow(clippy::unwrap_used)]

use analytics::Summary;
use rust_decimal::Decimal;
use serde_json::Value;
use std::str::FromStr;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_of_a_load_run_has_its_exact_figures_and_every_section() {
    let dir = std::env::temp_dir().join(format!("perf-load-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let journal = dir.join("journal.sqlite");
    // 10 alerts for each of the 50 symbols. A debug build on a busy machine can hold a
    // backlog past the default 30 s age limit, and admission control would then refuse
    // alerts: the test is about the report, so the limit is wide.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_load"))
        .args(["--phase", "throughput", "--alerts", "500", "--json"])
        .args(["--max-age-secs", "600"])
        .arg("--keep-journal")
        .arg(&journal)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(figures["executed"], 500, "{figures}");

    let source = tvctl::report::Source::Journal(journal.display().to_string());
    let (signals, orders, unreadable) = tvctl::report::load(&source).await.unwrap();
    assert!(unreadable.is_empty(), "{unreadable:?}");
    let filter = analytics::Filter::default();
    let r = analytics::analyze(&signals, &orders, &filter);
    assert_eq!(r.signals, 500);
    assert_eq!(r.outcomes.get("filled"), Some(&500), "{:?}", r.outcomes);
    assert!(r.refusals.is_empty() && r.rejections.is_empty());
    // The one warning: every fill is a paper broker's, so the report says it is simulated.
    let filled = orders
        .iter()
        .filter(|o| o.outcome == shared::outcome::Outcome::Filled)
        .count();
    assert!(filled >= 500, "{filled}");
    assert_eq!(
        r.warnings,
        [format!(
            "{filled} fill(s) of a paper account (the local stack's paper brokers, filled at the alert's close): simulated, not a broker's"
        )]
    );
    // Per symbol 10 entries. Forex and futures: 9 reversals, each closing one trade, and the
    // last entry (a short) left open. Coinbase is spot (a short entry sells to flat): 5 round
    // trips, bought at the close and sold one unit higher, nothing left open.
    let coinbase = |key: &str| key.ends_with("-USD");
    assert_eq!(r.trades.len(), 40 * 9 + 10 * 5);
    assert!(r.trades.iter().all(|t| t.pnl > Decimal::ZERO));
    assert_eq!(r.by_instrument.len(), 50);
    for s in &r.by_instrument {
        let want = if coinbase(&s.key) { 5 } else { 9 };
        assert_eq!(s.stats.trades, want, "{}", s.key);
    }
    assert!(
        r.totals
            .values()
            .all(|s| s.win_rate == Some(Decimal::ONE) && s.max_drawdown.is_zero())
    );
    assert_eq!(r.open_positions.len(), 40);
    assert!(
        r.open_positions
            .iter()
            .all(|p| p.quantity < Decimal::ZERO && !coinbase(&p.instrument))
    );

    // Hand-computed P&L of a few instruments: 9 trades × unit × quantity × point value.
    // Rows by the alert's symbol, through the instrument the journal resolved it to.
    let row = |symbol: &str| -> &Summary {
        let signal = signals.iter().find(|s| s.symbol == symbol).unwrap();
        let instrument = signal.instrument.as_deref().unwrap();
        r.by_instrument
            .iter()
            .find(|s| s.key == instrument)
            .unwrap()
    };
    let quantity = |instrument: &str| {
        let q: Vec<Decimal> = r
            .trades
            .iter()
            .filter(|t| t.instrument == instrument)
            .map(|t| t.quantity)
            .collect();
        assert!(q.windows(2).all(|w| w[0] == w[1]), "{instrument}: {q:?}");
        q[0]
    };
    // EUR_USD at 1.08345 / 1.08346: 0.00001 × units, in USD.
    let eur = row("EURUSD");
    assert_eq!(eur.currency, "USD");
    assert_eq!(
        eur.stats.realized,
        d("9") * d("0.00001") * quantity("EUR_USD")
    );
    // USD_JPY at 151.234 / 151.235: 0.001 × units, in JPY.
    let jpy = row("USDJPY");
    assert_eq!(jpy.currency, "JPY");
    assert_eq!(
        jpy.stats.realized,
        d("9") * d("0.001") * quantity("USD_JPY")
    );
    // ES at 5812.25 / 5812.26: 0.01 point × 50 USD a point × contracts.
    let es = row("ES1!");
    assert_eq!(
        es.stats.realized,
        d("9") * d("0.01") * d("50") * quantity(&es.key)
    );
    // CL at 71.25 / 71.26: 0.01 × 1,000 USD a point × contracts.
    let cl = row("CL1!");
    assert_eq!(
        cl.stats.realized,
        d("9") * d("0.01") * d("1000") * quantity(&cl.key)
    );
    // BTC-USD at 97123.45 / 97123.46: 5 round trips × 0.01 USD × BTC, less the fees the
    // broker reported.
    let btc = row("BTCUSD");
    assert_eq!(
        btc.stats.realized,
        d("5") * d("0.01") * quantity("BTC-USD") - btc.stats.fees
    );
    // Paper fills at the close: no slippage; every stage from the executor on measured.
    // A reversal is two legs (close, then open): 40 × (1 + 9 × 2) + 10 × 10 fills.
    assert_eq!(r.slippage.len(), 40 * 19 + 10 * 10);
    assert!(r.slippage.iter().all(|s| s.price.is_zero()));
    let stages: Vec<_> = r.latency.iter().map(|l| (l.stage, l.count)).collect();
    assert!(stages.contains(&("executor_to_sent", 500)), "{stages:?}");
    // The JSON `tvctl report --json` prints carries the same figures.
    let json: Value = serde_json::to_value(&r).unwrap();
    assert_eq!(json["trades"].as_array().unwrap().len(), 410);
    assert_eq!(json["by_instrument"].as_array().unwrap().len(), 50);

    let html = tvctl::report::html(&r, &filter, "load run");
    for section in [
        "id=\"summary\"",
        "id=\"equity\"",
        "id=\"instruments\"",
        "id=\"periods\"",
        "id=\"positions\"",
        "id=\"slippage\"",
        "id=\"latency\"",
        "id=\"outcomes\"",
        "By ISO week",
        "By month",
    ] {
        assert!(html.contains(section), "missing {section}");
    }
    assert!(html.contains("The last 200 of 860 fills"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    let _ = std::fs::remove_dir_all(&dir);
}
