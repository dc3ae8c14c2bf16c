#!/bin/bash
# The demo: a synthetic clip of moving shapes, detected, drawn and written out.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

USAGE="usage: $(basename "$0") [--seconds S] [--out DIR] [MODEL]
Makes DIR/demo-clip.webm (1280x720, 30 fps, S seconds of moving shapes, by
tools/synth.py) unless it exists, runs the detector on it and writes
  DIR/demo-annotated.webm  the clip with the boxes drawn
  DIR/demo.jsonl           one JSON line of detections per frame
  DIR/demo-still.png       one annotated frame (frame 150, or the middle one)
then prints a summary. S defaults to 10, DIR to out/, MODEL to
models/shapes-m0_9-n.safetensors.
$PROPS_HELP"

SECONDS_=10 OUT=$REPO_ROOT/out MODEL=$DEFAULT_MODEL
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) echo "$USAGE"; exit 0 ;;
    --seconds) [ $# -ge 2 ] || usage_error; SECONDS_=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || usage_error; OUT=$2; shift 2 ;;
    -*) usage_error ;;
    *) [ $# -eq 1 ] || usage_error; MODEL=$1; shift ;;
  esac
done
[[ $SECONDS_ =~ ^[0-9]*[.]?[0-9]+$ ]] && awk -v s="$SECONDS_" 'BEGIN { exit !(s > 0) }' ||
  die "--seconds must be a positive number: $SECONDS_"
require_file "model" "$MODEL"
require_plugin
mkdir -p "$OUT" || die "cannot create the output folder: $OUT"

FPS=30
CLIP=$OUT/demo-clip.webm
if [ ! -s "$CLIP" ]; then
  echo "Rendering the demo clip ($SECONDS_ s) to $CLIP ..."
  /usr/bin/python3 "$REPO_ROOT/tools/synth.py" clip /dev/stdout --seconds "$SECONDS_" --fps $FPS |
    gst-launch-1.0 -q fdsrc ! \
      rawvideoparse format=rgb width=1280 height=720 framerate=$FPS/1 ! \
      videoconvert ! vp8enc deadline=1 target-bitrate=8000000 ! webmmux ! \
      filesink "location=$CLIP.part"
  mv "$CLIP.part" "$CLIP"
fi

# The still: videorate keeps one frame every STILL frames; the second is frame
# STILL (150, or the middle frame of a shorter clip).
FRAMES=$(awk -v s="$SECONDS_" -v f=$FPS 'BEGIN { printf "%d", s * f + 0.5 }')
STILL=$(( FRAMES / 2 < 150 ? FRAMES / 2 : 150 ))
STILL=$(( STILL > 0 ? STILL : 1 ))
rm -f "$OUT"/.still-*.png

echo "Detecting with $(basename "$MODEL") ..."
START=$(date +%s.%N)
gst-launch-1.0 -q -e filesrc "location=$CLIP" ! decodebin ! videoconvert ! \
  repvityolo "model=$MODEL" "${YOLO_PROPS[@]}" ! repvitoverlay ! tee name=t \
  t. ! queue ! videoconvert ! vp8enc deadline=1 target-bitrate=4000000 ! webmmux ! \
    filesink "location=$OUT/demo-annotated.webm" \
  t. ! queue ! repvitjson "location=$OUT/demo.jsonl" ! fakesink \
  t. ! queue ! videorate drop-only=true ! "video/x-raw,framerate=$FPS/$STILL" ! \
    videoconvert ! pngenc ! multifilesink "location=$OUT/.still-%d.png"
END=$(date +%s.%N)
if [ -f "$OUT/.still-1.png" ]; then
  mv "$OUT/.still-1.png" "$OUT/demo-still.png"
else
  mv "$OUT/.still-0.png" "$OUT/demo-still.png"   # a one-frame clip
fi
rm -f "$OUT"/.still-*.png

/usr/bin/python3 - "$OUT/demo.jsonl" "$START" "$END" <<'PY'
import collections, json, sys

path, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
frames, per_class, inference = 0, collections.Counter(), []
with open(path) as f:
    for line in f:
        o = json.loads(line)
        frames += 1
        per_class.update(obj["roi_type"] for obj in o["objects"])
        if "inference_ms" in o and not o.get("stale"):
            inference.append(o["inference_ms"])
wall = end - start
print(f"frames: {frames} in {wall:.1f} s ({frames / wall:.1f} fps, decode + detect + encode)")
if inference:
    print(f"inference: {sum(inference) / len(inference):.1f} ms per frame on average")
total = sum(per_class.values())
print(f"detections: {total} ({total / max(frames, 1):.2f} per frame)")
for name, n in per_class.most_common():
    print(f"  {name:12s} {n}")
PY
echo "Wrote $OUT/demo-annotated.webm, $OUT/demo.jsonl, $OUT/demo-still.png"
