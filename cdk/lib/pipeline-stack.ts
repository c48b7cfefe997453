import * as path from 'path';
import { CfnElement, CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { WebhookApi } from './api';
import { parameterNames, ParameterNames } from './common';
import { PipelineConfig } from './config';
import { Executors } from './executors';
import { RustFunctions } from './functions';
import { pathWithinStack, uniqueIdOf } from './ids';
import { JournalDatabase } from './journal';
import { Monitoring } from './monitoring';
import { Queues } from './queues';
import { Tables } from './tables';

export { ACCESS_LOG_FIELDS } from './api';
export {
  bundlingOf,
  CUSTOM_METRICS,
  DATABENTO_DATASET,
  MAX_RECEIVE_COUNT,
  METRIC_NAMESPACE,
  parameterNames,
  STAGE_METRICS,
  TRADINGVIEW_IPS,
  TRADOVATE_CREDENTIALS,
  VISIBILITY_FACTOR,
  VPC_CIDR,
} from './common';

export interface PipelineStackProps extends StackProps {
  readonly config: PipelineConfig;
  /** The workspace `Cargo.toml`; defaults to the repository root above `cdk/`. */
  readonly manifestPath?: string;
}

/**
 * The whole deployment, composed of one construct per concern. Each concern is a `Concern`,
 * whose id stays out of the logical ids of its resources (see ids.ts), so this grouping
 * renamed nothing in the template.
 */
export class PipelineStack extends Stack {
  readonly tables: Tables;
  readonly queues: Queues;
  readonly monitoring: Monitoring;
  readonly journal?: JournalDatabase;
  readonly executors: Executors;
  readonly webhook: WebhookApi;
  /** Every function of the stack, by binary name. */
  readonly functions: Record<string, lambda.Function>;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    const cfg = props.config;
    const params = parameterNames(cfg.paramPrefix);
    // Compiled to cdk/dist/lib/, so the workspace root is three levels up.
    const functions = new RustFunctions(
      props.manifestPath ?? path.resolve(__dirname, '..', '..', '..', 'Cargo.toml'),
    );

    this.monitoring = new Monitoring(this, 'Monitoring', { alarmEmail: cfg.alarmEmail });
    this.tables = new Tables(this, 'Tables', { frontMonths: cfg.databento });
    this.queues = new Queues(this, 'Queues', this.stackName);
    if (cfg.journal === 'aurora') {
      this.journal = new JournalDatabase(this, 'JournalDatabase', { config: cfg, stackName: this.stackName });
    }
    this.webhook = new WebhookApi(this, 'WebhookApi', {
      config: cfg,
      params,
      functions,
      signals: this.queues.queues.signals,
      health: this.tables.health,
      restApiName: `${this.stackName}-webhook`,
    });
    this.executors = new Executors(this, 'Executors', {
      config: cfg,
      params,
      functions,
      queues: this.queues,
      tables: this.tables,
      topic: this.monitoring.topic,
      vpc: this.journal?.vpc,
      executorSg: this.journal?.executorSg,
    });
    this.functions = functions.byBinary;
    this.monitoring.watch({
      config: cfg,
      queues: this.queues,
      functions: this.functions,
      api: this.webhook.api,
      journal: this.journal,
      dashboardName: `${this.stackName}-pipeline`,
    });

    new CfnOutput(this, 'NotificationTopicArn', { value: this.monitoring.topic.topicArn });
    new CfnOutput(this, 'SecureStringParameters', {
      description: 'SSM SecureString parameters the operator must set (aws ssm put-parameter)',
      value: requiredParameters(cfg, params).join(','),
    });
  }

  /** The logical id a resource had before the concerns grouped it (ids.ts). */
  protected allocateLogicalId(element: CfnElement): string {
    return uniqueIdOf(pathWithinStack(element));
  }
}

/**
 * The SecureString names this deployment reads and the operator must create. The kill switch
 * is not among them: the stack creates it (engaged), and the Tradovate token copy is written
 * by the functions.
 */
export function requiredParameters(cfg: PipelineConfig, params: ParameterNames): string[] {
  const out = [params.webhookSecret];
  if (cfg.brokers.includes('oanda')) out.push(params.oandaSecret);
  if (cfg.brokers.includes('tradovate')) out.push(...Object.values(params.tradovate));
  if (cfg.brokers.includes('coinbase')) out.push(params.coinbasePrivateKey);
  if (cfg.journal === 'aurora') out.push(params.journalUrl);
  if (cfg.databento) out.push(params.databentoApiKey);
  return out;
}
