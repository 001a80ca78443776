#!/usr/bin/env bash
# Signals under load (issue 15), run by hand, loopback only, bounded in time:
#   SIGTERM while SIG_CONNS (1,000) connections stream through `faultline proxy --log
#   --pcap`: exit 0, a conn_close for every conn_open, accounting balanced (`faultline
#   log summary`), and the capture read by tshark to its last packet;
#   SIGKILL in the same state: the log is valid up to its last complete line, and the
#   reader says where it was cut.
#
#   bench/signals.sh                       # about a minute after the build
#   SIG_CONNS=200 SIG_AFTER=3 bench/signals.sh
#
# Needs tshark (make test-deps). Results in bench/out/signals/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."

SIG_CONNS=${SIG_CONNS:-1000}
SIG_AFTER=${SIG_AFTER:-5}        # seconds of streaming before the signal
SCRATCH=${SCRATCH:-.build-release}
FAULTLINE=${FAULTLINE:-$SCRATCH/release/faultline}
OUT=bench/out/signals

[ -x "$FAULTLINE" ] || nice make -s release RELEASE_SCRATCH="$SCRATCH"
command -v tshark >/dev/null || { echo "tshark is needed: make test-deps" >&2; exit 2; }
ulimit -n "$(ulimit -Hn)"
mkdir -p "$OUT"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

UP=$(free_port)
coproc UPSTREAM { exec python3 bench/hold_server.py "$UP"; }
PIDS+=("$UPSTREAM_PID")
read -r _ <&"${UPSTREAM[0]}"

for signal in TERM KILL; do
  PORT=$(free_port)
  rm -f "$OUT/$signal.jsonl" "$OUT/$signal.pcap"
  "$FAULTLINE" proxy --listen "127.0.0.1:$PORT" --upstream "127.0.0.1:$UP" \
    --log "$OUT/$signal.jsonl" --pcap "$OUT/$signal.pcap" >"$OUT/$signal.out" 2>&1 &
  proxy=$!
  PIDS+=("$proxy")
  for _ in $(seq 100); do grep -q "listening on" "$OUT/$signal.out" && break; sleep 0.1; done
  # Each connection streams far more than it can send before the signal.
  python3 bench/push.py "$PORT" $((SIG_CONNS * (256 << 20))) "$SIG_CONNS" $((SIG_AFTER + 60)) >"$OUT/$signal.push" 2>&1 &
  client=$!
  PIDS+=("$client")
  # Wait until every connection is open (the log says so), then let them stream.
  for _ in $(seq 600); do
    opened=$(grep -c '"type":"conn_open"' "$OUT/$signal.jsonl" 2>/dev/null || true)
    [ "${opened:-0}" -ge "$SIG_CONNS" ] && break
    sleep 0.1
  done
  sleep "$SIG_AFTER"
  kill -"$signal" "$proxy"
  status=0
  wait "$proxy" || status=$?
  wait "$client" || true
  opens=$(grep -c '"type":"conn_open"' "$OUT/$signal.jsonl" || true)
  closes=$(grep -c '"type":"conn_close"' "$OUT/$signal.jsonl" || true)
  summary_status=0
  "$FAULTLINE" log summary "$OUT/$signal.jsonl" >"$OUT/$signal.summary" 2>&1 || summary_status=$?
  books=$(grep -o 'accounting: .*' "$OUT/$signal.summary" | head -1 || true)
  tshark_status=0
  packets=$(tshark -r "$OUT/$signal.pcap" 2>"$OUT/$signal.tshark" | wc -l) || tshark_status=$?
  cut=$(grep -i 'cut short\|truncated\|appears to be damaged' "$OUT/$signal.tshark" | sed 's/.*appears/appears/' | head -1 || true)
  echo "SIG$signal after ${SIG_AFTER}s with $opens connections: proxy exit $status; conn_open $opens, conn_close $closes;" \
    "log summary exit $summary_status ($books$(grep -m1 -o 'cut off.*' "$OUT/$signal.summary" || true); last line $(tail -c 1 "$OUT/$signal.jsonl" | od -An -c | tr -d ' ' | sed 's/\\n/complete/'));" \
    "tshark read $packets packets${cut:+ ($cut)}; pcap $(stat -c %s "$OUT/$signal.pcap") bytes" | tee -a "$OUT/results.txt"
done
