//! The OANDA conversation of the shared execution core ([`executor_runtime::drive`]): read
//! the position with the account's `lastTransactionID`, close a side (`PUT
//! positions/{instrument}/close` naming only the side held), open with a FOK market order and
//! `positionFill: REDUCE_FIRST`, and find an order of unknown outcome in the account's
//! transactions. The plan, the pre-flight check, the waits and the resend rule are the core's.
//!
//! Recovery source: every change to an OANDA account is a transaction with an increasing id,
//! and `GET /v3/accounts/{id}/transactions/sinceid?id=` lists all of them after an id
//! (<https://developer.oanda.com/rest-live-v20/transaction-ep/>). The position read before a
//! send returns `lastTransactionID` (<https://developer.oanda.com/rest-live-v20/position-ep/>),
//! so after an ambiguous answer the transactions since then show our `MARKET_ORDER` (by its
//! `clientExtensions.id`) with its `ORDER_FILL` or `ORDER_CANCEL`, or its
//! `MARKET_ORDER_REJECT`, or nothing. The client id lookup `GET orders/@{id}` is not used:
//! OANDA documents client ids as unique among *pending* orders only
//! (`CLIENT_ORDER_ID_ALREADY_EXISTS`, <https://developer.oanda.com/rest-live-v20/order-df/>),
//! and a FOK market order is never pending after its request.

use crate::client::{Holdings as OandaHoldings, OandaClient, OrderResult, PositionSideKind};
use crate::error::OandaError;
use crate::models::Transaction;
use executor_runtime::drive::{self, Ack, Conversation, Found, ReadError, SendError};
use executor_runtime::plan::{Book, Holdings, LegAction, PlannedLeg, PositionSide, TradingRules};
use executor_runtime::venue::{ExecRequest, Execution, LegReport, NothingSent, Venue};
use rust_decimal::Decimal;
use shared::clock::Clock;
use shared::execution::{Leg, Side};
use shared::outcome::Outcome;
use shared::routing::Broker;
use std::time::Duration;

#[derive(Debug)]
pub struct OandaVenue<C> {
    client: OandaClient,
    clock: C,
    settle: Duration,
}

impl<C: Clock> OandaVenue<C> {
    pub fn new(client: OandaClient, clock: C) -> Self {
        Self {
            client,
            clock,
            // A FOK market order is filled or cancelled within its request
            // (<https://developer.oanda.com/rest-live-v20/order-df/>, `TimeInForce`), so its
            // transactions exist once the request is answered; a short wait covers a request
            // still in flight when our side gave up.
            settle: Duration::from_millis(500),
        }
    }

    /// With another settle time (tests).
    pub fn with_settle_time(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }
}

fn classify(e: OandaError) -> SendError {
    match e {
        // HTTP 429, over the rate limit: OANDA documents no 429 for its order endpoints
        // (`OandaError::RateLimited`). If OANDA itself answered, nothing was done: "a Market
        // Order is an Order that is filled immediately", its time in force "Restricted to FOK
        // or IOC" (`MarketOrder`, <https://developer.oanda.com/rest-live-v20/order-df/>; a
        // position close is carried out by one), so whatever it did is in the account's
        // transactions once answered. But something in front of OANDA may have answered after
        // passing the request on, to land later. So it is throttled, not "not executed": the
        // core looks the order up in the whole list of transactions since the send (checked to
        // end at the answer's `lastTransactionID`) and checks the position, then sends again
        // once, which cannot do the leg twice (an open names the first's trade client id, a
        // close closes the whole side); a leg that ends without that send ends `unknown`.
        OandaError::RateLimited { retry_after } => SendError::Throttled {
            reason: "OANDA rate limit (HTTP 429)".into(),
            retry_after,
        },
        // No connection was made, so OANDA never saw the request: the core confirms by
        // lookup that nothing was created before it sends again.
        e @ OandaError::NotSent(_) => SendError::NotExecuted {
            reason: e.to_string(),
            retry_after: None,
        },
        // Its text only: the core's own error says "outcome unknown" already.
        OandaError::Unknown(why) => SendError::Unknown(why),
        e => SendError::Unknown(e.to_string()),
    }
}

fn read_error(e: OandaError) -> ReadError {
    match e {
        // OANDA's 401: the token is missing, invalid or not the account's (its v20
        // specification lists 401 for every endpoint): named with the setting that gives it.
        OandaError::Api { status: 401, .. } => ReadError::Refused(format!(
            "{e} (check OANDA_SECRET, in AWS the SSM parameter OANDA_SECRET_PARAM names: the \
             personal access token of the account's login; and OANDA_BASE_URL: a practice \
             token is refused by the live host and a live one by the practice host)"
        )),
        // A 403: the token is valid but may not use this account (observed for an account of
        // another login; the specification lists no 403 for reads): named with the settings.
        OandaError::Api { status: 403, .. } => ReadError::Refused(format!(
            "{e} (the token may not use this account: check OANDA_ACCOUNT, the v20 account id \
             as OANDA shows it under the token's login; OANDA_SECRET, in AWS the SSM parameter \
             OANDA_SECRET_PARAM names; and OANDA_BASE_URL)"
        )),
        OandaError::Api { status, .. } if (400..500).contains(&status) && status != 429 => {
            ReadError::Refused(e.to_string())
        }
        e => ReadError::Unavailable(e.to_string()),
    }
}

