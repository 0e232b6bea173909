#!/usr/bin/env bash
# The main job: builds numaheap (its own engine, and the jemalloc reference engine in build-je)
# and the benchmarks, then runs them under glibc malloc, tcmalloc, mimalloc and both numaheap
# builds (interleaved rounds, medians) and prints the table; CSV and PNG chart go to
# build/bench-results/. Then the node API against libnuma and memkind, peak RSS, memory given
# back, fast-path instructions (callgrind), and the targets. --full: also stock jemalloc,
# 5 rounds and longer runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=${NH_JOBS:-$(nproc)}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs" --target numaheap numaheap-cli nh_bench nh_rss_mixed nh_fastpath \
    nh_node_api_bench nh_trim_rss >/dev/null
cmake -S . -B build-je -DCMAKE_BUILD_TYPE=Release -DNH_ENGINE=jemalloc -DNH_TESTS=OFF -DNH_BENCH=OFF >/dev/null
cmake --build build-je -j"$jobs" --target numaheap >/dev/null
allocs=glibc,tcmalloc,mimalloc,numaheap-je,numaheap rounds=3 min_time=0.2
if [[ "${1:-}" == "--full" ]]; then
    allocs=glibc,jemalloc,tcmalloc,mimalloc,numaheap-je,numaheap rounds=5 min_time=0.5
fi
out=build/bench-results
mkdir -p "$out"
echo "machine: $(nproc) CPUs, $(build/tools/numaheap topology | awk '/nodes online/ {print "NUMA nodes " $3}'), kernel $(uname -r), $(date -u +%Y-%m-%d)"
python3 bench/run.py --bench build/bench/nh_bench --numaheap build/libnumaheap.so \
    --numaheap-je build-je/libnumaheap.so --allocators "$allocs" --rounds "$rounds" \
    --min-time "$min_time" --csv "$out/results.csv" --png "$out/results.png" --extras
echo "CSV: $out/results.csv  chart: $out/results.png"
