// out_websocket checked with an independent client (the npm `ws` package): the same routes
// and payloads as out_sse in text frames with ids, resume by ?last_event_id= and by first
// message, reset, ping keep-alive, close codes, max_clients, and cleanup of dead peers.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { accelPayload, httpGet, postBody, sleep, startSensord, waitFor } from '../out_sse/helpers.mjs';

function open(url, opts) {
  const ws = new WebSocket(url, opts);
  const s = { ws, msgs: [], pings: 0, closed: null, error: null };
  ws.on('message', (m, binary) => s.msgs.push(JSON.parse(String(m))));
  ws.on('ping', () => { s.pings++; });
  ws.on('close', (code, reason) => { s.closed = { code, reason: String(reason) }; });
  ws.on('error', (e) => { s.error = e; });
  ws.on('unexpected-response', (req, res) => { s.error = { status: res.statusCode }; req.destroy(); });
  s.ready = new Promise((resolve) => { ws.on('open', resolve); ws.on('error', resolve); ws.on('unexpected-response', resolve); });
  return s;
}

describe('out_websocket', () => {
  let h, wsBase;
  before(async () => {
    h = await startSensord({ plugin: 'out_websocket', keys: { heartbeat: '200ms', replay: 50, client_queue: 100, max_clients: 6 } });
    wsBase = h.base.replace('http:', 'ws:');
  });
  after(async () => { const r = await h.stop(); assert.equal(r.code, 0, h.log()); });

  test('start-up line: the dashboard URL and the bound address, no "(port N)"', () => {
    const port = new URL(h.base).port;
    assert.match(h.log(), new RegExp(` stage=out plugin=out_websocket msg="dashboard at ${h.base}/ \\(websocket streams, listening on 127\\.0\\.0\\.1:${port}\\)"`));
  });

  test('chart-data and events: JSON text frames with increasing ids', async () => {
    const chart = open(wsBase + '/chart-data/42');
    const events = open(`${wsBase}/events/${h.accel}?format=object&device=ws-b`);
    await chart.ready;
    await events.ready;
    await postBody(h, accelPayload('ws-a', 10, { t0: 1683555956851304200n }));
    await postBody(h, accelPayload('ws-b', 4));
    assert.ok(await waitFor(() => chart.msgs.length >= 14 && events.msgs.length >= 4));
    await sleep(100);
    assert.equal(chart.msgs.length, 14);
    assert.equal(events.msgs.length, 4, 'device filter');
    const ids = chart.msgs.map((m) => BigInt(m.id));
    for (let i = 1; i < ids.length; i++) assert.equal(ids[i], ids[i - 1] + 1n);
    assert.equal(chart.msgs[0].event, 'new_message');
    assert.deepEqual(chart.msgs[0].data, ['ws-a', '2023-05-08 14:25:56.851304', 0, -0.3, -1]);
    const o = events.msgs[0].data;
    assert.equal(o[Object.keys(o).find((k) => k.toLowerCase() === 'deviceid')], 'ws-b');
    chart.ws.close(1000);
    events.ws.close(1000);
    assert.ok(await waitFor(() => chart.closed && events.closed));
    assert.equal(chart.closed.code, 1000);
  });

  test('resume by ?last_event_id= and by a first message; reset when gone', async () => {
    const a = open(`${wsBase}/events/${h.accel}`);
    await a.ready;
    await postBody(h, accelPayload('ws-r', 8));
    assert.ok(await waitFor(() => a.msgs.length >= 8));
    a.ws.close();
    const ids = a.msgs.map((m) => String(m.id));
    const byParam = open(`${wsBase}/events/${h.accel}?last_event_id=${ids[2]}`);
    assert.ok(await waitFor(() => byParam.msgs.length >= 5));
    await sleep(100);
    assert.deepEqual(byParam.msgs.map((m) => String(m.id)), ids.slice(3));
    byParam.ws.close();
    const byMsg = open(`${wsBase}/events/${h.accel}`);
    await byMsg.ready;
    byMsg.ws.send(JSON.stringify({ last_event_id: ids[5] }));
    assert.ok(await waitFor(() => byMsg.msgs.length >= 2));
    await sleep(100);
    assert.deepEqual(byMsg.msgs.map((m) => String(m.id)), ids.slice(6));
    byMsg.ws.close();
    const w = open(`${wsBase}/events/${h.accel}`);
    await w.ready;
    await postBody(h, accelPayload('ws-r', 60)); // replay = 50
    assert.ok(await waitFor(() => w.msgs.length >= 60), 'published before resuming');
    w.ws.close();
    const gone = open(`${wsBase}/events/${h.accel}?last_event_id=${ids[0]}`);
    assert.ok(await waitFor(() => gone.msgs.length >= 1));
    assert.equal(gone.msgs[0].event, 'reset');
    gone.ws.close();
  });

  test('ping keep-alive; binary frames are refused with 1003', async () => {
    const s = open(`${wsBase}/events/quiet`);
    await s.ready;
    assert.ok(await waitFor(() => s.pings >= 2, 3000), `pings: ${s.pings}`);
    s.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.ok(await waitFor(() => s.closed));
    assert.equal(s.closed.code, 1003);
  });

  test('plain GET on a stream route: 426; over max_clients: 503', async () => {
    const r = await httpGet(`${h.base}/events/${h.accel}`);
    assert.equal(r.status, 426);
    assert.equal(r.headers.upgrade, 'websocket');
    assert.ok(await waitFor(async () => (await h.health()).clients === 0, 3000));
    const conns = [];
    for (let i = 0; i < 6; i++) { conns.push(open(`${wsBase}/events/x`)); await conns[i].ready; }
    assert.ok(await waitFor(async () => (await h.health()).clients === 6));
    const extra = open(`${wsBase}/events/x`);
    await extra.ready;
    assert.equal(extra.error && extra.error.status, 503);
    for (const c of conns) c.ws.terminate();
    assert.ok(await waitFor(async () => (await h.health()).clients === 0, 3000), 'terminated clients freed');
  });

  test('a peer that stops answering pings is dropped', async () => {
    // Hand-made handshake, then silence: no pong ever comes back.
    const sock = net.connect(Number(new URL(h.base).port), '127.0.0.1');
    const key = crypto.randomBytes(16).toString('base64');
    sock.write(`GET /events/silent HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`);
    let head = '';
    sock.on('data', (d) => { head += d.toString('latin1'); });
    assert.ok(await waitFor(() => head.includes('\r\n\r\n')));
    assert.match(head, /^HTTP\/1\.1 101/);
    const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    assert.ok(head.includes(`Sec-WebSocket-Accept: ${accept}`), head);
    assert.ok(await waitFor(async () => (await h.health()).clients === 1));
    const closed = new Promise((resolve) => sock.on('close', resolve));
    assert.ok(await waitFor(async () => (await h.health()).clients === 0, 3000), 'dropped after missed pongs');
    await Promise.race([closed, sleep(2000)]);
    assert.ok(sock.destroyed || sock.readableEnded);
    sock.destroy();
  });

  test('server shutdown closes with 1001', async () => {
    const h2 = await startSensord({ plugin: 'out_websocket', name: 'out_websocket_stop' });
    const s = open(h2.base.replace('http:', 'ws:') + '/chart-data/1');
    await s.ready;
    const r = await h2.stop();
    assert.equal(r.code, 0);
    assert.ok(await waitFor(() => s.closed, 3000));
    assert.equal(s.closed.code, 1001);
  });
});
