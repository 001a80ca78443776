#!/usr/bin/env bash
# Event-log reader benchmark: `faultline log summary` and `faultline check retries` against
# `jq -c 'select(.type=="message")'` over one generated log of EVENTS events (default
# 1,000,000): wall time, events/s, CPU (user + sys) and peak RSS (`/usr/bin/time -v`
# "Maximum resident set size"). The checker's memory should follow the logical requests
# open at once, not the log's length.
#
# The log is a realistic mix, as a retrying HTTP client behind faultline leaves it: per
# connection a conn_open, requests (method, path, fingerprint, idempotency_key, attempt,
# first_mono) and their replies (status, request_unit, request_mono, some retry_after),
# faults with params on some, a conn_close with the byte accounting; a proxy_start and
# proxy_stop around it all. Lines are compact JSON with keys in Event's order, as the
# writer makes them (about 280 bytes an event).
#
#   bench/log-reader.sh                    # build, generate (once), 3 rounds each, best kept
#   SKIP_BUILD=1 ROUNDS=5 bench/log-reader.sh
#   EVENTS=200000 bench/log-reader.sh      # a quick try
#   BASELINE=42dd8f1 bench/log-reader.sh   # adds a row: the reader and summary of that commit
#
# BASELINE compiles that commit's EventLogReader, LogSummary and Accounting (JSONDecoder,
# the whole file in memory) with today's Event, with `swiftc -O`, into a small
# `old-log-summary` that does what `faultline log summary` did then: read, then summarise.
#
# It installs jq and time from Debian when missing and builds faultline in release mode
# into .build-release (as bench/run.sh does). The log and the raw outputs stay in
# bench/out/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${EVENTS:-1000000}
ROUNDS=${ROUNDS:-3}
SCRATCH=${SCRATCH:-.build-release}
FAULTLINE=${FAULTLINE:-$SCRATCH/release/faultline}
OUT=bench/out
LOG=$OUT/log-reader-$EVENTS.jsonl
mkdir -p "$OUT"

log() { printf '[%s load %s] %s\n' "$(date -u +%H:%M:%S)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$*" >&2; }

need=""
command -v jq >/dev/null || need="$need jq"
[ -x /usr/bin/time ] || need="$need time"
command -v python3 >/dev/null || need="$need python3"
if [ -n "$need" ]; then
    log "installing from Debian:$need"
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building faultline (release) in $SCRATCH"
    make -s release RELEASE_SCRATCH="$SCRATCH" >&2
fi
[ -x "$FAULTLINE" ] || { echo "no faultline binary at $FAULTLINE" >&2; exit 2; }

if [ -n "${BASELINE:-}" ]; then
    log "building the baseline reader of $BASELINE"
    src=$OUT/baseline-src
    rm -rf "$src" && mkdir -p "$src"
    for f in FaultlineRecords/EventLogReader.swift FaultlineRecords/EventLogError.swift \
        FaultlineRecords/LogSummary.swift FaultlineRecords/Accounting.swift; do
        git show "$BASELINE:Sources/$f" | sed '/^import FaultlineCore/d' >"$src/$(basename "$f")"
    done
    cp Sources/FaultlineCore/Event.swift Sources/FaultlineCore/DurationText.swift \
        Sources/FaultlineCore/UserFacingError.swift "$src/"
    cat >"$src/main.swift" <<'SWIFT'
