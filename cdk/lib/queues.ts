/**
 * The queues and their consumers: the `signals` queue (router) and one queue per broker
 * (its executor), each an SQS FIFO queue with a FIFO dead-letter queue, and the event source
 * mappings that feed the functions.
 */
import { CfnOutput, Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ALL_BROKERS, Broker } from './config';
import { cap, MAX_RECEIVE_COUNT, TIMEOUT, VISIBILITY_FACTOR } from './common';
import { Concern, stableUniqueId } from './ids';

export type QueueName = 'signals' | Broker;
export const QUEUE_NAMES: readonly QueueName[] = ['signals', ...ALL_BROKERS];

/** How long a dead-letter queue keeps a letter: 14 days, SQS's longest retention. */
export const DLQ_RETENTION_DAYS = 14;

export interface ConsumeOptions {
  /** Records per invocation (1 to 10 on a FIFO queue). */
  readonly batchSize: number;
  readonly maxConcurrency: number;
}

export class Queues extends Concern {
  readonly queues = {} as Record<QueueName, sqs.Queue>;
  readonly deadLetterQueues = {} as Record<QueueName, sqs.Queue>;

  constructor(scope: Construct, id: string, stackName: string) {
    super(scope, id);
    this.fifoQueue(stackName, 'signals', TIMEOUT.router);
    for (const b of ALL_BROKERS) this.fifoQueue(stackName, b, TIMEOUT.executor);
  }

  /**
   * Feeds `fn` from the queue `name`: an event source mapping with ReportBatchItemFailures,
   * the consume grant (ReceiveMessage, DeleteMessage, ChangeMessageVisibility,
   * GetQueueAttributes, GetQueueUrl on that queue), and `SOURCE_QUEUE_URL`, which the
   * function needs to shorten the visibility of a record it reports failed.
   */
  consume(fn: lambda.Function, name: QueueName, o: ConsumeOptions): void {
    const queue = this.queues[name];
    // What SqsEventSource does, under the id it gives the mapping when the queue sits in the
    // stack itself: a mapping with a new logical id would be created before the old one is
    // deleted, and Lambda refuses a second mapping of one function to one queue.
    fn.addEventSourceMapping(`SqsEventSource:${stableUniqueId(queue)}`, {
      eventSourceArn: queue.queueArn,
      batchSize: o.batchSize,
      maxConcurrency: o.maxConcurrency,
      reportBatchItemFailures: true,
    });
    queue.grantConsumeMessages(fn);
    fn.addEnvironment('SOURCE_QUEUE_URL', queue.queueUrl);
  }

  private fifoQueue(stackName: string, name: QueueName, consumerTimeout: Duration): void {
    const dlq = new sqs.Queue(this, `${cap(name)}Dlq`, {
      queueName: `${stackName}-${name}-dlq.fifo`,
      fifo: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(DLQ_RETENTION_DAYS),
    });
    const queue = new sqs.Queue(this, `${cap(name)}Queue`, {
      queueName: `${stackName}-${name}.fifo`,
      fifo: true,
      // The producers set MessageDeduplicationId = SignalId; content-based dedup would
      // hash the body instead and is left off so that a missing id fails loudly.
      contentBasedDeduplication: false,
      // High-throughput FIFO: without it a FIFO queue takes 300 SendMessage calls a second
      // (Amazon SQS Developer Guide, "Amazon SQS FIFO queue quotas":
      // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-fifo.html),
      // fewer than the burst the API admits at a bar close (500 by default), and a throttled
      // send that outlasts ingest's 2 s budget is a 503. The limit becomes per message group
      // ("High throughput for FIFO queues":
      // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/high-throughput-fifo.html),
      // at no extra charge. Deduplication per group loses nothing: a message's dedup id is its
      // SignalId, and one signal always goes to one group (its symbol; its instrument, and
      // should a roll re-route it the executor's idempotency record, keyed on SignalId,
      // broker and account, stops the second).
      deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Covers a record still in flight when its invocation times out. A record the function
      // reports failed comes back sooner: the function shortens its visibility (1, 2, 4, 8 s
      // by receive count) with ChangeMessageVisibility.
      visibilityTimeout: Duration.seconds(consumerTimeout.toSeconds() * VISIBILITY_FACTOR),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: dlq, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
    this.queues[name] = queue;
    this.deadLetterQueues[name] = dlq;
    // The dead-letter runbook (README) reads these: `tvctl dlq … --queue-url <Dlq> --source-url <Queue>`.
    new CfnOutput(this, `${cap(name)}QueueUrl`, { description: `The ${name} queue`, value: queue.queueUrl });
    new CfnOutput(this, `${cap(name)}DlqUrl`, { description: `The ${name} dead-letter queue`, value: dlq.queueUrl });
  }
}
