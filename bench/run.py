#!/usr/bin/env python3
"""Runs bench/nh_bench once per allocator per round, allocators interleaved (A B C, A B C, ...),
so drift on a noisy machine hits them alike; reports the median real time of each workload per
allocator and its ratio to glibc, as a table on stdout, a CSV and (with gnuplot) a PNG chart.

usage: bench/run.py --bench build/bench/nh_bench --numaheap build/libnumaheap.so
                    [--rounds 3] [--allocators glibc,jemalloc,numaheap] [--filter REGEX]
                    [--min-time 0.2] [--csv out.csv] [--png out.png]
"""
import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

LIBDIR = "/usr/lib/x86_64-linux-gnu"
KNOWN = {
    "glibc": None,
    "jemalloc": f"{LIBDIR}/libjemalloc.so.2",
    "tcmalloc": f"{LIBDIR}/libtcmalloc_minimal.so.4",
    "mimalloc": f"{LIBDIR}/libmimalloc.so.2",
}


def run_once(bench, preload, flt, min_time):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [bench, f"--benchmark_min_time={min_time}", f"--benchmark_out={out.name}",
               "--benchmark_out_format=json", "--benchmark_format=console"]
        if flt:
            cmd.append(f"--benchmark_filter={flt}")
        r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode:
            sys.exit(f"{' '.join(cmd)} failed ({r.returncode}) with LD_PRELOAD={preload}:\n{r.stderr}")
        data = json.load(open(out.name))
    return {b["name"]: b["real_time"] for b in data["benchmarks"] if b.get("run_type") == "iteration"}


def short(name):
    # "mixed/small/1024/process_time/real_time/threads:2" -> "mixed/small/1024 t2"
    parts = [p for p in name.split("/") if p not in ("process_time", "real_time")]
    threads = parts[-1].split(":")[1] if parts[-1].startswith("threads:") else "1"
    return "/".join(p for p in parts if not p.startswith("threads:")) + f" t{threads}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--numaheap", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--allocators", default="glibc,jemalloc,numaheap")
    ap.add_argument("--filter", default="")
    ap.add_argument("--min-time", default="0.2")
    ap.add_argument("--csv")
    ap.add_argument("--png")
    a = ap.parse_args()

    libs = dict(KNOWN, numaheap=os.path.abspath(a.numaheap))
    allocs = a.allocators.split(",")
    for name in allocs:
        if name not in libs:
            sys.exit(f"unknown allocator {name}")
        if libs[name] and not os.path.exists(libs[name]):
            sys.exit(f"{name}: {libs[name]} not found (scripts/deps.sh installs it)")

    times = {}  # (allocator, benchmark) -> [ns, ...]
    order = []
    for r in range(a.rounds):
        for name in allocs:
            print(f"[round {r + 1}/{a.rounds}] {name} ...", file=sys.stderr, flush=True)
            for bench, t in run_once(a.bench, libs[name], a.filter, a.min_time).items():
                if bench not in order:
                    order.append(bench)
                times.setdefault((name, bench), []).append(t)

    med = {k: statistics.median(v) for k, v in times.items()}
    width = max(len(short(b)) for b in order) + 2
    head = f"{'workload':<{width}}" + "".join(f"{n + ' ns':>16}" for n in allocs)
    ratios = [n for n in allocs if n != "glibc"]
    head += "".join(f"{n + '/glibc':>18}" for n in ratios)
    if "jemalloc" in allocs and "numaheap" in allocs:
        head += f"{'numaheap/jemalloc':>19}"
    print(head)
    print("-" * len(head))
    rows = []
    for b in order:
        line = f"{short(b):<{width}}" + "".join(f"{med.get((n, b), float('nan')):>16.0f}" for n in allocs)
        row = {"workload": short(b)}
        for n in allocs:
            row[f"{n}_ns"] = round(med.get((n, b), float("nan")), 1)
        base = med.get(("glibc", b))
        for n in ratios:
            v = med.get((n, b)) / base if base else float("nan")
            row[f"{n}_vs_glibc"] = round(v, 3)
            line += f"{v:>18.2f}"
        if "jemalloc" in allocs and "numaheap" in allocs:
            v = med[("numaheap", b)] / med[("jemalloc", b)]
            row["numaheap_vs_jemalloc"] = round(v, 3)
            line += f"{v:>19.2f}"
        print(line)
        rows.append(row)
    print(f"\nmedian of {a.rounds} interleaved rounds; time per batch (lower is better); "
          f"ratios < 1 mean faster than the reference")

    if a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            w.writeheader()
            w.writerows(rows)
    if a.png and shutil.which("gnuplot") and ratios:
        with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as d:
            d.write("workload " + " ".join(ratios) + "\n")
            for row in rows:
                d.write('"' + row["workload"] + '" ' +
                        " ".join(str(row[f"{n}_vs_glibc"]) for n in ratios) + "\n")
        plot = (f"set terminal png size 1200,600; set output '{a.png}';"
                "set style data histogram; set style histogram clustered; set style fill solid;"
                "set ylabel 'time relative to glibc (lower is better)'; set xtics rotate by -30;"
                "set key top left; set grid y; set yrange [0:*];"
                f"plot for [i=2:{len(ratios) + 1}] '{d.name}' using i:xtic(1) title columnhead")
        subprocess.run(["gnuplot", "-e", plot], check=True)
        os.unlink(d.name)


if __name__ == "__main__":
    main()
