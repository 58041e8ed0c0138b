#!/usr/bin/python3
# SPDX-License-Identifier: BSL-1.0
"""Memory of idle WebSockets over HTTP/2 streams against HTTP/1.1 connections.

Usage: benchmarks/http2_idle_memory.py <path to echo_server built with wsx::http2>

Starts `echo_server --http2`, opens 1,000 WebSocket streams (4 h2c connections
of 250, python3-h2 as the client) and reports the server's RSS growth per
stream, then the same for 1,000 HTTP/1.1 WebSocket connections. RSS is user
space only: the kernel's memory per TCP socket, which the streams share, is
not in it.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "interop"))
from h2_client import Client  # noqa: E402
from interop_helpers import start_server, stop_server  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


def main():
    server, port = start_server(sys.argv[1], "--http2")
    try:
        clients = []
        for _ in range(4):
            c = Client(port)
            c.pump(lambda: 3 in c.settings, 5)
            clients.append(c)
        time.sleep(0.3)
        base = rss_kib(server.pid)
        count = 0
        for c in clients:
            streams = [c.open_websocket("/") for _ in range(250)]
            c.pump(lambda: all(s.status for s in streams), 10)
            count += sum(s.status == 200 for s in streams)
        time.sleep(0.5)
        grown = rss_kib(server.pid) - base
        print(f"{count} idle WebSocket streams on 4 h2c connections: +{grown} KiB RSS, "
              f"{grown * 1024 / max(count, 1):.0f} B per stream")

        socks = []
        base = rss_kib(server.pid)
        for _ in range(1000):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            socks.append(s)
        for s in socks:
            s.recv(1024)
        time.sleep(0.5)
        grown = rss_kib(server.pid) - base
        print(f"1000 idle HTTP/1.1 WebSocket connections: +{grown} KiB RSS, {grown * 1024 / 1000:.0f} B per connection")
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
