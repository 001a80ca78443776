#!/usr/bin/python3
"""An HTTP client whose retry policy is chosen on the command line, so the retry checker
can be shown a client that breaks each rule and one that does not. Standard library only
(Debian's /usr/bin/python3).

    retry_client.py --port P --policy exponential-full-jitter --method POST --count 5

Every attempt opens a new connection (http.client), sends one request and closes. A
logical request is retried after an exception (timeout, reset, end of stream) or a
retryable status (408, 429, 500, 502, 503, 504; with --retry-4xx also other 4xx). Options
not given take the policy's value (POLICIES below); any option overrides it.

All chance comes from random.Random(seed, request index): no global randomness, so the
same seed gives the same delays and keys.

Prints one JSON line per logical request, with its attempts, and exits 0 (the checker,
not this client, judges what happened).
"""

import argparse
import http.client
import json
import random
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

RETRYABLE = {408, 429, 500, 502, 503, 504}

# What each policy does unless an option says otherwise. The careful client is
# exponential-full-jitter; every other policy breaks one habit of it.
CAREFUL = {
    "backoff": "exponential",  # none | constant | exponential
    "jitter": "full",  # none | full | equal
    "base": 0.05,
    "cap": 1.0,
    "max_attempts": 4,
    "timeout": 1.0,  # per attempt, seconds; None: wait for ever
    "deadline": 5.0,  # whole logical request, seconds; None: no deadline
    "keep_deadline": True,  # False: keeps retrying after the deadline passed
    "honour_retry_after": True,
    "retry_4xx": False,
    "hedge": None,  # seconds after which a second copy is sent while the first is in flight
    "resubmit": False,  # sends the request again after a success
    "new_payload": False,  # after a success, reuses the key with a different body
    "key": "same",
    "keep_alive": False,  # True: the attempts of one request share a connection while it lasts
}

POLICIES = {
    "exponential-full-jitter": {},
    # The clients that retry at once keep the connection, as curl and urllib3 do: a retry
    # on a new connection waits for the proxy to accept and dial (ms in a debug build).
    "none": {"backoff": "none", "jitter": "none", "max_attempts": 3, "honour_retry_after": False, "keep_alive": True},
    "constant": {"backoff": "constant", "jitter": "none"},
    "key-rotating": {"key": "rotate"},
    "ignore-retry-after": {"honour_retry_after": False},
    "no-timeout": {"timeout": None, "deadline": None},
    "hedge": {"hedge": 0.1},
    "retry-4xx": {"retry_4xx": True},
    "too-many": {"max_attempts": 8, "deadline": None},
    # Equal jitter (at least half of each nominal delay): 5 attempts take over 1.5 s,
    # well past the 1 s deadline it declares and then ignores.
    "past-deadline": {"keep_deadline": False, "max_attempts": 5, "base": 0.2, "jitter": "equal", "deadline": 1.0},
    "resubmit-after-success": {"resubmit": True},
    "key-new-payload": {"new_payload": True},
    "storm": {"backoff": "none", "jitter": "none", "max_attempts": 10, "honour_retry_after": False, "keep_alive": True},
}


