//! Failure mails grouped: at most one per broker per interval, the next one counting the
//! ones held back, so an outage that fails every entry does not send one mail per signal.
//! Urgent mails pass whatever the interval (an unknown outcome, a signal half done, an exit
//! left undone, a fill mail): an outage sends one for each of those.

use chrono::Duration;
use chrono::{DateTime, Utc};
use shared::clock::Clock;
use shared::health::{HealthError, NotifyGate};
use shared::ports::{Notification, Notifier, QueueError};
use shared::routing::Broker;
use std::collections::HashMap;
use std::sync::Mutex;
use tracing::{info, warn};

/// The interval when `NOTIFY_MIN_INTERVAL_SECS` is not set: 15 minutes.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::minutes(15);

/// A [`Notifier`] that asks its gate first. A held-back notification is still in the journal
/// and the logs (the executor writes both before notifying); the next mail says how many
/// there were. When the gate cannot be read the mail is sent: a mail too many beats a
/// failure nobody hears of.
#[derive(Debug)]
pub struct RateLimited<N, G, C> {
    /// The notifier that sends (SNS in AWS).
    pub inner: N,
    /// Grants or holds back each non-urgent mail and counts the held back (the health
    /// table in AWS, [`MemoryNotifyGate`] otherwise).
    pub gate: G,
    /// The `now` handed to the gate (UTC).
    pub clock: C,
    /// The broker whose failure mails share one interval.
    pub broker: Broker,
    /// At most one non-urgent mail per this interval; urgent ones (an unknown outcome, a signal
    /// half done) always go. Shown in whole minutes in the mail text.
    pub min_interval: Duration,
}

impl<N: Notifier, G: NotifyGate, C: Clock> Notifier for RateLimited<N, G, C> {
    async fn notify(&self, mut note: Notification) -> Result<(), QueueError> {
        if note.urgent {
            return self.inner.notify(note).await;
        }
        match self
            .gate
            .admit(self.broker, self.clock.now(), self.min_interval)
            .await
        {
            Ok(None) => {
                info!(subject = %note.subject, "failure mail held back: one was sent recently");
                return Ok(());
            }
            Ok(Some(0)) => {}
            Ok(Some(held)) => {
                note.subject = format!("{} (+{held} more)", note.subject);
                note.message = format!(
                    "{}\n\n{held} more failed signal(s) of {} were not mailed since the last \
                     mail (at most one every {} min); the journal lists them: `tvctl report \
                     --journal <JOURNAL_URL>`, or `tvctl report --log-lines <file>` over the \
                     executors' exported log lines where JOURNAL=log.",
                    note.message,
                    self.broker,
                    self.min_interval.num_minutes()
                );
            }
            Err(e) => warn!(error = %e, "mail rate limit unreadable: sending anyway"),
        }
        self.inner.notify(note).await
    }
}

/// The gate in memory, for the local stack and tests.
#[derive(Debug, Default)]
pub struct MemoryNotifyGate(Mutex<HashMap<Broker, (DateTime<Utc>, u64)>>);

impl NotifyGate for MemoryNotifyGate {
    async fn admit(
        &self,
        broker: Broker,
        now: DateTime<Utc>,
        min_interval: Duration,
    ) -> Result<Option<u64>, HealthError> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(&broker) {
            Some((last, held)) if *last > now - min_interval => {
                *held += 1;
                Ok(None)
            }
            Some((last, held)) => {
                let n = *held;
                *last = now;
                *held = 0;
                Ok(Some(n))
            }
            None => {
                map.insert(broker, (now, 0));
                Ok(Some(0))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::clock::ManualClock;
    use shared::memory::MemoryNotifier;
    use std::sync::Arc;

    #[tokio::test]
    async fn one_mail_per_interval_and_the_next_counts_the_held_back() {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let clock = ManualClock::new(t0);
        let sent = Arc::new(MemoryNotifier::default());
        let n = RateLimited {
            inner: sent.clone(),
            gate: MemoryNotifyGate::default(),
            clock: clock.clone(),
            broker: Broker::Oanda,
            min_interval: DEFAULT_MIN_INTERVAL,
        };
        let note = |i: u32| Notification {
            subject: format!("oanda Rejected {i}"),
            message: format!("signal {i} rejected"),
            urgent: false,
        };
        for i in 0..5 {
            n.notify(note(i)).await.unwrap_or_default();
            clock.advance(Duration::minutes(1));
        }
        assert_eq!(sent.sent().len(), 1, "four held back");
        clock.set(t0 + Duration::minutes(15));
        n.notify(note(5)).await.unwrap_or_default();
        let mails = sent.sent();
        assert_eq!(mails.len(), 2);
        assert_eq!(mails[1].subject, "oanda Rejected 5 (+4 more)");
        assert!(
            mails[1]
                .message
                .contains("4 more failed signal(s) of oanda"),
            "{}",
            mails[1].message
        );
        // A command that reads a deployment's journal: `tvctl trades` reads only a local
        // stack's.
        assert!(
            mails[1]
                .message
                .contains("`tvctl report --journal <JOURNAL_URL>`"),
            "{}",
            mails[1].message
        );
    }
}
