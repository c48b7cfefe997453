//! Shared pieces of the two bench binaries: `load` (the local stack under load) and `report`
//! (the Lambda binaries' size, cold start and memory).

use std::time::Duration;

/// The 50 symbols of the load run: (exchange, symbol, close). Every one routes with the
/// embedded table: OANDA pairs split 3+3, continuous futures on listed roots, Coinbase
/// products split on a listed quote currency.
pub const SYMBOLS: [(&str, &str, &str); 50] = [
    ("OANDA", "EURUSD", "1.08345"),
    ("OANDA", "GBPUSD", "1.26510"),
    ("OANDA", "USDJPY", "151.234"),
    ("OANDA", "AUDUSD", "0.65432"),
    ("OANDA", "USDCAD", "1.36120"),
    ("OANDA", "USDCHF", "0.88210"),
    ("OANDA", "NZDUSD", "0.59870"),
    ("OANDA", "EURGBP", "0.85640"),
    ("OANDA", "EURJPY", "163.870"),
    ("OANDA", "GBPJPY", "191.330"),
    ("OANDA", "EURCHF", "0.95560"),
    ("OANDA", "AUDJPY", "98.9850"),
    ("OANDA", "EURAUD", "1.65580"),
    ("OANDA", "EURCAD", "1.47480"),
    ("OANDA", "GBPCHF", "1.11590"),
    ("OANDA", "CADJPY", "111.100"),
    ("OANDA", "CHFJPY", "171.450"),
    ("OANDA", "NZDJPY", "90.5400"),
    ("OANDA", "AUDNZD", "1.09290"),
    ("OANDA", "GBPAUD", "1.93350"),
    ("CME_MINI", "ES1!", "5812.25"),
    ("CME_MINI", "MES1!", "5812.25"),
    ("CME_MINI", "NQ1!", "20511.50"),
    ("CME_MINI", "MNQ1!", "20511.50"),
    ("CBOT_MINI", "YM1!", "43012"),
    ("CBOT_MINI", "MYM1!", "43012"),
    ("CME_MINI", "RTY1!", "2311.4"),
    ("CME_MINI", "M2K1!", "2311.4"),
    ("NYMEX", "CL1!", "71.25"),
    ("NYMEX", "MCL1!", "71.25"),
    ("NYMEX", "NG1!", "3.215"),
    ("COMEX", "GC1!", "2650.1"),
    ("COMEX", "MGC1!", "2650.1"),
    ("COMEX", "SI1!", "31.205"),
    ("COMEX", "HG1!", "4.1235"),
    ("CBOT", "ZB1!", "117.21875"),
    ("CBOT", "ZN1!", "109.515625"),
    ("CBOT", "ZC1!", "425.25"),
    ("CBOT", "ZS1!", "995.5"),
    ("CME_MINI", "ES2!", "5870.50"),
    ("COINBASE", "BTCUSD", "97123.45"),
    ("COINBASE", "ETHUSD", "3412.10"),
    ("COINBASE", "SOLUSD", "241.33"),
    ("COINBASE", "ADAUSD", "0.9812"),
    ("COINBASE", "XRPUSD", "1.4321"),
    ("COINBASE", "DOGEUSD", "0.38211"),
    ("COINBASE", "LTCUSD", "98.77"),
    ("COINBASE", "AVAXUSD", "42.18"),
    ("COINBASE", "LINKUSD", "17.92"),
    ("COINBASE", "DOTUSD", "8.811"),
];

/// The close of a load run's alert: the table's close for the even (long) entries, one unit
/// of its last digit more for the odd (short) ones (`5812.25` → `5812.26`), so every reversal
/// at a paper broker (which fills at the close) realizes that unit: a long bought at the
/// close and sold one unit higher, then a short sold there and bought back at the close.
pub fn alert_close(close: &str, seq: u32) -> String {
    if seq.is_multiple_of(2) {
        return close.to_owned();
    }
    match close.parse::<rust_decimal::Decimal>() {
        Ok(c) => (c + rust_decimal::Decimal::new(1, c.scale())).to_string(),
        Err(_) => close.to_owned(),
    }
}

