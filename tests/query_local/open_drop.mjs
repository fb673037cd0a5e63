// Opens push queries on query_local's API and drops them the rude way, N over HTTP/1.1
// (socket destroyed after the header) and N over HTTP/2 (RST_STREAM CANCEL), 100 at a time.
// usage: node open_drop.mjs PORT N
import http2 from 'node:http2';
import net from 'node:net';

const port = Number(process.argv[2]);
const total = Number(process.argv[3]);
const body = JSON.stringify({ sql: 'SELECT * FROM smartphone_sensor_stream EMIT CHANGES;' });
const deadline = setTimeout(() => { console.error('timed out'); process.exit(2); }, 60000);

function h1Once() {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () =>
      s.write(`POST /query-stream HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`));
    let seen = '';
    s.on('data', (d) => {
      seen += d;
      if (seen.includes('"columnTypes"')) { s.destroy(); resolve(); }
    });
    s.on('error', reject);
    s.on('close', () => { if (!seen.includes('"columnTypes"')) reject(new Error(`closed: ${seen}`)); });
  });
}

function h2Once(session) {
  return new Promise((resolve, reject) => {
    const r = session.request({ ':method': 'POST', ':path': '/query-stream' });
    r.on('data', (d) => {
      if (String(d).includes('"columnTypes"')) { r.close(http2.constants.NGHTTP2_CANCEL); resolve(); }
    });
    r.on('error', reject);
    r.end(body);
  });
}

const batch = 100;
for (let done = 0; done < total; done += batch) {
  await Promise.all(Array.from({ length: Math.min(batch, total - done) }, h1Once));
}
const session = http2.connect(`http://127.0.0.1:${port}`);
for (let done = 0; done < total; done += batch) {
  await Promise.all(Array.from({ length: Math.min(batch, total - done) }, () => h2Once(session)));
}
session.close();
clearTimeout(deadline);
console.log(`opened and dropped ${total} + ${total} push queries`);
