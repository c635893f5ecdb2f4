#!/usr/bin/env bash
# `treestat report` vs GoAccess on the same 1M-line combined log, in the same run
# (issue 19, acceptance 3): wall and CPU time, peak memory and the size of the HTML
# report each writes, and the ratios (target: treestat >= 10x faster, smaller file).
#
#   bench/report-vs-goaccess.sh [LINES]
#
# Needs Debian's goaccess (installed here with apt-get when missing and run as root).
# The log comes from the pipes' generator (as bench/tail-vs-goaccess.sh) and is reused.
# treestat runs RUNS times (default 3), GoAccess GA_RUNS
# times (default 1: about a minute of CPU per run); the best run of each counts.
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-1000000}
runs=${RUNS:-3}
ga_runs=${GA_RUNS:-1}
log=${LOG:-/tmp/treestat-combined-$lines.log}
out=$(mktemp -d)
cleanup() { rm -rf "$out"; }
trap cleanup EXIT

if ! command -v goaccess >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q goaccess >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q goaccess >/dev/null; }
  else
    echo "goaccess not installed: apt-get install -y goaccess" >&2; exit 1
  fi
fi
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p treestat
[ -s "$log" ] || cargo run --release -q -p treestat-pipes --example gen_combined_log -- "$log" "$lines"

echo "log: $log ($lines lines, $(stat -c %s "$log") bytes); $(goaccess --version | head -1); load before: $(cut -d' ' -f1-3 /proc/loadavg)"

measure() { # name runs output command...
  local name=$1 runs=$2 file=$3; shift 3
  local best="" t; t=$(mktemp)
  for _ in $(seq "$runs"); do
    rm -f "$file"
    /usr/bin/time -f '%e %U %S %M' -o "$t" "$@" >/dev/null 2>&1
    read -r wall user sys rss <"$t"
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $wall < ${best%% *} else 1)"; then
      best="$wall $user $sys $rss"
    fi
  done
  rm -f "$t"
  python3 - "$name" "$lines" $best "$(stat -c %s "$file")" <<'PY'
import sys
name, n, wall, user, sys_, rss, size = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:6]), int(sys.argv[6]), int(sys.argv[7])
cpu = user + sys_
print(f"{name:9s} wall {wall:6.2f} s  cpu {cpu:6.2f} s  {n/wall/1e3:6.0f}k lines/s  max rss {rss/1024:5.0f} MiB  report {size/1024:7.0f} KiB")
print(f"RESULT {name} {wall} {cpu} {size}")
PY
}

res="$out/results"
measure treestat "$runs" "$out/treestat.html" target/release/treestat report "$log" -o "$out/treestat.html" | tee -a "$res"
measure goaccess "$ga_runs" "$out/goaccess.html" goaccess "$log" --log-format=COMBINED -o "$out/goaccess.html" | tee -a "$res"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$res" <<'PY'
import sys
r = {l.split()[1]: tuple(map(float, l.split()[2:5])) for l in open(sys.argv[1]) if l.startswith("RESULT")}
t, g = r["treestat"], r["goaccess"]
print(f"goaccess / treestat: wall {g[0]/t[0]:.1f}x, cpu {g[1]/t[1]:.1f}x, file size {g[2]/t[2]:.1f}x")
PY
