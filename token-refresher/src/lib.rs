//! The token refresher's handler: one scheduled run renews or re-logs the Tradovate token
//! under the lock, emits a metric either way, and notifies operators on failure (and fails
//! the invocation, so the function's error alarm fires too).

use executor_runtime::metrics::MetricsSink;
use executor_tradovate::token::{Refreshed, TokenError, TokenManager};
use shared::clock::Clock;
use shared::health::{FailureKind, HealthEvent, HealthStore};
use shared::ports::{LeaseLock, Notification, Notifier, TokenStore};
use shared::routing::Broker;
use tracing::{error, info};

/// One EMF line: `TokenRefreshes` or `TokenRefreshFailures` in namespace `TvPipeline`.
fn metric(name: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    shared::telemetry::emf_count_line(
        name,
        1,
        at.timestamp_millis(),
        &[("Broker", "tradovate")],
        &[],
    )
}

/// One scheduled run. Health is recorded for the status endpoints (the token's expiry, or the
/// failure); not being able to record it is logged and changes nothing else.
pub async fn refresh<S, L, C, N, H>(
    tokens: &TokenManager<S, L, C>,
    notifier: &N,
    health: &H,
    metrics: &dyn MetricsSink,
    clock: &impl Clock,
) -> Result<Refreshed, TokenError>
where
    S: TokenStore,
    L: LeaseLock,
    C: Clock,
    N: Notifier,
    H: HealthStore,
{
    match tokens.scheduled().await {
        Ok(how) => {
            info!(how = ?how, "token refresh run");
            metrics.emit(metric("TokenRefreshes", clock.now()));
            // A run that left the token as it found it because it could not act (a 429's
            // stop, the lock held throughout) records no token: that would end the degraded
            // status of an earlier failed refresh (`BrokerHealth::state`) with nothing renewed.
            if matches!(how, Refreshed::Stopped | Refreshed::Busy) {
                return Ok(how);
            }
            match tokens.stored_expiry().await {
                Ok(Some(expires_at)) => {
                    let event = HealthEvent::Token { expires_at };
                    if let Err(e) = health.record(Broker::Tradovate, clock.now(), event).await {
                        error!(error = %e, "token expiry not recorded in the health table");
                    }
                }
                Ok(None) => {}
                Err(e) => error!(error = %e, "stored token expiry unreadable"),
            }
            Ok(how)
        }
        Err(e) => {
            error!(error = %e, "token refresh failed");
            metrics.emit(metric("TokenRefreshFailures", clock.now()));
            let event = HealthEvent::Failure(FailureKind::TokenRefresh);
            if let Err(h) = health.record(Broker::Tradovate, clock.now(), event).await {
                error!(error = %h, "token refresh failure not recorded in the health table");
            }
            let note = Notification {
                subject: "tradovate token refresh failed".into(),
                message: format!(
                    "The Tradovate token could not be refreshed: {e}. Executors will try once themselves; check credentials and penalties."
                ),
                urgent: false,
            };
            if let Err(n) = notifier.notify(note).await {
                error!(error = %n, "could not notify about the failed refresh");
            }
            Err(e)
        }
    }
}
