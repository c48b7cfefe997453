//! Risk configuration and the guards that run before any order: the kill switch, sizing with
//! a bounded per-alert override, the max position per instrument, and trading windows that
//! still let exits through.
//!
//! Under target semantics an entry never adds to a position (already there → no-op), so the
//! largest position an entry can leave is its own size: checking the size against
//! `max_position` bounds the position.

use crate::venue::Size;
use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Deserialize;
use shared::alert::TargetPosition;
use shared::config::{ConfigError, Env};
use shared::message::OrderIntent;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RiskFile {
    /// A size for every instrument without one of its own or of its class. Optional, and
    /// best left out: one unit size cannot fit FX, metals and indices at once.
    default_size: Option<Decimal>,
    default_max_position: Decimal,
    /// The per-order notional cap ([`notional_price`]) where nothing narrower is set.
    max_notional: Option<Decimal>,
    /// An alert's quantity trades only an instrument with a size, or a section of its own or
    /// of its class ([`Refusal::UnconfiguredQuantity`]); `false` (the default): any entry's
    /// quantity within `max_override`, `max_position` or `default_max_position`.
    #[serde(default)]
    quantity_needs_section: bool,
    #[serde(default)]
    classes: BTreeMap<String, InstrumentFile>,
    #[serde(default)]
    instruments: BTreeMap<String, InstrumentFile>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstrumentFile {
    size: Option<Decimal>,
    /// Size by a notional ([`notional_price`]: an amount of quote currency at the alert's
    /// close; of base currency for a currency pair at OANDA) instead of a unit count.
    notional: Option<Decimal>,
    max_position: Option<Decimal>,
    max_override: Option<Decimal>,
    max_notional: Option<Decimal>,
    /// Set, even empty (`[]`: at any hour), it replaces the windows of the sections below.
    windows: Option<Vec<String>>,
    /// `windows` parsed, once, when the settings are read ([`RiskConfig::from_toml`]), not
    /// for every signal.
    #[serde(skip)]
    parsed_windows: Option<Vec<Window>>,
}

/// The per-order notional cap when the configuration names none: 250,000, counted as
/// [`notional_price`] says (250,000 units of a currency pair; less than one E-mini S&P
/// contract at 6,000 points × 50, so the Tradovate defaults set their own). A configuration may set
/// another cap, never none.
pub const DEFAULT_MAX_NOTIONAL: Decimal = Decimal::from_parts(250_000, 0, 0, false, 0);

/// The price an open leg's size is valued at for the notional cap and converted at for a
/// `notional` size, live and on paper alike: a currency pair at OANDA is counted in units of
/// its base currency (price 1: 1,000 USD_JPY is 1,000 USD of notional, whatever the alert's
/// close says), everything else at the alert's `close` in its quote currency (a futures
/// contract then times its point value, a Coinbase buy is its quote amount: see each
/// venue's `notional_price`).
///
/// A pair's cap in base units holds the same for every pair (one in its quote currency
/// allowed 1,667 USD of USD_JPY where it allowed 250,000 EUR_USD) and does not depend on the
/// alert's close, which a template mistake could make wrong.
pub fn notional_price(broker: shared::Broker, instrument: &str, close: Decimal) -> Decimal {
    match AssetClass::of(broker, instrument) {
        AssetClass::Fx => Decimal::ONE,
        _ => close,
    }
}

/// The asset class an instrument's default size comes from (`[classes.<name>]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetClass {
    /// A currency pair at OANDA (`EUR_USD`): both sides are currencies.
    Fx,
    /// A precious metal at OANDA (`XAU_USD`, `XAG_USD`, `XPT_USD`, `XPD_USD`).
    Metal,
    /// Any other OANDA instrument: indices, commodities, bonds (`SPX500_USD`, `BCO_USD`).
    Cfd,
    /// A futures contract at Tradovate.
    Futures,
    /// A spot product at Coinbase quoted in a fiat currency or a USD stablecoin (`BTC-USD`,
    /// `ETH-USDC`; its size is a quote amount).
    Crypto,
    /// A spot product at Coinbase quoted in another crypto asset (`ETH-BTC`): a quote amount
    /// there is worth what that asset is worth, so no size given in dollars' terms (the
    /// executor's default of 100, `default_size`, an alert's quantity under the defaults'
    /// `max_override`) may apply to it: an entry needs its own section or
    /// `classes.crypto_cross`, and its size comes from one of them or the alert.
    CryptoCross,
}

/// Quote currencies of Coinbase products whose amounts are money's (fiat, or a stablecoin
/// pegged to the US dollar): a product quoted in any other is [`AssetClass::CryptoCross`].
const MONEY_QUOTES: [&str; 5] = ["USD", "USDC", "USDT", "EUR", "GBP"];

/// What an entry's size counts at the instrument's broker: OANDA `units`, Tradovate
/// `contracts`, and at Coinbase the quote currency a buy spends (`USD` of `BTC-USD`, Advanced
/// Trade's `quote_size`).
pub fn entry_unit(class: AssetClass, instrument: &str) -> String {
    match class {
        AssetClass::Fx | AssetClass::Metal | AssetClass::Cfd => "units".into(),
        AssetClass::Futures => "contracts".into(),
        AssetClass::Crypto | AssetClass::CryptoCross => {
            shared::routing::coinbase_currencies(instrument)
                .map_or_else(|| "of the quote currency".to_owned(), |(_, q)| q.to_owned())
        }
    }
}

/// Currencies OANDA lists pairs in (THB: `USD_THB`); an instrument with both halves here is
/// FX. A pair of another currency is sized and capped as a CFD: add it here.
const CURRENCIES: [&str; 21] = [
    "USD", "EUR", "JPY", "GBP", "CHF", "CAD", "AUD", "NZD", "HKD", "SGD", "CNH", "ZAR", "MXN",
    "NOK", "SEK", "DKK", "PLN", "HUF", "CZK", "TRY", "THB",
];

/// The metals OANDA names as an instrument's base (`XAU_USD`): gold, silver, platinum,
/// palladium.
const METALS: [&str; 4] = ["XAU", "XAG", "XPT", "XPD"];

impl AssetClass {
    /// The class of `instrument` at `broker`: Tradovate is futures, Coinbase crypto; an OANDA
    /// name is a metal (`XAU_`, `XAG_`, `XPT_`, `XPD_`), FX (both halves in the currency list)
    /// or else a CFD.
    pub fn of(broker: shared::Broker, instrument: &str) -> Self {
        match broker {
            shared::Broker::Tradovate => Self::Futures,
            shared::Broker::Coinbase => match shared::routing::coinbase_currencies(instrument) {
                Some((_, quote)) if MONEY_QUOTES.contains(&quote) => Self::Crypto,
                _ => Self::CryptoCross,
            },
            shared::Broker::Oanda => match instrument.split_once('_') {
                Some((b, _)) if METALS.contains(&b) => Self::Metal,
                Some((b, q)) if CURRENCIES.contains(&b) && CURRENCIES.contains(&q) => Self::Fx,
                _ => Self::Cfd,
            },
        }
    }

    /// The broker whose instruments are of this class (OANDA `fx`, `metal` and `cfd`,
    /// Tradovate `futures`, Coinbase `crypto` and `crypto_cross`), as [`Self::of`] sorts them.
    pub fn broker(self) -> shared::Broker {
        match self {
            Self::Fx | Self::Metal | Self::Cfd => shared::Broker::Oanda,
            Self::Futures => shared::Broker::Tradovate,
            Self::Crypto | Self::CryptoCross => shared::Broker::Coinbase,
        }
    }

    /// The lower-case name a `[classes.<name>]` section uses: `fx`, `metal`, `cfd`, `futures`,
    /// `crypto` or `crypto_cross`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fx => "fx",
            Self::Metal => "metal",
            Self::Cfd => "cfd",
            Self::Futures => "futures",
            Self::Crypto => "crypto",
            Self::CryptoCross => "crypto_cross",
        }
    }

    /// A spot product (Coinbase): a short entry sells what is held.
    pub fn is_spot(self) -> bool {
        matches!(self, Self::Crypto | Self::CryptoCross)
    }

    const ALL: [Self; 6] = [
        Self::Fx,
        Self::Metal,
        Self::Cfd,
        Self::Futures,
        Self::Crypto,
        Self::CryptoCross,
    ];
}

/// A dash other than the hyphen-minus: Unicode's dash punctuation (general category Pd, as
/// listed in the Unicode Character Database), the minus sign, the hyphen bullet and the
/// fullwidth hyphen-minus. Text pasted from a document or a spreadsheet carries them.
fn is_dash(c: char) -> bool {
    const DASHES: &[char] = &[
        '\u{058A}',
        '\u{05BE}',
        '\u{1400}',
        '\u{1806}',
        '\u{2010}',
        '\u{2011}',
        '\u{2012}',
        '\u{2013}',
        '\u{2014}',
        '\u{2015}',
        '\u{2043}',
        '\u{2212}',
        '\u{2E17}',
        '\u{2E1A}',
        '\u{2E3A}',
        '\u{2E3B}',
        '\u{2E40}',
        '\u{2E5D}',
        '\u{301C}',
        '\u{3030}',
        '\u{30A0}',
        '\u{FE31}',
        '\u{FE32}',
        '\u{FE58}',
        '\u{FE63}',
        '\u{FF0D}',
        '\u{10EAD}',
    ];
    DASHES.contains(&c)
}

/// One trading window: days of the week and a time range, in UTC or in an IANA time zone
/// (`Mon-Fri 07:00-20:00`, `Mon-Fri 08:30-15:00 America/Chicago`). A zoned window follows the
/// zone's daylight-saving changes: `08:30 America/Chicago` is 14:30 UTC in winter and 13:30
/// UTC in summer. Time zones come from the IANA database (`chrono-tz`). A window whose end
/// comes before its start runs past midnight into the next day, and its days are the days it
/// opens (`Sun-Thu 17:00-16:00 America/Chicago`: Sunday 17:00 to Monday 16:00, ..., Thursday
/// 17:00 to Friday 16:00, as futures sessions run); a start equal to its end is refused.
/// The end is exclusive (`07:00-20:00` takes entries up to 19:59:59), and `24:00` ends a
/// window at the close of its day (`Sat 00:00-24:00` is the whole Saturday).
#[derive(Debug, Clone)]
pub struct Window {
    /// As written in the settings (spaces trimmed), for the refusal that names it.
    text: String,
    days: Vec<Weekday>,
    start: NaiveTime,
    /// `None`: `24:00`, the end of the day the window opens.
    end: Option<NaiveTime>,
    zone: Option<Tz>,
}

/// Two windows are equal when they open at the same times, however each was written.
impl PartialEq for Window {
    fn eq(&self, other: &Self) -> bool {
        (&self.days, self.start, self.end, self.zone)
            == (&other.days, other.start, other.end, other.zone)
    }
}

impl Eq for Window {}

impl Window {
    /// Parses `<days> <HH:MM>-<HH:MM> [<IANA zone>]`; days are `Mon`..`Sun`, ranges
    /// (`Mon-Fri`) and lists (`Sun,Wed`); the end may be `24:00`. Errors quote the window and
    /// name the part.
    ///
    /// Days are read as chrono reads them, in any case and in full too (`mon`, `Monday`), and
    /// an hour may have one digit (`9:30`): the forms a trader writes mean what they say.
    pub fn parse(text: &str) -> Result<Self, String> {
        // A dash other than the hyphen (pasted from a document or a spreadsheet) is named as
        // such, not reported as a day or a time that does not parse.
        if let Some(dash) = text.chars().find(|&c| is_dash(c)) {
            return Err(format!(
                "{text:?}: write the dashes as - (a hyphen), not {dash} (Mon-Fri 07:00-20:00)"
            ));
        }
        if text.contains(" -") || text.contains("- ") {
            return Err(format!(
                "{text:?}: write the days and the time range without spaces around the dash \
                 (Mon-Fri 07:00-20:00)"
            ));
        }
        let mut parts = text.split_whitespace();
        let (Some(days), Some(times)) = (parts.next(), parts.next()) else {
            return Err(format!(
                "{text:?}: expected `<days> <HH:MM>-<HH:MM> [time zone]`"
            ));
        };
        let zone = match parts.next() {
            None => None,
            Some(name) => Some(name.parse::<Tz>().map_err(|_| {
                format!("{text:?}: {name:?} is not an IANA time zone (e.g. America/Chicago)")
            })?),
        };
        if parts.next().is_some() {
            return Err(format!(
                "{text:?}: expected `<days> <HH:MM>-<HH:MM> [time zone]`"
            ));
        }
        let (start, end) = times
            .split_once('-')
            .ok_or_else(|| format!("{text:?}: expected a time range HH:MM-HH:MM"))?;
        let time = |t: &str| {
            // chrono reads `7:5` as 07:05; a trader who wrote it may have meant 07:50, so the
            // minutes take two digits (the hour may take one: `9:30`).
            let two_digit_minutes = t
                .split_once(':')
                .is_some_and(|(_, m)| m.len() == 2 && m.bytes().all(|b| b.is_ascii_digit()));
            if !two_digit_minutes {
                return Err(if t.contains(':') {
                    format!("{text:?}: {t:?} is not HH:MM (the minutes take two digits: 07:05)")
                } else {
                    format!("{text:?}: {t:?} is not HH:MM")
                });
            }
            NaiveTime::parse_from_str(t.trim(), "%H:%M")
                .map_err(|_| format!("{text:?}: {t:?} is not HH:MM"))
        };
        if start.trim() == "24:00" {
            return Err(format!(
                "{text:?}: 24:00 ends a window at midnight; one that opens then starts at 00:00"
            ));
        }
        let start = time(start)?;
        let end = if end.trim() == "24:00" {
            None
        } else {
            Some(time(end)?)
        };
        if Some(start) == end {
            return Err(format!(
                "{text:?}: the window opens and closes at the same time"
            ));
        }
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
            text: text.split_whitespace().collect::<Vec<_>>().join(" "),
            days: out,
            start,
            end,
            zone,
        })
    }

    fn contains(&self, t: DateTime<Utc>) -> bool {
        let (weekday, time) = match self.zone {
            Some(zone) => {
                let local = t.with_timezone(&zone);
                (local.weekday(), local.time())
            }
            None => (t.weekday(), t.time()),
        };
        match self.end {
            None => self.days.contains(&weekday) && time >= self.start,
            Some(end) if self.start < end => {
                self.days.contains(&weekday) && time >= self.start && time < end
            }
            // Past midnight: opened today, or opened yesterday and not closed yet.
            Some(end) => {
                (self.days.contains(&weekday) && time >= self.start)
                    || (self.days.contains(&weekday.pred()) && time < end)
            }
        }
    }
}

