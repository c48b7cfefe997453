//! The batch processor. Generic over the queue port, so tests drive it with in-memory or
//! moto-backed queues and scripted faults.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
pub use fifo_batch::MissingMessageId;
use shared::RoutingTable;
use shared::clock::Clock;
use shared::front_month::{FrontMonthCache, Fronts, HELD_FOR, Routed, trusted};
use shared::message::{OrderIntent, SIGNAL_VERSIONS, SignalMessage};
use shared::ports::{DeadLetterQueue, FifoMessage, FifoQueue, QueueError, StoreError};
use shared::routing::{Broker, Route, contract_month_index, front_symbol_root};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tracing::{Instrument, error, error_span, info, warn};

#[derive(Debug)]
pub struct BrokerQueues<Q> {
    pub oanda: Q,
    pub tradovate: Q,
    pub coinbase: Q,
}

impl<Q> BrokerQueues<Q> {
    fn get(&self, broker: Broker) -> &Q {
        match broker {
            Broker::Oanda => &self.oanda,
            Broker::Tradovate => &self.tradovate,
            Broker::Coinbase => &self.coinbase,
        }
    }
}

/// Why a record is reported failed (and so comes back, and after enough receives lands in the
/// dead-letter queue).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("message body is not a signal: {0}")]
    Unreadable(String),
    #[error(
        "signal message version {0} is not understood (this router knows {first} to {last})",
        first = SIGNAL_VERSIONS.start(),
        last = SIGNAL_VERSIONS.end()
    )]
    UnknownVersion(u32),
    #[error("could not send the intent: {0}")]
    Send(#[from] QueueError),
    /// The record's calls had not answered `DEADLINE_MARGIN` before the invocation's
    /// deadline: cut, so the batch answers in time instead of the whole batch timing out.
    #[error(
        "not routed within the {ms} ms left before the invocation's deadline (less its margin): retried"
    )]
    OutOfTime { ms: u64 },
    /// A continuous symbol's latest contract could not be checked or recorded: routing it
    /// blind could send it back to an earlier contract, so the record is retried.
    #[error("could not hold the continuous symbol's contract: {0}")]
    FrontMonth(StoreError),
    /// A signal that no longer routes could not be sent to the dead-letter queue: retried, as
    /// acknowledging it would lose it.
    #[error(
        "signal no longer routes ({refusal}), and could not be sent to the dead-letter queue: {error}"
    )]
    DeadLetter { refusal: String, error: QueueError },
    /// A signal that no longer routes, and no dead-letter queue to send it to: failed, so the
    /// queue delivers it again until its redrive policy moves it to the queue's own
    /// dead-letter queue. Acknowledging it would lose an alert ingest accepted.
    #[error(
        "signal no longer routes ({0}), and no dead-letter queue is set (DEAD_LETTER_QUEUE_URL): retried until the queue's redrive policy dead-letters it"
    )]
    NoDeadLetterQueue(String),
}

pub struct Router<Q, C> {
    queues: BrokerQueues<Q>,
    routing: RoutingTable,
    clock: C,
    fronts: Option<FrontSource>,
    disagreements: AtomicU64,
    dead_letters: Option<Arc<dyn DeadLetterQueue>>,
}

impl<Q, C> std::fmt::Debug for Router<Q, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("front_months", &self.fronts.is_some())
            .finish_non_exhaustive()
    }
}

/// Market-data front months, read from their cache at most every `refresh`.
struct FrontSource {
    cache: Arc<dyn FrontMonthCache>,
    refresh: chrono::Duration,
    snapshot: Mutex<(Option<DateTime<Utc>>, Fronts)>,
}

impl<Q: FifoQueue, C: Clock> Router<Q, C> {
    pub fn new(queues: BrokerQueues<Q>, routing: RoutingTable, clock: C) -> Self {
        Self {
            queues,
            routing,
            clock,
            fronts: None,
            disagreements: AtomicU64::new(0),
            dead_letters: None,
        }
    }

