#!/usr/bin/env bash
# UDP throughput: iperf3 -u at fixed offered rates, directly, through socat, through
# nginx's stream proxy and through `faultline proxy --udp` (no faults), in one run on
# loopback. Prints a table of delivered rate, loss and jitter as iperf3's receiver
# measured them. bench/run.sh (`make bench`) runs it as its test 6; issue 14's target
# is faultline's delivered rate at least nginx's in the same run.
#
#   bench/udp.sh                      # rates 100M 500M 1G, 5 s each, 1400-byte datagrams
#   RATES="200M" DURATION=3 bench/udp.sh
#   UDP_PATHS="nginx faultline" bench/udp.sh
#   RESULTS=bench/out/results.tsv bench/udp.sh   # also appends "metric<TAB>path<TAB>value"
#                                     # lines (udp_RATE, udp_loss_RATE) for bench/table.py
#
# iperf3's control channel is TCP on the same port as its UDP data, so each proxied
# run pairs the UDP proxy under test with a socat TCP forwarder on the same port
# number: only the UDP path differs between rows. nginx runs one worker (a second
# worker sharing the socket could split one client's datagrams over two upstream
# sockets), `proxy_pass` to the iperf3 server, its config in a temporary folder. Needs
# iperf3, socat, nginx and nginx's stream module (installed from Debian when missing)
# and the release build bench/run.sh makes (`make release`, into .build-release, or
# FAULTLINE=/path/to/faultline). Everything
# binds 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

RATES=${RATES:-"100M 500M 1G"}
DURATION=${DURATION:-5}
LENGTH=${LENGTH:-1400}
FAULTLINE=${FAULTLINE:-.build-release/release/faultline}
UDP_PATHS=${UDP_PATHS:-"direct socat nginx faultline"}
RESULTS=${RESULTS:-}
NGINX_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so

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
for tool in iperf3 socat nginx; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
[ -e "$NGINX_MODULE" ] || missing="$missing libnginx-mod-stream"
if [ -n "$missing" ]; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
[ -x "$FAULTLINE" ] || { echo "no faultline binary at $FAULTLINE; run: make release" >&2; exit 2; }

pids=()
NGINX_DIR=$(mktemp -d "${TMPDIR:-/tmp}/faultline-bench-udp-nginx.XXXXXX")
cleanup() {
    rm -f "${PARSER:-}"
    rm -rf "$NGINX_DIR"
    for pid in "${pids[@]}"; do pkill -TERM -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
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

# start_path PATH: starts the path's proxies and sets PORT (where iperf3 connects).
# Runs in this shell, never in $(...): the processes must land in `pids` so that
# stop_path stops them. (An earlier version ran it in a command substitution: the
# proxies of one path outlived it, and socat's UDP listener, bound with SO_REUSEADDR,
# kept the port, so the next proxy could not bind it and its row measured socat.) The
# UDP socket on the port must belong to the process just started.
PORT=""
start_path() {
    local udp_pid=""
    PORT=$PROXY_PORT
    case "$1" in
    direct)
        PORT=$SERVER_PORT
        return 0 ;;
    socat)
        socat UDP4-LISTEN:"$PROXY_PORT",bind=127.0.0.1,fork,reuseaddr UDP4:127.0.0.1:"$SERVER_PORT" >/dev/null 2>&1 &
        udp_pid=$! ;;
    nginx)
        cat >"$NGINX_DIR/nginx.conf" <<EOF
load_module $NGINX_MODULE;
worker_processes 1;
daemon off;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log warn;
events { worker_connections 1024; }
stream {
    server {
        listen 127.0.0.1:$PROXY_PORT udp;
        proxy_pass 127.0.0.1:$SERVER_PORT;
        proxy_timeout 30s;
    }
}
EOF
        nginx -e "$NGINX_DIR/error.log" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" >/dev/null 2>&1 &
        udp_pid=$! ;;
    faultline)
        "$FAULTLINE" proxy --udp --listen 127.0.0.1:"$PROXY_PORT" --upstream 127.0.0.1:"$SERVER_PORT" --log-level warning >/dev/null 2>&1 &
        udp_pid=$! ;;
    *)
        echo "unknown UDP path $1" >&2; return 1 ;;
    esac
    pids+=("$udp_pid")
    # iperf3's TCP control channel, forwarded by socat for every proxied path.
    socat TCP4-LISTEN:"$PROXY_PORT",bind=127.0.0.1,fork,reuseaddr TCP4:127.0.0.1:"$SERVER_PORT" >/dev/null 2>&1 &
    pids+=($!)
    wait_tcp_port "$PROXY_PORT" || return 1
    for _ in $(seq 100); do
        ss -Hlunp "sport = :$PROXY_PORT" | grep -q "pid=$udp_pid," && return 0
        sleep 0.05
    done
    echo "$1: its process $udp_pid does not hold udp port $PROXY_PORT" >&2
    ss -Hlunp "sport = :$PROXY_PORT" >&2 || true
    return 1
}

stop_path() {  # stops everything but the iperf3 server, with the children of each (socat's forks)
    local keep=${pids[0]} pid
    for pid in "${pids[@]:1}"; do
        pkill -TERM -P "$pid" 2>/dev/null || true
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=("$keep")
}

echo "# UDP: iperf3 -u, ${LENGTH}-byte datagrams, ${DURATION}s per run, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-10s %-10s %14s %8s %10s\n' path offered delivered_Mbps loss_% jitter_ms
for rate in $RATES; do
    for path in $UDP_PATHS; do
        if start_path "$path"; then
            read -r delivered loss jitter < <(measure "$PORT" "$rate")
        else
            delivered=failed loss=- jitter=-
        fi
        printf '%-10s %-10s %14s %8s %10s\n' "$path" "$rate" "$delivered" "$loss" "$jitter"
        stop_path
        if [ -n "$RESULTS" ]; then
            [ "$delivered" != failed ] || delivered=-
            printf 'udp_%s\t%s\t%s\nudp_loss_%s\t%s\t%s\n' "$rate" "$path" "$delivered" "$rate" "$path" "$loss" >>"$RESULTS"
        fi
        sleep 1
    done
done
