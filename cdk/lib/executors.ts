/**
 * The functions behind the queues and their schedules: the router, one executor per deployed
 * broker, the Tradovate token refresher, the Databento front-month refresher, and the kill
 * switch the executors read.
 */
import { CfnOutput, Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import {
  cap,
  DATABENTO_DATASET,
  KILL_SWITCH_ENGAGED,
  ParameterNames,
  TIMEOUT,
  TRADOVATE_CREDENTIALS,
} from './common';
import { Broker, PipelineConfig } from './config';
import { allow, allowParameters, RustFunctions } from './functions';
import { Concern } from './ids';
import { Queues } from './queues';
import { Tables } from './tables';

export interface ExecutorsProps {
  readonly config: PipelineConfig;
  readonly params: ParameterNames;
  readonly functions: RustFunctions;
  readonly queues: Queues;
  readonly tables: Tables;
  readonly topic: sns.ITopic;
  /** With journal=aurora: the VPC and security group the executors join. */
  readonly vpc?: ec2.IVpc;
  readonly executorSg?: ec2.ISecurityGroup;
}

/** The id of a broker's executor function, e.g. `ExecutorOanda`. */
export const executorId = (b: Broker) => `Executor${cap(b)}`;

export class Executors extends Concern {
  readonly router: lambda.Function;
  readonly executors: Partial<Record<Broker, lambda.Function>> = {};
  readonly tokenRefresher?: lambda.Function;
  readonly frontMonthRefresher?: lambda.Function;
  readonly killSwitch: ssm.StringParameter;

  constructor(scope: Construct, id: string, props: ExecutorsProps) {
    super(scope, id);
    const { config: cfg, params, functions, queues, tables, topic } = props;

    // ---- kill switch -----------------------------------------------------------------------
    // Created engaged: a fresh deployment refuses every signal (`kill_switch`, journaled)
    // until the operator sets it to `off` after a first paper test (README). A missing
    // parameter counts as engaged in the executors too. CloudFormation writes `on` again only
    // when this resource itself changes, which errs on the safe side.
    this.killSwitch = new ssm.StringParameter(this, 'KillSwitch', {
      parameterName: params.killSwitch,
      stringValue: KILL_SWITCH_ENGAGED,
      tier: ssm.ParameterTier.STANDARD,
      description: 'tv-pipeline kill switch: on/true/1 (or missing) refuses every signal; off trades',
    });
    new CfnOutput(this, 'KillSwitchParameter', {
      description: 'Created engaged (on); set it to off to trade (README "Release the kill switch")',
      value: params.killSwitch,
    });

    // ---- router ----------------------------------------------------------------------------
    const frontMonths = tables.frontMonths;
    this.router = functions.create(this, 'Router', {
      binary: 'router',
      timeout: TIMEOUT.router,
      memorySize: 256,
      logRetention: logs.RetentionDays.THREE_MONTHS,
      environment: {
        OANDA_QUEUE_URL: queues.queues.oanda.queueUrl,
        TRADOVATE_QUEUE_URL: queues.queues.tradovate.queueUrl,
        COINBASE_QUEUE_URL: queues.queues.coinbase.queueUrl,
        ...(frontMonths ? { FRONT_MONTH_TABLE: frontMonths.tableName } : {}),
        // Where a signal that no longer routes (the routing table changed since ingest) goes,
        // alarmed, rather than being retried until redrive with its symbol's signals behind it.
        DEAD_LETTER_QUEUE_URL: queues.deadLetterQueues.signals.queueUrl,
      },
    });
    allow(
      this.router,
      ['sqs:SendMessage'],
      [
        ...(['oanda', 'tradovate', 'coinbase'] as const).map((b) => queues.queues[b].queueArn),
        queues.deadLetterQueues.signals.queueArn,
      ],
    );
    if (frontMonths) {
      // The router reads the whole (small) table with Scan, and holds each continuous
      // symbol's latest contract with a conditional UpdateItem (aws-adapters front_months.rs).
      allow(this.router, ['dynamodb:Scan', 'dynamodb:UpdateItem'], [frontMonths.tableArn]);
    }
    queues.consume(this.router, 'signals', { batchSize: 10, maxConcurrency: 5 });

    // ---- executors -------------------------------------------------------------------------
    const journalEnv: Record<string, string> =
      cfg.journal === 'aurora' ? { JOURNAL_URL_PARAM: params.journalUrl } : { JOURNAL: 'log' };
    const executorParams = cfg.journal === 'aurora' ? [params.killSwitch, params.journalUrl] : [params.killSwitch];
    const tradovateParamEnv: Record<string, string> = {};
    for (const c of TRADOVATE_CREDENTIALS) tradovateParamEnv[`TRADOVATE_${c}_PARAM`] = params.tradovate[c];

    const brokerEnv: Record<Broker, Record<string, string>> = {
      oanda: {
        OANDA_SECRET_PARAM: params.oandaSecret,
        ...optional({ OANDA_ACCOUNT: cfg.oandaAccount, OANDA_BASE_URL: cfg.oandaBaseUrl }),
      },
      tradovate: {
        ...tradovateParamEnv,
        TOKEN_TABLE: tables.tokens.tableName,
        // The token copy is `${paramPrefix}/tradovate/token` (aws-adapters tokens.rs).
        TRADOVATE_PARAM_PREFIX: cfg.paramPrefix,
        ...optional({ TRADOVATE_ACCOUNT: cfg.tradovateAccount, TRADOVATE_BASE_URL: cfg.tradovateBaseUrl }),
      },
      coinbase: {
        COINBASE_PRIVATE_KEY_PARAM: params.coinbasePrivateKey,
        ...optional({ COINBASE_API_KEY_NAME: cfg.coinbaseApiKeyName, COINBASE_BASE_URL: cfg.coinbaseBaseUrl }),
      },
    };
    const brokerSecrets: Record<Broker, string[]> = {
      oanda: [params.oandaSecret],
      tradovate: Object.values(params.tradovate),
      coinbase: [params.coinbasePrivateKey],
    };

    for (const broker of cfg.brokers) {
      const dlq = queues.deadLetterQueues[broker];
      const fn = functions.create(this, executorId(broker), {
        binary: `executor-${broker}`,
        timeout: TIMEOUT.executor,
        memorySize: 512,
        // With JOURNAL=log these lines are the journal, so they are kept for a year; with
        // Aurora too: the log group is the same resource in both, and shortening its
        // retention (a switch from `log` to `aurora`) would delete the earlier journal's
        // lines older than the new retention, the only record of those signals.
        logRetention: logs.RetentionDays.ONE_YEAR,
        environment: {
          IDEMPOTENCY_TABLE: tables.idempotency.tableName,
          NOTIFY_TOPIC_ARN: topic.topicArn,
          HEALTH_TABLE: tables.health.tableName,
          KILL_SWITCH_PARAM: params.killSwitch,
          ...journalEnv,
          ...brokerEnv[broker],
          ...optional({
            RISK_CONFIG: cfg.riskConfig[broker],
            // At most one failure mail per broker per interval (executors default to 900 s).
            NOTIFY_MIN_INTERVAL_SECS: cfg.notifyMinIntervalSecs?.toString(),
          }),
          // A mail for every signal filled in full too, outside the failure mails' interval.
          NOTIFY_FILLS: cfg.notifyFills ? 'true' : 'false',
          // Where the executor forwards a signal whose outcome stays unknown after the broker
          // lookups (journaled and alarmed first), so it does not block its instrument.
          DEAD_LETTER_QUEUE_URL: dlq.queueUrl,
        },
        vpc: props.vpc,
        securityGroups: props.executorSg ? [props.executorSg] : undefined,
      });
      allowParameters(fn, 'read', [...brokerSecrets[broker], ...executorParams]);
      // Each executor may touch only its own broker's idempotency records and health item.
      // UpdateItem: a failed attempt hands its lease over (aws-adapters dynamodb.rs hand_over).
      allow(fn, ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem'], [tables.idempotency.tableArn], {
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${broker}#*`] },
      });
      allow(fn, ['dynamodb:UpdateItem', 'dynamodb:GetItem'], [tables.health.tableArn], {
        'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [broker] },
      });
      allow(fn, ['sns:Publish'], [topic.topicArn]);
      // Send only, and only to its own queue's dead-letter queue (SQS-managed SSE: no KMS
      // grant). In the VPC this call goes out through the NAT, like SSM and SNS.
      allow(fn, ['sqs:SendMessage'], [dlq.queueArn]);
      if (broker === 'tradovate') this.tradovateTokenAccess(fn, tables, params);
      // One signal per invocation: a batch is processed in order, so a slow order at the
      // front would age the rest of the batch towards the staleness limit; concurrency
      // across instruments comes from the message groups instead.
      queues.consume(fn, broker, { batchSize: 1, maxConcurrency: props.config.executorConcurrency });
      this.executors[broker] = fn;
    }

    // ---- token refresher -------------------------------------------------------------------
    if (cfg.brokers.includes('tradovate')) {
      const refresher = functions.create(this, 'TokenRefresher', {
        binary: 'token-refresher',
        timeout: TIMEOUT.refresher,
        memorySize: 256,
        logRetention: logs.RetentionDays.THREE_MONTHS,
        environment: {
          ...tradovateParamEnv,
          TOKEN_TABLE: tables.tokens.tableName,
          TRADOVATE_PARAM_PREFIX: cfg.paramPrefix,
          NOTIFY_TOPIC_ARN: topic.topicArn,
          HEALTH_TABLE: tables.health.tableName,
          ...optional({ TRADOVATE_BASE_URL: cfg.tradovateBaseUrl }),
        },
        // The next scheduled run is the retry; an async retry would only add logins.
        retryAttempts: 0,
      });
      allowParameters(refresher, 'read', Object.values(params.tradovate));
      this.tradovateTokenAccess(refresher, tables, params);
      allow(refresher, ['sns:Publish'], [topic.topicArn]);
      allow(refresher, ['dynamodb:UpdateItem', 'dynamodb:GetItem'], [tables.health.tableArn], {
        'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['tradovate'] },
      });
      new events.Rule(this, 'TokenRefreshSchedule', {
        description: 'Renews the Tradovate access token before its 80 minutes run out',
        schedule: events.Schedule.rate(Duration.minutes(10)),
        targets: [new targets.LambdaFunction(refresher, { retryAttempts: 0 })],
      });
      this.tokenRefresher = refresher;
    }

    // ---- Databento front months (optional) -------------------------------------------------
    if (frontMonths) {
      const refresher = functions.create(this, 'FrontMonthRefresher', {
        binary: 'front-month-refresher',
        timeout: TIMEOUT.frontMonths,
        memorySize: 256,
        logRetention: logs.RetentionDays.THREE_MONTHS,
        environment: {
          FRONT_MONTH_TABLE: frontMonths.tableName,
          FRONT_MONTH_ROOTS: cfg.databentoRoots.join(','),
          DATABENTO_DATASET,
          DATABENTO_API_KEY_PARAM: params.databentoApiKey,
        },
        // The next scheduled run is the retry; the router falls back to the roll rule meanwhile.
        retryAttempts: 0,
      });
      allowParameters(refresher, 'read', [params.databentoApiKey]);
      allow(refresher, ['dynamodb:PutItem'], [frontMonths.tableArn]);
      new events.Rule(this, 'FrontMonthSchedule', {
        description: 'Caches the Databento front month (ROOT.v.0) of each futures root for the router',
        schedule: events.Schedule.rate(Duration.minutes(cfg.databentoScheduleMinutes)),
        targets: [new targets.LambdaFunction(refresher, { retryAttempts: 0 })],
      });
      this.frontMonthRefresher = refresher;
    }
  }

  /** The token table and the token parameter `${paramPrefix}/tradovate/token`, read and write. */
  private tradovateTokenAccess(fn: lambda.Function, tables: Tables, params: ParameterNames): void {
    // UpdateItem: the token and a 429's stop are written apart (aws-adapters tokens.rs).
    allow(fn, ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], [tables.tokens.tableArn]);
    allowParameters(fn, 'read', [params.tradovateToken]);
    allowParameters(fn, 'write', [params.tradovateToken]);
  }
}

/** The entries whose value is set. */
function optional(entries: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(entries)) if (v !== undefined) out[k] = v;
  return out;
}
