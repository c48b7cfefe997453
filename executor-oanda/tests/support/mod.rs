//! The executor under test: the real runtime and OANDA venue, the fake OANDA server, and
//! in-memory store, journal and notifier that tests can inspect.
#![allow(dead_code, clippy::unwrap_used)]

pub use broker_fakes::oanda as fake_oanda;

use chrono::Duration;
use executor_oanda::client::{ClientSettings, OandaClient};
use executor_oanda::venue::OandaVenue;
use fake_oanda::FakeOanda;
use rust_decimal::Decimal;
use secrecy::SecretString;
use shared::Action;
use shared::alert::TargetPosition;
use shared::clock::ManualClock;
use shared::message::OrderIntent;
use shared::routing::Broker;
use test_kit::executor::IntentFor;

pub type TestExecutor = test_kit::executor::TestExecutor<OandaVenue<ManualClock>>;

pub const RISK: &str = r#"
default_max_position = "10000"
[classes.fx]
size = "1000"
[instruments.EUR_USD]
size = "1000"
max_position = "5000"
"#;

pub use test_kit::executor::t0;

/// The OANDA executor against the OANDA fake; its end checks the fake recorded no violation.
pub type Harness = test_kit::executor::Harness<FakeOanda, OandaVenue<ManualClock>, ViolationCheck>;

pub use test_kit::ViolationCheck;

/// The check that fails the test at its end if `fake` recorded a violation (a request the v20
/// API does not define, a query it does not take).
pub fn violation_check(fake: &FakeOanda) -> ViolationCheck {
    let fake = fake.clone();
    ViolationCheck::new(move || fake.violations())
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
        timeout: std::time::Duration::from_secs(2),
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
    let venue = OandaVenue::new(client, clock.clone())
        .with_settle_time(std::time::Duration::from_millis(20));
    let check = violation_check(&fake);
    test_kit::executor::harness(fake, venue, clock, kill_switch, risk, check)
}

/// An intent as the router would send it; `n` makes distinct signals.
pub fn intent(action: Action, n: u32) -> OrderIntent {
    IntentFor {
        broker: Broker::Oanda,
        instrument: "EUR_USD",
        symbol: "EURUSD",
        exchange: "OANDA",
        reference_price: Decimal::new(108345, 5),
        id_prefix: "",
        contract: None,
    }
    .intent(action, n)
}

pub fn target(i: &OrderIntent) -> TargetPosition {
    i.target
}
