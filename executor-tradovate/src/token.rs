//! Tradovate access tokens, shared by the refresher and the executors.
//!
//! Tokens live about 80 minutes. The refresher renews them on a schedule (renew while valid,
//! full login only when there is nothing valid to renew). An executor that finds the token
//! expired, or gets a 401, refreshes once itself. Every refresh happens under a named lease
//! lock and re-reads the store once it holds the lock, so the schedule and an executor (or two
//! executors) never both log in: the loser waits and picks up the winner's token.

use crate::client::{Credentials, TokenGrant, TradovateClient};
use crate::error::TvError;
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use shared::clock::Clock;
use shared::ports::{LeaseLock, StoreError, StoredToken, TokenStore};
use std::sync::Arc;
use tracing::{error, info, warn};

/// How far past a 429's own stop a stored stop may end and still be held: clocks of the
/// processes that store and read it may differ by this much.
const STOP_SKEW: std::time::Duration = std::time::Duration::from_secs(300);

/// The store key and lock name of the Tradovate credential.
pub const TOKEN_NAME: &str = "tradovate";

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Tradovate(#[from] TvError),
    #[error("token store: {0}")]
    Store(#[from] StoreError),
    #[error("another process is refreshing the token and did not finish in time")]
    LockBusy,
    /// The refresh outran the part of its lock's lease it may use: stopped, nothing stored,
    /// so that it never overlaps a refresh another process starts once the lease has ended.
    #[error(
        "the token refresh took longer than {0} s (three quarters of its lock's lease) and was stopped; nothing was stored"
    )]
    LeaseOverrun(u64),
}

/// What a refresh did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    /// The stored token was still good for long enough.
    StillValid,
    /// Someone else refreshed it while we waited for the lock.
    ByOther,
    Renewed,
    LoggedIn,
    /// A scheduled run that found the lock held by another process (an executor logging in or
    /// renewing) for as long as it waits, with the stored token still usable: nothing to
    /// report, the next run checks again. (It was a `LockBusy` failure: alarmed, mailed
    /// "check credentials", the status degraded, while the holder stored a good token.)
    Busy,
    /// Not renewed: Tradovate answered a 429 less than its stop ago (the stop stored beside
    /// the token, [`StoredToken::stopped_until`]), and every request would lengthen it. Should
    /// the token expire meanwhile, the first executor after the stop logs in.
    Stopped,
}

#[derive(Debug, Clone, Copy)]
pub struct TokenPolicy {
    /// The schedule renews when less than this remains (the official example: 15 min).
    pub renew_before: Duration,
    /// Executors treat a token with less than this left as expired.
    pub min_validity: Duration,
    /// How long one refresh may hold the lock (60 s); its calls to Tradovate are stopped
    /// once three quarters of it (45 s) have passed since the lock was taken, inside the Lambdas' 60 s timeout, so that a refresh
    /// never runs on past its lease nor is killed before it reports. A renewal's worst case
    /// under the client's settings (three 8 s tries, two penalty waits of up to 10 s) fits;
    /// one that then falls back to a login may not, and fails.
    pub lock_lease: Duration,
    /// How long a process waits for another one's refresh.
    pub wait_for_other: std::time::Duration,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            renew_before: Duration::minutes(20),
            min_validity: Duration::seconds(60),
            lock_lease: Duration::seconds(60),
            wait_for_other: std::time::Duration::from_secs(10),
        }
    }
}

pub struct TokenManager<S, L, C> {
    client: Arc<TradovateClient>,
    creds: Credentials,
    store: S,
    lock: L,
    clock: C,
    /// Identifies this process as lock holder.
    owner: String,
    policy: TokenPolicy,
    /// The 429 whose stop this manager last stored ([`TokenManager::share_stop`]).
    shared: std::sync::Mutex<Option<std::time::Instant>>,
    /// One refresh of this manager at a time: the lock takes a request of the same owner as
    /// its holder extending the lease, so the local stack's pollers, sharing one manager,
    /// each got it and each logged in (Tradovate caps logins, and each makes a new session).
    /// The second waits here, then finds the first's token under the lock.
    flight: tokio::sync::Mutex<()>,
}

