#!/usr/bin/env bash
# Agent CPU and memory with every built-in module at a 1 s interval, over 60 s (issue 7:
# target < 1% of one core, < 20 MB RSS). Measured from outside through /proc/<pid>/stat
# (utime + stime) and /proc/<pid>/status (VmRSS, VmHWM) of a release build.
#
#   bash agent-modules/benches/agent_footprint.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-60}
cargo build --release -q -p treestat-agent --example agent
BIN=target/release/examples/agent
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

# A local HTTP server for the nginx (a stub_status page as a file) and URL probes, and
# a UDP sink standing in for the server.
mkdir -p "$WORK/www"
printf 'Active connections: 1 \nserver accepts handled requests\n 1 1 1 \nReading: 0 Writing: 1 Waiting: 0 \n' > "$WORK/www/nginx_status"
echo hello > "$WORK/www/index.html"
HTTP_PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
UDP_PORT=$(python3 -c 'import socket;s=socket.socket(2,2);s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
python3 -m http.server "$HTTP_PORT" --bind 127.0.0.1 --directory "$WORK/www" >/dev/null 2>&1 &
python3 -c "import socket;s=socket.socket(2,2);s.bind(('127.0.0.1',$UDP_PORT))
while True: s.recv(65536)" &

M="$WORK/modules"; mkdir -p "$M"
for m in cpu memory swap load disk diskio network uptime ip temperature; do : > "$M/$m.conf"; done
echo "top = 5" > "$M/processes.conf"
echo "url = http://127.0.0.1:$HTTP_PORT/nginx_status" > "$M/nginx.conf"
echo "url.index = http://127.0.0.1:$HTTP_PORT/index.html" > "$M/urlprobe.conf"
sleep 1

"$BIN" --modules "$M" --interval 1s --server "udp://127.0.0.1:$UDP_PORT" --seconds $((SECS + 5)) &
PID=$!
sleep 3  # past start-up
TICK=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
C0=$(cpu); T0=$(date +%s.%N)
sleep "$SECS"
C1=$(cpu); T1=$(date +%s.%N)
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
wait "$PID" || true
python3 - "$C0" "$C1" "$T0" "$T1" "$TICK" "$RSS" "$HWM" <<'PY'
import sys
c0, c1, t0, t1, tick, rss, hwm = map(float, sys.argv[1:])
cpu = (c1 - c0) / tick / (t1 - t0) * 100
print(f"agent, 13 built-in modules at 1 s, {t1 - t0:.0f} s: CPU {cpu:.2f}% of one core, "
      f"RSS {rss / 1024:.1f} MiB (peak {hwm / 1024:.1f} MiB)")
PY
