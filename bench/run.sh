#!/usr/bin/env bash
# TCP and UDP benchmark (issues 2 and 14): direct (no proxy), faultline, faultline-serve
# (the same engine, the proxy created through `faultline serve`'s API), haproxy and
# socat, and toxiproxy when TOXIPROXY names a toxiproxy-server built by hand, in one
# run, all on 127.0.0.1:
#   1. iperf3 bulk throughput, 1 stream and 8 streams, and the proxy's peak RSS
#      (VmHWM) during the 8 streams;
#   2. redis-benchmark SET and GET, 50 clients, keep-alive: requests/s, p50 and p99;
#   3. HTTP keep-alive: wrk, WRK_CONNS connections, against nginx (started on a free
#      port with a config in a temporary folder): requests/s, p50 and p99;
#   4. a new connection per request: redis-benchmark -k 0 -t ping_inline, 50 clients
#      (each PING is sent on a fresh connection, closed after the reply); requests/s is
#      then connections/s, and redis's own count of accepted connections checks it;
#   5. the proxy's peak RSS (VmHWM in /proc/PID/status) with IDLE_N idle connections
#      held open, and the same extrapolated to 10,000 (see IDLE_N below); then the same
#      with IDLE_BULK_N connections that each carried IDLE_BULK_BYTES (256 KiB) each way
#      before idling, as pooled connections do (buffers a proxy keeps after use);
#   6. UDP: bench/udp.sh (iperf3 -u at UDP_RATES: direct, socat, nginx's stream proxy,
#      faultline proxy --udp), delivered throughput; UDP_RATES="" skips it.
# Issue 14's variants of faultline run in tests 1-3 next to faultline passthrough, and
# the table sets each against passthrough in the same run (VARIANTS picks them):
#   fl-noop      --profile bench/noop-every-chunk.yaml: a rule decided on every chunk
#                that changes nothing (0 ms delay); iperf3 8 streams and HTTP;
#   fl-http-log  --framing http --log FILE: HTTP (wrk);
#   fl-resp-log  --framing resp --log FILE: redis SET/GET;
#   fl-http, fl-resp   the same framing without --log: which part of the cost is the
#                framing and which the log;
#   fl-delay5    --profile bench/delay-5ms.yaml: iperf3 8 streams through a 5 ms delay,
#                for the peak RSS (is memory bounded while data is held back?).
# The logs go to bench/out/logs/ and are deleted once counted (KEEP_LOGS=1 keeps them);
# the table shows how many events each wrote and how many it dropped (log_dropped).
# Tests 1-4 run ROUNDS times with the paths interleaved and the table keeps the best
# figure of each, to damp the noise of a shared machine. The proxies' CPU time is
# recorded too (per GiB, per request, per connection): it is steadier than the rates
# when other work competes for the cores.
#
#   bench/run.sh                          # what `make bench` runs: about 9 minutes on
#                                         # 2 cores after the build (8.5 in run 6: 2 rounds
#                                         # of tests 1-4 6.5, idle 0.7, UDP 1.3)
#   BENCH_SECONDS=2 REDIS_N=20000 CONN_N=3000 IDLE_N=1000 ROUNDS=1 UDP_RATES=1G bench/run.sh
#                                         # a quick try (about 3 minutes)
#   SKIP_BUILD=1 bench/run.sh             # reuse .build-release/release/faultline
#   FAULTLINE=/path/to/faultline SKIP_BUILD=1 bench/run.sh   # another binary
#   PATHS="direct faultline" bench/run.sh # a subset of the paths
#   VARIANTS="fl-noop" bench/run.sh       # a subset of the variants ("" for none)
#   ROUNDS=0 bench/run.sh                 # the idle-connection test (and UDP) only
#   BASELINE=/path/to/older/faultline bench/run.sh
#                                         # adds a "baseline" path: an older faultline build,
#                                         # measured in the same run, for "no slower than before"
#
# It installs iperf3, redis-server, redis-tools, haproxy, socat, wrk, nginx and
# nginx's stream module from Debian when missing and builds faultline in release mode
# into .build-release (its own scratch folder, so it never disturbs a debug build in
# .build). It prints the table and keeps it, with every raw output, in bench/out/ (not
# committed).
#
# Descriptors: a proxy holds two per connection, so 10,000 proxied connections need
# 20,000 plus the listener, epoll and stdio. The script raises the soft limit to the
# hard one; with a hard limit of 20,000 (the benchmark machine) that is 9,980
# connections at most, and the 10,000 figure is extrapolated linearly from the measured
# one (the difference is 0.2 %). The idle clients and the upstream that holds them are
# separate processes, each well under the limit.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_SECONDS=${BENCH_SECONDS:-5}  # seconds per iperf3 run (plus 1 s warm-up, omitted)
REDIS_N=${REDIS_N:-100000}         # requests per redis-benchmark test (SET, then GET)
CONN_N=${CONN_N:-10000}            # connections (= requests) in the connection-per-request test
ROUNDS=${ROUNDS:-2}                # tests 1-4 run this many times, paths interleaved; best kept
SOCAT_IDLE_N=${SOCAT_IDLE_N:-200}  # socat forks a process per connection: a sample only
IDLE_BULK_N=${IDLE_BULK_N:-1000}  # connections for the idle-after-bulk test, each carrying
IDLE_BULK_BYTES=${IDLE_BULK_BYTES:-262144}  # this many bytes each way before it idles
TEST_TIMEOUT=${TEST_TIMEOUT:-180}  # no single client run may take longer (seconds)
WRK_CONNS=${WRK_CONNS:-50}         # wrk's keep-alive connections (test 3)
WRK_THREADS=${WRK_THREADS:-1}      # wrk's threads: one leaves a core to the proxy and nginx
UDP_RATES=${UDP_RATES-"100M 500M 1G"}  # offered rates for bench/udp.sh; "" skips test 6
UDP_SECONDS=${UDP_SECONDS:-5}      # seconds per UDP run
KEEP_LOGS=${KEEP_LOGS:-0}          # 1 keeps the variants' event logs in bench/out/logs
VARIANTS=${VARIANTS-"fl-noop fl-http fl-http-log fl-resp fl-resp-log fl-delay5"}
# toxiproxy joins when TOXIPROXY names a toxiproxy-server built by hand.
PATHS=${PATHS:-"direct faultline faultline-serve haproxy socat${TOXIPROXY:+ toxiproxy}"}
SCRATCH=${SCRATCH:-.build-release}
FAULTLINE=${FAULTLINE:-$SCRATCH/release/faultline}
BASELINE=${BASELINE:-}
[ -z "$BASELINE" ] || PATHS="$PATHS baseline"
OUT=bench/out

