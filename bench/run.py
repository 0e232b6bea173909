#!/usr/bin/env python3
"""Runs bench/nh_bench once per allocator per round, allocators interleaved (A B C, A B C, ...),
so drift on a noisy machine hits them alike; reports the median real time of each workload per
allocator and its ratio to glibc, as a table on stdout, a CSV and (with gnuplot) a PNG chart.

usage: bench/run.py --bench build/bench/nh_bench --numaheap build/libnumaheap.so
                    [--numaheap-je build-je/libnumaheap.so]
                    [--rounds 3] [--allocators glibc,jemalloc,numaheap] [--filter REGEX]
                    [--min-time 0.2] [--csv out.csv] [--png out.png] [--extras]

numaheap is the library with numaheap's own engine; numaheap-je the same library built with the
jemalloc reference engine (-DNH_ENGINE=jemalloc), so the table shows what the engine buys.

--extras also measures, from the programs beside the benchmark binary: the node API against
libnuma and memkind (nh_node_api_bench), peak RSS of the mixed workload per allocator
(nh_rss_mixed), memory given back after freeing 90% of 200 000 objects (nh_trim_rss), and
instructions per malloc+free pair under callgrind (nh_fastpath, run with two counts so start-up
cancels); then checks the targets against the best of tcmalloc and mimalloc.
"""
import re
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
    ap.add_argument("--numaheap-je")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--allocators", default="glibc,jemalloc,numaheap")
    ap.add_argument("--filter", default="")
    ap.add_argument("--min-time", default="0.2")
    ap.add_argument("--csv")
    ap.add_argument("--png")
    ap.add_argument("--extras", action="store_true")
    a = ap.parse_args()

    libs = dict(KNOWN, numaheap=os.path.abspath(a.numaheap))
    if a.numaheap_je:
        libs["numaheap-je"] = os.path.abspath(a.numaheap_je)
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
    peers = [n for n in ("tcmalloc", "mimalloc") if n in allocs]
    if peers and "numaheap" in allocs:
        head += f"{'numaheap/best':>15}"
    if "numaheap-je" in allocs and "numaheap" in allocs:
        head += f"{'engine gain':>13}"
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
        if peers and "numaheap" in allocs:
            v = med[("numaheap", b)] / min(med[(n, b)] for n in peers)
            row["numaheap_vs_best"] = round(v, 3)
            line += f"{v:>15.2f}"
        if "numaheap-je" in allocs and "numaheap" in allocs:
            v = med[("numaheap-je", b)] / med[("numaheap", b)]
            row["engine_gain"] = round(v, 3)
            line += f"{v:>12.2f}x"
        print(line)
        rows.append(row)
    print(f"\nmedian of {a.rounds} interleaved rounds; time per batch (lower is better); "
          f"ratios < 1 mean faster than the reference; numaheap/best: against the faster of "
          f"tcmalloc and mimalloc; engine gain: numaheap-je's time over numaheap's")

    if a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            w.writeheader()
            w.writerows(rows)
    if a.extras:
        extras(a, libs, allocs, med, order)
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


def env_with(preload):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    return env


def callgrind_per_pair(prog, preload):
    counts = []
    for n in (200000, 400000):
        r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                            prog, str(n)], env=env_with(preload), capture_output=True, text=True)
        m = re.search(r"Collected : (\d+)", r.stderr)
        if not m:
            return None
        counts.append(int(m.group(1)))
    return (counts[1] - counts[0]) / 200000


