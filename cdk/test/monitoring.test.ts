import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { AURORA_MAX_ACU, CUSTOM_METRICS, METRIC_NAMESPACE } from '../lib/common';
import { DLQ_AGE_ALARM_DAYS } from '../lib/monitoring';
import { alarmMetricCount, alarmsOf, fn, resources, synth, topicId } from './helpers';

/** The README's cost table states these for the default profile (journal=log, brokers=oanda). */
export const DEFAULT_PROFILE_ALARMS = 17;
export const DEFAULT_PROFILE_ALARM_METRICS = 21;

const PROFILES: Record<string, Record<string, unknown>> = {
  'all brokers': {},
  'oanda only': { brokers: 'oanda' },
  aurora: { journal: 'aurora' },
  'aurora, NAT gateway': { journal: 'aurora', nat: 'gateway' },
  databento: { databento: 'true' },
};

const byName = (json: any, metricName: string) => alarmsOf(json).filter((a) => a.MetricName === metricName);
const mathAlarms = (json: any) => alarmsOf(json).filter((a) => a.Metrics !== undefined);
const expressionOf = (a: any) => a.Metrics.find((m: any) => m.Expression !== undefined);

describe('every alarm notifies when it fires and when it clears', () => {
  for (const [name, ctx] of Object.entries(PROFILES)) {
    it(`has an SNS alarm action and an SNS OK action on each alarm (${name})`, () => {
      const { json } = synth(ctx);
      const topic = topicId(json);
      for (const a of alarmsOf(json)) {
        assert.ok(a.AlarmActions.some((x: any) => x.Ref === topic), a.AlarmDescription);
        assert.deepEqual(a.OKActions, [{ Ref: topic }], a.AlarmDescription);
      }
    });
  }
});

