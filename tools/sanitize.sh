#!/usr/bin/env bash
# The unit-test suite (sims_tests) built with AddressSanitizer + UndefinedBehaviorSanitizer (GCC) into its own
# build folder, then run: a memory error or undefined behaviour anywhere in the core that the tests reach stops
# the run with the report (LibTorch itself is not instrumented). Leak checking is off: LibTorch keeps global
# allocations alive until exit. Not part of tools/test.sh: the instrumented build of the whole core takes about
# as long as the normal one and the tests run 2-4 times slower, which CI's time does not hold (see README).
# usage: tools/sanitize.sh [OUT=build-asan] [Catch2 test spec...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/build-asan}; shift || true
JOBS=$(nproc 2>/dev/null || echo 2)
SAN="-fsanitize=address,undefined -fno-sanitize=vptr -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
cmake -S "$ROOT" -B "$OUT" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIMS_BUILD_GUI=OFF -DSIMS_BUILD_LIVE=OFF \
  -DSIMS_BUILD_TESTS=ON -DCMAKE_CXX_FLAGS="$SAN" -DCMAKE_C_FLAGS="$SAN" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build "$OUT" -j"$JOBS" --target sims_tests
# The tests find the shipped assets through the build folder's layout, as the normal build's do.
cd "$OUT"
start=$(date +%s)
ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:halt_on_error=1:allocator_may_return_null=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ./bin/sims_tests "$@"
echo "sanitize: sims_tests passed under ASan + UBSan in $(( $(date +%s) - start )) s"
