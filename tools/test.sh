#!/usr/bin/env bash
# The whole test suite from a clean clone: set-up, build, CTest; then the
# Debian packages built, installed and tried outside the checkout
# (tools/package.sh), and the server build with the GUIs off
# (tools/build_server.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bash "$ROOT/tools/setup.sh" -DSIMS_BUILD_TESTS=ON -DSIMS_BUILD_GUI=ON
cd "$ROOT/build"
ctest --output-on-failure -j1
bash "$ROOT/tools/package.sh" "$ROOT/build"
bash "$ROOT/tools/build_server.sh" "$ROOT/build-server"