/// Who a token belongs to ([`StoredToken::owner`]): the first 16 bytes of the SHA-256 of the
/// base URL and the user name, in hex. Not the user name itself, which the settings keep
/// as a secret; the same in every process and version, so the refresher and the executors
/// agree.
pub fn login_fingerprint(base_url: &str, user: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("{base_url}\n{user}").as_bytes());
    hex::encode(&digest[..16])
}

/// The logins Tradovate refused in this process, by its URL and the user name, with when and
/// why ([`TokenManager::login`]): the whole process's, not a manager's, since an executor
/// whose start failed on a refused login builds a new manager for each retry of its batch.
/// Also a login answered without a readable token (`unreadable`), paused the same way: each
/// try may have opened a session, and a wait's reads would ask for one on every read.
fn refused_logins() -> &'static std::sync::Mutex<std::collections::HashMap<String, PausedLogin>> {
    static REFUSED: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, PausedLogin>>,
    > = std::sync::OnceLock::new();
    REFUSED.get_or_init(Default::default)
}

/// A login not to try again yet: when, why, and whether its answer was unreadable (a
/// [`TvError::UnreadableToken`]) rather than a refusal.
type PausedLogin = (std::time::Instant, String, bool);

/// How long a login Tradovate refused is not tried again by the same process (the same URL
/// and user name): a wait that reads every poll interval asked for a token, and with it a new
/// login, on every read (up to the login cap); logins refused again and again can lock the
/// user out. One minute: the longest wait of a signal (`VenueSettings::max_wait`), so a
/// signal's reads ask once, while a signal a minute later tries again (the trader may have
/// fixed what Tradovate refused, which need not be the credentials), as does the refresher's
/// next scheduled run.
pub const REFUSED_LOGIN_PAUSE: std::time::Duration = std::time::Duration::from_secs(60);

impl<S, L, C> std::fmt::Debug for TokenManager<S, L, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("creds", &self.creds)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

fn same(a: &SecretString, b: &SecretString) -> bool {
    a.expose_secret() == b.expose_secret()
}

impl<S: TokenStore, L: LeaseLock, C: Clock> TokenManager<S, L, C> {
    pub fn new(
        client: Arc<TradovateClient>,
        creds: Credentials,
        store: S,
        lock: L,
        clock: C,
        owner: impl Into<String>,
        policy: TokenPolicy,
    ) -> Self {
        Self {
            client,
            creds,
            store,
            lock,
            clock,
            owner: owner.into(),
            policy,
            shared: std::sync::Mutex::new(None),
            flight: tokio::sync::Mutex::new(()),
        }
    }

    /// A login with this manager's credentials, unless one at the same URL with the same user
    /// name was refused in this process less than [`REFUSED_LOGIN_PAUSE`] ago: then that
    /// refusal again, with nothing sent.
    async fn login(&self) -> Result<TokenGrant, TvError> {
        let key = format!("{}\n{}", self.client.base(), self.creds.name);
        let last = refused_logins()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some((at, why, unreadable)) = last
            && at.elapsed() < REFUSED_LOGIN_PAUSE
        {
            let when = at.elapsed().as_secs();
            let pause = REFUSED_LOGIN_PAUSE.as_secs();
            return Err(if unreadable {
                TvError::UnreadableToken(format!(
                    "{why} (answered so {when} s ago; not tried again within {pause} s)"
                ))
            } else {
                TvError::Refused(format!(
                    "{why} (refused {when} s ago; not tried again with the same credentials \
                     within {pause} s)"
                ))
            });
        }
        let answer = self.client.request_token(&self.creds).await;
        let mut refused = refused_logins()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &answer {
            Err(TvError::Refused(why)) => {
                refused.insert(key, (std::time::Instant::now(), why.clone(), false));
            }
            Err(TvError::UnreadableToken(why)) => {
                refused.insert(key, (std::time::Instant::now(), why.clone(), true));
            }
            Ok(_) => {
                refused.remove(&key);
            }
            Err(_) => {}
        }
        drop(refused);
        answer
    }

