#!/usr/bin/env bash
# Benchmark (issue 4): the metrics on realistic sizes, `sims metrics` side by
# side with Python references (numpy / torch; scipy is not installed):
#   FD on 10k x 2048 features, exact W2 on 2000 x 2000 2-D points,
#   precision/recall on 10k x 10k x 2048 features (k = 5), each once (--ci 0);
#   then FD with its default interval (20 bootstrap resamples above 512
#   dimensions) beside the same bootstrap in torch.
# Wall time (whole process, loading included) and peak RSS from /usr/bin/time.
# usage: bench/bench_metrics.sh [BUILD_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
SIMS=$BUILD/bin/sims; PY=/usr/bin/python3; REF=$ROOT/bench/metrics_ref.py
D=$BUILD/bench-metrics
mkdir -p "$D"
[[ -f $D/feat_b.npy ]] || $PY "$REF" gen "$D"
T=$(mktemp); trap 'rm -f "$T"' EXIT
run() {  # run NAME command...: prints name, wall s, peak MiB, result
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$T" "$@" >"$T.out" 2>/dev/null || { echo "$name: failed"; return; }
  read -r wall kb <"$T"
  printf "%-28s %9.2f s %9.0f MiB  %s\n" "$name" "$wall" "$((kb / 1024))" "$(tail -1 "$T.out")"
}
echo "threads: LibTorch/torch defaults; machine: $(nproc) cores"
run "sims metrics fd"          "$SIMS" metrics fd "$D/feat_a.npy" "$D/feat_b.npy" --ci 0 --json
run "python numpy fd"          $PY "$REF" fd "$D/feat_a.npy" "$D/feat_b.npy"
run "python torch fd"          $PY "$REF" fd_torch "$D/feat_a.npy" "$D/feat_b.npy"
run "sims metrics w2 (2000)"   "$SIMS" metrics w2 "$D/pts_a.npy" "$D/pts_b.npy" --ci 0 --json
run "python w2 (POT?)"         $PY "$REF" w2 "$D/pts_a.npy" "$D/pts_b.npy"
run "sims metrics pr k=5"      "$SIMS" metrics pr "$D/feat_a.npy" "$D/feat_b.npy" --k 5 --ci 0 --json
run "python torch pr k=5"      $PY "$REF" pr "$D/feat_a.npy" "$D/feat_b.npy" 5
run "sims metrics fd + interval" "$SIMS" metrics fd "$D/feat_a.npy" "$D/feat_b.npy" --json
run "python torch fd + 20 boot"  $PY "$REF" fd_boot "$D/feat_a.npy" "$D/feat_b.npy" 20
rm -f "$T.out"
