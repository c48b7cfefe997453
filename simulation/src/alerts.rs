//! Alert bodies as TradingView sends them (the nested JSON of `shared/tests/alerts/`).

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::json;
use shared::routing::Broker;

/// A chart the simulation trades: the symbol and exchange as TradingView writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chart {
    pub symbol: &'static str,
    pub exchange: &'static str,
    pub close: &'static str,
    pub broker: Broker,
}

/// OANDA forex, Tradovate futures (continuous symbols the router resolves), Coinbase spot.
pub const CHARTS: &[Chart] = &[
    Chart {
        symbol: "EURUSD",
        exchange: "OANDA",
        close: "1.08345",
        broker: Broker::Oanda,
    },
    Chart {
        symbol: "GBPUSD",
        exchange: "OANDA",
        close: "1.26511",
        broker: Broker::Oanda,
    },
    Chart {
        symbol: "USDJPY",
        exchange: "OANDA",
        close: "151.203",
        broker: Broker::Oanda,
    },
    Chart {
        symbol: "ES1!",
        exchange: "CME_MINI",
        close: "6012.25",
        broker: Broker::Tradovate,
    },
    Chart {
        symbol: "MNQ1!",
        exchange: "CME_MINI",
        close: "21480.50",
        broker: Broker::Tradovate,
    },
    Chart {
        symbol: "CL1!",
        exchange: "NYMEX_DL",
        close: "68.42",
        broker: Broker::Tradovate,
    },
    Chart {
        symbol: "BTCUSD",
        exchange: "COINBASE",
        close: "97123.45",
        broker: Broker::Coinbase,
    },
    Chart {
        symbol: "ETHUSD",
        exchange: "COINBASE",
        close: "3456.78",
        broker: Broker::Coinbase,
    },
];

pub const ACTIONS: &[&str] = &[
    "LONG_ENTRY",
    "SHORT_ENTRY",
    "LONG_EXIT",
    "SHORT_EXIT",
    "FLATTEN",
];

fn parts(action: &str) -> (&'static str, &'static str) {
    match action {
        "LONG_ENTRY" => ("ENTRY", "LONG"),
        "SHORT_ENTRY" => ("ENTRY", "SHORT"),
        "LONG_EXIT" => ("EXIT", "LONG"),
        "SHORT_EXIT" => ("EXIT", "SHORT"),
        _ => ("FLATTEN", "FLAT"),
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One alert body, with the secret in the `passphrase` field.
pub fn body(chart: &Chart, action: &str, timenow: DateTime<Utc>, passphrase: &str) -> Vec<u8> {
    body_with(chart, action, timenow, passphrase, None)
}

/// One alert body with an optional `quantity` override (a size the strategy sends).
pub fn body_with(
    chart: &Chart,
    action: &str,
    timenow: DateTime<Utc>,
    passphrase: &str,
    quantity: Option<&str>,
) -> Vec<u8> {
    let (kind, direction) = parts(action);
    let c = chart.close;
    let mut doc = json!({
        "passphrase": passphrase,
        "action": action,
        "indicator": "Trend_Validator",
        "signal": {"type": kind, "direction": direction, "trigger": "COLOR_CHANGE"},
        "market_data": {
            "symbol": chart.symbol, "exchange": chart.exchange, "timeframe": "1",
            "timestamp": time(timenow - Duration::seconds(60)), "timenow": time(timenow),
        },
        "price_data": {"open": c, "high": c, "low": c, "close": c, "volume": "1250"},
    });
    if let Some(q) = quantity {
        doc["quantity"] = json!(q);
    }
    doc.to_string().into_bytes()
}
