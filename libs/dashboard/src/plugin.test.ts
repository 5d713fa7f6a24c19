import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { DashboardHub } from './hub.js';
import { registerDashboard } from './plugin.js';
import { publicConfig } from './public-config.js';
import type { DashboardSnapshot } from './types.js';

const run = {
  runId: 'plugin-test',
  kind: 'server' as const,
  rounds: 5,
  method: 'distgan',
  schedule: 'serial',
  config: publicConfig({ RABBITMQ_URL: 'amqp://guest:guest@rabbit:5672', ROUNDS: 5 }),
};

/** Parses a text/event-stream body into its events. */
function parseSse(body: string): { event: string; data: unknown }[] {
  return body
    .split('\n\n')
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
      const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
      return event && data ? { event, data: JSON.parse(data) as unknown } : undefined;
    })
    .filter((e) => e !== undefined);
}

async function app(hub: DashboardHub) {
  const a = Fastify({ logger: false });
  registerDashboard(a, hub, { heartbeatMs: 10 });
  await a.ready();
  return a;
}

describe('registerDashboard', () => {
  it('serves the page, its bundled script and style sheet', async () => {
    const a = await app(new DashboardHub(run));
    const page = await a.inject({ url: '/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /^text\/html/);
    assert.match(page.body, /<script defer src="\/assets\/dashboard.js">/);
    assert.match(page.body, /<title>distgan · plugin-test<\/title>/);
    const js = await a.inject({ url: '/assets/dashboard.js' });
    assert.equal(js.statusCode, 200);
    assert.match(js.headers['content-type'] as string, /^text\/javascript/);
    assert.ok(js.body.length > 20_000, 'uPlot is bundled in');
    assert.doesNotMatch(js.body, /https?:\/\/(cdn|unpkg)/, 'nothing from a CDN');
    const css = await a.inject({ url: '/assets/dashboard.css' });
    assert.equal(css.statusCode, 200);
    assert.match(css.body, /\.uplot/);
    await a.close();
  });

  it('the snapshot hides passwords and carries the run state', async () => {
    const hub = new DashboardHub(run);
    hub.setStatus('training');
    hub.recordRound({ round: 0, losses: { d: 1.2, g: 0.8 } });
    const a = await app(hub);
    const r = await a.inject({ url: '/api/dashboard' });
    assert.equal(r.statusCode, 200);
    const s = r.json<DashboardSnapshot>();
    assert.equal(s.status, 'training');
    assert.equal(s.round, 0);
    assert.equal(s.run.config['RABBITMQ_URL'], 'amqp://guest:***@rabbit:5672');
    assert.doesNotMatch(r.body, /guest:guest/);
    await a.close();
  });

  it('serves a kept grid by round, and 404 for one not kept', async () => {
    const hub = new DashboardHub(run, { gridStripSize: 0 });
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    hub.recordGrid(3, new Uint8Array([0]));
    hub.recordGrid(4, png);
    const a = await app(hub);
    const ok = await a.inject({ url: '/api/dashboard/grids/4.png' });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.headers['content-type'], 'image/png');
    assert.deepEqual(new Uint8Array(ok.rawPayload), png);
    assert.equal((await a.inject({ url: '/api/dashboard/grids/3.png' })).statusCode, 404);
    assert.equal((await a.inject({ url: '/api/dashboard/grids/x.png' })).statusCode, 400);
    await a.close();
  });

  it('the stream sends a snapshot, then every change, heartbeats, and ends when the hub closes', async () => {
    const hub = new DashboardHub(run);
    hub.recordRound({ round: 0, losses: { d: 1, g: 1 } });
    const a = await app(hub);
    const response = a.inject({ url: '/api/events' });
    while (hub.subscribers === 0) await new Promise((r) => setImmediate(r)); // the stream is open
    // A timer due later than the first heartbeat fires after it.
    await new Promise((r) => setTimeout(r, 30));
    hub.recordRound({ round: 1, losses: { d: 0.9, g: 1.1 } });
    hub.recordGrid(1, new Uint8Array([1]));
    hub.setStatus('finished');
    hub.close();
    const r = await response;
    assert.equal(r.statusCode, 200);
    assert.match(r.headers['content-type'] as string, /^text\/event-stream/);
    assert.match(r.body, /^retry: 2000\n\n/);
    assert.match(r.body, /\n: keep-alive\n\n/);
    const events = parseSse(r.body);
    assert.deepEqual(
      events.map((e) => e.event),
      ['snapshot', 'round', 'grid', 'status'],
    );
    assert.equal((events[0]?.data as DashboardSnapshot).round, 0);
    assert.equal(hub.subscribers, 0);
    await a.close();
  });
});
