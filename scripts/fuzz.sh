#!/usr/bin/env bash
# Builds the libFuzzer executables (one per parser) and runs each for FUZZ_SECONDS,
# FUZZ_JOBS at a time, at the lowest priority. `make fuzz` runs it.
#
#   scripts/fuzz.sh                        every target, 10 minutes each, two at a time
#   FUZZ_SECONDS=3600 scripts/fuzz.sh http resp   an hour each for HTTP and RESP
#
# New inputs go to .build-fuzz/corpus/<target>/ (kept between runs: a longer run
# resumes from them); crashes to .build-fuzz/crashes/<target>/, logs with libFuzzer's
# execution counts to .build-fuzz/logs/<target>.log. The seeds are read from
# Tests/FaultlineFuzzingTests/Corpus/<target>/: copy each crash there (named for what
# it broke) once fixed, so `make test` replays it for good.
set -euo pipefail
cd "$(dirname "$0")/.."

SWIFT=${SWIFT:-swift}
SECONDS_EACH=${FUZZ_SECONDS:-600}
JOBS=${FUZZ_JOBS:-2}
SCRATCH=.build-fuzz
ALL=(http resp line length profile event-log pcap)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")

for target in "${TARGETS[@]}"; do
  [[ " ${ALL[*]} " == *" $target "* ]] || { echo "unknown fuzz target '$target': use ${ALL[*]}" >&2; exit 2; }
done

# --sanitize instruments the C targets (libyaml, llhttp); SwiftPM does not pass it to
# swiftc, so -Xswiftc instruments the Swift ones, the parsers among them.
BUILD=(--scratch-path "$SCRATCH" --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address)
for target in "${TARGETS[@]}"; do
  FAULTLINE_FUZZ=1 nice -n 19 "$SWIFT" build "${BUILD[@]}" --product "fuzz-$target"
done
BIN=$(FAULTLINE_FUZZ=1 "$SWIFT" build "${BUILD[@]}" --show-bin-path)

run_one() {
  local target=$1
  mkdir -p "$SCRATCH/corpus/$target" "$SCRATCH/crashes/$target" "$SCRATCH/logs"
  # -rss_limit_mb: an input that makes a parser allocate without bound is a crash too.
  # -timeout=60: one case running a minute is a hang, even at nice 19 on a busy machine.
  # -detect_leaks=0: the Swift runtime keeps metadata caches LeakSanitizer reports.
  nice -n 19 "$BIN/fuzz-$target" \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -max_len=65536 -timeout=60 -detect_leaks=0 \
    -print_final_stats=1 -artifact_prefix="$SCRATCH/crashes/$target/" \
    "$SCRATCH/corpus/$target" "Tests/FaultlineFuzzingTests/Corpus/$target" \
    >"$SCRATCH/logs/$target.log" 2>&1
  local status=$?
  local runs
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$SCRATCH/logs/$target.log" | grep -o '[0-9]*$' || echo "?")
  echo "fuzz-$target: exit $status, $runs executions, $(ls "$SCRATCH/crashes/$target" | wc -l) crash files"
}
export -f run_one
export SCRATCH SECONDS_EACH BIN

printf '%s\n' "${TARGETS[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_one {}'
