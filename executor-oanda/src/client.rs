//! The OANDA v20 REST client: one `reqwest::Client` (keep-alive, as OANDA asks), a bearer
//! token that never leaves this module, reads retried with backoff, and order requests
//! (create, close) sent exactly once per call.

use crate::error::OandaError;
use crate::models::*;
use backon::{ExponentialBuilder, Retryable};
use executor_runtime::http::{self, ReadFailure, describe, shown_text};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::time::Duration;

pub const PRACTICE_URL: &str = "https://api-fxpractice.oanda.com";
pub const LIVE_URL: &str = "https://api-fxtrade.oanda.com";

/// Every order we send carries this tag in its client extensions.
const TAG: &str = "tv-pipeline";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionSideKind {
    Long,
    Short,
}

/// An account's position in one instrument: long ≥ 0, short ≤ 0 (OANDA's signs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holdings {
    pub long: Decimal,
    pub short: Decimal,
}

/// An instrument's trading rules (`GET instruments`, Swagger `Instrument`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstrumentRules {
    pub name: String,
    /// `CURRENCY`, `CFD` or `METAL`.
    pub kind: String,
    /// `tradeUnitsPrecision`: decimal places allowed in units (more is rejected with
    /// `UNITS_PRECISION_EXCEEDED`).
    pub precision: u32,
    /// `minimumTradeSize` (less is rejected with `UNITS_MIMIMUM_NOT_MET`).
    pub minimum_trade_size: Decimal,
    /// `maximumOrderUnits` (more is rejected with `UNITS_LIMIT_EXCEEDED`); `None` when not
    /// given.
    pub maximum_order_units: Option<Decimal>,
    /// `maximumPositionSize`; `None` when not given or `0` (no maximum).
    pub maximum_position_size: Option<Decimal>,
}

/// What an order request (create or close) came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderResult {
    Filled {
        order_id: String,
        units: Option<Decimal>,
        price: Option<Decimal>,
        /// The fill's costs in the quote currency ([`crate::models::Transaction::fee_in_quote`]).
        fee: Option<Decimal>,
        /// The rest of the order cancelled in the same answer, in words: filled in part.
        rest: Option<String>,
        /// Units of open trades the fill reduced or closed ([`Transaction::units_reduced`]):
        /// an order sent to open that reduced found the other side held when it filled.
        reduced: Decimal,
    },
    /// Created and cancelled at once (201), e.g. `MARKET_HALTED`, `INSUFFICIENT_MARGIN`.
    Cancelled { order_id: String, reason: String },
    /// Refused outright (4xx): nothing was created.
    Rejected { reason: String },
    /// A close for a side that does not exist.
    NothingToClose,
}

#[derive(Debug, Clone, Copy)]
pub struct ClientSettings {
    pub timeout: Duration,
    pub read_attempts: usize,
    pub read_backoff: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(8),
            read_attempts: 3,
            read_backoff: Duration::from_millis(100),
        }
    }
}

pub struct OandaClient {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    account: String,
    settings: ClientSettings,
}

impl std::fmt::Debug for OandaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OandaClient")
            .field("base", &self.base)
            .field("account", &self.account)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

impl OandaClient {
    pub fn new(
        base: &str,
        token: SecretString,
        account: &str,
        settings: ClientSettings,
    ) -> Result<Self, OandaError> {
        http::check_base_url("OANDA_BASE_URL", base).map_err(OandaError::BaseUrl)?;
        let http = http::broker_client(settings.timeout)
            .map_err(|e| OandaError::Unreachable(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
            account: account.to_owned(),
            settings,
        })
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v3/accounts/{}{}", self.base, self.account, tail)
    }

    fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(self.token.expose_secret())
            .header("Accept-Datetime-Format", "RFC3339")
    }

    async fn get_once<T: DeserializeOwned>(&self, url: &str) -> Result<Option<T>, OandaError> {
        // The token by its value before any cut (`scrub_body`).
        http::get_json_without(
            self.request(Method::GET, url),
            Some(self.token.expose_secret()),
            oandas_404,
        )
        .await
        .map_err(OandaError::from)
    }

    /// An answer's body with the API token written `[REDACTED]` wherever it stands, before
    /// any of it is parsed and cut to [`http::SHOWN_CHARS`]: scrubbed after the cut (as
    /// [`Self::scrub`] does an error's text), a token the cut split left its start readable.
    fn scrub_body<'a>(&self, body: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        let token = self.token.expose_secret();
        let text = String::from_utf8_lossy(body);
        if token.is_empty() || !text.contains(token) {
            return std::borrow::Cow::Borrowed(body);
        }
        std::borrow::Cow::Owned(http::without_secret(&text, token).into_bytes())
    }

    /// GET with backoff on transient failures; `None` on 404.
    async fn get<T: DeserializeOwned>(&self, url: &str) -> Result<Option<T>, OandaError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.settings.read_backoff)
            .with_max_times(self.settings.read_attempts.saturating_sub(1));
        (|| self.get_once::<T>(url))
            .retry(backoff)
            .when(OandaError::is_transient)
            .await
            .map_err(|e| self.scrub_error(e))
    }

    /// `text` with the API token written `[REDACTED]` wherever it stands: an answer (a
    /// gateway, a debugging server at the base URL) may echo it without the `Bearer` that
    /// `shown_text` redacts by, and error texts are journaled, logged and mailed.
    fn scrub(&self, text: &str) -> String {
        http::without_secret(text, self.token.expose_secret())
    }

    fn scrub_error(&self, e: OandaError) -> OandaError {
        match e {
            OandaError::Unknown(w) => OandaError::Unknown(self.scrub(&w)),
            OandaError::NotSent(w) => OandaError::NotSent(self.scrub(&w)),
            OandaError::Unreachable(w) => OandaError::Unreachable(self.scrub(&w)),
            OandaError::Api {
                status,
                code,
                message,
            } => OandaError::Api {
                status,
                code: self.scrub(&code),
                message: self.scrub(&message),
            },
            other => other,
        }
    }

    fn scrub_result(
        &self,
        result: Result<OrderResult, OandaError>,
    ) -> Result<OrderResult, OandaError> {
        match result {
            Ok(OrderResult::Rejected { reason }) => Ok(OrderResult::Rejected {
                reason: self.scrub(&reason),
            }),
            Ok(OrderResult::Cancelled { order_id, reason }) => Ok(OrderResult::Cancelled {
                order_id,
                reason: self.scrub(&reason),
            }),
            Ok(other) => Ok(other),
            Err(e) => Err(self.scrub_error(e)),
        }
    }

    fn scrub_transactions(
        &self,
        found: Result<Vec<Transaction>, OandaError>,
    ) -> Result<Vec<Transaction>, OandaError> {
        let mut txs = found.map_err(|e| self.scrub_error(e))?;
        for t in &mut txs {
            t.kind = self.scrub(&t.kind);
            t.reason = t.reason.as_deref().map(|r| self.scrub(r));
            t.reject_reason = t.reject_reason.as_deref().map(|r| self.scrub(r));
        }
        Ok(txs)
    }

    /// A market order: see [`Self::market_order_unscrubbed`]; every text it returns is
    /// scrubbed of the API token ([`Self::scrub`]).
    pub async fn market_order(
        &self,
        instrument: &str,
        units: Decimal,
        client_id: &str,
    ) -> Result<OrderResult, OandaError> {
        let result = self
            .market_order_unscrubbed(instrument, units, client_id)
            .await;
        self.scrub_result(result)
    }

    /// A close of one side: see [`Self::close_position_unscrubbed`]; every text it returns is
    /// scrubbed of the API token.
    pub async fn close_position(
        &self,
        instrument: &str,
        side: PositionSideKind,
        client_id: &str,
    ) -> Result<OrderResult, OandaError> {
        let result = self
            .close_position_unscrubbed(instrument, side, client_id)
            .await;
        self.scrub_result(result)
    }

    /// Every transaction after `id`: see [`Self::transactions_since_unscrubbed`]; their
    /// reasons scrubbed of the API token.
    pub async fn transactions_since(&self, id: &str) -> Result<Vec<Transaction>, OandaError> {
        let found = self.transactions_since_unscrubbed(id).await;
        self.scrub_transactions(found)
    }

    /// Every transaction at or after `from`: see [`Self::transactions_from_unscrubbed`];
    /// their reasons scrubbed of the API token.
    pub async fn transactions_from(
        &self,
        from: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Transaction>, OandaError> {
        let found = self.transactions_from_unscrubbed(from).await;
        self.scrub_transactions(found)
    }

    /// The account's position in `instrument`. No position (404): zero, once the account
    /// summary shows the account exists (a 404 there too is [`OandaError::NoAccount`], never a
    /// flat account).
    pub async fn position(&self, instrument: &str) -> Result<Holdings, OandaError> {
        let found = self.position_response(instrument).await?;
        match found {
            Some(r) => Ok(Holdings {
                long: r.position.long.units,
                short: r.position.short.units,
            }),
            None => {
                self.last_transaction_of_account().await?;
                Ok(Holdings {
                    long: Decimal::ZERO,
                    short: Decimal::ZERO,
                })
            }
        }
    }

    /// The account summary's `lastTransactionID`. A 404 is no such account at this host:
    /// [`OandaError::NoAccount`], naming the settings that give them.
    async fn last_transaction_of_account(&self) -> Result<String, OandaError> {
        let found: Option<AccountSummaryResponse> = self.get(&self.url("/summary")).await?;
        let Some(summary) = found else {
            return Err(OandaError::NoAccount(format!(
                "OANDA answered 404 for account {}: check OANDA_ACCOUNT (the v20 account id, as \
                 OANDA shows it) and OANDA_BASE_URL (practice and live accounts are on different \
                 hosts)",
                self.account
            )));
        };
        summary.last_transaction_id.ok_or_else(|| {
            OandaError::Unreachable("summary answer without lastTransactionID".into())
        })
    }

    /// The position and the account's `lastTransactionID` read with it: every transaction
    /// after that id is listed by [`Self::transactions_since`]. No position (404): zero, with
    /// the id from the account summary.
    pub async fn position_and_last_tx(
        &self,
        instrument: &str,
    ) -> Result<(Holdings, String), OandaError> {
        let found = self.position_response(instrument).await?;
        match found {
            Some(r) => {
                let last = r.last_transaction_id.ok_or_else(|| {
                    OandaError::Unreachable("position answer without lastTransactionID".into())
                })?;
                Ok((
                    Holdings {
                        long: r.position.long.units,
                        short: r.position.short.units,
                    },
                    last,
                ))
            }
            None => {
                let last = self.last_transaction_of_account().await?;
                Ok((
                    Holdings {
                        long: Decimal::ZERO,
                        short: Decimal::ZERO,
                    },
                    last,
                ))
            }
        }
    }

    /// Every transaction after `id`, oldest first (`GET transactions/sinceid?id=`): creates,
    /// fills, cancels and rejects alike. The spec says it "will return all Transactions newer
    /// than the TransactionID" (<https://developer.oanda.com/rest-live-v20/transaction-ep/>),
    /// yet a list cut short (a page limit, as one public client saw) would read as "no order
    /// of ours", and a lookup would then allow a send again: the list must end at the
    /// answer's `lastTransactionID` (the account's last, by the spec), or it is an error.
    async fn transactions_since_unscrubbed(
        &self,
        id: &str,
    ) -> Result<Vec<Transaction>, OandaError> {
        let found: Option<TransactionsSinceResponse> = self
            .get(&self.url(&format!("/transactions/sinceid?id={id}")))
            .await?;
        let found = found.ok_or_else(|| OandaError::Api {
            status: 404,
            code: String::new(),
            message: format!("no transactions for account {}", self.account),
        })?;
        let listed_to = found.transactions.last().map_or(id, |t| t.id.as_str());
        match found.last_transaction_id.as_deref() {
            Some(last) if last == listed_to => Ok(found.transactions),
            last => Err(OandaError::Unreachable(format!(
                "transactions since {id} listed up to {}, while the account's last is {}: the \
                 list is not whole",
                shown_text(listed_to.as_bytes()),
                last.map_or_else(|| "not given".to_owned(), |l| shown_text(l.as_bytes()))
            ))),
        }
    }

    /// Every transaction at or after `from`, oldest first: `GET transactions?from=` answers
    /// the `pages` (`transactions/idrange` URLs) that hold them, and each page is read
    /// (<https://developer.oanda.com/rest-live-v20/transaction-ep/>). Used after a takeover,
    /// when the earlier attempt's `lastTransactionID` is not known.
    async fn transactions_from_unscrubbed(
        &self,
        from: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Transaction>, OandaError> {
        let at = from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        // A 404 (the query's or a page's) is OANDA's documented error for the endpoint, not
        // an empty list: read as none, a takeover would recover no legs of an earlier
        // attempt's that filled.
        let missing = |what: &str| OandaError::Api {
            status: 404,
            code: String::new(),
            message: format!("{what} of account {} not found", self.account),
        };
        let found: TransactionPagesResponse = self
            .get(&self.url(&format!("/transactions?from={at}&pageSize=1000")))
            .await?
            .ok_or_else(|| missing("the transactions since the attempt"))?;
        let mut out = Vec::new();
        for page in &found.pages {
            // A page URL must point at the configured server: the bearer token goes nowhere else.
            if !page.starts_with(&format!("{}/", self.base)) {
                return Err(OandaError::Unreachable(format!(
                    "transactions page outside {}: not followed",
                    self.base
                )));
            }
            let page: TransactionsSinceResponse = self
                .get(page)
                .await?
                .ok_or_else(|| missing("a page of the transactions since the attempt"))?;
            out.extend(page.transactions);
        }
        match found.count {
            Some(count) if count != out.len() as u64 => Err(OandaError::Incomplete(format!(
                "the transactions since {at} are {count} by the query's count, and its pages \
                 held {}",
                out.len()
            ))),
            _ => Ok(out),
        }
    }

    /// The trading rules of one instrument (`GET instruments?instruments=<name>`).
    pub async fn instrument(&self, name: &str) -> Result<InstrumentRules, OandaError> {
        let found: Option<InstrumentsResponse> = self
            .get(&self.url(&format!("/instruments?instruments={name}")))
            .await?;
        let i = found
            .and_then(|r| r.instruments.into_iter().find(|i| i.name == name))
            .ok_or_else(|| OandaError::Api {
                status: 404,
                code: "INSTRUMENT_UNKNOWN".into(),
                message: format!("instrument {name} not offered to this account"),
            })?;
        // A size has at most 28 decimal places (`rust_decimal`'s scale): a larger
        // `tradeUnitsPrecision` (OANDA's are 0 or 1) is an answer that cannot be right, refused
        // as unreadable rather than taken.
        if i.trade_units_precision > 28 {
            return Err(OandaError::Unknown(format!(
                "instrument {name}: tradeUnitsPrecision {} is not a number of decimal places a \
                 size can have",
                i.trade_units_precision
            )));
        }
        Ok(InstrumentRules {
            name: i.name,
            kind: i.kind,
            precision: i.trade_units_precision,
            minimum_trade_size: i.minimum_trade_size,
            maximum_order_units: i.maximum_order_units,
            maximum_position_size: i.maximum_position_size.filter(|m| !m.is_zero()),
        })
    }

    /// The account's position in `instrument` as OANDA reports it (`None`: no position),
    /// with its `marginUsed` when given.
    pub async fn position_detail(&self, instrument: &str) -> Result<Option<Position>, OandaError> {
        Ok(self
            .position_response(instrument)
            .await?
            .map(|r| r.position))
    }

    /// `GET positions/{instrument}`: `None` for a 404 (no position, or no such account: the
    /// callers tell them apart).
    async fn position_response(
        &self,
        instrument: &str,
    ) -> Result<Option<PositionResponse>, OandaError> {
        self.get(&self.url(&format!("/positions/{instrument}")))
            .await
    }

    pub async fn account_summary(&self) -> Result<AccountSummary, OandaError> {
        let found: Option<AccountSummaryResponse> = self.get(&self.url("/summary")).await?;
        found.map(|r| r.account).ok_or_else(|| OandaError::Api {
            status: 404,
            code: "ACCOUNT_NOT_FOUND".into(),
            message: format!("account {} not found", self.account),
        })
    }

    /// A FOK market order for `units` (positive buys, negative sells), with
    /// `positionFill: REDUCE_FIRST` so it can never leave both sides open on a hedging
    /// account. Sent once: on `Err(Unknown)` look it up by `client_id`.
    ///
    /// The trade it opens carries `client_id` too (`tradeClientExtensions.id`): OANDA refuses
    /// an order naming a trade client id "already assigned to another open Trade"
    /// (`CLIENT_TRADE_ID_ALREADY_EXISTS`, in both `OrderCancelReason` and
    /// `TransactionRejectReason`, <https://developer.oanda.com/rest-live-v20/order-df/>,
    /// <https://developer.oanda.com/rest-live-v20/transaction-df/>). A client id is unique to
    /// its signal's leg, so an open trade holding it was opened by an earlier send of this
    /// very order: a second send (after a 429 whose order reached OANDA late, say) cannot
    /// open the position twice while the first trade is open. Such an answer is
    /// `Err(Unknown)`, never a cancel or a reject: the order it names has filled, and the
    /// lookup finds that fill. OANDA does not say whether an order that opens no trade is
    /// checked; either way the id is this leg's own, so a refusal can only mean the same.
    async fn market_order_unscrubbed(
        &self,
        instrument: &str,
        units: Decimal,
        client_id: &str,
    ) -> Result<OrderResult, OandaError> {
        let body = CreateOrderBody {
            order: MarketOrderRequest {
                kind: "MARKET",
                instrument: instrument.to_owned(),
                units: units.normalize().to_string(),
                time_in_force: "FOK",
                position_fill: "REDUCE_FIRST",
                client_extensions: ClientExtensions {
                    id: client_id.to_owned(),
                    tag: TAG.into(),
                },
                trade_client_extensions: ClientExtensions {
                    id: client_id.to_owned(),
                    tag: TAG.into(),
                },
            },
        };
        let (status, parsed) = self
            .send_order(
                Method::POST,
                &self.url("/orders"),
                &body,
                StatusCode::CREATED,
                &ORDER_REFUSALS,
            )
            .await?;
        let trade_id_taken = if status == StatusCode::CREATED {
            parsed
                .order_cancel_transaction
                .as_ref()
                .and_then(|t| t.reason.as_deref())
                == Some(TRADE_ID_TAKEN)
        } else {
            parsed
                .order_reject_transaction
                .as_ref()
                .and_then(|t| t.reject_reason.as_deref())
                .or(parsed.error_code.as_deref())
                == Some(TRADE_ID_TAKEN)
        };
        if trade_id_taken {
            return Err(OandaError::Unknown(format!(
                "OANDA refused the order with {TRADE_ID_TAKEN}: an open trade holds its client \
                 id, so an earlier send of this order filled"
            )));
        }
        if status == StatusCode::CREATED {
            return created(
                parsed.order_fill_transaction,
                parsed.order_cancel_transaction,
                parsed.order_create_transaction,
            );
        }
        Ok(OrderResult::Rejected {
            reason: reject_reason(&parsed, parsed.order_reject_transaction.as_ref(), status),
        })
    }

    /// Closes one side of a position entirely (`"ALL"`): OANDA rejects the whole request
    /// if it closes a side that does not exist, so only the side held is closed. The other
    /// side is named `"NONE"`: the documented default of an omitted side is `ALL`
    /// (`PositionCloseRequest`, `longUnits`/`shortUnits` "default=ALL",
    /// <https://developer.oanda.com/rest-live-v20/position-ep/>), which on a hedging account
    /// would close the side the plan keeps.
    async fn close_position_unscrubbed(
        &self,
        instrument: &str,
        side: PositionSideKind,
        client_id: &str,
    ) -> Result<OrderResult, OandaError> {
        let ext = Some(ClientExtensions {
            id: client_id.to_owned(),
            tag: TAG.into(),
        });
        let body = match side {
            PositionSideKind::Long => ClosePositionBody {
                long_units: Some("ALL"),
                long_client_extensions: ext,
                short_units: Some("NONE"),
                ..Default::default()
            },
            PositionSideKind::Short => ClosePositionBody {
                short_units: Some("ALL"),
                short_client_extensions: ext,
                long_units: Some("NONE"),
                ..Default::default()
            },
        };
        let url = self.url(&format!("/positions/{instrument}/close"));
        let (status, p) = self
            .send_order(Method::PUT, &url, &body, StatusCode::OK, &CLOSE_REFUSALS)
            .await?;
        if status == StatusCode::OK {
            return match side {
                PositionSideKind::Long => created(
                    p.long_order_fill_transaction,
                    p.long_order_cancel_transaction,
                    p.long_order_create_transaction,
                ),
                PositionSideKind::Short => created(
                    p.short_order_fill_transaction,
                    p.short_order_cancel_transaction,
                    p.short_order_create_transaction,
                ),
            };
        }
        let reject = match side {
            PositionSideKind::Long => p.long_order_reject_transaction.as_ref(),
            PositionSideKind::Short => p.short_order_reject_transaction.as_ref(),
        };
        // The side's own reject transaction decides when it gives a reason: the answer's
        // `errorCode` is the whole request's, and a request rejected for a missing side has
        // been seen with that code at the top while the side still held said
        // `CLOSEOUT_POSITION_REJECT`. The `errorCode` "may not be returned for some errors"
        // (the v20 spec's error responses,
        // <https://developer.oanda.com/rest-live-v20/position-ep/>); with no side reason it
        // decides. A 404 with neither, but OANDA's error body (its `errorMessage`), is the
        // spec's "The Account or one or more of the Positions specified does not exist": taken
        // as nothing to close, which the core confirms by reading the position before any
        // further leg (a side still held, or an account that is not there, ends the signal
        // without another order). A 404 without that body (a proxy's page) stays a refusal.
        const FLAT: &str = "CLOSEOUT_POSITION_DOESNT_EXIST";
        let flat = match reject.and_then(|r| r.reject_reason.as_deref()) {
            Some(reason) => reason == FLAT,
            None => match p.error_code.as_deref() {
                Some(code) => code == FLAT,
                None => status == StatusCode::NOT_FOUND && p.error_message.is_some(),
            },
        };
        if flat {
            return Ok(OrderResult::NothingToClose);
        }
        Ok(OrderResult::Rejected {
            reason: reject_reason(&p, reject, status),
        })
    }

    /// Sends an order request once. The documented `success` status and the documented
    /// refusals (`refusals`, [`ORDER_REFUSALS`] or [`CLOSE_REFUSALS`]) are OANDA's answer;
    /// anything else (another 2xx, another 4xx, a 5xx), or no readable answer, is `Unknown`.
    async fn send_order<B: serde::Serialize>(
        &self,
        method: Method,
        url: &str,
        body: &B,
        success: StatusCode,
        refusals: &[u16],
    ) -> Result<(StatusCode, OrderResponse), OandaError> {
        let resp = self
            .request(method, url)
            .json(body)
            .send()
            .await
            .map_err(|e| {
                if http::never_sent(&e) {
                    OandaError::NotSent(describe(e))
                } else {
                    OandaError::Unknown(describe(e))
                }
            })?;
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            // Over the rate limit: the core looks the order up before any send again (see
            // `OandaError::RateLimited`).
            return Err(OandaError::RateLimited {
                retry_after: retry_after(resp.headers()),
            });
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| OandaError::Unknown(describe(e)))?;
        if status != success && !refusals.contains(&status.as_u16()) {
            return Err(OandaError::Unknown(format!("OANDA answered {status}")));
        }
        let parsed: OrderResponse =
            serde_json::from_slice(&self.scrub_body(&bytes)).unwrap_or_default();
        if status.is_success()
            && parsed.order_create_transaction.is_none()
            && parsed.long_order_create_transaction.is_none()
            && parsed.short_order_create_transaction.is_none()
        {
            return Err(OandaError::Unknown(format!("unreadable {status} body")));
        }
        Ok((status, parsed))
    }
}

