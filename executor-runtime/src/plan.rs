//! The one rule from a signal's target and the account's holdings to the ordered legs, and
//! the pre-flight check of those legs against the instrument's trading rules and the
//! per-order notional cap. Pure: no I/O, no clock. Every venue (OANDA, Tradovate, Coinbase),
//! the paper brokers and the simulation's model plan through [`plan`] and check through
//! [`preflight`]; they differ only in how they read holdings and send a leg.
//!
//! Invariants (property-tested below):
//! - a plan never holds both directions at any step: every close comes before the open;
//! - at most one leg per [`Leg`] kind, so each leg has one client order id;
//! - executing the plan on the holdings reaches the target (an entry holds exactly `size`
//!   on its side, an exit leaves that side flat, a flatten leaves nothing);
//! - an account already at its target gets no legs (a no-op).

use rust_decimal::Decimal;
use shared::alert::TargetPosition;
use shared::execution::{Leg, Side};

/// What an account holds in one instrument: `long ≥ 0`, `short ≤ 0` (OANDA's signs). A
/// netting account (Tradovate, OANDA non-hedging, a spot wallet) has at most one non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Holdings {
    /// Units or contracts held long, ≥ 0 (a spot wallet's base balance).
    pub long: Decimal,
    /// Units or contracts held short, ≤ 0; always zero in a spot wallet.
    pub short: Decimal,
}

impl Holdings {
    /// A signed net position (> 0 long, < 0 short), as Tradovate's `netPos` reports it.
    pub fn net(net: Decimal) -> Self {
        Self {
            long: net.max(Decimal::ZERO),
            short: net.min(Decimal::ZERO),
        }
    }

    /// Nothing held on either side.
    pub fn is_flat(&self) -> bool {
        self.long.is_zero() && self.short.is_zero()
    }
}

/// The side of a position a close leg takes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionSide {
    /// The long side ([`Holdings::long`]), closed by a sell.
    Long,
    /// The short side ([`Holdings::short`]), closed by a buy.
    Short,
}

/// What one leg does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegAction {
    /// Close this whole side of the position (OANDA `longUnits: "ALL"`, Tradovate
    /// liquidation, a spot sell of the available balance).
    Close(PositionSide),
    /// A market order for `quantity` on `side`.
    Open,
}

/// One leg of a plan, in the order it must be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedLeg {
    /// Which leg; with the SignalId it names the client order id.
    pub leg: Leg,
    /// Close a whole side, or open `quantity`.
    pub action: LegAction,
    /// The order's direction at the broker.
    pub side: Side,
    /// Units, contracts or (a spot buy) quote amount; always positive.
    pub quantity: Decimal,
    /// A close with a leg after it: the time that leg needs (the broker's settle time and one
    /// poll), set by the drive when it sends. A venue that sends again on its own (Tradovate's
    /// ticketed resend after a penalty) does so only with this much of the budget still left:
    /// sent later, the close would fill and the leg after it expire. `None` for the last leg,
    /// and where the drive checks no such time (a takeover that is not fresh).
    pub then_needs: Option<std::time::Duration>,
}

/// How the venue holds positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Book {
    /// Long or short (OANDA, Tradovate): a reversal closes, then opens.
    Margin,
    /// A spot wallet (Coinbase): no short. A short entry sells what is held and stops.
    Spot,
}

