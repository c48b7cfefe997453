//! The parts of Tradovate's wire format the executor and refresher use. IDs are 64-bit
//! integers; quantities are whole contracts. Entity shapes follow the official OpenAPI
//! description (<https://partner.tradovate.com/openapi.json>, schemas `Order`, `Command`,
//! `Fill`, `Position`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    #[serde(default)]
    pub id: i64,
    pub account_id: i64,
    pub contract_id: i64,
    pub net_pos: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contract {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RollContractResponse {
    pub contract: Option<Contract>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: i64,
    pub account_id: i64,
    pub contract_id: i64,
    /// `Canceled`, `Completed`, `Expired`, `Filled`, `PendingCancel`, `PendingNew`,
    /// `PendingReplace`, `Rejected`, `Suspended`, `Unknown` or `Working`.
    pub ord_status: String,
    #[serde(default)]
    pub action: Option<String>,
    /// Creation time (`timestamp`, required in the OpenAPI `Order` schema).
    #[serde(default)]
    pub timestamp: Option<DateTime<Utc>>,
    // No `clOrdId`: the documented `Order` entity has none (OpenAPI `Order` schema); a
    // placement's `clOrdId` is on its `New` [`Command`].
}

/// A request made about an order (OpenAPI `Command` schema: `GET /command/item`,
/// `/command/list`, `/command/deps?masterid=<orderId>`). A placement's `clOrdId` is here.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    pub id: i64,
    pub order_id: i64,
    #[serde(default)]
    pub timestamp: Option<DateTime<Utc>>,
    #[serde(default)]
    pub cl_ord_id: Option<String>,
    /// `New`, `Modify`, `Cancel`.
    pub command_type: String,
    /// `AtExecution`, `ExecutionRejected`, `ExecutionStopped`, `ExecutionSuspended`, `OnHold`,
    /// `Pending`, `PendingExecution`, `Replaced`, `RiskPassed`, `RiskRejected`.
    pub command_status: String,
    #[serde(default)]
    pub activation_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub user_id: Option<i64>,
    #[serde(default)]
    pub is_automated: Option<bool>,
    #[serde(default)]
    pub custom_tag50: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fill {
    pub order_id: i64,
    pub qty: i64,
    pub price: rust_decimal::Decimal,
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default)]
    pub timestamp: Option<DateTime<Utc>>,
    /// `Buy` or `Sell`.
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OrderAction {
    Buy,
    Sell,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaceOrder<'a> {
    pub account_spec: &'a str,
    pub account_id: i64,
    pub cl_ord_id: &'a str,
    pub action: OrderAction,
    pub symbol: &'a str,
    pub order_qty: i64,
    pub order_type: &'static str,
    pub is_automated: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiquidatePosition {
    pub account_id: i64,
    pub contract_id: i64,
    pub admin: bool,
    pub is_automated: bool,
}
