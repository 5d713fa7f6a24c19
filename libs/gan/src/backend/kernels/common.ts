import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/* Helpers of the project's wasm kernels (see ../wasm-kernels.ts). */

export const WASM = 'wasm';
export type Shape4 = [number, number, number, number];
export type Keep = <T extends TensorInfo>(t: T) => T;

export function kernel(name: string): KernelFunc {
  const k = tf.getKernel(name, WASM);
  if (!k) throw new Error(`the wasm backend has no ${name} kernel to build on`);
  return k.kernelFunc;
}

/** Calls another wasm kernel directly; the result must be freed (or returned). */
export function call(
  name: string,
  backend: BackendWasm,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap = {},
): TensorInfo {
  return kernel(name)({ inputs, backend, attrs }) as TensorInfo;
}

/**
 * Runs `fn` with a `keep` that marks intermediates, freed when `fn` returns or throws.
 * Freeing is by reference count, so aliases made by Reshape or a no-op Transpose are safe.
 */
export function withTemps(backend: BackendWasm, fn: (keep: Keep) => TensorInfo): TensorInfo {
  const temps: TensorInfo[] = [];
  try {
    return fn((t) => (temps.push(t), t));
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

/** x[begin : begin + size] of an NHWC float32 tensor whose channels are kept whole. */
export function crop(backend: BackendWasm, x: TensorInfo, begin: Shape4, size: Shape4): TensorInfo {
  const [, h, w, c] = x.shape as Shape4;
  if (begin[3] !== 0 || size[3] !== c || x.dtype !== 'float32') {
    throw new Error('crop: float32 tensors, whole channels only');
  }
  const out = backend.makeOutput(size, 'float32');
  // Views are taken after the allocation, which may have grown (and so replaced) the heap.
  const src = backend.typedArrayFromHeap(x) as Float32Array;
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  const heap = new Float32Array(src.buffer);
  const s0 = src.byteOffset / 4;
  const run = size[2] * c; // one (image, row) of the result is one contiguous run
  let o = dst.byteOffset / 4;
  for (let n = begin[0]; n < begin[0] + size[0]; n++) {
    for (let i = begin[1]; i < begin[1] + size[1]; i++) {
      const from = s0 + ((n * h + i) * w + begin[2]) * c;
      heap.copyWithin(o, from, from + run);
      o += run;
    }
  }
  return out;
}

export function swapLast(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return perm;
}

export const sizeOf = (t: TensorInfo): number => t.shape.reduce((x, y) => x * y, 1);

/** t with its last two axes swapped; the result must be freed (or returned). */
export const swapT = (backend: BackendWasm, t: TensorInfo): TensorInfo =>
  call('Transpose', backend, { x: t }, { perm: swapLast(t.shape.length) });
