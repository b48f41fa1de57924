#!/usr/bin/env bash
# A full disk (issue 14): every command that writes gets one "error:" line naming the file and the cause, leaves
# no temporary file, keeps an existing result byte for byte, and the same command continues once there is room.
# The disk is made full by a preloaded shim (full_disk_shim.cpp): write() fails with ENOSPC once more than
# SIMS_TEST_FULL_BYTES bytes have gone to files under SIMS_TEST_FULL_DIR; no root or mount needed.
# usage: test_full_disk.sh SIMS_BINARY SHIM_LIBRARY
set -u
SIMS="$1"; SHIM="$2"
PY=/usr/bin/python3
T=$(realpath "$(mktemp -d)"); trap 'rm -rf "$T"' EXIT  # resolved: the shim compares /proc/self/fd targets
F="$T/full"; mkdir -p "$F"
pass=0; fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }

# full BYTES -- command...: run with the folder F full after BYTES more bytes.
full() {
  local cap="$1"; shift 2
  LD_PRELOAD="$SHIM" SIMS_TEST_FULL_DIR="$F" SIMS_TEST_FULL_BYTES="$cap" "$@"
}
# expect_full NAME FILE BYTES -- command...: exit 1/2, the last stderr line (after any progress lines) and the only
# "error:" one is "error: cannot write '...FILE': No space left on device; nothing was written"; no temporary file in F.
expect_full() {
  local name="$1" file="$2" cap="$3"; shift 4
  full "$cap" -- "$@" >"$T/stdout" 2>"$T/stderr"; local rc=$?
  if [[ $rc -ne 1 && $rc -ne 2 ]]; then bad "$name: exit $rc (want 1 or 2)"; cat "$T/stderr"; return; fi
  if [[ $(grep -c '^error:' "$T/stderr") -ne 1 ]]; then bad "$name: not one error line"; cat "$T/stderr"; return; fi
  if ! tail -n 1 "$T/stderr" | grep -q "^error: cannot write '[^']*$file': No space left on device; nothing was written$"; then
    bad "$name: stderr ends with '$(tail -n 1 "$T/stderr")'"; return
  fi
  if ls -a "$F" | grep -q '\.tmp'; then bad "$name: temporary file left: $(ls -a "$F")"; return; fi
  ok
}

# The shim works: dd (plain write() calls) into F fails, elsewhere it does not.
if full 0 -- dd if=/dev/zero of="$F/probe" bs=16 count=1 2>/dev/null; then bad "the shim did not make $F full"; else ok; fi
full 0 -- dd if=/dev/zero of="$T/probe" bs=16 count=1 2>/dev/null && ok || bad "the shim blocked a write outside $F"
rm -f "$F/probe"

TRAIN=(train --data gaussian --n-data 500 --batch 64 --seed 3)
# A new checkpoint on a full disk: nothing at OUT.
expect_full "train, new checkpoint" m.ckpt 0 -- "$SIMS" "${TRAIN[@]}" --budget 2000 --out "$F/m.ckpt"
[[ -e "$F/m.ckpt" ]] && bad "train on a full disk wrote m.ckpt" || ok
# Half of the checkpoint fits, then the disk is full: nothing at OUT either.
expect_full "train, disk full half-way" m.ckpt 20000 -- "$SIMS" "${TRAIN[@]}" --budget 2000 --out "$F/m.ckpt"
[[ -e "$F/m.ckpt" ]] && bad "train half-way wrote m.ckpt" || ok

# Continuing a checkpoint on a full disk keeps the old one byte for byte; with room the same command continues, to
# what the same two commands give without a full disk.
"$SIMS" "${TRAIN[@]}" --budget 2000 --out "$F/r.ckpt" >/dev/null 2>&1 || bad "train to continue failed"
cp "$F/r.ckpt" "$T/r-before.ckpt"
expect_full "train continued" r.ckpt 20000 -- "$SIMS" "${TRAIN[@]}" --budget 4000 --out "$F/r.ckpt"
cmp -s "$F/r.ckpt" "$T/r-before.ckpt" && ok || bad "the full disk changed the existing checkpoint"
"$SIMS" "${TRAIN[@]}" --budget 4000 --out "$F/r.ckpt" --json >"$T/r.json" 2>/dev/null || bad "continuing with room failed"
"$SIMS" "${TRAIN[@]}" --budget 2000 --out "$T/straight.ckpt" >/dev/null 2>&1 \
  && "$SIMS" "${TRAIN[@]}" --budget 4000 --out "$T/straight.ckpt" --json >"$T/s.json" 2>/dev/null || bad "train without a full disk failed"
"$SIMS" sample --model "$F/r.ckpt" --n 300 --seed 1 --steps 8 --out "$T/ra.npy" >/dev/null 2>&1 \
  && "$SIMS" sample --model "$T/straight.ckpt" --n 300 --seed 1 --steps 8 --out "$T/sa.npy" >/dev/null 2>&1 \
  || bad "sampling the continued checkpoints failed"
$PY - "$T" <<'PY' && ok || bad "the continued checkpoint differs from a straight run"
import json, sys, numpy as np
t = sys.argv[1]
a, b = json.loads(open(t + "/r.json").read().splitlines()[-1]), json.loads(open(t + "/s.json").read().splitlines()[-1])
assert a["images_seen"] == b["images_seen"] == 4000, (a, b)
x, y = np.load(t + "/ra.npy"), np.load(t + "/sa.npy")
assert x.shape == (300, 2) and np.abs(x - y).max() < 1e-5, np.abs(x - y).max()
PY

# Samples: nothing written.
expect_full "sample" s.npy 100 -- "$SIMS" sample --model "$F/r.ckpt" --n 500 --seed 1 --out "$F/s.npy"
[[ -e "$F/s.npy" ]] && bad "sample on a full disk wrote s.npy" || ok

# A loop's run folder: the run stops with the error line; with room the same command gives the straight result.
LOOP=(loop --family gaussian --kind fully-synthetic --dim 2 --n-real 20 --n-synth 20 --generations 6 --runs 50 --seed 1)
full 0 -- "$SIMS" "${LOOP[@]}" --out "$F/loop" >/dev/null 2>"$T/stderr"; rc=$?
[[ $rc -eq 1 || $rc -eq 2 ]] && tail -n 1 "$T/stderr" | grep -q "^error: .*No space left on device" && [[ $(grep -c '^error:' "$T/stderr") -eq 1 ]] \
  && ok || bad "loop on a full disk: exit $rc, stderr '$(cat "$T/stderr")'"
find "$F/loop" -name '.*tmp*' 2>/dev/null | grep -q . && bad "loop left temporary files" || ok
"$SIMS" "${LOOP[@]}" --out "$F/loop" --json >"$T/l1.json" 2>/dev/null || bad "loop with room failed"
"$SIMS" "${LOOP[@]}" --out "$T/loop2" --json >"$T/l2.json" 2>/dev/null || bad "straight loop failed"
cmp -s <(tail -1 "$T/l1.json") <(tail -1 "$T/l2.json") && ok || bad "the loop after a full disk differs from a straight run"

echo "full disk: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
