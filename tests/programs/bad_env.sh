#!/usr/bin/env bash
# Every NUMAHEAP_* setting fed bad values (empty, garbage, out of range, overlong, nonexistent
# node): the program runs normally, with the defaults, and stderr has exactly one warning line,
# prefixed "numaheap[PROG:PID]: ", that names the variable and shows the value. Then secure
# execution (a setgid copy): every setting ignored, silently.
# usage: bad_env.sh CONFIG_PROBE ENGINE (the engine built in: numaheap or jemalloc)
set -uo pipefail
probe=$1
engine=${2:-numaheap}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
baseline=$(env -u NUMAHEAP_POLICY "$probe" 2>"$work/err0") || { echo "baseline failed"; exit 1; }
[[ -s $work/err0 ]] && { echo "baseline wrote to stderr:"; cat "$work/err0"; exit 1; }
long=$(head -c 5000 /dev/zero | tr '\0' 7)

check() { # check VAR VALUE
    local out rc lines
    out=$(env "$1=$2" "$probe" 2>"$work/err")
    rc=$?
    lines=$(wc -l <"$work/err")
    local shown=${2:0:20}
    if [[ $rc -ne 0 || "$out" != "$baseline" || $lines -ne 1 ]] ||
        ! grep -qE "^numaheap\[config_probe:[0-9]+\]: warning: $1='" "$work/err" || ! grep -qF -- "$shown" "$work/err"; then
        echo "FAIL $1='${2:0:40}': rc=$rc lines=$lines out='$out'"
        cat "$work/err"
        fail=1
    fi
}

for v in NUMAHEAP_STRICT NUMAHEAP_STATS NUMAHEAP_VERBOSE NUMAHEAP_EXPLICIT_COMMIT NUMAHEAP_MIGRATE_ON_MOVE; do
    for x in "" garbage 2 -1 "$long"; do check $v "$x"; done
done
for x in "" garbage 65 -1 99999999999999999999 "$long" 4x; do check NUMAHEAP_ARENAS_PER_NODE "$x"; done
for x in "" garbage 0 -1 1000 4095 2T 99999999999999999999K "$long" 12Q; do
    check NUMAHEAP_LARGE_THRESHOLD "$x"
done
for x in "" garbage 512M 3G 32T "$long"; do check NUMAHEAP_REGION_SIZE "$x"; done
for x in "" garbage 0 1001 -4 "$long"; do check NUMAHEAP_REROUTE_CHECKS "$x"; done
# the repairer's interval: milliseconds (or with ms/s), 0/off, from 10 ms to an hour
for x in "" garbage 5 9ms -1 3600001 3601s 2h ms s 1.5s 10x on 99999999999999999999 "$long"; do
    check NUMAHEAP_REPAIR "$x"
done
for x in "" garbage 0 -1 16777217 "$long" 4K; do check NUMAHEAP_REPAIR_PAGES "$x"; done
# the cpuset check's interval: as the repairer's, from 1 ms (0/off: never)
for x in "" garbage -1 3600001 3601s 2h ms 1.5s 10x "$long"; do check NUMAHEAP_CPUSET_CHECK "$x"; done
for x in "" garbage bind: bind:7 bind:0-9 interleave:1023 bind:0/static/relative local:0 \
    preferred/static "bind:99999999999999" bind:0/statik bind:0/STATIC bind:0/ "$long"; do
    check NUMAHEAP_POLICY "$x"
done
for x in "" garbage bind:0 local interleave:7 weighted:0=0 weighted:0=300 "$long"; do
    check NUMAHEAP_LARGE_POLICY "$x"
done
check NUMAHEAP_NO_SUCH_SETTING 1
# NUMAHEAP_STATS=PATH: a path too long, and one that cannot be written (reported at exit)
check NUMAHEAP_STATS "/tmp/$(head -c 300 /dev/zero | tr '\0' x)"
check NUMAHEAP_STATS /nonexistent-dir/stats.%p
# NUMAHEAP_JE is the jemalloc engine's own MALLOC_CONF: under any other engine, one line
if [[ $engine != jemalloc ]]; then
    check NUMAHEAP_JE abort_conf:true
    grep -q "only to the jemalloc engine" "$work/err" || { echo "FAIL NUMAHEAP_JE: $(cat "$work/err")"; fail=1; }
