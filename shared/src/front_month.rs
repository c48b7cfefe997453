//! Front months from market data: which contract of a futures root leads (by volume), as a
//! scheduled job learnt it from Databento, kept in a cache the router reads. The routing
//! table's roll rule stays the fallback: an empty or stale cache, or an answer that is not a
//! contract of the root, changes nothing.

use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use crate::ports::StoreError;

/// One root's leading contract as a market-data source named it (`ES` → `ESZ6`), and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontMonth {
    /// The futures root, as the routing table names it (`ES`, `CL`).
    pub root: String,
    /// In the routing table's form: root, month code, one year digit.
    pub contract: String,
    /// When the refresher asked the source (UTC); [`trusted`] drops answers older than
    /// [`TRUSTED_FOR`].
    pub as_of: DateTime<Utc>,
}

/// A boxed future, so the cache can be shared as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where front months are kept (DynamoDB with a TTL in AWS, memory locally).
pub trait FrontMonthCache: Send + Sync {
    /// Writes one root's answer, kept until `expires_at`.
    fn put<'a>(
        &'a self,
        front: &'a FrontMonth,
        expires_at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Every root's latest answer not yet expired at `now`.
    fn all(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<Vec<FrontMonth>, StoreError>>;

    /// The contract a continuous symbol (`ES1!`) trades now, given the router's resolution
    /// `contract` and its [`contract_month_index`](crate::routing::contract_month_index)
    /// `month`: `contract`, written as the symbol's latest, unless a later contract was written
    /// before and has not expired at `now`; then that later one, and nothing is written. One
    /// conditional write, so routers holding copies of the cache read up to a refresh apart
    /// (or a volume leader that moves back) never send the symbol back to an earlier contract
    /// once one of them moved it on: the executor rolls an earlier contract into a later one,
    /// never the reverse. Kept until `expires_at`. Fails with [`StoreError`] when the cache
    /// cannot be written or read.
    fn hold_forward<'a>(
        &'a self,
        symbol: &'a str,
        routed: Routed<'a>,
    ) -> BoxFuture<'a, Result<String, StoreError>>;
}

/// A continuous symbol's resolution, for [`FrontMonthCache::hold_forward`].
#[derive(Debug, Clone, Copy)]
pub struct Routed<'a> {
    /// The contract the router resolved (`ESH7`).
    pub contract: &'a str,
    /// Its month index ([`contract_month_index`](crate::routing::contract_month_index)).
    pub month: i64,
    /// The router's time (UTC): an entry that expired by then no longer holds.
    pub now: DateTime<Utc>,
    /// When this entry may be dropped (UTC).
    pub expires_at: DateTime<Utc>,
}

/// How long a continuous symbol's latest contract holds after it was last written: longer
/// than any contract of a quarterly root leads, so a hold ends by being overtaken (the next
/// contract written), not by time while its contract could still be routed; the expiry only
/// clears symbols no longer traded.
pub const HELD_FOR: Duration = Duration::days(100);

/// How long an answer is trusted: the scheduled job refreshes hourly by default, so two days
/// of silence mean the job or Databento is down, and the roll rule takes over.
pub const TRUSTED_FOR: Duration = Duration::days(2);

/// The front months in memory.
#[derive(Debug, Default)]
pub struct MemoryFrontMonths {
    entries: Mutex<BTreeMap<String, (FrontMonth, DateTime<Utc>)>>,
    /// Continuous symbol → (contract, month index, expires at).
    routed: Mutex<BTreeMap<String, Held>>,
}

/// A continuous symbol's held contract: (contract, month index, expires at).
type Held = (String, i64, DateTime<Utc>);

impl FrontMonthCache for MemoryFrontMonths {
    fn put<'a>(
        &'a self,
        front: &'a FrontMonth,
        expires_at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.entries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(front.root.clone(), (front.clone(), expires_at));
            Ok(())
        })
    }

    fn all(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<Vec<FrontMonth>, StoreError>> {
        Box::pin(async move {
            Ok(self
                .entries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .filter(|(_, until)| *until > now)
                .map(|(f, _)| f.clone())
                .collect())
        })
    }

    fn hold_forward<'a>(
        &'a self,
        symbol: &'a str,
        routed: Routed<'a>,
    ) -> BoxFuture<'a, Result<String, StoreError>> {
        Box::pin(async move {
            let mut held = self.routed.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((contract, month, until)) = held.get(symbol)
                && *month > routed.month
                && *until > routed.now
            {
                return Ok(contract.clone());
            }
            held.insert(
                symbol.to_owned(),
                (routed.contract.to_owned(), routed.month, routed.expires_at),
            );
            Ok(routed.contract.to_owned())
        })
    }
}

/// What the router routes continuous symbols with: root → leading contract, as of a time.
pub type Fronts = BTreeMap<String, FrontMonth>;

/// The fronts still trusted at `now` (answered within [`TRUSTED_FOR`]).
pub fn trusted(all: Vec<FrontMonth>, now: DateTime<Utc>) -> Fronts {
    all.into_iter()
        .filter(|f| now - f.as_of <= TRUSTED_FOR && f.as_of <= now + Duration::minutes(5))
        .map(|f| (f.root.clone(), f))
        .collect()
}
