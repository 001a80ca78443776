#!/usr/bin/env bash
# Builds and runs the test suite under ThreadSanitizer, then AddressSanitizer, each in
# its own scratch folder (.build-tsan, .build-asan) so the normal build stays as it is.
# `make sanitize` runs it.
#
#   scripts/sanitize.sh                      both sanitizers, every test
#   SANITIZERS=thread scripts/sanitize.sh    one of them
#   SANITIZE_FILTER=FaultlineProxyTests scripts/sanitize.sh   some tests (swift test --filter)
#
# The built faultline binary the CLI tests run is sanitized too, so its reports land in
# those tests' standard error. Each run's whole output is kept in .build-<x>san/test.log;
# the reports are counted at the end.
set -uo pipefail
cd "$(dirname "$0")/.."

SWIFT=${SWIFT:-swift}
FILTER=()
[ -n "${SANITIZE_FILTER:-}" ] && FILTER=(--filter "$SANITIZE_FILTER")
worst=0
for sanitizer in ${SANITIZERS:-thread address}; do
  scratch=.build-${sanitizer:0:1}san
  echo "== --sanitize=$sanitizer in $scratch"
  if ! nice -n 10 "$SWIFT" build --build-tests --scratch-path "$scratch" --sanitize="$sanitizer"; then
    worst=1
    continue
  fi
  mkdir -p "$scratch"
  # halt_on_error=0: report every race, not only the first; the run still fails.
  # ASan: leaks off (the Swift runtime's caches read as leaks); Foundation's known
  # over-read suppressed (scripts/asan-suppressions.txt says why).
  # FAULTLINE_SANITIZER: tests skip their memory and speed bounds (Sanitized.swift).
  FAULTLINE_SANITIZER=$sanitizer TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0} \
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:suppressions=$PWD/scripts/asan-suppressions.txt} \
    "$SWIFT" test --skip-build --scratch-path "$scratch" --sanitize="$sanitizer" "${FILTER[@]}" >"$scratch/test.log" 2>&1
  status=$?
  reports=$(grep -c -E '^(WARNING: ThreadSanitizer|==[0-9]+==ERROR: AddressSanitizer)' "$scratch/test.log")
  failures=$(grep -c -E '^✘ Test .* (failed|recorded)' "$scratch/test.log")
  echo "--sanitize=$sanitizer: exit $status, $reports sanitizer reports, $failures failing test lines (log: $scratch/test.log)"
  grep -E -A12 '^(WARNING: ThreadSanitizer|==[0-9]+==ERROR: AddressSanitizer)' "$scratch/test.log" | head -60
  [ "$status" -ne 0 ] && worst=1
done
exit $worst
