//! Hand-computed journals: each figure below is worked out in the comment beside it.
#![allow(clippy::unwrap_used)]

use super::*;
use shared::execution::{ClientOrderId, Leg, StageTimes};
use shared::signal::SignalId;
use std::str::FromStr;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// `"10:00:00"` on Monday 2026-11-30, or a whole UTC time (`"2026-12-01T10:00:00"`).
fn at(hms: &str) -> DateTime<Utc> {
    if hms.contains('T') {
        format!("{hms}Z").parse().unwrap()
    } else {
        format!("2026-11-30T{hms}Z").parse().unwrap()
    }
}

/// A journal signal row: the alert's strategy, time and close in `raw`, as ingest keeps it.
fn signal(
    id: &str,
    broker: Broker,
    instrument: &str,
    status: SignalStatus,
    close: &str,
    hms: &str,
) -> SignalRecord {
    let t = at(hms);
    SignalRecord {
        signal_id: SignalId::of_canonical(id),
        raw: serde_json::json!({
            "indicator": "Trend_Validator",
            "market_data": {"timeframe": "5", "timenow": t.to_rfc3339()},
            "price_data": {"close": close},
        })
        .to_string(),
        normalized: shared::execution::RawJson::default(),
        symbol: instrument.replace(['_', '-'], ""),
        exchange: "X".into(),
        action: "LONG_ENTRY".into(),
        broker: Some(broker),
        instrument: Some(instrument.into()),
        contract_resolution: None,
        status,
        reason: None,
        stages: StageTimes {
            received: Some(t + Duration::milliseconds(100)),
            enqueued: Some(t + Duration::milliseconds(120)),
            routed: Some(t + Duration::milliseconds(200)),
            executor_start: Some(t + Duration::milliseconds(300)),
            broker_sent: Some(t + Duration::milliseconds(350)),
            broker_acked: Some(t + Duration::milliseconds(450)),
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn fill(
    id: &str,
    broker: Broker,
    instrument: &str,
    leg: Leg,
    side: Side,
    qty: &str,
    price: &str,
    fee: Option<&str>,
    hms: &str,
) -> OrderRecord {
    OrderRecord {
        signal_id: SignalId::of_canonical(id),
        broker,
        account: "acct".into(),
        instrument: instrument.into(),
        leg,
        attempt: 1,
        client_order_id: ClientOrderId::new(&SignalId::of_canonical(id), leg),
        broker_order_id: Some("1".into()),
        side,
        quantity: d(qty),
        fill_price: Some(d(price)),
        outcome: Outcome::Filled,
        error: None,
        sent_at: Some(at(hms)),
        acked_at: Some(at(hms) + Duration::milliseconds(100)),
        fee: fee.map(d),
    }
}

#[test]
fn a_reversal_closes_the_long_as_one_trade_and_opens_the_short() {
    let o = Broker::Oanda;
    let signals = [
        signal(
            "a",
            o,
            "EUR_USD",
            SignalStatus::Filled,
            "1.08000",
            "10:00:00",
        ),
        signal(
            "b",
            o,
            "EUR_USD",
            SignalStatus::Filled,
            "1.08500",
            "11:00:00",
        ),
    ];
    let orders = [
        fill(
            "a",
            o,
            "EUR_USD",
            Leg::Open,
            Side::Buy,
            "1000",
            "1.08010",
            None,
            "10:00:01",
        ),
        fill(
            "b",
            o,
            "EUR_USD",
            Leg::Close,
            Side::Sell,
            "1000",
            "1.08490",
            None,
            "11:00:01",
        ),
        fill(
            "b",
            o,
            "EUR_USD",
            Leg::Open,
            Side::Sell,
            "1000",
            "1.08490",
            None,
            "11:00:02",
        ),
    ];
    let r = analyze(&signals, &orders, &Filter::default());
    // (1.08490 − 1.08010) × 1,000 = 4.80 USD.
    assert_eq!(r.trades.len(), 1);
    let t = &r.trades[0];
    assert!(t.long);
    assert_eq!(
        (t.quantity, t.entry_price, t.exit_price),
        (d("1000"), d("1.08010"), d("1.08490"))
    );
    assert_eq!(t.pnl, d("4.80"));
    assert_eq!(t.currency, "USD");
    let usd = &r.totals["USD"];
    assert_eq!(
        (usd.trades, usd.wins, usd.win_rate),
        (1, 1, Some(Decimal::ONE))
    );
    assert_eq!(usd.profit_factor, None, "no losing trade");
    // Per broker, strategy and day: the one trade, closed on 2026-11-30.
    assert_eq!(r.by_broker[0].key, "oanda");
    assert_eq!(r.by_strategy[0].key, "Trend_Validator/5");
    // Exposure is an instrument's: other groups carry none rather than a 0 that reads as data.
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["by_instrument"][0]["exposure_secs"].is_i64(), "{json}");
    for group in ["by_broker", "by_strategy", "by_day", "by_week", "by_month"] {
        assert!(
            json[group][0].get("exposure_secs").is_none(),
            "{group}: {}",
            json[group][0]
        );
    }
    assert_eq!(
        (r.by_day[0].key.as_str(), r.by_day[0].stats.realized),
        ("2026-11-30", d("4.80"))
    );
    // Short 1,000 at 1.08490, last price the latest fill (11:00:02, after the alert): 0.
    assert_eq!(r.open_positions.len(), 1);
    let p = &r.open_positions[0];
    assert_eq!(
        (p.quantity, p.average_price, p.unrealized),
        (d("-1000"), d("1.08490"), d("0"))
    );
    // Every fill 1 pip worse than its alert's close: 0.0001 × 1,000 = 0.10 USD each.
    assert_eq!(r.slippage.len(), 3);
    for s in &r.slippage {
        assert_eq!(s.price, d("0.0001"), "{s:?}");
        assert_eq!(s.increments, Some((d("1"), "pip")));
        assert_eq!(s.money, Some(d("0.10")));
    }
    // 0.0001 / 1.08 × 10,000 = 0.93 bps.
    assert_eq!(r.slippage[0].bps, d("0.93"));
    // Long from 10:00:01.1 to 11:00:01.1, then short to the end: one closed interval.
    assert_eq!(r.by_instrument[0].exposure_secs, Some(3600));
}

#[test]
fn a_partial_exit_realizes_its_part_and_values_the_rest_at_the_last_close() {
    let o = Broker::Oanda;
    let mut later = signal(
        "c",
        o,
        "EUR_USD",
        SignalStatus::Refused,
        "1.10300",
        "12:00:00",
    );
    later.reason = Some("refused: max position".into());
    let signals = [
        signal(
            "a",
            o,
            "EUR_USD",
            SignalStatus::Filled,
            "1.10000",
            "10:00:00",
        ),
        signal(
            "b",
            o,
            "EUR_USD",
            SignalStatus::Filled,
            "1.10200",
            "11:00:00",
        ),
        later,
    ];
    let orders = [
        fill(
            "a",
            o,
            "EUR_USD",
            Leg::Open,
            Side::Buy,
            "2000",
            "1.10000",
            None,
            "10:00:01",
        ),
        OrderRecord {
            // OANDA closes a side `ALL`: a close of 500 against 2,000 held is one the broker
            // filled in part, the rest still held.
            error: Some("filled 500 of 2000; the rest was cancelled".into()),
            ..fill(
                "b",
                o,
                "EUR_USD",
                Leg::Close,
                Side::Sell,
                "500",
                "1.10200",
                None,
                "11:00:01",
            )
        },
    ];
    let r = analyze(&signals, &orders, &Filter::default());
    // 0.0020 × 500 = 1.00 USD realized; 1,500 left at 1.10000.
    assert_eq!(r.trades.len(), 1);
    assert_eq!(
        (r.trades[0].quantity, r.trades[0].pnl),
        (d("500"), d("1.00"))
    );
    let p = &r.open_positions[0];
    assert_eq!((p.quantity, p.average_price), (d("1500"), d("1.10000")));
    // The refused alert at 12:00 is the latest price: (1.10300 − 1.10000) × 1,500 = 4.50.
    assert_eq!(
        (p.last_price, p.last_price_at),
        (d("1.10300"), at("12:00:00"))
    );
    assert_eq!(p.unrealized, d("4.50"));
    assert_eq!(r.outcomes["refused"], 1);
}

/// Alerts of one `timenow` (TradingView's has whole seconds) value an open position at the
/// close of the one received last, in whichever order the journal's rows come: it was the
/// first of them the analysis met, so the report and the dashboard could disagree.
#[test]
fn alerts_of_one_time_value_a_position_at_the_last_received() {
    let o = Broker::Oanda;
    let open = signal(
        "a",
        o,
        "EUR_USD",
        SignalStatus::Filled,
        "1.10000",
        "10:00:00",
    );
    let mut first = signal("b", o, "EUR_USD", SignalStatus::NoOp, "1.10100", "11:00:00");
    let mut last = signal("c", o, "EUR_USD", SignalStatus::NoOp, "1.10200", "11:00:00");
    first.stages.received = Some(at("11:00:00.300"));
    last.stages.received = Some(at("11:00:00.900"));
    let orders = [fill(
        "a",
        o,
        "EUR_USD",
        Leg::Open,
        Side::Buy,
        "1000",
        "1.10000",
        None,
        "10:00:01",
    )];
    for signals in [
        [open.clone(), first.clone(), last.clone()],
        [open.clone(), last.clone(), first.clone()],
        [last.clone(), first.clone(), open.clone()],
    ] {
        let r = analyze(&signals, &orders, &Filter::default());
        let p = &r.open_positions[0];
        assert_eq!((p.last_price, p.unrealized), (d("1.10200"), d("2.00")));
    }
}

#[test]
fn a_futures_round_trip_is_multiplied_by_the_point_value() {
    let t = Broker::Tradovate;
    let signals = [
        signal("a", t, "ESZ6", SignalStatus::Filled, "5000.00", "14:30:00"),
        signal("b", t, "ESZ6", SignalStatus::Filled, "5005.00", "15:00:00"),
    ];
    let orders = [
        fill(
            "a",
            t,
            "ESZ6",
            Leg::Open,
            Side::Buy,
            "2",
            "5000.25",
            None,
            "14:30:01",
        ),
        fill(
            "b",
            t,
            "ESZ6",
            Leg::Close,
            Side::Sell,
            "2",
            "5004.75",
            None,
            "15:00:01",
        ),
    ];
    let r = analyze(&signals, &orders, &Filter::default());
    // 4.50 points × 2 contracts × 50 USD = 450.00 USD.
    assert_eq!(r.trades[0].pnl, d("450.00"));
    assert!(r.open_positions.is_empty());
    // The buy: 0.25 worse = 1 tick = 0.25 × 2 × 50 = 25 USD; the sell: 0.25 worse too.
    assert_eq!(r.slippage[0].increments, Some((d("1"), "tick")));
    assert_eq!(r.slippage[0].money, Some(d("25.0000")));
    assert_eq!(r.slippage[1].price, d("0.25"));
    // Fees the broker did not report (`None`) are not taken for zero without a word.
    assert_eq!(
        r.warnings,
        ["2 fill(s) without a fee reported by the broker: their P&L is before that fee"]
    );
    // A report of another instrument leaves these fills out, and says nothing of their fees.
    let other = Filter {
        instrument: Some("NQZ6".into()),
        ..Filter::default()
    };
    let r = analyze(&signals, &orders, &other);
    assert!(r.trades.is_empty());
    assert!(
        r.warnings.iter().all(|w| !w.contains("without a fee")),
        "{:?}",
        r.warnings
    );

    // A root without a known point value: P&L in points, and a warning names it.
    let orders = [
        fill(
            "a",
            t,
            "ZZZZ6",
            Leg::Open,
            Side::Buy,
            "1",
            "10",
            None,
            "14:30:01",
        ),
        fill(
            "b",
            t,
            "ZZZZ6",
            Leg::Close,
            Side::Sell,
            "1",
            "12",
            None,
            "15:00:01",
        ),
    ];
    let r = analyze(&signals, &orders, &Filter::default());
    assert_eq!(r.trades[0].pnl, d("2"));
    assert_eq!(r.trades[0].currency, "ZZZ points", "kept apart from USD");
    assert!(!r.totals.contains_key("USD"));
    assert!(
        r.warnings.iter().any(|w| w.contains("ZZZZ6")),
        "{:?}",
        r.warnings
    );
}

/// A filter selects what is reported, not what is matched: a round trip whose entry is
/// before `since` still closes its long, and nothing is left open.
#[test]
fn a_time_filter_keeps_round_trips_whole() {
    let o = Broker::Oanda;
    let signals = [
        signal(
            "a",
            o,
            "EUR_USD",
            SignalStatus::Filled,
            "1.10000",
            "10:00:00",
        ),
        signal(
            "b",
            o,
            "EUR_USD",
            SignalStatus::Filled,
            "1.10200",
            "11:00:00",
        ),
    ];
    let orders = [
        fill(
            "a",
            o,
            "EUR_USD",
            Leg::Open,
            Side::Buy,
            "1000",
            "1.10000",
            None,
            "10:00:01",
        ),
        fill(
            "b",
            o,
            "EUR_USD",
            Leg::Close,
            Side::Sell,
            "1000",
            "1.10200",
            None,
            "11:00:01",
        ),
    ];
    let since = Filter {
        since: Some(at("10:30:00")),
        ..Filter::default()
    };
    let r = analyze(&signals, &orders, &since);
    assert_eq!(r.signals, 1);
    assert_eq!(r.trades.len(), 1);
    assert_eq!(r.trades[0].pnl, d("2.00000"));
    assert!(r.open_positions.is_empty(), "{:?}", r.open_positions);
    // Until before the close: the long is open, no trade yet.
    let until = Filter {
        until: Some(at("10:30:00")),
        ..Filter::default()
    };
    let r = analyze(&signals, &orders, &until);
    assert!(r.trades.is_empty());
    assert_eq!(r.open_positions[0].quantity, d("1000"));
}

/// A close the journal has without a price (found by position) still moves the position,
/// valued at its alert's close and flagged; a roll's close on the earlier contract is not
/// measured against the new contract's close.
#[test]
fn a_close_without_a_price_and_a_rolled_close_are_handled_apart() {
    let t = Broker::Tradovate;
    let signals = [
        signal("a", t, "ESZ6", SignalStatus::Filled, "5000", "10:00:00"),
        signal("b", t, "ESZ6", SignalStatus::Filled, "5010", "11:00:00"),
        signal("c", t, "ESH7", SignalStatus::Filled, "5060", "12:00:00"),
    ];
    let mut priceless = fill(
        "b",
        t,
        "ESZ6",
        Leg::Close,
        Side::Sell,
        "1",
        "0",
        None,
        "11:00:01",
    );
    priceless.fill_price = None;
    let orders = [
        fill(
            "a",
            t,
            "ESZ6",
            Leg::Open,
            Side::Buy,
            "1",
            "5000",
            None,
            "10:00:01",
        ),
        priceless,
        fill(
            "b",
            t,
            "ESZ6",
            Leg::Open,
            Side::Buy,
            "1",
            "5010",
            None,
            "11:00:02",
        ),
        fill(
            "c",
            t,
            "ESZ6",
            Leg::CloseRolled,
            Side::Sell,
            "1",
            "5001",
            None,
            "12:00:01",
        ),
    ];
    let r = analyze(&signals, &orders, &Filter::default());
    // 10 points × 50 (estimated at the alert's close), then 5010 → 5001: −9 × 50.
    let pnl: Vec<Decimal> = r.trades.iter().map(|t| t.pnl).collect();
    assert_eq!(pnl, [d("500"), d("-450")]);
    // By instrument, the rolled close belongs to the contract it traded (ESZ6), not to its
    // signal's new one (ESH7): both ESZ6 trades are ESZ6's, none is ESH7's.
    let by = |name: &str| {
        let f = Filter {
            instrument: Some(name.into()),
            ..Filter::default()
        };
        analyze(&signals, &orders, &f)
            .trades
            .iter()
            .map(|t| t.pnl)
            .collect::<Vec<Decimal>>()
    };
    assert_eq!(by("ESZ6"), [d("500"), d("-450")]);
    assert_eq!(by("esz6"), [d("500"), d("-450")]);
    assert!(by("ESH7").is_empty(), "{:?}", by("ESH7"));
    // The alert's continuous symbol selects every contract its signals traded, the rolled
    // close included.
    let continuous: Vec<SignalRecord> = signals
        .iter()
        .cloned()
        .map(|mut s| {
            s.symbol = "ES1!".into();
            s
        })
        .collect();
    let f = Filter {
        instrument: Some("es1!".into()),
        ..Filter::default()
    };
    let pnl: Vec<Decimal> = analyze(&continuous, &orders, &f)
        .trades
        .iter()
        .map(|t| t.pnl)
        .collect();
    assert_eq!(pnl, [d("500"), d("-450")]);
    assert!(r.trades[0].estimated && !r.trades[1].estimated);
    assert!(r.open_positions.is_empty());
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("without a fill price")),
        "{:?}",
        r.warnings
    );
    // Slippage: the two priced fills on their signal's own contract only.
    let measured: Vec<&str> = r.slippage.iter().map(|s| s.signal_id.as_str()).collect();
    assert_eq!(measured.len(), 2, "{measured:?}");
    assert!(
        r.slippage
            .iter()
            .all(|s| s.instrument == "ESZ6" && s.alert_close != d("5060"))
    );
}

