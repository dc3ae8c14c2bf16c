#!/usr/bin/python3
"""repvit-infer against the upstream-computed golden case in shared/golden
(m0_9-n, nc 80, input 1x3x128x160): class scores within 1e-4, boxes 1e-2 px,
with 1 and 2 threads.

usage: test_upstream_golden.py REPVIT_INFER SHARED_DIR
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

infer, shared = sys.argv[1], sys.argv[2]
golden = os.path.join(shared, "golden")
model = os.path.join(golden, "m0_9-n-nc80.safetensors")
expected = np.load(os.path.join(golden, "m0_9-n-nc80.output-128x160.npy"))
failed = False
for threads in (1, 2):
    out = os.path.join(tempfile.mkdtemp(prefix="rv-golden-"), "out.npy")
    subprocess.run([infer, "--model", model, "--input-npy",
                    os.path.join(golden, "m0_9-n-nc80.input-128x160.npy"),
                    "--output-npy", out, "--threads", str(threads)], check=True)
    got = np.load(out)
    if got.shape != expected.shape or got.dtype != np.float32:
        print(f"threads {threads}: got {got.shape} {got.dtype}, expected {expected.shape} float32")
        failed = True
        continue
    box = np.abs(got[:, :4] - expected[:, :4]).max()
    cls = np.abs(got[:, 4:] - expected[:, 4:]).max()
    print(f"threads {threads}: max |diff| boxes {box:.3g} px, class scores {cls:.3g}")
    failed |= not (box <= 1e-2 and cls <= 1e-4)
sys.exit(1 if failed else 0)
