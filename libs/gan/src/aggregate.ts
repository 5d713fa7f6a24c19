import { scratchKernels } from './backend/simd.js';

/** One device's contribution to an average: its weights and its sample count n_k. */
export interface WeightedUpdate {
  values: Float32Array;
  samples: number;
}

/**
 * Accumulates Σ n_k φ_k as updates arrive and yields Σ (n_k / n) φ_k at the end, so the server
 * averages while later devices are still working. Sums are kept in float64.
 */
export class StreamingAverage {
  private readonly sum: Float64Array;
  private total = 0;
  private count = 0;

  constructor(readonly size: number) {
    this.sum = new Float64Array(size);
  }

  get updates(): number {
    return this.count;
  }

  get samples(): number {
    return this.total;
  }

  /** Starts a new average over the same buffer (no reallocation between rounds). */
  reset(): void {
    this.total = 0;
    this.count = 0;
  }

  add(values: Float32Array, samples: number): void {
    if (values.length !== this.size) {
      throw new RangeError(`update has ${values.length} values, the average has ${this.size}`);
    }
    if (!(samples > 0) || !Number.isFinite(samples)) {
      throw new RangeError(`an update's sample count must be positive, got ${samples}`);
    }
    const s = this.sum;
    // The first update is written, later ones added: no zeroing pass between rounds.
    if (this.count === 0) for (let i = 0; i < s.length; i++) s[i] = samples * values[i]!;
    else for (let i = 0; i < s.length; i++) s[i]! += samples * values[i]!;
    this.total += samples;
    this.count += 1;
  }

  /** The weighted mean; throws when nothing was added (never an average over nothing). */
  result(out: Float32Array = new Float32Array(this.size)): Float32Array {
    if (this.count === 0) throw new Error('cannot average zero updates');
    const inv = 1 / this.total;
    const s = this.sum;
    for (let i = 0; i < s.length; i++) out[i] = s[i]! * inv;
    return out;
  }
}

/** Elements per block of the blocked average: its float64 accumulator stays in L1 cache. */
const BLOCK = 2048;
/** Values of each update copied into the SIMD module's memory per pass (16 KB: cache-sized). */
const CHUNK = 4096;

/**
 * The average in WebAssembly SIMD, chunk by chunk: each update's chunk is copied into the
 * module's memory, averaged there with the same float64 arithmetic in the same order as the
 * JavaScript loop below (so the bits are the same), and copied out. False where SIMD is off.
 */
function averageSimd(
  updates: readonly WeightedUpdate[],
  inv: number,
  result: Float32Array,
): boolean {
  const count = updates.length;
  const size = result.length;
  const tables = 16 * Math.ceil((12 * count) / 16);
  const scratch = scratchKernels(tables + (count + 1) * CHUNK * 4);
  if (!scratch) return false;
  const { memory, kernels } = scratch;
  const ptrs = new Int32Array(memory.buffer, 0, count);
  const weights = new Float64Array(memory.buffer, 8 * Math.ceil((4 * count) / 8), count);
  const heap = new Float32Array(memory.buffer);
  const base = tables / 4;
  for (let k = 0; k < count; k++) {
    ptrs[k] = (base + k * CHUNK) * 4;
    weights[k] = updates[k]!.samples;
  }
  const out = base + count * CHUNK;
  for (let start = 0; start < size; start += CHUNK) {
    const len = Math.min(CHUNK, size - start);
    for (let k = 0; k < count; k++) {
      heap.set(updates[k]!.values.subarray(start, start + len), base + k * CHUNK);
    }
    const vectorLen = len & ~3;
    kernels.average(ptrs.byteOffset, weights.byteOffset, count, out * 4, vectorLen, inv);
    result.set(heap.subarray(out, out + vectorLen), start);
    for (let i = start + vectorLen; i < start + len; i++) result[i] = weightedSum(updates, i) * inv;
  }
  return true;
}

/** Σ_k samples_k · values_k[i] in float64, associated as the blocked loop associates it. */
function weightedSum(updates: readonly WeightedUpdate[], i: number): number {
  let acc = updates[0]!.samples * updates[0]!.values[i]!;
  let k = 1;
  for (; k + 3 < updates.length; k += 4) {
    const [a, b, c, d] = [updates[k]!, updates[k + 1]!, updates[k + 2]!, updates[k + 3]!];
    acc +=
      a.samples * a.values[i]! +
      b.samples * b.values[i]! +
      c.samples * c.values[i]! +
      d.samples * d.values[i]!;
  }
  for (; k < updates.length; k++) acc += updates[k]!.samples * updates[k]!.values[i]!;
  return acc;
}

/**
 * φ = Σ_k (n_k / n) φ_k over the given updates (docs/design.md §1, step 3), blocked: for each block
 * of elements, every update is added into a small float64 accumulator that stays in cache, so
 * each update is read once from memory and the result written once. Sums are kept in float64
 * and added in the order given (callers sort by device id, so the result does not depend on
 * arrival order).
 */
export function averageWeights(
  updates: readonly WeightedUpdate[],
  out?: Float32Array,
): Float32Array {
  if (updates.length === 0) throw new Error('cannot average zero updates');
  const size = updates[0]!.values.length;
  let total = 0;
  for (const u of updates) {
    if (u.values.length !== size)
      throw new RangeError(`update has ${u.values.length} values, the average has ${size}`);
    if (!(u.samples > 0) || !Number.isFinite(u.samples)) {
      throw new RangeError(`an update's sample count must be positive, got ${u.samples}`);
    }
    total += u.samples;
  }
  const result = out ?? new Float32Array(size);
  if (result.length !== size)
    throw new RangeError(`output holds ${result.length} values, the average has ${size}`);
  const inv = 1 / total;
  if (averageSimd(updates, inv, result)) return result;
  const acc = new Float64Array(BLOCK);
  for (let start = 0; start < size; start += BLOCK) {
    const end = Math.min(size, start + BLOCK);
    const len = end - start;
    const first = updates[0]!;
    const w0 = first.samples;
    const v0 = first.values;
    for (let i = 0; i < len; i++) acc[i] = w0 * v0[start + i]!;
    let k = 1;
    // Four updates per pass over the accumulator: a quarter of the accumulator traffic.
    for (; k + 3 < updates.length; k += 4) {
      const a = updates[k]!;
      const b = updates[k + 1]!;
      const c = updates[k + 2]!;
      const d = updates[k + 3]!;
      const wa = a.samples;
      const wb = b.samples;
      const wc = c.samples;
      const wd = d.samples;
      const va = a.values;
      const vb = b.values;
      const vc = c.values;
      const vd = d.values;
      for (let i = 0, j = start; i < len; i++, j++) {
        acc[i]! += wa * va[j]! + wb * vb[j]! + wc * vc[j]! + wd * vd[j]!;
      }
    }
    for (; k < updates.length; k++) {
      const u = updates[k]!;
      const w = u.samples;
      const v = u.values;
      for (let i = 0, j = start; i < len; i++, j++) acc[i]! += w * v[j]!;
    }
    for (let i = 0; i < len; i++) result[start + i] = acc[i]! * inv;
  }
  return result;
}
