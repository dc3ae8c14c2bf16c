#!/usr/bin/env bash
# Quick start 2: installs what is missing, builds, and runs every test suite,
# then the core and element suites again under AddressSanitizer + UBSan.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh build
meson test -C build --print-errorlogs --num-processes 2 --timeout-multiplier 3
scripts/setup.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized
# An ASan-built plugin cannot be loaded by the forked registry scanner; the
# scan runs in-process, and tests/lsan.supp lists the libraries' lifetime
# caches (full unwinding, since GLib has no frame pointers to walk).
GST_REGISTRY_FORK=no \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 \
LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  meson test -C build-asan --print-errorlogs --num-processes 2 --timeout-multiplier 3 --suite nn --suite gst
