import assert from 'node:assert/strict';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../lib/app';
import { PipelineStack } from '../lib/pipeline-stack';

/** What the CDK CLI would set from its credentials; only the NAT instance profile reads them. */
export const TEST_ACCOUNT = '123456789012';
export const TEST_REGION = 'us-east-1';
process.env.CDK_DEFAULT_ACCOUNT = TEST_ACCOUNT;
process.env.CDK_DEFAULT_REGION = TEST_REGION;

/** The SSM parameter behind `MachineImage.latestAmazonLinux2023` for arm64. */
export const AL2023_ARM64_PARAMETER = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-arm64';
/** The image id the tests pretend cdk.context.json holds for it. */
export const PINNED_AMI = 'ami-0123456789abcdef0';

/**
 * Context every test synth gets: no cargo build, all three brokers (the Coinbase one
 * confirmed live), the plain broker settings, and the values a first `cdk deploy` of the
 * NAT instance profile records in cdk.context.json.
 */
export const BASE_CONTEXT: Record<string, unknown> = {
  // Skips RustFunction bundling: no cargo lambda, no cross target, nothing compiled.
  'aws:cdk:bundling-stacks': [],
  brokers: 'oanda,tradovate,coinbase',
  coinbaseLive: 'true',
  oandaAccount: '101-001-1234567-001',
  coinbaseApiKeyName: 'organizations/org-id/apiKeys/key-id',
  alarmEmail: 'alarms@example.com',
  [`availability-zones:account=${TEST_ACCOUNT}:region=${TEST_REGION}`]: ['us-east-1a', 'us-east-1b', 'us-east-1c'],
  [`ssm:account=${TEST_ACCOUNT}:parameterName=${AL2023_ARM64_PARAMETER}:region=${TEST_REGION}`]: PINNED_AMI,
};

export interface Synth {
  stack: PipelineStack;
  template: Template;
  json: any;
}

const cache = new Map<string, Synth>();

/**
 * Synthesizes the whole app (running the cdk-nag AwsSolutions checks, which throw on any
 * unacknowledged finding) and returns the stack's template. Cached per context.
 */
export function synth(context: Record<string, unknown> = {}): Synth {
  const key = JSON.stringify(context);
  const hit = cache.get(key);
  if (hit) return hit;
  const { app, stack } = buildApp({ context: { ...BASE_CONTEXT, ...context } });
  const assembly = app.synth();
  // Every lookup is answered from the context above, as from cdk.context.json after a deploy.
  assert.deepEqual(assembly.manifest.missing ?? [], [], 'context lookups left unanswered');
  const template = Template.fromStack(stack);
  const out = { stack, template, json: template.toJSON() };
  cache.set(key, out);
  return out;
}

export function resources(json: any, type: string): [string, any][] {
  return Object.entries(json.Resources as Record<string, any>).filter(([, r]) => r.Type === type);
}

/** The Lambda function resource whose description names `binary`. */
export function fn(json: any, binary: string): [string, any] {
  const found = resources(json, 'AWS::Lambda::Function').filter(
    ([, r]) => r.Properties.Description === `tv-pipeline ${binary}`,
  );
  if (found.length !== 1) throw new Error(`expected one function ${binary}, found ${found.length}`);
  return found[0];
}

export function envOf(json: any, binary: string): Record<string, unknown> {
  return fn(json, binary)[1].Properties.Environment.Variables;
}

/** Every IAM statement of the execution role of `binary`. */
export function statementsOf(json: any, binary: string): any[] {
  const role = fn(json, binary)[1].Properties.Role['Fn::GetAtt'][0];
  return resources(json, 'AWS::IAM::Policy')
    .filter(([, p]) => p.Properties.Roles.some((r: any) => r.Ref === role))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
}

export function asList<T>(v: T | T[]): T[] {
  return Array.isArray(v) ? v : [v];
}

/** Flattens an ARN built with Fn::Join into text, with `${Ref}` placeholders. */
export function arnText(v: any): string {
  if (typeof v === 'string') return v;
  if (v['Fn::Join']) return v['Fn::Join'][1].map(arnText).join(v['Fn::Join'][0]);
  if (v.Ref) return `\${${v.Ref}}`;
  if (v['Fn::GetAtt']) return `\${${v['Fn::GetAtt'].join('.')}}`;
  return JSON.stringify(v);
}

export const EXECUTOR_BROKERS = ['oanda', 'tradovate', 'coinbase'] as const;

