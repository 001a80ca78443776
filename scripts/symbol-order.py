#!/usr/bin/env python3
"""Writes scripts/faultline.order: the functions `faultline proxy` and `faultline serve`
run, hottest first, for the linker to place next to each other (`make release` passes the
file to lld as --symbol-ordering-file; `make symbol-order` runs this script).

Why: a release binary is 26 MB of code, and the kernel maps it in 64 KiB runs around each
page first touched. Left in link order, the 2,000 or so functions an idle proxy has run
are spread over 140 such runs (8.7 MiB resident); placed together they take a few
(bench/RESULTS.md, "Functions placed together"). Hot code together is also kinder to the
instruction cache.

How: each scenario below runs a release build under valgrind's callgrind with real
traffic on 127.0.0.1 (redis-server, a small HTTP/1.1 server, a UDP echo), and the
functions' own instruction counts are summed over all of them. Functions no scenario
runs keep the linker's order after these. A stale file costs nothing but locality:
names the linker no longer finds are skipped.

    scripts/symbol-order.py                      # uses .build-release/release/faultline
    scripts/symbol-order.py path/to/faultline    # another release build

Needs valgrind, redis-server and redis-benchmark (Debian: valgrind, redis-server,
redis-tools). Takes about a minute on two cores.
"""
import collections
import http.server
import os
import re
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT = os.path.join(ROOT, "scripts", "faultline.order")
LOOPBACK = "127.0.0.1"


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


