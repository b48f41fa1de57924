#!/usr/bin/env bash
# The MAD paper's App. C.1 (Fig. 11-12): 2D Gaussian mixtures in a self-consuming loop, on the 25-mode grid
# (spacing 2, mode std 0.1), 500 points per generation, EM fits, 10 runs each (about 10 minutes on one core):
#   fully-synthetic/      the paper's unbiased fully synthetic loop, 2000 generations (mixtures at 1, 200, 2000)
#   fully-synthetic-0.9/  the same with sampling bias lambda = 0.9 (200 generations)
#   fresh/                control: 500 fresh real points each generation (200 generations)
# and variance.png, modal_variance.png, recall.png, modes.png comparing them (95 % t intervals over runs).
# usage: tools/repro_mixture.sh [OUT=docs/repro/mixture] [BUILD=build]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/docs/repro/mixture}; SIMS=${2:-$ROOT/build}/bin/sims
mkdir -p "$OUT"
run() {  # NAME KIND BIAS GENERATIONS
  "$SIMS" loop --family mixture --kind "$2" --bias "$3" --n-real 500 --n-synth 500 --generations "$4" --runs 10 \
    --seed 1 --out "$OUT/$1" | tail -2
}
run fully-synthetic fully-synthetic 1 2000
run fully-synthetic-0.9 fully-synthetic 0.9 200
run fresh fresh 1 200
for key in variance modal_variance recall modes; do
  "$SIMS" loop --compare "$OUT/fully-synthetic" --compare "$OUT/fully-synthetic-0.9" --compare "$OUT/fresh" \
    --plot "$OUT/$key.png" --plot-key "${key}_mean" >/dev/null
done
echo "wrote $OUT/{fully-synthetic,fully-synthetic-0.9,fresh}/, $OUT/{variance,modal_variance,recall,modes}.png"
