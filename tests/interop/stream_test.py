#!/usr/bin/python3
# SPDX-License-Identifier: BSL-1.0
"""The stream example sends 1,000,000 readings to a slow client while the
server's memory stays flat, then a fragmented JSON array to another client.

Usage: stream_test.py <path to stream_server> [count]
"""
import asyncio
import json
import os
import sys
import time

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_helpers import check, start_server, summary  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def slow_then_fast(uri, pid, count):
    async with websockets.connect(uri, max_queue=4, compression=None) as ws:
        base = rss_kib(pid)  # before the stream starts: everything it costs counts
        await ws.send(f"start {count}")
        first = json.loads(await ws.recv())
        check("first reading is seq 0", first["seq"] == 0, str(first))
        peak = rss_kib(pid)
        received, expected = 1, 1
        in_order = True
        # Read slowly for a while: the server must not buffer what we do not read.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            for _ in range(50):
                m = json.loads(await ws.recv())
                in_order &= m["seq"] == expected
                expected += 1
                received += 1
            await asyncio.sleep(0.05)
            peak = max(peak, rss_kib(pid))
        check(f"server RSS flat while the client reads slowly (+{peak - base} KiB)",
              peak - base < 8 * 1024, f"base {base} KiB, peak {peak} KiB")
        # Then drain the rest as fast as we can.
        while received < count:
            m = await ws.recv()
            if received % 1000 == 0:
                in_order &= json.loads(m)["seq"] == received
            received += 1
            if received % 100000 == 0:
                peak = max(peak, rss_kib(pid))
        check(f"all {count} readings arrived, in order", received == count and in_order)
        check(f"server RSS stayed flat for the whole stream (+{peak - base} KiB)", peak - base < 8 * 1024)


async def fragmented_array(uri, n):
    async with websockets.connect(uri, max_size=None, compression=None) as ws:
        await ws.send(f"array {n}")
        data = json.loads(await ws.recv())
        check(f"one fragmented message holding a {n}-element JSON array",
              isinstance(data, list) and len(data) == n and data[-1]["seq"] == n - 1)


def main():
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    try:
        server, port = start_server(sys.argv[1])
    except RuntimeError as e:
        print("FAIL " + str(e))
        return 1
    try:
        uri = f"ws://127.0.0.1:{port}/"
        asyncio.run(asyncio.wait_for(slow_then_fast(uri, server.pid, count), 240))
        asyncio.run(asyncio.wait_for(fragmented_array(uri, 100_000), 60))
    finally:
        # Not stop_server(): this test does not check the exit status, and a
        # server still running after 10 s raises here rather than being killed.
        server.terminate()
        server.wait(10)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
