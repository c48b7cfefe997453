import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { buildApp } from '../lib/app';
import { readConfig } from '../lib/config';
import { VPC_ENI_ACTIONS } from '../lib/functions';
import { TRADINGVIEW_IPS } from '../lib/pipeline-stack';
import {
  BASE_CONTEXT,
  EXECUTOR_BROKERS,
  asList,
  assertOwnDeadLetterQueue,
  envOf,
  fn,
  resources,
  statementsOf,
  synth,
} from './helpers';

describe('IP allowlist on', () => {
  const { json } = synth({ ipAllowlist: 'tradingview' });

  it('denies the webhook routes to anyone but TradingView in the API resource policy', () => {
    const [, api] = resources(json, 'AWS::ApiGateway::RestApi')[0];
    const statements = api.Properties.Policy.Statement;
    const deny = statements.find((s: any) => s.Effect === 'Deny');
    assert.deepEqual(deny.Condition, { NotIpAddress: { 'aws:SourceIp': TRADINGVIEW_IPS } });
    assert.deepEqual(asList(deny.Resource).sort(), ['execute-api:/prod/POST/webhook', 'execute-api:/prod/POST/webhook/*']);
    const allow = statements.find((s: any) => s.Effect === 'Allow');
    assert.ok(asList(allow.Resource).includes('execute-api:/prod/GET/healthcheck'));
    assert.ok(asList(allow.Resource).every((r: string) => r !== 'execute-api:/*'));
  });

  it('tells ingest to check the source address too', () => {
    assert.equal(envOf(json, 'ingest').IP_ALLOWLIST, 'tradingview');
  });

  it('logs a refused request without the error message that names its path (the secret)', () => {
    const [, stage] = resources(json, 'AWS::ApiGateway::Stage')[0];
    const format: string = stage.Properties.AccessLogSetting.Format;
    assert.ok(!format.includes('$context.error.message') && !format.includes('$context.path'), format);
    assert.equal(JSON.parse(format).errorType, '$context.error.responseType');
  });
});

describe('IP allowlist off', () => {
  it('has no resource policy and ingest does not filter', () => {
    const { json } = synth({ ipAllowlist: 'off' });
    assert.equal(resources(json, 'AWS::ApiGateway::RestApi')[0][1].Properties.Policy, undefined);
    assert.equal(envOf(json, 'ingest').IP_ALLOWLIST, 'off');
  });
});

describe('a changed resource policy', () => {
  it('deploys the API again, so the stage serves the new policy', () => {
    // API Gateway applies a changed resource policy only in a new deployment ("If you update
    // the resource policy, you'll need to deploy the API"); CDK's deployment hashes the
    // RestApi's whole template, policy included, into its logical id. Kept so: with the same
    // deployment (a policy change alone, here TradingView's addresses) the stage would keep
    // refusing alerts by the old policy.
    const deployment = () => {
      const { app, stack } = buildApp({ context: { ...BASE_CONTEXT, ipAllowlist: 'tradingview' } });
      app.synth();
      return resources(Template.fromStack(stack).toJSON(), 'AWS::ApiGateway::Deployment').map(([id]) => id);
    };
    const before = deployment();
    TRADINGVIEW_IPS.push('192.0.2.1');
    try {
      const after = deployment();
      assert.equal(before.length, 1);
      assert.equal(after.length, 1);
      assert.notEqual(before[0], after[0]);
    } finally {
      TRADINGVIEW_IPS.pop();
    }
    const on = resources(synth({ ipAllowlist: 'tradingview' }).json, 'AWS::ApiGateway::Deployment');
    const off = resources(synth({ ipAllowlist: 'off' }).json, 'AWS::ApiGateway::Deployment');
    assert.notEqual(on[0][0], off[0][0]);
  });
});

describe('alarm email', () => {
  it('subscribes the address to the topic', () => {
    const { template } = synth({ alarmEmail: 'ops@example.com' });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });
});

