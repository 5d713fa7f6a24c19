/** @distgan/data — dataset readers, the synthetic ring, partitioners, a seeded PRNG. */
export * from './rng.js';
export * from './dataset.js';
export * from './idx.js';
export * from './mnist.js';
export * from './cifar10.js';
export * from './ring.js';
export * from './partition.js';
export {
  classCountOf,
  loadDataset,
  type LoadOptions,
  type DatasetName as DatasetId,
} from './load.js';
