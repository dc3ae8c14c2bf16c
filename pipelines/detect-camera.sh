#!/bin/bash
# Shows a camera with the detected objects drawn, live.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

USAGE="usage: $(basename "$0") [DEVICE] [MODEL]
Shows the V4L2 camera DEVICE (default /dev/video0) with the detected objects
drawn. Frames that arrive while the network is busy are dropped, so the
picture stays live. MODEL defaults to models/shapes-m0_9-n.safetensors.
$PROPS_HELP"

case "${1:-}" in
  -h|--help) echo "$USAGE"; exit 0 ;;
  -*) usage_error ;;
esac
[ $# -le 2 ] || usage_error
DEVICE=${1:-/dev/video0}
MODEL=${2:-$DEFAULT_MODEL}
[ -c "$DEVICE" ] || die "camera not found (not a character device): $DEVICE"
require_file "model" "$MODEL"
require_plugin

exec gst-launch-1.0 -e v4l2src "device=$DEVICE" ! \
  queue leaky=downstream max-size-buffers=1 max-size-bytes=0 max-size-time=0 ! \
  videoconvert ! repvityolo "model=$MODEL" "${YOLO_PROPS[@]}" ! repvitoverlay ! videoconvert ! \
  autovideosink sync=false
