#!/bin/bash
# Detects and tracks objects in a video file and writes them as JSON Lines.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

USAGE="usage: $(basename "$0") INPUT OUTPUT.jsonl [MODEL]
Detects objects in the video file INPUT, tracks them (repvittrack) and writes
one JSON object per frame to OUTPUT.jsonl; each tracked object has its track
\"id\", untracked detections are left out. repvityolo runs with
conf-threshold=0.1 so that weak detections can continue tracks.
MODEL defaults to models/shapes-m0_9-n.safetensors.
$PROPS_HELP
More repvittrack properties go in REPVITTRACK_PROPS, e.g.
REPVITTRACK_PROPS=\"min-hits=3 max-age=60\"."

input_output_model "$@"
read -r -a TRACK_PROPS <<< "${REPVITTRACK_PROPS:-}"

exec gst-launch-1.0 -q -e filesrc "location=$INPUT" ! decodebin ! videoconvert ! \
  repvityolo "model=$MODEL" conf-threshold=0.1 "${YOLO_PROPS[@]}" ! \
  repvittrack drop-untracked=true "${TRACK_PROPS[@]}" ! \
  repvitjson "location=$OUTPUT" ! fakesink
