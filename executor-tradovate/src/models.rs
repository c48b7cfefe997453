//! The parts of Tradovate's wire format the executor and refresher use. IDs are 64-bit
//! integers; quantities are whole contracts.

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
    pub ord_status: String,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub cl_ord_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fill {
    pub order_id: i64,
    pub qty: i64,
    pub price: rust_decimal::Decimal,
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
