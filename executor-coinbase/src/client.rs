//! The Advanced Trade REST client: one `reqwest::Client`, a fresh JWT per request (the key
//! never leaves [`crate::auth`]), reads retried with backoff, and the order POST sent exactly
//! once per call.

use crate::auth::ApiKey;
use crate::error::CoinbaseError;
use crate::models::*;
use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, SecondsFormat, Utc};
use executor_runtime::http::{self, ReadFailure, describe, shown_text};
use reqwest::{Method, StatusCode, Url};
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use shared::clock::Clock;
use shared::execution::Side;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub const LIVE_URL: &str = "https://api.coinbase.com/api/v3/brokerage";

/// Pages are bounded so a misbehaving cursor can never loop forever.
const MAX_PAGES: usize = 100;

/// How much to buy or sell: quote currency to spend (BUY), base currency to sell (SELL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderSize {
    Quote(Decimal),
    Base(Decimal),
}

/// What `POST /orders` came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderAck {
    /// `success: true`: Coinbase has the order (or already had one with this client id).
    Accepted { order_id: String },
    /// `success: false`, or a 4xx: nothing was created.
    Rejected { reason: String },
}

#[derive(Debug, Clone, Copy)]
pub struct ClientSettings {
    pub timeout: Duration,
    pub read_attempts: usize,
    pub read_backoff: Duration,
    /// `limit` for paginated reads (Coinbase: at most 250 accounts per page).
    pub page_limit: u32,
    /// The least time an accepted order is followed while it is not final yet, even when the
    /// staleness budget is spent (a first read may come before the fill).
    pub fill_settle: Duration,
    /// The most time an accepted order is followed while it is not final yet; within it,
    /// the staleness budget's remainder bounds the wait.
    pub fill_wait: Duration,
    /// How long the following of an accepted order pauses after a read refused for the rate
    /// limit (429, after the read's own retries) before its one more read (1 s: Coinbase's
    /// limits are given per second). Within `fill_wait` only.
    pub rate_limit_pause: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(8),
            read_attempts: 3,
            read_backoff: Duration::from_millis(100),
            page_limit: 250,
            fill_settle: Duration::from_secs(1),
            fill_wait: Duration::from_secs(10),
            rate_limit_pause: Duration::from_secs(1),
        }
    }
}

pub struct CoinbaseClient {
    http: reqwest::Client,
    base: Url,
    /// `host[:port]` as the JWT's `uri` claim names it.
    host: String,
    key: ApiKey,
    clock: Arc<dyn Clock>,
    settings: ClientSettings,
}

impl std::fmt::Debug for CoinbaseClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoinbaseClient")
            .field("base", &self.base.as_str())
            .field("key", &self.key)
            .field("settings", &self.settings)
            .finish()
    }
}

impl CoinbaseClient {
    /// `private_key` is the PEM (SEC1 or PKCS#8) or the base64 Ed25519 secret, as pasted.
    pub fn new(
        base_url: &str,
        key_name: &str,
        private_key: &SecretString,
        clock: Arc<dyn Clock>,
        settings: ClientSettings,
    ) -> Result<Self, CoinbaseError> {
        let key = ApiKey::parse(key_name, private_key)?;
        Self::with_key(base_url, key, clock, settings)
    }

    pub fn with_key(
        base_url: &str,
        key: ApiKey,
        clock: Arc<dyn Clock>,
        settings: ClientSettings,
    ) -> Result<Self, CoinbaseError> {
        http::check_base_url("COINBASE_BASE_URL", base_url).map_err(CoinbaseError::BaseUrl)?;
        let base = Url::parse(base_url.trim_end_matches('/'))
            .map_err(|e| CoinbaseError::BaseUrl(format!("{base_url:?}: {e}")))?;
        let host = match (base.host_str(), base.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => return Err(CoinbaseError::BaseUrl(format!("{base_url:?} has no host"))),
        };
        let http = executor_runtime::http::broker_client(settings.timeout)
            .map_err(|e| CoinbaseError::Unreachable(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            host,
            key,
            clock,
            settings,
        })
    }

