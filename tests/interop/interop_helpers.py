# SPDX-License-Identifier: BSL-1.0
"""Helpers shared by the Python interop tests: the pass/fail counter, frames
encoded by hand, pings whose pongs are checked, and starting and stopping a
wsx example (the Python side of interop_helpers.js)."""
import asyncio
import os
import re
import signal
import subprocess

import websockets
from websockets.frames import Opcode
from websockets.legacy.client import WebSocketClientProtocol
from websockets.legacy.server import WebSocketServerProtocol

FAILED = []
PASSED = []


def check(name, cond, detail=""):
    (PASSED if cond else FAILED).append(name)
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else "  " + detail), flush=True)


def summary():
    """Prints the "N passed, N failed" line; returns the exit status."""
    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


def raw_frame(opcode, payload, fin=True, rsv=0, mask=True):
    """Encodes a client frame by hand: the library refuses to build invalid ones.
    `rsv` holds the three reserved bits, RSV1 (4) to RSV3 (1)."""
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


RSV1 = 4  # the "compressed" bit of permessage-deflate (RFC 7692)


async def check_closed_with(ws, name, frame, code, timeout=5):
    """Writes `frame` under the library's feet; the server must close the
    connection with `code` instead of answering."""
    ws.transport.write(frame)
    try:
        await asyncio.wait_for(ws.recv(), timeout)
        check(name, False, "got a message")
    except websockets.ConnectionClosed as e:
        check(name, e.rcvd is not None and e.rcvd.code == code, str(e))


class _RecordsPongs:
    """Keeps the payload of every pong the peer sends, in order, in `pongs`:
    the library itself only uses them to settle its ping waiters."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pongs = []

    async def read_frame(self, max_size):
        frame = await super().read_frame(max_size)
        if frame.opcode == Opcode.PONG:
            self.pongs.append(frame.data)
        return frame


class PongRecordingClient(_RecordsPongs, WebSocketClientProtocol):
    """For websockets.connect(..., create_protocol=PongRecordingClient)."""


class PongRecordingServer(_RecordsPongs, WebSocketServerProtocol):
    """For websockets.serve(..., create_protocol=PongRecordingServer)."""


async def ping_for_pongs(ws, payload, timeout=5):
    """Pings with `payload` on a connection made with PongRecordingClient or
    PongRecordingServer. Returns whether the
    library saw its pong within `timeout`, and the payloads of every pong that
    arrived meanwhile."""
    before = len(ws.pongs)
    try:
        await asyncio.wait_for(await ws.ping(payload), timeout)
        answered = True
    except asyncio.TimeoutError:
        answered = False
    return answered, ws.pongs[before:]


async def check_ping(ws, name, payload, timeout=5):
    """The peer must answer a ping with exactly one pong carrying the same
    payload (RFC 6455 §5.5.3)."""
    answered, pongs = await ping_for_pongs(ws, payload, timeout)
    check(name, answered and pongs == [payload],
          f"pongs {pongs!r}" + ("" if answered else f", none matched within {timeout} s"))


def start_server(binary, *flags, scheme="ws"):
    """Starts `binary` on a free port (it prints its URL first); returns the
    process and the port. Raises RuntimeError when no URL comes out."""
    server = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", "0", *flags],
                              stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    match = re.search(re.escape(scheme) + r"://[\d.]+:(\d+)/", line)
    if not match:
        server.kill()
        server.wait()
        raise RuntimeError("server did not print its URL: " + line)
    return server, int(match.group(1))


def send_stop(server):
    """Sends SIGTERM now, for a test that checks what the server does while it
    stops; a later stop_server() then only waits. A second SIGTERM could land
    after run() has returned and the signal handler is gone (an ASan build's
    exit is slow) and end the process with the default action (-15)."""
    server.wsx_stopping = True
    server.send_signal(signal.SIGTERM)


def stop_server(server):
    """SIGTERM must stop the server gracefully: returns its exit status, or
    "killed" when it had not exited within 10 s."""
    if not getattr(server, "wsx_stopping", False):
        server.terminate()
    try:
        return server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        return "killed"
