//! The routing table: exchange + symbol → broker + instrument.
//!
//! The table is data (`routing.toml`, embedded; replaceable with `ROUTING_TABLE_FILE`), so
//! adding a pair, a product or a roll rule is a config change. Routing is a pure function of
//! the table, the alert's exchange and symbol, and the time it is given.

use crate::config::{ConfigError, Env};
use crate::error::{AlertError, echo};
use crate::front_month::Fronts;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A broker the pipeline trades at; each has its own queue and executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Broker {
    /// OANDA (v20 REST API): forex and CFD pairs such as `EUR_USD`, sized in units.
    Oanda,
    /// Tradovate: CME, CBOT, NYMEX and COMEX futures such as `ESZ6`, sized in whole contracts.
    Tradovate,
    /// Coinbase Advanced Trade: spot crypto products such as `BTC-USD`; long or flat only.
    Coinbase,
}

impl Broker {
    /// Every broker, in declaration order.
    pub const ALL: [Broker; 3] = [Self::Oanda, Self::Tradovate, Self::Coinbase];

    /// The broker's lower-case name (`oanda`, `tradovate`, `coinbase`), as serialized, in
    /// the routing table and in its queue's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oanda => "oanda",
            Self::Tradovate => "tradovate",
            Self::Coinbase => "coinbase",
        }
    }
}

impl fmt::Display for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A broker's own name for what it trades: `EUR_USD`, `BTC-USD`, `ESZ6`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Instrument(String);

impl Instrument {
    /// Wraps a broker's instrument name as given; nothing is checked.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The name as the broker spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The base and quote currencies of a Coinbase product id, split at its first `-`:
/// `BTC-USD` → `("BTC", "USD")`, `ETH-BTC` → `("ETH", "BTC")`. Coinbase names a spot product
/// `BASE-QUOTE` and gives the two halves beside it as `base_currency_id` and
/// `quote_currency_id` (Advanced Trade API, Get Product,
/// <https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/products/get-product>);
/// code that holds a product's details prefers those fields. `None` when the id has no `-` or
/// either half is empty.
pub fn coinbase_currencies(product_id: &str) -> Option<(&str, &str)> {
    product_id
        .split_once('-')
        .filter(|(base, quote)| !base.is_empty() && !quote.is_empty())
}

impl fmt::Display for Instrument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a continuous futures symbol became a contract; logged and journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractResolution {
    /// The continuous symbol the alert named, trimmed and upper-cased (`ES1!`).
    pub requested: String,
    /// The contract it resolved to, in Tradovate's form: root, month code, one year digit
    /// (`ESZ6`).
    pub contract: String,
    /// Plain-English account of what picked the contract: the root's roll rule, or the
    /// market-data volume leader and its time.
    pub rule: String,
    /// What the executor does when the account still holds the root's earlier contract.
    #[serde(default)]
    pub on_roll: RollPolicy,
}

/// What to do with a position in a root's earlier contract when a continuous symbol has
/// rolled to a new one (`on_roll` per root in the routing table).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollPolicy {
    /// Close the earlier contract as a leg of its own, then act on the new one, so the
    /// account's net exposure in the root is the signal's target.
    #[default]
    Close,
    /// Touch nothing: refuse the signal and alarm, naming the contract still held.
    Refuse,
}

