//! The alert parser against the sample alerts and against every refusal code.
#![allow(clippy::unwrap_used)]

mod common;

use common::{at, sample, sample_json, sample_now};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::alert::{Freshness, MAX_BODY_BYTES, RawAlert, ValidatedAlert};
use shared::routing::Broker;
use shared::{Action, AlertError, ErrorCode, RoutingTable};
use std::collections::HashSet;
use std::str::FromStr;

fn accept(body: &[u8]) -> Result<(ValidatedAlert, shared::Route), AlertError> {
    let raw = RawAlert::parse(body)?;
    let valid = raw.validate()?;
    let route = valid.route_and_check(
        &RoutingTable::embedded(),
        sample_now(),
        Freshness::default(),
    )?;
    Ok((valid, route))
}

/// What a sample should come to: routed as (action, broker, instrument), or refused.
type Verdict = Result<(Action, Broker, &'static str), ErrorCode>;

#[test]
fn every_sample_alert_gets_the_expected_verdict() {
    let table: &[(&str, Verdict)] = &[
        (
            "oanda-eurusd-long.json",
            Ok((Action::LongEntry, Broker::Oanda, "EUR_USD")),
        ),
        (
            "oanda-eurusd-short.json",
            Ok((Action::ShortEntry, Broker::Oanda, "EUR_USD")),
        ),
        (
            "coinbase-btcusd-long.json",
            Ok((Action::LongEntry, Broker::Coinbase, "BTC-USD")),
        ),
        (
            "coinbase-btcusd-short.json",
            Ok((Action::ShortEntry, Broker::Coinbase, "BTC-USD")),
        ),
        (
            "tradovate-es-long.json",
            Ok((Action::LongEntry, Broker::Tradovate, "ESZ6")),
        ),
        (
            "tradovate-mnq-short.json",
            Ok((Action::ShortEntry, Broker::Tradovate, "MNQZ6")),
        ),
        (
            "tradovate-gc-long.json",
            Ok((Action::LongEntry, Broker::Tradovate, "GCZ6")),
        ),
        (
            "tradovate-cl-short.json",
            Ok((Action::ShortEntry, Broker::Tradovate, "CLF7")),
        ),
        ("minimal-test-webhook.json", Err(ErrorCode::MissingField)),
        (
            "unsubstituted-template.json",
            Err(ErrorCode::UnsubstitutedPlaceholder),
        ),
    ];
    for (file, expected) in table {
        let got = accept(&sample(file));
        match (expected, got) {
            (Ok((action, broker, instrument)), Ok((valid, route))) => {
                assert_eq!(valid.alert.action, *action, "{file}");
                assert_eq!(route.broker, *broker, "{file}");
                assert_eq!(route.instrument.as_str(), *instrument, "{file}");
            }
            (Err(code), Err(err)) => assert_eq!(err.code(), *code, "{file}: {err}"),
            (expected, got) => panic!("{file}: expected {expected:?}, got {got:?}"),
        }
    }
}

#[test]
fn sample_values_are_parsed_as_exact_decimals_and_utc_times() {
    let (valid, _) = accept(&sample("oanda-eurusd-long.json")).unwrap();
    let a = valid.alert;
    assert_eq!(a.price_data.close, Decimal::from_str("1.08345").unwrap());
    assert_eq!(a.price_data.volume, Some(Decimal::from(1250)));
    assert_eq!(a.market_data.timenow, at("2026-11-23T14:32:00Z"));
    assert_eq!(a.market_data.timestamp, at("2026-11-23T14:31:00Z"));
    assert_eq!(a.market_data.timeframe, "1");
    assert_eq!(a.quantity, None);
}

#[test]
fn unsubstituted_template_lists_every_placeholder_at_once() {
    let err = accept(&sample("unsubstituted-template.json")).unwrap_err();
    let AlertError::UnsubstitutedPlaceholder { fields } = &err else {
        panic!("got {err:?}");
    };
    let expected = [
        "market_data.exchange",
        "market_data.symbol",
        "market_data.timeframe",
        "market_data.timenow",
        "market_data.timestamp",
        "price_data.close",
        "price_data.high",
        "price_data.low",
        "price_data.open",
        "price_data.volume",
    ];
    assert_eq!(fields, &expected);
    for field in expected {
        assert!(err.to_string().contains(field), "{err} misses {field}");
    }
}

/// A placeholder deep in a field the alert does not define is named by its whole path, keys
/// and array indexes, and only such fields are named.
#[test]
fn a_nested_placeholder_is_named_by_its_path() {
    let mut alert = sample_json("oanda-eurusd-long.json");
    alert["extra"] = json!({ "notes": ["fine", { "tag": "{{ticker}}" }], "ok": "{{" });
    let err = accept(alert.to_string().as_bytes()).unwrap_err();
    let AlertError::UnsubstitutedPlaceholder { fields } = &err else {
        panic!("got {err:?}");
    };
    assert_eq!(fields, &["extra.notes[1].tag"]);
}

/// TradingView pastes placeholder values as bare text, so `"close": {{close}}` (no quotes) is
/// a common template mistake: refused naming the field, as a quoted placeholder is, not as
/// malformed JSON. A `{{` inside a string, or a body broken in another way, stays as before.
#[test]
fn an_unquoted_placeholder_is_named_like_a_quoted_one() {
    let sample_text = String::from_utf8(sample("oanda-eurusd-long.json")).unwrap();
    let body = sample_text.replace("\"close\": \"1.08345\"", "\"close\": {{close}}");
    assert_ne!(body, sample_text, "the sample has the close to replace");
    let err = RawAlert::parse(body.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        AlertError::UnsubstitutedPlaceholder {
            fields: vec!["price_data.close".into()]
        }
    );
    assert_eq!(err.code().as_str(), "unsubstituted_placeholder");

    // Two of them, one quoted: both named, sorted.
    let body_two = body.replace("\"volume\": \"1250\"", "\"volume\": \"{{volume}}\"");
    let AlertError::UnsubstitutedPlaceholder { fields } =
        RawAlert::parse(body_two.as_bytes()).unwrap_err()
    else {
        panic!("expected unsubstituted_placeholder");
    };
    assert_eq!(fields, ["price_data.close", "price_data.volume"]);

    // A placeholder with quotes of its own, unquoted, in another field.
    let plot = body.replace("\"volume\": \"1250\"", "\"volume\": {{plot(\"RSI\")}}");
    let AlertError::UnsubstitutedPlaceholder { fields } =
        RawAlert::parse(plot.as_bytes()).unwrap_err()
    else {
        panic!("expected unsubstituted_placeholder");
    };
    assert_eq!(fields, ["price_data.close", "price_data.volume"]);

    // Broken elsewhere as well (a missing comma): still malformed JSON, with its position.
    let broken = body.replace("\"indicator\":", "\"indicator\" ");
    assert!(matches!(
        RawAlert::parse(broken.as_bytes()),
        Err(AlertError::MalformedJson { .. })
    ));
}

#[test]
fn minimal_webhook_is_refused_naming_the_missing_section() {
    let err = accept(&sample("minimal-test-webhook.json")).unwrap_err();
    assert_eq!(
        err,
        AlertError::MissingField {
            field: "market_data".into()
        }
    );
    assert_eq!(err.to_string(), "market_data is required");
}

fn with(path: &[&str], value: Value) -> Vec<u8> {
    let mut doc = sample_json("oanda-eurusd-long.json");
    let (last, parents) = path.split_last().unwrap();
    let mut node = &mut doc;
    for p in parents {
        node = node.get_mut(*p).unwrap();
    }
    node.as_object_mut()
        .unwrap()
        .insert((*last).to_owned(), value);
    serde_json::to_vec(&doc).unwrap()
}

fn without(path: &[&str]) -> Vec<u8> {
    let mut doc = sample_json("oanda-eurusd-long.json");
    let (last, parents) = path.split_last().unwrap();
    let mut node = &mut doc;
    for p in parents {
        node = node.get_mut(*p).unwrap();
    }
    node.as_object_mut().unwrap().remove(*last);
    serde_json::to_vec(&doc).unwrap()
}

/// One row per refusal: the body, the code, and words the message must contain.
fn refusal_table() -> Vec<(&'static str, Vec<u8>, ErrorCode, &'static [&'static str])> {
    let mut big = sample_json("oanda-eurusd-long.json");
    big["pad"] = json!("x".repeat(MAX_BODY_BYTES));
    vec![
        (
            "over 16 KiB",
            serde_json::to_vec(&big).unwrap(),
            ErrorCode::PayloadTooLarge,
            &["16384"],
        ),
        (
            "truncated JSON",
            b"{\n  \"action\": \"LONG_ENTRY\",\n  ".to_vec(),
            ErrorCode::MalformedJson,
            &["line 3"],
        ),
        (
            "not JSON at all",
            b"buy EURUSD now".to_vec(),
            ErrorCode::MalformedJson,
            &["line 1, column 1"],
        ),
        (
            "a JSON array",
            b"[1,2]".to_vec(),
            ErrorCode::InvalidField,
            &["body", "object"],
        ),
        (
            "no action",
            without(&["action"]),
            ErrorCode::MissingField,
            &["action"],
        ),
        (
            "no close",
            without(&["price_data", "close"]),
            ErrorCode::MissingField,
            &["price_data.close"],
        ),
        (
            "null timenow",
            with(&["market_data", "timenow"], Value::Null),
            ErrorCode::MissingField,
            &["market_data.timenow"],
        ),
        (
            "numeric symbol",
            with(&["market_data", "symbol"], json!(42)),
            ErrorCode::InvalidField,
            &["market_data.symbol", "string"],
        ),
        (
            "empty exchange",
            with(&["market_data", "exchange"], json!("  ")),
            ErrorCode::InvalidField,
            &["market_data.exchange"],
        ),
        (
            "passphrase not a string",
            with(&["passphrase"], json!(123)),
            ErrorCode::InvalidField,
            &["passphrase"],
        ),
        (
            "signal not an object",
            with(&["signal"], json!("LONG")),
            ErrorCode::InvalidField,
            &["signal", "object"],
        ),
        (
            "unknown direction",
            with(&["signal", "direction"], json!("UP")),
            ErrorCode::InvalidField,
            &["signal.direction", "LONG, SHORT, FLAT"],
        ),
        (
            "one placeholder",
            with(&["price_data", "close"], json!("{{close}}")),
            ErrorCode::UnsubstitutedPlaceholder,
            &["price_data.close"],
        ),
        (
            "unknown action",
            with(&["action"], json!("BUY")),
            ErrorCode::UnknownAction,
            &["action", "BUY", "LONG_ENTRY"],
        ),
        (
            "unknown exchange",
            with(&["market_data", "exchange"], json!("NASDAQ")),
            ErrorCode::UnknownExchange,
            &[
                "market_data.exchange",
                "NASDAQ",
                "routed: ",
                "CME_MINI",
                "COINBASE",
                "OANDA",
            ],
        ),
        (
            "unroutable forex symbol",
            with(&["market_data", "symbol"], json!("EUR_USD_X")),
            ErrorCode::UnroutableSymbol,
            &["market_data.symbol", "EUR_USD_X", "OANDA"],
        ),
        (
            "unknown futures root on CME",
            {
                let b = with(&["market_data", "exchange"], json!("CME"));
                let mut d: Value = serde_json::from_slice(&b).unwrap();
                d["market_data"]["symbol"] = json!("ZZ1!");
                serde_json::to_vec(&d).unwrap()
            },
            ErrorCode::UnroutableSymbol,
            &["ZZ1!", "no futures root"],
        ),
        (
            "continuous futures symbol without its !",
            {
                let b = with(&["market_data", "exchange"], json!("CME_MINI"));
                let mut d: Value = serde_json::from_slice(&b).unwrap();
                d["market_data"]["symbol"] = json!("ES1");
                serde_json::to_vec(&d).unwrap()
            },
            ErrorCode::UnroutableSymbol,
            &["market_data.symbol", "ES1", "ends in \"!\" (ES1!)"],
        ),
        (
            "a root and a number no continuous symbol takes",
            {
                let b = with(&["market_data", "exchange"], json!("CME_MINI"));
                let mut d: Value = serde_json::from_slice(&b).unwrap();
                d["market_data"]["symbol"] = json!("ES13");
                serde_json::to_vec(&d).unwrap()
            },
            ErrorCode::UnroutableSymbol,
            &["ES13", "is not a contract", "ES1! to ES12!", "after ES"],
        ),
        (
            "entry with a short direction",
            with(&["signal", "direction"], json!("SHORT")),
            ErrorCode::InconsistentSignal,
            &["LONG_ENTRY", "LONG", "SHORT"],
        ),
        (
            "exit type on an entry",
            with(&["signal", "type"], json!("EXIT")),
            ErrorCode::InconsistentSignal,
            &["signal.type ENTRY"],
        ),
        (
            "price not a number",
            with(&["price_data", "close"], json!("1.08.3")),
            ErrorCode::InvalidNumber,
            &["price_data.close", "1.08.3"],
        ),
        (
            "negative price",
            with(&["price_data", "open"], json!("-1")),
            ErrorCode::InvalidNumber,
            &["price_data.open", "greater than zero"],
        ),
        (
            "price out of range (it overflowed the notional arithmetic)",
            with(&["price_data", "close"], json!("7e28")),
            ErrorCode::InvalidNumber,
            &["price_data.close", "at most 1000000000000"],
        ),
        (
            "price too small to size by",
            with(
                &["price_data", "close"],
                json!("0.0000000000000000000000001"),
            ),
            ErrorCode::InvalidNumber,
            &["price_data.close", "at least 0.000000000001"],
        ),
        (
            "quantity out of range",
            with(&["quantity"], json!("79228162514264337593543950335")),
            ErrorCode::InvalidNumber,
            &["quantity", "at most"],
        ),
        (
            "zero quantity",
            with(&["quantity"], json!(0)),
            ErrorCode::InvalidNumber,
            &["quantity"],
        ),
        (
            "boolean volume",
            with(&["price_data", "volume"], json!(true)),
            ErrorCode::InvalidField,
            &["price_data.volume"],
        ),
        (
            "bad time",
            with(&["market_data", "timenow"], json!("yesterday")),
            ErrorCode::InvalidTime,
            &["market_data.timenow", "yesterday"],
        ),
        (
            "bar time without zone",
            with(&["market_data", "timestamp"], json!("2026-11-23 14:31")),
            ErrorCode::InvalidTime,
            &["market_data.timestamp"],
        ),
        (
            "31 s old",
            with(&["market_data", "timenow"], json!("2026-11-23T14:31:30Z")),
            ErrorCode::StaleAlert,
            &["31 s old", "30 s", "clock ahead", "MAX_ALERT_AGE_SECS"],
        ),
        (
            // 30.4 s: rounded up, never "30 s old, over the 30 s limit".
            "30.4 s old",
            with(
                &["market_data", "timenow"],
                json!("2026-11-23T14:31:30.600Z"),
            ),
            ErrorCode::StaleAlert,
            &["31 s old", "30 s"],
        ),
        (
            "10 s ahead",
            with(&["market_data", "timenow"], json!("2026-11-23T14:32:11Z")),
            ErrorCode::AlertFromFuture,
            &["10 s ahead"],
        ),
        (
            // 5.6 s: rounded up, never "5 s ahead of the clock, over the 5 s allowed".
            "5.6 s ahead",
            with(
                &["market_data", "timenow"],
                json!("2026-11-23T14:32:06.600Z"),
            ),
            ErrorCode::AlertFromFuture,
            &["6 s ahead", "5 s allowed", "clock behind"],
        ),
    ]
}

#[test]
fn every_refusal_has_its_code_and_a_message_naming_the_field() {
    let mut seen = HashSet::new();
    for (case, body, code, words) in refusal_table() {
        let err = accept(&body).expect_err(case);
        assert_eq!(err.code(), code, "{case}: {err}");
        let message = err.to_string();
        for w in words {
            assert!(message.contains(w), "{case}: {message:?} lacks {w:?}");
        }
        seen.insert(code);
    }
    let all: HashSet<_> = ErrorCode::ALL.into_iter().collect();
    assert_eq!(seen, all, "a refusal code has no row in the table");
}

#[test]
fn error_codes_are_stable_snake_case_strings() {
    let codes: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes.len(), codes.iter().collect::<HashSet<_>>().len());
    for c in codes {
        assert!(
            c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
            "{c}"
        );
    }
}

#[test]
fn malformed_json_reports_line_and_column() {
    let err = accept(b"{\n  \"action\": LONG\n}").unwrap_err();
    let AlertError::MalformedJson { line, column, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!((line, column), (2, 13));
}

/// A key given twice (a template edited twice) is refused naming the key, where serde_json
/// alone keeps the last; in a nested object too. The sample itself, with no key twice, reads.
#[test]
fn a_key_given_twice_is_refused_by_name() {
    let text = serde_json::to_string(&sample_json("oanda-eurusd-long.json")).unwrap();
    assert!(accept(text.as_bytes()).is_ok());
    let twice = text.replacen('{', "{\"quantity\":\"999999\",\"quantity\":\"1\",", 1);
    let err = accept(twice.as_bytes()).unwrap_err();
    let AlertError::MalformedJson { reason, line, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(reason.contains("\"quantity\" appears twice"), "{reason}");
    assert_eq!(*line, 1);
    let nested = text.replacen(
        "\"market_data\":{",
        "\"market_data\":{\"symbol\":\"GBPUSD\",",
        1,
    );
    assert_ne!(nested, text, "the sample has a market_data object");
    let err = accept(nested.as_bytes()).unwrap_err();
    assert!(
        err.to_string().contains("\"symbol\" appears twice"),
        "{err}"
    );
    // A sender's huge key is cut like every echo (this answer comes before the secret check).
    let key = "K".repeat(8_000);
    let huge = format!("{{\"{key}\":1,\"{key}\":1}}");
    let shown = accept(huge.as_bytes()).unwrap_err().to_string();
    assert!(
        shown.len() < 300,
        "{} bytes: {}",
        shown.len(),
        &shown[..200]
    );
    assert!(shown.contains("appears twice"), "{shown}");
}

/// A key the alert would ignore though the sender meant one it reads is refused by name: a
/// known key in another case (`Quantity` would trade the configured size) or `quantity`
/// inside a nested object. Keys of the sender's own still pass.
#[test]
fn a_known_key_in_another_case_or_place_is_refused_by_name() {
    let sample = sample_json("oanda-eurusd-long.json");
    let refused = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = sample.clone();
        edit(&mut v);
        let err = accept(serde_json::to_string(&v).unwrap().as_bytes()).unwrap_err();
        assert_eq!(err.code().as_str(), "invalid_field", "{err}");
        err.to_string()
    };
    let shown = refused(&|v| v["Quantity"] = serde_json::json!("5"));
    assert!(
        shown.starts_with("Quantity must be written `quantity`"),
        "{shown}"
    );
    // A space left at the end by a hand edit, or a separator: ignored, the configured size
    // would trade.
    let shown = refused(&|v| v["quantity "] = serde_json::json!("5"));
    assert!(
        shown.starts_with("quantity  must be written `quantity`"),
        "{shown}"
    );
    // An invisible character pasted in with the template (a zero-width space, a byte order
    // mark, a soft hyphen), or full-width letters: it passed as a key of the sender's own,
    // and the configured size traded.
    for key in [
        "quantity\u{200b}",
        "\u{feff}quantity",
        "quan\u{ad}tity",
        "\u{ff51}\u{ff55}\u{ff41}\u{ff4e}\u{ff54}\u{ff49}\u{ff54}\u{ff59}",
    ] {
        let shown = refused(&|v| v[key] = serde_json::json!("5"));
        assert!(
            shown.contains("must be written `quantity`"),
            "{key:?}: {shown}"
        );
    }
    let shown = refused(&|v| v["market_data"]["time_now"] = serde_json::json!("x"));
    assert!(
        shown.starts_with("market_data.time_now must be written `timenow`"),
        "{shown}"
    );
    let shown = refused(&|v| v["strategy"] = serde_json::json!({" Quantity": "3000"}));
    assert!(
        shown.starts_with("strategy. Quantity must be at the top level"),
        "{shown}"
    );
    let shown = refused(&|v| v["price_data"]["quantity"] = serde_json::json!("5"));
    assert!(
        shown.starts_with("price_data.quantity must be at the top level"),
        "{shown}"
    );
    // In an object of the sender's own, at any depth: `{{strategy.order.contracts}}` nested
    // would trade the configured size.
    let shown = refused(&|v| v["strategy"] = serde_json::json!({"quantity": "3000"}));
    assert!(
        shown.starts_with("strategy.quantity must be at the top level"),
        "{shown}"
    );
    let shown = refused(&|v| {
        v["orders"] = serde_json::json!([{"side": "buy"}, {"order": {"QUANTITY": "2"}}]);
    });
    assert!(
        shown.starts_with("orders[1].order.QUANTITY must be at the top level"),
        "{shown}"
    );
    // However deep, the refusal names the end of the path, where the key is, and stays short.
    let shown = refused(&|v| {
        let mut deep = serde_json::json!({"quantity": "9"});
        for _ in 0..100 {
            deep = serde_json::json!({"level": deep});
        }
        v["strategy"] = deep;
    });
    let field = shown.split(" must be at the top level").next().unwrap();
    assert!(
        field.starts_with('…') && field.ends_with(".level.quantity"),
        "{field}"
    );
    assert!(field.chars().count() <= 129, "{}", field.chars().count());
    let shown = refused(&|v| v["market_data"]["Symbol"] = serde_json::json!("GBPUSD"));
    assert!(
        shown.starts_with("market_data.Symbol must be written `symbol`"),
        "{shown}"
    );
    // A character the queue cannot carry would fail every resend: refused once, here.
    let shown = refused(&|v| v["indicator"] = serde_json::json!("trend\u{FFFF}"));
    assert!(
        shown.starts_with("body must be free of the characters U+FFFE and U+FFFF"),
        "{shown}"
    );
    let mut own = sample.clone();
    own["note"] = serde_json::json!("from my strategy");
    own["market_data"]["session"] = serde_json::json!("london");
    assert!(accept(serde_json::to_string(&own).unwrap().as_bytes()).is_ok());
}

/// A sample saved with a byte order mark (some Windows editors) is refused naming the mark,
/// not as "expected value at line 1, column 1".
#[test]
fn a_byte_order_mark_is_named() {
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend(serde_json::to_vec(&sample_json("oanda-eurusd-long.json")).unwrap());
    let err = accept(&body).unwrap_err();
    let AlertError::MalformedJson { reason, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(reason.contains("byte order mark"), "{reason}");
}

#[test]
fn body_of_exactly_the_limit_is_parsed_not_refused_for_size() {
    let mut doc = sample_json("oanda-eurusd-long.json");
    let base = serde_json::to_vec(&doc).unwrap().len();
    doc["pad"] = json!("x".repeat(MAX_BODY_BYTES - base - ",\"pad\":\"\"".len()));
    let body = serde_json::to_vec(&doc).unwrap();
    assert_eq!(body.len(), MAX_BODY_BYTES);
    assert!(accept(&body).is_ok());
}

#[test]
fn signal_id_ignores_passphrase_and_key_order_but_not_timenow() {
    let id = |b: &[u8]| RawAlert::parse(b).unwrap().validate().unwrap().signal_id;
    let plain = sample("oanda-eurusd-long.json");
    let with_secret = with(&["passphrase"], json!("hunter2-hunter2-hunter2"));
    assert_eq!(id(&plain), id(&with_secret));

    let doc = sample_json("oanda-eurusd-long.json");
    let mut reordered = serde_json::Map::new();
    for key in ["price_data", "market_data", "signal", "indicator", "action"] {
        reordered.insert(key.into(), doc[key].clone());
    }
    assert_eq!(id(&plain), id(&serde_json::to_vec(&reordered).unwrap()));

    let refired = with(&["market_data", "timenow"], json!("2026-11-23T14:32:01Z"));
    assert_ne!(id(&plain), id(&refired));
}

#[test]
fn canonical_copy_never_holds_the_passphrase() {
    let body = with(&["passphrase"], json!("correct-horse-battery-staple"));
    let raw = RawAlert::parse(&body).unwrap();
    assert!(raw.passphrase().is_some());
    assert!(!format!("{raw:?}").contains("correct-horse"));
    let valid = raw.validate().unwrap();
    assert!(!valid.canonical.contains("correct-horse"));
    assert!(!valid.canonical.contains("passphrase"));
}

#[test]
fn numbers_may_come_as_json_numbers_and_quantity_is_optional() {
    let mut doc = sample_json("oanda-eurusd-long.json");
    doc["price_data"]["close"] = json!(1.08345);
    doc["market_data"]["timeframe"] = json!(60);
    doc["quantity"] = json!("2500");
    let (valid, _) = accept(&serde_json::to_vec(&doc).unwrap()).unwrap();
    assert_eq!(
        valid.alert.price_data.close,
        Decimal::from_str("1.08345").unwrap()
    );
    assert_eq!(valid.alert.market_data.timeframe, "60");
    assert_eq!(valid.alert.quantity, Some(Decimal::from(2500)));
}

/// A quantity sent as a JSON number of more than 15 significant digits is refused, naming
/// the fix (quote it): read as an `f64` it was rounded (`1234.56789012345678` traded as
/// `1234.5678901234568`). Fifteen digits, an integer, or the same digits as a string pass.
#[test]
fn a_quantity_number_longer_than_a_json_number_keeps_is_refused() {
    let with = |body: &str| {
        let text = String::from_utf8(sample("oanda-eurusd-long.json")).unwrap();
        let text = text.replacen('{', &format!("{{\"quantity\": {body},"), 1);
        accept(text.as_bytes())
    };
    let err = with("1234.56789012345678").unwrap_err();
    assert_eq!(err.code().as_str(), "invalid_number", "{err}");
    let shown = err.to_string();
    assert!(
        shown.contains("quantity") && shown.contains("send it as a string"),
        "{shown}"
    );
    let (valid, _) = with("\"1234.56789012345678\"").unwrap();
    assert_eq!(
        valid.alert.quantity,
        Some(Decimal::from_str("1234.56789012345678").unwrap())
    );
    let (valid, _) = with("1234.56789012345").unwrap();
    assert_eq!(
        valid.alert.quantity,
        Some(Decimal::from_str("1234.56789012345").unwrap())
    );
    let (valid, _) = with("123456789012").unwrap();
    assert_eq!(
        valid.alert.quantity,
        Some(Decimal::from(123_456_789_012_i64))
    );
}

/// A `signal.type` or `signal.direction` not of its values is refused quoting what came, and
/// saying when only its case was wrong (TradingView's `{{strategy.market_position}}` gives
/// `long`); the message named the field alone.
#[test]
fn a_signal_type_or_direction_refused_quotes_what_came() {
    let refused = |field: &str, value: &str| {
        let mut doc = sample_json("oanda-eurusd-long.json");
        doc["signal"][field] = json!(value);
        let err = accept(&serde_json::to_vec(&doc).unwrap()).unwrap_err();
        assert_eq!(err.code().as_str(), "invalid_field", "{err}");
        err.to_string()
    };
    let shown = refused("direction", "long");
    assert!(
        shown.contains("signal.direction") && shown.contains("in upper case; it was \"long\""),
        "{shown}"
    );
    let shown = refused("direction", "BUY");
    assert!(
        shown.contains("one of LONG, SHORT, FLAT; it was \"BUY\""),
        "{shown}"
    );
    let shown = refused("type", "entry");
    assert!(
        shown.contains("signal.type") && shown.contains("in upper case; it was \"entry\""),
        "{shown}"
    );
}

#[test]
fn text_plain_bodies_with_crlf_and_tabs_parse_like_json() {
    let text = String::from_utf8(sample("tradovate-es-long.json")).unwrap();
    let crlf = text.replace('\n', "\r\n").replace("    ", "\t");
    let a = RawAlert::parse(text.as_bytes())
        .unwrap()
        .validate()
        .unwrap();
    let b = RawAlert::parse(crlf.as_bytes())
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(a.signal_id, b.signal_id);
}

#[test]
fn exits_and_flatten_need_their_own_signal_shape() {
    let cases = [
        ("LONG_EXIT", "EXIT", "LONG", true),
        ("SHORT_EXIT", "EXIT", "SHORT", true),
        ("FLATTEN", "FLATTEN", "FLAT", true),
        ("FLATTEN", "EXIT", "LONG", false),
        ("LONG_EXIT", "ENTRY", "LONG", false),
    ];
    for (action, kind, direction, ok) in cases {
        let mut doc = sample_json("oanda-eurusd-long.json");
        doc["action"] = json!(action);
        doc["signal"]["type"] = json!(kind);
        doc["signal"]["direction"] = json!(direction);
        let got = accept(&serde_json::to_vec(&doc).unwrap());
        assert_eq!(got.is_ok(), ok, "{action} {kind} {direction}: {got:?}");
        if !ok {
            assert_eq!(got.unwrap_err().code(), ErrorCode::InconsistentSignal);
        }
    }
}

fn with_quantity(value: Value) -> Vec<u8> {
    with(&["quantity"], value)
}

#[test]
fn a_quantity_must_be_a_plain_decimal() {
    // One row per refused form: the value, and what the message must say besides `quantity`.
    let plain = "must be a plain decimal like 1000 or 0.5";
    let table: &[(&str, Value, &str)] = &[
        ("exponent", json!("1e-28"), "without an exponent"),
        ("capital exponent", json!("1E3"), "without an exponent"),
        (
            "exponent with a point",
            json!("2.5e2"),
            "without an exponent",
        ),
        // A JSON number is read by its value (serde_json's text for these has an exponent,
        // `1e+21`), and refused for what is wrong with the value.
        (
            "JSON number 1e21",
            json!(1e21),
            "must be at most 1000000000000",
        ),
        (
            "JSON number 5e28",
            json!(5e28),
            "must be at most 1000000000000",
        ),
        (
            "JSON number 1e30",
            json!(1e30),
            "must be at most 1000000000000",
        ),
        (
            "JSON number 1e300",
            json!(1e300),
            "must be at most 1000000000000",
        ),
        (
            "JSON number 1e-29",
            json!(1e-29),
            "at most 28 digits after the point",
        ),
        (
            "JSON number 5e-324",
            json!(5e-324),
            "at most 28 digits after the point",
        ),
        ("JSON number -1e-7", json!(-1e-7), "without a sign"),
        ("JSON number -1e30", json!(-1e30), "without a sign"),
        (
            "underscore separator",
            json!("1_000"),
            "without _ separators",
        ),
        ("leading underscore", json!("_1000"), "without _ separators"),
        // Text that is no number is told the rule, not a detail of it (its `_` or `E`).
        (
            "an exchange's name",
            json!("CME_MINI"),
            "must be a plain decimal like 1000 or 0.5",
        ),
        (
            "a unit after the number",
            json!("1000 USD"),
            "must be a plain decimal like 1000 or 0.5",
        ),
        (
            "trailing underscore",
            json!("1000_"),
            "without _ separators",
        ),
        ("leading space", json!(" 1000"), "without spaces around it"),
        ("trailing space", json!("1000 "), "without spaces around it"),
        ("tab", json!("\t1000"), "without spaces around it"),
        ("newline", json!("1000\n"), "without spaces around it"),
        (
            "no-break space",
            json!("\u{a0}1000"),
            "without spaces around it",
        ),
        ("plus sign", json!("+1000"), "without a sign"),
        ("minus sign", json!("-1000"), "without a sign"),
        ("negative JSON number", json!(-5), "without a sign"),
        (
            "point without fraction",
            json!("5."),
            "digits on both sides",
        ),
        ("point without integer", json!(".5"), "digits on both sides"),
        ("a lone point", json!("."), "digits on both sides"),
        ("leading zeros", json!("007"), "without leading zeros"),
        (
            "leading zeros before a point",
            json!("00.5"),
            "without leading zeros",
        ),
        ("empty", json!(""), plain),
        ("two points", json!("1.2.3"), plain),
        ("thousands comma", json!("1,000"), plain),
        ("decimal comma", json!("0,5"), plain),
        ("space inside", json!("1 000"), plain),
        ("hexadecimal", json!("0x10"), plain),
        ("not a number", json!("NaN"), plain),
        ("infinity", json!("inf"), plain),
        ("non-ASCII digits", json!("\u{661}\u{662}"), plain),
        ("full-width digit", json!("\u{ff11}"), plain),
        (
            "29 significant digits",
            json!("12345678901234567890123456789"),
            "at most 28 significant digits",
        ),
        (
            "29 significant digits after the point",
            json!("1.0000000000000000000000000001"),
            "at most 28 significant digits",
        ),
        (
            "29 digits after the point",
            json!("0.00000000000000000000000000001"),
            "at most 28 digits after the point",
        ),
        ("zero", json!("0"), "greater than zero"),
        ("zero with places", json!("0.000"), "greater than zero"),
        ("JSON zero", json!(0), "greater than zero"),
    ];
    for (case, value, why) in table {
        let err = accept(&with_quantity(value.clone())).expect_err(case);
        assert_eq!(err.code(), ErrorCode::InvalidNumber, "{case}: {err}");
        let message = err.to_string();
        assert!(message.starts_with("quantity: "), "{case}: {message:?}");
        assert!(message.contains(why), "{case}: {message:?} lacks {why:?}");
        if *why == plain {
            // The rule alone, no detail of it (`, without _ separators`).
            assert!(
                !message.contains(&format!("{plain},")),
                "{case}: {message:?}"
            );
        }
    }
}

/// Pine writes an `na` value as `NaN`: a volume so is no volume (a chart whose feed has
/// none would otherwise have every alert refused, for a figure nothing trades on); a price
/// so is still refused, as is any other text for the volume.
#[test]
fn a_nan_volume_is_no_volume_and_a_nan_price_is_refused() {
    let (valid, _) = accept(&with(&["price_data", "volume"], json!("NaN"))).unwrap();
    assert_eq!(valid.alert.price_data.volume, None);
    for (field, value) in [
        (["price_data", "close"], json!("NaN")),
        (["price_data", "volume"], json!("nan")),
        (["price_data", "volume"], json!("na")),
    ] {
        let err = accept(&with(&field, value.clone())).expect_err(&format!("{field:?}"));
        assert_eq!(
            err.code(),
            ErrorCode::InvalidNumber,
            "{field:?} {value}: {err}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("{}: ", field.join("."))),
            "{err}"
        );
    }
}

/// The same written bare (`"volume": {{volume}}` unquoted in the template, TradingView
/// writing `NaN`): not JSON, yet read as its quoted spelling: a bare NaN volume is no
/// volume, a bare NaN or Infinity price is refused naming its field. Refused as malformed
/// JSON, every alert of such a chart was, exits too. Inside a string, or as part of a word,
/// nothing is read so.
#[test]
fn a_bare_nan_volume_is_no_volume_and_a_bare_nan_price_names_its_field() {
    let bare = |field: &str, token: &str| {
        let text = String::from_utf8(with(&["price_data", field], json!("@@"))).unwrap();
        text.replace("\"@@\"", token).into_bytes()
    };
    let (valid, _) = accept(&bare("volume", "NaN")).unwrap();
    assert_eq!(valid.alert.price_data.volume, None);
    for token in ["NaN", "Infinity", "-Infinity"] {
        let err = accept(&bare("close", token)).expect_err(token);
        assert_eq!(err.code(), ErrorCode::InvalidNumber, "{token}: {err}");
        assert!(err.to_string().starts_with("price_data.close: "), "{err}");
    }
    for token in ["NaNx", "nan", "NaN NaN", "1, NaN: 2"] {
        let err = accept(&bare("volume", token)).expect_err(token);
        assert_eq!(err.code(), ErrorCode::MalformedJson, "{token}: {err}");
    }
    // In an array a bare token after a comma is a value.
    assert!(shared::alert::read_alert_json(b"{\"a\": [1, NaN]}").is_ok());
    // An exit's quantity from a series that is `na` on the bar (bare or quoted): taken as
    // absent, as any number is there; an entry's is refused naming it.
    for quantity in ["NaN", "\"NaN\"", "-Infinity"] {
        let mut doc = sample_json("oanda-eurusd-long.json");
        doc["action"] = json!("LONG_EXIT");
        doc["signal"]["type"] = json!("EXIT");
        doc["quantity"] = json!("@@");
        let text = serde_json::to_string(&doc)
            .unwrap()
            .replace("\"@@\"", quantity);
        let (valid, _) = accept(text.as_bytes()).unwrap_or_else(|e| panic!("{quantity}: {e}"));
        assert_eq!(valid.alert.quantity, None, "{quantity}");
        let entry = text
            .replace("LONG_EXIT", "LONG_ENTRY")
            .replace("\"EXIT\"", "\"ENTRY\"");
        let err = accept(entry.as_bytes()).expect_err(quantity);
        assert!(err.to_string().starts_with("quantity: "), "{err}");
    }
    // Beside another mistake, that mistake is named, at its place in the body as sent.
    let body = b"{\"a\": NaN, \"b\": NaN, \"a\": 1}";
    let err = RawAlert::parse(body).unwrap_err();
    assert_eq!(err.code(), ErrorCode::MalformedJson, "{err}");
    // The same body with numbers as long as the bare tokens: the same place.
    let same = RawAlert::parse(b"{\"a\": 123, \"b\": 123, \"a\": 1}").unwrap_err();
    assert_eq!(err.to_string(), same.to_string());
    assert!(
        err.to_string().contains("the key \"a\" appears twice"),
        "{err}"
    );
    // An unquoted placeholder beside a bare NaN is named as one.
    let text = String::from_utf8(bare("volume", "NaN")).unwrap();
    let text = text.replace("\"1.08345\"", "{{clsoe}}");
    let err = RawAlert::parse(text.as_bytes()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::UnsubstitutedPlaceholder, "{err}");
}

#[test]
fn a_plain_decimal_quantity_is_read_exactly() {
    let table: &[(Value, &str)] = &[
        (json!("1000"), "1000"),
        (json!("0.5"), "0.5"),
        (json!("1.50"), "1.5"),
        (json!("0.00012345"), "0.00012345"),
        (json!(2500), "2500"),
        (json!(0.5), "0.5"),
        (json!(2.0), "2"),
        // Sent as `0.000001`, read by serde_json as the f64 whose shortest text is `1e-6`: the
        // sender wrote no exponent, and the value is what counts.
        (json!(0.000001), "0.000001"),
        (json!(1e-7), "0.0000001"),
        (
            json!("999999999999.9999999999999999"),
            "999999999999.9999999999999999",
        ),
        (
            json!("0.0000000000000000000000000001"),
            "0.0000000000000000000000000001",
        ),
    ];
    for (value, expected) in table {
        let (valid, _) =
            accept(&with_quantity(value.clone())).unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(
            valid.alert.quantity.map(|q| q.to_string()).as_deref(),
            Some(*expected),
            "{value}"
        );
    }
}

/// The canonical text (and so the SignalId) of an unchanged body must not move when a
/// dependency's feature flips: serde_json's `float_roundtrip` would read this volume to
/// another f64 (`43591.01031600654`), and a resend across a deploy would get a new id and
/// trade again.
#[test]
fn a_long_json_number_keeps_its_canonical_text() {
    let body = String::from_utf8(sample("oanda-eurusd-long.json")).unwrap();
    let body = body.replace("\"volume\": \"1250\"", "\"volume\": 43591.010316006538");
    assert!(body.contains("43591.010316006538"), "{body}");
    let (valid, _) = accept(body.as_bytes()).unwrap();
    assert!(
        valid.canonical.contains("43591.010316006534"),
        "{}",
        valid.canonical
    );
}

#[test]
fn prices_refuse_padding_and_underscores_but_take_json_numbers_with_exponents() {
    let refused: &[(&[&str], Value, &str)] = &[
        (
            &["price_data", "close"],
            json!(" 1.08345"),
            "spaces around it",
        ),
        (
            &["price_data", "close"],
            json!("1.08345\n"),
            "spaces around it",
        ),
        (&["price_data", "open"], json!("1_083.45"), "_ separators"),
        // Text that is no number is told so, not that it holds a `_`.
        (
            &["price_data", "close"],
            json!("CME_MINI"),
            "not a decimal number",
        ),
        (
            &["price_data", "close"],
            json!(" abc"),
            "not a decimal number",
        ),
        (&["price_data", "volume"], json!("1_250"), "_ separators"),
        (
            &["price_data", "volume"],
            json!(" 1250"),
            "spaces around it",
        ),
        // JSON numbers beyond a decimal's range, named by the bound they pass.
        (
            &["price_data", "close"],
            json!(1e30),
            "must be at most 1000000000000",
        ),
        (
            &["price_data", "close"],
            json!(1e-30),
            "must be at least 0.000000000001",
        ),
        (
            &["price_data", "close"],
            json!(5e-324),
            "must be at least 0.000000000001",
        ),
        (
            &["price_data", "close"],
            json!(-1e30),
            "must be greater than zero",
        ),
        (
            &["price_data", "volume"],
            json!(1e30),
            "is beyond a decimal's range",
        ),
        (
            &["price_data", "volume"],
            json!(-1e30),
            "must not be negative",
        ),
        (
            &["price_data", "volume"],
            json!(1e-30),
            "at most 28 digits after the point",
        ),
    ];
    for (path, value, why) in refused {
        let err = accept(&with(path, value.clone())).expect_err(&value.to_string());
        assert_eq!(err.code(), ErrorCode::InvalidNumber, "{err}");
        let message = err.to_string();
        assert!(message.contains(&path.join(".")), "{message:?}");
        assert!(message.contains(why), "{message:?} lacks {why:?}");
    }

    // A tiny crypto price as a JSON number: serde_json's shortest text is `1e-7`.
    let mut doc = sample_json("coinbase-btcusd-long.json");
    for key in ["open", "high", "low", "close"] {
        doc["price_data"][key] = json!(1e-7);
    }
    let (valid, _) = accept(&serde_json::to_vec(&doc).unwrap()).unwrap();
    assert_eq!(valid.alert.price_data.close.to_string(), "0.0000001");
}

/// The unquoted-placeholder mistake in each field where TradingView users put a placeholder:
/// every one is named on its own, none is reported as malformed JSON.
#[test]
fn an_unquoted_placeholder_is_named_in_every_field_it_is_put_in() {
    let sample_text = String::from_utf8(sample("oanda-eurusd-long.json")).unwrap();
    // (quoted value in the sample, unquoted placeholder, field the error names)
    let cases = [
        (
            r#""action": "LONG_ENTRY""#,
            r#""action": {{strategy.order.action}}"#,
            "action",
        ),
        (
            r#""indicator": "Trend_Validator""#,
            r#""indicator": {{strategy.order.comment}}"#,
            "indicator",
        ),
        (
            r#""direction": "LONG""#,
            r#""direction": {{strategy.market_position}}"#,
            "signal.direction",
        ),
        (
            r#""trigger": "COLOR_CHANGE_BLUE""#,
            r#""trigger": {{strategy.order.id}}"#,
            "signal.trigger",
        ),
        (
            r#""symbol": "EURUSD""#,
            r#""symbol": {{ticker}}"#,
            "market_data.symbol",
        ),
        (
            r#""exchange": "OANDA""#,
            r#""exchange": {{exchange}}"#,
            "market_data.exchange",
        ),
        (
            r#""timeframe": "1""#,
            r#""timeframe": {{interval}}"#,
            "market_data.timeframe",
        ),
        (
            r#""timestamp": "2026-11-23T14:31:00Z""#,
            r#""timestamp": {{time}}"#,
            "market_data.timestamp",
        ),
        (
            r#""timenow": "2026-11-23T14:32:00Z""#,
            r#""timenow": {{timenow}}"#,
            "market_data.timenow",
        ),
        (
            r#""open": "1.08345""#,
            r#""open": {{open}}"#,
            "price_data.open",
        ),
        (
            r#""high": "1.08345""#,
            r#""high": {{high}}"#,
            "price_data.high",
        ),
        (r#""low": "1.08345""#, r#""low": {{low}}"#, "price_data.low"),
        (
            r#""close": "1.08345""#,
            r#""close": {{close}}"#,
            "price_data.close",
        ),
        (
            r#""volume": "1250""#,
            r#""volume": {{volume}}"#,
            "price_data.volume",
        ),
        (
            r#""indicator": "Trend_Validator""#,
            r#""indicator": "Trend_Validator", "quantity": {{strategy.order.contracts}}"#,
            "quantity",
        ),
    ];
    for (quoted, unquoted, field) in cases {
        let body = sample_text.replacen(quoted, unquoted, 1);
        assert_ne!(body, sample_text, "the sample has {quoted}");
        let err = RawAlert::parse(body.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            AlertError::UnsubstitutedPlaceholder {
                fields: vec![field.into()]
            },
            "{unquoted}"
        );
        assert_eq!(err.code().as_str(), "unsubstituted_placeholder");
    }
}

/// Two more forms of the mistake: a sign before the placeholder (`-{{strategy.position_size}}`
/// for a short size) and a body that is the placeholder alone (`{{strategy.order.alert_message}}`
/// on an alert that is not a strategy's order, so TradingView leaves it as it is).
#[test]
fn a_signed_placeholder_and_a_placeholder_body_are_named_too() {
    let sample_text = String::from_utf8(sample("oanda-eurusd-long.json")).unwrap();
    let signed = sample_text.replacen(
        r#""indicator": "Trend_Validator""#,
        r#""indicator": "Trend_Validator", "quantity": -{{strategy.position_size}}"#,
        1,
    );
    assert_eq!(
        RawAlert::parse(signed.as_bytes()).unwrap_err(),
        AlertError::UnsubstitutedPlaceholder {
            fields: vec!["quantity".into()]
        }
    );
    let whole = RawAlert::parse(b"{{strategy.order.alert_message}}").unwrap_err();
    assert_eq!(err_code(&whole), "unsubstituted_placeholder");
    assert!(whole.to_string().contains("whole body"), "{whole}");
    // Not a placeholder: still malformed JSON.
    assert!(matches!(
        RawAlert::parse(b"{{ not json"),
        Err(AlertError::MalformedJson { .. })
    ));
}

fn err_code(e: &AlertError) -> &'static str {
    e.code().as_str()
}

/// The canonical text and the SignalId of a body with every kind of value that must be
/// escaped or written back (quotes, a backslash, a control character, non-ASCII text, a
/// number, an array, `null`, booleans), pinned: a resend across a deploy must get the same id,
/// or it would trade again. The texts were taken from the build before the canonical writer
/// stopped allocating a string per value.
#[test]
fn canonical_text_and_signal_id_are_pinned() {
    let body = String::from_utf8(sample("oanda-eurusd-long.json")).unwrap();
    let body = body.replace(
        "\"indicator\": \"Trend_Validator\"",
        "\"indicator\": \"Tr\\\"end\\\\V\\u0001al \u{e9}\u{1F4C8}\", \"note\": [1, 2.5, null, \
         true, false, {\"b\": \"x\\ny\", \"a\": -3}]",
    );
    let (valid, _) = accept(body.as_bytes()).unwrap();
    assert_eq!(
        valid.canonical, PINNED_CANONICAL,
        "the canonical text moved: every SignalId would change"
    );
    assert_eq!(valid.signal_id.as_str(), PINNED_ID);
}

const PINNED_CANONICAL: &str = r#"{"action":"LONG_ENTRY","indicator":"Tr\"end\\V\u0001al é📈","market_data":{"exchange":"OANDA","symbol":"EURUSD","timeframe":"1","timenow":"2026-11-23T14:32:00Z","timestamp":"2026-11-23T14:31:00Z"},"note":[1,2.5,null,true,false,{"a":-3,"b":"x\ny"}],"price_data":{"close":"1.08345","high":"1.08345","low":"1.08345","open":"1.08345","volume":"1250"},"signal":{"direction":"LONG","trigger":"COLOR_CHANGE_BLUE","type":"ENTRY"}}"#;
const PINNED_ID: &str = "2428f2af29740454dca5c6af4c9f0ce2";

/// A futures entry's quantity is whole contracts (Tradovate's `orderQty` is an integer): a
/// fractional one is refused at the webhook, naming the quantity, instead of answered 200 and
/// refused by the executor later. An exit's quantity is not used, so it passes; so does a
/// fractional quantity of an instrument traded elsewhere, whose increment the executor reads.
#[test]
fn a_fractional_futures_entry_quantity_is_refused_at_the_webhook() {
    let es = |action: &str, quantity: &str| {
        let mut doc = sample_json("tradovate-es-long.json");
        let (kind, direction) = match action {
            "LONG_ENTRY" => ("ENTRY", "LONG"),
            "SHORT_ENTRY" => ("ENTRY", "SHORT"),
            "LONG_EXIT" => ("EXIT", "LONG"),
            "SHORT_EXIT" => ("EXIT", "SHORT"),
            _ => ("FLATTEN", "FLAT"),
        };
        doc["action"] = json!(action);
        doc["signal"]["type"] = json!(kind);
        doc["signal"]["direction"] = json!(direction);
        doc["quantity"] = json!(quantity);
        serde_json::to_vec(&doc).unwrap()
    };
    for action in ["LONG_ENTRY", "SHORT_ENTRY"] {
        let err = accept(&es(action, "0.5")).expect_err(action);
        assert_eq!(err.code(), ErrorCode::InvalidField, "{err}");
        let message = err.to_string();
        assert!(
            message.contains("quantity") && message.contains("whole number of contracts, not 0.5"),
            "{message}"
        );
    }
    assert!(accept(&es("LONG_ENTRY", "2")).is_ok());
    assert!(accept(&es("LONG_ENTRY", "2.000")).is_ok());
    for exit in ["LONG_EXIT", "SHORT_EXIT", "FLATTEN"] {
        assert!(accept(&es(exit, "0.5")).is_ok(), "{exit}");
    }
    let btc = {
        let mut doc = sample_json("coinbase-btcusd-long.json");
        doc["quantity"] = json!("0.5");
        serde_json::to_vec(&doc).unwrap()
    };
    assert!(accept(&btc).is_ok());
}

/// An exit or a FLATTEN closes the whole side whatever its quantity: one filled from
/// `{{strategy.position_size}}`, which reads 0 once the strategy is flat (negative when
/// short), is taken as absent, where it was refused 422 and the exit lost (TradingView does
/// not resend a 4xx). An entry's stays refused, as does a quantity that is no number at all.
#[test]
fn an_exits_zero_or_negative_quantity_is_unused_not_refused() {
    let signal = |action: &str| match action {
        "LONG_EXIT" => json!({"type": "EXIT", "direction": "LONG", "trigger": "X"}),
        "SHORT_EXIT" => json!({"type": "EXIT", "direction": "SHORT", "trigger": "X"}),
        "FLATTEN" => json!({"type": "FLATTEN", "direction": "FLAT", "trigger": "X"}),
        "SHORT_ENTRY" => json!({"type": "ENTRY", "direction": "SHORT", "trigger": "X"}),
        _ => json!({"type": "ENTRY", "direction": "LONG", "trigger": "X"}),
    };
    for action in ["LONG_EXIT", "SHORT_EXIT", "FLATTEN"] {
        for value in [
            json!("0"),
            json!("0.0"),
            json!(0),
            json!("-1"),
            json!(-2.5),
            json!(0.30000000000000004),
            json!("007"),
        ] {
            let mut doc = sample_json("oanda-eurusd-long.json");
            doc["action"] = json!(action);
            doc["signal"] = signal(action);
            doc["quantity"] = value.clone();
            let (valid, _) = accept(&serde_json::to_vec(&doc).unwrap())
                .unwrap_or_else(|e| panic!("{action} {value}: {e}"));
            assert_eq!(valid.alert.quantity, None, "{action} {value}");
        }
        let mut doc = sample_json("oanda-eurusd-long.json");
        doc["action"] = json!(action);
        doc["signal"] = signal(action);
        doc["quantity"] = json!("abc");
        let err = accept(&serde_json::to_vec(&doc).unwrap()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidNumber, "{action}: {err}");
    }
    for action in ["LONG_ENTRY", "SHORT_ENTRY"] {
        let mut doc = sample_json("oanda-eurusd-long.json");
        doc["action"] = json!(action);
        doc["signal"] = signal(action);
        doc["quantity"] = json!("0");
        let err = accept(&serde_json::to_vec(&doc).unwrap()).unwrap_err();
        assert!(
            err.to_string().contains("greater than zero"),
            "{action}: {err}"
        );
    }
}

/// A Coinbase `SHORT_ENTRY` sells the coin held and uses no size: its quantity from
/// `{{strategy.position_size}}` (negative when the strategy is short) is taken as absent there,
/// where it was refused 422 and the sale lost. On a margin broker a short entry opens a
/// position of that size, and the same quantity is refused as before.
#[test]
fn a_spot_short_entrys_unused_quantity_is_not_refused() {
    let short = |exchange: &str, symbol: &str| {
        let mut doc = sample_json("oanda-eurusd-long.json");
        doc["action"] = json!("SHORT_ENTRY");
        doc["signal"] = json!({"type": "ENTRY", "direction": "SHORT", "trigger": "X"});
        doc["market_data"]["exchange"] = json!(exchange);
        doc["market_data"]["symbol"] = json!(symbol);
        doc["quantity"] = json!("-0.5");
        serde_json::to_vec(&doc).unwrap()
    };
    let (valid, route) = accept(&short("COINBASE", "BTCUSD")).unwrap();
    assert_eq!(route.broker, Broker::Coinbase);
    assert_eq!(valid.alert.quantity, None);
    let err = accept(&short("OANDA", "EURUSD")).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidNumber, "{err}");
    assert!(err.to_string().starts_with("quantity: "), "{err}");
}
