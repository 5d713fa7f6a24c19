import { loadCifar10 } from './cifar10.js';
import type { Dataset } from './dataset.js';
import { loadFashionMnist, loadMnist, type Split } from './mnist.js';
import { DEFAULT_RING, ringOfGaussians } from './ring.js';

export type DatasetName = 'mnist' | 'fashion-mnist' | 'cifar10' | 'ring';

/** The classes of a dataset, known before it is loaded (the ring's are its modes). */
export function classCountOf(name: DatasetName): number {
  return name === 'ring' ? DEFAULT_RING.modes : 10;
}

export interface LoadOptions {
  name: DatasetName;
  /** Folder with the original files (Fashion-MNIST, CIFAR-10). */
  dir?: string;
  split?: Split;
  limit?: number;
  /** Seed of the synthetic ring. */
  seed?: number;
  /** Standard deviation of the ring's modes. */
  ringStd?: number;
}

export async function loadDataset(opts: LoadOptions): Promise<Dataset> {
  switch (opts.name) {
    case 'mnist':
      return loadMnist({ split: opts.split, limit: opts.limit });
    case 'fashion-mnist':
      return loadFashionMnist({ dir: requireDir(opts), split: opts.split, limit: opts.limit });
    case 'cifar10':
      return loadCifar10({ dir: requireDir(opts), split: opts.split, limit: opts.limit });
    case 'ring':
      return ringOfGaussians({
        count: opts.limit ?? 20_000,
        seed: (opts.seed ?? 0) + (opts.split === 'test' ? 1 : 0),
        ...(opts.ringStd === undefined ? {} : { std: opts.ringStd }),
      });
    default:
      throw new RangeError(
        `unknown dataset "${String(opts.name)}": use mnist, fashion-mnist, cifar10 or ring`,
      );
  }
}

function requireDir(opts: LoadOptions): string {
  if (!opts.dir)
    throw new RangeError(`the ${opts.name} dataset is read from a folder: give its directory`);
  return opts.dir;
}
