//! Venue-level fakes: a netting broker model with scripted faults, the venue logic the real
//! OANDA and Tradovate venues follow (read, close, confirm the close, open; an unknown
//! outcome is looked up by client order id and resent at most once, with the same id, only
//! if the broker never created it), and a fault wrapper around the paper spot wallet for
//! Coinbase in model mode (HTTP mode runs the real Coinbase venue).
//!
//! They exist because the real venues talk HTTP: fast enough for some seeds (see
//! `world::BrokerMode::Http`), too slow for thousands. Bugs can be planted here on purpose.

use crate::record::{Crash, Log};
use executor_runtime::drive::{self, Ack, Conversation, Found, ReadError, SendError};
use executor_runtime::paper::PaperSpot;
use executor_runtime::plan::{Book as Plan, Holdings, LegAction, PlannedLeg, TradingRules, plan};
use executor_runtime::venue::{ExecRequest, Execution, LegReport, NothingSent, Venue};
use rust_decimal::Decimal;
use shared::clock::ManualClock;
use shared::execution::{ClientOrderId, Leg, Side};
use shared::outcome::Outcome;
use shared::routing::Broker;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A fault the next broker call meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerFault {
    /// 5xx before the order was created.
    ErrorBeforeCreate,
    /// The order was created, then the broker answered 5xx.
    ErrorAfterCreate,
    /// The order was created and the answer never came (client timeout).
    AcceptedThenTimeout,
    /// A definitive refusal (margin, halted).
    Reject,
    /// The next close lands only after this many position reads.
    SlowClose(u32),
    /// The next call answers 401: the token expired; the venue refreshes once.
    TokenExpired,
    /// The next position read fails (transient).
    ReadFailure,
    /// The next order request answers 429: nothing is created.
    RateLimited,
    /// The order is created and the answer is a 5xx; the order shows in lookups only a
    /// moment later (within the settle time), as an asynchronous broker's would.
    LateFill,
}

impl BrokerFault {
    pub fn kind(self) -> &'static str {
        match self {
            Self::ErrorBeforeCreate => "broker_5xx_before_create",
            Self::ErrorAfterCreate => "broker_5xx_after_create",
            Self::AcceptedThenTimeout => "accepted_then_timeout",
            Self::Reject => "broker_reject",
            Self::SlowClose(_) => "slow_liquidation",
            Self::TokenExpired => "token_expiry",
            Self::ReadFailure => "broker_read_failure",
            Self::RateLimited => "broker_rate_limit",
            Self::LateFill => "late_fill",
        }
    }

    pub fn is_order_fault(self) -> bool {
        matches!(
            self,
            Self::ErrorBeforeCreate
                | Self::ErrorAfterCreate
                | Self::AcceptedThenTimeout
                | Self::Reject
                | Self::RateLimited
                | Self::LateFill
        )
    }
}

/// Bugs the harness can plant, to show the checks catch them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bug {
    #[default]
    None,
    /// After an unknown outcome, send the order again without looking it up.
    RetryOrderWithoutLookup,
    /// Open the new side without waiting for the close to show in the position.
    OpenBeforeCloseConfirmed,
    /// Look an order up through a source the broker does not document (a real broker answers
    /// it with nothing, so an order of unknown outcome always looks "not created").
    TrustUndocumentedLookup,
    /// The executor keeps no latest signal time per instrument: an alert that arrives after a
    /// later-fired one still executes.
    IgnoreSignalOrder,
    /// The idempotency store forgets: every claim is a first claim (no takeover, no
    /// "completed").
    ForgetfulStore,
}

#[derive(Debug, Clone)]
struct ModelOrder {
    rejected: bool,
    /// Not listed by lookups before this instant (a late fill).
    visible_at: Option<Instant>,
}

#[derive(Debug, Default)]
struct Book {
    /// instrument → (long ≥ 0, short ≤ 0), hedging-style so "both held" is visible.
    positions: BTreeMap<String, (Decimal, Decimal)>,
    /// instrument → (side closing: true = long, reads left before it lands).
    pending_close: BTreeMap<String, (bool, u32)>,
    orders: BTreeMap<String, Vec<ModelOrder>>,
    created: u64,
    faults: VecDeque<BrokerFault>,
    /// Reads a close takes to land by default (0: synchronous, as OANDA).
    close_lag: u32,
    token_refreshes: u64,
}

