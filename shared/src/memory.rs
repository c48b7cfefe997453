//! In-process adapters of the execution ports, for fast tests and the local stack. They keep
//! the same contracts as the DynamoDB store and the SQL journal, which are tested against
//! moto and real databases.

use crate::execution::{JournalError, OrderRecord, SignalRecord, TradeJournal};
use crate::outcome::Outcome;
use crate::ports::{
    Claim, IdempotencyKey, IdempotencyStore, InstrumentKey, LeaseLock, Notification, Notifier,
    QueueError, StoreError, StoredToken, TokenStore,
};
use crate::replay::{AuditLog, ReplayAudit};
use crate::signal::SignalId;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Record {
    InProgress {
        lease_until: DateTime<Utc>,
    },
    Completed {
        outcome: Outcome,
        expires_at: DateTime<Utc>,
    },
}

/// [`IdempotencyStore`] in memory: the lease protocol of `DynamoIdempotencyStore`, and its
/// expiry: as DynamoDB's TTL deletes an item some time after its `expires_at` (a read may
/// still find it until then), completed records past `expires_at` are dropped once the map
/// has doubled since the last sweep, so memory stays bounded. Never fails.
#[derive(Debug, Default)]
pub struct MemoryIdempotencyStore {
    records: Mutex<HashMap<IdempotencyKey, Record>>,
    /// The number of records after the last sweep of expired ones.
    swept_at: Mutex<usize>,
    latest: Mutex<HashMap<InstrumentKey, DateTime<Utc>>>,
}

impl MemoryIdempotencyStore {
    /// The outcome a completed record holds.
    pub fn completed(&self, key: &IdempotencyKey) -> Option<Outcome> {
        match lock(&self.records).get(key) {
            Some(Record::Completed { outcome, .. }) => Some(*outcome),
            _ => None,
        }
    }
}

impl IdempotencyStore for MemoryIdempotencyStore {
    async fn claim(
        &self,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let mut records = lock(&self.records);
        // Drops expired records once the map has doubled since the last sweep: the cost stays
        // per claim on average.
        let swept = *lock(&self.swept_at);
        if records.len() >= 1024 && records.len() >= 2 * swept {
            records.retain(
                |_, r| !matches!(r, Record::Completed { expires_at, .. } if *expires_at <= now),
            );
            *lock(&self.swept_at) = records.len();
        }
        let claim = match records.get(key) {
            None => Claim::Acquired,
            Some(Record::Completed { outcome, .. }) => {
                return Ok(Claim::Completed { outcome: *outcome });
            }
            Some(Record::InProgress { lease_until: held }) if *held > now => {
                return Ok(Claim::Busy { lease_until: *held });
            }
            Some(Record::InProgress { .. }) => Claim::TakenOver,
        };
        records.insert(key.clone(), Record::InProgress { lease_until });
        Ok(claim)
    }

    async fn complete(
        &self,
        key: &IdempotencyKey,
        outcome: Outcome,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        lock(&self.records).insert(
            key.clone(),
            Record::Completed {
                outcome,
                expires_at,
            },
        );
        Ok(())
    }

    async fn release(&self, key: &IdempotencyKey, mine: DateTime<Utc>) -> Result<(), StoreError> {
        let mut records = lock(&self.records);
        if matches!(records.get(key), Some(Record::InProgress { lease_until }) if *lease_until == mine)
        {
            records.remove(key);
        }
        Ok(())
    }

    async fn hand_over(
        &self,
        key: &IdempotencyKey,
        mine: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut records = lock(&self.records);
        if let Some(Record::InProgress { lease_until }) = records.get_mut(key)
            && *lease_until == mine
        {
            *lease_until = now - crate::ports::HAND_OVER_SKEW;
        }
        Ok(())
    }

    async fn advance(
        &self,
        key: &InstrumentKey,
        signal_time: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut latest = lock(&self.latest);
        match latest.get(key) {
            Some(later) if *later > signal_time => Ok(Some(*later)),
            _ => {
                latest.insert(key.clone(), signal_time);
                Ok(None)
            }
        }
    }
}

/// A journal in memory, with a switch to simulate an outage.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    signals: Mutex<HashMap<SignalId, SignalRecord>>,
    orders: Mutex<Vec<OrderRecord>>,
    audits: Mutex<Vec<ReplayAudit>>,
    down: Mutex<bool>,
}

impl MemoryJournal {
    /// Simulates an outage: while `down` is true, every journal read and write (replay audit
    /// lines included) fails with a [`JournalError`].
    pub fn set_down(&self, down: bool) {
        *lock(&self.down) = down;
    }

    fn check(&self) -> Result<(), JournalError> {
        if *lock(&self.down) {
            Err(JournalError {
                reason: "journal outage (simulated)".into(),
            })
        } else {
            Ok(())
        }
    }

