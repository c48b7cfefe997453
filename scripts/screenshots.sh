#!/usr/bin/env bash
# The README's pictures: the live dashboard of `tvctl dev` and a `tvctl report`, after a
# scripted session of alerts on paper brokers (seeded random closes on EUR_USD, ESZ6 and
# BTC-USD, so the report has wins, losses and an equity curve). Everything runs on 127.0.0.1;
# the pictures are taken by Debian's Chromium, headless, through chromedriver (the dashboard
# is shown once its event stream is live, which Chromium's one-shot `--screenshot` does not
# wait for).
#
#   bash scripts/screenshots.sh            # writes docs/dashboard.png and docs/report.png
set -euo pipefail
cd "$(dirname "$0")/.."

chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] && command -v chromedriver >/dev/null ||
  { echo "needs Chromium and chromedriver: apt-get install chromium chromium-driver" >&2; exit 1; }
cargo build -p tvctl --locked
tvctl=target/debug/tvctl

work=$(mktemp -d)
port=18086
driver_port=18087
dev=
driver=
trap 'kill $dev $driver 2>/dev/null || true; rm -rf "$work"' EXIT
"$tvctl" dev --port "$port" --journal "$work/journal.sqlite" >"$work/dev.log" 2>&1 &
dev=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/dashboard/state" >/dev/null 2>&1 && break
  sleep 0.1
done

python3 - "$port" <<'PY'
import json, random, sys, time, urllib.request
from datetime import datetime, timedelta, timezone

port = sys.argv[1]
random.seed(7)
# (sample, first close, step, decimals)
books = [
    ("oanda-eurusd-long", "1.08345", 0.0004, 5),
    ("tradovate-es-long", "6012.25", 2.5, 2),
    ("coinbase-btcusd-long", "97123.45", 180.0, 2),
]
start = datetime.now(timezone.utc) - timedelta(seconds=5)
for n in range(30):
    for sample, first, step, places in books:
        doc = json.load(open(f"shared/tests/alerts/{sample}.json"))
        close = f"{float(first) + step * random.uniform(-4, 6):.{places}f}"
        long = n % 2 == 0
        doc["action"] = "LONG_ENTRY" if long else "SHORT_ENTRY"
        doc["signal"]["type"] = "ENTRY"
        doc["signal"]["direction"] = "LONG" if long else "SHORT"
        t = (start + timedelta(milliseconds=100 * n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        doc["market_data"]["timenow"] = t
        doc["market_data"]["timestamp"] = t
        for k in ("open", "high", "low", "close"):
            doc["price_data"][k] = close
        doc["passphrase"] = "local-dev-secret-change-me"
        req = urllib.request.Request(f"http://127.0.0.1:{port}/webhook", json.dumps(doc).encode())
        urllib.request.urlopen(req).read()
    time.sleep(0.05)
time.sleep(2)
PY

mkdir -p docs
"$tvctl" report --journal "$work/journal.sqlite" --output "$work/report.html"
chromedriver --port="$driver_port" >"$work/driver.log" 2>&1 &
driver=$!
python3 - "$driver_port" "$chromium" "$port" "$work/report.html" <<'PY'
import base64, json, sys, time, urllib.request

driver, chromium, port, report = sys.argv[1:]


def call(method, path, body=None):
    req = urllib.request.Request(
        f"http://127.0.0.1:{driver}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"content-type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=60))["value"]


for _ in range(100):
    try:
        call("GET", "/status")
        break
    except OSError:
        time.sleep(0.1)
caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"binary": chromium, "args": [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--hide-scrollbars", "--window-size=1280,1250"]}}}}
session = call("POST", "/session", caps)["sessionId"]
s = f"/session/{session}"


def shot(url, path, ready, height):
    call("POST", f"{s}/url", {"url": url})
    call("POST", f"{s}/window/rect", {"width": 1280, "height": height})
    for _ in range(100):
        if call("POST", f"{s}/execute/sync", {"script": ready, "args": []}):
            break
        time.sleep(0.1)
    time.sleep(0.5)
    with open(path, "wb") as f:
        f.write(base64.b64decode(call("GET", f"{s}/screenshot")))


try:
    shot(f"http://127.0.0.1:{port}/", "docs/dashboard.png",
         "return document.getElementById('conn').dataset.state === 'live'"
         " && document.querySelectorAll('tr[data-position]').length > 0", 1250)
    shot(f"file://{report}", "docs/report.png", "return true", 2600)
finally:
    call("DELETE", s)
PY
echo "wrote docs/dashboard.png and docs/report.png"
