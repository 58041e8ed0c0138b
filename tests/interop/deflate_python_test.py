#!/usr/bin/python3
# SPDX-License-Identifier: BSL-1.0
"""Interop: permessage-deflate (RFC 7692) between Debian's python3-websockets and
wsx's echo example started with --deflate (and --deflate-no-context-takeover).

Usage: deflate_python_test.py <path to echo_server>
Exits non-zero on failure; the last line is "N passed, N failed".
"""
import asyncio
import json
import os
import socket
import sys
import zlib
import base64

import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_helpers import (RSV1, PongRecordingClient, check, check_closed_with, check_ping,  # noqa: E402
                             raw_frame, start_server, stop_server, summary)

TAIL = b"\x00\x00\xff\xff"


def json_message(size):
    """A JSON document of about `size` bytes, like an API would send."""
    items, n = [], 0
    while n < size:
        item = {"id": len(items), "name": f"item-{len(items)}", "tags": ["alpha", "beta"],
                "price": len(items) * 1.25, "in_stock": len(items) % 3 == 0}
        items.append(item)
        n += len(json.dumps(item)) + 2
    return json.dumps(items)


def deflate(data, level=6):
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


# ---- through the library -------------------------------------------------------------

CONFIGS = [
    # name, factory arguments, parameters expected in the server's answer
    ("default offer", None, []),
    ("context takeover, full windows",
     dict(client_max_window_bits=True), []),
    ("no context takeover",
     dict(server_no_context_takeover=True, client_no_context_takeover=True),
     ["server_no_context_takeover", "client_no_context_takeover"]),
    ("small windows",
     dict(server_max_window_bits=10, client_max_window_bits=9),
     ["server_max_window_bits=10", "client_max_window_bits=9"]),
]


async def library_cases(uri, server_name, server_params):
    for name, args, expected in CONFIGS:
        label = f"[{server_name}] {name}"
        if args is None:
            kw = dict(compression="deflate")
        else:
            kw = dict(compression=None, extensions=[ClientPerMessageDeflateFactory(**args)])
        async with websockets.connect(uri, max_size=None, create_protocol=PongRecordingClient, **kw) as ws:
            answer = ws.response_headers.get("Sec-WebSocket-Extensions", "")
            want = ["permessage-deflate"] + expected + server_params
            check(f"{label}: negotiated ({answer})",
                  answer.startswith("permessage-deflate") and all(p in answer for p in want), answer)
            cases = [
                ("small text", "hello"),
                ("unicode text", "héllo wörld ✓ 😀" * 20),
                ("empty text", ""),
                ("2 KiB JSON", json_message(2048)),
                ("1 MiB JSON", json_message(1 << 20)),
                ("1 MiB JSON again (shared window)", json_message(1 << 20)),
                ("incompressible 100 KiB binary", os.urandom(100 * 1024)),
                ("1 MiB zeros binary", bytes(1 << 20)),
            ]
            for what, msg in cases:
                await ws.send(msg)
                got = await ws.recv()
                check(f"{label}: {what}", got == msg, f"got {len(got)} bytes, want {len(msg)}")
            await ws.send([json_message(3000)[:1500], json_message(3000)[1500:]])
            check(f"{label}: fragmented JSON", await ws.recv() == json_message(3000))
            msgs = [json.dumps({"seq": i, "text": "pipelined " * (i % 50)}) for i in range(200)]
            for m in msgs:
                await ws.send(m)
            got = [await ws.recv() for _ in msgs]
            check(f"{label}: 200 pipelined JSON messages in order", got == msgs)
            await check_ping(ws, f"{label}: ping answered by a pong with its payload", b"ping")
            await ws.close()
            check(f"{label}: clean close", ws.close_code == 1000, str(ws.close_code))


