#!/usr/bin/python3
"""The example applications and the installed tree, on a clip of known shapes.

    test_apps.py BUILD_ROOT MODEL EXAMPLE_C MESON SYSTEM_PLUGINS [unittest names...]

The clip repeats one frame of tools/synth.py's demo scene (6 frames, lossless raw
video in Matroska), so every frame has the same ground truth: the drawn shapes' boxes.
Detections must match it one to one (same class, IoU >= 0.5), except shapes
mostly hidden under others.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import synth  # noqa: E402

BUILD = MODEL = EXAMPLE_C = MESON = SYSTEM_PLUGINS = None   # from the command line
FRAMES = 6
SWITCH_FRAME, NEW_THRESHOLD = 2, 0.9
PYTHON_EXAMPLE = os.path.join(ROOT, "examples", "python", "detections.py")
DETECTION = re.compile(r"^\s+(?:meta )?(-?\d+) (\S+) ([\d.]+) ([\d.-]+) ([\d.-]+) ([\d.]+) ([\d.]+) track (-?\d+)"
                       r"(?: flags (\S+))?$")


def iou(a, b):
    """a, b: x1, y1, x2, y2."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(iw, 0) * max(ih, 0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def run(cmd, env=None, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r.stdout


def parse_frames(text):
    """The example's output as [[(class_id, label, conf, x, y, w, h, track_id, flags), ...] per
    frame]; flags None where not printed (the C example)."""
    frames = []
    for line in text.splitlines():
        if line.startswith("frame"):
            frames.append([])
        elif (m := DETECTION.match(line)) and frames:
            g = m.groups()
            frames[-1].append((int(g[0]), g[1], *(float(v) for v in g[2:7]), int(g[7]), g[8]))
    return frames