    /// The API key's name: it identifies the portfolio the executor trades.
    pub fn key_name(&self) -> &str {
        self.key.name()
    }

    fn path(&self, tail: &str) -> String {
        format!("{}{tail}", self.base.path().trim_end_matches('/'))
    }

    /// A request with its own JWT, whose `uri` claim names the path without the query.
    fn request(
        &self,
        method: Method,
        tail: &str,
        query: &[(&str, String)],
    ) -> Result<reqwest::RequestBuilder, CoinbaseError> {
        let path = self.path(tail);
        let mut url = self.base.clone();
        url.set_path(&path);
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        let token: SecretString =
            self.key
                .token(method.as_str(), &self.host, &path, self.clock.now())?;
        Ok(self
            .http
            .request(method, url)
            .bearer_auth(token.expose_secret()))
    }

    async fn get_once<T: DeserializeOwned>(
        &self,
        tail: &str,
        query: &[(&str, String)],
    ) -> Result<Option<T>, CoinbaseError> {
        Ok(http::get_json(self.request(Method::GET, tail, query)?).await?)
    }

    /// GET with backoff on transient failures; `None` on 404. Each attempt signs anew.
    async fn get<T: DeserializeOwned>(
        &self,
        tail: &str,
        query: &[(&str, String)],
    ) -> Result<Option<T>, CoinbaseError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.settings.read_backoff)
            .with_max_times(self.settings.read_attempts.saturating_sub(1));
        (|| self.get_once::<T>(tail, query))
            .retry(backoff)
            .when(CoinbaseError::is_transient)
            .await
    }

    /// Every account, page by page.
    pub async fn accounts(&self) -> Result<Vec<Account>, CoinbaseError> {
        let mut all = Vec::new();
        let mut cursor = String::new();
        for _ in 0..MAX_PAGES {
            let mut query = vec![("limit", self.settings.page_limit.to_string())];
            if !cursor.is_empty() {
                query.push(("cursor", cursor.clone()));
            }
            let page: AccountsPage =
                self.get("/accounts", &query)
                    .await?
                    .ok_or_else(|| CoinbaseError::Api {
                        status: 404,
                        error: "NOT_FOUND".into(),
                        message: "accounts not found".into(),
                    })?;
            all.extend(page.accounts);
            match next_page("account list", page.has_next, page.cursor)? {
                Some(next) => cursor = next,
                None => return Ok(all),
            }
        }
        Err(CoinbaseError::Unreachable(format!(
            "accounts did not end after {MAX_PAGES} pages"
        )))
    }

    /// Available (not on hold) balance per currency, summed over the key's accounts a spot
    /// order can draw on ([`Account::trades_spot`]).
    pub async fn available_balances(&self) -> Result<BTreeMap<String, Decimal>, CoinbaseError> {
        let mut out: BTreeMap<String, Decimal> = BTreeMap::new();
        for a in self
            .accounts()
            .await?
            .into_iter()
            .filter(Account::trades_spot)
        {
            *out.entry(a.currency).or_default() += a.available_balance.value;
        }
        Ok(out)
    }

    /// Available (not on hold) balance of each of the key's accounts a spot order can draw on
    /// ([`Account::trades_spot`]: no vault, no futures account), by currency, with the
    /// portfolio each belongs to (`retail_portfolio_id`, when listed): a currency can have an
    /// account in each portfolio the key sees ("a currency can appear once per portfolio",
    /// List Accounts).
    pub async fn available_by_account(
        &self,
    ) -> Result<BTreeMap<String, Vec<(Option<String>, Decimal)>>, CoinbaseError> {
        let mut out: BTreeMap<String, Vec<(Option<String>, Decimal)>> = BTreeMap::new();
        for a in self
            .accounts()
            .await?
            .into_iter()
            .filter(Account::trades_spot)
        {
            out.entry(a.currency)
                .or_default()
                .push((a.retail_portfolio_id, a.available_balance.value));
        }
        Ok(out)
    }

    pub async fn product(&self, product_id: &str) -> Result<Product, CoinbaseError> {
        self.get(&format!("/products/{product_id}"), &[])
            .await?
            .ok_or_else(|| CoinbaseError::Api {
                status: 404,
                error: "NOT_FOUND".into(),
                message: format!("product {product_id} not found"),
            })
    }

    /// `GET /orders/historical/{order_id}`; `None` if Coinbase has no such order.
    pub async fn order(&self, order_id: &str) -> Result<Option<Order>, CoinbaseError> {
        Ok(self
            .get::<OrderResponse>(&format!("/orders/historical/{order_id}"), &[])
            .await?
            .map(|r| r.order))
    }

    /// Finds our order by its client order id. The list endpoint has no client id filter,
    /// so this lists the product's orders created since `since` and matches the id.
    pub async fn order_by_client_id(
        &self,
        product_id: &str,
        client_order_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<Order>, CoinbaseError> {
        let mut cursor = String::new();
        for _ in 0..MAX_PAGES {
            let mut query = vec![
                ("product_ids", product_id.to_owned()),
                (
                    "start_date",
                    since.to_rfc3339_opts(SecondsFormat::Secs, true),
                ),
                ("limit", self.settings.page_limit.to_string()),
            ];
            if !cursor.is_empty() {
                query.push(("cursor", cursor.clone()));
            }
            // A 404 here is no "no such order" (that would be an empty page) but a list that
            // could not be read: a gateway, a wrong base URL. Taken for nothing, it would let
            // a takeover miss an earlier attempt's order.
            let Some(page) = self
                .get::<OrdersPage>("/orders/historical/batch", &query)
                .await?
            else {
                return Err(CoinbaseError::Incomplete(
                    "order list answered 404: not read, so not taken as holding no order".into(),
                ));
            };
            if let Some(found) = page
                .orders
                .into_iter()
                .find(|o| o.client_order_id == client_order_id)
            {
                return Ok(Some(found));
            }
            match next_page("order list", page.has_next, page.cursor)? {
                Some(next) => cursor = next,
                None => return Ok(None),
            }
        }
        Err(CoinbaseError::Unreachable(format!(
            "order list did not end after {MAX_PAGES} pages"
        )))
    }

    /// Reads an accepted order until it is final (`FILLED`, `CANCELLED`, `EXPIRED`,
    /// `FAILED`) or `wait` has passed, `read_backoff` apart; answers the last read, which may
    /// be an order still working, none (not listed yet) or an error. A read refused for the
    /// rate limit (429, after the read's own retries) pauses the following for
    /// `rate_limit_pause` (within `wait`), and a second such read ends it.
    pub async fn settled_order(
        &self,
        order_id: &str,
        wait: Duration,
    ) -> Result<Option<Order>, CoinbaseError> {
        let until = tokio::time::Instant::now() + wait;
        let mut paused = false;
        loop {
            let read = self.order(order_id).await;
            // Over the rate limit even after the read's own backoff: a burst of the account's
            // requests, maybe, that a pause lets pass (one more read, not a read every
            // `read_backoff`, which would keep the account over it, its other orders' reads
            // with it). Refused again: the last read is answered, whether the order filled is
            // unknown, which the caller journals and alarms, and the order is never sent
            // again. `x-ratelimit-reset` is not read: no Coinbase page gives its form.
            let limited = matches!(&read, Err(CoinbaseError::Api { status: 429, .. }));
            let done = matches!(&read, Ok(Some(o)) if o.is_final());
            let now = tokio::time::Instant::now();
            if done || now >= until || (limited && paused) {
                return read;
            }
            if limited {
                paused = true;
                tokio::time::sleep(self.settings.rate_limit_pause.min(until - now)).await;
                continue;
            }
            tokio::time::sleep(self.settings.read_backoff).await;
        }
    }

    /// The settings this client was made with.
    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// A market IOC order: BUY spends `quote_size`, SELL sells `base_size`. Sent once: on
    /// `Err(Unknown)` look it up by `client_order_id`.
    pub async fn market_order(
        &self,
        product_id: &str,
        side: Side,
        size: OrderSize,
        client_order_id: &str,
    ) -> Result<OrderAck, CoinbaseError> {
        let (quote_size, base_size) = match size {
            OrderSize::Quote(q) => (Some(q.normalize().to_string()), None),
            OrderSize::Base(b) => (None, Some(b.normalize().to_string())),
        };
        let body = CreateOrderBody {
            client_order_id: client_order_id.to_owned(),
            product_id: product_id.to_owned(),
            side: match side {
                Side::Buy => "BUY",
                Side::Sell => "SELL",
            },
            order_configuration: OrderConfiguration {
                market_market_ioc: MarketIoc {
                    quote_size,
                    base_size,
                },
            },
        };
        let resp = self
            .request(Method::POST, "/orders", &[])?
            .json(&body)
            .send()
            .await
            .map_err(|e| CoinbaseError::Unknown(describe(e)))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CoinbaseError::Unknown(describe(e)))?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(auth_error(status, &bytes));
        }
        // A 3xx too: no redirect is followed (`http::broker_client`), and Coinbase documents
        // none, so what it means for the order is unknown.
        // Any 4xx but a 400 too. A 400 is a request the server would not process for the
        // client's error (RFC 9110, section 15.5.1): nothing was placed. Coinbase's Create
        // Order reference documents none of these statuses itself, and its SDK raises any 4xx
        // alike (`rest_base.handle_exception`), so this rests on HTTP's meaning of the status.
        // (A 401 or 403, above, is given back as such, for its hint; the venue looks it up,
        // since Coinbase answers a good token 401 now and then.) A 404,
        // 408 or 409 (a proxy in between, say) does not say the request went unprocessed, so
        // it is looked up (by `client_order_id`, which Coinbase deduplicates) rather than
        // believed.
        if status.is_server_error()
            || status.is_redirection()
            || (status.is_client_error() && status != StatusCode::BAD_REQUEST)
        {
            return Err(CoinbaseError::Unknown(format!(
                "Coinbase answered {status}"
            )));
        }
        // A 400 in Create Order's own shape (`success: false` with `error_response`): read as
        // the 200 of that shape is, its reason the `error_response`'s words, not the raw
        // body cut short. Which status such an answer comes with is not documented.
        if status == StatusCode::BAD_REQUEST
            && let Ok(parsed) = serde_json::from_slice::<CreateOrderResponse>(&bytes)
            && !parsed.success
            && (parsed.error_response.is_some() || parsed.failure_reason.is_some())
        {
            return not_created(parsed);
        }
        if status.is_client_error() {
            let CoinbaseError::Api { error, message, .. } = api_error(status, &bytes) else {
                return Ok(OrderAck::Rejected {
                    reason: format!("HTTP {status}"),
                });
            };
            let reason = [error, message]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(": ");
            return Ok(OrderAck::Rejected {
                reason: if reason.is_empty() {
                    format!("HTTP {status}")
                } else {
                    reason
                },
            });
        }
        let parsed: CreateOrderResponse = serde_json::from_slice(&bytes)
            .map_err(|_| CoinbaseError::Unknown(format!("unreadable {status} body")))?;
        if !parsed.success {
            return not_created(parsed);
        }
        let order_id = created_id(parsed)
            .ok_or_else(|| CoinbaseError::Unknown("success without an order id".to_owned()))?;
        Ok(OrderAck::Accepted { order_id })
    }
}

