import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cellConfig, cellFromLines, cellSettings, type CellKey } from './convergence-bench.js';
import { deploymentTimeModel } from './convergence-time.js';
import type { RoundLine } from './run.js';
import { measuredRoundOf, modelRoundMs, NETWORK_PROFILES } from './time-model.js';

/** Rounds whose phases, bytes and device codec times vary, as a real run's do. */
function lines(method: 'distgan' | 'md-gan' | 'centralized', devices: number): RoundLine[] {
  return Array.from({ length: 7 }, (_, r) => {
    const n = method === 'centralized' ? 0 : devices;
    return {
      round: r,
      method,
      schedule: 'parallel',
      attempts: 1,
      participants: n,
      accepted: Array.from({ length: n }, (_, k) => ({
        deviceId: `device-${k}`,
        samples: 10,
        losses: { d: 1, dReal: 0.5, dFake: 0.5 },
        computeMs: 10 + k + r,
        timings: { fetchMs: 1, verifyMs: 1 + ((k * r) % 3), encodeMs: 0.5 * k, storeMs: 1 },
        latencyMs: 20,
      })),
      outcomes: { accepted: n, duplicate: 0, rejected: 0, late: 0, declined: 0 },
      losses: { d: 1, dReal: 0.5, dFake: 0.5, g: 1 },
      phases: {
        broadcastMs: 2 + r,
        deviceComputeMs: 12 + 3 * r,
        collectMs: 20 + r,
        aggregateMs: 3 + (r % 2),
        generatorMs: 8 + r,
        preBroadcastMs: method === 'md-gan' ? 5 + r : 0,
        totalMs: 40 + 5 * r,
      },
      bytes: { down: 1e6 * (1 + (r % 3)), up: 5e5 * (1 + r) },
      elapsedS: r + 1,
      trainS: r + 1,
    } as RoundLine;
  });
}

describe('the convergence cells through the time model', () => {
  it("gives each profile the same round time as the time model on the cell's own lines", () => {
    const model = deploymentTimeModel();
    assert.deepEqual(
      model.profiles.map((p) => p.name),
      NETWORK_PROFILES.map((p) => p.name),
    );
    const cases: [CellKey['method'], 'distgan' | 'md-gan' | 'centralized'][] = [
      ['parallel', 'distgan'],
      ['md-gan', 'md-gan'],
      ['centralized', 'centralized'],
    ];
    for (const [method, engine] of cases) {
      const key: CellKey = {
        dataset: 'mnist',
        split: method === 'centralized' ? 'pooled' : 'iid',
        method,
        seed: 1,
      };
      const opts = {
        out: 'x',
        datasets: ['mnist'] as const,
        splits: ['iid'] as const,
        methods: [method],
        seeds: [1],
        devices: 3,
        rounds: 7,
        evalEvery: 7,
        evalSamples: 100,
        model: 'mlp' as const,
      };
      const own = lines(engine, 3);
      const cell = cellFromLines(key, cellSettings(cellConfig(opts, key)), own, { wallS: 1 });
      for (const p of NETWORK_PROFILES) {
        const expected = modelRoundMs(measuredRoundOf(method, cell.devices, own), p);
        const got = model.roundMs(cell, p);
        assert.ok(
          Math.abs(got - expected) < 1e-6 * expected,
          `${method} on ${p.name}: ${got} vs ${expected}`,
        );
      }
    }
  });
});