else
    # numaheap checks it, so no line of jemalloc's own ("<jemalloc>: ...") may appear: check()
    # counts exactly one line, and the reason must be ours
    for x in "" foo foo, narenas:abc narenas:0 narenas:-2 narenas:4, ,narenas:4 narenas: \
        tcache:maybe abort_conf:1 thp:sometimes dirty_decay_ms:-2 dirty_decay_ms:x no_such_key:1 \
        "narenas:4,,tcache:true" "na-renas:4" "$long"; do
        check NUMAHEAP_JE "$x"
        grep -q "<jemalloc>" "$work/err" && { echo "FAIL NUMAHEAP_JE='$x': jemalloc spoke"; fail=1; }
    done
    out=$(env NUMAHEAP_JE=narenas:abc "$probe" 2>&1 >/dev/null)
    [[ $out == *"NUMAHEAP_JE='narenas:abc' ignored (narenas:abc: expected a number"*"; using the default" ]] ||
        { echo "FAIL NUMAHEAP_JE=narenas:abc reason: $out"; fail=1; }
    # good text reaches jemalloc (its stats at exit show the option) and prints nothing else
    out=$(env NUMAHEAP_JE='narenas:3,dirty_decay_ms:-1,thp:never,stats_print:true' "$probe" 2>&1 >/dev/null)
    [[ $out == *"opt.narenas: 3"* && $out == *"opt.dirty_decay_ms: -1"* && $out != *"<jemalloc>"* &&
        $out != *"warning"* ]] || { echo "FAIL NUMAHEAP_JE good text not applied: ${out:0:300}"; fail=1; }
    # jemalloc no longer reads the variable itself: a bad value gives our line only, and
    # MALLOC_CONF (a host jemalloc's) never reaches ours
    out=$(env MALLOC_CONF=stats_print:true "$probe" 2>&1 >/dev/null)
    [[ -z $out ]] || { echo "FAIL MALLOC_CONF reached the embedded jemalloc: ${out:0:200}"; fail=1; }
fi
# several bad settings at once: one line each
out=$(env NUMAHEAP_STRICT=x NUMAHEAP_POLICY=bind:7 NUMAHEAP_STATS=maybe "$probe" 2>"$work/err")
if [[ "$out" != "$baseline" || $(wc -l <"$work/err") -ne 3 ]]; then
    echo "FAIL combined: $(cat "$work/err")"
    fail=1
fi

# Secure execution: a setgid copy (egid != rgid gives AT_SECURE) ignores every setting.
cp "$probe" "$work/secure_probe"
chgrp nogroup "$work/secure_probe" && chmod g+s "$work/secure_probe"
out=$(env NUMAHEAP_POLICY=bind:7 NUMAHEAP_STATS=1 NUMAHEAP_VERBOSE=1 NUMAHEAP_ARENAS_PER_NODE=1 \
    NUMAHEAP_LARGE_THRESHOLD=4K "$work/secure_probe" 2>"$work/err")
if [[ $? -ne 0 || "$out" != "$baseline" || -s $work/err ]]; then
    echo "FAIL secure execution: out='$out' err='$(cat "$work/err")'"
    fail=1
fi
# ...while the same settings do act on the ordinary copy
out=$(env NUMAHEAP_ARENAS_PER_NODE=1 NUMAHEAP_LARGE_THRESHOLD=4K "$probe" 2>/dev/null)
[[ "$out" == *"arenas=1 "* && "$out" == *"large32M=1"* ]] || { echo "FAIL settings not applied: $out"; fail=1; }
[[ $baseline == *" repair_ms=0 repair_pages=16384 migrate_on_move=0"* ]] || { echo "FAIL repair defaults: $baseline"; fail=1; }
for pair in 200ms=200 2s=2000 250=250 10=10 off=0 0=0 3600s=3600000; do
    out=$(env NUMAHEAP_REPAIR="${pair%%=*}" NUMAHEAP_REPAIR_PAGES=64 NUMAHEAP_MIGRATE_ON_MOVE=1 "$probe" 2>"$work/err")
    [[ $out == *" repair_ms=${pair#*=} repair_pages=64 migrate_on_move=1"* && ! -s $work/err ]] ||
        { echo "FAIL NUMAHEAP_REPAIR=${pair%%=*}: $out $(cat "$work/err")"; fail=1; }
done

[[ $fail -eq 0 ]] && echo "bad settings: every case one warning, defaults kept; secure mode ignores all"
exit $fail
