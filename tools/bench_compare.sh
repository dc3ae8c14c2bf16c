#!/bin/bash
# bench_compare.sh — repvit against ONNX Runtime and PyTorch on the same network, same machine.
#
#   tools/bench_compare.sh [-b BUILD] [-w WORKDIR] [-m MODELS] [-s SIZES] [-t THREADS]
#                          [-r ROUNDS] [-k RUNS]
#
#   -b BUILD    meson build dir with repvit-bench (default build-bench; set up if missing, then built)
#   -w WORKDIR  model files, ONNX exports and raw results (default /tmp/repvit-bench)
#   -m MODELS   variant-scale pairs, nc 80 (default "m0_9-n m2_3-n")
#   -s SIZES    inputs, W x H (default "640x640 640x384")
#   -t THREADS  thread counts (default "1 2")
#   -r ROUNDS   processes per engine and cell (default 5)
#   -k RUNS     timed runs per process, after one warm-up run (default 3)
#
# For each model: random calibrated weights from the PyTorch reference (tools/make_golden.py,
# exported to safetensors); per input size the same weights folded (BN into convs, RepVGGDW
# into one depthwise conv) and exported to ONNX, and ONNX Runtime's output checked against the
# float64 reference (boxes within 1e-3 of the input size, scores within 1e-3). The int8 anchor:
# the folded model with QuantizeLinear/DequantizeLinear around every dense conv (u8 activations,
# per-tensor scales calibrated on the check input; s8 weights, symmetric per-channel scales,
# 7-bit (ORT's reduce_range) on a CPU without VNNI, where ORT's u8 x s8 kernel saturates with
# full-range weights; torch_bench.py qdq), which ONNX Runtime runs as int8 convs, its output
# checked against the same fake-quantized model in PyTorch (mean differences within 0.05). Then per cell
# (model, size, threads) the engines run interleaved, repvit, repvit-bf16, repvit-int8, ort,
# ort-int8, torch, repvit, ..., each in its own process: repvit-bench (f32, --precision bf16: the
# dense convs in bf16 on AVX512-BF16 CPUs, and --precision int8: in int8 on AVX512-VNNI or
# AVX-VNNI CPUs; the table marks a column "f32" where its precision fell back), ONNX
# Runtime (onnxruntime-node: intra-op THREADS, inter-op 1, all graph optimizations;
# tools/bench/ort_run.js) on the fp32 and on the QDQ model, and PyTorch eager on the folded model
# (torch.set_num_threads(THREADS); tools/bench/torch_bench.py). The peaks are those of one core
# of this CPU per precision (tools/bench/peak.c, built into BUILD; the best of 9 reps, as other
# processes only ever slow a rep down), times THREADS.
#
# Prints the CPU (vendor, family, model, name), its per-core peaks and the load average before
# and after the timings, then one table: median ms per engine, GFLOP/s (2 x MACs / time; GOP/s
# for ort-int8) and % of the peak of the engine's precision (fp32: 512-bit FMA where the CPU
# has AVX-512, else 256-bit; bf16: vdpbf16ps; int8: vpdpbusd, 512-bit where present), peak
# RSS of each engine process, and the time ratios repvit/ORT, bf16/ORT, int8/ORT and int8/ORT-int8
# (the int8 anchor); then the mean CPU time per run
# (all threads together), which at one thread stays close to the compute time even when
# other processes share the cores. Run it on a quiet machine.
# Needs: /usr/bin/python3 with torch, node + npm (onnxruntime-node goes into
# tools/bench/node_modules with npm install --ignore-scripts), /usr/bin/time.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bench=$root/tools/bench
py=/usr/bin/python3
build=build-bench work=/tmp/repvit-bench
models="m0_9-n m2_3-n" sizes="640x640 640x384" threads="1 2" rounds=5 runs=3
while getopts b:w:m:s:t:r:k: opt; do
  case $opt in
    b) build=$OPTARG ;; w) work=$OPTARG ;; m) models=$OPTARG ;; s) sizes=$OPTARG ;;
    t) threads=$OPTARG ;; r) rounds=$OPTARG ;; k) runs=$OPTARG ;;
    *) sed -n '2,14p' "$0" >&2; exit 2 ;;
  esac
