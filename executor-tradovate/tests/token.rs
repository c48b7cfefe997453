//! Token management against the fake Tradovate server: renew while valid, log in when not,
//! and never two logins for two concurrent refreshes.
#![allow(clippy::unwrap_used)]

mod support;

use chrono::Duration;
use executor_tradovate::token::{
    Refreshed, TOKEN_NAME, TokenManager, TokenPolicy, login_fingerprint,
};
use secrecy::{ExposeSecret, SecretString};
use shared::clock::{Clock, ManualClock};
use shared::memory::{MemoryLeaseLock, MemoryTokenStore};
use shared::ports::{LeaseLock, StoredToken, TokenStore};
use std::sync::Arc;
use support::{t0, tokens};

/// The access token the store holds (it must hold one).
async fn stored_token(store: &MemoryTokenStore) -> String {
    store
        .load(TOKEN_NAME)
        .await
        .unwrap()
        .unwrap()
        .access_token
        .expose_secret()
        .to_owned()
}

#[tokio::test]
async fn scheduled_run_logs_in_when_empty_then_leaves_a_fresh_token_alone_then_renews() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryTokenStore::default());
    let m = tokens(
        &fake,
        store.clone(),
        Arc::new(MemoryLeaseLock::default()),
        clock.clone(),
        "refresher",
    );
    assert_eq!(m.scheduled().await.unwrap(), Refreshed::LoggedIn);
    assert_eq!(m.scheduled().await.unwrap(), Refreshed::StillValid);
    // 65 minutes later less than 20 remain: renew, do not log in.
    clock.advance(Duration::minutes(65));
    fake.set_now(clock.now());
    assert_eq!(m.scheduled().await.unwrap(), Refreshed::Renewed);
    assert_eq!((fake.logins(), fake.renewals()), (1, 1));
    let stored = store.load(TOKEN_NAME).await.unwrap().unwrap();
    assert!(stored.expires_at > clock.now() + Duration::minutes(60));
}

#[tokio::test]
async fn an_expired_token_is_replaced_by_a_new_login() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryTokenStore::default());
    let m = tokens(
        &fake,
        store.clone(),
        Arc::new(MemoryLeaseLock::default()),
        clock.clone(),
        "refresher",
    );
    m.scheduled().await.unwrap();
    clock.advance(Duration::minutes(90));
    fake.set_now(clock.now());
    assert_eq!(m.scheduled().await.unwrap(), Refreshed::LoggedIn);
    assert_eq!((fake.logins(), fake.renewals()), (2, 0));
}

/// The stored token for a read that only adds words or figures: the token as stored while
/// usable, else none, never a refresh or a login (cut by its read's time bound, one could
/// leave the lock held or a renewed token unsaved).
#[tokio::test]
async fn the_current_token_is_the_stored_one_while_usable_and_never_a_refresh() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryTokenStore::default());
    let m = tokens(
        &fake,
        store.clone(),
        Arc::new(MemoryLeaseLock::default()),
        clock.clone(),
        "executor",
    );
    assert!(m.current().await.unwrap().is_none(), "none stored");
    m.scheduled().await.unwrap();
    let current = m.current().await.unwrap().unwrap();
    assert_eq!(current.expose_secret(), stored_token(&store).await);
    clock.advance(Duration::minutes(90));
    fake.set_now(clock.now());
    assert!(m.current().await.unwrap().is_none(), "expired: none");
    assert_eq!((fake.logins(), fake.renewals()), (1, 0), "no refresh");
}

#[tokio::test]
async fn a_renewal_the_server_refuses_falls_back_to_one_login() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryTokenStore::default());
    // A token the server never issued, still valid by its stored expiry.
    store
        .save(
            TOKEN_NAME,
            &StoredToken {
                access_token: SecretString::from("forged"),
                expires_at: t0() + Duration::minutes(5),
                owner: Some(login_fingerprint(
                    support::client(&fake).base(),
                    &support::credentials().name,
                )),
                stopped_until: None,
            },
        )
        .await
        .unwrap();
    let m = tokens(
        &fake,
        store.clone(),
        Arc::new(MemoryLeaseLock::default()),
        clock,
        "refresher",
    );
    assert_eq!(m.scheduled().await.unwrap(), Refreshed::LoggedIn);
    assert_eq!(fake.logins(), 1);
    assert_ne!(stored_token(&store).await, "forged");
}

/// A refused login is not tried again within the pause by another manager of the process:
/// an executor whose start failed on it builds a new one for each retry of its batch, and
/// each logged in again (five refused logins a signal, past the login cap).
#[tokio::test]
async fn a_refused_login_is_not_tried_again_by_a_new_manager_of_the_process() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let wrong = executor_tradovate::client::Credentials {
        password: SecretString::from("not-the-password"),
        ..support::credentials()
    };
    for _ in 0..3 {
        let manager = TokenManager::new(
            support::client(&fake),
            wrong.clone(),
            Arc::new(MemoryTokenStore::default()),
            Arc::new(MemoryLeaseLock::default()),
            ManualClock::new(t0()),
            "executor",
            TokenPolicy::default(),
        );
        assert!(manager.token().await.is_err());
    }
    assert_eq!(fake.login_requests(), 1);
}

