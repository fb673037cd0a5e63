// Scripted ksqlDB server for query_ksql tests: answers /ksql and /query-stream in the wire
// formats of ksqlDB (delimited push-query rows, error objects), over HTTP/1.1 chunked and
// HTTP/2 cleartext (prior knowledge) on one port, and misbehaves on purpose per scenario.
//
// usage: node fake_ksqldb.mjs SCENARIO PORT_FILE [PORT]   (PORT: listen there, e.g. a restart)
//   normal        header + 3 rows per push query, then stays open
//   error-before  first push query: 400 statement_error (before any header), then normal
//   error-after   first push query: header, 1 row, then a 50000 error line and the end
//   close         first push query: header, 2 rows, then the connection is cut
//   h2only        /query-stream over HTTP/1.1 answers 400/40004 (ksqlDB < 0.24)
// Every request is logged to stdout as one JSON line {proto, path, body}.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import fs from 'node:fs';

const [scenario, portFile, fixedPort] = process.argv.slice(2);
let created = false;
let pushCount = 0;
const openStreams = new Set();

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function rows(n) {
  // connection n gets device "dev-<n>" and times that say which connection sent them
  const out = [];
  for (let i = 0; i < 3; i++)
    out.push(`["dev-${n}",${1732435201000000000n + BigInt(n * 1000 + i)},${0.5 * (i + 1)},-1.25,null]`);
  return out;
}

function header(n) {
  return JSON.stringify({
    queryId: `transient_SMARTPHONE_SENSOR_STREAM_${4000 + n}`,
    columnNames: ['DEVICEID', 'TIME', 'VALUES_X', 'VALUES_Y', 'VALUES_Z'],
    columnTypes: ['STRING', 'BIGINT', 'DOUBLE', 'DOUBLE', 'DOUBLE'],
  });
}

function ksql(req, res, body) {
  const stmt = String(body.ksql || '').trim();
  if (/^(SHOW|LIST) STREAMS/i.test(stmt)) {
    const streams = created ? [{ type: 'STREAM', name: 'SMARTPHONE_SENSOR_STREAM', topic: 'smartphone-sensor-data',
      keyFormat: 'KAFKA', valueFormat: 'JSON', isWindowed: false }] : [];
    return send(res, 200, [{ '@type': 'streams', statementText: stmt, streams, warnings: [] }]);
  }
  if (/^CREATE STREAM/i.test(stmt)) {
    created = true;
    return send(res, 200, [{ '@type': 'currentStatus', statementText: stmt,
      commandId: 'stream/`SMARTPHONE_SENSOR_STREAM`/create',
      commandStatus: { status: 'SUCCESS', message: 'Stream created', queryId: null },
      commandSequenceNumber: 2, warnings: [] }]);
  }
  send(res, 400, { '@type': 'statement_error', error_code: 40001, message: `unsupported here: ${stmt}`,
    statementText: stmt, entities: [] });
}

function queryStream(req, res, body, proto) {
  if (scenario === 'h2only' && proto !== '2') {
    return send(res, 400, { '@type': 'generic_error', error_code: 40004,
      message: 'This endpoint is only available when using HTTP2' });
  }
  const n = ++pushCount;
  if (scenario === 'error-before' && n === 1) {
    return send(res, 400, { '@type': 'statement_error', error_code: 40001,
      message: 'SMARTPHONE_SENSOR_STREAM does not exist.', statementText: body.sql, entities: [] });
  }
  res.writeHead(200, { 'content-type': 'application/vnd.ksqlapi.delimited.v1' });
  res.write(header(n) + '\n');
  const lines = rows(n);
  if (scenario === 'error-after' && n === 1) {
    res.write(lines[0] + '\n');
    res.write(JSON.stringify({ '@type': 'generic_error', error_code: 50000, message: 'boom after the header' }) + '\n');
    return res.end();
  }
  if (scenario === 'close' && n === 1) {
    res.write(lines[0] + '\n');
    // the second row is split across two writes: a line may span chunks
    res.write(lines[1].slice(0, 7));
    setTimeout(() => {
      res.write(lines[1].slice(7) + '\n');
      setTimeout(() => (proto === '2' ? res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR) : req.socket.destroy()), 100);
    }, 100);
    return;
  }
  for (const l of lines) res.write(l + '\n');
  openStreams.add(res); // a push query stays open until the client goes away
  res.on('close', () => openStreams.delete(res));
}

function handler(proto) {
  return (req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      let body = {};
      try { body = JSON.parse(data || '{}'); } catch { /* logged as is */ }
      console.log(JSON.stringify({ proto, path: req.url, accept: req.headers.accept || null, body }));
      if (req.url === '/ksql') return ksql(req, res, body);
      if (req.url === '/query-stream') return queryStream(req, res, body, proto);
      send(res, 404, { '@type': 'generic_error', error_code: 40400, message: 'not found' });
    });
  };
}

const h1 = http.createServer(handler('1.1'));
const h2 = http2.createServer(handler('2'));
const preface = 'PRI * HTTP/2.0';
// One public port for both protocols: the first bytes tell HTTP/2 prior knowledge from
// HTTP/1.1, and the connection is relayed to the matching server on a private port (so a
// cut on the inside is a cut on the outside too).
h1.listen(0, '127.0.0.1');
h2.listen(0, '127.0.0.1');
const server = net.createServer((socket) => {
  socket.once('data', (chunk) => {
    socket.pause(); // hold what follows until the relay is connected (pipe resumes)
    const inner = chunk.toString('latin1', 0, preface.length) === preface ? h2 : h1;
    const upstream = net.connect(inner.address().port, '127.0.0.1', () => {
      upstream.write(chunk);
      socket.pipe(upstream);
      upstream.pipe(socket);
    });
    upstream.on('close', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
});
server.listen(Number(fixedPort || 0), '127.0.0.1', () => fs.writeFileSync(portFile, String(server.address().port)));
process.on('SIGTERM', () => process.exit(0));