#[test]
fn a_coinbase_round_trip_pays_both_fees() {
    let c = Broker::Coinbase;
    let signals = [
        signal("a", c, "BTC-USD", SignalStatus::Filled, "60000", "09:00:00"),
        signal("b", c, "BTC-USD", SignalStatus::Filled, "61000", "10:00:00"),
    ];
    let orders = [
        fill(
            "a",
            c,
            "BTC-USD",
            Leg::Open,
            Side::Buy,
            "0.01",
            "60000",
            Some("6.00"),
            "09:00:01",
        ),
        fill(
            "b",
            c,
            "BTC-USD",
            Leg::Close,
            Side::Sell,
            "0.01",
            "61000",
            Some("6.10"),
            "10:00:01",
        ),
    ];
    let r = analyze(&signals, &orders, &Filter::default());
    // 1,000 × 0.01 = 10.00 gross, minus 6.00 + 6.10 in fees = −2.10 USD: a losing trade.
    assert_eq!(r.trades[0].pnl, d("-2.10"));
    let usd = &r.totals["USD"];
    assert_eq!(
        (usd.wins, usd.losses, usd.win_rate),
        (0, 1, Some(Decimal::ZERO))
    );
    assert_eq!(usd.average_loss, Some(d("-2.10")));
    assert_eq!(usd.profit_factor, Some(Decimal::ZERO));
    assert_eq!(usd.fees, d("12.10"));
    assert_eq!(r.by_broker[0].stats.fees, d("12.10"));
    assert_eq!(r.by_strategy[0].stats.fees, d("12.10"));
    assert_eq!(usd.max_drawdown, d("2.10"));
    assert_eq!(r.slippage[0].increments, None, "coins have no pip or tick");
}

/// A round trip whose alerts spelled the product two ways (`BTCUSD` to buy, `BTC-USD` to
/// sell: both route to BTC-USD) is one trade under either spelling of the filter: a symbol
/// stands for every instrument its signals traded. It lost the sale's side under `btcusd`.
#[test]
fn a_symbol_filter_keeps_a_round_trip_whose_alerts_spelled_it_two_ways() {
    let c = Broker::Coinbase;
    let mut buy = signal("a", c, "BTC-USD", SignalStatus::Filled, "60000", "09:00:00");
    buy.symbol = "BTCUSD".into();
    let mut sale = signal("b", c, "BTC-USD", SignalStatus::Filled, "61000", "10:00:00");
    sale.symbol = "BTC-USD".into();
    let signals = [buy, sale];
    let orders = [
        fill(
            "a",
            c,
            "BTC-USD",
            Leg::Open,
            Side::Buy,
            "0.01",
            "60000",
            None,
            "09:00:01",
        ),
        fill(
            "b",
            c,
            "BTC-USD",
            Leg::Close,
            Side::Sell,
            "0.01",
            "61000",
            None,
            "10:00:01",
        ),
    ];
    for want in ["btcusd", "BTC-USD", "btc-usd"] {
        let filter = Filter {
            instrument: Some(want.into()),
            ..Filter::default()
        };
        let r = analyze(&signals, &orders, &filter);
        assert_eq!(r.signals, 2, "{want}");
        assert_eq!(r.trades.len(), 1, "{want}");
        assert_eq!(r.trades[0].pnl, d("10"), "{want}");
        assert!(r.open_positions.is_empty(), "{want}");
    }
}

