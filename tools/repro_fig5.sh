#!/usr/bin/env bash
# SIMS Fig. 5 miniature: the four scenarios on the built-in faces against the
# amount of polluting synthetic data |D_p|. ST-I is the shipped faces U-Net
# (trained on 20,000 real faces); D_r is 2,000 real faces; ST-P fine-tunes
# ST-I on D_r + D_p (the paper's FFHQ protocol, --from-st-i) for 2,000 images
# seen, with D_p sampled from ST-I at |D_p| = 0 and 1 x |D_r| (POLLUTION); SIMS-I
# and SIMS-P fine-tune an auxiliary on 500 of the model's own samples for 1,000
# images and sample with omega = 1. A CPU-sized miniature (about 30 min on the
# 2 cores); the paper's budgets are thousands of times larger. Each model and omega is scored on N_EVAL
# samples against real faces: FD_cnn-faces (the project's faces CNN, not
# Inception), precision/recall. Resumable (stages are kept in the run folder):
# run it again after an interruption. Copies the plot and tables to DOCS.
# usage: tools/repro_fig5.sh [OUT=out/repro-fig5] [BUILD=build] [DOCS=docs/repro/fig5]
#   env: N_EVAL (200), POLLUTION (0,1), THREADS (2)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/out/repro-fig5}; SIMS=${SIMS:-${2:-$ROOT/build}/bin/sims}; DOCS=${3:-$ROOT/docs/repro/fig5}
N_EVAL=${N_EVAL:-200}; POLLUTION=${POLLUTION:-0,1}; THREADS=${THREADS:-2}
M=$ROOT/assets/models
mkdir -p "$OUT" "$DOCS"
nice -n 10 "$SIMS" scenarios --base "$M/faces-base.ckpt" --from-st-i --data faces --data-seed 7 --n-real 2000 \
  --pollution "$POLLUTION" --polluted-images 2000 --n-aux 500 --aux-images 1000 --omegas 1 \
  --n-eval "$N_EVAL" --n-ref 2000 --features "$M/faces-cnn.ckpt" --classifier "$M/faces-cnn.ckpt" \
  --seed 1 --threads "$THREADS" --out "$OUT/run"
for f in scenarios.png samples.png results.csv results.json evaluations.csv; do
  [[ -s "$OUT/run/$f" ]] && cp "$OUT/run/$f" "$DOCS/$f"
done
echo "wrote $DOCS"
