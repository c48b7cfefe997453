//! The Tradovate conversation of the shared execution core ([`executor_runtime::drive`]):
//! read the net position, liquidate (a close), place a market order (an open), and find an
//! order of unknown outcome through the sources Tradovate documents. The plan, the
//! pre-flight check, the waits and the resend rule are the core's.
//!
//! Recovery sources, all from Tradovate's official OpenAPI
//! (<https://partner.tradovate.com/openapi.json>, schemas `Order`, `Command`, `Fill`,
//! `Position`):
//! - the order's `New` command carries our `clOrdId` (`/command/list`); the `Order` entity
//!   itself has no `clOrdId`, so it is never searched for one;
//! - the account's orders (`/order/deps?masterid=<accountId>`) on the contract since the send:
//!   an order we cannot tell apart from ours counts as ours (never a second send);
//! - the position (`/position/list`, `netPos`) and the order's fills (`/fill/deps`).
//!
//! Placement and liquidation are asynchronous ("a request, not a guarantee":
//! <https://partner.tradovate.com/api/rest-api-endpoints/orders/liquidate-position>): an
//! `orderId` means accepted. So every lookup waits the settle time first, and a send is only
//! repeated when the commands, the orders and the position all show nothing.

use crate::client::TradovateClient;
use crate::error::TvError;
use crate::models::{AccountId, ContractId, FillFee, Order, OrderAction, OrderId, PlaceOrder};
use crate::token::{TokenError, TokenManager};
use chrono::{DateTime, Utc};
use executor_runtime::drive::{self, Ack, Conversation, Found, ReadError, SendError};
use executor_runtime::plan::{Book, Holdings, LegAction, PlannedLeg, PositionSide, TradingRules};
use executor_runtime::venue::{ExecRequest, Execution, LegReport, NothingSent, Venue};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use secrecy::SecretString;
use shared::clock::Clock;
use shared::execution::Side;
use shared::ports::{LeaseLock, TokenStore};
use shared::routing::Broker;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{info, warn};

/// Said of a liquidation that ended without a fill: `liquidatePosition` is "a request to
/// cancel orders for a specific contract and close that position"
/// (<https://partner.tradovate.com/api/rest-api-endpoints/orders/liquidate-position>), and
/// Tradovate does not say whether the cancels happen when the close is refused (a session
/// closed for the daily halt): the trader's own stops and targets may be gone while the
/// position stays.
pub const LIQUIDATION_CANCELS: &str = "the liquidation request may have cancelled this \
     contract's working orders (stops, targets placed by hand) while the position stays: \
     check them";

#[derive(Debug, Clone)]
pub struct TradovateAccount {
    pub id: AccountId,
    /// `accountSpec` in orders.
    pub name: String,
}

#[derive(Debug, Clone, Copy)]
pub struct VenueSettings {
    /// How long after an ambiguous answer an order, its command, its fill or the position
    /// may take to show (placement and liquidation are asynchronous).
    pub settle: Duration,
    /// How soon an accepted order is read again for its fill, and a position for flat; each
    /// later wait longer ([`drive::poll_waits`]).
    pub poll_interval: Duration,
    /// The longest one wait (a fill, a liquidation showing flat) may last in wall-clock time;
    /// the staleness budget bounds it first. A simulation, whose clock does not move while a
    /// venue waits, sets it short.
    pub max_wait: Duration,
}

impl Default for VenueSettings {
    fn default() -> Self {
        Self {
            settle: Duration::from_secs(2),
            poll_interval: Duration::from_millis(250),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// Orders listed within this much before our send time may still be ours (clock skew).
const SKEW: chrono::Duration = chrono::Duration::seconds(5);

/// Tradovate documents a 429 as "stop for about an hour"
/// (<https://partner.tradovate.com/overview/core-concepts/rate-limits>).
const RATE_LIMIT_WAIT: Duration = Duration::from_secs(3600);

/// The root of a contract name: `ESZ6` → `ES` (see `shared::contract_specs`).
pub use shared::contract_specs::contract_root;

pub struct TradovateVenue<S, L, C> {
    tokens: Arc<TokenManager<S, L, C>>,
    account: TradovateAccount,
    account_key: String,
    clock: C,
    settings: VenueSettings,
    contracts: Mutex<HashMap<String, ContractId>>,
    /// Order ids this venue learnt from Tradovate's answers, with the client order id of the
    /// leg that sent them: a lookup never mistakes an earlier leg's order (a liquidation on the
    /// same contract) for the order it looks for.
    known: Mutex<HashMap<OrderId, String>>,
    /// Liquidations and opens this venue sent that were not seen to end (the wait for them
    /// ran out), by contract: until each reads as ended, nothing more is sent on its
    /// contract, since an order still working could trade against any later order, or change
    /// the position a later signal plans from (see [`Self::working_order`]).
    working: Mutex<HashMap<ContractId, Vec<Noted>>>,
}

/// A [`Pending`] order with since when it could not be read (`None`: read, or not
/// tried yet).
type Noted = (Pending, Option<DateTime<Utc>>);

/// An order of ours that may still trade: one followed or looked up and not seen to end, by
/// its order id. (One whose answer was lost and that no list showed is not known here: a
/// takeover's scan, in `recover`, is what guards against it.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// A liquidation (`liquidatePosition`).
    Liquidation(OrderId),
    /// A market order of a signal's open (`placeOrder`): still working when its signal
    /// ended `unknown`, it would fill into the position the next signal plans from (an exit
    /// read flat and sent nothing; a reversal sold from flat, and the late buy left the
    /// account flat instead of short).
    Open(OrderId),
    /// An order on the contract that a takeover found working and that no `clOrdId` names:
    /// a liquidation (perhaps the earlier attempt's, whose process died following it), or
    /// one placed by hand, which the lists cannot tell apart.
    Unnamed(OrderId),
}

impl Pending {
    fn order_id(self) -> OrderId {
        match self {
            Self::Liquidation(id) | Self::Open(id) | Self::Unnamed(id) => id,
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Self::Liquidation(_) => "liquidation",
            Self::Open(_) => "open",
            Self::Unnamed(_) => "unnamed",
        }
    }

    /// The order in words, for a held signal's reason (ending in a comma).
    fn described(self) -> String {
        match self {
            Self::Liquidation(id) => format!("liquidation order {id},"),
            Self::Open(id) => format!("open order {id},"),
            Self::Unnamed(id) => format!(
                "order {id}, named by no clOrdId (a liquidation, or one placed by hand: cancel it \
                 at the broker if it is not a liquidation),"
            ),
        }
    }
}

/// How long a pending order that cannot be read holds its contract in this process:
/// after a day of failed reads with none that succeeded it is forgotten (with a warning), so
/// that one gone from the lists does not stop the contract for the process's life. One that
/// reads as working is never forgotten: it could still trade.
const PENDING_FOR: chrono::Duration = chrono::Duration::days(1);

impl<S, L, C> std::fmt::Debug for TradovateVenue<S, L, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TradovateVenue")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// What `leg`'s order `id`, not seen to end, holds its contract as.
fn pending(leg: &PlannedLeg, id: OrderId) -> Pending {
    match leg.action {
        LegAction::Close(_) => Pending::Liquidation(id),
        LegAction::Open => Pending::Open(id),
    }
}

/// How a send failed, in the core's classification.
fn classify(e: TvError) -> SendError {
    match e {
        TvError::Refused(why) => SendError::Rejected {
            order_id: None,
            reason: why,
        },
        // Documented as not carried out: "rather than the result you asked for"
        // (<https://partner.tradovate.com/overview/core-concepts/penalty-tickets>). The page
        // asks for the same request again with its `p-ticket` once `p-time` has passed, which
        // the client does for every penalty that fits the budget; one that reaches here did
        // not (a captcha, a wait past the budget, a third in a row) and is never sent again
        // without its ticket: the core's wait is Tradovate's hour, past any budget.
        e @ TvError::Penalty { .. } => SendError::NotExecuted {
            reason: e.to_string(),
            retry_after: Some(RATE_LIMIT_WAIT),
        },
        // Tradovate's rate-limits page asks for about an hour without requests and does not
        // say a command so answered was not carried out: no lookup now (it would be refused
        // and lengthen the stop), the leg ends `unknown`, for a replay after the hour.
        TvError::RateLimited => SendError::Stopped(TvError::RateLimited.to_string()),
        // Never built, or never sent within the stop: nothing to look up, and no read
        // during the stop.
        e @ (TvError::TokenRateLimited(_) | TvError::Stopped(_)) => {
            SendError::Unsent(e.to_string())
        }
        // A 401 on the order command itself is Tradovate's "not authorised" (its error-handling
        // page, <https://partner.tradovate.com/overview/core-concepts/error-handling>), which
        // does not say that an order command so answered was not placed. HTTP's reading (a
        // request "not applied", RFC 9110 §15.5.2) is not Tradovate's word, and Tradovate
        // documents no time within which a placed order is listed: like a timeout, it is
        // looked up after the settle time and never sent again (the leg ends `unknown` when
        // nothing is found). The token is renewed for the lookup (`authed_command`).
        TvError::Unauthorized => SendError::Unknown(
            "Tradovate answered 401 (not authorised) to the order command, which it does not \
             document as not placed"
                .into(),
        ),
        // Never sent: our own login limit, a deadline passed while the token was got, no token
        // to send with, no connection made. The core still looks the order up by its `clOrdId`
        // after the settle time before it sends it again (once at most).
        e @ (TvError::NotSent(_)
        | TvError::LoginLimit(_)
        | TvError::PastDeadline
        | TvError::NoToken(_)
        | TvError::LoginRefused(_)) => SendError::NotExecuted {
            reason: e.to_string(),
            retry_after: None,
        },
        // No other HTTP error is documented to mean nothing was carried out: Tradovate's
        // error-handling page says a 400 "usually means that the request was formatted
        // incorrectly" and a 404 that "some portion of the response could not be found"
        // (<https://partner.tradovate.com/overview/core-concepts/error-handling>), and a
        // proxy's 408 or 409 says nothing of Tradovate. Looked up after the settle time like
        // a timeout, never sent again: a refused command is found not placed, and the leg
        // ends `unknown` rather than `rejected` beside an order that was placed.
        // Its text only: the core's own error says "outcome unknown" already.
        TvError::Unknown(why) => SendError::Unknown(why),
        e => SendError::Unknown(e.to_string()),
    }
}

/// `call`'s answer, or [`TvError::Unreachable`] once `until` has passed without one.
async fn answer_by<T>(
    until: tokio::time::Instant,
    call: impl Future<Output = Result<T, TvError>>,
) -> Result<T, TvError> {
    tokio::time::timeout_at(until, call)
        .await
        .unwrap_or_else(|_| Err(TvError::Unreachable("no answer in time".into())))
}

/// The longest wait for Tradovate's words on a rejected order ([`TradovateVenue`]'s
/// `rejection_words`), its end already decided: past it the leg keeps the status alone.
const REJECTION_READ: Duration = Duration::from_secs(3);

/// A read that failed: a 429 or a penalty ticket is a rate limit (Tradovate asks a client to
/// stop for a while: <https://partner.tradovate.com/overview/core-concepts/rate-limits>),
/// anything else unavailable.
fn unavailable(e: TvError) -> ReadError {
    match e {
        TvError::RateLimited | TvError::Penalty { .. } => ReadError::RateLimited(e.to_string()),
        e => ReadError::Unavailable(e.to_string()),
    }
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
            known: Mutex::new(HashMap::new()),
            working: Mutex::new(HashMap::new()),
        }
    }

