#!/usr/bin/env bash
# Runs Graft's benchmarks (not part of the tests): bench/run.sh [io|rss|merge|ties|cli|decoder|decoder-fp16|decoder-int4|lap|align|lora-svd|lora|recursive|pleas-ls|pleas|memory|memory-pleas|memory-recursive|regmean|eval|all] [WORK_FOLDER]
# Needs about 8 GB of free disk in the work folder (default bench/target/work).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mvn -B -q -DskipTests -pl bench,cli -am package
work="${2:-bench/target/work}"
mkdir -p "$work" && rm -rf "$work/hash-cache"
export GRAFT_CACHE_DIR="$work/hash-cache" # the first run of each benchmark hashes its inputs; later runs reuse
exec java ${BENCH_JAVA_OPTS:-} -cp "bench/target/classes:bench/target/lib/*" dev.graft.bench.Benchmarks "${1:-all}" "$work"
