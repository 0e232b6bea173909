#!/usr/bin/env bash
# numaheap topology's numactl -H lines (available, node N cpus/size, distances) against
# numactl -H where it is installed, and the HMAT lines from a fake sysfs tree.
# Usage: cli_topology.sh NUMAHEAP HMAT_DIR
set -uo pipefail
nh=$1 hmat=$2
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
out=$(NH_TEST_SYSFS_NODE=$hmat "$nh" topology) || fail "topology with fake HMAT failed"
grep -qx 'node 0 access0 (initiators 0): read 19200 MB/s write 17600 MB/s read latency 80 ns write latency 95 ns' \
    <<<"$out" || fail "no HMAT line for node 0: $(grep -A2 HMAT <<<"$out")"
echo "cli_topology: ok"
