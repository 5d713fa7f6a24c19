import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RoundLine } from './run.js';
import {
  NETWORK_PROFILES,
  benchMethodOf,
  measuredRoundOf,
  modelRoundBreakdown,
  modelRoundMs,
  networkProfile,
  timeModelTable,
  type BenchMethod,
  type MeasuredRound,
} from './time-model.js';

const lan = networkProfile('lan');
const edge = networkProfile('edge');

/** Rounding error of the float arithmetic only: every expected value below is computed by hand. */
const near = (actual: number, expected: number, what = ''): void =>
  assert.ok(Math.abs(actual - expected) < 1e-6, `${what} ${actual} ≠ ${expected}`);

/*
 * distgan with 4 devices: 2.5 MB down and 1.25 MB up per device (10 MB and 5 MB in all).
 * LAN down: max(2e7 bit / 10 Gbit/s, 8e7 bit / 10 Gbit/s) = 8 ms, + 1.5 × 0.2 ms = 8.3 ms;
 *     up:   max(1e7 / 1e10, 4e7 / 1e10) = 4 ms, + 0.3 = 4.3 ms.
 * edge down: max(2e7 / 20 Mbit/s, 8e7 / 1 Gbit/s) = 1000 ms, + 1.5 × 40 = 1060 ms;
 *      up:   max(1e7 / 10 Mbit/s, 4e7 / 1 Gbit/s) = 1000 ms, + 60 = 1060 ms.
 */
const distgan = (method: 'serial' | 'parallel', generatorMs = 20): MeasuredRound => ({
  method,
  devices: 4,
  rounds: 10,
  deviceComputeMs: 30,
  deviceCodecMs: 2,
  serverPreMs: 5,
  aggregateMs: 3,
  generatorMs,
  serverComputeMs: 8 + generatorMs,
  bytesDown: 1e7,
  bytesUp: 5e6,
  inProcessMs: 0,
});