    /// Sends a signal that no longer routes (the routing table changed between ingest and
    /// the router) to `dlq`, the signals queue's dead-letter queue, whose depth is alarmed,
    /// and acknowledges it: a terminal state an operator hears of and can replay
    /// (`tvctl dlq`), where without one it is only logged. Its other signals are not held
    /// behind it, as retrying it until the queue's own redrive would.
    pub fn with_dead_letters(mut self, dlq: Arc<dyn DeadLetterQueue>) -> Self {
        self.dead_letters = Some(dlq);
        self
    }

    /// Routes `ROOT1!` by the market-data front months in `cache` (read at most every
    /// `refresh`), falling back to the table's roll rule where none is trusted.
    pub fn with_front_months(
        mut self,
        cache: Arc<dyn FrontMonthCache>,
        refresh: chrono::Duration,
    ) -> Self {
        self.fronts = Some(FrontSource {
            cache,
            refresh,
            snapshot: Mutex::new((None, Fronts::new())),
        });
        self
    }

    /// How many times a market-data front month and the roll rule disagreed.
    pub fn disagreements(&self) -> u64 {
        self.disagreements.load(Ordering::Relaxed)
    }

    /// The trusted front months now, re-read from the cache when the copy is older than the
    /// refresh interval. A cache that cannot be read leaves the roll rule in charge.
    async fn current_fronts(&self, now: DateTime<Utc>) -> Fronts {
        let Some(src) = &self.fronts else {
            return Fronts::new();
        };
        {
            let snap = src.snapshot.lock().unwrap_or_else(|e| e.into_inner());
            if snap.0.is_some_and(|at| now - at < src.refresh) {
                return snap.1.clone();
            }
        }
        match src.cache.all(now).await {
            Ok(all) => {
                let fresh = trusted(all, now);
                *src.snapshot.lock().unwrap_or_else(|e| e.into_inner()) =
                    (Some(now), fresh.clone());
                fresh
            }
            Err(e) => {
                // Keep the copy we have (still bounded by the two-day trust), rather than
                // flipping to the roll rule for a moment and back.
                warn!(error = %e, "front-month cache unreadable; keeping the last copy");
                let snap = src.snapshot.lock().unwrap_or_else(|e| e.into_inner());
                snap.1
                    .values()
                    .filter(|f| now - f.as_of <= shared::front_month::TRUSTED_FOR)
                    .map(|f| (f.root.clone(), f.clone()))
                    .collect()
            }
        }
    }

    /// With market-data front months, a `ROOT1!` resolution never goes back to an earlier
    /// contract than one a router already traded the symbol in
    /// ([`FrontMonthCache::hold_forward`]): two routers' copies of the cache, read up to a
    /// refresh apart, could otherwise send `ES1!` to ESH7 and then back to ESZ6, and the
    /// executor, which rolls only an earlier contract into a later one, would leave the account
    /// long one and short the other. A router built without them (no front-month table) holds
    /// nothing and the roll rule decides, which only moves forward in time; the local stack
    /// always builds its router with them, its holds in the state file.
    async fn hold_forward(&self, route: &mut Route, now: DateTime<Utc>) -> Result<(), RecordError> {
        let (Some(src), Some(res)) = (&self.fronts, route.resolution.as_mut()) else {
            return Ok(());
        };
        let Some(month) = contract_month_index(&res.contract, now)
            .filter(|_| front_symbol_root(&res.requested).is_some())
        else {
            return Ok(());
        };
        let routed = Routed {
            contract: &res.contract,
            month,
            now,
            expires_at: now + HELD_FOR,
        };
        let held = src
            .cache
            .hold_forward(&res.requested, routed)
            .await
            .map_err(RecordError::FrontMonth)?;
        if held != res.contract {
            warn!(
                metric = "front_month_held",
                requested = %res.requested,
                resolved = %res.contract,
                held = %held,
                "a router already traded this symbol in a later contract; trading that one"
            );
            res.rule = format!(
                "{}; held at {held}: {} was already routed to that later contract, and is never routed back to an earlier one (a router's copy of the market-data cache was older, the volume leader moved back, a routing table set back, or, on the local stack, a restart since)",
                res.rule, res.requested
            );
            res.contract = held.clone();
            route.instrument = shared::routing::Instrument::new(held);
        }
        Ok(())
    }

