#!/usr/bin/python3
"""Benchmarks of the pipelines people run (issue 12), printing frames/s.

    bench_pipelines.py [--model M] [--repeat R] [--frames N] [--busy]
                       [transcode] [streams] [live]

transcode  filesrc ! decodebin ! videoconvert ! repvityolo ! repvitoverlay !
           videoconvert ! x264enc speed-preset=veryfast ! mp4mux ! filesink on
           a 1280x720 H.264 clip of moving shapes, threads= default (0), 1, 2
streams    1, 2 and 4 720p streams in one process, each its own repvityolo
           sharing one model, at the defaults (and one stream at threads=1, 2)
live       videotestsrc is-live=true 720p 15 fps ! repvityolo ! fakesink
           sync=true with the latency tracer: the latency the element reports,
           source-to-sink median and p99, the stale share, the first frame's
           inference against the steady-state median, frames lost

Each figure is the median of R runs. --busy runs each measurement a second
time beside a busy process (`yes > /dev/null`). The CPU model and family and
the load average are printed with the figures. Run by
`meson test -C build --benchmark --suite pipelines-bench -v`.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
W, H = 1280, 720


def cpu_line():
    model, family = "unknown", "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "cpu family":
                family = value.strip()
            if model != "unknown" and family != "?":
                break
    return f"{model}, family {family}, {os.cpu_count()} CPUs"


def load():
    return "load average " + " ".join(open("/proc/loadavg").read().split()[:3])


def launch(pipeline, env=None, timeout=900):
    """Runs gst-launch-1.0 on a pipeline string; returns wall seconds."""
    start = time.monotonic()
    proc = subprocess.run(["gst-launch-1.0", "-q", "-e", *pipeline.split()], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=timeout)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"pipeline failed ({proc.returncode}): {pipeline}\n{proc.stderr[-2000:]}")
    return wall, proc.stderr


class Busy:
    """`yes > /dev/null` beside the measurement when enabled."""

    def __init__(self, enabled):
        self.enabled, self.proc = enabled, None

    def __enter__(self):
        if self.enabled:
            self.proc = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc):
        if self.proc:
            self.proc.kill()
            self.proc.wait()


def make_clip(path, frames):
    """A 1280x720 30 fps H.264 clip of moving shapes (tools/synth.py)."""
    seconds = frames / 30
    synth = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "tools", "synth.py"), "clip",
                              "/dev/stdout", "--seconds", f"{seconds}", "--fps", "30"],
                             stdout=subprocess.PIPE)
    subprocess.run(["gst-launch-1.0", "-q", "fdsrc", "!", "rawvideoparse", "format=rgb",
                    f"width={W}", f"height={H}", "framerate=30/1", "!", "videoconvert", "!",
                    "x264enc", "speed-preset=veryfast", "!", "h264parse", "!", "mp4mux", "!",
                    "filesink", f"location={path}"], stdin=synth.stdout, check=True)
    synth.stdout.close()
    if synth.wait() != 0:
        sys.exit("tools/synth.py failed")


def median_fps(runs, repeat, busy):
    """frames/s of each (name, frames, pipeline) run: the median of repeat
    rounds, the runs interleaved in each round so that drifts of the
    machine spread over all of them."""
    walls = {name: [] for name, _, _ in runs}
    with Busy(busy):
        for _ in range(repeat):
            for name, _, pipeline in runs:
                walls[name].append(launch(pipeline)[0])
    return {name: frames / statistics.median(walls[name]) for name, frames, _ in runs}


def table(title, header, rows):
    print(f"\n{title}\n{cpu_line()}; {load()}")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for row in rows:
        print(" | ".join(row))
    sys.stdout.flush()


def bench_transcode(args, tmp):
    clip = os.path.join(tmp, "clip.mp4")
    make_clip(clip, args.frames)
    out = os.path.join(tmp, "out.mp4")
    rows, settings = [], [("default", ""), ("threads=1", "threads=1"), ("threads=2", "threads=2")]
    for busy in [False, True] if args.busy else [False]:
        fps = median_fps([(name, args.frames, f"filesrc location={clip} ! decodebin ! "
                           f"videoconvert ! repvityolo model={args.model} {prop} ! "
                           "repvitoverlay ! videoconvert ! x264enc speed-preset=veryfast ! "
                           f"mp4mux ! filesink location={out}") for name, prop in settings],
                         args.repeat, busy)
        best = max(fps.values())
        rows.append(["yes > /dev/null" if busy else "idle",
                     *(f"{fps[name]:.1f}" for name, _ in settings),
                     f"{fps['default'] / best:.2f}", f"{fps['default'] / fps['threads=1']:.2f}"])
    table(f"(a) transcode, {args.frames} frames {W}x{H} H.264 -> x264enc, frames/s (median of "
          f"{args.repeat})", ["machine", *(n for n, _ in settings), "default/best",
                              "default/threads=1"], rows)


def bench_streams(args):
    rows = []
    for busy in [False, True] if args.busy else [False]:
        fps = median_fps([(name, args.frames, streams_pipeline(args, 1, prop))
                          for name, prop in [("default", ""), ("threads=1", "threads=1"),
                                             ("threads=2", "threads=2")]]
                         + [(f"{n} streams", n * args.frames, streams_pipeline(args, n, ""))
                            for n in (2, 4)], args.repeat, busy)
        best = max(fps[n] for n in ("default", "threads=1", "threads=2"))
        row = ["yes > /dev/null" if busy else "idle",
               *(f"{fps[n]:.1f}" for n in ("default", "threads=1", "threads=2"))]
        for n in (2, 4):
            row += [f"{fps[f'{n} streams']:.1f}", f"{fps[f'{n} streams'] / best:.2f}"]
        rows.append(row)
    table(f"(b) {W}x{H} streams in one process ({args.frames} frames each), aggregate frames/s "
          f"(median of {args.repeat})",
          ["machine", "1 stream default", "1 stream threads=1", "1 stream threads=2",
           "2 streams default", "2 / best 1", "4 streams default", "4 / best 1"], rows)


def streams_pipeline(args, n, prop):
    branch = (f"videotestsrc num-buffers={args.frames} pattern=ball ! "
              f"video/x-raw,format=I420,width={W},height={H},framerate=30/1 ! "
              f"repvityolo model={args.model} {prop} ! fakesink")
    return " ".join([branch] * n)


def bench_live(args, tmp):
    """The live pipeline under the latency tracer; the element's JSON lines
    give each frame's inference time and stale flag."""
    jsonl = os.path.join(tmp, "live.jsonl")
    frames = max(args.frames, 90)
    rows = []
    for busy in [False, True] if args.busy else [False]:
        env = {"GST_TRACERS": "latency(flags=pipeline+reported)", "GST_DEBUG": "GST_TRACER:7",
               "GST_DEBUG_NO_COLOR": "1"}
        with Busy(busy):
            _, log = launch(f"videotestsrc is-live=true num-buffers={frames} pattern=ball ! "
                            f"video/x-raw,format=I420,width={W},height={H},framerate=15/1 ! "
                            f"repvityolo model={args.model} ! repvitjson location={jsonl} ! "
                            "fakesink sync=true", env)
        lines = [json.loads(line) for line in open(jsonl)]
        tracer = [int(t) / 1e6 for t in re.findall(r" latency, src-element-id=.*?time=\(guint64\)(\d+)", log)]
        # the element's own share of the latency, as it last answered a query
        reported = re.findall(r"element-reported-latency, .*?element=\(string\)repvityolo0, "
                              r"live=\(boolean\)1, min=\(guint64\)(\d+)", log)
        steady = tracer[len(tracer) // 3:]
        inferred = [line["inference_ms"] for line in lines if not line["stale"]]
        median_inf = statistics.median(inferred[len(inferred) // 3:])
        reported_ms = int(reported[-1]) / 1e6 if reported else float("nan")
        rows.append(["yes > /dev/null" if busy else "idle", f"{reported_ms:.1f}",
                     f"{median_inf:.1f}", f"{reported_ms / median_inf:.2f}",
                     f"{statistics.median(steady):.1f}",
                     f"{statistics.quantiles(steady, n=100)[98]:.1f}",
                     f"{sum(line['stale'] for line in lines) / len(lines):.3f}",
                     f"{inferred[0]:.1f}", f"{inferred[0] / median_inf:.2f}",
                     f"{frames - len(lines)}"])
    table(f"(c) live videotestsrc {W}x{H} 15 fps ! repvityolo ! repvitjson ! fakesink sync=true, "
          f"{frames} frames, latency tracer (ms)",
          ["machine", "reported latency", "median inference", "reported/median",
           "source-to-sink median", "p99", "stale share", "first inference", "first/median",
           "frames lost"], rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=os.path.join(ROOT, "models", "shapes-m0_9-n.safetensors"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--busy", action="store_true")
    parser.add_argument("which", nargs="*", help="transcode, streams, live (default: all)")
    args = parser.parse_args()
    if args.repeat < 1 or args.frames < 1:
        parser.error("--repeat and --frames must be positive")
    if not set(args.which) <= {"transcode", "streams", "live"}:
        parser.error(f"unknown benchmark in {args.which}")
    args.which = args.which or ["transcode", "streams", "live"]
    with tempfile.TemporaryDirectory() as tmp:
        if "transcode" in args.which:
            bench_transcode(args, tmp)
        if "streams" in args.which:
            bench_streams(args)
        if "live" in args.which:
            bench_live(args, tmp)


if __name__ == "__main__":
    main()