def seconds_or_none(text):
    return None if text in ("none", "0") else float(text)


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--policy", choices=sorted(POLICIES), default="exponential-full-jitter")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--path", default="/items/{i}", help="{i} is replaced by the request's index")
    parser.add_argument("--count", type=int, default=1, help="logical requests")
    parser.add_argument("--parallel", type=int, default=1, help="logical requests in flight at once")
    parser.add_argument("--body", default=None, help='default for POST/PUT/PATCH: {"n": I}; {i} is replaced')
    parser.add_argument("--body-bytes", type=int, default=0, help="pad the default body to about this many bytes")
    parser.add_argument("--key", choices=["same", "rotate", "none"], default=None)
    parser.add_argument("--key-header", default="Idempotency-Key", help="the header that carries the key")
    parser.add_argument("--backoff", choices=["none", "constant", "exponential"], default=None)
    parser.add_argument("--jitter", choices=["none", "full", "equal"], default=None)
    parser.add_argument("--base", type=float, default=None, help="first delay, seconds")
    parser.add_argument("--cap", type=float, default=None, help="longest delay, seconds")
    parser.add_argument("--max-attempts", type=int, default=None)
    parser.add_argument("--timeout", default=None, help="per attempt, seconds, or none")
    parser.add_argument("--deadline", default=None, help="per logical request, seconds, or none")
    parser.add_argument("--ignore-deadline", action="store_true", help="keep retrying after the deadline")
    parser.add_argument("--retry-after", choices=["honour", "ignore"], default=None)
    parser.add_argument("--retry-4xx", action="store_true", default=None)
    parser.add_argument("--hedge", type=float, default=None, help="send a second copy after this many seconds in flight")
    parser.add_argument("--resubmit-after-success", action="store_true", default=None)
    parser.add_argument("--reuse-key-new-body", action="store_true", default=None)
    parser.add_argument("--keep-alive", choices=["yes", "no"], default=None, help="retry on the same connection while it lasts")
    parser.add_argument(
        "--stagger", type=float, default=0.0,
        help="start logical request i this many seconds times i after the first, so parallel requests do not wake together",
    )
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args(argv)

    settings = dict(CAREFUL)
    settings.update(POLICIES[arguments.policy])
    explicit = {
        "key": arguments.key,
        "backoff": arguments.backoff,
        "jitter": arguments.jitter,
        "base": arguments.base,
        "cap": arguments.cap,
        "max_attempts": arguments.max_attempts,
        "hedge": arguments.hedge,
        "retry_4xx": arguments.retry_4xx,
        "resubmit": arguments.resubmit_after_success,
        "new_payload": arguments.reuse_key_new_body,
    }
    settings.update({name: value for name, value in explicit.items() if value is not None})
    if arguments.timeout is not None:
        settings["timeout"] = seconds_or_none(arguments.timeout)
    if arguments.deadline is not None:
        settings["deadline"] = seconds_or_none(arguments.deadline)
    if arguments.ignore_deadline:
        settings["keep_deadline"] = False
    if arguments.keep_alive is not None:
        settings["keep_alive"] = arguments.keep_alive == "yes"
    if arguments.retry_after is not None:
        settings["honour_retry_after"] = arguments.retry_after == "honour"
    return arguments, settings


