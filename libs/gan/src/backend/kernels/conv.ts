import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdKernels } from '../simd.js';
import { call, withTemps, crop, type Shape4 } from './common.js';

/* The gradients of conv2d: Conv2DBackpropFilter and Conv2DBackpropInput. (Registered by ../wasm-kernels.ts.) */

/** As computeConv2DInfo takes it (explicit: [[0, 0], [top, bottom], [left, right], [0, 0]]). */
type Pad = Parameters<typeof tf.backend_util.computeConv2DInfo>[4];

interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function convInfo(
  name: string,
  attrs: ConvAttrs,
  inputs: TensorInfo[],
  xShape: Shape4,
  filterShape: Shape4,
): tf.backend_util.Conv2DInfo {
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') {
    throw new Error(`${name} on wasm: data format ${attrs.dataFormat} is not supported, only NHWC`);
  }
  const d = attrs.dilations;
  if (d !== undefined && !(d === 1 || (Array.isArray(d) && d[0] === 1 && d[1] === 1))) {
    throw new Error(`${name} on wasm: dilations ${JSON.stringify(d)} are not supported, only 1`);
  }
  for (const t of inputs) {
    if (t.dtype !== 'float32') throw new Error(`${name} on wasm: float32 only, got ${t.dtype}`);
  }
  return tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
}

/** Patch size (kh·kw·Ci) up to which a filter gradient is computed by im2col. */
const SMALL_PATCH = 64;

/**
 * dW as one matMul, (dyᵀ·cols)ᵀ, with cols[(n, i, j), (a, b, ci)] = xpad[n, i·s + a, j·s + b, ci]
 * gathered from x (im2col) and dy viewed as [N·Ho·Wo, Co]. For small patches (a first layer on
 * one-channel images, or a conv-transpose producing them) the dilated-conv form below is bound by
 * XNNPACK packing its filter, dy itself ([64,28,28,1] by dy [64,14,14,64]: 7.1 ms, against 3.6
 * ms here for the same 26 MFLOP: 1.4 gathering, 0.4 transposing dy, 1.5 the product), while cols
 * stays small: N·Ho·Wo·kh·kw·Ci values.
 */
