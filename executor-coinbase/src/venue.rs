//! Spot target semantics at Coinbase. A spot account holds the base currency or it does not:
//!
//! - `LONG_ENTRY` buys for the configured quote amount (market IOC, `quote_size`) unless the
//!   account already holds at least `base_min_size` of the base currency (less is dust);
//! - `SHORT_ENTRY`, `LONG_EXIT` and `FLATTEN` sell the whole available base balance (market
//!   IOC, `base_size`), rounded down to `base_increment`; below `base_min_size` there is
//!   nothing to sell and the signal is a journaled no-op;
//! - `SHORT_EXIT` is a no-op: spot holds no short.
//!
//! A signal sends at most one order: a buy is its `open` leg, a sell its `close` leg, each
//! with the deterministic client order id. An order whose outcome is unknown is looked up by
//! that id; only if Coinbase has no such order is it sent once more, with the same id (which
//! Coinbase documents as deduplicated anyway).

use crate::client::{CoinbaseClient, OrderAck, OrderSize};
use crate::error::CoinbaseError;
use crate::models::{Order, Product};
use chrono::{DateTime, Duration, Utc};
use executor_runtime::venue::{ExecRequest, Execution, LegReport, NothingSent, Venue};
use rust_decimal::Decimal;
use shared::alert::TargetPosition;
use shared::clock::Clock;
use shared::execution::{Leg, Side};
use shared::outcome::Outcome;
use shared::routing::Broker;
use tracing::{info, warn};

/// How far before a signal's receipt the order lookup starts listing: covers clock skew
/// between us and Coinbase; orders for a signal are never older than the signal.
const LOOKUP_MARGIN_MINUTES: i64 = 10;

#[derive(Debug)]
pub struct CoinbaseVenue<C> {
    client: CoinbaseClient,
    clock: C,
}

impl<C: Clock> CoinbaseVenue<C> {
    pub fn new(client: CoinbaseClient, clock: C) -> Self {
        Self { client, clock }
    }

    pub fn client(&self) -> &CoinbaseClient {
        &self.client
    }
}

/// `value` rounded down to a multiple of `increment`, in decimal arithmetic.
pub fn floor_to_increment(value: Decimal, increment: Decimal) -> Decimal {
    if increment <= Decimal::ZERO {
        return value;
    }
    ((value / increment).trunc() * increment).normalize()
}

/// The base and quote currencies of a product (`BTC-USD` → `BTC`, `USD`).
fn currencies(product: &Product) -> Option<(String, String)> {
    match (&product.base_currency_id, &product.quote_currency_id) {
        (Some(b), Some(q)) if !b.is_empty() && !q.is_empty() => Some((b.clone(), q.clone())),
        _ => product
            .product_id
            .split_once('-')
            .map(|(b, q)| (b.to_owned(), q.to_owned())),
    }
}

fn rejected(reason: String) -> Execution {
    Execution {
        outcome: Outcome::Rejected,
        legs: Vec::new(),
        reason: Some(reason),
    }
}

fn finish(report: LegReport) -> Execution {
    let reason = match report.outcome {
        Outcome::Filled | Outcome::NoOp => None,
        _ => report.error.clone(),
    };
    Execution {
        outcome: report.outcome,
        legs: vec![report],
        reason,
    }
}

impl<C: Clock> CoinbaseVenue<C> {
    /// The one leg a target needs on spot: buy (open) for a long, sell (close) otherwise.
    fn plan(target: TargetPosition) -> (Leg, Side) {
        match target {
            TargetPosition::Long => (Leg::Open, Side::Buy),
            _ => (Leg::Close, Side::Sell),
        }
    }

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

    fn since(req: &ExecRequest<'_>) -> DateTime<Utc> {
        req.intent.received_at.min(req.intent.signal_time)
            - Duration::minutes(LOOKUP_MARGIN_MINUTES)
    }