class Client:
    def __init__(self, arguments, settings):
        self.arguments = arguments
        self.settings = settings
        self.print_lock = threading.Lock()

    # One attempt: a new connection (or the kept one), one request, the whole reply read,
    # closed unless kept.
    def attempt(self, method, path, body, key, timeout, kept=None):
        record = {"start": time.monotonic(), "key": key}
        headers = {"Host": f"{self.arguments.host}:{self.arguments.port}", "User-Agent": f"retry-client/{self.arguments.policy}"}
        if key is not None:
            headers[self.arguments.key_header] = key
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection = kept.pop("connection", None) if kept is not None else None
        if connection is None:
            connection = http.client.HTTPConnection(self.arguments.host, self.arguments.port, timeout=timeout)
        else:
            record["reused"] = True
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
        failed = True
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            record["status"] = response.status
            retry_after = response.getheader("Retry-After")
            if retry_after is not None:
                record["retry_after"] = retry_after
            failed = response.will_close
        except socket.timeout:
            record["error"] = "timeout"
        except (ConnectionError, http.client.HTTPException, OSError) as error:
            record["error"] = type(error).__name__
        finally:
            if kept is not None and not failed:
                kept["connection"] = connection
            else:
                connection.close()
        record["end"] = time.monotonic()
        return record

    # The first attempt with a hedge: a copy goes out if no reply came within `hedge`
    # seconds; the first to finish answers, and both are awaited so neither is cut.
    def hedged_attempt(self, method, path, body, key, timeout):
        results = []
        finished = threading.Event()
        lock = threading.Lock()

        def run(copy_key):
            result = self.attempt(method, path, body, copy_key, timeout)
            with lock:
                results.append(result)
            finished.set()

        first = threading.Thread(target=run, args=(key,))
        first.start()
        threads = [first]
        if not finished.wait(self.settings["hedge"]):
            second = threading.Thread(target=run, args=(key,))
            second.start()
            threads.append(second)
        for thread in threads:
            thread.join()
        results.sort(key=lambda result: result["start"])
        answered = [result for result in results if "status" in result]
        return results, (min(answered, key=lambda result: result["end"]) if answered else results[-1])

    def delay(self, retry, rng, retry_after):
        settings = self.settings
        if settings["backoff"] == "none":
            nominal = 0.0
        elif settings["backoff"] == "constant":
            nominal = settings["base"]
        else:
            nominal = min(settings["cap"], settings["base"] * (2 ** retry))
        if settings["jitter"] == "full":
            wait = rng.uniform(0, nominal)
        elif settings["jitter"] == "equal":
            wait = nominal / 2 + rng.uniform(0, nominal / 2)
        else:
            wait = nominal
        if settings["honour_retry_after"] and retry_after is not None:
            try:
                wait = max(wait, float(retry_after))
            except ValueError:
                pass
        return wait

    def retryable(self, record):
        if "error" in record:
            return True
        status = record["status"]
        if status in RETRYABLE:
            return True
        return self.settings["retry_4xx"] and 400 <= status < 500

    def new_key(self, index, rng):
        return f"rc-{self.arguments.seed}-{index}-{rng.getrandbits(64):016x}"

    def logical_request(self, index):
        settings = self.settings
        rng = random.Random(self.arguments.seed * 1_000_003 + index)
        method = self.arguments.method.upper()
        path = self.arguments.path.replace("{i}", str(index))
        body = self.arguments.body
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = json.dumps({"n": index, "seed": self.arguments.seed, "pad": "x" * self.arguments.body_bytes})
        elif body is not None:
            body = body.replace("{i}", str(index))
        key = None if settings["key"] == "none" else self.new_key(index, rng)
        if self.arguments.stagger > 0:
            time.sleep(index * self.arguments.stagger)

        started = time.monotonic()
        kept = {} if settings["keep_alive"] else None
        attempts = []
        outcome = "gave_up"
        retry = 0
        while True:
            timeout = settings["timeout"]
            if settings["deadline"] is not None and settings["keep_deadline"]:
                remaining = started + settings["deadline"] - time.monotonic()
                timeout = max(0.01, remaining if timeout is None else min(timeout, remaining))
            if settings["hedge"] is not None and not attempts:
                copies, record = self.hedged_attempt(method, path, body, key, timeout)
                attempts.extend(copies)
            else:
                record = self.attempt(method, path, body, key, timeout, kept)
                attempts.append(record)
            if not self.retryable(record):
                outcome = "ok" if record["status"] < 400 else "failed"
                break
            if len(attempts) >= settings["max_attempts"]:
                break
            wait = self.delay(retry, rng, record.get("retry_after"))
            retry += 1
            if settings["deadline"] is not None and settings["keep_deadline"]:
                if time.monotonic() + wait >= started + settings["deadline"]:
                    outcome = "deadline"
                    break
            time.sleep(wait)
            if settings["key"] == "rotate":
                key = self.new_key(index, rng)
        if kept is not None and "connection" in kept:
            kept.pop("connection").close()

        if outcome == "ok" and settings["resubmit"]:
            # The same request again, though it succeeded: a double submission.
            time.sleep(settings["base"])
            attempts.append(self.attempt(method, path, body, key, settings["timeout"]))
        if outcome == "ok" and settings["new_payload"] and key is not None:
            # Another operation under a key already used: the key is not unique.
            time.sleep(settings["base"])
            changed = json.dumps({"n": index, "seed": self.arguments.seed, "changed": True}) if body is not None else None
            attempts.append(self.attempt(method if changed is not None else "POST", path, changed or "{}", key, settings["timeout"]))

        line = {
            "request": index,
            "method": method,
            "path": path,
            "outcome": outcome,
            "attempts": [
                {name: (round(value - started, 4) if name in ("start", "end") else value) for name, value in record.items()}
                for record in attempts
            ],
        }
        with self.print_lock:
            print(json.dumps(line, separators=(",", ":")), flush=True)

    def run(self):
        count = self.arguments.count
        with ThreadPoolExecutor(max_workers=max(1, self.arguments.parallel)) as pool:
            for future in [pool.submit(self.logical_request, index) for index in range(count)]:
                future.result()


def main(argv):
    arguments, settings = parse_arguments(argv)
    Client(arguments, settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
