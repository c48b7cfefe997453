//! The parts of OANDA v20's wire format the executor reads and writes. Numbers are decimal
//! strings on the wire and `Decimal` here.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientExtensions {
    pub id: String,
    pub tag: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MarketOrderRequest {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub instrument: String,
    pub units: String,
    pub time_in_force: &'static str,
    pub position_fill: &'static str,
    pub client_extensions: ClientExtensions,
    /// The client extensions of the trade the order opens, if it opens one
    /// (`MarketOrderRequest.tradeClientExtensions`,
    /// <https://developer.oanda.com/rest-live-v20/order-df/>).
    pub trade_client_extensions: ClientExtensions,
}

#[derive(Debug, Clone, Serialize)]
pub struct CreateOrderBody {
    pub order: MarketOrderRequest,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClosePositionBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long_units: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_units: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long_client_extensions: Option<ClientExtensions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_client_extensions: Option<ClientExtensions>,
}

/// The client extensions a transaction carries (Swagger `ClientExtensions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TxClientExtensions {
    /// Empty when the extensions carry no id.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// A transaction, with the fields of the kinds the executor reads (Swagger
/// `MarketOrderTransaction`, `OrderFillTransaction`, `OrderCancelTransaction`,
/// `MarketOrderRejectTransaction`, <https://github.com/oanda/v20-openapi> `json/v20.json`).
/// OANDA spells identifiers with a capital `ID` (`orderID`, `clientOrderID`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    pub id: String,
    /// `MARKET_ORDER`, `ORDER_FILL`, `ORDER_CANCEL`, `MARKET_ORDER_REJECT`, …
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub time: Option<String>,
    #[serde(default)]
    pub instrument: Option<String>,
    /// Fill and cancel: the order they belong to.
    #[serde(default, rename = "orderID")]
    pub order_id: Option<String>,
    /// Fill and cancel: the client id of that order, when it has one.
    #[serde(default, rename = "clientOrderID")]
    pub client_order_id: Option<String>,
    /// Market order and market order reject: the request's client extensions.
    #[serde(default)]
    pub client_extensions: Option<TxClientExtensions>,
    #[serde(default)]
    pub units: Option<Decimal>,
    /// Fill: the price "in the absence of guaranteed price execution", which the Swagger
    /// marks "deprecated and should no longer be used"; read only when `fullVWAP` is absent
    /// (see [`Transaction::fill_price`]).
    #[serde(default)]
    pub price: Option<Decimal>,
    /// Fill: the volume-weighted average price of all the fill's units (`fullVWAP`,
    /// `OrderFillTransaction`, <https://developer.oanda.com/rest-live-v20/transaction-df/>).
    #[serde(default, rename = "fullVWAP")]
    pub full_vwap: Option<Decimal>,
    /// Why the transaction was made (create, fill, cancel reasons).
    #[serde(default)]
    pub reason: Option<String>,
    /// A reject's `TransactionRejectReason`.
    #[serde(default)]
    pub reject_reason: Option<String>,
    /// Fill: "the commission charged in the Account's home currency as a result of filling
    /// the Order", always positive (Swagger `OrderFillTransaction.commission`).
    #[serde(default)]
    pub commission: Option<Decimal>,
    /// Fill: the fee of a guaranteed stop loss order, in the home currency
    /// (`OrderFillTransaction.guaranteedExecutionFee`).
    #[serde(default)]
    pub guaranteed_execution_fee: Option<Decimal>,
    /// Fill: the factor converting losses in the instrument's quote currency into the home
    /// currency (home = quote × factor; `OrderFillTransaction.lossQuoteHomeConversionFactor`).
    #[serde(default)]
    pub loss_quote_home_conversion_factor: Option<Decimal>,
    /// `MarketOrderTransaction` / `MarketOrderRejectTransaction.longPositionCloseout`: set when
    /// the order closes out the long side (a position close); its contents are not read.
    #[serde(default)]
    pub long_position_closeout: Option<serde_json::Value>,
    /// The same for the short side (`shortPositionCloseout`).
    #[serde(default)]
    pub short_position_closeout: Option<serde_json::Value>,
    /// Fill: the trade it reduced (`OrderFillTransaction.tradeReduced`, a `TradeReduce` whose
    /// `units` are "the number of units that the Trade was reduced by").
    #[serde(default)]
    pub trade_reduced: Option<TradeUnits>,
    /// Fill: the trades it closed (`OrderFillTransaction.tradesClosed`, `TradeReduce`s).
    #[serde(default)]
    pub trades_closed: Option<Vec<TradeUnits>>,
}

