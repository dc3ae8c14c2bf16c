#!/usr/bin/env bash
# Soak test: a live 640x480 15 fps videotestsrc ! repvityolo ! repvitoverlay !
# fakesink pipeline for SECONDS (default 1800), sampling the process's RSS,
# open file descriptors and threads every 10 s. Reports the RSS slope in
# MiB/hour after the warm-up (the first 20 % of the run, at least 60 s), the
# fd and thread counts, and the frames processed; fails if RSS grows faster
# than MAX_SLOPE MiB/hour (default 10) or fds/threads grow after the warm-up.
# Usage: tools/soak.sh [SECONDS]
#   BUILD=build  MODEL=../shared/golden/m0_9-n-nc80.safetensors
#   INPUT_SIZE=0 (the model's)  THREADS=1  OUT=build/soak
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-1800}
build=${BUILD:-build}
model=${MODEL:-$PWD/../shared/golden/m0_9-n-nc80.safetensors}
out=${OUT:-$build/soak}
mkdir -p "$out"
samples=$out/samples.tsv
log=$out/pipeline.log

export GST_PLUGIN_SYSTEM_PATH_1_0=""
export GST_PLUGIN_PATH_1_0="$PWD/$build/gst-plugin:$(pkg-config --variable=pluginsdir gstreamer-1.0)"
export GST_REGISTRY_1_0="$out/registry.bin"
export GST_DEBUG="*:1,repvityolo:4"
export GST_DEBUG_NO_COLOR=1
gst-launch-1.0 -e videotestsrc is-live=true pattern=ball \
  ! video/x-raw,format=I420,width=640,height=480,framerate=15/1 \
  ! repvityolo model="$model" input-size="${INPUT_SIZE:-0}" threads="${THREADS:-1}" \
  ! repvitoverlay ! fakesink sync=true > "$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT

printf 't_s\trss_kib\tfds\tthreads\n' > "$samples"
start=$(date +%s)
while :; do
  now=$(( $(date +%s) - start ))
  kill -0 $pid 2>/dev/null || { echo "soak: the pipeline died after ${now} s:" >&2; tail -20 "$log" >&2; exit 1; }
  rss=$(awk '/^VmRSS/ { print $2 }' /proc/$pid/status)
  threads=$(awk '/^Threads/ { print $2 }' /proc/$pid/status)
  fds=$(ls /proc/$pid/fd | wc -l)
  printf '%d\t%d\t%d\t%d\n' "$now" "$rss" "$fds" "$threads" >> "$samples"
  [ "$now" -ge "$seconds" ] && break
  sleep $(( seconds - now < 10 ? seconds - now : 10 ))
done
kill -INT $pid                  # -e: EOS, then the element logs its totals
for _ in $(seq 60); do kill -0 $pid 2>/dev/null || break; sleep 1; done
kill $pid 2>/dev/null || true
trap - EXIT
grep -ho "[0-9]* inferences ([0-9]* frames late).*" "$log" || true

/usr/bin/python3 - "$samples" "$seconds" "${MAX_SLOPE:-10}" <<'PY'
import sys
import numpy as np
rows = np.loadtxt(sys.argv[1], skiprows=1, ndmin=2)
seconds, max_slope = float(sys.argv[2]), float(sys.argv[3])
warm = rows[rows[:, 0] >= max(60.0, 0.2 * seconds)]
if len(warm) < 3:
    sys.exit(f"soak: only {len(warm)} samples after the warm-up; run longer")
t, rss, fds, threads = warm.T
slope = np.polyfit(t / 3600, rss / 1024, 1)[0]
print(f"soak: {rows[-1, 0]:.0f} s, {len(rows)} samples; after warm-up ({t[0]:.0f} s): "
      f"RSS {rss[0] / 1024:.1f} -> {rss[-1] / 1024:.1f} MiB (max {rss.max() / 1024:.1f}), "
      f"slope {slope:+.2f} MiB/hour; fds {fds.min():.0f}..{fds.max():.0f}; "
      f"threads {threads.min():.0f}..{threads.max():.0f}")
bad = []
if slope > max_slope:
    bad.append(f"RSS grows {slope:.2f} MiB/hour (limit {max_slope})")
if fds[-1] > fds[0] or threads[-1] > threads[0]:
    bad.append("fds or threads grew after the warm-up")
sys.exit("soak: FAIL: " + "; ".join(bad) if bad else 0)
PY