FD_HARD=$(ulimit -Hn)
[ "$FD_HARD" != unlimited ] || FD_HARD=1048576
ulimit -n "$FD_HARD"
FD_LIMIT=$(ulimit -n)
IDLE_MAX=$(((FD_LIMIT - 40) / 2))
IDLE_N=${IDLE_N:-$((IDLE_MAX < 10000 ? IDLE_MAX : 10000))}
[ "$IDLE_N" -le "$IDLE_MAX" ] || { echo "IDLE_N=$IDLE_N needs $((2 * IDLE_N + 40)) descriptors; the limit is $FD_LIMIT" >&2; exit 2; }

mkdir -p "$OUT"
RESULTS=$OUT/results.tsv
: >"$RESULTS"
: >"$OUT/run.log"
: >"$OUT/cpu.txt"
: >"$OUT/udp.txt"
START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
START_TIME=$(date -u '+%Y-%m-%d %H:%M UTC')

log() { printf '[%s load %s] %s\n' "$(date -u +%H:%M:%S)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$*" | tee -a "$OUT/run.log" >&2; }

# --- tools -------------------------------------------------------------------------
need=""
command -v iperf3 >/dev/null || need="$need iperf3"
command -v redis-server >/dev/null || need="$need redis-server"
command -v redis-benchmark >/dev/null || need="$need redis-tools"
command -v haproxy >/dev/null || need="$need haproxy"
command -v socat >/dev/null || need="$need socat"
command -v python3 >/dev/null || need="$need python3"
command -v ss >/dev/null || need="$need iproute2"
command -v curl >/dev/null || need="$need curl"
command -v wrk >/dev/null || need="$need wrk"
command -v nginx >/dev/null || need="$need nginx"
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || need="$need libnginx-mod-stream"
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

