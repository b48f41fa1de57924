#!/usr/bin/env bash
# The GPU check, for one CUDA GPU in under 8 minutes: builds the core and CLI
# against PyTorch's CUDA LibTorch (tools/build_cuda.sh), runs the CPU/GPU
# comparisons (tests/test_cuda.cpp: training, SIMS sampling, U-Net), then the
# GPU benchmarks - U-Net sampling images/s, `sims sample --device cuda`
# against PyTorch eager on the same network (bench/sample_unet.py); the 2D
# re-sample of 4096 points (what the live views redo on every change) on the
# GPU and the CPU; one Fig. 4 generation of 1,000 runs (the loop's ensemble
# runs on the CPU; timed as it is) - and writes a short report.
# usage: tools/gpu_check.sh [REPORT_DIR=gpu-report]
#   env: PYTHON (python3 with CUDA torch), BUILD (build-cuda), SKIP_BUILD=1 (reuse BUILD)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/gpu-report}; BUILD=${BUILD:-$ROOT/build-cuda}; PY=${PYTHON:-python3}
mkdir -p "$OUT"; REPORT=$OUT/report.md; LOG=$OUT/log.txt; : >"$LOG"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
status=0
say() { echo "$*" | tee -a "$REPORT"; }
field() { "$PY" -c "import json,sys; j=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print($2)" "$1"; }
# Everything within 470 s of the start (8 minutes with room to write the report): each step gets at most
# what is left.
DEADLINE=$(($(date +%s) + 470))
# step NAME LIMIT_S command...: runs it with a time limit, logs it, notes the outcome.
step() {
  local name="$1" limit="$2"; shift 2
  local left=$((DEADLINE - $(date +%s)))
  if ((left < 5)); then say "- $name: skipped (out of the 8 minutes)"; status=1; return 124; fi
  ((limit > left)) && limit=$left
  local t0=$(date +%s.%N)
  timeout "$limit" "$@" >>"$LOG" 2>&1; local rc=$?
  local dt=$("$PY" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)")
  if [[ $rc -eq 0 ]]; then say "- $name: ok ($dt s)"; else say "- $name: FAILED (exit $rc after $dt s; see log.txt)"; status=1; fi
  return $rc
}

: >"$REPORT"
say "# GPU check $(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
say ""
say "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo 'nvidia-smi not found')"
say "PyTorch: $("$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1)"
say ""
say "## Build and tests"
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  step "build (tools/build_cuda.sh)" 270 bash "$ROOT/tools/build_cuda.sh" "$BUILD" || { say "stopping: no build"; exit 1; }
fi
SIMS=$BUILD/bin/sims
step "CPU/GPU comparisons (sims_cuda_tests)" 60 "$BUILD/bin/sims_cuda_tests" --use-colour no
grep -E "test cases|assertions|WARN|no CUDA" "$LOG" | tail -3 | sed 's/^/    /' | tee -a "$REPORT"

say ""
say "## Benchmarks"
# U-Net sampling: the same network (unet32.json, 32x32 RGB), 256 images, 18 Heun steps (35 evaluations).
NET=$ROOT/assets/networks/unet32.json
if step "U-Net checkpoint (one training step)" 45 "$SIMS" train --data faces --n-data 64 --budget 64 --batch 64 \
     --net "$NET" --device cuda --out "$W/unet.ckpt"; then
  # Each side: a warm-up run (CUDA context, cuDNN's algorithm choice), then the timed one.
  step "sims sample U-Net on cuda (warm-up)" 45 "$SIMS" sample --model "$W/unet.ckpt" --device cuda --n 256 --steps 18 \
    --seed 1 --out "$W/u.npy"
  step "sims sample U-Net on cuda" 45 bash -c '"$1" sample --model "$2" --device cuda --n 256 --steps 18 --seed 1 \
    --out "$3/u2.npy" --json >"$3/u.json"' _ "$SIMS" "$W/unet.ckpt" "$W"
  step "PyTorch eager U-Net on cuda" 45 bash -c '"$1" "$2" "$3" 256 18 cuda >"$4/p.json"' _ "$PY" \
    "$ROOT/bench/sample_unet.py" "$NET" "$W"
  if [[ -s $W/u.json && -s $W/p.json ]]; then
    C=$(field "$W/u.json" "256 / j['seconds']"); P=$(field "$W/p.json" "j['images_per_second']")
    say "    U-Net sampling, 256 images x 18 steps: sims $(printf %.1f "$C") img/s, PyTorch eager $(printf %.1f "$P") img/s," \
        "ratio $("$PY" -c "print(f'{$C / $P:.2f}')") (after a warm-up each)"
  fi
fi
# 2D re-sample: 4096 points, 32 Heun steps, SIMS (base + aux), the shipped Gaussian pair.
M=$ROOT/assets/models
for dev in cuda cpu; do
  step "2D SIMS sample on $dev" 30 bash -c '"$1" sample --model "$2/gaussian-base.ckpt" --aux "$2/gaussian-aux.ckpt" \
    --omega 1 --n 4096 --steps 32 --device "$3" --out "$4/p_$3.npy" --json >"$4/s_$3.json"' _ "$SIMS" "$M" "$dev" "$W"
done
if [[ -s $W/s_cuda.json && -s $W/s_cpu.json ]]; then
  say "    2D SIMS re-sample, 4096 points x 32 steps: cuda $(field "$W/s_cuda.json" "round(j['seconds'] * 1000, 1)") ms," \
      "cpu $(field "$W/s_cpu.json" "round(j['seconds'] * 1000, 1)") ms; samples agree to" \
      "$("$PY" -c "import numpy as np; print(f'{np.abs(np.load(\"$W/p_cuda.npy\") - np.load(\"$W/p_cpu.npy\")).max():.2e}')")"
fi
# One Fig. 4 generation (SIMS paper protocol, |D_s| = 250) of 1,000 runs: the batched ensemble, on the CPU.
if step "Fig. 4: one generation of 1000 runs (CPU ensemble)" 120 bash -c '"$1" loop --family diffusion2d --kind augment \
     --n-real 1000 --n-synth 250 --algorithm sims --omega 1 --n-aux 2000 --base-epochs 100 --aux-epochs 50 --runs 1000 \
     --generations 1 --seed 1 --out "$2/fig4" --json >"$2/f.json"' _ "$SIMS" "$W"; then
  say "    Fig. 4 generation, 1000 runs: $(field "$W/f.json" "round(j['seconds'][0], 1)") s on $(nproc) CPU cores"
fi
say ""
say "Full log: $LOG"
exit $status
