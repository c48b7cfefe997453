//! Paper brokers for the local stack and the simulation: the same execution core as the
//! real brokers ([`crate::drive`]: the planner, the pre-flight check, the recovery rule), with
//! a broker conversation that fills every order at the alert's close.
//!
//! `PaperNetting` holds one net position per instrument (OANDA and Tradovate accounts here
//! never hold both directions). `PaperSpot` holds wallet balances per currency (Coinbase):
//! buys spend the configured quote amount, sells sell the whole base balance.

use crate::drive::{self, Ack, Conversation, Found, ReadError, SendError};
use crate::plan::{Book, Holdings, LegAction, PlannedLeg, TradingRules};
use crate::venue::{ExecRequest, Execution, LegReport, NothingSent, Venue};
use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use shared::clock::{Clock, SystemClock};
use shared::execution::Side;
use shared::routing::Broker;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Paper fills are synchronous: nothing to wait for before a lookup.
const SETTLE: Duration = Duration::ZERO;

/// Any size is fine on paper spot; the notional cap still applies.
const PAPER_RULES: TradingRules = TradingRules {
    increment: Decimal::ZERO,
    min_size: Decimal::ZERO,
    max_size: None,
    max_position: None,
};

/// A paper margin account trades whole units (OANDA's currency pairs, metals and most CFDs
/// have a `tradeUnitsPrecision` of 0) or whole contracts (Tradovate): a notional size is
/// rounded down to one, and a finer alert quantity refused, as the real broker would.
const PAPER_NETTING_RULES: TradingRules = TradingRules {
    increment: Decimal::ONE,
    min_size: Decimal::ONE,
    max_size: None,
    max_position: None,
};

/// How many fills a paper broker with a [`PaperLog`] keeps in memory; older ones are read
/// back from the log when a lookup asks for them. Without a log every fill stays in memory.
pub const FILLS_IN_MEMORY: usize = 10_000;

/// One paper fill as a [`PaperLog`] keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperFill {
    /// The paper broker's order id (`paper-<n>`).
    pub order_id: String,
    /// The quantity filled: units or contracts for a margin account, the base amount for spot.
    pub quantity: Decimal,
    /// The fill price: the alert's close, in the quote currency (points for futures); a roll's
    /// close of the earlier contract fills at that contract's latest price (its latest alert's
    /// close or paper fill).
    pub price: Decimal,
    /// The order's side; `None` for a fill a log kept before it recorded sides. A takeover
    /// journals a recovered leg with it: a close to flat is a sell after a long and a buy after
    /// a short, which the signal alone does not tell.
    pub side: Option<Side>,
    /// The instrument filled (contract, pair or product); `None` for a fill a log kept before
    /// it recorded instruments. A takeover journals a recovered `close_rolled` leg with it:
    /// that leg traded the root's earlier contract, not the signal's.
    pub instrument: Option<String>,
}

impl PaperFill {
    fn ack(&self) -> Ack {
        Ack::Filled {
            order_id: Some(self.order_id.as_str().into()),
            quantity: Some(self.quantity),
            price: Some(self.price),
            // A paper broker charges nothing: a known zero, where `None` is a fee the broker
            // did not report (the report warns of those).
            fee: Some(Decimal::ZERO),
        }
    }
}

/// A paper broker's book as a [`PaperLog`] kept it, to start it again.
#[derive(Debug, Clone, Default)]
pub struct PaperBook {
    /// Net positions (instrument → signed quantity) or balances (currency → amount).
    pub holdings: BTreeMap<String, Decimal>,
    /// The most recent fills by client order id, oldest first (at most [`FILLS_IN_MEMORY`]).
    pub recent: Vec<(String, PaperFill)>,
    /// How many orders the account has filled.
    pub orders: u64,
}

/// Where a paper broker writes its book so that it outlives the process: the local stack's
/// SQLite file (`local-store`). Called under the book's lock, before the fill is answered;
/// errors are the store's message.
pub trait PaperLog: Send + Sync {
    /// A fill of `account`, and the holdings it changed (instrument or currency → amount
    /// after it), written together. `signal_time` is the time of the signal the order is a
    /// leg of (a function of the client order id, which is made from the signal's id): a log
    /// that keeps fills in key order keys them by it before the client order id, so fills
    /// are written in time order.
    fn filled(
        &self,
        account: &str,
        client_order_id: &str,
        signal_time: DateTime<Utc>,
        fill: &PaperFill,
        holdings: &[(String, Decimal)],
        orders: u64,
    ) -> Result<(), String>;

    /// A fill memory no longer holds, by client order id and its signal's time (as given to
    /// [`filled`](Self::filled)); `None` when there is none.
    fn fill(
        &self,
        account: &str,
        client_order_id: &str,
        signal_time: DateTime<Utc>,
    ) -> Result<Option<PaperFill>, String>;
}

/// Fills by client order id: a lookup finds them instead of trading again. With a log, only
/// the most recent [`FILLS_IN_MEMORY`] stay here.
#[derive(Default)]
struct Fills {
    by_id: std::collections::HashMap<String, PaperFill>,
    order: std::collections::VecDeque<String>,
    log: Option<Arc<dyn PaperLog>>,
}

impl std::fmt::Debug for Fills {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fills")
            .field("in_memory", &self.by_id.len())
            .field("durable", &self.log.is_some())
            .finish()
    }
}

impl Fills {
    fn restore(log: Arc<dyn PaperLog>, recent: Vec<(String, PaperFill)>) -> Self {
        let mut f = Self {
            log: Some(log),
            ..Self::default()
        };
        for (id, fill) in recent {
            f.keep(id, fill);
        }
        f
    }

    /// Writes the fill and the holdings it changed to the log, if any: before memory changes,
    /// so a failed write leaves the book as it was.
    fn write(
        &self,
        (account, id, at): (&str, &str, DateTime<Utc>),
        fill: &PaperFill,
        holdings: &[(String, Decimal)],
        orders: u64,
    ) -> Result<(), SendError> {
        match &self.log {
            None => Ok(()),
            Some(log) => log
                .filled(account, id, at, fill, holdings, orders)
                // Nothing changed: the leg may be sent again.
                .map_err(|e| SendError::NotExecuted {
                    reason: format!("paper book not written, nothing filled: {e}"),
                    retry_after: None,
                }),
        }
    }