/// A login answered without a readable `expirationTime` is not a refused login (which told
/// the trader the credentials were wrong, and rejected signals as such), yet it is not tried
/// again within the pause either: each try may open a session, and a wait's reads would ask
/// for one on every read. A renewal so answered falls back to one login.
#[tokio::test]
async fn a_token_answer_without_an_expiry_is_not_a_refused_login() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let manager = || {
        TokenManager::new(
            support::client(&fake),
            support::credentials(),
            Arc::new(MemoryTokenStore::default()),
            Arc::new(MemoryLeaseLock::default()),
            ManualClock::new(t0()),
            "executor",
            TokenPolicy::default(),
        )
    };
    fake.omit_token_expiry(5);
    let once = manager();
    for _ in 0..3 {
        let err = once.token().await.unwrap_err().to_string();
        assert!(err.contains("could not be read"), "{err}");
        assert!(!err.contains("refused"), "{err}");
    }
    let err = manager().token().await.unwrap_err().to_string();
    assert!(err.contains("not tried again within 60 s"), "{err}");
    assert_eq!(fake.login_requests(), 1);

    // A renewal without one: one login, and its token stored.
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryTokenStore::default());
    let m = tokens(
        &fake,
        store.clone(),
        Arc::new(MemoryLeaseLock::default()),
        clock.clone(),
        "refresher",
    );
    assert_eq!(m.scheduled().await.unwrap(), Refreshed::LoggedIn);
    clock.advance(Duration::minutes(70));
    fake.set_now(clock.now());
    fake.omit_token_expiry(1);
    assert_eq!(m.scheduled().await.unwrap(), Refreshed::LoggedIn);
    assert_eq!((fake.renewals(), fake.login_requests()), (1, 2));
    assert!(store.load(TOKEN_NAME).await.unwrap().is_some());
}

/// Credentials changed (another server here; another user alike: the stored token names its
/// login by a fingerprint of both) while the previous login's token is stored and not
/// expired: the new login is made, not the previous one's token taken, which kept trading
/// the previous login's accounts for as long as the refresher renewed it. A token stored
/// with no owner (by an earlier version) is taken as another's: one login.
#[tokio::test]
async fn a_token_another_login_stored_is_not_taken() {
    let (first, _first_check) = support::checked_fake(t0()).await;
    let (second, _second_check) = support::checked_fake(t0()).await;
    let store = Arc::new(MemoryTokenStore::default());
    let lock = Arc::new(MemoryLeaseLock::default());
    let manager = |fake: &broker_fakes::tradovate::FakeTradovate| {
        tokens(
            fake,
            store.clone(),
            lock.clone(),
            ManualClock::new(t0()),
            "executor",
        )
    };
    manager(&first).token().await.unwrap();
    assert_eq!((first.logins(), second.logins()), (1, 0));
    let moved = manager(&second);
    moved.token().await.unwrap();
    assert_eq!((first.logins(), second.logins()), (1, 1));
    // Its own token now: taken, no login.
    moved.token().await.unwrap();
    assert_eq!(second.logins(), 1);

    let mut unowned = store.load(TOKEN_NAME).await.unwrap().unwrap();
    unowned.owner = None;
    store.save(TOKEN_NAME, &unowned).await.unwrap();
    moved.token().await.unwrap();
    assert_eq!(second.logins(), 2);
}

/// A renewal answered with a captcha penalty (the minute's authentication limit passed, here
/// by other processes' logins) stops the client as a login's does, the stop stored beside the
/// token: the next run renews nothing. Unheld, every ask for the token renewed again, each
/// try lengthening the penalty.
#[tokio::test]
async fn a_renewal_answered_with_a_captcha_penalty_stops_renewing() {
    let (fake, check) = support::checked_fake(t0()).await;
    // Passed on purpose, by the other processes below.
    check.expect_violation("11 logins and renewals within a minute");
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryTokenStore::default());
    let m = tokens(
        &fake,
        store.clone(),
        Arc::new(MemoryLeaseLock::default()),
        clock.clone(),
        "refresher",
    );
    assert_eq!(m.scheduled().await.unwrap(), Refreshed::LoggedIn);
    for _ in 0..9 {
        support::client(&fake)
            .request_token(&support::credentials())
            .await
            .unwrap();
    }
    clock.advance(Duration::minutes(70));
    fake.set_now(clock.now());
    let _ = m.scheduled().await;
    assert_eq!(fake.violations().len(), 1, "{:?}", fake.violations());
    assert!(store.load_stop(TOKEN_NAME).await.unwrap().is_some());
    assert!(matches!(m.scheduled().await, Ok(Refreshed::Stopped)));
    assert_eq!(
        fake.violations().len(),
        1,
        "renewed again: {:?}",
        fake.violations()
    );
}

