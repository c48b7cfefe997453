//! Target semantics at OANDA. Reads the position, closes only the side that exists, confirms
//! the close by reading the position again, then opens with `REDUCE_FIRST`. An order request
//! whose outcome is unknown is looked up by its client id; only if OANDA has no such order is
//! it sent once more, with the same client id.

use crate::client::{Holdings, LookedUp, OandaClient, OrderResult, PositionSideKind};
use crate::error::OandaError;
use executor_runtime::venue::{ExecRequest, Execution, LegReport, NothingSent, Venue};
use rust_decimal::Decimal;
use shared::alert::TargetPosition;
use shared::clock::Clock;
use shared::execution::{Leg, Side};
use shared::outcome::Outcome;
use shared::routing::Broker;
use tracing::{info, warn};

#[derive(Debug)]
pub struct OandaVenue<C> {
    client: OandaClient,
    clock: C,
}

impl<C: Clock> OandaVenue<C> {
    pub fn new(client: OandaClient, clock: C) -> Self {
        Self { client, clock }
    }
}

/// How far one leg got.
enum Step {
    Done(LegReport),
    /// Stop here with this outcome (a reject, or still unknown after lookup).
    Stop(LegReport),
}

impl<C: Clock> OandaVenue<C> {
    fn leg(&self, req: &ExecRequest<'_>, leg: Leg, side: Side, quantity: Decimal) -> LegReport {
        LegReport {
            leg,
            side,
            quantity,
            client_order_id: req.client_order_id(leg),
            broker_order_id: None,
            fill_price: None,
            outcome: Outcome::Unknown,
            error: None,
            sent_at: None,
            acked_at: None,
        }
    }

    fn apply(&self, mut report: LegReport, result: &OrderResult) -> Step {
        report.acked_at = Some(self.clock.now());
        match result {
            OrderResult::Filled {
                order_id,
                units,
                price,
            } => {
                report.broker_order_id = Some(order_id.clone());
                report.fill_price = *price;
                if let Some(u) = units {
                    report.quantity = u.abs();
                }
                report.outcome = Outcome::Filled;
                Step::Done(report)
            }
            OrderResult::Cancelled { order_id, reason } => {
                report.broker_order_id = Some(order_id.clone());
                report.outcome = Outcome::Rejected;
                report.error = Some(reason.clone());
                Step::Stop(report)
            }
            OrderResult::Rejected { reason } => {
                report.outcome = Outcome::Rejected;
                report.error = Some(reason.clone());
                Step::Stop(report)
            }
            OrderResult::NothingToClose => {
                report.outcome = Outcome::NoOp;
                Step::Done(report)
            }
        }
    }

    fn from_lookup(found: LookedUp) -> OrderResult {
        match found {
            LookedUp::Filled {
                order_id,
                units,
                price,
            } => OrderResult::Filled {
                order_id,
                units,
                price,
            },
            LookedUp::Cancelled { order_id, reason } => OrderResult::Cancelled { order_id, reason },
            // A FOK order still open is not a state we can act on.
            LookedUp::Open { order_id, state } => OrderResult::Cancelled {
                order_id,
                reason: format!("order left {state}"),
            },
        }
    }

    /// Sends one order request; on an unknown outcome looks it up, and resends once with the
    /// same client id only if OANDA never created it.
    async fn send_leg<F, Fut>(&self, mut report: LegReport, send: F) -> Step
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<OrderResult, OandaError>>,
    {
        let coid = report.client_order_id.to_string();
        for attempt in 1..=2 {
            report.sent_at.get_or_insert(self.clock.now());
            let err = match send().await {
                Ok(result) => return self.apply(report, &result),
                Err(e) => e,
            };
            warn!(leg = report.leg.as_str(), attempt, error = %err, "order outcome unknown; looking it up");
            match self.client.order_by_client_id(&coid).await {
                Ok(Some(found)) => {
                    info!(leg = report.leg.as_str(), "order found by client id");
                    return self.apply(report, &Self::from_lookup(found));
                }
                Ok(None) if attempt == 1 => {
                    info!(
                        leg = report.leg.as_str(),
                        "OANDA has no such order; resending once with the same client id"
                    );
                }
                Ok(None) => {
                    report.error = Some(format!("not created after two sends: {err}"));
                    return Step::Stop(report);
                }
                Err(lookup) => {
                    report.error = Some(format!("{err}; lookup failed: {lookup}"));
                    return Step::Stop(report);
                }
            }
        }
        Step::Stop(report)
    }