/// The legs that take `held` to `target`, closes first. `size` is the position an entry
/// holds afterwards (units, contracts, or for a spot buy the quote amount), positive.
pub fn plan(target: TargetPosition, held: Holdings, size: Decimal, book: Book) -> Vec<PlannedLeg> {
    let zero = Decimal::ZERO;
    let target = match (book, target) {
        (Book::Spot, TargetPosition::Short) => TargetPosition::NoLong,
        (_, t) => t,
    };
    let (close_long, close_short, open) = match target {
        TargetPosition::Long => (
            false,
            held.short < zero,
            (held.long <= zero).then_some(Side::Buy),
        ),
        TargetPosition::Short => (
            held.long > zero,
            false,
            (held.short >= zero).then_some(Side::Sell),
        ),
        TargetPosition::NoLong => (held.long > zero, false, None),
        TargetPosition::NoShort => (false, held.short < zero, None),
        TargetPosition::Flat => (held.long > zero, held.short < zero, None),
    };
    let mut legs = Vec::with_capacity(3);
    if close_long {
        legs.push(PlannedLeg {
            leg: Leg::Close,
            action: LegAction::Close(PositionSide::Long),
            side: Side::Sell,
            quantity: held.long,
            then_needs: None,
        });
    }
    if close_short {
        // A hedging account flattening both sides: the second close is a leg of its own,
        // with its own client order id.
        let leg = if close_long {
            Leg::CloseHedge
        } else {
            Leg::Close
        };
        legs.push(PlannedLeg {
            leg,
            action: LegAction::Close(PositionSide::Short),
            side: Side::Buy,
            quantity: -held.short,
            then_needs: None,
        });
    }
    if let Some(side) = open {
        legs.push(PlannedLeg {
            leg: Leg::Open,
            action: LegAction::Open,
            side,
            quantity: size,
            then_needs: None,
        });
    }
    legs
}

/// An instrument's order-size rules as the broker publishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradingRules {
    /// Sizes are multiples of this (OANDA: `10^-tradeUnitsPrecision`; Tradovate: 1
    /// contract; Coinbase: `quote_increment` for a buy).
    pub increment: Decimal,
    /// The smallest order (OANDA `minimumTradeSize`, Coinbase `quote_min_size`).
    pub min_size: Decimal,
    /// The largest order, if the broker publishes one (OANDA `maximumOrderUnits`).
    pub max_size: Option<Decimal>,
    /// The largest position the instrument allows on a side, if the broker publishes one
    /// (OANDA `maximumPositionSize`). An open leg opens a side from flat ([`plan`]), so its
    /// size is the position after it.
    pub max_position: Option<Decimal>,
}

impl TradingRules {
    /// Whole contracts, at least one (futures at Tradovate: `orderQty` is an integer).
    pub fn whole_contracts() -> Self {
        Self {
            increment: Decimal::ONE,
            min_size: Decimal::ONE,
            max_size: None,
            max_position: None,
        }
    }

    /// From a number of decimal places (OANDA's `tradeUnitsPrecision`).
    pub fn with_precision(decimals: u32, min_size: Decimal, max_size: Option<Decimal>) -> Self {
        Self {
            increment: Decimal::new(1, decimals),
            min_size,
            max_size,
            max_position: None,
        }
    }

    /// With the largest position the instrument allows (`None`: no limit published).
    pub fn with_max_position(mut self, max_position: Option<Decimal>) -> Self {
        self.max_position = max_position;
        self
    }
}

/// ` × point value 50` for a multiplier other than 1 (a future's), else nothing: what a
/// message about a notional shows so its arithmetic adds up.
pub fn per_point(multiplier: Decimal) -> String {
    if multiplier == Decimal::ONE {
        String::new()
    } else {
        format!(" × point value {}", multiplier.normalize())
    }
}

/// ` USD` after an amount in a known currency; nothing otherwise.
fn in_unit(unit: Option<&str>) -> String {
    unit.map(|u| format!(" {u}")).unwrap_or_default()
}

/// How a notional came from its size, for a refusal: `size 2 at 5812.25 × point value 50`,
/// or, where the size is the notional itself (`price` and `multiplier` 1), that it is: a
/// spot buy's amount to spend, a currency pair's base units. Without a known `unit`, which
/// currency that is.
fn valued(quantity: Decimal, price: Decimal, multiplier: Decimal, unit: Option<&str>) -> String {
    let itself = price == Decimal::ONE && multiplier == Decimal::ONE;
    match (itself, unit) {
        (true, Some(_)) => "its size".to_owned(),
        (true, None) => "its size: a spot buy's amount to spend, in the quote currency, or a \
                         currency pair's units of its base currency"
            .to_owned(),
        (false, Some(_)) => format!(
            "size {} at {}{}",
            quantity.normalize(),
            price.normalize(),
            per_point(multiplier)
        ),
        (false, None) => format!(
            "size {} at {}{}, in the instrument's quote currency",
            quantity.normalize(),
            price.normalize(),
            per_point(multiplier)
        ),
    }
}

