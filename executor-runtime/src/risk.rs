//! Risk configuration and the guards that run before any order: the kill switch, sizing with
//! a bounded per-alert override, the max position per instrument, and trading windows that
//! still let exits through.
//!
//! Under target semantics an entry never adds to a position (already there → no-op), so the
//! largest position an entry can leave is its own size: checking the size against
//! `max_position` bounds the position.

use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use rust_decimal::Decimal;
use serde::Deserialize;
use shared::alert::TargetPosition;
use shared::config::{ConfigError, Env};
use shared::message::OrderIntent;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RiskFile {
    default_size: Decimal,
    default_max_position: Decimal,
    #[serde(default)]
    instruments: BTreeMap<String, InstrumentFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstrumentFile {
    size: Option<Decimal>,
    max_position: Option<Decimal>,
    max_override: Option<Decimal>,
    #[serde(default)]
    windows: Vec<String>,
}

/// One trading window: days of the week and a UTC time range (`Mon-Fri 07:00-20:00`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    days: Vec<Weekday>,
    start: NaiveTime,
    end: NaiveTime,
}

impl Window {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (days, times) = text
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("{text:?}: expected `<days> <HH:MM>-<HH:MM>`"))?;
        let (start, end) = times
            .trim()
            .split_once('-')
            .ok_or_else(|| format!("{text:?}: expected a time range HH:MM-HH:MM"))?;
        let time = |t: &str| {
            NaiveTime::parse_from_str(t.trim(), "%H:%M")
                .map_err(|_| format!("{text:?}: {t:?} is not HH:MM"))
        };
        let (start, end) = (time(start)?, time(end)?);
        let day = |d: &str| {
            d.trim()
                .parse::<Weekday>()
                .map_err(|_| format!("{text:?}: {d:?} is not a day (Mon..Sun)"))
        };
        let mut out = Vec::new();
        for part in days.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (mut d, last) = (day(a)?, day(b)?);
                    out.push(d);
                    while d != last {
                        d = d.succ();
                        out.push(d);
                    }
                }
                None => out.push(day(part)?),
            }
        }
        Ok(Self {
            days: out,
            start,
            end,
        })
    }

    fn contains(&self, t: DateTime<Utc>) -> bool {
        let time = t.time();
        self.days.contains(&t.weekday()) && time >= self.start && time < self.end
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstrumentRisk {
    pub size: Decimal,
    pub max_position: Decimal,
    pub max_override: Decimal,
    pub windows: Vec<Window>,
}

#[derive(Debug, Clone)]
pub struct RiskConfig {
    default: InstrumentRisk,
    instruments: BTreeMap<String, InstrumentRisk>,
}

/// Why a guard refused a signal: journaled as `refused` with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("kill switch is engaged")]
    KillSwitch,
    #[error("alert quantity {requested} is over the {max} allowed for {instrument}")]
    OverrideTooLarge {
        instrument: String,
        requested: Decimal,
        max: Decimal,
    },
    #[error("size {size} for {instrument} is over its max position {max}")]
    OverMaxPosition {
        instrument: String,
        size: Decimal,
        max: Decimal,
    },
    #[error("{instrument}: entries are outside its trading windows at {at}")]
    OutsideTradingWindow {
        instrument: String,
        at: DateTime<Utc>,
    },
}

pub const RISK_CONFIG_FILE: &str = "RISK_CONFIG_FILE";
pub const RISK_CONFIG: &str = "RISK_CONFIG";