    /// Notes `pending` on `contract_id` ([`Self::working_order`] reads it again).
    fn note(&self, contract_id: ContractId, pending: Pending) {
        let mut working = self.working.lock().unwrap_or_else(|e| e.into_inner());
        let list = working.entry(contract_id).or_default();
        // Noted again after a read that found it working: it reads, whatever failed before.
        // One entry an order (a liquidation this process followed, found again by a
        // takeover's scan as an unnamed order): read once, and waited for once. Its kind is
        // the one that names it: an unnamed one known later as ours takes that kind.
        match list
            .iter_mut()
            .find(|(p, _)| p.order_id() == pending.order_id())
        {
            Some(entry) => {
                if matches!(entry.0, Pending::Unnamed(_)) {
                    entry.0 = pending;
                }
                entry.1 = None;
            }
            None => list.push((pending, None)),
        }
    }

    /// Records a read of `pending`: `Some(now)` it failed (kept if it failed before), `None`
    /// it succeeded. Returns since when it has failed.
    fn read_of(
        &self,
        contract_id: ContractId,
        pending: Pending,
        failed_at: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        let mut working = self.working.lock().unwrap_or_else(|e| e.into_inner());
        let entry = working.get_mut(&contract_id).and_then(|list| {
            list.iter_mut()
                .find(|(p, _)| p.order_id() == pending.order_id())
        })?;
        entry.1 = failed_at.and(entry.1.or(failed_at));
        entry.1
    }

    fn forget(&self, contract_id: ContractId, pending: Pending) {
        let mut working = self.working.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = working.get_mut(&contract_id) {
            list.retain(|(p, _)| p.order_id() != pending.order_id());
            if list.is_empty() {
                working.remove(&contract_id);
            }
        }
    }