/// A renewal answered with a penalty ticket without a captcha (a GET cannot be resent with
/// the ticket) holds renewals for the ticket's `p-time`: the next ask for the token within
/// it renews nothing and answers the same penalty, where every ask renewed again at once,
/// each a request more against the authentication limit. Other requests are not held.
#[tokio::test]
async fn a_renewal_penalty_holds_renewals_for_its_wait() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryTokenStore::default());
    let m = tokens(
        &fake,
        store.clone(),
        Arc::new(MemoryLeaseLock::default()),
        clock.clone(),
        "executor",
    );
    m.token().await.unwrap();
    let stored = store.load(TOKEN_NAME).await.unwrap().unwrap();
    // Within its last minute: the next ask renews it.
    clock.set(stored.expires_at - Duration::seconds(30));
    fake.set_now(clock.now());
    fake.penalize_renewals(1);
    let first = m.token().await.unwrap_err();
    assert!(
        matches!(
            first,
            executor_tradovate::token::TokenError::Tradovate(
                executor_tradovate::error::TvError::Penalty { captcha: false, .. }
            )
        ),
        "{first:?}"
    );
    assert_eq!(fake.renewal_requests(), 1);
    let again = m.token().await.unwrap_err();
    assert!(
        matches!(
            again,
            executor_tradovate::token::TokenError::Tradovate(
                executor_tradovate::error::TvError::Penalty {
                    captcha: false,
                    wait_secs: Some(1..=31)
                }
            )
        ),
        "{again:?}"
    );
    assert!(m.client().stopped_for().is_none(), "not a 429's stop");
    // The token runs out within the wait: no login either, an authentication request too.
    clock.set(stored.expires_at + Duration::seconds(1));
    fake.set_now(clock.now());
    assert!(m.token().await.is_err());
    assert_eq!(fake.logins(), 1, "logged in within the renewal's wait");
    assert_eq!(fake.renewal_requests(), 1, "renewed again within p-time");
    assert_eq!(fake.logins(), 1);
}

/// The login cap is the process's, not a client's: an executor whose start keeps failing
/// with no token stored (a login that timed out, an account list refused) builds a new client
/// and manager for each retry of its batch, and each counted its login against a fresh cap,
/// past Tradovate's 10 a minute (then a captcha penalty: an hour without requests).
#[tokio::test]
async fn the_login_cap_holds_across_the_clients_of_a_process() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let mut refused = 0;
    shared::telemetry::init_test_logs();
    let settings = executor_tradovate::config::TradovateSettings {
        base_url: fake.url.clone(),
        account: None,
        credentials: support::credentials(),
    };
    for _ in 0..12 {
        // Built as a deployed process builds its manager and client (`deploy::tokens`).
        let manager = settings
            .tokens(
                executor_tradovate::client::ClientSettings::default(),
                Arc::new(MemoryTokenStore::default()),
                Arc::new(MemoryLeaseLock::default()),
                ManualClock::new(t0()),
                "executor",
            )
            .unwrap();
        if let Err(e) = manager.token().await {
            assert!(e.to_string().contains("login"), "{e}");
            refused += 1;
        }
    }
    assert_eq!(
        fake.login_requests(),
        executor_tradovate::client::MAX_LOGINS_PER_MINUTE
    );
    assert_eq!(
        refused,
        12 - executor_tradovate::client::MAX_LOGINS_PER_MINUTE
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

/// A scheduled run that finds the lock held by another process (an executor logging in) for
/// as long as it waits is not a failure while the stored token is usable: it was
/// `LockBusy`, which the refresher alarmed and mailed as a failed refresh. With the token
/// expired it still is one.
#[tokio::test]
async fn a_scheduled_run_that_finds_the_lock_held_with_a_usable_token_is_busy_not_failed() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryTokenStore::default());
    let lock = Arc::new(MemoryLeaseLock::default());
    let manager = TokenManager::new(
        support::client(&fake),
        support::credentials(),
        store.clone(),
        lock.clone(),
        clock.clone(),
        "refresher",
        TokenPolicy {
            wait_for_other: std::time::Duration::from_millis(300),
            ..TokenPolicy::default()
        },
    );
    assert_eq!(manager.scheduled().await.unwrap(), Refreshed::LoggedIn);
    // 65 minutes later a renewal is due, and an executor holds the lock for a minute.
    clock.advance(Duration::minutes(65));
    fake.set_now(clock.now());
    let now = clock.now();
    assert!(
        lock.acquire(TOKEN_NAME, "executor", now, now + Duration::minutes(1))
            .await
            .unwrap()
    );
    assert_eq!(manager.scheduled().await.unwrap(), Refreshed::Busy);
    assert_eq!((fake.logins(), fake.renewals()), (1, 0));
    // Expired, with the lock held all the same: that is a failure to report.
    clock.advance(Duration::minutes(30));
    fake.set_now(clock.now());
    let now = clock.now();
    lock.release(TOKEN_NAME, "executor").await.unwrap();
    assert!(
        lock.acquire(TOKEN_NAME, "executor", now, now + Duration::minutes(1))
            .await
            .unwrap()
    );
    let err = manager.scheduled().await.unwrap_err();
    assert!(
        matches!(err, executor_tradovate::token::TokenError::LockBusy),
        "{err}"
    );
}