/** The logical ids of the `TvPipeline-<name>.fifo` queue and of the dead-letter queue it redrives to. */
export function queueIds(json: any, name: string): { queue: string; dlq: string } {
  const found = resources(json, 'AWS::SQS::Queue').filter(
    ([, q]) => q.Properties.QueueName === `TvPipeline-${name}.fifo`,
  );
  if (found.length !== 1) throw new Error(`expected one queue ${name}, found ${found.length}`);
  const [queue, q] = found[0];
  return { queue, dlq: q.Properties.RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0] };
}

/** The statements of `binary`'s role with any `sqs:` action. */
export function sqsStatementsOf(json: any, binary: string): any[] {
  return statementsOf(json, binary).filter((s) => asList(s.Action).some((a: string) => a.startsWith('sqs:')));
}

/** The consume actions the SQS event source mapping grants on the queue it reads. */
export const CONSUME_ACTIONS = [
  'sqs:ChangeMessageVisibility',
  'sqs:DeleteMessage',
  'sqs:GetQueueAttributes',
  'sqs:GetQueueUrl',
  'sqs:ReceiveMessage',
];

/** Every alarm's properties. */
export function alarmsOf(json: any): any[] {
  return resources(json, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
}

/**
 * The metrics an alarm is billed for: one for a standard alarm, one per metric queried for a
 * metric math alarm (CloudWatch pricing: 0.10 USD per alarm metric a month).
 */
export function alarmMetricCount(alarm: any): number {
  if (alarm.Metrics === undefined) return 1;
  return alarm.Metrics.filter((m: any) => m.MetricStat !== undefined).length;
}

/** The logical id of the SNS topic (there is one). */
export function topicId(json: any): string {
  const topics = resources(json, 'AWS::SNS::Topic');
  assert.equal(topics.length, 1);
  return topics[0][0];
}

/**
 * Checks one deployed executor's dead-letter wiring: `DEAD_LETTER_QUEUE_URL` is the URL (Ref)
 * of its own broker queue's FIFO dead-letter queue; exactly one statement allows
 * `sqs:SendMessage`, on that DLQ's ARN alone (no other DLQ, not the main queue); the only
 * other SQS statement is the event source mapping's consume grant on its own main queue.
 */
export function assertOwnDeadLetterQueue(json: any, broker: string): void {
  const binary = `executor-${broker}`;
  const { queue, dlq } = queueIds(json, broker);
  const dlqResource = json.Resources[dlq];
  assert.equal(dlqResource.Type, 'AWS::SQS::Queue', binary);
  assert.equal(dlqResource.Properties.QueueName, `TvPipeline-${broker}-dlq.fifo`, binary);
  assert.equal(dlqResource.Properties.FifoQueue, true, binary);
  // It consumes the queue whose DLQ this is.
  const mapping = resources(json, 'AWS::Lambda::EventSourceMapping').find(
    ([, m]) => m.Properties.FunctionName.Ref === fn(json, binary)[0],
  );
  assert.equal(mapping?.[1].Properties.EventSourceArn['Fn::GetAtt'][0], queue, `${binary} consumes ${broker}`);

  assert.deepEqual(envOf(json, binary).DEAD_LETTER_QUEUE_URL, { Ref: dlq }, `${binary} DEAD_LETTER_QUEUE_URL`);

  const statements = sqsStatementsOf(json, binary);
  const sends = statements.filter((s) => asList(s.Action).includes('sqs:SendMessage'));
  assert.equal(sends.length, 1, `${binary}: one SendMessage statement, got ${JSON.stringify(sends)}`);
  const [send] = sends;
  assert.equal(send.Effect, 'Allow', binary);
  assert.deepEqual(asList(send.Action), ['sqs:SendMessage'], binary);
  assert.deepEqual(asList(send.Resource), [{ 'Fn::GetAtt': [dlq, 'Arn'] }], binary);
  assert.equal(send.Condition, undefined, binary);
  // Neither its own main queue nor any other queue or dead-letter queue.
  const others = [
    queue,
    ...['signals', ...EXECUTOR_BROKERS.filter((b) => b !== broker)].flatMap((n) => Object.values(queueIds(json, n))),
  ];
  for (const other of others) {
    assert.ok(!JSON.stringify(send.Resource).includes(`"${other}"`), `${binary} must not send to ${other}`);
  }
  // Everything else is the mapping's consume grant on its own main queue, which never sends.
  const rest = statements.filter((s) => s !== send);
  assert.equal(rest.length, 1, `${binary}: ${JSON.stringify(rest)}`);
  assert.deepEqual(asList(rest[0].Action).sort(), CONSUME_ACTIONS, binary);
  assert.deepEqual(asList(rest[0].Resource), [{ 'Fn::GetAtt': [queue, 'Arn'] }], binary);
}