#[test]
fn a_day_with_expired_and_refused_signals_counts_every_outcome() {
    let o = Broker::Oanda;
    let with = |id: &str, status: SignalStatus, reason: Option<&str>, hms: &str| {
        let mut s = signal(id, o, "EUR_USD", status, "1.1", hms);
        s.reason = reason.map(str::to_owned);
        s
    };
    let signals = [
        with("1", SignalStatus::Filled, None, "09:00:00"),
        with(
            "2",
            SignalStatus::Expired,
            Some("signal is 41 s old"),
            "09:05:00",
        ),
        with(
            "3",
            SignalStatus::Refused,
            Some("kill switch engaged"),
            "09:10:00",
        ),
        with(
            "4",
            SignalStatus::Refused,
            Some("kill switch engaged"),
            "09:15:00",
        ),
        with("5", SignalStatus::Refused, Some("max position"), "09:20:00"),
        with(
            "6",
            SignalStatus::Rejected,
            Some("INSUFFICIENT_MARGIN"),
            "09:25:00",
        ),
        with(
            "7",
            SignalStatus::Superseded,
            Some("superseded"),
            "09:30:00",
        ),
        // The next day: outside the filter below.
        {
            let mut s = with("8", SignalStatus::Filled, None, "09:35:00");
            s.raw = s.raw.replace("2026-11-30", "2026-12-01");
            s
        },
    ];
    let day = Filter {
        since: Some(at("00:00:00")),
        until: Some(at("00:00:00") + Duration::days(1)),
        ..Filter::default()
    };
    let r = analyze(&signals, &[], &day);
    assert_eq!(r.signals, 7);
    let counts: Vec<(&str, u64)> = r.outcomes.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        counts,
        [
            ("expired", 1),
            ("filled", 1),
            ("refused", 3),
            ("rejected", 1),
            ("superseded", 1)
        ]
    );
    assert_eq!(r.refusals["kill switch engaged"], 2);
    assert_eq!(r.refusals["max position"], 1);
    assert_eq!(r.rejections["INSUFFICIENT_MARGIN"], 1);
    // Each stage of the constructed signals took the same time: 100 ms alert → received, …
    let by_stage: BTreeMap<&str, i64> = r.latency.iter().map(|l| (l.stage, l.p50_ms)).collect();
    assert_eq!(by_stage["alert_to_received"], 100);
    assert_eq!(by_stage["routed_to_executor"], 100);
    assert_eq!(by_stage["alert_to_acked"], 450);
    // A strategy filter that matches nothing.
    let none = Filter {
        strategy: Some("Other/1".into()),
        ..Filter::default()
    };
    assert_eq!(analyze(&signals, &[], &none).signals, 0);
    // The strategy in another case is the same strategy.
    let lower = Filter {
        strategy: Some("trend_validator/5".into()),
        ..Filter::default()
    };
    assert_eq!(
        analyze(&signals, &[], &lower).signals,
        analyze(&signals, &[], &Filter::default()).signals
    );
}

/// A win rate is shown to 4 decimal places: 2 wins of 3 trades is 0.6667.
#[test]
fn a_win_rate_is_rounded_for_people() {
    let o = Broker::Oanda;
    let mut signals = Vec::new();
    let mut orders = Vec::new();
    // Three round trips of 1,000 EUR_USD: +1, +1 and −1 pip.
    for (n, (open, close)) in [
        ("1.10000", "1.10010"),
        ("1.10000", "1.10010"),
        ("1.10010", "1.10000"),
    ]
    .into_iter()
    .enumerate()
    {
        let (a, b) = (format!("o{n}"), format!("c{n}"));
        let (ta, tb) = (format!("1{n}:00:00"), format!("1{n}:30:00"));
        signals.push(signal(&a, o, "EUR_USD", SignalStatus::Filled, open, &ta));
        signals.push(signal(&b, o, "EUR_USD", SignalStatus::Filled, close, &tb));
        orders.push(fill(
            &a,
            o,
            "EUR_USD",
            Leg::Open,
            Side::Buy,
            "1000",
            open,
            None,
            &ta,
        ));
        orders.push(fill(
            &b,
            o,
            "EUR_USD",
            Leg::Close,
            Side::Sell,
            "1000",
            close,
            None,
            &tb,
        ));
    }
    let r = analyze(&signals, &orders, &Filter::default());
    let usd = &r.totals["USD"];
    assert_eq!((usd.trades, usd.wins), (3, 2));
    assert_eq!(usd.win_rate, Some(d("0.6667")));
}

#[test]
fn refusals_of_one_kind_group_whatever_their_figures() {
    assert_eq!(
        reason_kind("alert quantity 5 is over the maximum 10"),
        reason_kind("alert quantity 7 is over the maximum 12")
    );
    assert_eq!(reason_kind("signal is 41 s old"), "signal is # s old");
    // A number is one `#`, its separators included; a name keeps its digits.
    assert_eq!(
        reason_kind("notional 1,000.50 USD over 500 at 12:00:00"),
        "notional # USD over # at #"
    );
    assert_eq!(
        reason_kind("MESZ6 still held; ESH27 and 101-004-1 refused"),
        "MESZ6 still held; ESH27 and #-#-# refused"
    );
    // Ids in hex, whatever their first character, and the times of a day, whatever the hour.
    assert_eq!(
        reason_kind("order 3f2a9c1e0b7d not found"),
        reason_kind("order c1e0b7d3f2a9 not found")
    );
    assert_eq!(
        reason_kind("order a9625b04-fc66-4999-a876-543c3684d702 was cancelled"),
        "order # was cancelled"
    );
    assert_eq!(
        reason_kind("stale at 2026-12-03T09:15:00Z"),
        reason_kind("stale at 2026-12-03T14:02:31.5Z")
    );
    assert_eq!(
        reason_kind("stale at 2026-12-03T09:15:00Z"),
        "stale at #-#-#T#Z"
    );
    // Words of hex letters alone, and names with other letters, stay.
    assert_eq!(
        reason_kind("deadbeef and CLF7 and 0000-cb-order-0001"),
        "deadbeef and CLF7 and #-cb-order-#"
    );
}

/// Expired signals are listed by why, as refusals are.
#[test]
fn expired_signals_are_listed_by_reason() {
    let t = Broker::Oanda;
    let mut old = signal("a", t, "EUR_USD", SignalStatus::Expired, "1.1", "14:00:00");
    old.reason = Some("signal is 41 s old on arrival (limit 30 s)".into());
    let mut late = signal("b", t, "EUR_USD", SignalStatus::Expired, "1.1", "14:01:00");
    late.reason = Some("signal is 45 s old on arrival (limit 30 s)".into());
    let r = analyze(&[old, late], &[], &Filter::default());
    assert_eq!(
        r.expirations
            .get("signal is # s old on arrival (limit # s)"),
        Some(&2)
    );
    assert!(r.refusals.is_empty());
}

#[test]
fn drawdown_is_the_largest_fall_from_a_peak_and_percentiles_are_nearest_rank() {
    let trade = |pnl: &str| Trade {
        broker: Broker::Oanda,
        instrument: "EUR_USD".into(),
        strategy: "s".into(),
        currency: "USD".into(),
        long: true,
        quantity: d("1"),
        entry_price: d("1"),
        exit_price: d("1"),
        opened_at: at("00:00:00"),
        closed_at: at("00:00:00"),
        pnl: d(pnl),
        fees: Decimal::ZERO,
        estimated: false,
    };
    let trades = [trade("10"), trade("-30"), trade("5")];
    let s = stats(&trades.iter().collect::<Vec<_>>());
    // Equity 10, −20, −15: peak 10, lowest −20 → 30.
    assert_eq!(s.max_drawdown, d("30"));
    // 15 / 30.
    assert_eq!(s.profit_factor, Some(d("0.5")));
    // Divisions that do not end are rounded: averages two places past the finest P&L,
    // the profit factor like the win rate.
    let trades = [trade("10"), trade("-3"), trade("5.1"), trade("-3")];
    let s = stats(&trades.iter().collect::<Vec<_>>());
    assert_eq!(s.average_win, Some(d("7.550")));
    assert_eq!(s.average_loss, Some(d("-3.000")));
    // 15.1 / 6.
    assert_eq!(s.profit_factor, Some(d("2.5167")));
    let trades = [trade("10"), trade("0.00001"), trade("-7"), trade("3")];
    let s = stats(&trades.iter().collect::<Vec<_>>());
    assert_eq!(s.average_win, Some(d("4.3333367")));
    // A P&L of 28 places (a share of a fee) averages to 10.
    let third = Decimal::ONE / Decimal::from(3);
    let trades = [trade("1"), trade("1")].map(|mut t| {
        t.pnl += third;
        t
    });
    let s = stats(&trades.iter().collect::<Vec<_>>());
    assert_eq!(s.average_win.unwrap().scale(), 10);
    let v: Vec<i64> = (1..=100).collect();
    assert_eq!(
        (percentile(&v, 50), percentile(&v, 95), percentile(&v, 99)),
        (50, 95, 99)
    );
    assert_eq!(percentile(&[7], 99), 7);
    assert_eq!(percentile(&[], 50), 0);
}

#[test]
fn trades_group_by_utc_day_iso_week_and_month_of_their_closing_fill() {
    let o = Broker::Oanda;
    // Three round trips of 1,000 EUR_USD, each a buy then a sell the same day:
    // Sunday 2026-11-29 (ISO week 48): +10 pips = 1.00 USD;
    // Monday 2026-11-30 (week 49): −5 pips = −0.50 USD;
    // Tuesday 2026-12-01 (week 49, December): +20 pips = 2.00 USD.
    let days = [
        ("2026-11-29", "1.10000", "1.10100"),
        ("2026-11-30", "1.10000", "1.09950"),
        ("2026-12-01", "1.10000", "1.10200"),
    ];
    let mut signals = Vec::new();
    let mut orders = Vec::new();
    for (n, (day, buy, sell)) in days.iter().enumerate() {
        let (open, close) = (format!("o{n}"), format!("c{n}"));
        let (t1, t2) = (format!("{day}T10:00:00"), format!("{day}T11:00:00"));
        signals.push(signal(&open, o, "EUR_USD", SignalStatus::Filled, buy, &t1));
        signals.push(signal(
            &close,
            o,
            "EUR_USD",
            SignalStatus::Filled,
            sell,
            &t2,
        ));
        orders.push(fill(
            &open,
            o,
            "EUR_USD",
            Leg::Open,
            Side::Buy,
            "1000",
            buy,
            None,
            &t1,
        ));
        orders.push(fill(
            &close,
            o,
            "EUR_USD",
            Leg::Close,
            Side::Sell,
            "1000",
            sell,
            None,
            &t2,
        ));
    }
    let r = analyze(&signals, &orders, &Filter::default());
    let rows = |g: &[Summary]| -> Vec<(String, u64, Decimal)> {
        g.iter()
            .map(|s| (s.key.clone(), s.stats.trades, s.stats.realized))
            .collect()
    };
    assert_eq!(
        rows(&r.by_day),
        vec![
            ("2026-11-29".into(), 1, d("1.00")),
            ("2026-11-30".into(), 1, d("-0.50")),
            ("2026-12-01".into(), 1, d("2.00")),
        ]
    );
    assert_eq!(
        rows(&r.by_week),
        vec![
            ("2026-W48".into(), 1, d("1.00")),
            ("2026-W49".into(), 2, d("1.50"))
        ]
    );
    assert_eq!(
        rows(&r.by_month),
        vec![
            ("2026-11".into(), 2, d("0.50")),
            ("2026-12".into(), 1, d("2.00"))
        ]
    );
    // Week 49: one win of 2.00, one loss of 0.50: profit factor 4, drawdown 0.50.
    let w49 = &r.by_week[1].stats;
    assert_eq!(
        (w49.profit_factor, w49.max_drawdown),
        (Some(d("4")), d("0.50"))
    );
}

