#!/usr/bin/env bash
# numaheap show: numactl --show's lines and numaheap's; where numactl is installed, the
# policy line matches numactl --show's under each of numactl's policies.
# Usage: cli_show.sh NUMAHEAP
set -uo pipefail
nh=$1
fail() { echo "cli_show: $*" >&2; exit 1; }
out=$("$nh" show) || fail "show failed"
printf '%s\n' "$out"
for l in 'policy: ' 'preferred node: ' 'physcpubind: ' 'cpubind: ' 'nodebind: ' 'membind: ' \
    'preferred: ' 'numaheap policy: ' 'numaheap large policy: ' 'numaheap engine: '; do
    grep -q "^$l" <<<"$out" || fail "no line starting '$l'"
done
out=$(NUMAHEAP_POLICY=bind:0 "$nh" show) || fail "show with NUMAHEAP_POLICY failed"
grep -qx 'numaheap policy: bind:0 (NUMAHEAP_POLICY)' <<<"$out" || fail "NUMAHEAP_POLICY not shown"
grep -qE '^numaheap engine: (numaheap|jemalloc)$' <<<"$out" || fail "no engine name"
command -v numactl >/dev/null || { echo "cli_show: no numactl, comparison skipped"; exit 0; }
for opt in "" --interleave=0 --membind=0 --preferred=0 --localalloc; do
    want=$(numactl $opt numactl --show | grep '^policy:')
    got=$(numactl $opt "$nh" show | grep '^policy:')
    [[ $got == "$want" ]] || fail "under numactl $opt: '$got', numactl says '$want'"
    want=$(numactl $opt numactl --show | grep -E '^(cpubind|nodebind|membind):')
    got=$(numactl $opt "$nh" show | grep -E '^(cpubind|nodebind|membind):')
    [[ $got == "$want" ]] || fail "under numactl $opt: binding lines differ: '$got' vs '$want'"
done
echo "cli_show: ok"
