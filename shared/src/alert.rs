//! The TradingView alert: parse, don't validate.
//!
//! Parsing happens in two steps because authentication sits between them: [`RawAlert::parse`]
//! checks size and JSON syntax and takes the `passphrase` out of the body (so it can never
//! reach the SignalId, the queue or the journal); after the caller has checked the secret,
//! [`RawAlert::validate`] turns the rest into a typed [`Alert`] and its [`SignalId`].

use crate::error::{AlertError, echo};
use crate::routing::{Route, RoutingTable};
use crate::signal::SignalId;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::cell::OnceCell;
use std::fmt;
use std::io::Write as _;
use std::str::FromStr;

/// Largest body accepted, checked before any parsing.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The largest price or quantity an alert may carry (10^12).
const LARGEST: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);
/// The smallest price an alert may carry (10^-12).
const SMALLEST_PRICE: Decimal = Decimal::from_parts(1, 0, 0, false, 12);

/// The alert's `action`: what the strategy asks for. On the wire it is `LONG_ENTRY`,
/// `SHORT_ENTRY`, `LONG_EXIT`, `SHORT_EXIT` or `FLATTEN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    /// `LONG_ENTRY`: end up long, closing a short first if one is held.
    LongEntry,
    /// `SHORT_ENTRY`: end up short, closing a long first if one is held.
    ShortEntry,
    /// `LONG_EXIT`: close a long if one is held; a short is left alone.
    LongExit,
    /// `SHORT_EXIT`: close a short if one is held; a long is left alone.
    ShortExit,
    /// `FLATTEN`: close whatever is held.
    Flatten,
}

/// The position an action asks the account to end up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetPosition {
    /// Close a short if held, then hold a long.
    Long,
    /// Close a long if held, then hold a short.
    Short,
    /// Close the long if held; leave a short alone.
    NoLong,
    /// Close the short if held; leave a long alone.
    NoShort,
    /// Close whatever is held.
    Flat,
}

impl Action {
    /// Every action, in declaration order.
    pub const ALL: [Action; 5] = [
        Self::LongEntry,
        Self::ShortEntry,
        Self::LongExit,
        Self::ShortExit,
        Self::Flatten,
    ];

    /// The wire form, e.g. `LONG_ENTRY`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LongEntry => "LONG_ENTRY",
            Self::ShortEntry => "SHORT_ENTRY",
            Self::LongExit => "LONG_EXIT",
            Self::ShortExit => "SHORT_EXIT",
            Self::Flatten => "FLATTEN",
        }
    }

    /// Reads the wire form: an exact, case-sensitive match, `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The position this action asks the account to end up in.
    pub fn target(self) -> TargetPosition {
        match self {
            Self::LongEntry => TargetPosition::Long,
            Self::ShortEntry => TargetPosition::Short,
            Self::LongExit => TargetPosition::NoLong,
            Self::ShortExit => TargetPosition::NoShort,
            Self::Flatten => TargetPosition::Flat,
        }
    }

    /// The `signal.type` and `signal.direction` this action must come with.
    fn expected_signal(self) -> (SignalType, Direction) {
        match self {
            Self::LongEntry => (SignalType::Entry, Direction::Long),
            Self::ShortEntry => (SignalType::Entry, Direction::Short),
            Self::LongExit => (SignalType::Exit, Direction::Long),
            Self::ShortExit => (SignalType::Exit, Direction::Short),
            Self::Flatten => (SignalType::Flatten, Direction::Flat),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The alert's `signal.type`; it must agree with the action (see
/// [`AlertError::InconsistentSignal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SignalType {
    /// `ENTRY`: goes with `LONG_ENTRY` and `SHORT_ENTRY`.
    Entry,
    /// `EXIT`: goes with `LONG_EXIT` and `SHORT_EXIT`.
    Exit,
    /// `FLATTEN`: goes with `FLATTEN`.
    Flatten,
}

impl SignalType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Entry => "ENTRY",
            Self::Exit => "EXIT",
            Self::Flatten => "FLATTEN",
        }
    }
}

/// The alert's `signal.direction`; it must agree with the action (see
/// [`AlertError::InconsistentSignal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    /// `LONG`: goes with `LONG_ENTRY` and `LONG_EXIT`.
    Long,
    /// `SHORT`: goes with `SHORT_ENTRY` and `SHORT_EXIT`.
    Short,
    /// `FLAT`: goes with `FLATTEN`.
    Flat,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Long => "LONG",
            Self::Short => "SHORT",
            Self::Flat => "FLAT",
        }
    }
}

/// The alert's `signal` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalInfo {
    /// `signal.type` (named `type` on the wire).
    #[serde(rename = "type")]
    pub kind: SignalType,
    /// `signal.direction`.
    pub direction: Direction,
    /// What fired the signal, free text such as `COLOR_CHANGE_BLUE`; kept, not interpreted.
    pub trigger: String,
}

/// The alert's `market_data` object: which market and bar fired the alert, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketData {
    /// As TradingView sent it (`ES1!`, `EURUSD`); routing normalises it.
    pub symbol: String,
    /// As TradingView sent it (`CME_MINI`, `NYMEX_DL`).
    pub exchange: String,
    /// The chart interval as TradingView sent it (`{{interval}}`: `1`, `60`, `D`); a JSON
    /// number is kept as its text.
    pub timeframe: String,
    /// The bar's time (`{{time}}`).
    pub timestamp: DateTime<Utc>,
    /// When the alert fired (`{{timenow}}`); staleness is measured from it.
    pub timenow: DateTime<Utc>,
}