    async fn close(
        &self,
        req: &ExecRequest<'_>,
        leg: Leg,
        side: PositionSideKind,
        units: Decimal,
    ) -> Step {
        let trade_side = match side {
            PositionSideKind::Long => Side::Sell,
            PositionSideKind::Short => Side::Buy,
        };
        let report = self.leg(req, leg, trade_side, units.abs());
        let instrument = req.intent.instrument.as_str();
        let coid = report.client_order_id.to_string();
        self.send_leg(report, || {
            self.client.close_position(instrument, side, &coid)
        })
        .await
    }

    async fn open(&self, req: &ExecRequest<'_>, side: Side) -> Step {
        let report = self.leg(req, Leg::Open, side, req.quantity);
        let units = match side {
            Side::Buy => req.quantity,
            Side::Sell => -req.quantity,
        };
        let instrument = req.intent.instrument.as_str();
        let coid = report.client_order_id.to_string();
        self.send_leg(report, || {
            self.client.market_order(instrument, units, &coid)
        })
        .await
    }

    async fn holdings(&self, req: &ExecRequest<'_>) -> Result<Holdings, OandaError> {
        self.client.position(req.intent.instrument.as_str()).await
    }

    /// After a takeover: what did the previous attempt get done?
    async fn recover(&self, req: &ExecRequest<'_>) -> Result<Vec<LegReport>, OandaError> {
        let mut legs = Vec::new();
        for leg in [Leg::Close, Leg::CloseHedge, Leg::Open] {
            let coid = req.client_order_id(leg);
            if let Some(found) = self.client.order_by_client_id(coid.as_str()).await? {
                // Side is not in the lookup; it follows from the target and the leg (a hedged
                // FLATTEN closes the long side first, so its second close buys).
                let side = match (leg, req.intent.target) {
                    (Leg::Open, TargetPosition::Long)
                    | (Leg::Close, TargetPosition::Short | TargetPosition::NoShort)
                    | (Leg::CloseHedge, _) => Side::Buy,
                    _ => Side::Sell,
                };
                let quantity = if leg == Leg::Open {
                    req.quantity
                } else {
                    Decimal::ZERO
                };
                let report = self.leg(req, leg, side, quantity);
                let (Step::Done(r) | Step::Stop(r)) = self.apply(report, &Self::from_lookup(found));
                legs.push(r);
            }
        }
        Ok(legs)
    }
}

fn finish(legs: Vec<LegReport>, stopped: Option<&LegReport>) -> Execution {
    let outcome = match stopped {
        Some(r) => r.outcome,
        None if legs.iter().any(|l| l.outcome == Outcome::Filled) => Outcome::Filled,
        None => Outcome::NoOp,
    };
    let reason = stopped.and_then(|r| r.error.clone());
    Execution {
        outcome,
        legs,
        reason,
    }
}

impl<C: Clock> Venue for OandaVenue<C> {
    fn broker(&self) -> Broker {
        Broker::Oanda
    }

    fn account(&self) -> &str {
        self.client.account()
    }

