// Helpers for the out_sse / out_websocket node tests: start sensord with a pipeline that ends
// in the output under test, post Sensor Logger payloads, and read SSE streams.
// Pipeline: source_http → query_local → output when query_local.so is built, else
// source_http → output (rows without schema: one stream per reading name).
// SENSORD_WRAP (a command prefix, "{log}" = a per-run log file) wraps sensord, e.g. in
// valgrind; stop() then fails when that log is not empty or sensord exited 99.
// SD_TIME_SCALE stretches the waits and timeouts here for such slow runs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = process.env.SENSORD_ROOT ||
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BUILD = process.env.BUILD || 'build';
const BIN = process.env.SENSORD_BIN || path.join(ROOT, BUILD, 'sensord');
const PLUGIN_DIR = process.env.SENSORD_PLUGIN_DIR || path.join(ROOT, BUILD, 'plugins');
export const TEST_OUT = process.env.TEST_OUT || path.join(ROOT, 'tests/out', BUILD);
export const DATA = path.join(ROOT, 'tests/data/sensorlogger');
export const FULL_PIPELINE = fs.existsSync(path.join(PLUGIN_DIR, 'query_local.so'));
export const TIME_SCALE = Math.max(1, Number(process.env.SD_TIME_SCALE) || 1);
const WRAP = (process.env.SENSORD_WRAP || '').split(/\s+/).filter(Boolean);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Ports handed out by this process: the kernel may give a just-closed port to the next
// bind(0), and one sensord then finds two of its listeners on the same port.
const handedOut = new Set();
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.on('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port: p } = srv.address();
        srv.close(() => resolve(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export function httpGet(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000 * TIME_SCALE, () => req.destroy(new Error('timeout: ' + url)));
  });
}

export function httpRequest(method, url, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.setTimeout(10000 * TIME_SCALE, () => req.destroy(new Error('timeout: ' + url)));
    if (body) req.write(body);
    req.end();
  });
}

// Starts sensord; resolves once the output answers /healthz.
export async function startSensord({ plugin = 'out_sse', keys = {}, name = plugin } = {}) {
  const [ingest, out, engine, admin] = [await freePort(), await freePort(), await freePort(), await freePort()];
  fs.mkdirSync(TEST_OUT, { recursive: true });
  const dir = fs.mkdtempSync(path.join(TEST_OUT, `${name}.`));
  const accel = FULL_PIPELINE ? 'accelerometer' : 'accelerometeruncalibrated';
  const outKeys = { listen: `127.0.0.1:${out}`, ingest_port: ingest, ...keys };
  if (!FULL_PIPELINE && !keys.chart_query) outKeys.chart_query = accel;
  let ini = `[sensord]\nplugin_dir = ${PLUGIN_DIR}\nadmin_listen = 127.0.0.1:${admin}\ngrace = 5s\n\n` +
    `[ingest]\nplugin = source_http\nlisten = 127.0.0.1:${ingest}\n\n`;
  if (FULL_PIPELINE) {
    ini += `[engine]\nplugin = query_local\ninputs = ingest\nlisten = 127.0.0.1:${engine}\n` +
      `stream = CREATE STREAM smartphone_sensor_stream (name VARCHAR, time BIGINT, values_x DOUBLE,\n` +
      `    values_y DOUBLE, values_z DOUBLE, messageId BIGINT, sessionId VARCHAR, deviceId VARCHAR)\n` +
      `    WITH (KAFKA_TOPIC='smartphone-sensor-data', VALUE_FORMAT='JSON')\n` +
      `query.accelerometer = SELECT deviceId, time, values_x, values_y, values_z FROM smartphone_sensor_stream WHERE name = 'accelerometeruncalibrated' EMIT CHANGES\n` +
      `query.gyroscope = SELECT deviceId, time, values_x, values_y, values_z FROM smartphone_sensor_stream WHERE name IN ('gyroscope', 'gyroscopeuncalibrated') EMIT CHANGES\n\n`;
  }
  ini += `[out]\nplugin = ${plugin}\ninputs = ${FULL_PIPELINE ? 'engine' : 'ingest'}\n`;
  for (const [k, v] of Object.entries(outKeys)) ini += `${k} = ${v}\n`;
  const iniPath = path.join(dir, 'pipeline.ini');
  fs.writeFileSync(iniPath, ini);
  const logPath = path.join(dir, 'sensord.log');
  const log = fs.openSync(logPath, 'w');
  const wrapLog = path.join(dir, 'sensord.vg');
  const argv = [...WRAP.map((w) => w.replaceAll('{log}', wrapLog)), BIN, '-c', iniPath];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', log, log] });
  let exited = null;
  const exit = new Promise((resolve) => child.on('exit', (code, sig) => { exited = { code, sig }; resolve(exited); }));
  const base = `http://127.0.0.1:${out}`;
  for (let i = 0; ; i++) {
    if (exited) throw new Error(`sensord exited ${JSON.stringify(exited)}: ${fs.readFileSync(logPath, 'utf8')}`);
    // The output's own /healthz can answer before source_http listens; the admin one is
    // 200 only once every stage runs.
    try {
      if ((await httpGet(base + '/healthz')).status === 200 &&
          (await httpGet(`http://127.0.0.1:${admin}/healthz`)).status === 200) break;
    } catch { /* not yet */ }
    if (i > 200 * TIME_SCALE) {
      child.kill('SIGKILL');
      throw new Error(`sensord did not answer /healthz within ${10 * TIME_SCALE}s`);
    }
    await sleep(50);
  }
  return {
    base, ingestUrl: `http://127.0.0.1:${ingest}/phone-producer/`, accel, dir, logPath, child,
    log: () => fs.readFileSync(logPath, 'utf8'),
    health: async () => JSON.parse((await httpGet(base + '/healthz')).body),
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 15000 * TIME_SCALE);
        await exit;
        clearTimeout(t);
      }
      if (WRAP.length) {
        const report = fs.existsSync(wrapLog) ? fs.readFileSync(wrapLog, 'utf8') : '';
        if (exited.code === 99 || report.trim()) {
          throw new Error(`sensord exited ${JSON.stringify(exited)} under ${WRAP[0]}: ${wrapLog}\n${report}`);
        }
      }
      return exited;
    },
  };
}