    /// The leg as the order Coinbase holds says it went. The quantity becomes the filled
    /// base size when Coinbase reports one.
    fn apply_order(&self, mut report: LegReport, order: &Order) -> LegReport {
        report.broker_order_id = Some(order.order_id.clone());
        report.acked_at = Some(self.clock.now());
        let filled = order.filled_size.unwrap_or_default();
        if filled > Decimal::ZERO {
            report.quantity = filled;
        }
        report.fill_price = order.average_filled_price.filter(|p| *p > Decimal::ZERO);
        match order.status.as_str() {
            "FILLED" => report.outcome = Outcome::Filled,
            // An IOC order may fill in part and cancel the rest: what filled is what counts.
            "CANCELLED" | "EXPIRED" if filled > Decimal::ZERO => {
                info!(
                    leg = report.leg.as_str(),
                    status = order.status.as_str(),
                    filled = %filled,
                    "IOC order filled in part; the rest was cancelled"
                );
                report.outcome = Outcome::Filled;
            }
            "CANCELLED" | "EXPIRED" | "FAILED" => {
                report.outcome = Outcome::Rejected;
                let why = [
                    &order.reject_reason,
                    &order.reject_message,
                    &order.cancel_message,
                ]
                .into_iter()
                .flatten()
                .filter(|s| {
                    !s.is_empty() && !s.starts_with("UNKNOWN_") && !s.ends_with("UNSPECIFIED")
                })
                .cloned()
                .collect::<Vec<_>>()
                .join(": ");
                report.error = Some(if why.is_empty() {
                    format!("order {} ended {} unfilled", order.order_id, order.status)
                } else {
                    format!("order {} ended {}: {why}", order.order_id, order.status)
                });
            }
            // Accepted and still working (OPEN, PENDING, QUEUED): Coinbase has it, and a
            // market IOC order does not stay there; the fill shows in the journal later.
            _ => report.outcome = Outcome::Filled,
        }
        report
    }

    /// After `success: true`: read the order for its fill; if that read fails the order is
    /// still accepted.
    async fn accepted(&self, mut report: LegReport, order_id: String) -> LegReport {
        report.broker_order_id = Some(order_id.clone());
        report.acked_at = Some(self.clock.now());
        report.outcome = Outcome::Filled;
        match self.client.settled_order(&order_id).await {
            Ok(Some(order)) => self.apply_order(report, &order),
            Ok(None) => {
                warn!(
                    leg = report.leg.as_str(),
                    "accepted order not readable yet; fill price unknown"
                );
                report
            }
            Err(e) => {
                warn!(leg = report.leg.as_str(), error = %e, "accepted order could not be read; fill price unknown");
                report
            }
        }
    }

    /// Sends the order once; on an unknown outcome looks it up by client order id, and
    /// resends once with the same id only if Coinbase has no such order.
    async fn send_leg(
        &self,
        req: &ExecRequest<'_>,
        mut report: LegReport,
        size: OrderSize,
    ) -> Result<LegReport, NothingSent> {
        let product = req.intent.instrument.as_str();
        let coid = report.client_order_id.to_string();
        let since = Self::since(req);
        for attempt in 1..=2 {
            let sent_at = self.clock.now();
            let err = match self
                .client
                .market_order(product, report.side, size, &coid)
                .await
            {
                Ok(OrderAck::Accepted { order_id }) => {
                    report.sent_at.get_or_insert(sent_at);
                    info!(
                        leg = report.leg.as_str(),
                        order_id = order_id.as_str(),
                        "order accepted"
                    );
                    return Ok(self.accepted(report, order_id).await);
                }
                Ok(OrderAck::Rejected { reason }) => {
                    report.sent_at.get_or_insert(sent_at);
                    report.acked_at = Some(self.clock.now());
                    report.outcome = Outcome::Rejected;
                    report.error = Some(reason);
                    return Ok(report);
                }
                // Refused before anything was created: definitive, and an operator must act.
                Err(e @ CoinbaseError::Auth { .. }) => {
                    report.sent_at.get_or_insert(sent_at);
                    report.acked_at = Some(self.clock.now());
                    report.outcome = Outcome::Rejected;
                    report.error = Some(e.to_string());
                    return Ok(report);
                }
                // Signing failed: the request never left.
                Err(e @ CoinbaseError::Key(_)) if report.sent_at.is_none() => {
                    return Err(NothingSent {
                        broker: Broker::Coinbase,
                        reason: e.to_string(),
                    });
                }
                Err(e) => {
                    report.sent_at.get_or_insert(sent_at);
                    e
                }
            };
            warn!(leg = report.leg.as_str(), attempt, error = %err, "order outcome unknown; looking it up by client order id");
            match self.client.order_by_client_id(product, &coid, since).await {
                Ok(Some(order)) => {
                    info!(leg = report.leg.as_str(), "order found by client order id");
                    return Ok(self.apply_order(report, &order));
                }
                Ok(None) if attempt == 1 => {
                    info!(
                        leg = report.leg.as_str(),
                        "Coinbase has no such order; resending once with the same client order id"
                    );
                }
                Ok(None) => {
                    report.error = Some(format!("not created after two sends: {err}"));
                    return Ok(report);
                }
                Err(lookup) => {
                    report.error = Some(format!("{err}; lookup failed: {lookup}"));
                    return Ok(report);
                }
            }
        }
        Ok(report)
    }
}

