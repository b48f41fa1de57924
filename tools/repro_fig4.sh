#!/usr/bin/env bash
# Reproduces the SIMS paper's Fig. 4 (bottom / top right) with `sims loop
# --family diffusion2d`: synthetic augmentation loop on the 2D Gaussian
# N(0, [[2,1],[1,2]]), |D_r| = 1000, |D_s| = 125, 250, 500, 1000, standard
# training vs SIMS (omega OMEGA), RUNS runs x GENERATIONS generations each.
# Network: EDM MLP WIDTH x 3 (SiLU), batch 256, 18 Heun steps; omega = 1 is
# our best for this setup (tools/scan_fig4_omega.sh), the paper's DDPM ~3.
# Every configuration is a resumable run folder under OUT (re-running the
# script continues where it stopped). Writes OUT/fig4_ratio.png (the ratio
# E[dist(G^t)]/E[dist(G^1)] per generation, all 8 curves), OUT/fig4_w2.png
# and a table of the limit ratios next to the paper's.
# MODEL=ddpm runs the paper's own model instead (--model ddpm: epsilon-MLP 4 blocks x 64, cosine schedule, 40
# steps, ancestral sampler, batch BATCH (2048), lr 1e-3 falling to 1 %); OMEGA may then list several values
# ("1 3"), each a SIMS folder sims-wOMEGA-NS.
# WARM=previous trains every generation's base on from the previous generation's (--warm-start previous).
# usage: tools/repro_fig4.sh [OUT=fig4] [RUNS=100] [GENERATIONS=100]
#   env: OMEGA (1), WIDTH (32; ddpm 64), THREADS (2: workers), SIZES ("125 250 500 1000"), MODEL (edm), BATCH,
#        WARM (scratch), BUILD (build)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-fig4}; RUNS=${2:-100}; GENS=${3:-100}
OMEGA=${OMEGA:-1}; THREADS=${THREADS:-2}; SIZES=${SIZES:-"125 250 500 1000"}; MODEL=${MODEL:-edm}
if [[ $MODEL == ddpm ]]; then WIDTH=${WIDTH:-64}; MODEL_FLAGS=(--model ddpm --batch "${BATCH:-2048}")
else WIDTH=${WIDTH:-32}; MODEL_FLAGS=(); [[ -n ${BATCH:-} ]] && MODEL_FLAGS=(--batch "$BATCH"); fi
MODEL_FLAGS+=(--warm-start "${WARM:-scratch}")
read -r -a OMEGAS <<< "$OMEGA"
SIMS=${BUILD:-$ROOT/build}/bin/sims; PY=/usr/bin/python3
mkdir -p "$OUT"
DIRS=()
for NS in $SIZES; do
  for ALGO in standard sims; do
    if [[ $ALGO == standard ]]; then WS=(0); else WS=("${OMEGAS[@]}"); fi
    for W in "${WS[@]}"; do
      D="$OUT/$ALGO-$NS"; [[ $ALGO == sims && ${#OMEGAS[@]} -gt 1 ]] && D="$OUT/sims-w$W-$NS"
      DIRS+=("$D")
      if [[ -f "$D/run.json" || -f "$D/config.json" ]]; then
        echo "== $ALGO |D_s| = $NS: continuing $D"
        "$SIMS" loop --family diffusion2d --resume --out "$D" --generations "$GENS" --threads "$THREADS" >/dev/null
      else
        LABEL=""; [[ $ALGO == sims ]] && LABEL=" (omega $W)"
        echo "== $ALGO$LABEL |D_s| = $NS"
        EXTRA=(); [[ $ALGO == sims ]] && EXTRA=(--omega "$W")
        "$SIMS" loop --family diffusion2d --kind augment --n-real 1000 --n-synth "$NS" --algorithm "$ALGO" "${EXTRA[@]}" \
          --n-aux 2000 --base-epochs 100 --aux-epochs 50 --width "$WIDTH" "${MODEL_FLAGS[@]}" --runs "$RUNS" \
          --generations "$GENS" --seed 1 --threads "$THREADS" --out "$D" >/dev/null
      fi
    done
  done
done
CMP=(); for D in "${DIRS[@]}"; do CMP+=(--compare "$D"); done
"$SIMS" loop --plot "$OUT/fig4_ratio.png" --plot-key ratio "${CMP[@]}"
"$SIMS" loop --plot "$OUT/fig4_w2.png" --plot-key w2_mean "${CMP[@]}"
$PY - "${DIRS[@]}" <<'PY'
import json, sys
paper = {("standard", 125): 1.71, ("standard", 250): 2.46, ("standard", 500): 3.99, ("standard", 1000): 6.69,
         ("sims", 125): 0.996, ("sims", 250): 1.013, ("sims", 500): 1.078, ("sims", 1000): 1.204}
def ci(j, k):
    lo, hi = j.get(k + "_lo"), j.get(k + "_hi")
    return f"[{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else "(no interval)"
print(f"{'algorithm':16s} {'|D_s|':>6s} {'E[dist(G^1)]':>13s} {'median':>8s} {'limit ratio (95 % CI)':>24s} {'paper':>7s}")
for d in sys.argv[1:]:
    j = json.load(open(d + "/metrics.json"))
    key = (j["algorithm"], j["n_synth"])
    name = j["algorithm"] + (f" w={j['omega']:g}" if j["algorithm"] == "sims" else "")
    print(f"{name:16s} {j['n_synth']:6d} {j['w2_mean'][0]:13.4f} {j['w2_median'][0]:8.4f} {j['limit_ratio']:8.3f} {ci(j, 'limit_ratio'):>15s} "
          f"{paper.get(key, float('nan')):7.3f}")
print("(paper: SIMS at its best omega per size; limit = mean ratio over generations 20..100; lower is better;")
print(" intervals: percentile bootstrap over whole runs)")
PY
echo "-> $OUT/fig4_ratio.png, $OUT/fig4_w2.png"
