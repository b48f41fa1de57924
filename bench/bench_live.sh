#!/usr/bin/env bash
# Benchmark (issue 15): sims-live driven as a user drives it, in its real
# window under Xvfb (Mesa's llvmpipe: OpenGL on the CPU, no GPU), on the
# shipped grid25 pair (as bench/bench_studio.sh). `sims-live --bench` times:
#   - dragging omega, one move per frame at most 60 times a second (as a
#     mouse does), for 3 s over 2,000 points x 32 Heun steps (base and SIMS
#     side by side): UI frames per second (60 at most), frame time, and new
#     sample sets (previews) shown per second;
#   - omega release -> the full result drawn and swapped (8 releases);
#   - drawing 100,000 points per panel (density map, points) while scrubbing
#     between two steps: frames per second, both panels redrawn every frame.
# Beside it, the same sampling work in Python/PyTorch eager
# (bench/studio_sample.py: 2,000 points x 32 Heun steps, SIMS on every step)
# as a ratio. REPEATS runs; medians.
# usage: bench/bench_live.sh [BUILD_DIR] [REPEATS] [WxH (default 1600x1000)]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}; REPS=${2:-3}; SIZE=${3:-1600x1000}
LIVE=$BUILD/bin/sims-live; PY=/usr/bin/python3
M=$ROOT/assets/models
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
for r in $(seq "$REPS"); do
  echo "== sims-live run $r/$REPS (load average $(cut -d' ' -f1-3 /proc/loadavg)) =="
  xvfb-run -a -s "-screen 0 ${SIZE}x24" "$LIVE" --pair grid25 --size "$SIZE" --bench "$OUT/run$r.json" >/dev/null
done
echo "== PyTorch eager: the same sampling (2,000 points x 32 Heun steps, SIMS), $(nproc) threads =="
$PY "$ROOT/bench/studio_sample.py" "$M/grid25-base.ckpt" "$M/grid25-aux.ckpt" "$(nproc)" 5 > "$OUT/py.json"
$PY - "$OUT" "$REPS" <<'PYEOF'
import json, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
runs = [json.load(open(f"{out}/run{r}.json")) for r in range(1, reps + 1)]
py = json.load(open(f"{out}/py.json"))
def med(path):
    vals = []
    for r in runs:
        v = r
        for k in path.split("."):
            v = v.get(k) if isinstance(v, dict) else None
        if v is not None: vals.append(v)
    return statistics.median(vals), vals
print("GL renderer:", runs[0].get("gl_renderer"), "· cores:", runs[0].get("cpu_cores"))
rows = [("drag: UI frames per second", "drag.frames_per_second", "/s"),
        ("drag: frame time median", "drag.frame_ms_median", "ms"),
        ("drag: frame time p95", "drag.frame_ms_p95", "ms"),
        ("drag: new sample sets shown per second", "drag.new_sample_sets_per_second", "/s"),
        ("worker idle: frame reusing the panels' textures", "idle_frames_2000.static.frame_ms_median", "ms"),
        ("worker idle: frame redrawing both panels (2,000 points)", "idle_frames_2000.both_panels_redrawn.frame_ms_median", "ms"),
        ("release -> full result on screen (median of 8)", "release_to_screen_ms.median", "ms"),
        ("  slowest release", "release_to_screen_ms.max", "ms"),
        ("100,000 points per panel: frames per second", "points_100k.frames_per_second", "/s"),
        ("100,000 points per panel: frame time median", "points_100k.frame_ms_median", "ms")]
print("%-56s %9s   %s" % ("figure (median over %d runs)" % reps, "value", "runs"))
for name, path, unit in rows:
    m, vals = med(path)
    print("%-56s %7.1f %-3s %s" % (name, m, unit, " ".join("%.1f" % v for v in vals)))
rel, _ = med("release_to_screen_ms.median")
print("PyTorch eager, sampling alone (SIMS, no comparison, nothing drawn): %.1f ms" % py["median_ms"])
print("ratio release->screen (sims-live, base + SIMS, drawn) / PyTorch sampling alone: %.2f" % (rel / py["median_ms"]))
PYEOF