#[test]
fn pips_are_counted_between_g10_currencies_only() {
    let pip = |i: &str| spec(Broker::Oanda, i).increment;
    assert_eq!(pip("EUR_USD"), Some((d("0.0001"), "pip")));
    assert_eq!(pip("USD_JPY"), Some((d("0.01"), "pip")));
    assert_eq!(pip("EUR_NOK"), Some((d("0.0001"), "pip")));
    // CFDs and metals that look like pairs: no pip.
    for cfd in ["BCO_USD", "XAU_USD", "XAG_USD", "SPX500_USD", "DE30_EUR"] {
        assert_eq!(pip(cfd), None, "{cfd}");
    }
    // Their P&L is still in the quote currency.
    assert_eq!(spec(Broker::Oanda, "BCO_USD").currency, "USD");
}

#[test]
fn filters_narrow_open_positions_and_exposure_to_the_signals_they_select() {
    let o = Broker::Oanda;
    // Long 1,000 EUR_USD at 10:00 (signal a), closed at 11:00 (b), long again at 12:00 (c),
    // still open; the journal's latest price is c's fill, 12:00:00.1.
    let signals = [
        signal(
            "a",
            o,
            "EUR_USD",
            SignalStatus::Filled,
            "1.10000",
            "10:00:00",
        ),
        signal(
            "b",
            o,
            "EUR_USD",
            SignalStatus::Filled,
            "1.10100",
            "11:00:00",
        ),
        signal(
            "c",
            o,
            "EUR_USD",
            SignalStatus::Filled,
            "1.10200",
            "12:00:00",
        ),
    ];
    let orders = [
        fill(
            "a",
            o,
            "EUR_USD",
            Leg::Open,
            Side::Buy,
            "1000",
            "1.10000",
            None,
            "10:00:00",
        ),
        fill(
            "b",
            o,
            "EUR_USD",
            Leg::Close,
            Side::Sell,
            "1000",
            "1.10100",
            None,
            "11:00:00",
        ),
        fill(
            "c",
            o,
            "EUR_USD",
            Leg::Open,
            Side::Buy,
            "1000",
            "1.10200",
            None,
            "12:00:00",
        ),
    ];
    // The alert's symbol selects like the instrument: the open position is shown.
    let by_symbol = Filter {
        instrument: Some("EURUSD".into()),
        ..Filter::default()
    };
    let r = analyze(&signals, &orders, &by_symbol);
    assert_eq!(r.open_positions.len(), 1);
    // In any case, as the instrument or as the symbol.
    for typed in ["eur_usd", "eurusd", "Eur_Usd"] {
        let f = Filter {
            instrument: Some(typed.into()),
            ..Filter::default()
        };
        let r = analyze(&signals, &orders, &f);
        assert_eq!(r.open_positions.len(), 1, "{typed}");
        assert_eq!(r.by_instrument.len(), 1, "{typed}");
    }
    // A strategy nothing matches: no position, no trade.
    let none = Filter {
        strategy: Some("nope/1".into()),
        ..Filter::default()
    };
    let r = analyze(&signals, &orders, &none);
    assert!(r.open_positions.is_empty() && r.trades.is_empty());
    // Since 10:30: the first stretch (10:00-11:00) is closed by b, selected, so it counts; the
    // open stretch from 12:00:00.1 runs to the latest price at 12:00:00.1: 3,600 s in all.
    let since = Filter {
        since: Some(at("10:30:00")),
        ..Filter::default()
    };
    let r = analyze(&signals, &orders, &since);
    assert_eq!(r.by_instrument[0].exposure_secs, Some(3600));
    // Since 11:30: only c is selected; the closed stretch is left out.
    let later = Filter {
        since: Some(at("11:30:00")),
        ..Filter::default()
    };
    let r = analyze(&signals, &orders, &later);
    assert!(r.by_instrument.is_empty(), "no trade closed after 11:30");
    assert_eq!(r.open_positions.len(), 1);
}

/// After a crash, a takeover journals the fills it finds at the broker without send or
/// acknowledgement times. Such a fill is placed by its signal's executor start (after the
/// instrument's previous signal finished), not by its alert's time, which came before that
/// signal's late fill; and never before an earlier leg of its own signal.
#[test]
fn a_fill_found_by_a_takeover_keeps_its_place_in_the_trades() {
    let o = Broker::Oanda;
    let eur = "EUR_USD";
    // A: long at 1.08000, its alert at 10:00:00, filled late at 10:00:05 (a queue behind).
    let a = signal("a", o, eur, SignalStatus::Filled, "1.08000", "10:00:00");
    // B: a reversal whose alert came at 10:00:01, executed from 10:00:06; its close was
    // journaled at 10:00:07 before the crash, its open found by the takeover.
    let mut b = signal("b", o, eur, SignalStatus::Filled, "1.09000", "10:00:01");
    b.stages.broker_sent = None;
    b.stages.broker_acked = None;
    b.stages.executor_start = Some(at("10:00:06"));
    // C: back to long at 10:00:10.
    let c = signal("c", o, eur, SignalStatus::Filled, "1.08500", "10:00:10");
    let mut b_open = fill(
        "b",
        o,
        eur,
        Leg::Open,
        Side::Sell,
        "1000",
        "1.09050",
        None,
        "10:00:00",
    );
    b_open.sent_at = None;
    b_open.acked_at = None;
    let orders = [
        fill(
            "a",
            o,
            eur,
            Leg::Open,
            Side::Buy,
            "1000",
            "1.08000",
            None,
            "10:00:05",
        ),
        b_open,
        fill(
            "b",
            o,
            eur,
            Leg::Close,
            Side::Sell,
            "1000",
            "1.09000",
            None,
            "10:00:07",
        ),
        fill(
            "c",
            o,
            eur,
            Leg::Close,
            Side::Buy,
            "1000",
            "1.08500",
            None,
            "10:00:10",
        ),
        fill(
            "c",
            o,
            eur,
            Leg::Open,
            Side::Buy,
            "1000",
            "1.08500",
            None,
            "10:00:10",
        ),
    ];
    let r = analyze(&[a, b, c], &orders, &Filter::default());
    let trades: Vec<(bool, Decimal)> = r.trades.iter().map(|t| (t.long, t.pnl)).collect();
    // The long closed by B's close at 1.09000: +10.00; the short B opened at 1.09050 closed by
    // C at 1.08500: +5.50.
    assert_eq!(
        trades,
        [(true, d("10")), (false, d("5.5"))],
        "{:?}",
        r.trades
    );
    assert_eq!(r.open_positions.len(), 1);
    assert_eq!(r.open_positions[0].quantity, d("1000"));
}

/// A long entry that filled before its process died unjournaled; a takeover six minutes on
/// could not read the broker's records (journaled `unknown`, no legs, its executor start
/// kept), then an exit ran; hours later a replay found the entry's fill (no send time, its
/// acknowledgement the replay's, which is also the signal's latest). The fill is matched
/// at the signal's first executor start, before the exit: one trade of +5.00 and nothing
/// open. Matched at the replay's time it came after the exit, which matched nothing, and
/// stood as a long the account did not hold.
#[test]
fn a_fill_a_replay_found_is_matched_before_the_signals_that_ran_meanwhile() {
    let o = Broker::Oanda;
    let eur = "EUR_USD";
    let mut a = signal("a", o, eur, SignalStatus::Filled, "1.08000", "10:00:00");
    a.stages.executor_start = Some(at("10:06:00"));
    a.stages.broker_sent = None;
    a.stages.broker_acked = Some(at("14:00:00"));
    let b = signal("b", o, eur, SignalStatus::Filled, "1.08500", "10:10:00");
    let mut a_open = fill(
        "a",
        o,
        eur,
        Leg::Open,
        Side::Buy,
        "1000",
        "1.08000",
        Some("0"),
        "14:00:00",
    );
    a_open.sent_at = None;
    let b_close = fill(
        "b",
        o,
        eur,
        Leg::Close,
        Side::Sell,
        "1000",
        "1.08500",
        Some("0"),
        "10:10:01",
    );
    let r = analyze(&[a, b], &[b_close, a_open], &Filter::default());
    let trades: Vec<(bool, Decimal)> = r.trades.iter().map(|t| (t.long, t.pnl)).collect();
    assert_eq!(trades, [(true, d("5"))], "{:?} {:?}", r.trades, r.warnings);
    assert!(r.open_positions.is_empty(), "{:?}", r.open_positions);
    // Shown when it was first taken up, not on the replay's day.
    assert_eq!(r.trades[0].opened_at, at("10:06:00"));
}

/// Three EUR_USD reversals on an account that was long 1,000 before the journal began.
fn reversals_from_a_long_held_before() -> (Vec<SignalRecord>, Vec<OrderRecord>) {
    let o = Broker::Oanda;
    let eur_usd = |id, close, hms| signal(id, o, "EUR_USD", SignalStatus::Filled, close, hms);
    let signals = vec![
        eur_usd("s1", "1.08500", "10:00:00"),
        eur_usd("s2", "1.08000", "11:00:00"),
        eur_usd("s3", "1.09000", "12:00:00"),
    ];
    let leg = |id: &str, leg: Leg, side: Side, price: &str, hms: &str| {
        fill(id, o, "EUR_USD", leg, side, "1000", price, Some("0"), hms)
    };
    let orders = vec![
        leg("s1", Leg::Close, Side::Sell, "1.08500", "10:00:01"),
        leg("s1", Leg::Open, Side::Sell, "1.08500", "10:00:02"),
        leg("s2", Leg::Close, Side::Buy, "1.08000", "11:00:01"),
        leg("s2", Leg::Open, Side::Buy, "1.08000", "11:00:02"),
        leg("s3", Leg::Close, Side::Sell, "1.09000", "12:00:01"),
        leg("s3", Leg::Open, Side::Sell, "1.09000", "12:00:02"),
    ];
    (signals, orders)
}