fn ack_of(result: OrderResult) -> Result<Ack, SendError> {
    match result {
        OrderResult::Filled {
            order_id,
            units,
            price,
            fee,
            rest: None,
            ..
        } => Ok(Ack::Filled {
            order_id: Some(order_id.into()),
            quantity: units,
            price,
            fee,
        }),
        OrderResult::Filled {
            order_id,
            units,
            price,
            fee,
            rest: Some(rest),
            ..
        } => Ok(Ack::FilledInPart {
            order_id: Some(order_id.into()),
            quantity: units,
            price,
            fee,
            rest,
        }),
        OrderResult::Cancelled { order_id, reason } => Ok(Ack::Cancelled {
            order_id: Some(order_id.into()),
            reason,
        }),
        OrderResult::Rejected { reason } => Err(SendError::Rejected {
            order_id: None,
            reason,
        }),
        OrderResult::NothingToClose => Ok(Ack::NothingToClose),
    }
}

/// An open's answer. The order is sent `REDUCE_FIRST` (a netting account refuses an open of
/// the other side beside a held one), so one that filled reducing open trades
/// (`OrderFillTransaction.tradeReduced`, `tradesClosed`:
/// <https://developer.oanda.com/rest-live-v20/transaction-df/>) found the other side held when
/// it filled, where its signal's read found none or closed it: a trade by hand, or the
/// trader's own order filling, in between. What it opened is short of its size, the other
/// side is smaller instead: filled in part at what opened, the signal stopped there and
/// alarmed, naming it, where it was journaled filled whole with no word (long 500 for a target
/// of long 1,000, a hand short of 500 netted away).
fn opened(result: OrderResult) -> Result<Ack, SendError> {
    match result {
        OrderResult::Filled {
            order_id,
            units: Some(units),
            price,
            fee,
            rest,
            reduced,
        } if reduced > Decimal::ZERO => Ok(netted(&order_id, units, reduced, price, fee, rest)),
        result => ack_of(result),
    }
}

/// [`opened`]'s answer for an open whose fill of `units` reduced `reduced` of the other side
/// (more than none): filled in part at what it opened, naming the change. Also what a lookup
/// or a takeover reads of such a fill in the transactions.
fn netted(
    order_id: &str,
    units: Decimal,
    reduced: Decimal,
    price: Option<Decimal>,
    fee: Option<Decimal>,
    rest: Option<String>,
) -> Ack {
    let opened = (units.abs() - reduced).max(Decimal::ZERO);
    Ack::FilledInPart {
        rest: format!(
            "order {order_id} filled {} units, of which {} reduced the other side: {} (a trade by hand, or the trader's own order filling, between the read this signal's legs were planned from and the fill); it opened {}{}",
            units.abs().normalize(),
            reduced.normalize(),
            executor_runtime::drive::CHANGED_OUTSIDE_STOP,
            opened.normalize(),
            rest.map(|r| format!("; {r}")).unwrap_or_default()
        ),
        order_id: Some(order_id.into()),
        quantity: Some(opened),
        price,
        fee,
    }
}

/// The units an order sent to open (a client's order, not a position's closeout, which
/// reduces by its nature) opened, where its fill reduced the other side
/// ([`Transaction::units_reduced`]); `None` for any other fill.
fn opened_units(create: &Transaction, fill: &Transaction) -> Option<Decimal> {
    let reduced = fill.units_reduced();
    (create.reason.as_deref() == Some("CLIENT_ORDER") && reduced > Decimal::ZERO)
        .then(|| fill.units.unwrap_or_default().abs() - reduced)
        .map(|u| u.max(Decimal::ZERO))
}

/// The first order created with `client_id` that filled, with its fill.
fn filled_create<'a>(
    transactions: &'a [Transaction],
    client_id: &str,
) -> Option<(&'a Transaction, &'a Transaction)> {
    transactions
        .iter()
        .filter(|t| t.kind == "MARKET_ORDER" && t.client_id() == Some(client_id))
        .find_map(|create| {
            transactions
                .iter()
                .find(|t| t.kind == "ORDER_FILL" && t.order_id.as_deref() == Some(&create.id))
                .map(|fill| (create, fill))
        })
}