# --- processes -----------------------------------------------------------------------
# Every background process this script starts is in `pids`; on exit each is stopped,
# with its direct children (socat's per-connection forks).
pids=()
forget() {  # drops $1 from pids once it is stopped, so its number is never signalled again
    local kept=() p
    for p in "${pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
    pids=("${kept[@]}")
}
cleanup() {
    for pid in "${pids[@]}"; do
        pkill -TERM -P "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    [ -z "${NGINX_DIR:-}" ] || rm -rf "$NGINX_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a client for at most TEST_TIMEOUT seconds. In the background with `wait`, because
# bash runs a trap only once the foreground command is over: a signal stops the script
# (and, through the EXIT trap, the client) at once.
bounded() {
    local status=0 p
    timeout "$TEST_TIMEOUT" "$@" &
    p=$!
    pids+=("$p")
    wait "$p" || status=$?
    forget "$p"
    return "$status"
}

# A TCP port free on 127.0.0.1, below the ephemeral range so that no outgoing
# connection takes it meanwhile.
free_port() {
    python3 -c '
import random, socket
for _ in range(500):
    port = random.randint(20000, 30000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port)); print(port); break
    except OSError:
        pass
    finally:
        s.close()
'
}

wait_port() {  # a listener on 127.0.0.1:$1 within 10 s
    for _ in $(seq 200); do
        ss -Hltn "sport = :$1" | grep -q . && return 0
        sleep 0.05
    done
    echo "nothing listening on tcp port $1" >&2; return 1
}

CLK_TCK=$(getconf CLK_TCK)
cpu_seconds() {  # user+system CPU of $1 and its reaped children, in seconds
    awk -v hz="$CLK_TCK" '{ sub(/^.*\) /, ""); print ($12 + $13 + $14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo -
}

IPERF_PORT=$(free_port)
iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT" >"$OUT/iperf3-server.log" 2>&1 &
pids+=($!)
REDIS_PORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --maxclients 10000 --protected-mode no >"$OUT/redis.log" 2>&1 &
pids+=($!)
HOLD_PORT=$(free_port)
python3 bench/hold_server.py "$HOLD_PORT" >"$OUT/hold-server.log" 2>&1 &
pids+=($!)
# The HTTP upstream for test 3: nginx, one worker, a fixed 30-byte reply, keep-alive
# without a request limit (1.22's default closes a connection after 1,000 requests),
# no access log. Its config and temporary folders live in a folder of its own.
HTTP_PORT=$(free_port)
NGINX_DIR=$(mktemp -d "${TMPDIR:-/tmp}/faultline-bench-nginx.XXXXXX")
cat >"$NGINX_DIR/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $NGINX_DIR/body;
    proxy_temp_path $NGINX_DIR/proxy;
    fastcgi_temp_path $NGINX_DIR/fastcgi;
    uwsgi_temp_path $NGINX_DIR/uwsgi;
    scgi_temp_path $NGINX_DIR/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 1h;
    server {
        listen 127.0.0.1:$HTTP_PORT;
        location / { default_type text/plain; return 200 "hello from the bench upstream\n"; }
    }
}
EOF
nginx -e "$NGINX_DIR/error.log" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" >"$OUT/nginx.log" 2>&1 &
pids+=($!)
wait_port "$IPERF_PORT"; wait_port "$REDIS_PORT"; wait_port "$HOLD_PORT"; wait_port "$HTTP_PORT"

# The paths for one test: PATHS, with those of the VARIANTS named here right after
# faultline (so each is measured next to the passthrough it is compared with).
paths_with() {
    local path v out=""
    for path in $PATHS; do
        out="$out $path"
        [ "$path" = faultline ] || continue
        for v in "$@"; do
            case " $VARIANTS " in *" $v "*) out="$out $v" ;; esac
        done
    done
    echo $out
}

