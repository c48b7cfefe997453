/**
 * The deployment's choices, read from CDK context (`-c key=value`) once and checked, so the
 * stack never sees a half-valid setting.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';

export type Broker = 'oanda' | 'tradovate' | 'coinbase';
export const ALL_BROKERS: readonly Broker[] = ['oanda', 'tradovate', 'coinbase'];

export type JournalMode = 'log' | 'aurora';
export type NatMode = 'instance' | 'gateway';

export interface PipelineConfig {
  /** Brokers whose executor is deployed (chosen explicitly). Every broker queue exists either way. */
  readonly brokers: readonly Broker[];
  /** The operator's opt-in to a Coinbase executor against the production API (real money). */
  readonly coinbaseLive: boolean;
  /** Admit the webhook routes only from TradingView's documented addresses. */
  readonly ipAllowlist: boolean;
  readonly alarmEmail?: string;
  readonly journal: JournalMode;
  /** How executors in the VPC reach the brokers (journal=aurora only). */
  readonly nat: NatMode;
  /** Aurora pauses after this long without connections; 0 keeps it at 0.5 ACU instead. */
  readonly auroraAutoPauseMinutes: number;
  /** SSM prefix of every parameter of the stack (set by the operator or the stack), e.g. `/tv-pipeline`. */
  readonly paramPrefix: string;
  /** Stage throttling: steady requests per second, and the burst admitted at once. */
  readonly throttleRate: number;
  readonly throttleBurst: number;
  /** Hours without a filled signal before a broker's heartbeat alarm fires; 0 = no alarm. */
  readonly heartbeatHours: number;
  /** Concurrent executor invocations per broker (the event source's maximum concurrency). */
  readonly executorConcurrency: number;
  /** `NOTIFY_MIN_INTERVAL_SECS` of the executors (their own default: 900) when set. */
  readonly notifyMinIntervalSecs?: number;
  /** `NOTIFY_FILLS` of the executors: mail every signal filled in full too (default false). */
  readonly notifyFills: boolean;
  /** Plain (non-secret) broker settings, passed as environment variables. */
  readonly oandaAccount?: string;
  readonly oandaBaseUrl?: string;
  readonly tradovateAccount?: string;
  readonly tradovateBaseUrl?: string;
  readonly coinbaseApiKeyName?: string;
  readonly coinbaseBaseUrl?: string;
  /** `RISK_CONFIG` (inline TOML: sizes and maximum positions) per executor. */
  readonly riskConfig: Partial<Record<Broker, string>>;
  /** Databento front months: a scheduled function caches the leading contract per root. */
  readonly databento: boolean;
  /** Futures roots whose front month is looked up (`ROOT.v.0` on GLBX.MDP3). */
  readonly databentoRoots: readonly string[];
  /** Minutes between two runs of the front-month refresher. */
  readonly databentoScheduleMinutes: number;
}

/**
 * The futures roots of a routing table's text (its `[futures.ROOT]` sections, in order): what
 * the front-month refresher looks up by default, as the local stack does for the table it
 * routes by.
 */
export function routingTableRoots(table: string): string[] {
  // TOML's table header: spaces around the dots and inside the brackets, a basic or literal
  // quoted key, a trailing comment; the Rust loader upper-cases a root. A root written as a
  // dotted key or an inline table under `[futures]` is not read here: give it as
  // `[futures.ROOT]`, as the shipped table does, or list the roots in `databentoRoots`.
  const header =
    /^\s*\[\s*futures\s*\.\s*(?:"([A-Za-z][A-Za-z0-9]*)"|'([A-Za-z][A-Za-z0-9]*)'|([A-Za-z][A-Za-z0-9]*))\s*\]\s*(?:#.*)?$/gm;
  return [...table.matchAll(header)].map((m) => (m[1] ?? m[2] ?? m[3]).toUpperCase());
}

/**
 * The roots looked up when `databentoRoots` is not given: those of `shared/routing.toml`,
 * the table every binary embeds (compiled to cdk/dist/lib/, the workspace root is three
 * levels up). A root added there before `cdk deploy` is looked up too; a fixed list here
 * left it on the roll rule in AWS while the local stack used its front month.
 */
export const DEFAULT_DATABENTO_ROOTS: readonly string[] = routingTableRoots(
  fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'shared', 'routing.toml'), 'utf8'),
);

/** Defaults sized for bursts at bar close (README "Throttling"). */
export const DEFAULT_THROTTLE_RATE = 50;
export const DEFAULT_THROTTLE_BURST = 500;
export const DEFAULT_HEARTBEAT_HOURS = 72;
/** CloudWatch allows Period × EvaluationPeriods ≤ 7 days for periods of an hour or more. */
export const MAX_HEARTBEAT_HOURS = 168;