/// The signed units of the fill of the order created with `client_id`, when listed: of an
/// open that reduced the other side, what it opened ([`opened_units`]).
fn fill_units(transactions: &[Transaction], client_id: &str) -> Option<Decimal> {
    filled_create(transactions, client_id).and_then(|(create, fill)| {
        let units = fill.units?;
        Some(match opened_units(create, fill) {
            Some(opened) if units.is_sign_negative() => -opened,
            Some(opened) => opened,
            None => units,
        })
    })
}

/// What the transactions since the mark say about the order with `client_id`.
pub fn find_in_transactions(transactions: &[Transaction], client_id: &str) -> Option<Ack> {
    let ours = |t: &&Transaction| t.client_id() == Some(client_id);
    // A fill first, of any order created with the id (an earlier send's create may have been
    // cancelled and a later one filled): whatever else the id also carries (a later send's
    // reject), an order that filled is what the account holds.
    if let Some((create, fill)) = filled_create(transactions, client_id) {
        let order_id = Some(create.id.as_str().into());
        // A cancel of the same order beside its fill: the rest did not fill (a position's
        // closeout done in part, as `client::created` reads it in an answer).
        let cancel = transactions
            .iter()
            .find(|t| t.kind == "ORDER_CANCEL" && t.order_id.as_deref() == Some(&create.id));
        // An open that reduced the other side: as [`opened`] reads it in an answer.
        if opened_units(create, fill).is_some()
            && let Some(units) = fill.units
        {
            return Some(netted(
                &create.id,
                units,
                fill.units_reduced(),
                fill.fill_price(),
                fill.fee_in_quote(),
                cancel.map(|c| crate::client::in_part(&create.id, c)),
            ));
        }
        return Some(match cancel {
            None => Ack::Filled {
                order_id,
                quantity: fill.units,
                price: fill.fill_price(),
                fee: fill.fee_in_quote(),
            },
            Some(cancel) => Ack::FilledInPart {
                order_id,
                quantity: fill.units,
                price: fill.fill_price(),
                fee: fill.fee_in_quote(),
                rest: crate::client::in_part(&create.id, cancel),
            },
        });
    }
    // An order refused because an open trade holds its trade client id (ours: the client
    // id, `OandaClient::market_order`) says an earlier order under this id filled, not that
    // this leg was refused; with that fill not among the transactions read, the leg's fate is
    // not known from them. A cancel for it leaves its create working (never sent again,
    // `unknown`); a reject is passed over (the lookup then finds the position moved).
    let taken = |reason: Option<&str>| reason == Some(crate::client::TRADE_ID_TAKEN);
    let create = transactions
        .iter()
        .filter(ours)
        .find(|t| t.kind == "MARKET_ORDER");
    if let Some(reject) = transactions
        .iter()
        .filter(ours)
        .find(|t| t.kind.ends_with("_REJECT") && !taken(t.reject_reason.as_deref()))
    {
        // A close of a side that was already flat: the PUT's own answer reads the same code
        // as nothing to close, and so does its transaction ("treat
        // CLOSEOUT_POSITION_DOESNT_EXIST on an idempotent retry as already flat"): a
        // takeover or a lookup must not read it as a refused close and stop the open.
        if reject.reject_reason.as_deref() == Some("CLOSEOUT_POSITION_DOESNT_EXIST") {
            return Some(Ack::NothingToClose);
        }
        return Some(Ack::Cancelled {
            order_id: None,
            // Cut and redacted: journaled, logged and mailed (see the client's `reject_reason`).
            reason: executor_runtime::http::shown_text(
                reject
                    .reject_reason
                    .as_deref()
                    .unwrap_or(reject.kind.as_str())
                    .as_bytes(),
            ),
        });
    }
    let create = create?;
    let of_order = |t: &&Transaction| t.order_id.as_deref() == Some(create.id.as_str());
    if let Some(cancel) = transactions
        .iter()
        .filter(of_order)
        .find(|t| t.kind == "ORDER_CANCEL")
    {
        if taken(cancel.reason.as_deref()) {
            return Some(Ack::Working {
                order_id: create.id.as_str().into(),
                reason: format!(
                    "cancelled as {}: an earlier order under this client id opened a trade, \
                     whose fill is not among the transactions read",
                    crate::client::TRADE_ID_TAKEN
                ),
            });
        }
        return Some(Ack::Cancelled {
            order_id: Some(create.id.as_str().into()),
            reason: cancel.reason.as_deref().map_or_else(
                || "CANCELLED".into(),
                |r| executor_runtime::http::shown_text(r.as_bytes()),
            ),
        });
    }
    // Created, neither filled nor cancelled yet: OANDA has it, so never send it again.
    Some(Ack::Working {
        order_id: create.id.as_str().into(),
        reason: "created, neither filled nor cancelled in the transactions read".into(),
    })
}

impl<C: Clock> Conversation for OandaVenue<C> {
    /// The account's `lastTransactionID` read with the position.
    type Mark = String;

    fn broker(&self) -> Broker {
        Broker::Oanda
    }

