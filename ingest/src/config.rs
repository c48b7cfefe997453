//! Ingest settings, read once at cold start.

use secrecy::{ExposeSecret, SecretString};
use shared::RoutingTable;
use shared::alert::Freshness;
use shared::config::{ConfigError, Env};
use shared::routing::Broker;
use std::net::IpAddr;

/// TradingView's documented webhook source addresses.
pub const TRADINGVIEW_IPS: [&str; 4] = [
    "52.89.214.238",
    "34.212.75.30",
    "54.218.53.128",
    "52.32.178.7",
];

/// A webhook secret shorter than this is refused at start: it would be guessable.
pub const MIN_SECRET_LEN: usize = 16;

/// Where the webhook secret comes from.
#[derive(Debug)]
pub enum SecretSource {
    /// `WEBHOOK_SECRET`, for local runs.
    Value(SecretString),
    /// `WEBHOOK_SECRET_PARAM`: an SSM SecureString parameter name, read at cold start.
    SsmParameter(String),
}

#[derive(Debug)]
pub struct IngestConfig {
    pub signals_queue_url: String,
    pub secret: SecretSource,
    pub freshness: Freshness,
    /// `None`: every source address may post (the secret still applies).
    pub ip_allowlist: Option<Vec<IpAddr>>,
    pub routing: RoutingTable,
    /// The brokers whose executors are deployed: an alert routed to another is refused.
    pub brokers: Vec<Broker>,
    /// `HEALTH_TABLE`: the DynamoDB table the status routes read; `None`, they answer
    /// `unknown`.
    pub health_table: Option<String>,
}

impl IngestConfig {
    /// Settings: `SIGNALS_QUEUE_URL`; `WEBHOOK_SECRET` or `WEBHOOK_SECRET_PARAM`;
    /// `MAX_ALERT_AGE_SECS` (30, 1 to 86,400); `MAX_CLOCK_SKEW_SECS` (5, 0 to 300);
    /// `IP_ALLOWLIST` (`off`,
    /// `tradingview`, or a comma-separated list of addresses); `ROUTING_TABLE_FILE`;
    /// `DEPLOYED_BROKERS` (a comma-separated list of `oanda`, `tradovate`, `coinbase`; unset:
    /// all three); `HEALTH_TABLE`. `IP_ALLOWLIST`, `DEPLOYED_BROKERS` and `HEALTH_TABLE` set
    /// but blank are refused (named), not read as unset.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let signals_queue_url = env.required("SIGNALS_QUEUE_URL")?;
        let secret = match (
            env.optional("WEBHOOK_SECRET"),
            env.optional("WEBHOOK_SECRET_PARAM"),
        ) {
            (Some(value), _) => {
                SecretSource::Value(check_secret(SecretString::from(value), "WEBHOOK_SECRET")?)
            }
            (None, Some(param)) => SecretSource::SsmParameter(param),
            (None, None) => {
                return Err(ConfigError::Missing {
                    name: "WEBHOOK_SECRET or WEBHOOK_SECRET_PARAM".into(),
                });
            }
        };
        // The executors and `tvctl dev` hold the same ranges: an age of 0 would refuse every
        // alert, and a large skew would let one alert stamped ahead supersede every real
        // alert of its instrument until the clock caught up.
        let max_age = within(env, "MAX_ALERT_AGE_SECS", 30, 1..=86_400)?;
        let max_skew = within(env, "MAX_CLOCK_SKEW_SECS", 5, 0..=300)?;
        let freshness = Freshness {
            max_age: chrono::Duration::seconds(max_age.into()),
            max_skew: chrono::Duration::seconds(max_skew.into()),
        };
        Ok(Self {
            signals_queue_url,
            secret,
            freshness,
            ip_allowlist: parse_allowlist(
                env.unset_or_given("IP_ALLOWLIST", "no address check (off)")?
                    .as_deref(),
            )?,
            routing: RoutingTable::from_env(env)?,
            // Blank is not every broker: an alert for one with no executor would be answered
            // 200 and wait in a queue nothing reads.
            brokers: parse_brokers(
                env.unset_or_given("DEPLOYED_BROKERS", "every broker")?
                    .as_deref(),
            )?,
            health_table: env
                .unset_or_given("HEALTH_TABLE", "status routes that answer unknown")?,
        })
    }
}

