#!/usr/bin/env bash
# NUMAHEAP_STATS in programs that close stderr before exit (sort and ls do, through gnulib's
# close_stdout): the report still arrives, its first line naming the program and PID.
# usage: stats_report.sh LIBNUMAHEAP stderr|file|bad
#   stderr  NUMAHEAP_STATS=1: the report on stderr
#   file    NUMAHEAP_STATS=DIR/stats.%p: the report in DIR/stats.PID, nothing on stderr
#   bad     NUMAHEAP_STATS=maybe: exactly one warning line naming the variable, no report
set -uo pipefail
lib=$1 mode=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL ($mode): $*"; for f in "$work"/*; do echo "--- $f"; cat "$f"; done; exit 1; }

run() { # run STATS_VALUE PROGRAM ARGS...: stdin two lines, stdout/stderr/pid into $work
    local value=$1
    shift
    printf 'b\na\n' | sh -c 'echo $$ >"$0/pid"; l=$1 v=$2; shift 2; exec env LD_PRELOAD="$l" NUMAHEAP_STATS="$v" "$@"' \
        "$work" "$lib" "$value" "$@" >"$work/out" 2>"$work/err"
}

case $mode in
stderr)
    for prog in sort ls; do
        if [[ $prog == sort ]]; then run 1 sort; else run 1 ls /; fi || fail "$prog exited $?"
        pid=$(cat "$work/pid")
        [[ $prog != sort || $(cat "$work/out") == $'a\nb' ]] || fail "sort output changed"
        head -1 "$work/err" | grep -qx "numaheap\[$prog:$pid\]: per-node statistics (bytes)" ||
            fail "$prog: no report naming $prog:$pid on stderr"
        grep -qE '^ +0 +[0-9]+' "$work/err" || fail "$prog: no node 0 row"
    done
    ;;
file)
    run "$work/stats.%p" sort || fail "sort exited $?"
    pid=$(cat "$work/pid")
    [[ -s $work/err ]] && fail "stderr not empty"
    [[ -f $work/stats.$pid ]] || fail "no file stats.$pid"
    head -1 "$work/stats.$pid" | grep -qx "numaheap\[sort:$pid\]: per-node statistics (bytes)" ||
        fail "first line does not name sort:$pid"
    grep -qE '^ +0 +[0-9]+' "$work/stats.$pid" || fail "no node 0 row"
    ;;
bad)
    run maybe sort || fail "sort exited $?"
    pid=$(cat "$work/pid")
    [[ $(wc -l <"$work/err") -eq 1 ]] || fail "expected exactly one line on stderr"
    grep -qx "numaheap\[sort:$pid\]: warning: NUMAHEAP_STATS='maybe' ignored (.*); using the default" \
        "$work/err" || fail "the line does not name NUMAHEAP_STATS and its value"
    ;;
*) echo "usage: $0 LIB stderr|file|bad"; exit 2 ;;
esac
echo "stats report ($mode): ok"
