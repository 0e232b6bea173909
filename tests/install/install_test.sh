#!/usr/bin/env bash
# Installs numaheap into a temporary prefix and builds a consumer against it three ways:
# pkg-config (shared), find_package(numaheap) (numaheap::numaheap, and numaheap::numaheap_static)
# and a static link from `pkg-config --static`; then builds the same consumer with
# add_subdirectory of the source tree. Each consumer must run with numaheap as its
# malloc and place nh_malloc_onnode(..., 0) on node 0. Also checks the installed CLI preloads
# the installed library.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR C_COMPILER [CMAKE]
set -euo pipefail
build=$1 src=$2 cc=$3 cmake=${4:-cmake}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

fail() { echo "install_test: $*" >&2; exit 1; }

"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log" || {
    cat "$work/install.log"
    fail "cmake --install failed"
}
libdir=$(dirname "$(find "$prefix" -name libnumaheap.so -print -quit)")
[[ -n $libdir ]] || fail "libnumaheap.so not installed"
for f in "$libdir/libnumaheap.a" "$libdir/pkgconfig/numaheap.pc" \
    "$libdir/cmake/numaheap/numaheapConfig.cmake" \
    "$libdir/cmake/numaheap/numaheapConfigVersion.cmake" "$prefix/include/numaheap.h" \
    "$prefix/bin/numaheap" "$prefix/share/man/man1/numaheap.1" \
    "$prefix/share/man/man3/numaheap.3"; do
    [[ -f $f ]] || fail "not installed: ${f#"$prefix"/}"
done
soname=$(readelf -d "$libdir/libnumaheap.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[[ -n $soname && -e $libdir/$soname ]] || fail "soname '$soname' not installed"

run() { # NAME PROGRAM: the program must print "consumer ok"
    local out
    out=$("$2") || fail "$1: consumer failed: $out"
    [[ $out == "consumer ok"* ]] || fail "$1: unexpected output: $out"
    echo "$1: $out"
}

export PKG_CONFIG_PATH=$libdir/pkgconfig
# 1. pkg-config, shared library.
# shellcheck disable=SC2046 # pkg-config output is meant to be split
"$cc" "$here/consumer/consumer.c" -o "$work/pc_shared" $(pkg-config --cflags --libs numaheap) \
    -Wl,-rpath,"$libdir"
readelf -d "$work/pc_shared" | grep -q "NEEDED.*\[$soname\]" || fail "pc_shared: not linked to $soname"
run pkg-config-shared "$work/pc_shared"

# 2. pkg-config --static, a fully static program: Libs.private must hold everything.
# shellcheck disable=SC2046
"$cc" -static "$here/consumer/consumer.c" -o "$work/pc_static" \
    $(pkg-config --static --cflags --libs numaheap)
if readelf -d "$work/pc_static" 2>/dev/null | grep -q NEEDED; then fail "pc_static is not static"; fi
run pkg-config-static "$work/pc_static"

# 3. find_package(numaheap): numaheap::numaheap and numaheap::numaheap_static.
"$cmake" -S "$here/consumer" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; fail "find_package consumer: configure failed"; }
"$cmake" --build "$work/cmake" >>"$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; fail "find_package consumer: build failed"; }
readelf -d "$work/cmake/consumer_shared" | grep -q "NEEDED.*\[$soname\]" ||
    fail "find_package consumer_shared: not linked to $soname"
if readelf -d "$work/cmake/consumer_static" | grep -q 'NEEDED.*libnumaheap'; then
    fail "find_package consumer_static: linked to the shared library"
fi
run find_package-shared "$work/cmake/consumer_shared"
run find_package-static "$work/cmake/consumer_static"

# 4. add_subdirectory of the source tree, same targets (tests and benchmarks off by default).
"$cmake" -S "$here/consumer" -B "$work/subdir" -DNH_SOURCE="$src" -DCMAKE_C_COMPILER="$cc" \
    >"$work/subdir.log" 2>&1 || { cat "$work/subdir.log"; fail "add_subdirectory consumer: configure failed"; }
"$cmake" --build "$work/subdir" --target consumer_shared consumer_static >>"$work/subdir.log" 2>&1 ||
    { cat "$work/subdir.log"; fail "add_subdirectory consumer: build failed"; }
run add_subdirectory-shared "$work/subdir/consumer_shared"
run add_subdirectory-static "$work/subdir/consumer_static"

# The installed CLI runs with, and preloads, the installed library.
# shellcheck disable=SC2016 # expanded by the child shell
preload=$("$prefix/bin/numaheap" run -- /bin/sh -c 'echo "$LD_PRELOAD"')
[[ $(realpath "$preload") == "$(realpath "$libdir")/"* ]] || fail "installed numaheap run preloads '$preload', not $libdir's"
echo "installed CLI preloads $preload"
