#!/usr/bin/python3
# SPDX-License-Identifier: BSL-1.0
"""Interop: wsx's client (examples/wsx_cat) against Debian's python3-websockets
server, over ws:// and, with --tls, wss://.

Usage: python_server_client_test.py <path to wsx_cat> [--tls]
Exits non-zero when a case fails.
"""
import asyncio
import os
import shutil
import ssl
import sys

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_helpers import PASSED, PongRecordingServer, check, ping_for_pongs, summary  # noqa: E402

SEEN = {}  # what the server saw, by case name


async def handler(ws, path=None):
    path = ws.path
    SEEN.setdefault("paths", []).append(path)
    SEEN["authorization"] = ws.request_headers.get("Authorization")
    SEEN["x-test"] = ws.request_headers.get("X-Test")
    if path.startswith("/close4000"):
        await ws.recv()
        await ws.close(code=4000, reason="bye from python")
        return
    if path.startswith("/push"):
        # A fragmented message, a 1 MiB one, then a ping that the client
        # must answer by itself; the last message says what came back.
        await ws.send(["frag", "mented ", "✓"])
        await ws.send("y" * (1 << 20))
        answered, pongs = await ping_for_pongs(ws, b"python ping")
        await ws.send(f"pongs {pongs!r}" + ("" if answered else ", none matched"))
    try:
        async for m in ws:
            SEEN.setdefault("types", []).append(type(m).__name__)
            await ws.send(m)
    except websockets.ConnectionClosed:
        pass


async def cat(wsx_cat, url, lines, *args, expect=None, timeout=20):
    """Runs wsx_cat and feeds it `lines`. Closes its stdin (so it closes the
    connection) once `expect` lines have come out (default: one per line
    sent), so no echo races the close. Returns (exit status, stdout lines,
    stderr); the status is "timeout" when it did not exit in time."""
    expect = len(lines) if expect is None else expect
    proc = await asyncio.create_subprocess_exec(
        wsx_cat, *args, url, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=1 << 24)
    try:
        for line in lines:
            proc.stdin.write((line + "\n").encode())
        await proc.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        # wsx_cat may exit before it reads its input (bad usage, a refused
        # connection): its exit status and stderr, checked below, say why.
        pass
    out = []
    try:
        async def collect():
            while len(out) < expect:
                line = await proc.stdout.readline()
                if not line:
                    break
                out.append(line.decode().rstrip("\n"))
        await asyncio.wait_for(collect(), timeout)
        proc.stdin.close()
        rest, err = await asyncio.wait_for(proc.communicate(), timeout)
        out += rest.decode().split("\n")[:-1]
        return proc.returncode, out, err.decode()
    except asyncio.TimeoutError:
        proc.kill()
        rest, err = await proc.communicate()
        return "timeout", out, err.decode(errors="replace")


async def run_cases(wsx_cat, scheme, port, extra):
    base = f"{scheme}://localhost:{port}" if scheme == "wss" else f"ws://127.0.0.1:{port}"
    tag = scheme + ": "

    lines = ["hello", "héllo wörld ✓ 😀", "", "x" * 70000]
    code, out, err = await cat(wsx_cat, base + "/echo?x=1", lines, *extra)
    check(tag + "text lines echoed", out == lines, repr(out)[:200])
    check(tag + "exit 0 after a normal close", code == 0 and "closed with 1000" in err, f"{code} {err}")
    check(tag + "path and query", SEEN["paths"][-1] == "/echo?x=1", str(SEEN["paths"]))
    check(tag + "text frames", set(SEEN.pop("types", [])) == {"str"})

    code, out, err = await cat(wsx_cat, base + "/echo", ["bin1", "bin2"], "--binary", *extra)
    check(tag + "binary lines echoed", out == ["bin1", "bin2"] and code == 0, f"{code} {out} {err}")
    check(tag + "binary frames", set(SEEN.pop("types", [])) == {"bytes"})

    code, out, err = await cat(wsx_cat, base + "/echo", ["h"], "--header", "Authorization: Bearer t0k3n",
                               "--header", "X-Test: 1", *extra)
    check(tag + "extra headers", SEEN["authorization"] == "Bearer t0k3n" and SEEN["x-test"] == "1",
          f"{SEEN['authorization']} {SEEN['x-test']}")

    code, out, err = await cat(wsx_cat, base + "/close4000", ["trigger"], *extra, expect=1)
    check(tag + "server close 4000 ends wsx_cat with its code", code == 3 and "closed with 4000 bye from python" in err,
          f"{code} {err}")

    code, out, err = await cat(wsx_cat, base + "/push", [], *extra, expect=3)
    check(tag + "fragmented message reassembled", len(out) >= 1 and out[0] == "fragmented ✓", repr(out)[:100])
    check(tag + "1 MiB message", len(out) >= 2 and out[1] == "y" * (1 << 20))
    check(tag + "server ping answered by one pong with its payload",
          len(out) >= 3 and out[2] == "pongs [b'python ping']", repr(out[2:])[:100])


async def main_async(wsx_cat, with_tls):
    server = await websockets.serve(handler, "127.0.0.1", 0, max_size=None, compression=None,
                                    create_protocol=PongRecordingServer)
    port = server.sockets[0].getsockname()[1]
    await run_cases(wsx_cat, "ws", port, [])
    code, out, err = await cat(wsx_cat, f"ws://127.0.0.1:{port}/echo", ["x"], "--bogus", expect=0)
    check("bad usage exits 2", code == 2, str(code))
    server.close()
    await server.wait_closed()
    code, out, err = await cat(wsx_cat, f"ws://127.0.0.1:{port}/", ["x"], expect=0)
    check("connection refused exits 1 and says so", code == 1 and "cannot connect" in err, f"{code} {err}")

    if with_tls:
        from interop_certs import make_certs
        d, ca, cert, key = make_certs()
        try:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            server = await websockets.serve(handler, "127.0.0.1", 0, ssl=ctx, max_size=None, compression=None,
                                            create_protocol=PongRecordingServer)
            port = server.sockets[0].getsockname()[1]
            await run_cases(wsx_cat, "wss", port, ["--ca", ca])
            code, out, err = await cat(wsx_cat, f"wss://localhost:{port}/echo", ["x"], expect=0)
            check("wss: unknown CA refused", code == 1 and "certificate verification failed" in err, f"{code} {err}")
            code, out, err = await cat(wsx_cat, f"wss://localhost:{port}/echo", ["x"], "--insecure")
            check("wss: --insecure connects", code == 0 and out == ["x"], f"{code} {out} {err}")
            server.close()
            await server.wait_closed()
        finally:
            shutil.rmtree(d, ignore_errors=True)


def main():
    wsx_cat = sys.argv[1]
    with_tls = "--tls" in sys.argv[2:]
    asyncio.run(asyncio.wait_for(main_async(wsx_cat, with_tls), 100))
    status = summary()
    return status if PASSED else 1  # no case run at all is a failure too


if __name__ == "__main__":
    sys.exit(main())
