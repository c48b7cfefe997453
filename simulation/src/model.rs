//! Venue-level fakes: a netting broker model with scripted faults, the venue logic the real
//! OANDA and Tradovate venues follow (read, close, confirm the close, open; an unknown
//! outcome is looked up by client order id and resent at most once, with the same id, only
//! if the broker never created it), and a fault wrapper around the paper spot wallet for
//! Coinbase in model mode (HTTP mode runs the real Coinbase venue).
//!
//! They exist because the real venues talk HTTP: fast enough for some seeds (see
//! `world::BrokerMode::Http`), too slow for thousands. Bugs can be planted here on purpose.

use crate::record::{Crash, Log};
use executor_runtime::paper::PaperSpot;
use executor_runtime::venue::{ExecRequest, Execution, LegReport, NothingSent, Venue};
use rust_decimal::Decimal;
use shared::alert::TargetPosition;
use shared::clock::{Clock, ManualClock};
use shared::execution::{ClientOrderId, Leg, Side};
use shared::outcome::Outcome;
use shared::routing::Broker;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

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
        }
    }

    pub fn is_order_fault(self) -> bool {
        matches!(
            self,
            Self::ErrorBeforeCreate
                | Self::ErrorAfterCreate
                | Self::AcceptedThenTimeout
                | Self::Reject
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
    /// The idempotency store forgets: every claim is a first claim (no takeover, no
    /// "completed").
    ForgetfulStore,
}

#[derive(Debug, Clone)]
struct ModelOrder {
    rejected: bool,
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
        book.orders
            .get(coid.as_str())
            .and_then(|v| v.first())
            .map(|o| !o.rejected)
    }

    /// One order request: a close of one side (all of it), or an open of `units` (signed).
    fn send(&self, coid: &ClientOrderId, instrument: &str, leg: Leg, units: Decimal) -> Sent {
        let mut book = self.lock();
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
            Some(BrokerFault::Reject) => {
                book.orders
                    .entry(coid.to_string())
                    .or_default()
                    .push(ModelOrder { rejected: true });
                return Sent::Rejected("INSUFFICIENT_MARGIN".into());
            }
            _ => {}
        }
        book.created += 1;
        let id = format!("m-{}", book.created);
        book.orders
            .entry(coid.to_string())
            .or_default()
            .push(ModelOrder { rejected: false });
        let pos = book.positions.get(instrument).copied().unwrap_or_default();
        match leg {
            Leg::Close | Leg::CloseHedge => {
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
            Some(BrokerFault::AcceptedThenTimeout) => Sent::Unknown("timed out"),
            _ => Sent::Created { id },
        }
    }
}

/// The venue logic over a [`ModelBroker`].
#[derive(Debug)]
pub struct ModelVenue {
    pub broker: Arc<ModelBroker>,
    pub account: String,
    pub crash: Arc<Crash>,
    pub clock: ManualClock,
    pub bug: Bug,
    /// Position reads while waiting for a close to show.
    pub flat_polls: u32,
}

enum Step {
    Done(LegReport),
    Stop(LegReport),
}

impl ModelVenue {
    fn report(&self, req: &ExecRequest<'_>, leg: Leg, side: Side, qty: Decimal) -> LegReport {
        LegReport {
            leg,
            side,
            quantity: qty,
            client_order_id: req.client_order_id(leg),
            broker_order_id: None,
            fill_price: None,
            outcome: Outcome::Unknown,
            error: None,
            sent_at: None,
            acked_at: None,
        }
    }

    async fn read(&self, instrument: &str) -> Result<(Decimal, Decimal), String> {
        self.crash.gate("before broker read").await;
        let r = self.broker.read(instrument);
        self.crash.gate("after broker read").await;
        r
    }