/// An alert body as TradingView would post it: entries alternate with `long`.
pub fn alert_body(
    exchange: &str,
    symbol: &str,
    close: &str,
    long: bool,
    timenow: chrono::DateTime<chrono::Utc>,
    passphrase: &str,
) -> String {
    let (action, direction) = if long {
        ("LONG_ENTRY", "LONG")
    } else {
        ("SHORT_ENTRY", "SHORT")
    };
    let bar = timenow - chrono::Duration::seconds(60);
    serde_json::json!({
        "action": action,
        "indicator": "Trend_Validator",
        "signal": {"type": "ENTRY", "direction": direction, "trigger": "COLOR_CHANGE"},
        "market_data": {
            "symbol": symbol,
            "exchange": exchange,
            "timeframe": "1",
            "timestamp": bar.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "timenow": timenow.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        },
        "price_data": {"open": close, "high": close, "low": close, "close": close, "volume": "100"},
        "passphrase": passphrase,
    })
    .to_string()
}

/// `VmHWM` (peak resident set) of a process, in KiB, from `/proc/<pid>/status`.
pub fn vm_hwm_kib(pid: &str) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// `VmRSS` (resident set now) of a process, in KiB, from `/proc/<pid>/status`.
pub fn vm_rss_kib(pid: &str) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

fn status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time of each live thread of this process: (thread name, nanoseconds on a CPU), from
/// the first field of `/proc/self/task/<tid>/schedstat` (nanosecond resolution, where
/// `/proc/.../stat`'s ticks are 10 ms) and `/proc/self/task/<tid>/comm`, keyed by thread id.
/// A thread that ended is missing: callers compare two readings of long-lived threads.
pub fn thread_cpu_ns() -> std::collections::HashMap<u64, (String, u64)> {
    let mut out = std::collections::HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let path = entry.path();
        let ns = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()));
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if let Some(ns) = ns {
            out.insert(tid, (name.trim().to_owned(), ns));
        }
    }
    out
}

/// CPU time (ns) that the threads whose name `matches` spent between two [`thread_cpu_ns`]
/// readings; a thread born between them counts from zero.
pub fn cpu_between(
    before: &std::collections::HashMap<u64, (String, u64)>,
    after: &std::collections::HashMap<u64, (String, u64)>,
    matches: impl Fn(&str) -> bool,
) -> u64 {
    after
        .iter()
        .filter(|(_, (name, _))| matches(name))
        .map(|(tid, (_, ns))| ns - before.get(tid).map_or(0, |(_, b)| (*b).min(*ns)))
        .sum()
}

/// The value at percentile `p` (0..=100) of sorted samples, nearest-rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The journal rows of the `i`-th of a run's filled signals (one open fill each, rows the size
/// of real ones), over 50 instruments of the three brokers, `i` seconds after `t0`; `tag`
/// makes the signal ids a run's own.
pub fn journal_rows(
    i: usize,
    t0: chrono::DateTime<chrono::Utc>,
    tag: &str,
) -> (
    shared::execution::SignalRecord,
    shared::execution::OrderRecord,
) {
    use chrono::Duration;
    use rust_decimal::Decimal;
    use shared::execution::{
        ClientOrderId, Leg, OrderRecord, Side, SignalRecord, SignalStatus, StageTimes,
    };
    use shared::outcome::Outcome;
    use shared::routing::Broker;
    use shared::signal::SignalId;
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
    let id = SignalId::of_canonical(&format!("{tag}-{i}"));
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_symbol_routes_with_the_embedded_table() {
        let table = shared::RoutingTable::from_env(&shared::config::MapEnv::new(Vec::<(
            String,
            String,
        )>::new()))
        .unwrap();
        let now = shared::clock::Clock::now(&shared::clock::SystemClock);
        let mut seen = std::collections::HashSet::new();
        for (exchange, symbol, close) in SYMBOLS {
            let body = alert_body(exchange, symbol, close, true, now, "x");
            let valid = shared::alert::RawAlert::parse(body.as_bytes())
                .unwrap()
                .validate()
                .unwrap();
            let route = valid.route_and_check(&table, now, shared::alert::Freshness::default());
            assert!(route.is_ok(), "{symbol}: {route:?}");
            assert!(seen.insert(symbol), "{symbol} twice");
        }
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<_> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_millis(100));
        assert_eq!(median(vec![3.0, 1.0, 2.0, 10.0]), Some(2.5));
    }
}
