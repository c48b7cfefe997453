//! The parts of Tradovate's wire format the executor and refresher use. IDs are 64-bit
//! integers; quantities are whole contracts. Entity shapes follow the official OpenAPI
//! description (<https://partner.tradovate.com/openapi.json>, schemas `Order`, `Command`,
//! `Fill`, `Position`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A Tradovate entity id: a 64-bit integer on the wire (`"id": 987654`), one type per kind
/// of entity so an account id cannot be passed where a contract id is wanted.
macro_rules! entity_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

entity_id!(
    /// An account (`Account.id`, `accountId` in positions, orders and requests).
    AccountId
);
entity_id!(
    /// A contract (`Contract.id`, `contractId`): one delivery month of a product, e.g. `ESZ6`.
    ContractId
);
entity_id!(
    /// An order (`Order.id`, `orderId`): what `placeorder` and `liquidateposition` return.
    OrderId
);
entity_id!(
    /// A fill (`Fill.id`; the `masterid` of `fillFee/deps`).
    FillId
);

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: AccountId,
    pub name: String,
}

/// An entry of `/position/list`. The `Position` schema carries `tradeDate` and `timestamp`,
/// and the documents do not say an account lists one entry per contract: Tradovate's own
/// maintainers describe a position as closed when "the most recent Position entity for a
/// combination of account and contract" has `netPos` 0 (tradovate/api issue 5). So entries are
/// never added up: [`latest`] keeps the newest of each account and contract.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    #[serde(default)]
    pub id: i64,
    pub account_id: AccountId,
    pub contract_id: ContractId,
    pub net_pos: i64,
    /// `TradeDate {year, month, day}` (an object of integers, as the schema gives it); absent
    /// or `null` sorts oldest.
    #[serde(default)]
    pub trade_date: Option<TradeDate>,
    /// When the entry was last changed (ISO 8601 text); absent sorts oldest.
    #[serde(default)]
    pub timestamp: Option<String>,
}

/// The `TradeDate` of a [`Position`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub struct TradeDate {
    #[serde(default)]
    pub year: i32,
    #[serde(default)]
    pub month: u32,
    #[serde(default)]
    pub day: u32,
}

/// The newest entry of each account and contract among `positions`: the latest trade date,
/// then the latest timestamp, then the highest id (the one Tradovate created last).
pub fn latest(positions: &[Position]) -> Vec<&Position> {
    let mut newest: std::collections::BTreeMap<(AccountId, ContractId), &Position> =
        std::collections::BTreeMap::new();
    let key = |p: &Position| {
        (
            p.trade_date.unwrap_or_default(),
            p.timestamp
                .as_deref()
                .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok()),
            p.id,
        )
    };
    for p in positions {
        newest
            .entry((p.account_id, p.contract_id))
            .and_modify(|kept| {
                if key(p) > key(kept) {
                    *kept = p;
                }
            })
            .or_insert(p);
    }
    newest.into_values().collect()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contract {
    pub id: ContractId,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RollContractResponse {
    pub contract: Option<Contract>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: OrderId,
    pub account_id: AccountId,
    pub contract_id: ContractId,
    /// `Canceled`, `Completed`, `Expired`, `Filled`, `PendingCancel`, `PendingNew`,
    /// `PendingReplace`, `Rejected`, `Suspended`, `Unknown` or `Working`.
    pub ord_status: String,
    #[serde(default)]
    pub action: Option<String>,
    /// Creation time (`timestamp`, required in the OpenAPI `Order` schema).
    #[serde(default)]
    pub timestamp: Option<DateTime<Utc>>,
    // No `clOrdId`: the documented `Order` entity has none (OpenAPI `Order` schema); a
    // [`Command`] may carry one.
}

/// A `CommandReport` entity (OpenAPI `CommandReport`, read from
/// `commandReport/deps?masterid=<commandId>`): what became of a command.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandReport {
    /// `AtExecution`, `ExecutionRejected`, `RiskRejected`, … (as [`Command::command_status`]).
    #[serde(default)]
    pub command_status: Option<String>,
    /// Why the command was rejected (an enum: `SessionClosed`, `RiskCheckTimeout`,
    /// `TradingLocked`, …); optional in the schema.
    #[serde(default)]
    pub reject_reason: Option<String>,
    /// Free text beside it; optional.
    #[serde(default)]
    pub text: Option<String>,
}

/// A request made about an order (OpenAPI `Command` schema: `GET /command/item`,
/// `/command/list`, `/command/deps?masterid=<orderId>`). A placement's `clOrdId` may be here
/// (the field is optional, and no document says it is copied from the request).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    /// Optional in the OpenAPI `Command` schema; nothing here reads it.
    #[serde(default)]
    pub id: Option<i64>,
    pub order_id: OrderId,
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
    pub order_id: OrderId,
    pub qty: i64,
    pub price: rust_decimal::Decimal,
    #[serde(default)]
    pub id: Option<FillId>,
    #[serde(default)]
    pub timestamp: Option<DateTime<Utc>>,
    /// `Buy` or `Sell`.
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
}

