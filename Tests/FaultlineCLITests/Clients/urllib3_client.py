#!/usr/bin/python3
"""Debian's urllib3 (python3-urllib3, 1.26) as the retry checker meets it in the wild.

    urllib3_client.py --port P [--count N] [--parallel N] [--path /u/{i}] [--method GET]

One PoolManager (so retries may reuse a kept-alive connection, as urllib3 does), and
`Retry(total=3, backoff_factor=0.2, status_forcelist=[503])` with urllib3's defaults
otherwise: the first retry is immediate, then 0.4 s, 0.8 s (no jitter in 1.26), GET and
the other idempotent methods only, Retry-After honoured for 413/429/503.

Prints one JSON line per logical request (its final status, or the error) and exits 0.
"""

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import urllib3
from urllib3.util.retry import Retry


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--path", default="/u/{i}")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=1)
    arguments = parser.parse_args(argv)

    retry = Retry(total=3, backoff_factor=0.2, status_forcelist=[503])
    pool = urllib3.PoolManager(retries=retry, timeout=urllib3.Timeout(connect=2.0, read=2.0), maxsize=max(1, arguments.parallel))
    lock = threading.Lock()

    def one(index):
        path = arguments.path.replace("{i}", str(index))
        started = time.monotonic()
        line = {"request": index, "method": arguments.method, "path": path, "urllib3": urllib3.__version__}
        try:
            response = pool.request(arguments.method, f"http://{arguments.host}:{arguments.port}{path}")
            line["status"] = response.status
            line["retries"] = len(response.retries.history) if response.retries else 0
        except urllib3.exceptions.HTTPError as error:
            line["error"] = type(error).__name__
        line["seconds"] = round(time.monotonic() - started, 4)
        with lock:
            print(json.dumps(line, separators=(",", ":")), flush=True)

    with ThreadPoolExecutor(max_workers=max(1, arguments.parallel)) as executor:
        for future in [executor.submit(one, index) for index in range(arguments.count)]:
            future.result()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