/// A close with no journaled lot to match (the long was bought before the journal began)
/// opens nothing: it was read as a short of its own, and every later trade was matched
/// against it (10.00 USD realized and short 2,000 left open, where the account made 15.00 and
/// is short 1,000).
#[test]
fn a_close_of_a_position_held_before_the_journal_opens_nothing() {
    let (signals, orders) = reversals_from_a_long_held_before();
    let r = analyze(&signals, &orders, &Filter::default());
    // s2's close: short from 1.08500 bought back at 1.08000, +5.00; s3's close: long from
    // 1.08000 sold at 1.09000, +10.00.
    let pnl: Vec<Decimal> = r.trades.iter().map(|t| t.pnl).collect();
    assert_eq!(pnl, [d("5.00000"), d("10.00000")]);
    assert_eq!(r.totals["USD"].realized, d("15.00000"));
    assert_eq!(r.open_positions.len(), 1);
    assert_eq!(r.open_positions[0].quantity, d("-1000"));
    assert_eq!(r.open_positions[0].average_price, d("1.09"));
    assert_eq!(
        r.warnings,
        [
            "EUR_USD: closes of 1000 unit(s) the journal never saw opened (held before the journal began, or opened by a leg of unknown outcome): no P&L counted for them"
        ]
    );
}

/// A long closed by hand at the broker, then a short entry from flat (an open alone), then
/// its exit: the open never closes the journal's long (it would book a long round trip at
/// the open's price, −6.00, and leave the book flat while the account is short).
#[test]
fn an_open_never_closes_lots_the_account_no_longer_holds() {
    let o = Broker::Oanda;
    let eur_usd = |id, close, hms| signal(id, o, "EUR_USD", SignalStatus::Filled, close, hms);
    let leg = |id: &str, leg: Leg, side: Side, price: &str, hms: &str| {
        fill(id, o, "EUR_USD", leg, side, "1000", price, Some("0"), hms)
    };
    let signals = vec![
        eur_usd("s1", "1.08000", "10:00:00"),
        eur_usd("s2", "1.07400", "11:00:00"),
        eur_usd("s3", "1.07000", "12:00:00"),
    ];
    // The long paid a fee opening it: in no trade once the long is gone, and said so.
    let mut s1 = leg("s1", Leg::Open, Side::Buy, "1.08000", "10:00:01");
    s1.fee = Some(d("0.5"));
    let orders = vec![
        s1,
        // The long is closed by hand; s2 finds the account flat and only opens.
        leg("s2", Leg::Open, Side::Sell, "1.07400", "11:00:01"),
        leg("s3", Leg::Close, Side::Buy, "1.07000", "12:00:01"),
    ];
    let warning = "EUR_USD: 1000 unit(s) the journal held were gone when an open filled, or when an OANDA or Tradovate close (which closes the whole side) filled (an open is sent only when the account holds nothing of the other side, and on OANDA and Tradovate nothing of its own: closed outside the journal, by hand, by a broker's closeout or a stop, or by a close of unknown outcome): no P&L counted for them; the fees paid opening them (0.5 USD) are in no trade";

    // Before the exit: the account is short 1,000 from 1.07400.
    let r = analyze(&signals[..2], &orders[..2], &Filter::default());
    assert!(r.trades.is_empty(), "{:?}", r.trades);
    assert_eq!(r.open_positions.len(), 1);
    assert_eq!(r.open_positions[0].quantity, d("-1000"));
    assert_eq!(r.open_positions[0].average_price, d("1.074"));
    assert_eq!(r.warnings, [warning]);

    // s3's close: short from 1.07400 bought back at 1.07000, +4.00; nothing left open.
    let r = analyze(&signals, &orders, &Filter::default());
    let pnl: Vec<Decimal> = r.trades.iter().map(|t| t.pnl).collect();
    assert_eq!(pnl, [d("4.00000")]);
    assert!(!r.trades[0].long);
    assert_eq!(r.totals["USD"].realized, d("4.00000"));
    assert!(r.open_positions.is_empty(), "{:?}", r.open_positions);
    assert_eq!(r.warnings, [warning]);
}

/// A re-entry on the side the journal still holds, that side closed outside it meanwhile
/// (by hand): the executors open a side only when the account holds none of it, so the stale
/// lot leaves the book (warned of, its fee named) and the exit matches the re-entry, +10.00.
/// It was matched against the stale lot (+110.00) and the re-entry stood as an open position
/// the account did not hold. On ES the same at 50 a point. A Coinbase buy keeps what the book
/// holds (dust the plan does not count may still be held).
#[test]
fn a_reentry_after_its_side_was_closed_outside_drops_the_stale_lot() {
    let o = Broker::Oanda;
    let eur_usd = |id, close, hms| signal(id, o, "EUR_USD", SignalStatus::Filled, close, hms);
    let leg = |id: &str, leg: Leg, side: Side, price: &str, hms: &str| {
        fill(id, o, "EUR_USD", leg, side, "1000", price, Some("0"), hms)
    };
    let signals = vec![
        eur_usd("s1", "1.10000", "10:00:00"),
        eur_usd("s2", "1.20000", "11:00:00"),
        eur_usd("s3", "1.21000", "12:00:00"),
    ];
    let mut s1 = leg("s1", Leg::Open, Side::Buy, "1.10000", "10:00:01");
    s1.fee = Some(d("0.5"));
    let orders = vec![
        s1,
        // Closed by hand; s2 finds the account flat and opens again.
        leg("s2", Leg::Open, Side::Buy, "1.20000", "11:00:01"),
        leg("s3", Leg::Close, Side::Sell, "1.21000", "12:00:01"),
    ];
    let r = analyze(&signals, &orders, &Filter::default());
    let pnl: Vec<Decimal> = r.trades.iter().map(|t| t.pnl).collect();
    assert_eq!(pnl, [d("10.00000")]);
    assert_eq!(r.trades[0].entry_price, d("1.2"));
    assert!(r.open_positions.is_empty(), "{:?}", r.open_positions);
    assert_eq!(
        r.warnings,
        [
            "EUR_USD: 1000 unit(s) the journal held were gone when an open filled, or when an OANDA or Tradovate close (which closes the whole side) filled (an open is sent only when the account holds nothing of the other side, and on OANDA and Tradovate nothing of its own: closed outside the journal, by hand, by a broker's closeout or a stop, or by a close of unknown outcome): no P&L counted for them; the fees paid opening them (0.5 USD) are in no trade"
        ]
    );

    let t = Broker::Tradovate;
    let es = |id, close, hms| signal(id, t, "ESZ6", SignalStatus::Filled, close, hms);
    let leg = |id: &str, leg: Leg, side: Side, price: &str, hms: &str| {
        fill(id, t, "ESZ6", leg, side, "1", price, Some("0"), hms)
    };
    let signals = vec![
        es("e1", "5000", "10:00:00"),
        es("e2", "5100", "11:00:00"),
        es("e3", "5110", "12:00:00"),
    ];
    let orders = vec![
        leg("e1", Leg::Open, Side::Buy, "5000", "10:00:01"),
        leg("e2", Leg::Open, Side::Buy, "5100", "11:00:01"),
        leg("e3", Leg::Close, Side::Sell, "5110", "12:00:01"),
    ];
    let r = analyze(&signals, &orders, &Filter::default());
    let pnl: Vec<Decimal> = r.trades.iter().map(|t| t.pnl).collect();
    assert_eq!(pnl, [d("500")]);
    assert!(r.open_positions.is_empty(), "{:?}", r.open_positions);

    let c = Broker::Coinbase;
    let btc = |id, close, hms| signal(id, c, "BTC-USD", SignalStatus::Filled, close, hms);
    let buy = |id: &str, qty: &str, price: &str, hms: &str| {
        fill(
            id,
            c,
            "BTC-USD",
            Leg::Open,
            Side::Buy,
            qty,
            price,
            Some("0"),
            hms,
        )
    };
    let signals = vec![btc("b1", "100", "10:00:00"), btc("b2", "110", "11:00:00")];
    let orders = vec![
        buy("b1", "0.00001", "100", "10:00:01"),
        buy("b2", "1", "110", "11:00:01"),
    ];
    let r = analyze(&signals, &orders, &Filter::default());
    assert_eq!(r.open_positions.len(), 1, "{:?}", r.open_positions);
    assert_eq!(r.open_positions[0].quantity, d("1.00001"));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    // The whole balance sold: the executor's lot first, then the dust, P&L of both.
    let signals = vec![
        btc("b1", "100", "10:00:00"),
        btc("b2", "110", "11:00:00"),
        btc("b3", "120", "12:00:00"),
    ];
    let sell = |id: &str, qty: &str, price: &str, hms: &str| {
        fill(
            id,
            c,
            "BTC-USD",
            Leg::Close,
            Side::Sell,
            qty,
            price,
            Some("0"),
            hms,
        )
    };
    let mut orders = orders;
    orders.push(sell("b3", "1.00001", "120", "12:00:01"));
    let r = analyze(&signals, &orders, &Filter::default());
    let pnl: Vec<Decimal> = r.trades.iter().map(|t| t.pnl).collect();
    assert_eq!(pnl, [d("10.0002")]);
    assert!(r.open_positions.is_empty(), "{:?}", r.open_positions);

    // 1 BTC bought, then sold in the app; the re-entry buys 1 at 110 and its exit sells it
    // at 120: +10 (it was +20, matched against the sold lot at 100), and so every later
    // round trip (130 then 125: -5, shown +15).
    let signals = vec![
        btc("b1", "100", "10:00:00"),
        btc("b2", "110", "11:00:00"),
        btc("b3", "120", "12:00:00"),
        btc("b4", "130", "13:00:00"),
        btc("b5", "125", "14:00:00"),
    ];
    let orders = vec![
        buy("b1", "1", "100", "10:00:01"),
        buy("b2", "1", "110", "11:00:01"),
        sell("b3", "1", "120", "12:00:01"),
        buy("b4", "1", "130", "13:00:01"),
        sell("b5", "1", "125", "14:00:01"),
    ];
    let r = analyze(&signals, &orders, &Filter::default());
    let pnl: Vec<Decimal> = r.trades.iter().map(|t| t.pnl).collect();
    assert_eq!(pnl, [d("10"), d("-5")]);
}

