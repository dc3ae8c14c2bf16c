#!/usr/bin/env bash
# Quick start 2: installs what is missing, builds, and runs every test suite,
# then the core and element suites again under AddressSanitizer + UBSan.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh build
meson test -C build --print-errorlogs --num-processes 2 --timeout-multiplier 3
scripts/setup.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized
# The system plugins are scanned first by a plain gst-inspect-1.0 into the
# registry the ASan tests use: scanned in-process under ASan, every installed
# plugin (libav, udev-based ones...) would be loaded there, slowly, and report
# its own one-time leaks. The ASan tests then scan only our plugins.
GST_PLUGIN_SYSTEM_PATH_1_0= \
GST_PLUGIN_PATH_1_0=$(pkg-config --variable=pluginsdir gstreamer-1.0) \
GST_REGISTRY_1_0=$PWD/build-asan/tests/gst/registry.bin \
  gst-inspect-1.0 > /dev/null
# An ASan-built plugin cannot be loaded by the forked registry scanner; the
# scan runs in-process, and tests/lsan.supp lists the libraries' lifetime
# caches (full unwinding, since GLib has no frame pointers to walk); the
# summary of suppressions used stays off stderr, which some tests read whole.
GST_REGISTRY_FORK=no \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 \
LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  meson test -C build-asan --print-errorlogs --num-processes 2 --timeout-multiplier 3 --suite nn --suite gst --suite track --no-suite accuracy --no-suite emulated-network
