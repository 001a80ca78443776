#!/usr/bin/env python3
"""Opens COUNT TCP connections to 127.0.0.1:PORT, sends BYTES (default 1) on each and
waits for them to come back (so every connection is known to reach the upstream, and
has carried BYTES each way), then holds them all idle for HOLD seconds (or until
killed) and closes them.

    idle_conns.py PORT COUNT HOLD [BYTES]

Prints "ready N" (N = connections that completed the round trip) once every attempt
has finished, then "failed M" (M may be 0). At most 200 connections are being opened
at any moment, and each attempt gives up after 10 s, so opening is bounded in time.
Needs COUNT + a few open files: it raises its soft limit to the hard one.
"""
import asyncio
import resource
import sys


async def open_one(port, sem, conns, failures, size):
    async with sem:
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
            payload = b"x" * size
            writer.write(payload)
            await writer.drain()
            data = await asyncio.wait_for(reader.readexactly(size), 10)
            if data != payload:
                raise ConnectionError("bad echo")
            conns.append(writer)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError) as error:
            failures.append(repr(error))
            if writer is not None:
                writer.close()


async def main(port, count, hold, size):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sem = asyncio.Semaphore(200)
    conns, failures = [], []
    await asyncio.gather(*(open_one(port, sem, conns, failures, size) for _ in range(count)))
    print("ready %d" % len(conns), flush=True)
    print("failed %d" % len(failures), flush=True)
    for reason in sorted(set(failures))[:5]:
        print("  e.g. %s" % reason, flush=True)
    await asyncio.sleep(hold)
    for w in conns:
        w.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 1))