/// A refresh that outruns three quarters of its lock's lease is stopped with nothing stored
/// and the lock given back, so no other process's refresh (free to start once the lease has
/// ended) overlaps it; the next refresh, answered in time, stores its token.
#[tokio::test]
async fn a_refresh_that_outruns_its_lease_stops_and_stores_nothing() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryTokenStore::default());
    let lock = Arc::new(MemoryLeaseLock::default());
    let policy = TokenPolicy {
        lock_lease: Duration::seconds(2),
        ..TokenPolicy::default()
    };
    let manager = TokenManager::new(
        support::client(&fake),
        support::credentials(),
        store.clone(),
        lock.clone(),
        clock.clone(),
        "executor",
        policy,
    );
    fake.set_login_delay(std::time::Duration::from_secs(4));
    let started = std::time::Instant::now();
    let err = manager.token().await.unwrap_err();
    assert!(
        matches!(err, executor_tradovate::token::TokenError::LeaseOverrun(1)),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "stopped at 1.5 s"
    );
    assert!(
        store.load(TOKEN_NAME).await.unwrap().is_none(),
        "nothing stored"
    );
    fake.set_login_delay(std::time::Duration::ZERO);
    let token = manager.token().await.unwrap();
    assert_eq!(stored_token(&store).await, token.expose_secret());
}

/// A token store slow to read (DynamoDB throttled): each load takes `.1`.
struct SlowReads(Arc<MemoryTokenStore>, std::time::Duration);

impl TokenStore for SlowReads {
    async fn load(&self, name: &str) -> Result<Option<StoredToken>, shared::ports::StoreError> {
        tokio::time::sleep(self.1).await;
        self.0.load(name).await
    }
    async fn save(&self, name: &str, t: &StoredToken) -> Result<(), shared::ports::StoreError> {
        self.0.save(name, t).await
    }
    async fn load_stop(
        &self,
        name: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, shared::ports::StoreError> {
        self.0.load_stop(name).await
    }
    async fn save_stop(
        &self,
        name: &str,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), shared::ports::StoreError> {
        self.0.save_stop(name, until).await
    }
}

/// The lease's three quarters count from when the lock was taken, the slow re-read of the
/// token under it included: a login that would end past them is stopped, nothing stored.
/// The cutoff counted from the login alone let a refresh run on past its lease (1.2 s of
/// re-read and 0.6 s of login against 1.5 s), where another process may have taken the lock.
#[tokio::test]
async fn the_refreshs_cutoff_counts_the_reads_under_the_lock() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let memory = Arc::new(MemoryTokenStore::default());
    let store = SlowReads(memory.clone(), std::time::Duration::from_millis(1200));
    let policy = TokenPolicy {
        lock_lease: Duration::seconds(2),
        ..TokenPolicy::default()
    };
    let manager = TokenManager::new(
        support::client(&fake),
        support::credentials(),
        store,
        Arc::new(MemoryLeaseLock::default()),
        clock.clone(),
        "executor",
        policy,
    );
    fake.set_login_delay(std::time::Duration::from_millis(600));
    let err = manager.token().await.unwrap_err();
    assert!(
        matches!(err, executor_tradovate::token::TokenError::LeaseOverrun(1)),
        "{err}"
    );
    assert!(
        memory.load(TOKEN_NAME).await.unwrap().is_none(),
        "nothing stored"
    );
}

/// A lock whose write takes `.1` to land (DynamoDB throttled, the SDK retrying).
struct SlowLock(Arc<MemoryLeaseLock>, std::time::Duration);