/// The alert's `price_data` object: the bar's prices and volume. Each arrives as a decimal
/// string like `"1.08345"` or a JSON number, and is kept normalised (no trailing zeros).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceData {
    /// The bar's opening price; greater than zero.
    pub open: Decimal,
    /// The bar's highest price; greater than zero.
    pub high: Decimal,
    /// The bar's lowest price; greater than zero.
    pub low: Decimal,
    /// The bar's closing price; greater than zero.
    pub close: Decimal,
    /// The bar's volume; zero or more. `None` when the alert says `"NaN"`: Pine writes an
    /// `na` value so, and a chart whose feed has no volume would otherwise have every alert
    /// refused (TradingView does not resend a 4xx) for a figure nothing trades on. Prices
    /// are never read so.
    #[serde(default)]
    pub volume: Option<Decimal>,
}

/// A validated alert. The passphrase is not part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// What the strategy asks for.
    pub action: Action,
    /// The name of the indicator or strategy that sent the alert (`Trend_Validator`); may
    /// be empty.
    pub indicator: String,
    /// The `signal` object, consistent with `action`.
    pub signal: SignalInfo,
    /// Symbol, exchange, interval and times of the alert.
    pub market_data: MarketData,
    /// The bar's prices and volume.
    pub price_data: PriceData,
    /// Optional per-alert size override; the executor bounds it by the configured maximum.
    /// Only a plain decimal greater than zero is accepted (`1000`, `0.5`): as a string, no
    /// exponent, sign, `_`, padding or leading zeros, at most 28 significant digits; a JSON
    /// number is read by its value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Decimal>,
}

/// How old or how far ahead `timenow` may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// How old `timenow` may be at the check; older is [`AlertError::StaleAlert`]. Default
    /// 30 seconds.
    pub max_age: Duration,
    /// How far ahead of the clock `timenow` may be; further is
    /// [`AlertError::AlertFromFuture`]. Default 5 seconds.
    pub max_skew: Duration,
}

impl Default for Freshness {
    fn default() -> Self {
        Self {
            max_age: Duration::seconds(30),
            max_skew: Duration::seconds(5),
        }
    }
}

/// An age in whole seconds, rounded up, for messages that compare it with a limit: an alert
/// 10.4 s old under a 10 s limit reads "11 s old", never "10 s old, over the 10 s limit".
pub fn secs_rounded_up(age: Duration) -> i64 {
    age.num_milliseconds().saturating_add(999).div_euclid(1000)
}

impl Alert {
    /// Refuses an alert whose `timenow` is older than the limit or too far ahead of `now`.
    pub fn check_fresh(&self, now: DateTime<Utc>, limits: Freshness) -> Result<(), AlertError> {
        let age = now - self.market_data.timenow;
        if age > limits.max_age {
            return Err(AlertError::StaleAlert {
                age_secs: secs_rounded_up(age),
                max_secs: limits.max_age.num_seconds(),
            });
        }
        if -age > limits.max_skew {
            return Err(AlertError::AlertFromFuture {
                // Rounded up, as an age is: 5.6 s ahead of a 5 s allowance never reads "5 s".
                ahead_secs: secs_rounded_up(-age),
                skew_secs: limits.max_skew.num_seconds(),
            });
        }
        Ok(())
    }
}

/// A body that is syntactically JSON, with the passphrase taken out.
#[derive(Debug)]
pub struct RawAlert {
    root: Map<String, Value>,
    passphrase: Option<SecretString>,
}

/// The outcome of [`RawAlert::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedAlert {
    /// The typed alert.
    pub alert: Alert,
    /// The alert's identity: [`SignalId::of_canonical`] of `canonical`.
    pub signal_id: SignalId,
    /// The alert as canonical JSON (sorted keys, no passphrase): what the journal keeps as raw.
    pub canonical: String,
    /// A `SHORT_ENTRY`'s quantity that is a number but no valid size (`-0.5`, from
    /// `strategy.position_size` when short): taken as absent on a spot route, whose short
    /// entry sells what is held and uses no size; this refusal on any other
    /// ([`Self::route_and_check`]).
    unused_short_quantity: Option<AlertError>,
}

impl ValidatedAlert {
    /// A `SHORT_ENTRY`'s quantity that is a number but no valid size, taken as absent on a
    /// spot route and refused with this error on any other by [`Self::route_and_check`].
    pub fn unused_short_quantity(&self) -> Option<&AlertError> {
        self.unused_short_quantity.as_ref()
    }

    /// The checks that need the routing table and the time: routing, then freshness, then
    /// an entry's `quantity` against what the route trades: a futures contract (Tradovate)
    /// is ordered in whole contracts (`PlaceOrder`'s `orderQty` is an integer in Tradovate's
    /// OpenAPI document, <https://partner.tradovate.com/openapi.json>), so a fractional one is
    /// refused here, before it is queued, rather than by the executor after a 200; and a
    /// `SHORT_ENTRY`'s quantity that is a number but no size (`-0.5`) is refused on any route
    /// but Coinbase's, whose short entry sells what is held and uses none. (An exit's
    /// quantity is not used, and OANDA's and Coinbase's increments are per instrument, read by
    /// the executors.)
    ///
    /// # Errors
    /// [`AlertError`] naming the symbol, the age or the quantity.
    pub fn route_and_check(
        &self,
        table: &RoutingTable,
        now: DateTime<Utc>,
        freshness: Freshness,
    ) -> Result<Route, AlertError> {
        let md = &self.alert.market_data;
        let route = table.route_for(
            &md.exchange,
            &md.symbol,
            now,
            &crate::front_month::Fronts::new(),
            crate::routing::Use::of(self.alert.action),
        )?;
        self.alert.check_fresh(now, freshness)?;
        // Coinbase is the spot broker: its short entry sells the coin held, whatever size.
        if let Some(refused) = &self.unused_short_quantity
            && route.broker != crate::routing::Broker::Coinbase
        {
            return Err(refused.clone());
        }
        if route.broker == crate::routing::Broker::Tradovate
            && matches!(self.alert.action, Action::LongEntry | Action::ShortEntry)
            && self.alert.quantity.is_some_and(|q| !q.fract().is_zero())
        {
            return Err(invalid(
                "quantity",
                format!(
                    "a whole number of contracts, not {}: the alert routes to a futures \
                     contract, traded at Tradovate in whole contracts",
                    self.alert.quantity.unwrap_or_default().normalize()
                ),
            ));
        }
        Ok(route)
    }
}

