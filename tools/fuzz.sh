#!/usr/bin/env bash
# Fuzzes the weight-file loader (rv_model_load_memory) with libFuzzer under
# AddressSanitizer + UBSan for MINUTES minutes (default 10), starting from the
# checked-in corpus of tests/fuzz/corpus (seeds, and in found/ what earlier
# runs added, minimized with -merge=1). Needs clang (Debian: clang-14,
# libclang-rt-14-dev). New inputs go to build-fuzz/corpus; a crash is written to
# build-fuzz/crash-* and the script fails; replay it with
#   build-fuzz/fuzz-loader build-fuzz/crash-...
# Usage: tools/fuzz.sh [MINUTES] [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
jobs=${2:-1}
out=${FUZZ_DIR:-build-fuzz}
clang=$(command -v clang-14 || command -v clang)
mkdir -p "$out/corpus"

# The core is built from source with the fuzzer's instrumentation; ops_simd.c
# once per instruction set, as nn/meson.build does.
sources=(nn/src/*.c tests/fuzz/fuzz_loader.c)
if [ ! -x "$out/fuzz-loader" ] || [ -n "$(find "${sources[@]}" nn/include nn/src/*.h -newer "$out/fuzz-loader")" ]; then
  cflags=(-g -O1 -std=c11 -D_GNU_SOURCE -pthread -fsanitize=fuzzer-no-link,address,undefined
    -fno-sanitize-recover=undefined -Inn/include -Inn/src $(pkg-config --cflags openblas))
  objects=()
  for isa in "avx2:-mavx2 -mfma" "avx512:-mavx512f -mfma" \
      "avx512bf16:-mavx512f -mavx512bw -mavx512bf16 -mfma"; do
    # shellcheck disable=SC2086  # the flags are words
    "$clang" "${cflags[@]}" ${isa#*:} -c nn/src/ops_simd.c -o "$out/ops_simd-${isa%%:*}.o"
    objects+=("$out/ops_simd-${isa%%:*}.o")
  done
  core=()
  for src in "${sources[@]}"; do
    [ "$src" = nn/src/ops_simd.c ] || core+=("$src")
  done
  "$clang" "${cflags[@]}" -fsanitize=fuzzer "${core[@]}" "${objects[@]}" \
    $(pkg-config --libs openblas) -lm -o "$out/fuzz-loader"
fi

# The dictionary steers mutations towards the header's vocabulary.
cat > "$out/safetensors.dict" <<'DICT'
"{"
"}"
"["
"]"
"\"dtype\""
"\"shape\""
"\"data_offsets\""
"\"__metadata__\""
"\"F32\""
"\"F16\""
"\"BF16\""
"\\u"
"\\ud800"
"18446744073709551615"
"9007199254740993"
"4294967296"
"-1"
"1e3"
"\xc0\xaf"
"\xed\xa0\x80"
"\xf4\x90\x80\x80"
DICT

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
log="$out/fuzz.log"
set +e
seconds=$(awk "BEGIN { print int($minutes * 60) }")
parallel=()
[ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")
seeds=$PWD/tests/fuzz/corpus
(cd "$out" && ./fuzz-loader -max_total_time="$seconds" "${parallel[@]}" \
  -max_len=200000 -rss_limit_mb=2048 -malloc_limit_mb=1024 -dict=safetensors.dict \
  -print_final_stats=1 corpus "$seeds") 2>&1 | tee "$log" | grep -E "^#[0-9]+ +(pulse|DONE)|ERROR|stat::"
status=${PIPESTATUS[0]}
set -e
crashes=$(find "$out" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'oom-*' \
  -o -name 'timeout-*' \) | wc -l)
echo "fuzz.sh: exit $status, $(ls "$out/corpus" | wc -l) corpus files, $crashes crash/leak/oom/timeout inputs (log: $log)"
[ "$status" -eq 0 ] && [ "$crashes" -eq 0 ]
