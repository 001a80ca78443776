#!/usr/bin/python3
"""Starts COUNT copies of Debian's curl at once, each `curl --retry 3` on its own path,
and waits for all of them: a fleet of real clients hit by the same fault.

    curl_fleet.py --port P --count 22 --path /many

Prints each curl's final HTTP status, one a line, and exits with the worst curl status.
A test runner may start us with signals blocked (its threads' mask is inherited): the
mask is cleared first so the curls start with none blocked, and each curl is awaited
with a blocking waitpid, which needs no SIGCHLD (a shell's `wait` does, and hangs).
"""

import argparse
import signal
import subprocess
import sys


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--path", default="/curl")
    parser.add_argument("--retries", type=int, default=3)
    arguments = parser.parse_args(argv)

    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    curls = [
        subprocess.Popen(
            [
                "/usr/bin/curl", "--silent", "--show-error", "--output", "/dev/null",
                "--write-out", "%{http_code}\\n", "--retry", str(arguments.retries),
                f"http://{arguments.host}:{arguments.port}{arguments.path}/{index}",
            ],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        for index in range(arguments.count)
    ]
    worst = 0
    for curl in curls:
        output, _ = curl.communicate()
        sys.stdout.write(output.decode())
        worst = max(worst, curl.returncode)
    sys.stdout.flush()
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
