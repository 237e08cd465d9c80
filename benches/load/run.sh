#!/usr/bin/env bash
# Webhook load run: wrk (16 connections, fresh bar_ids, durable writes) against `brickdesk serve`
# (release build) and, in the same run, against the Python peer doing the same work.
# Usage: benches/load/run.sh [seconds]   (needs wrk: apt-get install wrk)
# The fuller comparison (16 and 64 connections, a before binary, FastAPI + uvicorn peers with
# synchronous FULL and NORMAL, /api/state polling) is benches/load/compare.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --quiet
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export TV_WEBHOOK_SECRET=load-secret BRICKDESK_LOG=warn BRICKDESK_CONFIG=/dev/null NO_COLOR=1

wait_port() { for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

run_wrk() { # name port
  RUN_ID="$1-$RANDOM" wrk -t2 -c16 -d"${secs}s" --latency -s benches/load/webhook.lua "http://127.0.0.1:$2" > "$work/$1.txt"
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/$1.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/$1.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/$1.txt")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$work/$1.txt")
  printf '%-22s %12s req/s   p50 %-9s p99 %-9s non-2xx %s\n' "$1" "$rps" "$p50" "$p99" "${non2xx:-0}"
  echo "$rps" > "$work/$1.rps"
}

./target/release/brickdesk --data-dir "$work/bd" serve --port 18181 >/dev/null &
bd=$!
wait_port 18181
run_wrk brickdesk 18181
kill -INT $bd; wait $bd || true
python3 - "$work/bd/brickdesk.sqlite3" <<'PY'
import sqlite3, sys
n = sqlite3.connect(sys.argv[1]).execute("select count(*) from bricks").fetchone()[0]
print(f"brickdesk bricks stored durably: {n}")
PY

python3 benches/load/peer_webhook.py 18182 "$work/peer.sqlite3" &
py=$!
wait_port 18182
run_wrk python-peer 18182
kill $py; wait $py 2>/dev/null || true

python3 - "$work/brickdesk.rps" "$work/python-peer.rps" <<'PY'
import sys
a, b = (float(open(p).read()) for p in sys.argv[1:3])
print(f"ratio brickdesk / python peer: {a / b:.1f}x")
PY
