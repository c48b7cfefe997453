//! Bytes → `RawAlert::parse` → `validate` → `SignalId` → route and freshness.
//!
//! Invariants, beyond "never panics":
//! - a refusal has a stable code and a bounded message (strict mode for the bound);
//! - a validated alert's canonical JSON has no passphrase, hashes to its SignalId, and is a
//!   fixed point: parsed and validated again it gives the same alert, canonical text and id;
//! - the SignalId is 32 lowercase hex characters and parses back;
//! - prices are positive, volume is not negative (or `NaN`: none), a quantity is positive;
//! - routing is deterministic and case-insensitive in exchange and symbol;
//! - freshness agrees with the limits it was given.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use shared::alert::{Freshness, MAX_BODY_BYTES, RawAlert, ValidatedAlert};
use shared::front_month::Fronts;
use shared::routing::Use;
use shared::{AlertError, ErrorCode, RoutingTable, SignalId};
use std::sync::OnceLock;

/// The samples' `timenow` plus one second, as in the crate tests.
pub fn fixed_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T14:32:01Z")
        .expect("a fixed RFC 3339 time")
        .with_timezone(&Utc)
}

pub fn routing() -> &'static RoutingTable {
    static TABLE: OnceLock<RoutingTable> = OnceLock::new();
    TABLE.get_or_init(RoutingTable::embedded)
}

/// Runs one input; returns the refusal, if any, of parse and validate.
pub fn check(data: &[u8]) -> Result<(), AlertError> {
    let outcome = RawAlert::parse(data).and_then(|raw| raw.validate());
    let valid = match outcome {
        Ok(valid) => valid,
        Err(e) => {
            check_refusal(&e, data);
            return Err(e);
        }
    };
    check_valid(&valid);
    check_routing(&valid, data);
    Ok(())
}

/// What every refusal must look like, wherever it came from.
pub fn check_refusal(err: &AlertError, input: &[u8]) {
    assert!(
        ErrorCode::ALL.contains(&err.code()),
        "refusal with an unlisted code: {err:?}"
    );
    let message = err.to_string();
    assert!(!message.is_empty(), "empty refusal message for {err:?}");
    if crate::strict() {
        assert!(
            message.len() <= crate::MAX_REFUSAL_MESSAGE,
            "a {}-byte body got a {}-byte refusal ({}): the sender's text is reflected unbounded",
            input.len(),
            message.len(),
            err.code(),
        );
    }
}

fn check_valid(valid: &ValidatedAlert) {
    let id = valid.signal_id.as_str();
    assert_eq!(id.len(), 32, "SignalId {id:?} is not 32 characters");
    assert!(
        id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "SignalId {id:?} is not lowercase hex"
    );
    assert_eq!(id.parse::<SignalId>().as_ref(), Ok(&valid.signal_id));
    assert_eq!(
        SignalId::of_canonical(&valid.canonical),
        valid.signal_id,
        "the SignalId is not the hash of the canonical text"
    );

    let p = &valid.alert.price_data;
    for (name, price) in [
        ("open", p.open),
        ("high", p.high),
        ("low", p.low),
        ("close", p.close),
    ] {
        assert!(price > Decimal::ZERO, "price_data.{name} {price} accepted");
    }
    // `None`: the alert said `"NaN"` (Pine's `na`), read as no volume.
    if let Some(volume) = p.volume {
        assert!(volume >= Decimal::ZERO, "volume {volume} accepted");
    }
    if let Some(q) = valid.alert.quantity {
        assert!(q > Decimal::ZERO, "quantity {q} accepted");
    }
    assert!(!valid.alert.market_data.symbol.trim().is_empty());
    assert!(!valid.alert.market_data.exchange.trim().is_empty());

    // The canonical text is what the journal keeps and what the id is the hash of: reading it
    // again must give back exactly the same alert. It is longer than the body when numbers
    // are re-spelled (`1e5` → `100000.0`), so only a canonical text within the body limit can
    // go through `parse` again.
    if valid.canonical.len() <= MAX_BODY_BYTES {
        let again = RawAlert::parse(valid.canonical.as_bytes())
            .unwrap_or_else(|e| panic!("canonical text does not parse again: {e}"));
        assert!(
            again.passphrase().is_none(),
            "the canonical text carries a passphrase"
        );
        let again = again
            .validate()
            .unwrap_or_else(|e| panic!("canonical text does not validate again: {e}"));
        assert_eq!(
            again.canonical, valid.canonical,
            "canonical JSON is not a fixed point"
        );
        assert_eq!(
            again.signal_id, valid.signal_id,
            "the canonical text re-parses to another SignalId"
        );
        assert_eq!(
            again.alert, valid.alert,
            "the canonical text re-parses to another alert"
        );
    }
}

