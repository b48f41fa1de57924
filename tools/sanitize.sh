#!/usr/bin/env bash
# The unit-test suite (sims_tests) built with AddressSanitizer + UndefinedBehaviorSanitizer (GCC) into its own
# build folder, then run: a memory error stops the run with its report, undefined behaviour is reported where it
# happens and fails the run at the end (tools/ubsan.supp silences two reports inside Debian's stb headers); the
# output is kept in OUT/sanitize.log (tools/run_sanitized.sh). LibTorch itself is not instrumented; leak checking is off (LibTorch keeps
# global allocations alive until exit). Not part of tools/test.sh: the instrumented build of the whole core takes
# about as long as the normal one and the tests run several times slower, which CI's time does not hold; CI runs
# the file readers and their tests instrumented instead (sims_san_tests, CTest sanitized_readers).
# usage: tools/sanitize.sh [OUT=build-asan] [Catch2 test spec...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${1:-$ROOT/build-asan}"); shift || true
JOBS=$(nproc 2>/dev/null || echo 2)
# UBSan recovers (so that tools/ubsan.supp can silence two reports inside Debian's stb headers); any other
# "runtime error" fails the run below.
# float-cast-overflow: in Clang's "undefined", not in GCC's.
SAN="-fsanitize=address,undefined,float-cast-overflow -fno-sanitize=vptr -fno-omit-frame-pointer"
cmake -S "$ROOT" -B "$OUT" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIMS_BUILD_GUI=OFF -DSIMS_BUILD_LIVE=OFF \
  -DSIMS_BUILD_TESTS=ON -DSIMS_SANITIZED_TESTS=OFF -DCMAKE_CXX_FLAGS="$SAN" -DCMAKE_C_FLAGS="$SAN" \
  -DCMAKE_EXE_LINKER_FLAGS="${SAN%% *}" -DCMAKE_SHARED_LINKER_FLAGS="${SAN%% *}" >/dev/null
cmake --build "$OUT" -j"$JOBS" --target sims_tests
# The tests find the shipped assets through the build folder's layout, as the normal build's do; the TorchScript
# fixtures come from CTest's setup step.
cd "$OUT"
ctest -R '^make_fixtures$' --output-on-failure >/dev/null
bash "$ROOT/tools/run_sanitized.sh" ./bin/sims_tests "$ROOT/tools/ubsan.supp" "$OUT/sanitize.log" "$@"
