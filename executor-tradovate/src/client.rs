//! The Tradovate REST client.
//!
//! Tradovate answers most failures with HTTP 200 and a body that says so, so every body is
//! read for `errorText`, `failureReason`, `violations` and penalty tickets before it is
//! trusted. A penalty ticket means the request was not carried out: it is resent after
//! `p-time` with the ticket added (a documented resend, not a blind retry); a captcha cannot be
//! solved by a server and fails (a login's, which always has one, also stops the client as a
//! 429 does), and so does a third penalty in a row. A 429 is never asked
//! again: Tradovate asks for about an hour without requests. Full logins are kept under 10 a
//! minute by each process, whatever clients it builds for a server.

use crate::error::TvError;
use crate::models::*;
use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use executor_runtime::http::{describe, never_sent, shown_text};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::warn;

pub const DEMO_URL: &str = "https://demo.tradovateapi.com/v1";
pub const LIVE_URL: &str = "https://live.tradovateapi.com/v1";

/// Tradovate allows about 10 authentication requests a minute ("authentication 10 req/min",
/// <https://partner.tradovate.com/overview/core-concepts/rate-limits>); stay under it. The
/// page does not say which requests count, so a renewal (`/auth/renewaccesstoken`) counts
/// as a login does: safe whichever way Tradovate counts it.
pub const MAX_LOGINS_PER_MINUTE: usize = 9;

/// The renewal's path (`GET /auth/renewaccesstoken`).
const RENEW_PATH: &str = "/auth/renewaccesstoken";

/// How long a client holds off after a renewal's penalty ticket whose `p-time` cannot be
/// read (seconds): the penalty-tickets page gives the wait only in the ticket.
const RENEWAL_PENALTY_HOLD_SECS: u64 = 60;

/// When the logins and token renewals of the last minute were sent, oldest first.
type Logins = Arc<Mutex<VecDeque<Instant>>>;

/// Until when no renewal nor login is sent, after a penalty ticket not waited out.
type Held = Arc<Mutex<Option<Instant>>>;

/// The ticket of a login's penalty held rather than waited out, and when its wait ends.
type LoginTicket = Arc<Mutex<Option<(String, Instant)>>>;

/// A client's authentication state: its logins of the last minute, a penalty's hold and a
/// held login's ticket.
#[derive(Clone, Default)]
struct Auth {
    logins: Logins,
    held: Held,
    ticket: LoginTicket,
}

/// This process's authentication state for the server at a base URL: the whole process's,
/// not a client's, since an executor whose start failed (a refused account list, a login
/// that timed out or drew a penalty) builds a new client for each retry of its batch, and
/// each retry's login counted against a fresh cap, outside a penalty's hold and without its
/// ticket ([`TradovateClient::sharing_process_logins`]).
fn process_auth(base: &str) -> Auth {
    static AUTH: std::sync::OnceLock<Mutex<std::collections::HashMap<String, Auth>>> =
        std::sync::OnceLock::new();
    AUTH.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(base.to_owned())
        .or_default()
        .clone()
}

/// How long after its wait a held login's ticket is still sent with the next login: past it,
/// the ticket is stale (Tradovate documents no lifetime) and the login goes without it.
const LOGIN_TICKET_KEPT: Duration = Duration::from_secs(300);

/// The credential set of an API key. Secrets never print.
#[derive(Clone)]
pub struct Credentials {
    pub name: String,
    pub password: SecretString,
    pub app_id: String,
    pub app_version: String,
    /// Stable per deployment: live checks it.
    pub device_id: String,
    pub cid: i64,
    pub sec: SecretString,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The username and the API key id are kept as secrets too (SecureString parameters,
        // `config::CREDENTIALS`).
        f.debug_struct("Credentials")
            .field("name", &"[REDACTED]")
            .field("app_id", &"[REDACTED]")
            .field("device_id", &"[REDACTED]")
            .field("cid", &"[REDACTED]")
            .field("password", &"[REDACTED]")
            .field("sec", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// An access token and when it expires.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub access_token: SecretString,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy)]
pub struct ClientSettings {
    pub timeout: Duration,
    pub read_attempts: usize,
    pub read_backoff: Duration,
    /// The longest penalty or 429 wait honoured inside one invocation.
    pub max_wait: Duration,
    /// How long no request is sent after a 429 ([`RATE_LIMIT_STOP`] by default).
    pub rate_limit_stop: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(8),
            read_attempts: 3,
            read_backoff: Duration::from_millis(100),
            max_wait: Duration::from_secs(10),
            rate_limit_stop: RATE_LIMIT_STOP,
        }
    }
}

pub struct TradovateClient {
    http: reqwest::Client,
    base: String,
    settings: ClientSettings,
    /// This client's logins of the last minute, or the process's to its base URL
    /// ([`Self::sharing_process_logins`]).
    logins: Logins,
    /// Until when no request is sent, after a 429 (`settings.rate_limit_stop`) or a stop
    /// another process met ([`Self::stop_for`]).
    stopped_until: Mutex<Option<Instant>>,
    /// Until when no renewal (nor a login) is sent: a renewal's penalty ticket, or a login's
    /// not waited out, asked for that wait ([`Self::renewal_held`]).
    renewal_held_until: Held,
    /// The ticket of a login's penalty held rather than waited out, and when its wait ends:
    /// the next login, once the wait has passed, is that request's resend and carries it (the
    /// penalty-tickets page: the identical body plus `p-ticket`), within
    /// [`LOGIN_TICKET_KEPT`] of it.
    login_ticket: LoginTicket,
    /// When this client was last answered 429 (or 423, or a login's or renewal's captcha penalty).
    rate_limited_at: Mutex<Option<Instant>>,
}

/// How long no request is sent after a 429: Tradovate's rate-limits page asks for about an
/// hour without requests, which no request can shorten and each one may lengthen
/// (<https://partner.tradovate.com/overview/core-concepts/rate-limits>). Kept by the client, and
/// stored beside the token for the deployment's other processes
/// (`crate::token::TokenManager::share_stop`), which hold it at most this long.
pub const RATE_LIMIT_STOP: Duration = Duration::from_secs(3600);

/// The login's path (`POST /auth/accesstokenrequest`).
const LOGIN_PATH: &str = "/auth/accesstokenrequest";

impl std::fmt::Debug for TradovateClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TradovateClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Whether a failure of this request could mean it was carried out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    /// An order command; a penalty is waited out and the command resent only when the wait
    /// fits within `budget` (the signal's staleness budget left): nothing is sent after it.
    Command {
        budget: Duration,
    },
}