/// A `TradeReduce` of a fill: how many units of an open trade it reduced or closed
/// (<https://developer.oanda.com/rest-live-v20/transaction-df/>).
#[derive(Debug, Clone, Deserialize)]
pub struct TradeUnits {
    /// The units the trade was reduced by, signed as OANDA gives them (read as magnitude).
    #[serde(default)]
    pub units: Option<Decimal>,
}

impl Transaction {
    /// The units of open trades a fill reduced or closed (`tradeReduced`, `tradesClosed`),
    /// sign dropped; zero for a fill that only opened.
    pub fn units_reduced(&self) -> Decimal {
        self.trade_reduced
            .iter()
            .chain(self.trades_closed.iter().flatten())
            .filter_map(|t| t.units)
            .map(|u| u.abs())
            .sum()
    }

    /// A fill's average price: `fullVWAP`, else the deprecated `price` that older answers
    /// carry alone.
    pub fn fill_price(&self) -> Option<Decimal> {
        self.full_vwap.or(self.price)
    }

    /// A fill's costs in the instrument's quote currency, the currency the journal values the
    /// fill in: (`commission` + `guaranteedExecutionFee`) ÷ `lossQuoteHomeConversionFactor`.
    /// `None` when the fill reports no cost field, or a non-zero cost without a usable factor
    /// (then the cost cannot be put in the quote currency, and the report says the fee is
    /// unknown rather than guess). Financing is not a fee of the fill and is left out.
    pub fn fee_in_quote(&self) -> Option<Decimal> {
        if self.commission.is_none() && self.guaranteed_execution_fee.is_none() {
            return None;
        }
        let home = self.commission.unwrap_or_default().abs()
            + self.guaranteed_execution_fee.unwrap_or_default().abs();
        if home.is_zero() {
            return Some(Decimal::ZERO);
        }
        let factor = self
            .loss_quote_home_conversion_factor
            .filter(|f| *f > Decimal::ZERO)?;
        home.checked_div(factor).map(|q| q.round_dp(8))
    }

    /// The client id this transaction is about: `clientExtensions.id` on a create or reject,
    /// `clientOrderID` on a fill or cancel.
    pub fn client_id(&self) -> Option<&str> {
        self.client_extensions
            .as_ref()
            .map(|e| e.id.as_str())
            .filter(|id| !id.is_empty())
            .or(self.client_order_id.as_deref())
    }
}