    /// Every signal record, oldest `received` first. Works during a simulated outage.
    pub fn all_signals(&self) -> Vec<SignalRecord> {
        let mut out: Vec<_> = lock(&self.signals).values().cloned().collect();
        out.sort_by_key(|s| s.stages.received);
        out
    }

    /// Every replay audit line, in the order recorded.
    pub fn replay_audits(&self) -> Vec<ReplayAudit> {
        lock(&self.audits).clone()
    }

    /// Every order record (one per signal, broker, account, leg and attempt), in the order first
    /// written; an upsert replaces a row in place.
    pub fn all_orders(&self) -> Vec<OrderRecord> {
        lock(&self.orders).clone()
    }
}

impl TradeJournal for MemoryJournal {
    async fn upsert_signal(&self, record: &SignalRecord) -> Result<(), JournalError> {
        self.check()?;
        lock(&self.signals).insert(record.signal_id.clone(), record.clone());
        Ok(())
    }

    async fn upsert_order(&self, record: &OrderRecord) -> Result<(), JournalError> {
        self.check()?;
        let mut orders = lock(&self.orders);
        let same = |o: &&mut OrderRecord| {
            o.signal_id == record.signal_id
                && o.broker == record.broker
                && o.account == record.account
                && o.leg == record.leg
                && o.attempt == record.attempt
        };
        match orders.iter_mut().find(|o| same(o)) {
            Some(existing) => *existing = existing.overwritten_by(record.clone()),
            None => orders.push(record.clone()),
        }
        Ok(())
    }

    async fn signal(&self, id: &SignalId) -> Result<Option<SignalRecord>, JournalError> {
        self.check()?;
        Ok(lock(&self.signals).get(id).cloned())
    }

    async fn orders(&self, id: &SignalId) -> Result<Vec<OrderRecord>, JournalError> {
        self.check()?;
        let mut out: Vec<_> = lock(&self.orders)
            .iter()
            .filter(|o| &o.signal_id == id)
            .cloned()
            .collect();
        out.sort_by_key(|o| (o.leg, o.attempt));
        Ok(out)
    }
}

impl AuditLog for MemoryJournal {
    async fn record_replay(&self, audit: &ReplayAudit) -> Result<(), JournalError> {
        self.check()?;
        lock(&self.audits).push(audit.clone());
        Ok(())
    }
}

/// Tokens in memory, counting saves.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<HashMap<String, StoredToken>>,
    stops: Mutex<HashMap<String, DateTime<Utc>>>,
    saves: Mutex<usize>,
}

impl MemoryTokenStore {
    /// How many times [`TokenStore::save`] and [`TokenStore::save_stop`] have been called.
    pub fn saves(&self) -> usize {
        *lock(&self.saves)
    }
}

impl TokenStore for MemoryTokenStore {
    async fn load(&self, name: &str) -> Result<Option<StoredToken>, StoreError> {
        let stop = lock(&self.stops).get(name).copied();
        Ok(lock(&self.tokens).get(name).map(|t| StoredToken {
            stopped_until: stop,
            ..t.clone()
        }))
    }

    async fn save(&self, name: &str, token: &StoredToken) -> Result<(), StoreError> {
        lock(&self.tokens).insert(name.to_owned(), token.clone());
        *lock(&self.saves) += 1;
        Ok(())
    }

    async fn load_stop(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(lock(&self.stops).get(name).copied())
    }

    async fn save_stop(&self, name: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        let mut stops = lock(&self.stops);
        let stop = stops.entry(name.to_owned()).or_insert(until);
        if *stop < until || *stop > until + crate::ports::STOP_OVERWRITE_MARGIN {
            *stop = until;
        }
        *lock(&self.saves) += 1;
        Ok(())
    }
}

/// Named leases in memory.
#[derive(Debug, Default)]
pub struct MemoryLeaseLock(Mutex<HashMap<String, (String, DateTime<Utc>)>>);

impl LeaseLock for MemoryLeaseLock {
    async fn acquire(
        &self,
        name: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut held = lock(&self.0);
        match held.get(name) {
            Some((holder, until)) if holder != owner && *until > now => Ok(false),
            _ => {
                held.insert(name.to_owned(), (owner.to_owned(), lease_until));
                Ok(true)
            }
        }
    }

    async fn release(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        let mut held = lock(&self.0);
        if held.get(name).is_some_and(|(holder, _)| holder == owner) {
            held.remove(name);
        }
        Ok(())
    }
}

/// Keeps every notification, for tests and the local stack's console.
#[derive(Debug, Default)]
pub struct MemoryNotifier(Mutex<Vec<Notification>>);

