#!/usr/bin/env bash
# Reproduces the MAD paper's Gaussian self-consuming loops (closed form, seconds):
# fully synthetic with lambda = 1 (W2 grows while the mean trace of Sigma is kept)
# and lambda = 0.9 (covariance collapse), synthetic augmentation and fresh data
# (bounded). 2-D, 100 real / 100 synthetic samples, 200 runs x 200 generations.
# Writes OUT/w2.png, OUT/trace.png and the run folders.
# usage: tools/repro_mad_gaussian.sh [OUT=docs/repro/mad-gaussian] [BUILD=build]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/docs/repro/mad-gaussian}; SIMS=${2:-$ROOT/build}/bin/sims
mkdir -p "$OUT"
run() { "$SIMS" loop --family gaussian --dim 2 --n-real 100 --n-synth 100 --generations 200 --runs 200 --seed 1 "$@" >/dev/null; }
rm -rf "$OUT"/{fs,fs09,aug,fresh}
run --kind fully-synthetic --out "$OUT/fs"
run --kind fully-synthetic --bias 0.9 --out "$OUT/fs09"
run --kind augment --out "$OUT/aug"
run --kind fresh --out "$OUT/fresh"
for key in w2_mean trace_mean; do
  "$SIMS" loop --family gaussian --compare "$OUT/fs" --compare "$OUT/fs09" --compare "$OUT/aug" --compare "$OUT/fresh" \
    --plot "$OUT/${key%_mean}.png" --plot-key "$key" >/dev/null
done
echo "wrote $OUT/w2.png $OUT/trace.png"
