//! The Tradovate executor under test: real runtime, venue, client and token manager against
//! the fake server, with in-memory store, journal, notifier, token store and lock.
#![allow(dead_code, clippy::unwrap_used)]

pub use broker_fakes::tradovate as fake_tradovate;

use chrono::Duration;
use executor_tradovate::client::{ClientSettings, Credentials, TradovateClient};
use executor_tradovate::token::{TokenManager, TokenPolicy};
use executor_tradovate::venue::{TradovateAccount, TradovateVenue, VenueSettings};
use fake_tradovate::*;
use rust_decimal::Decimal;
use secrecy::SecretString;
use shared::Action;
use shared::clock::ManualClock;
use shared::memory::{MemoryJournal, MemoryLeaseLock, MemoryTokenStore};
use shared::message::OrderIntent;
use shared::routing::{Broker, ContractResolution};
use std::sync::Arc;
use test_kit::executor::IntentFor;

pub use test_kit::executor::t0;

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
    // Every test with a client has its log lines captured for the suite's log audit (the
    // token tests log in, renew and refuse logins without a harness).
    shared::telemetry::init_test_logs();
    let settings = ClientSettings {
        timeout: std::time::Duration::from_secs(2),
        read_attempts: 2,
        read_backoff: std::time::Duration::from_millis(10),
        max_wait: std::time::Duration::from_secs(2),
        ..ClientSettings::default()
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

pub type TestExecutor = test_kit::executor::TestExecutor<
    TradovateVenue<Arc<MemoryTokenStore>, Arc<MemoryLeaseLock>, ManualClock>,
>;

pub struct Harness {
    pub fake: FakeTradovate,
    pub executor: TestExecutor,
    pub journal: Arc<MemoryJournal>,
    pub token_store: Arc<MemoryTokenStore>,
    pub clock: ManualClock,
    /// Fails the test at its end if the fake recorded a violation ([`ViolationCheck`]).
    pub check: ViolationCheck,
}

pub use test_kit::ViolationCheck;

/// The check that fails the test at its end if `fake` recorded a violation.
pub fn violation_check(fake: &FakeTradovate) -> ViolationCheck {
    let fake = fake.clone();
    ViolationCheck::new(move || fake.violations())
}

/// A fake started at `now` for a test without a harness, and the check that fails the test
/// at its end if the fake recorded a violation (keep it bound to a name until then).
pub async fn checked_fake(now: chrono::DateTime<chrono::Utc>) -> (FakeTradovate, ViolationCheck) {
    let fake = FakeTradovate::start(now).await;
    let check = violation_check(&fake);
    (fake, check)
}

pub async fn harness() -> Harness {
    let fake = FakeTradovate::start(t0() + Duration::seconds(2)).await;
    harness_on(fake, ACCOUNT_ID, ACCOUNT_NAME).await
}

/// An executor trading the account `account_id`/`account_name` of `fake`'s login (which must
/// list it: `FakeTradovate::set_accounts`).
pub async fn harness_on(fake: FakeTradovate, account_id: i64, account_name: &str) -> Harness {
    harness_with(fake, account_id, account_name, credentials()).await
}

/// [`harness_on`] logging in with `login` (a wrong password, say).
pub async fn harness_with(
    fake: FakeTradovate,
    account_id: i64,
    account_name: &str,
    login: Credentials,
) -> Harness {
    shared::telemetry::init_test_logs();
    let now = t0() + Duration::seconds(2);
    let clock = ManualClock::new(now);
    let token_store = Arc::new(MemoryTokenStore::default());
    let manager = Arc::new(TokenManager::new(
        client(&fake),
        login,
        token_store.clone(),
        Arc::new(MemoryLeaseLock::default()),
        clock.clone(),
        "executor",
        TokenPolicy::default(),
    ));
    let venue = TradovateVenue::new(
        manager,
        TradovateAccount {
            id: executor_tradovate::models::AccountId(account_id),
            name: account_name.into(),
        },
        clock.clone(),
        VenueSettings {
            // Longer than the fake's fill delay, so an asynchronous fill shows in lookups.
            settle: std::time::Duration::from_millis(300),
            poll_interval: std::time::Duration::from_millis(5),
            max_wait: std::time::Duration::from_secs(60),
        },
    );
    let (executor, ports) = test_kit::executor::executor(
        venue,
        &clock,
        false,
        executor_tradovate::config::DEFAULT_RISK,
    );
    let journal = ports.journal;
    Harness {
        check: violation_check(&fake),
        fake,
        executor,
        journal,
        token_store,
        clock,
    }
}

/// An intent as the router would send it for `ES1!` resolved to ESZ6; `n` makes distinct
/// signals.
pub fn intent(action: Action, n: u32) -> OrderIntent {
    IntentFor {
        broker: Broker::Tradovate,
        instrument: "ESZ6",
        symbol: "ES1!",
        exchange: "CME_MINI",
        reference_price: Decimal::new(601225, 2),
        id_prefix: "tv-",
        contract: Some(ContractResolution {
            requested: "ES1!".into(),
            contract: "ESZ6".into(),
            rule: "ES: months HMUZ; day 12 of its own month".into(),
            on_roll: shared::routing::RollPolicy::Close,
        }),
    }
    .intent(action, n)
}
