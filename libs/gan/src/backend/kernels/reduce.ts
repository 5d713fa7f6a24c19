import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdKernels } from '../simd.js';
import { sizeOf } from './common.js';

/* Sum and Mean over leading axes; Identity as an alias. (Registered by ../wasm-kernels.ts.) */

/**
 * Sum and Mean over leading axes (per-channel sums of NHWC activations: every conv bias
 * gradient, batch-norm moments and their gradients). The stock kernels first transpose the
 * reduced axes to the end, then reduce, which runs at about 0.13 G values/s (6 ms for one
 * [64,14,14,64] sum); as a matMul of a row of ones (or of 1/P for a mean) by x viewed as [P, C]
 * it is one pass over x in XNNPACK. Other reductions (trailing axes, all axes, integers) go to
 * the stock kernel, which needs no transpose for them.
 */
export function leadingAxesReduction(original: KernelFunc, mean: boolean): KernelFunc {
  return ({ inputs, backend: b, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const { axis, keepDims } = attrs as { axis: number | number[]; keepDims: boolean };
    const rank = x.shape.length;
    const axes = [...tf.util.parseAxisParam(axis, x.shape)].sort((p, q) => p - q);
    const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
    if (!leading || x.dtype !== 'float32') return original({ inputs, backend: b, attrs });
    const backend = b as BackendWasm;
    const p = x.shape.slice(0, axes.length).reduce((u, v) => u * v, 1);
    const c = sizeOf(x) / p;
    const outShape = keepDims
      ? x.shape.map((d, i) => (i < axes.length ? 1 : d))
      : x.shape.slice(axes.length);
    const out = backend.makeOutput(outShape, 'float32');
    const simd = c % 16 === 0 ? simdKernels(backend) : null;
    if (simd) {
      simd.sum_cols(
        backend.getMemoryOffset(x.dataId),
        backend.getMemoryOffset(out.dataId),
        p,
        c,
        mean ? 1 / p : 1,
      );
      return out;
    }
    // Views after the allocation, which may have grown (and so replaced) the heap.
    const src = backend.typedArrayFromHeap(x) as Float32Array;
    const dst = backend.typedArrayFromHeap(out) as Float32Array;
    const acc = new Float64Array(c);
    let i = 0;
    // Four rows a pass: a quarter of the accumulator traffic (2.4× faster than row by row).
    for (; i + 3 < p; i += 4) {
      const r0 = i * c;
      const r1 = r0 + c;
      const r2 = r1 + c;
      const r3 = r2 + c;
      for (let j = 0; j < c; j++)
        acc[j]! += src[r0 + j]! + src[r1 + j]! + (src[r2 + j]! + src[r3 + j]!);
    }
    for (; i < p; i++) {
      const row = i * c;
      for (let j = 0; j < c; j++) acc[j]! += src[row + j]!;
    }
    const scale = mean ? 1 / p : 1;
    for (let j = 0; j < c; j++) dst[j] = acc[j]! * scale;
    return out;
  };
}

/**
 * Identity as an alias of its input (as Reshape and the cpu backend do it): the stock kernel
 * copies, and gradients pass many tensors through Identity (0.4 ms per [64,14,14,64]).
 * Safe because kernels never write into their inputs and the wasm backend counts references.
 */
export function identity(original: KernelFunc): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    if (x.dtype === 'string') return original({ inputs, backend, attrs });
    (backend as BackendWasm).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}
