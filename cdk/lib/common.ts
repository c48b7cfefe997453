/**
 * Names, limits and small helpers shared by the constructs of the stack.
 */
import { Duration } from 'aws-cdk-lib';

/** TradingView's documented webhook source addresses (also in ingest/src/config.rs). */
export const TRADINGVIEW_IPS = ['52.89.214.238', '34.212.75.30', '54.218.53.128', '52.32.178.7'];

/** EMF namespace of executor-runtime/src/metrics.rs, fifo-batch and token-refresher. */
export const METRIC_NAMESPACE = 'TvPipeline';

/**
 * Stage latencies the executors emit, in pipeline order, with the dimension `Broker` only
 * (no `Outcome`, so each broker is one metric per stage).
 */
export const STAGE_METRICS = ['SignalToExecutorMs', 'BrokerMs'] as const;

/**
 * Every custom metric the functions emit (EMF), with its dimension names. This is the whole
 * set the dashboard and the alarms read, and the set the README's cost table counts.
 */
export const CUSTOM_METRICS: Readonly<Record<string, readonly string[]>> = {
  Signals: ['Broker', 'Outcome'],
  SignalToExecutorMs: ['Broker'],
  BrokerMs: ['Broker'],
  RecordFailures: [],
  TokenRefreshes: ['Broker'],
  TokenRefreshFailures: ['Broker'],
  WebhookServerErrors: [],
  StatusRequests: [],
};

/** The credentials the Tradovate executor and the refresher read as `TRADOVATE_<X>_PARAM`. */
export const TRADOVATE_CREDENTIALS = ['USERNAME', 'PASSWORD', 'APP_ID', 'DEVICE_ID', 'CID', 'SEC'] as const;

/** Databento's CME Globex dataset, where `ROOT.v.0` names the root's highest-volume contract. */
export const DATABENTO_DATASET = 'GLBX.MDP3';

/** Timeouts. Each queue's visibility timeout is 6× its consumer's, as SQS + Lambda advise. */
export const TIMEOUT = {
  ingest: Duration.seconds(10),
  router: Duration.seconds(30),
  executor: Duration.seconds(60),
  refresher: Duration.seconds(60),
  frontMonths: Duration.seconds(60),
};
export const VISIBILITY_FACTOR = 6;
/** A literal range, so security group rules referring to it are checkable at synth. */
export const VPC_CIDR = '10.20.0.0/16';
/**
 * Receives before the redrive to the dead-letter queue. The executors' lease must outlast the
 * quick retries between them (executor-lambda `QUICK_RETRIES`, 1 + 2 + 4 + 8 s for 5
 * receives, checked against `LEASE_SECS` at start): raising this lengthens them.
 */
export const MAX_RECEIVE_COUNT = 5;
/** The journal cluster's Serverless v2 ceiling, in ACU (its capacity alarm fires there). */
export const AURORA_MAX_ACU = 2;
/** The value the stack gives the kill switch parameter: engaged. */
export const KILL_SWITCH_ENGAGED = 'on';

/**
 * How each function's binary is built: `cargo lambda build --profile lambda --package <name>
 * --bin <name>`. The package flag makes cargo resolve that package's features alone; without
 * it the whole workspace's features unify and the executors link SQLite (the local stack's
 * journal). The `lambda` profile (root Cargo.toml) is the release profile at opt-level "s".
 */
export function bundlingOf(binary: string): { profile: string; cargoLambdaFlags: string[] } {
  return { profile: 'lambda', cargoLambdaFlags: ['--package', binary] };
}

/** Every SSM parameter name the stack uses, derived from the prefix. */
export function parameterNames(prefix: string) {
  const tradovate: Record<string, string> = {};
  for (const c of TRADOVATE_CREDENTIALS) {
    tradovate[c] = `${prefix}/tradovate/${c.toLowerCase().replace('_', '-')}`;
  }
  return {
    webhookSecret: `${prefix}/webhook-secret`,
    oandaSecret: `${prefix}/oanda/secret`,
    coinbasePrivateKey: `${prefix}/coinbase/private-key`,
    tradovate,
    /**
     * The Tradovate token copy the executor and the refresher write: aws-adapters tokens.rs
     * builds `{TRADOVATE_PARAM_PREFIX}/tradovate/token`, and the stack sets that prefix to
     * `paramPrefix`, so two stacks with different prefixes never share it.
     */
    tradovateToken: `${prefix}/tradovate/token`,
    journalUrl: `${prefix}/journal-url`,
    /** Created by the stack (String, value `on`), not by the operator. */
    killSwitch: `${prefix}/kill-switch`,
    databentoApiKey: `${prefix}/databento/api-key`,
  };
}
export type ParameterNames = ReturnType<typeof parameterNames>;

/** `signals` → `Signals`, `front-month-refresher` → `FrontMonthRefresher`. */
export function cap(s: string): string {
  return s
    .split(/[-_]/)
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');
}
