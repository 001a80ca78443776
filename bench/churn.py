#!/usr/bin/env python3
"""Opens COUNT short TCP connections to 127.0.0.1:PORT, PARALLEL at a time: each sends
the same line, waits for it to come back (or for the proxy to cut it), and closes. After
each tenth of them it prints the RSS of process PID, so a leak per connection shows as
a line that keeps climbing.

    churn.py PORT COUNT PARALLEL PID

Prints one line per tenth ("after N connections: RSS KiB"), then a JSON summary:
{"connections": N, "echoed": E, "cut": C, "rss_kib": [..]}. Cut connections (a profile
that severs or drops) are counted, not errors. Each connection gives up after 10 s.
"""
import asyncio
import json
import sys


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


# The same line every time: a proxy with framing remembers each distinct request for a
# while (the attempt ledger, bounded by count and time), which is not a leak; the same
# request on every connection isolates what each connection leaves behind.
LINE = b"churn\n"


async def one(port, counts):
    line = LINE
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
        try:
            writer.write(line)
            await writer.drain()
            echoed = await asyncio.wait_for(reader.readline(), 10)
            counts["echoed" if echoed == line else "cut"] += 1
        finally:
            writer.close()
    except (OSError, asyncio.TimeoutError, ConnectionError):
        counts["cut"] += 1


async def main(port, count, parallel, pid):
    counts = {"echoed": 0, "cut": 0}
    samples = []
    tenth = max(1, count // 10)
    done = 0
    while done < count:
        batch = min(tenth, count - done)
        for start in range(done, done + batch, parallel):
            await asyncio.gather(*(one(port, counts) for _ in range(start, min(start + parallel, done + batch))))
        done += batch
        samples.append(rss_kib(pid))
        print(f"after {done} connections: {samples[-1]} KiB", flush=True)
    print(json.dumps({"connections": done, **counts, "rss_kib": samples}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
