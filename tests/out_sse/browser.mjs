// The dashboard in a real browser (Debian's chromium via playwright-core): two phones post
// their sample payloads, each must get its own chart with points and the right units, and
// a screenshot is saved under $TEST_OUT. Shared by the out_sse and out_websocket tests.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { DATA, TEST_OUT, postBody, sleep, startSensord, waitFor } from './helpers.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// The sample files re-timed to now; the Android one renamed to the uncalibrated sensor the
// default query selects (Android reports it in m/s² like the calibrated one).
function retimed(file, rename, startMs) {
  let text = fs.readFileSync(path.join(DATA, file), 'utf8');
  if (rename) text = text.replaceAll(`"name":"${rename}"`, '"name":"accelerometeruncalibrated"');
  const times = [...text.matchAll(/"time":(\d+)/g)].map((m) => BigInt(m[1]));
  const first = times.reduce((a, b) => (b < a ? b : a));
  const now = BigInt(startMs) * 1000000n;
  return text.replace(/"time":(\d+)/g, (_, t) => `"time":${BigInt(t) - first + now}`);
}

export async function dashboardTest(plugin) {
  const h = await startSensord({ plugin, name: `${plugin}_browser` });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 640 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(h.base + '/');
    await page.waitForFunction(() => window.sensordDashboard && window.sensordDashboard.status === 'live', null, { timeout: 10000 });
    // First run: the hint names the push URL (this host, source_http's port).
    const hint = await page.textContent('#push-url');
    assert.equal(hint, h.ingestUrl);
    assert.equal(await page.isVisible('#hint'), true);
    assert.equal(await page.evaluate(() => window.sensordDashboard.transport), plugin === 'out_websocket' ? 'websocket' : 'sse');
    // Three consecutive seconds of both phones, as Sensor Logger would push them.
    const start = Date.now() - 1000;
    for (let i = 0; i < 3; i++) {
      assert.equal(await postBody(h, retimed('ios-uncalibrated-1s.json', null, start + i * 1000)), 200);
      assert.equal(await postBody(h, retimed('android-calibrated-1s.json', 'accelerometer', start + i * 1000)), 200);
      await sleep(i < 2 ? 1000 : 300);
    }
    const ok = await waitFor(() => page.evaluate(() => {
      const cards = [...document.querySelectorAll('.phone')];
      return cards.length === 2 && cards.every((c) => Number(c.dataset.points) > 0);
    }), 10000);
    const cards = await page.$$eval('.phone', (cs) => cs.map((c) => ({
      device: c.dataset.device, points: Number(c.dataset.points), unit: c.dataset.unit,
      name: c.querySelector('.name').textContent, rate: c.querySelector('.rate').textContent,
    })));
    assert.ok(ok, 'two phone charts with points: ' + JSON.stringify(cards));
    const ios = cards.find((c) => c.device.startsWith('cd613e30'));
    const android = cards.find((c) => c.device.startsWith('1e2feb89'));
    assert.ok(ios && android, JSON.stringify(cards));
    assert.equal(ios.name, 'cd613e30');
    assert.equal(ios.unit, 'g');
    assert.equal(android.unit, 'm/s²');
    assert.equal(await page.isVisible('#hint'), false);
    // Each chart really drew: uPlot holds the same points the card reports.
    const plotted = await page.evaluate(() => [...window.sensordDashboard.phones.values()].map((p) => p.plot.data[0].length));
    assert.ok(plotted.every((n) => n > 0), JSON.stringify(plotted));
    // Pause freezes the charts; resume draws again.
    await page.click('#pause');
    assert.equal(await page.evaluate(() => window.sensordDashboard.paused), true);
    await page.click('#pause');
    await sleep(300);
    fs.mkdirSync(TEST_OUT, { recursive: true });
    const shot = path.join(TEST_OUT, `dashboard-${plugin}.png`);
    await page.screenshot({ path: shot });
    assert.ok(fs.statSync(shot).size > 10000);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    const r = await h.stop();
    assert.equal(r.code, 0, h.log());
  }
}