/// Two opens of one signal both filled (a replay's send journaled beside an earlier one of
/// unknown outcome that landed after all: the account holds both): the second does not
/// drop the first's lot as closed outside, and the close of both books both.
#[test]
fn two_filled_opens_of_one_signal_are_both_held() {
    let o = Broker::Oanda;
    let signals = vec![
        signal(
            "s1",
            o,
            "EUR_USD",
            SignalStatus::Filled,
            "1.10000",
            "10:00:00",
        ),
        signal(
            "s2",
            o,
            "EUR_USD",
            SignalStatus::Filled,
            "1.11000",
            "11:00:00",
        ),
    ];
    let leg = |id: &str, leg: Leg, side: Side, qty: &str, price: &str, hms: &str| {
        fill(id, o, "EUR_USD", leg, side, qty, price, Some("0"), hms)
    };
    let orders = vec![
        leg("s1", Leg::Open, Side::Buy, "1000", "1.10000", "10:00:01"),
        leg("s1", Leg::Open, Side::Buy, "1000", "1.10010", "10:00:02"),
        leg("s2", Leg::Close, Side::Sell, "2000", "1.11000", "11:00:01"),
    ];
    let r = analyze(&signals, &orders, &Filter::default());
    let closed: Decimal = r.trades.iter().map(|t| t.quantity).sum();
    assert_eq!(closed, d("2000"), "{:?}", r.trades);
    assert!(r.open_positions.is_empty(), "{:?}", r.open_positions);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

/// A sale of more than the journal saw bought (0.4 BTC bought through it, 0.6 before): the
/// trade carries the fee's share for the 0.4 it closed (4 of 10 USD), and the warning names
/// the rest (6 USD), which was in no trade and no warning.
#[test]
fn the_fee_of_a_close_beyond_the_journals_lots_is_named() {
    let c = Broker::Coinbase;
    let signals = [
        signal("a", c, "BTC-USD", SignalStatus::Filled, "100", "10:00:00"),
        signal("b", c, "BTC-USD", SignalStatus::Filled, "110", "11:00:00"),
    ];
    let orders = [
        fill(
            "a",
            c,
            "BTC-USD",
            Leg::Open,
            Side::Buy,
            "0.4",
            "100",
            Some("0"),
            "10:00:00",
        ),
        fill(
            "b",
            c,
            "BTC-USD",
            Leg::Close,
            Side::Sell,
            "1.0",
            "110",
            Some("10"),
            "11:00:00",
        ),
    ];
    let r = analyze(&signals, &orders, &Filter::default());
    assert_eq!(r.totals["USD"].fees, d("4"));
    assert_eq!(
        r.warnings,
        [
            "BTC-USD: closes of 0.6 unit(s) the journal never saw opened (held before the journal began, or opened by a leg of unknown outcome): no P&L counted for them; the fees paid closing them (6 USD) are in no trade"
        ]
    );
}

/// A close filled with no size (a liquidation a takeover found done) with nothing of its side
/// in the book is warned of with its fee: it was dropped without a word.
#[test]
fn a_close_with_no_size_and_nothing_to_close_is_warned_of() {
    let t = Broker::Tradovate;
    let signals = [signal(
        "s1",
        t,
        "ESZ6",
        SignalStatus::Filled,
        "5000.00",
        "14:30:00",
    )];
    let mut liquidation = fill(
        "s1",
        t,
        "ESZ6",
        Leg::Close,
        Side::Sell,
        "0",
        "1",
        Some("4.5"),
        "14:30:01",
    );
    liquidation.fill_price = None;
    let r = analyze(&signals, &[liquidation], &Filter::default());
    assert!(r.trades.is_empty());
    let expected = "ESZ6: closes of a size not reported (a liquidation found done) the journal never saw opened (held before the journal began, or opened by a leg of unknown outcome): no P&L counted for them; the fees paid closing them (4.5 USD) are in no trade";
    assert!(r.warnings.iter().any(|w| w == expected), "{:?}", r.warnings);
}

/// A close journaled filled with no size (a Tradovate liquidation a takeover past the age
/// limit found done: it sizes nothing, and a liquidation closes the whole side) closes what
/// the book holds of that side, at its alert's close: it was left out, the long stayed in the
/// book, and the next open dropped it as closed outside the journal.
#[test]
fn a_close_filled_with_no_size_closes_the_whole_side() {
    let t = Broker::Tradovate;
    let es = |id, close, hms| signal(id, t, "ESZ6", SignalStatus::Filled, close, hms);
    let signals = [
        es("s1", "5000.00", "14:30:00"),
        es("s2", "5004.00", "15:00:00"),
        es("s3", "5003.00", "15:30:00"),
    ];
    let mut liquidation = fill(
        "s2",
        t,
        "ESZ6",
        Leg::Close,
        Side::Sell,
        "0",
        "1",
        Some("0"),
        "15:00:01",
    );
    liquidation.fill_price = None;
    let orders = [
        fill(
            "s1",
            t,
            "ESZ6",
            Leg::Open,
            Side::Buy,
            "2",
            "5000.00",
            Some("0"),
            "14:30:01",
        ),
        liquidation,
        fill(
            "s3",
            t,
            "ESZ6",
            Leg::Open,
            Side::Sell,
            "1",
            "5003.00",
            Some("0"),
            "15:30:01",
        ),
    ];
    // Before the short: nothing open; the long of 2 closed at s2's alert close, 4 points ×
    // 2 × 50 USD = 400.00 USD.
    let r = analyze(&signals[..2], &orders[..2], &Filter::default());
    assert!(r.open_positions.is_empty(), "{:?}", r.open_positions);
    let trades: Vec<(Decimal, Decimal)> = r.trades.iter().map(|t| (t.quantity, t.pnl)).collect();
    assert_eq!(trades, [(d("2"), d("400.00"))]);
    assert!(r.trades[0].estimated);
    // The short opens from flat: no lots dropped as closed outside the journal.
    let r = analyze(&signals, &orders, &Filter::default());
    assert_eq!(r.trades.len(), 1);
    assert_eq!(r.open_positions.len(), 1);
    assert_eq!(r.open_positions[0].quantity, d("-1"));
    assert!(
        !r.warnings
            .iter()
            .any(|w| w.contains("closed outside the journal")),
        "{:?}",
        r.warnings
    );
}

/// An open whose outcome was unknown, found filled by a replay hours later: it keeps its
/// place (its send), not the replay's time, and until then the report says it may have filled.
#[test]
fn a_leg_of_unknown_outcome_is_warned_of_and_once_found_keeps_its_place() {
    let o = Broker::Oanda;
    let eur_usd = |id, status, close, hms| signal(id, o, "EUR_USD", status, close, hms);
    let signals = [
        eur_usd("u1", SignalStatus::Unknown, "1.08000", "10:00:00"),
        eur_usd("u2", SignalStatus::Filled, "1.08500", "11:00:00"),
        eur_usd("u3", SignalStatus::Filled, "1.08200", "12:00:00"),
    ];
    let leg = |id: &str, leg: Leg, side: Side, price: &str, hms: &str| {
        fill(id, o, "EUR_USD", leg, side, "1000", price, Some("0"), hms)
    };
    let mut open = leg("u1", Leg::Open, Side::Buy, "1.08000", "10:00:01");
    open.outcome = Outcome::Unknown;
    open.fill_price = None;
    open.acked_at = None;
    let later = vec![
        leg("u2", Leg::Close, Side::Sell, "1.08500", "11:00:01"),
        leg("u2", Leg::Open, Side::Sell, "1.08500", "11:00:02"),
        leg("u3", Leg::Close, Side::Buy, "1.08200", "12:00:01"),
        leg("u3", Leg::Open, Side::Buy, "1.08200", "12:00:02"),
    ];
    let mut orders = vec![open.clone()];
    orders.extend(later.clone());
    let r = analyze(&signals, &orders, &Filter::default());
    assert!(
        r.warnings
            .iter()
            .any(|w| w.starts_with("1 leg(s) of unknown outcome")),
        "{:?}",
        r.warnings
    );

    // The replay at 16:00 finds it filled: the journal keeps its first send time (10:00:01)
    // and takes the replay's acknowledgement.
    open.outcome = Outcome::Filled;
    open.fill_price = Some(d("1.08000"));
    open.acked_at = Some(at("16:00:00"));
    let mut orders = vec![open];
    orders.extend(later);
    let r = analyze(&signals, &orders, &Filter::default());
    // Long 1.08000 → 1.08500: +5.00; short 1.08500 → 1.08200: +3.00; long 1,000 at 1.08200 open.
    let pnl: Vec<Decimal> = r.trades.iter().map(|t| t.pnl).collect();
    assert_eq!(pnl, [d("5.00000"), d("3.00000")]);
    assert!(r.trades[0].long && !r.trades[1].long);
    // Opened when it was sent (10:00:01), not when the replay found it (16:00): a trade
    // never closes before it opens, and the time in the market is not negative.
    assert_eq!(r.trades[0].opened_at, at("10:00:01"));
    assert!(
        r.trades.iter().all(|t| t.opened_at <= t.closed_at),
        "{:?}",
        r.trades
    );
    // Long 10:00:01 → 11:00:01 (3,600 s), short 11:00:02 → 12:00:01 (3,599 s), long again
    // from 12:00:02 to the journal's last fill (12:00:02.1): 7,199 s in whole seconds.
    assert_eq!(r.by_instrument[0].exposure_secs, Some(7199));
    assert_eq!(r.open_positions[0].quantity, d("1000"));
    assert_eq!(r.open_positions[0].average_price, d("1.082"));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

/// A rolled contract's close found by position (no fill price) is valued at that contract's
/// last fill, not at the alert's close, which is the new contract's: the calendar spread
/// (40 points × 50 USD) is no profit.
#[test]
fn a_priceless_rolled_close_is_valued_at_its_own_contracts_last_fill() {
    let t = Broker::Tradovate;
    let signals = [
        signal("r1", t, "ESZ6", SignalStatus::Filled, "5000", "10:00:00"),
        signal("r2", t, "ESH7", SignalStatus::Filled, "5040", "11:00:00"),
    ];
    let mut rolled = fill(
        "r2",
        t,
        "ESZ6",
        Leg::CloseRolled,
        Side::Sell,
        "1",
        "0",
        Some("0"),
        "11:00:01",
    );
    rolled.fill_price = None;
    let orders = [
        fill(
            "r1",
            t,
            "ESZ6",
            Leg::Open,
            Side::Buy,
            "1",
            "5000",
            Some("0"),
            "10:00:01",
        ),
        rolled,
        fill(
            "r2",
            t,
            "ESH7",
            Leg::Open,
            Side::Buy,
            "1",
            "5040",
            Some("0"),
            "11:00:02",
        ),
    ];
    let r = analyze(&signals, &orders, &Filter::default());
    assert_eq!(r.trades.len(), 1);
    assert_eq!(r.trades[0].instrument, "ESZ6");
    assert_eq!(r.trades[0].pnl, d("0"));
    assert!(r.trades[0].estimated);
    assert_eq!(r.open_positions[0].instrument, "ESH7");
}

/// An alert close that ingest accepted as a JSON number with an exponent (`1.234e-7`, which
/// serde_json also prints with one when the raw copy is parsed): it still counts as the
/// alert's close.
#[test]
fn an_alert_close_with_an_exponent_is_read() {
    let c = Broker::Coinbase;
    let mut s = signal("e1", c, "SHIB-USD", SignalStatus::Filled, "0", "10:00:00");
    // As the alert wrote it (the journal keeps the alert's own text).
    s.raw = format!(
        r#"{{"indicator":"Trend_Validator","market_data":{{"timeframe":"5","timenow":"{}"}},"price_data":{{"close":1.234e-7}}}}"#,
        at("10:00:00").to_rfc3339()
    );
    let orders = [fill(
        "e1",
        c,
        "SHIB-USD",
        Leg::Open,
        Side::Buy,
        "1000000",
        "0.0000001235",
        Some("0"),
        "10:00:01",
    )];
    let r = analyze(&[s], &orders, &Filter::default());
    assert_eq!(r.slippage.len(), 1);
    assert_eq!(r.slippage[0].alert_close, d("0.0000001234"));
}

/// Fills of the local stack's paper accounts are named as simulated; a broker's are not.
#[test]
fn paper_fills_are_named_as_simulated() {
    let t = Broker::Oanda;
    let signals = [
        signal(
            "a",
            t,
            "EUR_USD",
            SignalStatus::Filled,
            "1.1000",
            "14:00:00",
        ),
        signal(
            "b",
            t,
            "EUR_USD",
            SignalStatus::Filled,
            "1.1010",
            "14:30:00",
        ),
    ];
    let mut orders = [
        fill(
            "a",
            t,
            "EUR_USD",
            Leg::Open,
            Side::Buy,
            "1000",
            "1.1000",
            Some("0"),
            "14:00:01",
        ),
        fill(
            "b",
            t,
            "EUR_USD",
            Leg::Close,
            Side::Sell,
            "1000",
            "1.1010",
            Some("0"),
            "14:30:01",
        ),
    ];
    let named = |orders: &[OrderRecord]| {
        analyze(&signals, orders, &Filter::default())
            .warnings
            .into_iter()
            .filter(|w| w.contains("paper account"))
            .collect::<Vec<_>>()
    };
    assert_eq!(named(&orders), Vec::<String>::new());
    for o in &mut orders {
        o.account = "paper-oanda".into();
    }
    let warnings = named(&orders);
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].starts_with("2 fill(s) of a paper account"),
        "{warnings:?}"
    );
}

