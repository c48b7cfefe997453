//! Front months from Databento: for each futures root, which contract leads by volume today,
//! written to the front-month cache the router reads ([`shared::front_month`]).
//!
//! Databento's continuous symbology names a root's volume leader `ROOT.v.0` (rank 0 by
//! volume), and `symbology.resolve` maps it to the raw exchange symbol (`ESZ6` on
//! `GLBX.MDP3`, CME Globex): <https://databento.com/docs/standards-and-conventions/symbology>
//! and <https://databento.com/docs/api-reference-historical/symbology/symbology-resolve>.
//! The call goes through Databento's official Rust client (`databento`). The answer is cached
//! with a TTL; a failed run writes nothing, so the router keeps the last answers until they
//! age out and then falls back to the routing table's roll rule.

use chrono::{DateTime, Duration, Utc};
use databento::dbn::SType;
use databento::historical::symbology::ResolveParams;
use secrecy::{ExposeSecret, SecretString};
use shared::clock::Clock;
use shared::front_month::{FrontMonth, FrontMonthCache};
use std::collections::BTreeMap;
use tokio::sync::Mutex;
use tracing::{info, warn};

/// CME Globex MDP 3.0, where the CME, CBOT, NYMEX and COMEX futures the router routes trade.
pub const DEFAULT_DATASET: &str = "GLBX.MDP3";

/// How many days before the day asked for the last interval of an answer may have ended and
/// still be taken (a long weekend: Friday's session to Tuesday), when none covers the day.
const LATEST_GAP_DAYS: i64 = 4;

/// How long a cached answer lives (DynamoDB TTL): longer than the router trusts it.
pub const CACHE_TTL: Duration = Duration::days(3);

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("Databento: {0}")]
    Databento(String),
    #[error("front-month cache: {0}")]
    Cache(String),
    #[error("{missing} of {asked} roots got no front month from Databento: {roots}")]
    Unresolved {
        missing: usize,
        asked: usize,
        roots: String,
    },
}

/// Databento's historical API, for symbology only.
pub struct Databento {
    client: Mutex<databento::HistoricalClient>,
    dataset: String,
    /// The key's value and its HTTP Basic form (base64 of `key:`, as Databento's client sends
    /// it), written `[REDACTED]` in any error text: a proxy or a debugging server at the base
    /// URL can echo the request's headers into its answer, which the client puts in its error.
    scrub: [SecretString; 2],
}

impl std::fmt::Debug for Databento {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Databento")
            .field("dataset", &self.dataset)
            .finish_non_exhaustive()
    }
}

impl Databento {
    /// A client for `dataset`; `base_url` replaces Databento's own (tests, a local server).
    pub fn new(
        key: &SecretString,
        dataset: &str,
        base_url: Option<&str>,
    ) -> Result<Self, RefreshError> {
        // The client logs a key it finds malformed, whole: refuse such a key here instead, without
        // quoting it (a key pasted with a non-breaking space, say).
        let raw = key.expose_secret();
        if !raw.chars().all(|c| c.is_ascii_graphic()) {
            return Err(RefreshError::Databento(
                "API key: not plain ASCII without spaces (pasted with a stray character?)".into(),
            ));
        }
        let mut builder = databento::HistoricalClient::builder()
            .key(raw)
            .map_err(|e| RefreshError::Databento(format!("API key: {e}")))?;
        if let Some(url) = base_url {
            let url: reqwest::Url = url
                .parse()
                // Not quoted: a key or a URL with credentials pasted here would be printed.
                .map_err(|e| {
                    RefreshError::Databento(format!(
                        "DATABENTO_BASE_URL is not a URL ({e}); give the API's base URL, \
                         like https://hist.databento.com"
                    ))
                })?;
            // The key goes in every request's `Authorization` header: never over plain HTTP to
            // another machine, as the broker clients refuse too.
            if let Some(why) = shared::config::base_url_refusal(
                "DATABENTO_BASE_URL",
                url.scheme(),
                url.host_str(),
                "Databento's https://… base URL, like https://hist.databento.com",
            ) {
                return Err(RefreshError::Databento(why));
            }
            builder = builder.base_url(url);
        }
        let client = builder
            .build()
            .map_err(|e| RefreshError::Databento(e.to_string()))?;
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{raw}:"));
        Ok(Self {
            client: Mutex::new(client),
            dataset: dataset.to_owned(),
            scrub: [
                SecretString::from(raw.to_owned()),
                SecretString::from(basic),
            ],
        })
    }

    /// `text` (an error of Databento's client) with the key in either form written
    /// `[REDACTED]`, cut to 200 characters.
    fn shown(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.scrub {
            let secret = secret.expose_secret();
            if !secret.is_empty() {
                text = text.replace(secret, "[REDACTED]");
            }
        }
        text.chars().take(200).collect()
    }

