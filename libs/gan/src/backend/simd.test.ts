import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import wabtInit from 'wabt';
import '../gradients.js';
import { initBackend } from './select.js';
import { SIMD_WASM_BASE64 } from './simd-binary.js';
import { simdKernels } from './simd.js';
import { LEAKY_RELU_GRAD, patchWasmKernels, unpatchWasmKernels } from './wasm-kernels.js';

/** Values spread over [-span, span) with the edge cases every kernel must carry through. */
function inputs(n: number, span: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = ((i * 7919) % n) / n;
  for (let i = 0; i < n; i++) v[i] = (v[i]! * 2 - 1) * span;
  const special = [0, -0, NaN, Infinity, -Infinity, 1e-30, -1e-30, 1e-3, -1e-3, 7.9, -7.9, 9, -9];
  special.forEach((s, i) => (v[i] = s));
  return v;
}

async function run(backend: string, fn: () => tf.Tensor): Promise<Float32Array> {
  const before = tf.getBackend();
  await tf.setBackend(backend);
  try {
    const t = tf.tidy(fn);
    const v = t.dataSync() as Float32Array;
    t.dispose();
    return v;
  } finally {
    await tf.setBackend(before);
  }
}

function assertSame(got: Float32Array, want: Float32Array, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: lengths`);
  for (let i = 0; i < want.length; i++) {
    const [g, w] = [got[i]!, want[i]!];
    if (g === w) continue;
    if (Number.isNaN(w)) {
      assert.ok(Number.isNaN(g), `${what}[${i}]: NaN expected, got ${g}`);
    } else if (!(Math.abs(g - w) <= tol)) {
      assert.fail(`${what}[${i}] = ${g}, expected ${w} (±${tol})`);
    }
  }
}

describe('the SIMD kernels on the wasm heap', () => {
  before(async () => {
    await initBackend({ forced: 'wasm' });
    await tf.setBackend('cpu');
    await tf.setBackend('wasm');
  });

  it('simd-binary.ts is the assembly of simd.wat (run `npm run assemble:simd` after editing)', async () => {
    const wabt = await wabtInit();
    const wat = readFileSync(new URL('./simd.wat', import.meta.url), 'utf8');
    const module = wabt.parseWat('simd.wat', wat, { simd: true });
    module.validate();
    const { buffer } = module.toBinary({});
    module.destroy();
    assert.equal(Buffer.from(buffer).toString('base64'), SIMD_WASM_BASE64);
  });

  it('are instantiated on the backend heap here, so training uses them', () => {
    assert.ok(simdKernels(tf.backend() as BackendWasm), 'no SIMD kernels on this wasm backend');
  });

  it('tanh is within 4e-7 of Math.tanh from -12 to 12, saturates, and carries NaN', async () => {
    for (const n of [4096, 4099]) {
      // 4099: not a multiple of 4, so the stock kernel
      const x = inputs(n, 12);
      const got = await run('wasm', () => tf.tanh(tf.tensor1d(x)));
      const want = Float32Array.from(x, (v) => Math.tanh(v));
      assertSame(got, want, 4e-7, `tanh n=${n}`); // measured: 3.5e-7 (6 ulp of 1) at worst
      assert.equal(got[3], 1);
      assert.equal(got[4], -1);
    }
  });

  it('leakyRelu and its gradient agree with the cpu backend, NaN and ±0 included', async () => {
    for (const n of [1024, 1023]) {
      const x = inputs(n, 3);
      const dy = inputs(n, 1).reverse();
      for (const alpha of [0.2, 0.01]) {
        const fwd = () => tf.leakyRelu(tf.tensor1d(x), alpha);
        const grad = () =>
          tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.leakyRelu(t, alpha), tf.tensor1d(dy))))(
            tf.tensor1d(x),
          );
        // alpha is a float32 here, a double on cpu: one rounding apart
        assertSame(
          await run('wasm', fwd),
          await run('cpu', fwd),
          4e-7,
          `leakyRelu(${alpha}) n=${n}`,
        );
        assertSame(
          await run('wasm', grad),
          await run('cpu', grad),
          4e-7,
          `leakyRelu'(${alpha}) n=${n}`,
        );
      }
    }
  });

  it('sums of 16-column blocks over many rows keep float64 accuracy', async () => {
    // 1e4 rows of a large value and many small ones: a float32 running sum would lose the small
    const rows = 10_000;
    const cols = 48;
    const x = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) x[r * cols + c] = r === 0 ? 1e4 : 1e-3 * (c + 1);
    }
    const got = await run('wasm', () => tf.sum(tf.tensor2d(x, [rows, cols]), 0));
    const mean = await run('wasm', () => tf.mean(tf.tensor3d(x, [100, 100, cols]), [0, 1]));
    for (let c = 0; c < cols; c++) {
      const want = 1e4 + (rows - 1) * 1e-3 * (c + 1);
      assert.ok(Math.abs(got[c]! - want) <= 1e-3, `sum[${c}] = ${got[c]}, expected ${want}`);
      assert.ok(Math.abs(mean[c]! - want / rows) <= 1e-7, `mean[${c}] = ${mean[c]}`);
    }
  });

  it('unpatching restores the stock LeakyRelu gradient, patching the fused one', () => {
    const x = tf.tensor1d([-1, 2, -3, 4]);
    const dx = () => tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.leakyRelu(t, 0.5)))(x));
    unpatchWasmKernels();
    try {
      assert.equal(tf.getKernel(LEAKY_RELU_GRAD, 'wasm'), undefined);
      const g = dx();
      assert.deepEqual(Array.from(g.dataSync()), [0.5, 1, 0.5, 1]);
      g.dispose();
    } finally {
      patchWasmKernels();
    }
    assert.ok(tf.getKernel(LEAKY_RELU_GRAD, 'wasm'));
    const g = dx();
    assert.deepEqual(Array.from(g.dataSync()), [0.5, 1, 0.5, 1]);
    g.dispose();
    x.dispose();
  });
});