    pub fn client(&self) -> &TradovateClient {
        &self.client
    }

    /// The stored token, taken as expired when another login got it (another user, or
    /// another server: [`StoredToken::owner`] not this manager's [`login_fingerprint`]):
    /// never sent, never renewed (a renewal would extend that login's session), so the next
    /// refresh logs in with this manager's credentials; its stop is still held to. Without
    /// this, changed credentials kept trading the previous login's accounts for as long as
    /// its token was renewed. A token stored without an owner (by an earlier version) is
    /// taken as another's: one login more, once.
    async fn stored(&self) -> Result<Option<StoredToken>, TokenError> {
        let own = login_fingerprint(self.client.base(), &self.creds.name);
        Ok(self.store.load(TOKEN_NAME).await?.map(|t| {
            if t.owner.as_deref() == Some(own.as_str()) {
                t
            } else {
                StoredToken {
                    expires_at: DateTime::<Utc>::MIN_UTC,
                    ..t
                }
            }
        }))
    }

    fn usable(&self, t: &StoredToken) -> bool {
        t.expires_at - self.clock.now() > self.policy.min_validity
    }

    /// A token valid for at least `min_validity`, refreshing under the lock if needed. A stop
    /// stored beside the token holds the client too, so a request made with the token is not
    /// sent (the client answers as its own stop does); no refresh is tried within it.
    pub async fn token(&self) -> Result<SecretString, TokenError> {
        match self.stored().await? {
            Some(t) => {
                self.adopt_stop(t.stopped_until);
                if self.usable(&t) {
                    return Ok(t.access_token);
                }
            }
            None => self.adopt_stop(self.store.load_stop(TOKEN_NAME).await?),
        }
        if self.client.stopped_for().is_some() {
            return Err(TvError::RateLimited.into());
        }
        info!("Tradovate token missing or expiring; refreshing");
        self.refresh(None, false).await.map(|(t, _)| t)
    }

    /// The stored token when it is valid for at least `min_validity`, with no refresh, no
    /// lock and no login: `None` otherwise. For reads that only add words or figures (a
    /// rejection's reason, a fill's fees), which run under a time bound: a refresh cut by
    /// it could leave the lock held for its lease or a renewed token unsaved, and is not
    /// worth a login. A stored stop is held to, as [`Self::token`] does.
    pub async fn current(&self) -> Result<Option<SecretString>, TokenError> {
        let Some(t) = self.stored().await? else {
            return Ok(None);
        };
        self.adopt_stop(t.stopped_until);
        Ok(self.usable(&t).then_some(t.access_token))
    }

    /// Holds the client to a stored stop, if one lasts still. A stop ending later than a
    /// 429's own stop from now (and a few minutes of clock skew) is no stop a 429 stored (a
    /// clock far off, a hand edit): it is ignored, with an error logged, rather than held
    /// for as long as it says, since every later load would hold it again.
    fn adopt_stop(&self, stopped_until: Option<DateTime<Utc>>) {
        let Some(left) = stopped_until
            .and_then(|until| (until - self.clock.now()).to_std().ok())
            .filter(|left| !left.is_zero())
        else {
            return;
        };
        let stop = self.client.rate_limit_stop();
        if left > stop + STOP_SKEW {
            error!(
                left_secs = left.as_secs(),
                "the stored Tradovate stop ends further ahead than a 429's stop: ignored \
                 (remove the token item's stopped_until attribute)"
            );
            return;
        }
        self.client.stop_for(left);
    }

