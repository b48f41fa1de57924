#!/usr/bin/env bash
# The whole test suite from a clean clone: set-up, build, CTest.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bash "$ROOT/tools/setup.sh" -DSIMS_BUILD_TESTS=ON -DSIMS_BUILD_GUI=ON
cd "$ROOT/build"
ctest --output-on-failure -j1
