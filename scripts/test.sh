#!/usr/bin/env bash
# Builds numaheap and runs every test: formatting check, unit and whole-program tests (release,
# -Werror) on both engines (numaheap's own and the jemalloc reference), the unit tests under
# ASan+UBSan, the allocator under UBSan with the engine's invariant checks (NH_DEBUG=3), the
# node API under TSan, the policy fuzzer for a bounded time, and the NUMA lab (2-, 4- and 8-node
# guests in QEMU) on both engines.
# Environment: NH_FUZZ_SECONDS (default 60), NH_LAB=0 skips the lab, NH_JOBS (default: CPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --lab
jobs=${NH_JOBS:-$(nproc)}

echo "== format check"
files=$(git ls-files '*.c' '*.h' '*.cc' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
clang-format --dry-run --Werror $files

echo "== release build and unit tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DNH_WERROR=ON -DNH_TESTS=ON >/dev/null
cmake --build build -j"$jobs"
# -V so cmocka's own summary of each suite is shown; the full log stays in build/ctest.log.
if ! (cd build && ctest --output-on-failure -V -j1) >build/ctest.log 2>&1; then
    tail -n 80 build/ctest.log
    echo "unit tests failed"
    exit 1
fi
grep -E '^[0-9]+: \[ +(PASSED|FAILED|SKIPPED) +\]|tests passed' build/ctest.log

echo "== reference engine (jemalloc): release build, allocator and whole-program tests"
cmake -S . -B build-je -DCMAKE_BUILD_TYPE=Release -DNH_WERROR=ON -DNH_TESTS=ON -DNH_ENGINE=jemalloc -DNH_BENCH=OFF >/dev/null
cmake --build build-je -j"$jobs"
if ! (cd build-je && ctest --output-on-failure -j1 -E 'real_world|install') >build-je/ctest.log 2>&1; then
    tail -n 80 build-je/ctest.log
    echo "unit tests failed (jemalloc engine)"
    exit 1
fi
tail -n 3 build-je/ctest.log

echo "== ASan+UBSan build and unit tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DNH_SANITIZE=ON -DNH_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ctest --output-on-failure -j1)

echo "== UBSan build with invariant checks: the allocator itself (unit and whole-program suites)"
cmake -S . -B build-ubsan -DCMAKE_BUILD_TYPE=Debug -DNH_UBSAN=ON -DNH_DEBUG=3 -DNH_WERROR=ON -DNH_BENCH=OFF >/dev/null
cmake --build build-ubsan -j"$jobs"
# (not install: its static consumers would need the UBSan runtime)
(cd build-ubsan && UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j1 -E 'real_world|install')

echo "== TSan build: node API, routing, binding, region growth under concurrency"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DNH_TSAN=ON -DNH_WERROR=ON -DNH_BENCH=OFF >/dev/null
cmake --build build-tsan -j"$jobs" --target test_concurrency
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -R concurrency)

echo "== fuzz policy and node-list parsers (${NH_FUZZ_SECONDS:-60} s)"
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DNH_FUZZ=ON \
      -DNH_TESTS=OFF -DNH_BENCH=OFF >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzz_policy
corpus=build-fuzz/corpus
mkdir -p "$corpus"
cp -n fuzz/corpus/* "$corpus"/
build-fuzz/fuzz/fuzz_policy -max_total_time="${NH_FUZZ_SECONDS:-60}" -print_final_stats=1 \
    "$corpus" 2>&1 | grep -E 'Done|stat::number_of_executed_units|ERROR|crash' 
if [[ "${NH_LAB:-1}" != 0 ]]; then
    echo "== NUMA lab: placement on 2-, 4- and 8-node kernels, locality against other allocators"
    NH_LAB_BUILD=build tests/lab/lab.sh
    echo "== NUMA lab on the reference engine (jemalloc)"
    NH_LAB_BUILD=build-je tests/lab/lab.sh
fi
echo "all tests passed"