done
case $build in /*) ;; *) build=$root/$build ;; esac
mkdir -p "$work"
log() { echo "== $*" >&2; }

# ---- tools
[ -d "$build" ] || meson setup "$build" "$root" --buildtype=release >&2
ninja -C "$build" -j2 >&2
repvit_bench=$(find "$build" -name repvit-bench -type f -perm -u+x | head -n1)
[ -n "$repvit_bench" ] || { echo "no repvit-bench under $build" >&2; exit 1; }
[ -d "$bench/node_modules/onnxruntime-node" ] || (cd "$bench" && npm install --ignore-scripts --no-audit --no-fund >&2)

# ---- models, ONNX exports, correctness of the ONNX path
# Without VNNI, ORT's int8 conv adds u8 x s8 products pairwise in saturating 16-bit lanes:
# the anchor's weights then keep to 7 bits, as ORT's quantization guide advises.
if grep -qw -e avx512_vnni -e avx_vnni /proc/cpuinfo; then qdq_weights=full-range; else qdq_weights=reduce-range; fi
: > "$work/macs.tsv"
for model in $models; do
  variant=${model%-*} scale=${model#*-}
  first_size=${sizes%% *}
  log "weights $model"
  "$py" "$root/tools/make_golden.py" --variant "$variant" --scale "$scale" --nc 80 --seed 1 \
    --size "${first_size#*x}x${first_size%x*}" "$work/$model" > /dev/null
  for size in $sizes; do
    stem=$work/$model/$size
    "$py" "$bench/torch_bench.py" prepare "$work/$model/model.safetensors" "$stem.onnx" "$size" \
      "$stem.in.f32" "$stem.ref.f32"
    node "$bench/ort_run.js" "$stem.onnx" "$size" 1 1 0 "$stem.in.f32" "$stem.ort.f32" > /dev/null
    "$py" "$bench/torch_bench.py" check "$stem.ref.f32" "$stem.ort.f32" "$size" "ort"
    "$py" "$bench/torch_bench.py" qdq "$work/$model/model.safetensors" "$stem.qdq.onnx" "$size" \
      "$stem.in.f32" "$stem.fq.f32" "$qdq_weights"
    node "$bench/ort_run.js" "$stem.qdq.onnx" "$size" 1 1 0 "$stem.in.f32" "$stem.ort-int8.f32" > /dev/null
    "$py" "$bench/torch_bench.py" check "$stem.fq.f32" "$stem.ort-int8.f32" "$size" "ort-int8" 0.05 mean
    echo "$model $size $("$py" "$bench/torch_bench.py" macs "$work/$model/model.safetensors" "$size")" >> "$work/macs.tsv"
  done
done

# ---- per-core peaks (none where the build has no peak program: not x86)
if [ -x "$build/tools/bench/peak" ]; then "$build/tools/bench/peak" 9; else echo "cpu none"; fi > "$work/peak.txt"
cat "$work/peak.txt" >&2
load() { cut -d' ' -f1-3 /proc/loadavg; }
load_before=$(load)

# ---- timings, interleaved
value_of() { sed -n "s/.*$1[_a-z]*[=: ]*\([0-9][0-9.]*\).*/\1/p" "$2" | head -n1; }
: > "$work/times.tsv"
for model in $models; do
  for size in $sizes; do
    for thr in $threads; do
      log "time $model $size threads $thr"
      for ((r = 0; r < rounds; r++)); do
        for engine in repvit repvit-bf16 repvit-int8 ort ort-int8 torch; do
          case $engine in
            repvit) cmd=("$repvit_bench" --model "$work/$model/model.safetensors" --size "$size" --threads "$thr" --runs "$runs") ;;
            repvit-bf16 | repvit-int8)
              cmd=("$repvit_bench" --model "$work/$model/model.safetensors" --size "$size" --threads "$thr" --runs "$runs"
                   --precision "${engine#repvit-}") ;;
            ort) cmd=(node "$bench/ort_run.js" "$work/$model/$size.onnx" "$size" "$thr" "$runs" 1) ;;
            ort-int8) cmd=(node "$bench/ort_run.js" "$work/$model/$size.qdq.onnx" "$size" "$thr" "$runs" 1) ;;
            torch) cmd=(env OMP_NUM_THREADS="$thr" "$py" "$bench/torch_bench.py" run "$work/$model/model.safetensors" "$size" "$thr" "$runs" 1) ;;
          esac
          /usr/bin/time -f %M -o "$work/rss" "${cmd[@]}" > "$work/out" 2> "$work/err" \
            || { cat "$work/out" "$work/err" >&2; echo "$engine failed: ${cmd[*]}" >&2; exit 1; }
          ms=$(value_of median "$work/out") cpu=$(value_of cpu "$work/out")
          [ -n "$ms" ] && [ -n "$cpu" ] || { cat "$work/out" >&2; echo "$engine: no median or cpu time in its output" >&2; exit 1; }
          case $engine in
            repvit-bf16 | repvit-int8) grep -q "^precision: ${engine#repvit-}" "$work/out" || engine=$engine-fallback ;;
          esac
          echo "$model $size $thr $engine $ms $cpu $(tail -n1 "$work/rss")" >> "$work/times.tsv"
        done
      done
    done
  done
done

echo
echo "$(basename "$0") -m \"$models\" -s \"$sizes\" -t \"$threads\" -r $rounds -k $runs  ($(date -u +%FT%TZ), $(nproc) cores)"
echo "$(head -n1 "$work/peak.txt"); load average (1/5/15 min) before timings $load_before, after $(load)"
echo "ort-int8 weights: $qdq_weights"
echo "per-core peaks, GOP/s (best of 9):" $(sed -n 's/^peak \([^ ]*\) .*best_gops=\([0-9.]*\).*/\1 \2,/p' "$work/peak.txt")
"$py" "$bench/table.py" "$work"
