#!/usr/bin/env bash
# Load runs for the push listeners (issue 3, acceptance 6), sender and server as two
# processes on this box:
#   - JSON trees over UDP 8007 (flat out, and paced at 200k datagrams/s)
#   - StatsD lines over UDP, 25 lines per datagram (flat out, and paced at 1M lines/s)
#   - TCP 8007 JSON lines, pipelined 100 at a time over 4 connections
#   - Graphite plaintext over TCP
#   - the same StatsD load (flat out, and paced at 2M lines/s) against treestat and
#     Etsy's statsd (npm `statsd`), both with kernel-default UDP buffers, and the ratio.
#   - StatsD timers only (`|ms`, histogram leaves; issue 15), flat out and paced at 1M
#     lines/s, counted as samples merged; and Etsy's statsd flat out under the same.
# Usage: bench/run-listeners.sh            (SECS=5 per run; ETSY_DIR caches the npm install)
set -euo pipefail

cd "$(dirname "$0")/.."
SECS=${SECS:-5}
ETSY_DIR=${ETSY_DIR:-/tmp/treestat-etsy-statsd}
BIN=target/loadgen/release
OUT=$(mktemp)
SERVER=""
ETSY=""

cleanup() {
    if [ -n "$SERVER" ]; then kill -INT "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    if [ -n "$ETSY" ]; then kill "$ETSY" 2>/dev/null || true; wait "$ETSY" 2>/dev/null || true; fi
    rm -f "$OUT"
}
trap cleanup EXIT

wait_port() { # host port
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listening on $1:$2" >&2
    return 1
}

echo "== building the load generator (bench/loadgen, release)"
[ -f bench/loadgen/Cargo.lock ] || cp Cargo.lock bench/loadgen/Cargo.lock
(cd bench/loadgen && cargo build --release --quiet)

run() { echo "\$ loadgen $*"; "$BIN/loadgen" "$@" | tee -a "$OUT"; }
start_server() { # bench-server options
    "$BIN/bench-server" "$@" >/dev/null &
    SERVER=$!
    wait_port 127.0.0.1 18099
}
stop_server() {
    kill -INT "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
}

echo "== treestat listeners (bench-server: real engine, UDP receive buffers 4 MiB)"
start_server --rcvbuf 4194304
run udp-json --secs "$SECS"
run udp-json --secs "$SECS" --rate 200000
run statsd --secs "$SECS"
run statsd --secs "$SECS" --rate 40000
run statsd --secs "$SECS" --kind timers
run statsd --secs "$SECS" --kind timers --rate 40000
run tcp --secs "$SECS"
run graphite --secs "$SECS"
stop_server

echo "== treestat StatsD again with kernel-default UDP buffers, as Etsy statsd has them"
: >"$OUT"
start_server --rcvbuf 0
run statsd --secs "$SECS"
run statsd --secs "$SECS" --rate 80000
stop_server
grep '^RESULT statsd ' "$OUT" >"$OUT.treestat"

echo "== Etsy statsd (node $(node --version)) under the same StatsD load"
if [ ! -f "$ETSY_DIR/node_modules/statsd/stats.js" ]; then
    npm install --silent --prefix "$ETSY_DIR" statsd >/dev/null
fi
node "$ETSY_DIR/node_modules/statsd/stats.js" bench/etsy-statsd-config.js >/dev/null &
ETSY=$!
wait_port 127.0.0.1 28126
kill -0 "$ETSY" # still running: it bound its ports
: >"$OUT"
run statsd --secs "$SECS" --addr 127.0.0.1:28125 --etsy-mgmt 127.0.0.1:28126
run statsd --secs "$SECS" --rate 80000 --addr 127.0.0.1:28125 --etsy-mgmt 127.0.0.1:28126
# Timers (Etsy keeps every value of the interval; its flush never comes in a run).
run statsd --secs "$SECS" --kind timers --addr 127.0.0.1:28125 --etsy-mgmt 127.0.0.1:28126
kill "$ETSY" 2>/dev/null || true
wait "$ETSY" 2>/dev/null || true
ETSY=""

echo "== StatsD lines received per second, treestat / Etsy statsd"
paste -d' ' <(awk '{for(i=1;i<=NF;i++) if ($i ~ /^received_per_s=/) {split($i,a,"="); print a[2]}}' "$OUT.treestat") \
            <(awk '/^RESULT statsd / {for(i=1;i<=NF;i++) if ($i ~ /^received_per_s=/) {split($i,a,"="); print a[2]}}' "$OUT") |
    awk 'BEGIN {split("flat-out paced-2M/s", name, " ")}
         {printf "%-12s treestat %9.0f/s   etsy %9.0f/s   ratio %.1fx\n", name[NR], $1, $2, ($2 > 0 ? $1 / $2 : 0)}'
rm -f "$OUT.treestat"
