#!/usr/bin/env bash
# SIMS Fig. 6 miniature: distribution shifting on the built-in faces. The
# shipped faces U-Net (trained on faces with group ratio 0.5) is shifted
# towards 70 % group = 1: its samples are labelled by the shipped faces CNN,
# the auxiliary is fine-tuned on 2,000 of them at the complement share
# (70 % group 0 / 30 % group 1), and ω is swept with 500 samples per value:
# share of group 1, FD_cnn-faces per group (vs the real faces of that group)
# and overall. About 30 min on 2 CPU cores; resumable (run it again after an
# interruption). Copies the plot, the samples and the table to DOCS.
# usage: tools/repro_shift.sh [OUT=out/repro-shift] [BUILD=build] [DOCS=docs/repro/shift]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/out/repro-shift}; SIMS=${SIMS:-${2:-$ROOT/build}/bin/sims}; DOCS=${3:-$ROOT/docs/repro/shift}
M=$ROOT/assets/models
mkdir -p "$OUT" "$DOCS"

# 1. The base's own share of group 1 (the shift starts from it): 256 samples.
if [[ ! -s "$OUT/base-check.json" ]]; then
  nice -n 10 "$SIMS" sample --model "$M/faces-base.ckpt" --n 256 --seed 100 --out "$OUT/base-check.npy" >/dev/null
  "$SIMS" metrics ratio --classifier "$M/faces-cnn.ckpt" "$OUT/base-check.npy" --json | tail -1 >"$OUT/base-check.json"
fi
echo "base share (256 samples): $(cat "$OUT/base-check.json")"

# 2. The recipe (stages reused when the run folder already holds them).
nice -n 10 "$SIMS" shift --model "$M/faces-base.ckpt" --classifier "$M/faces-cnn.ckpt" \
  --attribute group --target 0.7 --n-aux 2000 --steps 18 --seed 0 \
  --budget 20000 --batch 64 --lr 1e-3 --train-seed 3 \
  --omegas=-1,0,0.5,1,1.5,2,3 --n-eval 500 --eval-seed 1 \
  --real-data faces --n-real 4000 --real-seed 12345 --out "$OUT/run"

cp "$OUT/run/shift.png" "$OUT/run/samples.png" "$OUT/run/results.csv" "$OUT/run/results.json" "$DOCS/"
echo "wrote $DOCS/{shift.png,samples.png,results.csv,results.json}"
