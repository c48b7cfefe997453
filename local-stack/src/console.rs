//! The local stack's console: one line per signal and per order as they happen, written by a
//! journal decorator so it shows exactly what the journal records.

use shared::execution::{JournalError, OrderRecord, SignalRecord, SignalStatus, TradeJournal};
use shared::signal::SignalId;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Process-wide: a load run posts thousands of alerts and wants their lines gone.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences (or restores) the console lines for the whole process.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Prints one console line, formatted only when the console is not quiet (a load run posts
/// thousands of alerts a second and wants no formatting cost for lines nobody sees).
pub fn line(text: std::fmt::Arguments<'_>) {
    if quiet() {
        return;
    }
    // A signal's symbol and a refusal's reason came from an alert or a broker: escapes in
    // them are shown, not run by the terminal.
    let text = text.to_string();
    let text = shared::terminal::printable(&text);
    let mut out = std::io::stdout().lock();
    // The console is informational; a closed stdout must not stop trading.
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

#[derive(Debug)]
pub struct ConsoleJournal<J>(pub J);

fn print_signal(r: &SignalRecord) {
    if quiet()
        || matches!(
            r.status,
            SignalStatus::Received | SignalStatus::Routed | SignalStatus::Executing
        )
    {
        return;
    }
    let reason = r
        .reason
        .as_deref()
        .map(|x| format!(" ({x})"))
        .unwrap_or_default();
    line(format_args!(
        "signal {} {} {} on {} -> {}{}",
        &r.signal_id.as_str()[..12],
        r.action,
        r.symbol,
        r.broker.map(|b| b.to_string()).unwrap_or_default(),
        r.status.as_str(),
        reason
    ));
}

fn print_order(r: &OrderRecord) {
    if quiet() {
        return;
    }
    line(format_args!("{}", order_line(r)));
}

/// The console line of one order row.
fn order_line(r: &OrderRecord) -> String {
    let price = r.fill_price.map(|p| format!(" @ {p}")).unwrap_or_default();
    // A resend of a leg says so: it is the line a duplicate order would show up on.
    let attempt = if r.attempt > 1 {
        format!(" (attempt {})", r.attempt)
    } else {
        String::new()
    };
    // A leg this attempt did not send (no send time) was found at the broker: an earlier
    // attempt's order, before a restart or a failure, not a new one.
    let found = if r.sent_at.is_none() && r.broker_order_id.is_some() {
        " (found at the broker: sent by an earlier attempt, before a restart or a failure)"
    } else {
        ""
    };
    format!(
        "order  {} {} {} {}{} {} {}{} -> {:?}{found}",
        &r.signal_id.as_str()[..12],
        r.broker,
        r.instrument,
        r.leg.as_str(),
        attempt,
        r.side.as_str(),
        r.quantity,
        price,
        r.outcome
    )
}

impl<J: TradeJournal> TradeJournal for ConsoleJournal<J> {
    async fn upsert_signal(&self, r: &SignalRecord) -> Result<(), JournalError> {
        self.0.upsert_signal(r).await?;
        print_signal(r);
        Ok(())
    }

    async fn upsert_order(&self, r: &OrderRecord) -> Result<(), JournalError> {
        self.0.upsert_order(r).await?;
        print_order(r);
        Ok(())
    }

    async fn signal(&self, id: &SignalId) -> Result<Option<SignalRecord>, JournalError> {
        self.0.signal(id).await
    }

    async fn orders(&self, id: &SignalId) -> Result<Vec<OrderRecord>, JournalError> {
        self.0.orders(id).await
    }

    async fn record_execution(
        &self,
        signal: &SignalRecord,
        orders: &[OrderRecord],
    ) -> Result<(), JournalError> {
        self.0.record_execution(signal, orders).await?;
        print_signal(signal);
        orders.iter().for_each(print_order);
        Ok(())
    }
}

/// Called with every signal record the journal has just written, on the executor's task: lets
/// a load run see when each signal was filled. Keep it cheap.
#[derive(Clone)]
pub struct SignalObserver(pub Arc<dyn Fn(&SignalRecord) + Send + Sync>);

impl std::fmt::Debug for SignalObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignalObserver")
    }
}

/// A journal that tells an optional observer about each signal record after writing it.
#[derive(Debug)]
pub struct ObservedJournal<J> {
    pub inner: J,
    pub observer: Option<SignalObserver>,
}

impl<J: TradeJournal> TradeJournal for ObservedJournal<J> {
    async fn upsert_signal(&self, r: &SignalRecord) -> Result<(), JournalError> {
        self.inner.upsert_signal(r).await?;
        if let Some(o) = &self.observer {
            (o.0)(r);
        }
        Ok(())
    }

    async fn upsert_order(&self, r: &OrderRecord) -> Result<(), JournalError> {
        self.inner.upsert_order(r).await
    }

    async fn signal(&self, id: &SignalId) -> Result<Option<SignalRecord>, JournalError> {
        self.inner.signal(id).await
    }

    async fn orders(&self, id: &SignalId) -> Result<Vec<OrderRecord>, JournalError> {
        self.inner.orders(id).await
    }

    async fn record_execution(
        &self,
        signal: &SignalRecord,
        orders: &[OrderRecord],
    ) -> Result<(), JournalError> {
        self.inner.record_execution(signal, orders).await?;
        if let Some(o) = &self.observer {
            (o.0)(signal);
        }
        Ok(())
    }
}

