#!/usr/bin/python3
# SPDX-License-Identifier: BSL-1.0
"""Interop: WebSockets over HTTP/2 (RFC 8441) with Debian's python3-h2 as the
HTTP/2 client, against wsx's echo example started with --http2 (h2c with
prior knowledge, HTTP/1.1 on the same port).

Usage: http2_python_test.py <path to echo_server>
"""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from h2_client import Client, close_frame, pump_all, ws_frame  # noqa: E402
from interop_helpers import check, send_stop, start_server, stop_server, summary  # noqa: E402

TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8
STREAMS = 100


def echoed(c, streams, count, timeout=20):
    """Waits until every stream has `count` messages (close frames included)."""
    return c.pump(lambda: all(len(s.messages()) >= count for s in streams), timeout)


def many_streams(port, make_client=None):
    """`make_client` opens the connection (plain h2c when None)."""
    c = make_client() if make_client else Client(port)
    ok = c.pump(lambda: 8 in c.settings, 5)
    check("SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3)", ok and c.settings.get(8) == 1, str(c.settings))
    streams = [c.open_websocket("/") for _ in range(STREAMS)]
    c.pump(lambda: all(s.status for s in streams), 10)
    check(f"{STREAMS} extended CONNECTs on one connection answered 200",
          all(s.status == 200 for s in streams), str({s.status for s in streams}))
    check("no Sec-WebSocket-Accept over HTTP/2 (RFC 8441 §5)",
          all("sec-websocket-accept" not in s.headers for s in streams))

    big = os.urandom(1 << 20)
    expected = {}
    for i, s in enumerate(streams):
        msgs = [(TEXT, f"hello {i} ✓".encode()), (BINARY, os.urandom(1000 + i))]
        data = ws_frame(TEXT, msgs[0][1]) + ws_frame(BINARY, msgs[1][1])
        # A fragmented text message (RFC 6455 §5.4).
        data += ws_frame(TEXT, b"frag", fin=False) + ws_frame(0, b"men", fin=False) + ws_frame(0, f"ted {i}".encode())
        msgs.append((TEXT, f"fragmented {i}".encode()))
        if i % 10 == 0:
            data += ws_frame(BINARY, big)
            msgs.append((BINARY, big))
        expected[s.sid] = msgs
        c.send(s, data)
    ok = c.pump(lambda: all(len(s.messages()) >= len(expected[s.sid]) for s in streams), 30)
    got_all = ok and all(s.messages()[:len(expected[s.sid])] == expected[s.sid] for s in streams)
    check("text, binary, fragmented and 1 MiB messages echoed on 100 streams at once", got_all,
          f"{sum(len(s.messages()) for s in streams)} messages")

    # Close every fifth stream with its own code; the others carry on.
    closing = streams[::5]
    others = [s for s in streams if s not in closing]
    for i, s in enumerate(closing):
        s.frames.clear()
        c.send(s, close_frame(4000 + i, b"bye"))
    ok = c.pump(lambda: all(s.frames and s.frames[-1][1] == CLOSE for s in closing), 10)
    codes = [int.from_bytes(s.frames[-1][2][:2], "big") if s.frames else None for s in closing]
    check("closed streams get their close code echoed", ok and codes == [4000 + i for i in range(len(closing))],
          str(codes))
    ok = c.pump(lambda: all(s.ended for s in closing), 10)
    check("the server ends a closed WebSocket's stream (END_STREAM, RFC 8441 §6)", ok)
    for s in closing:
        c.end(s)
    for s in others:
        s.frames.clear()
        c.send(s, ws_frame(TEXT, b"still here"))
    ok = echoed(c, others, 1)
    check("the other streams carry on after those closes",
          ok and all(s.messages() == [(TEXT, b"still here")] for s in others))
    check("no stream was reset", all(s.reset is None for s in streams))
    return c, others


