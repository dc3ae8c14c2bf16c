#!/bin/bash
# Detects objects in a video file and writes them as JSON Lines, one per frame.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

USAGE="usage: $(basename "$0") INPUT OUTPUT.jsonl [MODEL]
Detects objects in the video file INPUT, without display, and writes one JSON
object per frame to OUTPUT.jsonl (DL Streamer gvametaconvert layout).
MODEL defaults to models/shapes-m0_9-n.safetensors.
$PROPS_HELP"

case "${1:-}" in
  -h|--help) echo "$USAGE"; exit 0 ;;
esac
[ $# -ge 2 ] && [ $# -le 3 ] || usage_error
INPUT=$1 OUTPUT=$2 MODEL=${3:-$DEFAULT_MODEL}
require_file "input video" "$INPUT"
require_file "model" "$MODEL"
require_output_dir "$OUTPUT"
require_plugin

exec gst-launch-1.0 -q -e filesrc "location=$INPUT" ! decodebin ! videoconvert ! \
  repvityolo "model=$MODEL" "${YOLO_PROPS[@]}" ! repvitjson "location=$OUTPUT" ! fakesink