/// One instrument's guards, after its section (a futures contract's, then its root's), its
/// class's and the defaults are merged. Borrows the settings' parsed windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstrumentRisk<'a> {
    /// `None`: no size is configured, and an entry is refused.
    pub size: Option<Size>,
    /// The largest quantity an entry may trade, in the instrument's units. A quantity size
    /// is checked against it here; a notional size once converted at the alert's close
    /// ([`crate::venue::ExecRequest::max_position`]).
    pub max_position: Decimal,
    /// The largest quantity an alert's `quantity` may ask for; `max_position` when unset.
    pub max_override: Decimal,
    /// The per-order notional cap ([`notional_price`]).
    pub max_notional: Decimal,
    /// When entries may trade; empty means always. Exits are never held to them.
    pub windows: &'a [Window],
}

/// The risk configuration (TOML): top-level defaults, `[classes.<class>]` and
/// `[instruments.<name>]` sections, the most specific one that sets a key winning.
#[derive(Debug, Clone)]
pub struct RiskConfig {
    default: InstrumentFile,
    default_max_position: Decimal,
    max_notional: Decimal,
    /// Whether the file set the top-level `max_notional` (else it is
    /// [`DEFAULT_MAX_NOTIONAL`]): messages name where a cap came from.
    max_notional_set: bool,
    /// The file's `quantity_needs_section`.
    quantity_needs_section: bool,
    classes: BTreeMap<String, InstrumentFile>,
    instruments: BTreeMap<String, InstrumentFile>,
}

/// Why a guard refused a signal: journaled as `refused` with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The kill switch is engaged: entries and exits alike.
    #[error("kill switch is engaged")]
    KillSwitch,
    /// The alert's `quantity` is over the instrument's `max_override`.
    #[error(
        "alert quantity {requested} {unit} is over the {max} {unit} allowed for {instrument} (max_override, else max_position, else default_max_position, in its executor's risk settings: {})",
        settings_of(class)
    )]
    OverrideTooLarge {
        /// The instrument, as the broker names it.
        instrument: String,
        /// What an entry's quantity counts ([`entry_unit`]): `units`, `contracts`, or the
        /// quote currency a spot buy spends.
        unit: String,
        /// Its asset class's name ([`AssetClass::as_str`]): which executor's settings.
        class: &'static str,
        /// The alert's quantity, in the broker's units.
        requested: Decimal,
        /// The `max_override` in force (`max_position` where none is set).
        max: Decimal,
    },
    /// An entry's quantity is over the instrument's `max_position`.
    #[error(
        "size {size} for {instrument} is over its max position {max} (max_position in its executor's risk settings: {})",
        settings_of(class)
    )]
    OverMaxPosition {
        /// The instrument, as the broker names it.
        instrument: String,
        /// Its asset class's name ([`AssetClass::as_str`]): which executor's settings.
        class: &'static str,
        /// The quantity the entry would hold.
        size: Decimal,
        /// The `max_position` in force.
        max: Decimal,
    },
    #[error(
        "no size is configured for {instrument} ({class}): set instruments.{instrument}.size or .notional{}, or classes.{class}.size{}, in its executor's risk settings ({}){}",
        root_hint(instrument, class),
        if *class == "crypto_cross" { "" } else { ", or default_size" },
        settings_of(class),
        cfd_hint(instrument, class)
    )]
    /// An entry with no quantity override, for an instrument with no size at any layer.
    NoSize {
        /// The instrument, as the broker names it.
        instrument: String,
        /// Its asset class's name ([`AssetClass::as_str`]).
        class: &'static str,
    },
    /// An entry whose alert carries a quantity, for an instrument with no size at any layer
    /// and no section of its own nor of its class, under settings with
    /// `quantity_needs_section = true` (OANDA's shipped defaults: their only position limit
    /// for a metal or a CFD would be `default_max_position`, set for currency units; 10,000
    /// units of a currency pair is 10,000 oz of gold), so "no size: refused until
    /// configured" holds for an alert's quantity too.
    #[error(
        "{instrument} ({class}) is not configured in its executor's risk settings ({}), so the alert's quantity {requested} is not taken: default_max_position ({max}) would be its only limit, set without {class} units in mind; set instruments.{instrument} or classes.{class} (a size, or a max_position for alerts' quantities){}",
        settings_of(class),
        cfd_hint(instrument, class)
    )]
    UnconfiguredQuantity {
        /// The instrument, as the broker names it.
        instrument: String,
        /// Its asset class's name ([`AssetClass::as_str`]).
        class: &'static str,
        /// The alert's quantity.
        requested: Decimal,
        /// The `default_max_position` it would otherwise have traded under.
        max: Decimal,
    },
    /// An entry on a product quoted in a crypto asset whose own section, or
    /// `classes.crypto_cross`, sets no `max_notional`: the default cap is an amount of money,
    /// meaningless in BTC.
    #[error(
        "{instrument} is quoted in a crypto asset: set instruments.{instrument}.max_notional or classes.crypto_cross.max_notional (in its quote currency) in its executor's risk settings ({})",
        settings_of("crypto_cross")
    )]
    NoCrossCap {
        /// The instrument, as the broker names it.
        instrument: String,
    },
    /// An entry on an OANDA instrument quoted in a metal (`XAU_XAG`: its price is ounces of
    /// silver) whose own section does not set its size and `max_notional`: a class's or the
    /// defaults' notional and cap are amounts of money, which ounces of silver are not
    /// (a `notional = "20000"` meant as dollars buys about 30 times that).
    #[error(
        "{instrument} is quoted in a metal (its price is ounces of {quote}): set instruments.{instrument}.size (or .notional) and .max_notional, in ounces of {quote}, in its executor's risk settings ({})",
        settings_of("metal")
    )]
    QuotedInMetal {
        /// The instrument, as the broker names it.
        instrument: String,
        /// The metal it is quoted in (`XAG`).
        quote: String,
    },
    /// An entry at a time outside every one of the instrument's windows.
    #[error(
        "{instrument}: entries are outside its trading windows ({windows}) at {} (windows in its executor's risk settings: {})",
        at.format("%Y-%m-%d %H:%M:%S UTC"),
        settings_of(class)
    )]
    OutsideTradingWindow {
        /// The instrument, as the broker names it.
        instrument: String,
        /// Its windows as written in the settings, `; `-separated.
        windows: String,
        /// Its asset class's name ([`AssetClass::as_str`]): which executor's settings.
        class: &'static str,
        /// The time checked: the executor's start on the signal (UTC).
        at: DateTime<Utc>,
    },
}

/// The environment variable naming a file that holds the risk TOML; set it or
/// [`RISK_CONFIG`], not both (both is refused).
pub const RISK_CONFIG_FILE: &str = "RISK_CONFIG_FILE";
/// The environment variable holding the risk TOML inline; set it or [`RISK_CONFIG_FILE`],
/// not both.
pub const RISK_CONFIG: &str = "RISK_CONFIG";

/// The local stack's variable prefix of the executor that trades `class` (an
/// [`AssetClass::as_str`]): OANDA for currency pairs, metals and CFDs, Tradovate for futures,
/// Coinbase for crypto.
fn local_risk_prefix(class: &str) -> &'static str {
    match class {
        "futures" => "TRADOVATE",
        "crypto" | "crypto_cross" => "COINBASE",
        _ => "OANDA",
    }
}

/// Where the risk settings of the executor trading `class` are set, as a refusal names them:
/// `RISK_CONFIG; locally OANDA_RISK_CONFIG or OANDA_RISK_CONFIG_FILE`.
fn settings_of(class: &str) -> String {
    let p = local_risk_prefix(class);
    format!("RISK_CONFIG; locally {p}_RISK_CONFIG or {p}_RISK_CONFIG_FILE")
}

/// [`settings_of`] for `broker`'s executor: what a refusal by its settings names.
pub fn settings_named(broker: shared::Broker) -> String {
    settings_of(match broker {
        shared::Broker::Oanda => "fx",
        shared::Broker::Tradovate => "futures",
        shared::Broker::Coinbase => "crypto",
    })
}

/// For an instrument read as a CFD (no currency pair or metal this project knows), the hint
/// that its symbol may be wrong; empty otherwise.
fn cfd_hint(instrument: &str, class: &str) -> String {
    if class == "cfd" {
        format!(
            "; {instrument} is read as a CFD because it is no currency pair or metal this project knows: if OANDA has no such instrument, the alert's symbol is wrong (fix the symbol, not the size)"
        )
    } else {
        String::new()
    }
}

/// For a futures contract's refusal, its root's section, which holds across rolls
/// (` (or instruments.ES.size, which holds across rolls)`); empty otherwise.
fn root_hint(instrument: &str, class: &str) -> String {
    let root = shared::contract_specs::contract_root(instrument);
    // A contract ends in a month code and a year digit (`ESZ6`); a root does not.
    let contract = instrument.ends_with(|c: char| c.is_ascii_digit());
    if class == AssetClass::Futures.as_str() && contract && !root.is_empty() {
        format!(" (or instruments.{root}.size, which holds across rolls)")
    } else {
        String::new()
    }
}

/// A `max_override` over the `max_position` it trades under: a quantity between the two could
/// never trade. `over_from` and `limit_from` say where the values came from (` (from
/// classes.fx)`), or are empty.
fn over_override(
    at: &str,
    over: Decimal,
    over_from: &str,
    limit: Decimal,
    limit_from: &str,
) -> String {
    format!(
        "{at}: max_override {over}{over_from} is over the max_position {limit}{limit_from} it \
         trades under: an alert quantity over {limit} would be refused all the same (lower \
         max_override, or raise max_position)"
    )
}

/// A section of the risk settings, by what it is named in the file.
#[derive(Debug, Clone, Copy)]
enum Layer<'a> {
    /// `[instruments.<name>]`.
    Instrument(&'a str),
    /// `[classes.<class>]`.
    Class(AssetClass),
    /// The top-level `default_size`.
    Defaults,
}

impl Layer<'_> {
    fn name(self) -> String {
        match self {
            Self::Instrument(name) => format!("instruments.{name}"),
            Self::Class(class) => format!("classes.{}", class.as_str()),
            Self::Defaults => "default_size".to_owned(),
        }
    }
}

/// The keys of [`RiskFile`] alone, not of a section too: TOML reads one written below a
/// `[section]` header as that section's, which knows no such key.
const TOP_LEVEL_KEYS: [&str; 3] = [
    "default_size",
    "default_max_position",
    "quantity_needs_section",
];

/// The sections an instrument's settings come from, most specific first (its own, its
/// futures root's, its class's, the defaults), those the file has.
type Layers<'a> = [Option<(Layer<'a>, &'a InstrumentFile)>; 4];