    /// Stores the stop a 429 this client met asks for beside the token
    /// ([`TokenStore::save_stop`]), so that every process that loads the token holds off
    /// too (the executors' other containers, the refresher): Tradovate asks the account's
    /// clients, not one process, for about an hour without requests, and each request
    /// meanwhile lengthens it (<https://partner.tradovate.com/overview/core-concepts/rate-limits>).
    /// Each 429 is stored once, its end taken from when it came; a stop this client was only
    /// told of is not stored again. Best effort: a failure is logged, and this process holds
    /// off either way.
    pub async fn share_stop(&self) {
        let Some(at) = self.client.rate_limited_at() else {
            return;
        };
        if *self.shared.lock().unwrap_or_else(|e| e.into_inner()) == Some(at) {
            return;
        }
        let left = (at + self.client.rate_limit_stop())
            .saturating_duration_since(std::time::Instant::now());
        let until = self.clock.now() + Duration::from_std(left).unwrap_or_default();
        match self.store.save_stop(TOKEN_NAME, until).await {
            Ok(()) => {
                *self.shared.lock().unwrap_or_else(|e| e.into_inner()) = Some(at);
                warn!(
                    until = %until,
                    "Tradovate's stop (a 429, or a login's or renewal's captcha penalty) stored beside the token (unless a later one was): every process holds off"
                );
            }
            Err(e) => warn!(
                error = %e,
                "Tradovate's 429 stop could not be stored beside the token; other processes may still send"
            ),
        }
    }

    /// After Tradovate refused `rejected` with a 401: a different, fresh token.
    pub async fn after_unauthorized(
        &self,
        rejected: &SecretString,
    ) -> Result<SecretString, TokenError> {
        warn!("Tradovate answered 401; refreshing the token once");
        self.refresh(Some(rejected), false).await.map(|(t, _)| t)
    }

    /// When the stored token expires, if one is stored: for the health record.
    pub async fn stored_expiry(&self) -> Result<Option<DateTime<Utc>>, TokenError> {
        // Another login's token is none of this one's.
        Ok(self
            .stored()
            .await?
            .map(|t| t.expires_at)
            .filter(|at| *at != DateTime::<Utc>::MIN_UTC))
    }

    /// The refresher's run: renew when less than `renew_before` remains, log in when nothing
    /// valid is stored.
    pub async fn scheduled(&self) -> Result<Refreshed, TokenError> {
        match self.stored().await? {
            Some(t) => {
                if t.expires_at - self.clock.now() > self.policy.renew_before {
                    return Ok(Refreshed::StillValid);
                }
                self.adopt_stop(t.stopped_until);
            }
            None => self.adopt_stop(self.store.load_stop(TOKEN_NAME).await?),
        }
        let stopped = || {
            warn!(
                "Tradovate asked for no requests for a while (a 429 or a captcha penalty): the token is not renewed"
            );
            Ok(Refreshed::Stopped)
        };
        if self.client.stopped_for().is_some() {
            return stopped();
        }
        let met_before = self.client.rate_limited_at();
        match self.refresh(None, true).await {
            // A stop another process stored while this one waited for the lock (not a 429
            // this refresh met, which is a failure to report).
            Err(TokenError::Tradovate(TvError::RateLimited))
                if self.client.rate_limited_at() == met_before =>
            {
                stopped()
            }
            other => other.map(|(_, how)| how),
        }
    }

