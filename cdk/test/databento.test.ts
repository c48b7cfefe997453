import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, DEFAULT_DATABENTO_ROOTS, readConfig, routingTableRoots } from '../lib/config';
import { bundlingOf, DATABENTO_DATASET } from '../lib/pipeline-stack';
import { BASE_CONTEXT, arnText, asList, envOf, fn, resources, statementsOf, synth } from './helpers';

const BINARY = 'front-month-refresher';
const API_KEY_PARAM = '/tv-pipeline/databento/api-key';
const ROUTER_ACCESS = ['dynamodb:Scan', 'dynamodb:UpdateItem'];

const functionsOf = (json: any) =>
  resources(json, 'AWS::Lambda::Function').map(([, f]) => f.Properties.Description as string);

/** The front-month table: the only table whose id starts with FrontMonthTable. */
const frontMonthTables = (json: any) => resources(json, 'AWS::DynamoDB::Table').filter(([id]) => id.startsWith('FrontMonthTable'));

describe('databento off (the default)', () => {
  const { template, json } = synth();

  it('creates no front-month table, function, schedule or alarm', () => {
    assert.equal(frontMonthTables(json).length, 0);
    template.resourceCountIs('AWS::DynamoDB::Table', 3);
    assert.ok(!functionsOf(json).includes(`tv-pipeline ${BINARY}`));
    const rules = resources(json, 'AWS::Events::Rule').map(([id]) => id);
    assert.deepEqual(rules.filter((id) => id.startsWith('FrontMonth')), []);
    assert.equal(rules.length, 1, 'only the token refresh schedule');
    assert.deepEqual(resources(json, 'AWS::CloudWatch::Alarm').filter(([id]) => id.startsWith('FrontMonth')), []);
  });

  it('gives the router no FRONT_MONTH_TABLE and no DynamoDB access', () => {
    assert.equal(envOf(json, 'router').FRONT_MONTH_TABLE, undefined);
    const dynamo = statementsOf(json, 'router').filter((s) => asList(s.Action).some((a: string) => a.startsWith('dynamodb:')));
    assert.deepEqual(dynamo, []);
  });

  it('does not ask for the Databento key', () => {
    assert.ok(!json.Outputs.SecureStringParameters.Value.split(',').includes(API_KEY_PARAM));
  });
});

