//! Property tests: no input makes the parser, the validator or the router panic.
#![allow(clippy::unwrap_used)]

mod common;

use proptest::prelude::*;
use shared::RoutingTable;
use shared::alert::{Freshness, RawAlert};

fn run(body: &[u8]) {
    if let Ok(raw) = RawAlert::parse(body)
        && let Ok(valid) = raw.validate()
    {
        let _ = valid.route_and_check(
            &RoutingTable::embedded(),
            common::sample_now(),
            Freshness::default(),
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        run(&body);
    }

    /// Mutations of a valid alert reach deep into validation and routing, where random bytes
    /// rarely get.
    #[test]
    fn mutated_sample_alerts_never_panic(
        file in prop::sample::select(vec![
            "oanda-eurusd-long.json", "tradovate-es-long.json", "coinbase-btcusd-short.json",
            "tradovate-cl-short.json", "unsubstituted-template.json",
        ]),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut body = common::sample(file);
        for (i, byte) in edits {
            let at = i.index(body.len());
            body[at] = byte;
        }
        run(&body);
    }

    #[test]
    fn arbitrary_symbols_and_exchanges_route_or_refuse(
        exchange in "[A-Z_]{0,12}|OANDA|COINBASE|CME_MINI|NYMEX_DL",
        symbol in "[A-Z0-9_/!\\-]{0,16}",
    ) {
        let _ = RoutingTable::embedded().route(&exchange, &symbol, common::sample_now());
    }
}
