#!/usr/bin/python3
"""Formats the results of tools/bench_compare.sh as one table.

    table.py WORKDIR      reads WORKDIR/{times,roof,macs}.tsv

times.tsv: model size threads engine median_ms cpu_ms maxrss_kb (one line per process run);
roof.tsv: threads gflops; macs.tsv: model size macs.
The time of an engine is the median over its processes of their per-process medians; its CPU
time the median of their mean CPU time per run.
"""
import os
import statistics
import sys
from collections import defaultdict

ENGINES = ("repvit", "ort", "torch")


def rows(path):
    with open(path) as f:
        return [ln.split() for ln in f if ln.strip()]


def main(workdir):
    times, cpus, rss = defaultdict(list), defaultdict(list), defaultdict(int)
    for model, size, thr, engine, ms, cpu, kb in rows(os.path.join(workdir, "times.tsv")):
        times[model, size, thr, engine].append(float(ms))
        cpus[model, size, thr, engine].append(float(cpu))
        rss[model, size, thr, engine] = max(rss[model, size, thr, engine], int(kb))
    roof = {thr: float(gf) for thr, gf in rows(os.path.join(workdir, "roof.tsv"))}
    macs = {(m, s): float(n) for m, s, n in rows(os.path.join(workdir, "macs.tsv"))}
    configs = sorted({k[:3] for k in times}, key=lambda k: (k[0], -int(k[1].split("x")[1]), int(k[2])))
    head = (f"{'model':8} {'input':8} {'thr':>3} | {'repvit':>7} {'ort':>7} {'torch':>7} {'roof':>7} ms | "
            f"{'repvit':>11} {'ort':>11} {'torch':>11} GFLOP/s (% roof) | "
            f"{'repvit':>6} {'ort':>6} {'torch':>6} MiB | repvit/ort | "
            f"{'repvit':>7} {'ort':>7} {'torch':>7} CPU ms | repvit/ort")
    print(head)
    print("-" * len(head))
    for model, size, thr in configs:
        flop = 2 * macs[model, size]
        med = {e: statistics.median(times[model, size, thr, e]) if times[model, size, thr, e] else None
               for e in ENGINES}
        roof_gf = roof.get(thr)
        ms = " ".join(f"{med[e]:7.1f}" if med[e] else f"{'-':>7}" for e in ENGINES)
        ms += f" {flop / roof_gf / 1e6:7.1f}" if roof_gf else f" {'-':>7}"
        gf = " ".join(f"{flop / med[e] / 1e6:5.1f} ({100 * flop / med[e] / 1e6 / roof_gf:3.0f}%)"
                      if med[e] and roof_gf else f"{'-':>11}" for e in ENGINES)
        mib = " ".join(f"{rss[model, size, thr, e] / 1024:6.0f}" if med[e] else f"{'-':>6}" for e in ENGINES)
        ratio = f"{med['repvit'] / med['ort']:.2f}" if med["repvit"] and med["ort"] else "-"
        cpu = {e: statistics.median(cpus[model, size, thr, e]) if cpus[model, size, thr, e] else None
               for e in ENGINES}
        cms = " ".join(f"{cpu[e]:7.1f}" if cpu[e] else f"{'-':>7}" for e in ENGINES)
        cratio = f"{cpu['repvit'] / cpu['ort']:.2f}" if cpu["repvit"] and cpu["ort"] else "-"
        print(f"{model:8} {size:8} {thr:>3} | {ms} ms | {gf} | {mib} MiB | {ratio:>10} | {cms} CPU ms | {cratio}")
    n = {len(v) for v in times.values()}
    print(f"(median over {'/'.join(map(str, sorted(n)))} processes per cell, each the median of its timed runs; "
          "roof = OpenBLAS sgemm at that thread count; RSS = peak of one engine process)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
