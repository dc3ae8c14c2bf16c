#!/usr/bin/env bash
# Wrapper of `meson test --setup valgrind`: runs a test program under
# memcheck. A Python test runs natively, and the build's programs among its
# arguments (repvit-infer, drivers) run under memcheck through shims that exit
# with 97 on a memcheck error, which the test sees as a failure of the
# program (1 is an expected exit status of several programs there).
set -euo pipefail
memcheck=(valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect
  --suppressions="$(dirname "$0")/valgrind.supp" --num-callers=40 --quiet)
case "$(basename "$1")" in
  python*)
    shims=$(mktemp -d)
    trap 'rm -rf "$shims"' EXIT
    args=("$1")
    shift
    for arg in "$@"; do
      if [ -f "$arg" ] && [ -x "$arg" ] && [ "$(head -c 4 "$arg")" = $'\x7fELF' ]; then
        shim="$shims/$(basename "$arg")"
        printf '#!/bin/sh\nexec %s --error-exitcode=97 %q "$@"\n' "$(printf '%q ' "${memcheck[@]}")" \
          "$arg" > "$shim"
        chmod +x "$shim"
        arg=$shim
      fi
      args+=("$arg")
    done
    "${args[@]}"
    ;;
  *)
    exec "${memcheck[@]}" --error-exitcode=1 "$@"
    ;;
esac