// A Sensor Logger body with n accelerometeruncalibrated readings of one phone.
export function accelPayload(deviceId, n, { t0 = BigInt(Date.now()) * 1000000n, messageId = 1, scale = 1 } = {}) {
  const payload = [];
  for (let i = 0; i < n; i++) {
    const t = t0 + BigInt(i) * 10000000n;
    payload.push(`{"name":"accelerometeruncalibrated","time":${t},"values":{"x":${(0.01 * i * scale).toFixed(4)},"y":${(-0.3 * scale).toFixed(4)},"z":${(-1.0 * scale).toFixed(4)}}}`);
  }
  return `{"messageId":${messageId},"sessionId":"s-${deviceId}","deviceId":"${deviceId}","payload":[${payload.join(',')}]}`;
}

export async function postBody(h, body) {
  return (await httpRequest('POST', h.ingestUrl, body, { 'Content-Type': 'application/json' })).status;
}

// Reads an SSE stream; events are {id, event, data} (data parsed as JSON when it is).
export function sse(url, headers = {}) {
  const s = { events: [], comments: [], status: null, headers: null, ended: false, buf: '' };
  s.req = http.get(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
    s.status = res.statusCode;
    s.headers = res.headers;
    s.res = res;
    res.setEncoding('utf8');
    res.on('data', (chunk) => {
      const blocks = (s.buf + chunk).split('\n\n');
      s.buf = blocks.pop();
      for (const block of blocks) {
        const ev = { id: null, event: 'message', data: null };
        let isEvent = false;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) { s.comments.push(line); continue; }
          const c = line.indexOf(':');
          const field = line.slice(0, c), value = line.slice(c + 1).replace(/^ /, '');
          if (field === 'id') ev.id = value;
          if (field === 'event') ev.event = value;
          if (field === 'data') { isEvent = true; try { ev.data = JSON.parse(value); } catch { ev.data = value; } }
        }
        if (isEvent) s.events.push(ev);
      }
    });
    res.on('end', () => { s.ended = true; });
    res.on('close', () => { s.ended = true; });
  });
  s.req.on('error', () => { s.ended = true; });
  s.close = () => s.req.destroy();
  return s;
}

// Polls pred() every 20 ms until it is true or ms pass; returns its last value.
export async function waitFor(pred, ms = 5000) {
  const end = Date.now() + ms * TIME_SCALE;
  for (;;) {
    const v = await pred();
    if (v || Date.now() > end) return v;
    await sleep(20);
  }
}

// A client that connects to a stream and never reads, with a 4 KB receive buffer (so the
// kernel cannot soak up megabytes on its behalf). kill() it when done.
export function stalledClient(url) {
  const u = new URL(url);
  const py = `import socket,time
s=socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", ${Number(u.port)}))
s.sendall(b"GET ${u.pathname}${u.search} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
time.sleep(120)`;
  return spawn('python3', ['-c', py], { stdio: 'ignore' });
}
