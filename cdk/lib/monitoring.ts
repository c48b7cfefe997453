/**
 * Notifications and what watches the pipeline: the SNS topic, the alarms (each with an alarm
 * and an OK action to the topic), and the dashboard.
 */
import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { AURORA_MAX_ACU, cap, METRIC_NAMESPACE, STAGE_METRICS } from './common';
import { Broker, PipelineConfig } from './config';
import { Concern } from './ids';
import { JournalDatabase } from './journal';
import { DLQ_RETENTION_DAYS, QUEUE_NAMES, QueueName, Queues } from './queues';

/** A dead letter still waiting after this many days is alarmed again ([`DLQ_RETENTION_DAYS`] before SQS deletes it). */
export const DLQ_AGE_ALARM_DAYS = 3;

/** The refused-ratio alarm: alarm when ≥ this share of webhook calls got a 4xx … */
export const REFUSED_RATIO_THRESHOLD = 0.5;
/** … over this window … */
export const REFUSED_RATIO_WINDOW = Duration.minutes(15);
/** … provided at least this many calls came in. */
export const REFUSED_RATIO_MIN_REQUESTS = 3;

export interface WatchProps {
  readonly config: PipelineConfig;
  readonly queues: Queues;
  /** Every function of the stack, by binary name. */
  readonly functions: Record<string, lambda.Function>;
  readonly api: apigw.RestApi;
  readonly journal?: JournalDatabase;
  readonly dashboardName: string;
}

export class Monitoring extends Concern {
  readonly topic: sns.Topic;
  readonly alarms: cw.Alarm[] = [];
  private readonly notify: cwActions.SnsAction;

