import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { Adam } from './adam.js';
import { initBackend } from './backend/index.js';
import { buildModel, latentClasses, type ModelSpec } from './models.js';
import {
  discriminatorStepOnSamples,
  generatorFeedback,
  generatorStep,
  generatorStepFromFeedback,
  localDiscriminatorStep,
} from './steps.js';

const unconditional: ModelSpec = { arch: 'mlp', sampleShape: [2], latentDim: 3 };
const conditional: ModelSpec = { arch: 'mlp', sampleShape: [2], latentDim: 5, classes: 3 };
before(() => initBackend({ forced: 'cpu' }));

describe('MD-GAN pieces', () => {
  for (const spec of [unconditional, conditional])
    it(`a G step along the discriminator's feedback equals the direct G step (${spec.classes ? 'conditional: the class loss included' : 'unconditional'})`, () => {
      const latentDim = spec.latentDim;
      const d = buildModel('discriminator', spec, 1);
      const g1 = buildModel('generator', spec, 2);
      const g2 = buildModel('generator', spec, 2);
      const adam = { learningRate: 1e-2, beta1: 0.5, beta2: 0.999 };
      const o1 = new Adam(g1.params.vars, adam);
      const o2 = new Adam(g2.params.vars, adam);
      const z = tf.randomNormal([8, latentDim], 0, 1, 'float32', 9) as tf.Tensor2D;
      generatorStep(g1, d, o1, z);
      const x = g2.apply(z);
      const classes = spec.classes ? latentClasses(z, spec.classes) : undefined;
      const { feedback } = generatorFeedback(d, x, classes);
      classes?.dispose();
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

describe('conditional discriminator steps (ACGAN)', () => {
  // Two well-separated clusters of 2D points, labelled 0 and 2 (class 1 never occurs).
  const batch = (seed: number): { real: tf.Tensor2D; labels: tf.Tensor1D; want: number[] } => {
    const labels = Array.from({ length: 32 }, (_, i) => ((i + seed) % 2) * 2);
    const points = labels.flatMap((c, i) => [c - 1 + 0.1 * Math.sin(i + seed), 0.1 * Math.cos(i)]);
    return {
      real: tf.tensor2d(points, [32, 2]),
      labels: tf.tensor1d(labels, 'int32'),
      want: labels,
    };
  };
  const classify = (d: ReturnType<typeof buildModel>, real: tf.Tensor): number[] => {
    const out = d.apply(real);
    const k = tf.argMax(tf.slice(out, [0, 1], [-1, 3]), 1);
    const v = Array.from(k.dataSync());
    for (const t of [out, k]) t.dispose();
    return v;
  };

  it("learns the real samples' labels with its class logits, in the devices' step and MD-GAN's", () => {
    for (const step of ['local', 'on samples'] as const) {
      const d = buildModel('discriminator', conditional, 1);
      const g = buildModel('generator', conditional, 2);
      const opt = new Adam(d.params.vars, { learningRate: 1e-2, beta1: 0.5, beta2: 0.999 });
      for (let s = 0; s < 100; s++) {
        const { real, labels } = batch(s);
        const z = tf.randomNormal([32, 5], 0, 1, 'float32', s) as tf.Tensor2D;
        if (step === 'local') localDiscriminatorStep(d, g, opt, real, z, labels);
        else {
          const fake = g.apply(z);
          const fakeClasses = latentClasses(z, 3);
          discriminatorStepOnSamples(d, opt, real, fake, { labels, fakeClasses });
          for (const t of [fake, fakeClasses]) t.dispose();
        }
        for (const t of [real, labels, z]) t.dispose();
      }
      const { real, labels, want } = batch(1000);
      assert.deepEqual(classify(d, real), want, step);
      for (const t of [d, g, opt, real, labels]) t.dispose();
    }
  });

  it("refuses to train without the real samples' labels", () => {
    const d = buildModel('discriminator', conditional, 1);
    const g = buildModel('generator', conditional, 2);
    const opt = new Adam(d.params.vars, { learningRate: 1e-2, beta1: 0.5, beta2: 0.999 });
    const { real, labels } = batch(0);
    const z = tf.randomNormal([32, 5], 0, 1, 'float32', 1) as tf.Tensor2D;
    const before = d.params.getFlat().values.slice();
    assert.throws(() => localDiscriminatorStep(d, g, opt, real, z), /labels/);
    assert.deepEqual(d.params.getFlat().values, before, 'nothing moved');
    for (const t of [d, g, opt, real, labels, z]) t.dispose();
  });
});