/// The per-order notional cap: `quantity × price × multiplier` of an open leg must stay at or
/// under `cap` (in the quote currency; `price` is 1 where the size itself is the notional: a
/// currency pair at OANDA, a Coinbase buy; see `crate::risk::notional_price`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotionalLimit {
    /// The alert's close (the best price known before sending), or 1 where the size itself is
    /// the notional.
    pub price: Decimal,
    /// Quote currency per unit per point: 1 for FX, metals, CFDs and spot; the contract's
    /// point value for futures.
    pub multiplier: Decimal,
    /// The largest notional one open leg may have.
    pub cap: Decimal,
    /// The currency the notional and the cap are counted in, where known (`USD` for a
    /// Coinbase buy of BTC-USD, `EUR` for OANDA's EUR_USD, whose notional is its base units):
    /// named in a refusal.
    pub unit: Option<String>,
}

/// Why a plan cannot be sent: the signal is refused with nothing sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanRefusal {
    #[error(
        "{leg} size {quantity} is not a multiple of the instrument's increment {increment} (the broker would refuse it)"
    )]
    /// The open leg's size is not a multiple of the instrument's increment.
    Precision {
        /// The leg's journal name (only the open leg is checked: `open`).
        leg: &'static str,
        /// The size planned, in the leg's units.
        quantity: Decimal,
        /// The instrument's increment.
        increment: Decimal,
    },
    #[error("{leg} size {quantity} is under the instrument's minimum {min}")]
    /// The open leg's size is under the instrument's minimum, or not positive.
    UnderMinimum {
        /// The leg's journal name (`open`).
        leg: &'static str,
        /// The size planned, in the leg's units.
        quantity: Decimal,
        /// The instrument's smallest order.
        min: Decimal,
    },
    #[error("{leg} size {quantity} is over the instrument's maximum order size {max}")]
    /// The open leg's size is over the instrument's largest order.
    OverMaximum {
        /// The leg's journal name (`open`).
        leg: &'static str,
        /// The size planned, in the leg's units.
        quantity: Decimal,
        /// The instrument's largest order.
        max: Decimal,
    },
    #[error(
        "{leg} size {quantity} is over the instrument's maximum position size {max} (the broker would refuse the position)"
    )]
    /// The open leg would make a position larger than the instrument allows.
    OverMaximumPosition {
        /// The leg's journal name (`open`).
        leg: &'static str,
        /// The size planned, in the leg's units: the position after the leg.
        quantity: Decimal,
        /// The instrument's largest position.
        max: Decimal,
    },
    #[error(
        "{leg} notional {notional}{} ({}) is over the per-order cap {cap}{}: max_notional in its executor's risk settings",
        in_unit(unit.as_deref()),
        valued(*.quantity, *.price, *.multiplier, unit.as_deref()),
        in_unit(unit.as_deref())
    )]
    /// The open leg's notional (size × price × multiplier) is over the per-order cap.
    OverNotionalCap {
        /// The leg's journal name (`open`).
        leg: &'static str,
        /// The size planned, in the leg's units.
        quantity: Decimal,
        /// The price it was valued at: the alert's close, or 1 for a spot buy.
        price: Decimal,
        /// Size × price × multiplier, in the quote currency.
        notional: Decimal,
        /// Quote currency per unit per point (a future's point value; 1 otherwise).
        multiplier: Decimal,
        /// The cap, in the quote currency.
        cap: Decimal,
        /// The currency of the notional and the cap, where known ([`NotionalLimit::unit`]).
        unit: Option<String>,
    },
}