    async fn execute(&self, req: &ExecRequest<'_>) -> Result<Execution, NothingSent> {
        let unreachable = |e: OandaError| NothingSent {
            broker: Broker::Oanda,
            reason: e.to_string(),
        };
        let mut legs = Vec::new();
        if req.takeover {
            legs = self.recover(req).await.map_err(unreachable)?;
            // The open leg (or a hedged FLATTEN's second close) is the last request a signal
            // makes: if OANDA has it, we are done.
            if let Some(open) = legs
                .iter()
                .find(|l| matches!(l.leg, Leg::Open | Leg::CloseHedge))
            {
                let stopped = (open.outcome != Outcome::Filled).then(|| open.clone());
                return Ok(finish(legs, stopped.as_ref()));
            }
            if let Some(close) = legs.iter().find(|l| l.outcome == Outcome::Rejected) {
                let close = close.clone();
                return Ok(finish(legs, Some(&close)));
            }
        }
        if !req.may_send {
            return Ok(finish(legs, None));
        }
        let held = self.holdings(req).await.map_err(unreachable)?;
        let zero = Decimal::ZERO;
        let (close_side, open_side) = match req.intent.target {
            TargetPosition::Long => (
                (held.short < zero).then_some(PositionSideKind::Short),
                (held.long <= zero).then_some(Side::Buy),
            ),
            TargetPosition::Short => (
                (held.long > zero).then_some(PositionSideKind::Long),
                (held.short >= zero).then_some(Side::Sell),
            ),
            TargetPosition::NoLong => ((held.long > zero).then_some(PositionSideKind::Long), None),
            TargetPosition::NoShort => {
                ((held.short < zero).then_some(PositionSideKind::Short), None)
            }
            TargetPosition::Flat => {
                // Netting accounts hold one side; a hedging account may hold both, closed one
                // request at a time (the first here, the other by the same logic below).
                if held.long > zero {
                    (Some(PositionSideKind::Long), None)
                } else {
                    ((held.short < zero).then_some(PositionSideKind::Short), None)
                }
            }
        };
        if close_side.is_none() && open_side.is_none() {
            return Ok(Execution::no_op(format!(
                "already at target {:?} (long {}, short {})",
                req.intent.target, held.long, held.short
            )));
        }
        if let Some(side) = close_side {
            let units = match side {
                PositionSideKind::Long => held.long,
                PositionSideKind::Short => held.short,
            };
            // A takeover of a hedged FLATTEN whose first close went through: what is left is
            // the other side, under its own client id.
            let leg = if req.intent.target == TargetPosition::Flat
                && legs
                    .iter()
                    .any(|l| l.leg == Leg::Close && l.outcome == Outcome::Filled)
            {
                Leg::CloseHedge
            } else {
                Leg::Close
            };
            match self.close(req, leg, side, units).await {
                Step::Done(report) => {
                    legs.retain(|l| l.leg != leg);
                    legs.push(report);
                }
                Step::Stop(report) => {
                    legs.retain(|l| l.leg != leg);
                    legs.push(report.clone());
                    return Ok(finish(legs, Some(&report)));
                }
            }
            // Never both directions at once: the open waits until the close shows in the position.
            let after = match self.holdings(req).await {
                Ok(h) => h,
                Err(e) => {
                    return Ok(unknown(
                        legs,
                        format!("close sent, position unreadable: {e}"),
                    ));
                }
            };
            let still = match side {
                PositionSideKind::Long => after.long > zero,
                PositionSideKind::Short => after.short < zero,
            };
            if still {
                return Ok(unknown(
                    legs,
                    format!(
                        "close not confirmed: long {}, short {}",
                        after.long, after.short
                    ),
                ));
            }
            if req.intent.target == TargetPosition::Flat
                && leg == Leg::Close
                && (after.long > zero || after.short < zero)
            {
                let other = if after.long > zero {
                    PositionSideKind::Long
                } else {
                    PositionSideKind::Short
                };
                let units = if after.long > zero {
                    after.long
                } else {
                    after.short
                };
                match self.close(req, Leg::CloseHedge, other, units).await {
                    Step::Done(report) => legs.push(report),
                    Step::Stop(report) => {
                        legs.push(report.clone());
                        return Ok(finish(legs, Some(&report)));
                    }
                }
            }
        }
        if let Some(side) = open_side {
            match self.open(req, side).await {
                Step::Done(report) => legs.push(report),
                Step::Stop(report) => {
                    legs.push(report.clone());
                    return Ok(finish(legs, Some(&report)));
                }
            }
        }
        Ok(finish(legs, None))
    }
}

fn unknown(legs: Vec<LegReport>, reason: String) -> Execution {
    Execution {
        outcome: Outcome::Unknown,
        legs,
        reason: Some(reason),
    }
}
