//! Target semantics at Tradovate. Reversal = liquidate, poll the position until flat
//! (bounded: past the bound the outcome is unknown and nothing is opened), then place the
//! new order. A placement whose outcome is unknown is reconciled by `clOrdId` and by the
//! position before it is ever sent again (once, with the same `clOrdId`).

use crate::client::TradovateClient;
use crate::error::TvError;
use crate::models::{OrderAction, PlaceOrder};
use crate::token::{TokenError, TokenManager};
use executor_runtime::venue::{ExecRequest, Execution, LegReport, NothingSent, Venue};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use secrecy::SecretString;
use shared::alert::TargetPosition;
use shared::clock::Clock;
use shared::execution::{Leg, Side};
use shared::outcome::Outcome;
use shared::ports::{LeaseLock, TokenStore};
use shared::routing::Broker;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{info, warn};

#[derive(Debug, Clone)]
pub struct TradovateAccount {
    pub id: i64,
    /// `accountSpec` in orders.
    pub name: String,
}

#[derive(Debug, Clone, Copy)]
pub struct VenueSettings {
    /// Position polls after a liquidation before giving up as unknown.
    pub flat_polls: u32,
    /// Order status polls after a placement before giving up as unknown.
    pub fill_polls: u32,
    pub poll_interval: Duration,
}

impl Default for VenueSettings {
    fn default() -> Self {
        Self {
            flat_polls: 20,
            fill_polls: 20,
            poll_interval: Duration::from_millis(250),
        }
    }
}

pub struct TradovateVenue<S, L, C> {
    tokens: Arc<TokenManager<S, L, C>>,
    account: TradovateAccount,
    account_key: String,
    clock: C,
    settings: VenueSettings,
    contracts: Mutex<HashMap<String, i64>>,
}

impl<S, L, C> std::fmt::Debug for TradovateVenue<S, L, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TradovateVenue")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

enum Step {
    Done(LegReport),
    Stop(LegReport),
}

