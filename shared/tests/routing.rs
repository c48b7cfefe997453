//! The routing table: names, delayed suffixes, the futures roll rule, and table validation.
#![allow(clippy::unwrap_used)]

mod common;

use common::at;
use shared::config::MapEnv;
use shared::routing::{Broker, RoutingTable};
use shared::{AlertError, ErrorCode};

fn route(exchange: &str, symbol: &str) -> Result<(Broker, String), ErrorCode> {
    route_at(exchange, symbol, "2026-11-23T14:32:00Z")
}

fn route_at(exchange: &str, symbol: &str, now: &str) -> Result<(Broker, String), ErrorCode> {
    RoutingTable::embedded()
        .route(exchange, symbol, at(now))
        .map(|r| (r.broker, r.instrument.to_string()))
        .map_err(|e| e.code())
}

#[test]
fn forex_symbols_in_every_spelling_map_to_the_oanda_instrument() {
    for symbol in ["EURUSD", "EUR_USD", "EUR/USD", "eurusd"] {
        assert_eq!(
            route("OANDA", symbol),
            Ok((Broker::Oanda, "EUR_USD".into())),
            "{symbol}"
        );
    }
    assert_eq!(
        route("oanda", "USDJPY"),
        Ok((Broker::Oanda, "USD_JPY".into()))
    );
    assert_eq!(
        route("OANDA", "SPX500USD"),
        Ok((Broker::Oanda, "SPX500_USD".into()))
    );
    assert_eq!(
        route("OANDA", "NAS100"),
        Ok((Broker::Oanda, "NAS100_USD".into()))
    );
    assert_eq!(
        route("OANDA", "XAUUSD"),
        Ok((Broker::Oanda, "XAU_USD".into()))
    );
}

#[test]
fn crypto_symbols_in_every_spelling_map_to_the_coinbase_product() {
    for symbol in ["BTCUSD", "BTC_USD", "BTC-USD", "BTC/USD"] {
        assert_eq!(
            route("COINBASE", symbol),
            Ok((Broker::Coinbase, "BTC-USD".into())),
            "{symbol}"
        );
    }
    assert_eq!(
        route("COINBASE", "ETHUSDC"),
        Ok((Broker::Coinbase, "ETH-USDC".into()))
    );
    assert_eq!(
        route("COINBASE", "SOLUSDT"),
        Ok((Broker::Coinbase, "SOL-USDT".into()))
    );
}

#[test]
fn delayed_data_suffixes_are_stripped_from_the_exchange() {
    assert_eq!(
        route("OANDA_DL", "EURUSD"),
        Ok((Broker::Oanda, "EUR_USD".into()))
    );
    assert_eq!(
        route("NYMEX_DL", "CL1!").map(|r| r.0),
        Ok(Broker::Tradovate)
    );
    assert_eq!(
        route("CME_MINI_DLY", "ES1!"),
        Ok((Broker::Tradovate, "ESZ6".into()))
    );
}

/// TradingView's own forex feeds chart the same pairs OANDA trades.
#[test]
fn tradingviews_forex_feeds_route_to_oanda() {
    for exchange in ["FX", "FX_IDC", "fx_idc"] {
        let r = RoutingTable::embedded()
            .route(exchange, "EURUSD", at("2026-11-23T14:32:00Z"))
            .unwrap();
        assert_eq!(
            (r.broker, r.instrument.as_str()),
            (shared::Broker::Oanda, "EUR_USD"),
            "{exchange}"
        );
    }
}

#[test]
fn unknown_exchanges_and_unsplittable_symbols_are_refused() {
    assert_eq!(route("NASDAQ", "AAPL"), Err(ErrorCode::UnknownExchange));
    assert_eq!(route("", "EURUSD"), Err(ErrorCode::UnknownExchange));
    assert_eq!(route("OANDA", "A"), Err(ErrorCode::UnroutableSymbol));
    assert_eq!(
        route("OANDA", "EUR_USD_X"),
        Err(ErrorCode::UnroutableSymbol)
    );
    assert_eq!(route("COINBASE", "BTC"), Err(ErrorCode::UnroutableSymbol));
    assert_eq!(route("CME_MINI", "ES"), Err(ErrorCode::UnroutableSymbol));
    assert_eq!(route("CME_MINI", "ES0!"), Err(ErrorCode::UnroutableSymbol));
    // `ES01!` would be `ES1!` under another name (another ordering series, no market-data
    // front month): refused.
    assert_eq!(route("CME_MINI", "ES01!"), Err(ErrorCode::UnroutableSymbol));
    assert_eq!(
        route("CME_MINI", "ES012!"),
        Err(ErrorCode::UnroutableSymbol)
    );
    assert!(route("CME_MINI", "ES12!").is_ok());
}

