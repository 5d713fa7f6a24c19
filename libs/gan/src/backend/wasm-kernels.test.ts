import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../gradients.js';
import { buildModel } from '../models.js';
import { initBackend } from './select.js';
import { wasmKernelsPatched } from './wasm-kernels.js';

function seeded(n: number, seed: number): Float32Array {
  const v = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    v[i] = ((s >>> 0) / 4294967296 - 0.5) * 2;
  }
  return v;
}

/** Runs `fn` on cpu and on wasm with the same inputs and returns both results. */
async function onBoth(
  fn: () => tf.Tensor | tf.Tensor[],
): Promise<[Float32Array[], Float32Array[]]> {
  const results: Float32Array[][] = [];
  for (const backend of ['cpu', 'wasm']) {
    await tf.setBackend(backend);
    if (backend === 'cpu') (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
    const out = tf.tidy(fn);
    const list = Array.isArray(out) ? out : [out];
    results.push(list.map((t) => t.dataSync() as Float32Array));
    tf.dispose(list);
  }
  await tf.setBackend('wasm');
  return [results[0]!, results[1]!];
}

function assertClose(a: Float32Array, b: Float32Array, what: string, minScale = 1e-6): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  let scale = minScale;
  for (const v of a) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs(a[i]! - b[i]!);
    if (err > 1e-4 * scale + 1e-5)
      assert.fail(`${what}: index ${i}: cpu ${a[i]} vs wasm ${b[i]} (scale ${scale})`);
  }
}