impl<S: TokenStore, L: LeaseLock, C: Clock + Clone> TradovateVenue<S, L, C> {
    pub fn new(
        tokens: Arc<TokenManager<S, L, C>>,
        account: TradovateAccount,
        clock: C,
        settings: VenueSettings,
    ) -> Self {
        Self {
            tokens,
            account_key: account.id.to_string(),
            account,
            clock,
            settings,
            contracts: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self) -> &TradovateClient {
        self.tokens.client()
    }

    /// Runs `f` with a token; on a 401 refreshes once (under the lock) and runs it again. A
    /// 401 means the request was not carried out, so the second run is not a blind retry.
    async fn authed<T, F, Fut>(&self, f: F) -> Result<T, TvError>
    where
        F: Fn(SecretString) -> Fut,
        Fut: Future<Output = Result<T, TvError>>,
    {
        let token = self.tokens.token().await.map_err(token_error)?;
        match f(token.clone()).await {
            Err(TvError::Unauthorized) => {
                let fresh = self
                    .tokens
                    .after_unauthorized(&token)
                    .await
                    .map_err(token_error)?;
                f(fresh).await
            }
            other => other,
        }
    }

    async fn contract_id(&self, name: &str) -> Result<i64, TvError> {
        if let Some(id) = self
            .contracts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(*id);
        }
        let contract = self
            .authed(|t| async move { self.client().contract(&t, name).await })
            .await?;
        self.contracts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), contract.id);
        Ok(contract.id)
    }

    async fn net(&self, contract_id: i64) -> Result<i64, TvError> {
        let account = self.account.id;
        self.authed(|t| async move { self.client().net_position(&t, account, contract_id).await })
            .await
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

    /// Liquidates and waits, bounded, for the position to show flat.
    /// Takeover with a position to close: never liquidate again, only watch for flat.
    async fn await_flat(&self, req: &ExecRequest<'_>, contract_id: i64, net: i64) -> Step {
        let side = if net > 0 { Side::Sell } else { Side::Buy };
        let mut report = self.leg(req, Leg::Close, side, Decimal::from(net.abs()));
        for poll in 1..=self.settings.flat_polls {
            tokio::time::sleep(self.settings.poll_interval).await;
            match self.net(contract_id).await {
                Ok(0) => {
                    info!(
                        polls = poll,
                        "position flat: the earlier liquidation completed"
                    );
                    report.outcome = Outcome::Filled;
                    report.acked_at = Some(self.clock.now());
                    return Step::Done(report);
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "position read failed while waiting for flat"),
            }
        }
        report.error = Some(format!(
            "taken over with the position still open after {} polls; not liquidating a second \
             time while an earlier liquidation may be working",
            self.settings.flat_polls
        ));
        Step::Stop(report)
    }

    async fn liquidate(&self, req: &ExecRequest<'_>, contract_id: i64, net: i64) -> Step {
        let side = if net > 0 { Side::Sell } else { Side::Buy };
        let mut report = self.leg(req, Leg::Close, side, Decimal::from(net.abs()));
        report.sent_at = Some(self.clock.now());
        let account = self.account.id;
        match self
            .authed(|t| async move {
                self.client()
                    .liquidate_position(&t, account, contract_id)
                    .await
            })
            .await
        {
            Ok(id) => report.broker_order_id = Some(id.to_string()),
            Err(TvError::Refused(why)) => {
                report.outcome = Outcome::Rejected;
                report.error = Some(why);
                report.acked_at = Some(self.clock.now());
                return Step::Stop(report);
            }
            // Unknown or throttled: the position will tell whether it happened.
            Err(e) => warn!(error = %e, "liquidation outcome unknown; watching the position"),
        }
        for poll in 1..=self.settings.flat_polls {
            match self.net(contract_id).await {
                Ok(0) => {
                    info!(polls = poll, "position flat after liquidation");
                    report.outcome = Outcome::Filled;
                    report.acked_at = Some(self.clock.now());
                    return Step::Done(report);
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "position read failed while waiting for flat"),
            }
            tokio::time::sleep(self.settings.poll_interval).await;
        }
        report.error = Some(format!(
            "position not flat after {} polls",
            self.settings.flat_polls
        ));
        Step::Stop(report)
    }

    /// Follows an accepted order to its end state, bounded.
    async fn confirm(&self, mut report: LegReport, order_id: i64) -> Step {
        report.broker_order_id = Some(order_id.to_string());
        for _ in 0..self.settings.fill_polls {
            let status = self
                .authed(|t| async move { self.client().order(&t, order_id).await })
                .await
                .map(|o| o.ord_status);
            match status.as_deref() {
                Ok("Filled") | Ok("Completed") => {
                    let fills = self
                        .authed(|t| async move { self.client().fills(&t, order_id).await })
                        .await
                        .unwrap_or_default();
                    let qty: i64 = fills.iter().map(|f| f.qty).sum();
                    if qty > 0 {
                        let value: Decimal =
                            fills.iter().map(|f| f.price * Decimal::from(f.qty)).sum();
                        report.fill_price = Some(value / Decimal::from(qty));
                    }
                    report.outcome = Outcome::Filled;
                    report.acked_at = Some(self.clock.now());
                    return Step::Done(report);
                }
                Ok(s @ ("Rejected" | "Canceled" | "Expired")) => {
                    report.outcome = Outcome::Rejected;
                    report.error = Some(format!("order {order_id} {s}"));
                    report.acked_at = Some(self.clock.now());
                    return Step::Stop(report);
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "order status read failed"),
            }
            tokio::time::sleep(self.settings.poll_interval).await;
        }
        report.error = Some(format!(
            "order {order_id} not filled after {} polls",
            self.settings.fill_polls
        ));
        Step::Stop(report)
    }

    async fn find_by_cl_ord_id(&self, cl_ord_id: &str) -> Result<Option<i64>, TvError> {
        let account = self.account.id;
        let found = self
            .authed(|t| async move {
                self.client()
                    .orders_by_cl_ord_id(&t, account, cl_ord_id)
                    .await
            })
            .await?;
        Ok(found.last().map(|o| o.id))
    }

    async fn place(
        &self,
        req: &ExecRequest<'_>,
        side: Side,
        qty: i64,
        contract_id: i64,
        target_net: i64,
    ) -> Step {
        let mut report = self.leg(req, Leg::Open, side, Decimal::from(qty));
        let coid = report.client_order_id.to_string();
        let order = PlaceOrder {
            account_spec: &self.account.name,
            account_id: self.account.id,
            cl_ord_id: &coid,
            action: match side {
                Side::Buy => OrderAction::Buy,
                Side::Sell => OrderAction::Sell,
            },
            symbol: req.intent.instrument.as_str(),
            order_qty: qty,
            order_type: "Market",
            is_automated: true,
        };
        for attempt in 1..=2 {
            report.sent_at.get_or_insert(self.clock.now());
            let order = &order;
            let sent = self
                .authed(|t| async move { self.client().place_market_order(&t, order).await })
                .await;
            let err = match sent {
                Ok(id) => return self.confirm(report, id).await,
                Err(TvError::Refused(why)) => {
                    report.outcome = Outcome::Rejected;
                    report.error = Some(why);
                    report.acked_at = Some(self.clock.now());
                    return Step::Stop(report);
                }
                Err(e) => e,
            };
            warn!(attempt, error = %err, "placement outcome unknown; reconciling");
            match self.find_by_cl_ord_id(&coid).await {
                Ok(Some(id)) => return self.confirm(report, id).await,
                Ok(None) => {}
                Err(e) => {
                    report.error = Some(format!("{err}; lookup failed: {e}"));
                    return Step::Stop(report);
                }
            }
            match self.net(contract_id).await {
                Ok(net) if net == target_net => {
                    report.outcome = Outcome::Filled;
                    report.acked_at = Some(self.clock.now());
                    report.error = Some("confirmed by position; no order id".into());
                    return Step::Done(report);
                }
                Ok(_) if attempt == 1 && matches!(err, TvError::Unknown(_)) => {
                    info!(
                        "no such order and the position did not move; resending once with the same clOrdId"
                    );
                }
                Ok(_) => {
                    report.error = Some(format!("not placed: {err}"));
                    return Step::Stop(report);
                }
                Err(e) => {
                    report.error = Some(format!("{err}; position unreadable: {e}"));
                    return Step::Stop(report);
                }
            }
        }
        Step::Stop(report)
    }

    async fn recover(&self, req: &ExecRequest<'_>) -> Result<Option<Step>, TvError> {
        let coid = req.client_order_id(Leg::Open);
        let Some(id) = self.find_by_cl_ord_id(coid.as_str()).await? else {
            return Ok(None);
        };
        let side = if req.intent.target == TargetPosition::Long {
            Side::Buy
        } else {
            Side::Sell
        };
        let report = self.leg(req, Leg::Open, side, req.quantity);
        Ok(Some(self.confirm(report, id).await))
    }
}

