import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { buildModel, GeneratorAverage, initBackend, type ModelSpec } from '@distgan/gan';
import type { ServerMethod, ServerRound } from '@distgan/engine';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { directoryCheckpointStore } from '@distgan/engine';
import type { FlatWeights } from '@distgan/protocol';
import { AveragedGeneratorMethod } from './averaged.js';

const partsOf = (state: Record<string, FlatWeights>): Record<string, Float32Array> =>
  Object.fromEntries(Object.entries(state).map(([k, v]) => [k, v.values]));

const SPEC: ModelSpec = { arch: 'mlp', sampleShape: [2], latentDim: 2 };
before(() => initBackend({ forced: 'cpu' }));

/** A method whose generator weights are all `round + 1` after each round; `failAt` throws. */
function fakeMethod(failAt = -1): ServerMethod & { rounds: number } {
  const g = buildModel('generator', SPEC, 1);
  const m = {
    name: 'distgan' as const,
    usesDevices: true,
    rounds: 0,
    round(r: ServerRound) {
      if (r.t === failAt) return Promise.reject(new Error('round failed'));
      m.rounds += 1;
      g.params.setFlat(new Float32Array(g.params.size).fill(m.rounds));
      return Promise.resolve({ g: 0 });
    },
    sample: () => new Float32Array(0),
    generatorWeights: (out?: Float32Array) => g.params.getFlat(out),
    discriminatorWeights: () => undefined,
    state: () => ({ g: g.params.getFlat() }),
    stateSpecs: () => ({ g: g.params.specs }),
    restore: (s: Record<string, Float32Array>) => g.params.setFlat(s['g']!),
    dispose: () => g.dispose(),
  };
  return m;
}
const round = (t: number): ServerRound => ({ t }) as unknown as ServerRound;

describe('the generator averaged over rounds (G_AVERAGE)', () => {
  it('averages with a warm-up: min(decay, (1 + n) / (10 + n)) of the old average at update n', () => {
    const size = buildModel('generator', SPEC, 1).params.size;
    const fill = (v: number): Float32Array => new Float32Array(size).fill(v);
    const slow = new GeneratorAverage(SPEC, 0.5);
    slow.update(fill(10)); // the first update is the average
    assert.equal(slow.weights()!.values[0], 10);
    slow.update(fill(0)); // n = 2: the warm-up's 3/12 = 0.25 is below the decay
    assert.equal(slow.weights()!.values[0], 2.5);
    const fast = new GeneratorAverage(SPEC, 0.1);
    fast.update(fill(10));
    fast.update(fill(0)); // n = 2: the decay 0.1 is below the warm-up's 0.25
    assert.equal(fast.weights()!.values[0], 1);
    assert.equal(fast.count, 2);
    assert.throws(() => slow.update(new Float32Array(3)), /has \d+ weights, not 3/);
    assert.throws(() => new GeneratorAverage(SPEC, 1), /decay must be in \(0, 1\)/);
    slow.dispose();
    fast.dispose();
  });

  it('samples from the averaged weights, not the trained ones', async () => {
    const method = new AveragedGeneratorMethod(fakeMethod(), SPEC, 0.9);
    for (let t = 0; t < 3; t++) await method.round(round(t));
    const avg = method.averagedGeneratorWeights();
    // Warm-up: 1, then 2/11 of 2, then 3/12·... : the average is below the trained 3.
    assert.ok(avg.values[0]! < 3 && avg.values[0]! > 1, `average ${avg.values[0]}`);
    assert.equal(method.generatorWeights().values[0], 3);
    const reference = buildModel('generator', SPEC, 7);
    reference.params.setFlat(avg.values);
    const z = Float32Array.of(0.3, -1.2, 0.8, 0.1);
    const want = reference.apply(tf.tensor2d(z, [2, 2])).dataSync();
    assert.deepEqual(Array.from(method.sample(z)), Array.from(want));
    reference.dispose();
    method.dispose();
  });

  it('a round that fails leaves the average as it was', async () => {
    const method = new AveragedGeneratorMethod(fakeMethod(1), SPEC, 0.9);
    await method.round(round(0));
    const before = method.averagedGeneratorWeights().values.slice();
    await assert.rejects(method.round(round(1)), /round failed/);
    assert.deepEqual(method.averagedGeneratorWeights().values, before);
    method.dispose();
  });

  it('a checkpoint holds the average: a restored run continues it bit for bit', async () => {
    const straight = new AveragedGeneratorMethod(fakeMethod(), SPEC, 0.95);
    for (let t = 0; t < 6; t++) await straight.round(round(t));

    const first = new AveragedGeneratorMethod(fakeMethod(), SPEC, 0.95);
    for (let t = 0; t < 3; t++) await first.round(round(t));
    // Through a real checkpoint store, which checks the parts' names and layouts.
    const store = directoryCheckpointStore(mkdtempSync(join(tmpdir(), 'distgan-avg-')), 'avg-run');
    await store.save({ round: 2, parts: partsOf(first.state()) }, first.stateSpecs());
    const saved = (await store.load(first.stateSpecs()))!.parts;
    assert.deepEqual(Object.keys(saved).sort(), ['g', 'g-avg', 'g-avg-count']);
    assert.deepEqual(Object.keys(first.stateSpecs()).sort(), ['g', 'g-avg', 'g-avg-count']);
    const inner = fakeMethod();
    inner.rounds = 3;
    const resumed = new AveragedGeneratorMethod(inner, SPEC, 0.95);
    resumed.restore(saved);
    for (let t = 3; t < 6; t++) await resumed.round(round(t));
    assert.deepEqual(
      Array.from(resumed.averagedGeneratorWeights().values),
      Array.from(straight.averagedGeneratorWeights().values),
    );
    // A checkpoint written without the average is refused, saying why.
    assert.throws(() => resumed.restore({ g: saved['g']! }), /no generator average/);
    for (const m of [straight, first, resumed]) m.dispose();
  });
});