#[test]
fn continuous_futures_follow_the_roll_rule_across_the_roll_date() {
    // ES rolls on day 12 of its contract month (HMUZ).
    assert_eq!(
        route_at("CME_MINI", "ES1!", "2026-12-11T23:59:59Z"),
        Ok((Broker::Tradovate, "ESZ6".into()))
    );
    assert_eq!(
        route_at("CME_MINI", "ES1!", "2026-12-12T00:00:00Z"),
        Ok((Broker::Tradovate, "ESH7".into()))
    );
    assert_eq!(
        route_at("CME_MINI", "ES2!", "2026-11-23T00:00:00Z"),
        Ok((Broker::Tradovate, "ESH7".into()))
    );
    assert_eq!(
        route_at("CME_MINI", "MNQ1!", "2027-03-01T00:00:00Z"),
        Ok((Broker::Tradovate, "MNQH7".into()))
    );
    // CL rolls on day 15 of the month before its contract month, every month listed.
    assert_eq!(
        route_at("NYMEX", "CL1!", "2026-11-14T12:00:00Z"),
        Ok((Broker::Tradovate, "CLZ6".into()))
    );
    assert_eq!(
        route_at("NYMEX", "CL1!", "2026-11-15T00:00:00Z"),
        Ok((Broker::Tradovate, "CLF7".into()))
    );
    assert_eq!(
        route_at("NYMEX", "CL1!", "2026-12-20T00:00:00Z"),
        Ok((Broker::Tradovate, "CLG7".into()))
    );
    // GC lists GJMQVZ and rolls on day 25 of the month before.
    assert_eq!(
        route_at("COMEX", "GC1!", "2026-11-23T00:00:00Z"),
        Ok((Broker::Tradovate, "GCZ6".into()))
    );
    assert_eq!(
        route_at("COMEX", "GC1!", "2026-11-25T00:00:00Z"),
        Ok((Broker::Tradovate, "GCG7".into()))
    );
}

#[test]
fn continuous_resolution_says_what_it_did_and_by_which_rule() {
    let r = RoutingTable::embedded()
        .route("CME_MINI", "ES1!", at("2026-11-23T14:32:00Z"))
        .unwrap();
    let res = r.resolution.unwrap();
    assert_eq!(
        (res.requested.as_str(), res.contract.as_str()),
        ("ES1!", "ESZ6")
    );
    assert!(res.rule.contains("day 12"), "{}", res.rule);
    let explicit = RoutingTable::embedded()
        .route("CME_MINI", "ESZ6", at("2026-11-23T14:32:00Z"))
        .unwrap();
    assert_eq!(explicit.resolution, None);
}

#[test]
fn explicit_contracts_resolve_to_themselves_in_tradovate_form() {
    assert_eq!(
        route("CME_MINI", "ESZ6"),
        Ok((Broker::Tradovate, "ESZ6".into()))
    );
    assert_eq!(
        route("CME_MINI", "ESZ2026"),
        Ok((Broker::Tradovate, "ESZ6".into()))
    );
    assert_eq!(
        route("CME_MINI", "ESH27"),
        Ok((Broker::Tradovate, "ESH7".into()))
    );
    assert_eq!(route("CME_MINI", "ESF7"), Err(ErrorCode::UnroutableSymbol));
    assert_eq!(
        route("CME_MINI", "ESZ2025"),
        Err(ErrorCode::UnroutableSymbol)
    );
}

fn refusal(symbol: &str, now: &str) -> String {
    match RoutingTable::embedded().route("CME_MINI", symbol, at(now)) {
        Err(AlertError::UnroutableSymbol { reason, .. }) => reason,
        other => panic!("{symbol} at {now}: {other:?}"),
    }
}