impl LeaseLock for SlowLock {
    async fn acquire(
        &self,
        name: &str,
        owner: &str,
        now: chrono::DateTime<chrono::Utc>,
        lease_until: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, shared::ports::StoreError> {
        tokio::time::sleep(self.1).await;
        self.0.acquire(name, owner, now, lease_until).await
    }
    async fn release(&self, name: &str, owner: &str) -> Result<(), shared::ports::StoreError> {
        self.0.release(name, owner).await
    }
}

/// The lease runs from the time the lock was asked for, so a lock write slow to land uses it
/// too: a login that would end past three quarters of it, counted from then, is stopped with
/// nothing stored. Counted from the lock's answer (1.2 s of lock write and 0.6 s of login
/// against 1.5 s), the refresh ran on where another process may have taken the lock.
#[tokio::test]
async fn the_refreshs_cutoff_counts_the_lock_write() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let memory = Arc::new(MemoryTokenStore::default());
    let policy = TokenPolicy {
        lock_lease: Duration::seconds(2),
        ..TokenPolicy::default()
    };
    let manager = TokenManager::new(
        support::client(&fake),
        support::credentials(),
        memory.clone(),
        SlowLock(
            Arc::new(MemoryLeaseLock::default()),
            std::time::Duration::from_millis(1200),
        ),
        clock.clone(),
        "executor",
        policy,
    );
    fake.set_login_delay(std::time::Duration::from_millis(600));
    let err = manager.token().await.unwrap_err();
    assert!(
        matches!(err, executor_tradovate::token::TokenError::LeaseOverrun(1)),
        "{err}"
    );
    assert!(
        memory.load(TOKEN_NAME).await.unwrap().is_none(),
        "nothing stored"
    );
}

#[tokio::test]
async fn two_concurrent_refreshes_make_one_login() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryTokenStore::default());
    let lock = Arc::new(MemoryLeaseLock::default());
    let schedule = tokens(
        &fake,
        store.clone(),
        lock.clone(),
        clock.clone(),
        "refresher",
    );
    let executor = tokens(
        &fake,
        store.clone(),
        lock.clone(),
        clock.clone(),
        "executor",
    );
    let (a, b) = tokio::join!(schedule.scheduled(), executor.token());
    a.unwrap();
    let token = b.unwrap();
    assert_eq!(fake.logins(), 1);
    assert_eq!(stored_token(&store).await, token.expose_secret());
}

/// One manager asked for a token by two tasks at once (the local stack's pollers share one
/// executor): one login. The lock took the second request, of the same owner, as the holder
/// extending its lease, and both logged in.
#[tokio::test]
async fn one_manager_asked_twice_at_once_makes_one_login() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryTokenStore::default());
    let lock = Arc::new(MemoryLeaseLock::default());
    let manager = tokens(&fake, store.clone(), lock, clock, "local-stack");
    let (a, b) = tokio::join!(manager.token(), manager.token());
    assert_eq!(
        a.unwrap().expose_secret(),
        b.unwrap().expose_secret(),
        "the second took the first's token"
    );
    assert_eq!(fake.logins(), 1);
}

/// The second of two tasks waits for the first's refresh no longer than for another
/// process's lock: a login that hangs ends it as a busy lock (it waited for the whole
/// refresh, up to the lock's lease).
#[tokio::test]
async fn a_task_behind_a_hanging_refresh_of_its_manager_gives_up_as_busy() {
    let (fake, _check) = support::checked_fake(t0()).await;
    fake.set_login_delay(std::time::Duration::from_millis(1500));
    let manager = executor_tradovate::token::TokenManager::new(
        support::client(&fake),
        support::credentials(),
        Arc::new(MemoryTokenStore::default()),
        Arc::new(MemoryLeaseLock::default()),
        ManualClock::new(t0()),
        "local-stack",
        executor_tradovate::token::TokenPolicy {
            wait_for_other: std::time::Duration::from_millis(200),
            ..Default::default()
        },
    );
    let started = std::time::Instant::now();
    let (a, b) = tokio::join!(manager.token(), async {
        let got = manager.token().await;
        (got, started.elapsed())
    });
    assert!(a.is_ok(), "{a:?}");
    let (b, waited) = b;
    assert!(
        matches!(b, Err(executor_tradovate::token::TokenError::LockBusy)),
        "{b:?}"
    );
    assert!(
        waited < std::time::Duration::from_millis(1400),
        "{waited:?}"
    );
    assert_eq!(fake.logins(), 1);
}

#[tokio::test]
async fn the_login_limit_stops_a_tenth_login_within_a_minute() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let client = support::client(&fake);
    for _ in 0..9 {
        client.request_token(&support::credentials()).await.unwrap();
    }
    let err = client
        .request_token(&support::credentials())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("login limit"), "{err}");
    assert_eq!(fake.logins(), 9);
}

