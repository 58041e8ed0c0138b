// SPDX-License-Identifier: BSL-1.0
// What the Node.js interop tests share: the check counter and starting and
// stopping a wsx example (interop_helpers.py is the Python counterpart).
'use strict';
const { spawn } = require('child_process');
const readline = require('readline');

// check(name, cond, detail) prints "ok   name" or "FAIL name  detail" and
// counts; summary() prints "N passed, N failed" and gives the exit status.
const counts = { passed: 0, failed: 0 };
function check(name, cond, detail = '') {
  if (cond) counts.passed++;
  else counts.failed++;
  console.log((cond ? 'ok   ' : 'FAIL ') + name + (cond ? '' : '  ' + detail));
}
function summary() {
  console.log(`${counts.passed} passed, ${counts.failed} failed`);
  return counts.failed ? 1 : 0;
}

// Starts `binary` on a free port (it prints its URL first); resolves with the
// process and the port.
function startServer(binary, extraArgs = []) {
  return new Promise((resolve, reject) => {
    const server = spawn(binary, ['--host', '127.0.0.1', '--port', '0', ...extraArgs],
                         { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = readline.createInterface({ input: server.stdout });
    lines.once('line', (line) => {
      const m = /:\/\/[\d.]+:(\d+)\//.exec(line);
      if (!m) return reject(new Error('server did not print its URL: ' + line));
      resolve({ server, port: Number(m[1]) });
    });
    server.once('error', reject);
  });
}

// SIGTERM must stop the server gracefully: a check records whether it exited
// with status 0 (within 10 s; it is killed after that).
function stopServer(server, name) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.kill('SIGKILL'), 10000);
    server.once('exit', (code) => {
      clearTimeout(timer);
      check(`${name}: exits with status 0 on SIGTERM`, code === 0, `exit ${code}`);
      resolve();
    });
    server.kill('SIGTERM');
  });
}

// A connected `ws` client (WebSocket: the package's class; options go to its
// constructor). next(ms) resolves with the next message ({data, isBinary}), or
// null after `ms` milliseconds without one; closed resolves with {code, reason};
// answer is the server's Sec-WebSocket-Extensions.
function connect(WebSocket, url, options = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 0, ...options });
    const queue = [];
    const waiters = [];
    let answer = '';
    const closed = new Promise((res) => ws.once('close', (code, reason) => res({ code, reason: reason.toString() })));
    ws.on('upgrade', (res) => { answer = res.headers['sec-websocket-extensions'] || ''; });
    ws.on('message', (data, isBinary) => {
      const m = { data, isBinary };
      if (waiters.length) waiters.shift()(m);
      else queue.push(m);
    });
    const next = (ms = 20000) => new Promise((res) => {
      if (queue.length) return res(queue.shift());
      const waiter = (m) => { clearTimeout(timer); res(m); };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        res(null);
      }, ms);
      waiters.push(waiter);
    });
    ws.once('open', () => resolve({ ws, next, closed, answer }));
    ws.once('error', reject);
  });
}

// `promise`, or `value` after `ms` milliseconds.
const withTimeout = (promise, ms, value) =>
  Promise.race([promise, new Promise((res) => setTimeout(() => res(value), ms))]);

module.exports = { check, summary, startServer, stopServer, connect, withTimeout };
