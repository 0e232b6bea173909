#!/usr/bin/env bash
# numaheap topology's numactl -H lines (available, node N cpus/size, distances) against
# numactl -H where it is installed, and, from a fake sysfs node tree (NH_TEST_SYSFS_NODE: three
# nodes, node 2 with memory and no CPU, as CXL memory is), the CPU-less node marked in every
# view, its size and distances, and the HMAT lines.
# Usage: cli_topology.sh NUMAHEAP SYSFS_NODE_DIR
set -uo pipefail
nh=$1 tree=$2
fail() { echo "cli_topology: $*" >&2; exit 1; }
out=$("$nh" topology) || fail "topology failed"
for l in '^available: [0-9]+ nodes \(' '^node [0-9]+ cpus:' '^node [0-9]+ size: [0-9]+ MB$' \
    '^node [0-9]+ free: [0-9]+ MB$' '^node distances:$' '^ +[0-9]+: +10 ' \
    '^memory performance \(HMAT' 'MPOL_PREFERRED_MANY'; do
    grep -qE "$l" <<<"$out" || fail "no line matching '$l'"
done
if command -v numactl >/dev/null; then
    want=$(numactl -H | grep -E '^(available:|node [0-9]+ (cpus|size):)' | sed 's/ *$//')
    got=$(grep -E '^(available:|node [0-9]+ (cpus|size):)' <<<"$out" |
        sed 's/ (none: memory-only node)$//; s/ *$//')
    [[ $got == "$want" ]] || fail "numactl -H says '$want', topology '$got'"
    want=$(numactl -H | sed -n '/^node distances:/,$p' | sed 's/ *$//')
    got=$(sed -n '/^node distances:/,/^$/p' <<<"$out" | sed '/^$/d; s/ *$//')
    [[ $got == "$want" ]] || fail "distances: numactl -H says '$want', topology '$got'"
fi
out=$(NH_TEST_SYSFS_NODE=$tree "$nh" topology) || fail "topology of the fake tree failed"
printf '%s\n' "$out"
for l in 'max possible node      3' 'nodes online           0-2' 'nodes with memory      0-2' \
    'nodes with CPUs        0-1' 'nodes allowed          0-2' \
    '2             0         4096         4032  31 31 10   (memory only)' \
    'available: 3 nodes (0-2)' 'node 0 cpus: 0 1' 'node 1 cpus: 2 3' \
    'node 2 cpus: (none: memory-only node)' 'node 2 size: 4096 MB' 'node 2 free: 4032 MB' \
    '  2:  31  31  10 ' \
    'node 0 access0 (initiators 0): read 19200 MB/s write 17600 MB/s read latency 80 ns write latency 95 ns' \
    'node 2 access0 (initiators 0-1): read 8000 MB/s write 6400 MB/s read latency 250 ns write latency 270 ns'; do
    grep -qxF -- "$l" <<<"$out" || fail "fake tree: no line '$l'"
done
# only the CPU-less node is marked
[[ $(grep -c 'memory only\|memory-only' <<<"$out") == 2 ]] || fail "fake tree: nodes with CPUs marked"
echo "cli_topology: ok"
