#!/usr/bin/env node
// SPDX-License-Identifier: BSL-1.0
// Interop: permessage-deflate (RFC 7692) between the npm `ws` package and wsx's echo
// example started with --deflate (and --deflate-no-context-takeover).
//
// Usage: node deflate_ws_test.js <echo_server> <node_modules dir holding ws>
// (tests/interop/CMakeLists.txt installs ws with `npm install --prefix` in the build tree.)
// Exits non-zero on failure; the last line is "N passed, N failed".
'use strict';

const crypto = require('crypto');
const path = require('path');
const helpers = require('./interop_helpers');
const { check, summary, startServer, stopServer } = helpers;

const [binary, modules] = process.argv.slice(2);
const WebSocket = require(path.resolve(modules, 'ws'));

function jsonMessage(size) {
  const items = [];
  let n = 0;
  while (n < size) {
    const i = items.length;
    const item = { id: i, name: `item-${i}`, tags: ['alpha', 'beta'], price: i * 1.25, in_stock: i % 3 === 0 };
    items.push(item);
    n += JSON.stringify(item).length + 1;
  }
  return JSON.stringify(items);
}

const connect = (url, perMessageDeflate) => helpers.connect(WebSocket, url, { perMessageDeflate });


const CONFIGS = [
  ['defaults (context takeover)', true, []],
  ['compress everything', { threshold: 0 }, []],
  ['no context takeover', { serverNoContextTakeover: true, clientNoContextTakeover: true, threshold: 0 },
    ['server_no_context_takeover', 'client_no_context_takeover']],
  ['small windows', { serverMaxWindowBits: 10, clientMaxWindowBits: 9, threshold: 0 },
    ['server_max_window_bits=10', 'client_max_window_bits=9']],
];

async function cases(url, serverName, serverParams) {
  for (const [name, options, expected] of CONFIGS) {
    const label = `[${serverName}] ${name}`;
    const c = await connect(url, options);
    const want = ['permessage-deflate', ...expected, ...serverParams];
    check(`${label}: negotiated (${c.answer})`, want.every((p) => c.answer.includes(p)), c.answer);
    const messages = [
      ['small text', 'hello', false],
      ['unicode text', 'héllo wörld ✓ 😀'.repeat(50), false],
      ['empty text', '', false],
      ['2 KiB JSON', jsonMessage(2048), false],
      ['1 MiB JSON', jsonMessage(1 << 20), false],
      ['1 MiB JSON again', jsonMessage(1 << 20), false],
      ['incompressible 100 KiB binary', crypto.randomBytes(100 * 1024), true],
      ['1 MiB zeros binary', Buffer.alloc(1 << 20), true],
    ];
    for (const [what, msg, binary] of messages) {
      c.ws.send(msg, { binary });
      const got = await c.next();
      const same = got !== null && (binary ? got.isBinary && Buffer.compare(got.data, msg) === 0
        : !got.isBinary && got.data.toString() === msg);
      check(`${label}: ${what}`, same, got ? `got ${got.data.length} bytes` : 'nothing');
    }
    const many = [];
    for (let i = 0; i < 200; i++) many.push(JSON.stringify({ seq: i, text: 'pipelined '.repeat(i % 50) }));
    for (const m of many) c.ws.send(m);
    const got = [];
    for (let i = 0; i < many.length; i++) got.push((await c.next())?.data.toString());
    check(`${label}: 200 pipelined JSON messages in order`, got.join('\n') === many.join('\n'));
    c.ws.close(1000);
    check(`${label}: clean close`, (await c.closed).code === 1000);
  }
}

async function main() {
  for (const [flag, params] of [['--deflate', []],
    ['--deflate-no-context-takeover', ['server_no_context_takeover', 'client_no_context_takeover']]]) {
    const { server, port } = await startServer(binary, [flag]);
    try {
      await cases(`ws://127.0.0.1:${port}/`, flag, params);
    } catch (e) {
      check(`[${flag}] ran without an exception`, false, String(e && e.stack || e));
    } finally {
      await stopServer(server, flag);
    }
  }
  process.exit(summary());
}

setTimeout(() => {
  check('finished within 120 s', false);
  process.exit(summary());
}, 120000).unref();

main();