/// Renewals count against the same limit: Tradovate's rate-limits page gives 10
/// authentication requests a minute without saying which count, and a renewal refused then
/// followed by a login makes two. Five logins and four renewals in a minute, then neither a
/// renewal nor a login leaves; the fake (which counts both) saw nothing over its limit.
#[tokio::test]
async fn renewals_count_against_the_login_limit() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let client = support::client(&fake);
    let mut token = None;
    for _ in 0..5 {
        token = Some(client.request_token(&support::credentials()).await.unwrap());
    }
    let mut token = token.unwrap().access_token;
    for _ in 0..4 {
        token = client.renew_token(&token).await.unwrap().access_token;
    }
    let err = client.renew_token(&token).await.unwrap_err();
    assert!(err.to_string().contains("login limit"), "{err}");
    let err = client
        .request_token(&support::credentials())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("login limit"), "{err}");
    assert_eq!((fake.logins(), fake.renewals()), (5, 4));
}

/// A login's penalty without a captcha (the penalty-tickets page does not exempt the login)
/// whose `p-time` is longer than the signal may wait is not resent, and no login goes out
/// within it: the next ask logged in again at once, each try a request more against the
/// authentication limit (then a captcha: an hour of no requests, exits included).
#[tokio::test]
async fn a_login_penalty_not_waited_out_holds_the_next_logins_for_its_wait() {
    use executor_tradovate::error::TvError;
    use executor_tradovate::token::TokenError;
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryTokenStore::default());
    let lock = Arc::new(MemoryLeaseLock::default());
    let executor = tokens(&fake, store, lock, clock.clone(), "executor");
    fake.penalize_logins_without_captcha(1, 30);
    let first = executor.token().await.unwrap_err();
    assert!(
        matches!(
            first,
            TokenError::Tradovate(TvError::Penalty {
                captcha: false,
                wait_secs: Some(30)
            })
        ),
        "{first:?}"
    );
    let again = executor.token().await.unwrap_err();
    assert!(
        matches!(
            again,
            TokenError::Tradovate(TvError::Penalty {
                captcha: false,
                wait_secs: Some(1..=31)
            })
        ),
        "{again:?}"
    );
    assert_eq!((fake.login_requests(), fake.logins()), (1, 0));
    assert!(
        executor.client().stopped_for().is_none(),
        "not a 429's stop"
    );
}

/// Such a penalty within the wait the client allows (`max_wait`, 2 s here) is waited out and
/// the login resent with its ticket; one longer is held, and the next login after its wait is
/// that resend, with the ticket too. The fake takes a login without the ticket, or sooner,
/// as a violation (checked at the end).
#[tokio::test]
async fn a_login_penalty_is_resent_with_its_ticket_after_its_wait() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let lock = Arc::new(MemoryLeaseLock::default());
    let store = || Arc::new(MemoryTokenStore::default());
    let executor = tokens(&fake, store(), lock.clone(), clock.clone(), "a");
    fake.penalize_logins_without_captcha(1, 1);
    executor.token().await.unwrap();
    assert_eq!((fake.login_requests(), fake.logins()), (2, 1));

    let (held, _check_held) = support::checked_fake(t0()).await;
    let executor = tokens(&held, store(), lock, clock.clone(), "b");
    held.penalize_logins_without_captcha(1, 3);
    assert!(
        executor.token().await.is_err(),
        "held: 3 s is over max_wait"
    );
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    executor.token().await.unwrap();
    assert_eq!((held.login_requests(), held.logins()), (2, 1));
}

