#!/usr/bin/env python3
"""Upstream for the idle-connection benchmark: accepts connections on 127.0.0.1:PORT,
echoes whatever arrives, and holds every connection open until the peer closes it.

    hold_server.py PORT      # prints "ready" on stdout once listening

Holds one descriptor per connection: a process of its own, apart from the clients and
the proxy, so none of the three needs more than the open-file limit.
"""
import asyncio
import resource
import sys


async def serve(reader, writer):
    try:
        while True:
            data = await reader.read(4096)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main(port):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=4096)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