/// An unknown first send followed by a second attempt of the same leg (a forced replay sends
/// again) is still warned of, since it may fill too, and the warning says the broker may hold
/// both; an unknown leg nothing followed is not said to be resent.
#[test]
fn an_unknown_leg_sent_again_is_warned_of_as_possibly_doubled() {
    let o = Broker::Oanda;
    let signals = [
        signal(
            "r1",
            o,
            "EUR_USD",
            SignalStatus::Filled,
            "1.08000",
            "10:00:00",
        ),
        signal(
            "r2",
            o,
            "EUR_USD",
            SignalStatus::Unknown,
            "1.08100",
            "11:00:00",
        ),
    ];
    let leg = |id: &str, hms: &str| {
        fill(
            id,
            o,
            "EUR_USD",
            Leg::Open,
            Side::Buy,
            "1000",
            "1.08000",
            Some("0"),
            hms,
        )
    };
    let mut first = leg("r1", "10:00:01");
    first.outcome = Outcome::Unknown;
    first.fill_price = None;
    first.acked_at = None;
    let second = OrderRecord {
        attempt: 2,
        ..leg("r1", "10:05:00")
    };
    let mut alone = leg("r2", "11:00:01");
    alone.outcome = Outcome::Unknown;
    let warning = |orders: &[OrderRecord]| {
        analyze(&signals, orders, &Filter::default())
            .warnings
            .into_iter()
            .find(|w| w.contains("of unknown outcome"))
            .unwrap_or_default()
    };
    let w = warning(&[first.clone(), second.clone(), alone.clone()]);
    assert!(
        w.starts_with("2 leg(s) of unknown outcome")
            && w.contains("1 of them sent again by a forced replay"),
        "{w}"
    );
    let w = warning(&[first, alone]);
    assert!(
        w.starts_with("2 leg(s) of unknown outcome") && !w.contains("sent again"),
        "{w}"
    );
}

/// A Tradovate open a takeover found at the broker (no send time) may have followed a
/// liquidation that is not journaled (it carries no id to find it by): the report says so,
/// once per such open, and not for an OANDA open found the same way (its closes are found by
/// their ids) nor for a Tradovate open sent as usual.
#[test]
fn a_tradovate_open_found_after_a_restart_warns_that_a_liquidation_may_be_missing() {
    let t = Broker::Tradovate;
    let a = signal("a", t, "ESZ6", SignalStatus::Filled, "6000", "10:00:00");
    let b = signal("b", t, "ESZ6", SignalStatus::Filled, "6010", "10:01:00");
    let c = signal(
        "c",
        Broker::Oanda,
        "EUR_USD",
        SignalStatus::Filled,
        "1.08",
        "10:02:00",
    );
    let sent = fill(
        "a",
        t,
        "ESZ6",
        Leg::Open,
        Side::Sell,
        "1",
        "6000",
        None,
        "10:00:00",
    );
    let mut found = fill(
        "b",
        t,
        "ESZ6",
        Leg::Open,
        Side::Buy,
        "1",
        "6010",
        None,
        "10:01:00",
    );
    found.sent_at = None;
    let mut oanda = fill(
        "c",
        Broker::Oanda,
        "EUR_USD",
        Leg::Open,
        Side::Buy,
        "1000",
        "1.08",
        None,
        "10:02:00",
    );
    oanda.sent_at = None;
    let r = analyze(&[a, b, c], &[sent, found, oanda], &Filter::default());
    let warned: Vec<&String> = r
        .warnings
        .iter()
        .filter(|w| w.contains("liquidation"))
        .collect();
    assert_eq!(warned.len(), 1, "{:?}", r.warnings);
    assert!(
        warned[0].starts_with("1 Tradovate open(s) found at the broker"),
        "{}",
        warned[0]
    );
}

/// A Coinbase round trip bought under one API key and sold under its replacement (a key
/// rotation in the same organization): one trade of (65,000 − 60,000) × 0.1 = 500 USD and
/// nothing open. Booked by key, the sale was of coins "never seen opened" (0 P&L) and the
/// purchase stayed open for ever.
#[test]
fn a_coinbase_round_trip_across_a_key_rotation_is_one_trade() {
    let c = Broker::Coinbase;
    let signals = [
        signal("a", c, "BTC-USD", SignalStatus::Filled, "60000", "10:00:00"),
        signal("b", c, "BTC-USD", SignalStatus::Filled, "65000", "11:00:00"),
    ];
    let mut buy = fill(
        "a",
        c,
        "BTC-USD",
        Leg::Open,
        Side::Buy,
        "0.1",
        "60000",
        None,
        "10:00:00",
    );
    buy.account = "organizations/org-1/apiKeys/key-old".into();
    let mut sell = fill(
        "b",
        c,
        "BTC-USD",
        Leg::Close,
        Side::Sell,
        "0.1",
        "65000",
        None,
        "11:00:00",
    );
    sell.account = "organizations/org-1/apiKeys/key-new".into();
    let r = analyze(&signals, &[buy, sell], &Filter::default());
    assert_eq!(r.trades.len(), 1, "{:?}", r.warnings);
    assert_eq!(r.trades[0].pnl, d("500"));
    assert!(r.open_positions.is_empty(), "{:?}", r.open_positions);
    assert!(
        !r.warnings.iter().any(|w| w.contains("never saw opened")),
        "{:?}",
        r.warnings
    );
}

/// A close sent Friday 20:59:59 UTC whose outcome was unknown until a replay found it filled on
/// Monday (journaled with the replay's acknowledgement): the trade is Friday's, in week
/// 2026-W49, not the replay's day and week.
#[test]
fn a_trade_is_dated_when_its_order_was_sent_not_when_a_replay_found_it() {
    let o = Broker::Oanda;
    let signals = [
        signal(
            "a",
            o,
            "EUR_USD",
            SignalStatus::Filled,
            "1.08000",
            "2026-12-04T10:00:00",
        ),
        signal(
            "b",
            o,
            "EUR_USD",
            SignalStatus::Filled,
            "1.08500",
            "2026-12-04T20:59:59",
        ),
    ];
    let open = fill(
        "a",
        o,
        "EUR_USD",
        Leg::Open,
        Side::Buy,
        "1000",
        "1.08000",
        None,
        "2026-12-04T10:00:00",
    );
    let mut close = fill(
        "b",
        o,
        "EUR_USD",
        Leg::Close,
        Side::Sell,
        "1000",
        "1.08500",
        None,
        "2026-12-04T20:59:59",
    );
    close.acked_at = Some(at("2026-12-07T09:00:00"));
    let r = analyze(&signals, &[open, close], &Filter::default());
    assert_eq!(r.trades.len(), 1);
    assert_eq!(r.trades[0].closed_at, at("2026-12-04T20:59:59"));
    assert_eq!(
        r.by_day.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(),
        ["2026-12-04"]
    );
    assert_eq!(
        r.by_week.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(),
        ["2026-W49"]
    );
}

/// An alert whose `timeframe` was a number (`{{interval}}` unquoted; ingest takes it, the
/// journal keeps it a number) and whose `timenow` has spaces around it (ingest trims them):
/// the signal keeps its strategy, its alert close (so its fill's slippage) and its time.
#[test]
fn a_numeric_timeframe_and_a_padded_time_keep_the_signals_strategy_close_and_time() {
    let o = Broker::Oanda;
    let mut s = signal(
        "a",
        o,
        "EUR_USD",
        SignalStatus::Filled,
        "1.08345",
        "10:00:00",
    );
    let mut raw: serde_json::Value = serde_json::from_str(&s.raw).unwrap();
    raw["market_data"]["timeframe"] = serde_json::json!(5);
    let padded = format!(" {} ", raw["market_data"]["timenow"].as_str().unwrap());
    raw["market_data"]["timenow"] = serde_json::json!(padded);
    s.raw = raw.to_string();
    assert_eq!(strategy_of(&s), "Trend_Validator/5");
    let open = fill(
        "a",
        o,
        "EUR_USD",
        Leg::Open,
        Side::Buy,
        "1000",
        "1.08350",
        None,
        "10:00:01",
    );
    let by_strategy = Filter {
        strategy: Some("Trend_Validator/5".into()),
        ..Filter::default()
    };
    let r = analyze(std::slice::from_ref(&s), &[open], &by_strategy);
    assert_eq!(r.signals, 1, "the strategy names it");
    assert_eq!(r.slippage.len(), 1);
    assert_eq!(r.slippage[0].price, d("0.00005"));
    // Timed by the alert (10:00:00), not by when the journal received it.
    let later = Filter {
        since: Some(at("10:00:00")),
        until: Some(at("10:00:01")),
        ..Filter::default()
    };
    let s2 = {
        let mut s = signal(
            "a",
            o,
            "EUR_USD",
            SignalStatus::Filled,
            "1.08345",
            "10:00:00",
        );
        let mut raw: serde_json::Value = serde_json::from_str(&s.raw).unwrap();
        raw["market_data"]["timenow"] = serde_json::json!(padded);
        s.raw = raw.to_string();
        s.stages.received = Some(at("10:00:05"));
        s
    };
    let r = analyze(&[s2], &[], &later);
    assert_eq!(r.signals, 1, "the alert's own time is inside the window");
}