/** Coinbase's production API, and executor-coinbase's default `COINBASE_BASE_URL` (client.rs). */
const COINBASE_PRODUCTION_HOST = 'api.coinbase.com';

/** Whether a URL reaches Coinbase's production API, whatever its port or a trailing dot. */
function isCoinbaseProduction(url: string): boolean {
  try {
    return new URL(url).hostname.toLowerCase().replace(/\.$/, '') === COINBASE_PRODUCTION_HOST;
  } catch {
    return false;
  }
}
const COINBASE_DEFAULT_URL = 'https://api.coinbase.com/api/v3/brokerage';

export class ConfigError extends Error {}

type Lookup = (key: string) => unknown;

function text(get: Lookup, key: string): string | undefined {
  const v = get(key);
  if (v === undefined || v === null) return undefined;
  const s = String(v).trim();
  return s === '' ? undefined : s;
}

/**
 * The most bytes of risk TOML an executor's `RISK_CONFIG` may hold. Lambda allows 4 KB of
 * environment variables per function in all
 * (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html); the executor's
 * other variables (table names, topic ARN, queue URL, parameter names) take up to about 1.5
 * KB. A longer TOML would fail the deploy itself, after the synth had passed.
 */
export const RISK_CONFIG_MAX_BYTES = 2048;

/** A risk TOML from the context, within [RISK_CONFIG_MAX_BYTES]. */
function riskText(get: Lookup, key: string): string | undefined {
  // Given blank (`-c oandaRiskConfig="$RISK"` with the variable unset) is refused: left out,
  // the executor trades its defaults, the trader's sizes, caps and windows gone.
  const s = given(get, key);
  const bytes = s === undefined ? 0 : Buffer.byteLength(s, 'utf8');
  if (bytes > RISK_CONFIG_MAX_BYTES) {
    throw new ConfigError(
      `context ${key} is ${bytes} bytes; it becomes the executor's RISK_CONFIG variable, and ` +
        `Lambda allows 4 KB of environment variables per function, so keep it within ` +
        `${RISK_CONFIG_MAX_BYTES} bytes (drop comments and blank lines, or size by class ` +
        `rather than per instrument)`,
    );
  }
  return s;
}

// A value given where it does not belong is named in the error only when it is a short plain
// word (at most 12 characters: an API key, a UUID or a database URL is longer): a database URL
// given as `journal` (the README builds one right after `journal=aurora`), or an API key given
// as `databento`, would print its secret to the terminal or the CI log.
function shown(v: string): string {
  return /^[A-Za-z0-9_., -]{1,12}$/.test(v) ? v : '(the value given, not shown: it may hold a credential)';
}

// A URL as the errors show it: scheme and host, no user name, password, path or query.
function shownUrl(v: string): string {
  try {
    const u = new URL(v);
    return `${u.protocol}//${u.host}${u.pathname.length > 1 || u.search ? '/…' : ''}`;
  } catch {
    return '(the value given, not shown: it does not parse as a URL)';
  }
}

// A choice or a number given blank is refused (`given`): `-c notifyFills=$VAR` with the
// variable unset would otherwise deploy the default without a word.
function oneOf<T extends string>(get: Lookup, key: string, allowed: readonly T[], fallback: T): T {
  const v = given(get, key) ?? fallback;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(`context ${key}=${shown(v)}: expected one of ${allowed.join(', ')}`);
  }
  return v as T;
}

function int(get: Lookup, key: string, fallback: number, min: number, max: number): number {
  const v = given(get, key);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`context ${key}=${shown(v)}: expected an integer from ${min} to ${max}`);
  }
  return n;
}

/**
 * As `text`, but a key given blank (`-c tradovateBaseUrl=` with a shell variable unset) is
 * refused, naming it: for a setting whose absence picks something of its own (a demo or
 * practice server, the login's only account), a value lost in the command must not.
 */
function given(get: Lookup, key: string): string | undefined {
  const v = get(key);
  if (v !== undefined && v !== null && String(v).trim() === '') {
    throw new ConfigError(
      `context ${key} is given but empty: leave it out for its default, or give a value`,
    );
  }
  return text(get, key);
}

function url(get: Lookup, key: string): string | undefined {
  const v = given(get, key);
  if (v !== undefined && !/^https:\/\/[^\s/]+/.test(v)) {
    throw new ConfigError(`context ${key}=${shownUrl(v)}: expected an https:// URL`);
  }
  return v;
}

function optionalInt(get: Lookup, key: string, min: number, max: number): number | undefined {
  return given(get, key) === undefined ? undefined : int(get, key, 0, min, max);
}

