#!/usr/bin/env bash
# libnumaheap.so exports the malloc family, the C++ operators, glibc's __libc_* names and
# introspection (mallinfo, mallinfo2, malloc_stats, malloc_info, mallopt) and nh_*,
# nothing else (no jemalloc, no internal module symbols), and needs no C++ runtime.
set -euo pipefail
bad=$(nm -D --defined-only "$1" | awk '{ print $3 }' |
      grep -vE '^(nh_[a-z_]+|malloc|free|calloc|realloc|reallocarray|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|malloc_usable_size|malloc_trim|mallinfo2?|malloc_stats|malloc_info|mallopt|__libc_(malloc|free|calloc|realloc|memalign|valloc|pvalloc)|__posix_memalign|_Zn[wa]m.*|_Zd[la]Pv.*)$' || true)
if [[ -n "$bad" ]]; then echo "unexpected exports:"; echo "$bad"; exit 1; fi
for want in malloc free nh_malloc_onnode nh_stats nh_ctl _Znwm _ZdlPv malloc_usable_size malloc_trim \
    mallinfo mallinfo2 malloc_stats malloc_info mallopt; do
    nm -D --defined-only "$1" | awk '{ print $3 }' | grep -qx "$want" || { echo "missing $want"; exit 1; }
done
# no C++ runtime is loaded with it into a C program (the operators reach it weakly); the
# jemalloc engine's objects still need libm
needed=$(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
# (a sanitizer's runtime brings its own: the check is for the library as shipped)
if [[ $needed != *san.so* ]] &&
    [[ $needed == *libstdc++* || ( ${2:-numaheap} == numaheap && $needed =~ lib(m|gcc_s)\. ) ]]; then
    echo "unexpected dependencies: $needed"
    exit 1
fi
echo "exports ok: $(nm -D --defined-only "$1" | wc -l) symbols; needs $needed"