describe('the deployment time model', () => {
  it('serial: broadcast, down, the devices, up, aggregate and G one after the other', () => {
    near(modelRoundMs(distgan('serial'), lan), 5 + 8.3 + 32 + 4.3 + 3 + 20, 'lan');
    near(modelRoundMs(distgan('serial'), edge), 5 + 1060 + 32 + 1060 + 3 + 20, 'edge');
    const b = modelRoundBreakdown(distgan('serial'), edge);
    near(b.downMs, 1060);
    near(b.upMs, 1060);
    near(b.deviceMs, 32);
    near(b.serverMs, 28);
    near(b.networkMs, 2120);
    near(b.overlapMs, 0);
  });

  it('parallel: the G steps overlap down + devices + up; aggregation follows both', () => {
    // The devices' side (8.3 + 32 + 4.3 = 44.6 ms on the LAN) hides G's 20 ms...
    near(modelRoundMs(distgan('parallel'), lan), 5 + 44.6 + 3, 'lan, devices dominate');
    near(modelRoundBreakdown(distgan('parallel'), lan).overlapMs, 20);
    near(modelRoundMs(distgan('parallel'), edge), 5 + 2152 + 3, 'edge, devices dominate');
    // ...and G's 100 ms hides the devices' side.
    near(modelRoundMs(distgan('parallel', 100), lan), 5 + 100 + 3, 'lan, G dominates');
    near(modelRoundBreakdown(distgan('parallel', 100), lan).overlapMs, 44.6);
    near(modelRoundMs(distgan('serial', 100), lan), 5 + 44.6 + 3 + 100);
  });

  it('parallel is never slower than serial, and is the max form whichever side dominates', () => {
    for (const p of NETWORK_PROFILES) {
      for (const generatorMs of [0, 1, 20, 44.6, 100, 5000]) {
        for (const bytes of [0, 1e3, 1e7, 1e9]) {
          const at = (method: 'serial' | 'parallel'): MeasuredRound => ({
            ...distgan(method, generatorMs),
            bytesDown: bytes,
            bytesUp: bytes / 2,
          });
          const serial = modelRoundBreakdown(at('serial'), p);
          const parallel = modelRoundMs(at('parallel'), p);
          const devicesSide = serial.downMs + serial.deviceMs + serial.upMs;
          assert.ok(parallel <= serial.totalMs, `${p.name}, G ${generatorMs} ms, ${bytes} B`);
          near(parallel, 5 + Math.max(devicesSide, generatorMs) + 3, `${p.name} max form`);
        }
      }
    }
  });

  it('MD-GAN: fakes before the broadcast, then down, the workers, up and the G step in sequence', () => {
    // 4 workers, 400 kB of fake batches down and 200 kB of feedback up each.
    // LAN: down max(3.2e6/1e10, 1.28e7/1e10) = 1.28 ms + 0.3; up 0.64 + 0.3.
    // edge: down max(3.2e6/2e7, 1.28e7/1e9) = 160 ms + 60; up max(1.6e6/1e7, 6.4e6/1e9) = 160 + 60.
    const m: MeasuredRound = {
      method: 'md-gan',
      devices: 4,
      rounds: 10,
      deviceComputeMs: 19,
      deviceCodecMs: 1,
      serverPreMs: 10,
      aggregateMs: 1,
      generatorMs: 15,
      serverComputeMs: 26,
      bytesDown: 1.6e6,
      bytesUp: 8e5,
      inProcessMs: 0,
    };
    near(modelRoundMs(m, lan), 10 + 1.58 + 20 + 0.94 + 1 + 15, 'lan');
    near(modelRoundMs(m, edge), 10 + 220 + 20 + 220 + 1 + 15, 'edge');
    near(modelRoundBreakdown(m, edge).overlapMs, 0);
  });

  it('FL-GAN: both models down and up, averaged after; no G steps on the server', () => {
    // 4 devices, G and D (2.5 MB) each way: edge up max(2e7/1e7, 8e7/1e9) = 2000 ms + 60.
    const m: MeasuredRound = {
      method: 'fl-gan',
      devices: 4,
      rounds: 10,
      deviceComputeMs: 50,
      deviceCodecMs: 4,
      serverPreMs: 5,
      aggregateMs: 8,
      generatorMs: 0,
      serverComputeMs: 13,
      bytesDown: 1e7,
      bytesUp: 1e7,
      inProcessMs: 0,
    };
    near(modelRoundMs(m, lan), 5 + 8.3 + 54 + 8.3 + 8, 'lan');
    near(modelRoundMs(m, edge), 5 + 1060 + 54 + 2060 + 8, 'edge');
  });

  it('centralized: the server computes alone, whatever the network and bytes say', () => {
    const m: MeasuredRound = {
      method: 'centralized',
      devices: 4,
      rounds: 10,
      deviceComputeMs: 1000,
      deviceCodecMs: 1000,
      serverPreMs: 0,
      aggregateMs: 16,
      generatorMs: 12,
      serverComputeMs: 28,
      bytesDown: 1e9,
      bytesUp: 1e9,
      inProcessMs: 0,
    };
    for (const p of NETWORK_PROFILES) {
      near(modelRoundMs(m, p), 28, p.name);
      const b = modelRoundBreakdown(m, p);
      assert.deepEqual([b.downMs, b.upMs, b.deviceMs, b.networkMs], [0, 0, 0, 0], p.name);
    }
  });

  it("the server's link bounds a transfer once enough devices share it", () => {
    // 100 devices × 2.5 MB: each device's link needs 1 s, the server's 2e9 bit / 1 Gbit/s = 2 s.
    const m = { ...distgan('serial'), devices: 100, bytesDown: 2.5e8, bytesUp: 0 };
    near(modelRoundBreakdown(m, edge).downMs, 2000 + 60);
    near(modelRoundBreakdown(m, edge).upMs, 0, 'nothing up: no transfer, no latency');
  });

  it('more bytes: much slower on the edge, hardly slower on the LAN', () => {
    for (const method of ['serial', 'parallel'] as const) {
      const small = distgan(method);
      const big = { ...small, bytesDown: 2 * small.bytesDown, bytesUp: 2 * small.bytesUp };
      const added = (p: typeof lan): number => modelRoundMs(big, p) - modelRoundMs(small, p);
      // Edge: 1000 + 1000 ms more (each device's own link); LAN: at most 8 + 4 ms more.
      near(added(edge), 2000, `${method} edge`);
      assert.ok(added(lan) > 0 && added(lan) <= 12 + 1e-9, `${method} lan: ${added(lan)} ms`);
      assert.ok(added(edge) > 100 * added(lan), method);
    }
  });

  it('names its two profiles with the numbers docs/time-model.md gives', () => {
    assert.deepEqual(
      NETWORK_PROFILES.map((p) => [
        p.name,
        p.deviceDownBitsPerS,
        p.deviceUpBitsPerS,
        p.serverBitsPerS,
        p.rttMs,
      ]),
      [
        ['lan', 10e9, 10e9, 10e9, 0.2],
        ['edge', 20e6, 10e6, 1e9, 40],
      ],
    );
    assert.throws(() => networkProfile('wan'), /no network profile "wan": use lan or edge/);
  });

  it('a table of every method in every profile, as a ratio to the first row', () => {
    const table = timeModelTable([distgan('serial'), distgan('parallel')]);
    const rows = table.split('\n').slice(2);
    assert.equal(rows.length, 4);
    assert.match(rows[0]!, /^\| lan \| serial \|.* \| 72\.6 \| 1\.00 \|$/);
    assert.match(rows[1]!, /^\| lan \| parallel \|.* \| 52\.6 \| 0\.72 \|$/);
    assert.match(rows[3]!, /^\| edge \| parallel \|.* \| 2160 \| 0\.99 \|$/);
  });
});

