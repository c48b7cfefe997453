import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildApp, environmentFor } from '../lib/app';
import {
  ConfigError,
  DEFAULT_HEARTBEAT_HOURS,
  DEFAULT_THROTTLE_BURST,
  DEFAULT_THROTTLE_RATE,
  readConfig,
  RISK_CONFIG_MAX_BYTES,
} from '../lib/config';
import { BASE_CONTEXT } from './helpers';

const get = (ctx: Record<string, unknown>) => (k: string) => ({ ...BASE_CONTEXT, ...ctx })[k];
const refuses = (ctx: Record<string, unknown>, re: RegExp) =>
  assert.throws(
    () => readConfig(get(ctx)),
    (e: unknown) => e instanceof ConfigError && re.test(e.message),
    JSON.stringify(ctx),
  );

describe('alarm address', () => {
  it('is required, or none said outright: with no subscriber every alarm and executor mail reaches nobody', () => {
    refuses({ alarmEmail: undefined }, /^context alarmEmail is required: .*-c alarmEmail=none/);
    refuses({ alarmEmail: 'ops' }, /alarmEmail=ops: not an email address \(or none\)/);
    assert.equal(readConfig(get({ alarmEmail: 'none' })).alarmEmail, undefined);
    assert.equal(readConfig(get({ alarmEmail: 'ops@example.com' })).alarmEmail, 'ops@example.com');
  });
});

describe('risk settings', () => {
  it('refuses a risk TOML that would not fit in a Lambda environment, naming its size', () => {
    const section = (i: number) => `[instruments.EUR_X${i}]\nsize = "1000"\nmax_position = "10000"\n`;
    let big = 'default_max_position = "10"\n';
    for (let i = 0; Buffer.byteLength(big.trim()) <= RISK_CONFIG_MAX_BYTES; i++) big += section(i);
    const size = Buffer.byteLength(big.trim());
    refuses({ oandaRiskConfig: big }, new RegExp(`context oandaRiskConfig is ${size} bytes.*4 KB`));
    const fits = big.slice(0, RISK_CONFIG_MAX_BYTES);
    assert.equal(readConfig(get({ tradovateRiskConfig: fits })).riskConfig.tradovate, fits.trim());
  });
});