    /// `Err` while a liquidation or an open of ours on `contract_id` that was not seen to end
    /// may still trade ([`Pending`]), read again now: one read as ended is forgotten, and so
    /// is one whose reads have all failed for more than [`PENDING_FOR`]. One that cannot be
    /// read counts as working: whether it may still trade is unknown (a rate limit stays
    /// [`ReadError::RateLimited`]).
    async fn working_order(&self, contract_id: ContractId) -> Result<(), ReadError> {
        let pending = self
            .working
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&contract_id)
            .cloned()
            .unwrap_or_default();
        let held = |id: OrderId, why: String| {
            format!(
                "{why}: nothing is sent on the contract until it ends (it could trade against \
                 a later order, or change the position the next signal plans from); to go on \
                 sooner, cancel order {id} at Tradovate, then replay this signal from the \
                 dead-letter queue if it got there"
            )
        };
        for (p, _) in pending {
            let (id, kind) = (p.order_id(), p.kind());
            let read = self
                .authed(|t| async move { self.client().order(&t, id).await })
                .await;
            match read {
                // Another account's order (one login, several accounts), which a lookup by
                // `clOrdId` can meet: it neither trades against this account's orders nor
                // moves its position, so it holds nothing here.
                Ok(order) if order.account_id != self.account.id => {
                    info!(
                        contract_id = contract_id.0,
                        order_id = id.0,
                        kind,
                        "an order noted as holding the contract is another account's: released"
                    );
                    self.forget(contract_id, p);
                }
                // Ended, its fills may not show in the position yet: Tradovate documents no
                // time within which `/position/list` shows a fill, and read at once the next
                // signal could plan without it (an exit reading flat while the open's buy had
                // filled). The position is read after the venue's settle time, the time every
                // lookup here gives the lists to catch up.
                Ok(order) if has_ended(&order.ord_status) => {
                    info!(contract_id = contract_id.0, order_id = id.0, kind, status = %executor_runtime::http::shown_text(order.ord_status.as_bytes()), "an order that held the contract has ended; the position is read after the settle time");
                    tokio::time::sleep(self.settings.settle).await;
                    self.forget(contract_id, p);
                }
                Ok(order) => {
                    self.read_of(contract_id, p, None);
                    return Err(ReadError::Unavailable(held(
                        id,
                        format!(
                            "{} sent or found for an earlier signal, is still {}",
                            p.described(),
                            executor_runtime::http::shown_text(order.ord_status.as_bytes())
                        ),
                    )));
                }
                Err(e @ (TvError::RateLimited | TvError::Penalty { .. })) => {
                    return Err(unavailable(e));
                }
                Err(e)
                    if self
                        .read_of(contract_id, p, Some(self.clock.now()))
                        .is_some_and(|since| self.clock.now() - since > PENDING_FOR) =>
                {
                    warn!(contract_id = contract_id.0, order_id = id.0, kind, error = %e, "an order unreadable for a day is forgotten");
                    self.forget(contract_id, p);
                }
                Err(e) => {
                    return Err(ReadError::Unavailable(held(
                        id,
                        format!(
                            "{} sent or found for an earlier signal and not seen to end, could \
                             not be read ({e})",
                            p.described()
                        ),
                    )));
                }
            }
        }
        Ok(())
    }

    fn remember(&self, order_id: OrderId, client_order_id: &str) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: old entries only matter within one signal's staleness budget.
        if known.len() > 10_000 {
            known.clear();
        }
        known.insert(order_id, client_order_id.to_owned());
    }

    /// Whether this process placed `order_id` under `client_order_id`.
    fn placed_as(&self, order_id: OrderId, client_order_id: &str) -> bool {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&order_id)
            .is_some_and(|c| c == client_order_id)
    }

    fn belongs_elsewhere(&self, order_id: OrderId, client_order_id: &str) -> bool {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&order_id)
            .is_some_and(|c| c != client_order_id)
    }

    fn client(&self) -> &TradovateClient {
        self.tokens.client()
    }

    /// Runs the read `f` with a token; on a 401 refreshes once (under the lock) and runs it
    /// again: a read asked twice changes nothing. Order commands go through
    /// [`Self::authed_command`], which never runs them twice.
    async fn authed<T, F, Fut>(&self, f: F) -> Result<T, TvError>
    where
        F: Fn(SecretString) -> Fut,
        Fut: Future<Output = Result<T, TvError>>,
    {
        let token = self.tokens.token().await.map_err(token_error)?;
        let result = match f(token.clone()).await {
            Err(TvError::Unauthorized) => {
                let fresh = self
                    .tokens
                    .after_unauthorized(&token)
                    .await
                    .map_err(token_error)?;
                f(fresh).await
            }
            other => other,
        };
        if matches!(result, Err(TvError::RateLimited)) {
            self.tokens.share_stop().await;
        }
        result
    }

    /// The read `f` with the stored token, for reads that only add words or figures (a
    /// rejection's reason, a fill's fees) and run under a time bound: no refresh, no login
    /// and no second try on a 401 (see [`TokenManager::current`]); `None` when there is no
    /// usable token, Tradovate has asked for no requests, or the read fails. A 429 it meets
    /// starts the client's stop, which this process's next request through [`Self::authed`]
    /// stores for the others.
    async fn optional_read<T, Fut>(&self, f: impl FnOnce(SecretString) -> Fut) -> Option<T>
    where
        Fut: Future<Output = Result<T, TvError>>,
    {
        let token = self.tokens.current().await.ok()??;
        if self.client().stopped_for().is_some() {
            return None;
        }
        f(token).await.ok()
    }

    /// An order command with a token: `f` is given the staleness budget left, and is not run
    /// once the signal's `deadline` has passed (getting the token may take a login, seconds).
    /// A 401 renews the token for the lookup that follows but does not run the command again:
    /// HTTP says a 401 request "has not been applied" (RFC 9110, 15.5.2), but Tradovate's
    /// documentation does not say so of its order commands, so the core treats it as an
    /// outcome unknown (looked up, never sent again).
    async fn authed_command<T, F, Fut>(
        &self,
        deadline: chrono::DateTime<chrono::Utc>,
        f: F,
    ) -> Result<T, TvError>
    where
        F: FnOnce(SecretString, Duration) -> Fut,
        Fut: Future<Output = Result<T, TvError>>,
    {
        // A rate limit met getting the token: the command was never built or sent.
        let token = self
            .tokens
            .token()
            .await
            .map_err(|e| match token_error(e) {
                e @ (TvError::RateLimited | TvError::Penalty { .. }) => {
                    TvError::TokenRateLimited(e.to_string())
                }
                e => e,
            })?;
        let left = drive::remaining(&self.clock, deadline);
        if left.is_zero() {
            return Err(TvError::PastDeadline);
        }
        match f(token.clone(), left).await {
            Err(TvError::Unauthorized) => {
                // For the lookup that follows; a failure here is its to meet.
                if let Err(e) = self.tokens.after_unauthorized(&token).await {
                    warn!(error = %e, "Tradovate 401 on an order command; the token could not be renewed");
                }
                Err(TvError::Unauthorized)
            }
            Err(TvError::RateLimited) => {
                self.tokens.share_stop().await;
                Err(TvError::RateLimited)
            }
            other => other,
        }
    }

    async fn contract_id(&self, name: &str) -> Result<ContractId, TvError> {
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

    async fn net(&self, contract_id: ContractId) -> Result<i64, TvError> {
        let account = self.account.id;
        self.authed(|t| async move { self.client().net_position(&t, account, contract_id).await })
            .await
    }

    /// Why Tradovate rejected order `id` after accepting it, in its own words: the
    /// `rejectReason` and `text` of a rejecting report (`RiskRejected`, `ExecutionRejected`)
    /// of the order's commands (`command/deps`, then `commandReport/deps` for each; both
    /// fields optional in the `CommandReport` schema, and `Success` among `rejectReason`'s
    /// values), cut and redacted for the journal and the mail. Words for the trader, never a
    /// reason to wait or to decide anything: not read past the signal's deadline or while
    /// Tradovate has asked for no requests, and its requests given up after
    /// [`REJECTION_READ`]; `None` then, when no report says, or when a read fails.
    async fn rejection_words(&self, req: &ExecRequest<'_>, id: OrderId) -> Option<String> {
        // (The stop and the token are `optional_read`'s to check.)
        if drive::remaining(&self.clock, req.deadline).is_zero() {
            return None;
        }
        // Each of Tradovate's answers within what is left of REJECTION_READ: the bound is on
        // the requests, never on the token's refresh or a stop's sharing around them, which
        // must not be cut half done (a lock left held, a granted token unsaved).
        let until = tokio::time::Instant::now() + REJECTION_READ;
        let read = async {
            let commands = self
                .optional_read(|t| async move {
                    answer_by(until, self.client().commands_of(&t, id)).await
                })
                .await?;
            for command in commands.iter().filter_map(|c| c.id) {
                let reports = self
                    .optional_read(|t| async move {
                        answer_by(until, self.client().command_reports_of(&t, command)).await
                    })
                    .await?;
                let words = reports
                    .iter()
                    .filter(|r| {
                        matches!(
                            r.command_status.as_deref(),
                            Some("RiskRejected" | "ExecutionRejected")
                        )
                    })
                    .find_map(|r| {
                        let said: Vec<&str> = [r.reject_reason.as_deref(), r.text.as_deref()]
                            .into_iter()
                            .flatten()
                            .map(str::trim)
                            .filter(|w| !w.is_empty() && *w != "Success")
                            .collect();
                        (!said.is_empty()).then(|| said.join(": "))
                    });
                if let Some(words) = words {
                    return Some(executor_runtime::http::shown_text(words.as_bytes()));
                }
            }
            None
        };
        read.await
    }

    /// What an order Tradovate holds came to: its fills when filled, its end state when it
    /// ended otherwise, `Working` while it works (or while what it came to cannot be told).
    ///
    /// The documents list an order's status (`ordStatus`) and its fills (`/fill/deps?masterid=`)
    /// but do not say that the fills are listed by the time the status changes, that an order
    /// which filled in part cannot end `Canceled` or `Expired`, nor what `Completed` means
    /// (OpenAPI `Order` and `Fill` schemas, <https://partner.tradovate.com/openapi.json>).
    /// So: `Filled` is the whole order, at the size sent when fewer contracts' fills are
    /// listed (its price then unknown rather than that of some of its fills); any other end
    /// is judged by its fills, and one with none listed is a definitive no only when the
    /// position agrees that nothing of it traded.
    async fn outcome_of(
        &self,
        req: &ExecRequest<'_>,
        leg: &PlannedLeg,
        order: &Order,
    ) -> Result<Ack, TvError> {
        let id = order.id;
        let status = order.ord_status.as_str();
        if !has_ended(status) {
            return Ok(Ack::Working {
                order_id: id.to_string().into(),
                // Not "not filled": a working market order may have filled in part (its fills
                // are read once it ends).
                reason: format!(
                    "{}, not done yet (whether any of it filled is unknown until it ends)",
                    executor_runtime::http::shown_text(status.as_bytes())
                ),
            });
        }
        let fills = match self
            .authed(|t| async move { self.client().fills(&t, id).await })
            .await
        {
            Ok(fills) => fills,
            // The order itself reads `Filled`: its fills would give only the size and price.
            // Waiting for them would end the leg unknown (and a reversal's open unsent) with
            // the broker saying it filled; the size is then the plan's, confirmed by the
            // position as any fill is.
            Err(_) if status == "Filled" => Vec::new(),
            Err(e) => return Err(e),
        };
        let (quantity, price) = filled(&fills);
        let order_id = Some(id.to_string().into());
        // A liquidation's size is the position it closes, which the plan read. A size of zero
        // is one not known (a takeover past the staleness budget does not size the signal
        // again): only the `Filled` status then says the order filled whole, and an order
        // that ended otherwise after fills is taken as filled in part (alarmed), never as
        // whole against a size of zero.
        let whole = quantity.is_some_and(|q| {
            if leg.quantity.is_zero() {
                status == "Filled"
            } else {
                q >= leg.quantity
            }
        });
        match (status, quantity) {
            ("Filled", _) | (_, Some(_)) if whole => Ok(Ack::Filled {
                order_id,
                quantity,
                price,
                fee: None,
            }),
            ("Filled", _) => Ok(Ack::Filled {
                order_id,
                quantity: None,
                price: None,
                fee: None,
            }),
            (s, Some(quantity)) => Ok(Ack::FilledInPart {
                order_id,
                quantity: Some(quantity),
                price,
                fee: None,
                rest: format!("order {id} ended {s} after {quantity} contract(s) filled"),
            }),
            (s, None) => {
                let contract_id = self.contract_id(req.intent.instrument.as_str()).await?;
                let net = Decimal::from(self.net(contract_id).await?);
                // Before an open the plan left this side flat; before a close it held the
                // leg's size on the side closed.
                let untouched = match (leg.action, leg.side) {
                    (LegAction::Open, Side::Buy) => net <= Decimal::ZERO,
                    (LegAction::Open, Side::Sell) => net >= Decimal::ZERO,
                    (LegAction::Close(PositionSide::Long), _) => net == leg.quantity,
                    (LegAction::Close(PositionSide::Short), _) => -net == leg.quantity,
                };
                if untouched {
                    Ok(Ack::Cancelled {
                        order_id,
                        reason: format!("order {id} {s}"),
                    })
                } else {
                    Ok(Ack::Working {
                        order_id: id.to_string().into(),
                        reason: format!(
                            "order {id} ended {s} with no fill listed, but the position shows \
                             {net}: what it traded is not known yet"
                        ),
                    })
                }
            }
        }
    }

    /// What Tradovate charged for these fills (`fillFee/deps` per fill, summed by
    /// [`FillFee::total`]), taken to be in the contract's currency: the schema names each
    /// amount's currency only by id, and every contract of the routing table is a US dollar
    /// contract. `None` (unknown, not zero) when a fill has no id, a lookup fails, a fill has
    /// no fee listed (the documents do not say when fees of a new fill appear) or the fees
    /// are in several currencies or of both signs. Asked through [`Conversation::leg_fee`], after every order
    /// of the signal is done: a failure here costs the report a figure, never an order.
    async fn fees_of(&self, fills: &[crate::models::Fill]) -> Option<Decimal> {
        if fills.is_empty() {
            return None;
        }
        let mut all = Vec::new();
        for f in fills {
            let id = f.id?;
            let fees = self
                .optional_read(|t| async move { self.client().fill_fees(&t, id).await })
                .await?;
            if fees.is_empty() {
                return None;
            }
            all.extend(fees);
        }
        FillFee::total(&all).map(|(sum, _)| sum)
    }

    /// A found order's outcome; one still working is followed to its fill like a placement.
    async fn found(
        &self,
        req: &ExecRequest<'_>,
        leg: &PlannedLeg,
        order: &Order,
    ) -> Result<Ack, TvError> {
        match self.outcome_of(req, leg, order).await? {
            // A cancellation with nothing filled is confirmed by `follow` after the settle time.
            Ack::Working { .. } | Ack::Cancelled { .. } => {
                Ok(self.follow(req, leg, order.id).await)
            }
            done => Ok(done),
        }
    }

    /// When following an order ends: the staleness budget left, at least one settle time, at
    /// most the longest wait.
    fn wait_ends(&self, req: &ExecRequest<'_>) -> tokio::time::Instant {
        let bound = drive::remaining(&self.clock, req.deadline)
            .max(self.settings.settle)
            .min(self.settings.max_wait);
        tokio::time::Instant::now() + bound
    }

    /// Follows an accepted order to its end, bounded by the staleness budget (and at least
    /// one settle time): fills are asynchronous.
    /// A liquidation is done only when its order has ended, never by the position reading
    /// flat alone (see below).
    async fn follow(&self, req: &ExecRequest<'_>, leg: &PlannedLeg, order_id: OrderId) -> Ack {
        let until = self.wait_ends(req);
        // Why the order was last seen not done, for the leg's error if the wait ends so.
        let mut last = None;
        // When the order was first seen ended with nothing filled: taken as so only once a
        // settle time later it still reads so (fills and position), since Tradovate documents
        // no time by which an order's fills, or the position, show what it traded.
        let mut cancelled_since: Option<tokio::time::Instant> = None;
        let mut waits = drive::poll_waits(self.settings.poll_interval);
        loop {
            let read = self
                .authed(|t| async move { self.client().order(&t, order_id).await })
                .await;
            // Tradovate asks a client that got a 429 to stop ("stops handling requests for a
            // period of time", about an hour; <https://partner.tradovate.com/overview/core-concepts/rate-limits>),
            // and a penalty says when to come back: reading on every poll interval would only
            // lengthen the ban, for this signal and every later one. The order is left as is.
            if let Err(e @ (TvError::RateLimited | TvError::Penalty { .. })) = &read {
                return Ack::Working {
                    order_id: order_id.to_string().into(),
                    reason: format!(
                        "could not be followed: {e}; stopped reading, as Tradovate asks"
                    ),
                };
            }
            // An order found by `clOrdId` that was not read within the budget may be another
            // account's (one login, several accounts): its fill is not ours.
            if let Ok(order) = &read
                && order.account_id != self.account.id
            {
                return Ack::Working {
                    order_id: order_id.to_string().into(),
                    reason: format!(
                        "it is account {}'s, not this account's, so whether this account's order was placed is unknown",
                        order.account_id
                    ),
                };
            }
            // An order that ended (`Canceled`, `Expired`, ...) is judged by its fills and the
            // position.
            if let Ok(order) = &read {
                match self.outcome_of(req, leg, order).await {
                    Ok(ack @ (Ack::Filled { .. } | Ack::FilledInPart { .. })) => return ack,
                    Ok(Ack::Cancelled {
                        order_id: cancelled,
                        reason,
                    }) => {
                        let since = *cancelled_since.get_or_insert_with(tokio::time::Instant::now);
                        if since.elapsed() >= self.settings.settle {
                            // Why, when Tradovate says (a session closed for the daily halt,
                            // a risk check): the status alone reads the same for both. Read
                            // once, the end already decided.
                            let why = match order.ord_status.as_str() {
                                "Rejected" => self.rejection_words(req, order_id).await,
                                _ => None,
                            };
                            return Ack::Cancelled {
                                order_id: cancelled,
                                reason: match why {
                                    Some(why) => format!("{reason}: {why}"),
                                    None => reason,
                                },
                            };
                        }
                    }
                    Ok(Ack::Working { reason, .. }) => {
                        cancelled_since = None;
                        last = Some(reason);
                    }
                    // Its fills or the position read met a rate limit: stopped reading, as
                    // the order read's own does.
                    Err(e @ (TvError::RateLimited | TvError::Penalty { .. })) => {
                        return Ack::Working {
                            order_id: order_id.to_string().into(),
                            reason: format!(
                                "could not be followed: {e}; stopped reading, as Tradovate asks"
                            ),
                        };
                    }
                    _ => {}
                }
            }
            // A close still working is followed to its end even when the position reads flat
            // meanwhile: something else may have flattened it (a manual close, a stop), and
            // Tradovate does not document what a liquidation still working does once the
            // position is flat (`liquidatePosition` is documented as a request to close it,
            // not as an order of a size). Until it has ended, the next leg (a reversal's
            // open) must not leave: the liquidation could still trade against it.
            // A cancellation being confirmed gets its settle time, whatever the budget; no
            // more (reads that fail after the first `Canceled` one must not hold the wait
            // past both).
            let settled =
                cancelled_since.is_none_or(|since| since.elapsed() >= self.settings.settle);
            if tokio::time::Instant::now() >= until && settled {
                return Ack::Working {
                    order_id: order_id.to_string().into(),
                    reason: match last {
                        _ if cancelled_since.is_some() => "read as ended with nothing filled, then \
                            not read again as so within a settle time (its order, fills or the \
                            position unreadable): whether it traded is unknown"
                            .into(),
                        Some(why) => {
                            format!("{why}; still so when the wait ended (the staleness budget, or the attempt's lease when sooner)")
                        }
                        None => "never read as done when the wait ended (the staleness budget, or the attempt's lease when sooner): whether it traded is unknown".into(),
                    },
                };
            }
            let wait = waits.next().unwrap_or(self.settings.poll_interval);
            tokio::time::sleep(drive::wait_within(wait, until)).await;
        }
    }

    /// Order `id`, read again ([`drive::poll_waits`] apart) while a read fails for a reason another
    /// read may not meet (the server unreachable or failing, a 404 while a fresh order is not
    /// listed yet), within the budget [`Self::follow`] waits (the staleness budget, at least
    /// one settle time); the last failure once it is spent. A rate limit, a penalty or a
    /// refused login ends it at once: reading on would only lengthen the ban.
    async fn read_within_budget(
        &self,
        req: &ExecRequest<'_>,
        id: OrderId,
    ) -> Result<Order, TvError> {
        let until = self.wait_ends(req);
        let mut waits = drive::poll_waits(self.settings.poll_interval);
        loop {
            let read = self
                .authed(|t| async move { self.client().order(&t, id).await })
                .await;
            let again = read
                .as_ref()
                .is_err_and(|e| e.is_transient() || matches!(e, TvError::Api { status: 404, .. }));
            if !again || tokio::time::Instant::now() >= until {
                return read;
            }
            let wait = waits.next().unwrap_or(self.settings.poll_interval);
            tokio::time::sleep(drive::wait_within(wait, until)).await;
        }
    }

    async fn lookup_inner(
        &self,
        req: &ExecRequest<'_>,
        leg: &PlannedLeg,
        report: &LegReport,
    ) -> Result<Found, TvError> {
        let contract_id = self.contract_id(req.intent.instrument.as_str()).await?;
        let account = self.account.id;
        let coid = report.client_order_id.as_str();
        if leg.action == LegAction::Open {
            let ids = self
                .authed(|t| async move { self.client().order_ids_by_cl_ord_id(&t, coid).await })
                .await?;
            // Newest first. One login may see several accounts, and the same alert sent to the
            // deployment of each carries the same `clOrdId`: an order of another account is
            // not ours (the `Order` entity names its `accountId`, OpenAPI `Order` schema,
            // <https://partner.tradovate.com/openapi.json>). One that cannot be read is
            // read again until the budget's wait ends, so that one of another account is
            // passed over and the next id looked at; one never read is followed as ours (its
            // account unknown): never placed again.
            for &id in ids.iter().rev() {
                let order = self.read_within_budget(req, id).await;
                if let Ok(o) = &order
                    && o.account_id != account
                {
                    info!(
                        order_id = id.0,
                        "an order found by clOrdId is another account's: not ours"
                    );
                    continue;
                }
                // The command proves the order exists, listed or not yet.
                info!(order_id = id.0, "order found by its command's clOrdId");
                self.remember(id, coid);
                return Ok(Found::Order(match order {
                    Ok(order) => self.found(req, leg, &order).await?,
                    Err(_) => self.follow(req, leg, id).await,
                }));
            }
        }
        // An order on this contract since the send that we cannot tell apart from ours. Its
        // commands tell it apart where they are listed and say so: a `New` command naming
        // another `clOrdId` is another placement's; one naming none is a liquidation's
        // (`LiquidatePosition` has no such field) or a placement's whose `clOrdId` was not
        // copied onto its command, which the OpenAPI `Command` schema allows (the field is
        // optional) and no document rules out, so for an open it counts as ours.
        let since = report.sent_at.unwrap_or(req.intent.received_at) - SKEW;
        let action = match leg.side {
            Side::Buy => "Buy",
            Side::Sell => "Sell",
        };
        let orders = self
            .authed(|t| async move { self.client().account_orders(&t, account).await })
            .await?;
        let mut candidates: Vec<&Order> = orders
            .iter()
            .filter(|o| {
                o.contract_id == contract_id
                    && !self.belongs_elsewhere(o.id, coid)
                    && o.action.as_deref().is_none_or(|a| a == action)
                    && o.timestamp.is_none_or(|t| t >= since)
            })
            .collect();
        // Newest first by the order's own creation time (then its id), not by the list's
        // order, which no document states (it was read as oldest first).
        candidates.sort_by_key(|o| std::cmp::Reverse((o.timestamp, o.id.0)));
        for order in candidates {
            let id = order.id;
            let commands = self
                .authed(|t| async move { self.client().commands_of(&t, id).await })
                .await?;
            let new = commands.iter().find(|c| c.command_type == "New");
            let other = match (leg.action, new.map(|c| c.cl_ord_id.as_deref())) {
                // No command listed yet: it cannot be told apart, so it counts as ours.
                (_, None) => false,
                (LegAction::Open, Some(cl)) => cl.is_some_and(|cl| cl != coid),
                // A close is a liquidation: an order placed with any clOrdId is not it.
                (LegAction::Close(_), Some(cl)) => cl.is_some(),
            };
            if other {
                continue;
            }
            info!(
                order_id = id.0,
                "an order on the contract since the send; taken as ours"
            );
            let ack = self.found(req, leg, order).await?;
            // Taken without its command: an open must show in the position too, or it may be
            // an earlier leg's liquidation that the lists name no better.
            if leg.action == LegAction::Open
                && matches!(ack, Ack::Filled { .. } | Ack::FilledInPart { .. })
            {
                let net = self.net(contract_id).await?;
                let shows = match leg.side {
                    Side::Buy => net > 0,
                    Side::Sell => net < 0,
                };
                if !shows {
                    return Ok(Found::Inconclusive(format!(
                        "order {id} on the contract filled, but the position shows {net}: it may not be this open"
                    )));
                }
                // Named by its command, or placed by this process under this `clOrdId`.
                let named = new.and_then(|c| c.cl_ord_id.as_deref()) == Some(coid)
                    || self.placed_as(id, coid);
                // With no send time of its own (a takeover's or a replay's look for an earlier
                // attempt's open), the search reaches back to the alert: hours before a
                // replay, so every later signal's orders are in it, their liquidations
                // named by no `clOrdId` and perhaps of this open's size. Only a command
                // naming this open's `clOrdId` proves such an order ours.
                if !named && report.sent_at.is_none() {
                    return Ok(Found::Inconclusive(format!(
                        "order {id} on the contract filled, but no command names it this open's and no send time of this attempt bounds the search: it may be a later order (another signal's liquidation)"
                    )));
                }
                // Nor does its command name this open's `clOrdId`: an earlier leg's
                // liquidation on the same side is told apart only by its size. One of another
                // size, or filled in part, is not journaled as this open.
                let unlike = match &ack {
                    Ack::Filled {
                        quantity: Some(q), ..
                    } if *q == leg.quantity => None,
                    Ack::Filled {
                        quantity: Some(q), ..
                    } => Some(format!("{q} contract(s)")),
                    Ack::Filled { quantity: None, .. } => Some("with no fill listed".to_owned()),
                    _ => Some("in part".to_owned()),
                };
                if !named
                    && !leg.quantity.is_zero()
                    && let Some(unlike) = unlike
                {
                    return Ok(Found::Inconclusive(format!(
                        "order {id} on the contract filled {unlike}, and no command names it this open's (of {}): it may not be this open",
                        leg.quantity
                    )));
                }
            }
            self.remember(id, coid);
            return Ok(Found::Order(ack));
        }
        let net = self.net(contract_id).await?;
        let moved = match leg.action {
            LegAction::Close(_) => net == 0,
            // Before an open the plan left the account flat on this side.
            LegAction::Open => match leg.side {
                Side::Buy => net > 0,
                Side::Sell => net < 0,
            },
        };
        // A flat position with no liquidation listed is the close done for an exit, whose
        // target it is. Before a reversal's open it is no proof: something else may have
        // closed the side while the liquidation, not listed yet (Tradovate documents no time
        // within which an order is listed), still works and could trade against the open.
        let opens_next = matches!(
            req.intent.target,
            shared::alert::TargetPosition::Long | shared::alert::TargetPosition::Short
        );
        if moved && opens_next && matches!(leg.action, LegAction::Close(_)) {
            // Named by contract: on a roll's close it is the earlier contract, not the one the
            // open trades.
            return Ok(Found::Inconclusive(format!(
                "the position in {} shows flat but no liquidation of ours is listed: it may \
                 still be working (what it does once the side is flat is undocumented), so \
                 nothing more is sent",
                req.intent.instrument
            )));
        }
        if moved {
            return Ok(match leg.action {
                LegAction::Close(_) => Found::Order(Ack::Filled {
                    order_id: None,
                    quantity: None,
                    price: None,
                    fee: None,
                }),
                LegAction::Open => Found::Inconclusive(format!(
                    "the position shows {net} but no order of ours is listed"
                )),
            });
        }
        Ok(Found::NotCreated)
    }
}