/** A metrics.jsonl line with the fields the model reads. */
function line(
  round: number,
  o: {
    method?: RoundLine['method'];
    schedule?: RoundLine['schedule'];
    participants?: number;
    phases?: Partial<RoundLine['phases']>;
    bytes?: RoundLine['bytes'];
    devices?: { computeMs: number; verifyMs?: number; encodeMs?: number }[];
  } = {},
): RoundLine {
  const devices = o.devices ?? [{ computeMs: 10, verifyMs: 1, encodeMs: 1 }];
  return {
    method: o.method ?? 'distgan',
    schedule: o.schedule ?? 'serial',
    elapsedS: round,
    trainS: round,
    round,
    attempts: 1,
    participants: o.participants ?? devices.length,
    accepted: devices.map((d, k) => ({
      deviceId: `device-${k}`,
      samples: 100,
      losses: { d: 1, dReal: 0.5, dFake: 0.5 },
      computeMs: d.computeMs,
      ...(d.verifyMs === undefined
        ? {}
        : { timings: { fetchMs: 50, verifyMs: d.verifyMs, encodeMs: d.encodeMs!, storeMs: 70 } }),
      latencyMs: 0,
    })),
    outcomes: { accepted: devices.length, duplicate: 0, rejected: 0, late: 0, declined: 0 },
    losses: { d: 1, dReal: 0.5, dFake: 0.5, g: 1 },
    phases: {
      broadcastMs: 0,
      deviceComputeMs: Math.max(0, ...devices.map((d) => d.computeMs)),
      collectMs: 0,
      aggregateMs: 0,
      generatorMs: 0,
      preBroadcastMs: 0,
      totalMs: 0,
      ...o.phases,
    },
    bytes: o.bytes ?? { down: 0, up: 0 },
  };
}