/// The reason OANDA gives for an order naming a trade client id an open trade holds (see
/// `market_order_unscrubbed`).
pub(crate) const TRADE_ID_TAKEN: &str = "CLIENT_TRADE_ID_ALREADY_EXISTS";

/// The error statuses OANDA's v20 specification gives for creating an order
/// (<https://developer.oanda.com/rest-live-v20/order-ep/>): OANDA's own refusal, nothing
/// created. Any other 4xx (a 408 or 409 from a proxy in between, say) is not documented to
/// mean that, so the order's outcome is unknown and it is looked up, never taken as refused;
/// so is a 2xx other than the documented 201.
const ORDER_REFUSALS: [u16; 5] = [400, 401, 403, 404, 405];

/// The same for closing a position (<https://developer.oanda.com/rest-live-v20/position-ep/>),
/// whose success is a 200.
const CLOSE_REFUSALS: [u16; 4] = [400, 401, 404, 405];

fn created(
    fill: Option<Transaction>,
    cancel: Option<Transaction>,
    create: Option<Transaction>,
) -> Result<OrderResult, OandaError> {
    let order_id = create.map(|t| t.id).unwrap_or_default();
    if let Some(fill) = fill {
        let order_id = fill.order_id.clone().unwrap_or(order_id);
        // A fill and a cancel in one answer: the rest of the order did not fill. A FOK order
        // fills whole or not at all, but a position's closeout may be done in part (the v20
        // `OrderCancelReason` `POSITION_CLOSEOUT_FAILED`, "Closing out a position wasn't
        // fully possible", <https://developer.oanda.com/rest-live-v20/order-df/>).
        let rest = cancel.map(|c| in_part(&order_id, &c));
        return Ok(OrderResult::Filled {
            fee: fill.fee_in_quote(),
            price: fill.fill_price(),
            reduced: fill.units_reduced(),
            order_id,
            units: fill.units,
            rest,
        });
    }
    if let Some(cancel) = cancel {
        return Ok(OrderResult::Cancelled {
            order_id: cancel.order_id.clone().unwrap_or(order_id),
            reason: cancel_reason(&cancel),
        });
    }
    // Created but neither filled nor cancelled: a FOK order cannot stay like this, so we
    // do not know what happened yet.
    Err(OandaError::Unknown(format!(
        "order {order_id} created without fill or cancel"
    )))
}

