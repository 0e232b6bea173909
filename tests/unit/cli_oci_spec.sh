#!/usr/bin/env bash
# The OCI runtime spec's own linux.memoryPolicy example (v1.3.0, config-linux.md: MPOL_INTERLEAVE
# over nodes "2-3" with MPOL_F_STATIC_NODES), as a config.json. Where nodes 2 and 3 have memory
# and are allowed, oci validate accepts it and run --oci gives the program that kernel policy
# (read back by numaheap show); elsewhere, as on a one-node build machine, both refuse it
# naming node 2, before anything runs. The lab's 4-node guest runs the first case.
# Usage: cli_oci_spec.sh NUMAHEAP CONFIG.JSON
set -uo pipefail
nh=$1 config=$2
fail() { echo "cli_oci_spec: $*" >&2; exit 1; }
# has LIST N: whether the cpuset-format LIST ("0-3,5") holds N
has() {
    local part
    for part in ${1//,/ }; do
        [[ $part == *-* ]] && ((${part%-*} <= $2 && $2 <= ${part#*-})) && return 0
        [[ $part == "$2" ]] && return 0
    done
    return 1
}
mem=$(cat /sys/devices/system/node/has_memory 2>/dev/null || echo 0)
allowed=$(sed -n 's/^Mems_allowed_list:\t//p' /proc/self/status)
out=$("$nh" oci validate "$config" 2>&1)
rc=$?
if has "$mem" 2 && has "$mem" 3 && has "$allowed" 2 && has "$allowed" 3; then
    [[ $rc == 0 && $out == "$config: valid, memoryPolicy interleave:2-3/static" ]] ||
        fail "validate: status $rc, '$out'"
    out=$("$nh" run --oci "$config" -- "$nh" show) || fail "run --oci failed: $out"
    grep -qx 'policy: interleave' <<<"$out" || fail "run --oci: kernel policy not interleave: $out"
    grep -qx 'interleavemask: 2 3 *' <<<"$out" || fail "run --oci: interleave mask not 2 3: $out"
    grep -q '^numaheap policy: interleave:2-3/static ' <<<"$out" || fail "run --oci: heap policy: $out"
    echo "cli_oci_spec: ok (applied)"
    exit 0
fi
want="linux.memoryPolicy.nodes: node "
[[ $rc == 1 && $out == "numaheap oci: $config: $want"[23]" "* ]] || fail "validate: status $rc, '$out'"
out=$("$nh" run --oci "$config" -- /bin/echo ran 2>&1)
rc=$?
[[ $rc == 2 && $out == "numaheap run: --oci: $config: $want"[23]" "* && $out != *ran* ]] ||
    fail "run --oci: status $rc, '$out'"
echo "cli_oci_spec: ok (refused: no nodes 2-3 here)"
