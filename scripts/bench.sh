#!/usr/bin/env bash
# The main job: builds numaheap and its benchmarks, then runs them under glibc malloc, stock
# jemalloc and numaheap (interleaved rounds, medians) and prints the table; CSV and PNG chart
# go to build/bench-results/. Then the node API against libnuma and memkind, peak RSS, fast-path
# instructions (callgrind), and the targets. --full: also tcmalloc and mimalloc, 5 rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"${NH_JOBS:-$(nproc)}" \
    --target numaheap numaheap-cli nh_bench nh_rss_mixed nh_fastpath nh_node_api_bench >/dev/null
allocs=glibc,jemalloc,numaheap rounds=3 min_time=0.2
if [[ "${1:-}" == "--full" ]]; then
    allocs=glibc,jemalloc,tcmalloc,mimalloc,numaheap rounds=5 min_time=0.5
fi
out=build/bench-results
mkdir -p "$out"
echo "machine: $(nproc) CPUs, $(build/numaheap topology | awk '/nodes online/ {print "NUMA nodes " $3}'), kernel $(uname -r)"
python3 bench/run.py --bench build/bench/nh_bench --numaheap build/libnumaheap.so \
    --allocators "$allocs" --rounds "$rounds" --min-time "$min_time" \
    --csv "$out/results.csv" --png "$out/results.png" --extras
echo "CSV: $out/results.csv  chart: $out/results.png"
