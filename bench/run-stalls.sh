#!/usr/bin/env bash
# Stall runs (issue 12): how a wide branch and many readers hold pushes back.
#   - wide:    1M leaves under one branch (filled 100k new leaves per interval, then
#              100k touched per interval) while a small push is timed in a loop:
#              small-push p50/p99/max, pushes started during a close, every close's
#              duration and write-lock hold. Targets: push p99 during closes < 10 ms,
#              close < 200 ms.
#   - waiters: 10k-leaf pushes alone, then with 1,024 idle /pull waiters and 20
#              /events readers: wall and CPU per push, and the ratio (target < 1.2).
# One process (bench/loadgen `stalls`): the real engine and HTTP API on 127.0.0.1:0,
# plain HTTP/1.1 keep-alive clients.
# Usage: bench/run-stalls.sh                 (WIDTH=1000000 TOUCH=100000 PUSHES=100)
#        OLD=1 bench/run-stalls.sh           (an engine older than issue 12: builds
#                                             without the close-lock figure)
#
# Measured 2026-12-06 on the shared 2-core box (load average 8-12 from other builds):
#   wide, 1M leaves:  close max 27.8 ms (write lock 1.6-8.2 ms), small push p50 0.08 ms,
#                     p99 1.95 ms, pushes started during closes p50 0.32 ms / max 15.3 ms.
#   before (6579ace), only 300k leaves: closes 6.4 s, 16.1 s, 22.2 s; a small push
#                     waited 22.2 s.
#   waiters:          wall/push ratio 1.15-1.28, CPU/push ratio 1.00-1.39 (3 runs);
#                     before: 2.93 ms alone, 3,971 ms with the readers (x1357).
# Again later that day, merged main, load average 6.5 (a soak run beside it):
#   wide, 1M leaves:  close max 21.6 ms (p50 10.5 ms, write lock 1.4-8.0 ms), small push
#                     p50 0.10 ms, p99 0.92 ms; started during closes max 6.8 ms.
#   waiters:          wall ratio 0.98 and 0.85, CPU ratio 0.91 and 0.91 (2 runs).
set -euo pipefail

cd "$(dirname "$0")/.."
WIDTH=${WIDTH:-1000000}
TOUCH=${TOUCH:-100000}
PUSHES=${PUSHES:-100}
BIN=target/loadgen/release

echo "== building bench/loadgen (release)"
[ -f bench/loadgen/Cargo.lock ] || cp Cargo.lock bench/loadgen/Cargo.lock
features=()
if [ -n "${OLD:-}" ]; then features=(--no-default-features); fi
(cd bench/loadgen && cargo build --release --quiet --bin stalls "${features[@]}")

echo "== wide branch ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
"$BIN/stalls" wide --width "$WIDTH" --touch "$TOUCH"
echo "== many waiters"
"$BIN/stalls" waiters --pushes "$PUSHES"
