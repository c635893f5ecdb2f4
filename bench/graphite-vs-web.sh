#!/usr/bin/env bash
# The Graphite render API against graphite-web on the same data in the same run
# (issue 14, acceptance 3):
#   sumSeries(a.*.b)       over 1,000 series x 1 day at 10 s (8.6M points)
#   highestCurrent(c.*, 10) over 10,000 series x 1 hour at 10 s (3.6M points)
# treestat: the release server with the points imported (POST /import);
# graphite-web 1.1.8 (Debian's, `apt-get install graphite-web`): its Django app over
# whisper files holding the same points, served by wsgiref. Once treestat is idle after
# the import, each query is asked once to warm caches, then RUNS times; the median wall
# time (curl's time_total) is reported.
#
#   bench/graphite-vs-web.sh [RUNS]            (NO_BUILD=1 to skip cargo build)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p treestat
work=$(mktemp -d /tmp/gw-bench.XXXXXX)
port=${PORT:-18490}
gport=${GPORT:-18491}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# A server already on a port would answer in place of the one started here.
for p in "$port" "$gport"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "port $p is taken; set PORT or GPORT" >&2
    exit 1
  fi
done
now=$(( $(date +%s) / 10 * 10 ))
echo "== data: whisper files and import chunks (now=$now)"
/usr/bin/python3 bench/graphite-vs-web.py data "$work" "$now"
# Two days in the 10 s archive: the data was written minutes before the query, whose
# "one day ago" must still read 10 s points (whisper's file keeps one day at 10 s).
printf '[trend]\nretention = "10s:2d,1m:30d,10m:1y"\n' >"$work/treestat.toml"
target/release/treestat serve --conf "$work/treestat.toml" --data "$work/ts" --http 127.0.0.1:$port --tcp off --udp off \
  --statsd off --graphite off --no-agent >"$work/treestat.log" 2>&1 &
pids+=($!)
/usr/bin/python3 bench/graphite-vs-web.py serve "$work" "$gport" >"$work/gw.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "localhost:$port/version" >/dev/null && break; sleep 0.1; done
for _ in $(seq 300); do curl -sf "localhost:$gport/version/" >/dev/null && break; sleep 0.2; done
echo "== import into treestat"
for f in "$work"/import/*.ndjson; do
  curl -sf -X POST "localhost:$port/import" --data-binary @"$f" | grep -q '"skipped":0,' \
    || { echo "import of $f failed" >&2; exit 1; }
done
rm -rf "$work/import"
# Wait (at most a minute) for the server to settle after the import (the store
# flushing what it wrote): queries timed meanwhile would share the CPU with it.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
before=$(ticks "${pids[0]}")
for _ in $(seq 60); do
  sleep 1
  after=$(ticks "${pids[0]}")
  [ $((after - before)) -le 2 ] && break
  before=$after
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() { # URL -> median seconds over $runs (after one warm-up)
  curl -sf -o /dev/null "$1"
  for _ in $(seq "$runs"); do curl -sf -o /dev/null -w '%{time_total}\n' "$1"; done | median
}
names() { # URL -> the sorted target names of its JSON answer
  local code
  code=$(curl -s -o "$work/answer" -w '%{http_code}' "$1")
  [ "$code" = 200 ] || { echo "$1: HTTP $code: $(head -c 600 "$work/answer")" >&2; exit 1; }
  python3 -c 'import json,sys; print(sorted(s["target"] for s in json.load(open(sys.argv[1]))))' "$work/answer"
}
check() { # the two answers agree in series count and names
  local a b
  a=$(names "$1"); b=$(names "$2")
  [ "$a" = "$b" ] || { echo "answers differ: $a vs $b"; exit 1; }
}
q() { python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }
for case in "sumSeries(a.*.b)|$((now - 86400))" "highestCurrent(c.*, 10)|$((now - 3600))"; do
  target=${case%|*}; from=${case#*|}
  path="render?target=$(q "$target")&from=$from&until=$now&format=json"
  ts="http://127.0.0.1:$port/$path"; gw="http://127.0.0.1:$gport/$path"
  check "$ts" "$gw"
  t=$(timeit "$ts"); g=$(timeit "$gw")
  echo "$target: treestat $(awk -v t="$t" 'BEGIN{printf "%.1f ms", t*1000}'), graphite-web $(awk -v g="$g" 'BEGIN{printf "%.1f ms", g*1000}'), $(awk -v t="$t" -v g="$g" 'BEGIN{printf "%.0fx", g/t}') faster (load $(cut -d' ' -f1-3 /proc/loadavg))"
done