def many_connections(port):
    """STREAMS h2c connections with one WebSocket stream each, all open at once:
    every connection its own session; each echo returns on its own connection."""
    clients = [Client(port) for _ in range(STREAMS)]
    ok = pump_all(clients, lambda: all(c.settings.get(8) == 1 for c in clients), 10)
    check(f"{STREAMS} h2c connections each get SETTINGS_ENABLE_CONNECT_PROTOCOL = 1", ok,
          f"{sum(c.settings.get(8) == 1 for c in clients)} did")
    streams = [c.open_websocket("/") for c in clients]
    pump_all(clients, lambda: all(s.status for s in streams), 10)
    check(f"{STREAMS} connections × 1 extended CONNECT answered 200",
          all(s.status == 200 for s in streams), str({s.status for s in streams}))
    expected = []
    for i, (c, s) in enumerate(zip(clients, streams)):
        msgs = [(TEXT, f"connection {i} ✓".encode()), (BINARY, os.urandom(100 + i))]
        expected.append(msgs)
        c.send(s, b"".join(ws_frame(op, data) for op, data in msgs))
    ok = pump_all(clients, lambda: all(len(s.messages()) >= 2 for s in streams), 10)
    check(f"each of {STREAMS} connections gets its own text and binary echo",
          ok and all(s.messages()[:2] == want for s, want in zip(streams, expected)),
          f"{sum(len(s.messages()) for s in streams)} messages")
    for i, (c, s) in enumerate(zip(clients, streams)):
        s.frames.clear()
        c.send(s, close_frame(4000 + i))
    ok = pump_all(clients, lambda: all(s.frames and s.frames[-1][1] == CLOSE and s.ended for s in streams), 10)
    codes = [int.from_bytes(s.frames[-1][2][:2], "big") if s.frames else None for s in streams]
    check(f"the {STREAMS} close handshakes echo their codes and end their streams",
          ok and codes == [4000 + i for i in range(STREAMS)], str(codes[:5]))
    check("no stream was reset", all(s.reset is None for s in streams))
    check("no connection was ended by the server", all(c.terminated is None for c in clients))
    for c, s in zip(clients, streams):
        c.end(s)
        c.close()


