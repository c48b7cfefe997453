#!/usr/bin/env bash
# The test command. On a fresh machine it installs what the tests need (moto, in a
# virtualenv under .venv-test), starts a moto server on a free 127.0.0.1 port, runs rustfmt,
# clippy and every test of the workspace, and stops what it started, pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
run="$root/.test-run"
mkdir -p "$run"

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
}
trap cleanup EXIT INT TERM

moto_port=$(free_port)
echo "==> starting moto on 127.0.0.1:$moto_port"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$run/moto.log" 2>&1 &
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

echo "==> rustfmt"
cargo fmt --all -- --check
echo "==> clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> tests"
cargo test --workspace --locked
echo "==> all tests passed"