# start_path PATH UPSTREAM_PORT: sets PORT (where clients connect) and PID (the proxy,
# empty for direct).
PORT="" PID="" LOG_FILE="" LOG_SEQ=0
start_path() {
    local path=$1 upstream=$2
    PID=""
    case "$path" in
    direct)
        PORT=$upstream ;;
    faultline | baseline | fl-*)
        local binary=$FAULTLINE extra=()
        [ "$path" = baseline ] && binary=$BASELINE
        LOG_FILE=""
        case "$path" in
        fl-noop) extra=(--profile bench/noop-every-chunk.yaml --seed 14) ;;
        fl-delay5) extra=(--profile bench/delay-5ms.yaml --seed 14) ;;
        fl-http | fl-resp) extra=(--framing "${path#fl-}") ;;
        fl-http-log | fl-resp-log)
            local framing=${path#fl-}
            mkdir -p "$OUT/logs"
            LOG_SEQ=$((LOG_SEQ + 1))
            LOG_FILE=$OUT/logs/$path-$LOG_SEQ.jsonl
            rm -f "$LOG_FILE"
            extra=(--framing "${framing%-log}" --log "$LOG_FILE") ;;
        esac
        : >"$OUT/$path.out"
        # --grace 0s: stopping need not wait for connections still open (stop_path
        # reports how many there were).
        "$binary" proxy --listen 127.0.0.1:0 --upstream 127.0.0.1:"$upstream" --grace 0s \
            ${extra[@]+"${extra[@]}"} >"$OUT/$path.out" 2>>"$OUT/$path.err" &
        PID=$!
        pids+=("$PID")
        PORT=""
        for _ in $(seq 200); do
            PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$OUT/$path.out" | head -1)
            [ -n "$PORT" ] && break
            sleep 0.05
        done
        [ -n "$PORT" ] || { echo "$path did not print its address" >&2; cat "$OUT/$path.err" >&2; exit 3; } ;;
    faultline-serve)
        # The same engine, but the proxy is created through `faultline serve`'s
        # Toxiproxy-compatible API: what the control plane costs the data path.
        : >"$OUT/$path.out"
        "$FAULTLINE" serve --api 127.0.0.1:0 --grace 0s >"$OUT/$path.out" 2>>"$OUT/$path.err" &
        PID=$!
        pids+=("$PID")
        local api=""
        for _ in $(seq 200); do
            api=$(sed -n 's/^listening on \(.*\)$/\1/p' "$OUT/$path.out" | head -1)
            [ -n "$api" ] && break
            sleep 0.05
        done
        [ -n "$api" ] || { echo "faultline serve did not print its address" >&2; cat "$OUT/$path.err" >&2; exit 3; }
        PORT=$(curl -sf -X POST "http://$api/proxies" \
            -d "{\"name\":\"bench\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:$upstream\"}" |
            python3 -c 'import json, sys; print(json.load(sys.stdin)["listen"].rsplit(":", 1)[1])')
        wait_port "$PORT" ;;
    toxiproxy)
        # A toxiproxy-server built by hand (TOXIPROXY=/path/to/toxiproxy-server); the
        # proxy is created through its API, as for faultline-serve.
        [ -x "${TOXIPROXY:-}" ] || { echo "toxiproxy: set TOXIPROXY to a toxiproxy-server binary" >&2; exit 2; }
        local api_port
        api_port=$(free_port)
        PORT=$(free_port)
        "$TOXIPROXY" -host 127.0.0.1 -port "$api_port" >>"$OUT/toxiproxy.log" 2>&1 &
        PID=$!
        pids+=("$PID")
        wait_port "$api_port"
        curl -sf -X POST "http://127.0.0.1:$api_port/proxies" \
            -d "{\"name\":\"bench\",\"listen\":\"127.0.0.1:$PORT\",\"upstream\":\"127.0.0.1:$upstream\"}" >/dev/null
        wait_port "$PORT" ;;
    haproxy)
        # haproxy's defaults for TCP mode (16 KiB buffers, no splicing), one thread per
        # core like faultline's event loops. maxconn leaves room for the descriptors.
        PORT=$(free_port)
        cat >"$OUT/haproxy.cfg" <<EOF
global
    maxconn $IDLE_MAX
    nbthread $(nproc)
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
listen bench
    bind 127.0.0.1:$PORT
    maxconn $IDLE_MAX
    server upstream 127.0.0.1:$upstream
