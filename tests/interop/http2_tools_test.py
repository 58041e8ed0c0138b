#!/usr/bin/python3
# SPDX-License-Identifier: BSL-1.0
"""Interop: nghttp2's command-line clients (Debian's nghttp2-client: nghttp,
h2load) fetch the HTTP routes of wsx's broadcast example over h2c, and the
REST summary says which protocol each WebSocket came over.

Usage: http2_tools_test.py <path to broadcast_server>
Exits 77 (skipped) when nghttp or h2load is not installed.
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from h2_client import Client, ws_frame  # noqa: E402
from interop_helpers import check, start_server, stop_server, summary  # noqa: E402


def main():
    nghttp, h2load = shutil.which("nghttp"), shutil.which("h2load")
    if not nghttp or not h2load:
        print("SKIP nghttp2-client (nghttp, h2load) is not installed")
        return 77
    try:
        server, port = start_server(sys.argv[1], "--http2", scheme="http")
    except RuntimeError as e:
        print("FAIL " + str(e))
        return 1
    base = f"http://127.0.0.1:{port}"
    try:
        # nghttp speaks h2c with prior knowledge when given no upgrade flag.
        out = subprocess.run([nghttp, "-v", base + "/"], capture_output=True, text=True, timeout=10)
        check("nghttp fetches the page over h2c", ":status: 200" in out.stdout and "<html" in out.stdout.lower(),
              out.stdout[-300:] + out.stderr[-300:])
        check("the server advertised SETTINGS_ENABLE_CONNECT_PROTOCOL", "ENABLE_CONNECT_PROTOCOL" in out.stdout
              or "UNKNOWN(0x08):1" in out.stdout or "(0x08):1" in out.stdout, out.stdout[:600])

        # One WebSocket over HTTP/2 and one over HTTP/1.1; the REST summary tells them apart.
        c = Client(port)
        ws = c.open_websocket("/ws")
        c.pump(lambda: ws.status, 5)
        check("extended CONNECT to the broadcast endpoint answered 200", ws.status == 200, str(ws.status))
        import socket
        h1 = socket.create_connection(("127.0.0.1", port))
        h1.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        h1.settimeout(5)
        h1.recv(4096)
        out = subprocess.run([nghttp, base + "/api/connections"], capture_output=True, text=True, timeout=10)
        try:
            listing = json.loads(out.stdout)
            protocols = sorted(x["protocol"] for x in listing["connections"])
        except (ValueError, KeyError, TypeError) as e:
            protocols = f"{e}: {out.stdout[:200]}"
        check("REST summary: one WebSocket over h2, one over http/1.1", protocols == ["h2", "http/1.1"], str(protocols))

        # A REST broadcast reaches the WebSocket stream.
        out = subprocess.run([nghttp, "-d", "-", "-H", ":method: POST", "-H", "content-type: application/json",
                              base + "/api/connections/broadcast"], input='{"message":"over h2"}',
                             capture_output=True, text=True, timeout=10)
        got = c.pump(lambda: any(b"over h2" in p for _, p in ws.messages()), 5)
        check("a REST broadcast posted over h2 reaches the h2 WebSocket", got, out.stdout + out.stderr)
        c.close()
        h1.close()

        out = subprocess.run([h2load, "-n", "400", "-c", "4", "-m", "10", base + "/api/connections"],
                             capture_output=True, text=True, timeout=30)
        check("h2load: 400 requests on 4 connections, all 2xx",
              "400 succeeded" in out.stdout and "400 2xx" in out.stdout, out.stdout[-500:])
    finally:
        code = stop_server(server)
    check("server exits cleanly on SIGTERM", code == 0, f"exit {code}")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