/// An `ordStatus` after which the order trades no more: `Filled`, `Completed`, `Rejected`,
/// `Canceled`, `Expired` (OpenAPI `Order` schema's values; the others, `Working`, `PendingNew`,
/// `PendingCancel`, `PendingReplace`, `Suspended`, `Unknown`, may still trade).
fn has_ended(status: &str) -> bool {
    matches!(
        status,
        "Filled" | "Completed" | "Rejected" | "Canceled" | "Expired"
    )
}

/// The filled quantity and the average fill price of an order's fills (`/fill/deps`).
fn filled(fills: &[crate::models::Fill]) -> (Option<Decimal>, Option<Decimal>) {
    let qty: i64 = fills.iter().map(|f| f.qty).sum();
    if qty <= 0 {
        return (None, None);
    }
    let value: Decimal = fills.iter().map(|f| f.price * Decimal::from(f.qty)).sum();
    (Some(Decimal::from(qty)), Some(value / Decimal::from(qty)))
}

/// A token that could not be got: nothing was sent with it. Its own kind, so that a refused
/// login is not read as Tradovate refusing the request (a contract lookup ended `rejected`,
/// "Tradovate does not know contract ESZ6"), nor a lock or store failure before a send as an
/// order whose fate is unknown.
///
/// A rate limit or penalty on the login or renewal stays itself, so that a wait for a fill or
/// a flat position stops reading (and renewing) rather than lengthen the ban.
fn token_error(e: TokenError) -> TvError {
    match e {
        TokenError::Tradovate(TvError::Refused(why)) => TvError::LoginRefused(why),
        TokenError::Tradovate(e @ (TvError::RateLimited | TvError::Penalty { .. })) => e,
        other => TvError::NoToken(other.to_string()),
    }
}

