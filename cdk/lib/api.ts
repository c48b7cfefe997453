/**
 * The webhook: a regional REST API whose routes all go to `ingest`, with stage throttling, an
 * optional TradingView-only resource policy, and access logs that never record the path.
 */
import { CfnOutput, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ParameterNames, TIMEOUT, TRADINGVIEW_IPS } from './common';
import { PipelineConfig } from './config';
import { allow, allowParameters, RustFunctions } from './functions';
import { Concern } from './ids';

/**
 * Access log fields. `$context.resourcePath` is the route template (`/webhook/{secret}`), so
 * the secret in the path is never written; `$context.path` would write it, and so would
 * `$context.error.message` (or `messageString`): the resource policy's refusal of an address
 * outside the allowlist reads "User: anonymous is not authorized to perform:
 * execute-api:Invoke on resource: arn:aws:execute-api:…/prod/POST/webhook/<the secret>", the
 * request's own path. The error's `responseType` (`ACCESS_DENIED`, `THROTTLED`, …: the gateway
 * response's type, "Variables for access logging for API Gateway") says what went wrong
 * without it.
 */
export const ACCESS_LOG_FIELDS: Record<string, string> = {
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  requestTime: '$context.requestTime',
  httpMethod: '$context.httpMethod',
  resourcePath: '$context.resourcePath',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  integrationStatus: '$context.integrationStatus',
  errorType: '$context.error.responseType',
};

export const STAGE_NAME = 'prod';
/**
 * What API Gateway answers when it refuses a request itself, before ingest, where its default
 * says more than ingest would: the resource policy's refusal of an address outside the
 * allowlist names the API's ARN and tells a scanner that an allowlist exists, so it gets
 * ingest's 401 body, the same whatever failed. The other defaults stay: their `{"message"}`
 * bodies say what happened (`tvctl send` reads them), and a 5xx must keep saying the alert
 * may have been queued (a timeout can come after ingest queued it).
 */
export const GATEWAY_RESPONSES: { type: apigw.ResponseType; statusCode?: string; code: string; message: string }[] = [
  { type: apigw.ResponseType.ACCESS_DENIED, statusCode: '401', code: 'unauthorized', message: 'unauthorized' },
];

export const STATUS_ROUTES = ['healthcheck', 'oandastatus', 'tradovatestatus', 'coinbasestatus'] as const;

/**
 * Each status route's own limit (requests per second, burst). The stage's limits apply to
 * every method on its own ("Per-API, per-stage throttling limits are applied at the API method
 * level for a stage", API Gateway developer guide, "Throttle requests to your REST APIs"), so
 * without these each of the four public GET routes would admit `throttleRate` too, four
 * webhooks' worth of ingest invocations (README "The cost ceiling"). An uptime check needs one
 * request a minute.
 */
export const STATUS_THROTTLE = { rate: 1, burst: 5 } as const;

export interface WebhookApiProps {
  readonly config: PipelineConfig;
  readonly params: ParameterNames;
  readonly functions: RustFunctions;
  readonly signals: sqs.IQueue;
  readonly health: dynamodb.ITable;
  readonly restApiName: string;
}

export class WebhookApi extends Concern {
  readonly ingest: lambda.Function;
  readonly api: apigw.RestApi;

  constructor(scope: Construct, id: string, props: WebhookApiProps) {
    super(scope, id);
    const { config: cfg, params } = props;

    this.ingest = props.functions.create(this, 'Ingest', {
      binary: 'ingest',
      timeout: TIMEOUT.ingest,
      memorySize: 256,
      logRetention: logs.RetentionDays.THREE_MONTHS,
      environment: {
        SIGNALS_QUEUE_URL: props.signals.queueUrl,
        WEBHOOK_SECRET_PARAM: params.webhookSecret,
        // The Lambda checks the address too, in case the API's resource policy is edited away.
        IP_ALLOWLIST: cfg.ipAllowlist ? 'tradingview' : 'off',
        HEALTH_TABLE: props.health.tableName,
        // An alert for a broker not deployed has no executor to take it from its queue:
        // refused (422) rather than answered 200 and kept until the queue's retention ends.
        DEPLOYED_BROKERS: cfg.brokers.join(','),
      },
    });
    allow(this.ingest, ['sqs:SendMessage'], [props.signals.queueArn]);
    allowParameters(this.ingest, 'read', [params.webhookSecret]);
    allow(this.ingest, ['dynamodb:GetItem'], [props.health.tableArn]);

    this.api = this.restApi(cfg, props.restApiName);
    new CfnOutput(this, 'WebhookUrl', {
      description: 'POST TradingView alerts here; append /<secret> or put the secret in "passphrase"',
      value: this.api.urlForPath('/webhook'),
    });
  }

