#!/usr/bin/env bash
# HTTP load test: wrk with keep-alive against POST /push and GET /get on a 1M-leaf tree.
#
#   bench/http/run.sh [SECONDS] [CONNECTIONS]
#
# Needs `wrk` (apt-get install -y wrk) and python3. Builds and starts
# web/examples/bench_server.rs (release) on 127.0.0.1:$PORT, fills it with 1M leaves
# through the API, runs wrk, and prints requests/s and p99 latency per case.
# Set SERVER=/path/to/binary to use a prebuilt server (it takes the address as $1).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
CONNS=${2:-32}
PORT=${PORT:-18080}
URL="http://127.0.0.1:$PORT"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
if [ -z "${SERVER:-}" ]; then
  cargo build --release -p treestat-web --example bench_server >&2
  SERVER="${CARGO_TARGET_DIR:-target}/release/examples/bench_server"
fi
"$SERVER" "127.0.0.1:$PORT" 2>/dev/null &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "$URL/get/none" >/dev/null 2>&1 && break
  sleep 0.1
done

run() { # name, wrk args...
  local name=$1; shift
  local out
  out=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "$@")
  local rps p99 errs
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
  printf '%-34s %12s req/s   p99 %8s   %s\n' "$name" "$rps" "$p99" "$errs"
}

echo "wrk -t1 -c$CONNS -d${SECS}s, keep-alive, server and wrk on this machine ($(nproc) cores)"
run "POST /push (3 leaves)" -s bench/http/push.lua "$URL/push"
python3 bench/http/fill.py "$URL" 1000000
run "GET /get/fill,g7,k7 (1 leaf of 1M)" "$URL/get/fill,g7,k7"
run "GET /get/fill,g7 (1,000 of 1M)" "$URL/get/fill,g7"
run "GET /get/fill,*,k7 (1,000 of 1M)" "$URL/get/fill,*,k7"
curl -s "$URL/metrics" | grep -E '^treestat_(tree_leaves|pushes_total|http_requests_total) '