describe('the default profile (journal=log, brokers=oanda)', () => {
  const { json } = synth({ brokers: 'oanda' });

  it(`has exactly ${DEFAULT_PROFILE_ALARMS} alarms querying ${DEFAULT_PROFILE_ALARM_METRICS} metrics, as the README cost table says`, () => {
    const alarms = alarmsOf(json);
    const kinds = alarms.map((a) => a.MetricName ?? expressionOf(a).Expression).sort();
    assert.deepEqual(kinds, [
      'ApproximateAgeOfOldestMessage', // signals, oanda, tradovate, coinbase (ingest refuses an absent broker's alert; a replay or an older ingest can still queue one)
      'ApproximateAgeOfOldestMessage',
      'ApproximateAgeOfOldestMessage',
      'ApproximateAgeOfOldestMessage',
      'ApproximateNumberOfMessagesVisible', // signals and oanda dead-letter queues: a letter
      'ApproximateNumberOfMessagesVisible',
      'Errors', // ingest, router, executor-oanda
      'Errors',
      'Errors',
      'FILL(t0, 0) + FILL(t1, 0) + FILL(t2, 0)',
      'FILL(visible, REPEAT)', // signals and oanda dead-letter queues: letters left 3 days
      'FILL(visible, REPEAT)',
      'IF((requests - FILL(status, 0)) >= 3, errors / (requests - FILL(status, 0)), 0)',
      'Latency',
      'RecordFailures',
      'Signals',
      'WebhookServerErrors', // ingest's own count: the stage's 5XXError holds the status routes' 503s
    ]);
    assert.equal(alarms.length, DEFAULT_PROFILE_ALARMS);
    assert.equal(alarms.map(alarmMetricCount).reduce((a, b) => a + b, 0), DEFAULT_PROFILE_ALARM_METRICS);
    const readme = fs.readFileSync(path.resolve(__dirname, '..', '..', 'README.md'), 'utf8');
    assert.ok(
      readme.includes(`${DEFAULT_PROFILE_ALARMS} alarms, ${DEFAULT_PROFILE_ALARM_METRICS} alarm metrics × 0.10`),
      'README cost table: alarm line',
    );
  });

  it('has no dead-letter alarm for the brokers that are not deployed (nothing can reach their DLQ)', () => {
    const dlqAlarms = resources(json, 'AWS::CloudWatch::Alarm').filter(([id]) => /Dlq(Depth|Age)Alarm/.test(id)).map(([id]) => id);
    assert.deepEqual(dlqAlarms.map((id) => id.replace(/[0-9A-F]{8}$/, '')).sort(), [
      'OandaDlqAgeAlarm',
      'OandaDlqDepthAlarm',
      'SignalsDlqAgeAlarm',
      'SignalsDlqDepthAlarm',
    ]);
  });

  it('keeps a dead-letter depth alarm in its state when the queue goes quiet (SQS emits no metric for an inactive queue)', () => {
    for (const name of ['Signals', 'Oanda']) {
      const [id, alarm] = resources(json, 'AWS::CloudWatch::Alarm').find(([i]) => i.startsWith(`${name}DlqDepthAlarm`))!;
      assert.equal(alarm.Properties.MetricName, 'ApproximateNumberOfMessagesVisible', id);
      assert.equal(alarm.Properties.TreatMissingData, 'ignore', id);
    }
  });

  it('alarms on letters left 3 days in a dead-letter queue (never empty for 72 hours), well before its 14-day retention ends', () => {
    const queues = resources(json, 'AWS::SQS::Queue');
    for (const name of ['Signals', 'Oanda']) {
      const [id, alarm] = resources(json, 'AWS::CloudWatch::Alarm').find(([i]) => i.startsWith(`${name}DlqAgeAlarm`))!;
      const p = alarm.Properties;
      // Not the age of the oldest message: SQS leaves one received 3 times or more out of it.
      // An hour with no reading (SQS emits none for a queue it counts inactive) takes the last
      // count, and an evaluation with none keeps the state: counted as not breaching, 72 such
      // hours could never all be above 0.
      assert.equal(expressionOf(alarm.Properties).Expression, 'FILL(visible, REPEAT)', id);
      const visible = p.Metrics.find((m: any) => m.Id === 'visible').MetricStat;
      assert.equal(visible.Metric.MetricName, 'ApproximateNumberOfMessagesVisible', id);
      assert.deepEqual([visible.Stat, visible.Period, p.Threshold], ['Minimum', 3600, 0], id);
      assert.equal(p.TreatMissingData, 'ignore', id);
      assert.equal(p.ComparisonOperator, 'GreaterThanThreshold', id);
      assert.deepEqual([p.EvaluationPeriods, p.DatapointsToAlarm], [DLQ_AGE_ALARM_DAYS * 24, DLQ_AGE_ALARM_DAYS * 24], id);
      // Within CloudWatch's 7-day evaluation range.
      assert.ok(p.EvaluationPeriods * visible.Period <= 7 * 86400, id);
      const queueRef = visible.Metric.Dimensions.find((d: any) => d.Name === 'QueueName').Value['Fn::GetAtt'][0];
      const [, dlq] = queues.find(([q]) => q === queueRef)!;
      assert.match(dlq.Properties.QueueName, /-dlq\.fifo$/, id);
      assert.ok(DLQ_AGE_ALARM_DAYS * 86400 < dlq.Properties.MessageRetentionPeriod / 2, id);
    }
  });
});

