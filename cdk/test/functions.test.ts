import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { allowParameters, RustFunctions, VPC_ENI_ACTIONS } from '../lib/functions';
import { resources } from './helpers';

const build = (inVpc: boolean) => {
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'FunctionsOnly');
  const functions = new RustFunctions(path.resolve(__dirname, '..', '..', '..', 'Cargo.toml'));
  const vpc = inVpc ? new ec2.Vpc(stack, 'Vpc', { natGateways: 1, maxAzs: 1 }) : undefined;
  const fn = functions.create(stack, 'Thing', {
    binary: 'router',
    timeout: Duration.seconds(5),
    memorySize: 128,
    environment: { SETTING: 'b' },
    logRetention: logs.RetentionDays.ONE_WEEK,
    vpc,
  });
  allowParameters(fn, 'read', ['/p/one']);
  return { functions, json: Template.fromStack(stack).toJSON() };
};

describe('RustFunctions', () => {
  it('gives each function its own role and log group, logs only to that group', () => {
    const { functions, json } = build(false);
    assert.deepEqual(Object.keys(functions.byBinary), ['router']);
    const [, f] = resources(json, 'AWS::Lambda::Function')[0];
    assert.equal(f.Properties.Description, 'tv-pipeline router');
    assert.deepEqual(f.Properties.Environment.Variables, { RUST_LOG: 'info', SETTING: 'b' });
    const [logGroup] = resources(json, 'AWS::Logs::LogGroup')[0];
    const statements = resources(json, 'AWS::IAM::Policy').flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    const logs = statements.find((s: any) => String(s.Action).includes('logs:'));
    assert.deepEqual(logs.Resource, { 'Fn::GetAtt': [logGroup, 'Arn'] });
    const [, role] = resources(json, 'AWS::IAM::Role')[0];
    assert.equal(role.Properties.ManagedPolicyArns, undefined);
    assert.equal(role.Properties.Policies, undefined);
  });

  it('in a VPC, adds only the six documented ENI actions inline, no AWS managed policy', () => {
    const { json } = build(true);
    const roles = resources(json, 'AWS::IAM::Role').filter(([id]) => id.startsWith('ThingRole'));
    assert.equal(roles.length, 1);
    const [, role] = roles[0];
    assert.equal(role.Properties.ManagedPolicyArns, undefined);
    assert.deepEqual(role.Properties.Policies, [
      { PolicyName: 'VpcNetworkInterfaces', PolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: VPC_ENI_ACTIONS, Resource: '*' }] } },
    ]);
    assert.deepEqual(VPC_ENI_ACTIONS, [
      'ec2:CreateNetworkInterface',
      'ec2:DescribeNetworkInterfaces',
      'ec2:DescribeSubnets',
      'ec2:DeleteNetworkInterface',
      'ec2:AssignPrivateIpAddresses',
      'ec2:UnassignPrivateIpAddresses',
    ]);
    // The role (with its inline policy) exists before the function that needs it.
    const [, f] = resources(json, 'AWS::Lambda::Function')[0];
    assert.ok(f.Properties.VpcConfig);
    assert.deepEqual(f.Properties.Role, { 'Fn::GetAtt': [roles[0][0], 'Arn'] });
  });

  it('grants parameters by exact name', () => {
    const { json } = build(false);
    const statements = resources(json, 'AWS::IAM::Policy').flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    const read = statements.find((s: any) => s.Action === 'ssm:GetParameter');
    assert.ok(JSON.stringify(read.Resource).includes(':parameter/p/one"'), JSON.stringify(read.Resource));
  });
});