EOF
        haproxy -db -f "$OUT/haproxy.cfg" >>"$OUT/haproxy.log" 2>&1 &
        PID=$!
        pids+=("$PID")
        wait_port "$PORT" ;;
    socat)
        PORT=$(free_port)
        socat TCP4-LISTEN:"$PORT",bind=127.0.0.1,fork,reuseaddr,backlog=4096 \
            TCP4:127.0.0.1:"$upstream" >>"$OUT/socat.log" 2>&1 &
        PID=$!
        pids+=("$PID")
        wait_port "$PORT" ;;
    esac
}

LAST_CPU=- LAST_HWM=-
stop_path() {  # stop_path PATH: stops the proxy started last; sets LAST_CPU (seconds)
    # and LAST_HWM (its peak RSS, MiB; - for socat, whose work is in its children)
    LAST_CPU=- LAST_HWM=-
    [ -n "$PID" ] || return 0
    sleep 0.3  # let socat reap its finished per-connection children into its CPU count
    LAST_CPU=$(cpu_seconds "$PID")
    [ "$1" = socat ] || LAST_HWM=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$PID/status" 2>/dev/null || echo -)
    pkill -TERM -P "$PID" 2>/dev/null || true
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    forget "$PID"
    PID=""
    if [ "$1" = faultline ] || [ "$1" = baseline ] || [ "${1#fl-}" != "$1" ]; then
        # faultline logs how many connections were still open when told to stop.
        local open
        open=$(sed -n 's/.*open=\([0-9]*\).*stopping$/\1/p' "$OUT/$1.err" | tail -1)
        [ "${open:-0}" = 0 ] || log "  $1: $open connection(s) still open when stopped"
    fi
}

record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }

# log_counts TEST PATH: after a variant with --log stopped, records how many events its
# log holds (message events apart) and how many it reported dropped (log_dropped's
# counts), then deletes the log unless KEEP_LOGS=1.
log_counts() {
    [ -n "$LOG_FILE" ] || return 0
    local events messages dropped
    read -r events messages dropped <<<"$(python3 -c '
import json, sys
events = messages = dropped = 0
try:
    for line in open(sys.argv[1]):
        events += 1
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("type") == "message":
            messages += 1
        elif e.get("type") == "log_dropped":
            dropped += int(e.get("count", 0))
    print(events, messages, dropped)
except OSError:
    print("- - -")' "$LOG_FILE")"
    record "log_events_$1" "$2" "$events"
    record "log_messages_$1" "$2" "$messages"
    record "log_dropped_$1" "$2" "$dropped"
    log "  log: $events events ($messages messages), $dropped dropped, $(du -h "$LOG_FILE" 2>/dev/null | cut -f1) on disk"
    [ "$KEEP_LOGS" = 1 ] || rm -f "$LOG_FILE"
    LOG_FILE=""
}
per() {  # per VALUE DIVISOR SCALE: VALUE / DIVISOR * SCALE, or - when either is unknown
    python3 -c '
import sys
try:
    v, d, s = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    print("%.4g" % (v / d * s) if d else "-")
except ValueError:
    print("-")' "$1" "$2" "$3"
}

iperf_summary() {  # "Gbit/s GiB": receiver throughput, and all bytes sent (warm-up included)
    python3 -c '
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
    gbps = doc["end"]["sum_received"]["bits_per_second"] / 1e9
    total = sum(i["sum"]["bytes"] for i in doc["intervals"])
    print("%.3f %.4f" % (gbps, total / 2**30))
except Exception:
    print("- -")' "$1"
}

wrk_summary() {  # "req/s requests p50_ms p99_ms errors" from wrk --latency's output
    python3 -c '
import re, sys
text = open(sys.argv[1]).read()
def ms(label):
    m = re.search(r"^\s*" + label + r"%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not m:
        return "-"
    return "%.3f" % (float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)])
rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
requests = re.search(r"^\s*(\d+) requests in", text, re.M)
errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
errors += int(non2xx.group(1)) if non2xx else 0
print(rps.group(1) if rps else "-", requests.group(1) if requests else "-", ms("50"), ms("99"), errors)' "$1"
}

redis_accepted() {
    redis-cli -p "$REDIS_PORT" info stats | sed -n 's/^total_connections_received:\([0-9]*\).*/\1/p'
}

