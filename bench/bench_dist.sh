#!/usr/bin/env bash
# Benchmark (issue 16): one process with 2 threads against 2 processes with 1
# thread each (`sims launch --nproc 2`, Gloo on 127.0.0.1) on this machine,
# for a loop (runs split over the processes) and for data-parallel training
# (gradients all-reduced every step): wall time, efficiency of the second
# configuration relative to the first, and rank 0's seconds in collective
# operations (waiting for the slower rank included). Then a projection of
# the SIMS paper's Fig. 4 protocol (1,000 runs x 100 generations, one
# |D_s|) on N machines from the measured seconds per run-generation, assuming
# the runs split evenly and the per-generation gather stays as measured.
# Medians of REPEATS runs.
# usage: bench/bench_dist.sh [REPEATS=3] [BUILD_DIR]
#   env: RUNS (loop runs, 32), GENS (loop generations, 2), BUDGET (MLP training images, 2000000),
#        UNET_BUDGET (U-Net training images, 2048)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPS=${1:-3}; BUILD=${2:-$ROOT/build}
SIMS=$BUILD/bin/sims; PY=/usr/bin/python3
RUNS=${RUNS:-32}; GENS=${GENS:-2}; BUDGET=${BUDGET:-2000000}; UB=${UNET_BUDGET:-2048}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
LOOP=(loop --family diffusion2d --kind augment --n-real 1000 --n-synth 250 --algorithm sims --omega 1 --n-aux 2000
      --base-epochs 100 --aux-epochs 50 --runs "$RUNS" --generations "$GENS" --seed 1)
TRAIN=(train --data mixture8 --n-data 5000 --budget "$BUDGET" --batch 512 --seed 1)
# A U-Net on 32x32 faces (assets/networks/unet32.json: 16 channels, attention at 8x8, dropout 0.1), batch 64.
UNET=(train --data faces --n-data 512 --budget "$UB" --batch 64 --lr-rampup 0 --net "$ROOT/assets/networks/unet32.json" --seed 1)
# time_of NAME command...: wall seconds of REPS runs (fresh output each), JSON of the last into $W/NAME.json
time_of() {
  local name="$1"; shift
  : >"$W/$name.times"
  for r in $(seq "$REPS"); do
    rm -rf "$W/out"
    local t0=$(date +%s.%N)
    "$@" --out "$W/out" --json >"$W/$name.json.all" 2>"$W/$name.err" || { echo "$name failed:"; cat "$W/$name.err"; exit 1; }
    echo "$(date +%s.%N) $t0" | awk '{print $1 - $2}' >>"$W/$name.times"
    tail -n 1 "$W/$name.json.all" >"$W/$name.json"
  done
}
for job in loop train unet; do
  case $job in loop) ARGS=("${LOOP[@]}") ;; train) ARGS=("${TRAIN[@]}") ;; unet) ARGS=("${UNET[@]}") ;; esac
  time_of "${job}_1x2" env OMP_NUM_THREADS=2 "$SIMS" "${ARGS[@]}" --threads 2
  time_of "${job}_2x1" "$SIMS" launch --nproc 2 --threads 1 -- sims "${ARGS[@]}"
done
"$PY" - "$W" "$RUNS" "$GENS" "$REPS" <<'PY'
import json, statistics, sys
w, runs, gens, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
med = lambda n: statistics.median(float(x) for x in open(f"{w}/{n}.times"))
js = lambda n: json.load(open(f"{w}/{n}.json"))
print(f"one process x 2 threads vs 2 processes x 1 thread (sims launch, Gloo on 127.0.0.1), median of {reps}")
for job, what in [("loop", f"loop: {runs} runs x {gens} generations (Fig. 4 settings, SIMS, |D_s| = 250)"),
                  ("train", "training: MLP (2-128-128-128-2) on mixture8, batch 512"),
                  ("unet", "training: U-Net (unet32.json) on 32x32 faces, batch 64")]:
    a, b = med(f"{job}_1x2"), med(f"{job}_2x1")
    # The work alone, as the command reports it (the last run's): no process start, no data set-up.
    work = lambda n: sum(js(n)["seconds"]) if isinstance(js(n)["seconds"], list) else js(n)["seconds"]
    wa, wb = work(f"{job}_1x2"), work(f"{job}_2x1")
    comm = js(f"{job}_2x1").get("communication_seconds", float("nan"))
    print(f"  {what}")
    print(f"    wall: 1 x 2 threads {a:7.2f} s, 2 x 1 process {b:7.2f} s, ratio {a / b:4.2f}x")
    print(f"    work: 1 x 2 threads {wa:7.2f} s, 2 x 1 process {wb:7.2f} s, ratio {wa / wb:4.2f}x;"
          f" rank 0 in collectives {comm:5.2f} s ({100 * comm / wb:4.1f} % of its work)")
lw = sum(js("loop_2x1")["seconds"])
per_run_gen = lw / (runs * gens) * 2  # process-seconds per run-generation at 1 thread each
gather = js("loop_2x1").get("communication_seconds", 0.0) / gens
print("  (wall includes starting the processes: about 1 s per sims, loading LibTorch, on the same 2 cores)")
print(f"  measured: {per_run_gen:.2f} process-seconds per run-generation (1 thread), "
      f"gather + wait {gather:.2f} s per generation")
print("projection, Fig. 4 protocol: 1000 runs x 100 generations, one |D_s|, machines of 2 cores (1 process per core):")
for m in (1, 2, 4, 8, 16, 32):
    p = 2 * m
    hours = (1000 * 100 * per_run_gen / p + 100 * gather) / 3600
    print(f"  {m:3d} machines ({p:3d} processes): {hours:7.2f} h")
PY
