// SPDX-License-Identifier: BSL-1.0
// Interop: headless Chromium on examples/pubsub_server's page. Run by
// browser_pubsub_test.sh: node browser_pubsub_test.js http://127.0.0.1:PORT/
// Environment: WSX_CHROMIUM, WSX_NODE_DIR, WSX_SHOT_DIR, WSX_PROFILE_DIR (as browser_test.js).
'use strict';
const path = require('path');
const { chromium } = require(path.join(process.env.WSX_NODE_DIR, 'node_modules', 'playwright-core'));

const { check, summary } = require('./interop_helpers');

const url = process.argv[2];
const total = 300;     // orders published
const killAt = 120;    // the connection is killed after this many

async function eventually(page, predicate, arg, timeout = 10000) {
  try {
    await page.waitForFunction(predicate, arg, { timeout });
    return true;
  } catch (e) {
    return false;
  }
}

const publish = async n => {
  const res = await fetch(url + 'api/topics/orders/publish', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ data: { type: 'ORDER_CREATED', id: n, item: `item ${n}` } }) });
  if (res.status !== 200) throw new Error(`publish ${n}: ${res.status} ${await res.text()}`);
  return (await res.json()).offset;
};

async function main() {
  const context = await chromium.launchPersistentContext(process.env.WSX_PROFILE_DIR, {
    executablePath: process.env.WSX_CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
    viewport: { width: 900, height: 720 },
    timeout: 30000,
  });
  context.setDefaultTimeout(10000);
  const problems = [];
  try {
    const page = context.pages()[0] || await context.newPage();
    page.on('pageerror', e => problems.push(`page error: ${e.message}`));
    page.on('console', m => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
    await page.goto(url);
    check('title', (await page.title()) === 'wsx order feed', await page.title());
    check('the page subscribes to "orders"',
          await eventually(page, () => window.wsxClient && window.wsxClient.position('orders') !== null));

    const conns = await (await fetch(url + 'api/connections')).json();
    const ws = conns.connections.filter(c => c.path === '/pubsub');
    check('REST lists the page\'s connection', ws.length === 1, JSON.stringify(conns));

    let offsetsOk = true;
    for (let n = 1; n <= total; ++n) {
      if ((await publish(n)) !== n) offsetsOk = false;
      if (n === killAt) {
        // Killed by the server while orders keep coming.
        const res = await fetch(url + 'api/connections/' + ws[0].id, { method: 'DELETE' });
        check('DELETE /api/connections/{id} answers 204', res.status === 204, String(res.status));
      }
    }
    check(`REST publish answered offsets 1..${total}`, offsetsOk);

    check('the page reconnects and shows every order',
          await eventually(page, t => window.wsxSeen.length >= t, total, 15000),
          `seen ${await page.evaluate(() => window.wsxSeen.length)}`);
    const seen = await page.evaluate(() => window.wsxSeen);
    const expected = Array.from({ length: total }, (_, i) => i + 1);
    check('no gap and no duplicate: offsets 1..N in order', JSON.stringify(seen) === JSON.stringify(expected),
          JSON.stringify(seen.slice(0, 20)) + '...');
    const statuses = await page.evaluate(() => window.wsxStatuses);
    check('it did reconnect', statuses.filter(s => s === 'connected').length >= 2 &&
          statuses.some(s => s.startsWith('reconnecting')), JSON.stringify(statuses));
    const rows = await page.$$eval('#feed .order', ds => ds.map(d => d.textContent));
    check('the feed shows one row per order, in order', rows.length === total &&
          rows[0] === '#1 ORDER_CREATED 1 item 1' && rows[total - 1] === `#${total} ORDER_CREATED ${total} item ${total}`,
          `${rows.length} rows: ${rows[0]} ... ${rows[rows.length - 1]}`);
    check('no history reset shown', (await page.$$('#feed .reset')).length === 0);

    // The page's own "Drop the connection" button: it resumes again.
    await page.click('#drop');
    for (let n = total + 1; n <= total + 20; ++n) await publish(n);
    check('after a drop from the page side, orders continue without a gap',
          await eventually(page, t => window.wsxSeen.length === t && window.wsxSeen[t - 1] === t, total + 20));

    const shot = path.join(process.env.WSX_SHOT_DIR, 'browser_pubsub.png');
    await page.screenshot({ path: shot });
    console.log(`screenshot: ${shot}`);
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