log "start: $(nproc) cores, load average $START_LOAD, open-file limit $FD_LIMIT"
log "settings: BENCH_SECONDS=$BENCH_SECONDS REDIS_N=$REDIS_N CONN_N=$CONN_N ROUNDS=$ROUNDS IDLE_N=$IDLE_N SOCAT_IDLE_N=$SOCAT_IDLE_N IDLE_BULK_N=$IDLE_BULK_N IDLE_BULK_BYTES=$IDLE_BULK_BYTES WRK_CONNS=$WRK_CONNS WRK_THREADS=$WRK_THREADS UDP_RATES=\"$UDP_RATES\" VARIANTS=\"$VARIANTS\""
log "paths: $PATHS; faultline is $FAULTLINE"

for round in $(seq "$ROUNDS"); do
    log "round $round of $ROUNDS"
    # --- 1. iperf3 ------------------------------------------------------------------------
    for streams in 1 8; do
        paths=$PATHS
        [ "$streams" = 8 ] && paths=$(paths_with fl-noop fl-delay5)
        for path in $paths; do
            start_path "$path" "$IPERF_PORT"
            log "iperf3 -P $streams via $path"
            json=$OUT/iperf3-P$streams-$path-r$round.json
            bounded iperf3 -c 127.0.0.1 -p "$PORT" -t "$BENCH_SECONDS" -O 1 -P "$streams" -J >"$json" 2>&1 || true
            read -r gbps gib <<<"$(iperf_summary "$json")"
            stop_path "$path"
            record "iperf$streams" "$path" "$gbps"
            [ "$path" = direct ] || record "cpu_iperf$streams" "$path" "$(per "$LAST_CPU" "$gib" 1000)"
            [ "$path" = direct ] || printf '%-14s %-11s %6ss for %s GiB\n' "iperf$streams/r$round" "$path" "$LAST_CPU" "$gib" >>"$OUT/cpu.txt"
            [ "$path" = direct ] || [ "$streams" = 1 ] || record rss_iperf8 "$path" "$LAST_HWM"
            log "  $gbps Gbit/s${LAST_HWM:+, proxy peak RSS $LAST_HWM MiB}"
            sleep 1
        done
    done

    # --- 2. redis-benchmark SET/GET ---------------------------------------------------------
    for path in $(paths_with fl-resp fl-resp-log); do
        start_path "$path" "$REDIS_PORT"
        log "redis-benchmark SET,GET via $path"
        csv=$OUT/redis-$path-r$round.csv
        bounded redis-benchmark -h 127.0.0.1 -p "$PORT" -c 50 -n "$REDIS_N" -t set,get --csv \
            >"$csv" 2>"$OUT/redis-$path-r$round.err" || true
        stop_path "$path"
        log_counts redis "$path"
        [ "$path" = direct ] || record cpu_redis "$path" "$(per "$LAST_CPU" $((2 * REDIS_N)) 1e6)"
        [ "$path" = direct ] || printf '%-14s %-11s %6ss for %s requests\n' "redis/r$round" "$path" "$LAST_CPU" $((2 * REDIS_N)) >>"$OUT/cpu.txt"
        # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
        for test in SET GET; do
            row=$(grep "^\"$test\"" "$csv" | tr -d '"' || true)
            lc=$(echo "$test" | tr 'A-Z' 'a-z')
            if [ -n "$row" ]; then
                IFS=, read -r _ rps _ _ p50 _ p99 _ <<<"$row"
                record "${lc}_rps" "$path" "$rps"; record "${lc}_p50" "$path" "$p50"; record "${lc}_p99" "$path" "$p99"
                log "  $test $rps req/s p50 $p50 ms p99 $p99 ms"
            else
                record "${lc}_rps" "$path" -; record "${lc}_p50" "$path" -; record "${lc}_p99" "$path" -
                log "  $test: no result (see $OUT/redis-$path-r$round.err)"
            fi
        done
        sleep 1
    done

    # --- 3. HTTP keep-alive (wrk against nginx) --------------------------------------------
    for path in $(paths_with fl-noop fl-http fl-http-log); do
        start_path "$path" "$HTTP_PORT"
        log "wrk -t $WRK_THREADS -c $WRK_CONNS (HTTP keep-alive) via $path"
        txt=$OUT/wrk-$path-r$round.txt
        bounded wrk -t "$WRK_THREADS" -c "$WRK_CONNS" -d "${BENCH_SECONDS}s" --latency \
            "http://127.0.0.1:$PORT/" >"$txt" 2>&1 || true
        stop_path "$path"
        log_counts http "$path"
        read -r rps requests p50 p99 errors <<<"$(wrk_summary "$txt")"
        record http_rps "$path" "$rps"; record http_p50 "$path" "$p50"; record http_p99 "$path" "$p99"
        [ "$path" = direct ] || record cpu_http "$path" "$(per "$LAST_CPU" "$requests" 1e6)"
        [ "$path" = direct ] || printf '%-14s %-11s %6ss for %s requests\n' "http/r$round" "$path" "$LAST_CPU" "$requests" >>"$OUT/cpu.txt"
        log "  $rps req/s p50 $p50 ms p99 $p99 ms ($requests requests)"
        [ "$errors" = 0 ] || log "  wrk counted $errors socket errors or non-2xx replies (see $txt)"
        sleep 1
    done

    # --- 4. a new connection per request -------------------------------------------------------
    for path in $PATHS; do
        start_path "$path" "$REDIS_PORT"
        log "connection per request (redis-benchmark -k 0 -t ping_inline) via $path"
        before=$(redis_accepted)
        csv=$OUT/conn-$path-r$round.csv
        bounded redis-benchmark -h 127.0.0.1 -p "$PORT" -c 50 -n "$CONN_N" -k 0 -t ping_inline --csv \
            >"$csv" 2>"$OUT/conn-$path-r$round.err" || true
        after=$(redis_accepted)
        stop_path "$path"
        rps=$(grep '^"PING_INLINE"' "$csv" | tr -d '"' | cut -d, -f2 || true)
        accepted=$((after - before))
        # redis-benchmark opens its 50 clients before the clock starts and may leave a
        # few unused: redis must have accepted about one connection per request.
        if [ -n "$rps" ] && [ "$accepted" -lt $((CONN_N * 95 / 100)) ]; then
            log "  only $accepted connections reached redis for $CONN_N requests: not counted"
            rps=""
        fi
        record conn_rps "$path" "${rps:--}"
        [ "$path" = direct ] || record cpu_conn "$path" "$(per "$LAST_CPU" "$accepted" 1e6)"
        [ "$path" = direct ] || printf '%-14s %-11s %6ss for %s connections\n' "conn/r$round" "$path" "$LAST_CPU" "$accepted" >>"$OUT/cpu.txt"
        log "  ${rps:--} conn/s (redis accepted $accepted connections for $CONN_N requests)"
        sleep 2
    done