fn token_error(e: TokenError) -> TvError {
    match e {
        TokenError::Tradovate(e) => e,
        other => TvError::Unreachable(other.to_string()),
    }
}

fn finish(legs: Vec<LegReport>, stopped: Option<&LegReport>) -> Execution {
    let outcome = match stopped {
        Some(r) => r.outcome,
        None if legs.iter().any(|l| l.outcome == Outcome::Filled) => Outcome::Filled,
        None => Outcome::NoOp,
    };
    Execution {
        outcome,
        reason: stopped.and_then(|r| r.error.clone()),
        legs,
    }
}

impl<S: TokenStore, L: LeaseLock, C: Clock + Clone> Venue for TradovateVenue<S, L, C> {
    fn broker(&self) -> Broker {
        Broker::Tradovate
    }

    fn account(&self) -> &str {
        &self.account_key
    }

    async fn execute(&self, req: &ExecRequest<'_>) -> Result<Execution, NothingSent> {
        let nothing = |e: TvError| NothingSent {
            broker: Broker::Tradovate,
            reason: e.to_string(),
        };
        let name = req.intent.instrument.as_str();
        let contract_id = self.contract_id(name).await.map_err(nothing)?;
        if let Some(res) = &req.intent.contract {
            info!(requested = %res.requested, contract = %res.contract, contract_id, rule = %res.rule, "trading the resolved contract");
        }
        if req.takeover
            && let Some(step) = self.recover(req).await.map_err(nothing)?
        {
            return Ok(match step {
                Step::Done(r) => finish(vec![r], None),
                Step::Stop(r) => finish(vec![r.clone()], Some(&r)),
            });
        }
        if !req.may_send {
            return Ok(finish(Vec::new(), None));
        }
        let Some(qty) = req
            .quantity
            .to_i64()
            .filter(|q| Decimal::from(*q) == req.quantity && *q > 0)
        else {
            return Ok(Execution {
                outcome: Outcome::Rejected,
                legs: Vec::new(),
                reason: Some(format!(
                    "size {} is not a whole number of contracts",
                    req.quantity
                )),
            });
        };
        let net = self.net(contract_id).await.map_err(nothing)?;
        let (close, open) = match req.intent.target {
            TargetPosition::Long => (net < 0, (net <= 0).then_some((Side::Buy, qty))),
            TargetPosition::Short => (net > 0, (net >= 0).then_some((Side::Sell, -qty))),
            TargetPosition::NoLong => (net > 0, None),
            TargetPosition::NoShort => (net < 0, None),
            TargetPosition::Flat => (net != 0, None),
        };
        if !close && open.is_none() {
            return Ok(Execution::no_op(format!(
                "already at target {:?} (net {net})",
                req.intent.target
            )));
        }
        let mut legs = Vec::new();
        if close && req.takeover {
            // A previous attempt may have a liquidation still working (it found the position
            // not flat in time and gave up as unknown). A second liquidation could close twice
            // and leave the account on the other side, so wait for the first one instead;
            // still not flat → unknown again, and after max receives the dead-letter queue.
            match self.await_flat(req, contract_id, net).await {
                Step::Done(r) => legs.push(r),
                Step::Stop(r) => {
                    legs.push(r.clone());
                    return Ok(finish(legs, Some(&r)));
                }
            }
        } else if close {
            match self.liquidate(req, contract_id, net).await {
                Step::Done(r) => legs.push(r),
                Step::Stop(r) => {
                    legs.push(r.clone());
                    return Ok(finish(legs, Some(&r)));
                }
            }
        }
        if let Some((side, target_net)) = open {
            match self.place(req, side, qty, contract_id, target_net).await {
                Step::Done(r) => legs.push(r),
                Step::Stop(r) => {
                    legs.push(r.clone());
                    return Ok(finish(legs, Some(&r)));
                }
            }
        }
        Ok(finish(legs, None))
    }
}