describe('wasm kernels registered at start-up agree with the cpu backend', () => {
  before(async () => {
    await initBackend({ forced: 'wasm' });
    assert.ok(wasmKernelsPatched());
  });

  it('matMul with every combination of transposed operands, 2D and batched', async () => {
    for (const [m, k, n, batch] of [
      [5, 7, 3, 0],
      [64, 33, 17, 0],
      [1, 9, 4, 0],
      [6, 5, 4, 3],
    ] as const) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          const aShape = batch ? [batch, ta ? k : m, ta ? m : k] : [ta ? k : m, ta ? m : k];
          const bShape = batch ? [batch, tb ? n : k, tb ? k : n] : [tb ? n : k, tb ? k : n];
          const av = seeded(
            aShape.reduce((x: number, y: number) => x * y, 1),
            1 + m,
          );
          const bv = seeded(
            bShape.reduce((x: number, y: number) => x * y, 1),
            2 + n,
          );
          const [c, w] = await onBoth(() =>
            tf.matMul(tf.tensor(av, aShape), tf.tensor(bv, bShape), ta, tb),
          );
          assertClose(c[0]!, w[0]!, `matMul ${aShape}×${bShape} ta=${ta} tb=${tb}`);
        }
      }
    }
  });

  it('conv2d gradients (filter and input) for strides, paddings, odd sizes and channels', async () => {
    const cases = [
      { x: [1, 7, 7, 1], k: 3, co: 4, s: 1, pad: 'same' },
      { x: [3, 8, 8, 3], k: 4, co: 5, s: 2, pad: 'same' },
      { x: [2, 5, 9, 2], k: 3, co: 3, s: 2, pad: 'valid' },
      { x: [2, 9, 7, 16], k: 5, co: 8, s: 2, pad: 'same' },
      { x: [8, 14, 14, 4], k: 4, co: 6, s: 2, pad: 'same' },
      {
        x: [2, 6, 6, 2],
        k: 3,
        co: 2,
        s: 1,
        pad: [
          [0, 0],
          [1, 2],
          [2, 0],
          [0, 0],
        ],
      },
      { x: [1, 10, 10, 3], k: 5, co: 2, s: 2, pad: 1 },
    ] as const;
    for (const c of cases) {
      const ci = c.x[3];
      const xv = seeded(
        c.x.reduce((a: number, b: number) => a * b, 1),
        3,
      );
      const fv = seeded(c.k * c.k * ci * c.co, 4);
      const [cpu, wasm] = await onBoth(() => {
        const x = tf.tensor4d(xv, c.x as unknown as [number, number, number, number]);
        const f = tf.tensor4d(fv, [c.k, c.k, ci, c.co]);
        const g = tf.grads((xx: tf.Tensor, ff: tf.Tensor) =>
          tf.sum(tf.square(tf.conv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, c.s, c.pad as 'same'))),
        );
        return g([x, f]);
      });
      assertClose(cpu[0]!, wasm[0]!, `dx ${JSON.stringify(c)}`);
      assertClose(cpu[1]!, wasm[1]!, `dW ${JSON.stringify(c)}`);
    }
  });

  it('conv2dTranspose forward and gradients', async () => {
    for (const c of [
      { x: [2, 7, 7, 8], k: 4, co: 4, s: 2, out: [2, 14, 14, 4] },
      { x: [3, 4, 4, 6], k: 4, co: 3, s: 2, out: [3, 8, 8, 3] },
      { x: [1, 5, 5, 2], k: 3, co: 2, s: 1, out: [1, 5, 5, 2] },
    ] as const) {
      const xv = seeded(
        c.x.reduce((a: number, b: number) => a * b, 1),
        5,
      );
      const fv = seeded(c.k * c.k * c.co * c.x[3], 6);
      const [cpu, wasm] = await onBoth(() => {
        const x = tf.tensor4d(xv, c.x as unknown as [number, number, number, number]);
        const f = tf.tensor4d(fv, [c.k, c.k, c.co, c.x[3]]);
        const fwd = (xx: tf.Tensor, ff: tf.Tensor): tf.Tensor4D =>
          tf.conv2dTranspose(
            xx as tf.Tensor4D,
            ff as tf.Tensor4D,
            c.out as unknown as [number, number, number, number],
            c.s,
            'same',
          );
        const y = fwd(x, f);
        const [dx, df] = tf.grads((xx: tf.Tensor, ff: tf.Tensor) => tf.sum(tf.square(fwd(xx, ff))))(
          [x, f],
        );
        return [y, dx!, df!];
      });
      for (let i = 0; i < 3; i++)
        assertClose(
          cpu[i]!,
          wasm[i]!,
          `conv2dTranspose ${['y', 'dx', 'dW'][i]} ${JSON.stringify(c)}`,
        );
    }
  });

  it("the DCGAN discriminator's and generator's parameter gradients", async () => {
    for (const role of ['discriminator', 'generator'] as const) {
      const spec = { arch: 'dcgan' as const, sampleShape: [28, 28, 1], latentDim: 16 };
      const input = role === 'discriminator' ? seeded(4 * 28 * 28, 7) : seeded(4 * 16, 8);
      const shape = role === 'discriminator' ? [4, 28, 28, 1] : [4, 16];
      const [cpu, wasm] = await onBoth(() => {
        const model = buildModel(role, spec, 42);
        const { grads } = tf.variableGrads(
          () => tf.sum(tf.square(model.apply(tf.tensor(input, shape)))) as tf.Scalar,
          model.params.vars as tf.Variable[],
        );
        const list = model.params.vars.map((v) => tf.keep(grads[v.name]!));
        tf.dispose(Object.values(grads).filter((g) => !list.includes(g)));
        model.dispose();
        return list;
      });
      // Tolerance relative to the model's largest gradient: a conv bias before batch norm has a
      // gradient that is zero in exact arithmetic, so both backends return rounding noise there.
      const scale = Math.max(...cpu.map((g) => g.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
      for (let i = 0; i < cpu.length; i++)
        assertClose(cpu[i]!, wasm[i]!, `${role} grad ${i}`, scale);
    }
  });

  it('leaks no tensors', async () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor4d(seeded(2 * 8 * 8 * 3, 9), [2, 8, 8, 3]);
    const f = tf.tensor4d(seeded(4 * 4 * 3 * 5, 10), [4, 4, 3, 5]);
    for (let i = 0; i < 3; i++) {
      tf.dispose(
        tf.tidy(() =>
          tf.grads((a: tf.Tensor, b: tf.Tensor) =>
            tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')),
          )([x, f]),
        ),
      );
      tf.dispose(tf.tidy(() => tf.matMul(tf.ones([5, 7]), tf.ones([3, 7]), false, true)));
    }
    tf.dispose([x, f]);
    assert.equal(tf.memory().numTensors, before);
    // and no backend buffers behind the engine's back (intermediates of the kernels are freed)
    assert.equal(
      (tf.memory() as { numDataBuffers?: number }).numDataBuffers,
      tf.memory().numTensors,
    );
  });
});