/// Where one alert goes, as [`RoutingTable::route`] decides; the router turns it into an
/// [`OrderIntent`](crate::message::OrderIntent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The broker whose executor trades it.
    pub broker: Broker,
    /// What to trade, in the broker's naming (`EUR_USD`, `ESZ6`, `BTC-USD`).
    pub instrument: Instrument,
    /// How a continuous futures symbol (`ES1!`) resolved; `None` for any other symbol.
    pub resolution: Option<ContractResolution>,
    /// A market-data front month that differed from the table's roll rule (or could not be
    /// used): what each said. Logged and counted by the router.
    pub disagreement: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    delayed_suffixes: Vec<String>,
    exchanges: BTreeMap<String, Broker>,
    oanda: PairRules,
    coinbase: PairRules,
    #[serde(default)]
    futures: BTreeMap<String, RootFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PairRules {
    quote_currencies: Vec<String>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RootFile {
    months: String,
    roll_day: u32,
    roll_months_before: u32,
    /// The last trading day of a contract, as a day of the month `last_day_months_before`
    /// months before its own month (CL: about day 20 of the month before). Unset: an explicit
    /// contract counts as expired from its roll date on, which is earlier and so safe.
    last_day: Option<u32>,
    #[serde(default)]
    last_day_months_before: u32,
    #[serde(default)]
    on_roll: RollPolicy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FuturesRoot {
    /// Contract months, 1..=12, ascending.
    months: Vec<u32>,
    roll_day: u32,
    roll_months_before: u32,
    /// (day, months before the contract month) of the last trading day, if configured.
    last_day: Option<(u32, u32)>,
    on_roll: RollPolicy,
}

const MONTH_CODES: [char; 12] = ['F', 'G', 'H', 'J', 'K', 'M', 'N', 'Q', 'U', 'V', 'X', 'Z'];

fn month_code(month: u32) -> char {
    MONTH_CODES[(month - 1) as usize]
}

fn month_of_code(code: char) -> Option<u32> {
    MONTH_CODES
        .iter()
        .position(|&c| c == code)
        .map(|i| i as u32 + 1)
}

/// The parsed routing table: exchange to broker, the OANDA and Coinbase pair-naming rules,
/// and each futures root's contract months and roll rule. Built by [`Self::embedded`],
/// [`Self::from_env`] or [`Self::from_toml`].
#[derive(Debug, Clone)]
pub struct RoutingTable {
    delayed_suffixes: Vec<String>,
    exchanges: BTreeMap<String, Broker>,
    oanda: PairRules,
    coinbase: PairRules,
    futures: BTreeMap<String, FuturesRoot>,
    /// Where the table came from, as messages name it: "the embedded routing table", or
    /// "the routing table <path> (ROUTING_TABLE_FILE)".
    source: String,
}

/// Why a routing table file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("routing table: {0}")]
pub struct RoutingTableError(String);

const EMBEDDED: &str = include_str!("../routing.toml");

/// The setting that points at a replacement routing table.
pub const ROUTING_TABLE_FILE: &str = "ROUTING_TABLE_FILE";

impl RoutingTable {
    /// The exchange names (as TradingView's `{{exchange}}` gives them) this table sends to
    /// `broker`, in name order.
    pub fn exchanges_of(&self, broker: Broker) -> Vec<&str> {
        self.exchanges
            .iter()
            .filter(|(_, b)| **b == broker)
            .map(|(e, _)| e.as_str())
            .collect()
    }

    /// A futures root's contract months as this table lists them, by their codes in
    /// calendar order (`ES` → `"HMUZ"`); `None` for a root the table does not have. The
    /// router refuses a contract of any other month (`ESF7`), and rolls only through these.
    pub fn contract_months(&self, root: &str) -> Option<String> {
        self.futures
            .get(root)
            .map(|r| r.months.iter().map(|&m| month_code(m)).collect())
    }

    /// The table shipped in the binary.
    pub fn embedded() -> Self {
        // The embedded table is checked by a unit test; failing here would be a build defect.
        let mut table =
            Self::from_toml(EMBEDDED).unwrap_or_else(|e| panic!("embedded routing.toml: {e}"));
        table.source = "the embedded routing table".to_owned();
        table
    }

    /// The embedded table, or the file named by `ROUTING_TABLE_FILE`. Set but blank is
    /// refused, not read as unset: somebody meant to name a file.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            name: ROUTING_TABLE_FILE.to_owned(),
            reason,
        };
        if env
            .get(ROUTING_TABLE_FILE)
            .is_some_and(|v| v.trim().is_empty())
        {
            return Err(invalid(
                "it is set but empty: unset it for the embedded table, or name a file".into(),
            ));
        }
        let Some(path) = env.optional(ROUTING_TABLE_FILE) else {
            return Ok(Self::embedded());
        };
        let text = std::fs::read_to_string(&path).map_err(|e| invalid(format!("{path}: {e}")))?;
        let mut table = Self::from_toml(&text).map_err(|e| invalid(format!("{path}: {e}")))?;
        table.source = format!("the routing table {path} ({ROUTING_TABLE_FILE})");
        Ok(table)
    }

    /// Parses a table in `routing.toml`'s format; names are upper-cased. Fails with
    /// [`RoutingTableError`] on invalid TOML, a missing or unknown key, two keys of a
    /// section that differ only in case, an alias whose instrument is not in its broker's
    /// form (`BASE_QUOTE` at OANDA, `BASE-QUOTE` at Coinbase, upper case), a futures root
    /// [`crate::contract_specs`] has no point value for, or a futures root with a bad month
    /// code, no months, `roll_day` outside 1..=28, `roll_months_before`
    /// over 11, `last_day` outside 1..=31 or `last_day_months_before` over 11.
    pub fn from_toml(text: &str) -> Result<Self, RoutingTableError> {
        let file: TableFile = toml::from_str(text)
            .map_err(|e| RoutingTableError(crate::config::toml_error(text, &e)))?;
        // Names are upper-cased, so two keys that differ only in case would be one entry,
        // whichever sorts last: refused instead.
        fn upper_keys<V>(
            section: &str,
            m: BTreeMap<String, V>,
        ) -> Result<BTreeMap<String, V>, RoutingTableError> {
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let upper = k.to_ascii_uppercase();
                if out.insert(upper.clone(), v).is_some() {
                    return Err(RoutingTableError(format!(
                        "{section}.{k}: given twice (names are upper-cased, and another key of \
                         {section} is also {upper})"
                    )));
                }
            }
            Ok(out)
        }
        // An alias goes to the broker as written, so it must be an instrument in the
        // broker's own form: checked here, where a mistake is refused before any alert is
        // accepted, not by the broker after the webhook answered 200.
        let pair_rules = |name: &str, sep: char, example: &str, mut r: PairRules| {
            r.quote_currencies = r
                .quote_currencies
                .iter()
                .map(|q| q.to_ascii_uppercase())
                .collect();
            // Longest first, so USDT wins over USD.
            r.quote_currencies
                .sort_by_key(|q| std::cmp::Reverse(q.len()));
            for (alias, instrument) in &r.aliases {
                let part = |p: &str| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                };
                if !instrument
                    .split_once(sep)
                    .is_some_and(|(base, quote)| part(base) && part(quote))
                {
                    return Err(RoutingTableError(format!(
                        "{name}.aliases.{alias}: \"{instrument}\" is not an instrument in \
                         {name}'s form: BASE{sep}QUOTE, upper-case letters and digits (e.g. \
                         \"{example}\")"
                    )));
                }
            }
            r.aliases = upper_keys(&format!("{name}.aliases"), r.aliases)?;
            Ok::<_, RoutingTableError>(r)
        };
        let mut futures = BTreeMap::new();
        for (root, spec) in file.futures {
            // A root without a point value could never trade: the executors' notional cap
            // counts an unknown root at 1,000,000 USD a point and refuses its orders, and the
            // report could not value its fills. Refused here, where the table is read.
            if !crate::contract_specs::known_roots().any(|r| r.eq_ignore_ascii_case(&root)) {
                let known: Vec<&str> = crate::contract_specs::known_roots().collect();
                return Err(RoutingTableError(format!(
                    "futures.{root}: no point value or tick size is known for {root}, so its \
                     orders could never be sized or capped (known roots: {}); a root is added \
                     with its exchange's contract specification in shared/src/contract_specs.rs",
                    known.join(", ")
                )));
            }
            let mut months = Vec::new();
            for code in spec.months.chars() {
                let m = month_of_code(code).ok_or_else(|| {
                    RoutingTableError(format!("futures.{root}.months: {code:?} is not a month code (F G H J K M N Q U V X Z)"))
                })?;
                months.push(m);
            }
            months.sort_unstable();
            months.dedup();
            if months.is_empty() {
                return Err(RoutingTableError(format!("futures.{root}.months is empty")));
            }
            if !(1..=28).contains(&spec.roll_day) {
                return Err(RoutingTableError(format!(
                    "futures.{root}.roll_day must be 1..=28, got {}",
                    spec.roll_day
                )));
            }
            if spec.roll_months_before > 11 {
                return Err(RoutingTableError(format!(
                    "futures.{root}.roll_months_before must be 0..=11, got {}",
                    spec.roll_months_before
                )));
            }
            if spec.last_day.is_some_and(|d| !(1..=31).contains(&d))
                || spec.last_day_months_before > 11
            {
                return Err(RoutingTableError(format!(
                    "futures.{root}.last_day must be 1..=31 and last_day_months_before 0..=11"
                )));
            }
            let rule = FuturesRoot {
                months,
                roll_day: spec.roll_day,
                roll_months_before: spec.roll_months_before,
                last_day: spec.last_day.map(|d| (d, spec.last_day_months_before)),
                on_roll: spec.on_roll,
            };
            // A contract's last trading day ending before its roll date: between the two the
            // continuous symbol would still name a contract that no longer trades. Judged on
            // the instants, for each listed month of a common and a leap year (a last day of
            // 31 is a shorter month's last; one ending at the roll's midnight leaves no gap).
            if let Some(day) = spec.last_day {
                let before = [2027, 2028].into_iter().find_map(|year| {
                    rule.months.iter().find_map(|&month| {
                        let roll = rule.roll_date(year, month)?;
                        (rule.last_trading(year, month).0 < roll)
                            .then(|| format!("{root}{}{}", month_code(month), year % 10))
                    })
                });
                if let Some(contract) = before {
                    return Err(RoutingTableError(format!(
                        "futures.{root}.last_day {day} (last_day_months_before {}) comes before \
                         its roll date (roll_day {}, roll_months_before {}; {contract}, for \
                         one): {root}1! would name a contract past its last trading day; set \
                         roll_day and roll_months_before to roll on or before the last trading \
                         day",
                        spec.last_day_months_before, spec.roll_day, spec.roll_months_before
                    )));
                }
            }
            if futures.insert(root.to_ascii_uppercase(), rule).is_some() {
                return Err(RoutingTableError(format!(
                    "futures.{root}: given twice (roots are upper-cased, and another root is \
                     also {})",
                    root.to_ascii_uppercase()
                )));
            }
        }
        Ok(Self {
            delayed_suffixes: file
                .delayed_suffixes
                .iter()
                .map(|s| s.to_ascii_uppercase())
                .collect(),
            exchanges: upper_keys("exchanges", file.exchanges)?,
            oanda: pair_rules("oanda", '_', "NAS100_USD", file.oanda)?,
            coinbase: pair_rules("coinbase", '-', "BTC-USD", file.coinbase)?,
            futures,
            source: "the routing table".to_owned(),
        })
    }

    /// Where the table came from, as messages name it: "the embedded routing table", "the
    /// routing table <path> (ROUTING_TABLE_FILE)", or "the routing table" for one parsed
    /// from text ([`Self::from_toml`]).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The futures roots the table lists, in name order (`CL`, `ES`, ...).
    pub fn futures_roots(&self) -> impl Iterator<Item = &str> {
        self.futures.keys().map(String::as_str)
    }

    /// Routes an alert's exchange and symbol; `now` picks the front futures contract.
    pub fn route(
        &self,
        exchange: &str,
        symbol: &str,
        now: DateTime<Utc>,
    ) -> Result<Route, AlertError> {
        self.route_with(exchange, symbol, now, &Fronts::new())
    }

    /// [`Self::route`], with front months from market data (`fronts`, by root): `ROOT1!`
    /// resolves to the root's leading contract where one is known, is a listed month of the
    /// root and has not expired; otherwise to the roll rule's. Every difference between the
    /// two is reported in [`Route::disagreement`].
    pub fn route_with(
        &self,
        exchange: &str,
        symbol: &str,
        now: DateTime<Utc>,
        fronts: &Fronts,
    ) -> Result<Route, AlertError> {
        self.route_for(exchange, symbol, now, fronts, Use::Open)
    }

    /// An alert's `exchange` as the table matches it: trimmed, upper-cased, its delayed-data
    /// suffix (`_DL`, `_DLY`) removed (`nymex_dl` → `NYMEX`).
    pub fn venue_of(&self, exchange: &str) -> String {
        let upper = exchange.trim().to_ascii_uppercase();
        match self
            .delayed_suffixes
            .iter()
            .find_map(|s| upper.strip_suffix(s.as_str()))
        {
            Some(venue) => venue.to_owned(),
            None => upper,
        }
    }

    /// [`Self::route_with`] for an alert whose action is `use_`: where the table gives a root
    /// no last trading day, an explicit contract past its roll date is refused to an entry
    /// ([`Use::Open`]) but still routes for an exit or `FLATTEN` ([`Use::CloseOnly`]) until
    /// its contract month ends (a future's last trading day is never later), so a position
    /// held in it can be closed through the pipeline up to its last trading day.
    ///
    /// # Errors
    /// As [`Self::route`].
    pub fn route_for(
        &self,
        exchange: &str,
        symbol: &str,
        now: DateTime<Utc>,
        fronts: &Fronts,
        use_: Use,
    ) -> Result<Route, AlertError> {
        let venue = self.venue_of(exchange);
        let venue = venue.as_str();
        let broker = *self
            .exchanges
            .get(venue)
            .ok_or_else(|| AlertError::UnknownExchange {
                value: echo(exchange),
                // A `BTreeMap`: sorted.
                routed: self
                    .exchanges
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let sym = symbol.trim().to_ascii_uppercase();
        let unroutable = |reason: String| AlertError::UnroutableSymbol {
            symbol: echo(symbol),
            exchange: venue.to_owned(),
            reason,
        };
        // `{{tickerid}}` (`OANDA:EURUSD`) where the template wants `{{ticker}}`.
        if let Some((prefix, ticker)) = sym.split_once(':') {
            return Err(unroutable(format!(
                "the symbol carries an exchange prefix ({}:): send the bare ticker ({}, \
                 TradingView's {{{{ticker}}}}, not {{{{tickerid}}}}) in symbol and the exchange \
                 in exchange",
                echo(prefix),
                echo(ticker)
            )));
        }
        let (instrument, resolution) = match broker {
            Broker::Oanda => (
                pair(&self.oanda, &sym, '_', true).ok_or_else(|| {
                    unroutable("not a BASE_QUOTE pair under the OANDA rules".into())
                })?,
                None,
            ),
            Broker::Coinbase => (
                pair(&self.coinbase, &sym, '-', false).ok_or_else(|| {
                    unroutable("not a BASE-QUOTE product under the Coinbase rules".into())
                })?,
                None,
            ),
            Broker::Tradovate => self.future(&sym, now, use_).map_err(unroutable)?,
        };
        let (instrument, resolution, disagreement) =
            self.with_front(instrument, resolution, &sym, now, fronts);
        Ok(Route {
            broker,
            instrument: Instrument(instrument),
            resolution,
            disagreement,
        })
    }

    /// Replaces a `ROOT1!` resolution by the market-data front month where it may.
    fn with_front(
        &self,
        instrument: String,
        resolution: Option<ContractResolution>,
        sym: &str,
        now: DateTime<Utc>,
        fronts: &Fronts,
    ) -> (String, Option<ContractResolution>, Option<String>) {
        let Some(mut res) = resolution else {
            return (instrument, None, None);
        };
        let Some(front) = front_symbol_root(sym).and_then(|r| fronts.get(r)) else {
            return (instrument, Some(res), None);
        };
        let as_of = front.as_of.format("%Y-%m-%d %H:%M UTC");
        if front.contract == instrument {
            res.rule = format!(
                "{}; the market-data volume leader ({} as of {as_of}) agrees",
                res.rule, front.contract
            );
            return (instrument, Some(res), None);
        }
        // The leader must be a contract of this root that routes today, and no further out
        // than the roll rule's next contract (`ROOT2!`): an answer months ahead (a data
        // error) would trade that month, held there by the router's hold, and leave its
        // position unmanaged once the hold ended and `ROOT1!` came back to an earlier month.
        let next = self
            .future(&format!("{}2!", front.root), now, Use::Open)
            .ok()
            .and_then(|(c, _)| contract_month_index(&c, now).map(|i| (c, i)));
        let checked =
            self.future(&front.contract, now, Use::Open)
                .and_then(
                    |(contract, res)| match (&next, contract_month_index(&contract, now)) {
                        (Some((second, last)), Some(month)) if month > *last => Err(format!(
                            "{contract} is further out than the roll rule's next contract {second}"
                        )),
                        _ => Ok((contract, res)),
                    },
                );
        match checked {
            Ok((contract, _)) if contract_root(&contract) == front.root => {
                let what = format!(
                    "{sym}: the market-data volume leader is {contract} (as of {as_of}), the roll rule says {instrument}; trading {contract}"
                );
                res.rule = format!(
                    "market-data volume leader {contract} as of {as_of} (the table's rule gives {instrument})"
                );
                res.contract = contract.clone();
                (contract, Some(res), Some(what))
            }
            other => {
                let why = match other {
                    Ok((c, _)) => format!("{c} is not a contract of {}", front.root),
                    Err(e) => e,
                };
                let what = format!(
                    "{sym}: the market-data front month {} is not usable ({why}); trading the roll rule's {instrument}",
                    front.contract
                );
                (instrument, Some(res), Some(what))
            }
        }
    }

    fn future(
        &self,
        sym: &str,
        now: DateTime<Utc>,
        use_: Use,
    ) -> Result<(String, Option<ContractResolution>), String> {
        let lookup = |root: &str| {
            self.futures
                .get(root)
                .ok_or_else(|| format!("no futures root {:?} in the routing table", echo(root)))
        };
        if let Some(body) = sym.strip_suffix('!') {
            let (root, digits) = split_trailing_digits(body);
            // No leading zero: `ES01!` would be `ES1!` under another name, its own ordering
            // series and no market-data front month (which only `ES1!` follows).
            let nth: usize = digits
                .parse()
                .ok()
                .filter(|n| (1..=12).contains(n) && !digits.starts_with('0'))
                .ok_or_else(|| {
                    "a continuous symbol is ROOT1! to ROOT12! (no leading zero)".to_owned()
                })?;
            let spec = lookup(root)?;
            let contract = spec.nth_contract(root, now, nth);
            let resolution = ContractResolution {
                requested: sym.to_owned(),
                contract: contract.clone(),
                rule: spec.describe(root),
                on_roll: spec.on_roll,
            };
            return Ok((contract, Some(resolution)));
        }
        let (head, year) = split_trailing_digits(sym);
        let mut chars = head.chars();
        let code = chars.next_back();
        let root = chars.as_str();
        let (Some(code), false, 1 | 2 | 4) = (code, root.is_empty(), year.len()) else {
            return Err("neither a continuous symbol (ES1!) nor a contract (ESZ6, ESZ2026)".into());
        };
        // `ES1`: a root of the table and a number a continuous symbol takes, without its `!`
        // (read as root `E`, month code `S`): named as the mistake it is.
        if !self.futures.contains_key(root) && self.futures.contains_key(head) {
            // `ES0`, `ES13`: a root and a number no continuous symbol takes; read as root `E`
            // it was refused as an unknown root "E".
            let continuous = if year.parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) {
                format!("a continuous symbol ends in \"!\" ({}!)", echo(sym))
            } else {
                format!("a continuous symbol is {head}1! to {head}12!")
            };
            return Err(format!(
                "{} is not a contract: {continuous}; a contract names one of the root's months \
                 by its code (F for January to Z for December) and the year after {head}",
                echo(sym),
            ));
        }
        let spec = lookup(root)?;
        let month = month_of_code(code).ok_or_else(|| format!("{code:?} is not a month code"))?;
        if !spec.months.contains(&month) {
            let listed: String = spec.months.iter().map(|&m| month_code(m)).collect();
            return Err(format!(
                "{} has no {code} contract (months {listed})",
                echo(root)
            ));
        }
        let full_year = contract_year(year, now.year())
            .ok_or_else(|| format!("{:?} is not a contract year", echo(year)))?;
        // Tradovate names a contract with one year digit, and a one-digit year reads back as
        // the nearest year ending in it, five years out as the past one (`contract_year`): a
        // contract five or more years away would be written as one that expired (`CLZ2031`
        // in 2026 as `CLZ1`, read back as 2021, which the executor would take for an earlier
        // contract to close when `CL1!` rolls).
        if full_year - now.year() >= 5 {
            return Err(format!(
                "{} is {full_year}, too far out to name with one year digit (a contract five or \
                 more years away would read back as one five years past)",
                echo(sym)
            ));
        }
        let (last, what) = spec.last_trading(full_year, month);
        // A future's last trading day is never later than the end of its contract month (CL's
        // falls in the month before), so until then a contract past its roll date may still
        // be trading: with no last trading day in the table it is refused as the table takes
        // it, not said to have expired.
        let month_ended = NaiveDate::from_ymd_opt(full_year, month, 1)
            .and_then(|d| d.checked_add_months(chrono::Months::new(1)))
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .is_none_or(|end| now >= end.and_utc());
        if now >= last && spec.last_day.is_none() && !month_ended {
            if use_ == Use::CloseOnly {
                return Ok((format!("{root}{code}{}", full_year.rem_euclid(10)), None));
            }
            return Err(format!(
                "{} ({} {full_year}) is past its roll date in the routing table ({}), from \
                 which the table takes it as expired for an entry: it gives no last trading \
                 day for {} (futures.{}.last_day); an exit or FLATTEN of it routes until its \
                 month ends",
                echo(sym),
                month_name(month),
                last.format("%Y-%m-%d %H:%M UTC"),
                echo(root),
                echo(root)
            ));
        }
        if now >= last {
            return Err(format!(
                "{} ({} {full_year}) expired: its {what} was {}",
                echo(sym),
                month_name(month),
                last.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        Ok((format!("{root}{code}{}", full_year.rem_euclid(10)), None))
    }
}

/// The year of a contract code: four digits as written; one or two digits as the nearest year
/// ending in them (`Z5` in 2026 is 2025, `H7` is 2027), never one a decade away. A tie (five
/// years either way) is the past year: a contract listed five years out is not traded here.
fn contract_year(digits: &str, now: i32) -> Option<i32> {
    match year_digits(digits, now)? {
        (year, None) => Some(year),
        (base, Some(modulus)) => [base - modulus, base, base + modulus]
            .into_iter()
            .min_by_key(|y| ((y - now).abs(), *y)),
    }
}

/// A contract's year digits read against the year `now`: four digits as written, `(year,
/// None)`; one or two as the year ending in them in `now`'s decade (or century) with the span
/// they repeat over, `(year, Some(10))` (or 100). `None` for any other length, or no number.
fn year_digits(digits: &str, now: i32) -> Option<(i32, Option<i32>)> {
    let n: i32 = digits.parse().ok()?;
    let modulus = match digits.len() {
        1 => 10,
        2 => 100,
        4 => return Some((n, None)),
        _ => return None,
    };
    Some((now - now.rem_euclid(modulus) + n, Some(modulus)))
}

fn month_name(month: u32) -> &'static str {
    [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ][(month as usize).saturating_sub(1).min(11)]
}

/// What an alert asks of the contract it routes to ([`RoutingTable::route_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// An entry: may open or add to a position.
    Open,
    /// An exit or `FLATTEN`: only reduces a position.
    CloseOnly,
}

impl Use {
    /// An entry opens; an exit or `FLATTEN` only closes.
    pub fn of(action: crate::alert::Action) -> Self {
        use crate::alert::TargetPosition;
        match action.target() {
            TargetPosition::Long | TargetPosition::Short => Self::Open,
            TargetPosition::NoLong | TargetPosition::NoShort | TargetPosition::Flat => {
                Self::CloseOnly
            }
        }
    }
}

impl FuturesRoot {
    /// When an explicit contract stops being tradable here, and what that moment is: the last
    /// trading day (end of that day, UTC) where the table gives one, else the roll date.
    fn last_trading(&self, year: i32, month: u32) -> (DateTime<Utc>, &'static str) {
        let roll = self.roll_date(year, month);
        if let Some((day, before)) = self.last_day {
            let index = year * 12 + month as i32 - 1 - before as i32;
            let (y, m) = (index.div_euclid(12), index.rem_euclid(12) as u32 + 1);
            // Day 31 in a 30-day month: that month's last day.
            let date = (1..=day)
                .rev()
                .find_map(|d| NaiveDate::from_ymd_opt(y, m, d))
                .and_then(|d| d.succ_opt())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc());
            if let Some(end) = date {
                return (end, "last trading day (end of day)");
            }
        }
        match roll {
            Some(r) => (r, "roll date in the routing table"),
            None => (DateTime::<Utc>::MIN_UTC, "roll date in the routing table"),
        }
    }

    fn roll_date(&self, year: i32, month: u32) -> Option<DateTime<Utc>> {
        let index = year * 12 + month as i32 - 1 - self.roll_months_before as i32;
        NaiveDate::from_ymd_opt(
            index.div_euclid(12),
            index.rem_euclid(12) as u32 + 1,
            self.roll_day,
        )
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
    }

    /// The n-th (1-based) listed contract whose roll date, and last trading day where the
    /// table gives one, are still ahead of `now`.
    fn nth_contract(&self, root: &str, now: DateTime<Utc>, nth: usize) -> String {
        let (mut year, mut month) = (now.year(), now.month());
        let mut found = 0;
        loop {
            if self.months.contains(&month)
                && self.roll_date(year, month).is_some_and(|roll| now < roll)
                && now < self.last_trading(year, month).0
            {
                found += 1;
                if found == nth {
                    return format!("{root}{}{}", month_code(month), year.rem_euclid(10));
                }
            }
            month += 1;
            if month > 12 {
                month = 1;
                year += 1;
            }
        }
    }

    fn describe(&self, root: &str) -> String {
        let listed: String = self.months.iter().map(|&m| month_code(m)).collect();
        let when = match self.roll_months_before {
            0 => "of its own month".to_owned(),
            1 => "of the month before its month".to_owned(),
            n => format!("of the month {n} months before its month"),
        };
        format!(
            "{root}: months {listed}; a contract stops being front at 00:00 UTC on day {} {when}",
            self.roll_day
        )
    }
}