describe('alarms that see outages', () => {
  const { json } = synth();

  it('alarms on the share of refused webhook calls, over the stage metrics less the status routes, not on a fixed 4xx count', () => {
    const ratio = mathAlarms(json).filter((a) => expressionOf(a).Expression.startsWith('IF('));
    assert.equal(ratio.length, 1);
    const [a] = ratio;
    // The status routes' requests (ingest's own count, none in a quiet period) are taken
    // off the stage's count: polled once a minute they hid every alert refused.
    assert.equal(
      expressionOf(a).Expression,
      'IF((requests - FILL(status, 0)) >= 3, errors / (requests - FILL(status, 0)), 0)',
    );
    const status = a.Metrics.find((m: any) => m.Id === 'status').MetricStat;
    assert.equal(status.Metric.Namespace, METRIC_NAMESPACE);
    assert.equal(status.Metric.MetricName, 'StatusRequests');
    assert.equal(status.Metric.Dimensions, undefined);
    assert.equal(status.Period, 900);
    assert.equal(status.Stat, 'Sum');
    assert.equal(a.Threshold, 0.5);
    assert.equal(a.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
    assert.equal(a.EvaluationPeriods, 1);
    assert.equal(a.TreatMissingData, 'notBreaching');
    const stat = (id: string) => a.Metrics.find((m: any) => m.Id === id).MetricStat;
    const [, stage] = resources(json, 'AWS::ApiGateway::Stage')[0];
    for (const [id, metric] of [['errors', '4XXError'], ['requests', 'Count']]) {
      const s = stat(id);
      assert.equal(s.Metric.Namespace, 'AWS/ApiGateway');
      assert.equal(s.Metric.MetricName, metric);
      assert.equal(s.Period, 900, 'a 15-minute window');
      assert.equal(s.Stat, 'Sum');
      const dims = Object.fromEntries(s.Metric.Dimensions.map((d: any) => [d.Name, d.Value]));
      assert.equal(dims.ApiName, 'TvPipeline-webhook');
      assert.ok(dims.Stage.Ref && stage.Properties.StageName === 'prod', 'stage-level metric');
    }
    assert.ok(/TradingView never resends a 4xx/.test(a.AlarmDescription));
    assert.equal(byName(json, '4XXError').length, 0);
  });

  it('has a heartbeat per deployed broker: no filled signal for 72 hours (missing data breaches)', () => {
    const beats = byName(json, 'Signals');
    assert.equal(beats.length, 3);
    const brokers = beats.map((a) => Object.fromEntries(a.Dimensions.map((d: any) => [d.Name, d.Value])));
    assert.deepEqual(brokers.map((d) => d.Broker).sort(), ['coinbase', 'oanda', 'tradovate']);
    for (const [i, a] of beats.entries()) {
      assert.equal(a.Namespace, METRIC_NAMESPACE);
      assert.equal(brokers[i].Outcome, 'filled');
      assert.equal(a.Period, 3600);
      assert.equal(a.EvaluationPeriods, 72);
      assert.equal(a.Threshold, 1);
      assert.equal(a.ComparisonOperator, 'LessThanThreshold');
      assert.equal(a.TreatMissingData, 'breaching');
      assert.equal(a.Statistic, 'Sum');
      assert.ok(/No \w+ signal was filled for 72 hours/.test(a.AlarmDescription), a.AlarmDescription);
      assert.ok(/weekend or a quiet strategy can set heartbeatHours higher, or 0/.test(a.AlarmDescription));
    }
  });

  it('follows heartbeatHours, within CloudWatch’s 7-day limit, and 0 removes the heartbeat', () => {
    const week = byName(synth({ heartbeatHours: '168' }).json, 'Signals');
    for (const a of week) {
      assert.equal(a.EvaluationPeriods, 168);
      assert.ok(a.Period * a.EvaluationPeriods <= 604800);
    }
    assert.deepEqual(byName(synth({ heartbeatHours: '0' }).json, 'Signals'), []);
    assert.equal(byName(synth({ brokers: 'tradovate' }).json, 'Signals').length, 1);
  });

  it('alarms on RecordFailures (no dimensions, Sum over 5 minutes, ≥ 1)', () => {
    const [a, ...more] = byName(json, 'RecordFailures');
    assert.deepEqual(more, []);
    assert.equal(a.Namespace, METRIC_NAMESPACE);
    assert.equal(a.Dimensions, undefined);
    assert.deepEqual([a.Statistic, a.Period, a.Threshold, a.ComparisonOperator], ['Sum', 300, 1, 'GreaterThanOrEqualToThreshold']);
    assert.deepEqual(CUSTOM_METRICS.RecordFailures, []);
  });

  it('sums the Throttles of every function of the stack in one alarm', () => {
    for (const ctx of [{}, { brokers: 'oanda' }, { databento: 'true' }]) {
      const { json: j } = synth(ctx);
      const throttles = mathAlarms(j).filter((a) => expressionOf(a).Expression.includes('FILL(t'));
      assert.equal(throttles.length, 1);
      const [a] = throttles;
      const queried = a.Metrics.filter((m: any) => m.MetricStat).map((m: any) => m.MetricStat);
      for (const s of queried) {
        assert.equal(s.Metric.Namespace, 'AWS/Lambda');
        assert.equal(s.Metric.MetricName, 'Throttles');
        assert.equal(s.Stat, 'Sum');
        assert.equal(s.Period, 300);
      }
      const functions = resources(j, 'AWS::Lambda::Function').map(([id]) => id).sort();
      assert.deepEqual(queried.map((s: any) => s.Metric.Dimensions[0].Value.Ref).sort(), functions);
      assert.equal(expressionOf(a).Expression, queried.map((_: unknown, i: number) => `FILL(t${i}, 0)`).join(' + '));
      assert.deepEqual([a.Threshold, a.ComparisonOperator], [1, 'GreaterThanOrEqualToThreshold']);
    }
  });

  it('keeps the DLQ, age, function error, API 5xx, API p99 latency and token alarms', () => {
    // Each dead-letter queue's depth, and letters left there 3 days.
    assert.equal(byName(json, 'ApproximateNumberOfMessagesVisible').length, 4);
    assert.equal(mathAlarms(json).filter((a) => expressionOf(a).Expression === 'FILL(visible, REPEAT)').length, 4);
    assert.equal(byName(json, 'ApproximateAgeOfOldestMessage').length, 4);
    assert.equal(byName(json, 'Errors').length, resources(json, 'AWS::Lambda::Function').length);
    assert.equal(byName(json, 'WebhookServerErrors').length, 1);
    assert.equal(byName(json, '5XXError').length, 0, 'the stage 5xx counts degraded status routes');
    assert.equal(byName(json, 'Latency')[0].ExtendedStatistic, 'p99');
    assert.equal(byName(json, 'TokenRefreshFailures').length, 1);
    assert.equal(byName(json, 'TokenRefreshes').length, 1);
  });
});

describe('NAT and Aurora health (journal=aurora)', () => {
  const { json } = synth({ journal: 'aurora' });
  const [instanceId] = resources(json, 'AWS::EC2::Instance')[0];
  const ec2Action = (a: any) => a.AlarmActions.find((x: any) => x['Fn::Join'])?.['Fn::Join'][1].join('');

  it('recovers the NAT instance on a failed system status check, and mails', () => {
    const [a, ...more] = byName(json, 'StatusCheckFailed_System');
    assert.deepEqual(more, []);
    assert.equal(a.Namespace, 'AWS/EC2');
    assert.deepEqual(a.Dimensions, [{ Name: 'InstanceId', Value: { Ref: instanceId } }]);
    assert.deepEqual([a.Period, a.Statistic, a.EvaluationPeriods, a.Threshold], [60, 'Maximum', 2, 1]);
    assert.ok(String(ec2Action(a)).endsWith(':ec2:recover'), JSON.stringify(a.AlarmActions));
    assert.ok(a.AlarmActions.some((x: any) => x.Ref === topicId(json)));
  });

  it('reboots the NAT instance on a failed instance status check, and mails', () => {
    const [a, ...more] = byName(json, 'StatusCheckFailed_Instance');
    assert.deepEqual(more, []);
    assert.deepEqual(a.Dimensions, [{ Name: 'InstanceId', Value: { Ref: instanceId } }]);
    assert.deepEqual([a.Period, a.EvaluationPeriods, a.Threshold], [60, 3, 1]);
    assert.ok(String(ec2Action(a)).endsWith(':ec2:reboot'), JSON.stringify(a.AlarmActions));
    assert.ok(a.AlarmActions.some((x: any) => x.Ref === topicId(json)));
  });

  it('alarms when the journal cluster holds its maximum capacity for 15 minutes', () => {
    const [a, ...more] = byName(json, 'ServerlessDatabaseCapacity');
    assert.deepEqual(more, []);
    const [clusterId] = resources(json, 'AWS::RDS::DBCluster')[0];
    assert.equal(a.Namespace, 'AWS/RDS');
    assert.deepEqual(a.Dimensions, [{ Name: 'DBClusterIdentifier', Value: { Ref: clusterId } }]);
    assert.deepEqual([a.Statistic, a.Period, a.EvaluationPeriods], ['Minimum', 300, 3]);
    assert.equal(a.Threshold, AURORA_MAX_ACU);
    assert.equal(a.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
    const [, cluster] = resources(json, 'AWS::RDS::DBCluster')[0];
    assert.equal(cluster.Properties.ServerlessV2ScalingConfiguration.MaxCapacity, AURORA_MAX_ACU);
  });

  it('has no instance alarms with a NAT gateway, but keeps the Aurora one', () => {
    const { json: gw } = synth({ journal: 'aurora', nat: 'gateway' });
    assert.deepEqual(byName(gw, 'StatusCheckFailed_System'), []);
    assert.deepEqual(byName(gw, 'StatusCheckFailed_Instance'), []);
    assert.equal(byName(gw, 'ServerlessDatabaseCapacity').length, 1);
  });

  it('has none of them with journal=log', () => {
    const { json: log } = synth();
    for (const m of ['StatusCheckFailed_System', 'StatusCheckFailed_Instance', 'ServerlessDatabaseCapacity']) {
      assert.deepEqual(byName(log, m), [], m);
    }
  });
});

describe('the metric set', () => {
  it('is exactly what the dashboard and the alarms read', () => {
    assert.deepEqual(Object.keys(CUSTOM_METRICS).sort(), [
      'BrokerMs',
      'RecordFailures',
      'SignalToExecutorMs',
      'Signals',
      'StatusRequests',
      'TokenRefreshFailures',
      'TokenRefreshes',
      'WebhookServerErrors',
    ]);
    assert.deepEqual(CUSTOM_METRICS.Signals, ['Broker', 'Outcome']);
    assert.deepEqual(CUSTOM_METRICS.SignalToExecutorMs, ['Broker']);
    assert.deepEqual(CUSTOM_METRICS.BrokerMs, ['Broker']);
    const { json } = synth();
    const [, d] = resources(json, 'AWS::CloudWatch::Dashboard')[0];
    const body: string = d.Properties.DashboardBody['Fn::Join'][1].filter((x: unknown) => typeof x === 'string').join('');
    const used = new Set<string>();
    for (const m of body.matchAll(/"TvPipeline","(\w+)"/g)) used.add(m[1]);
    for (const m of body.matchAll(/\{TvPipeline,[\w,]+\} MetricName=\\"(\w+)\\"/g)) used.add(m[1]);
    for (const a of alarmsOf(json)) if (a.Namespace === METRIC_NAMESPACE) used.add(a.MetricName);
    // And the metrics a metric-math alarm queries (the refused ratio's `StatusRequests`).
    for (const a of mathAlarms(json)) {
      for (const m of a.Metrics) {
        if (m.MetricStat?.Metric.Namespace === METRIC_NAMESPACE) used.add(m.MetricStat.Metric.MetricName);
      }
    }
    assert.deepEqual([...used].sort(), Object.keys(CUSTOM_METRICS).sort());
    // Each SEARCH names the metric's exact dimension set.
    for (const m of body.matchAll(/\{TvPipeline,([\w,]+)\} MetricName=\\"(\w+)\\"/g)) {
      assert.deepEqual(m[1].split(','), CUSTOM_METRICS[m[2]], m[2]);
    }
    assert.ok(fn(json, 'ingest'));
  });
});