    fn account(&self) -> &str {
        self.client.account()
    }

    fn book(&self) -> Book {
        Book::Margin
    }

    fn settle_time(&self) -> Duration {
        self.settle
    }

    /// No: OANDA documents client ids as unique among pending orders only
    /// (`CLIENT_ORDER_ID_ALREADY_EXISTS`, <https://developer.oanda.com/rest-live-v20/order-df/>),
    /// so a second FOK market order with our id would fill as well, and it documents no time
    /// within which a request that timed out or got a 5xx is done or listed. An order not
    /// found after the settle time may still fill: the leg ends `unknown`, alarmed, and the
    /// trader decides.
    fn resends_after_unknown(&self) -> bool {
        false
    }

    /// A currency pair's units are an amount of its base currency (1,000 EUR_USD is
    /// 1,000 EUR), so its notional is counted in base units; metals and CFDs are valued at
    /// the alert's close in their quote currency ([`executor_runtime::risk::notional_price`],
    /// which the paper account uses too).
    fn notional_price(&self, req: &ExecRequest<'_>) -> Decimal {
        executor_runtime::risk::notional_price(
            Broker::Oanda,
            req.intent.instrument.as_str(),
            req.intent.reference_price,
        )
    }

    async fn holdings(&self, req: &ExecRequest<'_>) -> Result<(Holdings, String), ReadError> {
        let (OandaHoldings { long, short }, last) = self
            .client
            .position_and_last_tx(req.intent.instrument.as_str())
            .await
            .map_err(read_error)?;
        Ok((Holdings { long, short }, last))
    }

    /// `tradeUnitsPrecision`, `minimumTradeSize`, `maximumOrderUnits` and
    /// `maximumPositionSize` ("the maximum position size allowed for this instrument. Can be
    /// zero, which means no maximum") of the instrument
    /// (<https://developer.oanda.com/rest-live-v20/primitives-df/>, `Instrument`): a reversal
    /// whose open would pass the position limit is refused before its close leaves.
    async fn rules(&self, req: &ExecRequest<'_>) -> Result<TradingRules, ReadError> {
        let i = self
            .client
            .instrument(req.intent.instrument.as_str())
            .await
            .map_err(read_error)?;
        Ok(
            TradingRules::with_precision(i.precision, i.minimum_trade_size, i.maximum_order_units)
                .with_max_position(i.maximum_position_size),
        )
    }

    /// A reversal that grows the position (opens more units than it closes) is checked
    /// against the account's margin first: the position's `marginUsed` per unit held, times
    /// the units the open asks, against the `marginAvailable` the summary shows plus what the
    /// close frees (`Position.marginUsed`, `AccountSummary.marginAvailable`:
    /// <https://developer.oanda.com/rest-live-v20/position-df/>,
    /// <https://developer.oanda.com/rest-live-v20/account-df/>). OANDA's help centre gives the
    /// v20 formula: `NAV = balance + unrealized P/L` and `marginAvailable = NAV - marginUsed`
    /// ("v20 Margin-related calculations",
    /// <https://help.oanda.com/us/en/faqs/margin-calculations.htm>), so a close, which turns
    /// its unrealized P/L into balance and leaves the NAV as it was, frees its margin and
    /// nothing more: its profit, or its loss, is already in `marginAvailable` (a profit
    /// counted again let through an open OANDA then cancelled `INSUFFICIENT_MARGIN`, the
    /// account left flat). The estimate is linear in units at the margin the position uses
    /// now (a larger position never needs less per unit), with 2 % more needed for the price
    /// between the reads (and the spread a close realizes, which the NAV's mid prices leave
    /// out). An
    /// open no larger than the close needs no more than it frees, and is not read for; nor is
    /// one whose figures OANDA leaves out, or a position that changed since the holdings read.
    async fn room(
        &self,
        req: &ExecRequest<'_>,
        planned: &[PlannedLeg],
        _: &String,
    ) -> Result<Option<String>, ReadError> {
        let [close, open] = planned else {
            return Ok(None);
        };
        if !matches!(close.action, LegAction::Close(_)) || open.action != LegAction::Open {
            return Ok(None);
        }
        let (closed, open) = (close.quantity, open.quantity);
        if open <= closed || closed <= Decimal::ZERO {
            return Ok(None);
        }
        let instrument = req.intent.instrument.as_str();
        let Some(position) = self
            .client
            .position_detail(instrument)
            .await
            .map_err(read_error)?
        else {
            return Ok(None);
        };
        // The margin must be that of the units the plan closes: a position that changed
        // since the holdings read (a stop, a trade by hand) is not estimated from.
        let held = position.long.units.abs() + position.short.units.abs();
        let (Some(used), true) = (position.margin_used, held == closed) else {
            return Ok(None);
        };
        if used <= Decimal::ZERO {
            return Ok(None);
        }
        let summary = self.client.account_summary().await.map_err(read_error)?;
        let Some(available) = summary.margin_available else {
            return Ok(None);
        };
        let currency = summary.currency;
        // What the close frees: the position's margin (its unrealized P/L is in
        // `marginAvailable` already, through the NAV).
        let needed = (used / closed * open).round_dp(2);
        let free = (available + used).round_dp(2);
        // Two hundredths more needed for the price between the reads and the two sides'
        // quotes: the estimate is the held side's margin at today's price, scaled by units.
        let slack = Decimal::new(102, 2);
        let asked = (needed * slack).round_dp(2);
        Ok((asked > free).then(|| {
            format!(
                "refused before the close: the reversal's open of {open} units would need about \
                 {needed} {currency} of margin (the {closed} units held use {used}), {asked} \
                 with 2 % for the price between the reads, and about {free} {currency} would \
                 be free once they are closed (marginAvailable {available} + their {used}); \
                 OANDA would cancel the open INSUFFICIENT_MARGIN and leave the account flat"
            )
        }))
    }

