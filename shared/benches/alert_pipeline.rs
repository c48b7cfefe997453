//! Parse + validate + SignalId + route (with the staleness check) for each sample alert: the
//! CPU work ingest does per alert before it enqueues. Target: median ≤ 10 µs per alert.

use criterion::{Criterion, criterion_group, criterion_main};
use shared::RoutingTable;
use shared::alert::{Freshness, RawAlert};
use std::hint::black_box;

const SAMPLES: [&str; 8] = [
    "oanda-eurusd-long.json",
    "oanda-eurusd-short.json",
    "coinbase-btcusd-long.json",
    "coinbase-btcusd-short.json",
    "tradovate-es-long.json",
    "tradovate-mnq-short.json",
    "tradovate-gc-long.json",
    "tradovate-cl-short.json",
];

fn bench(c: &mut Criterion) {
    let table = RoutingTable::embedded();
    let now = "2026-11-23T14:32:01Z".parse().expect("valid time");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/alerts");
    let mut group = c.benchmark_group("parse_validate_id_route");
    for name in SAMPLES {
        let body = std::fs::read(dir.join(name)).expect("sample alert");
        group.bench_function(name.trim_end_matches(".json"), |b| {
            b.iter(|| {
                let raw = RawAlert::parse(black_box(&body)).expect("parses");
                let valid = raw.validate().expect("valid");
                let route = valid
                    .route_and_check(&table, now, Freshness::default())
                    .expect("routes");
                black_box((valid.signal_id, route))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