impl RiskConfig {
    /// `default_size` and `default_max_position` apply to instruments without a section.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let file: RiskFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let positive = |what: &str, d: Decimal| {
            if d > Decimal::ZERO {
                Ok(d)
            } else {
                Err(format!("{what} must be greater than zero, got {d}"))
            }
        };
        let default = InstrumentRisk {
            size: positive("default_size", file.default_size)?,
            max_position: positive("default_max_position", file.default_max_position)?,
            max_override: file.default_max_position,
            windows: Vec::new(),
        };
        let mut instruments = BTreeMap::new();
        for (name, i) in file.instruments {
            let max_position = positive(
                &format!("instruments.{name}.max_position"),
                i.max_position.unwrap_or(default.max_position),
            )?;
            let windows = i
                .windows
                .iter()
                .map(|w| Window::parse(w).map_err(|e| format!("instruments.{name}.windows: {e}")))
                .collect::<Result<_, _>>()?;
            instruments.insert(
                name.clone(),
                InstrumentRisk {
                    size: positive(
                        &format!("instruments.{name}.size"),
                        i.size.unwrap_or(default.size),
                    )?,
                    max_position,
                    max_override: i.max_override.unwrap_or(max_position),
                    windows,
                },
            );
        }
        Ok(Self {
            default,
            instruments,
        })
    }

    /// From `RISK_CONFIG` (inline TOML) or `RISK_CONFIG_FILE`; `fallback` (the executor's
    /// built-in defaults) when neither is set.
    pub fn from_env(env: &impl Env, fallback: &str) -> Result<Self, ConfigError> {
        let (name, text) = match (env.optional(RISK_CONFIG), env.optional(RISK_CONFIG_FILE)) {
            (Some(inline), _) => (RISK_CONFIG, inline),
            (None, Some(path)) => (
                RISK_CONFIG_FILE,
                std::fs::read_to_string(&path).map_err(|e| ConfigError::Invalid {
                    name: RISK_CONFIG_FILE.into(),
                    reason: format!("{path}: {e}"),
                })?,
            ),
            (None, None) => (RISK_CONFIG, fallback.to_owned()),
        };
        Self::from_toml(&text).map_err(|reason| ConfigError::Invalid {
            name: name.into(),
            reason,
        })
    }

    pub fn instrument(&self, name: &str) -> &InstrumentRisk {
        self.instruments.get(name).unwrap_or(&self.default)
    }

    /// The size to trade, after every guard but the kill switch (checked by the caller,
    /// which reads it at run time).
    pub fn check(&self, intent: &OrderIntent, now: DateTime<Utc>) -> Result<Decimal, Refusal> {
        let name = intent.instrument.as_str();
        let risk = self.instrument(name);
        let is_entry = matches!(intent.target, TargetPosition::Long | TargetPosition::Short);
        if is_entry && !risk.windows.is_empty() && !risk.windows.iter().any(|w| w.contains(now)) {
            return Err(Refusal::OutsideTradingWindow {
                instrument: name.to_owned(),
                at: now,
            });
        }
        let size = match intent.quantity_override {
            Some(requested) if requested > risk.max_override => {
                return Err(Refusal::OverrideTooLarge {
                    instrument: name.to_owned(),
                    requested,
                    max: risk.max_override,
                });
            }
            Some(requested) => requested,
            None => risk.size,
        };
        if is_entry && size > risk.max_position {
            return Err(Refusal::OverMaxPosition {
                instrument: name.to_owned(),
                size,
                max: risk.max_position,
            });
        }
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_day_ranges_and_lists() {
        let w = Window::parse("Mon-Fri 07:00-20:00").unwrap();
        assert_eq!(w.days.len(), 5);
        let monday_noon: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().unwrap();
        let saturday: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
        assert!(w.contains(monday_noon));
        assert!(!w.contains(saturday));
        assert!(
            Window::parse("Sun,Wed 00:00-23:59")
                .unwrap()
                .days
                .contains(&Weekday::Wed)
        );
        assert!(
            Window::parse("Funday 00:00-01:00")
                .unwrap_err()
                .contains("Funday")
        );
        assert!(Window::parse("Mon 7-8").is_err());
    }

    fn intent(action: shared::Action, quantity: Option<Decimal>) -> OrderIntent {
        let t: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
        OrderIntent {
            version: 1,
            signal_id: shared::SignalId::of_canonical("x"),
            broker: shared::Broker::Oanda,
            instrument: shared::Instrument::new("EUR_USD"),
            action,
            target: action.target(),
            symbol: "EURUSD".into(),
            exchange: "OANDA".into(),
            reference_price: Decimal::ONE,
            quantity_override: quantity,
            signal_time: t,
            received_at: t,
            enqueued_at: t,
            routed_at: t,
            contract: None,
            raw: "{}".into(),
            replay_forced: false,
        }
    }

    const CFG: &str = r#"
default_size = "1"
default_max_position = "3"
[instruments.EUR_USD]
size = "1000"
max_position = "5000"
max_override = "2000"
windows = ["Mon-Fri 07:00-20:00"]
"#;

    #[test]
    fn windows_refuse_entries_but_let_exits_through() {
        let risk = RiskConfig::from_toml(CFG).unwrap();
        let saturday: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
        let monday: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().unwrap();
        use shared::Action::*;
        assert!(matches!(
            risk.check(&intent(LongEntry, None), saturday),
            Err(Refusal::OutsideTradingWindow { .. })
        ));
        for exit in [LongExit, ShortExit, Flatten] {
            assert!(risk.check(&intent(exit, None), saturday).is_ok(), "{exit}");
        }
        assert_eq!(
            risk.check(&intent(ShortEntry, None), monday),
            Ok(Decimal::from(1000))
        );
    }

    #[test]
    fn override_is_bounded_and_unknown_instruments_use_the_defaults() {
        let risk = RiskConfig::from_toml(CFG).unwrap();
        let monday: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().unwrap();
        let over = risk.check(
            &intent(shared::Action::LongEntry, Some(Decimal::from(2001))),
            monday,
        );
        assert!(matches!(over, Err(Refusal::OverrideTooLarge { .. })));
        let ok = risk.check(
            &intent(shared::Action::LongEntry, Some(Decimal::from(2000))),
            monday,
        );
        assert_eq!(ok, Ok(Decimal::from(2000)));
        assert_eq!(risk.instrument("GBP_USD").size, Decimal::ONE);
        assert_eq!(risk.instrument("GBP_USD").max_position, Decimal::from(3));
    }

    #[test]
    fn bad_config_names_the_key() {
        let err = RiskConfig::from_toml("default_size = \"0\"\ndefault_max_position = \"1\"")
            .unwrap_err();
        assert!(err.contains("default_size"), "{err}");
        let err = RiskConfig::from_toml(
            "default_size = \"1\"\ndefault_max_position = \"1\"\n[instruments.EUR_USD]\nwindows = [\"Mon 25:00-26:00\"]",
        )
        .unwrap_err();
        assert!(err.contains("instruments.EUR_USD.windows"), "{err}");
    }
}
