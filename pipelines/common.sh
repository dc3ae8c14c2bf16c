# common.sh — sourced by the pipeline scripts: the repository root, the
# plugin search path, the default model and argument checks.

# shellcheck shell=bash disable=SC2034  # variables for the scripts sourcing this
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEFAULT_MODEL=$REPO_ROOT/models/shapes-m0_9-n.safetensors

# A build in build/ wins over an installed plugin, unless the caller has
# chosen the plugin path itself (as the tests do).
if [ -z "${GST_PLUGIN_PATH_1_0:-}" ] && [ -d "$REPO_ROOT/build/gst-plugin" ]; then
  export GST_PLUGIN_PATH="$REPO_ROOT/build/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
fi

# Extra repvityolo properties from the environment.
read -r -a YOLO_PROPS <<< "${REPVITYOLO_PROPS:-}"
PROPS_HELP='More repvityolo properties go in REPVITYOLO_PROPS, e.g.
REPVITYOLO_PROPS="conf-threshold=0.5 input-size=320".'

die() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

# usage_error: prints the script's usage (its USAGE variable) and fails.
usage_error() {
  echo "$USAGE" >&2
  exit 2
}

# require_file WHAT PATH
require_file() {
  [ -f "$2" ] && [ -r "$2" ] || die "$1 not found or not readable: $2"
}

# require_output_dir PATH: the folder PATH is to be written in exists.
require_output_dir() {
  [ -d "$(dirname "$1")" ] || die "output folder does not exist: $(dirname "$1")"
}

require_plugin() {
  gst-inspect-1.0 repvityolo >/dev/null 2>&1 ||
    die "GStreamer plugin repvityolo not found: build it (meson setup build && ninja -C build) or set GST_PLUGIN_PATH"
}

# input_output_model ARGS...: the INPUT OUTPUT [MODEL] arguments (or --help)
# of the headless scripts, checked; sets INPUT, OUTPUT and MODEL.
input_output_model() {
  case "${1:-}" in
    -h|--help) echo "$USAGE"; exit 0 ;;
  esac
  [ $# -ge 2 ] && [ $# -le 3 ] || usage_error
  INPUT=$1 OUTPUT=$2 MODEL=${3:-$DEFAULT_MODEL}
  require_file "input video" "$INPUT"
  require_file "model" "$MODEL"
  require_output_dir "$OUTPUT"
  require_plugin
}
