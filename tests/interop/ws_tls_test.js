#!/usr/bin/env node
// SPDX-License-Identifier: BSL-1.0
// Interop over TLS: Node.js's TLS stack with the npm `ws` package as the
// client, against wsx's TLS echo example (our own record driver,
// transport/tls_engine.hpp). python_tls_echo_test.py covers the handshake
// checks; this one drives the record path hard: many connections at once,
// messages of every size up to 8 MiB, TLS 1.2 and 1.3, clients that vanish
// mid-message, and bytes that are not TLS at all.
//
// Usage: node ws_tls_test.js <tls_echo_server> <node_modules dir holding ws> <interop_certs.py>
// Exits non-zero on failure; the last line is "N passed, N failed".
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const path = require('path');
const tls = require('tls');
const { execFileSync } = require('child_process');
const helpers = require('./interop_helpers');
const { check, summary, startServer, stopServer, withTimeout } = helpers;

const [serverBinary, modules, certsScript] = process.argv.slice(2);
const WebSocket = require(path.resolve(modules, 'ws'));

const connect = (url, tlsOptions) => helpers.connect(WebSocket, url, tlsOptions);

async function echoCases(url, trust, version) {
  const c = await connect(url, trust);
  const socket = c.ws._socket;
  check(`${version}: negotiated`, socket.getProtocol() === version, socket.getProtocol());
  check(`${version}: ALPN http/1.1 or none`, [false, 'http/1.1'].includes(socket.alpnProtocol), String(socket.alpnProtocol));

  c.ws.send('héllo wörld ✓ 😀');
  let m = await c.next();
  check(`${version}: text echoed as text`, m && !m.isBinary && m.data.toString() === 'héllo wörld ✓ 😀');

  // Around every payload-length form and every TLS record boundary (16 KiB of
  // plaintext a record), and past the 512 KiB the server encrypts per pass.
  const sizes = [0, 1, 125, 126, 16379, 16384, 16385, 65535, 65536, 524288 + 7, 1 << 20, 8 << 20];
  let allEqual = true;
  const wrong = [];
  for (const size of sizes) {
    const payload = crypto.randomBytes(size);
    c.ws.send(payload, { binary: true });
    m = await c.next(60000);
    if (!(m && m.isBinary && Buffer.compare(m.data, payload) === 0)) {
      allEqual = false;
      wrong.push(`${size}: ${m ? m.data.length : 'nothing'}`);
    }
  }
  check(`${version}: binary messages of ${sizes.length} sizes up to 8 MiB echoed unchanged`, allEqual, wrong.join(', '));

  // Sent back to back, so records carry many frames and frames span records.
  const many = Array.from({ length: 1000 }, (_, i) => `message ${i} ` + 'z'.repeat(i % 300));
  many.forEach((s) => c.ws.send(s));
  const got = [];
  for (let i = 0; i < many.length; i++) got.push((await c.next())?.data.toString());
  check(`${version}: 1000 pipelined messages in order`, got.join('|') === many.join('|'));

  const pong = new Promise((res) => c.ws.once('pong', (data) => res(data.toString())));
  c.ws.ping('over tls');
  check(`${version}: ping answered with its payload`, (await withTimeout(pong, 10000, null)) === 'over tls');

  c.ws.close(4000, 'done here');
  const end = await withTimeout(c.closed, 10000, { code: 'none' });
  check(`${version}: client close 4000 completes the closing handshake`, end.code === 4000, JSON.stringify(end));
}

// 32 clients at once, each with 100 messages of random sizes in flight: the
// server's per-thread buffers are shared by all of them.
async function concurrentCases(url, trust) {
  const clients = await Promise.all(Array.from({ length: 32 }, () => connect(url, trust)));
  const results = await Promise.all(clients.map(async (c, k) => {
    const sent = Array.from({ length: 100 }, (_, i) => crypto.randomBytes((k * 7919 + i * 104729) % 70000));
    sent.forEach((p) => c.ws.send(p, { binary: true }));
    for (const p of sent) {
      const m = await c.next(60000);
      if (!m || Buffer.compare(m.data, p) !== 0) return false;
    }
    c.ws.close(1000);
    return (await withTimeout(c.closed, 10000, { code: 'none' })).code === 1000;
  }));
  check('32 concurrent clients: 3,200 messages echoed in order and closed cleanly',
        results.every(Boolean), `${results.filter((r) => !r).length} failed`);
}

