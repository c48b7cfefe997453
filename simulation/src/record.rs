//! What a run writes down while it goes: the event history (printed when a seed fails),
//! fault counts, the order the executors first claimed signals in, what each broker call
//! created, and the crash plan that abandons an executor invocation at a chosen step.

use chrono::{DateTime, Utc};
use shared::SignalId;
use shared::routing::Broker;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// Orders one `Venue::execute` call left at the broker, attributed to its signal.
#[derive(Debug, Clone)]
pub struct VenueCall {
    pub broker: Broker,
    pub signal_id: SignalId,
    pub at: DateTime<Utc>,
    /// Orders created by this call (all legs).
    pub orders: u64,
    /// Of which close requests without a client order id (Tradovate liquidations).
    pub liquidations: u64,
}

#[derive(Debug, Default)]
pub struct Record {
    pub history: Vec<String>,
    pub faults: BTreeMap<&'static str, u64>,
    /// Signals in the order an executor first claimed them (`Claim::Acquired`).
    pub claims: Vec<SignalId>,
    pub calls: Vec<VenueCall>,
    /// Broker-side rule breaks seen by the model brokers.
    pub violations: Vec<String>,
}

/// Shared, cloneable handle on the run's record and its clock origin.
#[derive(Debug, Clone)]
pub struct Log {
    inner: Arc<Mutex<Record>>,
    t0: DateTime<Utc>,
}

impl Log {
    pub fn new(t0: DateTime<Utc>) -> Self {
        Self {
            inner: Arc::default(),
            t0,
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Record> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn event(&self, now: DateTime<Utc>, what: impl AsRef<str>) {
        let ms = (now - self.t0).num_milliseconds();
        let line = format!("t+{:>4}.{:03}s {}", ms / 1000, ms % 1000, what.as_ref());
        self.lock().history.push(line);
    }

    pub fn fault(&self, kind: &'static str) {
        *self.lock().faults.entry(kind).or_default() += 1;
    }
}

#[derive(Debug, Default)]
struct CrashState {
    /// Crash at this gate of the current invocation.
    armed: Option<u32>,
    gates: u32,
    fired: Option<&'static str>,
}

/// Abandons an executor invocation at a chosen gate, as a Lambda that dies mid-flight: the
/// future is dropped, nothing is acknowledged, the lease stays until it expires.
///
/// Every wrapped port call passes two gates (before and after), so gate `k` lies between
/// two steps of the protocol: before the claim, after the claim, after the broker call and
/// before the journal, between journal writes, before or after `complete`.
#[derive(Debug, Default)]
pub struct Crash {
    state: Mutex<CrashState>,
    fired: Notify,
}

impl Crash {
    fn lock(&self) -> MutexGuard<'_, CrashState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn arm(&self, gate: Option<u32>) {
        *self.lock() = CrashState {
            armed: gate,
            ..CrashState::default()
        };
    }

    /// Which gate fired, if one did, and how many gates the invocation passed.
    pub fn disarm(&self) -> (Option<&'static str>, u32) {
        let mut s = self.lock();
        let out = (s.fired, s.gates);
        *s = CrashState::default();
        out
    }

    /// Passes a gate; if it is the armed one, never returns (the driver drops the future).
    pub async fn gate(&self, name: &'static str) {
        let fire = {
            let mut s = self.lock();
            let here = s.gates;
            s.gates += 1;
            if s.armed == Some(here) && s.fired.is_none() {
                s.fired = Some(name);
                true
            } else {
                false
            }
        };
        if fire {
            self.fired.notify_one();
            std::future::pending::<()>().await;
        }
    }

    /// Resolves once a gate fired.
    pub async fn fired(&self) {
        self.fired.notified().await;
    }
}