describe('journal=aurora (NAT instance)', () => {
  const { template, json } = synth({ journal: 'aurora' });

  it('runs Aurora PostgreSQL Serverless v2 that pauses at 0 ACU, encrypted and protected', () => {
    template.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      EngineVersion: Match.stringLikeRegexp('^16\\.'),
      ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 2, SecondsUntilAutoPause: 3600 },
      StorageEncrypted: true,
      DeletionProtection: true,
      DatabaseName: 'journal',
      EnableCloudwatchLogsExports: ['postgresql'],
    });
    template.hasResourceProperties('AWS::RDS::DBInstance', { DBInstanceClass: 'db.serverless' });
    template.hasResource('AWS::RDS::DBCluster', { DeletionPolicy: 'Snapshot' });
  });

  it('puts only the executors in the VPC and points them at the journal URL parameter', () => {
    for (const b of ['executor-oanda', 'executor-tradovate', 'executor-coinbase']) {
      assert.ok(fn(json, b)[1].Properties.VpcConfig, `${b} in the VPC`);
      assert.equal(envOf(json, b).JOURNAL_URL_PARAM, '/tv-pipeline/journal-url');
      assert.equal(envOf(json, b).JOURNAL, undefined);
      const reads = statementsOf(json, b)
        .filter((s) => asList(s.Action).includes('ssm:GetParameter'))
        .flatMap((s) => asList(s.Resource).map((r: any) => JSON.stringify(r)));
      assert.ok(reads.some((r) => r.includes('parameter/tv-pipeline/journal-url')), b);
    }
    for (const b of ['ingest', 'router', 'token-refresher']) {
      assert.equal(fn(json, b)[1].Properties.VpcConfig, undefined, `${b} stays out of the VPC`);
    }
  });

  it('reaches the internet through one t4g.nano NAT instance, DynamoDB through a gateway endpoint', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::Instance', 1);
    template.hasResourceProperties('AWS::EC2::Instance', { InstanceType: 't4g.nano', SourceDestCheck: false });
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Gateway',
      ServiceName: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith(['.dynamodb'])]) }),
    });
    template.resourceCountIs('AWS::EC2::FlowLog', 1);
  });

  it('lets executors out on 443 and to the database on 5432 only', () => {
    const groups = resources(json, 'AWS::EC2::SecurityGroup').filter(([id]) => id.startsWith('ExecutorSg'));
    assert.equal(groups.length, 1);
    const egress = groups[0][1].Properties.SecurityGroupEgress;
    assert.deepEqual(egress.map((e: any) => [e.CidrIp, e.FromPort, e.ToPort]), [['0.0.0.0/0', 443, 443]]);
    template.hasResourceProperties('AWS::EC2::SecurityGroupEgress', { FromPort: 5432, ToPort: 5432 });
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', { FromPort: 5432, ToPort: 5432 });
    // The NAT instance admits the VPC range only.
    const nat = resources(json, 'AWS::EC2::SecurityGroup').filter(([id]) => id.includes('Nat'));
    for (const [, g] of nat) {
      for (const i of g.Properties.SecurityGroupIngress ?? []) assert.equal(i.CidrIp, '10.20.0.0/16');
    }
  });

  it('lets each executor in the VPC send to its own DLQ, through the NAT like SSM and SNS (no interface endpoint)', () => {
    for (const broker of EXECUTOR_BROKERS) assertOwnDeadLetterQueue(json, broker);
    // The only endpoint is DynamoDB's gateway; SQS, SSM and SNS go out on 443 via the NAT.
    for (const [id, e] of resources(json, 'AWS::EC2::VPCEndpoint')) assert.equal(e.Properties.VpcEndpointType, 'Gateway', id);
    const routeTableOf = new Map(
      resources(json, 'AWS::EC2::SubnetRouteTableAssociation').map(([, a]) => [a.Properties.SubnetId.Ref, a.Properties.RouteTableId.Ref]),
    );
    const defaultRoutes = resources(json, 'AWS::EC2::Route').filter(([, r]) => r.Properties.DestinationCidrBlock === '0.0.0.0/0');
    const nat = resources(json, 'AWS::EC2::Instance')[0][0];
    for (const broker of EXECUTOR_BROKERS) {
      const subnets = fn(json, `executor-${broker}`)[1].Properties.VpcConfig.SubnetIds.map((s: any) => s.Ref);
      assert.equal(subnets.length, 2, broker);
      for (const subnet of subnets) {
        const route = defaultRoutes.find(([, r]) => r.Properties.RouteTableId.Ref === routeTableOf.get(subnet));
        assert.deepEqual(route?.[1].Properties.InstanceId, { Ref: nat }, `${broker} subnet ${subnet} routes out via the NAT`);
      }
    }
  });

  it('uses no AWS managed policy for the executors; the only * resource is their inline ENI statement', () => {
    for (const [, p] of resources(json, 'AWS::IAM::Policy')) {
      for (const s of p.Properties.PolicyDocument.Statement) {
        for (const a of asList(s.Action)) assert.ok(!String(a).includes('*'), String(a));
        for (const r of asList(s.Resource)) assert.notEqual(r, '*');
      }
    }
    for (const b of EXECUTOR_BROKERS) {
      const role = json.Resources[fn(json, `executor-${b}`)[1].Properties.Role['Fn::GetAtt'][0]];
      assert.equal(role.Properties.ManagedPolicyArns, undefined, b);
      const inline = role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
      assert.deepEqual(inline, [{ Effect: 'Allow', Action: VPC_ENI_ACTIONS, Resource: '*' }], b);
    }
    for (const [id, r] of resources(json, 'AWS::IAM::Role')) {
      for (const p of r.Properties.Policies ?? []) {
        for (const s of p.PolicyDocument.Statement) {
          if (asList(s.Resource).includes('*')) assert.deepEqual(s.Action, VPC_ENI_ACTIONS, id);
        }
      }
    }
  });

  it('lists the journal URL among the parameters to set', () => {
    assert.ok(json.Outputs.SecureStringParameters.Value.split(',').includes('/tv-pipeline/journal-url'));
    assert.ok(json.Outputs.JournalSecretArn);
  });
});

