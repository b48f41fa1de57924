#!/usr/bin/env bash
# SIMS Fig. 3 miniature: self-improvement on the built-in faces, FD against ω
# for several auxiliary budgets. The shipped faces U-Net (assets/models,
# trained on 20,000 real faces) samples its synthetic set S (2,000 images,
# Heun 18 steps); a copy of it is fine-tuned on S and snapshots are kept at
# budgets of BUDGETS images seen; one `sims sweep` then samples every
# (auxiliary, ω) pair from the same noise (N_EVAL images each) and scores it
# against 4,000 real faces that no model trained on: FD_cnn-faces (the
# project's faces CNN, not Inception), precision/recall, attribute shares.
# Resumable: every stage is skipped when its output exists. Copies the plot,
# the table and the samples to DOCS.
# usage: tools/repro_fig3.sh [OUT=out/repro-fig3] [BUILD=build] [DOCS=docs/repro/fig3]
#   env: N_EVAL (200), OMEGAS (0,1,2), BUDGETS (1000,3000,9000), THREADS (2)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/out/repro-fig3}; SIMS=${SIMS:-${2:-$ROOT/build}/bin/sims}; DOCS=${3:-$ROOT/docs/repro/fig3}
N_EVAL=${N_EVAL:-200}; OMEGAS=${OMEGAS:-0,1,2}; BUDGETS=${BUDGETS:-1000,3000,9000}; THREADS=${THREADS:-2}
PY=/usr/bin/python3
M=$ROOT/assets/models
mkdir -p "$OUT" "$DOCS"
IFS=, read -r -a B <<<"$BUDGETS"
LAST=${B[${#B[@]}-1]}
STEP=${B[0]}
for b in "${B[@]}"; do
  if (( b % STEP != 0 )); then echo "budgets must be multiples of the first one ($STEP)" >&2; exit 2; fi
done

# 1. The base's synthetic set S (seed 2: not the evaluation noise).
if [[ ! -s "$OUT/synth.npy" ]]; then
  nice -n 10 "$SIMS" synth --model "$M/faces-base.ckpt" --n 2000 --steps 18 --chunk 250 --seed 2 \
    --threads "$THREADS" --out "$OUT/synth.npy" --json | tail -1 >"$OUT/synth.json"
fi

# 2. One fine-tune to the largest budget with snapshots every STEP images
#    (OUT/aux-<images>.ckpt); the same seed and schedule for every budget, so
#    a smaller budget is exactly the first part of the larger one's run.
if [[ ! -s "$OUT/finetune.json" ]]; then  # written when the fine-tune has finished (an interrupted one resumes)
  nice -n 10 "$SIMS" finetune --base "$M/faces-base.ckpt" --data "$OUT/synth.npy" --budget "$LAST" --batch 64 \
    --lr 1e-3 --lr-rampup 2000 --seed 3 --snapshot-every "$STEP" --checkpoint-every "$STEP" --resume \
    --threads "$THREADS" --out "$OUT/aux.ckpt" --json | tail -1 >"$OUT/finetune.json.tmp"
  mv "$OUT/finetune.json.tmp" "$OUT/finetune.json"
fi
# Budget b's auxiliary: the first snapshot at >= b images (batches of 64 make
# the counts land a little past b), copied to budget-<b>.ckpt so the sweep's
# labels say what it is; the last budget is the final checkpoint.
AUX=(); for b in "${B[@]}"; do
  dst="$OUT/budget-$b.ckpt"
  if [[ ! -s "$dst" ]]; then
    src=""
    if [[ "$b" == "$LAST" ]]; then src="$OUT/aux.ckpt"; else
      for f in $(ls "$OUT"/aux-*.ckpt | sort); do
        n=$(basename "$f" .ckpt); n=$((10#${n#aux-}))
        if (( n >= b )); then src=$f; break; fi
      done
    fi
    [[ -n "$src" ]] || { echo "no snapshot for budget $b" >&2; exit 1; }
    cp "$src" "$dst"
  fi
  AUX+=("$dst")
done
FIRST=${AUX[0]}; REST=$(IFS=,; echo "${AUX[*]:1}")

# 3. The sweep: every auxiliary at every ω, the same noise (seed 1).
if [[ ! -s "$OUT/sweep/sweep.json" ]]; then
  extra=(); [[ -n "$REST" ]] && extra=(--aux-snapshots "$REST")
  nice -n 10 "$SIMS" sweep --model "$M/faces-base.ckpt" --aux "$FIRST" "${extra[@]}" --omegas "$OMEGAS" \
    --n "$N_EVAL" --seed 1 --steps 18 --real-data faces --n-real 4000 --real-seed 12345 \
    --features "$M/faces-cnn.ckpt" --classifier "$M/faces-cnn.ckpt" --keep 8 --threads "$THREADS" \
    --out "$OUT/sweep"
fi

# 4. FD against ω, one curve per budget (the project's own plot command when it
#    can draw this; else matplotlib-free: a CSV and the sweep's own plots).
cp "$OUT/sweep/sweep.csv" "$DOCS/sweep.csv"
cp "$OUT/sweep/sweep.json" "$DOCS/sweep.json"
for f in fd_vs_omega.png samples.png ratio_vs_omega.png; do
  [[ -s "$OUT/sweep/$f" ]] && cp "$OUT/sweep/$f" "$DOCS/$f"
done
echo "wrote $DOCS (budgets $BUDGETS images, omegas $OMEGAS, $N_EVAL samples per point)"
