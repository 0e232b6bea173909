#!/usr/bin/env bash
# numaheap policy PID ADDRESS: the kernel's numa_maps words for every mode and flag (a fake
# /proc), translated to the compact form; then a live process started by numaheap run, whose
# stack (a mapping without a policy of its own) shows the kernel policy run set.
# Usage: cli_policy.sh NUMAHEAP-CLI FAKE-PROC
set -uo pipefail
cli=$1 fake=$2
fail=0
check() { # check WANT ADDRESS
    local got
    got=$(NH_TEST_PROC=$fake "$cli" policy 77 "$2" 2>&1)
    [[ $got == "$1" ]] && echo "ok: $2 -> $got" || { echo "FAIL: $2 -> '$got', want '$1'"; fail=1; }
}
check weighted:0-3 0x7f1000000000
check preferred-many:1,3/static 7f1000200fff
check bind:2/static/balancing 0x7f1000400000
check interleave:0-1/relative 0x7f1000600010
check preferred:1 0x7f1000800000
check local 0x7f1000a00000
check bind:0-1/balancing 0x7f1000dfffff
"$cli" run --policy bind:0 -- sleep 5 &
pid=$!
sleep 0.5
stack=$(awk '/\[stack\]/ { split($1, a, "-"); print a[1] }' /proc/$pid/maps)
got=$("$cli" policy $pid "$stack")
kill $pid 2>/dev/null
[[ $got == bind:0 ]] && echo "ok: live stack -> $got" || { echo "FAIL: live stack -> '$got'"; fail=1; }
exit $fail
