import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from './backend/index.js';
import { buildModel, forwardFlops, type ModelSpec } from './models.js';

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
