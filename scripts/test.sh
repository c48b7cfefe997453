#!/usr/bin/env bash
# The test command. On a fresh machine it installs what the tests need (moto, in a
# virtualenv under .venv-test; PostgreSQL if missing), starts a moto server and a throwaway
# PostgreSQL cluster on free 127.0.0.1 ports, runs rustfmt, clippy and every test of the
# workspace, and stops what it started, pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
run="$root/.test-run"
mkdir -p "$run"

# A one-off build: incremental state would only cost disk (gigabytes on a cold target).
export CARGO_INCREMENTAL=0
echo "==> disk before: $(df -h --output=avail . | tail -n 1 | tr -d ' ') free"

venv="$root/.venv-test"
if [ ! -x "$venv/bin/moto_server" ]; then
  echo "==> installing moto into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==5.2.5"
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "${pg_dir:-}" ] && rm -rf "$pg_dir"
}
trap cleanup EXIT INT TERM

moto_port=$(free_port)
echo "==> starting moto on 127.0.0.1:$moto_port"
# Through a launcher that serves DynamoDB requests one at a time, as DynamoDB applies a
# conditional write atomically and moto does not (see the launcher's docstring).
"$venv/bin/python" scripts/moto_server.py -H 127.0.0.1 -p "$moto_port" >"$run/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$moto_port/moto-api/', timeout=1)" 2>/dev/null; then
    break
  fi
  sleep 0.2
done
python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$moto_port/moto-api/', timeout=2)" \
  || { echo "moto did not start; see $run/moto.log"; exit 1; }
export MOTO_ENDPOINT="http://127.0.0.1:$moto_port"

# A throwaway PostgreSQL cluster for the journal tests, run as the `postgres` user (never as
# root); as the current user when that is not root.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bin" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing PostgreSQL"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null \
      || { apt-get update -q >/dev/null \
           && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; }
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  else
    echo "PostgreSQL is not installed (need /usr/lib/postgresql/*/bin)"; exit 1
  fi
fi
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_dir=$(mktemp -d /tmp/tv-pipeline-pg.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres: "$pg_dir"
pg_port=$(free_port)
echo "==> starting PostgreSQL on 127.0.0.1:$pg_port"
as_pg "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres >"$run/pg-initdb.log" 2>&1
# TLS on, with a throwaway self-signed certificate, so the journal's tests connect with
# `sslmode=require` as a deployment's URL to Aurora does.
openssl req -x509 -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -days 2 \
  -keyout "$pg_dir/server.key" -out "$pg_dir/server.crt" >"$run/pg-cert.log" 2>&1 \
  || { echo "openssl could not make the test PostgreSQL's certificate; see $run/pg-cert.log"; exit 1; }
chmod 600 "$pg_dir/server.key"
[ "$(id -u)" = 0 ] && chown postgres: "$pg_dir/server.key" "$pg_dir/server.crt"
as_pg "$pg_bin/postgres" -D "$pg_dir/data" -k "$pg_dir" -h 127.0.0.1 -p "$pg_port" -c fsync=off \
  -c ssl=on -c ssl_cert_file="$pg_dir/server.crt" -c ssl_key_file="$pg_dir/server.key" >"$run/pg.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  "$pg_bin/pg_isready" -h 127.0.0.1 -p "$pg_port" -q && break
  sleep 0.2
done
"$pg_bin/pg_isready" -h 127.0.0.1 -p "$pg_port" -q || { echo "PostgreSQL did not start; see $run/pg.log"; exit 1; }
"$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres journal_test
export JOURNAL_TEST_PG_URL="postgres://postgres@127.0.0.1:$pg_port/journal_test"

# Debian's Chromium and chromedriver for the dashboard's browser test (local-stack/tests);
# `apt-get update` only when the install fails on a stale or empty package list.
if ! command -v chromedriver >/dev/null || [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing Chromium and chromedriver"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null \
      || { apt-get update -q >/dev/null \
           && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; }
  else
    echo "Chromium or chromedriver is missing and cannot be installed here (not root with apt-get);"
    echo "the dashboard's browser test will fail: apt-get install chromium chromium-driver"
  fi
fi

echo "==> rustfmt"
cargo fmt --all -- --check
echo "==> clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo deny: bans, licenses, sources (deny.toml)"
if ! cargo deny --version 2>/dev/null | grep -q "0.18.3"; then
  echo "==> installing cargo-deny 0.18.3"
  cargo install --locked --quiet cargo-deny --version 0.18.3
fi
cargo deny --locked check bans licenses sources
echo "==> cargo machete: no declared dependency left unused"
if ! cargo machete --version 2>/dev/null | grep -q "0.9.2"; then
  echo "==> installing cargo-machete 0.9.2"
  cargo install --locked --quiet cargo-machete --version 0.9.2
fi
cargo machete
echo "==> tests (every log line captured for the audit)"
export TV_LOG_CAPTURE_DIR="$run/logs"
rm -rf "$TV_LOG_CAPTURE_DIR"
cargo test --workspace --locked --no-fail-fast
unset TV_LOG_CAPTURE_DIR
echo "==> fuzz regressions: the seeds and every saved reproducer replayed on stable"
cargo test --manifest-path fuzz/Cargo.toml --locked
echo "==> log audit: no credential, token, passphrase or private key in any captured line"
cargo run -q --locked -p log-audit -- "$run/logs" scripts/log-audit-secrets.txt 200
echo "==> CDK app: template tests and cdk-nag (no bundling)"
bash cdk/test.sh
echo "==> disk after: $(df -h --output=avail . | tail -n 1 | tr -d ' ') free; target: $(du -sh target 2>/dev/null | cut -f1)"
echo "==> all tests passed"
