#!/usr/bin/env bash
# Runs a command and checks how it ended: its exit status, how many lines it wrote to stderr,
# and what they say.
# Usage: cli_expect.sh STATUS LINES PATTERN... -- COMMAND [ARG...]
#   LINES    the exact number of stderr lines, or - for any
#   PATTERN  a fixed string some stderr line contains; with a leading '=', a whole line
set -uo pipefail
status=$1 lines=$2
shift 2
patterns=()
while [[ $# -gt 0 && $1 != -- ]]; do
    patterns+=("$1")
    shift
done
[[ $# -gt 1 ]] || { echo "cli_expect: missing -- COMMAND" >&2; exit 2; }
shift
err=$("$@" 2>&1 >/dev/null)
got=$?
ok=1
say() { echo "cli_expect: $*" >&2; ok=0; }
[[ $got == "$status" ]] || say "exit status $got, expected $status"
count=0
[[ -z $err ]] || count=$(printf '%s\n' "$err" | wc -l)
[[ $lines == - || $count == "$lines" ]] || say "$count stderr lines, expected $lines"
# here-strings, not pipes: under pipefail a grep -q that stops at the first match could fail a
# check that passed
for p in "${patterns[@]}"; do
    if [[ $p == =* ]]; then
        grep -qxF -- "${p#=}" <<<"$err" || say "no stderr line is '${p#=}'"
    else
        grep -qF -- "$p" <<<"$err" || say "stderr lacks '$p'"
    fi
done
if [[ $ok == 0 ]]; then
    printf 'command: %s\nstderr:\n%s\n' "$*" "$err" >&2
    exit 1
fi
