// SPDX-License-Identifier: BSL-1.0
// Interop: headless Chromium on the page examples/broadcast_server serves, in
// two tabs. Run by browser_test.sh, which starts the server and passes its URL:
//   node browser_test.js http://127.0.0.1:PORT/
//   node browser_test.js https://127.0.0.1:PORT/   (the server started with --http2
//                        --cert/--key: the same checks, and that the pages, their
//                        WebSockets (RFC 8441) and the REST calls share one HTTP/2
//                        connection; the REST calls are then made from tab 1)
// Environment: WSX_CHROMIUM (the browser), WSX_NODE_DIR (where playwright-core
// is installed), WSX_SHOT_DIR (where the screenshots go), WSX_PROFILE_DIR (a
// fresh, empty Chromium profile directory).
'use strict';
const path = require('path');
const { chromium } = require(path.join(process.env.WSX_NODE_DIR, 'node_modules', 'playwright-core'));

const { check, summary } = require('./interop_helpers');

const url = process.argv[2];
const h2 = url.startsWith('https:');

// The TCP connections the server has accepted and not yet closed, from the
// kernel's table (Linux): sockets whose local port is the server's, established.
function establishedToServer() {
  const port = Number(new URL(url).port).toString(16).toUpperCase().padStart(4, '0');
  return require('fs').readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)
    .map(line => line.trim().split(/\s+/))
    .filter(f => f.length > 3 && f[1].endsWith(':' + port) && f[3] === '01').length;
}

// The text of the log lines of a tab.
const logLines = page => page.$$eval('#log div', divs => divs.map(d => ({ cls: d.className, text: d.textContent })));

// Waits until `predicate` (run in the page with `arg`) holds; true when it did
// within `timeout`, false otherwise.
async function eventually(page, predicate, arg, timeout = 10000) {
  try {
    await page.waitForFunction(predicate, arg, { timeout });
    return true;
  } catch (e) {
    return false;
  }
}
const statusOf = page => page.$eval('#status', s => s.textContent);

// Waits for a log line of class `cls` whose text contains `text`; true when it came.
const waitForLine = (page, cls, text, timeout = 10000) => eventually(page,
  ([c, t]) => [...document.querySelectorAll('#log div')].some(d => d.className === c && d.textContent.includes(t)),
  [cls, text], timeout);

