// SPDX-License-Identifier: BSL-1.0
#pragma once
// The page examples/pubsub_server serves at "/": a live ORDER_CREATED feed
// over /pubsub with wsx-pubsub.js, gap-free across dropped connections.
inline constexpr const char* pubsub_page = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>wsx order feed</title>
<link rel="icon" href="data:,">
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 48rem; color: #222; }
  h1 { font-size: 1.3rem; }
  #status { font-size: 13px; color: #777; margin-left: .5rem; }
  #feed { height: 24rem; overflow-y: auto; border: 1px solid #ccc; border-radius: 6px; padding: .5rem;
          font: 13px/1.5 ui-monospace, monospace; }
  .reset { color: #b00; font-style: italic; }
  .offset { color: #06c; }
  button { margin: .5rem .5rem 0 0; }
</style>
</head>
<body>
<h1>wsx order feed <span id="status">connecting…</span></h1>
<div id="feed"></div>
<button id="place">Place 10 orders</button><button id="drop">Drop the connection</button>
<span id="summary"></span>
<script type="module">
import { PubSubClient } from '/wsx-pubsub.js';
const feed = document.getElementById('feed');
const line = (cls, text) => {
  const d = document.createElement('div');
  d.className = cls;
  d.textContent = text;  // text, never markup
  feed.append(d);
  feed.scrollTop = feed.scrollHeight;
  return d;
};
// What the page showed, for the reader (and the browser test): offsets in order.
const seen = window.wsxSeen = [], statuses = window.wsxStatuses = [];
const client = window.wsxClient = new PubSubClient(`ws://${location.host}/pubsub`, {
  onStatus: s => { statuses.push(s); document.getElementById('status').textContent = s; },
});
client.subscribe('orders', (order, pos) => {
  seen.push(pos.offset);
  const d = line('order', '');
  const o = document.createElement('span');
  o.className = 'offset';
  o.textContent = `#${pos.offset} `;
  d.append(o, `${order.type} ${order.id ?? ''} ${order.item ?? ''}`);
  document.getElementById('summary').textContent = `${seen.length} orders, last offset ${pos.offset}`;
}, {
  onReset: pos => line('reset', `history lost (epoch ${pos.epoch}, offset ${pos.offset}): reload from the source`),
});
document.getElementById('place').onclick = async () => {
  for (let i = 0; i < 10; ++i)
    await fetch('/api/topics/orders/publish', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ data: { type: 'ORDER_CREATED', id: crypto.randomUUID().slice(0, 8), item: 'book' } }) });
};
document.getElementById('drop').onclick = () => client.ws && client.ws.close();
</script>
</body>
</html>
)html";
