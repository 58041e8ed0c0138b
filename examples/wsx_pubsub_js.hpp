// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx-pubsub.js, which examples/pubsub_server serves at "/wsx-pubsub.js": a
// dependency-free browser client (an ES module) for wsx.pubsub.v1 that
// reconnects with backoff and resumes every topic from the last epoch and
// offset it saw. Copy the text between the markers into your own application.
//
//   import { PubSubClient } from '/wsx-pubsub.js';
//   const client = new PubSubClient('wss://example.com/pubsub', { onStatus: s => console.log(s) });
//   client.subscribe('orders', (data, pos) => show(data, pos.offset), {
//     onReset: pos => reloadFromMyDatabase(),  // history lost: resynchronise
//   });
inline constexpr const char* wsx_pubsub_js = R"js(// wsx-pubsub.js: a browser client for wsx.pubsub.v1 (SPDX-License-Identifier: BSL-1.0)
//
// new PubSubClient(url, { minDelay: 250, maxDelay: 10000, onStatus(status) {}, onError(err) {} })
// subscribe(topic, onMessage(data, {topic, epoch, offset}), { since: {epoch, offset}, onSubscribed(pos, recovered), onReset(pos) })
//   -> a function that unsubscribes
// publish(topic, data) -> Promise<{epoch, offset}> (when the server allows clients to publish)
// position(topic) -> {epoch, offset} of the last message delivered (to store, and pass as `since` later)
// close()
//
// Every topic is delivered exactly once and in order across reconnections:
// on reconnect the client subscribes again with `since` = the last position it
// delivered, and the server replays what was missed. When the server cannot
// (its history no longer reaches back, or it restarted: another epoch), it says
// recovered:false and onReset(pos) runs: the application must reload its state
// from its own source. A message that repeats an offset is dropped; one that
// skips offsets (the server dropped messages for a slow client) is not
// delivered: the client asks for a replay from the last offset it delivered.
export class PubSubClient {
  constructor(url, options = {}) {
    this.url = url;
    this.minDelay = options.minDelay ?? 250;
    this.maxDelay = options.maxDelay ?? 10000;
    this.onStatus = options.onStatus || (() => {});
    this.onError = options.onError || (e => console.warn('wsx-pubsub:', e));
    this.topics = new Map();   // topic -> { onMessage, onSubscribed, onReset, epoch, offset, resyncing }
    this.publishes = [];       // promises of publish, answered in order
    this.attempt = 0;
    this.closed = false;
    this.ws = null;
    this.connect();
  }

  subscribe(topic, onMessage, { since, onSubscribed, onReset } = {}) {
    const t = { onMessage, onSubscribed, onReset, epoch: since ? since.epoch : null,
                offset: since ? since.offset : null, resyncing: false };
    this.topics.set(topic, t);
    this.sendSubscribe(topic, t);
    return () => this.unsubscribe(topic);
  }

  unsubscribe(topic) {
    if (this.topics.delete(topic)) this.send({ op: 'unsubscribe', topic });
  }

  position(topic) {
    const t = this.topics.get(topic);
    return t && t.epoch !== null ? { epoch: t.epoch, offset: t.offset } : null;
  }

  publish(topic, data) {
    return new Promise((resolve, reject) => {
      if (!this.send({ op: 'publish', topic, data })) return reject(new Error('not connected'));
      this.publishes.push({ topic, resolve, reject });
    });
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }

  // ---- internals ------------------------------------------------------------
  connect() {
    const ws = new WebSocket(this.url, 'wsx.pubsub.v1');
    this.ws = ws;
    this.onStatus('connecting');
    ws.onopen = () => {
      this.attempt = 0;
      this.onStatus('connected');
      for (const [topic, t] of this.topics) this.sendSubscribe(topic, t);
    };
    ws.onmessage = e => {
      let m;
      try { m = JSON.parse(e.data); } catch (err) { return this.onError(err); }
      this.receive(m);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      for (const p of this.publishes.splice(0)) p.reject(new Error('connection lost'));
      if (this.closed) return this.onStatus('closed');
      // Exponential backoff with jitter: clients dropped together do not all
      // come back in the same millisecond.
      const ceiling = Math.min(this.maxDelay, this.minDelay * 2 ** this.attempt++);
      const delay = Math.round(ceiling / 2 + Math.random() * ceiling / 2);
      this.onStatus(`reconnecting in ${delay} ms`);
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  send(op) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(op));
    return true;
  }

  sendSubscribe(topic, t) {
    const op = { op: 'subscribe', topic };
    if (t.epoch !== null) op.since = { epoch: t.epoch, offset: t.offset };
    this.send(op);
  }

  receive(m) {
    const t = this.topics.get(m.topic);
    switch (m.op) {
    case 'message': {
      if (!t) return;
      if (t.epoch === m.epoch && t.offset !== null) {
        if (m.offset <= t.offset) return;              // already delivered
        if (m.offset > t.offset + 1) {                 // a gap: ask for the replay, once
          if (!t.resyncing) { t.resyncing = true; this.sendSubscribe(m.topic, t); }
          return;
        }
      } else if (t.epoch !== null && t.epoch !== m.epoch) {
        return;                                        // another epoch: wait for "subscribed"
      }
      t.epoch = m.epoch;
      t.offset = m.offset;
      t.onMessage(m.data, { topic: m.topic, epoch: m.epoch, offset: m.offset });
      return;
    }
    case 'subscribed': {
      if (!t) return;
      t.resyncing = false;
      const pos = { epoch: m.epoch, offset: m.offset };
      if (m.recovered === false && t.onReset) t.onReset(pos);
      // After a replay we are at the newest offset; after recovered:false or a
      // first subscribe, we start from it.
      t.epoch = m.epoch;
      t.offset = m.offset;
      if (t.onSubscribed) t.onSubscribed(pos, m.recovered);
      return;
    }
    case 'published': {
      const i = this.publishes.findIndex(p => p.topic === m.topic);
      if (i >= 0) this.publishes.splice(i, 1)[0].resolve({ epoch: m.epoch, offset: m.offset });
      return;
    }
    case 'error': {
      const i = this.publishes.findIndex(p => p.topic === m.topic);
      if (i >= 0) this.publishes.splice(i, 1)[0].reject(new Error(m.error));
      else this.onError(new Error(m.topic ? `${m.topic}: ${m.error}` : m.error));
      return;
    }
    }
  }
}
)js";
