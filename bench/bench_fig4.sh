#!/usr/bin/env bash
# Benchmark (issue 5): the SIMS paper's Fig. 4 protocol (2D Gaussian
# N(0, [[2,1],[1,2]]), synthetic augmentation loop, |D_r| = 1000, base 100
# epochs, SIMS auxiliary 50 epochs on n_s = 2000 of its own samples) for one
# |D_s| through the batched ensemble, and the speed-up of the ensemble over
# training the runs one by one.
#   1. one generation of RUNS runs batched (--batch-runs 0) vs one by one
#      (--batch-runs 1, timed on ONE_BY_ONE runs and scaled to RUNS);
#   2. the protocol: RUNS runs x GENERATIONS generations, SIMS, |D_s| = N_SYNTH;
#   3. projections: the 1000-run x 100-generation protocol for this |D_s|, and
#      the full Fig. 4 sweep (4 sizes x {standard, SIMS}).
# usage: bench/bench_fig4.sh [RUNS=100] [GENERATIONS=100] [N_SYNTH=250] [BUILD_DIR]
#   env: THREADS (default 2; = parallel workers), OMEGA (1), WIDTH (32), ONE_BY_ONE (runs timed one by one, 10),
#        PROTOCOL_ONLY=1 (skip the one-generation comparisons: only the protocol run and the projections)
# A scaled-down check: bench/bench_fig4.sh 20 5
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-100}; GENS=${2:-100}; NS=${3:-250}; BUILD=${4:-$ROOT/build}
SIMS=$BUILD/bin/sims; PY=/usr/bin/python3
THREADS=${THREADS:-2}; OMEGA=${OMEGA:-1}; WIDTH=${WIDTH:-32}; ONE=${ONE_BY_ONE:-10}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
COMMON=(--family diffusion2d --kind augment --n-real 1000 --n-synth "$NS" --algorithm sims --omega "$OMEGA"
        --n-aux 2000 --base-epochs 100 --aux-epochs 50 --width "$WIDTH" --threads "$THREADS" --seed 1)
field() { $PY -c "import json,sys; j=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print($2)" "$1"; }

if [ "${PROTOCOL_ONLY:-0}" != 1 ]; then
echo "== 1 generation: batched ensemble vs one by one (SIMS, |D_s| = $NS, $THREADS threads)"
"$SIMS" loop "${COMMON[@]}" --runs "$RUNS" --generations 1 --batch-runs 0 --json >"$W/b.json" 2>/dev/null
"$SIMS" loop "${COMMON[@]}" --runs "$ONE" --generations 1 --batch-runs 1 --json >"$W/o.json" 2>/dev/null
TB=$(field "$W/b.json" "j['seconds'][0]")
TO=$(field "$W/o.json" "j['seconds'][0]")
$PY - "$TB" "$TO" "$RUNS" "$ONE" <<'PY'
import sys
tb, to, R, one = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
per = to / one
print(f"  batched:    {R} runs in {tb:8.2f} s  ({tb / R * 1000:7.1f} ms per run)")
print(f"  one by one: {one} runs in {to:8.2f} s  ({per * 1000:7.1f} ms per run) -> {per * R:8.2f} s for {R} runs")
print(f"  speed-up of the ensemble: {per * R / tb:5.1f}x")
PY

echo "== 1 generation of $RUNS runs: parallel workers vs one ensemble with $THREADS intra-op threads, and Python/PyTorch"
"$SIMS" loop "${COMMON[@]}" --runs "$RUNS" --generations 1 --workers 1 --json >"$W/w1.json" 2>/dev/null
TW1=$(field "$W/w1.json" "j['seconds'][0]")
PYT=$($PY "$ROOT/bench/loop_generation.py" "$RUNS" "$THREADS" "$WIDTH" "$NS" "$OMEGA" 1 | tail -1)  # generation 1, as above
$PY - "$TB" "$TW1" "$PYT" "$THREADS" <<'PY'
import json, sys
tb, tw1, py, th = float(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
print(f"  sims, {th} workers x 1 thread:      {tb:8.2f} s")
print(f"  sims, 1 ensemble x {th} threads:     {tw1:8.2f} s  ({tw1 / tb:4.2f}x slower than the workers)")
print(f"  Python/PyTorch, batched, {th} threads: {py['seconds']:8.2f} s  -> sims is {py['seconds'] / tb:4.2f}x faster")
PY

fi

echo "== protocol: $RUNS runs x $GENS generations (SIMS, omega $OMEGA, |D_s| = $NS)"
START=$(date +%s.%N)
"$SIMS" loop "${COMMON[@]}" --runs "$RUNS" --generations "$GENS" --out "$W/run" --json >"$W/p.json"
END=$(date +%s.%N)
$PY - "$W/p.json" "$START" "$END" "$RUNS" "$GENS" <<'PY'
import json, sys
j = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
wall = float(sys.argv[3]) - float(sys.argv[2]); R = int(sys.argv[4]); G = int(sys.argv[5])
secs = j["seconds"]; per_gen = sum(secs) / len(secs)
print(f"  wall time {wall:8.1f} s  ({per_gen:6.2f} s per generation of {R} runs)")
print(f"  E[dist(G^1)] = {j['w2_mean'][0]:.4f}  ({j['metric']}),  base model at generation 1: {j['w2_base_mean'][0]:.4f}")
rss = j.get("rss_mib", [])
if rss:
    print(f"  resident memory: {rss[0]:.0f} MiB after generation 1, {max(rss):.0f} MiB max, {rss[-1]:.0f} MiB after generation {len(rss)}")
print(f"  ratio at the last generation {j['ratio'][-1]:.3f};  limit ratio (generations {j['limit_from']}..{G}) {j['limit_ratio']:.3f}")
# Generations 2.. train on |D_r| + |D_s| points (generation 1 on |D_r| only): use them when measured.
later = secs[1:] or secs
per_later = sum(later) / len(later)
print(f"  projected: {R} runs x 100 generations: {(secs[0] + 99 * per_later) / 60:6.1f} min")
# The ensemble's time grows about linearly with the runs once they fill the cores.
one_size = per_later * 1000 / R * 100
print(f"  projected: 1000 runs x 100 generations, this |D_s|, SIMS: {one_size / 3600:6.2f} h")
# Standard training skips the auxiliary (sampling S + 50 epochs of fine-tuning).
print(f"  projected: full Fig. 4 sweep (4 sizes x standard + SIMS, 1000 runs): about {8 * one_size / 3600:6.1f} h (upper bound)")
PY
