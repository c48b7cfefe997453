//! The Coinbase conversation of the shared execution core ([`executor_runtime::drive`]). A
//! spot account holds the base currency or it does not, so the core plans with
//! [`Book::Spot`]:
//!
//! - `LONG_ENTRY` buys for the configured quote amount (market IOC, `quote_size`) unless the
//!   account already holds at least `base_min_size` of the base currency, worth at least
//!   `quote_min_size` at the product's price (less is no position);
//! - `SHORT_ENTRY`, `LONG_EXIT` and `FLATTEN` sell the whole available base balance (market
//!   IOC, `base_size`), rounded down to `base_increment`; below `base_min_size` there is
//!   nothing to sell and the signal is a journaled no-op;
//! - `SHORT_EXIT` is a no-op: spot holds no short.
//!
//! A buy is the signal's `open` leg, a sell its `close` leg, each with the deterministic
//! client order id. Recovery source: Coinbase documents that a `client_order_id` that is not
//! unique creates no order and returns the existing one
//! (<https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/orders/create-order>,
//! `client_order_id`), and lists orders with their `client_order_id`
//! (`GET /api/v3/brokerage/orders/historical/batch`). An order of unknown outcome is looked
//! up there after the settle time; a send again reuses the same id, which Coinbase
//! deduplicates. A 429 is treated as unknown too: Coinbase does not document whether the
//! request was served, and the lookup plus the deduplicated id are safe either way.

use crate::client::{CoinbaseClient, OrderAck, OrderSize};
use crate::error::CoinbaseError;
use crate::models::{Order, Product};
use chrono::{DateTime, Duration as Span, Utc};
use executor_runtime::drive::{self, Ack, Conversation, Found, ReadError, SendError};
use executor_runtime::plan::{Book, Holdings, PlannedLeg, TradingRules};
use executor_runtime::venue::{ExecRequest, Execution, LegReport, NothingSent, Venue};
use rust_decimal::Decimal;
use shared::clock::Clock;
use shared::execution::Side;
use shared::routing::Broker;
use shared::routing::coinbase_currencies;
use std::time::Duration;
use tracing::{info, warn};

/// How far before a signal's receipt the order lookup starts listing: covers clock skew
/// between us and Coinbase; orders for a signal are never older than the signal.
const LOOKUP_MARGIN_MINUTES: i64 = 10;

/// How long an order of ours that cannot be read holds its product in this process: after a
/// day of failed reads with none that succeeded it is forgotten (with a warning), so that one
/// gone from Coinbase does not stop the product for the process's life. One that reads as not
/// final is never forgotten: it could still fill.
const PENDING_FOR: Span = Span::days(1);

#[derive(Debug)]
pub struct CoinbaseVenue<C> {
    client: CoinbaseClient,
    clock: C,
    settle: Duration,
    /// Orders of ours not seen final when the wait for them ran out (their signal ended
    /// `unknown`), by product, each with since when it could not be read: until each reads
    /// final, nothing is sent on the product, since a late fill would change the holdings the
    /// next signal plans from (an exit reading nothing held beside a buy that filled, a buy
    /// read as not held and made again).
    working: std::sync::Mutex<std::collections::HashMap<String, Vec<Noted>>>,
}

