#!/usr/bin/env bash
# The main job: set-up and build, then SIMS Studio where a display exists
# (`tools/run.sh live`: the lean live explorer sims-live instead), otherwise
# the headless demo: the whole SIMS pipeline (train a base, sample
# its synthetic set, fine-tune the auxiliary, sweep omega) on built-in data,
# with its report in out/demo/ (summary.md, grids, loss and metric plots), plus
# the exact-Gaussian guidance figures in out/demo/exact/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bash "$ROOT/tools/setup.sh"
FACE=sims-studio
[[ ${1:-} == live ]] && FACE=sims-live
if [[ -n ${DISPLAY:-} && -x $ROOT/build/bin/$FACE && -z ${SIMS_HEADLESS:-} ]]; then
  exec "$ROOT/build/bin/$FACE"
fi
"$ROOT/build/bin/sims" demo --out "$ROOT/out/demo"
bash "$ROOT/tools/demo.sh" "$ROOT/out/demo/exact"
echo "report: $ROOT/out/demo/summary.md"
