#!/usr/bin/env bash
# Soak (issue 15), run by hand, loopback only, bounded in bytes and time:
#   1. SOAK_BYTES (1 GiB) through each shipped TCP profile, and PASS_BYTES (10 GiB)
#      through passthrough, on SOAK_CONNS connections, each run at most SOAK_SECONDS;
#      per run: the proxy's peak RSS (VmHWM), the log complete (a conn_close for every
#      conn_open) and its accounting balanced (`faultline log summary`), and the bytes
#      back byte for byte where the profile does not change them;
#   2. HOLD_CONNS (10,000) connections held HOLD_SECONDS (600) through flaky-network,
#      RSS sampled every 30 s: memory flat;
#   3. CHURN_CONNS (60,000) short connections, one line each, through each of
#      CHURN_PROFILES with line framing, RSS sampled every tenth: memory flat (a leak
#      per closed connection climbs here, where the runs above hold few or many
#      connections but close few).
#
#   bench/soak.sh                                        # the full soak: about an hour
#   SOAK_BYTES=$((64<<20)) PASS_BYTES=$((1<<30)) HOLD_CONNS=1000 HOLD_SECONDS=60 bench/soak.sh  # a quick try
#   PROFILES="passthrough reply-lost" bench/soak.sh      # some of the runs
#   PROFILES=churn CHURN_CONNS=20000 bench/soak.sh        # only the churn
#
# Results go to bench/out/soak/ (not committed): one line per run in soak.tsv, with the
# push client's JSON, the log summary and the RSS samples beside it.
set -euo pipefail
cd "$(dirname "$0")/.."

SOAK_BYTES=${SOAK_BYTES:-$((1 << 30))}
PASS_BYTES=${PASS_BYTES:-$((10 << 30))}
SOAK_CONNS=${SOAK_CONNS:-16}
SOAK_SECONDS=${SOAK_SECONDS:-600}
HOLD_CONNS=${HOLD_CONNS:-10000}
HOLD_SECONDS=${HOLD_SECONDS:-600}
SCRATCH=${SCRATCH:-.build-release}
FAULTLINE=${FAULTLINE:-$SCRATCH/release/faultline}
TCP_PROFILES=$(grep -L 'transport: udp' profiles/*.yaml | xargs -n1 basename | sed 's/\.yaml$//' | tr '\n' ' ')
PROFILES=${PROFILES:-"passthrough $TCP_PROFILES hold churn"}
CHURN_CONNS=${CHURN_CONNS:-60000}
CHURN_PROFILES=${CHURN_PROFILES:-"duplicate-delivery flaky-network"}
# Profiles that never change, drop or cut bytes: their echo must come back exact.
EXACT="passthrough slow-reply slow-drip"
OUT=bench/out/soak

[ -x "$FAULTLINE" ] || nice make -s release RELEASE_SCRATCH="$SCRATCH"
ulimit -n "$(ulimit -Hn)"
mkdir -p "$OUT"
: >"$OUT/soak.tsv"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
peak_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo "?"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo "?"; }
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

UP=$(free_port)
coproc UPSTREAM { exec python3 bench/hold_server.py "$UP"; }
PIDS+=("$UPSTREAM_PID")
read -r _ <&"${UPSTREAM[0]}"

start_proxy() {  # NAME [ARGS...]: starts faultline, sets PROXY_PID and PORT
  local name=$1; shift
  PORT=$(free_port)
  "$FAULTLINE" proxy --listen "127.0.0.1:$PORT" --upstream "127.0.0.1:$UP" --seed 15 \
    --log "$OUT/$name.jsonl" "$@" >"$OUT/$name.out" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  for _ in $(seq 100); do grep -q "listening on" "$OUT/$name.out" && return; sleep 0.1; done
  echo "$name: the proxy did not start" >&2; cat "$OUT/$name.out" >&2; exit 1
}

stop_proxy() {  # NAME: SIGTERM, wait, then the log's summary and completeness in BOOKS
  local name=$1
  kill -TERM "$PROXY_PID"
  local status=0
  wait "$PROXY_PID" || status=$?
  "$FAULTLINE" log summary "$OUT/$name.jsonl" >"$OUT/$name.summary" 2>&1 || true
  local opens closes
  opens=$(grep -c '"type":"conn_open"' "$OUT/$name.jsonl" || true)
  closes=$(grep -c '"type":"conn_close"' "$OUT/$name.jsonl" || true)
  local books
  books=$(grep -q 'accounting:   balanced' "$OUT/$name.summary" && echo balanced || echo UNBALANCED)
  BOOKS="exit=$status opens=$opens closes=$closes $books"
}

for name in $PROFILES; do
  [ "$name" = hold ] || [ "$name" = churn ] && continue
  bytes=$SOAK_BYTES
  # Line framing, so message faults have messages: the pattern has a newline every
  # 251 bytes, and the echo's replies are the same lines.
  args=(--profile "$name" --framing line)
  if [ "$name" = passthrough ]; then bytes=$PASS_BYTES; args=(); fi
  start_proxy "$name" "${args[@]}"
  push=$(nice python3 bench/push.py "$PORT" "$bytes" "$SOAK_CONNS" "$SOAK_SECONDS")
  peak=$(peak_kib "$PROXY_PID")
  stop_proxy "$name"
  exact=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("%d/%d exact, %d wrong" % (d["exact"], d["connections"], d["wrong"]))' "$push")
  [[ " $EXACT " == *" $name "* ]] || exact="($exact; the profile changes bytes)"
  printf '%s\t%s\tpeak %s KiB\t%s\t%s\n' "$name" "$push" "$peak" "$BOOKS" "$exact" | tee -a "$OUT/soak.tsv"
done

if [[ " $PROFILES " == *" hold "* ]]; then
  start_proxy hold --profile flaky-network
  python3 bench/idle_conns.py "$PORT" "$HOLD_CONNS" "$HOLD_SECONDS" >"$OUT/hold.clients" 2>&1 &
  CLIENTS=$!
  PIDS+=("$CLIENTS")
  : >"$OUT/hold.rss"
  while kill -0 "$CLIENTS" 2>/dev/null; do
    echo "$(date -u +%H:%M:%S) rss $(rss_kib "$PROXY_PID") KiB peak $(peak_kib "$PROXY_PID") KiB" >>"$OUT/hold.rss"
    sleep 30
  done
  peak=$(peak_kib "$PROXY_PID")
  stop_proxy hold
  printf 'hold %s connections %s s through flaky-network\t%s\tpeak %s KiB\t%s\n' \
    "$HOLD_CONNS" "$HOLD_SECONDS" "$(tr '\n' ' ' <"$OUT/hold.clients")" "$peak" "$BOOKS" | tee -a "$OUT/soak.tsv"
  cat "$OUT/hold.rss"
fi

if [[ " $PROFILES " == *" churn "* ]]; then
  for name in $CHURN_PROFILES; do
    start_proxy "churn-$name" --profile "$name" --framing line
    churn=$(nice python3 bench/churn.py "$PORT" "$CHURN_CONNS" 50 "$PROXY_PID" | tail -1)
    stop_proxy "churn-$name"
    printf 'churn %s connections through %s\t%s\t%s\n' "$CHURN_CONNS" "$name" "$churn" "$BOOKS" | tee -a "$OUT/soak.tsv"
  done
fi
