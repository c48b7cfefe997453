//! The local stack's console: one line per signal and per order as they happen, written by a
//! journal decorator so it shows exactly what the journal records.

use shared::execution::{JournalError, OrderRecord, SignalRecord, SignalStatus, TradeJournal};
use shared::signal::SignalId;
use std::io::Write;

pub fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    // The console is informational; a closed stdout must not stop trading.
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

#[derive(Debug)]
pub struct ConsoleJournal<J>(pub J);

impl<J: TradeJournal> TradeJournal for ConsoleJournal<J> {
    async fn upsert_signal(&self, r: &SignalRecord) -> Result<(), JournalError> {
        self.0.upsert_signal(r).await?;
        if !matches!(
            r.status,
            SignalStatus::Received | SignalStatus::Routed | SignalStatus::Executing
        ) {
            let reason = r
                .reason
                .as_deref()
                .map(|x| format!(" ({x})"))
                .unwrap_or_default();
            line(&format!(
                "signal {} {} {} on {} -> {}{}",
                &r.signal_id.as_str()[..12],
                r.action,
                r.symbol,
                r.broker.map(|b| b.to_string()).unwrap_or_default(),
                r.status.as_str(),
                reason
            ));
        }
        Ok(())
    }

    async fn upsert_order(&self, r: &OrderRecord) -> Result<(), JournalError> {
        self.0.upsert_order(r).await?;
        let price = r.fill_price.map(|p| format!(" @ {p}")).unwrap_or_default();
        line(&format!(
            "order  {} {} {} {} {} {}{} -> {:?}",
            &r.signal_id.as_str()[..12],
            r.broker,
            r.instrument,
            r.leg.as_str(),
            r.side.as_str(),
            r.quantity,
            price,
            r.outcome
        ));
        Ok(())
    }

    async fn signal(&self, id: &SignalId) -> Result<Option<SignalRecord>, JournalError> {
        self.0.signal(id).await
    }

    async fn orders(&self, id: &SignalId) -> Result<Vec<OrderRecord>, JournalError> {
        self.0.orders(id).await
    }
}