/// A cancel's reason, cut and redacted as a reject's is (see `reject_reason`).
fn cancel_reason(cancel: &Transaction) -> String {
    cancel
        .reason
        .as_deref()
        .map_or_else(|| "CANCELLED".into(), |r| shown_text(r.as_bytes()))
}

/// What did not fill of order `order_id`, filled and then `cancel`led in part (a position's
/// closeout done in part), in words.
pub(crate) fn in_part(order_id: &str, cancel: &Transaction) -> String {
    format!("order {order_id} filled in part: {}", cancel_reason(cancel))
}

/// The words of a refused order: the reject transaction's reason or the answer's code, and its
/// message. Each goes through `shown_text` (cut, bearer tokens and JWTs redacted): a gateway or
/// debugging server at the base URL can answer in OANDA's shape with the request's headers in
/// any field, and this text is journaled, logged and mailed.
fn reject_reason(body: &OrderResponse, reject: Option<&Transaction>, status: StatusCode) -> String {
    reject
        .and_then(|t| t.reject_reason.clone())
        .or_else(|| body.error_code.clone())
        .map(|code| {
            let code = shown_text(code.as_bytes());
            match &body.error_message {
                Some(m) => format!("{code}: {}", shown_text(m.as_bytes())),
                None => code,
            }
        })
        .or_else(|| {
            body.error_message
                .as_deref()
                .map(|m| shown_text(m.as_bytes()))
        })
        .unwrap_or_else(|| format!("HTTP {status}"))
}