impl<C: Clock> Venue for CoinbaseVenue<C> {
    fn broker(&self) -> Broker {
        Broker::Coinbase
    }

    /// The key name: a CDP key belongs to one portfolio, so it names what is traded.
    fn account(&self) -> &str {
        self.client.key_name()
    }

    async fn execute(&self, req: &ExecRequest<'_>) -> Result<Execution, NothingSent> {
        let unreachable = |e: CoinbaseError| NothingSent {
            broker: Broker::Coinbase,
            reason: e.to_string(),
        };
        if req.intent.target == TargetPosition::NoShort {
            return Ok(Execution::no_op("spot holds no short: nothing to close"));
        }
        let product_id = req.intent.instrument.as_str();
        let (leg, side) = Self::plan(req.intent.target);
        if req.takeover || !req.may_send {
            let coid = req.client_order_id(leg);
            let found = self
                .client
                .order_by_client_id(product_id, coid.as_str(), Self::since(req))
                .await
                .map_err(unreachable)?;
            if let Some(order) = found {
                info!(
                    leg = leg.as_str(),
                    "previous attempt's order found by client order id"
                );
                let report = self.leg(req, leg, side, Decimal::ZERO);
                return Ok(finish(self.apply_order(report, &order)));
            }
            if !req.may_send {
                return Ok(Execution::no_op("no order was sent for this signal"));
            }
        }

        let product = match self.client.product(product_id).await {
            Ok(p) => p,
            Err(CoinbaseError::Api { status: 404, .. }) => {
                return Ok(rejected(format!("Coinbase has no product {product_id}")));
            }
            Err(e) => return Err(unreachable(e)),
        };
        if let Some(why) = product.not_tradable() {
            return Ok(rejected(why));
        }
        let Some((base, quote)) = currencies(&product) else {
            return Ok(rejected(format!("{product_id} is not BASE-QUOTE")));
        };
        let balances = self
            .client
            .available_balances()
            .await
            .map_err(unreachable)?;
        let held = balances.get(&base).copied().unwrap_or_default();

        let (size, quantity) = match side {
            Side::Buy => {
                if held > Decimal::ZERO && held >= product.base_min_size {
                    return Ok(Execution::no_op(format!(
                        "already holding {held} {base} (minimum size {})",
                        product.base_min_size
                    )));
                }
                let amount = floor_to_increment(req.quantity, product.quote_increment);
                if amount <= Decimal::ZERO || amount < product.quote_min_size {
                    return Ok(rejected(format!(
                        "quote amount {amount} {quote} is below {product_id}'s minimum {}",
                        product.quote_min_size
                    )));
                }
                if let Some(max) = product.quote_max_size
                    && max > Decimal::ZERO
                    && amount > max
                {
                    return Ok(rejected(format!(
                        "quote amount {amount} {quote} is over {product_id}'s maximum {max}"
                    )));
                }
                (OrderSize::Quote(amount), amount)
            }
            Side::Sell => {
                let size = floor_to_increment(held, product.base_increment);
                if size <= Decimal::ZERO || size < product.base_min_size {
                    return Ok(Execution::no_op(format!(
                        "{held} {base} available, {size} after rounding down to {}: below the minimum size {}, nothing to sell",
                        product.base_increment.normalize(),
                        product.base_min_size.normalize()
                    )));
                }
                (OrderSize::Base(size), size)
            }
        };
        let report = self.leg(req, leg, side, quantity);
        let report = self.send_leg(req, report, size).await?;
        Ok(finish(report))
    }
}

#[cfg(test)]
mod tests {
    use super::floor_to_increment;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or_default()
    }

    #[test]
    fn sizes_round_down_to_the_increment_never_up() {
        assert_eq!(
            floor_to_increment(d("0.123456789"), d("0.00000001")),
            d("0.12345678")
        );
        assert_eq!(floor_to_increment(d("0.56789"), d("0.0001")), d("0.5678"));
        assert_eq!(floor_to_increment(d("100.999"), d("0.01")), d("100.99"));
        assert_eq!(floor_to_increment(d("7"), d("5")), d("5"));
        assert_eq!(
            floor_to_increment(d("0.000000009"), d("0.00000001")),
            d("0")
        );
        assert_eq!(floor_to_increment(d("1.5"), d("0")), d("1.5"));
    }
}
