import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { ACCESS_LOG_FIELDS, GATEWAY_RESPONSES, STAGE_NAME, STATUS_ROUTES, STATUS_THROTTLE, WebhookApi } from '../lib/api';
import { parameterNames } from '../lib/common';
import { readConfig } from '../lib/config';
import { RustFunctions } from '../lib/functions';
import { BASE_CONTEXT, fn, resources, synth } from './helpers';

const stageOf = (json: any) => resources(json, 'AWS::ApiGateway::Stage')[0][1].Properties;

describe('WebhookApi on its own', () => {
  // The construct needs only a queue, a table and the settings: build it in an empty stack.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'ApiOnly');
  const config = readConfig((k) => ({ ...BASE_CONTEXT, throttleRate: '75', throttleBurst: '750' })[k]);
  const webhook = new WebhookApi(stack, 'Webhook', {
    config,
    params: parameterNames('/t'),
    functions: new RustFunctions(path.resolve(__dirname, '..', '..', '..', 'Cargo.toml')),
    signals: new sqs.Queue(stack, 'Signals', { fifo: true }),
    health: new dynamodb.Table(stack, 'Health', { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING } }),
    restApiName: 'only-webhook',
  });
  const json = Template.fromStack(stack).toJSON();

  it('creates ingest and the REST API with the six routes, all to ingest', () => {
    assert.equal(resources(json, 'AWS::Lambda::Function').length, 1);
    assert.equal(webhook.ingest.node.id, 'Ingest');
    const paths = resources(json, 'AWS::ApiGateway::Resource').map(([, r]) => r.Properties.PathPart).sort();
    assert.deepEqual(paths, [...STATUS_ROUTES, 'webhook', '{secret}'].sort());
  });

  it("answers an address the resource policy refuses with ingest's 401 body; other gateway answers keep their defaults", () => {
    const responses = resources(json, 'AWS::ApiGateway::GatewayResponse').map(([, r]) => r.Properties);
    assert.equal(responses.length, GATEWAY_RESPONSES.length);
    const denied = responses.find((p) => p.ResponseType === 'ACCESS_DENIED');
    assert.equal(denied.StatusCode, '401');
    assert.deepEqual(JSON.parse(denied.ResponseTemplates['application/json']), {
      error: { code: 'unauthorized', message: 'unauthorized' },
    });
    // A 5xx keeps API Gateway's body, which tvctl reads as "may have been queued".
    assert.ok(!responses.some((p) => String(p.ResponseType).includes('5XX')));
  });

  it('throttles the stage with the configured rate and burst', () => {
    const stage = stageOf(json);
    assert.equal(stage.StageName, STAGE_NAME);
    const all = stage.MethodSettings.find((m: any) => m.ResourcePath === '/*');
    assert.equal(all.ThrottlingRateLimit, 75);
    assert.equal(all.ThrottlingBurstLimit, 750);
  });

  it('holds each public status route to its own small limit, not the webhook\'s', () => {
    // The stage's limits apply to each method on its own: unlisted, each GET route would
    // admit 75 req/s of ingest invocations as the webhook does.
    const settings = stageOf(json).MethodSettings.filter((m: any) => m.ResourcePath !== '/*');
    assert.deepEqual(
      settings
        .map((m: any) => [m.ResourcePath, m.HttpMethod, m.ThrottlingRateLimit, m.ThrottlingBurstLimit, m.LoggingLevel, m.DataTraceEnabled])
        .sort(),
      STATUS_ROUTES.map((r) => [`/~1${r}`, 'GET', STATUS_THROTTLE.rate, STATUS_THROTTLE.burst, 'OFF', false]).sort(),
    );
  });

  it('logs access with the route template only', () => {
    assert.deepEqual(JSON.parse(stageOf(json).AccessLogSetting.Format), ACCESS_LOG_FIELDS);
  });

  it('outputs the webhook URL', () => {
    // Outside PipelineStack the concern's id is part of the logical ids (ids.ts).
    assert.deepEqual(Object.keys(json.Outputs).filter((k) => k.includes('WebhookUrl')).length, 1);
  });
});

describe('ingest knows the deployed brokers', () => {
  it('is told them, so it refuses an alert no executor would take', () => {
    const env = (brokers: string) => {
      const { json } = synth({ brokers });
      return fn(json, 'ingest')[1].Properties.Environment.Variables.DEPLOYED_BROKERS;
    };
    assert.equal(env('oanda'), 'oanda');
    assert.equal(env('oanda,coinbase'), 'oanda,coinbase');
  });
});

describe('webhook throttling in the app', () => {
  it('admits bursts at bar close by default: 50 req/s, burst 500', () => {
    const { json } = synth();
    const settings = stageOf(json).MethodSettings.find((m: any) => m.ResourcePath === '/*');
    assert.deepEqual([settings.ThrottlingRateLimit, settings.ThrottlingBurstLimit], [50, 500]);
  });

  it('takes throttleRate and throttleBurst', () => {
    const { json } = synth({ throttleRate: '20', throttleBurst: '100' });
    const settings = stageOf(json).MethodSettings.find((m: any) => m.ResourcePath === '/*');
    assert.deepEqual([settings.ThrottlingRateLimit, settings.ThrottlingBurstLimit], [20, 100]);
  });

  it('outputs WebhookUrl at the stage root', () => {
    const { json } = synth();
    const [stageId] = resources(json, 'AWS::ApiGateway::Stage')[0];
    const parts = json.Outputs.WebhookUrl.Value['Fn::Join'][1];
    assert.deepEqual(parts.slice(-3), ['/', { Ref: stageId }, '/webhook']);
    assert.equal(stageOf(json).StageName, STAGE_NAME);
  });
});
