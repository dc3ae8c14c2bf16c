#!/usr/bin/python3
"""Read and edit repvityolo's detections from Python, in a pad probe.

    detections.py MODEL URI-OR-FILE [--min-confidence C] [--add LABEL,X,Y,W,H] [--json OUT]
                  [--track N]

Runs  uridecodebin ! videoconvert ! repvityolo [! repvittrack] ! repvitjson ! fakesink
and, in a probe on the source pad of the element before repvitjson, prints every field
of the frame's GstRepvitDetectionMeta (model, input size, inference time, stale) and of
each detection (class_id, label, confidence, box, track_id, flags), then removes the
detections below --min-confidence and appends the --add box. repvitjson, downstream,
writes what is left (to --json OUT, else nowhere). With --track N the detector runs on
every N-th frame and repvittrack gives the objects ids; on the frames between, the boxes
are the tracker's predictions, with the flag "predicted".

Needs the typelib of the meta library (GstRepvit-1.0.typelib): installed with the
project, or GI_TYPELIB_PATH=build/meta and LD_LIBRARY_PATH=build/meta in the build tree.
"""
import argparse
import os
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRepvit", "1.0")
from gi.repository import Gst, GstRepvit  # noqa: E402


def box_arg(text):
    label, *box = text.split(",")
    if len(box) != 4:
        raise argparse.ArgumentTypeError("expected LABEL,X,Y,W,H")
    return label, [float(v) for v in box]


def flag_names(flags):
    """GstRepvitDetectionFlags as text: "predicted", or "none" for a box the detector found."""
    return "|".join(nick for nick in flags.value_nicks if nick != "none") or "none"


def on_buffer(pad, info, args):
    meta = GstRepvit.buffer_get_repvit_detection_meta(info.get_buffer())
    if meta is None:
        return Gst.PadProbeReturn.OK
    print(f"frame: model {meta.model}, input {meta.input_width}x{meta.input_height}, "
          f"{meta.inference_ns / 1e6:.1f} ms, stale {meta.stale}, {meta.get_count()} detections")
    for i in range(meta.get_count()):
        d = meta.get(i)
        print(f"  {d.class_id} {d.label} {d.confidence:.4f} {d.x:.1f} {d.y:.1f} {d.w:.1f} {d.h:.1f} "
              f"track {d.track_id} flags {flag_names(d.flags)}")
    # edit: backwards, so that removing does not shift the detections still to visit
    for i in reversed(range(meta.get_count())):
        if meta.get(i).confidence < args.min_confidence:
            meta.remove(i)
    if args.add:
        d = GstRepvit.Detection()
        d.label, (d.x, d.y, d.w, d.h) = args.add
        d.class_id, d.confidence, d.track_id = -1, 1.0, -1   # not a class of the model
        meta.add(d)
    print(f"  after editing: {meta.get_count()} detections")
    return Gst.PadProbeReturn.OK


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("input", help="URI or file")
    ap.add_argument("--min-confidence", type=float, default=0.0)
    ap.add_argument("--add", type=box_arg, metavar="LABEL,X,Y,W,H")
    ap.add_argument("--json", default=os.devnull, help="repvitjson output (default: none)")
    ap.add_argument("--track", type=int, metavar="N", help="track, detecting on every N-th frame")
    args = ap.parse_args()

    Gst.init(None)
    tracker = "repvittrack name=tracker ! " if args.track else ""
    pipeline = Gst.parse_launch("uridecodebin name=source ! videoconvert ! repvityolo name=detector ! "
                                f"{tracker}repvitjson name=json ! fakesink")
    uri = args.input if Gst.uri_is_valid(args.input) else Gst.filename_to_uri(args.input)
    pipeline.get_by_name("source").set_property("uri", uri)
    detector = pipeline.get_by_name("detector")
    detector.set_property("model", args.model)
    if args.track:
        detector.set_property("inference-interval", args.track)
    pipeline.get_by_name("json").set_property("location", args.json)
    probed = pipeline.get_by_name("tracker") or detector
    probed.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_buffer, args)

    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(Gst.CLOCK_TIME_NONE,
                                                Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if msg.type == Gst.MessageType.ERROR:
        err, debug = msg.parse_error()
        print(f"error from {msg.src.get_name()}: {err.message}\n{debug}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
