#!/usr/bin/env bash
# The unit-test suite (sims_tests) built with AddressSanitizer + UndefinedBehaviorSanitizer (GCC) into its own
# build folder, then run: a memory error stops the run with its report, undefined behaviour is reported where it
# happens and fails the run at the end (tools/ubsan.supp silences two reports inside Debian's stb headers); the
# output is kept in OUT/sanitize.log. LibTorch itself is not instrumented; leak checking is off (LibTorch keeps
# global allocations alive until exit). Not part of tools/test.sh: the instrumented build of the whole core takes
# about as long as the normal one and the tests run several times slower, which CI's time does not hold.
# usage: tools/sanitize.sh [OUT=build-asan] [Catch2 test spec...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/build-asan}; shift || true
JOBS=$(nproc 2>/dev/null || echo 2)
# UBSan recovers (so that tools/ubsan.supp can silence two reports inside Debian's stb headers); any other
# "runtime error" fails the run below.
SAN="-fsanitize=address,undefined -fno-sanitize=vptr -fno-omit-frame-pointer"
cmake -S "$ROOT" -B "$OUT" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIMS_BUILD_GUI=OFF -DSIMS_BUILD_LIVE=OFF \
  -DSIMS_BUILD_TESTS=ON -DCMAKE_CXX_FLAGS="$SAN" -DCMAKE_C_FLAGS="$SAN" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build "$OUT" -j"$JOBS" --target sims_tests
# The tests find the shipped assets through the build folder's layout, as the normal build's do; the TorchScript
# fixtures come from CTest's setup step.
cd "$OUT"
ctest -R '^make_fixtures$' --output-on-failure >/dev/null
start=$(date +%s)
LOG=$OUT/sanitize.log
set +e
ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:halt_on_error=1:allocator_may_return_null=1 \
UBSAN_OPTIONS=print_stacktrace=1:suppressions=$ROOT/tools/ubsan.supp \
  ./bin/sims_tests "$@" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
set -e
if ((rc != 0)) || grep -q "runtime error:" "$LOG"; then
  echo "error: sims_tests under ASan + UBSan: exit $rc; reports in $LOG" >&2
  exit 1
fi
echo "sanitize: sims_tests passed under ASan + UBSan in $(( $(date +%s) - start )) s"
