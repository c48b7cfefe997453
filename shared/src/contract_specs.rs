//! Futures contract specifications the pipeline counts money with: point value and tick size
//! by root, from the exchanges' published contract specifications (CME Group product pages:
//! E-mini S&P 500 $50 per point, tick 0.25, Micro $5; E-mini Nasdaq-100 $20, tick 0.25, Micro
//! $2; E-mini Dow $5, tick 1, Micro $0.50; E-mini Russell 2000 $50, tick 0.10, Micro $5; NYMEX
//! WTI crude 1,000 barrels, tick $0.01, Micro 100 barrels; Henry Hub natural gas 10,000 MMBtu,
//! tick $0.001; COMEX gold 100 oz, tick $0.10, Micro 10 oz; silver 5,000 oz, tick $0.005,
//! 1,000-oz 1,000; copper 25,000 lb, tick $0.0005; CBOT Treasury bond and 10-year note $1,000
//! per point, ticks 1/32 and 1/64; corn and soybeans 5,000 bushels quoted in cents, so $50
//! per cent, tick 1/4 cent).
//!
//! Used for the executors' notional cap and the analytics' P&L and slippage. A root not
//! listed has no known value: callers decide (the cap refuses it, the report keeps points).

use rust_decimal::Decimal;

/// A decimal as (mantissa, scale): `(25, 2)` is 0.25.
type Fixed = (i64, u32);

/// (root, point value, tick size).
type Spec = (&'static str, Fixed, Fixed);

const SPECS: &[Spec] = &[
    ("ES", (50, 0), (25, 2)),
    ("MES", (5, 0), (25, 2)),
    ("NQ", (20, 0), (25, 2)),
    ("MNQ", (2, 0), (25, 2)),
    ("YM", (5, 0), (1, 0)),
    ("MYM", (5, 1), (1, 0)),
    ("RTY", (50, 0), (10, 2)),
    ("M2K", (5, 0), (10, 2)),
    ("CL", (1000, 0), (1, 2)),
    ("MCL", (100, 0), (1, 2)),
    ("GC", (100, 0), (10, 2)),
    ("MGC", (10, 0), (10, 2)),
    ("SI", (5000, 0), (5, 3)),
    ("SIL", (1000, 0), (5, 3)),
    ("NG", (10000, 0), (1, 3)),
    ("HG", (25000, 0), (5, 4)),
    ("ZB", (1000, 0), (3125, 5)),
    ("ZN", (1000, 0), (15625, 6)),
    ("ZC", (50, 0), (25, 2)),
    ("ZS", (50, 0), (25, 2)),
];

/// The root of a contract name: `ESZ6` → `ES`, `MNQH7` → `MNQ` (month code and year digit
/// off).
pub fn contract_root(contract: &str) -> &str {
    contract
        .get(..contract.len().saturating_sub(2))
        .unwrap_or(contract)
}

fn find(contract: &str) -> Option<&'static Spec> {
    let root = contract_root(contract);
    SPECS.iter().find(|(r, _, _)| *r == root)
}

/// The roots this build knows a point value and a tick size for, in [`SPECS`]'s order.
pub fn known_roots() -> impl Iterator<Item = &'static str> {
    SPECS.iter().map(|(root, _, _)| *root)
}

/// USD per point per contract of a contract name (`ESZ6` → 50); `None` for an unknown root.
pub fn point_value(contract: &str) -> Option<Decimal> {
    find(contract).map(|(_, (n, scale), _)| Decimal::new(*n, *scale))
}

/// The point value the per-order notional cap counts for a contract name: its
/// [`point_value`], or 1,000,000 USD per point for a root not listed, so the cap refuses it
/// until its value is added here.
pub fn capped_point_value(contract: &str) -> Decimal {
    point_value(contract).unwrap_or(Decimal::from(1_000_000))
}

/// The minimum price fluctuation of a contract name (`ESZ6` → 0.25); `None` for an unknown
/// root.
pub fn tick_size(contract: &str) -> Option<Decimal> {
    find(contract).map(|(_, _, (n, scale))| Decimal::new(*n, *scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_resolve_from_contract_names() {
        assert_eq!(point_value("ESZ6"), Some(Decimal::from(50)));
        assert_eq!(point_value("MYMH7"), Some(Decimal::new(5, 1)));
        assert_eq!(tick_size("ZNH7"), Some(Decimal::new(15625, 6)));
        assert_eq!(tick_size("MESZ6"), Some(Decimal::new(25, 2)));
        assert_eq!(point_value("QQZ6"), None);
        assert_eq!(contract_root("MNQH7"), "MNQ");
    }
}
