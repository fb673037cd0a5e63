// A ksqlDB client nobody here wrote — the npm package ksqldb-client (HTTP/2 prior knowledge,
// JSON.parse of every DATA frame) — against query_local: a push query fed by Sensor Logger
// posts, listStreams, and terminatePushQuery ending the stream. Also checks, with node's own
// http2 client, that every DATA frame of a delimited stream holds exactly one line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { freePort } from '../out_sse/helpers.mjs';

const ROOT = process.env.SENSORD_ROOT || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BUILD = process.env.BUILD || 'build';
const BIN = process.env.SENSORD_BIN || path.join(ROOT, BUILD, 'sensord');
const PLUGIN_DIR = process.env.SENSORD_PLUGIN_DIR || path.join(ROOT, BUILD, 'plugins');
const OUT = process.env.TEST_OUT || path.join(ROOT, 'tests/out', BUILD);
const SAMPLE = path.join(ROOT, 'tests/data/sensorlogger/ios-uncalibrated-1s.json');
const KsqldbClient = createRequire(import.meta.url)(path.join(ROOT, 'node_modules/ksqldb-client'));
const SQL = "SELECT deviceId, time, values_x FROM smartphone_sensor_stream WHERE name = 'accelerometeruncalibrated' EMIT CHANGES;";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// A deadline for Promise.race that does not keep the process alive once the race is won.
const deadline = (ms) => new Promise((r) => setTimeout(r, ms, 'timeout').unref());

function post(port, urlPath, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method: 'POST',
      headers: { 'Content-Type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: text }));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

async function until(what, fn, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

let sensord, ingestPort, apiPort, log;
const expected = JSON.parse(fs.readFileSync(SAMPLE, 'utf8')).payload
  .filter((r) => r.name === 'accelerometeruncalibrated').length;

before(async () => {
  ingestPort = await freePort();
  apiPort = await freePort();
  const dir = fs.mkdtempSync(path.join(fs.mkdirSync(OUT, { recursive: true }) || OUT, 'ksqldb_client.'));
  const ini = path.join(dir, 'p.ini');
  fs.writeFileSync(ini, [
    '[sensord]', `plugin_dir = ${PLUGIN_DIR}`, 'admin_listen = off', '',
    '[ingest]', 'plugin = source_http', `listen = 127.0.0.1:${ingestPort}`, '',
    '[engine]', 'plugin = query_local', 'inputs = ingest', `listen = 127.0.0.1:${apiPort}`, '',
    '[out]', 'plugin = sink_null', 'inputs = engine', ''].join('\n'));
  log = path.join(dir, 'sensord.log');
  const fd = fs.openSync(log, 'w');
  sensord = spawn(BIN, ['-c', ini], { stdio: ['ignore', fd, fd] });
  await until('the API', () => new Promise((resolve) => {
    http.get(`http://127.0.0.1:${apiPort}/info`, (res) => { res.resume(); resolve(res.statusCode === 200); })
      .on('error', () => resolve(false));
  }));
});

after(async () => {
  if (!sensord || sensord.exitCode !== null) return;
  const exited = new Promise((r) => sensord.once('exit', (code) => r(code)));
  sensord.kill('SIGTERM');
  const code = await Promise.race([exited, deadline(15000)]);
  assert.equal(code, 0, `sensord exit (log: ${log})`);
});

test('ksqldb-client: streamQuery, listStreams, terminatePushQuery', async () => {
  const client = new KsqldbClient({ host: '127.0.0.1', port: apiPort, timeout: 10000 });
  await client.connect();
  try {
    const streams = await client.listStreams();
    assert.deepEqual(streams.map((s) => s.name), ['SMARTPHONE_SENSOR_STREAM']);
    assert.equal(streams[0].topic, 'smartphone-sensor-data');

    const rows = [];
    let metadata;
    const done = client.streamQuery(SQL, (data) => {
      assert.equal(data.status, 200);
      metadata = data.metadata;
      if (data.rows) rows.push(...data.rows);
    });
    await until('the header', () => metadata !== undefined);
    assert.deepEqual(metadata.columnNames, ['DEVICEID', 'TIME', 'VALUES_X']);
    assert.deepEqual(metadata.columnTypes, ['STRING', 'BIGINT', 'DOUBLE']);
    assert.match(metadata.queryId, /^transient_SMARTPHONE_SENSOR_STREAM_\d+$/);

    const res = await post(ingestPort, '/phone-producer/', fs.readFileSync(SAMPLE));
    assert.equal(res.status, 200);
    await until(`${expected} rows`, () => rows.length >= expected);
    assert.equal(rows.length, expected);
    assert.equal(rows[0].DEVICEID, 'cd613e30-d8f1-4adf-91b7-584a2265b1f5');
    assert.equal(typeof rows[0].VALUES_X, 'number');

    const closed = await client.terminatePushQuery(metadata.queryId);
    assert.equal(closed.status, 200);
    const end = await Promise.race([done, deadline(5000)]);
    assert.notEqual(end, 'timeout', 'the stream ends after terminatePushQuery');
    assert.equal(end.status, 200);

    const unknown = await client.terminatePushQuery(metadata.queryId);
    assert.equal(unknown.status, 400);
    assert.equal(unknown.error.error_code, 40000);
  } finally {
    await client.disconnect();
  }
});

test('HTTP/2: one line per DATA frame, never split, no bare newline', async () => {
  const session = http2.connect(`http://127.0.0.1:${apiPort}`);
  try {
    const frames = [];
    const req = session.request({ ':method': 'POST', ':path': '/query-stream',
      accept: 'application/vnd.ksqlapi.delimited.v1' });
    req.setEncoding('utf8');
    req.on('data', (d) => frames.push(d));
    req.end(JSON.stringify({ sql: SQL }));
    await until('the header', () => frames.length > 0);
    const res = await post(ingestPort, '/phone-producer/', fs.readFileSync(SAMPLE));
    assert.equal(res.status, 200);
    await until(`${expected} rows`, () => frames.length >= expected + 1);
    req.close(http2.constants.NGHTTP2_CANCEL);
    for (const f of frames) {
      assert.ok(f.endsWith('\n') && f.indexOf('\n') === f.length - 1, `one line per frame: ${JSON.stringify(f)}`);
      JSON.parse(f);
    }
    assert.equal(frames.length, expected + 1);
  } finally {
    session.close();
  }
});
