#!/usr/bin/env bash
# Golden runs: every long command of `sims` at toy size with fixed seeds,
# reduced to the numbers it reports. Used to show that a refactoring leaves
# the results unchanged (same seeds -> same metrics within float rounding).
#   golden_runs.sh SIMS FIXTURE_DIR OUT.json            record
#   golden_runs.sh SIMS FIXTURE_DIR OUT.json REF.json   record and compare
# Runs single-threaded so the float sums are summed in one order.
set -euo pipefail
SIMS="$1"; FX="$2"; OUT="$3"; REF="${4:-}"
PY=/usr/bin/python3
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1
last() { tail -n 1 "$1"; }
run() {  # run NAME sims-args...: the JSON line of `sims ... --json` into $T/NAME.json
  local name="$1"; shift
  if ! "$SIMS" "$@" --json >"$T/$name.out" 2>"$T/$name.err"; then
    echo "golden: '$name' failed:"; cat "$T/$name.err"; exit 1
  fi
  last "$T/$name.out" >"$T/$name.json"
}

run train train --data gaussian --n-data 500 --budget 20000 --batch 256 --seed 1 --out "$T/base.ckpt"
run synth synth --model "$T/base.ckpt" --n 700 --chunk 300 --steps 12 --seed 2 --out "$T/synth.npy"
run finetune finetune --base "$T/base.ckpt" --data "$T/synth.npy" --budget 5000 --seed 3 --out "$T/aux.ckpt"
run sample sample --model "$T/base.ckpt" --aux "$T/aux.ckpt" --omega 1 --n 300 --seed 4 --steps 10 --out "$T/s.npy"
run sweep sweep --model "$FX/gauss_exact.pt" --aux "$FX/gauss_narrow.pt" --omegas 0,1,2 --steps 6 --n 200 \
    --real-data gaussian --out "$T/sweep" --quiet
run gauss_loop loop --family gaussian --kind fully-synthetic --dim 2 --n-real 20 --n-synth 20 --generations 6 --runs 50 \
    --seed 1 --out "$T/gloop"
D2=(--family diffusion2d --kind augment --n-real 50 --n-synth 20 --runs 2 --base-epochs 2 --aux-epochs 1 --workers 1)
run d2_standard loop "${D2[@]}" --generations 2 --out "$T/d2s"
run d2_sims loop "${D2[@]}" --algorithm sims --omega 1 --n-aux 40 --generations 2 --out "$T/d2m"
cat >"$T/tiny_unet.json" <<'JSON'
{"type": "unet", "channels": 3, "resolution": 16, "model_channels": 8, "channel_mult": [1, 2], "num_blocks": 1,
 "attn_resolutions": [], "dropout": 0.0}
JSON
run tbase train --data faces:size=16 --n-data 64 --budget 64 --batch 32 --net "$T/tiny_unet.json" --out "$T/tbase.ckpt"
run shift shift --model "$T/tbase.ckpt" --classifier "$FX/feat_net.pt" --attribute attr0 --target 0.6 --n-aux 30 --steps 4 \
    --budget 64 --batch 16 --lr-rampup 0 --omegas 0,1 --n-eval 20 --n-real 50 --quiet --out "$T/shift"
run image_loop loop --family images --data faces:size=16 --kind augment --n-real 16 --n-synth 8 --algorithm sims --omega 1 \
    --n-aux 8 --base-images 16 --aux-images 8 --batch 8 --steps 2 --n-eval 8 --pr-k 2 --save-images 4 --chunk 8 \
    --generations 2 --out "$T/iloop"
run scenarios scenarios --data faces:size=16 --n-real 8 --pollution 0,1 --base-images 16 --polluted-images 16 --from-st-i \
    --n-aux 8 --aux-images 8 --omegas 1 --batch 8 --steps 2 --n-eval 8 --pr-k 2 --chunk 8 --keep 2 --out "$T/scen"

"$PY" - "$T" "$OUT" "$REF" <<'PY'
import json, math, os, sys
t, out, ref = sys.argv[1], sys.argv[2], sys.argv[3]
def j(name):
    p = os.path.join(t, name + ".json")
    return json.loads(open(p).read()) if os.path.exists(p) and os.path.getsize(p) else {}
# The numbers each command reports (timings and paths left out).
g = {
  "train.final_loss": j("train").get("final_loss"),
  "finetune.final_loss": j("finetune").get("final_loss"),
  "sample.nfe": j("sample").get("nfe"),
  "sweep.rows": [{k: r.get(k) for k in ("omega", "w2", "precision", "recall")} for r in j("sweep").get("rows", [])],
  "gauss_loop.w2_mean": j("gauss_loop").get("w2_mean"),
  "d2_standard.w2_mean": j("d2_standard").get("w2_mean"),
  "d2_sims.w2_mean": j("d2_sims").get("w2_mean"),
  "d2_sims.w2_base_mean": j("d2_sims").get("w2_base_mean"),
  "tbase.final_loss": j("tbase").get("final_loss"),
  "shift.rows": [{k: r.get(k) for k in ("omega", "share", "fd", "fd_target", "precision", "recall")} for r in j("shift").get("rows", [])],
  "shift.aux_set": j("shift").get("aux_set"),
  "image_loop.fd": j("image_loop").get("fd"),
  "image_loop.fd_base": j("image_loop").get("fd_base"),
  "scenarios.curves": {k: v.get("fd") for k, v in j("scenarios").get("curves", {}).items()},
}
import numpy as np
x = np.load(os.path.join(t, "synth.npy")).astype(np.float64)
g["synth.mean"] = x.mean(0).tolist(); g["synth.std"] = x.std(0).tolist()
s = np.load(os.path.join(t, "s.npy")).astype(np.float64)
g["sample.mean"] = s.mean(0).tolist(); g["sample.std"] = s.std(0).tolist()
tmp = out + ".tmp"
open(tmp, "w").write(json.dumps(g, indent=1, sort_keys=True) + "\n"); os.replace(tmp, out)
if not ref:
    print("golden: recorded", out); sys.exit(0)
want = json.load(open(ref))
bad = []
def cmp(path, a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)): cmp(path + "." + k, a.get(k), b.get(k))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (p, q) in enumerate(zip(a, b)): cmp(f"{path}[{i}]", p, q)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if not (math.isclose(a, b, rel_tol=2e-4, abs_tol=1e-6) or (math.isnan(a) and math.isnan(b))):
            bad.append(f"{path}: {b} (reference {a})")
    elif a != b:
        bad.append(f"{path}: {b!r} (reference {a!r})")
cmp("", want, g)
if bad:
    print("golden: %d values differ from %s:" % (len(bad), ref)); print("\n".join("  " + b for b in bad[:40])); sys.exit(1)
print("golden: all %d groups match %s" % (len(g), ref))
PY
