//! Paper brokers for the local stack and the simulation: the same [`Venue`] port as the real
//! brokers, filling every order at the alert's close.
//!
//! `PaperNetting` holds one net position per instrument (OANDA and Tradovate accounts here
//! never hold both directions). `PaperSpot` holds wallet balances per currency (Coinbase):
//! buys spend the configured quote amount, sells sell the whole base balance.

use crate::venue::{ExecRequest, Execution, LegReport, NothingSent, Venue};
use rust_decimal::Decimal;
use shared::alert::TargetPosition;
use shared::execution::{Leg, Side};
use shared::outcome::Outcome;
use shared::routing::Broker;
use std::collections::BTreeMap;
use std::sync::Mutex;

fn leg(req: &ExecRequest<'_>, leg: Leg, side: Side, quantity: Decimal, id: u64) -> LegReport {
    LegReport {
        leg,
        side,
        quantity,
        client_order_id: req.client_order_id(leg),
        broker_order_id: Some(format!("paper-{id}")),
        fill_price: Some(req.intent.reference_price),
        outcome: Outcome::Filled,
        error: None,
        sent_at: None,
        acked_at: None,
    }
}

#[derive(Debug, Default)]
struct Book {
    positions: BTreeMap<String, Decimal>,
    orders: u64,
    /// Client order ids already filled: a takeover finds them instead of trading again.
    filled: BTreeMap<String, LegReport>,
}

#[derive(Debug)]
pub struct PaperNetting {
    broker: Broker,
    account: String,
    book: Mutex<Book>,
}

impl PaperNetting {
    pub fn new(broker: Broker, account: impl Into<String>) -> Self {
        Self {
            broker,
            account: account.into(),
            book: Mutex::new(Book::default()),
        }
    }

    pub fn positions(&self) -> BTreeMap<String, Decimal> {
        self.book
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .positions
            .clone()
    }

    pub fn orders(&self) -> u64 {
        self.book.lock().unwrap_or_else(|e| e.into_inner()).orders
    }
}

impl Venue for PaperNetting {
    fn broker(&self) -> Broker {
        self.broker
    }

    fn account(&self) -> &str {
        &self.account
    }

    async fn execute(&self, req: &ExecRequest<'_>) -> Result<Execution, NothingSent> {
        let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        let mut legs: Vec<LegReport> = [Leg::Close, Leg::Open]
            .iter()
            .filter_map(|l| book.filled.get(req.client_order_id(*l).as_str()).cloned())
            .collect();
        if legs.iter().any(|l| l.leg == Leg::Open) || !req.may_send {
            let outcome = if legs.is_empty() {
                Outcome::NoOp
            } else {
                Outcome::Filled
            };
            return Ok(Execution {
                outcome,
                legs,
                reason: None,
            });
        }
        let name = req.intent.instrument.to_string();
        let net = book.positions.get(&name).copied().unwrap_or_default();
        let zero = Decimal::ZERO;
        let (close, open) = match req.intent.target {
            TargetPosition::Long => (net < zero, (net <= zero).then_some(req.quantity)),
            TargetPosition::Short => (net > zero, (net >= zero).then_some(-req.quantity)),
            TargetPosition::NoLong => (net > zero, None),
            TargetPosition::NoShort => (net < zero, None),
            TargetPosition::Flat => (net != zero, None),
        };
        if !close && open.is_none() {
            return Ok(Execution::no_op(format!(
                "already at target {:?} (net {net})",
                req.intent.target
            )));
        }
        if close && !legs.iter().any(|l| l.leg == Leg::Close) {
            book.orders += 1;
            let side = if net > zero { Side::Sell } else { Side::Buy };
            let report = leg(req, Leg::Close, side, net.abs(), book.orders);
            book.filled
                .insert(report.client_order_id.to_string(), report.clone());
            book.positions.insert(name.clone(), zero);
            legs.push(report);
        }
        if let Some(units) = open {
            book.orders += 1;
            let side = if units > zero { Side::Buy } else { Side::Sell };
            let report = leg(req, Leg::Open, side, units.abs(), book.orders);
            book.filled
                .insert(report.client_order_id.to_string(), report.clone());
            book.positions.insert(name, units);
            legs.push(report);
        }
        Ok(Execution {
            outcome: Outcome::Filled,
            legs,
            reason: None,
        })
    }
}