describe('measuredRoundOf', () => {
  it('averages the rounds after the first, each quantity from its phase', () => {
    const two = (computeMs: number[], verifyMs: number, encodeMs: number) =>
      computeMs.map((c, k) => ({ computeMs: c, verifyMs: k === 0 ? verifyMs : 0, encodeMs }));
    const lines = [
      // Round 0, the warm-up: ten times slower and bigger, left out.
      line(0, {
        devices: two([900, 800], 90, 90),
        phases: { broadcastMs: 900, aggregateMs: 900, generatorMs: 900, totalMs: 9000 },
        bytes: { down: 9e9, up: 9e9 },
      }),
      line(1, {
        devices: two([30, 40], 3, 1),
        phases: { broadcastMs: 4, aggregateMs: 2, generatorMs: 20, totalMs: 100 },
        bytes: { down: 1000, up: 500 },
      }),
      line(2, {
        devices: two([50, 10], 5, 3),
        phases: { broadcastMs: 6, aggregateMs: 4, generatorMs: 30, totalMs: 200 },
        bytes: { down: 3000, up: 700 },
      }),
    ];
    const m = measuredRoundOf('serial', 2, lines);
    assert.deepEqual(m, {
      method: 'serial',
      devices: 2,
      rounds: 2,
      // The slowest device each round: 40 then 50.
      deviceComputeMs: 45,
      // The largest verify + encode each round: 3 + 1 then 5 + 3 (not the fetch and store).
      deviceCodecMs: 6,
      serverPreMs: 5,
      aggregateMs: 3,
      generatorMs: 25,
      serverComputeMs: 33,
      bytesDown: 2000,
      bytesUp: 600,
      inProcessMs: 150,
    });
  });

  it("MD-GAN: the fakes made before the broadcast count as pre-broadcast time, not G's", () => {
    const lines = [0, 1, 2].map((t) =>
      line(t, {
        method: 'md-gan',
        phases: { broadcastMs: 1, generatorMs: 12, preBroadcastMs: 8, aggregateMs: 1 },
      }),
    );
    const m = measuredRoundOf('md-gan', 1, lines);
    assert.equal(m.serverPreMs, 9);
    assert.equal(m.generatorMs, 4);
    assert.equal(m.serverComputeMs, 14);
  });

  it('reads lines without preBroadcastMs or device timings (older runs) as zeros', () => {
    const old = line(1, {
      devices: [{ computeMs: 7 }],
      phases: { broadcastMs: 2, generatorMs: 5 },
    });
    delete old.phases.preBroadcastMs;
    const m = measuredRoundOf('parallel', 1, [{ ...old, schedule: 'parallel' }]);
    assert.deepEqual(
      [m.rounds, m.serverPreMs, m.generatorMs, m.deviceCodecMs, m.deviceComputeMs],
      [1, 2, 5, 0, 7],
    );
  });

  it('centralized: no devices; its D steps are in aggregateMs', () => {
    const lines = [0, 1].map((t) =>
      line(t, {
        method: 'centralized',
        devices: [],
        phases: { aggregateMs: 16, generatorMs: 12, totalMs: 28 },
      }),
    );
    const m = measuredRoundOf('centralized', 0, lines);
    assert.deepEqual([m.deviceComputeMs, m.deviceCodecMs, m.serverComputeMs], [0, 0, 28]);
    near(modelRoundMs(m, edge), 28);
  });

  it('refuses lines of another method or with another number of devices', () => {
    const lines = [0, 1].map((t) => line(t, { schedule: 'parallel' }));
    assert.throws(() => measuredRoundOf('serial', 1, lines), /round 1 is of parallel, not serial/);
    assert.throws(
      () => measuredRoundOf('parallel', 4, lines),
      /round 1 of parallel had 1 participants, not 4/,
    );
    assert.throws(() => measuredRoundOf('serial', 1, []), /no round lines/);
  });

  it('names a run by its method and schedule as the bench does', () => {
    const names: BenchMethod[] = [
      benchMethodOf({ method: 'distgan', schedule: 'serial' }),
      benchMethodOf({ method: 'distgan', schedule: 'parallel' }),
      benchMethodOf({ method: 'md-gan', schedule: 'serial' }),
      benchMethodOf({ method: 'fl-gan', schedule: 'parallel' }),
      benchMethodOf({ method: 'centralized', schedule: 'serial' }),
    ];
    assert.deepEqual(names, ['serial', 'parallel', 'md-gan', 'fl-gan', 'centralized']);
  });
});