#[test]
fn an_explicit_contract_past_its_roll_date_is_refused_with_the_date_and_expired_once_its_month_ended()
 {
    // September 2026, on 2026-11-30: the year alone did not catch it.
    let reason = refusal("ESU2026", "2026-11-30T12:00:00Z");
    assert!(
        reason.contains("expired") && reason.contains("2026-09-12"),
        "{reason}"
    );
    // Every spelling of the same contract.
    for s in ["ESU6", "ESU26"] {
        assert!(
            refusal(s, "2026-11-30T12:00:00Z").contains("expired"),
            "{s}"
        );
    }
    // Until its roll date it routes.
    assert_eq!(
        RoutingTable::embedded()
            .route("CME_MINI", "ESZ6", at("2026-12-11T23:59:00Z"))
            .map(|r| r.instrument.as_str().to_owned()),
        Ok("ESZ6".to_owned())
    );
    // From its roll date to the end of its month it may still trade (ES's last trading day is
    // in its contract month, and the table gives none): refused, but not said to be expired.
    let reason = refusal("ESZ6", "2026-12-12T00:00:00Z");
    assert!(
        reason.contains("is past its roll date in the routing table (2026-12-12 00:00 UTC)")
            && reason.contains("futures.ES.last_day")
            && !reason.contains("ESZ6 (December 2026) expired"),
        "{reason}"
    );
    // Once its month has ended it has expired, whatever the table says.
    let reason = refusal("ESZ6", "2027-01-01T00:00:00Z");
    assert!(
        reason.contains(
            "ESZ6 (December 2026) expired: its roll date in the routing table was 2026-12-12"
        ),
        "{reason}"
    );
}

/// An exit or FLATTEN closes a position held in an explicit contract past its roll date
/// (the table gives ES no last trading day) until the contract's month ends; an entry is
/// refused from the roll date, and says an exit would route.
#[test]
fn an_exit_of_an_explicit_contract_past_its_roll_date_routes_until_its_month_ends() {
    use shared::Action;
    use shared::front_month::Fronts;
    use shared::routing::Use;
    let table = RoutingTable::embedded();
    let route = |action: Action, now: &str| {
        table
            .route_for("CME_MINI", "ESZ6", at(now), &Fronts::new(), Use::of(action))
            .map(|r| r.instrument.as_str().to_owned())
            .map_err(|e| e.to_string())
    };
    for exit in [Action::LongExit, Action::ShortExit, Action::Flatten] {
        assert_eq!(route(exit, "2026-12-15T15:00:00Z"), Ok("ESZ6".to_owned()));
        assert_eq!(route(exit, "2026-12-31T23:59:00Z"), Ok("ESZ6".to_owned()));
        let after = route(exit, "2027-01-01T00:00:00Z").unwrap_err();
        assert!(after.contains("ESZ6 (December 2026) expired"), "{after}");
    }
    for entry in [Action::LongEntry, Action::ShortEntry] {
        let refused = route(entry, "2026-12-15T15:00:00Z").unwrap_err();
        assert!(
            refused.contains("past its roll date") && refused.contains("an exit or FLATTEN"),
            "{refused}"
        );
        // Before the roll date an entry routes as ever.
        assert_eq!(route(entry, "2026-12-11T15:00:00Z"), Ok("ESZ6".to_owned()));
    }
    // A configured last trading day is the end for exits too.
    let custom = RoutingTable::from_toml(&CUSTOM.replace(
        "roll_months_before = 1\n",
        "roll_months_before = 1\nlast_day = 18\n",
    ))
    .unwrap();
    let exit = custom.route_for(
        "CME",
        "ESZ6",
        at("2026-12-19T00:00:00Z"),
        &Fronts::new(),
        Use::CloseOnly,
    );
    assert!(exit.unwrap_err().to_string().contains("last trading day"));
}

#[test]
fn a_short_year_is_the_nearest_year_ending_in_it_never_a_decade_away() {
    // NQZ5 in 2026 is December 2025 (expired), not December 2035.
    let reason = refusal("NQZ5", "2026-11-30T12:00:00Z");
    assert!(
        reason.contains("2025") && reason.contains("expired"),
        "{reason}"
    );
    // ESH7 is March 2027.
    assert_eq!(
        RoutingTable::embedded()
            .route("CME_MINI", "ESH7", at("2026-11-30T12:00:00Z"))
            .map(|r| r.instrument.as_str().to_owned()),
        Ok("ESH7".to_owned())
    );
    // Across a decade: in 2029, ESH0 is March 2030.
    assert_eq!(
        RoutingTable::embedded()
            .route("CME_MINI", "ESH0", at("2029-11-30T12:00:00Z"))
            .map(|r| r.instrument.as_str().to_owned()),
        Ok("ESH0".to_owned())
    );
}

