#!/usr/bin/env bash
# The MAD paper's Gaussian appendix experiments beyond Fig. 9-10 (closed-form W2, about 12 minutes on 2 cores), in
# miniature (D = 2):
#   accumulate/  App. A.2, Fig. 28-29: augmentation loops whose synthetic pool keeps every earlier generation's set
#   memory/      App. I exp. 2, Fig. 33: n_e / n_r when each synthetic sample comes from one of the last K models
#   corpus/      App. I exp. 3, Fig. 34 left: W2 against the corpus size n for several real fractions p (lambda = 1)
#   corpus-bias/ Fig. 34 right: the same for several sampling biases lambda (p = 0.5)
#   stability/   Bertrand et al.: an augmentation loop (fixed real set) against its clean fraction p, n = 200
#   augment-d100/ Fig. 30-31: n_e / n_r of augmentation loops at D = 100, n_r below and above D (about 7 min)
# usage: tools/repro_mad_extras.sh [OUT=docs/repro/mad-extras] [BUILD=build]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/docs/repro/mad-extras}; SIMS=${2:-$ROOT/build}/bin/sims
mkdir -p "$OUT"
rm -rf "$OUT"/{accumulate,memory,corpus,corpus-bias,stability,augment-d100}
mkdir -p "$OUT/accumulate"
for kind in augment fully-synthetic; do
  for bias in 1 0.8; do
    for pool in replace accumulate; do
      "$SIMS" loop --family gaussian --kind "$kind" --dim 2 --n-real 100 --n-synth 100 --generations 100 --runs 400 \
        --seed 3 --bias "$bias" --pool "$pool" --out "$OUT/accumulate/$kind-$pool-$bias" >/dev/null
    done
  done
  "$SIMS" loop --family gaussian --compare "$OUT/accumulate/$kind-replace-1" --compare "$OUT/accumulate/$kind-accumulate-1" \
    --compare "$OUT/accumulate/$kind-replace-0.8" --compare "$OUT/accumulate/$kind-accumulate-0.8" \
    --plot "$OUT/accumulate/w2-$kind.png" --plot-key w2_mean >/dev/null
done
"$SIMS" atlas --n-real 100 --n-synth 1000 --lambda 1 --memory 1,2,4,8,16 --generations 600 --tail 200 --runs 300 \
  --seed 1 --out "$OUT/memory" >/dev/null
"$SIMS" atlas --total 30,100,300,1000,3000,10000 --real-fraction 0.1,0.25,0.5,1 --lambda 1 --runs 300 --seed 1 \
  --out "$OUT/corpus" >/dev/null
"$SIMS" atlas --total 30,100,300,1000,3000,10000 --real-fraction 0.5 --lambda 0.8,0.9,0.95,1 --runs 300 --seed 1 \
  --out "$OUT/corpus-bias" >/dev/null
"$SIMS" atlas --kind augment --total 200 --real-fraction 0.02,0.05,0.1,0.2,0.3,0.5,0.7,1 --lambda 0.9,1 \
  --generations 200 --tail 50 --runs 300 --seed 1 --out "$OUT/stability" >/dev/null
"$SIMS" atlas --kind augment --dim 100 --n-real 30,60,200,600 --n-synth 0,30,100,300,1000 --lambda 0.5,0.9,1 \
  --runs 100 --generations 40 --tail 15 --curve-runs 500 --seed 1 --out "$OUT/augment-d100" >/dev/null
echo "wrote $OUT/{accumulate/w2-*.png,memory,corpus,corpus-bias,stability,augment-d100}"
