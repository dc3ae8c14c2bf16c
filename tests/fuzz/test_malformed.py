#!/usr/bin/python3
"""Runs `repvit-infer --model F --info` over every malformed file of
make_malformed.py: each must exit with status 1 (no signal, no sanitizer
report) and print its expected error naming the file, on one line. Files that claim huge
sizes must be rejected without memory growing: the peak RSS stays within
16 MiB of the rejection of the tiny file. From a directory whose path alone
is longer than the message buffer (512 bytes), the reason still comes whole.

usage: test_malformed.py REPVIT_INFER GOLDEN_MODEL
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_malformed  # noqa: E402

INFER, GOLDEN = sys.argv[1], sys.argv[2]
SLACK_KIB = 16 << 10


def run(path):
    """Exit status, stderr and peak RSS (KiB) of the loader on path."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen([INFER, "--model", path, "--info"], stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return p.returncode, err.read().decode(errors="replace"), usage.ru_maxrss


def main():
    tmp = tempfile.mkdtemp(prefix="rv-malformed-")
    failures, n, baseline = [], 0, None
    for name, blob, expected, check_memory in make_malformed.cases(GOLDEN):
        path = os.path.join(tmp, name + ".safetensors")
        with open(path, "wb") as f:
            f.write(blob)
        status, msg, rss = run(path)
        os.unlink(path)
        n += 1
        if baseline is None:
            baseline = rss      # the first case is the tiny valid-format file
        problems = []
        if status != 1:
            problems.append(f"exit status {status}")
        if "Sanitizer" in msg or "runtime error" in msg:
            problems.append("sanitizer report")
        if expected not in msg:
            problems.append(f"no '{expected}' in the message")
        if path not in msg:
            problems.append("the message does not name the file")
        if msg.count("\n") != 1:
            problems.append("the message is not one line")
        if check_memory and rss > baseline + SLACK_KIB:
            problems.append(f"peak RSS {rss} KiB, {baseline} KiB for the tiny file")
        if problems:
            failures.append(f"{name}: {', '.join(problems)}: {msg.strip()[:2000]!r}")
        else:
            print(f"ok   {name:34s} {msg.strip()[len('repvit-infer: ') + len(path) + 2:][:110]}")
    os.rmdir(tmp)

    # a long path is shortened from the left; the reason is never cut
    deep = os.path.join(tempfile.mkdtemp(prefix="rv-malformed-"), *(["d" * 60] * 10))
    os.makedirs(deep)
    name, blob, expected, _ = next(c for c in make_malformed.cases(GOLDEN) if c[0] == "model-wrong-shape")
    path = os.path.join(deep, name + ".safetensors")
    with open(path, "wb") as f:
        f.write(blob)
    status, msg, _ = run(path)
    n += 1
    tail = os.path.basename(path)
    if status != 1 or not msg.rstrip().endswith(expected) or tail not in msg or len(msg) > 512 + 20:
        failures.append(f"long-path: {status} {msg!r}")
    else:
        print(f"ok   {'long-path':34s} {msg.strip()[:60]}...{msg.strip()[-60:]}")
    os.unlink(path)
    for f in failures:
        print("FAIL", f)
    print(f"{n - len(failures)} of {n} malformed files rejected as expected")
    sys.exit(1 if failures or n < 40 else 0)


main()
