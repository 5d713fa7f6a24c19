import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../gradients.js';
import { buildModel, type ModelArch } from '../models.js';
import { initBackend } from './select.js';
import { useSimdKernels } from './simd.js';
import { Adam } from '../adam.js';
import {
  ADAM_UPDATE,
  canonicalPerm,
  patchWasmKernels,
  unpatchWasmKernels,
  wasmKernelsPatched,
} from './wasm-kernels.js';

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | number | [[0, 0], [number, number], [number, number], [0, 0]];

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** Deterministic values in [-1, 1) (xorshift32). */
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

/** Runs `fn` on cpu and on wasm with the same inputs and returns both results' values. */
async function onBoth(
  fn: () => tf.Tensor | tf.Tensor[],
): Promise<[Float32Array[], Float32Array[]]> {
  const results: Float32Array[][] = [];
  for (const backend of ['cpu', 'wasm']) {
    await tf.setBackend(backend);
    const out = tf.tidy(fn);
    const list = Array.isArray(out) ? out : [out];
    results.push(list.map((t) => t.dataSync() as Float32Array));
    tf.dispose(list);
  }
  return [results[0]!, results[1]!];
}

/** Equal within 1e-4 of the largest magnitude in the cpu result (or of `minScale`). */
function assertClose(cpu: Float32Array, wasm: Float32Array, what: string, minScale = 0): void {
  assert.equal(wasm.length, cpu.length, `${what}: lengths`);
  let scale = minScale;
  for (const v of cpu) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < cpu.length; i++) {
    const err = Math.abs(cpu[i]! - wasm[i]!);
    if (!(err <= 1e-4 * scale + 1e-6)) {
      assert.fail(`${what}: index ${i}: cpu ${cpu[i]} vs wasm ${wasm[i]} (scale ${scale})`);
    }
  }
}

function assertAllClose(cpu: Float32Array[], wasm: Float32Array[], names: string[], what: string) {
  assert.equal(wasm.length, cpu.length);
  for (let i = 0; i < cpu.length; i++) assertClose(cpu[i]!, wasm[i]!, `${what}: ${names[i]}`);
}