/// The keys an alert is read by, per object (`""` is the top level).
const KNOWN_KEYS: [(&str, &[&str]); 4] = [
    (
        "",
        &[
            "passphrase",
            "action",
            "indicator",
            "signal",
            "market_data",
            "price_data",
            "quantity",
        ],
    ),
    ("signal.", &["type", "direction", "trigger"]),
    (
        "market_data.",
        &["symbol", "exchange", "timeframe", "timestamp", "timenow"],
    ),
    ("price_data.", &["open", "high", "low", "close", "volume"]),
];

/// Refuses a key the alert would ignore though the sender meant one it reads: a known key
/// written another way (`"Quantity": "5"` or `"quantity ": "5"` would trade the configured
/// size, not 5: another case, spaces, `_` or `-` added or left out) or `quantity` so written
/// in any object below the top level (the alert's own or the sender's, at any depth). Other
/// extra keys are the sender's own and pass.
fn misplaced_keys(root: &serde_json::Map<String, Value>) -> Result<(), AlertError> {
    for (prefix, known) in KNOWN_KEYS {
        let object = match prefix.strip_suffix('.') {
            None => Some(root),
            Some(name) => root.get(name).and_then(Value::as_object),
        };
        for key in object.into_iter().flat_map(|o| o.keys()) {
            if known.contains(&key.as_str()) {
                continue;
            }
            let field = || format!("{prefix}{}", echo(key));
            if let Some(meant) = known.iter().find(|k| loosely_same(k, key)) {
                return Err(AlertError::InvalidField {
                    field: field(),
                    expected: format!(
                        "written `{meant}`, as documented (keys are read exactly as written: \
                         as written it would be ignored)"
                    )
                    .into(),
                });
            }
        }
    }
    // `quantity` in any object below the top level, the sender's own ones too
    // (`"strategy": {"quantity": "{{strategy.order.contracts}}"}`), at any depth.
    for (key, value) in root {
        if let Some(rest) = quantity_below(value) {
            // The end of a deep path, where the key is: at most this many characters.
            const SHOWN: usize = 128;
            let path = format!("{}{rest}", echo(key));
            let field = match path.char_indices().rev().nth(SHOWN - 1) {
                Some((0, _)) | None => path,
                Some((cut, _)) => format!("…{}", &path[cut..]),
            };
            return Err(AlertError::InvalidField {
                field,
                expected: "at the top level of the alert (anywhere else `quantity` would be \
                           ignored and the configured size traded)"
                    .into(),
            });
        }
    }
    Ok(())
}

/// Whether `key` is the `known` key written another way: in another case, with spaces
/// (a template edited by hand: `"quantity "`), `_`, `-` or any other character that is not a
/// letter or digit added or left out (an invisible one a page or a chat pasted in: a
/// zero-width space, a soft hyphen, a byte order mark), or in full-width letters
/// (`ｑｕａｎｔｉｔｙ`). Every known key is ASCII letters and `_`.
fn loosely_same(known: &str, key: &str) -> bool {
    let loose = |k: &str| {
        k.chars()
            // Full-width ASCII (U+FF01 to U+FF5E) as the ASCII it stands for.
            .map(|c| match u32::from(c) {
                0xFF01..=0xFF5E => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
                _ => c,
            })
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect::<String>()
    };
    // A key far longer than any known one is none of them, whatever its spaces: not copied.
    key.len() <= known.len() + 64 && loose(known) == loose(key)
}

/// Where below `value` the first key `quantity` (written any way [`loosely_same`] takes) is, as the rest of its path
/// (`.order.quantity`, `[1].quantity`), each key shortened as [`echo`] does; `None` when
/// there is none. Every alert passes here: the path is built only for one found.
fn quantity_below(value: &Value) -> Option<String> {
    match value {
        Value::Object(object) => object.iter().find_map(|(key, inner)| {
            if loosely_same("quantity", key) {
                return Some(format!(".{}", echo(key)));
            }
            quantity_below(inner).map(|rest| format!(".{}{rest}", echo(key)))
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, inner)| quantity_below(inner).map(|rest| format!("[{i}]{rest}"))),
        _ => None,
    }
}