done

# --- 5. RSS with idle connections ---------------------------------------------------------
status_kib() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }
pss_kib() {  # PSS of $1 and its children, summed
    local total=0 p
    for p in "$1" $(pgrep -P "$1" || true); do
        total=$((total + $(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

# idle_pass PATH N BYTES PREFIX: N connections through PATH, each carrying BYTES each
# way, then held idle; records PREFIX_conns, _base, _hwm, _per_conn and _10k.
idle_pass() {
    local path=$1 n=$2 bytes=$3 prefix=$4
    start_path "$path" "$HOLD_PORT"
    sleep 0.5
    if [ "$path" = socat ]; then base=$(pss_kib "$PID"); else base=$(status_kib "$PID" VmRSS); fi
    log "idle connections via $path: opening $n, $bytes bytes each way first"
    progress=$OUT/$prefix-$path.out
    : >"$progress"
    # The client holds its connections until killed (at most TEST_TIMEOUT seconds).
    timeout "$TEST_TIMEOUT" python3 bench/idle_conns.py "$PORT" "$n" "$TEST_TIMEOUT" "$bytes" >"$progress" 2>&1 &
    client=$!
    pids+=("$client")
    ready=""
    for _ in $(seq $((TEST_TIMEOUT * 10))); do
        ready=$(sed -n 's/^ready \([0-9]*\)/\1/p' "$progress")
        [ -n "$ready" ] && break
        kill -0 "$client" 2>/dev/null || break
        sleep 0.1
    done
    sleep 2
    if [ -n "$ready" ] && [ "$ready" -gt 0 ]; then
        if [ "$path" = socat ]; then
            # One process per connection: VmHWM means nothing summed; PSS shares the
            # libraries fairly between the processes.
            peak=$(pss_kib "$PID")
            hwm=-
            peak_text="PSS summed over $(($(pgrep -c -P "$PID" || echo 0) + 1)) processes $((peak / 1024)) MiB"
        else
            peak=$(status_kib "$PID" VmHWM)
            hwm=$(python3 -c 'import sys; print("%.1f" % (int(sys.argv[1]) / 1024))' "$peak")
            peak_text="peak (VmHWM) $hwm MiB"
        fi
        held=$(ss -Htn state established "( sport = :$PORT )" | wc -l)
        read -r base_mib per_conn est <<<"$(python3 -c '
import sys
base, peak, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
per = (peak - base) / n
print("%.1f %.2f %.1f" % (base / 1024, per, (base + per * 10000) / 1024))' "$base" "$peak" "$ready")"
        record "${prefix}_conns" "$path" "$ready"
        record "${prefix}_base" "$path" "$base_mib"
        record "${prefix}_hwm" "$path" "$hwm"
        record "${prefix}_per_conn" "$path" "$per_conn"
        record "${prefix}_10k" "$path" "$est"
        log "  $ready held ($held established at the proxy; of $n asked, $(sed -n 's/^failed //p' "$progress") failed): before $base_mib MiB, $peak_text, $per_conn KiB/conn, est. $est MiB at 10,000"
    else
        record "${prefix}_conns" "$path" -
        log "  the connections never became ready: $(tr '\n' ' ' <"$progress")"
    fi
    kill "$client" 2>/dev/null || true
    wait "$client" 2>/dev/null || true
    forget "$client"
    # The clients are gone: give the proxy up to 20 s to close its descriptors.
    for _ in $(seq 200); do
        [ "$(ls "/proc/$PID/fd" 2>/dev/null | wc -l)" -lt 64 ] && break
        sleep 0.1
    done
    stop_path "$path"
    sleep 2
}

for path in $PATHS; do
    [ "$path" = direct ] && continue
    n=$IDLE_N
    [ "$path" = socat ] && n=$SOCAT_IDLE_N
    idle_pass "$path" "$n" 1 idle
done
# Idle after bulk: what a pooled connection costs once it has carried data (buffers a
# proxy keeps after use). socat is left out: a process per connection says nothing here.
for path in $PATHS; do
    case $path in direct | socat) continue ;; esac
    idle_pass "$path" "$IDLE_BULK_N" "$IDLE_BULK_BYTES" idle_bulk
done

# --- 6. UDP ---------------------------------------------------------------------------------
if [ -n "$UDP_RATES" ]; then
    log "UDP: bench/udp.sh at $UDP_RATES, ${UDP_SECONDS}s each"
    status=0
    FAULTLINE=$FAULTLINE RATES=$UDP_RATES DURATION=$UDP_SECONDS RESULTS=$RESULTS \
        timeout $((TEST_TIMEOUT * 3)) bench/udp.sh >"$OUT/udp.txt" 2>"$OUT/udp.err" || status=$?
    [ "$status" = 0 ] || log "  bench/udp.sh failed ($status): $(tr '\n' ' ' <"$OUT/udp.err")"
    sed 's/^/  /' "$OUT/udp.txt" | tee -a "$OUT/run.log" >&2
fi

# --- report ---------------------------------------------------------------------------
{
    echo "# faultline TCP benchmark, $START_TIME, $(nproc) cores, load average at start $START_LOAD, at end $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# best of $ROUNDS rounds for tests 1-4; iperf3 -t $BENCH_SECONDS -O 1; redis-benchmark -c 50 -n $REDIS_N -t set,get;"
    echo "# HTTP: wrk -t $WRK_THREADS -c $WRK_CONNS -d ${BENCH_SECONDS}s against nginx;"
    echo "# connection per request: redis-benchmark -c 50 -n $CONN_N -k 0 -t ping_inline;"
    echo "# idle: $IDLE_N connections through faultline and haproxy, $SOCAT_IDLE_N through socat (PSS summed over its processes)"
    echo
    python3 bench/table.py "$RESULTS"
    echo
    echo "Proxy CPU time per test (user+system, seconds):"
    cat "$OUT/cpu.txt"
    if [ -s "$OUT/udp.txt" ]; then
        echo
        cat "$OUT/udp.txt"
    fi
} | tee "$OUT/report.txt"
