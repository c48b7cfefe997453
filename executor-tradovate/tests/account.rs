//! The account choice at start, through the real client against the fake Tradovate server.
#![allow(clippy::unwrap_used)]

use broker_fakes::tradovate::{ACCOUNT_ID, ACCOUNT_NAME, PASSWORD, SEC};
use chrono::{DateTime, Utc};
use executor_tradovate::account::{AccountError, resolve};
use executor_tradovate::client::{ClientSettings, TradovateClient};

mod support;

use support::credentials;

#[tokio::test]
async fn the_account_is_the_only_one_or_the_named_one_and_never_a_guess() {
    let now: DateTime<Utc> = "2026-11-23T14:32:00Z".parse().unwrap();
    let (fake, _check) = support::checked_fake(now).await;
    let client = TradovateClient::new(&fake.url, ClientSettings::default()).unwrap();
    let token = client
        .request_token(&credentials())
        .await
        .unwrap()
        .access_token;

    // One account and no setting: that account.
    let only = resolve(&client, &token, None).await.unwrap();
    assert_eq!((only.id.0, only.name.as_str()), (ACCOUNT_ID, ACCOUNT_NAME));

    fake.set_accounts(vec![
        (ACCOUNT_ID, ACCOUNT_NAME.into()),
        (555_001, "LIVE777".into()),
    ]);

    // Several accounts and no setting: the start fails, naming them and the setting.
    let err = resolve(&client, &token, None).await.unwrap_err();
    assert!(matches!(err, AccountError::Unchosen { .. }), "{err:?}");
    let message = err.to_string();
    for part in [
        format!("{ACCOUNT_NAME:?} id {ACCOUNT_ID}"),
        "\"LIVE777\" id 555001".to_owned(),
        "set TRADOVATE_ACCOUNT".to_owned(),
    ] {
        assert!(message.contains(&part), "{message} lacks {part}");
    }

    // The setting picks its account, whichever place it has in the list.
    let live = resolve(&client, &token, Some("LIVE777")).await.unwrap();
    assert_eq!((live.id.0, live.name.as_str()), (555_001, "LIVE777"));

    // A setting that matches none: the start fails, naming the setting and the accounts.
    let err = resolve(&client, &token, Some("LIVE778")).await.unwrap_err();
    assert!(matches!(err, AccountError::NoMatch { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with("TRADOVATE_ACCOUNT=\"LIVE778\" matches none"),
        "{message}"
    );
    assert!(message.contains("\"LIVE777\" id 555001"), "{message}");

    // No credential reaches an error, whatever it says.
    for err in [
        resolve(&client, &token, None).await.unwrap_err(),
        resolve(&client, &token, Some("LIVE778")).await.unwrap_err(),
    ] {
        let shown = format!("{err} {err:?}");
        for secret in [PASSWORD, SEC] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}

/// A stored token Tradovate no longer takes, though its expiry has not come (its session ended:
/// another login with the same credentials, a changed password): the start logs in again once
/// and chooses the account, where it used to fail every cold start until the refresher ran.
#[tokio::test]
async fn a_start_with_a_revoked_stored_token_logs_in_again() {
    use executor_tradovate::config::TradovateSettings;
    use executor_tradovate::venue::VenueSettings;
    use shared::clock::ManualClock;
    use shared::memory::{MemoryLeaseLock, MemoryTokenStore};
    use std::sync::Arc;
    let now: DateTime<Utc> = "2026-11-23T14:32:00Z".parse().unwrap();
    let (fake, _check) = support::checked_fake(now).await;
    let clock = ManualClock::new(now);
    let tokens = Arc::new(support::tokens(
        &fake,
        Arc::new(MemoryTokenStore::default()),
        Arc::new(MemoryLeaseLock::default()),
        clock.clone(),
        "executor",
    ));
    // An earlier process logged in and stored its token; the server then ended the session.
    tokens.token().await.unwrap();
    fake.expire_tokens();
    let settings = TradovateSettings {
        base_url: fake.url.clone(),
        account: None,
        credentials: credentials(),
    };
    let venue = settings
        .venue(tokens, clock, VenueSettings::default())
        .await;
    assert!(venue.is_ok(), "{:?}", venue.err());
    // The first login, then a fresh token after the 401 (a failed renewal and a login).
    assert_eq!(fake.logins(), 2);
}
