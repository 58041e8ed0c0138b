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

module.exports = { check, summary, startServer, stopServer };
