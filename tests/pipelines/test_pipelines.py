#!/usr/bin/python3
"""The pipeline scripts, run on short generated clips.

    test_pipelines.py MODEL [unittest names...]

Clips come from videotestsrc (and synth.py for the demo); the network runs at
a 64-pixel input (REPVITYOLO_PROPS) to keep the runs short. Decoded frames
are compared with what GStreamer's own decoder makes of the input.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PIPELINES = os.path.join(ROOT, "pipelines")
MODEL = None  # from the command line
W, H, FRAMES = 160, 96, 6


def run(script, *args, **env):
    return subprocess.run([os.path.join(PIPELINES, script), *args], capture_output=True, text=True,
                          env={**os.environ, "REPVITYOLO_PROPS": "input-size=64", **env}, timeout=540)


def gst(*pipeline):
    subprocess.run(["gst-launch-1.0", "-q", *pipeline], check=True, timeout=120)


def decode_rgb(path, width, height):
    """The frames of a video file as a list of raw RGB frames."""
    with tempfile.NamedTemporaryFile(suffix=".rgb") as raw:
        gst("filesrc", f"location={path}", "!", "decodebin", "!", "videoconvert", "!",
            "video/x-raw,format=RGB", "!", "filesink", f"location={raw.name}")
        data = raw.read()
    size = width * height * 3
    assert len(data) % size == 0, f"{path}: {len(data)} bytes is not a whole number of frames"
    return [data[i:i + size] for i in range(0, len(data), size)]


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


class Pipelines(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.clip = os.path.join(cls.tmp.name, "clip.webm")
        gst("videotestsrc", f"num-buffers={FRAMES}", "pattern=ball", "!",
            f"video/x-raw,width={W},height={H},framerate=30/1", "!", "vp8enc", "!", "webmmux", "!",
            "filesink", f"location={cls.clip}")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def test_usage(self):
        bad = {"detect-file.sh": [[], ["only-input"], ["a", "b", "c", "d"], ["--display"]],
               "detect-json.sh": [[], ["only-input"], ["a", "b", "c", "d"]],
               "track-json.sh": [[], ["only-input"], ["a", "b", "c", "d"]],
               "detect-camera.sh": [["a", "b", "c"], ["--bogus"]],
               "demo.sh": [["--seconds"], ["--bogus"], ["a", "b"]]}
        for script, arg_lists in bad.items():
            for args in arg_lists:
                r = run(script, *args)
                self.assertEqual(r.returncode, 2, f"{script} {args}")
                self.assertTrue(r.stderr.startswith(f"usage: {script}"), f"{script} {args}: {r.stderr}")
            r = run(script, "--help")
            self.assertEqual(r.returncode, 0, script)
            self.assertTrue(r.stdout.startswith(f"usage: {script}"), script)

    def test_missing_files_named(self):
        missing = self.path("no-such-file.webm")
        for script, args in [("detect-file.sh", [missing, self.path("o.webm"), MODEL]),
                             ("detect-json.sh", [missing, self.path("o.jsonl"), MODEL]),
                             ("detect-file.sh", [self.clip, self.path("o.webm"), missing]),
                             ("detect-json.sh", [self.clip, self.path("o.jsonl"), missing]),
                             ("detect-camera.sh", ["/dev/no-such-camera", MODEL]),
                             ("detect-camera.sh", ["/dev/null", missing]),
                             ("demo.sh", ["--out", self.path("demo-missing"), missing])]:
            r = run(script, *args)
            self.assertEqual(r.returncode, 1, f"{script} {args}: {r.stderr}")
            named = [a for a in args if "no-such" in a][0]
            self.assertIn(named, r.stderr, script)
        r = run("detect-file.sh", self.clip, self.path("o.mp4"), MODEL)
        self.assertEqual(r.returncode, 1)
        self.assertIn(".webm", r.stderr)
        r = run("detect-json.sh", self.clip, self.path("no-such-dir/o.jsonl"), MODEL)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no-such-dir", r.stderr)
        r = run("demo.sh", "--seconds", "0", "--out", self.path("demo-zero"), MODEL)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--seconds", r.stderr)

    def test_detect_json(self):
        out = self.path("detections.jsonl")
        r = run("detect-json.sh", self.clip, out, MODEL)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = read_jsonl(out)
        self.assertEqual(len(lines), FRAMES)
        self.assertEqual([o["frame"] for o in lines], list(range(FRAMES)))
        for i, o in enumerate(lines):  # WebM keeps milliseconds
            self.assertLessEqual(abs(o["timestamp"] - i * 1e9 / 30), 1e6, o["timestamp"])
        for o in lines:
            self.assertEqual(o["resolution"], {"width": W, "height": H})
            self.assertIn(os.path.basename(MODEL), o["model"])
            self.assertEqual(o["input"]["width"] % 32, 0)
            for obj in o["objects"]:
                bb = obj["detection"]["bounding_box"]
                self.assertTrue(0 <= bb["x_min"] <= bb["x_max"] <= 1, obj)
                self.assertTrue(0 <= bb["y_min"] <= bb["y_max"] <= 1, obj)
                self.assertEqual(obj["roi_type"], obj["detection"]["label"])

    def test_detect_file(self):
        original = decode_rgb(self.clip, W, H)
        # With detections, and (a threshold nothing passes) without.
        for props in ["input-size=64", "input-size=64 conf-threshold=1.0"]:
            out, json_out = self.path("annotated.webm"), self.path("for-file.jsonl")
            r = run("detect-file.sh", self.clip, out, MODEL, REPVITYOLO_PROPS=props)
            self.assertEqual(r.returncode, 0, r.stderr)
            annotated = decode_rgb(out, W, H)
            self.assertEqual(len(annotated), FRAMES)
            r = run("detect-json.sh", self.clip, json_out, MODEL, REPVITYOLO_PROPS=props)
            self.assertEqual(r.returncode, 0, r.stderr)
            # Boxes show exactly where the detector found something (VP8
            # re-encoding changes no value by more than a few levels).
            for i, (o, a, frame) in enumerate(zip(original, annotated, read_jsonl(json_out))):
                big = sum(abs(x - y) > 60 for x, y in zip(o, a))
                if frame["objects"]:
                    self.assertGreater(big, 0, f"{props}: frame {i}: boxes not drawn")
                else:
                    self.assertEqual(big, 0, f"{props}: frame {i}: drawn without detections")

    def test_track_json(self):
        out = self.path("tracks.jsonl")
        r = run("track-json.sh", self.clip, out, MODEL, REPVITTRACK_PROPS="min-hits=1")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = read_jsonl(out)
        self.assertEqual(len(lines), FRAMES)
        for o in lines:  # drop-untracked: every object has its track id
            for obj in o["objects"]:
                self.assertGreater(obj["id"], 0, obj)

    def test_demo(self):
        out = self.path("demo")
        r = run("demo.sh", "--seconds", "0.3", "--out", out, MODEL)
        self.assertEqual(r.returncode, 0, r.stderr)
        frames = 9
        self.assertEqual(len(decode_rgb(os.path.join(out, "demo-clip.webm"), 1280, 720)), frames)
        self.assertEqual(len(decode_rgb(os.path.join(out, "demo-annotated.webm"), 1280, 720)), frames)
        lines = read_jsonl(os.path.join(out, "demo.jsonl"))
        self.assertEqual(len(lines), frames)
        with open(os.path.join(out, "demo-still.png"), "rb") as f:
            head = f.read(24)
        self.assertEqual(head[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(struct.unpack(">II", head[16:24]), (1280, 720))
        self.assertEqual(sorted(os.listdir(out)),
                         ["demo-annotated.webm", "demo-clip.webm", "demo-still.png", "demo.jsonl"])
        self.assertIn(f"frames: {frames} ", r.stdout)
        total = sum(len(o["objects"]) for o in lines)
        self.assertIn(f"detections: {total} ", r.stdout)

        # A second run keeps the clip it made.
        clip = os.path.join(out, "demo-clip.webm")
        mtime = os.stat(clip).st_mtime_ns
        r = run("demo.sh", "--seconds", "0.3", "--out", out, MODEL)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("Rendering", r.stdout)
        self.assertEqual(os.stat(clip).st_mtime_ns, mtime)


if __name__ == "__main__":
    MODEL = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0], *sys.argv[2:]], verbosity=2)
