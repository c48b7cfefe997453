import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { envOf, synth } from './helpers';

/** One variable as the executors' settings types list it (`executor_*::config::VARIABLES`). */
interface Variable {
  name: string;
  secret: boolean;
  required: boolean;
  default: string | null;
}

/**
 * Written by the Rust test `local-stack/tests/settings_doc.rs` from the settings types, which
 * fails when this file is stale: the one list of broker variables, per deployed function.
 */
const LIST: Record<string, Variable[]> = JSON.parse(
  fs.readFileSync(path.resolve(__dirname, '..', '..', 'test', 'broker-settings.json'), 'utf8'),
);

/** The variables that belong to a broker's settings. */
const BROKER_PREFIXES = ['OANDA_', 'TRADOVATE_', 'COINBASE_', 'TOKEN_TABLE'];

describe("each function's environment against its broker's settings type", () => {
  const { json } = synth();

  it('covers the four functions that trade or log in', () => {
    assert.deepEqual(Object.keys(LIST).sort(), ['executor-coinbase', 'executor-oanda', 'executor-tradovate', 'token-refresher']);
  });

  for (const [binary, vars] of Object.entries(LIST)) {
    it(`${binary}: every required variable set, credentials only by SSM name, nothing unread`, () => {
      const env = envOf(json, binary);
      for (const v of vars) {
        if (v.secret) {
          assert.ok(`${v.name}_PARAM` in env, `${binary} lacks ${v.name}_PARAM`);
          assert.ok(!(v.name in env), `${binary} carries the credential ${v.name} in plain text`);
        } else if (v.required) {
          assert.ok(v.name in env, `${binary} lacks ${v.name}`);
        }
      }
      const read = new Set(vars.map((v) => (v.secret ? `${v.name}_PARAM` : v.name)));
      for (const k of Object.keys(env)) {
        if (BROKER_PREFIXES.some((p) => k.startsWith(p))) {
          assert.ok(read.has(k), `${binary} sets ${k}, which its settings type does not read`);
        }
      }
    });
  }
});