impl RawAlert {
    /// Size check, then JSON syntax, whatever the Content-Type said.
    pub fn parse(body: &[u8]) -> Result<Self, AlertError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(AlertError::PayloadTooLarge {
                size: body.len(),
                limit: MAX_BODY_BYTES,
            });
        }
        // A bare `NaN` or `Infinity` where a number goes (`"volume": {{volume}}` on a chart
        // whose feed has none: TradingView writes `NaN`) is no JSON; read as its quoted
        // spelling, which validation takes as no volume, or refuses naming the field (a
        // price). Refused as malformed JSON it refused every alert of such a chart, exits
        // too, and TradingView does not resend a 4xx.
        // When the quoted copy fails too (another mistake beside the bare token), its error is
        // the one reported, at the position in the body as sent: the bare token was no error.
        let quoted = OnceCell::new();
        let parsed = unique_keys(body).or_else(|e| match bare_non_numbers(body) {
            Some(copy) => unique_keys(quoted.get_or_init(|| copy).0.as_bytes()),
            None => Err(e),
        });
        let value: Value = parsed.map_err(|e| {
            let quoted = quoted.get();
            // TradingView substitutes placeholders as bare text, so a template with an unquoted
            // one (`"close": {{close}}`) is invalid JSON until the alert fires; and one left
            // unsubstituted stays invalid. Name the field, as for a quoted placeholder.
            if let Some(fields) = unquoted_placeholders(body)
                .or_else(|| quoted.and_then(|(copy, _)| unquoted_placeholders(copy.as_bytes())))
            {
                return AlertError::UnsubstitutedPlaceholder { fields };
            }
            // A file saved with a byte order mark (some Windows editors) and posted as is: the
            // JSON is fine, the three bytes before it are not, and serde_json says only
            // "expected value" at column 1.
            if body.starts_with(b"\xEF\xBB\xBF") {
                return AlertError::MalformedJson {
                    line: 1,
                    column: 1,
                    reason: "the body starts with a UTF-8 byte order mark (EF BB BF): send the \
                             JSON without it"
                        .into(),
                };
            }
            let full = e.to_string();
            // serde_json appends " at line L column C"; we report those as fields.
            let reason = full
                .rsplit_once(" at line ")
                .map_or(full.as_str(), |(r, _)| r)
                .to_owned();
            let column = match quoted {
                Some((copy, quotes)) => column_as_sent(copy, quotes, e.line(), e.column()),
                None => e.column(),
            };
            AlertError::MalformedJson {
                line: e.line(),
                column,
                reason,
            }
        })?;
        let Value::Object(mut root) = value else {
            return Err(invalid("body", "a JSON object"));
        };
        let passphrase = match root.remove("passphrase") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(SecretString::from(s)),
            Some(_) => return Err(invalid("passphrase", "a string")),
        };
        Ok(Self { root, passphrase })
    }

    /// The body's `passphrase`, taken out of the JSON by [`Self::parse`]; `None` when it was
    /// absent or `null`.
    pub fn passphrase(&self) -> Option<&SecretString> {
        self.passphrase.as_ref()
    }

    /// Every refusal of the design's alert section but staleness and routing, which need a
    /// clock and the routing table.
    pub fn validate(&self) -> Result<ValidatedAlert, AlertError> {
        let mut placeholders = Vec::new();
        for (key, value) in &self.root {
            find_placeholders(key, value, &mut placeholders);
        }
        if !placeholders.is_empty() {
            placeholders.sort();
            return Err(AlertError::UnsubstitutedPlaceholder {
                fields: placeholders,
            });
        }

        let root = &self.root;
        misplaced_keys(root)?;
        let action_raw = string(root, "", "action")?;
        let action = Action::parse(action_raw).ok_or_else(|| AlertError::UnknownAction {
            value: echo(action_raw),
        })?;
        let indicator = string(root, "", "indicator")?.to_owned();

        let signal = object(root, "", "signal")?;
        let kind = enum_field(
            signal,
            "signal.",
            "type",
            "one of ENTRY, EXIT, FLATTEN",
            |s| {
                [SignalType::Entry, SignalType::Exit, SignalType::Flatten]
                    .into_iter()
                    .find(|t| t.as_str() == s)
            },
        )?;
        let direction = enum_field(
            signal,
            "signal.",
            "direction",
            "one of LONG, SHORT, FLAT",
            |s| {
                [Direction::Long, Direction::Short, Direction::Flat]
                    .into_iter()
                    .find(|d| d.as_str() == s)
            },
        )?;
        let (expected_type, expected_direction) = action.expected_signal();
        if (kind, direction) != (expected_type, expected_direction) {
            return Err(AlertError::InconsistentSignal {
                action: action.as_str(),
                expected_type: expected_type.as_str(),
                expected_direction: expected_direction.as_str(),
                got_type: kind.as_str().to_owned(),
                got_direction: direction.as_str().to_owned(),
            });
        }
        let trigger = string(signal, "signal.", "trigger")?.to_owned();

        let md = object(root, "", "market_data")?;
        let symbol = non_empty(md, "market_data.", "symbol")?;
        let exchange = non_empty(md, "market_data.", "exchange")?;
        let timeframe = string_or_number(md, "market_data.", "timeframe")?;
        let timestamp = time(md, "market_data.", "timestamp")?;
        let timenow = time(md, "market_data.", "timenow")?;

        let pd = object(root, "", "price_data")?;
        let price = |key| decimal(pd, "price_data.", key, Kind::Price);
        let price_data = PriceData {
            open: price("open")?,
            high: price("high")?,
            low: price("low")?,
            close: price("close")?,
            volume: match pd.get("volume") {
                Some(Value::String(text)) if text == "NaN" => None,
                _ => Some(decimal(pd, "price_data.", "volume", Kind::Volume)?),
            },
        };
        let mut unused_short_quantity = None;
        let quantity = match root.get("quantity") {
            None | Some(Value::Null) => None,
            Some(value) => match decimal(root, "", "quantity", Kind::Size) {
                Ok(q) => Some(q),
                // An exit or a FLATTEN closes the whole side held whatever its quantity: one
                // filled from `{{strategy.position_size}}` reads 0 once the strategy is flat
                // (negative when it is short, or an unquoted float's long digits), and
                // refused, the exit would be lost, since TradingView does not resend an alert
                // answered 4xx. Any number is taken as absent there; what is no number at
                // all is refused as for an entry (the template is broken).
                Err(_)
                    if matches!(
                        action,
                        Action::LongExit | Action::ShortExit | Action::Flatten
                    ) && is_number(value) =>
                {
                    None
                }
                // So does a short entry on a spot wallet (Coinbase), which sells what is
                // held: known only once routed (`route_and_check`), which refuses it on any
                // other route.
                Err(e) if action == Action::ShortEntry && is_number(value) => {
                    unused_short_quantity = Some(e);
                    None
                }
                Err(e) => return Err(e),
            },
        };

        let alert = Alert {
            action,
            indicator,
            signal: SignalInfo {
                kind,
                direction,
                trigger,
            },
            market_data: MarketData {
                symbol,
                exchange,
                timeframe,
                timestamp,
                timenow,
            },
            price_data,
            quantity,
        };
        let canonical = canonical_json(root);
        // SQS takes only the XML character range in a message body (#x9, #xA, #xD, #x20 to
        // #xD7FF, #xE000 to #xFFFD, #x10000 to #x10FFFF: SendMessage's `MessageBody`,
        // <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html>).
        // The canonical JSON escapes control characters but writes these two as they are: the
        // queue would refuse every resend of the alert, so it is refused here, once.
        if canonical.contains(['\u{FFFE}', '\u{FFFF}']) {
            return Err(AlertError::InvalidField {
                field: "body".into(),
                expected: "free of the characters U+FFFE and U+FFFF, which the queue cannot carry"
                    .into(),
            });
        }
        let signal_id = SignalId::of_canonical(&canonical);
        Ok(ValidatedAlert {
            alert,
            signal_id,
            canonical,
            unused_short_quantity,
        })
    }
}

