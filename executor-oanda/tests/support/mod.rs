//! The executor under test: the real runtime and OANDA venue, the fake OANDA server, and
//! in-memory store, journal and notifier that tests can inspect.
#![allow(dead_code, clippy::unwrap_used)]

pub use broker_fakes::oanda as fake_oanda;

use chrono::{DateTime, Duration, Utc};
use executor_oanda::client::{ClientSettings, OandaClient};
use executor_oanda::venue::OandaVenue;
use executor_runtime::killswitch::StaticKillSwitch;
use executor_runtime::metrics::CapturedMetrics;
use executor_runtime::processor::{Executor, ExecutorSettings};
use executor_runtime::risk::RiskConfig;
use fake_oanda::FakeOanda;
use rust_decimal::Decimal;
use secrecy::SecretString;
use shared::alert::TargetPosition;
use shared::clock::ManualClock;
use shared::memory::{MemoryIdempotencyStore, MemoryJournal, MemoryNotifier};
use shared::message::{INTENT_VERSION, OrderIntent};
use shared::routing::{Broker, Instrument};
use shared::{Action, SignalId};
use std::sync::Arc;

pub type TestExecutor = Executor<
    OandaVenue<ManualClock>,
    Arc<MemoryIdempotencyStore>,
    Arc<MemoryJournal>,
    Arc<MemoryNotifier>,
    StaticKillSwitch,
    ManualClock,
>;

pub const RISK: &str = r#"
default_max_position = "10000"
[classes.fx]
size = "1000"
[instruments.EUR_USD]
size = "1000"
max_position = "5000"
"#;

pub fn t0() -> DateTime<Utc> {
    "2026-11-23T14:32:00Z".parse().unwrap()
}

pub struct Harness {
    pub fake: FakeOanda,
    pub executor: TestExecutor,
    pub store: Arc<MemoryIdempotencyStore>,
    pub journal: Arc<MemoryJournal>,
    pub notifier: Arc<MemoryNotifier>,
    pub metrics: Arc<CapturedMetrics>,
    pub clock: ManualClock,
}

pub async fn harness() -> Harness {
    harness_with(false).await
}

pub async fn harness_with(kill_switch: bool) -> Harness {
    harness_with_risk(kill_switch, RISK).await
}

/// With a risk configuration of the test's own (`executor_oanda::config::DEFAULT_RISK` for
/// the shipped defaults).
pub async fn harness_with_risk(kill_switch: bool, risk: &str) -> Harness {
    shared::telemetry::init_test_logs();
    let fake = FakeOanda::start().await;
    let clock = ManualClock::new(t0() + Duration::seconds(2));
    let settings = ClientSettings {
        timeout: std::time::Duration::from_millis(300),
        read_attempts: 3,
        read_backoff: std::time::Duration::from_millis(10),
    };
    let client = OandaClient::new(
        &fake.url,
        SecretString::from(fake.token.clone()),
        &fake.account,
        settings,
    )
    .unwrap();
    let store = Arc::new(MemoryIdempotencyStore::default());
    let journal = Arc::new(MemoryJournal::default());
    let notifier = Arc::new(MemoryNotifier::default());
    let metrics = Arc::new(CapturedMetrics::default());
    let executor = Executor {
        dead_letters: None,
        venue: OandaVenue::new(client, clock.clone())
            .with_settle_time(std::time::Duration::from_millis(20)),
        store: store.clone(),
        journal: journal.clone(),
        notifier: notifier.clone(),
        kill_switch: StaticKillSwitch(kill_switch),
        clock: clock.clone(),
        metrics: metrics.clone(),
        settings: ExecutorSettings {
            max_age: Duration::seconds(30),
            lease: Duration::seconds(60),
            record_ttl: Duration::days(7),
            risk: RiskConfig::from_toml(risk).unwrap(),
        },
    };
    Harness {
        fake,
        executor,
        store,
        journal,
        notifier,
        metrics,
        clock,
    }
}

/// An intent as the router would send it; `n` makes distinct signals.
pub fn intent(action: Action, n: u32) -> OrderIntent {
    let signal_time = t0() + Duration::seconds(i64::from(n));
    OrderIntent {
        version: INTENT_VERSION,
        signal_id: SignalId::of_canonical(&format!("{action}-{n}")),
        broker: Broker::Oanda,
        instrument: Instrument::new("EUR_USD"),
        action,
        target: action.target(),
        symbol: "EURUSD".into(),
        exchange: "OANDA".into(),
        reference_price: Decimal::new(108345, 5),
        quantity_override: None,
        signal_time,
        received_at: signal_time,
        enqueued_at: signal_time,
        routed_at: signal_time,
        contract: None,
        raw: format!("{{\"action\":\"{action}\"}}"),
        replay_forced: false,
    }
}

pub fn target(i: &OrderIntent) -> TargetPosition {
    i.target
}