/// A Create Order answer of `success: false`: refused, with `error_response`'s (or
/// `failure_reason`'s) words; but an order id beside it is not documented to mean nothing
/// was created, so that is unknown, looked up by `client_order_id` (which Coinbase
/// deduplicates), never taken as refused.
fn not_created(mut parsed: CreateOrderResponse) -> Result<OrderAck, CoinbaseError> {
    let reason = parsed
        .error_response
        .take()
        .map(|e| e.reason())
        .filter(|r| !r.is_empty())
        .or(parsed.failure_reason.take())
        .map_or_else(
            || "success: false without a reason".to_owned(),
            |r| shown_text(r.as_bytes()),
        );
    if let Some(id) = created_id(parsed) {
        return Err(CoinbaseError::Unknown(format!(
            "success: false with order id {}: {reason}",
            shown_text(id.as_bytes())
        )));
    }
    Ok(OrderAck::Rejected { reason })
}

/// The order id a Create Order answer names: `success_response.order_id`, else the top
/// level's; an empty one is none.
fn created_id(parsed: CreateOrderResponse) -> Option<String> {
    parsed
        .success_response
        .map(|s| s.order_id)
        .filter(|id| !id.is_empty())
        .or(parsed.order_id.filter(|id| !id.is_empty()))
}