class Reply(http.server.BaseHTTPRequestHandler):
    """An HTTP/1.1 upstream that keeps connections alive."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"hello from the order upstream\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self.do_GET()

    def log_message(self, *args):
        pass


class ThreadingHTTP(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def udp_echo(port, stop):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOOPBACK, port))
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                data, peer = s.recvfrom(65536)
                s.sendto(data, peer)
            except socket.timeout:
                pass


def http_keepalive(port, requests, connections):
    import http.client

    def one():
        c = http.client.HTTPConnection(LOOPBACK, port, timeout=60)
        for i in range(requests // connections):
            if i % 5 == 0:
                c.request("POST", "/orders", body=b"x" * 300,
                          headers={"Idempotency-Key": f"k{i}", "Content-Type": "text/plain"})
            else:
                c.request("GET", "/")
            c.getresponse().read()
        c.close()
    threads = [threading.Thread(target=one) for _ in range(connections)]
    [t.start() for t in threads]
    [t.join() for t in threads]


def redis_keepalive(port, requests, connections):
    def one():
        s = socket.create_connection((LOOPBACK, port), timeout=60)
        f = s.makefile("rb")
        for i in range(requests // connections):
            if i % 2:
                s.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n")
                f.readline()
            else:
                s.sendall(b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n")
                line = f.readline()
                if line.startswith(b"$") and line != b"$-1\r\n":
                    f.read(int(line[1:]) + 2)
        s.close()
    threads = [threading.Thread(target=one) for _ in range(connections)]
    [t.start() for t in threads]
    [t.join() for t in threads]


def new_connections(port, count):
    subprocess.run(["redis-benchmark", "-h", LOOPBACK, "-p", str(port), "-k", "0", "-c", "5",
                    "-n", str(count), "-t", "ping_inline", "-q"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=600)


def datagrams(port, count):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        for i in range(count):
            s.sendto(b"datagram %d" % i, (LOOPBACK, port))
            try:
                s.recvfrom(65536)
            except socket.timeout:
                pass


def run_under_callgrind(binary, work, name, arguments, drive, ready="listening"):
    """Runs `faultline ARGUMENTS` under callgrind, drives it once it is ready, stops it."""
    out = os.path.join(work, f"{name}.callgrind")
    log = os.path.join(work, f"{name}.out")
    with open(log, "w") as sink:
        process = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}",
             binary] + arguments, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while ready not in open(log).read():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            sys.exit(f"symbol-order: `faultline {' '.join(arguments)}` did not start; see {log}")
        time.sleep(0.2)
    drive()
    process.send_signal(signal.SIGINT)
    process.wait(timeout=300)
    print(f"  {name}: done", file=sys.stderr)
    return out


def self_costs(callgrind_file):
    """Each function's own instruction count (calls' inclusive costs left out)."""
    names, costs = {}, collections.Counter()
    current, skip_next = None, False
    # A name is given once, where its number first appears: as a function (fn=) or as
    # the callee of a call (cfn=).
    fn = re.compile(r"^(c?)fn=\((\d+)\)(?: (.+))?$")
    with open(callgrind_file, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            match = fn.match(line)
            if match:
                callee, number, name = match.groups()
                if name:
                    names[number] = name
                if not callee:
                    current = names.get(number)
                continue
            if line.startswith("calls="):
                skip_next = True  # the next cost line is the call's inclusive cost
                continue
            if not line or not (line[0].isdigit() or line[0] in "+-*"):
                continue
            if skip_next:
                skip_next = False
                continue
            parts = line.split()
            if current and len(parts) >= 2 and parts[-1].isdigit():
                costs[current] += int(parts[-1])
    return costs


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build-release/release/faultline")
    for tool in ("valgrind", "redis-server", "redis-benchmark", "strip", "nm"):
        if not shutil.which(tool):
            sys.exit(f"symbol-order: {tool} is needed (Debian: valgrind, redis-server, redis-tools, binutils)")
    if not os.access(source, os.X_OK):
        sys.exit(f"symbol-order: no release build at {source}: run `make release` first")

    work = tempfile.mkdtemp(prefix="faultline-order.")
    binary = os.path.join(work, "faultline")
    subprocess.run(["strip", "--strip-debug", "-o", binary, source], check=True)

    redis_port, http_port, udp_port = free_port(), free_port(), free_port(socket.SOCK_DGRAM)
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", LOOPBACK,
                              "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    web = ThreadingHTTP((LOOPBACK, http_port), Reply)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    stop = threading.Event()
    threading.Thread(target=udp_echo, args=(udp_port, stop), daemon=True).start()
    profile = os.path.join(ROOT, "bench", "noop-every-chunk.yaml")
    log = os.path.join(work, "events.jsonl")

    files = []
    try:
        for _ in range(50):
            try:
                socket.create_connection((LOOPBACK, redis_port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)

        def tcp(name, upstream, extra, drive):
            port = free_port()
            files.append(run_under_callgrind(
                binary, work, name,
                ["proxy", "--listen", f"{LOOPBACK}:{port}", "--upstream", f"{LOOPBACK}:{upstream}"] + extra,
                lambda: drive(port)))

        print("symbol-order: running faultline under callgrind", file=sys.stderr)
        tcp("start", http_port, [], lambda p: None)
        tcp("http", http_port, [], lambda p: http_keepalive(p, 2000, 10))
        tcp("redis", redis_port, [], lambda p: (redis_keepalive(p, 2000, 10), new_connections(p, 500)))
        tcp("http-log", http_port, ["--framing", "http", "--log", log],
            lambda p: http_keepalive(p, 2000, 10))
        tcp("resp-log", redis_port, ["--framing", "resp", "--log", log, "--pcap", os.path.join(work, "c.pcap")],
            lambda p: (redis_keepalive(p, 2000, 10), new_connections(p, 300)))
        tcp("rule", redis_port, ["--profile", profile], lambda p: redis_keepalive(p, 1000, 10))
        port = free_port(socket.SOCK_DGRAM)
        files.append(run_under_callgrind(
            binary, work, "udp",
            ["proxy", "--udp", "--listen", f"{LOOPBACK}:{port}", "--upstream", f"{LOOPBACK}:{udp_port}"],
            lambda: datagrams(port, 500)))
        control = free_port()

        def serve():
            proxy_port = free_port()
            body = ('{"name":"r","listen":"%s:%d","upstream":"%s:%d"}'
                    % (LOOPBACK, proxy_port, LOOPBACK, redis_port)).encode()
            import urllib.request
            request = urllib.request.Request(f"http://{LOOPBACK}:{control}/proxies", data=body,
                                             headers={"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=60).read()
            redis_keepalive(proxy_port, 1000, 10)
            urllib.request.urlopen(f"http://{LOOPBACK}:{control}/proxies", timeout=60).read()
        files.append(run_under_callgrind(binary, work, "serve",
                                         ["serve", "--api", f"{LOOPBACK}:{control}"], serve))
    finally:
        stop.set()
        web.shutdown()
        redis.terminate()
        redis.wait()

    # Grouped by the first scenario that ran them (what an idle proxy has run first, then
    # what passthrough adds, and so on), hottest first within each group: every
    # scenario's code then lies in as few pages as it can.
    first, total = {}, collections.Counter()
    for index, f in enumerate(files):
        costs = self_costs(f)
        for name in costs:
            first.setdefault(name, index)
        total.update(costs)
    defined = set()
    nm = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True)
    for line in nm.stdout.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            defined.add(parts[2])
    ordered = [name for name, _ in sorted(total.items(), key=lambda item: (first[item[0]], -item[1], item[0]))
               if name in defined]
    with open(OUTPUT, "w") as out:
        out.write("# Generated by scripts/symbol-order.py (`make symbol-order`): the functions\n")
        out.write("# faultline proxy and serve run, by scenario, hottest first. Do not edit by hand.\n")
        for name in ordered:
            out.write(name + "\n")
    shutil.rmtree(work, ignore_errors=True)
    print(f"symbol-order: wrote {len(ordered)} functions to {os.path.relpath(OUTPUT, ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
