//! The execution core every real broker shares: read holdings, [`plan`] the legs, check them
//! all ([`preflight`]) before the first leaves, then send each leg with one recovery rule.
//! A broker implements [`Conversation`] (how to read, send and look up); everything else is
//! here, once.
//!
//! # One error classification
//! Every order request ends in one of:
//! - an [`Ack`]: the broker answered (filled, created-and-cancelled, nothing to close, or
//!   accepted and still working when the wait ended);
//! - [`SendError::Rejected`]: a definitive no; journaled `rejected`, never sent again;
//! - [`SendError::NotExecuted`]: the broker documents that it did not carry the request out
//!   (a Tradovate penalty ticket, whose wait Tradovate's venue sets past any budget once its
//!   client could not wait it out), or no byte of it left (no connection made). Wait as told
//!   while the staleness budget allows, confirm by lookup that nothing was created, and send
//!   again with the same client order id; when the budget does not allow it, the signal ends
//!   `not_executed` (`unknown` when the lookup cannot tell, or when this send was a send
//!   again after one that may have been carried out and was not found), never `rejected`;
//! - [`SendError::Throttled`]: a rate limit the broker does not document for the request (an
//!   OANDA 429): most likely not carried out, but it may come from something in front of the
//!   broker that had passed the request on, to land later. Handled as `NotExecuted` (waited,
//!   looked up, sent again once: the broker must make a second send harmless, as OANDA's
//!   trade client id does for an open and a whole-side close does for a close), except that a
//!   leg it ends without a later send that fills (none fits the budget, or the send again is
//!   refused or never connects) ends `unknown`, alarmed, never `not_executed` or `rejected`;
//! - [`SendError::Stopped`]: the broker asks for no requests for a while and does not
//!   document the request as not carried out (Tradovate's 429): `unknown`, nothing looked up;
//! - [`SendError::Unsent`]: the conversation never built the request: `not_executed`,
//!   nothing looked up (`unknown` when it was to be a send again after one that may have
//!   been carried out and was not found: that one may still land);
//! - [`SendError::Unknown`]: a timeout, a 5xx, a dropped connection: the request may have
//!   been carried out. Wait the broker's settle time, then look the order up through the
//!   sources the broker documents ([`Conversation::lookup`]). Send again (same client order
//!   id) only when every source agrees nothing was created and the broker documents that a
//!   second order with that id cannot fill as well ([`Conversation::resends_after_unknown`]);
//!   otherwise, and after the last send allowed, nothing found is no proof (a late order, a
//!   lagging list): the leg ends `unknown`, alarmed, as it does when a lookup cannot tell.
//!
//! Each send is its own [`LegReport`] (attempt 1, 2, …), so the journal shows a second
//! order for a leg as a second row.

use crate::plan::{
    Book, Holdings, LegAction, NotionalLimit, PlannedLeg, PositionSide, TradingRules, plan,
    preflight,
};
use crate::venue::{ExecRequest, Execution, LegReport, NothingSent, OrderGate, Size};
use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use shared::alert::TargetPosition;
use shared::clock::Clock;
use shared::execution::{BrokerOrderId, Leg, Side};
use shared::outcome::Outcome;
use shared::routing::Broker;
use std::future::Future;
use std::time::Duration;
use tracing::{info, warn};

/// What the broker said about one order request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// Filled (in full, or an IOC in part): what filled and at what average price, as far as
    /// the broker reported it.
    Filled {
        /// The broker's id for the order, when the answer carried one.
        order_id: Option<BrokerOrderId>,
        /// The quantity the broker reports filled, sign dropped; it replaces the size sent in
        /// the journal (the Coinbase venue reports a base amount, even for a buy sent as a
        /// quote amount). `None` or zero keeps the size sent ([`Ack::FilledInPart`]: `None`).
        quantity: Option<Decimal>,
        /// The average fill price (quote currency per unit; points for a futures contract).
        price: Option<Decimal>,
        /// The fill's fee in the quote currency, when the broker reports one.
        fee: Option<Decimal>,
    },
    /// Filled in part, the rest cancelled by the broker (an immediate-or-cancel order that
    /// found too little to trade): the leg is filled at `quantity`, the signal stops there,
    /// short of its target, and is alarmed. `rest` says what did not fill, journaled as the
    /// leg's `error` and the signal's reason.
    FilledInPart {
        /// As [`Ack::Filled`]'s.
        order_id: Option<BrokerOrderId>,
        /// The quantity that filled, as [`Ack::Filled`]'s, but for a zero, which is what
        /// filled (nothing opened).
        quantity: Option<Decimal>,
        /// The average price of what filled.
        price: Option<Decimal>,
        /// The fee of what filled, in the quote currency.
        fee: Option<Decimal>,
        /// What did not fill, in words (the order, what it asked, how the broker ended it).
        rest: String,
    },
    /// Created and then cancelled or rejected by the broker (OANDA's 201 with a cancel, a
    /// Tradovate order ending `Rejected`): definitive, nothing filled.
    Cancelled {
        /// The broker's id for the order, when it assigned one.
        order_id: Option<BrokerOrderId>,
        /// The broker's reason, journaled as the leg's `error`; the leg ends `rejected`.
        reason: String,
    },
    /// The broker has the order, but whether it filled is not known: it had not filled when
    /// the wait ended, or it could not be read. Never sent again; the leg ends `unknown`.
    Working {
        /// The broker's id for the order: journaled.
        order_id: BrokerOrderId,
        /// What is known of it, journaled as the leg's `error` after the order's id (`still
        /// OPEN when the wait ended`, `could not be read: ...`): an operator reads it before
        /// acting, so it never says "not filled" of an order that may have filled.
        reason: String,
    },
    /// A close found the side already flat.
    NothingToClose,
}

impl Ack {
    /// [`Ack::FilledInPart`] as the [`Ack::Filled`] of what did fill, with what did not; any
    /// other answer as it is, with `None`.
    pub fn split_in_part(self) -> (Self, Option<String>) {
        match self {
            Self::FilledInPart {
                order_id,
                quantity,
                price,
                fee,
                rest,
            } => (
                Self::Filled {
                    order_id,
                    quantity,
                    price,
                    fee,
                },
                Some(rest),
            ),
            other => (other, None),
        }
    }
}

/// How an order request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A definitive no; nothing was created.
    #[error("rejected: {reason}")]
    Rejected {
        /// The broker's id for the order, when it assigned one before refusing it.
        order_id: Option<BrokerOrderId>,
        /// The broker's reason, journaled as the leg's `error`.
        reason: String,
    },
    /// Documented as not carried out (a penalty ticket, no connection made): wait
    /// `retry_after` if given.
    #[error("not executed: {reason}")]
    NotExecuted {
        /// What the broker said (a penalty ticket), or that no connection was made.
        reason: String,
        /// How long the broker asks to wait. The core waits at least the settle time, and
        /// ends the leg `not_executed` when the wait does not fit the staleness budget.
        retry_after: Option<Duration>,
    },
    /// A rate limit the broker does not document for this request (OANDA's 429 on an order):
    /// probably not carried out, but not proven so; see the module's classification.
    #[error("rate limited: {reason}")]
    Throttled {
        /// What came back (`OANDA rate limit (HTTP 429)`).
        reason: String,
        /// How long the answer asks to wait, if it says.
        retry_after: Option<Duration>,
    },
    /// The request may have been carried out.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// The broker asks for no requests for a while and does not document the request as not
    /// carried out (Tradovate's 429: "stop for about an hour"). Nothing is looked up now, as
    /// every read would be refused and lengthen the stop: the leg ends `unknown` (alarmed,
    /// dead-lettered), and a replay after the stop reconciles by client order id.
    #[error("rate limited: {0}")]
    Stopped(String),
    /// The order was never sent: the conversation knows it never built the request (no token
    /// to send it with, a rate limit met getting one). Nothing is looked up: the leg ends
    /// `not_executed`.
    #[error("not sent: {0}")]
    Unsent(String),
}

/// What a lookup through the broker's documented sources found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The order exists: what the broker reports about it, taken as the send's answer.
    Order(Ack),
    /// Every documented source agrees: no such order was created.
    NotCreated,
    /// The sources could not be read, or disagree: the outcome stays unknown.
    Inconclusive(String),
}

/// Why holdings or rules could not be read. Before the first order nothing was sent, so the
/// message may come back; an instrument the broker does not know is a definitive no. (From
/// [`Conversation::recover`] either one means the same: see there.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The broker could not be read (unreachable, a server error, a rate limit). Before the
    /// first order the signal fails with [`NothingSent`] and comes back through the queue.
    Unavailable(String),
    /// The broker refused the read (e.g. an instrument it does not know): before the first
    /// order the signal ends `rejected` with this text.
    Refused(String),
    /// The broker refused the read for its rate (Tradovate's 429 or penalty ticket, which ask
    /// the client to stop for a while; Coinbase's 429). Before the first order it is
    /// [`Self::Unavailable`]; a wait for the position to show a close stops at once rather
    /// than read on.
    RateLimited(String),
}

/// The broker conversation: the only part of an executor that differs between brokers.
pub trait Conversation: Send + Sync {
    /// Read together with the holdings, handed to [`Conversation::lookup`] (OANDA: the
    /// `lastTransactionID` from before the send).
    type Mark: Clone + Send + Sync;

    /// The broker spoken to; named in [`NothingSent`] when a read fails before any order.
    fn broker(&self) -> Broker;
    /// The account read and traded (what the broker's `Venue::account` reports). The core
    /// never reads it.
    fn account(&self) -> &str;
    /// How the account holds positions: [`Book::Margin`] (long or short) or [`Book::Spot`]
    /// (no short); it decides what [`plan`] makes of a short entry.
    fn book(&self) -> Book;

    /// How long after an ambiguous answer an order, a fill or a position may take to show
    /// in the broker's lookups (asynchronous fills). Waited before every lookup.
    fn settle_time(&self) -> Duration;

    /// How often a close is checked for flat (and an order for its fill).
    fn poll_interval(&self) -> Duration {
        Duration::from_millis(250)
    }

    /// The longest a single wait (a close to show flat) may last in wall-clock time, whatever
    /// the staleness budget leaves: the budget is read from the clock seam, which a simulation
    /// does not move while it waits.
    fn max_wait(&self) -> Duration {
        Duration::MAX
    }

    /// A close that the broker works asynchronously (Tradovate's liquidation) may still be
    /// working after a crash: a takeover waits for flat instead of closing a second time.
    fn closes_are_asynchronous(&self) -> bool {
        false
    }

    /// Whether a leg whose send ended [`SendError::Unknown`] (a timeout, a 5xx) is sent again
    /// when the lookup after the settle time finds nothing. Only where the broker documents
    /// that a second order with the same client order id cannot fill as well (Coinbase returns
    /// the first order) is that safe whatever the broker does; where it documents no time
    /// within which an order is listed and no such rule (OANDA), the order may still fill after
    /// the lookup, and the leg ends `unknown`, alarmed, instead.
    fn resends_after_unknown(&self) -> bool {
        true
    }

    /// Whether a leg's fill shows in [`Conversation::holdings`] by the time the broker
    /// reports the leg filled. Where no broker document says so (Tradovate: "fills and the
    /// position become visible asynchronously"; Coinbase documents no timing of
    /// `available_balance`), an open is confirmed in the holdings before the signal ends
    /// ([`confirm_open`]): otherwise the instrument's next signal, seconds later, could plan
    /// from a position without it (a reversal read as an entry from flat). A paper book,
    /// which moves with the fill, skips that read.
    fn fills_show_at_once(&self) -> bool {
        false
    }

    /// Whether the account shows `report`, an open of `leg` that filled, against `before`
    /// (the holdings read before the signal's legs): by default, the side it opened larger
    /// than before by exactly what filled. Only larger, and a trade by hand on the same side
    /// while the open was working (long 2 where the signal bought 1) or against it (long 0:
    /// the open netted away) was journaled filled with no word: the position never shows it,
    /// and the wait ends `unknown`, alarmed, naming what it does show. A broker whose holdings
    /// read leaves amounts out (Coinbase's dust under the minimum order) judges on what it
    /// does not leave out.
    fn open_shows(
        &self,
        req: &ExecRequest<'_>,
        leg: &PlannedLeg,
        report: &LegReport,
        before: &Holdings,
    ) -> impl Future<Output = Result<bool, ReadError>> + Send {
        let filled = report.quantity.abs();
        let side = leg.side;
        let before = *before;
        async move {
            let (h, _) = self.holdings(req).await?;
            Ok(match side {
                Side::Buy => h.long == before.long + filled,
                Side::Sell => h.short == before.short - filled,
            })
        }
    }

    /// Whether [`Conversation::recover`] reports an earlier attempt's closes. Where it cannot
    /// (a Tradovate liquidation carries no client order id), a takeover that may not send
    /// and finds the account short of the target reads it as possibly half done.
    fn recovers_closes(&self) -> bool {
        true
    }

    /// Quote currency per unit per point of price (a futures contract's point value).
    fn multiplier(&self, req: &ExecRequest<'_>) -> Decimal {
        let _ = req;
        Decimal::ONE
    }

    /// The price an open leg's size is valued at for the notional cap and converted at for
    /// notional sizing: the alert's close, or 1 where the size is already a quote amount
    /// (a spot buy).
    fn notional_price(&self, req: &ExecRequest<'_>) -> Decimal {
        req.intent.reference_price
    }

    /// What an open leg's size counts when that is not the instrument's own unit (OANDA
    /// units, Tradovate contracts): a spot buy's size is the quote amount it spends (`USD` of
    /// `BTC-USD`). Named in a refusal of the size, so `5` under a minimum of `10` is read as
    /// dollars, not coins.
    fn open_size_unit(&self, req: &ExecRequest<'_>) -> Option<String> {
        let _ = req;
        None
    }

