import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { withTemps, sizeOf, swapT, type Keep } from './common.js';

/* The batched matMul with transposed operands, and without packing fresh weights. (Registered by ../wasm-kernels.ts.) */

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
