//! The executor under test: the real runtime ([`Executor`]) around a broker venue, with
//! in-memory ports the test reads back, and intents as the router sends them.

pub use crate::time::t0;

use chrono::Duration;
use executor_runtime::killswitch::StaticKillSwitch;
use executor_runtime::metrics::CapturedMetrics;
use executor_runtime::processor::{Executor, ExecutorSettings};
use executor_runtime::risk::RiskConfig;
use rust_decimal::Decimal;
use shared::clock::ManualClock;
use shared::memory::{MemoryIdempotencyStore, MemoryJournal, MemoryNotifier};
use shared::message::{INTENT_VERSION, OrderIntent};
use shared::routing::{Broker, ContractResolution, Instrument};
use shared::{Action, SignalId};
use std::sync::Arc;

/// The reason journaled with signal `id`, as a test reads it back.
///
/// # Panics
/// When the journal cannot be read, holds no such signal, or its record has no reason (each
/// a failed expectation of the test).
pub async fn journaled_reason(journal: &MemoryJournal, id: &SignalId) -> String {
    use shared::execution::TradeJournal;
    journal
        .signal(id)
        .await
        .unwrap_or_else(|e| panic!("the journal: {e}"))
        .unwrap_or_else(|| panic!("signal {id} not journaled"))
        .reason
        .unwrap_or_else(|| panic!("signal {id} journaled without a reason"))
}

/// An executor over `V` with in-memory idempotency store, journal and notifier.
pub type TestExecutor<V> = Executor<
    V,
    Arc<MemoryIdempotencyStore>,
    Arc<MemoryJournal>,
    Arc<MemoryNotifier>,
    StaticKillSwitch,
    ManualClock,
>;

/// What an executor under test writes to, for the test to read.
#[derive(Debug, Clone, Default)]
pub struct Ports {
    /// The idempotency records: claims, leases and outcomes.
    pub store: Arc<MemoryIdempotencyStore>,
    /// The signal and order rows the executor journals.
    pub journal: Arc<MemoryJournal>,
    /// The notifications (mails) the executor sends.
    pub notifier: Arc<MemoryNotifier>,
    /// The metrics the executor emits.
    pub metrics: Arc<CapturedMetrics>,
}

/// `venue` under the real executor with the deployed settings (alerts older than 30 s are
/// stale; a 60 s lease, the deployed one being 90 s; records kept 7 days), the risk configuration `risk` (TOML, as
/// `RISK_CONFIG` holds it) and the kill switch engaged when `kill_switch`.
///
/// # Panics
/// When `risk` is not a valid risk configuration (a test's own mistake).
pub fn executor<V>(
    venue: V,
    clock: &ManualClock,
    kill_switch: bool,
    risk: &str,
) -> (TestExecutor<V>, Ports) {
    let ports = Ports::default();
    let executor = Executor {
        dead_letters: None,
        venue,
        store: ports.store.clone(),
        journal: ports.journal.clone(),
        notifier: ports.notifier.clone(),
        kill_switch: StaticKillSwitch(kill_switch),
        clock: clock.clone(),
        metrics: ports.metrics.clone(),
        settings: ExecutorSettings {
            max_age: Duration::seconds(30),
            lease: Duration::seconds(60),
            send_margin: shared::ports::HAND_OVER_SKEW,
            record_ttl: Duration::days(7),
            risk: RiskConfig::from_toml(risk)
                .unwrap_or_else(|e| panic!("the test's risk configuration: {e}")),
            notify_fills: false,
        },
    };
    (executor, ports)
}

/// An executor under test and what a test reads around it: the fake broker `F` (an HTTP fake
/// of `broker-fakes`), the executor over venue `V`, its in-memory [`Ports`] (read through
/// `Deref`: `h.store`, `h.journal`, `h.notifier`, `h.metrics`), the clock, and `extra`, what a
/// broker's tests need besides (Coinbase's API key; `()` otherwise).
pub struct Harness<F, V, X = ()> {
    /// The broker's fake server.
    pub fake: F,
    /// The executor under test.
    pub executor: TestExecutor<V>,
    /// Its in-memory ports.
    pub ports: Ports,
    /// The clock the executor reads.
    pub clock: ManualClock,
    /// Whatever else the broker's tests need.
    pub extra: X,
}

impl<F, V, X> std::fmt::Debug for Harness<F, V, X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}

impl<F, V, X> Harness<F, V, X> {
    /// Gives the executor a dead-letter queue named `name`, as deployed: an unknown outcome
    /// keeps its lease and goes there, and a replay of it (the same intent once the lease
    /// has passed) is a takeover that reconciles by lookup.
    pub fn dead_letters(
        &mut self,
        name: &str,
    ) -> std::sync::Arc<crate::fifo::MemoryFifoQueue<ManualClock>> {
        let dlq = std::sync::Arc::new(crate::fifo::MemoryFifoQueue::new(name, self.clock.clone()));
        self.executor.dead_letters = Some(dlq.clone());
        dlq
    }
}

impl<F, V, X> std::ops::Deref for Harness<F, V, X> {
    type Target = Ports;

    fn deref(&self) -> &Ports {
        &self.ports
    }
}

/// [`executor`] over `venue`, in a [`Harness`] with its fake broker and `extra`.
///
/// # Panics
/// As [`executor`].
pub fn harness<F, V, X>(
    fake: F,
    venue: V,
    clock: ManualClock,
    kill_switch: bool,
    risk: &str,
    extra: X,
) -> Harness<F, V, X> {
    let (executor, ports) = executor(venue, &clock, kill_switch, risk);
    Harness {
        fake,
        executor,
        ports,
        clock,
        extra,
    }
}

/// The broker side of a test's intents: what the router would have resolved.
#[derive(Debug, Clone)]
pub struct IntentFor {
    /// The broker the intent is routed to.
    pub broker: Broker,
    /// The broker's name for the instrument (`EUR_USD`, `ESZ6`, `BTC-USD`).
    pub instrument: &'static str,
    /// The alert's symbol, as TradingView sends it.
    pub symbol: &'static str,
    /// The alert's exchange, as TradingView sends it.
    pub exchange: &'static str,
    /// The alert's close.
    pub reference_price: Decimal,
    /// Makes the signal ids of one test file distinct from another's.
    pub id_prefix: &'static str,
    /// How the router resolved a futures root to its contract, if it did.
    pub contract: Option<ContractResolution>,
}

impl IntentFor {
    /// The intent of the `n`th alert with `action`, fired `n` seconds after [`t0`]; distinct
    /// `(action, n)` make distinct signals.
    pub fn intent(&self, action: Action, n: u32) -> OrderIntent {
        let t = t0() + Duration::seconds(i64::from(n));
        OrderIntent {
            version: INTENT_VERSION,
            signal_id: SignalId::of_canonical(&format!("{}{action}-{n}", self.id_prefix)),
            broker: self.broker,
            instrument: Instrument::new(self.instrument),
            action,
            target: action.target(),
            symbol: self.symbol.into(),
            exchange: self.exchange.into(),
            reference_price: self.reference_price,
            quantity_override: None,
            signal_time: t,
            received_at: t,
            enqueued_at: t,
            routed_at: t,
            contract: self.contract.clone(),
            raw: format!("{{\"action\":\"{action}\"}}"),
            replay_forced: false,
        }
    }
}
