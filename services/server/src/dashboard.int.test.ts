import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DashboardSnapshot } from '@distgan/dashboard';
import {
  DEVICE,
  describeServices,
  tearDown,
  nextPort,
  RUN,
  SERVER,
  start,
  uniqueRun,
  until,
} from './process-harness.js';

/* The deployed server's dashboard over the real RabbitMQ and Redis (RABBITMQ_URL, REDIS_URL). */
console.log(`dashboard tests use ${describeServices()}`);
after(tearDown);

const snapshot = async (port: number): Promise<DashboardSnapshot> =>
  (await (await fetch(`http://127.0.0.1:${port}/api/dashboard`)).json()) as DashboardSnapshot;

describe("the server's dashboard", () => {
  it('waits for devices, then streams the rounds, grids and devices to the end', async () => {
    const runId = uniqueRun('dash');
    const port = nextPort();
    const env = { ...RUN, RUN_ID: runId, ROUNDS: '6', QUORUM: '2', SAMPLE_EVERY: '2' };
    start(SERVER, { ...env, PORT: String(port), MIN_DEVICES: '2' });

    const waiting = await until('the server to wait for devices', async () => {
      const s = await snapshot(port);
      return s.status === 'waiting-for-devices' ? s : undefined;
    });
    assert.equal(waiting.statusDetail, '0 of the 2 devices needed (MIN_DEVICES, QUORUM) are alive');
    assert.equal(waiting.run.kind, 'server');
    assert.equal(waiting.run.rounds, 6);
    assert.doesNotMatch(JSON.stringify(waiting.run.config), /guest:guest/, 'no password shown');
    const page = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<div id="round"|id="round"/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/assets/dashboard.js`)).status, 200);

    // A page that is open from before the devices come.
    const closeStream = new AbortController();
    const stream = await fetch(`http://127.0.0.1:${port}/api/events`, {
      signal: closeStream.signal,
    });
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    let events = '';
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream.body!) events += decoder.decode(chunk, { stream: true });
    })().catch(() => {});

    for (let k = 0; k < 2; k++)
      start(DEVICE, {
        ...env,
        DEVICE_INDEX: String(k),
        NUM_DEVICES: '2',
        PORT: String(nextPort()),
      });
    const done = await until('the run to finish', async () => {
      const s = await snapshot(port);
      return s.status === 'finished' ? s : undefined;
    });
    assert.equal(done.round, 5);
    assert.equal(done.history.length, 6);
    assert.ok(done.history.every((p) => p.phases && p.phases.totalMs > 0 && p.accepted === 2));
    assert.deepEqual(
      done.grids.map((g) => g.round),
      [1, 3, 5],
    );
    const grid = await fetch(`http://127.0.0.1:${port}${done.grids.at(-1)!.url}`);
    assert.equal(grid.headers.get('content-type'), 'image/png');
    assert.deepEqual(
      done.devices.map((d) => [d.deviceId, d.alive, d.accepted, d.lastRound]),
      [
        ['device-0', true, 6, 5],
        ['device-1', true, 6, 5],
      ],
    );

    await until('the stream to carry the end', async () =>
      /event: status\ndata: \{"type":"status","status":"finished"/.test(events) ? true : undefined,
    );
    assert.equal(events.match(/^event: round$/gm)?.length, 6, 'one event per round');
    assert.match(events, /^event: snapshot$/m);
    assert.match(events, /"status":"training"/);
    assert.match(events, /^event: grid$/m);
    closeStream.abort();
    await reading;
  });
});
