import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdKernels } from '../simd.js';

/* Transpose in SIMD on merged axes. (Registered by ../wasm-kernels.ts.) */

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
