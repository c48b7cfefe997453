//! The router Lambda binary: configuration and clients built once, then the runtime loop.
// The Lambda runtime nests our FIFO batch future deeply enough to pass the default limit.
#![recursion_limit = "256"]

use aws_adapters::front_months::DynamoFrontMonths;
use aws_adapters::{SqsFifoQueue, load_sdk_config};
use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use router::{BrokerQueues, Router, RouterConfig};
use shared::clock::SystemClock;
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init_json_logs();
    let cfg = RouterConfig::from_env(&ProcessEnv)?;
    let sdk = load_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    // The signals queue, whose failed records are made visible again within seconds.
    let after = aws_adapters::AfterBatch::new(
        sqs.clone(),
        shared::config::Env::unset_or_given(
            &ProcessEnv,
            "SOURCE_QUEUE_URL",
            "failed records waiting out the timeout",
        )?,
        "router",
    );
    let queues = BrokerQueues {
        oanda: SqsFifoQueue::new(sqs.clone(), cfg.oanda_queue_url),
        tradovate: SqsFifoQueue::new(sqs.clone(), cfg.tradovate_queue_url),
        coinbase: SqsFifoQueue::new(sqs.clone(), cfg.coinbase_queue_url),
    };
    let mut router = Router::new(queues, cfg.routing, SystemClock);
    if let Some(url) = cfg.dead_letter_queue_url {
        router = router.with_dead_letters(std::sync::Arc::new(SqsFifoQueue::new(sqs, url)));
    }
    if let Some(table) = cfg.front_month_table {
        let cache = DynamoFrontMonths::new(aws_sdk_dynamodb::Client::new(&sdk), table);
        // Read at most every five minutes: the scheduled job refreshes hourly.
        router = router.with_front_months(std::sync::Arc::new(cache), chrono::Duration::minutes(5));
    }
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let deadline =
            fifo_batch::usable_deadline(event.context.deadline(), {
                #[allow(
                    clippy::disallowed_methods,
                    reason = "Lambda gives its deadline as a wall-clock instant: only the system clock compares with it"
                )]
                std::time::SystemTime::now()
            });
        let (router, after) = (&router, &after);
        async move {
            let response = router.handle_batch(event.payload.clone(), deadline).await?;
            let now = shared::clock::Clock::now(&SystemClock).timestamp_millis();
            after.run(&event.payload, &response, now, deadline).await;
            Ok::<_, fifo_batch::MissingMessageId>(response)
        }
    }))
    .await
}
