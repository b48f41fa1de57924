#!/usr/bin/env bash
# Retraining stability (Bertrand et al., ../shared/seeds/retraining-stability-abstract.txt) in the 2D diffusion
# loop: a fixed real set of 250 points (the paper's gaussian p_r) plus n_s synthetic points of the previous
# generation, n_s = 0, 250, 750, 2250 (clean fraction 1, 0.5, 0.25, 0.1); standard training, 16 runs x 15
# generations of 64x3 EDM MLPs, each trained on 50,000 images whatever the set's size (--base-images: a larger
# set must not mean more optimiser steps). Writes OUT/ns-N run folders and OUT/w2.png, OUT/ratio.png.
# usage: tools/repro_stability.sh [OUT=docs/repro/stability-2d] [BUILD=build]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/docs/repro/stability-2d}; SIMS=${2:-$ROOT/build}/bin/sims
mkdir -p "$OUT"
compare=()
for ns in 0 250 750 2250; do
  "$SIMS" loop --family diffusion2d --kind augment --n-real 250 --n-synth "$ns" --base-images 50000 --runs 16 \
    --generations 15 --seed 5 --out "$OUT/ns-$ns" >/dev/null
  compare+=(--compare "$OUT/ns-$ns")
done
"$SIMS" loop --family diffusion2d "${compare[@]}" --plot "$OUT/w2.png" --plot-key w2_mean >/dev/null
"$SIMS" loop --family diffusion2d "${compare[@]}" --plot "$OUT/ratio.png" --plot-key ratio >/dev/null
echo "wrote $OUT/w2.png $OUT/ratio.png"
