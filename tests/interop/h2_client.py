# SPDX-License-Identifier: BSL-1.0
"""A blocking HTTP/2 client on Debian's python3-h2 that opens WebSockets as
streams (RFC 8441) and speaks RFC 6455 frames on them, for the interop tests.
h2 does the HTTP/2 side; the WebSocket frames are written and parsed here."""
import os
import select
import socket
import ssl
import struct
import time

import h2.config
import h2.connection
import h2.events
import h2.settings


def ws_frame(opcode, payload, fin=True):
    """A masked client frame (RFC 6455 §5.2, §5.3)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if n < 4096 else \
        (int.from_bytes(payload, "big") ^ int.from_bytes((key * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
    return head + key + masked


def close_frame(code, reason=b""):
    return ws_frame(0x8, struct.pack("!H", code) + reason)


class Stream:
    def __init__(self, sid):
        self.sid = sid
        self.status = None
        self.headers = {}
        self.raw = bytearray()       # unparsed WebSocket bytes from the server
        self.frames = []             # (fin, opcode, payload)
        self.body = bytearray()      # for plain HTTP requests
        self.ended = False           # END_STREAM received
        self.reset = None            # RST_STREAM error code
        self.out = bytearray()       # waiting for flow-control window
        self.end_after_out = False
        self.websocket = False

    def parse(self):
        while len(self.raw) >= 2:
            b0, b1 = self.raw[0], self.raw[1]
            n = b1 & 0x7F
            pos = 2
            if n == 126:
                if len(self.raw) < 4:
                    return
                n = int.from_bytes(self.raw[2:4], "big")
                pos = 4
            elif n == 127:
                if len(self.raw) < 10:
                    return
                n = int.from_bytes(self.raw[2:10], "big")
                pos = 10
            if b1 & 0x80 or len(self.raw) < pos + n:
                return  # a server never masks (that would show as a stuck parse)
            self.frames.append((bool(b0 & 0x80), b0 & 0x0F, bytes(self.raw[pos:pos + n])))
            del self.raw[:pos + n]

    def messages(self):
        """Whole messages (opcode, payload) assembled from the frames so far;
        control frames as they are."""
        out, cur, op = [], bytearray(), None
        for fin, opcode, payload in self.frames:
            if opcode >= 0x8:
                out.append((opcode, payload))
                continue
            if opcode != 0:
                op = opcode
            cur += payload
            if fin:
                out.append((op, bytes(cur)))
                cur = bytearray()
        return out


class Client:
    def __init__(self, port, host="127.0.0.1", sock=None):
        self.sock = sock or socket.create_connection((host, port))
        self.sock.setblocking(False)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        # A large receive window: the tests read everything at once.
        self.conn.increment_flow_control_window(2**30 - 65535)
        self.streams = {}
        self.terminated = None       # ConnectionTerminated event
        self.settings = {}
        self.flush()

    def flush(self):
        for s in self.streams.values():
            self._push(s)
        data = self.conn.data_to_send()
        while data:
            try:
                sent = self.sock.send(data)
                data = data[sent:]
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                select.select([self.sock], [self.sock], [], 1)
            except (BrokenPipeError, ConnectionResetError):
                return

    def _push(self, s):
        if s.reset is not None or s.sid not in self.conn.streams and not s.out and not s.end_after_out:
            return
        while s.out:
            try:
                window = min(self.conn.local_flow_control_window(s.sid), self.conn.max_outbound_frame_size)
            except Exception:
                s.out.clear()
                return
            if window <= 0:
                return
            chunk = bytes(s.out[:window])
            del s.out[:window]
            self.conn.send_data(s.sid, chunk)
        if s.end_after_out:
            s.end_after_out = False
            try:
                self.conn.end_stream(s.sid)
            except Exception:
                pass

    def open_websocket(self, path="/", extra=(), protocol="websocket", version="13"):
        sid = self.conn.get_next_available_stream_id()
        headers = [(":method", "CONNECT"), (":protocol", protocol), (":scheme", "http"),
                   (":path", path), (":authority", "127.0.0.1")]
        if version is not None:
            headers.append(("sec-websocket-version", version))
        headers += list(extra)
        self.conn.send_headers(sid, headers)
        self.streams[sid] = Stream(sid)
        self.streams[sid].websocket = True
        self.flush()
        return self.streams[sid]

    def request(self, method, path, headers=(), end=True):
        sid = self.conn.get_next_available_stream_id()
        hs = [(":method", method), (":authority", "127.0.0.1")]
        if method != "CONNECT":
            hs += [(":scheme", "http"), (":path", path)]
        # A CONNECT without :path (RFC 9113 §8.5) is one h2 will not build.
        self.conn.config.validate_outbound_headers = method != "CONNECT"
        self.conn.send_headers(sid, hs + list(headers), end_stream=end)
        self.conn.config.validate_outbound_headers = True
        self.streams[sid] = Stream(sid)
        self.flush()
        return self.streams[sid]

    def send(self, s, data, end=False):
        s.out += data
        s.end_after_out = s.end_after_out or end
        self.flush()

    def end(self, s):
        self.send(s, b"", end=True)

    def pump(self, until, timeout=10):
        """Reads and handles events until until() is true; False on timeout."""
        deadline = time.monotonic() + timeout
        while not until():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            pending = self.sock.pending() if isinstance(self.sock, ssl.SSLSocket) else 0
            if not pending:
                r, _, _ = select.select([self.sock], [], [], min(left, 0.5))
                if not r:
                    continue
            try:
                data = self.sock.recv(1 << 20)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                return until()
            for ev in self.conn.receive_data(data):
                self._handle(ev)
            self.flush()
        return True

    def _handle(self, ev):
        s = self.streams.get(getattr(ev, "stream_id", None))
        if isinstance(ev, h2.events.ResponseReceived):
            s.headers = dict(ev.headers)
            s.status = int(s.headers[":status"])
        elif isinstance(ev, h2.events.DataReceived):
            if ev.flow_controlled_length:
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            if s is None:
                return
            if s.websocket and s.status == 200:
                s.raw += ev.data
                s.parse()
            else:
                s.body += ev.data
        elif isinstance(ev, h2.events.StreamEnded):
            if s:
                s.ended = True
        elif isinstance(ev, h2.events.StreamReset):
            if s:
                s.reset = ev.error_code
        elif isinstance(ev, h2.events.RemoteSettingsChanged):
            for code, change in ev.changed_settings.items():
                self.settings[int(code)] = change.new_value
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.terminated = ev

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def pump_all(clients, until, timeout=10):
    """Client.pump over several connections at once: reads whichever has data
    until until() is true; False on timeout."""
    by_sock = {c.sock: c for c in clients}
    deadline = time.monotonic() + timeout
    while not until():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select(list(by_sock), [], [], min(left, 0.5))
        for sock in ready:
            c = by_sock[sock]
            try:
                data = sock.recv(1 << 20)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                del by_sock[sock]  # ended: until() decides whether that was expected
                if not by_sock:
                    return until()
                continue
            for ev in c.conn.receive_data(data):
                c._handle(ev)
            c.flush()
    return True
