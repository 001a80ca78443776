#!/usr/bin/python3
"""A tiny HTTP/1.1 upstream for the retry-checker tests. Standard library only.

Listens on 127.0.0.1 port 0 and prints `port N` as its first line. Answers every
method: 201 for POST, 200 for the rest, with a small JSON body and Content-Length
(none for HEAD). A path that starts with /slow sleeps first: `?ms=N` milliseconds
(500 by default). SIGTERM or SIGINT ends it at once.
"""

import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    executions = {}
    lock = threading.Lock()

    def log_message(self, format, *args):  # quiet: the proxy's log is the record
        pass

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        target = urlsplit(self.path)
        if target.path.startswith("/slow"):
            milliseconds = parse_qs(target.query).get("ms", ["500"])[0]
            time.sleep(int(milliseconds) / 1000.0)
        key = self.headers.get("Idempotency-Key")
        with Handler.lock:
            count = Handler.executions.get((self.command, self.path, body), 0) + 1
            Handler.executions[(self.command, self.path, body)] = count
        reply = json.dumps(
            {"method": self.command, "path": self.path, "key": key, "executed": count},
            separators=(",", ":"),
        ).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply)
        self.wfile.flush()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = answer


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a kept-alive connection must not hold up the exit
    request_queue_size = 128  # 22 clients at once must not overflow the backlog


def main():
    # A parent may start us with signals blocked (a test runner's thread mask is
    # inherited): take SIGTERM and SIGINT back, or the test waits for ever.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = Server(("127.0.0.1", 0), Handler)
    print(f"port {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
