//! The Tradovate executor under test: real runtime, venue, client and token manager against
//! the fake server, with in-memory store, journal, notifier, token store and lock.
#![allow(dead_code, clippy::unwrap_used)]

pub use broker_fakes::tradovate as fake_tradovate;

use chrono::{DateTime, Duration, Utc};
use executor_runtime::killswitch::StaticKillSwitch;
use executor_runtime::metrics::CapturedMetrics;
use executor_runtime::processor::{Executor, ExecutorSettings};
use executor_runtime::risk::RiskConfig;
use executor_tradovate::client::{ClientSettings, Credentials, TradovateClient};
use executor_tradovate::token::{TokenManager, TokenPolicy};
use executor_tradovate::venue::{TradovateAccount, TradovateVenue, VenueSettings};
use fake_tradovate::*;
use rust_decimal::Decimal;
use secrecy::SecretString;
use shared::clock::ManualClock;
use shared::memory::{
    MemoryIdempotencyStore, MemoryJournal, MemoryLeaseLock, MemoryNotifier, MemoryTokenStore,
};
use shared::message::{INTENT_VERSION, OrderIntent};
use shared::routing::{Broker, ContractResolution, Instrument};
use shared::{Action, SignalId};
use std::sync::Arc;

pub fn t0() -> DateTime<Utc> {
    "2026-11-23T14:32:00Z".parse().unwrap()
}

pub fn credentials() -> Credentials {
    Credentials {
        name: USERNAME.into(),
        password: SecretString::from(PASSWORD),
        app_id: "tv-pipeline".into(),
        app_version: "1.0".into(),
        device_id: "3f9a0c1e5b7d4a2f3f9a0c1e5b7d4a2f3f9a0c1e5b7d4a2f3f9a0c1e5b7d4a2f".into(),
        cid: CID,
        sec: SecretString::from(SEC),
    }
}

pub type Tokens = TokenManager<Arc<MemoryTokenStore>, Arc<MemoryLeaseLock>, ManualClock>;

pub fn client(fake: &FakeTradovate) -> Arc<TradovateClient> {
    let settings = ClientSettings {
        timeout: std::time::Duration::from_millis(500),
        read_attempts: 2,
        read_backoff: std::time::Duration::from_millis(10),
        max_wait: std::time::Duration::from_secs(2),
    };
    Arc::new(TradovateClient::new(&fake.url, settings).unwrap())
}

pub fn tokens(
    fake: &FakeTradovate,
    store: Arc<MemoryTokenStore>,
    lock: Arc<MemoryLeaseLock>,
    clock: ManualClock,
    owner: &str,
) -> Tokens {
    TokenManager::new(
        client(fake),
        credentials(),
        store,
        lock,
        clock,
        owner,
        TokenPolicy::default(),
    )
}

pub type TestExecutor = Executor<
    TradovateVenue<Arc<MemoryTokenStore>, Arc<MemoryLeaseLock>, ManualClock>,
    Arc<MemoryIdempotencyStore>,
    Arc<MemoryJournal>,
    Arc<MemoryNotifier>,
    StaticKillSwitch,
    ManualClock,
>;

pub struct Harness {
    pub fake: FakeTradovate,
    pub executor: TestExecutor,
    pub journal: Arc<MemoryJournal>,
    pub token_store: Arc<MemoryTokenStore>,
    pub clock: ManualClock,
}

pub async fn harness() -> Harness {
    shared::telemetry::init_test_logs();
    let now = t0() + Duration::seconds(2);
    let fake = FakeTradovate::start(now).await;
    let clock = ManualClock::new(now);
    let token_store = Arc::new(MemoryTokenStore::default());
    let manager = Arc::new(tokens(
        &fake,
        token_store.clone(),
        Arc::new(MemoryLeaseLock::default()),
        clock.clone(),
        "executor",
    ));
    let venue = TradovateVenue::new(
        manager,
        TradovateAccount {
            id: executor_tradovate::models::AccountId(ACCOUNT_ID),
            name: ACCOUNT_NAME.into(),
        },
        clock.clone(),
        VenueSettings {
            // Longer than the fake's fill delay, so an asynchronous fill shows in lookups.
            settle: std::time::Duration::from_millis(300),
            poll_interval: std::time::Duration::from_millis(5),
            max_wait: std::time::Duration::from_secs(60),
        },
    );
    let journal = Arc::new(MemoryJournal::default());
    let executor = Executor {
        dead_letters: None,
        venue,
        store: Arc::new(MemoryIdempotencyStore::default()),
        journal: journal.clone(),
        notifier: Arc::new(MemoryNotifier::default()),
        kill_switch: StaticKillSwitch(false),
        clock: clock.clone(),
        metrics: Arc::new(CapturedMetrics::default()),
        settings: ExecutorSettings {
            max_age: Duration::seconds(30),
            lease: Duration::seconds(60),
            record_ttl: Duration::days(7),
            risk: RiskConfig::from_toml(executor_tradovate::config::DEFAULT_RISK).unwrap(),
        },
    };
    Harness {
        fake,
        executor,
        journal,
        token_store,
        clock,
    }
}

pub fn intent(action: Action, n: u32) -> OrderIntent {
    let t = t0() + Duration::seconds(i64::from(n));
    OrderIntent {
        version: INTENT_VERSION,
        signal_id: SignalId::of_canonical(&format!("tv-{action}-{n}")),
        broker: Broker::Tradovate,
        instrument: Instrument::new("ESZ6"),
        action,
        target: action.target(),
        symbol: "ES1!".into(),
        exchange: "CME_MINI".into(),
        reference_price: Decimal::new(601225, 2),
        quantity_override: None,
        signal_time: t,
        received_at: t,
        enqueued_at: t,
        routed_at: t,
        contract: Some(ContractResolution {
            requested: "ES1!".into(),
            contract: "ESZ6".into(),
            rule: "ES: months HMUZ; day 12 of its own month".into(),
            on_roll: shared::routing::RollPolicy::Close,
        }),
        raw: "{}".into(),
        replay_forced: false,
    }
}