/// A futures contract with no known point value: its P&L is in points, and the fees the
/// broker reported (in dollars) are not subtracted from points: the trade's P&L is gross,
/// its fees zero in points, and the warning names the fees left out.
#[test]
fn fees_are_not_subtracted_from_a_pnl_in_points() {
    let t = Broker::Tradovate;
    let signals = [
        signal("a", t, "QQZ6", SignalStatus::Filled, "100", "10:00:00"),
        signal("b", t, "QQZ6", SignalStatus::Filled, "110", "11:00:00"),
    ];
    let orders = [
        fill(
            "a",
            t,
            "QQZ6",
            Leg::Open,
            Side::Buy,
            "1",
            "100.00",
            Some("2.09"),
            "10:00:01",
        ),
        fill(
            "b",
            t,
            "QQZ6",
            Leg::Close,
            Side::Sell,
            "1",
            "110.00",
            Some("2.09"),
            "11:00:01",
        ),
    ];
    let r = analyze(&signals, &orders, &Filter::default());
    assert_eq!(r.trades.len(), 1);
    assert_eq!(r.trades[0].currency, "QQ points");
    assert_eq!(r.trades[0].pnl, d("10.00"));
    assert_eq!(r.trades[0].fees, d("0"));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("QQZ6: no known point value")
                && w.contains("fees (4.18, in the broker's currency) are not subtracted")),
        "{:?}",
        r.warnings
    );
}

/// Points of two contracts with no known point value are two units: their totals are kept
/// apart (they were summed as one "points" total), and an open position in points shows no
/// fee in points (its fees are in money, kept apart as a trade's are).
#[test]
fn points_of_different_roots_are_never_summed() {
    let t = Broker::Tradovate;
    let signals = [
        signal("a", t, "QQZ6", SignalStatus::Filled, "100", "10:00:00"),
        signal("b", t, "QQZ6", SignalStatus::Filled, "110", "11:00:00"),
        signal("c", t, "RRZ6", SignalStatus::Filled, "5", "10:00:00"),
        signal("d", t, "RRZ6", SignalStatus::Filled, "5.05", "11:00:00"),
        signal("e", t, "QQZ6", SignalStatus::Filled, "111", "12:00:00"),
    ];
    let leg = |id, instrument, leg, side, price: &'static str, at| {
        fill(id, t, instrument, leg, side, "1", price, Some("2.09"), at)
    };
    let orders = [
        leg("a", "QQZ6", Leg::Open, Side::Buy, "100", "10:00:01"),
        leg("b", "QQZ6", Leg::Close, Side::Sell, "110", "11:00:01"),
        leg("c", "RRZ6", Leg::Open, Side::Buy, "5", "10:00:01"),
        leg("d", "RRZ6", Leg::Close, Side::Sell, "5.05", "11:00:01"),
        leg("e", "QQZ6", Leg::Open, Side::Buy, "111", "12:00:01"),
    ];
    let r = analyze(&signals, &orders, &Filter::default());
    assert_eq!(r.totals["QQ points"].realized, d("10"));
    assert_eq!(r.totals["RR points"].realized, d("0.05"));
    assert!(!r.totals.contains_key("points"), "{:?}", r.totals.keys());
    assert_eq!(r.open_positions.len(), 1);
    assert_eq!(r.open_positions[0].currency, "QQ points");
    assert_eq!(r.open_positions[0].fees, d("0"));
}

/// Part of a long closed by hand, then the strategy's exit: OANDA closes the side `ALL` and
/// Tradovate liquidates the whole position, so a plain fill of the close (600, no `error`)
/// leaves the side flat. The 400 the journal still held were closed outside it: warned of,
/// not shown open (valued at every later alert) nor matched by a later close. A Coinbase
/// sale sells what the wallet holds; its book keeps the rest (dust the plan does not count).
#[test]
fn a_plain_close_on_a_position_book_leaves_its_side_flat() {
    for (broker, instrument) in [(Broker::Oanda, "EUR_USD"), (Broker::Tradovate, "ESZ6")] {
        let sig = |id, close, hms| signal(id, broker, instrument, SignalStatus::Filled, close, hms);
        let signals = vec![
            sig("s1", "100", "10:00:00"),
            sig("s2", "101", "11:00:00"),
            sig("s3", "105", "12:00:00"),
        ];
        let orders = vec![
            fill(
                "s1",
                broker,
                instrument,
                Leg::Open,
                Side::Buy,
                "1000",
                "100",
                Some("0"),
                "10:00:01",
            ),
            fill(
                "s2",
                broker,
                instrument,
                Leg::Close,
                Side::Sell,
                "600",
                "101",
                Some("0"),
                "11:00:01",
            ),
        ];
        let r = analyze(&signals, &orders, &Filter::default());
        let trades: Vec<(Decimal, Decimal)> = r
            .trades
            .iter()
            .map(|t| (t.quantity, t.exit_price))
            .collect();
        assert_eq!(trades, [(d("600"), d("101"))], "{broker:?}");
        assert!(
            r.open_positions.is_empty(),
            "{broker:?}: {:?}",
            r.open_positions
        );
        assert!(
            r.warnings.iter().any(|w| w.starts_with(&format!(
                "{instrument}: 400 unit(s) the journal held were gone"
            ))),
            "{broker:?}: {:?}",
            r.warnings
        );
    }
    // Coinbase: the 400 stay in the book.
    let c = Broker::Coinbase;
    let sig = |id, close, hms| signal(id, c, "BTC-USD", SignalStatus::Filled, close, hms);
    let signals = vec![sig("s1", "100", "10:00:00"), sig("s2", "101", "11:00:00")];
    let orders = vec![
        fill(
            "s1",
            c,
            "BTC-USD",
            Leg::Open,
            Side::Buy,
            "1",
            "100",
            Some("0"),
            "10:00:01",
        ),
        fill(
            "s2",
            c,
            "BTC-USD",
            Leg::Close,
            Side::Sell,
            "0.6",
            "101",
            Some("0"),
            "11:00:01",
        ),
    ];
    let r = analyze(&signals, &orders, &Filter::default());
    assert_eq!(r.open_positions.len(), 1);
    assert_eq!(r.open_positions[0].quantity, d("0.4"));
}

/// A journal that went live after its paper trial (the same files): the paper accounts'
/// simulated fills are left out of the figures by default, said in a warning, and their
/// open position not shown; `all` sums both (said), `paper` and `real` pick one.
#[test]
fn paper_fills_are_not_summed_into_a_live_accounts_figures() {
    let o = Broker::Oanda;
    let s = |id: &str, close: &str, hms: &str| {
        signal(id, o, "EUR_USD", SignalStatus::Filled, close, hms)
    };
    let signals = [
        s("a", "1.1000", "10:00:00"),
        s("b", "1.1010", "10:30:00"),
        s("c", "1.1000", "11:00:00"),
        s("d", "1.0995", "11:30:00"),
        s("e", "1.0990", "12:00:00"),
    ];
    let f = |id: &str, leg: Leg, side: Side, price: &str, hms: &str, account: &str| {
        let mut f = fill(id, o, "EUR_USD", leg, side, "1000", price, Some("0"), hms);
        f.account = account.into();
        f
    };
    let orders = [
        // Paper: bought 1.1000, sold 1.1010: +1.00 USD; then long again, left open.
        f(
            "a",
            Leg::Open,
            Side::Buy,
            "1.1000",
            "10:00:01",
            "paper-oanda",
        ),
        f(
            "b",
            Leg::Close,
            Side::Sell,
            "1.1010",
            "10:30:01",
            "paper-oanda",
        ),
        f(
            "e",
            Leg::Open,
            Side::Buy,
            "1.0990",
            "12:00:01",
            "paper-oanda",
        ),
        // Real: bought 1.1000, sold 1.0995: -0.50 USD.
        f("c", Leg::Open, Side::Buy, "1.1000", "11:00:01", "001-004-1"),
        f(
            "d",
            Leg::Close,
            Side::Sell,
            "1.0995",
            "11:30:01",
            "001-004-1",
        ),
    ];
    let report = |accounts: Accounts| {
        analyze(
            &signals,
            &orders,
            &Filter {
                accounts,
                ..Filter::default()
            },
        )
    };
    let usd = |r: &Report| {
        let t = &r.totals["USD"];
        (t.trades, t.realized)
    };
    let auto = report(Accounts::Auto);
    assert_eq!(usd(&auto), (1, d("-0.5")));
    assert_eq!(auto.trades.len(), 1);
    assert!(auto.open_positions.is_empty(), "{:?}", auto.open_positions);
    assert_eq!(auto.by_instrument[0].stats.realized, d("-0.5"));
    assert!(
        auto.warnings
            .iter()
            .any(|w| w.starts_with("3 fill(s) of a paper account left out of the figures")),
        "{:?}",
        auto.warnings
    );
    // Latency of the real signals only (c, d): the paper broker's in-process times would
    // make the percentiles the simulation's.
    assert!(!auto.latency.is_empty());
    assert!(
        auto.latency.iter().all(|l| l.count == 2),
        "{:?}",
        auto.latency
    );
    assert_eq!(usd(&report(Accounts::Real)), (1, d("-0.5")));
    assert_eq!(usd(&report(Accounts::Paper)), (1, d("1")));
    let both = report(Accounts::All);
    assert_eq!(usd(&both), (2, d("0.5")));
    assert!(
        both.latency.iter().all(|l| l.count == 5),
        "{:?}",
        both.latency
    );
    assert_eq!(both.open_positions.len(), 1);
    assert!(
        both.warnings
            .iter()
            .any(|w| w.contains("sum them with real accounts' fills")),
        "{:?}",
        both.warnings
    );
    // A real position opened before `--since`, still open: shown, the paper one not.
    let mut signals = signals.to_vec();
    signals.push(signal(
        "f",
        o,
        "GBP_USD",
        SignalStatus::Filled,
        "1.2700",
        "09:00:00",
    ));
    let mut orders = orders.to_vec();
    let mut gbp = fill(
        "f",
        o,
        "GBP_USD",
        Leg::Open,
        Side::Buy,
        "1000",
        "1.2700",
        Some("0"),
        "09:00:01",
    );
    gbp.account = "001-004-1".into();
    orders.push(gbp);
    let since = analyze(
        &signals,
        &orders,
        &Filter {
            since: Some(at("09:30:00")),
            ..Filter::default()
        },
    );
    let shown: Vec<_> = since
        .open_positions
        .iter()
        .map(|p| (p.account.as_str(), p.instrument.as_str()))
        .collect();
    assert_eq!(shown, [("001-004-1", "GBP_USD")]);
    assert_eq!(Accounts::parse(" Paper").unwrap(), Accounts::Paper);
    let err = Accounts::parse("live").unwrap_err();
    assert!(
        err.contains("\"live\"") && err.contains("auto, all, real, paper"),
        "{err}"
    );
}
