#!/usr/bin/env bash
# The whole test suite from a clean clone: set-up, build, CTest (with the file
# readers under ASan + UBSan: sanitized_readers); then the
# Debian packages built, installed and tried outside the checkout
# (tools/package.sh), the server build with the GUIs off
# (tools/build_server.sh), and the libFuzzer harnesses of the file readers
# under ASan + UBSan, 30 s each, one per core side by side (tools/fuzz.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bash "$ROOT/tools/setup.sh" -DSIMS_BUILD_TESTS=ON -DSIMS_BUILD_GUI=ON -DSIMS_SANITIZED_TESTS=ON
cd "$ROOT/build"
# Side by side, one test per core: 1018 s -> 613 s here on 2 cores (the longest start first: COST in the
# CMakeLists; the xvfb tests take turns; tests keep their files in their own temporary folders).
ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)"
bash "$ROOT/tools/package.sh" "$ROOT/build"
bash "$ROOT/tools/build_server.sh" "$ROOT/build-server"
bash "$ROOT/tools/fuzz.sh" 30 "$ROOT/build-fuzz"
