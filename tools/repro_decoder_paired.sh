#!/usr/bin/env bash
# SIMS App. A miniature, paired: the decoder-only auxiliary against the full one on the same noise.
# Makes the two auxiliaries of docs/REPRODUCTIONS.md's decoder-only comparison at B = 5,000 images (the cell both
# chose: n_s = 2,000 samples of the shipped faces base, tools/repro_sims_ablations.sh with TRAIN=all and
# TRAIN=decoder, omega 0 and 3), then scores both in one `sims sweep`: every row starts from the same noise and is
# scored on the same bootstrap resamples, so sweep.json's `aux_differences` gives decoder-only minus full with a
# paired 95 % interval, and each auxiliary's gain over omega = 0 is paired too. Each step keeps its run folder
# (re-running continues); finished steps are skipped. About 25 min on one core.
# usage: tools/repro_decoder_paired.sh [OUT=out/decoder-paired] [BUILD=build] [DOCS=docs/repro/decoder-aux/paired]
#   env: N_EVAL (500), OMEGAS (0,1,2,3: the sweep's), THREADS (1)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/out/decoder-paired}; BUILD=${2:-$ROOT/build}; DOCS=${3:-$ROOT/docs/repro/decoder-aux/paired}
SIMS=${SIMS:-$BUILD/bin/sims}; N_EVAL=${N_EVAL:-500}; OMEGAS=${OMEGAS:-0,1,2,3}; THREADS=${THREADS:-1}
M=$ROOT/assets/models
mkdir -p "$OUT" "$DOCS"
for train in all decoder; do
  if [[ ! -f $OUT/$train/ns-2000/aux.ckpt ]]; then
    SIMS=$SIMS TRAIN=$train SIZES=2000 BUDGETS=5000 OMEGAS=0,3 N_EVAL=$N_EVAL THREADS=$THREADS \
      bash "$ROOT/tools/repro_sims_ablations.sh" "$OUT/$train" "$BUILD" "$OUT/tune-docs-$train"
  fi
done
start=$(date +%s)
nice -n 10 "$SIMS" sweep --model "$M/faces-base.ckpt" --aux "$OUT/all/ns-2000/aux.ckpt" \
  --aux-snapshots "$OUT/decoder/ns-2000/aux.ckpt" --omegas "$OMEGAS" --n "$N_EVAL" --steps 18 --ci 100 \
  --real-data faces --real-seed 777 --n-real 4000 --features "$M/faces-cnn.ckpt" --threads "$THREADS" \
  --out "$OUT/sweep" --quiet | tee "$OUT/sweep.txt"
echo "sweep: $(( $(date +%s) - start )) s" >&2
for f in sweep.json sweep.csv fd_vs_omega.png; do cp "$OUT/sweep/$f" "$DOCS/$f"; done
cp "$OUT/sweep.txt" "$DOCS/sweep.txt"
