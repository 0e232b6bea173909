#!/usr/bin/env bash
# Each misuse must stop the program (SIGABRT, 134, with one numaheap line naming the fault; a
# write through malloc(0)'s pointer: SIGSEGV, 139) and print nothing after it.
set -u
prog=$1
fail=0
expect() { # mode, exit status, message
    out=$("$prog" "$1" 2>"$tmp")
    rc=$?
    if [[ $rc -ne $2 || $out == *"NOT STOPPED"* ]] || { [[ -n $3 ]] && ! grep -qE "$3" "$tmp"; }; then
        echo "FAIL $1: exit $rc, stdout '$out', stderr '$(cat "$tmp")'"
        fail=1
    fi
}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$prog" ok >/dev/null || { echo "FAIL ok: exit $?"; fail=1; }
expect double-free 134 "double free detected"
expect double-free-remote 134 "double free detected"
expect double-free-bitmap 134 "double free detected"
expect double-free-bitmap-remote 134 "double free detected"
expect double-free-bitmap-remote-owner 134 "double free detected"
expect double-free-bitmap-flushed 134 "double free detected"
expect write-after-free-large 134 "written after free|invariant broken"
expect double-free-huge 134 "invalid pointer"
expect interior 134 "free\(\): invalid pointer"
expect unaligned 134 "free\(\): invalid pointer"
expect stack 134 "not allocated by numaheap"
expect never-allocated 134 "double free detected"
expect overflow-link 134 "heap corruption|invariant broken" # the NH_DEBUG build finds it first
expect zero-size-write 139 ""
expect realloc-invalid 134 "realloc\(\): invalid pointer"
[[ $fail -eq 0 ]] && echo "hardening: every misuse stopped with its message"
exit $fail