def extras(a, libs, allocs, med, order):
    bindir = os.path.dirname(os.path.abspath(a.bench))
    print("\n-- explicit node API, 64-byte objects on node 0 (ns per alloc+free pair, median)")
    node = {}
    for r in range(a.rounds):
        print(f"[node api round {r + 1}/{a.rounds}]", file=sys.stderr, flush=True)
        for name, t in run_once(os.path.join(bindir, "nh_node_api_bench"), None, "", a.min_time).items():
            node.setdefault(name.split("/")[1], []).append(t / 256)
    nm = {k: statistics.median(v) for k, v in node.items()}
    for k, v in nm.items():
        print(f"  {k:<22}{v:>12.1f} ns   {v / nm['nh_malloc_onnode']:>8.1f}x numaheap")

    print("\n-- peak RSS, mixed workload (2 threads, 50 000 live objects of 16 B-4 KiB each, MiB)")
    rss = {}
    for r in range(a.rounds):
        print(f"[rss round {r + 1}/{a.rounds}]", file=sys.stderr, flush=True)
        for name in allocs:
            out = subprocess.run([os.path.join(bindir, "nh_rss_mixed")], env=env_with(libs[name]),
                                 capture_output=True, text=True, check=True).stdout
            rss.setdefault(name, []).append(int(out.split()[1]) / 1024)
    rm = {k: statistics.median(v) for k, v in rss.items()}
    low = min(rm[k] for k in allocs if not k.startswith("numaheap"))
    for k in allocs:
        print(f"  {k:<22}{rm[k]:>10.1f} MiB   {rm[k] / low:.2f}x the lowest peer")

    print("\n-- memory given back: 200 000 x 1 KiB, 90% freed (resident MiB: after the frees, "
          "after malloc_trim(0), after 3 s without trim)")
    trim = {}
    for name in allocs:
        t = subprocess.run([os.path.join(bindir, "nh_trim_rss")], env=env_with(libs[name]),
                           capture_output=True, text=True, check=True).stdout.split()
        d = subprocess.run([os.path.join(bindir, "nh_trim_rss"), "decay"], env=env_with(libs[name]),
                           capture_output=True, text=True, check=True).stdout.split()
        trim[name] = (int(t[3]) / 1024, int(t[5]) / 1024, int(d[5]) / 1024)
        print(f"  {name:<22}{trim[name][0]:>8.1f}{trim[name][1]:>10.1f}{trim[name][2]:>10.1f}")

    ipp = {}
    if shutil.which("valgrind"):
        print("\n-- instructions per malloc(64)+free pair, callgrind (loop included)")
        for name in allocs:
            if name == "glibc":
                continue
            ipp[name] = callgrind_per_pair(os.path.join(bindir, "nh_fastpath"), libs[name])
            print(f"  {name:<22}{ipp[name]:>10.1f}")

    print("\n-- targets")
    def check(label, ok, detail):
        print(f"  [{'met' if ok else 'MISSED'}] {label}: {detail}")
    peers = [n for n in ("tcmalloc", "mimalloc") if n in allocs]
    if peers:
        ratio = {b: med[("numaheap", b)] / min(med[(n, b)] for n in peers) for b in order}
        worst = max(order, key=lambda b: ratio[b])
        check("every workload <= 1.0x the faster of tcmalloc and mimalloc", ratio[worst] <= 1.0,
              f"worst {short(worst)} {ratio[worst]:.2f}x; over 1.0x: " +
              (", ".join(f"{short(b)} {ratio[b]:.2f}x" for b in order if ratio[b] > 1.0) or "none"))
        g = statistics.geometric_mean(ratio.values())
        check("geomean <= 0.9x the best peer", g <= 0.9, f"{g:.3f}x")
    churn = [b for b in order if b.startswith("thread-churn")]
    if "glibc" in allocs and churn:
        v = med[("numaheap", churn[0])] / med[("glibc", churn[0])]
        check("thread churn <= glibc", v <= 1.0, f"{v:.2f}x")
    v = rm["numaheap"] / low
    check("peak RSS <= 1.1x the lowest peer", v <= 1.1, f"{v:.2f}x")
    if "glibc" in trim:
        v = trim["numaheap"][1] / trim["glibc"][1]
        check("RSS after malloc_trim(0) <= 1.1x glibc's", v <= 1.1, f"{v:.2f}x")
    if ipp.get("mimalloc"):
        v = ipp["numaheap"] / ipp["mimalloc"]
        check("instructions per malloc(64)+free <= mimalloc's", v <= 1.0,
              f"{ipp['numaheap']:.1f} vs {ipp['mimalloc']:.1f}")
    v = nm["numa_alloc_onnode"] / nm["nh_malloc_onnode"]
    check("node API >= 50x numa_alloc_onnode", v >= 50, f"{v:.0f}x")


if __name__ == "__main__":
    main()