/// The broker side of the model.
#[derive(Debug)]
pub struct ModelBroker {
    pub broker: Broker,
    book: Mutex<Book>,
    log: Log,
}

enum Sent {
    Created { id: String },
    Rejected(String),
    RateLimited,
    Unknown(&'static str),
}

impl ModelBroker {
    pub fn new(broker: Broker, close_lag: u32, log: Log) -> Self {
        Self {
            broker,
            book: Mutex::new(Book {
                close_lag,
                ..Book::default()
            }),
            log,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn script(&self, fault: BrokerFault) {
        self.lock().faults.push_back(fault);
    }

    /// Orders created so far.
    pub fn created(&self) -> u64 {
        self.lock().created
    }

    /// Orders created per client order id.
    pub fn per_client_id(&self) -> BTreeMap<String, usize> {
        self.lock()
            .orders
            .iter()
            .map(|(k, v)| (k.clone(), v.len()))
            .collect()
    }

    pub fn positions(&self) -> BTreeMap<String, (Decimal, Decimal)> {
        self.lock().positions.clone()
    }

    pub fn token_refreshes(&self) -> u64 {
        self.lock().token_refreshes
    }

    /// A 401 on this call: refresh and go on (the venue's one refresh).
    fn auth(&self, book: &mut Book) {
        if book.faults.front() == Some(&BrokerFault::TokenExpired) {
            book.faults.pop_front();
            book.token_refreshes += 1;
            self.log.fault(BrokerFault::TokenExpired.kind());
        }
    }

    fn read(&self, instrument: &str) -> Result<(Decimal, Decimal), String> {
        let mut book = self.lock();
        self.auth(&mut book);
        if book.faults.front() == Some(&BrokerFault::ReadFailure) {
            book.faults.pop_front();
            self.log.fault(BrokerFault::ReadFailure.kind());
            return Err("position read failed (503)".into());
        }
        if let Some((long_side, left)) = book.pending_close.get(instrument).copied() {
            if left == 0 {
                book.pending_close.remove(instrument);
                let p = book.positions.entry(instrument.to_owned()).or_default();
                if long_side {
                    p.0 = Decimal::ZERO;
                } else {
                    p.1 = Decimal::ZERO;
                }
            } else {
                book.pending_close
                    .insert(instrument.to_owned(), (long_side, left - 1));
            }
        }
        Ok(book.positions.get(instrument).copied().unwrap_or_default())
    }

    fn lookup(&self, coid: &ClientOrderId) -> Option<bool> {
        let mut book = self.lock();
        self.auth(&mut book);
        let now = Instant::now();
        book.orders
            .get(coid.as_str())
            .and_then(|v| v.iter().find(|o| o.visible_at.is_none_or(|t| t <= now)))
            .map(|o| !o.rejected)
    }

    /// One order request: a close of one side (all of it), or an open of `units` (signed).
    fn send(&self, coid: &ClientOrderId, instrument: &str, leg: Leg, units: Decimal) -> Sent {
        let mut book = self.lock();
        if !units.fract().is_zero() {
            // OANDA's `UNITS_PRECISION_EXCEEDED` / Tradovate's integer `orderQty`: a size the
            // pre-flight check must have refused before anything was sent.
            let v = format!(
                "{}: fractional size {units} sent on {instrument} ({coid})",
                self.broker
            );
            self.log.lock().violations.push(v);
            return Sent::Rejected("UNITS_PRECISION_EXCEEDED".into());
        }
        // The executors' default maximum positions (`DEFAULT_RISK` of executor-oanda and
        // executor-tradovate): every order the simulation's alerts lead to is within them, an
        // entry over them is refused before any order.
        let max = match self.broker {
            Broker::Oanda => Decimal::from(10_000),
            Broker::Tradovate => Decimal::from(5),
            Broker::Coinbase => Decimal::MAX,
        };
        if units.abs() > max {
            let v = format!(
                "{}: size {units} over the maximum position {max} sent on {instrument} ({coid})",
                self.broker
            );
            self.log.lock().violations.push(v);
            return Sent::Rejected("over the maximum position".into());
        }
        self.auth(&mut book);
        let fault = match book.faults.front().copied() {
            Some(f) if f.is_order_fault() => book.faults.pop_front(),
            Some(BrokerFault::SlowClose(n)) if leg == Leg::Close => {
                book.faults.pop_front();
                Some(BrokerFault::SlowClose(n))
            }
            _ => None,
        };
        if let Some(f) = fault {
            self.log.fault(f.kind());
        }
        match fault {
            Some(BrokerFault::ErrorBeforeCreate) => return Sent::Unknown("503 before create"),
            Some(BrokerFault::RateLimited) => return Sent::RateLimited,
            Some(BrokerFault::Reject) => {
                book.orders
                    .entry(coid.to_string())
                    .or_default()
                    .push(ModelOrder {
                        rejected: true,
                        visible_at: None,
                    });
                return Sent::Rejected("INSUFFICIENT_MARGIN".into());
            }
            _ => {}
        }
        book.created += 1;
        let id = format!("m-{}", book.created);
        book.orders
            .entry(coid.to_string())
            .or_default()
            .push(ModelOrder {
                rejected: false,
                visible_at: (fault == Some(BrokerFault::LateFill))
                    .then(|| Instant::now() + MODEL_SETTLE / 2),
            });
        let pos = book.positions.get(instrument).copied().unwrap_or_default();
        match leg {
            Leg::CloseRolled | Leg::Close | Leg::CloseHedge => {
                let long_side = units < Decimal::ZERO;
                let lag = match fault {
                    Some(BrokerFault::SlowClose(n)) => n,
                    _ => book.close_lag,
                };
                if lag == 0 {
                    let p = book.positions.entry(instrument.to_owned()).or_default();
                    if long_side {
                        p.0 = Decimal::ZERO;
                    } else {
                        p.1 = Decimal::ZERO;
                    }
                } else {
                    book.pending_close
                        .insert(instrument.to_owned(), (long_side, lag - 1));
                }
            }
            Leg::Open => {
                let (mut long, mut short) = pos;
                if units > Decimal::ZERO {
                    long += units;
                } else {
                    short += units;
                }
                if long > Decimal::ZERO && short < Decimal::ZERO {
                    let v = format!(
                        "{}: both directions held on {instrument} (long {long}, short {short}) after {coid}",
                        self.broker
                    );
                    self.log.lock().violations.push(v);
                }
                book.positions.insert(instrument.to_owned(), (long, short));
            }
        }
        match fault {
            Some(BrokerFault::ErrorAfterCreate) => Sent::Unknown("503 after create"),
            Some(BrokerFault::LateFill) => Sent::Unknown("503 after create; order listed late"),
            Some(BrokerFault::AcceptedThenTimeout) => Sent::Unknown("timed out"),
            _ => Sent::Created { id },
        }
    }
}

/// The model broker's conversation with the shared execution core
/// ([`executor_runtime::drive`]): the simulation runs the same planner, pre-flight check and
/// recovery rule as the real venues; only the broker is a model.
#[derive(Debug)]
pub struct ModelVenue {
    pub broker: Arc<ModelBroker>,
    pub account: String,
    pub crash: Arc<Crash>,
    pub clock: ManualClock,
    pub bug: Bug,
}

/// The model's settle time: a late order shows within it (see [`BrokerFault::LateFill`]).
const MODEL_SETTLE: Duration = Duration::from_millis(2);

impl Conversation for ModelVenue {
    type Mark = ();

    /// The model's book moves with the fill: its scripted read faults stay for the signals'
    /// own reads rather than being used up confirming opens.
    fn fills_show_at_once(&self) -> bool {
        true
    }

    fn broker(&self) -> Broker {
        self.broker.broker
    }

    fn account(&self) -> &str {
        &self.account
    }

    fn book(&self) -> Plan {
        Plan::Margin
    }

    fn settle_time(&self) -> Duration {
        MODEL_SETTLE
    }

    fn poll_interval(&self) -> Duration {
        Duration::ZERO
    }

    /// The model's slowest close lands within a few reads; the simulated clock does not move
    /// while a venue waits, so the wait is bounded here rather than by the staleness budget.
    fn max_wait(&self) -> Duration {
        Duration::from_millis(20)
    }

    fn closes_are_asynchronous(&self) -> bool {
        self.broker.broker == Broker::Tradovate
    }

    async fn holdings(&self, req: &ExecRequest<'_>) -> Result<(Holdings, ()), ReadError> {
        self.crash.gate("before broker read").await;
        let r = self.broker.read(req.intent.instrument.as_str());
        self.crash.gate("after broker read").await;
        let (long, short) = r.map_err(ReadError::Unavailable)?;
        Ok((Holdings { long, short }, ()))
    }

    /// Whole units: a fractional size is refused before anything is sent, as OANDA's
    /// `tradeUnitsPrecision` 0 and Tradovate's integer `orderQty` require.
    async fn rules(&self, _: &ExecRequest<'_>) -> Result<TradingRules, ReadError> {
        Ok(TradingRules::with_precision(0, Decimal::ONE, None))
    }

    async fn send(
        &self,
        req: &ExecRequest<'_>,
        leg: &PlannedLeg,
        report: &LegReport,
    ) -> Result<Ack, SendError> {
        let units = match (leg.action, leg.side) {
            (LegAction::Close(_), Side::Sell) | (LegAction::Open, Side::Sell) => -leg.quantity,
            _ => leg.quantity,
        };
        self.crash.gate("before broker order").await;
        let mut sent = self.broker.send(
            &report.client_order_id,
            req.intent.instrument.as_str(),
            leg.leg,
            units,
        );
        if self.bug == Bug::RetryOrderWithoutLookup && matches!(sent, Sent::Unknown(_)) {
            // The planted bug: the same POST again, blind.
            sent = self.broker.send(
                &report.client_order_id,
                req.intent.instrument.as_str(),
                leg.leg,
                units,
            );
        }
        self.crash.gate("after broker order").await;
        match sent {
            Sent::Created { id } => Ok(Ack::Filled {
                order_id: Some(id.into()),
                quantity: Some(leg.quantity),
                price: Some(req.intent.reference_price),
                fee: None,
            }),
            Sent::Rejected(reason) => Err(SendError::Rejected {
                order_id: None,
                reason,
            }),
            Sent::RateLimited => Err(SendError::NotExecuted {
                reason: "429 (simulated)".into(),
                retry_after: Some(Duration::from_millis(1)),
            }),
            Sent::Unknown(why) => Err(SendError::Unknown(why.into())),
        }
    }

    async fn lookup(
        &self,
        req: &ExecRequest<'_>,
        leg: &PlannedLeg,
        report: &LegReport,
        _: &(),
    ) -> Found {
        self.crash.gate("before broker lookup").await;
        let found = match self.bug {
            // An undocumented source a real broker answers with nothing.
            Bug::TrustUndocumentedLookup => None,
            _ => self.broker.lookup(&report.client_order_id),
        };
        self.crash.gate("after broker lookup").await;
        match found {
            Some(true) => Found::Order(Ack::Filled {
                order_id: None,
                quantity: Some(leg.quantity),
                price: Some(req.intent.reference_price),
                fee: None,
            }),
            Some(false) => Found::Order(Ack::Cancelled {
                order_id: None,
                reason: "found rejected".into(),
            }),
            None => Found::NotCreated,
        }
    }

    /// Futures contracts of the same root held besides the signal's own (a roll's leftover).
    async fn earlier_contracts(
        &self,
        req: &ExecRequest<'_>,
    ) -> Result<Vec<(String, Holdings)>, ReadError> {
        let name = req.intent.instrument.as_str();
        let root = |n: &str| n.get(..n.len().saturating_sub(2)).map(str::to_owned);
        Ok(self
            .broker
            .positions()
            .into_iter()
            .filter(|(n, (l, s))| {
                n != name && n.len() == name.len() && root(n) == root(name) && !(*l + *s).is_zero()
            })
            .map(|(n, (long, short))| (n, Holdings { long, short }))
            .collect())
    }

    async fn recover(&self, req: &ExecRequest<'_>) -> Result<Vec<LegReport>, ReadError> {
        let mut legs = Vec::new();
        for leg in [Leg::CloseRolled, Leg::Close, Leg::CloseHedge, Leg::Open] {
            let coid = req.client_order_id(leg);
            self.crash.gate("before broker lookup").await;
            let found = self.broker.lookup(&coid);
            self.crash.gate("after broker lookup").await;
            if let Some(ok) = found {
                let mut r = LegReport::new(req, leg, Side::Buy, Decimal::ZERO);
                r.outcome = if ok {
                    Outcome::Filled
                } else {
                    Outcome::Rejected
                };
                legs.push(r);
            }
        }
        Ok(legs)
    }
}

impl Venue for ModelVenue {
    fn broker(&self) -> Broker {
        self.broker.broker
    }

    fn account(&self) -> &str {
        &self.account
    }

    async fn execute(&self, req: &ExecRequest<'_>) -> Result<Execution, NothingSent> {
        // A refused entry goes through the drive, which sends nothing for it.
        if self.bug == Bug::OpenBeforeCloseConfirmed && req.refused.is_none() {
            return open_before_close_confirmed(self, req).await;
        }
        drive::execute(self, &self.clock, req).await
    }
}

/// The planted bug: send every planned leg at once, without waiting for a close to show in
/// the position.
async fn open_before_close_confirmed(
    v: &ModelVenue,
    req: &ExecRequest<'_>,
) -> Result<Execution, NothingSent> {
    let nothing = |reason: String| NothingSent {
        broker: v.broker.broker,
        reason,
        order_check: false,
    };
    let (held, ()) = v
        .holdings(req)
        .await
        .map_err(|e| nothing(format!("{e:?}")))?;
    let size = match req.size {
        executor_runtime::venue::Size::Quantity(q) | executor_runtime::venue::Size::Notional(q) => {
            q
        }
    };
    let planned = plan(req.intent.target, held, size, Plan::Margin);
    // The executor's order check, as the drive asks it before the first order.
    match drive::first_order_check(req).await {
        Ok(None) => {}
        Ok(Some(why)) => return Ok(Execution::without_legs(Outcome::Superseded, why)),
        Err(why) => {
            return Err(NothingSent {
                order_check: true,
                ..nothing(why)
            });
        }
    }
    let mut legs = Vec::new();
    for leg in planned {
        legs.extend(drive::send_leg(v, &v.clock, req, &leg, &(), None).await);
    }
    Ok(Execution {
        outcome: Outcome::Filled,
        legs,
        reason: None,
        stopped_by_policy: false,
        alarmed: false,
        at_target: false,
    })
}

fn unknown(legs: Vec<LegReport>, reason: String) -> Execution {
    Execution {
        outcome: Outcome::Unknown,
        legs,
        reason: Some(reason),
        stopped_by_policy: false,
        alarmed: false,
        at_target: false,
    }
}

/// Coinbase: the paper spot wallet (which keeps fills by client order id) behind faults.
#[derive(Debug)]
pub struct FaultySpot {
    pub spot: Arc<PaperSpot>,
    pub faults: Mutex<VecDeque<BrokerFault>>,
    pub crash: Arc<Crash>,
    pub log: Log,
}

impl FaultySpot {
    pub fn script(&self, fault: BrokerFault) {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(fault);
    }
}

impl Venue for FaultySpot {
    fn broker(&self) -> Broker {
        Broker::Coinbase
    }

    fn account(&self) -> &str {
        self.spot.account()
    }

    async fn execute(&self, req: &ExecRequest<'_>) -> Result<Execution, NothingSent> {
        // An entry the risk settings refused sends no order: no order fault applies.
        let fault = if req.may_send && req.refused.is_none() {
            self.faults
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front()
                .filter(|f| f.is_order_fault())
        } else {
            None
        };
        if let Some(f) = fault {
            self.log.fault(f.kind());
        }
        self.crash.gate("before broker order").await;
        let out = match fault {
            Some(BrokerFault::ErrorBeforeCreate) => Err(NothingSent {
                broker: Broker::Coinbase,
                reason: "503 before create".into(),
                order_check: false,
            }),
            // The broker rejects the first order, which the executor's order check passed.
            Some(BrokerFault::Reject) => match drive::first_order_check(req).await {
                Ok(None) => Ok(Execution {
                    outcome: Outcome::Rejected,
                    legs: Vec::new(),
                    reason: Some("INSUFFICIENT_FUND (simulated)".into()),
                    stopped_by_policy: false,
                    alarmed: false,
                    at_target: false,
                }),
                Ok(Some(why)) => Ok(Execution::without_legs(Outcome::Superseded, why)),
                Err(why) => Err(NothingSent {
                    broker: Broker::Coinbase,
                    reason: why,
                    order_check: true,
                }),
            },
            Some(BrokerFault::ErrorAfterCreate | BrokerFault::AcceptedThenTimeout) => {
                let done = self.spot.execute(req).await;
                done.map(|mut e| {
                    for l in &mut e.legs {
                        l.outcome = Outcome::Unknown;
                    }
                    unknown(e.legs, "order sent, answer lost".into())
                })
            }
            _ => self.spot.execute(req).await,
        };
        self.crash.gate("after broker order").await;
        out
    }
}
