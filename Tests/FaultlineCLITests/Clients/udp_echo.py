#!/usr/bin/python3
"""A UDP service for the retry checker's datagram tests: answers every datagram with
`ok ` and the datagram, from 127.0.0.1 on a port the kernel picks. Prints `port N`
first, then serves until killed. Standard library only."""

import socket
import sys

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0))
print(f"port {sock.getsockname()[1]}", flush=True)
while True:
    data, peer = sock.recvfrom(65535)
    sock.sendto(b"ok " + data, peer)
