// SPDX-License-Identifier: BSL-1.0
// Interop: headless Chromium's own WebSocket against wsx's echo example, or
// over wss:// against the TLS echo example (a self-signed certificate: the
// page ignores certificate errors). Run by browser_test.sh, which starts the
// server and passes its URL and process id:
//   node browser_echo_test.js ws://127.0.0.1:PORT/ PID
// The last case sends SIGTERM to PID: the page must see close code 1001.
// Environment: as browser_test.js (WSX_CHROMIUM, WSX_NODE_DIR, WSX_PROFILE_DIR).
'use strict';
const path = require('path');
const { chromium } = require(path.join(process.env.WSX_NODE_DIR, 'node_modules', 'playwright-core'));

const { check, summary } = require('./interop_helpers');

const [url, serverPid] = process.argv.slice(2);

// Runs in the page: helpers on window that the cases below call.
function installHelpers() {
  // Opens a socket whose messages queue up; next() waits for one.
  window.openSocket = (u) => new Promise((resolve, reject) => {
    const ws = new WebSocket(u);
    ws.binaryType = 'arraybuffer';
    const queue = [];
    const waiters = [];
    ws.onmessage = (e) => (waiters.length ? waiters.shift()(e.data) : queue.push(e.data));
    ws.closed = new Promise((res) => { ws.onclose = (e) => res({ code: e.code, reason: e.reason, clean: e.wasClean }); });
    ws.next = () => new Promise((res) => (queue.length ? res(queue.shift()) : waiters.push(res)));
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error('WebSocket error before open'));
  });
  window.sockets = {};
  window.randomBytes = (n) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
    return b;
  };
  window.sameBytes = (a, b) => {
    if (!(a instanceof ArrayBuffer) || a.byteLength !== b.byteLength) return false;
    const x = new Uint8Array(a);
    for (let i = 0; i < x.length; i++) if (x[i] !== b[i]) return false;
    return true;
  };
}

async function main() {
  const context = await chromium.launchPersistentContext(process.env.WSX_PROFILE_DIR, {
    executablePath: process.env.WSX_CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
    timeout: 30000,
    ignoreHTTPSErrors: url.startsWith('wss:'),
  });
  context.setDefaultTimeout(30000);
  try {
    const page = context.pages()[0] || await context.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    // The page's origin is the server's own host: Chromium blocks pages from
    // opaque or public origins (about:blank) opening sockets to loopback (Local
    // Network Access). The echo server has no page: a plain GET gets its 400
    // (not a WebSocket request), which is still a document of that origin.
    const origin = url.replace(/^ws/, 'http');
    const landing = await page.goto(origin);
    check('a plain GET to the echo endpoint is answered 400', landing.status() === 400, String(landing.status()));
    await page.evaluate(installHelpers);

    const text = await page.evaluate(async (u) => {
      const ws = await openSocket(u);
      window.sockets.main = ws;
      const s = 'héllo wörld ✓ 😀 <b>';
      ws.send(s);
      const got = await ws.next();
      return got === s;
    }, url);
    check('text comes back unchanged', text);

    for (const size of [0, 125, 126, 65535, 65536, 4 << 20]) {
      const same = await page.evaluate(async (n) => {
        const ws = window.sockets.main;
        const payload = randomBytes(n);
        ws.send(payload);
        return sameBytes(await ws.next(), payload);
      }, size);
      check(`${size}-byte binary message comes back as binary, unchanged`, same);
    }

    const ordered = await page.evaluate(async () => {
      const ws = window.sockets.main;
      const sent = Array.from({ length: 300 }, (_, i) => `message ${i}`);
      sent.forEach((s) => ws.send(s));
      const got = [];
      for (let i = 0; i < sent.length; i++) got.push(await ws.next());
      return got.join('|') === sent.join('|');
    });
    check('300 messages sent back to back come back in order', ordered);

    const closeResult = await page.evaluate(async () => {
      const ws = window.sockets.main;
      ws.close(4001, 'bye from the browser');
      return ws.closed;
    });
    check('close(4001) completes a clean closing handshake',
          closeResult.code === 4001 && closeResult.clean, JSON.stringify(closeResult));

    const tooBig = await page.evaluate(async (u) => {
      const ws = await openSocket(u);
      ws.send(new Uint8Array(16 * 1024 * 1024 + 1));
      return ws.closed;
    }, url);
    check('a message over the 16 MiB default limit is closed with 1009', tooBig.code === 1009, JSON.stringify(tooBig));

    // Server shutdown while the page is connected: the page sees 1001 (going away).
    const ready = await page.evaluate(async (u) => {
      const ws = await openSocket(u);
      ws.send('ready');
      window.lastSocket = ws;
      return ws.next();
    }, url);
    check('a fresh socket is served after the 1009 close', ready === 'ready', JSON.stringify(ready));
    process.kill(Number(serverPid), 'SIGTERM');
    const stopped = await page.evaluate(() => window.lastSocket.closed);
    check('server stop (SIGTERM) closes the page socket with 1001',
          stopped.code === 1001 && stopped.clean, JSON.stringify(stopped));
    check('no page errors', problems.length === 0, problems.join('; '));
  } finally {
    await context.close();
  }
}

main().catch((e) => {
  check('ran without an exception', false, String(e && e.stack || e));
}).finally(() => {
  process.exit(summary());
});
