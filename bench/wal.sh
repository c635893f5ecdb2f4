#!/usr/bin/env bash
# The write-ahead log's cost (issue 13, acceptance 2), in one run against the real
# `treestat serve` (release build), wal = off, batch and sync side by side:
#   - HTTP POST /push req/s at 32 concurrent keep-alive clients (wrk, bench/http/push.lua)
#   - StatsD lines/s received (UDP, 25 lines per datagram, sent flat out by a Python
#     sender; received = treestat_listen_lines_total{listener="statsd"})
# then the restart time with a 1 GB log (pushes into a 1-hour interval until the log
# holds 1 GiB, SIGKILL, time until the restarted server answers).
#
# Usage: bench/wal.sh [SECS]      (SECS per run, default 10; needs wrk, python3, curl)
#        GB=0 bench/wal.sh        skips the restart measurement
#        ROUNDS=3 bench/wal.sh    runs off, batch, sync in turn 3 times and compares the
#                                 best of each (on a shared machine, noise only slows)
#        MODES="off sync sync0"   the modes to run; sync0 is sync with
#                                 wal_segment_bytes = 0 (segments not preallocated)
# Server and senders share this machine ($(nproc) cores): compare the modes with each
# other, not with another box.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
GB=${GB:-1}
HTTP=18180
STATSD=18125
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
# BUILD=0 uses the release binary as it is.
[ "${BUILD:-1}" = 0 ] || cargo build --release --quiet --bin treestat
BIN=${CARGO_TARGET_DIR:-target}/release/treestat
WORK=$(mktemp -d /tmp/treestat-wal-bench.XXXXXX)
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

conf() { # mode interval max_bytes
    local wal=$1 seg=8388608
    if [ "$1" = sync0 ]; then wal=sync; seg=0; fi
    cat >"$WORK/$1.toml" <<EOF
[server]
data = "$WORK/data-$1"
agent = false
[listen]
tcp = "off"
udp = "off"
graphite = "off"
statsd = "127.0.0.1:$STATSD"
[engine]
interval = "$2"
wal = "$wal"
wal_max_bytes = $3
wal_segment_bytes = $seg
EOF
}