describe('context keys', () => {
  const synthRefuses = (ctx: Record<string, unknown>, re: RegExp) =>
    assert.throws(
      () => buildApp({ context: { ...BASE_CONTEXT, ...ctx } }),
      (e: unknown) => e instanceof ConfigError && re.test(e.message),
      JSON.stringify(ctx),
    );

  it('refuses a stack name whose queue or cluster names would pass an AWS limit mid-deploy', () => {
    synthRefuses({ stackName: 'T'.repeat(62) }, /stackName is 62 characters, more than 61/);
    synthRefuses({ stackName: 'T'.repeat(56), journal: 'aurora' }, /more than 55: .*journal cluster/);
    synthRefuses({ stackName: 'tv_pipeline' }, /stackName "tv_pipeline": a letter, then letters, digits and single -/);
    synthRefuses({ stackName: 'Tv-', journal: 'aurora' }, /stackName "Tv-"/);
    synthRefuses({ stackName: 'Tv--X', journal: 'aurora' }, /stackName "Tv--X"/);
    assert.equal(buildApp({ context: { ...BASE_CONTEXT, stackName: 'T'.repeat(61) } }).stack.stackName, 'T'.repeat(61));
  });

  it('refuses an option the app does not read, naming the nearest one', () => {
    synthRefuses(
      { oandaRiskconfig: 'default_size = "5"' },
      /context oandaRiskconfig is not an option of this app: did you mean oandaRiskConfig\?/,
    );
    synthRefuses({ ipAllowList: 'tradingview' }, /context ipAllowList .*did you mean ipAllowlist\?/);
    synthRefuses({ notifyFill: 'true' }, /context notifyFill .*did you mean notifyFills\?/);
    synthRefuses({ somethingElse: '1' }, /context somethingElse is not an option of this app \(options/);
  });

  it("leaves the CDK's own keys alone", () => {
    const app = buildApp({
      context: {
        ...BASE_CONTEXT,
        '@aws-cdk/core:newStyleStackSynthesis': true,
        'acknowledged-issue-numbers': [12345],
        'aws:cdk:enable-path-metadata': true,
      },
    });
    assert.ok(app.stack);
  });
});

describe('brokers are chosen explicitly', () => {
  it('refuses a deploy without brokers, naming the choices', () => {
    for (const missing of [undefined, '', '  ']) {
      refuses({ brokers: missing }, /context brokers is required.*oanda, tradovate, coinbase.*-c brokers=oanda/);
    }
  });

  it('refuses an empty list and unknown names', () => {
    refuses({ brokers: ',' }, /brokers=,: expected at least one broker.*oanda, tradovate, coinbase/);
    refuses({ brokers: 'oanda,ib' }, /unknown broker ib/);
  });

  it('takes one broker, or several in any order and case, once each', () => {
    assert.deepEqual(readConfig(get({ brokers: 'oanda' })).brokers, ['oanda']);
    assert.deepEqual(readConfig(get({ brokers: 'Coinbase,oanda, oanda' })).brokers, ['oanda', 'coinbase']);
  });

  it('stops the CLI synth with the ConfigError (bin/app.ts prints it without a stack trace)', () => {
    const context = { ...BASE_CONTEXT };
    delete context.brokers;
    assert.throws(() => buildApp({ context }), (e: unknown) => e instanceof ConfigError);
  });
});

describe('a value given where it does not belong', () => {
  it('is named by its key, never printed when it may hold a credential', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ journal: 'postgres://journal:S3cr3tPw@cluster.example:5432/journal?sslmode=require' }, /context journal=.*expected one of log, aurora/],
      [{ oandaBaseUrl: 'http://trader:S3cr3tPw@api.example/v3' }, /context oandaBaseUrl=http:\/\/api\.example\/….*expected an https:\/\/ URL/],
      [{ executorConcurrency: 'S3cr3tPw://x' }, /context executorConcurrency=.*expected an integer/],
      // An API key where a yes or no belongs: a plain word, but too long to be one.
      [{ databento: 'db-S3cr3tPwA1b2A1b2A1b2A1b2A1b2x' }, /context databento=.*expected one of/],
      [{ paramPrefix: 'postgres://trader:S3cr3tPw@db.example/j' }, /context paramPrefix=.*expected \/segment/],
      [{ alarmEmail: 'S3cr3tPw-a-token-pasted-here' }, /context alarmEmail=.*not an email address/],
    ];
    for (const [given, named] of cases) {
      assert.throws(
        () => readConfig(get({ brokers: 'oanda', ...given })),
        (e: unknown) =>
          e instanceof ConfigError && named.test(e.message) && !e.message.includes('S3cr3tPw') && !e.message.includes('trader'),
      );
    }
    // A short plain word is still shown, to say what was read.
    refuses({ journal: 'dynamo' }, /context journal=dynamo: expected one of log, aurora/);
  });
});

describe('executorConcurrency', () => {
  it('defaults to 5 and is checked', () => {
    assert.equal(readConfig(get({ brokers: 'oanda' })).executorConcurrency, 5);
    assert.equal(readConfig(get({ brokers: 'oanda', executorConcurrency: '20' })).executorConcurrency, 20);
    refuses({ brokers: 'oanda', executorConcurrency: '1' }, /executorConcurrency=1/);
  });
});

