import * as path from 'path';
import { CfnOutput, Duration, RemovalPolicy, Stack, StackProps, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';
import { Broker, PipelineConfig } from './config';

/** TradingView's documented webhook source addresses (also in ingest/src/config.rs). */
export const TRADINGVIEW_IPS = ['52.89.214.238', '34.212.75.30', '54.218.53.128', '52.32.178.7'];

/** EMF namespace of executor-runtime/src/metrics.rs and token-refresher/src/lib.rs. */
export const METRIC_NAMESPACE = 'TvPipeline';

/** Stage latencies the executors emit (executor-runtime/src/metrics.rs), in pipeline order. */
export const STAGE_METRICS = [
  'SignalToExecutorMs',
  'ReceivedToExecutorMs',
  'RoutedToExecutorMs',
  'BrokerMs',
] as const;

/** `TRADOVATE_PARAM_PREFIX`: the token copy is `/tradovate/tradovate/token` (aws-adapters tokens.rs). */
export const TRADOVATE_TOKEN_PREFIX = '/tradovate';
export const TRADOVATE_TOKEN_PARAM = `${TRADOVATE_TOKEN_PREFIX}/tradovate/token`;

/** The credentials the Tradovate executor and the refresher read as `TRADOVATE_<X>_PARAM`. */
export const TRADOVATE_CREDENTIALS = ['USERNAME', 'PASSWORD', 'APP_ID', 'DEVICE_ID', 'CID', 'SEC'] as const;

/** Databento's CME Globex dataset, where `ROOT.v.0` names the root's highest-volume contract. */
export const DATABENTO_DATASET = 'GLBX.MDP3';

/** Timeouts. Each queue's visibility timeout is 6× its consumer's, as SQS + Lambda advise. */
const TIMEOUT = {
  ingest: Duration.seconds(10),
  router: Duration.seconds(30),
  executor: Duration.seconds(60),
  refresher: Duration.seconds(60),
  frontMonths: Duration.seconds(60),
};
export const VISIBILITY_FACTOR = 6;
/** A literal range, so security group rules referring to it are checkable at synth. */
export const VPC_CIDR = '10.20.0.0/16';
export const MAX_RECEIVE_COUNT = 5;

/**
 * How each function's binary is built: `cargo lambda build --profile lambda --package <name>
 * --bin <name>`. The package flag makes cargo resolve that package's features alone; without
 * it the whole workspace's features unify and the executors link SQLite (the local stack's
 * journal). The `lambda` profile (root Cargo.toml) is the release profile at opt-level "s".
 */
export function bundlingOf(binary: string): { profile: string; cargoLambdaFlags: string[] } {
  return { profile: 'lambda', cargoLambdaFlags: ['--package', binary] };
}

export interface PipelineStackProps extends StackProps {
  readonly config: PipelineConfig;
  /** The workspace `Cargo.toml`; defaults to the repository root above `cdk/`. */
  readonly manifestPath?: string;
}

/** Every SSM parameter name the operator sets, derived from the prefix. */
export function parameterNames(prefix: string) {
  const tradovate: Record<string, string> = {};
  for (const c of TRADOVATE_CREDENTIALS) {
    tradovate[c] = `${prefix}/tradovate/${c.toLowerCase().replace('_', '-')}`;
  }
  return {
    webhookSecret: `${prefix}/webhook-secret`,
    oandaSecret: `${prefix}/oanda/secret`,
    coinbasePrivateKey: `${prefix}/coinbase/private-key`,
    tradovate,
    journalUrl: `${prefix}/journal-url`,
    killSwitch: `${prefix}/kill-switch`,
    databentoApiKey: `${prefix}/databento/api-key`,
  };
}

interface FnOptions {
  readonly binary: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly environment: Record<string, string>;
  readonly logRetention: logs.RetentionDays;
  readonly vpc?: ec2.IVpc;
  readonly securityGroups?: ec2.ISecurityGroup[];
  readonly retryAttempts?: number;
}

export class PipelineStack extends Stack {
  readonly api: apigw.RestApi;
  readonly topic: sns.Topic;
  readonly functions: Record<string, lambda.Function> = {};
  readonly queues: Record<string, sqs.Queue> = {};
  readonly deadLetterQueues: Record<string, sqs.Queue> = {};
  readonly alarms: cw.Alarm[] = [];
  private readonly config: PipelineConfig;
  private readonly manifestPath: string;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    this.config = props.config;
    // Compiled to cdk/dist/lib/, so the workspace root is three levels up.
    this.manifestPath =
      props.manifestPath ?? path.resolve(__dirname, '..', '..', '..', 'Cargo.toml');
    const cfg = this.config;
    const params = parameterNames(cfg.paramPrefix);

    // ---- notifications -------------------------------------------------------------------
    this.topic = new sns.Topic(this, 'Notifications', {
      displayName: 'tv-pipeline notifications',
      enforceSSL: true,
    });
    if (cfg.alarmEmail !== undefined) {
      this.topic.addSubscription(new subs.EmailSubscription(cfg.alarmEmail));
    }
    Validations.of(this.topic).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason:
        'Notifications carry signal ids and outcomes, never credentials. A customer managed KMS key ' +
        '(1 USD/month plus a key policy for CloudWatch) would be needed for alarms to publish to an ' +
        'encrypted topic; the AWS managed SNS key does not admit CloudWatch.',
    });

    // ---- queues --------------------------------------------------------------------------
    const signals = this.fifoQueue('signals', TIMEOUT.router);
    const brokerQueues: Record<Broker, sqs.Queue> = {
      oanda: this.fifoQueue('oanda', TIMEOUT.executor),
      tradovate: this.fifoQueue('tradovate', TIMEOUT.executor),
      coinbase: this.fifoQueue('coinbase', TIMEOUT.executor),
    };

    // ---- tables --------------------------------------------------------------------------
    const idempotency = this.table('IdempotencyTable', 'expires_at');
    const tokens = this.table('TokenTable');
    const health = this.table('HealthTable');
    // Only with databento=true: the front month per root, written by front-month-refresher.
    const frontMonths = cfg.databento ? this.table('FrontMonthTable', 'expires_at') : undefined;

    // ---- journal (optional Aurora in a VPC) ----------------------------------------------
    const journalEnv: Record<string, string> =
      cfg.journal === 'aurora' ? { JOURNAL_URL_PARAM: params.journalUrl } : { JOURNAL: 'log' };
    let vpc: ec2.Vpc | undefined;
    let executorSg: ec2.SecurityGroup | undefined;
    if (cfg.journal === 'aurora') {
      ({ vpc, executorSg } = this.journalDatabase());
    }

    // ---- ingest --------------------------------------------------------------------------
    const ingest = this.rustFunction('Ingest', {
      binary: 'ingest',
      timeout: TIMEOUT.ingest,
      memorySize: 256,
      logRetention: logs.RetentionDays.THREE_MONTHS,
      environment: {
        SIGNALS_QUEUE_URL: signals.queueUrl,
        WEBHOOK_SECRET_PARAM: params.webhookSecret,
        // The Lambda checks the address too, in case the API's resource policy is edited away.
        IP_ALLOWLIST: cfg.ipAllowlist ? 'tradingview' : 'off',
        HEALTH_TABLE: health.tableName,
      },
    });
    this.allow(ingest, ['sqs:SendMessage'], [signals.queueArn]);
    this.allowParameters(ingest, 'read', [params.webhookSecret]);
    this.allow(ingest, ['dynamodb:GetItem'], [health.tableArn]);

    // ---- router --------------------------------------------------------------------------
    const router = this.rustFunction('Router', {
      binary: 'router',
      timeout: TIMEOUT.router,
      memorySize: 256,
      logRetention: logs.RetentionDays.THREE_MONTHS,
      environment: {
        OANDA_QUEUE_URL: brokerQueues.oanda.queueUrl,
        TRADOVATE_QUEUE_URL: brokerQueues.tradovate.queueUrl,
        COINBASE_QUEUE_URL: brokerQueues.coinbase.queueUrl,
        ...(frontMonths ? { FRONT_MONTH_TABLE: frontMonths.tableName } : {}),
      },
    });
    this.allow(
      router,
      ['sqs:SendMessage'],
      Object.values(brokerQueues).map((q) => q.queueArn),
    );
    if (frontMonths) {
      this.allow(router, ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Scan'], [frontMonths.tableArn]);
    }
    this.consume(router, signals, 10, 5);

    // ---- executors -----------------------------------------------------------------------
    const executorBase = (): Record<string, string> => ({
      IDEMPOTENCY_TABLE: idempotency.tableName,
      NOTIFY_TOPIC_ARN: this.topic.topicArn,
      HEALTH_TABLE: health.tableName,
      KILL_SWITCH_PARAM: params.killSwitch,
      ...journalEnv,
    });
    const executorParams = cfg.journal === 'aurora' ? [params.killSwitch, params.journalUrl] : [params.killSwitch];
    const tradovateParamEnv: Record<string, string> = {};
    for (const c of TRADOVATE_CREDENTIALS) tradovateParamEnv[`TRADOVATE_${c}_PARAM`] = params.tradovate[c];
    const optional = (entries: Record<string, string | undefined>): Record<string, string> => {
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(entries)) if (v !== undefined) out[k] = v;
      return out;
    };

    const brokerEnv: Record<Broker, Record<string, string>> = {
      oanda: {
        OANDA_SECRET_PARAM: params.oandaSecret,
        ...optional({ OANDA_ACCOUNT: cfg.oandaAccount, OANDA_BASE_URL: cfg.oandaBaseUrl }),
      },
      tradovate: {
        ...tradovateParamEnv,
        TOKEN_TABLE: tokens.tableName,
        TRADOVATE_PARAM_PREFIX: TRADOVATE_TOKEN_PREFIX,
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
    const fnId = (b: Broker) => `Executor${b.charAt(0).toUpperCase()}${b.slice(1)}`;

    for (const broker of cfg.brokers) {
      const fn = this.rustFunction(fnId(broker), {
        binary: `executor-${broker}`,
        timeout: TIMEOUT.executor,
        memorySize: 512,
        // With JOURNAL=log these lines are the journal, so they are kept for a year.
        logRetention: cfg.journal === 'log' ? logs.RetentionDays.ONE_YEAR : logs.RetentionDays.THREE_MONTHS,
        environment: {
          ...executorBase(),
          ...brokerEnv[broker],
          ...optional({ RISK_CONFIG: cfg.riskConfig[broker] }),
          // Where the executor forwards a signal whose outcome stays unknown after the broker
          // lookups (journaled and alarmed first), so it does not block its instrument.
          DEAD_LETTER_QUEUE_URL: this.deadLetterQueues[broker].queueUrl,
        },
        vpc,
        securityGroups: executorSg ? [executorSg] : undefined,
      });
      this.allowParameters(fn, 'read', [...brokerSecrets[broker], ...executorParams]);
      // Each executor may touch only its own broker's idempotency records and health item.
      this.allow(fn, ['dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem'], [idempotency.tableArn], {
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${broker}#*`] },
      });
      this.allow(fn, ['dynamodb:UpdateItem', 'dynamodb:GetItem'], [health.tableArn], {
        'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [broker] },
      });
      this.allow(fn, ['sns:Publish'], [this.topic.topicArn]);
      // Send only, and only to its own queue's dead-letter queue (SQS-managed SSE: no KMS
      // grant). In the VPC this call goes out through the NAT, like SSM and SNS.
      this.allow(fn, ['sqs:SendMessage'], [this.deadLetterQueues[broker].queueArn]);
      if (broker === 'tradovate') this.tradovateTokenAccess(fn, tokens);
      // One signal per invocation: a batch is processed in order, so a slow order at the
      // front would age the rest of the batch towards the staleness limit; concurrency
      // across instruments comes from the message groups instead.
      this.consume(fn, brokerQueues[broker], 1, 5);
    }

    // ---- token refresher -----------------------------------------------------------------
    if (cfg.brokers.includes('tradovate')) {
      const refresher = this.rustFunction('TokenRefresher', {
        binary: 'token-refresher',
        timeout: TIMEOUT.refresher,
        memorySize: 256,
        logRetention: logs.RetentionDays.THREE_MONTHS,
        environment: {
          ...tradovateParamEnv,
          TOKEN_TABLE: tokens.tableName,
          TRADOVATE_PARAM_PREFIX: TRADOVATE_TOKEN_PREFIX,
          NOTIFY_TOPIC_ARN: this.topic.topicArn,
          HEALTH_TABLE: health.tableName,
          ...optional({ TRADOVATE_BASE_URL: cfg.tradovateBaseUrl }),
        },
        // The next scheduled run is the retry; an async retry would only add logins.
        retryAttempts: 0,
      });
      this.allowParameters(refresher, 'read', Object.values(params.tradovate));
      this.tradovateTokenAccess(refresher, tokens);
      this.allow(refresher, ['sns:Publish'], [this.topic.topicArn]);
      this.allow(refresher, ['dynamodb:UpdateItem', 'dynamodb:GetItem'], [health.tableArn], {
        'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['tradovate'] },
      });
      new events.Rule(this, 'TokenRefreshSchedule', {
        description: 'Renews the Tradovate access token before its 80 minutes run out',
        schedule: events.Schedule.rate(Duration.minutes(10)),
        targets: [new targets.LambdaFunction(refresher, { retryAttempts: 0 })],
      });
      this.tokenAlarms();
    }

    // ---- Databento front months (optional) -----------------------------------------------
    if (frontMonths) {
      const refresher = this.rustFunction('FrontMonthRefresher', {
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
      this.allowParameters(refresher, 'read', [params.databentoApiKey]);
      this.allow(refresher, ['dynamodb:PutItem'], [frontMonths.tableArn]);
      new events.Rule(this, 'FrontMonthSchedule', {
        description: 'Caches the Databento front month (ROOT.v.0) of each futures root for the router',
        schedule: events.Schedule.rate(Duration.minutes(cfg.databentoScheduleMinutes)),
        targets: [new targets.LambdaFunction(refresher, { retryAttempts: 0 })],
      });
      // Its Errors alarm comes with every other function's below.
    }

    // ---- API -----------------------------------------------------------------------------
    this.api = this.restApi(ingest);

    // ---- alarms and dashboard ------------------------------------------------------------
    for (const [name, q] of Object.entries(this.deadLetterQueues)) this.dlqAlarm(name, q);
    for (const [name, q] of Object.entries(this.queues)) this.ageAlarm(name, q);
    for (const [name, fn] of Object.entries(this.functions)) this.errorAlarm(name, fn);
    this.apiAlarms();
    this.dashboard();

    new CfnOutput(this, 'WebhookUrl', {
      description: 'POST TradingView alerts here; append /<secret> or put the secret in "passphrase"',
      value: this.api.urlForPath('/webhook'),
    });
    new CfnOutput(this, 'NotificationTopicArn', { value: this.topic.topicArn });
    new CfnOutput(this, 'SecureStringParameters', {
      description: 'SSM SecureString parameters the operator must set (aws ssm put-parameter)',
      value: this.requiredParameters(params).join(','),
    });
  }

  /** The SecureString names this deployment reads and the operator must create. */
  private requiredParameters(params: ReturnType<typeof parameterNames>): string[] {
    const out = [params.webhookSecret];
    if (this.config.brokers.includes('oanda')) out.push(params.oandaSecret);
    if (this.config.brokers.includes('tradovate')) out.push(...Object.values(params.tradovate));
    if (this.config.brokers.includes('coinbase')) out.push(params.coinbasePrivateKey);
    if (this.config.journal === 'aurora') out.push(params.journalUrl);
    if (this.config.databento) out.push(params.databentoApiKey);
    return out;
  }

  // ---- building blocks -------------------------------------------------------------------

  private fifoQueue(name: string, consumerTimeout: Duration): sqs.Queue {
    const dlq = new sqs.Queue(this, `${cap(name)}Dlq`, {
      queueName: `${this.stackName}-${name}-dlq.fifo`,
      fifo: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const queue = new sqs.Queue(this, `${cap(name)}Queue`, {
      queueName: `${this.stackName}-${name}.fifo`,
      fifo: true,
      // The producers set MessageDeduplicationId = SignalId; content-based dedup would
      // hash the body instead and is left off so that a missing id fails loudly.
      contentBasedDeduplication: false,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(consumerTimeout.toSeconds() * VISIBILITY_FACTOR),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: dlq, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
    this.queues[name] = queue;
    this.deadLetterQueues[name] = dlq;
    return queue;
  }

  private table(id: string, ttlAttribute?: string): dynamodb.Table {
    return new dynamodb.Table(this, id, {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: ttlAttribute,
      // The idempotency records are what keeps a signal from trading twice: keep them.
      removalPolicy: RemovalPolicy.RETAIN,
      deletionProtection: true,
    });
  }

  private rustFunction(id: string, o: FnOptions): lambda.Function {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: o.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // An own role instead of AWSLambdaBasicExecutionRole: logs go only to this log group.
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${o.binary}`,
    });
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${this.getLogicalId(logGroup.node.defaultChild as logs.CfnLogGroup)}.Arn>]`,
      reason: 'The log group ARN ends in :* to cover its log streams, whose names Lambda chooses.',
    });
    if (o.vpc !== undefined) {
      role.addManagedPolicy(
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'),
      );
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        reason:
          'Lambda needs the ENI actions of this policy to join the VPC; EC2 does not allow scoping ' +
          'them to a resource before the interface exists.',
      });
    }
    const fn = new RustFunction(this, id, {
      manifestPath: this.manifestPath,
      binaryName: o.binary,
      bundling: bundlingOf(o.binary),
      runtime: 'provided.al2023',
      architecture: lambda.Architecture.ARM_64,
      timeout: o.timeout,
      memorySize: o.memorySize,
      role,
      logGroup,
      environment: { RUST_LOG: 'info', ...o.environment },
      vpc: o.vpc,
      vpcSubnets: o.vpc ? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS } : undefined,
      securityGroups: o.securityGroups,
      retryAttempts: o.retryAttempts,
      description: `tv-pipeline ${o.binary}`,
    });
    this.functions[o.binary] = fn;
    return fn;
  }

  /** Adds one scoped statement; `*` is never passed here (a test checks the template). */
  private allow(
    fn: lambda.Function,
    actions: string[],
    resources: string[],
    conditions?: Record<string, unknown>,
  ): void {
    fn.addToRolePolicy(new iam.PolicyStatement({ actions, resources, conditions }));
  }

  private parameterArn(name: string): string {
    return this.formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: name.replace(/^\//, ''),
    });
  }

  private allowParameters(fn: lambda.Function, mode: 'read' | 'write', names: string[]): void {
    const actions = mode === 'read' ? ['ssm:GetParameter'] : ['ssm:PutParameter'];
    this.allow(fn, actions, names.map((n) => this.parameterArn(n)));
  }

  private tradovateTokenAccess(fn: lambda.Function, tokens: dynamodb.Table): void {
    this.allow(fn, ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'], [tokens.tableArn]);
    this.allowParameters(fn, 'read', [TRADOVATE_TOKEN_PARAM]);
    this.allowParameters(fn, 'write', [TRADOVATE_TOKEN_PARAM]);
  }

  private consume(fn: lambda.Function, queue: sqs.Queue, batchSize: number, maxConcurrency: number): void {
    fn.addEventSource(
      new SqsEventSource(queue, {
        batchSize,
        maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
  }

  private journalDatabase(): { vpc: ec2.Vpc; executorSg: ec2.SecurityGroup } {
    const cfg = this.config;
    const natProvider =
      cfg.nat === 'gateway'
        ? ec2.NatProvider.gateway()
        : ec2.NatProvider.instanceV2({
            instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.NANO),
            machineImage: ec2.MachineImage.latestAmazonLinux2023({ cpuType: ec2.AmazonLinuxCpuType.ARM_64 }),
            defaultAllowedTraffic: ec2.NatTrafficDirection.OUTBOUND_ONLY,
            creditSpecification: ec2.CpuCredits.STANDARD,
          });
    const vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(VPC_CIDR),
      maxAzs: 2,
      natGateways: 1,
      natGatewayProvider: natProvider,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'executors', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
        { name: 'database', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      // DynamoDB through a free gateway endpoint, so idempotency traffic skips the NAT.
      gatewayEndpoints: { DynamoDb: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB } },
      flowLogs: {
        rejected: {
          trafficType: ec2.FlowLogTrafficType.REJECT,
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'VpcFlowLogs', {
              retention: logs.RetentionDays.ONE_MONTH,
              removalPolicy: RemovalPolicy.DESTROY,
            }),
          ),
        },
      },
    });
    if (natProvider instanceof ec2.NatInstanceProviderV2) {
      natProvider.connections.allowFrom(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.allTraffic(), 'from the VPC');
      for (const instance of natProvider.gatewayInstances) {
        Validations.of(instance).acknowledge({
          id: 'AwsSolutions-EC28',
          reason: 'A NAT instance needs no detailed monitoring; its traffic shows in the flow logs.',
        });
        Validations.of(instance).acknowledge({
          id: 'AwsSolutions-EC26',
          reason: 'The NAT instance root volume holds only the operating system; NatProvider offers no block device settings.',
        });
        Validations.of(instance).acknowledge({
          id: 'AwsSolutions-EC29',
          reason: 'The NAT instance holds no state; CloudFormation replaces it if it is lost.',
        });
      }
    }

    const executorSg = new ec2.SecurityGroup(this, 'ExecutorSg', {
      vpc,
      description: 'Executors: HTTPS to brokers and AWS APIs, PostgreSQL to the journal',
      allowAllOutbound: false,
    });
    executorSg.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to brokers and AWS APIs');
    const dbSg = new ec2.SecurityGroup(this, 'JournalSg', {
      vpc,
      description: 'Journal database: PostgreSQL from the executors only',
      allowAllOutbound: false,
    });
    dbSg.addIngressRule(executorSg, ec2.Port.tcp(5432), 'PostgreSQL from the executors');
    executorSg.addEgressRule(dbSg, ec2.Port.tcp(5432), 'PostgreSQL to the journal');

    const pause = cfg.auroraAutoPauseMinutes;
    const clusterIdentifier = `${this.stackName}-journal`.toLowerCase();
    // Created here rather than through cloudwatchLogsRetention, which would add a
    // log-retention Lambda with a wildcard policy.
    const dbLogs = new logs.LogGroup(this, 'JournalLogs', {
      logGroupName: `/aws/rds/cluster/${clusterIdentifier}/postgresql`,
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const cluster = new rds.DatabaseCluster(this, 'Journal', {
      engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_6 }),
      writer: rds.ClusterInstance.serverlessV2('writer'),
      // 0 ACU (paused) needs Aurora PostgreSQL 16.3+ and an auto-pause delay.
      serverlessV2MinCapacity: pause > 0 ? 0 : 0.5,
      serverlessV2MaxCapacity: 2,
      serverlessV2AutoPauseDuration: pause > 0 ? Duration.minutes(pause) : undefined,
      credentials: rds.Credentials.fromGeneratedSecret('journal'),
      defaultDatabaseName: 'journal',
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [dbSg],
      storageEncrypted: true,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
      backup: { retention: Duration.days(7) },
      clusterIdentifier,
      cloudwatchLogsExports: ['postgresql'],
    });
    cluster.node.addDependency(dbLogs);
    Validations.of(cluster).acknowledge({
      id: 'AwsSolutions-RDS6',
      reason: 'The journal connects with sqlx and a password URL from SSM; IAM tokens expire every 15 minutes and the executors do not renew them.',
    });
    Validations.of(cluster).acknowledge({
      id: 'AwsSolutions-RDS11',
      reason: 'The database sits in isolated subnets and admits only the executor security group; a custom port adds nothing there.',
    });
    Validations.of(cluster).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'The operator copies the password into the JOURNAL_URL SecureString once; rotation would break that copy silently.',
    });
    new CfnOutput(this, 'JournalSecretArn', {
      description: 'Generated database credentials; build the JOURNAL_URL from them (README)',
      value: cluster.secret?.secretArn ?? '',
    });
    new CfnOutput(this, 'JournalEndpoint', { value: cluster.clusterEndpoint.hostname });
    return { vpc, executorSg };
  }

  private restApi(ingest: lambda.Function): apigw.RestApi {
    const cfg = this.config;
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const stageName = 'prod';
    let policy: iam.PolicyDocument | undefined;
    if (cfg.ipAllowlist) {
      // Everything is invocable, then the webhook routes are denied to anyone but
      // TradingView; health and status stay reachable for the operator.
      const webhook = [`execute-api:/${stageName}/POST/webhook`, `execute-api:/${stageName}/POST/webhook/*`];
      policy = new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            effect: iam.Effect.ALLOW,
            principals: [new iam.AnyPrincipal()],
            actions: ['execute-api:Invoke'],
            resources: [
              ...webhook,
              `execute-api:/${stageName}/GET/healthcheck`,
              `execute-api:/${stageName}/GET/oandastatus`,
              `execute-api:/${stageName}/GET/tradovatestatus`,
              `execute-api:/${stageName}/GET/coinbasestatus`,
            ],
          }),
          new iam.PolicyStatement({
            effect: iam.Effect.DENY,
            principals: [new iam.AnyPrincipal()],
            actions: ['execute-api:Invoke'],
            resources: webhook,
            conditions: { NotIpAddress: { 'aws:SourceIp': TRADINGVIEW_IPS } },
          }),
        ],
      });
    }

    const api = new apigw.RestApi(this, 'Api', {
      restApiName: `${this.stackName}-webhook`,
      description: 'TradingView webhook and status endpoints',
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      policy,
      // Access logs need the account-level CloudWatch role; it is account-wide, so keep it.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName,
        throttlingRateLimit: cfg.throttleRate,
        throttlingBurstLimit: cfg.throttleBurst,
        // Execution logs can print the request path, which may carry the secret: off. The
        // access log below records the route template ($context.resourcePath) instead.
        loggingLevel: apigw.MethodLoggingLevel.OFF,
        dataTraceEnabled: false,
        metricsEnabled: false,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
    const integration = new apigw.LambdaIntegration(ingest, { proxy: true, allowTestInvoke: false });
    const validator = new apigw.RequestValidator(this, 'PathValidator', {
      restApi: api,
      validateRequestParameters: true,
      validateRequestBody: false,
    });
    const webhook = api.root.addResource('webhook');
    webhook.addMethod('POST', integration);
    webhook.addResource('{secret}').addMethod('POST', integration, {
      requestParameters: { 'method.request.path.secret': true },
      requestValidator: validator,
    });
    for (const route of ['healthcheck', 'oandastatus', 'tradovatestatus', 'coinbasestatus']) {
      api.root.addResource(route).addMethod('GET', integration);
    }

    const stage = api.deploymentStage;
    Validations.of(stage).acknowledge({
      id: 'AwsSolutions-APIG6',
      reason: 'Execution logs are off because they can record the path secret; access logs with the route template are on.',
    });
    Validations.of(stage).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason: 'WAF costs at least 5 USD/month; the stage is throttled, the webhook optionally IP-restricted, and ingest checks size and secret before any work.',
    });
    Validations.of(api).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason: 'TradingView cannot send authorization headers; ingest authenticates the shared secret (path or passphrase) in constant time.',
    });
    Validations.of(api).acknowledge({
      id: 'AwsSolutions-APIG2',
      reason:
        'TradingView posts JSON as text/plain, which API Gateway body models do not cover; ingest ' +
        'validates size, JSON and every field with stable error codes. Path parameters are validated.',
    });
    Validations.of(api).acknowledge({
      id: 'AwsSolutions-COG4',
      reason: 'TradingView cannot use Cognito; ingest authenticates the shared secret.',
    });
    const cwRole = api.node.tryFindChild('CloudWatchRole');
    if (cwRole !== undefined) {
      Validations.of(cwRole).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason: 'The AWS managed policy is what API Gateway documents for its account-level logging role.',
      });
    }
    return api;
  }

  // ---- alarms ----------------------------------------------------------------------------

  private alarm(id: string, props: cw.AlarmProps): cw.Alarm {
    const alarm = new cw.Alarm(this, id, props);
    alarm.addAlarmAction(new cwActions.SnsAction(this.topic));
    this.alarms.push(alarm);
    return alarm;
  }

  private dlqAlarm(name: string, dlq: sqs.Queue): void {
    this.alarm(`${cap(name)}DlqDepthAlarm`, {
      alarmDescription: `A message reached the ${name} dead-letter queue: inspect and replay it with tvctl dlq`,
      metric: dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
  }

  private ageAlarm(name: string, queue: sqs.Queue): void {
    this.alarm(`${cap(name)}OldestMessageAlarm`, {
      alarmDescription: `The oldest ${name} message waited over 2 minutes: its consumer is failing or absent`,
      metric: queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 120,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
  }

  private errorAlarm(name: string, fn: lambda.Function): void {
    this.alarm(`${cap(name)}ErrorsAlarm`, {
      alarmDescription: `${name} failed an invocation`,
      metric: fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
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

  private apiAlarms(): void {
    const api = this.api;
    this.alarm('Api5xxAlarm', {
      alarmDescription: 'The webhook answered 5xx: alerts could not be enqueued (TradingView resends up to 3 times)',
      metric: api.metricServerError({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
    this.alarm('Api4xxSpikeAlarm', {
      alarmDescription: 'Many refused webhook calls: a broken alert template, stale alerts, or someone probing',
      metric: api.metricClientError({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 20,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
    this.alarm('ApiLatencyAlarm', {
      alarmDescription: 'Webhook p99 latency above 2 s; TradingView gives up after 3 s',
      metric: api.metricLatency({ period: Duration.minutes(5), statistic: 'p99' }),
      threshold: 2000,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
  }

  private dashboard(): void {
    const search = (metric: string, stat: string, label: string) =>
      new cw.MathExpression({
        expression: `SEARCH('{${METRIC_NAMESPACE},Broker,Outcome} MetricName="${metric}"', '${stat}', 300)`,
        label,
        usingMetrics: {},
        period: Duration.minutes(5),
      });
    const d = new cw.Dashboard(this, 'Dashboard', { dashboardName: `${this.stackName}-pipeline` });
    d.addWidgets(
      new cw.GraphWidget({
        title: 'Webhook: requests, 4xx, 5xx',
        left: [this.api.metricCount(), this.api.metricClientError(), this.api.metricServerError()],
        width: 12,
      }),
      new cw.GraphWidget({
        title: 'Webhook latency (p50, p99)',
        left: [
          this.api.metricLatency({ statistic: 'p50' }),
          this.api.metricLatency({ statistic: 'p99' }),
          this.api.metricIntegrationLatency({ statistic: 'p99' }),
        ],
        width: 12,
      }),
    );
    d.addWidgets(
      ...STAGE_METRICS.map(
        (m) =>
          new cw.GraphWidget({
            title: `${m} p50 / p99 by broker and outcome`,
            left: [search(m, 'p50', 'p50')],
            right: [search(m, 'p99', 'p99')],
            width: 6,
          }),
      ),
    );
    d.addWidgets(
      new cw.GraphWidget({
        title: 'Signals by broker and outcome',
        left: [search('Signals', 'Sum', 'signals')],
        width: 12,
        stacked: true,
      }),
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
        width: 12,
      }),
    );
    d.addWidgets(
      new cw.GraphWidget({
        title: 'Queue depth',
        left: Object.values(this.queues).map((q) => q.metricApproximateNumberOfMessagesVisible()),
        width: 8,
      }),
      new cw.GraphWidget({
        title: 'Oldest message age (s)',
        left: Object.values(this.queues).map((q) => q.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum' })),
        width: 8,
      }),
      new cw.GraphWidget({
        title: 'Dead-letter queue depth',
        left: Object.values(this.deadLetterQueues).map((q) => q.metricApproximateNumberOfMessagesVisible()),
        width: 8,
      }),
    );
    d.addWidgets(
      new cw.GraphWidget({
        title: 'Function errors',
        left: Object.values(this.functions).map((f) => f.metricErrors({ statistic: 'Sum' })),
        width: 12,
      }),
      new cw.GraphWidget({
        title: 'Function duration p99 (ms)',
        left: Object.values(this.functions).map((f) => f.metricDuration({ statistic: 'p99' })),
        width: 12,
      }),
    );
  }
}

/**
 * Access log fields. `$context.resourcePath` is the route template (`/webhook/{secret}`), so
 * the secret in the path is never written; `$context.path` would write it.
 */
export const ACCESS_LOG_FIELDS: Record<string, string> = {
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  requestTime: '$context.requestTime',
  httpMethod: '$context.httpMethod',
  resourcePath: '$context.resourcePath',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  integrationStatus: '$context.integrationStatus',
  error: '$context.error.message',
};

function cap(s: string): string {
  return s
    .split(/[-_]/)
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');
}
