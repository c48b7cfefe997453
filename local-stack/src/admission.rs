//! Admission control for the webhook: an alert is accepted only if the backlog ahead of it
//! can be executed within the staleness budget, so no accepted alert expires in a queue. A
//! refused one gets `503` with `Retry-After`. TradingView resends a request answered with a 5xx
//! on its own schedule (after about 5 s, up to 3 times, per this project's design notes; its
//! documentation says nothing of `Retry-After`), so the header is for other senders (`tvctl
//! send`, scripts); a TradingView alert refused on every resend is lost at TradingView.
//!
//! The threshold is measured, not set: the pipeline's drain rate (broker-queue messages
//! finished per second) over windows in which it was busy the whole time, times half the
//! staleness budget (the other half covers the alert's age on arrival and the executor's own
//! time). Until a first busy window is measured there is no limit.

use crate::Queues;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the drain rate is measured.
pub const WINDOW: Duration = Duration::from_millis(500);

/// Busy windows in a row that finished nothing before the pipeline counts as stalled (5 s).
pub const STALL_WINDOWS: u32 = 10;

/// Below this backlog nothing is refused, whatever the rate says (a few messages are noise).
pub const MIN_THRESHOLD: u64 = 200;

/// One reading of the pipeline: when, how many messages finished so far, and whether any
/// was queued.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// When it was read.
    pub at: Instant,
    /// Broker-queue messages finished (deleted) so far.
    pub finished: u64,
    /// Whether anything was queued.
    pub busy: bool,
}

/// The drain rate between two readings (messages per second), when it measures capacity: the
/// queues held messages at both ends (an idle pipeline finishes little because nothing
/// comes, not because it cannot). A busy window that finished nothing is a stalled pipeline
/// (a broker refusing or timing out): its rate is 0.
pub fn rate_between(a: &Sample, b: &Sample) -> Option<u64> {
    let secs = b.at.checked_duration_since(a.at)?.as_secs_f64();
    let done = b.finished.checked_sub(a.finished)?;
    (a.busy && b.busy && secs > 0.0).then(|| (done as f64 / secs) as u64)
}

/// The admission state shared by the webhook and the measuring task.
#[derive(Debug)]
pub struct Admission {
    queues: Arc<Queues>,
    /// Half the staleness budget.
    budget: Duration,
    /// Messages finished per second in the last busy window.
    rate: AtomicU64,
    /// Whether a busy window was measured yet.
    measured: std::sync::atomic::AtomicBool,
    last_logged: Mutex<Option<(Instant, u64)>>,
}

/// Why an alert was refused: the backlog, the threshold and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// Messages queued ahead (signals and broker queues, dead letters not counted).
    pub backlog: u64,
    /// The most the pipeline can execute within the budget at the measured rate.
    pub threshold: u64,
    /// Whole seconds after which the backlog will have fallen under the threshold.
    pub retry_after_secs: u64,
}

impl Refusal {
    /// The webhook's answer: `503` with `Retry-After` (whole seconds) and the error body
    /// `{"error": {"code": "backlog", "message": ...}}` naming the backlog and the threshold.
    pub fn response(&self) -> axum::response::Response {
        use axum::response::IntoResponse;
        let mut resp = (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "error": {
                "code": "backlog",
                "message": format!(
                    "{} alerts are queued, more than can execute within the staleness budget \
                     ({} at the measured rate); send again after {} s",
                    self.backlog, self.threshold, self.retry_after_secs
                ),
            }})),
        )
            .into_response();
        resp.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(self.retry_after_secs),
        );
        resp
    }
}

impl Admission {
    /// Admission for these queues with `max_age` as the staleness budget.
    pub fn new(queues: Arc<Queues>, max_age: chrono::Duration) -> Arc<Self> {
        let budget = max_age.to_std().unwrap_or(Duration::from_secs(30)) / 2;
        Arc::new(Self {
            queues,
            budget,
            rate: AtomicU64::new(0),
            measured: std::sync::atomic::AtomicBool::new(false),
            last_logged: Mutex::new(None),
        })
    }

    fn backlog(&self) -> u64 {
        self.queues.all().iter().map(|q| q.depth() as u64).sum()
    }

    fn finished(&self) -> u64 {
        [
            &self.queues.oanda,
            &self.queues.tradovate,
            &self.queues.coinbase,
        ]
        .iter()
        .map(|q| q.deleted())
        .sum()
    }

    /// The current threshold (messages); `None` before the rate is measured.
    pub fn threshold(&self) -> Option<u64> {
        let rate = self.rate.load(Ordering::Relaxed);
        self.measured
            .load(Ordering::Relaxed)
            .then_some((rate as f64 * self.budget.as_secs_f64()) as u64)
            .map(|t| t.max(MIN_THRESHOLD))
    }

    /// `Err` when an alert arriving now should be refused.
    pub fn admit(&self) -> Result<(), Refusal> {
        let Some(threshold) = self.threshold() else {
            return Ok(());
        };
        let backlog = self.backlog();
        if backlog < threshold {
            return Ok(());
        }
        let rate = self.rate.load(Ordering::Relaxed).max(1);
        Err(Refusal {
            backlog,
            threshold,
            retry_after_secs: ((backlog - threshold) / rate + 1).min(30),
        })
    }

