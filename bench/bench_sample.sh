#!/usr/bin/env bash
# Benchmark (issue 2): guided sampling of 4096 2D points, 32 Heun steps, two
# TorchScript MLP denoisers, SIMS on every step; `sims sample` side by side
# with the same loop in Python/PyTorch over the same files and thread count.
# usage: bench/bench_sample.sh [BUILD_DIR] [REPEATS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}; REPS=${2:-5}
SIMS=$BUILD/bin/sims; PY=/usr/bin/python3
FX=$BUILD/bench-fixtures
$PY "$ROOT/tools/make_fixtures.py" "$FX" --bench >/dev/null
N=4096; STEPS=32; OMEGA=1.0
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
secs() { $PY -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['seconds'])"; }
printf "%-8s %-34s %10s\n" threads variant median_s
for T in 1 2; do
  declare -A R=()
  for v in cpp cpp_seq cpp_noopt py py_opt; do
    for r in $(seq "$REPS"); do
      case $v in
        cpp)      "$SIMS" sample --model "$FX/bench_base.pt" --aux "$FX/bench_aux.pt" --omega $OMEGA --steps $STEPS --n $N --seed 0 --threads $T --out /tmp/bench_s.npy --json | secs ;;
        cpp_seq)  "$SIMS" sample --model "$FX/bench_base.pt" --aux "$FX/bench_aux.pt" --omega $OMEGA --steps $STEPS --n $N --seed 0 --threads $T --pair-mode sequential --out /tmp/bench_s.npy --json | secs ;;
        cpp_noopt) "$SIMS" sample --model "$FX/bench_base.pt" --aux "$FX/bench_aux.pt" --omega $OMEGA --steps $STEPS --n $N --seed 0 --threads $T --pair-mode sequential --no-optimize --out /tmp/bench_s.npy --json | secs ;;
        py)       $PY "$ROOT/bench/sample_loop.py" "$FX/bench_base.pt" "$FX/bench_aux.pt" $N $STEPS $OMEGA $T | secs ;;
        py_opt)   $PY "$ROOT/bench/sample_loop.py" "$FX/bench_base.pt" "$FX/bench_aux.pt" $N $STEPS $OMEGA $T --optimize | secs ;;
      esac
    done | median > /tmp/bench_med
    R[$v]=$(cat /tmp/bench_med)
    printf "%-8s %-34s %10.4f\n" "$T" "$v" "${R[$v]}"
  done
  $PY -c "print('threads=$T  speed-up sims/python = %.2fx   (vs python with freeze+optimize_for_inference: %.2fx)' % (${R[py]}/${R[cpp]}, ${R[py_opt]}/${R[cpp]}))"
  unset R
done
