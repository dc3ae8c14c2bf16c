#!/bin/bash
# Detects objects in a video file and writes it with the boxes drawn, or shows it.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

USAGE="usage: $(basename "$0") INPUT OUTPUT.webm [MODEL]
       $(basename "$0") --display INPUT [MODEL]
Detects objects in the video file INPUT and writes it, boxes drawn, as VP8 in
WebM to OUTPUT.webm, or with --display shows it in a window.
MODEL defaults to models/shapes-m0_9-n.safetensors.
$PROPS_HELP"

case "${1:-}" in
  -h|--help) echo "$USAGE"; exit 0 ;;
  --display)
    shift
    [ $# -ge 1 ] && [ $# -le 2 ] || usage_error
    INPUT=$1 MODEL=${2:-$DEFAULT_MODEL} OUTPUT= ;;
  *)
    [ $# -ge 2 ] && [ $# -le 3 ] || usage_error
    INPUT=$1 OUTPUT=$2 MODEL=${3:-$DEFAULT_MODEL}
    [[ $OUTPUT == *.webm ]] || die "OUTPUT must end in .webm: $OUTPUT"
    require_output_dir "$OUTPUT" ;;
esac
require_file "input video" "$INPUT"
require_file "model" "$MODEL"
require_plugin

if [ -n "$OUTPUT" ]; then
  SINK=(vp8enc deadline=1 target-bitrate=4000000 ! webmmux ! filesink "location=$OUTPUT")
else
  SINK=(autovideosink)
fi
exec gst-launch-1.0 -e filesrc "location=$INPUT" ! decodebin ! videoconvert ! \
  repvityolo "model=$MODEL" "${YOLO_PROPS[@]}" ! repvitoverlay ! videoconvert ! "${SINK[@]}"