    /// Measures the drain rate every [`WINDOW`], for as long as the stack runs.
    pub fn spawn_meter(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(WINDOW);
            let mut last = me.sample();
            let mut stalled = 0u32;
            loop {
                tick.tick().await;
                let now = me.sample();
                match rate_between(&last, &now) {
                    // A stall is believed after a few windows in a row: one empty window is
                    // as likely a batch in flight or messages still in the first queue.
                    Some(0) => {
                        stalled += 1;
                        if stalled >= STALL_WINDOWS {
                            me.observe(0);
                        }
                    }
                    Some(rate) => {
                        stalled = 0;
                        // Smoothed: one fast or slow window moves the threshold by a third.
                        let prev = me.rate.load(Ordering::Relaxed);
                        let smoothed = if me.measured.load(Ordering::Relaxed) && prev > 0 {
                            (prev * 2 + rate) / 3
                        } else {
                            rate
                        };
                        me.observe(smoothed);
                    }
                    None => stalled = 0,
                }
                last = now;
            }
        });
    }

    fn sample(&self) -> Sample {
        Sample {
            at: Instant::now(),
            finished: self.finished(),
            busy: self.backlog() > 0,
        }
    }

    /// Takes `rate` (messages finished per second while busy) as the pipeline's capacity.
    pub fn observe(&self, rate: u64) {
        self.rate.store(rate, Ordering::Relaxed);
        self.measured.store(true, Ordering::Relaxed);
        self.log_threshold();
    }

    /// Logs the threshold when it moved by a fifth or more, at most every 10 s.
    fn log_threshold(&self) {
        let Some(t) = self.threshold() else { return };
        let mut last = self.last_logged.lock().unwrap_or_else(|e| e.into_inner());
        let moved = last.is_none_or(|(at, prev)| {
            at.elapsed() >= Duration::from_secs(10) && t.abs_diff(prev) * 5 >= prev
        });
        if moved {
            *last = Some((Instant::now(), t));
            let rate = self.rate.load(Ordering::Relaxed);
            tracing::info!(
                rate_per_sec = rate,
                threshold = t,
                "admission threshold measured"
            );
            crate::console::line(format_args!(
                "admission: {rate} signals/s measured; alerts beyond a backlog of {t} get 503"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use local_sqs::{LocalFifoQueue, LocalQueueConfig};
    use shared::clock::SystemClock;
    use shared::ports::FifoMessage;

    fn queues() -> Arc<Queues> {
        let q = |name: &str| {
            Arc::new(LocalFifoQueue::new(
                LocalQueueConfig {
                    name: name.into(),
                    visibility_timeout: chrono::Duration::seconds(5),
                    max_receives: 5,
                },
                SystemClock,
                None,
            ))
        };
        Arc::new(Queues {
            signals: q("signals"),
            oanda: q("oanda"),
            tradovate: q("tradovate"),
            coinbase: q("coinbase"),
        })
    }

    #[test]
    fn only_busy_windows_measure_capacity() {
        let t = Instant::now();
        let s = |ms: u64, finished: u64, busy: bool| Sample {
            at: t + Duration::from_millis(ms),
            finished,
            busy,
        };
        assert_eq!(
            rate_between(&s(0, 0, true), &s(500, 1_000, true)),
            Some(2_000)
        );
        assert_eq!(rate_between(&s(0, 0, false), &s(500, 1_000, true)), None);
        assert_eq!(rate_between(&s(0, 0, true), &s(500, 1_000, false)), None);
        // Busy and nothing finished: stalled.
        assert_eq!(rate_between(&s(0, 5, true), &s(500, 5, true)), Some(0));
    }

    #[test]
    fn refuses_what_cannot_execute_within_half_the_budget() {
        let queues = queues();
        let admission = Admission::new(queues.clone(), chrono::Duration::seconds(30));
        for i in 0..1_000 {
            queues.signals.send_now(FifoMessage {
                group_id: format!("g{}", i % 7),
                dedup_id: format!("d{i}"),
                body: "{}".into(),
            });
        }
        // Not measured yet: no limit.
        assert_eq!(admission.admit(), Ok(()));
        // 100 a second for 15 s is 1,500: room for these 1,000.
        admission.observe(100);
        assert_eq!(admission.threshold(), Some(1_500));
        assert_eq!(admission.admit(), Ok(()));
        // 50 a second: 750 at most, 1,000 queued; back in (1,000 - 750) / 50 + 1 = 6 s.
        admission.observe(50);
        assert_eq!(
            admission.admit(),
            Err(Refusal {
                backlog: 1_000,
                threshold: 750,
                retry_after_secs: 6
            })
        );
        // The answer TradingView gets: 503, when to come back, and why.
        let refusal = admission.admit().err().unwrap_or(Refusal {
            backlog: 0,
            threshold: 0,
            retry_after_secs: 0,
        });
        let resp = refusal.response();
        assert_eq!(resp.status(), 503);
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("6")
        );
        let body = futures_util::FutureExt::now_or_never(axum::body::to_bytes(
            resp.into_body(),
            usize::MAX,
        ));
        let body: serde_json::Value = body
            .and_then(Result::ok)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        assert_eq!(body["error"]["code"], "backlog");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("1000 alerts are queued") && message.contains("(750 at"),
            "{message}"
        );
        // A stalled pipeline refuses above the floor; never under it.
        admission.observe(0);
        assert_eq!(admission.threshold(), Some(MIN_THRESHOLD));
        assert!(admission.admit().is_err());
    }
}
