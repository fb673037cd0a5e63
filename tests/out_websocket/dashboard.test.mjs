// The same dashboard served by out_websocket: the page picks WebSocket by itself.
import { test } from 'node:test';
import { dashboardTest } from '../out_sse/browser.mjs';

test('out_websocket dashboard: two phones, one chart each, screenshot', { timeout: 60000 }, () => dashboardTest('out_websocket'));