impl TradovateClient {
    pub fn new(base: &str, settings: ClientSettings) -> Result<Self, TvError> {
        executor_runtime::http::check_base_url("TRADOVATE_BASE_URL", base)
            .map_err(TvError::BaseUrl)?;
        let http = executor_runtime::http::broker_client(settings.timeout)
            .map_err(|e| TvError::Unreachable(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            settings,
            logins: Logins::default(),
            stopped_until: Mutex::new(None),
            renewal_held_until: Held::default(),
            login_ticket: LoginTicket::default(),
            rate_limited_at: Mutex::new(None),
        })
    }

    /// [`Self::call_unscrubbed`], every error text scrubbed of the access token sent by its
    /// value: an answer (a gateway, a debugging server at the base URL) may echo it without
    /// the `Bearer` that `shown_text` redacts by, and error texts are journaled, logged and
    /// mailed.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&SecretString>,
        body: Option<Value>,
        kind: Kind,
    ) -> Result<Value, TvError> {
        let result = self.call_unscrubbed(method, path, token, body, kind).await;
        match token
            .map(ExposeSecret::expose_secret)
            .filter(|t| !t.is_empty())
        {
            Some(t) => result.map_err(|e| without_token(e, t)),
            None => result,
        }
    }

    async fn call_unscrubbed(
        &self,
        method: Method,
        path: &str,
        token: Option<&SecretString>,
        body: Option<Value>,
        kind: Kind,
    ) -> Result<Value, TvError> {
        let url = format!("{}{}", self.base, path);
        let mut body = body;
        // An order command's budget ends at a fixed instant: each penalty is measured against
        // what is left of it, not against the whole.
        let budget_ends = match kind {
            Kind::Command { budget } => Some(tokio::time::Instant::now() + budget),
            Kind::Read => None,
        };
        let lost = |what: String| match kind {
            Kind::Command { .. } => TvError::Unknown(what),
            Kind::Read => TvError::Unreachable(what),
        };
        // The last penalty ticket's `p-time` and captcha, once one came.
        let mut ticketed: Option<(Option<u64>, bool)> = None;
        for pass in 0..3 {
            // Within the stop a 429 asked for: not sent. An order command so refused never
            // left (nothing to look up); a read is refused as the 429 itself would be. A
            // penalty's resend so refused is that penalty: the request left, and its ticket
            // says not carried out.
            if let Some(left) = self.stopped_for() {
                return Err(match (ticketed, kind) {
                    (Some((wait_secs, captcha)), _) => TvError::Penalty { wait_secs, captcha },
                    (None, Kind::Command { .. }) => TvError::Stopped(left.as_secs().div_ceil(60)),
                    (None, Kind::Read) => TvError::RateLimited,
                });
            }
            let mut req = self.http.request(method.clone(), &url);
            if let Some(t) = token {
                req = req.bearer_auth(t.expose_secret());
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(|e| match kind {
                Kind::Command { .. } if never_sent(&e) => TvError::NotSent(describe(e)),
                _ => lost(describe(e)),
            })?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED {
                return Err(TvError::Unauthorized);
            }
            // Tradovate's rate-limits page documents a 429 with no body and no `Retry-After`
            // and asks for about an hour without requests: a `Retry-After` header, which it
            // does not define, is not read as leave to come back sooner, for a read or an
            // order command alike.
            // A 423 "precedes a 429 ... you're about to be locked out of the API" (the
            // error-handling page, <https://partner.tradovate.com/overview/core-concepts/error-handling>),
            // and the rate-limits page asks to "stop all API calls when receiving 423
            // responses" for the hour: the same stop as a 429's.
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::LOCKED {
                self.start_stop();
                warn!(
                    status = status.as_u16(),
                    stop_secs = self.settings.rate_limit_stop.as_secs(),
                    "Tradovate answered 429 or 423: no request is sent for the stop it asks"
                );
                return Err(TvError::RateLimited);
            }
            if status.is_server_error() {
                return Err(lost(format!("Tradovate answered {status}")));
            }
            let bytes = resp.bytes().await.map_err(|e| lost(describe(e)))?;
            if !status.is_success() {
                return Err(TvError::Api {
                    status: status.as_u16(),
                    // The login's fields first, then any bearer token or JWT (an echo of
                    // the `Authorization` header), then the cut.
                    message: shown_text(
                        with_token_scrubbed(&String::from_utf8_lossy(&bytes), body.as_ref(), token)
                            .as_bytes(),
                    ),
                });
            }
            let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
                lost(format!(
                    "unreadable {status} body: {}",
                    shown_text(
                        with_token_scrubbed(&e.to_string(), body.as_ref(), token).as_bytes()
                    )
                ))
            })?;
            if let Some(ticket) = value.get("p-ticket").and_then(Value::as_str) {
                let wait_secs = penalty_wait(value.get("p-time"));
                let captcha = value
                    .get("p-captcha")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let may_wait = match budget_ends {
                    Some(end) => end
                        .saturating_duration_since(tokio::time::Instant::now())
                        .min(self.settings.max_wait),
                    None => self.settings.max_wait,
                };
                // The third in a row is given back at once: no resend would follow the wait.
                // So is a penalty on a request without a JSON body (a GET): the documented
                // resend is the same request with the ticket added to its body
                // (<https://partner.tradovate.com/overview/core-concepts/penalty-tickets>),
                // which a GET has not; sent again without it, it is not that resend. The
                // callers take it as a rate limit.
                let resendable = matches!(body, Some(Value::Object(_)));
                // A login's penalty always carries a captcha, which a server cannot solve: the
                // documented way on is to wait about an hour (Tradovate's official JavaScript
                // example, tradovate/example-api-js, whose login gives up on `p-captcha` and
                // asks to try again in an hour). Held as a 429's stop, from now, so that no
                // later signal nor the refresher logs in again inside it (each attempt may
                // lengthen it), and stored beside the token for the other processes
                // (`crate::token::TokenManager::share_stop`). The same for a renewal so
                // answered: it counts against the same authentication limit, and unheld, a
                // wait's reads renewed on every read.
                if captcha && (path == LOGIN_PATH || path == RENEW_PATH) {
                    self.start_stop();
                    warn!(
                        stop_secs = self.settings.rate_limit_stop.as_secs(),
                        "Tradovate answered the login or token renewal with a captcha penalty: no request is sent for the stop"
                    );
                    return Err(TvError::Penalty { wait_secs, captcha });
                }
                let resent = wait_secs.filter(|&w| {
                    resendable && !captcha && Duration::from_secs(w) <= may_wait && pass < 2
                });
                // A renewal's penalty without a captcha cannot be resent (a GET), nor a
                // login's whose wait is longer than this request may wait (the signal's
                // budget): this client sends no renewal and no login for its `p-time` (the
                // page's wait before the resend), so that the next ask for the token does not
                // renew or log in again at once, every ask a request more against the
                // authentication limit (then a captcha, an hour of no requests, exits
                // included). Tradovate's example has a login's penalty carry a captcha; one
                // without is held all the same. Other requests go on (the token may still
                // serve). Within this process; short, as `p-time` is.
                let hold_authentication = || {
                    let hold = Duration::from_secs(wait_secs.unwrap_or(RENEWAL_PENALTY_HOLD_SECS))
                        .min(self.settings.rate_limit_stop);
                    *self
                        .renewal_held_until
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + hold);
                    if path == LOGIN_PATH {
                        *self.login_ticket.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some((ticket.to_owned(), Instant::now() + hold));
                    }
                };
                if (path == RENEW_PATH || path == LOGIN_PATH) && !captcha && resent.is_none() {
                    hold_authentication();
                    warn!(
                        wait_secs,
                        "Tradovate answered the token renewal or login with a penalty ticket: no renewal or login is sent for its wait"
                    );
                    return Err(TvError::Penalty { wait_secs, captcha });
                }
                let Some(wait_secs) = resent else {
                    return Err(TvError::Penalty { wait_secs, captcha });
                };
                // A login's resend is a login too: counted against the cap, which a resend
                // past it does not pass (the ticket asks for fewer requests, not more). Not
                // sent, it is held as one not waited out: its wait kept, its ticket for the
                // login that is sent.
                if path == LOGIN_PATH
                    && let Err(e) = self.note_login()
                {
                    hold_authentication();
                    return Err(e);
                }
                warn!(
                    wait_secs,
                    "Tradovate penalty ticket; waiting, then resending with the ticket"
                );
                // A login waited out here is held as one not waited out while it waits: cut
                // during the wait (a refresh's share of its lock, a start's timeout drop
                // this future), its ticket and wait were lost, and the next login went at
                // once, without the ticket. Taken back for the resend below.
                if path == LOGIN_PATH {
                    hold_authentication();
                }
                tokio::time::sleep(Duration::from_secs(wait_secs)).await;
                if path == LOGIN_PATH {
                    let mut kept = self.login_ticket.lock().unwrap_or_else(|e| e.into_inner());
                    if kept.as_ref().is_some_and(|(held, _)| held == ticket) {
                        kept.take();
                    }
                }
                if let Some(Value::Object(map)) = body.as_mut() {
                    map.insert("p-ticket".into(), json!(ticket));
                }
                ticketed = Some((Some(wait_secs), captcha));
                continue;
            }
            check_business(&value).map_err(|e| match e {
                TvError::Refused(why) => TvError::Refused(shown_text(
                    with_token_scrubbed(&why, body.as_ref(), token).as_bytes(),
                )),
                TvError::Unknown(why) => TvError::Unknown(shown_text(
                    with_token_scrubbed(&why, body.as_ref(), token).as_bytes(),
                )),
                other => other,
            })?;
            return Ok(value);
        }
        // Not reached: every pass returns but a penalty's, and the third penalty returns.
        Err(TvError::Penalty {
            wait_secs: Some(0),
            captcha: false,
        })
    }

    async fn read<T: DeserializeOwned>(
        &self,
        path: &str,
        token: &SecretString,
    ) -> Result<T, TvError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.settings.read_backoff)
            .with_max_times(self.settings.read_attempts.saturating_sub(1));
        let value = (|| self.call(Method::GET, path, Some(token), None, Kind::Read))
            .retry(backoff)
            .when(TvError::is_transient)
            .await?;
        // serde_json's error can quote what it could not take: the token by its value
        // first, then the cut.
        serde_json::from_value(value).map_err(|e| {
            TvError::Unreachable(format!(
                "unexpected {path} body: {}",
                shown_text(with_token_scrubbed(&e.to_string(), None, Some(token)).as_bytes())
            ))
        })
    }

    /// Starts this client's own stop (`ClientSettings::rate_limit_stop` from now), as after a
    /// 429: [`Self::rate_limited_at`] says when, for the stop to be shared.
    fn start_stop(&self) {
        let now = Instant::now();
        *self
            .rate_limited_at
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(now);
        *self.stopped_until.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(now + self.settings.rate_limit_stop);
    }

    /// Holds this client to a stop `left` long from now, at most its own stop after a 429
    /// (`ClientSettings::rate_limit_stop`): another process met the 429 and stored the stop
    /// beside the token ([`crate::token::TokenManager`]), whose clock or value may be off. A
    /// longer stop already held stays.
    pub fn stop_for(&self, left: Duration) {
        let until = Instant::now() + left.min(self.settings.rate_limit_stop);
        let mut stopped = self.stopped_until.lock().unwrap_or_else(|e| e.into_inner());
        if stopped.is_none_or(|held| held < until) {
            *stopped = Some(until);
        }
    }

    /// When this client was last answered 429 (not a stop it was told of); the stop it asks
    /// for runs [`Self::rate_limit_stop`] from then.
    pub fn rate_limited_at(&self) -> Option<Instant> {
        *self
            .rate_limited_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The stop a 429 asks of this client (`ClientSettings::rate_limit_stop`).
    pub fn rate_limit_stop(&self) -> Duration {
        self.settings.rate_limit_stop
    }

    /// This client counting its logins against the cap with every other client of the process
    /// that shares them, for the same base URL, and holding to the same penalty's wait and
    /// ticket: what a deployed process builds (a start retried after a failure builds a new
    /// client). A client of its own keeps its own (tests, each against a fake of its own).
    #[must_use]
    pub fn sharing_process_logins(mut self) -> Self {
        let auth = process_auth(&self.base);
        self.logins = auth.logins;
        self.renewal_held_until = auth.held;
        self.login_ticket = auth.ticket;
        self
    }

    /// How long the stop after a 429 lasts still; `None` outside one.
    pub fn stopped_for(&self) -> Option<Duration> {
        let until = (*self.stopped_until.lock().unwrap_or_else(|e| e.into_inner()))?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    fn note_login(&self) -> Result<(), TvError> {
        let mut logins = self.logins.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        while logins
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
        {
            logins.pop_front();
        }
        if logins.len() >= MAX_LOGINS_PER_MINUTE {
            return Err(TvError::LoginLimit(logins.len()));
        }
        logins.push_back(now);
        Ok(())
    }

    /// A full login (`/auth/accesstokenrequest`): a new session. Prefer [`Self::renew_token`].
    pub async fn request_token(&self, creds: &Credentials) -> Result<TokenGrant, TvError> {
        self.renewal_held()?;
        self.note_login()?;
        let mut body = json!({
            "name": creds.name,
            "password": creds.password.expose_secret(),
            "appId": creds.app_id,
            "appVersion": creds.app_version,
            "deviceId": creds.device_id,
            "cid": creds.cid,
            "sec": creds.sec.expose_secret(),
        });
        // The resend of a login whose penalty was held: with its ticket, unless stale.
        let held = self
            .login_ticket
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .filter(|(_, until)| Instant::now() < *until + LOGIN_TICKET_KEPT);
        if let Some((ticket, _)) = &held {
            body["p-ticket"] = json!(ticket);
        }
        let answer = self
            .call(Method::POST, LOGIN_PATH, None, Some(body), Kind::Read)
            .await;
        // Maybe not sent (a stop began meanwhile, a connection refused or lost): the ticket
        // stays for the next login. Sent twice, it is the same request's resend.
        if matches!(
            answer,
            Err(TvError::RateLimited | TvError::Stopped(_) | TvError::Unreachable(_))
        ) && let Some(held) = held
        {
            self.login_ticket
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(held);
        }
        grant(&answer?)
    }

    /// Extends the current session (`/auth/renewaccesstoken`); fails once the token expired.
    /// Counted against [`MAX_LOGINS_PER_MINUTE`] as a login is.
    pub async fn renew_token(&self, token: &SecretString) -> Result<TokenGrant, TvError> {
        self.renewal_held()?;
        self.note_login()?;
        let value = self
            .call(Method::GET, RENEW_PATH, Some(token), None, Kind::Read)
            .await?;
        grant(&value)
    }

    /// `Err` (the penalty again, its seconds left) within the wait of a renewal's penalty, or
    /// of a login's not waited out, when no authentication request is sent: neither a renewal
    /// nor a login.
    ///
    /// # Errors
    /// [`TvError::Penalty`] without a captcha while the wait lasts.
    pub fn renewal_held(&self) -> Result<(), TvError> {
        let held = *self
            .renewal_held_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match held {
            Some(until) if Instant::now() < until => Err(TvError::Penalty {
                wait_secs: Some(until.saturating_duration_since(Instant::now()).as_secs() + 1),
                captcha: false,
            }),
            _ => Ok(()),
        }
    }

    /// The base URL requests go to (`…/v1`, without a trailing `/`).
    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn accounts(&self, token: &SecretString) -> Result<Vec<Account>, TvError> {
        self.read("/account/list", token).await
    }

    pub async fn positions(&self, token: &SecretString) -> Result<Vec<Position>, TvError> {
        self.read("/position/list", token).await
    }

    /// The account's net position in a contract: the newest listed entry's (0 when none is
    /// listed), never a sum of entries ([`crate::models::latest`]).
    pub async fn net_position(
        &self,
        token: &SecretString,
        account_id: AccountId,
        contract_id: ContractId,
    ) -> Result<i64, TvError> {
        let positions = self.positions(token).await?;
        Ok(crate::models::latest(&positions)
            .into_iter()
            .find(|p| p.account_id == account_id && p.contract_id == contract_id)
            .map_or(0, |p| p.net_pos))
    }

    /// One contract by id (`GET /contract/item?id=`): a position names its contract by id.
    /// Errors as [`Self::contract`].
    pub async fn contract_by_id(
        &self,
        token: &SecretString,
        id: ContractId,
    ) -> Result<Contract, TvError> {
        let found = self
            .read::<Option<Contract>>(&format!("/contract/item?id={id}"), token)
            .await;
        not_known(found, || format!("contract id {id}"))
    }

    /// One contract by name (`GET /contract/find?name=ESZ6`). A contract Tradovate does not
    /// know is [`TvError::Refused`], naming it: the documentation does not say how that is
    /// answered (a `Contract` is all it gives), so a 404 and a `null` body are both taken as
    /// "not known" (the project's fake answers 404), as is an `errorText`.
    pub async fn contract(&self, token: &SecretString, name: &str) -> Result<Contract, TvError> {
        let found = self
            .read::<Option<Contract>>(&format!("/contract/find?name={name}"), token)
            .await;
        not_known(found, || format!("contract {name}"))
    }

    /// Tradovate's own idea of the front month for a product root.
    pub async fn roll_contract(
        &self,
        token: &SecretString,
        root: &str,
    ) -> Result<Contract, TvError> {
        let body = json!({"name": root, "forward": true, "ifExpired": true});
        let value = self
            .call(
                Method::POST,
                "/contract/rollcontract",
                Some(token),
                Some(body),
                Kind::Read,
            )
            .await?;
        let parsed: RollContractResponse = serde_json::from_value(value).map_err(|e| {
            TvError::Unreachable(shown_text(
                with_token_scrubbed(&e.to_string(), None, Some(token)).as_bytes(),
            ))
        })?;
        parsed
            .contract
            .ok_or_else(|| TvError::Refused(format!("no front month for {root}")))
    }

    /// A market order, `isAutomated: true`. Sent once (a penalty resend aside, only within
    /// `budget`, the staleness budget left): on `Err(Unknown)` reconcile by `cl_ord_id` and
    /// the position.
    pub async fn place_market_order(
        &self,
        token: &SecretString,
        order: &PlaceOrder<'_>,
        budget: Duration,
    ) -> Result<OrderId, TvError> {
        let body = serde_json::to_value(order).map_err(|e| TvError::Refused(e.to_string()))?;
        let value = self
            .call(
                Method::POST,
                "/order/placeorder",
                Some(token),
                Some(body),
                Kind::Command { budget },
            )
            .await?;
        order_id(&value)
    }

    /// Asks Tradovate to flatten a contract; asynchronous: poll the position. A penalty
    /// resend only within `budget`, as [`Self::place_market_order`].
    pub async fn liquidate_position(
        &self,
        token: &SecretString,
        account_id: AccountId,
        contract_id: ContractId,
        budget: Duration,
    ) -> Result<OrderId, TvError> {
        let body = serde_json::to_value(LiquidatePosition {
            account_id,
            contract_id,
            admin: false,
            is_automated: true,
        })
        .map_err(|e| TvError::Refused(e.to_string()))?;
        let value = self
            .call(
                Method::POST,
                "/order/liquidateposition",
                Some(token),
                Some(body),
                Kind::Command { budget },
            )
            .await?;
        order_id(&value)
    }

    pub async fn order(&self, token: &SecretString, id: OrderId) -> Result<Order, TvError> {
        self.read(&format!("/order/item?id={id}"), token).await
    }

    /// The ids of the orders whose `New` command carries our `clOrdId`, oldest first.
    ///
    /// The documented `Order` entity has no `clOrdId` and no documented query filters by it
    /// (OpenAPI `Order` and `Command` schemas, <https://partner.tradovate.com/openapi.json>):
    /// the `clOrdId` is an optional field of a command (`/command/list`), and no document says
    /// a placement's is copied onto its `New` command. A command names its order (`orderId`)
    /// whether or not the order is listed yet, so a command found is proof the order exists.
    /// The list may lag a fresh order, and may name no `clOrdId`: an empty answer is not proof
    /// that none was created.
    pub async fn order_ids_by_cl_ord_id(
        &self,
        token: &SecretString,
        cl_ord_id: &str,
    ) -> Result<Vec<OrderId>, TvError> {
        let mut ids: Vec<OrderId> = self
            .commands(token)
            .await?
            .into_iter()
            .filter(|c| c.command_type == "New" && c.cl_ord_id.as_deref() == Some(cl_ord_id))
            .map(|c| c.order_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// The orders of one account (`GET /order/deps?masterid=<accountId>`). A spread order (a
    /// `spreadDefinitionId` named, its `contractId` null: the OpenAPI `Order` schema gives
    /// `contractId` as "long or null") is none this executor placed, which places outright
    /// contracts only: left out, so that it does not make the whole list unreadable and every
    /// lookup inconclusive. Any other entry that does not read (a null `id`, or a null
    /// `contractId` with no spread named, which could be ours) fails the list, as before:
    /// a lookup that cannot read it is inconclusive, never "not placed".
    pub async fn account_orders(
        &self,
        token: &SecretString,
        account_id: AccountId,
    ) -> Result<Vec<Order>, TvError> {
        let path = format!("/order/deps?masterid={account_id}");
        let entries: Vec<serde_json::Value> = self.read(&path, token).await?;
        let named = |v: &serde_json::Value, field: &str| v.get(field).is_some_and(|f| !f.is_null());
        entries
            .into_iter()
            .filter(|v| named(v, "contractId") || !named(v, "spreadDefinitionId"))
            .map(|v| {
                serde_json::from_value(v).map_err(|e| {
                    TvError::Unreachable(format!(
                        "unexpected {path} body: {}",
                        shown_text(
                            with_token_scrubbed(&e.to_string(), None, Some(token)).as_bytes()
                        )
                    ))
                })
            })
            .collect()
    }

    /// The commands made about one order (`GET /command/deps?masterid=<orderId>`); a
    /// placement's `New` command may carry its `clOrdId` (optional in the `Command` schema).
    pub async fn commands_of(
        &self,
        token: &SecretString,
        order_id: OrderId,
    ) -> Result<Vec<Command>, TvError> {
        self.read(&format!("/command/deps?masterid={order_id}"), token)
            .await
    }

    /// What became of one command (`GET /commandReport/deps?masterid=<commandId>`, Tradovate
    /// partner API, Orders: Command Report Dependents): its reports, a rejection's
    /// `rejectReason` and `text` among them.
    pub async fn command_reports_of(
        &self,
        token: &SecretString,
        command_id: i64,
    ) -> Result<Vec<crate::models::CommandReport>, TvError> {
        self.read(&format!("/commandReport/deps?masterid={command_id}"), token)
            .await
    }

    /// Every command of the user (`GET /command/list`).
    pub async fn commands(&self, token: &SecretString) -> Result<Vec<Command>, TvError> {
        self.read("/command/list", token).await
    }

    pub async fn fills(
        &self,
        token: &SecretString,
        order_id: OrderId,
    ) -> Result<Vec<Fill>, TvError> {
        self.read(&format!("/fill/deps?masterid={order_id}"), token)
            .await
    }

    /// The fees of one fill (`GET /fillFee/deps?masterid=<fillId>`, Tradovate partner API,
    /// Orders: Fill Fee Dependents).
    pub async fn fill_fees(
        &self,
        token: &SecretString,
        fill_id: FillId,
    ) -> Result<Vec<FillFee>, TvError> {
        self.read(&format!("/fillFee/deps?masterid={fill_id}"), token)
            .await
    }
}

/// `e` with `token` written `[REDACTED]` in its text.
fn without_token(e: TvError, token: &str) -> TvError {
    let clean = |w: String| w.replace(token, "[REDACTED]");
    match e {
        TvError::Unknown(w) => TvError::Unknown(clean(w)),
        TvError::Refused(w) => TvError::Refused(clean(w)),
        TvError::NotSent(w) => TvError::NotSent(clean(w)),
        TvError::Unreachable(w) => TvError::Unreachable(clean(w)),
        TvError::Api { status, message } => TvError::Api {
            status,
            message: clean(message),
        },
        other => other,
    }
}

/// `failureReason` values (OpenAPI `PlaceOrderResult`, which lists them without saying what
/// each leaves behind) that are not a refusal of the request as it stands (its contract,
/// price, size, account or session): a risk check that timed out, a reason Tradovate itself
/// does not know, another command pending, the execution provider unavailable or failing
/// otherwise, too late, not enough liquidity. An order may have been left behind, so the leg
/// is looked up and never sent again, rather than journaled `rejected` on a guess.
const AMBIGUOUS_FAILURES: [&str; 7] = [
    "RiskCheckTimeout",
    "UnknownReason",
    "AnotherCommandPending",
    "ExecutionProviderUnavailable",
    "OtherExecutionRelated",
    "TooLate",
    "NotEnoughLiquidity",
];

fn check_business(value: &Value) -> Result<(), TvError> {
    let Some((refusal, ambiguous)) = refusal_of(value) else {
        return Ok(());
    };
    // OpenAPI `PlaceOrderResult` makes `orderId`, `failureReason` and `errorText` all optional
    // and does not say what an `orderId` beside a failure means; nor whether a risk check that
    // timed out, or an unknown reason, left an order behind. Those are unknown outcomes,
    // looked up (a placement by its command's `clOrdId`, a liquidation through the account's
    // orders and the position), never taken as "nothing created".
    let order_id = value.get("orderId").filter(|id| !id.is_null());
    match order_id {
        Some(id) => Err(TvError::Unknown(format!(
            "{refusal} (with orderId {})",
            id.as_str().map_or_else(|| id.to_string(), str::to_owned)
        ))),
        None if ambiguous => Err(TvError::Unknown(refusal)),
        None => Err(TvError::Refused(refusal)),
    }
}

/// The failure an answer reports (`errorText`, a `failureReason` other than `Success`, or
/// `violations`), and whether its reason is one of [`AMBIGUOUS_FAILURES`]; `None`: none.
/// Ambiguous whenever `failureReason` says so, whatever else the answer carries: an
/// `errorText` beside `RiskCheckTimeout` was read as a definite refusal, the leg `rejected`
/// with no lookup, where the order may stand.
fn refusal_of(value: &Value) -> Option<(String, bool)> {
    let ambiguous_reason = value
        .get("failureReason")
        .and_then(Value::as_str)
        .is_some_and(|r| AMBIGUOUS_FAILURES.contains(&r));
    if let Some(text) = value
        .get("errorText")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        return Some((text.to_owned(), ambiguous_reason));
    }
    if let Some(reason) = value
        .get("failureReason")
        .and_then(Value::as_str)
        .filter(|r| *r != "Success")
    {
        let text = value
            .get("failureText")
            .and_then(Value::as_str)
            .unwrap_or("");
        return Some((
            format!("{reason}: {text}"),
            AMBIGUOUS_FAILURES.contains(&reason),
        ));
    }
    let v = value
        .get("violations")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())?;
    // A violation is `{constraint, value, description}`: its `value` is what was sent (on a
    // login, possibly the password), so only the other two are kept.
    let shown: Vec<String> = v
        .iter()
        .map(|v| {
            let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
            format!("{} ({})", field("description"), field("constraint"))
        })
        .collect();
    Some((format!("violations: {}", shown.join("; ")), false))
}

/// The seconds a penalty ticket's `p-time` asks to wait before the resend, rounded up: a
/// whole or fractional number, or one written as a string (the penalty-tickets page shows it
/// as seconds without saying its JSON type,
/// <https://partner.tradovate.com/overview/core-concepts/penalty-tickets>). `None` when it is
/// missing, negative or unreadable: no wait is known, so nothing is resent.
fn penalty_wait(p_time: Option<&Value>) -> Option<u64> {
    let secs = match p_time? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    // Bounded first: a cast of an absurd value saturates, and it is then longer than any wait.
    (secs.is_finite() && secs >= 0.0).then(|| secs.min(1e9).ceil() as u64)
}

/// The request fields that hold a credential: a login's `password`, API secret `sec`, and the
/// `deviceId` and `appId` the deployment keeps as secret settings (`/auth/accesstokenrequest`).
const SECRET_FIELDS: [&str; 4] = ["password", "sec", "deviceId", "appId"];

/// The login's fields that are secret settings too (the user name, kept in SSM as the API
/// key's id is), scrubbed from what answers a login only: `name` is a contract's root in other
/// requests (`rollcontract`), which an error must go on naming.
const LOGIN_FIELDS: [&str; 2] = ["name", "cid"];

/// `text` (an error answer's words) with the request's credentials written `[REDACTED]`, as
/// sent and as JSON would escape them: an answer may echo what it was sent, and errors are
/// logged and mailed. Other fields (a symbol, an action) stay, so the error still names them.
fn scrubbed(text: &str, body: Option<&Value>) -> String {
    let mut secrets: Vec<String> = Vec::new();
    if let Some(Value::Object(map)) = body {
        let login = map.contains_key("password");
        let fields = SECRET_FIELDS
            .iter()
            .chain(LOGIN_FIELDS.iter().filter(|_| login));
        for field in fields {
            let value = match map.get(*field) {
                Some(Value::String(v)) => Some(v.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            }
            // The login's user name and the API key's id (a number), only when long enough
            // not to be taken for another word or number of the answer (`jo` in "major");
            // the credentials proper whatever their length.
            .filter(|v| !LOGIN_FIELDS.contains(field) || v.len() >= 4);
            if let Some(v) = value
                && !v.is_empty()
            {
                // As sent, escaped once (echoed inside a JSON document) and twice (inside a
                // JSON string of one).
                let mut form = v;
                for _ in 0..3 {
                    secrets.push(form.clone());
                    let quoted = Value::String(form).to_string();
                    form = quoted[1..quoted.len() - 1].to_owned();
                }
            }
        }
    }
    // Longest first, so a value that holds another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
        .iter()
        .fold(text.to_owned(), |t, s| t.replace(s.as_str(), "[REDACTED]"))
}

/// [`scrubbed`], and the access token the request carried written `[REDACTED]` too: before
/// the cut to [`executor_runtime::http::SHOWN_CHARS`], which would leave the start of a token
/// it split readable to the whole-token scrub after it ([`without_token`]); a token that is
/// not a JWT is not redacted by its shape.
fn with_token_scrubbed(text: &str, body: Option<&Value>, token: Option<&SecretString>) -> String {
    let text = scrubbed(text, body);
    match token {
        Some(t) => executor_runtime::http::without_secret(&text, t.expose_secret()),
        None => text,
    }
}

fn grant(value: &Value) -> Result<TokenGrant, TvError> {
    let token = value.get("accessToken").and_then(Value::as_str);
    let expires = value
        .get("expirationTime")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    match (token, expires) {
        (Some(t), Some(e)) => Ok(TokenGrant {
            access_token: SecretString::from(t.to_owned()),
            expires_at: e.with_timezone(&Utc),
        }),
        _ => Err(TvError::UnreadableToken(
            "no accessToken, or no expirationTime in RFC 3339".into(),
        )),
    }
}

fn order_id(value: &Value) -> Result<OrderId, TvError> {
    value
        .get("orderId")
        .and_then(Value::as_i64)
        .map(OrderId)
        .ok_or_else(|| TvError::Unknown("accepted answer without an orderId".into()))
}

/// A contract read's answer: a 404 or a `null` body is a contract Tradovate does not know
/// (`what`), refused rather than retried as an outage until the signal expires.
fn not_known(
    found: Result<Option<Contract>, TvError>,
    what: impl Fn() -> String,
) -> Result<Contract, TvError> {
    match found {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(TvError::Refused(format!(
            "Tradovate answered no {} (null)",
            what()
        ))),
        Err(TvError::Api {
            status: 404,
            message,
        }) => Err(TvError::Refused(format!(
            "Tradovate answered 404 for {}: {message}",
            what()
        ))),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// `p-time` as seconds, rounded up, whatever its JSON type; missing or unreadable is no
    /// known wait (the request is not resent), never a wait of 0.
    #[test]
    fn a_penalty_time_is_read_up_and_never_defaults_to_now() {
        let wait = |v: Value| penalty_wait(Some(&v));
        assert_eq!(wait(json!(5)), Some(5));
        assert_eq!(wait(json!(2.5)), Some(3));
        assert_eq!(wait(json!("4")), Some(4));
        assert_eq!(wait(json!(" 1.2 ")), Some(2));
        assert_eq!(wait(json!(0)), Some(0));
        assert_eq!(wait(json!(-1)), None);
        assert_eq!(wait(json!("soon")), None);
        assert_eq!(wait(json!(null)), None);
        assert_eq!(wait(json!(1e300)), Some(1_000_000_000));
        assert_eq!(penalty_wait(None), None);
        let shown = TvError::Penalty {
            wait_secs: None,
            captcha: false,
        }
        .to_string();
        assert_eq!(shown, "Tradovate penalty: no readable p-time");
    }

    /// A market buy of one ESZ6 for account 1.
    fn one_contract() -> PlaceOrder<'static> {
        PlaceOrder {
            account_spec: "DEMO123",
            account_id: AccountId(1),
            cl_ord_id: "tv-abc-o",
            action: OrderAction::Buy,
            symbol: "ESZ6",
            order_qty: 1,
            order_type: "Market",
            is_automated: true,
        }
    }

    /// An order command whose connection could not be made never reached Tradovate: it is
    /// `NotSent`, which the venue reads as not executed, never `Unknown`; a read that cannot
    /// connect stays `Unreachable`.
    #[tokio::test]
    async fn a_command_whose_connection_was_never_made_is_not_sent() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
        drop(closed);
        let settings = ClientSettings {
            read_attempts: 1,
            ..ClientSettings::default()
        };
        let client = TradovateClient::new(&base, settings).unwrap();
        let token = SecretString::from("token-never-sent");
        let err = client
            .place_market_order(&token, &one_contract(), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, TvError::NotSent(why) if why == "connection failed"),
            "{err:?}"
        );
        let err = client.order(&token, OrderId(7)).await.unwrap_err();
        assert!(matches!(err, TvError::Unreachable(_)), "{err:?}");
    }

    #[test]
    fn a_refusal_never_repeats_what_the_login_sent() {
        let sent = json!({"name": "trader-jd", "password": "pw-7c1d9e-never-logged", "sec": "sec-\"secret\"-value", "cid": 8417});
        // A violation names the field by constraint and description; its value is dropped.
        let answer = json!({"violations": [{"constraint": "Size", "value": "pw-7c1d9e-never-logged",
                                            "description": "password too long"}]});
        let TvError::Refused(why) = check_business(&answer).unwrap_err() else {
            panic!("a violation is a refusal")
        };
        assert_eq!(why, "violations: password too long (Size)");
        // An answer that echoes the request has its credentials replaced, as sent or
        // JSON-escaped (the API secret holds quotes): echoed as a document, and as a string.
        for echoed in [
            r#"{"error":"bad request","request":{"name":"trader-jd","password":"pw-7c1d9e-never-logged","sec":"sec-\"secret\"-value","cid":8417}}"#,
            r#"{"error":"bad request {\"name\":\"trader-jd\",\"password\":\"pw-7c1d9e-never-logged\",\"sec\":\"sec-\\\"secret\\\"-value\",\"cid\":8417}"}"#,
        ] {
            let shown = scrubbed(echoed, Some(&sent));
            // The user name and the API key's id are secret settings as well.
            for secret in ["pw-7c1d9e-never-logged", "secret", "trader-jd", "8417"] {
                assert!(!shown.contains(secret), "{shown}");
            }
            // What is not a credential still names what was wrong.
            assert!(
                shown.contains("bad request") && shown.contains("[REDACTED]"),
                "{shown}"
            );
        }
        // Outside a login, `name` is a contract's root: an error goes on naming it.
        let roll = json!({"name": "ES", "forward": true});
        assert_eq!(
            scrubbed("no contract for ES", Some(&roll)),
            "no contract for ES"
        );
        assert_eq!(scrubbed("plain", None), "plain");
        // The device and app ids are secret settings too, and the Debug print hides them.
        let sent = json!({"appId": "app-3f9a2c", "deviceId": "dev-8e1b7d44", "password": "pw-41"});
        let shown = scrubbed("echo appId=app-3f9a2c deviceId=dev-8e1b7d44", Some(&sent));
        assert_eq!(shown, "echo appId=[REDACTED] deviceId=[REDACTED]");
        let creds = Credentials {
            name: "trader".into(),
            password: SecretString::from("p"),
            app_id: "app-3f9a2c".into(),
            app_version: "1.0".into(),
            device_id: "dev-8e1b7d44".into(),
            cid: 8,
            sec: SecretString::from("s"),
        };
        let debug = format!("{creds:?}");
        assert!(
            !debug.contains("app-3f9a2c") && !debug.contains("dev-8e1b7d44"),
            "{debug}"
        );
    }

    /// An order answered 400 with the access token echoed without `Bearer`: the error keeps
    /// the words, never the token.
    #[tokio::test]
    async fn a_token_echoed_without_bearer_is_scrubbed_by_its_value() {
        let app = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
            let sent = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .trim_start_matches("Bearer ")
                .to_owned();
            (
                axum::http::StatusCode::BAD_REQUEST,
                format!("token {sent} invalid"),
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = TradovateClient::new(&base, ClientSettings::default()).unwrap();
        let token = SecretString::from("tv-access-SEKRET-42");
        let err = client
            .place_market_order(&token, &one_contract(), Duration::from_secs(5))
            .await
            .unwrap_err();
        let shown = format!("{err} | {err:?}");
        assert!(shown.contains("token [REDACTED] invalid"), "{shown}");
        assert!(!shown.contains("SEKRET"), "{shown}");
    }

    /// A read whose answer does not parse is named by serde's error, which quotes the value
    /// it could not take: a token echoed there is scrubbed by its value before the cut, in
    /// the shared read and in the account's orders, read entry by entry.
    #[tokio::test]
    async fn a_token_echoed_in_an_unreadable_answer_leaves_nothing_of_itself() {
        let app = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
            let sent = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .trim_start_matches("Bearer ")
                .to_owned();
            // A list of one entry whose `id` is a string: `/account/list` and the account's
            // orders both fail to read it.
            axum::Json(json!([{ "id": format!("{}token {sent}", "x".repeat(160)) }]))
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = TradovateClient::new(&base, ClientSettings::default()).unwrap();
        let token = SecretString::from("tv-access-SEKRET-42");
        let accounts = client.accounts(&token).await.unwrap_err();
        let orders = client
            .account_orders(&token, crate::models::AccountId(1))
            .await
            .unwrap_err();
        for err in [accounts, orders] {
            let shown = format!("{err} | {err:?}");
            assert!(shown.contains("xxxxx"), "{shown}");
            assert!(!shown.contains("tv-acc"), "{shown}");
        }
    }

    /// The same echo 190 characters in, where the cut to 200 splits the token: scrubbed
    /// only after the cut, its start was left readable.
    #[tokio::test]
    async fn a_token_split_by_the_cut_leaves_nothing_of_itself() {
        let app = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
            let sent = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .trim_start_matches("Bearer ")
                .to_owned();
            (
                axum::http::StatusCode::BAD_REQUEST,
                format!("{} token {sent} invalid", "x".repeat(184)),
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = TradovateClient::new(&base, ClientSettings::default()).unwrap();
        let token = SecretString::from("tv-access-SEKRET-42");
        let err = client
            .place_market_order(&token, &one_contract(), Duration::from_secs(5))
            .await
            .unwrap_err();
        let shown = format!("{err} | {err:?}");
        assert!(!shown.contains("tv-acc"), "{shown}");
        assert!(shown.contains("token [RED"), "{shown}");
    }

    /// A failure reason beside an order id, or one that does not say whether an order was
    /// left behind, is an unknown outcome (looked up); any other reason is a refusal.
    #[test]
    fn a_failure_reason_that_may_have_left_an_order_is_unknown() {
        for answer in [
            json!({"orderId": 77, "failureReason": "MaxPosLimitReached", "failureText": "x"}),
            json!({"orderId": 77, "errorText": "refused"}),
            json!({"orderId": "77", "violations": [{"constraint": "c", "description": "d"}]}),
            json!({"failureReason": "RiskCheckTimeout", "failureText": "x", "orderId": null}),
            json!({"failureReason": "UnknownReason"}),
            // An `errorText` beside an ambiguous reason does not make it a refusal.
            json!({"failureReason": "RiskCheckTimeout", "errorText": "risk check timed out"}),
        ] {
            let err = check_business(&answer).unwrap_err();
            assert!(matches!(err, TvError::Unknown(_)), "{answer}: {err:?}");
            let shown = err.to_string();
            assert!(
                !shown.contains("null") && !shown.contains("\"77\""),
                "{shown}"
            );
        }
        for answer in [
            json!({"failureReason": "MaxPosLimitReached"}),
            json!({"failureReason": "MaxPosLimitReached", "errorText": "limit"}),
            json!({"errorText": "refused"}),
        ] {
            let err = check_business(&answer).unwrap_err();
            assert!(matches!(err, TvError::Refused(_)), "{answer}: {err:?}");
        }
        assert!(check_business(&json!({"orderId": 77, "failureReason": "Success"})).is_ok());
    }
}
