#!/usr/bin/env bash
# Quick start 1: installs what is missing, builds, and runs the demo pipeline
# (shipped shapes model on a generated 1280x720 clip) into out/.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh build
exec pipelines/demo.sh "$@"
