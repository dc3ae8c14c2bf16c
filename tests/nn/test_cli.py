#!/usr/bin/python3
"""repvit-infer and repvit-bench range-check their values: each bad one is
refused with a message naming it (exit 1 or the usage, exit 2) before any
model or arena is made; an error after the model is loaded frees it (the
sanitizer build checks for leaks). Before, --threads 100000 asked for an
18-exabyte arena and a bad --size leaked the model.

usage: test_cli.py REPVIT_INFER REPVIT_BENCH MODEL
"""
import subprocess
import sys

INFER, BENCH, MODEL = sys.argv[1:4]
CASES = [
    # (program, arguments, exit status, text in stderr)
    (INFER, ["--threads", "100000", "--info"], 1, "--threads 100000: must be an integer from 0"),
    (INFER, ["--threads", "-1", "--info"], 1, "--threads -1: must be"),
    (INFER, ["--threads", "2x", "--info"], 1, "--threads 2x: must be"),
    (INFER, ["--threads", "1024", "--info"], 0, ""),       # the limit itself
    (BENCH, ["--size", "33x32"], 2, "multiples of 32 up to 4096"),
    (BENCH, ["--size", "8192x32"], 2, "multiples of 32 up to 4096"),
    (BENCH, ["--size", "-32x32"], 2, "multiples of 32 up to 4096"),
    (BENCH, ["--threads", "100000"], 2, "0 (one per CPU) to 1024"),
    (BENCH, ["--runs", "0"], 2, "K: 1 to 1000000"),
    (BENCH, ["--precision", "f32"], 1, "repvit-bench: "),   # model given last: a missing file
    (BENCH, ["--precision", "int8"], 1, "repvit-bench: "),
    (BENCH, ["--precision", "int4"], 2, "--precision f32|bf16|int8"),
    (INFER, ["--precision", "int4", "--info"], 1, "--precision int4: must be f32, bf16 or int8"),
]

failures = []
for prog, args, status, text in CASES:
    model = MODEL if prog == INFER or status == 2 else MODEL + ".missing"
    cmd = [prog, "--model", model] + args
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=120)
    name = " ".join([prog.rsplit("/", 1)[-1]] + args)
    if p.returncode != status or text not in p.stderr or "Sanitizer" in p.stderr:
        failures.append(f"{name}: exit {p.returncode} (want {status}), {p.stderr.strip()[:500]!r}")
    else:
        print(f"ok   {name:40s} {(p.stderr.strip().splitlines() or [''])[-1][:100]}")
for f in failures:
    print("FAIL", f)
sys.exit(1 if failures else 0)