impl RiskConfig {
    /// Parses the TOML; every amount must be positive, every window valid, and every class
    /// one of `fx`, `metal`, `cfd`, `futures`, `crypto`, `crypto_cross`. Errors name the key.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let mut file: RiskFile = toml::from_str(text).map_err(|e| {
            // A file replaces the shipped settings whole, so the one required key is easy to
            // leave out when adding an instrument's section: say what it is.
            if e.message().contains("missing field `default_max_position`") {
                "default_max_position is required (at the top, before any [section]): the \
                 largest position, in units or contracts, of an instrument whose section sets \
                 no max_position; a risk file replaces the shipped settings whole"
                    .to_owned()
            } else {
                let at = shared::config::toml_error(text, &e);
                // The file's own keys written below a `[section]` header belong to that
                // section in TOML, which knows no such key: say where they go.
                match TOP_LEVEL_KEYS
                    .iter()
                    .find(|k| e.message().contains(&format!("unknown field `{k}`")))
                {
                    Some(k) => format!(
                        "{at}; {k} is a key of the whole file: write it at the top, before \
                         any [section]"
                    ),
                    None => at,
                }
            }
        })?;
        let positive = |what: &str, d: Option<Decimal>| match d {
            Some(d) if d <= Decimal::ZERO => {
                Err(format!("{what} must be greater than zero, got {d}"))
            }
            _ => Ok(()),
        };
        positive("default_size", file.default_size)?;
        positive("default_max_position", Some(file.default_max_position))?;
        positive("max_notional", file.max_notional)?;
        for (name, class) in &mut file.classes {
            if !AssetClass::ALL.iter().any(|c| c.as_str() == name) {
                return Err(format!(
                    "classes.{name}: not an asset class (fx, metal, cfd, futures, crypto, crypto_cross)"
                ));
            }
            Self::check_section(&format!("classes.{name}"), class, &positive)?;
        }
        for (name, i) in &mut file.instruments {
            Self::check_section(&format!("instruments.{name}"), i, &positive)?;
        }
        Ok(Self {
            default: InstrumentFile {
                size: file.default_size,
                ..Default::default()
            },
            default_max_position: file.default_max_position,
            max_notional: file.max_notional.unwrap_or(DEFAULT_MAX_NOTIONAL),
            max_notional_set: file.max_notional.is_some(),
            quantity_needs_section: file.quantity_needs_section,
            classes: file.classes,
            instruments: file.instruments,
        })
    }

    /// Checks a section's values and parses its windows into it.
    fn check_section(
        at: &str,
        i: &mut InstrumentFile,
        positive: &impl Fn(&str, Option<Decimal>) -> Result<(), String>,
    ) -> Result<(), String> {
        if i.size.is_some() && i.notional.is_some() {
            return Err(format!("{at}: set size or notional, not both"));
        }
        positive(&format!("{at}.size"), i.size)?;
        positive(&format!("{at}.notional"), i.notional)?;
        positive(&format!("{at}.max_position"), i.max_position)?;
        positive(&format!("{at}.max_override"), i.max_override)?;
        positive(&format!("{at}.max_notional"), i.max_notional)?;
        i.parsed_windows = i
            .windows
            .as_ref()
            .map(|list| {
                list.iter()
                    .map(|w| Window::parse(w).map_err(|e| format!("{at}.windows: {e}")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(())
    }

    /// From `RISK_CONFIG` (inline TOML) or `RISK_CONFIG_FILE`; `fallback` (the executor's
    /// built-in defaults) when neither is set; the settings must pass [`Self::check_for`]
    /// `broker` and, given `routing` (the table the router reads; only a Tradovate file has
    /// anything it judges), [`Self::check_contracts`].
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the variable the settings came from (`RISK_CONFIG` or
    /// `RISK_CONFIG_FILE`) with what is wrong: an unreadable file, bad TOML, or a setting
    /// that fails the check; naming `RISK_CONFIG` when both are set; naming either when it
    /// is set but blank (never read as unset, which would trade the built-in defaults).
    pub fn from_env(
        env: &impl Env,
        fallback: &str,
        broker: shared::Broker,
        routing: Option<&shared::routing::RoutingTable>,
    ) -> Result<Self, ConfigError> {
        // Set but blank (`RISK_CONFIG=''`, a `$(cat file)` of an empty file) is not "unset":
        // the executor would trade its built-in sizes where somebody meant to set their own.
        for name in [RISK_CONFIG, RISK_CONFIG_FILE] {
            if env.get(name).is_some_and(|v| v.trim().is_empty()) {
                return Err(ConfigError::Invalid {
                    name: name.into(),
                    reason: "it is set but empty: unset it for the executor's built-in \
                             defaults, or give it the risk settings"
                        .into(),
                });
            }
        }
        let (name, text) = match (env.optional(RISK_CONFIG), env.optional(RISK_CONFIG_FILE)) {
            // One would silently replace the other (the file, valid or not, never read):
            // which sizes trade must not depend on a precedence nobody looks up.
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    name: RISK_CONFIG.into(),
                    reason: "it is set together with its file form (the name ending in _FILE): \
                             set one of them"
                        .into(),
                });
            }
            (Some(inline), None) => (RISK_CONFIG, inline),
            (None, Some(path)) => (
                RISK_CONFIG_FILE,
                std::fs::read_to_string(&path).map_err(|e| ConfigError::Invalid {
                    name: RISK_CONFIG_FILE.into(),
                    reason: format!("{path}: {e}"),
                })?,
            ),
            (None, None) => (RISK_CONFIG, fallback.to_owned()),
        };
        Self::from_toml(&text)
            .and_then(|risk| {
                risk.check_for(broker)?;
                if let Some(table) = routing {
                    risk.check_contracts(broker, table)?;
                }
                Ok(risk)
            })
            .map_err(|reason| ConfigError::Invalid {
                name: name.into(),
                reason,
            })
    }

    /// What can be judged of these settings for `broker` before any signal, so that a file
    /// that could never trade, or holds a setting that could never apply, fails the start
    /// instead of the entries it concerns:
    /// - every `[instruments.<name>]` section names an instrument as `broker` does (OANDA
    ///   `EUR_USD`, Coinbase `BTC-USD`, Tradovate a root `ES` or a contract `ESZ6`): a section
    ///   under another name (`EURUSD`, the TradingView symbol) would never apply, and the
    ///   executor would trade the class's size instead, without a word. OANDA and Coinbase
    ///   names are judged by their form only (nothing here holds the broker's list): a
    ///   misspelt name of the right form (`USD_JYP`) passes, and applies to nothing;
    /// - at Tradovate, sizes and limits are whole contracts (`orderQty` is an integer,
    ///   OpenAPI `PlaceOrder`, <https://partner.tradovate.com/openapi.json>);
    /// - every `[classes.<name>]` section is a class of `broker`'s ([`AssetClass::broker`]):
    ///   another's would never apply;
    /// - each class's size (its own, else `default_size`, whether or not the file has the
    ///   class's section; `crypto_cross` never takes `default_size`) and each instrument's as [`Self::instrument`] merges it (its own,
    ///   its root's, its class's or `default_size`) is within the `max_position` it trades
    ///   under: otherwise the entries it sizes would be refused unless their alert carries a
    ///   quantity;
    /// - the same for `max_override`: a quantity between the two would be refused all the
    ///   same;
    /// - where the notional does not depend on the price (OANDA's currency pairs, Coinbase's
    ///   buys: [`notional_price`]), a `size` or a `notional` size, merged the same way, and a
    ///   `max_override` set as such, are within the `max_notional` they trade under: a larger
    ///   one sizes open legs the cap refuses at every price. A crypto-quoted product
    ///   (`crypto_cross`) is judged against a cap only when its own section or its class's
    ///   sets one: it trades under no other. (Elsewhere a notional size is rounded down to
    ///   whole contracts or units at the alert's price, which may bring it under the cap.)
    ///
    /// # Errors
    /// The first setting that fails, naming it (and the section a merged value came from)
    /// and what it must be.
    pub fn check_for(&self, broker: shared::Broker) -> Result<(), String> {
        let word = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        };
        // Names first: a misnamed section would be judged under a class it does not have.
        for name in self.instruments.keys() {
            let (ok, form) = match broker {
                shared::Broker::Oanda => (
                    name.split_once('_')
                        .is_some_and(|(b, q)| word(b) && word(q)),
                    "BASE_QUOTE, as OANDA names it (EUR_USD, XAU_USD, SPX500_USD)",
                ),
                shared::Broker::Coinbase => (
                    shared::routing::coinbase_currencies(name)
                        .is_some_and(|(b, q)| word(b) && word(q)),
                    "BASE-QUOTE, as Coinbase names it (BTC-USD)",
                ),
                // A year of two or four digits (`ESZ26`, TradingView's `ESZ2026`) is not
                // Tradovate's: a contract ends in a month code and one year digit.
                shared::Broker::Tradovate => (
                    word(name) && !name.chars().rev().take(2).all(|c| c.is_ascii_digit()),
                    "a root (ES) or a contract (ESZ6: one year digit, not ESZ26 or ESZ2026), as \
                     Tradovate names them (TradingView's continuous symbol, ES1! or ES12!, \
                     trades under its root's section)",
                ),
            };
            if !ok {
                return Err(format!(
                    "instruments.{name}: an instrument is named {form}; this section would never apply"
                ));
            }
        }
        // A class of another broker's would never apply (a Tradovate file's `classes.fx`).
        for name in self.classes.keys() {
            if let Some(class) = AssetClass::ALL.iter().find(|k| k.as_str() == name)
                && class.broker() != broker
            {
                let own: Vec<&str> = AssetClass::ALL
                    .iter()
                    .filter(|k| k.broker() == broker)
                    .map(|k| k.as_str())
                    .collect();
                return Err(format!(
                    "classes.{name}: {} trades no {name} instruments (its classes: {}); this \
                     section would never apply",
                    broker.as_str(),
                    own.join(", ")
                ));
            }
        }
        let sections = std::iter::once(("default_size".to_owned(), &self.default))
            .chain(
                self.classes
                    .iter()
                    .map(|(n, c)| (format!("classes.{n}"), c)),
            )
            .chain(
                self.instruments
                    .iter()
                    .map(|(n, i)| (format!("instruments.{n}"), i)),
            );
        for (at, section) in sections {
            if broker == shared::Broker::Tradovate {
                for (what, v) in [
                    ("size", section.size),
                    ("max_position", section.max_position),
                    ("max_override", section.max_override),
                ] {
                    if let Some(v) = v
                        && !v.fract().is_zero()
                    {
                        // The defaults' section is the top-level keys: its size is
                        // `default_size` itself, not a `default_size.size` a trader would
                        // look for in vain.
                        let key = if at == "default_size" {
                            at.clone()
                        } else {
                            format!("{at}.{what}")
                        };
                        return Err(format!(
                            "{key}: {v} is not a whole number of contracts (Tradovate trades \
                             whole contracts)"
                        ));
                    }
                }
            }
        }
        if broker == shared::Broker::Tradovate && !self.default_max_position.fract().is_zero() {
            return Err(format!(
                "default_max_position: {} is not a whole number of contracts (Tradovate trades \
                 whole contracts)",
                self.default_max_position
            ));
        }
        // Each class's and each instrument's settings as they merge: a size or override of
        // the defaults, a class or a root may meet a lower max_position further down.
        // Every class of this broker's, with a section or not: `default_size` trades under
        // the max_position of each class that sets one, else under `default_max_position`.
        let classes = AssetClass::ALL
            .iter()
            .filter(|k| k.broker() == broker)
            .map(|&k| {
                let at = if self.classes.contains_key(k.as_str()) {
                    format!("classes.{}", k.as_str())
                } else {
                    format!("default_size (for {} instruments)", k.as_str())
                };
                (at, k, self.class_layers(k))
            });
        let instruments = self.instruments.keys().map(|name| {
            let class = AssetClass::of(broker, name);
            (
                format!("instruments.{name}"),
                class,
                self.layers_of(class, name),
            )
        });
        for (at, class, layers) in classes.chain(instruments) {
            let risk = self.merged(class, &layers);
            // A class's size reaches only its instruments that set neither a size nor a
            // max_position of their own.
            let refused = if at.starts_with("instruments.") {
                "every entry without an alert quantity would be refused".to_owned()
            } else {
                format!(
                    "the entries of {} instruments that take this size and this max_position \
                     (their own sections set neither) would be refused unless their alert \
                     carries a quantity (set a smaller classes.{}.size, or a larger \
                     max_position)",
                    class.as_str(),
                    class.as_str()
                )
            };
            // Where a merged value came from, when not from the section judged.
            let from = |set: fn(&InstrumentFile) -> bool, otherwise: &str| {
                let src = layers
                    .iter()
                    .flatten()
                    .find(|(_, l)| set(l))
                    .map_or_else(|| otherwise.to_owned(), |(layer, _)| layer.name());
                if at == src || at.starts_with(&format!("{src} ")) {
                    String::new()
                } else {
                    format!(" (from {src})")
                }
            };
            let limit_from = from(|l| l.max_position.is_some(), "default_max_position");
            if let Some(Size::Quantity(size)) = risk.size
                && size > risk.max_position
            {
                return Err(format!(
                    "{at}: size {size}{} is over its max_position {}{limit_from}: {refused}",
                    from(|l| l.size.is_some() || l.notional.is_some(), "default_size"),
                    risk.max_position,
                ));
            }
            // A crypto-quoted product trades only under a cap of its own (`check` refuses it
            // otherwise, `NoCrossCap`): the defaults' cap, an amount of money, is no limit
            // to judge it by.
            let cap_is_own = layers
                .iter()
                .flatten()
                .any(|(_, l)| l.max_notional.is_some());
            let cap_applies = class != AssetClass::CryptoCross || cap_is_own;
            let cap_from = from(
                |l| l.max_notional.is_some(),
                if self.max_notional_set {
                    "max_notional"
                } else {
                    "the default cap: the file sets no max_notional"
                },
            );
            let size_from = from(|l| l.size.is_some() || l.notional.is_some(), "default_size");
            // Where an open leg's notional does not depend on the price (a currency pair at
            // OANDA, counted in base units; a Coinbase buy, its quote amount: see
            // `notional_price`), a size, a notional size, or an alert quantity up to
            // `max_override`, over the cap is refused by it at every price. Elsewhere a
            // notional size is rounded down to whole contracts or units at the alert's price,
            // which may bring it under the cap (400,000 of YM at 42,000 is one contract,
            // 210,000): nothing to judge before the price.
            let priced_at_one = matches!(
                (broker, class),
                (shared::Broker::Oanda, AssetClass::Fx)
                    | (
                        shared::Broker::Coinbase,
                        AssetClass::Crypto | AssetClass::CryptoCross
                    )
            );
            // A notional size over `max_position` there is its units over it too: refused per
            // signal (`ExecRequest::max_position`), not at the start, so that a setting that
            // traded before this check existed stops its entries, never its exits.
            if let Some(Size::Notional(amount)) = risk.size
                && priced_at_one
                && cap_applies
                && amount > risk.max_notional
            {
                return Err(format!(
                    "{at}: notional {amount}{size_from} is over its max_notional {}{cap_from}: \
                     the entries it sizes would be refused by the notional cap (set notional \
                     at most max_notional, or raise max_notional)",
                    risk.max_notional,
                ));
            }
            if priced_at_one && cap_applies {
                let why = format!(
                    "{} counts a size of the {} class as its notional whatever the price",
                    broker.as_str(),
                    class.as_str()
                );
                if let Some(Size::Quantity(size)) = risk.size
                    && size > risk.max_notional
                {
                    return Err(format!(
                        "{at}: size {size}{size_from} is over its max_notional {}{cap_from}: \
                         {why}, so the cap would refuse every entry it sizes (set a smaller \
                         size, or raise max_notional)",
                        risk.max_notional,
                    ));
                }
                // Only a max_override set as such: one that is `max_position` by default
                // says nothing of alert quantities.
                let override_set = layers
                    .iter()
                    .flatten()
                    .any(|(_, l)| l.max_override.is_some());
                if override_set && risk.max_override > risk.max_notional {
                    return Err(format!(
                        "{at}: max_override {}{} is over its max_notional {}{cap_from}: {why}, \
                         so an alert quantity over {} would be refused all the same (lower \
                         max_override, or raise max_notional)",
                        risk.max_override,
                        from(|l| l.max_override.is_some(), "max_override"),
                        risk.max_notional,
                        risk.max_notional,
                    ));
                }
            }
            if risk.max_override > risk.max_position {
                return Err(over_override(
                    &at,
                    risk.max_override,
                    &from(|l| l.max_override.is_some(), "max_position"),
                    risk.max_position,
                    &limit_from,
                ));
            }
        }
        Ok(())
    }

    /// What of a Tradovate file only the routing table can judge: each `[instruments.<name>]`
    /// must name a futures root the table lists (`ES`), or a contract of one in a month the
    /// table trades (`ESZ6`; ES trades H, M, U, Z). Any other section would never apply: the
    /// router refuses a symbol of a root it does not list, and a contract of another month
    /// (`ESF7`), and never rolls into one. TradingView's continuous symbol without its `!`
    /// (`ES1`) is named as such. Other brokers' files: nothing to judge.
    ///
    /// # Errors
    /// The first such section, naming the table ([`shared::routing::RoutingTable::source`])
    /// and the months or roots it has.
    pub fn check_contracts(
        &self,
        broker: shared::Broker,
        table: &shared::routing::RoutingTable,
    ) -> Result<(), String> {
        if broker != shared::Broker::Tradovate {
            return Ok(());
        }
        let never = "no signal would ever reach this section";
        for name in self.instruments.keys() {
            if table.contract_months(name).is_some() {
                continue;
            }
            // TradingView's continuous symbol without its `!` (`ES1`, `M2K12` of the root `M2K`).
            let continuous = (1..=2)
                .filter_map(|n| {
                    let at = name.len().checked_sub(n)?;
                    // `get`, not `split_at`: a name is not known to be ASCII here.
                    Some((name.get(..at)?, name.get(at..)?))
                })
                .find(|(head, digits)| {
                    !head.is_empty()
                        && digits.bytes().all(|b| b.is_ascii_digit())
                        && table.contract_months(head).is_some()
                });
            if let Some((head, _)) = continuous {
                return Err(format!(
                    "instruments.{name}: this is TradingView's continuous symbol ({name}!) \
                     without its `!`, not a Tradovate name, so {never}: set \
                     instruments.{head} (the root, which holds across rolls) or a contract's \
                     own section"
                ));
            }
            // A contract: root, month code, one year digit (`check_for` refused longer years).
            let mut tail = name.chars().rev();
            let root = shared::contract_specs::contract_root(name);
            if let (Some(year), Some(code)) = (tail.next(), tail.next())
                && year.is_ascii_digit()
                && let Some(months) = table.contract_months(root)
            {
                if months.contains(code) {
                    continue;
                }
                let listed: Vec<String> = months.chars().map(String::from).collect();
                let lists = format!(
                    "{} lists {root} in the months {} only",
                    table.source(),
                    listed.join(", ")
                );
                let what = if "FGHJKMNQUVXZ".contains(code) {
                    format!("there is no {code} contract of {root} to route to ({lists})")
                } else {
                    format!("{code} is not a month code (F G H J K M N Q U V X Z), and {lists}")
                };
                let example = months
                    .chars()
                    .next()
                    .map_or_else(String::new, |m| format!(" ({root}{m}{year})"));
                return Err(format!(
                    "instruments.{name}: {what}, so {never}: set instruments.{root} (the root, \
                     which holds across rolls) or a contract in one of those months{example}"
                ));
            }
            let roots: Vec<&str> = table.futures_roots().collect();
            return Err(format!(
                "instruments.{name}: {} lists no futures root {name}, nor one whose contract \
                 it is (its roots: {}), so {never}: another root trades once its contract \
                 specification is in this build (shared/src/contract_specs.rs) and a routing \
                 table file ({}) has a section for it",
                table.source(),
                roots.join(", "),
                shared::routing::ROUTING_TABLE_FILE
            ));
        }
        Ok(())
    }

    /// The sections an instrument's settings come from, most specific first: its own (a
    /// futures contract's, then its root's, which holds across rolls), its class's, then the
    /// defaults. No allocation: [`Self::check`] reads them for every signal.
    fn layers_of(&self, class: AssetClass, name: &str) -> Layers<'_> {
        let own = self
            .instruments
            .get_key_value(name)
            .map(|(k, l)| (Layer::Instrument(k), l));
        let root = (class == AssetClass::Futures)
            .then(|| shared::contract_specs::contract_root(name))
            .filter(|root| !root.is_empty() && *root != name)
            .and_then(|root| self.instruments.get_key_value(root))
            .map(|(k, l)| (Layer::Instrument(k), l));
        let [_, _, class, defaults] = self.class_layers(class);
        [own, root, class, defaults]
    }

    /// The sections a class's settings come from: its own, then the defaults.
    fn class_layers(&self, class: AssetClass) -> Layers<'_> {
        let own = self
            .classes
            .get(class.as_str())
            .map(|l| (Layer::Class(class), l));
        [None, None, own, Some((Layer::Defaults, &self.default))]
    }

    /// The guards of one instrument, each setting from the most specific section that sets
    /// it: its own (a futures contract's, then its root's), its class's, then the defaults.
    /// A window list, empty (`windows = []`: at any hour) or not, is the first one set.
    pub fn instrument(&self, class: AssetClass, name: &str) -> InstrumentRisk<'_> {
        self.merged(class, &self.layers_of(class, name))
    }

    /// The guards from `layers`, each setting from the first layer that sets it.
    fn merged<'a>(&'a self, class: AssetClass, layers: &Layers<'a>) -> InstrumentRisk<'a> {
        let layers = || layers.iter().flatten().map(|(_, l)| *l);
        // A crypto-quoted product's size never comes from the defaults (they are amounts of
        // money; its quote is a crypto asset).
        let cross = class == AssetClass::CryptoCross;
        let size = layers()
            .filter(|l| !(cross && std::ptr::eq(*l, &self.default)))
            .find_map(|l| match (l.size, l.notional) {
                (Some(q), _) => Some(Size::Quantity(q)),
                (None, Some(n)) => Some(Size::Notional(n)),
                _ => None,
            });
        let pick = |f: fn(&InstrumentFile) -> Option<Decimal>| layers().find_map(f);
        let max_position = pick(|l| l.max_position).unwrap_or(self.default_max_position);
        let windows = layers()
            .find_map(|l| l.parsed_windows.as_deref())
            .unwrap_or_default();
        InstrumentRisk {
            size,
            max_position,
            max_override: pick(|l| l.max_override).unwrap_or(max_position),
            max_notional: pick(|l| l.max_notional).unwrap_or(self.max_notional),
            windows,
        }
    }

    /// Why an entry on `instrument` at `broker` cannot trade when it is a crypto-quoted
    /// product (`ETH-BTC`): [`Refusal::NoSize`] with no section of its own nor of
    /// `classes.crypto_cross`, [`Refusal::NoCrossCap`] with no `max_notional` in either;
    /// `None` otherwise, and for any other class.
    pub fn crypto_cross_refusal(
        &self,
        broker: shared::Broker,
        instrument: &str,
    ) -> Option<Refusal> {
        let class = AssetClass::of(broker, instrument);
        if class != AssetClass::CryptoCross {
            return None;
        }
        // It trades only once configured: the defaults' sizes and caps are amounts of money,
        // and even an alert's quantity is checked against them.
        let own = self.instruments.get(instrument);
        let cross = self.classes.get(class.as_str());
        if own.is_none() && cross.is_none() {
            return Some(Refusal::NoSize {
                instrument: instrument.to_owned(),
                class: class.as_str(),
            });
        }
        // Its cap must be its own: every open leg is held to it, an alert's quantity too.
        (own.and_then(|l| l.max_notional).is_none() && cross.and_then(|l| l.max_notional).is_none())
            .then(|| Refusal::NoCrossCap {
                instrument: instrument.to_owned(),
            })
    }

    /// [`Refusal::QuotedInMetal`] for an entry on `instrument` at `broker` when it is an
    /// OANDA instrument quoted in a metal (`XAU_XAG`) whose own section does not set its size
    /// and `max_notional` (a class's and the defaults' are amounts of money); `None` otherwise.
    pub fn quoted_in_metal(&self, broker: shared::Broker, instrument: &str) -> Option<Refusal> {
        let (_, quote) = instrument.split_once('_')?;
        if broker != shared::Broker::Oanda || !METALS.contains(&quote) {
            return None;
        }
        let own = self.instruments.get(instrument);
        own.is_none_or(|l| l.max_notional.is_none() || (l.size.is_none() && l.notional.is_none()))
            .then(|| Refusal::QuotedInMetal {
                instrument: instrument.to_owned(),
                quote: quote.to_owned(),
            })
    }

    /// The size to trade and the per-order notional cap, after every guard but the kill
    /// switch (checked by the caller, which reads it at run time). Exits need no size.
    pub fn check(
        &self,
        intent: &OrderIntent,
        now: DateTime<Utc>,
    ) -> Result<(Size, Decimal), Refusal> {
        let name = intent.instrument.as_str();
        let class = AssetClass::of(intent.broker, name);
        let risk = self.instrument(class, name);
        // A short entry on a spot product is a sale of what is held (spot holds no short):
        // an exit as far as the limits go.
        let is_entry = match intent.target {
            TargetPosition::Long => true,
            TargetPosition::Short => !class.is_spot(),
            TargetPosition::Flat | TargetPosition::NoLong | TargetPosition::NoShort => false,
        };
        if is_entry && let Some(refusal) = self.crypto_cross_refusal(intent.broker, name) {
            return Err(refusal);
        }
        if is_entry && let Some(refusal) = self.quoted_in_metal(intent.broker, name) {
            return Err(refusal);
        }
        if is_entry && !risk.windows.is_empty() && !risk.windows.iter().any(|w| w.contains(now)) {
            return Err(Refusal::OutsideTradingWindow {
                instrument: name.to_owned(),
                windows: risk
                    .windows
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
                class: class.as_str(),
                at: now,
            });
        }
        // No size anywhere and no section but the defaults, where the settings ask for one:
        // an alert's quantity would trade under `default_max_position` alone, a limit set in
        // other classes' units.
        // A section counts when it bounds the position itself (`max_position`, or
        // `max_override` for alerts' quantities); one that sets neither (empty, or windows
        // only) leaves `default_max_position` the limit, as no section does.
        let unconfigured = || {
            self.quantity_needs_section
                && risk.size.is_none()
                && self
                    .layers_of(class, name)
                    .iter()
                    .flatten()
                    .all(|(layer, l)| {
                        matches!(layer, Layer::Defaults)
                            || (l.max_position.is_none() && l.max_override.is_none())
                    })
        };
        let size = match intent.quantity_override {
            // An exit closes what is held whatever quantity the alert carries: no size rule
            // keeps a position open.
            Some(_) if !is_entry => Size::Quantity(Decimal::ONE),
            Some(requested) if unconfigured() => {
                return Err(Refusal::UnconfiguredQuantity {
                    instrument: name.to_owned(),
                    class: class.as_str(),
                    requested,
                    max: risk.max_position,
                });
            }
            Some(requested) if requested > risk.max_override => {
                return Err(Refusal::OverrideTooLarge {
                    instrument: name.to_owned(),
                    unit: entry_unit(class, name),
                    class: class.as_str(),
                    requested,
                    max: risk.max_override,
                });
            }
            Some(requested) => Size::Quantity(requested),
            None => match risk.size {
                Some(size) => size,
                // An exit closes what is held; it needs no size of its own.
                None if !is_entry => Size::Quantity(Decimal::ONE),
                None => {
                    return Err(Refusal::NoSize {
                        instrument: name.to_owned(),
                        class: class.as_str(),
                    });
                }
            },
        };
        if let Size::Quantity(size) = size
            && is_entry
            && size > risk.max_position
        {
            return Err(Refusal::OverMaxPosition {
                instrument: name.to_owned(),
                class: class.as_str(),
                size,
                max: risk.max_position,
            });
        }
        Ok((size, risk.max_notional))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A section under a name the broker does not use (the TradingView symbol) is refused
    /// by name; a futures root's section sizes each of its contracts, across a roll.
    #[test]
    fn sections_are_named_as_the_broker_names_instruments() {
        use shared::Broker::*;
        let risk = |toml: &str| {
            RiskConfig::from_toml(&format!("default_max_position = \"10\"\n{toml}")).unwrap()
        };
        let fx = risk("[instruments.EURUSD]\nsize = \"7\"\n");
        let err = fx.check_for(Oanda).unwrap_err();
        assert!(
            err.starts_with("instruments.EURUSD: an instrument is named BASE_QUOTE"),
            "{err}"
        );
        assert!(
            risk("[instruments.EUR_USD]\nsize = \"7\"\n")
                .check_for(Oanda)
                .is_ok()
        );
        assert!(
            risk("[instruments.BTCUSD]\nsize = \"7\"\n")
                .check_for(Coinbase)
                .is_err()
        );
        assert!(
            risk("[instruments.\"ES1!\"]\nsize = \"2\"\n")
                .check_for(Tradovate)
                .is_err()
        );
        let es = risk("[instruments.ES]\nsize = \"2\"\n[instruments.ESZ6]\nsize = \"3\"\n");
        assert!(es.check_for(Tradovate).is_ok());
        // Settings that could never trade fail before any signal.
        for tv_name in ["ESZ26", "ESZ2026"] {
            let err = RiskConfig::from_toml(&format!(
                "default_max_position = \"5\"\n[instruments.{tv_name}]\nsize = \"1\"\n"
            ))
            .unwrap()
            .check_for(Tradovate)
            .unwrap_err();
            assert!(
                err.starts_with(&format!("instruments.{tv_name}: an instrument is named a root (ES) or a contract (ESZ6: one year digit")),
                "{err}"
            );
        }
        for name in ["ES", "M2K", "6E", "E7", "ESZ6", "MNQH7"] {
            let ok = RiskConfig::from_toml(&format!(
                "default_max_position = \"5\"\n[instruments.{name}]\nsize = \"1\"\n"
            ))
            .unwrap()
            .check_for(Tradovate);
            assert_eq!(ok, Ok(()), "{name}");
        }
        let err = start_error(
            Tradovate,
            "default_max_position = \"5\"\n[instruments.NQ]\nsize = \"0.5\"\n",
        );
        assert!(
            err.starts_with("instruments.NQ.size: 0.5 is not a whole number"),
            "{err}"
        );
        let coins = RiskConfig::from_toml(
            "default_max_position = \"5\"\n[instruments.BTC-USD]\nsize = \"0.5\"\n",
        )
        .unwrap();
        assert!(
            coins.check_for(Coinbase).is_ok(),
            "fractions are fine elsewhere"
        );
        let over = RiskConfig::from_toml(
            "default_max_position = \"10000\"\n[classes.fx]\nsize = \"1000\"\nmax_position = \"500\"\n",
        )
        .unwrap();
        let err = over.check_for(Oanda).unwrap_err();
        assert!(
            err.starts_with("classes.fx: size 1000 is over its max_position 500: the entries of fx instruments that take this size and this max_position (their own sections set neither) would be refused unless their alert carries a quantity (set a smaller classes.fx.size, or a larger max_position)"),
            "{err}"
        );
        // An instrument trades under its class's max_position when it sets none.
        let under_class = RiskConfig::from_toml(
            "default_max_position = \"100\"\n[classes.fx]\nmax_position = \"100000\"\n[instruments.EUR_USD]\nsize = \"50000\"\n",
        )
        .unwrap();
        assert!(under_class.check_for(Oanda).is_ok());
        let size = |contract: &str| es.instrument(AssetClass::Futures, contract).size;
        assert_eq!(size("ESZ6"), Some(Size::Quantity(Decimal::from(3))));
        assert_eq!(
            size("ESH7"),
            Some(Size::Quantity(Decimal::from(2))),
            "the root's, after the roll"
        );
        assert_eq!(size("NQH7"), None);
    }

    /// The README's sizing example starts, and sizes what it names within their caps: a
    /// currency pair's notional in its base units, a metal's at its price.
    #[test]
    fn the_readme_sizing_example_trades_what_it_names() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("```toml\ndefault_max_position = \"10000\"\n")
            .expect("the README's sizing example")
            + "```toml\n".len();
        let end = start + readme[start..].find("```").unwrap();
        let risk = RiskConfig::from_toml(&readme[start..end]).unwrap();
        risk.check_for(shared::Broker::Oanda).unwrap();
        for (pair, price) in [("EUR_USD", "1.08"), ("USD_JPY", "150"), ("XAU_USD", "2650")] {
            let class = AssetClass::of(shared::Broker::Oanda, pair);
            let r = risk.instrument(class, pair);
            let Some(Size::Quantity(units)) = r.size else {
                panic!("{pair}: {:?}", r.size);
            };
            let close = Decimal::from_str_exact(price).unwrap();
            let notional = units * notional_price(shared::Broker::Oanda, pair, close);
            assert!(
                notional <= r.max_notional,
                "{pair}: {notional} over {}",
                r.max_notional
            );
        }
    }

    /// Both the inline settings and a file: refused, naming both, rather than one silently
    /// replacing the other (the file, valid or not, was never read).
    #[test]
    fn inline_settings_and_a_file_together_are_refused() {
        use shared::config::MapEnv;
        let both = MapEnv::new([
            (RISK_CONFIG, "default_max_position = \"10\""),
            (RISK_CONFIG_FILE, "/nonexistent/risk.toml"),
        ]);
        let shown = RiskConfig::from_env(
            &both,
            "",
            shared::Broker::Oanda,
            Some(&shared::routing::RoutingTable::embedded()),
        )
        .unwrap_err()
        .to_string();
        assert!(
            shown.contains("RISK_CONFIG is invalid: it is set together with its file form"),
            "{shown}"
        );
    }

    #[test]
    fn a_risk_setting_set_blank_is_refused_not_read_as_unset() {
        use shared::config::MapEnv;
        for name in [RISK_CONFIG, RISK_CONFIG_FILE] {
            for blank in ["", "  \n"] {
                let env = MapEnv::new([(name, blank)]);
                let shown = RiskConfig::from_env(
                    &env,
                    "default_max_position = \"10\"",
                    shared::Broker::Oanda,
                    Some(&shared::routing::RoutingTable::embedded()),
                )
                .unwrap_err()
                .to_string();
                assert_eq!(
                    shown,
                    format!(
                        "setting {name} is invalid: it is set but empty: unset it for the executor's built-in defaults, or give it the risk settings"
                    ),
                );
            }
        }
        // Unset, the built-in defaults.
        let defaults = RiskConfig::from_env(
            &MapEnv::default(),
            "default_max_position = \"10\"",
            shared::Broker::Oanda,
            Some(&shared::routing::RoutingTable::embedded()),
        )
        .unwrap();
        assert_eq!(defaults.default_max_position, Decimal::TEN);
    }

    /// A file that is not TOML (a credentials file named by mistake) is refused by line and
    /// column, never with its lines quoted.
    #[test]
    fn a_file_that_does_not_parse_is_not_quoted() {
        let shown =
            RiskConfig::from_toml("[default]\naws_secret_access_key = wJalrXUtnFEMISECRET\n")
                .unwrap_err();
        assert!(shown.starts_with("line 2, column 25: "), "{shown}");
        assert!(!shown.contains("wJalr"), "{shown}");
    }

    /// A setting that fails the check is reported under the variable it came from: the file's
    /// variable when the settings are a file.
    #[test]
    fn a_failed_check_names_the_variable_the_settings_came_from() {
        use shared::config::MapEnv;
        let over = "default_max_position = \"100\"\n[classes.fx]\nsize = \"1000\"\n";
        let path = std::env::temp_dir().join(format!("risk-check-{}.toml", std::process::id()));
        std::fs::write(&path, over).unwrap();
        let from_file = MapEnv::new([(RISK_CONFIG_FILE, path.to_str().unwrap())]);
        let err = RiskConfig::from_env(
            &from_file,
            "",
            shared::Broker::Oanda,
            Some(&shared::routing::RoutingTable::embedded()),
        )
        .unwrap_err();
        std::fs::remove_file(&path).unwrap();
        let shown = err.to_string();
        assert!(shown.contains("RISK_CONFIG_FILE"), "{shown}");
        assert!(shown.contains("classes.fx: size 1000 is over"), "{shown}");
        let inline = MapEnv::new([(RISK_CONFIG, over)]);
        let shown = RiskConfig::from_env(
            &inline,
            "",
            shared::Broker::Oanda,
            Some(&shared::routing::RoutingTable::embedded()),
        )
        .unwrap_err()
        .to_string();
        assert!(
            shown.contains("RISK_CONFIG") && !shown.contains("RISK_CONFIG_FILE"),
            "{shown}"
        );
    }

    /// A session that runs past midnight (a futures session, an FX session) holds from its
    /// opening day's start to the next day's end, in its zone.
    #[test]
    fn a_window_past_midnight_runs_into_the_next_day() {
        let w = Window::parse("Sun-Thu 17:00-16:00 America/Chicago").unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // 2026-11-24 is a Tuesday; Chicago is UTC-6 in November.
        assert!(w.contains(at("2026-11-25T02:36:00Z")), "Tuesday 20:36");
        assert!(w.contains(at("2026-11-24T15:00:00Z")), "Tuesday 09:00");
        assert!(
            !w.contains(at("2026-11-24T22:30:00Z")),
            "Tuesday 16:30, the break"
        );
        assert!(
            w.contains(at("2026-11-27T21:00:00Z")),
            "Friday 15:00, Thursday's session"
        );
        assert!(
            !w.contains(at("2026-11-28T00:00:00Z")),
            "Friday 18:00, closed"
        );
        assert!(w.contains(at("2026-11-30T00:00:00Z")), "Sunday 18:00");
        assert!(!w.contains(at("2026-11-29T21:00:00Z")), "Sunday 15:00");
        assert!(
            Window::parse("Mon 08:00-08:00")
                .unwrap_err()
                .contains("same time")
        );
    }

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
        assert_eq!(
            Window::parse("Mon 7-8").unwrap_err(),
            "\"Mon 7-8\": \"7\" is not HH:MM"
        );
        // The forms chrono reads mean what they say: lower case, full names, a one-digit hour.
        assert_eq!(
            Window::parse("monday-FRIDAY 9:30-16:00").unwrap(),
            Window::parse("Mon-Fri 09:30-16:00").unwrap()
        );
        // A pasted en dash is named, wherever it is.
        // Minutes take two digits: `7:5` could mean 07:05 or 07:50.
        assert_eq!(
            Window::parse("Mon-Fri 7:5-20:00").unwrap_err(),
            "\"Mon-Fri 7:5-20:00\": \"7:5\" is not HH:MM (the minutes take two digits: 07:05)"
        );
        for (pasted, dash) in [
            ("Mon\u{2010}Fri 07:00-20:00", '\u{2010}'),
            ("Mon\u{2011}Fri 07:00-20:00", '\u{2011}'),
            ("Mon-Fri 07:00\u{2014}20:00", '\u{2014}'),
            ("Mon-Fri 07:00\u{FF0D}20:00", '\u{FF0D}'),
            ("Mon\u{2E3A}Fri 07:00-20:00", '\u{2E3A}'),
            ("Mon-Fri 07:00\u{301C}20:00", '\u{301C}'),
            ("Mon-Fri 07:00\u{2043}20:00", '\u{2043}'),
        ] {
            assert_eq!(
                Window::parse(pasted).unwrap_err(),
                format!(
                    "{pasted:?}: write the dashes as - (a hyphen), not {dash} (Mon-Fri 07:00-20:00)"
                )
            );
        }
        for pasted in ["Mon\u{2013}Fri 07:00-20:00", "Mon-Fri 07:00\u{2013}20:00"] {
            assert_eq!(
                Window::parse(pasted).unwrap_err(),
                format!(
                    "{pasted:?}: write the dashes as - (a hyphen), not \u{2013} (Mon-Fri 07:00-20:00)"
                )
            );
        }
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

    /// Why `toml` fails the start at `broker` (panics if it passes).
    fn start_error(broker: shared::Broker, toml: &str) -> String {
        RiskConfig::from_toml(toml)
            .unwrap()
            .check_for(broker)
            .expect_err("the start should fail")
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

    /// `24:00` ends a window at the close of its day; it cannot open one.
    #[test]
    fn a_window_may_end_at_midnight() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // 2026-11-28 is a Saturday.
        let saturday = Window::parse("Sat 00:00-24:00").unwrap();
        assert!(saturday.contains(at("2026-11-28T00:00:00Z")));
        assert!(saturday.contains(at("2026-11-28T23:59:59Z")));
        assert!(!saturday.contains(at("2026-11-29T00:00:00Z")));
        assert!(!saturday.contains(at("2026-11-27T23:59:59Z")));
        let evenings = Window::parse("Mon-Fri 18:00-24:00").unwrap();
        assert!(evenings.contains(at("2026-11-30T23:30:00Z")));
        assert!(!evenings.contains(at("2026-12-01T00:30:00Z")));
        assert!(!evenings.contains(at("2026-11-30T17:59:00Z")));
        let err = Window::parse("Sat 00:00 - 24:00").unwrap_err();
        assert!(err.contains("without spaces around the dash"), "{err}");
        let err = Window::parse("Mon 24:00-06:00").unwrap_err();
        assert!(err.contains("24:00 ends a window"), "{err}");
        assert!(Window::parse("Mon 07:00-24:01").is_err());
    }

    /// A `max_override` over the `max_position` it trades under fails the start, naming the
    /// section; one inherited from the class counts against the instrument's own limit.
    #[test]
    fn a_max_override_over_the_max_position_is_refused_by_name() {
        use shared::Broker::Oanda;
        let risk = |toml: &str| {
            RiskConfig::from_toml(&format!("default_max_position = \"10000\"\n{toml}")).unwrap()
        };
        let own = risk("[instruments.EUR_USD]\nmax_position = \"5000\"\nmax_override = \"6000\"\n");
        let err = own.check_for(Oanda).unwrap_err();
        assert!(
            err.contains("instruments.EUR_USD: max_override 6000 is over the max_position 5000"),
            "{err}"
        );
        let class = risk("[classes.fx]\nmax_override = \"20000\"\n");
        let err = class.check_for(Oanda).unwrap_err();
        assert!(err.contains("classes.fx: max_override 20000"), "{err}");
        let inherited = risk(
            "[classes.fx]\nmax_override = \"8000\"\n[instruments.EUR_USD]\nmax_position = \"5000\"\n",
        );
        let err = inherited.check_for(Oanda).unwrap_err();
        assert!(
            err.contains(
                "instruments.EUR_USD: max_override 8000 (from classes.fx) is over the max_position 5000 it"
            ),
            "{err}"
        );
        let within = risk(
            "[classes.fx]\nmax_override = \"8000\"\n[instruments.EUR_USD]\nmax_position = \"8000\"\n",
        );
        assert_eq!(within.check_for(Oanda), Ok(()));
    }

    /// A size of the class over an instrument's own lower `max_position` fails the start,
    /// naming where each came from, as the entry would be refused.
    #[test]
    fn an_inherited_size_over_the_instruments_max_position_is_refused_by_name() {
        let err = start_error(
            shared::Broker::Oanda,
            "default_max_position = \"10000\"\n[classes.fx]\nsize = \"5000\"\n[instruments.EUR_USD]\nmax_position = \"1000\"\n",
        );
        assert!(
            err.starts_with(
                "instruments.EUR_USD: size 5000 (from classes.fx) is over its max_position 1000: every entry without an alert quantity would be refused"
            ),
            "{err}"
        );
    }

    /// A contract's section refines its root's: what it does not set (here `max_position`)
    /// comes from the root's, so the root's limit holds for the contract and across rolls.
    #[test]
    fn a_contracts_section_takes_what_it_does_not_set_from_its_roots() {
        use shared::Broker::Tradovate;
        let risk = RiskConfig::from_toml(
            "default_max_position = \"5\"\nmax_notional = \"5000000\"\n[instruments.ES]\nsize = \"1\"\nmax_position = \"2\"\n[instruments.ESZ6]\nmax_override = \"2\"\n",
        )
        .unwrap();
        assert_eq!(risk.check_for(Tradovate), Ok(()));
        let es = risk.instrument(AssetClass::Futures, "ESZ6");
        assert_eq!(es.max_position, Decimal::from(2));
        assert_eq!(es.size, Some(Size::Quantity(Decimal::ONE)));
        // The root's size, which the contract's section does not set.
        let entry = risk.check(
            &on(Tradovate, "ESZ6", shared::Action::LongEntry),
            "2026-12-01T15:00:00Z".parse().unwrap(),
        );
        assert_eq!(
            entry,
            Ok((Size::Quantity(Decimal::ONE), Decimal::from(5_000_000)))
        );
        // And the root's max_position, which bounds an alert's quantity when no
        // max_override is set.
        let bounded = RiskConfig::from_toml(
            "default_max_position = \"5\"\n[instruments.ES]\nsize = \"1\"\nmax_position = \"2\"\n[instruments.ESZ6]\nmax_notional = \"5000000\"\n",
        )
        .unwrap();
        let too_many = bounded
            .check(
                &OrderIntent {
                    quantity_override: Some(Decimal::from(3)),
                    ..on(Tradovate, "ESZ6", shared::Action::LongEntry)
                },
                "2026-12-01T15:00:00Z".parse().unwrap(),
            )
            .unwrap_err();
        assert_eq!(
            too_many.to_string(),
            "alert quantity 3 contracts is over the 2 contracts allowed for ESZ6 (max_override, else max_position, else default_max_position, in its executor's risk settings: RISK_CONFIG; locally TRADOVATE_RISK_CONFIG or TRADOVATE_RISK_CONFIG_FILE)"
        );
        // Windows too: the root's, unless the contract sets its own (`[]`: at any hour).
        let windowed = |contract: &str| {
            RiskConfig::from_toml(&format!(
                "default_max_position = \"5\"\n[instruments.ES]\nsize = \"1\"\nwindows = [\"Mon-Fri 13:30-20:00\"]\n[instruments.ESZ6]\n{contract}"
            ))
            .unwrap()
            .instrument(AssetClass::Futures, "ESZ6")
            .windows
            .len()
        };
        assert_eq!(windowed("max_override = \"2\"\n"), 1);
        assert_eq!(windowed("windows = []\n"), 0);
        // An override the root's limit would refuse fails the start, naming the root.
        let over = RiskConfig::from_toml(
            "default_max_position = \"5\"\n[instruments.ES]\nmax_position = \"1\"\n[instruments.ESZ6]\nmax_override = \"3\"\n",
        )
        .unwrap();
        let err = over.check_for(Tradovate).unwrap_err();
        assert!(
            err.starts_with(
                "instruments.ESZ6: max_override 3 is over the max_position 1 (from instruments.ES) it trades under"
            ),
            "{err}"
        );
    }

    /// A class's size, its own or `default_size`, over the class's `max_position` (or the
    /// default one) fails the start, naming where each came from, with no instrument section
    /// needed.
    #[test]
    fn a_class_size_over_its_max_position_is_refused_by_name() {
        let default_size = RiskConfig::from_toml(
            "default_size = \"1000\"\ndefault_max_position = \"10000\"\n[classes.metal]\nmax_position = \"10\"\n",
        )
        .unwrap();
        let err = default_size.check_for(shared::Broker::Oanda).unwrap_err();
        assert!(
            err.starts_with(
                "classes.metal: size 1000 (from default_size) is over its max_position 10:"
            ),
            "{err}"
        );
        let err = start_error(
            shared::Broker::Oanda,
            "default_max_position = \"1000\"\n[classes.fx]\nsize = \"5000\"\n",
        );
        assert!(
            err.starts_with(
                "classes.fx: size 5000 is over its max_position 1000 (from default_max_position):"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_tradovate_section_the_routing_table_never_routes_to_is_refused() {
        let table = shared::routing::RoutingTable::embedded();
        let judged = |name: &str, broker| {
            RiskConfig::from_toml(&format!(
                "default_max_position = \"5\"\n[instruments.{name}]\nsize = \"1\"\n"
            ))
            .unwrap()
            .check_contracts(broker, &table)
        };
        let tradovate = |name: &str| judged(name, shared::Broker::Tradovate);
        assert_eq!(
            tradovate("ESF7").unwrap_err(),
            "instruments.ESF7: there is no F contract of ES to route to (the embedded routing table lists ES in the months H, M, U, Z only), so no signal would ever reach this section: set instruments.ES (the root, which holds across rolls) or a contract in one of those months (ESH7)"
        );
        assert!(
            tradovate("GCH7")
                .unwrap_err()
                .contains("no H contract of GC to route to (the embedded routing table lists GC in the months G, J, M, Q, V, Z only)"),
        );
        assert!(
            tradovate("ESA7")
                .unwrap_err()
                .contains("A is not a month code (F G H J K M N Q U V X Z), and the embedded routing table lists ES in the months H, M, U, Z only, so"),
        );
        // TradingView's continuous symbol without its `!`: named, with the root's section.
        for continuous in ["ES1", "NQ2", "MES1"] {
            let err = tradovate(continuous).unwrap_err();
            assert!(
                err.contains(&format!("({continuous}!) without its `!`"))
                    && err.contains(&format!(
                        "set instruments.{} (the root",
                        continuous.trim_end_matches(char::is_numeric)
                    )),
                "{err}"
            );
        }
        // A root the table does not list, or a contract of one: never routed.
        for unlisted in ["6E", "E7", "ZZZF7", "SR3"] {
            let err = tradovate(unlisted).unwrap_err();
            assert!(
                err.starts_with(&format!(
                    "instruments.{unlisted}: the embedded routing table lists no futures root {unlisted}, nor one whose contract it is (its roots: "
                )) && err.contains("ES, ") && err.ends_with("), so no signal would ever reach this section: another root trades once its contract specification is in this build (shared/src/contract_specs.rs) and a routing table file (ROUTING_TABLE_FILE) has a section for it"),
                "{err}"
            );
        }
        // Listed roots and contracts in their months start; other brokers are not judged.
        for ok in [
            "ESZ6", "ES", "MNQH7", "M2K", "M2KH7", "CLF7", "GCJ7", "ZNH7", "MES",
        ] {
            tradovate(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        judged("EUR_USD", shared::Broker::Oanda).unwrap();
        // A table from a file is named by its file.
        let path = std::env::temp_dir().join(format!("routing-check-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            include_str!("../../shared/routing.toml")
                .replace("months = \"HMUZ\"", "months = \"FHMUZ\""),
        )
        .unwrap();
        let env = shared::config::MapEnv::new([(
            shared::routing::ROUTING_TABLE_FILE,
            path.to_str().unwrap(),
        )]);
        let from_file = shared::routing::RoutingTable::from_env(&env).unwrap();
        std::fs::remove_file(&path).unwrap();
        let risk = RiskConfig::from_toml(
            "default_max_position = \"5\"\n[instruments.ESF7]\nsize = \"1\"\n[instruments.MESF7]\nsize = \"1\"\n[instruments.CLA7]\nsize = \"1\"\n",
        )
        .unwrap();
        let err = risk
            .check_contracts(shared::Broker::Tradovate, &from_file)
            .unwrap_err();
        assert!(
            err.starts_with(&format!(
                "instruments.CLA7: A is not a month code (F G H J K M N Q U V X Z), and the routing table {} (ROUTING_TABLE_FILE) lists CL in the months F, G, H,",
                path.display()
            )),
            "{err}"
        );
        // A two-digit continuous symbol of a root ending in a digit (`M2K12`, TradingView's
        // `M2K12!`), named as such.
        let risk = RiskConfig::from_toml(
            "default_max_position = \"5\"\n[instruments.M2K12]\nsize = \"1\"\n",
        )
        .unwrap();
        let err = risk
            .check_contracts(shared::Broker::Tradovate, &from_file)
            .unwrap_err();
        assert!(
            err.contains("(M2K12!) without its `!`")
                && err.contains("set instruments.M2K (the root"),
            "{err}"
        );
    }

    #[test]
    fn a_notional_size_over_the_cap_it_trades_under_is_refused_by_name() {
        // A class's notional over the top-level cap: its own section, and the default cap
        // where the file sets none.
        let err = start_error(
            shared::Broker::Oanda,
            "default_max_position = \"1000000\"\nmax_notional = \"100000\"\n[classes.fx]\nnotional = \"150000\"\n",
        );
        assert!(
            err.contains(
                "classes.fx: notional 150000 is over its max_notional 100000 (from max_notional)"
            ),
            "{err}"
        );
        let err = start_error(
            shared::Broker::Coinbase,
            "default_max_position = \"1000000\"\n[classes.crypto]\nnotional = \"300000\"\n",
        );
        assert!(
            err.contains("classes.crypto: notional 300000 is over its max_notional 250000 (from the default cap: the file sets no max_notional):"),
            "{err}"
        );
        // An instrument's own lower cap under its class's notional: named with where each
        // value came from.
        let err = start_error(
            shared::Broker::Oanda,
            "default_max_position = \"1000000\"\n[classes.fx]\nnotional = \"200000\"\n[instruments.EUR_USD]\nmax_notional = \"50000\"\n",
        );
        assert!(
            err.contains(
                "instruments.EUR_USD: notional 200000 (from classes.fx) is over its max_notional 50000:"
            ),
            "{err}"
        );
        // A futures notional over the cap may still trade, rounded down to whole contracts
        // at the alert's price (400,000 of YM at 42,000: one contract, 210,000): it starts.
        RiskConfig::from_toml(
            "default_max_position = \"5\"\n[instruments.YM]\nnotional = \"400000\"\n",
        )
        .and_then(|r| r.check_for(shared::Broker::Tradovate))
        .unwrap();
        // A quantity size counted at price 1 (a currency pair at OANDA, a Coinbase buy) over
        // the cap: refused at any price, so at start.
        let err = start_error(
            shared::Broker::Oanda,
            "default_max_position = \"1000000\"\n[classes.fx]\nsize = \"300000\"\n",
        );
        assert!(
            err.starts_with("classes.fx: size 300000 is over its max_notional 250000 (from the default cap: the file sets no max_notional): oanda counts a size of the fx class as its notional whatever the price"),
            "{err}"
        );
        let err = start_error(
            shared::Broker::Coinbase,
            "default_max_position = \"100000\"\nmax_notional = \"1000\"\n[instruments.BTC-USD]\nsize = \"5000\"\n",
        );
        assert!(
            err.starts_with(
                "instruments.BTC-USD: size 5000 is over its max_notional 1000 (from max_notional):"
            ),
            "{err}"
        );
        // A crypto-quoted product is judged only under a cap of its own (it trades under no
        // other): without one, nothing to judge here; with one, judged.
        RiskConfig::from_toml(
            "default_max_position = \"1000000\"\n[classes.crypto_cross]\nsize = \"300000\"\n",
        )
        .and_then(|r| r.check_for(shared::Broker::Coinbase))
        .unwrap();
        let err = start_error(
            shared::Broker::Coinbase,
            "default_max_position = \"1000000\"\n[classes.crypto_cross]\nsize = \"3\"\nmax_notional = \"2\"\n",
        );
        assert!(
            err.starts_with("classes.crypto_cross: size 3 is over its max_notional 2:"),
            "{err}"
        );
        // An alert quantity allowed over the cap (max_override set as such) at price 1.
        let err = start_error(
            shared::Broker::Oanda,
            "default_max_position = \"1000000\"\n[classes.fx]\nsize = \"1000\"\nmax_override = \"500000\"\n",
        );
        assert!(
            err.starts_with("classes.fx: max_override 500000 is over its max_notional 250000 (from the default cap: the file sets no max_notional): oanda counts a size of the fx class as its notional whatever the price, so an alert quantity over 250000 would be refused all the same"),
            "{err}"
        );
        // A metal's or a futures contract's notional depends on the price: not judged.
        for (broker, toml) in [
            (
                shared::Broker::Oanda,
                "default_max_position = \"1000000\"\nmax_notional = \"1000\"\n[instruments.XAU_USD]\nsize = \"5000\"\n",
            ),
            (
                shared::Broker::Tradovate,
                "default_max_position = \"5000\"\nmax_notional = \"1000\"\n[classes.futures]\nsize = \"2000\"\n",
            ),
        ] {
            RiskConfig::from_toml(toml)
                .and_then(|r| r.check_for(broker))
                .unwrap_or_else(|e| panic!("{toml}: {e}"));
        }
        // At the cap, and under an instrument's own larger cap, the file starts.
        for ok in [
            "default_max_position = \"1000000\"\nmax_notional = \"100000\"\n[classes.fx]\nnotional = \"100000\"\n",
            "default_max_position = \"1000000\"\n[instruments.EUR_USD]\nnotional = \"400000\"\nmax_notional = \"500000\"\n",
        ] {
            RiskConfig::from_toml(ok)
                .and_then(|r| r.check_for(shared::Broker::Oanda))
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    /// `default_size` trades under each class's max_position where the class sets one, else
    /// under `default_max_position`: judged so at start, both ways.
    #[test]
    fn default_size_is_judged_under_the_max_position_it_trades_under() {
        use shared::Broker::{Oanda, Tradovate};
        let risk = |toml: &str| RiskConfig::from_toml(toml).unwrap();
        let trades = risk(
            "default_max_position = \"1\"\ndefault_size = \"2\"\n[classes.futures]\nmax_position = \"5\"\n",
        );
        assert_eq!(trades.check_for(Tradovate), Ok(()));
        let never = risk(
            "default_max_position = \"10\"\ndefault_size = \"3\"\n[classes.futures]\nmax_position = \"2\"\n",
        );
        let err = never.check_for(Tradovate).unwrap_err();
        assert!(
            err.starts_with(
                "classes.futures: size 3 (from default_size) is over its max_position 2:"
            ),
            "{err}"
        );
        let bare = risk("default_max_position = \"500\"\ndefault_size = \"1000\"\n");
        let err = bare.check_for(Oanda).unwrap_err();
        assert!(
            err.starts_with(
                "default_size (for fx instruments): size 1000 is over its max_position 500 (from default_max_position):"
            ),
            "{err}"
        );
    }

    /// A contract with no size is pointed at its root's section, which holds across rolls,
    /// and at `default_size`; a crypto-quoted product at neither (`default_size` is money).
    #[test]
    fn a_refusal_for_want_of_a_size_names_where_one_may_be_set() {
        let risk = RiskConfig::from_toml("default_max_position = \"5\"\n").unwrap();
        let refusal = risk
            .check(
                &on(
                    shared::Broker::Tradovate,
                    "MNQZ6",
                    shared::Action::LongEntry,
                ),
                "2026-12-01T15:00:00Z".parse().unwrap(),
            )
            .unwrap_err()
            .to_string();
        assert!(
            refusal.starts_with(
                "no size is configured for MNQZ6 (futures): set instruments.MNQZ6.size or .notional (or instruments.MNQ.size, which holds across rolls), or classes.futures.size, or default_size, in"
            ),
            "{refusal}"
        );
        // An OANDA name read as a CFD may be a mistyped pair (EURUSX): the symbol is
        // questioned before a size is asked for; a pair is not.
        let at = "2026-12-01T15:00:00Z".parse().unwrap();
        let typo =
            RiskConfig::from_toml("default_max_position = \"5\"\n[classes.fx]\nsize = \"1\"\n")
                .unwrap()
                .check(
                    &on(shared::Broker::Oanda, "EUR_USX", shared::Action::LongEntry),
                    at,
                )
                .unwrap_err()
                .to_string();
        assert!(
            typo.contains("EUR_USX is read as a CFD")
                && typo.contains("fix the symbol, not the size"),
            "{typo}"
        );
    }

    /// A class section of another broker's would never apply: the start says so.
    #[test]
    fn a_class_of_another_broker_is_refused_by_name() {
        let risk = RiskConfig::from_toml(
            "default_max_position = \"10\"\n[classes.futures]\nsize = \"1\"\n",
        )
        .unwrap();
        let err = risk.check_for(shared::Broker::Oanda).unwrap_err();
        assert!(
            err.starts_with(
                "classes.futures: oanda trades no futures instruments (its classes: fx, metal, cfd)"
            ),
            "{err}"
        );
        assert_eq!(risk.check_for(shared::Broker::Tradovate), Ok(()));
        // Before its values are judged: a fraction there is not Tradovate's to round.
        let err = start_error(
            shared::Broker::Tradovate,
            "default_max_position = \"5\"\n[classes.crypto]\nsize = \"0.5\"\n",
        );
        assert!(
            err.starts_with("classes.crypto: tradovate trades no crypto instruments"),
            "{err}"
        );
    }

    /// `windows = []` on an instrument means at any hour, even under a class with windows;
    /// an instrument that sets none takes its class's.
    #[test]
    fn an_empty_window_list_lifts_the_class_windows() {
        let risk = RiskConfig::from_toml(
            "default_max_position = \"10000\"\n[classes.fx]\nsize = \"1000\"\nwindows = [\"Mon-Fri 07:00-20:00\"]\n[instruments.EUR_USD]\nwindows = []\n",
        )
        .unwrap();
        assert!(
            risk.instrument(AssetClass::Fx, "EUR_USD")
                .windows
                .is_empty()
        );
        assert_eq!(risk.instrument(AssetClass::Fx, "GBP_USD").windows.len(), 1);
        let saturday: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
        let entry =
            |instrument: &str| on(shared::Broker::Oanda, instrument, shared::Action::LongEntry);
        assert!(risk.check(&entry("EUR_USD"), saturday).is_ok());
        assert!(matches!(
            risk.check(&entry("GBP_USD"), saturday),
            Err(Refusal::OutsideTradingWindow { .. })
        ));
    }

    #[test]
    fn a_zoned_window_follows_daylight_saving() {
        let w = Window::parse("Mon-Fri 08:30-15:00 America/Chicago").unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // Winter (CST, UTC-6): 08:30 Chicago is 14:30 UTC.
        assert!(!w.contains(at("2026-11-23T14:00:00Z")));
        assert!(w.contains(at("2026-11-23T14:30:00Z")));
        // Summer (CDT, UTC-5): 08:30 Chicago is 13:30 UTC.
        assert!(w.contains(at("2026-07-13T13:30:00Z")));
        assert!(!w.contains(at("2026-07-13T20:30:00Z")));
        // The same UTC hour is in the window in summer and not in winter.
        assert!(w.contains(at("2026-07-13T14:00:00Z")) && !w.contains(at("2026-11-23T14:00:00Z")));
        // The weekday is the zone's: Monday 02:00 UTC is still Sunday in Chicago.
        let sunday_evening = Window::parse("Sun 17:00-23:59 America/Chicago").unwrap();
        assert!(sunday_evening.contains(at("2026-11-23T02:00:00Z")));
        assert!(
            Window::parse("Mon 08:00-09:00 Mars/Olympus")
                .unwrap_err()
                .contains("IANA")
        );
    }

    #[test]
    fn windows_refuse_entries_but_let_exits_through() {
        let risk = RiskConfig::from_toml(CFG).unwrap();
        let saturday: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
        let monday: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().unwrap();
        use shared::Action::*;
        let refused = risk.check(&intent(LongEntry, None), saturday).unwrap_err();
        assert!(
            matches!(refused, Refusal::OutsideTradingWindow { .. }),
            "{refused}"
        );
        // The refusal names the windows, as written in the settings.
        assert!(
            refused.to_string().contains(
                "outside its trading windows (Mon-Fri 07:00-20:00) at 2026-11-28 12:00:00 UTC"
            ),
            "{refused}"
        );
        for exit in [LongExit, ShortExit, Flatten] {
            assert!(risk.check(&intent(exit, None), saturday).is_ok(), "{exit}");
            // Nor does an alert's quantity over `max_override` hold an exit back.
            let quantity = Some(Decimal::from(100_000));
            assert!(
                risk.check(&intent(exit, quantity), monday).is_ok(),
                "{exit}"
            );
        }
        assert_eq!(
            risk.check(&intent(ShortEntry, None), monday),
            Ok((Size::Quantity(Decimal::from(1000)), DEFAULT_MAX_NOTIONAL))
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
        assert_eq!(
            ok,
            Ok((Size::Quantity(Decimal::from(2000)), DEFAULT_MAX_NOTIONAL))
        );
        let gbp = risk.instrument(AssetClass::Fx, "GBP_USD");
        assert_eq!(gbp.size, Some(Size::Quantity(Decimal::ONE)));
        assert_eq!(gbp.max_position, Decimal::from(3));
    }

    fn on(broker: shared::Broker, instrument: &str, action: shared::Action) -> OrderIntent {
        OrderIntent {
            broker,
            instrument: shared::Instrument::new(instrument),
            ..intent(action, None)
        }
    }

    /// A spot short entry sells what is held: no window, `max_override` or size holds it
    /// back, as none holds an exit back; a spot long entry is still an entry.
    #[test]
    fn a_spot_sale_is_held_back_by_no_entry_limit() {
        let risk = RiskConfig::from_toml(
            r#"
default_max_position = "1000"
[classes.crypto]
notional = "100"
max_override = "500"
windows = ["Mon-Fri 07:00-20:00"]
"#,
        )
        .unwrap();
        let saturday: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
        let sale = OrderIntent {
            quantity_override: Some(Decimal::from(5000)),
            ..on(
                shared::Broker::Coinbase,
                "BTC-USD",
                shared::Action::ShortEntry,
            )
        };
        assert!(risk.check(&sale, saturday).is_ok());
        let buy = on(
            shared::Broker::Coinbase,
            "BTC-USD",
            shared::Action::LongEntry,
        );
        assert!(matches!(
            risk.check(&buy, saturday),
            Err(Refusal::OutsideTradingWindow { .. })
        ));
    }

    #[test]
    fn sizes_come_from_the_instrument_then_its_class_and_a_metal_without_one_is_refused() {
        let risk = RiskConfig::from_toml(
            r#"
default_max_position = "100000"
max_notional = "50000"
[classes.fx]
size = "1000"
[instruments.SPX500_USD]
notional = "5000"
max_notional = "20000"
"#,
        )
        .unwrap();
        let monday: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().unwrap();
        use shared::Action::*;
        use shared::Broker::Oanda;
        assert_eq!(
            risk.check(&on(Oanda, "GBP_USD", LongEntry), monday),
            Ok((Size::Quantity(Decimal::from(1000)), Decimal::from(50_000)))
        );
        assert_eq!(
            risk.check(&on(Oanda, "SPX500_USD", LongEntry), monday),
            Ok((Size::Notional(Decimal::from(5000)), Decimal::from(20_000)))
        );
        let gold = risk.check(&on(Oanda, "XAU_USD", LongEntry), monday);
        assert!(
            matches!(&gold, Err(Refusal::NoSize { class: "metal", .. })),
            "{gold:?}"
        );
        assert!(gold.unwrap_err().to_string().contains("XAU_USD"));
        // Exits close what is held: no size needed.
        assert!(risk.check(&on(Oanda, "XAU_USD", Flatten), monday).is_ok());
    }

    /// "No size: refused until configured" holds for an alert's quantity too under OANDA's
    /// shipped defaults (`quantity_needs_section = true`): an instrument with no size and no
    /// section of its own or of its class (gold) would otherwise trade it under
    /// `default_max_position` alone, a limit in currency units. A section of its own or of
    /// its class, a size or a `max_position`, takes it; a file without the key takes
    /// quantities within `default_max_position`, as it says.
    #[test]
    fn an_unconfigured_instrument_takes_no_alert_quantity() {
        use shared::Action::*;
        use shared::Broker::Oanda;
        // OANDA's defaults (`executor_oanda::config::DEFAULT_RISK`).
        let defaults = RiskConfig::from_toml(
            "default_max_position = \"10000\"\nquantity_needs_section = true\n\
             [classes.fx]\nsize = \"1000\"\n",
        )
        .unwrap();
        let monday: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().unwrap();
        let with = |instrument: &str, quantity: i64| OrderIntent {
            quantity_override: Some(Decimal::from(quantity)),
            ..on(Oanda, instrument, LongEntry)
        };
        for instrument in ["XAU_USD", "SPX500_USD"] {
            let err = defaults.check(&with(instrument, 94), monday).unwrap_err();
            assert!(
                matches!(err, Refusal::UnconfiguredQuantity { .. }),
                "{instrument}: {err:?}"
            );
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("{instrument} (")) && text.contains("quantity 94"),
                "{text}"
            );
            // A CFD may be a mistyped symbol: said, as for an entry with no quantity.
            assert_eq!(
                text.contains("the alert's symbol is wrong"),
                instrument == "SPX500_USD",
                "{text}"
            );
        }
        // A currency pair has its class's section: its alert's quantity trades.
        assert_eq!(
            defaults.check(&with("EUR_USD", 5000), monday),
            Ok((Size::Quantity(Decimal::from(5000)), DEFAULT_MAX_NOTIONAL))
        );
        // Exits need nothing.
        let exit = OrderIntent {
            quantity_override: Some(Decimal::from(94)),
            ..on(Oanda, "XAU_USD", LongExit)
        };
        assert!(defaults.check(&exit, monday).is_ok());
        // A class section with only a max_position takes quantities up to it; an entry
        // without a quantity is still refused for want of a size.
        // A risk file of the trader's own without the key: `default_max_position` is their
        // choice for every instrument, and an alert's quantity trades within it.
        let own_file = RiskConfig::from_toml("default_max_position = \"3\"\n").unwrap();
        assert!(own_file.check(&with("XAU_USD", 3), monday).is_ok());
        assert!(matches!(
            own_file.check(&with("XAU_USD", 4), monday),
            Err(Refusal::OverrideTooLarge { .. })
        ));
        let metal = RiskConfig::from_toml(
            "default_max_position = \"10000\"\nquantity_needs_section = true\n\
             [classes.metal]\nmax_position = \"5\"\n",
        )
        .unwrap();
        assert!(metal.check(&with("XAU_USD", 5), monday).is_ok());
        assert!(matches!(
            metal.check(&with("XAU_USD", 6), monday),
            Err(Refusal::OverrideTooLarge { .. })
        ));
        assert!(matches!(
            metal.check(&on(Oanda, "XAU_USD", LongEntry), monday),
            Err(Refusal::NoSize { .. })
        ));
        // A section that bounds nothing (empty, or windows only) does not.
        let empty = RiskConfig::from_toml(
            "default_max_position = \"3\"\nquantity_needs_section = true\n\
             [classes.metal]\n[instruments.SPX500_USD]\nwindows = []\n",
        )
        .unwrap();
        for instrument in ["XAU_USD", "SPX500_USD"] {
            assert!(
                matches!(
                    empty.check(&with(instrument, 2), monday),
                    Err(Refusal::UnconfiguredQuantity { .. })
                ),
                "{instrument}"
            );
        }
        // An instrument's own section does too.
        let own = RiskConfig::from_toml(
            "default_max_position = \"10000\"\nquantity_needs_section = true\n\
             [instruments.XAU_USD]\nmax_position = \"2\"\n",
        )
        .unwrap();
        assert!(own.check(&with("XAU_USD", 2), monday).is_ok());
    }

    #[test]
    fn asset_classes_follow_the_instrument_names() {
        use shared::Broker::*;
        assert_eq!(AssetClass::of(Oanda, "EUR_USD"), AssetClass::Fx);
        assert_eq!(AssetClass::of(Oanda, "USD_THB"), AssetClass::Fx);
        assert_eq!(AssetClass::of(Oanda, "XAU_USD"), AssetClass::Metal);
        assert_eq!(AssetClass::of(Oanda, "SPX500_USD"), AssetClass::Cfd);
        assert_eq!(AssetClass::of(Oanda, "BCO_USD"), AssetClass::Cfd);
        assert_eq!(AssetClass::of(Tradovate, "ESZ6"), AssetClass::Futures);
        assert_eq!(AssetClass::of(Coinbase, "BTC-USD"), AssetClass::Crypto);
        assert_eq!(AssetClass::of(Coinbase, "ETH-USDC"), AssetClass::Crypto);
        assert_eq!(AssetClass::of(Coinbase, "ETH-BTC"), AssetClass::CryptoCross);
        assert_eq!(
            AssetClass::of(Coinbase, "DOGE-ETH"),
            AssetClass::CryptoCross
        );
    }

    /// Coinbase's default buys 100 of the quote currency: 100 USD of BTC-USD, but 100 BTC of
    /// ETH-BTC (millions of dollars). A product quoted in another crypto asset gets no default
    /// size: its entry is refused until configured; selling what is held needs none.
    #[test]
    fn a_crypto_quoted_product_has_no_default_size() {
        use shared::Action::*;
        use shared::Broker::Coinbase;
        let risk = RiskConfig::from_toml(
            "default_max_position = \"1000\"\n[classes.crypto]\nsize = \"100\"\n",
        )
        .unwrap();
        let now: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().unwrap();
        let on = |instrument: &str, action| on(Coinbase, instrument, action);
        assert_eq!(
            risk.check(&on("BTC-USD", LongEntry), now).unwrap().0,
            Size::Quantity(Decimal::from(100))
        );
        let err = risk.check(&on("ETH-BTC", LongEntry), now).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no size is configured for ETH-BTC (crypto_cross): set instruments.ETH-BTC.size or .notional, or classes.crypto_cross.size, in its executor's risk settings (RISK_CONFIG; locally COINBASE_RISK_CONFIG or COINBASE_RISK_CONFIG_FILE)"
        );
        assert!(risk.check(&on("ETH-BTC", ShortEntry), now).is_ok());
        // Nor do the defaults let an alert's quantity (meant as dollars?) through, nor
        // `default_size`.
        let quantity = OrderIntent {
            quantity_override: Some(Decimal::from(50)),
            ..on("ETH-BTC", LongEntry)
        };
        assert!(matches!(
            risk.check(&quantity, now),
            Err(Refusal::NoSize { .. })
        ));
        let default_size =
            RiskConfig::from_toml("default_size = \"100\"\ndefault_max_position = \"1000\"\n")
                .unwrap();
        assert!(matches!(
            default_size.check(&on("ETH-BTC", LongEntry), now),
            Err(Refusal::NoSize { .. })
        ));
        // Sized but with no cap of its own: the default cap is money, not BTC.
        let sized = RiskConfig::from_toml(
            "default_max_position = \"1000\"\n[classes.crypto_cross]\nsize = \"0.01\"\n",
        )
        .unwrap();
        assert!(matches!(
            sized.check(&on("ETH-BTC", LongEntry), now),
            Err(Refusal::NoCrossCap { .. })
        ));
        let capped = RiskConfig::from_toml(
            "default_max_position = \"1000\"\n[classes.crypto_cross]\nsize = \"0.01\"\nmax_notional = \"0.05\"\n",
        )
        .unwrap();
        assert_eq!(
            capped.check(&on("ETH-BTC", LongEntry), now).unwrap(),
            (Size::Quantity(Decimal::new(1, 2)), Decimal::new(5, 2))
        );
    }

    /// An OANDA instrument quoted in a metal (XAU_XAG, its price in ounces of silver) takes
    /// no size or cap of its class or the defaults (amounts of money): refused until its own
    /// section sets both, then sized and capped by them.
    #[test]
    fn an_instrument_quoted_in_a_metal_trades_only_on_its_own_size_and_cap() {
        use shared::Action::{LongEntry, LongExit};
        use shared::Broker::Oanda;
        let now: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().unwrap();
        let class_only = RiskConfig::from_toml(
            "default_max_position = \"10000\"\n[classes.metal]\nnotional = \"20000\"\nmax_notional = \"100000\"\n",
        )
        .unwrap();
        let err = class_only
            .check(&on(Oanda, "XAU_XAG", LongEntry), now)
            .unwrap_err();
        assert!(
            matches!(err, Refusal::QuotedInMetal { .. })
                && err.to_string().contains("ounces of XAG")
                && err.to_string().contains("instruments.XAU_XAG.size"),
            "{err}"
        );
        // The class still sizes gold quoted in dollars; an exit needs no size.
        assert!(
            class_only
                .check(&on(Oanda, "XAU_USD", LongEntry), now)
                .is_ok()
        );
        assert!(
            class_only
                .check(&on(Oanda, "XAU_XAG", LongExit), now)
                .is_ok()
        );
        let sized_only = RiskConfig::from_toml(
            "default_max_position = \"10000\"\n[instruments.XAU_XAG]\nsize = \"2\"\n",
        )
        .unwrap();
        assert!(matches!(
            sized_only.check(&on(Oanda, "XAU_XAG", LongEntry), now),
            Err(Refusal::QuotedInMetal { .. })
        ));
        let own = RiskConfig::from_toml(
            "default_max_position = \"10000\"\n[instruments.XAU_XAG]\nsize = \"2\"\nmax_notional = \"200\"\n",
        )
        .unwrap();
        assert_eq!(
            own.check(&on(Oanda, "XAU_XAG", LongEntry), now).unwrap(),
            (Size::Quantity(Decimal::from(2)), Decimal::from(200))
        );
    }

    #[test]
    fn a_file_without_default_max_position_says_it_is_required() {
        let err = RiskConfig::from_toml("[instruments.XAU_USD]\nsize = \"5\"\n").unwrap_err();
        assert!(err.starts_with("default_max_position is required"), "{err}");
    }

    #[test]
    fn a_file_key_below_a_section_says_where_it_goes() {
        let text = "default_max_position = \"10\"\n[instruments.XAU_USD]\nsize = \"5\"\n\
                    quantity_needs_section = true\n";
        let err = RiskConfig::from_toml(text).unwrap_err();
        assert!(err.starts_with("line 4, column 1: unknown field"), "{err}");
        assert!(
            err.ends_with(
                "quantity_needs_section is a key of the whole file: write it at the top, \
                 before any [section]"
            ),
            "{err}"
        );
        // A section's own key that is misspelt gets TOML's message alone.
        let err = RiskConfig::from_toml("default_max_position = \"1\"\n[classes.fx]\nsiz = \"1\"")
            .unwrap_err();
        assert!(err.contains("unknown field `siz`"), "{err}");
        assert!(!err.contains("key of the whole file"), "{err}");
    }

    #[test]
    fn the_notional_cap_cannot_be_switched_off() {
        let err = RiskConfig::from_toml("default_max_position = \"1\"\nmax_notional = \"0\"")
            .unwrap_err();
        assert!(err.contains("max_notional"), "{err}");
        let err =
            RiskConfig::from_toml("default_max_position = \"1\"\n[classes.bonds]\nsize = \"1\"")
                .unwrap_err();
        assert!(err.contains("classes.bonds"), "{err}");
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

    /// A fractional top-level size at Tradovate is named by its own key.
    #[test]
    fn a_fractional_default_size_at_tradovate_is_named_by_its_key() {
        let err = start_error(
            shared::Broker::Tradovate,
            "default_size = \"1.5\"\ndefault_max_position = \"5\"",
        );
        assert!(
            err.starts_with("default_size: 1.5 is not a whole number"),
            "{err}"
        );
        let err = start_error(
            shared::Broker::Tradovate,
            "default_size = \"1\"\ndefault_max_position = \"5\"\n[instruments.ES]\nsize = \"0.5\"",
        );
        assert!(err.starts_with("instruments.ES.size: 0.5"), "{err}");
    }
}