    /// Processes the batch in order and reports the records to retry.
    pub async fn handle_batch(
        &self,
        event: SqsEvent,
        deadline: Option<SystemTime>,
    ) -> Result<SqsBatchResponse, MissingMessageId> {
        fifo_batch::process(&event, deadline, |record| {
            self.handle_record_before(record, deadline)
        })
        .await
    }

    /// [`Self::handle_batch`] with the reason of each failure.
    pub async fn handle_batch_with_errors(
        &self,
        event: SqsEvent,
        deadline: Option<SystemTime>,
    ) -> Result<(SqsBatchResponse, Vec<(String, String)>), MissingMessageId> {
        fifo_batch::process_with_errors(&event, deadline, |record| {
            self.handle_record_before(record, deadline)
        })
        .await
    }

    /// [`Self::handle_record`], cut [`fifo_batch::DEADLINE_MARGIN`] before `deadline`: one
    /// record's calls (a front-month read, its hold, the send; each may take the SDK's 10 s
    /// in a slow moment) could otherwise run the invocation past its timeout, and the whole
    /// batch would fail, records already routed included, and come back only after the
    /// queue's visibility timeout, past every signal's staleness budget. The margin leaves
    /// time to shorten the failed records' visibility and answer.
    ///
    /// Safe to cut at any point: a hold already written is found again by the retry (it only
    /// moves forward), and a send or dead-letter send that reached SQS is dropped as a
    /// duplicate when the retry makes it again (its deduplication id is the signal's, the
    /// dead letter's the signal's and the message's; SQS FIFO drops a repeat within five
    /// minutes). An executor must never be cut this way: a cut could fall between an order's
    /// send and its answer.
    async fn handle_record_before(
        &self,
        record: &SqsMessage,
        deadline: Option<SystemTime>,
    ) -> Result<(), RecordError> {
        let Some(deadline) = deadline else {
            return self.handle_record(record).await;
        };
        let left = fifo_batch::time_left(deadline).saturating_sub(fifo_batch::DEADLINE_MARGIN);
        tokio::time::timeout(left, self.handle_record(record))
            .await
            .unwrap_or(Err(RecordError::OutOfTime {
                ms: u64::try_from(left.as_millis()).unwrap_or(u64::MAX),
            }))
    }

