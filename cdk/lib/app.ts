import { App, AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readConfig } from './config';
import { PipelineStack } from './pipeline-stack';

/**
 * Builds the app with the AwsSolutions checks attached, so `cdk synth`, `cdk deploy` and the
 * tests all fail on an unacknowledged finding.
 */
export function buildApp(props?: AppProps & { manifestPath?: string }): { app: App; stack: PipelineStack } {
  const app = new App(props);
  const get = (key: string) => app.node.tryGetContext(key);
  const config = readConfig(get);
  const stack = new PipelineStack(app, String(get('stackName') ?? 'TvPipeline'), {
    config,
    manifestPath: props?.manifestPath,
    description: 'tv-pipeline: TradingView alerts to broker orders',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