    async fn send(
        &self,
        req: &ExecRequest<'_>,
        leg: &PlannedLeg,
        report: &LegReport,
    ) -> Result<Ack, SendError> {
        let instrument = req.intent.instrument.as_str();
        let coid = report.client_order_id.as_str();
        let result = match leg.action {
            LegAction::Close(side) => {
                let side = match side {
                    PositionSide::Long => PositionSideKind::Long,
                    PositionSide::Short => PositionSideKind::Short,
                };
                self.client.close_position(instrument, side, coid).await
            }
            LegAction::Open => {
                let units = match leg.side {
                    Side::Buy => leg.quantity,
                    Side::Sell => -leg.quantity,
                };
                let result = self
                    .client
                    .market_order(instrument, units, coid)
                    .await
                    .map_err(classify)?;
                return opened(result);
            }
        };
        ack_of(result.map_err(classify)?)
    }

    /// After a takeover the earlier attempt's `lastTransactionID` is lost: its transactions
    /// are found by time instead (`GET transactions?from=`), from a margin before the signal
    /// was received.
    async fn recover(&self, req: &ExecRequest<'_>) -> Result<Vec<LegReport>, ReadError> {
        let from =
            req.intent.received_at.min(req.intent.signal_time) - chrono::Duration::minutes(10);
        // Unreadable: nothing is sent, and the core ends the takeover `unknown` with what it
        // found (alarmed, dead-lettered for a replay), rather than a plan from the position
        // alone that journals the earlier attempt's fills as nothing.
        let transactions = self
            .client
            .transactions_from(from)
            .await
            .map_err(|e| ReadError::Unavailable(format!("transactions: {e}")))?;
        let mut legs = Vec::new();
        for leg in [Leg::Close, Leg::CloseHedge, Leg::Open] {
            let coid = req.client_order_id(leg);
            let Some(ack) = find_in_transactions(&transactions, coid.as_str()) else {
                continue;
            };
            // The fill's units where it is listed (OANDA's `OrderFillTransaction.units`, signed
            // as the order's: <https://developer.oanda.com/rest-live-v20/transaction-df/>),
            // else the order's: a position close's create may list none, and a filled close
            // journaled as 0 units would understate what the account traded.
            let filled = fill_units(&transactions, coid.as_str());
            // A refused order has no create; its reject transaction echoes the order's units
            // (`MarketOrderRejectTransaction.units`,
            // <https://developer.oanda.com/rest-live-v20/transaction-df/>): without them a
            // refused sell of 1,000 was journaled a buy of 0.
            let ours = |t: &&Transaction| t.client_id() == Some(coid.as_str());
            let created = transactions
                .iter()
                .filter(ours)
                .find(|t| t.kind == "MARKET_ORDER")
                .or_else(|| {
                    transactions.iter().filter(ours).find(|t| {
                        t.kind.ends_with("_REJECT")
                            && (t.units.is_some()
                                || t.long_position_closeout.is_some()
                                || t.short_position_closeout.is_some())
                    })
                });
            let units = filled
                .or_else(|| created.and_then(|t| t.units))
                .unwrap_or_default();
            // A position close's units may be none or 0 (it asks for `ALL`): its side is the
            // one it closes out (`longPositionCloseout` sells, `shortPositionCloseout` buys:
            // fields of `MarketOrderTransaction` and `MarketOrderRejectTransaction`,
            // <https://developer.oanda.com/rest-live-v20/transaction-df/>), not the sign of
            // nothing: a refused close of a long was journaled a buy of 0.
            let closes = created.and_then(|t| {
                match (&t.long_position_closeout, &t.short_position_closeout) {
                    (Some(_), None) => Some(Side::Sell),
                    (None, Some(_)) => Some(Side::Buy),
                    _ => None,
                }
            });
            // An open that only reduced the other side opened 0 ([`fill_units`]): its side is
            // its order's.
            let signed = if units.is_zero() {
                created.and_then(|t| t.units).unwrap_or_default()
            } else {
                units
            };
            let side = match (signed.cmp(&Decimal::ZERO), closes) {
                (std::cmp::Ordering::Less, _) => Side::Sell,
                (std::cmp::Ordering::Equal, Some(side)) => side,
                _ => Side::Buy,
            };
            let mut r = LegReport::new(req, leg, side, units.abs());
            r.acked_at = Some(self.clock.now());
            // A market order fills or is cancelled whole (FOK); a position's closeout may be
            // done in part, which stops the signal there as a fresh answer's does.
            let (ack, rest) = ack.split_in_part();
            if let Some(rest) = rest {
                r.in_part = true;
                r.error = Some(rest);
            }
            match ack {
                Ack::Filled {
                    order_id,
                    price,
                    fee,
                    ..
                }
                | Ack::FilledInPart {
                    order_id,
                    price,
                    fee,
                    ..
                } => {
                    r.broker_order_id = order_id;
                    r.fill_price = price;
                    r.fee = fee;
                    r.outcome = Outcome::Filled;
                }
                Ack::Cancelled { order_id, reason } => {
                    r.broker_order_id = order_id;
                    r.error = Some(reason);
                    r.outcome = Outcome::Rejected;
                }
                Ack::Working { order_id, .. } => {
                    r.error = Some(format!(
                        "order {} of an earlier attempt is not done: not sending another",
                        order_id.as_str()
                    ));
                    r.broker_order_id = Some(order_id);
                    r.outcome = Outcome::Unknown;
                }
                Ack::NothingToClose => continue,
            }
            legs.push(r);
        }
        Ok(legs)
    }