    /// Why an account already at its target needs no order: journaled as the no-op's reason.
    fn no_op_reason(&self, req: &ExecRequest<'_>, held: &Holdings, mark: &Self::Mark) -> String {
        let _ = mark;
        let target = match req.intent.target {
            TargetPosition::Long => "long",
            // A spot wallet holds no short: a short entry sells what is held.
            TargetPosition::Short if self.book() == Book::Spot => "nothing held to sell",
            TargetPosition::Short => "short",
            TargetPosition::NoLong => "no long position",
            TargetPosition::NoShort => "no short position",
            TargetPosition::Flat => "flat",
        };
        let holds = holding_words(held);
        // Of this instrument only: the account may hold other contracts of a futures root.
        format!(
            "already at the target, {target}: the account holds {holds} in {}",
            req.intent.instrument
        )
    }

    /// What the account holds in `req.intent.instrument`, with the [`Self::Mark`] lookups
    /// start from. Read before planning, then after each close until its side shows flat.
    fn holdings(
        &self,
        req: &ExecRequest<'_>,
    ) -> impl Future<Output = Result<(Holdings, Self::Mark), ReadError>> + Send;

    /// The instrument's order-size rules, read from the broker.
    fn rules(
        &self,
        req: &ExecRequest<'_>,
    ) -> impl Future<Output = Result<TradingRules, ReadError>> + Send;

    /// Sends one leg once. Never retried inside: the core decides about a second send.
    fn send(
        &self,
        req: &ExecRequest<'_>,
        leg: &PlannedLeg,
        report: &LegReport,
    ) -> impl Future<Output = Result<Ack, SendError>> + Send;

    /// Looks the leg's order up (by its client order id) through documented sources only.
    fn lookup(
        &self,
        req: &ExecRequest<'_>,
        leg: &PlannedLeg,
        report: &LegReport,
        mark: &Self::Mark,
    ) -> impl Future<Output = Found> + Send;

    /// Whether the account can carry `planned` (its legs, in order), by the broker's own
    /// figures (OANDA's margin), asked before its first order leaves, once the size rules
    /// have passed: a reversal whose open the broker then refuses ends flat, at neither side.
    /// Only where the figures are documented and a refusal cannot miss a trade the broker
    /// would take: a single-leg order the broker refuses leaves nothing half done. `mark` is
    /// what the holdings read left. `Ok(Some(why))`: it cannot; the signal is refused,
    /// nothing sent. `Ok(None)`: no reason to think so (the default: no such figures). A
    /// failed read sends nothing either.
    fn room(
        &self,
        req: &ExecRequest<'_>,
        planned: &[PlannedLeg],
        mark: &Self::Mark,
    ) -> impl Future<Output = Result<Option<String>, ReadError>> + Send {
        let _ = (req, planned, mark);
        async { Ok(None) }
    }

    /// When the signal's contract was resolved from a continuous symbol: the root's other
    /// contracts the account still holds, by name (a position left in the contract the
    /// symbol rolled away from).
    fn earlier_contracts(
        &self,
        req: &ExecRequest<'_>,
    ) -> impl Future<Output = Result<Vec<(String, Holdings)>, ReadError>> + Send {
        let _ = req;
        async { Ok(Vec::new()) }
    }

    /// The fee of a filled leg, for a broker that reports fees only by a separate read (the
    /// journal's `fee`, in the instrument's quote currency). Asked after every order of the
    /// signal is done, never between legs, within [`FEE_READ`]; `None`: unknown.
    fn leg_fee(&self, report: &LegReport) -> impl Future<Output = Option<Decimal>> + Send {
        let _ = report;
        async { None }
    }

    /// After a takeover: the legs an earlier attempt got done, as far as the broker's
    /// documented sources tell, for the journal and for the plan: a recovered open (or a
    /// hedged flatten's second close) ends the signal with its outcome, and so does a leg not
    /// done (`unknown`, `rejected`: an alarm). The rest of the plan comes from the holdings.
    ///
    /// Errors: [`ReadError::Unavailable`] when those sources cannot be read: the takeover
    /// sends nothing, rather than plan from the holdings alone and journal an earlier
    /// attempt's fills as nothing done, and ends `unknown` (journaled, an alarm, a dead
    /// letter for a replay), whether it may still send or not.
    fn recover(
        &self,
        req: &ExecRequest<'_>,
    ) -> impl Future<Output = Result<Vec<LegReport>, ReadError>> + Send {
        let _ = req;
        async { Ok(Vec::new()) }
    }
}

/// The currency an open leg's notional (and the cap on it) is counted in, where the
/// instrument's name gives it: a spot buy's quote currency (what it spends), an OANDA
/// currency pair's base currency (its notional is its units), another OANDA instrument's
/// quote currency (`XAU_USD`: USD). `None` for a futures contract, whose name does not say.
pub(crate) fn notional_unit<V: Conversation>(conv: &V, req: &ExecRequest<'_>) -> Option<String> {
    if let Some(spent) = conv.open_size_unit(req) {
        return Some(spent);
    }
    let name = req.intent.instrument.as_str();
    match crate::risk::AssetClass::of(conv.broker(), name) {
        crate::risk::AssetClass::Fx => name.split_once('_').map(|(base, _)| base.to_owned()),
        crate::risk::AssetClass::Metal | crate::risk::AssetClass::Cfd => {
            name.rsplit_once('_').map(|(_, quote)| quote.to_owned())
        }
        _ => None,
    }
}

/// The time left until `deadline` by `clock`, as a wall-clock duration (zero when past).
pub fn remaining<C: Clock + ?Sized>(clock: &C, deadline: DateTime<Utc>) -> Duration {
    (deadline - clock.now()).to_std().unwrap_or_default()
}

/// Drives the account to `req.intent.target` through `conv`. `Err` only when nothing was sent.
pub async fn execute<V: Conversation, C: Clock + ?Sized>(
    conv: &V,
    clock: &C,
    req: &ExecRequest<'_>,
) -> Result<Execution, NothingSent> {
    let mut done = execute_legs(conv, clock, req).await?;
    // An exit or a flatten closes what is held; an alert's quantity does not size it. Said on
    // the signal, so a strategy that sent a partial exit's size learns the whole side closed.
    // So does a short entry on a spot wallet, which holds no short: it sells what is held.
    let spot_short = req.intent.target == TargetPosition::Short && conv.book() == Book::Spot;
    if done.outcome == Outcome::Filled
        && done.reason.is_none()
        && let Some(q) = req.intent.quantity_override
    {
        if matches!(
            req.intent.target,
            TargetPosition::NoLong | TargetPosition::NoShort | TargetPosition::Flat
        ) {
            done.reason = Some(format!(
                "the alert's quantity {} is not used by an exit or a flatten: it closed what was held",
                q.normalize()
            ));
        } else if spot_short {
            done.reason = Some(format!(
                "the alert's quantity {} is not used by a short entry on a spot wallet, which \
                 holds no short: it sold what was held",
                q.normalize()
            ));
        }
    }
    // An entry on the side already held does nothing, whatever its quantity: a strategy that
    // meant to scale in or resize learns that it was not (exit, then enter at the new size).
    // (Not a spot short entry, which sells what is held, nor a takeover, whose earlier
    // attempt may have used the quantity.)
    if done.outcome == Outcome::NoOp
        && !req.takeover
        && match req.intent.target {
            TargetPosition::Long => true,
            TargetPosition::Short => conv.book() != Book::Spot,
            _ => false,
        }
        && let Some(q) = req.intent.quantity_override
        && let Some(reason) = done.reason.as_mut()
    {
        reason.push_str(&format!(
            "; the alert's quantity {} was not used: an entry on the side held neither adds to \
             nor resizes it (exit, then enter at the new size)",
            q.normalize()
        ));
    }
    // Fees a broker gives only by a separate read: asked once every order of the signal is
    // done, so no read delays a leg; each bounded, and an unknown fee is left unknown. Not
    // after a signal that ended `unknown`: that may be a broker asking for no requests for a
    // while (Tradovate's 429), which every read would lengthen; its replay reads them.
    for leg in done
        .legs
        .iter_mut()
        .filter(|l| l.outcome == Outcome::Filled && l.fee.is_none())
        .filter(|_| done.outcome != Outcome::Unknown)
    {
        leg.fee = tokio::time::timeout(FEE_READ, conv.leg_fee(leg))
            .await
            .ok()
            .flatten();
    }
    Ok(done)
}

/// The longest wait for one leg's fee read after the signal's orders are done.
pub const FEE_READ: Duration = Duration::from_secs(2);