impl<S: TokenStore, L: LeaseLock, C: Clock + Clone> Conversation for TradovateVenue<S, L, C> {
    type Mark = ();

    fn broker(&self) -> Broker {
        Broker::Tradovate
    }

    fn account(&self) -> &str {
        &self.account_key
    }

    fn book(&self) -> Book {
        Book::Margin
    }

    fn settle_time(&self) -> Duration {
        self.settings.settle
    }

    /// No: Tradovate documents placement as "a request, not a guarantee" and no time within
    /// which a placed order's command is listed, nor that a second order with the same
    /// `clOrdId` is refused (OpenAPI `PlaceOrder`, <https://partner.tradovate.com/openapi.json>).
    /// An order not found after the settle time may still be placed: the leg ends `unknown`,
    /// alarmed, and the trader decides.
    fn resends_after_unknown(&self) -> bool {
        false
    }

    fn poll_interval(&self) -> Duration {
        self.settings.poll_interval
    }

    fn closes_are_asynchronous(&self) -> bool {
        true
    }

    /// A liquidation carries no `clOrdId` (OpenAPI `LiquidatePosition`): an earlier attempt's
    /// close cannot be told apart from another order on the contract.
    fn recovers_closes(&self) -> bool {
        false
    }

    /// The leg's order's fills (`fill/deps`), then their fees (`fillFee/deps`).
    async fn leg_fee(&self, report: &LegReport) -> Option<Decimal> {
        let id = OrderId(report.broker_order_id.as_ref()?.as_str().parse().ok()?);
        let fills = self
            .optional_read(|t| async move { self.client().fills(&t, id).await })
            .await?;
        self.fees_of(&fills).await
    }

