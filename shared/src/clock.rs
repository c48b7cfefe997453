//! The time seam. Staleness, leases, token expiry and the futures roll all read the time
//! through [`Clock`], so tests can pin it.

use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex};

/// The source of the current time. [`SystemClock`] in the binaries, [`ManualClock`] in
/// tests; `Arc<C>` and `&C` of a clock are clocks too.
pub trait Clock: Send + Sync {
    /// The current time, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods, reason = "the clock seam itself")]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A fixed time for tests that need some start but no particular one: Monday 2026-11-30
/// 12:00:00 UTC. (Tests whose outcome depends on the date, such as a futures roll, set their
/// own.)
pub fn test_epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_796_040_000, 0).unwrap_or_default()
}

/// A clock that only moves when told to; cloning shares the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    /// Moves this clock and its clones to `at`, forward or back.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.lock() = at;
    }

    /// Adds `by` to the time of this clock and its clones (a negative `by` moves it back).
    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        *now += by;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A poisoned clock still holds a valid time; keep going.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}