/// A spot wallet: balances per currency; products are `BASE-QUOTE`.
#[derive(Debug)]
pub struct PaperSpot {
    account: String,
    /// Holding less base than this counts as holding nothing (dust).
    dust: Decimal,
    /// Base amounts are rounded down to this many decimals.
    base_scale: u32,
    wallet: Mutex<Wallet>,
}

/// Balances, orders made, and fills by client order id.
#[derive(Debug, Default)]
struct Wallet(BTreeMap<String, Decimal>, u64, BTreeMap<String, LegReport>);

impl PaperSpot {
    pub fn new(
        account: impl Into<String>,
        balances: impl IntoIterator<Item = (String, Decimal)>,
    ) -> Self {
        Self {
            account: account.into(),
            dust: Decimal::new(1, 5),
            base_scale: 8,
            wallet: Mutex::new(Wallet(balances.into_iter().collect(), 0, BTreeMap::new())),
        }
    }

    pub fn balances(&self) -> BTreeMap<String, Decimal> {
        self.wallet
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    pub fn orders(&self) -> u64 {
        self.wallet.lock().unwrap_or_else(|e| e.into_inner()).1
    }
}

impl Venue for PaperSpot {
    fn broker(&self) -> Broker {
        Broker::Coinbase
    }

    fn account(&self) -> &str {
        &self.account
    }

    async fn execute(&self, req: &ExecRequest<'_>) -> Result<Execution, NothingSent> {
        let mut w = self.wallet.lock().unwrap_or_else(|e| e.into_inner());
        let coid = req.client_order_id(Leg::Open);
        if let Some(done) = w.2.get(coid.as_str()) {
            return Ok(Execution {
                outcome: Outcome::Filled,
                legs: vec![done.clone()],
                reason: None,
            });
        }
        if !req.may_send {
            return Ok(Execution::no_op("nothing was sent"));
        }
        let product = req.intent.instrument.to_string();
        let Some((base, quote)) = product.split_once('-') else {
            return Ok(Execution {
                outcome: Outcome::Rejected,
                legs: Vec::new(),
                reason: Some(format!("{product} is not BASE-QUOTE")),
            });
        };
        let price = req.intent.reference_price;
        let held = w.0.get(base).copied().unwrap_or_default();
        let (side, base_qty) = match req.intent.target {
            TargetPosition::Long if held > self.dust => {
                return Ok(Execution::no_op(format!("already holding {held} {base}")));
            }
            TargetPosition::Long => {
                let cash = w.0.get(quote).copied().unwrap_or_default();
                if cash < req.quantity {
                    return Ok(Execution {
                        outcome: Outcome::Rejected,
                        legs: Vec::new(),
                        reason: Some(format!("insufficient {quote}: {cash} < {}", req.quantity)),
                    });
                }
                (
                    Side::Buy,
                    (req.quantity / price).round_dp_with_strategy(
                        self.base_scale,
                        rust_decimal::RoundingStrategy::ToZero,
                    ),
                )
            }
            TargetPosition::NoShort => return Ok(Execution::no_op("spot cannot be short")),
            _ if held <= self.dust => {
                return Ok(Execution::no_op(format!(
                    "{held} {base} is below the minimum size"
                )));
            }
            _ => (
                Side::Sell,
                held.round_dp_with_strategy(
                    self.base_scale,
                    rust_decimal::RoundingStrategy::ToZero,
                ),
            ),
        };
        let notional = base_qty * price;
        let (b, q) = match side {
            Side::Buy => (
                held + base_qty,
                w.0.get(quote).copied().unwrap_or_default() - notional,
            ),
            Side::Sell => (
                held - base_qty,
                w.0.get(quote).copied().unwrap_or_default() + notional,
            ),
        };
        w.0.insert(base.to_owned(), b);
        w.0.insert(quote.to_owned(), q);
        w.1 += 1;
        let report = leg(req, Leg::Open, side, base_qty, w.1);
        w.2.insert(coid.to_string(), report.clone());
        Ok(Execution {
            outcome: Outcome::Filled,
            legs: vec![report],
            reason: None,
        })
    }
}
