import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { encodeWeights } from '@distgan/protocol';
import { Adam } from './adam.js';
import { createBaseline, type BaselineDevice, type BaselineSettings } from './baselines.js';
import { initBackend } from './backend/index.js';
import { buildModel, type ModelSpec } from './models.js';
import { generatorFeedback, generatorStep, generatorStepFromFeedback } from './steps.js';

const spec: ModelSpec = { arch: 'mlp', sampleShape: [2], latentDim: 3 };
const settings: BaselineSettings = {
  spec,
  seed: 4,
  batchSize: 8,
  localSteps: 2,
  generatorSteps: 1,
  adamD: { learningRate: 1e-3, beta1: 0.5, beta2: 0.999 },
  adamG: { learningRate: 1e-3, beta1: 0.5, beta2: 0.999 },
};

function device(samples: number, offset: number): BaselineDevice {
  return {
    samples,
    realBatch: (round, step) =>
      Float32Array.from({ length: 16 }, (_, i) => Math.sin(offset + round + step + i)),
  };
}

before(() => initBackend({ forced: 'cpu' }));

describe('MD-GAN pieces', () => {
  it("a G step along the discriminator's feedback equals the direct G step", () => {
    const d = buildModel('discriminator', spec, 1);
    const g1 = buildModel('generator', spec, 2);
    const g2 = buildModel('generator', spec, 2);
    const adam = { learningRate: 1e-2, beta1: 0.5, beta2: 0.999 };
    const o1 = new Adam(g1.params.vars, adam);
    const o2 = new Adam(g2.params.vars, adam);
    const z = tf.randomNormal([8, 3], 0, 1, 'float32', 9) as tf.Tensor2D;
    generatorStep(g1, d, o1, z);
    const x = g2.apply(z);
    const { feedback } = generatorFeedback(d, x);
    x.dispose();
    const e = tf.tensor(feedback, [8, 2]);
    generatorStepFromFeedback(g2, o2, [{ z, feedback: e }]);
    const a = g1.params.getFlat().values;
    const b = g2.params.getFlat().values;
    const before = buildModel('generator', spec, 2).params.getFlat().values;
    assert.ok(
      a.some((v, i) => v !== before[i]),
      'the step moved G',
    );
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-5, `weight ${i}`);
    for (const m of [d, g1, g2, o1, o2, z, e]) m.dispose();
  });
});

describe('baseline traffic', () => {
  it('MD-GAN sends two fake batches down and one feedback batch up per worker', () => {
    const devices = [device(30, 0), device(20, 1), device(10, 2)];
    const md = createBaseline('md-gan', { ...settings, swapEvery: 2 }, devices);
    const batchBlob = encodeWeights({
      specs: [{ name: 'samples', shape: [8, 2] }],
      values: new Float32Array(16),
    }).length;
    const r0 = md.round();
    assert.equal(r0.bytes.down, 3 * 2 * batchBlob);
    assert.equal(r0.bytes.up, 3 * batchBlob);
    assert.equal(r0.bytes.peer, 0);
    const dBefore = md.discriminatorWeights().values;
    const r1 = md.round(); // swap after the second round
    const dBlob = encodeWeights(md.discriminatorWeights()).length;
    assert.equal(r1.bytes.peer, 3 * dBlob);
    assert.ok(md.discriminatorWeights().values.some((v, i) => v !== dBefore[i]));
    assert.ok(Number.isFinite(r1.losses.d) && Number.isFinite(r1.losses.g));
    md.dispose();
  });

  it('FL-GAN moves both models both ways and averages them; centralized moves nothing', () => {
    const devices = [device(30, 0), device(10, 1)];
    const fl = createBaseline('fl-gan', settings, devices);
    const g0 = fl.generatorWeights();
    const both = encodeWeights(g0).length + encodeWeights(fl.discriminatorWeights()).length;
    const r = fl.round();
    assert.equal(r.bytes.down, 2 * both);
    assert.equal(r.bytes.up, 2 * both);
    assert.ok(
      fl.generatorWeights().values.some((v, i) => v !== g0.values[i]),
      'G moved',
    );
    fl.dispose();
    const c = createBaseline('centralized', settings, devices, device(40, 3));
    const rc = c.round();
    assert.deepEqual(rc.bytes, { down: 0, up: 0, peer: 0 });
    c.dispose();
    assert.throws(() => createBaseline('centralized', settings, devices), /pooled/);
  });
});
