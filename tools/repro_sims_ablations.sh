#!/usr/bin/env bash
# SIMS Fig. 8 (left) miniature: the synthetic-set-size ablation on the built-in
# faces. For each size n_s, `sims tune` fine-tunes an auxiliary from the
# shipped faces base on n_s of its samples (Heun 18 steps, seed 2), keeps
# snapshots at BUDGETS images seen and scores every (B, ω) by FD_cnn-faces on
# N_EVAL samples from the same noise against 4,000 held-out faces (seed 777),
# with 95 % bootstrap intervals (lower is better). The settings are those of
# the Fig. 3 miniature in docs/REPRODUCTIONS.md (n_s = 2,000), so its rows
# line up with these. Each size is its own resumable run folder; finished
# sizes are skipped. Copies every result.json, tune.csv and heat map to DOCS.
# usage: tools/repro_ablation_ns.sh [OUT=out/ablation-ns] [BUILD=build] [DOCS=docs/repro/ablation-ns]
#   env: SIZES (500,1000,4000), BUDGETS (5000,10000,20000), OMEGAS (0,1,2,3), N_EVAL (500), THREADS (1),
#        TRAIN (all | decoder: fine-tune only the U-Net's decoder)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/out/ablation-ns}; SIMS=${SIMS:-${2:-$ROOT/build}/bin/sims}; DOCS=${3:-$ROOT/docs/repro/ablation-ns}
SIZES=${SIZES:-500,1000,4000}; BUDGETS=${BUDGETS:-5000,10000,20000}; OMEGAS=${OMEGAS:-0,1,2,3}
N_EVAL=${N_EVAL:-500}; THREADS=${THREADS:-1}; TRAIN=${TRAIN:-all}
M=$ROOT/assets/models
mkdir -p "$OUT" "$DOCS"
TRAIN_FLAG=()
[[ $TRAIN == all ]] || TRAIN_FLAG=(--train "$TRAIN")
IFS=, read -r -a NS <<<"$SIZES"
for ns in "${NS[@]}"; do
  run="$OUT/ns-$ns"
  echo "n_s = $ns: $run" >&2
  start=$(date +%s)
  nice -n 10 "$SIMS" tune --model "$M/faces-base.ckpt" --real-data faces --real-seed 777 --n-real 4000 \
    --features "$M/faces-cnn.ckpt" --budgets "$BUDGETS" --n-synth "$ns" --synth-seed 2 --chunk 250 \
    --omegas "$OMEGAS" --n "$N_EVAL" --steps 18 --ci 100 --threads "$THREADS" "${TRAIN_FLAG[@]}" \
    --out "$run" --quiet --json | tail -1 >"$run.json"
  echo "n_s = $ns: $(( $(date +%s) - start )) s" >&2
  mkdir -p "$DOCS/ns-$ns"
  for f in result.json tune.csv heatmap.png; do
    [[ -f "$run/$f" ]] && cp "$run/$f" "$DOCS/ns-$ns/$f"
  done
done