    async fn refresh(
        &self,
        rejected: Option<&SecretString>,
        scheduled: bool,
    ) -> Result<(SecretString, Refreshed), TokenError> {
        let started = std::time::Instant::now();
        // Waited on no longer than another process's lock is: a refresh stuck behind the
        // first (a login delayed, a store slow) ends as a busy lock does.
        let Ok(_flight) =
            tokio::time::timeout(self.policy.wait_for_other, self.flight.lock()).await
        else {
            return self.busy(scheduled).await;
        };
        loop {
            let now = self.clock.now();
            // The lease runs from `now`, not from when the store answers: a lock write slow
            // to land (throttled, retried) uses the same lease, so the refresh's cutoff
            // counts from here.
            let asked = std::time::Instant::now();
            if self
                .lock
                .acquire(TOKEN_NAME, &self.owner, now, now + self.policy.lock_lease)
                .await?
            {
                let result = self.refresh_holding(rejected, scheduled, asked).await;
                // Stored before the lock is released: the next holder reads it. A login's or
                // renewal's captcha penalty stops the client as a 429 does (`TradovateClient`).
                if matches!(
                    result,
                    Err(TokenError::Tradovate(
                        TvError::RateLimited | TvError::Penalty { captcha: true, .. }
                    ))
                ) {
                    self.share_stop().await;
                }
                if let Err(e) = self.lock.release(TOKEN_NAME, &self.owner).await {
                    warn!(error = %e, "could not release the token lock; it will expire");
                }
                return result;
            }
            if started.elapsed() >= self.policy.wait_for_other {
                return self.busy(scheduled).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let found = self.stored().await?;
            if let Some(t) = &found {
                self.adopt_stop(t.stopped_until);
            }
            if let Some(t) = found
                && self.usable(&t)
                && !rejected.is_some_and(|r| same(r, &t.access_token))
                && !scheduled
            {
                return Ok((t.access_token, Refreshed::ByOther));
            }
        }
    }

    /// The refresh under the lock, taken at `held_since`.
    /// The end of a wait for another refresh (another process's lock, or this manager's own
    /// refresh in flight) that outlasted `wait_for_other`: a scheduled run whose stored token
    /// is still usable is `Busy`; anything else is [`TokenError::LockBusy`].
    async fn busy(&self, scheduled: bool) -> Result<(SecretString, Refreshed), TokenError> {
        if scheduled
            && let Some(t) = self.stored().await?
            && self.usable(&t)
        {
            warn!(
                "another refresh held the token lock while this run waited; the stored token is still usable, the next run checks again"
            );
            return Ok((t.access_token, Refreshed::Busy));
        }
        Err(TokenError::LockBusy)
    }

    async fn refresh_holding(
        &self,
        rejected: Option<&SecretString>,
        scheduled: bool,
        held_since: std::time::Instant,
    ) -> Result<(SecretString, Refreshed), TokenError> {
        // Re-read under the lock: whoever held it before us may have refreshed already.
        let current = self.stored().await?;
        if let Some(t) = &current {
            let left = t.expires_at - self.clock.now();
            let fresh_enough = if scheduled {
                left > self.policy.renew_before
            } else {
                left > self.policy.min_validity
            };
            if fresh_enough && !rejected.is_some_and(|r| same(r, &t.access_token)) {
                return Ok((t.access_token.clone(), Refreshed::ByOther));
            }
        }
        // A stop another process stored while this one waited for the lock: nothing sent.
        let stop = match &current {
            Some(t) => t.stopped_until,
            None => self.store.load_stop(TOKEN_NAME).await?,
        };
        self.adopt_stop(stop);
        if self.client.stopped_for().is_some() {
            return Err(TvError::RateLimited.into());
        }
        let valid = current.filter(|t| {
            t.expires_at > self.clock.now() && !rejected.is_some_and(|r| same(r, &t.access_token))
        });
        let obtain = async {
            Ok::<_, TokenError>(match valid {
                Some(t) => match self.client.renew_token(&t.access_token).await {
                    Ok(g) => (g, Refreshed::Renewed),
                    // An answer without a readable expiry too: the token cannot be kept
                    // without one, and a login's answer is documented with it.
                    Err(
                        TvError::Unauthorized | TvError::Refused(_) | TvError::UnreadableToken(_),
                    ) => {
                        warn!("renewal refused or unreadable; logging in");
                        (self.login().await?, Refreshed::LoggedIn)
                    }
                    Err(e) => return Err(e.into()),
                },
                // Within a renewal penalty's wait, no login either: an authentication
                // request all the same, against the same limit.
                None => {
                    self.client.renewal_held()?;
                    (self.login().await?, Refreshed::LoggedIn)
                }
            })
        };
        // Within the lease, or another process could take the lock, refresh as well and store
        // its token while this one stores another (a login opens a session that can end
        // others); and before the Lambda's own timeout (60 s), so that a failure is reported.
        // Only Tradovate's calls are cut, never the save. Cut after a renewal was granted, the
        // stored token is the retired one: its next use gets a 401, and the refresh after
        // that logs in. Counted from when the lock was asked for: the lock's own write and the
        // reads under it (the token, the stop: up to seconds each when the store is slow) use
        // the same lease.
        let budget = self.policy.lock_lease.to_std().unwrap_or_default() * 3 / 4;
        let cutoff = budget.saturating_sub(held_since.elapsed());
        let (grant, how) = tokio::time::timeout(cutoff, obtain)
            .await
            .map_err(|_| TokenError::LeaseOverrun(budget.as_secs()))??;
        let TokenGrant {
            access_token,
            expires_at,
        } = grant;
        self.store
            .save(
                TOKEN_NAME,
                &StoredToken {
                    access_token: access_token.clone(),
                    expires_at,
                    owner: Some(login_fingerprint(self.client.base(), &self.creds.name)),
                    // Not written by `save`: a stored stop stays as it is.
                    stopped_until: None,
                },
            )
            .await?;
        info!(how = ?how, expires_at = %expires_at, "Tradovate token refreshed");
        Ok((access_token, how))
    }
}

/// Saves to both stores (the executors' fast cache and the SSM parameter operators see);
/// loads from the first, falling back to the second when the first holds no token. Not when
/// the first cannot be read: it alone keeps the 429 stop, and a token taken from the second
/// without it would send requests into Tradovate's hour without requests, each lengthening
/// it (and the executors' claims are in the same DynamoDB, so nothing trades meanwhile).
#[derive(Debug)]
pub struct Mirrored<A, B>(pub A, pub B);

impl<A: TokenStore, B: TokenStore> TokenStore for Mirrored<A, B> {
    async fn load(&self, name: &str) -> Result<Option<StoredToken>, StoreError> {
        match self.0.load(name).await? {
            Some(t) => Ok(Some(t)),
            // A token from the second with the first's stop, which may hold one without a
            // token.
            None => match self.1.load(name).await? {
                Some(t) => Ok(Some(StoredToken {
                    stopped_until: self.load_stop(name).await?,
                    ..t
                })),
                None => Ok(None),
            },
        }
    }

