#!/usr/bin/env bash
# Headless demo of SIMS guidance with exact (closed-form) denoisers, so the
# picture is the science and not a training artefact: the base model is the
# SIMS paper's N([0,0], [[2,1],[1,2]]); the auxiliary stands for a model
# fine-tuned on the base's own samples, which in a self-consuming loop loses
# variance (a shrunken covariance). Negative guidance away from it restores
# and then exaggerates the spread as omega grows.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/out/exact}  # tools/run.sh gives out/demo/exact, once `sims demo` has made out/demo its run folder
SIMS=$ROOT/build/bin/sims
mkdir -p "$OUT"
cat > "$OUT/base.json" <<'J'
{"kind": "gaussian", "mean": [0, 0], "cov": [[2, 1], [1, 2]]}
J
cat > "$OUT/aux_collapsed.json" <<'J'
{"kind": "gaussian", "mean": [0, 0], "cov": [[1.4, 0.7], [0.7, 1.4]]}
J
"$SIMS" info "$OUT/base.json"
"$SIMS" sample --model "$OUT/base.json" --n 2000 --seed 0 --out "$OUT/base_samples.npy" --grid "$OUT/base_samples.png"
"$SIMS" sample --model "$OUT/base.json" --aux "$OUT/aux_collapsed.json" --omega 1 --n 2000 --seed 0 \
  --out "$OUT/sims_samples.npy" --trajectory "$OUT/sims_trajectory.npy" --grid "$OUT/sims_samples.png"
"$SIMS" grid --model "$OUT/base.json" --aux "$OUT/aux_collapsed.json" --x omega=-1,0,0.5,1,2 --y seed=0,1 \
  --n 1500 --out "$OUT/omega_grid.png" --title "SIMS guidance away from a collapsed auxiliary (exact Gaussians)"
"$SIMS" grid --model "$OUT/base.json" --aux "$OUT/aux_collapsed.json" --omega 1 --x interval=0:inf,0:5,0.5:80,5:80 \
  --y steps=8,18,32 --n 1500 --out "$OUT/interval_steps_grid.png" --title "Guidance interval x sampling steps (omega = 1)"
echo "demo written to $OUT"
