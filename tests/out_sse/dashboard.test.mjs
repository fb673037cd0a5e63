// The out_sse dashboard in Chromium with two phones (see browser.mjs).
import { test } from 'node:test';
import { dashboardTest } from './browser.mjs';

test('out_sse dashboard: two phones, one chart each, screenshot', { timeout: 60000 }, () => dashboardTest('out_sse'));
