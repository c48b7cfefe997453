//! The parts of the Advanced Trade wire format the executor reads and writes. Numbers are
//! decimal strings on the wire and `Decimal` here; Coinbase sends `""` for some absent
//! numbers, read as `None`.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use std::str::FromStr;

/// A text field read as empty when it is `null`, as when it is absent: the documents do not
/// say these are never `null` (a hand-placed order has no client order id), and one order so
/// must not make a whole page of the list unreadable, and every lookup with it.
fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(serde_json::Number),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Text(s)) if s.trim().is_empty() => Ok(None),
        Some(Raw::Text(s)) => Decimal::from_str(s.trim())
            .map(Some)
            .map_err(serde::de::Error::custom),
        Some(Raw::Number(n)) => Decimal::from_str(&n.to_string())
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Balance {
    pub value: Decimal,
    pub currency: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub uuid: String,
    pub currency: String,
    pub available_balance: Balance,
    #[serde(default)]
    pub hold: Option<Balance>,
    /// The portfolio the account belongs to (List Accounts: `retail_portfolio_id`).
    #[serde(default)]
    pub retail_portfolio_id: Option<String>,
    /// List Accounts' `type`: `ACCOUNT_TYPE_CRYPTO`, `ACCOUNT_TYPE_FIAT`,
    /// `ACCOUNT_TYPE_VAULT`, `ACCOUNT_TYPE_PERP_FUTURES` (or `ACCOUNT_TYPE_UNSPECIFIED`).
    #[serde(default, rename = "type")]
    pub account_type: Option<String>,
    /// List Accounts' `platform`: `ACCOUNT_PLATFORM_CONSUMER`, `ACCOUNT_PLATFORM_CFM_CONSUMER`
    /// (futures), `ACCOUNT_PLATFORM_INTX` (international perpetuals).
    #[serde(default)]
    pub platform: Option<String>,
    /// List Accounts' `ready`: "whether or not this account is ready to trade".
    #[serde(default)]
    pub ready: Option<bool>,
}

