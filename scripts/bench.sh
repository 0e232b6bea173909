#!/usr/bin/env bash
# The main job: builds numaheap and shows what it detects on this machine (topology and kernel
# capabilities). The allocator benchmark against glibc malloc joins it when the allocator lands.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"${NH_JOBS:-$(nproc)}" --target numaheap-cli >/dev/null
build/numaheap topology
