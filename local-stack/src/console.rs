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
