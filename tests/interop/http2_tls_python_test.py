#!/usr/bin/python3
# SPDX-License-Identifier: BSL-1.0
"""Interop: WebSockets over HTTP/2 over TLS, ALPN "h2" (RFC 9113 §3.2, RFC
8441), with Python's ssl module and Debian's python3-h2 against wsx's TLS echo
example started with --http2; a client that offers only http/1.1 still gets
HTTP/1.1 on the same port.

Usage: http2_tls_python_test.py <path to tls_echo_server>
"""
import os
import shutil
import socket
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from h2_client import Client  # noqa: E402
from http2_python_test import many_streams, stop_with_streams  # noqa: E402
from interop_certs import make_certs  # noqa: E402
from interop_helpers import check, start_server, stop_server, summary  # noqa: E402


def tls_socket(port, ca, alpn):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(alpn)
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")


def main():
    d, ca, cert, key = make_certs()
    try:
        try:
            server, port = start_server(sys.argv[1], "--cert", cert, "--key", key, "--http2", scheme="wss")
        except RuntimeError as e:
            print("FAIL " + str(e))
            return 1
        try:
            sock = tls_socket(port, ca, ["h2", "http/1.1"])
            check("ALPN chose h2", sock.selected_alpn_protocol() == "h2", str(sock.selected_alpn_protocol()))
            c, open_streams = many_streams(port, lambda: Client(port, sock=sock))

            old = tls_socket(port, ca, ["http/1.1"])
            check("a client offering only http/1.1 gets it", old.selected_alpn_protocol() == "http/1.1")
            old.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            old.settimeout(5)
            check("and its upgrade is answered 101", old.recv(4096).startswith(b"HTTP/1.1 101"))
            old.close()
            stop_with_streams(server, c, open_streams)
        finally:
            code = stop_server(server)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    check("server exits cleanly after stop()", code == 0, f"exit {code}")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