    fn keep(&mut self, id: String, fill: PaperFill) {
        if self.by_id.insert(id.clone(), fill).is_none() {
            self.order.push_back(id);
        }
        while self.log.is_some() && self.order.len() > FILLS_IN_MEMORY {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
    }

    fn get(&self, account: &str, id: &str, at: DateTime<Utc>) -> Result<Option<PaperFill>, String> {
        if let Some(f) = self.by_id.get(id) {
            return Ok(Some(f.clone()));
        }
        match &self.log {
            None => Ok(None),
            Some(log) => log.fill(account, id, at),
        }
    }
}

#[derive(Debug, Default)]
struct Ledger {
    positions: BTreeMap<String, Decimal>,
    orders: u64,
    filled: Fills,
    /// Each instrument's latest price: its latest alert's close, or fill. A roll's close of the
    /// earlier contract fills at it (a paper account has no other price of that contract, and
    /// the roll's alert prices the new one: the calendar spread would show as a gain or loss).
    last_prices: BTreeMap<String, Decimal>,
}

/// A paper margin account (OANDA, Tradovate): one signed net position per instrument, every
/// order filled at once at the alert's close. Fills are kept by client order id, so a lookup
/// or a takeover finds them instead of trading again.
pub struct PaperNetting {
    broker: Broker,
    account: String,
    book: Mutex<Ledger>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for PaperNetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaperNetting")
            .field("broker", &self.broker)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl PaperNetting {
    /// An empty paper account `account` at `broker`, on the system clock.
    pub fn new(broker: Broker, account: impl Into<String>) -> Self {
        Self::with_clock(broker, account, Arc::new(SystemClock))
    }

    /// With the clock the staleness budget is read from (the simulation's).
    pub fn with_clock(broker: Broker, account: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        Self {
            broker,
            account: account.into(),
            book: Mutex::new(Ledger::default()),
            clock,
        }
    }

    /// A paper account whose every fill is written to `log` first, started from the book
    /// the log kept.
    pub fn restore(
        broker: Broker,
        account: impl Into<String>,
        clock: Arc<dyn Clock>,
        log: Arc<dyn PaperLog>,
        book: PaperBook,
    ) -> Self {
        let me = Self::with_clock(broker, account, clock);
        let last_prices = book
            .recent
            .iter()
            .filter_map(|(_, f)| Some((f.instrument.clone()?, f.price)))
            .collect();
        *me.lock() = Ledger {
            positions: book.holdings,
            orders: book.orders,
            filled: Fills::restore(log, book.recent),
            last_prices,
        };
        me
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes `price` as `instrument`'s latest, as each alert's execution does: a stack started
    /// again gives the closes its journal holds, oldest first, so a roll's close of a contract
    /// fills at its latest alert close, not at an older fill the book kept.
    pub fn note_price(&self, instrument: &str, price: Decimal) {
        self.lock().last_prices.insert(instrument.to_owned(), price);
    }

    /// The net position per instrument name (> 0 long, < 0 short); an instrument closed to
    /// flat stays listed at zero.
    pub fn positions(&self) -> BTreeMap<String, Decimal> {
        self.lock().positions.clone()
    }

    /// How many orders filled so far; a close that found nothing to close is not one.
    pub fn orders(&self) -> u64 {
        self.lock().orders
    }
}

impl Conversation for PaperNetting {
    type Mark = ();

    /// The book moves with the fill, in the same call.
    fn fills_show_at_once(&self) -> bool {
        true
    }

    fn broker(&self) -> Broker {
        self.broker
    }

    fn account(&self) -> &str {
        &self.account
    }

    fn book(&self) -> Book {
        Book::Margin
    }

    /// A paper futures account values a contract at its point value, as the real one does,
    /// so the notional cap refuses on paper what it would refuse live.
    fn multiplier(&self, req: &ExecRequest<'_>) -> Decimal {
        match self.broker {
            Broker::Tradovate => {
                shared::contract_specs::capped_point_value(req.intent.instrument.as_str())
            }
            _ => Decimal::ONE,
        }
    }

    /// As the real account values it ([`crate::risk::notional_price`]): a currency pair at
    /// OANDA in base units, so the cap refuses on paper what it would refuse live.
    fn notional_price(&self, req: &ExecRequest<'_>) -> Decimal {
        crate::risk::notional_price(
            self.broker,
            req.intent.instrument.as_str(),
            req.intent.reference_price,
        )
    }

    fn settle_time(&self) -> Duration {
        SETTLE
    }

    async fn holdings(&self, req: &ExecRequest<'_>) -> Result<(Holdings, ()), ReadError> {
        let net = self
            .lock()
            .positions
            .get(req.intent.instrument.as_str())
            .copied()
            .unwrap_or_default();
        Ok((Holdings::net(net), ()))
    }

    async fn rules(&self, _: &ExecRequest<'_>) -> Result<TradingRules, ReadError> {
        Ok(PAPER_NETTING_RULES)
    }

    /// Futures contracts of the same root (`ESZ6` and `ESH7`: the name less its month code
    /// and year digit) held besides the signal's own.
    async fn earlier_contracts(
        &self,
        req: &ExecRequest<'_>,
    ) -> Result<Vec<(String, Holdings)>, ReadError> {
        let name = req.intent.instrument.as_str();
        fn root(n: &str) -> Option<&str> {
            n.get(..n.len().saturating_sub(2))
        }
        Ok(self
            .lock()
            .positions
            .iter()
            .filter(|(n, net)| {
                n.as_str() != name
                    && !net.is_zero()
                    && root(n) == root(name)
                    && n.len() == name.len()
            })
            .map(|(n, net)| (n.clone(), Holdings::net(*net)))
            .collect())
    }

    async fn send(
        &self,
        req: &ExecRequest<'_>,
        leg: &PlannedLeg,
        report: &LegReport,
    ) -> Result<Ack, SendError> {
        let mut book = self.lock();
        let name = req.intent.instrument.to_string();
        let net = book.positions.get(&name).copied().unwrap_or_default();
        let (quantity, after) = match (leg.action, leg.side) {
            (LegAction::Close(_), _) => (net.abs(), Decimal::ZERO),
            (LegAction::Open, Side::Buy) => (leg.quantity, net + leg.quantity),
            (LegAction::Open, Side::Sell) => (leg.quantity, net - leg.quantity),
        };
        if quantity.is_zero() {
            return Ok(Ack::NothingToClose);
        }
        let orders = book.orders + 1;
        // A roll's close trades the earlier contract, which the alert gives no price of: that
        // contract's latest price stands in (its latest alert or fill; none known: the
        // alert's close, as before).
        let price = match leg.leg {
            shared::execution::Leg::CloseRolled => book
                .last_prices
                .get(&name)
                .copied()
                .unwrap_or(req.intent.reference_price),
            _ => req.intent.reference_price,
        };
        let fill = PaperFill {
            order_id: format!("paper-{orders}"),
            quantity,
            price,
            side: Some(if after > net { Side::Buy } else { Side::Sell }),
            instrument: Some(name.clone()),
        };
        let id = report.client_order_id.to_string();
        book.filled.write(
            (&self.account, &id, req.intent.signal_time),
            &fill,
            &[(name.clone(), after)],
            orders,
        )?;
        book.orders = orders;
        book.last_prices.insert(name.clone(), price);
        book.positions.insert(name, after);
        let ack = fill.ack();
        book.filled.keep(id, fill);
        Ok(ack)
    }

    async fn lookup(
        &self,
        req: &ExecRequest<'_>,
        _: &PlannedLeg,
        report: &LegReport,
        _: &(),
    ) -> Found {
        found_in(&self.lock().filled, &self.account, req, report)
    }

    async fn recover(&self, req: &ExecRequest<'_>) -> Result<Vec<LegReport>, ReadError> {
        recover_from(&self.lock().filled, &self.account, req)
    }
}

/// A paper order by its client order id: paper fills are booked at once, so the record is
/// complete.
fn found_in(filled: &Fills, account: &str, req: &ExecRequest<'_>, report: &LegReport) -> Found {
    match filled.get(
        account,
        report.client_order_id.as_str(),
        req.intent.signal_time,
    ) {
        Ok(Some(fill)) => Found::Order(fill.ack()),
        Ok(None) => Found::NotCreated,
        Err(e) => Found::Inconclusive(e),
    }
}

/// The legs an earlier attempt filled, from the paper book's record by client order id.
///
/// Errors: [`ReadError::Unavailable`] when the log cannot read a fill back.
fn recover_from(
    filled: &Fills,
    account: &str,
    req: &ExecRequest<'_>,
) -> Result<Vec<LegReport>, ReadError> {
    use shared::execution::Leg;
    [Leg::CloseRolled, Leg::Close, Leg::CloseHedge, Leg::Open]
        .into_iter()
        .filter_map(|leg| {
            let coid = req.client_order_id(leg);
            let fill = match filled.get(account, coid.as_str(), req.intent.signal_time) {
                Ok(Some(fill)) => fill,
                Ok(None) => return None,
                Err(e) => return Some(Err(ReadError::Unavailable(e))),
            };
            // The close of the root's earlier contract is journaled under that contract; a
            // fill kept before instruments were recorded does not say which, and is left out
            // rather than journaled under the signal's own contract.
            let instrument = match leg {
                Leg::CloseRolled => Some(fill.instrument.clone()?),
                _ => None,
            };
            // A fill kept before sides were recorded: its side as the target implies (a
            // close to flat read as a sell).
            let side = fill.side.unwrap_or(match (leg, req.intent.target) {
                (_, shared::alert::TargetPosition::Long) => Side::Buy,
                _ => Side::Sell,
            });
            let mut r = LegReport::new(req, leg, side, fill.quantity);
            r.broker_order_id = Some(fill.order_id.as_str().into());
            r.fill_price = Some(fill.price);
            // As when it filled: a paper broker charges nothing.
            r.fee = Some(Decimal::ZERO);
            r.outcome = shared::outcome::Outcome::Filled;
            r.instrument = instrument;
            Some(Ok(r))
        })
        .collect()
}

impl Venue for PaperNetting {
    fn broker(&self) -> Broker {
        self.broker
    }

    fn account(&self) -> &str {
        &self.account
    }

    async fn execute(&self, req: &ExecRequest<'_>) -> Result<Execution, NothingSent> {
        // Every alert prices its instrument, whether or not it trades (an entry already
        // held, an exit with nothing to close): the price a roll's close of this contract
        // fills at later, where its last fill could be far behind the market.
        self.lock().last_prices.insert(
            req.intent.instrument.to_string(),
            req.intent.reference_price,
        );
        drive::execute(self, &*self.clock, req).await
    }
}

/// A spot wallet: balances per currency; products are `BASE-QUOTE`.
pub struct PaperSpot {
    account: String,
    /// Holding less base than this counts as holding nothing (dust).
    dust: Decimal,
    /// Base amounts are rounded down to this many decimals.
    base_scale: u32,
    wallet: Mutex<Wallet>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for PaperSpot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaperSpot")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// Balances, orders made, and fills by client order id.
#[derive(Debug, Default)]
struct Wallet {
    balances: BTreeMap<String, Decimal>,
    orders: u64,
    filled: Fills,
}

impl PaperSpot {
    /// A paper Coinbase wallet `account` holding `balances` (currency code → amount), on the
    /// system clock.
    pub fn new(
        account: impl Into<String>,
        balances: impl IntoIterator<Item = (String, Decimal)>,
    ) -> Self {
        Self::with_clock(account, balances, Arc::new(SystemClock))
    }

    /// As [`Self::new`], with the clock the staleness budget is read from (the simulation's).
    pub fn with_clock(
        account: impl Into<String>,
        balances: impl IntoIterator<Item = (String, Decimal)>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            account: account.into(),
            dust: Decimal::new(1, 5),
            base_scale: 8,
            wallet: Mutex::new(Wallet {
                balances: balances.into_iter().collect(),
                ..Default::default()
            }),
            clock,
        }
    }

    /// A paper wallet whose every fill is written to `log` first, started from the book the
    /// log kept (its `holdings` are the balances).
    pub fn restore(
        account: impl Into<String>,
        clock: Arc<dyn Clock>,
        log: Arc<dyn PaperLog>,
        book: PaperBook,
    ) -> Self {
        let me = Self::with_clock(account, [], clock);
        *me.lock() = Wallet {
            balances: book.holdings,
            orders: book.orders,
            filled: Fills::restore(log, book.recent),
        };
        me
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Wallet> {
        self.wallet.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every currency's balance (code → amount) after the fills so far.
    pub fn balances(&self) -> BTreeMap<String, Decimal> {
        self.lock().balances.clone()
    }

    /// How many orders filled so far.
    pub fn orders(&self) -> u64 {
        self.lock().orders
    }

    fn currencies<'a>(&self, req: &'a ExecRequest<'_>) -> Result<(&'a str, &'a str), ReadError> {
        shared::routing::coinbase_currencies(req.intent.instrument.as_str()).ok_or_else(|| {
            ReadError::Refused(format!("{} is not BASE-QUOTE", req.intent.instrument))
        })
    }
}

impl Conversation for PaperSpot {
    type Mark = ();

    /// The book moves with the fill, in the same call.
    fn fills_show_at_once(&self) -> bool {
        true
    }

    fn broker(&self) -> Broker {
        Broker::Coinbase
    }

    fn account(&self) -> &str {
        &self.account
    }

    fn book(&self) -> Book {
        Book::Spot
    }

    /// A buy's size is its quote amount: its notional is the size itself.
    fn notional_price(&self, _: &ExecRequest<'_>) -> Decimal {
        Decimal::ONE
    }

    /// A buy's size is the quote amount it spends, as at Coinbase.
    fn open_size_unit(&self, req: &ExecRequest<'_>) -> Option<String> {
        self.currencies(req).ok().map(|(_, quote)| quote.to_owned())
    }

    fn settle_time(&self) -> Duration {
        SETTLE
    }

    async fn holdings(&self, req: &ExecRequest<'_>) -> Result<(Holdings, ()), ReadError> {
        let (base, _) = self.currencies(req)?;
        let held = self.lock().balances.get(base).copied().unwrap_or_default();
        // Dust counts as nothing: it cannot be sold, and does not make a position.
        let held = if held > self.dust {
            held
        } else {
            Decimal::ZERO
        };
        Ok((Holdings::net(held), ()))
    }

    /// A buy spends a quote amount: one that buys no more than the dust at the alert's close
    /// is refused before it leaves, as Coinbase refuses one under the product's
    /// `quote_min_size` (its executor checks that before the first order too).
    async fn rules(&self, req: &ExecRequest<'_>) -> Result<TradingRules, ReadError> {
        // More than the dust once rounded down to the coin's smallest amount: the dust plus
        // one of those, at the close.
        // Shown in a refusal: four significant figures, rounded up (0.9722057345 → 0.9723),
        // so a trader reads a minimum, not a computation.
        let smallest = Decimal::new(1, self.base_scale);
        Ok(TradingRules {
            min_size: (self.dust + smallest)
                .checked_mul(req.intent.reference_price)
                .and_then(|m| {
                    m.round_sf_with_strategy(4, rust_decimal::RoundingStrategy::AwayFromZero)
                })
                .map_or(Decimal::MAX, |m| m.normalize()),
            ..PAPER_RULES
        })
    }

    async fn send(
        &self,
        req: &ExecRequest<'_>,
        leg: &PlannedLeg,
        report: &LegReport,
    ) -> Result<Ack, SendError> {
        let (base, quote) = self.currencies(req).map_err(|_| SendError::Rejected {
            order_id: None,
            reason: "not BASE-QUOTE".into(),
        })?;
        let price = req.intent.reference_price;
        let mut w = self.lock();
        let held = w.balances.get(base).copied().unwrap_or_default();
        let cash = w.balances.get(quote).copied().unwrap_or_default();
        let round =
            |d: Decimal| d.round_dp_with_strategy(self.base_scale, RoundingStrategy::ToZero);
        let (base_qty, b, q) = match leg.side {
            Side::Buy => {
                if cash < leg.quantity {
                    return Err(SendError::Rejected {
                        order_id: None,
                        reason: format!("insufficient {quote}: {cash} < {}", leg.quantity),
                    });
                }
                // A price of zero or less never reaches here from ingest (it refuses one); a
                // hand-edited replay could carry one: refused, not a division that panics.
                let Some(qty) = leg
                    .quantity
                    .checked_div(price)
                    .filter(|_| price > Decimal::ZERO)
                    .map(round)
                else {
                    return Err(SendError::Rejected {
                        order_id: None,
                        reason: format!("the alert's close {price} {quote} prices nothing"),
                    });
                };
                if qty.is_zero() {
                    // Coinbase refuses an order under the product's minimum; a paper fill of
                    // nothing would be journaled as a position that does not exist.
                    return Err(SendError::Rejected {
                        order_id: None,
                        reason: format!(
                            "{} {quote} at {price} buys less than the smallest amount of {base} \
                             (1e-{}): nothing bought",
                            leg.quantity, self.base_scale
                        ),
                    });
                }
                if held + qty <= self.dust {
                    // A holding this small reads as nothing: no exit could ever sell it, while
                    // the journal, positions and report would show it open.
                    return Err(SendError::Rejected {
                        order_id: None,
                        reason: format!(
                            "{} {quote} at {price} buys {qty} {base}, no more than the {} the \
                             paper wallet counts as dust (it could never be sold): nothing \
                             bought; size the entry larger",
                            leg.quantity,
                            self.dust.normalize()
                        ),
                    });
                }
                (qty, held + qty, cash - qty * price)
            }
            Side::Sell => {
                let qty = round(held);
                // Nothing left to sell (another product of the same base currency sold it
                // since the holdings were read): nothing to close, as at the netting paper
                // brokers, not a fill of nothing the journal would show as a sale.
                if qty.is_zero() {
                    return Ok(Ack::NothingToClose);
                }
                (qty, held - qty, cash + qty * price)
            }
        };
        let orders = w.orders + 1;
        let fill = PaperFill {
            order_id: format!("paper-{orders}"),
            quantity: base_qty,
            price,
            side: Some(leg.side),
            instrument: Some(req.intent.instrument.to_string()),
        };
        let id = report.client_order_id.to_string();
        let changed = [(base.to_owned(), b), (quote.to_owned(), q)];
        w.filled.write(
            (&self.account, &id, req.intent.signal_time),
            &fill,
            &changed,
            orders,
        )?;
        for (ccy, amount) in changed {
            w.balances.insert(ccy, amount);
        }
        w.orders = orders;
        let ack = fill.ack();
        w.filled.keep(id, fill);
        Ok(ack)
    }

    async fn lookup(
        &self,
        req: &ExecRequest<'_>,
        _: &PlannedLeg,
        report: &LegReport,
        _: &(),
    ) -> Found {
        found_in(&self.lock().filled, &self.account, req, report)
    }

    async fn recover(&self, req: &ExecRequest<'_>) -> Result<Vec<LegReport>, ReadError> {
        recover_from(&self.lock().filled, &self.account, req)
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
        drive::execute(self, &*self.clock, req).await
    }
}

/// For tests: a log that keeps nothing, for a book started from a [`PaperBook`] as a restart
/// finds it.
#[cfg(test)]
pub(crate) struct NoLog;

#[cfg(test)]
impl PaperLog for NoLog {
    fn filled(
        &self,
        _: &str,
        _: &str,
        _: DateTime<Utc>,
        _: &PaperFill,
        _: &[(String, Decimal)],
        _: u64,
    ) -> Result<(), String> {
        Ok(())
    }

    fn fill(&self, _: &str, _: &str, _: DateTime<Utc>) -> Result<Option<PaperFill>, String> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::Size;
    use shared::execution::Leg;
    use shared::message::OrderIntent;
    use shared::outcome::Outcome;
    use shared::routing::{ContractResolution, Instrument, RollPolicy};

    fn es1(action: shared::Action, contract: &str, n: u32) -> OrderIntent {
        let t: chrono::DateTime<chrono::Utc> = "2026-12-14T15:00:00Z".parse().unwrap_or_default();
        OrderIntent {
            version: shared::message::INTENT_VERSION,
            signal_id: shared::SignalId::of_canonical(&format!("{action}-{n}")),
            broker: Broker::Tradovate,
            instrument: Instrument::new(contract),
            action,
            target: action.target(),
            symbol: "ES1!".into(),
            exchange: "CME_MINI".into(),
            reference_price: Decimal::from(6000),
            quantity_override: None,
            signal_time: t,
            received_at: t,
            enqueued_at: t,
            routed_at: t,
            contract: Some(ContractResolution {
                requested: "ES1!".into(),
                contract: contract.into(),
                rule: "test".into(),
                on_roll: RollPolicy::Close,
            }),
            raw: "{}".into(),
            replay_forced: false,
        }
    }

    /// One contract of `i`, with all the time in the world; a takeover is past its deadline:
    /// it reports what an earlier attempt did and sends nothing.
    fn one_contract(i: &OrderIntent, takeover: bool) -> ExecRequest<'_> {
        ExecRequest {
            intent: i,
            size: Size::Quantity(Decimal::ONE),
            deadline: i.signal_time + chrono::Duration::days(365 * 100),
            max_notional: Decimal::from(1_000_000),
            max_position: None,
            takeover,
            may_send: !takeover,
            refused: None,
            gate: None,
            journaled: &[],
        }
    }

    /// A takeover whose earlier attempt journaled its open filled, where the broker's lookups
    /// and the position do not show that fill yet (here a paper book that never saw it, as a
    /// lagging broker would answer), sends no second open: the leg would double the position
    /// under the same client order id. It ends unknown, naming the journaled fill. Without
    /// the journaled row the same takeover opens, as nothing says an order left.
    #[tokio::test]
    async fn a_takeover_never_sends_an_open_the_journal_shows_filled() {
        let paper = PaperNetting::new(Broker::Tradovate, "paper");
        let i = es1(shared::Action::LongEntry, "ESZ6", 1);
        let row = shared::execution::OrderRecord {
            signal_id: i.signal_id.clone(),
            broker: Broker::Tradovate,
            account: "paper".into(),
            instrument: "ESZ6".into(),
            leg: Leg::Open,
            attempt: 1,
            client_order_id: shared::execution::ClientOrderId::new(&i.signal_id, Leg::Open),
            broker_order_id: Some("7001".into()),
            side: shared::execution::Side::Buy,
            quantity: Decimal::ONE,
            fill_price: Some(Decimal::from(6000)),
            outcome: Outcome::Filled,
            error: None,
            sent_at: None,
            acked_at: None,
            fee: None,
        };
        let rows = [row];
        let takeover = ExecRequest {
            takeover: true,
            may_send: true,
            journaled: &rows,
            ..one_contract(&i, true)
        };
        let done = paper.execute(&takeover).await.unwrap();
        assert_eq!(done.outcome, Outcome::Unknown, "{done:?}");
        assert_eq!(paper.orders(), 0, "no second open");
        assert!(
            done.reason.as_deref().is_some_and(
                |r| r.contains("journaled the open leg filled (1 at 6000, broker order 7001)")
            ),
            "{done:?}"
        );
        // Another account's row is not this account's fill.
        let elsewhere = [shared::execution::OrderRecord {
            account: "other".into(),
            ..rows[0].clone()
        }];
        let done = paper
            .execute(&ExecRequest {
                journaled: &elsewhere,
                ..takeover.clone()
            })
            .await
            .unwrap();
        assert_eq!(done.outcome, Outcome::Filled, "{done:?}");
        assert_eq!(paper.orders(), 1);
    }

    /// A buy too small for one unit of the coin's smallest amount is refused before it
    /// leaves, not filled with nothing (which the journal kept as an open position the wallet
    /// never held) nor sent and rejected.
    #[tokio::test]
    async fn a_paper_buy_of_less_than_the_smallest_amount_is_refused() {
        let paper = PaperSpot::new("paper", [("USD".to_owned(), Decimal::from(1000))]);
        let mut i = es1(shared::Action::LongEntry, "ETH-USD", 1);
        i.broker = Broker::Coinbase;
        i.contract = None;
        i.symbol = "ETHUSD".into();
        i.reference_price = Decimal::from(3000);
        let req = ExecRequest {
            size: Size::Quantity(Decimal::new(1, 5)),
            ..one_contract(&i, false)
        };
        let done = paper.execute(&req).await.unwrap();
        assert_eq!(done.outcome, Outcome::Refused, "{done:?}");
        assert!(done.legs.is_empty(), "nothing sent: {done:?}");
        assert!(
            done.reason
                .as_deref()
                .is_some_and(|e| e.contains(
                    "under the instrument's minimum 0.03003 (sizes in USD: a buy's size is what it spends); nothing was sent"
                )),
            "{done:?}"
        );
        // At a close with more digits the minimum is shown to four figures, rounded up
        // (0.00001001 × 3456.789 = 0.0346024…).
        i.reference_price = Decimal::new(3_456_789, 3);
        let req = ExecRequest {
            size: Size::Quantity(Decimal::new(1, 5)),
            ..one_contract(&i, false)
        };
        let done = paper.execute(&req).await.unwrap();
        assert!(
            done.reason
                .as_deref()
                .is_some_and(|e| e.contains("under the instrument's minimum 0.03461 (")),
            "{done:?}"
        );
        assert_eq!(paper.balances().get("USD"), Some(&Decimal::from(1000)));
        assert_eq!(
            paper.balances().get("ETH").copied().unwrap_or_default(),
            Decimal::ZERO
        );
    }

    /// A buy that would leave a holding the wallet counts as dust is refused before it
    /// leaves (no order, nothing rejected): no exit could sell it, while the journal and
    /// positions showed it open.
    #[tokio::test]
    async fn a_paper_buy_of_dust_is_refused() {
        let paper = PaperSpot::new("paper", [("USD".to_owned(), Decimal::from(1000))]);
        let mut i = es1(shared::Action::LongEntry, "BTC-USD", 1);
        i.broker = Broker::Coinbase;
        i.contract = None;
        i.symbol = "BTCUSD".into();
        i.reference_price = Decimal::from(97_250);
        // 0.5 USD buys 0.00000514 BTC, under the 0.00001 of dust.
        let req = ExecRequest {
            size: Size::Quantity(Decimal::new(5, 1)),
            ..one_contract(&i, false)
        };
        let done = paper.execute(&req).await.unwrap();
        assert_eq!(done.outcome, Outcome::Refused, "{done:?}");
        assert!(done.legs.is_empty(), "nothing sent: {done:?}");
        let why = done.reason.clone().unwrap_or_default();
        // The minimum, 0.00001001 BTC at 97,250 = 0.9734725 USD, shown to four figures up.
        assert!(
            why.contains("0.5") && why.contains("minimum 0.9735 ("),
            "{why}"
        );
        // Exactly the dust's worth buys no more than the dust: refused before it leaves too.
        let req = ExecRequest {
            size: Size::Quantity(Decimal::new(9725, 4)),
            ..one_contract(&i, false)
        };
        let done = paper.execute(&req).await.unwrap();
        assert_eq!(done.outcome, Outcome::Refused, "{done:?}");
        assert!(done.legs.is_empty(), "nothing sent: {done:?}");
        assert_eq!(paper.balances().get("USD"), Some(&Decimal::from(1000)));
        // 5 USD buys 0.00005141 BTC: a position an exit can sell.
        let req = ExecRequest {
            size: Size::Quantity(Decimal::from(5)),
            ..one_contract(&i, false)
        };
        assert_eq!(paper.execute(&req).await.unwrap().outcome, Outcome::Filled);
    }

    #[tokio::test]
    async fn paper_futures_close_the_earlier_contract_when_the_symbol_rolls() {
        let paper = PaperNetting::new(Broker::Tradovate, "paper");
        let run = |i: OrderIntent| {
            let paper = &paper;
            async move { paper.execute(&one_contract(&i, false)).await }
        };
        let long = run(es1(shared::Action::LongEntry, "ESZ6", 1)).await;
        assert_eq!(long.map(|e| e.outcome), Ok(Outcome::Filled));
        // Another long entry, already held, at 6,050: nothing trades, but ESZ6 is at 6,050.
        let mut held = es1(shared::Action::LongEntry, "ESZ6", 3);
        held.reference_price = Decimal::from(6050);
        assert_eq!(run(held).await.map(|e| e.outcome), Ok(Outcome::NoOp));
        // A later close noted from the journal (a stack started again): 6,100.
        paper.note_price("ESZ6", Decimal::from(6100));
        // After the roll the alert's close is the new contract's (6,140 against 6,100).
        let mut after_roll = es1(shared::Action::ShortEntry, "ESH7", 2);
        after_roll.reference_price = Decimal::from(6140);
        let short = run(after_roll).await;
        let legs: Vec<_> = short
            .map(|e| {
                e.legs
                    .iter()
                    .map(|l| (l.leg, l.instrument.clone(), l.fill_price))
                    .collect()
            })
            .unwrap_or_default();
        // ESZ6 is closed at its own latest price, its last alert's (no gain or loss is made
        // up from the calendar spread), ESH7 opened at the alert's close.
        assert_eq!(
            legs,
            vec![
                (
                    Leg::CloseRolled,
                    Some("ESZ6".to_owned()),
                    Some(Decimal::from(6100))
                ),
                (Leg::Open, None, Some(Decimal::from(6140)))
            ]
        );
        let positions = paper.positions();
        assert_eq!(
            (
                positions.get("ESZ6").copied(),
                positions.get("ESH7").copied()
            ),
            (Some(Decimal::ZERO), Some(Decimal::from(-1)))
        );
    }

    /// An exit of the side the contract rolled away from does not hold (a short exit while
    /// ESZ6 is long) sends nothing and says why, naming the earlier contract left open (it
    /// was a `no_op` with no reason).
    #[tokio::test]
    async fn an_exit_across_a_roll_that_closes_nothing_names_the_earlier_contract() {
        let paper = PaperNetting::new(Broker::Tradovate, "paper");
        let run = |i: OrderIntent| {
            let paper = &paper;
            async move { paper.execute(&one_contract(&i, false)).await }
        };
        let long = run(es1(shared::Action::LongEntry, "ESZ6", 1)).await;
        assert_eq!(long.map(|e| e.outcome), Ok(Outcome::Filled));
        let exit = run(es1(shared::Action::ShortExit, "ESH7", 2))
            .await
            .unwrap();
        assert_eq!(exit.outcome, Outcome::NoOp, "{exit:?}");
        assert!(exit.legs.is_empty(), "{exit:?}");
        let why = exit.reason.unwrap_or_default();
        assert!(
            why.contains("already at the target, no short position")
                && why.contains("ES1! rolled to ESH7, and ESZ6 (net 1) is left as held"),
            "{why}"
        );
        assert_eq!(paper.positions().get("ESZ6").copied(), Some(Decimal::ONE));
    }

    /// An [`OrderGate`] that counts how often it was asked and answers `later` (a reason to
    /// supersede) or passes.
    #[derive(Default)]
    struct Counting {
        asked: std::sync::atomic::AtomicU32,
        later: Option<&'static str>,
    }

    impl Counting {
        fn asked(&self) -> u32 {
            self.asked.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    impl crate::venue::OrderGate for Counting {
        fn pass(
            &self,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Option<String>, String>> + Send + '_>,
        > {
            self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let verdict = self.later.map(str::to_owned);
            Box::pin(async move { Ok(verdict) })
        }
    }

    /// An order check whose own write takes the clock past `by` (a slow conditional put),
    /// then passes.
    struct Slow {
        clock: shared::clock::ManualClock,
        by: chrono::Duration,
    }

    impl crate::venue::OrderGate for Slow {
        fn pass(
            &self,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Option<String>, String>> + Send + '_>,
        > {
            self.clock.advance(self.by);
            Box::pin(async { Ok(None) })
        }
    }

    /// A signal whose order check passes only after the staleness budget ran out (its store
    /// slow): not sent, `expired`, naming the check. It was sent, stale, once the check passed.
    /// Also for a roll's close of the earlier contract, the first order there.
    #[tokio::test]
    async fn an_order_check_that_outlasts_the_budget_sends_nothing() {
        for (held, want_first) in [(None, "open"), (Some("ESZ6"), "closing ESZ6")] {
            let clock = shared::clock::ManualClock::new(shared::clock::test_epoch());
            let paper = PaperNetting::with_clock(
                Broker::Tradovate,
                "paper",
                std::sync::Arc::new(clock.clone()),
            );
            let contract = if held.is_some() { "ESH7" } else { "ESZ6" };
            if let Some(old) = held {
                let entry = es1(shared::Action::LongEntry, old, 9);
                let done = paper.execute(&one_contract(&entry, false)).await.unwrap();
                assert_eq!(done.outcome, Outcome::Filled);
            }
            let mut long = es1(shared::Action::ShortEntry, contract, 1);
            long.signal_time = clock.now();
            let gate = Slow {
                clock: clock.clone(),
                by: chrono::Duration::seconds(31),
            };
            let req = ExecRequest {
                gate: Some(&gate),
                deadline: clock.now() + chrono::Duration::seconds(30),
                ..one_contract(&long, false)
            };
            let done = paper.execute(&req).await.unwrap();
            assert_eq!(done.outcome, Outcome::Expired, "{held:?}: {done:?}");
            let reason = done.reason.unwrap_or_default();
            assert!(
                reason.contains("during the order check") && reason.contains(want_first),
                "{reason}"
            );
            assert!(
                done.legs.iter().all(|l| l.outcome != Outcome::Filled),
                "{:?}",
                done.legs
            );
        }
    }

    /// A reversal (or a roll's close with an open after it) whose order check leaves less
    /// time than the close needs before its open: expired, nothing sent, the old side still
    /// held. The close went out and filled, and the open expired after it: the account at
    /// neither side.
    #[tokio::test]
    async fn an_order_check_that_leaves_too_little_for_the_open_sends_no_close() {
        for (held, contract) in [("ESZ6", "ESZ6"), ("ESZ6", "ESH7")] {
            let clock = shared::clock::ManualClock::new(shared::clock::test_epoch());
            let paper = PaperNetting::with_clock(
                Broker::Tradovate,
                "paper",
                std::sync::Arc::new(clock.clone()),
            );
            let entry = es1(shared::Action::LongEntry, held, 9);
            let done = paper.execute(&one_contract(&entry, false)).await.unwrap();
            assert_eq!(done.outcome, Outcome::Filled);
            let mut short = es1(shared::Action::ShortEntry, contract, 1);
            short.signal_time = clock.now();
            // 100 ms left after the check: less than a poll (250 ms) on top of the settle time.
            let gate = Slow {
                clock: clock.clone(),
                by: chrono::Duration::milliseconds(29_900),
            };
            let req = ExecRequest {
                gate: Some(&gate),
                deadline: clock.now() + chrono::Duration::seconds(30),
                ..one_contract(&short, false)
            };
            let done = paper.execute(&req).await.unwrap();
            assert_eq!(done.outcome, Outcome::Expired, "{contract}: {done:?}");
            assert!(done.legs.is_empty(), "{contract}: {:?}", done.legs);
            let reason = done.reason.unwrap_or_default();
            assert!(
                reason.contains("the order check left") && reason.contains("nothing was sent"),
                "{reason}"
            );
            assert_eq!(
                paper.positions().get(held).copied(),
                Some(Decimal::ONE),
                "{contract}: the long is still held"
            );
        }
    }

    /// The order check is asked once, just before the first order (here the roll's close of
    /// the earlier contract), never when the signal ends before one: expired, or found
    /// superseded there, in which case nothing is sent.
    #[tokio::test]
    async fn the_order_check_is_asked_once_just_before_the_first_order() {
        let paper = PaperNetting::new(Broker::Tradovate, "paper");
        let long = es1(shared::Action::LongEntry, "ESZ6", 1);
        let gate = Counting::default();
        let req = ExecRequest {
            gate: Some(&gate),
            ..one_contract(&long, false)
        };
        // Past the staleness budget before the entry's open: expired, not asked.
        let expired = ExecRequest {
            deadline: chrono::DateTime::<chrono::Utc>::MIN_UTC,
            ..req.clone()
        };
        let done = paper.execute(&expired).await.unwrap();
        assert_eq!(
            (done.outcome, gate.asked()),
            (Outcome::Expired, 0),
            "{done:?}"
        );
        assert_eq!(
            paper.execute(&req).await.map(|e| e.outcome),
            Ok(Outcome::Filled)
        );
        assert_eq!(gate.asked(), 1);
        // Held already: a no-op, asked (it is taken).
        assert_eq!(
            paper.execute(&req).await.map(|e| e.outcome),
            Ok(Outcome::NoOp)
        );
        assert_eq!(gate.asked(), 2);

        // After the roll: the close of ESZ6 would be first. Past the staleness budget: expired,
        // not asked.
        let short = es1(shared::Action::ShortEntry, "ESH7", 2);
        let expired = ExecRequest {
            deadline: chrono::DateTime::<chrono::Utc>::MIN_UTC,
            gate: Some(&gate),
            ..one_contract(&short, false)
        };
        let done = paper.execute(&expired).await.unwrap();
        assert_eq!(done.outcome, Outcome::Expired, "{done:?}");
        assert_eq!(gate.asked(), 2);
        // Superseded at the check: nothing sent.
        let later = Counting {
            later: Some("a later signal has already executed"),
            ..Counting::default()
        };
        let superseded = ExecRequest {
            gate: Some(&later),
            ..one_contract(&short, false)
        };
        let done = paper.execute(&superseded).await.unwrap();
        assert_eq!(
            (done.outcome, done.legs.len(), later.asked()),
            (Outcome::Superseded, 0, 1),
            "{done:?}"
        );
        assert_eq!(paper.orders(), 1, "only the first entry");
        // Passed: ESZ6 closed, ESH7 short (two orders), the check asked once.
        let passed = Counting::default();
        let done = paper
            .execute(&ExecRequest {
                gate: Some(&passed),
                ..one_contract(&short, false)
            })
            .await
            .unwrap();
        assert_eq!(
            (done.outcome, passed.asked()),
            (Outcome::Filled, 1),
            "{done:?}"
        );
        assert_eq!(paper.orders(), 3);
    }

    /// An entry the risk settings refused (`ExecRequest::refused`) is a no-op when the account
    /// holds its target already and nothing else would be sent, and refused, nothing sent,
    /// when an order would be needed: a reversal, or after a roll the earlier contract still
    /// held (its close).
    #[tokio::test]
    async fn a_refused_entry_is_a_no_op_only_when_nothing_would_be_sent() {
        let paper = PaperNetting::new(Broker::Tradovate, "paper");
        let refused = |i| ExecRequest {
            refused: Some("over the maximum position".into()),
            ..one_contract(i, false)
        };
        let z6 = es1(shared::Action::LongEntry, "ESZ6", 1);
        assert_eq!(
            paper
                .execute(&one_contract(&z6, false))
                .await
                .map(|e| e.outcome),
            Ok(Outcome::Filled)
        );
        // Held: a no-op that says what the settings would have refused.
        let gate = Counting::default();
        let held = ExecRequest {
            gate: Some(&gate),
            ..refused(&z6)
        };
        let done = paper.execute(&held).await.unwrap();
        assert_eq!((done.outcome, gate.asked()), (Outcome::NoOp, 1), "{done:?}");
        assert!(
            done.reason
                .as_deref()
                .unwrap_or_default()
                .contains("maximum position"),
            "{done:?}"
        );
        // A reversal: refused, nothing sent, not asked.
        let short = es1(shared::Action::ShortEntry, "ESZ6", 2);
        let done = paper
            .execute(&ExecRequest {
                gate: Some(&gate),
                ..refused(&short)
            })
            .await
            .unwrap();
        assert_eq!(
            (done.outcome, gate.asked()),
            (Outcome::Refused, 1),
            "{done:?}"
        );
        // After the roll, long ESH7 bought as an explicit contract: an ES1! long finds its
        // target held, but ESZ6 would be closed: refused, nothing sent.
        let mut h7 = es1(shared::Action::LongEntry, "ESH7", 3);
        h7.contract = None;
        assert_eq!(
            paper
                .execute(&one_contract(&h7, false))
                .await
                .map(|e| e.outcome),
            Ok(Outcome::Filled)
        );
        let rolled = es1(shared::Action::LongEntry, "ESH7", 4);
        let done = paper.execute(&refused(&rolled)).await.unwrap();
        assert_eq!(done.outcome, Outcome::Refused, "{done:?}");
        assert!(
            done.reason
                .as_deref()
                .unwrap_or_default()
                .contains("earlier contract"),
            "{done:?}"
        );
        assert_eq!(paper.orders(), 2, "the two longs only");
        let positions = paper.positions();
        assert_eq!(
            (
                positions.get("ESZ6").copied(),
                positions.get("ESH7").copied()
            ),
            (Some(Decimal::ONE), Some(Decimal::ONE))
        );
    }

    /// A root set to refuse on a roll, with the earlier contract held: rejected (journaled and
    /// alarmed), nothing sent, and marked as the trader's rule, so broker health records
    /// nothing: the path is not degraded by a policy. Any other rejection still counts.
    #[tokio::test]
    async fn a_roll_refused_by_policy_is_rejected_but_says_nothing_of_the_broker() {
        let paper = PaperNetting::new(Broker::Tradovate, "paper");
        let long = paper
            .execute(&one_contract(
                &es1(shared::Action::LongEntry, "ESZ6", 1),
                false,
            ))
            .await;
        assert_eq!(long.map(|e| e.outcome), Ok(Outcome::Filled));
        let mut after_roll = es1(shared::Action::ShortEntry, "ESH7", 2);
        if let Some(c) = after_roll.contract.as_mut() {
            c.on_roll = RollPolicy::Refuse;
        }
        // Refused by the policy before any order: not recorded as taken, so the executor's
        // order check is never asked.
        let gate = Counting::default();
        let done = paper
            .execute(&ExecRequest {
                gate: Some(&gate),
                ..one_contract(&after_roll, false)
            })
            .await
            .unwrap();
        assert_eq!(
            (done.outcome, done.legs.len(), done.stopped_by_policy),
            (Outcome::Rejected, 0, true),
            "{done:?}"
        );
        assert_eq!(gate.asked(), 0);
        // It names the way out: close the earlier contract, or change the policy.
        assert!(
            done.reason.as_deref().is_some_and(|r| r.contains(
                "close ESZ6 first (a FLATTEN alert of it routes up to its last trading day, or the end of its contract month where the routing table gives none), or set on_roll = \"close\""
            )),
            "{done:?}"
        );
        assert_eq!(paper.orders(), 1, "only the first entry");
        assert_eq!(crate::health::health_event(&Ok(done.clone())), None);
        let by_broker = crate::venue::Execution {
            stopped_by_policy: false,
            alarmed: false,
            at_target: false,
            ..done
        };
        assert_eq!(
            crate::health::health_event(&Ok(by_broker)),
            Some(shared::health::HealthEvent::Failure(
                shared::health::FailureKind::Rejected
            ))
        );
    }

    /// A paper futures account values a contract at its point value for the notional cap, as
    /// the real one does: two ES at 6,000 (600,000 USD) are over a 500,000 cap, one is not.
    #[tokio::test]
    async fn the_paper_notional_cap_counts_the_point_value() {
        let paper = PaperNetting::new(Broker::Tradovate, "paper");
        let i = es1(shared::Action::LongEntry, "ESZ6", 1);
        let sized = |n: i64| ExecRequest {
            size: Size::Quantity(Decimal::from(n)),
            max_notional: Decimal::from(500_000),
            max_position: None,
            ..one_contract(&i, false)
        };
        let two = paper.execute(&sized(2)).await.map(|e| e.outcome);
        assert_eq!(two, Ok(Outcome::Refused));
        assert_eq!(paper.orders(), 0);
        let one = paper.execute(&sized(1)).await.map(|e| e.outcome);
        assert_eq!(one, Ok(Outcome::Filled));
    }

    /// An account already at the signal's target sends nothing, and its reason says so in
    /// words a trader reads: the target and what is held, sizes without sign.
    #[tokio::test]
    async fn a_no_op_says_the_target_and_the_holding_in_words() {
        let paper = PaperNetting::new(Broker::Tradovate, "paper");
        let long = es1(shared::Action::LongEntry, "ESZ6", 1);
        assert_eq!(
            paper
                .execute(&one_contract(&long, false))
                .await
                .unwrap()
                .outcome,
            Outcome::Filled
        );
        let again = es1(shared::Action::LongEntry, "ESZ6", 2);
        let done = paper.execute(&one_contract(&again, false)).await.unwrap();
        assert_eq!(done.outcome, Outcome::NoOp);
        assert_eq!(
            done.reason.as_deref(),
            Some("already at the target, long: the account holds long 1 in ESZ6")
        );
        // With a quantity (a strategy scaling in): said not to be used.
        let mut more = es1(shared::Action::LongEntry, "ESZ6", 21);
        more.quantity_override = Some(Decimal::from(3));
        let done = paper.execute(&one_contract(&more, false)).await.unwrap();
        assert_eq!(done.outcome, Outcome::NoOp);
        assert_eq!(
            done.reason.as_deref(),
            Some(
                "already at the target, long: the account holds long 1 in ESZ6; the alert's \
                 quantity 3 was not used: an entry on the side held neither adds to nor \
                 resizes it (exit, then enter at the new size)"
            )
        );
        let short = es1(shared::Action::ShortEntry, "ESZ6", 3);
        paper.execute(&one_contract(&short, false)).await.unwrap();
        let exit = es1(shared::Action::LongExit, "ESZ6", 4);
        let done = paper.execute(&one_contract(&exit, false)).await.unwrap();
        assert_eq!(
            done.reason.as_deref(),
            Some("already at the target, no long position: the account holds short 1 in ESZ6")
        );
    }

    /// A spot short entry with nothing held sells nothing: its quantity is no entry's, and the
    /// no-op says nothing of an entry on the side held.
    #[tokio::test]
    async fn a_spot_short_entry_with_nothing_held_says_nothing_of_its_quantity() {
        let paper = PaperSpot::new("paper", [("USD".to_owned(), Decimal::from(1000))]);
        let mut i = es1(shared::Action::ShortEntry, "ETH-USD", 1);
        i.broker = Broker::Coinbase;
        i.contract = None;
        i.symbol = "ETHUSD".into();
        i.reference_price = Decimal::from(3000);
        i.quantity_override = Some(Decimal::from(2));
        let done = paper.execute(&one_contract(&i, false)).await.unwrap();
        assert_eq!(done.outcome, Outcome::NoOp, "{done:?}");
        assert!(
            done.reason
                .as_deref()
                .is_some_and(|r| r.contains("nothing held to sell") && !r.contains("not used")),
            "{done:?}"
        );
    }

    /// The currency a notional refusal names, from the instrument's name: an OANDA pair's
    /// base currency (its notional is its units), a metal's or CFD's quote currency, a
    /// Coinbase buy's quote currency (what it spends), none for a futures contract.
    #[test]
    fn a_notional_is_named_in_the_currency_it_is_counted_in() {
        let oanda = PaperNetting::new(Broker::Oanda, "paper");
        let tradovate = PaperNetting::new(Broker::Tradovate, "paper");
        let coinbase = PaperSpot::new("paper", [("USD".to_owned(), Decimal::from(1000))]);
        let unit = |broker: Broker, instrument: &str| {
            let mut i = es1(shared::Action::LongEntry, instrument, 1);
            i.broker = broker;
            i.instrument = shared::routing::Instrument::new(instrument);
            let req = one_contract(&i, false);
            match broker {
                Broker::Oanda => crate::drive::notional_unit(&oanda, &req),
                Broker::Tradovate => crate::drive::notional_unit(&tradovate, &req),
                Broker::Coinbase => crate::drive::notional_unit(&coinbase, &req),
            }
        };
        for (broker, instrument, want) in [
            (Broker::Oanda, "EUR_USD", Some("EUR")),
            (Broker::Oanda, "USD_JPY", Some("USD")),
            (Broker::Oanda, "XAU_USD", Some("USD")),
            (Broker::Oanda, "SPX500_USD", Some("USD")),
            (Broker::Oanda, "DE30_EUR", Some("EUR")),
            (Broker::Oanda, "BCO_USD", Some("USD")),
            (Broker::Tradovate, "ESZ6", None),
            (Broker::Coinbase, "BTC-USD", Some("USD")),
            (Broker::Coinbase, "ETH-BTC", Some("BTC")),
        ] {
            assert_eq!(
                unit(broker, instrument).as_deref(),
                want,
                "{broker} {instrument}"
            );
        }
    }

    /// A sale planned from holdings read before another product of the same base currency
    /// sold them (ETH-USD and ETH-USDC in one wallet, run at once) finds nothing to sell:
    /// nothing to close, no order booked. It booked a fill of 0, which the journal showed as
    /// a sale of the planned size.
    #[tokio::test]
    async fn a_sale_of_a_wallet_another_product_emptied_is_nothing_to_close() {
        use crate::plan::PositionSide;
        let paper = PaperSpot::new(
            "paper",
            [
                ("USD".to_owned(), Decimal::from(10_000)),
                ("ETH".to_owned(), Decimal::ZERO),
            ],
        );
        let mut i = es1(shared::Action::LongExit, "ETH-USDC", 2);
        i.broker = Broker::Coinbase;
        i.contract = None;
        i.symbol = "ETHUSDC".into();
        i.reference_price = Decimal::from(3000);
        let req = one_contract(&i, false);
        let leg = PlannedLeg {
            leg: Leg::Close,
            action: LegAction::Close(PositionSide::Long),
            side: Side::Sell,
            quantity: Decimal::ONE,
            then_needs: None,
        };
        let report = LegReport::new(&req, Leg::Close, Side::Sell, Decimal::ONE);
        let ack = paper.send(&req, &leg, &report).await.unwrap();
        assert!(matches!(ack, Ack::NothingToClose), "{ack:?}");
        assert_eq!(paper.orders(), 0);
    }

    /// A spot short entry with a quantity sells all that is held, as an exit does, and says its
    /// quantity was not used (a trial sent 1,000 meaning a partial sale and was told nothing).
    #[tokio::test]
    async fn a_spot_short_entry_sells_what_is_held_and_says_its_quantity_was_not_used() {
        let paper = PaperSpot::new("paper", [("USD".to_owned(), Decimal::from(10_000))]);
        let mut i = es1(shared::Action::LongEntry, "ETH-USD", 1);
        i.broker = Broker::Coinbase;
        i.contract = None;
        i.symbol = "ETHUSD".into();
        i.reference_price = Decimal::from(3000);
        let bought = paper
            .execute(&ExecRequest {
                size: Size::Quantity(Decimal::from(6000)),
                ..one_contract(&i, false)
            })
            .await
            .unwrap();
        assert_eq!(bought.outcome, Outcome::Filled, "{bought:?}");
        let mut short = es1(shared::Action::ShortEntry, "ETH-USD", 2);
        short.broker = Broker::Coinbase;
        short.contract = None;
        short.symbol = "ETHUSD".into();
        short.reference_price = Decimal::from(3000);
        short.quantity_override = Some(Decimal::new(5, 1));
        let done = paper.execute(&one_contract(&short, false)).await.unwrap();
        assert_eq!(done.outcome, Outcome::Filled, "{done:?}");
        assert_eq!(
            paper.balances().get("ETH").copied().unwrap_or_default(),
            Decimal::ZERO,
            "all of it sold"
        );
        assert_eq!(
            done.reason.as_deref(),
            Some(
                "the alert's quantity 0.5 is not used by a short entry on a spot wallet, which \
                 holds no short: it sold what was held"
            )
        );
    }

    /// A paper OANDA account counts a currency pair's notional in units of its base currency,
    /// as the real one does (`OandaVenue`): 2,000 USD_JPY at 150 is 2,000 of notional under a
    /// 100,000 cap (it was 300,000 on paper and refused, while live filled), and a notional
    /// size of 20,000 trades 20,000 units; a metal is still valued at its price.
    #[tokio::test]
    async fn a_paper_currency_pair_counts_its_notional_in_base_units() {
        let paper = PaperNetting::new(Broker::Oanda, "paper");
        let mut i = es1(shared::Action::LongEntry, "USD_JPY", 1);
        i.broker = Broker::Oanda;
        i.contract = None;
        i.symbol = "USDJPY".into();
        i.reference_price = Decimal::from(150);
        let capped = |size: Size| ExecRequest {
            size,
            max_notional: Decimal::from(100_000),
            max_position: None,
            ..one_contract(&i, false)
        };
        let done = paper
            .execute(&capped(Size::Quantity(Decimal::from(2_000))))
            .await
            .unwrap();
        assert_eq!(done.outcome, Outcome::Filled, "{done:?}");
        let fresh = PaperNetting::new(Broker::Oanda, "paper");
        let done = fresh
            .execute(&capped(Size::Notional(Decimal::from(20_000))))
            .await
            .unwrap();
        assert_eq!(done.outcome, Outcome::Filled, "{done:?}");
        assert_eq!(done.legs[0].quantity, Decimal::from(20_000));
        let mut gold = i.clone();
        gold.instrument = Instrument::new("XAU_USD");
        gold.reference_price = Decimal::from(2_650);
        let req = ExecRequest {
            size: Size::Quantity(Decimal::from(100)),
            max_notional: Decimal::from(100_000),
            max_position: None,
            ..one_contract(&gold, false)
        };
        assert_eq!(paper.execute(&req).await.unwrap().outcome, Outcome::Refused);
    }

    /// A notional size on a paper futures account buys whole contracts, rounded down, as the
    /// real one would (it bought 2.18978... CL contracts); a fraction of one is refused.
    #[tokio::test]
    async fn a_paper_notional_size_buys_whole_contracts() {
        let paper = PaperNetting::new(Broker::Tradovate, "paper");
        let i = es1(shared::Action::LongEntry, "ESZ6", 1);
        let by_notional = |amount: i64| ExecRequest {
            size: Size::Notional(Decimal::from(amount)),
            max_notional: Decimal::from(5_000_000),
            max_position: None,
            ..one_contract(&i, false)
        };
        let e = paper.execute(&by_notional(700_000)).await.unwrap();
        assert_eq!(e.outcome, Outcome::Filled, "{e:?}");
        assert_eq!(e.legs[0].quantity, Decimal::from(2), "{e:?}");
        assert_eq!(paper.positions().get("ESZ6"), Some(&Decimal::from(2)));
    }

    /// The legs one contract of `i` reports on `paper` (none when nothing was sent).
    async fn legs_of(paper: &PaperNetting, i: &OrderIntent, takeover: bool) -> Vec<LegReport> {
        paper
            .execute(&one_contract(i, takeover))
            .await
            .map(|e| e.legs)
            .unwrap_or_default()
    }

    /// A takeover journals the legs an earlier attempt filled with the sides they were filled
    /// with: closing a short is a buy whatever the exit is called, closing a long a sell.
    #[tokio::test]
    async fn a_takeover_recovers_each_close_with_the_side_it_was_filled_with() {
        use shared::Action::{Flatten, LongEntry, LongExit, ShortEntry, ShortExit};
        let paper = PaperNetting::new(Broker::Tradovate, "paper");
        let run = |i: OrderIntent, takeover: bool| {
            let paper = &paper;
            async move {
                legs_of(paper, &i, takeover)
                    .await
                    .iter()
                    .map(|l| (l.leg, l.side, l.quantity, l.outcome, l.fee))
                    .collect::<Vec<_>>()
            }
        };
        let one = Decimal::ONE;
        // A paper fill's fee is a known zero, the recovered one's too (the report warns of
        // fills without a fee).
        let zero = Some(Decimal::ZERO);
        for (n, (entry, action, side)) in [
            (ShortEntry, ShortExit, Side::Buy),
            (ShortEntry, Flatten, Side::Buy),
            (LongEntry, LongExit, Side::Sell),
            (LongEntry, Flatten, Side::Sell),
        ]
        .into_iter()
        .enumerate()
        {
            let n = u32::try_from(n).unwrap_or_default() * 2;
            run(es1(entry, "ESZ6", n), false).await;
            let exit = es1(action, "ESZ6", n + 1);
            let done = run(exit.clone(), false).await;
            assert_eq!(done, vec![(Leg::Close, side, one, Outcome::Filled, zero)]);
            assert_eq!(paper.positions().get("ESZ6"), Some(&Decimal::ZERO));
            assert_eq!(run(exit, true).await, done, "{entry} then {action}");
        }
    }

    /// A takeover of a signal that rolled journals the close of the earlier contract under
    /// that contract, beside the open on the new one, as the attempt before it did.
    #[tokio::test]
    async fn a_takeover_recovers_the_close_of_the_earlier_contract() {
        let paper = PaperNetting::new(Broker::Tradovate, "paper");
        let run = |i: OrderIntent, takeover: bool| {
            let paper = &paper;
            async move {
                legs_of(paper, &i, takeover)
                    .await
                    .iter()
                    .map(|l| (l.leg, l.instrument.clone(), l.side, l.outcome))
                    .collect::<Vec<_>>()
            }
        };
        run(es1(shared::Action::LongEntry, "ESZ6", 1), false).await;
        let roll = es1(shared::Action::ShortEntry, "ESH7", 2);
        let done = run(roll.clone(), false).await;
        assert_eq!(
            done,
            vec![
                (
                    Leg::CloseRolled,
                    Some("ESZ6".to_owned()),
                    Side::Sell,
                    Outcome::Filled
                ),
                (Leg::Open, None, Side::Sell, Outcome::Filled)
            ]
        );
        assert_eq!(run(roll, true).await, done);
        assert_eq!(paper.orders(), 3, "the takeover sent nothing");
    }

    /// An earlier attempt's close of the earlier contract is at the broker, yet that contract
    /// is held: the takeover never sends a second order under the leg's client order id.
    #[tokio::test]
    async fn a_takeover_never_closes_the_earlier_contract_twice() {
        let roll = es1(shared::Action::ShortEntry, "ESH7", 2);
        let coid = ExecRequest {
            may_send: true,
            ..one_contract(&roll, true)
        }
        .client_order_id(Leg::CloseRolled)
        .to_string();
        let closed = PaperFill {
            order_id: "paper-2".into(),
            quantity: Decimal::ONE,
            price: Decimal::from(6000),
            side: Some(Side::Sell),
            instrument: Some("ESZ6".into()),
        };
        let paper = PaperNetting::restore(
            Broker::Tradovate,
            "paper",
            Arc::new(SystemClock),
            Arc::new(NoLog),
            PaperBook {
                holdings: [("ESZ6".to_owned(), Decimal::ONE)].into_iter().collect(),
                recent: vec![(coid, closed)],
                orders: 2,
            },
        );
        let done = paper
            .execute(&ExecRequest {
                may_send: true,
                ..one_contract(&roll, true)
            })
            .await;
        let (outcome, legs) = done
            .map(|e| {
                (
                    e.outcome,
                    e.legs
                        .iter()
                        .map(|l| (l.leg, l.instrument.clone()))
                        .collect::<Vec<_>>(),
                )
            })
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(outcome, Outcome::Unknown);
        assert_eq!(legs, vec![(Leg::CloseRolled, Some("ESZ6".to_owned()))]);
        assert_eq!(paper.orders(), 2, "nothing sent");
        assert_eq!(paper.positions().get("ESZ6"), Some(&Decimal::ONE));
    }
}
