#!/usr/bin/env bash
# Several processes on 127.0.0.1 (`sims launch`, torch.distributed's Gloo):
# training, fine-tuning, a loop and a sweep give one process's results; a
# resume works with another process count; a killed rank stops the job with
# an error naming it, leaves no torn file, and the same command continues;
# bad flags and unshared commands get one error line.
# usage: test_launch.sh SIMS_BINARY FIXTURE_DIR
set -u
SIMS="$1"; FX="$2"
PY=/usr/bin/python3
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1
pass=0; fail=0
ok()   { pass=$((pass+1)); }
bad()  { fail=$((fail+1)); echo "FAIL: $*"; }
last() { tail -n 1 "$1"; }

# one_error NAME WANT_RC PATTERN -- command...: exit WANT_RC and one stderr line matching PATTERN.
one_error() {
  local name="$1" want_rc="$2" pat="$3"; shift 4
  "$@" >"$T/stdout" 2>"$T/stderr"; local rc=$?
  if [[ $rc -ne $want_rc ]]; then bad "$name: exit $rc (want $want_rc): $(cat "$T/stderr")"; return; fi
  if [[ $(wc -l <"$T/stderr") -ne 1 ]] || ! grep -Eq "$pat" "$T/stderr"; then
    bad "$name: stderr was '$(cat "$T/stderr")', want one line matching '$pat'"; return
  fi
  ok
}
# run NAME command...: the JSON line of the command into $T/NAME.json
run() {
  local name="$1"; shift
  if "$@" --json >"$T/$name.out" 2>"$T/$name.err"; then last "$T/$name.out" >"$T/$name.json"; ok
  else bad "$name failed: $(tail -3 "$T/$name.err")"; echo '{}' >"$T/$name.json"; fi
}
L2=("$SIMS" launch --nproc 2 -- sims)

# --- bad input ---------------------------------------------------------------------
one_error "nproc 0" 1 '^error: --nproc must be in 1\.\.256$' -- "$SIMS" launch --nproc 0 -- sims info
one_error "no command" 1 '^error: no command given' -- "$SIMS" launch --nproc 2
one_error "nnodes without master" 1 '^error: --nnodes 2 needs --master HOST:PORT' -- "$SIMS" launch --nproc 1 --nnodes 2 -- sims info
one_error "bad master" 1 "^error: --master 'nowhere' must be HOST:PORT" -- "$SIMS" launch --master nowhere -- sims info
one_error "node rank" 1 '^error: --node-rank must be in 0\.\.1' -- "$SIMS" launch --nnodes 2 --node-rank 2 --master 127.0.0.1:1 -- sims info
one_error "nested" 1 "^error: the launched command cannot itself be 'sims launch'$" -- "$SIMS" launch --nproc 2 -- sims launch -- sims info
one_error "unshared command" 2 "^error: rank 0: 'sims sample' runs in one process; 'sims train'" -- \
  env RANK=0 WORLD_SIZE=2 "$SIMS" sample --model "$FX/mlp_base.pt" --n 5 --out "$T/x.npy"
one_error "unshared family" 1 "^error: rank [01]: --family gaussian runs in one process" -- \
  "${L2[@]}" loop --family gaussian --kind fully-synthetic --dim 2 --n-real 20 --n-synth 20 --generations 2 --runs 4 --out "$T/gl"
one_error "bad env" 2 "^error: .*RANK" -- env RANK=3 WORLD_SIZE=2 "$SIMS" loop --family diffusion2d --out "$T/bad"
# A program that does not exist is found before any rank starts: one line, exit 1 (each rank's exec failed: 127).
one_error "missing program" 1 "^error: cannot run 'no-such-program-xyz': no such program" -- "$SIMS" launch --nproc 2 -- no-such-program-xyz
[[ -e "$T/x.npy" || -e "$T/gl" || -e "$T/bad" ]] && bad "a refused command wrote its output" || ok
# A failing command: the first rank's own error, once, not the others' "lost contact".
one_error "first error" 1 "^error: rank [01]: --n-data must be >= 2$" -- \
  "${L2[@]}" train --data gaussian --n-data 1 --budget 100 --out "$T/never.ckpt"

