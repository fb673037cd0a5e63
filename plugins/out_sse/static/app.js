// sensord dashboard: subscribes to one stream (over SSE or WebSocket, whichever served the
// page), keeps a short window of rows per phone and draws one uPlot chart per phone.
// window.sensordDashboard exposes the state for tests and curious users.
'use strict';

(() => {
  const WINDOW_S = 10;          // seconds of readings kept per phone
  const MAX_POINTS = 2000;      // and never more points than this
  const STALE_MS = 5000;        // no reading for this long: the phone is marked stale
  const REMOVE_MS = 30000;      // and removed after this long
  const G = 9.80665;
  const narrow = () => window.matchMedia('(max-width: 560px)').matches;
  const chartHeight = () => (narrow() ? 180 : 220);
  const chartWidth = (card) => Math.max(200, card.querySelector('.chart').clientWidth);
  // Whole seconds on the time axis, as wall-clock HH:MM:SS.
  const clock = (sec) => new Date(sec * 1000).toTimeString().slice(0, 8);

  const $ = (id) => document.getElementById(id);
  const state = {
    transport: 'sse', stream: null, status: 'connecting', paused: false, units: 'auto',
    phones: new Map(), lastId: null, config: null, events: 0,
  };
  window.sensordDashboard = state;

  function setStatus(s, text) {
    state.status = s;
    state.statusText = text || s;
    const el = $('status');
    el.className = 'status ' + (state.paused && s === 'live' ? 'paused' : s);
    el.textContent = state.paused && s === 'live' ? 'paused' : state.statusText;
  }

  // ---- rows → readings -------------------------------------------------------------
  const key = (row, name) => {
    for (const k of Object.keys(row)) if (k.toLowerCase() === name) return k;
    return null;
  };
  const AXIS_NAMES = [['values_x', 'x'], ['values_y', 'y'], ['values_z', 'z']];

  // Which columns of this stream's rows are the device, the time and the plotted series.
  function layoutOf(row) {
    const device = key(row, 'deviceid') || key(row, 'device_id');
    const time = key(row, 'time');
    let series = AXIS_NAMES.map(([a, b]) => key(row, a) || key(row, b)).filter(Boolean);
    if (series.length === 0) {
      const skip = new Set([device, time, key(row, 'messageid')]);
      series = Object.keys(row).filter((k) => !skip.has(k) && typeof row[k] === 'number');
    }
    return { device, time, series };
  }

  // iOS reports acceleration in g, Android in m/s²: a resting phone measures ~1 or ~9.8.
  function inferUnit(phone) {
    const s = (state.stream || '').toLowerCase();
    if (s.includes('gyro')) return 'rad/s';
    if (s.includes('magnet')) return 'µT';
    if (!(s.includes('accel') || s.includes('gravity'))) return '';
    const n = phone.mags.length;
    if (n === 0) return 'g';
    const mean = phone.mags.reduce((a, b) => a + b, 0) / n;
    return mean > 4 ? 'm/s²' : 'g';
  }

  function scaleFor(phone) {
    if (state.units === 'auto' || !(phone.unit === 'g' || phone.unit === 'm/s²')) return 1;
    if (state.units === 'g' && phone.unit === 'm/s²') return 1 / G;
    if (state.units === 'ms2' && phone.unit === 'g') return G;
    return 1;
  }
  function shownUnit(phone) {
    if (state.units === 'auto' || !(phone.unit === 'g' || phone.unit === 'm/s²')) return phone.unit;
    return state.units === 'g' ? 'g' : 'm/s²';
  }

  // ---- phones ----------------------------------------------------------------------
  function makePhone(id, layout) {
    const card = document.createElement('section');
    card.className = 'phone';
    card.dataset.device = id;
    card.dataset.points = '0';
    card.innerHTML = '<div class="head"><span class="name"></span><span class="meta unit"></span>' +
      '<span class="meta rate"></span><span class="meta lag"></span><span class="state">live</span></div>' +
      '<div class="chart"></div>';
    card.querySelector('.name').textContent = id.slice(0, 8);
    card.querySelector('.name').title = id;
    $('phones').appendChild(card);
    const labels = layout.series.map((s) => s.replace(/^values_/i, '').toLowerCase());
    const colors = ['#ff6b6b', '#4ecb71', '#4aa3ff', '#e0b341', '#c678dd', '#56b6c2', '#e5c07b'];
    const phone = {
      id, card, layout, t: [], ys: layout.series.map(() => []), mags: [], arrivals: [],
      lastSeen: performance.now(), lagMs: null, unit: '', plot: null, dirty: true,
    };
    phone.plot = new uPlot({
      width: chartWidth(card), height: chartHeight(),
      scales: { x: { time: true }, y: { auto: true } },
      axes: [{ stroke: '#8a96a3', grid: { stroke: '#26303a' }, space: 70,
        incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300],
        values: (u, splits) => splits.map(clock) },
        { stroke: '#8a96a3', grid: { stroke: '#26303a' }, size: 60,
          label: '', labelSize: 18 }],
      series: [{}].concat(labels.map((l, i) => ({ label: l, stroke: colors[i % colors.length], width: 1.5 }))),
      legend: { live: false },
    }, [phone.t].concat(phone.ys), card.querySelector('.chart'));
    state.phones.set(id, phone);
    updateHint();
    return phone;
  }

  function addRow(row) {
    state.events++;
    let layout = state.layout;
    if (!layout) layout = state.layout = layoutOf(row);
    const id = layout.device && row[layout.device] != null ? String(row[layout.device]) : 'unknown';
    const phone = state.phones.get(id) || makePhone(id, layout);
    const nowMs = Date.now();
    let tSec = nowMs / 1000;
    if (layout.time && typeof row[layout.time] === 'number') {
      tSec = row[layout.time] / 1e9;
      phone.lagMs = nowMs - tSec * 1000;
    }
    // Phones may deliver batches out of order: keep the time axis sorted.
    let at = phone.t.length;
    if (at && phone.t[at - 1] > tSec) {
      let lo = 0, hi = at;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (phone.t[mid] <= tSec) lo = mid + 1; else hi = mid; }
      at = lo;
    }
    phone.t.splice(at, 0, tSec);
    let sq = 0;
    layout.series.forEach((k, i) => {
      const v = typeof row[k] === 'number' ? row[k] : null;
      phone.ys[i].splice(at, 0, v);
      if (v != null) sq += v * v;
    });
    phone.mags.push(Math.sqrt(sq));
    if (phone.mags.length > 200) phone.mags.shift();
    phone.arrivals.push(performance.now());
    phone.lastSeen = performance.now();
    // Keep a sliding window in the phone's own time.
    let drop = 0;
    const newest = phone.t[phone.t.length - 1];
    while (drop < phone.t.length - 1 && (newest - phone.t[drop] > WINDOW_S || phone.t.length - drop > MAX_POINTS)) drop++;
    if (drop) { phone.t.splice(0, drop); phone.ys.forEach((y) => y.splice(0, drop)); }
    phone.dirty = true;
    scheduleDraw();
  }

  let drawPending = false;
  function scheduleDraw() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(draw);
  }

  function fmtLag(ms) {
    if (ms == null) return '';
    if (Math.abs(ms) >= 60000) return 'lag: phone clock differs';
    return 'lag ' + Math.round(ms) + ' ms';
  }

  function draw() {
    drawPending = false;
    const now = performance.now();
    for (const p of state.phones.values()) {
      p.arrivals = p.arrivals.filter((a) => now - a < 1000);
      p.unit = inferUnit(p);
      p.card.querySelector('.rate').textContent = p.arrivals.length + ' readings/s';
      p.card.querySelector('.lag').textContent = fmtLag(p.lagMs);
      p.card.querySelector('.unit').textContent = shownUnit(p) ? '[' + shownUnit(p) + ']' : '';
      p.card.dataset.points = String(p.t.length);
      p.card.dataset.unit = p.unit;
      if (!p.dirty || state.paused) continue;
      p.dirty = false;
      const k = scaleFor(p);
      const ys = k === 1 ? p.ys : p.ys.map((y) => y.map((v) => (v == null ? null : v * k)));
      p.plot.axes[1].label = shownUnit(p);
      p.plot.setData([p.t].concat(ys));
    }
  }

  // Stale and gone phones; readings/s readouts also decay through here.
  setInterval(() => {
    const now = performance.now();
    for (const [id, p] of state.phones) {
      const idle = now - p.lastSeen;
      p.card.classList.toggle('stale', idle > STALE_MS);
      p.card.querySelector('.state').textContent =
        idle > STALE_MS ? 'stale: nothing for ' + Math.round(idle / 1000) + ' s' : 'live';
      if (idle > REMOVE_MS) {
        p.plot.destroy();
        p.card.remove();
        state.phones.delete(id);
        updateHint();
      }
    }
    scheduleDraw();
  }, 1000);

  function clearPhones() {
    for (const p of state.phones.values()) { p.plot.destroy(); p.card.remove(); }
    state.phones.clear();
    state.layout = null;
    updateHint();
  }

  function updateHint() {
    $('hint').hidden = state.phones.size > 0;
    $('counts').textContent = state.phones.size + (state.phones.size === 1 ? ' phone' : ' phones');
  }

  // ---- transports ------------------------------------------------------------------
  let conn = null;
  let retryMs = 1000;

  function onMessage(ev, id, data) {
    if (id != null) state.lastId = String(id);
    if (ev === 'reset') { clearPhones(); return; }
    if (ev === 'overflow') { setStatus('reconnecting', 'fell behind: reconnecting'); return; }
    if (data && typeof data === 'object' && !Array.isArray(data)) addRow(data);
  }

  function streamPath() {
    return '/events/' + encodeURIComponent(state.stream) + '?format=object';
  }

  function connectSSE() {
    const es = new EventSource(streamPath());
    conn = { close: () => es.close() };
    es.onopen = () => setStatus('live', 'live (SSE)');
    es.onerror = () => setStatus(es.readyState === 2 ? 'offline' : 'reconnecting',
      es.readyState === 2 ? 'offline' : 'reconnecting…');
    es.onmessage = (m) => onMessage(null, m.lastEventId, JSON.parse(m.data));
    es.addEventListener('reset', (m) => onMessage('reset', m.lastEventId, null));
    es.addEventListener('overflow', (m) => onMessage('overflow', m.lastEventId, null));
  }

  function connectWS() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let url = proto + '//' + location.host + streamPath();
    if (state.lastId) url += '&last_event_id=' + encodeURIComponent(state.lastId);
    const ws = new WebSocket(url);
    let closedByUs = false;
    conn = { close: () => { closedByUs = true; ws.close(1000); } };
    ws.onopen = () => { retryMs = 1000; setStatus('live', 'live (WebSocket)'); };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      onMessage(msg.event || null, msg.id, msg.data);
    };
    ws.onclose = () => {
      if (closedByUs) return;
      setStatus('reconnecting', 'reconnecting…');
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 15000);
    };
  }

  // Upstream status: query_ksql publishes {QUERY, STATE, DETAIL} rows on the reserved
  // "_status" stream when ksqlDB goes away or comes back; the page stays connected and
  // shows a banner instead of silently freezing.
  const upstreamDown = new Map();
  function onUpstreamStatus(row) {
    if (!row || !row.QUERY) return;
    if (row.STATE === 'down') upstreamDown.set(row.QUERY, row.DETAIL || '');
    else upstreamDown.delete(row.QUERY);
    const el = $('upstream');
    el.hidden = upstreamDown.size === 0;
    el.textContent = [...upstreamDown].map(([q, why]) =>
      'query ' + q + ' is waiting for its server (' + why + '); rows resume when it is back').join(' · ');
  }
  function watchUpstream() {
    const path = '/events/_status?format=object';
    if (state.transport === 'websocket') {
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      const ws = new WebSocket(proto + '//' + location.host + path);
      ws.onmessage = (m) => { const msg = JSON.parse(m.data); if (!msg.event) onUpstreamStatus(msg.data); };
      ws.onclose = () => setTimeout(watchUpstream, 5000);
    } else {
      const es = new EventSource(path);
      es.onmessage = (m) => onUpstreamStatus(JSON.parse(m.data));
    }
  }

  function connect() {
    if (conn) conn.close();
    setStatus('connecting', 'connecting…');
    if (state.transport === 'websocket') connectWS(); else connectSSE();
  }

  // ---- controls --------------------------------------------------------------------
  async function refreshStreams() {
    try {
      const res = await fetch('/streams', { cache: 'no-store' });
      const list = await res.json();
      const sel = $('stream');
      const names = new Set(list.map((s) => s.name).filter((n) => !n.startsWith('_')));
      if (state.stream) names.add(state.stream);
      const have = new Set([...sel.options].map((o) => o.value));
      for (const n of [...names].sort()) {
        if (have.has(n)) continue;
        const o = document.createElement('option');
        o.value = o.textContent = n;
        sel.appendChild(o);
      }
      sel.value = state.stream;
    } catch (e) { /* the status pill already shows the connection */ }
  }

  $('stream').addEventListener('change', (e) => {
    state.stream = e.target.value;
    state.lastId = null;
    clearPhones();
    connect();
  });
  $('units').addEventListener('change', (e) => {
    state.units = e.target.value;
    for (const p of state.phones.values()) p.dirty = true;
    scheduleDraw();
  });
  $('pause').addEventListener('click', () => {
    state.paused = !state.paused;
    $('pause').textContent = state.paused ? 'Resume' : 'Pause';
    setStatus(state.status, state.statusText);
    if (!state.paused) { for (const p of state.phones.values()) p.dirty = true; scheduleDraw(); }
  });
  window.addEventListener('resize', () => {
    for (const p of state.phones.values())
      p.plot.setSize({ width: chartWidth(p.card), height: chartHeight() });
  });

  async function start() {
    let cfg = {};
    try { cfg = await (await fetch('/config.json', { cache: 'no-store' })).json(); } catch (e) { /* defaults */ }
    state.config = cfg;
    state.transport = cfg.transport || 'sse';
    const params = new URLSearchParams(location.search);
    state.stream = params.get('stream') || cfg.chart_query || 'accelerometer';
    // source_http speaks plain HTTP whatever served this page (location.hostname keeps the
    // brackets of an IPv6 address).
    $('push-url').textContent = cfg.ingest_url ||
      ('http://' + location.hostname + ':' + (cfg.ingest_port || 8000) + (cfg.ingest_path || '/phone-producer/'));
    // A phone cannot reach "localhost": say so rather than suggest a URL that cannot work.
    $('push-url-local').hidden = Boolean(cfg.ingest_url) ||
      !/^(localhost|127\.|\[?::1\]?$)/.test(location.hostname);
    $('transport').textContent = 'transport: ' + (state.transport === 'websocket' ? 'WebSocket' : 'Server-Sent Events');
    updateHint();
    await refreshStreams();
    setInterval(refreshStreams, 5000);
    connect();
    watchUpstream();
  }
  start();
})();
