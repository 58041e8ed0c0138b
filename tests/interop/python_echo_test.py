#!/usr/bin/python3
# SPDX-License-Identifier: BSL-1.0
"""Interop: Debian's python3-websockets client against wsx's echo example.

Usage: python_echo_test.py <path to echo_server>
Starts the server on a free port, runs every case, exits non-zero on failure.
"""
import asyncio
import os
import sys

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_helpers import (PongRecordingClient, check, check_closed_with, check_ping, raw_frame,  # noqa: E402
                             start_server, stop_server, summary)


async def run_cases(uri):
    async with websockets.connect(uri, max_size=None, compression=None,
                                  create_protocol=PongRecordingClient) as ws:
        for text in ["hello", "", "héllo wörld ✓ 😀", "x" * 125]:
            await ws.send(text)
            got = await ws.recv()
            check(f"text {len(text)} chars", got == text and isinstance(got, str), repr(got)[:80])
        for size in [0, 1, 125, 126, 127, 65535, 65536, 8 * 1024 * 1024]:
            data = os.urandom(size)
            await ws.send(data)
            got = await ws.recv()
            check(f"binary {size} bytes", got == data and isinstance(got, bytes), f"len {len(got)}")
        # Fragmented messages: an iterable is sent as continuation frames.
        await ws.send(["frag", "mented ", "text ✓"])
        check("fragmented text", await ws.recv() == "fragmented text ✓")
        await ws.send([b"\x00\x01", b"", b"\x02"])
        check("fragmented binary", await ws.recv() == b"\x00\x01\x02")
        # Ping: one pong comes back with the ping's payload, a binary one too.
        await check_ping(ws, "ping answered by a pong with its payload", b"are you there")
        await check_ping(ws, "binary 125-byte ping answered in kind", bytes(range(125)))
        await check_ping(ws, "empty ping answered by an empty pong", b"")
        # Several messages in flight at once keep their order.
        for i in range(100):
            await ws.send(f"m{i}")
        got = [await ws.recv() for _ in range(100)]
        check("100 pipelined messages in order", got == [f"m{i}" for i in range(100)])
        # Close with a code and reason: the server echoes the code.
        await ws.close(code=4001, reason="done here")
        check("close code echoed", ws.close_code == 4001, str(ws.close_code))

    # Violations written as raw frames under the library's feet; the server
    # must answer each with the right close code (RFC 6455 §5.2, §8.1, §5.5).
    raw_cases = [
        ("reserved bit rsv2 -> 1002", raw_frame(0x1, b"bad", rsv=2), 1002),
        ("reserved opcode 3 -> 1002", raw_frame(0x3, b"bad"), 1002),
        ("invalid UTF-8 -> 1007", raw_frame(0x1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xed\xa0\x80"), 1007),
        ("fragmented ping -> 1002", raw_frame(0x9, b"x", fin=False), 1002),
        ("126-byte ping -> 1002", raw_frame(0x9, b"x" * 126), 1002),
        ("continuation without start -> 1002", raw_frame(0x0, b"x"), 1002),
        ("new message inside fragmented one -> 1002",
         raw_frame(0x1, b"a", fin=False) + raw_frame(0x1, b"b"), 1002),
        ("1-byte close payload -> 1002", raw_frame(0x8, b"\x03"), 1002),
        ("close code 1005 on the wire -> 1002", raw_frame(0x8, b"\x03\xed"), 1002),
        ("unmasked frame -> 1002", raw_frame(0x1, b"unmasked", mask=False), 1002),
    ]
    for name, frame, code in raw_cases:
        async with websockets.connect(uri, compression=None) as ws:
            await check_closed_with(ws, name, frame, code)

def main():
    try:
        server, port = start_server(sys.argv[1])
    except RuntimeError as e:
        print("FAIL " + str(e))
        return 1
    try:
        asyncio.run(asyncio.wait_for(run_cases(f"ws://127.0.0.1:{port}/"), 60))
    finally:
        code = stop_server(server)
    check("server exits cleanly on SIGTERM", code == 0, f"exit {code}")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