/** Aurora accepts an auto-pause delay from 5 minutes to 1 day; 0 here means never pause. */
function pauseMinutes(get: Lookup): number {
  const n = int(get, 'auroraAutoPauseMinutes', 60, 0, 1440);
  if (n > 0 && n < 5) {
    throw new ConfigError(`context auroraAutoPauseMinutes=${n}: expected 0 (never pause) or 5 to 1440`);
  }
  return n;
}

/** A comma list of futures roots: upper-case letters and digits, starting with a letter. */
function roots(get: Lookup): string[] {
  const v = given(get, 'databentoRoots');
  if (v === undefined) return [...DEFAULT_DATABENTO_ROOTS];
  const out: string[] = [];
  for (const r of v.split(',').map((x) => x.trim().toUpperCase())) {
    if (r === '') continue;
    if (!/^[A-Z][A-Z0-9]{0,5}$/.test(r)) {
      throw new ConfigError(`context databentoRoots: ${shown(r)} is not a futures root (letters and digits, e.g. ES,M2K)`);
    }
    if (!out.includes(r)) out.push(r);
  }
  if (out.length === 0) throw new ConfigError('context databentoRoots: expected at least one root');
  return out;
}

/** Every context option the app reads (the README's table). */
export const CONTEXT_KEYS: readonly string[] = [
  'brokers',
  'oandaAccount',
  'coinbaseApiKeyName',
  'coinbaseLive',
  'tradovateAccount',
  'oandaBaseUrl',
  'tradovateBaseUrl',
  'coinbaseBaseUrl',
  'ipAllowlist',
  'alarmEmail',
  'journal',
  'nat',
  'auroraAutoPauseMinutes',
  'oandaRiskConfig',
  'tradovateRiskConfig',
  'coinbaseRiskConfig',
  'paramPrefix',
  'throttleRate',
  'throttleBurst',
  'executorConcurrency',
  'heartbeatHours',
  'notifyMinIntervalSecs',
  'notifyFills',
  'databento',
  'databentoRoots',
  'databentoScheduleMinutes',
  'stackName',
];

/** Edit distance between two short strings (insertions, deletions, substitutions). */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/**
 * Refuses a context key in the app's own style (letters and digits, `oandaRiskconfig`) that
 * the app does not read, naming the nearest option: a misspelt option would otherwise be
 * dropped without a word, and the deploy would trade the built-in sizes or go without the
 * allowlist. The CDK's own keys are left alone: feature flags (`@aws-cdk/…`), its settings
 * and lookups (`aws:cdk:…`, `availability-zones:…`), the CLI's (`acknowledged-issue-numbers`).
 */
export function checkContextKeys(keys: Iterable<string>): void {
  for (const key of keys) {
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(key) || CONTEXT_KEYS.includes(key)) continue;
    const near =
      CONTEXT_KEYS.find((k) => k.toLowerCase() === key.toLowerCase()) ??
      [...CONTEXT_KEYS]
        .map((k) => [k, distance(k.toLowerCase(), key.toLowerCase())] as const)
        .filter(([, d]) => d <= 3)
        .sort((x, y) => x[1] - y[1])[0]?.[0];
    const hint = near === undefined ? '' : `: did you mean ${near}?`;
    throw new ConfigError(
      `context ${key} is not an option of this app${hint} (options: cdk/README.md, "Context options")`,
    );
  }
}

