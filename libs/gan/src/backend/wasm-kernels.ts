import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';

/*
 * Kernels registered on the wasm backend at start-up, so that training on wasm is possible
 * (the DCGAN needs Conv2DBackpropFilter, which tfjs-backend-wasm lacks) and fast (its
 * transposed-operand matMul and its Conv2DBackpropInput are naive loops, its leading-axes Sum
 * and Mean transpose first, its Identity copies). Each is written in
 * terms of the backend's own fast kernels (XNNPACK matMul and conv2d, transpose, pad, reverse),
 * called at the TensorInfo level; intermediates are freed before returning.
 *
 * The wasm Slice kernel is avoided on large tensors: it copies its whole input out of the wasm
 * heap into a fresh ArrayBuffer first (15–25 ms for 4 MB). `crop` copies within the heap.
 *
 * The kernels live in ./kernels/, a module a family (matmul, transpose, conv, reduce, elementwise,
 * adam, and their common helpers); this module registers and restores them.
 */
import { WASM, kernel } from './kernels/common.js';
import { batchMatMul } from './kernels/matmul.js';
import { transpose } from './kernels/transpose.js';
import { conv2dBackpropFilter, conv2dBackpropInput } from './kernels/conv.js';
import { identity, leadingAxesReduction } from './kernels/reduce.js';
import {
  LEAKY_RELU_GRAD,
  leakyRelu,
  leakyReluGrad,
  leakyReluGradConfig,
  tanh,
} from './kernels/elementwise.js';
import { ADAM_UPDATE, adamUpdate } from './kernels/adam.js';

export { batchMatMul } from './kernels/matmul.js';
export { canonicalPerm, transpose } from './kernels/transpose.js';
export { conv2dBackpropFilter, conv2dBackpropInput } from './kernels/conv.js';
export { identity, leadingAxesReduction } from './kernels/reduce.js';
export { LEAKY_RELU_GRAD, leakyRelu, leakyReluGrad, tanh } from './kernels/elementwise.js';
export { ADAM_UPDATE, adamUpdate } from './kernels/adam.js';

/** The replaced kernels' configs, while the project's kernels are registered. */
const originals = new Map<string, KernelConfig | undefined>();

/**
 * Registers the kernels above on the wasm backend (idempotent). Called by `initBackend` when it
 * chooses wasm; exported for tests and benchmarks. May run before or after the backend starts.
 */
export function patchWasmKernels(): void {
  if (originals.size > 0) return;
  const replace = (name: string, kernelFunc: KernelFunc): void => {
    const original = tf.getKernel(name, WASM);
    originals.set(name, original);
    if (original) tf.unregisterKernel(name, WASM);
    // The original's setupFunc binds its wasm function when the backend starts: keep it, so that
    // the original still works if it is restored after a start with this config registered.
    tf.registerKernel({
      kernelName: name,
      backendName: WASM,
      kernelFunc,
      setupFunc: original?.setupFunc,
      disposeFunc: original?.disposeFunc,
    });
  };
  replace('BatchMatMul', batchMatMul(kernel('BatchMatMul')));
  replace('Conv2DBackpropFilter', conv2dBackpropFilter);
  replace('Conv2DBackpropInput', conv2dBackpropInput);
  replace('Sum', leadingAxesReduction(kernel('Sum'), false));
  replace('Mean', leadingAxesReduction(kernel('Mean'), true));
  replace('Identity', identity(kernel('Identity')));
  replace('Transpose', transpose(kernel('Transpose')));
  replace(ADAM_UPDATE, adamUpdate);
  replace('Tanh', tanh(kernel('Tanh')));
  replace('LeakyRelu', leakyRelu(kernel('LeakyRelu')));
  replace(LEAKY_RELU_GRAD, leakyReluGrad);
  originalLeakyReluGrad = tf.getGradient('LeakyRelu');
  tf.registerGradient(leakyReluGradConfig);
}

/** LeakyRelu's gradient as registered before `patchWasmKernels`. */
let originalLeakyReluGrad: tf.GradConfig | undefined;

/** Restores the wasm backend's own kernels (benchmarks compare both). */
export function unpatchWasmKernels(): void {
  for (const [name, original] of originals) {
    tf.unregisterKernel(name, WASM);
    if (original) tf.registerKernel(original);
  }
  originals.clear();
  if (originalLeakyReluGrad) tf.registerGradient(originalLeakyReluGrad);
  originalLeakyReluGrad = undefined;
}

export function wasmKernelsPatched(): boolean {
  return originals.size > 0;
}