fn invalid(field: &str, expected: impl Into<std::borrow::Cow<'static, str>>) -> AlertError {
    AlertError::InvalidField {
        field: field.to_owned(),
        expected: expected.into(),
    }
}

fn get<'a>(obj: &'a Map<String, Value>, prefix: &str, key: &str) -> Result<&'a Value, AlertError> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(AlertError::MissingField {
            field: format!("{prefix}{key}"),
        }),
        Some(v) => Ok(v),
    }
}

fn string<'a>(obj: &'a Map<String, Value>, prefix: &str, key: &str) -> Result<&'a str, AlertError> {
    get(obj, prefix, key)?
        .as_str()
        .ok_or_else(|| invalid(&format!("{prefix}{key}"), "a string"))
}

fn non_empty(obj: &Map<String, Value>, prefix: &str, key: &str) -> Result<String, AlertError> {
    let s = string(obj, prefix, key)?.trim();
    if s.is_empty() {
        return Err(invalid(&format!("{prefix}{key}"), "a non-empty string"));
    }
    Ok(s.to_owned())
}

fn string_or_number(
    obj: &Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<String, AlertError> {
    match get(obj, prefix, key)? {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(invalid(&format!("{prefix}{key}"), "a string or a number")),
    }
}

fn object<'a>(
    obj: &'a Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<&'a Map<String, Value>, AlertError> {
    get(obj, prefix, key)?
        .as_object()
        .ok_or_else(|| invalid(&format!("{prefix}{key}"), "an object"))
}

fn enum_field<T>(
    obj: &Map<String, Value>,
    prefix: &str,
    key: &str,
    expected: &'static str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, AlertError> {
    let raw = string(obj, prefix, key)?;
    parse(raw).ok_or_else(|| {
        // What was sent, and whether only its case was wrong (a template's
        // `{{strategy.market_position}}` gives `long`).
        let case = match parse(&raw.to_ascii_uppercase()) {
            Some(_) => ", in upper case",
            None => "",
        };
        invalid(
            &format!("{prefix}{key}"),
            format!("{expected}{case}; it was {:?}", echo(raw)),
        )
    })
}

fn time(obj: &Map<String, Value>, prefix: &str, key: &str) -> Result<DateTime<Utc>, AlertError> {
    let raw = string(obj, prefix, key)?;
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| AlertError::InvalidTime {
            field: format!("{prefix}{key}"),
            value: echo(raw),
        })
}

/// What a decimal field holds, which decides how strictly its text is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An order size (`quantity`): a plain decimal, greater than zero. It is traded as read,
    /// so nothing that only looks like a number to a lenient parser gets through.
    Size,
    /// A bar price: greater than zero. A JSON number is read from its shortest round-trip
    /// text, which uses an exponent for small or large values (`1e-7`, a plausible crypto
    /// price), so an exponent is accepted here.
    Price,
    /// The bar's volume: read like a price, but zero is allowed.
    Volume,
}

// The reasons of a refused size. Each starts with the rule, so the sender learns the accepted
// form whichever detail was wrong.
const PLAIN: &str = "must be a plain decimal like 1000 or 0.5";
const PLAIN_PADDED: &str = "must be a plain decimal like 1000 or 0.5, without spaces around it";
const PLAIN_SIGNED: &str = "must be a plain decimal like 1000 or 0.5, without a sign";
const PLAIN_EXPONENT: &str = "must be a plain decimal like 1000 or 0.5, without an exponent";
const PLAIN_UNDERSCORE: &str = "must be a plain decimal like 1000 or 0.5, without _ separators";
const PLAIN_POINT: &str =
    "must be a plain decimal like 1000 or 0.5, with digits on both sides of the point";
const PLAIN_LEADING_ZERO: &str = "must be a plain decimal like 1000 or 0.5, without leading zeros";
const TOO_MANY_DIGITS: &str = "must have at most 28 significant digits";
const TOO_MANY_PLACES: &str = "must have at most 28 digits after the point";

