#!/usr/bin/env node
import { buildApp } from '../lib/app';
import { ConfigError } from '../lib/config';

try {
  buildApp().app.synth();
} catch (e) {
  // A wrong context option is the operator's mistake: say which, without a stack trace.
  if (e instanceof ConfigError) {
    console.error(`tv-pipeline: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