/// A login whose penalty is waited out in the request, the request cut during the wait (a
/// refresh's share of its lock, a start's timeout): the next login still waits for it and
/// carries its ticket. The ticket and wait lived only in the dropped request, and the next
/// login went at once without it (the fake's violation, checked at the end).
#[tokio::test]
async fn a_login_waiting_out_its_penalty_and_cut_keeps_the_wait_and_the_ticket() {
    use executor_tradovate::error::TvError;
    let (fake, _check) = support::checked_fake(t0()).await;
    let client = executor_tradovate::client::TradovateClient::new(
        &fake.url,
        executor_tradovate::client::ClientSettings {
            max_wait: std::time::Duration::from_secs(5),
            ..Default::default()
        },
    )
    .unwrap();
    fake.penalize_logins_without_captcha(1, 3);
    // Cut once the penalty has been answered (the request then waits 3 s).
    let answered = async {
        while fake.login_requests() < 1 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let creds = support::credentials();
    tokio::select! {
        _ = client.request_token(&creds) => panic!("not cut during the wait"),
        () = answered => {}
    }
    let held = client
        .request_token(&support::credentials())
        .await
        .unwrap_err();
    assert!(
        matches!(held, TvError::Penalty { captcha: false, .. }),
        "{held:?}"
    );
    assert_eq!(fake.login_requests(), 1, "nothing sent within the wait");
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    client.request_token(&support::credentials()).await.unwrap();
    assert_eq!((fake.login_requests(), fake.logins()), (2, 1));
}

/// The hold and the ticket are the process's, as its login count is: an executor whose start
/// drew the penalty fails its batch, and the next batch builds a new client (`deploy::tokens`),
/// which logged in again at once, without the ticket.
#[tokio::test]
async fn a_login_penalty_holds_every_client_the_process_builds() {
    let (fake, _check) = support::checked_fake(t0()).await;
    shared::telemetry::init_test_logs();
    let settings = executor_tradovate::config::TradovateSettings {
        base_url: fake.url.clone(),
        account: None,
        credentials: support::credentials(),
    };
    let manager = || {
        settings
            .tokens(
                executor_tradovate::client::ClientSettings {
                    max_wait: std::time::Duration::from_secs(2),
                    ..Default::default()
                },
                Arc::new(MemoryTokenStore::default()),
                Arc::new(MemoryLeaseLock::default()),
                ManualClock::new(t0()),
                "executor",
            )
            .unwrap()
    };
    fake.penalize_logins_without_captcha(1, 3);
    assert!(manager().token().await.is_err());
    assert!(
        manager().token().await.is_err(),
        "held by the next client too"
    );
    assert_eq!(fake.login_requests(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    manager().token().await.unwrap();
    assert_eq!((fake.login_requests(), fake.logins()), (2, 1));
}

/// A login's penalty always carries a captcha (Tradovate's official JavaScript example): it is
/// never resent, and it stops the client as a 429 does, stored beside the token, so neither a
/// later signal nor the refresher logs in again inside the hour (each try may lengthen it).
#[tokio::test]
async fn a_login_captcha_stops_every_later_login_in_every_process() {
    use executor_tradovate::error::TvError;
    use executor_tradovate::token::TokenError;
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryTokenStore::default());
    let lock = Arc::new(MemoryLeaseLock::default());
    let executor = tokens(
        &fake,
        store.clone(),
        lock.clone(),
        clock.clone(),
        "executor",
    );
    fake.penalize_logins(1);
    let err = executor.token().await.unwrap_err();
    assert!(
        matches!(
            err,
            TokenError::Tradovate(TvError::Penalty { captcha: true, .. })
        ),
        "{err:?}"
    );
    // The next signal of this process, and the refresher (another client), send nothing.
    let again = executor.token().await.unwrap_err();
    assert!(
        matches!(again, TokenError::Tradovate(TvError::RateLimited)),
        "{again:?}"
    );
    let refresher = tokens(&fake, store.clone(), lock, clock.clone(), "refresher");
    assert_eq!(refresher.scheduled().await.unwrap(), Refreshed::Stopped);
    assert_eq!((fake.login_requests(), fake.logins()), (1, 0));
    let stop = store.load_stop(TOKEN_NAME).await.unwrap().unwrap();
    assert!(stop > clock.now() + Duration::minutes(55), "{stop}");
}

/// An order command's penalty is waited out to be resent with its ticket; a 429 met by
/// another request of the process meanwhile starts the stop, and the resend is not sent: the
/// command ends with its penalty (it left, and the ticket says not carried out), not as a
/// command that never left.
#[tokio::test]
async fn a_penalty_resend_within_a_429_stop_is_not_sent_and_stays_the_penalty() {
    use executor_tradovate::error::TvError;
    use executor_tradovate::models::AccountId;
    use executor_tradovate::models::{OrderAction, PlaceOrder};
    use support::fake_tradovate::{ACCOUNT_ID, ACCOUNT_NAME, Fault};
    let (fake, _check) = support::checked_fake(t0()).await;
    let client = support::client(&fake);
    let token = client
        .request_token(&support::credentials())
        .await
        .unwrap()
        .access_token;
    fake.script(Fault::Penalty(1));
    let order = PlaceOrder {
        account_spec: ACCOUNT_NAME,
        account_id: AccountId(ACCOUNT_ID),
        cl_ord_id: "tv-penalty-o",
        action: OrderAction::Buy,
        symbol: "ESZ6",
        order_qty: 1,
        order_type: "Market",
        is_automated: true,
    };
    let send = client.place_market_order(&token, &order, std::time::Duration::from_secs(5));
    let meanwhile = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        fake.rate_limit_for(std::time::Duration::from_secs(3600));
        client.accounts(&token).await
    };
    let (sent, read) = tokio::join!(send, meanwhile);
    assert!(matches!(read, Err(TvError::RateLimited)), "{read:?}");
    assert!(
        matches!(
            sent,
            Err(TvError::Penalty {
                wait_secs: Some(1),
                ..
            })
        ),
        "{sent:?}"
    );
    assert_eq!(fake.orders().len(), 0);
    assert_eq!(fake.rate_limited_answers(), 1, "only the read met the 429");
}

/// A 429 one process meets is stored beside the token: the refresher that loads it does not
/// renew within the stop (every request would lengthen it), and once the stop has passed, a
/// refresh goes ahead (the stop stored stays, over).
#[tokio::test]
async fn the_refresher_does_not_renew_within_a_stop_another_process_stored() {
    use executor_tradovate::error::TvError;
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryTokenStore::default());
    let lock = Arc::new(MemoryLeaseLock::default());
    let executor = tokens(
        &fake,
        store.clone(),
        lock.clone(),
        clock.clone(),
        "executor",
    );
    let token = executor.token().await.unwrap();
    // 65 of the token's 80 minutes later it needs renewing (under the 20 the schedule keeps).
    clock.advance(Duration::minutes(65));
    fake.set_now(clock.now());
    fake.rate_limit_for(std::time::Duration::from_secs(3600));
    let read = executor.client().accounts(&token).await;
    assert!(matches!(read, Err(TvError::RateLimited)), "{read:?}");
    executor.share_stop().await;
    let saves = store.saves();
    executor.share_stop().await;
    assert_eq!(
        store.saves(),
        saves,
        "a stop already stored is not written again"
    );
    // The fake's limit lifted: only the stored stop keeps the refresher from asking.
    fake.rate_limit_for(std::time::Duration::ZERO);
    let refresher = tokens(
        &fake,
        store.clone(),
        lock.clone(),
        clock.clone(),
        "refresher",
    );
    assert_eq!(refresher.scheduled().await.unwrap(), Refreshed::Stopped);
    assert_eq!((fake.logins(), fake.renewals()), (1, 0));
    // The token expired within the stop: an executor's request for one logs in no more.
    clock.advance(Duration::minutes(16));
    fake.set_now(clock.now());
    let other = tokens(
        &fake,
        store.clone(),
        lock.clone(),
        clock.clone(),
        "executor-2",
    );
    let err = other.token().await.unwrap_err();
    assert!(err.to_string().contains("429"), "{err}");
    assert_eq!((fake.logins(), fake.renewals()), (1, 0));

    // After the stop, a new refresher logs in.
    clock.advance(Duration::minutes(45));
    fake.set_now(clock.now());
    let after = tokens(&fake, store.clone(), lock, clock.clone(), "refresher-2");
    assert_eq!(after.scheduled().await.unwrap(), Refreshed::LoggedIn);
    let stored = store.load(TOKEN_NAME).await.unwrap().unwrap();
    assert!(
        stored.stopped_until.is_some_and(|s| s < clock.now()),
        "the stop is the one stored, and over"
    );
}