    async fn send_leg(&self, mut report: LegReport, instrument: &str, units: Decimal) -> Step {
        let coid = report.client_order_id.clone();
        for attempt in 1..=2 {
            report.sent_at.get_or_insert(self.clock.now());
            self.crash.gate("before broker order").await;
            let sent = self.broker.send(&coid, instrument, report.leg, units);
            self.crash.gate("after broker order").await;
            let why = match sent {
                Sent::Created { id } => {
                    report.broker_order_id = Some(id);
                    report.outcome = Outcome::Filled;
                    report.acked_at = Some(self.clock.now());
                    return Step::Done(report);
                }
                Sent::Rejected(reason) => {
                    report.outcome = Outcome::Rejected;
                    report.error = Some(reason);
                    return Step::Stop(report);
                }
                Sent::Unknown(why) => why,
            };
            if self.bug == Bug::RetryOrderWithoutLookup && attempt == 1 {
                continue;
            }
            self.crash.gate("before broker lookup").await;
            let found = self.broker.lookup(&coid);
            self.crash.gate("after broker lookup").await;
            match found {
                Some(true) => {
                    report.outcome = Outcome::Filled;
                    report.acked_at = Some(self.clock.now());
                    return Step::Done(report);
                }
                Some(false) => {
                    report.outcome = Outcome::Rejected;
                    report.error = Some("found rejected".into());
                    return Step::Stop(report);
                }
                None if attempt == 1 => {}
                None => {
                    report.error = Some(format!("not created after two sends: {why}"));
                    return Step::Stop(report);
                }
            }
        }
        report.error = Some("outcome unknown".into());
        Step::Stop(report)
    }

    /// Waits, bounded, until the closed side shows as zero.
    async fn confirm_flat(&self, instrument: &str, long_side: bool) -> Result<bool, String> {
        for _ in 0..self.flat_polls.max(1) {
            let (long, short) = self.read(instrument).await?;
            let still = if long_side {
                long > Decimal::ZERO
            } else {
                short < Decimal::ZERO
            };
            if !still {
                return Ok(true);
            }
        }
        Ok(false)
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

fn unknown(legs: Vec<LegReport>, reason: String) -> Execution {
    Execution {
        outcome: Outcome::Unknown,
        legs,
        reason: Some(reason),
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
        let instrument = req.intent.instrument.as_str();
        let nothing = |reason: String| NothingSent {
            broker: self.broker.broker,
            reason,
        };
        let mut legs: Vec<LegReport> = Vec::new();
        if req.takeover {
            for leg in [Leg::Close, Leg::Open] {
                self.crash.gate("before broker lookup").await;
                let found = self.broker.lookup(&req.client_order_id(leg));
                self.crash.gate("after broker lookup").await;
                if let Some(ok) = found {
                    let mut r = self.report(req, leg, Side::Buy, Decimal::ZERO);
                    r.outcome = if ok {
                        Outcome::Filled
                    } else {
                        Outcome::Rejected
                    };
                    legs.push(r);
                }
            }
            if let Some(open) = legs.iter().find(|l| l.leg == Leg::Open) {
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
        let (long, short) = self.read(instrument).await.map_err(nothing)?;
        let zero = Decimal::ZERO;
        let (close_long, close_short, open) = match req.intent.target {
            TargetPosition::Long => (false, short < zero, (long <= zero).then_some(req.quantity)),
            TargetPosition::Short => (long > zero, false, (short >= zero).then_some(-req.quantity)),
            TargetPosition::NoLong => (long > zero, false, None),
            TargetPosition::NoShort => (false, short < zero, None),
            TargetPosition::Flat => (long > zero, short < zero, None),
        };
        if !close_long && !close_short && open.is_none() {
            return Ok(Execution::no_op(format!(
                "already at target {:?} (long {long}, short {short})",
                req.intent.target
            )));
        }
        for (close, long_side, units, side) in [
            (close_long, true, -long, Side::Sell),
            (close_short, false, -short, Side::Buy),
        ] {
            if !close {
                continue;
            }
            // A close a previous attempt already sent is confirmed, never sent again.
            if !legs.iter().any(|l| l.leg == Leg::Close) {
                let report = self.report(req, Leg::Close, side, units.abs());
                match self.send_leg(report, instrument, units).await {
                    Step::Done(r) => legs.push(r),
                    Step::Stop(r) => {
                        legs.push(r.clone());
                        return Ok(finish(legs, Some(&r)));
                    }
                }
            }
            if self.bug == Bug::OpenBeforeCloseConfirmed {
                continue;
            }
            match self.confirm_flat(instrument, long_side).await {
                Ok(true) => {}
                Ok(false) => return Ok(unknown(legs, "close not confirmed".into())),
                Err(e) => {
                    return Ok(unknown(
                        legs,
                        format!("close sent, position unreadable: {e}"),
                    ));
                }
            }
        }
        if let Some(units) = open {
            let side = if units > zero { Side::Buy } else { Side::Sell };
            let report = self.report(req, Leg::Open, side, units.abs());
            match self.send_leg(report, instrument, units).await {
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
        let fault = if req.may_send {
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
            }),
            Some(BrokerFault::Reject) => Ok(Execution {
                outcome: Outcome::Rejected,
                legs: Vec::new(),
                reason: Some("INSUFFICIENT_FUND (simulated)".into()),
            }),
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