/// The 201/200/400 bodies of create and close, all optional: which ones are present says
/// what happened.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderResponse {
    pub order_create_transaction: Option<Transaction>,
    pub order_fill_transaction: Option<Transaction>,
    pub order_cancel_transaction: Option<Transaction>,
    pub order_reject_transaction: Option<Transaction>,
    pub long_order_create_transaction: Option<Transaction>,
    pub long_order_fill_transaction: Option<Transaction>,
    pub long_order_cancel_transaction: Option<Transaction>,
    pub long_order_reject_transaction: Option<Transaction>,
    pub short_order_create_transaction: Option<Transaction>,
    pub short_order_fill_transaction: Option<Transaction>,
    pub short_order_cancel_transaction: Option<Transaction>,
    pub short_order_reject_transaction: Option<Transaction>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionSide {
    pub units: Decimal,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    pub instrument: String,
    pub long: PositionSide,
    pub short: PositionSide,
    /// "Margin currently used by the Position", in the account's home currency (Swagger
    /// `Position.marginUsed`); read only before a reversal that grows the position.
    #[serde(default)]
    pub margin_used: Option<Decimal>,
    /// The position's unrealized profit or loss, home currency (`Position.unrealizedPL`).
    #[serde(default, rename = "unrealizedPL")]
    pub unrealized_pl: Option<Decimal>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionResponse {
    pub position: Position,
    #[serde(default, rename = "lastTransactionID")]
    pub last_transaction_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountSummary {
    pub id: String,
    pub currency: String,
    pub balance: Decimal,
    #[serde(rename = "NAV")]
    pub nav: Option<Decimal>,
    pub margin_available: Option<Decimal>,
    #[serde(default)]
    pub hedging_enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AccountSummaryResponse {
    pub account: AccountSummary,
    #[serde(default, rename = "lastTransactionID")]
    pub last_transaction_id: Option<String>,
}

/// `GET transactions/sinceid?id=`: every transaction after that id.
#[derive(Debug, Clone, Deserialize)]
pub struct TransactionsSinceResponse {
    pub transactions: Vec<Transaction>,
    #[serde(default, rename = "lastTransactionID")]
    pub last_transaction_id: Option<String>,
}

/// The Swagger `Instrument` fields the executor reads. Decimals travel as strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instrument {
    pub name: String,
    /// `CURRENCY`, `CFD` or `METAL`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Decimal places allowed in an order's units.
    pub trade_units_precision: u32,
    pub minimum_trade_size: Decimal,
    #[serde(default)]
    pub maximum_order_units: Option<Decimal>,
    /// `0` means no maximum.
    #[serde(default)]
    pub maximum_position_size: Option<Decimal>,
}

/// `GET instruments?instruments=`.
#[derive(Debug, Clone, Deserialize)]
pub struct InstrumentsResponse {
    pub instruments: Vec<Instrument>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

/// `GET transactions?from=…`: the pages (`transactions/idrange` URLs) of the transactions in
/// the time range.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionPagesResponse {
    #[serde(default)]
    pub pages: Vec<String>,
    /// "The number of Transactions that are contained in the pages returned"
    /// (<https://developer.oanda.com/rest-live-v20/transaction-ep/>): the pages read must
    /// hold that many, or the list is not whole.
    pub count: Option<u64>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_fill_price_is_its_full_vwap_before_the_deprecated_price() {
        let fill = |json: &str| serde_json::from_str::<Transaction>(json).unwrap();
        let both = fill(r#"{"id":"7","type":"ORDER_FILL","price":"1.08340","fullVWAP":"1.08345"}"#);
        assert_eq!(both.fill_price(), Some("1.08345".parse().unwrap()));
        let old = fill(r#"{"id":"7","type":"ORDER_FILL","price":"1.08340"}"#);
        assert_eq!(old.fill_price(), Some("1.08340".parse().unwrap()));
    }

    fn fill(fields: serde_json::Value) -> Transaction {
        let mut v = serde_json::json!({"id": "6369", "type": "ORDER_FILL"});
        v.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_fill_cost_is_put_in_the_quote_currency_or_left_unknown() {
        // USD account, USD_JPY: 0.10 USD commission, 1 JPY = 0.0066 USD → 15.15151515 JPY.
        let t = fill(
            serde_json::json!({"commission": "0.1000", "guaranteedExecutionFee": "0.0000",
                                        "lossQuoteHomeConversionFactor": "0.0066"}),
        );
        assert_eq!(t.fee_in_quote(), Some("15.15151515".parse().unwrap()));
        // A guaranteed stop's fee counts too.
        let t = fill(
            serde_json::json!({"commission": "0", "guaranteedExecutionFee": "0.25",
                                        "lossQuoteHomeConversionFactor": "1"}),
        );
        assert_eq!(t.fee_in_quote(), Some("0.25".parse().unwrap()));
        // Nothing charged: 0 whatever the factor.
        let t = fill(serde_json::json!({"commission": "0.0000"}));
        assert_eq!(t.fee_in_quote(), Some(Decimal::ZERO));
        // A cost without a factor cannot be converted: unknown, not a guess.
        let t = fill(serde_json::json!({"commission": "0.1000"}));
        assert_eq!(t.fee_in_quote(), None);
        // No cost field at all: unknown.
        assert_eq!(fill(serde_json::json!({})).fee_in_quote(), None);
    }
}
