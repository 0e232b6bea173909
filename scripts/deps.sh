#!/usr/bin/env bash
# Installs what numaheap needs from Debian 12's packages; does nothing when all is present.
# Usage: scripts/deps.sh [--lab]   (--lab adds QEMU and the guest userland for the NUMA lab)
set -euo pipefail

pkgs=(cmake make gcc g++ pkg-config clang clang-format libclang-rt-14-dev
      libnuma-dev numactl libjson-c-dev libjemalloc-dev libjemalloc2 libbenchmark-dev libcmocka-dev
      libtcmalloc-minimal4 libmimalloc2.0 libmemkind-dev python3 valgrind gnuplot-nox binutils
      libpython3.11-testsuite sqlite3 redis-server redis-tools)
if [[ "${1:-}" == "--lab" ]]; then
    pkgs+=(qemu-system-x86 busybox-static cpio)
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "deps: installing ${missing[*]}"
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
