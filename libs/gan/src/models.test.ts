import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from './backend/index.js';
import {
  buildModel,
  forwardFlops,
  latentClasses,
  latentClassesOf,
  type ModelSpec,
} from './models.js';

before(() => initBackend({ forced: 'cpu' }));

const mnist = (arch: ModelSpec['arch'], width?: number): ModelSpec => ({
  arch,
  sampleShape: [28, 28, 1],
  latentDim: 64,
  ...(width === undefined ? {} : { width }),
});
const shapes = (
  spec: ModelSpec,
  role: 'generator' | 'discriminator',
): Record<string, readonly number[]> => {
  const m = buildModel(role, spec, 1);
  const out = Object.fromEntries(m.params.specs.map((s) => [s.name, s.shape]));
  m.dispose();
  return out;
};

describe('model sizes (MODEL_WIDTH)', () => {
  it('the default dcgan for 28×28 has 64 then 32 channels in G, 32 then 64 in D', () => {
    const g = shapes(mnist('dcgan'), 'generator');
    assert.deepEqual(g['g/project/kernel'], [64, 7 * 7 * 64]);
    assert.deepEqual(g['g/deconv1/kernel'], [4, 4, 32, 64]);
    assert.deepEqual(g['g/out/kernel'], [4, 4, 1, 32]);
    const d = shapes(mnist('dcgan'), 'discriminator');
    assert.deepEqual(d['d/conv0/kernel'], [4, 4, 1, 32]);
    assert.deepEqual(d['d/conv1/kernel'], [4, 4, 32, 64]);
    assert.deepEqual(d['d/logit/kernel'], [7 * 7 * 64, 1]);
  });

  it('a width doubles every channel count, and the FLOPs follow the shapes', () => {
    const g = shapes(mnist('dcgan', 64), 'generator');
    assert.deepEqual(g['g/deconv1/kernel'], [4, 4, 64, 128]);
    const d = shapes({ ...mnist('dcgan', 16), sampleShape: [32, 32, 3] }, 'discriminator');
    assert.deepEqual(d['d/conv0/kernel'], [4, 4, 3, 16]);
    assert.deepEqual(d['d/conv2/kernel'], [4, 4, 32, 64]);
    // The deconvolution dominates: twice the width, about four times the work.
    const ratio =
      forwardFlops('generator', mnist('dcgan', 64)) / forwardFlops('generator', mnist('dcgan', 32));
    assert.ok(ratio > 3 && ratio < 4, `ratio ${ratio}`);
  });

  it('the mlp keeps its hidden layers of 256 and 512 units (128 for 2D points) at the default width', () => {
    const g = shapes(mnist('mlp'), 'generator');
    assert.deepEqual(g['g/dense0/kernel'], [64, 256]);
    assert.deepEqual(g['g/dense1/kernel'], [256, 512]);
    const ring = shapes({ arch: 'mlp', sampleShape: [2], latentDim: 2 }, 'discriminator');
    assert.deepEqual(ring['d/dense1/kernel'], [128, 128]);
    assert.deepEqual(shapes(mnist('mlp', 8), 'generator')['g/dense1/kernel'], [64, 128]);
  });

  it('a generator of any width maps latents to images in [-1, 1]', () => {
    const g = buildModel('generator', mnist('dcgan', 4), 3);
    const z = tf.randomNormal([5, 64], 0, 1, 'float32', 1);
    const x = g.apply(z);
    assert.deepEqual(x.shape, [5, 28, 28, 1]);
    const v = x.dataSync();
    assert.ok(v.every((a) => a >= -1 && a <= 1));
    for (const t of [g, z, x]) t.dispose();
  });

  it('refuses a width that is not a positive integer', () => {
    for (const width of [0, -2, 1.5]) {
      assert.throws(
        () => buildModel('generator', mnist('dcgan', width), 1),
        /model width must be a positive integer/,
      );
    }
  });
});

describe('conditional models (CONDITIONAL, ACGAN)', () => {
  const conditional = (arch: ModelSpec['arch']): ModelSpec => ({ ...mnist(arch), classes: 10 });

  it('the discriminator has a real/fake logit and one logit per class; the generator keeps its shapes', () => {
    assert.deepEqual(shapes(conditional('dcgan'), 'discriminator')['d/logit/kernel'], [3136, 11]);
    assert.deepEqual(shapes(conditional('mlp'), 'discriminator')['d/dense2/kernel'], [256, 11]);
    assert.deepEqual(
      shapes(conditional('dcgan'), 'generator'),
      shapes(mnist('dcgan'), 'generator'),
    );
    const d = buildModel('discriminator', conditional('dcgan'), 1);
    const out = d.apply(tf.zeros([3, 28, 28, 1]));
    assert.deepEqual(out.shape, [3, 11]);
    for (const t of [d, out]) t.dispose();
  });

  it("a sample's class is the largest of z's first k coordinates: uniform over the classes, the same in tensors and arrays", () => {
    const z = tf.randomNormal([20_000, 12], 0, 1, 'float32', 5) as tf.Tensor2D;
    const k = latentClasses(z, 10);
    const fromTensor = Array.from(k.dataSync());
    const fromArray = Array.from(latentClassesOf(z.dataSync() as Float32Array, 12, 10));
    assert.deepEqual(fromTensor, fromArray);
    const counts = new Array<number>(10).fill(0);
    for (const c of fromArray) counts[c]!++;
    // 2,000 expected per class; 5 standard deviations (about 42 each) either side.
    for (const c of counts)
      assert.ok(Math.abs(c - 2000) < 220, `class counts ${counts.join(', ')}`);
    for (const t of [z, k]) t.dispose();
  });

  it('the generator reads the class and the rest of z: the other first-k values do not matter', () => {
    const g = buildModel('generator', { ...mnist('dcgan', 4), classes: 10 }, 3);
    const base = tf.randomNormal([1, 64], 0, 1, 'float32', 2).dataSync() as Float32Array;
    const withClass = (c: number, other: number): Float32Array => {
      const z = base.slice();
      for (let i = 0; i < 10; i++) z[i] = i === c ? 5 : other;
      return z;
    };
    // Batch norm over one sample would erase every difference: sample the three in one batch.
    const batch = [withClass(3, 0), withClass(3, -1), withClass(4, 0)];
    const zs = tf.tensor2d(Float32Array.from(batch.flatMap((z) => [...z])), [3, 64]);
    const x = g.apply(zs);
    const v = x.dataSync();
    x.dispose();
    const size = 28 * 28;
    const part = (i: number): number[] => Array.from(v.subarray(i * size, (i + 1) * size));
    const diff = (a: number[], b: number[]): number =>
      Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));
    assert.ok(
      diff(part(0), part(1)) < 1e-6,
      'the same class, other first-k values: the same sample',
    );
    assert.ok(diff(part(0), part(2)) > 1e-3, 'another class: another sample');
    for (const t of [g, zs]) t.dispose();
  });

  it('refuses a class count below 2, and a latent that is not longer than the class count', () => {
    assert.throws(
      () => buildModel('generator', { ...mnist('mlp'), classes: 1 }, 1),
      /at least 2 classes/,
    );
    assert.throws(
      () => buildModel('discriminator', { ...mnist('mlp'), latentDim: 10, classes: 10 }, 1),
      /needs a latent longer than 10/,
    );
  });
});
