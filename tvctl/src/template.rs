//! `tvctl alert-template`: the exact TradingView alert message for a broker and symbol, with
//! TradingView's placeholders in place (each one quoted, so the body stays valid JSON whatever
//! TradingView substitutes), and the webhook URL to paste.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::RoutingTable;
use shared::routing::Broker;

/// An alert message for TradingView, and where it routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The alert message, as JSON text.
    pub text: String,
    /// The exchanges (as TradingView names them) whose charts route to the broker for this
    /// symbol, comma-separated.
    pub exchanges: String,
    /// The broker's instrument the first of them routes to today (`EUR_USD`, `ESZ6`).
    pub instrument: String,
}

/// The alert message for `broker`, `symbol` and `action`, and where it routes.
///
/// # Errors
/// Names the broker and symbol when the routing table sends that symbol to no exchange of
/// that broker (with the exchanges tried), or the action when it is not one of the five.
pub fn template(
    table: &RoutingTable,
    broker: Broker,
    symbol: &str,
    action: &str,
    now: DateTime<Utc>,
) -> Result<Template, String> {
    let (kind, direction) = match action {
        "LONG_ENTRY" => ("ENTRY", "LONG"),
        "SHORT_ENTRY" => ("ENTRY", "SHORT"),
        "LONG_EXIT" => ("EXIT", "LONG"),
        "SHORT_EXIT" => ("EXIT", "SHORT"),
        "FLATTEN" => ("FLATTEN", "FLAT"),
        other => {
            return Err(format!(
                "action {other:?} is not one of LONG_ENTRY, SHORT_ENTRY, LONG_EXIT, SHORT_EXIT, FLATTEN"
            ));
        }
    };
    let exchanges = table.exchanges_of(broker);
    // Each exchange routed once: those that take the symbol, and why the others refuse it,
    // each reason once (a futures root's rules are the same on every exchange of its broker,
    // so naming the first exchange tried, `ESU2026 on CBOT`, would point the trader at an
    // exchange the contract is not listed on).
    let mut routed: Vec<&str> = Vec::new();
    let mut instrument = None;
    let mut reasons: Vec<String> = Vec::new();
    for e in &exchanges {
        let reason = match table.route(e, symbol, now) {
            Ok(route) => {
                instrument.get_or_insert(route.instrument.to_string());
                routed.push(e);
                continue;
            }
            Err(shared::AlertError::UnroutableSymbol { reason, .. }) => reason,
            Err(other) => other.to_string(),
        };
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }
    if routed.is_empty() {
        let why = if reasons.is_empty() {
            String::new()
        } else {
            format!(": {}", reasons.join("; "))
        };
        return Err(format!(
            "{symbol} does not route to {broker} on any of its exchanges ({}){why}",
            exchanges.join(", ")
        ));
    }
    let body: Value = json!({
        "action": action,
        "indicator": "My_Strategy",
        // Free text for the trader; a placeholder here would stay unsubstituted on an
        // indicator alert (`{{strategy.…}}` exists on strategy alerts only).
        "signal": {"type": kind, "direction": direction, "trigger": "my_trigger"},
        "market_data": {
            // The chart's own symbol and exchange, as TradingView fills them in; the alert
            // must be created on this symbol's chart.
            "symbol": "{{ticker}}",
            "exchange": "{{exchange}}",
            "timeframe": "{{interval}}",
            "timestamp": "{{time}}",
            "timenow": "{{timenow}}",
        },
        "price_data": {
            "open": "{{open}}",
            "high": "{{high}}",
            "low": "{{low}}",
            "close": "{{close}}",
            "volume": "{{volume}}",
        },
    });
    let text = serde_json::to_string_pretty(&body).map_err(|e| e.to_string())?;
    Ok(Template {
        text,
        exchanges: routed.join(", "),
        instrument: instrument.unwrap_or_default(),
    })
}

/// What TradingView would send for `template` on a chart of `symbol` on `exchange` at `now`:
/// every placeholder replaced by a plausible value (prices as decimal strings).
pub fn substitute(template: &str, symbol: &str, exchange: &str, now: DateTime<Utc>) -> String {
    let bar = now - chrono::Duration::seconds(now.timestamp() % 60);
    [
        ("{{ticker}}", symbol.to_owned()),
        ("{{exchange}}", exchange.to_owned()),
        ("{{interval}}", "5".to_owned()),
        (
            "{{time}}",
            bar.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
        (
            "{{timenow}}",
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
        ("{{open}}", "1.0841".to_owned()),
        ("{{high}}", "1.0846".to_owned()),
        ("{{low}}", "1.0839".to_owned()),
        ("{{close}}", "1.0845".to_owned()),
        ("{{volume}}", "1250".to_owned()),
    ]
    .iter()
    .fold(template.to_owned(), |t, (k, v)| t.replace(k, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::alert::{Freshness, RawAlert};

    fn now() -> DateTime<Utc> {
        "2026-11-30T15:00:07Z".parse().unwrap_or_default()
    }

    /// The printed template, filled in as TradingView would, is accepted and routed to the
    /// broker asked for, for a currency pair, a continuous future and a crypto pair.
    #[test]
    fn a_filled_in_template_is_accepted_and_routed_to_its_broker() {
        let table = RoutingTable::embedded();
        for (broker, symbol, instrument) in [
            (Broker::Oanda, "EURUSD", "EUR_USD"),
            (Broker::Tradovate, "ES1!", "ESZ6"),
            (Broker::Coinbase, "BTCUSD", "BTC-USD"),
        ] {
            for action in ["LONG_ENTRY", "SHORT_EXIT", "FLATTEN"] {
                let Template {
                    text,
                    exchanges: exchange,
                    instrument: routed_to,
                } = template(&table, broker, symbol, action, now())
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(routed_to, instrument);
                let first = exchange.split(", ").next().unwrap_or_default();
                let body = substitute(&text, symbol, first, now());
                let valid = RawAlert::parse(body.as_bytes())
                    .and_then(|r| r.validate())
                    .unwrap_or_else(|e| panic!("{broker} {symbol} {action}: {e}"));
                let route = valid
                    .route_and_check(&table, now(), Freshness::default())
                    .unwrap_or_else(|e| panic!("{broker} {symbol}: {e}"));
                assert_eq!(route.broker, broker);
                assert_eq!(route.instrument.as_str(), instrument);
            }
        }
    }

    #[test]
    fn a_symbol_of_another_broker_or_a_wrong_action_is_refused_by_name() {
        let table = RoutingTable::embedded();
        let err = template(&table, Broker::Coinbase, "ES1!", "LONG_ENTRY", now()).unwrap_err();
        assert!(err.contains("ES1!") && err.contains("coinbase"), "{err}");
        let err = template(&table, Broker::Oanda, "EURUSD", "BUY", now()).unwrap_err();
        assert!(err.contains("\"BUY\""), "{err}");
    }

    /// An expired contract is refused for its expiry, once, without naming one of the
    /// broker's exchanges as if the contract were listed there (ES is not a CBOT contract).
    #[test]
    fn an_expired_contract_is_refused_for_its_expiry_on_no_exchange_in_particular() {
        let table = RoutingTable::embedded();
        let err = template(&table, Broker::Tradovate, "ESU2026", "LONG_ENTRY", now()).unwrap_err();
        assert!(err.contains("expired"), "{err}");
        assert_eq!(err.matches("expired").count(), 1, "{err}");
        assert!(!err.contains(" on CBOT"), "{err}");
    }
}