    async fn lookup(
        &self,
        req: &ExecRequest<'_>,
        leg: &PlannedLeg,
        report: &LegReport,
        mark: &String,
    ) -> Found {
        let transactions = match self.client.transactions_since(mark).await {
            Ok(t) => t,
            Err(e) => return Found::Inconclusive(format!("transactions since {mark}: {e}")),
        };
        if let Some(ack) = find_in_transactions(&transactions, report.client_order_id.as_str()) {
            return Found::Order(ack);
        }
        // The transactions are whole (the client checks the list ends at the account's last
        // transaction), and the position must agree with them.
        match self.holdings(req).await {
            Ok((h, _)) => {
                let moved = match leg.action {
                    LegAction::Close(PositionSide::Long) => h.long.is_zero(),
                    LegAction::Close(PositionSide::Short) => h.short.is_zero(),
                    LegAction::Open => match leg.side {
                        Side::Buy => h.long > Decimal::ZERO,
                        Side::Sell => h.short < Decimal::ZERO,
                    },
                };
                if moved {
                    Found::Inconclusive(format!(
                        "no transaction of ours since {mark}, yet the position moved (long {}, short {})",
                        h.long, h.short
                    ))
                } else {
                    Found::NotCreated
                }
            }
            Err(ReadError::Unavailable(e) | ReadError::Refused(e) | ReadError::RateLimited(e)) => {
                Found::Inconclusive(format!("position unreadable: {e}"))
            }
        }
    }
}