/// Checks every leg the signal will send before the first one leaves, so a signal that
/// cannot complete leaves the account untouched. Closes take out a whole side (the broker
/// sizes them), so only the open leg is checked against increment, minimum, maximum order
/// size, maximum position size and the notional cap.
pub fn preflight(
    legs: &[PlannedLeg],
    rules: &TradingRules,
    notional: Option<&NotionalLimit>,
) -> Result<(), PlanRefusal> {
    for leg in legs.iter().filter(|l| l.action == LegAction::Open) {
        let name = leg.leg.as_str();
        let q = leg.quantity;
        if rules.increment > Decimal::ZERO && !(q % rules.increment).is_zero() {
            return Err(PlanRefusal::Precision {
                leg: name,
                quantity: q,
                increment: rules.increment.normalize(),
            });
        }
        if q < rules.min_size || q <= Decimal::ZERO {
            return Err(PlanRefusal::UnderMinimum {
                leg: name,
                quantity: q,
                min: rules.min_size.normalize(),
            });
        }
        if let Some(max) = rules.max_size.filter(|m| *m > Decimal::ZERO)
            && q > max
        {
            return Err(PlanRefusal::OverMaximum {
                leg: name,
                quantity: q,
                max: max.normalize(),
            });
        }
        if let Some(max) = rules.max_position.filter(|m| *m > Decimal::ZERO)
            && q > max
        {
            return Err(PlanRefusal::OverMaximumPosition {
                leg: name,
                quantity: q,
                max: max.normalize(),
            });
        }
        if let Some(n) = notional {
            // Out of decimal range (an absurd close): over any cap.
            let value = q
                .checked_mul(n.price)
                .and_then(|v| v.checked_mul(n.multiplier))
                .unwrap_or(Decimal::MAX);
            if value > n.cap {
                return Err(PlanRefusal::OverNotionalCap {
                    leg: name,
                    quantity: q,
                    price: n.price,
                    notional: value.normalize(),
                    multiplier: n.multiplier,
                    cap: n.cap.normalize(),
                    unit: n.unit.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The holdings after the legs fill as planned: what the paper brokers and the simulation
/// book, and what property tests compare with the target.
pub fn apply(held: Holdings, legs: &[PlannedLeg]) -> Holdings {
    let mut h = held;
    for leg in legs {
        match (leg.action, leg.side) {
            (LegAction::Close(PositionSide::Long), _) => h.long = Decimal::ZERO,
            (LegAction::Close(PositionSide::Short), _) => h.short = Decimal::ZERO,
            (LegAction::Open, Side::Buy) => h.long += leg.quantity,
            (LegAction::Open, Side::Sell) => h.short -= leg.quantity,
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(n: i64) -> Decimal {
        Decimal::from(n)
    }

    fn target() -> impl Strategy<Value = TargetPosition> {
        prop_oneof![
            Just(TargetPosition::Long),
            Just(TargetPosition::Short),
            Just(TargetPosition::NoLong),
            Just(TargetPosition::NoShort),
            Just(TargetPosition::Flat),
        ]
    }

    /// Netting holdings (one side), or hedged (both).
    fn holdings() -> impl Strategy<Value = Holdings> {
        (0i64..5, -5i64..=0, any::<bool>()).prop_map(|(l, s, hedged)| {
            if hedged {
                Holdings {
                    long: d(l),
                    short: d(s),
                }
            } else if l > 0 {
                Holdings::net(d(l))
            } else {
                Holdings::net(d(s))
            }
        })
    }

    proptest! {
        #[test]
        fn a_margin_plan_reaches_its_target_and_never_holds_both_sides_more_than_before(
            t in target(), h in holdings(), size in 1i64..10,
        ) {
            let legs = plan(t, h, d(size), Book::Margin);
            let end = apply(h, &legs);
            match t {
                TargetPosition::Long => prop_assert_eq!(end, Holdings { long: if h.long > Decimal::ZERO { h.long } else { d(size) }, short: Decimal::ZERO }),
                TargetPosition::Short => prop_assert_eq!(end, Holdings { long: Decimal::ZERO, short: if h.short < Decimal::ZERO { h.short } else { -d(size) } }),
                TargetPosition::NoLong => prop_assert_eq!(end, Holdings { long: Decimal::ZERO, short: h.short }),
                TargetPosition::NoShort => prop_assert_eq!(end, Holdings { long: h.long, short: Decimal::ZERO }),
                TargetPosition::Flat => prop_assert!(end.is_flat()),
            }
            // Closes first; at most one leg of each kind; an open never meets the other side.
            let mut state = h;
            let mut seen = Vec::new();
            for (i, leg) in legs.iter().enumerate() {
                prop_assert!(!seen.contains(&leg.leg));
                seen.push(leg.leg);
                prop_assert!(leg.quantity > Decimal::ZERO);
                if leg.action == LegAction::Open {
                    prop_assert_eq!(i, legs.len() - 1);
                    let opposite = if leg.side == Side::Buy { state.short } else { state.long };
                    prop_assert!(opposite.is_zero());
                }
                state = apply(state, std::slice::from_ref(leg));
            }
            // Already there: nothing to send.
            prop_assert!(legs.is_empty() || end != h);
        }

        #[test]
        fn a_spot_plan_never_sells_short(t in target(), held in 0i64..5, size in 1i64..10) {
            let legs = plan(t, Holdings::net(d(held)), d(size), Book::Spot);
            prop_assert!(legs.len() <= 1);
            let end = apply(Holdings::net(d(held)), &legs);
            prop_assert!(end.short.is_zero());
            for leg in &legs {
                prop_assert!(leg.side == Side::Buy || leg.action == LegAction::Close(PositionSide::Long));
            }
        }

        #[test]
        fn preflight_passes_exactly_the_sizes_the_rules_allow(units in 1i64..100_000, scale in 0u32..3, precision in 0u32..3) {
            let q = Decimal::new(units, scale);
            let rules = TradingRules::with_precision(precision, Decimal::ONE, Some(d(50_000)));
            let legs = plan(TargetPosition::Long, Holdings::default(), q, Book::Margin);
            let ok = preflight(&legs, &rules, None).is_ok();
            let fits = q.normalize().scale() <= precision && q >= Decimal::ONE && q <= d(50_000);
            prop_assert_eq!(ok, fits);
        }
    }

    #[test]
    fn a_reversal_closes_then_opens() {
        let legs = plan(
            TargetPosition::Short,
            Holdings::net(d(1000)),
            d(1000),
            Book::Margin,
        );
        assert_eq!(
            legs,
            vec![
                PlannedLeg {
                    leg: Leg::Close,
                    action: LegAction::Close(PositionSide::Long),
                    side: Side::Sell,
                    quantity: d(1000),
                    then_needs: None,
                },
                PlannedLeg {
                    leg: Leg::Open,
                    action: LegAction::Open,
                    side: Side::Sell,
                    quantity: d(1000),
                    then_needs: None,
                },
            ]
        );
    }

    #[test]
    fn fractional_units_are_refused_before_the_close_leaves() {
        let q: Decimal = "1000.5".parse().unwrap_or_default();
        let legs = plan(
            TargetPosition::Short,
            Holdings::net(d(1000)),
            q,
            Book::Margin,
        );
        let err = preflight(&legs, &TradingRules::with_precision(0, d(1), None), None)
            .expect_err("1000.5 units at precision 0");
        assert!(err.to_string().contains("1000.5"), "{err}");
    }

    #[test]
    fn a_reversal_over_the_maximum_position_is_refused_before_the_close_leaves() {
        let legs = plan(
            TargetPosition::Short,
            Holdings::net(d(1000)),
            d(1000),
            Book::Margin,
        );
        let rules = TradingRules::with_precision(0, d(1), Some(d(100_000)));
        let err = preflight(&legs, &rules.with_max_position(Some(d(999))), None)
            .expect_err("a position of 1000 where 999 is the most");
        assert_eq!(
            err,
            PlanRefusal::OverMaximumPosition {
                leg: "open",
                quantity: d(1000),
                max: d(999)
            }
        );
        assert!(
            err.to_string().contains("maximum position size 999"),
            "{err}"
        );
        // At the limit, and with OANDA's 0 ("no maximum"), it passes.
        assert!(preflight(&legs, &rules.with_max_position(Some(d(1000))), None).is_ok());
        assert!(preflight(&legs, &rules.with_max_position(Some(d(0))), None).is_ok());
    }

    #[test]
    fn the_notional_cap_bounds_an_open() {
        let legs = plan(
            TargetPosition::Long,
            Holdings::default(),
            d(1000),
            Book::Margin,
        );
        let cap = NotionalLimit {
            price: "2650.12".parse().unwrap_or_default(),
            multiplier: Decimal::ONE,
            cap: d(250_000),
            unit: None,
        };
        let err = preflight(
            &legs,
            &TradingRules::with_precision(0, d(1), None),
            Some(&cap),
        )
        .expect_err("1,000 oz of gold");
        assert!(matches!(err, PlanRefusal::OverNotionalCap { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("(size 1000 at 2650.12, in the instrument's quote currency)"),
            "{err}"
        );
        // Where the venue names the currency, the figures carry it.
        let xau = NotionalLimit {
            unit: Some("USD".into()),
            ..cap.clone()
        };
        let err = preflight(
            &legs,
            &TradingRules::with_precision(0, d(1), None),
            Some(&xau),
        )
        .expect_err("1,000 oz of gold");
        assert!(
            err.to_string().starts_with(
                "open notional 2650120 USD (size 1000 at 2650.12) is over the per-order cap \
                 250000 USD: max_notional"
            ),
            "{err}"
        );
        // A future's message shows its point value, so the figures add up.
        let es = plan(
            TargetPosition::Long,
            Holdings::default(),
            d(2),
            Book::Margin,
        );
        let es_cap = NotionalLimit {
            price: "6010.25".parse().unwrap_or_default(),
            multiplier: d(50),
            cap: d(600_000),
            unit: None,
        };
        let err = preflight(
            &es,
            &TradingRules::with_precision(0, d(1), None),
            Some(&es_cap),
        )
        .expect_err("2 ES at 6010.25 × 50 is 601,025");
        assert!(
            err.to_string()
                .starts_with("open notional 601025 (size 2 at 6010.25 × point value 50, in the instrument's quote currency)"),
            "{err}"
        );
        // Where the size is the notional (a spot buy's amount, a pair's base units), no "at 1".
        let buy = NotionalLimit {
            price: Decimal::ONE,
            multiplier: Decimal::ONE,
            cap: d(500),
            unit: None,
        };
        let spend = plan(
            TargetPosition::Long,
            Holdings::default(),
            d(600),
            Book::Spot,
        );
        let err = preflight(
            &spend,
            &TradingRules::with_precision(2, d(1), None),
            Some(&buy),
        )
        .expect_err("600 to spend over a 500 cap");
        assert_eq!(
            err.to_string(),
            "open notional 600 (its size: a spot buy's amount to spend, in the quote currency, \
             or a currency pair's units of its base currency) is over the per-order cap 500: \
             max_notional in its executor's risk settings"
        );
        // A Coinbase buy's venue names what it spends.
        let usd = NotionalLimit {
            unit: Some("USD".into()),
            ..buy
        };
        let err = preflight(
            &spend,
            &TradingRules::with_precision(2, d(1), None),
            Some(&usd),
        )
        .expect_err("600 USD to spend over a 500 USD cap");
        assert_eq!(
            err.to_string(),
            "open notional 600 USD (its size) is over the per-order cap 500 USD: max_notional in \
             its executor's risk settings"
        );
        let small = plan(
            TargetPosition::Long,
            Holdings::default(),
            d(10),
            Book::Margin,
        );
        assert!(
            preflight(
                &small,
                &TradingRules::with_precision(0, d(1), None),
                Some(&cap)
            )
            .is_ok()
        );
    }
}
