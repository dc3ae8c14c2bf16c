#!/usr/bin/python3
"""Formats the results of tools/bench_compare.sh as one table.

    table.py WORKDIR      reads WORKDIR/{times,macs}.tsv and WORKDIR/peak.txt

times.tsv: model size threads engine median_ms cpu_ms maxrss_kb (one line per process run;
engine repvit-bf16-fallback / repvit-int8-fallback: repvit-bench --precision bf16 / int8 ran f32,
the CPU lacks AVX512-BF16 / VNNI);
macs.tsv: model size macs; peak.txt: the output of tools/bench/peak (per-core peaks).
The time of an engine is the median over its processes of their per-process medians; its CPU
time the median of their mean CPU time per run. Its rate is given as % of the per-core peak of
its precision times the thread count.
"""
import os
import statistics
import sys
from collections import defaultdict

ENGINES = ("repvit", "repvit-bf16", "repvit-int8", "ort", "ort-int8", "torch")
LABELS = ("repvit", "bf16", "int8", "ort", "ort8", "torch")
# time ratios: (numerator, denominator) engines
RATIOS = (("repvit", "ort"), ("repvit-bf16", "ort"), ("repvit-int8", "ort"), ("repvit-int8", "ort-int8"))
RATIO_HEAD = "repvit/ort bf16/ort int8/ort int8/ort8"


def peaks(path):
    """Per-core peak GOP/s per precision from tools/bench/peak's lines
    "peak NAME median_gops=X best_gops=Y ...": the best rep, as other processes on the core only
    ever slow a rep down; the widest instruction the CPU has, None where it has none."""
    got = {}
    with open(path) as f:
        for ln in f:
            w = ln.split()
            if len(w) > 3 and w[0] == "peak" and w[3].startswith("best_gops="):
                got[w[1]] = float(w[3].split("=")[1])
    first = lambda *names: next((got[n] for n in names if n in got), None)  # noqa: E731
    return {"f32": first("fp32-fma-512", "fp32-fma-256"), "bf16": first("bf16-dot-512"),
            "int8": first("int8-vnni-512", "int8-vnni-256")}


def rows(path):
    with open(path) as f:
        return [ln.split() for ln in f if ln.strip()]


def main(workdir):
    times, cpus, rss = defaultdict(list), defaultdict(list), defaultdict(int)
    fallback = set()
    for model, size, thr, engine, ms, cpu, kb in rows(os.path.join(workdir, "times.tsv")):
        if engine.endswith("-fallback"):
            engine = engine[:-len("-fallback")]
            fallback.add(engine)
        times[model, size, thr, engine].append(float(ms))
        cpus[model, size, thr, engine].append(float(cpu))
        rss[model, size, thr, engine] = max(rss[model, size, thr, engine], int(kb))
    peak = peaks(os.path.join(workdir, "peak.txt"))
    precision = {"repvit": "f32", "repvit-bf16": "bf16", "repvit-int8": "int8", "ort": "f32", "ort-int8": "int8",
                 "torch": "f32"}
    precision.update(dict.fromkeys(fallback, "f32"))
    macs = {(m, s): float(n) for m, s, n in rows(os.path.join(workdir, "macs.tsv"))}
    configs = sorted({k[:3] for k in times}, key=lambda k: (k[0], -int(k[1].split("x")[1]), int(k[2])))
    head = (f"{'model':8} {'input':8} {'thr':>3} | {' '.join(f'{e:>7}' for e in LABELS)} {'f32pk':>7} ms | "
            f"{' '.join(f'{e:>11}' for e in LABELS)} GFLOP/s (% peak) | "
            f"{' '.join(f'{e:>6}' for e in LABELS)} MiB | {RATIO_HEAD} | "
            f"{' '.join(f'{e:>7}' for e in LABELS)} CPU ms | {RATIO_HEAD}")
    print(head)
    print("-" * len(head))
    for model, size, thr in configs:
        flop = 2 * macs[model, size]
        med = {e: statistics.median(times[model, size, thr, e]) if times[model, size, thr, e] else None
               for e in ENGINES}
        top = {e: peak[precision[e]] * int(thr) if peak[precision[e]] else None for e in ENGINES}
        ms = " ".join(f"{med[e]:7.1f}" if med[e] else f"{'-':>7}" for e in ENGINES)
        ms += f" {flop / top['repvit'] / 1e6:7.1f}" if top["repvit"] else f" {'-':>7}"
        gf = " ".join((f"{flop / med[e] / 1e6:5.1f} ({100 * flop / med[e] / 1e6 / top[e]:3.0f}%)" if top[e]
                       else f"{flop / med[e] / 1e6:5.1f} (  -%)") if med[e] else f"{'-':>11}" for e in ENGINES)
        mib = " ".join(f"{rss[model, size, thr, e] / 1024:6.0f}" if med[e] else f"{'-':>6}" for e in ENGINES)
        ratio = ratios(med)
        cpu = {e: statistics.median(cpus[model, size, thr, e]) if cpus[model, size, thr, e] else None
               for e in ENGINES}
        cms = " ".join(f"{cpu[e]:7.1f}" if cpu[e] else f"{'-':>7}" for e in ENGINES)
        print(f"{model:8} {size:8} {thr:>3} | {ms} ms | {gf} | {mib} MiB | {ratio:>{len(RATIO_HEAD)}} | "
              f"{cms} CPU ms | {ratios(cpu)}")
    n = {len(v) for v in times.values()}
    print(f"(median over {'/'.join(map(str, sorted(n)))} processes per cell, each the median of its timed runs; "
          "% peak = of the measured per-core peak of the engine's precision x threads (GOP/s for int8, ort8); "
          f"f32pk = the time at the fp32 peak; peaks per core: fp32 {peak['f32']}, bf16 {peak['bf16']}, "
          f"int8 {peak['int8']} GOP/s; RSS = peak of one engine process; ort8 = ONNX Runtime on the QDQ int8 "
          "model; bf16, int8 = repvit --precision bf16, int8"
          + "".join(f"; {e} FELL BACK to f32 here (the CPU lacks its instructions)" for e in sorted(fallback)) + ")")


def ratios(t):
    """The RATIOS of the times t (per engine) as text."""
    return " ".join(f"{t[a] / t[b]:.2f}" if t[a] and t[b] else "-" for a, b in RATIOS)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