impl From<ReadFailure> for OandaError {
    fn from(f: ReadFailure) -> Self {
        match f {
            ReadFailure::Unreachable(why) => Self::Unreachable(why),
            ReadFailure::Status(status, body) => api_error(status, &body),
        }
    }
}

/// `Retry-After` in seconds, if the answer has one.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Whether a 404's body is OANDA's own error (`{errorMessage}`, the v20 specification's
/// error responses): "does not exist". A 404 of something in front of OANDA (a gateway's
/// `{"message": "Not Found"}`, an HTML page) is not; a position so answered read as flat.
fn oandas_404(body: &[u8]) -> bool {
    serde_json::from_slice::<ErrorBody>(body).is_ok_and(|b| b.error_message.is_some())
}

fn api_error(status: StatusCode, bytes: &[u8]) -> OandaError {
    if status == StatusCode::TOO_MANY_REQUESTS {
        // A read's 429: the status is all the shared read path passes on.
        return OandaError::RateLimited { retry_after: None };
    }
    let body: ErrorBody = serde_json::from_slice(bytes).unwrap_or_default();
    // The broker's words, with any echoed bearer token redacted: errors are journaled,
    // logged and mailed. An answer without OANDA's error fields (a proxy's page, a gateway's
    // JSON) is named so, with its first words, rather than an empty reason.
    let message = match (&body.error_code, body.error_message) {
        (_, Some(m)) => shown_text(m.as_bytes()),
        (Some(_), None) => String::new(),
        (None, None) => {
            // A 404 that is not OANDA's is most likely the path itself unknown to what
            // answered (OANDA_BASE_URL); any other status, what stands in front of OANDA.
            let hint = match status {
                StatusCode::NOT_FOUND => "something in front of OANDA, or OANDA_BASE_URL",
                _ => "something in front of OANDA",
            };
            match shown_text(bytes) {
                first if first.trim().is_empty() => format!("not OANDA's error ({hint})"),
                first => format!("not OANDA's error ({hint}): {first}"),
            }
        }
    };
    OandaError::Api {
        status: status.as_u16(),
        code: shown_text(body.error_code.unwrap_or_default().as_bytes()),
        message,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tx(json: serde_json::Value) -> Transaction {
        serde_json::from_value(json).unwrap()
    }

    /// A close answered with a fill and a cancel (a closeout done in part): filled in part,
    /// with the cancel's reason, never a whole fill; a fill alone is whole.
    #[test]
    fn a_fill_with_a_cancel_in_one_answer_is_filled_in_part() {
        let fill = || {
            tx(
                serde_json::json!({"id": "12", "type": "ORDER_FILL", "orderID": "11",
                                  "units": "-400", "fullVWAP": "1.08345"}),
            )
        };
        let cancel = tx(
            serde_json::json!({"id": "13", "type": "ORDER_CANCEL", "orderID": "11",
                                           "reason": "POSITION_CLOSEOUT_FAILED"}),
        );
        match created(Some(fill()), Some(cancel), None).unwrap() {
            OrderResult::Filled {
                order_id,
                units,
                rest: Some(rest),
                ..
            } => {
                assert_eq!(
                    (order_id.as_str(), units),
                    ("11", Some(Decimal::from(-400)))
                );
                assert!(rest.contains("POSITION_CLOSEOUT_FAILED"), "{rest}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            created(Some(fill()), None, None).unwrap(),
            OrderResult::Filled { rest: None, .. }
        ));
    }
}