/// The most digits a size may have, significant or after the point: a `Decimal` holds any
/// such value exactly. Beyond it `Decimal::from_str` may round silently
/// (`0.00000000000000000000000000001` reads as zero), and a rounded size must not trade.
const MAX_DIGITS: usize = 28;

/// Why `text` is not a plain decimal: ASCII digits with at most one `.`, digits on both sides
/// of it, no leading zeros (`0.5` but not `00.5`), no sign, exponent, `_` or whitespace, and
/// at most 28 significant digits and 28 after the point. `5.` and `.5` are refused: a size is
/// written in full, and a stray point more likely means a truncated value than a shorthand.
fn plain_decimal(text: &str) -> Result<(), &'static str> {
    // Text that is no number at all (`CME_MINI`, `1000 USD`) is told the rule, not a detail
    // of it (its `_` or its `E`).
    if !number_like(text.trim()) {
        return Err(PLAIN);
    }
    if text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace) {
        return Err(PLAIN_PADDED);
    }
    if text.starts_with(['+', '-']) {
        return Err(PLAIN_SIGNED);
    }
    if text.contains(['e', 'E']) {
        return Err(PLAIN_EXPONENT);
    }
    // rust_decimal's `from_str` skips underscores (`1_000` is 1000), so they are refused here.
    if text.contains('_') {
        return Err(PLAIN_UNDERSCORE);
    }
    let (int, frac) = match text.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (text, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if text.is_empty() || !digits(int) || !frac.is_none_or(digits) {
        return Err(PLAIN);
    }
    if int.is_empty() || frac.is_some_and(str::is_empty) {
        return Err(PLAIN_POINT);
    }
    if int.len() > 1 && int.starts_with('0') {
        return Err(PLAIN_LEADING_ZERO);
    }
    let frac = frac.unwrap_or("");
    let significant = int
        .bytes()
        .chain(frac.bytes())
        .skip_while(|&b| b == b'0')
        .count();
    if significant > MAX_DIGITS {
        return Err(TOO_MANY_DIGITS);
    }
    if frac.len() > MAX_DIGITS {
        return Err(TOO_MANY_PLACES);
    }
    Ok(())
}

/// Whether `text` holds only what a number's text can (digits, a point, a sign, an exponent,
/// `_`): the details a decimal field names (`_` separators, an exponent) are told only of
/// such text.
fn number_like(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b".+-eE_".contains(&b))
}

/// Why a JSON number no decimal holds (`1e30`, `5e-324`) is refused: named by the rule it
/// breaks, which its sign and its exponent's sign tell, not as "not a number".
fn beyond_a_decimal(kind: Kind, text: &str) -> &'static str {
    let negative = text.starts_with('-');
    let tiny = text.contains("e-") || text.contains("E-");
    match (kind, negative, tiny) {
        (Kind::Size, true, _) => PLAIN_SIGNED,
        (Kind::Price, true, _) => "must be greater than zero",
        (Kind::Volume, true, _) => "must not be negative",
        (Kind::Size, false, true) => TOO_MANY_PLACES,
        (Kind::Price, false, true) => "must be at least 0.000000000001",
        (Kind::Volume, false, true) => "must be 0 or have at most 28 digits after the point",
        (Kind::Size | Kind::Price, false, false) => "must be at most 1000000000000",
        (Kind::Volume, false, false) => "is beyond a decimal's range",
    }
}

/// The significant digits of a number's text (`-0.00120` → 2, `1.5e-7` → 2, `100` → 1):
/// its digits before any exponent, without leading or trailing zeros.
fn significant_digits(text: &str) -> usize {
    let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    digits.trim_start_matches('0').trim_end_matches('0').len()
}

/// Whether `value` is a number, or a string holding one in any form a decimal parser takes
/// (`-1`, `007`, `1e3`): a position size such as TradingView's `strategy.position_size`,
/// which an exit does not use.
fn is_number(value: &Value) -> bool {
    let text = match value {
        Value::Number(_) => return true,
        Value::String(s) => s.trim(),
        _ => return false,
    };
    // `NaN` and the infinities too, quoted or bare (read as quoted): a placeholder of a series
    // whose value is `na` on that bar, which an exit must not be refused for.
    matches!(text, "NaN" | "Infinity" | "+Infinity" | "-Infinity")
        || text.parse::<Decimal>().is_ok()
        || Decimal::from_scientific(text).is_ok()
}

