#!/usr/bin/env bash
# Real programs under LD_PRELOAD=libnumaheap.so must produce exactly what they produce with
# glibc malloc: a dict/list-heavy python3 script and sort(1) of a large file.
set -euo pipefail
lib=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/heavy.py" <<'PY'
import random
random.seed(7)
d = {}
for i in range(300000):
    d[str(random.random())] = [i] * random.randint(0, 12)
keys = sorted(d)
total = sum(len(v) for v in d.values())
sets = [set(range(i % 100)) for i in range(20000)]
text = "".join(chr(65 + (i * 7) % 26) for i in range(200000))
parts = text.split("A")
print(len(keys), total, keys[12345], sum(len(s) for s in sets), len(parts), max(map(len, parts)))
PY
python3 "$work/heavy.py" > "$work/py.glibc"
LD_PRELOAD=$lib python3 "$work/heavy.py" > "$work/py.nh"
cmp "$work/py.glibc" "$work/py.nh"
seq 1 1500000 | awk 'BEGIN{srand(3)} {printf "%08d %s\n", int(rand()*1e8), $1}' > "$work/big.txt"
sort "$work/big.txt" > "$work/sort.glibc"
LD_PRELOAD=$lib sort "$work/big.txt" > "$work/sort.nh"
cmp "$work/sort.glibc" "$work/sort.nh"
LD_PRELOAD=$lib sort -S 50% --parallel=2 "$work/big.txt" > "$work/sort2.nh"
cmp "$work/sort.glibc" "$work/sort2.nh"
echo "real programs: python3 and sort outputs identical to glibc"
