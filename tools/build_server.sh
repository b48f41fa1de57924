#!/usr/bin/env bash
# The server build: the core and the `sims` CLI with the GUIs off (no Qt,
# no display), into build-server/ (or DIR), then a check that it runs.
# Shares the compiler cache with build/ (paths relative to the checkout), so
# after a full build it mostly relinks.
# usage: tools/build_server.sh [DIR] [extra cmake args...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$ROOT/build-server}; shift || true
start=$(date +%s)
cmake -S "$ROOT" -B "$DIR" -DCMAKE_BUILD_TYPE=Release -DSIMS_BUILD_GUI=OFF -DSIMS_BUILD_TESTS=OFF "$@" >/dev/null
cmake --build "$DIR" -j"$(nproc 2>/dev/null || echo 2)" --target sims >/dev/null
"$DIR/bin/sims" --version
"$DIR/bin/sims" sample --model "$ROOT/assets/models/gaussian-base.ckpt" --aux "$ROOT/assets/models/gaussian-aux.ckpt" \
  --omega 0.5 --n 200 --seed 3 --out "$DIR/server-check.npy" >/dev/null
[[ -s $DIR/server-check.npy ]] || { echo "error: the server build's sims sample wrote nothing" >&2; exit 1; }
echo "server build (GUIs off): $DIR/bin/sims built and sampled in $(($(date +%s) - start)) s"