/// A whole number of seconds from `name` (`default` when unset), refused naming `name` when
/// outside `range`.
fn within(
    env: &impl Env,
    name: &str,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, ConfigError> {
    let value: u32 = env.parsed_or(name, default)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::Invalid {
            name: name.into(),
            reason: format!("{value} is outside {} to {}", range.start(), range.end()),
        })
    }
}

/// [`check_secret`] for the secret read from the SSM parameter `name`
/// (`WEBHOOK_SECRET_PARAM`), trimmed first as every other stored credential is: a parameter
/// stored from a file (`--value file://secret.txt`) keeps the file's newline, and the
/// untrimmed value, refused as not URL-safe, failed every cold start (each alert answered
/// 502, never resent by TradingView).
pub fn check_stored_secret(stored: SecretString, name: &str) -> Result<SecretString, ConfigError> {
    check_secret(
        SecretString::from(stored.expose_secret().trim().to_owned()),
        &format!("WEBHOOK_SECRET_PARAM (the SSM parameter {name})"),
    )
}

/// Checks a secret read from SSM or the environment; a refusal names `setting`, where the
/// secret came from (`WEBHOOK_SECRET`, or `WEBHOOK_SECRET_PARAM` and its parameter), never
/// the secret.
pub fn check_secret(secret: SecretString, setting: &str) -> Result<SecretString, ConfigError> {
    if secret.expose_secret().chars().count() < MIN_SECRET_LEN {
        return Err(ConfigError::Invalid {
            name: setting.into(),
            reason: format!("must be at least {MIN_SECRET_LEN} characters"),
        });
    }
    // It may travel in the URL path, where a path segment carries unreserved characters and
    // sub-delimiters, `:` and `@` as they are (RFC 3986, 3.3); clients percent-encode the
    // rest (`"`, `\`, `<`, `{`, a space, …), which would then never match, and `/ ? # %`
    // would change the route. `"` and `\` would also be escaped in JSON, where the secret
    // is looked for to redact it.
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@".contains(c);
    if !secret.expose_secret().chars().all(allowed) {
        return Err(ConfigError::Invalid {
            name: setting.into(),
            reason: "must be URL-safe: letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : @ \
                     only (it may travel in the URL path)"
                .into(),
        });
    }
    Ok(secret)
}

/// `DEPLOYED_BROKERS`: broker names, comma-separated; unset, every broker.
fn parse_brokers(raw: Option<&str>) -> Result<Vec<Broker>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Broker::ALL.to_vec());
    };
    let mut brokers = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let broker = Broker::ALL
            .into_iter()
            .find(|b| b.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| ConfigError::Invalid {
                name: "DEPLOYED_BROKERS".into(),
                reason: format!("{name:?} is not a broker (oanda, tradovate, coinbase)"),
            })?;
        if !brokers.contains(&broker) {
            brokers.push(broker);
        }
    }
    if brokers.is_empty() {
        return Err(ConfigError::Invalid {
            name: "DEPLOYED_BROKERS".into(),
            reason: "names no broker".into(),
        });
    }
    Ok(brokers)
}

