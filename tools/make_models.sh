#!/usr/bin/env bash
# Regenerates the small models shipped in assets/models/ with the project's
# own CLI (SIMS Algorithm 1: base on real data -> synthetic set -> auxiliary
# fine-tuned from the base on it). Deterministic for the fixed seeds below.
# usage: tools/make_models.sh [BUILD_DIR] [2d|images|all]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}; WHAT=${2:-2d}
SIMS=$BUILD/bin/sims; OUT=$ROOT/assets/models
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"

if [[ $WHAT == 2d || $WHAT == all ]]; then
  # 25-mode grid: the base blurs modes into each other; SIMS sharpens them.
  # Small network (64 x 4): the studio re-samples 2,000 points x 32 steps live.
  "$SIMS" train --data grid25 --n-data 5000 --data-seed 0 --budget 3000000 --batch 512 --lr 2e-3 --seed 1 \
    --net "$ROOT/assets/networks/mlp2d-small.json" --out "$OUT/grid25-base.ckpt"
  "$SIMS" synth --model "$OUT/grid25-base.ckpt" --n 5000 --steps 32 --seed 2 --out "$TMP/grid25-synth.npy"
  "$SIMS" finetune --base "$OUT/grid25-base.ckpt" --data "$TMP/grid25-synth.npy" --budget 300000 --batch 512 --lr 2e-3 \
    --seed 3 --out "$OUT/grid25-aux.ckpt"
  # The SIMS paper's 2D Gaussian N([0,0], [[2,1],[1,2]]).
  "$SIMS" train --data gaussian --n-data 1000 --data-seed 0 --epochs 200 --seed 1 \
    --net "$ROOT/assets/networks/mlp2d.json" --out "$OUT/gaussian-base.ckpt"
  "$SIMS" synth --model "$OUT/gaussian-base.ckpt" --n 1000 --steps 32 --seed 2 --out "$TMP/gaussian-synth.npy"
  "$SIMS" finetune --base "$OUT/gaussian-base.ckpt" --data "$TMP/gaussian-synth.npy" --epochs 50 --seed 3 \
    --out "$OUT/gaussian-aux.ckpt"
fi

if [[ $WHAT == images || $WHAT == all ]]; then
  # Built-in faces (32x32 RGB, group ratio 0.5), default CPU U-Net (assets/networks/unet32.json).
  # About an hour on one CPU core; resumable (re-run the script after an interruption).
  "$SIMS" train --data faces --n-data 20000 --data-seed 0 --budget 150000 --batch 64 --lr 1e-3 --seed 1 \
    --net "$ROOT/assets/networks/unet32.json" --checkpoint-every 10000 --resume --out "$OUT/faces-base.ckpt"
  "$SIMS" synth --model "$OUT/faces-base.ckpt" --n 2000 --steps 18 --chunk 250 --seed 2 --out "$TMP/faces-synth.npy"
  "$SIMS" finetune --base "$OUT/faces-base.ckpt" --data "$TMP/faces-synth.npy" --budget 20000 --batch 64 \
    --lr 1e-3 --seed 3 --out "$OUT/faces-aux.ckpt"
fi
