#!/usr/bin/env bash
# Benchmark (issue 17, SIMS App. A): what a decoder-only auxiliary saves at
# sampling time. The shipped faces U-Net (assets/models/faces-base.ckpt) is
# fine-tuned twice for BUDGET images on 256 of its own samples: all weights
# (a full auxiliary) and the decoder only (its encoder stays the base's, so
# `sims sample` evaluates the encoder once for both). Then N images, 18 Heun
# steps, SIMS on every evaluation: base alone, base + full aux, base +
# decoder-only aux, each with the pair evaluated one after the other
# (--pair-mode sequential) and side by side (auto), at 1 and 2 threads;
# medians of REPS runs of the sampling wall time. Beside it the same three
# loops in Python/PyTorch (bench/sample_pair_unet.py, random weights of the
# same configuration), which also times one encoder and one decoder pass.
# usage: bench/bench_decoder_aux.sh [BUILD_DIR] [REPS] [N]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}; REPS=${2:-3}; N=${3:-64}
SIMS=$BUILD/bin/sims; PY=/usr/bin/python3; BUDGET=${BUDGET:-640}
W=$BUILD/bench-decoder-aux; mkdir -p "$W"
M=$ROOT/assets/models
[[ -s $W/synth.npy ]] || "$SIMS" synth --model "$M/faces-base.ckpt" --n 256 --steps 18 --seed 2 --out "$W/synth.npy" >/dev/null 2>&1
for t in all decoder; do
  [[ -s $W/aux-$t.ckpt ]] || "$SIMS" finetune --base "$M/faces-base.ckpt" --data "$W/synth.npy" --budget "$BUDGET" \
    --batch 64 --seed 3 --train $t --out "$W/aux-$t.ckpt" >/dev/null 2>&1
done
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
field() { $PY -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['$1'])"; }
printf "%-8s %-30s %10s %8s\n" threads variant median_s nfe
for T in 1 2; do
  declare -A R=()
  for v in base full_seq full shared_seq shared py_base py_full py_shared; do
    for r in $(seq "$REPS"); do
      case $v in
        base)       "$SIMS" sample --model "$M/faces-base.ckpt" --n "$N" --seed 0 --threads $T --out "$W/s.npy" --json ;;
        full_seq)   "$SIMS" sample --model "$M/faces-base.ckpt" --aux "$W/aux-all.ckpt" --omega 1 --n "$N" --seed 0 --threads $T --pair-mode sequential --out "$W/s.npy" --json ;;
        full)       "$SIMS" sample --model "$M/faces-base.ckpt" --aux "$W/aux-all.ckpt" --omega 1 --n "$N" --seed 0 --threads $T --out "$W/s.npy" --json ;;
        shared_seq) "$SIMS" sample --model "$M/faces-base.ckpt" --aux "$W/aux-decoder.ckpt" --omega 1 --n "$N" --seed 0 --threads $T --pair-mode sequential --out "$W/s.npy" --json ;;
        shared)     "$SIMS" sample --model "$M/faces-base.ckpt" --aux "$W/aux-decoder.ckpt" --omega 1 --n "$N" --seed 0 --threads $T --out "$W/s.npy" --json ;;
        py_*)       (cd "$ROOT/bench" && $PY sample_pair_unet.py "$M/../networks/unet32.json" "$N" 18 "${v#py_}" $T) ;;
      esac | tee "$W/last.json" | field seconds
    done | median > "$W/med"
    R[$v]=$(cat "$W/med")
    case $v in py_*) nfe=$(field nfe < "$W/last.json") ;; base) nfe=$(field nfe < "$W/last.json") ;; *) nfe=$(field nfe_effective < "$W/last.json") ;; esac
    printf "%-8s %-30s %10.3f %8s\n" "$T" "$v" "${R[$v]}" "$nfe"
    [[ $v == py_shared ]] && echo "         python: encoder share of one forward pass $(field encoder_share < "$W/last.json")"
  done
  $PY -c "
b,f,fs,s,ss=${R[base]},${R[full]},${R[full_seq]},${R[shared]},${R[shared_seq]}
pb,pf,ps=${R[py_base]},${R[py_full]},${R[py_shared]}
print('threads=$T  cost relative to the base alone: full aux %.2fx (sequential %.2fx), decoder-only aux %.2fx (sequential %.2fx); python %.2fx / %.2fx' % (f/b, fs/b, s/b, ss/b, pf/pb, ps/pb))
print('threads=$T  decoder-only vs full aux: %.2fx faster (sequential %.2fx); speed-up sims/python: base %.2fx, full %.2fx, shared %.2fx' % (f/s, fs/ss, pb/b, pf/f, ps/s))"
  unset R
done