    fn max_wait(&self) -> Duration {
        self.settings.max_wait
    }

    /// The contract's point value (`ESZ6` → 50), from the exchanges' contract specifications
    /// (`shared::contract_specs`); used only for the notional cap, which refuses a root not
    /// listed there.
    fn multiplier(&self, req: &ExecRequest<'_>) -> Decimal {
        shared::contract_specs::capped_point_value(req.intent.instrument.as_str())
    }

    async fn holdings(&self, req: &ExecRequest<'_>) -> Result<(Holdings, ()), ReadError> {
        let name = req.intent.instrument.as_str();
        let contract_id = match self.contract_id(name).await {
            Ok(id) => id,
            Err(TvError::Refused(why)) => {
                return Err(ReadError::Refused(format!(
                    "Tradovate does not know contract {name}: {why}"
                )));
            }
            // Not asked again and again with the same refused credentials.
            Err(e @ TvError::LoginRefused(_)) => return Err(ReadError::Refused(e.to_string())),
            Err(e) => return Err(unavailable(e)),
        };
        if let Some(res) = &req.intent.contract {
            info!(requested = %res.requested, contract = %res.contract, contract_id = contract_id.0, rule = %res.rule, "trading the resolved contract");
        }
        self.working_order(contract_id).await?;
        let net = self.net(contract_id).await.map_err(unavailable)?;
        Ok((Holdings::net(Decimal::from(net)), ()))
    }

    /// The account's positions in other contracts of the same root (`/position/list`, each
    /// contract's name by `/contract/item`): what a roll left behind.
    async fn earlier_contracts(
        &self,
        req: &ExecRequest<'_>,
    ) -> Result<Vec<(String, Holdings)>, ReadError> {
        let name = req.intent.instrument.as_str();
        let root = contract_root(name);
        // Named: what was read, for the account's other contracts of the root. A refusal
        // (a contract Tradovate will not describe, refused credentials) is final: the signal
        // is refused by name rather than retried until it is dead-lettered.
        let failed = |what: String| {
            move |e: TvError| {
                let doing = format!("reading the account's other {root} contracts ({what})");
                match e {
                    TvError::Refused(why) => ReadError::Refused(format!("{doing}: {why}")),
                    e @ TvError::LoginRefused(_) => ReadError::Refused(format!("{doing}: {e}")),
                    e => match unavailable(e) {
                        ReadError::Unavailable(why) => {
                            ReadError::Unavailable(format!("{doing}: {why}"))
                        }
                        other => other,
                    },
                }
            }
        };
        let current = self
            .contract_id(name)
            .await
            .map_err(failed(format!("contract {name}")))?;
        let account = self.account.id;
        let positions = self
            .authed(|t| async move { self.client().positions(&t).await })
            .await
            .map_err(failed("the position list".into()))?;
        let mut out = Vec::new();
        // The newest entry of each contract only: an older one (an earlier trade date) can
        // still read long where the contract is flat now.
        for p in crate::models::latest(&positions)
            .into_iter()
            .filter(|p| p.account_id == account && p.contract_id != current && p.net_pos != 0)
        {
            let id = p.contract_id;
            // Named from the cache where a signal read it before (each name asked once, not at
            // every signal: reads count against the rate limit, whose breach stops trading
            // for an hour), else by id. A contract Tradovate will not name is refused by its
            // id (below), journaled and alarmed: whether it is an earlier contract of this
            // root cannot be told, and retrying cannot change that (each retry would spend
            // reads, then the message dead-letter with no row).
            let known = self
                .contracts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .find(|(_, v)| **v == id)
                .map(|(name, _)| name.clone());
            let name = match known {
                Some(name) => name,
                None => {
                    let contract = self
                        .authed(|t| async move { self.client().contract_by_id(&t, id).await })
                        .await
                        .map_err(|e| match e {
                            TvError::Refused(why) => TvError::Refused(format!(
                                "{why}: the account holds a position (net {}) in a contract \
                                 Tradovate will not name, which may be an earlier {root} \
                                 contract; close it at Tradovate, then send the signal again",
                                p.net_pos
                            )),
                            e => e,
                        })
                        .map_err(failed(format!("contract id {}", id.0)))?;
                    self.contracts
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(contract.name.clone(), id);
                    contract.name
                }
            };
            if contract_root(&name) == root {
                out.push((name, Holdings::net(Decimal::from(p.net_pos))));
            }
        }
        Ok(out)
    }

    /// Futures trade in whole contracts: `orderQty` is an integer in `PlaceOrder`.
    async fn rules(&self, _: &ExecRequest<'_>) -> Result<TradingRules, ReadError> {
        Ok(TradingRules::whole_contracts())
    }

    async fn send(
        &self,
        req: &ExecRequest<'_>,
        leg: &PlannedLeg,
        report: &LegReport,
    ) -> Result<Ack, SendError> {
        let contract_id = self
            .contract_id(req.intent.instrument.as_str())
            .await
            .map_err(|e| SendError::NotExecuted {
                reason: e.to_string(),
                retry_after: None,
            })?;
        let account = self.account.id;
        let is_close = matches!(leg.action, LegAction::Close(_));
        let order_id = match leg.action {
            LegAction::Close(_) => {
                // A close with a leg after it (a reversal's open, a roll's next close or open)
                // is sent again after a penalty only with that leg's time still left, as the
                // core tells it (`then_needs`, the settle time and one poll): sent later, it
                // fills and the leg after it expires (a reversal at neither side, a spread left
                // one-legged).
                let margin = leg
                    .then_needs
                    .and_then(|n| chrono::Duration::from_std(n).ok())
                    .unwrap_or_default();
                let sent = self
                    .authed_command(req.deadline - margin, |t, budget| async move {
                        self.client()
                            .liquidate_position(&t, account, contract_id, budget)
                            .await
                    })
                    .await;
                match sent {
                    // Its resend did not fit before the leg after it: said so, not as a wait
                    // past the budget or a deadline passed.
                    Err(e @ (TvError::Penalty { .. } | TvError::PastDeadline))
                        if !margin.is_zero() =>
                    {
                        return Err(SendError::NotExecuted {
                            reason: format!(
                                "{e}; not sent (again) with less than the {} ms the leg after \
                                 this close needs left in the staleness budget",
                                margin.num_milliseconds()
                            ),
                            retry_after: Some(RATE_LIMIT_WAIT),
                        });
                    }
                    other => other,
                }
            }
            LegAction::Open => {
                // `to_i64` truncates (1.5 would go out as 1): a fraction is refused here too,
                // not only by the check before the first leg.
                let qty = Some(leg.quantity)
                    .filter(|q| q.fract().is_zero())
                    .and_then(|q| q.to_i64())
                    .ok_or_else(|| SendError::Rejected {
                        order_id: None,
                        reason: format!("{} is not a whole number of contracts", leg.quantity),
                    })?;
                let order = PlaceOrder {
                    account_spec: &self.account.name,
                    account_id: account,
                    cl_ord_id: report.client_order_id.as_str(),
                    action: match leg.side {
                        Side::Buy => OrderAction::Buy,
                        Side::Sell => OrderAction::Sell,
                    },
                    symbol: req.intent.instrument.as_str(),
                    order_qty: qty,
                    order_type: "Market",
                    is_automated: true,
                };
                let order = &order;
                self.authed_command(req.deadline, |t, budget| async move {
                    self.client().place_market_order(&t, order, budget).await
                })
                .await
            }
        }
        .map_err(classify)
        .map_err(|e| match e {
            SendError::Rejected { order_id, reason } if is_close => SendError::Rejected {
                order_id,
                reason: format!("{reason}; {LIQUIDATION_CANCELS}"),
            },
            e => e,
        })?;
        self.remember(order_id, report.client_order_id.as_str());
        let ack = match self.follow(req, leg, order_id).await {
            Ack::Cancelled { order_id, reason } if is_close => Ack::Cancelled {
                order_id,
                reason: format!("{reason}; {LIQUIDATION_CANCELS}"),
            },
            ack => ack,
        };
        if matches!(ack, Ack::Working { .. }) {
            self.note(contract_id, pending(leg, order_id));
        }
        Ok(ack)
    }