/// Whether `candidate`, a contract the account holds, is one of `current`'s root that expires
/// before it (`ESZ6` before `ESH7`): what a continuous symbol rolled away from, which the
/// executors close. `current` (the signal's contract) is read by the nearest-year rule at
/// `now`; `candidate` as the first year ending in its digits whose month is less than a year
/// before `now`'s ([`held_year`]): CME lists some roots' contracts ten years out (CL), so `CLZ2`
/// held in 2026 is December 2032, another strategy's, where the nearest-year rule read 2022
/// and the roll closed it; and a contract whose month passed within the year is the one a roll
/// left (a paper book keeps it past its expiry, and a broker's list may lag one), closed as
/// before.
pub fn is_earlier_contract(candidate: &str, current: &str, now: DateTime<Utc>) -> bool {
    let held = parse_contract(candidate, now).and_then(|(root, _, month)| {
        let year = held_year(split_trailing_digits(candidate).1, month, now)?;
        Some((root, year, month))
    });
    match (held, parse_contract(current, now)) {
        (Some((r1, y1, m1)), Some((r2, y2, m2))) => r1 == r2 && (y1, m1) < (y2, m2),
        _ => false,
    }
}

/// The year of a held contract of `month` whose year is written `digits`: four digits as
/// written; one or two as the first year ending in them whose `month` is less than twelve
/// months before `now`'s (a held contract is not long expired: years before, the digits name
/// a contract listed years ahead). The year is a trade-off: a contract listed nine years and
/// more ahead (CL's farthest months), held by hand beside a `CL1!` strategy, reads as last
/// year's and a roll closes it; a shorter window would leave a paper book's contract held
/// past its month (the local stack stopped over a holiday) that no roll closes.
fn held_year(digits: &str, month: u32, now: DateTime<Utc>) -> Option<i32> {
    let (year, modulus) = match year_digits(digits, now.year())? {
        (year, None) => return Some(year),
        (year, Some(modulus)) => (year, modulus),
    };
    let index = |y: i32, m: u32| i64::from(y) * 12 + i64::from(m);
    // The digits read in `now`'s decade (or century) may name one of the last: `ESZ9` held
    // on 2030-01-04 is December 2029, a month past, not 2039.
    [year - modulus, year, year + modulus]
        .into_iter()
        .find(|&y| index(now.year(), now.month()) - index(y, month) < 12)
}