impl Account {
    /// Whether a spot market order can draw on this account's balance, by what List Accounts
    /// (<https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/accounts/list-accounts>)
    /// says of it: left out only when it is named a vault or a perpetual futures account
    /// (`ACCOUNT_TYPE_VAULT`, `ACCOUNT_TYPE_PERP_FUTURES`, or without the prefix, as the
    /// reference's example spells `FIAT`), on the futures or international platform
    /// (`ACCOUNT_PLATFORM_CFM_CONSUMER`, `ACCOUNT_PLATFORM_INTX`), or said not ready to trade.
    /// Anything else counts, a field left out or a value not listed too: leaving out the
    /// trading account would read a position as none, and a long entry would buy it again,
    /// where counting a balance it cannot sell makes a sale Coinbase refuses for its funds.
    pub fn trades_spot(&self) -> bool {
        let named = |field: Option<&str>, prefix: &str, excluded: &[&str]| {
            field.is_some_and(|v| excluded.contains(&v.strip_prefix(prefix).unwrap_or(v)))
        };
        !named(
            self.account_type.as_deref(),
            "ACCOUNT_TYPE_",
            &["VAULT", "PERP_FUTURES"],
        ) && !named(
            self.platform.as_deref(),
            "ACCOUNT_PLATFORM_",
            &["CFM_CONSUMER", "INTX"],
        ) && self.ready != Some(false)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AccountsPage {
    pub accounts: Vec<Account>,
    /// Absent reads as no more pages only with no cursor either (see `client::next_page`).
    #[serde(default)]
    pub has_next: Option<bool>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub cursor: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Product {
    pub product_id: String,
    #[serde(default, deserialize_with = "opt_decimal")]
    pub price: Option<Decimal>,
    pub base_increment: Decimal,
    pub quote_increment: Decimal,
    pub base_min_size: Decimal,
    pub quote_min_size: Decimal,
    #[serde(default, deserialize_with = "opt_decimal")]
    pub base_max_size: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_decimal")]
    pub quote_max_size: Option<Decimal>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub trading_disabled: bool,
    #[serde(default)]
    pub is_disabled: bool,
    #[serde(default)]
    pub cancel_only: bool,
    #[serde(default)]
    pub limit_only: bool,
    /// Only orders that add liquidity are accepted (Get Product: `post_only`,
    /// <https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/products/get-product>):
    /// a market order, which takes liquidity, is not.
    #[serde(default)]
    pub post_only: bool,
    /// The product is in auction mode (Get Product: `auction_mode`), as at a listing: a
    /// market IOC order cannot be expected to fill at once.
    #[serde(default)]
    pub auction_mode: bool,
    /// The product can be viewed and not traded (Get Product: `view_only`).
    #[serde(default)]
    pub view_only: bool,
    #[serde(default)]
    pub base_currency_id: Option<String>,
    #[serde(default)]
    pub quote_currency_id: Option<String>,
}

impl Product {
    /// Why a market order cannot be placed now, if it cannot.
    pub fn not_tradable(&self) -> Option<String> {
        let mut why = Vec::new();
        if self.trading_disabled || self.is_disabled {
            why.push("trading disabled".to_owned());
        }
        if self.cancel_only {
            why.push("cancel only".to_owned());
        }
        if self.limit_only {
            why.push("limit orders only".to_owned());
        }
        if self.post_only {
            why.push("post-only orders only".to_owned());
        }
        if self.auction_mode {
            why.push("in auction mode".to_owned());
        }
        if self.view_only {
            why.push("view only".to_owned());
        }
        if let Some(status) = &self.status
            && !status.is_empty()
            && !status.eq_ignore_ascii_case("online")
        {
            why.push(format!("status {status}"));
        }
        (!why.is_empty())
            .then(|| format!("{} is not tradable: {}", self.product_id, why.join(", ")))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MarketIoc {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote_size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_size: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderConfiguration {
    pub market_market_ioc: MarketIoc,
}

#[derive(Debug, Clone, Serialize)]
pub struct CreateOrderBody {
    pub client_order_id: String,
    pub product_id: String,
    pub side: &'static str,
    pub order_configuration: OrderConfiguration,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SuccessResponse {
    #[serde(default)]
    pub order_id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorResponse {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub error_details: String,
    #[serde(default)]
    pub preview_failure_reason: String,
    #[serde(default)]
    pub new_order_failure_reason: String,
}

impl ErrorResponse {
    /// The broker's reason, e.g. `INSUFFICIENT_FUND: Insufficient balance in source account
    /// (PREVIEW_INSUFFICIENT_FUND)`. Placeholder values (`UNKNOWN_*`) are left out.
    pub fn reason(&self) -> String {
        let meaningful =
            |s: &str| !s.trim().is_empty() && !s.starts_with("UNKNOWN_") && s != "UNSPECIFIED";
        let mut text = String::new();
        if meaningful(&self.error) {
            text.push_str(&self.error);
        }
        for part in [&self.message, &self.error_details] {
            if meaningful(part) && !text.contains(part.as_str()) {
                if !text.is_empty() {
                    text.push_str(": ");
                }
                text.push_str(part);
            }
        }
        let codes: Vec<&str> = [&self.preview_failure_reason, &self.new_order_failure_reason]
            .into_iter()
            .filter(|s| meaningful(s) && !text.contains(s.as_str()))
            .map(String::as_str)
            .collect();
        if !codes.is_empty() {
            text.push_str(&format!(" ({})", codes.join(", ")));
        }
        text.trim().to_owned()
    }
}

/// The answer to `POST /orders`: HTTP 200 either way; `success` decides.
#[derive(Debug, Clone, Deserialize)]
pub struct CreateOrderResponse {
    pub success: bool,
    #[serde(default)]
    pub failure_reason: Option<String>,
    #[serde(default)]
    pub order_id: Option<String>,
    #[serde(default)]
    pub success_response: Option<SuccessResponse>,
    #[serde(default)]
    pub error_response: Option<ErrorResponse>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    pub order_id: String,
    pub product_id: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub side: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub client_order_id: String,
    /// `null` reads as empty: an order of no known status, so not final.
    #[serde(deserialize_with = "null_as_empty")]
    pub status: String,
    #[serde(default, deserialize_with = "opt_decimal")]
    pub filled_size: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_decimal")]
    pub average_filled_price: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_decimal")]
    pub filled_value: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_decimal")]
    pub total_fees: Option<Decimal>,
    #[serde(default)]
    pub reject_reason: Option<String>,
    #[serde(default)]
    pub reject_message: Option<String>,
    #[serde(default)]
    pub cancel_message: Option<String>,
    /// The configuration the order was created with (Get Order's `order_configuration`):
    /// what a market IOC order asked for. Kept as text: a value this client cannot read
    /// must not make the order unreadable.
    #[serde(default)]
    pub order_configuration: Option<ConfigurationRead>,
    /// Get Order's `settled` (Advanced Trade API `Order`; the official Python SDK's
    /// `get_order` answer carries it). The documents do not say that a final status comes with
    /// its fills final, so an order that ended short of filled (`CANCELLED`, `EXPIRED`,
    /// `FAILED`) and is `settled: false` is not taken as final ([`Order::is_final`]): its
    /// `filled_size` may still grow; nor is a `FILLED` one so marked that shows no size yet
    /// (`FILLED` is the whole size by its name, but a buy's base size is read from
    /// `filled_size`). A hold on the
    /// product (`venue::CoinbaseVenue`) waits for it on any ended order, for two minutes at
    /// most.
    #[serde(default)]
    pub settled: Option<bool>,
}

/// What [`Order::order_configuration`] says of a market IOC order.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConfigurationRead {
    #[serde(default)]
    pub market_market_ioc: Option<IocRead>,
}

/// A market IOC order's size: `quote_size` (a buy, quote currency) or `base_size` (a sell).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IocRead {
    #[serde(default)]
    pub quote_size: Option<String>,
    #[serde(default)]
    pub base_size: Option<String>,
}

impl Order {
    /// The size the order asked for, as (base size, quote size), each when it reads as a
    /// number.
    pub fn asked(&self) -> (Option<Decimal>, Option<Decimal>) {
        let ioc = self
            .order_configuration
            .as_ref()
            .and_then(|c| c.market_market_ioc.as_ref());
        let read = |s: Option<&String>| s.and_then(|s| Decimal::from_str(s.trim()).ok());
        (
            read(ioc.and_then(|i| i.base_size.as_ref())),
            read(ioc.and_then(|i| i.quote_size.as_ref())),
        )
    }

    /// No more fills will come, and what filled is shown: FILLED (with its size, or settled),
    /// or an IOC remainder cancelled/expired, or failed, not marked unsettled.
    pub fn is_final(&self) -> bool {
        match self.status.as_str() {
            // `FILLED` is the whole size, but one not settled that shows no size yet (a buy
            // sized in the quote currency) is read again: taken as it is, its size unknown,
            // the leg ended `unknown` for a buy that filled. So is an unsettled sale showing
            // less than it asked ([`Self::unsettled_short`]).
            "FILLED" => {
                self.settled != Some(false)
                    || (self.filled_size.is_some_and(|s| s > Decimal::ZERO)
                        && !self.unsettled_short())
            }
            // What an order that ended short of filled traded is its `filled_size`: taken only
            // once the order is not marked unsettled.
            "CANCELLED" | "EXPIRED" | "FAILED" => self.settled != Some(false),
            _ => false,
        }
    }
}

impl Order {
    /// A sale shown `FILLED` and `settled: false` with less filled than its base size asked:
    /// its fills may not all be listed yet (the documents promise no order in which an
    /// unsettled order's size grows), so its size is not yet what it traded. Taken as it
    /// was, it read as a fill in part (alarmed, journaled short), and the wallet, showing
    /// the whole sale, never matched it.
    pub fn unsettled_short(&self) -> bool {
        // A sale asks a base size (a buy a quote size): read by that, since an order read
        // back may leave out its `side`.
        self.status == "FILLED"
            && self.settled == Some(false)
            && self
                .asked()
                .0
                .is_some_and(|asked| self.filled_size.unwrap_or_default() < asked)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrderResponse {
    pub order: Order,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrdersPage {
    pub orders: Vec<Order>,
    /// As [`AccountsPage::has_next`].
    #[serde(default)]
    pub has_next: Option<bool>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub cursor: String,
}

/// A 4xx body: `{error, message, error_details}` as far as Coinbase documents it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error_details: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `null` where a text is expected (a hand-placed order's client order id, the last
    /// page's cursor) reads as empty: it made the whole page unreadable, and every lookup of
    /// the product with it.
    #[test]
    fn a_null_text_field_reads_as_empty_and_keeps_the_page_readable() {
        let page: OrdersPage = serde_json::from_str(
            r#"{"orders":[
                {"order_id":"a","product_id":"BTC-USD","side":"SELL","client_order_id":null,
                 "status":"FILLED","filled_size":"0.1"},
                {"order_id":"b","product_id":"BTC-USD","side":null,"client_order_id":"c1",
                 "status":null}
            ],"has_next":false,"cursor":null}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(page.orders.len(), 2);
        assert_eq!(page.orders[0].client_order_id, "");
        assert!(page.orders[0].is_final());
        assert_eq!(page.orders[1].client_order_id, "c1");
        assert!(!page.orders[1].is_final(), "no status is not final");
        assert_eq!(page.cursor, "");
        let accounts: AccountsPage =
            serde_json::from_str(r#"{"accounts":[],"has_next":false,"cursor":null}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(accounts.cursor, "");
        // A status left out is still a malformed order.
        assert!(
            serde_json::from_str::<Order>(r#"{"order_id":"a","product_id":"BTC-USD"}"#).is_err()
        );
    }

    /// Only accounts a spot order can draw on count: no vault, no perpetual futures account,
    /// nothing on the futures or international platform, nothing said not ready; a field
    /// left out excludes nothing.
    #[test]
    fn only_accounts_a_spot_order_draws_on_are_counted() {
        let account = |extra: &str| -> Account {
            serde_json::from_str(&format!(
                r#"{{"uuid":"u","currency":"BTC","available_balance":{{"value":"1","currency":"BTC"}}{extra}}}"#
            ))
            .unwrap_or_else(|e| panic!("{extra}: {e}"))
        };
        for (extra, trades) in [
            ("", true),
            (
                r#","type":"ACCOUNT_TYPE_CRYPTO","platform":"ACCOUNT_PLATFORM_CONSUMER","ready":true"#,
                true,
            ),
            (r#","type":"ACCOUNT_TYPE_FIAT""#, true),
            (r#","type":"ACCOUNT_TYPE_VAULT""#, false),
            (r#","type":"VAULT""#, false),
            (r#","type":"ACCOUNT_TYPE_UNSPECIFIED""#, true),
            (r#","platform":"ACCOUNT_PLATFORM_UNSPECIFIED""#, true),
            (r#","platform":"SOMETHING_NEW""#, true),
            (r#","type":"ACCOUNT_TYPE_PERP_FUTURES""#, false),
            (r#","platform":"ACCOUNT_PLATFORM_CFM_CONSUMER""#, false),
            (r#","platform":"ACCOUNT_PLATFORM_INTX""#, false),
            (r#","ready":false"#, false),
        ] {
            assert_eq!(account(extra).trades_spot(), trades, "{extra}");
        }
    }

    #[test]
    fn a_failure_reason_names_the_error_message_and_preview_reason() {
        let body: CreateOrderResponse = serde_json::from_str(
            r#"{ "success": false, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": "",
                 "error_response": { "error": "INSUFFICIENT_FUND",
                   "message": "Insufficient balance in source account", "error_details": "",
                   "preview_failure_reason": "PREVIEW_INSUFFICIENT_FUND" },
                 "order_configuration": { "market_market_ioc": { "quote_size": "10" } } }"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(!body.success);
        assert_eq!(
            body.error_response.unwrap_or_default().reason(),
            "INSUFFICIENT_FUND: Insufficient balance in source account (PREVIEW_INSUFFICIENT_FUND)"
        );
    }

    #[test]
    fn empty_numbers_read_as_absent() {
        let order: Order = serde_json::from_str(
            r#"{"order_id":"1","product_id":"BTC-USD","status":"OPEN","filled_size":"",
                "average_filled_price":"0","client_order_id":"x"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(order.filled_size, None);
        assert_eq!(order.average_filled_price, Some(Decimal::ZERO));
        assert!(!order.is_final());
    }
}