describe('wasm kernels registered at start-up agree with the cpu backend', () => {
  before(async () => {
    await initBackend({ forced: 'wasm' });
    assert.ok(wasmKernelsPatched());
  });

  it('matMul with every combination of transposed operands, 2D, batched and broadcast', async () => {
    // [batch of a, batch of b, m, k, n]; batch 0 means a 2D matMul
    const cases = [
      [0, 0, 5, 7, 3],
      [0, 0, 64, 33, 17],
      [0, 0, 1, 9, 4],
      [0, 0, 8, 1, 5],
      [3, 3, 6, 5, 4],
      [8, 8, 7, 9, 1],
      [1, 3, 4, 6, 5],
      [0, 0, 16, 40, 50], // B larger than A: A·Bᵀ is computed as (B·Aᵀ)ᵀ
    ] as const;
    for (const [ba, bb, m, k, n] of cases) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          const aShape = [...(ba ? [ba] : []), ta ? k : m, ta ? m : k];
          const bShape = [...(bb ? [bb] : []), tb ? n : k, tb ? k : n];
          const av = seeded(size(aShape), 1 + m);
          const bv = seeded(size(bShape), 2 + n);
          const [cpu, wasm] = await onBoth(() =>
            tf.matMul(tf.tensor(av, aShape), tf.tensor(bv, bShape), ta, tb),
          );
          assertClose(cpu[0]!, wasm[0]!, `matMul [${aShape}]×[${bShape}] ta=${ta} tb=${tb}`);
        }
      }
    }
  });

  it('a plain matMul with large fresh weights gives the same bits on every use', async () => {
    // The first two uses of B's data run as (Bᵀ·Aᵀ)ᵀ, later ones on XNNPACK's packed B.
    const av = seeded(64 * 300, 3);
    const bv = seeded(300 * 400, 4);
    const [cpu] = await onBoth(() =>
      tf.matMul(tf.tensor(av, [64, 300]), tf.tensor(bv, [300, 400])),
    );
    await tf.setBackend('wasm');
    const a = tf.tensor2d(av, [64, 300]);
    const b = tf.tensor2d(bv, [300, 400]);
    const uses = [1, 2, 3, 4].map(() => tf.tidy(() => tf.matMul(a, b)).dataSync() as Float32Array);
    assertClose(cpu[0]!, uses[0]!, 'first use');
    for (let i = 1; i < uses.length; i++) {
      assert.deepEqual(
        new Uint32Array(uses[i]!.buffer),
        new Uint32Array(uses[0]!.buffer),
        `use ${i + 1}`,
      );
    }
    tf.dispose([a, b]);
  });

  it('transpose reduces a perm to its merged axes', () => {
    assert.deepEqual(canonicalPerm([64, 16, 16, 64], [3, 1, 2, 0]), {
      shape: [64, 256, 64],
      perm: [2, 1, 0],
    });
    assert.deepEqual(canonicalPerm([64, 14, 14, 64], [1, 2, 0, 3]), {
      shape: [64, 196, 64],
      perm: [1, 0, 2],
    });
    assert.deepEqual(canonicalPerm([1, 1024, 128], [0, 2, 1]), {
      shape: [1024, 128],
      perm: [1, 0],
    });
    assert.deepEqual(canonicalPerm([3, 1, 5], [2, 1, 0]), { shape: [3, 5], perm: [1, 0] });
    assert.deepEqual(canonicalPerm([2, 3, 4], [0, 1, 2]), { shape: [24], perm: [0] });
    assert.deepEqual(canonicalPerm([1, 1], [1, 0]), { shape: [], perm: [] });
  });

  it('transpose gives the same bits as the cpu backend for every perm, float32 and int32', async () => {
    const permutations = (n: number): number[][] =>
      n === 1
        ? [[0]]
        : permutations(n - 1).flatMap((p) =>
            Array.from({ length: p.length + 1 }, (_, i) => [
              ...p.slice(0, i),
              n - 1,
              ...p.slice(i),
            ]),
          );
    // odd sizes (the SIMD tiles' edges), size-1 axes, runs of 1 to 9 elements, the models' shapes
    const shapes = [
      [5, 7],
      [4, 8],
      [1, 13],
      [3, 1, 6],
      [2, 3, 5, 7],
      [4, 4, 4, 4],
      [9, 1, 6, 5],
      [6, 6, 6, 3],
    ];
    for (const shape of shapes) {
      for (const perm of permutations(shape.length)) {
        for (const dtype of ['float32', 'int32'] as const) {
          const v = seeded(size(shape), shape.length + perm[0]!).map((x) =>
            dtype === 'int32' ? Math.round(x * 1e6) : x,
          );
          const [cpu, wasm] = await onBoth(() => tf.transpose(tf.tensor(v, shape, dtype), perm));
          // strict deep equality tells -0 from 0 and NaN from numbers
          assert.deepEqual(
            Array.from(wasm[0]!),
            Array.from(cpu[0]!),
            `transpose [${shape}] by [${perm}] (${dtype})`,
          );
        }
      }
    }
    // NaN and -0 are moved as they are
    const special = new Float32Array([NaN, -0, Infinity, 1, -Infinity, 2, 3, 4]);
    await tf.setBackend('wasm');
    const t = tf.transpose(tf.tensor2d(special, [2, 4]));
    assert.deepEqual(Array.from(t.dataSync()), [NaN, -Infinity, -0, 2, Infinity, 3, 1, 4]);
    t.dispose();
  });

  it('conv2d, its dx (Conv2DBackpropInput) and its dW (Conv2DBackpropFilter)', async () => {
    const cases: { x: Shape4; k: number; co: number; s: number; pad: Pad }[] = [
      { x: [1, 7, 7, 1], k: 3, co: 4, s: 1, pad: 'same' },
      { x: [3, 7, 7, 3], k: 4, co: 5, s: 2, pad: 'same' },
      { x: [8, 5, 9, 3], k: 3, co: 16, s: 2, pad: 'valid' },
      { x: [3, 5, 9, 16], k: 5, co: 3, s: 2, pad: 'same' },
      { x: [1, 9, 7, 16], k: 5, co: 8, s: 1, pad: 'valid' },
      { x: [8, 8, 8, 1], k: 4, co: 16, s: 2, pad: 'valid' },
      { x: [8, 14, 14, 4], k: 4, co: 6, s: 2, pad: 'same' },
      { x: [3, 9, 5, 3], k: 3, co: 3, s: 3, pad: 'same' },
      { x: [1, 4, 4, 16], k: 5, co: 2, s: 1, pad: 'same' },
      { x: [1, 10, 10, 3], k: 5, co: 2, s: 2, pad: 1 },
      {
        x: [3, 6, 6, 2],
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
      {
        x: [3, 7, 7, 3],
        k: 4,
        co: 4,
        s: 2,
        pad: [
          [0, 0],
          [0, 3],
          [1, 1],
          [0, 0],
        ],
      },
    ];
    for (const c of cases) {
      const xv = seeded(size(c.x), 3);
      const fShape: Shape4 = [c.k, c.k, c.x[3], c.co];
      const fv = seeded(size(fShape), 4);
      const [cpu, wasm] = await onBoth(() => {
        const x = tf.tensor4d(xv, c.x);
        const f = tf.tensor4d(fv, fShape);
        const conv = (xx: tf.Tensor, ff: tf.Tensor): tf.Tensor4D =>
          tf.conv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, c.s, c.pad);
        // A non-uniform dy: the loss weighs each output differently.
        const loss = (xx: tf.Tensor, ff: tf.Tensor): tf.Scalar => tf.sum(tf.square(conv(xx, ff)));
        return [conv(x, f), ...tf.grads(loss)([x, f])];
      });
      assertAllClose(cpu, wasm, ['y', 'dx', 'dW'], `conv2d ${JSON.stringify(c)}`);
    }
  });

  it('the SIMD col2im of Conv2DBackpropInput gives the bits of its JavaScript loop', async () => {
    await tf.setBackend('wasm');
    const dy = tf.tensor4d(seeded(4 * 7 * 7 * 8, 5), [4, 7, 7, 8]);
    const f = tf.tensor4d(seeded(4 * 4 * 12 * 8, 6), [4, 4, 12, 8]);
    const run = (): Uint32Array =>
      new Uint32Array(
        tf.tidy(() => tf.conv2dTranspose(dy, f, [4, 14, 14, 12], 2, 'same')).dataSync().buffer,
      );
    const simd = run();
    useSimdKernels(false);
    let js: Uint32Array;
    try {
      js = run();
    } finally {
      useSimdKernels(true);
    }
    assert.deepEqual(simd, js);
    tf.dispose([dy, f]);
  });

  it('conv2dTranspose forward (Conv2DBackpropInput) and its gradients', async () => {
    const cases: { x: Shape4; k: number; out: Shape4; s: number; pad: Pad }[] = [
      { x: [2, 7, 7, 8], k: 4, out: [2, 14, 14, 4], s: 2, pad: 'same' },
      { x: [3, 4, 4, 16], k: 4, out: [3, 8, 8, 3], s: 2, pad: 'same' },
      { x: [8, 7, 7, 16], k: 4, out: [8, 14, 14, 1], s: 2, pad: 'same' },
      { x: [1, 7, 7, 1], k: 4, out: [1, 14, 14, 1], s: 2, pad: 'same' },
      { x: [1, 5, 5, 2], k: 3, out: [1, 5, 5, 2], s: 1, pad: 'same' },
      { x: [3, 4, 5, 3], k: 3, out: [3, 7, 9, 2], s: 2, pad: 'same' },
      { x: [8, 3, 5, 3], k: 3, out: [8, 7, 11, 1], s: 2, pad: 'valid' },
      { x: [3, 4, 4, 16], k: 5, out: [3, 8, 8, 16], s: 2, pad: 'same' },
      { x: [2, 6, 6, 3], k: 3, out: [2, 6, 6, 4], s: 1, pad: 1 },
      {
        x: [2, 5, 5, 6],
        k: 4,
        out: [2, 11, 10, 3],
        s: 2,
        pad: [
          [0, 0],
          [1, 0],
          [0, 2],
          [0, 0],
        ],
      },
    ];
    for (const c of cases) {
      const xv = seeded(size(c.x), 5);
      const fShape: Shape4 = [c.k, c.k, c.out[3], c.x[3]];
      const fv = seeded(size(fShape), 6);
      const [cpu, wasm] = await onBoth(() => {
        const x = tf.tensor4d(xv, c.x);
        const f = tf.tensor4d(fv, fShape);
        const fwd = (xx: tf.Tensor, ff: tf.Tensor): tf.Tensor4D =>
          tf.conv2dTranspose(xx as tf.Tensor4D, ff as tf.Tensor4D, c.out, c.s, c.pad);
        const loss = (xx: tf.Tensor, ff: tf.Tensor): tf.Scalar => tf.sum(tf.square(fwd(xx, ff)));
        return [fwd(x, f), ...tf.grads(loss)([x, f])];
      });
      assertAllClose(cpu, wasm, ['y', 'dx', 'dW'], `conv2dTranspose ${JSON.stringify(c)}`);
    }
  });

  it('sum and mean over leading, trailing, mixed and all axes, with and without keepDims', async () => {
    const cases: { shape: number[]; axis: number | number[] | undefined }[] = [
      { shape: [64, 7, 7, 16], axis: [0, 1, 2] }, // bias gradient, batch-norm moments
      { shape: [5, 3], axis: 0 },
      { shape: [4, 3, 6], axis: [1, 0] },
      { shape: [2, 3, 4, 5], axis: [0] },
      { shape: [2, 3, 1], axis: [0, 1] },
      { shape: [4, 3, 6], axis: -1 }, // trailing: the stock kernel
      { shape: [4, 3, 6], axis: [0, 2] }, // not a prefix: the stock kernel
      { shape: [4, 3, 6], axis: undefined }, // all axes
    ];
    for (const c of cases) {
      const xv = seeded(size(c.shape), 11);
      for (const keepDims of [false, true]) {
        const [cpu, wasm] = await onBoth(() => {
          const x = tf.tensor(xv, c.shape);
          return [tf.sum(x, c.axis, keepDims), tf.mean(x, c.axis, keepDims)];
        });
        assertAllClose(cpu, wasm, ['sum', 'mean'], `${JSON.stringify(c)} keepDims ${keepDims}`);
        const shapes = tf.tidy(() => {
          const x = tf.tensor(xv, c.shape);
          return [tf.sum(x, c.axis, keepDims).shape, tf.mean(x, c.axis, keepDims).shape];
        });
        await tf.setBackend('cpu');
        const cpuShapes = tf.tidy(() => {
          const x = tf.tensor(xv, c.shape);
          return [tf.sum(x, c.axis, keepDims).shape, tf.mean(x, c.axis, keepDims).shape];
        });
        await tf.setBackend('wasm');
        assert.deepEqual(shapes, cpuShapes, `${JSON.stringify(c)} keepDims ${keepDims}: shapes`);
      }
    }
    // integers keep the stock kernel (and their dtype)
    const ints = tf.sum(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), 0);
    assert.equal(ints.dtype, 'int32');
    assert.deepEqual(Array.from(ints.dataSync()), [4, 6]);
    ints.dispose();
  });

  it('Identity (tf.clone) aliases its input, which stays valid after either is disposed', () => {
    const before = tf.memory() as { numDataBuffers: number };
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.clone(x); // the Identity kernel
    assert.equal(y.dataId, x.dataId);
    x.dispose();
    assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3]);
    y.dispose();
    assert.equal((tf.memory() as { numDataBuffers: number }).numDataBuffers, before.numDataBuffers);
  });

  it('the fused Adam update follows the same steps as Adam in tfjs ops on cpu', async () => {
    const shapes = [[37, 5], [5], [3, 3, 2, 4]];
    const steps = 4;
    const config = { learningRate: 0.01, beta1: 0.5, beta2: 0.999 };
    const results: Float32Array[][] = [];
    for (const backend of ['cpu', 'wasm']) {
      await tf.setBackend(backend);
      assert.equal(tf.getKernel(ADAM_UPDATE, backend) !== undefined, backend === 'wasm');
      const vars = shapes.map((sh, i) => tf.variable(tf.tensor(seeded(size(sh), 20 + i), sh)));
      const adam = new Adam(vars, config);
      for (let t = 0; t < steps; t++) {
        const grads = shapes.map((sh, i) => tf.tensor(seeded(size(sh), 40 + 7 * t + i), sh));
        adam.apply(grads);
        tf.dispose(grads);
      }
      results.push([...vars.map((x) => x.dataSync() as Float32Array), adam.getState()]);
      adam.dispose();
      tf.dispose(vars);
    }
    assertAllClose(results[0]!, results[1]!, ['w0', 'w1', 'w2', 'state'], 'Adam');
    await tf.setBackend('wasm');
  });

  it('the parameter gradients of a small conv net (tf.variableGrads)', async () => {
    const input = seeded(3 * 9 * 9 * 3, 11);
    const [cpu, wasm] = await onBoth(() => {
      const v = (shape: number[], seed: number): tf.Variable =>
        tf.variable(tf.tensor(seeded(size(shape), seed), shape).mul(0.3));
      const w1 = v([3, 3, 3, 8], 12);
      const w2 = v([4, 4, 8, 16], 13);
      const w3 = v([4, 4, 4, 16], 14); // conv2dTranspose: [h, w, out, in]
      const w4 = v([10 * 10 * 4, 1], 15);
      const x = tf.tensor4d(input, [3, 9, 9, 3]);
      const { grads } = tf.variableGrads(() => {
        let h = tf.leakyRelu(tf.conv2d(x, w1 as tf.Tensor4D, 1, 'same'), 0.2); // [3, 9, 9, 8]
        h = tf.relu(tf.conv2d(h, w2 as tf.Tensor4D, 2, 'same')); // [3, 5, 5, 16]
        h = tf.tanh(tf.conv2dTranspose(h, w3 as tf.Tensor4D, [3, 10, 10, 4], 2, 'same'));
        const logits = tf.matMul(tf.reshape(h, [3, -1]) as tf.Tensor2D, w4 as tf.Tensor2D);
        return tf.mean(tf.softplus(logits)) as tf.Scalar;
      }, [w1, w2, w3, w4]);
      const out = [w1, w2, w3, w4].map((w) => grads[w.name]!);
      tf.dispose([w1, w2, w3, w4]);
      return out;
    });
    assertAllClose(cpu, wasm, ['w1', 'w2', 'w3', 'w4'], 'conv net');
  });

  it("the models' parameter gradients (MLP and DCGAN, discriminator and generator)", async () => {
    for (const arch of ['mlp', 'dcgan'] as ModelArch[]) {
      for (const role of ['discriminator', 'generator'] as const) {
        const spec = { arch, sampleShape: [28, 28, 1], latentDim: 16 };
        const input = role === 'discriminator' ? seeded(4 * 28 * 28, 7) : seeded(4 * 16, 8);
        const shape = role === 'discriminator' ? [4, 28, 28, 1] : [4, 16];
        const [cpu, wasm] = await onBoth(() => {
          const model = buildModel(role, spec, 42);
          const { grads } = tf.variableGrads(
            () => tf.sum(tf.square(model.apply(tf.tensor(input, shape)))) as tf.Scalar,
            model.params.vars as tf.Variable[],
          );
          const list = model.params.vars.map((v) => grads[v.name]!);
          model.dispose();
          return list;
        });
        // Relative to the model's largest gradient: a conv bias before batch norm has a gradient
        // that is zero in exact arithmetic, so both backends return rounding noise there.
        const scale = Math.max(...cpu.map((g) => g.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
        for (let i = 0; i < cpu.length; i++) {
          assertClose(cpu[i]!, wasm[i]!, `${arch} ${role} gradient ${i}`, scale);
        }
      }
    }
  });

  it('rejects attributes it does not support, with a clear error', () => {
    const x = tf.zeros([1, 5, 5, 2]);
    const dy = tf.zeros([1, 5, 5, 3]);
    const f = tf.zeros([3, 3, 2, 3]);
    const attrs = { strides: 1, pad: 'same', filterShape: [3, 3, 2, 3], inputShape: x.shape };
    assert.throws(
      () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, dilations: 2 }),
      /Conv2DBackpropFilter on wasm: dilations 2 are not supported/,
    );
    assert.throws(
      () =>
        tf.engine().runKernel(
          'Conv2DBackpropInput',
          { dy, filter: f },
          {
            ...attrs,
            dataFormat: 'NCHW',
          },
        ),
      /Conv2DBackpropInput on wasm: data format NCHW is not supported, only NHWC/,
    );
    const xi = tf.zeros([1, 5, 5, 2], 'int32');
    assert.throws(
      () => tf.engine().runKernel('Conv2DBackpropFilter', { x: xi, dy }, attrs),
      /float32 only, got int32/,
    );
    tf.dispose([x, dy, f, xi]);
  });

  it('leaks neither tensors nor wasm buffers', () => {
    const before = tf.memory() as { numTensors: number; numDataBuffers: number };
    const x = tf.tensor4d(seeded(2 * 7 * 7 * 3, 9), [2, 7, 7, 3]);
    const f = tf.tensor4d(seeded(4 * 4 * 3 * 5, 10), [4, 4, 3, 5]);
    for (let i = 0; i < 3; i++) {
      tf.dispose(
        tf.tidy(() =>
          tf.grads((a: tf.Tensor, b: tf.Tensor) => {
            const y = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same');
            return tf.sum(tf.conv2dTranspose(y, b as tf.Tensor4D, [2, 7, 7, 3], 2, 'same'));
          })([x, f]),
        ),
      );
      tf.dispose(tf.tidy(() => tf.matMul(tf.ones([7, 5]), tf.ones([3, 7]), true, true)));
    }
    tf.dispose([x, f]);
    const after = tf.memory() as { numTensors: number; numDataBuffers: number };
    assert.equal(after.numTensors, before.numTensors);
    // and no backend buffers behind the engine's back (the kernels' intermediates are freed)
    assert.equal(after.numDataBuffers, before.numDataBuffers);
  });

  it('unpatchWasmKernels restores the stock kernels, patchWasmKernels the project ones', () => {
    const x = tf.zeros([1, 4, 4, 1]) as tf.Tensor4D;
    const f = tf.zeros([3, 3, 1, 2]) as tf.Tensor4D;
    const grad = () =>
      tf.tidy(() =>
        tf.grad((ff: tf.Tensor) => tf.sum(tf.conv2d(x, ff as tf.Tensor4D, 1, 'same')))(f),
      );
    unpatchWasmKernels();
    try {
      assert.equal(wasmKernelsPatched(), false);
      assert.throws(grad, /Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'/);
      const m = tf.matMul(tf.ones([2, 3]), tf.ones([2, 3]), true, false);
      assert.deepEqual(Array.from(m.dataSync()), [2, 2, 2, 2, 2, 2, 2, 2, 2]);
      m.dispose();
    } finally {
      patchWasmKernels();
    }
    assert.equal(wasmKernelsPatched(), true);
    grad().dispose();
    tf.dispose([x, f]);
  });
});