    /// `Err` only when the first cannot be written. The copy's failure (SSM throttled, a
    /// missing grant) is a warning: the token is stored where every executor reads it, and
    /// failing the refresh for it alarmed a failed refresh (and refused the signal that
    /// logged in) with a good token stored.
    async fn save(&self, name: &str, token: &StoredToken) -> Result<(), StoreError> {
        self.0.save(name, token).await?;
        if let Err(e) = self.1.save(name, token).await {
            warn!(error = %e, "the token is stored, but its copy could not be written");
        }
        Ok(())
    }

    /// The first's: the second (the SSM copy) keeps no stop, so an unreadable stop is an
    /// error, not none.
    async fn load_stop(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.0.load_stop(name).await
    }

    /// As [`Self::save`]: the first's failure is the error, the copy's a warning.
    async fn save_stop(&self, name: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.0.save_stop(name, until).await?;
        if let Err(e) = self.1.save_stop(name, until).await {
            warn!(error = %e, "the stop is stored, but its copy could not be written");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use shared::memory::MemoryTokenStore;

    /// A token store that cannot be read (DynamoDB throttled or unreachable).
    struct Unreadable;

    impl TokenStore for Unreadable {
        async fn load(&self, _: &str) -> Result<Option<StoredToken>, StoreError> {
            Err(StoreError {
                reason: "throttled".into(),
            })
        }
        async fn save(&self, _: &str, _: &StoredToken) -> Result<(), StoreError> {
            Err(StoreError {
                reason: "throttled".into(),
            })
        }
        async fn load_stop(&self, _: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
            Err(StoreError {
                reason: "throttled".into(),
            })
        }
        async fn save_stop(&self, _: &str, _: DateTime<Utc>) -> Result<(), StoreError> {
            Err(StoreError {
                reason: "throttled".into(),
            })
        }
    }

    /// The first store unreadable: its error, not the second's token without the stop only
    /// the first keeps (a renewal or login would then go out inside Tradovate's 429 stop).
    /// The first holding nothing: the second's token, with the first's stop.
    #[tokio::test]
    async fn a_token_is_taken_from_the_copy_only_when_the_first_store_answers_none() {
        let token = StoredToken {
            access_token: SecretString::from("tok"),
            expires_at: "2026-12-06T13:00:00Z".parse().unwrap(),
            owner: None,
            stopped_until: None,
        };
        let copy = MemoryTokenStore::default();
        copy.save(TOKEN_NAME, &token).await.unwrap();
        let failing = Mirrored(Unreadable, copy);
        assert!(failing.load(TOKEN_NAME).await.is_err());

        let first = MemoryTokenStore::default();
        let until: DateTime<Utc> = "2026-12-06T13:30:00Z".parse().unwrap();
        first.save_stop(TOKEN_NAME, until).await.unwrap();
        let copy = MemoryTokenStore::default();
        copy.save(TOKEN_NAME, &token).await.unwrap();
        let found = Mirrored(first, copy)
            .load(TOKEN_NAME)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.access_token.expose_secret(), "tok");
        assert_eq!(found.stopped_until, Some(until));
    }

    /// A token's owner names its server and user, apart (not the user name itself), and the
    /// same for the same login in every process.
    #[test]
    fn a_login_fingerprint_tells_users_and_servers_apart() {
        let demo = "https://demo.tradovateapi.com/v1";
        let live = "https://live.tradovateapi.com/v1";
        let a = login_fingerprint(demo, "trader-a");
        assert_eq!(a, login_fingerprint(demo, "trader-a"));
        assert_eq!(a.len(), 32);
        assert!(!a.contains("trader"));
        assert_ne!(a, login_fingerprint(demo, "trader-b"));
        assert_ne!(a, login_fingerprint(live, "trader-a"));
    }

    /// The copy that cannot be written does not fail a save the first store kept (the
    /// refresh that stored a good token was reported failed); the first's failure does.
    #[tokio::test]
    async fn a_save_fails_only_when_the_first_store_does() {
        let token = StoredToken {
            access_token: SecretString::from("tok"),
            expires_at: "2026-12-06T13:00:00Z".parse().unwrap(),
            owner: None,
            stopped_until: None,
        };
        let until: DateTime<Utc> = "2026-12-06T13:30:00Z".parse().unwrap();
        let kept = Mirrored(MemoryTokenStore::default(), Unreadable);
        kept.save(TOKEN_NAME, &token).await.unwrap();
        kept.save_stop(TOKEN_NAME, until).await.unwrap();
        let back = kept.load(TOKEN_NAME).await.unwrap().unwrap();
        assert_eq!(back.access_token.expose_secret(), "tok");
        assert_eq!(back.stopped_until, Some(until));
        let lost = Mirrored(Unreadable, MemoryTokenStore::default());
        assert!(lost.save(TOKEN_NAME, &token).await.is_err());
        assert!(lost.save_stop(TOKEN_NAME, until).await.is_err());
    }
}
