#!/usr/bin/python3
"""A UDP client that asks `--count` queries in turn from one socket and re-sends a query
whose reply has not come within its timeout, so the retry checker can be shown a client
that re-sends at once and one that backs off. Standard library only.

    udp_retry_client.py --port P --count 20 --timeout 0.002 --backoff none
    udp_retry_client.py --port P --count 20 --timeout 0.1 --backoff exponential --seed 1

--backoff none re-sends as soon as the timeout passes; exponential doubles the timeout
after each attempt and adds full jitter (a uniform wait up to the timeout) from
random.Random(seed, query). Each query is given up after --attempts attempts. Prints
one JSON line per query and exits 0 (the checker judges what happened).
"""

import argparse
import json
import random
import socket
import time

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--count", type=int, default=20)
parser.add_argument("--timeout", type=float, default=0.1)
parser.add_argument("--attempts", type=int, default=5)
parser.add_argument("--backoff", choices=["none", "exponential"], default="exponential")
parser.add_argument("--seed", type=int, default=1)
args = parser.parse_args()

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.connect(("127.0.0.1", args.port))
for query in range(args.count):
    rng = random.Random(f"{args.seed}-{query}")
    payload = f"query {query}".encode()
    timeout = args.timeout
    sends = []
    answered = False
    for attempt in range(args.attempts):
        sock.send(payload)
        sends.append(time.monotonic())
        deadline = time.monotonic() + timeout
        while not answered:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                reply = sock.recv(65535)
            except socket.timeout:
                break
            # A late reply to this query's earlier attempt answers it too; an older
            # query's late reply is skipped.
            answered = reply == b"ok " + payload
        if answered:
            break
        if args.backoff == "exponential":
            time.sleep(rng.uniform(0, timeout))
            timeout *= 2
    print(json.dumps({"query": query, "attempts": len(sends), "answered": answered}), flush=True)
