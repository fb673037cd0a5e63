// Batched writes: the pump sends a client's whole backlog at once. A raw socket checks that
// one read carries several complete SSE events / WebSocket frames with correct chunked and
// frame framing, and the npm `ws` client parses the batched frames into ordered messages.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { accelPayload, postBody, sleep, startSensord, waitFor } from '../out_sse/helpers.mjs';

// Opens a raw connection, sends the request, collects every read separately.
function raw(port, request) {
  const sock = net.connect(port, '127.0.0.1');
  const s = { sock, reads: [], all: Buffer.alloc(0) };
  sock.on('data', (d) => { s.reads.push(d); s.all = Buffer.concat([s.all, d]); });
  sock.on('error', () => {});
  sock.write(request);
  return s;
}

// Decodes HTTP/1.1 chunked framing strictly; returns the body and whether it was well formed.
function dechunk(buf) {
  let i = 0, body = '';
  while (i < buf.length) {
    const eol = buf.indexOf('\r\n', i);
    if (eol < 0) return { body, ok: false };
    const size = parseInt(buf.subarray(i, eol).toString(), 16);
    if (Number.isNaN(size)) return { body, ok: false };
    if (buf.length < eol + 2 + size + 2) return { body, ok: false };
    body += buf.subarray(eol + 2, eol + 2 + size).toString();
    if (buf.subarray(eol + 2 + size, eol + 4 + size).toString() !== '\r\n') return { body, ok: false };
    i = eol + 4 + size;
  }
  return { body, ok: true };
}

// Splits server frames; throws on a masked or malformed one.
function frames(buf) {
  const out = [];
  let i = 0;
  while (i + 2 <= buf.length) {
    const op = buf[i] & 0x0f;
    assert.equal(buf[i] & 0x80, 0x80, 'FIN');
    assert.equal(buf[i + 1] & 0x80, 0, 'server frames are not masked');
    let len = buf[i + 1] & 0x7f, p = i + 2;
    if (len === 126) { len = buf.readUInt16BE(p); p += 2; }
    if (len === 127) { len = Number(buf.readBigUInt64BE(p)); p += 8; }
    if (p + len > buf.length) break;
    out.push({ op, text: buf.subarray(p, p + len).toString() });
    i = p + len;
  }
  return { frames: out, rest: buf.length - i };
}

for (const plugin of ['out_sse', 'out_websocket']) {
  describe(`${plugin} batched writes`, () => {
    let h, port;
    before(async () => {
      h = await startSensord({ plugin, name: `${plugin}-batch`, keys: { client_queue: 1000, replay: 500 } });
      port = Number(new URL(h.base).port);
    });
    after(async () => { const r = await h.stop(); assert.equal(r.code, 0, h.log()); });

    test('one POST of 200 readings reaches a raw client in few reads, framed correctly', async () => {
      const ws = plugin === 'out_websocket';
      const req = ws
        ? `GET /events/${h.accel} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'
        : `GET /events/${h.accel} HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n`;
      const c = raw(port, req);
      assert.ok(await waitFor(() => c.all.indexOf('\r\n\r\n') > 0));
      await sleep(100);
      const headEnd = c.all.indexOf('\r\n\r\n') + 4;
      assert.match(c.all.subarray(0, headEnd).toString(), ws ? /^HTTP\/1\.1 101/ : /^HTTP\/1\.1 200[^]*chunked/i);
      const readsBefore = c.reads.length;
      await postBody(h, accelPayload('batch-a', 200));
      let events = [];
      const decode = () => {
        const bytes = c.all.subarray(headEnd);
        if (ws) {
          const f = frames(bytes);
          events = f.frames.filter((x) => x.op === 1).map((x) => JSON.parse(x.text));
          return f.rest === 0;
        }
        const d = dechunk(bytes);
        events = d.body.split('\n\n').filter((b) => b.includes('data: ')).map((b) => ({
          id: b.match(/^id: (\d+)$/m)[1], data: JSON.parse(b.match(/^data: (.*)$/m)[1]),
        }));
        return d.ok;
      };
      assert.ok(await waitFor(() => decode() && events.length >= 200), `got ${events.length}`);
      assert.equal(events.length, 200);
      const ids = events.map((e) => BigInt(e.id));
      for (let i = 1; i < ids.length; i++) assert.equal(ids[i], ids[i - 1] + 1n, 'consecutive ids');
      assert.equal(events[0].data[0], 'batch-a');
      const reads = c.reads.length - readsBefore;
      assert.ok(reads < 200 / 2, `200 events arrived in ${reads} reads: batched`);
      c.sock.destroy();
    });

    if (plugin === 'out_websocket') {
      test('the ws client parses batched frames into ordered messages', async () => {
        const base = h.base.replace('http:', 'ws:');
        const w = new WebSocket(`${base}/events/${h.accel}?format=object`);
        const msgs = [];
        w.on('message', (m) => msgs.push(JSON.parse(String(m))));
        await new Promise((resolve, reject) => { w.on('open', resolve); w.on('error', reject); });
        await postBody(h, accelPayload('batch-b', 300));
        assert.ok(await waitFor(() => msgs.length >= 300), `got ${msgs.length}`);
        await sleep(100);
        assert.equal(msgs.length, 300);
        for (let i = 1; i < msgs.length; i++) assert.equal(BigInt(msgs[i].id), BigInt(msgs[i - 1].id) + 1n);
        const o = msgs[299].data;
        assert.equal(o[Object.keys(o).find((k) => k.toLowerCase() === 'deviceid')], 'batch-b');
        w.close(1000);
        await new Promise((resolve) => w.on('close', resolve));
      });
    }
  });
}
