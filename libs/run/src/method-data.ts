import { drawBatch, Rng, type Dataset, type RealBatch } from '@distgan/data';
import { deriveSeed } from '@distgan/gan';

/**
 * All the data, as the server sees it in centralized training: round t's step s draws its
 * minibatch as a device called `all` would, so the embedded run and the server draw the same.
 */
export function pooledData(
  dataset: Dataset,
  o: { seed: number; batchSize: number },
): { realBatch(round: number, step: number): RealBatch } {
  const all = Int32Array.from({ length: dataset.count }, (_, i) => i);
  let buffer: RealBatch | undefined;
  return {
    realBatch: (round, step) => {
      const rng = new Rng(deriveSeed(o.seed, 'real', round, 'all', step));
      buffer = drawBatch(dataset, all, o.batchSize, rng, buffer);
      return buffer;
    },
  };
}

/** Fixed latent vectors (seeded, the same for every method, backend and process). */
export function latentVectors(count: number, dim: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: count * dim }, () => rng.normal());
}
