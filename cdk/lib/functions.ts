/**
 * The Rust functions and their roles: each function has its own role, its own log group, and
 * only the statements its code needs, added here one scoped statement at a time.
 */
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';
import { bundlingOf } from './common';

export interface FnOptions {
  readonly binary: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly environment: Record<string, string>;
  readonly logRetention: logs.RetentionDays;
  readonly vpc?: ec2.IVpc;
  readonly securityGroups?: ec2.ISecurityGroup[];
  readonly retryAttempts?: number;
}

/**
 * The network interface actions Lambda documents for an execution role whose function runs
 * in a VPC (what `AWSLambdaVPCAccessExecutionRole` grants besides logs).
 */
export const VPC_ENI_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
];

/** Builds the stack's Rust functions and keeps them by binary name (for the alarms). */
export class RustFunctions {
  readonly byBinary: Record<string, lambda.Function> = {};

  constructor(private readonly manifestPath: string) {}

  create(scope: Construct, id: string, o: FnOptions): lambda.Function {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: o.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // An own role instead of AWSLambdaBasicExecutionRole: logs go only to this log group.
    // In the VPC, an inline policy with the ENI actions instead of
    // AWSLambdaVPCAccessExecutionRole, whose logs statement covers every log group.
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${o.binary}`,
      inlinePolicies:
        o.vpc === undefined
          ? undefined
          : {
              VpcNetworkInterfaces: new iam.PolicyDocument({
                statements: [new iam.PolicyStatement({ actions: VPC_ENI_ACTIONS, resources: ['*'] })],
              }),
            },
    });
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(scope).getLogicalId(logGroup.node.defaultChild as logs.CfnLogGroup)}.Arn>]`,
      reason: 'The log group ARN ends in :* to cover its log streams, whose names Lambda chooses.',
    });
    if (o.vpc !== undefined) {
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'These are the six network interface actions Lambda documents, on resource *, for an ' +
          'execution role in a VPC (AWSLambdaVPCAccessExecutionRole without its logs statement). ' +
          'DescribeNetworkInterfaces and DescribeSubnets support no resource-level permissions; the ' +
          'other four are kept as Lambda documents them, since Lambda uses them to manage the ' +
          'interfaces of the function. Logs stay scoped to the function log group.',
      });
    }
    const fn = new RustFunction(scope, id, {
      manifestPath: this.manifestPath,
      binaryName: o.binary,
      bundling: bundlingOf(o.binary),
      runtime: 'provided.al2023',
      architecture: lambda.Architecture.ARM_64,
      timeout: o.timeout,
      memorySize: o.memorySize,
      role,
      logGroup,
      environment: { RUST_LOG: 'info', ...o.environment },
      vpc: o.vpc,
      vpcSubnets: o.vpc ? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS } : undefined,
      securityGroups: o.securityGroups,
      retryAttempts: o.retryAttempts,
      description: `tv-pipeline ${o.binary}`,
    });
    this.byBinary[o.binary] = fn;
    return fn;
  }
}

/** Adds one scoped statement; `*` is never passed here (a test checks the template). */
export function allow(
  fn: lambda.Function,
  actions: string[],
  resources: string[],
  conditions?: Record<string, unknown>,
): void {
  fn.addToRolePolicy(new iam.PolicyStatement({ actions, resources, conditions }));
}

/** The ARN of the SSM parameter `name` (a name starting with `/`) in the stack's account. */
export function parameterArn(scope: Construct, name: string): string {
  return Stack.of(scope).formatArn({
    service: 'ssm',
    resource: 'parameter',
    resourceName: name.replace(/^\//, ''),
  });
}

export function allowParameters(fn: lambda.Function, mode: 'read' | 'write', names: string[]): void {
  const actions = mode === 'read' ? ['ssm:GetParameter'] : ['ssm:PutParameter'];
  allow(fn, actions, names.map((n) => parameterArn(fn, n)));
}