describe('databento on', () => {
  // The synth runs the cdk-nag checks; reaching the assertions means zero findings.
  const { template, json } = synth({ databento: 'true' });
  const [tableId, table] = frontMonthTables(json)[0] ?? [];
  const [fnId] = fn(json, BINARY);

  it('creates the cache table: pk, TTL on expires_at, on demand, PITR, retained like the others', () => {
    assert.equal(frontMonthTables(json).length, 1);
    template.resourceCountIs('AWS::DynamoDB::Table', 4);
    const p = table.Properties;
    assert.deepEqual(p.KeySchema, [{ AttributeName: 'pk', KeyType: 'HASH' }]);
    assert.deepEqual(p.AttributeDefinitions, [{ AttributeName: 'pk', AttributeType: 'S' }]);
    assert.deepEqual(p.TimeToLiveSpecification, { AttributeName: 'expires_at', Enabled: true });
    assert.equal(p.BillingMode, 'PAY_PER_REQUEST');
    assert.equal(p.SSESpecification.SSEEnabled, true);
    assert.equal(p.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled, true);
    assert.equal(table.DeletionPolicy, 'Retain');
    assert.equal(table.UpdateReplacePolicy, 'Retain');
  });

  it('deploys front-month-refresher like the token refresher (arm64, own package, lambda profile, no VPC)', () => {
    const [, f] = fn(json, BINARY);
    assert.equal(f.Properties.Runtime, 'provided.al2023');
    assert.equal(f.Properties.Handler, 'bootstrap');
    assert.deepEqual(f.Properties.Architectures, ['arm64']);
    assert.ok(f.Properties.LoggingConfig?.LogGroup, 'logs to its own group');
    assert.equal(f.Properties.VpcConfig, undefined);
    assert.equal(f.Properties.Timeout, fn(json, 'token-refresher')[1].Properties.Timeout);
    assert.deepEqual(bundlingOf(BINARY), { profile: 'lambda', cargoLambdaFlags: ['--package', BINARY] });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: fnId },
      MaximumRetryAttempts: 0,
    });
  });

  it('sets the refresher environment', () => {
    const env = envOf(json, BINARY);
    assert.deepEqual(env.FRONT_MONTH_TABLE, { Ref: tableId });
    assert.equal(env.FRONT_MONTH_ROOTS, DEFAULT_DATABENTO_ROOTS.join(','));
    assert.equal(env.FRONT_MONTH_ROOTS, 'ES,MES,NQ,MNQ,YM,MYM,RTY,M2K,CL,MCL,NG,GC,MGC,SI,HG,ZB,ZN,ZC,ZS');
    assert.equal(env.DATABENTO_DATASET, DATABENTO_DATASET);
    assert.equal(env.DATABENTO_DATASET, 'GLBX.MDP3');
    assert.equal(env.DATABENTO_API_KEY_PARAM, API_KEY_PARAM);
    assert.equal(env.RUST_LOG, envOf(json, 'token-refresher').RUST_LOG);
    assert.equal(env.DATABENTO_API_KEY, undefined, 'only the parameter name, never the key');
  });

  it('runs it every 60 minutes by default, without async retries', () => {
    const rules = resources(json, 'AWS::Events::Rule').filter(([id]) => id.startsWith('FrontMonthSchedule'));
    assert.equal(rules.length, 1);
    const p = rules[0][1].Properties;
    assert.equal(p.ScheduleExpression, 'rate(1 hour)');
    assert.equal(p.State, 'ENABLED');
    assert.equal(p.Targets.length, 1);
    assert.deepEqual(p.Targets[0].Arn, { 'Fn::GetAtt': [fnId, 'Arn'] });
    assert.equal(p.Targets[0].RetryPolicy.MaximumRetryAttempts, 0);
    template.hasResourceProperties('AWS::Lambda::Permission', {
      FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [rules[0][0], 'Arn'] },
    });
  });

  it('gives the refresher exactly: read its one parameter, PutItem the cache table', () => {
    const own = statementsOf(json, BINARY).filter((s) => !asList(s.Action).some((a: string) => a.startsWith('logs:')));
    const shape = own.map((s) => ({
      effect: s.Effect,
      actions: asList(s.Action).sort(),
      resources: asList(s.Resource).map(arnText),
      condition: s.Condition,
    }));
    assert.deepEqual(shape, [
      {
        effect: 'Allow',
        actions: ['ssm:GetParameter'],
        resources: ['arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/tv-pipeline/databento/api-key'],
        condition: undefined,
      },
      { effect: 'Allow', actions: ['dynamodb:PutItem'], resources: [`\${${tableId}.Arn}`], condition: undefined },
    ]);
  });

  it('gives the router FRONT_MONTH_TABLE, and Scan and UpdateItem on that table only', () => {
    assert.deepEqual(envOf(json, 'router').FRONT_MONTH_TABLE, { Ref: tableId });
    const dynamo = statementsOf(json, 'router').filter((s) => asList(s.Action).some((a: string) => a.startsWith('dynamodb:')));
    assert.equal(dynamo.length, 1);
    assert.deepEqual(asList(dynamo[0].Action).sort(), ROUTER_ACCESS);
    assert.deepEqual(asList(dynamo[0].Resource).map(arnText), [`\${${tableId}.Arn}`]);
    assert.equal(dynamo[0].Condition, undefined);
  });

  it('lets no other function touch the cache table or the Databento key', () => {
    for (const [, p] of resources(json, 'AWS::IAM::Policy')) {
      const text = JSON.stringify(p.Properties.PolicyDocument);
      const roles = p.Properties.Roles.map((r: any) => r.Ref as string);
      const ownRoles = [fn(json, BINARY), fn(json, 'router')].map(([, f]) => f.Properties.Role['Fn::GetAtt'][0]);
      if (roles.some((r: string) => ownRoles.includes(r))) continue;
      assert.ok(!text.includes(tableId), `${roles} reaches the front-month table`);
      assert.ok(!text.includes('databento'), `${roles} reads the Databento key`);
    }
  });

  it('keeps no wildcard action and no * resource anywhere', () => {
    for (const [, p] of resources(json, 'AWS::IAM::Policy')) {
      for (const s of p.Properties.PolicyDocument.Statement) {
        for (const a of asList(s.Action)) assert.ok(!String(a).includes('*'), String(a));
        for (const r of asList(s.Resource)) assert.notEqual(r, '*');
      }
    }
  });

  it('alarms on the refresher errors to the notification topic', () => {
    const alarms = resources(json, 'AWS::CloudWatch::Alarm').filter(
      ([, a]) => a.Properties.MetricName === 'Errors' && a.Properties.Dimensions?.[0]?.Value?.Ref === fnId,
    );
    assert.equal(alarms.length, 1);
    const p = alarms[0][1].Properties;
    assert.equal(p.Namespace, 'AWS/Lambda');
    assert.equal(p.Threshold, 1);
    assert.equal(p.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
    assert.deepEqual(p.AlarmActions, [{ Ref: resources(json, 'AWS::SNS::Topic')[0][0] }]);
  });

  it('lists the Databento key among the parameters to set', () => {
    assert.ok(json.Outputs.SecureStringParameters.Value.split(',').includes(API_KEY_PARAM));
  });
});