/// The body's first words, credentials redacted: an answer that is not Coinbase's JSON (a
/// proxy, a wrong base URL) can echo the request's `Authorization: Bearer <JWT>`.
fn body_text(bytes: &[u8]) -> String {
    shown_text(bytes)
}

fn auth_error(status: StatusCode, bytes: &[u8]) -> CoinbaseError {
    let body: ErrorBody = serde_json::from_slice(bytes).unwrap_or_default();
    // Every string of the body goes through `shown_text`: a JSON answer that is not
    // Coinbase's can carry the echoed JWT in any field.
    let message = body
        .message
        .or(body.error)
        .map_or_else(|| body_text(bytes), |m| shown_text(m.as_bytes()));
    CoinbaseError::Auth {
        status: status.as_u16(),
        message,
        missing_scopes: status == StatusCode::FORBIDDEN
            && body
                .error_details
                .as_deref()
                .is_some_and(|d| d.trim().eq_ignore_ascii_case("missing required scopes")),
    }
}

impl From<ReadFailure> for CoinbaseError {
    fn from(f: ReadFailure) -> Self {
        match f {
            ReadFailure::Unreachable(why) => Self::Unreachable(why),
            ReadFailure::Status(status, body) => api_error(status, &body),
        }
    }
}

fn api_error(status: StatusCode, bytes: &[u8]) -> CoinbaseError {
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return auth_error(status, bytes);
    }
    let body: ErrorBody = serde_json::from_slice(bytes).unwrap_or_default();
    CoinbaseError::Api {
        status: status.as_u16(),
        error: shown_text(body.error.unwrap_or_default().as_bytes()),
        message: body
            .message
            .or(body.error_details)
            .map_or_else(|| body_text(bytes), |m| shown_text(m.as_bytes())),
    }
}

/// The cursor of the page after this one, `None` after the last: Coinbase's list responses
/// carry `has_next` and `cursor`
/// (<https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/accounts/list-accounts>,
/// <https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/orders/list-orders>),
/// and nothing says they always agree. A page that says more follow with no cursor to them is
/// an error (what the rest holds is unknown, and a wallet or an order left unread would read
/// as none); a cursor with `has_next` absent is followed (a page too many reads empty).
fn next_page(
    what: &str,
    has_next: Option<bool>,
    cursor: String,
) -> Result<Option<String>, CoinbaseError> {
    match (has_next, cursor.is_empty()) {
        (Some(false), _) | (None, true) => Ok(None),
        (Some(true) | None, false) => Ok(Some(cursor)),
        (Some(true), true) => Err(CoinbaseError::Incomplete(format!(
            "{what} says more pages follow but gives no cursor to them: not read whole"
        ))),
    }
}
