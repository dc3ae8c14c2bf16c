#!/bin/bash
# bench_threads.sh — per-frame time of the forward at 1, 2 and the default (0) threads, alone
# and beside one busy process (`yes > /dev/null`), for one or more builds of repvit-bench
# (e.g. before and after a change), interleaved.
#
#   tools/bench_threads.sh [-m MODEL] [-s WxH] [-t THREADS] [-r ROUNDS] [-k RUNS] BENCH...
#
#   BENCH       repvit-bench programs to compare (e.g. build/nn/repvit-bench)
#   -m MODEL    weight file (default models/shapes-m0_9-n.safetensors)
#   -s WxH      input (default 320x192: the shipped model on 720p)
#   -t THREADS  thread counts (default "1 2 0")
#   -r ROUNDS   processes per cell, interleaved across the programs (default 3)
#   -k RUNS     timed forwards per process, after two warm-up ones (default 20)
#
# Prints the CPU, the load average before the run, and per cell (load, threads, program) the
# median over the rounds of each process's median wall ms per forward, and of its CPU ms per
# forward (all threads together).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
model=$root/models/shapes-m0_9-n.safetensors size=320x192 threads="1 2 0" rounds=3 runs=20
while getopts m:s:t:r:k: opt; do
  case $opt in
    m) model=$OPTARG ;;
    s) size=$OPTARG ;;
    t) threads=$OPTARG ;;
    r) rounds=$OPTARG ;;
    k) runs=$OPTARG ;;
    *) sed -n '2,17p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [ $# -eq 0 ]; then
  sed -n '2,17p' "$0" >&2
  exit 2
fi

median() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "CPU: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), family" \
  "$(grep -m1 '^cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')," \
  "model $(grep -m1 '^model' /proc/cpuinfo | grep -v name | cut -d: -f2 | tr -d ' ')," \
  "$(nproc) CPUs; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "model $(basename "$model") $size, $runs forwards per process, median of $rounds processes"
printf '%-6s %-8s %-40s %10s %10s\n' load threads program "wall ms" "cpu ms"

busy_pid=
trap '[ -z "$busy_pid" ] || kill "$busy_pid"' EXIT
for load in none busy; do
  if [ "$load" = busy ]; then
    yes > /dev/null &
    busy_pid=$!
  fi
  for t in $threads; do
    declare -A wall=() cpu=()
    for ((r = 0; r < rounds; r++)); do
      for b in "$@"; do
        out=$("$b" --model "$model" --size "$size" --threads "$t" --runs "$runs")
        wall[$b]+="$(awk '/^median:/ { print $2 }' <<< "$out") "
        cpu[$b]+="$(awk '/^cpu:/ { print $2 }' <<< "$out") "
      done
    done
    for b in "$@"; do
      printf '%-6s %-8s %-40s %10s %10s\n' "$load" "$t" "$b" \
        "$(tr ' ' '\n' <<< "${wall[$b]}" | grep . | median)" \
        "$(tr ' ' '\n' <<< "${cpu[$b]}" | grep . | median)"
    done
    unset wall cpu
  done
done