async def violation_cases(uri):
    """Frames the library would never send, written under its feet on a connection
    that negotiated permessage-deflate: the server must close with the right code."""
    zeros = deflate(bytes(64 << 20), 9)  # 64 MiB of zeros in ~64 KiB: over the 16 MiB limit
    cases = [
        ("decompression bomb -> 1009", raw_frame(0x2, zeros, rsv=RSV1), 1009),
        ("invalid DEFLATE data -> 1007", raw_frame(0x2, b"\xff\xff\xff\xff", rsv=RSV1), 1007),
        ("compressed invalid UTF-8 -> 1007", raw_frame(0x1, deflate(b"ok \xff bad"), rsv=RSV1), 1007),
        ("RSV1 on a continuation -> 1002",
         raw_frame(0x1, deflate(b"abc")[:2], fin=False, rsv=RSV1)
         + raw_frame(0x0, deflate(b"abc")[2:], rsv=RSV1), 1002),
        ("RSV1 on a ping -> 1002", raw_frame(0x9, b"", rsv=RSV1), 1002),
    ]
    for name, frame, code in cases:
        async with websockets.connect(uri, max_size=None, compression="deflate") as ws:
            await check_closed_with(ws, name, frame, code, timeout=10)
    # Without the extension negotiated, RSV1 stays a protocol error.
    async with websockets.connect(uri, compression=None) as ws:
        check("no offer: no extension in the answer",
              "Sec-WebSocket-Extensions" not in ws.response_headers)
        await check_closed_with(ws, "no offer: RSV1 -> 1002",
                                raw_frame(0x1, deflate(b"Hello"), rsv=RSV1), 1002)


# ---- on the wire: what the server really sends ----------------------------------------

def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("server closed")
        buf += chunk
    return buf


def read_frame(sock):
    b0, b1 = read_exact(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(read_exact(sock, 2), "big")
    elif n == 127:
        n = int.from_bytes(read_exact(sock, 8), "big")
    return b0, read_exact(sock, n)


def wire_cases(port, offer, label, expect_reset):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"Sec-WebSocket-Extensions: {offer}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    head, rest = head.split(b"\r\n\r\n", 1)
    check(f"{label}: 101 with permessage-deflate",
          b" 101 " in head and b"permessage-deflate" in head, head.decode(errors="replace"))
    assert rest == b""
    inflater = zlib.decompressobj(-15)
    big = json_message(10000).encode()
    for i in range(2):
        sock.sendall(raw_frame(0x1, deflate(big), rsv=RSV1))
        b0, payload = read_frame(sock)
        check(f"{label}: 10 KB echo #{i + 1} has RSV1 and is compressed",
              b0 == 0xC1 and len(payload) < len(big) // 3, f"b0 {b0:#x}, {len(payload)} bytes")
        if expect_reset:
            inflater = zlib.decompressobj(-15)
        check(f"{label}: 10 KB echo #{i + 1} inflates back",
              inflater.decompress(payload + TAIL) == big)
    sock.sendall(raw_frame(0x1, b"tiny"))
    b0, payload = read_frame(sock)
    check(f"{label}: a message under the threshold goes uncompressed",
          b0 == 0x81 and payload == b"tiny", f"b0 {b0:#x}")
    sock.sendall(raw_frame(0x9, b"p"))
    b0, payload = read_frame(sock)
    check(f"{label}: pong never compressed", b0 == 0x8A and payload == b"p", f"b0 {b0:#x}")
    # The RFC 7692 7.2.3.1 fragmented example, masked.
    sock.sendall(raw_frame(0x1, b"\xf2\x48\xcd", fin=False, rsv=RSV1)
                 + raw_frame(0x0, b"\xc9\xc9\x07\x00"))
    b0, payload = read_frame(sock)
    check(f"{label}: RFC 7692 fragmented \"Hello\" echoed", b0 == 0x81 and payload == b"Hello",
          f"b0 {b0:#x} {payload!r}")
    sock.close()


def stop(server, name):
    code = stop_server(server)
    check(f"{name}: server exits cleanly on SIGTERM", code == 0, f"exit {code}")


def main():
    binary = sys.argv[1]
    server, port = start_server(binary, "--deflate")
    try:
        uri = f"ws://127.0.0.1:{port}/"
        asyncio.run(asyncio.wait_for(library_cases(uri, "--deflate", []), 120))
        asyncio.run(asyncio.wait_for(violation_cases(uri), 60))
        wire_cases(port, "permessage-deflate; client_max_window_bits", "wire, context takeover", False)
        wire_cases(port, "permessage-deflate; server_no_context_takeover", "wire, no context takeover", True)
    finally:
        stop(server, "--deflate")

    server, port = start_server(binary, "--deflate-no-context-takeover")
    try:
        uri = f"ws://127.0.0.1:{port}/"
        asyncio.run(asyncio.wait_for(library_cases(
            uri, "--deflate-no-context-takeover",
            ["server_no_context_takeover", "client_no_context_takeover"]), 120))
        wire_cases(port, "permessage-deflate", "wire, server imposes no context takeover", True)
    finally:
        stop(server, "--deflate-no-context-takeover")

    return summary()


if __name__ == "__main__":
    sys.exit(main())
