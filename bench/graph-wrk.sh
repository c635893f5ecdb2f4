#!/usr/bin/env bash
# End-to-end chart serving (issue 6): a release server with an hour of 10 s trend data
# for 8 series (imported through POST /import), then `wrk` on GET /graph/...png (a fresh
# render per request: wrk sends no If-None-Match) and on the same URL with a matching
# If-None-Match (the 304 path dashboards take when nothing changed).
#
#   bench/graph-wrk.sh [SECONDS] [CONNECTIONS]      (needs `apt-get install wrk`)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-8}
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p treestat
data=$(mktemp -d)
port=${PORT:-18480}
target/release/treestat serve --data "$data" --http 127.0.0.1:$port --tcp off --udp off \
  --statsd off --graphite off --no-agent >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do curl -sf localhost:$port/get/x >/dev/null && break; sleep 0.1; done
now=$(date +%s)
python3 - "$now" >"$data/import.ndjson" <<'PY'
import json, math, sys
now = int(sys.argv[1]) // 10 * 10
for s in range(8):
    for i in range(360):
        t = now - 3600 + i * 10
        print(json.dumps([f"web,host{s},requests", t, 100 + 50 * math.sin(i / 20 + s)]))
PY
curl -s -X POST "localhost:$port/import" --data-binary @"$data/import.ndjson"; echo
# Absolute times: a relative range slides, and the data in it (and the ETag) with it.
url="http://127.0.0.1:$port/graph/web,*,requests.png?from=$((now - 3600))&until=$now&width=800&height=400"
etag=$(curl -sI "$url" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
echo "== fresh renders (800x400 PNG, 8 series x 360 points)"
wrk -t2 -c"$conns" -d"${secs}s" --latency "$url" | grep -E "Requests/sec|Latency|99%"
echo "== unchanged (If-None-Match: $etag -> 304)"
wrk -t2 -c"$conns" -d"${secs}s" --latency -H "If-None-Match: $etag" "$url" | grep -E "Requests/sec|Latency|99%"
