"""Drives `faultline serve` with Toxiproxy's own Python client (toxiproxy-python from
PyPI), unchanged: proxies created, toxics added and removed, a proxy taken down and
brought back, populate and reset. Exits 0 when every step behaved as against Toxiproxy.

usage: toxiproxy_client.py API_PORT ECHO_PORT
"""
import socket
import sys
import urllib.request
import time

from toxiproxy import Toxiproxy
from toxiproxy.exceptions import NotFound, ProxyExists


def exchange(port, payload=b"ping"):
    """Sends payload, half-closes, reads to the end; returns (reply, seconds)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply, time.monotonic() - start


def delays(api_port):
    """The latency toxic's delay faults so far, from the server's /metrics."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % api_port, timeout=30) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith('faultline_faults_injected_total{proxy="echo",rule="latency_downstream"'):
                return int(float(line.rsplit(" ", 1)[1]))
    return 0


def main():
    api_port, echo_port = int(sys.argv[1]), int(sys.argv[2])
    server = Toxiproxy()
    server.update_api_consumer("127.0.0.1", api_port)
    assert server.running(), "the client cannot reach the server"
    assert b'"2.12.0"' in server.version(), server.version()

    proxy = server.create(upstream="127.0.0.1:%d" % echo_port, name="echo")
    port = int(proxy.listen.rsplit(":", 1)[1])
    assert exchange(port)[0] == b"ping"
    try:
        server.create(upstream="127.0.0.1:%d" % echo_port, name="echo")
        raise AssertionError("a second proxy of the same name was accepted")
    except ProxyExists:
        pass

    proxy.add_toxic(type="latency", attributes={"latency": 2000})
    toxics = proxy.toxics()
    assert list(toxics) == ["latency_downstream"], toxics
    assert toxics["latency_downstream"].attributes == {"latency": 2000, "jitter": 0}
    reply, seconds = exchange(port)
    assert reply == b"ping" and seconds >= 2.0, (reply, seconds)
    proxy.destroy_toxic("latency_downstream")
    # The toxic is gone: the next exchange adds no delay fault (counted on /metrics,
    # not timed, so a loaded machine cannot fail it by being slow).
    before = delays(api_port)
    assert before >= 1, before
    reply, _ = exchange(port)
    assert reply == b"ping", reply
    assert delays(api_port) == before, (before, delays(api_port))

    with proxy.down():
        try:
            exchange(port)
            raise AssertionError("a disabled proxy accepted a connection")
        except ConnectionRefusedError:
            pass
    assert exchange(port)[0] == b"ping", "the proxy did not come back on its port"

    proxy.add_toxic(type="limit_data", stream="upstream", attributes={"bytes": 0})
    assert exchange(port)[0] == b""
    server.reset()
    assert proxy.toxics() == {}
    assert exchange(port)[0] == b"ping"

    made = server.populate([{"name": "second", "upstream": "127.0.0.1:%d" % echo_port, "listen": "127.0.0.1:0"}])
    assert [p.name for p in made] == ["second"], made
    assert sorted(server.proxies()) == ["echo", "second"]
    try:
        server.get_proxy("echo").destroy_toxic("nothing")
        raise AssertionError("removing a missing toxic succeeded")
    except NotFound:
        pass
    server.destroy_all()
    assert server.proxies() == {}
    print("ok")


if __name__ == "__main__":
    main()
