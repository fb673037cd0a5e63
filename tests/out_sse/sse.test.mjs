// out_sse over real HTTP: the original's /chart-data format, ids, /events formats and device
// filter, /streams, Last-Event-ID resume and reset, heartbeats, CORS, max_clients, cleanup of
// vanished clients, slow-client isolation under both overflow policies.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  FULL_PIPELINE, accelPayload, httpGet, httpRequest, postBody, sleep, sse, stalledClient, startSensord,
  waitFor,
} from './helpers.mjs';

const TIME_RE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/;

describe(`out_sse (${FULL_PIPELINE ? 'source_http → query_local → out_sse' : 'source_http → out_sse'})`, () => {
  let h;
  before(async () => { h = await startSensord({ keys: { heartbeat: '300ms', replay: 50, client_queue: 100 } }); });
  after(async () => { const r = await h.stop(); assert.equal(r.code, 0, 'clean exit on SIGTERM\n' + h.log()); });

  test('start-up line: the dashboard URL and the bound address, no "(port N)"', () => {
    const port = new URL(h.base).port;
    assert.match(h.log(), new RegExp(` stage=out plugin=out_sse msg="dashboard at ${h.base}/ \\(sse streams, listening on 127\\.0\\.0\\.1:${port}\\)"`));
  });

  test('chart-data: new_message events with the original array, increasing ids', async () => {
    const s = sse(h.base + '/chart-data/any-client-id');
    await waitFor(() => s.status);
    assert.equal(s.status, 200);
    assert.match(s.headers['content-type'], /^text\/event-stream/);
    assert.equal(s.headers['access-control-allow-origin'], undefined, 'same-origin only by default');
    await sleep(100);
    const t0 = 1683555956851304200n;
    assert.equal(await postBody(h, accelPayload('86a5b0e3-phone-a', 20, { t0 })), 200);
    await waitFor(() => s.events.length >= 20);
    s.close();
    assert.equal(s.events.length, 20);
    const ids = s.events.map((e) => BigInt(e.id));
    for (let i = 1; i < ids.length; i++) assert.equal(ids[i], ids[i - 1] + 1n, 'ids increase by one');
    for (const e of s.events) {
      assert.equal(e.event, 'new_message');
      assert.equal(e.data.length, 5);
      assert.equal(e.data[0], '86a5b0e3-phone-a');
      assert.match(e.data[1], TIME_RE);
    }
    assert.equal(s.events[0].data[1], '2023-05-08 14:25:56.851304', 'UTC, microseconds');
    assert.deepEqual(s.events[3].data.slice(2), [0.03, -0.3, -1]);
  });

  test('events/{query}: array and object formats, device filter, /streams', async () => {
    const arr = sse(`${h.base}/events/${h.accel}`);
    const obj = sse(`${h.base}/events/${h.accel}?format=object&device=phone-b`);
    await waitFor(() => arr.status && obj.status);
    await sleep(100);
    await postBody(h, accelPayload('phone-a', 5));
    await postBody(h, accelPayload('phone-b', 3));
    await waitFor(() => arr.events.length >= 8 && obj.events.length >= 3);
    await sleep(100);
    arr.close();
    obj.close();
    assert.equal(arr.events.length, 8);
    assert.equal(obj.events.length, 3, 'only phone-b');
    assert.equal(arr.events[0].event, 'message');
    assert.ok(Array.isArray(arr.events[0].data));
    const o = obj.events[0].data;
    const devKey = Object.keys(o).find((k) => k.toLowerCase() === 'deviceid');
    assert.equal(o[devKey], 'phone-b');
    const streams = JSON.parse((await httpGet(h.base + '/streams')).body);
    const acc = streams.find((s) => s.name === h.accel);
    assert.ok(acc, 'accelerometer stream listed');
    assert.equal(acc.columns.length, acc.types.length);
    assert.ok(acc.columns.map((c) => c.toLowerCase()).includes('values_x'));
    if (FULL_PIPELINE) assert.deepEqual(acc.types, ['STRING', 'BIGINT', 'DOUBLE', 'DOUBLE', 'DOUBLE']);
    const bad = await httpGet(`${h.base}/events/${h.accel}?format=xml`);
    assert.equal(bad.status, 400);
  });

  test('Last-Event-ID resumes from the replay buffer; gone ids get event: reset', async () => {
    const s = sse(`${h.base}/events/${h.accel}`);
    await waitFor(() => s.status);
    await sleep(50);
    await postBody(h, accelPayload('phone-r', 10));
    await waitFor(() => s.events.length >= 10);
    s.close();
    const ids = s.events.map((e) => e.id);
    // Resume after the 4th: the 5th..10th follow, nothing else.
    const r = sse(`${h.base}/events/${h.accel}`, { 'Last-Event-ID': ids[3] });
    await waitFor(() => r.events.length >= 6);
    await sleep(100);
    r.close();
    assert.deepEqual(r.events.map((e) => e.id), ids.slice(4));
    // replay = 50: an id 60 events back is gone (wait until they are published: ingest
    // answers once the batch is queued, before the rows reach the output).
    const w = sse(`${h.base}/events/${h.accel}`);
    await waitFor(() => w.status);
    await postBody(h, accelPayload('phone-r', 60));
    assert.ok(await waitFor(() => w.events.length >= 60));
    w.close();
    const g = sse(`${h.base}/events/${h.accel}`, { 'Last-Event-ID': ids[3] });
    await waitFor(() => g.events.length >= 1);
    g.close();
    assert.equal(g.events[0].event, 'reset');
    const q = sse(`${h.base}/events/${h.accel}?last_event_id=junk`);
    await waitFor(() => q.events.length >= 1);
    q.close();
    assert.equal(q.events[0].event, 'reset');
  });

  test('heartbeat comments on an idle stream', async () => {
    const s = sse(`${h.base}/events/idle-stream`);
    await waitFor(() => s.comments.length >= 2, 3000);
    s.close();
    assert.ok(s.comments.length >= 2, `heartbeats seen: ${s.comments.length}`);
    assert.equal(s.comments[0], ': hb');
  });

  test('vanished clients are noticed and freed', async () => {
    const socks = [];
    for (let i = 0; i < 5; i++) {
      const sock = net.connect(Number(new URL(h.base).port), '127.0.0.1');
      sock.write(`GET /events/${h.accel} HTTP/1.1\r\nHost: x\r\n\r\n`);
      sock.on('data', () => {});
      socks.push(sock);
    }
    assert.ok(await waitFor(async () => (await h.health()).clients === 5), 'five clients connected');
    for (const s of socks) s.destroy();
    const zero = await waitFor(async () => (await h.health()).clients === 0, 5000);
    assert.ok(zero, `clients after disconnect: ${(await h.health()).clients}`);
  });

  test('dashboard, config.json and vendored uPlot are served', async () => {
    const page = await httpGet(h.base + '/');
    assert.equal(page.status, 200);
    assert.match(page.body, /vendor\/uPlot\.iife\.min\.js/);
    const js = await httpGet(h.base + '/vendor/uPlot.iife.min.js');
    assert.equal(js.status, 200);
    assert.ok(js.body.length > 10000);
    const cfg = JSON.parse((await httpGet(h.base + '/config.json')).body);
    assert.equal(cfg.transport, 'sse');
    assert.equal(cfg.ingest_path, '/phone-producer/');
    assert.equal((await httpGet(h.base + '/../etc/passwd')).status, 404);
    assert.equal((await httpGet(h.base + '/nope.js')).status, 404);
    assert.equal((await httpRequest('POST', h.base + '/events/x', '{}')).status, 405);
  });
});

