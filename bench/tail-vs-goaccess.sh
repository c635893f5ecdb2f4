#!/usr/bin/env bash
# End-to-end access-log replay (issue 4): `treestat tail --once` with every built-in
# pipe over a 1M-line combined log, then GoAccess over the same file, with the ratio.
#
#   bench/tail-vs-goaccess.sh [LINES]     (needs `apt-get install goaccess`)
#
# Prints wall and CPU (user+sys) time of each and lines per second. The log comes from
# the pipes' generator (realistic, repeating user agents); it is made once and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-1000000}
log=${LOG:-/tmp/treestat-combined-$lines.log}

[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p treestat
[ -s "$log" ] || cargo run --release -q -p treestat-pipes --example gen_combined_log -- "$log" "$lines"

measure() { # name command...
  local name=$1; shift
  local t; t=$(mktemp)
  /usr/bin/time -f '%e %U %S %M' -o "$t" "$@" >/dev/null 2>&1
  read -r wall user sys rss <"$t"; rm -f "$t"
  python3 - "$name" "$lines" "$wall" "$user" "$sys" "$rss" <<'PY'
import sys
name, n, wall, user, sys_ = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:6])
rss = int(sys.argv[6])
cpu = user + sys_
print(f"{name:10s} wall {wall:7.2f} s  cpu {cpu:7.2f} s  {n/wall/1e3:8.0f}k lines/s wall  "
      f"{n/cpu/1e3:8.0f}k lines/s cpu  max rss {rss/1024:.0f} MiB")
print(f"RESULT {name} {wall} {cpu}")
PY
}

out=$(mktemp)
measure treestat target/release/treestat tail --once --format combined "$log" | tee -a "$out"
if command -v goaccess >/dev/null; then
  measure goaccess goaccess "$log" --log-format=COMBINED -o /tmp/treestat-bench-goaccess.json | tee -a "$out"
  python3 - "$out" <<'PY'
import sys
r = {l.split()[1]: tuple(map(float, l.split()[2:4])) for l in open(sys.argv[1]) if l.startswith("RESULT")}
t, g = r["treestat"], r["goaccess"]
print(f"ratio (goaccess / treestat): wall {g[0]/t[0]:.1f}x, cpu {g[1]/t[1]:.1f}x")
PY
else
  echo "goaccess not installed: apt-get install -y goaccess"
fi
rm -f "$out"
