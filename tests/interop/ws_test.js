#!/usr/bin/env node
// SPDX-License-Identifier: BSL-1.0
// Interop: the npm `ws` package (a client we did not write) against wsx's echo
// and broadcast examples, without compression (deflate_ws_test.js covers RFC 7692).
//
// Usage: node ws_test.js <echo_server> <broadcast_server> <node_modules dir holding ws>
// Exits non-zero on failure; the last line is "N passed, N failed".
'use strict';

const crypto = require('crypto');
const path = require('path');
const helpers = require('./interop_helpers');
const { check, summary, startServer, stopServer, withTimeout } = helpers;

const [echoBinary, broadcastBinary, modules] = process.argv.slice(2);
const WebSocket = require(path.resolve(modules, 'ws'));

const connect = (url) => helpers.connect(WebSocket, url);

async function echoCases(url) {
  const c = await connect(url);
  c.ws.send('héllo wörld ✓ 😀');
  let m = await c.next();
  check('echo: text comes back as text, unchanged', m && !m.isBinary && m.data.toString() === 'héllo wörld ✓ 😀');

  // Every payload-length encoding boundary, and large messages.
  for (const size of [0, 1, 125, 126, 65535, 65536, 1 << 20, 8 << 20]) {
    const payload = crypto.randomBytes(size);
    c.ws.send(payload, { binary: true });
    m = await c.next(30000);
    check(`echo: ${size}-byte binary message comes back as binary, unchanged`,
          m && m.isBinary && Buffer.compare(m.data, payload) === 0, m ? `${m.data.length} bytes` : 'nothing');
  }

  // A fragmented message (three frames) arrives as one message.
  c.ws.send('frag', { fin: false });
  c.ws.send('men', { fin: false });
  c.ws.send('ted', { fin: true });
  m = await c.next();
  check('echo: a text message in three fragments is echoed whole', m && m.data.toString() === 'fragmented');

  // Ping with a payload: the pong carries it back.
  const pong = new Promise((res) => c.ws.once('pong', (data) => res(data.toString())));
  c.ws.ping('are you there');
  check('echo: ping gets a pong with the same payload', (await withTimeout(pong, 10000, null)) === 'are you there');

  // 500 messages sent back to back come back in order.
  const many = Array.from({ length: 500 }, (_, i) => `message ${i}`);
  many.forEach((s) => c.ws.send(s));
  const got = [];
  for (let i = 0; i < many.length; i++) got.push((await c.next())?.data.toString());
  check('echo: 500 pipelined messages in order', got.join('|') === many.join('|'));

  // A close from the client with a code and reason: the server answers, the close is clean.
  c.ws.close(4000, 'done here');
  const end = await withTimeout(c.closed, 10000, { code: 'none' });
  check('echo: client close 4000 completes the closing handshake', end.code === 4000, JSON.stringify(end));

  // What a client sees when it breaks the rules.
  const bad = await connect(url);
  bad.ws.send(Buffer.from([0x68, 0x69, 0xc3, 0x28]), { binary: false });  // invalid UTF-8 as text
  let e = await withTimeout(bad.closed, 10000, { code: 'none' });
  check('echo: invalid UTF-8 in a text message closes with 1007', e.code === 1007, JSON.stringify(e));

  const big = await connect(url);
  big.ws.send(Buffer.alloc(16 * 1024 * 1024 + 1), { binary: true });
  e = await withTimeout(big.closed, 30000, { code: 'none' });
  check('echo: a message over the 16 MiB default limit closes with 1009', e.code === 1009, JSON.stringify(e));

  // Others are not disturbed by these failures.
  const after = await connect(url);
  after.ws.send('still here');
  m = await after.next();
  check('echo: a fresh client is served after the failures', m && m.data.toString() === 'still here');
  after.ws.close(1000);
  await after.closed;
}

async function broadcastCases(port) {
  const url = `ws://127.0.0.1:${port}/ws`;
  const json = (m) => (m ? JSON.parse(m.data.toString()) : null);
  const a = await connect(url);
  const aJoin = json(await a.next());
  check('broadcast: a client is told of its own join',
        aJoin && aJoin.type === 'system' && /^Client \w+ joined\.$/.test(aJoin.message), JSON.stringify(aJoin));
  const idA = aJoin && aJoin.message.split(' ')[1];

  const b = await connect(url);
  const bJoinSeenByA = json(await a.next());
  const bJoin = json(await b.next());
  check('broadcast: the first client sees the second join',
        bJoinSeenByA && bJoin && bJoinSeenByA.message === bJoin.message, JSON.stringify([bJoinSeenByA, bJoin]));
  const idB = bJoin && bJoin.message.split(' ')[1];

  a.ws.send('hi "B" \\ <b>');
  const echo = json(await a.next());
  const fromA = json(await b.next());
  check('broadcast: the sender gets an echo',
        echo && echo.type === 'echo' && echo.from === idA && echo.message === 'hi "B" \\ <b>', JSON.stringify(echo));
  check('broadcast: the other client gets the message with its sender',
        fromA && fromA.type === 'message' && fromA.from === idA && fromA.message === 'hi "B" \\ <b>',
        JSON.stringify(fromA));
  check('broadcast: timestamps are ISO 8601 UTC with milliseconds',
        fromA && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(fromA.timestamp), fromA && fromA.timestamp);

  // A 1 MiB chat message crosses too.
  const large = 'x'.repeat(1 << 20);
  b.ws.send(large);
  const largeEcho = json(await b.next(30000));
  const largeAtA = json(await a.next(30000));
  check('broadcast: a 1 MiB message reaches the other client',
        largeAtA && largeAtA.from === idB && largeAtA.message === large && largeEcho && largeEcho.type === 'echo');

  // Server push through the REST hook.
  const res = await fetch(`http://127.0.0.1:${port}/api/connections/broadcast`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ message: 'maintenance' }) });
  const body = await res.text();
  check('broadcast: REST broadcast answers 200 {"recipients":2}', res.status === 200 && body === '{"recipients":2}',
        `${res.status} ${body}`);
  const pushA = json(await a.next());
  const pushB = json(await b.next());
  check('broadcast: both clients get the server-broadcast',
        [pushA, pushB].every((p) => p && p.type === 'server-broadcast' && p.message === 'maintenance'),
        JSON.stringify([pushA, pushB]));

  // Binary is refused with 1003; the other client sees it leave, nothing more.
  b.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  const e = await withTimeout(b.closed, 10000, { code: 'none' });
  check('broadcast: a binary message closes with 1003', e.code === 1003, JSON.stringify(e));
  const left = json(await a.next());
  check('broadcast: the other client is told it left',
        left && left.type === 'system' && left.message === `Client ${idB} left.`, JSON.stringify(left));
  check('broadcast: nothing else arrives', (await a.next(500)) === null);

  a.ws.close(1000);
  const aEnd = await withTimeout(a.closed, 10000, { code: 'none' });
  check('broadcast: clean close 1000', aEnd.code === 1000, JSON.stringify(aEnd));
}

async function main() {
  const echo = await startServer(echoBinary);
  try {
    await echoCases(`ws://127.0.0.1:${echo.port}/`);
  } catch (e) {
    check('echo cases ran without an exception', false, String(e && e.stack || e));
  }
  await stopServer(echo.server, 'echo_server');

  const broadcast = await startServer(broadcastBinary);
  try {
    await broadcastCases(broadcast.port);
  } catch (e) {
    check('broadcast cases ran without an exception', false, String(e && e.stack || e));
  }
  await stopServer(broadcast.server, 'broadcast_server');
}

main().finally(() => {
  process.exit(summary());
});