fn check_routing(valid: &ValidatedAlert, input: &[u8]) {
    let table = routing();
    let md = &valid.alert.market_data;
    let freshness = Freshness::default();

    // Once at the fixed clock (most fuzzed alerts are stale there) and once one second after
    // the alert's own `timenow`, so that freshness passes and routing is reached for any time.
    let own_now = md.timenow.checked_add_signed(Duration::seconds(1));
    for now in [Some(fixed_now()), own_now].into_iter().flatten() {
        // As ingest routes it: an exit or FLATTEN may reach a contract an entry may not.
        let use_ = Use::of(valid.alert.action);
        let no_fronts = Fronts::new();
        let routed = table.route_for(&md.exchange, &md.symbol, now, &no_fronts, use_);
        let again = table.route_for(&md.exchange, &md.symbol, now, &no_fronts, use_);
        assert_eq!(routed, again, "routing is not deterministic");
        // Whatever routes for an entry routes the same for an exit.
        if let Ok(open) = table.route(&md.exchange, &md.symbol, now) {
            assert_eq!(
                routed.as_ref().ok(),
                Some(&open),
                "an exit routes apart from an entry"
            );
        }
        let lower = table.route_for(
            &md.exchange.to_ascii_lowercase(),
            &md.symbol.to_ascii_lowercase(),
            now,
            &no_fronts,
            use_,
        );
        match (&routed, &lower) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "routing depends on letter case"),
            (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "routing depends on letter case"),
            _ => panic!("routing depends on letter case: {routed:?} vs {lower:?}"),
        }
        match &routed {
            Ok(route) => {
                let name = route.instrument.as_str();
                assert!(
                    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()),
                    "instrument {name:?} is not a broker name"
                );
            }
            Err(e) => check_refusal(e, input),
        }

        let checked = valid.route_and_check(table, now, freshness);
        match (&checked, &routed) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Ok(_), Err(_)) => panic!("route_and_check accepted an unroutable alert"),
            (Err(e), _) => check_refusal(e, input),
        }
        let fresh = valid.alert.check_fresh(now, freshness);
        let age = now - md.timenow;
        let expected_fresh = age <= freshness.max_age && -age <= freshness.max_skew;
        assert_eq!(
            fresh.is_ok(),
            expected_fresh,
            "freshness at age {age} disagrees with the limits: {fresh:?}"
        );
        // A routed, fresh alert is accepted unless it is a futures entry of a fractional
        // quantity (whole contracts at Tradovate), or a short entry whose quantity is a number
        // but no size, routed anywhere but Coinbase (whose short entry uses none): refused
        // naming `quantity`.
        if let Ok(route) = &routed {
            let fractional_contracts = route.broker == shared::routing::Broker::Tradovate
                && matches!(
                    valid.alert.action,
                    shared::Action::LongEntry | shared::Action::ShortEntry
                )
                && valid.alert.quantity.is_some_and(|q| !q.fract().is_zero());
            let short_quantity = route.broker != shared::routing::Broker::Coinbase
                && valid.unused_short_quantity().is_some();
            let refused = fractional_contracts || short_quantity;
            assert_eq!(checked.is_ok(), expected_fresh && !refused);
            if expected_fresh && refused {
                assert!(
                    checked
                        .as_ref()
                        .is_err_and(|e| e.to_string().contains("quantity")),
                    "{checked:?}"
                );
            }
        }
    }
}