/// `GET /v3/accounts/{id}/positions/{instrument}`: long units plus short units (the short
/// side's units are negative, <https://developer.oanda.com/rest-live-v20/position-df/>).
impl<C: Clock> executor_runtime::venue::PositionRead for OandaVenue<C> {
    async fn position(&self, instrument: &str) -> Result<Decimal, ReadError> {
        let held = self.client.position(instrument).await.map_err(read_error)?;
        Ok(held.long + held.short)
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
        drive::execute(self, &self.clock, req).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A close found in the transactions with a fill and a cancel of its order (a closeout
    /// done in part) is filled in part, with the cancel's reason; with the fill alone, whole.
    #[test]
    fn a_fill_and_a_cancel_of_one_order_found_in_the_transactions_is_filled_in_part() {
        let tx = |v: serde_json::Value| serde_json::from_value::<Transaction>(v).unwrap();
        let create = tx(serde_json::json!({"id": "11", "type": "MARKET_ORDER",
            "clientExtensions": {"id": "tv-abc-c"}}));
        let fill = tx(
            serde_json::json!({"id": "12", "type": "ORDER_FILL", "orderID": "11",
            "units": "-400", "fullVWAP": "1.08345"}),
        );
        let cancel = tx(
            serde_json::json!({"id": "13", "type": "ORDER_CANCEL", "orderID": "11",
            "reason": "POSITION_CLOSEOUT_FAILED"}),
        );
        let found = find_in_transactions(&[create.clone(), fill.clone(), cancel], "tv-abc-c");
        match found {
            Some(Ack::FilledInPart { quantity, rest, .. }) => {
                assert_eq!(quantity, Some(Decimal::from(-400)));
                assert!(
                    rest.contains("order 11 filled in part: POSITION_CLOSEOUT_FAILED"),
                    "{rest}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            find_in_transactions(&[create, fill], "tv-abc-c"),
            Some(Ack::Filled { .. })
        ));
    }

    /// A client of `base` with the default settings.
    fn client_at(base: &str) -> OandaClient {
        OandaClient::new(
            base,
            secrecy::SecretString::from("token-never-shown"),
            "101-001-1-001",
            crate::client::ClientSettings::default(),
        )
        .unwrap()
    }

    /// A 307 to an order POST is OANDA's answer, an unknown outcome: the client never sends
    /// the order again to the address it names (reqwest would, body and all).
    #[tokio::test]
    async fn a_redirect_answering_an_order_is_unknown_and_never_followed() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Serves until the client is done (a bound of 30 s, for a machine however busy).
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let server_done = done.clone();
        let server = std::thread::spawn(move || {
            let mut posts = 0;
            listener.set_nonblocking(true).unwrap();
            let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while std::time::Instant::now() < end
                && !server_done.load(std::sync::atomic::Ordering::Acquire)
            {
                let Ok((mut socket, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                };
                socket.set_nonblocking(false).unwrap();
                socket
                    .set_read_timeout(Some(std::time::Duration::from_millis(300)))
                    .unwrap();
                let mut buf = vec![0u8; 8192];
                while let Ok(n) = socket.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if buf[..n].starts_with(b"POST") {
                        posts += 1;
                    }
                    let answer = format!(
                        "HTTP/1.1 307 Temporary Redirect\r\nLocation: \
                         http://127.0.0.1:{port}/v3/again\r\nContent-Length: 0\r\n\r\n"
                    );
                    let _ = socket.write_all(answer.as_bytes());
                }
            }
            posts
        });
        let client = client_at(&format!("http://127.0.0.1:{port}"));
        let err = client
            .market_order("EUR_USD", Decimal::ONE, "tv-abc-o")
            .await
            .unwrap_err();
        done.store(true, std::sync::atomic::Ordering::Release);
        assert!(matches!(classify(err), SendError::Unknown(_)));
        assert_eq!(server.join().unwrap(), 1, "the order was posted once");
    }

    /// An order whose connection could not be made never reached OANDA: it is `not executed`
    /// (the core confirms by lookup, then may send again), never an `unknown` that dead-letters
    /// the signal and alarms.
    #[tokio::test]
    async fn an_order_whose_connection_was_never_made_is_not_executed_not_unknown() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
        drop(closed);
        let client = client_at(&base);
        let err = client
            .market_order("EUR_USD", Decimal::ONE, "tv-abc-o")
            .await
            .unwrap_err();
        assert!(matches!(err, OandaError::NotSent(_)), "{err:?}");
        match classify(err) {
            SendError::NotExecuted {
                reason,
                retry_after: None,
            } => assert!(reason.contains("could not connect to OANDA"), "{reason}"),
            other => panic!("{other:?}"),
        }
        // A failure after the request may have left stays unknown.
        assert!(matches!(
            classify(OandaError::Unknown("timed out".into())),
            SendError::Unknown(_)
        ));
    }

    fn reject(reason: &str) -> Vec<Transaction> {
        serde_json::from_value(serde_json::json!([{
            "id": "6390", "type": "MARKET_ORDER_REJECT", "instrument": "EUR_USD",
            "clientExtensions": {"id": "tv-abc-c"}, "rejectReason": reason,
        }]))
        .unwrap()
    }

    /// A close's reject for a side already flat reads as nothing to close, as the PUT's own
    /// answer does, so a lookup or a takeover does not stop a reversal's open on it; any other
    /// reject is a refusal.
    #[test]
    fn a_close_of_a_flat_side_found_in_the_transactions_is_nothing_to_close() {
        assert_eq!(
            find_in_transactions(&reject("CLOSEOUT_POSITION_DOESNT_EXIST"), "tv-abc-c"),
            Some(Ack::NothingToClose)
        );
        assert!(matches!(
            find_in_transactions(&reject("MARKET_HALTED"), "tv-abc-c"),
            Some(Ack::Cancelled { reason, .. }) if reason == "MARKET_HALTED"
        ));
        assert_eq!(
            find_in_transactions(&reject("MARKET_HALTED"), "tv-other"),
            None
        );
    }

    /// A close that filled, then a later send of it rejected as flat, under one client id:
    /// the fill is what the account holds, and is what the lookup reports.
    #[test]
    fn a_fill_wins_over_a_later_reject_of_the_same_client_id() {
        let mut txs: Vec<Transaction> = serde_json::from_value(serde_json::json!([
            {"id": "6380", "type": "MARKET_ORDER", "instrument": "EUR_USD",
             "clientExtensions": {"id": "tv-abc-c"}, "units": "-1000"},
            {"id": "6381", "type": "ORDER_FILL", "orderID": "6380", "instrument": "EUR_USD",
             "units": "-1000", "price": "1.08490"},
        ]))
        .unwrap();
        txs.extend(reject("CLOSEOUT_POSITION_DOESNT_EXIST"));
        assert!(matches!(
            find_in_transactions(&txs, "tv-abc-c"),
            Some(Ack::Filled { order_id: Some(id), .. }) if id.as_str() == "6380"
        ));
    }

    /// Two orders created under one client id, the first cancelled and the second filled:
    /// the fill is what the account holds, whichever create comes first; and its units (the
    /// fill's, not the create's) are what was traded.
    #[test]
    fn a_later_create_that_filled_wins_over_an_earlier_one_cancelled() {
        let txs: Vec<Transaction> = serde_json::from_value(serde_json::json!([
            {"id": "6380", "type": "MARKET_ORDER", "instrument": "EUR_USD",
             "clientExtensions": {"id": "tv-abc-o"}, "units": "1000"},
            {"id": "6381", "type": "ORDER_CANCEL", "orderID": "6380",
             "reason": "MARKET_HALTED"},
            {"id": "6382", "type": "MARKET_ORDER", "instrument": "EUR_USD",
             "clientExtensions": {"id": "tv-abc-o"}},
            {"id": "6383", "type": "ORDER_FILL", "orderID": "6382", "instrument": "EUR_USD",
             "units": "1000", "price": "1.08490"},
        ]))
        .unwrap();
        assert!(matches!(
            find_in_transactions(&txs, "tv-abc-o"),
            Some(Ack::Filled { order_id: Some(id), quantity: Some(q), .. })
                if id.as_str() == "6382" && q == Decimal::new(1000, 0)
        ));
        assert_eq!(fill_units(&txs, "tv-abc-o"), Some(Decimal::new(1000, 0)));
        assert_eq!(fill_units(&txs, "tv-other"), None);
    }

    /// An order OANDA refused because an open trade holds its trade client id says an
    /// earlier send of it filled: with that fill among the transactions, the fill is the
    /// answer; without it, a cancel leaves the order `working` (never sent again) and a
    /// reject is no answer at all (the lookup then reads the position), never "refused".
    #[test]
    fn a_trade_client_id_already_held_is_never_read_as_a_refusal() {
        let taken = crate::client::TRADE_ID_TAKEN;
        let cancelled: Vec<Transaction> = serde_json::from_value(serde_json::json!([
            {"id": "6382", "type": "MARKET_ORDER", "instrument": "EUR_USD",
             "clientExtensions": {"id": "tv-abc-o"}, "units": "-1000"},
            {"id": "6383", "type": "ORDER_CANCEL", "orderID": "6382", "reason": taken},
        ]))
        .unwrap();
        assert!(matches!(
            find_in_transactions(&cancelled, "tv-abc-o"),
            Some(Ack::Working { order_id, reason })
                if order_id.as_str() == "6382" && reason.contains(taken)
        ));
        let mut both: Vec<Transaction> = serde_json::from_value(serde_json::json!([
            {"id": "6380", "type": "MARKET_ORDER", "instrument": "EUR_USD",
             "clientExtensions": {"id": "tv-abc-o"}, "units": "-1000"},
            {"id": "6381", "type": "ORDER_FILL", "orderID": "6380", "instrument": "EUR_USD",
             "units": "-1000", "price": "1.08490"},
        ]))
        .unwrap();
        both.extend(cancelled);
        assert!(matches!(
            find_in_transactions(&both, "tv-abc-o"),
            Some(Ack::Filled { order_id: Some(id), .. }) if id.as_str() == "6380"
        ));
        assert_eq!(find_in_transactions(&reject(taken), "tv-abc-c"), None);
    }

    /// The client's answer to such a refusal, as a cancel (201) or a reject (400), is an
    /// unknown outcome to look up, never a cancel or a refusal of the leg.
    #[tokio::test]
    async fn an_order_answered_with_a_trade_client_id_already_held_is_unknown() {
        use broker_fakes::oanda::{FakeOanda, Fault};
        let fake = FakeOanda::start().await;
        let client = OandaClient::new(
            &fake.url,
            secrecy::SecretString::from(fake.token.clone()),
            &fake.account,
            crate::client::ClientSettings::default(),
        )
        .unwrap();
        let taken = crate::client::TRADE_ID_TAKEN;
        for fault in [Fault::Cancel(taken), Fault::Reject(taken)] {
            fake.script(fault);
            let err = client
                .market_order("EUR_USD", Decimal::ONE, "tv-abc-o")
                .await
                .unwrap_err();
            assert!(
                matches!(&err, OandaError::Unknown(why) if why.contains(taken)),
                "{err:?}"
            );
            assert!(matches!(classify(err), SendError::Unknown(_)));
        }
    }
}