async fn execute_legs<V: Conversation, C: Clock + ?Sized>(
    conv: &V,
    clock: &C,
    req: &ExecRequest<'_>,
) -> Result<Execution, NothingSent> {
    let nothing = |why: String| NothingSent {
        broker: conv.broker(),
        reason: why,
        order_check: false,
    };
    // A takeover cannot come back through the queue for a read that failed: its redeliveries
    // follow each other within seconds, inside the staleness budget, and the last one lands
    // in the dead-letter queue with no journal row and no alarm, while an earlier attempt's
    // orders may have filled. It ends `unknown` instead (journaled, alarmed, dead-lettered by
    // the executor with its lease kept, so a replay takes over and reads again).
    let holdings = match conv.holdings(req).await {
        Ok(h) => Ok(h),
        // Nothing would be sent either way: refused now, not retried or rejected for a read.
        // (A takeover reads what its earlier attempt left first.)
        Err(
            ReadError::Unavailable(read) | ReadError::RateLimited(read) | ReadError::Refused(read),
        ) if let Some(why) = req.refused.as_ref().filter(|_| !req.takeover) => {
            let mut e = Execution::without_legs(
                Outcome::Refused,
                format!("{why} (the position could not be read: {read})"),
            );
            // An entry may have been a reversal (the account holding the other side, which
            // it keeps): alarmed as a refused reversal is, since which it was is not known.
            // Not on a spot book, which holds no short to reverse.
            e.alarmed = conv.book() != Book::Spot
                && matches!(
                    req.intent.target,
                    TargetPosition::Long | TargetPosition::Short
                );
            return Ok(e);
        }
        Err(ReadError::Unavailable(why) | ReadError::RateLimited(why)) if !req.takeover => {
            return Err(nothing(why));
        }
        Err(ReadError::Unavailable(why) | ReadError::RateLimited(why)) => Err((
            Outcome::Unknown,
            format!("the position could not be read after an earlier attempt: {why}"),
        )),
        Err(ReadError::Refused(why)) => Err((Outcome::Rejected, why)),
    };
    // A takeover's first read (even when the holdings read was refused): what the earlier
    // attempt left at the broker.
    let mut legs = match req.takeover {
        false => Vec::new(),
        true => match conv.recover(req).await {
            Ok(legs) => legs,
            Err(
                ReadError::Unavailable(why) | ReadError::Refused(why) | ReadError::RateLimited(why),
            ) => {
                let why = format!("an earlier attempt's orders could not be read: {why}");
                // The broker clients have retried the read already. It ends unknown now,
                // journaled with its reason and alarmed, whether it may still send or not
                // (see above: retried through the queue it would be dead-lettered without a
                // record).
                return Ok(Execution::without_legs(Outcome::Unknown, why));
            }
        },
    };
    // An earlier attempt's leg that filled in part stops the signal as the send did: filled,
    // short of its target, alarmed, nothing more sent.
    if let Some(part) = legs
        .iter()
        .find(|l| l.outcome == Outcome::Filled && l.in_part)
    {
        let why = format!(
            "the {} leg filled in part: {}; nothing more sent",
            part.leg.as_str(),
            part.error.as_deref().unwrap_or("the rest was not filled")
        );
        return Ok(finish(legs, Some((Outcome::Filled, why))));
    }
    if let Some(stop) = decided_by(&legs) {
        let mut end = finish(legs, stop);
        // An earlier attempt's open that did not fill (refused, cancelled) where closes cannot
        // be looked up (Tradovate's liquidations): its close may have filled, half a reversal.
        // With the account not at the target, alarmed and said so (it was an ordinary
        // rejection's mail, which the rate limit can hold back).
        if end.outcome != Outcome::Filled
            && !conv.recovers_closes()
            && let Ok((held, _)) = &holdings
            && !plan(req.intent.target, *held, Decimal::ONE, conv.book()).is_empty()
        {
            end.alarmed = true;
            end.reason = Some(format!(
                "{}; an earlier attempt's close cannot be looked up and may have filled: the \
                 account holds {} in {}, not the signal's target",
                end.reason.as_deref().unwrap_or_default(),
                holding_words(held),
                req.intent.instrument
            ));
        }
        return Ok(end);
    }
    let (held, mark) = match holdings {
        Ok(h) => h,
        Err((outcome, why)) => return Ok(stop_before_sending(legs, outcome, why)),
    };
    if !req.may_send {
        // Past the staleness budget, or blocked by a guard: report what an earlier attempt
        // did, send nothing. Closes that filled without bringing the account to the target (a
        // reversal's close, and no open) leave the signal expired, not filled (the executor
        // gives the guard's own verdict, with an alarm). Where closes cannot be looked up, an
        // account short of the target may be one an earlier attempt closed: the same.
        let short = !plan(req.intent.target, held, Decimal::ONE, conv.book()).is_empty();
        // A takeover of an entry the risk settings refused, nothing of it found: a no-op when
        // the account holds the target, else refused (the executor keeps a no-op as such).
        // Where a close cannot be looked up, an account short of the target may be one an
        // earlier attempt closed: that is alarmed below.
        if let Some(why) = &req.refused
            && legs.is_empty()
            && (!short || conv.recovers_closes())
        {
            return refused_unless_held(conv, req, held, &mark, why).await;
        }
        let stop = match (short, legs.is_empty()) {
            (true, false) => Some(format!(
                "an earlier attempt's {} filled, short of the target; nothing more sent",
                legs.iter()
                    .map(|l| l.leg.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            (true, true) if !conv.recovers_closes() => Some(format!(
                "the account (long {}, short {}) is not at the target {:?}, and an earlier attempt's close cannot be looked up; nothing sent",
                held.long, held.short, req.intent.target
            )),
            _ => None,
        };
        let mut end = finish(legs, stop.map(|why| (Outcome::Expired, why)));
        // Not read here: a contract a continuous symbol rolled away from, which an exit
        // closes too. Where one may be held, the account is not known to be at the target.
        end.at_target = !short && !rolls(req);
        return Ok(end);
    }
    if let Some(why) = &req.refused {
        // An earlier attempt's legs (never with a refusal today: a takeover's refusal does
        // not send) are kept and journaled, and the refusal after them alarmed.
        if !legs.is_empty() {
            return Ok(stop_before_sending(legs, Outcome::Refused, why.clone()));
        }
        return refused_unless_held(conv, req, held, &mark, why).await;
    }
    // From here on a refusal keeps what an earlier attempt left (`legs`): its fills are
    // journaled, and the executor alarms on a refusal that comes after some of them.
    // Only an open is sized: an exit, a flatten or a spot sale closes what is held, and no
    // size rule (a notional short of one increment after a rally) may keep it open. Nor is
    // it held up by the rules' read, which only an open needs: an exit waited through a
    // broker's failing instruments read until it expired, the position left open, or was
    // rejected unsent where the list no longer named an instrument the account still held.
    let unsized_plan = plan(req.intent.target, held, Decimal::ONE, conv.book());
    let opens = unsized_plan.iter().any(|l| l.leg == Leg::Open);
    let rules = match opens {
        // No open leg: no size rule applies (`preflight` checks open legs only).
        false => Ok(TradingRules {
            increment: Decimal::ZERO,
            min_size: Decimal::ZERO,
            max_size: None,
            max_position: None,
        }),
        true => conv.rules(req).await,
    };
    let rules = match rules {
        Ok(r) => r,
        Err(ReadError::Unavailable(why) | ReadError::RateLimited(why)) if !req.takeover => {
            return Err(nothing(why));
        }
        // A takeover ends `unknown` with what it found, as for the holdings read above:
        // retried through the queue, it would be dead-lettered with no journal row and no
        // alarm, an earlier attempt's close perhaps filled.
        Err(ReadError::Unavailable(why) | ReadError::RateLimited(why)) => {
            return Ok(stop_before_sending(
                legs,
                Outcome::Unknown,
                format!("the trading rules could not be read after an earlier attempt: {why}"),
            ));
        }
        Err(ReadError::Refused(why)) => {
            return Ok(stop_before_sending(legs, Outcome::Rejected, why));
        }
    };
    let limit = NotionalLimit {
        price: conv.notional_price(req),
        multiplier: conv.multiplier(req),
        cap: req.max_notional,
        unit: notional_unit(conv, req),
    };
    let size = match opens.then(|| size_in_units(req, &rules, &limit)) {
        None => Decimal::ZERO,
        Some(Ok(s)) => s,
        // Said and alarmed as the other refusals before a first order are: a reversal
        // refused here leaves the account on the side the strategy left.
        Some(Err(refusal)) => {
            let reversal = is_reversal(&unsized_plan);
            return Ok(refused_before_sending(legs, req, held, reversal, refusal));
        }
    };
    let mut planned = plan(req.intent.target, held, size, conv.book());
    // A flatten of both sides (a hedging account) an earlier attempt left between its two
    // closes: the long side's close (`close`, a sale) is at the broker, and the plan from what
    // is held now names the short side's close `close` as well. It is the `close_hedge` the
    // first attempt planned, under that leg's own client order id; named `close`, it matched
    // the earlier leg below and ended `unknown` ("needs another"), the short side left open
    // and every replay the same.
    if req.intent.target == TargetPosition::Flat
        && legs
            .iter()
            .any(|l| l.leg == Leg::Close && l.side == Side::Sell)
        && !legs.iter().any(|l| l.leg == Leg::CloseHedge)
    {
        for p in &mut planned {
            if p.leg == Leg::Close && p.action == LegAction::Close(PositionSide::Short) {
                p.leg = Leg::CloseHedge;
            }
        }
    }
    let rolled = match rolls(req) {
        true => match conv.earlier_contracts(req).await {
            Ok(r) => earlier_only(req, r),
            Err(ReadError::Unavailable(why) | ReadError::RateLimited(why)) if !req.takeover => {
                return Err(nothing(why));
            }
            Err(ReadError::Unavailable(why) | ReadError::RateLimited(why)) => {
                return Ok(stop_before_sending(
                    legs,
                    Outcome::Unknown,
                    format!(
                        "the root's earlier contracts could not be read after an earlier attempt: {why}"
                    ),
                ));
            }
            Err(ReadError::Refused(why)) => {
                return Ok(stop_before_sending(legs, Outcome::Rejected, why));
            }
        },
        false => Vec::new(),
    };
    if planned.is_empty() && rolled.is_empty() {
        if !legs.is_empty() {
            return Ok(finish(legs, None));
        }
        // At the target already: taken all the same (the account holds what the signal asks).
        let mut gate = req.gate.filter(|_| !req.takeover);
        if let Some(why) = ask(&mut gate).await.map_err(|why| unchecked(conv, why))? {
            return Ok(Execution::without_legs(Outcome::Superseded, why));
        }
        return Ok(Execution::no_op(conv.no_op_reason(req, &held, &mark)));
    }
    if let Err(refusal) = preflight(&planned, &rules, Some(&limit)) {
        // A plan that closes a side (a reversal) refused: the account stays on the side the
        // strategy left, which is alarmed (see `Execution::alarmed`).
        let reversal = is_reversal(&planned);
        // The notional cap's message names its currency already, and here where its cap is
        // set.
        let unit = match (&refusal, conv.open_size_unit(req)) {
            (crate::plan::PlanRefusal::OverNotionalCap { .. }, _) => {
                format!(" (set in {})", crate::risk::settings_named(conv.broker()))
            }
            (_, None) => String::new(),
            (_, Some(unit)) => format!(" (sizes in {unit}: a buy's size is what it spends)"),
        };
        return Ok(refused_before_sending(
            legs,
            req,
            held,
            reversal,
            format!("{refusal}{unit}"),
        ));
    }

    if let Some(again) = planned.iter().find(|p| legs.iter().any(|l| l.leg == p.leg)) {
        // An earlier attempt's leg filled, yet the position needs one again: something else
        // moved the account. Never a second order under one client order id.
        let why = format!(
            "an earlier attempt's {} leg is at the broker, yet the position (long {}, short {}) needs another: not sending it again",
            again.leg.as_str(),
            held.long,
            held.short
        );
        return Ok(finish(legs, Some((Outcome::Unknown, why))));
    }
    // An open an earlier attempt journaled filled that the broker's lookups do not show (a
    // list that lags, a position not moved yet: no broker documents by when they show a
    // fill) would be a second order under one client order id, doubling the position. Not
    // sent: unknown, alarmed, for the trader to check. (A close is not held back here: a
    // close names the whole side, so a second one finds nothing to close.)
    if req.takeover
        && let Some(open) = planned.iter().find(|p| p.leg == Leg::Open)
        && let Some(row) = req.journaled.iter().find(|r| {
            r.broker == conv.broker()
                && r.account.as_str() == conv.account()
                && r.leg == Leg::Open
                && r.outcome == Outcome::Filled
        })
    {
        let why = format!(
            "an earlier attempt journaled the {} leg filled ({} at {}, broker order {}), which \
             the broker's lookups do not show (yet, or any longer), and the position (long {}, \
             short {}) needs it: not sending it again under the same client order id; check \
             the account",
            open.leg.as_str(),
            row.quantity.normalize(),
            row.fill_price.map_or_else(
                || "an unknown price".to_owned(),
                |p| p.normalize().to_string()
            ),
            row.broker_order_id.as_deref().unwrap_or("unknown"),
            held.long,
            held.short
        );
        return Ok(finish(legs, Some((Outcome::Unknown, why))));
    }
    if !rolled.is_empty()
        && !conv.closes_are_asynchronous()
        && legs.iter().any(|l| l.leg == Leg::CloseRolled)
    {
        // An earlier attempt closed the earlier contract, yet it is held again. (Where closes
        // work asynchronously, `roll_over` waits for that close to show instead.)
        let why = format!(
            "an earlier attempt's {} leg is at the broker, yet {} is still held: not sending it again",
            Leg::CloseRolled.as_str(),
            rolled
                .iter()
                .map(|(c, _)| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(finish(legs, Some((Outcome::Unknown, why))));
    }
    // A plan the account could not carry (a reversal's open beyond the margin its close
    // frees): refused before its first order, rather than a close that leaves the account
    // flat. Not for a roll, which carries on from what an earlier contract left, nor for a
    // takeover that found an earlier attempt's legs or cannot look its closes up; a takeover
    // that found nothing where closes are looked up starts as a first attempt does (as after
    // a claim whose answer was lost, its write landed). Before the budget check below: its
    // reads take time the close and the open then no longer have.
    let fresh = legs.is_empty() && (!req.takeover || conv.recovers_closes());
    if fresh && rolled.is_empty() && !planned.is_empty() {
        match conv.room(req, &planned, &mark).await {
            Ok(None) => {}
            Ok(Some(why)) => {
                let mut e = stop_before_sending(
                    legs,
                    Outcome::Refused,
                    format!(
                        "{why}; nothing was sent, the account still holds {} in {}",
                        holding_words(&held),
                        req.intent.instrument
                    ),
                );
                // The account stays against the strategy: alarmed, not only logged.
                e.alarmed = true;
                return Ok(e);
            }
            Err(ReadError::Unavailable(why) | ReadError::RateLimited(why)) if !req.takeover => {
                return Err(nothing(why));
            }
            // A takeover ends `unknown` with what it found, as for the rules read above:
            // retried through the queue, it was dead-lettered with no journal row or alarm.
            Err(ReadError::Unavailable(why) | ReadError::RateLimited(why)) => {
                return Ok(stop_before_sending(
                    legs,
                    Outcome::Unknown,
                    format!(
                        "the margin the plan needs could not be read after an earlier attempt: \
                         {why}; nothing was sent, the account holds {} in {}",
                        holding_words(&held),
                        req.intent.instrument
                    ),
                ));
            }
            Err(ReadError::Refused(why)) => {
                return Ok(stop_before_sending(legs, Outcome::Rejected, why));
            }
        }
    }
    // A close with a leg after it (a reversal's open, a roll's new contract) must see its
    // close land before the next leg leaves, and that leg must leave within the budget: a
    // plan started with less time left than the close can take to show ends with the close
    // done and the rest expired, the account at neither the old side nor the new one. So it
    // is not started: expired, nothing sent.
    let rolled_closes = rolled.iter().any(|(_, h)| {
        !plan(
            rolled_target(req.intent.target),
            *h,
            Decimal::ZERO,
            conv.book(),
        )
        .is_empty()
    });
    // A close with a leg after it: a reversal's open, or a hedged flatten's second close (on
    // a hedging account one side closed alone is a reversal of the net exposure: long 3,000
    // and short 2,000 left short 2,000), or a roll's close with anything after it.
    let closes_then_more = if rolled_closes {
        !planned.is_empty()
    } else {
        planned.len() > 1 && matches!(planned[0].action, LegAction::Close(_))
    };
    let then = match planned.last() {
        Some(l) if l.action == LegAction::Open => "the close and the open",
        _ => "the two closes",
    };
    // The time a close needs before the leg after it, when this attempt must leave it: checked
    // here, and again once the order check (and a roll's read of the earlier contract) has
    // answered, since either may take seconds; the close is not sent without it.
    let needed =
        (closes_then_more && (!req.takeover || fresh) && filled_legs(legs.iter()).is_none())
            .then(|| conv.settle_time() + conv.poll_interval());
    if let Some(needed) = needed {
        let left = remaining(clock, req.deadline);
        if left < needed {
            return Ok(stop_before_sending(
                legs,
                Outcome::Expired,
                format!(
                    "the staleness budget (or the attempt's lease, when sooner) leaves {} ms, less than the {} ms a close needs to show in the position before the leg after it (the broker's settle time and one poll): {then} would not both go out in time; nothing was sent, the account still holds {} in {}",
                    left.as_millis(),
                    needed.as_millis(),
                    holding_words(&held),
                    req.intent.instrument
                ),
            ));
        }
    }
    // Asked just before this attempt's first order leaves (in the roll-over or the legs
    // below), once every check that could refuse the signal has passed; or at the end when
    // no order was needed. Never for a takeover (checked before the venue): a failed check
    // must not end with `Err` after an earlier attempt's orders.
    let mut gate = req.gate.filter(|_| !req.takeover);
    if !rolled.is_empty() {
        match roll_over(conv, clock, req, &rolled, &mut gate, needed).await {
            Ok(rows) => legs.extend(rows),
            Err(RollStop::Superseded(why)) => {
                return Ok(finish(legs, Some((Outcome::Superseded, why))));
            }
            Err(RollStop::Unchecked(why)) => return Err(unchecked(conv, why)),
            Err(RollStop::NotRead(why)) => return Err(nothing(why)),
            Err(RollStop::Broker(rows, outcome, why)) => {
                legs.extend(rows);
                return Ok(finish(legs, Some((outcome, why))));
            }
            Err(RollStop::Policy(why)) => {
                let mut e = finish(legs, Some((Outcome::Rejected, why)));
                e.stopped_by_policy = true;
                // The account still holds a contract the symbol rolled away from, which the
                // signal would have closed (and, for a reversal, stays against the strategy),
                // until the trader acts, before it expires: heard at once, never held back
                // behind another mail.
                e.alarmed = true;
                return Ok(e);
            }
        }
    }
    let mut mark = mark;
    for (n, leg) in planned.iter().enumerate() {
        if clock.now() >= req.deadline {
            // A takeover that found no earlier leg where closes cannot be looked up (a
            // Tradovate liquidation) may be half a reversal the earlier attempt closed: said,
            // and alarmed as the same takeover past its budget at the start is.
            let unseen = req.takeover && legs.is_empty() && !conv.recovers_closes();
            let reason = after_filled(
                &legs,
                leg.leg,
                format!(
                    "staleness budget or the attempt's lease ran out at {} before the {} leg; not sent{}",
                    req.deadline,
                    leg.leg.as_str(),
                    if unseen {
                        "; an earlier attempt's close cannot be looked up, so the account may be short of the target"
                    } else {
                        ""
                    }
                ),
            );
            let mut e = finish(legs, Some((Outcome::Expired, reason)));
            e.alarmed |= unseen;
            return Ok(e);
        }
        let closes = matches!(leg.action, LegAction::Close(_));
        if closes && req.takeover && conv.closes_are_asynchronous() {
            // An earlier attempt's close may still be working: never close twice.
            match await_flat(conv, clock, req, leg).await {
                Ok((report, now, fresh)) => {
                    legs.retain(|l| l.leg != leg.leg);
                    legs.push(report);
                    mark = fresh;
                    // As after a close of its own (below): the open was planned from `held`,
                    // and a hand trade while the earlier close was awaited (a reversal by
                    // hand, the trader's own order filling) would put it on top.
                    if let Some(why) = open_side_stop(
                        req,
                        &planned,
                        n,
                        &held,
                        &now,
                        "an earlier attempt's close landed",
                    ) {
                        return Ok(moved_stop(legs, why));
                    }
                    continue;
                }
                Err(report) => {
                    let why = report.error.clone().unwrap_or_default();
                    legs.push(report);
                    return Ok(finish(legs, Some((Outcome::Unknown, why))));
                }
            }
        }
        let asked = gate.is_some();
        if let Some(why) = ask(&mut gate).await.map_err(|why| unchecked(conv, why))? {
            return Ok(finish(legs, Some((Outcome::Superseded, why))));
        }
        // The check's own write (a conditional put, up to 10 s when its store is slow) may
        // have taken the signal past its budget: not sent then. Its series records it as
        // taken, which supersedes only older signals (staler still, or, after the reversal
        // check below, at most a settle time and a poll younger than the budget's end).
        if asked && clock.now() >= req.deadline {
            let reason = after_filled(
                &legs,
                leg.leg,
                format!(
                    "staleness budget or the attempt's lease ran out at {} during the order check before the {} leg; not sent",
                    req.deadline,
                    leg.leg.as_str()
                ),
            );
            return Ok(finish(legs, Some((Outcome::Expired, reason))));
        }
        // Or left less than a close needs before the leg after it: the close would fill and
        // that leg expire (a reversal's open: the account at neither side).
        if let Some(needed) = needed.filter(|_| asked && legs.is_empty()) {
            let left = remaining(clock, req.deadline);
            if left < needed {
                return Ok(finish(
                    legs,
                    Some((
                        Outcome::Expired,
                        format!(
                            "the order check left {} ms of the staleness budget (or the attempt's lease), less than the {} ms a close needs to show in the position before the leg after it: nothing was sent, the account still holds {} in {}",
                            left.as_millis(),
                            needed.as_millis(),
                            holding_words(&held),
                            req.intent.instrument
                        ),
                    )),
                ));
            }
        }
        // A close with a leg after it is not sent again without the time that leg needs.
        let before_more = needed.filter(|_| closes && n + 1 < planned.len());
        let rows = send_leg(conv, clock, req, leg, &mark, before_more).await;
        let last = rows.last().cloned();
        legs.retain(|l| l.leg != leg.leg);
        legs.extend(rows);
        let Some(last) = last else { continue };
        match last.outcome {
            // Short of its size: nothing more is sent for the signal (a reversal's open after
            // a close that left part of the position), and it is alarmed.
            Outcome::Filled if last.in_part => {
                let why = format!(
                    "the {} leg filled in part: {}; nothing more sent",
                    leg.leg.as_str(),
                    last.error.as_deref().unwrap_or("the rest was not filled")
                );
                // An open filled in part ends once what did fill shows in the holdings, as a
                // whole one does: the instrument's next signal plans from them (a sale read
                // before a Coinbase wallet shows the coins would sell none and leave them).
                if !closes
                    && !conv.fills_show_at_once()
                    && let Err(unseen) = confirm_open(conv, clock, req, leg, &last, &held).await
                {
                    return Ok(finish(
                        legs,
                        Some((Outcome::Unknown, format!("{why}; {unseen}"))),
                    ));
                }
                // So does a close filled in part, once the holdings show it smaller: the next
                // exit, read before (a Coinbase wallet still showing what was sold), would sell
                // more than is held and be refused, the rest left held.
                if closes
                    && !conv.fills_show_at_once()
                    && let Err(unseen) =
                        confirm_reduced(conv, clock, req, leg, &held, last.quantity).await
                {
                    return Ok(finish(
                        legs,
                        Some((Outcome::Unknown, format!("{why}; {unseen}"))),
                    ));
                }
                return Ok(finish(legs, Some((Outcome::Filled, why))));
            }
            Outcome::Filled | Outcome::NoOp => {}
            other => {
                let why = after_filled(&legs, leg.leg, last.error.clone().unwrap_or_default());
                return Ok(finish(legs, Some((other, why))));
            }
        }
        if closes {
            // Never both directions: the next leg waits until the close shows in the position.
            match confirm_flat(conv, clock, req, leg).await {
                Ok((now, fresh)) => {
                    mark = fresh;
                    // The open after it was planned from `held`: were its side to have moved
                    // since (a hand trade, or the trader's own order at the broker filling
                    // between the read and the close; OANDA then answers the close that
                    // nothing was there to close), it would open on top of that and end past
                    // the target (short 1,500 for a target of short 1,000). Not sent: the
                    // trader decides, alarmed.
                    let closed = if last.outcome == Outcome::Filled {
                        "the close filled"
                    } else {
                        "nothing was there to close"
                    };
                    if let Some(why) = open_side_stop(req, &planned, n, &held, &now, closed) {
                        return Ok(moved_stop(legs, why));
                    }
                }
                Err(why) => return Ok(finish(legs, Some((Outcome::Unknown, why)))),
            }
        } else if last.outcome == Outcome::Filled && !conv.fills_show_at_once() {
            // The signal ends once its open shows in the holdings, which the instrument's
            // next signal plans from.
            if let Err(why) = confirm_open(conv, clock, req, leg, &last, &held).await {
                return Ok(finish(legs, Some((Outcome::Unknown, why))));
            }
        }
    }
    // No order was needed after all (an earlier contract with nothing to close): taken as a
    // no-op is.
    if let Some(why) = ask(&mut gate).await.map_err(|why| unchecked(conv, why))? {
        return Ok(finish(legs, Some((Outcome::Superseded, why))));
    }
    if legs.is_empty() {
        // An exit of the side an earlier contract does not hold (a SHORT_EXIT while the
        // contract rolled away from is long): said, with what is still held there, so the
        // trader knows the earlier contract is open.
        let left: Vec<String> = rolled
            .iter()
            .map(|(c, h)| format!("{c} (net {})", (h.long + h.short).normalize()))
            .collect();
        let mut why = conv.no_op_reason(req, &held, &mark);
        if !left.is_empty() {
            why.push_str(&format!(
                "; {} rolled to {}, and {} is left as held: an exit closes only the side it names",
                req.intent.symbol,
                req.intent.instrument,
                left.join(", ")
            ));
        }
        return Ok(Execution::no_op(why));
    }
    Ok(finish(legs, None))
}

/// The signal's target for the root, applied to a contract it rolled away from: an entry or a
/// flatten closes it (an entry then opens on the new one), an exit closes only its own side.
fn rolled_target(target: shared::alert::TargetPosition) -> shared::alert::TargetPosition {
    use shared::alert::TargetPosition as T;
    match target {
        T::NoLong => T::NoLong,
        T::NoShort => T::NoShort,
        T::Long | T::Short | T::Flat => T::Flat,
    }
}

/// The words every reason of a signal stopped by a roll rule (a root's `on_roll =
/// "refuse"`, or more than one earlier contract held) holds, and no other reason does: how a
/// reader of the journal, where such a signal is `rejected` as a broker's refusal is, tells
/// the trader's rule from the broker's answer ([`stopped_by_roll_rule`]).
pub const ROLL_POLICY_STOP: &str = ": nothing sent; close ";

/// Whether a journaled reason is a roll rule's stop (see [`ROLL_POLICY_STOP`]).
pub fn stopped_by_roll_rule(reason: &str) -> bool {
    reason.contains(ROLL_POLICY_STOP)
}

/// The words every reason of a reversal whose open was not sent because the account changed
/// outside the signal before its close holds: journaled `rejected`, no answer of the
/// broker's ([`stopped_by_policy`]). A filled OANDA open that netted against a hand trade
/// names them too, in a `filled` reason: meaningful for a `rejected` signal only.
pub const CHANGED_OUTSIDE_STOP: &str = "the account changed outside this signal";

/// Whether a journaled `rejected` reason is a stop of the executor's own rules, not the
/// broker's refusal ([`Execution::stopped_by_policy`]): a roll rule's
/// ([`ROLL_POLICY_STOP`]) or a reversal's open held back after a change outside the signal
/// ([`CHANGED_OUTSIDE_STOP`]).
pub fn stopped_by_policy(reason: &str) -> bool {
    stopped_by_roll_rule(reason) || reason.contains(CHANGED_OUTSIDE_STOP)
}

/// Why a roll-over stopped the signal.
enum RollStop {
    /// A leg on the earlier contract did not end well: the legs so far, the outcome, why.
    Broker(Vec<LegReport>, Outcome, String),
    /// Nothing was sent: [`ExecRequest::gate`] found a later signal taken (the reason).
    Superseded(String),
    /// Nothing was sent: [`ExecRequest::gate`] could not be asked (why).
    Unchecked(String),
    /// Nothing was sent: the earlier contract's position could not be read before its close
    /// (why); the signal comes back through the queue.
    NotRead(String),
    /// Nothing was sent: the root's policy is to refuse, or more than one earlier contract is
    /// held. Rejected (an alarm: the trader must close the earlier contract), not the broker's
    /// doing.
    Policy(String),
}

/// Closes a position left in the root's earlier contract, as the `close_rolled` leg, and
/// confirms it flat, before anything is sent on the new contract. One earlier contract only:
/// two would share the leg's client order id, so the signal is refused instead.
async fn roll_over<V: Conversation, C: Clock + ?Sized>(
    conv: &V,
    clock: &C,
    req: &ExecRequest<'_>,
    rolled: &[(String, Holdings)],
    gate: &mut Option<&dyn OrderGate>,
    needed: Option<Duration>,
) -> Result<Vec<LegReport>, RollStop> {
    let held: Vec<String> = rolled
        .iter()
        .map(|(c, h)| format!("{c} (net {})", h.long + h.short))
        .collect();
    let policy = req
        .intent
        .contract
        .as_ref()
        .map(|c| c.on_roll)
        .unwrap_or_default();
    if policy == shared::routing::RollPolicy::Refuse || rolled.len() > 1 {
        // And how out of it: the earlier contract closed by an alert of its own (an exit or
        // FLATTEN of an explicit contract routes until its month ends), or the policy changed.
        let contracts: Vec<&str> = rolled.iter().map(|(c, _)| c.as_str()).collect();
        let why = format!(
            "{} rolled to {}, and the account still holds {}; {}{ROLL_POLICY_STOP}{} first \
             (a FLATTEN alert of {} routes up to its last trading day, or the end of its \
             contract month where the routing table gives none){}",
            req.intent.symbol,
            req.intent.instrument,
            held.join(", "),
            if rolled.len() > 1 {
                "more than one earlier contract"
            } else {
                "the root's roll policy is to refuse"
            },
            contracts.join(" and "),
            if contracts.len() > 1 { "each" } else { "it" },
            if rolled.len() > 1 {
                ""
            } else {
                ", or set on_roll = \"close\" for the root in the routing table"
            }
        );
        return Err(RollStop::Policy(why));
    }
    let (contract, holdings) = &rolled[0];
    let legs = plan(
        rolled_target(req.intent.target),
        *holdings,
        Decimal::ZERO,
        conv.book(),
    );
    if legs.is_empty() {
        return Ok(Vec::new());
    }
    // The same signal, about the earlier contract: the conversation sends, looks up and
    // confirms there.
    let earlier = shared::message::OrderIntent {
        instrument: shared::routing::Instrument::new(contract.clone()),
        contract: None,
        ..req.intent.clone()
    };
    let sub = ExecRequest {
        intent: &earlier,
        ..req.clone()
    };
    info!(
        contract = contract.as_str(),
        "closing the root's earlier contract before the roll"
    );
    let mut rows = Vec::new();
    for mut leg in legs {
        leg.leg = Leg::CloseRolled;
        if clock.now() >= req.deadline {
            let why = format!(
                "staleness budget or the attempt's lease ran out at {} before closing {contract}; nothing more sent",
                req.deadline
            );
            return Err(RollStop::Broker(rows, Outcome::Expired, why));
        }
        if req.takeover && conv.closes_are_asynchronous() {
            // An earlier attempt's close of this contract may still be working.
            match await_flat(conv, clock, &sub, &leg).await {
                Ok((mut report, _, _)) => {
                    report.instrument = Some(contract.clone());
                    rows.push(report);
                    continue;
                }
                Err(mut report) => {
                    report.instrument = Some(contract.clone());
                    let why = report.error.clone().unwrap_or_default();
                    rows.push(report);
                    return Err(RollStop::Broker(rows, Outcome::Unknown, why));
                }
            }
        }
        let (held, mark) = match conv.holdings(&sub).await {
            Ok(read) => read,
            // Before this attempt's first order (one earlier contract, so no row yet): a read
            // that failed sends nothing, and the signal comes back through the queue, as when
            // any read before the first order fails. Not `unknown`: no order is out.
            Err(ReadError::Unavailable(e) | ReadError::RateLimited(e))
                if rows.is_empty() && !req.takeover =>
            {
                return Err(RollStop::NotRead(format!(
                    "the position in {contract} could not be read before closing it: {e}"
                )));
            }
            Err(ReadError::Refused(e)) if rows.is_empty() && !req.takeover => {
                return Err(RollStop::Broker(
                    rows,
                    Outcome::Rejected,
                    format!(
                        "the position in {contract} could not be read before closing it: {e}; nothing was sent"
                    ),
                ));
            }
            Err(ReadError::Unavailable(e) | ReadError::RateLimited(e) | ReadError::Refused(e)) => {
                return Err(RollStop::Broker(
                    rows,
                    Outcome::Unknown,
                    format!("the position in {contract} could not be read before closing it: {e}"),
                ));
            }
        };
        // Again after that read, just before the check: a signal that ends expired here is
        // not recorded as taken, and one whose check passed is sent at once.
        if clock.now() >= req.deadline {
            let why = format!(
                "staleness budget or the attempt's lease ran out at {} before closing {contract}; nothing more sent",
                req.deadline
            );
            return Err(RollStop::Broker(rows, Outcome::Expired, why));
        }
        // With legs to follow the roll's close, it needs time to show in the position first:
        // after the read above, and again after the check, whose write may take seconds.
        let short_of = |stage: &str| {
            needed
                .filter(|n| rows.is_empty() && remaining(clock, req.deadline) < *n)
                .map(|n| {
                    format!(
                        "{stage} left {} ms of the staleness budget (or the attempt's lease), less than the {} ms the close of {contract} needs to show in the position before the legs after it; nothing was sent",
                        remaining(clock, req.deadline).as_millis(),
                        n.as_millis()
                    )
                })
        };
        if let Some(why) = short_of("the read of the earlier contract") {
            return Err(RollStop::Broker(rows, Outcome::Expired, why));
        }
        let asked = gate.is_some();
        match ask(gate).await {
            Ok(None) => {}
            Ok(Some(why)) => return Err(RollStop::Superseded(why)),
            Err(why) => return Err(RollStop::Unchecked(why)),
        }
        // As before any leg: the check's own write may have taken it past the budget.
        if asked && clock.now() >= req.deadline {
            let why = format!(
                "staleness budget or the attempt's lease ran out at {} during the order check before closing {contract}; nothing more sent",
                req.deadline
            );
            return Err(RollStop::Broker(rows, Outcome::Expired, why));
        }
        if let Some(why) = short_of("the order check").filter(|_| asked) {
            return Err(RollStop::Broker(rows, Outcome::Expired, why));
        }
        let mut sent = send_leg(conv, clock, &sub, &leg, &mark, needed).await;
        for row in &mut sent {
            row.instrument = Some(contract.clone());
        }
        let last = sent.last().cloned();
        rows.extend(sent);
        match last.map(|l| (l.outcome, l.in_part, l.error, l.quantity)) {
            // Short of the position, the rest ended by the broker: no flat to wait for (it
            // waited the whole budget for one that could not come, then ended `unknown`).
            // Nothing more is sent, as after any leg filled in part; alarmed. It ends once
            // the position shows what is left, as a close of the signal's own contract filled
            // in part does, so the root's next signal plans from it.
            Some((Outcome::Filled, true, why, filled)) => {
                let why = format!(
                    "the {} leg filled in part: {}; nothing more sent",
                    Leg::CloseRolled.as_str(),
                    why.as_deref().unwrap_or("the rest was not filled")
                );
                if !conv.fills_show_at_once()
                    && let Err(unseen) =
                        confirm_reduced(conv, clock, &sub, &leg, &held, filled).await
                {
                    return Err(RollStop::Broker(
                        rows,
                        Outcome::Unknown,
                        format!("{why}; {unseen}"),
                    ));
                }
                return Err(RollStop::Broker(rows, Outcome::Filled, why));
            }
            Some((Outcome::Filled | Outcome::NoOp, _, _, _)) => {}
            Some((outcome, _, why, _)) => {
                return Err(RollStop::Broker(rows, outcome, why.unwrap_or_default()));
            }
            None => {}
        }
        confirm_flat(conv, clock, &sub, &leg)
            .await
            .map_err(|why| RollStop::Broker(rows.clone(), Outcome::Unknown, why))?;
    }
    Ok(rows)
}

/// The end an earlier attempt's `legs` already decide, with its stop as [`finish`] takes it.
/// The open (or a hedged flatten's second close) is the last request a signal makes: if an
/// earlier attempt's is at the broker, the signal is done, whatever the position shows now. A
/// leg it left not done (unknown, refused) is the signal's outcome too: an alarm and a dead
/// letter, never a plan that reads the position as done or sends past it. `None`: the legs
/// leave the rest to the plan.
fn decided_by(legs: &[LegReport]) -> Option<Option<(Outcome, String)>> {
    let last = legs
        .iter()
        .find(|l| matches!(l.leg, Leg::Open | Leg::CloseHedge))
        .or_else(|| {
            legs.iter()
                .find(|l| !matches!(l.outcome, Outcome::Filled | Outcome::NoOp))
        })?;
    Some(
        (last.outcome != Outcome::Filled)
            .then(|| (last.outcome, last.error.clone().unwrap_or_default())),
    )
}

/// The reason of a leg that ends the signal after other legs of it filled (a reversal's
/// close filled, then its open was refused): it says so, so the alarm tells the trader the
/// account moved and is not at the signal's target.
fn after_filled(legs: &[LegReport], failed: Leg, why: String) -> String {
    match filled_legs(legs.iter().filter(|l| l.leg != failed)) {
        None => why,
        Some(filled) => format!(
            "{why} (after this signal's {filled} filled: the account is not at the signal's target)"
        ),
    }
}

/// The names of the legs among `legs` that filled (`close, open`); `None` when none did.
fn filled_legs<'a>(legs: impl Iterator<Item = &'a LegReport>) -> Option<String> {
    let filled: Vec<&str> = legs
        .filter(|l| l.outcome == Outcome::Filled)
        .map(|l| l.leg.as_str())
        .collect();
    (!filled.is_empty()).then(|| filled.join(", "))
}

/// Whether the signal's symbol rolls: only the front symbol (`ES1!`), whose earlier
/// contracts are what it rolled away from. `ES2!`'s, or a later contract held by another
/// strategy, are not touched.
fn rolls(req: &ExecRequest<'_>) -> bool {
    req.intent
        .contract
        .as_ref()
        .is_some_and(|c| c.requested.ends_with("1!") && !c.requested.ends_with("11!"))
}

/// The contracts among `held` (a root's, as [`Conversation::earlier_contracts`] reads them)
/// that come before the signal's own.
fn earlier_only(req: &ExecRequest<'_>, held: Vec<(String, Holdings)>) -> Vec<(String, Holdings)> {
    held.into_iter()
        .filter(|(c, _)| {
            shared::routing::is_earlier_contract(
                c,
                req.intent.instrument.as_str(),
                req.intent.signal_time,
            )
        })
        .collect()
}

/// An entry the risk settings refused (`why`, [`ExecRequest::refused`]): `no_op` when the
/// account holds its target already and nothing else would be sent (an entry in the direction
/// held needs no size, so the refusal of its size does not stand for it; it is taken), else
/// refused with nothing sent (a reversal, a hedge's other side, an earlier contract to close
/// after a roll). Reads nothing more than that decision needs; a failed read refuses.
async fn refused_unless_held<V: Conversation>(
    conv: &V,
    req: &ExecRequest<'_>,
    held: Holdings,
    mark: &V::Mark,
    why: &str,
) -> Result<Execution, NothingSent> {
    let refused = |note: Option<String>| {
        let why = match note {
            None => why.to_owned(),
            Some(note) => format!("{why} ({note})"),
        };
        Ok(Execution::without_legs(Outcome::Refused, why))
    };
    let planned = plan(req.intent.target, held, Decimal::ONE, conv.book());
    if !planned.is_empty() {
        // A refused reversal leaves the other side open: say so, as a strategy that took the
        // alert for done now believes otherwise; and alarm it, as a reversal the plan's own
        // checks refuse is (the account stays against the strategy).
        let mut e = refused(still_held(req, held))?;
        e.alarmed = is_reversal(&planned);
        return Ok(e);
    }
    if rolls(req) {
        match conv
            .earlier_contracts(req)
            .await
            .map(|r| earlier_only(req, r))
        {
            Ok(r) if r.is_empty() => {}
            Ok(_) => return refused(Some("an earlier contract is still held".into())),
            Err(ReadError::Unavailable(e) | ReadError::RateLimited(e) | ReadError::Refused(e)) => {
                return refused(Some(format!(
                    "the earlier contracts could not be read: {e}"
                )));
            }
        }
    }
    let mut gate = req.gate.filter(|_| !req.takeover);
    if let Some(later) = ask(&mut gate).await.map_err(|e| unchecked(conv, e))? {
        return Ok(Execution::without_legs(Outcome::Superseded, later));
    }
    Ok(Execution::no_op(format!(
        "{} (the risk settings would have refused an order: {why})",
        conv.no_op_reason(req, &held, mark)
    )))
}

/// A holding in words: `nothing`, `long 10`, `short 5`, `long 10 and short 5`.
fn holding_words(held: &Holdings) -> String {
    match (held.long.is_zero(), held.short.is_zero()) {
        (true, true) => "nothing".to_owned(),
        (false, true) => format!("long {}", held.long.normalize()),
        (true, false) => format!("short {}", held.short.abs().normalize()),
        (false, false) => format!(
            "long {} and short {}",
            held.long.normalize(),
            held.short.abs().normalize()
        ),
    }
}

/// Whether `planned` closes a side and opens the other: a reversal, whose refusal before its
/// close leaves the account on the side the strategy left (alarmed, see `Execution::alarmed`).
/// A hedge's close alone, or an open from flat, is not.
fn is_reversal(planned: &[PlannedLeg]) -> bool {
    planned
        .iter()
        .any(|l| matches!(l.action, LegAction::Close(_)))
        && planned.iter().any(|l| l.action == LegAction::Open)
}

/// "nothing was sent; the account still holds long 10 in XAG_USD" when something of the
/// instrument is held, else `None`.
fn still_held(req: &ExecRequest<'_>, held: Holdings) -> Option<String> {
    (!held.long.is_zero() || !held.short.is_zero()).then(|| {
        format!(
            "nothing was sent; the account still holds {} in {}",
            holding_words(&held),
            req.intent.instrument
        )
    })
}

/// Asks `gate` (an attempt's [`ExecRequest::gate`]) once: the first call asks and empties
/// it, later ones answer `Ok(None)`. Called just before the attempt's first order leaves (after
/// the staleness check before it, so a signal that ends expired before its first order is not
/// recorded as taken; and the budget is checked again after it, so the check's own slow write
/// never sends a stale order), or when no order is needed. `Ok(Some(reason))`: superseded,
/// nothing sent.
async fn ask(gate: &mut Option<&dyn OrderGate>) -> Result<Option<String>, String> {
    match gate.take() {
        None => Ok(None),
        Some(g) => g.pass().await,
    }
}

/// [`ExecRequest::gate`] asked as [`execute`] asks it before an attempt's first order (never
/// for a takeover), for a venue that sends outside it (a simulation's planted fault). The
/// answer is [`OrderGate::pass`]'s.
pub async fn first_order_check(req: &ExecRequest<'_>) -> Result<Option<String>, String> {
    ask(&mut req.gate.filter(|_| !req.takeover)).await
}

/// The [`NothingSent`] of a gate that could not be asked: the executor's own store failed,
/// not the broker ([`NothingSent::order_check`]).
fn unchecked<V: Conversation>(conv: &V, why: String) -> NothingSent {
    NothingSent {
        broker: conv.broker(),
        reason: why,
        order_check: true,
    }
}

/// A refusal before this attempt's first order, said as every such refusal says it: `why`,
/// then what the account still holds (or that nothing, or nothing more, was sent), after
/// any earlier attempt's `legs`; alarmed when it was a `reversal` (the account stays on the
/// side the strategy left; see `Execution::alarmed`).
fn refused_before_sending(
    legs: Vec<LegReport>,
    req: &ExecRequest<'_>,
    held: Holdings,
    reversal: bool,
    why: String,
) -> Execution {
    let untouched = still_held(req, held)
        .filter(|_| legs.is_empty())
        .unwrap_or_else(|| match legs.is_empty() {
            true => "nothing was sent".to_owned(),
            false => "nothing more was sent".to_owned(),
        });
    let mut e = stop_before_sending(legs, Outcome::Refused, format!("{why}; {untouched}"));
    e.alarmed = reversal;
    e
}

/// Ends the signal with `outcome` before this attempt sends anything, keeping the legs an
/// earlier attempt left (a takeover): they are journaled, and the reason names the ones that
/// filled, so the alarm says the account moved.
fn stop_before_sending(legs: Vec<LegReport>, outcome: Outcome, why: String) -> Execution {
    let why = match filled_legs(legs.iter()) {
        None => why,
        Some(filled) => format!("{why} (after an earlier attempt's {filled} filled)"),
    };
    finish(legs, Some((outcome, why)))
}

/// The entry size in the broker's units: a configured quantity as is, a notional converted
/// at the alert's close and rounded down to the instrument's increment.
fn size_in_units(
    req: &ExecRequest<'_>,
    rules: &TradingRules,
    limit: &NotionalLimit,
) -> Result<Decimal, String> {
    match req.size {
        Size::Quantity(q) => Ok(q),
        Size::Notional(amount) => {
            // An absurd close (out of decimal range either way) sizes nothing.
            let out_of_range = || {
                format!(
                    "notional {amount} at {} is out of range to size by",
                    req.intent.reference_price
                )
            };
            let per_unit = limit
                .price
                .checked_mul(limit.multiplier)
                .ok_or_else(out_of_range)?;
            if per_unit <= Decimal::ZERO {
                return Err("no usable price to size by notional".into());
            }
            let raw = amount.checked_div(per_unit).ok_or_else(out_of_range)?;
            let units = if rules.increment > Decimal::ZERO {
                raw.checked_div(rules.increment)
                    .ok_or_else(out_of_range)?
                    .round_dp_with_strategy(0, RoundingStrategy::ToZero)
                    .checked_mul(rules.increment)
                    .ok_or_else(out_of_range)?
            } else {
                raw
            };
            if units <= Decimal::ZERO {
                return Err(format!(
                    "notional {amount} at {}{} buys less than one increment ({})",
                    req.intent.reference_price,
                    crate::plan::per_point(limit.multiplier),
                    rules.increment.normalize()
                ));
            }
            if let Some(max) = req.max_position
                && units > max
            {
                // Where the notional is the size itself (a currency pair's base units, a
                // Coinbase buy's quote amount) the close plays no part: the settings do.
                return Err(
                    if limit.price == Decimal::ONE && limit.multiplier == Decimal::ONE {
                        let what = match &limit.unit {
                            Some(unit) => format!("in {unit}"),
                            None => "a spot buy's amount to spend, in the quote currency; a \
                                     currency pair's units of its base currency"
                                .to_owned(),
                        };
                        format!(
                            "notional {amount} is its size here ({what}), over its max_position \
                         {}, counted in the same units (set notional at most max_position in \
                         the risk settings, or raise max_position)",
                            max.normalize()
                        )
                    } else {
                        format!(
                            "notional {amount} at {}{} comes to {}, over its max_position {} (check \
                         the alert's close)",
                            req.intent.reference_price,
                            crate::plan::per_point(limit.multiplier),
                            units.normalize(),
                            max.normalize()
                        )
                    },
                );
            }
            Ok(units.normalize())
        }
    }
}

/// The signal's outcome from its legs: the stop reason if it stopped, else filled or no-op.
fn finish(legs: Vec<LegReport>, stopped: Option<(Outcome, String)>) -> Execution {
    match stopped {
        Some((outcome, reason)) => Execution {
            outcome,
            legs,
            reason: Some(reason),
            stopped_by_policy: false,
            alarmed: false,
            at_target: false,
        },
        None => Execution {
            outcome: if legs.iter().any(|l| l.outcome == Outcome::Filled) {
                Outcome::Filled
            } else {
                Outcome::NoOp
            },
            legs,
            reason: None,
            stopped_by_policy: false,
            alarmed: false,
            at_target: false,
        },
    }
}

fn apply<C: Clock + ?Sized>(clock: &C, mut row: LegReport, ack: Ack) -> LegReport {
    row.acked_at = Some(clock.now());
    let (ack, rest) = ack.split_in_part();
    let in_part = rest.is_some();
    if let Some(rest) = rest {
        row.in_part = true;
        row.error = Some(rest);
    }
    match ack {
        Ack::Filled {
            order_id,
            quantity,
            price,
            fee,
        } => {
            row.broker_order_id = order_id.or(row.broker_order_id);
            // A zero keeps the size sent, but for a fill in part, where it is what filled
            // (an OANDA open that only reduced the other side opened nothing).
            if let Some(q) = quantity.filter(|q| in_part || !q.is_zero()) {
                row.quantity = q.abs();
            }
            row.fill_price = price.or(row.fill_price);
            row.fee = fee.or(row.fee);
            row.outcome = Outcome::Filled;
        }
        Ack::Cancelled { order_id, reason } => {
            row.broker_order_id = order_id.or(row.broker_order_id);
            row.outcome = Outcome::Rejected;
            row.error = Some(reason);
        }
        Ack::Working { order_id, reason } => {
            row.error = Some(format!(
                "order {order_id} accepted, outcome unknown: {reason}; not sent again"
            ));
            row.broker_order_id = Some(order_id);
            row.outcome = Outcome::Unknown;
        }
        Ack::NothingToClose => row.outcome = Outcome::NoOp,
        // Made a fill above.
        Ack::FilledInPart { .. } => {}
    }
    row
}

/// Sends one leg, resolving every failure by the classification above. Returns one row per
/// send; the last row is the leg's result.
///
/// A leg sent again after an answer not documented as not carried out ([`SendError::Throttled`])
/// at a broker that does not make a second order with the same client order id return the
/// first: should the last send not fill (refused, not carried out), the first may still
/// land, so the leg ends `unknown`, alarmed, not `rejected` or `not_executed`.
pub async fn send_leg<V: Conversation, C: Clock + ?Sized>(
    conv: &V,
    clock: &C,
    req: &ExecRequest<'_>,
    leg: &PlannedLeg,
    mark: &V::Mark,
    needed: Option<std::time::Duration>,
) -> Vec<LegReport> {
    let mut unproven_earlier = false;
    let mut rows = send_each(conv, clock, req, leg, mark, needed, &mut unproven_earlier).await;
    if unproven_earlier
        && let Some(last) = rows.last_mut()
        && matches!(last.outcome, Outcome::Rejected | Outcome::NotExecuted)
    {
        last.outcome = Outcome::Unknown;
        let note = "an earlier send of this leg got an answer the broker does not document as \
                    not carried out and was not found: it may still land late";
        last.error = Some(match last.error.take() {
            Some(e) => format!("{e}; {note}"),
            None => note.to_owned(),
        });
    }
    rows
}

/// [`send_leg`]'s sends; `unproven_earlier` is set when a send again follows a send whose
/// failure the lookup could not disprove. `needed`: the time a close with a leg after it must
/// leave that leg (the settle time and one poll); a close is not sent again with less left,
/// since it would fill and the leg after it expire (a reversal at neither side).
async fn send_each<V: Conversation, C: Clock + ?Sized>(
    conv: &V,
    clock: &C,
    req: &ExecRequest<'_>,
    leg: &PlannedLeg,
    mark: &V::Mark,
    needed: Option<std::time::Duration>,
    unproven_earlier: &mut bool,
) -> Vec<LegReport> {
    // The first send and one more: a broker that twice created nothing is not retried again.
    const MAX_SENDS: u32 = 2;
    let mut rows = Vec::new();
    let mut row = LegReport::new(req, leg.leg, leg.side, leg.quantity);
    // This send follows one that may have been carried out (a timeout, a 5xx) and that the
    // lookup did not find, at a broker that makes the same client order id harmless: harmless
    // only once this send reaches the broker. One that never leaves settles nothing of the
    // earlier, which may land late.
    let mut earlier_unresolved = false;
    // What the venue is told of the leg after this one, for a resend of its own.
    let leg = &PlannedLeg {
        then_needs: needed,
        ..*leg
    };
    loop {
        row.sent_at = Some(clock.now());
        let failure = match conv.send(req, leg, &row).await {
            // A close sent again that finds the side already flat: the earlier send, which the
            // lookup did not find, may have closed it after all (a late order); its fill, if
            // the broker lists it now, is what the leg did.
            Ok(Ack::NothingToClose) if row.attempt > 1 => {
                // Flat as the leg wants either way, so the reversal goes on; the note says
                // what is known of what closed it.
                let (ack, note) = match conv.lookup(req, leg, &row, mark).await {
                    Found::Order(found @ Ack::Filled { .. }) => {
                        info!(
                            leg = leg.leg.as_str(),
                            "an earlier send closed the side after all"
                        );
                        (found, None)
                    }
                    // The earlier send closed part of the side and something else (a stop, the
                    // trader) the rest: its fill is journaled, not lost to a `no_op`, and not
                    // taken as a close short of its size (the side is flat).
                    Found::Order(found @ Ack::FilledInPart { .. }) => {
                        let (filled, rest) = found.split_in_part();
                        let rest = rest.unwrap_or_default();
                        warn!(leg = leg.leg.as_str(), rest = %rest, "an earlier send closed part of the side; it was flat on the send again");
                        (
                            filled,
                            Some(format!(
                                "an earlier send closed part of the side ({rest}); the side was \
                                 flat on the send again: the rest was closed otherwise"
                            )),
                        )
                    }
                    Found::Inconclusive(why) => {
                        warn!(leg = leg.leg.as_str(), why = %why, "side flat on a send again; the earlier send's fill could not be read");
                        (
                            Ack::NothingToClose,
                            Some(format!(
                                "the side was flat on the send again; whether the earlier send \
                                 closed it could not be told: {why}"
                            )),
                        )
                    }
                    Found::Order(_) | Found::NotCreated => (Ack::NothingToClose, None),
                };
                let mut row = apply(clock, row, ack);
                if let Some(note) = note {
                    row.error = Some(note);
                }
                rows.push(row);
                return rows;
            }
            Ok(ack) => {
                rows.push(apply(clock, row, ack));
                return rows;
            }
            Err(SendError::Rejected { order_id, reason }) => {
                row.acked_at = Some(clock.now());
                row.broker_order_id = order_id;
                row.outcome = Outcome::Rejected;
                row.error = Some(reason);
                rows.push(row);
                return rows;
            }
            Err(SendError::Unsent(reason)) => {
                row.acked_at = Some(clock.now());
                if earlier_unresolved {
                    row.outcome = Outcome::Unknown;
                    row.error = Some(format!(
                        "{reason}; this send never left, and the earlier one, which may have \
                         been carried out, was not found by lookup: it may still land"
                    ));
                } else {
                    row.outcome = Outcome::NotExecuted;
                    row.error = Some(format!(
                        "{reason}; the order never left, nothing to look up"
                    ));
                }
                rows.push(row);
                return rows;
            }
            Err(SendError::Stopped(reason)) => {
                row.acked_at = Some(clock.now());
                row.outcome = Outcome::Unknown;
                row.error = Some(format!(
                    "{reason}; not looked up: the broker asks for no requests for a while, and \
                     every read would lengthen that; a replay after it reconciles by client \
                     order id"
                ));
                rows.push(row);
                return rows;
            }
            Err(e) => e,
        };
        let wait = match &failure {
            SendError::NotExecuted { retry_after, .. }
            | SendError::Throttled { retry_after, .. } => retry_after
                .unwrap_or(conv.settle_time())
                .max(conv.settle_time()),
            _ => conv.settle_time(),
        };
        // Nothing found by lookup proves nothing was done only for a request documented as not
        // carried out.
        let unproven = *unproven_earlier
            || earlier_unresolved
            || matches!(failure, SendError::Unknown(_) | SendError::Throttled { .. });
        let left = remaining(clock, req.deadline);
        warn!(leg = leg.leg.as_str(), attempt = row.attempt, error = %failure, wait_ms = wait.as_millis() as u64, "order not confirmed; waiting, then looking it up");
        if let SendError::NotExecuted {
            reason,
            retry_after,
        }
        | SendError::Throttled {
            reason,
            retry_after,
        } = &failure
            && wait > left
        {
            // Not carried out by the broker's word (or, throttled, probably not), and its wait
            // does not fit the budget: confirm by lookup after the settle time and end
            // `not_executed`; a lookup that cannot tell, or nothing found after an answer not
            // documented as not carried out, ends it `unknown` (alarmed, dead-lettered for a
            // replay to reconcile).
            tokio::time::sleep(conv.settle_time().min(left)).await;
            let (outcome, confirmed) = match conv.lookup(req, leg, &row, mark).await {
                Found::Order(ack) => {
                    info!(leg = leg.leg.as_str(), "order found by lookup after all");
                    rows.push(apply(clock, row, ack));
                    return rows;
                }
                Found::NotCreated if unproven => (
                    Outcome::Unknown,
                    "nothing found by lookup, which does not prove nothing was done: the \
                     broker does not document this answer as not carried out"
                        .to_owned(),
                ),
                Found::NotCreated => (
                    Outcome::NotExecuted,
                    "not created (confirmed by lookup)".to_owned(),
                ),
                Found::Inconclusive(why) => (
                    Outcome::Unknown,
                    format!("the lookup could not confirm it: {why}"),
                ),
            };
            row.acked_at = Some(clock.now());
            row.outcome = outcome;
            let asked = match retry_after {
                Some(w) => format!("the broker asks to wait {} ms", w.as_millis()),
                None => format!("the settle time is {} ms", wait.as_millis()),
            };
            row.error = Some(format!(
                "{reason}; {confirmed}; {asked}, {} ms left in the staleness budget (or the attempt's lease)",
                left.as_millis()
            ));
            rows.push(row);
            return rows;
        }
        tokio::time::sleep(wait.min(left.max(conv.settle_time()))).await;
        match conv.lookup(req, leg, &row, mark).await {
            Found::Order(ack) => {
                info!(leg = leg.leg.as_str(), "order found by lookup");
                rows.push(apply(clock, row, ack));
                return rows;
            }
            Found::Inconclusive(why) => {
                row.outcome = Outcome::Unknown;
                row.error = Some(format!("{failure}; lookup could not tell: {why}"));
                rows.push(row);
                return rows;
            }
            Found::NotCreated
                if matches!(failure, SendError::Unknown(_)) && !conv.resends_after_unknown() =>
            {
                row.outcome = Outcome::Unknown;
                row.error = Some(format!(
                    "{failure}; nothing found by lookup after the settle time, but {} documents \
                     no time within which an order is listed: not sent again, as the first \
                     could still fill",
                    conv.broker()
                ));
                rows.push(row);
                return rows;
            }
            Found::NotCreated => {
                let left = remaining(clock, req.deadline);
                // A close with a leg after it goes again only with the time that leg needs:
                // sent with less, it fills and that leg expires (checked before the first
                // send, and here again, since the wait and the lookup took some of it).
                let short = needed.filter(|n| left < *n);
                let may_resend =
                    row.attempt < MAX_SENDS && clock.now() < req.deadline && short.is_none();
                row.acked_at = Some(clock.now());
                row.outcome = Outcome::NotExecuted;
                row.error = Some(if unproven {
                    format!("{failure}; nothing found by lookup; sent again")
                } else {
                    format!("{failure}; not created (confirmed by lookup)")
                });
                if !may_resend {
                    // A send that timed out or got a 5xx may have been carried out, and a
                    // broker may list an order later than the lookup: nothing found is not
                    // proof, and with no send left to settle it the leg's fate is unknown,
                    // alarmed, not `not_executed`; so after a throttle the broker does not
                    // document (a penalty, documented as not carried out, stays
                    // `not_executed`).
                    let found = if unproven {
                        row.outcome = Outcome::Unknown;
                        "nothing found by lookup, which cannot rule out a late order"
                    } else {
                        "not created (confirmed by lookup)"
                    };
                    row.error = Some(match short {
                        Some(n) if row.attempt < MAX_SENDS && clock.now() < req.deadline => {
                            format!(
                                "{failure}; {found}; not sent again: {} ms left in the staleness budget (or the attempt's lease), less than the {} ms a close needs to show in the position before the leg after it",
                                left.as_millis(),
                                n.as_millis()
                            )
                        }
                        _ => format!(
                            "{failure}; {found}; not sent again after {} send(s) (limit {MAX_SENDS}, deadline {})",
                            row.attempt, req.deadline
                        ),
                    });
                    rows.push(row);
                    return rows;
                }
                info!(
                    leg = leg.leg.as_str(),
                    attempt = row.attempt + 1,
                    "the broker has no such order; sending again with the same client order id"
                );
                *unproven_earlier |= unproven && !conv.resends_after_unknown();
                earlier_unresolved = unproven;
                let next = LegReport {
                    attempt: row.attempt + 1,
                    ..LegReport::new(req, leg.leg, leg.side, leg.quantity)
                };
                rows.push(row);
                row = next;
            }
        }
    }
}

/// The waits between reads of an order or a position that does not show yet what is waited
/// for: `interval` (the broker's poll interval) first, each next one 1.5 times the last, at
/// most 4 times `interval` (250 ms growing to 1 s at Tradovate). A fill or a position that
/// shows at once is seen as soon as before; one that takes long costs fewer reads. Tradovate
/// documents its limits as variable, with no fixed figure to stay under, and a 429 stops the
/// whole account's requests for about an hour
/// (<https://partner.tradovate.com/overview/core-concepts/rate-limits>).
pub fn poll_waits(interval: Duration) -> impl Iterator<Item = Duration> {
    use backon::BackoffBuilder;
    backon::ExponentialBuilder::default()
        .with_min_delay(interval)
        .with_max_delay(interval.saturating_mul(4))
        .with_factor(1.5)
        .without_max_times()
        .build()
}

/// `wait` cut to what is left until `until`, so that a bounded wait reads once more at its
/// bound rather than past it; `wait` whole once `until` has passed (a wait given its settle
/// time beyond the bound goes on at its own pace, never in a busy loop).
pub fn wait_within(wait: Duration, until: tokio::time::Instant) -> Duration {
    let left = until.saturating_duration_since(tokio::time::Instant::now());
    if left.is_zero() { wait } else { wait.min(left) }
}

/// Why [`read_until`] stopped without seeing what it waited for.
enum Unseen {
    /// The broker answered a read with its rate limit: reading on every poll interval would
    /// only lengthen the ban, so no more reads.
    RateLimited(String),
    /// Not seen within `bound`; `last` is the last reading (or why it failed).
    TimedOut { bound: Duration, last: String },
}

/// Reads the account with `read` ([`poll_waits`] apart) until it answers `Ok(Ok(_))`, bounded
/// by the deadline (and at least one settle time, at most [`Conversation::max_wait`]). A
/// reading that does not show it yet is `Ok(Err(what it showed))`; a failed read is tried
/// again at the next interval, but a rate limit stops the reading at once.
async fn read_until<V, C, T, F, Fut>(
    conv: &V,
    clock: &C,
    req: &ExecRequest<'_>,
    mut read: F,
) -> Result<T, Unseen>
where
    V: Conversation,
    C: Clock + ?Sized,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Result<T, String>, ReadError>>,
{
    let bound = remaining(clock, req.deadline)
        .max(conv.settle_time())
        .min(conv.max_wait());
    let until = tokio::time::Instant::now() + bound;
    let mut waits = poll_waits(conv.poll_interval());
    loop {
        let last = match read().await {
            Ok(Ok(seen)) => return Ok(seen),
            Ok(Err(shown)) => shown,
            Err(ReadError::Unavailable(e) | ReadError::Refused(e)) => e,
            Err(ReadError::RateLimited(e)) => return Err(Unseen::RateLimited(e)),
        };
        if tokio::time::Instant::now() >= until {
            return Err(Unseen::TimedOut { bound, last });
        }
        let wait = waits.next().unwrap_or(conv.poll_interval());
        tokio::time::sleep(wait_within(wait, until)).await;
    }
}

/// After a close filled: read the holdings until that side is flat ([`read_until`]).
/// Returns a fresh mark for the next leg's lookup.
async fn confirm_flat<V: Conversation, C: Clock + ?Sized>(
    conv: &V,
    clock: &C,
    req: &ExecRequest<'_>,
    leg: &PlannedLeg,
) -> Result<(Holdings, V::Mark), String> {
    let read = || async {
        conv.holdings(req).await.map(|(h, mark)| {
            if side_flat(leg, &h) {
                Ok((h, mark))
            } else {
                Err(format!("long {}, short {}", h.long, h.short))
            }
        })
    };
    read_until(conv, clock, req, read)
        .await
        .map_err(|unseen| match unseen {
            Unseen::RateLimited(e) => format!(
                "the position could not be read ({e}); stopped reading, as the broker asks; nothing more sent"
            ),
            Unseen::TimedOut { bound, last } => format!(
                "the position did not show the {} leg's side closed within {} ms (the staleness budget, or the attempt's lease when sooner): {last}; nothing more sent",
                leg.leg.as_str(),
                bound.as_millis()
            ),
        })
}

/// After an open filled: read the holdings until they show it (the side it opened larger by
/// exactly what filled than `before`, what the account held before the signal's legs,
/// [`Conversation::open_shows`]), bounded as
/// [`confirm_flat`] is. Not shown in time: the signal ends `unknown`, alarmed, since the
/// instrument's next signal would plan from a position without it.
async fn confirm_open<V: Conversation, C: Clock + ?Sized>(
    conv: &V,
    clock: &C,
    req: &ExecRequest<'_>,
    leg: &PlannedLeg,
    report: &LegReport,
    before: &Holdings,
) -> Result<(), String> {
    let read = || async {
        conv.open_shows(req, leg, report, before)
            .await
            .map(|shown| {
                if shown {
                    Ok(())
                } else {
                    Err("not yet".to_owned())
                }
            })
    };
    match read_until(conv, clock, req, read).await {
        Ok(()) => Ok(()),
        Err(Unseen::RateLimited(e)) => Err(format!(
            "the {} leg filled, and the position could not be read to see it ({e}); stopped reading, as the broker asks: the instrument's next signal may read the position without it",
            leg.leg.as_str()
        )),
        Err(Unseen::TimedOut { bound, last }) => {
            // What it shows, for the trader: a position read late, or one a trade outside
            // this signal moved (it shows more than the open, or the open netted away).
            let shows = match conv.holdings(req).await {
                Ok((h, _)) => format!("it shows {}", holding_words(&h)),
                Err(_) => last,
            };
            Err(format!(
                "the {} leg filled, but the position did not show it within {} ms ({shows}, where {} was held before and {} {} filled): read late, or moved by a trade outside this signal; the instrument's next signal plans from what it shows",
                leg.leg.as_str(),
                bound.as_millis(),
                holding_words(before),
                report.quantity.abs().normalize(),
                if leg.side == Side::Buy {
                    "bought"
                } else {
                    "sold"
                },
            ))
        }
    }
}

/// Waits until the holdings show a close that filled `filled` in part: its side no larger
/// than `before` (the holdings read before the signal's legs) less `filled`, and not empty
/// while something is left, so a wallet that reads nothing while the broker still holds the
/// unfilled part back (Coinbase's `hold`, whose release after an IOC order ends is not
/// documented) is not taken for the sale: the next exit would find nothing to sell.
async fn confirm_reduced<V: Conversation, C: Clock + ?Sized>(
    conv: &V,
    clock: &C,
    req: &ExecRequest<'_>,
    leg: &PlannedLeg,
    before: &Holdings,
    filled: Decimal,
) -> Result<(), String> {
    let read = || async {
        conv.holdings(req).await.map(|(h, _)| {
            let (was, now) = match leg.action {
                LegAction::Close(crate::plan::PositionSide::Long) => (before.long, h.long),
                LegAction::Close(crate::plan::PositionSide::Short) => (-before.short, -h.short),
                LegAction::Open => return Ok(()),
            };
            let left = was - filled;
            if now <= left && (left <= Decimal::ZERO || now > Decimal::ZERO) {
                Ok(())
            } else {
                Err(format!(
                    "it shows {} where {} should be left",
                    now.normalize(),
                    left.normalize()
                ))
            }
        })
    };
    read_until(conv, clock, req, read)
        .await
        .map_err(|unseen| match unseen {
            Unseen::RateLimited(e) => format!(
                "the position could not be read to see it ({e}); stopped reading, as the broker asks: the instrument's next signal may read the position without it"
            ),
            Unseen::TimedOut { bound, last } => format!(
                "the position did not show it within {} ms ({last}): the instrument's next signal may read the position without it",
                bound.as_millis()
            ),
        })
}

/// How the side `open` would add to moved from `planned` (the read its signal's legs were
/// planned from) to `now` (the read that showed the close before it land), if it did: an open
/// sized from the first read would overshoot the target on top of the second.
fn open_side_moved(open: &PlannedLeg, planned: &Holdings, now: &Holdings) -> Option<String> {
    match open.side {
        Side::Buy if now.long != planned.long => Some(format!(
            "long {} when planned, long {} now",
            planned.long.normalize(),
            now.long.normalize()
        )),
        Side::Sell if now.short != planned.short => Some(format!(
            "short {} when planned, short {} now",
            planned.short.abs().normalize(),
            now.short.abs().normalize()
        )),
        _ => None,
    }
}

/// Why the open after the close `planned[n]` is not sent, if its side moved from `held` (the
/// read the legs were planned from) to `now` (the read that showed the close land; `closed`
/// says how it did): [`CHANGED_OUTSIDE_STOP`], naming both readings.
fn open_side_stop(
    req: &ExecRequest<'_>,
    planned: &[PlannedLeg],
    n: usize,
    held: &Holdings,
    now: &Holdings,
    closed: &str,
) -> Option<String> {
    let next = planned.get(n + 1).filter(|l| l.action == LegAction::Open)?;
    let moved = open_side_moved(next, held, now)?;
    Some(format!(
        "{closed}; the {} leg was not sent: {CHANGED_OUTSIDE_STOP} between the read its legs were planned from and the close ({moved}); it now holds {} in {}",
        next.leg.as_str(),
        holding_words(now),
        req.intent.instrument
    ))
}

/// The signal's end when [`open_side_stop`] stopped its open: rejected and alarmed, and
/// nothing said of the broker's path (it answered as documented).
fn moved_stop(legs: Vec<LegReport>, why: String) -> Execution {
    let mut e = finish(legs, Some((Outcome::Rejected, why)));
    e.alarmed = true;
    e.stopped_by_policy = true;
    e
}

fn side_flat(leg: &PlannedLeg, h: &Holdings) -> bool {
    match leg.action {
        LegAction::Close(crate::plan::PositionSide::Long) => h.long.is_zero(),
        LegAction::Close(crate::plan::PositionSide::Short) => h.short.is_zero(),
        LegAction::Open => true,
    }
}

/// A takeover that finds a side still open on a broker whose closes work asynchronously:
/// wait for an earlier attempt's close to land rather than closing a second time. Gives the
/// close's row, the holdings that showed it land and their mark.
async fn await_flat<V: Conversation, C: Clock + ?Sized>(
    conv: &V,
    clock: &C,
    req: &ExecRequest<'_>,
    leg: &PlannedLeg,
) -> Result<(LegReport, Holdings, V::Mark), LegReport> {
    let mut report = LegReport::new(req, leg.leg, leg.side, leg.quantity);
    match confirm_flat(conv, clock, req, leg).await {
        Ok((now, mark)) => {
            info!("position flat: an earlier attempt's close completed");
            report.outcome = Outcome::Filled;
            report.acked_at = Some(clock.now());
            report.error = Some("closed by an earlier attempt (seen in the position)".into());
            Ok((report, now, mark))
        }
        Err(why) => {
            // A replay of it is a takeover too, and waits the same way: say how out of it.
            report.error = Some(format!(
                "taken over with the position still open; not closing a second time while an earlier close may be working: {why}; if the broker shows no close of it working, close the position by hand (a replay would wait for it again)"
            ));
            Err(report)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paper::PaperNetting;
    use shared::Action;
    use shared::clock::ManualClock;
    use shared::message::{INTENT_VERSION, OrderIntent};
    use shared::routing::Instrument;
    use shared::signal::SignalId;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A paper account whose first close is answered as not carried out with a short wait
    /// to retry (a penalty, a 429), and whose lookup then finds nothing, the wait having
    /// taken `.3` of the signal's budget. Counts its close sends.
    struct CloseRefusedOnce(Arc<PaperNetting>, ManualClock, chrono::Duration, AtomicU32);

    impl Conversation for CloseRefusedOnce {
        type Mark = ();
        fn broker(&self) -> Broker {
            Conversation::broker(&*self.0)
        }
        fn account(&self) -> &str {
            Conversation::account(&*self.0)
        }
        fn book(&self) -> Book {
            self.0.book()
        }
        fn settle_time(&self) -> Duration {
            Duration::ZERO
        }
        fn fills_show_at_once(&self) -> bool {
            true
        }
        async fn holdings(&self, req: &ExecRequest<'_>) -> Result<(Holdings, ()), ReadError> {
            self.0.holdings(req).await
        }
        async fn rules(&self, req: &ExecRequest<'_>) -> Result<TradingRules, ReadError> {
            self.0.rules(req).await
        }
        async fn send(
            &self,
            req: &ExecRequest<'_>,
            leg: &PlannedLeg,
            report: &LegReport,
        ) -> Result<Ack, SendError> {
            if matches!(leg.action, LegAction::Close(_))
                && self.3.fetch_add(1, Ordering::SeqCst) == 0
            {
                return Err(SendError::NotExecuted {
                    reason: "penalty: try again shortly".into(),
                    retry_after: Some(Duration::from_millis(100)),
                });
            }
            self.0.send(req, leg, report).await
        }
        async fn lookup(
            &self,
            req: &ExecRequest<'_>,
            leg: &PlannedLeg,
            report: &LegReport,
            mark: &(),
        ) -> Found {
            self.1.advance(self.2);
            self.0.lookup(req, leg, report, mark).await
        }
    }

    fn intent(action: Action, at: DateTime<Utc>, id: &str) -> OrderIntent {
        OrderIntent {
            version: INTENT_VERSION,
            signal_id: SignalId::of_canonical(id),
            broker: Broker::Oanda,
            instrument: Instrument::new("EUR_USD"),
            action,
            target: action.target(),
            symbol: "EURUSD".into(),
            exchange: "OANDA".into(),
            reference_price: Decimal::new(108_345, 5),
            quantity_override: None,
            signal_time: at,
            received_at: at,
            enqueued_at: at,
            routed_at: at,
            contract: None,
            raw: "{}".into(),
            replay_forced: false,
        }
    }

    fn request(intent: &OrderIntent, deadline: DateTime<Utc>) -> ExecRequest<'_> {
        ExecRequest {
            intent,
            size: Size::Quantity(Decimal::ONE_THOUSAND),
            deadline,
            max_notional: Decimal::from(1_000_000),
            max_position: None,
            takeover: false,
            may_send: true,
            refused: None,
            gate: None,
            journaled: &[],
        }
    }

    /// A reversal's close answered "not carried out, retry shortly" is not sent again once
    /// the wait has left less than the open needs after it (the settle time and one poll):
    /// sent, it would fill and the open expire, leaving the account at neither side. It ends
    /// `not_executed` with the long kept. It was sent again whenever the deadline had not
    /// passed.
    #[tokio::test]
    async fn a_reversals_close_is_not_sent_again_without_time_for_the_open() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let clock = ManualClock::new(t0);
        let paper = Arc::new(PaperNetting::with_clock(
            Broker::Oanda,
            "paper",
            Arc::new(clock.clone()),
        ));
        let long = intent(Action::LongEntry, t0, "long");
        let opened = execute(
            &*paper,
            &clock,
            &request(&long, t0 + chrono::Duration::seconds(30)),
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(opened.outcome, Outcome::Filled);
        // 1 s of budget; the retry's wait and lookup take 900 ms of it, leaving 100 ms,
        // less than the 250 ms poll the open needs after the close.
        let conv = CloseRefusedOnce(
            paper.clone(),
            clock.clone(),
            chrono::Duration::milliseconds(900),
            AtomicU32::new(0),
        );
        let short = intent(Action::ShortEntry, t0, "short");
        let done = execute(
            &conv,
            &clock,
            &request(&short, t0 + chrono::Duration::seconds(1)),
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(conv.3.load(Ordering::SeqCst), 1, "the close was sent once");
        assert_eq!(done.outcome, Outcome::NotExecuted, "{done:?}");
        let reason = done.reason.clone().unwrap_or_default();
        assert!(
            reason.contains("less than the 250 ms a close needs"),
            "{reason}"
        );
        assert_eq!(
            paper.positions().get("EUR_USD").copied(),
            Some(Decimal::ONE_THOUSAND),
            "the long is kept"
        );
    }

    /// A paper account whose reversal close meets: a first send answered "not carried out,
    /// retry shortly", a lookup that finds nothing, then (the first send having landed late,
    /// closing 400 of the 1,000 held, and something else the rest) a send again that finds
    /// the side flat, and a lookup that now finds the earlier send filled in part.
    struct ClosedInPartLate(Arc<PaperNetting>, AtomicU32, AtomicU32);

    impl Conversation for ClosedInPartLate {
        type Mark = ();
        fn broker(&self) -> Broker {
            Conversation::broker(&*self.0)
        }
        fn account(&self) -> &str {
            Conversation::account(&*self.0)
        }
        fn book(&self) -> Book {
            self.0.book()
        }
        fn settle_time(&self) -> Duration {
            Duration::ZERO
        }
        fn fills_show_at_once(&self) -> bool {
            true
        }
        async fn holdings(&self, req: &ExecRequest<'_>) -> Result<(Holdings, ()), ReadError> {
            self.0.holdings(req).await
        }
        async fn rules(&self, req: &ExecRequest<'_>) -> Result<TradingRules, ReadError> {
            self.0.rules(req).await
        }
        async fn send(
            &self,
            req: &ExecRequest<'_>,
            leg: &PlannedLeg,
            report: &LegReport,
        ) -> Result<Ack, SendError> {
            if !matches!(leg.action, LegAction::Close(_)) {
                return self.0.send(req, leg, report).await;
            }
            if self.1.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(SendError::NotExecuted {
                    reason: "429: try again shortly".into(),
                    retry_after: Some(Duration::from_millis(10)),
                });
            }
            // Closed meanwhile, in part by the late first send and the rest otherwise.
            self.0
                .send(req, leg, report)
                .await
                .map(|_| Ack::NothingToClose)
        }
        async fn lookup(
            &self,
            _req: &ExecRequest<'_>,
            _leg: &PlannedLeg,
            _report: &LegReport,
            _mark: &(),
        ) -> Found {
            if self.2.fetch_add(1, Ordering::SeqCst) == 0 {
                return Found::NotCreated;
            }
            Found::Order(Ack::FilledInPart {
                order_id: Some(BrokerOrderId::from("late-1")),
                quantity: Some(Decimal::from(400)),
                price: Some(Decimal::new(108_340, 5)),
                fee: None,
                rest: "600 of 1000 not closed".into(),
            })
        }
    }

    /// A reversal's close sent again that finds the side flat, where the lookup then finds
    /// the first send filled in part (the rest closed otherwise): the part is journaled as the
    /// close's fill with a note, and the reversal goes on to its open. It was journaled
    /// `no_op` with no quantity, price or order id, the fill lost to the report.
    #[tokio::test]
    async fn a_close_found_filled_in_part_after_a_send_again_keeps_its_fill() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let clock = ManualClock::new(t0);
        let paper = Arc::new(PaperNetting::with_clock(
            Broker::Oanda,
            "paper",
            Arc::new(clock.clone()),
        ));
        let long = intent(Action::LongEntry, t0, "long");
        let deadline = t0 + chrono::Duration::seconds(30);
        let opened = execute(&*paper, &clock, &request(&long, deadline))
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(opened.outcome, Outcome::Filled);
        let conv = ClosedInPartLate(paper.clone(), AtomicU32::new(0), AtomicU32::new(0));
        let short = intent(Action::ShortEntry, t0, "short");
        let done = execute(&conv, &clock, &request(&short, deadline))
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(done.outcome, Outcome::Filled, "{done:?}");
        let close = done
            .legs
            .iter()
            .rfind(|l| l.leg == shared::execution::Leg::Close)
            .unwrap_or_else(|| panic!("{done:?}"));
        assert_eq!(close.outcome, Outcome::Filled, "{close:?}");
        assert_eq!(close.quantity, Decimal::from(400), "{close:?}");
        assert_eq!(close.broker_order_id, Some(BrokerOrderId::from("late-1")));
        assert!(!close.in_part, "{close:?}");
        let note = close.error.as_deref().unwrap_or_default();
        assert!(note.contains("the rest was closed otherwise"), "{note}");
        assert_eq!(
            paper.positions().get("EUR_USD").copied(),
            Some(-Decimal::ONE_THOUSAND),
            "the reversal went on to its open"
        );
    }

    /// A paper account at a broker that makes a repeated client order id harmless, whose
    /// open's first send times out (it may land later) and whose send again never leaves
    /// (no connection made); its lookups find nothing.
    struct UnknownThenNeverSent(Arc<PaperNetting>, AtomicU32, bool);

    impl Conversation for UnknownThenNeverSent {
        type Mark = ();
        fn broker(&self) -> Broker {
            Conversation::broker(&*self.0)
        }
        fn account(&self) -> &str {
            Conversation::account(&*self.0)
        }
        fn book(&self) -> Book {
            self.0.book()
        }
        fn settle_time(&self) -> Duration {
            Duration::ZERO
        }
        fn fills_show_at_once(&self) -> bool {
            true
        }
        async fn holdings(&self, req: &ExecRequest<'_>) -> Result<(Holdings, ()), ReadError> {
            self.0.holdings(req).await
        }
        async fn rules(&self, req: &ExecRequest<'_>) -> Result<TradingRules, ReadError> {
            self.0.rules(req).await
        }
        async fn send(
            &self,
            _req: &ExecRequest<'_>,
            _leg: &PlannedLeg,
            _report: &LegReport,
        ) -> Result<Ack, SendError> {
            Err(if self.1.fetch_add(1, Ordering::SeqCst) == 0 {
                SendError::Unknown("timed out".into())
            } else if self.2 {
                SendError::Unsent("no token to send it with".into())
            } else {
                SendError::NotExecuted {
                    reason: "no connection made".into(),
                    retry_after: None,
                }
            })
        }
        async fn lookup(
            &self,
            _req: &ExecRequest<'_>,
            _leg: &PlannedLeg,
            _report: &LegReport,
            _mark: &(),
        ) -> Found {
            Found::NotCreated
        }
    }

    /// A send again that never leaves settles nothing of the earlier send that timed out:
    /// that one may still land, so the leg is `unknown` (alarmed, dead-lettered), not
    /// `not_executed` on the strength of a lookup that found nothing.
    #[tokio::test]
    async fn a_send_again_that_never_leaves_leaves_the_earlier_send_unknown() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let clock = ManualClock::new(t0);
        let paper = Arc::new(PaperNetting::with_clock(
            Broker::Oanda,
            "paper",
            Arc::new(clock.clone()),
        ));
        // The send again not connected, then never built (no token).
        for unsent in [false, true] {
            let conv = UnknownThenNeverSent(paper.clone(), AtomicU32::new(0), unsent);
            let long = intent(Action::LongEntry, t0, "long");
            let done = execute(
                &conv,
                &clock,
                &request(&long, t0 + chrono::Duration::seconds(30)),
            )
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(conv.1.load(Ordering::SeqCst), 2, "sent twice");
            assert_eq!(done.outcome, Outcome::Unknown, "{unsent}: {done:?}");
            let last = done.legs.last().unwrap_or_else(|| panic!("{done:?}"));
            assert_eq!(last.outcome, Outcome::Unknown, "{unsent}: {last:?}");
        }
    }

    /// The waits grow from the poll interval to four times it; a wait is cut to its bound,
    /// and goes whole once the bound has passed.
    #[test]
    fn poll_waits_grow_to_a_cap_and_stop_at_their_bound() {
        let ms = |n| Duration::from_millis(n);
        let waits: Vec<_> = poll_waits(ms(250)).take(6).collect();
        assert_eq!(waits[0], ms(250));
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        assert_eq!(waits[5], ms(1000), "{waits:?}");
        let now = tokio::time::Instant::now();
        assert!(wait_within(ms(1000), now + ms(100)) <= ms(100));
        assert_eq!(wait_within(ms(10), now + ms(60_000)), ms(10));
        let past = now.checked_sub(ms(5)).unwrap_or(now);
        assert_eq!(wait_within(ms(1000), past), ms(1000));
    }
}