/// An order id held on a product, with since when it could not be read (`None`: read, or
/// not tried yet), and since when it has read ended but not settled (`None`: not so read).
type Noted = (String, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// How long an order of ours that ended (`FILLED`, `CANCELLED`, ...) but reads `settled:
/// false` holds its product: its `filled_size` may still grow and the wallet may not show its
/// fill, but Coinbase documents no time for `settled`, and held until then a product could
/// stay held for good. After this it is let go, with a warning, and the wallet read.
const UNSETTLED_FOR: Span = Span::minutes(2);

impl<C: Clock> CoinbaseVenue<C> {
    pub fn new(client: CoinbaseClient, clock: C) -> Self {
        Self {
            client,
            clock,
            settle: Duration::from_millis(500),
            working: Default::default(),
        }
    }

    /// Notes order `id` of ours on `product` as not final ([`Self::working_order`] reads it
    /// again before the product's next signal).
    fn note(&self, product: &str, id: &str) {
        let mut working = self.working.lock().unwrap_or_else(|e| e.into_inner());
        let list = working.entry(product.to_owned()).or_default();
        match list.iter_mut().find(|(o, _, _)| o == id) {
            Some(entry) => entry.1 = None,
            None => list.push((id.to_owned(), None, None)),
        }
    }

    fn forget(&self, product: &str, id: &str) {
        let mut working = self.working.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = working.get_mut(product) {
            list.retain(|(o, _, _)| o != id);
            if list.is_empty() {
                working.remove(product);
            }
        }
    }

    /// Records a failed read of `id` at `now` (kept if it failed before); returns since when
    /// it has failed.
    fn failed(&self, product: &str, id: &str, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut working = self.working.lock().unwrap_or_else(|e| e.into_inner());
        working
            .get_mut(product)
            .and_then(|list| list.iter_mut().find(|(o, _, _)| o == id))
            .map_or(now, |entry| *entry.1.get_or_insert(now))
    }

    /// Records that `id` read ended but not settled at `now` (kept if it did before; a read
    /// succeeded, so no longer failing); returns since when it has.
    fn unsettled(&self, product: &str, id: &str, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut working = self.working.lock().unwrap_or_else(|e| e.into_inner());
        working
            .get_mut(product)
            .and_then(|list| list.iter_mut().find(|(o, _, _)| o == id))
            .map_or(now, |entry| {
                entry.1 = None;
                *entry.2.get_or_insert(now)
            })
    }

    /// `Err` while an order of ours on `product` that was not seen final may still fill,
    /// read again now (`GET /orders/historical/{order_id}`): one read final is forgotten after
    /// the settle time (its fill may not show in the wallet at once), and so is one whose reads
    /// have all failed for more than [`PENDING_FOR`]. One that cannot be read counts as not
    /// final.
    async fn working_order(&self, product: &str) -> Result<(), ReadError> {
        let pending: Vec<String> = self
            .working
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(product)
            .map(|list| list.iter().map(|(o, _, _)| o.clone()).collect())
            .unwrap_or_default();
        let held = |why: String, fix: &str| {
            format!(
                "{why}: nothing is sent on {product} until it is final (it could still fill and \
                 change the holdings the next signal plans from); {fix}, then replay this signal \
                 from the dead-letter queue if it got there"
            )
        };
        for id in pending {
            let ended = |o: &Order| {
                matches!(
                    o.status.as_str(),
                    "FILLED" | "CANCELLED" | "EXPIRED" | "FAILED"
                )
            };
            match self.client.order(&id).await {
                // Ended and settled (or not said to be unsettled): it trades no more and its
                // size is what it traded.
                Ok(Some(order)) if ended(&order) && order.settled != Some(false) => {
                    info!(
                        order_id = id.as_str(),
                        status = order.status.as_str(),
                        "an order that held the product has ended; the holdings are read after the settle time"
                    );
                    tokio::time::sleep(self.settle).await;
                    self.forget(product, &id);
                }
                // Ended, not settled: its fills may still grow and the wallet not show them.
                // Held for [`UNSETTLED_FOR`] since first so read, then let go.
                Ok(Some(order)) if ended(&order) => {
                    let now = self.clock.now();
                    let since = self.unsettled(product, &id, now);
                    if now - since >= UNSETTLED_FOR {
                        warn!(
                            order_id = id.as_str(),
                            status = order.status.as_str(),
                            "an ended order still unsettled at the hold's limit is let go; the holdings are read now"
                        );
                        self.forget(product, &id);
                        continue;
                    }
                    return Err(ReadError::Unavailable(held(
                        format!(
                            "order {id}, sent or found for an earlier signal, ended ({}) but is \
                             not settled yet, so its fills may still show",
                            executor_runtime::http::shown_text(order.status.as_bytes())
                        ),
                        "it is let go once settled, or 2 minutes after it was first read ended",
                    )));
                }
                Ok(Some(order)) => {
                    self.note(product, &id);
                    return Err(ReadError::Unavailable(held(
                        format!(
                            "order {id}, sent or found for an earlier signal, is still {}",
                            executor_runtime::http::shown_text(order.status.as_bytes())
                        ),
                        "to go on sooner, cancel it at Coinbase",
                    )));
                }
                read => {
                    let why = match read {
                        Err(e) => e.to_string(),
                        _ => "not found".to_owned(),
                    };
                    let now = self.clock.now();
                    if now - self.failed(product, &id, now) > PENDING_FOR {
                        warn!(
                            order_id = id.as_str(),
                            error = why.as_str(),
                            "an order unreadable for a day is forgotten"
                        );
                        self.forget(product, &id);
                        continue;
                    }
                    return Err(ReadError::Unavailable(held(
                        format!(
                            "order {id}, sent or found for an earlier signal and not seen final, \
                             could not be read ({why})"
                        ),
                        "it is let go after a day of failed reads, or when the process restarts; \
                         to go on sooner, check the order at Coinbase and restart",
                    )));
                }
            }
        }
        Ok(())
    }

    /// With another settle time before a lookup (tests).
    pub fn with_settle_time(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    pub fn client(&self) -> &CoinbaseClient {
        &self.client
    }

    fn since(req: &ExecRequest<'_>) -> DateTime<Utc> {
        req.intent.received_at.min(req.intent.signal_time) - Span::minutes(LOOKUP_MARGIN_MINUTES)
    }

    async fn product(&self, req: &ExecRequest<'_>) -> Result<Product, ReadError> {
        let product_id = req.intent.instrument.as_str();
        let product = match self.client.product(product_id).await {
            Ok(p) => p,
            Err(CoinbaseError::Api { status: 404, .. }) => {
                return Err(ReadError::Refused(format!(
                    "Coinbase has no product {product_id}"
                )));
            }
            // A 401 left after the read's own retries is not proof of a wrong key: Coinbase
            // documents no 401 for this read and answers a correctly signed token 401 now and
            // then (coinbase/coinbase-advanced-py#132), so the signal comes back through the
            // queue (dead-lettered, alarmed, if it never passes) as when a later read of the
            // wallet is so answered; a refusal here would end an exit with its coins held.
            // A 403 (a key without the view permission) refuses the signal, naming the key.
            Err(e @ CoinbaseError::Auth { status: 401, .. }) => return Err(unavailable(e)),
            Err(e @ CoinbaseError::Auth { .. }) => return Err(ReadError::Refused(e.to_string())),
            Err(e) => return Err(unavailable(e)),
        };
        if let Some(why) = product.not_tradable() {
            return Err(ReadError::Refused(why));
        }
        Ok(product)
    }
}

/// A read that failed: a 429 after the read's own retries is [`ReadError::RateLimited`], so a
/// wait for a position stops rather than keep the key over its limit (Coinbase's 429 is its
/// rate limit's answer, its responses carrying `x-ratelimit-remaining` and
/// `x-ratelimit-reset`: the Advanced Trade SDK, `coinbase/constants.py`); anything else is
/// [`ReadError::Unavailable`].
fn unavailable(e: CoinbaseError) -> ReadError {
    match e {
        CoinbaseError::Api { status: 429, .. } => ReadError::RateLimited(e.to_string()),
        e => ReadError::Unavailable(e.to_string()),
    }
}

impl<C: Clock> CoinbaseVenue<C> {
    /// What the key's accounts hold of `currency`, available (not on hold), summed over the
    /// accounts of its portfolio. The key's orders draw on one portfolio, which the API does
    /// not name when none is given (Create Order's `retail_portfolio_id` is optional; "CDP
    /// keys will default to the key's permissioned portfolio", which List Accounts does not
    /// mark, <https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/orders/create-order>).
    /// So where the key's spot accounts belong to more than one portfolio (by their
    /// `retail_portfolio_id`), what the key holds is unknown, whatever each holds: refused.
    /// Not the sum over portfolios (a sale beyond any one of them), nor the one holding the
    /// currency: the portfolio orders draw on may hold none of it, and an entry would be
    /// taken as already held and skipped.
    async fn held(&self, currency: &str) -> Result<Decimal, ReadError> {
        let accounts = self
            .client
            .available_by_account()
            .await
            .map_err(unavailable)?;
        // Portfolios by the ids the accounts name. An account naming none (null, or `""`,
        // as Coinbase writes other unset fields) adds none: CDP keys "default to the key's
        // permissioned portfolio", so its accounts are taken as the key's own.
        let portfolios: std::collections::BTreeSet<&str> = accounts
            .values()
            .flatten()
            .filter_map(|(portfolio, _)| portfolio.as_deref().filter(|p| !p.is_empty()))
            .collect();
        let of_currency = accounts.get(currency).into_iter().flatten();
        if portfolios.len() > 1 {
            let holding = of_currency.filter(|(_, value)| !value.is_zero()).count();
            return Err(ReadError::Refused(format!(
                "this API key sees accounts of {} portfolios ({currency} held in {holding} \
                 account(s) of them): which one its orders draw on is not known; use a key of \
                 one portfolio",
                portfolios.len()
            )));
        }
        Ok(of_currency.map(|(_, v)| *v).sum())
    }

    /// A refusal (`reason`) of a send that may follow an earlier send under the same client
    /// order id (a send again, or a takeover's first send): the order list is read again; the
    /// order it shows is followed, and one it does not show yet is unknown, to be looked up
    /// by the core after its settle time, never taken as refused.
    async fn relisted(
        &self,
        req: &ExecRequest<'_>,
        report: &LegReport,
        reason: String,
    ) -> Result<Ack, SendError> {
        match self.listed(req, report.client_order_id.as_str()).await {
            Ok(Some(order)) => Ok(self.followed(req, order.order_id, report.side).await),
            // Not listed yet, maybe (a list may lag an order by a while).
            Ok(None) => Err(SendError::Unknown(format!(
                "{reason}; an earlier send under this client order id may have made an order the list does not show yet"
            ))),
            // Refused, or the first send's order not listed: not known which.
            Err(e) => Err(SendError::Unknown(format!(
                "{reason}; the order list could not be read to tell it from the first send's order: {e}"
            ))),
        }
    }

    /// The signal's order under `client_order_id` in the product's order list since shortly
    /// before the signal, if listed.
    async fn listed(
        &self,
        req: &ExecRequest<'_>,
        client_order_id: &str,
    ) -> Result<Option<Order>, CoinbaseError> {
        self.client
            .order_by_client_id(
                req.intent.instrument.as_str(),
                client_order_id,
                Self::since(req),
            )
            .await
    }

    /// What `order`, read back for a leg of `req` sent on `side`, came to ([`ack_of_ours`]);
    /// ours and [`Ack::Working`], it holds the product (see `working`), whichever path read
    /// it (the wait after a send, a lookup after a lost answer, a takeover): an order of
    /// another product or side is not ours to hold. Whatever `is_final` says: a `FILLED`
    /// order whose size is not shown is `Working` too, and the wallet may not show its fill.
    fn judged(&self, order: &Order, req: &ExecRequest<'_>, side: Side) -> Ack {
        let ack = ack_of_ours(order, req, side);
        if not_ours(order, req, side).is_none() && matches!(ack, Ack::Working { .. }) {
            self.note(req.intent.instrument.as_str(), &order.order_id);
        }
        ack
    }

    /// What an order Coinbase accepted came to: it is read until final, within the staleness
    /// budget (at least `fill_settle`, at most `fill_wait`). Still not final, not found or
    /// unreadable, it is [`Ack::Working`]: whether it filled is unknown, and it is never sent
    /// again.
    async fn followed(&self, req: &ExecRequest<'_>, order_id: String, side: Side) -> Ack {
        let settings = self.client.settings();
        let wait = drive::remaining(&self.clock, req.deadline)
            .max(settings.fill_settle)
            .min(settings.fill_wait.max(settings.fill_settle));
        let product = req.intent.instrument.as_str();
        match self.client.settled_order(&order_id, wait).await {
            Ok(Some(order)) => self.judged(&order, req, side),
            Ok(None) => {
                self.note(product, &order_id);
                warn!(
                    order_id = order_id.as_str(),
                    "accepted order not found when read"
                );
                Ack::Working {
                    order_id: order_id.into(),
                    reason: "not found when read, so whether it filled is unknown".into(),
                }
            }
            Err(e) => {
                warn!(error = %e, "accepted order could not be read");
                self.note(product, &order_id);
                Ack::Working {
                    order_id: order_id.into(),
                    reason: format!("could not be read ({e}), so whether it filled is unknown"),
                }
            }
        }
    }
}

/// `value` rounded down to a multiple of `increment`, in decimal arithmetic; `None` when the
/// count of increments is past what a `Decimal` holds (about 7.9e28: a balance of 1e11 in
/// increments of 1e-18), which no documented product comes near.
pub fn floor_to_increment(value: Decimal, increment: Decimal) -> Option<Decimal> {
    if increment <= Decimal::ZERO {
        return Some(value);
    }
    let steps = value.checked_div(increment)?.trunc();
    Some(steps.checked_mul(increment)?.normalize())
}

/// The base and quote currencies of a product (`BTC-USD` → `BTC`, `USD`).
fn currencies(product: &Product) -> Option<(String, String)> {
    match (&product.base_currency_id, &product.quote_currency_id) {
        (Some(b), Some(q)) if !b.is_empty() && !q.is_empty() => Some((b.clone(), q.clone())),
        _ => coinbase_currencies(&product.product_id).map(|(b, q)| (b.to_owned(), q.to_owned())),
    }
}

/// An order read back (after a send, or found by its client order id) that is not the one
/// sent: another product, or the other side. Coinbase documents that a repeated
/// `client_order_id` returns the order already associated with it, not that its answer
/// echoes that order rather than the new request, so what is read back is checked against
/// what was sent before it is taken as ours
/// (<https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/orders/create-order>,
/// `client_order_id`). Not ours: whether ours was placed or filled is unknown.
fn not_ours(order: &Order, req: &ExecRequest<'_>, side: Side) -> Option<Ack> {
    let sent = match side {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    };
    let product = req.intent.instrument.as_str();
    // A side left out of the answer is not a different side.
    let other_side = !order.side.is_empty() && !order.side.eq_ignore_ascii_case(sent);
    (order.product_id != product || other_side).then(|| Ack::Working {
        order_id: order.order_id.as_str().into(),
        reason: format!(
            "the order read back under this client order id is {} {}, not the {product} {sent} sent, so whether ours was placed or filled is unknown",
            order.product_id,
            if order.side.is_empty() { "(side not given)" } else { order.side.as_str() }
        ),
    })
}

/// What an order read back under one of our client order ids came to: not ours
/// ([`not_ours`]), or [`ack_of`] it, read as the side sent where Coinbase gives none (a sell's
/// fill short of its size is a fill in part only when its side reads `SELL`).
fn ack_of_ours(order: &Order, req: &ExecRequest<'_>, side: Side) -> Ack {
    if let Some(other) = not_ours(order, req, side) {
        return other;
    }
    if order.side.is_empty() {
        let mut sided = order.clone();
        sided.side = match side {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
        .to_owned();
        return ack_of(&sided);
    }
    ack_of(order)
}

/// What an order Coinbase holds came to. The quantity becomes the filled base size when
/// Coinbase reports one.
fn ack_of(order: &Order) -> Ack {
    let filled = order.filled_size.unwrap_or_default();
    let price = order.average_filled_price.filter(|p| *p > Decimal::ZERO);
    // Get Order documents `filled_size` but not that it is always there. Without it, a filled
    // buy (sized in the quote currency) would be journaled with its quote amount as the base
    // size bought, and a partial fill read as unfilled. Only a sell filled in full keeps its
    // planned size (the base size asked); anything else with a fill and no size is unknown,
    // for an operator, rather than a wrong position and P&L.
    if filled <= Decimal::ZERO {
        let sold_in_full = order.status == "FILLED" && order.side == "SELL";
        let filled_some =
            order.status == "FILLED" || order.filled_value.is_some_and(|v| v > Decimal::ZERO);
        if filled_some && !sold_in_full {
            return Ack::Working {
                order_id: order.order_id.as_str().into(),
                reason: format!(
                    "{} with a fill but no filled_size: the base size it traded is unknown",
                    executor_runtime::http::shown_text(order.status.as_bytes())
                ),
            };
        }
    }
    // A sale `FILLED` without its size sold the base size it asked (its
    // `order_configuration`): a market IOC order is `FILLED` only in full. On the send path
    // that is the planned size; a takeover's read of an earlier attempt's order has only this.
    let sold_in_full = (order.status == "FILLED" && order.side == "SELL")
        .then(|| order.asked().0)
        .flatten()
        .filter(|a| *a > Decimal::ZERO);
    let filled_ack = || Ack::Filled {
        order_id: Some(order.order_id.as_str().into()),
        quantity: (filled > Decimal::ZERO).then_some(filled).or(sold_in_full),
        price,
        // The order's `total_fees` (Advanced Trade API, Get Order: "total_fees", in the quote
        // currency): a fee it gives, and zero once something filled (a fee-free fill is a fee
        // of zero, not one the broker did not report, which the report counts apart).
        // So is a sale read `FILLED` without its size, sold in full.
        fee: order
            .total_fees
            .filter(|f| *f > Decimal::ZERO || filled > Decimal::ZERO || sold_in_full.is_some()),
    };
    // What filled of a market IOC order that did not fill in full: the leg is filled at that
    // size, and the signal stops there and is alarmed.
    let in_part = || {
        let (base, quote) =
            coinbase_currencies(&order.product_id).unwrap_or((order.product_id.as_str(), ""));
        let (asked_base, asked_quote) = order.asked();
        let of = match (order.side.as_str(), asked_base, asked_quote) {
            ("SELL", Some(b), _) => format!("sold {filled} of the {b} {base} asked"),
            ("BUY", _, Some(q)) => format!(
                "bought {filled} {base} for {} of the {q} {quote} asked",
                order.filled_value.unwrap_or_default()
            ),
            _ => format!("{filled} {base} filled"),
        };
        warn!(status = order.status.as_str(), filled = %filled, "IOC order filled in part");
        Ack::FilledInPart {
            order_id: Some(order.order_id.as_str().into()),
            quantity: (filled > Decimal::ZERO).then_some(filled),
            price,
            fee: order
                .total_fees
                .filter(|f| *f > Decimal::ZERO || filled > Decimal::ZERO),
            rest: format!(
                "order {} {of}; Coinbase ended it {}, the rest unfilled (immediate or cancel)",
                order.order_id,
                executor_runtime::http::shown_text(order.status.as_bytes())
            ),
        }
    };
    if order.settled == Some(false)
        && (matches!(order.status.as_str(), "CANCELLED" | "EXPIRED" | "FAILED")
            || order.unsettled_short())
    {
        // A final status not settled yet: its fills may not be all listed (see
        // `Order::settled`). Read on; never taken for "nothing filled".
        return Ack::Working {
            order_id: order.order_id.as_str().into(),
            reason: format!(
                "{} but not settled when last read, {filled} filled so far",
                executor_runtime::http::shown_text(order.status.as_bytes())
            ),
        };
    }
    match order.status.as_str() {
        // A sell asks a base size: a fill reported below it is a fill in part, whichever
        // status it ends with (Coinbase documents no final status of a partly filled market
        // IOC order). A buy asks a quote amount, which fees and rounding keep a full fill's
        // value under: only its status tells.
        "FILLED"
            if order.side == "SELL"
                && filled > Decimal::ZERO
                && order.asked().0.is_some_and(|asked| filled < asked) =>
        {
            in_part()
        }
        "FILLED" => filled_ack(),
        // An IOC order may fill in part and cancel the rest: what filled is what counts.
        // `FAILED` too: Coinbase documents no status that guarantees nothing traded, so a
        // reported fill is taken whatever the status says.
        "CANCELLED" | "EXPIRED" | "FAILED" if filled > Decimal::ZERO => in_part(),
        "CANCELLED" | "EXPIRED" | "FAILED" => {
            let why = [
                &order.reject_reason,
                &order.reject_message,
                &order.cancel_message,
            ]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty() && !s.starts_with("UNKNOWN_") && !s.ends_with("UNSPECIFIED"))
            // Cut and redacted: journaled, logged and mailed.
            .map(|s| executor_runtime::http::shown_text(s.as_bytes()))
            .collect::<Vec<_>>()
            .join(": ");
            Ack::Cancelled {
                order_id: Some(order.order_id.as_str().into()),
                reason: if why.is_empty() {
                    format!("order {} ended {} unfilled", order.order_id, order.status)
                } else {
                    format!("order {} ended {}: {why}", order.order_id, order.status)
                },
            }
        }
        // Anything else (OPEN, QUEUED, CANCEL_QUEUED, UNKNOWN_ORDER_STATUS, a status not
        // listed): not final. Coinbase documents no time within which a market IOC order is
        // final, nor that one cannot end CANCELLED unfilled, so it is not taken for a fill:
        // Coinbase has it, it is never sent again, and the leg ends unknown for an operator.
        status => Ack::Working {
            order_id: order.order_id.as_str().into(),
            reason: format!(
                "still {} when last read, {filled} filled so far",
                executor_runtime::http::shown_text(status.as_bytes())
            ),
        },
    }
}

impl<C: Clock> Conversation for CoinbaseVenue<C> {
    /// What the wallet holds of the base currency, in words, for a no-op's reason.
    type Mark = String;

    fn broker(&self) -> Broker {
        Broker::Coinbase
    }

    /// The key name: a CDP key belongs to one portfolio, so it names what is traded.
    fn account(&self) -> &str {
        self.client.key_name()
    }

    fn book(&self) -> Book {
        Book::Spot
    }

    /// A buy shows once the base currency's available balance holds at least what it
    /// bought (its filled base size: a buy without one is not `filled`), read as is: the
    /// holdings read counts a balance worth less than the minimum order as nothing, which a
    /// buy of about the minimum could stay under, and Coinbase documents no time within which
    /// a fill shows in `available_balance`.
    async fn open_shows(
        &self,
        req: &ExecRequest<'_>,
        leg: &PlannedLeg,
        report: &LegReport,
        before: &Holdings,
    ) -> Result<bool, ReadError> {
        if leg.side != Side::Buy {
            let (h, _) = self.holdings(req).await?;
            return Ok(h.short < before.short);
        }
        let product = self.product(req).await?;
        let Some((base, _)) = currencies(&product) else {
            return Err(ReadError::Refused(format!(
                "{} is not BASE-QUOTE",
                product.product_id
            )));
        };
        Ok(self.held(&base).await? >= report.quantity)
    }

    fn settle_time(&self) -> Duration {
        self.settle
    }

    /// A buy's size is its quote amount: its notional is the size itself.
    fn notional_price(&self, _: &ExecRequest<'_>) -> Decimal {
        Decimal::ONE
    }

    /// A buy's size is a quote amount (`quote_size`): the product id's quote currency,
    /// `BTC-USD` → `USD` ([`coinbase_currencies`]).
    fn open_size_unit(&self, req: &ExecRequest<'_>) -> Option<String> {
        coinbase_currencies(req.intent.instrument.as_str()).map(|(_, quote)| quote.to_owned())
    }

    /// The available base balance, rounded down to `base_increment`. It counts as nothing
    /// (dust) under `base_min_size`; and for a LONG_ENTRY also when it is worth less than
    /// `quote_min_size` at the product's `price` (Get Product's fields, Advanced Trade API):
    /// BTC-USD's `base_min_size` can be a single satoshi, and a leftover of a few cents (a
    /// hold released after a sell, a sell filled in part) must not read as a long position
    /// that turns every later LONG_ENTRY into "already holding". An exit still sells it:
    /// Coinbase documents no minimum value for a sell sized in the base currency. Without a
    /// price only `base_min_size` applies.
    async fn holdings(&self, req: &ExecRequest<'_>) -> Result<(Holdings, String), ReadError> {
        self.working_order(req.intent.instrument.as_str()).await?;
        let product = self.product(req).await?;
        let Some((base, quote)) = currencies(&product) else {
            return Err(ReadError::Refused(format!(
                "{} is not BASE-QUOTE",
                product.product_id
            )));
        };
        let available = self.held(&base).await?;
        let Some(held) = floor_to_increment(available, product.base_increment) else {
            return Err(ReadError::Refused(format!(
                "{available} {base} available in increments of {} ({}'s base_increment): \
                 too many to count",
                product.base_increment, product.product_id
            )));
        };
        let worth = product
            .price
            .filter(|p| *p > Decimal::ZERO)
            .map(|p| (p, held * p));
        if let Some((price, worth)) = worth
            && req.intent.target == shared::alert::TargetPosition::Long
            && held >= product.base_min_size
            && worth < product.quote_min_size
        {
            let note = format!(
                "{held} {base} available, worth {} at {}: under the minimum order of {} {}, not a position",
                worth.round_dp(8).normalize(),
                price.normalize(),
                product.quote_min_size.normalize(),
                quote
            );
            return Ok((Holdings::net(Decimal::ZERO), note));
        }
        if held > Decimal::ZERO && held >= product.base_min_size {
            // A sale sells all that is held, in one order: over the product's
            // `base_max_size` (Get Product,
            // <https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/products/get-product>)
            // Coinbase would refuse it, so it is refused here, before any order leaves.
            // Selling it in several orders would need a client order id for each, which a
            // signal's legs do not have.
            let sells = !matches!(
                req.intent.target,
                shared::alert::TargetPosition::Long | shared::alert::TargetPosition::NoShort
            );
            if let Some(max) = product.base_max_size.filter(|m| *m > Decimal::ZERO)
                && sells
                && held > max
            {
                return Err(ReadError::Refused(format!(
                    "selling the {held} {base} held is over {}'s maximum order size of {} {base} \
                     (base_max_size): one order cannot sell it; nothing sent",
                    product.product_id,
                    max.normalize()
                )));
            }
            let note = format!(
                "already holding {available} {base} (minimum size {})",
                product.base_min_size.normalize()
            );
            return Ok((Holdings::net(held), note));
        }
        let note = format!(
            "{available} {base} available, {held} after rounding down to {}: below the minimum size {}, nothing to sell",
            product.base_increment.normalize(),
            product.base_min_size.normalize()
        );
        Ok((Holdings::net(Decimal::ZERO), note))
    }

    fn no_op_reason(&self, req: &ExecRequest<'_>, _: &Holdings, note: &String) -> String {
        match req.intent.target {
            shared::alert::TargetPosition::NoShort => {
                "spot holds no short: nothing to close".into()
            }
            _ => note.clone(),
        }
    }

    /// A buy spends a quote amount: `quote_increment`, `quote_min_size`, `quote_max_size`.
    async fn rules(&self, req: &ExecRequest<'_>) -> Result<TradingRules, ReadError> {
        let product = self.product(req).await?;
        Ok(TradingRules {
            increment: product.quote_increment,
            min_size: product.quote_min_size,
            max_size: product.quote_max_size.filter(|m| *m > Decimal::ZERO),
            // Coinbase publishes no position limit for a spot wallet.
            max_position: None,
        })
    }

    async fn send(
        &self,
        req: &ExecRequest<'_>,
        leg: &PlannedLeg,
        report: &LegReport,
    ) -> Result<Ack, SendError> {
        let size = match leg.side {
            Side::Buy => OrderSize::Quote(leg.quantity),
            Side::Sell => OrderSize::Base(leg.quantity),
        };
        let product = req.intent.instrument.as_str();
        match self
            .client
            .market_order(product, leg.side, size, report.client_order_id.as_str())
            .await
        {
            Ok(OrderAck::Accepted { order_id }) => {
                info!(
                    leg = leg.leg.as_str(),
                    order_id = order_id.as_str(),
                    "order accepted"
                );
                Ok(self.followed(req, order_id, leg.side).await)
            }
            // A send again (same `client_order_id`) after a lookup found nothing, or a
            // takeover's first send: Coinbase documents that a repeated id returns the order
            // already made, but not how that answer reads (`success: false` for a duplicate is
            // not excluded). Such a refusal is not believed: the order list is read again, and
            // what it does not show yet goes back to the core as unknown, to be looked up.
            // So is a 401 or 403 then: it says this request was not authorized (RFC 9110,
            // sections 15.5.2 and 15.5.4), nothing of the earlier send's order, which may
            // have filled (a key rotated or a clock drifted between the two sends).
            Ok(OrderAck::Rejected { reason }) if report.attempt > 1 || req.takeover => {
                self.relisted(req, report, reason).await
            }
            Err(e @ CoinbaseError::Auth { .. }) if report.attempt > 1 || req.takeover => {
                self.relisted(req, report, e.to_string()).await
            }
            Ok(OrderAck::Rejected { reason }) => Err(SendError::Rejected {
                order_id: None,
                reason,
            }),
            // A leg's first send answered 401 or 403: Coinbase's Create Order reference
            // documents neither, and answers a correctly signed token 401 now and then
            // (<https://github.com/coinbase/coinbase-advanced-py/issues/132>), so it is not
            // taken as refused, which would lose the signal (an exit's coins left held). Looked
            // up by `client_order_id` after the settle time and sent again once with the same
            // id when nothing is found, as after a timeout (Coinbase returns the order already
            // made for a repeated id). A key that is wrong fails the lookup's reads too (the
            // lookup cannot tell): the leg ends `unknown` (alarmed, dead-lettered for a replay
            // once the key is fixed), the key named in its reason.
            // Except a 403 that says the key is missing a scope, which the official SDK reads
            // as such (`rest_base.handle_exception`): a key without the trade permission,
            // definitive (nothing placed for want of the permission), and the operator must
            // act; sent again it would only be refused again.
            Err(
                e @ CoinbaseError::Auth {
                    missing_scopes: true,
                    ..
                },
            ) => Err(SendError::Rejected {
                order_id: None,
                reason: e.to_string(),
            }),
            Err(e @ CoinbaseError::Auth { .. }) => Err(SendError::Unknown(e.to_string())),
            // Signing failed: the request never left.
            Err(e @ (CoinbaseError::Key(_) | CoinbaseError::BaseUrl(_))) => {
                Err(SendError::NotExecuted {
                    reason: e.to_string(),
                    retry_after: None,
                })
            }
            // Its text only: the core's own error says "outcome unknown" already.
            Err(CoinbaseError::Unknown(why)) => Err(SendError::Unknown(why)),
            Err(e) => Err(SendError::Unknown(e.to_string())),
        }
    }

    async fn lookup(
        &self,
        req: &ExecRequest<'_>,
        _: &PlannedLeg,
        report: &LegReport,
        _: &String,
    ) -> Found {
        match self.listed(req, report.client_order_id.as_str()).await {
            // Found, not final yet: followed as an accepted order is.
            Ok(Some(order)) if !order.is_final() => {
                Found::Order(self.followed(req, order.order_id, report.side).await)
            }
            Ok(Some(order)) => Found::Order(self.judged(&order, req, report.side)),
            Ok(None) => Found::NotCreated,
            Err(e) => Found::Inconclusive(e.to_string()),
        }
    }

    async fn recover(&self, req: &ExecRequest<'_>) -> Result<Vec<LegReport>, ReadError> {
        let mut legs = Vec::new();
        for (leg, side) in [
            (shared::execution::Leg::Close, Side::Sell),
            (shared::execution::Leg::Open, Side::Buy),
        ] {
            let coid = req.client_order_id(leg);
            // Unreadable: nothing is sent, and the core ends the takeover `unknown` with what it
            // found (alarmed, dead-lettered for a replay), rather than a plan from the wallet
            // alone that journals the earlier attempt's fills as nothing.
            let found = self
                .listed(req, coid.as_str())
                .await
                .map_err(|e| ReadError::Unavailable(format!("orders: {e}")))?;
            if let Some(order) = found {
                let mut r = LegReport::new(req, leg, side, Decimal::ZERO);
                r.broker_order_id = Some(order.order_id.as_str().into());
                r.quantity = order.filled_size.unwrap_or_default();
                r.fill_price = order.average_filled_price;
                // Not final yet (a crash right after the send): followed as an accepted order
                // is, before anything is decided.
                let ack = if order.is_final() {
                    self.judged(&order, req, side)
                } else {
                    self.followed(req, order.order_id.clone(), side).await
                };
                let (ack, rest) = ack.split_in_part();
                if let Some(rest) = rest {
                    r.in_part = true;
                    r.error = Some(rest);
                }
                match ack {
                    Ack::Filled {
                        quantity,
                        price,
                        fee,
                        ..
                    } => {
                        r.quantity = quantity.unwrap_or(r.quantity);
                        r.fill_price = price.or(r.fill_price);
                        r.fee = fee;
                        if r.quantity > Decimal::ZERO {
                            r.outcome = shared::outcome::Outcome::Filled;
                        } else {
                            // A sale filled in full is its asked `base_size` (`ack_of`): here
                            // that size could not be read.
                            r.outcome = shared::outcome::Outcome::Unknown;
                            r.error = Some(format!(
                                "order {} of an earlier attempt is {} without a filled_size: the \
                                 size it traded is unknown; not sending another",
                                order.order_id, order.status
                            ));
                        }
                    }
                    Ack::Cancelled { reason, .. } => {
                        r.outcome = shared::outcome::Outcome::Rejected;
                        r.error = Some(reason);
                    }
                    // Still not final, or unreadable: never sent again; the signal ends
                    // unknown, for an operator.
                    Ack::Working { reason, .. } => {
                        r.outcome = shared::outcome::Outcome::Unknown;
                        r.error = Some(format!(
                            "order {} of an earlier attempt, outcome unknown: {reason}; not sending another",
                            order.order_id
                        ));
                    }
                    // Made a fill above.
                    Ack::FilledInPart { .. } => {}
                    Ack::NothingToClose => {
                        r.outcome = shared::outcome::Outcome::Unknown;
                        r.error = Some(format!(
                            "order {} of an earlier attempt is still {}: not sending another",
                            order.order_id, order.status
                        ));
                    }
                }
                // A buy not known to have filled is journaled in what it was to spend (the
                // quote currency, `OrderRecord::quantity_unit`): the base it bought so far
                // (`filled_size`) would read as that many USD. The order's own `quote_size`
                // (its `order_configuration`, as List Orders and Get Order give it), else
                // zero, which keeps the journaled amount (`processor::number_as_journaled`);
                // the base goes into the reason, the price with it.
                if side == Side::Buy && r.outcome != shared::outcome::Outcome::Filled {
                    let bought = r.quantity;
                    r.quantity = order.asked().1.unwrap_or_default();
                    if !bought.is_zero() {
                        let said = r.error.take().map(|e| format!("{e}; ")).unwrap_or_default();
                        r.error = Some(format!(
                            "{said}{bought} of the base currency bought so far{}",
                            r.fill_price
                                .take()
                                .map(|p| format!(" at {p}"))
                                .unwrap_or_default()
                        ));
                    }
                }
                legs.push(r);
            }
        }
        Ok(legs)
    }
}

/// The available balance of the product's base currency (`BTC` of `BTC-USD`) over the
/// account list (`GET /api/v3/brokerage/accounts`): spot holds no short.
impl<C: Clock> executor_runtime::venue::PositionRead for CoinbaseVenue<C> {
    async fn position(&self, instrument: &str) -> Result<Decimal, ReadError> {
        let Some((base, _)) = coinbase_currencies(instrument) else {
            return Err(ReadError::Refused(format!(
                "{instrument} is not BASE-QUOTE"
            )));
        };
        self.held(base).await
    }
}

impl<C: Clock> Venue for CoinbaseVenue<C> {
    fn broker(&self) -> Broker {
        Broker::Coinbase
    }

    fn account(&self) -> &str {
        self.client.key_name()
    }

    async fn execute(&self, req: &ExecRequest<'_>) -> Result<Execution, NothingSent> {
        drive::execute(self, &self.clock, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::{Ack, Order, ack_of, ack_of_ours, floor_to_increment, not_ours};
    use executor_runtime::venue::{ExecRequest, Size};
    use rust_decimal::Decimal;
    use shared::execution::Side;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or_default()
    }

    fn order(json: &str) -> Order {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
    }

    /// An order read back under our client order id that is another product's, or the other
    /// side's, is not taken as ours: whether ours was placed or filled is unknown. One that
    /// matches (a side left out of the answer is no other side) is read as it came.
    #[test]
    fn an_order_read_back_for_another_product_or_side_is_not_ours() {
        let intent = test_kit::executor::IntentFor {
            broker: shared::routing::Broker::Coinbase,
            instrument: "BTC-USD",
            symbol: "BTCUSD",
            exchange: "COINBASE",
            reference_price: Decimal::new(50000, 0),
            id_prefix: "coinbase-",
            contract: None,
        }
        .intent(shared::Action::LongEntry, 1);
        let req = ExecRequest {
            intent: &intent,
            size: Size::Quantity(Decimal::from(100)),
            deadline: intent.signal_time + chrono::Duration::seconds(30),
            max_notional: Decimal::from(1_000),
            max_position: None,
            takeover: false,
            may_send: true,
            refused: None,
            gate: None,
            journaled: &[],
        };
        let read = |product: &str, side: &str| {
            order(&format!(
                r#"{{"order_id":"o-1","product_id":"{product}","side":"{side}","client_order_id":"c","status":"FILLED","filled_size":"0.002","average_filled_price":"50000"}}"#
            ))
        };
        let other_product = not_ours(&read("ETH-USD", "BUY"), &req, Side::Buy);
        assert!(
            matches!(&other_product, Some(Ack::Working { reason, .. }) if reason.contains("ETH-USD BUY, not the BTC-USD BUY sent")),
            "{other_product:?}"
        );
        assert!(not_ours(&read("BTC-USD", "SELL"), &req, Side::Buy).is_some());
        assert!(not_ours(&read("BTC-USD", "BUY"), &req, Side::Buy).is_none());
        // A sell of ours read back with no side (`null`) and less filled than it asked: a
        // fill in part, as the side sent says; read as its empty side, it was a full fill.
        let sideless = order(
            r#"{"order_id":"o-2","product_id":"BTC-USD","side":null,"client_order_id":"c","status":"FILLED","filled_size":"0.3","average_filled_price":"50000","order_configuration":{"market_market_ioc":{"base_size":"0.5"}}}"#,
        );
        let sideless = ack_of_ours(&sideless, &req, Side::Sell);
        assert!(
            matches!(&sideless, Ack::FilledInPart { rest, .. } if rest.contains("sold 0.3 of the 0.5 BTC asked")),
            "{sideless:?}"
        );
        assert!(not_ours(&read("BTC-USD", ""), &req, Side::Buy).is_none());
    }

    /// A fill whose base size Coinbase did not report is never journaled with the planned
    /// quote amount as its size: a buy (or a partial fill) without `filled_size` is unknown;
    /// a sell filled in full keeps the base size it asked for.
    #[test]
    fn a_fill_without_a_filled_size_is_unknown_unless_a_sell_filled_in_full() {
        let buy = order(
            r#"{"order_id":"o1","product_id":"BTC-USD","side":"BUY","status":"FILLED",
                "average_filled_price":"50000","filled_value":"1000"}"#,
        );
        assert!(
            matches!(ack_of(&buy), Ack::Working { reason, .. } if reason.contains("no filled_size")),
            "{:?}",
            ack_of(&buy)
        );
        let partial = order(
            r#"{"order_id":"o2","product_id":"BTC-USD","side":"SELL","status":"CANCELLED",
                "filled_value":"250"}"#,
        );
        assert!(matches!(ack_of(&partial), Ack::Working { .. }));
        let sell = order(
            r#"{"order_id":"o3","product_id":"BTC-USD","side":"SELL","status":"FILLED",
                "average_filled_price":"50000","total_fees":"1.50"}"#,
        );
        // Its fee kept: the size missing is no reason to report no fee.
        assert!(
            matches!(ack_of(&sell), Ack::Filled { quantity: None, price: Some(p), fee: Some(f), .. }
                if p == d("50000") && f == d("1.50")),
            "{:?}",
            ack_of(&sell)
        );
        // Its asked `base_size` shown (as Get Order shows an order's `order_configuration`,
        // which a takeover's read of an earlier attempt's order has, where the send path has
        // its planned size): that is what it sold.
        let asked = order(
            r#"{"order_id":"o3b","product_id":"BTC-USD","side":"SELL","status":"FILLED",
                "average_filled_price":"50000", "total_fees":"0",
                "order_configuration":{"market_market_ioc":{"base_size":"0.015"}}}"#,
        );
        // A fee of zero kept as zero: a fee-free fill, not one without a reported fee.
        assert!(
            matches!(ack_of(&asked), Ack::Filled { quantity: Some(q), fee: Some(f), .. }
                if q == d("0.015") && f.is_zero()),
            "{:?}",
            ack_of(&asked)
        );
        // With the size reported, a buy is a fill of that size; an unfilled cancel is a no.
        let sized = order(
            r#"{"order_id":"o4","product_id":"BTC-USD","side":"BUY","status":"FILLED",
                "filled_size":"0.02","average_filled_price":"50000"}"#,
        );
        assert!(matches!(ack_of(&sized), Ack::Filled { quantity: Some(q), .. } if q == d("0.02")));
        let unfilled =
            order(r#"{"order_id":"o5","product_id":"BTC-USD","side":"BUY","status":"CANCELLED"}"#);
        assert!(matches!(ack_of(&unfilled), Ack::Cancelled { .. }));
        // A buy that ended FAILED after part of it filled holds what it bought: never
        // "rejected, nothing filled".
        let failed_after_fill = order(
            r#"{"order_id":"o9","product_id":"BTC-USD","side":"BUY","status":"FAILED",
                "filled_size":"0.001","filled_value":"50","average_filled_price":"50000",
                "order_configuration":{"market_market_ioc":{"quote_size":"100"}}}"#,
        );
        assert!(
            matches!(ack_of(&failed_after_fill), Ack::FilledInPart { quantity: Some(q), .. } if q == d("0.001")),
            "{:?}",
            ack_of(&failed_after_fill)
        );
        let failed =
            order(r#"{"order_id":"o10","product_id":"BTC-USD","side":"BUY","status":"FAILED"}"#);
        assert!(matches!(ack_of(&failed), Ack::Cancelled { .. }));
    }

    /// A sell reported `FILLED` below the base size it asked is a fill in part all the same:
    /// Coinbase documents no final status of a partly filled market IOC order.
    #[test]
    fn a_sell_filled_below_its_asked_size_is_a_fill_in_part_whatever_its_status() {
        let sell = |status: &str, filled: &str| {
            order(&format!(
                r#"{{"order_id":"o6","product_id":"BTC-USD","side":"SELL","status":"{status}",
                    "filled_size":"{filled}","average_filled_price":"50000",
                    "order_configuration":{{"market_market_ioc":{{"base_size":"0.5"}}}}}}"#
            ))
        };
        for status in ["FILLED", "CANCELLED", "EXPIRED", "FAILED"] {
            let ack = ack_of(&sell(status, "0.2"));
            assert!(
                matches!(&ack, Ack::FilledInPart { quantity: Some(q), rest, .. }
                    if *q == d("0.2") && rest.contains("sold 0.2 of the 0.5 BTC asked")),
                "{status}: {ack:?}"
            );
        }
        assert!(matches!(ack_of(&sell("FILLED", "0.5")), Ack::Filled { .. }));
        // A buy's quote amount is not compared: fees and rounding keep a full fill under it.
        let buy = order(
            r#"{"order_id":"o7","product_id":"BTC-USD","side":"BUY","status":"FILLED",
                "filled_size":"0.0019","filled_value":"95",
                "order_configuration":{"market_market_ioc":{"quote_size":"100"}}}"#,
        );
        assert!(matches!(ack_of(&buy), Ack::Filled { .. }));
        // An unreadable configuration leaves the order readable.
        let odd = order(
            r#"{"order_id":"o8","product_id":"BTC-USD","side":"SELL","status":"FILLED",
                "filled_size":"0.2","order_configuration":{"market_market_ioc":{"base_size":"x"}}}"#,
        );
        assert!(matches!(ack_of(&odd), Ack::Filled { .. }));
    }

    #[test]
    fn sizes_round_down_to_the_increment_never_up() {
        assert_eq!(
            floor_to_increment(d("0.123456789"), d("0.00000001")),
            Some(d("0.12345678"))
        );
        assert_eq!(
            floor_to_increment(d("0.56789"), d("0.0001")),
            Some(d("0.5678"))
        );
        assert_eq!(
            floor_to_increment(d("100.999"), d("0.01")),
            Some(d("100.99"))
        );
        assert_eq!(floor_to_increment(d("7"), d("5")), Some(d("5")));
        assert_eq!(
            floor_to_increment(d("0.000000009"), d("0.00000001")),
            Some(d("0"))
        );
        assert_eq!(floor_to_increment(d("1.5"), d("0")), Some(d("1.5")));
        // Past a Decimal's range: no panic, no size.
        assert_eq!(
            floor_to_increment(d("100000000000"), d("0.000000000000000001")),
            None
        );
    }
}