/// The fees of one fill (Tradovate partner API, Orders: "Fill Fee Dependents",
/// `GET /fillFee/deps?masterid=<fillId>`, schema `FillFee`): each amount is a `double` or
/// null with the id of its currency. The schema says nothing of sign or of when the fees of a
/// new fill are listed, so the executor reads them as they come and records none when it
/// cannot be sure ([`FillFee::total`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FillFee {
    #[serde(default)]
    pub clearing_fee: Option<rust_decimal::Decimal>,
    #[serde(default)]
    pub clearing_currency_id: Option<i64>,
    #[serde(default)]
    pub exchange_fee: Option<rust_decimal::Decimal>,
    #[serde(default)]
    pub exchange_currency_id: Option<i64>,
    #[serde(default)]
    pub nfa_fee: Option<rust_decimal::Decimal>,
    #[serde(default)]
    pub nfa_currency_id: Option<i64>,
    #[serde(default)]
    pub brokerage_fee: Option<rust_decimal::Decimal>,
    #[serde(default)]
    pub brokerage_currency_id: Option<i64>,
    /// "IP/TT Fee".
    #[serde(default)]
    pub ip_fee: Option<rust_decimal::Decimal>,
    #[serde(default)]
    pub ip_currency_id: Option<i64>,
    #[serde(default)]
    pub commission: Option<rust_decimal::Decimal>,
    #[serde(default)]
    pub commission_currency_id: Option<i64>,
    #[serde(default)]
    pub order_routing_fee: Option<rust_decimal::Decimal>,
    #[serde(default)]
    pub order_routing_currency_id: Option<i64>,
}

impl FillFee {
    /// Every amount of these fees summed as a cost (absolute values), with the one currency
    /// id they are all in. `None` when an amount has no currency id, the amounts are in more
    /// than one currency (the journal keeps one figure per fill, and adding two currencies
    /// would be wrong), or they have both signs: the schema gives no sign convention, so one
    /// of opposite sign (a rebate, a reversed fee) cannot be told from a cost.
    pub fn total(fees: &[FillFee]) -> Option<(rust_decimal::Decimal, Option<i64>)> {
        let mut sum = rust_decimal::Decimal::ZERO;
        let mut currency: Option<i64> = None;
        let mut sign: Option<bool> = None;
        for f in fees {
            for (amount, id) in [
                (f.clearing_fee, f.clearing_currency_id),
                (f.exchange_fee, f.exchange_currency_id),
                (f.nfa_fee, f.nfa_currency_id),
                (f.brokerage_fee, f.brokerage_currency_id),
                (f.ip_fee, f.ip_currency_id),
                (f.commission, f.commission_currency_id),
                (f.order_routing_fee, f.order_routing_currency_id),
            ] {
                let Some(amount) = amount.filter(|a| !a.is_zero()) else {
                    continue;
                };
                let id = id?;
                if currency.is_some_and(|c| c != id) {
                    return None;
                }
                currency = Some(id);
                if sign.is_some_and(|positive| positive != amount.is_sign_positive()) {
                    return None;
                }
                sign = Some(amount.is_sign_positive());
                sum += amount.abs();
            }
        }
        Some((sum, currency))
    }
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
    pub account_id: AccountId,
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
    pub account_id: AccountId,
    pub contract_id: ContractId,
    pub admin: bool,
    pub is_automated: bool,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fee(v: serde_json::Value) -> FillFee {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn fill_fees_add_up_in_one_currency_or_not_at_all() {
        let a = fee(
            serde_json::json!({"commission": 0.59, "commissionCurrencyId": 1,
                                       "exchangeFee": 1.38, "exchangeCurrencyId": 1, "nfaFee": null}),
        );
        let b = fee(serde_json::json!({"clearingFee": 0.19, "clearingCurrencyId": 1}));
        assert_eq!(
            FillFee::total(&[a.clone(), b]),
            Some(("2.16".parse().unwrap(), Some(1)))
        );
        // Another currency: no single figure.
        let c = fee(serde_json::json!({"nfaFee": 0.02, "nfaCurrencyId": 2}));
        assert_eq!(FillFee::total(&[a.clone(), c]), None);
        // An amount without its currency: unknown.
        let d = fee(serde_json::json!({"ipFee": 0.1}));
        assert_eq!(FillFee::total(&[a, d]), None);
        // Amounts of both signs: a rebate or a cost, which the schema does not say.
        let e = fee(
            serde_json::json!({"commission": 0.59, "commissionCurrencyId": 1,
                                       "exchangeFee": -0.10, "exchangeCurrencyId": 1}),
        );
        assert_eq!(FillFee::total(&[e]), None);
        let all_negative = fee(
            serde_json::json!({"commission": -0.59, "commissionCurrencyId": 1,
                                       "exchangeFee": -0.10, "exchangeCurrencyId": 1}),
        );
        assert_eq!(
            FillFee::total(&[all_negative]),
            Some(("0.69".parse().unwrap(), Some(1)))
        );
        // Zero amounts need no currency.
        let z = fee(serde_json::json!({"commission": 0.0}));
        assert_eq!(
            FillFee::total(&[z]),
            Some((rust_decimal::Decimal::ZERO, None))
        );
    }
}
