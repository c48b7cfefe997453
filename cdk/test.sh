#!/usr/bin/env bash
# The CDK app's tests: installs the locked npm packages, compiles, and checks the synthesized
# templates (default, IP allowlist, Aurora profiles) with cdk-nag. Nothing is bundled, so no
# cargo lambda or cross-compilation target is needed.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
rm -rf dist
npx tsc
node --test dist/test/*.test.js
