#!/usr/bin/env bash
# Wrapper of `meson test --setup valgrind`: runs a test program under
# memcheck. A Python test runs natively, and the build's programs among its
# arguments (repvit-infer, drivers) and the gst-launch-1.0 it finds on PATH
# (pipelines, accuracy) run under memcheck through shims that exit with 97 on
# a memcheck error, which the test sees as a failure of the program (1 is an
# expected exit status of several programs there).
set -euo pipefail
# --run-libc-freeres=no: glibc's exit-time cleanup would unmap the libraries
# that GStreamer dlopen'ed with the plugins (libgomp, cairo, pixman, libvpx...),
# and memcheck would then count their live caches as definitely lost.
memcheck=(valgrind --leak-check=full --show-leak-kinds=definite,indirect
  --errors-for-leak-kinds=definite,indirect --run-libc-freeres=no
  --suppressions="$(dirname "$0")/valgrind.supp" --num-callers=40 --quiet)
case "$(basename "$1")" in
  python*)
    shims=$(mktemp -d)
    trap 'rm -rf "$shims"' EXIT
    shim() {
      printf '#!/bin/sh\nexec %s --error-exitcode=97 %q "$@"\n' "$(printf '%q ' "${memcheck[@]}")" \
        "$1" > "$2"
      chmod +x "$2"
    }
    shim "$(command -v gst-launch-1.0)" "$shims/gst-launch-1.0"
    export PATH="$shims:$PATH"
    args=("$1")
    shift
    for arg in "$@"; do
      if [ -f "$arg" ] && [ -x "$arg" ] && [ "$(head -c 4 "$arg")" = $'\x7fELF' ]; then
        shim "$arg" "$shims/$(basename "$arg")"
        arg=$shims/$(basename "$arg")
      fi
      args+=("$arg")
    done
    "${args[@]}"
    ;;
  *)
    exec "${memcheck[@]}" --error-exitcode=1 "$@"
    ;;
esac