describe('journal=aurora with a NAT gateway and no auto-pause', () => {
  it('uses a managed NAT gateway and keeps 0.5 ACU', () => {
    const { template } = synth({ journal: 'aurora', nat: 'gateway', auroraAutoPauseMinutes: '0' });
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
    template.resourceCountIs('AWS::EC2::Instance', 0);
    template.hasResourceProperties('AWS::RDS::DBCluster', {
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 2 },
    });
  });
});

describe('risk config', () => {
  it('passes RISK_CONFIG to the chosen executor only', () => {
    const toml = 'default_size = "2"\ndefault_max_position = "4"\n';
    const { json } = synth({ tradovateRiskConfig: toml });
    assert.equal(envOf(json, 'executor-tradovate').RISK_CONFIG, toml.trim());
    assert.equal(envOf(json, 'executor-oanda').RISK_CONFIG, undefined);
  });
});

describe('a subset of brokers', () => {
  it('deploys only the chosen executors but keeps every queue the router needs', () => {
    const { template, json } = synth({ brokers: 'oanda' });
    template.resourceCountIs('AWS::Lambda::Function', 3);
    assert.ok(fn(json, 'executor-oanda'));
    template.resourceCountIs('AWS::SQS::Queue', 8);
    template.resourceCountIs('AWS::Events::Rule', 0);
    const metrics = resources(json, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties.MetricName);
    assert.ok(!metrics.includes('TokenRefreshFailures'));
    assert.equal(json.Outputs.SecureStringParameters.Value, '/tv-pipeline/webhook-secret,/tv-pipeline/oanda/secret');
    // The deployed executor still gets its own DLQ; no function touches the others.
    assertOwnDeadLetterQueue(json, 'oanda');
  });
});

describe('context checks', () => {
  const get = (ctx: Record<string, unknown>) => (k: string) => ({ ...BASE_CONTEXT, ...ctx })[k];

  it('reads the defaults', () => {
    const c = readConfig(get({ brokers: 'coinbase, OANDA,tradovate' }));
    assert.deepEqual(c.brokers, ['oanda', 'tradovate', 'coinbase']);
    assert.equal(c.journal, 'log');
    assert.equal(c.ipAllowlist, false);
    assert.equal(c.paramPrefix, '/tv-pipeline');
  });

  it('refuses unknown or missing values, naming the option', () => {
    assert.throws(() => readConfig(get({ journal: 'sqlite' })), /journal=sqlite/);
    assert.throws(() => readConfig(get({ brokers: 'oanda,ib' })), /unknown broker ib/);
    assert.throws(() => readConfig(get({ ipAllowlist: 'yes' })), /ipAllowlist/);
    assert.throws(() => readConfig(get({ oandaAccount: undefined })), /oandaAccount is required/);
    assert.throws(() => readConfig(get({ coinbaseApiKeyName: '' })), /coinbaseApiKeyName is required/);
    assert.throws(() => readConfig(get({ auroraAutoPauseMinutes: '3' })), /auroraAutoPauseMinutes/);
    assert.throws(() => readConfig(get({ oandaBaseUrl: 'http://plain' })), /https/);
    // Given blank (a shell variable unset), not read as left out: that picks demo, practice
    // or production, or the login's only account.
    for (const key of [
      'oandaBaseUrl',
      'tradovateBaseUrl',
      'coinbaseBaseUrl',
      'tradovateAccount',
      'oandaRiskConfig',
      'tradovateRiskConfig',
      'coinbaseRiskConfig',
      'ipAllowlist',
      'journal',
      'paramPrefix',
      'notifyFills',
      'coinbaseLive',
      'nat',
      'databento',
      'databentoRoots',
      'throttleRate',
      'heartbeatHours',
      'executorConcurrency',
      'notifyMinIntervalSecs',
      'auroraAutoPauseMinutes',
    ]) {
      assert.throws(() => readConfig(get({ [key]: ' ' })), new RegExp(`${key} is given but empty`));
    }
    assert.throws(() => readConfig(get({ paramPrefix: 'no-slash' })), /paramPrefix/);
    assert.equal(readConfig(get({ brokers: 'tradovate', oandaAccount: undefined, coinbaseApiKeyName: undefined })).brokers[0], 'tradovate');
    assert.throws(() => readConfig(get({ brokers: undefined })), /brokers is required/);
  });
});

describe('cdk-nag is live', () => {
  it('fails the synth on an unacknowledged finding', () => {
    const { app, stack } = buildApp({ context: BASE_CONTEXT });
    new s3.Bucket(stack, 'UncheckedBucket');
    assert.throws(() => app.synth(), /Validation failed/);
  });
});
