#!/bin/bash
# Detects objects in a video file and writes them as JSON Lines, one per frame.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

USAGE="usage: $(basename "$0") INPUT OUTPUT.jsonl [MODEL]
Detects objects in the video file INPUT, without display, and writes one JSON
object per frame to OUTPUT.jsonl (DL Streamer gvametaconvert layout).
MODEL defaults to models/shapes-m0_9-n.safetensors.
$PROPS_HELP"

input_output_model "$@"

exec gst-launch-1.0 -q -e filesrc "location=$INPUT" ! decodebin ! videoconvert ! \
  repvityolo "model=$MODEL" "${YOLO_PROPS[@]}" ! repvitjson "location=$OUTPUT" ! fakesink
