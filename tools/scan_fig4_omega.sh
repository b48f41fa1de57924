#!/usr/bin/env bash
# Picks SIMS's omega for the Fig. 4 protocol (tools/repro_fig4.sh): a short
# synthetic augmentation loop (RUNS runs x GENERATIONS generations, |D_s| =
# N_SYNTH) for standard training and SIMS at each omega in OMEGAS, printing
# E[dist(G^1)], the limit ratio (mean of E[dist(G^t)]/E[dist(G^1)] over
# generations 20..G) and E[dist] every 5 generations.
# usage: tools/scan_fig4_omega.sh [N_SYNTH=1000] [RUNS=8] [GENERATIONS=30]
#   env: OMEGAS ("0.5 1 1.5 2 3"), WIDTH (32), SEED (7), BUILD (build)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NS=${1:-1000}; RUNS=${2:-8}; GENS=${3:-30}
OMEGAS=${OMEGAS:-"0.5 1 1.5 2 3"}; WIDTH=${WIDTH:-32}; SEED=${SEED:-7}
SIMS=${BUILD:-$ROOT/build}/bin/sims; PY=/usr/bin/python3
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
printf "%-9s %6s %13s %12s  %s\n" algorithm omega "E[dist(G^1)]" "limit ratio" "E[dist(G^t)], t = 1, 6, 11, ..."
for A in standard $OMEGAS; do
  if [[ $A == standard ]]; then X=(--algorithm standard); else X=(--algorithm sims --omega "$A"); fi
  "$SIMS" loop --family diffusion2d --kind augment --n-real 1000 --n-synth "$NS" "${X[@]}" --runs "$RUNS" \
    --generations "$GENS" --width "$WIDTH" --seed "$SEED" --json >"$W/r.json" 2>/dev/null
  $PY - "$W/r.json" "$A" <<'PY'
import json, sys
j = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
a = sys.argv[2]; algo, om = ("standard", "-") if a == "standard" else ("sims", a)
print(f"{algo:9s} {om:>6s} {j['w2_mean'][0]:13.4f} {j['limit_ratio']:12.3f}  " + " ".join(f"{x:.3f}" for x in j["w2_mean"][::5]))
PY
done