    async fn handle_record(&self, record: &SqsMessage) -> Result<(), RecordError> {
        let body = record.body.as_deref().unwrap_or_default();
        // Another version's shape (a field added or renamed, a new action) does not parse as
        // this one's: its `version` alone names it, as the executors read it.
        let signal: SignalMessage = match serde_json::from_str(body) {
            Ok(signal) => signal,
            Err(e) => {
                return match serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("version")?.as_u64())
                {
                    // Retried: a deployment in progress clears it.
                    Some(v) if !u32::try_from(v).is_ok_and(|v| SIGNAL_VERSIONS.contains(&v)) => {
                        Err(RecordError::UnknownVersion(
                            u32::try_from(v).unwrap_or(u32::MAX),
                        ))
                    }
                    _ => self.unreadable(record, body, e.to_string()).await,
                };
            }
        };
        if !SIGNAL_VERSIONS.contains(&signal.version) {
            return Err(RecordError::UnknownVersion(signal.version));
        }
        // At ERROR level, so the span is kept whatever the level filter: a warning or an error
        // must name its signal when only those are logged (`tvctl dev`'s default).
        let span = error_span!("signal", signal_id = %signal.signal_id);
        async {
            let md = &signal.alert.market_data;
            let now = self.clock.now();
            let fronts = self.current_fronts(now).await;
            let route_at = |at| {
                self.routing.route_for(
                    &md.exchange,
                    &md.symbol,
                    at,
                    &fronts,
                    shared::routing::Use::of(signal.alert.action),
                )
            };
            let mut route = match route_at(now) {
                Ok(route) => route,
                // Ingest routed it when it received it: an explicit contract can stop routing
                // in between (an entry past its roll date, an exit past its contract month, at
                // midnight UTC). Routed as of its receipt, ingest's verdict holds. Not a forced
                // replay: the operator sends it now, past its age limit, and it routes as of
                // now (an old entry is not sent to a contract the table has rolled from).
                Err(refusal) => match (signal.received_at < now && !signal.replay_forced)
                    .then(|| route_at(signal.received_at))
                {
                    Some(Ok(route)) => {
                        info!(
                            received_at = %signal.received_at,
                            "routed as of its receipt: the routing table's dates refuse it now"
                        );
                        route
                    }
                    _ => {
                        let message_id = record.message_id.as_deref().unwrap_or_default();
                        return self.refused(&signal, body, &refusal, message_id).await;
                    }
                },
            };
            if let Some(what) = &route.disagreement {
                self.disagreements.fetch_add(1, Ordering::Relaxed);
                warn!(
                    metric = "front_month_disagreement",
                    disagreement = what.as_str(),
                    "market-data front month and roll rule disagree"
                );
            }
            self.hold_forward(&mut route, now).await?;
            if let Some(res) = &route.resolution {
                info!(requested = %res.requested, contract = %res.contract, rule = %res.rule, "continuous contract resolved");
            }
            let intent = OrderIntent::new(&signal, route, now);
            let body = serde_json::to_string(&intent).map_err(|e| {
                RecordError::Unreadable(format!("intent could not be serialised: {e}"))
            })?;
            self.queues
                .get(intent.broker)
                .send(FifoMessage {
                    group_id: intent.group_id(),
                    dedup_id: intent.signal_id.to_string(),
                    body,
                })
                .await?;
            info!(
                broker = %intent.broker,
                instrument = %intent.instrument,
                action = %intent.action,
                "intent sent"
            );
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// A body no retry can make readable: to the dead-letter queue at once under its own
    /// message id (`poison-<id>`, so a redelivery of it is deduplicated), and acknowledged, as
    /// the executors do. Retried until the queue's redrive (5 receives, about 15 s), it held
    /// every later signal of its group behind it, and those reached their own redrive unrun.
    /// Without a dead-letter queue, or when the send fails, it is failed (the redrive keeps
    /// it).
    async fn unreadable(
        &self,
        record: &SqsMessage,
        body: &str,
        why: String,
    ) -> Result<(), RecordError> {
        let Some(dlq) = &self.dead_letters else {
            return Err(RecordError::Unreadable(why));
        };
        let message_id = record.message_id.as_deref().unwrap_or_default();
        dlq.dead_letter(FifoMessage {
            group_id: record
                .attributes
                .get("MessageGroupId")
                .cloned()
                .unwrap_or_else(|| "unreadable".into()),
            dedup_id: format!("poison-{message_id}"),
            body: body.to_owned(),
        })
        .await
        .map_err(|error| RecordError::DeadLetter {
            refusal: format!("message body is not a signal: {why}"),
            error,
        })?;
        error!(
            outcome = "unreadable",
            error = %why,
            message_id,
            "message body is not a signal: sent to the dead-letter queue and acknowledged"
        );
        Ok(())
    }

    /// A signal ingest accepted that does not route now (the routing table changed since):
    /// retrying cannot make it routable, so it goes to the dead-letter queue and is
    /// acknowledged. Without one it fails ([`RecordError::NoDeadLetterQueue`]): never
    /// acknowledged unkept.
    async fn refused(
        &self,
        signal: &SignalMessage,
        body: &str,
        refusal: &shared::error::AlertError,
        message_id: &str,
    ) -> Result<(), RecordError> {
        let Some(dlq) = &self.dead_letters else {
            error!(
                outcome = "refused",
                code = %refusal.code(),
                reason = %refusal,
                "signal no longer routes and no dead-letter queue is set: failed, so the queue's redrive policy keeps it"
            );
            return Err(RecordError::NoDeadLetterQueue(refusal.to_string()));
        };
        dlq.dead_letter(FifoMessage {
            group_id: signal.group_id(),
            // The queue message's id: the same across redeliveries of one message (a send
            // whose acknowledgement was lost is not sent twice), new for a replay (refused
            // again, inside SQS's five-minute deduplication window, it must not be dropped).
            dedup_id: format!("{}-{message_id}", signal.signal_id),
            body: body.to_owned(),
        })
        .await
        .map_err(|error| RecordError::DeadLetter {
            refusal: refusal.to_string(),
            error,
        })?;
        error!(
            outcome = "refused",
            code = %refusal.code(),
            reason = %refusal,
            "signal no longer routes; sent to the dead-letter queue and acknowledged"
        );
        Ok(())
    }
}
