//! The batch processor. Generic over the queue port, so tests drive it with in-memory or
//! moto-backed queues and scripted faults.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
pub use fifo_batch::MissingMessageId;
use shared::RoutingTable;
use shared::clock::Clock;
use shared::message::{OrderIntent, SIGNAL_VERSION, SignalMessage};
use shared::ports::{FifoMessage, FifoQueue, QueueError};
use shared::routing::Broker;
use std::time::SystemTime;
use tracing::{Instrument, error, info, info_span};

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
    #[error("signal message version {0} is not understood (this router knows {SIGNAL_VERSION})")]
    UnknownVersion(u32),
    #[error("could not send the intent: {0}")]
    Send(#[from] QueueError),
}

#[derive(Debug)]
pub struct Router<Q, C> {
    queues: BrokerQueues<Q>,
    routing: RoutingTable,
    clock: C,
}

impl<Q: FifoQueue, C: Clock> Router<Q, C> {
    pub fn new(queues: BrokerQueues<Q>, routing: RoutingTable, clock: C) -> Self {
        Self {
            queues,
            routing,
            clock,
        }
    }

    /// Processes the batch in order and reports the records to retry.
    pub async fn handle_batch(
        &self,
        event: SqsEvent,
        deadline: Option<SystemTime>,
    ) -> Result<SqsBatchResponse, MissingMessageId> {
        fifo_batch::process(&event, deadline, |record| self.handle_record(record)).await
    }

    /// [`Self::handle_batch`] with the reason of each failure.
    pub async fn handle_batch_with_errors(
        &self,
        event: SqsEvent,
        deadline: Option<SystemTime>,
    ) -> Result<(SqsBatchResponse, Vec<(String, String)>), MissingMessageId> {
        fifo_batch::process_with_errors(&event, deadline, |record| self.handle_record(record)).await
    }

    async fn handle_record(&self, record: &SqsMessage) -> Result<(), RecordError> {
        let body = record.body.as_deref().unwrap_or_default();
        let signal: SignalMessage =
            serde_json::from_str(body).map_err(|e| RecordError::Unreadable(e.to_string()))?;
        if signal.version != SIGNAL_VERSION {
            return Err(RecordError::UnknownVersion(signal.version));
        }
        let span = info_span!("signal", signal_id = %signal.signal_id);
        async {
            let md = &signal.alert.market_data;
            let now = self.clock.now();
            let route = match self.routing.route(&md.exchange, &md.symbol, now) {
                Ok(route) => route,
                Err(refusal) => {
                    // Retrying cannot make it routable; acknowledging is the terminal state.
                    error!(
                        outcome = "refused",
                        code = %refusal.code(),
                        reason = %refusal,
                        "signal no longer routes; acknowledged without an order"
                    );
                    return Ok(());
                }
            };
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
}