import Foundation
@main struct OldLogSummary {
    static func main() throws {
        let events = try EventLogReader.read(path: CommandLine.arguments[1])
        print(LogSummary(events: events).text)
    }
}
SWIFT
    swiftc -O -parse-as-library -module-name OldReader "$src"/*.swift -o "$OUT/old-log-summary"
fi

# --- the log -------------------------------------------------------------------------
if [ ! -s "$LOG" ]; then
    log "generating $EVENTS events into $LOG"
    python3 - "$EVENTS" "$LOG.tmp" <<'PY'
import json, random, sys

total, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(20261206)
dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
mono = 1_000_000_000
ms = 0
def stamp():
    global mono, ms
    mono += rng.randint(20_000, 400_000)
    ms = mono // 1_000_000
    return "2026-12-06T07:%02d:%02d.%03dZ" % (ms // 60000 % 60, ms // 1000 % 60, ms % 1000)

paths = ["/v1/ledger/deposit", "/v1/ledger/balance", "/v1/orders", "/v1/orders/8812/items", "/healthz"]
methods = ["POST", "GET", "POST", "PUT", "GET"]
out = open(path, "w")
count = 0
def emit(event):
    global count
    out.write(dumps(event))
    out.write("\n")
    count += 1

emit({"v": 1, "type": "proxy_start", "time": stamp(), "mono": mono, "proxy": "api",
      "listen": "127.0.0.1:8080", "upstream": "127.0.0.1:9090", "seed": 42,
      "profile": "reply-lost", "profile_hash": "9f2c1e77a0b3", "framing": "http"})
conn = 0
# Whole connections while they fit: an attempt writes at most 4 events, and a
# conn_close and the proxy_stop must follow.
while count + 3 < total:
    client = "127.0.0.1:%d" % rng.randint(30000, 60000)
    emit({"v": 1, "type": "conn_open", "time": stamp(), "mono": mono, "proxy": "api", "conn": conn,
          "client": client, "upstream": "127.0.0.1:9090"})
    opened = mono
    up = down = dropped = 0
    unit = 0
    for request in range(rng.randint(2, 12)):
        kind = rng.randrange(len(paths))
        key = "%016x" % rng.getrandbits(64)
        if count + 4 + 2 > total:
            break
        for attempt in range(1 + (rng.random() < 0.15)):
            if count + 4 + 2 > total:
                break
            size = rng.randint(120, 900)
            first = mono
            emit({"v": 1, "type": "message", "time": stamp(), "mono": mono, "proxy": "api", "conn": conn,
                  "direction": "upstream", "unit": unit, "bytes": size, "method": methods[kind],
                  "path": paths[kind], "idempotency_key": key,
                  "fingerprint": "%012x" % rng.getrandbits(48), "attempt": attempt, "first_mono": first})
            up += size
            request_unit, request_mono = unit, first
            unit += 1
            if rng.random() < 0.04:
                emit({"v": 1, "type": "fault", "time": stamp(), "mono": mono, "proxy": "api", "conn": conn,
                      "direction": "downstream", "unit": request_unit, "bytes": 0, "rule": "lose-first-reply",
                      "kind": "drop", "action": "drop", "params": {"point": "reply", "attempt": "0"}})
            if rng.random() < 0.06:
                emit({"v": 1, "type": "fault", "time": stamp(), "mono": mono, "proxy": "api", "conn": conn,
                      "direction": "upstream", "unit": request_unit, "rule": "slow-writes", "kind": "delay",
                      "action": "delay", "params": {"ms": "250", "jitter": "50ms"}})
            size = rng.randint(80, 4000)
            status = rng.choice([200, 200, 200, 201, 204, 409, 503])
            reply = {"v": 1, "type": "message", "time": stamp(), "mono": mono, "proxy": "api", "conn": conn,
                     "direction": "downstream", "unit": request_unit, "bytes": size, "status": status,
                     "fingerprint": "%012x" % rng.getrandbits(48), "attempt": attempt,
                     "first_mono": mono - 5000, "request_unit": request_unit, "request_mono": request_mono}
            if status == 503:
                reply["retry_after"] = "1"
            emit(reply)
            down += size
    emit({"v": 1, "type": "conn_close", "time": stamp(), "mono": mono, "proxy": "api", "conn": conn,
          "bytes_from_client": up, "bytes_to_upstream": up, "bytes_from_upstream": down,
          "bytes_to_client": down, "dropped_upstream": 0, "dropped_downstream": 0,
          "duplicated_upstream": 0, "duplicated_downstream": 0, "reason": "client closed",
          "closed_by": "client", "first_close_mono": mono})
    conn += 1
# Make the count exact with upstream errors.
while count < total - 1:
    emit({"v": 1, "type": "upstream_error", "time": stamp(), "mono": mono, "proxy": "api", "conn": conn,
          "reason": "connect: connection refused"})
emit({"v": 1, "type": "proxy_stop", "time": stamp(), "mono": mono, "proxy": "api"})
out.close()
print("%d events, %d connections" % (count, conn), file=sys.stderr)
PY
    mv "$LOG.tmp" "$LOG"
fi
LINES=$(wc -l <"$LOG")
BYTES=$(stat -c %s "$LOG")
MESSAGES=$(grep -c '"type":"message"' "$LOG")
log "$LOG: $LINES events ($MESSAGES messages), $BYTES bytes"

# --- runs ----------------------------------------------------------------------------
# measure NAME CMD...: runs CMD under /usr/bin/time -v, prints "NAME wall user sys rss_kb".
measure() {
    local name=$1
    shift
    local err=$OUT/log-reader-$name.time
    local start end
    start=$(date +%s.%N)
    /usr/bin/time -v "$@" >"$OUT/log-reader-$name.out" 2>"$err"
    end=$(date +%s.%N)
    local user sys rss
    user=$(awk -F': ' '/User time/ {print $2}' "$err")
    sys=$(awk -F': ' '/System time/ {print $2}' "$err")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$err")
    echo "$name $(echo "$end - $start" | bc -l) $user $sys $rss"
}

RESULTS=$OUT/log-reader.tsv
: >"$RESULTS"
for round in $(seq "$ROUNDS"); do
    # Warm the page cache once, so both read from memory.
    cat "$LOG" >/dev/null
    log "round $round: faultline log summary"
    measure faultline "$FAULTLINE" log summary "$LOG" | tee -a "$RESULTS" >&2
    if [ -n "${BASELINE:-}" ]; then
        log "round $round: baseline ($BASELINE)"
        measure baseline "$OUT/old-log-summary" "$LOG" | tee -a "$RESULTS" >&2
    fi
    log "round $round: faultline check retries"
    # Exit 1 (violations) is an answer, not a failure of the run.
    measure checker sh -c "'$FAULTLINE' check retries '$LOG' --format json -o '$OUT/log-reader-check.json' || [ \$? = 1 ]" | tee -a "$RESULTS" >&2
    log "round $round: jq"
    measure jq sh -c "jq -c 'select(.type==\"message\")' '$LOG' >/dev/null" | tee -a "$RESULTS" >&2
done
# The summary must have read every event.
grep -q "^events: *$LINES " "$OUT/log-reader-faultline.out" || { echo "faultline log summary did not count $LINES events:" >&2; cat "$OUT/log-reader-faultline.out" >&2; exit 1; }
# The streaming summary says what the old one said (the median may differ past
# LogSummary.Durations.exactLimit connections, where it is marked ~).
if [ -n "${BASELINE:-}" ]; then
    if diff "$OUT/log-reader-baseline.out" "$OUT/log-reader-faultline.out" >&2; then
        log "the summaries are identical"
    else
        log "the summaries differ (above)"
    fi
fi

python3 - "$RESULTS" "$LINES" "$BYTES" "${BASELINE:-}" <<'PY'
import sys
rows, lines, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# Best wall time and best CPU time (user + sys) of the rounds, each on its own: on a
# shared machine the wall time waits for the CPU, while the CPU time counts only the
# work. Peak RSS is the largest of the rounds.
best = {}
for row in open(rows):
    name, wall, user, sys_, rss = row.split()
    wall, cpu, rss = float(wall), float(user) + float(sys_), int(rss)
    old = best.get(name, (wall, cpu, rss))
    best[name] = (min(old[0], wall), min(old[1], cpu), max(old[2], rss))
print("| reader | wall (best) | events/s (wall) | CPU s (best) | events per CPU s | MB per CPU s | peak RSS |")
print("|---|---:|---:|---:|---:|---:|---:|")
labels = [("faultline", "`faultline log summary`"), ("checker", "`faultline check retries --format json`"), ("baseline", "before: JSONDecoder reader (%s)" % sys.argv[4]),
          ("jq", "`jq -c 'select(.type==\"message\")'`")]
for name, label in labels:
    if name not in best:
        continue
    wall, cpu, rss = best[name]
    print("| %s | %.2f s | %s | %.2f s | %s | %.0f | %.1f MB |" % (
        label, wall, format(int(lines / wall), ","), cpu, format(int(lines / cpu), ","), size / cpu / 1e6, rss / 1024))
PY
