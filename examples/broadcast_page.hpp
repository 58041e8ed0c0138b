// SPDX-License-Identifier: BSL-1.0
#pragma once
// The page examples/broadcast_server serves at "/": a chat between browser
// tabs over /ws, and the live connection list from the REST hook.
inline constexpr const char* broadcast_page = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>wsx broadcast</title>
<link rel="icon" href="data:,"><!-- no /favicon.ico request, so no 404 in the console -->
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 56rem; display: grid;
         grid-template-columns: 2fr 1fr; gap: 1.5rem; color: #222; }
  h1 { grid-column: 1 / 3; font-size: 1.3rem; margin: 0; }
  #log { height: 24rem; overflow-y: auto; border: 1px solid #ccc; border-radius: 6px; padding: .5rem; }
  #log div { margin: .15rem 0; }
  .system { color: #777; font-style: italic; }
  .echo b { color: #06c; }
  .message b { color: #b50; }
  .server-broadcast { color: #080; }
  form { display: flex; gap: .5rem; margin-top: .5rem; }
  input { flex: 1; padding: .4rem; }
  table { width: 100%; border-collapse: collapse; font-size: 13px; }
  td, th { text-align: left; padding: .2rem .3rem; border-bottom: 1px solid #eee; }
  #status { font-size: 13px; color: #777; }
</style>
</head>
<body>
<h1>wsx broadcast <span id="status">connecting…</span></h1>
<section>
  <div id="log"></div>
  <form id="send"><input id="text" autocomplete="off" placeholder="Say something to every tab"><button>Send</button></form>
</section>
<section>
  <h2 style="font-size:1rem;margin:0 0 .5rem">Live connections (<span id="count">0</span>)</h2>
  <table><thead><tr><th>id</th><th>remote</th><th>in</th><th>out</th></tr></thead><tbody id="conns"></tbody></table>
  <p id="listnote" class="system"></p>
</section>
<script>
const log = document.getElementById('log');
function show(cls, who, text, time) {
  const div = document.createElement('div');
  div.className = cls;
  const stamp = time ? new Date(time).toLocaleTimeString() + ' ' : '';
  if (who) { const b = document.createElement('b'); b.textContent = who + ': '; div.append(stamp, b, text); }
  else div.append(stamp + text);
  log.append(div);
  log.scrollTop = log.scrollHeight;
}
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
ws.onopen = () => document.getElementById('status').textContent = 'connected';
ws.onclose = e => document.getElementById('status').textContent = 'closed (' + e.code + ')';
ws.onmessage = e => {
  const m = JSON.parse(e.data);
  if (m.type === 'system') show('system', '', m.message, m.timestamp);
  else if (m.type === 'echo') show('echo', 'you', m.message, m.timestamp);
  else if (m.type === 'message') show('message', m.from, m.message, m.timestamp);
  else show(m.type, 'server', m.message, m.timestamp);
};
document.getElementById('send').onsubmit = e => {
  e.preventDefault();
  const input = document.getElementById('text');
  if (input.value && ws.readyState === WebSocket.OPEN) { ws.send(input.value); input.value = ''; }
};
async function refresh() {
  try {
    const r = await fetch('/api/connections');
    if (r.status === 401) { document.getElementById('listnote').textContent = 'The list needs the admin token.'; return; }
    if (r.status === 403) { document.getElementById('listnote').textContent = 'The list is served to the server\'s own machine only (start it with --token to share it).'; return; }
    const data = await r.json();
    document.getElementById('count').textContent = data.count;
    const body = document.getElementById('conns');
    body.replaceChildren(...data.connections.map(c => {
      const tr = document.createElement('tr');
      for (const v of [c.id, c.remote, c.messages_in, c.messages_out]) {
        const td = document.createElement('td'); td.textContent = v; tr.append(td);
      }
      return tr;
    }));
  } catch (err) { document.getElementById('listnote').textContent = 'List unavailable: ' + err; }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
)html";