/// The executors' idempotency records, saying on the console when a signal that already
/// executed comes back (TradingView resending an alert after the queue's five-minute
/// deduplication window, which no longer drops it; or a message redelivered after a restart
/// that ended between its completion and its removal): the executor acknowledges it without
/// trading, and nothing is journaled, so without this line nothing said why.
#[derive(Debug, Clone)]
pub struct AnnouncedClaims<S> {
    /// The records.
    pub claims: S,
    /// Where the line goes: [`line`], the console.
    pub say: fn(std::fmt::Arguments<'_>),
}

impl<S: shared::ports::IdempotencyStore> shared::ports::IdempotencyStore for AnnouncedClaims<S> {
    async fn claim(
        &self,
        key: &shared::ports::IdempotencyKey,
        now: chrono::DateTime<chrono::Utc>,
        lease_until: chrono::DateTime<chrono::Utc>,
    ) -> Result<shared::ports::Claim, shared::ports::StoreError> {
        let claim = self.claims.claim(key, now, lease_until).await?;
        if let shared::ports::Claim::Completed { outcome } = &claim {
            let id = key.signal_id.as_str();
            (self.say)(format_args!(
                "signal {} came again at {} and executed before ({}): a TradingView resend after \
                 the queue's 5-minute deduplication window, or a redelivery after a restart; \
                 acknowledged, not traded again",
                id.get(..12).unwrap_or(id),
                key.broker,
                outcome.as_str()
            ));
        }
        Ok(claim)
    }

    async fn complete(
        &self,
        key: &shared::ports::IdempotencyKey,
        outcome: shared::outcome::Outcome,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), shared::ports::StoreError> {
        self.claims.complete(key, outcome, expires_at).await
    }

    async fn release(
        &self,
        key: &shared::ports::IdempotencyKey,
        lease_until: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), shared::ports::StoreError> {
        self.claims.release(key, lease_until).await
    }

    async fn hand_over(
        &self,
        key: &shared::ports::IdempotencyKey,
        lease_until: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), shared::ports::StoreError> {
        self.claims.hand_over(key, lease_until, now).await
    }

    async fn advance(
        &self,
        key: &shared::ports::InstrumentKey,
        signal_time: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, shared::ports::StoreError> {
        self.claims.advance(key, signal_time).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use shared::execution::{ClientOrderId, Leg, Side};
    use shared::outcome::Outcome;
    use shared::routing::Broker;

    fn filled(sent: bool) -> OrderRecord {
        let id = SignalId::of_canonical("{\"a\":1}");
        OrderRecord {
            client_order_id: ClientOrderId::new(&id, Leg::Open),
            signal_id: id,
            broker: Broker::Oanda,
            account: "paper-oanda".into(),
            instrument: "EUR_USD".into(),
            leg: Leg::Open,
            attempt: 1,
            broker_order_id: Some("paper-7".into()),
            side: Side::Buy,
            quantity: 1000.into(),
            fill_price: Some(rust_decimal::Decimal::new(108345, 5)),
            outcome: Outcome::Filled,
            error: None,
            sent_at: sent.then(|| "2026-12-03T05:00:00Z".parse().unwrap()),
            acked_at: None,
            fee: None,
        }
    }

    /// A fill a takeover found at the broker (no send time: this attempt did not send it)
    /// reads as found, not as a new order sent after a restart.
    #[test]
    fn an_order_found_at_the_broker_says_so() {
        let sent = order_line(&filled(true));
        assert!(sent.ends_with("-> Filled"), "{sent}");
        let found = order_line(&filled(false));
        assert!(
            found.contains("-> Filled (found at the broker: sent by an earlier attempt"),
            "{found}"
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod announced_tests {
    use super::AnnouncedClaims;
    use shared::ports::{Claim, IdempotencyKey, IdempotencyStore};
    use std::sync::Mutex;

    static SAID: Mutex<Vec<String>> = Mutex::new(Vec::new());

    fn say(text: std::fmt::Arguments<'_>) {
        SAID.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text.to_string());
    }

    /// A claim that finds the signal completed (it came again after the queue's
    /// deduplication window) is said, with its outcome; a first claim is not.
    #[tokio::test]
    async fn a_signal_that_executed_before_is_said_when_it_comes_again() {
        let store = shared::memory::MemoryIdempotencyStore::default();
        let claims = AnnouncedClaims { claims: store, say };
        let t0 = shared::clock::test_epoch();
        let key = IdempotencyKey {
            broker: shared::routing::Broker::Oanda,
            account: "paper".into(),
            signal_id: shared::signal::SignalId::of_canonical("again"),
            signal_time: t0,
        };
        let lease = t0 + chrono::Duration::seconds(15);
        assert_eq!(claims.claim(&key, t0, lease).await, Ok(Claim::Acquired));
        assert!(SAID.lock().unwrap().is_empty());
        claims
            .complete(
                &key,
                shared::outcome::Outcome::Filled,
                t0 + chrono::Duration::days(1),
            )
            .await
            .unwrap();
        let later = t0 + chrono::Duration::minutes(6);
        assert!(matches!(
            claims
                .claim(&key, later, later + chrono::Duration::seconds(15))
                .await,
            Ok(Claim::Completed { .. })
        ));
        let said = SAID.lock().unwrap().clone();
        assert_eq!(said.len(), 1, "{said:?}");
        let id = key.signal_id.as_str();
        assert!(
            said[0].starts_with(&format!("signal {} came again at oanda", &id[..12]))
                && said[0].contains("executed before (filled)")
                && said[0].contains("or a redelivery after a restart")
                && said[0].contains("not traded again"),
            "{said:?}"
        );
    }
}
