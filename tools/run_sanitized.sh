#!/usr/bin/env bash
# Runs a test binary built with ASan + UBSan (sims_san_tests, or tools/sanitize.sh's sims_tests) and fails on a
# failed case, on an AddressSanitizer report (which stops the run) and on any UndefinedBehaviorSanitizer report
# not silenced by the suppression file (UBSan goes on after a report so that the file can silence the two inside
# Debian's stb headers). Leak checking is off: LibTorch keeps global allocations alive until exit.
# usage: tools/run_sanitized.sh BINARY SUPPRESSIONS LOG [Catch2 test spec...]
set -uo pipefail
BIN=$1; SUPP=$2; LOG=$3; shift 3
start=$(date +%s)
ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:halt_on_error=1:allocator_may_return_null=1 \
UBSAN_OPTIONS=print_stacktrace=1:suppressions=$SUPP \
  "$BIN" --use-colour no "$@" > "$LOG" 2>&1
rc=$?
tail -n 3 "$LOG"
if ((rc != 0)) || grep -q "runtime error:\|ERROR: AddressSanitizer" "$LOG"; then
  grep -m 5 -A 12 "runtime error:\|ERROR: AddressSanitizer" "$LOG" >&2
  echo "error: $(basename "$BIN") under ASan + UBSan: exit $rc; full output in $LOG" >&2
  exit 1
fi
echo "sanitized: $(basename "$BIN") passed under ASan + UBSan in $(( $(date +%s) - start )) s"
