#!/usr/bin/env bash
# Quick start 2: installs what is missing, builds, and runs every test suite,
# then the core and element suites again under AddressSanitizer + UBSan.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh build
meson test -C build --print-errorlogs --num-processes 2 --timeout-multiplier 3
scripts/setup.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  meson test -C build-asan --print-errorlogs --num-processes 2 --timeout-multiplier 3 --suite nn --suite gst