/// A stop another process stored holds every way to a token: with no token stored (a 429 at
/// a first login), a refresh after a 401 (which checks no stop before it takes the lock), the
/// refresher's run. A stored stop ending further ahead than a 429's own stop (a clock far off,
/// a hand edit) is ignored, not held for as long as it says.
#[tokio::test]
async fn a_stored_stop_holds_every_refresh_unless_it_ends_past_a_429s_own_stop() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let lock = Arc::new(MemoryLeaseLock::default());
    let store = Arc::new(MemoryTokenStore::default());
    store
        .save_stop(TOKEN_NAME, t0() + Duration::minutes(50))
        .await
        .unwrap();
    let manager = |owner: &str| tokens(&fake, store.clone(), lock.clone(), clock.clone(), owner);
    let first = manager("executor");
    let err = first.token().await.unwrap_err();
    assert!(err.to_string().contains("429"), "{err}");
    let held = first.client().stopped_for().unwrap();
    assert!(
        held <= std::time::Duration::from_secs(50 * 60)
            && held > std::time::Duration::from_secs(49 * 60),
        "{held:?}"
    );
    // A process that has not read the stop yet: its refresh finds it under the lock.
    let err = manager("executor-2")
        .after_unauthorized(&SecretString::from("rejected"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("429"), "{err}");
    assert_eq!(
        manager("refresher").scheduled().await.unwrap(),
        Refreshed::Stopped
    );
    assert_eq!((fake.logins(), fake.renewals()), (0, 0));

    let far = Arc::new(MemoryTokenStore::default());
    far.save_stop(TOKEN_NAME, t0() + Duration::hours(10))
        .await
        .unwrap();
    let m = tokens(&fake, far, lock.clone(), clock.clone(), "executor-3");
    m.token().await.unwrap();
    assert_eq!(m.client().stopped_for(), None);
    assert_eq!(fake.logins(), 1);
}

#[tokio::test]
async fn credentials_and_managers_never_print_secrets() {
    let (fake, _check) = support::checked_fake(t0()).await;
    let m = tokens(
        &fake,
        Arc::new(MemoryTokenStore::default()),
        Arc::new(MemoryLeaseLock::default()),
        ManualClock::new(t0()),
        "x",
    );
    let shown = format!("{m:?} {:?}", support::credentials());
    assert!(
        !shown.contains(support::fake_tradovate::PASSWORD)
            && !shown.contains(support::fake_tradovate::SEC),
        "{shown}"
    );
}