#[test]
fn a_configured_last_trading_day_replaces_the_roll_date_as_the_expiry() {
    // CUSTOM rolls ES on the 1st of the month before: ESZ6 stops being front on Nov 1.
    let rolled = RoutingTable::from_toml(CUSTOM).unwrap();
    assert!(
        rolled
            .route("CME", "ESZ6", at("2026-12-05T00:00:00Z"))
            .is_err()
    );
    let table = CUSTOM.replace(
        "roll_months_before = 1\n",
        "roll_months_before = 1\nlast_day = 18\n",
    );
    let t = RoutingTable::from_toml(&table).unwrap();
    // After the roll but on the last trading day: still routes.
    assert!(t.route("CME", "ESZ6", at("2026-12-18T20:00:00Z")).is_ok());
    let err = t
        .route("CME", "ESZ6", at("2026-12-19T00:00:00Z"))
        .unwrap_err();
    assert!(err.to_string().contains("last trading day"), "{err}");
}

#[test]
fn refusals_name_the_symbol_exchange_and_reason() {
    let err = RoutingTable::embedded()
        .route("CME_MINI_DL", "ESF7", at("2026-11-23T14:32:00Z"))
        .unwrap_err();
    let AlertError::UnroutableSymbol {
        symbol,
        exchange,
        reason,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((symbol.as_str(), exchange.as_str()), ("ESF7", "CME_MINI"));
    assert!(reason.contains("months HMUZ"), "{reason}");
}

/// `{{tickerid}}` pasted where the template wants `{{ticker}}`: the refusal says to drop the
/// exchange prefix, at every broker, where it read "not a BASE_QUOTE pair".
#[test]
fn a_symbol_with_an_exchange_prefix_is_refused_naming_the_prefix() {
    for (exchange, symbol) in [
        ("OANDA", "OANDA:EURUSD"),
        ("COINBASE", "COINBASE:BTCUSD"),
        ("CME_MINI", "CME_MINI:ES1!"),
    ] {
        let err = RoutingTable::embedded()
            .route(exchange, symbol, at("2026-11-23T14:32:00Z"))
            .unwrap_err();
        let AlertError::UnroutableSymbol { reason, .. } = &err else {
            panic!("{symbol}: {err:?}")
        };
        let (prefix, ticker) = symbol.split_once(':').unwrap();
        assert!(
            reason.contains(&format!("exchange prefix ({prefix}:)"))
                && reason.contains(&format!("bare ticker ({ticker},")),
            "{reason}"
        );
    }
}

const CUSTOM: &str = r#"
delayed_suffixes = ["_DL"]
[exchanges]
OANDA = "oanda"
KRAKEN = "coinbase"
CME = "tradovate"
[oanda]
quote_currencies = ["USD"]
[coinbase]
quote_currencies = ["USD"]
[coinbase.aliases]
XBTUSD = "BTC-USD"
[futures.ES]
months = "HMUZ"
roll_day = 1
roll_months_before = 1
"#;

#[test]
fn the_table_is_data_a_replacement_changes_routing() {
    let table = RoutingTable::from_toml(CUSTOM).unwrap();
    let now = at("2026-11-23T00:00:00Z");
    assert_eq!(
        table
            .route("KRAKEN", "XBTUSD", now)
            .unwrap()
            .instrument
            .as_str(),
        "BTC-USD"
    );
    // Rolls on Nov 1 for December: already H7 on Nov 23.
    assert_eq!(
        table.route("CME", "ES1!", now).unwrap().instrument.as_str(),
        "ESH7"
    );
    assert_eq!(
        table.route("COINBASE", "BTCUSD", now).unwrap_err().code(),
        ErrorCode::UnknownExchange
    );
}

#[test]
fn replacement_table_is_loaded_from_the_file_the_setting_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routing.toml");
    std::fs::write(&path, CUSTOM).unwrap();
    let env = MapEnv::new([("ROUTING_TABLE_FILE", path.to_str().unwrap())]);
    let table = RoutingTable::from_env(&env).unwrap();
    assert!(
        table
            .route("KRAKEN", "XBTUSD", at("2026-11-23T00:00:00Z"))
            .is_ok()
    );

    let missing = MapEnv::new([("ROUTING_TABLE_FILE", "/nonexistent/routing.toml")]);
    let err = RoutingTable::from_env(&missing).unwrap_err().to_string();
    assert!(
        err.contains("ROUTING_TABLE_FILE") && err.contains("/nonexistent/routing.toml"),
        "{err}"
    );
}

