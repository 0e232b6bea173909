#!/usr/bin/env bash
# numaheap run sets the program's kernel policy as numactl does: for every mode and flag this
# kernel has, the policy a program reads back with get_mempolicy (the lab probe's kpolicy) is
# the one given, in --policy and in numactl's spellings; --heap-only leaves it inherited.
# Usage: cli_run_kernel.sh NUMAHEAP-CLI LAB-PROBE OCI-DIR
set -uo pipefail
cli=$1 probe=$2 oci=$3
fail=0
caps=$("$cli" topology 2>/dev/null)
has() { printf '%s\n' "$caps" | grep -q "$1.*yes"; }
expect() { # expect WANT ARGS...: numaheap run ARGS -- probe kpolicy prints kpolicy=WANT
    local want=$1
    shift
    local got
    got=$("$cli" run "$@" -- "$probe" kpolicy 2>&1)
    if [[ $got != "kpolicy=$want" ]]; then
        echo "FAIL: run $* -> '$got', want kpolicy=$want"
        fail=1
    else
        echo "ok: run $* -> $got"
    fi
}
expect bind:0 --policy bind:0
expect bind:0 -m 0
expect bind:0/static --policy bind:0/static
expect bind:0/static --oci "$oci/valid_bind_static.json"
expect interleave:0/relative --policy interleave:0/relative
expect interleave:0 --interleave=0
expect preferred:0 --policy preferred:0
expect preferred:0 -p 0
expect local --policy local
expect local -l
expect default --policy default
expect default --heap-only --policy bind:0
if has MPOL_PREFERRED_MANY; then
    expect preferred-many:0 --policy preferred-many:0
    expect preferred-many:0 --preferred-many 0
fi
if has MPOL_WEIGHTED_INTERLEAVE; then
    expect weighted:0 --policy weighted:0
    expect weighted:0 --weighted-interleave=0
fi
if has MPOL_F_NUMA_BALANCING; then
    expect bind:0/balancing --policy bind:0/balancing
fi
exit $fail