    /// Each root's volume leader on `date` (UTC), as Databento's raw symbol.
    pub async fn leaders(
        &self,
        roots: &[String],
        date: DateTime<Utc>,
    ) -> Result<BTreeMap<String, String>, RefreshError> {
        let day = time::Date::from_ordinal_date(
            chrono::Datelike::year(&date),
            u16::try_from(chrono::Datelike::ordinal(&date)).unwrap_or(1),
        )
        .map_err(|e| RefreshError::Databento(format!("date: {e}")))?;
        let next = day
            .next_day()
            .ok_or_else(|| RefreshError::Databento("date out of range".into()))?;
        let symbols: Vec<String> = roots.iter().map(|r| format!("{r}.v.0")).collect();
        let params = ResolveParams::builder()
            .dataset(self.dataset.clone())
            .symbols(symbols)
            .stype_in(SType::Continuous)
            .stype_out(SType::RawSymbol)
            .date_range(day..next)
            .build();
        let resolution = self
            .client
            .lock()
            .await
            .symbology()
            .resolve(&params)
            .await
            .map_err(|e| RefreshError::Databento(self.shown(&e.to_string())))?;
        let mut out = BTreeMap::new();
        for root in roots {
            let Some(intervals) = resolution.mappings.get(&format!("{root}.v.0")) else {
                continue;
            };
            // The interval covering the day; failing that, the last one, if it ended at most
            // `LATEST_GAP_DAYS` before the day (a weekend or holiday without a session) and
            // did not start after it. An older one is no leader of today: cached with this
            // run's `as_of`, it would pass as fresh on every run; the root counts as missing.
            if let Some(m) = intervals
                .iter()
                .rev()
                .find(|m| m.start_date <= day && day < m.end_date)
                .or_else(|| {
                    intervals.last().filter(|m| {
                        m.start_date <= day
                            && m.end_date
                                .checked_add(time::Duration::days(LATEST_GAP_DAYS))
                                .is_none_or(|until| until >= day)
                    })
                })
            {
                out.insert(root.clone(), m.symbol.clone());
            }
        }
        Ok(out)
    }
}

/// One refresh: asks for every root, writes each answer that names a contract of its root,
/// and fails (for the alarm) when a root got none. Answers are written even when some roots
/// fail, so one delisted root does not starve the others.
pub async fn refresh(
    source: &Databento,
    cache: &dyn FrontMonthCache,
    roots: &[String],
    clock: &impl Clock,
) -> Result<usize, RefreshError> {
    let now = clock.now();
    let leaders = source.leaders(roots, now).await?;
    let mut written = 0;
    let mut missing = Vec::new();
    for root in roots {
        match leaders.get(root) {
            Some(contract) if is_contract_of(contract, root) => {
                let front = FrontMonth {
                    root: root.clone(),
                    contract: contract.clone(),
                    as_of: now,
                };
                cache
                    .put(&front, now + CACHE_TTL)
                    .await
                    .map_err(|e| RefreshError::Cache(e.to_string()))?;
                info!(
                    root = root.as_str(),
                    contract = contract.as_str(),
                    "front month cached"
                );
                written += 1;
            }
            Some(other) => {
                warn!(
                    root = root.as_str(),
                    answer = other.as_str(),
                    "Databento's answer is not a contract of the root; not cached"
                );
                missing.push(root.clone());
            }
            None => missing.push(root.clone()),
        }
    }
    if missing.is_empty() {
        Ok(written)
    } else {
        Err(RefreshError::Unresolved {
            missing: missing.len(),
            asked: roots.len(),
            roots: missing.join(", "),
        })
    }
}

/// `ESZ6` is a contract of `ES`: the root, a month code, one year digit.
pub fn is_contract_of(contract: &str, root: &str) -> bool {
    contract.strip_prefix(root).is_some_and(|rest| {
        let b = rest.as_bytes();
        b.len() == 2 && b"FGHJKMNQUVXZ".contains(&b[0]) && b[1].is_ascii_digit()
    })
}

#[cfg(test)]
mod tests {
    use super::is_contract_of;

    /// A base URL that does not parse is named by its variable, never quoted: a key pasted
    /// there would be printed with the error.
    #[test]
    fn a_base_url_that_does_not_parse_is_named_not_quoted() {
        let key = secrecy::SecretString::from("db-test-key-0123456789abcdefghij".to_owned());
        let err =
            super::Databento::new(&key, "GLBX.MDP3", Some("db-wrong-key-0123456789abcdefghi"))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
        assert!(err.contains("DATABENTO_BASE_URL is not a URL"), "{err}");
        assert!(!err.contains("db-wrong-key"), "{err}");
    }

    #[test]
    fn a_contract_of_a_root_is_the_root_a_month_code_and_a_year_digit() {
        assert!(is_contract_of("ESZ6", "ES"));
        assert!(is_contract_of("MNQH7", "MNQ"));
        assert!(!is_contract_of("MESZ6", "ES"));
        assert!(!is_contract_of("ESZ26", "ES"));
        assert!(!is_contract_of("ESA6", "ES"));
        assert!(!is_contract_of("ESZ6-ESH7", "ES"));
    }
}