function filterGradientByIm2col(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  filterShape: Shape4,
): TensorInfo {
  const [kh, kw, ci, co] = filterShape;
  const [n, h, w] = x.shape as Shape4;
  const [, ho, wo] = dy.shape as Shape4;
  const { strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const patch = kh * kw * ci;
  return withTemps(backend, (keep) => {
    const cols = keep(backend.makeOutput([1, n * ho * wo, patch], 'float32'));
    // Views after the allocation, which may have grown (and so replaced) the heap.
    const src = backend.typedArrayFromHeap(x) as Float32Array;
    const dst = backend.typedArrayFromHeap(cols) as Float32Array;
    let o = 0;
    for (let img = 0; img < n; img++) {
      for (let i = 0; i < ho; i++) {
        for (let j = 0; j < wo; j++) {
          for (let p = 0; p < kh; p++) {
            const y = i * sh + p - top;
            const inside = y >= 0 && y < h;
            const row = (img * h + y) * w;
            for (let q = 0; q < kw; q++) {
              const xx = j * sw + q - left;
              const from = (row + xx) * ci;
              const ok = inside && xx >= 0 && xx < w;
              for (let c = 0; c < ci; c++) dst[o++] = ok ? src[from + c]! : 0;
            }
          }
        }
      }
    }
    // dWᵀ = dyᵀ·cols: cols, the smaller operand, is the one XNNPACK packs.
    const dy3 = keep(call('Reshape', backend, { x: dy }, { shape: [1, n * ho * wo, co] }));
    const dyT = keep(call('Transpose', backend, { x: dy3 }, { perm: [0, 2, 1] }));
    const dwT = keep(
      call('BatchMatMul', backend, { a: dyT, b: cols }, { transposeA: false, transposeB: false }),
    );
    const dw = keep(call('Transpose', backend, { x: dwT }, { perm: [0, 2, 1] }));
    return call('Reshape', backend, { x: dw }, { shape: filterShape });
  });
}

/**
 * Conv2DBackpropFilter, which the wasm backend lacks:
 * dW[a, b, ci, co] = Σ_{n,i,j} xpad[n, i·s + a, j·s + b, ci] · dy[n, i, j, co], that is one
 * conv2d of xpad with batch and channels swapped ([Ci, Hp, Wp, N]) by dy as the filter
 * ([Ho, Wo, N, Co]) at dilation s, stride 1, cropped to the filter size and transposed back.
 */
export const conv2dBackpropFilter: KernelFunc = ({ inputs, backend: b, attrs }) => {
  const backend = b as BackendWasm;
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as ConvAttrs & { filterShape: Shape4 };
  const info = convInfo('Conv2DBackpropFilter', a, [x, dy], x.shape as Shape4, a.filterShape);
  const { top, bottom, left, right } = info.padInfo;
  const [kh, kw, ci, co] = a.filterShape;
  if (kh * kw * ci <= SMALL_PATCH)
    return filterGradientByIm2col(backend, x, dy, info, a.filterShape);
  return withTemps(backend, (keep) => {
    const padded =
      top || bottom || left || right
        ? keep(
            call(
              'PadV2',
              backend,
              { x },
              {
                paddings: [
                  [0, 0],
                  [top, bottom],
                  [left, right],
                  [0, 0],
                ],
                constantValue: 0,
              },
            ),
          )
        : x;
    const xT = keep(call('Transpose', backend, { x: padded }, { perm: [3, 1, 2, 0] })); // [Ci, Hp, Wp, N]
    const dyT = keep(call('Transpose', backend, { x: dy }, { perm: [1, 2, 0, 3] })); // [Ho, Wo, N, Co]
    const full = keep(
      call(
        'Conv2D',
        backend,
        { x: xT, filter: dyT },
        {
          strides: [1, 1],
          pad: 'valid',
          dataFormat: 'NHWC',
          dilations: [info.strideHeight, info.strideWidth],
        },
      ),
    ); // [Ci, ≥kh, ≥kw, Co]: rows and columns that 'valid' padding never reaches come last
    const cropped =
      full.shape[1] === kh && full.shape[2] === kw
        ? full
        : keep(crop(backend, full, [0, 0, 0, 0], [ci, kh, kw, co]));
    return call('Transpose', backend, { x: cropped }, { perm: [1, 2, 0, 3] });
  });
};

/**
 * Conv2DBackpropInput (dx of conv2d, and the forward pass of conv2dTranspose) as a matMul and a
 * scatter (col2im): every dy pixel's contribution to its kh×kw window of dx is one row of
 * cols = dy[N·Ho·Wo, Co] · W[kh·kw·Ci, Co]ᵀ, an XNNPACK matMul with exactly the FLOPs of the
 * forward conv (none spent on inserted zeros, padding or phases), and each row is added into dx
 * where its window lies inside, in one pass over cols in the heap.
 *
 * Measured on the DCGAN's layers (batch 64, 2-core x86, single-threaded SIMD wasm, ms), for
 * dy [64,7,7,128] → dx [64,14,14,64]: stock kernel 225, a zero-inserted conv 113, the phase
 * (sub-pixel) form, one conv with the stride phases as output channels then an interleave, 47;
 * this 35 (28 of them the matMul). For dy [64,14,14,64] → dx [64,28,28,1]: stock 7.9,
 * zero-inserted 28.8, phase form 2.65, this 2.5.
 */
export const conv2dBackpropInput: KernelFunc = ({ inputs, backend: b, attrs }) => {
  const backend = b as BackendWasm;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as unknown as ConvAttrs & { inputShape: Shape4 };
  const [kh, kw, ci, co] = filter.shape as Shape4;
  const info = convInfo('Conv2DBackpropInput', a, [dy, filter], a.inputShape, [kh, kw, ci, co]);
  const [n, ho, wo] = dy.shape as Shape4;
  const [, h, w] = a.inputShape;
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  return withTemps(backend, (keep) => {
    const dy3 = keep(call('Reshape', backend, { x: dy }, { shape: [1, n * ho * wo, co] }));
    const f3 = keep(call('Reshape', backend, { x: filter }, { shape: [1, kh * kw * ci, co] }));
    const cols = keep(
      call('BatchMatMul', backend, { a: dy3, b: f3 }, { transposeA: false, transposeB: true }),
    ); // [1, N·Ho·Wo, kh·kw·Ci]
    const out = backend.makeOutput([n, h, w, ci], 'float32');
    // Views after the allocation, which may have grown (and so replaced) the heap.
    const dst = backend.typedArrayFromHeap(out) as Float32Array;
    dst.fill(0);
    const simd = ci % 4 === 0 ? simdKernels(backend) : null;
    if (simd) {
      const at = (t: TensorInfo): number => backend.getMemoryOffset(t.dataId);
      simd.col2im(at(cols), at(out), n, ho, wo, h, w, kh, kw, ci, sh, sw, top, left);
      return out;
    }
    const src = backend.typedArrayFromHeap(cols) as Float32Array;
    const rowLen = kh * kw * ci;
    for (let img = 0; img < n; img++) {
      for (let i = 0; i < ho; i++) {
        for (let j = 0; j < wo; j++) {
          const row = ((img * ho + i) * wo + j) * rowLen;
          for (let p = 0; p < kh; p++) {
            const y = i * sh + p - top;
            if (y < 0 || y >= h) continue;
            for (let q = 0; q < kw; q++) {
              const x = j * sw + q - left;
              if (x < 0 || x >= w) continue;
              const d = ((img * h + y) * w + x) * ci;
              const c0 = row + (p * kw + q) * ci;
              for (let c = 0; c < ci; c++) dst[d + c]! += src[c0 + c]!;
            }
          }
        }
      }
    }
    return out;
  });
};