/// Decimals arrive as strings (`"1.08345"`, what the samples send) or JSON numbers; a JSON
/// number is read from its shortest round-trip text, never through arithmetic on an `f64`.
/// A string is taken as sent: padding is refused, not trimmed, and so is `_`, which
/// rust_decimal would skip. A size must be a plain decimal ([`plain_decimal`]).
fn decimal(
    obj: &Map<String, Value>,
    prefix: &str,
    key: &str,
    kind: Kind,
) -> Result<Decimal, AlertError> {
    let (text, number, float) = match get(obj, prefix, key)? {
        Value::String(s) => (s.clone(), false, false),
        Value::Number(n) => (n.to_string(), true, n.is_f64()),
        _ => return Err(invalid(&format!("{prefix}{key}"), "a decimal number")),
    };
    let bad = |reason| AlertError::InvalidNumber {
        field: format!("{prefix}{key}"),
        value: echo(&text),
        reason,
    };
    // A JSON number with a fraction or an exponent is read as an `f64` (serde_json), which
    // keeps 15 significant digits exactly and rounds the rest: `1234.56789012345678` came out
    // `1234.5678901234568`, traded and journaled so. Refused when the `f64`'s shortest text
    // shows that rounding (more than 15 significant digits): a size of more digits must come
    // as a string, which is read as sent. A number rounded to a short one
    // (`1.0000000000000001` reads 1) cannot be told from it once parsed, and is taken as it
    // reads. Checked once the value is otherwise valid, so a value out of range is told that
    // first.
    let rounded = kind == Kind::Size && float && significant_digits(&text) > 15;
    let parsed = if kind == Kind::Size {
        // A JSON number's text is serde_json's shortest round-trip form, which writes small
        // and large values with an exponent (`0.000001` sent comes out `1e-6`): the sender
        // wrote a number, not that text, so it is read as the plain decimal it stands for.
        let plain = if number && text.contains(['e', 'E']) {
            match Decimal::from_scientific(&text) {
                Ok(value) if value > LARGEST => return Err(bad("must be at most 1000000000000")),
                Ok(value) => value.normalize().to_string(),
                Err(_) => return Err(bad(beyond_a_decimal(kind, &text))),
            }
        } else {
            text.clone()
        };
        plain_decimal(&plain).map_err(bad)?;
        Decimal::from_str(&plain).map_err(|_| bad(PLAIN))?
    } else {
        if !number_like(text.trim()) {
            return Err(bad("not a decimal number"));
        }
        if text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace) {
            return Err(bad("must not have spaces around it"));
        }
        if text.contains('_') {
            return Err(bad("must not contain _ separators"));
        }
        if text.contains(['e', 'E']) {
            Decimal::from_scientific(&text).map_err(|_| {
                bad(if number {
                    beyond_a_decimal(kind, &text)
                } else {
                    "not a decimal number"
                })
            })?
        } else {
            Decimal::from_str(&text).map_err(|_| bad("not a decimal number"))?
        }
    };
    match kind {
        Kind::Size | Kind::Price if parsed <= Decimal::ZERO => {
            Err(bad("must be greater than zero"))
        }
        Kind::Size if rounded && parsed <= LARGEST => Err(bad(
            "has more than 15 significant digits, more than a JSON number keeps exactly: send \
             it as a string (\"1234.56789012345678\")",
        )),
        // No instrument of these brokers is priced, nor any order sized, beyond these; a value
        // far outside them overflows the notional arithmetic (price × quantity × multiplier).
        Kind::Size | Kind::Price if parsed > LARGEST => Err(bad("must be at most 1000000000000")),
        Kind::Price if parsed < SMALLEST_PRICE => Err(bad("must be at least 0.000000000001")),
        Kind::Volume if parsed < Decimal::ZERO => Err(bad("must not be negative")),
        _ => Ok(parsed.normalize()),
    }
}

/// The fields of placeholders written without quotes (`{{close}}` as a JSON value), when
/// quoting them makes the body valid JSON: `None` when there are none, or when the body is
/// invalid for another reason too (then the JSON error is the better answer).
fn unquoted_placeholders(body: &[u8]) -> Option<Vec<String>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut quoted = String::with_capacity(text.len() + 16);
    let (mut in_string, mut escaped, mut found) = (false, false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if let Some(at) = placeholder_start(rest)
            && let Some(end) = rest.find("}}")
            && !rest[at + 2..end].contains(['{', '}', '\n'])
        {
            // `-{{strategy.position_size}}` (a sign before it) is quoted whole.
            // `{{plot("RSI")}}` holds quotes: escaped, so the quoted placeholder stays valid.
            quoted.push('"');
            quoted.push_str(&rest[..end + 2].replace('\\', "\\\\").replace('"', "\\\""));
            quoted.push('"');
            rest = &rest[end + 2..];
            found = true;
            continue;
        }
        quoted.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !found {
        return None;
    }
    let root = match serde_json::from_str::<Value>(&quoted).ok()? {
        Value::Object(root) => root,
        // The whole body one placeholder (`{{strategy.order.alert_message}}` left as it is,
        // as on an alert that is not a strategy's order).
        Value::String(s) if s.contains("{{") => return Some(vec!["(the whole body)".into()]),
        _ => return None,
    };
    let mut fields = Vec::new();
    for (key, value) in &root {
        if key != "passphrase" {
            find_placeholders(key, value, &mut fields);
        }
    }
    fields.sort();
    (!fields.is_empty()).then_some(fields)
}

/// An alert body read as [`RawAlert::parse`] reads it: [`unique_keys`], a bare `NaN` or
/// `Infinity` where a value goes read as its quoted spelling. For tools that read an alert
/// file or body as the webhook would (`tvctl send`, the fuzzer's checks).
///
/// # Errors
/// serde_json's error for the body as sent, when neither reads.
pub fn read_alert_json(body: &[u8]) -> Result<Value, serde_json::Error> {
    unique_keys(body).or_else(|e| {
        bare_non_numbers(body)
            .and_then(|(copy, _)| unique_keys(copy.as_bytes()).ok())
            .ok_or(e)
    })
}

/// The column in the body as sent of serde_json's `column` on `line` of `copy`, the body with
/// its bare tokens quoted (two bytes added at each offset of `quotes`, the opening quote's in
/// `copy`; no line break is added).
fn column_as_sent(copy: &str, quotes: &[usize], line: usize, column: usize) -> usize {
    // Where the line starts in `copy`: after its `line - 1`th line break.
    let start = match line.checked_sub(2) {
        None => 0,
        Some(breaks) => copy
            .match_indices('\n')
            .nth(breaks)
            .map_or(copy.len(), |(at, _)| at + 1),
    };
    let at = start + column;
    let added = quotes.iter().filter(|&&q| q >= start && q < at).count();
    column.saturating_sub(2 * added)
}

