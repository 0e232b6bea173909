#!/usr/bin/env bash
# numaheap stat against a process with numaheap regions (fake_named_heap: named, or listed in a
# region table where the kernel cannot name mappings): the text table, --json figures (heap
# bytes, misplaced pages), lookup by name, and a process without regions ("heap: unknown").
# Usage: cli_stat.sh NUMAHEAP FAKE_NAMED_HEAP
set -uo pipefail
nh=$1 fake=$2
fail() { echo "cli_stat: $*" >&2; exit 1; }
# The helper prints one line (ready or unsupported) and, when ready, waits to be killed. Its
# output goes to a file rather than a coprocess: a helper that exits at once would take the
# coprocess's descriptors with it before they could be read.
said=$(mktemp)
"$fake" >"$said" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$said"' EXIT
line=
for _ in $(seq 100); do
    IFS= read -r line <"$said" && [[ -n $line ]] && break
    sleep 0.05
done
[[ $line == unsupported ]] && { echo "cli_stat: cannot mark regions: skipped"; exit 77; }
[[ $line == ready ]] || fail "fake heap said '$line'"
page=$(getconf PAGESIZE)

out=$("$nh" stat "$pid") || fail "stat $pid failed"
printf '%s\n' "$out"
grep -q "^Per-node process memory usage (in MBs) for PID $pid (nh_fakeheap)" <<<"$out" || fail "no header"
grep -qE '^Total +[0-9.]+' <<<"$out" || fail "no Total row"
grep -qE '^Heap \(numaheap\) +[0-9.]+' <<<"$out" || fail "no heap row"
grep -qE '^Misplaced \(pages\) .* 16$' <<<"$out" || fail "misplaced pages are not 16"

json=$("$nh" stat --json nh_fakeheap) || fail "stat --json nh_fakeheap failed"
printf '%s\n' "$json"
grep -q "\"pid\": *$pid," <<<"$json" || fail "json lacks pid $pid"
grep -q '"heap_known": *true' <<<"$json" || fail "json: heap not known"
grep -q "\"heap_bytes\": *$((88 * page)), *\"misplaced_pages\": *16," <<<"$json" ||
    fail "json: heap bytes not $((88 * page)) or misplaced pages not 16"

# A process without numaheap's regions: this shell.
out=$("$nh" stat $$) || fail "stat $$ failed"
grep -qx "heap: unknown (no named regions, no region table)" <<<"$out" || fail "no heap: unknown line"
json=$("$nh" stat --json $$) || fail "stat --json $$ failed"
grep -q '"heap_known": *false' <<<"$json" || fail "json: heap_known not false"
echo "cli_stat: ok"