# --- training: two processes = one process with the same global batch -------------------
TR=(train --data gaussian --n-data 500 --batch 250 --seed 1 --lr-rampup 1000)
run t1 "$SIMS" "${TR[@]}" --budget 6100 --out "$T/t1.ckpt"
run t2 "${L2[@]}" "${TR[@]}" --budget 6100 --out "$T/t2.ckpt"
# Resume with another process count: 2 processes to 3000 images, then 1 process to the end.
# As under torchrun's static rendezvous: its agent serves the TCPStore on MASTER_PORT and every rank is a client
# under /worker/attempt_<restart> (TORCHELASTIC_USE_AGENT_STORE=True). Debian's torchrun 1.13 itself fails under
# Python 3.11 before starting any worker, so its agent's part is played here by PyTorch's own TCPStore.
agent_store() {  # agent_store OUT_JSON sims-args...
  local out="$1"; shift
  "$PY" - "$SIMS" "$out" "$@" <<'PYEOF'
import os, socket, subprocess, sys
from datetime import timedelta
import torch.distributed as dist
sims, out, args = sys.argv[1], sys.argv[2], sys.argv[3:]
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
store = dist.TCPStore("127.0.0.1", port, 3, True, timedelta(seconds=60), wait_for_workers=False)
procs = []
for r in range(2):
    env = dict(os.environ, RANK=str(r), WORLD_SIZE="2", LOCAL_RANK=str(r), MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(port), TORCHELASTIC_USE_AGENT_STORE="True", TORCHELASTIC_RESTART_COUNT="0")
    procs.append(subprocess.Popen([sims] + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
res = [p.communicate(timeout=300) for p in procs]
if any(p.returncode for p in procs):
    sys.exit("ranks failed: " + " | ".join(e.strip()[-300:] for _, e in res))
open(out, "w").write(res[0][0].strip().splitlines()[-1] + "\n")
PYEOF
}
if agent_store "$T/tr.json" "${TR[@]}" --budget 6100 --out "$T/tr.ckpt" --json 2>"$T/tr.err"; then ok
else bad "ranks on an agent's store: $(tail -3 "$T/tr.err")"; echo '{}' >"$T/tr.json"; fi
# Two machines as `sims launch` sees them: one launcher per node (--nnodes 2 --node-rank K, node 0 serving the
# store at --master), here both on 127.0.0.1, node 1 started first: the same model as one process.
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
two_nodes() {  # two_nodes NAME sims-args...
  local name="$1"; shift
  local M=("$SIMS" launch --nproc 1 --nnodes 2 --master "127.0.0.1:$(free_port)")
  "${M[@]}" --node-rank 1 -- sims "$@" --json >"$T/$name-1.out" 2>"$T/$name-1.err" & local p1=$!
  sleep 1
  "${M[@]}" --node-rank 0 -- sims "$@" --json >"$T/$name.out" 2>"$T/$name.err"; local rc0=$?
  wait $p1; local rc1=$?
  if [[ $rc0 -eq 0 && $rc1 -eq 0 && ! -s "$T/$name-1.out" ]]; then last "$T/$name.out" >"$T/$name.json"; ok
  else bad "two nodes ($name): exit $rc0 / $rc1: $(tail -n 2 "$T/$name.err" "$T/$name-1.err")"; echo '{}' >"$T/$name.json"; fi
}
two_nodes tn "${TR[@]}" --budget 6100 --out "$T/tn.ckpt"
# A node alone: node 0 waits for the other, node 1 for node 0's store (SIMS_DIST_TIMEOUT, at most 5 minutes); each
# stops with one line that says what to check (LibTorch's own glog lines about the socket are not shown). Node 0
# alone waited 5 + 30 minutes before (the store's wait gave up silently, then the process group's).
one_error "node 0 alone" 1 '^error: rank 0 of 2: only 1 of the 2 processes joined at 127\.0\.0\.1:[0-9]+ within 2 s; start every node with the same --nnodes and --master' -- \
  env SIMS_DIST_TIMEOUT=2 "$SIMS" launch --nproc 1 --nnodes 2 --node-rank 0 --master "127.0.0.1:$(free_port)" -- \
  sims "${TR[@]}" --budget 1000 --out "$T/alone0.ckpt"
one_error "node 1 alone" 1 '^error: rank 1 of 2: the rendezvous at 127\.0\.0\.1:[0-9]+ failed \(.*[^.]\); did rank 0 start' -- \
  env SIMS_DIST_TIMEOUT=2 "$SIMS" launch --nproc 1 --nnodes 2 --node-rank 1 --master "127.0.0.1:$(free_port)" -- \
  sims "${TR[@]}" --budget 1000 --out "$T/alone1.ckpt"
[[ -e "$T/alone0.ckpt" || -e "$T/alone1.ckpt" ]] && bad "a node alone wrote a checkpoint" || ok
run th "${L2[@]}" "${TR[@]}" --budget 3000 --out "$T/th.ckpt"
run th2 "$SIMS" "${TR[@]}" --budget 6100 --out "$T/th.ckpt"
# A synthetic set in chunks shared over 3 processes: the same bytes as one process's.
SY=(synth --model "$T/t1.ckpt" --n 300 --chunk 64 --steps 8 --seed 2)
run y1 "$SIMS" "${SY[@]}" --out "$T/syn.npy"
run y2 "$SIMS" launch --nproc 3 -- sims "${SY[@]}" --out "$T/syn3.npy"
cmp -s "$T/syn.npy" "$T/syn3.npy" && ok || bad "synth: 3 processes wrote another set than 1 process"
[[ -z "$(ls "$T" | grep partial)" ]] && ok || bad "synth: partial files left"
FT=(finetune --base "$T/t1.ckpt" --data "$T/syn.npy" --budget 1500 --batch 100 --seed 3)
run f1 "$SIMS" "${FT[@]}" --out "$T/f1.ckpt"
run f2 "$SIMS" launch --nproc 3 -- sims "${FT[@]}" --out "$T/f2.ckpt"
# A small U-Net with dropout: its masks come from the step's seed, so they agree too.
cat >"$T/unet.json" <<'JSON'
{"type": "unet", "channels": 3, "resolution": 16, "model_channels": 8, "channel_mult": [1, 2], "num_blocks": 1,
 "attn_resolutions": [8], "dropout": 0.2}
JSON
UT=(train --data faces:size=16 --n-data 40 --budget 96 --batch 12 --lr-rampup 0 --net "$T/unet.json" --seed 5)
run u1 "$SIMS" "${UT[@]}" --out "$T/u1.ckpt"
run u2 "${L2[@]}" "${UT[@]}" --out "$T/u2.ckpt"
for m in t1 t2 tn th f1 f2; do
  "$SIMS" sample --model "$T/$m.ckpt" --n 200 --steps 8 --seed 9 --out "$T/s_$m.npy" >/dev/null 2>&1 || bad "sample $m failed"
done
for m in u1 u2; do
  "$SIMS" sample --model "$T/$m.ckpt" --n 4 --steps 4 --seed 9 --out "$T/s_$m.npy" >/dev/null 2>&1 || bad "sample $m failed"
done
"$PY" - "$T" <<'PY' && ok || bad "training with 2 processes differs from 1 process"
import json, sys, numpy as np
t = sys.argv[1]
j = lambda n: json.load(open(f"{t}/{n}.json"))
for a, b in [("t1", "t2"), ("t1", "tr"), ("t1", "tn"), ("f1", "f2"), ("u1", "u2")]:
    la, lb = j(a)["final_loss"], j(b)["final_loss"]
    assert abs(la - lb) <= 1e-4 * abs(la), (a, la, b, lb)
    assert j(b)["processes"] > 1 and j(a)["processes"] == 1
assert j("th2")["images_seen"] == 6100
for a, b, tol in [("t1", "t2", 1e-3), ("t1", "tn", 1e-3), ("t1", "th", 1e-3), ("f1", "f2", 1e-3), ("u1", "u2", 1e-3)]:
    x, y = np.load(f"{t}/s_{a}.npy"), np.load(f"{t}/s_{b}.npy")
    d = np.abs(x - y).max()
    assert d <= tol * max(1.0, np.abs(x).max()), (a, b, d)
# The check can fail: another seed gives other samples.
assert np.abs(np.load(f"{t}/s_t1.npy") - np.load(f"{t}/s_f1.npy")).max() > 1e-2
PY

# --- a loop and a sweep: the same numbers as one process ---------------------------------------------
D2=(loop --family diffusion2d --kind augment --n-real 50 --n-synth 20 --runs 5 --base-epochs 2 --aux-epochs 1
    --algorithm sims --omega 1 --n-aux 40 --generations 2 --workers 1)
run l1 "$SIMS" "${D2[@]}" --out "$T/l1"
run l2 "${L2[@]}" "${D2[@]}" --out "$T/l2"
# Warm-started generations: every run's base weights travel between the ranks with its samples.
# The 2-process run stops after generation 2 and continues to 3: rank 0 reads the weights back and sends them.
D2W=(loop --family diffusion2d --kind augment --n-real 50 --n-synth 20 --runs 5 --base-epochs 2 --aux-epochs 1
     --algorithm sims --omega 1 --n-aux 40 --workers 1 --warm-start previous)
run l3 "$SIMS" "${D2W[@]}" --generations 3 --out "$T/l3"
run l4a "${L2[@]}" "${D2W[@]}" --generations 2 --out "$T/l4"
run l4 "${L2[@]}" "${D2W[@]}" --generations 3 --out "$T/l4"
SW=(sweep --model "$FX/gauss_exact.pt" --aux "$FX/gauss_narrow.pt" --omegas 0,0.5,1,2 --steps 6 --n 200 --real-data gaussian --quiet)
run w1 "$SIMS" "${SW[@]}" --out "$T/w1"
run w2 "$SIMS" launch --nproc 3 -- sims "${SW[@]}" --out "$T/w2"
# sims tune: the synthetic set's chunks, the data-parallel fine-tunes and the grid's rows over 2 processes.
GB="$(dirname "$0")/../../assets/models/gaussian-base.ckpt"
TU=(tune --model "$GB" --budgets 256,512 --n-synth 200 --omegas 0,1 --n 100 --ci 10 --real-data gaussian --quiet)
run n1 "$SIMS" "${TU[@]}" --out "$T/n1"
run n2 "${L2[@]}" "${TU[@]}" --out "$T/n2"
"$PY" - "$T" <<'PY' && ok || bad "loop, sweep or tune with several processes differs from 1 process"
import json, sys, numpy as np
t = sys.argv[1]
j = lambda n: json.load(open(f"{t}/{n}.json"))
a, b = j("l1"), j("l2")
assert b["processes"] == 2
for k in ("w2_mean", "w2_median", "w2_base_mean"):
    assert np.allclose(a[k], b[k], rtol=1e-5, atol=1e-7), (k, a[k], b[k])
c, d = j("l3"), j("l4")
assert c["warm_start"] == "previous" and d["processes"] == 2 and d["resumed_from"] == 2, d.get("resumed_from")
for k in ("w2_mean", "w2_median", "w2_base_mean"):
    assert np.allclose(c[k], d[k], rtol=1e-5, atol=1e-7), (k, c[k], d[k])
assert not np.allclose(a["w2_mean"][1], c["w2_mean"][1]), "warm start changed nothing"
wa, wb = np.load(f"{t}/l3/state/base-0003.npy"), np.load(f"{t}/l4/state/base-0003.npy")
assert wa.shape == wb.shape and wa.shape[0] == 5 and np.abs(wa - wb).max() < 1e-4 * max(1.0, np.abs(wa).max()), "base weights"
ta, tb = j("n1"), j("n2")
assert ta["omega"] == tb["omega"] and ta["budget"] == tb["budget"], (ta, tb)
for k in ("gain", "gain_lo", "gain_hi"):
    assert np.isclose(ta[k], tb[k], rtol=1e-3, atol=1e-4), (k, ta[k], tb[k])
cmp = lambda f: open(f"{t}/n1/{f}", "rb").read() == open(f"{t}/n2/{f}", "rb").read()
assert cmp("synth.npy"), "the tune's synthetic sets differ"
ra, rb = j("w1")["rows"], j("w2")["rows"]
assert len(ra) == len(rb) == 4
for x, y in zip(ra, rb):
    for k in ("omega", "w2", "precision", "recall"):
        assert np.isclose(x[k], y[k], rtol=1e-6), (k, x[k], y[k])
PY

# --- a killed rank ---------------------------------------------------------------------------------------
# Rank 1 is killed once the first generation is written: launch stops rank 0 and names rank 1; nothing is
# torn; the same command continues from the finished generation to one process's result.
# About 1 s per generation on 2 processes here, so that rank 1 is found alive well after generation 1.
DK=(loop --family diffusion2d --kind augment --n-real 200 --n-synth 100 --runs 4 --base-epochs 1500 --aux-epochs 1
    --generations 4 --workers 1)
run k1 "$SIMS" "${DK[@]}" --out "$T/k1"
"${L2[@]}" "${DK[@]}" --out "$T/k2" --json >"$T/k2.out" 2>"$T/k2.err" &
LP=$!
for _ in $(seq 600); do
  [[ -n "$(ls "$T/k2/stages" 2>/dev/null | grep generation)" ]] && break
  sleep 0.1
done
R1=""
for p in $(pgrep -P $LP); do tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx RANK=1 && R1=$p; done
if [[ -z "$R1" ]]; then
  bad "kill test: rank 1 not found (did the loop finish too soon?)"; kill $LP; wait $LP
else
  t0=$(date +%s.%N)
  kill -9 "$R1" 2>/dev/null
  wait $LP; rc=$?
  t1=$(date +%s.%N)
  if [[ $rc -eq 0 ]]; then bad "kill test: launch exited 0"; else ok; fi
  grep -qx 'error: rank 1 was killed by signal 9 (Killed); the other process was stopped' "$T/k2.err" && ok ||
    bad "kill test: stderr $(grep error: "$T/k2.err")"
  [[ $(grep -c '^error:' "$T/k2.err") -eq 1 ]] && ok || bad "kill test: not one error line: $(grep error: "$T/k2.err")"
  "$PY" -c "import sys; sys.exit(0 if float(sys.argv[2]) - float(sys.argv[1]) < 15 else 1)" "$t0" "$t1" && ok ||
    bad "kill test: launch took more than 15 s to stop"
  [[ -z "$(find "$T/k2" -name '*.tmp*')" ]] && ok || bad "kill test: temporary files left: $(find "$T/k2" -name '*.tmp*')"
fi
run k2b "${L2[@]}" "${DK[@]}" --out "$T/k2"
"$PY" - "$T" <<'PY' && ok || bad "kill test: the continued run differs"
import json, sys, numpy as np
t = sys.argv[1]
a, b = (json.load(open(f"{t}/{n}.json")) for n in ("k1", "k2b"))
assert 1 <= b["resumed_from"] < 4, b["resumed_from"]  # killed after a finished generation, before the end
assert np.allclose(a["w2_mean"], b["w2_mean"], rtol=1e-5, atol=1e-7), (a["w2_mean"], b["w2_mean"])
PY

echo "launch tests: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
