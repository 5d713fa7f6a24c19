import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdKernels, type SimdKernels } from './simd.js';

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
 */

const WASM = 'wasm';
type Shape4 = [number, number, number, number];
type Keep = <T extends TensorInfo>(t: T) => T;

/** The replaced kernels' configs, while the project's kernels are registered. */
const originals = new Map<string, KernelConfig | undefined>();

function kernel(name: string): KernelFunc {
  const k = tf.getKernel(name, WASM);
  if (!k) throw new Error(`the wasm backend has no ${name} kernel to build on`);
  return k.kernelFunc;
}

/** Calls another wasm kernel directly; the result must be freed (or returned). */
function call(
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
function withTemps(backend: BackendWasm, fn: (keep: Keep) => TensorInfo): TensorInfo {
  const temps: TensorInfo[] = [];
  try {
    return fn((t) => (temps.push(t), t));
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

/** x[begin : begin + size] of an NHWC float32 tensor whose channels are kept whole. */
function crop(backend: BackendWasm, x: TensorInfo, begin: Shape4, size: Shape4): TensorInfo {
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

function swapLast(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return perm;
}

const sizeOf = (t: TensorInfo): number => t.shape.reduce((x, y) => x * y, 1);

/** t with its last two axes swapped; the result must be freed (or returned). */
const swapT = (backend: BackendWasm, t: TensorInfo): TensorInfo =>
  call('Transpose', backend, { x: t }, { perm: swapLast(t.shape.length) });

/** How many times each weights operand (B of a plain matMul) has been seen, by its data. */
const plainUses = new WeakMap<object, number>();

/**
 * Whether A·B had better run as (Bᵀ·Aᵀ)ᵀ. XNNPACK packs B, the weights operand, into its own
 * layout when it first meets B's data and keeps the packed copy while that data lives; packing
 * costs about as much as the multiplication itself ([64,512]·[512,784]: 1.5 ms, the product
 * 1.5 ms). Weights that an optimizer has just replaced are met once or twice before they are
 * replaced again (the generator's in its step, the discriminator's on real and fake samples), so
 * for their first two uses the three SIMD transposes of the other form, which packs only the small
 * Aᵀ, are cheaper (2.3 against 3.4 ms); from the third use on, packing once pays. Both forms
 * give the same bits. Only for single (unbatched) products whose B outweighs A and the result.
 */
function skipPacking(a: TensorInfo, b: TensorInfo): boolean {
  const single = (t: TensorInfo): boolean => t.shape.slice(0, -2).every((d) => d === 1);
  const m = a.shape[a.shape.length - 2]!;
  const n = b.shape[b.shape.length - 1]!;
  if (a.dtype !== 'float32' || !single(a) || !single(b)) return false;
  if (sizeOf(b) < 65_536 || sizeOf(b) <= sizeOf(a) + m * n) return false;
  const uses = plainUses.get(b.dataId) ?? 0;
  plainUses.set(b.dataId, uses + 1);
  return uses < 2;
}

/**
 * BatchMatMul: with a transposed operand the stock kernel is 3–20× slower than an explicit
 * transpose followed by a plain (XNNPACK) matMul, which is what this does (measured on the MLP's
 * shapes: [64,784]ᵀ×[64,512] 38 → 1.8 ms, [64,512]×[784,512]ᵀ 22 → 3.3 ms). When only B is
 * transposed and B is the larger operand (a backward pass: activations' gradient times a weight
 * matrix), A·Bᵀ is computed as (B·Aᵀ)ᵀ, which transposes the two small operands instead of the
 * weights ([64,784]×[512,784]ᵀ: 4.8 → 2.6 ms).
 */
export function batchMatMul(original: KernelFunc): KernelFunc {
  return ({ inputs, backend: b, attrs }) => {
    const { a, b: bm } = inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    const backend = b as BackendWasm;
    const plain = { ...attrs, transposeA: false, transposeB: false };
    /** (p·q)ᵀ, with p and q made by `operands` among the temporaries. */
    const transposedProduct = (operands: (keep: Keep) => [TensorInfo, TensorInfo]): TensorInfo =>
      withTemps(backend, (keep) => {
        const [p, q] = operands(keep);
        const inner = keep(
          original({ inputs: { a: p, b: q }, backend, attrs: plain }) as TensorInfo,
        );
        return swapT(backend, inner);
      });
    if (!transposeA && !transposeB) {
      if (!skipPacking(a, bm)) return original({ inputs, backend: b, attrs });
      // A·B = (Bᵀ·Aᵀ)ᵀ: B becomes the operand that is read as it is, Aᵀ the one packed.
      return transposedProduct((keep) => [keep(swapT(backend, bm)), keep(swapT(backend, a))]);
    }
    if (transposeB && !transposeA && sizeOf(bm) > sizeOf(a)) {
      return transposedProduct((keep) => [bm, keep(swapT(backend, a))]);
    }
    return withTemps(backend, (keep) => {
      const at = transposeA ? keep(swapT(backend, a)) : a;
      const bt = transposeB ? keep(swapT(backend, bm)) : bm;
      return original({ inputs: { a: at, b: bt }, backend, attrs: plain }) as TensorInfo;
    });
  };
}

/**
 * A transpose reduced to its essentials: axes of size 1 dropped and input axes that stay
 * neighbours in the output merged into one. `shape` is in input order, `perm` as tfjs's.
 */
export function canonicalPerm(
  shape: readonly number[],
  perm: readonly number[],
): { shape: number[]; perm: number[] } {
  const compact = new Map<number, number>(); // input axis → index among the axes of size > 1
  shape.forEach((d, i) => d !== 1 && compact.set(i, compact.size));
  const order = perm.filter((p) => shape[p] !== 1).map((p) => compact.get(p)!);
  const dims = shape.filter((d) => d !== 1);
  const groups: number[][] = []; // runs of consecutive input axes, in output order
  for (const a of order) {
    const last = groups[groups.length - 1];
    if (last && last[last.length - 1] === a - 1) last.push(a);
    else groups.push([a]);
  }
  const byInput = [...groups].sort((g, h) => g[0]! - h[0]!);
  return {
    shape: byInput.map((g) => g.reduce((n, a) => n * dims[a]!, 1)),
    perm: groups.map((g) => byInput.indexOf(g)),
  };
}

/**
 * Transpose of 4-byte elements in SIMD (see simd.wat): the stock kernel walks the output one
 * element at a time with a division per axis, 0.14–0.25 G elements/s, which made transposes a
 * tenth of a DCGAN discriminator step ([64,16,16,64] by [3,1,2,0]: 7.4 ms). The perm is reduced
 * to its merged axes; when the last axis moves, each 2D slice (the input axis that becomes the
 * output's last, by the input's last) is one `transpose` call; when it stays, its runs are moved
 * whole by `transpose_runs`. Other dtypes, and the no-op perms, go to the stock kernel.
 */
export function transpose(original: KernelFunc): KernelFunc {
  return ({ inputs, backend: b, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const backend = b as BackendWasm;
    const { perm: rawPerm } = attrs as { perm: number[] };
    const { shape: s, perm: p } = canonicalPerm(x.shape, rawPerm);
    const k = s.length;
    const simd =
      (x.dtype === 'float32' || x.dtype === 'int32') && k >= 2 ? simdKernels(backend) : null;
    if (!simd) return original({ inputs, backend: b, attrs });
    const out = backend.makeOutput(
      rawPerm.map((a) => x.shape[a]!),
      x.dtype,
    );
    const inStride = new Array<number>(k);
    const outStride = new Array<number>(k); // by input axis
    for (let i = k - 1, acc = 1; i >= 0; i--) {
      inStride[i] = acc;
      acc *= s[i]!;
    }
    for (let j = k - 1, acc = 1; j >= 0; j--) {
      outStride[p[j]!] = acc;
      acc *= s[p[j]!]!;
    }
    const lastKept = p[k - 1] === k - 1;
    // The 2D slice: axis `r` (rows of the source) by axis `c` (contiguous in the source).
    const r = lastKept ? p[k - 2]! : p[k - 1]!;
    const c = lastKept ? k - 2 : k - 1;
    const run = lastKept ? s[k - 1]! : 1;
    const outer = [...Array(k).keys()].filter(
      (a) => a !== r && a !== c && (!lastKept || a < k - 1),
    );
    const idx = new Array<number>(outer.length).fill(0);
    let src = backend.getMemoryOffset(x.dataId);
    let dst = backend.getMemoryOffset(out.dataId);
    for (;;) {
      if (lastKept) {
        simd.transpose_runs(src, dst, s[r]!, s[c]!, run, inStride[r]!, outStride[c]!);
      } else {
        simd.transpose(src, dst, s[r]!, s[c]!, inStride[r]!, outStride[c]!);
      }
      // Odometer over the other axes, last fastest; offsets in bytes.
      let i = outer.length - 1;
      for (; i >= 0; i--) {
        const a = outer[i]!;
        if (++idx[i]! < s[a]!) {
          src += 4 * inStride[a]!;
          dst += 4 * outStride[a]!;
          break;
        }
        src -= 4 * inStride[a]! * (s[a]! - 1);
        dst -= 4 * outStride[a]! * (s[a]! - 1);
        idx[i] = 0;
      }
      if (i < 0) break;
    }
    return out;
  };
}

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
const leakyReluGradConfig: tf.GradConfig = {
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

/** The name of the fused Adam kernel (registered on wasm only; `Adam` falls back elsewhere). */
export const ADAM_UPDATE = 'DistganAdamUpdate';

/**
 * One Adam step for one variable in a single pass: inputs {w, m, v, g}, attrs {beta1, beta2,
 * stepSize, epsilon} (stepSize already bias-corrected), outputs [w', m', v'] as new buffers
 * (inputs are never written, so aliases of them stay intact). As separate tfjs ops the same
 * update is ten kernel calls and ten passes over memory (about 14 ms for the MLP generator's
 * 400,000-weight layer, against 0.7 ms here in SIMD and 3 ms in the JavaScript loop).
 */
export const adamUpdate: KernelFunc = ({ inputs, backend: b, attrs }) => {
  const backend = b as BackendWasm;
  const { w, m, v, g } = inputs as Record<'w' | 'm' | 'v' | 'g', TensorInfo>;
  const { beta1, beta2, stepSize, epsilon } = attrs as Record<string, number>;
  for (const t of [m, v, g]) {
    if (t.dtype !== 'float32' || sizeOf(t) !== sizeOf(w)) {
      throw new Error(`${ADAM_UPDATE}: float32 inputs of one size, got ${t.dtype} [${t.shape}]`);
    }
  }
  const outs = [w, m, v].map((t) => backend.makeOutput(t.shape, 'float32'));
  const n = sizeOf(w);
  const simd = n % 4 === 0 ? simdKernels(backend) : null;
  if (simd) {
    const at = (t: TensorInfo): number => backend.getMemoryOffset(t.dataId);
    simd.adam(
      at(w),
      at(m),
      at(v),
      at(g),
      at(outs[0]!),
      at(outs[1]!),
      at(outs[2]!),
      n,
      beta1!,
      beta2!,
      stepSize!,
      epsilon!,
    );
    return outs;
  }
  // Views after the allocations, which may have grown (and so replaced) the heap.
  const view = (t: TensorInfo): Float32Array => backend.typedArrayFromHeap(t) as Float32Array;
  const [wi, mi, vi, gi] = [view(w), view(m), view(v), view(g)];
  const [wo, mo, vo] = [view(outs[0]!), view(outs[1]!), view(outs[2]!)];
  const c1 = 1 - beta1!;
  const c2 = 1 - beta2!;
  for (let i = 0; i < wi.length; i++) {
    const gr = gi[i]!;
    const mm = beta1! * mi[i]! + c1 * gr;
    const vv = beta2! * vi[i]! + c2 * gr * gr;
    mo[i] = mm;
    vo[i] = vv;
    wo[i] = wi[i]! - (stepSize! * mm) / (Math.sqrt(vv) + epsilon!);
  }
  return outs;
};

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
