#!/usr/bin/env bash
# Image self-consuming loops, a CPU miniature: the fully synthetic loop on the
# built-in faces (32x32), standard training (4 generations) vs SIMS (omega 1,
# 3 generations: the CPU time of a fourth did not fit).
# Generation 1 is the shipped faces U-Net (assets/models/faces-base.ckpt,
# trained on 20,000 faces); each later generation FINE-TUNES the previous
# generation's model (--warm-start previous, 2,000 images seen) on the 200
# images the previous generation sampled (10 Heun steps). SIMS: the
# auxiliary is that model fine-tuned for 1,000 images on 200 of its own
# samples. Scores: FD_cnn-faces (the shipped faces CNN), precision/recall
# (k = 5) and attribute shares of 200 samples vs 2,000 real faces no
# generation trains on. Far from the papers' sizes (see docs/REPRODUCTIONS.md,
# "Image loops (miniature)"); about 35 min on 2 busy CPU cores. Resumable:
# run it again after an interruption. Copies metrics, plots and sample
# overviews to DOCS.
# usage: tools/repro_image_loop.sh [OUT=out/repro-image-loop] [BUILD=build] [DOCS=docs/repro/image-loop]
#   env: THREADS (2)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/out/repro-image-loop}; SIMS=${SIMS:-${2:-$ROOT/build}/bin/sims}; DOCS=${3:-$ROOT/docs/repro/image-loop}
mkdir -p "$OUT" "$DOCS"
COMMON=(loop --family images --data faces --data-seed 0 --kind fully-synthetic --n-real 2000 --n-synth 200
        --init "$ROOT/assets/models/faces-base.ckpt" --first-images 0 --warm-start previous --base-images 2000
        --batch 64 --lr 1e-3 --steps 10 --chunk 100 --n-eval 200 --n-ref 2000 --save-images 16 --seed 0
        --threads "${THREADS:-2}")

run() {  # run NAME GENERATIONS FLAGS...: a new run, or the rest of an interrupted one
  local name=$1 gens=$2; shift 2
  if [[ -s "$OUT/$name/config.json" ]]; then
    nice -n 10 "$SIMS" loop --family images --resume --out "$OUT/$name" --generations "$gens" --threads "${THREADS:-2}"
  else
    nice -n 10 "$SIMS" "${COMMON[@]}" --generations "$gens" "$@" --out "$OUT/$name"
  fi
}
run standard 4 --algorithm standard
run sims 3 --algorithm sims --omega 1 --n-aux 200 --aux-images 1000

for k in fd kid precision recall; do
  "$SIMS" loop --plot "$DOCS/$k.png" --plot-key "$k" --compare "$OUT/standard" --compare "$OUT/sims" >/dev/null
done
for name in standard sims; do
  mkdir -p "$DOCS/$name"
  cp "$OUT/$name/metrics.csv" "$OUT/$name/metrics.json" "$OUT/$name/samples/overview.png" "$DOCS/$name/"
done
echo "wrote $DOCS/{fd,kid,precision,recall}.png and $DOCS/{standard,sims}/{metrics.csv,metrics.json,overview.png}"
