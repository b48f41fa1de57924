#!/usr/bin/env bash
# Kill -9 torture: runs `sims train`, `finetune`, `synth` and `loop` and kills
# each KILLS times at a random moment (SIGKILL: no handler runs). After every
# kill, every file the command left must be complete and loadable (checkpoints
# through `sims info`, .npy and .json through numpy/json), and running the same
# command again must finish with exactly the result of an uninterrupted run
# (samples of the trained model, the synthetic set, the loop's per-run
# distances: byte for byte). No temporary file may outlive the next run.
# usage: bench/kill_torture.sh SIMS [KILLS=20] [COMMANDS="train finetune synth loop"]
# Prints one line per command: kills, files checked, identical reruns.
set -uo pipefail
SIMS=$(realpath "$1"); KILLS=${2:-20}; COMMANDS=${3:-"train finetune synth loop"}
command -v bc >/dev/null || { echo "kill torture needs bc"; exit 2; }
PY=/usr/bin/python3
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
say_bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

args_of() {  # args_of NAME DIR: sets ARGS to the command NAME writing into DIR
  local name=$1 d=$2
  case $name in
    train) ARGS=(train --data gaussian --n-data 500 --budget 300000 --batch 100 --checkpoint-every 5000 --seed 1
                 --threads 1 --out "$d/m.ckpt") ;;
    finetune) ARGS=(finetune --base "$T/base.ckpt" --data "$T/synth.npy" --budget 300000 --batch 100
                    --checkpoint-every 5000 --seed 2 --threads 1 --out "$d/aux.ckpt") ;;
    synth) ARGS=(synth --model "$T/base.ckpt" --n 60000 --chunk 2000 --seed 3 --threads 1 --out "$d/s.npy") ;;
    loop) ARGS=(loop --family diffusion2d --kind augment --n-real 300 --n-synth 150 --runs 4 --generations 8
                --base-epochs 30 --aux-epochs 10 --width 16 --seed 4 --threads 1 --out "$d/loop") ;;
  esac
}
run_cmd() { args_of "$1" "$2"; "$SIMS" "${ARGS[@]}"; }

result() {  # result NAME DIR: what must equal the uninterrupted run
  local name=$1 d=$2
  case $name in
    train) "$SIMS" sample --model "$d/m.ckpt" --n 256 --seed 5 --steps 8 --out "$d/r.npy" >/dev/null 2>&1 && md5sum <"$d/r.npy" ;;
    finetune) "$SIMS" sample --model "$d/aux.ckpt" --n 256 --seed 5 --steps 8 --out "$d/r.npy" >/dev/null 2>&1 && md5sum <"$d/r.npy" ;;
    synth) md5sum <"$d/s.npy" ;;
    loop) $PY - "$d/loop" <<'PY' ;;  # every run's distance in every generation
import glob, json, sys
files = sorted(glob.glob(sys.argv[1] + "/stages/generation-*.json"))
assert files, "no finished generation"
for f in files:
    print(json.load(open(f))["result"]["w2_runs"])
PY
  esac
}

CHECKED=0
check_files() {  # every file present is complete: checkpoints load, .npy and .json parse; adds to CHECKED
  local d=$1 n=0
  while IFS= read -r -d '' f; do
    case $f in
      */.*.tmp*) continue ;;  # a killed writer's temporary: removed by the next run, checked below
      *.ckpt) "$SIMS" info "$f" >/dev/null 2>&1 || say_bad "unloadable checkpoint after a kill: $f" ;;
      *.npy) $PY -c "import numpy,sys; numpy.load(sys.argv[1])" "$f" 2>/dev/null || say_bad "unreadable npy after a kill: $f" ;;
      *.json) $PY -c "import json,sys; json.load(open(sys.argv[1]))" "$f" 2>/dev/null || say_bad "unreadable json after a kill: $f" ;;
      *.partial) ;;  # synth's own resumable partial file: checked by the rerun's result
    esac
    n=$((n + 1))
  done < <(find "$d" -type f -print0)
  CHECKED=$((CHECKED + n))
}

# Inputs of finetune and synth: a small base and its synthetic set.
"$SIMS" train --data gaussian --n-data 500 --budget 20000 --batch 100 --seed 9 --threads 1 --out "$T/base.ckpt" >/dev/null 2>&1
"$SIMS" synth --model "$T/base.ckpt" --n 2000 --seed 9 --out "$T/synth.npy" >/dev/null 2>&1

for name in $COMMANDS; do
  mkdir -p "$T/$name-ref"
  start=$(date +%s.%N)
  run_cmd "$name" "$T/$name-ref" >/dev/null 2>&1 || say_bad "$name: the uninterrupted run failed"
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  out=$(result "$name" "$T/$name-ref") && [[ -n $out ]] || { say_bad "$name: no result from the uninterrupted run"; continue; }
  want=$(md5sum <<<"$out")
  CHECKED=0; same=0; killed=0
  for k in $(seq 1 "$KILLS"); do
    d="$T/$name-$k"; mkdir -p "$d"
    args_of "$name" "$d"
    "$SIMS" "${ARGS[@]}" >/dev/null 2>&1 &  # the sims process itself, so that the kill reaches it
    pid=$!
    sleep "$(echo "scale=3; $secs * $RANDOM / 32768" | bc)"
    # Killed mid-way only if it was still running (a finished process that is not yet reaped still takes the kill).
    [[ "$(ps -o stat= -p "$pid" 2>/dev/null)" == [RSD]* ]] && kill -9 "$pid" 2>/dev/null && killed=$((killed + 1))
    wait "$pid" 2>/dev/null
    check_files "$d"
    # A later run (the cleanup waits until a temporary is a minute old: here they are made older).
    find "$d" -name '.*.tmp*' -exec touch -d '2 minutes ago' {} +
    run_cmd "$name" "$d" >/dev/null 2>"$d.err" || say_bad "$name: the run after kill $k failed: $(grep error: "$d.err" | head -1)"
    got=$(result "$name" "$d") && [[ -n $got && "$(md5sum <<<"$got")" == "$want" ]] && same=$((same + 1)) \
      || say_bad "$name: kill $k: the rerun differs or gave no result"
    left=$(find "$d" -name '.*.tmp*' | wc -l)
    [[ $left -eq 0 ]] || say_bad "$name: kill $k: $left temporary files left after the rerun"
  done
  echo "$name: $killed of $KILLS runs killed mid-way (uninterrupted: ${secs%.*} s), $CHECKED files checked, $same of $KILLS reruns identical"
done
echo "kill torture: $fail failures"
[[ $fail -eq 0 ]]