    async fn lookup(
        &self,
        req: &ExecRequest<'_>,
        leg: &PlannedLeg,
        report: &LegReport,
        _: &(),
    ) -> Found {
        let found = match self.lookup_inner(req, leg, report).await {
            Ok(found) => found,
            Err(e) => Found::Inconclusive(e.to_string()),
        };
        // A liquidation found ended without a fill (its answer lost, then read): as on the
        // send's own path.
        let found = match found {
            Found::Order(Ack::Cancelled { order_id, reason })
                if matches!(leg.action, LegAction::Close(_)) =>
            {
                Found::Order(Ack::Cancelled {
                    order_id,
                    reason: format!("{reason}; {LIQUIDATION_CANCELS}"),
                })
            }
            found => found,
        };
        // An order looked up and not seen to end holds its contract as one followed does
        // (see `send`).
        if let Found::Order(Ack::Working { order_id, .. }) = &found
            && let Ok(id) = order_id.as_str().parse::<i64>()
            && let Ok(contract_id) = self.contract_id(req.intent.instrument.as_str()).await
        {
            self.note(contract_id, pending(leg, OrderId(id)));
        }
        found
    }

    /// After a takeover: first, an order on the contract since the alert that still works
    /// and that no `clOrdId` names (a liquidation, perhaps the earlier attempt's, which this
    /// process may never have seen) fails it, since the position may read flat because
    /// something else closed it while that liquidation could still trade against an open
    /// sent now (the open this process placed for the signal is `recovered_open`'s); so does
    /// a failure to read the orders. Then the earlier attempt's open ([`Self::recovered_open`],
    /// which ends an open it cannot read `unknown` itself).
    async fn recover(&self, req: &ExecRequest<'_>) -> Result<Vec<LegReport>, ReadError> {
        let contract_id = self
            .contract_id(req.intent.instrument.as_str())
            .await
            .map_err(unavailable)?;
        let open = req.client_order_id(shared::execution::Leg::Open);
        if let Some(why) = self
            .unnamed_working_since(contract_id, req.intent.received_at, open.as_str())
            .await
            .map_err(unavailable)?
        {
            return Err(ReadError::Unavailable(format!(
                "{why}: nothing is planned until it ends"
            )));
        }
        Ok(self.recovered_open(req).await)
    }
}

impl<S: TokenStore, L: LeaseLock, C: Clock + Clone> TradovateVenue<S, L, C> {
    /// The first order of this account on `contract_id` created since `since` (less the
    /// skew) that still works and whose `New` command names no `clOrdId`, or is not listed
    /// yet, in words (`None`: none): a liquidation (`LiquidatePosition` takes no `clOrdId`),
    /// or an order placed outside this pipeline that the lists cannot tell from one. The
    /// order this process placed under `ours` is passed over, and ended orders are not read.
    async fn unnamed_working_since(
        &self,
        contract_id: ContractId,
        since: DateTime<Utc>,
        ours: &str,
    ) -> Result<Option<String>, TvError> {
        let account = self.account.id;
        let from = since - SKEW;
        let orders = self
            .authed(|t| async move { self.client().account_orders(&t, account).await })
            .await?;
        for order in orders.iter().filter(|o| {
            o.contract_id == contract_id
                && !has_ended(&o.ord_status)
                && o.timestamp.is_none_or(|t| t >= from)
                && !self.placed_as(o.id, ours)
        }) {
            let id = order.id;
            let commands = self
                .authed(|t| async move { self.client().commands_of(&t, id).await })
                .await?;
            let new = commands.iter().find(|c| c.command_type == "New");
            if new.is_none_or(|c| c.cl_ord_id.is_none()) {
                // It holds the contract as a liquidation followed to the end of its wait
                // does: the process that sent it may have died following it, and the next
                // signal must not plan from a position it is about to change. One placed by
                // hand (a stop, a limit) is held too, until it ends or is cancelled (the
                // reason says so): the lists cannot tell it from a liquidation.
                self.note(contract_id, Pending::Unnamed(id));
                return Ok(Some(format!(
                    "order {id} on the contract since {since}, named by no clOrdId (a \
                     liquidation, perhaps ours, or an order placed outside this pipeline: cancel \
                     it at the broker if it is not a liquidation), is still {}",
                    executor_runtime::http::shown_text(order.ord_status.as_bytes())
                )));
            }
        }
        Ok(None)
    }

    /// After a takeover: the earlier attempt's open, found by its `New` command's `clOrdId`
    /// (`/command/list`, read after the settle time as a lookup is: the list may lag a fresh
    /// order; OpenAPI `Command` schema) and followed like a placement (one still working, for
    /// at least the settle time). A found open ends the signal with its outcome: the core
    /// never places a second one, where a market order resting in a locked market, or a fill
    /// the position does not show yet, would otherwise be doubled. Commands that cannot be
    /// read, two of the account's orders under the `clOrdId`, or a fill not listed yet end it
    /// `unknown` for the same reason. An order of another account (one login, several
    /// accounts) is not ours.
    ///
    /// An earlier close is not reported here: a liquidation carries no `clOrdId` (OpenAPI
    /// `LiquidatePosition` has no such field), so it cannot be told apart from another order
    /// on the contract. The plan comes from the position; a close the takeover waits for is
    /// journaled as it lands, one that landed before is not.
    async fn recovered_open(&self, req: &ExecRequest<'_>) -> Vec<LegReport> {
        use shared::alert::TargetPosition;
        use shared::execution::Leg;
        use shared::outcome::Outcome;
        let side = match req.intent.target {
            TargetPosition::Long => Side::Buy,
            TargetPosition::Short => Side::Sell,
            // No open in an exit or a flatten.
            TargetPosition::Flat | TargetPosition::NoLong | TargetPosition::NoShort => {
                return Vec::new();
            }
        };
        let coid = req.client_order_id(Leg::Open);
        // The size asked for, as a row of a leg not filled carries: the journal keeps one row
        // per send, and this one may replace the earlier attempt's. A stale takeover asks
        // none (zero): the executor keeps the size journaled for the order then.
        let asked = match req.size {
            executor_runtime::venue::Size::Quantity(q) => q,
            executor_runtime::venue::Size::Notional(_) => Decimal::ZERO,
        };
        let mut report = LegReport::new(req, Leg::Open, side, asked);
        let unknown = |mut report: LegReport, why: String| {
            report.outcome = Outcome::Unknown;
            report.error = Some(why);
            vec![report]
        };
        let cl = coid.as_str();
        tokio::time::sleep(self.settings.settle).await;
        let ids = match self
            .authed(|t| async move { self.client().order_ids_by_cl_ord_id(&t, cl).await })
            .await
        {
            Ok(ids) => ids,
            Err(e) => {
                return unknown(
                    report,
                    format!(
                        "an earlier attempt's open could not be looked up ({e}): not placing one"
                    ),
                );
            }
        };
        // Each order read once: one of another account (one login, several accounts) is not
        // ours; one that cannot be read is counted as ours.
        let mut ours = Vec::new();
        for id in ids {
            match self
                .authed(|t| async move { self.client().order(&t, id).await })
                .await
            {
                Ok(order) if order.account_id != self.account.id => {
                    info!(
                        order_id = id.0,
                        "an open found by clOrdId is another account's: not ours"
                    );
                }
                Ok(order) => ours.push((id, Some(order))),
                Err(_) => ours.push((id, None)),
            }
        }
        let (id, order) = match ours.len() {
            0 => return self.open_not_listed(req, side, report).await,
            1 => ours.remove(0),
            _ => {
                // Either may still trade: each holds the contract (see `send`).
                for (id, _) in &ours {
                    self.hold_open(req, *id).await;
                }
                let ids: Vec<String> = ours.iter().map(|(i, _)| i.to_string()).collect();
                return unknown(
                    report,
                    format!(
                        "orders {} all carry this signal's open clOrdId: not placing another",
                        ids.join(", ")
                    ),
                );
            }
        };
        info!(
            order_id = id.0,
            "an earlier attempt's open, found by its command's clOrdId"
        );
        self.remember(id, cl);
        report.broker_order_id = Some(id.to_string().into());
        // The size asked, so that an order ended with fewer contracts filled is found in part
        // (zero when none is asked: any fill then reads as the whole).
        let leg = PlannedLeg {
            leg: Leg::Open,
            action: LegAction::Open,
            side,
            quantity: asked,
            then_needs: None,
        };
        let ack = match order {
            Some(order) => {
                if let Some(action) = order.action.as_deref() {
                    report.side = if action == "Sell" {
                        Side::Sell
                    } else {
                        Side::Buy
                    };
                }
                self.found(req, &leg, &order).await
            }
            None => Ok(self.follow(req, &leg, id).await),
        };
        report.acked_at = Some(self.clock.now());
        match ack.map(Ack::split_in_part) {
            Ok((
                Ack::Filled {
                    quantity: Some(quantity),
                    price,
                    fee,
                    ..
                },
                rest,
            )) => {
                report.quantity = quantity;
                report.fill_price = price;
                report.fee = fee;
                report.outcome = Outcome::Filled;
                in_part(&mut report, rest);
                vec![report]
            }
            Ok((Ack::Filled { quantity: None, .. } | Ack::FilledInPart { .. }, _)) => {
                // Its fills, not listed yet, may not show in the position either.
                self.hold_open(req, id).await;
                unknown(
                    report,
                    format!(
                        "order {id} of an earlier attempt filled, its fills not listed yet: not placing another"
                    ),
                )
            }
            Ok((Ack::Cancelled { reason, .. }, _)) => {
                report.outcome = Outcome::Rejected;
                report.error = Some(reason);
                vec![report]
            }
            Ok((Ack::Working { .. } | Ack::NothingToClose, _)) => {
                // Still working, it holds the contract as an open this process followed does
                // (see `send`); not held, the next signal planned without it.
                self.hold_open(req, id).await;
                unknown(
                    report,
                    format!(
                        "order {id} of an earlier attempt is still working: not placing another"
                    ),
                )
            }
            Err(e) => {
                // Unread, it may still trade, or have filled into a position not showing it
                // yet: held as a working one is.
                self.hold_open(req, id).await;
                unknown(
                    report,
                    format!(
                        "order {id} of an earlier attempt could not be read ({e}): not placing another"
                    ),
                )
            }
        }
    }
}