async function faultCases(port, url, trust) {
  // A client that vanishes while its 4 MiB message is half sent.
  const gone = await connect(url, trust);
  gone.ws.send(crypto.randomBytes(4 << 20), { binary: true });
  await new Promise((res) => setTimeout(res, 5));
  gone.ws._socket.destroy();

  // Plain HTTP and then garbage on the TLS port: refused, nothing else.
  const plainAnswer = await new Promise((res) => {
    const s = net.connect(port, '127.0.0.1', () =>
      s.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'));
    let data = Buffer.alloc(0);
    s.on('data', (d) => { data = Buffer.concat([data, d]); });
    s.on('error', () => {});
    s.on('close', () => res(data));
    setTimeout(() => { s.destroy(); res(null); }, 10000);
  });
  check('plain HTTP on the TLS port: no HTTP answer, the connection is closed',
        plainAnswer !== null && !plainAnswer.toString('latin1').includes('101'),
        plainAnswer === null ? 'still open after 10 s' : plainAnswer.toString('latin1').slice(0, 80));
  await new Promise((res) => {
    const s = net.connect(port, '127.0.0.1', () => { s.write(crypto.randomBytes(3000)); });
    s.on('error', () => res());
    s.on('close', () => res());
    setTimeout(() => { s.destroy(); res(); }, 10000);
  });

  // A TLS session that ends with a FIN and no close_notify, mid-frame.
  await new Promise((res) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ...trust }, () => {
      s.write('GET / HTTP/1.1\r\nHost: loc');
      s.end();
    });
    s.on('error', () => res());
    s.on('close', () => res());
  });

  // A client that does not trust our CA refuses the server; one that names
  // another host refuses its certificate.
  const untrusted = await connect(url, {}).then(() => 'connected', (e) => e.code);
  check('a client without the CA refuses the server', untrusted === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
        untrusted === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', String(untrusted));
  const otherName = await connect(url.replace('localhost', '127.0.0.1'), { ...trust, servername: 'example.com' })
    .then(() => 'connected', (e) => e.code);
  check('a client that expects another name refuses the certificate', otherName === 'ERR_TLS_CERT_ALTNAME_INVALID',
        String(otherName));

  // Rule-breaking clients still get the right close codes over TLS.
  const bad = await connect(url, trust);
  bad.ws.send(Buffer.from([0x68, 0x69, 0xc3, 0x28]), { binary: false });
  let e = await withTimeout(bad.closed, 10000, { code: 'none' });
  check('invalid UTF-8 over TLS closes with 1007', e.code === 1007, JSON.stringify(e));
  const big = await connect(url, trust);
  big.ws.send(Buffer.alloc(16 * 1024 * 1024 + 1), { binary: true });
  e = await withTimeout(big.closed, 60000, { code: 'none' });
  check('a message over the 16 MiB default limit closes with 1009', e.code === 1009, JSON.stringify(e));

  // After all of that the server still serves.
  const after = await connect(url, trust);
  after.ws.send('still here');
  const m = await after.next();
  check('a fresh client is served after the faults', m && m.data.toString() === 'still here');
  after.ws.close(1000);
  await after.closed;
}

async function main() {
  const [dir, ca, cert, key] = execFileSync('/usr/bin/python3', [certsScript]).toString().trim().split('\n');
  const trust = { ca: fs.readFileSync(ca) };
  const { server, port } = await startServer(serverBinary, ['--cert', cert, '--key', key]);
  const url = `wss://localhost:${port}/`;
  try {
    await echoCases(url, { ...trust, maxVersion: 'TLSv1.3', minVersion: 'TLSv1.3' }, 'TLSv1.3');
    await echoCases(url, { ...trust, maxVersion: 'TLSv1.2' }, 'TLSv1.2');
    await concurrentCases(url, trust);
    await faultCases(port, url, trust);
  } catch (e) {
    check('cases ran without an exception', false, String(e && e.stack || e));
  }
  await stopServer(server, 'tls_echo_server');
  fs.rmSync(dir, { recursive: true, force: true });
}

main().finally(() => {
  process.exit(summary());
});