start() { # mode
    "$BIN" serve --conf "$WORK/$1.toml" --http "127.0.0.1:$HTTP" --no-agent >>"$WORK/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 600); do
        curl -sf "http://127.0.0.1:$HTTP/get/none" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "the server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}

stop() {
    kill -INT "$PID"; wait "$PID" || true; PID=""
}

metric() { # name with labels, exact
    curl -s "http://127.0.0.1:$HTTP/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

statsd_run() { # seconds -> lines/s received
    local before after
    before=$(metric 'treestat_listen_lines_total{listener="statsd"}')
    python3 - "$STATSD" "$1" <<'PY'
import socket, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
kinds = ["c", "c", "ms", "g", "c|@0.5", "h"]
dgrams = []
for d in range(1000):
    lines = []
    for l in range(25):
        i = d * 25 + l
        lines.append(f"bench.app{i % 10}.metric{i % 500}:{i % 100}|{kinds[i % 6]}")
    dgrams.append("\n".join(lines).encode())
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.time() + secs
n = 0
while time.time() < end:
    for d in dgrams[:100]:
        s.sendto(d, ("127.0.0.1", port))
    n += 100
PY
    # Let the server drain its receive buffers.
    sleep 1
    after=$(metric 'treestat_listen_lines_total{listener="statsd"}')
    python3 -c "print(f'{(float(\"$after\") - float(\"$before\")) / $1:.0f}')"
}

ROUNDS=${ROUNDS:-1}
best() { python3 -c "import sys; print(max(float(x) for x in sys.argv[1:]))" "$@"; }
MODES=${MODES:-off batch sync}
declare -A RPS LINES FSYNCS FSYNC_MS ALL_RPS ALL_LINES
for round in $(seq "$ROUNDS"); do
    for mode in $MODES; do
        rm -rf "$WORK/data-$mode"
        conf "$mode" 10s 1073741824
        start "$mode"
        out=$(wrk -t1 -c32 -d"${SECS}s" -s bench/http/push.lua "http://127.0.0.1:$HTTP/push")
        ALL_RPS[$mode]="${ALL_RPS[$mode]:-} $(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
        # fsyncs of the HTTP run alone (the StatsD run's come after).
        FSYNCS[$mode]=$(metric treestat_wal_fsyncs_total)
        us=$(metric treestat_wal_fsync_micros_total)
        ALL_LINES[$mode]="${ALL_LINES[$mode]:-} $(statsd_run "$SECS")"
        FSYNC_MS[$mode]=$(python3 -c "n=float('${FSYNCS[$mode]:-0}' or 0); print(f'{float(\"${us:-0}\" or 0) / n / 1000:.2f}' if n else '-')")
        stop
    done
done
for mode in $MODES; do
    # shellcheck disable=SC2086 # the lists split on purpose
    RPS[$mode]=$(best ${ALL_RPS[$mode]})
    # shellcheck disable=SC2086
    LINES[$mode]=$(best ${ALL_LINES[$mode]})
done

echo
echo "wal mode    HTTP /push req/s (32 clients)    StatsD lines/s    fsyncs (last HTTP run)   mean fsync ms"
for mode in $MODES; do
    printf '%-10s  %28s    %14s    %17s   %13s\n' "$mode" "${RPS[$mode]}" "${LINES[$mode]}" "${FSYNCS[$mode]:--}" "${FSYNC_MS[$mode]}"
    echo "    all runs: HTTP${ALL_RPS[$mode]}; StatsD${ALL_LINES[$mode]}"
done
if [ -n "${RPS[off]:-}" ]; then
    for mode in $MODES; do
        [ "$mode" = off ] && continue
        python3 - "$mode" "${RPS[off]}" "${RPS[$mode]}" "${LINES[off]}" "${LINES[$mode]}" <<'PY'
import sys
mode = sys.argv[1]
h0, h, s0, s = map(float, sys.argv[2:])
print(f"cost of {mode} vs off: HTTP {100 * (1 - h / h0):.1f}%  StatsD {100 * (1 - s / s0):.1f}%")
PY
    done
fi

[ "$GB" = 0 ] && exit 0
echo
echo "== restart with a ${GB} GiB log"
conf batch 1h $((GB * 3 << 30))
start batch
python3 - "$HTTP" "$GB" <<'PY'
import http.client, json, sys, threading, urllib.request
port, gb = int(sys.argv[1]), float(sys.argv[2])
# 20,000 samples on 2,000 leaves per push (~450 KB of JSON).
body = json.dumps({"default_action": "add",
                   "big": {f"g{g}": {f"k{k}": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] for k in range(100)}
                           for g in range(20)}}).encode()
def wal_bytes():
    for line in urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode().splitlines():
        if line.startswith("treestat_wal_disk_bytes "):
            return float(line.split()[1])
    return 0.0
stop = threading.Event()
def push():
    c = http.client.HTTPConnection("127.0.0.1", port)
    while not stop.is_set():
        c.request("POST", "/push", body, {"content-type": "application/json"})
        c.getresponse().read()
threads = [threading.Thread(target=push) for _ in range(2)]
for t in threads: t.start()
import time
while wal_bytes() < gb * (1 << 30):
    time.sleep(0.5)
stop.set()
for t in threads: t.join()
print(f"log: {wal_bytes() / (1 << 30):.2f} GiB")
PY
curl -s "http://127.0.0.1:$HTTP/get/big,g0,k0"; echo
kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=""
du -sh "$WORK/data-batch/wal"
t0=$(date +%s.%N)
start batch
t1=$(date +%s.%N)
python3 -c "print(f'restart with the log: {float(\"$t1\") - float(\"$t0\"):.1f} s until /get answers')"
curl -s "http://127.0.0.1:$HTTP/get/big,g0,k0"; echo
grep "write-ahead log replayed" "$WORK/server.log" | tail -1
stop
