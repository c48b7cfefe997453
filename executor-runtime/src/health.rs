//! Broker health recorded around a venue, for the status endpoints.
//!
//! A decorator rather than a step of the processor: health is about the broker conversation,
//! and a failure to record it must never change what happens to the signal.

use crate::venue::{ExecRequest, Execution, NothingSent, Venue};
use shared::clock::Clock;
use shared::health::{FailureKind, HealthEvent, HealthStore};
use shared::outcome::Outcome;
use shared::routing::Broker;
use tracing::warn;

/// `venue` with each execution's result written to `health`.
#[derive(Debug, Clone)]
pub struct Recorded<V, H, C> {
    /// The venue that trades; its results pass through unchanged.
    pub venue: V,
    /// The store the status endpoints read; a failed write is logged, never returned.
    pub health: H,
    /// Stamps each recorded event (UTC).
    pub clock: C,
}

/// What an execution says about the broker path; `None` when the broker was not asked
/// (nothing to learn) or said nothing about itself.
pub fn health_event(result: &Result<Execution, NothingSent>) -> Option<HealthEvent> {
    match result {
        // The executor's own order check failed (its store): nothing about the broker.
        Err(e) if e.order_check => None,
        Err(_) => Some(HealthEvent::Failure(FailureKind::Unavailable)),
        // The trader's own rule stopped it (a root's roll policy), after reads that answered.
        Ok(e) if e.stopped_by_policy => None,
        Ok(e) => outcome_event(e.outcome),
    }
}

/// What a signal's outcome says about its broker path; `None` for the outcomes the broker
/// had no part in (a local refusal, a stale or superseded signal). Also how the local stack
/// gives its status routes back the health the journal's signals show after a restart.
pub fn outcome_event(outcome: Outcome) -> Option<HealthEvent> {
    match outcome {
        Outcome::Filled | Outcome::NoOp => Some(HealthEvent::Success),
        Outcome::Rejected => Some(HealthEvent::Failure(FailureKind::Rejected)),
        Outcome::Unknown => Some(HealthEvent::Failure(FailureKind::Unknown)),
        // The broker answered (a rate limit): the path works, but is throttled.
        Outcome::NotExecuted => Some(HealthEvent::Failure(FailureKind::Unavailable)),
        Outcome::Refused | Outcome::Expired | Outcome::Superseded => None,
    }
}

impl<V: Venue, H: HealthStore, C: Clock> Venue for Recorded<V, H, C> {
    fn broker(&self) -> Broker {
        self.venue.broker()
    }

    fn account(&self) -> &str {
        self.venue.account()
    }

    async fn execute(&self, req: &ExecRequest<'_>) -> Result<Execution, NothingSent> {
        let result = self.venue.execute(req).await;
        if let Some(event) = health_event(&result)
            && let Err(e) = self
                .health
                .record(self.venue.broker(), self.clock.now(), event)
                .await
        {
            warn!(signal_id = %req.intent.signal_id, error = %e, "broker health not recorded");
        }
        result
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::venue::LegReport;
    use chrono::{DateTime, Utc};
    use rust_decimal::Decimal;
    use shared::clock::ManualClock;
    use shared::health::{HealthState, MemoryHealth};
    use shared::message::OrderIntent;
    use std::sync::Mutex;

    /// Answers with whatever the test queued.
    struct Scripted(Mutex<Vec<Result<Execution, NothingSent>>>);

    impl Venue for Scripted {
        fn broker(&self) -> Broker {
            Broker::Oanda
        }
        fn account(&self) -> &str {
            "acct"
        }
        async fn execute(&self, _: &ExecRequest<'_>) -> Result<Execution, NothingSent> {
            self.0.lock().unwrap().remove(0)
        }
    }

    fn intent(t: DateTime<Utc>) -> OrderIntent {
        OrderIntent {
            version: 1,
            signal_id: shared::SignalId::of_canonical("x"),
            broker: Broker::Oanda,
            instrument: shared::Instrument::new("EUR_USD"),
            action: shared::Action::LongEntry,
            target: shared::Action::LongEntry.target(),
            symbol: "EURUSD".into(),
            exchange: "OANDA".into(),
            reference_price: Decimal::ONE,
            quantity_override: None,
            signal_time: t,
            received_at: t,
            enqueued_at: t,
            routed_at: t,
            contract: None,
            raw: "{}".into(),
            replay_forced: false,
        }
    }

    fn with(outcome: Outcome) -> Result<Execution, NothingSent> {
        Ok(Execution {
            outcome,
            legs: Vec::<LegReport>::new(),
            reason: None,
            stopped_by_policy: false,
            alarmed: false,
            at_target: false,
        })
    }

    #[tokio::test]
    async fn each_result_moves_the_brokers_health_and_the_result_passes_through() {
        let t0: DateTime<Utc> = "2026-11-23T14:00:00Z".parse().unwrap();
        let clock = ManualClock::new(t0);
        let recorded = Recorded {
            venue: Scripted(Mutex::new(vec![
                with(Outcome::Filled),
                Err(NothingSent {
                    broker: Broker::Oanda,
                    reason: "the signal order could not be checked".into(),
                    order_check: true,
                }),
                with(Outcome::Unknown),
                with(Outcome::Refused),
                Err(NothingSent {
                    broker: Broker::Oanda,
                    reason: "connection refused".into(),
                    order_check: false,
                }),
                with(Outcome::NoOp),
            ])),
            health: MemoryHealth::default(),
            clock: clock.clone(),
        };
        let i = intent(t0);
        let req = ExecRequest {
            intent: &i,
            size: crate::venue::Size::Quantity(Decimal::ONE),
            deadline: t0 + chrono::Duration::seconds(30),
            max_notional: crate::risk::DEFAULT_MAX_NOTIONAL,
            max_position: None,
            takeover: false,
            may_send: true,
            refused: None,
            gate: None,
            journaled: &[],
        };
        let mut states = Vec::new();
        for _ in 0..6 {
            clock.advance(chrono::Duration::seconds(1));
            let r = recorded.execute(&req).await;
            let h = recorded.health.read(Broker::Oanda).await.unwrap();
            states.push((r.is_ok(), h.state(clock.now()), h.last_failure_kind));
        }
        use FailureKind::*;
        assert_eq!(
            states,
            [
                (true, HealthState::Ok, None),
                // The executor's own order check failed: nothing about the broker.
                (false, HealthState::Ok, None),
                (true, HealthState::Degraded, Some(Unknown)),
                // A local refusal says nothing about the broker.
                (true, HealthState::Degraded, Some(Unknown)),
                (false, HealthState::Degraded, Some(Unavailable)),
                (true, HealthState::Ok, Some(Unavailable)),
            ]
        );
    }
}
