import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parameterNames } from '../lib/common';
import { arnText, asList, envOf, EXECUTOR_BROKERS, resources, statementsOf, synth } from './helpers';

const parametersOf = (json: any, binary: string, action: string) =>
  statementsOf(json, binary)
    .filter((s) => asList(s.Action).includes(action))
    .flatMap((s) => asList(s.Resource).map(arnText))
    .map((arn) => arn.replace(/^.*:parameter/, ''))
    .sort();

describe('the kill switch', () => {
  const { json } = synth();

  it('is created by the stack, engaged: a standard String parameter with value on', () => {
    const params = resources(json, 'AWS::SSM::Parameter');
    assert.equal(params.length, 1);
    const [, p] = params[0];
    assert.deepEqual(
      { Name: p.Properties.Name, Type: p.Properties.Type, Value: p.Properties.Value, Tier: p.Properties.Tier },
      { Name: '/tv-pipeline/kill-switch', Type: 'String', Value: 'on', Tier: 'Standard' },
    );
    assert.equal(json.Outputs.KillSwitchParameter.Value, '/tv-pipeline/kill-switch');
  });

  it('is what every executor reads, and none may write it', () => {
    for (const b of EXECUTOR_BROKERS) {
      assert.equal(envOf(json, `executor-${b}`).KILL_SWITCH_PARAM, '/tv-pipeline/kill-switch', b);
      assert.ok(parametersOf(json, `executor-${b}`, 'ssm:GetParameter').includes('/tv-pipeline/kill-switch'), b);
    }
    for (const [, p] of resources(json, 'AWS::IAM::Policy')) {
      for (const s of p.Properties.PolicyDocument.Statement) {
        if (asList(s.Action).includes('ssm:PutParameter')) {
          assert.ok(!JSON.stringify(s.Resource).includes('kill-switch'), JSON.stringify(s.Resource));
        }
      }
    }
  });

  it('follows paramPrefix', () => {
    const { json: other } = synth({ paramPrefix: '/prod/tv' });
    assert.equal(resources(other, 'AWS::SSM::Parameter')[0][1].Properties.Name, '/prod/tv/kill-switch');
    assert.equal(envOf(other, 'executor-oanda').KILL_SWITCH_PARAM, '/prod/tv/kill-switch');
  });
});

describe('the Tradovate token parameter follows paramPrefix', () => {
  it('sets TRADOVATE_PARAM_PREFIX to the prefix and grants the token at <prefix>/tradovate/token', () => {
    for (const prefix of ['/tv-pipeline', '/prod/tv']) {
      const { json } = synth({ paramPrefix: prefix });
      const token = parameterNames(prefix).tradovateToken;
      assert.equal(token, `${prefix}/tradovate/token`);
      for (const b of ['executor-tradovate', 'token-refresher']) {
        assert.equal(envOf(json, b).TRADOVATE_PARAM_PREFIX, prefix, b);
        assert.ok(parametersOf(json, b, 'ssm:GetParameter').includes(token), b);
        assert.deepEqual(parametersOf(json, b, 'ssm:PutParameter'), [token], b);
      }
    }
  });

  it('keeps two stacks with different prefixes apart: no parameter either may read or write is the other one', () => {
    const a = synth({ stackName: 'TvPaper', paramPrefix: '/paper/tv' }).json;
    const b = synth({ stackName: 'TvLive', paramPrefix: '/live/tv' }).json;
    const touched = (json: any) =>
      new Set(
        resources(json, 'AWS::IAM::Policy')
          .flatMap(([, p]) => p.Properties.PolicyDocument.Statement)
          .filter((s: any) => asList(s.Action).some((x: string) => x.startsWith('ssm:')))
          .flatMap((s: any) => asList(s.Resource).map(arnText))
          .map((arn: string) => arn.replace(/^.*:parameter/, '')),
      );
    const [ta, tb] = [touched(a), touched(b)];
    assert.ok(ta.has('/paper/tv/tradovate/token') && tb.has('/live/tv/tradovate/token'));
    for (const name of ta) assert.ok(!tb.has(name), `both stacks touch ${name}`);
    const writes = (json: any) => parametersOf(json, 'token-refresher', 'ssm:PutParameter');
    assert.notDeepEqual(writes(a), writes(b));
    // The parameters each stack creates differ too (CloudFormation would refuse a duplicate name).
    assert.notEqual(
      resources(a, 'AWS::SSM::Parameter')[0][1].Properties.Name,
      resources(b, 'AWS::SSM::Parameter')[0][1].Properties.Name,
    );
  });
});

describe('failure mail rate limit', () => {
  it('is left to the executors default unless notifyMinIntervalSecs is given', () => {
    const { json } = synth();
    for (const b of EXECUTOR_BROKERS) assert.equal(envOf(json, `executor-${b}`).NOTIFY_MIN_INTERVAL_SECS, undefined, b);
  });

  it('passes notifyFills to every executor as NOTIFY_FILLS (false unless given), and to nothing else', () => {
    const { json } = synth({});
    for (const b of EXECUTOR_BROKERS) assert.equal(envOf(json, `executor-${b}`).NOTIFY_FILLS, 'false', b);
    const on = synth({ notifyFills: 'true' }).json;
    for (const b of EXECUTOR_BROKERS) assert.equal(envOf(on, `executor-${b}`).NOTIFY_FILLS, 'true', b);
    for (const b of ['ingest', 'router', 'token-refresher']) assert.equal(envOf(on, b).NOTIFY_FILLS, undefined, b);
  });

  it('passes notifyMinIntervalSecs to every executor as NOTIFY_MIN_INTERVAL_SECS, and to nothing else', () => {
    const { json } = synth({ notifyMinIntervalSecs: '1800' });
    for (const b of EXECUTOR_BROKERS) assert.equal(envOf(json, `executor-${b}`).NOTIFY_MIN_INTERVAL_SECS, '1800', b);
    for (const b of ['ingest', 'router', 'token-refresher']) assert.equal(envOf(json, b).NOTIFY_MIN_INTERVAL_SECS, undefined, b);
  });
});
