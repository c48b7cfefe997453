import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import {
  bundlingOf,
  MAX_RECEIVE_COUNT,
  METRIC_NAMESPACE,
  parameterNames,
  STAGE_METRICS,
  VISIBILITY_FACTOR,
} from '../lib/pipeline-stack';
import {
  alarmsOf,
  arnText,
  asList,
  assertOwnDeadLetterQueue,
  envOf,
  EXECUTOR_BROKERS,
  fn,
  queueIds,
  resources,
  statementsOf,
  synth,
  topicId,
} from './helpers';

const TRADOVATE_TOKEN_PARAM = parameterNames('/tv-pipeline').tradovateToken;
const BINARIES = ['ingest', 'router', 'executor-oanda', 'executor-tradovate', 'executor-coinbase', 'token-refresher'];

describe('all three brokers, JOURNAL=log, no IP allowlist', () => {
  const { template, json } = synth();

  it('passes the cdk-nag AwsSolutions checks (synth would throw otherwise)', () => {
    // synth() ran app.synth() with the plugin attached; reaching here means zero findings.
    assert.ok(json.Resources);
  });

  it('deploys the six Rust functions on arm64 provided.al2023', () => {
    template.resourceCountIs('AWS::Lambda::Function', 6);
    for (const b of BINARIES) {
      const [, f] = fn(json, b);
      assert.equal(f.Properties.Runtime, 'provided.al2023', b);
      assert.equal(f.Properties.Handler, 'bootstrap', b);
      assert.deepEqual(f.Properties.Architectures, ['arm64'], b);
      assert.ok(f.Properties.LoggingConfig?.LogGroup, `${b} logs to its own group`);
    }
  });

  it('builds each binary from its own package with the lambda profile', () => {
    // `--package` keeps cargo from unifying features across the workspace (SQLite would
    // otherwise end up in the executors); the profile dir matches what the bench report reads.
    for (const b of BINARIES) {
      assert.deepEqual(bundlingOf(b), { profile: 'lambda', cargoLambdaFlags: ['--package', b] }, b);
    }
  });

  it('sets every setting each binary reads', () => {
    const keys = (b: string) => Object.keys(envOf(json, b)).sort();
    const has = (b: string, want: string[]) => {
      for (const k of want) assert.ok(keys(b).includes(k), `${b} lacks ${k}: ${keys(b)}`);
    };
    has('ingest', ['SIGNALS_QUEUE_URL', 'WEBHOOK_SECRET_PARAM', 'IP_ALLOWLIST', 'HEALTH_TABLE']);
    has('router', ['OANDA_QUEUE_URL', 'TRADOVATE_QUEUE_URL', 'COINBASE_QUEUE_URL', 'SOURCE_QUEUE_URL', 'DEAD_LETTER_QUEUE_URL']);
    const common = ['IDEMPOTENCY_TABLE', 'NOTIFY_TOPIC_ARN', 'HEALTH_TABLE', 'KILL_SWITCH_PARAM', 'JOURNAL', 'DEAD_LETTER_QUEUE_URL', 'SOURCE_QUEUE_URL'];
    has('executor-oanda', [...common, 'OANDA_ACCOUNT', 'OANDA_SECRET_PARAM']);
    const tradovateCreds = ['USERNAME', 'PASSWORD', 'APP_ID', 'DEVICE_ID', 'CID', 'SEC'].map((c) => `TRADOVATE_${c}_PARAM`);
    has('executor-tradovate', [...common, ...tradovateCreds, 'TOKEN_TABLE', 'TRADOVATE_PARAM_PREFIX']);
    has('executor-coinbase', [...common, 'COINBASE_API_KEY_NAME', 'COINBASE_PRIVATE_KEY_PARAM']);
    has('token-refresher', [...tradovateCreds, 'TOKEN_TABLE', 'NOTIFY_TOPIC_ARN', 'HEALTH_TABLE', 'TRADOVATE_PARAM_PREFIX']);
    assert.equal(envOf(json, 'executor-oanda').JOURNAL, 'log');
    assert.equal(envOf(json, 'ingest').IP_ALLOWLIST, 'off');
    assert.equal(envOf(json, 'ingest').WEBHOOK_SECRET_PARAM, '/tv-pipeline/webhook-secret');
    // The token copy is `${TRADOVATE_PARAM_PREFIX}/tradovate/token` = `${paramPrefix}/tradovate/token`.
    assert.equal(envOf(json, 'executor-tradovate').TRADOVATE_PARAM_PREFIX, '/tv-pipeline');
    assert.equal(envOf(json, 'token-refresher').TRADOVATE_PARAM_PREFIX, '/tv-pipeline');
    // No secret value is ever in the template, only parameter names.
    for (const b of BINARIES) {
      for (const [k, v] of Object.entries(envOf(json, b))) {
        if (/SECRET|PASSWORD|PRIVATE_KEY|_SEC$/.test(k)) assert.ok(k.endsWith('_PARAM'), `${b}: ${k}=${v}`);
      }
    }
  });

  it('has FIFO queues with FIFO dead-letter queues, 5 receives, visibility ≥ 6× the consumer timeout', () => {
    const queues = resources(json, 'AWS::SQS::Queue');
    assert.equal(queues.length, 8);
    const byId = new Map(queues);
    const mains = queues.filter(([, q]) => q.Properties.RedrivePolicy);
    assert.deepEqual(
      mains.map(([, q]) => q.Properties.QueueName['Fn::Join'] ? '' : q.Properties.QueueName).sort(),
      ['TvPipeline-coinbase.fifo', 'TvPipeline-oanda.fifo', 'TvPipeline-signals.fifo', 'TvPipeline-tradovate.fifo'],
    );
    for (const [id, q] of queues) {
      assert.equal(q.Properties.FifoQueue, true, id);
      assert.equal(q.Properties.SqsManagedSseEnabled, true, id);
    }
    const timeoutOf = new Map(
      resources(json, 'AWS::Lambda::Function').map(([id, f]) => [id, f.Properties.Timeout as number]),
    );
    const mappings = resources(json, 'AWS::Lambda::EventSourceMapping');
    assert.equal(mappings.length, 4);
    for (const [id, q] of mains) {
      const redrive = q.Properties.RedrivePolicy;
      assert.equal(redrive.maxReceiveCount, MAX_RECEIVE_COUNT, id);
      // High-throughput FIFO: 300 sends a second per queue would throttle a bar close's burst.
      assert.equal(q.Properties.DeduplicationScope, 'messageGroup', id);
      assert.equal(q.Properties.FifoThroughputLimit, 'perMessageGroupId', id);
      const dlq = byId.get(redrive.deadLetterTargetArn['Fn::GetAtt'][0]);
      assert.equal(dlq?.Properties.FifoQueue, true, `${id} dead-letters to a FIFO queue`);
      assert.equal(dlq?.Properties.MessageRetentionPeriod, 14 * 24 * 3600);
      const consumer = mappings.find(([, m]) => m.Properties.EventSourceArn['Fn::GetAtt'][0] === id);
      assert.ok(consumer, `${id} has a consumer`);
      const timeout = timeoutOf.get(consumer[1].Properties.FunctionName.Ref)!;
      assert.ok(
        q.Properties.VisibilityTimeout >= VISIBILITY_FACTOR * timeout,
        `${id}: visibility ${q.Properties.VisibilityTimeout} < 6 × ${timeout}`,
      );
    }
  });

  it('maps every queue with ReportBatchItemFailures, bounded batches and concurrency', () => {
    for (const [id, m] of resources(json, 'AWS::Lambda::EventSourceMapping')) {
      assert.deepEqual(m.Properties.FunctionResponseTypes, ['ReportBatchItemFailures'], id);
      assert.ok(m.Properties.BatchSize >= 1 && m.Properties.BatchSize <= 10, id);
      assert.ok(m.Properties.ScalingConfig.MaximumConcurrency >= 2, id);
      assert.equal(m.Properties.MaximumBatchingWindowInSeconds, undefined, `${id}: FIFO has no batching window`);
    }
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fn(json, 'router')[0] },
      BatchSize: 10,
    });
    for (const b of ['executor-oanda', 'executor-tradovate', 'executor-coinbase']) {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: fn(json, b)[0] },
        BatchSize: 1,
        ScalingConfig: { MaximumConcurrency: 5 },
      });
    }
  });

  it('has the three tables on demand, encrypted, with point-in-time recovery', () => {
    const tables = resources(json, 'AWS::DynamoDB::Table');
    assert.equal(tables.length, 3);
    for (const [id, t] of tables) {
      const p = t.Properties;
      assert.equal(p.BillingMode, 'PAY_PER_REQUEST', id);
      assert.deepEqual(p.KeySchema, [{ AttributeName: 'pk', KeyType: 'HASH' }], id);
      assert.deepEqual(p.AttributeDefinitions, [{ AttributeName: 'pk', AttributeType: 'S' }], id);
      assert.equal(p.SSESpecification.SSEEnabled, true, id);
      assert.equal(p.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled, true, id);
      assert.equal(t.DeletionPolicy, 'Retain', id);
    }
    const withTtl = tables.filter(([, t]) => t.Properties.TimeToLiveSpecification);
    assert.equal(withTtl.length, 1);
    assert.deepEqual(withTtl[0][1].Properties.TimeToLiveSpecification, { AttributeName: 'expires_at', Enabled: true });
    const tableOf = (b: string, key: string) => envOf(json, b)[key] as any;
    assert.equal(tableOf('executor-oanda', 'IDEMPOTENCY_TABLE').Ref, withTtl[0][0]);
    assert.equal(tableOf('ingest', 'HEALTH_TABLE').Ref, tableOf('executor-coinbase', 'HEALTH_TABLE').Ref);
    assert.equal(tableOf('token-refresher', 'TOKEN_TABLE').Ref, tableOf('executor-tradovate', 'TOKEN_TABLE').Ref);
  });

  it('serves the six routes through ingest on a regional, throttled stage', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      EndpointConfiguration: { Types: ['REGIONAL'] },
    });
    const paths = resources(json, 'AWS::ApiGateway::Resource').map(([, r]) => r.Properties.PathPart).sort();
    assert.deepEqual(paths, ['coinbasestatus', 'healthcheck', 'oandastatus', 'tradovatestatus', 'webhook', '{secret}']);
    const methods = resources(json, 'AWS::ApiGateway::Method').map(([, m]) => m.Properties.HttpMethod).sort();
    assert.deepEqual(methods, ['GET', 'GET', 'GET', 'GET', 'POST', 'POST']);
    const ingestId = fn(json, 'ingest')[0];
    for (const [id, m] of resources(json, 'AWS::ApiGateway::Method')) {
      assert.equal(m.Properties.Integration.Type, 'AWS_PROXY', id);
      assert.ok(JSON.stringify(m.Properties.Integration.Uri).includes(ingestId), `${id} goes to ingest`);
    }
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'prod',
      MethodSettings: Match.arrayWith([
        Match.objectLike({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 500, LoggingLevel: 'OFF', DataTraceEnabled: false }),
      ]),
    });
    // No resource policy without the allowlist.
    assert.equal(resources(json, 'AWS::ApiGateway::RestApi')[0][1].Properties.Policy, undefined);
  });

  it('writes access logs without the path (the secret), with the route template', () => {
    const [, stage] = resources(json, 'AWS::ApiGateway::Stage')[0];
    const format: string = stage.Properties.AccessLogSetting.Format;
    const fields = JSON.parse(format);
    assert.equal(fields.resourcePath, '$context.resourcePath');
    assert.ok(!format.includes('$context.path'), format);
    // An error's message can hold the request's path (a resource policy's refusal names it).
    assert.ok(!format.includes('$context.error.message'), format);
    assert.equal(fields.errorType, '$context.error.responseType');
    assert.ok(!format.includes('requestOverride') && !format.includes('$input'), format);
    assert.ok(stage.Properties.AccessLogSetting.DestinationArn);
  });

  it('runs the token refresher every 10 minutes, without async retries', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(10 minutes)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fn(json, 'token-refresher')[0], 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: fn(json, 'token-refresher')[0] },
      MaximumRetryAttempts: 0,
    });
  });

  it('has an SNS topic, enforcing TLS, with the alarm address subscribed (none only with alarmEmail=none)', () => {
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.resourceCountIs('AWS::SNS::Subscription', 1);
    synth({ alarmEmail: 'none' }).template.resourceCountIs('AWS::SNS::Subscription', 0);
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it("lets this account's CloudWatch alarms publish to the topic, whose own policy replaces SNS's default", () => {
    const policies = resources(json, 'AWS::SNS::TopicPolicy');
    assert.equal(policies.length, 1);
    const [, policy] = policies[0];
    assert.deepEqual(policy.Properties.Topics, [{ Ref: topicId(json) }]);
    const allows = policy.Properties.PolicyDocument.Statement.filter((s: any) => s.Effect === 'Allow');
    assert.equal(allows.length, 1, JSON.stringify(allows));
    const [allow] = allows;
    assert.deepEqual(allow.Principal, { Service: 'cloudwatch.amazonaws.com' });
    assert.equal(allow.Action, 'sns:Publish');
    assert.deepEqual(allow.Resource, { Ref: topicId(json) });
    assert.deepEqual(allow.Condition.StringEquals, { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
    const source = arnText(allow.Condition.ArnLike['aws:SourceArn']);
    assert.match(source, /^arn:\$\{AWS::Partition\}:cloudwatch:\$\{AWS::Region\}:\$\{AWS::AccountId\}:alarm:\*$/);
  });

  it('alarms on DLQ depth, errors, oldest message, token refresh, API refusals/5xx/latency, with alarm and OK actions to SNS', () => {
    const alarms = alarmsOf(json);
    const topic = topicId(json);
    for (const a of alarms) {
      assert.deepEqual(a.AlarmActions, [{ Ref: topic }], a.AlarmDescription);
      assert.deepEqual(a.OKActions, [{ Ref: topic }], a.AlarmDescription);
    }
    const count = (pred: (a: any) => boolean) => alarms.filter(pred).length;
    const depth = (a: any) => a.MetricName === 'ApproximateNumberOfMessagesVisible' && a.Statistic === 'Maximum';
    assert.equal(count(depth), 4);
    for (const a of alarms.filter(depth)) {
      assert.equal(a.Threshold, 0);
      assert.equal(a.ComparisonOperator, 'GreaterThanThreshold');
      assert.equal(a.Period, 60);
    }
    assert.equal(count((a) => a.MetricName === 'ApproximateAgeOfOldestMessage' && a.Threshold === 120), 4);
    // Letters left 3 days, on each of the 4 dead-letter queues.
    const lettersLeft = (a: any) =>
      a.EvaluationPeriods === 72 &&
      a.Metrics?.some((m: any) => m.MetricStat?.Metric.MetricName === 'ApproximateNumberOfMessagesVisible');
    assert.equal(count(lettersLeft), 4);
    assert.equal(count((a) => a.MetricName === 'Errors' && a.Namespace === 'AWS/Lambda' && a.Threshold === 1), 6);
    const failures = alarms.find((a) => a.MetricName === 'TokenRefreshFailures');
    assert.equal(failures?.Namespace, METRIC_NAMESPACE);
    assert.deepEqual(failures?.Dimensions, [{ Name: 'Broker', Value: 'tradovate' }]);
    const missing = alarms.find((a) => a.MetricName === 'TokenRefreshes');
    assert.equal(missing?.TreatMissingData, 'breaching');
    assert.equal(count((a) => a.Namespace === METRIC_NAMESPACE && a.MetricName === 'WebhookServerErrors' && a.Threshold === 1), 1);
    // The fixed 4xx count is gone: refusals are alarmed as a ratio (monitoring.test.ts).
    assert.equal(count((a) => a.MetricName === '4XXError'), 0);
    const latency = alarms.find((a) => a.Namespace === 'AWS/ApiGateway' && a.MetricName === 'Latency');
    assert.equal(latency?.ExtendedStatistic, 'p99');
    assert.equal(latency?.Threshold, 2000);
    const heartbeats = count((a) => a.MetricName === 'Signals');
    assert.equal(heartbeats, 3);
    // DLQ 4, DLQ age 4, age 4, errors 6, token 2, API 5xx + latency + refused ratio 3,
    // heartbeat 3, RecordFailures 1, Throttles 1.
    assert.equal(alarms.length, 4 + 4 + 4 + 6 + 2 + 3 + 3 + 1 + 1);
  });

  it('has a dashboard with the stage latencies by broker, outcomes and record failures', () => {
    const [, d] = resources(json, 'AWS::CloudWatch::Dashboard')[0];
    // The body is JSON text joined with tokens; its literal parts are enough here.
    const body: string = d.Properties.DashboardBody['Fn::Join'][1].filter((x: unknown) => typeof x === 'string').join('');
    for (const m of [...STAGE_METRICS, 'Signals', 'RecordFailures', 'TokenRefreshFailures']) assert.ok(body.includes(m), m);
    for (const m of STAGE_METRICS) assert.ok(body.includes(`{${METRIC_NAMESPACE},Broker} MetricName=\\"${m}\\"`), m);
    assert.ok(body.includes(`{${METRIC_NAMESPACE},Broker,Outcome} MetricName=\\"Signals\\"`));
    // The latencies have no Outcome dimension any more, and the dropped stages are gone.
    for (const gone of ['ReceivedToExecutorMs', 'RoutedToExecutorMs']) assert.ok(!body.includes(gone), gone);
    assert.ok(body.includes('ApproximateAgeOfOldestMessage'));
  });

  it('creates the kill switch parameter and no other, and no VPC or database in this profile', () => {
    const params = resources(json, 'AWS::SSM::Parameter');
    assert.equal(params.length, 1);
    assert.equal(params[0][1].Properties.Name, '/tv-pipeline/kill-switch');
    template.resourceCountIs('AWS::EC2::VPC', 0);
    template.resourceCountIs('AWS::RDS::DBCluster', 0);
    const out = json.Outputs.SecureStringParameters.Value.split(',');
    assert.equal(out.length, 1 + 1 + 6 + 1);
    assert.ok(out.includes('/tv-pipeline/webhook-secret'));
    assert.ok(!out.includes('/tv-pipeline/kill-switch'), 'the operator no longer creates the kill switch');
  });
});

describe('least privilege', () => {
  const { json } = synth();
  const policies = [
    ...resources(json, 'AWS::IAM::Policy').flatMap(([, p]) => p.Properties.PolicyDocument.Statement),
    ...resources(json, 'AWS::IAM::Role').flatMap(([, r]) =>
      (r.Properties.Policies ?? []).flatMap((p: any) => p.PolicyDocument.Statement),
    ),
  ];

  it('has no wildcard action and no * resource anywhere', () => {
    assert.ok(policies.length > 20);
    for (const s of policies) {
      for (const a of asList(s.Action)) assert.ok(!String(a).includes('*'), `wildcard action ${a}`);
      for (const r of asList(s.Resource)) assert.notEqual(r, '*', `* resource for ${s.Action}`);
    }
  });

  it('uses no AWS managed policy in this profile', () => {
    for (const [id, r] of resources(json, 'AWS::IAM::Role')) {
      if (id.startsWith('ApiCloudWatchRole')) continue; // API Gateway's account-level logging role
      assert.equal(r.Properties.ManagedPolicyArns, undefined, id);
    }
  });

  const parametersOf = (b: string, action: string) =>
    statementsOf(json, b)
      .filter((s) => asList(s.Action).includes(action))
      .flatMap((s) => asList(s.Resource).map(arnText))
      .map((arn) => arn.replace(/^.*:parameter/, ''))
      .sort();

  it('lets each function read only its own parameters', () => {
    assert.deepEqual(parametersOf('ingest', 'ssm:GetParameter'), ['/tv-pipeline/webhook-secret']);
    assert.deepEqual(parametersOf('router', 'ssm:GetParameter'), []);
    assert.deepEqual(parametersOf('executor-oanda', 'ssm:GetParameter'), ['/tv-pipeline/kill-switch', '/tv-pipeline/oanda/secret']);
    assert.deepEqual(parametersOf('executor-coinbase', 'ssm:GetParameter'), ['/tv-pipeline/coinbase/private-key', '/tv-pipeline/kill-switch']);
    const tradovate = ['app-id', 'cid', 'device-id', 'password', 'sec', 'username'].map((c) => `/tv-pipeline/tradovate/${c}`);
    assert.deepEqual(parametersOf('executor-tradovate', 'ssm:GetParameter'), [...tradovate, '/tv-pipeline/kill-switch', TRADOVATE_TOKEN_PARAM].sort());
    assert.deepEqual(parametersOf('token-refresher', 'ssm:GetParameter'), [...tradovate, TRADOVATE_TOKEN_PARAM].sort());
  });

  it('lets only the Tradovate executor and the refresher write, and only the token parameter', () => {
    for (const b of BINARIES) {
      const want = b === 'executor-tradovate' || b === 'token-refresher' ? [TRADOVATE_TOKEN_PARAM] : [];
      assert.deepEqual(parametersOf(b, 'ssm:PutParameter'), want, b);
    }
  });

  it('scopes each executor to its own idempotency records and health item', () => {
    for (const broker of ['oanda', 'tradovate', 'coinbase']) {
      const writes = statementsOf(json, `executor-${broker}`).filter((s) =>
        asList(s.Action).some((a: string) => a === 'dynamodb:PutItem' || a === 'dynamodb:UpdateItem'),
      );
      const conditions = writes.map((s) => JSON.stringify(s.Condition ?? {}));
      assert.ok(conditions.some((c) => c.includes(`"${broker}#*"`)), `${broker} idempotency scope: ${conditions}`);
      assert.ok(conditions.some((c) => c.includes(`["${broker}"]`)), `${broker} health scope: ${conditions}`);
      // Every call the DynamoDB idempotency adapter makes (claim, complete, release,
      // hand_over, advance) is granted on the idempotency table.
      const idem = statementsOf(json, `executor-${broker}`).find((s) =>
        JSON.stringify(s.Condition ?? {}).includes(`"${broker}#*"`),
      );
      for (const action of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem']) {
        assert.ok(asList(idem.Action).includes(action), `${broker}: ${action}`);
      }
    }
  });

  it('lets the Tradovate executor and the refresher read and update the token item', () => {
    // The token and a 429's stop are written apart, with UpdateItem (aws-adapters tokens.rs).
    for (const b of ['executor-tradovate', 'token-refresher']) {
      const onTokens = statementsOf(json, b).filter((s) => asList(s.Resource).map(arnText).some((r: string) => r.includes('TokenTable')));
      const actions = onTokens.flatMap((s) => asList(s.Action));
      for (const action of ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem']) {
        assert.ok(actions.includes(action), `${b}: ${action} on the token table (${actions})`);
      }
    }
  });

  it('gives queue access only where the data flows', () => {
    const sends = (b: string) =>
      statementsOf(json, b)
        .filter((s) => asList(s.Action).includes('sqs:SendMessage'))
        .flatMap((s) => asList(s.Resource).map(arnText))
        .sort();
    assert.deepEqual(sends('ingest'), ['${SignalsQueueECF37AE8.Arn}']);
    // The router: the broker queues, and the signals queue's dead-letter queue (a signal that
    // no longer routes).
    assert.deepEqual(
      sends('router'),
      [...['coinbase', 'oanda', 'tradovate'].map((b) => `\${${queueIds(json, b).queue}.Arn}`), `\${${queueIds(json, 'signals').dlq}.Arn}`].sort(),
    );
    // An executor sends only to its own queue's dead-letter queue (an unknown outcome).
    for (const b of EXECUTOR_BROKERS) {
      assert.deepEqual(sends(`executor-${b}`), [`\${${queueIds(json, b).dlq}.Arn}`], b);
    }
    assert.deepEqual(sends('token-refresher'), []);
    const dynamo = (b: string) => statementsOf(json, b).filter((s) => asList(s.Action).some((a: string) => a.startsWith('dynamodb:')));
    assert.deepEqual(dynamo('router'), []);
    assert.deepEqual(dynamo('ingest').flatMap((s) => asList(s.Action)), ['dynamodb:GetItem']);
  });
});

describe('executor dead letters (an unknown outcome goes to the DLQ at once)', () => {
  const { json } = synth();

  for (const broker of EXECUTOR_BROKERS) {
    it(`gives executor-${broker} DEAD_LETTER_QUEUE_URL and sqs:SendMessage on its own queue's DLQ only`, () => {
      assertOwnDeadLetterQueue(json, broker);
    });
  }

  it("gives the router DEAD_LETTER_QUEUE_URL of the signals queue's DLQ, and no other DLQ", () => {
    const signalsDlq = queueIds(json, 'signals').dlq;
    assert.deepEqual(envOf(json, 'router').DEAD_LETTER_QUEUE_URL, { Ref: signalsDlq });
    const text = JSON.stringify(statementsOf(json, 'router'));
    for (const d of EXECUTOR_BROKERS.map((n) => queueIds(json, n).dlq)) {
      assert.ok(!text.includes(`"${d}"`), `router reaches ${d}`);
    }
  });

  it('gives no other function DEAD_LETTER_QUEUE_URL or access to a dead-letter queue', () => {
    const dlqs = ['signals', ...EXECUTOR_BROKERS].map((n) => queueIds(json, n).dlq);
    for (const b of ['ingest', 'token-refresher']) {
      assert.equal(envOf(json, b).DEAD_LETTER_QUEUE_URL, undefined, b);
      const text = JSON.stringify(statementsOf(json, b));
      for (const d of dlqs) assert.ok(!text.includes(`"${d}"`), `${b} reaches ${d}`);
    }
  });
});