fn parse_allowlist(raw: Option<&str>) -> Result<Option<Vec<IpAddr>>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: "IP_ALLOWLIST".into(),
        reason,
    };
    match raw.map(str::to_ascii_lowercase).as_deref() {
        None | Some("off") => Ok(None),
        Some("tradingview") => Ok(Some(
            TRADINGVIEW_IPS
                .iter()
                .filter_map(|ip| ip.parse().ok())
                .collect(),
        )),
        Some(list) => list
            .split(',')
            .map(|ip| {
                ip.trim()
                    .parse()
                    .map_err(|_| invalid(format!("{:?} is not an IP address", ip.trim())))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::config::MapEnv;

    fn env(extra: &[(&str, &str)]) -> MapEnv {
        let mut pairs = vec![("SIGNALS_QUEUE_URL", "http://q/signals.fifo")];
        pairs.extend_from_slice(extra);
        MapEnv::new(pairs)
    }

    #[test]
    fn defaults_need_only_a_queue_and_a_secret() {
        let cfg = IngestConfig::from_env(&env(&[("WEBHOOK_SECRET", "0123456789abcdef")])).unwrap();
        assert_eq!(cfg.freshness, Freshness::default());
        assert_eq!(cfg.ip_allowlist, None);
        assert_eq!(cfg.brokers, Broker::ALL);
        assert!(!format!("{cfg:?}").contains("0123456789abcdef"));
    }

    /// A secret refused names the setting it came from: the SSM parameter's for one read
    /// from SSM (the operator never set `WEBHOOK_SECRET`), never the secret.
    #[test]
    fn a_refused_secret_names_where_it_came_from() {
        let err = IngestConfig::from_env(&env(&[("WEBHOOK_SECRET", "short-one")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("WEBHOOK_SECRET") && !err.contains("short-one"),
            "{err}"
        );
        let setting = "WEBHOOK_SECRET_PARAM (the SSM parameter /tv/webhook)";
        let err = check_secret(SecretString::from("has/a/slash-0123456789"), setting)
            .unwrap_err()
            .to_string();
        assert!(err.contains(setting) && !err.contains("slash"), "{err}");
    }

    /// A secret stored in SSM with a file's newline (or spaces around it) is read trimmed;
    /// one with a space inside is still refused, naming the parameter, never the secret.
    #[test]
    fn a_stored_secret_is_trimmed() {
        let secret = check_stored_secret(
            SecretString::from(" 0123456789abcdef\n".to_owned()),
            "/tv/webhook",
        )
        .unwrap();
        assert_eq!(secret.expose_secret(), "0123456789abcdef");
        let err = check_stored_secret(
            SecretString::from("01234567 89abcdef\n".to_owned()),
            "/tv/webhook",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("WEBHOOK_SECRET_PARAM (the SSM parameter /tv/webhook)")
                && !err.contains("01234567"),
            "{err}"
        );
    }

    #[test]
    fn deployed_brokers_are_read_and_a_wrong_name_is_named() {
        let with = |v: &str| {
            IngestConfig::from_env(&env(&[
                ("WEBHOOK_SECRET", "0123456789abcdef"),
                ("DEPLOYED_BROKERS", v),
            ]))
        };
        assert_eq!(
            with("oanda, Coinbase,oanda").unwrap().brokers,
            [Broker::Oanda, Broker::Coinbase]
        );
        let err = with("oanda,binance").unwrap_err().to_string();
        assert!(
            err.contains("DEPLOYED_BROKERS") && err.contains("\"binance\""),
            "{err}"
        );
        let err = with(" , ").unwrap_err().to_string();
        assert!(err.contains("names no broker"), "{err}");
    }

    /// A setting whose absence means something (every broker, no address check, no health
    /// table) is refused set but blank, naming it: read as unset, a blank DEPLOYED_BROKERS
    /// accepted alerts for brokers with no executor, left in a queue nothing reads.
    #[test]
    fn blank_settings_whose_absence_means_something_are_refused() {
        for name in ["DEPLOYED_BROKERS", "IP_ALLOWLIST", "HEALTH_TABLE"] {
            for blank in ["", "  "] {
                let err = IngestConfig::from_env(&env(&[
                    ("WEBHOOK_SECRET", "0123456789abcdef"),
                    (name, blank),
                ]))
                .unwrap_err()
                .to_string();
                assert!(
                    err.contains(name) && err.contains("set but empty"),
                    "{name}={blank:?}: {err}"
                );
            }
        }
        let cfg = IngestConfig::from_env(&env(&[
            ("WEBHOOK_SECRET", "0123456789abcdef"),
            ("HEALTH_TABLE", " tv-health "),
        ]))
        .unwrap();
        assert_eq!(cfg.health_table.as_deref(), Some("tv-health"));
    }

    /// The freshness limits hold the executors' and `tvctl dev`'s ranges: an age of 0 would
    /// refuse every alert, a day's skew let one alert stamped ahead supersede the rest.
    #[test]
    fn freshness_limits_out_of_range_are_named() {
        let with = |pairs: &[(&str, &str)]| {
            let mut all = vec![("WEBHOOK_SECRET", "0123456789abcdef")];
            all.extend_from_slice(pairs);
            IngestConfig::from_env(&env(&all))
        };
        for (name, value, range) in [
            ("MAX_ALERT_AGE_SECS", "0", "1 to 86400"),
            ("MAX_ALERT_AGE_SECS", "86401", "1 to 86400"),
            ("MAX_CLOCK_SKEW_SECS", "301", "0 to 300"),
            ("MAX_CLOCK_SKEW_SECS", "86400", "0 to 300"),
        ] {
            let err = with(&[(name, value)]).unwrap_err().to_string();
            assert!(
                err.contains(name) && err.contains(&format!("{value} is outside {range}")),
                "{name}={value}: {err}"
            );
        }
        let cfg = with(&[
            ("MAX_ALERT_AGE_SECS", "86400"),
            ("MAX_CLOCK_SKEW_SECS", "0"),
        ])
        .unwrap();
        assert_eq!(cfg.freshness.max_age, chrono::Duration::seconds(86_400));
        assert_eq!(cfg.freshness.max_skew, chrono::Duration::zero());
    }

    #[test]
    fn missing_and_invalid_settings_are_named() {
        let err = IngestConfig::from_env(&MapEnv::default()).unwrap_err();
        assert_eq!(err.to_string(), "missing setting SIGNALS_QUEUE_URL");
        let err = IngestConfig::from_env(&env(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing setting WEBHOOK_SECRET or WEBHOOK_SECRET_PARAM"
        );
        let err = IngestConfig::from_env(&env(&[("WEBHOOK_SECRET", "short")])).unwrap_err();
        assert!(err.to_string().contains("WEBHOOK_SECRET") && !err.to_string().contains("short"));
        // Characters a client would percent-encode in the path, or JSON would escape.
        for secret in [
            "0123456789abcde\"",
            "0123456789abcde\\",
            "0123456789abcde{",
            "0123456789abcde^",
            "0123456789 abcde",
            "0123456789abcde/",
        ] {
            let err = IngestConfig::from_env(&env(&[("WEBHOOK_SECRET", secret)])).unwrap_err();
            assert!(
                err.to_string().contains("must be URL-safe"),
                "{secret}: {err}"
            );
        }
        assert!(
            IngestConfig::from_env(&env(&[("WEBHOOK_SECRET", "a-b.c_d~e!f$g&h'(i)*+,;=:@")]))
                .is_ok()
        );
        let err = IngestConfig::from_env(&env(&[
            ("WEBHOOK_SECRET_PARAM", "/p"),
            ("IP_ALLOWLIST", "1.2.3.4,nope"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("IP_ALLOWLIST") && err.to_string().contains("nope"));
    }

    #[test]
    fn allowlist_tradingview_means_the_four_documented_addresses() {
        let cfg = IngestConfig::from_env(&env(&[
            ("WEBHOOK_SECRET_PARAM", "/tv/secret"),
            ("IP_ALLOWLIST", "TradingView"),
        ]))
        .unwrap();
        assert_eq!(cfg.ip_allowlist.unwrap().len(), 4);
        assert!(matches!(cfg.secret, SecretSource::SsmParameter(p) if p == "/tv/secret"));
    }
}
