#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each, one after the other on one core
# (-jobs=1), and prints target / execs / CPU seconds / findings. Exits non-zero when any target
# found a crash, a hang (-timeout=5) or an out-of-memory, leaving the input in
# fuzz/artifacts/<target>/ (reproduce: fuzz/run.sh --repro ARTIFACT).
#
#   fuzz/run.sh 20                  every target, 20 s each (the CI smoke run)
#   FUZZ_TARGETS="pattern time" fuzz/run.sh 300
#   FUZZ_NO_BUILD=1 fuzz/run.sh 60  the binaries as built, no cargo
#
# Needs cargo-fuzz and the nightly toolchain. The seeds in fuzz/corpus/<target>/ are
# read only; what a run learns goes to fuzz/target/corpus/<target>/ (not in git), so
# later runs on the same machine start from it.
set -euo pipefail
cd "$(dirname "$0")"

usage() { echo "usage: $0 SECONDS | --repro ARTIFACT" >&2; exit 2; }
[ $# -eq 1 ] || [ $# -eq 2 ] || usage

TRIPLE=x86_64-unknown-linux-gnu
BIN=target/$TRIPLE/release
# -O -a: optimized, with debug assertions and overflow checks (an overflow in a parser
# is a finding); address sanitizer (cargo-fuzz's default).
# FUZZ_NO_BUILD=1 runs the binaries already built (while the sources change under a
# long campaign).
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
  CARGO_INCREMENTAL=0 cargo +nightly fuzz build -O -a >&2
fi

if [ "$1" = "--repro" ]; then
  [ $# -eq 2 ] || usage
  art=$2
  target=$(basename "$(dirname "$art")")
  exec "$BIN/$target" -detect_leaks=0 "$art"
fi

secs=$1
case $secs in '' | *[!0-9]*) usage ;; esac
targets=${FUZZ_TARGETS:-$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^treestat-fuzz$')}

failed=0
rows=()
for t in $targets; do
  mkdir -p "target/corpus/$t" "artifacts/$t" "corpus/$t"
  before=$(find "artifacts/$t" -type f | wc -l)
  log="target/logs/$t.log"
  mkdir -p target/logs
  status=ok
  # The CPU seconds the target got (user + system): under `nice` beside other work a
  # wall-clock slot is less fuzzing, and the campaign counts CPU seconds.
  TIMEFORMAT='%3U %3S'
  if ! { time "$BIN/$t" "target/corpus/$t" "corpus/$t" \
      -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 -max_len=4096 \
      -detect_leaks=0 -print_final_stats=1 \
      -artifact_prefix="artifacts/$t/" >"$log" 2>&1; } 2>"$log.cpu"; then
    status=FAILED
    failed=1
  fi
  cpu=$(awk '{ printf "%.0f", $1 + $2 }' "$log.cpu")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  after=$(find "artifacts/$t" -type f | wc -l)
  new=$((after - before))
  if [ "$status" = FAILED ] && [ "$new" -eq 0 ]; then new="?"; fi
  rows+=("$(printf '%-20s %12s %8s %9s  %s' "$t" "${execs:-?}" "${cpu:-?}" "$new" "$status")")
  if [ "$status" = FAILED ]; then
    echo "== $t failed; the end of $log:" >&2
    tail -n 30 "$log" >&2
  fi
done

printf '\n%-20s %12s %8s %9s  %s\n' target execs cpu_s findings status
for r in "${rows[@]}"; do echo "$r"; done
exit $failed
