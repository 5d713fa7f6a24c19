import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdKernels, type SimdKernels } from '../simd.js';
import { sizeOf } from './common.js';

/* Tanh, LeakyRelu and LeakyRelu's gradient in SIMD. (Registered by ../wasm-kernels.ts.) */

/**
 * A unary float32 op in SIMD on the backend's heap (see simd.wat) when its size is a multiple of
 * 4, else the stock kernel: the stock Tanh and LeakyRelu are scalar loops (Tanh on [64,784]:
 * 0.8 ms).
 */
function simdUnary(
  original: KernelFunc,
  run: (simd: SimdKernels, x: number, y: number, n: number, attrs: NamedAttrMap) => void,
): KernelFunc {
  return ({ inputs, backend: b, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const backend = b as BackendWasm;
    const n = sizeOf(x);
    const simd = x.dtype === 'float32' && n % 4 === 0 ? simdKernels(backend) : null;
    if (!simd) return original({ inputs, backend, attrs });
    const out = backend.makeOutput(x.shape, 'float32');
    run(
      simd,
      backend.getMemoryOffset(x.dataId),
      backend.getMemoryOffset(out.dataId),
      n,
      attrs ?? {},
    );
    return out;
  };
}

export const tanh = (original: KernelFunc): KernelFunc =>
  simdUnary(original, (simd, x, y, n) => simd.tanh(x, y, n));

export const leakyRelu = (original: KernelFunc): KernelFunc =>
  simdUnary(original, (simd, x, y, n, attrs) => simd.leaky_relu(x, y, n, attrs['alpha'] as number));

/** The name of the fused LeakyRelu gradient kernel (wasm only; the gradient falls back elsewhere). */
export const LEAKY_RELU_GRAD = 'DistganLeakyReluGrad';

/**
 * dx = x > 0 ? dy : alpha·dy in one pass, inputs {x, dy}, attrs {alpha}. The stock gradient is
 * Greater, Multiply and Select: three kernels, three passes and a boolean mask.
 */
export const leakyReluGrad: KernelFunc = ({ inputs, backend: b, attrs }) => {
  const backend = b as BackendWasm;
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const alpha = (attrs as { alpha: number }).alpha;
  if (x.dtype !== 'float32' || dy.dtype !== 'float32' || sizeOf(x) !== sizeOf(dy)) {
    throw new Error(
      `${LEAKY_RELU_GRAD}: float32 x and dy of one size, got [${x.shape}] and [${dy.shape}]`,
    );
  }
  const out = backend.makeOutput(x.shape, 'float32');
  const n = sizeOf(x);
  const simd = n % 4 === 0 ? simdKernels(backend) : null;
  if (simd) {
    simd.leaky_relu_grad(
      backend.getMemoryOffset(x.dataId),
      backend.getMemoryOffset(dy.dataId),
      backend.getMemoryOffset(out.dataId),
      n,
      alpha,
    );
    return out;
  }
  const xs = backend.typedArrayFromHeap(x) as Float32Array;
  const ds = backend.typedArrayFromHeap(dy) as Float32Array;
  const dx = backend.typedArrayFromHeap(out) as Float32Array;
  for (let i = 0; i < n; i++) dx[i] = xs[i]! > 0 ? ds[i]! : alpha * ds[i]!;
  return out;
};

/** LeakyRelu's gradient through the fused kernel where the backend has it. */
export const leakyReluGradConfig: tf.GradConfig = {
  kernelName: 'LeakyRelu',
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved as [tf.Tensor];
    const { alpha } = attrs as { alpha: number };
    const single = dy as tf.Tensor;
    if (tf.getKernel(LEAKY_RELU_GRAD, tf.getBackend())) {
      return {
        x: () => tf.engine().runKernel(LEAKY_RELU_GRAD, { x, dy: single }, { alpha }) as tf.Tensor,
      };
    }
    return { x: () => tf.where(tf.greater(x, 0), single, tf.mul(single, alpha)) };
  },
};
