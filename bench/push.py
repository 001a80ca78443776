#!/usr/bin/env python3
"""Pushes BYTES through 127.0.0.1:PORT (a proxy in front of an echo server) on CONNS
connections at once, reading the echo back as it goes, and says what came back.

    push.py PORT BYTES CONNS [SECONDS]

Each connection sends its share of BYTES (a pattern that depends on the connection and
the offset, so a byte moved, lost or repeated shows), half-closes, and reads until the
end of stream. It gives up when nothing arrives for 10 s (a fault that holds bytes
back, a partition) or when SECONDS (default 600) have passed since the start, so a run
is bounded in time whatever the profile does. Prints one line of JSON: bytes sent and
received, connections that came back byte for byte ("exact"), that got a byte back
which was not the one sent at its place ("wrong"), ended early, reset or timed out.
Loopback only.
"""
import asyncio
import json
import sys
import time

BLOCK = 1 << 16


def pattern(conn, offset, size):
    # 251 is prime: a byte out of place differs from the one expected.
    base = (conn * 7 + offset) % 251
    block = bytes((base + i) % 251 for i in range(251))
    start = 0
    out = bytearray()
    while len(out) < size:
        out += block[start:]
        start = 0
    return bytes(out[:size])


CYCLE = pattern(0, 0, 251 * 300)


def piece(conn, offset, size):
    shift = (conn * 7 + offset) % 251
    return CYCLE[shift:shift + size]


async def one(port, conn, share, deadline, stats, gate):
    try:
        async with gate:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
    except (OSError, asyncio.TimeoutError):
        stats["connect_failed"] += 1
        return
    received = 0
    exact = True

    async def send():
        offset = 0
        try:
            while offset < share and time.monotonic() < deadline:
                size = min(BLOCK, share - offset)
                writer.write(piece(conn, offset, size))
                await writer.drain()
                offset += size
                stats["sent"] += size
            writer.write_eof()
        except (OSError, ConnectionError):
            pass

    sender = asyncio.create_task(send())
    ending = "eof"
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                ending = "timeout"
                break
            data = await asyncio.wait_for(reader.read(BLOCK), min(10, left))
            if not data:
                break
            if exact and data != piece(conn, received, len(data)):
                exact = False
            received += len(data)
            stats["received"] += len(data)
    except asyncio.TimeoutError:
        ending = "timeout"
    except (ConnectionResetError, BrokenPipeError):
        ending = "reset"
    except OSError:
        ending = "error"
    sender.cancel()
    writer.close()
    stats[ending] += 1
    if exact and received == share and ending == "eof":
        stats["exact"] += 1
    if not exact:
        # A byte back that is not the byte sent at its place (a cut run still counts
        # as right so far when everything it got matched).
        stats["wrong"] += 1


async def main(port, total, conns, seconds):
    stats = {k: 0 for k in ("sent", "received", "exact", "wrong", "eof", "reset", "timeout", "error", "connect_failed")}
    deadline = time.monotonic() + seconds
    share = total // conns
    started = time.monotonic()
    # At most 200 connections are being opened at once.
    gate = asyncio.Semaphore(200)

    await asyncio.gather(*(one(port, c, share, deadline, stats, gate) for c in range(conns)))
    stats["seconds"] = round(time.monotonic() - started, 1)
    stats["connections"] = conns
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    port, total, conns = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 600
    asyncio.run(main(port, total, conns, seconds))