/// The root of a front continuous symbol (`ES1!` → `ES`), the only kind market-data front
/// months route; `None` for `ES2!`, `ES11!` or anything else.
pub fn front_symbol_root(symbol: &str) -> Option<&str> {
    symbol
        .strip_suffix("1!")
        .filter(|r| !r.ends_with(|c: char| c.is_ascii_digit()))
}

/// A contract's month as one number that orders a root's contracts by expiry: year × 12 +
/// month − 1 (`ESZ6` at 2026-12 → 24,323; `ESH7` → 24,326). Years by the nearest-year rule
/// at `now`. `None` for a name that is not root, month code and year digits.
pub fn contract_month_index(contract: &str, now: DateTime<Utc>) -> Option<i64> {
    let (_, year, month) = parse_contract(contract, now)?;
    Some(i64::from(year) * 12 + i64::from(month) - 1)
}

/// `ESZ6` → (`ES`, 2026, 12) at a `now` in the 2020s.
fn parse_contract(c: &str, now: DateTime<Utc>) -> Option<(String, i32, u32)> {
    let (head, year) = split_trailing_digits(c);
    let mut chars = head.chars();
    let month = month_of_code(chars.next_back()?)?;
    let root = chars.as_str().to_owned();
    Some((root, contract_year(year, now.year())?, month))
}

/// A contract's root: `ESZ6` → `ES` (month code and one year digit off).
fn contract_root(contract: &str) -> &str {
    contract
        .get(..contract.len().saturating_sub(2))
        .unwrap_or(contract)
}

fn split_trailing_digits(s: &str) -> (&str, &str) {
    let cut = s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    s.split_at(cut)
}

fn pair(rules: &PairRules, sym: &str, sep: char, three_three: bool) -> Option<String> {
    if let Some(alias) = rules.aliases.get(sym) {
        return Some(alias.clone());
    }
    let alnum = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    let parts: Vec<&str> = sym.split(['_', '/', '-']).collect();
    match parts.as_slice() {
        [base, quote] if alnum(base) && alnum(quote) => return Some(format!("{base}{sep}{quote}")),
        [_] if alnum(sym) => {}
        _ => return None,
    }
    for quote in &rules.quote_currencies {
        if let Some(base) = sym.strip_suffix(quote.as_str())
            && base.len() >= 2
        {
            return Some(format!("{base}{sep}{quote}"));
        }
    }
    if three_three && sym.len() == 6 && sym.chars().all(|c| c.is_ascii_alphabetic()) {
        return Some(format!("{}{sep}{}", &sym[..3], &sym[3..]));
    }
    None
}
