#!/usr/bin/env bash
# The main job: set-up, build, then the headless SIMS demo (writes out/demo/).
# The desktop studio replaces this where a display exists once it lands.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bash "$ROOT/tools/setup.sh"
bash "$ROOT/tools/demo.sh" "$ROOT/out/demo"
