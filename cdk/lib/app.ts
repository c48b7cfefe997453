import { App, AppProps, Environment, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { checkContextKeys, ConfigError, PipelineConfig, readConfig } from './config';
import { PipelineStack } from './pipeline-stack';

/**
 * The account and region the stack is bound to. Only the NAT instance needs one: its image is
 * looked up once and kept in cdk.context.json, which CDK does only for a stack with a known
 * account and region. The CDK CLI sets CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION from the
 * credentials it deploys with. Every other profile stays environment-agnostic, as before.
 */
export function environmentFor(config: PipelineConfig, given?: Environment): Environment | undefined {
  if (given !== undefined) return given;
  if (config.journal !== 'aurora' || config.nat !== 'instance') return undefined;
  const account = process.env.CDK_DEFAULT_ACCOUNT;
  const region = process.env.CDK_DEFAULT_REGION;
  if (!account || !region) {
    throw new ConfigError(
      'journal=aurora with nat=instance pins the NAT image in cdk.context.json, which needs the ' +
        'target account and region: run the CDK CLI with credentials and a region (it sets ' +
        'CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION), or choose -c nat=gateway',
    );
  }
  return { account, region };
}

/**
 * The stack's name (context `stackName`, default `TvPipeline`), refused at synth when a name
 * built from it would pass an AWS limit, which CloudFormation reports only partway through a
 * deploy: a letter then letters, digits and `-` (a stack name; no `--` nor a `-` at the end,
 * which Aurora's cluster identifier refuses), at most 61 characters
 * (`<stack>-tradovate-dlq.fifo`, SQS's 80) or, with `journal=aurora`, 55
 * (`<stack>-journal`, Aurora's 63-character cluster identifier).
 */
export function stackName(value: unknown, config: PipelineConfig): string {
  const name = String(value ?? 'TvPipeline');
  const most = config.journal === 'aurora' ? 55 : 61;
  // Aurora's cluster identifier (`<stack>-journal`) takes no `--`; a trailing `-` makes one.
  if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(name) || name.includes('--') || name.endsWith('-')) {
    throw new ConfigError(
      `context stackName ${JSON.stringify(name)}: a letter, then letters, digits and single -, not at the end`,
    );
  }
  if (name.length > most) {
    throw new ConfigError(
      `context stackName is ${name.length} characters, more than ${most}: the names built from it ` +
        `(queues ${name}-tradovate-dlq.fifo, at most 80${config.journal === 'aurora' ? '; the journal cluster, at most 63' : ''}) would be refused partway through a deploy`,
    );
  }
  return name;
}

/**
 * Builds the app with the AwsSolutions checks attached, so `cdk synth`, `cdk deploy` and the
 * tests all fail on an unacknowledged finding.
 */
export function buildApp(
  props?: AppProps & { manifestPath?: string; env?: Environment },
): { app: App; stack: PipelineStack } {
  const app = new App(props);
  const get = (key: string) => app.node.tryGetContext(key);
  checkContextKeys(Object.keys(app.node.getAllContext()));
  const config = readConfig(get);
  const stack = new PipelineStack(app, stackName(get('stackName'), config), {
    config,
    manifestPath: props?.manifestPath,
    env: environmentFor(config, props?.env),
    description: 'tv-pipeline: TradingView alerts to broker orders',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
