import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TIMEOUT, VISIBILITY_FACTOR } from '../lib/common';
import { QUEUE_NAMES } from '../lib/queues';
import { asList, CONSUME_ACTIONS, envOf, EXECUTOR_BROKERS, fn, queueIds, resources, sqsStatementsOf, synth } from './helpers';

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

describe('queues and consumers', () => {
  const { json } = synth();

  it('outputs every queue URL and dead-letter queue URL for the replay runbook', () => {
    assert.deepEqual(QUEUE_NAMES, ['signals', 'oanda', 'tradovate', 'coinbase']);
    for (const name of QUEUE_NAMES) {
      const { queue, dlq } = queueIds(json, name);
      assert.deepEqual(json.Outputs[`${cap(name)}QueueUrl`].Value, { Ref: queue }, name);
      assert.deepEqual(json.Outputs[`${cap(name)}DlqUrl`].Value, { Ref: dlq }, name);
    }
  });

  it('keeps the outputs when only one broker is deployed (every queue exists)', () => {
    const { json: one } = synth({ brokers: 'oanda' });
    for (const name of QUEUE_NAMES) {
      assert.ok(one.Outputs[`${cap(name)}QueueUrl`], name);
      assert.ok(one.Outputs[`${cap(name)}DlqUrl`], name);
    }
  });

  it('gives each consumer SOURCE_QUEUE_URL = the queue it consumes', () => {
    const consumers: [string, string][] = [['router', 'signals'], ...EXECUTOR_BROKERS.map((b): [string, string] => [`executor-${b}`, b])];
    const mappings = resources(json, 'AWS::Lambda::EventSourceMapping');
    for (const [binary, name] of consumers) {
      const { queue } = queueIds(json, name);
      assert.deepEqual(envOf(json, binary).SOURCE_QUEUE_URL, { Ref: queue }, binary);
      const mapping = mappings.find(([, m]) => m.Properties.FunctionName.Ref === fn(json, binary)[0]);
      assert.equal(mapping?.[1].Properties.EventSourceArn['Fn::GetAtt'][0], queue, binary);
    }
    for (const binary of ['ingest', 'token-refresher']) assert.equal(envOf(json, binary).SOURCE_QUEUE_URL, undefined, binary);
  });

  it('lets each consumer change the visibility of its own queue only (the retry backoff)', () => {
    const consumers: [string, string][] = [['router', 'signals'], ...EXECUTOR_BROKERS.map((b): [string, string] => [`executor-${b}`, b])];
    for (const [binary, name] of consumers) {
      const { queue } = queueIds(json, name);
      const changes = sqsStatementsOf(json, binary).filter((s) => asList(s.Action).includes('sqs:ChangeMessageVisibility'));
      assert.equal(changes.length, 1, binary);
      // The batch call (ChangeMessageVisibilityBatch) is authorized by this same action.
      assert.deepEqual(asList(changes[0].Action).sort(), CONSUME_ACTIONS, binary);
      assert.deepEqual(asList(changes[0].Resource), [{ 'Fn::GetAtt': [queue, 'Arn'] }], binary);
      assert.equal(changes[0].Condition, undefined, binary);
    }
    for (const binary of ['ingest', 'token-refresher']) {
      assert.deepEqual(sqsStatementsOf(json, binary).filter((s) => asList(s.Action).includes('sqs:ChangeMessageVisibility')), [], binary);
    }
  });

  it('keeps the visibility timeout at 6× the consumer timeout (in-flight work), 180 s and 360 s', () => {
    assert.equal(VISIBILITY_FACTOR, 6);
    const want: Record<string, number> = { signals: TIMEOUT.router.toSeconds() * 6 };
    for (const b of EXECUTOR_BROKERS) want[b] = TIMEOUT.executor.toSeconds() * 6;
    for (const name of QUEUE_NAMES) {
      const q = json.Resources[queueIds(json, name).queue];
      assert.equal(q.Properties.VisibilityTimeout, want[name], name);
    }
    assert.deepEqual([want.signals, want.oanda], [180, 360]);
  });
});