impl<S: TokenStore, L: LeaseLock, C: Clock + Clone> TradovateVenue<S, L, C> {
    /// Holds the signal's contract on order `id`, an earlier attempt's open a takeover found
    /// not ended (or ended with its fills not listed), as `send` holds one it followed.
    async fn hold_open(&self, req: &ExecRequest<'_>, id: OrderId) {
        match self.contract_id(req.intent.instrument.as_str()).await {
            Ok(contract_id) => self.note(contract_id, Pending::Open(id)),
            Err(e) => {
                warn!(order_id = id.0, error = %e, "an earlier attempt's open not held: its contract could not be read");
            }
        }
    }

    /// After a takeover, when no command lists the earlier attempt's open: the other sources
    /// a lookup reads, after the settle time (the account's orders on the contract since the
    /// alert, then the position). Tradovate documents no time within which a placement's
    /// command is listed, nor that the lists lag together, and the position the plan comes
    /// from was read before the settle time. An order there that may be the open, or a
    /// position already on the open's side, ends the signal `unknown` (never a second open);
    /// only when every source shows nothing does the core plan from the position.
    async fn open_not_listed(
        &self,
        req: &ExecRequest<'_>,
        side: Side,
        mut report: LegReport,
    ) -> Vec<LegReport> {
        use shared::execution::Leg;
        use shared::outcome::Outcome;
        // The size asked ([`Self::recovered_open`]'s row carries it), as there.
        let leg = PlannedLeg {
            leg: Leg::Open,
            action: LegAction::Open,
            side,
            quantity: report.quantity,
            then_needs: None,
        };
        let why = match self.lookup_inner(req, &leg, &report).await {
            Ok(Found::NotCreated) => return Vec::new(),
            Ok(Found::Order(ack)) => match ack.split_in_part() {
                (
                    Ack::Filled {
                        order_id,
                        quantity: Some(quantity),
                        price,
                        fee,
                    },
                    rest,
                ) => {
                    report.broker_order_id = order_id;
                    report.quantity = quantity;
                    report.fill_price = price;
                    report.fee = fee;
                    report.outcome = Outcome::Filled;
                    report.acked_at = Some(self.clock.now());
                    in_part(&mut report, rest);
                    return vec![report];
                }
                (ack, _) => {
                    let state = match ack {
                        Ack::Working { order_id, .. } => {
                            // May be the earlier attempt's open: held as one (see `send`).
                            if let Ok(id) = order_id.as_str().parse::<i64>() {
                                self.hold_open(req, OrderId(id)).await;
                            }
                            report.broker_order_id = Some(order_id);
                            "still working".to_owned()
                        }
                        Ack::Cancelled { order_id, reason } => {
                            report.broker_order_id = order_id;
                            format!("cancelled: {reason}")
                        }
                        Ack::Filled { order_id, .. } | Ack::FilledInPart { order_id, .. } => {
                            // Its fills not listed, the position may not show them either:
                            // held as in `recovered_open`.
                            if let Some(id) = order_id
                                .as_ref()
                                .and_then(|o| o.as_str().parse::<i64>().ok())
                            {
                                self.hold_open(req, OrderId(id)).await;
                            }
                            report.broker_order_id = order_id;
                            "filled, its fills not listed yet".to_owned()
                        }
                        Ack::NothingToClose => "nothing to close".to_owned(),
                    };
                    format!(
                        "an order on the contract since the alert, not listed under this signal's clOrdId, may be an earlier attempt's open ({state})"
                    )
                }
            },
            Ok(Found::Inconclusive(why)) => why,
            Err(e) => format!("an earlier attempt's open could not be looked up ({e})"),
        };
        report.outcome = Outcome::Unknown;
        report.error = Some(format!("{why}: not placing another"));
        report.acked_at = Some(self.clock.now());
        vec![report]
    }
}

/// Marks an earlier attempt's open found filled short of its size (`rest`: what did not
/// fill, as [`Ack::FilledInPart`] says it): the core then stops the signal there, alarmed, as
/// after a send's own fill in part.
fn in_part(report: &mut LegReport, rest: Option<String>) {
    if let Some(rest) = rest {
        report.in_part = true;
        report.error = Some(rest);
    }
}

/// The account's `netPos` in the contract (`/contract/find`, `/position/list`).
impl<S: TokenStore, L: LeaseLock, C: Clock + Clone> executor_runtime::venue::PositionRead
    for TradovateVenue<S, L, C>
{
    async fn position(&self, instrument: &str) -> Result<Decimal, ReadError> {
        let contract_id = self.contract_id(instrument).await.map_err(unavailable)?;
        let net = self.net(contract_id).await.map_err(unavailable)?;
        Ok(Decimal::from(net))
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
        drive::execute(self, &self.clock, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command that never left is not executed (the core looks it up before any second
    /// send); one that may have reached Tradovate stays unknown.
    #[test]
    fn a_command_never_sent_is_not_executed_and_a_lost_one_unknown() {
        assert!(matches!(
            classify(TvError::NotSent("connection failed".into())),
            SendError::NotExecuted { reason, retry_after: None }
                if reason == "not sent: could not connect to Tradovate (connection failed)"
        ));
        assert!(matches!(
            classify(TvError::Unknown("timed out".into())),
            SendError::Unknown(_)
        ));
    }

    /// A rate limit or penalty met while getting a token is still a rate limit to a read (a
    /// wait stops on it); another token failure is unavailable.
    #[test]
    fn a_rate_limit_while_getting_a_token_stays_a_rate_limit() {
        let limited = token_error(TokenError::Tradovate(TvError::RateLimited));
        assert!(matches!(limited, TvError::RateLimited), "{limited:?}");
        assert!(matches!(unavailable(limited), ReadError::RateLimited(_)));
        let penalty = token_error(TokenError::Tradovate(TvError::Penalty {
            wait_secs: Some(30),
            captcha: false,
        }));
        assert!(matches!(unavailable(penalty), ReadError::RateLimited(_)));
        let down = token_error(TokenError::Tradovate(TvError::Unreachable("x".into())));
        assert!(matches!(unavailable(down), ReadError::Unavailable(_)));
    }

    /// A 429 to an order command is a stop with no lookup (`unknown`); a rate limit met
    /// getting the token for it, before the command was built, is a command never sent
    /// (`not_executed`, nothing looked up).
    #[test]
    fn a_429_stops_and_a_token_rate_limit_is_a_command_never_sent() {
        assert!(matches!(
            classify(TvError::RateLimited),
            SendError::Stopped(reason) if reason.contains("429")
        ));
        assert!(matches!(
            classify(TvError::TokenRateLimited("429".into())),
            SendError::Unsent(reason) if reason.contains("renewal is rate limited")
        ));
    }

    /// No 4xx to an order command is documented as "not placed" (a 400 "usually" means a
    /// malformed request, a 404 that something was not found; a proxy's 408 or 409 says
    /// nothing of Tradovate): each is looked up, unknown. (429 and 423 stop the client, and
    /// 401 is looked up: above.)
    #[test]
    fn no_4xx_to_an_order_is_taken_as_a_refusal() {
        let api = |status| TvError::Api {
            status,
            message: "x".into(),
        };
        for status in [400, 403, 404, 408, 409, 422] {
            assert!(
                matches!(classify(api(status)), SendError::Unknown(_)),
                "{status}"
            );
        }
    }
}
