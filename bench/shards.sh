#!/usr/bin/env bash
# Sharded ingest throughput (issue 16): leaf updates/s from a relay through a private
# RabbitMQ into 1, 2 and 3 `treestat serve --shard` engines, with the CPU each process
# used (where the time goes). See bench/shards.py for the workload.
#
#   bench/shards.sh [SHARD_COUNTS...]          (default: 1 2 3)
#   KEYS=1000 LEAVES=500 SECONDS=20 WARMUP=5 bench/shards.sh 3
#
# Needs rabbitmq-server (Debian's ships the consistent-hash plugin).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p treestat
exec python3 bench/shards.py "$@"
