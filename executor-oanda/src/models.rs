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

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub order_id: Option<String>,
    #[serde(default)]
    pub units: Option<Decimal>,
    #[serde(default)]
    pub price: Option<Decimal>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub reject_reason: Option<String>,
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionResponse {
    pub position: Position,
    pub last_transaction_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: String,
    pub state: String,
    #[serde(default)]
    pub filling_transaction_id: Option<String>,
    #[serde(default)]
    pub cancelling_transaction_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrderLookupResponse {
    pub order: Order,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TransactionResponse {
    pub transaction: Transaction,
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
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}
