#!/usr/bin/env bash
# Benchmark (issue 6): the live studio's speed as the user sees it, on the
# shipped models. Runs `sims-studio --bench-latency` (off-screen, the real
# window driven like a user) REPEATS times and prints the median of each
# figure over the runs:
#   - omega slider release -> full re-sample (2,000 points x 32 Heun steps,
#     SIMS on every step, base comparison on) painted on screen; each run
#     times 12 releases at different omegas, each made as soon as the drag
#     preview is on screen, and reports their median (and 6 releases after
#     holding the handle still for 200 ms)
#   - previews shown per second while the slider moves at 60 Hz
#   - the UI event loop's worst stall (lateness of a 10 ms timer) while
#     sampling, dragging, and while a training job runs
#   - image models (faces U-Net 32x32 RGB): omega change -> first preview
#     painted (while the previous full grid is being computed), and the time
#     to the full 36-image x 32-step grid
# plus `sims sample` alone on the same 2D work for reference. Other processes
# slow everything down on a 2-core machine: the load average at the start
# and end of each run is printed with the figures.
# usage: bench/bench_studio.sh [BUILD_DIR] [REPEATS] [--no-final-grid]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}; REPS=${2:-3}; EXTRA=${3:-}
STUDIO=$BUILD/bin/sims-studio; SIMS=$BUILD/bin/sims; PY=/usr/bin/python3
M=$ROOT/assets/models
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}

echo "== sims sample alone (2000 points x 32 Heun steps, omega 1, base + aux) =="
for r in $(seq "$REPS"); do
  "$SIMS" sample --model "$M/grid25-base.ckpt" --aux "$M/grid25-aux.ckpt" --omega 1 --n 2000 --seed "$r" --steps 32 \
    --out "$OUT/s.npy" --json | tail -1 | $PY -c "import json,sys; print(json.load(sys.stdin)['seconds']*1000)"
done > "$OUT/cli.txt"
$PY -c "import statistics as s; v=[float(x) for x in open('$OUT/cli.txt')]; print('sampling alone: median %.1f ms (runs: %s)' % (s.median(v), ', '.join('%.0f' % x for x in v)))"

for r in $(seq "$REPS"); do
  echo "== studio run $r/$REPS (load average $(cut -d' ' -f1-3 /proc/loadavg)) =="
  # The grid25 pair, as `sims sample` above and the figures in docs/BENCHMARKS.md (the studio opens on gaussian).
  flags=(-b "$M/grid25-base.ckpt" -a "$M/grid25-aux.ckpt" --bench-latency "$OUT/run$r.json")
  [ "$EXTRA" = "--no-final-grid" ] && flags+=(--bench-no-final-grid)
  "$STUDIO" "${flags[@]}" 2> >(grep -v -e propagateSizeHints -e XDG_RUNTIME_DIR >&2)
done

$PY - "$OUT" "$REPS" <<'EOF'
import json, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
runs = [json.load(open(f"{out}/run{r}.json")) for r in range(1, reps + 1)]
def get(run, path):
    v = run
    for k in path.split("."):
        if not isinstance(v, dict) or k not in v: return None
        v = v[k]
    return v
rows = [
    ("release -> on screen, 2000 pts x 32 steps (median of releases)", "release_to_screen_ms.median", "ms"),
    ("  release -> result delivered to the UI thread", "release_to_result_ms.median", "ms"),
    ("  worker compute per release", "release_worker_compute_ms.median", "ms"),
    ("  slowest release", "release_to_screen_ms.max", "ms"),
    ("release after holding the handle still 200 ms -> on screen", "held_200ms_release_to_screen_ms.median", "ms"),
    ("previews shown per second while dragging (60 Hz)", "drag_previews_per_s", "/s"),
    ("event loop max stall: releases", "release_stall.max_ms", "ms"),
    ("event loop max stall: dragging", "drag_stall.max_ms", "ms"),
    ("event loop max stall: training job + dragging", "training_stall.max_ms", "ms"),
    ("  p99 stall: training job + dragging", "training_stall.p99_ms", "ms"),
    ("previews per second while dragging during training", "training_drag_previews_per_s", "/s"),
    ("images: load -> first preview on screen", "image_load_to_first_preview_ms", "ms"),
    ("images: omega change -> first preview on screen (median)", "image_first_preview_ms.median", "ms"),
    ("images: slowest first preview", "image_first_preview_ms.max", "ms"),
    ("images: omega change -> full 36-image grid", "image_full_grid_ms", "ms"),
    ("event loop max stall: image sampling", "image_stall.max_ms", "ms"),
]
print()
print("%-62s %10s   %s" % ("figure (median over %d runs)" % reps, "value", "runs"))
for name, path, unit in rows:
    vals = [get(r, path) for r in runs]
    vals = [v for v in vals if v is not None]
    if not vals: continue
    print("%-62s %8.1f %-3s %s" % (name, statistics.median(vals), unit, " ".join("%.1f" % v for v in vals)))
print("load average at start/end of each run:", ", ".join("%.2f/%.2f" % (r.get("load_average_start", -1), r.get("load_average_end", -1)) for r in runs))
errs = [r["error"] for r in runs if "error" in r]
if errs: print("errors:", errs); sys.exit(1)
EOF