describe('databento on with its own roots and schedule', () => {
  const { json } = synth({
    databento: 'true',
    databentoRoots: ' es, MNQ ,cl,ES,',
    databentoScheduleMinutes: '15',
    paramPrefix: '/prod/tv',
  });

  it('passes the cleaned roots, the rate and the prefixed parameter name', () => {
    const env = envOf(json, BINARY);
    assert.equal(env.FRONT_MONTH_ROOTS, 'ES,MNQ,CL');
    assert.equal(env.DATABENTO_API_KEY_PARAM, '/prod/tv/databento/api-key');
    const [, rule] = resources(json, 'AWS::Events::Rule').find(([id]) => id.startsWith('FrontMonthSchedule'))!;
    assert.equal(rule.Properties.ScheduleExpression, 'rate(15 minutes)');
  });

  it('keeps the refresher out of the VPC with journal=aurora (cdk-nag clean there too)', () => {
    const { json: aurora } = synth({ databento: 'true', journal: 'aurora' });
    assert.equal(fn(aurora, BINARY)[1].Properties.VpcConfig, undefined);
    assert.equal(fn(aurora, 'router')[1].Properties.VpcConfig, undefined);
  });

  it('works without Tradovate (no token refresher) too', () => {
    const { json: only } = synth({ databento: 'true', brokers: 'oanda' });
    assert.ok(fn(only, BINARY));
    assert.deepEqual(
      resources(only, 'AWS::Events::Rule').map(([id]) => id.replace(/[0-9A-F]{8}$/, '')),
      ['FrontMonthSchedule'],
    );
  });
});

describe('databento context checks', () => {
  const get = (ctx: Record<string, unknown>) => (k: string) => ({ ...BASE_CONTEXT, ...ctx })[k];

  it('looks up the futures roots of the routing table every binary embeds by default', () => {
    assert.deepEqual(
      [...DEFAULT_DATABENTO_ROOTS],
      ['ES', 'MES', 'NQ', 'MNQ', 'YM', 'MYM', 'RTY', 'M2K', 'CL', 'MCL', 'NG', 'GC', 'MGC', 'SI', 'HG', 'ZB', 'ZN', 'ZC', 'ZS'],
    );
    // A root added to the table is looked up too; other sections are not roots.
    const table = '[exchanges]\nCME = "tradovate"\n[futures.ES]\nmonths = "HMUZ"\n[futures.SIL]\nmonths = "HKNUZ"\n[pairs]\n';
    assert.deepEqual(routingTableRoots(table), ['ES', 'SIL']);
    // As TOML and the Rust loader read a header: a comment after it, spaces, a quoted or
    // lower-case root.
    assert.deepEqual(
      routingTableRoots("[futures.SIL] # micro silver\n[ futures . mes ]\n[futures.\"ZW\"]\n[futures.'KE']\n[futuresX.NO]\n"),
      ['SIL', 'MES', 'ZW', 'KE'],
    );
  });

  it('is off by default with the documented roots and 60 minutes', () => {
    const c = readConfig(get({}));
    assert.equal(c.databento, false);
    assert.deepEqual(c.databentoRoots, DEFAULT_DATABENTO_ROOTS);
    assert.equal(c.databentoScheduleMinutes, 60);
    assert.equal(readConfig(get({ databento: 'true' })).databento, true);
    assert.equal(readConfig(get({ databento: true })).databento, true);
    assert.equal(readConfig(get({ databento: 'false' })).databento, false);
  });

  it('refuses a bad databentoScheduleMinutes with a ConfigError naming the option', () => {
    for (const bad of ['14', '1441', '0', '30.5', 'hourly', '-60']) {
      assert.throws(
        () => readConfig(get({ databento: 'true', databentoScheduleMinutes: bad })),
        (e: unknown) => e instanceof ConfigError && /databentoScheduleMinutes/.test(e.message),
        bad,
      );
    }
    assert.equal(readConfig(get({ databentoScheduleMinutes: '15' })).databentoScheduleMinutes, 15);
    assert.equal(readConfig(get({ databentoScheduleMinutes: '1440' })).databentoScheduleMinutes, 1440);
  });

  it('refuses bad roots and a bad databento value, naming the option', () => {
    const refuses = (ctx: Record<string, unknown>, re: RegExp) =>
      assert.throws(() => readConfig(get(ctx)), (e: unknown) => e instanceof ConfigError && re.test(e.message));
    refuses({ databento: 'yes' }, /databento=yes/);
    refuses({ databentoRoots: 'ES,E-MINI' }, /databentoRoots: E-MINI/);
    refuses({ databentoRoots: 'ES.v.0' }, /databentoRoots/);
    refuses({ databentoRoots: ' , ' }, /databentoRoots: expected at least one root/);
  });
});
