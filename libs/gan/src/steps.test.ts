import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { Adam } from './adam.js';
import { initBackend } from './backend/index.js';
import { buildModel, type ModelSpec } from './models.js';
import { generatorFeedback, generatorStep, generatorStepFromFeedback } from './steps.js';

const spec: ModelSpec = { arch: 'mlp', sampleShape: [2], latentDim: 3 };
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
