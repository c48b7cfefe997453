//! Which Tradovate account a process trades, decided once at start.
//!
//! A login may see several accounts (a demo and a live one, or one per strategy). Trading the
//! first of the list would put orders on an account nobody chose, so with more than one the
//! choice must be made explicitly with `TRADOVATE_ACCOUNT`.

use crate::client::TradovateClient;
use crate::error::TvError;
use crate::models::Account;
use secrecy::SecretString;
use std::fmt;

/// The setting that names the account to trade.
pub const SETTING: &str = "TRADOVATE_ACCOUNT";

/// An account the login sees, as an error shows it: id and name. Both are identifiers the
/// broker shows in its UI, not credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenAccount {
    pub id: crate::models::AccountId,
    pub name: String,
}

impl From<&Account> for SeenAccount {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id,
            name: a.name.clone(),
        }
    }
}

/// Why no account could be chosen. Each message says what was seen and what to do.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("Tradovate accounts could not be listed: {0}")]
    List(#[from] TvError),
    #[error("the Tradovate login sees no account: there is nothing to trade")]
    NoAccount,
    #[error(
        "the Tradovate login sees {} accounts ({}): set {SETTING} to the name of the one to trade",
        .seen.len(),
        Listed(.seen)
    )]
    Unchosen { seen: Vec<SeenAccount> },
    #[error(
        "{SETTING}={wanted:?} matches none of the accounts the Tradovate login sees ({})",
        Listed(.seen)
    )]
    NoMatch {
        wanted: String,
        seen: Vec<SeenAccount>,
    },
    #[error(
        "{SETTING}={wanted:?} matches more than one account the Tradovate login sees ({})",
        Listed(.seen)
    )]
    Ambiguous {
        wanted: String,
        seen: Vec<SeenAccount>,
    },
}

/// The accounts of an error, bounded: the broker decides how many there are.
struct Listed<'a>(&'a [SeenAccount]);

impl fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 20;
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, a) in self.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            // Debug-quoted: a name is the broker's text and may hold anything.
            write!(f, "{:?} id {}", a.name, a.id)?;
        }
        if self.0.len() > SHOWN {
            write!(f, " and {} more", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// The account to trade among those the login sees, `wanted` being `TRADOVATE_ACCOUNT`: the
/// account of that exact name, or with no setting the only account. Several accounts and no
/// setting, a setting that matches none (or several), or no account at all, is an error:
/// never a guess.
pub fn choose(accounts: Vec<Account>, wanted: Option<&str>) -> Result<Account, AccountError> {
    let seen = || accounts.iter().map(SeenAccount::from).collect::<Vec<_>>();
    let Some(wanted) = wanted else {
        return match <[Account; 1]>::try_from(accounts) {
            Ok([only]) => Ok(only),
            Err(accounts) if accounts.is_empty() => Err(AccountError::NoAccount),
            Err(accounts) => Err(AccountError::Unchosen {
                seen: accounts.iter().map(SeenAccount::from).collect(),
            }),
        };
    };
    let mut matching = accounts.iter().filter(|a| a.name == wanted);
    match (matching.next(), matching.next()) {
        (Some(one), None) => Ok(one.clone()),
        (None, _) => Err(AccountError::NoMatch {
            wanted: wanted.to_owned(),
            seen: seen(),
        }),
        (Some(_), Some(_)) => Err(AccountError::Ambiguous {
            wanted: wanted.to_owned(),
            seen: seen(),
        }),
    }
}

/// Lists the accounts the login sees and [`choose`]s one: what every process that trades
/// Tradovate does at start.
pub async fn resolve(
    client: &TradovateClient,
    token: &SecretString,
    wanted: Option<&str>,
) -> Result<Account, AccountError> {
    choose(client.accounts(token).await?, wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts(list: &[(i64, &str)]) -> Vec<Account> {
        list.iter()
            .map(|&(id, name)| Account {
                id: crate::models::AccountId(id),
                name: name.to_owned(),
            })
            .collect()
    }

    fn chosen(result: Result<Account, AccountError>) -> (i64, String) {
        let a = result.unwrap_or_else(|e| panic!("no account chosen: {e}"));
        (a.id.0, a.name)
    }

    #[test]
    fn the_only_account_is_traded_without_a_setting() {
        assert_eq!(
            chosen(choose(accounts(&[(7, "DEMO1")]), None)),
            (7, "DEMO1".into())
        );
    }

    #[test]
    fn the_setting_picks_its_account_by_exact_name() {
        let list = &[(7, "DEMO1"), (8, "LIVE2"), (9, "DEMO3")];
        assert_eq!(
            chosen(choose(accounts(list), Some("LIVE2"))),
            (8, "LIVE2".into())
        );
        // The only account, named: still that account.
        assert_eq!(
            chosen(choose(accounts(&[(7, "DEMO1")]), Some("DEMO1"))),
            (7, "DEMO1".into())
        );
    }

    #[test]
    fn several_accounts_without_a_setting_are_refused_naming_them_and_the_setting() {
        let err = choose(accounts(&[(7, "DEMO1"), (8, "LIVE2")]), None).unwrap_err();
        let AccountError::Unchosen { seen } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(seen.len(), 2);
        assert_eq!(
            err.to_string(),
            "the Tradovate login sees 2 accounts (\"DEMO1\" id 7, \"LIVE2\" id 8): set \
             TRADOVATE_ACCOUNT to the name of the one to trade"
        );
    }

    #[test]
    fn a_setting_that_matches_no_account_is_refused_naming_it_and_the_accounts() {
        for list in [&[(7, "DEMO1")][..], &[(7, "DEMO1"), (8, "LIVE2")]] {
            // Names match exactly: no trimming, no case folding, and an id is not a name.
            for wanted in ["demo1", "DEMO", "7", "DEMO1 "] {
                let err = choose(accounts(list), Some(wanted)).unwrap_err();
                assert!(matches!(err, AccountError::NoMatch { .. }), "{err:?}");
                let message = err.to_string();
                assert!(
                    message.starts_with(&format!("TRADOVATE_ACCOUNT={wanted:?} matches none")),
                    "{message}"
                );
                assert!(message.contains("\"DEMO1\" id 7"), "{message}");
            }
        }
    }

    #[test]
    fn a_name_two_accounts_share_is_refused() {
        let err = choose(accounts(&[(7, "DEMO1"), (8, "DEMO1")]), Some("DEMO1")).unwrap_err();
        assert!(matches!(err, AccountError::Ambiguous { .. }), "{err:?}");
        assert!(err.to_string().contains("id 8"), "{err}");
    }

    #[test]
    fn no_account_at_all_is_refused_with_or_without_a_setting() {
        assert!(matches!(
            choose(Vec::new(), None),
            Err(AccountError::NoAccount)
        ));
        let err = choose(Vec::new(), Some("DEMO1")).unwrap_err();
        assert!(matches!(err, AccountError::NoMatch { .. }), "{err:?}");
        assert!(err.to_string().ends_with("(none)"), "{err}");
    }

    #[test]
    fn a_long_list_is_cut_in_the_message() {
        let list: Vec<_> = (0..25)
            .map(|id| Account {
                id: crate::models::AccountId(id),
                name: format!("A{id}"),
            })
            .collect();
        let message = choose(list, None).unwrap_err().to_string();
        assert!(message.contains("sees 25 accounts"), "{message}");
        assert!(message.contains("\"A19\" id 19 and 5 more"), "{message}");
        assert!(!message.contains("A20"), "{message}");
    }
}