/// `body` with each bare `NaN`, `Infinity`, `+Infinity` or `-Infinity` outside a string, where
/// a value goes (after `:` or `[`, or after `,` in an array), quoted (`"NaN"`), with the
/// offset in it of each
/// opening quote added; `None` when it holds none or is no UTF-8.
fn bare_non_numbers(body: &[u8]) -> Option<(String, Vec<usize>)> {
    const TOKENS: [&str; 4] = ["-Infinity", "+Infinity", "Infinity", "NaN"];
    let text = std::str::from_utf8(body).ok()?;
    let mut quoted = String::with_capacity(text.len() + 8);
    let (mut in_string, mut escaped) = (false, false);
    let mut quotes = Vec::new();
    // The last character outside a string that was not white space, and the containers open
    // (`{`, `[`): after a `,` a value goes only in an array (in an object a key does).
    let mut before = ' ';
    let mut open = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if (matches!(before, ':' | '[') || (before == ',' && open.last() == Some(&'[')))
            && let Some(token) = TOKENS.iter().find(|t| {
                rest.starts_with(**t)
                    && !rest[t.len()..]
                        .chars()
                        .next()
                        .is_some_and(|n| n.is_ascii_alphanumeric() || n == '_')
            })
        {
            quotes.push(quoted.len());
            quoted.push('"');
            quoted.push_str(token);
            quoted.push('"');
            rest = &rest[token.len()..];
            before = '"';
            continue;
        }
        if !in_string && !c.is_whitespace() {
            match c {
                '{' | '[' => open.push(c),
                '}' | ']' => {
                    open.pop();
                }
                _ => {}
            }
            before = c;
        }
        quoted.push(c);
        rest = &rest[c.len_utf8()..];
    }
    (!quotes.is_empty()).then_some((quoted, quotes))
}

/// Where a placeholder starts at the head of `rest`: `{{` at 0, or after a sign at 1.
fn placeholder_start(rest: &str) -> Option<usize> {
    if rest.starts_with("{{") {
        Some(0)
    } else if rest.starts_with("-{{") {
        Some(1)
    } else {
        None
    }
}

fn find_placeholders<'a>(path: &'a str, value: &'a Value, out: &mut Vec<String>) {
    let mut trail = vec![Step::Key(path)];
    walk_placeholders(&mut trail, value, out);
}

/// One step of the path to a nested value: a key, or an index into an array.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The path's text is built only for a value that holds a placeholder, not for every nested
/// value of every alert.
fn walk_placeholders<'a>(trail: &mut Vec<Step<'a>>, value: &'a Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            if let Some(open) = s.find("{{")
                && s[open..].contains("}}")
            {
                let mut path = String::new();
                for (i, step) in trail.iter().enumerate() {
                    match step {
                        Step::Key(k) if i == 0 => path.push_str(k),
                        Step::Key(k) => {
                            path.push('.');
                            path.push_str(k);
                        }
                        Step::Index(n) => path.push_str(&format!("[{n}]")),
                    }
                }
                // The sender picks the field names: echo each one bounded.
                out.push(echo(&path));
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                trail.push(Step::Key(k));
                walk_placeholders(trail, v, out);
                trail.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                trail.push(Step::Index(i));
                walk_placeholders(trail, v, out);
                trail.pop();
            }
        }
        _ => {}
    }
}

/// Canonical JSON: keys sorted at every level, no whitespace. Independent of serde_json's
/// map ordering features, so the SignalId cannot change when a dependency flips one on.
fn canonical_json(root: &Map<String, Value>) -> String {
    let mut out = Vec::with_capacity(512);
    write_object(root, &mut out);
    // Every piece is serde_json's output or ASCII punctuation: UTF-8 throughout.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn write_object(map: &Map<String, Value>, out: &mut Vec<u8>) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_unstable();
    out.push(b'{');
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(key, out);
        out.push(b':');
        write_value(&map[key], out);
    }
    out.push(b'}');
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        // As `n.to_string()`: a number's `Display` is serde_json's own text of it.
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(v, out);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map, out),
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // serde_json's escaping of a str, written in place (no string of its own per value);
    // writing to a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// `body` parsed as serde_json's `Value` would be, but a key given twice in one object is an
/// error (serde_json keeps the last silently): `"quantity": "1", ..., "quantity": "999999"`
/// from a template edited twice must not trade the one the sender did not mean. The error
/// carries the line and column, as a syntax error does. `tvctl send` reads alert files with it
/// too, so a file the webhook would refuse is refused before it is sent.
///
/// # Errors
/// serde_json's error: a syntax error, or a key given twice.
pub fn unique_keys(body: &[u8]) -> Result<Value, serde_json::Error> {
    use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};

    struct Unique;

    impl<'de> DeserializeSeed<'de> for Unique {
        type Value = Value;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Unique {
        type Value = Value;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(v) = seq.next_element_seed(Unique)? {
                items.push(v);
            }
            Ok(Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut out = serde_json::Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if out.contains_key(&key) {
                    // Cut like every echo: this runs before the secret is checked, and a
                    // sender's 16 KiB key must not come back in the answer and the log.
                    return Err(A::Error::custom(format_args!(
                        "the key {:?} appears twice in one object (keep one)",
                        crate::error::echo(&key)
                    )));
                }
                let value = map.next_value_seed(Unique)?;
                out.insert(key, value);
            }
            Ok(Value::Object(out))
        }
    }

    let mut de = serde_json::Deserializer::from_slice(body);
    let value = Unique.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}