/** Reads and checks every context option; `get` is `node.tryGetContext`. */
export function readConfig(get: Lookup): PipelineConfig {
  // No default: a deploy decides which brokers trade, never the app.
  const brokerText = text(get, 'brokers');
  const choices = `a comma list of ${ALL_BROKERS.join(', ')}, e.g. -c brokers=oanda`;
  if (brokerText === undefined) {
    throw new ConfigError(`context brokers is required: choose the executors to deploy, ${choices}`);
  }
  const brokers = brokerText
    .split(',')
    .map((b) => b.trim().toLowerCase())
    .filter((b) => b !== '');
  if (brokers.length === 0) {
    throw new ConfigError(`context brokers=${shown(brokerText)}: expected at least one broker, ${choices}`);
  }
  for (const b of brokers) {
    if (!(ALL_BROKERS as readonly string[]).includes(b)) {
      throw new ConfigError(`context brokers: unknown broker ${shown(b)} (known: ${ALL_BROKERS.join(', ')})`);
    }
  }
  const unique = ALL_BROKERS.filter((b) => brokers.includes(b));

  given(get, 'ipAllowlist');
  // Given blank, `journal` would read as log: an Aurora stack redeployed writing its trades to
  // the logs only.
  given(get, 'journal');
  const journalKind = oneOf(get, 'journal', ['log', 'aurora'] as const, 'log');
  const allow = oneOf(get, 'ipAllowlist', ['off', 'tradingview'] as const, 'off');
  // No default either: the topic carries every alarm and the executors' own mails (an order
  // of unknown outcome, a reversal half done), and with no subscriber they reach nobody.
  const emailText = text(get, 'alarmEmail');
  if (emailText === undefined) {
    throw new ConfigError(
      'context alarmEmail is required: the address the alarms and the executors\' mails (an order of unknown outcome, a reversal half done) go to, e.g. -c alarmEmail=you@example.com; -c alarmEmail=none deploys the topic with no subscriber (subscribe to its NotificationTopicArn output yourself)',
    );
  }
  const alarmEmail = emailText === 'none' ? undefined : emailText;
  if (alarmEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alarmEmail)) {
    throw new ConfigError(`context alarmEmail=${shown(alarmEmail)}: not an email address (or none)`);
  }
  const paramPrefix = given(get, 'paramPrefix') ?? '/tv-pipeline';
  if (!/^(\/[A-Za-z0-9_.-]+)+$/.test(paramPrefix)) {
    throw new ConfigError(`context paramPrefix=${shown(paramPrefix)}: expected /segment[/segment…]`);
  }

  const config: PipelineConfig = {
    brokers: unique,
    coinbaseLive: oneOf(get, 'coinbaseLive', ['false', 'true'] as const, 'false') === 'true',
    ipAllowlist: allow === 'tradingview',
    alarmEmail,
    journal: journalKind,
    nat: oneOf(get, 'nat', ['instance', 'gateway'] as const, 'instance'),
    auroraAutoPauseMinutes: pauseMinutes(get),
    paramPrefix,
    throttleRate: int(get, 'throttleRate', DEFAULT_THROTTLE_RATE, 1, 10000),
    throttleBurst: int(get, 'throttleBurst', DEFAULT_THROTTLE_BURST, 1, 5000),
    heartbeatHours: int(get, 'heartbeatHours', DEFAULT_HEARTBEAT_HOURS, 0, MAX_HEARTBEAT_HOURS),
    // Lambda's SQS event sources accept a maximum concurrency from 2 to 1000.
    executorConcurrency: int(get, 'executorConcurrency', 5, 2, 1000),
    notifyMinIntervalSecs: optionalInt(get, 'notifyMinIntervalSecs', 1, 86400),
    notifyFills: oneOf(get, 'notifyFills', ['false', 'true'] as const, 'false') === 'true',
    oandaAccount: text(get, 'oandaAccount'),
    oandaBaseUrl: url(get, 'oandaBaseUrl'),
    tradovateAccount: given(get, 'tradovateAccount'),
    tradovateBaseUrl: url(get, 'tradovateBaseUrl'),
    coinbaseApiKeyName: text(get, 'coinbaseApiKeyName'),
    coinbaseBaseUrl: url(get, 'coinbaseBaseUrl'),
    riskConfig: {
      oanda: riskText(get, 'oandaRiskConfig'),
      tradovate: riskText(get, 'tradovateRiskConfig'),
      coinbase: riskText(get, 'coinbaseRiskConfig'),
    },
    // Checked whether or not the feature is on, like auroraAutoPauseMinutes, so a typo
    // surfaces before the day it is switched on.
    databento: oneOf(get, 'databento', ['false', 'true'] as const, 'false') === 'true',
    databentoRoots: roots(get),
    databentoScheduleMinutes: int(get, 'databentoScheduleMinutes', 60, 15, 1440),
  };

  // These are plain environment variables the executors require at cold start; deploying
  // without them would give an executor that fails every message until it dead-letters.
  if (config.brokers.includes('oanda') && config.oandaAccount === undefined) {
    throw new ConfigError('context oandaAccount is required while brokers includes oanda');
  }
  if (config.brokers.includes('coinbase') && config.coinbaseApiKeyName === undefined) {
    throw new ConfigError('context coinbaseApiKeyName is required while brokers includes coinbase');
  }
  const coinbaseUrl = config.coinbaseBaseUrl ?? COINBASE_DEFAULT_URL;
  if (config.brokers.includes('coinbase') && isCoinbaseProduction(coinbaseUrl) && !config.coinbaseLive) {
    throw new ConfigError(
      `brokers includes coinbase with the production API (${shownUrl(coinbaseUrl)}): Coinbase has no sandbox ` +
        'that executes orders, so this executor trades real money from its first signal. Deploy it ' +
        'with -c coinbaseLive=true to confirm, or leave coinbase out of brokers.',
    );
  }
  return config;
}
