#!/usr/bin/env bash
# Installs the Debian 12 packages the project needs (when run as root and
# something is missing) and builds it into build/ (or $1).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
shift || true

packages=(
  meson ninja-build pkg-config gcc libc6-dev
  libopenblas-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  libcairo2-dev libpango1.0-dev libjson-glib-dev fonts-dejavu-core
  python3-torch python3-numpy python3-torchvision python3-pil python3-opencv
  gstreamer1.0-plugins-bad libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-plugins-ugly gstreamer1.0-libav
  gobject-introspection libgirepository1.0-dev
  gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 python3-gi python3-gst-1.0
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -f "$build_dir/build.ninja" ]; then
  meson setup "$build_dir" "$@"
fi
ninja -C "$build_dir"