  private restApi(cfg: PipelineConfig, restApiName: string): apigw.RestApi {
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    let policy: iam.PolicyDocument | undefined;
    if (cfg.ipAllowlist) {
      // Everything is invocable, then the webhook routes are denied to anyone but
      // TradingView; health and status stay reachable for the operator.
      const webhook = [`execute-api:/${STAGE_NAME}/POST/webhook`, `execute-api:/${STAGE_NAME}/POST/webhook/*`];
      policy = new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            effect: iam.Effect.ALLOW,
            principals: [new iam.AnyPrincipal()],
            actions: ['execute-api:Invoke'],
            resources: [...webhook, ...STATUS_ROUTES.map((r) => `execute-api:/${STAGE_NAME}/GET/${r}`)],
          }),
          new iam.PolicyStatement({
            effect: iam.Effect.DENY,
            principals: [new iam.AnyPrincipal()],
            actions: ['execute-api:Invoke'],
            resources: webhook,
            conditions: { NotIpAddress: { 'aws:SourceIp': TRADINGVIEW_IPS } },
          }),
        ],
      });
    }

    const api = new apigw.RestApi(this, 'Api', {
      restApiName,
      description: 'TradingView webhook and status endpoints',
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      policy,
      // Access logs need the account-level CloudWatch role; it is account-wide, so keep it.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName: STAGE_NAME,
        // Sized for bursts at bar close (README "Throttling"): TradingView never resends a 429.
        throttlingRateLimit: cfg.throttleRate,
        throttlingBurstLimit: cfg.throttleBurst,
        // Execution logs can print the request path, which may carry the secret: off. The
        // access log below records the route template ($context.resourcePath) instead.
        loggingLevel: apigw.MethodLoggingLevel.OFF,
        dataTraceEnabled: false,
        metricsEnabled: false,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
        methodOptions: Object.fromEntries(
          STATUS_ROUTES.map((r) => [
            `/${r}/GET`,
            {
              throttlingRateLimit: STATUS_THROTTLE.rate,
              throttlingBurstLimit: STATUS_THROTTLE.burst,
              loggingLevel: apigw.MethodLoggingLevel.OFF,
              dataTraceEnabled: false,
              metricsEnabled: false,
            },
          ]),
        ),
      },
    });
    // API Gateway's own refusals that must not say more than ingest would (see
    // GATEWAY_RESPONSES).
    for (const r of GATEWAY_RESPONSES) {
      api.addGatewayResponse(`Gateway${r.type.responseType}`, {
        type: r.type,
        statusCode: r.statusCode,
        templates: { 'application/json': JSON.stringify({ error: { code: r.code, message: r.message } }) },
      });
    }
    const integration = new apigw.LambdaIntegration(this.ingest, { proxy: true, allowTestInvoke: false });
    const validator = new apigw.RequestValidator(this, 'PathValidator', {
      restApi: api,
      validateRequestParameters: true,
      validateRequestBody: false,
    });
    const webhook = api.root.addResource('webhook');
    webhook.addMethod('POST', integration);
    webhook.addResource('{secret}').addMethod('POST', integration, {
      requestParameters: { 'method.request.path.secret': true },
      requestValidator: validator,
    });
    for (const route of STATUS_ROUTES) {
      api.root.addResource(route).addMethod('GET', integration);
    }

    const stage = api.deploymentStage;
    Validations.of(stage).acknowledge({
      id: 'AwsSolutions-APIG6',
      reason: 'Execution logs are off because they can record the path secret; access logs with the route template are on.',
    });
    Validations.of(stage).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason: 'WAF costs at least 5 USD/month; the stage is throttled, the webhook optionally IP-restricted, and ingest checks size and secret before any work.',
    });
    Validations.of(api).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason: 'TradingView cannot send authorization headers; ingest authenticates the shared secret (path or passphrase) in constant time.',
    });
    Validations.of(api).acknowledge({
      id: 'AwsSolutions-APIG2',
      reason:
        'TradingView posts JSON as text/plain, which API Gateway body models do not cover; ingest ' +
        'validates size, JSON and every field with stable error codes, and checks the path secret in constant time.',
    });
    Validations.of(api).acknowledge({
      id: 'AwsSolutions-COG4',
      reason: 'TradingView cannot use Cognito; ingest authenticates the shared secret.',
    });
    const cwRole = api.node.tryFindChild('CloudWatchRole');
    if (cwRole !== undefined) {
      Validations.of(cwRole).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason: 'The AWS managed policy is what API Gateway documents for its account-level logging role.',
      });
    }
    return api;
  }
}