#[test]
fn bad_tables_are_refused_with_the_offending_key() {
    let cases = [
        (
            CUSTOM.replace("roll_day = 1", "roll_day = 31"),
            "futures.ES.roll_day",
        ),
        (CUSTOM.replace("\"HMUZ\"", "\"HMUA\""), "futures.ES.months"),
        // A root no point value is known for could never be sized or capped.
        (
            CUSTOM.replace("[futures.ES]", "[futures.6E]"),
            "futures.6E: no point value or tick size is known for 6E",
        ),
        (CUSTOM.replace("\"coinbase\"", "\"binance\""), "binance"),
        (
            CUSTOM.replace("[oanda]", "[oanda]\nsurprise = 1"),
            "surprise",
        ),
        // An alias goes to the broker as written: it must be the broker's own form.
        (
            CUSTOM.replace("\"BTC-USD\"", "\"BTC_USD\""),
            "coinbase.aliases.XBTUSD: \"BTC_USD\" is not an instrument in coinbase's form",
        ),
        (
            CUSTOM.replace("\"BTC-USD\"", "\"btc-usd\""),
            "coinbase.aliases.XBTUSD",
        ),
        (
            CUSTOM.replace(
                "[coinbase]",
                "[oanda.aliases]\nGOLD = \"XAUUSD\"\n[coinbase]",
            ),
            "oanda.aliases.GOLD: \"XAUUSD\" is not an instrument in oanda's form",
        ),
        // Keys that differ only in case would be one entry, whichever sorts last.
        (
            CUSTOM.replace(
                "CME = \"tradovate\"",
                "CME = \"tradovate\"\ncme = \"oanda\"",
            ),
            "exchanges.cme: given twice (names are upper-cased, and another key of exchanges is also CME)",
        ),
        (
            CUSTOM.replace(
                "XBTUSD = \"BTC-USD\"",
                "XBTUSD = \"BTC-USD\"\nxbtusd = \"ETH-USD\"",
            ),
            "coinbase.aliases.xbtusd: given twice",
        ),
        (
            format!(
                "{CUSTOM}[futures.es]\nmonths = \"HMUZ\"\nroll_day = 1\nroll_months_before = 1\n"
            ),
            "futures.es: given twice",
        ),
    ];
    for (text, needle) in cases {
        let err = RoutingTable::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

fn fronts(root: &str, contract: &str) -> shared::front_month::Fronts {
    let f = shared::front_month::FrontMonth {
        root: root.into(),
        contract: contract.into(),
        as_of: at("2026-11-30T11:00:00Z"),
    };
    [(root.to_owned(), f)].into_iter().collect()
}

#[test]
fn a_market_data_front_month_replaces_the_roll_rule_and_every_difference_is_reported() {
    let t = RoutingTable::embedded();
    let now = at("2026-11-30T12:00:00Z");
    // Agreement: the rule's contract, nothing to report.
    let same = t
        .route_with("CME_MINI", "ES1!", now, &fronts("ES", "ESZ6"))
        .unwrap();
    assert_eq!(same.instrument.as_str(), "ESZ6");
    assert_eq!(same.disagreement, None);
    assert!(same.resolution.unwrap().rule.contains("agrees"));
    // Volume has moved to March before the table's roll date.
    let moved = t
        .route_with("CME_MINI", "ES1!", now, &fronts("ES", "ESH7"))
        .unwrap();
    assert_eq!(moved.instrument.as_str(), "ESH7");
    let res = moved.resolution.unwrap();
    assert_eq!(res.contract, "ESH7");
    assert!(res.rule.contains("volume leader ESH7"), "{}", res.rule);
    assert!(
        moved
            .disagreement
            .unwrap()
            .contains("the roll rule says ESZ6")
    );
    // An answer that is not a tradable contract of the root changes nothing but is reported.
    // ESM7: listed and unexpired, but past the rule's next contract (ESH7): a data error
    // that would trade June and hold it.
    for bad in ["ESU6", "NQZ6", "ESF7", "ESM7", "ESZ7"] {
        let r = t
            .route_with("CME_MINI", "ES1!", now, &fronts("ES", bad))
            .unwrap();
        assert_eq!(r.instrument.as_str(), "ESZ6", "{bad}");
        assert!(r.disagreement.unwrap().contains("not usable"), "{bad}");
    }
    let far = t
        .route_with("CME_MINI", "ES1!", now, &fronts("ES", "ESM7"))
        .unwrap();
    let why = far.disagreement.unwrap();
    assert!(
        why.contains("ESM7 is further out than the roll rule's next contract ESH7"),
        "{why}"
    );
    // Only the first contract follows the leader; ES2! and explicit contracts do not.
    let second = t
        .route_with("CME_MINI", "ES2!", now, &fronts("ES", "ESH7"))
        .unwrap();
    assert_eq!(
        (second.instrument.as_str(), second.disagreement),
        ("ESH7", None)
    );
    let explicit = t
        .route_with("CME_MINI", "ESZ6", now, &fronts("ES", "ESH7"))
        .unwrap();
    assert_eq!(explicit.instrument.as_str(), "ESZ6");
}

#[test]
fn a_contract_a_decade_away_is_refused_not_rewritten_as_this_decades() {
    for s in ["ESZ2036", "ESZ36"] {
        let reason = refusal(s, "2026-11-30T12:00:00Z");
        assert!(reason.contains("too far out"), "{s}: {reason}");
    }
}

/// Five years out is too far as well: written with one year digit, `CLZ2031` in January 2026
/// would be `CLZ1`, which reads back as 2021 (an expired contract the executor would close as
/// an earlier one when `CL1!` rolls). Four years out is named and reads back as itself.
#[test]
fn a_contract_five_years_away_is_refused_as_its_digit_would_read_back_as_the_past() {
    for s in ["CLZ2031", "CLZ31"] {
        let reason = match RoutingTable::embedded().route("NYMEX", s, at("2026-01-15T12:00:00Z")) {
            Err(AlertError::UnroutableSymbol { reason, .. }) => reason,
            other => panic!("{s}: {other:?}"),
        };
        assert!(reason.contains("too far out"), "{s}: {reason}");
    }
    let now = at("2026-01-15T12:00:00Z");
    let four = RoutingTable::embedded()
        .route("NYMEX", "CLZ2030", now)
        .unwrap();
    assert_eq!(four.instrument.as_str(), "CLZ0");
    assert!(!shared::routing::is_earlier_contract("CLZ0", "CLF7", now));
    // Held years after its month cannot be: CLZ1 is December 2031 and CLZ2 December 2032 (CME
    // lists CL ten years out), another strategy's, never read as 2021 or 2022, a contract a
    // roll left behind (and closed).
    for held in ["CLZ1", "CLZ2", "CLH9"] {
        assert!(
            !shared::routing::is_earlier_contract(held, "CLF7", now),
            "{held}"
        );
    }
    assert!(!shared::routing::is_earlier_contract("GCZ1", "GCG6", now));
    // A contract of this month is this year's: the one a roll left in its last days.
    let december = at("2026-12-14T12:00:00Z");
    assert!(shared::routing::is_earlier_contract(
        "CLF7", "CLG7", december
    ));
    assert!(shared::routing::is_earlier_contract(
        "ESZ6", "ESH7", december
    ));
    assert!(shared::routing::is_earlier_contract(
        "ESZ26", "ESH7", december
    ));
    // Past its month (a paper book keeps it after expiry; a broker's list may lag one): still
    // the contract the roll left, closed by the first signal after the holidays.
    let january = at("2027-01-04T12:00:00Z");
    assert!(shared::routing::is_earlier_contract(
        "ESZ6", "ESH7", january
    ));
    assert!(shared::routing::is_earlier_contract(
        "CLF7",
        "CLH7",
        at("2027-02-20T12:00:00Z")
    ));
    // Across a decade's turn: ESZ9 held on 2030-01-04 is December 2029, a month past (its
    // digit read in 2030's decade would be 2039, later, and the roll left it held).
    let decade = at("2030-01-04T12:00:00Z");
    for (held, current) in [("ESZ9", "ESH0"), ("CLZ9", "CLH0"), ("ESZ29", "ESH0")] {
        assert!(
            shared::routing::is_earlier_contract(held, current, decade),
            "{held}"
        );
    }
    assert!(shared::routing::is_earlier_contract(
        "ESZ9",
        "ESH0",
        at("2029-12-14T12:00:00Z")
    ));
    assert!(!shared::routing::is_earlier_contract(
        "CLZ1", "CLH0", decade
    ));
}

#[test]
fn only_a_roots_earlier_contracts_are_earlier() {
    use shared::routing::is_earlier_contract;
    let now = at("2026-12-14T12:00:00Z");
    assert!(is_earlier_contract("ESZ6", "ESH7", now));
    assert!(!is_earlier_contract("ESM7", "ESH7", now), "later");
    assert!(!is_earlier_contract("ESH7", "ESH7", now), "the same");
    assert!(!is_earlier_contract("MESZ6", "ESH7", now), "another root");
}

#[test]
fn a_coinbase_product_id_splits_into_base_and_quote_at_its_first_dash() {
    use shared::routing::coinbase_currencies;
    assert_eq!(coinbase_currencies("BTC-USD"), Some(("BTC", "USD")));
    assert_eq!(coinbase_currencies("ETH-BTC"), Some(("ETH", "BTC")));
    assert_eq!(
        coinbase_currencies("BTC-PERP-INTX"),
        Some(("BTC", "PERP-INTX"))
    );
    for not_a_product in ["BTCUSD", "", "-USD", "BTC-", "-"] {
        assert_eq!(
            coinbase_currencies(not_a_product),
            None,
            "{not_a_product:?}"
        );
    }
}

/// A last trading day before the roll date is refused at load, naming both: between the two,
/// `ES1!` would route to a contract that no longer trades (an entry of `ESZ6` itself is
/// refused as expired then). On the roll date or after it, it loads.
#[test]
fn a_last_trading_day_before_the_roll_date_is_refused() {
    let with = |roll: &str, last: &str| {
        RoutingTable::from_toml(&CUSTOM.replace(
            "roll_day = 1\nroll_months_before = 1\n",
            &format!("{roll}\n{last}\n"),
        ))
    };
    let err = with("roll_day = 12\nroll_months_before = 0", "last_day = 3")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("futures.ES.last_day 3") && err.contains("roll_day 12"),
        "{err}"
    );
    // A month earlier than the roll's month is before it too, unless it ends that month and
    // the roll is on the 1st.
    let err = with(
        "roll_day = 2\nroll_months_before = 0",
        "last_day = 31\nlast_day_months_before = 1",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("comes before its roll date"), "{err}");
    // On the 4th of December: rolling on the 12th, ESZ6 is front; rolling on the 1st, or on
    // the 20th of the month before, ESH7 is.
    for (roll, last, front) in [
        // Ending at the roll's midnight leaves no gap.
        (
            "roll_day = 12\nroll_months_before = 0",
            "last_day = 11",
            "ESZ6",
        ),
        (
            "roll_day = 1\nroll_months_before = 0",
            "last_day = 31\nlast_day_months_before = 1",
            "ESH7",
        ),
        (
            "roll_day = 12\nroll_months_before = 0",
            "last_day = 12",
            "ESZ6",
        ),
        (
            "roll_day = 12\nroll_months_before = 0",
            "last_day = 19",
            "ESZ6",
        ),
        (
            "roll_day = 20\nroll_months_before = 1",
            "last_day = 3",
            "ESH7",
        ),
    ] {
        let table = with(roll, last).unwrap_or_else(|e| panic!("{roll} {last}: {e}"));
        let route = table
            .route("CME", "ES1!", at("2026-12-04T12:00:00Z"))
            .unwrap();
        assert_eq!(route.instrument.as_str(), front, "{roll} {last}");
    }
}
