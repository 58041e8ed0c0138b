#!/usr/bin/python3
"""Interop: Debian's python3-websockets client against wsx's echo example.

Usage: python_echo_test.py <path to echo_server>
Starts the server on a free port, runs every case, exits non-zero on failure.
"""
import asyncio
import os
import re
import subprocess
import sys

import websockets

FAILED = []
PASSED = []


def raw_frame(opcode, payload, fin=True, rsv=0, mask=True):
    """Encodes a frame by hand: the library refuses to build invalid ones."""
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([mbit | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def check(name, cond, detail=""):
    (PASSED if cond else FAILED).append(name)
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else "  " + detail), flush=True)


async def run_cases(uri):
    async with websockets.connect(uri, max_size=None, compression=None) as ws:
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
        # Ping: the library waits for the matching pong.
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        check("ping answered by pong", True)
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
            ws.transport.write(frame)
            try:
                await asyncio.wait_for(ws.recv(), 5)
                check(name, False, "got a message")
            except websockets.ConnectionClosed as e:
                check(name, e.rcvd is not None and e.rcvd.code == code, str(e))

def main():
    server = subprocess.Popen([sys.argv[1], "--host", "127.0.0.1", "--port", "0"],
                              stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        match = re.search(r"ws://[\d.]+:(\d+)/", line)
        if not match:
            print("FAIL server did not print its URL: " + line)
            return 1
        uri = f"ws://127.0.0.1:{match.group(1)}/"
        asyncio.run(asyncio.wait_for(run_cases(uri), 60))
    finally:
        server.terminate()
        try:
            code = server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            code = "killed"
    check("server exits cleanly on SIGTERM", code == 0, f"exit {code}")
    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
