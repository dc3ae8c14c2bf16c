#!/usr/bin/python3
"""Formats the results of tools/bench_compare.sh as one table.

    table.py WORKDIR      reads WORKDIR/{times,roof,macs}.tsv

times.tsv: model size threads engine median_ms cpu_ms maxrss_kb (one line per process run;
engine repvit-bf16-fallback: repvit-bench --precision bf16 ran f32, the CPU lacks AVX512-BF16);
roof.tsv: threads gflops; macs.tsv: model size macs.
The time of an engine is the median over its processes of their per-process medians; its CPU
time the median of their mean CPU time per run.
"""
import os
import statistics
import sys
from collections import defaultdict

ENGINES = ("repvit", "repvit-bf16", "ort", "torch")
LABELS = ("repvit", "bf16", "ort", "torch")


def rows(path):
    with open(path) as f:
        return [ln.split() for ln in f if ln.strip()]


def main(workdir):
    times, cpus, rss = defaultdict(list), defaultdict(list), defaultdict(int)
    fallback = False
    for model, size, thr, engine, ms, cpu, kb in rows(os.path.join(workdir, "times.tsv")):
        if engine == "repvit-bf16-fallback":
            engine, fallback = "repvit-bf16", True
        times[model, size, thr, engine].append(float(ms))
        cpus[model, size, thr, engine].append(float(cpu))
        rss[model, size, thr, engine] = max(rss[model, size, thr, engine], int(kb))
    roof = {thr: float(gf) for thr, gf in rows(os.path.join(workdir, "roof.tsv"))}
    macs = {(m, s): float(n) for m, s, n in rows(os.path.join(workdir, "macs.tsv"))}
    configs = sorted({k[:3] for k in times}, key=lambda k: (k[0], -int(k[1].split("x")[1]), int(k[2])))
    head = (f"{'model':8} {'input':8} {'thr':>3} | {' '.join(f'{e:>7}' for e in LABELS)} {'roof':>7} ms | "
            f"{' '.join(f'{e:>11}' for e in LABELS)} GFLOP/s (% roof) | "
            f"{' '.join(f'{e:>6}' for e in LABELS)} MiB | repvit/ort bf16/ort | "
            f"{' '.join(f'{e:>7}' for e in LABELS)} CPU ms | repvit/ort bf16/ort")
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
        ratio = " ".join(f"{med[e] / med['ort']:.2f}" if med[e] and med["ort"] else "-"
                         for e in ("repvit", "repvit-bf16"))
        cpu = {e: statistics.median(cpus[model, size, thr, e]) if cpus[model, size, thr, e] else None
               for e in ENGINES}
        cms = " ".join(f"{cpu[e]:7.1f}" if cpu[e] else f"{'-':>7}" for e in ENGINES)
        cratio = " ".join(f"{cpu[e] / cpu['ort']:.2f}" if cpu[e] and cpu["ort"] else "-"
                          for e in ("repvit", "repvit-bf16"))
        print(f"{model:8} {size:8} {thr:>3} | {ms} ms | {gf} | {mib} MiB | {ratio:>20} | {cms} CPU ms | {cratio}")
    n = {len(v) for v in times.values()}
    print(f"(median over {'/'.join(map(str, sorted(n)))} processes per cell, each the median of its timed runs; "
          "roof = OpenBLAS sgemm at that thread count; RSS = peak of one engine process; "
          "bf16 = repvit --precision bf16" + (", which FELL BACK to f32 here: no AVX512-BF16)" if fallback else ")"))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