describe('a Coinbase executor against production needs coinbaseLive=true', () => {
  const live = (ctx: Record<string, unknown>) => readConfig(get({ brokers: 'coinbase', ...ctx }));

  it('refuses the production URL, explicit or by default, without the opt-in', () => {
    for (const url of [
      undefined,
      'https://api.coinbase.com',
      'https://api.coinbase.com/api/v3',
      'https://API.coinbase.com/',
      'https://api.coinbase.com:443/api/v3/brokerage',
      'https://api.coinbase.com./api/v3/brokerage',
    ]) {
      for (const flag of [undefined, 'false']) {
        refuses(
          { brokers: 'oanda,coinbase', coinbaseBaseUrl: url, coinbaseLive: flag },
          /Coinbase has no sandbox that executes orders.*real money.*-c coinbaseLive=true/,
        );
      }
    }
  });

  it('deploys it with coinbaseLive=true', () => {
    assert.equal(live({ coinbaseLive: 'true' }).coinbaseLive, true);
    assert.deepEqual(live({ coinbaseLive: 'true' }).brokers, ['coinbase']);
  });

  it('needs no opt-in for another URL (a mock) or without a Coinbase executor', () => {
    assert.equal(live({ coinbaseLive: undefined, coinbaseBaseUrl: 'https://coinbase-mock.example.com' }).coinbaseLive, false);
    assert.equal(live({ coinbaseLive: undefined, coinbaseBaseUrl: 'https://api.coinbase.com.example.com' }).coinbaseLive, false);
    assert.deepEqual(readConfig(get({ brokers: 'oanda', coinbaseLive: undefined })).brokers, ['oanda']);
  });

  it('refuses a value other than true or false', () => {
    refuses({ coinbaseLive: 'yes' }, /coinbaseLive=yes/);
  });
});

describe('throttling, heartbeat and failure mail options', () => {
  it('defaults to 50 req/s with a burst of 500, a 72-hour heartbeat, and the executors own mail interval', () => {
    const c = readConfig(get({}));
    assert.equal(c.throttleRate, DEFAULT_THROTTLE_RATE);
    assert.equal(c.throttleBurst, DEFAULT_THROTTLE_BURST);
    assert.deepEqual([DEFAULT_THROTTLE_RATE, DEFAULT_THROTTLE_BURST], [50, 500]);
    assert.equal(c.heartbeatHours, DEFAULT_HEARTBEAT_HOURS);
    assert.equal(DEFAULT_HEARTBEAT_HOURS, 72);
    assert.equal(c.notifyMinIntervalSecs, undefined);
  });

  it('takes the documented ranges', () => {
    const c = readConfig(get({ throttleRate: '200', throttleBurst: '2000', heartbeatHours: '168', notifyMinIntervalSecs: '3600' }));
    assert.deepEqual([c.throttleRate, c.throttleBurst, c.heartbeatHours, c.notifyMinIntervalSecs], [200, 2000, 168, 3600]);
    assert.equal(readConfig(get({ heartbeatHours: '0' })).heartbeatHours, 0);
  });

  it('refuses values out of range, naming the option', () => {
    for (const bad of ['0', '10001', '2.5', 'fast']) refuses({ throttleRate: bad }, /throttleRate/);
    for (const bad of ['0', '5001']) refuses({ throttleBurst: bad }, /throttleBurst/);
    // CloudWatch: Period × EvaluationPeriods ≤ 7 days for hourly periods.
    for (const bad of ['169', '-1', '1.5', 'weekly']) refuses({ heartbeatHours: bad }, /heartbeatHours=.*0 to 168/);
    for (const bad of ['0', '86401', 'often']) refuses({ notifyMinIntervalSecs: bad }, /notifyMinIntervalSecs/);
  });
});

describe('the stack environment', () => {
  const cfg = (ctx: Record<string, unknown>) => readConfig(get(ctx));

  it('stays environment-agnostic unless the NAT instance needs its image pinned', () => {
    assert.equal(environmentFor(cfg({})), undefined);
    assert.equal(environmentFor(cfg({ journal: 'aurora', nat: 'gateway' })), undefined);
    assert.deepEqual(environmentFor(cfg({ journal: 'aurora' })), { account: '123456789012', region: 'us-east-1' });
  });

  it('refuses the NAT instance profile without an account and region, naming the way out', () => {
    const saved = [process.env.CDK_DEFAULT_ACCOUNT, process.env.CDK_DEFAULT_REGION];
    delete process.env.CDK_DEFAULT_ACCOUNT;
    try {
      assert.throws(
        () => environmentFor(cfg({ journal: 'aurora' })),
        (e: unknown) => e instanceof ConfigError && /cdk\.context\.json.*nat=gateway/.test(e.message),
      );
    } finally {
      [process.env.CDK_DEFAULT_ACCOUNT, process.env.CDK_DEFAULT_REGION] = saved;
    }
  });
});
