#!/usr/bin/env bash
# UDP throughput: iperf3 -u at fixed offered rates, directly, through socat and through
# `faultline proxy --udp` (no faults), in one run on loopback. Prints a table of
# delivered rate, loss and jitter as iperf3's receiver measured them.
#
#   bench/udp.sh                      # rates 100M 500M 1G, 5 s each, 1400-byte datagrams
#   RATES="200M" DURATION=3 bench/udp.sh
#
# iperf3's control channel is TCP on the same port as its UDP data, so each proxied
# run pairs the UDP proxy under test with a socat TCP forwarder on the same port
# number: only the UDP path differs between rows. Needs iperf3 and socat (installed
# from Debian when missing) and the release build bench/run.sh makes (`swift build -c release --product
# faultline --scratch-path .build-release`, or FAULTLINE=/path/to/faultline). Everything binds 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

RATES=${RATES:-"100M 500M 1G"}
DURATION=${DURATION:-5}
LENGTH=${LENGTH:-1400}
FAULTLINE=${FAULTLINE:-.build-release/release/faultline}

# A port free for both TCP and UDP on 127.0.0.1, below the ephemeral range so that no
# outgoing connection takes it meanwhile.
free_port() {
    python3 -c '
import random, socket
for _ in range(200):
    port = random.randint(20000, 30000)
    try:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET, kind); s.bind(("127.0.0.1", port)); s.close()
        print(port); break
    except OSError:
        pass
'
}
SERVER_PORT=${SERVER_PORT:-$(free_port)}
PROXY_PORT=${PROXY_PORT:-$(free_port)}

missing=""
for tool in iperf3 socat; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
if [ -n "$missing" ]; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
[ -x "$FAULTLINE" ] || { echo "no faultline binary at $FAULTLINE; run: swift build -c release --product faultline --scratch-path .build-release" >&2; exit 2; }

pids=()
cleanup() {
    rm -f "${PARSER:-}"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

iperf3 -s -B 127.0.0.1 -p "$SERVER_PORT" >/dev/null 2>&1 &
pids+=($!)

wait_udp_port() {  # a UDP socket bound on 127.0.0.1:$1
    for _ in $(seq 100); do
        ss -Hlun "sport = :$1" | grep -q . && return 0
        sleep 0.05
    done
    echo "nothing listening on udp port $1" >&2; return 1
}
wait_tcp_port() {
    for _ in $(seq 100); do
        ss -Hltn "sport = :$1" | grep -q . && return 0
        sleep 0.05
    done
    echo "nothing listening on tcp port $1" >&2; return 1
}
wait_tcp_port "$SERVER_PORT"

# Reads iperf3 -J output; prints "delivered_mbps lost_pct jitter_ms" as the receiver saw them.
PARSER=$(mktemp)
cat >"$PARSER" <<'PY'
import json, sys
length = int(sys.argv[1])
try:
    end = json.load(sys.stdin).get("end", {})
except ValueError:
    end = {}
s = end.get("sum_received") or end.get("sum") or {}
packets = s.get("packets") or 0
lost = s.get("lost_packets") or 0
seconds = s.get("seconds") or 0
if packets and seconds:
    delivered = (packets - lost) * length * 8 / seconds / 1e6
    print("%.1f %.2f %.3f" % (delivered, s.get("lost_percent", float("nan")), s.get("jitter_ms", float("nan"))))
else:
    print("failed - -")
PY

# One iperf3 -u run against 127.0.0.1:$1 at rate $2.
measure() {
    iperf3 -c 127.0.0.1 -p "$1" -u -b "$2" -l "$LENGTH" -t "$DURATION" -J 2>/dev/null | python3 "$PARSER" "$LENGTH"
}

start_path() {  # $1: direct | socat | faultline; prints the port iperf3 should use
    case "$1" in
    direct)
        echo "$SERVER_PORT" ;;
    socat)
        socat TCP4-LISTEN:"$PROXY_PORT",bind=127.0.0.1,fork,reuseaddr TCP4:127.0.0.1:"$SERVER_PORT" >/dev/null 2>&1 &
        pids+=($!)
        socat UDP4-LISTEN:"$PROXY_PORT",bind=127.0.0.1,fork,reuseaddr UDP4:127.0.0.1:"$SERVER_PORT" >/dev/null 2>&1 &
        pids+=($!)
        wait_tcp_port "$PROXY_PORT" && wait_udp_port "$PROXY_PORT" && echo "$PROXY_PORT" ;;
    faultline)
        socat TCP4-LISTEN:"$PROXY_PORT",bind=127.0.0.1,fork,reuseaddr TCP4:127.0.0.1:"$SERVER_PORT" >/dev/null 2>&1 &
        pids+=($!)
        "$FAULTLINE" proxy --udp --listen 127.0.0.1:"$PROXY_PORT" --upstream 127.0.0.1:"$SERVER_PORT" --log-level warning >/dev/null 2>&1 &
        pids+=($!)
        wait_tcp_port "$PROXY_PORT" && wait_udp_port "$PROXY_PORT" && echo "$PROXY_PORT" ;;
    esac
}

stop_path() {  # stops everything but the iperf3 server
    local keep=${pids[0]}
    for pid in "${pids[@]:1}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    pids=("$keep")
}

echo "# UDP: iperf3 -u, ${LENGTH}-byte datagrams, ${DURATION}s per run, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-10s %-10s %14s %8s %10s\n' path offered delivered_Mbps loss_% jitter_ms
for rate in $RATES; do
    for path in direct socat faultline; do
        port=$(start_path "$path")
        read -r delivered loss jitter < <(measure "$port" "$rate")
        printf '%-10s %-10s %14s %8s %10s\n' "$path" "$rate" "$delivered" "$loss" "$jitter"
        stop_path
    done
done