async function main() {
  const context = await chromium.launchPersistentContext(process.env.WSX_PROFILE_DIR, {
    executablePath: process.env.WSX_CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
    ignoreHTTPSErrors: h2,  // the test's self-signed certificate
    viewport: { width: 1100, height: 720 },
    timeout: 30000,
  });
  context.setDefaultTimeout(10000);
  const problems = [];
  const watch = (page, name) => {
    page.on('pageerror', e => problems.push(`${name}: page error: ${e.message}`));
    page.on('console', m => { if (m.type() === 'error') problems.push(`${name}: console error: ${m.text()}`); });
    page.on('response', r => { if (r.status() >= 400) problems.push(`${name}: ${r.status()} for ${r.url()}`); });
  };
  try {
    // Tab 1 opens first, then tab 2: tab 1 sees tab 2 join.
    const tab1 = context.pages()[0] || await context.newPage();
    watch(tab1, 'tab 1');
    await tab1.goto(url);
    const connected = () => document.getElementById('status').textContent === 'connected';
    check('tab 1 connects', await eventually(tab1, connected), `status: ${await statusOf(tab1)}`);
    check('title', (await tab1.title()) === 'wsx broadcast', await tab1.title());

    const tab2 = await context.newPage();
    watch(tab2, 'tab 2');
    await tab2.goto(url);
    check('tab 2 connects', await eventually(tab2, connected), `status: ${await statusOf(tab2)}`);

    // Over h2 the REST calls go from tab 1, on the browser's HTTP/2 connection;
    // over HTTP/1.1 from Node.js.
    const rest = h2
      ? (p, init) => tab1.evaluate(async ([p, init]) => {
          const r = await fetch(p, init);
          return { status: r.status, text: await r.text() };
        }, [p, init || {}])
      : async (p, init) => { const r = await fetch(url + p, init); return { status: r.status, text: await r.text() }; };

    // Each tab's own id, from the REST listing (oldest first).
    const list = JSON.parse((await rest('api/connections')).text);
    check('REST lists 2 connections', list.count === 2 && list.connections.length === 2, JSON.stringify(list));
    if (h2) {
      const hop = page => page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
      check('tab 1 loaded the page over h2', (await hop(tab1)) === 'h2', await hop(tab1));
      check('tab 2 loaded the page over h2', (await hop(tab2)) === 'h2', await hop(tab2));
      check('both WebSockets are HTTP/2 streams ("protocol":"h2")',
            list.connections.every(c => c.protocol === 'h2'), JSON.stringify(list.connections));
      check('both WebSockets ride the same connection (one remote address)',
            list.connections[0].remote === list.connections[1].remote, JSON.stringify(list.connections));
      // Both pages, both WebSockets and the REST call: one TCP connection.
      check('the browser holds one TCP connection to the server', establishedToServer() === 1,
            `${establishedToServer()} established`);
    }
    const [id1, id2] = list.connections.map(c => c.id);
    check('tab 1 shows tab 2 joining', await waitForLine(tab1, 'system', `Client ${id2} joined.`));
    check('tab 2 shows its own join', await waitForLine(tab2, 'system', `Client ${id2} joined.`));

    // Type in tab 1 and press Enter: tab 2 shows it from tab 1, tab 1 its echo.
    const text = 'Hello from tab 1: "quotes" \\ <b>not bold</b> ✓ 😀';
    await tab1.click('#text');
    await tab1.keyboard.type(text);
    await tab1.keyboard.press('Enter');
    check('tab 2 shows the message from tab 1', await waitForLine(tab2, 'message', `${id1}: ${text}`),
          JSON.stringify(await logLines(tab2)));
    check('tab 1 shows its echo', await waitForLine(tab1, 'echo', `you: ${text}`), JSON.stringify(await logLines(tab1)));
    check('the input is cleared after sending', (await tab1.inputValue('#text')) === '');
    check('markup in a message stays text', (await tab2.$$('#log b b')).length === 0);

    // Tab 2 answers.
    await tab2.fill('#text', 'and hello back from tab 2');
    await tab2.click('button');
    check('tab 1 shows the answer from tab 2',
          await waitForLine(tab1, 'message', `${id2}: and hello back from tab 2`));

    // A push through the REST hook reaches both tabs.
    const res = await rest('api/connections/broadcast', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ message: 'Server maintenance at noon' }) });
    check('REST broadcast answers {"recipients":2}', res.status === 200 && res.text === '{"recipients":2}',
          JSON.stringify(res));
    check('tab 1 shows the server broadcast', await waitForLine(tab1, 'server-broadcast', 'server: Server maintenance at noon'));
    check('tab 2 shows the server broadcast', await waitForLine(tab2, 'server-broadcast', 'server: Server maintenance at noon'));

    // The live connection list (refreshed every 2 s) shows both tabs, with their message counts.
    const listShows = page => eventually(page, ([a, b]) => {
      const rows = [...document.querySelectorAll('#conns tr')].map(tr => [...tr.children].map(td => td.textContent));
      return document.getElementById('count').textContent === '2' && rows.length === 2 &&
             rows[0][0] === a && rows[1][0] === b && rows[0][2] === '1' && rows[1][2] === '1';
    }, [id1, id2], 8000);
    check('tab 1 lists 2 live connections', await listShows(tab1),
          await tab1.$eval('#conns', t => t.innerText));
    check('tab 2 lists 2 live connections', await listShows(tab2),
          await tab2.$eval('#conns', t => t.innerText));

    const suffix = h2 ? '_h2' : '';
    const shot1 = path.join(process.env.WSX_SHOT_DIR, `browser${suffix}_tab1.png`);
    const shot2 = path.join(process.env.WSX_SHOT_DIR, `browser${suffix}_tab2.png`);
    await tab1.screenshot({ path: shot1 });
    await tab2.screenshot({ path: shot2 });
    console.log(`screenshots: ${shot1} ${shot2}`);

    // Closing tab 2: tab 1 sees it leave, and its list drops to 1.
    await tab2.close();
    check('tab 1 shows tab 2 leaving', await waitForLine(tab1, 'system', `Client ${id2} left.`));
    check('tab 1 lists 1 connection after tab 2 left',
          await eventually(tab1, ([a]) => {
            const rows = [...document.querySelectorAll('#conns tr')].map(tr => tr.children[0].textContent);
            return document.getElementById('count').textContent === '1' && rows.length === 1 && rows[0] === a;
          }, [id1], 8000),
          `count ${await tab1.$eval('#count', c => c.textContent)}: ${await tab1.$eval('#conns', t => t.innerText)}`);
    check('no page or console errors', problems.length === 0, problems.join('; '));
  } finally {
    await context.close();
  }
}

main().catch(e => {
  check('ran without an exception', false, String(e && e.stack || e));
}).finally(() => {
  process.exit(summary());
});