class Apps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        img, cls.truth = synth.clip_frame(7, 0.0)
        h, w = img.shape[:2]
        raw = os.path.join(cls.tmp.name, "frame.rgb")
        with open(raw, "wb") as f:
            f.write(img.tobytes() * FRAMES)
        cls.clip = os.path.join(cls.tmp.name, "clip.mkv")
        run(["gst-launch-1.0", "-q", "filesrc", f"location={raw}", "!", "rawvideoparse", "format=rgb",
             f"width={w}", f"height={h}", "framerate=30/1", "!", "matroskamux", "!",
             "filesink", f"location={cls.clip}"])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def assert_finds_truth(self, dets):
        """Each detection is a distinct drawn shape (same class, IoU >= 0.5), and every shape is
        found unless more than half of its box lies under shapes drawn after it."""
        def box(d):
            return d[3], d[4], d[3] + d[5], d[4] + d[6]
        unmatched = list(range(len(self.truth)))
        for d in dets:
            t = max(unmatched, key=lambda t: iou(self.truth[t][1:], box(d)), default=None)
            self.assertIsNotNone(t, f"{d}: more detections than shapes")
            self.assertGreaterEqual(iou(self.truth[t][1:], box(d)), 0.5, f"{d}: no shape there")
            self.assertEqual((d[0], d[1]), (self.truth[t][0], synth.CLASSES[self.truth[t][0]]), d)
            unmatched.remove(t)
        for t in unmatched:
            x1, y1, x2, y2 = self.truth[t][1:]
            covered = max([(min(x2, b[3]) - max(x1, b[1])) * (min(y2, b[4]) - max(y1, b[2]))
                           for b in self.truth[t + 1:] if min(x2, b[3]) > max(x1, b[1]) and min(y2, b[4]) > max(y1, b[2])],
                          default=0)
            self.assertGreater(covered, 0.5 * (x2 - x1) * (y2 - y1), f"shape {self.truth[t]} not found")

    def check_c_example(self, exe, env=None):
        out = run([exe, MODEL, self.clip, str(SWITCH_FRAME), str(NEW_THRESHOLD)], env=env)
        frames = parse_frames(out)
        self.assertEqual(len(frames), FRAMES, out)
        first = frames[0]
        self.assert_finds_truth(first)
        self.assertTrue(all(d[7] == -1 for d in first))          # no tracker in this pipeline
        for f in frames[:SWITCH_FRAME]:
            self.assertEqual(f, first)                               # same picture, same detections
        # the ROI meta lines say the same: label, confidence, integer box
        rois = [line.split()[1:] for line in out.splitlines()[:len(first) * 2 + 2] if line.startswith("  roi ")]
        self.assertEqual([(r[0], float(r[1])) for r in rois], [(d[1], d[2]) for d in first])
        for r, d in zip(rois, first):
            for got, want in zip(r[2:], d[3:7]):
                self.assertLessEqual(abs(int(got) - want), 1, (r, d))
        # after the switch: the same detections less those at or under the new threshold,
        # once the frames already under way have passed; never back
        kept = [d for d in first if d[2] > NEW_THRESHOLD]
        self.assertTrue(0 < len(kept) < len(first), first)          # the switch is visible
        after = frames[SWITCH_FRAME:]
        self.assertEqual(after[-1], kept)
        switched = [f == kept for f in after]
        self.assertEqual(switched, sorted(switched), after)
        self.assertTrue(all(f in (first, kept) for f in after), after)
        self.assertIn(f"set conf-threshold {NEW_THRESHOLD:.2f}", out)
        return out

    def check_python_example(self, env):
        jsonl = os.path.join(self.tmp.name, "py.jsonl")
        out = run(["/usr/bin/python3", PYTHON_EXAMPLE, MODEL, self.clip, "--min-confidence", str(NEW_THRESHOLD),
                   "--add", "zone,10,20,30,40", "--json", jsonl], env=env)
        frames = parse_frames(out)
        self.assertEqual(len(frames), FRAMES, out)
        self.assert_finds_truth(frames[0])
        self.assertTrue(all(d[8] == "none" for f in frames for d in f), out)   # detector's boxes
        self.assertIn("model m0_9-n", out)                            # frame-level fields
        self.assertRegex(out, r"input 320x192, [\d.]+ ms, stale False")
        # what repvitjson wrote downstream of the probe: the edits
        kept = [d for d in frames[0] if d[2] >= NEW_THRESHOLD]
        self.assertTrue(0 < len(kept) < len(frames[0]), frames[0])
        with open(jsonl) as f:
            written = [json.loads(line) for line in f]
        self.assertEqual(len(written), FRAMES)
        for frame in written:
            objs = frame["objects"]
            self.assertEqual([o["roi_type"] for o in objs], [d[1] for d in kept] + ["zone"])
            for o, d in zip(objs, kept):
                self.assertAlmostEqual(o["detection"]["confidence"], d[2], delta=1e-4)
            self.assertEqual([objs[-1][k] for k in "xywh"], [10, 20, 30, 40])
            self.assertNotIn("label_id", objs[-1]["detection"])       # class_id -1: no model class
        # with the tracker, detecting on every second frame: ids from the first frame on (it
        # confirms at once), the same every frame; between inferences the predicted boxes,
        # flagged, still on the shapes (the picture stands still)
        out = run(["/usr/bin/python3", PYTHON_EXAMPLE, MODEL, self.clip, "--track", "2"], env=env)
        frames = parse_frames(out)
        stale = re.findall(r"stale (True|False)", out)
        self.assertEqual(stale, ["False", "True"] * (FRAMES // 2), out)
        ids = [d[7] for d in frames[0]]
        self.assertTrue(all(i > 0 for i in ids) and len(set(ids)) == len(ids), out)
        for f, frame in enumerate(frames):
            self.assert_finds_truth(frame)
            self.assertEqual([d[7] for d in frame], ids, out)
            self.assertEqual({d[8] for d in frame}, {"predicted" if f % 2 else "none"}, out)

    def test_c_example(self):
        self.check_c_example(EXAMPLE_C)

    def test_python_example(self):
        meta = os.path.join(BUILD, "meta")
        self.check_python_example({**os.environ, "GI_TYPELIB_PATH": meta, "LD_LIBRARY_PATH": meta})

    def test_installed(self):
        """meson install into a DESTDIR; plugin, programs, model, header, .pc and typelib from there only."""
        dest = os.path.join(self.tmp.name, "dest")
        run([MESON, "install", "-C", BUILD, "--no-rebuild", "--quiet", "--destdir", dest])
        plugin, = glob.glob(os.path.join(dest, "**", "gstreamer-1.0", "libgstrepvityolo.so"), recursive=True)
        libdir = os.path.dirname(os.path.dirname(plugin))
        prefix = os.path.dirname(os.path.dirname(glob.glob(os.path.join(dest, "**", "bin", "repvit-infer"),
                                                             recursive=True)[0]))
        model, = glob.glob(os.path.join(prefix, "share", "repvityolo", "models", "*.safetensors"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GST_", "LD_", "GI_", "PKG_CONFIG"))}
        # our plugin from the installed tree only: no build tree, a fresh registry
        env.update(GST_PLUGIN_SYSTEM_PATH_1_0=SYSTEM_PLUGINS, GST_PLUGIN_PATH_1_0=os.path.dirname(plugin),
                   GST_REGISTRY_1_0=os.path.join(self.tmp.name, "installed-registry.bin"))

        inspect = run(["gst-inspect-1.0", "repvityolo"], env=env)
        self.assertIn(f"Filename                 {plugin}", inspect)
        for element in ("repvityolo", "repvitoverlay", "repvitjson"):
            self.assertIn(element, run(["gst-inspect-1.0", element], env=env))
        jsonl = os.path.join(self.tmp.name, "installed.jsonl")
        run(["gst-launch-1.0", "-q", "filesrc", f"location={self.clip}", "!", "decodebin", "!", "videoconvert", "!",
             "repvityolo", f"model={model}", "!", "repvitjson", f"location={jsonl}", "!", "fakesink"], env=env)
        with open(jsonl) as f:
            objs = json.loads(f.readline())["objects"]
        self.assert_finds_truth([(o["detection"]["label_id"], o["roi_type"], o["detection"]["confidence"],
                                  o["x"], o["y"], o["w"], o["h"], -1) for o in objs])

        # the installed pipeline script finds the installed model by default
        jsonl = os.path.join(self.tmp.name, "installed-script.jsonl")
        run([os.path.join(prefix, "share", "repvityolo", "pipelines", "detect-json.sh"), self.clip, jsonl], env=env)
        with open(jsonl) as f:
            self.assertEqual(len(f.readlines()), FRAMES)

        self.assertIn("m0_9", run([os.path.join(prefix, "bin", "repvit-infer"), "--model", model, "--info"], env=env))
        self.assertTrue(os.access(os.path.join(prefix, "bin", "repvit-bench"), os.X_OK))
        self.assertIn("usage", run([os.path.join(prefix, "bin", "repvit-export"), "--help"], env=env))

        # the C example built against the installed .pc and header, then against the
        # build tree's uninstalled .pc: one include path, <gst/repvit/repvitmeta.h>
        # (the installed .pc's prefix moved into the DESTDIR, as a package's would be)
        source = os.path.join(ROOT, "examples", "c", "detect.c")
        pc_dest = os.path.join(self.tmp.name, "pkgconfig")
        os.makedirs(pc_dest)
        with open(os.path.join(libdir, "pkgconfig", "gstrepvitmeta-1.0.pc")) as f:
            pc = f.read()
        with open(os.path.join(pc_dest, "gstrepvitmeta-1.0.pc"), "w") as f:
            f.write(re.sub(r"^prefix=(.*)$", lambda m: "prefix=" + dest + m.group(1), pc, count=1, flags=re.M))
        for name, pc_path in (("installed", pc_dest), ("uninstalled", os.path.join(BUILD, "meson-uninstalled"))):
            flags = run(["pkg-config", "--cflags", "--libs", "gstrepvitmeta-1.0", "gstreamer-app-1.0"],
                        env={**env, "PKG_CONFIG_PATH": pc_path}).split()
            if name == "installed":
                self.assertIn(f"-I{prefix}/include/gstreamer-1.0", flags)
            exe = os.path.join(self.tmp.name, "detect-" + name)
            run([os.environ.get("CC", "cc"), source, "-o", exe, *flags])
            lib = libdir if name == "installed" else os.path.join(BUILD, "meta")
            self.check_c_example(exe, {**env, "LD_LIBRARY_PATH": lib})

        # Python through the installed typelib, when the build made one
        typelibs = os.path.join(libdir, "girepository-1.0")
        if os.path.isdir(typelibs):
            self.check_python_example({**env, "GI_TYPELIB_PATH": typelibs, "LD_LIBRARY_PATH": libdir})


if __name__ == "__main__":
    BUILD, MODEL, EXAMPLE_C, MESON, SYSTEM_PLUGINS = sys.argv[1:6]
    shutil.which("gst-launch-1.0") or sys.exit("gst-launch-1.0 not found")
    unittest.main(argv=[sys.argv[0], *sys.argv[6:]], verbosity=2)
