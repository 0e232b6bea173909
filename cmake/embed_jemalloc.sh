#!/usr/bin/env bash
# Makes a private copy of Debian's libjemalloc_pic.a for embedding: drops the C++ operators,
# renames every global symbol it defines to nhje_* (so neither a shared nor a static numaheap
# can collide with a jemalloc the host program links), and replaces the configuration sources
# with same-length strings so a host jemalloc's settings never reach ours: /etc/malloc.conf
# becomes /etc/numaheap.je, and MALLOC_CONF becomes an empty name, which getenv never finds,
# because numaheap checks NUMAHEAP_JE itself and hands it over (alloc/jemalloc/engine.c).
# Usage: embed_jemalloc.sh SRC.a OUT.a
set -euo pipefail
src=$1 out=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
ar x "$src"
rm -f jemalloc_cpp.pic.o
nm -g --defined-only ./*.o | awk 'NF == 3 { print $3 }' | sort -u |
    awk '{ n = $1; sub(/^je_/, "", n); print $1, "nhje_" n }' > syms.map
for o in ./*.o; do
    objcopy --redefine-syms=syms.map "$o"
    perl -0777 -pi -e 's/MALLOC_CONF\0/\0\0\0\0\0\0\0\0\0\0\0\0/g; s{/etc/malloc\.conf\0}{/etc/numaheap.je\0}g' "$o"
done
rm -f "$out"
ar rcs "$out" ./*.o
# The archive must not define or leave undefined any unrenamed jemalloc entry point.
if nm "$out" | awk '$1 ~ /^[TtDdBbVvWw]$/ || $1 == "U" { print $NF }' |
    grep -E '^(je_|mallocx|rallocx|xallocx|sallocx|dallocx|sdallocx|nallocx|mallctl)'; then
    echo "embed_jemalloc: unrenamed jemalloc symbols remain" >&2
    exit 1
fi