describe('out_sse options', () => {
  test('CORS: only listed origins; max_clients answers 503', async () => {
    const h = await startSensord({ name: 'out_sse_cors', keys: { cors_origins: 'http://allowed.example', max_clients: 2, heartbeat: '200ms' } });
    try {
      const ok = sse(h.base + '/chart-data/1', { Origin: 'http://allowed.example' });
      const other = sse(h.base + '/chart-data/2', { Origin: 'http://evil.example' });
      await waitFor(() => ok.status && other.status);
      assert.equal(ok.headers['access-control-allow-origin'], 'http://allowed.example');
      assert.equal(other.headers['access-control-allow-origin'], undefined);
      const pre = await httpRequest('OPTIONS', h.base + '/events/x', null, { Origin: 'http://allowed.example', 'Access-Control-Request-Method': 'GET' });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers['access-control-allow-origin'], 'http://allowed.example');
      const third = await httpGet(h.base + '/chart-data/3');
      assert.equal(third.status, 503);
      assert.ok(third.headers['retry-after']);
      ok.close();
      other.close();
      assert.ok(await waitFor(async () => (await h.health()).clients === 0));
      assert.equal((await h.health()).rejected, 1);
    } finally {
      assert.equal((await h.stop()).code, 0);
    }
  });

  test('connection_memory: headers that do not fit get 431 and a log line naming the key', async () => {
    const cookie = { Cookie: `session=${'a'.repeat(5000)}` }; // cookies take their size twice
    // libmicrohttpd's 431 carries bytes after its Connection: close that node's strict
    // parser refuses (curl and browsers do not), so read its status line off the socket.
    const statusLine = (base, headers) => new Promise((resolve, reject) => {
      const u = new URL(base);
      const sock = net.connect(Number(u.port), u.hostname, () => {
        const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
        sock.write(`GET /streams HTTP/1.1\r\nHost: ${u.host}\r\n${extra}\r\n`);
      });
      let got = '';
      sock.on('data', (d) => { got += d; if (got.includes('\r\n')) { sock.destroy(); resolve(got.split('\r\n')[0]); } });
      sock.on('error', reject);
    });
    const small = await startSensord({ name: 'out_sse_mem_small' });
    try {
      assert.match(await statusLine(small.base, cookie), /^HTTP\/1\.1 431 /);
      assert.equal((await httpGet(small.base + '/streams')).status, 200);
      assert.ok(await waitFor(() => /level=warn .*431.*raise connection_memory/.test(small.log())));
    } finally {
      assert.equal((await small.stop()).code, 0);
    }
    const big = await startSensord({ name: 'out_sse_mem_big', keys: { connection_memory: '16K' } });
    try {
      assert.equal((await httpGet(big.base + '/streams', cookie)).status, 200);
    } finally {
      assert.equal((await big.stop()).code, 0);
    }
  });

  test('closing streams (browser leaves, server drains) logs no warning', async () => {
    const h = await startSensord({ name: 'out_sse_quiet_close', keys: { heartbeat: '200ms' } });
    let stopped = false;
    try {
      const streams = [0, 1, 2, 3].map(() => sse(`${h.base}/events/${h.accel}`));
      assert.ok(await waitFor(async () => (await h.health()).clients === 4), 'four clients connected');
      assert.equal(await postBody(h, accelPayload('quiet', 20)), 200);
      assert.ok(await waitFor(() => streams.every((s) => s.events.length >= 20)), 'rows reached every stream');
      // Two leave once they are handed over to the stream writer (after a heartbeat).
      assert.ok(await waitFor(() => streams[0].comments.length >= 1 && streams[1].comments.length >= 1));
      streams[0].close();
      streams[1].close();
      assert.ok(await waitFor(async () => (await h.health()).clients === 2), 'left clients freed');
      await sleep(300);
      const warnLeave = h.log().split('\n').filter((l) => / level=(warn|error) /.test(l));
      assert.deepEqual(warnLeave, [], 'no warning when a client leaves');
      // The other two are still open at shutdown: draining ends them without a warning too.
      assert.equal((await h.stop()).code, 0);
      stopped = true;
      const warnDrain = h.log().split('\n').filter((l) => / level=(warn|error) /.test(l));
      assert.deepEqual(warnDrain, [], 'no warning when draining ends open streams');
      assert.ok(await waitFor(() => streams[2].ended && streams[3].ended), 'open streams ended at shutdown');
    } finally {
      if (!stopped) await h.stop();
    }
  });

  for (const overflow of ['disconnect', 'skip']) {
    test(`slow client isolation (overflow=${overflow})`, async () => {
      const h = await startSensord({ name: `out_sse_slow_${overflow}`, keys: { client_queue: 1000, replay: 1000, overflow, heartbeat: '200ms' } });
      let stalled = null;
      try {
        // A client that never reads: its socket fills, it must not hold anyone back.
        stalled = stalledClient(`${h.base}/events/${h.accel}`);
        const good = sse(`${h.base}/events/${h.accel}`);
        await waitFor(async () => (await h.health()).clients === 2);
        const posts = [];
        const N = 100, PER = 500; // a batch fits in client_queue; 60 of them do not
        for (let i = 0; i < N; i++) {
          posts.push(await postBody(h, accelPayload(`slow-${i % 3}`, PER, { messageId: i })));
          // Paced by the reading client (within one batch of the head); if the stalled one
          // held the stream back, this would time out.
          assert.ok(await waitFor(() => good.events.length >= (i + 1) * PER - PER, 10000), `good client stuck at ${good.events.length}`);
        }
        assert.deepEqual([...new Set(posts)], [200], 'ingest answered 200 throughout');
        assert.ok(await waitFor(() => good.events.length >= N * PER, 20000), `good client got ${good.events.length}/${N * PER}`);
        const st = await waitFor(async () => {
          const x = await h.health();
          return (overflow === 'disconnect' ? x.overflow_disconnects >= 1 && x.clients === 1 : x.clients === 2) && x;
        }, 5000);
        assert.ok(st, JSON.stringify(await h.health()));
        if (overflow === 'skip') assert.equal((await h.health()).overflow_disconnects, 0);
        assert.ok(!good.events.some((e) => e.event !== 'message'), 'the reading client never overflowed');
        good.close();
      } finally {
        if (stalled) stalled.kill();
        assert.equal((await h.stop()).code, 0);
      }
      // Cutting the stalled stream short is logged by out_sse itself, not as a library warning.
      const warn = h.log().split('\n').filter((l) => / level=warn .*msg="http: /.test(l));
      assert.deepEqual(warn, [], 'no libmicrohttpd warning for a cut-short stream');
    });
  }
});