impl MemoryNotifier {
    /// Every notification received so far, oldest first.
    pub fn sent(&self) -> Vec<Notification> {
        lock(&self.0).clone()
    }
}

impl Notifier for MemoryNotifier {
    async fn notify(&self, note: Notification) -> Result<(), QueueError> {
        lock(&self.0).push(note);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::Broker;
    use chrono::Duration;

    fn key() -> IdempotencyKey {
        IdempotencyKey {
            broker: Broker::Oanda,
            account: "101-004-1-001".into(),
            signal_id: SignalId::of_canonical("{}"),
            signal_time: "2026-11-23T14:32:00Z".parse().unwrap(),
        }
    }

    #[tokio::test]
    async fn completed_records_expire_and_are_dropped() {
        let store = MemoryIdempotencyStore::default();
        let t0: DateTime<Utc> = "2026-11-23T14:32:00Z".parse().unwrap();
        let expires = t0 + Duration::days(7);
        let k = |n: usize| IdempotencyKey {
            signal_id: SignalId::of_canonical(&n.to_string()),
            ..key()
        };
        for n in 0..2_000 {
            store.claim(&k(n), t0, t0).await.unwrap();
            store
                .complete(&k(n), Outcome::Filled, expires)
                .await
                .unwrap();
        }
        assert_eq!(
            store.claim(&k(1), t0, t0).await.unwrap(),
            Claim::Completed {
                outcome: Outcome::Filled
            }
        );
        // Claims after the expiry sweep the expired records away: memory stays bounded, and a
        // swept signal's id is new again (as after DynamoDB's TTL deletion).
        for n in 2_000..4_100 {
            store.claim(&k(n), expires, expires).await.unwrap();
        }
        assert!(
            lock(&store.records).len() < 4_000,
            "expired records were dropped"
        );
        assert_eq!(
            store.claim(&k(1), expires, expires).await.unwrap(),
            Claim::Acquired
        );
    }

    #[tokio::test]
    async fn claim_follows_the_lease_protocol() {
        let store = MemoryIdempotencyStore::default();
        let t0: DateTime<Utc> = "2026-11-23T14:32:00Z".parse().unwrap();
        let lease = t0 + Duration::seconds(60);
        assert_eq!(
            store.claim(&key(), t0, lease).await.unwrap(),
            Claim::Acquired
        );
        assert_eq!(
            store.claim(&key(), t0, lease).await.unwrap(),
            Claim::Busy { lease_until: lease }
        );
        let later = lease + Duration::seconds(1);
        assert_eq!(
            store
                .claim(&key(), later, later + Duration::seconds(60))
                .await
                .unwrap(),
            Claim::TakenOver
        );
        // The first attempt, run past its lease, releases: the taker's claim stays.
        store.release(&key(), lease).await.unwrap();
        assert_eq!(
            store.claim(&key(), later, later).await.unwrap(),
            Claim::Busy {
                lease_until: later + Duration::seconds(60)
            },
            "a stale release dropped a later attempt's claim"
        );
        store
            .complete(&key(), Outcome::Filled, later + Duration::days(7))
            .await
            .unwrap();
        assert_eq!(
            store.claim(&key(), later, later).await.unwrap(),
            Claim::Completed {
                outcome: Outcome::Filled
            }
        );
        store.release(&key(), later).await.unwrap();
        assert_eq!(
            store.completed(&key()),
            Some(Outcome::Filled),
            "release must not drop a completed record"
        );
    }

    #[tokio::test]
    async fn the_journal_keeps_a_row_per_attempt_of_a_leg() {
        use crate::execution::{ClientOrderId, Leg, Side};
        let id = SignalId::of_canonical("{}");
        let send = |leg, attempt, outcome| OrderRecord {
            signal_id: id.clone(),
            broker: Broker::Oanda,
            account: "101-004-1-001".into(),
            instrument: "EUR_USD".into(),
            leg,
            attempt,
            client_order_id: ClientOrderId::new(&id, leg),
            broker_order_id: None,
            side: Side::Buy,
            quantity: 1000.into(),
            fill_price: None,
            outcome,
            error: None,
            sent_at: None,
            acked_at: None,
            fee: None,
        };
        let journal = MemoryJournal::default();
        for record in [
            send(Leg::Open, 2, Outcome::Unknown),
            send(Leg::Open, 1, Outcome::Unknown),
            send(Leg::Close, 1, Outcome::Filled),
            send(Leg::Open, 2, Outcome::Filled),
        ] {
            journal.upsert_order(&record).await.unwrap();
        }
        assert_eq!(
            journal.orders(&id).await.unwrap(),
            [
                send(Leg::Close, 1, Outcome::Filled),
                send(Leg::Open, 1, Outcome::Unknown),
                send(Leg::Open, 2, Outcome::Filled),
            ]
        );
    }
}
