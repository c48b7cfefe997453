import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../lib/app';
import { PipelineStack } from '../lib/pipeline-stack';

/** Context every test synth gets: no cargo build, and the plain broker settings. */
export const BASE_CONTEXT: Record<string, unknown> = {
  // Skips RustFunction bundling: no cargo lambda, no cross target, nothing compiled.
  'aws:cdk:bundling-stacks': [],
  oandaAccount: '101-001-1234567-001',
  coinbaseApiKeyName: 'organizations/org-id/apiKeys/key-id',
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
  app.synth();
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