def bad_requests(port):
    c = Client(port)
    c.pump(lambda: 8 in c.settings, 5)
    good = c.open_websocket("/")
    cases = [
        ("CONNECT without :protocol -> 405", c.request("CONNECT", None, end=False), 405),
        ("Sec-WebSocket-Version 8 -> 426", c.open_websocket("/", version="8"), 426),
        ("no Sec-WebSocket-Version -> 426", c.open_websocket("/", version=None), 426),
        (":protocol other than websocket -> 501", c.open_websocket("/", protocol="chat"), 501),
        ("extended CONNECT to an unknown path -> 404", c.open_websocket("/nowhere"), 404),
        ("GET on a WebSocket-only path -> 400", c.request("GET", "/"), 400),
    ]
    c.pump(lambda: all(s.status or s.reset is not None for _, s, _ in cases) and good.status, 10)
    for name, s, status in cases:
        check(name, s.status == status, f"status {s.status} reset {s.reset}")
    check("the 426 names version 13", cases[1][1].headers.get("sec-websocket-version") == "13")

    c.send(good, ws_frame(TEXT, b"unaffected"))
    ok = echoed(c, [good], 1, 5)
    check("a WebSocket beside the refused requests is unaffected", ok and good.messages() == [(TEXT, b"unaffected")])
    c.close()

    # DATA after END_STREAM, written under h2's feet since h2 refuses to send
    # it. RFC 9113 §5.1 asks for a stream error STREAM_CLOSED and §5.4.1 lets
    # an endpoint make it a connection error, which nghttp2 does: GOAWAY.
    c = Client(port)
    c.pump(lambda: 8 in c.settings, 5)
    victim = c.open_websocket("/")
    c.pump(lambda: victim.status, 5)
    c.end(victim)
    c.sock.setblocking(True)
    c.sock.sendall(len(b"late").to_bytes(3, "big") + b"\x00\x00" + victim.sid.to_bytes(4, "big") + b"late")
    c.sock.setblocking(False)
    c.pump(lambda: c.terminated is not None, 5)
    check("DATA after END_STREAM -> GOAWAY STREAM_CLOSED",
          c.terminated is not None and c.terminated.error_code == 5, str(c.terminated))
    c.close()

    # A SETTINGS frame with more entries than session_options::max_settings
    # (32): nghttp2 ends the connection with ENHANCE_YOUR_CALM (RFC 9113 §7).
    c = Client(port)
    c.pump(lambda: 8 in c.settings, 5)
    entries = b"".join((1).to_bytes(2, "big") + (4096).to_bytes(4, "big") for _ in range(40))
    c.sock.setblocking(True)
    c.sock.sendall(len(entries).to_bytes(3, "big") + b"\x04\x00" + (0).to_bytes(4, "big") + entries)
    c.sock.setblocking(False)
    c.pump(lambda: c.terminated is not None, 5)
    check("a SETTINGS frame of 40 entries -> GOAWAY ENHANCE_YOUR_CALM",
          c.terminated is not None and c.terminated.error_code == 11, str(c.terminated))
    c.close()

    # A flood of streams beyond SETTINGS_MAX_CONCURRENT_STREAMS: RFC 9113
    # §5.1.2 allows a stream or connection error of type PROTOCOL_ERROR, and
    # nghttp2 makes it a connection error: GOAWAY, after the streams within the
    # limit were answered. (Connections of other clients are checked after.)
    c = Client(port)
    c.pump(lambda: 3 in c.settings, 5)
    limit = c.settings[3]
    c.conn.remote_settings._settings[3].appendleft(limit + 50)  # h2 would refuse to exceed it
    flood = [c.open_websocket("/") for _ in range(limit + 50)]
    c.pump(lambda: c.terminated is not None, 10)
    # GOAWAY's last stream id says the first `limit` streams were processed
    # (their answers may follow the GOAWAY, which h2 then ignores).
    check(f"streams beyond {limit} -> GOAWAY PROTOCOL_ERROR after the first {limit}",
          c.terminated is not None and c.terminated.error_code == 1
          and c.terminated.last_stream_id == 2 * limit - 1, str(c.terminated))
    c.close()


def http1_same_port(port):
    """An HTTP/1.1 client on the same port still upgrades (no preface)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    s.settimeout(5)
    head = s.recv(4096)
    check("HTTP/1.1 upgrade on the same port still answered 101", head.startswith(b"HTTP/1.1 101"), head[:40])
    s.close()


def stop_with_streams(server, c, streams):
    """SIGTERM: GOAWAY, and every open WebSocket closed with 1001."""
    for s in streams:
        s.frames.clear()
        c.send(s, ws_frame(TEXT, b"after the others' errors"))
    ok = echoed(c, streams, 1)
    check("streams on another connection are unaffected by those errors", ok)
    for s in streams:
        s.frames.clear()
    send_stop(server)
    ok = c.pump(lambda: all(s.frames for s in streams), 10)
    codes = {int.from_bytes(s.frames[-1][2][:2], "big") for s in streams if s.frames and s.frames[-1][1] == CLOSE}
    check("stop() closes every WebSocket stream with 1001", ok and codes == {1001}, str(codes))
    for s in streams:
        c.send(s, close_frame(1001), end=True)
    c.pump(lambda: c.terminated is not None, 10)
    check("then GOAWAY (NO_ERROR) once those streams have ended",
          c.terminated is not None and c.terminated.error_code == 0, str(c.terminated))
    c.close()


def main():
    try:
        server, port = start_server(sys.argv[1], "--http2")
    except RuntimeError as e:
        print("FAIL " + str(e))
        return 1
    try:
        c, open_streams = many_streams(port)
        many_connections(port)
        bad_requests(port)
        http1_same_port(port)
        stop_with_streams(server, c, open_streams)
    finally:
        code = stop_server(server)
    check("server exits cleanly after stop()", code == 0, f"exit {code}")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
