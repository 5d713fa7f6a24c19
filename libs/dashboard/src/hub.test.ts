import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DashboardHub, type RoundInput } from './hub.js';
import { thinHistory, type DashboardEvent } from './types.js';

const run = {
  runId: 'hub-test',
  kind: 'embedded' as const,
  rounds: 10,
  method: 'distgan',
  config: {},
};
const phases = {
  broadcastMs: 1,
  deviceComputeMs: 5,
  collectMs: 7,
  aggregateMs: 2,
  generatorMs: 3,
  totalMs: 13,
};
const round = (r: number, devices = ['device-0', 'device-1']): RoundInput => ({
  round: r,
  losses: { d: 1.3, g: 0.7 },
  phases: { ...phases },
  accepted: devices.map((deviceId, k) => ({
    deviceId,
    samples: 100 + k,
    computeMs: 5,
    latencyMs: 6 + k,
  })),
  outcomes: { accepted: devices.length, late: 0, rejected: 0 },
});

function listen(hub: DashboardHub): { events: DashboardEvent[]; closed: () => boolean } {
  const events: DashboardEvent[] = [];
  let closed = false;
  hub.subscribe({ event: (e) => events.push(e), close: () => (closed = true) });
  return { events, closed: () => closed };
}

describe('DashboardHub', () => {
  it('a round updates the history, the round counter and the devices it names', () => {
    let t = 1000;
    const hub = new DashboardHub(run, { now: () => t });
    const { events } = listen(hub);
    t += 2500;
    hub.recordRound(round(0));
    const s = hub.snapshot();
    assert.equal(s.round, 0);
    assert.equal(s.history.length, 1);
    assert.equal(s.history[0]?.elapsedS, 2.5);
    assert.deepEqual(s.history[0]?.phases, phases);
    assert.deepEqual(
      s.devices.map((d) => [d.deviceId, d.samples, d.lastRound, d.latencyMs, d.accepted]),
      [
        ['device-0', 100, 0, 6, 1],
        ['device-1', 101, 0, 7, 1],
      ],
    );
    const e = events[0];
    assert.equal(e?.type, 'round');
    assert.equal(e?.type === 'round' && e.devices.length, 2);
  });

  it('counts late and refused updates per device, late ones of no device for the run', () => {
    const hub = new DashboardHub(run);
    hub.recordDeviceOutcome('device-0', 'late');
    hub.recordDeviceOutcome('device-0', 'refused');
    hub.recordDeviceOutcome('device-0', 'accepted'); // counted from the report instead
    hub.recordDeviceOutcome(undefined, 'late');
    const { events } = listen(hub);
    hub.recordRound(round(0, ['device-1']));
    const s = hub.snapshot();
    const d0 = s.devices.find((d) => d.deviceId === 'device-0');
    assert.deepEqual([d0?.accepted, d0?.late, d0?.refused, d0?.lastRound], [0, 1, 1, -1]);
    assert.equal(s.lateUnattributed, 1);
    // The round event carries every row that changed since the last round.
    const e = events[0];
    assert.deepEqual(e?.type === 'round' && e.devices.map((d) => d.deviceId).sort(), [
      'device-0',
      'device-1',
    ]);
  });

  it('keeps the latest grid and a bounded strip of earlier ones', () => {
    const hub = new DashboardHub(run, { gridStripSize: 2 });
    for (let r = 1; r <= 5; r++) hub.recordGrid(r, new Uint8Array([r]));
    const s = hub.snapshot();
    assert.deepEqual(
      s.grids.map((g) => g.round),
      [3, 4, 5],
    );
    assert.equal(s.grids.at(-1)?.url, '/api/dashboard/grids/5.png');
    assert.deepEqual(hub.grid(5), new Uint8Array([5]));
    assert.equal(hub.grid(1), undefined, 'a grid out of the strip is freed');
  });

  it("keeps a long run's history within its bound and its first and last rounds", () => {
    const hub = new DashboardHub(run, { maxHistoryPoints: 100 });
    for (let r = 0; r < 10_000; r++) hub.recordRound({ round: r, losses: { d: 1, g: 1 } });
    const h = hub.snapshot().history;
    assert.ok(h.length <= 100, `${h.length} points`);
    assert.equal(h[0]?.round, 0);
    assert.equal(h.at(-1)?.round, 9999);
    assert.ok(
      h.every((p, i) => i === 0 || p.round > h[i - 1]!.round),
      'in order',
    );
    // The recent rounds keep every point.
    assert.deepEqual(
      h.slice(-10).map((p) => p.round),
      Array.from({ length: 10 }, (_, i) => 9990 + i),
    );
  });

  it('thinHistory drops every other point of the older half only past the bound', () => {
    assert.deepEqual(thinHistory([1, 2, 3], 3), [1, 2, 3]);
    assert.deepEqual(thinHistory([1, 2, 3, 4, 5, 6], 5), [1, 3, 4, 5, 6]);
  });

  it('an evaluation takes its round time; status and devices changes are events', () => {
    let t = 0;
    const hub = new DashboardHub(run, { now: () => t });
    const { events } = listen(hub);
    t = 4000;
    hub.recordRound(round(3));
    t = 9000; // the evaluation itself took five seconds
    hub.recordEvaluation({ round: 3, fid: 812.5 });
    assert.deepEqual(hub.snapshot().evals, [{ round: 3, elapsedS: 4, fid: 812.5 }]);
    hub.setStatus('waiting-for-devices', '1 of 2 devices alive');
    hub.setStatus('waiting-for-devices', '1 of 2 devices alive'); // no change, no event
    hub.setDevices([{ deviceId: 'device-9', samples: 5, alive: true }]);
    hub.setDevices([{ deviceId: 'device-9', samples: 5, alive: true }]);
    hub.setDevices([]);
    assert.deepEqual(
      events.map((e) => e.type),
      ['round', 'eval', 'status', 'devices', 'devices'],
    );
    const gone = hub.snapshot().devices.find((d) => d.deviceId === 'device-9');
    assert.equal(gone?.alive, false, 'a device no longer listed stays, not alive');
    assert.equal(hub.snapshot().statusDetail, '1 of 2 devices alive');
  });

  it('close ends every listener, and later ones at once', () => {
    const hub = new DashboardHub(run);
    const a = listen(hub);
    hub.close();
    assert.equal(a.closed(), true);
    assert.equal(hub.subscribers, 0);
    assert.equal(listen(hub).closed(), true);
  });

  it('a listener that throws is dropped and the run goes on', () => {
    const hub = new DashboardHub(run);
    let closed = false;
    hub.subscribe({
      event: () => {
        throw new Error('socket gone');
      },
      close: () => (closed = true),
    });
    hub.recordRound(round(0));
    assert.equal(closed, true);
    assert.equal(hub.subscribers, 0);
  });
});
