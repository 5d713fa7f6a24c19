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

/** φ = Σ_k (n_k / n) φ_k over the given updates (DESIGN.md §1, step 3). */
export function averageWeights(updates: readonly WeightedUpdate[]): Float32Array {
  if (updates.length === 0) throw new Error('cannot average zero updates');
  const avg = new StreamingAverage(updates[0]!.values.length);
  for (const u of updates) avg.add(u.values, u.samples);
  return avg.result();
}
