#!/usr/bin/python3
# SPDX-License-Identifier: BSL-1.0
"""Interop: Python's ssl module with Debian's python3-websockets as the client,
against wsx's TLS echo example (examples/tls_echo_server).

Usage: python_tls_echo_test.py <path to tls_echo_server>
Makes a CA and a server certificate with the openssl CLI, starts the server on
a free port, runs every case, exits non-zero on failure.
"""
import asyncio
import os
import shutil
import ssl
import sys
import warnings

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_certs import make_certs  # noqa: E402
from interop_helpers import (PongRecordingClient, check, check_closed_with, check_ping, start_server,  # noqa: E402
                             stop_server, summary)


X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20  # OpenSSL's x509_vfy.h


def client_context(ca):
    ctx = ssl.create_default_context(cafile=ca)  # verifies the chain and the host name
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def run_cases(uri, ca):
    async with websockets.connect(uri, ssl=client_context(ca), max_size=None, compression=None,
                                  create_protocol=PongRecordingClient) as ws:
        sslobj = ws.transport.get_extra_info("ssl_object")
        check("ALPN http/1.1", sslobj.selected_alpn_protocol() == "http/1.1", str(sslobj.selected_alpn_protocol()))
        check("TLS 1.2 or newer", sslobj.version() in ("TLSv1.2", "TLSv1.3"), sslobj.version())
        for text in ["hello", "", "héllo wörld ✓ 😀", "x" * 125]:
            await ws.send(text)
            got = await ws.recv()
            check(f"text {len(text)} chars", got == text and isinstance(got, str), repr(got)[:80])
        for size in [0, 1, 125, 126, 65535, 65536, 8 * 1024 * 1024]:
            data = os.urandom(size)
            await ws.send(data)
            got = await ws.recv()
            check(f"binary {size} bytes", got == data and isinstance(got, bytes), f"len {len(got)}")
        await ws.send(["frag", "mented ", "text ✓"])
        check("fragmented text", await ws.recv() == "fragmented text ✓")
        await check_ping(ws, "ping answered by a pong with its payload", b"over tls")
        for i in range(200):
            await ws.send(f"m{i}")
        got = [await ws.recv() for _ in range(200)]
        check("200 pipelined messages in order", got == [f"m{i}" for i in range(200)])
        await ws.close(code=4001, reason="done here")
        check("close code echoed", ws.close_code == 4001, str(ws.close_code))

    # The server checks frames over TLS as over TCP.
    async with websockets.connect(uri, ssl=client_context(ca), compression=None) as ws:
        await check_closed_with(ws, "unmasked frame -> 1002", b"\x81\x03bad", 1002)  # unmasked

    # A client that does not trust the CA refuses the server.
    try:
        async with websockets.connect(uri, ssl=ssl.create_default_context(), open_timeout=5):
            check("unknown CA refused by the client", False, "connected")
    except ssl.SSLCertVerificationError as e:
        # The server sends its own certificate only: its issuer is the unknown CA.
        check("unknown CA refused by the client: issuer not trusted",
              e.verify_code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, f"{e.verify_code} {e.verify_message}")

    # TLS 1.1 is refused by the server (TLS 1.2 minimum).
    old = client_context(ca)
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        old.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    try:
        async with websockets.connect(uri, ssl=old, open_timeout=5):
            check("TLS 1.1 refused by the server", False, "connected")
    except ssl.SSLError as e:
        # The server's protocol_version alert (RFC 8446 §6.2), not a client
        # that could not offer TLS 1.1 in the first place.
        check("TLS 1.1 refused by the server", e.reason == "TLSV1_ALERT_PROTOCOL_VERSION", f"{e.reason}: {e}")


def main():
    d, ca, cert, key = make_certs()
    try:
        try:
            server, port = start_server(sys.argv[1], "--cert", cert, "--key", key, scheme="wss")
        except RuntimeError as e:
            print("FAIL " + str(e))
            return 1
        try:
            asyncio.run(asyncio.wait_for(run_cases(f"wss://localhost:{port}/", ca), 60))
        finally:
            code = stop_server(server)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    check("server exits cleanly on SIGTERM", code == 0, f"exit {code}")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