  constructor(scope: Construct, id: string, props: { alarmEmail?: string }) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Notifications', {
      displayName: 'tv-pipeline notifications',
      enforceSSL: true,
    });
    // `enforceSSL` gives the topic a policy of its own, which replaces SNS's default policy;
    // without this statement CloudWatch may not publish to it, and every alarm's action fails
    // ("... alarm:X is not authorized to perform: SNS:Publish",
    // https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger). The
    // conditions admit this account's alarms in this Region only (confused-deputy prevention,
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cross-service-confused-deputy-prevention.html).
    const stack = Stack.of(this);
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        effect: iam.Effect.ALLOW,
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    if (props.alarmEmail !== undefined) {
      this.topic.addSubscription(new subs.EmailSubscription(props.alarmEmail));
    }
    Validations.of(this.topic).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason:
        'Notifications carry signal ids and outcomes, never credentials. A customer managed KMS key ' +
        '(1 USD/month plus a key policy for CloudWatch) would be needed for alarms to publish to an ' +
        'encrypted topic; the AWS managed SNS key does not admit CloudWatch.',
    });
    this.notify = new cwActions.SnsAction(this.topic);
  }

  /** Adds the alarms and the dashboard, once every other part exists. */
  watch(p: WatchProps): void {
    const cfg = p.config;
    const deployedQueues = QUEUE_NAMES.filter((n) => n === 'signals' || cfg.brokers.includes(n as Broker));
    // Nothing reaches the dead-letter queue of a broker without an executor (no consumer, no
    // sender), so only the deployed paths get a depth alarm. A signal routed to an absent
    // broker waits in its queue, which the age alarm below reports.
    for (const name of deployedQueues) {
      this.dlqAlarm(name, p.queues);
      this.dlqAgeAlarm(name, p.queues);
    }
    for (const name of QUEUE_NAMES) this.ageAlarm(name, p.queues);
    for (const [binary, fn] of Object.entries(p.functions)) this.errorAlarm(binary, fn);
    this.throttleAlarm(p.functions);
    this.recordFailureAlarm();
    this.apiAlarms(p.api);
    for (const broker of cfg.brokers) this.heartbeatAlarm(broker, cfg.heartbeatHours);
    if (cfg.brokers.includes('tradovate')) this.tokenAlarms();
    if (p.journal) this.journalAlarms(p.journal);
    this.dashboard(p);
  }

  // ---- alarms ------------------------------------------------------------------------------

  private alarm(id: string, props: cw.AlarmProps, ...extra: cw.IAlarmAction[]): cw.Alarm {
    const alarm = new cw.Alarm(this, id, props);
    alarm.addAlarmAction(...extra, this.notify);
    alarm.addOkAction(this.notify);
    this.alarms.push(alarm);
    return alarm;
  }

  private dlqAlarm(name: QueueName, queues: Queues): void {
    const dlq = queues.deadLetterQueues[name];
    this.alarm(`${cap(name)}DlqDepthAlarm`, {
      alarmDescription: `A message reached the ${name} dead-letter queue: inspect it (tvctl dlq list) and, for an unknown signal, reconcile it first with tvctl dlq replay --lookup-only (cdk/README.md, "Dead letters and replay")`,
      metric: dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // No data keeps the state: SQS emits a queue's metrics "only when the queue is active"
      // (Amazon SQS Developer Guide, "Available CloudWatch metrics for Amazon SQS"), and a
      // dead-letter queue nobody calls goes quiet while a letter sits in it. Counted as not
      // breaching, the alarm went back to OK and mailed that, with the letter still there;
      // kept, it stays in alarm until a reading shows the queue empty (after a replay, say).
      treatMissingData: cw.TreatMissingData.IGNORE,
    });
  }

  /**
   * Dead letters left waiting: SQS deletes a letter after the dead-letter queue's 14-day
   * retention, and with it the only record of a signal the journal may never have seen (a
   * router letter). The depth alarm mails once while the queue holds anything; this one mails
   * again once the queue has not been empty for 3 days (its fewest visible messages above 0 in
   * each of 72 hours), well before a letter expires. Not `ApproximateAgeOfOldestMessage`:
   * SQS leaves a message received three or more times out of it (Amazon SQS Developer Guide,
   * "Available CloudWatch metrics for Amazon SQS"), and a letter arrives after 5 receives.
   *
   * SQS emits a queue's metrics only while it is active ("for up to six hours if it contains
   * any messages or if any action accesses it", Amazon SQS Developer Guide, "Monitoring
   * Amazon SQS queues using CloudWatch"): a letter nobody reads may leave hours with no
   * reading. Each such hour takes the count last read (`FILL(visible, REPEAT)`), and an
   * evaluation with no reading at all keeps the state; with missing hours counted as not
   * breaching, 72 of them in a row could never all be above 0 and the alarm never fired.
   */
  private dlqAgeAlarm(name: QueueName, queues: Queues): void {
    const dlq = queues.deadLetterQueues[name];
    const hours = DLQ_AGE_ALARM_DAYS * 24;
    const visible = dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.hours(1), statistic: 'Minimum' });
    this.alarm(`${cap(name)}DlqAgeAlarm`, {
      alarmDescription: `The ${name} dead-letter queue has held letters for ${DLQ_AGE_ALARM_DAYS} days; SQS deletes each ${DLQ_RETENTION_DAYS} days after it arrived: replay or keep them now (cdk/README.md, "Dead letters and replay")`,
      metric: new cw.MathExpression({
        expression: 'FILL(visible, REPEAT)',
        usingMetrics: { visible },
        period: Duration.hours(1),
        label: `${name} dead letters (the last count for an hour with none)`,
      }),
      threshold: 0,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: hours,
      datapointsToAlarm: hours,
      treatMissingData: cw.TreatMissingData.IGNORE,
    });
  }

  private ageAlarm(name: QueueName, queues: Queues): void {
    const queue = queues.queues[name];
    this.alarm(`${cap(name)}OldestMessageAlarm`, {
      alarmDescription: `The oldest ${name} message waited over 2 minutes: its consumer is failing or not deployed`,
      metric: queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 120,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
  }

  private errorAlarm(binary: string, fn: lambda.Function): void {
    this.alarm(`${cap(binary)}ErrorsAlarm`, {
      alarmDescription: `${binary} failed an invocation`,
      metric: fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
  }

  /** One alarm over the `Throttles` of every function (metric math, one metric each). */
  private throttleAlarm(functions: Record<string, lambda.Function>): void {
    const usingMetrics: Record<string, cw.IMetric> = {};
    Object.values(functions).forEach((fn, i) => {
      usingMetrics[`t${i}`] = fn.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' });
    });
    this.alarm('ThrottlesAlarm', {
      alarmDescription:
        'Lambda throttled a function of the pipeline (account or reserved concurrency reached): ' +
        'an API call got an error, or a queue record waits',
      metric: new cw.MathExpression({
        expression: Object.keys(usingMetrics).map((k) => `FILL(${k}, 0)`).join(' + '),
        usingMetrics,
        period: Duration.minutes(5),
        label: 'throttles, all functions',
      }),
      threshold: 1,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
  }

  /**
   * `RecordFailures` (no dimensions): the router and the executors emit it for each record
   * they report failed, which Lambda `Errors` does not count (the invocation succeeds).
   */
  private recordFailureAlarm(): void {
    this.alarm('RecordFailuresAlarm', {
      alarmDescription:
        'A queue record failed at the router or an executor and was handed back for a retry ' +
        '(broker unreachable before sending, a store or journal failure, the kill switch read, a held lease)',
      metric: new cw.Metric({
        namespace: METRIC_NAMESPACE,
        metricName: 'RecordFailures',
        period: Duration.minutes(5),
        statistic: 'Sum',
      }),
      threshold: 1,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
  }

  /** No signal filled for `hours` hours (0: no alarm). */
  private heartbeatAlarm(broker: Broker, hours: number): void {
    if (hours === 0) return;
    this.alarm(`${cap(broker)}HeartbeatAlarm`, {
      alarmDescription:
        `No ${broker} signal was filled for ${hours} hours: alerts may not arrive, be refused, or fail. ` +
        'A weekend or a quiet strategy can set heartbeatHours higher, or 0 to turn this alarm off.',
      metric: new cw.Metric({
        namespace: METRIC_NAMESPACE,
        metricName: 'Signals',
        dimensionsMap: { Broker: broker, Outcome: 'filled' },
        period: Duration.hours(1),
        statistic: 'Sum',
      }),
      threshold: 1,
      comparisonOperator: cw.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: hours,
      treatMissingData: cw.TreatMissingData.BREACHING,
    });
  }

  private tokenAlarms(): void {
    const metric = (name: string) =>
      new cw.Metric({
        namespace: METRIC_NAMESPACE,
        metricName: name,
        dimensionsMap: { Broker: 'tradovate' },
        period: Duration.minutes(10),
        statistic: 'Sum',
      });
    this.alarm('TokenRefreshFailureAlarm', {
      alarmDescription: 'The Tradovate token could not be refreshed',
      metric: metric('TokenRefreshFailures'),
      threshold: 1,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
    // Every run emits TokenRefreshes (even when the token was still fresh), so silence
    // for half an hour means the schedule or the function is gone.
    this.alarm('TokenRefreshMissingAlarm', {
      alarmDescription: 'No Tradovate token refresh run for 30 minutes',
      metric: metric('TokenRefreshes'),
      threshold: 1,
      comparisonOperator: cw.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cw.TreatMissingData.BREACHING,
    });
  }

  private apiAlarms(api: apigw.RestApi): void {
    const stage = api.deploymentStage;
    // Ingest's own count of webhook requests it answered 5xx (an embedded-metric line): the
    // stage's 5XXError also counts the status routes' 503s (a degraded broker, polled by an
    // uptime check or anyone), which would hold this alarm in ALARM and hide a new failure.
    this.alarm('Api5xxAlarm', {
      alarmDescription: 'The webhook answered 5xx: alerts could not be enqueued (TradingView resends up to 3 times)',
      metric: new cw.Metric({
        namespace: METRIC_NAMESPACE,
        metricName: 'WebhookServerErrors',
        period: Duration.minutes(5),
        statistic: 'Sum',
      }),
      threshold: 1,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
    // A ratio, not a count: an outage that refuses every alert (a TradingView address change
    // with the allowlist on, a broken alert template, a skewed clock) is a handful of calls
    // at 100k alerts a month, far below any fixed count that probing would not trip. The
    // stage's `Count` holds every route: the status routes' requests, ingest's own count of
    // them (`StatusRequests`, none in a period without: FILL), are taken off, or an uptime
    // check polling them once a minute outnumbered a few alerts all refused.
    const webhookCalls = `(requests - FILL(status, 0))`;
    this.alarm('ApiRefusedRatioAlarm', {
      alarmDescription:
        `At least ${REFUSED_RATIO_THRESHOLD * 100} % of the webhook calls were refused (4xx) over ` +
        `${REFUSED_RATIO_WINDOW.toMinutes()} minutes: a TradingView address change with the allowlist on, ` +
        'a broken alert template or secret, a skewed clock, or throttling (429). TradingView never resends a 4xx.',
      metric: new cw.MathExpression({
        expression: `IF(${webhookCalls} >= ${REFUSED_RATIO_MIN_REQUESTS}, errors / ${webhookCalls}, 0)`,
        usingMetrics: {
          errors: stage.metricClientError({ period: REFUSED_RATIO_WINDOW, statistic: 'Sum' }),
          requests: stage.metricCount({ period: REFUSED_RATIO_WINDOW, statistic: 'Sum' }),
          status: new cw.Metric({
            namespace: METRIC_NAMESPACE,
            metricName: 'StatusRequests',
            period: REFUSED_RATIO_WINDOW,
            statistic: 'Sum',
          }),
        },
        period: REFUSED_RATIO_WINDOW,
        label: 'refused / received',
      }),
      threshold: REFUSED_RATIO_THRESHOLD,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
    this.alarm('ApiLatencyAlarm', {
      alarmDescription: 'Webhook p99 latency above 2 s; TradingView gives up after 3 s',
      metric: stage.metricLatency({ period: Duration.minutes(5), statistic: 'p99' }),
      threshold: 2000,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
  }

  private journalAlarms(journal: JournalDatabase): void {
    const nat = journal.natInstance;
    if (nat !== undefined) {
      const status = (metricName: string) =>
        new cw.Metric({
          namespace: 'AWS/EC2',
          metricName,
          dimensionsMap: { InstanceId: nat.instanceId },
          period: Duration.minutes(1),
          statistic: 'Maximum',
        });
      // A failed system check (host hardware, power, network): EC2 moves the instance to a
      // healthy host, keeping its id, private address and Elastic IP.
      this.alarm(
        'NatSystemStatusAlarm',
        {
          alarmDescription:
            'The NAT instance failed its system status check for 2 minutes: EC2 recovers it onto ' +
            'another host (same instance, addresses and Elastic IP). Executors in the VPC cannot reach brokers meanwhile.',
          metric: status('StatusCheckFailed_System'),
          threshold: 1,
          comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 2,
          treatMissingData: cw.TreatMissingData.NOT_BREACHING,
        },
        new cwActions.Ec2Action(cwActions.Ec2InstanceAction.RECOVER),
      );
      // A failed instance check (the OS: memory, kernel, network configuration): reboot. The
      // iptables rules are saved, so the NAT comes back with the instance.
      this.alarm(
        'NatInstanceStatusAlarm',
        {
          alarmDescription:
            'The NAT instance failed its instance status check for 3 minutes: EC2 reboots it. ' +
            'Executors in the VPC cannot reach brokers meanwhile.',
          metric: status('StatusCheckFailed_Instance'),
          threshold: 1,
          comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 3,
          treatMissingData: cw.TreatMissingData.NOT_BREACHING,
        },
        new cwActions.Ec2Action(cwActions.Ec2InstanceAction.REBOOT),
      );
    }
    // Connection and write failures of the journal already show as RecordFailures. This one
    // watches cost and load: the writer held its ceiling for 15 minutes.
    this.alarm('JournalCapacityAlarm', {
      alarmDescription:
        `The journal cluster ran at its ${AURORA_MAX_ACU} ACU maximum for 15 minutes: writes may slow ` +
        'down, and each such hour costs the maximum',
      metric: journal.cluster.metricServerlessDatabaseCapacity({ period: Duration.minutes(5), statistic: 'Minimum' }),
      threshold: AURORA_MAX_ACU,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
  }

  // ---- dashboard ---------------------------------------------------------------------------

  private dashboard(p: WatchProps): void {
    const search = (dims: string, metric: string, stat: string, label: string) =>
      new cw.MathExpression({
        expression: `SEARCH('{${METRIC_NAMESPACE},${dims}} MetricName="${metric}"', '${stat}', 300)`,
        label,
        usingMetrics: {},
        period: Duration.minutes(5),
      });
    const stage = p.api.deploymentStage;
    const functions = Object.values(p.functions);
    const d = new cw.Dashboard(this, 'Dashboard', { dashboardName: p.dashboardName });
    d.addWidgets(
      new cw.GraphWidget({
        title: 'Webhook: requests, 4xx, 5xx',
        left: [stage.metricCount(), stage.metricClientError(), stage.metricServerError()],
        width: 12,
      }),
      new cw.GraphWidget({
        title: 'Webhook latency (p50, p99)',
        left: [
          stage.metricLatency({ statistic: 'p50' }),
          stage.metricLatency({ statistic: 'p99' }),
          stage.metricIntegrationLatency({ statistic: 'p99' }),
        ],
        width: 12,
      }),
    );
    d.addWidgets(
      ...STAGE_METRICS.map(
        (m) =>
          new cw.GraphWidget({
            title: `${m} p50 / p99 by broker`,
            left: [search('Broker', m, 'p50', 'p50')],
            right: [search('Broker', m, 'p99', 'p99')],
            width: 12,
          }),
      ),
    );
    const signalWidgets: cw.IWidget[] = [
      new cw.GraphWidget({
        title: 'Signals by broker and outcome',
        left: [search('Broker,Outcome', 'Signals', 'Sum', 'signals')],
        width: 8,
        stacked: true,
      }),
      new cw.GraphWidget({
        title: 'Records handed back for a retry (RecordFailures)',
        left: [new cw.Metric({ namespace: METRIC_NAMESPACE, metricName: 'RecordFailures', statistic: 'Sum', period: Duration.minutes(5) })],
        width: 8,
      }),
    ];
    if (p.config.brokers.includes('tradovate')) {
      signalWidgets.push(
        new cw.GraphWidget({
          title: 'Tradovate token refreshes / failures',
          left: ['TokenRefreshes', 'TokenRefreshFailures'].map(
            (n) =>
              new cw.Metric({
                namespace: METRIC_NAMESPACE,
                metricName: n,
                dimensionsMap: { Broker: 'tradovate' },
                statistic: 'Sum',
                period: Duration.minutes(10),
              }),
          ),
          width: 8,
        }),
      );
    }
    d.addWidgets(...signalWidgets);
    const queues = QUEUE_NAMES.map((n) => p.queues.queues[n]);
    d.addWidgets(
      new cw.GraphWidget({
        title: 'Queue depth',
        left: queues.map((q) => q.metricApproximateNumberOfMessagesVisible()),
        width: 8,
      }),
      new cw.GraphWidget({
        title: 'Oldest message age (s)',
        left: queues.map((q) => q.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum' })),
        width: 8,
      }),
      new cw.GraphWidget({
        title: 'Dead-letter queue depth',
        left: QUEUE_NAMES.map((n) => p.queues.deadLetterQueues[n].metricApproximateNumberOfMessagesVisible()),
        width: 8,
      }),
    );
    d.addWidgets(
      new cw.GraphWidget({
        title: 'Function errors and throttles',
        left: functions.map((f) => f.metricErrors({ statistic: 'Sum' })),
        right: functions.map((f) => f.metricThrottles({ statistic: 'Sum' })),
        width: 12,
      }),
      new cw.GraphWidget({
        title: 'Function duration p99 (ms)',
        left: functions.map((f) => f.metricDuration({ statistic: 'p99' })),
        width: 12,
      }),
    );
  }
}
