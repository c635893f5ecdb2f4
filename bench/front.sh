#!/usr/bin/env bash
# The read front's added latency (issue 16): a release `treestat front` over three
# shards against one server holding the same data, asked directly. 24 top-level keys
# (nested counters, gauges, a histogram leaf each) go to the shards by key and all to
# the direct server; then `wrk` with one connection (each request sent when the last
# is answered) on:
#   - GET /get/k04,cpu            a literal key: the front asks its owner only
#   - GET /get/*|sum,cpu,user     a fold over every key: the front asks all 3 shards
#                                 and folds their leaves
#   - GET /get/*|p95,api,lat?stat=count,p99
#                                 a quantile fold with stats: the shards send each
#                                 histogram leaf's stats and sketch, the front merges
# and prints p50/p99 for the front and for the server directly.
#
#   bench/front.sh [SECONDS]      (needs `apt-get install wrk`; NO_BUILD=1 skips the build;
#                                 BIN=path runs another build, e.g. target/debug/treestat)
#
# On the 2-core machine of issue 16, otherwise idle, 5 s runs: /get/k04,cpu direct p50
# 81 us, front 282 us; /get/*|sum,cpu,user 96 us and 505 us; the quantile fold 118 us and
# 764 us (added at p50: 0.20, 0.41 and 0.65 ms; the issue's target: < 2 ms).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p treestat
bin=${BIN:-target/release/treestat}
tmp=$(mktemp -d)
base=${PORT:-18600}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
serve() { # port
  "$bin" serve --data "$tmp/$1" --http 127.0.0.1:$1 --tcp off --udp off --statsd off \
    --graphite off --no-agent >/dev/null 2>&1 &
  pids+=($!)
}
up() { for _ in $(seq 100); do curl -sf "localhost:$1/health" >/dev/null && return; sleep 0.1; done; echo "port $1 not up" >&2; exit 1; }
direct=$base
shards=($((base + 1)) $((base + 2)) $((base + 3)))
front=$((base + 9))
for p in $direct "${shards[@]}"; do serve $p; done
for p in $direct "${shards[@]}"; do up $p; done
for k in $(seq 0 23); do
  key=$(printf 'k%02d' "$k")
  lat=$(python3 -c "print(','.join(str((i * 7 + $k * 13) % 97 + 1) for i in range(40)))")
  doc="{\"$key\":{\"cpu\":{\"user\":$((k * 3)),\"sys\":$((40 - k))},\"net\":{\"default_action\":\"add\",\"rx\":$((k * 100))},\"api\":{\"default_action\":\"histogram\",\"lat\":[$lat]}}}"
  shard=${shards[$((k % 3))]}
  for p in $direct "$shard"; do
    curl -sf -H 'Content-Type: application/json' -XPOST "localhost:$p/push" -d "$doc" >/dev/null
  done
done
list=$(printf 'http://127.0.0.1:%s,' "${shards[@]}")
"$bin" front --shards "${list%,}" --listen 127.0.0.1:$front --deadline 500ms >/dev/null 2>&1 &
pids+=($!)
up $front
sleep 0.5 # the first owner-map read
run() { # label url
  local out p50 p99 rps
  out=$(wrk -t1 -c1 -d"${secs}s" --latency "$2")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  rps=$(awk '$1 == "Requests/sec:" {print $2}' <<<"$out")
  printf '%-34s p50 %-9s p99 %-9s %s req/s\n' "$1" "$p50" "$p99" "$rps"
}
for path in '/get/k04,cpu' '/get/*%7Csum,cpu,user' '/get/*%7Cp95,api,lat?stat=count,p99'; do
  curl -sf "localhost:$front$path" | cmp -s - <(curl -sf "localhost:$direct$path") ||
    { echo "front and direct answer differently on $path" >&2; exit 1; }
  echo "== GET $path"
  run "direct (one server)" "http://127.0.0.1:$direct$path"
  run "front (3 shards)" "http://127.0.0.1:$front$path"
done
