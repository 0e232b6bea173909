#!/usr/bin/env bash
# numaheap repair, and stat --exact, against processes with numaheap regions: the fake heap
# (fake_named_heap: 16 pages of a region for node 1023, misplaced and impossible to move home,
# so repair reports them as not moved and exits 3), --dry-run, --json, lookup by name, a
# process without a heap, the permission error as an unprivileged user, and a real program
# under the library (LIBRARY; regions found by name or by the library's region table).
# Usage: cli_repair.sh NUMAHEAP FAKE_NAMED_HEAP [LIBRARY]
set -uo pipefail
nh=$1 fake=$2 lib=${3:-}
fail() { echo "cli_repair: $*" >&2; exit 1; }
said=$(mktemp)
"$fake" nh_fakerepair >"$said" &
pid=$!
others=()
trap 'kill $pid "${others[@]}" 2>/dev/null; rm -f "$said"' EXIT
line=
for _ in $(seq 100); do
    IFS= read -r line <"$said" && [[ -n $line ]] && break
    sleep 0.05
done
[[ $line == unsupported ]] && { echo "cli_repair: cannot mark regions: skipped"; exit 77; }
[[ $line == ready ]] || fail "fake heap said '$line'"
row() { # row OUTPUT NODE AUDITED MISPLACED MOVED FAILED: the node's line of the table
    grep -qE "^  $2 +$3 +$4 +$5 +$6( |$)" <<<"$1" || fail "node $2: want $3 $4 $5 $6 in: $1"
}

# --dry-run: counts, moves nothing, exit 0
out=$("$nh" repair --dry-run "$pid"); rc=$?
printf '%s\n' "$out"
[[ $rc -eq 0 ]] || fail "repair --dry-run: exit $rc"
grep -qE "^PID $pid \(nh_fakerepair\): regions from (names|region table): 80 pages audited, 16 misplaced, none moved \(dry run\)$" <<<"$out" ||
    fail "dry run: no summary line"
row "$out" 0 64 0 0 0
row "$out" 1023 16 16 0 0

# repair: node 1023 has no memory, so its 16 pages stay where they are, with the reason; exit 3
out=$("$nh" repair "$pid" 2>&1); rc=$?
printf '%s\n' "$out"
[[ $rc -eq 3 ]] || fail "repair of unmovable pages: exit $rc, not 3"
grep -qE "80 pages audited, 16 misplaced, 0 moved, 16 not moved$" <<<"$out" || fail "no summary line"
row "$out" 0 64 0 0 0
row "$out" 1023 16 16 0 16
grep -qE '^  1023 .* 16   [A-Z][a-z]' <<<"$out" || fail "node 1023: no reason given"
# the kernel still has every page where it was: 16 on a node other than their region's
exact=$("$nh" stat --exact --json "$pid") || fail "stat --exact failed"
[[ $(jq '.processes[0].misplaced_pages' <<<"$exact") == 16 ]] || fail "stat --exact: $exact"
[[ $(jq '.processes[0].misplaced_exact' <<<"$exact") == true ]] || fail "stat --exact: not exact"

# --json, by name: valid JSON with the same figures
json=$("$nh" repair --json nh_fakerepair); rc=$?
printf '%s\n' "$json"
[[ $rc -eq 3 ]] || fail "repair --json: exit $rc, not 3"
jq -e --argjson pid "$pid" '.dry_run == false and (.processes | length) == 1 and
    .processes[0].pid == $pid and .processes[0].name == "nh_fakerepair" and
    .processes[0].total == {"audited": 80, "misplaced": 16, "moved": 0, "failed": 16} and
    .processes[0].nodes["0"].misplaced == 0 and .processes[0].nodes["0"].error == null and
    .processes[0].nodes["1023"].failed == 16 and (.processes[0].nodes["1023"].error | length) > 0' \
    <<<"$json" >/dev/null || fail "repair --json: unexpected document"
json=$("$nh" repair --json --dry-run "$pid") || fail "repair --json --dry-run failed"
jq -e '.dry_run == true and .processes[0].total.moved == 0 and .processes[0].total.failed == 0' \
    <<<"$json" >/dev/null || fail "repair --json --dry-run: $json"

# a process without numaheap's regions: this shell; one line, exit 1
err=$("$nh" repair $$ 2>&1 >/dev/null); rc=$?
[[ $rc -eq 1 && $err == "numaheap repair: process $$: no numaheap heap (no named regions, no region table)" ]] ||
    fail "repair of a process without a heap: exit $rc, '$err'"

# permission: an unprivileged user may not read or move this (root's) process's pages
if [[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null; then
    as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)
    for args in "repair $pid" "repair --dry-run $pid" "stat --exact $pid"; do
        # shellcheck disable=SC2086
        err=$("${as_nobody[@]}" "$nh" $args 2>&1 >/dev/null); rc=$?
        [[ $rc -eq 1 && $(wc -l <<<"$err") -eq 1 && $err == *"process $pid: not permitted (E"*"ptrace read access"*CAP_SYS_NICE* ]] ||
            fail "$args as nobody: exit $rc, '$err'"
    done
    echo "cli_repair: permission error checked as nobody: $err"
else
    echo "cli_repair: SKIPPED the permission check (needs root and setpriv to become nobody)"
fi

# a real program under the library: its regions are found (by name, or by the region table
# where this kernel cannot name mappings) and audited
if [[ -n $lib ]]; then
    LD_PRELOAD=$lib sleep 30 &
    others+=($!)
    real=$!
    for _ in $(seq 100); do
        grep -qE 'numaheap|memfd:numaheap-regions' "/proc/$real/maps" 2>/dev/null && break
        sleep 0.05
    done
    json=$("$nh" stat --json "$real") || fail "stat of a program under numaheap failed"
    printf '%s\n' "$json"
    jq -e '.processes[0].heap_known == true' <<<"$json" >/dev/null || fail "heap of $real not found"
    src=$(jq -r '.processes[0].regions_from' <<<"$json")
    grep -q '\[anon:numaheap' "/proc/$real/maps" && want=names || want="region table"
    [[ $src == "$want" ]] || fail "regions from '$src', want '$want'"
    out=$("$nh" repair "$real") || fail "repair of a program under numaheap: exit $?"
    printf '%s\n' "$out"
    grep -qE "regions from $want: [1-9][0-9]* pages audited, 0 misplaced, 0 moved, 0 not moved$" <<<"$out" ||
        fail "repair of $real: $out"
fi
echo "cli_repair: ok"
